/*
** gmm_model.c -- the model object: allocation, the derived precision
** factors, parameter counts and information criteria, and the per-row log
** density and posteriors that every apply function shares.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

size_t gmm_cov_len(int k, int d, gmm_cov_type t) {
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

size_t gmm_concentration_len(int k, gmm_prior p) {
  return p == GMM_PRIOR_DIRICHLET_PROCESS ? 2 * (size_t)k : (size_t)k;
}

gmm_model *gmm_model_new(int k, int d, gmm_cov_type t, const gmm_allocator *a) {
  return gmm_model_new_prior(k, d, t, GMM_PRIOR_NONE, a);
}

gmm_model *gmm_model_new_prior(int k, int d, gmm_cov_type t, gmm_prior prior,
                               const gmm_allocator *a) {
  if (k < 1 || k > GMM_MAX_K || d < 1 || d > GMM_MAX_D || (unsigned)t >= GMM_N_COV_TYPES ||
      (unsigned)prior >= GMM_N_PRIORS)
    return NULL;
  size_t kk = (size_t)k, dd = (size_t)d;
  size_t n_cov = gmm_cov_len(k, d, t);
  size_t n_prior = prior == GMM_PRIOR_NONE ? 0 : dd + gmm_cov_len(1, d, t);
  size_t n_post = gmm_prior_variational(prior)
                      ? gmm_concentration_len(k, prior) + kk +
                            (gmm_cov_shape(t) == GMM_COV_TIED ? 1 : kk)
                      : 0;
  /* k, d are bounded above, so these products cannot overflow size_t. */
  size_t n_doubles =
      kk /* weights */ + kk * dd /* means */ + 2 * n_cov + kk /* log_norm */ + n_prior + n_post;
  size_t header = (sizeof(gmm_model) + sizeof(double) - 1) / sizeof(double) * sizeof(double);
  unsigned char *block = gmm_alloc_array(a, 1, header + n_doubles * sizeof(double));
  if (!block) return NULL;
  gmm_model *m = (gmm_model *)block;
  memset(m, 0, sizeof *m);
  double *p = (double *)(block + header);
  m->k = k;
  m->d = d;
  m->covariance_type = t;
  m->weights = p;
  p += kk;
  m->means = p;
  p += kk * dd;
  m->covariances = p;
  p += n_cov;
  m->prec_chol = p;
  p += n_cov;
  m->log_norm = p;
  p += kk;
  if (n_prior) {
    m->mean_prior = p;
    m->covariance_prior = p + dd;
    p += n_prior;
  }
  if (n_post) {
    m->weight_concentration = p;
    p += gmm_concentration_len(k, prior);
    m->mean_precision = p;
    m->degrees_of_freedom = p + kk;
  }
  m->allocator = *a;
  gmm_options_default(&m->options, k);
  m->options.covariance_type = t;
  m->options.prior = prior;
  m->summary.log_map = NAN;
  m->summary.lower_bound = NAN;
  return m;
}

/* The rows' expected count in component j, N_j, is what its concentration
** adds to the prior's; the posterior mean weight is no measure of use: an
** empty component of a Dirichlet process keeps about 1 / (1 + the rows
** after it), of a Dirichlet distribution alpha0 / (n + k alpha0). */
int gmm_model_effective(const gmm_model *m, int j) {
  if (!gmm_prior_variational(m->options.prior)) return 1;
  double first = m->options.prior == GMM_PRIOR_DIRICHLET_PROCESS
                     ? 1.0
                     : m->options.weight_concentration_prior;
  double n_j = m->weight_concentration[j] - first;
  return n_j > m->summary.n_samples / (GMM_EFFECTIVE_DIVISOR * (double)m->k);
}

int gmm_model_n_effective(const gmm_model *m) {
  int n = 0;
  for (int j = 0; j < m->k; j++) n += gmm_model_effective(m, j);
  return n;
}

void gmm_model_free(gmm_model *m) {
  if (!m) return;
  gmm_allocator a = m->allocator;
  gmm_release(&a, m->candidates);
  gmm_release(&a, m);
}

gmm_status gmm_model_set_candidates(gmm_model *m, const gmm_candidate *c, int n) {
  gmm_candidate *copy = n > 0 ? gmm_alloc_array(&m->allocator, (size_t)n, sizeof *copy) : NULL;
  if (n > 0 && !copy) return GMM_ENOMEM;
  if (n > 0) memcpy(copy, c, (size_t)n * sizeof *copy);
  gmm_release(&m->allocator, m->candidates);
  m->candidates = copy;
  m->n_candidates = n;
  return GMM_OK;
}

/* W = L^-1 of one full covariance into w; returns log det W, or NAN when
** the covariance is not positive definite or W or its log det overflows. */
static double prepare_full(const double *cov, double *w, int d) {
  size_t dd = (size_t)d;
  memcpy(w, cov, dd * dd * sizeof *w);
  if (gmm_cholesky(w, d) != 0) return NAN;
  double log_det_l = 0.0;
  for (size_t i = 0; i < dd; i++) log_det_l += log(w[i * dd + i]);
  gmm_tri_lower_inverse(w, d);
  /* A covariance can be positive definite and still have an inverse factor
  ** beyond the largest double; it is no use for densities. */
  for (size_t i = 0; i < dd; i++)
    for (size_t p = 0; p <= i; p++)
      if (!isfinite(w[i * dd + p])) return NAN;
  return isfinite(log_det_l) ? -log_det_l : NAN;
}

/* 1/sqrt(variance); NAN when the variance is not positive and finite. */
static double prepare_variance(double var) {
  return var > 0.0 && isfinite(var) ? 1.0 / sqrt(var) : NAN;
}

gmm_status gmm_model_prepare(gmm_model *m, char *err, size_t err_len) {
  size_t dd = (size_t)m->d;
  double tied_log_det = 0.0;
  int variational = gmm_prior_variational(m->options.prior);
  /* A variational model's log_norm starts from its expected log weights. */
  if (variational) gmm_bayes_log_weights(m, m->log_norm);
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  if (shape == GMM_COV_TIED) {
    tied_log_det = prepare_full(m->covariances, m->prec_chol, m->d);
    if (isnan(tied_log_det))
      return gmm_errorf(err, err_len, GMM_EFIT, "the tied covariance is not positive definite");
  }
  for (int j = 0; j < m->k; j++) {
    double log_det_w = 0.0;
    size_t jj = (size_t)j;
    switch (shape) {
      case GMM_COV_FULL:
        log_det_w = prepare_full(m->covariances + jj * dd * dd, m->prec_chol + jj * dd * dd, m->d);
        break;
      case GMM_COV_TIED: log_det_w = tied_log_det; break;
      case GMM_COV_DIAG:
        for (size_t p = 0; p < dd && !isnan(log_det_w); p++) {
          double w = m->prec_chol[jj * dd + p] = prepare_variance(m->covariances[jj * dd + p]);
          log_det_w += log(w);
        }
        break;
      case GMM_COV_SPHERICAL: {
        double w = m->prec_chol[j] = prepare_variance(m->covariances[j]);
        log_det_w = (double)m->d * log(w);
        break;
      }
      default: break;
    }
    if (isnan(log_det_w))
      return gmm_errorf(err, err_len, GMM_EFIT,
                        "the covariance of component %d is not positive definite", j);
    double log_weight = variational ? m->log_norm[j] : log(m->weights[j]);
    m->log_norm[j] = log_weight - 0.5 * (double)m->d * GMM_LOG_2PI + log_det_w +
                     (variational ? gmm_bayes_log_lambda(m, j) : 0.0);
  }
  return GMM_OK;
}

/* mclust's nVarParams: a volume, shape and orientation each count once when
** equal (E) and k times when varying (V); a shape has d - 1 free values and
** an orientation d (d - 1) / 2. scikit-learn's _n_parameters for its four. */
double gmm_model_n_parameters(const gmm_model *m) {
  return gmm_n_parameters(m->k, m->d, m->covariance_type);
}

double gmm_n_parameters(int k_, int d_, gmm_cov_type t) {
  double k = k_, d = d_, cov = 0.0;
  double shape = d - 1, orient = d * (d - 1) / 2;
  switch (t) {
    case GMM_COV_FULL: cov = k * d * (d + 1) / 2; break;
    case GMM_COV_TIED: cov = d * (d + 1) / 2; break;
    case GMM_COV_DIAG: cov = k * d; break;
    case GMM_COV_SPHERICAL: cov = k; break;
    case GMM_COV_EII: cov = 1; break;
    case GMM_COV_EEI: cov = d; break;
    case GMM_COV_VEI: cov = k + shape; break;
    case GMM_COV_EVI: cov = 1 + k * shape; break;
    case GMM_COV_VEE: cov = k + shape + orient; break;
    case GMM_COV_EVE: cov = 1 + k * shape + orient; break;
    case GMM_COV_VVE: cov = k + k * shape + orient; break;
    case GMM_COV_EEV: cov = 1 + shape + k * orient; break;
    case GMM_COV_VEV: cov = k + shape + k * orient; break;
    case GMM_COV_EVV: cov = 1 + k * (shape + orient); break;
  }
  return cov + k * d + (k - 1);
}

double gmm_model_bic(const gmm_model *m) {
  return -2.0 * m->summary.log_likelihood + gmm_model_n_parameters(m) * log(m->summary.n_samples);
}

double gmm_model_aic(const gmm_model *m) {
  return -2.0 * m->summary.log_likelihood + 2.0 * gmm_model_n_parameters(m);
}

double gmm_model_icl(const gmm_model *m) {
  return gmm_model_bic(m) - 2.0 * m->summary.log_map;
}

double gmm_model_criterion(const gmm_model *m, gmm_criterion c) {
  switch (c) {
    case GMM_CRITERION_ICL: return gmm_model_icl(m);
    case GMM_CRITERION_AIC: return gmm_model_aic(m);
    default: return gmm_model_bic(m);
  }
}

size_t gmm_model_scratch_len(const gmm_model *m) {
  /* The differences and log densities, then the missing-value functions'. */
  return (size_t)m->k * (size_t)m->d + (size_t)m->k +
         gmm_missing_row_scratch_len(m->k, m->d, m->covariance_type);
}

/* The squared Mahalanobis distance of diff = x - mu_j under component j. */
static double mahalanobis(const gmm_model *m, int j, const double *diff) {
  size_t dd = (size_t)m->d, jj = (size_t)j;
  double q = 0.0;
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  switch (shape) {
    case GMM_COV_FULL:
    case GMM_COV_TIED: {
      const double *w = m->prec_chol + (shape == GMM_COV_FULL ? jj * dd * dd : 0);
      for (size_t i = 0; i < dd; i++) {
        const double *w_i = w + i * dd;
        double z = 0.0;
        for (size_t p = 0; p <= i; p++) z += w_i[p] * diff[p];
        q += z * z;
      }
      break;
    }
    case GMM_COV_DIAG: {
      const double *w = m->prec_chol + jj * dd;
      for (size_t p = 0; p < dd; p++) {
        double z = w[p] * diff[p];
        q += z * z;
      }
      break;
    }
    case GMM_COV_SPHERICAL: {
      /* Scale each difference before squaring: prec^2 alone overflows for a
      ** (valid) variance below about 5.6e-309. */
      double w = m->prec_chol[j];
      for (size_t p = 0; p < dd; p++) {
        double z = w * diff[p];
        q += z * z;
      }
      break;
    }
    default: break;
  }
  return q;
}

void gmm_model_log_prob(const gmm_model *m, const double *x, double *diff, double *log_p) {
  size_t dd = (size_t)m->d;
  for (int j = 0; j < m->k; j++) {
    const double *mu = m->means + (size_t)j * dd;
    double *diff_j = diff + (size_t)j * dd;
    for (size_t i = 0; i < dd; i++) diff_j[i] = x[i] - mu[i];
    /* A difference beyond the largest double (x and mu near +-1e308) is an
    ** infinite distance; left alone, 0 * Inf in the product would be NaN. */
    double q = mahalanobis(m, j, diff_j);
    log_p[j] = m->log_norm[j] - 0.5 * (isnan(q) ? INFINITY : q);
  }
}

/* Leaves the k log densities after the k x d differences in scratch. */
int gmm_model_predict_row(const gmm_model *m, const double *x, double *scratch) {
  double *log_p = scratch + (size_t)m->k * (size_t)m->d;
  if (gmm_row_has_missing(x, m->d))
    gmm_missing_row_log_prob(m, x, log_p, log_p + m->k);
  else
    gmm_model_log_prob(m, x, scratch, log_p);
  int best = 0;
  for (int j = 1; j < m->k; j++)
    if (log_p[j] > log_p[best]) best = j;
  return best;
}

double gmm_model_score_row(const gmm_model *m, const double *x, double *scratch, double *post,
                           int *label) {
  int best = gmm_model_predict_row(m, x, scratch);
  double *log_p = scratch + (size_t)m->k * (size_t)m->d;
  if (label) *label = best;
  /* When every density underflows (a row absurdly far from the model), the
  ** shares cannot be told apart: the row goes wholly to component 0. */
  return gmm_posteriors(log_p, m->k, post ? post : log_p);
}
