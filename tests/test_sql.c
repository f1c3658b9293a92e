/*
** test_sql.c -- cmocka tests of the gmm extension through SQL.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL, the way a user does. Each test's comment cites the numbered
** requirements it checks, as the sources state them:
**
**   ext (N)      ext/sqlite/gmm_ext.c      entry point, features, version
**   gmm_fit (N)  ext/sqlite/gmm_fit_sql.c  the aggregate
**   spec (N)     ext/sqlite/gmm_spec.c     gmm_fit's first argument
**   apply (N)    ext/sqlite/gmm_apply.c    predict, proba, score, info, ...
**   blob (N)     ext/core/gmm_blob.c       the model BLOB
**   DESIGN §N    /work/shared/DESIGN.md
**
** Error texts are asserted whole. After every expected error the test checks
** that the connection still answers a simple query.
**
** The data are generated here with a seeded PRNG of the test's own
** (splitmix64 + Box-Muller), so they depend on nothing under test.
*/
#include "sql_harness.h"

/* ------------------------------------------------------------------------
** Data.
*/

/* Table name(id INTEGER PRIMARY KEY, x REAL, y REAL, label INTEGER): n
** rows, each from component label (uniform over k) with the given 2-D
** means plus offset, and standard deviation sd on both axes. */
/* The covariance types the spec accepts, as its errors list them. */
#define COV_ONE_OF                                                                           \
  "one of 'full', 'tied', 'diag', 'spherical', 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', " \
  "'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV'"

static void make_points(sqlite3 *db, const char *name, int n, int k, const double *means, double sd,
                        double offset, uint64_t seed) {
  exec_sql(db, "CREATE TABLE %s(id INTEGER PRIMARY KEY, x REAL, y REAL, label INTEGER)", name);
  sqlite3_stmt *ins =
      begin_insert(db, "INSERT INTO %s(id, x, y, label) VALUES (?1, ?2, ?3, ?4)", name);
  rng r = {seed};
  for (int i = 0; i < n; i++) {
    int label = (int)(rng_u64(&r) % (uint64_t)k);
    sqlite3_bind_int(ins, 1, i + 1);
    sqlite3_bind_double(ins, 2, offset + means[2 * label] + sd * rng_normal(&r));
    sqlite3_bind_double(ins, 3, offset + means[2 * label + 1] + sd * rng_normal(&r));
    sqlite3_bind_int(ins, 4, label);
    insert_row(ins);
  }
  end_insert(db, ins);
}

/* Three well separated components (10 standard deviations apart). */
static const double SEPARATED[] = {0, 0, 10, 0, 0, 10};
/* Three overlapping ones. */
static const double OVERLAPPING[] = {0, 0, 1.5, 0, 0.7, 1.3};

/* The number of rows whose prediction matches the true label under the
** best permutation of the k labels (k <= 4). pairs holds label, pred. */
static int best_permutation_agreement(const int *pairs, int n, int k) {
  int confusion[4][4] = {{0}};
  for (int i = 0; i < n; i++) {
    assert_in_range(pairs[2 * i], 0, k - 1);
    assert_in_range(pairs[2 * i + 1], 0, k - 1);
    confusion[pairs[2 * i]][pairs[2 * i + 1]]++;
  }
  int perm[4] = {0, 1, 2, 3}, best = 0;
  /* Heap's algorithm would do; k <= 4 so try all k^k maps and keep the
  ** bijective ones. */
  int total = 1;
  for (int j = 0; j < k; j++) total *= k;
  for (int code = 0; code < total; code++) {
    int c = code, used = 0, ok = 1;
    for (int j = 0; j < k; j++) {
      perm[j] = c % k;
      c /= k;
      if (used & (1 << perm[j])) ok = 0;
      used |= 1 << perm[j];
    }
    if (!ok) continue;
    int agree = 0;
    for (int j = 0; j < k; j++) agree += confusion[j][perm[j]];
    if (agree > best) best = agree;
  }
  return best;
}

/* label and gmm_predict of every row of table (model bound to ?1). */
static int *fetch_pairs(sqlite3 *db, const char *sql, const void *blob, int n_blob, int *n) {
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  if (blob) sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_TRANSIENT);
  int cap = 1024, count = 0;
  int *pairs = malloc(sizeof(int) * 2 * (size_t)cap);
  assert_non_null(pairs);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (count == cap) {
      cap *= 2;
      pairs = realloc(pairs, sizeof(int) * 2 * (size_t)cap);
      assert_non_null(pairs);
    }
    pairs[2 * count] = sqlite3_column_int(stmt, 0);
    pairs[2 * count + 1] = sqlite3_column_int(stmt, 1);
    count++;
  }
  if (rc != SQLITE_DONE) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  *n = count;
  return pairs;
}

/* ------------------------------------------------------------------------
** A hand-written encoder of the format-version-1 BLOB (gmm_blob.c's table),
** independent of the extension, for models with known parameters.
*/
static size_t craft_size(int k, int d) {
  return 96 + 8 * (size_t)(k + k * d + k * d * (d + 1) / 2) + 8;
}

/* Writes a model of k components in d dimensions (covariances full, k x d
** x d) into out (craft_size bytes), with a valid checksum. */
static void craft_blob(unsigned char *out, int k, int d, const double *weights, const double *means,
                       const double *cov) {
  memset(out, 0, 96);
  memcpy(out, "GMMb", 4);
  put_le(out + 4, 1, 4); /* version */
  put_le(out + 8, (uint64_t)k, 4);
  put_le(out + 12, (uint64_t)d, 4);
  put_le(out + 16, 0, 4); /* full */
  put_le(out + 20, 0, 4); /* kmeans */
  put_le(out + 24, 100, 4);
  put_le(out + 28, 1, 4);
  put_double(out + 32, 1e-3);
  put_double(out + 40, 1e-6);
  put_le(out + 48, 0, 8);
  put_double(out + 56, 100.0); /* n_samples */
  put_le(out + 64, 0, 8);
  put_double(out + 72, -250.0); /* log_likelihood */
  put_le(out + 80, 5, 4);       /* n_iter */
  put_le(out + 84, 1, 4);       /* converged */
  put_le(out + 88, 0, 4);
  put_le(out + 92, 0, 4);
  unsigned char *p = out + 96;
  for (int j = 0; j < k; j++, p += 8) put_double(p, weights[j]);
  for (int i = 0; i < k * d; i++, p += 8) put_double(p, means[i]);
  for (int j = 0; j < k; j++)
    for (int r = 0; r < d; r++)
      for (int q = 0; q <= r; q++, p += 8) put_double(p, cov[(j * d + r) * d + q]);
  put_le(p, fnv1a(out, (size_t)(p - out)), 8);
}

/* Recomputes the checksum after a test edited the body. */
static void reseal(unsigned char *blob, size_t n) {
  put_le(blob + n - 8, fnv1a(blob, n - 8), 8);
}

/* ------------------------------------------------------------------------
** Fixtures.
*/

/* A connection with pts (600 rows, 3 separated components) and
** models(name, model) holding 'm' = gmm_fit(3, x, y) over pts. */
static sqlite3 *open_with_model(void) {
  sqlite3 *db = open_db();
  make_points(db, "pts", 600, 3, SEPARATED, 1.0, 0.0, 42);
  exec_sql(db,
           "CREATE TABLE models(name TEXT PRIMARY KEY, model BLOB);"
           "INSERT INTO models SELECT 'm', gmm_fit(3, x, y) FROM pts");
  return db;
}

static unsigned char *model_named(sqlite3 *db, const char *name, int *n) {
  return sql_blob(db, n, "SELECT model FROM models WHERE name = '%s'", name);
}

/* ========================================================================
** ext: version, debug.
*/

/* ext (1), (2) */
static void test_version_debug(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  assert_sql_text(db, "0.2.0", "SELECT gmm_version()");
  assert_sql_int(db, 1, "SELECT instr(gmm_debug(), 'Version: 0.2.0') > 0");
  assert_sql_int(db, 1, "SELECT instr(gmm_debug(), 'SQLite library:') > 0");
  /* The newest model BLOB format this build reads (issue 13: 5). */
  assert_sql_int(db, 1, "SELECT instr(gmm_debug(), 'BLOB format: 5') > 0");
  char *expect = format("SQLite library: %s", sqlite3_libversion());
  assert_sql_int(db, 1, "SELECT instr(gmm_debug(), '%s') > 0", expect);
  free(expect);
  assert_sql_error(db, "wrong number of arguments to function gmm_version()",
                   "SELECT gmm_version(1)");
  close_db(db);
}

/* ========================================================================
** Fit and predict.
*/

/* gmm_fit (1), (3), (6); apply (1), (4): a well separated mixture is found
** again, predictions agree with the truth up to a permutation. */
static void test_fit_predict_round_trip(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  int n = 0;
  int *pairs = fetch_pairs(
      db, "SELECT label, gmm_predict((SELECT model FROM models), x, y) FROM pts ORDER BY id", NULL,
      0, &n);
  assert_int_equal(n, 600);
  int agree = best_permutation_agreement(pairs, n, 3);
  if (agree < 594) fail_msg("only %d of %d rows agree with the true labels", agree, n);
  free(pairs);

  const char *info = "(SELECT gmm_info(model) FROM models)";
  assert_sql_int(db, 3, "SELECT json_extract(%s, '$.k')", info);
  assert_sql_int(db, 2, "SELECT json_extract(%s, '$.d')", info);
  assert_sql_int(db, 600, "SELECT json_extract(%s, '$.n_samples')", info);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.n_skipped')", info);
  assert_sql_text(db, "full", "SELECT json_extract(%s, '$.covariance_type')", info);
  assert_sql_text(db, "true", "SELECT json_type(%s, '$.converged')", info);
  /* A model fitted by this build carries its ICL: format version 4 (blob (5)). */
  assert_sql_int(db, 4, "SELECT json_extract(%s, '$.format_version')", info);
  assert_sql_text(db, "false", "SELECT json_type(%s, '$.warm_started')", info);
  /* options: every one, defaults included (scikit-learn's). */
  assert_sql_int(db, 3, "SELECT json_extract(%s, '$.options.k')", info);
  assert_sql_text(db, "full", "SELECT json_extract(%s, '$.options.covariance_type')", info);
  assert_sql_int(db, 100, "SELECT json_extract(%s, '$.options.max_iter')", info);
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.options.tol') = 1e-3", info);
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.options.reg_covar') = 1e-6", info);
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.options.n_init')", info);
  assert_sql_text(db, "kmeans", "SELECT json_extract(%s, '$.options.init')", info);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.options.seed')", info);
  assert_sql_text(db, "false", "SELECT json_type(%s, '$.options.weighted')", info);
  assert_sql_text(db, "marginalize", "SELECT json_extract(%s, '$.options.missing')", info);
  assert_sql_int(db, 2000, "SELECT json_extract(%s, '$.options.hc_rows')", info);
  assert_sql_text(db, "bic", "SELECT json_extract(%s, '$.options.criterion')", info);
  assert_sql_int(db, 12, "SELECT count(*) FROM json_each(%s, '$.options')", info);
  /* Nothing missing. */
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.n_incomplete')", info);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.missing_fraction')", info);

  /* Every true mean has a fitted mean within 0.3, and weights are near 1/3. */
  for (int t = 0; t < 3; t++) {
    double best = INFINITY;
    for (int j = 0; j < 3; j++) {
      double mx = sql_double(db, "SELECT json_extract(%s, '$.means[%d][0]')", info, j);
      double my = sql_double(db, "SELECT json_extract(%s, '$.means[%d][1]')", info, j);
      double dist = hypot(mx - SEPARATED[2 * t], my - SEPARATED[2 * t + 1]);
      if (dist < best) best = dist;
    }
    if (best > 0.3) fail_msg("true mean %d has no fitted mean within 0.3 (%g)", t, best);
  }
  assert_sql_int(db, 3,
                 "SELECT count(*) FROM json_each(%s, '$.weights') "
                 "WHERE value BETWEEN 0.25 AND 0.42",
                 info);
  close_db(db);
}

/* DESIGN §4 (accumulate around a shift): the same mixture a million units
** from the origin is found as well as the centred one. */
static void test_fit_far_from_origin(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, "pts", 600, 3, SEPARATED, 1.0, 1e6, 42);
  exec_sql(db, "CREATE TABLE models AS SELECT gmm_fit(3, x, y) AS model FROM pts");
  int n = 0;
  int *pairs = fetch_pairs(
      db, "SELECT label, gmm_predict((SELECT model FROM models), x, y) FROM pts ORDER BY id", NULL,
      0, &n);
  int agree = best_permutation_agreement(pairs, n, 3);
  if (agree < 594) fail_msg("only %d of %d rows agree with the true labels", agree, n);
  free(pairs);
  close_db(db);
}

/* apply (4): every key of gmm_info, with its JSON type and shape. */
static void test_info_keys_and_types(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const struct {
    const char *key, *type;
  } keys[] = {
      {"format_version", "integer"},
      {"k", "integer"},
      {"d", "integer"},
      {"covariance_type", "text"},
      {"weights", "array"},
      {"means", "array"},
      {"covariances", "array"},
      {"n_samples", "integer"},
      {"n_skipped", "integer"},
      {"n_incomplete", "integer"},
      {"missing_fraction", "integer"}, /* 0: written as gmm_info writes numbers */
      {"log_likelihood", "real"},
      {"n_iter", "integer"},
      {"converged", "true"},
      {"best_init", "integer"},
      {"empty_components", "integer"},
      {"warm_started", "false"},
      {"bic", "real"},
      {"aic", "real"},
      {"icl", "real"},
      {"model_name", "text"},
      {"options", "object"},
  };
  const char *info = "(SELECT gmm_info(model) FROM models)";
  size_t n_keys = sizeof keys / sizeof keys[0];
  for (size_t i = 0; i < n_keys; i++) {
    char *type = sql_text(db, "SELECT json_type(%s, '$.%s')", info, keys[i].key);
    if (!type) fail_msg("gmm_info has no key %s", keys[i].key);
    if (strcmp(type, keys[i].type) != 0)
      fail_msg("gmm_info key %s has JSON type %s, expected %s", keys[i].key, type, keys[i].type);
    free(type);
  }
  /* No other key. */
  assert_sql_int(db, (sqlite3_int64)n_keys, "SELECT count(*) FROM json_each(%s)", info);
  assert_sql_text(db, "object", "SELECT json_type(%s)", info);

  /* Shapes: weights k, means k x d, covariances k x d x d, all numbers. */
  assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.weights')", info);
  assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.means')", info);
  assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances')", info);
  assert_sql_int(db, 3 + 3 * 2 + 3 * 2 * 2,
                 "SELECT count(*) FROM json_tree(%s) WHERE type IN ('real', 'integer') AND "
                 "(path LIKE '$.weights%%' OR path LIKE '$.means%%' OR "
                 "path LIKE '$.covariances%%')",
                 info);
  for (int j = 0; j < 3; j++) {
    assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.means[%d]')", info, j);
    assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.covariances[%d]')", info, j);
    for (int r = 0; r < 2; r++)
      assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.covariances[%d][%d]')", info, j, r);
    /* Symmetric. */
    assert_sql_int(db, 1,
                   "SELECT json_extract(%s, '$.covariances[%d][0][1]') = "
                   "json_extract(%s, '$.covariances[%d][1][0]')",
                   info, j, info, j);
  }
  /* Weights sum to 1. */
  assert_sql_int(db, 1, "SELECT abs(sum(value) - 1) < 1e-12 FROM json_each(%s, '$.weights')", info);
  /* options: names and JSON types. */
  static const struct {
    const char *key, *type;
  } opts[] = {{"k", "integer"}, {"covariance_type", "text"}, {"max_iter", "integer"},
              {"tol", "real"},  {"reg_covar", "real"},       {"n_init", "integer"},
              {"init", "text"}, {"seed", "integer"},        {"weighted", "false"},
              {"missing", "text"},  {"hc_rows", "integer"},     {"criterion", "text"}};
  size_t n_opts = sizeof opts / sizeof opts[0];
  for (size_t i = 0; i < n_opts; i++) {
    char *type = sql_text(db, "SELECT json_type(%s, '$.options.%s')", info, opts[i].key);
    if (!type) fail_msg("gmm_info options has no key %s", opts[i].key);
    if (strcmp(type, opts[i].type) != 0)
      fail_msg("options.%s has JSON type %s, expected %s", opts[i].key, type, opts[i].type);
    free(type);
  }
  /* No other option; a single fit has no candidates. */
  assert_sql_int(db, (sqlite3_int64)n_opts, "SELECT count(*) FROM json_each(%s, '$.options')",
                 info);
  assert_sql_null(db, "SELECT json_type(%s, '$.candidates')", info);
  /* Values in range. */
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.n_iter') BETWEEN 1 AND 100", info);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.best_init')", info);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.empty_components')", info);
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.log_likelihood') < 0", info);
  close_db(db);
}

/* apply (4): gmm_bic and gmm_aic equal gmm_info's bic and aic exactly, and
** are scikit-learn's criteria (-2 LL + p ln n, -2 LL + 2p). */
static void test_bic_aic(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  assert_sql_int(db, 1,
                 "SELECT gmm_bic(model) = json_extract(gmm_info(model), '$.bic') "
                 "FROM models");
  assert_sql_int(db, 1,
                 "SELECT gmm_aic(model) = json_extract(gmm_info(model), '$.aic') "
                 "FROM models");
  assert_int_equal(sql_type(db, "SELECT gmm_bic(model) FROM models"), SQLITE_FLOAT);
  assert_int_equal(sql_type(db, "SELECT gmm_aic(model) FROM models"), SQLITE_FLOAT);
  double ll = sql_double(db,
                         "SELECT json_extract(gmm_info(model), '$.log_likelihood') "
                         "FROM models");
  double bic = sql_double(db, "SELECT gmm_bic(model) FROM models");
  double aic = sql_double(db, "SELECT gmm_aic(model) FROM models");
  double p = 3.0 * 2 * 3 / 2 + 3 * 2 + 2; /* full covariances, means, weights */
  assert_close(bic, -2 * ll + p * log(600.0), 1e-9 * fabs(bic));
  assert_close(aic, -2 * ll + 2 * p, 1e-9 * fabs(aic));
  close_db(db);
}

/* apply (1), (4): gmm_info and gmm_predict_proba carry the JSON subtype, so
** JSON functions embed them as JSON, not as strings. */
static void test_json_subtype(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  assert_sql_text(db, "object",
                  "SELECT json_type(json_object('m', gmm_info(model)), '$.m') FROM models");
  assert_sql_text(db, "array",
                  "SELECT json_type(json_object('p', gmm_predict_proba(model, 1, 2)), '$.p') "
                  "FROM models");
  assert_sql_text(db, "array",
                  "SELECT json_type(json_array(gmm_predict_proba(model, 1, 2)), '$[0]') "
                  "FROM models");
  assert_sql_text(db, "integer",
                  "SELECT json_type(json_object('m', gmm_info(model)), '$.m.k') FROM models");
  close_db(db);
}

/* ========================================================================
** GROUP BY.
*/

/* 100 groups of 30 .. 50 rows, each two components of its own:
** g(grp, id, x, y, label). */
static void make_groups(sqlite3 *db, uint64_t seed) {
  exec_sql(db,
           "CREATE TABLE g(id INTEGER PRIMARY KEY, grp INTEGER, x REAL, y REAL, "
           "label INTEGER)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO g(grp, x, y, label) VALUES (?, ?, ?, ?)");
  rng r = {seed};
  for (int grp = 0; grp < 100; grp++) {
    int n = 30 + (grp * 7) % 21;
    for (int i = 0; i < n; i++) {
      int label = i % 2; /* both components populated in every group */
      sqlite3_bind_int(ins, 1, grp);
      sqlite3_bind_double(ins, 2, 3.0 * grp + 10.0 * label + rng_normal(&r));
      sqlite3_bind_double(ins, 3, 10.0 * label + rng_normal(&r));
      sqlite3_bind_int(ins, 4, label);
      insert_row(ins);
    }
  }
  end_insert(db, ins);
}

/* gmm_fit (5): each group of a GROUP BY is fitted on its own rows. */
static void test_group_by_100_groups(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_groups(db, 7);
  exec_sql(db,
           "CREATE TABLE gm AS SELECT grp, count(*) AS n, gmm_fit(2, x, y) AS model "
           "FROM g GROUP BY grp");
  assert_sql_int(db, 100, "SELECT count(*) FROM gm");
  assert_sql_int(db, 100, "SELECT count(model) FROM gm");
  assert_sql_int(db, 100, "SELECT count(*) FROM gm WHERE typeof(model) = 'blob'");
  assert_sql_int(db, 100,
                 "SELECT count(*) FROM gm WHERE json_extract(gmm_info(model), "
                 "'$.n_samples') = n");
  assert_sql_int(db, 0, "SELECT count(*) FROM gm WHERE n NOT BETWEEN 30 AND 50");
  /* Each model sits on its own group's data: one mean near (3 grp, 0). */
  assert_sql_int(db, 100,
                 "SELECT count(*) FROM gm WHERE min("
                 "abs(json_extract(gmm_info(model), '$.means[0][0]') - 3 * grp), "
                 "abs(json_extract(gmm_info(model), '$.means[1][0]') - 3 * grp)) < 1.5");
  /* Predictions through a join with each row's own group model: within
  ** every group, one of the two label maps agrees on every row. */
  assert_sql_int(db, 100,
                 "SELECT count(*) FROM (SELECT g.grp, count(*) AS n, "
                 "  sum(gmm_predict(gm.model, g.x, g.y) = g.label) AS same "
                 "  FROM g JOIN gm USING (grp) GROUP BY g.grp) "
                 "WHERE same = n OR same = 0");
  /* A spec may differ between groups (it must not within one). */
  assert_sql_int(db, 1,
                 "SELECT count(*) = 2 AND sum(json_extract(gmm_info(m), '$.k')) = 3 FROM "
                 "(SELECT gmm_fit(1 + (grp %% 2), x, y) AS m FROM g WHERE grp < 2 GROUP BY grp)");
  close_db(db);
}

/* Runs sql on a fresh connection holding the groups table; steps at most
** max_rows rows (-1: all), expects the statement to end with rc_expected,
** closes, and returns sqlite3_memory_used() afterwards. */
static sqlite3_int64 run_groups_and_close(const char *sql, int max_rows, int rc_expected) {
  sqlite3 *db = open_db();
  make_groups(db, 11);
  exec_sql(db,
           "UPDATE g SET y = 'oops' WHERE grp = 60 AND id = (SELECT max(id) FROM g "
           "WHERE grp = 60)");
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  int rc, rows = 0;
  while ((max_rows < 0 || rows < max_rows) && (rc = sqlite3_step(stmt)) == SQLITE_ROW) rows++;
  if (max_rows < 0 || rows < max_rows) assert_int_equal(rc, rc_expected);
  sqlite3_finalize(stmt);
  check_alive(__FILE__, __LINE__, db);
  return close_db_measured(db);
}

/* gmm_fit (5): every group's buffer is freed, whether the statement
** finishes, fails in a later group, or is finalized half way. */
static void test_group_by_memory(void **state) {
  (void)state;
  /* Warm up: the first connection initialises SQLite's global state. */
  run_groups_and_close("SELECT 1", -1, SQLITE_DONE);
  sqlite3_int64 base = sqlite3_memory_used();
  assert_true(memory_while_open > base + 10000);

  /* Finishes (groups < 60 only: grp 60 holds the bad value). */
  sqlite3_int64 after = run_groups_and_close(
      "SELECT grp, gmm_fit(2, x, y) FROM g WHERE grp < 60 GROUP BY grp", -1, SQLITE_DONE);
  assert_int_equal(after, base);
  /* Fails in group 60, after 60 groups were fitted and freed. */
  after =
      run_groups_and_close("SELECT grp, gmm_fit(2, x, y) FROM g GROUP BY grp", -1, SQLITE_ERROR);
  assert_int_equal(after, base);
  /* Finalized after 10 rows: groups in progress are released by SQLite. */
  after = run_groups_and_close("SELECT grp, gmm_fit(2, x, y) FROM g GROUP BY grp", 10, SQLITE_ROW);
  assert_int_equal(after, base);
  /* Fails before any group is finished (the bad row is in the first one
  ** scanned, in a plain aggregate). */
  after = run_groups_and_close("SELECT gmm_fit(2, x, y) FROM g WHERE grp >= 60", -1, SQLITE_ERROR);
  assert_int_equal(after, base);
  /* Spec error on a later row, JSON spec buffered. */
  after = run_groups_and_close(
      "SELECT gmm_fit(CASE WHEN id % 37 = 0 THEN '{\"k\":1}' ELSE '{\"k\":2}' END, x, y) "
      "FROM g WHERE grp < 60 GROUP BY grp",
      -1, SQLITE_ERROR);
  assert_int_equal(after, base);
  /* Fails in xFinal of group 30 (zero variance, reg_covar 0). */
  after = run_groups_and_close(
      "SELECT gmm_fit('{\"k\":1,\"reg_covar\":0}', CASE WHEN grp = 30 THEN 1 ELSE x END) "
      "FROM g WHERE grp < 60 GROUP BY grp",
      -1, SQLITE_ERROR);
  assert_int_equal(after, base);
  /* Apply functions too: the decoded-model cache is freed with the
  ** connection. */
  after = run_groups_and_close(
      "WITH gm AS (SELECT grp, gmm_fit(2, x, y) AS model FROM g WHERE grp < 10 GROUP BY grp) "
      "SELECT sum(gmm_predict(gm.model, g.x, g.y)), total(gmm_score(gm.model, g.x, g.y)), "
      "count(gmm_predict_proba(gm.model, g.x, g.y)), count(gmm_info(gm.model)) "
      "FROM g JOIN gm USING (grp)",
      -1, SQLITE_DONE);
  assert_int_equal(after, base);
}

/* ========================================================================
** NULLs.
*/

/* gmm_fit (3): with the option missing 'skip' a row with a NULL feature is
** skipped and counted; with 'marginalize' (the default) only a row whose
** features are all NULL is (tests/test_missing_sql.c has the rest). */
static void test_null_rows_skipped(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db,
           "CREATE TABLE t(id INTEGER PRIMARY KEY, x, y);"
           "INSERT INTO t(x, y) VALUES (0, 0), (NULL, 1), (1, NULL), (NULL, NULL),"
           "(1, 1), (2, 0.5), (0.5, 2), (3, 1), (1.5, 1.5);");
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('{\"k\":1,\"missing\":\"skip\"}', x, y) AS model "
               "FROM t");
  assert_sql_int(db, 3, "SELECT json_extract(gmm_info(model), '$.n_skipped') FROM m");
  assert_sql_int(db, 6, "SELECT json_extract(gmm_info(model), '$.n_samples') FROM m");
  assert_sql_int(db, 0, "SELECT json_extract(gmm_info(model), '$.n_incomplete') FROM m");
  /* Skipping is the same as leaving the rows out, but for n_skipped. */
  exec_sql(db,
           "CREATE TABLE m2 AS SELECT gmm_fit('{\"k\":1,\"missing\":\"skip\"}', x, y) AS model "
           "FROM t WHERE x IS NOT NULL AND y IS NOT NULL");
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(m.model), '$.means') = "
                 "json_extract(gmm_info(m2.model), '$.means') AND "
                 "json_extract(gmm_info(m.model), '$.covariances') = "
                 "json_extract(gmm_info(m2.model), '$.covariances') FROM m, m2");
  assert_sql_int(db, 0, "SELECT json_extract(gmm_info(model), '$.n_skipped') FROM m2");
  /* The default marginalises: only the all-NULL row is skipped. */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 1 AND i ->> '$.n_samples' = 8 AND "
                 "i ->> '$.n_incomplete' = 2 FROM (SELECT gmm_info(gmm_fit(1, x, y)) AS i FROM t)");
  /* SQLite stores a bound NaN as NULL before any function sees it, so a
  ** NaN feature is a NULL feature: a missing value, not an error. */
  exec_sql(db, "CREATE TABLE nan(x, y)");
  sqlite3_stmt *ins = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO nan VALUES (?1, ?2)", -1, &ins, NULL),
                   SQLITE_OK);
  for (int i = 0; i < 5; i++) {
    sqlite3_bind_double(ins, 1, i == 2 ? NAN : (double)i);
    sqlite3_bind_double(ins, 2, (double)(i * i));
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  assert_sql_int(db, 1, "SELECT count(*) FROM nan WHERE x IS NULL");
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":1,\"missing\":\"skip\"}', x, y)), "
                 "'$.n_skipped') FROM nan");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 0 AND i ->> '$.n_incomplete' = 1 FROM "
                 "(SELECT gmm_info(gmm_fit(1, x, y)) AS i FROM nan)");
  /* The mean of the 6 complete rows is (4/3, 1). */
  assert_close(sql_double(db, "SELECT json_extract(gmm_info(model), '$.means[0][0]') FROM m"),
               4.0 / 3.0, 1e-12);
  assert_close(sql_double(db, "SELECT json_extract(gmm_info(model), '$.means[0][1]') FROM m"), 1.0,
               1e-12);
  close_db(db);
}

/* gmm_fit (4): no usable row gives NULL (empty table, all rows NULL, an
** all-NULL group next to others; with the option missing 'skip', rows each
** with some NULL). */
static void test_fit_no_usable_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db,
           "CREATE TABLE e(x, y); CREATE TABLE n(g, x, y);"
           "INSERT INTO n VALUES (1, NULL, NULL), (1, NULL, NULL), (1, NULL, NULL),"
           "(2, 1, 2), (2, 2, 3), (2, 3, 1), (3, NULL, 1), (3, 2, NULL), (3, NULL, NULL);");
  assert_sql_null(db, "SELECT gmm_fit(2, x, y) FROM e");
  assert_sql_null(db, "SELECT gmm_fit('{\"k\":2}', x, y) FROM e");
  assert_sql_null(db, "SELECT gmm_fit(1, x, y) FROM n WHERE g = 1");
  assert_sql_null(db, "SELECT gmm_fit('{\"k\":1,\"missing\":\"skip\"}', x, y) FROM n WHERE g = 3");
  assert_sql_null(db, "SELECT gmm_fit(1, x, y) FROM n WHERE 0");
  assert_sql_int(db, 1,
                 "SELECT count(*) = 2 AND count(m) = 1 AND max(g) = 2 AND "
                 "sum(m IS NULL AND g = 1) = 1 "
                 "FROM (SELECT g, gmm_fit(1, x, y) AS m FROM n WHERE g < 3 GROUP BY g)");
  /* In a GROUP BY over an empty table there is no group at all. */
  assert_sql_int(db, 0, "SELECT count(*) FROM (SELECT gmm_fit(1, x, y) FROM e GROUP BY x)");
  close_db(db);
}

/* apply (2): a NULL model or every feature NULL gives NULL; some features
** NULL give the marginal result (its values: tests/test_missing_sql.c). */
static void test_apply_nulls(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const char *fns[] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
  for (int f = 0; f < 3; f++) {
    assert_sql_int(db, 0, "SELECT %s(model, NULL, 1) IS NULL FROM models", fns[f]);
    assert_sql_int(db, 0, "SELECT %s(model, 1, NULL) IS NULL FROM models", fns[f]);
    assert_sql_null(db, "SELECT %s(model, NULL, NULL) FROM models", fns[f]);
    assert_sql_null(db, "SELECT %s(NULL, 1, 2)", fns[f]);
    assert_sql_null(db, "SELECT %s(NULL, NULL, 2)", fns[f]);
    assert_sql_null(db, "SELECT %s((SELECT model FROM models WHERE 0), 1, 2)", fns[f]);
    /* NULL features from a table column, row after row. */
    assert_sql_int(db, 2,
                   "SELECT count(%s(m.model, t.x, t.y)) FROM models m, "
                   "(SELECT NULL AS x, 1 AS y UNION ALL SELECT 2, NULL "
                   "UNION ALL SELECT NULL, NULL) t",
                   fns[f]);
  }
  static const char *inspect[] = {"gmm_info", "gmm_bic", "gmm_aic"};
  for (int f = 0; f < 3; f++) {
    assert_sql_null(db, "SELECT %s(NULL)", inspect[f]);
    assert_sql_null(db, "SELECT %s((SELECT model FROM models WHERE 0))", inspect[f]);
  }
  /* A bound NULL model. */
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT gmm_predict(?1, 1, 2), gmm_info(?1)", -1, &stmt, NULL),
      SQLITE_OK);
  sqlite3_bind_null(stmt, 1);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  assert_int_equal(sqlite3_column_type(stmt, 0), SQLITE_NULL);
  assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_NULL);
  sqlite3_finalize(stmt);
  close_db(db);
}

/* ========================================================================
** Errors, each text whole.
*/

/* gmm_fit (3), apply (3), ext (3): argument counts. */
static void test_errors_argument_counts(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  assert_sql_error(db, "gmm_fit: expected a spec and at least one feature, provided 1 argument",
                   "SELECT gmm_fit(2)");
  assert_sql_error(db, "gmm_fit: expected a spec and at least one feature, provided 1 argument",
                   "SELECT gmm_fit(2) FROM pts");
  assert_sql_error(db, "gmm_fit: expected a spec and at least one feature, provided 0 arguments",
                   "SELECT gmm_fit()");
  static const char *fns[] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
  for (int f = 0; f < 3; f++) {
    char *expect =
        format("%s: expected a model and at least one feature, provided 1 argument", fns[f]);
    assert_sql_error(db, expect, "SELECT %s(model) FROM models", fns[f]);
    assert_sql_error(db, expect, "SELECT %s(NULL)", fns[f]);
    free(expect);
    expect = format("%s: expected a model and at least one feature, provided 0 arguments", fns[f]);
    assert_sql_error(db, expect, "SELECT %s()", fns[f]);
    free(expect);
  }
  assert_sql_error(db, "wrong number of arguments to function gmm_info()", "SELECT gmm_info()");
  assert_sql_error(db, "wrong number of arguments to function gmm_info()",
                   "SELECT gmm_info(model, 1) FROM models");
  assert_sql_error(db, "wrong number of arguments to function gmm_bic()", "SELECT gmm_bic()");
  assert_sql_error(db, "wrong number of arguments to function gmm_aic()", "SELECT gmm_aic(1, 2)");
  assert_sql_error(db, "wrong number of arguments to function gmm_debug()", "SELECT gmm_debug(1)");
  close_db(db);
}

/* gmm_fit (1), spec (1), (2), (4): spec of the wrong kind. */
static void test_errors_spec_kind(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  const char *prefix =
      "gmm_fit: argument 1 (spec) must be an INTEGER k, a JSON object or a model BLOB, ";
  char *expect = format("%sprovided NULL", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit(NULL, x, y) FROM pts");
  free(expect);
  expect = format("%sprovided a REAL", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit(2.0, x, y) FROM pts");
  free(expect);
  /* A BLOB spec is a model to warm-start from (spec (4)): one that is not
  ** a model says why, as the apply functions do. */
  assert_sql_error(db,
                   "gmm_fit: argument 1 (spec) is not a valid gmm model: it is too short "
                   "(2 bytes; the smallest model has 104)",
                   "SELECT gmm_fit(x'7b7d', x, y) FROM pts");
  assert_sql_error(db,
                   "gmm_fit: argument 1 (spec) is not a valid gmm model: it does not start "
                   "with the gmm magic",
                   "SELECT gmm_fit(zeroblob(256), x, y) FROM pts");
  expect = format("%sprovided TEXT '[1,2]'", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit('[1,2]', x, y) FROM pts");
  free(expect);
  expect = format("%sprovided TEXT '3'", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit('3', x, y) FROM pts");
  free(expect);
  expect = format("%sprovided TEXT '\"k\"'", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit('\"k\"', x, y) FROM pts");
  free(expect);
  /* A long non-object is quoted up to 40 bytes. */
  expect = format("%sprovided TEXT '[1000,1001,1002,1003,1004,1005,1006,1007...'", prefix);
  assert_sql_error(db, expect,
                   "SELECT gmm_fit('[1000,1001,1002,1003,1004,1005,1006,1007,1008,1009]', x, y) "
                   "FROM pts");
  free(expect);
  assert_sql_error(db, "gmm_fit: argument 1 (spec) is not valid JSON: malformed JSON",
                   "SELECT gmm_fit('not json', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) is not valid JSON: malformed JSON",
                   "SELECT gmm_fit('{\"k\":2', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) is not valid JSON: malformed JSON",
                   "SELECT gmm_fit('', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option k is required in argument 1 (spec)",
                   "SELECT gmm_fit('{}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option k is required in argument 1 (spec)",
                   "SELECT gmm_fit('  {\"tol\": 0.1}', x, y) FROM pts");
  assert_sql_error(db,
                   "gmm_fit: unknown option 'foo' in argument 1 (spec); known options: k, "
                   "covariance_type, max_iter, tol, reg_covar, n_init, init, seed, weighted, "
                   "weights_init, means_init, precisions_init, vector_type, verbose, threads, "
                   "sample_size, missing, hc_rows, criterion, prior, weight_concentration_prior, "
                   "mean_precision_prior, degrees_of_freedom_prior, mean_prior, covariance_prior, "
                   "prune",
                   "SELECT gmm_fit('{\"k\":2,\"foo\":1}', x, y) FROM pts");
  assert_sql_error(db,
                   "gmm_fit: unknown option 'K' in argument 1 (spec); known options: k, "
                   "covariance_type, max_iter, tol, reg_covar, n_init, init, seed, weighted, "
                   "weights_init, means_init, precisions_init, vector_type, verbose, threads, "
                   "sample_size, missing, hc_rows, criterion, prior, weight_concentration_prior, "
                   "mean_precision_prior, degrees_of_freedom_prior, mean_prior, covariance_prior, "
                   "prune",
                   "SELECT gmm_fit('{\"K\":2}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option k is given twice",
                   "SELECT gmm_fit('{\"k\":2,\"k\":3}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option tol is given twice",
                   "SELECT gmm_fit('{\"k\":2,\"tol\":0.1,\"tol\":0.1}', x, y) FROM pts");
  /* INTEGER k out of range. */
  assert_sql_error(db, "gmm_fit: argument 1 (spec) k must be between 1 and 1024, provided 0",
                   "SELECT gmm_fit(0, x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) k must be between 1 and 1024, provided 1025",
                   "SELECT gmm_fit(1025, x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) k must be between 1 and 1024, provided -3",
                   "SELECT gmm_fit(-3, x, y) FROM pts");
  close_db(db);
}

#define KMSG  "option k must be an integer or a list of integers, provided "
#define CTMSG "option covariance_type must be " COV_ONE_OF ", a list of them or 'all', provided "

/* gmm_fit (1), spec (2), (3): every option with a value of the wrong type. */
static void test_errors_option_types(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const struct {
    const char *spec, *message;
  } cases[] = {
      {"{\"k\":\"2\"}", KMSG "text '2'"},
      {"{\"k\":2.5}", KMSG "real 2.5"},
      {"{\"k\":2.0}", KMSG "real 2.0"},
      {"{\"k\":null}", KMSG "null"},
      {"{\"k\":{\"v\":2}}", KMSG "object"},
      /* spec (3): a list element of the wrong type names its index. */
      {"{\"k\":[2,2.5]}", "option k[1] must be an integer, provided real 2.5"},
      {"{\"k\":[\"2\"]}", "option k[0] must be an integer, provided text '2'"},
      {"{\"k\":[[2]]}", "option k[0] must be an integer, provided array"},
      {"{\"k\":2,\"covariance_type\":1}", CTMSG "integer 1"},
      {"{\"k\":2,\"covariance_type\":null}", CTMSG "null"},
      {"{\"k\":2,\"covariance_type\":{}}", CTMSG "object"},
      {"{\"k\":2,\"covariance_type\":[\"full\",1]}",
       "option covariance_type[1] must be " COV_ONE_OF ", "
       "provided integer 1"},
      {"{\"k\":2,\"max_iter\":1.5}", "option max_iter must be an integer, provided real 1.5"},
      {"{\"k\":2,\"max_iter\":\"10\"}", "option max_iter must be an integer, provided text '10'"},
      {"{\"k\":2,\"tol\":\"x\"}", "option tol must be a number, provided text 'x'"},
      {"{\"k\":2,\"tol\":null}", "option tol must be a number, provided null"},
      {"{\"k\":2,\"reg_covar\":\"1e-6\"}",
       "option reg_covar must be a number, provided text '1e-6'"},
      {"{\"k\":2,\"reg_covar\":{}}", "option reg_covar must be a number, provided object"},
      {"{\"k\":2,\"n_init\":2.0}", "option n_init must be an integer, provided real 2.0"},
      {"{\"k\":2,\"n_init\":\"3\"}", "option n_init must be an integer, provided text '3'"},
      /* A name option of the wrong type lists the names it takes. */
      {"{\"k\":2,\"init\":1}",
       "option init must be one of 'kmeans', 'k-means++', 'random', 'random_from_data', 'labels', 'hc', "
       "provided integer 1"},
      {"{\"k\":2,\"init\":null}",
       "option init must be one of 'kmeans', 'k-means++', 'random', 'random_from_data', 'labels', 'hc', "
       "provided null"},
      {"{\"k\":2,\"seed\":1.5}", "option seed must be an integer, provided real 1.5"},
      {"{\"k\":2,\"seed\":\"7\"}", "option seed must be an integer, provided text '7'"},
      {"{\"k\":2,\"seed\":1e3}", "option seed must be an integer, provided real 1000.0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *expect = format("gmm_fit: %s", cases[i].message);
    assert_sql_error(db, expect, "SELECT gmm_fit('%s', x, y) FROM pts", cases[i].spec);
    free(expect);
  }
  close_db(db);
}

/* gmm_fit (1): a JSON true or false is named as such; the error should not
** add the SQL integer SQLite's json_each uses for it ("provided true 1"). */
static void test_errors_option_boolean(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  assert_sql_error(db, "gmm_fit: " KMSG "true", "SELECT gmm_fit('{\"k\":true}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option k[0] must be an integer, provided false",
                   "SELECT gmm_fit('{\"k\":[false]}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option weighted must be true or false, provided integer 1",
                   "SELECT gmm_fit('{\"k\":2,\"weighted\":1}', x, y) FROM pts");
  assert_sql_error(db, "gmm_fit: option tol must be a number, provided false",
                   "SELECT gmm_fit('{\"k\":2,\"tol\":false}', x, y) FROM pts");
  close_db(db);
}

/* gmm_fit (1), spec (2), (3): every option out of its range. */
static void test_errors_option_ranges(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const struct {
    const char *spec, *message;
  } cases[] = {
      {"{\"k\":0}", "option k must be between 1 and 1024, provided 0"},
      {"{\"k\":1025}", "option k must be between 1 and 1024, provided 1025"},
      {"{\"k\":-2}", "option k must be between 1 and 1024, provided -2"},
      {"{\"k\":2,\"max_iter\":-1}", "option max_iter must be between 0 and 1000000, provided -1"},
      {"{\"k\":2,\"max_iter\":1000001}",
       "option max_iter must be between 0 and 1000000, provided 1000001"},
      {"{\"k\":2,\"tol\":-1}", "option tol must be a finite number >= 0, provided -1"},
      {"{\"k\":2,\"tol\":-0.5}", "option tol must be a finite number >= 0, provided -0.5"},
      {"{\"k\":2,\"tol\":1e999}", "option tol must be a finite number >= 0, provided Inf"},
      {"{\"k\":2,\"reg_covar\":-1}", "option reg_covar must be a finite number >= 0, provided -1"},
      {"{\"k\":2,\"reg_covar\":-1e999}",
       "option reg_covar must be a finite number >= 0, provided -Inf"},
      {"{\"k\":2,\"n_init\":0}", "option n_init must be between 1 and 10000, provided 0"},
      {"{\"k\":2,\"n_init\":10001}", "option n_init must be between 1 and 10000, provided 10001"},
      {"{\"k\":2,\"init\":\"foo\"}",
       "option init must be one of 'kmeans', 'k-means++', 'random', 'random_from_data', 'labels', 'hc', "
       "provided 'foo'"},
      {"{\"k\":2,\"init\":\"KMeans\"}",
       "option init must be one of 'kmeans', 'k-means++', 'random', 'random_from_data', 'labels', 'hc', "
       "provided 'KMeans'"},
      {"{\"k\":2,\"covariance_type\":\"bogus\"}", CTMSG "'bogus'"},
      {"{\"k\":2,\"covariance_type\":\"Full\"}", CTMSG "'Full'"},
      {"{\"k\":2,\"covariance_type\":\"\"}", CTMSG "''"},
      {"{\"k\":2,\"covariance_type\":[\"diag\",\"bogus\"]}",
       "option covariance_type[1] must be " COV_ONE_OF ", "
       "provided 'bogus'"},
      {"{\"k\":[1,0]}", "option k[1] must be between 1 and 1024, provided 0"},
      {"{\"k\":[1025]}", "option k[0] must be between 1 and 1024, provided 1025"},
      {"{\"k\":2,\"seed\":-1}",
       "option seed must be between 0 and 9223372036854775807, provided -1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *expect = format("gmm_fit: %s", cases[i].message);
    assert_sql_error(db, expect, "SELECT gmm_fit('%s', x, y) FROM pts", cases[i].spec);
    free(expect);
  }
  /* The edges of every range are accepted. */
  static const char *accepted[] = {
      "{\"k\":1}",
      "{\"k\":2,\"max_iter\":0}",
      "{\"k\":2,\"tol\":0}",
      "{\"k\":2,\"tol\":0.0}",
      "{\"k\":2,\"reg_covar\":0.0001}",
      "{\"k\":2,\"n_init\":1}",
      "{\"k\":2,\"seed\":0}",
      "{\"k\":2,\"seed\":9223372036854775807}",
      "{\"k\":2,\"covariance_type\":\"full\"}",
      "{\"k\":2,\"covariance_type\":\"tied\"}",
      "{\"k\":2,\"covariance_type\":\"diag\"}",
      "{\"k\":2,\"covariance_type\":\"spherical\"}",
      "{\"k\":[1,1024]}",
      "{\"k\":[2],\"covariance_type\":[\"full\"]}",
      "{\"k\":2,\"weighted\":false}",
      "{\"k\":2,\"init\":\"kmeans\"}",
      "{\"k\":2,\"init\":\"k-means++\"}",
      "{\"k\":2,\"init\":\"random\"}",
      "{\"k\":2,\"init\":\"random_from_data\"}",
      " { \"k\" : 2 , \"tol\" : 1e-4 } ",
  };
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
    assert_int_equal(sql_type(db, "SELECT gmm_fit('%s', x, y) FROM pts", accepted[i]), SQLITE_BLOB);
  assert_sql_text(db, "9223372036854775807",
                  "SELECT json_extract(gmm_info(gmm_fit('{\"k\":1,"
                  "\"seed\":9223372036854775807}', x, y)), '$.options.seed') FROM pts");
  close_db(db);
}

/* gmm_fit (1): a JSON integer beyond the 64-bit range is out of range and
** the error says so rather than naming a clamped value. SQLite's json_each
** reports such numbers as type 'integer' with a REAL atom, which
** sqlite3_value_int64 would clamp to 9223372036854775807. A number in a
** message is gmm's shortest round-trip text, the same on every SQLite
** (SQLite's own REAL-to-text conversion gave 9.22337203685478e+18 and -0.3
** in 3.40, and 17 digits in 3.53). */
static void test_errors_option_integer_overflow(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  /* seed 2^63 must not be accepted as 2^63 - 1. */
  char *msg = sql_errmsg(db,
                         "SELECT gmm_fit('{\"k\":1,\"seed\":9223372036854775808}', x, y) "
                         "FROM pts");
  assert_string_equal(msg, "gmm_fit: option seed must be between 0 and 9223372036854775807, "
                           "provided 9.223372036854776e+18 (beyond the 64-bit integer range)");
  free(msg);
  msg = sql_errmsg(db, "SELECT gmm_fit('{\"k\":99999999999999999999}', x, y) FROM pts");
  assert_string_equal(msg, "gmm_fit: option k must be between 1 and 1024, provided 1e+20 "
                           "(beyond the 64-bit integer range)");
  free(msg);
  msg = sql_errmsg(db, "SELECT gmm_fit('{\"k\":1,\"tol\":-0.30000000000000004}', x, y) FROM pts");
  assert_string_equal(msg, "gmm_fit: option tol must be a finite number >= 0, provided "
                           "-0.30000000000000004");
  free(msg);
  msg = sql_errmsg(db, "SELECT gmm_fit('{\"k\":1,\"weighted\":true}', -0.1 - 0.2, x, y) FROM pts");
  assert_string_equal(msg, "gmm_fit: row 1, argument 2 (weight) must be >= 0, provided "
                           "-0.30000000000000004");
  free(msg);
  close_db(db);
}

/* gmm_fit (2): the spec must be the same on every row of a group. */
static void test_errors_spec_differs(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  const char *msg = "gmm_fit: argument 1 (spec) must be the same on every row of a group";
  assert_sql_error(db, msg, "SELECT gmm_fit(CASE WHEN id = 3 THEN 2 ELSE 3 END, x, y) FROM pts");
  assert_sql_error(db, msg,
                   "SELECT gmm_fit(CASE WHEN id = 3 THEN '{\"k\":3}' ELSE 3 END, x, y) FROM pts");
  assert_sql_error(db, msg,
                   "SELECT gmm_fit(CASE WHEN id = 3 THEN '{\"k\": 3}' ELSE '{\"k\":3}' END, "
                   "x, y) FROM pts");
  assert_sql_error(db, msg, "SELECT gmm_fit(CASE WHEN id = 3 THEN NULL ELSE 3 END, x, y) FROM pts");
  /* Even when the differing row would be skipped. */
  assert_sql_error(db, msg,
                   "SELECT gmm_fit(CASE WHEN id = 3 THEN 2 ELSE 3 END, "
                   "CASE WHEN id = 3 THEN NULL ELSE x END, y) FROM pts");
  close_db(db);
}

/* gmm_fit (3), ext (4): a bad feature names the row (1-based), the argument
** and the value. The bad value is in row 3. */
static void test_errors_fit_features(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db,
           "CREATE TABLE t(id INTEGER PRIMARY KEY, x, y);"
           "INSERT INTO t VALUES (1, 1, 2), (2, 2, 3), (3, 3, 1), (4, 4, 4), (5, 0, 5);");
  static const struct {
    const char *set, *message;
  } cases[] = {
      {"x = 'abc'",
       "row 3, argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
       "'abc'"},
      {"y = 'abc'",
       "row 3, argument 3 (x2) must be a finite INTEGER or REAL, provided TEXT "
       "'abc'"},
      {"x = '3.5'",
       "row 3, argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
       "'3.5'"},
      {"x = ''", "row 3, argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT ''"},
      {"y = x'0102'",
       "row 3, argument 3 (x2) must be a finite INTEGER or REAL, provided a BLOB "
       "of 2 bytes"},
      {"x = 1e999", "row 3, argument 2 (x1) must be a finite INTEGER or REAL, provided Inf"},
      {"y = -1e999", "row 3, argument 3 (x2) must be a finite INTEGER or REAL, provided -Inf"},
      /* A NULL before the bad value does not hide it. */
      {"x = NULL, y = 'abc'",
       "row 3, argument 3 (x2) must be a finite INTEGER or REAL, "
       "provided TEXT 'abc'"},
      {"x = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH'",
       "row 3, argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
       "'abcdefghijklmnopqrstuvwxyz0123456789ABCD...'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    exec_sql(db,
             "DROP TABLE IF EXISTS u; CREATE TABLE u AS SELECT * FROM t;"
             "UPDATE u SET %s WHERE id = 3",
             cases[i].set);
    char *expect = format("gmm_fit: %s", cases[i].message);
    assert_sql_error(db, expect, "SELECT gmm_fit(1, x, y) FROM (SELECT * FROM u ORDER BY id)");
    /* A JSON spec does not change the text. */
    assert_sql_error(db, expect,
                     "SELECT gmm_fit('{\"k\":1}', x, y) FROM (SELECT * FROM u ORDER BY id)");
    free(expect);
  }
  /* Rows are counted from 1 with skipped rows included. */
  exec_sql(db,
           "DROP TABLE u; CREATE TABLE u AS SELECT * FROM t;"
           "UPDATE u SET x = NULL WHERE id = 2; UPDATE u SET y = 'bad' WHERE id = 3");
  assert_sql_error(db,
                   "gmm_fit: row 3, argument 3 (x2) must be a finite INTEGER or REAL, "
                   "provided TEXT 'bad'",
                   "SELECT gmm_fit(1, x, y) FROM (SELECT * FROM u ORDER BY id)");
  /* Within the group: the third row of group 2. */
  exec_sql(db,
           "CREATE TABLE gg(grp, id, x); CREATE INDEX gg_i ON gg(grp, id);"
           "INSERT INTO gg VALUES (1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 4, 4),"
           "(2, 1, 1), (2, 2, 2), (2, 3, 'zz'), (2, 4, 4);");
  assert_sql_error(db,
                   "gmm_fit: row 3, argument 2 (x1) must be a finite INTEGER or REAL, "
                   "provided TEXT 'zz'",
                   "SELECT grp, gmm_fit(1, x) FROM (SELECT * FROM gg ORDER BY grp, id) "
                   "GROUP BY grp");
  /* The 7th argument is x6. */
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 7 (x6) must be a finite INTEGER or REAL, "
                   "provided TEXT 'q'",
                   "SELECT gmm_fit(1, 1, 2, 3, 4, 5, 'q')");
  close_db(db);
}

/* ext (4): the value quoted in an error is valid UTF-8, even when it is cut
** at 40 bytes inside a multi-byte character. */
static void test_errors_text_quote_utf8(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  /* 39 ASCII letters, then U+00E9 (2 bytes) and more. */
  char *msg = sql_errmsg(db,
                         "SELECT gmm_fit(1, 'abcdefghijklmnopqrstuvwxyz0123456789ABC"
                         "\xC3\xA9\xC3\xA9\xC3\xA9', 1)");
  const unsigned char *p = (const unsigned char *)msg;
  while (*p) {
    int len = *p < 0x80             ? 1
              : (*p & 0xE0) == 0xC0 ? 2
              : (*p & 0xF0) == 0xE0 ? 3
              : (*p & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (len == 0) fail_msg("invalid UTF-8 lead byte 0x%02x in: %s", *p, msg);
    for (int i = 1; i < len; i++)
      if ((p[i] & 0xC0) != 0x80) fail_msg("truncated UTF-8 sequence in: %s", msg);
    p += len;
  }
  free(msg);
  close_db(db);
}

/* apply (3), ext (4): a bad feature in the apply functions. */
static void test_errors_apply_features(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const char *fns[] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
  for (int f = 0; f < 3; f++) {
    char *expect = format(
        "%s: argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
        "'abc'",
        fns[f]);
    assert_sql_error(db, expect, "SELECT %s(model, 'abc', 1) FROM models", fns[f]);
    free(expect);
    expect = format(
        "%s: argument 3 (x2) must be a finite INTEGER or REAL, provided a BLOB of 3 "
        "bytes",
        fns[f]);
    assert_sql_error(db, expect, "SELECT %s(model, 1, x'010203') FROM models", fns[f]);
    free(expect);
    expect = format("%s: argument 2 (x1) must be a finite INTEGER or REAL, provided Inf", fns[f]);
    assert_sql_error(db, expect, "SELECT %s(model, 1e999, 1) FROM models", fns[f]);
    free(expect);
    expect = format("%s: argument 3 (x2) must be a finite INTEGER or REAL, provided -Inf", fns[f]);
    assert_sql_error(db, expect, "SELECT %s(model, 1, -1e999) FROM models", fns[f]);
    /* A bad value is an error even next to a NULL. */
    assert_sql_error(db, expect, "SELECT %s(model, NULL, -1e999) FROM models", fns[f]);
    free(expect);
    /* From a table, the bad value on a later row. */
    expect = format(
        "%s: argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
        "'four'",
        fns[f]);
    assert_sql_error(db, expect,
                     "SELECT count(%s(m.model, t.x, 1)) FROM models m, "
                     "(SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 'four') t",
                     fns[f]);
    free(expect);
  }
  close_db(db);
}

/* gmm_fit (4): fewer usable rows than k is an error that gives both. */
static void test_errors_k_larger_than_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 2), (2, 1), (3, 3), (4, 0);");
  assert_sql_error(db, "gmm_fit: k = 5 is larger than the number of usable rows (4)",
                   "SELECT gmm_fit(5, x, y) FROM t");
  assert_sql_error(db, "gmm_fit: k = 5 is larger than the number of usable rows (4)",
                   "SELECT gmm_fit('{\"k\":5}', x, y) FROM t");
  /* Rows with some feature NULL are usable unless the option missing says
  ** 'skip'; rows with every feature NULL never are. */
  exec_sql(db, "INSERT INTO t VALUES (NULL, 1), (5, NULL), (NULL, NULL)");
  assert_sql_error(db, "gmm_fit: k = 5 is larger than the number of usable rows (4)",
                   "SELECT gmm_fit('{\"k\":5,\"missing\":\"skip\"}', x, y) FROM t");
  assert_sql_error(db, "gmm_fit: k = 7 is larger than the number of usable rows (6)",
                   "SELECT gmm_fit(7, x, y) FROM t");
  assert_int_equal(sql_type(db, "SELECT gmm_fit('{\"k\":4,\"missing\":\"skip\"}', x, y) FROM t"),
                   SQLITE_BLOB);
  close_db(db);
}

/* gmm_fit (4), (6), DESIGN §4: when EM cannot produce a sound model the
** error says so and what to try. */
static void test_errors_fit_fails(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 1), (1, 1), (1, 1);");
  assert_sql_error(db,
                   "gmm_fit: EM failed in every initialisation (the covariance of component "
                   "0 is not positive definite): try fewer components or a larger reg_covar",
                   "SELECT gmm_fit('{\"k\":1,\"reg_covar\":0}', x, y) FROM t");
  /* With the default reg_covar the same rows fit; a second component
  ** that gets no rows is reported, not a NaN. */
  assert_int_equal(sql_type(db, "SELECT gmm_fit(1, x, y) FROM t"), SQLITE_BLOB);
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.empty_components' = 1 AND "
                 "abs((i ->> '$.weights[0]') + (i ->> '$.weights[1]') - 1) < 1e-12 FROM "
                 "(SELECT gmm_info(gmm_fit(2, x, y)) AS i FROM t)");
  close_db(db);
}

/* apply (3): a model that is not a BLOB from gmm_fit. */
static void test_errors_model_not_blob(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  static const char *fns[] = {"gmm_predict", "gmm_predict_proba", "gmm_score",
                              "gmm_info",    "gmm_bic",           "gmm_aic"};
  for (int f = 0; f < 6; f++) {
    const char *args = f < 3 ? ", 1, 2" : "";
    char *expect = format(
        "%s: argument 1 (model) must be a model BLOB from gmm_fit, provided "
        "TEXT",
        fns[f]);
    assert_sql_error(db, expect, "SELECT %s('GMMb'%s)", fns[f], args);
    /* A BLOB turned into TEXT (|| makes TEXT). */
    assert_sql_error(db, expect, "SELECT %s(model || ''%s) FROM models", fns[f], args);
    free(expect);
    expect = format(
        "%s: argument 1 (model) must be a model BLOB from gmm_fit, provided an "
        "INTEGER",
        fns[f]);
    assert_sql_error(db, expect, "SELECT %s(42%s)", fns[f], args);
    free(expect);
    expect =
        format("%s: argument 1 (model) must be a model BLOB from gmm_fit, provided a REAL", fns[f]);
    assert_sql_error(db, expect, "SELECT %s(4.2%s)", fns[f], args);
    free(expect);
  }
  close_db(db);
}

/* apply (3), blob (2), (3): truncated, extended and corrupted BLOBs. */
static void test_errors_model_invalid_blob(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  int n = 0;
  unsigned char *model = model_named(db, "m", &n);
  /* k = 3, d = 2, format version 4 (a fit carries its ICL): a 136-byte
  ** header, 8 (3 + 6 + 9) bytes of parameters and the 8-byte checksum. */
  assert_int_equal(n, 288);
  const char *prefix = "gmm_predict: argument 1 (model) is not a valid gmm model: ";
  char *expect = format("%sit has 287 bytes, but its header (k = 3, d = 2) needs 288", prefix);
  assert_sql_error(db, expect,
                   "SELECT gmm_predict(substr(model, 1, length(model) - 1), 1, 2) FROM models");
  assert_sql_error_b(db, model, n - 1, expect, "SELECT gmm_predict(?1, 1, 2)");
  free(expect);
  expect = format("%sit has 289 bytes, but its header (k = 3, d = 2) needs 288", prefix);
  assert_sql_error(db, expect,
                   "SELECT gmm_predict(CAST(model || x'00' AS BLOB), 1, 2) "
                   "FROM models");
  free(expect);
  expect = format("%sit is too short (0 bytes; the smallest model has 104)", prefix);
  assert_sql_error(db, expect, "SELECT gmm_predict(x'', 1, 2)");
  free(expect);
  expect = format("%sit is too short (50 bytes; the smallest model has 104)", prefix);
  assert_sql_error(db, expect, "SELECT gmm_predict(substr(model, 1, 50), 1, 2) FROM models");
  free(expect);
  expect = format("%sit does not start with the gmm magic", prefix);
  assert_sql_error(db, expect, "SELECT gmm_predict(zeroblob(256), 1, 2)");
  free(expect);
  assert_sql_error(db,
                   "gmm_info: argument 1 (model) is not a valid gmm model: it has 287 "
                   "bytes, but its header (k = 3, d = 2) needs 288",
                   "SELECT gmm_info(substr(model, 1, 287)) FROM models");
  /* A version-4 header cut short of its 136 bytes. */
  assert_sql_error(db,
                   "gmm_info: argument 1 (model) is not a valid gmm model: it is too short "
                   "(108 bytes; a version 4 model has at least 144)",
                   "SELECT gmm_info(substr(model, 1, 108)) FROM models");
  assert_sql_error(db,
                   "gmm_bic: argument 1 (model) is not a valid gmm model: the checksum "
                   "does not match its contents",
                   "SELECT gmm_bic(CAST(substr(model, 1, 100) || x'ff' || substr(model, 102) "
                   "AS BLOB)) FROM models");

  /* Flip every byte in turn: each copy is rejected, never decoded. The
  ** header fields that fix the length (version, k, d, covariance type at
  ** 4 .. 19, the number of candidates at 96 .. 99) have their own
  ** messages; past them the checksum fails. */
  unsigned char *copy = malloc((size_t)n);
  assert_non_null(copy);
  for (int i = 0; i < n; i++) {
    memcpy(copy, model, (size_t)n);
    copy[i] ^= 0x5a;
    char *msg = sql_errmsg_b(db, copy, n, "SELECT gmm_predict(?1, 1, 2)");
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
      fail_msg("byte %d flipped: unexpected message: %s", i, msg);
    const char *why = msg + strlen(prefix);
    const char *want = NULL;
    char buf[128];
    if (i < 4) {
      want = "it does not start with the gmm magic";
    } else if (i == 96) { /* 0x5a candidates */
      snprintf(buf, sizeof buf, "it has 288 bytes, but its header (k = 3, d = 2) needs %d",
               288 + 40 * 0x5a);
      want = buf;
    } else if (i > 96 && i < 100) {
      snprintf(buf, sizeof buf, "%lu candidates, maximum 1024", 0x5aUL << (8 * (i - 96)));
      want = buf;
    } else if (i >= 20) {
      want = "the checksum does not match its contents";
    }
    if (want && strcmp(why, want) != 0) fail_msg("byte %d flipped: %s, expected %s", i, why, want);
    free(msg);
  }
  /* Each apply function gives the same diagnosis under its own name. */
  memcpy(copy, model, (size_t)n);
  copy[150] ^= 1;
  static const char *fns[] = {"gmm_predict", "gmm_predict_proba", "gmm_score",
                              "gmm_info",    "gmm_bic",           "gmm_aic"};
  for (int f = 0; f < 6; f++) {
    expect = format(
        "%s: argument 1 (model) is not a valid gmm model: the checksum does not "
        "match its contents",
        fns[f]);
    assert_sql_error_b(db, copy, n, expect, "SELECT %s(?1%s)", fns[f], f < 3 ? ", 1, 2" : "");
    free(expect);
  }
  /* The good model still works after all that (no bad entry was cached). */
  assert_int_equal(sql_type_b(db, model, n, "SELECT gmm_predict(?1, 1, 2)"), SQLITE_INTEGER);
  assert_sql_int(db, 1, "SELECT count(DISTINCT gmm_predict(model, 0, 0)) FROM models");
  free(copy);
  free(model);
  close_db(db);
}

/* apply (3), blob (3): BLOBs with a valid checksum and invalid contents,
** written by the test's own encoder. */
static void test_errors_model_crafted(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  const double weights[2] = {0.5, 0.5}, means[4] = {0, 0, 5, 5};
  const double cov[8] = {1, 0, 0, 1, 2, 0.5, 0.5, 1};
  size_t n = craft_size(2, 2);
  unsigned char *blob = malloc(n), *bad = malloc(n);
  assert_non_null(blob);
  assert_non_null(bad);
  craft_blob(blob, 2, 2, weights, means, cov);
  /* The crafted model itself is valid. */
  assert_sql_int_b(db, blob, (int)n, 0, "SELECT gmm_predict(?1, 0.1, -0.2)");
  const char *prefix = "gmm_info: argument 1 (model) is not a valid gmm model: ";
  static const struct {
    const char *what;
    int offset;
    double value; /* NAN: write as u32 below */
    uint32_t u32;
    const char *message;
  } cases[] = {
      {"version", 4, NAN, 6, "format version 6 is not one this build reads (1 to 5)"},
      {"version 5", 4, NAN, 5, "format version 5 holds nothing version 4 cannot (prior none)"},
      {"version 0", 4, NAN, 0, "format version 0 is not one this build reads (1 to 5)"},
      /* Version 2 has a 104-byte header: these 200 bytes are 8 short. */
      {"version 2", 4, NAN, 2, "it has 200 bytes, but its header (k = 2, d = 2) needs 208"},
      {"covariance type", 16, NAN, 1, "covariance type 1 is not one of format version 1"},
      {"covariance type 3", 16, NAN, 3, "covariance type 3 is not one of format version 1"},
      {"init", 20, NAN, 4, "unknown init method 4"},
      {"max_iter", 24, NAN, 1000001, "max_iter 1000001 is out of range"},
      {"n_init", 28, NAN, 0, "n_init 0 is out of range"},
      {"n_iter", 80, NAN, 101, "n_iter 101 exceeds max_iter 100"},
      /* Version 1 has only bit 0 (converged): weighted and warm-started
      ** came with version 2. */
      {"flags", 84, NAN, 2, "unknown flags 0x2"},
      {"flags", 84, NAN, 4, "unknown flags 0x4"},
      {"best_init", 88, NAN, 1, "best_init 1 is not below n_init 1"},
      {"n_empty", 92, NAN, 3, "n_empty 3 exceeds k"},
      {"tol", 32, -1.0, 0, "tol -1 is out of range"},
      {"n_samples", 56, 0.0, 0, "n_samples 0 is out of range"},
      {"weight 1", 96 + 8, -0.5, 0, "weight 1 is -0.5"},
      {"mean 1 of component 1", 96 + 16 + 24, INFINITY, 0, "mean 1 of component 1 is not finite"},
      /* component 1's covariance [[2, .5], [.5, -1]] */
      {"covariance", 96 + 16 + 32 + 24 + 16, -1.0, 0,
       "the covariance of component 1 is not positive definite"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(bad, blob, n);
    if (isnan(cases[i].value))
      put_le(bad + cases[i].offset, cases[i].u32, 4);
    else
      put_double(bad + cases[i].offset, cases[i].value);
    reseal(bad, n);
    char *expect = format("%s%s", prefix, cases[i].message);
    assert_sql_error_b(db, bad, (int)n, expect, "SELECT gmm_info(?1)");
    free(expect);
  }
  /* Weights that do not sum to 1. */
  memcpy(bad, blob, n);
  put_double(bad + 96, 0.4);
  reseal(bad, n);
  char sum[64];
  snprintf(sum, sizeof sum, "%.17g", 0.4 + 0.5);
  char *expect = format("%sthe weights sum to %s, not 1", prefix, sum);
  assert_sql_error_b(db, bad, (int)n, expect, "SELECT gmm_info(?1)");
  free(expect);
  /* k in the header does not match the length. */
  memcpy(bad, blob, n);
  put_le(bad + 8, 3, 4);
  reseal(bad, n);
  expect = format("%sit has %zu bytes, but its header (k = 3, d = 2) needs %zu", prefix, n,
                  craft_size(3, 2));
  assert_sql_error_b(db, bad, (int)n, expect, "SELECT gmm_info(?1)");
  free(expect);
  memcpy(bad, blob, n);
  put_le(bad + 12, 0, 4);
  reseal(bad, n);
  expect = format("%sd = 0 is out of range (1 .. 1000)", prefix);
  assert_sql_error_b(db, bad, (int)n, expect, "SELECT gmm_info(?1)");
  free(expect);
  memcpy(bad, blob, n);
  put_le(bad + 8, 1025, 4);
  reseal(bad, n);
  expect = format("%sk = 1025 is out of range (1 .. 1024)", prefix);
  assert_sql_error_b(db, bad, (int)n, expect, "SELECT gmm_info(?1)");
  free(expect);
  free(bad);
  free(blob);
  close_db(db);
}

/* apply (3): the number of features must be the model's d. */
static void test_errors_d_mismatch(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  assert_sql_error(db, "gmm_predict: the model has 2 features, provided 1",
                   "SELECT gmm_predict(model, 1) FROM models");
  assert_sql_error(db, "gmm_predict_proba: the model has 2 features, provided 3",
                   "SELECT gmm_predict_proba(model, 1, 2, 3) FROM models");
  assert_sql_error(db, "gmm_score: the model has 2 features, provided 4",
                   "SELECT gmm_score(model, 1, 2, 3, 4) FROM models");
  /* Even with NULL features. */
  /* One NULL where a single feature or a vector goes: NULL (apply (2)). */
  assert_sql_null(db, "SELECT gmm_predict(model, NULL) FROM models");
  exec_sql(db, "INSERT INTO models SELECT 'one', gmm_fit(2, x) FROM pts");
  assert_sql_error(db, "gmm_score: the model has 1 feature, provided 2",
                   "SELECT gmm_score(model, 1, 2) FROM models WHERE name = 'one'");
  assert_int_equal(sql_type(db, "SELECT gmm_score(model, 1) FROM models WHERE name = 'one'"),
                   SQLITE_FLOAT);
  close_db(db);
}

/* ========================================================================
** Model forms and caching.
*/

/* apply (5): the model bound as a parameter, as a literal, from a scalar
** subquery, from a join column and from a CTE gives the same results. */
static void test_model_forms_agree(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  int n = 0;
  unsigned char *model = model_named(db, "m", &n);
  /* Every form: the sum of predictions, the total score and every
  ** posterior, as one text. */
  const char *fmt =
      "SELECT sum(gmm_predict(%s, x, y)) || ' ' || total(gmm_score(%s, x, y)) "
      "|| ' ' || group_concat(gmm_predict_proba(%s, x, y), ';') FROM pts%s";
  char *bound = sql_text_b(db, model, n, fmt, "?1", "?1", "?1", "");
  const char *sub = "(SELECT model FROM models)";
  char *subquery = sql_text(db, fmt, sub, sub, sub, "");
  char *joined = sql_text(db, fmt, "m.model", "m.model", "m.model", " JOIN models m");
  char *cte = sql_text(db,
                       "WITH fit AS (SELECT gmm_fit(3, x, y) AS model FROM pts) "
                       "SELECT sum(gmm_predict(fit.model, x, y)) || ' ' || "
                       "total(gmm_score(fit.model, x, y)) || ' ' || "
                       "group_concat(gmm_predict_proba(fit.model, x, y), ';') FROM pts, fit");
  char *hex = malloc((size_t)n * 2 + 4);
  assert_non_null(hex);
  hex[0] = 'x';
  hex[1] = '\'';
  for (int i = 0; i < n; i++) snprintf(hex + 2 + 2 * i, 3, "%02x", model[i]);
  strcat(hex, "'");
  char *literal = sql_text(db, fmt, hex, hex, hex, "");
  assert_non_null(bound);
  assert_string_equal(subquery, bound);
  assert_string_equal(joined, bound);
  assert_string_equal(literal, bound);
  assert_string_equal(cte, bound);
  /* And the sums are what the rows say: 600 rows over labels 0..2. */
  assert_sql_int(db, 600, "SELECT count(gmm_predict((SELECT model FROM models), x, y)) FROM pts");
  free(hex);
  free(bound);
  free(subquery);
  free(joined);
  free(literal);
  free(cte);
  free(model);
  close_db(db);
}

/* Fits n_models different models on pts into models(name, model) as 'm0',
** 'm1', ... and stores each one's per-row scores and predictions computed
** with the model bound as a parameter (one model per statement) in
** expect(name, id, label, score). */
static void fit_models_and_expectations(sqlite3 *db, int n_models) {
  exec_sql(db, "DELETE FROM models");
  for (int j = 0; j < n_models; j++)
    exec_sql(db,
             "INSERT INTO models SELECT 'm%d', gmm_fit('{\"k\":%d,\"seed\":%d,"
             "\"init\":\"random_from_data\"}', x + %d, y) FROM pts",
             j, 2 + j % 3, j, 3 * j);
  assert_sql_int(db, n_models, "SELECT count(DISTINCT model) FROM models");
  exec_sql(db,
           "CREATE TABLE expect(name TEXT, id INTEGER, label INTEGER, score REAL, "
           "proba TEXT, PRIMARY KEY (name, id))");
  for (int j = 0; j < n_models; j++) {
    char name[16];
    snprintf(name, sizeof name, "m%d", j);
    int n = 0;
    unsigned char *model = model_named(db, name, &n);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO expect SELECT ?2, id, gmm_predict(?1, x, y), "
                                        "gmm_score(?1, x, y), gmm_predict_proba(?1, x, y) "
                                        "FROM pts",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, model, n, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    free(model);
  }
}

/* Rows where the join's own model disagrees with the expectation; the
** CROSS JOIN keeps pts outer, so the model changes on every row. */
static const char *INTERLEAVED_MISMATCHES =
    "SELECT count(*) FROM pts p CROSS JOIN models m CROSS JOIN expect e "
    "WHERE e.name = m.name AND e.id = p.id AND ("
    "gmm_predict(m.model, p.x, p.y) IS NOT e.label OR "
    "gmm_score(m.model, p.x, p.y) IS NOT e.score OR "
    "gmm_predict_proba(m.model, p.x, p.y) IS NOT e.proba)";

/* apply (5): two models in one statement each predict with their own
** parameters, in blocks and interleaved row by row. */
static void test_two_models_one_statement(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  fit_models_and_expectations(db, 2);
  assert_sql_int(db, 2 * 600, "SELECT count(*) FROM expect");
  /* The two models do differ on these rows. */
  assert_sql_int(db, 1,
                 "SELECT count(*) > 0 FROM expect a JOIN expect b USING (id) "
                 "WHERE a.name = 'm0' AND b.name = 'm1' AND a.score <> b.score");
  /* Blocks: models outer. */
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM models m CROSS JOIN pts p JOIN expect e "
                 "ON e.name = m.name AND e.id = p.id WHERE "
                 "gmm_predict(m.model, p.x, p.y) IS NOT e.label OR "
                 "gmm_score(m.model, p.x, p.y) IS NOT e.score");
  /* Interleaved. */
  assert_sql_int(db, 0, INTERLEAVED_MISMATCHES);
  /* Per-model aggregates through GROUP BY. */
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM (SELECT m.name, sum(gmm_predict(m.model, p.x, p.y)) AS s "
                 "FROM models m JOIN pts p GROUP BY m.name) a JOIN "
                 "(SELECT name, sum(label) AS s FROM expect GROUP BY name) b USING (name) "
                 "WHERE a.s <> b.s");
  close_db(db);
}

/* apply (5): more models than the cache has slots, interleaved row by row:
** every call still uses its own model. */
static void test_many_models_interleaved(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  fit_models_and_expectations(db, 7);
  assert_sql_int(db, 7 * 600, "SELECT count(*) FROM expect");
  assert_sql_int(db, 0, INTERLEAVED_MISMATCHES);
  /* gmm_info of each in one statement. */
  assert_sql_int(db, 7,
                 "SELECT count(DISTINCT gmm_info(m.model)) FROM pts p CROSS JOIN "
                 "models m WHERE p.id <= 5");
  assert_sql_int(db, 7,
                 "SELECT count(DISTINCT json_extract(gmm_info(model), '$.options.seed')) "
                 "FROM models");
  close_db(db);
}

/* apply (5): a bound model re-bound after sqlite3_reset is the new model,
** not the one decoded for the previous run. */
static void test_rebind_model(void **state) {
  (void)state;
  sqlite3 *db = open_with_model();
  fit_models_and_expectations(db, 2);
  int na = 0, nb = 0;
  unsigned char *a = model_named(db, "m0", &na), *b = model_named(db, "m1", &nb);
  double want_a = sql_double(db, "SELECT total(score) FROM expect WHERE name = 'm0'");
  double want_b = sql_double(db, "SELECT total(score) FROM expect WHERE name = 'm1'");
  assert_true(want_a != want_b);
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT total(gmm_score(?1, x, y)) FROM pts", -1, &stmt, NULL),
      SQLITE_OK);
  const unsigned char *order[] = {a, b, a, b};
  const int sizes[] = {na, nb, na, nb};
  const double wants[] = {want_a, want_b, want_a, want_b};
  for (int r = 0; r < 4; r++) {
    sqlite3_bind_blob(stmt, 1, order[r], sizes[r], SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    double got = sqlite3_column_double(stmt, 0);
    if (got != wants[r]) fail_msg("run %d: total score %.17g, expected %.17g", r, got, wants[r]);
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  free(a);
  free(b);
  close_db(db);
}

/* ========================================================================
** Determinism and options.
*/

/* gmm_fit (6), DESIGN §1: the same rows, order and options give the same
** bytes, in one connection and across connections. */
static void test_determinism(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, "pts", 400, 3, OVERLAPPING, 1.0, 0.0, 5);
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit(3, x, y) FROM pts) = "
                 "(SELECT gmm_fit(3, x, y) FROM pts)");
  const char *spec = "{\"k\":3,\"init\":\"random\",\"n_init\":3,\"seed\":17}";
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit('%s', x, y) FROM pts) = "
                 "(SELECT gmm_fit('%s', x, y) FROM pts)",
                 spec, spec);
  /* INTEGER k and {"k": k} are the same options, so the same model. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit(3, x, y) FROM pts) = "
                 "(SELECT gmm_fit('{\"k\":3}', x, y) FROM pts)");
  /* So are the defaults spelled out. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit(3, x, y) FROM pts) = "
                 "(SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"full\",\"max_iter\":100,"
                 "\"tol\":1e-3,\"reg_covar\":1e-6,\"n_init\":1,\"init\":\"kmeans\","
                 "\"seed\":0}', x, y) FROM pts)");
  int n1 = 0, n2 = 0;
  unsigned char *b1 = sql_blob(db, &n1, "SELECT gmm_fit('%s', x, y) FROM pts", spec);
  sqlite3 *db2 = open_db();
  make_points(db2, "pts", 400, 3, OVERLAPPING, 1.0, 0.0, 5);
  unsigned char *b2 = sql_blob(db2, &n2, "SELECT gmm_fit('%s', x, y) FROM pts", spec);
  assert_int_equal(n1, n2);
  assert_memory_equal(b1, b2, (size_t)n1);
  free(b1);
  free(b2);
  close_db(db2);
  close_db(db);
}

/* gmm_fit (1), apply (4): options take effect and are stored as given. */
static void test_options_effects(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, "pts", 400, 3, OVERLAPPING, 1.0, 0.0, 5);
  /* Every option stored as passed. */
  exec_sql(db,
           "CREATE TABLE m AS SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"full\","
           "\"max_iter\":50,\"tol\":0.01,\"reg_covar\":0.001,\"n_init\":2,"
           "\"init\":\"k-means++\",\"seed\":7}', x, y) AS model FROM pts");
  assert_sql_int(db, 1,
                 "SELECT o ->> '$.k' = 2 AND o ->> '$.covariance_type' = 'full' AND "
                 "o ->> '$.max_iter' = 50 AND o ->> '$.tol' = 0.01 AND "
                 "o ->> '$.reg_covar' = 0.001 AND o ->> '$.n_init' = 2 AND "
                 "o ->> '$.init' = 'k-means++' AND o ->> '$.seed' = 7 "
                 "FROM (SELECT json_extract(gmm_info(model), '$.options') AS o FROM m)");
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(model), '$.best_init') BETWEEN 0 AND 1 "
                 "FROM m");
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(model), '$.n_iter') BETWEEN 1 AND 50 "
                 "FROM m");

  /* A different seed with random initialisation changes the parameters
  ** (stopped early so that both runs cannot reach the same optimum). */
  const char *fmt =
      "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"init\":\"random\","
      "\"max_iter\":2,\"seed\":%d}', x, y)), '$.means') FROM pts";
  char *s1 = sql_text(db, fmt, 1), *s2 = sql_text(db, fmt, 2), *s1b = sql_text(db, fmt, 1);
  assert_string_not_equal(s1, s2);
  assert_string_equal(s1, s1b);
  free(s1);
  free(s2);
  free(s1b);
  /* So does the init method. */
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"init\":\"random\","
                 "\"max_iter\":2}', x, y)), '$.means') <> json_extract(gmm_info(gmm_fit("
                 "'{\"k\":3,\"init\":\"kmeans\",\"max_iter\":2}', x, y)), '$.means') FROM pts");
  static const char *inits[] = {"kmeans", "k-means++", "random", "random_from_data"};
  for (int i = 0; i < 4; i++)
    assert_sql_text(db, inits[i],
                    "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"init\":\"%s\"}', x, y)), "
                    "'$.options.init') FROM pts",
                    inits[i]);

  /* More initialisations never end worse than the first alone: the first
  ** of n_init uses the same stream as n_init 1. */
  double ll1 = sql_double(db,
                          "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"init\":"
                          "\"random\",\"n_init\":1,\"seed\":3}', x, y)), "
                          "'$.log_likelihood') FROM pts");
  double ll5 = sql_double(db,
                          "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"init\":"
                          "\"random\",\"n_init\":5,\"seed\":3}', x, y)), "
                          "'$.log_likelihood') FROM pts");
  if (!(ll5 >= ll1)) fail_msg("n_init 5 ended at %.17g, below n_init 1's %.17g", ll5, ll1);
  assert_sql_int(db, 1,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"n_init\":5}', x, y)), "
                 "'$.best_init') BETWEEN 0 AND 4 FROM pts");

  /* max_iter 0: the initialisation only, not converged. */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_iter' = 0 AND json_type(i, '$.converged') = 'false' FROM "
                 "(SELECT gmm_info(gmm_fit('{\"k\":3,\"max_iter\":0}', x, y)) AS i FROM pts)");
  /* tol 0 never converges before max_iter. */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_iter' = 7 AND json_type(i, '$.converged') = 'false' FROM "
                 "(SELECT gmm_info(gmm_fit('{\"k\":3,\"max_iter\":7,\"tol\":0}', x, y)) AS i "
                 "FROM pts)");
  /* reg_covar is on every covariance diagonal. */
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM json_tree((SELECT gmm_info(gmm_fit("
                 "'{\"k\":3,\"reg_covar\":10}', x, y)) FROM pts), '$.covariances') "
                 "WHERE path GLOB '$.covariances\\[[0-9]\\]' AND ("
                 "json_extract(value, '$[0][0]') < 10 OR json_extract(value, '$[1][1]') < 10)");
  assert_sql_int(db, 3,
                 "SELECT count(*) FROM json_each((SELECT gmm_info(gmm_fit("
                 "'{\"k\":3,\"reg_covar\":10}', x, y)) FROM pts), '$.covariances') "
                 "WHERE json_extract(value, '$[0][0]') >= 10 AND "
                 "json_extract(value, '$[1][1]') >= 10");
  close_db(db);
}

/* ========================================================================
** Posteriors and log density.
*/

/* apply (1): posteriors sum to 1, lie in [0, 1], and their argmax (lowest
** index on ties) is gmm_predict. */
static void test_proba_sum_and_argmax(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, "pts", 500, 3, OVERLAPPING, 1.0, 0.0, 9);
  exec_sql(db, "CREATE TABLE models AS SELECT gmm_fit(3, x, y) AS model FROM pts");
  exec_sql(db,
           "CREATE TABLE p AS SELECT pts.id, gmm_predict(model, x, y) AS label, "
           "gmm_predict_proba(model, x, y) AS proba FROM pts, models");
  assert_sql_int(db, 500, "SELECT count(*) FROM p WHERE json_array_length(proba) = 3");
  assert_sql_int(db, 1,
                 "SELECT max(abs(s - 1)) <= 1e-12 FROM (SELECT (SELECT sum(value) FROM "
                 "json_each(proba)) AS s FROM p)");
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM p, json_each(p.proba) "
                 "WHERE json_each.type NOT IN ('real', 'integer') "
                 "OR json_each.value < 0 OR json_each.value > 1");
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM p WHERE label IS NOT (SELECT key FROM "
                 "json_each(proba) ORDER BY value DESC, key ASC LIMIT 1)");
  /* Overlapping data: some rows are not certain. */
  assert_sql_int(db, 1,
                 "SELECT count(*) > 10 FROM p, json_each(p.proba) "
                 "WHERE json_each.value BETWEEN 0.1 AND 0.9");
  /* gmm_predict is an INTEGER in 0 .. k-1. */
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM p WHERE typeof(label) <> 'integer' OR "
                 "label NOT BETWEEN 0 AND 2");
  close_db(db);
}

/* apply (1): gmm_score is log p(x) = log sum_j w_j N(x; mu_j, S_j),
** checked against the parameters gmm_info reports. */
static void test_score_is_log_density(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, "pts", 500, 3, OVERLAPPING, 1.0, 0.0, 9);
  exec_sql(db, "CREATE TABLE models AS SELECT gmm_fit(3, x, y) AS model FROM pts");
  double w[3], mu[3][2], s[3][2][2];
  const char *info = "(SELECT gmm_info(model) FROM models)";
  for (int j = 0; j < 3; j++) {
    w[j] = sql_double(db, "SELECT json_extract(%s, '$.weights[%d]')", info, j);
    for (int a = 0; a < 2; a++) {
      mu[j][a] = sql_double(db, "SELECT json_extract(%s, '$.means[%d][%d]')", info, j, a);
      for (int b = 0; b < 2; b++)
        s[j][a][b] =
            sql_double(db, "SELECT json_extract(%s, '$.covariances[%d][%d][%d]')", info, j, a, b);
    }
  }
  static const double points[][2] = {{0, 0}, {1.5, 0}, {0.7, 1.3}, {-3, 4}, {10, -10}, {0.3, 0.2}};
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    double x = points[i][0], y = points[i][1], p = 0, post[3];
    for (int j = 0; j < 3; j++) {
      double det = s[j][0][0] * s[j][1][1] - s[j][0][1] * s[j][1][0];
      double dx = x - mu[j][0], dy = y - mu[j][1];
      double q = (s[j][1][1] * dx * dx - 2 * s[j][0][1] * dx * dy + s[j][0][0] * dy * dy) / det;
      post[j] = w[j] * exp(-0.5 * q) / (2 * TEST_PI * sqrt(det));
      p += post[j];
    }
    double score = sql_double(db, "SELECT gmm_score(model, %.17g, %.17g) FROM models", x, y);
    assert_close(score, log(p), 1e-10 * fabs(log(p)) + 1e-12);
    for (int j = 0; j < 3; j++) {
      double got = sql_double(db,
                              "SELECT json_extract(gmm_predict_proba(model, %.17g, %.17g), "
                              "'$[%d]') FROM models",
                              x, y, j);
      assert_close(got, post[j] / p, 1e-10);
    }
  }
  /* Higher near a mean than far away; finite and REAL. */
  assert_sql_int(db, 1,
                 "SELECT gmm_score(model, %.17g, %.17g) > gmm_score(model, 20, 20) "
                 "FROM models",
                 mu[0][0], mu[0][1]);
  assert_int_equal(sql_type(db, "SELECT gmm_score(model, 20, 20) FROM models"), SQLITE_FLOAT);
  /* The mean per-row score of the training rows is the log-likelihood per
  ** row gmm_info reports. */
  double total = sql_double(db, "SELECT total(gmm_score(model, x, y)) FROM pts, models");
  double ll = sql_double(db, "SELECT json_extract(%s, '$.log_likelihood')", info);
  assert_close(total, ll, 1e-9 * fabs(ll));
  close_db(db);
}

/* apply (1): ties go to the lowest component; a hand-made model with known
** parameters predicts, scores and reports exactly them. */
static void test_crafted_model(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  /* 1-D: two components at -1 and +1 with equal weights and variances. */
  const double w[2] = {0.5, 0.5}, mu[2] = {-1, 1}, var[2] = {1, 1};
  size_t n = craft_size(2, 1);
  unsigned char *blob = malloc(n);
  assert_non_null(blob);
  craft_blob(blob, 2, 1, w, mu, var);
  assert_sql_int_b(db, blob, (int)n, 0, "SELECT gmm_predict(?1, 0)");
  assert_sql_int_b(db, blob, (int)n, 0, "SELECT gmm_predict(?1, -0.5)");
  assert_sql_int_b(db, blob, (int)n, 1, "SELECT gmm_predict(?1, 0.5)");
  assert_sql_int_b(db, blob, (int)n, 1,
                   "SELECT abs(json_extract(gmm_predict_proba(?1, 0), '$[0]') - 0.5) < 1e-15 "
                   "AND abs(json_extract(gmm_predict_proba(?1, 0), '$[1]') - 0.5) < 1e-15");
  double want = log(exp(-0.5) / sqrt(2 * TEST_PI));
  assert_close(sql_double_b(db, blob, (int)n, "SELECT gmm_score(?1, 0)"), want, 1e-14);
  assert_sql_int_b(db, blob, (int)n, 1,
                   "SELECT i ->> '$.k' = 2 AND i ->> '$.d' = 1 AND "
                   "i ->> '$.format_version' = 1 AND "
                   "i ->> '$.means' = '[[-1],[1]]' AND "
                   "i ->> '$.covariances' = '[[[1]],[[1]]]' AND "
                   "i ->> '$.weights' = '[0.5,0.5]' AND i ->> '$.n_samples' = 100 AND "
                   "i ->> '$.log_likelihood' = -250 AND i ->> '$.n_iter' = 5 "
                   "FROM (SELECT gmm_info(?1) AS i)");
  /* BIC = -2 LL + p ln n with p = 2 + 2 + 1. */
  assert_close(sql_double_b(db, blob, (int)n, "SELECT gmm_bic(?1)"), 500 + 5 * log(100.0), 1e-12);
  assert_close(sql_double_b(db, blob, (int)n, "SELECT gmm_aic(?1)"), 510, 1e-12);
  /* Identical components: every point ties. */
  const double same_mu[2] = {3, 3};
  craft_blob(blob, 2, 1, w, same_mu, var);
  assert_sql_int_b(db, blob, (int)n, 0,
                   "SELECT gmm_predict(?1, 3) + gmm_predict(?1, -7) + "
                   "gmm_predict(?1, 100)");
  free(blob);
  close_db(db);
}

/* blob (4), apply (1), (4): the committed format-version-1 fixture
** (tests/fixtures/model_v1.bin, written once by tests/make_blob_fixture.c;
** the values below are the ones it printed, as in tests/test_blob.c) still
** decodes through SQL: gmm_info reports format_version 1 and the stored
** numbers bit for bit, and the apply functions use it. Run from the
** repository root. */
static void test_fixture_v1_through_sql(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *blob = read_binary("tests/fixtures/model_v1.bin", &n);
  assert_int_equal(n, 200);
  const char *info = "(SELECT gmm_info(?1))";
  assert_sql_int_b(db, blob, n, 1, "SELECT json_extract(%s, '$.format_version')", info);
  assert_sql_int_b(db, blob, n, 2, "SELECT json_extract(%s, '$.k')", info);
  assert_sql_int_b(db, blob, n, 2, "SELECT json_extract(%s, '$.d')", info);
  char *type = sql_text_b(db, blob, n, "SELECT json_extract(%s, '$.covariance_type')", info);
  assert_string_equal(type, "full");
  free(type);
  static const double weights[2] = {0.58333333333333326, 0.41666666666666669};
  static const double means[4] = {6.2000000000000002, 7.5142857142857142, 1.0800000000000001,
                                  2.02};
  for (int j = 0; j < 2; j++) {
    double w = sql_double_b(db, blob, n, "SELECT json_extract(%s, '$.weights[%d]')", info, j);
    if (w != weights[j]) fail_msg("weight %d is %.17g, expected %.17g", j, w, weights[j]);
    for (int p = 0; p < 2; p++) {
      double mu =
          sql_double_b(db, blob, n, "SELECT json_extract(%s, '$.means[%d][%d]')", info, j, p);
      if (mu != means[2 * j + p])
        fail_msg("mean [%d][%d] is %.17g, expected %.17g", j, p, mu, means[2 * j + p]);
    }
  }
  assert_sql_int_b(db, blob, n, 12, "SELECT json_extract(%s, '$.n_samples')", info);
  assert_sql_int_b(db, blob, n, 3, "SELECT json_extract(%s, '$.n_skipped')", info);
  /* Keys version 2 added read as their version-1 meaning. */
  assert_sql_int_b(db, blob, n, 1,
                   "SELECT json_type(i, '$.warm_started') = 'false' AND "
                   "json_type(i, '$.options.weighted') = 'false' AND "
                   "json_type(i, '$.candidates') IS NULL AND "
                   "i ->> '$.options.k' = 2 AND i ->> '$.options.covariance_type' = 'full' "
                   "FROM (SELECT gmm_info(?1) AS i)");
  assert_close(sql_double_b(db, blob, n, "SELECT gmm_score(?1, 2, 2.5)"), -12.879812673433936,
               1e-9 * 12.879812673433936);
  /* The row (2, 2.5) sits by the mean (1.08, 2.02) of component 1. */
  assert_sql_int_b(db, blob, n, 1, "SELECT gmm_predict(?1, 2, 2.5)");
  assert_sql_int_b(db, blob, n, 1, "SELECT gmm_bic(?1) = json_extract(gmm_info(?1), '$.bic')");
  free(blob);
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_debug),
      cmocka_unit_test(test_fit_predict_round_trip),
      cmocka_unit_test(test_fit_far_from_origin),
      cmocka_unit_test(test_info_keys_and_types),
      cmocka_unit_test(test_bic_aic),
      cmocka_unit_test(test_json_subtype),
      cmocka_unit_test(test_group_by_100_groups),
      cmocka_unit_test(test_group_by_memory),
      cmocka_unit_test(test_null_rows_skipped),
      cmocka_unit_test(test_fit_no_usable_rows),
      cmocka_unit_test(test_apply_nulls),
      cmocka_unit_test(test_errors_argument_counts),
      cmocka_unit_test(test_errors_spec_kind),
      cmocka_unit_test(test_errors_option_types),
      cmocka_unit_test(test_errors_option_boolean),
      cmocka_unit_test(test_errors_option_ranges),
      cmocka_unit_test(test_errors_option_integer_overflow),
      cmocka_unit_test(test_errors_spec_differs),
      cmocka_unit_test(test_errors_fit_features),
      cmocka_unit_test(test_errors_text_quote_utf8),
      cmocka_unit_test(test_errors_apply_features),
      cmocka_unit_test(test_errors_k_larger_than_rows),
      cmocka_unit_test(test_errors_fit_fails),
      cmocka_unit_test(test_errors_model_not_blob),
      cmocka_unit_test(test_errors_model_invalid_blob),
      cmocka_unit_test(test_errors_model_crafted),
      cmocka_unit_test(test_errors_d_mismatch),
      cmocka_unit_test(test_model_forms_agree),
      cmocka_unit_test(test_two_models_one_statement),
      cmocka_unit_test(test_many_models_interleaved),
      cmocka_unit_test(test_rebind_model),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_options_effects),
      cmocka_unit_test(test_proba_sum_and_argmax),
      cmocka_unit_test(test_score_is_log_density),
      cmocka_unit_test(test_crafted_model),
      cmocka_unit_test(test_fixture_v1_through_sql),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
