/*
** test_vectors.c -- cmocka tests, through SQL, of vector arguments
** (ext (5) in ext/sqlite/gmm_ext.c): every function that takes features
** also takes ONE vector argument, a JSON array of numbers or a BLOB of
** little-endian float32 values (sqlite-vec's layout); float64 BLOBs are
** read when gmm_fit's option vector_type says "float64", and by the apply
** functions (gmm_predict, gmm_predict_proba, gmm_score) when the BLOB is
** 8*d bytes for the model's d. See gmm_read_vector.
**
** Same harness as tests/test_options.c (tests/sql_harness.h): ":memory:"
** with the system libsqlite3, the extension from $GMM_EXTENSION (default
** ./gmm), everything through SQL. Requirements are cited as the sources
** state them:
**
**   ext (N)      ext/sqlite/gmm_ext.c      vectors: ext (5)
**   gmm_fit (N)  ext/sqlite/gmm_fit_sql.c  the aggregate
**   apply (N)    ext/sqlite/gmm_apply.c    predict, proba, score
**
** What is checked:
**   - a vector gives the byte-identical model BLOB, and the identical
**     per-row results, as the same values given as separate arguments:
**     JSON written with 17 significant digits (exact), json_array() over
**     values with at most 15 significant digits (SQLite's json_array
**     prints REALs with 15 digits, so it is exact only for such values),
**     float32 BLOBs (equal to the float32-rounded values), float64 BLOBs;
**     weighted fits, warm starts, d = 1 and d = 1000 too;
**   - every error text, whole;
**   - NULL vectors (skipped and counted by gmm_fit), GROUP BY with a
**     different vector length and form in every group.
**
** The tests named test_bug_* show extension bugs; they fail until the
** extension is fixed (the expected behaviour is in their comments).
*/
#include "sql_harness.h"

/* ------------------------------------------------------------------------
** Data.
*/

static void put_f32(unsigned char *p, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_le(p, bits, 4);
}

/* Table name(id INTEGER PRIMARY KEY, label, w, x1..xd, f1..fd, j, b32, b64)
** of n rows, row i around centres[i % k] (k x d) with standard deviation sd:
**   x   the values (REAL); rounded to 4 decimals when round4;
**   f   the same values rounded to float32;
**   j   the x as a JSON array with 17 significant digits (exact), in three
**       spacings;
**   b32 the x as a float32 BLOB; b64 as a float64 BLOB;
**   w   a weight: 0.25 .. 1.75, and 0 on every 7th row.
** Then two more rows: id n+1 with every feature and vector NULL (weight 1),
** id n+2 with ordinary values but a NULL weight. */
static void make_vectors(sqlite3 *db, const char *name, int n, int d, int k,
                         const double *centres, double sd, uint64_t seed, int round4) {
  char decl[2048] = "", params[2048] = "";
  for (int p = 1; p <= d; p++) sprintf(decl + strlen(decl), ", x%d REAL", p);
  for (int p = 1; p <= d; p++) sprintf(decl + strlen(decl), ", f%d REAL", p);
  for (int p = 0; p < 2 * d + 3; p++) sprintf(params + strlen(params), ", ?%d", p + 4);
  exec_sql(db, "CREATE TABLE %s(id INTEGER PRIMARY KEY, label INTEGER, w REAL%s, j TEXT, "
           "b32 BLOB, b64 BLOB)", name, decl);
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO %s VALUES (?1, ?2, ?3%s)", name, params);
  rng r = {seed};
  double x[16];
  unsigned char b32[64], b64[128];
  char json[1024];
  assert_true(d <= 16);
  for (int i = 0; i < n + 2; i++) {
    int label = i % k;
    for (int p = 0; p < d; p++) {
      x[p] = centres[label * d + p] + sd * rng_normal(&r);
      if (round4) x[p] = round(x[p] * 1e4) / 1e4;
    }
    sqlite3_bind_int(ins, 1, i + 1);
    sqlite3_bind_int(ins, 2, label);
    if (i == n + 1)
      sqlite3_bind_null(ins, 3);
    else
      sqlite3_bind_double(ins, 3, i % 7 == 3 ? 0.0 : 0.25 + 0.5 * (i % 4));
    if (i == n) { /* every feature and vector NULL */
      for (int p = 0; p < 2 * d + 3; p++) sqlite3_bind_null(ins, p + 4);
      insert_row(ins);
      continue;
    }
    static const char *const open[3] = {"[", "[ ", "\n[\t"}, *const sep[3] = {",", " , ", ",\t"},
                             *const close[3] = {"]", " ]", "]\r\n "};
    snprintf(json, sizeof json, "%s", open[i % 3]);
    for (int p = 0; p < d; p++) {
      sqlite3_bind_double(ins, 4 + p, x[p]);
      sqlite3_bind_double(ins, 4 + d + p, (double)(float)x[p]);
      snprintf(json + strlen(json), sizeof json - strlen(json), "%s%.17g", p ? sep[i % 3] : "",
               x[p]);
      put_f32(b32 + 4 * p, (float)x[p]);
      put_double(b64 + 8 * p, x[p]);
    }
    snprintf(json + strlen(json), sizeof json - strlen(json), "%s", close[i % 3]);
    sqlite3_bind_text(ins, 4 + 2 * d, json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 5 + 2 * d, b32, 4 * d, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 6 + 2 * d, b64, 8 * d, SQLITE_TRANSIENT);
    insert_row(ins);
  }
  end_insert(db, ins);
  /* The data are what they say (and not vacuous for float32). */
  assert_sql_int(db, n + 2, "SELECT count(*) FROM %s", name);
  assert_sql_int(db, 0, "SELECT count(*) FROM %s WHERE json_array_length(j) <> %d", name, d);
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM %s WHERE length(b32) <> %d OR length(b64) <> %d", name,
                 4 * d, 8 * d);
  if (!round4)
    assert_sql_int(db, 1, "SELECT count(*) > %d FROM %s WHERE x1 <> f1", n / 2, name);
}

/* Two separated clusters in 2-D; three in 3-D. */
static const double TWO_2D[] = {0, 0, 5, 3};
static const double THREE_3D[] = {0, 0, 0, 6, 0, 1, 0, 6, -1};

/* ------------------------------------------------------------------------
** Comparing models.
*/

/* The two statements give the same model BLOB, byte for byte. Everything
** is freed before a mismatch fails the test (the bug tests use it), so that
** the suite stays clean under valgrind. */
#define assert_same_model(db, sql_a, sql_b) assert_same_model_at(__FILE__, __LINE__, db, sql_a, sql_b)
static void assert_same_model_at(const char *file, int line, sqlite3 *db, const char *sql_a,
                                 const char *sql_b) {
  result a, b;
  run_sql(db, NULL, 0, sql_a, &a);
  run_sql(db, NULL, 0, sql_b, &b);
  int same = a.rc == SQLITE_OK && b.rc == SQLITE_OK && a.type == SQLITE_BLOB &&
             b.type == SQLITE_BLOB && a.n_blob == b.n_blob &&
             memcmp(a.blob, b.blob, (size_t)a.n_blob) == 0;
  if (!same) {
    const char *sql[2] = {sql_a, sql_b};
    result *r[2] = {&a, &b};
    print_error("expected the same model BLOB from both statements\n");
    for (int i = 0; i < 2; i++) {
      if (r[i]->rc != SQLITE_OK) {
        print_error("  %s\n    error: %s\n", sql[i], r[i]->error);
        continue;
      }
      char *q = format("SELECT gmm_info((%s))", sql[i]);
      result info;
      run_sql(db, NULL, 0, q, &info);
      print_error("  %s\n    %d bytes: %s\n", sql[i], r[i]->n_blob,
                  info.text ? info.text : info.error ? info.error : "NULL");
      result_clear(&info);
      free(q);
    }
  }
  result_clear(&a);
  result_clear(&b);
  if (!same) _fail(file, line);
}

/* The statement gives one value whose text is expected (NULL: SQL NULL);
** everything is freed before a mismatch fails the test. */
#define assert_value(db, expected, ...) assert_value_at(__FILE__, __LINE__, db, expected, __VA_ARGS__)
static void assert_value_at(const char *file, int line, sqlite3 *db, const char *expected,
                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *sql = vformat(fmt, ap);
  va_end(ap);
  result r;
  run_sql(db, NULL, 0, sql, &r);
  int ok = r.rc == SQLITE_OK && r.n_rows == 1 &&
           (expected ? r.text && strcmp(r.text, expected) == 0 : r.type == SQLITE_NULL);
  if (!ok)
    print_error("expected %s, got %s%s\n  in: %s\n", expected ? expected : "NULL",
                r.rc != SQLITE_OK ? "the error " : "",
                r.rc != SQLITE_OK ? r.error : r.text ? r.text : "NULL", sql);
  result_clear(&r);
  free(sql);
  if (!ok) _fail(file, line);
}

/* The two statements give different model BLOBs (the comparison that
** precedes it is not vacuous). */
static void assert_models_differ(sqlite3 *db, const char *sql_a, const char *sql_b) {
  int na = 0, nb = 0;
  unsigned char *a = sql_blob(db, &na, "%s", sql_a);
  unsigned char *b = sql_blob(db, &nb, "%s", sql_b);
  int same = na == nb && memcmp(a, b, (size_t)na) == 0;
  free(a);
  free(b);
  if (same) fail_msg("expected different models:\n  %s\n  %s", sql_a, sql_b);
}

/* Every row of table (where `where`) gives the same gmm_predict,
** gmm_predict_proba and gmm_score with the vector column vec as with the
** separate columns args, under the model of the SQL model; and the
** comparisons cover `rows` rows with k distinct labels. */
static void assert_apply_agrees(sqlite3 *db, const char *model, const char *table,
                                const char *where, const char *vec, const char *args, int rows,
                                int k) {
  static const char *const fns[3] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
  for (int f = 0; f < 3; f++) {
    char *q = format("SELECT count(*) FROM %s WHERE %s AND %s((%s), %s) IS NOT %s((%s), %s)",
                     table, where, fns[f], model, vec, fns[f], model, args);
    sqlite3_int64 bad = sql_int(db, "%s", q);
    if (bad != 0) {
      char *ex = sql_text(db,
                          "SELECT %s((%s), %s) || ' vs ' || %s((%s), %s) FROM %s WHERE %s AND "
                          "%s((%s), %s) IS NOT %s((%s), %s) LIMIT 1",
                          fns[f], model, vec, fns[f], model, args, table, where, fns[f], model,
                          vec, fns[f], model, args);
      print_error("%lld rows differ, e.g. %s\n  in: %s\n", bad, ex ? ex : "NULL", q);
      free(ex);
      free(q);
      fail();
    }
    free(q);
    assert_sql_int(db, rows, "SELECT count(%s((%s), %s)) FROM %s WHERE %s", fns[f], model, vec,
                   table, where);
  }
  assert_sql_int(db, k, "SELECT count(DISTINCT gmm_predict((%s), %s)) FROM %s WHERE %s", model,
                 vec, table, where);
}

/* ========================================================================
** Fits: a vector gives the model of the same values as separate arguments.
*/

/* ext (5), gmm_fit (3): JSON arrays written with 17 significant digits
** (three spacings) give byte-identical models to the same rows as
** separate arguments, for d = 2 and d = 3, integer and JSON specs, every
** covariance type; the all-NULL row is skipped and counted either way. */
static void test_fit_json_equals_separate(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 11, 0);
  make_vectors(db, "p3", 300, 3, 3, THREE_3D, 1.0, 12, 0);
  assert_same_model(db, "SELECT gmm_fit(2, j) FROM p2", "SELECT gmm_fit(2, x1, x2) FROM p2");
  assert_same_model(db, "SELECT gmm_fit(3, j) FROM p3", "SELECT gmm_fit(3, x1, x2, x3) FROM p3");
  static const char *const types[4] = {"full", "tied", "diag", "spherical"};
  for (int t = 0; t < 4; t++) {
    char *a = format("SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\",\"n_init\":2,"
                     "\"init\":\"random_from_data\",\"seed\":5}', j) FROM p3",
                     types[t]);
    char *b = format("SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\",\"n_init\":2,"
                     "\"init\":\"random_from_data\",\"seed\":5}', x1, x2, x3) FROM p3",
                     types[t]);
    assert_same_model(db, a, b);
    free(a);
    free(b);
  }
  /* A JSON value with the JSON subtype (json()) reads the same. */
  assert_same_model(db, "SELECT gmm_fit(2, json(j)) FROM p2", "SELECT gmm_fit(2, x1, x2) FROM p2");
  /* k as a list (selection by BIC) over the one buffered copy of vectors. */
  assert_same_model(db, "SELECT gmm_fit('{\"k\":[1,2,3]}', j) FROM p3",
                    "SELECT gmm_fit('{\"k\":[1,2,3]}', x1, x2, x3) FROM p3");
  assert_sql_int(db, 1, "SELECT gmm_info(gmm_fit(2, j)) ->> '$.n_skipped' FROM p2");
  assert_sql_int(db, 301, "SELECT gmm_info(gmm_fit(2, j)) ->> '$.n_samples' FROM p2");
  assert_sql_int(db, 2, "SELECT gmm_info(gmm_fit(2, j)) ->> '$.d' FROM p2");
}

/* ext (5): gmm_fit(2, json_array(x, y)) = gmm_fit(2, x, y). SQLite's
** json_array writes a REAL with 15 significant digits, so this holds for
** values that have at most 15 (here: 4 decimals); the same with the vector
** built by string concatenation, with spaces. */
static void test_fit_json_array_equals_separate(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "r2", 300, 2, 2, TWO_2D, 0.7, 21, 1);
  make_vectors(db, "r3", 300, 3, 3, THREE_3D, 1.0, 22, 1);
  /* json_array over NULL features is '[null,null]', not a NULL vector:
  ** a vector of missing values only, skipped and counted as the row of
  ** NULL features is (ext (5), gmm_fit (3)). */
  assert_same_model(db, "SELECT gmm_fit(2, json_array(x1, x2)) FROM r2 WHERE x1 IS NOT NULL",
                    "SELECT gmm_fit(2, x1, x2) FROM r2 WHERE x1 IS NOT NULL");
  assert_same_model(db, "SELECT gmm_fit(3, json_array(x1, x2, x3)) FROM r3 WHERE x1 IS NOT NULL",
                    "SELECT gmm_fit(3, x1, x2, x3) FROM r3 WHERE x1 IS NOT NULL");
  assert_same_model(db, "SELECT gmm_fit(2, json_array(x1, x2)) FROM r2",
                    "SELECT gmm_fit(2, x1, x2) FROM r2");
  assert_sql_int(db, 1, "SELECT gmm_info(gmm_fit(2, json_array(x1, x2))) ->> '$.n_skipped' FROM r2");
  assert_same_model(db, "SELECT gmm_fit(3, ' [ ' || x1 || ' , ' || x2 || ',' || x3 || ' ] ') "
                        "FROM r3 WHERE x1 IS NOT NULL",
                    "SELECT gmm_fit(3, x1, x2, x3) FROM r3 WHERE x1 IS NOT NULL");
  /* The JSON column written with 17 digits agrees too. */
  assert_same_model(db, "SELECT gmm_fit(2, json_array(x1, x2)) FROM r2 WHERE x1 IS NOT NULL",
                    "SELECT gmm_fit(2, j) FROM r2 WHERE x1 IS NOT NULL");
}

/* ext (5), gmm_fit (3), (4): weighted fits, the weight first and then the
** vector: JSON, float32 and float64 BLOBs agree with separate arguments;
** the row with a NULL weight and the all-NULL row are skipped, weight-0
** rows change nothing. */
static void test_fit_weighted_vectors(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 31, 0);
  make_vectors(db, "r3", 300, 3, 3, THREE_3D, 1.0, 32, 1);
  const char *w2 = "'{\"k\":2,\"weighted\":true}'";
  const char *w3 = "'{\"k\":3,\"weighted\":true,\"covariance_type\":\"diag\"}'";
  const char *w2f64 = "'{\"k\":2,\"weighted\":true,\"vector_type\":\"float64\"}'";
  char *a, *b;
  a = format("SELECT gmm_fit(%s, w, j) FROM p2", w2);
  b = format("SELECT gmm_fit(%s, w, x1, x2) FROM p2", w2);
  assert_same_model(db, a, b);
  free(a);
  a = format("SELECT gmm_fit(%s, w, b64) FROM p2", w2f64);
  assert_same_model(db, a, b);
  free(a);
  free(b);
  a = format("SELECT gmm_fit(%s, w, b32) FROM p2", w2);
  b = format("SELECT gmm_fit(%s, w, f1, f2) FROM p2", w2);
  assert_same_model(db, a, b);
  free(a);
  free(b);
  a = format("SELECT gmm_fit(%s, w, json_array(x1, x2, x3)) FROM r3 WHERE x1 IS NOT NULL", w3);
  b = format("SELECT gmm_fit(%s, w, x1, x2, x3) FROM r3 WHERE x1 IS NOT NULL", w3);
  assert_same_model(db, a, b);
  free(a);
  free(b);
  /* Weighted is not the unweighted fit (the weights matter). */
  a = format("SELECT gmm_fit(%s, w, j) FROM p2 WHERE w IS NOT NULL", w2);
  assert_models_differ(db, a, "SELECT gmm_fit(2, j) FROM p2 WHERE w IS NOT NULL");
  free(a);
  /* Skipped: the NULL vector and the NULL weight. */
  assert_sql_int(db, 2, "SELECT gmm_info(gmm_fit(%s, w, j)) ->> '$.n_skipped' FROM p2", w2);
  assert_sql_int(db, 2, "SELECT gmm_info(gmm_fit(%s, w, b32)) ->> '$.n_skipped' FROM p2", w2);
}

/* ext (5): float32 BLOBs give the model of the float32-rounded values as
** separate arguments (and not that of the unrounded doubles); BLOBs written
** in SQL as X'..' literals read as the same float32 values. */
static void test_fit_float32_blobs(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 41, 0);
  make_vectors(db, "p3", 300, 3, 3, THREE_3D, 1.0, 42, 0);
  assert_same_model(db, "SELECT gmm_fit(2, b32) FROM p2", "SELECT gmm_fit(2, f1, f2) FROM p2");
  assert_same_model(db, "SELECT gmm_fit(3, b32) FROM p3",
                    "SELECT gmm_fit(3, f1, f2, f3) FROM p3");
  assert_same_model(db, "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"tied\"}', b32) FROM p3",
                    "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"tied\"}', f1, f2, f3) FROM p3");
  assert_models_differ(db, "SELECT gmm_fit(2, b32) FROM p2", "SELECT gmm_fit(2, x1, x2) FROM p2");
  assert_sql_int(db, 1, "SELECT gmm_info(gmm_fit(2, b32)) ->> '$.n_skipped' FROM p2");
  /* vector_type float32 is the default. */
  assert_same_model(db, "SELECT gmm_fit('{\"k\":2,\"vector_type\":\"float32\"}', b32) FROM p2",
                    "SELECT gmm_fit(2, b32) FROM p2");
  /* Literal BLOBs: 1.0 = 0000803F, 2.0 = 00000040, -0.5 = 000000BF, 0.1f =
  ** CDCCCC3D (0.100000001490116...), 3.0 = 00004040, 1.5 = 0000C03F. */
  exec_sql(db, "CREATE TABLE lit(v BLOB, a REAL, b REAL)");
  exec_sql(db, "INSERT INTO lit VALUES "
               "(X'0000803F00000040', 1.0, 2.0), (X'000000BFCDCCCC3D', -0.5, %.17g), "
               "(X'000040400000C03F', 3.0, 1.5), (X'00000000000000C0', 0.0, -2.0)",
           (double)0.1f);
  assert_same_model(db, "SELECT gmm_fit(2, v) FROM lit", "SELECT gmm_fit(2, a, b) FROM lit");
  assert_apply_agrees(db, "SELECT gmm_fit(1, a, b) FROM lit", "lit", "1", "v", "a, b", 4, 1);
}

/* ext (5): float64 BLOBs are read as float64 with vector_type "float64"
** and give the model of the same doubles as separate arguments, byte for
** byte (vector_type is not part of the model); without the option a 16-byte
** BLOB is four float32 values (d = 4). JSON vectors do not depend on the
** option. */
static void test_fit_float64_blobs(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 51, 0);
  make_vectors(db, "p3", 300, 3, 3, THREE_3D, 1.0, 52, 0);
  const char *f64_2 = "'{\"k\":2,\"vector_type\":\"float64\"}'";
  char *a = format("SELECT gmm_fit(%s, b64) FROM p2", f64_2);
  assert_same_model(db, a, "SELECT gmm_fit(2, x1, x2) FROM p2");
  free(a);
  a = format("SELECT gmm_fit(%s, x1, x2) FROM p2", f64_2);
  assert_same_model(db, a, "SELECT gmm_fit(2, x1, x2) FROM p2");
  free(a);
  a = format("SELECT gmm_fit(%s, j) FROM p2", f64_2);
  assert_same_model(db, a, "SELECT gmm_fit(2, x1, x2) FROM p2");
  free(a);
  assert_same_model(
      db, "SELECT gmm_fit('{\"k\":3,\"vector_type\":\"float64\",\"covariance_type\":\"diag\"}', "
          "b64) FROM p3",
      "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"diag\"}', x1, x2, x3) FROM p3");
  assert_sql_text(db, "{\"k\":2,\"covariance_type\":\"full\",\"max_iter\":100,\"tol\":0.001,"
                      "\"reg_covar\":1e-06,\"n_init\":1,\"init\":\"kmeans\",\"seed\":0,"
                      "\"weighted\":false,\"missing\":\"marginalize\",\"hc_rows\":2000,"
                      "\"criterion\":\"bic\"}",
                  "SELECT gmm_info(gmm_fit(%s, b64)) -> '$.options' FROM p2", f64_2);
  /* Without the option: float32. 1.0, 2.0 as float64 are the float32
  ** values 0, 1.875, 0, 2. */
  assert_sql_int(db, 4,
                 "SELECT gmm_info(gmm_fit(1, column1)) ->> '$.d' FROM (VALUES "
                 "(X'000000000000F03F0000000000000040'), (X'0000000000000840000000000000F0BF'))");
  assert_same_model(db,
                    "SELECT gmm_fit(1, column1) FROM (VALUES (X'000000000000F03F0000000000000040'), "
                    "(X'0000000000000840000000000000F0BF'))",
                    "SELECT gmm_fit(1, column1, column2, column3, column4) FROM (VALUES (0, 1.875, 0, 2), "
                    "(0, 2.125, 0, -1.875))");
}

/* gmm_fit (1), ext (5): a warm start from a d = 2 model reads vectors: JSON,
** float64 BLOBs (8*d bytes: no option needed, none possible) and float32
** BLOBs, each equal to the warm start on separate arguments. */
static void test_fit_warm_start_vectors(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 61, 0);
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('{\"k\":2,\"max_iter\":1}', x1, x2) AS m "
               "FROM p2");
  assert_same_model(db, "SELECT gmm_fit((SELECT m FROM m), j) FROM p2",
                    "SELECT gmm_fit((SELECT m FROM m), x1, x2) FROM p2");
  assert_same_model(db, "SELECT gmm_fit((SELECT m FROM m), b64) FROM p2",
                    "SELECT gmm_fit((SELECT m FROM m), x1, x2) FROM p2");
  assert_same_model(db, "SELECT gmm_fit((SELECT m FROM m), b32) FROM p2",
                    "SELECT gmm_fit((SELECT m FROM m), f1, f2) FROM p2");
  assert_sql_text(db, "true",
                  "SELECT json_type(gmm_info(gmm_fit((SELECT m FROM m), j)), '$.warm_started') "
                  "FROM p2");
  /* Wrong length against the model's d. */
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit((SELECT m FROM m), '[1,2,3]')");
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit((SELECT m FROM m), X'0000803F0000803F0000803F')");
  assert_sql_error(db, "gmm_fit: the model in argument 1 (spec) has 2 features, provided 1",
                   "SELECT gmm_fit((SELECT m FROM m), 1.5)");
}

/* ext (5): d = 1. gmm_fit(k, '[x]') is gmm_fit(k, x); an apply function
** reads a 4-byte BLOB as float32 and an 8-byte BLOB (8*d) as float64. */
static void test_d1_vectors(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p3", 300, 3, 3, THREE_3D, 1.0, 71, 0);
  exec_sql(db, "CREATE TABLE q AS SELECT id, x1, f1, json_array(x1) AS jr, substr(b32, 1, 4) AS "
               "b4, substr(b64, 1, 8) AS b8 FROM p3 WHERE x1 IS NOT NULL");
  exec_sql(db, "UPDATE q SET x1 = round(x1, 4)"); /* json_array is exact for these */
  exec_sql(db, "UPDATE q SET jr = json_array(x1)");
  assert_same_model(db, "SELECT gmm_fit(3, jr) FROM q", "SELECT gmm_fit(3, x1) FROM q");
  assert_same_model(db, "SELECT gmm_fit(3, b4) FROM q", "SELECT gmm_fit(3, f1) FROM q");
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(3, f1) AS m FROM q");
  assert_apply_agrees(db, "SELECT m FROM m", "q", "1", "b4", "f1", 301, 3);
  assert_apply_agrees(db, "SELECT m FROM m", "q", "1", "jr", "x1", 301, 3);
  exec_sql(db, "CREATE TABLE q64 AS SELECT id, x1, substr(b64, 1, 8) AS b8 FROM p3 "
               "WHERE x1 IS NOT NULL");
  assert_apply_agrees(db, "SELECT m FROM m", "q64", "1", "b8", "x1", 301, 3);
  /* A vector of 2 against d = 1. */
  assert_sql_error(db, "gmm_score: argument 2 (vector) has 2 values, expected 1",
                   "SELECT gmm_score((SELECT m FROM m), '[1,2]')");
}

/* ext (5), gmm_fit (1): the largest vector, 1000 values, as JSON, float32
** and float64 BLOBs: the same model (d = 1000); 1001 values is an error. */
static void test_d1000_vectors(void **state) {
  sqlite3 *db = *state;
  enum { D = 1000, N = 4 };
  exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, j TEXT, b32 BLOB, b64 BLOB)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO big VALUES (?1, ?2, ?3, ?4)");
  char *json = malloc(16 * D);
  unsigned char *b32 = malloc(4 * D), *b64 = malloc(8 * D);
  assert_true(json && b32 && b64);
  for (int i = 0; i < N; i++) {
    strcpy(json, "[");
    for (int p = 0; p < D; p++) {
      double v = (double)((i + 1) * (p % 7) - 3 * (p % 3)) + 0.25 * i; /* exact in float32 */
      sprintf(json + strlen(json), "%s%.17g", p ? "," : "", v);
      put_f32(b32 + 4 * p, (float)v);
      put_double(b64 + 8 * p, v);
    }
    strcat(json, "]");
    sqlite3_bind_int(ins, 1, i + 1);
    sqlite3_bind_text(ins, 2, json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 3, b32, 4 * D, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 4, b64, 8 * D, SQLITE_TRANSIENT);
    insert_row(ins);
  }
  end_insert(db, ins);
  free(json);
  free(b32);
  free(b64);
  const char *spec = "{\"k\":1,\"covariance_type\":\"diag\"}";
  const char *spec64 = "{\"k\":1,\"covariance_type\":\"diag\",\"vector_type\":\"float64\"}";
  char *a = format("SELECT gmm_fit('%s', j) FROM big", spec);
  char *b = format("SELECT gmm_fit('%s', b32) FROM big", spec);
  char *c = format("SELECT gmm_fit('%s', b64) FROM big", spec64);
  assert_same_model(db, a, b);
  assert_same_model(db, a, c);
  assert_sql_int(db, D, "SELECT gmm_info((%s)) ->> '$.d'", a);
  exec_sql(db, "CREATE TABLE m AS %s", a);
  /* Apply: JSON, float32, float64 (8*d bytes) agree. */
  assert_apply_agrees(db, "SELECT * FROM m", "big", "1", "b32", "j", N, 1);
  assert_apply_agrees(db, "SELECT * FROM m", "big", "1", "b64", "j", N, 1);
  free(a);
  free(b);
  free(c);
  /* 1001 values. */
  char *long_json = malloc(2 * (D + 1) + 2);
  assert_non_null(long_json);
  strcpy(long_json, "[");
  for (int p = 0; p <= D; p++) strcat(long_json, p ? ",0" : "0");
  strcat(long_json, "]");
  const char *shown = "'[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0...'"; /* first 40 bytes */
  char *msg = format("gmm_fit: row 1, argument 2 (vector) must be a JSON array of 1 to 1000 "
                     "numbers or a float32 BLOB, provided TEXT %s",
                     shown);
  assert_sql_error(db, msg, "SELECT gmm_fit(1, '%s')", long_json);
  free(msg);
  msg = format("gmm_predict: argument 2 (vector) must be a JSON array of 1 to 1000 numbers or a "
               "float32 BLOB, provided TEXT %s",
               shown);
  assert_sql_error(db, msg, "SELECT gmm_predict((SELECT * FROM m), '%s')", long_json);
  free(msg);
  free(long_json);
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (vector) must hold 1 to 1000 float32 values, "
                   "provided a BLOB of 4004 bytes",
                   "SELECT gmm_fit(1, zeroblob(4004))");
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (vector) must hold 1 to 1000 float64 values, "
                   "provided a BLOB of 8008 bytes",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float64\"}', zeroblob(8008))");
  assert_sql_error(db,
                   "gmm_predict: argument 2 (vector) must hold 1 to 1000 float32 values, "
                   "provided a BLOB of 4004 bytes",
                   "SELECT gmm_predict((SELECT * FROM m), zeroblob(4004))");
  assert_sql_error(db,
                   "gmm_score: argument 2 (vector) must hold 1 to 1000 float32 values, "
                   "provided a BLOB of 8008 bytes",
                   "SELECT gmm_score((SELECT * FROM m), zeroblob(8008))");
  /* Exactly 1000 zeros is fine. */
  assert_sql_int(db, D, "SELECT gmm_info(gmm_fit(1, column1)) ->> '$.d' FROM "
                        "(VALUES (zeroblob(4000)), (zeroblob(4000)))");
}

/* ========================================================================
** Apply functions.
*/

/* apply (1), (2), ext (5): gmm_predict, gmm_predict_proba and gmm_score
** give the same value, row for row, with a JSON vector (17 digits, or
** json_array over 4-decimal values), a float64 BLOB (8*d bytes) and a
** float32 BLOB (against the float32-rounded values) as with separate
** arguments; for d = 2 and d = 3 and every covariance type. */
static void test_apply_vectors_agree(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 300, 2, 2, TWO_2D, 0.7, 81, 0);
  make_vectors(db, "p3", 300, 3, 3, THREE_3D, 1.0, 82, 0);
  make_vectors(db, "r3", 300, 3, 3, THREE_3D, 1.0, 83, 1);
  exec_sql(db, "CREATE TABLE m2 AS SELECT gmm_fit(2, x1, x2) AS m FROM p2");
  const char *ok = "x1 IS NOT NULL";
  assert_apply_agrees(db, "SELECT m FROM m2", "p2", ok, "j", "x1, x2", 301, 2);
  assert_apply_agrees(db, "SELECT m FROM m2", "p2", ok, "b64", "x1, x2", 301, 2);
  assert_apply_agrees(db, "SELECT m FROM m2", "p2", ok, "b32", "f1, f2", 301, 2);
  static const char *const types[4] = {"full", "tied", "diag", "spherical"};
  for (int t = 0; t < 4; t++) {
    exec_sql(db, "DROP TABLE IF EXISTS m3");
    exec_sql(db, "CREATE TABLE m3 AS SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\"}', "
                 "x1, x2, x3) AS m FROM p3", types[t]);
    assert_apply_agrees(db, "SELECT m FROM m3", "p3", ok, "j", "x1, x2, x3", 301, 3);
    assert_apply_agrees(db, "SELECT m FROM m3", "p3", ok, "b64", "x1, x2, x3", 301, 3);
    assert_apply_agrees(db, "SELECT m FROM m3", "p3", ok, "b32", "f1, f2, f3", 301, 3);
    assert_apply_agrees(db, "SELECT m FROM m3", "r3", ok, "json_array(x1, x2, x3)", "x1, x2, x3",
                        301, 3);
  }
  /* The model as a join column rather than a constant. */
  assert_sql_int(db, 0, "SELECT count(*) FROM p2, m2 WHERE x1 IS NOT NULL AND "
                        "gmm_score(m, b64) IS NOT gmm_score(m, x1, x2)");
  /* Literal BLOBs: float32 [1, 2] (8 bytes) and float64 [1, 2] (16 bytes =
  ** 8*d: float64). */
  assert_sql_int(db, 1, "SELECT gmm_predict_proba(m, X'0000803F00000040') = "
                        "gmm_predict_proba(m, 1.0, 2.0) FROM m2");
  assert_sql_int(db, 1, "SELECT gmm_score(m, X'000000000000F03F0000000000000040') = "
                        "gmm_score(m, 1, 2) FROM m2");
  assert_sql_int(db, 1, "SELECT gmm_score(m, '[1,2]') = gmm_score(m, 1, 2) FROM m2");
  /* The JSON result of gmm_predict_proba keeps its subtype with a vector. */
  assert_sql_text(db, "array",
                  "SELECT json_type(json_object('p', gmm_predict_proba(m, '[1,2]')), '$.p') "
                  "FROM m2");
  /* A NULL model gives NULL, with a vector as with numbers. */
  assert_sql_null(db, "SELECT gmm_predict(NULL, '[1,2]')");
  assert_sql_null(db, "SELECT gmm_predict_proba(NULL, X'0000803F00000040')");
  assert_sql_null(db, "SELECT gmm_score(NULL, X'000000000000F03F0000000000000040')");
}

/* ext (5), as documented: an apply function reads a BLOB of 8*d bytes as
** float64, so a float32 BLOB of 2*d values given to a d-feature model (a
** float[4] embedding against a model fitted on float[2]) is read as d
** float64 values, not reported as 2*d values. The float32 values 1, 2, 3, 4
** are the float64 values of their byte pairs. */
static void test_apply_8d_bytes_are_float64(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  unsigned char b[16];
  for (int p = 0; p < 4; p++) put_f32(b + 4 * p, (float)(p + 1));
  double v[2]; /* the two little-endian float64 values of the 16 bytes */
  for (int h = 0; h < 2; h++) {
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--) bits = bits << 8 | b[8 * h + i];
    memcpy(&v[h], &bits, 8);
  }
  assert_sql_int(db, 1,
                 "SELECT gmm_score(m, X'0000803F000000400000404000008040') = "
                 "gmm_score(m, %.17g, %.17g) FROM m",
                 v[0], v[1]);
  /* A model of d = 4 reads the same 16 bytes as four float32 values. */
  exec_sql(db, "CREATE TABLE m4 AS SELECT gmm_fit(1, column1, column2, column3, column4) AS m "
               "FROM (VALUES (0, 0, 1, 2), (1, 2, 2, 1), (2, 1, 0, 1), (1, 1, 1, 1), "
               "(3, 0, 2, 2))");
  assert_sql_int(db, 1, "SELECT gmm_score(m, X'0000803F000000400000404000008040') = "
                        "gmm_score(m, 1, 2, 3, 4) FROM m4");
}

/* ========================================================================
** Errors.
*/

/* Malformed JSON vector texts: each is the same error, naming the row and
** quoting the text, in gmm_fit; and in each apply function. */
static const char *const BAD_JSON[] = {
    "abc",      "",          "1",        "1.5",       "{\"a\":1}", "[]",        "[ ]",
    "[[1,2]]",  "[1,[2]]",   "[NaN,1]",  "[1,NaN]",   "[nan]",     "[Infinity]", "[1,-Infinity]",
    "[inf]",    "[1,2] x",   "[1,2],",   "[1,2]]",    "[1,2][3]",  "[01,2]",    "[1,-02]",
    "[00]",     "[-00.5]",   "[1,]",     "[,1]",      "[1 2]",     "[.5]",      "[1.]",
    "[+1]",     "[1e]",      "[1e+]",    "[-]",       "[\"1\"]",   "[true]",    "[nul]",
    "[0x10]",   "[1",        "[1,2",     "1,2",       "[1;2]",     "[1,,2]",    "null",
};

static void test_errors_json_text(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  for (size_t i = 0; i < sizeof BAD_JSON / sizeof *BAD_JSON; i++) {
    const char *t = BAD_JSON[i];
    char *msg = format("gmm_fit: row 1, argument 2 (vector) must be a JSON array of 1 to 1000 "
                       "numbers or a float32 BLOB, provided TEXT '%s'",
                       t);
    assert_sql_error(db, msg, "SELECT gmm_fit(2, '%s')", t);
    free(msg);
    /* Weighted: argument 3, and the row within the group. */
    msg = format("gmm_fit: row 2, argument 3 (vector) must be a JSON array of 1 to 1000 numbers "
                 "or a float32 BLOB, provided TEXT '%s'",
                 t);
    assert_sql_error(db, msg,
                     "SELECT gmm_fit('{\"k\":1,\"weighted\":true}', column1, column2) FROM "
                     "(VALUES (1, '[1,2]'), (2, '%s'), (3, '[3,4]'))",
                     t);
    free(msg);
    static const char *const fns[3] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
    msg = format("%s: argument 2 (vector) must be a JSON array of 1 to 1000 numbers or a float32 "
                 "BLOB, provided TEXT '%s'",
                 fns[i % 3], t);
    assert_sql_error(db, msg, "SELECT %s((SELECT m FROM m), '%s')", fns[i % 3], t);
    free(msg);
  }
  /* Accepted edges: negative zero, exponents, whitespace all round. */
  assert_sql_int(db, 4, "SELECT gmm_info(gmm_fit(1, column1)) ->> '$.d' FROM (VALUES "
                        "('[-0, 0.5e-3, 1E+2, 2e0]'), (' [1,2,3,4] '), "
                        "(char(9, 10, 13) || '[0.25 ,-1e-1,\t0,1]' || char(10)))");
  /* Long text is quoted to 40 bytes. */
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (vector) must be a JSON array of 1 to 1000 "
                   "numbers or a float32 BLOB, provided TEXT '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "
                   "12, ...'",
                   "SELECT gmm_fit(2, '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, NaN]')");
}

/* Numbers too large for a double are infinite: "value N is not finite";
** so are float32 BLOB values +Inf, -Inf and NaN, and float64 ones. */
static void test_errors_not_finite(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 1 is not finite",
                   "SELECT gmm_fit(2, '[1e999]')");
  assert_sql_error(db, "gmm_fit: row 2, argument 2 (vector) value 2 is not finite",
                   "SELECT gmm_fit(2, column1) FROM (VALUES ('[1,2]'), ('[1, -1e400]'))");
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 2 is not finite",
                   "SELECT gmm_fit(2, X'0000803F0000807F')"); /* [1, +Inf] */
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 1 is not finite",
                   "SELECT gmm_fit(2, X'000080FF0000803F')"); /* [-Inf, 1] */
  assert_sql_error(db, "gmm_fit: row 3, argument 2 (vector) value 2 is not finite",
                   "SELECT gmm_fit(2, column1) FROM (VALUES (X'0000803F0000803F'), (NULL), "
                   "(X'0000803F0000C07F'))"); /* [1, NaN] */
  assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 2 is not finite",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float64\"}', "
                   "X'000000000000F03F000000000000F87F')"); /* [1, NaN] */
  assert_sql_error(db, "gmm_predict: argument 2 (vector) value 1 is not finite",
                   "SELECT gmm_predict((SELECT m FROM m), '[1e309, 0]')");
  assert_sql_error(db, "gmm_predict_proba: argument 2 (vector) value 2 is not finite",
                   "SELECT gmm_predict_proba((SELECT m FROM m), X'0000803F0000807F')");
  assert_sql_error(db, "gmm_score: argument 2 (vector) value 1 is not finite",
                   "SELECT gmm_score((SELECT m FROM m), X'000000000000F0FF000000000000F03F')");
  /* Underflow is zero, not an error. */
  assert_sql_int(db, 1, "SELECT gmm_score(m, '[1e-400, 0]') = gmm_score(m, 0, 0) FROM m");
}

/* BLOB lengths: a float32 BLOB must be a non-empty multiple of 4 bytes, a
** float64 one (vector_type) of 8. */
static void test_errors_blob_length(void **state) {
  sqlite3 *db = *state;
  static const struct {
    const char *blob;
    int bytes;
  } bad32[] = {{"X'000000'", 3}, {"X'00'", 1}, {"X''", 0}, {"X'0000803F00'", 5},
               {"zeroblob(7)", 7}, {"zeroblob(0)", 0}};
  for (size_t i = 0; i < sizeof bad32 / sizeof *bad32; i++) {
    char *msg = format("gmm_fit: row 1, argument 2 (vector) must hold 1 to 1000 float32 values, "
                       "provided a BLOB of %d byte%s",
                       bad32[i].bytes, bad32[i].bytes == 1 ? "" : "s");
    assert_sql_error(db, msg, "SELECT gmm_fit(2, %s)", bad32[i].blob);
    free(msg);
  }
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (vector) must hold 1 to 1000 float64 values, "
                   "provided a BLOB of 4 bytes",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float64\"}', X'0000803F')");
  assert_sql_error(db,
                   "gmm_fit: row 2, argument 2 (vector) must hold 1 to 1000 float64 values, "
                   "provided a BLOB of 12 bytes",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float64\"}', column1) FROM (VALUES "
                   "(X'000000000000F03F'), (zeroblob(12)))");
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  assert_sql_error(db,
                   "gmm_predict: argument 2 (vector) must hold 1 to 1000 float32 values, "
                   "provided a BLOB of 3 bytes",
                   "SELECT gmm_predict((SELECT m FROM m), X'000000')");
  assert_sql_error(db,
                   "gmm_score: argument 2 (vector) must hold 1 to 1000 float32 values, "
                   "provided a BLOB of 0 bytes",
                   "SELECT gmm_score((SELECT m FROM m), X'')");
  /* Option errors. */
  assert_sql_error(db, "gmm_fit: option vector_type must be 'float32' or 'float64', provided "
                       "'float16'",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float16\"}', X'0000803F')");
  assert_sql_error(db, "gmm_fit: option vector_type must be 'float32' or 'float64', provided "
                       "integer 64",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":64}', X'0000803F')");
}

/* gmm_fit (3), ext (5): the first usable row fixes d; a later vector of
** another length is an error naming the row (1-based, NULL rows counted)
** and both lengths, whatever the forms; a number after vectors, or a
** vector after numbers, is an error too. */
static void test_errors_length_mismatch(void **state) {
  sqlite3 *db = *state;
  assert_sql_error(db, "gmm_fit: row 3, argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit(2, column1) FROM (VALUES ('[1,2]'), ('[3,4]'), ('[1,2,3]'))");
  assert_sql_error(db, "gmm_fit: row 4, argument 2 (vector) has 1 value, expected 2",
                   "SELECT gmm_fit(2, column1) FROM (VALUES (NULL), ('[1,2]'), (NULL), ('[7]')) "
                   "");
  /* JSON then float32 BLOBs, and the reverse. */
  assert_sql_error(db, "gmm_fit: row 2, argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit(2, column1) FROM (VALUES ('[1,2]'), "
                   "(X'0000803F0000004000004040'))");
  assert_sql_error(db, "gmm_fit: row 2, argument 2 (vector) has 2 values, expected 3",
                   "SELECT gmm_fit(2, column1) FROM (VALUES (X'0000803F0000004000004040'), "
                   "('[1,2]'))");
  /* float64 with the option: 16 then 24 bytes. */
  assert_sql_error(db, "gmm_fit: row 2, argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit('{\"k\":1,\"vector_type\":\"float64\"}', column1) FROM (VALUES "
                   "(zeroblob(16)), (zeroblob(24)))");
  /* Weighted: the vector is argument 3. */
  assert_sql_error(db, "gmm_fit: row 2, argument 3 (vector) has 3 values, expected 2",
                   "SELECT gmm_fit('{\"k\":1,\"weighted\":true}', column1, column2) FROM (VALUES "
                   "(1, '[1,2]'), (NULL, '[1,2,3]'))");
  /* Numbers after vectors, vectors after numbers. */
  assert_sql_error(db,
                   "gmm_fit: row 2, argument 2 (vector) must be a JSON array or a float32 BLOB, "
                   "provided 5",
                   "SELECT gmm_fit(2, column1) FROM (VALUES ('[1,2]'), (5))");
  assert_sql_error(db,
                   "gmm_fit: row 3, argument 2 (vector) must be a JSON array or a float32 BLOB, "
                   "provided 2.0",
                   "SELECT gmm_fit(2, column1) FROM (VALUES (X'0000803F00000040'), (NULL), (2.0)) "
                   "");
  assert_sql_error(db,
                   "gmm_fit: row 2, argument 2 (x1) must be a finite INTEGER or REAL, provided "
                   "TEXT '[1,2]'",
                   "SELECT gmm_fit(2, column1) FROM (VALUES (5), ('[1,2]'))");
  /* A vector among several feature arguments is not a vector. */
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (x1) must be a finite INTEGER or REAL, provided "
                   "TEXT '[1,2]'",
                   "SELECT gmm_fit(2, '[1,2]', 3)");
}

/* apply (3), ext (5): a vector whose length is not the model's d. */
static void test_errors_apply_length(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  assert_sql_error(db, "gmm_predict: argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_predict((SELECT m FROM m), '[1,2,3]')");
  assert_sql_error(db, "gmm_predict_proba: argument 2 (vector) has 1 value, expected 2",
                   "SELECT gmm_predict_proba((SELECT m FROM m), '[1]')");
  assert_sql_error(db, "gmm_score: argument 2 (vector) has 3 values, expected 2",
                   "SELECT gmm_score((SELECT m FROM m), X'0000803F0000803F0000803F')");
  assert_sql_error(db, "gmm_predict: argument 2 (vector) has 1 value, expected 2",
                   "SELECT gmm_predict((SELECT m FROM m), X'0000803F')");
  /* 24 bytes is not 8*d: six float32 values. */
  assert_sql_error(db, "gmm_predict: argument 2 (vector) has 6 values, expected 2",
                   "SELECT gmm_predict((SELECT m FROM m), zeroblob(24))");
  /* A vector with other arguments is a feature, not a vector. */
  assert_sql_error(db,
                   "gmm_predict: argument 2 (x1) must be a finite INTEGER or REAL, provided TEXT "
                   "'[1,2]'",
                   "SELECT gmm_predict((SELECT m FROM m), '[1,2]', 3)");
  /* A number for a d = 2 model. */
  assert_sql_error(db, "gmm_predict: the model has 2 features, provided 1",
                   "SELECT gmm_predict((SELECT m FROM m), 1.5)");
}

/* ========================================================================
** NULLs and GROUP BY.
*/

/* gmm_fit (3), (4), ext (5): a NULL vector row is skipped and counted, as
** the first row (before d is known) or later, as a row of NULL features
** is; a group of NULL vectors only gives NULL. (Vectors with null
** elements: tests/test_missing_sql.c.) */
static void test_null_vectors(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v, a, b)");
  exec_sql(db, "INSERT INTO t VALUES (1, NULL, NULL, NULL), (2, '[0,0]', 0, 0), "
               "(3, X'0000803F00000040', 1, 2), (4, NULL, NULL, NULL), (5, '[2,1]', 2, 1), "
               "(6, '[0.5,0.25]', 0.5, 0.25), (7, NULL, NULL, NULL)");
  assert_same_model(db, "SELECT gmm_fit(1, v) FROM t ORDER BY id",
                    "SELECT gmm_fit(1, a, b) FROM t ORDER BY id");
  assert_sql_int(db, 3, "SELECT gmm_info(gmm_fit(1, v)) ->> '$.n_skipped' FROM t");
  assert_sql_int(db, 4, "SELECT gmm_info(gmm_fit(1, v)) ->> '$.n_samples' FROM t");
  assert_sql_null(db, "SELECT gmm_fit(2, v) FROM t WHERE v IS NULL");
  assert_sql_null(db, "SELECT gmm_fit('{\"k\":1,\"weighted\":true}', 1, v) FROM t "
                      "WHERE v IS NULL");
  /* Weighted: a NULL weight skips the row too. */
  assert_sql_int(db, 4,
                 "SELECT gmm_info(gmm_fit('{\"k\":1,\"weighted\":true}', "
                 "CASE id WHEN 5 THEN NULL ELSE 1 END, v)) ->> '$.n_skipped' FROM t");
}

/* gmm_fit (5), ext (5): GROUP BY over vectors: every group fixes its own
** length and form (2-D JSON, 3-D float32 BLOBs, 2-D float64 BLOBs with a
** per-group spec, all NULL) and gets the model of its rows as separate
** arguments; an error names the row within its group. */
static void test_group_by_vectors(void **state) {
  sqlite3 *db = *state;
  make_vectors(db, "p2", 200, 2, 2, TWO_2D, 0.7, 91, 0);
  make_vectors(db, "p3", 200, 3, 3, THREE_3D, 1.0, 92, 0);
  exec_sql(db, "CREATE TABLE g(grp TEXT, seq INTEGER, v, x1, x2, x3, "
               "PRIMARY KEY(grp, seq)) WITHOUT ROWID");
  exec_sql(db, "INSERT INTO g SELECT 'a', id, j, x1, x2, NULL FROM p2");
  exec_sql(db, "INSERT INTO g SELECT 'b', id, b32, f1, f2, f3 FROM p3");
  exec_sql(db, "INSERT INTO g SELECT 'c', id, b64, x1, x2, NULL FROM p2");
  exec_sql(db, "INSERT INTO g VALUES ('d', 1, NULL, NULL, NULL, NULL), "
               "('d', 2, NULL, NULL, NULL, NULL)");
  const char *spec = "CASE grp WHEN 'c' THEN '{\"k\":2,\"vector_type\":\"float64\"}' "
                     "WHEN 'b' THEN 3 ELSE 2 END";
  exec_sql(db, "CREATE TABLE fits AS SELECT grp, gmm_fit(%s, v) AS m FROM g GROUP BY grp", spec);
  assert_sql_int(db, 4, "SELECT count(*) FROM fits");
  assert_same_model(db, "SELECT m FROM fits WHERE grp = 'a'",
                    "SELECT gmm_fit(2, x1, x2) FROM g WHERE grp = 'a'");
  assert_same_model(db, "SELECT m FROM fits WHERE grp = 'b'",
                    "SELECT gmm_fit(3, x1, x2, x3) FROM g WHERE grp = 'b'");
  assert_same_model(db, "SELECT m FROM fits WHERE grp = 'c'",
                    "SELECT gmm_fit(2, x1, x2) FROM g WHERE grp = 'c'");
  assert_same_model(db, "SELECT m FROM fits WHERE grp = 'a'", "SELECT m FROM fits WHERE grp = 'c'");
  assert_sql_null(db, "SELECT m FROM fits WHERE grp = 'd'");
  assert_sql_text(db, "a:2:1,b:3:1,c:2:1",
                  "SELECT group_concat(grp || ':' || (gmm_info(m) ->> '$.d') || ':' || "
                  "(gmm_info(m) ->> '$.n_skipped'), ',') FROM (SELECT * FROM fits "
                  "WHERE m IS NOT NULL ORDER BY grp)");
  /* Apply per group with a join. */
  assert_sql_int(db, 0, "SELECT count(*) FROM g JOIN fits USING (grp) WHERE v IS NOT NULL AND "
                        "gmm_predict(m, v) IS NOT CASE grp WHEN 'b' THEN "
                        "gmm_predict(m, x1, x2, x3) ELSE gmm_predict(m, x1, x2) END");
  /* An error in group 'e' names its 3rd row. */
  exec_sql(db, "INSERT INTO g VALUES ('e', 1, '[1,2]', 1, 2, NULL), ('e', 2, NULL, NULL, NULL, "
               "NULL), ('e', 3, X'0000803F0000803F0000803F', 1, 1, 1)");
  assert_sql_error(db, "gmm_fit: row 3, argument 2 (vector) has 3 values, expected 2",
                   "SELECT grp, gmm_fit(%s, v) FROM g GROUP BY grp", spec);
}

/* ========================================================================
** Bugs: these tests fail until the extension is fixed.
*/

/* apply (2): "A NULL model or any NULL feature gives NULL", and gmm_fit
** skips a NULL vector. A NULL vector given to an apply function with a
** d > 1 model should give NULL (a nullable embedding column, a LEFT JOIN);
** it is "gmm_predict: the model has 2 features, provided 1". */
static void test_bug_apply_null_vector(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(1, column1, column2) AS m FROM "
               "(VALUES (0, 0), (1, 2), (2, 1))");
  exec_sql(db, "CREATE TABLE t(v)");
  exec_sql(db, "INSERT INTO t VALUES ('[1,2]'), (NULL)");
  assert_value(db, "1", "SELECT count(*) FROM t, m WHERE gmm_predict(m, v) IS NULL");
  assert_value(db, NULL, "SELECT gmm_predict((SELECT m FROM m), NULL)");
  assert_value(db, NULL, "SELECT gmm_predict_proba((SELECT m FROM m), NULL)");
  assert_value(db, NULL, "SELECT gmm_score((SELECT m FROM m), NULL)");
}

/* apply (2), ext (5): a NULL model gives NULL. With a NULL model d is not
** known, and a valid float64 vector (8*d bytes) is checked as float32: a
** 600-value float64 BLOB (4800 bytes: 1200 float32) is "must hold 1 to
** 1000 float32 values", and float64 1.0000000149011612 (bytes FFFFFFFF
** 0000F03F: a float32 NaN first) is "value 1 is not finite". Both should
** be NULL, as they are for the numbers given separately. */
static void test_bug_null_model_float64_vector(void **state) {
  sqlite3 *db = *state;
  assert_value(db, NULL, "SELECT gmm_predict(NULL, X'FFFFFFFF0000F03F')");
  assert_value(db, NULL, "SELECT gmm_score(NULL, zeroblob(4800))");
}

/* gmm_fit (1), ext (5): "A function given a single TEXT or BLOB where
** features go reads it as a vector". gmm_fit(2, '[x]') reads a vector of 1
** and gmm_predict(m, '[x]') too, but a warm start from a d = 1 model does
** not: "gmm_fit: row 1, argument 2 (x1) must be a finite INTEGER or REAL,
** provided TEXT '[1]'". Expected: the model of the warm start on x. */
static void test_bug_warm_start_d1_vector(void **state) {
  sqlite3 *db = *state;
  exec_sql(db, "CREATE TABLE t(x REAL, j TEXT, b BLOB)");
  exec_sql(db, "INSERT INTO t VALUES (1, '[1]', X'0000803F'), (1.25, '[1.25]', X'0000A03F'), "
               "(0.75, '[0.75]', X'0000403F'), (5, '[5]', X'0000A040'), "
               "(5.5, '[5.5]', X'0000B040'), (4.5, '[4.5]', X'00009040')");
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('{\"k\":2,\"max_iter\":1}', x) AS m FROM t");
  assert_same_model(db, "SELECT gmm_fit((SELECT m FROM m), j) FROM t",
                    "SELECT gmm_fit((SELECT m FROM m), x) FROM t");
  assert_same_model(db, "SELECT gmm_fit((SELECT m FROM m), b) FROM t",
                    "SELECT gmm_fit((SELECT m FROM m), x) FROM t");
}

/* Every test gets a fresh connection in *state; the teardown closes it,
** also after a failure, so that the failing bug tests stay clean under
** valgrind. */
static int db_setup(void **state) {
  *state = open_db();
  return 0;
}

static int db_teardown(void **state) {
  return sqlite3_close(*state) == SQLITE_OK ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fit_json_equals_separate, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_fit_json_array_equals_separate, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_fit_weighted_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_fit_float32_blobs, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_fit_float64_blobs, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_fit_warm_start_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_d1_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_d1000_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_apply_vectors_agree, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_apply_8d_bytes_are_float64, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_errors_json_text, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_errors_not_finite, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_errors_blob_length, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_errors_length_mismatch, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_errors_apply_length, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_null_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_group_by_vectors, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_bug_apply_null_vector, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_bug_null_model_float64_vector, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_bug_warm_start_d1_vector, db_setup, db_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
