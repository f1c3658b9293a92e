/*
** test_missing.c -- the core's EM over observed features (gmm_missing.c,
** fit (12)), the canonical order by missing pattern (order (1)), the
** marginal per-row functions, imputation and conditional draws, and the
** statistics of passes over rows with missing values.
**
** References are computed here with plain code from tests/test_util.h: the
** sub-vectors and sub-matrices of the observed features, explicit
** inverses, textbook conditional moments.
*/
#include "test_util.h"

static const size_t COUNTS[] = {300, 200, 150};
static const double MEANS[] = {0, 0, 0, 6, 0, 2, 0, 6, -3};
static const double COVS[] = {1.0, 0.3, 0.1, 0.3, 0.8, 0.2, 0.1, 0.2, 1.2, /* */
                              0.6, -0.2, 0.0, -0.2, 1.0, 0.3, 0.0, 0.3, 0.7, /* */
                              1.5, 0.4, 0.4, 0.4, 0.9, 0.0, 0.4, 0.0, 0.5};
static const tu_mixture MIX = {3, 3, COUNTS, MEANS, COVS};
static const gmm_cov_type ALL_TYPES[] = {GMM_COV_FULL, GMM_COV_TIED, GMM_COV_DIAG,
                                         GMM_COV_SPHERICAL};

/* The mixture's rows with each cell missing (NaN) with probability frac,
** never a whole row. */
static double *masked_rows(double frac, uint64_t seed, size_t *n) {
  double *x = tu_mixture_sample(&MIX, seed, NULL);
  assert_non_null(x);
  *n = tu_mixture_n(&MIX);
  tu_rng rng;
  tu_rng_seed(&rng, seed + 1);
  for (size_t i = 0; i < *n; i++) {
    size_t kept = 0;
    for (int p = 0; p < MIX.d; p++) {
      if (tu_rng_uniform(&rng) < frac) x[i * 3 + (size_t)p] = NAN;
      kept += !isnan(x[i * 3 + (size_t)p]);
    }
    if (kept == 0) x[i * 3] = 0.5; /* keep one value */
  }
  return x;
}

static gmm_model *fit_rows(const double *x, size_t n, int d, const gmm_options *opt,
                           gmm_trace_fn trace, void *ctx) {
  gmm_data data = {x, n, d, NULL, 0, NULL};
  gmm_model *m = NULL;
  char err[256];
  if (gmm_fit(&data, opt, &gmm_libc_allocator, trace, ctx, &m, err, sizeof err) != GMM_OK)
    fail_msg("gmm_fit: %s", err);
  return m;
}

static void assert_same_params(const gmm_model *a, const gmm_model *b) {
  size_t kk = (size_t)a->k, dd = (size_t)a->d;
  assert_memory_equal(a->weights, b->weights, kk * sizeof(double));
  assert_memory_equal(a->means, b->means, kk * dd * sizeof(double));
  assert_memory_equal(a->covariances, b->covariances,
                      gmm_cov_len(a->k, a->d, a->covariance_type) * sizeof(double));
  assert_memory_equal(&a->summary.log_likelihood, &b->summary.log_likelihood, sizeof(double));
}

/* fit (12): on complete rows marginalize and skip give the same bits, for
** every type, weighted or not (the path of a fit without missing values). */
static void test_complete_rows_same_bits(void **state) {
  (void)state;
  size_t n = tu_mixture_n(&MIX);
  double *x = tu_mixture_sample(&MIX, 3, NULL);
  double *w = malloc(n * sizeof *w);
  for (size_t i = 0; i < n; i++) w[i] = 0.5 + (double)(i % 7);
  for (int t = 0; t < 4; t++)
    for (int weighted = 0; weighted < 2; weighted++) {
      gmm_options a, b;
      gmm_options_default(&a, 3);
      a.covariance_type = ALL_TYPES[t];
      b = a;
      b.missing = GMM_MISSING_SKIP;
      gmm_data data = {x, n, 3, weighted ? w : NULL, 0, NULL};
      gmm_model *ma = NULL, *mb = NULL;
      char err[256];
      assert_int_equal(gmm_fit(&data, &a, &gmm_libc_allocator, NULL, NULL, &ma, err, sizeof err),
                       GMM_OK);
      assert_int_equal(gmm_fit(&data, &b, &gmm_libc_allocator, NULL, NULL, &mb, err, sizeof err),
                       GMM_OK);
      assert_same_params(ma, mb);
      assert_int_equal(ma->summary.n_incomplete, 0);
      assert_true(ma->summary.missing_fraction == 0.0);
      assert_int_equal(ma->options.missing, GMM_MISSING_MARGINALIZE);
      assert_int_equal(mb->options.missing, GMM_MISSING_SKIP);
      gmm_model_free(ma);
      gmm_model_free(mb);
    }
  free(x);
  free(w);
}

/* order (1): complete rows first, then each pattern's rows together, every
** NaN the one quiet NaN, the same bytes for any arrival order. */
static void test_canonical_order_by_pattern(void **state) {
  (void)state;
  size_t n;
  double *x = masked_rows(0.3, 11, &n);
  double *y = malloc(n * 3 * sizeof *y);
  /* y: the rows reversed, with a NaN of another payload. */
  for (size_t i = 0; i < n; i++) memcpy(y + i * 3, x + (n - 1 - i) * 3, 3 * sizeof *y);
  for (size_t i = 0; i < n * 3; i++)
    if (isnan(y[i])) y[i] = -NAN;
  gmm_canonical_order(x, NULL, n, 3, 1);
  gmm_canonical_order(y, NULL, n, 3, 2);
  assert_memory_equal(x, y, n * 3 * sizeof *x);
  uint64_t canonical = UINT64_C(0x7ff8000000000000);
  unsigned prev_mask = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned mask = 0;
    for (int p = 0; p < 3; p++)
      if (isnan(x[i * 3 + (size_t)p])) {
        uint64_t bits;
        memcpy(&bits, &x[i * 3 + (size_t)p], sizeof bits);
        assert_true(bits == canonical);
        mask |= 4u >> p;
      }
    assert_true(mask >= prev_mask); /* patterns ascending: grouped, complete first */
    prev_mask = mask;
  }
  free(x);
  free(y);  /* Few rows (the comparison sort, not the radix passes), weighted: the
  ** same bytes from any order too (a fuzz_fit find). */
  double a[24 * 2], b[24 * 2], wa[24], wb[24];
  for (int i = 0; i < 24; i++) {
    a[2 * i] = i % 5 == 0 ? NAN : (double)(i % 7);
    a[2 * i + 1] = i % 3 == 0 ? NAN : (double)(i % 4);
    if (isnan(a[2 * i]) && isnan(a[2 * i + 1])) a[2 * i] = 1.0;
    wa[i] = 1.0 + (double)(i % 2);
  }
  for (int i = 0; i < 24; i++) {
    memcpy(b + 2 * i, a + 2 * (23 - i), 2 * sizeof *b);
    wb[i] = wa[23 - i];
  }
  gmm_canonical_order(a, wa, 24, 2, 1);
  gmm_canonical_order(b, wb, 24, 2, 1);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_equal(wa, wb, sizeof wa);
}

typedef struct trace_log {
  double prev;
  int n, decreases;
} trace_log;

static int record(void *ctx, int init, int iter, double lower_bound) {
  (void)init;
  trace_log *t = ctx;
  if (iter > 1 && lower_bound < t->prev - 1e-12 * fabs(t->prev)) t->decreases++;
  t->prev = lower_bound;
  t->n++;
  return 0;
}

/* missing (4): the observed-data log-likelihood never decreases (reg_covar
** 0), for every type and k. */
static void test_loglik_never_decreases(void **state) {
  (void)state;
  size_t n;
  double *x = masked_rows(0.2, 5, &n);
  gmm_canonical_order(x, NULL, n, 3, 1);
  for (int t = 0; t < 4; t++)
    for (int k = 1; k <= 3; k++) {
      gmm_options opt;
      gmm_options_default(&opt, k);
      opt.covariance_type = ALL_TYPES[t];
      opt.reg_covar = 0.0;
      opt.tol = 0.0;
      opt.max_iter = 60;
      trace_log log = {0, 0, 0};
      gmm_model *m = fit_rows(x, n, 3, &opt, record, &log);
      assert_int_equal(log.n, 60);
      assert_int_equal(log.decreases, 0);
      assert_true(m->summary.n_incomplete > 0);
      gmm_model_free(m);
    }
  free(x);
}

/* fit (4), missing (5): the same bits for any thread count; rows in
** canonical order and in arrival order agree (runs tiled or row by row). */
static void test_threads_and_order(void **state) {
  (void)state;
  /* 20 copies of the rows, jittered: enough rows for several blocks. */
  size_t n0, n;
  double *x0 = masked_rows(0.15, 9, &n0);
  n = n0 * 20;
  double *x = malloc(n * 3 * sizeof *x), *y = malloc(n * 3 * sizeof *y);
  for (size_t c = 0; c < 20; c++)
    for (size_t i = 0; i < n0 * 3; i++) x[c * n0 * 3 + i] = x0[i] + 1e-3 * (double)c;
  memcpy(y, x, n * 3 * sizeof *y);
  gmm_canonical_order(x, NULL, n, 3, 0);
  for (int t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 3);
    opt.covariance_type = ALL_TYPES[t];
    opt.threads = 1;
    gmm_model *one = fit_rows(x, n, 3, &opt, NULL, NULL);
    opt.threads = 4;
    gmm_model *four = fit_rows(x, n, 3, &opt, NULL, NULL);
    assert_same_params(one, four);
    /* From the same start, arrival order (row by row) agrees to rounding. */
    gmm_options w = opt;
    w.warm_start = one;
    w.max_iter = 5;
    gmm_model *sorted = fit_rows(x, n, 3, &w, NULL, NULL);
    gmm_model *unsorted = fit_rows(y, n, 3, &w, NULL, NULL);
    for (size_t i = 0; i < 9; i++)
      assert_close_rel(sorted->means[i], unsorted->means[i], 1e-9);
    size_t nc = gmm_cov_len(3, 3, opt.covariance_type);
    for (size_t i = 0; i < nc; i++)
      assert_close_abs(sorted->covariances[i], unsorted->covariances[i], 1e-9);
    gmm_model_free(one);
    gmm_model_free(four);
    gmm_model_free(sorted);
    gmm_model_free(unsorted);
  }
  free(x0);
  free(x);
  free(y);
}

/* ---- a textbook E-step and M-step with missing values (full) ---- */

/* The sub-matrix of s (d x d) on rows ri and columns ci. */
static void sub_matrix(const double *s, int d, const int *ri, int nr, const int *ci, int nc,
                       double *out) {
  for (int a = 0; a < nr; a++)
    for (int b = 0; b < nc; b++) out[a * nc + b] = s[ri[a] * d + ci[b]];
}

/* missing (2), (3), (4) against Ghahramani & Jordan's M-step written out:
** one EM iteration of gmm_fit (warm start, reg_covar 0) equals the
** reference's. */
static void test_one_iteration_matches_reference(void **state) {
  (void)state;
  size_t n;
  double *x = masked_rows(0.25, 21, &n);
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.reg_covar = 0.0;
  opt.max_iter = 3;
  gmm_model *start = fit_rows(x, n, 3, &opt, NULL, NULL);
  opt.warm_start = start;
  opt.max_iter = 1;
  gmm_model *next = fit_rows(x, n, 3, &opt, NULL, NULL);
  int d = 3, k = 2;
  double nk[2] = {0}, s1[2][3] = {{0}}, s2[2][9] = {{0}};
  /* E-step: sums of r x_hat and r (x_hat x_hat' + C). */
  for (size_t i = 0; i < n; i++) {
    const double *xi = x + i * 3;
    int obs[3], mis[3], no = 0, nm = 0;
    for (int p = 0; p < d; p++) {
      if (isnan(xi[p]))
        mis[nm++] = p;
      else
        obs[no++] = p;
    }
    double logp[2], xhat[2][3], cond[2][9];
    for (int j = 0; j < k; j++) {
      const double *mu = start->means + j * d, *s = start->covariances + j * d * d;
      double soo[9], soo_inv[9], smo[9], smm[9], delta[3], l[9];
      sub_matrix(s, d, obs, no, obs, no, soo);
      sub_matrix(s, d, mis, nm, obs, no, smo);
      sub_matrix(s, d, mis, nm, mis, nm, smm);
      assert_int_equal(tu_spd_inverse(soo, no, soo_inv), 0);
      assert_int_equal(tu_cholesky(soo, no, l), 0);
      double xo[3], muo[3];
      for (int a = 0; a < no; a++) {
        xo[a] = xi[obs[a]];
        muo[a] = mu[obs[a]];
        delta[a] = xo[a] - muo[a];
      }
      logp[j] = log(start->weights[j]) + tu_gauss_logpdf_chol(xo, muo, l, no);
      for (int p = 0; p < d; p++) xhat[j][p] = isnan(xi[p]) ? 0.0 : xi[p];
      for (int b = 0; b < nm; b++) {
        double v = mu[mis[b]];
        for (int a = 0; a < no; a++)
          for (int c = 0; c < no; c++) v += smo[b * no + a] * soo_inv[a * no + c] * delta[c];
        xhat[j][mis[b]] = v;
      }
      memset(cond[j], 0, sizeof cond[j]);
      for (int b = 0; b < nm; b++)
        for (int b2 = 0; b2 < nm; b2++) {
          double v = smm[b * nm + b2];
          for (int a = 0; a < no; a++)
            for (int c = 0; c < no; c++)
              v -= smo[b * no + a] * soo_inv[a * no + c] * smo[b2 * no + c];
          cond[j][mis[b] * d + mis[b2]] = v;
        }
    }
    double top = fmax(logp[0], logp[1]);
    double tot = exp(logp[0] - top) + exp(logp[1] - top);
    for (int j = 0; j < k; j++) {
      double r = exp(logp[j] - top) / tot;
      nk[j] += r;
      for (int p = 0; p < d; p++) {
        s1[j][p] += r * xhat[j][p];
        for (int q = 0; q < d; q++)
          s2[j][p * d + q] += r * (xhat[j][p] * xhat[j][q] + cond[j][p * d + q]);
      }
    }
  }
  for (int j = 0; j < k; j++) {
    assert_close_rel(next->weights[j], nk[j] / (double)n, 1e-10);
    for (int p = 0; p < d; p++) {
      double mu = s1[j][p] / nk[j];
      assert_close_rel(next->means[j * d + p], mu, 1e-10);
      for (int q = 0; q < d; q++) {
        double cov = s2[j][p * d + q] / nk[j] - mu * s1[j][q] / nk[j];
        assert_close_abs(next->covariances[j * d * d + p * d + q], cov, 1e-10);
      }
    }
  }
  gmm_model_free(start);
  gmm_model_free(next);
  free(x);
}

/* fit (12): rows with every value missing are skipped and counted; counts
** of incomplete rows and missing cells; errors name what is wrong. */
static void test_counts_and_errors(void **state) {
  (void)state;
  double x[] = {0, 1, NAN, 2, 1, NAN, NAN, NAN, 3, 3, 2, 2, 4, 1, NAN, NAN};
  gmm_options opt;
  gmm_options_default(&opt, 1);
  gmm_model *m = fit_rows(x, 8, 2, &opt, NULL, NULL);
  assert_int_equal(m->summary.n_skipped, 2);
  assert_int_equal(m->summary.n_incomplete, 2);
  assert_true(m->summary.missing_fraction == 2.0 / 12.0);
  assert_true(m->summary.n_samples == 6.0);
  gmm_model_free(m);

  char err[256];
  gmm_model *out = NULL;
  double never[] = {1, NAN, 2, NAN, 3, NAN};
  gmm_data data = {never, 3, 2, NULL, 0, NULL};
  assert_int_equal(gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &out, err, sizeof err),
                   GMM_EINVAL);
  assert_string_equal(err, "feature 2 is missing on every row used (3 rows): its mean and "
                           "variance cannot be estimated");
  opt.missing = GMM_MISSING_SKIP;
  gmm_data holes = {x, 8, 2, NULL, 0, NULL};
  assert_int_equal(gmm_fit(&holes, &opt, &gmm_libc_allocator, NULL, NULL, &out, err, sizeof err),
                   GMM_EINVAL);
  assert_string_equal(err, "row 2, feature 1 is missing (NaN), and the option missing is 'skip'");
  opt.missing = GMM_MISSING_MARGINALIZE;
  double inf[] = {1, 2, INFINITY, NAN, 3, 4};
  gmm_data infinite = {inf, 3, 2, NULL, 0, NULL};
  assert_int_equal(
      gmm_fit(&infinite, &opt, &gmm_libc_allocator, NULL, NULL, &out, err, sizeof err),
      GMM_EINVAL);
  assert_string_equal(err, "row 2, feature 1 is not finite");
  assert_null(out);
}

/* A k = 2 full model over 3 features, fitted on the mixture's rows. */
static gmm_model *known_model(gmm_cov_type t) {
  size_t n = tu_mixture_n(&MIX);
  double *x = tu_mixture_sample(&MIX, 2, NULL);
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.covariance_type = t;
  gmm_model *m = fit_rows(x, n, 3, &opt, NULL, NULL);
  free(x);
  return m;
}

/* The model's full covariance of component j, whatever its type. */
static void full_cov(const gmm_model *m, int j, double *s) {
  int d = m->d;
  memset(s, 0, (size_t)(d * d) * sizeof *s);
  for (int p = 0; p < d; p++)
    for (int q = 0; q < d; q++) switch (gmm_cov_shape(m->covariance_type)) {
        case GMM_COV_FULL: s[p * d + q] = m->covariances[(j * d + p) * d + q]; break;
        case GMM_COV_TIED: s[p * d + q] = m->covariances[p * d + q]; break;
        case GMM_COV_DIAG: s[p * d + q] = p == q ? m->covariances[j * d + p] : 0.0; break;
        case GMM_COV_SPHERICAL: s[p * d + q] = p == q ? m->covariances[j] : 0.0; break;
        default: break;
      }
}

/* missing (6): scores and posteriors of a row with missing values are
** those of the mixture restricted to the observed features. */
static void test_marginal_scores(void **state) {
  (void)state;
  for (int t = 0; t < 4; t++) {
    gmm_model *m = known_model(ALL_TYPES[t]);
    double *scratch = malloc(gmm_model_scratch_len(m) * sizeof *scratch);
    double row[3] = {0.7, NAN, 1.9}, post[2];
    int obs[2] = {0, 2}, label;
    double score = gmm_model_score_row(m, row, scratch, post, &label);
    double lp[2];
    for (int j = 0; j < 2; j++) {
      double s[9], soo[4], l[4], xo[2] = {0.7, 1.9}, muo[2];
      full_cov(m, j, s);
      sub_matrix(s, 3, obs, 2, obs, 2, soo);
      assert_int_equal(tu_cholesky(soo, 2, l), 0);
      for (int a = 0; a < 2; a++) muo[a] = m->means[j * 3 + obs[a]];
      lp[j] = log(m->weights[j]) + tu_gauss_logpdf_chol(xo, muo, l, 2);
    }
    double top = fmax(lp[0], lp[1]), lse = top + log(exp(lp[0] - top) + exp(lp[1] - top));
    assert_close_rel(score, lse, 1e-12);
    for (int j = 0; j < 2; j++) assert_close_abs(post[j], exp(lp[j] - lse), 1e-12);
    assert_int_equal(label, lp[1] > lp[0]);
    assert_int_equal(gmm_model_predict_row(m, row, scratch), lp[1] > lp[0]);
    /* Every value missing: the prior. */
    double none[3] = {NAN, NAN, NAN};
    assert_close_abs(gmm_model_score_row(m, none, scratch, post, NULL), 0.0, 1e-15);
    for (int j = 0; j < 2; j++) assert_close_abs(post[j], m->weights[j], 1e-15);
    free(scratch);
    gmm_model_free(m);
  }
}

/* gmm_model_impute_row: the mixture's conditional mean; observed values
** unchanged; every value missing gives the mixture mean. */
static void test_impute(void **state) {
  (void)state;
  for (int t = 0; t < 4; t++) {
    gmm_model *m = known_model(ALL_TYPES[t]);
    double *scratch = malloc(gmm_model_scratch_len(m) * sizeof *scratch);
    double row[3] = {NAN, 0.4, NAN}, post[2];
    double probe[3] = {NAN, 0.4, NAN};
    gmm_model_score_row(m, probe, scratch, post, NULL);
    double want[3] = {0, 0.4, 0};
    for (int j = 0; j < 2; j++) {
      double s[9];
      full_cov(m, j, s);
      const double *mu = m->means + j * 3;
      for (int p = 0; p < 3; p += 2)
        want[p] += post[j] * (mu[p] + s[p * 3 + 1] / s[1 * 3 + 1] * (0.4 - mu[1]));
    }
    gmm_model_impute_row(m, row, scratch);
    assert_true(row[1] == 0.4);
    assert_close_rel(row[0], want[0], 1e-12);
    assert_close_rel(row[2], want[2], 1e-12);
    double none[3] = {NAN, NAN, NAN};
    gmm_model_impute_row(m, none, scratch);
    for (int p = 0; p < 3; p++)
      assert_close_rel(none[p], m->weights[0] * m->means[p] + m->weights[1] * m->means[3 + p],
                       1e-12);
    free(scratch);
    gmm_model_free(m);
  }
}

/* gmm_model_draw_missing_row: reproducible for (seed, stream); observed
** values unchanged; the draws' mean and covariance are the conditional
** ones (k = 1: mu_m + S_mo S_oo^-1 delta and S_mm - S_mo S_oo^-1 S_om). */
static void test_draws(void **state) {
  (void)state;
  size_t n = tu_mixture_n(&MIX);
  double *x = tu_mixture_sample(&MIX, 4, NULL);
  gmm_options opt;
  gmm_options_default(&opt, 1);
  gmm_model *m = fit_rows(x, n, 3, &opt, NULL, NULL);
  free(x);
  double *scratch = malloc(gmm_model_scratch_len(m) * sizeof *scratch);
  double a[3] = {NAN, 1.0, NAN}, b[3] = {NAN, 1.0, NAN};
  gmm_model_draw_missing_row(m, a, 7, 3, scratch);
  gmm_model_draw_missing_row(m, b, 7, 3, scratch);
  assert_memory_equal(a, b, sizeof a);
  assert_true(a[1] == 1.0);
  const double *s = m->covariances, *mu = m->means;
  double want0 = mu[0] + s[1] / s[4] * (1.0 - mu[1]), want2 = mu[2] + s[7] / s[4] * (1.0 - mu[1]);
  double c00 = s[0] - s[1] * s[1] / s[4], c22 = s[8] - s[7] * s[7] / s[4];
  double c02 = s[2] - s[1] * s[7] / s[4];
  const int n_draws = 40000;
  double m0 = 0, m2 = 0, v0 = 0, v2 = 0, v02 = 0;
  for (int i = 0; i < n_draws; i++) {
    double r[3] = {NAN, 1.0, NAN};
    gmm_model_draw_missing_row(m, r, 7, (uint64_t)i, scratch);
    m0 += r[0];
    m2 += r[2];
    v0 += (r[0] - want0) * (r[0] - want0);
    v2 += (r[2] - want2) * (r[2] - want2);
    v02 += (r[0] - want0) * (r[2] - want2);
  }
  m0 /= n_draws;
  m2 /= n_draws;
  /* within 5 standard errors */
  assert_close_abs(m0, want0, 5 * sqrt(c00 / n_draws));
  assert_close_abs(m2, want2, 5 * sqrt(c22 / n_draws));
  assert_close_rel(v0 / n_draws, c00, 0.05);
  assert_close_rel(v2 / n_draws, c22, 0.05);
  assert_close_abs(v02 / n_draws, c02, 0.05 * sqrt(c00 * c22));
  free(scratch);
  gmm_model_free(m);
}

/* stats (4), missing (4): passes over batches whose rows with missing
** values arrive interleaved agree with gmm_fit's iteration; the counts add
** up; rows with every value missing are skipped and counted. */
static void test_passes_with_missing(void **state) {
  (void)state;
  size_t n;
  double *x = masked_rows(0.2, 13, &n);
  x[0] = x[1] = x[2] = NAN; /* one row with every value missing */
  for (int t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 3);
    opt.covariance_type = ALL_TYPES[t];
    opt.max_iter = 0;
    gmm_model *start = fit_rows(x, n, 3, &opt, NULL, NULL);
    start->options.max_iter = 1;
    size_t len = gmm_blob_size(start);
    unsigned char *blob = malloc(len);
    gmm_blob_write(start, blob);
    uint64_t fp = gmm_blob_stored_checksum(blob, len);
    free(blob);
    gmm_estats *st = NULL;
    gmm_estep_acc *acc = NULL;
    assert_int_equal(gmm_estats_new(start, fp, 0, &gmm_libc_allocator, &st), GMM_OK);
    assert_int_equal(gmm_estep_acc_new(start, 2, &gmm_libc_allocator, &acc), GMM_OK);
    for (size_t i = 0; i < n; i += 97) gmm_estep_add(acc, x + i * 3, NULL, n - i < 97 ? n - i : 97, st);
    assert_int_equal(st->n_rows, (int64_t)n - 1);
    assert_int_equal(st->n_skipped, 1);
    assert_true(st->n_incomplete > 0 && st->n_missing >= st->n_incomplete);
    gmm_model *next = NULL;
    char err[256];
    assert_int_equal(gmm_mstep(start, fp, st, &gmm_libc_allocator, &next, err, sizeof err),
                     GMM_OK);
    assert_int_equal(next->summary.n_incomplete, st->n_incomplete);
    gmm_options w = opt;
    w.warm_start = start;
    w.max_iter = 1;
    gmm_model *fitted = fit_rows(x, n, 3, &w, NULL, NULL);
    for (size_t i = 0; i < 9; i++) assert_close_rel(next->means[i], fitted->means[i], 1e-10);
    size_t nc = gmm_cov_len(3, 3, opt.covariance_type);
    for (size_t i = 0; i < nc; i++)
      assert_close_abs(next->covariances[i], fitted->covariances[i], 1e-10);
    assert_int_equal(fitted->summary.n_incomplete, st->n_incomplete);
    gmm_model_free(fitted);
    gmm_model_free(next);
    gmm_estep_acc_free(acc);
    gmm_estats_free(st);
    gmm_model_free(start);
  }
  free(x);
}

/* A pair of features never observed together (README "Missing values"):
** the fit succeeds, its numbers are finite and positive definite, and the
** log-likelihood still never decreases. The pair's covariance is not
** identified by the rows: it is where EM leaves it from the start. */
static void test_pair_never_observed_together(void **state) {
  (void)state;
  size_t n;
  double *x = masked_rows(0.0, 17, &n);
  for (size_t i = 0; i < n; i++) x[i * 3 + (i % 2 ? 0 : 2)] = NAN;
  gmm_canonical_order(x, NULL, n, 3, 1);
  gmm_options opt;
  gmm_options_default(&opt, 1);
  opt.reg_covar = 0.0;
  opt.tol = 0.0;
  opt.max_iter = 200;
  trace_log log = {0, 0, 0};
  gmm_model *m = fit_rows(x, n, 3, &opt, record, &log);
  assert_int_equal(log.decreases, 0);
  assert_true(tu_all_finite(m->covariances, 9));
  assert_int_equal(m->summary.n_incomplete, (int64_t)n);
  const double *s = m->covariances;
  assert_true(s[2] * s[2] < s[0] * s[8]);
  gmm_model_free(m);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_complete_rows_same_bits),
      cmocka_unit_test(test_canonical_order_by_pattern),
      cmocka_unit_test(test_loglik_never_decreases),
      cmocka_unit_test(test_threads_and_order),
      cmocka_unit_test(test_one_iteration_matches_reference),
      cmocka_unit_test(test_counts_and_errors),
      cmocka_unit_test(test_marginal_scores),
      cmocka_unit_test(test_impute),
      cmocka_unit_test(test_draws),
      cmocka_unit_test(test_passes_with_missing),
      cmocka_unit_test(test_pair_never_observed_together),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
