/*
** test_vtab.c -- cmocka tests of the table-valued functions gmm_components
** and gmm_sample, through SQL.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL, the way a user does. Each test's comment cites the numbered
** requirements it checks, as the sources state them:
**
**   vtab (N)     ext/sqlite/gmm_vtab.c     gmm_components, gmm_sample
**   sample (N)   ext/core/gmm_sample.c     the sampler
**   apply (N)    ext/sqlite/gmm_apply.c    gmm_info
**   DESIGN §N    /work/shared/DESIGN.md
**
** Models come two ways: fitted through SQL (gmm_fit), and written by the
** test's own encoder of the format-version-2 BLOB (gmm_blob.c's table), so
** that the parameters are known exactly and the sampling checks do not
** depend on the fit. Error texts are asserted whole; after every expected
** error the test checks that the connection still answers a simple query.
*/
#include <sqlite3.h>

/* open_db (tests/sql_harness.h) calls this on every connection it opens. */
static void profile_if_asked(sqlite3 *db);
#define SQL_HARNESS_ON_OPEN(db) profile_if_asked(db)
#include "sql_harness.h"

/* ------------------------------------------------------------------------
** Profiling (the harness is tests/sql_harness.h).
*/

/* With TEST_VTAB_PROFILE set, statements slower than 50 ms are printed. */
static int profile_statement(unsigned type, void *ctx, void *p, void *x) {
  (void)type;
  (void)ctx;
  sqlite3_int64 ns = *(sqlite3_int64 *)x;
  if (ns > 50000000) fprintf(stderr, "%8.3f s  %s\n", (double)ns / 1e9, sqlite3_sql(p));
  return 0;
}

static void profile_if_asked(sqlite3 *db) {
  if (getenv("TEST_VTAB_PROFILE"))
    sqlite3_trace_v2(db, SQLITE_TRACE_PROFILE, profile_statement, NULL);
}

/* The details of EXPLAIN QUERY PLAN sql, joined by "; " (malloc'd). */
static char *query_plan(sqlite3 *db, const void *blob, int n_blob, const char *sql) {
  sqlite3_stmt *stmt = prepare(db, blob, n_blob, "EXPLAIN QUERY PLAN %s", sql);
  size_t len = 0;
  char *plan = calloc(1, 1);
  assert_non_null(plan);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const char *detail = (const char *)sqlite3_column_text(stmt, 3);
    size_t add = strlen(detail ? detail : "") + 2;
    plan = realloc(plan, len + add + 1);
    assert_non_null(plan);
    snprintf(plan + len, add + 1, "%s; ", detail ? detail : "");
    len += add;
  }
  sqlite3_finalize(stmt);
  return plan;
}

/* ------------------------------------------------------------------------
** Models written by the test's own encoder of format version 2 (the table
** in gmm_blob.c), with parameters known exactly.
*/
enum { FULL = 0, TIED = 1, DIAG = 2, SPHERICAL = 3 };
static const char *const TYPE_NAMES[] = {"full", "tied", "diag", "spherical"};

typedef struct crafted {
  int k, d, type;
  const double *weights; /* k */
  const double *means;   /* k x d */
  const double *cov;     /* scikit-learn's shape: full k x d x d, tied d x d, diag k x d,
                            spherical k */
} crafted;

/* Doubles stored for the covariances. */
static size_t stored_cov(const crafted *c) {
  size_t k = (size_t)c->k, d = (size_t)c->d;
  switch (c->type) {
    case FULL: return k * d * (d + 1) / 2;
    case TIED: return d * (d + 1) / 2;
    case DIAG: return k * d;
    default: return k;
  }
}

/* The BLOB of c (malloc'd), its size in *n. */
static unsigned char *craft_blob(const crafted *c, int *n) {
  size_t k = (size_t)c->k, d = (size_t)c->d;
  size_t size = 104 + 8 * (k + k * d + stored_cov(c)) + 8;
  unsigned char *out = calloc(1, size);
  assert_non_null(out);
  memcpy(out, "GMMb", 4);
  put_le(out + 4, 2, 4); /* format version */
  put_le(out + 8, k, 4);
  put_le(out + 12, d, 4);
  put_le(out + 16, (uint64_t)c->type, 4);
  put_le(out + 20, 0, 4);   /* init kmeans */
  put_le(out + 24, 100, 4); /* max_iter */
  put_le(out + 28, 1, 4);   /* n_init */
  put_double(out + 32, 1e-3);
  put_double(out + 40, 1e-6);
  put_le(out + 48, 0, 8);        /* seed */
  put_double(out + 56, 1000.0);  /* n_samples */
  put_le(out + 64, 0, 8);        /* n_skipped */
  put_double(out + 72, -2500.0); /* log_likelihood */
  put_le(out + 80, 5, 4);        /* n_iter */
  put_le(out + 84, 1, 4);        /* flags: converged */
  /* best_init, n_empty, n_candidates, reserved: 0 */
  unsigned char *p = out + 104;
  for (size_t j = 0; j < k; j++, p += 8) put_double(p, c->weights[j]);
  for (size_t i = 0; i < k * d; i++, p += 8) put_double(p, c->means[i]);
  if (c->type == FULL || c->type == TIED) {
    size_t n_mats = c->type == FULL ? k : 1;
    for (size_t j = 0; j < n_mats; j++)
      for (size_t r = 0; r < d; r++)
        for (size_t q = 0; q <= r; q++, p += 8) put_double(p, c->cov[(j * d + r) * d + q]);
  } else {
    for (size_t i = 0; i < stored_cov(c); i++, p += 8) put_double(p, c->cov[i]);
  }
  put_le(p, fnv1a(out, (size_t)(p - out)), 8);
  assert_int_equal((size_t)(p + 8 - out), size);
  *n = (int)size;
  return out;
}

/* Covariance (r, q) of component j. */
static double crafted_cov(const crafted *c, int j, int r, int q) {
  int d = c->d;
  switch (c->type) {
    case FULL: return c->cov[(j * d + r) * d + q];
    case TIED: return c->cov[r * d + q];
    case DIAG: return r == q ? c->cov[j * d + r] : 0.0;
    default: return r == q ? c->cov[j] : 0.0;
  }
}

/* Two 2-D components with distinct shapes for each type. Numbers that print
** short, so the expected JSON can be written out. */
static const double W2[] = {0.25, 0.75};
static const double MU2[] = {-3.5, 2.0, 4.0, -1.25};
static const double FULL_COV[] = {2.0, 0.75, 0.75, 1.0, 0.5, -0.25, -0.25, 3.0};
static const double TIED_COV[] = {1.5, -0.5, -0.5, 0.75};
static const double DIAG_COV[] = {0.5, 2.5, 1.25, 0.25};
static const double SPH_COV[] = {0.5, 2.0};

static const crafted MODELS[4] = {
    {2, 2, FULL, W2, MU2, FULL_COV},
    {2, 2, TIED, W2, MU2, TIED_COV},
    {2, 2, DIAG, W2, MU2, DIAG_COV},
    {2, 2, SPHERICAL, W2, MU2, SPH_COV},
};

/* ------------------------------------------------------------------------
** Fitted models.
*/

/* Table pts(x, y): 400 rows of two separated, differently shaped clusters. */
static void make_points(sqlite3 *db, uint64_t seed) {
  exec_sql(db, "CREATE TABLE pts(id INTEGER PRIMARY KEY, x REAL, y REAL)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO pts(x, y) VALUES (?1, ?2)");
  rng r = {seed};
  for (int i = 0; i < 400; i++) {
    double a = rng_normal(&r), b = rng_normal(&r);
    if (i % 3 == 0) {
      sqlite3_bind_double(ins, 1, 8.0 + 0.5 * a);
      sqlite3_bind_double(ins, 2, 1.0 + 2.0 * b + 0.3 * a);
    } else {
      sqlite3_bind_double(ins, 1, -1.0 + 1.5 * a);
      sqlite3_bind_double(ins, 2, 0.5 * b);
    }
    insert_row(ins);
  }
  end_insert(db, ins);
}

/* A connection with pts and models(type, model): one k = 2 fit per
** covariance type in types. */
static sqlite3 *open_with_models(const int *types, int n_types) {
  sqlite3 *db = open_db();
  make_points(db, 42);
  exec_sql(db, "CREATE TABLE models(type TEXT PRIMARY KEY, model BLOB)");
  for (int t = 0; t < n_types; t++)
    exec_sql(db,
             "INSERT INTO models SELECT '%s', "
             "gmm_fit('{\"k\":2,\"covariance_type\":\"%s\"}', x, y) FROM pts",
             TYPE_NAMES[types[t]], TYPE_NAMES[types[t]]);
  return db;
}

static unsigned char *model_of(sqlite3 *db, int type, int *n) {
  return sql_blob(db, n, "SELECT model FROM models WHERE type = '%s'", TYPE_NAMES[type]);
}

/* ========================================================================
** gmm_components.
*/

/* The gmm_info path of component j's covariance in scikit-learn's shapes
** (full k x d x d, tied d x d, diag k x d, spherical k). */
static char *info_cov_path(int type, int j) {
  return type == TIED ? format("$.covariances") : format("$.covariances[%d]", j);
}

/* vtab (1), apply (4): a model's rows equal gmm_info's weights, means and
** covariances exactly, as text and number by number, with the shapes of
** its covariance type. */
static void check_components_match_info(sqlite3 *db, const unsigned char *blob, int n, int type) {
  int k = (int)sql_int_b(db, blob, n, "SELECT json_extract(gmm_info(?1), '$.k')");
  int d = (int)sql_int_b(db, blob, n, "SELECT json_extract(gmm_info(?1), '$.d')");
  assert_sql_text_b(db, blob, n, TYPE_NAMES[type],
                    "SELECT json_extract(gmm_info(?1), '$.covariance_type')");
  assert_sql_int_b(db, blob, n, k, "SELECT count(*) FROM gmm_components(?1)");
  /* Rows in component order, 0 .. k-1, with the column types promised. */
  sqlite3_stmt *stmt = prepare(db, blob, n,
                               "SELECT component, weight, mean, covariance, "
                               "json_array_length(mean), json_type(covariance) "
                               "FROM gmm_components(?1)");
  for (int j = 0; j < k; j++) {
    step_row(db, stmt);
    assert_int_equal(sqlite3_column_type(stmt, 0), SQLITE_INTEGER);
    assert_int_equal(sqlite3_column_int(stmt, 0), j);
    assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_FLOAT);
    assert_int_equal(sqlite3_column_type(stmt, 2), SQLITE_TEXT);
    assert_int_equal(sqlite3_column_type(stmt, 3), SQLITE_TEXT);
    assert_int_equal(sqlite3_column_int(stmt, 4), d);
    const char *want = type == SPHERICAL ? "real" : "array";
    const char *got = (const char *)sqlite3_column_text(stmt, 5);
    if (strcmp(got, want) != 0 && !(type == SPHERICAL && strcmp(got, "integer") == 0))
      fail_msg("%s covariance of component %d is a JSON %s", TYPE_NAMES[type], j, got);
  }
  assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);

  /* Numbers in one row's covariance. */
  int leaves = type == SPHERICAL ? 1 : type == DIAG ? d : d * d;
  for (int j = 0; j < k; j++) {
    char *cov_path = info_cov_path(type, j);
    /* The same texts (both written by gmm_str_append_double). */
    assert_sql_int_b(db, blob, n, 1,
                     "SELECT c.weight = json_extract(i, '$.weights[%d]') "
                     "AND c.mean = json_extract(i, '$.means[%d]') "
                     "AND c.covariance = i -> '%s' "
                     "FROM gmm_components(?1) c, (SELECT gmm_info(?1) AS i) "
                     "WHERE c.component = %d",
                     j, j, cov_path, j);
    /* The same numbers, element by element: the leaves of each JSON value
    ** keyed by their path below its root. */
    assert_sql_int_b(db, blob, n, 0,
                     "WITH c AS (SELECT covariance AS cv, mean AS mu FROM gmm_components(?1) "
                     "           WHERE component = %d), "
                     "i AS (SELECT gmm_info(?1) AS i), "
                     "a AS (SELECT 'c' || substr(t.fullkey, 2) AS p, t.value AS v "
                     "      FROM c, json_tree(c.cv) t WHERE t.type IN ('integer', 'real') "
                     "      UNION ALL SELECT 'm' || substr(t.fullkey, 2), t.value "
                     "      FROM c, json_tree(c.mu) t WHERE t.type IN ('integer', 'real')), "
                     "b AS (SELECT 'c' || substr(t.fullkey, length('%s') + 1) AS p, t.value AS v "
                     "      FROM i, json_tree(i.i, '%s') t WHERE t.type IN ('integer', 'real') "
                     "      UNION ALL SELECT 'm' || substr(t.fullkey, length('$.means[%d]') + 1), "
                     "      t.value FROM i, json_tree(i.i, '$.means[%d]') t "
                     "      WHERE t.type IN ('integer', 'real')) "
                     "SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b)) "
                     "     + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a)) "
                     "     + abs((SELECT count(*) FROM a) - (SELECT count(*) FROM b)) "
                     "     + ((SELECT count(*) FROM a) != %d)",
                     j, cov_path, cov_path, j, j, d + leaves);
    free(cov_path);
  }
  /* Weights sum to 1, as gmm_info's. */
  assert_sql_int_b(db, blob, n, 1, "SELECT abs(sum(weight) - 1) < 1e-12 FROM gmm_components(?1)");
  if (type == TIED)
    assert_sql_int_b(db, blob, n, 1, "SELECT count(DISTINCT covariance) FROM gmm_components(?1)");
}

/* vtab (1): components of a fitted full-covariance model. */
static void test_components_fitted_full(void **state) {
  (void)state;
  static const int types[] = {FULL};
  sqlite3 *db = open_with_models(types, 1);
  int n = 0;
  unsigned char *blob = model_of(db, FULL, &n);
  check_components_match_info(db, blob, n, FULL);
  /* d x d, symmetric. */
  assert_sql_int_b(db, blob, n, 2,
                   "SELECT count(*) FROM gmm_components(?1) WHERE "
                   "json_array_length(covariance) = 2 AND "
                   "json_array_length(covariance, '$[0]') = 2 AND "
                   "json_array_length(covariance, '$[1]') = 2 AND "
                   "json_extract(covariance, '$[0][1]') = json_extract(covariance, '$[1][0]')");
  free(blob);
  close_db(db);
}

/* vtab (1): components of fitted tied, diag and spherical models. */
static void test_components_fitted_other_types(void **state) {
  (void)state;
  static const int types[] = {TIED, DIAG, SPHERICAL};
  sqlite3 *db = open_with_models(types, 3);
  for (int t = 0; t < 3; t++) {
    int n = 0;
    unsigned char *blob = model_of(db, types[t], &n);
    check_components_match_info(db, blob, n, types[t]);
    free(blob);
  }
  close_db(db);
}

/* vtab (1): known parameters of every covariance type give exactly these
** rows (the test's own BLOBs), and equal gmm_info's. */
static void test_components_crafted(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  static const char *const want[4][2] = {
      {"0|0.25|[-3.5,2]|[[2,0.75],[0.75,1]]", "1|0.75|[4,-1.25]|[[0.5,-0.25],[-0.25,3]]"},
      {"0|0.25|[-3.5,2]|[[1.5,-0.5],[-0.5,0.75]]", "1|0.75|[4,-1.25]|[[1.5,-0.5],[-0.5,0.75]]"},
      {"0|0.25|[-3.5,2]|[0.5,2.5]", "1|0.75|[4,-1.25]|[1.25,0.25]"},
      {"0|0.25|[-3.5,2]|0.5", "1|0.75|[4,-1.25]|2"},
  };
  for (int t = 0; t < 4; t++) {
    int n = 0;
    unsigned char *blob = craft_blob(&MODELS[t], &n);
    assert_sql_text_b(db, blob, n, want[t][0],
                      "SELECT component || '|' || weight || '|' || mean || '|' || covariance "
                      "FROM gmm_components(?1) WHERE component = 0");
    assert_sql_text_b(db, blob, n, want[t][1],
                      "SELECT component || '|' || weight || '|' || mean || '|' || covariance "
                      "FROM gmm_components(?1) WHERE component = 1");
    check_components_match_info(db, blob, n, MODELS[t].type);
    free(blob);
  }
  /* One component in one dimension. */
  static const double w1[] = {1.0}, mu1[] = {1e300}, var1[] = {1e-300};
  const crafted one = {1, 1, FULL, w1, mu1, var1};
  int n = 0;
  unsigned char *blob = craft_blob(&one, &n);
  assert_sql_text_b(db, blob, n, "0|1.0|[1e+300]|[[1e-300]]",
                    "SELECT component || '|' || weight || '|' || mean || '|' || covariance "
                    "FROM gmm_components(?1)");
  free(blob);
  close_db(db);
}

/* vtab (1), (8): the hidden column, the WHERE form of the argument, ORDER
** BY component at no cost, and a join that rescans the table once per model. */
static void test_components_forms(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE cm(name TEXT, model BLOB)");
  sqlite3_stmt *ins = prepare(db, NULL, 0, "INSERT INTO cm VALUES (?1, ?2)");
  for (int t = 0; t < 4; t++) {
    int n = 0;
    unsigned char *blob = craft_blob(&MODELS[t], &n);
    sqlite3_bind_text(ins, 1, TYPE_NAMES[t], -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 2, blob, n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
    free(blob);
  }
  sqlite3_finalize(ins);
  /* The hidden column holds the argument. */
  assert_sql_int(db, 2,
                 "SELECT count(*) FROM cm, gmm_components(cm.model) c "
                 "WHERE cm.name = 'diag' AND c.model = cm.model");
  /* The argument as a WHERE constraint. */
  assert_sql_int(db, 2,
                 "SELECT count(*) FROM gmm_components "
                 "WHERE model = (SELECT model FROM cm WHERE name = 'tied')");
  /* A join: one scan per model, each with its own covariances. */
  assert_sql_int(db, 8, "SELECT count(*) FROM cm, gmm_components(cm.model)");
  assert_sql_int(
      db, 1,
      "SELECT group_concat(name || ':' || component || ':' || json_type(covariance), ' ')"
      " = 'full:0:array full:1:array tied:0:array tied:1:array diag:0:array "
      "diag:1:array spherical:0:real spherical:1:integer' "
      "FROM (SELECT name, c.* FROM cm, gmm_components(cm.model) c ORDER BY cm.rowid)");
  /* The model from a later table in the FROM clause. */
  assert_sql_int(db, 8, "SELECT count(*) FROM gmm_components(cm.model) c, cm");
  /* ORDER BY component needs no sort. */
  char *plan = query_plan(
      db, NULL, 0, "SELECT * FROM gmm_components((SELECT model FROM cm)) ORDER BY component");
  if (strstr(plan, "TEMP B-TREE")) fail_msg("ORDER BY component sorts: %s", plan);
  free(plan);
  assert_sql_int(db, 1,
                 "SELECT group_concat(component) = '1,0' FROM (SELECT component FROM "
                 "gmm_components((SELECT model FROM cm)) ORDER BY component DESC)");
  close_db(db);
}

/* ========================================================================
** gmm_sample.
*/

/* vtab (2): n rows numbered 0 .. n-1, components in range, x of d numbers;
** the hidden columns hold the arguments. */
static void test_sample_shape(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[FULL], &n);
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) = 1000 AND min(sample) = 0 AND max(sample) = 999 "
                   "AND count(DISTINCT sample) = 1000 AND min(component) = 0 "
                   "AND max(component) = 1 AND sum(json_array_length(x) = 2) = 1000 "
                   "AND sum(typeof(sample) = 'integer' AND typeof(component) = 'integer' "
                   "        AND typeof(x) = 'text' AND json_valid(x)) = 1000 "
                   "FROM gmm_sample(?1, 1000)");
  /* Rows come in sample order. */
  assert_sql_int_b(db, blob, n, 0,
                   "SELECT count(*) FROM (SELECT sample, lag(sample) OVER () AS prev "
                   "FROM gmm_sample(?1, 300, 5)) WHERE sample != prev + 1");
  /* Hidden columns: model, n, seed (0 when not given). */
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) = 3 AND min(model = ?1) AND min(n = 3) AND min(seed = 0) "
                   "FROM gmm_sample(?1, 3)");
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) = 2 AND min(seed = 77) FROM gmm_sample(?1, 2, 77)");
  /* The WHERE form of the arguments. */
  assert_sql_int_b(db, blob, n, 4,
                   "SELECT count(*) FROM gmm_sample WHERE model = ?1 AND n = 4 AND seed = 9");
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT (SELECT group_concat(x, ';') FROM gmm_sample "
                   "        WHERE model = ?1 AND n = 4 AND seed = 9) = "
                   "       (SELECT group_concat(x, ';') FROM gmm_sample(?1, 4, 9))");
  /* n = 0: no rows. */
  assert_sql_int_b(db, blob, n, 0, "SELECT count(*) FROM gmm_sample(?1, 0)");
  assert_sql_int_b(db, blob, n, 0, "SELECT count(*) FROM gmm_sample(?1, 0, 12)");
  /* The largest n and the largest seed are accepted. */
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) FROM (SELECT * FROM gmm_sample(?1, 10000000, "
                   "9223372036854775807) LIMIT 1)");
  /* One dimension, one component. */
  static const double w1[] = {1.0}, mu1[] = {5.0}, var1[] = {4.0};
  const crafted one = {1, 1, SPHERICAL, w1, mu1, var1};
  int n1 = 0;
  unsigned char *b1 = craft_blob(&one, &n1);
  assert_sql_int_b(db, b1, n1, 1,
                   "SELECT count(*) = 50 AND max(component) = 0 AND "
                   "sum(json_array_length(x) = 1) = 50 FROM gmm_sample(?1, 50)");
  free(b1);
  /* ORDER BY sample needs no sort. */
  char *plan = query_plan(db, blob, n, "SELECT * FROM gmm_sample(?1, 10) ORDER BY sample");
  if (strstr(plan, "TEMP B-TREE")) fail_msg("ORDER BY sample sorts: %s", plan);
  free(plan);
  free(blob);
  close_db(db);
}

/* All rows of gmm_sample(?1, n, seed) (or without seed when seed < 0) as
** one text, rows separated by ';'. */
static char *sample_text(sqlite3 *db, const unsigned char *blob, int n_blob, int n,
                         sqlite3_int64 seed) {
  char *args = seed < 0 ? format("%d", n) : format("%d, %lld", n, (long long)seed);
  char *text = sql_text_b(db, blob, n_blob,
                          "SELECT group_concat(sample || ':' || component || ':' || x, ';') "
                          "FROM gmm_sample(?1, %s)",
                          args);
  free(args);
  return text;
}

/* vtab (2), sample (2): the same (model, n, seed) gives the same rows, in
** another statement and on another connection; the default seed is 0;
** another seed gives other rows; LIMIT m gives the first m rows. */
static void test_sample_determinism(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  sqlite3 *db2 = open_db();
  for (int t = 0; t < 4; t++) {
    int n = 0;
    unsigned char *blob = craft_blob(&MODELS[t], &n);
    char *a = sample_text(db, blob, n, 200, 7);
    char *b = sample_text(db, blob, n, 200, 7);
    char *c = sample_text(db2, blob, n, 200, 7);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    char *d0 = sample_text(db, blob, n, 200, 0), *dd = sample_text(db, blob, n, 200, -1);
    assert_string_equal(d0, dd);
    char *e = sample_text(db, blob, n, 200, 8);
    if (strcmp(a, e) == 0) fail_msg("%s: seeds 7 and 8 give the same rows", TYPE_NAMES[t]);
    if (strcmp(a, d0) == 0) fail_msg("%s: seeds 7 and 0 give the same rows", TYPE_NAMES[t]);
    /* Seeds differing in the high bits give different rows too. */
    char *hi = sample_text(db, blob, n, 200, INT64_C(7) | (INT64_C(1) << 62));
    if (strcmp(a, hi) == 0) fail_msg("%s: seed 7 and 7 + 2^62 give the same rows", TYPE_NAMES[t]);
    /* A prefix: the first 50 of 200 rows are the rows of n = 50, and the
    ** rows LIMIT 50 and WHERE sample < 50 read. */
    char *p = sample_text(db, blob, n, 50, 7);
    assert_int_equal(strncmp(a, p, strlen(p)), 0);
    assert_int_equal(a[strlen(p)], ';');
    assert_sql_int_b(db, blob, n, 1,
                     "SELECT (SELECT group_concat(sample || ':' || component || ':' || x, ';') "
                     "        FROM (SELECT * FROM gmm_sample(?1, 200, 7) LIMIT 50)) = "
                     "       (SELECT group_concat(sample || ':' || component || ':' || x, ';') "
                     "        FROM gmm_sample(?1, 50, 7))");
    assert_sql_int_b(db, blob, n, 1,
                     "SELECT (SELECT group_concat(sample || ':' || component || ':' || x, ';') "
                     "        FROM gmm_sample(?1, 10000000, 7) WHERE sample < 50) = "
                     "       (SELECT group_concat(sample || ':' || component || ':' || x, ';') "
                     "        FROM gmm_sample(?1, 50, 7))");
    /* Row 120 alone, by OFFSET. */
    assert_sql_int_b(db, blob, n, 1,
                     "SELECT (SELECT x FROM gmm_sample(?1, 200, 7) LIMIT 1 OFFSET 120) = "
                     "       (SELECT x FROM gmm_sample(?1, 121, 7) WHERE sample = 120)");
    free(a);
    free(b);
    free(c);
    free(d0);
    free(dd);
    free(e);
    free(hi);
    free(p);
    free(blob);
  }
  /* Two scans of one model in one statement, and a model per row of a
  ** join, each scan starting from its own seed. */
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[DIAG], &n);
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) = 20 AND sum(a.x = b.x) = 20 FROM gmm_sample(?1, 20, 3) a "
                   "JOIN gmm_sample(?1, 20, 3) b USING (sample)");
  exec_sql(db, "CREATE TABLE seeds(s INTEGER)");
  exec_sql(db, "INSERT INTO seeds VALUES (3), (4), (3)");
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) = 3 AND count(DISTINCT xs) = 2 FROM (SELECT s, "
                   "(SELECT group_concat(x, ';') FROM gmm_sample(?1, 5, seeds.s)) AS xs "
                   "FROM seeds)");
  assert_sql_int_b(db, blob, n, 15, "SELECT count(*) FROM seeds, gmm_sample(?1, 5, seeds.s)");
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT (SELECT group_concat(x, ';') FROM seeds, gmm_sample(?1, 2, seeds.s) "
                   "        WHERE seeds.rowid = 3) = "
                   "       (SELECT group_concat(x, ';') FROM gmm_sample(?1, 2, 3))");
  free(blob);
  close_db(db2);
  close_db(db);
}

/* vtab (9): upper bounds on sample end the scan early and change no row:
** each filter gives the rows it gives over the full, materialised sample. */
static void test_sample_row_bounds(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[TIED], &n);
  static const char *const filters[] = {
      "sample < 50",
      "sample <= 49",
      "sample = 49",
      "sample < 49.5",
      "sample <= 49.5",
      "sample = 49.0",
      "sample < 0",
      "sample <= 0",
      "sample < -3",
      "sample = -1",
      "sample < 1e30",
      "sample <= 199",
      "sample < 200",
      "sample < 1000",
      "sample < '50'",
      "sample < x'00'",
      "sample < NULL",
      "sample = 3.5",
      "50 > sample",
      "sample < 50 AND sample < 20",
      "sample < 20 AND sample < 50",
      "sample > 150",
      "sample BETWEEN 10 AND 20",
      "sample IN (3, 7)",
      "sample < 9223372036854775807",
      "sample <= 9223372036854775807",
  };
  for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
    assert_sql_int_b(
        db, blob, n, 1,
        "WITH every AS MATERIALIZED (SELECT * FROM gmm_sample(?1, 200, 7)) "
        "SELECT (SELECT count(*) || '|' || ifnull(group_concat(sample || ':' || x, ';'), '') "
        "        FROM gmm_sample(?1, 200, 7) WHERE %s) IS "
        "       (SELECT count(*) || '|' || ifnull(group_concat(sample || ':' || x, ';'), '') "
        "        FROM every WHERE %s)",
        filters[i], filters[i]);
  }
  /* Early end: ten rows of ten million, at once. */
  assert_sql_int_b(db, blob, n, 10,
                   "SELECT count(*) FROM gmm_sample(?1, 10000000) WHERE sample < 10");
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT count(*) FROM gmm_sample(?1, 10000000, 5) WHERE sample = 100");
  free(blob);
  close_db(db);
}

/* vtab (2), sample (1): with fixed seeds, the sample's per-component means
** are within 0.02 standard deviations of the model's, its covariances
** within 3% (of sqrt(var_r var_q), so that zero covariances have a scale),
** and the component frequencies within 0.01 of the weights; tolerances
** times loose for smaller samples. The moments are computed in SQL over the
** rows, x read once per row (MATERIALIZED: each read of the column builds
** its JSON text anew). */
static void check_convergence(sqlite3 *db, const crafted *m, int n_rows, uint64_t seed,
                              double loose) {
  int n = 0;
  unsigned char *blob = craft_blob(m, &n);
  assert_int_equal(m->d, 2);
  assert_int_equal(m->k, 2);
  char *sql = format(
      "WITH r AS MATERIALIZED (SELECT component AS j, x FROM gmm_sample(?1, %d, %llu)), "
      "s AS MATERIALIZED (SELECT j, json_extract(x, '$[0]') AS a, json_extract(x, '$[1]') AS b "
      "                   FROM r) "
      "SELECT count(*), "
      " sum(j = 0), avg(CASE j WHEN 0 THEN a END), avg(CASE j WHEN 0 THEN b END), "
      " avg(CASE j WHEN 0 THEN a * a END), avg(CASE j WHEN 0 THEN b * b END), "
      " avg(CASE j WHEN 0 THEN a * b END), "
      " sum(j = 1), avg(CASE j WHEN 1 THEN a END), avg(CASE j WHEN 1 THEN b END), "
      " avg(CASE j WHEN 1 THEN a * a END), avg(CASE j WHEN 1 THEN b * b END), "
      " avg(CASE j WHEN 1 THEN a * b END) FROM s",
      n_rows, (unsigned long long)seed);
  sqlite3_stmt *stmt = prepare(db, blob, n, "%s", sql);
  step_row(db, stmt);
  assert_int_equal(sqlite3_column_int(stmt, 0), n_rows);
  double used[3] = {0, 0, 0}; /* the largest fraction of each tolerance used */
  for (int j = 0; j < 2; j++) {
    int c = 1 + 6 * j;
    double count = sqlite3_column_double(stmt, c);
    double mean[2] = {sqlite3_column_double(stmt, c + 1), sqlite3_column_double(stmt, c + 2)};
    double second[3] = {sqlite3_column_double(stmt, c + 3), sqlite3_column_double(stmt, c + 4),
                        sqlite3_column_double(stmt, c + 5)};
    double freq = count / n_rows;
    used[0] = fmax(used[0], fabs(freq - m->weights[j]) / (0.01 * loose));
    if (fabs(freq - m->weights[j]) > 0.01 * loose)
      fail_msg("%s component %d: frequency %g, weight %g", TYPE_NAMES[m->type], j, freq,
               m->weights[j]);
    double cov[2][2] = {{second[0] - mean[0] * mean[0], second[2] - mean[0] * mean[1]},
                        {second[2] - mean[0] * mean[1], second[1] - mean[1] * mean[1]}};
    for (int r = 0; r < 2; r++) {
      double sd = sqrt(crafted_cov(m, j, r, r));
      double z = (mean[r] - m->means[j * 2 + r]) / sd;
      used[1] = fmax(used[1], fabs(z) / (0.02 * loose));
      if (fabs(z) > 0.02 * loose)
        fail_msg("%s component %d: mean[%d] = %.6g, model %.6g (%.4f sd)", TYPE_NAMES[m->type], j,
                 r, mean[r], m->means[j * 2 + r], z);
      for (int q = 0; q < 2; q++) {
        double want = crafted_cov(m, j, r, q);
        double scale = sqrt(crafted_cov(m, j, r, r) * crafted_cov(m, j, q, q));
        used[2] = fmax(used[2], fabs(cov[r][q] - want) / (0.03 * loose * scale));
        if (fabs(cov[r][q] - want) > 0.03 * loose * scale)
          fail_msg("%s component %d: covariance[%d][%d] = %.6g, model %.6g (scale %.4g)",
                   TYPE_NAMES[m->type], j, r, q, cov[r][q], want, scale);
      }
    }
  }
  if (getenv("TEST_VTAB_PROFILE"))
    fprintf(stderr, "%s: %.2f, %.2f, %.2f of the frequency, mean, covariance tolerances\n",
            TYPE_NAMES[m->type], used[0], used[1], used[2]);
  assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  free(sql);
  free(blob);
}

static void test_sample_convergence_full(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  check_convergence(db, &MODELS[FULL], 200000, 1, 1.0);
  close_db(db);
}

static void test_sample_convergence_diag(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  check_convergence(db, &MODELS[DIAG], 200000, 2, 1.0);
  close_db(db);
}

static void test_sample_convergence_spherical(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  check_convergence(db, &MODELS[SPHERICAL], 200000, 3, 1.0);
  close_db(db);
}

/* Tied: the one matrix serves both components. A quarter of the sample
** and twice the tolerances (the sampler's path is full's with a fixed
** offset, so this checks the offset, not the arithmetic again). */
static void test_sample_convergence_tied(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  check_convergence(db, &MODELS[TIED], 50000, 4, 2.0);
  close_db(db);
}

/* vtab (2), sample (1): a fitted model's samples look like it (a coarse
** check that fitted BLOBs, not only crafted ones, sample as specified). */
static void test_sample_fitted(void **state) {
  (void)state;
  static const int types[] = {FULL};
  sqlite3 *db = open_with_models(types, 1);
  int n = 0;
  unsigned char *blob = model_of(db, FULL, &n);
  /* The sample's overall mean is near the model's mixture mean. */
  assert_sql_int_b(db, blob, n, 1,
                   "WITH c AS (SELECT sum(weight * json_extract(mean, '$[0]')) AS m0, "
                   "                  sum(weight * json_extract(mean, '$[1]')) AS m1 "
                   "           FROM gmm_components(?1)), "
                   "s AS (SELECT avg(json_extract(x, '$[0]')) AS a, "
                   "             avg(json_extract(x, '$[1]')) AS b FROM gmm_sample(?1, 20000, 11)) "
                   "SELECT abs(a - m0) < 0.1 AND abs(b - m1) < 0.1 FROM c, s");
  free(blob);
  close_db(db);
}

/* ========================================================================
** Both.
*/

/* vtab (4): a NULL model gives no rows, however it comes. */
static void test_null_model(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_components(NULL)");
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_sample(NULL, 10)");
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_sample(NULL, 10, 3)");
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_components((SELECT 1 WHERE 0))");
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_sample((SELECT x'00' WHERE 0), 10)");
  exec_sql(db, "CREATE TABLE t(model BLOB); INSERT INTO t VALUES (NULL), (NULL)");
  assert_sql_int(db, 0, "SELECT count(*) FROM t, gmm_components(t.model)");
  assert_sql_int(db, 0, "SELECT count(*) FROM t, gmm_sample(t.model, 5)");
  /* A bound NULL. */
  sqlite3_stmt *stmt = prepare(db, NULL, 0, "SELECT count(*) FROM gmm_sample(?1, 5)");
  sqlite3_bind_null(stmt, 1);
  step_row(db, stmt);
  assert_int_equal(sqlite3_column_int(stmt, 0), 0);
  sqlite3_finalize(stmt);
  /* The other arguments are still checked. */
  assert_sql_error(db,
                   "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                   "provided -1",
                   "SELECT * FROM gmm_sample(NULL, -1)");
  close_db(db);
}

/* vtab (5): every error, its text whole; the connection works after each. */
static void test_errors(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[FULL], &n);

  /* Missing arguments. */
  const char *usage = "gmm_sample: expected gmm_sample(model, n [, seed])";
  assert_sql_error(db, usage, "SELECT * FROM gmm_sample");
  assert_sql_error(db, usage, "SELECT * FROM gmm_sample()");
  assert_sql_error_b(db, blob, n, usage, "SELECT * FROM gmm_sample(?1)");
  assert_sql_error(db, usage, "SELECT * FROM gmm_sample WHERE n = 5");
  assert_sql_error_b(db, blob, n, usage, "SELECT * FROM gmm_sample WHERE model = ?1 AND n > 5");
  assert_sql_error_b(db, blob, n, usage, "SELECT * FROM gmm_sample WHERE model = ?1 AND seed = 5");
  const char *cusage = "gmm_components: expected gmm_components(model)";
  assert_sql_error(db, cusage, "SELECT * FROM gmm_components");
  assert_sql_error(db, cusage, "SELECT * FROM gmm_components()");
  assert_sql_error(db, cusage, "SELECT * FROM gmm_components WHERE component = 1");
  /* Too many arguments: SQLite's own message. */
  assert_sql_error_b(db, blob, n, "too many arguments on gmm_components() - max 1",
                     "SELECT * FROM gmm_components(?1, 2)");
  assert_sql_error_b(db, blob, n, "too many arguments on gmm_sample() - max 3",
                     "SELECT * FROM gmm_sample(?1, 2, 3, 4)");

  /* The model. */
  static const char *const fns[] = {"gmm_components", "gmm_sample"};
  static const char *const more[] = {"", ", 5"};
  for (int f = 0; f < 2; f++) {
    char *e =
        format("%s: argument 1 (model) must be a model BLOB from gmm_fit, provided TEXT", fns[f]);
    assert_sql_error(db, e, "SELECT * FROM %s('GMMb'%s)", fns[f], more[f]);
    assert_sql_error_b(db, blob, n, e, "SELECT * FROM %s(?1 || ''%s)", fns[f], more[f]);
    free(e);
    e = format("%s: argument 1 (model) must be a model BLOB from gmm_fit, provided an INTEGER",
               fns[f]);
    assert_sql_error(db, e, "SELECT * FROM %s(42%s)", fns[f], more[f]);
    free(e);
    e = format("%s: argument 1 (model) must be a model BLOB from gmm_fit, provided a REAL", fns[f]);
    assert_sql_error(db, e, "SELECT * FROM %s(4.5%s)", fns[f], more[f]);
    free(e);
    const char *prefix = "argument 1 (model) is not a valid gmm model:";
    e = format("%s: %s it is too short (0 bytes; the smallest model has 104)", fns[f], prefix);
    assert_sql_error(db, e, "SELECT * FROM %s(x''%s)", fns[f], more[f]);
    assert_sql_error(db, e, "SELECT * FROM %s(zeroblob(0)%s)", fns[f], more[f]);
    free(e);
    e = format("%s: %s it does not start with the gmm magic", fns[f], prefix);
    assert_sql_error(db, e, "SELECT * FROM %s(zeroblob(300)%s)", fns[f], more[f]);
    free(e);
    /* One flipped byte in the parameters: the checksum fails. */
    unsigned char *copy = malloc((size_t)n);
    assert_non_null(copy);
    memcpy(copy, blob, (size_t)n);
    copy[120] ^= 1;
    e = format("%s: %s the checksum does not match its contents", fns[f], prefix);
    assert_sql_error_b(db, copy, n, e, "SELECT * FROM %s(?1%s)", fns[f], more[f]);
    free(e);
    free(copy);
    /* The error comes when the scan starts, also from a join column. */
    exec_sql(db, "CREATE TABLE bad(model BLOB); INSERT INTO bad VALUES (x'01020304')");
    e = format("%s: %s it is too short (4 bytes; the smallest model has 104)", fns[f], prefix);
    assert_sql_error(db, e, "SELECT * FROM bad, %s(bad.model%s)", fns[f], more[f]);
    free(e);
    exec_sql(db, "DROP TABLE bad");
  }

  /* n. */
  static const struct {
    const char *arg, *shown;
  } bad_n[] = {
      {"-1", "-1"},
      {"10000001", "10000001"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"9223372036854775807", "9223372036854775807"},
      {"NULL", "NULL"},
      {"2.5", "2.5"},
      {"3.0", "3.0"},
      {"1e7", "10000000.0"},
      {"'5'", "TEXT '5'"},
      {"'five'", "TEXT 'five'"},
      {"x'05'", "a BLOB of 1 byte"},
      {"x'0506'", "a BLOB of 2 bytes"},
  };
  for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
    char *e =
        format("gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, provided %s",
               bad_n[i].shown);
    assert_sql_error_b(db, blob, n, e, "SELECT * FROM gmm_sample(?1, %s)", bad_n[i].arg);
    assert_sql_error_b(db, blob, n, e, "SELECT * FROM gmm_sample(?1, %s, 1)", bad_n[i].arg);
    free(e);
  }
  /* A long text is quoted up to 40 bytes. */
  assert_sql_error_b(db, blob, n,
                     "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                     "provided TEXT '0123456789012345678901234567890123456789...'",
                     "SELECT * FROM gmm_sample(?1, '0123456789012345678901234567890123456789x')");

  /* seed. */
  static const struct {
    const char *arg, *shown;
  } bad_seed[] = {
      {"-1", "-1"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"NULL", "NULL"},
      {"1.5", "1.5"},
      {"7.0", "7.0"},
      {"'7'", "TEXT '7'"},
      {"x'07'", "a BLOB of 1 byte"},
  };
  for (size_t i = 0; i < sizeof bad_seed / sizeof bad_seed[0]; i++) {
    char *e = format("gmm_sample: argument 3 (seed) must be an INTEGER >= 0, provided %s",
                     bad_seed[i].shown);
    assert_sql_error_b(db, blob, n, e, "SELECT * FROM gmm_sample(?1, 5, %s)", bad_seed[i].arg);
    free(e);
  }
  /* Arguments are checked in order: the first wrong one is reported. */
  assert_sql_error(
      db, "gmm_sample: argument 1 (model) must be a model BLOB from gmm_fit, provided TEXT",
      "SELECT * FROM gmm_sample('m', -1, -1)");
  assert_sql_error_b(db, blob, n,
                     "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                     "provided -1",
                     "SELECT * FROM gmm_sample(?1, -1, -1)");
  /* A wrong argument from a join column, on a later row. */
  exec_sql(db, "CREATE TABLE ns(n); INSERT INTO ns VALUES (1), (2), (-3)");
  assert_sql_error_b(db, blob, n,
                     "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                     "provided -3",
                     "SELECT * FROM ns, gmm_sample(?1, ns.n)");
  /* After all that, both tables still work. */
  assert_sql_int_b(db, blob, n, 2, "SELECT count(*) FROM gmm_components(?1)");
  assert_sql_int_b(db, blob, n, 5, "SELECT count(*) FROM gmm_sample(?1, 5)");
  free(blob);
  close_db(db);
}

/* vtab (3): the JSON columns carry the JSON subtype, so JSON functions
** embed them as JSON, not as strings. */
static void test_json_subtype(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[FULL], &n);
  assert_sql_text_b(db, blob, n, "array",
                    "SELECT json_type(json_object('x', x), '$.x') FROM gmm_sample(?1, 1)");
  assert_sql_text_b(db, blob, n, "array",
                    "SELECT json_type(json_array(mean, covariance), '$[1]') "
                    "FROM gmm_components(?1) WHERE component = 0");
  assert_sql_text_b(db, blob, n, "[[-3.5,2],[[2,0.75],[0.75,1]]]",
                    "SELECT json_array(mean, covariance) FROM gmm_components(?1) "
                    "WHERE component = 0");
  free(blob);
  close_db(db);
}

/* vtab (7): the tables are innocuous: a view over them works with
** trusted_schema off. */
static void test_innocuous(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[DIAG], &n);
  exec_sql(db, "CREATE TABLE m(model BLOB)");
  sqlite3_stmt *ins = prepare(db, blob, n, "INSERT INTO m VALUES (?1)");
  assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
  sqlite3_finalize(ins);
  exec_sql(db,
           "CREATE VIEW v AS SELECT c.component, s.sample FROM m, gmm_components(m.model) c, "
           "gmm_sample(m.model, 3) s");
  exec_sql(db, "PRAGMA trusted_schema = OFF");
  assert_sql_int(db, 6, "SELECT count(*) FROM v");
  free(blob);
  close_db(db);
}

/* vtab (6): sqlite3_memory_used() comes back to its value before the
** statements once they are finalized: scans that end, that fail, that are
** abandoned half way, that restart per row of a join; and after close. */
static void test_memory(void **state) {
  (void)state;
  sqlite3_int64 before_open = sqlite3_memory_used();
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[FULL], &n);
  exec_sql(db, "CREATE TABLE m(model BLOB); CREATE TABLE seeds(s)");
  exec_sql(db, "INSERT INTO seeds VALUES (1), (2), (3), (4)");
  sqlite3_stmt *ins = prepare(db, blob, n, "INSERT INTO m VALUES (?1)");
  assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
  sqlite3_finalize(ins);
  /* Warm up: the eponymous tables are connected once per connection. */
  assert_sql_int_b(db, blob, n, 2, "SELECT count(*) FROM gmm_components(?1)");
  assert_sql_int_b(db, blob, n, 2, "SELECT count(*) FROM gmm_sample(?1, 2)");
  sqlite3_int64 base = sqlite3_memory_used();
  assert_true(base > before_open);

  static const char *const whole[] = {
      "SELECT * FROM gmm_components(?1)",
      "SELECT * FROM gmm_sample(?1, 1000, 5)",
      "SELECT * FROM gmm_sample(NULL, 10)",
      "SELECT * FROM m, gmm_components(m.model)",
      "SELECT * FROM seeds, gmm_sample(?1, 100, seeds.s)",
      "SELECT * FROM seeds, gmm_sample((SELECT model FROM m), 9, s), gmm_components(?1)",
  };
  for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
    /* To the end. */
    sqlite3_stmt *stmt = prepare(db, blob, n, "%s", whole[i]);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); c++) (void)sqlite3_column_text(stmt, c);
    }
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(stmt);
    if (sqlite3_memory_used() != base)
      fail_msg("%lld bytes more after \"%s\"", sqlite3_memory_used() - base, whole[i]);
    /* Abandoned after 3 rows, then reset and abandoned after 1. */
    stmt = prepare(db, blob, n, "%s", whole[i]);
    for (int r = 0; r < 3 && sqlite3_step(stmt) == SQLITE_ROW; r++) {
    }
    sqlite3_reset(stmt);
    (void)sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (sqlite3_memory_used() != base)
      fail_msg("%lld bytes more after \"%s\" (abandoned)", sqlite3_memory_used() - base, whole[i]);
  }
  /* Failing scans (the error message itself is the connection's, freed on
  ** close: compare after close). */
  static const char *const failing[] = {
      "SELECT * FROM gmm_sample(?1, -1)",
      "SELECT * FROM gmm_sample(?1, 5, 'x')",
      "SELECT * FROM gmm_components(x'0102')",
      "SELECT * FROM gmm_sample",
      "SELECT * FROM seeds, gmm_sample(?1, 3 - seeds.s)",
      "SELECT * FROM seeds, gmm_sample(CASE WHEN s = 3 THEN x'00' ELSE ?1 END, 5)",
  };
  for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++) {
    result r;
    run_sql(db, blob, n, failing[i], &r);
    if (r.rc == SQLITE_OK) fail_msg("\"%s\" did not fail", failing[i]);
    result_clear(&r);
  }
  free(blob);
  close_db(db);
  assert_int_equal(sqlite3_memory_used(), before_open);
}

/* vtab (2), DESIGN §5: the largest sample streams without holding its rows
** (a count over 10^6 rows, no JSON built since x is not read). */
static void test_sample_streams(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[SPHERICAL], &n);
  sqlite3_int64 before = sqlite3_memory_used();
  sqlite3_stmt *stmt =
      prepare(db, blob, n, "SELECT count(*), sum(component) FROM gmm_sample(?1, 1000000, 9)");
  step_row(db, stmt);
  assert_int_equal(sqlite3_column_int(stmt, 0), 1000000);
  double ones = sqlite3_column_double(stmt, 1) / 1e6;
  assert_close(ones, 0.75, 0.01);
  sqlite3_finalize(stmt);
  assert_true(sqlite3_memory_used() - before < 100000);
  free(blob);
  close_db(db);
}

/* ------------------------------------------------------------------------
** Out of memory: SQLite's allocator wrapped so that the n-th allocation
** from now fails (once).
*/
static sqlite3_mem_methods default_mem;
static int fail_countdown; /* 0: off */
static int failed_once;

static void *failing_malloc(int n) {
  if (fail_countdown > 0 && --fail_countdown == 0) {
    failed_once = 1;
    return NULL;
  }
  return default_mem.xMalloc(n);
}

static void *failing_realloc(void *p, int n) {
  if (fail_countdown > 0 && --fail_countdown == 0) {
    failed_once = 1;
    return NULL;
  }
  return default_mem.xRealloc(p, n);
}

/* Every row of a statement as one text (malloc'd), or NULL with *rc set
** when it fails. */
static char *all_rows(sqlite3 *db, const void *blob, int n_blob, const char *sql, int *rc) {
  sqlite3_stmt *stmt = NULL;
  *rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (*rc != SQLITE_OK) return NULL;
  if (blob) *rc = sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_TRANSIENT);
  size_t len = 0;
  char *out = calloc(1, 1);
  assert_non_null(out);
  while (*rc == SQLITE_OK && (*rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); c++) {
      const char *v = (const char *)sqlite3_column_text(stmt, c);
      if (!v && sqlite3_column_type(stmt, c) != SQLITE_NULL) {
        *rc = sqlite3_errcode(db) == SQLITE_OK ? SQLITE_NOMEM : sqlite3_errcode(db);
        break;
      }
      size_t add = strlen(v ? v : "NULL") + 1;
      out = realloc(out, len + add + 1);
      assert_non_null(out);
      snprintf(out + len, add + 1, "%s|", v ? v : "NULL");
      len += add;
    }
    if (*rc == SQLITE_ROW) *rc = SQLITE_OK;
  }
  if (*rc == SQLITE_DONE) *rc = SQLITE_OK;
  sqlite3_finalize(stmt);
  if (*rc != SQLITE_OK) {
    free(out);
    return NULL;
  }
  return out;
}

/* vtab (5), (6), DESIGN §2 (check every allocation): each allocation of a
** statement over the tables fails in turn; every run ends with the right
** rows or with SQLITE_NOMEM (or, for a statement that fails anyway, its own
** error), never a crash; nothing leaks; the connection keeps working.
** Lookaside is off so that every allocation reaches the failing allocator
** (Debian's 3.40 is built without it; the amalgamation has it on, and would
** serve most of a statement's small allocations from it). */
static void test_out_of_memory(void **state) {
  (void)state;
  assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
  assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &default_mem), SQLITE_OK);
  sqlite3_mem_methods failing = default_mem;
  failing.xMalloc = failing_malloc;
  failing.xRealloc = failing_realloc;
  assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &failing), SQLITE_OK);
  assert_int_equal(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
  assert_int_equal(sqlite3_initialize(), SQLITE_OK);

  sqlite3_int64 before_open = sqlite3_memory_used();
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = craft_blob(&MODELS[FULL], &n);
  static const char *const stmts[] = {
      "SELECT * FROM gmm_components(?1)",
      "SELECT sample, component, x, n, seed FROM gmm_sample(?1, 20, 3)",
      "SELECT * FROM gmm_sample(?1, 10000000) WHERE sample < 3",
      "SELECT * FROM gmm_sample(?1, -1)",
      "SELECT * FROM gmm_components(x'0102')",
      "SELECT * FROM gmm_sample(NULL, 2)",
  };
  for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
    int rc_want;
    char *want = all_rows(db, blob, n, stmts[i], &rc_want);
    char *err_want = dup_text(sqlite3_errmsg(db), -1);
    int runs = 0;
    for (int k = 1;; k++, runs++) {
      failed_once = 0;
      fail_countdown = k;
      int rc;
      char *got = all_rows(db, blob, n, stmts[i], &rc);
      int injected = failed_once;
      fail_countdown = 0;
      if (rc == SQLITE_OK) {
        if (rc_want != SQLITE_OK)
          fail_msg("\"%s\" succeeded with allocation %d failing", stmts[i], k);
        assert_string_equal(got, want);
      } else if (rc != SQLITE_NOMEM) {
        if (rc != rc_want || strcmp(sqlite3_errmsg(db), err_want) != 0)
          fail_msg("\"%s\", allocation %d failing: error %d \"%s\"", stmts[i], k, rc,
                   sqlite3_errmsg(db));
      } else if (!injected) {
        fail_msg("\"%s\": SQLITE_NOMEM without a failed allocation", stmts[i]);
      }
      free(got);
      check_alive(__FILE__, __LINE__, db);
      if (!injected) break;
    }
    if (getenv("TEST_VTAB_PROFILE"))
      fprintf(stderr, "%d allocations failed in turn: %s\n", runs, stmts[i]);
    assert_true(runs > 3);
    free(want);
    free(err_want);
  }
  free(blob);
  close_db(db);
  assert_int_equal(sqlite3_memory_used(), before_open);

  assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
  assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &default_mem), SQLITE_OK);
  assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_components_fitted_full),
      cmocka_unit_test(test_components_fitted_other_types),
      cmocka_unit_test(test_components_crafted),
      cmocka_unit_test(test_components_forms),
      cmocka_unit_test(test_sample_shape),
      cmocka_unit_test(test_sample_determinism),
      cmocka_unit_test(test_sample_row_bounds),
      cmocka_unit_test(test_sample_convergence_full),
      cmocka_unit_test(test_sample_convergence_diag),
      cmocka_unit_test(test_sample_convergence_spherical),
      cmocka_unit_test(test_sample_convergence_tied),
      cmocka_unit_test(test_sample_fitted),
      cmocka_unit_test(test_null_model),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_json_subtype),
      cmocka_unit_test(test_innocuous),
      cmocka_unit_test(test_memory),
      cmocka_unit_test(test_sample_streams),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
