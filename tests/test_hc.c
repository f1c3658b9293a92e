/*
** test_hc.c -- cmocka tests of mclust's model-based agglomerative clustering
** in the core (ext/core/gmm_hc.c): the tree of hc(X, modelName = "VVV",
** use = "SVD") and its cuts hclass(tree, k), against R mclust 6.0.0.
**
**   1. Oracle: on Old Faithful, iris, crabs and two data sets of exact
**      ties (tests/oracle/hc_fixtures.h, from tests/oracle/make_hc_fixtures.R)
**      every merge pair equals mclust's and the cut at every k from 1 to 9
**      equals hclass, labels and their numbering included (exact, no
**      relabelling).
**   2. Invariances that hold exactly: a constant column is dropped (as R's
**      hc drops the NaN column scale() makes of it), and a column scaled
**      by a power of two gives the same tree.
**   3. Degenerate data (n = 1, n = 2, d = 1, constant columns, all rows
**      equal, repeated rows, rank-deficient data, n < d, values near the
**      ends of the double range): never a crash, every cut at every k a
**      valid partition (labels 0 .. k-1, each used, numbered by first row,
**      nested in the cut at k - 1).
**   4. Arguments: n = 0, d = 0, non-finite values are GMM_EINVAL.
**   5. Memory: an allocator that fails the i-th request, for every i until
**      the build succeeds: GMM_ENOMEM, nothing left allocated, a message.
**   6. Determinism: the same rows give the same tree.
**
** Build and run from the repository root:
**   gcc -std=c11 -O2 -g -Wall -Wextra -Iext/core -o build/test_hc tests/test_hc.c \
**       ext/core/[a-z]*.c -lcmocka -lm -lpthread
**   ./build/test_hc
** (every .c file of ext/core; the Makefile links the core's objects).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ext/core/gmm_hc.h"
#include "oracle/hc_fixtures.h"

/* ------------------------------------------------------------------------
** Helpers.
*/

/* A counting allocator over malloc/free that refuses request number
** fail_at (1-based; 0: never). */
typedef struct counting {
  size_t requests, live, fail_at;
} counting;

static void *counting_alloc(void *ctx, size_t n) {
  counting *c = ctx;
  c->requests++;
  if (c->fail_at && c->requests == c->fail_at) return NULL;
  void *p = malloc(n);
  if (p) c->live++;
  return p;
}

static void counting_release(void *ctx, void *p) {
  counting *c = ctx;
  if (!p) return;
  assert_true(c->live > 0);
  c->live--;
  free(p);
}

static gmm_hc_tree *build_ok(const double *x, size_t n, int d) {
  gmm_hc_tree *t = NULL;
  char err[256] = "";
  gmm_status rc = gmm_hc_build(x, n, d, &gmm_libc_allocator, &t, err, sizeof err);
  if (rc != GMM_OK) fail_msg("gmm_hc_build failed (%d): %s", (int)rc, err);
  assert_non_null(t);
  assert_int_equal(gmm_hc_rows(t), n);
  return t;
}

/* The two trees merge the same pairs in the same order. */
static void assert_same_tree(const gmm_hc_tree *a, const gmm_hc_tree *b) {
  size_t n = gmm_hc_rows(a);
  assert_int_equal(gmm_hc_rows(b), n);
  for (size_t s = 0; s + 1 < n; s++) {
    int a0, a1, b0, b1;
    gmm_hc_merge(a, s, &a0, &a1);
    gmm_hc_merge(b, s, &b0, &b1);
    if (a0 != b0 || a1 != b1)
      fail_msg("merge %zu differs: (%d, %d) vs (%d, %d)", s, a0, a1, b0, b1);
  }
}

/* Every cut of t is a partition of the rows into exactly k groups,
** numbered 0, 1, ... by first row, and the cut at k refines the cut at
** k - 1; every merge joins two distinct groups' first rows. */
static void assert_valid_tree(const gmm_hc_tree *t) {
  size_t n = gmm_hc_rows(t);
  int *cur = malloc(n * sizeof *cur), *prev = malloc(n * sizeof *prev);
  int *map = malloc(n * sizeof *map);
  assert_non_null(cur);
  assert_non_null(prev);
  assert_non_null(map);
  for (size_t s = 0; s + 1 < n; s++) {
    int a, b;
    gmm_hc_merge(t, s, &a, &b);
    assert_true(0 <= a && a < b && (size_t)b < n);
  }
  for (int k = 1; (size_t)k <= n; k++) {
    gmm_hc_cut(t, k, cur);
    int next = 0;
    for (size_t i = 0; i < n; i++) {
      if (cur[i] < 0 || cur[i] >= k) fail_msg("k = %d: row %zu has label %d", k, i, cur[i]);
      if (cur[i] == next)
        next++;
      else if (cur[i] > next)
        fail_msg("k = %d: label %d first appears after %d labels", k, cur[i], next);
    }
    if (next != k) fail_msg("k = %d: %d labels used", k, next);
    if (k > 1) {
      /* Each group of the cut at k lies inside one group of the cut at k - 1. */
      for (int g = 0; g < k; g++) map[g] = -1;
      for (size_t i = 0; i < n; i++) {
        if (map[cur[i]] < 0) map[cur[i]] = prev[i];
        if (map[cur[i]] != prev[i]) fail_msg("k = %d does not refine k = %d at row %zu", k, k - 1, i);
      }
    }
    memcpy(prev, cur, n * sizeof *cur);
  }
  free(map);
  free(prev);
  free(cur);
}

static void assert_matches_fixture(const gmm_hc_tree *t, const hc_fixture *f) {
  size_t n = (size_t)f->n;
  assert_int_equal(gmm_hc_rows(t), n);
  for (size_t s = 0; s + 1 < n; s++) {
    int a, b;
    gmm_hc_merge(t, s, &a, &b);
    if (a + 1 != f->pairs[2 * s] || b + 1 != f->pairs[2 * s + 1])
      fail_msg("%s: merge %zu is (%d, %d), mclust's (%d, %d)", f->name, s, a + 1, b + 1,
               f->pairs[2 * s], f->pairs[2 * s + 1]);
  }
  int *labels = malloc(n * sizeof *labels);
  assert_non_null(labels);
  for (int k = 1; k <= HC_FIXTURE_G; k++) {
    gmm_hc_cut(t, k, labels);
    for (size_t i = 0; i < n; i++)
      if (labels[i] + 1 != f->class[(size_t)(k - 1) * n + i])
        fail_msg("%s, k = %d: row %zu has class %d, hclass %d", f->name, k, i + 1, labels[i] + 1,
                 f->class[(size_t)(k - 1) * n + i]);
  }
  free(labels);
}

static const hc_fixture *fixture(const char *name) {
  for (size_t i = 0; i < sizeof hc_fixtures / sizeof hc_fixtures[0]; i++)
    if (strcmp(hc_fixtures[i].name, name) == 0) return &hc_fixtures[i];
  fail_msg("no fixture %s", name);
  return NULL;
}

/* x (n x d) with column c inserted at position at (d + 1 columns). */
static double *with_column(const double *x, size_t n, int d, int at, double (*c)(size_t)) {
  size_t dd = (size_t)d;
  double *y = malloc(n * (dd + 1) * sizeof *y);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0, o = 0; j <= dd; j++)
      y[i * (dd + 1) + j] = (int)j == at ? c(i) : x[i * dd + o++];
  return y;
}

static double constant_7(size_t i) {
  (void)i;
  return 7.25;
}

/* A small LCG for the synthetic rows, independent of the core's PRNG. */
static double lcg_uniform(uint64_t *s) {
  *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return ((double)(*s >> 11) + 0.5) * 0x1p-53;
}

/* n x d rows from three shifted blobs. */
static double *blobs(size_t n, int d, uint64_t seed) {
  double *x = malloc(n * (size_t)d * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      x[i * (size_t)d + (size_t)j] = lcg_uniform(&seed) + 2.0 * (double)((i + (size_t)j) % 3);
  return x;
}

/* ------------------------------------------------------------------------
** 1. The oracle.
*/

static void test_fixtures(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof hc_fixtures / sizeof hc_fixtures[0]; i++) {
    const hc_fixture *f = &hc_fixtures[i];
    gmm_hc_tree *t = build_ok(f->x, (size_t)f->n, f->d);
    assert_matches_fixture(t, f);
    assert_valid_tree(t);
    gmm_hc_free(t);
  }
}

/* iris rows 102 and 143 are equal: mclust merges them first. */
static void test_iris_repeated_row_first(void **state) {
  (void)state;
  const hc_fixture *f = fixture("iris");
  gmm_hc_tree *t = build_ok(f->x, (size_t)f->n, f->d);
  int a, b;
  gmm_hc_merge(t, 0, &a, &b);
  assert_int_equal(a, 101);
  assert_int_equal(b, 142);
  gmm_hc_free(t);
}

/* ------------------------------------------------------------------------
** 2. Exact invariances.
*/

/* A constant column, first, middle or last, is dropped: mclust's tree. */
static void test_constant_column_dropped(void **state) {
  (void)state;
  const hc_fixture *f = fixture("iris");
  for (int at = 0; at <= f->d; at += 2) {
    double *y = with_column(f->x, (size_t)f->n, f->d, at, constant_7);
    gmm_hc_tree *t = build_ok(y, (size_t)f->n, f->d + 1);
    assert_matches_fixture(t, f);
    gmm_hc_free(t);
    free(y);
  }
}

/* Columns scaled by 2^1000 and 2^-1000 (near the ends of the double range,
** where R's sum of squares would overflow or lose its digits) give the
** same tree. */
static void test_power_of_two_scaling(void **state) {
  (void)state;
  const hc_fixture *f = fixture("iris");
  size_t n = (size_t)f->n, d = (size_t)f->d;
  double *y = malloc(n * d * sizeof *y);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++)
      y[i * d + j] = ldexp(f->x[i * d + j], j == 0 ? 1000 : j == 1 ? -1000 : 0);
  gmm_hc_tree *t = build_ok(y, n, f->d);
  assert_matches_fixture(t, f);
  gmm_hc_free(t);
  free(y);
}

/* ------------------------------------------------------------------------
** 3. Degenerate data.
*/

static void test_one_row(void **state) {
  (void)state;
  double x[3] = {1.0, 2.0, 3.0};
  gmm_hc_tree *t = build_ok(x, 1, 3);
  int label = -1;
  gmm_hc_cut(t, 1, &label);
  assert_int_equal(label, 0);
  assert_valid_tree(t);
  gmm_hc_free(t);
}

static void test_two_rows(void **state) {
  (void)state;
  double x[6] = {1.0, 2.0, 3.0, 4.0, 0.5, -1.0};
  for (int d = 1; d <= 3; d++) {
    gmm_hc_tree *t = build_ok(x, 2, d);
    int a, b, l[2];
    gmm_hc_merge(t, 0, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    gmm_hc_cut(t, 1, l);
    assert_int_equal(l[0], 0);
    assert_int_equal(l[1], 0);
    gmm_hc_cut(t, 2, l);
    assert_int_equal(l[0], 0);
    assert_int_equal(l[1], 1);
    gmm_hc_free(t);
  }
  /* Two equal rows. */
  double same[4] = {1.0, 2.0, 1.0, 2.0};
  gmm_hc_tree *t = build_ok(same, 2, 2);
  assert_valid_tree(t);
  gmm_hc_free(t);
}

/* d = 1: the eruption durations of Old Faithful. */
static void test_one_feature(void **state) {
  (void)state;
  const hc_fixture *f = fixture("faithful");
  size_t n = (size_t)f->n;
  double *x = malloc(n * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = f->x[2 * i];
  gmm_hc_tree *t = build_ok(x, n, 1);
  assert_valid_tree(t);
  gmm_hc_free(t);
  free(x);
}

/* All rows equal (every column constant): one zero coordinate, every merge
** costs the same, ties decide. */
static void test_all_rows_equal(void **state) {
  (void)state;
  size_t n = 40;
  double *x = malloc(n * 3 * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) {
    x[3 * i] = 1.5;
    x[3 * i + 1] = -2.0;
    x[3 * i + 2] = 1e300;
  }
  gmm_hc_tree *t = build_ok(x, n, 3);
  assert_valid_tree(t);
  gmm_hc_free(t);
  free(x);
}

/* Every row three times, and rows of few distinct values (mclust's trees
** on such rows, where ties decide, are in the fixtures: repeated, grid). */
static void test_repeated_rows(void **state) {
  (void)state;
  size_t m = 30, n = 3 * m;
  double *base = blobs(m, 3, 11), *x = malloc(n * 3 * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) memcpy(x + 3 * i, base + 3 * (i % m), 3 * sizeof *x);
  gmm_hc_tree *t = build_ok(x, n, 3);
  assert_valid_tree(t);
  /* The first merge joins two equal rows (2 log 1/2, the least cost of two
  ** singletons): the last such pair in mclust's order, rows 60 and 90. */
  int a, b;
  gmm_hc_merge(t, 0, &a, &b);
  assert_int_equal(a, 29 + 30);
  assert_int_equal(b, 29 + 60);
  gmm_hc_free(t);
  for (size_t i = 0; i < n * 3; i++) x[i] = (double)((i * 7 + i / 5) % 3);
  t = build_ok(x, n, 3);
  assert_valid_tree(t);
  gmm_hc_free(t);
  free(x);
  free(base);
}

/* Rank-deficient rows: x3 = x1 + x2, and x4 = 2 x1 exactly. */
static void test_rank_deficient(void **state) {
  (void)state;
  size_t n = 60;
  double *b = blobs(n, 2, 5), *x = malloc(n * 4 * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) {
    x[4 * i] = b[2 * i];
    x[4 * i + 1] = b[2 * i + 1];
    x[4 * i + 2] = b[2 * i] + b[2 * i + 1];
    x[4 * i + 3] = 2.0 * b[2 * i];
  }
  gmm_hc_tree *t = build_ok(x, n, 4);
  assert_valid_tree(t);
  gmm_hc_free(t);
  free(x);
  free(b);
}

/* Fewer rows than features, and n = d + 1. */
static void test_fewer_rows_than_features(void **state) {
  (void)state;
  for (size_t n = 3; n <= 11; n += 8) {
    double *x = blobs(n, 10, 17 + n);
    gmm_hc_tree *t = build_ok(x, n, 10);
    assert_valid_tree(t);
    gmm_hc_free(t);
    free(x);
  }
}

/* Values near the ends of the range, not powers of two apart. */
static void test_extreme_values(void **state) {
  (void)state;
  size_t n = 50;
  double *x = blobs(n, 3, 23);
  for (size_t i = 0; i < n; i++) {
    x[3 * i] *= 1.7e307 * (i % 2 ? 1.0 : -1.0);
    x[3 * i + 1] *= 3e-308;
    x[3 * i + 2] = i % 2 ? 4.9e-324 : 0.0;
  }
  gmm_hc_tree *t = build_ok(x, n, 3);
  assert_valid_tree(t);
  gmm_hc_free(t);
  free(x);
}

/* k outside 1 .. n is clamped. */
static void test_cut_clamps_k(void **state) {
  (void)state;
  double *x = blobs(12, 2, 3);
  gmm_hc_tree *t = build_ok(x, 12, 2);
  int l[12], m[12];
  gmm_hc_cut(t, 0, l);
  gmm_hc_cut(t, 1, m);
  assert_memory_equal(l, m, sizeof l);
  gmm_hc_cut(t, 99, l);
  gmm_hc_cut(t, 12, m);
  assert_memory_equal(l, m, sizeof l);
  for (int i = 0; i < 12; i++) assert_int_equal(m[i], i);
  gmm_hc_free(t);
  free(x);
}

/* ------------------------------------------------------------------------
** 4. Arguments.
*/

static void test_bad_arguments(void **state) {
  (void)state;
  double x[4] = {1.0, 2.0, 3.0, 4.0};
  gmm_hc_tree *t = (gmm_hc_tree *)x;
  char err[256];
  assert_int_equal(gmm_hc_build(x, 0, 2, &gmm_libc_allocator, &t, err, sizeof err), GMM_EINVAL);
  assert_null(t);
  assert_true(strlen(err) > 0);
  assert_int_equal(gmm_hc_build(x, 2, 0, &gmm_libc_allocator, &t, err, sizeof err), GMM_EINVAL);
  assert_null(t);
  x[3] = NAN;
  assert_int_equal(gmm_hc_build(x, 2, 2, &gmm_libc_allocator, &t, err, sizeof err), GMM_EINVAL);
  assert_null(t);
  assert_non_null(strstr(err, "row 1"));
  x[3] = INFINITY;
  assert_int_equal(gmm_hc_build(x, 2, 2, &gmm_libc_allocator, &t, NULL, 0), GMM_EINVAL);
  gmm_hc_free(NULL);
}

/* ------------------------------------------------------------------------
** 5. Memory.
*/

static void fail_every_allocation(const double *x, size_t n, int d) {
  for (size_t at = 1;; at++) {
    counting c = {0, 0, at};
    gmm_allocator a = {counting_alloc, counting_release, &c};
    gmm_hc_tree *t = (gmm_hc_tree *)&c;
    char err[256] = "";
    gmm_status rc = gmm_hc_build(x, n, d, &a, &t, err, sizeof err);
    if (c.requests < at) { /* nothing refused: the build is complete */
      assert_int_equal(rc, GMM_OK);
      assert_non_null(t);
      gmm_hc_free(t);
      assert_int_equal(c.live, 0);
      assert_true(at > 1);
      return;
    }
    if (rc != GMM_ENOMEM) fail_msg("allocation %zu refused: status %d (%s)", at, (int)rc, err);
    assert_null(t);
    assert_true(strlen(err) > 0);
    if (c.live != 0) fail_msg("allocation %zu refused: %zu blocks left", at, c.live);
  }
}

static void test_allocation_failures(void **state) {
  (void)state;
  const hc_fixture *f = fixture("iris");
  fail_every_allocation(f->x, (size_t)f->n, f->d);
  double one[2] = {1.0, 2.0};
  fail_every_allocation(one, 1, 2);
  double flat[12] = {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}; /* no column left */
  fail_every_allocation(flat, 6, 2);
}

/* ------------------------------------------------------------------------
** 6. Determinism.
*/

static void test_deterministic(void **state) {
  (void)state;
  double *x = blobs(300, 4, 99);
  gmm_hc_tree *a = build_ok(x, 300, 4), *b = build_ok(x, 300, 4);
  assert_same_tree(a, b);
  int la[300], lb[300];
  for (int k = 1; k <= 300; k += 37) {
    gmm_hc_cut(a, k, la);
    gmm_hc_cut(b, k, lb);
    assert_memory_equal(la, lb, sizeof la);
  }
  gmm_hc_free(a);
  gmm_hc_free(b);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_iris_repeated_row_first),
      cmocka_unit_test(test_constant_column_dropped),
      cmocka_unit_test(test_power_of_two_scaling),
      cmocka_unit_test(test_one_row),
      cmocka_unit_test(test_two_rows),
      cmocka_unit_test(test_one_feature),
      cmocka_unit_test(test_all_rows_equal),
      cmocka_unit_test(test_repeated_rows),
      cmocka_unit_test(test_rank_deficient),
      cmocka_unit_test(test_fewer_rows_than_features),
      cmocka_unit_test(test_extreme_values),
      cmocka_unit_test(test_cut_clamps_k),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
