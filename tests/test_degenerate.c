/*
** test_degenerate.c -- cmocka tests of the numeric core (ext/core/gmm.h) on
** degenerate and hostile data, and of every option at its limit and one
** past it. Each test's comment writes down the expected outcome; a test
** that fails shows the extension does not (yet) meet it.
**
** Build and run from the repository root (after `make`):
**   cc -std=c11 -O2 -g -Wall -Wextra -Iext/core -o build/test_degenerate \
**      tests/test_degenerate.c build/obj/core/[a-z]*.o -lcmocka -lm
**   ./build/test_degenerate
** GMM_QUICK=1 skips the d = 1000 fits with d x d covariances (seconds
** natively, far too long under valgrind).
**
** The tests include only gmm.h (through tests/test_util.h); the reference
** numbers are computed here. "A finite model" below means: GMM_OK, every
** weight, mean, covariance and prepared value finite, weights >= 0 summing
** to 1 (1e-9), every covariance positive definite (a Cholesky factor
** exists: full, tied; every variance > 0: diag, spherical), a finite
** log-likelihood, n_empty between 0 and k and counting exactly the
** components whose weight is below one row's worth of 1e-10, and for every
** training row score_row finite, posteriors in [0, 1] summing to 1 (1e-12)
** and a label in 0 .. k-1 with the largest posterior. "A clear error"
** means: GMM_EFIT (or GMM_EINVAL where stated), *out left NULL, and a
** non-empty message without "nan" in it.
*/
#define _DEFAULT_SOURCE /* fork, pipe, kill, usleep for the hang guard */
#include "test_util.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const gmm_cov_type ALL_COVS[4] = {GMM_COV_FULL, GMM_COV_TIED, GMM_COV_DIAG,
                                         GMM_COV_SPHERICAL};
static const gmm_init_method ALL_INITS[4] = {GMM_INIT_KMEANS, GMM_INIT_KMEANS_PP, GMM_INIT_RANDOM,
                                             GMM_INIT_RANDOM_FROM_DATA};

static int quick_mode(void) {
  const char *q = getenv("GMM_QUICK");
  return q && q[0] && strcmp(q, "0") != 0;
}

/* ------------------------------------------------------------------------
** Helpers.
*/

/* The message contains "nan" (any case): a NaN leaked into the text. */
static int mentions_nan(const char *s) {
  for (; *s; s++)
    if (tolower((unsigned char)s[0]) == 'n' && tolower((unsigned char)s[1]) == 'a' &&
        tolower((unsigned char)s[2]) == 'n')
      return 1;
  return 0;
}

static double *alloc_scratch(const gmm_model *m) {
  double *s = malloc(sizeof(double) * (gmm_model_scratch_len(m) + 1));
  assert_non_null(s);
  return s;
}

/* Every parameter of m is sound (the "finite model" of the header). The
** label says which case is checked, for the failure message. */
static void check_model_sound(const char *label, const gmm_model *m) {
  size_t kk = (size_t)m->k, dd = (size_t)m->d;
  size_t n_cov = tu_cov_len(m->k, m->d, m->covariance_type);
  if (!tu_all_finite(m->weights, kk)) fail_msg("%s: a weight is not finite", label);
  if (!tu_all_finite(m->means, kk * dd)) fail_msg("%s: a mean is not finite", label);
  if (!tu_all_finite(m->covariances, n_cov)) fail_msg("%s: a covariance is not finite", label);
  if (!tu_all_finite(m->prec_chol, n_cov)) fail_msg("%s: a precision factor is not finite", label);
  if (!tu_all_finite(m->log_norm, kk)) fail_msg("%s: a log normaliser is not finite", label);
  double sum = 0.0;
  for (size_t j = 0; j < kk; j++) {
    if (m->weights[j] < 0.0 || m->weights[j] > 1.0)
      fail_msg("%s: weight %zu = %g is outside [0, 1]", label, j, m->weights[j]);
    sum += m->weights[j];
  }
  if (fabs(sum - 1.0) > 1e-9) fail_msg("%s: the weights sum to %.17g", label, sum);
  if (m->covariance_type == GMM_COV_FULL || m->covariance_type == GMM_COV_TIED) {
    size_t n_mats = m->covariance_type == GMM_COV_FULL ? kk : 1;
    double *l = malloc(sizeof(double) * dd * dd);
    assert_non_null(l);
    for (size_t j = 0; j < n_mats; j++) {
      const double *c = m->covariances + j * dd * dd;
      for (size_t p = 0; p < dd; p++)
        for (size_t q = 0; q < p; q++)
          if (c[p * dd + q] != c[q * dd + p])
            fail_msg("%s: covariance %zu is not symmetric at (%zu, %zu)", label, j, p, q);
      if (tu_cholesky(c, m->d, l) != 0) {
        free(l);
        fail_msg("%s: covariance %zu is not positive definite", label, j);
      }
    }
    free(l);
  } else {
    for (size_t i = 0; i < n_cov; i++)
      if (!(m->covariances[i] > 0.0))
        fail_msg("%s: variance %zu = %g is not > 0", label, i, m->covariances[i]);
  }
  if (!isfinite(m->summary.log_likelihood))
    fail_msg("%s: the log-likelihood %g is not finite", label, m->summary.log_likelihood);
  if (m->summary.n_empty < 0 || m->summary.n_empty > m->k)
    fail_msg("%s: n_empty = %d is outside 0 .. k", label, m->summary.n_empty);
  /* Empty components reported: a component with less than 0.5e-10 rows'
  ** worth of weight must be counted, one with more than 2e-10 must not. */
  double n = m->summary.n_samples;
  int surely_empty = 0, maybe_empty = 0;
  for (size_t j = 0; j < kk; j++) {
    surely_empty += m->weights[j] * n < 0.5e-10;
    maybe_empty += m->weights[j] * n < 2e-10;
  }
  if (m->summary.n_iter > 0 &&
      (m->summary.n_empty < surely_empty || m->summary.n_empty > maybe_empty))
    fail_msg(
        "%s: n_empty = %d, but %d components have under 0.5e-10 rows' weight and %d under "
        "2e-10",
        label, m->summary.n_empty, surely_empty, maybe_empty);
}

/* Scores rows x (n x d): every score finite, posteriors in [0, 1] summing
** to 1 within 1e-12, label in range with the largest posterior. Labels go
** to labels (may be NULL). */
static void check_rows_scored(const char *label, const gmm_model *m, const double *x, size_t n,
                              int *labels) {
  double *scratch = alloc_scratch(m);
  double *post = malloc(sizeof(double) * (size_t)m->k);
  assert_non_null(post);
  for (size_t i = 0; i < n; i++) {
    int lab = -1;
    double s = gmm_model_score_row(m, x + i * (size_t)m->d, scratch, post, &lab);
    double sum = 0.0;
    int bad = !isfinite(s) || lab < 0 || lab >= m->k;
    for (int j = 0; j < m->k && !bad; j++) {
      if (!(post[j] >= 0.0 && post[j] <= 1.0)) bad = 1;
      sum += post[j];
    }
    if (!bad && (fabs(sum - 1.0) > 1e-12)) bad = 1;
    if (!bad)
      for (int j = 0; j < m->k; j++)
        if (post[j] > post[lab]) bad = 1;
    if (bad) {
      double score = s;
      int label_got = lab;
      free(scratch);
      free(post);
      fail_msg("%s: row %zu scored %.17g, label %d, posteriors summing to %.17g", label, i, score,
               label_got, sum);
    }
    if (labels) labels[i] = lab;
  }
  free(scratch);
  free(post);
}

/* The outcome "a finite model or a clear error": returns 1 for a model
** (checked sound), 0 for a clear GMM_EFIT; fails on anything else. The
** outcome is printed for the record. */
static int model_or_clear_error(const char *label, gmm_status rc, gmm_model *m, const char *err,
                                const double *x, size_t n) {
  if (rc == GMM_OK) {
    if (!m) fail_msg("%s: GMM_OK without a model", label);
    check_model_sound(label, m);
    if (x) check_rows_scored(label, m, x, n, NULL);
    print_message("      %-44s GMM_OK, n_iter %d, n_empty %d\n", label, m->summary.n_iter,
                  m->summary.n_empty);
    return 1;
  }
  if (rc != GMM_EFIT)
    fail_msg("%s: gmm_fit returned %d (%s); expected GMM_OK or GMM_EFIT", label, (int)rc, err);
  if (m) fail_msg("%s: GMM_EFIT but *out was set", label);
  if (err[0] == '\0') fail_msg("%s: GMM_EFIT with an empty message", label);
  if (mentions_nan(err)) fail_msg("%s: the message mentions NaN: \"%s\"", label, err);
  print_message("      %-44s GMM_EFIT: %s\n", label, err);
  return 0;
}

static gmm_status fit_raw(const double *x, const double *w, size_t n, int d, const gmm_options *opt,
                          const gmm_allocator *a, gmm_model **m, char *err, size_t err_len) {
  gmm_data data = {x, n, d, w, 0, NULL};
  *m = NULL;
  err[0] = '\0';
  return gmm_fit(&data, opt, a, NULL, NULL, m, err, err_len);
}

/* Runs gmm_fit in a child process with a time limit, for inputs that
** might make it loop forever. Returns the status (-1 when the child timed
** out or died) and the message in err; the model is not kept (the child
** reports whether it was sound: *sound is 1 for a sound model, 0 for a
** model with a non-finite value, -1 for no model). */
static int fit_guarded(const double *x, const double *w, size_t n, int d, const gmm_options *opt,
                       double seconds, char *err, size_t err_len, int *sound, double *secs_used) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    gmm_model *m = NULL;
    char msg[512] = "";
    int rc = (int)fit_raw(x, w, n, d, opt, &gmm_libc_allocator, &m, msg, sizeof msg);
    int ok = -1;
    if (m) {
      size_t n_cov = tu_cov_len(m->k, m->d, m->covariance_type);
      ok = tu_all_finite(m->weights, (size_t)m->k) &&
           tu_all_finite(m->means, (size_t)m->k * (size_t)m->d) &&
           tu_all_finite(m->covariances, n_cov) && isfinite(m->summary.log_likelihood);
    }
    char out[600];
    int len = snprintf(out, sizeof out, "%d %d %s", rc, ok, msg);
    ssize_t wr = write(fds[1], out, (size_t)len);
    (void)wr;
    _exit(0);
  }
  close(fds[1]);
  int status = 0, done = 0;
  double limit_us = seconds * 1e6;
  for (double waited = 0; waited < limit_us; waited += 10000) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      done = 1;
      break;
    }
    usleep(10000);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *secs_used = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    snprintf(err, err_len, "no answer within %.0f s (killed)", seconds);
    *sound = -1;
    return -1;
  }
  char buf[600] = "";
  ssize_t got = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  if (got <= 0 || !WIFEXITED(status)) {
    snprintf(err, err_len, "the child died (status %d)", status);
    *sound = -1;
    return -1;
  }
  buf[got] = 0;
  int rc = -1, ok = -1, off = 0;
  sscanf(buf, "%d %d %n", &rc, &ok, &off);
  snprintf(err, err_len, "%s", buf + off);
  *sound = ok;
  return rc;
}

/* Rows from a well-separated 2-D mixture of three components. */
static const size_t SEP3_COUNTS[] = {150, 120, 90};
static const double SEP3_MEANS[] = {0, 0, 12, 0, 0, 12};
static const double SEP3_COVS[] = {1.0, 0.3,  0.3,  0.6, /* */
                                   0.8, -0.2, -0.2, 1.1, /* */
                                   0.5, 0.0,  0.0,  0.5};
static const tu_mixture SEP3 = {3, 2, SEP3_COUNTS, SEP3_MEANS, SEP3_COVS};

/* ------------------------------------------------------------------------
** 1. All rows identical, k = 1: for every covariance type, GMM_OK with the
** mean equal to the row (1e-15 relative), the covariance exactly what
** reg_covar makes of a zero scatter -- reg_covar I for full and tied
** (diagonal within 1e-9 relative of reg_covar, off-diagonal 0 within
** 1e-300), reg_covar for every diag and spherical variance -- weight 1,
** n_empty 0, and a finite score at the row.
*/
static void test_identical_rows_k1(void **state) {
  (void)state;
  enum { N = 40, D = 3 };
  const double row[D] = {3.7, -1.2, 1e4};
  double x[N * D];
  for (int i = 0; i < N; i++) memcpy(x + D * i, row, sizeof row);
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 1);
    opt.covariance_type = ALL_COVS[t];
    gmm_model *m = tu_fit_ok(x, N, D, &opt, &a);
    char label[64];
    snprintf(label, sizeof label, "identical rows, k=1, %s", gmm_cov_type_name(ALL_COVS[t]));
    check_model_sound(label, m);
    check_rows_scored(label, m, x, N, NULL);
    for (int p = 0; p < D; p++) assert_close_rel(m->means[p], row[p], 1e-15);
    assert_close_rel(m->weights[0], 1.0, 1e-15);
    assert_int_equal(m->summary.n_empty, 0);
    if (ALL_COVS[t] == GMM_COV_FULL || ALL_COVS[t] == GMM_COV_TIED) {
      for (int p = 0; p < D; p++)
        for (int q = 0; q < D; q++) {
          if (p == q)
            assert_close_rel(m->covariances[p * D + q], opt.reg_covar, 1e-9);
          else
            assert_close_abs(m->covariances[p * D + q], 0.0, 1e-300);
        }
    } else {
      size_t n_cov = tu_cov_len(1, D, ALL_COVS[t]);
      for (size_t i = 0; i < n_cov; i++) assert_close_rel(m->covariances[i], opt.reg_covar, 1e-9);
    }
    gmm_model_free(m);
  }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 2. All rows identical, k = 3, every covariance type x every init: a
** finite model (in particular no NaN; the components that received no
** rows are counted in n_empty) or a clear GMM_EFIT. When a model comes
** back every component's mean is the row (1e-12 relative): there is
** nowhere else for it to be.
*/
static void test_identical_rows_k3(void **state) {
  (void)state;
  enum { N = 40, D = 2 };
  const double row[D] = {-5.5, 0.25};
  double x[N * D];
  for (int i = 0; i < N; i++) memcpy(x + D * i, row, sizeof row);
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++) {
      gmm_options opt;
      gmm_options_default(&opt, 3);
      opt.covariance_type = ALL_COVS[t];
      opt.init = ALL_INITS[i];
      gmm_model *m;
      char err[512], label[96];
      gmm_status rc = fit_raw(x, NULL, N, D, &opt, &a, &m, err, sizeof err);
      snprintf(label, sizeof label, "identical, k=3, %s, %s", gmm_cov_type_name(ALL_COVS[t]),
               gmm_init_name(ALL_INITS[i]));
      if (model_or_clear_error(label, rc, m, err, x, N)) {
        for (int j = 0; j < 3; j++)
          for (int p = 0; p < D; p++) assert_close_rel(m->means[j * D + p], row[p], 1e-12);
        gmm_model_free(m);
      }
    }
  assert_no_leaks(&cnt);
}

/* 4 distinct rows, each repeated 25 times (n = 100), in a fixed shuffle. */
static void four_distinct_rows(double *x, const double distinct[4][2]) {
  tu_rng r;
  tu_rng_seed(&r, 99);
  int idx[100];
  for (int i = 0; i < 100; i++) idx[i] = i % 4;
  for (int i = 99; i > 0; i--) {
    int s = (int)tu_rng_below(&r, (size_t)i + 1), t = idx[i];
    idx[i] = idx[s];
    idx[s] = t;
  }
  for (int i = 0; i < 100; i++) memcpy(x + 2 * i, distinct[idx[i]], 2 * sizeof(double));
}

/* ------------------------------------------------------------------------
** 3. k equal to the number of distinct rows (4 distinct rows x 25, k = 4),
** every covariance type x every init: a finite model or a clear GMM_EFIT.
** For init kmeans and k-means++ (whose seeds are distinct points) the
** expected model is the obvious one: GMM_OK, each distinct row its own
** component (rows with equal values share a label, distinct values get
** distinct labels), each weight 0.25 (1e-9), each mean one of the rows
** (within 1e-12 of the data's scale, 10).
*/
static void test_k_equals_distinct_rows(void **state) {
  (void)state;
  static const double distinct[4][2] = {{0, 0}, {5, 1}, {-3, 7}, {2, -6}};
  double x[200];
  four_distinct_rows(x, distinct);
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++) {
      gmm_options opt;
      gmm_options_default(&opt, 4);
      opt.covariance_type = ALL_COVS[t];
      opt.init = ALL_INITS[i];
      gmm_model *m;
      char err[512], label[96];
      gmm_status rc = fit_raw(x, NULL, 100, 2, &opt, &a, &m, err, sizeof err);
      snprintf(label, sizeof label, "k = distinct = 4, %s, %s", gmm_cov_type_name(ALL_COVS[t]),
               gmm_init_name(ALL_INITS[i]));
      int seeded_distinct = ALL_INITS[i] == GMM_INIT_KMEANS || ALL_INITS[i] == GMM_INIT_KMEANS_PP;
      if (seeded_distinct && rc != GMM_OK)
        fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
      if (!model_or_clear_error(label, rc, m, err, x, 100)) continue;
      if (seeded_distinct) {
        int labels[100], label_of[4] = {-1, -1, -1, -1};
        check_rows_scored(label, m, x, 100, labels);
        for (int r = 0; r < 100; r++) {
          int v = 0;
          while (!(x[2 * r] == distinct[v][0] && x[2 * r + 1] == distinct[v][1])) v++;
          if (label_of[v] < 0) label_of[v] = labels[r];
          if (label_of[v] != labels[r])
            fail_msg("%s: rows equal to distinct row %d got labels %d and %d", label, v,
                     label_of[v], labels[r]);
        }
        for (int v = 0; v < 4; v++)
          for (int u = 0; u < v; u++)
            if (label_of[u] == label_of[v])
              fail_msg("%s: distinct rows %d and %d share component %d", label, u, v, label_of[v]);
        for (int v = 0; v < 4; v++) {
          int j = label_of[v];
          assert_close_rel(m->weights[j], 0.25, 1e-9);
          assert_close_scaled(m->means[2 * j], distinct[v][0], 1e-12, 10.0);
          assert_close_scaled(m->means[2 * j + 1], distinct[v][1], 1e-12, 10.0);
        }
      }
      gmm_model_free(m);
    }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 4. k above the number of distinct rows but not above the number of rows
** (3 distinct rows x 10, k = 5; and 1 distinct row... is test 2), every
** covariance type x every init: a finite model (components beyond the
** distinct rows either share a row's mean or are reported empty) or a
** clear GMM_EFIT; no NaN, no crash, nothing leaked.
*/
static void test_k_above_distinct_rows(void **state) {
  (void)state;
  static const double distinct[3][2] = {{1, 1}, {1, 2}, {40, -3}};
  double x[60];
  for (int i = 0; i < 30; i++) memcpy(x + 2 * i, distinct[(i * 7) % 3], 2 * sizeof(double));
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++) {
      gmm_options opt;
      gmm_options_default(&opt, 5);
      opt.covariance_type = ALL_COVS[t];
      opt.init = ALL_INITS[i];
      gmm_model *m;
      char err[512], label[96];
      gmm_status rc = fit_raw(x, NULL, 30, 2, &opt, &a, &m, err, sizeof err);
      snprintf(label, sizeof label, "k=5 > 3 distinct, %s, %s", gmm_cov_type_name(ALL_COVS[t]),
               gmm_init_name(ALL_INITS[i]));
      if (model_or_clear_error(label, rc, m, err, x, 30)) gmm_model_free(m);
    }
  assert_no_leaks(&cnt);
}

/* Rows on a line in 3-D: x = (5, 5, 5) + t (1, 2, -1), t from two clusters
** (around -6 and +6, sd 1); labels_out gets the cluster (t > 0). */
static void collinear_rows(double *x, int *truth, int n) {
  tu_rng r;
  tu_rng_seed(&r, 1234);
  for (int i = 0; i < n; i++) {
    int c = i % 2;
    double t = (c ? 6.0 : -6.0) + tu_rng_normal(&r);
    x[3 * i] = 5 + t;
    x[3 * i + 1] = 5 + 2 * t;
    x[3 * i + 2] = 5 - t;
    truth[i] = c;
  }
}

/* v' S v for the d x d matrix s. */
static double quad_form(const double *s, const double *v, int d) {
  double q = 0.0;
  for (int p = 0; p < d; p++)
    for (int r = 0; r < d; r++) q += v[p] * s[p * d + r] * v[r];
  return q;
}

/* ------------------------------------------------------------------------
** 5. Collinear rows in 3-D (two clusters along one line), k = 2, every
** covariance type: GMM_OK with a finite model whose covariances are
** positive definite thanks to reg_covar -- for full and tied, the variance
** across the line (along (2,-1,0)/sqrt5 and (1,0,1)/sqrt2, both orthogonal
** to it) is at least 0.5 reg_covar and at most 1e-3 -- and the two clusters
** are told apart (every row's label equals its cluster's, up to renaming).
*/
static void test_collinear_3d(void **state) {
  (void)state;
  enum { N = 400 };
  double x[N * 3];
  int truth[N], labels[N];
  collinear_rows(x, truth, N);
  const double across[2][3] = {{2 / sqrt(5.0), -1 / sqrt(5.0), 0},
                               {1 / sqrt(2.0), 0, 1 / sqrt(2.0)}};
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 2);
    opt.covariance_type = ALL_COVS[t];
    gmm_model *m;
    char err[512], label[64];
    gmm_status rc = fit_raw(x, NULL, N, 3, &opt, &a, &m, err, sizeof err);
    snprintf(label, sizeof label, "collinear 3-D, %s", gmm_cov_type_name(ALL_COVS[t]));
    if (rc != GMM_OK) fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
    check_model_sound(label, m);
    check_rows_scored(label, m, x, N, labels);
    if (ALL_COVS[t] == GMM_COV_FULL || ALL_COVS[t] == GMM_COV_TIED) {
      int n_mats = ALL_COVS[t] == GMM_COV_FULL ? 2 : 1;
      for (int j = 0; j < n_mats; j++)
        for (int v = 0; v < 2; v++) {
          double q = quad_form(m->covariances + 9 * j, across[v], 3);
          if (!(q >= 0.5 * opt.reg_covar && q <= 1e-3))
            fail_msg("%s: component %d's variance across the line is %.3g (reg_covar %g)", label, j,
                     q, opt.reg_covar);
        }
    }
    int flip = labels[0] != truth[0];
    for (int i = 0; i < N; i++)
      if ((labels[i] ^ flip) != truth[i])
        fail_msg("%s: row %d (cluster %d) got label %d", label, i, truth[i], labels[i]);
    gmm_model_free(m);
  }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 6. One constant feature (feature 2 is 4.2 on every row of a two-cluster
** 3-D data set), k = 2, every covariance type: GMM_OK with a finite model;
** every component's mean of feature 2 is 4.2 (1e-12 relative); its
** variance is reg_covar (1e-6 relative) for full and diag (and the tied
** covariance); the clusters are told apart.
*/
static void test_constant_feature(void **state) {
  (void)state;
  enum { N = 300 };
  double x[N * 3];
  int truth[N], labels[N];
  tu_rng r;
  tu_rng_seed(&r, 77);
  for (int i = 0; i < N; i++) {
    truth[i] = i % 2;
    x[3 * i] = (truth[i] ? 10.0 : 0.0) + tu_rng_normal(&r);
    x[3 * i + 1] = 4.2;
    x[3 * i + 2] = (truth[i] ? -3.0 : 3.0) + 0.5 * tu_rng_normal(&r);
  }
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 2);
    opt.covariance_type = ALL_COVS[t];
    gmm_model *m;
    char err[512], label[64];
    gmm_status rc = fit_raw(x, NULL, N, 3, &opt, &a, &m, err, sizeof err);
    snprintf(label, sizeof label, "constant feature, %s", gmm_cov_type_name(ALL_COVS[t]));
    if (rc != GMM_OK) fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
    check_model_sound(label, m);
    check_rows_scored(label, m, x, N, labels);
    for (int j = 0; j < 2; j++) assert_close_rel(m->means[3 * j + 1], 4.2, 1e-12);
    switch (ALL_COVS[t]) {
      case GMM_COV_FULL:
        for (int j = 0; j < 2; j++)
          assert_close_rel(m->covariances[9 * j + 4], opt.reg_covar, 1e-6);
        break;
      case GMM_COV_TIED: assert_close_rel(m->covariances[4], opt.reg_covar, 1e-6); break;
      case GMM_COV_DIAG:
        for (int j = 0; j < 2; j++)
          assert_close_rel(m->covariances[3 * j + 1], opt.reg_covar, 1e-6);
        break;
      case GMM_COV_SPHERICAL: break;
      default: break; /* scikit-learn's four only */
    }
    int flip = labels[0] != truth[0];
    for (int i = 0; i < N; i++)
      if ((labels[i] ^ flip) != truth[i])
        fail_msg("%s: row %d (cluster %d) got label %d", label, i, truth[i], labels[i]);
    gmm_model_free(m);
  }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 7. Values near 1e300 (rows 1e300 * (1 + 0.01 z), rows spread over
** [-1e300, 1e300], and two tight clusters at -1.5e308 and +1.5e308).
** Expected outcome: their spread around the mean squares beyond the
** largest double, so no sound model exists in double precision: GMM_EINVAL
** naming the feature and asking to rescale it, for every k and covariance
** type; nothing leaks.
*/
static void test_values_near_1e300(void **state) {
  (void)state;
  enum { N = 60 };
  double x[3][N * 2];
  tu_rng r;
  tu_rng_seed(&r, 5);
  for (int i = 0; i < N; i++) {
    x[0][2 * i] = 1e300 * (1 + 0.01 * tu_rng_normal(&r));
    x[0][2 * i + 1] = -1e300 * (1 + 0.01 * tu_rng_normal(&r));
    x[1][2 * i] = 1e300 * (2 * tu_rng_uniform(&r) - 1);
    x[1][2 * i + 1] = 1e300 * (2 * tu_rng_uniform(&r) - 1);
    x[2][2 * i] = (i % 2 ? 1.5e308 : -1.5e308) * (1 + 1e-3 * tu_rng_normal(&r));
    x[2][2 * i + 1] = tu_rng_normal(&r);
  }
  const char *names[3] = {"narrow", "spread", "+-1.5e308"};
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int s = 0; s < 3; s++)
    for (int k = 1; k <= 2; k++)
      for (int t = 0; t < 4; t++) {
        gmm_options opt;
        gmm_options_default(&opt, k);
        opt.covariance_type = ALL_COVS[t];
        gmm_model *m;
        char err[512], label[96];
        gmm_status rc = fit_raw(x[s], NULL, N, 2, &opt, &a, &m, err, sizeof err);
        snprintf(label, sizeof label, "~1e300 %s, k=%d, %s", names[s], k,
                 gmm_cov_type_name(ALL_COVS[t]));
        if (rc != GMM_EINVAL || m || !strstr(err, "feature 1 spreads") || !strstr(err, "rescale"))
          fail_msg("%s: gmm_fit returned %d (%s); expected GMM_EINVAL asking to rescale feature 1",
                   label, (int)rc, err);
      }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 8. Values near 1e-300 (rows 1e-300 * z): every spread squared underflows,
** so reg_covar is the whole covariance. Expected for k = 1 and 2 and every
** covariance type: GMM_OK with a finite model, every variance reg_covar
** (1e-9 relative), every mean within 1e-299 of 0.
** Mixed scales (feature 1 ~ 1e-300 z, feature 2 two clusters around -5
** and 5, sd 1), k = 2, every type: GMM_OK, a finite model, feature-1
** variance reg_covar (1e-6 relative) where the type keeps it apart (full,
** diag, tied), and every row labelled by the sign of its cluster.
*/
static void test_values_near_1e_minus_300(void **state) {
  (void)state;
  enum { N = 60 };
  double x[N * 2], mixed[N * 2];
  int truth[N], labels[N];
  tu_rng r;
  tu_rng_seed(&r, 6);
  for (int i = 0; i < N; i++) {
    x[2 * i] = 1e-300 * tu_rng_normal(&r);
    x[2 * i + 1] = 3e-300 * tu_rng_normal(&r);
    truth[i] = i % 2;
    mixed[2 * i] = 1e-300 * tu_rng_normal(&r);
    mixed[2 * i + 1] = (truth[i] ? 5.0 : -5.0) + tu_rng_normal(&r);
  }
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  for (int k = 1; k <= 2; k++)
    for (int t = 0; t < 4; t++) {
      gmm_options opt;
      gmm_options_default(&opt, k);
      opt.covariance_type = ALL_COVS[t];
      gmm_model *m;
      char err[512], label[96];
      gmm_status rc = fit_raw(x, NULL, N, 2, &opt, &a, &m, err, sizeof err);
      snprintf(label, sizeof label, "~1e-300, k=%d, %s", k, gmm_cov_type_name(ALL_COVS[t]));
      if (rc != GMM_OK) fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
      check_model_sound(label, m);
      check_rows_scored(label, m, x, N, NULL);
      for (int p = 0; p < 2 * k; p++) assert_close_abs(m->means[p], 0.0, 1e-299);
      for (int j = 0; j < (ALL_COVS[t] == GMM_COV_TIED ? 1 : k); j++) {
        switch (ALL_COVS[t]) {
          case GMM_COV_FULL:
          case GMM_COV_TIED:
            assert_close_rel(m->covariances[4 * j], opt.reg_covar, 1e-9);
            assert_close_rel(m->covariances[4 * j + 3], opt.reg_covar, 1e-9);
            break;
          case GMM_COV_DIAG:
            assert_close_rel(m->covariances[2 * j], opt.reg_covar, 1e-9);
            assert_close_rel(m->covariances[2 * j + 1], opt.reg_covar, 1e-9);
            break;
          case GMM_COV_SPHERICAL: assert_close_rel(m->covariances[j], opt.reg_covar, 1e-9); break;
          default: break; /* scikit-learn's four only */
        }
      }
      gmm_model_free(m);

      if (k != 2) continue;
      rc = fit_raw(mixed, NULL, N, 2, &opt, &a, &m, err, sizeof err);
      snprintf(label, sizeof label, "mixed 1e-300 / 1, k=2, %s", gmm_cov_type_name(ALL_COVS[t]));
      if (rc != GMM_OK) fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
      check_model_sound(label, m);
      check_rows_scored(label, m, mixed, N, labels);
      if (ALL_COVS[t] == GMM_COV_FULL || ALL_COVS[t] == GMM_COV_TIED)
        for (int j = 0; j < (ALL_COVS[t] == GMM_COV_FULL ? 2 : 1); j++)
          assert_close_rel(m->covariances[4 * j], opt.reg_covar, 1e-6);
      if (ALL_COVS[t] == GMM_COV_DIAG)
        for (int j = 0; j < 2; j++) assert_close_rel(m->covariances[2 * j], opt.reg_covar, 1e-6);
      int flip = labels[0] != truth[0];
      for (int i = 0; i < N; i++)
        if ((labels[i] ^ flip) != truth[i])
          fail_msg("%s: row %d (cluster %d) got label %d", label, i, truth[i], labels[i]);
      gmm_model_free(m);
    }
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 9. A feature offset by 1e9: the three-cluster 2-D rows, and the same rows
** with 1e9 added to feature 1. For every covariance type x every init
** (seed 0, k = 3): both fits GMM_OK with finite models, and every row's
** label under the shifted model equals its label under the unshifted one
** (EM is translation-equivariant and fit (3) accumulates around a shift,
** so the offset must not change a single label, nor their names).
*/
static void test_offset_1e9(void **state) {
  (void)state;
  int *truth = NULL;
  double *x = tu_mixture_sample(&SEP3, 31, &truth);
  assert_non_null(x);
  size_t n = tu_mixture_n(&SEP3);
  double *shifted = malloc(sizeof(double) * n * 2);
  int *lab0 = malloc(sizeof(int) * n), *lab1 = malloc(sizeof(int) * n);
  assert_non_null(shifted);
  assert_non_null(lab0);
  assert_non_null(lab1);
  for (size_t i = 0; i < n; i++) {
    shifted[2 * i] = x[2 * i] + 1e9;
    shifted[2 * i + 1] = x[2 * i + 1];
  }
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  char failures[2048] = "";
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++) {
      gmm_options opt;
      gmm_options_default(&opt, 3);
      opt.covariance_type = ALL_COVS[t];
      opt.init = ALL_INITS[i];
      char label[96];
      snprintf(label, sizeof label, "offset 1e9, %s, %s", gmm_cov_type_name(ALL_COVS[t]),
               gmm_init_name(ALL_INITS[i]));
      gmm_model *m0 = tu_fit_ok(x, n, 2, &opt, &a);
      gmm_model *m1 = tu_fit_ok(shifted, n, 2, &opt, &a);
      check_model_sound(label, m0);
      check_model_sound(label, m1);
      check_rows_scored(label, m0, x, n, lab0);
      check_rows_scored(label, m1, shifted, n, lab1);
      size_t differ = 0, first = 0;
      int perm[3] = {-1, -1, -1}, is_perm = 1;
      for (size_t r = 0; r < n; r++) {
        if (lab0[r] != lab1[r] && differ++ == 0) first = r;
        if (perm[lab0[r]] < 0) perm[lab0[r]] = lab1[r];
        if (perm[lab0[r]] != lab1[r]) is_perm = 0;
      }
      if (differ) {
        size_t len = strlen(failures);
        snprintf(failures + len, sizeof failures - len,
                 "\n        %s: %zu of %zu labels differ (first row %zu: %d vs %d)%s", label,
                 differ, n, first, lab0[first], lab1[first],
                 is_perm ? ", the same partition renamed" : "");
      }
      gmm_model_free(m0);
      gmm_model_free(m1);
    }
  free(x);
  free(truth);
  free(shifted);
  free(lab0);
  free(lab1);
  assert_no_leaks(&cnt);
  if (failures[0]) fail_msg("labels changed by the 1e9 offset:%s", failures);
}

/* ------------------------------------------------------------------------
** 10. d at its maximum, GMM_MAX_D = 1000, with 6 rows: k = 1 and 2, diag
** and spherical (and, unless GMM_QUICK, full k = 1 and tied k = 2 with
** max_iter 1, whose d x d factorisations take seconds): GMM_OK with a
** finite model, every training row scored finitely; nothing leaked. One
** past it, d = 1001: GMM_EINVAL whose message names 1001 and 1000.
*/
static void test_d_at_max(void **state) {
  (void)state;
  enum { N = 6, D = GMM_MAX_D };
  double *x = malloc(sizeof(double) * N * (D + 1));
  assert_non_null(x);
  tu_rng r;
  tu_rng_seed(&r, 8);
  for (int i = 0; i < N * (D + 1); i++) x[i] = (i / (D + 1)) % 2 * 4.0 + tu_rng_normal(&r);
  /* rows of width D: the first N*D values */
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  struct {
    int k;
    gmm_cov_type t;
    int max_iter;
    int slow;
  } cases[] = {{1, GMM_COV_DIAG, 100, 0},      {2, GMM_COV_DIAG, 100, 0},
               {1, GMM_COV_SPHERICAL, 100, 0}, {2, GMM_COV_SPHERICAL, 100, 0},
               {1, GMM_COV_FULL, 1, 1},        {2, GMM_COV_TIED, 1, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char label[96];
    snprintf(label, sizeof label, "d=1000, k=%d, %s, max_iter %d", cases[c].k,
             gmm_cov_type_name(cases[c].t), cases[c].max_iter);
    if (cases[c].slow && quick_mode()) {
      print_message("      %-44s skipped (GMM_QUICK)\n", label);
      continue;
    }
    gmm_options opt;
    gmm_options_default(&opt, cases[c].k);
    opt.covariance_type = cases[c].t;
    opt.max_iter = cases[c].max_iter;
    gmm_model *m;
    char err[512];
    gmm_status rc = fit_raw(x, NULL, N, D, &opt, &a, &m, err, sizeof err);
    if (rc != GMM_OK) {
      free(x);
      fail_msg("%s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
    }
    check_model_sound(label, m);
    check_rows_scored(label, m, x, N, NULL);
    print_message("      %-44s GMM_OK, n_iter %d\n", label, m->summary.n_iter);
    gmm_model_free(m);
  }
  gmm_options opt;
  gmm_options_default(&opt, 1);
  opt.covariance_type = GMM_COV_DIAG;
  gmm_model *m;
  char err[512];
  gmm_status rc = fit_raw(x, NULL, N, D + 1, &opt, &a, &m, err, sizeof err);
  free(x);
  assert_int_equal(rc, GMM_EINVAL);
  assert_null(m);
  assert_err_mentions(err, "1001");
  assert_err_mentions(err, "1000");
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** Hand-built models with nearly singular covariances.
*/

/* R diag(ev) R' into s (3 x 3), R a fixed generic rotation (two Givens
** rotations), so the thin direction is not along an axis. thin receives
** R's third column, the eigenvector of ev[2]. */
static void rotated_cov(const double ev[3], double *s, double thin[3]) {
  double a = 0.7, b = -0.4;
  double r1[9] = {cos(a), -sin(a), 0, sin(a), cos(a), 0, 0, 0, 1};
  double r2[9] = {1, 0, 0, 0, cos(b), -sin(b), 0, sin(b), cos(b)};
  double rr[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double v = 0;
      for (int p = 0; p < 3; p++) v += r1[i * 3 + p] * r2[p * 3 + j];
      rr[i * 3 + j] = v;
    }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double v = 0;
      for (int p = 0; p < 3; p++) v += rr[i * 3 + p] * ev[p] * rr[j * 3 + p];
      s[i * 3 + j] = v;
    }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < i; j++) s[i * 3 + j] = s[j * 3 + i]; /* exactly symmetric */
  for (int i = 0; i < 3; i++) thin[i] = rr[i * 3 + 2];
}

/* A k = 2, d = 3 model of type t whose component 0 has eigenvalues (1,
** 0.5, 1/cond) (rotated for full and tied, along the axes for diag) and
** whose component 1 is the identity 4 units away (for tied, both share
** the thin covariance). Returns the model before gmm_model_prepare. */
static gmm_model *thin_model(gmm_cov_type t, double cond, const gmm_allocator *a, double thin[3]) {
  gmm_model *m = gmm_model_new(2, 3, t, a);
  assert_non_null(m);
  const double ev[3] = {1.0, 0.5, 1.0 / cond};
  m->weights[0] = 0.6;
  m->weights[1] = 0.4;
  const double means[6] = {1, -2, 0.5, 5, 2, -2};
  memcpy(m->means, means, sizeof means);
  double s[9];
  rotated_cov(ev, s, thin);
  switch (t) {
    case GMM_COV_FULL:
      memcpy(m->covariances, s, sizeof s);
      for (int i = 0; i < 9; i++) m->covariances[9 + i] = i % 4 == 0 ? 1.0 : 0.0;
      break;
    case GMM_COV_TIED: memcpy(m->covariances, s, sizeof s); break;
    case GMM_COV_DIAG:
      for (int i = 0; i < 3; i++) m->covariances[i] = ev[i], m->covariances[3 + i] = 1.0;
      thin[0] = thin[1] = 0.0, thin[2] = 1.0;
      break;
    case GMM_COV_SPHERICAL: /* no thin direction possible: condition 1 */
      m->covariances[0] = 1.0 / cond, m->covariances[1] = 1.0;
      thin[0] = thin[1] = 0.0, thin[2] = 1.0;
      break;
    default: break; /* scikit-learn's four only */
  }
  m->summary.n_samples = 100;
  m->summary.log_likelihood = -1.0;
  return m;
}

/* Scores x: the score is finite or -Inf (never NaN or +Inf); posteriors
** in [0, 1] sum to 1 (1e-12); the label is in range with the largest
** posterior. Appends a line to report on a violation; returns the score. */
static double check_hostile_point(const gmm_model *m, const double *x, const char *what,
                                  char *report, size_t report_len) {
  double *scratch = alloc_scratch(m);
  double post[2] = {NAN, NAN};
  int label = -1;
  double s = gmm_model_score_row(m, x, scratch, post, &label);
  free(scratch);
  double sum = post[0] + post[1];
  int ok = (isfinite(s) || s == -INFINITY) && label >= 0 && label < 2 && post[0] >= 0 &&
           post[0] <= 1 && post[1] >= 0 && post[1] <= 1 && fabs(sum - 1.0) <= 1e-12 &&
           post[label] >= post[1 - label];
  if (!ok) {
    size_t len = strlen(report);
    snprintf(report + len, report_len - len,
             "\n        %s at (%.6g, %.6g, %.6g): score %.17g, posteriors (%.17g, %.17g), label %d",
             what, x[0], x[1], x[2], s, post[0], post[1], label);
  }
  return s;
}

/* ------------------------------------------------------------------------
** 11. Nearly singular covariances at predict time: hand-built k = 2, d = 3
** models (component 0 with eigenvalues 1, 0.5, 1/cond; cond = 1e15 and
** 1e17; full and tied rotated, diag along an axis, spherical a variance
** of 1/cond), prepared with gmm_model_prepare. Expected:
**   - cond 1e15, every type: prepare GMM_OK (the matrix is positive
**     definite in doubles);
**   - cond 1e17: prepare GMM_OK or GMM_EFIT naming the component (for the
**     rotated matrices the small eigenvalue is below the rounding of the
**     large ones); the BLOB decoder must agree with prepare (a model
**     prepare accepts encodes and decodes, and scores the same, bit for
**     bit);
**   - for a prepared model, at the mean, at the mean + 1e-9 and + 1 along
**     the thin direction, at 1e10 and at (1.7e308, -1.7e308, 1.7e308):
**     the score is finite or -Inf, never NaN or +Inf; posteriors in
**     [0, 1] summing to 1 (1e-12); a label in 0 .. 1 with the largest
**     posterior. At the mean of component 0 along the axes (diag) the
**     score equals the closed form within 1e-9 relative.
*/
static void test_nearly_singular_predict(void **state) {
  (void)state;
  const double conds[2] = {1e15, 1e17};
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  char report[4096] = "";
  for (int c = 0; c < 2; c++)
    for (int t = 0; t < 4; t++) {
      double thin[3];
      gmm_model *m = thin_model(ALL_COVS[t], conds[c], &a, thin);
      char err[256] = "", label[64];
      snprintf(label, sizeof label, "cond %.0e, %s", conds[c], gmm_cov_type_name(ALL_COVS[t]));
      gmm_status rc = gmm_model_prepare(m, err, sizeof err);
      if (rc != GMM_OK) {
        if (c == 0 || rc != GMM_EFIT || !strstr(err, "positive definite")) {
          gmm_model_free(m);
          fail_msg("%s: gmm_model_prepare returned %d (%s)", label, (int)rc, err);
        }
        print_message("      %-28s prepare GMM_EFIT: %s\n", label, err);
        gmm_model_free(m);
        continue;
      }
      const double *mu = m->means;
      double pts[5][3];
      const char *what[5] = {"the mean", "mean + 1e-9 thin", "mean + 1 thin", "1e10", "+-1.7e308"};
      for (int p = 0; p < 3; p++) {
        pts[0][p] = mu[p];
        pts[1][p] = mu[p] + 1e-9 * thin[p];
        pts[2][p] = mu[p] + thin[p];
        pts[3][p] = 1e10;
        pts[4][p] = p == 1 ? -1.7e308 : 1.7e308;
      }
      char where[96];
      double scores[5];
      for (int i = 0; i < 5; i++) {
        snprintf(where, sizeof where, "%s: %s", label, what[i]);
        scores[i] = check_hostile_point(m, pts[i], where, report, sizeof report);
      }
      print_message("      %-28s prepare GMM_OK; scores %.6g, %.6g, %.6g, %.6g, %.6g\n", label,
                    scores[0], scores[1], scores[2], scores[3], scores[4]);
      for (int i = 0; i < 3; i++)
        if (!isfinite(scores[i])) {
          size_t len = strlen(report);
          snprintf(report + len, sizeof report - len,
                   "\n        %s: %s scored %.17g, expected finite", label, what[i], scores[i]);
        }
      if (ALL_COVS[t] == GMM_COV_DIAG) {
        /* log 0.6 + log N(mu | mu, diag(1, 0.5, 1/cond)), component 1 far. */
        double expect = log(0.6) - 1.5 * TU_LOG_2PI - 0.5 * (log(0.5) + log(1.0 / conds[c]));
        double other = log(0.4) - 1.5 * TU_LOG_2PI - 0.5 * (16 + 16 + 6.25);
        expect = fmax(expect, other) + log1p(exp(fmin(expect, other) - fmax(expect, other)));
        assert_close_rel(scores[0], expect, 1e-9);
      }
      /* The BLOB agrees with prepare: encodes, decodes, scores the same. */
      size_t size = gmm_blob_size(m);
      unsigned char *blob = malloc(size);
      assert_non_null(blob);
      gmm_blob_write(m, blob);
      gmm_model *back = NULL;
      char berr[256] = "";
      gmm_status brc = gmm_blob_read(blob, size, &a, &back, berr, sizeof berr);
      free(blob);
      if (brc != GMM_OK) {
        size_t len = strlen(report);
        snprintf(report + len, sizeof report - len,
                 "\n        %s: prepare accepts the model but gmm_blob_read returns %d (%s)", label,
                 (int)brc, berr);
      } else {
        double *scratch = alloc_scratch(back);
        for (int i = 0; i < 4; i++) {
          double s2 = gmm_model_score_row(back, pts[i], scratch, NULL, NULL);
          if (memcmp(&s2, &scores[i], sizeof s2) != 0) {
            size_t len = strlen(report);
            snprintf(report + len, sizeof report - len,
                     "\n        %s: %s scores %.17g decoded, %.17g before", label, what[i], s2,
                     scores[i]);
          }
        }
        free(scratch);
        gmm_model_free(back);
      }
      gmm_model_free(m);
    }
  assert_no_leaks(&cnt);
  if (report[0]) fail_msg("nearly singular models at predict time:%s", report);
}

/* ------------------------------------------------------------------------
** 11b. Finite inputs whose difference from a mean overflows, at predict
** time: a hand-built k = 2, d = 2 model of each covariance type, weights
** 0.5 / 0.5, means (-1e308, 0) and (1e308, 0), identity covariances
** (valid: gmm_model_prepare and the BLOB decoder accept it). Expected:
**   - at x = (1e308, 0), exactly component 1's mean (x - mean_0
**     overflows to +Inf): score log 0.5 + log N(0 | 0, I) = log 0.5 -
**     log 2 pi (1e-12 relative), label 1, posteriors (0, 1);
**   - at x = (0, 0), 1e308 from both means: a score that is finite or
**     -Inf (never NaN), posteriors summing to 1, a label in 0 .. 1.
*/
static void test_overflowing_difference_predict(void **state) {
  (void)state;
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  char report[2048] = "";
  for (int t = 0; t < 4; t++) {
    gmm_model *m = gmm_model_new(2, 2, ALL_COVS[t], &a);
    assert_non_null(m);
    m->weights[0] = m->weights[1] = 0.5;
    const double means[4] = {-1e308, 0, 1e308, 0};
    memcpy(m->means, means, sizeof means);
    size_t n_cov = tu_cov_len(2, 2, ALL_COVS[t]);
    for (size_t i = 0; i < n_cov; i++)
      m->covariances[i] = (ALL_COVS[t] == GMM_COV_FULL || ALL_COVS[t] == GMM_COV_TIED)
                              ? (i % 4 == 0 || i % 4 == 3 ? 1.0 : 0.0)
                              : 1.0;
    m->summary.n_samples = 10;
    m->summary.log_likelihood = -1.0;
    char err[256] = "";
    if (gmm_model_prepare(m, err, sizeof err) != GMM_OK) {
      gmm_model_free(m);
      fail_msg("%s: gmm_model_prepare refused the model: %s", gmm_cov_type_name(ALL_COVS[t]), err);
    }
    size_t size = gmm_blob_size(m);
    unsigned char *blob = malloc(size);
    assert_non_null(blob);
    gmm_blob_write(m, blob);
    gmm_model *back = NULL;
    gmm_status brc = gmm_blob_read(blob, size, &a, &back, err, sizeof err);
    free(blob);
    if (brc != GMM_OK) {
      gmm_model_free(m);
      fail_msg("%s: the BLOB decoder refused the model: %s", gmm_cov_type_name(ALL_COVS[t]), err);
    }
    gmm_model_free(back);
    double *scratch = alloc_scratch(m);
    double post[2] = {NAN, NAN};
    int label = -1;
    const double on_mean[2] = {1e308, 0};
    double s = gmm_model_score_row(m, on_mean, scratch, post, &label);
    double expect = log(0.5) - TU_LOG_2PI;
    print_message("      %-10s at (1e308, 0): score %.17g, posteriors (%g, %g), label %d\n",
                  gmm_cov_type_name(ALL_COVS[t]), s, post[0], post[1], label);
    if (!tu_close_rel(s, expect, 1e-12) || label != 1 || post[0] != 0.0 || post[1] != 1.0) {
      size_t len = strlen(report);
      snprintf(report + len, sizeof report - len,
               "\n        %s at (1e308, 0): score %.17g (expected %.17g), posteriors (%.17g, "
               "%.17g) (expected (0, 1)), label %d (expected 1)",
               gmm_cov_type_name(ALL_COVS[t]), s, expect, post[0], post[1], label);
    }
    const double between[2] = {0, 0};
    post[0] = post[1] = NAN;
    label = -1;
    s = gmm_model_score_row(m, between, scratch, post, &label);
    if (isnan(s) || s == INFINITY || label < 0 || label > 1 ||
        fabs(post[0] + post[1] - 1) > 1e-12) {
      size_t len = strlen(report);
      snprintf(report + len, sizeof report - len,
               "\n        %s at (0, 0): score %.17g, posteriors (%.17g, %.17g), label %d",
               gmm_cov_type_name(ALL_COVS[t]), s, post[0], post[1], label);
    }
    free(scratch);
    gmm_model_free(m);
  }
  assert_no_leaks(&cnt);
  if (report[0]) fail_msg("differences that overflow at predict time:%s", report);
}

/* ------------------------------------------------------------------------
** 12. reg_covar = 0 on data that needs it, every covariance type x every
** init: (a) identical rows, k = 1 and k = 2: a clear GMM_EFIT whose
** message says what to do (mentions reg_covar), *out NULL, no NaN in the
** message, nothing leaked; (b) one constant feature (test 6's rows), k =
** 2: GMM_EFIT likewise for full, tied and diag, whose covariances need
** it; spherical averages the variances and so does not, and must give a
** finite model.
*/
static void test_reg_covar_zero(void **state) {
  (void)state;
  enum { N = 30 };
  double same[N * 2], constant[N * 3];
  tu_rng r;
  tu_rng_seed(&r, 13);
  for (int i = 0; i < N; i++) {
    same[2 * i] = 2.5, same[2 * i + 1] = -7.0;
    constant[3 * i] = (i % 2 ? 10.0 : 0.0) + tu_rng_normal(&r);
    constant[3 * i + 1] = 4.2;
    constant[3 * i + 2] = tu_rng_normal(&r);
  }
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  char report[4096] = "";
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 4; i++)
      for (int c = 0; c < 3; c++) {
        gmm_options opt;
        gmm_options_default(&opt, c == 0 ? 1 : 2);
        opt.covariance_type = ALL_COVS[t];
        opt.init = ALL_INITS[i];
        opt.reg_covar = 0.0;
        gmm_model *m;
        char err[512], label[96];
        const double *x = c < 2 ? same : constant;
        int d = c < 2 ? 2 : 3;
        gmm_status rc = fit_raw(x, NULL, N, d, &opt, &a, &m, err, sizeof err);
        snprintf(label, sizeof label, "reg_covar 0, %s, k=%d, %s, %s",
                 c < 2 ? "identical" : "constant feature", opt.k, gmm_cov_type_name(ALL_COVS[t]),
                 gmm_init_name(ALL_INITS[i]));
        int want_model = c == 2 && ALL_COVS[t] == GMM_COV_SPHERICAL;
        if (want_model) {
          if (rc != GMM_OK) {
            size_t len = strlen(report);
            snprintf(report + len, sizeof report - len,
                     "\n        %s: expected GMM_OK, got %d (%s)", label, (int)rc, err);
            continue;
          }
          check_model_sound(label, m);
          check_rows_scored(label, m, x, N, NULL);
          gmm_model_free(m);
          continue;
        }
        if (rc == GMM_OK) {
          size_t n_cov = tu_cov_len(m->k, m->d, m->covariance_type);
          int finite = tu_all_finite(m->covariances, n_cov) && tu_all_finite(m->means, 2 * m->k);
          size_t len = strlen(report);
          snprintf(report + len, sizeof report - len,
                   "\n        %s: expected GMM_EFIT, got GMM_OK (parameters %s, first variance %g)",
                   label, finite ? "finite" : "NOT finite", m->covariances[0]);
          gmm_model_free(m);
          continue;
        }
        if (rc != GMM_EFIT || m || !strstr(err, "reg_covar") || mentions_nan(err)) {
          size_t len = strlen(report);
          snprintf(report + len, sizeof report - len,
                   "\n        %s: expected GMM_EFIT mentioning reg_covar, got %d (%s)", label,
                   (int)rc, err);
        }
      }
  assert_no_leaks(&cnt);
  if (report[0]) fail_msg("reg_covar = 0:%s", report);
}

/* ------------------------------------------------------------------------
** 13. Row weights with a huge dynamic range, k = 3 on the three-cluster
** rows, every covariance type x every init (each fit in a child process
** with a 3 s limit -- each takes about 0.01 s -- since a fit that loops
** would otherwise hang the suite; once an init hangs on a weight set, the
** other covariance types of that pair are not run again):
**   (a) weights 10^u, u uniform in [-200, 200];
**   (b) one row of weight 1e200, every other 1e-200;
**   (c) weights 1e-200 on every row (tiny but equal: the same fit as
**       unweighted rows).
** Expected: a finite model or a clear error (GMM_EFIT or GMM_EINVAL with a
** message), within the time limit. Case (b) leaves one row with weight
** that survives scaling; an error saying so is the clear outcome.
*/
static void test_weights_dynamic_range(void **state) {
  (void)state;
  int *truth = NULL;
  double *x = tu_mixture_sample(&SEP3, 41, &truth);
  assert_non_null(x);
  size_t n = tu_mixture_n(&SEP3);
  double *w[3];
  tu_rng r;
  tu_rng_seed(&r, 17);
  for (int c = 0; c < 3; c++) {
    w[c] = malloc(sizeof(double) * n);
    assert_non_null(w[c]);
  }
  for (size_t i = 0; i < n; i++) {
    w[0][i] = pow(10.0, 400.0 * tu_rng_uniform(&r) - 200.0);
    w[1][i] = i == 0 ? 1e200 : 1e-200;
    w[2][i] = 1e-200;
  }
  const char *names[3] = {"10^U(-200,200)", "one 1e200, rest 1e-200", "all 1e-200"};
  char report[4096] = "";
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 4; i++)
      for (int t = 0, hung = 0; t < 4; t++) {
        if (hung) {
          print_message("      weights %s, %s, %s: not run (the same init hung above)\n", names[c],
                        gmm_cov_type_name(ALL_COVS[t]), gmm_init_name(ALL_INITS[i]));
          continue;
        }
        gmm_options opt;
        gmm_options_default(&opt, 3);
        opt.covariance_type = ALL_COVS[t];
        opt.init = ALL_INITS[i];
        char err[600], label[128];
        int sound;
        double secs;
        int rc = fit_guarded(x, w[c], n, 2, &opt, 3.0, err, sizeof err, &sound, &secs);
        hung = rc == -1;
        snprintf(label, sizeof label, "weights %s, %s, %s", names[c],
                 gmm_cov_type_name(ALL_COVS[t]), gmm_init_name(ALL_INITS[i]));
        int fine = (rc == GMM_OK && sound == 1) ||
                   ((rc == GMM_EFIT || rc == GMM_EINVAL) && err[0] && !mentions_nan(err));
        print_message("      %-60s %s%s%s (%.2f s)\n", label,
                      rc == GMM_OK       ? "GMM_OK"
                      : rc == GMM_EFIT   ? "GMM_EFIT: "
                      : rc == GMM_EINVAL ? "GMM_EINVAL: "
                                         : "FAILED: ",
                      rc == GMM_OK ? (sound == 1 ? "" : ", model NOT finite") : "",
                      rc == GMM_OK ? "" : err, secs);
        if (!fine) {
          size_t len = strlen(report);
          snprintf(report + len, sizeof report - len, "\n        %s: %d %s%s", label, rc, err,
                   rc == GMM_OK && sound != 1 ? " (a model with a non-finite value)" : "");
        }
      }
  free(x);
  free(truth);
  for (int c = 0; c < 3; c++) free(w[c]);
  if (report[0]) fail_msg("weights with a huge dynamic range:%s", report);
}

/* ------------------------------------------------------------------------
** 14. Every option at its limit and one past (gmm_options_check, d = 2
** unless stated): at the limit GMM_OK; one past GMM_EINVAL with a message
** that names the option's value provided and the maximum (both numbers
** appear in the text), sqlite-vec style "provided X, maximum Y":
**   k 1024 / 1025 (and 0);  max_iter 1000000 / 1000001 (and -1);
**   n_init 10000 / 10001 (and 0);  d 1000 / 1001 (k = 1);
**   parameters: k = 100, d = 999, full (99,900,100 <= 100,000,000) / k =
**   100, d = 1000, full (100,100,100): the message names 100100100 and
**   100000000;
**   candidates: gmm_fit_select with 1024 (256 k values x 4 types) fits
**   (GMM_OK, 1024 candidates recorded, the ones with k above the 3 rows
**   failed) / 1025 (1025 k values x 1 type) GMM_EINVAL naming 1025 and
**   1024.
*/
static void check_limit(const char *what, const gmm_options *at, const gmm_options *past, int d_at,
                        int d_past, const char *provided, const char *maximum) {
  char err[512] = "";
  gmm_status rc = gmm_options_check(at, d_at, err, sizeof err);
  if (rc != GMM_OK)
    fail_msg("%s at its limit: gmm_options_check returned %d (%s)", what, (int)rc, err);
  err[0] = 0;
  rc = gmm_options_check(past, d_past, err, sizeof err);
  if (rc != GMM_EINVAL)
    fail_msg("%s one past its limit: gmm_options_check returned %d, expected GMM_EINVAL", what,
             (int)rc);
  if (!strstr(err, provided) || !strstr(err, maximum))
    fail_msg("%s one past its limit: \"%s\" should name %s (provided) and %s (maximum)", what, err,
             provided, maximum);
  print_message("      %-10s past: \"%s\"\n", what, err);
}

static void test_option_limits(void **state) {
  (void)state;
  gmm_options at, past;
  gmm_options_default(&at, GMM_MAX_K);
  gmm_options_default(&past, GMM_MAX_K + 1);
  check_limit("k", &at, &past, 2, 2, "1025", "1024");
  gmm_options_default(&past, 0);
  check_limit("k (0)", &at, &past, 2, 2, "0", "1024");

  gmm_options_default(&at, 2);
  gmm_options_default(&past, 2);
  at.max_iter = GMM_MAX_ITER;
  past.max_iter = GMM_MAX_ITER + 1;
  check_limit("max_iter", &at, &past, 2, 2, "1000001", "1000000");
  past.max_iter = -1;
  check_limit("max_iter -1", &at, &past, 2, 2, "-1", "1000000");

  gmm_options_default(&at, 2);
  gmm_options_default(&past, 2);
  at.n_init = GMM_MAX_N_INIT;
  past.n_init = GMM_MAX_N_INIT + 1;
  check_limit("n_init", &at, &past, 2, 2, "10001", "10000");
  past.n_init = 0;
  check_limit("n_init 0", &at, &past, 2, 2, "0", "10000");

  gmm_options_default(&at, 1);
  gmm_options_default(&past, 1);
  check_limit("d", &at, &past, GMM_MAX_D, GMM_MAX_D + 1, "1001", "1000");

  gmm_options_default(&at, 100);
  gmm_options_default(&past, 100);
  check_limit("params", &at, &past, 999, 1000, "100100100", "100000000");

  /* Candidates, through gmm_fit_select on 3 one-feature rows. */
  const double x[3] = {0.0, 1.0, 5.0};
  gmm_data data = {x, 3, 1, NULL, 0, NULL};
  int *ks = malloc(sizeof(int) * (GMM_MAX_CANDIDATES + 1));
  assert_non_null(ks);
  for (int i = 0; i <= GMM_MAX_CANDIDATES; i++) ks[i] = i % GMM_MAX_K + 1;
  gmm_options opt;
  gmm_options_default(&opt, 1);
  opt.max_iter = 3;
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = gmm_fit_select(&data, &opt, ks, GMM_MAX_CANDIDATES / 4, ALL_COVS, 4, &a, NULL,
                                 NULL, &m, err, sizeof err);
  if (rc != GMM_OK) {
    free(ks);
    fail_msg("1024 candidates: gmm_fit_select returned %d (%s)", (int)rc, err);
  }
  assert_int_equal(m->n_candidates, GMM_MAX_CANDIDATES);
  int n_failed = 0;
  for (int c = 0; c < m->n_candidates; c++) n_failed += m->candidates[c].failed;
  assert_int_equal(n_failed, (GMM_MAX_CANDIDATES / 4 - 3) * 4);
  gmm_model_free(m);
  m = NULL;
  rc = gmm_fit_select(&data, &opt, ks, GMM_MAX_CANDIDATES + 1, ALL_COVS, 1, &a, NULL, NULL, &m, err,
                      sizeof err);
  free(ks);
  assert_int_equal(rc, GMM_EINVAL);
  assert_null(m);
  if (!strstr(err, "1025") || !strstr(err, "1024"))
    fail_msg("1025 candidates: \"%s\" should name 1025 and 1024", err);
  print_message("      %-10s past: \"%s\"\n", "candidates", err);
  assert_no_leaks(&cnt);
}

/* ------------------------------------------------------------------------
** 15. The limits through gmm_fit itself, where cheap:
**   k = GMM_MAX_K = 1024 on 3072 rows (d = 2, full, init k-means++,
**   max_iter 3): GMM_OK, a finite model with 1024 components, every row
**   scored; k = 1025 on the same rows: GMM_EINVAL naming 1025 and 1024,
**   before any work;
**   max_iter = 1000000 on 50 Gaussian rows, k = 1: GMM_OK, converged in a
**   few iterations; 1000001: GMM_EINVAL naming both numbers;
**   n_init = 10000 on 8 rows, k = 1: GMM_OK; 10001: GMM_EINVAL naming both.
*/
static void test_fit_at_limits(void **state) {
  (void)state;
  enum { N = 3072 };
  double *x = malloc(sizeof(double) * N * 2);
  assert_non_null(x);
  tu_rng r;
  tu_rng_seed(&r, 21);
  for (int i = 0; i < N * 2; i++) x[i] = 100.0 * tu_rng_normal(&r);
  tu_counting cnt;
  gmm_allocator a = tu_counting_allocator(&cnt);
  gmm_options opt;
  gmm_options_default(&opt, GMM_MAX_K);
  opt.init = GMM_INIT_KMEANS_PP;
  opt.max_iter = 3;
  gmm_model *m;
  char err[512];
  gmm_status rc = fit_raw(x, NULL, N, 2, &opt, &a, &m, err, sizeof err);
  if (rc != GMM_OK) {
    free(x);
    fail_msg("k = 1024: expected GMM_OK, got %d (%s)", (int)rc, err);
  }
  assert_int_equal(m->k, GMM_MAX_K);
  check_model_sound("k = 1024", m);
  check_rows_scored("k = 1024", m, x, N, NULL);
  gmm_model_free(m);
  opt.k = GMM_MAX_K + 1;
  rc = fit_raw(x, NULL, N, 2, &opt, &a, &m, err, sizeof err);
  assert_int_equal(rc, GMM_EINVAL);
  assert_null(m);
  assert_err_mentions(err, "1025");
  assert_err_mentions(err, "1024");

  gmm_options_default(&opt, 1);
  opt.max_iter = GMM_MAX_ITER;
  rc = fit_raw(x, NULL, 50, 2, &opt, &a, &m, err, sizeof err);
  if (rc != GMM_OK) {
    free(x);
    fail_msg("max_iter = 1000000: expected GMM_OK, got %d (%s)", (int)rc, err);
  }
  check_model_sound("max_iter = 1000000", m);
  assert_true(m->summary.converged);
  gmm_model_free(m);
  opt.max_iter = GMM_MAX_ITER + 1;
  rc = fit_raw(x, NULL, 50, 2, &opt, &a, &m, err, sizeof err);
  assert_int_equal(rc, GMM_EINVAL);
  assert_err_mentions(err, "1000001");
  assert_err_mentions(err, "1000000");

  gmm_options_default(&opt, 1);
  opt.n_init = GMM_MAX_N_INIT;
  rc = fit_raw(x, NULL, 8, 2, &opt, &a, &m, err, sizeof err);
  if (rc != GMM_OK) {
    free(x);
    fail_msg("n_init = 10000: expected GMM_OK, got %d (%s)", (int)rc, err);
  }
  check_model_sound("n_init = 10000", m);
  gmm_model_free(m);
  opt.n_init = GMM_MAX_N_INIT + 1;
  rc = fit_raw(x, NULL, 8, 2, &opt, &a, &m, err, sizeof err);
  free(x);
  assert_int_equal(rc, GMM_EINVAL);
  assert_err_mentions(err, "10001");
  assert_err_mentions(err, "10000");
  assert_no_leaks(&cnt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identical_rows_k1),
      cmocka_unit_test(test_identical_rows_k3),
      cmocka_unit_test(test_k_equals_distinct_rows),
      cmocka_unit_test(test_k_above_distinct_rows),
      cmocka_unit_test(test_collinear_3d),
      cmocka_unit_test(test_constant_feature),
      cmocka_unit_test(test_values_near_1e300),
      cmocka_unit_test(test_values_near_1e_minus_300),
      cmocka_unit_test(test_offset_1e9),
      cmocka_unit_test(test_d_at_max),
      cmocka_unit_test(test_nearly_singular_predict),
      cmocka_unit_test(test_overflowing_difference_predict),
      cmocka_unit_test(test_reg_covar_zero),
      cmocka_unit_test(test_weights_dynamic_range),
      cmocka_unit_test(test_option_limits),
      cmocka_unit_test(test_fit_at_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
