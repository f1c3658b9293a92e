/*
** test_stats.c -- the statistics module (ext/core/gmm_stats.c) and the
** one-pass initialisation (ext/core/gmm_istate.c) through the core's API,
** without SQLite.
**
** Requirements covered: stats (1)-(8), istate (1)-(7).
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
  gmm_data data = {r->x, r->n, r->d, r->w, 0, NULL};
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

/* ---- missing values in the codecs: stats (7), istate (6) ---- */

static uint32_t get_u32le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64le(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void put_u32le(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void assert_stats_rejected_with(const unsigned char *p, size_t n, const char *want) {
  gmm_estats *s = NULL;
  char err[256] = "";
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &s, err, sizeof err),
                   GMM_ECORRUPT);
  assert_null(s);
  assert_string_equal(err, want);
}

static void assert_state_rejected_with(const unsigned char *p, size_t n, const char *want) {
  gmm_istate *s = NULL;
  char err[256] = "";
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &s, err, sizeof err),
                   GMM_ECORRUPT);
  assert_null(s);
  assert_string_equal(err, want);
}

/* Every 10th row misses feature i % 2 (60 rows, 60 cells), row 5 misses
** both (a row never used). */
static void add_missing(rows *r) {
  for (size_t i = 0; i < r->n; i += 10) r->x[i * 2 + (i / 10) % 2] = NAN;
  r->x[5 * 2] = r->x[5 * 2 + 1] = NAN;
}

/* stats (7): statistics of rows with missing values are version 2, the
** version 1 bytes with the two counts inserted at 64; they round-trip bit
** for bit; statistics of complete rows stay version 1; every truncation
** and bit flip is rejected. */
static void test_stats_codec_v2(void **state) {
  (void)state;
  for (size_t t = 0; t < 4; t++) {
    rows r = make_rows(t == 1);
    gmm_model *m = start_model(&r, ALL_TYPES[t], 0);
    add_missing(&r);
    gmm_estats *s = estep(m, &r, 0, r.n, 300);
    assert_true(s->n_rows == 599 && s->n_skipped == 1);
    assert_true(s->n_incomplete == 60 && s->n_missing == 60);
    size_t n;
    unsigned char *p = stats_bytes(s, &n);
    assert_int_equal(get_u32le(p + 4), 2);
    assert_true(get_u64le(p + 64) == 60 && get_u64le(p + 72) == 60);
    /* The same statistics without the counts: version 1, 16 bytes
    ** shorter, the same bytes around them. */
    s->n_incomplete = s->n_missing = 0;
    size_t n1;
    unsigned char *p1 = stats_bytes(s, &n1);
    assert_int_equal(n1 + 16, n);
    assert_int_equal(get_u32le(p1 + 4), 1);
    assert_memory_equal(p, p1, 4);
    assert_memory_equal(p + 8, p1 + 8, 56);
    assert_memory_equal(p + 80, p1 + 64, n1 - 64 - 8);
    s->n_incomplete = s->n_missing = 60;
    gmm_estats *back = NULL;
    char err[256];
    assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
    assert_true(back->n_incomplete == 60 && back->n_missing == 60 && back->n_rows == 599);
    size_t n2;
    unsigned char *p2 = stats_bytes(back, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(p2, p, n);
    gmm_estats_free(back);
    free(p2);
    for (size_t len = 0; len < n; len++) assert_stats_rejected(p, len, NULL);
    for (size_t i = 0; i < n; i++)
      for (int bit = 0; bit < 8; bit++) {
        p[i] ^= (unsigned char)(1u << bit);
        assert_stats_rejected(p, n, NULL);
        p[i] ^= (unsigned char)(1u << bit);
      }
    free(p1);
    free(p);
    gmm_estats_free(s);
    gmm_model_free(m);
    free_rows(&r);
  }
}

/* stats (7): the counts behind a valid checksum, each with its sentence,
** and gmm_estats_check on values no BLOB carries. */
static void test_stats_v2_fields(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_model *m = start_model(&r, GMM_COV_FULL, 0);
  add_missing(&r);
  gmm_estats *s = estep(m, &r, 0, r.n, 600);
  size_t n;
  unsigned char *p = stats_bytes(s, &n);
  unsigned char *q = malloc(n);
  assert_non_null(q);
  struct {
    uint64_t n_incomplete, n_missing;
    const char *want; /* NULL: decodes */
  } cases[] = {
      {1, 1, NULL},
      {599, 599, NULL},
      {0, 0, "format version 2 holds nothing version 1 cannot (no row with a missing feature)"},
      {0, 5, "format version 2 holds nothing version 1 cannot (no row with a missing feature)"},
      {600, 600, "n_incomplete 600 is out of range (0 .. n_rows = 599)"},
      {60, 59,
       "n_missing 59 is out of range for 60 rows with missing features of d = 2 (each misses 1 "
       ".. d - 1)"},
      {60, 61,
       "n_missing 61 is out of range for 60 rows with missing features of d = 2 (each misses 1 "
       ".. d - 1)"},
      {UINT64_C(1) << 63, 60, "the counts of missing values are out of range"},
      {60, UINT64_MAX, "the counts of missing values are out of range"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    memcpy(q, p, n);
    put_u64le(q + 64, cases[c].n_incomplete);
    put_u64le(q + 72, cases[c].n_missing);
    reseal(q, n);
    if (cases[c].want) {
      assert_stats_rejected_with(q, n, cases[c].want);
    } else {
      gmm_estats *ok = NULL;
      char err[256];
      assert_int_equal(gmm_estats_read(q, n, &gmm_libc_allocator, &ok, err, sizeof err), GMM_OK);
      assert_true((uint64_t)ok->n_incomplete == cases[c].n_incomplete);
      gmm_estats_free(ok);
    }
  }
  /* A version 1 BLOB relabelled 2, and the reverse: the lengths differ. */
  memcpy(q, p, n);
  put_u32le(q + 4, 1);
  reseal(q, n);
  char want[160];
  snprintf(want, sizeof want, "it has %zu bytes, but its header (k = 3, d = 2) needs %zu", n,
           n - 16);
  assert_stats_rejected_with(q, n, want);
  /* Version 3 (stats (8)) is for mclust's models beyond scikit-learn's four. */
  put_u32le(q + 4, 3);
  reseal(q, n);
  char v3[96];
  snprintf(v3, sizeof v3, "covariance type %u is not one of format version 3", get_u32le(q + 16));
  assert_stats_rejected_with(q, n, v3);
  put_u32le(q + 4, 4);
  reseal(q, n);
  assert_stats_rejected_with(q, n, "format version 4 is not one this build reads (1 to 3)");
  free(q);
  free(p);

  /* gmm_estats_check, as the binding calls it before encoding. */
  char err[256];
  s->n_incomplete = 0;
  s->n_missing = 3;
  assert_int_equal(gmm_estats_check(s, err, sizeof err), GMM_ECORRUPT);
  assert_string_equal(err, "n_missing is 3, but no row has a missing feature");
  s->n_incomplete = -1;
  s->n_missing = 0;
  assert_int_equal(gmm_estats_check(s, err, sizeof err), GMM_ECORRUPT);
  assert_string_equal(err, "n_incomplete -1 is out of range (0 .. n_rows = 599)");
  s->n_incomplete = 5;
  s->n_missing = INT64_MAX;
  assert_int_equal(gmm_estats_check(s, err, sizeof err), GMM_ECORRUPT);
  assert_string_equal(err,
                      "n_missing 9223372036854775807 is out of range for 5 rows with missing "
                      "features of d = 2 (each misses 1 .. d - 1)");
  s->n_incomplete = 60;
  s->n_missing = 60;
  assert_int_equal(gmm_estats_check(s, err, sizeof err), GMM_OK);
  gmm_estats_free(s);
  gmm_model_free(m);

  /* d = 1: a row with a missing value is never used. */
  gmm_model *one = gmm_model_new(1, 1, GMM_COV_FULL, &gmm_libc_allocator);
  assert_non_null(one);
  one->weights[0] = 1.0;
  one->means[0] = 0.0;
  one->covariances[0] = 1.0;
  assert_int_equal(gmm_model_prepare(one, NULL, 0), GMM_OK);
  gmm_estats *s1 = NULL;
  assert_int_equal(gmm_estats_new(one, 7, 0, &gmm_libc_allocator, &s1), GMM_OK);
  gmm_estep_acc *acc = NULL;
  assert_int_equal(gmm_estep_acc_new(one, 1, &gmm_libc_allocator, &acc), GMM_OK);
  const double xs[3] = {0.5, -0.25, 1.0};
  gmm_estep_add(acc, xs, NULL, 3, s1);
  gmm_estep_acc_free(acc);
  s1->n_incomplete = 1;
  s1->n_missing = 1;
  assert_int_equal(gmm_estats_check(s1, err, sizeof err), GMM_ECORRUPT);
  assert_string_equal(err,
                      "n_missing 1 is out of range for 1 rows with missing features of d = 1 "
                      "(each misses 1 .. d - 1)");
  gmm_estats_free(s1);
  gmm_model_free(one);
  free_rows(&r);
}

/* stats (3), (7): merged statistics add the counts up; statistics of
** complete rows (version 1) and of rows with missing values (version 2)
** merge, into version 2. */
static void test_stats_v2_merge(void **state) {
  (void)state;
  rows r = make_rows(0);
  gmm_model *m = start_model(&r, GMM_COV_DIAG, 0);
  add_missing(&r);
  uint64_t f = fingerprint(m);
  gmm_estats *a = estep(m, &r, 0, 300, 300), *b = estep(m, &r, 300, r.n, 300);
  assert_true(a->n_incomplete == 30 && b->n_incomplete == 30);
  char err[256];
  assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_OK);
  assert_true(a->n_incomplete == 60 && a->n_missing == 60 && a->n_rows == 599);
  gmm_estats *whole = estep(m, &r, 0, r.n, 300);
  assert_true(whole->n_incomplete == 60 && whole->n_missing == 60);
  gmm_estats_free(whole);
  gmm_estats_free(b);
  /* Rows 1 .. 9 have no missing value but for row 5, never used: version
  ** 1; merged with a, version 2. */
  b = estep(m, &r, 1, 10, 9);
  assert_true(b->n_incomplete == 0);
  size_t n;
  unsigned char *p = stats_bytes(b, &n);
  assert_int_equal(get_u32le(p + 4), 1);
  free(p);
  assert_int_equal(gmm_estats_merge(b, a, err, sizeof err), GMM_OK);
  assert_true(b->n_incomplete == 60 && b->n_rows == 607); /* row 5 is never used */
  p = stats_bytes(b, &n);
  assert_int_equal(get_u32le(p + 4), 2);
  gmm_estats *back = NULL;
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  assert_true(back->fingerprint == f && back->n_incomplete == 60 && back->n_missing == 60);
  gmm_estats_free(back);
  free(p);
  gmm_estats_free(a);
  gmm_estats_free(b);
  gmm_model_free(m);
  free_rows(&r);
}

/* The fixtures of the statistics BLOB, read by the core: version 1 (made
** through SQL; tests/test_passes.c reads it through SQL) decodes with no
** missing value and re-encodes to itself; version 2, written once by
** tests/make_pass_fixtures.c --v2 (rows with missing values: see there),
** decodes to the values it printed, re-encodes to itself, and merged with
** itself doubles its counts. NEVER regenerate either file.
** Checks stats (6), (7). */
#define STATS1_FIXTURE "tests/fixtures/stats-v1.bin"
#define STATS2_FIXTURE "tests/fixtures/stats-v2.bin"
#define ISTATE1_FIXTURE "tests/fixtures/istate-v1.bin"
#define ISTATE2_FIXTURE "tests/fixtures/istate-v2.bin"

static unsigned char *read_fixture(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s (run the tests from the repository root)", path);
  unsigned char *buf = malloc(1 << 16);
  assert_non_null(buf);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* PASS_FIXTURE2_VALUES_BEGIN (printed by tests/make_pass_fixtures.c --v2) */
#define STATS2_FIXTURE_LEN 248
#define STATS2_FIXTURE_FINGERPRINT UINT64_C(0xe90abac40d6c6bf6)
#define STATS2_FIXTURE_N_ROWS 14
#define STATS2_FIXTURE_N_SKIPPED 1
#define STATS2_FIXTURE_N_INCOMPLETE 3
#define STATS2_FIXTURE_N_MISSING 4
static const double STATS2_FIXTURE_LOG_LIKELIHOOD = -10.19057619269093;
static const double STATS2_FIXTURE_NK[2] = {8.0000030327099445, 5.9999969672900555};
#define ISTATE2_FIXTURE_LEN 464
#define ISTATE2_FIXTURE_N_ROWS 14
#define ISTATE2_FIXTURE_N_SKIPPED 1
#define ISTATE2_FIXTURE_N_HELD 9
static const double ISTATE2_FIXTURE_SUM_WEIGHTS = 16.5;
#define ISTATE2_FIXTURE_N_HELD_INCOMPLETE 3
/* PASS_FIXTURE2_VALUES_END */

static void test_stats_fixtures(void **state) {
  (void)state;
  char err[256];
  size_t n;
  unsigned char *p = read_fixture(STATS1_FIXTURE, &n);
  gmm_estats *s = NULL;
  assert_memory_equal(p, "GMMs\1\0\0\0", 8);
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  assert_true(s->n_incomplete == 0 && s->n_missing == 0);
  size_t n2;
  unsigned char *again = stats_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_estats_free(s);
  free(p);

  p = read_fixture(STATS2_FIXTURE, &n);
  assert_int_equal(n, STATS2_FIXTURE_LEN);
  assert_memory_equal(p, "GMMs\2\0\0\0", 8);
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  assert_int_equal(s->k, 2);
  assert_int_equal(s->d, 3);
  assert_int_equal(s->covariance_type, GMM_COV_FULL);
  assert_int_equal(s->weighted, 0);
  assert_true(s->fingerprint == STATS2_FIXTURE_FINGERPRINT);
  assert_true(s->n_rows == STATS2_FIXTURE_N_ROWS);
  assert_true(s->n_skipped == STATS2_FIXTURE_N_SKIPPED);
  assert_true(s->n_incomplete == STATS2_FIXTURE_N_INCOMPLETE);
  assert_true(s->n_missing == STATS2_FIXTURE_N_MISSING);
  assert_true(s->sum_weights == (double)STATS2_FIXTURE_N_ROWS);
  assert_memory_equal(&s->log_likelihood, &STATS2_FIXTURE_LOG_LIKELIHOOD, sizeof(double));
  assert_memory_equal(s->sums.nk, STATS2_FIXTURE_NK, sizeof STATS2_FIXTURE_NK);
  again = stats_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_estats *copy = NULL;
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &copy, err, sizeof err), GMM_OK);
  assert_int_equal(gmm_estats_merge(s, copy, err, sizeof err), GMM_OK);
  assert_true(s->n_incomplete == 2 * STATS2_FIXTURE_N_INCOMPLETE);
  assert_true(s->n_missing == 2 * STATS2_FIXTURE_N_MISSING);
  again = stats_bytes(s, &n2);
  gmm_estats *twice = NULL;
  assert_int_equal(gmm_estats_read(again, n2, &gmm_libc_allocator, &twice, err, sizeof err),
                   GMM_OK);
  assert_true(twice->n_rows == 2 * STATS2_FIXTURE_N_ROWS);
  gmm_estats_free(twice);
  free(again);
  gmm_estats_free(copy);
  gmm_estats_free(s);
  free(p);
}

/* A state of options opt over rows [start, end) of r (through order when
** it is given); rows of missing values only are left out, as SQL leaves
** them out. */
static gmm_istate *state_with(const gmm_options *opt, const rows *r, const size_t *order,
                              size_t start, size_t end, int sample_size) {
  gmm_istate *s = NULL;
  assert_int_equal(
      gmm_istate_new(opt, r->d, r->w != NULL, sample_size, &gmm_libc_allocator, &s), GMM_OK);
  for (size_t i = start; i < end; i++) {
    size_t row = order ? order[i] : i;
    const double *x = r->x + row * (size_t)r->d;
    if (isnan(x[0]) && isnan(x[1])) continue; /* never handed over */
    assert_int_equal(gmm_istate_add(s, x, r->w ? r->w[row] : 1.0), GMM_OK);
  }
  return s;
}

/* istate (6): what gmm_istate_add refuses, leaving the state as it was;
** NaN payloads do not matter; the version each option and sample gives. */
static void test_istate_add_missing(void **state) {
  (void)state;
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.seed = 5;
  gmm_istate *s = NULL;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 4, &gmm_libc_allocator, &s), GMM_OK);
  const double ok[2] = {1.0, 2.0};
  assert_int_equal(gmm_istate_add(s, ok, 1.0), GMM_OK);
  const double all_missing[2] = {NAN, NAN}, inf_row[2] = {INFINITY, 1.0},
               inf_missing[2] = {NAN, -INFINITY};
  assert_int_equal(gmm_istate_add(s, all_missing, 1.0), GMM_EINVAL);
  assert_int_equal(gmm_istate_add(s, inf_row, 1.0), GMM_EINVAL);
  assert_int_equal(gmm_istate_add(s, inf_missing, 1.0), GMM_EINVAL);
  assert_true(s->n_rows == 1 && s->n_held == 1);
  size_t n;
  unsigned char *p = state_bytes(s, &n);
  assert_int_equal(get_u32le(p + 4), 1); /* marginalize, nothing missing */
  free(p);
  /* Two NaNs of different payloads are one missing value. */
  double a[2] = {NAN, 3.0}, b[2] = {-NAN, 3.0};
  uint64_t bits = UINT64_C(0x7ff0000000000123);
  memcpy(&b[0], &bits, sizeof bits);
  assert_true(isnan(b[0]));
  gmm_istate *s2 = NULL;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 4, &gmm_libc_allocator, &s2), GMM_OK);
  assert_int_equal(gmm_istate_add(s2, ok, 1.0), GMM_OK);
  assert_int_equal(gmm_istate_add(s, a, 1.0), GMM_OK);
  assert_int_equal(gmm_istate_add(s2, b, 1.0), GMM_OK);
  size_t n1, n2;
  unsigned char *p1 = state_bytes(s, &n1), *p2 = state_bytes(s2, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(p1, p2, n1);
  assert_int_equal(get_u32le(p1 + 4), 2);
  assert_int_equal(get_u32le(p1 + 92), 0);
  int found = 0;
  for (size_t i = 0; i < 2; i++)
    found += get_u64le(p1 + 96 + i * 32 + 16) == UINT64_C(0x7ff8000000000000);
  assert_int_equal(found, 1);
  free(p1);
  free(p2);
  gmm_istate_free(s2);
  gmm_istate_free(s);

  /* With 'skip' a NaN is refused, and the state is version 2 anyway. */
  opt.missing = GMM_MISSING_SKIP;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 4, &gmm_libc_allocator, &s), GMM_OK);
  assert_int_equal(gmm_istate_add(s, a, 1.0), GMM_EINVAL);
  assert_int_equal(gmm_istate_add(s, ok, 1.0), GMM_OK);
  assert_true(s->n_rows == 1);
  p = state_bytes(s, &n);
  assert_int_equal(get_u32le(p + 4), 2);
  assert_int_equal(get_u32le(p + 92), 1);
  gmm_istate *back = NULL;
  char err[256];
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  assert_int_equal(back->options.missing, GMM_MISSING_SKIP);
  size_t n3;
  unsigned char *p3 = state_bytes(back, &n3);
  assert_int_equal(n3, n);
  assert_memory_equal(p3, p, n);
  free(p3);
  gmm_istate_free(back);
  free(p);
  gmm_istate_free(s);
  /* An unknown option is refused up front. */
  opt.missing = (gmm_missing)2;
  s = (gmm_istate *)&opt;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 4, &gmm_libc_allocator, &s), GMM_EINVAL);
  assert_null(s);
}

/* istate (1), (3), (6): with missing values, any order and split give the
** same bytes once merged; states of different missing options do not
** merge. */
static void test_istate_missing_order_and_split(void **state) {
  (void)state;
  rows r = make_rows(1);
  add_missing(&r);
  size_t *order = malloc(r.n * sizeof *order);
  tu_rng rng;
  tu_rng_seed(&rng, 9);
  for (size_t i = 0; i < r.n; i++) order[i] = i;
  for (size_t i = r.n - 1; i > 0; i--) {
    size_t j = tu_rng_below(&rng, i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.seed = 5;
  gmm_istate *whole = state_with(&opt, &r, NULL, 0, r.n, 128);
  gmm_istate *parts[5];
  for (int p = 0; p < 5; p++)
    parts[p] = state_with(&opt, &r, order, r.n * (size_t)p / 5, r.n * (size_t)(p + 1) / 5, 128);
  char err[256];
  for (int p = 1; p < 5; p++) {
    assert_int_equal(gmm_istate_merge(parts[0], parts[p], err, sizeof err), GMM_OK);
    gmm_istate_free(parts[p]);
  }
  size_t n1, n2;
  unsigned char *b1 = state_bytes(whole, &n1), *b2 = state_bytes(parts[0], &n2);
  assert_int_equal(n1, n2);
  assert_int_equal(get_u32le(b1 + 4), 2); /* 128 of 599 rows: some miss a value */
  assert_states_same(b1, b2, n1);
  /* The round trip. */
  gmm_istate *back = NULL;
  assert_int_equal(gmm_istate_read(b1, n1, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  size_t n3;
  unsigned char *b3 = state_bytes(back, &n3);
  assert_int_equal(n3, n1);
  assert_memory_equal(b3, b1, n1);
  free(b3);
  /* A 'skip' state does not merge with a 'marginalize' one. */
  gmm_options skip = opt;
  skip.missing = GMM_MISSING_SKIP;
  gmm_istate *other = NULL;
  assert_int_equal(gmm_istate_new(&skip, 2, 1, 128, &gmm_libc_allocator, &other), GMM_OK);
  assert_int_equal(gmm_istate_add(other, r.x + 2, 1.0), GMM_OK);
  assert_int_equal(gmm_istate_merge(back, other, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err,
                      "initialisation states with different missing do not merge: every part "
                      "must use the same spec");
  gmm_istate_free(other);
  gmm_istate_free(back);
  free(b1);
  free(b2);
  gmm_istate_free(parts[0]);
  gmm_istate_free(whole);
  free(order);
  free_rows(&r);
}

/* istate (6): the state BLOB's version 2 behind a valid checksum: every
** truncation and flip rejected, and each forged field with its sentence. */
static void test_istate_codec_v2(void **state) {
  (void)state;
  rows r = make_rows(0);
  add_missing(&r);
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.seed = 5;
  /* The first 40 rows (four miss a value), all in the sample. */
  gmm_istate *s = state_with(&opt, &r, NULL, 0, 40, 64);
  size_t n;
  unsigned char *p = state_bytes(s, &n);
  assert_int_equal(get_u32le(p + 4), 2);
  gmm_istate *back = NULL;
  char err[256];
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  assert_int_equal(back->options.missing, GMM_MISSING_MARGINALIZE);
  gmm_istate_free(back);
  for (size_t len = 0; len < n; len++) assert_state_rejected(p, len, NULL);
  for (size_t i = 0; i < n; i++)
    for (int bit = 0; bit < 8; bit += 2) {
      p[i] ^= (unsigned char)(1u << bit);
      assert_state_rejected(p, n, NULL);
      p[i] ^= (unsigned char)(1u << bit);
    }
  /* The rows in the BLOB: which miss a value. */
  size_t entry = 16 + 2 * 8, n_held = (size_t)s->n_held, with_nan = n_held, complete = n_held;
  for (size_t i = 0; i < n_held; i++) {
    const unsigned char *row = p + 96 + i * entry + 16;
    int miss = get_u64le(row) == UINT64_C(0x7ff8000000000000) ||
               get_u64le(row + 8) == UINT64_C(0x7ff8000000000000);
    if (miss && with_nan == n_held) with_nan = i;
    if (!miss && complete == n_held) complete = i;
  }
  assert_true(with_nan < n_held && complete < n_held);
  unsigned char *q = malloc(n);
  assert_non_null(q);
  char want[200];
  /* The option word: unknown; 'skip' with a missing value held. */
  memcpy(q, p, n);
  put_u32le(q + 92, 2);
  reseal(q, n);
  assert_state_rejected_with(q, n, "the missing option 2 is unknown (0 marginalize, 1 skip)");
  memcpy(q, p, n);
  put_u32le(q + 92, 1);
  reseal(q, n);
  snprintf(want, sizeof want,
           "sample row %zu has a missing value, but the state's missing option is 'skip'",
           with_nan);
  assert_state_rejected_with(q, n, want);
  /* Version 1 has no missing value, and its word at 92 is reserved. */
  memcpy(q, p, n);
  put_u32le(q + 4, 1);
  reseal(q, n);
  snprintf(want, sizeof want, "sample row %zu has a value that is not finite or not canonical",
           with_nan);
  assert_state_rejected_with(q, n, want);
  put_u32le(q + 92, 1);
  reseal(q, n);
  assert_state_rejected_with(q, n, "reserved bytes are not zero");
  /* A NaN of another payload. */
  memcpy(q, p, n);
  unsigned char *cell = q + 96 + with_nan * entry + 16;
  if (get_u64le(cell) != UINT64_C(0x7ff8000000000000)) cell += 8;
  put_u64le(cell, UINT64_C(0x7ff8000000000001));
  reseal(q, n);
  snprintf(want, sizeof want, "sample row %zu has a value that is not finite or not canonical",
           with_nan);
  assert_state_rejected_with(q, n, want);
  /* A row of missing values only (its key made right). */
  memcpy(q, p, n);
  put_u64le(q + 96 + complete * entry + 16, UINT64_C(0x7ff8000000000000));
  put_u64le(q + 96 + complete * entry + 24, UINT64_C(0x7ff8000000000000));
  reseal(q, n);
  snprintf(want, sizeof want, "sample row %zu has every value missing", complete);
  assert_state_rejected_with(q, n, want);
  free(q);
  free(p);
  gmm_istate_free(s);

  /* Version 2 of a 'marginalize' sample with no missing value: rows 1 .. 9
  ** are complete; forge the version. */
  s = state_with(&opt, &r, NULL, 1, 10, 64);
  p = state_bytes(s, &n);
  assert_int_equal(get_u32le(p + 4), 1);
  put_u32le(p + 4, 2);
  reseal(p, n);
  assert_state_rejected_with(p, n,
                             "format version 2 holds nothing version 1 cannot (missing "
                             "'marginalize', no missing value)");
  /* Version 3 (istate (7)) is for mclust's models and init 'hc'. */
  put_u32le(p + 4, 3);
  reseal(p, n);
  assert_state_rejected_with(p, n,
                             "format version 3 holds nothing version 2 cannot (scikit-learn's "
                             "covariance type and init)");
  put_u32le(p + 4, 4);
  reseal(p, n);
  assert_state_rejected_with(p, n, "format version 4 is not one this build reads (1 to 3)");
  free(p);
  gmm_istate_free(s);
  free_rows(&r);
}

/* istate (4), (6): the start of a state with missing values is gmm_fit's
** max_iter 0 model on the same rows in canonical order, with the option
** and the counts; a sampled state scales n_incomplete to every row; a
** 'skip' state gives a 'skip' model (a version 3 BLOB). */
static void test_istate_start_missing(void **state) {
  (void)state;
  rows r = make_rows(0);
  add_missing(&r);
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.seed = 11;
  gmm_istate *s = state_with(&opt, &r, NULL, 0, r.n, 1000);
  gmm_model *start = NULL;
  char err[256];
  assert_int_equal(gmm_istate_start(s, 1, &gmm_libc_allocator, &start, err, sizeof err), GMM_OK);
  double *x = malloc(r.n * 2 * sizeof *x);
  size_t n_used = 0;
  for (size_t i = 0; i < r.n; i++)
    if (!(isnan(r.x[2 * i]) && isnan(r.x[2 * i + 1])))
      memcpy(x + 2 * n_used++, r.x + 2 * i, 2 * sizeof *x);
  gmm_canonical_order(x, NULL, n_used, 2, 1);
  rows sorted = {x, NULL, n_used, 2};
  gmm_options ref_opt = opt;
  ref_opt.max_iter = 0;
  gmm_model *ref = fit(&sorted, &ref_opt);
  assert_params_close(start, ref, 0.0);
  assert_int_equal(start->options.missing, GMM_MISSING_MARGINALIZE);
  assert_true(start->summary.n_incomplete == 60);
  assert_true(start->summary.n_incomplete == ref->summary.n_incomplete);
  assert_true(start->summary.missing_fraction == ref->summary.missing_fraction);
  assert_true(tu_close_rel(start->summary.log_likelihood, ref->summary.log_likelihood, 0));
  size_t n;
  unsigned char *p = model_bytes(start, &n);
  assert_int_equal(get_u32le(p + 4), 3);
  free(p);
  gmm_model_free(ref);
  gmm_model_free(start);
  gmm_istate_free(s);
  free(x);

  /* A sample of 100 of the 599 rows: n_incomplete scaled by 599 / 100,
  ** rounded up; missing_fraction the sample's. */
  s = state_with(&opt, &r, NULL, 0, r.n, 100);
  size_t held_incomplete = 0, held_missing = 0;
  for (int i = 0; i < s->n_held; i++) {
    int m = isnan(s->x[2 * i]) + isnan(s->x[2 * i + 1]);
    held_incomplete += m > 0;
    held_missing += (size_t)m;
  }
  assert_true(held_incomplete > 0);
  assert_int_equal(gmm_istate_start(s, 1, &gmm_libc_allocator, &start, err, sizeof err), GMM_OK);
  assert_true(start->summary.n_incomplete ==
              (int64_t)ceil((double)held_incomplete * (599.0 / 100.0)));
  assert_true(start->summary.missing_fraction == (double)held_missing / 200.0);
  assert_true(start->summary.n_samples == 599.0);
  p = model_bytes(start, &n);
  gmm_model *back = NULL;
  assert_int_equal(gmm_blob_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  assert_true(back->summary.n_incomplete == start->summary.n_incomplete);
  gmm_model_free(back);
  free(p);
  gmm_model_free(start);
  gmm_istate_free(s);

  /* 'skip': complete rows only; the model remembers the option. */
  opt.missing = GMM_MISSING_SKIP;
  gmm_istate *k = NULL;
  assert_int_equal(gmm_istate_new(&opt, 2, 0, 1000, &gmm_libc_allocator, &k), GMM_OK);
  for (size_t i = 0; i < r.n; i++)
    if (!isnan(r.x[2 * i]) && !isnan(r.x[2 * i + 1]))
      assert_int_equal(gmm_istate_add(k, r.x + 2 * i, 1.0), GMM_OK);
  assert_int_equal(gmm_istate_start(k, 1, &gmm_libc_allocator, &start, err, sizeof err), GMM_OK);
  assert_int_equal(start->options.missing, GMM_MISSING_SKIP);
  assert_true(start->summary.n_incomplete == 0);
  p = model_bytes(start, &n);
  assert_int_equal(get_u32le(p + 4), 3);
  assert_int_equal(get_u32le(p + 100), 1);
  free(p);
  gmm_model_free(start);
  gmm_istate_free(k);
  free_rows(&r);
}

/* The fixtures of the state BLOB, read by the core: version 1 decodes
** with missing 'marginalize' and re-encodes to itself; version 2, written
** once by tests/make_pass_fixtures.c --v2 (a weighted sample of 9 of 14
** rows, 3 of them missing values), decodes to the values it printed,
** re-encodes to itself, merges with itself and starts a model. NEVER
** regenerate either file.
** Checks istate (5), (6). */
static void test_istate_fixtures(void **state) {
  (void)state;
  char err[256];
  size_t n, n2;
  unsigned char *p = read_fixture(ISTATE1_FIXTURE, &n);
  assert_memory_equal(p, "GMMi\1\0\0\0", 8);
  gmm_istate *s = NULL;
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  assert_int_equal(s->options.missing, GMM_MISSING_MARGINALIZE);
  unsigned char *again = state_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_istate_free(s);
  free(p);

  p = read_fixture(ISTATE2_FIXTURE, &n);
  assert_int_equal(n, ISTATE2_FIXTURE_LEN);
  assert_memory_equal(p, "GMMi\2\0\0\0", 8);
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  const gmm_options *o = &s->options;
  assert_int_equal(o->k, 2);
  assert_int_equal(s->d, 3);
  assert_int_equal(o->covariance_type, GMM_COV_DIAG);
  assert_int_equal(o->init, GMM_INIT_RANDOM_FROM_DATA);
  assert_int_equal(o->max_iter, 40);
  assert_int_equal(o->n_init, 3);
  assert_true(o->tol == 1e-5 && o->reg_covar == 1e-4 && o->seed == 13);
  assert_int_equal(o->missing, GMM_MISSING_MARGINALIZE);
  assert_int_equal(s->weighted, 1);
  assert_int_equal(s->sample_size, 9);
  assert_true(s->n_rows == ISTATE2_FIXTURE_N_ROWS && s->n_skipped == ISTATE2_FIXTURE_N_SKIPPED);
  assert_int_equal(s->n_held, ISTATE2_FIXTURE_N_HELD);
  assert_true(s->sum_weights == ISTATE2_FIXTURE_SUM_WEIGHTS);
  int held_incomplete = 0;
  for (int i = 0; i < s->n_held; i++)
    held_incomplete += isnan(s->x[3 * i]) || isnan(s->x[3 * i + 1]) || isnan(s->x[3 * i + 2]);
  assert_int_equal(held_incomplete, ISTATE2_FIXTURE_N_HELD_INCOMPLETE);
  again = state_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_istate *copy = NULL;
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &copy, err, sizeof err), GMM_OK);
  assert_int_equal(gmm_istate_merge(s, copy, err, sizeof err), GMM_OK);
  assert_true(s->n_rows == 2 * ISTATE2_FIXTURE_N_ROWS);
  again = state_bytes(s, &n2);
  gmm_istate *twice = NULL;
  assert_int_equal(gmm_istate_read(again, n2, &gmm_libc_allocator, &twice, err, sizeof err),
                   GMM_OK);
  gmm_istate_free(twice);
  free(again);
  gmm_model *m = NULL;
  assert_int_equal(gmm_istate_start(copy, 1, &gmm_libc_allocator, &m, err, sizeof err), GMM_OK);
  assert_int_equal(m->options.missing, GMM_MISSING_MARGINALIZE);
  assert_true(m->summary.n_incomplete > 0);
  assert_true(m->summary.n_samples == ISTATE2_FIXTURE_SUM_WEIGHTS);
  gmm_model_free(m);
  gmm_istate_free(copy);
  gmm_istate_free(s);
  free(p);
}

/* Every allocation of the paths with missing values fails in turn: the
** E-step of rows with missing values, the version 2 statistics and state
** decoders, a state's merge and start. An error, never a leak. */
static void test_allocation_failures_missing(void **state) {
  (void)state;
  rows r = make_rows(1);
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.max_iter = 0;
  gmm_model *m = fit(&r, &opt);
  m->options.max_iter = 5;
  add_missing(&r);
  uint64_t fp = fingerprint(m);
  for (size_t fail = 1;; fail++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = fail;
    gmm_estats *st = NULL, *st2 = NULL;
    gmm_estep_acc *acc = NULL;
    gmm_model *next = NULL;
    gmm_istate *s = NULL, *s2 = NULL, *s3 = NULL;
    unsigned char *sb = NULL, *ib = NULL;
    size_t ns = 0, ni = 0;
    char err[256];
    int ok = gmm_estats_new(m, fp, 1, &a, &st) == GMM_OK &&
             gmm_estep_acc_new(m, 2, &a, &acc) == GMM_OK;
    if (ok) {
      gmm_estep_add(acc, r.x, r.w, r.n, st);
      ok = st->n_incomplete == 60 && gmm_mstep(m, fp, st, &a, &next, err, sizeof err) == GMM_OK;
    }
    if (ok) {
      ns = gmm_estats_size(st);
      sb = malloc(ns);
      gmm_estats_write(st, sb);
      ok = gmm_estats_read(sb, ns, &a, &st2, err, sizeof err) == GMM_OK;
    }
    ok = ok && gmm_istate_new(&opt, 2, 1, 300, &a, &s) == GMM_OK &&
         gmm_istate_new(&opt, 2, 1, 300, &a, &s2) == GMM_OK;
    for (size_t i = 0; ok && i < 400; i++) {
      if (isnan(r.x[2 * i]) && isnan(r.x[2 * i + 1])) continue;
      ok = gmm_istate_add(i % 2 ? s : s2, r.x + 2 * i, r.w[i]) == GMM_OK;
    }
    ok = ok && gmm_istate_merge(s, s2, err, sizeof err) == GMM_OK;
    if (ok) {
      ni = gmm_istate_size(s);
      ib = malloc(ni);
      gmm_istate_write(s, ib);
      ok = ib[4] == 2 && gmm_istate_read(ib, ni, &a, &s3, err, sizeof err) == GMM_OK;
    }
    gmm_model *start = NULL;
    ok = ok && gmm_istate_start(s3, 1, &a, &start, err, sizeof err) == GMM_OK;
    gmm_model_free(start);
    free(sb);
    free(ib);
    gmm_istate_free(s);
    gmm_istate_free(s2);
    gmm_istate_free(s3);
    gmm_model_free(next);
    gmm_estep_acc_free(acc);
    gmm_estats_free(st);
    gmm_estats_free(st2);
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

/* ---- version 3: mclust's covariance models and init 'hc' (stats (8),
** istate (7)) ---- */

/* mclust's ten covariance models beyond scikit-learn's four. */
static const gmm_cov_type NEW_TYPES[] = {GMM_COV_EII, GMM_COV_EEI, GMM_COV_VEI, GMM_COV_EVI,
                                         GMM_COV_VEE, GMM_COV_EVE, GMM_COV_VVE, GMM_COV_EEV,
                                         GMM_COV_VEV, GMM_COV_EVV};
#define N_NEW_TYPES (sizeof NEW_TYPES / sizeof NEW_TYPES[0])

/* Bytes of statistics of k, d and type t in format version v: stats (6)-(8). */
static size_t stats_len_of(uint32_t v, size_t k, size_t d, gmm_cov_type t) {
  size_t s2 = gmm_cov_shape(t) == GMM_COV_DIAG || gmm_cov_shape(t) == GMM_COV_SPHERICAL
                  ? k * d
                  : k * d * (d + 1) / 2;
  return (v == 1 ? 64 : 80) + 8 * (k + k * d + s2) + 8;
}

/* stats (8): statistics of each of the fourteen types, over complete rows
** and over rows with missing values: types 4 .. 13 are version 3 (with
** the counts at 64 and 72, 0 allowed), the four of scikit-learn versions 1
** and 2; each round-trips bit for bit; each relabelled to another version,
** or with its type forged to one of another version, is refused with the
** sentence of stats (8). */
static void test_stats_v3_version_rule(void **state) {
  (void)state;
  char err[256], want[200];
  for (int t = 0; t < GMM_N_COV_TYPES; t++) {
    gmm_cov_type type = (gmm_cov_type)t;
    int new_type = t > GMM_COV_SPHERICAL;
    rows r = make_rows(t % 2);
    gmm_model *m = start_model(&r, type, 0);
    for (int miss = 0; miss < 2; miss++) {
      if (miss) add_missing(&r);
      gmm_estats *s = estep(m, &r, 0, r.n, 256);
      assert_int_equal(s->covariance_type, t);
      assert_true(s->n_incomplete == (miss ? 60 : 0) && s->n_missing == (miss ? 60 : 0));
      size_t n;
      unsigned char *p = stats_bytes(s, &n);
      uint32_t version = new_type ? 3u : miss ? 2u : 1u;
      assert_int_equal(get_u32le(p + 4), version);
      assert_int_equal(get_u32le(p + 16), (uint32_t)t);
      assert_int_equal(n, stats_len_of(version, 3, 2, type));
      if (version >= 2)
        assert_true(get_u64le(p + 64) == (uint64_t)s->n_incomplete &&
                    get_u64le(p + 72) == (uint64_t)s->n_missing);
      /* The round trip. */
      gmm_estats *back = NULL;
      assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
      assert_int_equal(back->covariance_type, t);
      assert_int_equal(back->weighted, t % 2);
      assert_true(back->n_rows == s->n_rows && back->n_incomplete == s->n_incomplete &&
                  back->n_missing == s->n_missing && back->fingerprint == s->fingerprint);
      assert_int_equal(back->sums.diag_only, s->sums.diag_only);
      size_t n2;
      unsigned char *p2 = stats_bytes(back, &n2);
      assert_int_equal(n2, n);
      assert_memory_equal(p2, p, n);
      free(p2);
      gmm_estats_free(back);

      unsigned char *q = malloc(n);
      assert_non_null(q);
      /* Relabelled to each other version. */
      for (uint32_t v = 1; v <= 3; v++) {
        if (v == version) continue;
        memcpy(q, p, n);
        put_u32le(q + 4, v);
        reseal(q, n);
        if (new_type || v == 3) {
          snprintf(want, sizeof want, "covariance type %d is not one of format version %u", t, v);
          assert_stats_rejected_with(q, n, want);
        } else {
          assert_stats_rejected(q, n, NULL); /* stats (7): versions 1 and 2 */
        }
      }
      /* Its type forged to each other one. */
      for (int u = 0; u <= GMM_N_COV_TYPES; u++) {
        if (u == t) continue;
        memcpy(q, p, n);
        put_u32le(q + 16, (uint32_t)u);
        reseal(q, n);
        if (u == GMM_N_COV_TYPES) {
          assert_stats_rejected_with(q, n, "covariance type 14 is unknown");
        } else if ((u > GMM_COV_SPHERICAL) != (version == 3)) {
          snprintf(want, sizeof want, "covariance type %d is not one of format version %u", u,
                   version);
          assert_stats_rejected_with(q, n, want);
        } else if (stats_len_of(version, 3, 2, (gmm_cov_type)u) != n) {
          snprintf(want, sizeof want, "it has %zu bytes, but its header (k = 3, d = 2) needs %zu",
                   n, stats_len_of(version, 3, 2, (gmm_cov_type)u));
          assert_stats_rejected_with(q, n, want);
        } else {
          /* Another type of the same shape of sums: the same bytes say it. */
          assert_int_equal(gmm_estats_read(q, n, &gmm_libc_allocator, &back, err, sizeof err),
                           GMM_OK);
          assert_int_equal(back->covariance_type, u);
          p2 = stats_bytes(back, &n2);
          assert_int_equal(n2, n);
          assert_memory_equal(p2, q, n);
          free(p2);
          gmm_estats_free(back);
        }
      }
      if (version == 3) {
        /* Version 3's counts, as version 2's, behind a valid checksum. */
        memcpy(q, p, n);
        put_u64le(q + 64, 1);
        put_u64le(q + 72, 0);
        reseal(q, n);
        assert_stats_rejected_with(q, n,
                                   "n_missing 0 is out of range for 1 rows with missing features "
                                   "of d = 2 (each misses 1 .. d - 1)");
        memcpy(q, p, n);
        put_u64le(q + 64, 0);
        put_u64le(q + 72, 2);
        reseal(q, n);
        assert_stats_rejected_with(q, n, "n_missing is 2, but no row has a missing feature");
        /* Every truncation, and a flip of every byte. */
        for (size_t len = 0; len < n; len++) assert_stats_rejected(p, len, NULL);
        for (size_t i = 0; i < n; i++) {
          p[i] ^= 0x20;
          assert_stats_rejected(p, n, NULL);
          p[i] ^= 0x20;
        }
      }
      free(q);
      free(p);
      gmm_estats_free(s);
    }
    gmm_model_free(m);
    free_rows(&r);
  }
}

/* stats (3), (8): version 3 statistics of two parts merge (complete rows
** with rows with missing values too), stay version 3 and decode; the
** decoded statistics step the model to the same bits as the ones they
** were encoded from; statistics of two types do not add up. */
static void test_stats_v3_merge_and_step(void **state) {
  (void)state;
  char err[256];
  for (size_t t = 0; t < N_NEW_TYPES; t++) {
    rows r = make_rows(t % 2);
    gmm_model *m = start_model(&r, NEW_TYPES[t], 5);
    add_missing(&r);
    /* Rows 1 .. 9 have no missing value used (row 5 is never used). */
    gmm_estats *a = estep(m, &r, 1, 10, 9), *b = estep(m, &r, 10, r.n, 1000);
    assert_true(a->n_incomplete == 0 && b->n_incomplete == 59);
    size_t n;
    unsigned char *p = stats_bytes(a, &n);
    assert_int_equal(get_u32le(p + 4), 3);
    assert_true(get_u64le(p + 64) == 0 && get_u64le(p + 72) == 0);
    free(p);
    assert_int_equal(gmm_estats_merge(a, b, err, sizeof err), GMM_OK);
    assert_true(a->n_incomplete == 59 && a->n_missing == 59 && a->n_rows == 598);
    p = stats_bytes(a, &n);
    assert_int_equal(get_u32le(p + 4), 3);
    gmm_estats *back = NULL;
    assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
    assert_true(back->n_incomplete == 59 && back->n_missing == 59 && back->n_rows == 598);
    gmm_model *next = mstep(m, a), *next_back = mstep(m, back);
    assert_int_equal(next->covariance_type, NEW_TYPES[t]);
    assert_params_close(next, next_back, 0.0);
    gmm_model_free(next);
    gmm_model_free(next_back);
    gmm_estats_free(back);
    free(p);
    /* Another type's statistics. */
    gmm_cov_type other = NEW_TYPES[(t + 1) % N_NEW_TYPES];
    gmm_model *o = start_model(&r, other, 0);
    gmm_estats *c = NULL;
    assert_int_equal(gmm_estats_new(o, a->fingerprint, a->weighted, &gmm_libc_allocator, &c),
                     GMM_OK);
    assert_int_equal(gmm_estats_merge(a, c, err, sizeof err), GMM_EINVAL);
    char want[200];
    snprintf(want, sizeof want,
             "statistics of k = 3, d = 2, covariance_type '%s' and of k = 3, d = 2, "
             "covariance_type '%s' do not add up",
             gmm_cov_type_name(NEW_TYPES[t]), gmm_cov_type_name(other));
    assert_string_equal(err, want);
    gmm_estats_free(c);
    gmm_model_free(o);
    gmm_estats_free(a);
    gmm_estats_free(b);
    gmm_model_free(m);
    free_rows(&r);
  }
}

/* PASS_FIXTURE3_VALUES_BEGIN (printed by tests/make_pass_fixtures.c --v3) */
#define STATS3_FIXTURE_LEN 248
#define STATS3_FIXTURE_FINGERPRINT UINT64_C(0x24322ce5d488de92)
#define STATS3_FIXTURE_N_ROWS 14
#define STATS3_FIXTURE_N_SKIPPED 1
#define STATS3_FIXTURE_N_INCOMPLETE 3
#define STATS3_FIXTURE_N_MISSING 4
static const double STATS3_FIXTURE_SUM_WEIGHTS = 16.5;
static const double STATS3_FIXTURE_LOG_LIKELIHOOD = -8.4553580214881308;
static const double STATS3_FIXTURE_NK[2] = {9.500000021488912, 6.9999999785110871};
#define ISTATE3_FIXTURE_LEN 464
#define ISTATE3_FIXTURE_N_ROWS 14
#define ISTATE3_FIXTURE_N_SKIPPED 1
#define ISTATE3_FIXTURE_N_HELD 9
static const double ISTATE3_FIXTURE_SUM_WEIGHTS = 16.5;
#define ISTATE3_FIXTURE_N_HELD_INCOMPLETE 2
#define ISTATE3_FIXTURE_FIRST_KEY UINT64_C(0x00f6e6f5d0bd6a16)
/* PASS_FIXTURE3_VALUES_END */

#define STATS3_FIXTURE "tests/fixtures/stats-v3.bin"
#define ISTATE3_FIXTURE "tests/fixtures/istate-v3.bin"

/* The statistics fixture of version 3, written once by
** tests/make_pass_fixtures.c --v3 (weighted rows with missing values under
** a VEV model, k 2, d 3): it decodes to the values it printed, re-encodes
** to itself, merged with itself doubles its counts and stays version 3,
** and every truncation of it is refused. NEVER regenerate the file.
** Checks stats (8). */
static void test_stats_fixture_v3(void **state) {
  (void)state;
  char err[256];
  size_t n, n2;
  unsigned char *p = read_fixture(STATS3_FIXTURE, &n);
  assert_int_equal(n, STATS3_FIXTURE_LEN);
  assert_memory_equal(p, "GMMs\3\0\0\0", 8);
  gmm_estats *s = NULL;
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  assert_int_equal(s->k, 2);
  assert_int_equal(s->d, 3);
  assert_int_equal(s->covariance_type, GMM_COV_VEV);
  assert_int_equal(s->sums.diag_only, 0);
  assert_int_equal(s->weighted, 1);
  assert_true(s->fingerprint == STATS3_FIXTURE_FINGERPRINT);
  assert_true(s->n_rows == STATS3_FIXTURE_N_ROWS);
  assert_true(s->n_skipped == STATS3_FIXTURE_N_SKIPPED);
  assert_true(s->n_incomplete == STATS3_FIXTURE_N_INCOMPLETE);
  assert_true(s->n_missing == STATS3_FIXTURE_N_MISSING);
  assert_memory_equal(&s->sum_weights, &STATS3_FIXTURE_SUM_WEIGHTS, sizeof(double));
  assert_memory_equal(&s->log_likelihood, &STATS3_FIXTURE_LOG_LIKELIHOOD, sizeof(double));
  assert_memory_equal(s->sums.nk, STATS3_FIXTURE_NK, sizeof STATS3_FIXTURE_NK);
  unsigned char *again = stats_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_estats *copy = NULL;
  assert_int_equal(gmm_estats_read(p, n, &gmm_libc_allocator, &copy, err, sizeof err), GMM_OK);
  assert_int_equal(gmm_estats_merge(s, copy, err, sizeof err), GMM_OK);
  assert_true(s->n_rows == 2 * STATS3_FIXTURE_N_ROWS);
  assert_true(s->n_incomplete == 2 * STATS3_FIXTURE_N_INCOMPLETE);
  assert_true(s->n_missing == 2 * STATS3_FIXTURE_N_MISSING);
  again = stats_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_int_equal(get_u32le(again + 4), 3);
  gmm_estats *twice = NULL;
  assert_int_equal(gmm_estats_read(again, n2, &gmm_libc_allocator, &twice, err, sizeof err),
                   GMM_OK);
  assert_true(twice->n_rows == 2 * STATS3_FIXTURE_N_ROWS && twice->sum_weights == 33.0);
  gmm_estats_free(twice);
  free(again);
  gmm_estats_free(copy);
  gmm_estats_free(s);
  for (size_t len = 0; len < n; len++) assert_stats_rejected(p, len, NULL);
  free(p);
}

/* A state of options opt over the first n rows of r (rows of missing
** values only left out), written; its version must be `version`. */
static unsigned char *state_v(const gmm_options *opt, const rows *r, size_t n_rows,
                              int sample_size, uint32_t version, size_t *n) {
  gmm_istate *s = state_with(opt, r, NULL, 0, n_rows, sample_size);
  unsigned char *p = state_bytes(s, n);
  if (get_u32le(p + 4) != version)
    fail_msg("type %d, init %d, missing %d: version %u, not %u", (int)opt->covariance_type,
             (int)opt->init, (int)opt->missing, get_u32le(p + 4), version);
  gmm_istate_free(s);
  return p;
}

static const gmm_init_method STATE_INITS[] = {GMM_INIT_KMEANS, GMM_INIT_KMEANS_PP,
                                              GMM_INIT_RANDOM, GMM_INIT_RANDOM_FROM_DATA,
                                              GMM_INIT_HC};

/* istate (7): the encoder writes version 3 exactly when the covariance
** type is above 3 or the init is 'hc' (else 1, or 2 for 'skip' or a
** missing value held), and every such state round-trips. The decoder, on
** three states (complete rows, 'skip', missing values held) relabelled
** to each version and with every type and init forged in: it takes
** exactly what the encoder writes, and refuses the rest with the sentences
** of istate (7) (types and inits of version 3 in versions 1 and 2, a
** version 3 that holds neither), init 4 (labels) always. */
/* istate (7): gmm_istate_new refuses what a state BLOB cannot hold (init
** labels, a covariance type past the fourteen) and keeps hc_rows and
** criterion at the defaults the decoder gives, so that a state and its
** decoded copy start the same model. */
static void test_istate_new_options(void **state) {
  (void)state;
  gmm_options o;
  gmm_options_default(&o, 2);
  gmm_istate *s = NULL;
  o.init = GMM_INIT_LABELS;
  assert_int_equal(gmm_istate_new(&o, 2, 0, 10, &gmm_libc_allocator, &s), GMM_EINVAL);
  assert_null(s);
  o.init = GMM_INIT_HC;
  o.covariance_type = (gmm_cov_type)GMM_N_COV_TYPES;
  assert_int_equal(gmm_istate_new(&o, 2, 0, 10, &gmm_libc_allocator, &s), GMM_EINVAL);
  assert_null(s);
  o.covariance_type = GMM_COV_EVE;
  o.hc_rows = 50;
  o.criterion = GMM_CRITERION_ICL;
  assert_int_equal(gmm_istate_new(&o, 2, 0, 10, &gmm_libc_allocator, &s), GMM_OK);
  assert_int_equal(s->options.hc_rows, GMM_DEFAULT_HC_ROWS);
  assert_int_equal(s->options.criterion, GMM_CRITERION_BIC);
  assert_int_equal(s->options.init, GMM_INIT_HC);
  gmm_istate_free(s);
}

static void test_istate_v3_version_rule(void **state) {
  (void)state;
  char err[256], want[200];
  rows r = make_rows(1);
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.seed = 5;
  /* The encoder. */
  for (int t = 0; t < GMM_N_COV_TYPES; t++)
    for (size_t i = 0; i < sizeof STATE_INITS / sizeof STATE_INITS[0]; i++)
      for (int skip = 0; skip < 2; skip++) {
        opt.covariance_type = (gmm_cov_type)t;
        opt.init = STATE_INITS[i];
        opt.missing = skip ? GMM_MISSING_SKIP : GMM_MISSING_MARGINALIZE;
        int v3 = t > GMM_COV_SPHERICAL || opt.init == GMM_INIT_HC;
        size_t n;
        unsigned char *p = state_v(&opt, &r, 100, 40, v3 ? 3u : skip ? 2u : 1u, &n);
        assert_int_equal(get_u32le(p + 16), (uint32_t)t);
        assert_int_equal(get_u32le(p + 20), (uint32_t)opt.init);
        assert_int_equal(get_u32le(p + 92), (uint32_t)skip);
        gmm_istate *back = NULL;
        assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &back, err, sizeof err),
                         GMM_OK);
        assert_int_equal(back->options.covariance_type, t);
        assert_int_equal(back->options.init, opt.init);
        assert_int_equal(back->options.missing, opt.missing);
        size_t n2;
        unsigned char *p2 = state_bytes(back, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(p2, p, n);
        free(p2);
        gmm_istate_free(back);
        free(p);
      }

  /* The decoder: bases 0 complete rows, 1 'skip', 2 missing values held. */
  unsigned char *base[3];
  size_t nb[3];
  opt.covariance_type = GMM_COV_FULL;
  opt.init = GMM_INIT_KMEANS;
  opt.missing = GMM_MISSING_MARGINALIZE;
  base[0] = state_v(&opt, &r, 100, 40, 1, &nb[0]);
  opt.missing = GMM_MISSING_SKIP;
  base[1] = state_v(&opt, &r, 100, 40, 2, &nb[1]);
  opt.missing = GMM_MISSING_MARGINALIZE;
  rows rm = make_rows(1);
  add_missing(&rm);
  base[2] = state_v(&opt, &rm, 100, 40, 2, &nb[2]);
  for (int b = 0; b < 3; b++) {
    size_t n = nb[b];
    unsigned char *q = malloc(n);
    assert_non_null(q);
    for (uint32_t v = 1; v <= 3; v++)
      for (uint32_t t = 0; t <= GMM_N_COV_TYPES; t++)
        for (uint32_t init = 0; init <= 6; init++) {
          memcpy(q, base[b], n);
          put_u32le(q + 4, v);
          put_u32le(q + 16, t);
          put_u32le(q + 20, init);
          reseal(q, n);
          int v3_only = t > GMM_COV_SPHERICAL || init == GMM_INIT_HC;
          const char *expect = NULL; /* NULL: decodes */
          if (v == 1 && b == 1) {
            expect = "reserved bytes are not zero"; /* read before the options */
          } else if (t == GMM_N_COV_TYPES) {
            expect = "covariance type 14 is unknown";
          } else if (init == GMM_INIT_LABELS || init > GMM_INIT_HC) {
            snprintf(want, sizeof want, "init method %u is unknown", init);
            expect = want;
          } else if (v < 3 && v3_only) {
            snprintf(want, sizeof want,
                     "covariance type %u or init method %u is not one of format version %u", t,
                     init, v);
            expect = want;
          } else if (v == 3 && !v3_only) {
            expect = "format version 3 holds nothing version 2 cannot (scikit-learn's "
                     "covariance type and init)";
          } else if (v == 2 && b == 0) {
            expect = "format version 2 holds nothing version 1 cannot (missing 'marginalize', "
                     "no missing value)";
          } else if (v == 1 && b == 2) {
            expect = ""; /* istate (6): a missing value in version 1 */
          }
          if (expect && expect[0]) {
            assert_state_rejected_with(q, n, expect);
          } else if (expect) {
            assert_state_rejected(q, n, "has a value that is not finite or not canonical");
          } else {
            /* Decodes, and the encoder writes this version again. */
            gmm_istate *s = NULL;
            if (gmm_istate_read(q, n, &gmm_libc_allocator, &s, err, sizeof err) != GMM_OK)
              fail_msg("base %d, version %u, type %u, init %u: %s", b, v, t, init, err);
            size_t n2;
            unsigned char *p2 = state_bytes(s, &n2);
            assert_int_equal(n2, n);
            assert_memory_equal(p2, q, n);
            free(p2);
            gmm_istate_free(s);
          }
        }
    /* Every truncation of a version 3 state, and a flip of every byte. */
    memcpy(q, base[b], n);
    put_u32le(q + 4, 3);
    put_u32le(q + 16, GMM_COV_EVE);
    put_u32le(q + 20, GMM_INIT_HC);
    reseal(q, n);
    gmm_istate *s = NULL;
    assert_int_equal(gmm_istate_read(q, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
    gmm_istate_free(s);
    for (size_t len = 0; len < n; len++) assert_state_rejected(q, len, NULL);
    for (size_t i = 0; i < n; i++) {
      q[i] ^= 0x08;
      assert_state_rejected(q, n, NULL);
      q[i] ^= 0x08;
    }
    free(q);
    free(base[b]);
  }
  free_rows(&rm);
  free_rows(&r);
}

/* istate (1), (3), (7): states with init 'hc' and a type of mclust's, any
** order and split merged, give the bytes of the whole (version 3); the
** merge decodes to itself; states of another type or init do not merge. */
static void test_istate_v3_merge(void **state) {
  (void)state;
  rows r = make_rows(1);
  add_missing(&r);
  size_t *order = malloc(r.n * sizeof *order);
  assert_non_null(order);
  tu_rng rng;
  tu_rng_seed(&rng, 17);
  for (size_t i = 0; i < r.n; i++) order[i] = i;
  for (size_t i = r.n - 1; i > 0; i--) {
    size_t j = tu_rng_below(&rng, i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  gmm_options opt;
  gmm_options_default(&opt, 3);
  opt.covariance_type = GMM_COV_EVE;
  opt.init = GMM_INIT_HC;
  opt.seed = 23;
  gmm_istate *whole = state_with(&opt, &r, NULL, 0, r.n, 100);
  gmm_istate *parts[4];
  for (int p = 0; p < 4; p++)
    parts[p] = state_with(&opt, &r, order, r.n * (size_t)p / 4, r.n * (size_t)(p + 1) / 4, 100);
  char err[256];
  /* Through their BLOBs, as SQL's gmm_merge takes them. */
  for (int p = 1; p < 4; p++) {
    size_t n;
    unsigned char *b = state_bytes(parts[p], &n);
    assert_int_equal(get_u32le(b + 4), 3);
    gmm_istate *part = NULL;
    assert_int_equal(gmm_istate_read(b, n, &gmm_libc_allocator, &part, err, sizeof err), GMM_OK);
    assert_int_equal(gmm_istate_merge(parts[0], part, err, sizeof err), GMM_OK);
    gmm_istate_free(part);
    gmm_istate_free(parts[p]);
    free(b);
  }
  size_t n1, n2;
  unsigned char *b1 = state_bytes(whole, &n1), *b2 = state_bytes(parts[0], &n2);
  assert_int_equal(n1, n2);
  assert_int_equal(get_u32le(b1 + 4), 3);
  assert_int_equal(get_u32le(b1 + 16), GMM_COV_EVE);
  assert_int_equal(get_u32le(b1 + 20), GMM_INIT_HC);
  assert_states_same(b1, b2, n1);
  gmm_istate *back = NULL;
  assert_int_equal(gmm_istate_read(b2, n2, &gmm_libc_allocator, &back, err, sizeof err), GMM_OK);
  assert_true(back->n_rows == 599 && back->n_held == 100);
  size_t n3;
  unsigned char *b3 = state_bytes(back, &n3);
  assert_int_equal(n3, n2);
  assert_memory_equal(b3, b2, n2);
  free(b3);
  /* Another type; another init. */
  gmm_options other = opt;
  other.covariance_type = GMM_COV_VVE;
  gmm_istate *o = state_with(&other, &r, NULL, 0, 20, 100);
  assert_int_equal(gmm_istate_merge(back, o, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err,
                      "initialisation states with different covariance_type do not merge: every "
                      "part must use the same spec");
  gmm_istate_free(o);
  other = opt;
  other.init = GMM_INIT_KMEANS;
  o = state_with(&other, &r, NULL, 0, 20, 100);
  assert_int_equal(gmm_istate_merge(back, o, err, sizeof err), GMM_EINVAL);
  assert_string_equal(err,
                      "initialisation states with different init do not merge: every part must "
                      "use the same spec");
  gmm_istate_free(o);
  gmm_istate_free(back);
  free(b1);
  free(b2);
  gmm_istate_free(parts[0]);
  gmm_istate_free(whole);
  free(order);
  free_rows(&r);
}

/* istate (4), (7): with every row in the sample, the start of a state with
** init 'hc' is gmm_fit's max_iter 0 model (init 'hc') on the same rows in
** canonical order, bit for bit: for each of mclust's ten types and full,
** without weights; for VVE with weights; for EVV over rows with missing
** values. A sample of some of the rows starts too, its counts the state's. */
static void test_istate_start_hc_is_fit_max_iter_0(void **state) {
  (void)state;
  char err[256];
  for (size_t c = 0; c <= N_NEW_TYPES + 2; c++) {
    int weighted = c == N_NEW_TYPES + 1, missing = c == N_NEW_TYPES + 2;
    gmm_cov_type type = c < N_NEW_TYPES ? NEW_TYPES[c]
                        : c == N_NEW_TYPES ? GMM_COV_FULL
                        : weighted         ? GMM_COV_VVE
                                           : GMM_COV_EVV;
    rows r = make_rows(weighted);
    if (missing) add_missing(&r);
    gmm_options opt;
    gmm_options_default(&opt, 3);
    opt.covariance_type = type;
    opt.init = GMM_INIT_HC;
    opt.max_iter = 40;
    opt.seed = 11;
    gmm_istate *s = state_with(&opt, &r, NULL, 0, r.n, 1000);
    size_t n;
    unsigned char *b = state_bytes(s, &n);
    assert_int_equal(get_u32le(b + 4), 3);
    free(b);
    gmm_model *start = NULL;
    if (gmm_istate_start(s, 1, &gmm_libc_allocator, &start, err, sizeof err) != GMM_OK)
      fail_msg("type %s: gmm_istate_start: %s", gmm_cov_type_name(type), err);
    /* gmm_fit's rows in canonical order, as the binding hands them over. */
    double *x = malloc(r.n * 2 * sizeof *x), *w = weighted ? malloc(r.n * sizeof *w) : NULL;
    assert_non_null(x);
    size_t n_used = 0;
    for (size_t i = 0; i < r.n; i++) {
      if (isnan(r.x[2 * i]) && isnan(r.x[2 * i + 1])) continue;
      memcpy(x + 2 * n_used, r.x + 2 * i, 2 * sizeof *x);
      if (w) w[n_used] = r.w[i];
      n_used++;
    }
    gmm_canonical_order(x, w, n_used, 2, 1);
    rows sorted = {x, w, n_used, 2};
    gmm_options ref_opt = opt;
    ref_opt.max_iter = 0;
    gmm_model *ref = fit(&sorted, &ref_opt);
    assert_int_equal(start->covariance_type, type);
    assert_int_equal(start->options.init, GMM_INIT_HC);
    assert_params_close(start, ref, 0.0);
    assert_int_equal(start->summary.n_iter, 0);
    assert_int_equal(start->options.max_iter, 40);
    assert_true(start->summary.n_incomplete == ref->summary.n_incomplete);
    if (weighted)
      assert_true(tu_close_rel(start->summary.log_likelihood, ref->summary.log_likelihood, 1e-13));
    else
      assert_true(start->summary.log_likelihood == ref->summary.log_likelihood);
    gmm_model_free(ref);
    gmm_model_free(start);
    gmm_istate_free(s);

    /* A sample of 60 of the rows: the tree is built on the sample. */
    s = state_with(&opt, &r, NULL, 0, r.n, 60);
    assert_int_equal(gmm_istate_start(s, 1, &gmm_libc_allocator, &start, err, sizeof err), GMM_OK);
    assert_int_equal(start->covariance_type, type);
    assert_true(start->summary.n_samples == s->sum_weights);
    assert_true(start->summary.n_skipped == s->n_skipped);
    assert_true(tu_all_finite(start->means, 6));
    gmm_model_free(start);
    gmm_istate_free(s);
    free(x);
    free(w);
    free_rows(&r);
  }
}

/* The state fixture of version 3, written once by tests/make_pass_fixtures.c
** --v3 (VVE, init 'hc', a weighted sample of 9 of 14 rows, 2 of them with
** missing values): it decodes to the values it printed, re-encodes to
** itself, merges with itself (version 3 again), starts a model, and every
** truncation of it is refused. NEVER regenerate the file.
** Checks istate (5)-(7). */
static void test_istate_fixture_v3(void **state) {
  (void)state;
  char err[256];
  size_t n, n2;
  unsigned char *p = read_fixture(ISTATE3_FIXTURE, &n);
  assert_int_equal(n, ISTATE3_FIXTURE_LEN);
  assert_memory_equal(p, "GMMi\3\0\0\0", 8);
  gmm_istate *s = NULL;
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &s, err, sizeof err), GMM_OK);
  const gmm_options *o = &s->options;
  assert_int_equal(o->k, 2);
  assert_int_equal(s->d, 3);
  assert_int_equal(o->covariance_type, GMM_COV_VVE);
  assert_int_equal(o->init, GMM_INIT_HC);
  assert_int_equal(o->max_iter, 30);
  assert_int_equal(o->n_init, 2);
  assert_true(o->tol == 1e-4 && o->reg_covar == 1e-5 && o->seed == 21);
  assert_int_equal(o->missing, GMM_MISSING_MARGINALIZE);
  assert_int_equal(s->weighted, 1);
  assert_int_equal(s->sample_size, 9);
  assert_true(s->n_rows == ISTATE3_FIXTURE_N_ROWS && s->n_skipped == ISTATE3_FIXTURE_N_SKIPPED);
  assert_int_equal(s->n_held, ISTATE3_FIXTURE_N_HELD);
  assert_true(s->sum_weights == ISTATE3_FIXTURE_SUM_WEIGHTS);
  assert_true(s->keys[0] == ISTATE3_FIXTURE_FIRST_KEY);
  int held_incomplete = 0;
  for (int i = 0; i < s->n_held; i++)
    held_incomplete += isnan(s->x[3 * i]) || isnan(s->x[3 * i + 1]) || isnan(s->x[3 * i + 2]);
  assert_int_equal(held_incomplete, ISTATE3_FIXTURE_N_HELD_INCOMPLETE);
  unsigned char *again = state_bytes(s, &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(again, p, n);
  free(again);
  gmm_istate *copy = NULL;
  assert_int_equal(gmm_istate_read(p, n, &gmm_libc_allocator, &copy, err, sizeof err), GMM_OK);
  assert_int_equal(gmm_istate_merge(s, copy, err, sizeof err), GMM_OK);
  assert_true(s->n_rows == 2 * ISTATE3_FIXTURE_N_ROWS && s->n_held == ISTATE3_FIXTURE_N_HELD);
  again = state_bytes(s, &n2);
  assert_int_equal(get_u32le(again + 4), 3);
  gmm_istate *twice = NULL;
  assert_int_equal(gmm_istate_read(again, n2, &gmm_libc_allocator, &twice, err, sizeof err),
                   GMM_OK);
  assert_true(twice->n_rows == 2 * ISTATE3_FIXTURE_N_ROWS);
  gmm_istate_free(twice);
  free(again);
  gmm_model *m = NULL;
  assert_int_equal(gmm_istate_start(copy, 1, &gmm_libc_allocator, &m, err, sizeof err), GMM_OK);
  assert_int_equal(m->covariance_type, GMM_COV_VVE);
  assert_int_equal(m->options.init, GMM_INIT_HC);
  assert_int_equal(m->options.max_iter, 30);
  assert_int_equal(m->summary.n_iter, 0);
  assert_true(m->summary.n_incomplete > 0);
  assert_true(m->summary.n_samples == ISTATE3_FIXTURE_SUM_WEIGHTS);
  gmm_model_free(m);
  gmm_istate_free(copy);
  gmm_istate_free(s);
  for (size_t len = 0; len < n; len++) assert_state_rejected(p, len, NULL);
  free(p);
}

/* Every allocation of decoding the two version 3 fixtures fails in turn:
** GMM_ENOMEM, no object, no leak; then every allocation of decoding the
** state twice, merging, encoding and starting it (init 'hc': the tree):
** an error, never a leak. Checks stats (8), istate (7). */
static void test_allocation_failures_v3(void **state) {
  (void)state;
  size_t ns, ni;
  unsigned char *sp = read_fixture(STATS3_FIXTURE, &ns), *ip = read_fixture(ISTATE3_FIXTURE, &ni);
  char err[256];
  size_t fail;
  for (fail = 1;; fail++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = fail;
    gmm_estats *s = NULL;
    gmm_status rc = gmm_estats_read(sp, ns, &a, &s, err, sizeof err);
    if (rc == GMM_OK) {
      assert_int_equal(c.n_refused, 0);
      gmm_estats_free(s);
      assert_no_leaks(&c);
      break;
    }
    assert_int_equal(rc, GMM_ENOMEM);
    assert_string_equal(err, "out of memory");
    assert_null(s);
    assert_int_equal(c.n_refused, 1);
    assert_no_leaks(&c);
  }
  assert_true(fail > 1);
  for (fail = 1;; fail++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = fail;
    gmm_istate *s = NULL;
    gmm_status rc = gmm_istate_read(ip, ni, &a, &s, err, sizeof err);
    if (rc == GMM_OK) {
      assert_int_equal(c.n_refused, 0);
      gmm_istate_free(s);
      assert_no_leaks(&c);
      break;
    }
    assert_int_equal(rc, GMM_ENOMEM);
    assert_string_equal(err, "out of memory");
    assert_null(s);
    assert_int_equal(c.n_refused, 1);
    assert_no_leaks(&c);
  }
  assert_true(fail > 1);
  for (fail = 1;; fail++) {
    tu_counting c;
    gmm_allocator a = tu_counting_allocator(&c);
    c.fail_at = fail;
    gmm_istate *s = NULL, *s2 = NULL;
    gmm_model *m = NULL;
    gmm_status rc = gmm_istate_read(ip, ni, &a, &s, err, sizeof err);
    if (rc == GMM_OK) rc = gmm_istate_read(ip, ni, &a, &s2, err, sizeof err);
    if (rc == GMM_OK) rc = gmm_istate_merge(s, s2, err, sizeof err);
    if (rc == GMM_OK) rc = gmm_istate_start(s, 1, &a, &m, err, sizeof err);
    gmm_model_free(m);
    gmm_istate_free(s);
    gmm_istate_free(s2);
    assert_no_leaks(&c);
    if (rc == GMM_OK) {
      assert_int_equal(c.n_refused, 0);
      break;
    }
    if (rc != GMM_ENOMEM) fail_msg("allocation %zu refused: status %d (%s)", fail, (int)rc, err);
    assert_int_equal(c.n_refused, 1);
  }
  free(sp);
  free(ip);
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
      cmocka_unit_test(test_stats_codec_v2),
      cmocka_unit_test(test_stats_v2_fields),
      cmocka_unit_test(test_stats_v2_merge),
      cmocka_unit_test(test_stats_fixtures),
      cmocka_unit_test(test_istate_add_missing),
      cmocka_unit_test(test_istate_missing_order_and_split),
      cmocka_unit_test(test_istate_codec_v2),
      cmocka_unit_test(test_istate_start_missing),
      cmocka_unit_test(test_istate_fixtures),
      cmocka_unit_test(test_allocation_failures_missing),
      cmocka_unit_test(test_stats_v3_version_rule),
      cmocka_unit_test(test_stats_v3_merge_and_step),
      cmocka_unit_test(test_stats_fixture_v3),
      cmocka_unit_test(test_istate_new_options),
      cmocka_unit_test(test_istate_v3_version_rule),
      cmocka_unit_test(test_istate_v3_merge),
      cmocka_unit_test(test_istate_start_hc_is_fit_max_iter_0),
      cmocka_unit_test(test_istate_fixture_v3),
      cmocka_unit_test(test_allocation_failures_v3),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
