/*
** gmm_util.c -- checked allocation, error text, the PRNG, small dense linear
** algebra, and the options: the leaves every other core file stands on.
*/
#include "gmm_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---- */

static void *libc_alloc(void *ctx, size_t n) {
  (void)ctx;
  return malloc(n);
}

static void libc_release(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

const gmm_allocator gmm_libc_allocator = {libc_alloc, libc_release, NULL};

void *gmm_alloc_array(const gmm_allocator *a, size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  size_t bytes = count * size;
  return a->alloc(a->ctx, bytes ? bytes : 1);
}

void gmm_release(const gmm_allocator *a, void *p) {
  if (p) a->release(a->ctx, p);
}

gmm_status gmm_errorf(char *err, size_t err_len, gmm_status status, const char *fmt, ...) {
  if (err && err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return status;
}

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void gmm_rng_seed(gmm_rng *r, uint64_t seed, uint64_t stream) {
  /* Mix the stream in before expanding so that nearby (seed, stream) pairs
  ** give unrelated sequences. */
  uint64_t state = seed;
  uint64_t mixed = splitmix64(&state) ^ (stream * 0xd1b54a32d192ed03ULL);
  state = mixed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&state);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t gmm_rng_next(gmm_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double gmm_rng_uniform(gmm_rng *r) {
  return (double)(gmm_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t gmm_rng_below(gmm_rng *r, uint64_t n) {
  /* Rejection on the top of the range: unbiased and exact for any n. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do {
    v = gmm_rng_next(r);
  } while (v >= limit);
  return v % n;
}

double gmm_rng_normal_pair(gmm_rng *r, double *second) {
  double u1 = 1.0 - gmm_rng_uniform(r); /* (0, 1]: log stays finite */
  double u2 = gmm_rng_uniform(r);
  double radius = sqrt(-2.0 * log(u1));
  double angle = 2.0 * 3.14159265358979323846 * u2;
  *second = radius * sin(angle);
  return radius * cos(angle);
}

/* ---- linear algebra ---- */

int gmm_cholesky(double *a, int d) {
  size_t n = (size_t)d;
  for (size_t j = 0; j < n; j++) {
    double *row_j = a + j * n;
    double diag = row_j[j];
    for (size_t p = 0; p < j; p++) diag -= row_j[p] * row_j[p];
    if (!(diag > 0.0) || !isfinite(diag)) return -1;
    double ljj = sqrt(diag);
    row_j[j] = ljj;
    for (size_t i = j + 1; i < n; i++) {
      double *row_i = a + i * n;
      double s = row_i[j];
      for (size_t p = 0; p < j; p++) s -= row_i[p] * row_j[p];
      row_i[j] = s / ljj;
    }
    for (size_t p = j + 1; p < n; p++) row_j[p] = 0.0;
  }
  return 0;
}

void gmm_tri_lower_inverse(double *l, int d) {
  size_t n = (size_t)d;
  /* Row by row: inv[i][j] = -(sum_{p=j}^{i-1} L[i][p] inv[p][j]) / L[i][i].
  ** Rows above i already hold the inverse; row i still holds L to the right
  ** of the column being written, which is all the sum reads. */
  for (size_t i = 0; i < n; i++) {
    double *row_i = l + i * n;
    double lii = row_i[i];
    for (size_t j = 0; j < i; j++) {
      double s = 0.0;
      for (size_t p = j; p < i; p++) s += row_i[p] * l[p * n + j];
      row_i[j] = s; /* hold the sum; divide once the row is done */
    }
    for (size_t j = 0; j < i; j++) row_i[j] = -row_i[j] / lii;
    row_i[i] = 1.0 / lii;
  }
}

int gmm_spd_inverse(const double *a, double *out, double *work, int d) {
  size_t n = (size_t)d;
  memcpy(work, a, n * n * sizeof *work);
  if (gmm_cholesky(work, d) != 0) return -1;
  gmm_tri_lower_inverse(work, d); /* work = L^-1 =: W; a^-1 = W' W */
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j <= i; j++) {
      double s = 0.0;
      for (size_t p = i; p < n; p++) s += work[p * n + i] * work[p * n + j];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return 0;
}

/* Cyclic Jacobi (Golub & Van Loan, 4th ed., 8.5.2): rotations zero the
** off-diagonal pairs in turn until they are negligible against the
** diagonal; the rotations accumulate into the eigenvectors. */
int gmm_sym_eigen(double *a, int d, double *values, double *vectors) {
  size_t n = (size_t)d;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      vectors[i * n + j] = i == j;
      if (j > i) a[i * n + j] = a[j * n + i]; /* symmetric from the lower triangle */
    }
  int ok = n < 2;
  for (int sweep = 0; sweep < 100 && !ok; sweep++) {
    double off = 0.0, diag = 0.0;
    for (size_t p = 0; p < n; p++) {
      diag += a[p * n + p] * a[p * n + p];
      for (size_t q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    }
    if (off <= 1e-32 * diag || off == 0.0) {
      ok = 1;
      break;
    }
    for (size_t p = 0; p + 1 < n; p++)
      for (size_t q = p + 1; q < n; q++) {
        double apq = a[p * n + q];
        if (apq == 0.0) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
        for (size_t r = 0; r < n; r++) { /* columns p and q */
          double arp = a[r * n + p], arq = a[r * n + q];
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (size_t r = 0; r < n; r++) { /* rows p and q */
          double apr = a[p * n + r], aqr = a[q * n + r];
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
        for (size_t r = 0; r < n; r++) {
          double vrp = vectors[r * n + p], vrq = vectors[r * n + q];
          vectors[r * n + p] = c * vrp - s * vrq;
          vectors[r * n + q] = s * vrp + c * vrq;
        }
      }
  }
  for (size_t i = 0; i < n; i++) values[i] = a[i * n + i];
  /* Descending order (insertion sort; ties keep their order). */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && values[j] > values[j - 1]; j--) {
      double t = values[j];
      values[j] = values[j - 1];
      values[j - 1] = t;
      for (size_t r = 0; r < n; r++) {
        double v = vectors[r * n + j];
        vectors[r * n + j] = vectors[r * n + j - 1];
        vectors[r * n + j - 1] = v;
      }
    }
  return ok ? 0 : -1;
}

double gmm_posteriors(const double *v, int n, double *post) {
  int top = 0;
  for (int j = 1; j < n; j++)
    if (v[j] > v[top]) top = j;
  double v_top = v[top];
  if (v_top == -INFINITY) {
    for (int j = 0; j < n; j++) post[j] = j == top;
    return -INFINITY;
  }
  double s = 0.0;
  for (int j = 0; j < n; j++) s += post[j] = exp(v[j] - v_top);
  /* Divide by the sum rather than subtract log(s): when |v_top| is so large
  ** that log(s) is lost in its rounding, the shares still sum to 1. */
  for (int j = 0; j < n; j++) post[j] /= s;
  return v_top + log(s);
}

/* ---- options ---- */

/* Indexed by gmm_cov_type: scikit-learn's names where it has the model. */
static const char *const cov_type_names[GMM_N_COV_TYPES] = {
    "full", "tied", "diag", "spherical", "EII", "EEI", "VEI",
    "EVI",  "VEE",  "EVE",  "VVE",       "EEV", "VEV", "EVV"};
static const char *const cov_model_names[GMM_N_COV_TYPES] = {
    "VVV", "EEE", "VVI", "VII", "EII", "EEI", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"};
static const gmm_cov_type cov_shapes[GMM_N_COV_TYPES] = {
    GMM_COV_FULL,      GMM_COV_TIED, GMM_COV_DIAG, GMM_COV_SPHERICAL, GMM_COV_SPHERICAL,
    GMM_COV_DIAG,      GMM_COV_DIAG, GMM_COV_DIAG, GMM_COV_FULL,      GMM_COV_FULL,
    GMM_COV_FULL,      GMM_COV_FULL, GMM_COV_FULL, GMM_COV_FULL};
static const char *const init_names[] = {"kmeans", "k-means++", "random", "random_from_data",
                                         "labels", "hc"};
#define N_INITS ((int)(sizeof init_names / sizeof init_names[0]))

gmm_cov_type gmm_cov_shape(gmm_cov_type t) {
  return (unsigned)t < GMM_N_COV_TYPES ? cov_shapes[t] : t;
}

const char *gmm_cov_type_name(gmm_cov_type t) {
  return (unsigned)t < GMM_N_COV_TYPES ? cov_type_names[t] : "unknown";
}

const char *gmm_cov_model_name(gmm_cov_type t) {
  return (unsigned)t < GMM_N_COV_TYPES ? cov_model_names[t] : "unknown";
}

const char *gmm_init_name(gmm_init_method m) {
  return (unsigned)m < (unsigned)N_INITS ? init_names[m] : "unknown";
}

int gmm_cov_type_from_name(const char *name) {
  for (int i = 0; i < GMM_N_COV_TYPES; i++)
    if (strcmp(name, cov_type_names[i]) == 0 || strcmp(name, cov_model_names[i]) == 0) return i;
  return -1;
}

int gmm_init_from_name(const char *name) {
  for (int i = 0; i < N_INITS; i++)
    if (strcmp(name, init_names[i]) == 0) return i;
  return -1;
}

static const char *const criterion_names[] = {"bic", "icl", "aic"};

const char *gmm_criterion_name(gmm_criterion c) {
  return (unsigned)c < 3 ? criterion_names[c] : "unknown";
}

int gmm_criterion_from_name(const char *name) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, criterion_names[i]) == 0) return i;
  return -1;
}

static const char *const prior_names[GMM_N_PRIORS] = {"none", "dirichlet_process",
                                                      "dirichlet_distribution", "conjugate"};

const char *gmm_prior_name(gmm_prior p) {
  return (unsigned)p < GMM_N_PRIORS ? prior_names[p] : "unknown";
}

int gmm_prior_from_name(const char *name) {
  for (int i = 0; i < GMM_N_PRIORS; i++)
    if (strcmp(name, prior_names[i]) == 0) return i;
  return -1;
}

static const char *const missing_names[] = {"marginalize", "skip"};

const char *gmm_missing_name(gmm_missing m) {
  return (unsigned)m < 2 ? missing_names[m] : "unknown";
}

int gmm_missing_from_name(const char *name) {
  for (int i = 0; i < 2; i++)
    if (strcmp(name, missing_names[i]) == 0) return i;
  return -1;
}

void gmm_options_default(gmm_options *opt, int k) {
  memset(opt, 0, sizeof *opt);
  opt->k = k;
  opt->covariance_type = GMM_COV_FULL;
  opt->max_iter = 100;
  opt->tol = 1e-3;
  opt->reg_covar = 1e-6;
  opt->n_init = 1;
  opt->init = GMM_INIT_KMEANS;
  opt->seed = 0;
  opt->missing = GMM_MISSING_MARGINALIZE;
  opt->hc_rows = GMM_DEFAULT_HC_ROWS;
  opt->criterion = GMM_CRITERION_BIC;
  opt->prior = GMM_PRIOR_NONE;
  opt->weight_concentration_prior = NAN;
  opt->mean_precision_prior = NAN;
  opt->degrees_of_freedom_prior = NAN;
}

gmm_status gmm_options_check(const gmm_options *opt, int d, char *err, size_t err_len) {
  if (opt->k < 1 || opt->k > GMM_MAX_K)
    return gmm_errorf(err, err_len, GMM_EINVAL, "k must be between 1 and %d, provided %d",
                      GMM_MAX_K, opt->k);
  if ((unsigned)opt->covariance_type >= GMM_N_COV_TYPES)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "covariance_type must be one of 'full', 'tied', 'diag', 'spherical' or "
                      "mclust's fourteen names ('EII' .. 'VVV'), provided %d",
                      (int)opt->covariance_type);
  if (opt->max_iter < 0 || opt->max_iter > GMM_MAX_ITER)
    return gmm_errorf(err, err_len, GMM_EINVAL, "max_iter must be between 0 and %d, provided %d",
                      GMM_MAX_ITER, opt->max_iter);
  if (!(opt->tol >= 0.0) || !isfinite(opt->tol))
    return gmm_errorf(err, err_len, GMM_EINVAL, "tol must be a finite number >= 0, provided %g",
                      opt->tol);
  if (!(opt->reg_covar >= 0.0) || !isfinite(opt->reg_covar))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "reg_covar must be a finite number >= 0, provided %g", opt->reg_covar);
  if (opt->n_init < 1 || opt->n_init > GMM_MAX_N_INIT)
    return gmm_errorf(err, err_len, GMM_EINVAL, "n_init must be between 1 and %d, provided %d",
                      GMM_MAX_N_INIT, opt->n_init);
  if (opt->threads < 0 || opt->threads > GMM_MAX_THREADS)
    return gmm_errorf(err, err_len, GMM_EINVAL, "threads must be between 0 and %d, provided %d",
                      GMM_MAX_THREADS, opt->threads);
  if ((unsigned)opt->init > GMM_INIT_HC)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "init must be one of 'kmeans', 'k-means++', "
                      "'random', 'random_from_data', 'labels', 'hc', provided %d",
                      (int)opt->init);
  if (opt->hc_rows < 2 || opt->hc_rows > GMM_MAX_HC_ROWS)
    return gmm_errorf(err, err_len, GMM_EINVAL, "hc_rows must be between 2 and %d, provided %d",
                      GMM_MAX_HC_ROWS, opt->hc_rows);
  if ((unsigned)opt->criterion > GMM_CRITERION_AIC)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "criterion must be one of 'bic', 'icl', 'aic', provided %d",
                      (int)opt->criterion);
  if ((unsigned)opt->missing > GMM_MISSING_SKIP)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "missing must be one of 'marginalize', 'skip', provided %d",
                      (int)opt->missing);
  gmm_status rc = gmm_prior_options_check(opt, d, err, err_len);
  if (rc != GMM_OK) return rc;
  if (d != 0) {
    if (d < 1 || d > GMM_MAX_D)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "the number of features must be between 1 and %d, provided %d", GMM_MAX_D,
                        d);
    double params =
        (double)gmm_cov_len(opt->k, d, opt->covariance_type) + (double)opt->k * ((double)d + 1);
    if (params > GMM_MAX_PARAMS)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "k = %d with %d features needs %.0f parameters, maximum %d", opt->k, d,
                        params, GMM_MAX_PARAMS);
  }
  return GMM_OK;
}

/* ---- little-endian fields and the FNV-1a checksum of the BLOBs ---- */

uint64_t gmm_fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

void gmm_put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void gmm_put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void gmm_put_f64(unsigned char *p, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  gmm_put_u64(p, bits);
}

uint32_t gmm_get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

uint64_t gmm_get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

double gmm_get_f64(const unsigned char *p) {
  uint64_t bits = gmm_get_u64(p);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

gmm_status gmm_check_preamble(const unsigned char *p, size_t n, size_t min_len, const char *magic,
                              const char *what, uint32_t version, char *err, size_t err_len) {
  if (n < min_len)
    return gmm_errorf(err, err_len, GMM_ECORRUPT,
                      "it is too short (%zu bytes; the smallest %s has %zu)", n, what, min_len);
  if (memcmp(p, magic, 4) != 0)
    return gmm_errorf(err, err_len, GMM_ECORRUPT, "it does not start with the %s magic", what);
  /* Versions 1 to `version` (the newest) are read. */
  uint32_t got = gmm_get_u32(p + 4);
  if (got < 1 || got > version) {
    if (version == 1)
      return gmm_errorf(err, err_len, GMM_ECORRUPT,
                        "format version %u is not one this build reads (1)", got);
    return gmm_errorf(err, err_len, GMM_ECORRUPT,
                      "format version %u is not one this build reads (1 to %u)", got, version);
  }
  return GMM_OK;
}

void gmm_put_head(unsigned char *out, const char *magic, uint32_t version, int d,
                  const gmm_options *o) {
  memcpy(out, magic, 4);
  gmm_put_u32(out + 4, version);
  gmm_put_u32(out + 8, (uint32_t)o->k);
  gmm_put_u32(out + 12, (uint32_t)d);
  gmm_put_u32(out + 16, (uint32_t)o->covariance_type);
  gmm_put_u32(out + 20, (uint32_t)o->init);
  gmm_put_u32(out + 24, (uint32_t)o->max_iter);
  gmm_put_u32(out + 28, (uint32_t)o->n_init);
  gmm_put_f64(out + 32, o->tol);
  gmm_put_f64(out + 40, o->reg_covar);
  gmm_put_u64(out + 48, o->seed);
}
