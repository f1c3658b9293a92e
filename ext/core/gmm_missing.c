/*
** gmm_missing.c -- rows with missing features: the density of the observed
** block, the conditional moments of the missing block, and the E-step of
** such rows for the statistics module (Ghahramani & Jordan, 1994, "Learning
** from incomplete data"; Little & Rubin, "Statistical Analysis with Missing
** Data", ch. 11).
**
** Notation: a row's observed features o and missing features m; component j
** with weight w_j, mean mu_j and covariance S_j.
**
** Requirements (tests cite them as "missing (N)"):
**  (1) A missing value is a NaN; gmm_missing_value() is the one quiet NaN
**      every missing value is stored as.
**  (2) A pattern (o, m) is factored once per component (once for tied):
**      W_j = the inverse lower Cholesky factor of S_j,oo, V_j = W_j S_j,om
**      and the conditional covariance C_j = S_j,mm - V_j' V_j (symmetric by
**      construction); diag and spherical need no factorisation (W_j the
**      observed inverse standard deviations, V_j = 0, C_j the missing
**      variances).
**  (3) log p_j(x_o) = log w_j - d_o/2 log(2 pi) + log det W_j - |z_j|^2 / 2
**      with z_j = W_j (x_o - mu_j,o); the posteriors p(j | x_o) by
**      log-sum-exp. The conditional mean of component j is
**      mu_j,m + S_j,mo S_j,oo^-1 (x_o - mu_j,o) = mu_j,m + V_j' z_j.
**  (4) The E-step adds, for every row and component, r_ij times the
**      completed row's offsets from the shift and their outer product, and
**      once per run of rows of one pattern, (sum of r_ij) C_j on the missing
**      block of the scatter: the conditional covariance correction of the
**      M-step. Together with fit (5)'s M-step this is EM over the observed
**      data: the observed-data log-likelihood never decreases (reg_covar
**      0). The M-step is the one of complete rows; the correction is what
**      keeps it from shrinking the covariances.
**  (5) Rows of weight 0 and rows with every value missing take no part. A
**      run of consecutive rows with one pattern shares its factors, so rows
**      grouped by pattern (gmm_canonical_order) are factored once per
**      pattern; rows in any other order give the same numbers, slower.
**  (6) The model's per-row functions (gmm_model_score_row, ..._impute_row,
**      ..._draw_missing_row) use the same factors: the observed block's
**      marginal mixture, the mixture's conditional mean, and draws of a
**      component from the posteriors and of x_m from its conditional
**      normal (a Cholesky factor of C_j whose non-positive pivots, from
**      rounding, are taken as 0).
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

static int is_matrix_type(gmm_cov_type t) {
  return t == GMM_COV_FULL || t == GMM_COV_TIED;
}

/* ---- the factors of one pattern: missing (2) ---- */

/* Doubles per factor: W (d_o x d_o), V (d_o x d_m) and C (d_m x d_m) fit
** in d x d; for diag and spherical, W's diagonal and C's in d. */
static size_t factor_len(int d, gmm_cov_type t) {
  return is_matrix_type(t) ? (size_t)d * (size_t)d : (size_t)d;
}

static int n_factors(int k, gmm_cov_type t) {
  return t == GMM_COV_TIED ? 1 : k;
}

size_t gmm_pattern_len(int k, int d, gmm_cov_type t) {
  /* obs and mis (d ints in all, held in d doubles), the factors, log_norm. */
  return (size_t)d + (size_t)n_factors(k, t) * factor_len(d, t) + (size_t)k;
}

void gmm_pattern_init(gmm_pattern *p, int k, int d, gmm_cov_type t, double *buffer) {
  memset(p, 0, sizeof *p);
  p->k = k;
  p->d = d;
  p->type = t;
  p->obs = (int *)buffer;
  p->mis = p->obs + d;
  p->stride = factor_len(d, t);
  p->fac = buffer + d;
  p->log_norm = p->fac + (size_t)n_factors(k, t) * p->stride;
}

int gmm_pattern_matches(const gmm_pattern *p, const double *x) {
  for (int a = 0; a < p->d_o; a++)
    if (gmm_is_missing(x[p->obs[a]])) return 0;
  for (int b = 0; b < p->d_m; b++)
    if (!gmm_is_missing(x[p->mis[b]])) return 0;
  return 1;
}

/* Factor t of a full or tied model: W, V and C of missing (2). Returns
** log det W, or NaN when S_oo is not numerically positive definite. */
static double factor_matrix(const gmm_pattern *p, const double *s, double *w) {
  size_t dd = (size_t)p->d, d_o = (size_t)p->d_o, d_m = (size_t)p->d_m;
  const int *obs = p->obs, *mis = p->mis;
  for (size_t a = 0; a < d_o; a++)
    for (size_t b = 0; b <= a; b++) w[a * d_o + b] = s[(size_t)obs[a] * dd + (size_t)obs[b]];
  if (gmm_cholesky(w, p->d_o) != 0) return NAN;
  double log_det = 0.0;
  for (size_t a = 0; a < d_o; a++) log_det -= log(w[a * d_o + a]);
  gmm_tri_lower_inverse(w, p->d_o);
  double *v = w + d_o * d_o, *c = v + d_o * d_m;
  for (size_t a = 0; a < d_o; a++)
    for (size_t b = 0; b < d_m; b++) {
      double t = 0.0;
      for (size_t e = 0; e <= a; e++) t += w[a * d_o + e] * s[(size_t)obs[e] * dd + (size_t)mis[b]];
      v[a * d_m + b] = t;
    }
  for (size_t a = 0; a < d_m; a++)
    for (size_t b = 0; b <= a; b++) {
      double t = s[(size_t)mis[a] * dd + (size_t)mis[b]];
      for (size_t e = 0; e < d_o; e++) t -= v[e * d_m + a] * v[e * d_m + b];
      c[a * d_m + b] = c[b * d_m + a] = t;
    }
  return log_det;
}

int gmm_pattern_set(gmm_pattern *p, const gmm_model *m, const double *x) {
  int d = m->d, k = m->k, ok = 1;
  size_t dd = (size_t)d;
  p->d_o = p->d_m = 0;
  for (int q = 0; q < d; q++) {
    if (gmm_is_missing(x[q]))
      p->mis[p->d_m++] = q;
    else
      p->obs[p->d_o++] = q;
  }
  double base = -0.5 * (double)p->d_o * GMM_LOG_2PI;
  if (is_matrix_type(m->covariance_type)) {
    int n_mats = n_factors(k, m->covariance_type);
    double log_det[GMM_MAX_K];
    for (int t = 0; t < n_mats; t++) {
      log_det[t] = factor_matrix(p, m->covariances + (size_t)t * dd * dd,
                                 p->fac + (size_t)t * p->stride);
      ok &= !isnan(log_det[t]);
    }
    for (int j = 0; j < k; j++)
      p->log_norm[j] = log(m->weights[j]) + base + log_det[n_mats == 1 ? 0 : j];
    return ok ? 0 : -1;
  }
  int spherical = m->covariance_type == GMM_COV_SPHERICAL;
  for (int j = 0; j < k; j++) {
    const double *prec = m->prec_chol + (spherical ? (size_t)j : (size_t)j * dd);
    const double *var = m->covariances + (spherical ? (size_t)j : (size_t)j * dd);
    double *w = p->fac + (size_t)j * p->stride, *c = w + p->d_o, log_det = 0.0;
    for (int a = 0; a < p->d_o; a++) {
      w[a] = prec[spherical ? 0 : p->obs[a]];
      log_det += log(w[a]);
    }
    for (int b = 0; b < p->d_m; b++) c[b] = var[spherical ? 0 : p->mis[b]];
    p->log_norm[j] = log(m->weights[j]) + base + log_det;
  }
  return 0;
}

/* ---- a row of the pattern: missing (3) ---- */

void gmm_pattern_log_prob(const gmm_pattern *p, const gmm_model *m, const double *x, double *z,
                          double *log_p) {
  size_t dd = (size_t)m->d, d_o = (size_t)p->d_o;
  int matrix = is_matrix_type(p->type), tied = p->type == GMM_COV_TIED;
  for (int j = 0; j < p->k; j++) {
    const double *mu = m->means + (size_t)j * dd;
    const double *w = p->fac + (tied ? 0 : (size_t)j * p->stride);
    double *zj = z + (size_t)j * dd, q = 0.0;
    for (size_t a = 0; a < d_o; a++) zj[a] = x[p->obs[a]] - mu[p->obs[a]];
    if (matrix) {
      /* z = W delta in place, last row first: row a reads delta[0..a]. */
      for (size_t a = d_o; a-- > 0;) {
        double t = 0.0;
        for (size_t e = 0; e <= a; e++) t += w[a * d_o + e] * zj[e];
        zj[a] = t;
      }
    } else {
      for (size_t a = 0; a < d_o; a++) zj[a] *= w[a];
    }
    for (size_t a = 0; a < d_o; a++) q += zj[a] * zj[a];
    log_p[j] = p->log_norm[j] - 0.5 * (isnan(q) ? INFINITY : q);
  }
}

void gmm_pattern_cond_offset(const gmm_pattern *p, int j, const double *zj, double *out) {
  size_t d_o = (size_t)p->d_o, d_m = (size_t)p->d_m;
  if (!is_matrix_type(p->type)) {
    memset(out, 0, d_m * sizeof *out);
    return;
  }
  const double *v = p->fac + (p->type == GMM_COV_TIED ? 0 : (size_t)j * p->stride) + d_o * d_o;
  for (size_t b = 0; b < d_m; b++) {
    double t = 0.0;
    for (size_t a = 0; a < d_o; a++) t += v[a * d_m + b] * zj[a];
    out[b] = t;
  }
}

/* C_j: d_m x d_m (full, tied) or its diagonal (diag, spherical). */
static const double *cond_cov(const gmm_pattern *p, int j) {
  size_t d_o = (size_t)p->d_o;
  if (is_matrix_type(p->type))
    return p->fac + (p->type == GMM_COV_TIED ? 0 : (size_t)j * p->stride) + d_o * d_o +
           d_o * (size_t)p->d_m;
  return p->fac + (size_t)j * p->stride + d_o;
}

/* ---- the E-step of rows with missing values: missing (4), (5) ---- */

size_t gmm_missing_scratch_len(int k, int d, gmm_cov_type t) {
  size_t kk = (size_t)k, dd = (size_t)d;
  /* pattern, z (k x d), log_p (k), mass (k), a (d), offset (d) */
  return gmm_pattern_len(k, d, t) + kk * dd + 2 * kk + 2 * dd;
}

/* Adds mass_j C_j to the missing block of component j's scatter. */
static void add_correction(const gmm_pattern *p, const double *mass, gmm_stats *st) {
  size_t dd = (size_t)p->d, d_m = (size_t)p->d_m;
  int matrix = is_matrix_type(p->type);
  for (int j = 0; j < p->k; j++) {
    if (mass[j] == 0.0 || d_m == 0) continue;
    const double *c = cond_cov(p, j);
    if (st->diag_only) {
      double *s2 = st->s2 + (size_t)j * dd;
      for (size_t b = 0; b < d_m; b++)
        s2[p->mis[b]] += mass[j] * (matrix ? c[b * d_m + b] : c[b]);
      continue;
    }
    double *s2 = st->s2 + (size_t)j * dd * dd;
    for (size_t a = 0; a < d_m; a++)
      for (size_t b = 0; b <= a; b++)
        s2[(size_t)p->mis[a] * dd + (size_t)p->mis[b]] += mass[j] * c[a * d_m + b];
  }
}

double gmm_missing_pass(const gmm_model *m, const gmm_data *data, size_t start, size_t end,
                        const double *shift, double *scratch, gmm_stats *st) {
  int k = m->k, d = m->d;
  size_t kk = (size_t)k, dd = (size_t)d;
  gmm_pattern p;
  gmm_pattern_init(&p, k, d, m->covariance_type, scratch);
  double *z = scratch + gmm_pattern_len(k, d, m->covariance_type);
  double *log_p = z + kk * dd, *mass = log_p + kk, *a = mass + kk, *offset = a + dd;
  double ll = 0.0;
  int have_pattern = 0;
  for (size_t i = start; i < end; i++) {
    double weight = gmm_row_weight(data, i);
    if (weight == 0.0) continue;
    const double *x = data->x + i * dd;
    if (!have_pattern || !gmm_pattern_matches(&p, x)) {
      if (have_pattern && st) add_correction(&p, mass, st);
      if (gmm_pattern_set(&p, m, x) != 0) ll = NAN; /* S_oo not positive definite */
      memset(mass, 0, kk * sizeof *mass);
      have_pattern = 1;
    }
    if (p.d_o == 0) continue;
    gmm_pattern_log_prob(&p, m, x, z, log_p);
    double lse = gmm_posteriors(log_p, k, log_p);
    ll += weight * lse;
    if (!st || !isfinite(lse)) continue;
    for (int j = 0; j < k; j++) {
      double r = weight * log_p[j];
      if (!(r > 0.0)) continue;
      const double *mu = m->means + (size_t)j * dd, *c = shift + (size_t)j * dd;
      gmm_pattern_cond_offset(&p, j, z + (size_t)j * dd, offset);
      for (int e = 0; e < p.d_o; e++) a[p.obs[e]] = x[p.obs[e]] - c[p.obs[e]];
      for (int e = 0; e < p.d_m; e++) a[p.mis[e]] = (mu[p.mis[e]] - c[p.mis[e]]) + offset[e];
      gmm_stats_add_row(st, j, r, a);
      mass[j] += r;
    }
  }
  if (have_pattern && st) add_correction(&p, mass, st);
  return ll;
}

/* ---- one row under a model: missing (6) ---- */

size_t gmm_missing_row_scratch_len(int k, int d, gmm_cov_type t) {
  return gmm_missing_scratch_len(k, d, t) + (size_t)d * (size_t)d;
}

int gmm_row_has_missing(const double *x, int d) {
  for (int q = 0; q < d; q++)
    if (gmm_is_missing(x[q])) return 1;
  return 0;
}

int gmm_is_missing_row(const double *x, int d) {
  for (int q = 0; q < d; q++)
    if (!gmm_is_missing(x[q])) return 0;
  return 1;
}

void gmm_missing_row_log_prob(const gmm_model *m, const double *x, double *log_p,
                              double *scratch) {
  gmm_pattern p;
  gmm_pattern_init(&p, m->k, m->d, m->covariance_type, scratch);
  double *z = scratch + gmm_pattern_len(m->k, m->d, m->covariance_type);
  if (gmm_pattern_set(&p, m, x) != 0) {
    for (int j = 0; j < m->k; j++) log_p[j] = -INFINITY;
    return;
  }
  gmm_pattern_log_prob(&p, m, x, z, log_p);
}

/* The pattern of x with the posteriors of its components in post (k);
** z and offset as gmm_missing_pass's. */
static void row_posteriors(const gmm_model *m, const double *x, double *scratch, gmm_pattern *p,
                           double **z, double **post, double **offset) {
  int k = m->k;
  gmm_pattern_init(p, k, m->d, m->covariance_type, scratch);
  *z = scratch + gmm_pattern_len(k, m->d, m->covariance_type);
  *post = *z + (size_t)k * (size_t)m->d;
  *offset = *post + 2 * (size_t)k;
  if (gmm_pattern_set(p, m, x) != 0) {
    /* Rounding made an observed block indefinite: fall back on the prior. */
    for (int j = 0; j < k; j++) (*post)[j] = log(m->weights[j]);
    memset(*z, 0, (size_t)k * (size_t)m->d * sizeof **z);
  } else {
    gmm_pattern_log_prob(p, m, x, *z, *post);
  }
  gmm_posteriors(*post, k, *post);
}

void gmm_model_impute_row(const gmm_model *m, double *x, double *scratch) {
  gmm_pattern p;
  double *z, *post, *offset;
  row_posteriors(m, x, scratch, &p, &z, &post, &offset);
  size_t dd = (size_t)m->d;
  double *fill = offset + dd;
  memset(fill, 0, (size_t)p.d_m * sizeof *fill);
  for (int j = 0; j < m->k; j++) {
    if (post[j] == 0.0) continue;
    const double *mu = m->means + (size_t)j * dd;
    gmm_pattern_cond_offset(&p, j, z + (size_t)j * dd, offset);
    for (int b = 0; b < p.d_m; b++) fill[b] += post[j] * (mu[p.mis[b]] + offset[b]);
  }
  for (int b = 0; b < p.d_m; b++) x[p.mis[b]] = fill[b];
}

/* In place: the lower Cholesky factor of the symmetric positive
** semi-definite n x n matrix c, a pivot that rounding leaves <= 0 taken as
** 0 (its column then 0), so that a conditional covariance that is singular
** to rounding still gives draws. */
static void semidefinite_cholesky(double *c, size_t n) {
  for (size_t j = 0; j < n; j++) {
    double s = c[j * n + j];
    for (size_t e = 0; e < j; e++) s -= c[j * n + e] * c[j * n + e];
    double pivot = s > 0.0 ? sqrt(s) : 0.0;
    c[j * n + j] = pivot;
    for (size_t i = j + 1; i < n; i++) {
      double t = c[i * n + j];
      for (size_t e = 0; e < j; e++) t -= c[i * n + e] * c[j * n + e];
      c[i * n + j] = pivot > 0.0 ? t / pivot : 0.0;
    }
    for (size_t e = j + 1; e < n; e++) c[j * n + e] = 0.0;
  }
}

void gmm_model_draw_missing_row(const gmm_model *m, double *x, uint64_t seed, uint64_t stream,
                                double *scratch) {
  gmm_pattern p;
  double *z, *post, *offset;
  row_posteriors(m, x, scratch, &p, &z, &post, &offset);
  gmm_rng rng;
  gmm_rng_seed(&rng, seed, stream);
  double u = gmm_rng_uniform(&rng), cum = 0.0;
  int j = 0;
  for (; j < m->k - 1; j++)
    if (u < (cum += post[j])) break;
  size_t dd = (size_t)m->d, d_m = (size_t)p.d_m;
  double *normals = offset + dd;
  double *chol = scratch + gmm_missing_scratch_len(m->k, m->d, m->covariance_type);
  const double *c = cond_cov(&p, j);
  gmm_pattern_cond_offset(&p, j, z + (size_t)j * dd, offset);
  if (is_matrix_type(p.type)) {
    memcpy(chol, c, d_m * d_m * sizeof *chol);
    semidefinite_cholesky(chol, d_m);
  }
  for (size_t b = 0; b < d_m; b += 2) {
    double second;
    normals[b] = gmm_rng_normal_pair(&rng, &second);
    if (b + 1 < d_m) normals[b + 1] = second;
  }
  const double *mu = m->means + (size_t)j * dd;
  for (size_t b = 0; b < d_m; b++) {
    double v = 0.0;
    if (is_matrix_type(p.type))
      for (size_t e = 0; e <= b; e++) v += chol[b * d_m + e] * normals[e];
    else
      v = sqrt(c[b]) * normals[b];
    x[p.mis[b]] = mu[p.mis[b]] + offset[b] + v;
  }
}
