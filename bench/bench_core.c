/*
** bench_core.c -- the numeric core alone, for make bench.
**
**   bench_core FILE N D K COV MAX_ITER [sorted] [missing=FRAC] [PRIOR] [threads=T]
**
** Loads N x D float64 rows from FILE (gen_data's format), then fits with
** init random_from_data, tol 0, n_init 1, seed 0 and covariance type COV
** (full, tied, diag, spherical) twice: max_iter 0 (the initialisation and
** the final log-likelihood pass) and max_iter MAX_ITER. Prints one line of
** JSON: both wall times, their difference divided by MAX_ITER (seconds per
** EM iteration), and the peak resident set (getrusage ru_maxrss) above the
** resident set once the data is loaded. With "sorted" the rows are first put
** in the canonical order (gmm_canonical_order), as gmm_fit in SQL does, so
** that the two can be told apart from the effect of row order.
**
** With missing=FRAC (0 <= FRAC < 1; the two optional arguments in either
** order) each cell is first made NaN, a missing feature, independently with
** probability FRAC (missing completely at random), from a splitmix64 stream
** of the bench's own with a fixed seed, so the same arguments mask the same
** cells. A row never loses every value: when all of them would go, its first
** is kept (a row with nothing observed is not fitted, and would make the
** timed fit smaller). Missing implies sorted: the rows are then put in the
** canonical order, which groups them by missing pattern, complete rows
** first, as gmm_fit in SQL does. The fit is the default missing
** "marginalize". The JSON line then also has the requested fraction, the
** fraction of cells actually missing, the rows with some value missing
** (checked against the fitted model's summary) and the number of distinct
** missing patterns (the groups the fit factors a covariance for).
**
** With PRIOR, one of gmm_prior_name's names ("none", "dirichlet_process",
** "dirichlet_distribution", "conjugate"; the optional arguments in any
** order), the fits have that prior with its default parameters, and the
** base fit is max_iter 1 instead of 0 whatever the prior, "none" included:
** a variational fit needs at least one iteration (its lower bound), and
** every prior is timed alike so that they compare. Seconds per EM
** iteration are then (t(MAX_ITER) - t(1)) / (MAX_ITER - 1), and MAX_ITER
** must be at least 2. The JSON line then also has the prior, base_iter 1
** and, for the variational priors, the lower bound (summary.lower_bound,
** as scikit-learn's lower_bound_); "init_s" is always the base fit's time
** (t(0) without PRIOR, t(1) with it).
**
** With threads=T (T >= 1) the fits run on T threads instead of every core
** (gmm_options.threads 0); the JSON line says which ("threads": 0 is every
** core).
**
** With start=PATH both fits start from the weights, means and precisions
** in PATH (bench_sklearn.py start: float64, scikit-learn's shapes) as
** gmm_options' *_init, instead of random_from_data: scikit-learn is given
** the same (bench_sklearn.py fit ... START), so both run EM from the same
** place. The JSON line then has "start": 1.
*/
#define _POSIX_C_SOURCE 200809L
#include "gmm.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* The masking stream: independent of the data (gen_data seeds its own) and
** of the fit's seed. */
#define MASK_SEED 0x6d697373696e67ull /* "missing" */

static uint64_t mask_state;

static uint64_t splitmix64(void) {
  uint64_t z = (mask_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(void) { return (double)(splitmix64() >> 11) * 0x1.0p-53; }

/* Masks each cell of the n x d rows with probability frac, keeping each
** row's first value when every one would go. Returns the cells masked and
** sets *rows_incomplete. */
static size_t mask_cells(double *x, size_t n, int d, double frac, size_t *rows_incomplete) {
  size_t cells = 0, rows = 0;
  mask_state = MASK_SEED;
  for (size_t i = 0; i < n; i++) {
    double *row = x + i * (size_t)d;
    double first = row[0];
    int lost = 0;
    for (int j = 0; j < d; j++)
      if (uniform() < frac) {
        row[j] = NAN;
        lost++;
      }
    if (lost == d) {
      row[0] = first;
      lost--;
    }
    cells += (size_t)lost;
    rows += lost > 0;
  }
  *rows_incomplete = rows;
  return cells;
}

/* Distinct patterns with some value missing among rows grouped by pattern
** (gmm_canonical_order's layout): each starts where a row's NaN cells differ
** from the previous row's. */
static size_t count_patterns(const double *x, size_t n, int d) {
  size_t patterns = 0;
  for (size_t i = 0; i < n; i++) {
    const double *row = x + i * (size_t)d;
    int incomplete = 0, same = i > 0;
    for (int j = 0; j < d; j++) {
      int nan = row[j] != row[j];
      incomplete |= nan;
      if (same && nan != (row[j - d] != row[j - d])) same = 0;
    }
    patterns += incomplete && !same;
  }
  return patterns;
}

/* Parses "missing=FRAC" into *frac: the whole of FRAC a number in [0, 1). */
static int parse_missing(const char *arg, double *frac) {
  static const char prefix[] = "missing=";
  if (strncmp(arg, prefix, sizeof prefix - 1) != 0) return 0;
  const char *s = arg + sizeof prefix - 1;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !(v >= 0.0 && v < 1.0)) return -1;
  *frac = v;
  return 1;
}

static gmm_model *fit(const gmm_data *data, const gmm_options *opt, double *t) {
  char err[256] = "";
  gmm_model *m = NULL;
  double t0 = now();
  gmm_status rc = gmm_fit(data, opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  *t = now() - t0;
  if (rc != GMM_OK) {
    fprintf(stderr, "bench_core: gmm_fit failed (%d): %s\n", (int)rc, err);
    exit(1);
  }
  return m;
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s FILE N D K COV MAX_ITER [sorted] [missing=FRAC] [PRIOR] [threads=T] "
          "[start=PATH]\n",
          argv0);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 7 || argc > 12) return usage(argv[0]);
  int sorted = 0, masked = 0, prior = -1, threads = 0;
  const char *start_path = NULL;
  double frac = 0.0;
  for (int a = 7; a < argc; a++) {
    int p;
    if (strcmp(argv[a], "sorted") == 0 && !sorted) {
      sorted = 1;
    } else if (strncmp(argv[a], "start=", 6) == 0 && !start_path) {
      start_path = argv[a] + 6;
    } else if (strncmp(argv[a], "threads=", 8) == 0 && threads == 0) {
      threads = atoi(argv[a] + 8);
      if (threads < 1 || threads > GMM_MAX_THREADS) {
        fprintf(stderr, "bench_core: %s: T must be from 1 to %d\n", argv[a], GMM_MAX_THREADS);
        return 2;
      }
    } else if (prior < 0 && (p = gmm_prior_from_name(argv[a])) >= 0) {
      prior = p;
    } else if (!masked && (p = parse_missing(argv[a], &frac)) != 0) {
      if (p < 0) {
        fprintf(stderr, "bench_core: %s: FRAC must be a number in [0, 1)\n", argv[a]);
        return 2;
      }
      masked = 1;
    } else {
      return usage(argv[0]);
    }
  }
  size_t n = (size_t)strtoull(argv[2], NULL, 10);
  int d = atoi(argv[3]), k = atoi(argv[4]), cov = gmm_cov_type_from_name(argv[5]);
  int max_iter = atoi(argv[6]);
  /* The base fit: max_iter 0, or 1 with a prior (see the header). */
  int base_iter = prior >= 0 ? 1 : 0;
  if (n == 0 || d < 1 || k < 1 || cov < 0 || max_iter < base_iter + 1) {
    fprintf(stderr, "bench_core: bad arguments\n");
    return 2;
  }
  double *x = malloc(n * (size_t)d * sizeof *x);
  FILE *f = fopen(argv[1], "rb");
  if (!x || !f || fread(x, sizeof *x, n * (size_t)d, f) != n * (size_t)d) {
    fprintf(stderr, "bench_core: cannot read %zu x %d doubles from %s\n", n, d, argv[1]);
    return 1;
  }
  fclose(f);
  size_t cells_missing = 0, rows_incomplete = 0;
  if (masked) {
    cells_missing = mask_cells(x, n, d, frac, &rows_incomplete);
    /* gmm_fit in SQL hands the core its rows in this order; the core works
    ** on them in place only when they are grouped by pattern. */
    sorted = 1;
  }
  if (sorted) gmm_canonical_order(x, NULL, n, d, 0);
  size_t patterns = masked ? count_patterns(x, n, d) : 0;
  long base = rss_kib();

  gmm_data data = {x, n, d, NULL, 0, NULL};
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = (gmm_cov_type)cov;
  opt.init = GMM_INIT_RANDOM_FROM_DATA;
  opt.tol = 0.0;
  opt.n_init = 1;
  opt.seed = 0;
  opt.missing = GMM_MISSING_MARGINALIZE;
  opt.threads = threads;
  double *start = NULL;
  if (start_path) {
    size_t dd = (size_t)d, kk = (size_t)k;
    size_t n_prec = cov == GMM_COV_FULL   ? kk * dd * dd
                    : cov == GMM_COV_TIED ? dd * dd
                    : cov == GMM_COV_DIAG ? kk * dd
                                          : kk;
    size_t n_start = kk + kk * dd + n_prec;
    start = malloc(n_start * sizeof *start);
    FILE *sf = fopen(start_path, "rb");
    size_t got = start && sf ? fread(start, sizeof *start, n_start, sf) : 0;
    int extra = sf ? fgetc(sf) : EOF;
    if (sf) fclose(sf);
    if (got != n_start || extra != EOF) {
      fprintf(stderr, "bench_core: %s does not hold the %zu doubles of a %s start\n", start_path,
              n_start, argv[5]);
      return 2;
    }
    opt.weights_init = start;
    opt.means_init = start + kk;
    opt.precisions_init = start + kk + kk * dd;
  }
  if (prior >= 0) opt.prior = (gmm_prior)prior;

  double t_init, t_fit;
  opt.max_iter = base_iter;
  gmm_model *m0 = fit(&data, &opt, &t_init);
  if (m0->summary.n_iter != base_iter) {
    fprintf(stderr, "bench_core: %d iterations instead of %d\n", m0->summary.n_iter, base_iter);
    return 1;
  }
  gmm_model_free(m0);
  opt.max_iter = max_iter;
  gmm_model *m = fit(&data, &opt, &t_fit);
  int itn = m->summary.n_iter;
  double lln = m->summary.log_likelihood / m->summary.n_samples;
  double lower_bound = m->summary.lower_bound;
  if (itn != max_iter) {
    fprintf(stderr, "bench_core: %d iterations instead of %d\n", itn, max_iter);
    return 1;
  }
  /* The fit must have used every row, the incomplete ones through their
  ** observed features: else the time is not that of the masked data. */
  if (masked && (m->summary.n_samples != (double)n || m->summary.n_skipped != 0 ||
                 m->summary.n_incomplete != (int64_t)rows_incomplete)) {
    fprintf(stderr, "bench_core: the fit used %.0f rows (%lld incomplete), not %zu (%zu incomplete)\n",
            m->summary.n_samples, (long long)m->summary.n_incomplete, n, rows_incomplete);
    return 1;
  }
  gmm_model_free(m);
  printf("{\"tool\": \"core\", \"start\": %d, \"threads\": %d, \"sorted\": %d, \"cov\": \"%s\", \"max_iter\": %d, \"init_s\": %.6f, \"fit_s\": %.6f, "
         "\"per_iter_s\": %.6f, \"peak_above_data_mib\": %.1f, \"data_rss_mib\": %.1f, "
         "\"mean_ll\": %.6f",
         start != NULL, threads, sorted, argv[5], max_iter, t_init, t_fit, (t_fit - t_init) / (max_iter - base_iter),
         (double)(peak_kib() - base) / 1024.0, (double)base / 1024.0, lln);
  if (prior >= 0) {
    printf(", \"prior\": \"%s\", \"base_iter\": %d", gmm_prior_name((gmm_prior)prior), base_iter);
    if (gmm_prior_variational((gmm_prior)prior)) printf(", \"lower_bound\": %.6f", lower_bound);
  }
  if (masked)
    printf(", \"missing\": %g, \"missing_cells_frac\": %.6f, \"rows_incomplete\": %zu, "
           "\"missing_patterns\": %zu",
           frac, (double)cells_missing / ((double)n * d), rows_incomplete, patterns);
  printf("}\n");
  free(x);
  free(start);
  return 0;
}
