/*
** test_bayes.c -- the core's priors (gmm_bayes.c, fit (16), (17)): the
** invariants and contracts the oracle test (test_bayes_oracle.c) does not
** reach.
**
**   - the variational lower bound never decreases over the iterations, for
**     every covariance type and both weight priors;
**   - prune: Old Faithful, k = 6, Dirichlet process: the pruned model has
**     the 2 effective components, n_pruned 4, and predicts the same
**     component as the full model on every row;
**   - weighted rows equal repeated rows; the thread count changes no bit;
**   - degenerate data: k above the number of distinct rows, d = 1;
**   - every refusal names its option and value (exact texts);
**   - allocation failure at every allocation of a variational, a pruned
**     and a conjugate fit: GMM_ENOMEM, nothing leaked.
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
#include "test_util.h"

static gmm_model *fit_ok(const double *x, size_t n, int d, const double *w,
                         const gmm_options *opt, gmm_trace_fn trace, void *ctx) {
  gmm_data data = {x, n, d, w, 0, NULL};
  gmm_model *m = NULL;
  char err[256] = "";
  gmm_status rc = gmm_fit(&data, opt, &gmm_libc_allocator, trace, ctx, &m, err, sizeof err);
  if (rc != GMM_OK) fail_msg("fit failed: %s", err);
  return m;
}

static void expect_error(const double *x, size_t n, int d, const gmm_options *opt,
                         const char *want) {
  gmm_data data = {x, n, d, NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = gmm_fit(&data, opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  assert_int_equal(rc, GMM_EINVAL);
  assert_null(m);
  assert_string_equal(err, want);
}

typedef struct bounds {
  int n;
  double v[1000];
} bounds;

static int record(void *ctx, int init, int iter, double lower_bound) {
  bounds *b = ctx;
  (void)init;
  if (iter == 1) b->n = 0;
  if (b->n < 1000) b->v[b->n++] = lower_bound;
  return 0;
}

/* bayes (5): the bound of each iteration is at least the previous one's. */
static void test_bound_never_decreases(void **state) {
  (void)state;
  for (int data_set = 0; data_set < 2; data_set++)
    for (int t = 0; t < 4; t++)
      for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_DIRICHLET_DISTRIBUTION; p++) {
        gmm_options opt;
        gmm_options_default(&opt, 5);
        opt.covariance_type = (gmm_cov_type)t;
        opt.prior = (gmm_prior)p;
        opt.max_iter = 300;
        opt.tol = 0.0;
        opt.init = GMM_INIT_RANDOM;
        bounds b = {0, {0}};
        gmm_model *m = data_set ? fit_ok(bayes_iris_x, 150, 4, NULL, &opt, record, &b)
                                : fit_ok(bayes_faithful_x, 272, 2, NULL, &opt, record, &b);
        assert_int_equal(b.n, 300);
        for (int i = 1; i < b.n; i++)
          if (b.v[i] < b.v[i - 1] - 1e-9 * fabs(b.v[i - 1]))
            fail_msg("%s %s prior %d: bound %.17g after %.17g at iteration %d",
                     data_set ? "iris" : "faithful", gmm_cov_type_name((gmm_cov_type)t), p,
                     b.v[i], b.v[i - 1], i + 1);
        assert_true(m->summary.lower_bound == b.v[b.n - 1]);
        gmm_model_free(m);
      }
}

/* fit (17) */
static void test_prune_keeps_labels(void **state) {
  (void)state;
  gmm_options opt;
  gmm_options_default(&opt, 6);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  gmm_model *full = fit_ok(bayes_faithful_x, 272, 2, NULL, &opt, NULL, NULL);
  assert_int_equal(gmm_model_n_effective(full), 2);
  opt.prune = 1;
  gmm_model *pruned = fit_ok(bayes_faithful_x, 272, 2, NULL, &opt, NULL, NULL);
  assert_int_equal(pruned->k, 2);
  assert_int_equal(pruned->summary.n_pruned, 4);
  assert_int_equal(pruned->options.prune, 1);
  assert_int_equal(gmm_model_n_effective(pruned), 2);
  /* the prior of the first fit: alpha0 = 1/6 */
  assert_true(pruned->options.weight_concentration_prior == 1.0 / 6.0);
  int kept[6], r = 0;
  for (int j = 0; j < 6; j++)
    if (gmm_model_effective(full, j)) kept[r++] = j;
  double *s1 = malloc(gmm_model_scratch_len(full) * sizeof(double));
  double *s2 = malloc(gmm_model_scratch_len(pruned) * sizeof(double));
  int differ = 0;
  for (size_t i = 0; i < 272; i++) {
    int a = gmm_model_predict_row(full, bayes_faithful_x + 2 * i, s1);
    int b = gmm_model_predict_row(pruned, bayes_faithful_x + 2 * i, s2);
    differ += a != kept[b];
  }
  assert_int_equal(differ, 0);
  /* the pruned weights are near the full model's, renormalised */
  double kept_mass = full->weights[kept[0]] + full->weights[kept[1]];
  for (int j = 0; j < 2; j++)
    assert_true(fabs(pruned->weights[j] - full->weights[kept[j]] / kept_mass) < 1e-3);
  free(s1);
  free(s2);
  gmm_model_free(full);
  gmm_model_free(pruned);
  /* nothing to prune: the model of the plain fit */
  gmm_options_default(&opt, 2);
  opt.prior = GMM_PRIOR_DIRICHLET_DISTRIBUTION;
  gmm_model *a = fit_ok(bayes_faithful_x, 272, 2, NULL, &opt, NULL, NULL);
  opt.prune = 1;
  gmm_model *b = fit_ok(bayes_faithful_x, 272, 2, NULL, &opt, NULL, NULL);
  assert_int_equal(b->k, 2);
  assert_int_equal(b->summary.n_pruned, 0);
  assert_memory_equal(a->means, b->means, 4 * sizeof(double));
  gmm_model_free(a);
  gmm_model_free(b);
}

/* fit (16): weights count rows. Rows 0..99 of faithful with weight 2, and
** the same rows twice each (adjacent), fit the same model to rounding. */
static void test_weighted_equals_repeated(void **state) {
  (void)state;
  double x2[400], w[100];
  for (int i = 0; i < 100; i++) {
    w[i] = 2.0;
    for (int c = 0; c < 2; c++) {
      memcpy(x2 + 4 * i + 2 * c, bayes_faithful_x + 2 * i, 2 * sizeof(double));
    }
  }
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_CONJUGATE; p++)
    for (int t = 0; t < 4; t++) {
      gmm_options opt;
      gmm_options_default(&opt, 3);
      opt.prior = (gmm_prior)p;
      opt.covariance_type = (gmm_cov_type)t;
      opt.init = GMM_INIT_KMEANS;
      opt.max_iter = 30;
      opt.tol = 0.0;
      gmm_model *a = fit_ok(bayes_faithful_x, 100, 2, w, &opt, NULL, NULL);
      gmm_model *b = fit_ok(x2, 200, 2, NULL, &opt, NULL, NULL);
      double e = 0.0;
      for (int j = 0; j < 3; j++) {
        e = fmax(e, fabs(a->weights[j] - b->weights[j]));
        for (int q = 0; q < 2; q++)
          e = fmax(e, fabs(a->means[2 * j + q] - b->means[2 * j + q]) /
                          fmax(1.0, fabs(b->means[2 * j + q])));
      }
      if (p != GMM_PRIOR_CONJUGATE)
        e = fmax(e, fabs(a->summary.lower_bound - b->summary.lower_bound) /
                        fabs(b->summary.lower_bound));
      e = fmax(e, fabs(a->summary.log_likelihood - b->summary.log_likelihood) /
                      fabs(b->summary.log_likelihood));
      if (e > 1e-9)
        fail_msg("prior %s, %s: weighted and repeated rows differ by %.3g",
                 gmm_prior_name((gmm_prior)p), gmm_cov_type_name((gmm_cov_type)t), e);
      assert_true(a->summary.n_samples == 200.0);
      gmm_model_free(a);
      gmm_model_free(b);
    }
}

/* fit (4) under priors: 1, 2 and 7 threads give the same bits. */
static void test_threads_same_bits(void **state) {
  (void)state;
  size_t n = 40000;
  double *x = malloc(n * 3 * sizeof(double));
  tu_rng r;
  tu_rng_seed(&r, 7);
  for (size_t i = 0; i < n; i++) {
    double c = (double)(i % 3) * 4.0;
    for (int q = 0; q < 3; q++) x[i * 3 + (size_t)q] = c + tu_rng_normal(&r) * (1.0 + q);
  }
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_CONJUGATE; p++) {
    gmm_model *ref = NULL;
    for (int threads = 1; threads <= 7; threads += threads == 1 ? 1 : 5) {
      gmm_options opt;
      gmm_options_default(&opt, 5);
      opt.prior = (gmm_prior)p;
      opt.threads = threads;
      opt.max_iter = 20;
      gmm_model *m = fit_ok(x, n, 3, NULL, &opt, NULL, NULL);
      if (!ref) {
        ref = m;
        continue;
      }
      assert_memory_equal(m->weights, ref->weights, 5 * sizeof(double));
      assert_memory_equal(m->means, ref->means, 15 * sizeof(double));
      assert_memory_equal(m->covariances, ref->covariances, 45 * sizeof(double));
      assert_memory_equal(&m->summary.lower_bound, &ref->summary.lower_bound, sizeof(double));
      gmm_model_free(m);
    }
    gmm_model_free(ref);
  }
  free(x);
}

/* k above the number of distinct rows; one feature. */
static void test_degenerate(void **state) {
  (void)state;
  double x[100];
  for (int i = 0; i < 50; i++) {
    x[2 * i] = (double)(i % 5);
    x[2 * i + 1] = (double)((i % 5) * (i % 5));
  }
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_DIRICHLET_DISTRIBUTION; p++)
    for (int t = 0; t < 4; t++) {
      gmm_options opt;
      gmm_options_default(&opt, 8);
      opt.prior = (gmm_prior)p;
      opt.covariance_type = (gmm_cov_type)t;
      opt.init = GMM_INIT_RANDOM;
      gmm_model *m = fit_ok(x, 50, 2, NULL, &opt, NULL, NULL);
      /* Components may share a point (the bound does not force them
      ** apart in 100 iterations); the rows of one point go to one. */
      int used[8] = {0}, n_used = 0;
      double *scratch = malloc(gmm_model_scratch_len(m) * sizeof(double)), sum = 0.0;
      for (int i = 0; i < 50; i++) used[gmm_model_predict_row(m, x + 2 * i, scratch)] = 1;
      for (int j = 0; j < 8; j++) n_used += used[j];
      for (int j = 0; j < 8; j++) sum += m->weights[j];
      free(scratch);
      assert_true(n_used >= 1 && n_used <= 5);
      assert_true(gmm_model_n_effective(m) >= n_used);
      assert_true(fabs(sum - 1.0) < 1e-12);
      assert_true(isfinite(m->summary.lower_bound));
      gmm_model_free(m);
    }
  /* d = 1: the eruptions of faithful */
  double e[272];
  for (int i = 0; i < 272; i++) e[i] = bayes_faithful_x[2 * i];
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_CONJUGATE; p++)
    for (int t = 0; t < 6; t++) {
      if (p != GMM_PRIOR_CONJUGATE && t > 3) continue;
      gmm_options opt;
      gmm_options_default(&opt, 3);
      opt.prior = (gmm_prior)p;
      opt.covariance_type = (gmm_cov_type)t;
      gmm_model *m = fit_ok(e, 272, 1, NULL, &opt, NULL, NULL);
      assert_true(isfinite(m->summary.log_likelihood));
      if (p == GMM_PRIOR_CONJUGATE) {
        /* mclust's 1-D prior: 3 degrees of freedom, scale var / k^2 */
        assert_true(m->options.degrees_of_freedom_prior == 3.0);
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < 272; i++) mean += e[i] / 272.0;
        for (int i = 0; i < 272; i++) var += (e[i] - mean) * (e[i] - mean) / 271.0;
        assert_true(fabs(m->covariance_prior[0] - var / 9.0) < 1e-12 * var);
      }
      gmm_model_free(m);
    }
}

static void test_refusals(void **state) {
  (void)state;
  const double *x = bayes_faithful_x;
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  opt.covariance_type = GMM_COV_EEV;
  expect_error(x, 272, 2, &opt,
               "prior 'dirichlet_process' takes the covariance types 'full', 'tied', 'diag' "
               "and 'spherical', provided 'EEV'");
  opt.prior = GMM_PRIOR_CONJUGATE;
  opt.covariance_type = GMM_COV_VEV;
  expect_error(x, 272, 2, &opt,
               "prior 'conjugate' takes the covariance types 'full', 'tied', 'diag', "
               "'spherical', 'EII' and 'EEI', provided 'VEV'");
  gmm_options_default(&opt, 2);
  opt.mean_precision_prior = 2.0;
  expect_error(x, 272, 2, &opt,
               "mean_precision_prior needs a prior ('dirichlet_process', "
               "'dirichlet_distribution' or 'conjugate')");
  opt.prior = GMM_PRIOR_CONJUGATE;
  opt.prune = 1;
  expect_error(x, 272, 2, &opt,
               "prune needs a variational prior ('dirichlet_process' or "
               "'dirichlet_distribution'), provided prior 'conjugate'");
  gmm_options_default(&opt, 2);
  opt.prior = GMM_PRIOR_CONJUGATE;
  opt.weight_concentration_prior = 1.0;
  expect_error(x, 272, 2, &opt,
               "weight_concentration_prior is a parameter of the variational priors "
               "('dirichlet_process', 'dirichlet_distribution'), not of 'conjugate'");
  gmm_options_default(&opt, 2);
  opt.prior = GMM_PRIOR_DIRICHLET_DISTRIBUTION;
  opt.weight_concentration_prior = 0.0;
  expect_error(x, 272, 2, &opt, "weight_concentration_prior must be a finite number > 0, provided 0");
  opt.weight_concentration_prior = 4.9e-324;
  expect_error(x, 272, 2, &opt,
               "weight_concentration_prior 4.94066e-324 is below 1e-300, where the digamma of "
               "the expected log weights overflows");
  opt.weight_concentration_prior = 1e-300; /* the smallest it takes: a finite model */
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_DIRICHLET_DISTRIBUTION; p++) {
    opt.prior = (gmm_prior)p;
    gmm_model *tiny = fit_ok(x, 272, 2, NULL, &opt, NULL, NULL);
    assert_true(isfinite(tiny->summary.lower_bound));
    size_t n = gmm_blob_size(tiny);
    unsigned char *b = malloc(n);
    gmm_blob_write(tiny, b);
    gmm_model *back = NULL;
    char why[256];
    assert_int_equal(gmm_blob_read(b, n, &gmm_libc_allocator, &back, why, sizeof why), GMM_OK);
    gmm_model_free(back);
    free(b);
    gmm_model_free(tiny);
  }
  opt.prior = GMM_PRIOR_DIRICHLET_DISTRIBUTION;
  opt.weight_concentration_prior = NAN;
  opt.mean_precision_prior = -1.0;
  expect_error(x, 272, 2, &opt, "mean_precision_prior must be a finite number > 0, provided -1");
  opt.mean_precision_prior = NAN;
  opt.degrees_of_freedom_prior = 1.0;
  expect_error(x, 272, 2, &opt,
               "degrees_of_freedom_prior must be a finite number > d - 1 = 1, provided 1");
  opt.degrees_of_freedom_prior = NAN;
  opt.max_iter = 0;
  expect_error(x, 272, 2, &opt,
               "max_iter must be at least 1 with prior 'dirichlet_distribution' (its lower "
               "bound needs an E-step), provided 0");
  opt.max_iter = 100;
  double w_init[2] = {0.5, 0.5};
  opt.weights_init = w_init;
  expect_error(x, 272, 2, &opt,
               "prior 'dirichlet_distribution' takes no weights_init, means_init or "
               "precisions_init (nor does scikit-learn's BayesianGaussianMixture): start from "
               "a partition (init 'labels') or warm-start from a model with the prior");
  opt.weights_init = NULL;
  double bad_cov[4] = {1.0, 2.0, 2.0, 1.0};
  opt.covariance_prior = bad_cov;
  expect_error(x, 272, 2, &opt, "covariance_prior is not positive definite");
  double asym[4] = {1.0, 0.5, 0.25, 1.0};
  opt.covariance_prior = asym;
  expect_error(x, 272, 2, &opt, "covariance_prior is not symmetric");
  opt.covariance_prior = NULL;
  double mean_nan[2] = {1.0, NAN};
  opt.mean_prior = mean_nan;
  expect_error(x, 272, 2, &opt, "mean_prior[1] is not finite");
  opt.mean_prior = NULL;
  opt.covariance_type = GMM_COV_DIAG;
  double neg[2] = {1.0, -2.0};
  opt.covariance_prior = neg;
  expect_error(x, 272, 2, &opt, "covariance_prior[1] must be > 0, provided -2");
  opt.covariance_prior = NULL;
  /* a missing value */
  double xm[6] = {1.0, 2.0, NAN, 3.0, 2.0, 5.0};
  gmm_options_default(&opt, 1);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  expect_error(xm, 3, 2, &opt,
               "prior 'dirichlet_process' needs every feature of every row (1 rows have a "
               "missing value); leave those rows out with missing 'skip'");
  /* a warm start from a model without the prior */
  gmm_options_default(&opt, 2);
  gmm_model *ml = fit_ok(x, 272, 2, NULL, &opt, NULL, NULL);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  opt.warm_start = ml;
  expect_error(x, 272, 2, &opt,
               "the warm-start model has prior 'none'; prior 'dirichlet_process' starts only "
               "from a model with the same prior");
  gmm_model_free(ml);
  /* selection */
  gmm_options_default(&opt, 2);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  int ks[2] = {2, 3};
  gmm_cov_type types[1] = {GMM_COV_FULL};
  gmm_data data = {x, 272, 2, NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[256];
  assert_int_equal(gmm_fit_select(&data, &opt, ks, 2, types, 1, &gmm_libc_allocator, NULL, NULL,
                                  &m, err, sizeof err),
                   GMM_EINVAL);
  assert_string_equal(err, "prior 'dirichlet_process' chooses the number of components "
                           "itself: give one k and one covariance_type");
  /* conjugate takes part in selection */
  opt.prior = GMM_PRIOR_CONJUGATE;
  assert_int_equal(gmm_fit_select(&data, &opt, ks, 2, types, 1, &gmm_libc_allocator, NULL, NULL,
                                  &m, err, sizeof err),
                   GMM_OK);
  assert_int_equal(m->n_candidates, 2);
  assert_true(m->options.mean_precision_prior == 0.01);
  gmm_model_free(m);
}

/* A warm start continues the posterior: from a variational fit of 10
** iterations, 10 more equal 20 from the start. */
static void test_warm_start(void **state) {
  (void)state;
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  opt.tol = 0.0;
  opt.max_iter = 20;
  gmm_model *twenty = fit_ok(bayes_iris_x, 150, 4, NULL, &opt, NULL, NULL);
  opt.max_iter = 10;
  gmm_model *ten = fit_ok(bayes_iris_x, 150, 4, NULL, &opt, NULL, NULL);
  opt.warm_start = ten;
  gmm_model *more = fit_ok(bayes_iris_x, 150, 4, NULL, &opt, NULL, NULL);
  for (int i = 0; i < 12; i++)
    assert_true(fabs(more->means[i] - twenty->means[i]) <= 1e-12 * fabs(twenty->means[i]));
  assert_true(fabs(more->summary.lower_bound - twenty->summary.lower_bound) <=
              1e-12 * fabs(twenty->summary.lower_bound));
  gmm_model_free(twenty);
  gmm_model_free(ten);
  gmm_model_free(more);
}

/* Every allocation of a fit refused in turn: GMM_ENOMEM, no leak. */
static void test_allocation_failures(void **state) {
  (void)state;
  for (int p = GMM_PRIOR_DIRICHLET_PROCESS; p <= GMM_PRIOR_CONJUGATE; p++) {
    gmm_options opt;
    gmm_options_default(&opt, 6);
    opt.prior = (gmm_prior)p;
    opt.prune = p == GMM_PRIOR_DIRICHLET_PROCESS;
    opt.max_iter = 20;
    opt.threads = 1;
    gmm_data data = {bayes_faithful_x, 272, 2, NULL, 0, NULL};
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    gmm_model *m = NULL;
    char err[256];
    assert_int_equal(gmm_fit(&data, &opt, &a, NULL, NULL, &m, err, sizeof err), GMM_OK);
    gmm_model_free(m);
    assert_no_leaks(&c);
    size_t calls = c.n_calls;
    for (size_t nth = 1; nth <= calls; nth++) {
      a = tu_counting_allocator(&c);
      c.fail_at = nth;
      m = NULL;
      gmm_status rc = gmm_fit(&data, &opt, &a, NULL, NULL, &m, err, sizeof err);
      assert_int_equal(rc, GMM_ENOMEM);
      assert_null(m);
      assert_string_equal(err, "out of memory");
      assert_no_leaks(&c);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bound_never_decreases),
      cmocka_unit_test(test_prune_keeps_labels),
      cmocka_unit_test(test_weighted_equals_repeated),
      cmocka_unit_test(test_threads_same_bits),
      cmocka_unit_test(test_degenerate),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_warm_start),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
