/*
** test_util.h -- helpers shared by the cmocka unit tests of the numeric core
** (tests/test_core.c) and of the BLOB codec (tests/test_blob.c).
**
** Everything here is independent of the code under test: the tests include
** only ext/core/gmm.h, and the reference numbers they compare against are
** computed here with deliberately plain, textbook code.
**
**   1. tu_rng: a seeded PRNG of the tests' own (splitmix64, Box-Muller), so
**      that the data do not depend on the core's PRNG or on libc's rand().
**   2. tu_mixture_sample: rows drawn from a known Gaussian mixture, with
**      exact counts per component and a seeded shuffle of the row order.
**   3. tu_counting: an allocator over malloc/free that counts every block,
**      detects foreign and double releases, and can refuse the Nth request.
**   4. Reference linear algebra (Cholesky, SPD inverse, Gaussian and mixture
**      log densities), two-pass moments.
**   5. Approximate comparison helpers and assert_* macros that print both
**      values and the tolerance when they fail.
**
** Every function is static inline so that a test file that uses only some
** of them still compiles cleanly under -Wall -Wextra.
*/
#ifndef GMM_TEST_UTIL_H
#define GMM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmm.h"

#define TU_LOG_2PI 1.8378770664093454835606594728112

/* ------------------------------------------------------------------------
** 1. PRNG: splitmix64 + Box-Muller.
*/
typedef struct tu_rng {
  uint64_t state;
  int has_spare;
  double spare;
} tu_rng;

static inline void tu_rng_seed(tu_rng *r, uint64_t seed) {
  r->state = seed;
  r->has_spare = 0;
  r->spare = 0.0;
}

static inline uint64_t tu_rng_u64(tu_rng *r) {
  uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform in the open interval (0, 1): never 0, so log() is safe. */
static inline double tu_rng_uniform(tu_rng *r) {
  return ((double)(tu_rng_u64(r) >> 11) + 0.5) * 0x1p-53;
}

/* Uniform integer in [0, n), n > 0, without modulo bias. */
static inline size_t tu_rng_below(tu_rng *r, size_t n) {
  uint64_t bound = (uint64_t)n;
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t v;
  do {
    v = tu_rng_u64(r);
  } while (v >= limit);
  return (size_t)(v % bound);
}

/* Standard normal by Box-Muller; the second value of each pair is kept. */
static inline double tu_rng_normal(tu_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1 = tu_rng_uniform(r);
  double u2 = tu_rng_uniform(r);
  double radius = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586476925286766559 * u2;
  r->spare = radius * sin(theta);
  r->has_spare = 1;
  return radius * cos(theta);
}

/* ------------------------------------------------------------------------
** 4 (first, the generator needs it). Reference linear algebra.
*/

/* Lower Cholesky factor L of the d x d SPD matrix a (a = L L'), textbook
** order. Returns 0 on success, -1 when a is not positive definite. */
static inline int tu_cholesky(const double *a, int d, double *l) {
  for (int i = 0; i < d * d; i++) l[i] = 0.0;
  for (int j = 0; j < d; j++) {
    double s = a[j * d + j];
    for (int p = 0; p < j; p++) s -= l[j * d + p] * l[j * d + p];
    if (!(s > 0.0) || !isfinite(s)) return -1;
    double ljj = sqrt(s);
    l[j * d + j] = ljj;
    for (int i = j + 1; i < d; i++) {
      double t = a[i * d + j];
      for (int p = 0; p < j; p++) t -= l[i * d + p] * l[j * d + p];
      l[i * d + j] = t / ljj;
    }
  }
  return 0;
}

/* Inverse of the d x d SPD matrix a into out, through its Cholesky factor.
** Returns 0 on success, -1 when a is not positive definite. */
static inline int tu_spd_inverse(const double *a, int d, double *out) {
  double *l = malloc(sizeof(double) * (size_t)(d * d));
  double *col = malloc(sizeof(double) * (size_t)d);
  int rc = -1;
  if (l && col && tu_cholesky(a, d, l) == 0) {
    for (int c = 0; c < d; c++) {
      /* Solve L y = e_c, then L' z = y; z is column c of the inverse. */
      for (int i = 0; i < d; i++) {
        double s = (i == c) ? 1.0 : 0.0;
        for (int p = 0; p < i; p++) s -= l[i * d + p] * col[p];
        col[i] = s / l[i * d + i];
      }
      for (int i = d - 1; i >= 0; i--) {
        double s = col[i];
        for (int p = i + 1; p < d; p++) s -= l[p * d + i] * col[p];
        col[i] = s / l[i * d + i];
      }
      for (int i = 0; i < d; i++) out[i * d + c] = col[i];
    }
    rc = 0;
  }
  free(l);
  free(col);
  return rc;
}

/* log N(x | mu, S) given L = chol(S). */
static inline double tu_gauss_logpdf_chol(const double *x, const double *mu, const double *l,
                                          int d) {
  double maha = 0.0, log_det = 0.0;
  double y[GMM_MAX_D];
  for (int i = 0; i < d; i++) {
    double s = x[i] - mu[i];
    for (int p = 0; p < i; p++) s -= l[i * d + p] * y[p];
    y[i] = s / l[i * d + i];
    maha += y[i] * y[i];
    log_det += 2.0 * log(l[i * d + i]);
  }
  return -0.5 * ((double)d * TU_LOG_2PI + log_det + maha);
}

/* log sum_j w_j N(x | mu_j, S_j) for a full-covariance mixture given the
** Cholesky factors chol (k x d x d). post (k, may be NULL) receives the
** posteriors. Straightforward log-sum-exp. */
static inline double tu_mixture_logpdf_chol(int k, int d, const double *w, const double *means,
                                            const double *chol, const double *x, double *post) {
  double lj[GMM_MAX_K];
  double top = -INFINITY;
  for (int j = 0; j < k; j++) {
    lj[j] = log(w[j]) + tu_gauss_logpdf_chol(x, means + (size_t)j * (size_t)d,
                                             chol + (size_t)j * (size_t)d * (size_t)d, d);
    if (lj[j] > top) top = lj[j];
  }
  double s = 0.0;
  for (int j = 0; j < k; j++) s += exp(lj[j] - top);
  double lse = top + log(s);
  if (post)
    for (int j = 0; j < k; j++) post[j] = exp(lj[j] - lse);
  return lse;
}

/* Cholesky factors of the k full covariances of a model (malloc'd, k x d x
** d), or NULL when one is not positive definite. */
static inline double *tu_model_chol(const gmm_model *m) {
  size_t dd = (size_t)m->d * (size_t)m->d;
  double *chol = malloc(sizeof(double) * dd * (size_t)m->k);
  if (!chol) return NULL;
  for (int j = 0; j < m->k; j++) {
    if (tu_cholesky(m->covariances + (size_t)j * dd, m->d, chol + (size_t)j * dd) != 0) {
      free(chol);
      return NULL;
    }
  }
  return chol;
}

/* Total log-likelihood of n rows under a full-covariance model, computed
** directly from its weights, means and covariances (not from prec_chol). */
static inline double tu_model_total_loglik(const gmm_model *m, const double *x, size_t n) {
  double *chol = tu_model_chol(m);
  if (!chol) return NAN;
  double total = 0.0;
  for (size_t i = 0; i < n; i++)
    total += tu_mixture_logpdf_chol(m->k, m->d, m->weights, m->means, chol,
                                    x + i * (size_t)m->d, NULL);
  free(chol);
  return total;
}

/* Two-pass column means (d) and ML covariance (d x d, divided by n). */
static inline void tu_moments(const double *x, size_t n, int d, double *mean, double *cov) {
  for (int j = 0; j < d; j++) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i * (size_t)d + (size_t)j];
    mean[j] = s / (double)n;
  }
  for (int a = 0; a < d; a++) {
    for (int b = 0; b < d; b++) {
      double s = 0.0;
      for (size_t i = 0; i < n; i++)
        s += (x[i * (size_t)d + (size_t)a] - mean[a]) * (x[i * (size_t)d + (size_t)b] - mean[b]);
      cov[a * d + b] = s / (double)n;
    }
  }
}

/* ------------------------------------------------------------------------
** 2. Rows from a known mixture.
*/
typedef struct tu_mixture {
  int k, d;
  const size_t *counts; /* k: exact number of rows of each component */
  const double *means;  /* k x d */
  const double *covs;   /* k x d x d SPD covariances; NULL: identity */
} tu_mixture;

static inline size_t tu_mixture_n(const tu_mixture *mix) {
  size_t n = 0;
  for (int j = 0; j < mix->k; j++) n += mix->counts[j];
  return n;
}

/* Draws tu_mixture_n(mix) rows (malloc'd, n x d, row-major) with the row
** order shuffled by the seed; *labels_out (malloc'd, may be NULL) receives
** each row's true component. Returns NULL on allocation failure or when a
** covariance is not SPD. */
static inline double *tu_mixture_sample(const tu_mixture *mix, uint64_t seed, int **labels_out) {
  int k = mix->k, d = mix->d;
  size_t n = tu_mixture_n(mix);
  size_t dd = (size_t)d * (size_t)d;
  double *x = malloc(sizeof(double) * n * (size_t)d + 1);
  int *labels = malloc(sizeof(int) * n + 1);
  double *chol = malloc(sizeof(double) * dd * (size_t)k);
  if (!x || !labels || !chol) goto fail;
  for (int j = 0; j < k; j++) {
    double *l = chol + (size_t)j * dd;
    if (mix->covs) {
      if (tu_cholesky(mix->covs + (size_t)j * dd, d, l) != 0) goto fail;
    } else {
      for (size_t t = 0; t < dd; t++) l[t] = 0.0;
      for (int t = 0; t < d; t++) l[t * d + t] = 1.0;
    }
  }
  size_t row = 0;
  for (int j = 0; j < k; j++)
    for (size_t c = 0; c < mix->counts[j]; c++) labels[row++] = j;
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
    size_t r = tu_rng_below(&rng, i);
    int tmp = labels[i - 1];
    labels[i - 1] = labels[r];
    labels[r] = tmp;
  }
  double z[GMM_MAX_D];
  for (size_t i = 0; i < n; i++) {
    int j = labels[i];
    const double *l = chol + (size_t)j * dd;
    for (int t = 0; t < d; t++) z[t] = tu_rng_normal(&rng);
    for (int a = 0; a < d; a++) {
      double s = mix->means[(size_t)j * (size_t)d + (size_t)a];
      for (int b = 0; b <= a; b++) s += l[a * d + b] * z[b];
      x[i * (size_t)d + (size_t)a] = s;
    }
  }
  free(chol);
  if (labels_out)
    *labels_out = labels;
  else
    free(labels);
  return x;
fail:
  free(x);
  free(labels);
  free(chol);
  return NULL;
}

/* ------------------------------------------------------------------------
** 3. Counting allocator.
**
** Each block carries a header recording its size and a live/dead tag, so a
** release of a pointer this allocator did not hand out, or a second release
** of the same block, is detected (counted in bad_release) rather than
** corrupting the heap. New blocks are filled with 0xA5 so that code relying
** on zeroed memory shows up.
*/
typedef struct tu_counting {
  size_t n_calls;           /* alloc requests, including refused ones */
  size_t n_alloc;           /* blocks handed out */
  size_t n_release;         /* blocks released (NULL releases not counted) */
  size_t n_refused;         /* requests refused because of fail_at */
  size_t outstanding;       /* blocks handed out and not released */
  size_t bytes_outstanding; /* their bytes */
  size_t peak_bytes;
  size_t bad_release;       /* foreign or double releases seen */
  size_t fail_at;           /* refuse the fail_at-th request (1-based); 0: never */
} tu_counting;

#define TU_LIVE_TAG UINT64_C(0x6c697665626c6f6b)
#define TU_DEAD_TAG UINT64_C(0x6465616464656164)

typedef union tu_block_header {
  struct {
    uint64_t tag;
    size_t size;
  } h;
  max_align_t align;
} tu_block_header;

static inline void *tu_counting_alloc(void *ctx, size_t n_bytes) {
  tu_counting *c = ctx;
  c->n_calls++;
  if (c->fail_at != 0 && c->n_calls == c->fail_at) {
    c->n_refused++;
    return NULL;
  }
  if (n_bytes > SIZE_MAX - sizeof(tu_block_header)) return NULL;
  tu_block_header *hdr = malloc(sizeof(tu_block_header) + n_bytes);
  if (!hdr) return NULL;
  hdr->h.tag = TU_LIVE_TAG;
  hdr->h.size = n_bytes;
  memset(hdr + 1, 0xA5, n_bytes);
  c->n_alloc++;
  c->outstanding++;
  c->bytes_outstanding += n_bytes;
  if (c->bytes_outstanding > c->peak_bytes) c->peak_bytes = c->bytes_outstanding;
  return hdr + 1;
}

static inline void tu_counting_release(void *ctx, void *p) {
  tu_counting *c = ctx;
  if (!p) return;
  tu_block_header *hdr = (tu_block_header *)p - 1;
  if (hdr->h.tag != TU_LIVE_TAG) {
    c->bad_release++;
    return; /* do not pass a foreign or freed pointer to free() */
  }
  hdr->h.tag = TU_DEAD_TAG;
  c->n_release++;
  c->outstanding--;
  c->bytes_outstanding -= hdr->h.size;
  free(hdr);
}

static inline gmm_allocator tu_counting_allocator(tu_counting *c) {
  memset(c, 0, sizeof *c);
  gmm_allocator a = {tu_counting_alloc, tu_counting_release, c};
  return a;
}

/* Every block released, nothing released twice or from elsewhere. */
#define assert_no_leaks(c)                                                                   \
  do {                                                                                       \
    const tu_counting *tu_c_ = (c);                                                          \
    if (tu_c_->outstanding != 0 || tu_c_->bytes_outstanding != 0 || tu_c_->bad_release != 0) \
      fail_msg("allocator: %zu blocks (%zu bytes) outstanding, %zu bad releases "          \
               "(%zu allocs, %zu releases)",                                                 \
               tu_c_->outstanding, tu_c_->bytes_outstanding, tu_c_->bad_release,             \
               tu_c_->n_alloc, tu_c_->n_release);                                            \
  } while (0)

/* ------------------------------------------------------------------------
** 5. Approximate comparisons.
*/

/* |a - b| <= rel * max(|a|, |b|); equal values (including equal infinities)
** compare close; NaN never does. */
static inline int tu_close_rel(double a, double b, double rel) {
  if (a == b) return 1;
  if (!isfinite(a) || !isfinite(b)) return 0;
  return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

static inline int tu_close_abs(double a, double b, double tol) {
  if (a == b) return 1;
  if (!isfinite(a) || !isfinite(b)) return 0;
  return fabs(a - b) <= tol;
}

/* |a - b| <= rel * scale: relative to a stated scale, for entries that may
** be near zero (off-diagonal covariances, means near the origin). */
static inline int tu_close_scaled(double a, double b, double rel, double scale) {
  if (a == b) return 1;
  if (!isfinite(a) || !isfinite(b)) return 0;
  return fabs(a - b) <= rel * scale;
}

#define assert_close_rel(a, b, rel)                                                  \
  do {                                                                               \
    double tu_a_ = (a), tu_b_ = (b), tu_t_ = (rel);                                  \
    if (!tu_close_rel(tu_a_, tu_b_, tu_t_))                                          \
      fail_msg("%s = %.17g vs %s = %.17g: differ by %.3g, more than %g relative", #a, \
               tu_a_, #b, tu_b_, fabs(tu_a_ - tu_b_), tu_t_);                        \
  } while (0)

#define assert_close_abs(a, b, tol)                                                  \
  do {                                                                               \
    double tu_a_ = (a), tu_b_ = (b), tu_t_ = (tol);                                  \
    if (!tu_close_abs(tu_a_, tu_b_, tu_t_))                                          \
      fail_msg("%s = %.17g vs %s = %.17g: differ by %.3g, more than %g absolute", #a, \
               tu_a_, #b, tu_b_, fabs(tu_a_ - tu_b_), tu_t_);                        \
  } while (0)

#define assert_close_scaled(a, b, rel, scale)                                            \
  do {                                                                                   \
    double tu_a_ = (a), tu_b_ = (b), tu_t_ = (rel), tu_s_ = (scale);                     \
    if (!tu_close_scaled(tu_a_, tu_b_, tu_t_, tu_s_))                                    \
      fail_msg("%s = %.17g vs %s = %.17g: differ by %.3g, more than %g x scale %.6g", #a, \
               tu_a_, #b, tu_b_, fabs(tu_a_ - tu_b_), tu_t_, tu_s_);                     \
  } while (0)

#define assert_finite(v)                                                  \
  do {                                                                    \
    double tu_v_ = (v);                                                   \
    if (!isfinite(tu_v_)) fail_msg("%s = %.17g is not finite", #v, tu_v_); \
  } while (0)

/* The message must be non-empty and contain the given fragment. */
#define assert_err_mentions(err, fragment)                                              \
  do {                                                                                  \
    const char *tu_e_ = (err), *tu_f_ = (fragment);                                     \
    if (tu_e_[0] == '\0') fail_msg("error message is empty (expected \"%s\")", tu_f_);  \
    if (!strstr(tu_e_, tu_f_))                                                          \
      fail_msg("error message \"%s\" does not mention \"%s\"", tu_e_, tu_f_);           \
  } while (0)

/* ------------------------------------------------------------------------
** Model helpers.
*/

/* Doubles in the covariances array for the model's type, in scikit-learn's
** shapes (DESIGN.md: full k x d x d, tied d x d, diag k x d, spherical k). */
static inline size_t tu_cov_len(int k, int d, gmm_cov_type t) {
  size_t kk = (size_t)k, dd = (size_t)d;
  switch (gmm_cov_shape(t)) {
    case GMM_COV_FULL: return kk * dd * dd;
    case GMM_COV_TIED: return dd * dd;
    case GMM_COV_DIAG: return kk * dd;
    case GMM_COV_SPHERICAL: return kk;
    default: break;
  }
  return 0;
}

static inline int tu_all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* 1 when the core refuses covariance type t up front (gmm_options_check
** returns GMM_EINVAL naming it): a version limited to some types, which a
** test of those types reports as skipped rather than failed. A core that
** accepts the type gets the full test. */
static inline int tu_cov_type_unsupported(gmm_cov_type t) {
  gmm_options opt;
  char err[512] = "";
  gmm_options_default(&opt, 2);
  opt.covariance_type = t;
  if (gmm_options_check(&opt, 2, err, sizeof err) != GMM_EINVAL) return 0;
  if (!strstr(err, gmm_cov_type_name(t))) return 0;
  print_message("      covariance_type '%s' refused by this core: \"%s\"\n", gmm_cov_type_name(t),
                err);
  return 1;
}

/* Fits and fails the test (printing the core's message) unless GMM_OK. */
static inline gmm_model *tu_fit_ok(const double *x, size_t n, int d, const gmm_options *opt,
                                   const gmm_allocator *a) {
  gmm_data data = {x, n, d, NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = gmm_fit(&data, opt, a ? a : &gmm_libc_allocator, NULL, NULL, &m, err,
                          sizeof err);
  if (rc != GMM_OK || !m) fail_msg("gmm_fit returned %d: %s", (int)rc, err);
  return m;
}

#endif /* GMM_TEST_UTIL_H */
