/*
** test_tile.c -- the blocked E+M kernel (ext/core/gmm_tile.c) against the
** row-at-a-time path it stands in for.
**
** A white-box test: it includes gmm_internal.h to call gmm_tile_pass and
** the row path's pieces (gmm_model_log_prob, gmm_posteriors,
** gmm_stats_add_row) directly. Models are random (means, SPD covariances,
** weights); rows are drawn around them, some far out in the tails.
*/
#include "test_util.h"

#include "gmm_internal.h"

#define TILE_ARGS                                                                        \
  const gmm_model *, const double *, const double *, size_t, const double *, gmm_tile *, \
      gmm_stats *, double *

static const gmm_cov_type ALL_COVS[] = {GMM_COV_FULL, GMM_COV_TIED, GMM_COV_DIAG,
                                        GMM_COV_SPHERICAL};

/* A random prepared model: means in [-3, 3]^d, covariances A A' / d + 0.1 I
** (full, tied), variances in [0.2, 2.2] (diag, spherical). */
static gmm_model *random_model(int k, int d, gmm_cov_type type, tu_rng *r) {
  gmm_model *m = gmm_model_new(k, d, type, &gmm_libc_allocator);
  assert_non_null(m);
  size_t kk = (size_t)k, dd = (size_t)d;
  double total = 0.0;
  for (size_t j = 0; j < kk; j++) total += m->weights[j] = 0.5 + tu_rng_uniform(r);
  for (size_t j = 0; j < kk; j++) m->weights[j] /= total;
  for (size_t i = 0; i < kk * dd; i++) m->means[i] = 6.0 * tu_rng_uniform(r) - 3.0;
  size_t n_mats = type == GMM_COV_FULL ? kk : type == GMM_COV_TIED ? 1 : 0;
  double *a = malloc(dd * dd * sizeof *a);
  assert_non_null(a);
  for (size_t s = 0; s < n_mats; s++) {
    double *c = m->covariances + s * dd * dd;
    for (size_t i = 0; i < dd * dd; i++) a[i] = tu_rng_normal(r);
    for (size_t p = 0; p < dd; p++)
      for (size_t q = 0; q < dd; q++) {
        double v = 0.0;
        for (size_t t = 0; t < dd; t++) v += a[p * dd + t] * a[q * dd + t];
        c[p * dd + q] = v / (double)d + (p == q ? 0.1 : 0.0);
      }
  }
  free(a);
  if (type == GMM_COV_DIAG || type == GMM_COV_SPHERICAL) {
    size_t n_var = type == GMM_COV_DIAG ? kk * dd : kk;
    for (size_t i = 0; i < n_var; i++) m->covariances[i] = 0.2 + 2.0 * tu_rng_uniform(r);
  }
  char err[256] = "";
  assert_int_equal(gmm_model_prepare(m, err, sizeof err), GMM_OK);
  return m;
}

/* n rows near the model's means; every fifth row 6 to 30 units out. */
static double *random_rows(const gmm_model *m, size_t n, tu_rng *r) {
  size_t dd = (size_t)m->d;
  double *x = malloc(n * dd * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) {
    const double *mu = m->means + tu_rng_below(r, (size_t)m->k) * dd;
    double spread = i % 5 == 4 ? 6.0 + 24.0 * tu_rng_uniform(r) : 1.0;
    for (size_t p = 0; p < dd; p++) x[i * dd + p] = mu[p] + spread * tu_rng_normal(r);
  }
  return x;
}

/* The row-at-a-time path (gmm_fit.c's rows_one_by_one, around the means). */
static double reference_pass(const gmm_model *m, const double *x, const double *w, size_t n,
                             gmm_stats *st) {
  size_t kk = (size_t)m->k, dd = (size_t)m->d;
  double *diff = malloc((kk * dd + kk) * sizeof *diff), *log_p = diff + kk * dd;
  assert_non_null(diff);
  double ll = 0.0;
  for (size_t i = 0; i < n; i++) {
    double weight = w ? w[i] : 1.0;
    if (weight == 0.0) continue;
    gmm_model_log_prob(m, x + i * dd, diff, log_p);
    double lse = gmm_posteriors(log_p, m->k, log_p);
    ll += weight * lse;
    for (size_t j = 0; j < kk; j++)
      if (weight * log_p[j] > 0.0) gmm_stats_add_row(st, (int)j, weight * log_p[j], diff + j * dd);
  }
  free(diff);
  return ll;
}

/* |a - b| <= tol * (scale + |b|), printing the place when it fails. */
static void assert_near(double a, double b, double scale, double tol, const char *what,
                        const char *label, size_t index) {
  if (!(fabs(a - b) <= tol * (scale + fabs(b))))
    fail_msg("%s: %s[%zu] = %.17g, row path %.17g (tolerance %g x (%g + |ref|))", label, what,
             index, a, b, tol, scale);
}

static void assert_stats_near(const gmm_stats *a, const gmm_stats *b, double nk_scale,
                              const char *label) {
  size_t kk = (size_t)a->k, dd = (size_t)a->d;
  size_t n2 = a->diag_only ? kk * dd : kk * dd * dd;
  for (size_t j = 0; j < kk; j++) assert_near(a->nk[j], b->nk[j], nk_scale, 1e-12, "nk", label, j);
  /* s1 and s2 are sums of r (x - mu) and r (x - mu)^2 over rows up to ~30
  ** units out: scale the tolerance by the mass times 30 and 900. */
  for (size_t i = 0; i < kk * dd; i++)
    assert_near(a->s1[i], b->s1[i], 30.0 * nk_scale, 1e-12, "s1", label, i);
  for (size_t i = 0; i < n2; i++) {
    size_t within = i % (dd * dd), p = within / dd, q = within % dd;
    if (!a->diag_only && q > p) continue; /* only the lower triangle is kept */
    assert_near(a->s2[i], b->s2[i], 900.0 * nk_scale, 1e-12, "s2", label, i);
  }
}

/*
** tile (1), (2): for every covariance type, k x d in {1 x 1, 3 x 2, 4 x 3,
** 5 x 7, 2 x 17, 3 x 64}, and row counts 1, 7, 8, 9, the tile's capacity
** and three less, with and without row weights (some 0): the kernel's
** log-likelihood and statistics equal the row path's within 1e-12
** relative (statistics: of the component's mass times the spread).
*/
static void test_tile_matches_rows(void **state) {
  (void)state;
  static const int shapes[][2] = {{1, 1}, {3, 2}, {4, 3}, {5, 7}, {2, 17}, {3, 64}};
  tu_rng r;
  tu_rng_seed(&r, 42);
  for (size_t t = 0; t < 4; t++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      int k = shapes[s][0], d = shapes[s][1];
      gmm_model *m = random_model(k, d, ALL_COVS[t], &r);
      gmm_tile tile;
      assert_int_equal(gmm_tile_init(&tile, k, d, &gmm_libc_allocator), GMM_OK);
      size_t counts[] = {1, 7, 8, 9, tile.rows - 3, tile.rows};
      for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (int weighted = 0; weighted < 2; weighted++) {
          size_t n = counts[c];
          double *x = random_rows(m, n, &r), *w = NULL;
          if (weighted) {
            w = malloc(n * sizeof *w);
            assert_non_null(w);
            for (size_t i = 0; i < n; i++) w[i] = i % 3 == 1 ? 0.0 : 3.0 * tu_rng_uniform(&r);
          }
          char label[128];
          snprintf(label, sizeof label, "%s, k=%d, d=%d, n=%zu%s", gmm_cov_type_name(ALL_COVS[t]),
                   k, d, n, weighted ? ", weighted" : "");
          int diag_only = ALL_COVS[t] == GMM_COV_DIAG || ALL_COVS[t] == GMM_COV_SPHERICAL;
          gmm_stats got, want;
          assert_int_equal(gmm_stats_init(&got, k, d, diag_only, &gmm_libc_allocator), GMM_OK);
          assert_int_equal(gmm_stats_init(&want, k, d, diag_only, &gmm_libc_allocator), GMM_OK);
          gmm_stats_zero(&got);
          gmm_stats_zero(&want);
          double ll = NAN, ll_only = NAN;
          double ll_ref = reference_pass(m, x, w, n, &want);
          /* The dispatched kernel, then the baseline one. */
          for (int narrow = 0; narrow < 2; narrow++) {
            int (*pass)(TILE_ARGS) = narrow ? gmm_tile_pass_baseline : gmm_tile_pass;
            gmm_stats_zero(&got);
            assert_int_equal(pass(m, x, w, n, m->means, &tile, &got, &ll), 1);
            assert_int_equal(pass(m, x, w, n, m->means, &tile, NULL, &ll_only), 1);
            assert_near(ll, ll_ref, 0.0, 1e-12, "ll", label, 0);
            /* The same sum whether or not statistics are taken. */
            assert_memory_equal(&ll, &ll_only, sizeof ll);
            assert_stats_near(&got, &want, (double)n, label);
          }
          gmm_stats_free(&got, &gmm_libc_allocator);
          gmm_stats_free(&want, &gmm_libc_allocator);
          free(x);
          free(w);
        }
      gmm_tile_free(&tile, &gmm_libc_allocator);
      gmm_model_free(m);
    }
}

/*
** tile (4), (5): a row so far out that every log density is -inf makes the
** kernel decline (returns 0) and leave the statistics and *ll alone,
** whatever other rows share its tile; rows whose shares differ by 700 to
** 750 in log space (exp near and below its underflow) still match the row
** path, their smallest shares being 0 or subnormal-sized.
*/
static void test_tile_declines_and_underflows(void **state) {
  (void)state;
  tu_rng r;
  tu_rng_seed(&r, 7);
  gmm_model *m = gmm_model_new(2, 1, GMM_COV_DIAG, &gmm_libc_allocator);
  assert_non_null(m);
  m->weights[0] = m->weights[1] = 0.5;
  m->means[0] = 0.0;
  m->means[1] = 1.0;
  m->covariances[0] = m->covariances[1] = 1e-300;
  char err[256] = "";
  assert_int_equal(gmm_model_prepare(m, err, sizeof err), GMM_OK);
  gmm_tile tile;
  assert_int_equal(gmm_tile_init(&tile, 2, 1, &gmm_libc_allocator), GMM_OK);
  double x[20];
  for (int i = 0; i < 20; i++) x[i] = i == 13 ? 1e10 : i % 2;
  gmm_stats st;
  assert_int_equal(gmm_stats_init(&st, 2, 1, 1, &gmm_libc_allocator), GMM_OK);
  gmm_stats_zero(&st);
  double ll = 12345.0;
  assert_int_equal(gmm_tile_pass(m, x, NULL, 20, m->means, &tile, &st, &ll), 0);
  assert_true(ll == 12345.0);
  for (int j = 0; j < 2; j++) assert_true(st.nk[j] == 0.0 && st.s1[j] == 0.0 && st.s2[j] == 0.0);
  gmm_stats_free(&st, &gmm_libc_allocator);
  gmm_model_free(m);

  /* Two components 1 apart with unit variance: log shares differ by
  ** (x - 0.5); rows at 700 .. 750 put the far share across exp's underflow. */
  m = gmm_model_new(2, 1, GMM_COV_SPHERICAL, &gmm_libc_allocator);
  assert_non_null(m);
  m->weights[0] = m->weights[1] = 0.5;
  m->means[0] = 0.0;
  m->means[1] = 1.0;
  m->covariances[0] = m->covariances[1] = 1.0;
  assert_int_equal(gmm_model_prepare(m, err, sizeof err), GMM_OK);
  size_t n = 51;
  double xs[51];
  for (size_t i = 0; i < n; i++) xs[i] = 700.5 + (double)i;
  gmm_stats got, want;
  assert_int_equal(gmm_stats_init(&got, 2, 1, 1, &gmm_libc_allocator), GMM_OK);
  assert_int_equal(gmm_stats_init(&want, 2, 1, 1, &gmm_libc_allocator), GMM_OK);
  gmm_stats_zero(&got);
  gmm_stats_zero(&want);
  assert_int_equal(gmm_tile_pass(m, xs, NULL, n, m->means, &tile, &got, &ll), 1);
  double ll_ref = reference_pass(m, xs, NULL, n, &want);
  assert_near(ll, ll_ref, 0.0, 1e-13, "ll", "underflow", 0);
  assert_near(got.nk[1], want.nk[1], 0.0, 1e-13, "nk", "underflow", 1);
  assert_true(got.nk[0] >= 0.0 && got.nk[0] < 1e-300);
  gmm_stats_free(&got, &gmm_libc_allocator);
  gmm_stats_free(&want, &gmm_libc_allocator);
  gmm_tile_free(&tile, &gmm_libc_allocator);
  gmm_model_free(m);
}

/*
** tile (3): the baseline (2-lane) kernel matches the row path like the
** dispatched one (checked above); where the kernel is dispatched at run
** time (x86-64, GCC or Clang), the AVX2 and AVX-512 clones this CPU runs
** give the same bits as each other, and agree with the baseline within
** 1e-13 relative, for every covariance type: relative to the sum of the
** terms' magnitudes (diagonal_of), as the clones round their products once
** (fused multiply-adds) where the baseline rounds them twice.
*/
/* b's sum of |r a_p a_q| over the rows is at most sqrt(s2_pp s2_qq), and
** of |r a_p| at most sqrt(nk s2_pp) (Cauchy-Schwarz): the scale at which two
** roundings of the same sum can differ. */
static double diagonal_of(const gmm_stats *b, size_t j, size_t p) {
  size_t dd = (size_t)b->d;
  return b->diag_only ? b->s2[j * dd + p] : b->s2[j * dd * dd + p * dd + p];
}

/* Every statistic of a and b: bit for bit, or within tol of its scale. */
static void assert_stats_agree(const gmm_stats *a, double ll_a, const gmm_stats *b, double ll_b,
                               double tol, const char *label) {
  size_t kk = (size_t)a->k, dd = (size_t)a->d;
  size_t len = kk * (1 + dd) + (a->diag_only ? kk * dd : kk * dd * dd);
  if (tol == 0.0) {
    if (memcmp(&ll_a, &ll_b, sizeof ll_a) != 0 || memcmp(a->nk, b->nk, len * sizeof(double)) != 0)
      fail_msg("%s: not the same bits", label);
    return;
  }
  assert_near(ll_a, ll_b, 0.0, tol, "ll", label, 0);
  for (size_t j = 0; j < kk; j++) {
    assert_near(a->nk[j], b->nk[j], 0.0, tol, "nk", label, j);
    for (size_t p = 0; p < dd; p++) {
      double spp = diagonal_of(b, j, p);
      assert_near(a->s1[j * dd + p], b->s1[j * dd + p], sqrt(b->nk[j] * spp), tol, "s1", label,
                  j * dd + p);
      if (a->diag_only) {
        assert_near(a->s2[j * dd + p], b->s2[j * dd + p], 0.0, tol, "s2", label, j * dd + p);
        continue;
      }
      for (size_t q = 0; q <= p; q++) {
        size_t i = j * dd * dd + p * dd + q;
        assert_near(a->s2[i], b->s2[i], sqrt(spp * diagonal_of(b, j, q)), tol, "s2", label, i);
      }
    }
  }
}

static void test_tile_clones_agree(void **state) {
  (void)state;
  struct {
    const char *name;
    int (*fn)(TILE_ARGS);
    int usable;
  } clones[2] = {{"avx2", NULL, 0}, {"avx512f", NULL, 0}};
#ifdef GMM_TILE_DISPATCH
  __builtin_cpu_init();
  clones[0].fn = gmm_tile_pass_avx2;
  clones[0].usable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  clones[1].fn = gmm_tile_pass_avx512f;
  clones[1].usable = __builtin_cpu_supports("avx512f");
#endif
  tu_rng r;
  tu_rng_seed(&r, 99);
  int compared = 0;
  /* Each width of the small-d kernels and transposes (1 to 4), the
  ** general one (5, 9: an odd feature pairs with the zero row), and a tile
  ** that is not a whole number of steps. */
  static const int dims[] = {1, 2, 3, 4, 5, 9};
  for (size_t t = 0; t < 4 * sizeof dims / sizeof dims[0]; t++) {
    int k = 4, d = dims[t / 4];
    gmm_model *m = random_model(k, d, ALL_COVS[t % 4], &r);
    gmm_tile tile;
    assert_int_equal(gmm_tile_init(&tile, k, d, &gmm_libc_allocator), GMM_OK);
    size_t n = tile.rows - 5;
    double *x = random_rows(m, n, &r);
    int diag_only = ALL_COVS[t % 4] == GMM_COV_DIAG || ALL_COVS[t % 4] == GMM_COV_SPHERICAL;
    gmm_stats base, first, other;
    assert_int_equal(gmm_stats_init(&base, k, d, diag_only, &gmm_libc_allocator), GMM_OK);
    assert_int_equal(gmm_stats_init(&first, k, d, diag_only, &gmm_libc_allocator), GMM_OK);
    assert_int_equal(gmm_stats_init(&other, k, d, diag_only, &gmm_libc_allocator), GMM_OK);
    gmm_stats_zero(&base);
    double ll_base, ll_first = 0.0, ll_other;
    assert_int_equal(gmm_tile_pass_baseline(m, x, NULL, n, m->means, &tile, &base, &ll_base), 1);
    int have_first = 0;
    for (size_t c = 0; c < 2; c++) {
      if (!clones[c].usable) continue;
      gmm_stats *out = have_first ? &other : &first;
      double *ll = have_first ? &ll_other : &ll_first;
      gmm_stats_zero(out);
      assert_int_equal(clones[c].fn(m, x, NULL, n, m->means, &tile, out, ll), 1);
      char label[96];
      snprintf(label, sizeof label, "%s, d %d, %s clone against the baseline",
               gmm_cov_type_name(ALL_COVS[t % 4]), d, clones[c].name);
      assert_stats_agree(out, *ll, &base, ll_base, 1e-13, label);
      if (have_first) {
        snprintf(label, sizeof label, "%s, d %d, avx512f clone against avx2",
                 gmm_cov_type_name(ALL_COVS[t % 4]), d);
        assert_stats_agree(&other, ll_other, &first, ll_first, 0.0, label);
      }
      have_first = 1;
      compared++;
    }
    gmm_stats_free(&base, &gmm_libc_allocator);
    gmm_stats_free(&first, &gmm_libc_allocator);
    gmm_stats_free(&other, &gmm_libc_allocator);
    gmm_tile_free(&tile, &gmm_libc_allocator);
    free(x);
    gmm_model_free(m);
  }
  if (compared == 0) print_message("no clone beyond the baseline runs on this CPU\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tile_matches_rows),
      cmocka_unit_test(test_tile_declines_and_underflows),
      cmocka_unit_test(test_tile_clones_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
