/*
** gmm_model.c -- the model object: allocation, the derived precision
** factors, parameter counts and information criteria, and the per-row log
** density and posteriors that every apply function shares.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

/* Doubles in each covariance-shaped array (covariances, prec_chol). */
static size_t cov_len(int k, int d, gmm_cov_type t) {
  size_t kk = (size_t)k, dd = (size_t)d;
  switch (t) {
    case GMM_COV_FULL: return kk * dd * dd;
    case GMM_COV_TIED: return dd * dd;
    case GMM_COV_DIAG: return kk * dd;
    case GMM_COV_SPHERICAL: return kk;
  }
  return 0;
}

gmm_model *gmm_model_new(int k, int d, gmm_cov_type t, const gmm_allocator *a) {
  if (k < 1 || k > GMM_MAX_K || d < 1 || d > GMM_MAX_D || (unsigned)t > GMM_COV_SPHERICAL)
    return NULL;
  size_t kk = (size_t)k, dd = (size_t)d;
  size_t n_cov = cov_len(k, d, t);
  /* k, d are bounded above, so these products cannot overflow size_t. */
  size_t n_doubles = kk /* weights */ + kk * dd /* means */ + 2 * n_cov + kk /* log_norm */;
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
  m->allocator = *a;
  gmm_options_default(&m->options, k);
  m->options.covariance_type = t;
  return m;
}

void gmm_model_free(gmm_model *m) {
  if (!m) return;
  gmm_allocator a = m->allocator;
  gmm_release(&a, m);
}

gmm_status gmm_model_prepare(gmm_model *m, char *err, size_t err_len) {
  size_t dd = (size_t)m->d;
  for (int j = 0; j < m->k; j++) {
    double *w = m->prec_chol + (size_t)j * dd * dd;
    memcpy(w, m->covariances + (size_t)j * dd * dd, dd * dd * sizeof *w);
    if (gmm_cholesky(w, m->d) != 0)
      return gmm_errorf(err, err_len, GMM_EFIT,
                        "the covariance of component %d is not positive definite", j);
    double log_det_l = 0.0;
    for (size_t i = 0; i < dd; i++) log_det_l += log(w[i * dd + i]);
    gmm_tri_lower_inverse(w, m->d);
    m->log_norm[j] = log(m->weights[j]) - 0.5 * (double)m->d * GMM_LOG_2PI - log_det_l;
  }
  return GMM_OK;
}

double gmm_model_n_parameters(const gmm_model *m) {
  double k = m->k, d = m->d, cov;
  switch (m->covariance_type) {
    case GMM_COV_FULL: cov = k * d * (d + 1) / 2; break;
    case GMM_COV_TIED: cov = d * (d + 1) / 2; break;
    case GMM_COV_DIAG: cov = k * d; break;
    default: cov = k; break;
  }
  return cov + k * d + (k - 1);
}

double gmm_model_bic(const gmm_model *m) {
  return -2.0 * m->summary.log_likelihood + gmm_model_n_parameters(m) * log(m->summary.n_samples);
}

double gmm_model_aic(const gmm_model *m) {
  return -2.0 * m->summary.log_likelihood + 2.0 * gmm_model_n_parameters(m);
}

size_t gmm_model_scratch_len(const gmm_model *m) {
  return (size_t)m->d + (size_t)m->k;
}

double gmm_model_score_row(const gmm_model *m, const double *x, double *scratch, double *post,
                           int *label) {
  size_t dd = (size_t)m->d;
  double *diff = scratch;
  double *log_p = scratch + dd;
  for (int j = 0; j < m->k; j++) {
    const double *mu = m->means + (size_t)j * dd;
    const double *w = m->prec_chol + (size_t)j * dd * dd;
    for (size_t i = 0; i < dd; i++) diff[i] = x[i] - mu[i];
    double q = 0.0;
    for (size_t i = 0; i < dd; i++) {
      const double *w_i = w + i * dd;
      double z = 0.0;
      for (size_t p = 0; p <= i; p++) z += w_i[p] * diff[p];
      q += z * z;
    }
    log_p[j] = m->log_norm[j] - 0.5 * q;
  }
  double lse = gmm_log_sum_exp(log_p, m->k);
  if (label) {
    int best = 0;
    for (int j = 1; j < m->k; j++)
      if (log_p[j] > log_p[best]) best = j;
    *label = best;
  }
  if (post) {
    if (isfinite(lse)) {
      for (int j = 0; j < m->k; j++) post[j] = exp(log_p[j] - lse);
    } else {
      /* Every component's density underflowed: the row is too far from all
      ** of them to tell their shares apart, so give it to the nearest. */
      int best = 0;
      for (int j = 1; j < m->k; j++)
        if (log_p[j] > log_p[best]) best = j;
      for (int j = 0; j < m->k; j++) post[j] = j == best ? 1.0 : 0.0;
    }
  }
  return lse;
}
