/*
** test_mclust_sql.c -- cmocka tests of mclust's models through SQL (issue
** 12): the fourteen covariance_type names and 'all', the options
** criterion and hc_rows, init 'labels' with its label argument, init
** 'hc', gmm_icl and the keys gmm_info gained, the selection default, and
** what the passes refuse.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL (tests/sql_harness.h). Each test's comment cites the numbered
** requirements it checks, as the sources state them:
**
**   spec (N)     ext/sqlite/gmm_spec.c      the options
**   gmm_fit (N)  ext/sqlite/gmm_fit_sql.c   the label argument
**   apply (N)    ext/sqlite/gmm_apply.c     gmm_icl, gmm_info
**   fit (N)      ext/core/gmm_fit.c         labels, hc, ICL, selection
**
** Error texts are asserted whole; after every expected error the harness
** checks that the connection still answers a simple query.
*/
#include "sql_harness.h"

/* mclust's fourteen names, and the name gmm_info gives each type. */
static const char *const MODELS[14] = {"EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
                                       "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"};
static const char *const INFO_NAMES[14] = {"EII", "spherical", "EEI", "VEI",  "EVI",
                                           "diag", "tied",     "VEE", "EVE",  "VVE",
                                           "EEV",  "VEV",      "EVV", "full"};

/* The repository's Old Faithful table (sql/faithful.sql). */
static sqlite3 *open_faithful(void) {
  sqlite3 *db = open_db();
  FILE *f = fopen("sql/faithful.sql", "rb");
  if (!f) fail_msg("cannot open sql/faithful.sql (run the tests from the repository root)");
  char *sql = malloc(1 << 16);
  assert_non_null(sql);
  size_t n = fread(sql, 1, (1 << 16) - 1, f);
  assert_true(feof(f));
  fclose(f);
  sql[n] = 0;
  char *errmsg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &errmsg) != SQLITE_OK)
    fail_msg("sql/faithful.sql: %s", errmsg ? errmsg : "?");
  free(sql);
  exec_sql(db, "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  return db;
}

#define B(name) "(SELECT b FROM blobs WHERE name = '" name "')"

/* spec (2): every name of mclust's fourteen fits, gmm_info names the type
** (scikit-learn's name for its four) and the model (mclust's name); 'all'
** is the fourteen as a selection; criterion and hc_rows are read, checked
** and shown in options. */
static void test_option_names(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  for (int t = 0; t < 14; t++) {
    char *info = format("gmm_info(gmm_fit('{\"k\":2,\"covariance_type\":\"%s\"}', eruptions, "
                        "waiting))",
                        MODELS[t]);
    assert_sql_text(db, INFO_NAMES[t], "SELECT %s ->> '$.covariance_type' FROM faithful", info);
    assert_sql_text(db, MODELS[t], "SELECT %s ->> '$.model_name' FROM faithful", info);
    assert_sql_int(db, 4, "SELECT %s ->> '$.format_version' FROM faithful", info);
    free(info);
  }
  assert_sql_int(db, 14,
                 "SELECT json_array_length(gmm_info(gmm_fit('{\"k\":2,\"covariance_type\":\"all\","
                 "\"init\":\"kmeans\"}', eruptions, waiting)), '$.candidates') FROM faithful");
  assert_sql_error(db,
                   "gmm_fit: option covariance_type must be one of 'full', 'tied', 'diag', "
                   "'spherical', 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', 'EEE', 'VEE', 'EVE', "
                   "'VVE', 'EEV', 'VEV', 'EVV', 'VVV', a list of them or 'all', provided 'eve'",
                   "SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"eve\"}', eruptions, waiting) "
                   "FROM faithful");
  assert_sql_error(db, "gmm_fit: option covariance_type lists 'tied' twice",
                   "SELECT gmm_fit('{\"k\":2,\"covariance_type\":[\"EEE\",\"tied\"]}', eruptions, "
                   "waiting) FROM faithful");
  assert_sql_error(db,
                   "gmm_fit: option criterion must be one of 'bic', 'icl', 'aic', provided 'BIC'",
                   "SELECT gmm_fit('{\"k\":2,\"criterion\":\"BIC\"}', eruptions, waiting) FROM "
                   "faithful");
  assert_sql_error(db, "gmm_fit: option hc_rows must be between 2 and 20000, provided 1",
                   "SELECT gmm_fit('{\"k\":2,\"hc_rows\":1}', eruptions, waiting) FROM faithful");
  assert_sql_error(db, "gmm_fit: option hc_rows must be an integer, provided real 2.5",
                   "SELECT gmm_fit('{\"k\":2,\"hc_rows\":2.5}', eruptions, waiting) FROM faithful");
  assert_sql_error(db, "gmm_fit: option hc_rows must be an integer, provided null",
                   "SELECT gmm_fit('{\"k\":2,\"hc_rows\":null}', eruptions, waiting) FROM faithful");
  assert_sql_error(db, "gmm_fit: option hc_rows must be an integer, provided text '5'",
                   "SELECT gmm_fit('{\"k\":2,\"hc_rows\":\"5\"}', eruptions, waiting) FROM "
                   "faithful");
  assert_sql_error(db,
                   "gmm_fit: option criterion must be one of 'bic', 'icl', 'aic', provided null",
                   "SELECT gmm_fit('{\"k\":2,\"criterion\":null}', eruptions, waiting) FROM "
                   "faithful");
  assert_sql_error(db,
                   "gmm_fit: option init must be one of 'kmeans', 'k-means++', 'random', "
                   "'random_from_data', 'labels', 'hc', provided 'HC'",
                   "SELECT gmm_fit('{\"k\":2,\"init\":\"HC\"}', eruptions, waiting) FROM faithful");
  assert_sql_text(db, "{\"k\":2,\"covariance_type\":\"EVE\",\"max_iter\":100,\"tol\":0.001,"
                      "\"reg_covar\":1e-06,\"n_init\":1,\"init\":\"hc\",\"seed\":0,"
                      "\"weighted\":false,\"missing\":\"marginalize\",\"hc_rows\":100,"
                      "\"criterion\":\"icl\"}",
                  "SELECT gmm_info(gmm_fit('{\"k\":2,\"covariance_type\":\"EVE\",\"init\":\"hc\","
                  "\"hc_rows\":100,\"criterion\":\"icl\"}', eruptions, waiting)) -> '$.options' "
                  "FROM faithful");
  close_db(db);
}

/* gmm_fit (10), fit (13): init 'labels' reads a label per row before the
** features (after the weight); the fit is the same whatever order the rows
** come in; a bad label is an error naming the row and the value. */
static void test_labels(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  const char *spec = "'{\"k\":2,\"init\":\"labels\",\"covariance_type\":\"VEV\"}'";
  exec_sql(db,
           "INSERT INTO blobs SELECT 'a', gmm_fit(%s, eruptions > 3, eruptions, waiting) "
           "FROM faithful;"
           "INSERT INTO blobs SELECT 'b', gmm_fit(%s, eruptions > 3, eruptions, waiting) "
           "FROM (SELECT * FROM faithful ORDER BY waiting DESC, eruptions)",
           spec, spec);
  assert_sql_int(db, 1, "SELECT " B("a") " = " B("b"));
  assert_sql_text(db, "labels", "SELECT gmm_info(" B("a") ") ->> '$.options.init'");
  /* The start is the partition: its components are the short and the long
  ** eruptions, in label order. */
  assert_sql_int(db, 1, "SELECT gmm_info(" B("a") ") ->> '$.means[0][0]' < 3 AND "
                        "gmm_info(" B("a") ") ->> '$.means[1][0]' > 3");
  /* Weighted: the weight first, then the label; weights of 1 change nothing
  ** but the flag. */
  assert_sql_int(db, 1,
                 "SELECT gmm_info(gmm_fit('{\"k\":2,\"init\":\"labels\",\"covariance_type\":"
                 "\"VEV\",\"weighted\":true}', 1, eruptions > 3, eruptions, waiting)) -> '$.means' "
                 "= gmm_info(" B("a") ") -> '$.means' FROM faithful");
  /* A NaN label arrives as NULL (SQLite stores NaN as NULL). */
  static const struct {
    const char *label, *shown;
  } bad[] = {{"'a'", "'a'"}, {"NULL", "NULL"}, {"2", "2"}, {"-1", "-1"}, {"1.0", "1.0"},
             {"x'00'", "a BLOB"}, {"(0.0 / 0.0)", "NULL"}, {"'1'", "'1'"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *want = format("gmm_fit: row 1, argument 2 (label) must be an integer from 0 to k - 1 = "
                        "1 (init 'labels'), provided %s",
                        bad[i].shown);
    assert_sql_error(db, want, "SELECT gmm_fit('{\"k\":2,\"init\":\"labels\"}', %s, eruptions, "
                               "waiting) FROM faithful",
                     bad[i].label);
    free(want);
  }
  assert_sql_error(db,
                   "gmm_fit: no row has label 1: init 'labels' needs every label from 0 to k - 1 "
                   "= 1",
                   "SELECT gmm_fit('{\"k\":2,\"init\":\"labels\"}', 0, eruptions, waiting) FROM "
                   "faithful");
  assert_sql_error(db, "gmm_fit: init 'labels' does not combine with a list of k",
                   "SELECT gmm_fit('{\"k\":[2,3],\"init\":\"labels\"}', 0, eruptions, waiting) "
                   "FROM faithful");
  assert_sql_error(db,
                   "gmm_fit: expected a spec, a label and at least one feature (init 'labels'), "
                   "provided 2 arguments",
                   "SELECT gmm_fit('{\"k\":2,\"init\":\"labels\"}', 0) FROM faithful");
  /* A warm start from a labels model reads no label. */
  assert_sql_int(db, 1,
                 "SELECT gmm_info(gmm_fit(" B("a") ", eruptions, waiting)) ->> '$.warm_started' "
                 "FROM faithful");
  close_db(db);
}

/* apply (4), fit (14): gmm_icl is BIC - 2 sum_i ln max_j p(j | x_i), the
** posteriors being gmm_predict_proba's; gmm_info shows it; a model from
** passes has none (NULL). */
static void test_icl(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  for (int t = 0; t < 14; t++) {
    exec_sql(db,
             "INSERT OR REPLACE INTO blobs SELECT 'm', gmm_fit('{\"k\":3,\"covariance_type\":"
             "\"%s\"}', eruptions, waiting) FROM faithful",
             MODELS[t]);
    double icl = sql_double(db, "SELECT gmm_icl(" B("m") ")");
    double bic = sql_double(db, "SELECT gmm_bic(" B("m") ")");
    double map = sql_double(db, "SELECT sum(ln(p)) FROM (SELECT (SELECT max(value) FROM "
                                "json_each(gmm_predict_proba(" B("m") ", eruptions, waiting))) "
                                "AS p FROM faithful)");
    double want = bic - 2.0 * map;
    if (!(fabs(icl - want) <= 1e-9 * fabs(want)))
      fail_msg("%s: gmm_icl %.17g, BIC - 2 sum ln max p = %.17g", MODELS[t], icl, want);
    assert_true(icl >= bic);
    assert_sql_int(db, 1, "SELECT gmm_info(" B("m") ") ->> '$.icl' = gmm_icl(" B("m") ")");
  }
  exec_sql(db, "INSERT INTO blobs SELECT 's', gmm_start(gmm_init(2, eruptions, waiting)) FROM "
               "faithful");
  assert_sql_null(db, "SELECT gmm_icl(" B("s") ")");
  assert_sql_text(db, "null", "SELECT json_type(gmm_info(" B("s") "), '$.icl')");
  assert_sql_error(db,
                   "gmm_icl: argument 1 (model) must be a model BLOB from gmm_fit, provided "
                   "an INTEGER",
                   "SELECT gmm_icl(3)");
  /* apply (2), (3): NULL gives NULL; a wrong count, TEXT and a corrupt
  ** BLOB are errors; the connection keeps working after each. */
  assert_sql_null(db, "SELECT gmm_icl(NULL)");
  assert_sql_error(db, "wrong number of arguments to function gmm_icl()", "SELECT gmm_icl()");
  assert_sql_error(db,
                   "gmm_icl: argument 1 (model) must be a model BLOB from gmm_fit, provided "
                   "TEXT",
                   "SELECT gmm_icl('model')");
  assert_sql_error(db,
                   "gmm_icl: argument 1 (model) is not a valid gmm model: the checksum does not "
                   "match its contents",
                   "SELECT gmm_icl(CAST(substr(" B("s") ", 1, 100) || x'ff' || substr(" B("s")
                   ", 102) AS BLOB))");
  assert_sql_error(db,
                   "gmm_icl: argument 1 (model) is not a valid gmm model: it is too short (3 "
                   "bytes; the smallest model has 104)",
                   "SELECT gmm_icl(x'000102')");
  close_db(db);
}

/* spec (3), fit (11): criterion picks the candidate of the lowest ICL or
** AIC; every candidate carries bic, aic and icl. */
static void test_criterion(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  static const char *const criteria[3] = {"bic", "icl", "aic"};
  for (int c = 0; c < 3; c++) {
    exec_sql(db,
             "INSERT OR REPLACE INTO blobs SELECT 'sel', gmm_fit('{\"k\":[1,2,3,4],"
             "\"covariance_type\":[\"VVV\",\"EEE\",\"EVE\",\"VEI\"],\"criterion\":\"%s\"}', "
             "eruptions, waiting) FROM faithful",
             criteria[c]);
    assert_sql_int(db, 16,
                   "SELECT count(*) FROM json_each(gmm_info(" B("sel") "), '$.candidates') "
                   "WHERE value ->> '$.failed' = 0 AND value ->> '$.bic' IS NOT NULL AND "
                   "value ->> '$.aic' IS NOT NULL AND value ->> '$.icl' >= value ->> '$.bic'");
    assert_sql_int(db, 1,
                   "SELECT (SELECT (value ->> '$.k') || (value ->> '$.covariance_type') FROM "
                   "json_each(gmm_info(" B("sel") "), '$.candidates') WHERE value ->> '$.failed' "
                   "= 0 ORDER BY value ->> '$.%s', key LIMIT 1) = (gmm_info(" B("sel") ") ->> "
                   "'$.k') || (gmm_info(" B("sel") ") ->> '$.covariance_type')",
                   criteria[c]);
    assert_sql_text(db, criteria[c], "SELECT gmm_info(" B("sel") ") ->> '$.options.criterion'");
  }
  close_db(db);
}

/* spec (3), fit (11), (13): a selection without init starts from mclust's
** hierarchical tree, and over the fourteen models and k 1..9 on Old
** Faithful chooses what mclust chooses: EEE with 3 components, BIC
** 2314.296 (mclust's -2314.296 at tight tolerance; tests/oracle/
** mclust_fixtures.h). A candidate equals the single fit of its options
** with init 'hc'. */
static void test_faithful_selection(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  exec_sql(db, "INSERT INTO blobs SELECT 'sel', gmm_fit('{\"k\":[1,2,3,4,5,6,7,8,9],"
               "\"covariance_type\":\"all\",\"tol\":1e-8,\"max_iter\":10000}', eruptions, "
               "waiting) FROM faithful");
  assert_sql_text(db, "EEE", "SELECT gmm_info(" B("sel") ") ->> '$.model_name'");
  assert_sql_int(db, 3, "SELECT gmm_info(" B("sel") ") ->> '$.k'");
  assert_sql_text(db, "hc", "SELECT gmm_info(" B("sel") ") ->> '$.options.init'");
  assert_sql_int(db, 126, "SELECT json_array_length(gmm_info(" B("sel") "), '$.candidates')");
  double bic = sql_double(db, "SELECT gmm_bic(" B("sel") ")");
  if (!(fabs(bic - 2314.2957) < 1e-3)) fail_msg("BIC %.10g, mclust 2314.2957", bic);
  assert_sql_int(db, 1,
                 "SELECT (SELECT value ->> '$.bic' FROM json_each(gmm_info(" B("sel") "), "
                 "'$.candidates') WHERE value ->> '$.k' = 2 AND value ->> '$.covariance_type' = "
                 "'VEV') = gmm_bic(gmm_fit('{\"k\":2,\"covariance_type\":\"VEV\",\"init\":\"hc\","
                 "\"tol\":1e-8,\"max_iter\":10000}', eruptions, waiting)) FROM faithful");
  close_db(db);
}

/* Passes (pass (N), istate (7), stats (8)) of mclust's models: gmm_init
** with EVE and init 'hc' gives a version 3 state, gmm_start builds the
** tree on the sample, gmm_estep gives version 3 statistics, and the M-step
** of statistics merged from two parts equals gmm_fit warm-started from the
** same model for one iteration (the iterative M-step starts from the
** previous covariances in both); labels, criterion and hc_rows are
** refused. */
static void test_passes(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  static const char *const types[3] = {"EVE", "VEV", "EII"};
  for (int t = 0; t < 3; t++) {
    exec_sql(db, "DELETE FROM blobs");
    exec_sql(db,
             "INSERT INTO blobs SELECT 'state', gmm_init('{\"k\":3,\"covariance_type\":\"%s\","
             "\"init\":\"hc\"}', eruptions, waiting) FROM faithful",
             types[t]);
    assert_sql_int(db, 3, "SELECT gmm_stats_info(" B("state") ") ->> '$.format_version'");
    exec_sql(db, "INSERT INTO blobs SELECT 'm0', gmm_start(" B("state") ");"
                 "INSERT INTO blobs SELECT 'stats', gmm_merge(s) FROM ("
                 "  SELECT gmm_estep(" B("m0") ", eruptions, waiting) AS s FROM faithful "
                 "  GROUP BY rowid %% 2);"
                 "INSERT INTO blobs SELECT 'm1', gmm_mstep(" B("m0") ", " B("stats") ")");
    assert_sql_int(db, 3, "SELECT gmm_stats_info(" B("stats") ") ->> '$.format_version'");
    assert_sql_text(db, types[t], "SELECT gmm_info(" B("m1") ") ->> '$.model_name'");
    assert_sql_text(db, "hc", "SELECT gmm_info(" B("m0") ") ->> '$.options.init'");
    /* Every row is in the sample (272 < 10000), so gmm_start's model is
    ** gmm_fit's with max_iter 0 (istate (4)) and one pass is one iteration. */
    exec_sql(db,
             "INSERT INTO blobs SELECT 'fit', gmm_fit('{\"k\":3,\"covariance_type\":\"%s\","
             "\"init\":\"hc\",\"max_iter\":1,\"tol\":0}', eruptions, waiting) FROM faithful",
             types[t]);
    double worst = sql_double(
        db, "SELECT max(abs(a.value - b.value) / max(abs(b.value), 1e-300)) FROM "
            "json_tree(gmm_info(" B("m1") ")) a JOIN json_tree(gmm_info(" B("fit") ")) b "
            "ON a.fullkey = b.fullkey WHERE a.type IN ('real', 'integer') AND "
            "(a.fullkey LIKE '$.weights%%' OR a.fullkey LIKE '$.means%%' OR "
            "a.fullkey LIKE '$.covariances%%')");
    assert_sql_int(db, 3 + 3 * 2 + (t == 2 ? 3 : 3 * 4), /* weights, means, covariances */
                   "SELECT count(*) FROM json_tree(gmm_info(" B("m1") ")) WHERE type IN "
                   "('real', 'integer') AND (fullkey LIKE '$.weights%%' OR fullkey LIKE "
                   "'$.means%%' OR fullkey LIKE '$.covariances%%')");
    if (!(worst <= 1e-10)) fail_msg("%s: passes and gmm_fit differ by %g", types[t], worst);
  }
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) has init 'labels' (gmm_fit's: the passes start "
                   "from a sample, which carries no labels)",
                   "SELECT gmm_init('{\"k\":2,\"init\":\"labels\"}', eruptions, waiting) FROM "
                   "faithful");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) has criterion or hc_rows (options of gmm_fit's "
                   "selection, and of its hierarchical start: gmm_start builds the tree on at "
                   "most 2000 rows of the sample)",
                   "SELECT gmm_init('{\"k\":2,\"criterion\":\"icl\"}', eruptions, waiting) FROM "
                   "faithful");
  close_db(db);
}

/* apply (1), (4): the apply functions, gmm_components and gmm_sample work
** on every model through its stored covariances. */
static void test_apply_every_model(void **state) {
  (void)state;
  sqlite3 *db = open_faithful();
  for (int t = 0; t < 14; t++) {
    exec_sql(db,
             "INSERT OR REPLACE INTO blobs SELECT 'm', gmm_fit('{\"k\":3,\"covariance_type\":"
             "\"%s\",\"init\":\"hc\"}', eruptions, waiting) FROM faithful",
             MODELS[t]);
    assert_sql_int(db, 272,
                   "SELECT count(*) FROM faithful WHERE gmm_predict(" B("m") ", eruptions, waiting) "
                   "= (SELECT key FROM json_each(gmm_predict_proba(" B("m") ", eruptions, "
                   "waiting)) ORDER BY value DESC, key LIMIT 1)");
    double ll = sql_double(db, "SELECT sum(gmm_score(" B("m") ", eruptions, waiting)) FROM "
                               "faithful");
    double stored = sql_double(db, "SELECT gmm_info(" B("m") ") ->> '$.log_likelihood'");
    if (!(fabs(ll - stored) <= 1e-9 * fabs(stored)))
      fail_msg("%s: sum of gmm_score %.17g, log_likelihood %.17g", MODELS[t], ll, stored);
    assert_sql_int(db, 3, "SELECT count(*) FROM gmm_components(" B("m") ")");
    assert_sql_int(db, 50, "SELECT count(*) FROM gmm_sample(" B("m") ", 50, 1)");
  }
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_option_names),   cmocka_unit_test(test_labels),
      cmocka_unit_test(test_icl),            cmocka_unit_test(test_criterion),
      cmocka_unit_test(test_faithful_selection), cmocka_unit_test(test_passes),
      cmocka_unit_test(test_apply_every_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
