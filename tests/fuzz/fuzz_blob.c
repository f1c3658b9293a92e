/*
** fuzz_blob.c -- libFuzzer target: the model BLOB decoder of the core
** (gmm_blob_read), alone, no SQLite.
**
** The input is the BLOB, byte for byte. It is decoded twice: as it is, and
** (when that fails) with its last 8 bytes rewritten to the checksum of the
** rest, so that mutations get past the checksum to the checks behind it.
** A decoded model is then exercised, and these must hold (FUZZ_CHECK traps
** otherwise):
**   - a failed decode returns no model and a non-empty sentence;
**   - every allocation failure during a successful decode gives
**     GMM_ENOMEM, no model and no leak;
**   - versions 2 to 5: gmm_blob_size is the input's length and
**     gmm_blob_write reproduces the input byte for byte (the encoding is
**     unique: blob (5)); version 1: the version-2 encoding decodes and
**     re-encodes to itself (the upgrade is stable);
**   - the fields of version 3 are in range: missing known, n_incomplete
**     >= 0 and 0 with 'skip', missing_fraction in [0, 1) and 0 exactly
**     when n_incomplete is (versions 1 and 2: marginalize, 0, 0);
**   - the fields of version 4 are in range: hc_rows 2 .. GMM_MAX_HC_ROWS,
**     criterion bic, icl or aic, log_map unknown or in [-1e300, 0], a
**     failed candidate's ICL 0 and another's unknown or finite; a version 4
**     model holds something version 3 cannot (a covariance type or init
**     above 3, hc_rows or criterion not the default, a known log_map, a
**     candidate of a type above 3 or with a known ICL); versions 1 to 3: hc_rows 2000,
**     criterion bic, log_map and every candidate's ICL unknown;
**   - the fields of version 5 (issue 13): a prior exactly in version 5;
**     there, no candidates with a variational prior, a covariance type the prior takes, prune 0 or
**     1 (0 for conjugate), n_pruned 0 without prune and below
**     GMM_MAX_K, weight_concentration_prior and lower_bound finite (and
**     > 0, |x| <= 1e300) for the variational priors and NaN for
**     conjugate, mean_precision_prior > 0, degrees_of_freedom_prior > d -
**     1, the mean prior finite, the covariance prior's variances (its
**     diagonal) positive and a matrix symmetric; a variational model's
**     concentrations > 0, mean precisions >= the prior's (1e-12),
**     degrees of freedom > d - 1, weights its concentrations' posterior
**     mean (1e-9) and expected log weights and precisions (log_norm)
**     finite; before version 5: prior none, lower_bound NaN, n_pruned 0,
**     no prior arrays;
**   - BIC and AIC are finite, and so is the ICL when log_map is known;
**   - on rows derived from the model and the input (each component's mean,
**     bytes of the input read as doubles, huge values): the log density is
**     never NaN or +Inf, the label is in 0 .. k-1 and has a positive
**     weight when the density is not 0, the posteriors are in [0, 1] and
**     sum to 1 (one-hot on the label when every density underflows); at
**     the mean of a component of positive weight the log density is finite;
**   - the same rows with features missing (NaN: every other feature, all
**     but the last; the checks above on the observed features' marginal),
**     and with every feature missing (the prior: log density the log of
**     the weights' sum, 1 within 1e-9, and posteriors the weights, to
**     1e-12); gmm_model_impute_row leaves observed values as they are
**     and fills the missing ones with finite values (when the row's log
**     density is finite), gmm_model_draw_missing_row likewise;
**   - gmm_sampler_new succeeds (a decoded model's covariances are positive
**     definite), its draws are finite, come from components of positive
**     weight, and a second sampler with the same seed draws the same rows.
**
** Work per input is bounded by the input's length (the decoder requires
** the exact length the header implies); rows scored and rows drawn are
** capped at a few dozen.
*/
#include "gmm.h"

#include "fuzz_common.h"

#include <stdlib.h>

#define MAX_ROWS  24
#define MAX_DRAWS 16

/* ---- an allocator over malloc that can fail its n-th allocation ---- */

typedef struct counting_alloc {
  long count;   /* allocations so far */
  long fail_at; /* the allocation number that fails, or -1 */
} counting_alloc;

static void *counting_malloc(void *ctx, size_t n) {
  counting_alloc *c = ctx;
  if (c->count++ == c->fail_at) return NULL;
  return malloc(n);
}

static void counting_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static gmm_allocator make_allocator(counting_alloc *c, long fail_at) {
  c->count = 0;
  c->fail_at = fail_at;
  gmm_allocator a = {counting_malloc, counting_free, c};
  return a;
}

/* ---- checks of a decoded model ---- */

static void check_row(const gmm_model *m, const double *x, double *scratch, double *post) {
  int label = -1;
  double lse = gmm_model_score_row(m, x, scratch, post, &label);
  /* FUZZ_KNOWN_NAN_SCORE: inf - inf in the triangular product. */
  if (FUZZ_TOLERATE && isnan(lse)) return;
  FUZZ_CHECK_MSG(!isnan(lse), "log density NaN (k=%d, d=%d, covariance type %d, x[0]=%.17g)",
                 m->k, m->d, (int)m->covariance_type, x[0]);
  FUZZ_CHECK_MSG(lse != INFINITY, "log density +Inf");
  FUZZ_CHECK(label >= 0 && label < m->k);
  int label_only = -1;
  double lse_again = gmm_model_score_row(m, x, scratch, NULL, &label_only);
  FUZZ_CHECK(label_only == label);
  FUZZ_CHECK(fuzz_double_bits(lse_again) == fuzz_double_bits(lse));
  double sum = 0.0;
  for (int j = 0; j < m->k; j++) {
    FUZZ_CHECK_MSG(post[j] >= 0.0 && post[j] <= 1.0, "posterior %d is %.17g", j, post[j]);
    sum += post[j];
  }
  if (lse > -INFINITY) {
    /* A variational model's label follows the expected log weights: its
    ** weight (the posterior mean) may underflow to 0 where they do not. */
    FUZZ_CHECK_MSG(gmm_prior_variational(m->options.prior) || m->weights[label] > 0.0,
                   "label %d has weight 0", label);
    /* FUZZ_KNOWN_POSTERIOR_SUM: log(s) lost in top + log(s) at |top| > 2^53. */
    FUZZ_CHECK_MSG((FUZZ_TOLERATE && fabs(lse) > 1e15) || fabs(sum - 1.0) <= 1e-9 * m->k,
                   "posteriors sum to %.17g (log density %.17g, k=%d, d=%d, covariance type %d, "
                   "x[0]=%.17g)",
                   sum, lse, m->k, m->d, (int)m->covariance_type, x[0]);
  } else {
    FUZZ_CHECK(post[label] == 1.0 && sum == 1.0);
  }
}

/* Whether some spherical precision squared overflows. */
static int spherical_overflow(const gmm_model *m) {
  if (m->covariance_type != GMM_COV_SPHERICAL) return 0;
  for (int j = 0; j < m->k; j++)
    if (isinf(m->prec_chol[j] * m->prec_chol[j])) return 1;
  return 0;
}

/* Row x with some features made missing (mask: every other feature from
** `first`, or all but the last), through the checks of check_row, and
** imputed and drawn. */
static void check_missing_row(const gmm_model *m, const double *x, int mask, double *scratch,
                              double *post, double *y) {
  size_t d = (size_t)m->d;
  memcpy(y, x, d * sizeof *y);
  size_t n_missing = 0;
  for (size_t p = 0; p < d; p++) {
    int miss = mask == 2 ? p + 1 < d : (p % 2) == (size_t)mask;
    if (miss) {
      y[p] = NAN;
      n_missing++;
    }
  }
  if (n_missing == 0) return;
  check_row(m, y, scratch, post);
  double lse = gmm_model_score_row(m, y, scratch, NULL, NULL);
  double *z = y + d;
  memcpy(z, y, d * sizeof *z);
  gmm_model_impute_row(m, z, scratch);
  for (size_t p = 0; p < d; p++) {
    if (!isnan(y[p]))
      FUZZ_CHECK_MSG(fuzz_double_bits(z[p]) == fuzz_double_bits(y[p]),
                     "gmm_model_impute_row changed observed feature %zu", p);
    else if (isfinite(lse))
      FUZZ_CHECK_MSG(isfinite(z[p]), "imputed feature %zu is %g (k=%d, d=%d, covariance type %d)",
                     p, z[p], m->k, m->d, (int)m->covariance_type);
  }
  memcpy(z, y, d * sizeof *z);
  gmm_model_draw_missing_row(m, z, 7, 1, scratch);
  for (size_t p = 0; p < d; p++) {
    if (!isnan(y[p]))
      FUZZ_CHECK_MSG(fuzz_double_bits(z[p]) == fuzz_double_bits(y[p]),
                     "gmm_model_draw_missing_row changed observed feature %zu", p);
    else if (isfinite(lse))
      FUZZ_CHECK_MSG(!isnan(z[p]), "drawn feature %zu is NaN (k=%d, d=%d, covariance type %d)",
                     p, m->k, m->d, (int)m->covariance_type);
  }
}

/* Every feature missing: the prior. */
static void check_all_missing(const gmm_model *m, double *scratch, double *post, double *y) {
  size_t d = (size_t)m->d;
  for (size_t p = 0; p < d; p++) y[p] = NAN;
  int label = -1;
  double lse = gmm_model_score_row(m, y, scratch, post, &label);
  /* The decoder takes weights that sum to 1 within 1e-9. */
  double sum = 0.0;
  for (int j = 0; j < m->k; j++) sum += m->weights[j];
  FUZZ_CHECK_MSG(fabs(lse - log(sum)) <= 1e-12,
                 "the log density of a row of missing values is %g, the weights sum to %.17g",
                 lse, sum);
  FUZZ_CHECK(label >= 0 && label < m->k);
  for (int j = 0; j < m->k; j++)
    FUZZ_CHECK_MSG(fabs(post[j] - m->weights[j] / sum) <= 1e-12,
                   "posterior %d of a row of missing values is %.17g, its weight %.17g", j,
                   post[j], m->weights[j]);
  gmm_model_impute_row(m, y, scratch);
  for (size_t p = 0; p < d; p++)
    FUZZ_CHECK_MSG(isfinite(y[p]), "the mixture mean's feature %zu is %g", p, y[p]);
}

/* Whether some inverse Cholesky factor of a full or tied covariance
** overflowed (prec_chol holds +-Inf). */
static int prec_overflow(const gmm_model *m) {
  if (m->covariance_type != GMM_COV_FULL && m->covariance_type != GMM_COV_TIED) return 0;
  size_t n = gmm_cov_len(m->k, m->d, m->covariance_type);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(m->prec_chol[i])) return 1;
  return 0;
}

static void check_rows(const gmm_model *m, const uint8_t *data, size_t size) {
  size_t k = (size_t)m->k, d = (size_t)m->d;
  size_t n_scratch = gmm_model_scratch_len(m);
  double *scratch = malloc(sizeof(double) * (n_scratch + k + 3 * d));
  FUZZ_CHECK(scratch);
  double *post = scratch + n_scratch, *x = post + k, *y = x + d;
  int rows = 0;
  /* Each component's mean: finite density there when its weight is > 0. */
  for (size_t j = 0; j < k && rows < MAX_ROWS; j++, rows++) {
    memcpy(x, m->means + j * d, d * sizeof *x);
    if (m->weights[j] > 0.0) {
      double lse = gmm_model_score_row(m, x, scratch, NULL, NULL);
      /* FUZZ_KNOWN_NAN_SCORE (below), and FUZZ_KNOWN_SPHERICAL_OVERFLOW:
      ** 1/variance overflows for a subnormal variance, and 0 * inf = NaN
      ** (for any row close enough to that component's mean) poisons the
      ** log-sum-exp or, when every component is NaN, reads as -inf.
      ** FUZZ_KNOWN_PREC_OVERFLOW: the same for full and tied, a positive
      ** definite covariance whose inverse Cholesky factor overflows (a
      ** variance near 1e-309 beside a covariance of 0.3): W holds -Inf,
      ** W (x - mu) at the mean is 0 * -Inf, and the density there -inf. */
      int known = FUZZ_TOLERATE && (isnan(lse) || spherical_overflow(m) || prec_overflow(m));
      FUZZ_CHECK_MSG(known || isfinite(lse),
                     "log density at the mean of component %zu is %g (k=%d, d=%d, covariance "
                     "type %d)",
                     j, lse, m->k, m->d, (int)m->covariance_type);
    }
    check_row(m, x, scratch, post);
    for (int mask = 0; mask < 3; mask++) check_missing_row(m, x, mask, scratch, post, y);
  }
  check_all_missing(m, scratch, post, y);
  /* Bytes of the input read as doubles (non-finite ones become 0), from
  ** a few offsets. */
  for (size_t start = 0; start + 8 <= size && rows < MAX_ROWS; start += 1 + size / 5, rows++) {
    for (size_t p = 0; p < d; p++) {
      size_t at = (start + 8 * p) % (size - 7);
      double v = fuzz_bits_double(fuzz_get_le64(data + at));
      x[p] = isfinite(v) ? v : 0.0;
    }
    check_row(m, x, scratch, post);
    check_missing_row(m, x, (int)(start % 3), scratch, post, y);
  }
  /* Huge values, of one sign and of alternating signs; and the origin. */
  static const double extremes[] = {1e308, -1e308, 1.7976931348623157e308, 1e154, 0.0};
  for (size_t e = 0; e < sizeof extremes / sizeof extremes[0]; e++) {
    for (size_t p = 0; p < d; p++) x[p] = extremes[e];
    check_row(m, x, scratch, post);
    for (size_t p = 0; p < d; p++) x[p] = p % 2 ? -extremes[e] : extremes[e];
    check_row(m, x, scratch, post);
    check_missing_row(m, x, (int)(e % 3), scratch, post, y);
  }
  free(scratch);
}

static void check_sampler(const gmm_model *m, uint64_t seed) {
  gmm_sampler *s1 = NULL, *s2 = NULL;
  gmm_status rc = gmm_sampler_new(m, seed, &gmm_libc_allocator, &s1);
  FUZZ_CHECK_MSG(rc == GMM_OK, "gmm_sampler_new of a decoded model returned %d", (int)rc);
  rc = gmm_sampler_new(m, seed, &gmm_libc_allocator, &s2);
  FUZZ_CHECK(rc == GMM_OK);
  size_t d = (size_t)m->d;
  double *x = malloc(2 * d * sizeof *x);
  FUZZ_CHECK(x);
  for (int i = 0; i < MAX_DRAWS; i++) {
    int c1 = -1, c2 = -1;
    gmm_sampler_draw(s1, x, &c1);
    gmm_sampler_draw(s2, x + d, &c2);
    FUZZ_CHECK(c1 >= 0 && c1 < m->k);
    FUZZ_CHECK_MSG(m->weights[c1] > 0.0, "drew component %d of weight 0", c1);
    FUZZ_CHECK(c1 == c2);
    FUZZ_CHECK(memcmp(x, x + d, d * sizeof *x) == 0);
    for (size_t p = 0; p < d; p++) FUZZ_CHECK_MSG(isfinite(x[p]), "draw %d, x[%zu] = %g", i, p, x[p]);
  }
  free(x);
  gmm_sampler_free(s1);
  gmm_sampler_free(s2);
}

/* Encodes m; returns the malloc'd bytes and their number. */
static uint8_t *encode(const gmm_model *m, size_t *n) {
  *n = gmm_blob_size(m);
  FUZZ_CHECK_MSG(*n > 0, "gmm_blob_size of a decoded model is 0");
  uint8_t *out = malloc(*n);
  FUZZ_CHECK(out);
  gmm_blob_write(m, out);
  return out;
}

static void check_round_trip(const gmm_model *m, const uint8_t *data, size_t size) {
  size_t n;
  uint8_t *out = encode(m, &n);
  if (m->blob_version >= 2) {
    FUZZ_CHECK_MSG(n == size, "re-encoded size %zu, decoded from %zu bytes", n, size);
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK_MSG(out[i] == data[i], "re-encoded byte %zu is 0x%02x, was 0x%02x", i, out[i],
                     data[i]);
  } else {
    /* An older version: its current encoding must decode, to the same
    ** parameters, and encode to itself. */
    gmm_model *m2 = NULL;
    char err[256] = "";
    gmm_status rc = gmm_blob_read(out, n, &gmm_libc_allocator, &m2, err, sizeof err);
    FUZZ_CHECK_MSG(rc == GMM_OK, "the upgraded encoding of a version %d model fails: %s",
                   m->blob_version, err);
    FUZZ_CHECK(m2->k == m->k && m2->d == m->d && m2->covariance_type == m->covariance_type);
    size_t n_cov = gmm_cov_len(m->k, m->d, m->covariance_type);
    FUZZ_CHECK(memcmp(m2->weights, m->weights, (size_t)m->k * sizeof(double)) == 0);
    FUZZ_CHECK(memcmp(m2->covariances, m->covariances, n_cov * sizeof(double)) == 0);
    size_t n2;
    uint8_t *out2 = encode(m2, &n2);
    FUZZ_CHECK(n2 == n && memcmp(out, out2, n) == 0);
    free(out2);
    gmm_model_free(m2);
  }
  free(out);
}

/* Version 4's fields (issue 12), and their defaults before it. */
static void check_v4_fields(const gmm_model *m) {
  const gmm_options *o = &m->options;
  const gmm_summary *s = &m->summary;
  FUZZ_CHECK((unsigned)m->covariance_type < GMM_N_COV_TYPES);
  FUZZ_CHECK(m->options.covariance_type == m->covariance_type);
  FUZZ_CHECK((unsigned)o->init <= GMM_INIT_HC);
  FUZZ_CHECK(o->hc_rows >= 2 && o->hc_rows <= GMM_MAX_HC_ROWS);
  FUZZ_CHECK((unsigned)o->criterion <= GMM_CRITERION_AIC);
  FUZZ_CHECK_MSG(isnan(s->log_map) || (s->log_map <= 0.0 && s->log_map >= -1e300),
                 "log_map %.17g", s->log_map);
  int v4_only = (unsigned)m->covariance_type > GMM_COV_SPHERICAL ||
                (unsigned)o->init > GMM_INIT_RANDOM_FROM_DATA ||
                o->hc_rows != GMM_DEFAULT_HC_ROWS || o->criterion != GMM_CRITERION_BIC ||
                !isnan(s->log_map);
  for (int c = 0; c < m->n_candidates; c++) {
    const gmm_candidate *cd = &m->candidates[c];
    FUZZ_CHECK((unsigned)cd->covariance_type < GMM_N_COV_TYPES);
    v4_only |= (unsigned)cd->covariance_type > GMM_COV_SPHERICAL || (!cd->failed && !isnan(cd->icl));
    if (m->blob_version < 4)
      FUZZ_CHECK_MSG(isnan(cd->icl), "candidate %d of a version %d model has ICL %g", c,
                     m->blob_version, cd->icl);
    else if (cd->failed)
      FUZZ_CHECK_MSG(fuzz_double_bits(cd->icl) == 0, "failed candidate %d has ICL %g", c, cd->icl);
  }
  if (m->blob_version < 4)
    FUZZ_CHECK(!v4_only && isnan(s->log_map));
  else if (m->blob_version == 4)
    FUZZ_CHECK_MSG(v4_only, "a version 4 model holds nothing version 3 cannot");
}

/* The posterior mean weights of concentrations c (scikit-learn's
** _set_parameters), into w; whether they sum to a positive finite
** number. */
static int concentration_weights(const double *c, int k, gmm_prior prior, double *w) {
  double sum = 0.0, rest = 1.0, cmax = 0.0;
  for (int j = 0; j < k; j++) cmax = fmax(cmax, c[j]);
  for (int j = 0; j < k; j++) {
    if (prior == GMM_PRIOR_DIRICHLET_PROCESS) {
      /* Halved when a + b overflows. */
      double a = c[j], b = c[k + j];
      if (isinf(a + b)) a *= 0.5, b *= 0.5;
      w[j] = a / (a + b) * rest;
      rest *= b / (a + b);
    } else {
      w[j] = c[j] / cmax;
    }
    sum += w[j];
  }
  if (!(sum > 0.0 && isfinite(sum))) return 0;
  for (int j = 0; j < k; j++) w[j] /= sum;
  return 1;
}

/* Version 5's fields (issue 13), and their absence before it. */
static void check_v5_fields(const gmm_model *m) {
  const gmm_options *o = &m->options;
  const gmm_summary *s = &m->summary;
  FUZZ_CHECK((unsigned)o->prior < GMM_N_PRIORS);
  FUZZ_CHECK_MSG((o->prior != GMM_PRIOR_NONE) == (m->blob_version == 5),
                 "prior %d in a version %d model", (int)o->prior, m->blob_version);
  if (o->prior == GMM_PRIOR_NONE) {
    FUZZ_CHECK(isnan(s->lower_bound) && s->n_pruned == 0 && o->prune == 0);
    FUZZ_CHECK(!m->mean_prior && !m->covariance_prior && !m->weight_concentration &&
               !m->mean_precision && !m->degrees_of_freedom);
    return;
  }
  int variational = gmm_prior_variational(o->prior);
  size_t k = (size_t)m->k, d = (size_t)m->d;
  double dm1 = (double)m->d - 1.0;
  if (gmm_prior_variational(m->options.prior))
    FUZZ_CHECK_MSG(m->n_candidates == 0, "a variational model has %d candidates", m->n_candidates);
  FUZZ_CHECK((unsigned)m->covariance_type <= (variational ? GMM_COV_SPHERICAL : GMM_COV_EEI));
  FUZZ_CHECK(o->prune == 0 || (o->prune == 1 && variational));
  FUZZ_CHECK(s->n_pruned >= 0 && s->n_pruned < GMM_MAX_K && (o->prune || s->n_pruned == 0));
  FUZZ_CHECK_MSG(variational ? isfinite(o->weight_concentration_prior) &&
                                   o->weight_concentration_prior > 0.0
                             : isnan(o->weight_concentration_prior),
                 "weight_concentration_prior %g", o->weight_concentration_prior);
  FUZZ_CHECK(isfinite(o->mean_precision_prior) && o->mean_precision_prior > 0.0);
  FUZZ_CHECK(isfinite(o->degrees_of_freedom_prior) && o->degrees_of_freedom_prior > dm1);
  FUZZ_CHECK_MSG(variational ? fabs(s->lower_bound) <= 1e300 : isnan(s->lower_bound),
                 "lower_bound %g", s->lower_bound);
  FUZZ_CHECK(o->mean_prior == NULL && o->covariance_prior == NULL);
  FUZZ_CHECK(m->mean_prior && m->covariance_prior);
  for (size_t p = 0; p < d; p++) FUZZ_CHECK(isfinite(m->mean_prior[p]));
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  if (shape == GMM_COV_FULL || shape == GMM_COV_TIED) {
    for (size_t r = 0; r < d; r++) {
      FUZZ_CHECK(m->covariance_prior[r * d + r] > 0.0);
      for (size_t q = 0; q < d; q++) {
        FUZZ_CHECK(isfinite(m->covariance_prior[r * d + q]));
        FUZZ_CHECK(fuzz_double_bits(m->covariance_prior[r * d + q]) ==
                   fuzz_double_bits(m->covariance_prior[q * d + r]));
      }
    }
  } else {
    size_t n = shape == GMM_COV_DIAG ? d : 1;
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK(isfinite(m->covariance_prior[i]) && m->covariance_prior[i] > 0.0);
  }
  if (!variational) {
    FUZZ_CHECK(!m->weight_concentration && !m->mean_precision && !m->degrees_of_freedom);
    return;
  }
  FUZZ_CHECK(m->weight_concentration && m->mean_precision && m->degrees_of_freedom);
  size_t n_conc = gmm_concentration_len(m->k, o->prior);
  FUZZ_CHECK(n_conc == (o->prior == GMM_PRIOR_DIRICHLET_PROCESS ? 2 * k : k));
  for (size_t i = 0; i < n_conc; i++)
    FUZZ_CHECK(isfinite(m->weight_concentration[i]) && m->weight_concentration[i] > 0.0);
  for (size_t j = 0; j < k; j++) {
    FUZZ_CHECK(isfinite(m->mean_precision[j]) &&
               m->mean_precision[j] >= o->mean_precision_prior * (1.0 - 1e-12));
    FUZZ_CHECK_MSG(isfinite(m->log_norm[j]), "log_norm %zu is %g", j, m->log_norm[j]);
  }
  size_t n_dof = shape == GMM_COV_TIED ? 1 : k;
  for (size_t j = 0; j < n_dof; j++)
    FUZZ_CHECK(isfinite(m->degrees_of_freedom[j]) && m->degrees_of_freedom[j] > dm1);
  double *w = malloc(k * sizeof *w);
  FUZZ_CHECK(w);
  FUZZ_CHECK_MSG(concentration_weights(m->weight_concentration, m->k, o->prior, w),
                 "the concentrations of a decoded model give no weights");
  for (size_t j = 0; j < k; j++)
    FUZZ_CHECK_MSG(fabs(m->weights[j] - w[j]) <= 1e-8 * w[j] + 1e-290,
                   "weight %zu is %.17g, its concentrations give %.17g", j, m->weights[j], w[j]);
  free(w);
}

static void exercise(const gmm_model *m, const uint8_t *data, size_t size) {
  FUZZ_CHECK(m->k >= 1 && m->k <= GMM_MAX_K && m->d >= 1 && m->d <= GMM_MAX_D);
  FUZZ_CHECK(m->blob_version >= 1 && m->blob_version <= FUZZ_BLOB_NEWEST);
  const gmm_summary *s = &m->summary;
  FUZZ_CHECK((unsigned)m->options.missing <= GMM_MISSING_SKIP);
  FUZZ_CHECK(s->n_incomplete >= 0);
  FUZZ_CHECK(isfinite(s->missing_fraction) && s->missing_fraction >= 0.0 &&
             s->missing_fraction < 1.0);
  FUZZ_CHECK((s->n_incomplete == 0) == (s->missing_fraction == 0.0));
  FUZZ_CHECK(m->options.missing == GMM_MISSING_MARGINALIZE || s->n_incomplete == 0);
  if (m->blob_version < 3)
    FUZZ_CHECK(m->options.missing == GMM_MISSING_MARGINALIZE && s->n_incomplete == 0);
  else if (m->blob_version == 3)
    FUZZ_CHECK(m->options.missing == GMM_MISSING_SKIP || s->n_incomplete > 0);
  check_v4_fields(m);
  check_v5_fields(m);
  FUZZ_CHECK(gmm_blob_stored_checksum(data, size) == fuzz_fnv1a(data, size - 8));
  check_round_trip(m, data, size);
  double bic = gmm_model_bic(m), aic = gmm_model_aic(m);
  /* FUZZ_KNOWN_BIC_OVERFLOW: the decoder accepts |log_likelihood| up to
  ** DBL_MAX, and -2 LL overflows. */
  FUZZ_CHECK_MSG((FUZZ_TOLERATE && fabs(m->summary.log_likelihood) > 1e307) ||
                     (isfinite(bic) && isfinite(aic)),
                 "BIC %g, AIC %g (log_likelihood %.17g, n_samples %.17g, k %d, d %d)", bic, aic,
                 m->summary.log_likelihood, m->summary.n_samples, m->k, m->d);
  if (!isnan(s->log_map)) {
    double icl = gmm_model_icl(m);
    FUZZ_CHECK_MSG((FUZZ_TOLERATE && fabs(m->summary.log_likelihood) > 1e307) || isfinite(icl),
                   "ICL %g (BIC %g, log_map %.17g)", icl, bic, s->log_map);
  }
  check_rows(m, data, size);
  check_sampler(m, fuzz_fnv1a(data, size));
}

/* Decodes data; on success exercises the model and checks that each
** allocation failure is reported cleanly. Returns whether it decoded. */
static int decode_and_check(const uint8_t *data, size_t size) {
  counting_alloc c;
  gmm_allocator a = make_allocator(&c, -1);
  gmm_model *m = (gmm_model *)1;
  char err[256];
  memset(err, 0x55, sizeof err);
  gmm_status rc = gmm_blob_read(data, size, &a, &m, err, sizeof err);
  if (rc != GMM_OK) {
    FUZZ_CHECK(m == NULL);
    FUZZ_CHECK(rc == GMM_ECORRUPT);
    FUZZ_CHECK(memchr(err, 0, sizeof err) != NULL && err[0] != 0);
    /* No error buffer at all must be fine too. */
    gmm_model *m2 = (gmm_model *)1;
    FUZZ_CHECK(gmm_blob_read(data, size, &gmm_libc_allocator, &m2, NULL, 0) == rc && !m2);
    return 0;
  }
  FUZZ_CHECK(m != NULL);
  long n_allocs = c.count;
  exercise(m, data, size);
  gmm_model_free(m);
  for (long i = 0; i < n_allocs; i++) {
    gmm_allocator failing = make_allocator(&c, i);
    gmm_model *m3 = (gmm_model *)1;
    rc = gmm_blob_read(data, size, &failing, &m3, err, sizeof err);
    FUZZ_CHECK_MSG(rc == GMM_ENOMEM && m3 == NULL,
                   "allocation %ld of %ld failed: status %d, model %p", i, n_allocs, (int)rc,
                   (void *)m3);
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* libFuzzer may hand a NULL pointer for the empty input. */
  static const uint8_t empty[1] = {0};
  if (decode_and_check(size ? data : empty, size) || size < 8) return 0;
  uint8_t *fixed = malloc(size);
  FUZZ_CHECK(fixed);
  memcpy(fixed, data, size);
  fuzz_fix_checksum(fixed, size);
  decode_and_check(fixed, size);
  free(fixed);
  return 0;
}
