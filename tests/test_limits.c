/*
** test_limits.c -- cmocka tests of the gmm extension's limits through SQL:
** every limit of README "Limits" (k, d, parameters, max_iter, n_init) and
** the candidates of a selection, each at its limit and one past it with
** its exact error text; d at SQLite's argument maximum; results larger
** than SQLITE_LIMIT_LENGTH (the model BLOB, gmm_info's JSON, the rows of
** gmm_components and gmm_sample); and the memory a million-row fit takes.
** Each test's comment writes down the expected outcome; a test that fails
** shows the extension does not (yet) meet it.
**
** Build and run from the repository root (after `make`):
**   cc -std=c11 -O2 -g -Wall -Wextra -o build/test_limits tests/test_limits.c \
**      -lsqlite3 -lcmocka -lm
**   GMM_EXTENSION=./gmm ./build/test_limits
** GMM_QUICK=1 skips the million-row fits (for valgrind).
*/
#include "sql_harness.h"

static int quick_mode(void) {
  const char *q = getenv("GMM_QUICK");
  return q && q[0] && strcmp(q, "0") != 0;
}

/* "c1, c2, ..., cd" (malloc'd). */
static char *column_list(int d) {
  size_t cap = (size_t)d * 8 + 1, len = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  s[0] = 0;
  for (int j = 1; j <= d; j++) len += (size_t)snprintf(s + len, cap - len, "%sc%d", j > 1 ? ", " : "", j);
  return s;
}

/* Table t(cluster, c1 .. cd) with n rows: cluster i % 2, features
** N(cluster * sep, 1), seeded. */
static void make_table(sqlite3 *db, int d, int n, double sep, uint64_t seed) {
  char *cols = column_list(d);
  exec_sql(db, "CREATE TABLE t(cluster INTEGER, %s)", cols);
  size_t cap = (size_t)d * 3 + 8;
  char *marks = malloc(cap);
  assert_non_null(marks);
  strcpy(marks, "?");
  for (int j = 0; j < d; j++) strcat(marks, ", ?");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO t VALUES (%s)", marks);
  rng r = {seed};
  for (int i = 0; i < n; i++) {
    sqlite3_bind_int(ins, 1, i % 2);
    for (int j = 0; j < d; j++) sqlite3_bind_double(ins, j + 2, (i % 2) * sep + rng_normal(&r));
    insert_row(ins);
  }
  end_insert(db, ins);
  free(marks);
  free(cols);
}

/* ------------------------------------------------------------------------
** 1. k (README: components k, maximum 1024). Expected:
**   - INTEGER spec 1025: "gmm_fit: argument 1 (spec) k must be between 1
**     and 1024, provided 1025"; 0 likewise with "provided 0";
**   - JSON k 2000 (README's example): "gmm_fit: option k must be between
**     1 and 1024, provided 2000"; 1025 likewise;
**   - a list element: {"k":[2,1025]}: "gmm_fit: option k[1] must be
**     between 1 and 1024, provided 1025";
**   - k = 1024 at the limit on 2048 rows (spherical, k-means++, max_iter
**     2): a model BLOB whose gmm_info says k 1024.
*/
static void test_k_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE r(x REAL)");
  exec_sql(db,
           "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 2047) "
           "INSERT INTO r SELECT (i * 7919 %% 2048) * 0.5 FROM s");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) k must be between 1 and 1024, provided 1025",
                   "SELECT gmm_fit(1025, x) FROM r");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) k must be between 1 and 1024, provided 0",
                   "SELECT gmm_fit(0, x) FROM r");
  assert_sql_error(db, "gmm_fit: option k must be between 1 and 1024, provided 2000",
                   "SELECT gmm_fit('{\"k\":2000}', x) FROM r");
  assert_sql_error(db, "gmm_fit: option k must be between 1 and 1024, provided 1025",
                   "SELECT gmm_fit('{\"k\":1025}', x) FROM r");
  assert_sql_error(db, "gmm_fit: option k[1] must be between 1 and 1024, provided 1025",
                   "SELECT gmm_fit('{\"k\":[2,1025]}', x) FROM r");
  assert_sql_int(db, 1024,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":1024,\"covariance_type\":"
                 "\"spherical\",\"init\":\"k-means++\",\"max_iter\":2}', x)), '$.k') FROM r");
  close_db(db);
}

/* ------------------------------------------------------------------------
** 2. d (README: 1000 in the core; SQLite allows 127 arguments per call by
** default, so 126 through gmm_fit). Expected, with this library's
** SQLITE_LIMIT_FUNCTION_ARG (127 here):
**   - 126 features (400 rows, two clusters 6 apart in every coordinate,
**     k = 2, full): gmm_fit gives a model with d 126; gmm_predict (127
**     arguments) labels every row by its cluster (up to renaming);
**     gmm_predict_proba gives 2 posteriors summing to 1 (1e-9); gmm_score
**     is a finite REAL; weighted, 125 features after the weight fit too;
**   - 127 features: SQLite's own "too many arguments on function gmm_fit"
**     (the call never reaches the extension);
**   - when the library allows 1002 arguments or more (a build with a
**     larger SQLITE_MAX_FUNCTION_ARG): 1001 features give "gmm_fit: too
**     many features, provided 1001, maximum 1000" (README's text).
*/
static void test_d_limit(void **state) {
  (void)state;
  enum { D = 126, N = 400 };
  sqlite3 *db = open_db();
  int max_args = sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, -1);
  print_message("      SQLITE_LIMIT_FUNCTION_ARG = %d\n", max_args);
  make_table(db, D, N, 6.0, 3);
  char *cols = column_list(D);
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('{\"k\":2,\"seed\":1}', %s) AS model FROM t", cols);
  assert_sql_int(db, D, "SELECT json_extract(gmm_info(model), '$.d') FROM m");
  sqlite3_int64 agree =
      sql_int(db, "SELECT sum(gmm_predict(m.model, %s) = cluster) FROM t, m", cols);
  if (agree != 0 && agree != N)
    fail_msg("126 features: %lld of %d rows labelled as their cluster (expected 0 or %d)", agree, N,
             N);
  assert_sql_int(db, N,
                 "SELECT count(*) FROM t, m WHERE json_array_length(gmm_predict_proba(m.model, %s)) "
                 "= 2 AND abs(json_extract(gmm_predict_proba(m.model, %s), '$[0]') + "
                 "json_extract(gmm_predict_proba(m.model, %s), '$[1]') - 1) < 1e-9",
                 cols, cols, cols);
  assert_sql_int(db, N,
                 "SELECT count(*) FROM t, m WHERE typeof(gmm_score(m.model, %s)) = 'real' AND "
                 "gmm_score(m.model, %s) BETWEEN -1e300 AND 1e300",
                 cols, cols);
  /* Weighted: spec, weight and 125 features = 127 arguments. */
  char *cols125 = column_list(D - 1);
  assert_sql_int(db, D - 1,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":2,\"weighted\":true}', 1.0, %s)), "
                 "'$.d') FROM t",
                 cols125);
  /* 127 features: 128 arguments. */
  char *sql = format("SELECT gmm_fit(2, %s, c1) FROM t", cols);
  if (max_args < 128)
    assert_sql_error(db, "too many arguments on function gmm_fit", "%s", sql);
  free(sql);
  if (max_args >= 1002) {
    char *vals = malloc(1001 * 5 + 1);
    assert_non_null(vals);
    vals[0] = 0;
    for (int j = 1; j <= 1001; j++) strcat(vals, j > 1 ? ", 1.0" : "1.0");
    assert_sql_error(db, "gmm_fit: too many features, provided 1001, maximum 1000",
                     "SELECT gmm_fit(1, %s)", vals);
    free(vals);
  } else {
    print_message("      1001 features: not reachable with this library (at most %d arguments)\n",
                  max_args);
  }
  free(cols);
  free(cols125);
  close_db(db);
}

/* ------------------------------------------------------------------------
** 3. Parameters k (d^2 + d + 1) (README: 100,000,000, error "gmm_fit: k =
** ... with ... features needs ... parameters, maximum 100000000").
** Expected:
**   - through SQL with at most 126 features the largest model, k = 1024,
**     d = 126, full, needs 1024 x (126^2 + 127) = 16,386,048 parameters:
**     under the limit, so a fit of it on one row fails on the rows, not
**     the parameters: "gmm_fit: k = 1024 is larger than the number of
**     usable rows (1)";
**   - when the library allows 1001 arguments or more: k = 100, d = 1000,
**     full gives "gmm_fit: k = 100 with 1000 features needs 100100100
**     parameters, maximum 100000000".
*/
static void test_parameters_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int max_args = sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, -1);
  make_table(db, 126, 1, 0.0, 5);
  char *cols = column_list(126);
  assert_sql_error(db, "gmm_fit: k = 1024 is larger than the number of usable rows (1)",
                   "SELECT gmm_fit(1024, %s) FROM t", cols);
  free(cols);
  if (max_args >= 1001) {
    char *vals = malloc(1000 * 6 + 1);
    assert_non_null(vals);
    vals[0] = 0;
    for (int j = 1; j <= 1000; j++) strcat(vals, j > 1 ? ", 1.0" : "1.0");
    assert_sql_error(db,
                     "gmm_fit: k = 100 with 1000 features needs 100100100 parameters, maximum "
                     "100000000",
                     "SELECT gmm_fit(100, %s)", vals);
    free(vals);
  } else {
    print_message("      the parameter limit is not reachable with at most %d arguments: the "
                  "largest SQL model has 16386048 parameters\n",
                  max_args);
  }
  close_db(db);
}

/* ------------------------------------------------------------------------
** 4. max_iter (README: 1,000,000) and n_init (README: 10,000). Expected:
**   - max_iter 1000001: "gmm_fit: option max_iter must be between 0 and
**     1000000, provided 1000001"; -1: "... provided -1";
**   - max_iter 1000000 on 200 Gaussian rows, k = 1: a model, converged,
**     options.max_iter 1000000 in gmm_info;
**   - n_init 10001: "gmm_fit: option n_init must be between 1 and 10000,
**     provided 10001"; 0: "... provided 0";
**   - n_init 10000 on 10 rows, k = 1: a model, options.n_init 10000.
*/
static void test_iter_and_init_limits(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_table(db, 2, 200, 0.0, 7);
  assert_sql_error(db, "gmm_fit: option max_iter must be between 0 and 1000000, provided 1000001",
                   "SELECT gmm_fit('{\"k\":1,\"max_iter\":1000001}', c1, c2) FROM t");
  assert_sql_error(db, "gmm_fit: option max_iter must be between 0 and 1000000, provided -1",
                   "SELECT gmm_fit('{\"k\":1,\"max_iter\":-1}', c1, c2) FROM t");
  assert_sql_text(db, "[1000000,1]",
                  "SELECT json_array(json_extract(i, '$.options.max_iter'), "
                  "json_extract(i, '$.converged')) FROM (SELECT gmm_info(gmm_fit("
                  "'{\"k\":1,\"max_iter\":1000000}', c1, c2)) AS i FROM t)");
  assert_sql_error(db, "gmm_fit: option n_init must be between 1 and 10000, provided 10001",
                   "SELECT gmm_fit('{\"k\":1,\"n_init\":10001}', c1, c2) FROM t");
  assert_sql_error(db, "gmm_fit: option n_init must be between 1 and 10000, provided 0",
                   "SELECT gmm_fit('{\"k\":1,\"n_init\":0}', c1, c2) FROM t");
  assert_sql_int(db, 10000,
                 "SELECT json_extract(gmm_info(gmm_fit('{\"k\":1,\"n_init\":10000}', c1, c2)), "
                 "'$.options.n_init') FROM (SELECT * FROM t LIMIT 10)");
  close_db(db);
}

/* ------------------------------------------------------------------------
** 5. Candidates of a selection (README "Model selection": up to 1024
** candidates per call; gmm.h GMM_MAX_CANDIDATES). Expected:
**   - 256 k values x 4 covariance types = 1024 candidates on 3 rows: a
**     model whose gmm_info lists 1024 candidates (those with k > 3
**     failed: 1012);
**   - a k list of 1025 values: "gmm_fit: option k has too many values,
**     maximum 1024";
**   - 1024 k values x 2 types = 2048 candidates: "gmm_fit: selection
**     needs 1 to 1024 candidates, provided 1024 k values x 2 covariance
**     types".
*/
static void test_candidates_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE r(x REAL); INSERT INTO r VALUES (0), (1), (5)");
  char *k256 = malloc(256 * 5 + 3), *k1024 = malloc(1024 * 5 + 3), *k1025 = malloc(1025 * 5 + 3);
  assert_non_null(k256);
  assert_non_null(k1024);
  assert_non_null(k1025);
  strcpy(k256, "[");
  strcpy(k1024, "[");
  strcpy(k1025, "[");
  for (int k = 1; k <= 1025; k++) {
    char item[16];
    snprintf(item, sizeof item, "%s%d", k > 1 ? "," : "", k <= 1024 ? k : 1);
    if (k <= 256) strcat(k256, item);
    if (k <= 1024) strcat(k1024, item);
    strcat(k1025, item);
  }
  strcat(k256, "]");
  strcat(k1024, "]");
  strcat(k1025, "]");
  assert_sql_text(db, "[1024,1012]",
                  "SELECT json_array(json_array_length(i, '$.candidates'), "
                  "(SELECT count(*) FROM json_each(i, '$.candidates') "
                  "WHERE json_extract(value, '$.failed'))) FROM (SELECT gmm_info(gmm_fit("
                  "'{\"k\":%s,\"covariance_type\":[\"full\",\"tied\",\"diag\",\"spherical\"],"
                  "\"max_iter\":3}', x)) AS i FROM r)",
                  k256);
  assert_sql_error(db, "gmm_fit: option k has too many values, maximum 1024",
                   "SELECT gmm_fit('{\"k\":%s}', x) FROM r", k1025);
  assert_sql_error(db,
                   "gmm_fit: selection needs 1 to 1024 candidates, provided 2048 (1024 k values "
                   "x 2 covariance types)",
                   "SELECT gmm_fit('{\"k\":%s,\"covariance_type\":[\"full\",\"diag\"]}', x) FROM r",
                   k1024);
  free(k256);
  free(k1024);
  free(k1025);
  close_db(db);
}

/* ------------------------------------------------------------------------
** 6. gmm_sample rows (README: 10,000,000). Expected: n = 10000000 is
** accepted (read through "WHERE sample < 3", which vtab (9) makes draw 3
** rows, and LIMIT 2: 3 and 2 rows); n = 10000001: "gmm_sample: argument 2
** (n) must be an INTEGER between 0 and 10000000, provided 10000001"; n =
** -1 likewise with "provided -1".
*/
static void test_sample_rows_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_table(db, 2, 50, 0.0, 9);
  int n = 0;
  unsigned char *model = sql_blob(db, &n, "SELECT gmm_fit(1, c1, c2) FROM t");
  assert_sql_int_b(db, model, n, 3,
                   "SELECT count(*) FROM gmm_sample(?1, 10000000) WHERE sample < 3");
  assert_sql_int_b(db, model, n, 2,
                   "SELECT count(*) FROM (SELECT * FROM gmm_sample(?1, 10000000) LIMIT 2)");
  assert_sql_error_b(db, model, n,
                     "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                     "provided 10000001",
                     "SELECT * FROM gmm_sample(?1, 10000001)");
  assert_sql_error_b(db, model, n,
                     "gmm_sample: argument 2 (n) must be an INTEGER between 0 and 10000000, "
                     "provided -1",
                     "SELECT * FROM gmm_sample(?1, -1)");
  free(model);
  close_db(db);
}

/* The model BLOB's size for a full model (README "Model BLOB", format 2):
** 104 header + 8k weights + 8kd means + 8 k d(d+1)/2 covariances + 8
** checksum. */
static long full_blob_size(long k, long d) {
  return 136 + 8 * k + 8 * k * d + 8 * k * d * (d + 1) / 2 + 8;
}

/* The statement fails, and its message names fn and contains both sizes;
** otherwise a description of what it gave (malloc'd). NULL when as
** expected. */
static char *too_big_outcome(sqlite3 *db, const void *blob, int n_blob, const char *fn,
                             long size, long limit, const char *sql) {
  result r;
  run_sql(db, blob, n_blob, sql, &r);
  char sz[32], lim[32];
  snprintf(sz, sizeof sz, "%ld", size);
  snprintf(lim, sizeof lim, "%ld", limit);
  char *why = NULL;
  if (r.rc == SQLITE_OK)
    why = format("succeeded with %d rows, first value %s%s", r.n_rows,
                 r.type == SQLITE_NULL ? "NULL" : "of type ",
                 r.type == SQLITE_NULL ? "" : (r.type == SQLITE_BLOB ? "BLOB" : "TEXT/number"));
  else if (strncmp(r.error, fn, strlen(fn)) != 0 || r.error[strlen(fn)] != ':' ||
           !strstr(r.error, sz) || !strstr(r.error, lim))
    why = format("error %d \"%s\"", r.rc, r.error);
  print_message("      %s, %ld bytes against a limit of %ld: %s%s%s\n", fn, size, limit,
                r.rc == SQLITE_OK ? "no error" : "error \"",
                r.rc == SQLITE_OK ? "" : r.error, r.rc == SQLITE_OK ? "" : "\"");
  result_clear(&r);
  return why;
}

/* ------------------------------------------------------------------------
** 7. A model BLOB larger than SQLITE_LIMIT_LENGTH: k = 2, d = 50, full
** (21,328 bytes) with the limit lowered to 10,000. Expected: an error
** whose text starts "gmm_fit:" and names both sizes (21328 and 10000),
** exactly README's form: "gmm_fit: the model takes 21328 bytes, more than
** this connection's SQLITE_LIMIT_LENGTH (10000)" -- not a silent NULL,
** not a crash, not SQLite's generic "string or blob too big". The
** connection then still works, and with the limit back the same fit gives
** a BLOB of exactly 21,328 bytes (so the size named is the real one).
*/
static void test_blob_over_length_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_table(db, 50, 200, 5.0, 11);
  char *cols = column_list(50);
  char *sql = format("SELECT gmm_fit(2, %s) FROM t", cols);
  long size = full_blob_size(2, 50);
  int old = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 10000);
  char *why = too_big_outcome(db, NULL, 0, "gmm_fit", size, 10000, sql);
  if (!why) {
    char expected[160];
    snprintf(expected, sizeof expected,
             "gmm_fit: the model takes %ld bytes, more than this connection's "
             "SQLITE_LIMIT_LENGTH (10000)",
             size);
    assert_sql_error(db, expected, "%s", sql);
  }
  check_alive(__FILE__, __LINE__, db);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, old);
  assert_sql_int(db, size, "SELECT length(gmm_fit(2, %s)) FROM t", cols);
  free(sql);
  free(cols);
  close_db(db);
  if (why) {
    print_error("a %ld-byte model BLOB over SQLITE_LIMIT_LENGTH 10000: expected an error naming "
                "gmm_fit, %ld and 10000; got %s\n",
                size, size, why);
    free(why);
    fail();
  }
}

/* ------------------------------------------------------------------------
** 8. Results of the other functions longer than SQLITE_LIMIT_LENGTH, each
** with a model BLOB under the limit (so the model itself passes):
**   a. gmm_info of the k = 2, d = 50 full model (21,328-byte BLOB; its
**      JSON is about 100 kB) with the limit at 30,000;
**   b. gmm_components of the same model (each row's covariance is a 50 x
**      50 array, about 50 kB) with the limit at 30,000;
**   c. gmm_sample of a k = 1, d = 126 spherical model (1,136-byte BLOB;
**      each row's x is about 2.4 kB) with the limit at 1,500;
**   d. gmm_components of that model (its mean is about 2.4 kB), limit
**      1,500.
** Expected for each: an error naming the function ("gmm_info:",
** "gmm_components:", "gmm_sample:") and both sizes (the length the text
** would have, measured here with the limit back up, and the limit) --
** not SQLite's generic "string or blob too big", and not "out of memory"
** (SQLITE_NOMEM: memory was not short). The connection works afterwards.
*/
static void test_json_over_length_limit(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_table(db, 50, 200, 5.0, 11);
  char *cols = column_list(50);
  int n_big = 0;
  unsigned char *big = sql_blob(db, &n_big, "SELECT gmm_fit(2, %s) FROM t", cols);
  free(cols);
  exec_sql(db, "DROP TABLE t");
  make_table(db, 126, 300, 0.0, 12);
  cols = column_list(126);
  int n_wide = 0;
  unsigned char *wide =
      sql_blob(db, &n_wide, "SELECT gmm_fit('{\"k\":1,\"covariance_type\":\"spherical\"}', %s) FROM t",
               cols);
  free(cols);
  assert_int_equal(n_wide, 136 + 8 + 8 * 126 + 8 + 8); /* format version 4 */

  long info_len = (long)sql_int_b(db, big, n_big, "SELECT length(gmm_info(?1))");
  long comp_len = (long)sql_int_b(
      db, big, n_big, "SELECT length(covariance) FROM gmm_components(?1) WHERE component = 0");
  long sample_len =
      (long)sql_int_b(db, wide, n_wide, "SELECT length(x) FROM gmm_sample(?1, 1, 0)");
  long mean_len =
      (long)sql_int_b(db, wide, n_wide, "SELECT length(mean) FROM gmm_components(?1)");
  struct {
    const char *fn;
    const unsigned char *blob;
    int n_blob;
    long size, limit;
    const char *sql;
  } cases[] = {
      {"gmm_info", big, n_big, info_len, 30000, "SELECT gmm_info(?1)"},
      {"gmm_components", big, n_big, comp_len, 30000,
       "SELECT covariance FROM gmm_components(?1)"},
      {"gmm_sample", wide, n_wide, sample_len, 1500, "SELECT x FROM gmm_sample(?1, 1, 0)"},
      {"gmm_components", wide, n_wide, mean_len, 1500, "SELECT mean FROM gmm_components(?1)"},
  };
  char report[4096] = "";
  int old = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    assert_true(cases[c].size > cases[c].limit && cases[c].n_blob < cases[c].limit);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)cases[c].limit);
    char *why = too_big_outcome(db, cases[c].blob, cases[c].n_blob, cases[c].fn, cases[c].size,
                                cases[c].limit, cases[c].sql);
    check_alive(__FILE__, __LINE__, db);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, old);
    if (why) {
      size_t len = strlen(report);
      snprintf(report + len, sizeof report - len,
               "\n  %s (%ld bytes, limit %ld) via \"%s\": expected an error naming %s, %ld and "
               "%ld; got %s",
               cases[c].fn, cases[c].size, cases[c].limit, cases[c].sql, cases[c].fn,
               cases[c].size, cases[c].limit, why);
      free(why);
    }
  }
  free(big);
  free(wide);
  close_db(db);
  if (report[0]) {
    print_error("results over SQLITE_LIMIT_LENGTH:%s\n", report);
    fail();
  }
}

/* ------------------------------------------------------------------------
** 9. Memory of a million-row fit: gmm_fit over 1,000,000 rows generated by
** a recursive CTE (streamed, so no table holds them), k = 3, max_iter 3.
** The peak of SQLite's memory accounting during the statement
** (sqlite3_memory_highwater after a reset, less sqlite3_memory_used
** before) must stay within 1.3 x n d 8 (the buffered rows) + 1 MB
** (DESIGN section 5: "memory stays near n d 8 bytes plus O(k d^2)"):
**   a. d = 2, init random_from_data;
**   b. d = 8, init random_from_data;
**   c. d = 2, init k-means++ (the seeding of the default init kmeans too).
** The ratio peak / (n d 8) is printed for the record.
*/
static void million_row_fit(int d, const char *init, char *report, size_t report_len) {
  enum { N = 1000000 };
  sqlite3 *db = open_db();
  char features[1024] = "";
  for (int j = 0; j < d; j++) {
    size_t len = strlen(features);
    /* A hash of (i, j) scaled to [0, 1), plus 10 x the row's cluster. */
    snprintf(features + len, sizeof features - len,
             "%s((i * 2654435761 + %d * 40503) %% 1000003) / 1000003.0 + 10 * (i %% 3)",
             j ? ", " : "", j + 1);
  }
  sqlite3_stmt *stmt = prepare(
      db, NULL, 0,
      "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
      "SELECT json_extract(gmm_info(gmm_fit('{\"k\":3,\"max_iter\":3,\"init\":\"%s\"}', %s)), "
      "'$.n_samples') FROM s",
      N - 1, init, features);
  sqlite3_int64 before = sqlite3_memory_used();
  sqlite3_memory_highwater(1);
  int rc = sqlite3_step(stmt);
  sqlite3_int64 peak = sqlite3_memory_highwater(0);
  if (rc != SQLITE_ROW) fail_msg("million-row fit: %s", sqlite3_errmsg(db));
  assert_int_equal(sqlite3_column_int64(stmt, 0), N);
  sqlite3_finalize(stmt);
  close_db(db);
  double rows_bytes = (double)N * d * 8;
  double used = (double)(peak - before);
  double bound = 1.3 * rows_bytes + 1048576.0;
  print_message("      n = 1000000, d = %d, init %s: peak %.2f MB for %.2f MB of rows: ratio "
                "%.3f (bound %.2f MB, ratio %.3f)\n",
                d, init, used / 1048576.0, rows_bytes / 1048576.0, used / rows_bytes,
                bound / 1048576.0, bound / rows_bytes);
  if (used > bound) {
    size_t len = strlen(report);
    snprintf(report + len, report_len - len,
             "\n  n = 1000000, d = %d, init %s: peak %.0f bytes = %.3f x n d 8, over the bound "
             "%.0f (1.3 x n d 8 + 1 MB)",
             d, init, used, used / rows_bytes, bound);
  }
}

static void test_million_rows_memory(void **state) {
  (void)state;
  if (quick_mode()) {
    print_message("      skipped (GMM_QUICK)\n");
    return;
  }
  char report[1024] = "";
  million_row_fit(2, "random_from_data", report, sizeof report);
  million_row_fit(8, "random_from_data", report, sizeof report);
  million_row_fit(2, "k-means++", report, sizeof report);
  if (report[0]) {
    print_error("memory of million-row fits:%s\n", report);
    fail();
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_k_limit),
      cmocka_unit_test(test_d_limit),
      cmocka_unit_test(test_parameters_limit),
      cmocka_unit_test(test_iter_and_init_limits),
      cmocka_unit_test(test_candidates_limit),
      cmocka_unit_test(test_sample_rows_limit),
      cmocka_unit_test(test_blob_over_length_limit),
      cmocka_unit_test(test_json_over_length_limit),
      cmocka_unit_test(test_million_rows_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
