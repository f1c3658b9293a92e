/*
** test_stats.c -- the statistics module (ext/core/gmm_stats.c) and the
** one-pass initialisation (ext/core/gmm_istate.c) through the core's API,
** without SQLite.
**
** Requirements covered: stats (1)-(6), istate (1)-(5).
*/
#include "test_util.h"

/* Three clusters in 2-D, 600 rows, shuffled. */
static const size_t COUNTS[] = {300, 180, 120};
static const double MEANS[] = {0, 0, 10, 0, 0, 10};
static const double COVS[] = {1.0, 0.3, 0.3, 0.5, /* */
                              0.8, -0.2, -0.2, 1.2, /* */
                              0.6, 0.0, 0.0, 0.6};
static const tu_mixture MIX = {3, 2, COUNTS, MEANS, COVS};

static const gmm_cov_type ALL_TYPES[] = {GMM_COV_FULL, GMM_COV_TIED, GMM_COV_DIAG,
                                         GMM_COV_SPHERICAL};

typedef struct rows {
  double *x;
  double *w; /* NULL or n weights */
  size_t n;
  int d;
} rows;

static rows make_rows(int weighted) {
  rows r;
  r.x = tu_mixture_sample(&MIX, 42, NULL);
  assert_non_null(r.x);
  r.n = tu_mixture_n(&MIX);
  r.d = MIX.d;
  r.w = NULL;
  if (weighted) {
    r.w = malloc(r.n * sizeof *r.w);
    assert_non_null(r.w);
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    for (size_t i = 0; i < r.n; i++) r.w[i] = 0.25 + 3.0 * tu_rng_uniform(&rng);
  }
  return r;
}

static void free_rows(rows *r) {
  free(r->x);
  free(r->w);
}

static gmm_model *fit(const rows *r, const gmm_options *opt) {
  gmm_data data = {r->x, r->n, r->d, r->w, 0};
  gmm_model *m = NULL;
  char err[256];
  gmm_status rc = gmm_fit(&data, opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) fail_msg("gmm_fit: %s", err);
  return m;
}

/* A model of k = 3 over the rows with no EM iteration (gmm_fit's
** initialisation), whose max_iter then allows max_iter passes. */
static gmm_model *start_model(const rows *r, gmm_cov_type type, int max_iter) {
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.covariance_type = type;
  opt.max_iter = 0;
  gmm_model *m = fit(r, &opt);
  m->options.max_iter = max_iter;
  return m;
}

static unsigned char *model_bytes(const gmm_model *m, size_t *n) {
  *n = gmm_blob_size(m);
  unsigned char *p = malloc(*n);
  assert_non_null(p);
  gmm_blob_write(m, p);
  return p;
}

static uint64_t fingerprint(const gmm_model *m) {
  size_t n;
  unsigned char *p = model_bytes(m, &n);
  uint64_t f = gmm_blob_stored_checksum(p, n);
  free(p);
  return f;
}

/* The statistics of m over rows [start, end), fed in batches of batch rows. */
static gmm_estats *estep(const gmm_model *m, const rows *r, size_t start, size_t end,
                         size_t batch) {
  gmm_estats *st = NULL;
  gmm_estep_acc *acc = NULL;
  assert_int_equal(gmm_estats_new(m, fingerprint(m), r->w != NULL, &gmm_libc_allocator, &st),
                   GMM_OK);
  assert_int_equal(gmm_estep_acc_new(m, 2, &gmm_libc_allocator, &acc), GMM_OK);
  for (size_t i = start; i < end; i += batch) {
    size_t n = end - i < batch ? end - i : batch;
    gmm_estep_add(acc, r->x + i * (size_t)r->d, r->w ? r->w + i : NULL, n, st);
  }
  gmm_estep_acc_free(acc);
  return st;
}

static gmm_model *mstep(const gmm_model *m, const gmm_estats *st) {
  gmm_model *next = NULL;
  char err[256];
  gmm_status rc =
      gmm_mstep(m, fingerprint(m), st, &gmm_libc_allocator, &next, err, sizeof err);
  if (rc != GMM_OK) fail_msg("gmm_mstep: %s", err);
  return next;
}

static void assert_params_close(const gmm_model *a, const gmm_model *b, double rel) {
  size_t k = (size_t)a->k, d = (size_t)a->d, nc = tu_cov_len(a->k, a->d, a->covariance_type);
  for (size_t j = 0; j < k; j++)
    if (!tu_close_rel(a->weights[j], b->weights[j], rel))
      fail_msg("weight %zu: %.17g vs %.17g", j, a->weights[j], b->weights[j]);
  for (size_t i = 0; i < k * d; i++)
    if (!tu_close_scaled(a->means[i], b->means[i], rel, 1.0))
      fail_msg("mean %zu: %.17g vs %.17g", i, a->means[i], b->means[i]);
  for (size_t i = 0; i < nc; i++)
    if (!tu_close_rel(a->covariances[i], b->covariances[i], rel))
      fail_msg("covariance %zu: %.17g vs %.17g", i, a->covariances[i], b->covariances[i]);
}

/* stats (5): from the same model, M passes (in uneven batches, and over
** two parts merged) give the parameters of gmm_fit warm-started for M
** iterations, for every covariance type, with and without weights. */
static void check_passes_equal_fit(int weighted) {
  rows r = make_rows(weighted);
  for (size_t t = 0; t < 4; t++) {
    gmm_options opt;
    gmm_options_default(&opt, 3);
    opt.covariance_type = ALL_TYPES[t];
    opt.tol = 0.0;
    opt.max_iter = 0;
    opt.init = GMM_INIT_RANDOM_FROM_DATA;
    gmm_model *start = fit(&r, &opt);
    start->options.max_iter = 6;
    gmm_model *cur = NULL;
    for (int it = 1; it <= 6; it++) {
      const gmm_model *from = cur ? cur : start;
      gmm_estats *a = estep(from, &r, 0, 250, 97);
      gmm_estats *b = estep(from, &r, 250, r.n, 1000);
      char err[128];
      assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_OK);
      gmm_model *next = mstep(from, a);
      assert_int_equal(next->summary.n_iter, it);
      assert_false(next->summary.converged); /* tol 0 */
      gmm_estats_free(a);
      gmm_estats_free(b);
      gmm_model_free(cur);
      cur = next;

      gmm_options warm = start->options;
      warm.max_iter = it;
      warm.warm_start = start;
      gmm_model *ref = fit(&r, &warm);
      assert_params_close(cur, ref, 1e-10);
      gmm_model_free(ref);
    }
    gmm_model_free(cur);
    gmm_model_free(start);
  }
  free_rows(&r);
}

static void test_passes_equal_fit(void **state) {
  (void)state;
  check_passes_equal_fit(0);
}

static void test_passes_equal_fit_weighted(void **state) {
  (void)state;
  check_passes_equal_fit(1);
}

/* stats (4): the same batches give the same bits for any thread count. */
static void test_estep_threads_same_bits(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_model *m = start_model(&r, GMM_COV_FULL, 0);
  gmm_estats *s[3];
  for (int t = 0; t < 3; t++) {
    gmm_estep_acc *acc = NULL;
    assert_int_equal(gmm_estats_new(m, 1, 0, &gmm_libc_allocator, &s[t]), GMM_OK);
    assert_int_equal(gmm_estep_acc_new(m, t + 1, &gmm_libc_allocator, &acc), GMM_OK);
    gmm_estep_add(acc, r.x, NULL, r.n, s[t]);
    gmm_estep_acc_free(acc);
  }
  size_t n = gmm_estats_size(s[0]);
  unsigned char *b[3];
  for (int t = 0; t < 3; t++) {
    b[t] = malloc(n);
    gmm_estats_write(s[t], b[t]);
  }
  assert_memory_equal(b[0], b[1], n);
  assert_memory_equal(b[0], b[2], n);
  for (int t = 0; t < 3; t++) {
    free(b[t]);
    gmm_estats_free(s[t]);
  }
  gmm_model_free(m);
  free_rows(&r);
}

/* stats (5): the convergence rule and the max_iter cap, with their texts. */
static void test_mstep_rules(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_model *start = start_model(&r, GMM_COV_FULL, 3);
  start->options.tol = 1e300; /* any change converges, but not the first pass */
  gmm_estats *st = estep(start, &r, 0, r.n, 512);
  gmm_model *one = mstep(start, st);
  assert_false(one->summary.converged);
  assert_true(tu_close_rel(one->summary.log_likelihood, st->log_likelihood, 0));
  gmm_estats_free(st);
  st = estep(one, &r, 0, r.n, 512);
  gmm_model *two = mstep(one, st);
  assert_true(two->summary.converged);
  assert_true(two->summary.log_likelihood >= one->summary.log_likelihood);
  gmm_estats_free(st);

  char err[256];
  gmm_model *out = NULL;
  /* Statistics of one model do not step another. */
  st = estep(one, &r, 0, r.n, 512);
  assert_int_equal(gmm_mstep(two, fingerprint(two), st, &gmm_libc_allocator, &out, err,
                             sizeof err),
                   GMM_EINVAL);
  assert_non_null(strstr(err, "the statistics come from another model (fingerprint "));
  assert_null(out);
  gmm_estats_free(st);
  /* max_iter is a cap. */
  two->options.max_iter = 2;
  st = estep(two, &r, 0, r.n, 512);
  assert_int_equal(gmm_mstep(two, fingerprint(two), st, &gmm_libc_allocator, &out, err,
                             sizeof err),
                   GMM_EINVAL);
  assert_string_equal(err, "the model has done its max_iter = 2 iterations");
  gmm_estats_free(st);
  gmm_model_free(two);
  gmm_model_free(one);
  gmm_model_free(start);
  free_rows(&r);
}

/* stats (3): merging refuses another model, shape or kind. */
static void test_merge_refuses(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_model *m = start_model(&r, GMM_COV_FULL, 0);
  gmm_estats *a = NULL, *b = NULL;
  char err[256];
  assert_int_equal(gmm_estats_new(m, 1, 0, &gmm_libc_allocator, &a), GMM_OK);
  assert_int_equal(gmm_estats_new(m, 2, 0, &gmm_libc_allocator, &b), GMM_OK);
  assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err,
                      "statistics of two different models (fingerprints 0000000000000001 and "
                      "0000000000000002) do not add up: every part of a pass must use the same "
                      "model");
  b->fingerprint = 1;
  b->weighted = 1;
  assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err, "statistics of weighted and of unweighted rows do not add up");
  gmm_estats_free(b);
  gmm_model *diag = start_model(&r, GMM_COV_DIAG, 0);
  assert_int_equal(gmm_estats_new(diag, 1, 0, &gmm_libc_allocator, &b), GMM_OK);
  assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err,
                      "statistics of k = 3, d = 2, covariance_type 'full' and of k = 3, d = 2, "
                      "covariance_type 'diag' do not add up");
  gmm_estats_free(a);
  gmm_estats_free(b);
  gmm_model_free(diag);
  gmm_model_free(m);
  free_rows(&r);
}

/* Encodes s into a malloc'd buffer. */
static unsigned char *stats_bytes(const gmm_estats *s, size_t *n) {
  *n = gmm_estats_size(s);
  unsigned char *p = malloc(*n);
  assert_non_null(p);
  gmm_estats_write(s, p);
  return p;
}

static void put_u64le(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Rewrites the checksum after a change, so that the semantic checks run. */
static void reseal(unsigned char *p, size_t n) {
  assert_true(n >= 8);
  if (n >= 8) put_u64le(p + n - 8, fnv(p, n - 8));
}

static double get_f64le(const unsigned char *p) {
  uint64_t b = 0;
  for (int i = 7; i >= 0; i--) b = b << 8 | p[i];
  double v;
  memcpy(&v, &b, 8);
  return v;
}

static void put_f64le(unsigned char *p, double v) {
  uint64_t b;
  memcpy(&b, &v, 8);
  put_u64le(p, b);
}

static void assert_stats_rejected(const unsigned char *p, size_t n, const char *why) {
  gmm_estats *s = NULL;
  char err[256];
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &s, err, sizeof err),
                   GMM_ECORRUPT);
  assert_null(s);
  if (why && !strstr(err, why)) fail_msg("expected '%s' in '%s'", why, err);
}

/* stats (6): round trip, every truncation and bit flip, and the semantic
** checks behind a valid checksum. */
static void test_stats_codec(void **state) {
  (void)state;
  for (size_t t = 0; t < 4; t++) {
    rows r = make_rows(t == 1);
    gmm_model *m = start_model(&r, ALL_TYPES[t], 0);
    gmm_estats *s = estep(m, &r, 0, r.n, 300);
    size_t n;
    unsigned char *p = stats_bytes(s, &n);
    gmm_estats *back = NULL;
    char err[256];
    assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
    size_t n2;
    unsigned char *p2 = stats_bytes(back, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(p, p2, n);
    assert_int_equal(back->n_rows, (int64_t)r.n);
    gmm_estats_free(back);
    free(p2);
    for (size_t len = 0; len < n; len++) assert_stats_rejected(p, len, NULL);
    for (size_t i = 0; i < n; i++)
      for (int bit = 0; bit < 8; bit += 3) {
        p[i] ^= (unsigned char)(1u << bit);
        assert_stats_rejected(p, n, NULL);
        p[i] ^= (unsigned char)(1u << bit);
      }
    /* Behind a valid checksum: a negative mass, a mass beyond the rows'
    ** weight, a scatter no rows give, a wrong unweighted sum of weights. */
    unsigned char *q = malloc(n);
    memcpy(q, p, n);
    put_f64le(q + 64, -1.0);
    reseal(q, n);
    assert_stats_rejected(q, n, "the mass of component 0 is -1");
    memcpy(q, p, n);
    put_f64le(q + 64, 1e6);
    reseal(q, n);
    assert_stats_rejected(q, n, "more than the weight of the rows");
    memcpy(q, p, n);
    put_f64le(q + 64 + 8 * 3, 1e9); /* s1 of component 0, feature 0 */
    reseal(q, n);
    assert_stats_rejected(q, n, "exceeds its scatter");
    if (t != 1) {
      memcpy(q, p, n);
      put_f64le(q + 48, (double)r.n + 1.0);
      reseal(q, n);
      assert_stats_rejected(q, n, "unweighted statistics of 600 rows");
    }
    free(q);
    free(p);
    gmm_estats_free(s);
    gmm_model_free(m);
    free_rows(&r);
  }
}

/* ---- the initialisation state ---- */

static gmm_istate *state_of(const rows *r, const size_t *order, size_t start, size_t end,
                            int sample_size) {
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.seed = 5;
  gmm_istate *s = NULL;
  assert_int_equal(
      gmm_istate_new(&opt, r->d, r->w != NULL, sample_size, &gmm_libc_allocator, &s), GMM_OK);
  for (size_t i = start; i < end; i++) {
    size_t row = order ? order[i] : i;
    gmm_istate_add(s, r->x + row * (size_t)r->d, r->w ? r->w[row] : 1.0);
  }
  return s;
}

static unsigned char *state_bytes(gmm_istate *s, size_t *n) {
  *n = gmm_istate_size(s);
  unsigned char *p = malloc(*n);
  assert_non_null(p);
  gmm_istate_write(s, p);
  return p;
}

/* Two states of the same weighted rows: the same bytes but for the sum of
** weights (at offset 80, added in arrival order, so equal to rounding) and
** the checksum. */
static void assert_states_same(const unsigned char *a, const unsigned char *b, size_t n) {
  assert_memory_equal(a, b, 80);
  assert_true(tu_close_rel(get_f64le(a + 80), get_f64le(b + 80), 1e-13));
  assert_memory_equal(a + 88, b + 88, n - 96);
}

/* istate (1): any order and any split give the same bytes once merged,
** and the sample of size m is the first m of the whole sorted set. */
static void test_istate_order_and_split(void **state) {
  (void)state;
  rows r = make_rows(1);
  /* Duplicates too: the last 50 rows repeat the first 50. */
  for (size_t i = 0; i < 50; i++) {
    memcpy(r.x + (r.n - 50 + i) * 2, r.x + i * 2, 2 * sizeof(double));
    r.w[r.n - 50 + i] = r.w[i];
  }
  size_t *order = malloc(r.n * sizeof *order);
  for (size_t i = 0; i < r.n; i++) order[i] = r.n - 1 - i;
  tu_rng rng;
  tu_rng_seed(&rng, 3);
  for (size_t i = r.n - 1; i > 0; i--) {
    size_t j = tu_rng_below(&rng, i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const int m = 64;
  gmm_istate *whole = state_of(&r, NULL, 0, r.n, m);
  gmm_istate *shuffled = state_of(&r, order, 0, r.n, m);
  size_t n1, n2;
  unsigned char *b1 = state_bytes(whole, &n1), *b2 = state_bytes(shuffled, &n2);
  assert_int_equal(n1, n2);
  assert_states_same(b1, b2, n1);
  /* Seven parts of the shuffled rows, merged last to first. */
  gmm_istate *parts[7];
  for (int p = 0; p < 7; p++) parts[p] = state_of(&r, order, r.n * (size_t)p / 7,
                                                  r.n * (size_t)(p + 1) / 7, m);
  char err[256];
  for (int p = 5; p >= 0; p--) {
    assert_int_equal(gmm_istate_merge(parts[6], parts[p], err, sizeof err), GMM_OK);
    gmm_istate_free(parts[p]);
  }
  unsigned char *b3 = state_bytes(parts[6], &n2);
  assert_int_equal(n1, n2);
  assert_states_same(b1, b3, n1);
  /* The bottom m of the full sorted set. */
  gmm_istate *all = state_of(&r, NULL, 0, r.n, (int)r.n);
  size_t na;
  unsigned char *ba = state_bytes(all, &na);
  size_t entry = 16 + 8 * 2;
  assert_memory_equal(b1 + 96, ba + 96, (size_t)m * entry);
  free(ba);
  gmm_istate_free(all);
  free(b1);
  free(b2);
  free(b3);
  gmm_istate_free(parts[6]);
  gmm_istate_free(whole);
  gmm_istate_free(shuffled);
  free(order);
  free_rows(&r);
}

/* istate (4): with every row in the sample, the start is gmm_fit's
** max_iter 0 model on the same rows, for every init method. */
static void test_istate_start_is_fit_max_iter_0(void **state) {
  (void)state;
  rows r = make_rows(0);
  static const gmm_init_method inits[] = {GMM_INIT_KMEANS, GMM_INIT_KMEANS_PP, GMM_INIT_RANDOM,
                                          GMM_INIT_RANDOM_FROM_DATA};
  for (int i = 0; i < 4; i++) {
    gmm_options opt;
    gmm_options_default(&opt, 3);
    opt.init = inits[i];
    opt.seed = 11;
    gmm_istate *s = NULL;
    assert_int_equal(gmm_istate_new(&opt, 2, 0, 1000, &gmm_libc_allocator, &s), GMM_OK);
    for (size_t row = 0; row < r.n; row++) gmm_istate_add(s, r.x + 2 * row, 1.0);
    gmm_model *start = NULL;
    char err[256];
    assert_int_equal(gmm_istate_start(s, 1, &gmm_libc_allocator, &start, err, sizeof err),
                     GMM_OK);
    /* gmm_fit's rows in canonical order, as the binding hands them over. */
    double *x = malloc(r.n * 2 * sizeof *x);
    memcpy(x, r.x, r.n * 2 * sizeof *x);
    gmm_canonical_order(x, NULL, r.n, 2, 1);
    rows sorted = {x, NULL, r.n, 2};
    opt.max_iter = 0;
    gmm_model *ref = fit(&sorted, &opt);
    assert_params_close(start, ref, 0.0);
    assert_int_equal(start->summary.n_iter, 0);
    assert_int_equal(start->options.max_iter, 100);
    assert_true(tu_close_rel(start->summary.log_likelihood, ref->summary.log_likelihood, 0));
    gmm_model_free(ref);
    gmm_model_free(start);
    gmm_istate_free(s);
    free(x);
  }
  free_rows(&r);
}

static void assert_state_rejected(const unsigned char *p, size_t n, const char *why) {
  gmm_istate *s = NULL;
  char err[256];
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &s, err, sizeof err),
                   GMM_ECORRUPT);
  assert_null(s);
  if (why && !strstr(err, why)) fail_msg("expected '%s' in '%s'", why, err);
}

/* istate (5): round trip, truncations, flips, and forged rows behind a
** valid checksum. */
static void test_istate_codec(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_istate *s = state_of(&r, NULL, 0, 200, 20);
  size_t n;
  unsigned char *p = state_bytes(s, &n);
  gmm_istate *back = NULL;
  char err[256];
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  size_t n2;
  unsigned char *p2 = state_bytes(back, &n2);
  assert_int_equal(n, n2);
  assert_memory_equal(p, p2, n);
  for (size_t len = 0; len < n; len++) assert_state_rejected(p, len, NULL);
  for (size_t i = 0; i < n; i++) {
    p[i] ^= 0x10;
    assert_state_rejected(p, n, NULL);
    p[i] ^= 0x10;
  }
  unsigned char *q = malloc(n);
  memcpy(q, p, n);
  put_f64le(q + 96 + 16, 123.0); /* the first row's value: its key no longer fits */
  reseal(q, n);
  assert_state_rejected(q, n, "sample row 0 has a key that is not its hash");
  memcpy(q, p, n);
  memcpy(q + 96, p + 96 + 32, 32); /* the first two rows swapped */
  memcpy(q + 96 + 32, p + 96, 32);
  reseal(q, n);
  assert_state_rejected(q, n, "sample row 1 is out of order");
  memcpy(q, p, n);
  put_f64le(q + 96 + 16, -0.0);
  reseal(q, n);
  assert_state_rejected(q, n, "not finite or not canonical");
  free(q);
  free(p);
  free(p2);
  gmm_istate_free(back);
  gmm_istate_free(s);
  free_rows(&r);
}

/* gmm_start with init kmeans and k = 40 on 300 rows (one block of a pass):
** Lloyd's counts once ran past the init's scratch from k = 12 on (found by
** fuzz_pass; make asan shows a return of it). Duplicated rows make empty
** clusters, so the relocation pass runs too. */
static void test_start_kmeans_many_components(void **state) {
  (void)state;
  rows r = make_rows(0);
  for (size_t i = 0; i < 300; i++) memcpy(r.x + 2 * i, r.x + 2 * (i % 60), 2 * sizeof(double));
  gmm_options opt;
  gmm_options_default(&opt, 40);
  gmm_istate *s = NULL;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 1000, &gmm_libc_allocator, &s), GMM_OK);
  for (size_t i = 0; i < 300; i++) assert_int_equal(gmm_istate_add(s, r.x + 2 * i, 1.0), GMM_OK);
  gmm_model *m = NULL;
  char err[256];
  assert_int_equal(gmm_istate_start(s, 1, &gmm_libc_allocator, &m, err, sizeof err), GMM_OK);
  assert_true(tu_all_finite(m->means, 80));
  gmm_model_free(m);
  gmm_istate_free(s);
  free_rows(&r);
}

/* Every allocation of a pass fails in turn: an error, never a leak. */
static void test_allocation_failures(void **state) {
  (void)state;
  rows r = make_rows(1);
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.max_iter = 0;
  gmm_model *m = fit(&r, &opt);
  m->options.max_iter = 5;
  uint64_t fp = fingerprint(m);
  for (size_t fail = 1;; fail++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = fail;
    gmm_estats *st = NULL;
    gmm_estep_acc *acc = NULL;
    gmm_model *next = NULL;
    gmm_istate *s = NULL, *s2 = NULL;
    char err[256];
    int ok = gmm_estats_new(m, fp, 1, &a, &st) == GMM_OK &&
             gmm_estep_acc_new(m, 2, &a, &acc) == GMM_OK;
    if (ok) {
      gmm_estep_add(acc, r.x, r.w, r.n, st);
      ok = gmm_mstep(m, fp, st, &a, &next, err, sizeof err) == GMM_OK;
    }
    /* 200 of a sample of 300 rows each: the sample grows twice. */
    ok = ok && gmm_istate_new(&opt, 2, 1, 300, &a, &s) == GMM_OK &&
         gmm_istate_new(&opt, 2, 1, 300, &a, &s2) == GMM_OK;
    for (size_t i = 0; ok && i < 400; i++)
      ok = gmm_istate_add(i % 2 ? s : s2, r.x + 2 * i, r.w[i]) == GMM_OK;
    ok = ok && gmm_istate_merge(s, s2, err, sizeof err) == GMM_OK;
    gmm_model *start = NULL;
    ok = ok && gmm_istate_start(s, 1, &a, &start, err, sizeof err) == GMM_OK;
    gmm_model_free(start);
    gmm_istate_free(s);
    gmm_istate_free(s2);
    gmm_model_free(next);
    gmm_estep_acc_free(acc);
    gmm_estats_free(st);
    assert_no_leaks(&c);
    if (ok) {
      assert_int_equal(c.n_refused, 0);
      break;
    }
    assert_int_equal(c.n_refused, 1);
  }
  gmm_model_free(m);
  free_rows(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_passes_equal_fit),
      cmocka_unit_test(test_passes_equal_fit_weighted),
      cmocka_unit_test(test_estep_threads_same_bits),
      cmocka_unit_test(test_mstep_rules),
      cmocka_unit_test(test_merge_refuses),
      cmocka_unit_test(test_stats_codec),
      cmocka_unit_test(test_istate_order_and_split),
      cmocka_unit_test(test_istate_start_is_fit_max_iter_0),
      cmocka_unit_test(test_istate_codec),
      cmocka_unit_test(test_start_kmeans_many_components),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
