/*
** gen_data.c -- deterministic Gaussian-mixture data sets for make bench.
**
**   gen_data OUT N D K SEED
**
** Writes N rows of D float64 (native byte order, row-major, no header) drawn
** from a K-component mixture to OUT (through OUT.tmp and a rename, so an
** interrupted run leaves no partial file). Everything comes from one
** splitmix64 stream seeded with SEED: the same arguments give the same bytes
** (normals by Marsaglia's polar method, which needs only log and sqrt).
**
** The mixture: weights uniform in [0.5, 1.5] then normalised; means uniform
** in [-8, 8]^D; covariance of component j = A A' / D + 0.05 I with A a
** D x D matrix of standard normals (so per-feature spread about 1), sampled
** as mean + L z with L its Cholesky factor.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(void) { return (double)(splitmix64() >> 11) * 0x1.0p-53; }

static double normal(void) {
  static int have_spare;
  static double spare;
  if (have_spare) {
    have_spare = 0;
    return spare;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  spare = v * f;
  have_spare = 1;
  return u * f;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s OUT N D K SEED\n", argv[0]);
    return 2;
  }
  const char *out = argv[1];
  size_t n = (size_t)strtoull(argv[2], NULL, 10);
  int d = atoi(argv[3]), k = atoi(argv[4]);
  rng_state = (uint64_t)strtoull(argv[5], NULL, 10);
  if (n == 0 || d < 1 || d > 1000 || k < 1 || k > 1024) {
    fprintf(stderr, "gen_data: bad arguments\n");
    return 2;
  }
  size_t dd = (size_t)d, kk = (size_t)k;
  double *w = malloc(kk * sizeof *w), *mu = malloc(kk * dd * sizeof *mu);
  double *chol = calloc(kk * dd * dd, sizeof *chol), *a = malloc(dd * dd * sizeof *a);
  double *cov = malloc(dd * dd * sizeof *cov), *row = malloc(dd * sizeof *row);
  double *z = malloc(dd * sizeof *z);
  if (!w || !mu || !chol || !a || !cov || !row || !z) {
    fprintf(stderr, "gen_data: out of memory\n");
    return 1;
  }
  double wsum = 0.0;
  for (size_t j = 0; j < kk; j++) wsum += (w[j] = 0.5 + uniform());
  for (size_t j = 0; j < kk; j++) w[j] /= wsum;
  for (size_t j = 0; j < kk * dd; j++) mu[j] = -8.0 + 16.0 * uniform();
  for (size_t j = 0; j < kk; j++) {
    for (size_t p = 0; p < dd * dd; p++) a[p] = normal();
    for (size_t p = 0; p < dd; p++)
      for (size_t q = 0; q < dd; q++) {
        double s = 0.0;
        for (size_t r = 0; r < dd; r++) s += a[p * dd + r] * a[q * dd + r];
        cov[p * dd + q] = s / (double)d + (p == q ? 0.05 : 0.0);
      }
    double *l = chol + j * dd * dd; /* lower Cholesky factor */
    for (size_t p = 0; p < dd; p++)
      for (size_t q = 0; q <= p; q++) {
        double s = cov[p * dd + q];
        for (size_t r = 0; r < q; r++) s -= l[p * dd + r] * l[q * dd + r];
        l[p * dd + q] = p == q ? sqrt(s) : s / l[q * dd + q];
      }
  }
  char *tmp = malloc(strlen(out) + 5);
  if (!tmp) return 1;
  sprintf(tmp, "%s.tmp", out);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    perror(tmp);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    double u = uniform(), c = 0.0;
    size_t j = 0;
    for (; j + 1 < kk; j++) {
      c += w[j];
      if (u < c) break;
    }
    const double *l = chol + j * dd * dd;
    for (size_t p = 0; p < dd; p++) z[p] = normal();
    for (size_t p = 0; p < dd; p++) {
      double s = mu[j * dd + p];
      for (size_t q = 0; q <= p; q++) s += l[p * dd + q] * z[q];
      row[p] = s;
    }
    if (fwrite(row, sizeof *row, dd, f) != dd) {
      perror(tmp);
      return 1;
    }
  }
  if (fclose(f) != 0 || rename(tmp, out) != 0) {
    perror(out);
    return 1;
  }
  free(tmp);
  free(w), free(mu), free(chol), free(a), free(cov), free(row), free(z);
  return 0;
}
