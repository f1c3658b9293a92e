/*
** test_mclust.c -- cmocka tests of mclust's fourteen covariance models in
** the numeric core (issue 12), through the core's public API only
** (ext/core/gmm.h).
**
** Requirements cited: "mclust (N)" are those of ext/core/gmm_mclust.c's
** header comment, "fit (N)" those of ext/core/gmm_fit.c's, "stats (N)"
** those of ext/core/gmm_stats.c's, "sample (N)" those of
** ext/core/gmm_sample.c's.
**
** Reference numbers are computed here with plain code of the test's own: a
** Cholesky log-determinant (test_util.h), a cyclic Jacobi eigen-solver, the
** mclust closed forms written from Celeux & Govaert (1995), and the
** M-step's objective sum_j n_j (log |Sigma_j| + tr(S_j Sigma_j^-1)).
**
** Data: Old Faithful (272 x 2) and Fisher's iris (150 x 4) from
** tests/oracle/sklearn_fixtures.h, and seeded synthetic mixtures
** (tu_mixture_sample).
**
** Build: gcc -std=c11 -O2 -g -Wall -Wextra -Wshadow -Iext/core -o
** build/test_mclust tests/test_mclust.c ext/core/ *.c -lcmocka -lm -lpthread
** (about 1.5 s). TM_DEBUG=1 in the environment prints the margins of the
** monotonicity and stationarity checks.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../ext/core/gmm.h"
#include "test_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "oracle/sklearn_fixtures.h"
#pragma GCC diagnostic pop

#define MAXD 8 /* the largest d these tests use */

static const gmm_cov_type ALL_TYPES[GMM_N_COV_TYPES] = {
    GMM_COV_FULL, GMM_COV_TIED, GMM_COV_DIAG, GMM_COV_SPHERICAL, GMM_COV_EII,
    GMM_COV_EEI,  GMM_COV_VEI,  GMM_COV_EVI,  GMM_COV_VEE,       GMM_COV_EVE,
    GMM_COV_VVE,  GMM_COV_EEV,  GMM_COV_VEV,  GMM_COV_EVV};

/* ---- data sets ---- */

typedef struct dataset {
  const char *name;
  const double *x;
  size_t n;
  int d;
} dataset;

static const dataset FAITHFUL = {"faithful", faithful_x, 272, 2};
static const dataset IRIS = {"iris", iris_x, 150, 4};

/* ---- small linear algebra of the test's own ---- */

/* log |S| of a d x d SPD matrix through its Cholesky factor; NAN when S is
** not positive definite. */
static double log_det(const double *s, int d) {
  double l[MAXD * MAXD];
  if (tu_cholesky(s, d, l) != 0) return NAN;
  double t = 0.0;
  for (int p = 0; p < d; p++) t += 2.0 * log(l[p * d + p]);
  return t;
}

/* Eigenvalues (descending) and eigenvectors (the columns of vec, d x d
** row-major) of the symmetric d x d matrix a, by cyclic Jacobi rotations. */
static void jacobi_eigen(const double *a_in, int d, double *val, double *vec) {
  double a[MAXD * MAXD];
  memcpy(a, a_in, sizeof(double) * (size_t)(d * d));
  for (int i = 0; i < d * d; i++) vec[i] = 0.0;
  for (int i = 0; i < d; i++) vec[i * d + i] = 1.0;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0.0, diag = 0.0;
    for (int p = 0; p < d; p++)
      for (int q = 0; q < d; q++)
        if (p == q)
          diag += a[p * d + q] * a[p * d + q];
        else
          off += a[p * d + q] * a[p * d + q];
    if (off <= 1e-34 * diag || off == 0.0) break;
    for (int p = 0; p < d - 1; p++)
      for (int q = p + 1; q < d; q++) {
        double apq = a[p * d + q];
        if (apq == 0.0) continue;
        double theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
        for (int r = 0; r < d; r++) { /* A P */
          double arp = a[r * d + p], arq = a[r * d + q];
          a[r * d + p] = c * arp - s * arq;
          a[r * d + q] = s * arp + c * arq;
        }
        for (int r = 0; r < d; r++) { /* P' A */
          double apr = a[p * d + r], aqr = a[q * d + r];
          a[p * d + r] = c * apr - s * aqr;
          a[q * d + r] = s * apr + c * aqr;
        }
        for (int r = 0; r < d; r++) { /* V P */
          double vrp = vec[r * d + p], vrq = vec[r * d + q];
          vec[r * d + p] = c * vrp - s * vrq;
          vec[r * d + q] = s * vrp + c * vrq;
        }
      }
  }
  for (int p = 0; p < d; p++) val[p] = a[p * d + p];
  for (int p = 0; p < d; p++) { /* selection sort, descending */
    int best = p;
    for (int q = p + 1; q < d; q++)
      if (val[q] > val[best]) best = q;
    if (best == p) continue;
    double t = val[p];
    val[p] = val[best];
    val[best] = t;
    for (int r = 0; r < d; r++) {
      t = vec[r * d + p];
      vec[r * d + p] = vec[r * d + best];
      vec[r * d + best] = t;
    }
  }
}

/* c = a b (d x d). */
static void mat_mul(const double *a, const double *b, double *c, int d) {
  for (int p = 0; p < d; p++)
    for (int q = 0; q < d; q++) {
      double s = 0.0;
      for (int r = 0; r < d; r++) s += a[p * d + r] * b[r * d + q];
      c[p * d + q] = s;
    }
}

static double frob(const double *a, int d) {
  double s = 0.0;
  for (int i = 0; i < d * d; i++) s += a[i] * a[i];
  return sqrt(s);
}

/* tr(S Sigma^-1) for SPD Sigma. */
static double trace_solve(const double *s, const double *sigma, int d) {
  double inv[MAXD * MAXD];
  if (tu_spd_inverse(sigma, d, inv) != 0) return NAN;
  double t = 0.0;
  for (int p = 0; p < d; p++)
    for (int q = 0; q < d; q++) t += s[p * d + q] * inv[q * d + p];
  return t;
}

/* ---- models ---- */

/* Sigma_j of m as a full d x d matrix, from its storage shape. */
static void expand_cov(const gmm_model *m, int j, double *out) {
  int d = m->d;
  size_t dd = (size_t)d, jj = (size_t)j;
  for (int i = 0; i < d * d; i++) out[i] = 0.0;
  switch (gmm_cov_shape(m->covariance_type)) {
    case GMM_COV_FULL: memcpy(out, m->covariances + jj * dd * dd, dd * dd * sizeof *out); break;
    case GMM_COV_TIED: memcpy(out, m->covariances, dd * dd * sizeof *out); break;
    case GMM_COV_DIAG:
      for (int p = 0; p < d; p++) out[p * d + p] = m->covariances[jj * dd + (size_t)p];
      break;
    case GMM_COV_SPHERICAL:
      for (int p = 0; p < d; p++) out[p * d + p] = m->covariances[j];
      break;
    default: fail_msg("unknown storage shape");
  }
}

/* All k Sigma_j of m (k x d x d, malloc'd). */
static double *expand_all(const gmm_model *m) {
  size_t dd = (size_t)m->d * (size_t)m->d;
  double *s = malloc(sizeof(double) * dd * (size_t)m->k);
  assert_non_null(s);
  for (int j = 0; j < m->k; j++) expand_cov(m, j, s + (size_t)j * dd);
  return s;
}

static size_t n_params_doubles(const gmm_model *m) {
  return (size_t)m->k * (1 + (size_t)m->d) + gmm_cov_len(m->k, m->d, m->covariance_type);
}

static int models_same_bits(const gmm_model *a, const gmm_model *b) {
  if (a->k != b->k || a->d != b->d || a->covariance_type != b->covariance_type) return 0;
  size_t kk = (size_t)a->k, dd = (size_t)a->d;
  size_t nc = gmm_cov_len(a->k, a->d, a->covariance_type);
  return memcmp(a->weights, b->weights, kk * sizeof(double)) == 0 &&
         memcmp(a->means, b->means, kk * dd * sizeof(double)) == 0 &&
         memcmp(a->covariances, b->covariances, nc * sizeof(double)) == 0 &&
         memcmp(&a->summary.log_likelihood, &b->summary.log_likelihood, sizeof(double)) == 0 &&
         a->summary.n_iter == b->summary.n_iter;
}

/* Weights and means to rel; covariances to rel relative to the scale
** sqrt(S_pp S_qq) of their entry (off-diagonal entries may be near 0). */
static void assert_models_close(const gmm_model *a, const gmm_model *b, double rel,
                                const char *what) {
  assert_int_equal(a->k, b->k);
  assert_int_equal(a->d, b->d);
  assert_int_equal(a->covariance_type, b->covariance_type);
  int k = a->k, d = a->d;
  for (int j = 0; j < k; j++)
    if (!tu_close_rel(a->weights[j], b->weights[j], rel))
      fail_msg("%s: weight %d %.17g vs %.17g", what, j, a->weights[j], b->weights[j]);
  for (int j = 0; j < k; j++) {
    double sa[MAXD * MAXD], sb[MAXD * MAXD];
    expand_cov(a, j, sa);
    expand_cov(b, j, sb);
    for (int p = 0; p < d; p++) {
      double scale = sqrt(sa[p * d + p]);
      double mu_a = a->means[j * d + p], mu_b = b->means[j * d + p];
      if (!tu_close_scaled(mu_a, mu_b, rel, fmax(fabs(mu_a), scale)))
        fail_msg("%s: mean %d,%d %.17g vs %.17g", what, j, p, mu_a, mu_b);
      for (int q = 0; q < d; q++) {
        double s = sqrt(sa[p * d + p] * sa[q * d + q]);
        if (!tu_close_scaled(sa[p * d + q], sb[p * d + q], rel, s))
          fail_msg("%s: covariance %d (%d,%d) %.17g vs %.17g (scale %g)", what, j, p, q,
                   sa[p * d + q], sb[p * d + q], s);
      }
    }
  }
}

static void assert_model_finite(const gmm_model *m, const char *what) {
  size_t n = n_params_doubles(m);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(m->weights[i])) fail_msg("%s: parameter %zu is %g", what, i, m->weights[i]);
  if (!isfinite(m->summary.log_likelihood))
    fail_msg("%s: log-likelihood %g", what, m->summary.log_likelihood);
  for (int j = 0; j < m->k; j++) {
    double s[MAXD * MAXD];
    expand_cov(m, j, s);
    if (!isfinite(log_det(s, m->d))) fail_msg("%s: Sigma_%d is not positive definite", what, j);
  }
}

/* ---- fitting ---- */

typedef struct trace_log {
  int n;
  double lb[1024];
} trace_log;

static int record(void *ctx, int init, int iter, double lower_bound) {
  (void)init;
  (void)iter;
  trace_log *t = ctx;
  if (t->n < 1024) t->lb[t->n++] = lower_bound;
  return 0;
}

static gmm_status fit_rows(const double *x, size_t n, int d, const double *w, const int *labels,
                           const gmm_options *opt, trace_log *trace, gmm_model **out, char *err,
                           size_t err_len) {
  gmm_data data = {x, n, d, w, 0, labels};
  return gmm_fit(&data, opt, &gmm_libc_allocator, trace ? record : NULL, trace, out, err,
                 err_len);
}

static gmm_model *fit_ok(const double *x, size_t n, int d, const double *w, const int *labels,
                         const gmm_options *opt, trace_log *trace) {
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = fit_rows(x, n, d, w, labels, opt, trace, &m, err, sizeof err);
  if (rc != GMM_OK || !m)
    fail_msg("gmm_fit (%s, k = %d) returned %d: %s", gmm_cov_type_name(opt->covariance_type),
             opt->k, (int)rc, err);
  return m;
}

static gmm_options options(int k, gmm_cov_type t) {
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = t;
  opt.threads = 1;
  return opt;
}

static uint64_t fingerprint(const gmm_model *m) {
  size_t len = gmm_blob_size(m);
  assert_true(len > 0);
  unsigned char *blob = malloc(len);
  assert_non_null(blob);
  gmm_blob_write(m, blob);
  uint64_t fp = gmm_blob_stored_checksum(blob, len);
  free(blob);
  return fp;
}

/* ==== 1. constraints: mclust (1), (2), (3) ==== */

/* Checks that the fitted Sigma_j of m satisfy its type's constraints, and
** the storage shape gmm_cov_shape gives. */
static void check_constraints(const gmm_model *m, const char *what) {
  int k = m->k, d = m->d;
  gmm_cov_type t = m->covariance_type;
  size_t dd = (size_t)d * (size_t)d;
  assert_model_finite(m, what);
  double wsum = 0.0;
  for (int j = 0; j < k; j++) wsum += m->weights[j];
  assert_close_rel(wsum, 1.0, 1e-12);
  /* storage shapes of gmm.h */
  gmm_cov_type shape = gmm_cov_shape(t);
  switch (t) {
    case GMM_COV_EII:
    case GMM_COV_SPHERICAL: assert_int_equal(shape, GMM_COV_SPHERICAL); break;
    case GMM_COV_EEI:
    case GMM_COV_VEI:
    case GMM_COV_EVI:
    case GMM_COV_DIAG: assert_int_equal(shape, GMM_COV_DIAG); break;
    case GMM_COV_TIED: assert_int_equal(shape, GMM_COV_TIED); break;
    default: assert_int_equal(shape, GMM_COV_FULL); break;
  }
  double *s = expand_all(m);
  double ld[GMM_MAX_K], val[GMM_MAX_K][MAXD], vec[MAXD * MAXD];
  for (int j = 0; j < k; j++) {
    const double *sj = s + (size_t)j * dd;
    for (int p = 0; p < d; p++)
      for (int q = 0; q < p; q++)
        if (sj[p * d + q] != sj[q * d + p]) fail_msg("%s: Sigma_%d is not symmetric", what, j);
    ld[j] = log_det(sj, d);
    jacobi_eigen(sj, d, val[j], vec);
  }
  int equal_det = t == GMM_COV_EII || t == GMM_COV_EEI || t == GMM_COV_EVI ||
                  t == GMM_COV_TIED || t == GMM_COV_EVE || t == GMM_COV_EEV || t == GMM_COV_EVV;
  if (equal_det)
    for (int j = 1; j < k; j++)
      if (!(fabs(ld[j] - ld[0]) <= 1e-9))
        fail_msg("%s: log |Sigma_%d| = %.17g, log |Sigma_0| = %.17g: volumes differ", what, j,
                 ld[j], ld[0]);
  /* EII: sigma^2 I, one sigma^2 */
  if (t == GMM_COV_EII)
    for (int j = 1; j < k; j++) assert_close_rel(m->covariances[j], m->covariances[0], 1e-12);
  /* EEI: one diagonal */
  if (t == GMM_COV_EEI)
    for (int j = 1; j < k; j++)
      for (int p = 0; p < d; p++)
        assert_close_rel(m->covariances[j * d + p], m->covariances[p], 1e-12);
  /* VEI: diagonals proportional, lambda_j A */
  if (t == GMM_COV_VEI)
    for (int j = 1; j < k; j++) {
      double r0 = m->covariances[j * d] / m->covariances[0];
      for (int p = 1; p < d; p++)
        if (!tu_close_rel(m->covariances[j * d + p] / m->covariances[p], r0, 1e-9))
          fail_msg("%s: diagonal %d is not proportional to diagonal 0 (feature %d)", what, j, p);
    }
  /* VEE: Sigma_j = c_j Sigma_0 */
  if (t == GMM_COV_VEE)
    for (int j = 1; j < k; j++) {
      double tr0 = 0.0, trj = 0.0, diff[MAXD * MAXD];
      for (int p = 0; p < d; p++) {
        tr0 += s[p * d + p];
        trj += s[(size_t)j * dd + (size_t)(p * d + p)];
      }
      for (size_t i = 0; i < dd; i++) diff[i] = s[(size_t)j * dd + i] - trj / tr0 * s[i];
      if (!(frob(diff, d) <= 1e-9 * frob(s + (size_t)j * dd, d)))
        fail_msg("%s: Sigma_%d is not proportional to Sigma_0 (residual %g)", what, j,
                 frob(diff, d) / frob(s + (size_t)j * dd, d));
    }
  /* EVE, VVE (and VEE, EEE): one orientation, so the Sigma_j commute */
  if (t == GMM_COV_EVE || t == GMM_COV_VVE || t == GMM_COV_VEE)
    for (int a = 0; a < k; a++)
      for (int b = a + 1; b < k; b++) {
        double ab[MAXD * MAXD], ba[MAXD * MAXD];
        mat_mul(s + (size_t)a * dd, s + (size_t)b * dd, ab, d);
        mat_mul(s + (size_t)b * dd, s + (size_t)a * dd, ba, d);
        for (size_t i = 0; i < dd; i++) ab[i] -= ba[i];
        double rel = frob(ab, d) / (frob(s + (size_t)a * dd, d) * frob(s + (size_t)b * dd, d));
        if (!(rel <= 1e-9))
          fail_msg("%s: Sigma_%d and Sigma_%d do not commute (relative %g)", what, a, b, rel);
      }
  /* EEV: one set of eigenvalues (lambda A); VEV: proportional sets */
  if (t == GMM_COV_EEV || t == GMM_COV_VEV)
    for (int j = 1; j < k; j++) {
      double r0 = t == GMM_COV_EEV ? 1.0 : val[j][0] / val[0][0];
      for (int p = 0; p < d; p++)
        if (!tu_close_rel(val[j][p], r0 * val[0][p], 1e-9))
          fail_msg("%s: eigenvalue %d of Sigma_%d is %.17g, of Sigma_0 %.17g (ratio %.17g "
                   "expected)",
                   what, p, j, val[j][p], val[0][p], r0);
    }
  free(s);
}

/* mclust (1), (2), (3); fit (15): on faithful and iris (k = 3, k-means
** start, reg_covar 1e-6) the fitted Sigma_j of every type satisfy its
** constraints: EII one sigma^2 I, EEI one diagonal, VEI proportional
** diagonals, EVI/EVE/EEV/EVV/EEE equal determinants, VEE proportional
** Sigma_j, EVE/VVE/VEE commuting Sigma_j, EEV equal and VEV proportional
** eigenvalue sets; each type in its storage shape. */
static void test_constraints_hold(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      gmm_options opt = options(3, ALL_TYPES[i]);
      gmm_model *m = fit_ok(sets[s]->x, sets[s]->n, sets[s]->d, NULL, NULL, &opt, NULL);
      char what[64];
      snprintf(what, sizeof what, "%s %s", sets[s]->name, gmm_cov_type_name(ALL_TYPES[i]));
      check_constraints(m, what);
      assert_int_equal(m->covariance_type, ALL_TYPES[i]);
      gmm_model_free(m);
    }
}

/* ==== 2. the M-step is the constrained maximum: mclust (1), (2) ==== */

/* S_j = W_j / n_j + reg I from statistics around m's means, as mclust (1)
** defines the input, and the masses n_j (+ 10 eps, as fit (5)). */
static void scatters_from_stats(const gmm_estats *st, double reg, double *nk, double *s) {
  int k = st->k, d = st->d;
  size_t dd = (size_t)d * (size_t)d;
  for (int j = 0; j < k; j++) {
    double n = st->sums.nk[j] + 10 * 2.220446049250313e-16;
    nk[j] = n;
    double delta[MAXD];
    for (int p = 0; p < d; p++) delta[p] = st->sums.s1[j * d + p] / n;
    double *sj = s + (size_t)j * dd;
    for (size_t i = 0; i < dd; i++) sj[i] = 0.0;
    for (int p = 0; p < d; p++)
      for (int q = 0; q <= p; q++) {
        if (st->sums.diag_only && q != p) continue;
        double s2 = st->sums.diag_only ? st->sums.s2[j * d + p]
                                       : st->sums.s2[(size_t)j * dd + (size_t)(p * d + q)];
        sj[p * d + q] = sj[q * d + p] = s2 / n - delta[p] * delta[q];
      }
    for (int p = 0; p < d; p++) sj[p * d + p] += reg;
  }
}

/* sum_j n_j (log |Sigma_j| + tr(S_j Sigma_j^-1)): mclust (1)'s objective. */
static double objective(int k, int d, const double *nk, const double *s, const double *sig) {
  size_t dd = (size_t)d * (size_t)d;
  double f = 0.0;
  for (int j = 0; j < k; j++)
    f += nk[j] * (log_det(sig + (size_t)j * dd, d) +
                  trace_solve(s + (size_t)j * dd, sig + (size_t)j * dd, d));
  return f;
}

/* The closed forms of mclust (2), computed here (EII, EEI, EVI, EEV, EVV, and
** the four unconstrained ones); 0 when t is iterative. */
static int closed_form(gmm_cov_type t, int k, int d, const double *nk, const double *s,
                       double *out) {
  size_t dd = (size_t)d * (size_t)d;
  double n = 0.0;
  for (int j = 0; j < k; j++) n += nk[j];
  for (size_t i = 0; i < (size_t)k * dd; i++) out[i] = 0.0;
  switch (t) {
    case GMM_COV_FULL: memcpy(out, s, sizeof(double) * (size_t)k * dd); return 1;
    case GMM_COV_DIAG:
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++) out[(size_t)j * dd + (size_t)(p * d + p)] = s[(size_t)j * dd + (size_t)(p * d + p)];
      return 1;
    case GMM_COV_SPHERICAL:
      for (int j = 0; j < k; j++) {
        double tr = 0.0;
        for (int p = 0; p < d; p++) tr += s[(size_t)j * dd + (size_t)(p * d + p)];
        for (int p = 0; p < d; p++) out[(size_t)j * dd + (size_t)(p * d + p)] = tr / d;
      }
      return 1;
    case GMM_COV_TIED: {
      double pooled[MAXD * MAXD] = {0};
      for (int j = 0; j < k; j++)
        for (size_t i = 0; i < dd; i++) pooled[i] += nk[j] * s[(size_t)j * dd + i] / n;
      for (int j = 0; j < k; j++) memcpy(out + (size_t)j * dd, pooled, sizeof pooled[0] * dd);
      return 1;
    }
    case GMM_COV_EII: {
      double tr = 0.0;
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++) tr += nk[j] * s[(size_t)j * dd + (size_t)(p * d + p)];
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++) out[(size_t)j * dd + (size_t)(p * d + p)] = tr / (n * d);
      return 1;
    }
    case GMM_COV_EEI:
      for (int p = 0; p < d; p++) {
        double v = 0.0;
        for (int j = 0; j < k; j++) v += nk[j] * s[(size_t)j * dd + (size_t)(p * d + p)];
        for (int j = 0; j < k; j++) out[(size_t)j * dd + (size_t)(p * d + p)] = v / n;
      }
      return 1;
    case GMM_COV_EVI: {
      double g[GMM_MAX_K], lambda = 0.0;
      for (int j = 0; j < k; j++) {
        double l = 0.0;
        for (int p = 0; p < d; p++) l += log(s[(size_t)j * dd + (size_t)(p * d + p)]);
        g[j] = exp(l / d);
        lambda += nk[j] * g[j] / n;
      }
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++)
          out[(size_t)j * dd + (size_t)(p * d + p)] =
              lambda * s[(size_t)j * dd + (size_t)(p * d + p)] / g[j];
      return 1;
    }
    case GMM_COV_EVV: {
      double g[GMM_MAX_K], lambda = 0.0;
      for (int j = 0; j < k; j++) {
        g[j] = exp(log_det(s + (size_t)j * dd, d) / d);
        lambda += nk[j] * g[j] / n;
      }
      for (int j = 0; j < k; j++)
        for (size_t i = 0; i < dd; i++) out[(size_t)j * dd + i] = lambda * s[(size_t)j * dd + i] / g[j];
      return 1;
    }
    case GMM_COV_EEV: {
      double vec[GMM_MAX_K][MAXD * MAXD], val[GMM_MAX_K][MAXD], omega[MAXD] = {0};
      for (int j = 0; j < k; j++) {
        jacobi_eigen(s + (size_t)j * dd, d, val[j], vec[j]);
        for (int p = 0; p < d; p++) omega[p] += nk[j] * val[j][p] / n;
      }
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++)
          for (int q = 0; q < d; q++) {
            double v = 0.0;
            for (int r = 0; r < d; r++) v += vec[j][p * d + r] * omega[r] * vec[j][q * d + r];
            out[(size_t)j * dd + (size_t)(p * d + q)] = v;
          }
      return 1;
    }
    default: return 0;
  }
}

/* Which moves keep a type in its family: the volume of all components or
** of each; a rotation of all or of each; the shape (det 1) of all or of each
** in the eigenbasis of Sigma_0 (one orientation), of each Sigma_j, or the
** identity (diagonal models). */
enum { NONE = 0, ALL = 1, EACH = 2 };
enum { BASIS_I = 0, BASIS_0 = 1, BASIS_J = 2 };
typedef struct family {
  int volume, rotation, shape, basis;
} family;

static family family_of(gmm_cov_type t) {
  switch (t) {
    case GMM_COV_FULL: return (family){EACH, EACH, EACH, BASIS_J};
    case GMM_COV_TIED: return (family){ALL, ALL, ALL, BASIS_0};
    case GMM_COV_DIAG: return (family){EACH, NONE, EACH, BASIS_I};
    case GMM_COV_SPHERICAL: return (family){EACH, NONE, NONE, BASIS_I};
    case GMM_COV_EII: return (family){ALL, NONE, NONE, BASIS_I};
    case GMM_COV_EEI: return (family){ALL, NONE, ALL, BASIS_I};
    case GMM_COV_VEI: return (family){EACH, NONE, ALL, BASIS_I};
    case GMM_COV_EVI: return (family){ALL, NONE, EACH, BASIS_I};
    case GMM_COV_VEE: return (family){EACH, ALL, ALL, BASIS_0};
    case GMM_COV_EVE: return (family){ALL, ALL, EACH, BASIS_0};
    case GMM_COV_VVE: return (family){EACH, ALL, EACH, BASIS_0};
    case GMM_COV_EEV: return (family){ALL, EACH, ALL, BASIS_J};
    case GMM_COV_VEV: return (family){EACH, EACH, ALL, BASIS_J};
    case GMM_COV_EVV: return (family){ALL, EACH, EACH, BASIS_J};
  }
  return (family){NONE, NONE, NONE, BASIS_I};
}

/* Sigma_j <- R Sigma_j R' with R the rotation by angle in the (p, q) plane. */
static void rotate(double *sig, int d, int p, int q, double angle) {
  double r[MAXD * MAXD] = {0}, t[MAXD * MAXD] = {0}, rt[MAXD * MAXD] = {0};
  for (int i = 0; i < d; i++) r[i * d + i] = 1.0;
  r[p * d + p] = r[q * d + q] = cos(angle);
  r[p * d + q] = -sin(angle);
  r[q * d + p] = sin(angle);
  mat_mul(r, sig, t, d);
  for (int a = 0; a < d; a++)
    for (int b = 0; b < d; b++) rt[a * d + b] = r[b * d + a];
  mat_mul(t, rt, sig, d);
  for (int a = 0; a < d; a++) /* keep it exactly symmetric */
    for (int b = 0; b < a; b++) sig[a * d + b] = sig[b * d + a] = 0.5 * (sig[a * d + b] + sig[b * d + a]);
}

/* Sigma <- P Sigma P, P = D diag(s) D' with s_p = e^(e/2), s_q = e^(-e/2):
** the eigenvalues along columns p and q of D times e^e and e^-e. */
static void reshape(double *sig, int d, const double *dm, int p, int q, double e) {
  double pm[MAXD * MAXD] = {0}, t[MAXD * MAXD] = {0};
  for (int a = 0; a < d; a++)
    for (int b = 0; b < d; b++) {
      double v = 0.0;
      for (int r = 0; r < d; r++) {
        double sr = r == p ? exp(e / 2) : r == q ? exp(-e / 2) : 1.0;
        v += dm[a * d + r] * sr * dm[b * d + r];
      }
      pm[a * d + b] = v;
    }
  mat_mul(pm, sig, t, d);
  mat_mul(t, pm, sig, d);
  for (int a = 0; a < d; a++)
    for (int b = 0; b < a; b++) sig[a * d + b] = sig[b * d + a] = 0.5 * (sig[a * d + b] + sig[b * d + a]);
}

/* A move within a family: the volume, a rotation in the (p, q) plane, or
** the shape along columns p and q of the basis, of component j or of all
** (j = -1). */
enum { MOVE_VOLUME, MOVE_ROTATION, MOVE_SHAPE };
static const char *const MOVE_NAMES[] = {"volume", "rotation", "shape"};

static void apply_move(const double *sig, double *pert, int k, int d, int kind, int j, int p,
                       int q, double e, double basis[][MAXD * MAXD]) {
  size_t dd = (size_t)d * (size_t)d;
  memcpy(pert, sig, sizeof(double) * (size_t)k * dd);
  for (int c = 0; c < k; c++) {
    if (j >= 0 && c != j) continue;
    double *pc = pert + (size_t)c * dd;
    if (kind == MOVE_VOLUME)
      for (size_t i = 0; i < dd; i++) pc[i] *= exp(e);
    else if (kind == MOVE_ROTATION)
      rotate(pc, d, p, q, e);
    else
      reshape(pc, d, basis[c], p, q, e);
  }
}

/* The M-step's Sigma is a stationary point and a local minimum of mclust
** (1)'s objective f within the type's family: along every move the
** central difference (f(+e) - f(-e)) / 2e, per unit of mass, is below
** 1e-7 (e = 1e-4: a parameter off its optimum by 1e-7 relative shows), and
** moves of 1e-3 either way do not lower f. */
static void check_local_minimum(gmm_cov_type t, int k, int d, const double *nk, const double *s,
                                const double *sig, const char *what) {
  size_t dd = (size_t)d * (size_t)d, len = (size_t)k * dd;
  family fam = family_of(t);
  double f0 = objective(k, d, nk, s, sig), mass = 0.0;
  for (int j = 0; j < k; j++) mass += nk[j];
  assert_finite(f0);
  double *pert = malloc(sizeof(double) * len);
  double basis[GMM_MAX_K][MAXD * MAXD], val[MAXD];
  for (int j = 0; j < k; j++) {
    if (fam.basis == BASIS_I) {
      for (size_t i = 0; i < dd; i++) basis[j][i] = 0.0;
      for (int p = 0; p < d; p++) basis[j][p * d + p] = 1.0;
    } else {
      jacobi_eigen(sig + (fam.basis == BASIS_0 ? 0 : (size_t)j * dd), d, val, basis[j]);
    }
  }
  const int scope[3] = {fam.volume, fam.rotation, fam.shape};
  int pairs[MAXD * MAXD][2], n_pairs = 0;
  for (int p = 0; p < d; p++)
    for (int q = p + 1; q < d; q++, n_pairs++) {
      pairs[n_pairs][0] = p;
      pairs[n_pairs][1] = q;
    }
  for (int kind = 0; kind < 3; kind++) {
    if (scope[kind] == NONE) continue;
    int j_first = scope[kind] == ALL ? -1 : 0, j_end = scope[kind] == ALL ? 0 : k;
    int np = kind == MOVE_VOLUME ? 1 : n_pairs;
    for (int j = j_first; j < j_end; j++)
      for (int pi = 0; pi < np; pi++) {
        int p = kind == MOVE_VOLUME ? 0 : pairs[pi][0], q = kind == MOVE_VOLUME ? 0 : pairs[pi][1];
        apply_move(sig, pert, k, d, kind, j, p, q, 1e-4, basis);
        double fp = objective(k, d, nk, s, pert);
        apply_move(sig, pert, k, d, kind, j, p, q, -1e-4, basis);
        double fm = objective(k, d, nk, s, pert);
        double slope = (fp - fm) / (2e-4 * mass);
        if (getenv("TM_DEBUG") && fabs(slope) > 1e-9)
          print_message("      %s: slope %.3g along the %s of %d (%d,%d)\n", what, slope,
                        MOVE_NAMES[kind], j, p, q);
        if (!(fabs(slope) <= 1e-7))
          fail_msg("%s: the M-step objective has slope %.3g per row along the %s of %s%d "
                   "(plane %d,%d): not stationary",
                   what, slope, MOVE_NAMES[kind], j < 0 ? "all, " : "component ", j, p, q);
        for (int sign = -1; sign <= 1; sign += 2) {
          apply_move(sig, pert, k, d, kind, j, p, q, sign * 1e-3, basis);
          double f = objective(k, d, nk, s, pert);
          if (!(f >= f0 - 1e-11 * fabs(f0)))
            fail_msg("%s: a %s move of %s%d lowers the M-step objective from %.17g to %.17g",
                     what, MOVE_NAMES[kind], j < 0 ? "all, " : "component ", j, f0, f);
        }
      }
  }
  free(pert);
}

/* mclust (1), (2), (3): from a model after a few EM iterations, the
** M-step of a pass (gmm_mstep) returns the Sigma_j of mclust (1): for the
** closed forms (EII, EEI, EVI, EEV, EVV and the four of scikit-learn) the
** formulas of mclust (2) computed here from S_j = W_j / n_j + reg I, to
** 1e-10; for every type a local minimum of sum_j n_j (log |Sigma_j| +
** tr(S_j Sigma_j^-1)) within the family: no move of a volume, orientation
** or shape the type lets vary (all components together when it is E, each
** alone when V) lowers it. */
static void test_mstep_is_constrained_optimum(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      gmm_cov_type t = ALL_TYPES[i];
      int k = 3, d = ds->d;
      size_t dd = (size_t)d * (size_t)d;
      char what[64];
      snprintf(what, sizeof what, "%s %s", ds->name, gmm_cov_type_name(t));
      gmm_options opt = options(k, t);
      opt.max_iter = 3;
      opt.tol = 0.0;
      gmm_model *m = fit_ok(ds->x, ds->n, d, NULL, NULL, &opt, NULL);
      m->options.max_iter = 100;
      uint64_t fp = fingerprint(m);
      gmm_estats *st = NULL;
      gmm_estep_acc *acc = NULL;
      assert_int_equal(gmm_estats_new(m, fp, 0, &gmm_libc_allocator, &st), GMM_OK);
      assert_int_equal(gmm_estep_acc_new(m, 1, &gmm_libc_allocator, &acc), GMM_OK);
      gmm_estep_add(acc, ds->x, NULL, ds->n, st);
      gmm_model *next = NULL;
      char err[256] = "";
      if (gmm_mstep(m, fp, st, &gmm_libc_allocator, &next, err, sizeof err) != GMM_OK)
        fail_msg("%s: gmm_mstep: %s", what, err);
      double nk[GMM_MAX_K], *s = malloc(sizeof(double) * (size_t)k * dd);
      double *ref = malloc(sizeof(double) * (size_t)k * dd);
      scatters_from_stats(st, m->options.reg_covar, nk, s);
      double *sig = expand_all(next);
      if (closed_form(t, k, d, nk, s, ref))
        for (int j = 0; j < k; j++)
          for (int p = 0; p < d; p++)
            for (int q = 0; q < d; q++) {
              double a = sig[(size_t)j * dd + (size_t)(p * d + q)];
              double b = ref[(size_t)j * dd + (size_t)(p * d + q)];
              double scale = sqrt(ref[(size_t)j * dd + (size_t)(p * d + p)] *
                                  ref[(size_t)j * dd + (size_t)(q * d + q)]);
              if (!tu_close_scaled(a, b, 1e-10, scale))
                fail_msg("%s: Sigma_%d (%d,%d) = %.17g, mclust (2) gives %.17g", what, j, p, q,
                         a, b);
            }
      check_local_minimum(t, k, d, nk, s, sig, what);
      free(sig);
      free(ref);
      free(s);
      gmm_model_free(next);
      gmm_estep_acc_free(acc);
      gmm_estats_free(st);
      gmm_model_free(m);
    }
}

/* ==== 3. the log-likelihood never decreases ==== */

/* (reg_covar tr(Sigma_j^-1))^2, largest over j: the scale of the
** log-likelihood (per row) between its maximum and the fixed point of EM
** with reg_covar. */
static double reg_slack(const gmm_model *m, double reg) {
  double worst = 0.0;
  for (int j = 0; j < m->k; j++) {
    double s[MAXD * MAXD], inv[MAXD * MAXD], tr = 0.0;
    expand_cov(m, j, s);
    assert_int_equal(tu_spd_inverse(s, m->d, inv), 0);
    for (int p = 0; p < m->d; p++) tr += inv[p * m->d + p];
    worst = fmax(worst, reg * tr * reg * tr);
  }
  return worst;
}

/* fit (1), mclust (1), (3), (4): with tol 0 and 200 iterations the lower
** bound the trace callback sees never decreases by more than 1e-12
** (relative), for every type, on faithful and iris (k = 3), with reg_covar
** 0 and 1e-6: the constrained M-steps, the iterative ones warm-started from
** the previous covariances, are monotone.
** With reg_covar > 0 the M-step maximises the expected log-likelihood of
** the scatters plus n_j reg_covar I (mclust (1)), not the log-likelihood,
** and EM converges to a point O(reg_covar) away from the likelihood's
** maximum, where the log-likelihood is O(reg_covar^2) below it: on its way
** there it may fall by that much (seen for scikit-learn's tied on iris: a
** fall of 2.6e-12 relative at reg_covar 1e-6, 2.6e-10 at 1e-5, 2.4e-8 at
** 1e-4). The allowance is then also (reg_covar max_j tr(Sigma_j^-1))^2 per
** row. */
static void test_loglik_never_decreases(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  const double regs[] = {0.0, 1e-6};
  static trace_log log;
  for (int si = 0; si < 2; si++)
    for (int r = 0; r < 2; r++)
      for (int i = 0; i < GMM_N_COV_TYPES; i++) {
        gmm_options opt = options(3, ALL_TYPES[i]);
        opt.tol = 0.0;
        opt.max_iter = 200;
        opt.reg_covar = regs[r];
        log.n = 0;
        gmm_model *m = NULL;
        char err[512] = "";
        gmm_status rc = fit_rows(sets[si]->x, sets[si]->n, sets[si]->d, NULL, NULL, &opt, &log,
                                 &m, err, sizeof err);
        if (rc != GMM_OK)
          fail_msg("%s %s reg_covar %g: gmm_fit returned %d: %s", sets[si]->name,
                   gmm_cov_type_name(ALL_TYPES[i]), regs[r], (int)rc, err);
        assert_int_equal(log.n, 200);
        double slack = reg_slack(m, regs[r]);
        for (int it = 1; it < log.n; it++) {
          double fall = log.lb[it - 1] - log.lb[it];
          if (!(fall <= 1e-12 * fabs(log.lb[it - 1]) + slack))
            fail_msg("%s %s reg_covar %g: the lower bound falls from %.17g to %.17g at "
                     "iteration %d (allowance %g)",
                     sets[si]->name, gmm_cov_type_name(ALL_TYPES[i]), regs[r], log.lb[it - 1],
                     log.lb[it], it + 1, 1e-12 * fabs(log.lb[it - 1]) + slack);
          if (getenv("TM_DEBUG") && fall > 1e-12 * fabs(log.lb[it - 1]))
            print_message("      %s %s reg_covar %g: falls %.3g (allowance %.3g) at %d\n",
                          sets[si]->name, gmm_cov_type_name(ALL_TYPES[i]), regs[r], fall,
                          1e-12 * fabs(log.lb[it - 1]) + slack, it + 1);
        }
        /* the final log-likelihood is under parameters one M-step on */
        double last = m->summary.log_likelihood / m->summary.n_samples;
        if (!(last >= log.lb[log.n - 1] - 1e-12 * fabs(last) - slack))
          fail_msg("%s %s: final %.17g below the last lower bound %.17g", sets[si]->name,
                   gmm_cov_type_name(ALL_TYPES[i]), last, log.lb[log.n - 1]);
        gmm_model_free(m);
      }
}

/* ==== 4. order and thread independence ==== */

static double *big_sample(size_t *n_out) {
  /* three overlapping ellipsoidal clusters, 15000 rows each, d = 3 */
  static const size_t counts[3] = {15000, 15000, 15000};
  static const double means[9] = {0, 0, 0, 3, 1, -1, -1, 4, 2};
  static const double covs[27] = {1.0, 0.5, 0.2, 0.5, 2.0, 0.3, 0.2, 0.3, 0.5,
                                  0.6, -0.2, 0.0, -0.2, 0.8, 0.1, 0.0, 0.1, 1.5,
                                  2.0, 0.9, -0.4, 0.9, 1.0, 0.0, -0.4, 0.0, 0.7};
  tu_mixture mix = {3, 3, counts, means, covs};
  *n_out = tu_mixture_n(&mix);
  double *x = tu_mixture_sample(&mix, 20240612, NULL);
  assert_non_null(x);
  return x;
}

/* fit (4), (8), mclust (4): on 45000 rows (several blocks, two workers),
** for every type, the rows shuffled and put through gmm_canonical_order give
** the same model bits as the rows in canonical order, and threads 1 and 2
** give the same bits (parameters, log-likelihood, log_map, n_iter). */
static void test_order_and_thread_independence(void **state) {
  (void)state;
  size_t n;
  double *x = big_sample(&n);
  int d = 3;
  size_t bytes = n * (size_t)d * sizeof(double);
  double *canon = malloc(bytes), *shuf = malloc(bytes);
  memcpy(canon, x, bytes);
  gmm_canonical_order(canon, NULL, n, d, 1);
  /* a seeded shuffle of the canonical rows */
  memcpy(shuf, canon, bytes);
  tu_rng rng;
  tu_rng_seed(&rng, 77);
  for (size_t i = n; i > 1; i--) {
    size_t r = tu_rng_below(&rng, i);
    for (int p = 0; p < d; p++) {
      double t = shuf[(i - 1) * (size_t)d + (size_t)p];
      shuf[(i - 1) * (size_t)d + (size_t)p] = shuf[r * (size_t)d + (size_t)p];
      shuf[r * (size_t)d + (size_t)p] = t;
    }
  }
  assert_true(memcmp(shuf, canon, bytes) != 0);
  gmm_canonical_order(shuf, NULL, n, d, 2);
  assert_true(memcmp(shuf, canon, bytes) == 0);
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(3, ALL_TYPES[i]);
    opt.max_iter = 15;
    opt.threads = 1;
    gmm_model *a = fit_ok(canon, n, d, NULL, NULL, &opt, NULL);
    gmm_model *b = fit_ok(shuf, n, d, NULL, NULL, &opt, NULL);
    opt.threads = 2;
    gmm_model *c = fit_ok(canon, n, d, NULL, NULL, &opt, NULL);
    if (!models_same_bits(a, b))
      fail_msg("%s: shuffled then canonical rows give other bits",
               gmm_cov_type_name(ALL_TYPES[i]));
    if (!models_same_bits(a, c) ||
        memcmp(&a->summary.log_map, &c->summary.log_map, sizeof(double)) != 0)
      fail_msg("%s: threads 1 and 2 give other bits", gmm_cov_type_name(ALL_TYPES[i]));
    check_constraints(a, gmm_cov_type_name(ALL_TYPES[i]));
    gmm_model_free(a);
    gmm_model_free(b);
    gmm_model_free(c);
  }
  free(shuf);
  free(canon);
  free(x);
}

/* ==== 5. row weights ==== */

/* The labels of the most probable component of each row under m. */
static int *predict_all(const gmm_model *m, const double *x, size_t n) {
  int *labels = malloc(sizeof(int) * n);
  double *scratch = malloc(sizeof(double) * gmm_model_scratch_len(m));
  for (size_t i = 0; i < n; i++)
    labels[i] = gmm_model_predict_row(m, x + i * (size_t)m->d, scratch);
  free(scratch);
  return labels;
}

/* fit (10), (13): weights 1 and 3 give the model of the rows repeated (the
** weight-3 rows three times), for every type, from the same labelled
** start (init labels), to 1e-9: parameters, log-likelihood, n_samples and
** log_map. */
static void test_weights_equal_repeats(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int si = 0; si < 2; si++) {
    const dataset *ds = sets[si];
    size_t n = ds->n, dd = (size_t)ds->d;
    gmm_options o = options(3, GMM_COV_FULL);
    gmm_model *start = fit_ok(ds->x, n, ds->d, NULL, NULL, &o, NULL);
    int *labels = predict_all(start, ds->x, n);
    gmm_model_free(start);
    double *w = malloc(sizeof(double) * n);
    size_t n_rep = 0;
    for (size_t i = 0; i < n; i++) n_rep += (size_t)(w[i] = i % 3 == 1 ? 3.0 : 1.0);
    double *xr = malloc(sizeof(double) * n_rep * dd);
    int *lr = malloc(sizeof(int) * n_rep);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
      for (int c = 0; c < (int)w[i]; c++, r++) {
        memcpy(xr + r * dd, ds->x + i * dd, dd * sizeof(double));
        lr[r] = labels[i];
      }
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      gmm_options opt = options(3, ALL_TYPES[i]);
      opt.init = GMM_INIT_LABELS;
      opt.tol = 0.0;
      opt.max_iter = 40;
      gmm_model *a = fit_ok(ds->x, n, ds->d, w, labels, &opt, NULL);
      gmm_model *b = fit_ok(xr, n_rep, ds->d, NULL, lr, &opt, NULL);
      char what[64];
      snprintf(what, sizeof what, "%s %s weighted vs repeated", ds->name,
               gmm_cov_type_name(ALL_TYPES[i]));
      assert_models_close(a, b, 1e-9, what);
      assert_close_rel(a->summary.log_likelihood, b->summary.log_likelihood, 1e-9);
      assert_close_rel(a->summary.log_map, b->summary.log_map, 1e-9);
      assert_close_rel(a->summary.n_samples, (double)n_rep, 1e-15);
      assert_true(a->summary.weighted && !b->summary.weighted);
      assert_close_rel(gmm_model_icl(a), gmm_model_icl(b), 1e-9);
      gmm_model_free(a);
      gmm_model_free(b);
    }
    free(lr);
    free(xr);
    free(w);
    free(labels);
  }
}

/* ==== 6. warm starts ==== */

/* fit (9), mclust (4): a fit warm-started from a model of the same type on
** the same rows continues from it: its first lower bound is the start's
** log-likelihood (per row), it takes at most max_iter iterations, and its
** log-likelihood is not below the start's; for every type, faithful and
** iris. */
static void test_warm_start_continues(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  static trace_log log;
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      gmm_options opt = options(3, ALL_TYPES[i]);
      opt.max_iter = 5;
      gmm_model *m0 = fit_ok(ds->x, ds->n, ds->d, NULL, NULL, &opt, NULL);
      gmm_options w = opt;
      w.warm_start = m0;
      w.max_iter = 3;
      log.n = 0;
      gmm_model *m1 = fit_ok(ds->x, ds->n, ds->d, NULL, NULL, &w, &log);
      assert_true(m1->summary.warm_started);
      assert_true(m1->summary.n_iter >= 1 && m1->summary.n_iter <= 3);
      assert_true(log.n >= 1);
      assert_close_rel(log.lb[0], m0->summary.log_likelihood / (double)ds->n, 1e-12);
      if (!(m1->summary.log_likelihood >=
            m0->summary.log_likelihood - 1e-12 * fabs(m0->summary.log_likelihood)))
        fail_msg("%s %s: warm start ends at %.17g, below its start %.17g", ds->name,
                 gmm_cov_type_name(ALL_TYPES[i]), m1->summary.log_likelihood,
                 m0->summary.log_likelihood);
      assert_null(m1->options.warm_start);
      gmm_model_free(m1);
      gmm_model_free(m0);
    }
}

/* fit (9), (15), mclust (4): EM of N then M iterations warm-started equals
** EM of N + M iterations, to the bit: the iterative M-steps of the warm
** fit start from the same previous covariances as the uninterrupted one. */
static void test_warm_start_resumes_exactly(void **state) {
  (void)state;
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(3, ALL_TYPES[i]);
    opt.tol = 0.0;
    opt.max_iter = 4;
    gmm_model *m4 = fit_ok(iris_x, 150, 4, NULL, NULL, &opt, NULL);
    opt.max_iter = 7;
    gmm_model *m7 = fit_ok(iris_x, 150, 4, NULL, NULL, &opt, NULL);
    gmm_options w = opt;
    w.max_iter = 3;
    w.warm_start = m4;
    gmm_model *m43 = fit_ok(iris_x, 150, 4, NULL, NULL, &w, NULL);
    size_t len = n_params_doubles(m7);
    if (memcmp(m7->weights, m43->weights, len * sizeof(double)) != 0) {
      assert_models_close(m7, m43, 1e-12, gmm_cov_type_name(ALL_TYPES[i]));
      fail_msg("%s: 4 + 3 iterations are not the bits of 7", gmm_cov_type_name(ALL_TYPES[i]));
    }
    gmm_model_free(m43);
    gmm_model_free(m7);
    gmm_model_free(m4);
  }
}

/* fit (9): a warm start of another type is GMM_EINVAL, and the message
** names both types (and no model is returned). */
static void test_warm_start_other_type(void **state) {
  (void)state;
  const gmm_cov_type pairs[][2] = {{GMM_COV_EVE, GMM_COV_VVE}, {GMM_COV_FULL, GMM_COV_EVV},
                                   {GMM_COV_EII, GMM_COV_SPHERICAL}, {GMM_COV_VEI, GMM_COV_EEI},
                                   {GMM_COV_TIED, GMM_COV_VEE}};
  for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
    gmm_options opt = options(3, pairs[p][0]);
    opt.max_iter = 2;
    gmm_model *m0 = fit_ok(faithful_x, 272, 2, NULL, NULL, &opt, NULL);
    gmm_options w = options(3, pairs[p][1]);
    w.warm_start = m0;
    gmm_model *m1 = (gmm_model *)1;
    char err[512] = "";
    assert_int_equal(fit_rows(faithful_x, 272, 2, NULL, NULL, &w, NULL, &m1, err, sizeof err),
                     GMM_EINVAL);
    assert_null(m1);
    char a[32], b[32];
    snprintf(a, sizeof a, "'%s'", gmm_cov_type_name(pairs[p][0]));
    snprintf(b, sizeof b, "'%s'", gmm_cov_type_name(pairs[p][1]));
    assert_err_mentions(err, a);
    assert_err_mentions(err, b);
    gmm_model_free(m0);
  }
}

/* ==== 7. passes ==== */

/* stats (5), mclust (4): from a model m of each type, the statistics of
** the rows in two batches and gmm_mstep give the model gmm_fit gives
** warm-started from m with max_iter 1, to 1e-10; the statistics'
** log-likelihood is m's; the pass model's n_iter is m's plus one and its
** ICL unknown (NAN). Unweighted rows, then rows of weights 0.5 to 3.5
** (fit (10): the pass scales them as the fit does). */
static void test_passes_match_fit(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  static double weights[272];
  for (int r = 0; r < 272; r++) weights[r] = 0.5 + r % 4;
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < 2 * GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      const double *w8 = i >= GMM_N_COV_TYPES ? weights : NULL;
      char what[80];
      snprintf(what, sizeof what, "%s %s passes%s", ds->name,
               gmm_cov_type_name(ALL_TYPES[i % GMM_N_COV_TYPES]), w8 ? ", weighted" : "");
      gmm_options opt = options(3, ALL_TYPES[i % GMM_N_COV_TYPES]);
      opt.max_iter = 4;
      opt.tol = 0.0;
      gmm_model *m = fit_ok(ds->x, ds->n, ds->d, w8, NULL, &opt, NULL);
      m->options.max_iter = 100;
      uint64_t fp = fingerprint(m);
      gmm_estats *st = NULL;
      gmm_estep_acc *acc = NULL;
      assert_int_equal(gmm_estats_new(m, fp, w8 != NULL, &gmm_libc_allocator, &st), GMM_OK);
      assert_int_equal(gmm_estep_acc_new(m, 2, &gmm_libc_allocator, &acc), GMM_OK);
      size_t half = ds->n / 2;
      assert_true(half <= gmm_estep_batch_rows(ds->d));
      gmm_estep_add(acc, ds->x, w8, half, st);
      gmm_estep_add(acc, ds->x + half * (size_t)ds->d, w8 ? w8 + half : NULL, ds->n - half, st);
      assert_int_equal(st->n_rows, (int64_t)ds->n);
      gmm_model *next = NULL;
      char err[256] = "";
      if (gmm_mstep(m, fp, st, &gmm_libc_allocator, &next, err, sizeof err) != GMM_OK)
        fail_msg("%s: gmm_mstep: %s", what, err);
      gmm_options w = m->options;
      w.warm_start = m;
      w.max_iter = 1;
      w.threads = 1;
      gmm_model *fitted = fit_ok(ds->x, ds->n, ds->d, w8, NULL, &w, NULL);
      assert_models_close(next, fitted, 1e-10, what);
      assert_close_rel(st->log_likelihood, m->summary.log_likelihood, 1e-10);
      assert_int_equal(next->summary.n_iter, m->summary.n_iter + 1);
      assert_true(isnan(next->summary.log_map) && isnan(gmm_model_icl(next)));
      check_constraints(next, what);
      gmm_model_free(fitted);
      gmm_model_free(next);
      gmm_estep_acc_free(acc);
      gmm_estats_free(st);
      gmm_model_free(m);
    }
}

/* ==== 8. sampling and the per-row functions ==== */

/* sample (1): 10^5 draws from a model of each type have, per component,
** sample means and covariances within a few percent of the model's mu_j
** and Sigma_j (expanded from the storage shape): |C_pq - S_pq| <= tol
** sqrt(S_pp S_qq), tol = max(3 %, 5 sqrt(2 / n_j)). */
static void test_sampling_moments(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      int k = 3, d = ds->d;
      gmm_options opt = options(k, ALL_TYPES[i]);
      gmm_model *m = fit_ok(ds->x, ds->n, d, NULL, NULL, &opt, NULL);
      gmm_sampler *s = NULL;
      assert_int_equal(gmm_sampler_new(m, 42, &gmm_libc_allocator, &s), GMM_OK);
      double cnt[GMM_MAX_K] = {0}, sum[GMM_MAX_K][MAXD] = {{0}},
             sq[GMM_MAX_K][MAXD * MAXD] = {{0}};
      /* around the model's means: no cancellation */
      for (int r = 0; r < 100000; r++) {
        double x[MAXD];
        int j = -1;
        gmm_sampler_draw(s, x, &j);
        assert_true(j >= 0 && j < k);
        cnt[j]++;
        for (int p = 0; p < d; p++) {
          double a = x[p] - m->means[j * d + p];
          sum[j][p] += a;
          for (int q = 0; q < d; q++) sq[j][p * d + q] += a * (x[q] - m->means[j * d + q]);
        }
      }
      for (int j = 0; j < k; j++) {
        double sig[MAXD * MAXD];
        expand_cov(m, j, sig);
        double nj = cnt[j];
        assert_true(fabs(nj / 1e5 - m->weights[j]) <= 5 * sqrt(m->weights[j] / 1e5) + 1e-3);
        assert_true(nj >= 1000);
        double tol = fmax(0.03, 5 * sqrt(2.0 / nj));
        for (int p = 0; p < d; p++) {
          double mean_dev = sum[j][p] / nj;
          if (!(fabs(mean_dev) <= 5 * sqrt(sig[p * d + p] / nj)))
            fail_msg("%s %s: component %d, feature %d: sample mean off by %g", ds->name,
                     gmm_cov_type_name(ALL_TYPES[i]), j, p, mean_dev);
          for (int q = 0; q < d; q++) {
            double c = sq[j][p * d + q] / nj - mean_dev * sum[j][q] / nj;
            double scale = sqrt(sig[p * d + p] * sig[q * d + q]);
            if (!(fabs(c - sig[p * d + q]) <= tol * scale))
              fail_msg("%s %s: component %d, covariance (%d,%d): sample %g, model %g", ds->name,
                       gmm_cov_type_name(ALL_TYPES[i]), j, p, q, c, sig[p * d + q]);
          }
        }
      }
      gmm_sampler_free(s);
      gmm_model_free(m);
    }
}

/* The per-row functions agree with each other and with the test's own
** mixture density from the expanded Sigma_j: predict_row = score_row's
** label = argmax of the posteriors (the lowest index on ties), the
** posteriors sum to 1 and match the test's, and score_row = log sum_j w_j
** N(x | mu_j, Sigma_j), to 1e-10; for every type, on faithful and iris. */
static void test_apply_agrees(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      int k = 3, d = ds->d;
      size_t dd = (size_t)d * (size_t)d;
      gmm_options opt = options(k, ALL_TYPES[i]);
      gmm_model *m = fit_ok(ds->x, ds->n, d, NULL, NULL, &opt, NULL);
      double *sig = expand_all(m), *chol = malloc(sizeof(double) * (size_t)k * dd);
      for (int j = 0; j < k; j++)
        assert_int_equal(tu_cholesky(sig + (size_t)j * dd, d, chol + (size_t)j * dd), 0);
      double *scratch = malloc(sizeof(double) * gmm_model_scratch_len(m));
      double total = 0.0;
      for (size_t r = 0; r < ds->n; r++) {
        const double *x = ds->x + r * (size_t)d;
        double post[GMM_MAX_K], ref_post[GMM_MAX_K];
        int label = -1;
        double score = gmm_model_score_row(m, x, scratch, post, &label);
        int pred = gmm_model_predict_row(m, x, scratch);
        double ref = tu_mixture_logpdf_chol(k, d, m->weights, m->means, chol, x, ref_post);
        assert_close_rel(score, ref, 1e-10);
        total += score;
        int best = 0;
        double psum = 0.0;
        for (int j = 0; j < k; j++) {
          psum += post[j];
          if (post[j] > post[best]) best = j;
          assert_close_abs(post[j], ref_post[j], 1e-10);
        }
        assert_close_abs(psum, 1.0, 1e-12);
        assert_int_equal(label, pred);
        assert_int_equal(pred, best);
      }
      assert_close_rel(total, m->summary.log_likelihood, 1e-10);
      free(scratch);
      free(chol);
      free(sig);
      gmm_model_free(m);
    }
}

/* ==== 9. degenerate data ==== */

/* mclust (1), (2): in d = 1 volume is all there is: the E models (EII, EEI,
** EVI, EEE, EVE, EEV, EVV) are one model (a common variance) and the V
** models (VII, VEI, VVI, VEE, VVE, VEV, VVV) another; from the same start
** (init labels, and the default k-means) each group gives one
** log-likelihood and one set of parameters, to 1e-9. */
static void test_d1_models_collapse(void **state) {
  (void)state;
  size_t n = 272;
  double *x = malloc(sizeof(double) * n);
  int *labels = malloc(sizeof(int) * n);
  for (size_t i = 0; i < n; i++) {
    x[i] = faithful_x[2 * i];
    labels[i] = x[i] > 3.0;
  }
  const gmm_cov_type e_group[] = {GMM_COV_EII, GMM_COV_EEI, GMM_COV_EVI, GMM_COV_TIED,
                                  GMM_COV_EVE, GMM_COV_EEV, GMM_COV_EVV};
  const gmm_cov_type v_group[] = {GMM_COV_SPHERICAL, GMM_COV_VEI, GMM_COV_DIAG, GMM_COV_VEE,
                                  GMM_COV_VVE, GMM_COV_VEV, GMM_COV_FULL};
  for (int start = 0; start < 2; start++)
    for (int g = 0; g < 2; g++) {
      const gmm_cov_type *grp = g == 0 ? e_group : v_group;
      gmm_model *first = NULL;
      for (int i = 0; i < 7; i++) {
        gmm_options opt = options(2, grp[i]);
        opt.init = start == 0 ? GMM_INIT_LABELS : GMM_INIT_KMEANS;
        opt.tol = 0.0;
        opt.max_iter = 30;
        gmm_model *m = fit_ok(x, n, 1, NULL, start == 0 ? labels : NULL, &opt, NULL);
        if (g == 0) { /* one variance */
          double v0[1], v1[1];
          expand_cov(m, 0, v0);
          expand_cov(m, 1, v1);
          assert_close_rel(v0[0], v1[0], 1e-9);
        }
        if (!first) {
          first = m;
          continue;
        }
        char what[96];
        snprintf(what, sizeof what, "d = 1, %s vs %s (%s start)", gmm_cov_type_name(grp[i]),
                 gmm_cov_type_name(grp[0]), start == 0 ? "labels" : "kmeans");
        if (!tu_close_rel(m->summary.log_likelihood, first->summary.log_likelihood, 1e-9))
          fail_msg("%s: log-likelihood %.17g vs %.17g", what, m->summary.log_likelihood,
                   first->summary.log_likelihood);
        for (int j = 0; j < 2; j++) {
          double a[1], b[1];
          expand_cov(m, j, a);
          expand_cov(first, j, b);
          if (!tu_close_rel(a[0], b[0], 1e-9) ||
              !tu_close_rel(m->means[j], first->means[j], 1e-9) ||
              !tu_close_rel(m->weights[j], first->weights[j], 1e-9))
            fail_msg("%s: component %d differs (variance %.17g vs %.17g)", what, j, a[0], b[0]);
        }
        gmm_model_free(m);
      }
      gmm_model_free(first);
    }
  free(labels);
  free(x);
}

/* mclust (1), fit (5): a constant feature with reg_covar 1e-6 fits for
** every type without a NaN (faithful with a third, constant column, at 0
** and at 1000), and the fit keeps the type's constraints. */
static void test_constant_feature(void **state) {
  (void)state;
  const double levels[] = {0.0, 1000.0};
  double *x = malloc(sizeof(double) * 272 * 3);
  for (int l = 0; l < 2; l++) {
    for (size_t i = 0; i < 272; i++) {
      x[3 * i] = faithful_x[2 * i];
      x[3 * i + 1] = levels[l];
      x[3 * i + 2] = faithful_x[2 * i + 1];
    }
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      gmm_options opt = options(3, ALL_TYPES[i]);
      gmm_model *m = fit_ok(x, 272, 3, NULL, NULL, &opt, NULL);
      char what[64];
      snprintf(what, sizeof what, "constant feature at %g, %s", levels[l],
               gmm_cov_type_name(ALL_TYPES[i]));
      assert_model_finite(m, what);
      assert_true(isfinite(gmm_model_bic(m)) && isfinite(gmm_model_icl(m)));
      gmm_model_free(m);
    }
  }
  free(x);
}

/* mclust (1): k equal to the number of distinct rows (three points, each
** repeated), reg_covar 1e-3: every type fits, each component sits on one
** point with Sigma_j = reg_covar I (every S_j is reg_covar I and each
** constrained estimate of equal S_j = c I is c I). */
static void test_k_distinct_rows(void **state) {
  (void)state;
  static const double pts[3][2] = {{0.0, 0.0}, {5.0, 1.0}, {-2.0, 4.0}};
  double x[21 * 2];
  for (int i = 0; i < 21; i++) {
    x[2 * i] = pts[i % 3][0];
    x[2 * i + 1] = pts[i % 3][1];
  }
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(3, ALL_TYPES[i]);
    opt.reg_covar = 1e-3;
    gmm_model *m = fit_ok(x, 21, 2, NULL, NULL, &opt, NULL);
    const char *what = gmm_cov_type_name(ALL_TYPES[i]);
    assert_model_finite(m, what);
    for (int j = 0; j < 3; j++) {
      double s[4];
      expand_cov(m, j, s);
      if (!tu_close_rel(s[0], 1e-3, 1e-9) || !tu_close_rel(s[3], 1e-3, 1e-9) ||
          !(fabs(s[1]) <= 1e-12))
        fail_msg("%s: Sigma_%d = [%.17g %.17g; %.17g %.17g], expected 1e-3 I", what, j, s[0],
                 s[1], s[2], s[3]);
      assert_close_rel(m->weights[j], 1.0 / 3.0, 1e-9);
    }
    gmm_model_free(m);
  }
}

/* fit (6), mclust (1): with reg_covar 0 and a singular component the fit
** fails cleanly: GMM_EFIT with a message and no model, or (for the types
** that pool the volume across components) a finite, positive-definite
** model; never a NaN, never a crash. Rows: three points repeated (every
** component singular: every type fails), then two Gaussian clusters and a
** point repeated 30 times (one singular component). */
static void test_singular_fails_cleanly(void **state) {
  (void)state;
  static const double pts[3][2] = {{0.0, 0.0}, {5.0, 1.0}, {-2.0, 4.0}};
  double x3[21 * 2];
  for (int i = 0; i < 21; i++) {
    x3[2 * i] = pts[i % 3][0];
    x3[2 * i + 1] = pts[i % 3][1];
  }
  static const size_t counts[2] = {100, 100};
  static const double means[4] = {0, 0, 6, 6};
  tu_mixture mix = {2, 2, counts, means, NULL};
  double *g = tu_mixture_sample(&mix, 5, NULL);
  double *xm = malloc(sizeof(double) * 230 * 2);
  memcpy(xm, g, sizeof(double) * 200 * 2);
  for (int i = 200; i < 230; i++) {
    xm[2 * i] = -6.0;
    xm[2 * i + 1] = 9.0;
  }
  free(g);
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      gmm_options opt = options(3, ALL_TYPES[i]);
      opt.reg_covar = 0.0;
      gmm_model *m = (gmm_model *)1;
      char err[512] = "";
      gmm_status rc = fit_rows(s == 0 ? x3 : xm, s == 0 ? 21 : 230, 2, NULL, NULL, &opt, NULL,
                               &m, err, sizeof err);
      const char *what = gmm_cov_type_name(ALL_TYPES[i]);
      if (s == 0 && rc != GMM_EFIT)
        fail_msg("%s: every component singular, gmm_fit returned %d (%s)", what, (int)rc, err);
      if (rc == GMM_EFIT) {
        assert_null(m);
        if (err[0] == '\0') fail_msg("%s: GMM_EFIT without a message", what);
        if (strstr(err, "nan") || strstr(err, "NaN"))
          fail_msg("%s: the message mentions a NaN: %s", what, err);
      } else if (rc == GMM_OK) {
        assert_model_finite(m, what);
        gmm_model_free(m);
      } else {
        fail_msg("%s: gmm_fit returned %d (%s)", what, (int)rc, err);
      }
      /* the V-volume, V-shape full model VVV must fail on either set */
      if (ALL_TYPES[i] == GMM_COV_FULL) assert_int_equal(rc, GMM_EFIT);
    }
  free(xm);
}

/* fit (12), (15), mclust (1): with missing features (iris with about 5 %
** of its cells NaN, marginalised) every type fits, keeps its constraints,
** and with reg_covar 0 the log-likelihood never decreases (1e-12
** relative): the constrained M-step runs on the conditional moments. */
static void test_missing_features(void **state) {
  (void)state;
  double x[600];
  memcpy(x, iris_x, sizeof x);
  tu_rng rng;
  tu_rng_seed(&rng, 99);
  for (int i = 0; i < 600; i++)
    if (tu_rng_below(&rng, 20) == 0) x[i] = NAN;
  x[3 * 4 + 1] = NAN; /* at least one incomplete row, whatever the draws */
  static trace_log log;
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(3, ALL_TYPES[i]);
    opt.reg_covar = 0.0;
    opt.tol = 0.0;
    opt.max_iter = 100;
    log.n = 0;
    gmm_model *m = fit_ok(x, 150, 4, NULL, NULL, &opt, &log);
    char what[64];
    snprintf(what, sizeof what, "missing features, %s", gmm_cov_type_name(ALL_TYPES[i]));
    assert_true(m->summary.n_incomplete > 0);
    check_constraints(m, what);
    for (int it = 1; it < log.n; it++)
      if (!(log.lb[it] >= log.lb[it - 1] - 1e-12 * fabs(log.lb[it - 1])))
        fail_msg("%s: the lower bound falls from %.17g to %.17g at iteration %d", what,
                 log.lb[it - 1], log.lb[it], it + 1);
    gmm_model_free(m);
  }
}

/* The model BLOB carries every type: a model of each type (and its log_map,
** so its ICL) decodes to the same bits, and scores rows the same. */
static void test_blob_round_trip(void **state) {
  (void)state;
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(3, ALL_TYPES[i]);
    gmm_model *m = fit_ok(iris_x, 150, 4, NULL, NULL, &opt, NULL);
    size_t len = gmm_blob_size(m);
    assert_true(len > 0);
    unsigned char *blob = malloc(len);
    gmm_blob_write(m, blob);
    gmm_model *back = NULL;
    char err[256] = "";
    if (gmm_blob_read(blob, len, &gmm_libc_allocator, &back, err, sizeof err) != GMM_OK)
      fail_msg("%s: the BLOB does not decode: %s", gmm_cov_type_name(ALL_TYPES[i]), err);
    assert_int_equal(back->covariance_type, ALL_TYPES[i]);
    if (memcmp(m->weights, back->weights, n_params_doubles(m) * sizeof(double)) != 0)
      fail_msg("%s: decoded parameters differ", gmm_cov_type_name(ALL_TYPES[i]));
    assert_true(back->summary.log_map == m->summary.log_map);
    assert_true(gmm_model_icl(back) == gmm_model_icl(m));
    double *s1 = malloc(sizeof(double) * gmm_model_scratch_len(m));
    for (size_t r = 0; r < 150; r += 7)
      assert_true(gmm_model_score_row(m, iris_x + r * 4, s1, NULL, NULL) ==
                  gmm_model_score_row(back, iris_x + r * 4, s1, NULL, NULL));
    free(s1);
    gmm_model_free(back);
    free(blob);
    gmm_model_free(m);
  }
}

/* ==== 10. init labels ==== */

static void expect_labels_error(const int *labels, const double *w, const char *expected) {
  gmm_options opt = options(3, GMM_COV_EVE);
  opt.init = GMM_INIT_LABELS;
  gmm_model *m = (gmm_model *)1;
  char err[512] = "";
  gmm_status rc = fit_rows(faithful_x, 272, 2, w, labels, &opt, NULL, &m, err, sizeof err);
  if (rc != GMM_EINVAL) fail_msg("gmm_fit returned %d (%s), expected GMM_EINVAL", (int)rc, err);
  assert_null(m);
  assert_string_equal(err, expected);
}

/* fit (13): a label outside 0 .. k - 1 (k, -1), a label no row carries,
** and no labels at all are GMM_EINVAL with check_labels' exact messages;
** a row of weight 0 is not checked. */
static void test_init_labels_errors(void **state) {
  (void)state;
  int labels[272];
  for (int i = 0; i < 272; i++) labels[i] = i % 3;
  labels[5] = 3;
  expect_labels_error(labels,  NULL,
                      "row 6 has label 3; init 'labels' takes labels from 0 to k - 1 = 2");
  labels[5] = -1;
  expect_labels_error(labels, NULL,
                      "row 6 has label -1; init 'labels' takes labels from 0 to k - 1 = 2");
  for (int i = 0; i < 272; i++) labels[i] = i % 2;
  expect_labels_error(labels, NULL,
                      "no row has label 2: init 'labels' needs every label from 0 to k - 1 = 2");
  expect_labels_error(NULL, NULL,
                      "init 'labels' needs a label per row (the first value after the spec)");
  /* a row of weight 0 takes no part, its label neither */
  double w[272];
  for (int i = 0; i < 272; i++) {
    labels[i] = i % 3;
    w[i] = 1.0;
  }
  labels[7] = 99;
  w[7] = 0.0;
  gmm_options opt = options(3, GMM_COV_EVE);
  opt.init = GMM_INIT_LABELS;
  gmm_model *m = fit_ok(faithful_x, 272, 2, w, labels, &opt, NULL);
  gmm_model_free(m);
  /* the only row with label 2 has weight 0: label 2 has no row */
  for (int i = 0; i < 272; i++) labels[i] = i % 2;
  labels[9] = 2;
  w[7] = 1.0;
  w[9] = 0.0;
  expect_labels_error(labels, w,
                      "no row has label 2: init 'labels' needs every label from 0 to k - 1 = 2");
}

/* fit (13), mclust (2): with init labels and max_iter 0 the model is the
** M-step of the hard partition: weights the shares (+ 10 eps), means the
** groups' means, VVV the groups' covariances + reg I, EII the pooled
** trace / (n d) + reg; for the other types the constraints hold. */
static void test_init_labels_first_mstep(void **state) {
  (void)state;
  int k = 3, d = 4;
  size_t n = 150;
  int labels[150];
  for (size_t i = 0; i < n; i++) labels[i] = (int)(i / 50); /* iris' species */
  double cnt[3] = {0}, mu[3][4] = {{0}}, sc[3][16] = {{0}};
  for (size_t i = 0; i < n; i++)
    for (int p = 0; p < d; p++) mu[labels[i]][p] += iris_x[i * 4 + (size_t)p];
  for (size_t i = 0; i < n; i++) cnt[labels[i]]++;
  for (int j = 0; j < k; j++)
    for (int p = 0; p < d; p++) mu[j][p] /= cnt[j];
  for (size_t i = 0; i < n; i++)
    for (int p = 0; p < d; p++)
      for (int q = 0; q < d; q++)
        sc[labels[i]][p * d + q] += (iris_x[i * 4 + (size_t)p] - mu[labels[i]][p]) *
                                    (iris_x[i * 4 + (size_t)q] - mu[labels[i]][q]);
  for (int i = 0; i < GMM_N_COV_TYPES; i++) {
    gmm_options opt = options(k, ALL_TYPES[i]);
    opt.init = GMM_INIT_LABELS;
    opt.max_iter = 0;
    gmm_model *m = fit_ok(iris_x, n, d, NULL, labels, &opt, NULL);
    assert_int_equal(m->summary.n_iter, 0);
    for (int j = 0; j < k; j++) {
      assert_close_rel(m->weights[j], cnt[j] / (double)n, 1e-12);
      for (int p = 0; p < d; p++) assert_close_rel(m->means[j * d + p], mu[j][p], 1e-12);
    }
    if (ALL_TYPES[i] == GMM_COV_FULL)
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++)
          for (int q = 0; q < d; q++)
            assert_close_scaled(m->covariances[(j * d + p) * d + q],
                                sc[j][p * d + q] / cnt[j] + (p == q ? opt.reg_covar : 0.0), 1e-12,
                                1.0);
    if (ALL_TYPES[i] == GMM_COV_EII) {
      double tr = 0.0;
      for (int j = 0; j < k; j++)
        for (int p = 0; p < d; p++) tr += sc[j][p * d + p];
      for (int j = 0; j < k; j++)
        assert_close_rel(m->covariances[j], tr / (double)(n * (size_t)d) + opt.reg_covar, 1e-12);
    }
    check_constraints(m, gmm_cov_type_name(ALL_TYPES[i]));
    gmm_model_free(m);
  }
}

/* fit (9), (13): with a warm start the labels are not used: init labels
** with no labels, or with labels out of range, gives the bits of the same
** warm start with init k-means. */
static void test_labels_ignored_with_warm_start(void **state) {
  (void)state;
  int bad[272];
  for (int i = 0; i < 272; i++) bad[i] = 7;
  for (int t = 0; t < GMM_N_COV_TYPES; t += 3) {
    gmm_options opt = options(3, ALL_TYPES[t]);
    opt.max_iter = 3;
    gmm_model *m0 = fit_ok(faithful_x, 272, 2, NULL, NULL, &opt, NULL);
    gmm_options w = opt;
    w.warm_start = m0;
    gmm_model *ref = fit_ok(faithful_x, 272, 2, NULL, NULL, &w, NULL);
    w.init = GMM_INIT_LABELS;
    gmm_model *a = fit_ok(faithful_x, 272, 2, NULL, NULL, &w, NULL);
    gmm_model *b = fit_ok(faithful_x, 272, 2, NULL, bad, &w, NULL);
    assert_true(models_same_bits(ref, a));
    assert_true(models_same_bits(ref, b));
    gmm_model_free(a);
    gmm_model_free(b);
    gmm_model_free(ref);
    gmm_model_free(m0);
  }
}

/* ==== 11. ICL, AIC, selection, parameter counts ==== */

/* fit (14): gmm_model_icl(m) is BIC - 2 sum_i ln max_j p(j | x_i), the sum
** computed here through gmm_model_score_row, to 1e-10; ICL >= BIC; BIC and
** AIC are -2 LL + p ln n and -2 LL + 2 p with p = gmm_n_parameters; for
** every type on faithful and iris. */
static void test_icl(void **state) {
  (void)state;
  const dataset *sets[] = {&FAITHFUL, &IRIS};
  for (int si = 0; si < 2; si++)
    for (int i = 0; i < GMM_N_COV_TYPES; i++) {
      const dataset *ds = sets[si];
      gmm_options opt = options(3, ALL_TYPES[i]);
      gmm_model *m = fit_ok(ds->x, ds->n, ds->d, NULL, NULL, &opt, NULL);
      double *scratch = malloc(sizeof(double) * gmm_model_scratch_len(m));
      double log_map = 0.0;
      for (size_t r = 0; r < ds->n; r++) {
        double post[GMM_MAX_K];
        int label;
        gmm_model_score_row(m, ds->x + r * (size_t)ds->d, scratch, post, &label);
        log_map += log(post[label]);
      }
      free(scratch);
      double p = gmm_n_parameters(3, ds->d, ALL_TYPES[i]);
      assert_true(p == gmm_model_n_parameters(m));
      double ll = m->summary.log_likelihood, n = (double)ds->n;
      assert_close_rel(gmm_model_bic(m), -2 * ll + p * log(n), 1e-14);
      assert_close_rel(gmm_model_aic(m), -2 * ll + 2 * p, 1e-14);
      assert_close_rel(m->summary.log_map, log_map, 1e-10);
      assert_close_rel(gmm_model_icl(m), gmm_model_bic(m) - 2 * log_map, 1e-10);
      assert_true(gmm_model_icl(m) >= gmm_model_bic(m));
      assert_true(gmm_model_criterion(m, GMM_CRITERION_BIC) == gmm_model_bic(m));
      assert_true(gmm_model_criterion(m, GMM_CRITERION_ICL) == gmm_model_icl(m));
      assert_true(gmm_model_criterion(m, GMM_CRITERION_AIC) == gmm_model_aic(m));
      gmm_model_free(m);
    }
}

/* fit (11): selection over k in {2, 3} and the fourteen types, with
** criterion BIC, ICL and AIC, returns the candidate minimising that
** criterion among the candidates (the first on ties); every candidate has
** its bic, icl and aic filled (icl >= bic); the candidates do not depend on
** the criterion. */
static void test_selection_criteria(void **state) {
  (void)state;
  const int ks[] = {2, 3};
  gmm_candidate first[2 * GMM_N_COV_TYPES];
  for (int c = 0; c < 3; c++) {
    gmm_options opt = options(1, GMM_COV_FULL);
    opt.criterion = (gmm_criterion)c;
    gmm_data data = {faithful_x, 272, 2, NULL, 0, NULL};
    gmm_model *m = NULL;
    char err[512] = "";
    if (gmm_fit_select(&data, &opt, ks, 2, ALL_TYPES, GMM_N_COV_TYPES, &gmm_libc_allocator, NULL,
                       NULL, &m, err, sizeof err) != GMM_OK)
      fail_msg("gmm_fit_select (%s): %s", gmm_criterion_name((gmm_criterion)c), err);
    assert_int_equal(m->n_candidates, 2 * GMM_N_COV_TYPES);
    int best = -1;
    double best_v = INFINITY;
    for (int i = 0; i < m->n_candidates; i++) {
      const gmm_candidate *cd = &m->candidates[i];
      assert_int_equal(cd->k, ks[i / GMM_N_COV_TYPES]);
      assert_int_equal(cd->covariance_type, ALL_TYPES[i % GMM_N_COV_TYPES]);
      if (cd->failed) continue;
      assert_finite(cd->bic);
      assert_finite(cd->icl);
      assert_finite(cd->aic);
      assert_true(cd->icl >= cd->bic);
      double p = gmm_n_parameters(cd->k, 2, cd->covariance_type);
      assert_close_rel(cd->aic, -2 * cd->log_likelihood + 2 * p, 1e-14);
      assert_close_rel(cd->bic, -2 * cd->log_likelihood + p * log(272.0), 1e-14);
      double v = c == GMM_CRITERION_BIC ? cd->bic : c == GMM_CRITERION_ICL ? cd->icl : cd->aic;
      if (v < best_v) {
        best_v = v;
        best = i;
      }
    }
    assert_true(best >= 0);
    if (m->k != m->candidates[best].k ||
        m->covariance_type != m->candidates[best].covariance_type)
      fail_msg("criterion %s: selected k = %d %s, the minimum is k = %d %s",
               gmm_criterion_name((gmm_criterion)c), m->k, gmm_cov_type_name(m->covariance_type),
               m->candidates[best].k, gmm_cov_type_name(m->candidates[best].covariance_type));
    assert_true(gmm_model_criterion(m, (gmm_criterion)c) == best_v);
    if (c == 0) {
      memcpy(first, m->candidates, sizeof first);
    } else {
      for (int i = 0; i < m->n_candidates; i++) {
        assert_int_equal(first[i].failed, m->candidates[i].failed);
        assert_true(first[i].log_likelihood == m->candidates[i].log_likelihood);
        assert_true(first[i].icl == m->candidates[i].icl);
      }
    }
    print_message("      %s selects k = %d %s\n", gmm_criterion_name((gmm_criterion)c), m->k,
                  gmm_cov_type_name(m->covariance_type));
    gmm_model_free(m);
  }
}

/* mclust's nVarParams totals (weights, means and covariance parameters)
** for k = 3, d = 2 and d = 4 (mclust 6.0.0's nMclustParams; the table of
** /work/shared/notes/bayesian-mclust.md section 2.1). */
static void test_n_parameters(void **state) {
  (void)state;
  static const struct {
    gmm_cov_type t;
    double d2, d4;
  } table[] = {{GMM_COV_EII, 9, 15},         {GMM_COV_SPHERICAL, 11, 17}, {GMM_COV_EEI, 10, 18},
               {GMM_COV_VEI, 12, 20},        {GMM_COV_EVI, 12, 24},       {GMM_COV_DIAG, 14, 26},
               {GMM_COV_TIED, 11, 24},       {GMM_COV_VEE, 13, 26},       {GMM_COV_EVE, 13, 30},
               {GMM_COV_VVE, 15, 32},        {GMM_COV_EEV, 13, 36},       {GMM_COV_VEV, 15, 38},
               {GMM_COV_EVV, 15, 42},        {GMM_COV_FULL, 17, 44}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (gmm_n_parameters(3, 2, table[i].t) != table[i].d2 ||
        gmm_n_parameters(3, 4, table[i].t) != table[i].d4)
      fail_msg("%s: %g and %g parameters, mclust has %g and %g", gmm_cov_model_name(table[i].t),
               gmm_n_parameters(3, 2, table[i].t), gmm_n_parameters(3, 4, table[i].t),
               table[i].d2, table[i].d4);
    static const char *const sklearn_names[4] = {"full", "tied", "diag", "spherical"};
    const char *name = table[i].t <= GMM_COV_SPHERICAL ? sklearn_names[table[i].t]
                                                       : gmm_cov_model_name(table[i].t);
    assert_string_equal(gmm_cov_type_name(table[i].t), name);
    assert_int_equal(gmm_cov_type_from_name(gmm_cov_model_name(table[i].t)), table[i].t);
  }
}

/* ==== 12. allocation failures ==== */

/* fit (1), stats (5): a gmm_fit of an iterative type (EVE, k-means and
** labels starts) and a gmm_mstep of EVE, with an allocator that refuses
** the i-th allocation for every i until the call succeeds: GMM_ENOMEM each
** time, no model, a message, nothing leaked. */
static void test_allocation_failures(void **state) {
  (void)state;
  int labels[272];
  for (int i = 0; i < 272; i++) labels[i] = faithful_x[2 * i] > 3.0 ? (faithful_x[2 * i] > 4.2 ? 2 : 1) : 0;
  for (int mode = 0; mode < 2; mode++) {
    gmm_options opt = options(3, GMM_COV_EVE);
    if (mode == 1) opt.init = GMM_INIT_LABELS;
    opt.max_iter = 20;
    gmm_data data = {faithful_x, 272, 2, NULL, 0, mode == 1 ? labels : NULL};
    size_t i;
    for (i = 1;; i++) {
      tu_counting c;
      gmm_allocator a = tu_counting_allocator(&c);
      c.fail_at = i;
      gmm_model *m = (gmm_model *)1;
      char err[256] = "";
      gmm_status rc = gmm_fit(&data, &opt, &a, NULL, NULL, &m, err, sizeof err);
      if (c.n_refused == 0) {
        if (rc != GMM_OK) fail_msg("no allocation refused, gmm_fit returned %d: %s", (int)rc, err);
        gmm_model_free(m);
        assert_no_leaks(&c);
        break;
      }
      if (rc != GMM_ENOMEM)
        fail_msg("allocation %zu refused: gmm_fit returned %d (%s)", i, (int)rc, err);
      assert_null(m);
      if (err[0] == '\0') fail_msg("allocation %zu refused: no message", i);
      assert_no_leaks(&c);
    }
    assert_true(i > 5);
  }
  /* gmm_mstep */
  gmm_options opt = options(3, GMM_COV_EVE);
  opt.max_iter = 2;
  gmm_model *m = fit_ok(faithful_x, 272, 2, NULL, NULL, &opt, NULL);
  m->options.max_iter = 10;
  uint64_t fp = fingerprint(m);
  for (size_t i = 1;; i++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = i;
    gmm_estats *st = NULL;
    gmm_estep_acc *acc = NULL;
    gmm_model *next = NULL;
    char err[256] = "";
    gmm_status rc = gmm_estats_new(m, fp, 0, &a, &st);
    if (rc == GMM_OK) rc = gmm_estep_acc_new(m, 1, &a, &acc);
    if (rc == GMM_OK) {
      gmm_estep_add(acc, faithful_x, NULL, 272, st);
      rc = gmm_mstep(m, fp, st, &a, &next, err, sizeof err);
      if (rc == GMM_ENOMEM) {
        assert_null(next);
        assert_string_equal(err, "out of memory");
      }
    }
    int refused = c.n_refused != 0;
    if (refused) assert_int_equal(rc, GMM_ENOMEM);
    else assert_int_equal(rc, GMM_OK);
    gmm_model_free(next);
    gmm_estep_acc_free(acc);
    gmm_estats_free(st);
    assert_no_leaks(&c);
    if (!refused) break;
  }
  gmm_model_free(m);
}

/* ==== self-test of the test's eigen-solver ==== */

/* The test's Jacobi solver reconstructs its input: V diag(val) V' = A,
** V orthogonal, eigenvalues descending (so the checks above rest on it). */
static void test_jacobi_self_check(void **state) {
  (void)state;
  static const double a[16] = {4, 1, 0.5, 0.2, 1, 3, 0.3, 0.1, 0.5, 0.3, 2, 0.7, 0.2, 0.1, 0.7, 1};
  double val[4], vec[16];
  jacobi_eigen(a, 4, val, vec);
  for (int p = 0; p < 3; p++) assert_true(val[p] >= val[p + 1]);
  for (int p = 0; p < 4; p++)
    for (int q = 0; q < 4; q++) {
      double r = 0.0, o = 0.0;
      for (int s = 0; s < 4; s++) {
        r += vec[p * 4 + s] * val[s] * vec[q * 4 + s];
        o += vec[s * 4 + p] * vec[s * 4 + q];
      }
      assert_close_abs(r, a[p * 4 + q], 1e-13);
      assert_close_abs(o, p == q ? 1.0 : 0.0, 1e-14);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jacobi_self_check),
      cmocka_unit_test(test_n_parameters),
      cmocka_unit_test(test_constraints_hold),
      cmocka_unit_test(test_mstep_is_constrained_optimum),
      cmocka_unit_test(test_loglik_never_decreases),
      cmocka_unit_test(test_order_and_thread_independence),
      cmocka_unit_test(test_weights_equal_repeats),
      cmocka_unit_test(test_warm_start_continues),
      cmocka_unit_test(test_warm_start_resumes_exactly),
      cmocka_unit_test(test_warm_start_other_type),
      cmocka_unit_test(test_passes_match_fit),
      cmocka_unit_test(test_sampling_moments),
      cmocka_unit_test(test_apply_agrees),
      cmocka_unit_test(test_d1_models_collapse),
      cmocka_unit_test(test_constant_feature),
      cmocka_unit_test(test_k_distinct_rows),
      cmocka_unit_test(test_singular_fails_cleanly),
      cmocka_unit_test(test_missing_features),
      cmocka_unit_test(test_blob_round_trip),
      cmocka_unit_test(test_init_labels_errors),
      cmocka_unit_test(test_init_labels_first_mstep),
      cmocka_unit_test(test_labels_ignored_with_warm_start),
      cmocka_unit_test(test_icl),
      cmocka_unit_test(test_selection_criteria),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests_name("mclust", tests, NULL, NULL);
}
