/*
** fuzz_pass_common.h -- what fuzz_pass.c and fuzz_pass_sql.c both check of
** a model the pass functions give: sound parameters and summary.
*/
#ifndef FUZZ_PASS_COMMON_H
#define FUZZ_PASS_COMMON_H

#include "fuzz_common.h"
#include "gmm.h"

#include <math.h>

/* Whether a model's parameters are sound: what every model BLOB holds. */
static void check_model(const gmm_model *m, const char *what) {
  size_t k = (size_t)m->k, d = (size_t)m->d;
  double sum = 0.0;
  for (size_t j = 0; j < k; j++) {
    FUZZ_CHECK_MSG(m->weights[j] >= 0.0 && m->weights[j] <= 1.0, "%s: weight %zu is %g", what, j,
                   m->weights[j]);
    sum += m->weights[j];
  }
  FUZZ_CHECK_MSG(fabs(sum - 1.0) <= 1e-9, "%s: the weights sum to %.17g", what, sum);
  for (size_t i = 0; i < k * d; i++)
    FUZZ_CHECK_MSG(isfinite(m->means[i]), "%s: mean %zu is %g", what, i, m->means[i]);
  size_t n_cov = gmm_cov_len(m->k, m->d, m->covariance_type);
  for (size_t i = 0; i < n_cov; i++)
    FUZZ_CHECK_MSG(isfinite(m->covariances[i]), "%s: covariance %zu is %g", what, i,
                   m->covariances[i]);
  for (size_t j = 0; j < k; j++)
    FUZZ_CHECK_MSG(!isnan(m->log_norm[j]), "%s: log_norm %zu is NaN", what, j);
  FUZZ_CHECK_MSG(isfinite(m->summary.log_likelihood), "%s: log-likelihood %g", what,
                 m->summary.log_likelihood);
  FUZZ_CHECK_MSG(isfinite(m->summary.n_samples) && m->summary.n_samples > 0.0,
                 "%s: n_samples %g", what, m->summary.n_samples);
  FUZZ_CHECK_MSG(isfinite(gmm_model_bic(m)) && isfinite(gmm_model_aic(m)), "%s: BIC %g, AIC %g",
                 what, gmm_model_bic(m), gmm_model_aic(m));
}

#endif /* FUZZ_PASS_COMMON_H */
