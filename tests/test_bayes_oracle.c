/*
** test_bayes_oracle.c -- the core's priors against their reference
** implementations: scikit-learn 1.2.1's BayesianGaussianMixture (the two
** variational priors) and R mclust 6.0.0's conjugate prior (MAP EM).
**
** tests/oracle/bayes_fixtures.h (tests/oracle/make_bayes_fixtures.py) holds,
** for Old Faithful (k = 4) and iris (k = 3), each covariance type and both
** weight priors, scikit-learn's fit from its own k-means labels with 50
** iterations and tol 0 (plus two cases with every prior parameter given and
** faithful k = 6 with the defaults), and scipy's digamma, gammaln and
** betaln at known points. tests/oracle/prior_fixtures.h
** (make_prior_fixtures.R) holds mclust's me() with priorControl() from the
** same labels, for VVV, EEE, VVI, VII, EII and EEI.
**
** The core starts from the same labels (init labels: one M-step from the
** hard partition, then EM) with the same iteration count. Measures:
**   special functions  |got - want| <= 4 ulp-ish: 1e-15 relative, or 1e-15
**                      absolute where the value is below 1
**   lower bound        every iteration's, |got - want| / |want|   <= 1e-8
**   weights, means, covariances, degrees of freedom, mean precisions,
**   concentrations, the resolved prior
**                      |got - want| / max(|want|, floor)          <= 1e-8
**                      (floor: 1e-8 of the largest |want| of the array:
**                      a switched-off weight of 1e-6 is compared on the
**                      scale of the others)
**   predict_proba      |got - want|                               <= 1e-10
**   score_samples      |got - want| / max(1, |want|)              <= 1e-10
**   predict            equal on every row
** and for mclust (reg_covar 0): log-likelihood 1e-10 relative; weights,
** means and covariances 1e-8 relative to each quantity's scale.
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
#include "oracle/bayes_fixtures.h"
#include "oracle/prior_fixtures.h"

#define PARAM_RTOL 1e-8
#define PROBA_ATOL 1e-10

/* The internal special functions (ext/core/gmm_internal.h). */
double gmm_digamma(double x);
double gmm_lgamma(double x);
double gmm_betaln(double a, double b);

static void test_special_functions(void **state) {
  (void)state;
  double worst_psi = 0.0, worst_lg = 0.0, worst_beta = 0.0;
  for (int i = 0; i < BAYES_N_SPECIAL; i++) {
    double x = bayes_special_x[i];
    double e1 = fabs(gmm_digamma(x) - bayes_digamma[i]) / fmax(1.0, fabs(bayes_digamma[i]));
    double e2 = fabs(gmm_lgamma(x) - bayes_gammaln[i]) / fmax(1.0, fabs(bayes_gammaln[i]));
    if (e1 > worst_psi) worst_psi = e1;
    if (e2 > worst_lg) worst_lg = e2;
    if (e1 > 4e-15 || e2 > 4e-15)
      print_message("x = %.17g: digamma %.17g want %.17g; lgamma %.17g want %.17g\n", x,
                    gmm_digamma(x), bayes_digamma[i], gmm_lgamma(x), bayes_gammaln[i]);
  }
  for (int i = 0; i < BAYES_N_BETALN; i++) {
    double a = bayes_betaln_ab[2 * i], b = bayes_betaln_ab[2 * i + 1];
    double e = fabs(gmm_betaln(a, b) - bayes_betaln[i]) / fmax(1.0, fabs(bayes_betaln[i]));
    if (e > worst_beta) worst_beta = e;
  }
  print_message("special functions: worst digamma %.3g, lgamma %.3g, betaln %.3g\n", worst_psi,
                worst_lg, worst_beta);
  assert_true(worst_psi <= 4e-15);
  assert_true(worst_lg <= 4e-15);
  assert_true(worst_beta <= 1e-13);
}

/* The worst |got - want| / max(|want|, floor) over n values, the floor
** 1e-8 of the largest |want|. */
static double rel_err(const double *got, const double *want, size_t n) {
  double top = 0.0, worst = 0.0;
  for (size_t i = 0; i < n; i++) top = fmax(top, fabs(want[i]));
  for (size_t i = 0; i < n; i++) {
    double e = fabs(got[i] - want[i]) / fmax(fabs(want[i]), 1e-8 * top);
    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

typedef struct trace_log {
  int n;
  double bound[200];
} trace_log;

static int record(void *ctx, int init, int iter, double lower_bound) {
  trace_log *t = ctx;
  (void)init;
  if (iter - 1 < 200) t->bound[iter - 1] = lower_bound;
  t->n = iter;
  return 0;
}

static void check_bayes_case(const bayes_case *c) {
  gmm_options opt;
  gmm_options_default(&opt, c->k);
  opt.covariance_type = (gmm_cov_type)c->cov_type;
  opt.prior = (gmm_prior)c->prior;
  opt.max_iter = c->max_iter;
  opt.tol = c->tol;
  opt.reg_covar = c->reg_covar;
  opt.init = GMM_INIT_LABELS;
  if (strstr(c->name, "_priors")) {
    opt.weight_concentration_prior = c->weight_concentration_prior;
    opt.mean_precision_prior = c->mean_precision_prior;
    opt.degrees_of_freedom_prior = c->degrees_of_freedom_prior;
    opt.mean_prior = c->mean_prior;
    opt.covariance_prior = c->covariance_prior;
  }
  gmm_data data = {c->x, (size_t)c->n, c->d, NULL, 0, c->labels};
  gmm_model *m = NULL;
  char err[256];
  trace_log tr = {0, {0}};
  gmm_status rc = gmm_fit(&data, &opt, &gmm_libc_allocator, record, &tr, &m, err, sizeof err);
  if (rc != GMM_OK) print_message("%s: %s\n", c->name, err);
  assert_int_equal(rc, GMM_OK);
  size_t k = (size_t)c->k, d = (size_t)c->d;
  gmm_cov_type t = (gmm_cov_type)c->cov_type;
  size_t n_cov = gmm_cov_len(c->k, c->d, t), n_cov1 = gmm_cov_len(1, c->d, t);
  size_t n_dof = t == GMM_COV_TIED ? 1 : k;
  double e_prior = fmax(rel_err(m->mean_prior, c->mean_prior, d),
                        rel_err(m->covariance_prior, c->covariance_prior, n_cov1));
  e_prior = fmax(e_prior, rel_err(&m->options.weight_concentration_prior,
                                  &c->weight_concentration_prior, 1));
  e_prior = fmax(e_prior, rel_err(&m->options.degrees_of_freedom_prior,
                                  &c->degrees_of_freedom_prior, 1));
  e_prior =
      fmax(e_prior, rel_err(&m->options.mean_precision_prior, &c->mean_precision_prior, 1));
  double e_bound = 0.0;
  assert_int_equal(tr.n, c->n_iter);
  for (int i = 0; i < tr.n && i < 200; i++)
    e_bound = fmax(e_bound, rel_err(&tr.bound[i], &c->lower_bound_trace[i], 1));
  e_bound = fmax(e_bound, rel_err(&m->summary.lower_bound, &c->lower_bound, 1));
  double e_w = rel_err(m->weights, c->weights, k);
  double e_mu = rel_err(m->means, c->means, k * d);
  double e_cov = rel_err(m->covariances, c->covariances, n_cov);
  double e_post = fmax(rel_err(m->degrees_of_freedom, c->degrees_of_freedom, n_dof),
                       rel_err(m->mean_precision, c->mean_precision, k));
  e_post = fmax(e_post, rel_err(m->weight_concentration, c->weight_concentration,
                                gmm_concentration_len(c->k, opt.prior)));
  double *scratch = malloc(gmm_model_scratch_len(m) * sizeof(double));
  double post[64], e_proba = 0.0, e_score = 0.0;
  int wrong = 0;
  for (int i = 0; i < c->n; i++) {
    int label;
    double s = gmm_model_score_row(m, c->x + (size_t)i * d, scratch, post, &label);
    e_score = fmax(e_score, fabs(s - c->score[i]) / fmax(1.0, fabs(c->score[i])));
    for (size_t j = 0; j < k; j++)
      e_proba = fmax(e_proba, fabs(post[j] - c->proba[(size_t)i * k + j]));
    wrong += label != c->predict[i];
  }
  free(scratch);
  print_message("%-28s bound %.2g prior %.2g w %.2g mu %.2g cov %.2g post %.2g proba %.2g "
                "score %.2g wrong %d (sklearn noise %.2g)\n",
                c->name, e_bound, e_prior, e_w, e_mu, e_cov, e_post, e_proba, e_score, wrong,
                c->translated);
  assert_true(e_prior <= PARAM_RTOL);
  assert_true(e_bound <= PARAM_RTOL);
  assert_true(e_w <= PARAM_RTOL);
  assert_true(e_mu <= PARAM_RTOL);
  assert_true(e_cov <= PARAM_RTOL);
  assert_true(e_post <= PARAM_RTOL);
  assert_true(e_proba <= PROBA_ATOL);
  assert_true(e_score <= PROBA_ATOL);
  assert_int_equal(wrong, 0);
  assert_int_equal(m->summary.n_iter, c->n_iter);
  assert_int_equal(m->summary.converged, c->converged);
  gmm_model_free(m);
}

static void test_sklearn_cases(void **state) {
  (void)state;
  for (int i = 0; i < BAYES_N_CASES; i++) check_bayes_case(&bayes_cases[i]);
}

/* Old Faithful, k = 6, Dirichlet process, scikit-learn's defaults: two
** effective components, as scikit-learn's weights say. */
static void test_faithful_dp6_effective(void **state) {
  (void)state;
  int n_effective = 0;
  for (int j = 0; j < 6; j++) n_effective += faithful_dp6_weights[j] > faithful_dp6_threshold;
  assert_int_equal(n_effective, faithful_dp6_n_active);
  gmm_options opt;
  gmm_options_default(&opt, 6);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  opt.init = GMM_INIT_LABELS;
  gmm_data data = {bayes_faithful_x, 272, 2, NULL, 0, bayes_faithful_k6_labels};
  gmm_model *m = NULL;
  char err[256];
  assert_int_equal(gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err),
                   GMM_OK);
  assert_int_equal(gmm_model_n_effective(m), 2);
  assert_int_equal(m->summary.n_iter, faithful_dp6_n_iter);
  assert_true(fabs(m->summary.lower_bound - faithful_dp6_lower_bound) <=
              1e-8 * fabs(faithful_dp6_lower_bound));
  gmm_model_free(m);
}

/* ---- mclust's conjugate prior ---- */

static gmm_cov_type mclust_type(const char *name) {
  return (gmm_cov_type)gmm_cov_type_from_name(name);
}

/* Component j's full covariance from the model's storage shape. */
static double model_cov(const gmm_model *m, int j, int p, int q) {
  size_t d = (size_t)m->d;
  switch (gmm_cov_shape(m->covariance_type)) {
    case GMM_COV_FULL: return m->covariances[(size_t)j * d * d + (size_t)p * d + (size_t)q];
    case GMM_COV_TIED: return m->covariances[(size_t)p * d + (size_t)q];
    case GMM_COV_DIAG: return p == q ? m->covariances[(size_t)j * d + (size_t)p] : 0.0;
    default: return p == q ? m->covariances[j] : 0.0;
  }
}

static void check_prior_case(const prior_case *c) {
  gmm_options opt;
  gmm_options_default(&opt, c->k);
  opt.covariance_type = mclust_type(c->model);
  opt.prior = GMM_PRIOR_CONJUGATE;
  opt.max_iter = c->n_mstep - 1;
  opt.tol = 0.0;
  opt.reg_covar = 0.0;
  opt.init = GMM_INIT_LABELS;
  gmm_data data = {c->x, (size_t)c->n, c->d, NULL, 0, c->labels};
  gmm_model *m = NULL;
  char err[256];
  gmm_status rc = gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) print_message("%s %s: %s\n", c->data, c->model, err);
  assert_int_equal(rc, GMM_OK);
  int k = c->k, d = c->d;
  /* the resolved prior */
  double e_prior = fmax(rel_err(m->mean_prior, c->prior_mean, (size_t)d),
                        rel_err(&m->options.degrees_of_freedom_prior, &c->dof, 1));
  e_prior = fmax(e_prior, rel_err(&m->options.mean_precision_prior, &c->shrinkage, 1));
  if (c->scale_len == d * d)
    e_prior = fmax(e_prior, rel_err(m->covariance_prior, c->scale, (size_t)(d * d)));
  else if (opt.covariance_type != GMM_COV_EII)
    e_prior = fmax(e_prior, rel_err(m->covariance_prior, c->scale, 1));
  double e_ll = fabs(m->summary.log_likelihood - c->loglik) / fabs(c->loglik);
  double e_w = rel_err(m->weights, c->pro, (size_t)k), e_mu = 0.0, e_cov = 0.0;
  for (int j = 0; j < k; j++)
    for (int p = 0; p < d; p++) {
      size_t jp = (size_t)(j * d * d + p * d + p);
      e_mu = fmax(e_mu, fabs(m->means[j * d + p] - c->mean[j * d + p]) / sqrt(c->sigma[jp]));
      for (int q = 0; q < d; q++) {
        size_t jq = (size_t)(j * d * d + q * d + q), pq = (size_t)(j * d * d + p * d + q);
        e_cov = fmax(e_cov, fabs(model_cov(m, j, p, q) - c->sigma[pq]) /
                                sqrt(c->sigma[jp] * c->sigma[jq]));
      }
    }
  print_message("%-8s %s path %d: prior %.2g ll %.2g w %.2g mu %.2g cov %.2g\n", c->data,
                c->model, c->path, e_prior, e_ll, e_w, e_mu, e_cov);
  assert_true(e_prior <= PARAM_RTOL);
  assert_true(e_ll <= 1e-10);
  assert_true(e_w <= PARAM_RTOL);
  assert_true(e_mu <= PARAM_RTOL);
  assert_true(e_cov <= PARAM_RTOL);
  gmm_model_free(m);
}

static void test_mclust_conjugate(void **state) {
  (void)state;
  for (int i = 0; i < PRIOR_N_CASES; i++)
    if (prior_cases[i].path == 1 ||
        (strcmp(prior_cases[i].model, "EII") != 0 && strcmp(prior_cases[i].model, "EEI") != 0))
      check_prior_case(&prior_cases[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_special_functions),
      cmocka_unit_test(test_sklearn_cases),
      cmocka_unit_test(test_faithful_dp6_effective),
      cmocka_unit_test(test_mclust_conjugate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
