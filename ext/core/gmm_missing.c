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
**      pattern; rows in any other order give the same numbers, slower. A
**      run of at least TILE_RUN rows goes through the blocked kernel
**      (gmm_tile.c) as a complete-data problem in the observed features
**      (the observed means and W_j as the model), and its statistics are
**      carried to the missing block afterwards: with B_j = V_j' W_j =
**      S_j,mo S_j,oo^-1, a row's missing offsets are e_j + B_j a_o with
**      e_j = mu_j,m - c_j,m + B_j (c_j,o - mu_j,o) (0 when the shift c_j is
**      the mean), so the sums of a_m and of its products with a_o and
**      itself follow from those of a_o by B_j and e_j.
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

/* Every function here takes a model's type and works with its shape. */
static int is_matrix_type(gmm_cov_type t) {
  t = gmm_cov_shape(t);
  return t == GMM_COV_FULL || t == GMM_COV_TIED;
}

/* ---- the factors of one pattern: missing (2) ---- */

/* Doubles per factor: W (d_o x d_o), V (d_o x d_m) and C (d_m x d_m) fit
** in d x d; for diag and spherical, W's diagonal and C's in d. */
static size_t factor_len(int d, gmm_cov_type t) {
  return is_matrix_type(t) ? (size_t)d * (size_t)d : (size_t)d;
}

static int n_factors(int k, gmm_cov_type t) {
  return gmm_cov_shape(t) == GMM_COV_TIED ? 1 : k;
}

size_t gmm_pattern_len(int k, int d, gmm_cov_type t) {
  /* obs and mis (d ints in all, held in d doubles), the factors, log_norm. */
  return (size_t)d + (size_t)n_factors(k, t) * factor_len(d, t) + (size_t)k;
}

void gmm_pattern_init(gmm_pattern *p, int k, int d, gmm_cov_type t, double *buffer) {
  memset(p, 0, sizeof *p);
  p->k = k;
  p->d = d;
  p->type = gmm_cov_shape(t);
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
  int spherical = gmm_cov_shape(m->covariance_type) == GMM_COV_SPHERICAL;
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

/* Runs of at least this many rows of one pattern go through the blocked
** kernel. */
#define TILE_RUN 16

/* The observed-feature problem of a run: a model in d_o dimensions for
** the blocked kernel, its statistics, the gathered rows, and B_j. */
typedef struct sub_problem {
  gmm_model model; /* k, d_o, type; means, prec_chol, log_norm */
  gmm_stats st;    /* around shift_o */
  double *shift_o; /* k x d_o */
  double *x, *w;   /* tile rows x d_o, tile rows */
  double *b;       /* n_factors x d_m x d_o: B_j */
  double *e;       /* d: e_j */
} sub_problem;

static size_t sub_problem_len(int k, int d, gmm_cov_type t) {
  size_t kk = (size_t)k, dd = (size_t)d, rows = gmm_tile_rows(k, d);
  size_t prec = gmm_cov_len(k, d, t);
  size_t stats = kk * (1 + dd + (gmm_stats_diag_only(t) ? dd : dd * dd));
  return kk * dd + prec + stats + kk * dd + rows * (dd + 1) +
         (size_t)n_factors(k, t) * dd * dd + dd;
}

size_t gmm_missing_scratch_len(int k, int d, gmm_cov_type t) {
  size_t kk = (size_t)k, dd = (size_t)d;
  /* pattern, z (k x d), log_p (k), mass (k), a (d), offset (d), the
  ** sub-problem */
  return gmm_pattern_len(k, d, t) + kk * dd + 2 * kk + 2 * dd + sub_problem_len(k, d, t);
}

static void sub_problem_init(sub_problem *sp, int k, int d, gmm_cov_type t, double *buffer) {
  size_t kk = (size_t)k, dd = (size_t)d;
  memset(sp, 0, sizeof *sp);
  sp->model.k = k;
  sp->model.covariance_type = gmm_cov_shape(t);
  sp->model.means = buffer;
  sp->model.prec_chol = buffer + kk * dd;
  sp->st.k = k;
  sp->st.diag_only = gmm_stats_diag_only(t);
  sp->st.nk = sp->model.prec_chol + gmm_cov_len(k, d, t);
  size_t stats = kk * (1 + dd + (sp->st.diag_only ? dd : dd * dd));
  sp->shift_o = sp->st.nk + stats;
  sp->x = sp->shift_o + kk * dd;
  sp->w = sp->x + gmm_tile_rows(k, d) * dd;
  sp->b = sp->w + gmm_tile_rows(k, d);
  sp->e = sp->b + (size_t)n_factors(k, t) * dd * dd;
}

/* Sets the sub-problem of pattern p under m for statistics around shift,
** and zeroes its statistics. */
static void sub_problem_set(sub_problem *sp, const gmm_pattern *p, const gmm_model *m,
                            const double *shift) {
  int k = p->k, d_o = p->d_o;
  size_t kk = (size_t)k, dd = (size_t)p->d, no = (size_t)d_o, nm = (size_t)p->d_m;
  gmm_model *sub = &sp->model;
  sub->d = d_o;
  sub->log_norm = p->log_norm;
  for (size_t j = 0; j < kk; j++)
    for (size_t a = 0; a < no; a++) {
      sub->means[j * no + a] = m->means[j * dd + (size_t)p->obs[a]];
      sp->shift_o[j * no + a] = shift[j * dd + (size_t)p->obs[a]];
    }
  int n_f = n_factors(k, p->type);
  if (is_matrix_type(p->type)) {
    for (int t = 0; t < n_f; t++) {
      const double *w = p->fac + (size_t)t * p->stride, *v = w + no * no;
      double *prec = sub->prec_chol + (size_t)t * no * no, *b = sp->b + (size_t)t * nm * no;
      memcpy(prec, w, no * no * sizeof *prec);
      /* B = V' W: B[r][a] = sum over c >= a of V[c][r] W[c][a]. */
      for (size_t r = 0; r < nm; r++)
        for (size_t a = 0; a < no; a++) {
          double acc = 0.0;
          for (size_t c = a; c < no; c++) acc += v[c * nm + r] * w[c * no + a];
          b[r * no + a] = acc;
        }
    }
  } else if (p->type == GMM_COV_DIAG) {
    for (size_t j = 0; j < kk; j++)
      memcpy(sub->prec_chol + j * no, p->fac + j * p->stride, no * sizeof(double));
  } else {
    memcpy(sub->prec_chol, m->prec_chol, kk * sizeof(double));
  }
  sp->st.d = d_o;
  sp->st.s1 = sp->st.nk + kk;
  sp->st.s2 = sp->st.s1 + kk * no;
  gmm_stats_zero(&sp->st);
}

/* Adds the run's statistics, taken in the observed features, to st in all
** d: missing (5). */
static void sub_problem_carry(const sub_problem *sp, const gmm_pattern *p, const gmm_model *m,
                              const double *shift, gmm_stats *st) {
  size_t dd = (size_t)p->d, no = (size_t)p->d_o, nm = (size_t)p->d_m;
  const int *obs = p->obs, *mis = p->mis;
  int matrix = is_matrix_type(p->type);
  double bs1[GMM_MAX_D];
  for (int j = 0; j < p->k; j++) {
    size_t jj = (size_t)j;
    double nk = sp->st.nk[j];
    if (nk == 0.0) continue;
    const double *s1o = sp->st.s1 + jj * no;
    const double *s2o = sp->st.s2 + jj * (sp->st.diag_only ? no : no * no);
    const double *mu = m->means + jj * dd, *c = shift + jj * dd;
    const double *b = matrix ? sp->b + (p->type == GMM_COV_TIED ? 0 : jj * nm * no) : NULL;
    double *e = sp->e;
    /* e = mu_m - c_m + B (c_o - mu_o); bs1 = B s1_o. */
    for (size_t r = 0; r < nm; r++) {
      double acc = mu[mis[r]] - c[mis[r]], acc1 = 0.0;
      for (size_t a = 0; b && a < no; a++) {
        acc += b[r * no + a] * (c[obs[a]] - mu[obs[a]]);
        acc1 += b[r * no + a] * s1o[a];
      }
      e[r] = acc;
      bs1[r] = acc1;
    }
    st->nk[j] += nk;
    double *s1 = st->s1 + jj * dd;
    for (size_t a = 0; a < no; a++) s1[obs[a]] += s1o[a];
    for (size_t r = 0; r < nm; r++) s1[mis[r]] += nk * e[r] + bs1[r];
    if (st->diag_only) {
      double *s2 = st->s2 + jj * dd;
      for (size_t a = 0; a < no; a++) s2[obs[a]] += s2o[a];
      for (size_t r = 0; r < nm; r++) {
        double quad = 0.0; /* (B S_oo B')_rr, S_oo symmetric from its lower triangle */
        for (size_t a = 0; b && a < no; a++)
          for (size_t a2 = 0; a2 < no; a2++)
            quad += b[r * no + a] * s2o[a >= a2 ? a * no + a2 : a2 * no + a] * b[r * no + a2];
        s2[mis[r]] += nk * e[r] * e[r] + 2.0 * e[r] * bs1[r] + quad;
      }
      continue;
    }
    double *s2 = st->s2 + jj * dd * dd;
    for (size_t a = 0; a < no; a++)
      for (size_t a2 = 0; a2 <= a; a2++) s2[(size_t)obs[a] * dd + (size_t)obs[a2]] += s2o[a * no + a2];
    /* bso = B S_oo (d_m x d_o), in the space of z (free here). */
    for (size_t r = 0; r < nm; r++) {
      for (size_t a = 0; a < no; a++) {
        double acc = 0.0;
        for (size_t a2 = 0; a2 < no; a2++)
          acc += b[r * no + a2] * s2o[a2 >= a ? a2 * no + a : a * no + a2];
        /* sum r a_m a_o' = e s1_o' + B S_oo */
        double v = e[r] * s1o[a] + acc;
        size_t hi = (size_t)(mis[r] > obs[a] ? mis[r] : obs[a]);
        size_t lo = (size_t)(mis[r] > obs[a] ? obs[a] : mis[r]);
        s2[hi * dd + lo] += v;
      }
      for (size_t r2 = 0; r2 <= r; r2++) {
        double quad = 0.0;
        for (size_t a = 0; a < no; a++)
          for (size_t a2 = 0; a2 < no; a2++)
            quad += b[r * no + a] * s2o[a >= a2 ? a * no + a2 : a2 * no + a] * b[r2 * no + a2];
        s2[(size_t)mis[r] * dd + (size_t)mis[r2]] +=
            nk * e[r] * e[r2] + e[r] * bs1[r2] + bs1[r] * e[r2] + quad;
      }
    }
  }
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

/* The rows of [i, end) with weight 0 or p's pattern, from i on: the end of
** p's run. */
static size_t run_end(const gmm_pattern *p, const gmm_data *data, size_t i, size_t end) {
  size_t dd = (size_t)p->d;
  while (i < end && (gmm_row_weight(data, i) == 0.0 || gmm_pattern_matches(p, data->x + i * dd)))
    i++;
  return i;
}

/* What the E-step of one row needs: missing (4). */
typedef struct row_job {
  const gmm_model *m;
  const gmm_pattern *p;
  const double *shift;
  double *z, *log_p, *mass, *a, *offset;
  gmm_stats *st;
} row_job;

/* One row of the current pattern: returns its weighted log-likelihood and
** adds its statistics (and its masses, for the correction). */
static double one_row(const row_job *job, const double *x, double weight) {
  const gmm_model *m = job->m;
  const gmm_pattern *p = job->p;
  size_t dd = (size_t)m->d;
  gmm_pattern_log_prob(p, m, x, job->z, job->log_p);
  double lse = gmm_posteriors(job->log_p, m->k, job->log_p);
  if (!job->st || !isfinite(lse)) return weight * lse;
  for (int j = 0; j < m->k; j++) {
    double r = weight * job->log_p[j];
    if (!(r > 0.0)) continue;
    const double *mu = m->means + (size_t)j * dd, *c = job->shift + (size_t)j * dd;
    gmm_pattern_cond_offset(p, j, job->z + (size_t)j * dd, job->offset);
    for (int e = 0; e < p->d_o; e++) job->a[p->obs[e]] = x[p->obs[e]] - c[p->obs[e]];
    for (int e = 0; e < p->d_m; e++)
      job->a[p->mis[e]] = (mu[p->mis[e]] - c[p->mis[e]]) + job->offset[e];
    gmm_stats_add_row(job->st, j, r, job->a);
    job->mass[j] += r;
  }
  return weight * lse;
}

/* The rows of p's run [start, end) through the blocked kernel, tile by
** tile; the rows of a tile it declines (a row with no finite density), one
** at a time. Returns the run's log-likelihood. */
static double run_tiles(const row_job *job, const gmm_data *data, size_t start, size_t end,
                        sub_problem *sp, gmm_tile *tile) {
  const gmm_pattern *p = job->p;
  size_t dd = (size_t)p->d, no = (size_t)p->d_o;
  sub_problem_set(sp, p, job->m, job->shift);
  double ll = 0.0;
  for (size_t i = start; i < end;) {
    size_t n = 0, first = i;
    for (; i < end && n < tile->rows; i++) {
      double w = gmm_row_weight(data, i);
      if (w == 0.0) continue;
      const double *x = data->x + i * dd;
      for (size_t a = 0; a < no; a++) sp->x[n * no + a] = x[p->obs[a]];
      sp->w[n++] = w;
    }
    double ll_tile;
    if (gmm_tile_pass(&sp->model, sp->x, sp->w, n, sp->shift_o, tile, job->st ? &sp->st : NULL,
                      &ll_tile)) {
      ll += ll_tile;
      continue;
    }
    for (size_t r = first; r < i; r++)
      if (gmm_row_weight(data, r) != 0.0)
        ll += one_row(job, data->x + r * dd, gmm_row_weight(data, r));
  }
  if (job->st) {
    sub_problem_carry(sp, p, job->m, job->shift, job->st);
    add_correction(p, sp->st.nk, job->st);
  }
  return ll;
}

double gmm_missing_pass(const gmm_model *m, const gmm_data *data, size_t start, size_t end,
                        const double *shift, double *scratch, gmm_tile *tile, gmm_stats *st) {
  int k = m->k, d = m->d;
  size_t kk = (size_t)k, dd = (size_t)d;
  gmm_pattern p;
  gmm_pattern_init(&p, k, d, m->covariance_type, scratch);
  row_job job = {m, &p, shift, NULL, NULL, NULL, NULL, NULL, st};
  job.z = scratch + gmm_pattern_len(k, d, m->covariance_type);
  job.log_p = job.z + kk * dd;
  job.mass = job.log_p + kk;
  job.a = job.mass + kk;
  job.offset = job.a + dd;
  sub_problem sp;
  sub_problem_init(&sp, k, d, m->covariance_type, job.offset + dd);
  double ll = 0.0;
  int have_pattern = 0;
  size_t untiled_to = start; /* rows before it are in a run too short to tile */
  for (size_t i = start; i < end; i++) {
    double weight = gmm_row_weight(data, i);
    if (weight == 0.0) continue;
    const double *x = data->x + i * dd;
    if (!have_pattern || !gmm_pattern_matches(&p, x)) {
      if (have_pattern && st) add_correction(&p, job.mass, st);
      if (gmm_pattern_set(&p, m, x) != 0) ll = NAN; /* S_oo not positive definite */
      memset(job.mass, 0, kk * sizeof *job.mass);
      have_pattern = 1;
    }
    if (p.d_o == 0) continue;
    if (tile && i >= untiled_to && !isnan(ll)) {
      size_t stop = run_end(&p, data, i, end);
      if (stop - i >= TILE_RUN) {
        ll += run_tiles(&job, data, i, stop, &sp, tile);
        i = stop - 1;
        continue;
      }
      untiled_to = stop;
    }
    ll += one_row(&job, x, weight);
  }
  if (have_pattern && st) add_correction(&p, job.mass, st);
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
