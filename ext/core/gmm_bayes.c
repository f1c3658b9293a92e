/*
** gmm_bayes.c -- priors on the mixture: scikit-learn's variational
** Bayesian mixture (BayesianGaussianMixture, 1.2) and mclust's conjugate
** prior for maximum a posteriori EM (priorControl, Fraley & Raftery, 2007).
**
** Requirements (tests cite them as "bayes (N)"):
**  (1) digamma and log-gamma for x > 0 in this file, not libm's lgamma
**      (which writes the global signgam and differs between C libraries):
**      recurrence up to x >= 10, then the asymptotic series, within a few
**      ulps of the true value away from lgamma's zeros at 1 and 2 (and a
**      few 1e-16 absolute there).
**  (2) The prior's defaults are scikit-learn's for the variational priors
**      (alpha0 1/k, beta0 1, m0 the column means, nu0 d, Psi0 the rows'
**      covariance with divisor n - 1, diag its diagonal, spherical their
**      mean) and mclust's defaultPrior for the conjugate prior (shrinkage
**      0.01, the column means, d + 2 degrees of freedom, the scale
**      var / k^(2/d), for diag and spherical models the mean variance over
**      k^(2/d)). Row weights count as repeated rows throughout.
**  (3) The variational M-step is scikit-learn's _m_step from the same
**      sufficient statistics as maximum likelihood's (N_j + 10 eps, the
**      means xbar_j and scatters S_j + reg_covar I of gmm_m_step): alpha_j
**      = alpha0 + N_j, or gamma_j = (1 + N_j, alpha0 + sum_{i>j} N_i);
**      beta_j = beta0 + N_j; m_j = (beta0 m0 + N_j xbar_j) / beta_j; nu_j =
**      nu0 + N_j (tied: nu0 + N / k); the covariances scikit-learn's
**      covariances_, the conjugate posterior scatter Psi0 + N_j S_j +
**      (beta0 N_j / beta_j)(xbar_j - m0)(xbar_j - m0)' over nu_j.
**  (4) The E-step (and every prediction) is the plug-in one with log_norm
**      carrying E[log w_j] and the expected log determinant of the
**      precision (gmm_model_prepare with gmm_bayes_log_weights and
**      gmm_bayes_log_lambda), so the blocked kernel runs unchanged.
**  (5) The lower bound is scikit-learn's _compute_lower_bound: the
**      responsibilities' entropy under the parameters of the E-step, the
**      Wishart and weight normalisers and the mean precisions' term under
**      the M-step's. The entropy comes from the statistics, not from a
**      log per row and component: sum_ij w_i r_ij log r_ij =
**      sum_j [N_j log_norm_j - Q_j / 2] - sum_i w_i log p(x_i), with Q_j =
**      sum_i w_i r_ij |W_j (x_i - m_j)|^2 = tr(W_j S2_j W_j').
**  (6) The conjugate prior's M-step shares (3)'s scatter; its means are
**      (N_j xbar_j + kappa mu_P) / (N_j + kappa), its weights maximum
**      likelihood's, its covariances that scatter over mclust's divisor.
*/
#include "gmm_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- special functions: bayes (1) ---- */

double gmm_digamma(double x) {
  double acc = 0.0;
  while (x < 10.0) {
    acc -= 1.0 / x;
    x += 1.0;
  }
  double r = 1.0 / (x * x);
  /* ln x - 1/(2x) - sum_n B_2n / (2n x^2n), Bernoulli numbers to B_14. */
  double series =
      r * (1.0 / 12 -
           r * (1.0 / 120 -
                r * (1.0 / 252 -
                     r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760 - r * (1.0 / 12)))))));
  return acc + log(x) - 0.5 / x - series;
}

/* The Stirling series' correction for x >= 10: lgamma(x) - [(x - 1/2) ln x
** - x + ln(2 pi) / 2] = sum_n B_2n / (2n (2n - 1) x^(2n - 1)), to B_14. */
static double stirling_correction(double x) {
  double r = 1.0 / (x * x);
  return (1.0 / 12 -
          r * (1.0 / 360 -
               r * (1.0 / 1260 -
                    r * (1.0 / 1680 - r * (1.0 / 1188 - r * (691.0 / 360360 - r * (1.0 / 156))))))) /
         x;
}

double gmm_lgamma(double x) {
  double shift = 0.0;
  if (x < 10.0) {
    /* lgamma(x) = lgamma(x + n) - ln(x (x + 1) ... (x + n - 1)) */
    double prod = 1.0;
    while (x < 10.0) {
      prod *= x;
      x += 1.0;
    }
    shift = -log(prod);
  }
  return shift + (x - 0.5) * log(x) - x + 0.5 * GMM_LOG_2PI + stirling_correction(x);
}

/* ln B(a, b) without the cancellation of lgamma(a) + lgamma(b) -
** lgamma(a + b) when a + b is large: the Stirling terms are combined
** first, with log1p for the ratios. */
double gmm_betaln(double a, double b) {
  if (a < b) {
    double t = a;
    a = b;
    b = t;
  }
  if (a < 10.0) return gmm_lgamma(a) + gmm_lgamma(b) - gmm_lgamma(a + b);
  double ab = a + b;
  /* lgamma(a) - lgamma(a + b), a >= 10 */
  double corr = stirling_correction(a) - stirling_correction(ab);
  if (b < 10.0)
    return gmm_lgamma(b) - (a - 0.5) * log1p(b / a) - b * log(ab) + b + corr;
  return 0.5 * GMM_LOG_2PI - 0.5 * log(b) - (a - 0.5) * log1p(b / a) - b * log1p(a / b) +
         stirling_correction(b) + corr;
}

/* ---- options: checks that need no rows ---- */

static int conjugate_type(gmm_cov_type t) {
  return (unsigned)t <= GMM_COV_SPHERICAL || t == GMM_COV_EII || t == GMM_COV_EEI;
}

gmm_status gmm_prior_options_check(const gmm_options *opt, int d, char *err, size_t err_len) {
  gmm_prior p = opt->prior;
  if ((unsigned)p >= GMM_N_PRIORS)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prior must be one of 'dirichlet_process', 'dirichlet_distribution', "
                      "'conjugate', provided %d",
                      (int)p);
  const char *name = gmm_prior_name(p);
  int variational = gmm_prior_variational(p);
  if (p == GMM_PRIOR_NONE) {
    const char *set = !isnan(opt->weight_concentration_prior) ? "weight_concentration_prior"
                      : !isnan(opt->mean_precision_prior)     ? "mean_precision_prior"
                      : !isnan(opt->degrees_of_freedom_prior) ? "degrees_of_freedom_prior"
                      : opt->mean_prior                       ? "mean_prior"
                      : opt->covariance_prior                 ? "covariance_prior"
                      : opt->prune                            ? "prune"
                                                              : NULL;
    if (set)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "%s needs a prior ('dirichlet_process', 'dirichlet_distribution' or "
                        "'conjugate')",
                        set);
    return GMM_OK;
  }
  if (variational && (unsigned)opt->covariance_type > GMM_COV_SPHERICAL)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prior '%s' takes the covariance types 'full', 'tied', 'diag' and "
                      "'spherical', provided '%s'",
                      name, gmm_cov_type_name(opt->covariance_type));
  if (!variational && !conjugate_type(opt->covariance_type))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prior 'conjugate' takes the covariance types 'full', 'tied', 'diag', "
                      "'spherical', 'EII' and 'EEI', provided '%s'",
                      gmm_cov_type_name(opt->covariance_type));
  if (!variational && !isnan(opt->weight_concentration_prior))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "weight_concentration_prior is a parameter of the variational priors "
                      "('dirichlet_process', 'dirichlet_distribution'), not of 'conjugate'");
  if (!variational && opt->prune)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prune needs a variational prior ('dirichlet_process' or "
                      "'dirichlet_distribution'), provided prior 'conjugate'");
  double a0 = opt->weight_concentration_prior, b0 = opt->mean_precision_prior;
  double nu0 = opt->degrees_of_freedom_prior;
  if (!isnan(a0) && !(a0 > 0.0 && isfinite(a0)))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "weight_concentration_prior must be a finite number > 0, provided %g", a0);
  if (!isnan(a0) && a0 < 1e-300)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "weight_concentration_prior %g is below 1e-300, where the digamma of the "
                      "expected log weights overflows",
                      a0);
  if (!isnan(b0) && !(b0 > 0.0 && isfinite(b0)))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "mean_precision_prior must be a finite number > 0, provided %g", b0);
  if (!isnan(nu0) && !(isfinite(nu0) && (d == 0 || nu0 > (double)d - 1.0)))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "degrees_of_freedom_prior must be a finite number > d - 1 = %d, provided %g",
                      d - 1, nu0);
  if (variational && opt->max_iter < 1)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "max_iter must be at least 1 with prior '%s' (its lower bound needs an "
                      "E-step), provided %d",
                      name, opt->max_iter);
  if (variational && (opt->weights_init || opt->means_init || opt->precisions_init))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prior '%s' takes no weights_init, means_init or precisions_init (nor "
                      "does scikit-learn's BayesianGaussianMixture): start from a partition "
                      "(init 'labels') or warm-start from a model with the prior",
                      name);
  if (variational && opt->warm_start && opt->warm_start->options.prior != p)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the warm-start model has prior '%s'; prior '%s' starts only from a "
                      "model with the same prior",
                      gmm_prior_name(opt->warm_start->options.prior), name);
  return GMM_OK;
}

/* ---- the prior's parameters: bayes (2) ---- */

gmm_status gmm_prior_resolve(gmm_model *m, const gmm_options *opt, const gmm_data *data,
                             const double *data_mean, char *err, size_t err_len) {
  size_t dd = (size_t)m->d;
  int k = m->k, d = m->d;
  gmm_prior p = opt->prior;
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  int variational = gmm_prior_variational(p);
  gmm_options *o = &m->options;
  o->prior = p;
  o->weight_concentration_prior =
      !variational ? NAN
      : isnan(opt->weight_concentration_prior) ? 1.0 / (double)k
                                               : opt->weight_concentration_prior;
  o->mean_precision_prior = !isnan(opt->mean_precision_prior) ? opt->mean_precision_prior
                            : variational                     ? 1.0
                                                              : 0.01;
  o->degrees_of_freedom_prior = !isnan(opt->degrees_of_freedom_prior)
                                    ? opt->degrees_of_freedom_prior
                                    : (double)d + (variational ? 0.0 : 2.0);
  o->prune = opt->prune;
  if (opt->mean_prior) {
    for (size_t q = 0; q < dd; q++)
      if (!isfinite(opt->mean_prior[q]))
        return gmm_errorf(err, err_len, GMM_EINVAL, "mean_prior[%zu] is not finite", q);
    memcpy(m->mean_prior, opt->mean_prior, dd * sizeof(double));
  } else {
    memcpy(m->mean_prior, data_mean, dd * sizeof(double));
  }
  size_t n_cov = gmm_cov_len(1, d, shape);
  double *psi = m->covariance_prior;
  if (opt->covariance_prior) {
    const double *c = opt->covariance_prior;
    for (size_t i = 0; i < n_cov; i++)
      if (!isfinite(c[i]))
        return gmm_errorf(err, err_len, GMM_EINVAL, "covariance_prior[%zu] is not finite", i);
    if (shape == GMM_COV_FULL || shape == GMM_COV_TIED) {
      for (size_t r = 0; r < dd; r++)
        for (size_t q = 0; q < r; q++)
          if (fabs(c[r * dd + q] - c[q * dd + r]) >
              1e-8 * (fabs(c[r * dd + q]) + fabs(c[q * dd + r])))
            return gmm_errorf(err, err_len, GMM_EINVAL, "covariance_prior is not symmetric");
      memcpy(psi, c, dd * dd * sizeof(double));
      /* m->prec_chol has room for one d x d matrix. */
      memcpy(m->prec_chol, c, dd * dd * sizeof(double));
      if (gmm_cholesky(m->prec_chol, d) != 0)
        return gmm_errorf(err, err_len, GMM_EINVAL, "covariance_prior is not positive definite");
    } else {
      for (size_t i = 0; i < n_cov; i++)
        if (!(c[i] > 0.0))
          return gmm_errorf(err, err_len, GMM_EINVAL,
                            "covariance_prior[%zu] must be > 0, provided %g", i, c[i]);
      memcpy(psi, c, n_cov * sizeof(double));
    }
    return GMM_OK;
  }
  /* The rows' covariance around their mean, weights as repeated rows. */
  double total = 0.0;
  int full = shape == GMM_COV_FULL || shape == GMM_COV_TIED;
  double *acc = psi; /* full: d x d (lower triangle first); else diag below */
  if (full) memset(acc, 0, dd * dd * sizeof(double));
  double diag[GMM_MAX_D];
  memset(diag, 0, sizeof diag);
  for (size_t i = 0; i < data->n; i++) {
    double w = gmm_row_weight(data, i);
    if (!(w > 0.0)) continue;
    const double *x = data->x + i * dd;
    total += w;
    for (size_t r = 0; r < dd; r++) {
      double a = x[r] - data_mean[r];
      if (full)
        for (size_t q = 0; q <= r; q++) acc[r * dd + q] += w * a * (x[q] - data_mean[q]);
      else
        diag[r] += w * a * a;
    }
  }
  if (!(total > 1.0))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the default covariance_prior is the rows' covariance, which needs rows "
                      "of total weight above 1 (provided %g)",
                      total);
  double divisor = total - 1.0;
  if (full) {
    for (size_t r = 0; r < dd; r++)
      for (size_t q = 0; q <= r; q++) acc[q * dd + r] = acc[r * dd + q] /= divisor;
  } else {
    for (size_t r = 0; r < dd; r++) diag[r] /= divisor;
  }
  if (!variational) {
    /* mclust: var / k^(2/d); diagonal and spherical models the mean variance. */
    double scale = pow((double)k, 2.0 / (double)d);
    if (full) {
      for (size_t i = 0; i < dd * dd; i++) acc[i] /= scale;
    } else {
      double mean = 0.0;
      for (size_t r = 0; r < dd; r++) mean += diag[r];
      mean /= (double)d;
      for (size_t i = 0; i < n_cov; i++) acc[i] = mean / scale;
    }
    return GMM_OK;
  }
  if (shape == GMM_COV_DIAG) {
    memcpy(acc, diag, dd * sizeof(double));
  } else if (shape == GMM_COV_SPHERICAL) {
    double mean = 0.0;
    for (size_t r = 0; r < dd; r++) mean += diag[r];
    acc[0] = mean / (double)d;
  }
  return GMM_OK;
}

/* ---- the variational E-step's constants: bayes (4) ---- */

void gmm_bayes_log_weights(const gmm_model *m, double *out) {
  int k = m->k;
  const double *c = m->weight_concentration;
  if (m->options.prior == GMM_PRIOR_DIRICHLET_PROCESS) {
    /* E[ln v_j] + sum_{i<j} E[ln(1 - v_i)], v_j ~ Beta(c[j], c[k + j]). */
    double before = 0.0;
    for (int j = 0; j < k; j++) {
      double dsum = gmm_digamma(c[j] + c[k + j]);
      out[j] = gmm_digamma(c[j]) - dsum + before;
      before += gmm_digamma(c[k + j]) - dsum;
    }
    return;
  }
  double sum = 0.0;
  for (int j = 0; j < k; j++) sum += c[j];
  double dsum = gmm_digamma(sum);
  for (int j = 0; j < k; j++) out[j] = gmm_digamma(c[j]) - dsum;
}

double gmm_bayes_log_lambda(const gmm_model *m, int j) {
  double d = (double)m->d;
  double nu = m->degrees_of_freedom[gmm_cov_shape(m->covariance_type) == GMM_COV_TIED ? 0 : j];
  double psi = 0.0;
  for (int i = 0; i < m->d; i++) psi += gmm_digamma(0.5 * (nu - (double)i));
  return -0.5 * d * log(nu) + 0.5 * (d * GMM_LN2 + psi - d / m->mean_precision[j]);
}

/* The posterior mean weights from the concentrations (scikit-learn's
** _set_parameters). */
void gmm_bayes_weights(gmm_model *m) {
  int k = m->k;
  const double *c = m->weight_concentration;
  double sum = 0.0;
  if (m->options.prior == GMM_PRIOR_DIRICHLET_PROCESS) {
    double rest = 1.0;
    for (int j = 0; j < k; j++) {
      double total = c[j] + c[k + j];
      m->weights[j] = c[j] / total * rest;
      rest *= c[k + j] / total;
      sum += m->weights[j];
    }
  } else {
    for (int j = 0; j < k; j++) sum += m->weights[j] = c[j];
  }
  for (int j = 0; j < k; j++) m->weights[j] /= sum;
}

/* ---- the M-steps: bayes (3), (6) ---- */

/* The conjugate posterior scatter, bayes (3): Psi0 + n S + c (xbar - m0)
** (xbar - m0)' for one component (n = N_j, c = beta0 N_j / beta_j) or,
** for tied, the sum over components (n = N / k, c_j = beta0 N_j /
** (k beta_j)). cov holds S in the storage shape and receives the scatter;
** xbar holds the k means (one for one component). */
static void conjugate_scatter(gmm_cov_type shape, int d, const double *psi0, const double *m0,
                              double n, const double *c, const double *xbar, int n_means,
                              double *cov) {
  size_t dd = (size_t)d;
  size_t len = shape == GMM_COV_FULL || shape == GMM_COV_TIED ? dd * dd
               : shape == GMM_COV_DIAG                        ? dd
                                                              : 1;
  for (size_t i = 0; i < len; i++) cov[i] = psi0[i] + n * cov[i];
  for (int j = 0; j < n_means; j++) {
    double diff[GMM_MAX_D], sq = 0.0;
    for (size_t p = 0; p < dd; p++) {
      diff[p] = xbar[(size_t)j * dd + p] - m0[p];
      sq += diff[p] * diff[p];
    }
    if (len == dd * dd && shape != GMM_COV_DIAG)
      for (size_t p = 0; p < dd; p++)
        for (size_t q = 0; q < dd; q++) cov[p * dd + q] += c[j] * (diff[p] * diff[q]);
    else if (shape == GMM_COV_DIAG)
      for (size_t p = 0; p < dd; p++) cov[p] += c[j] * (diff[p] * diff[p]);
    else
      cov[0] += c[j] * (sq / (double)d);
  }
}

int gmm_bayes_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar) {
  int k = m->k, d = m->d;
  size_t kk = (size_t)k, dd = (size_t)d;
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  const gmm_options *o = &m->options;
  /* xbar_j into means, S_j + reg_covar I into covariances. */
  int n_empty = gmm_m_step(m, st, shift, reg_covar, NULL, NULL);
  double nk[GMM_MAX_K], c[GMM_MAX_K], total = 0.0;
  for (size_t j = 0; j < kk; j++) total += nk[j] = st->nk[j] + 10 * DBL_EPSILON;
  double a0 = o->weight_concentration_prior, b0 = o->mean_precision_prior;
  double nu0 = o->degrees_of_freedom_prior;
  double *conc = m->weight_concentration;
  if (o->prior == GMM_PRIOR_DIRICHLET_PROCESS) {
    double after = 0.0; /* sum_{i>j} N_i, accumulated from the last */
    for (size_t j = kk; j-- > 0;) {
      conc[j] = 1.0 + nk[j];
      conc[kk + j] = a0 + after;
      after += nk[j];
    }
  } else {
    for (size_t j = 0; j < kk; j++) conc[j] = a0 + nk[j];
  }
  for (size_t j = 0; j < kk; j++) m->mean_precision[j] = b0 + nk[j];
  if (shape == GMM_COV_TIED) {
    for (size_t j = 0; j < kk; j++) c[j] = b0 / (double)k * (nk[j] / m->mean_precision[j]);
    double nu = nu0 + total / (double)k;
    conjugate_scatter(shape, d, m->covariance_prior, m->mean_prior, total / (double)k, c,
                      m->means, k, m->covariances);
    for (size_t i = 0; i < dd * dd; i++) m->covariances[i] /= nu;
    m->degrees_of_freedom[0] = nu;
  } else {
    size_t n_cov1 = gmm_cov_len(1, d, shape);
    for (size_t j = 0; j < kk; j++) {
      double nu = nu0 + nk[j];
      double *cov = m->covariances + j * n_cov1;
      /* scikit-learn: diag and spherical N (S + beta0 / beta d^2), full
      ** N S + N beta0 / beta d d' */
      c[0] = shape == GMM_COV_FULL ? nk[j] * b0 / m->mean_precision[j]
                                   : nk[j] * (b0 / m->mean_precision[j]);
      conjugate_scatter(shape, d, m->covariance_prior, m->mean_prior, nk[j], c,
                        m->means + j * dd, 1, cov);
      for (size_t i = 0; i < n_cov1; i++) cov[i] /= nu;
      m->degrees_of_freedom[j] = nu;
    }
  }
  for (size_t j = 0; j < kk; j++) {
    double *mu = m->means + j * dd;
    for (size_t p = 0; p < dd; p++)
      mu[p] = (b0 * m->mean_prior[p] + nk[j] * mu[p]) / m->mean_precision[j];
  }
  gmm_bayes_weights(m);
  return n_empty;
}

/* ---- the lower bound: bayes (5) ---- */

/* ln det of the inverse Cholesky factor of component j's covariance. */
static double log_det_chol(const gmm_model *m, int j) {
  size_t dd = (size_t)m->d, jj = (size_t)j;
  double s = 0.0;
  switch (gmm_cov_shape(m->covariance_type)) {
    case GMM_COV_FULL:
      for (size_t p = 0; p < dd; p++) s += log(m->prec_chol[jj * dd * dd + p * dd + p]);
      break;
    case GMM_COV_TIED:
      for (size_t p = 0; p < dd; p++) s += log(m->prec_chol[p * dd + p]);
      break;
    case GMM_COV_DIAG:
      for (size_t p = 0; p < dd; p++) s += log(m->prec_chol[jj * dd + p]);
      break;
    default: s = (double)m->d * log(m->prec_chol[j]); break;
  }
  return s;
}

double gmm_bayes_expected_log_rho(const gmm_model *m, const gmm_stats *st) {
  int d = m->d;
  size_t dd = (size_t)d;
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  double sum = 0.0;
  for (int j = 0; j < m->k; j++) {
    size_t jj = (size_t)j;
    double q = 0.0;
    if (st->diag_only) {
      const double *s2 = st->s2 + jj * dd;
      for (size_t p = 0; p < dd; p++) {
        double w = shape == GMM_COV_DIAG ? m->prec_chol[jj * dd + p] : m->prec_chol[j];
        q += w * w * s2[p];
      }
    } else {
      /* tr(W S2 W') with S2 symmetric from its lower triangle. */
      const double *w = m->prec_chol + (shape == GMM_COV_FULL ? jj * dd * dd : 0);
      const double *s2 = st->s2 + jj * dd * dd;
      for (size_t i = 0; i < dd; i++) {
        const double *wi = w + i * dd;
        for (size_t p = 0; p <= i; p++) {
          double acc = 0.0;
          for (size_t r = 0; r <= i; r++) acc += (r >= p ? s2[r * dd + p] : s2[p * dd + r]) * wi[r];
          q += wi[p] * acc;
        }
      }
    }
    if (st->nk[j] > 0.0) sum += st->nk[j] * m->log_norm[j] - 0.5 * q;
  }
  return sum;
}

double gmm_bayes_lower_bound(const gmm_model *m, double sum_r_log_r) {
  int k = m->k, d = m->d;
  double dd = (double)d;
  int tied = gmm_cov_shape(m->covariance_type) == GMM_COV_TIED;
  double log_wishart = 0.0;
  for (int j = 0; j < (tied ? 1 : k); j++) {
    double nu = m->degrees_of_freedom[j];
    double h = log_det_chol(m, j) - 0.5 * dd * log(nu);
    double lg = 0.0;
    for (int i = 0; i < d; i++) lg += gmm_lgamma(0.5 * (nu - (double)i));
    log_wishart += -(nu * h + nu * dd * 0.5 * GMM_LN2 + lg);
  }
  if (tied) log_wishart *= (double)k;
  const double *c = m->weight_concentration;
  double log_norm_weight = 0.0;
  if (m->options.prior == GMM_PRIOR_DIRICHLET_PROCESS) {
    for (int j = 0; j < k; j++) log_norm_weight -= gmm_betaln(c[j], c[k + j]);
  } else {
    double sum = 0.0, lg = 0.0;
    for (int j = 0; j < k; j++) {
      sum += c[j];
      lg += gmm_lgamma(c[j]);
    }
    log_norm_weight = gmm_lgamma(sum) - lg;
  }
  double log_beta = 0.0;
  for (int j = 0; j < k; j++) log_beta += log(m->mean_precision[j]);
  return -sum_r_log_r - log_wishart - log_norm_weight - 0.5 * dd * log_beta;
}

/* ---- the conjugate prior's M-step: bayes (6) ----
** mclust's me() with priorControl() (the MAP M-steps of Fraley & Raftery,
** 2007, as mclust 6 implements them), for n_j = N_j, c_j = kappa n_j /
** (n_j + kappa), B_j = n_j S_j + c_j (xbar_j - mu_P)(xbar_j - mu_P)' and
** the scale Lambda (lambda for the diagonal and spherical models):
**   VVV  Sigma_j = (Lambda + B_j) / (nu + n_j + d + 2)
**   EEE  Sigma   = (Lambda + sum_j B_j) / (nu + n + d + 1 + k)
**   VVI  Sigma_j = diag(lambda + B_j) / (nu + n_j + 3)
**   VII  s_j     = (lambda + tr B_j) / (nu + d n_j + d + 2)
**   EEI  Sigma   = diag(lambda + sum_j B_j) / (nu + n + 2), means xbar_j
**   EII  s       = sum_j tr B_j / (nu + (n + k) d + 2) (mclust leaves the
**                  scale out of EII)
** and means (n_j xbar_j + kappa mu_P) / (n_j + kappa) (EEI: xbar_j). */
int gmm_map_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar) {
  int k = m->k, d = m->d;
  size_t kk = (size_t)k, dd = (size_t)d;
  gmm_cov_type t = m->covariance_type, shape = gmm_cov_shape(t);
  const gmm_options *o = &m->options;
  int n_empty = gmm_m_step(m, st, shift, reg_covar, NULL, NULL);
  double kappa = o->mean_precision_prior, nu = o->degrees_of_freedom_prior;
  double nk[GMM_MAX_K], c[GMM_MAX_K], n = 0.0;
  for (size_t j = 0; j < kk; j++) {
    n += nk[j] = st->nk[j] + 10 * DBL_EPSILON;
    c[j] = kappa * nk[j] / (nk[j] + kappa);
  }
  size_t n_cov1 = gmm_cov_len(1, d, shape);
  const double *lambda = m->covariance_prior;
  switch (t) {
    case GMM_COV_FULL:
    case GMM_COV_DIAG:
      for (size_t j = 0; j < kk; j++) {
        double *cov = m->covariances + j * n_cov1;
        conjugate_scatter(shape, d, lambda, m->mean_prior, nk[j], c + j, m->means + j * dd, 1,
                          cov);
        double div = t == GMM_COV_FULL ? nu + nk[j] + (double)d + 2.0 : nu + nk[j] + 3.0;
        for (size_t i = 0; i < n_cov1; i++) cov[i] /= div;
      }
      break;
    case GMM_COV_TIED: {
      conjugate_scatter(shape, d, lambda, m->mean_prior, n, c, m->means, k, m->covariances);
      double div = nu + n + (double)d + 1.0 + (double)k;
      for (size_t i = 0; i < dd * dd; i++) m->covariances[i] /= div;
      break;
    }
    case GMM_COV_SPHERICAL:
      /* spherical variances are means over the features: lambda / d + n s + c |diff|^2 / d */
      for (size_t j = 0; j < kk; j++) {
        double per_feature = lambda[0] / (double)d;
        conjugate_scatter(shape, d, &per_feature, m->mean_prior, nk[j], c + j, m->means + j * dd,
                          1, m->covariances + j);
        m->covariances[j] *= (double)d / (nu + (double)d * nk[j] + (double)d + 2.0);
      }
      break;
    case GMM_COV_EEI: {
      /* pooled: lambda + sum_j B_j, the diagonals */
      double pooled[GMM_MAX_D];
      memcpy(pooled, lambda, dd * sizeof(double));
      for (size_t j = 0; j < kk; j++) {
        double *cov = m->covariances + j * dd;
        conjugate_scatter(GMM_COV_DIAG, d, pooled, m->mean_prior, nk[j], c + j,
                          m->means + j * dd, 1, cov);
        memcpy(pooled, cov, dd * sizeof(double));
      }
      double div = nu + n + 2.0;
      for (size_t j = 0; j < kk; j++)
        for (size_t p = 0; p < dd; p++) m->covariances[j * dd + p] = pooled[p] / div;
      break;
    }
    default: { /* EII */
      double pooled = 0.0;
      for (size_t j = 0; j < kk; j++) {
        conjugate_scatter(GMM_COV_SPHERICAL, d, &pooled, m->mean_prior, nk[j], c + j,
                          m->means + j * dd, 1, m->covariances + j);
        pooled = m->covariances[j];
      }
      double s = pooled * (double)d / (nu + (n + (double)k) * (double)d + 2.0);
      for (size_t j = 0; j < kk; j++) m->covariances[j] = s;
      break;
    }
  }
  if (t != GMM_COV_EEI)
    for (size_t j = 0; j < kk; j++) {
      double *mu = m->means + j * dd;
      for (size_t p = 0; p < dd; p++)
        mu[p] = (nk[j] * mu[p] + kappa * m->mean_prior[p]) / (nk[j] + kappa);
    }
  return n_empty;
}
