/*
** test_passes.c -- cmocka tests of EM in passes through SQL: gmm_init,
** gmm_start, gmm_estep, gmm_merge, gmm_mstep, gmm_converged and
** gmm_stats_info.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL (tests/sql_harness.h). Each test's comment cites the numbered
** requirements it checks, as the sources state them:
**
**   pass (N)     ext/sqlite/gmm_pass_sql.c  the pass functions
**   stats (N)    ext/core/gmm_stats.c       statistics, M-step, their BLOB
**   istate (N)   ext/core/gmm_istate.c      the initialisation state
**   apply (N)    ext/sqlite/gmm_apply.c     gmm_converged, gmm_info
**   DESIGN §N    /work/shared/DESIGN.md
**   README       README.md, "Larger than memory: fitting in passes"
**
** Error texts are asserted whole; after every expected error the harness
** checks that the connection still answers a simple query. Numbers from
** passes are compared with gmm_fit's elementwise, to 1e-10 relative.
**
** The data are generated here with the harness's seeded PRNG, so they
** depend on nothing under test. The fixtures tests/fixtures/stats-v1.bin
** and tests/fixtures/istate-v1.bin were written once by
** tests/make_pass_fixtures.c and are never regenerated.
**
** Statements that once crashed the process (NULL vector arguments) run in
** a child process (isolated_value), so that a crash fails one test and
** not the suite.
*/
#define _POSIX_C_SOURCE 200809L /* fork, pipe, waitpid */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sql_harness.h"

/* ------------------------------------------------------------------------
** BLOBs in C and in the connection.
*/
typedef struct bytes {
  unsigned char *p; /* NULL for SQL NULL */
  int n;
} bytes;

static void bytes_free(bytes *b) {
  free(b->p);
  b->p = NULL;
  b->n = 0;
}

static bytes bytes_copy(bytes b) {
  bytes c = {malloc((size_t)b.n + 1), b.n};
  assert_non_null(c.p);
  memcpy(c.p, b.p, (size_t)b.n);
  return c;
}

/* The single value of a statement that must give one row of one value, a
** BLOB or NULL. */
#define get_blob(db, ...) get_blob_at(__FILE__, __LINE__, db, __VA_ARGS__)
static bytes get_blob_at(const char *file, int line, sqlite3 *db, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *sql = vformat(fmt, ap);
  va_end(ap);
  result r;
  run_value(file, line, db, NULL, 0, sql, &r);
  if (r.type != SQLITE_BLOB && r.type != SQLITE_NULL) {
    print_error("expected a BLOB or NULL, got type %d\n  in: %s\n", r.type, sql);
    _fail(file, line);
  }
  bytes b = {r.blob, r.n_blob};
  r.blob = NULL;
  result_clear(&r);
  free(sql);
  return b;
}

/* blobs(name, b): the values the tests pass from one statement to the
** next; B("name") reads one back inside SQL. */
#define B(name) "(SELECT b FROM blobs WHERE name = '" name "')"

#define store(db, name, b) store_at(__FILE__, __LINE__, db, name, b)
static void store_at(const char *file, int line, sqlite3 *db, const char *name, bytes b) {
  sqlite3_stmt *stmt =
      prepare_at(file, line, db, NULL, 0, "INSERT OR REPLACE INTO blobs(name, b) VALUES (?1, ?2)");
  sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
  if (b.p)
    sqlite3_bind_blob(stmt, 2, b.p, b.n, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(stmt, 2);
  if (sqlite3_step(stmt) != SQLITE_DONE) {
    print_error("store %s: %s\n", name, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    _fail(file, line);
  }
  sqlite3_finalize(stmt);
}

static void assert_same_bytes_at(const char *file, int line, bytes a, bytes b, const char *what) {
  if (a.p && b.p && a.n == b.n && memcmp(a.p, b.p, (size_t)a.n) == 0) return;
  int first = -1;
  for (int i = 0; a.p && b.p && i < a.n && i < b.n && first < 0; i++)
    if (a.p[i] != b.p[i]) first = i;
  print_error("%s: the BLOBs differ (%d and %d bytes, first difference at byte %d)\n", what, a.n,
              b.n, first);
  _fail(file, line);
}
#define assert_same_bytes(a, b, what) assert_same_bytes_at(__FILE__, __LINE__, a, b, what)

static uint64_t get_le(const unsigned char *p, int n_bytes) {
  uint64_t v = 0;
  for (int i = n_bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static double get_double(const unsigned char *p) {
  uint64_t bits = get_le(p, 8);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Recomputes the checksum (the last 8 bytes) after a test edited a BLOB. */
static void reseal(bytes b) {
  put_le(b.p + b.n - 8, fnv1a(b.p, (size_t)b.n - 8), 8);
}

/* A model's fingerprint: the checksum stored in its last 8 bytes. */
static uint64_t fingerprint(bytes model) {
  return get_le(model.p + model.n - 8, 8);
}

/* The order in which gmm_merge adds BLOBs up: by bytes, then length. */
static int merge_order(bytes a, bytes b) {
  int n = a.n < b.n ? a.n : b.n;
  int c = memcmp(a.p, b.p, (size_t)n);
  if (c) return c;
  return (a.n > b.n) - (a.n < b.n);
}

/* ------------------------------------------------------------------------
** Data.
*/
enum { N_PTS = 900, N_NULL = 3, N_ZERO_WEIGHT = 3 };

/* pts(id, g, w, x, y, z): N_PTS rows from three overlapping correlated
** Gaussians in 3-D far from the origin, g = id % 5, w a weight in [0.25,
** 1.75). Three rows have x, y and z NULL (id % 300 == 150: every feature
** missing, so skipped and counted whatever the option missing says; rows
** with some features missing are tests/test_missing_sql.c's) and three
** others a weight of 0 (id % 300 == 77). An index on g makes GROUP BY g
** scan each group in rowid order. */
static void make_pts(sqlite3 *db) {
  exec_sql(db,
           "CREATE TABLE pts(id INTEGER PRIMARY KEY, g INTEGER, w REAL, x REAL, y REAL, z REAL);"
           "CREATE INDEX pts_g ON pts(g)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO pts VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  static const double centre[3][3] = {{10, 20, 5}, {12.5, 21, 6}, {9, 23, 7.5}};
  rng r = {20240601};
  for (int i = 1; i <= N_PTS; i++) {
    int c = i % 3;
    double a = rng_normal(&r), b = rng_normal(&r), e = rng_normal(&r);
    double w = 0.25 + 1.5 * rng_uniform(&r);
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_int(ins, 2, i % 5);
    sqlite3_bind_double(ins, 3, i % 300 == 77 ? 0.0 : w);
    sqlite3_bind_double(ins, 4, centre[c][0] + a);
    sqlite3_bind_double(ins, 5, centre[c][1] + 0.6 * a + 0.8 * b);
    sqlite3_bind_double(ins, 6, centre[c][2] + 0.5 * b + 0.7 * e - 0.3 * a);
    if (i % 300 == 150)
      for (int col = 4; col <= 6; col++) sqlite3_bind_null(ins, col);
    insert_row(ins);
  }
  end_insert(db, ins);
}

/* A connection with pts and an empty blobs table. */
static sqlite3 *open_pts(void) {
  sqlite3 *db = open_db();
  make_pts(db);
  exec_sql(db, "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  return db;
}

/* Stores m0 = gmm_start(gmm_init(spec)) over pts (with the weight column
** when weighted) under name. */
static void store_start(sqlite3 *db, const char *name, const char *spec, int weighted) {
  exec_sql(db,
           "INSERT OR REPLACE INTO blobs SELECT '%s', gmm_start(gmm_init('%s', %sx, y, z)) FROM pts",
           name, spec, weighted ? "w, " : "");
}

/* ------------------------------------------------------------------------
** A model's parameters, from gmm_info: weights, means, covariances in
** scikit-learn's shapes, flattened in JSON order with their paths.
*/
enum { MAX_PARAMS = 64 };
typedef struct params {
  int n;
  char key[MAX_PARAMS][40];
  double v[MAX_PARAMS];
} params;

#define get_params(db, model_sql, out) get_params_at(__FILE__, __LINE__, db, model_sql, out)
static void get_params_at(const char *file, int line, sqlite3 *db, const char *model_sql,
                          params *out) {
  sqlite3_stmt *stmt = prepare_at(
      file, line, db, NULL, 0,
      "SELECT j.fullkey, j.value FROM json_tree(gmm_info(%s)) AS j WHERE j.atom IS NOT NULL AND "
      "(j.fullkey LIKE '$.weights[%%' OR j.fullkey LIKE '$.means[%%' OR "
      "j.fullkey LIKE '$.covariances[%%') ORDER BY j.id",
      model_sql);
  out->n = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (out->n == MAX_PARAMS) break;
    snprintf(out->key[out->n], sizeof out->key[0], "%s", (const char *)sqlite3_column_text(stmt, 0));
    out->v[out->n++] = sqlite3_column_double(stmt, 1);
  }
  if (rc != SQLITE_DONE) {
    print_error("parameters of %s: %s\n", model_sql, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    _fail(file, line);
  }
  sqlite3_finalize(stmt);
  if (out->n == 0) {
    print_error("no parameters in gmm_info(%s)\n", model_sql);
    _fail(file, line);
  }
}

/* Every parameter of got equals want's to rel relative. */
#define assert_params_close(got, want, rel, what) \
  assert_params_close_at(__FILE__, __LINE__, got, want, rel, what)
static void assert_params_close_at(const char *file, int line, const params *got,
                                   const params *want, double rel, const char *what) {
  if (got->n != want->n) {
    print_error("%s: %d parameters, expected %d\n", what, got->n, want->n);
    _fail(file, line);
  }
  for (int i = 0; i < got->n; i++) {
    double a = got->v[i], b = want->v[i];
    if (strcmp(got->key[i], want->key[i]) != 0 || !(fabs(a - b) <= rel * fmax(fabs(a), fabs(b)))) {
      print_error("%s: %s = %.17g, expected %s = %.17g (relative difference %.3g, allowed %g)\n",
                  what, got->key[i], a, want->key[i], b, fabs(a - b) / fmax(fabs(a), fabs(b)),
                  rel);
      _fail(file, line);
    }
  }
}

static int rel_close(double a, double b, double rel) {
  return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

/* ------------------------------------------------------------------------
** Aggregates with the order their rows came in: "SELECT agg, group_concat(
** key) FROM (from)", the BLOB and the keys in arrival order (malloc'd).
*/
#define agg_in_order(db, agg, key, from, out, seen) \
  agg_in_order_at(__FILE__, __LINE__, db, agg, key, from, out, seen)
static void agg_in_order_at(const char *file, int line, sqlite3 *db, const char *agg,
                            const char *key, const char *from, bytes *out, char **seen) {
  sqlite3_stmt *stmt =
      prepare_at(file, line, db, NULL, 0, "SELECT %s, group_concat(%s) FROM (%s)", agg, key, from);
  step_row_at(file, line, db, stmt);
  if (sqlite3_column_type(stmt, 0) != SQLITE_BLOB) {
    print_error("expected a BLOB from %s\n", sqlite3_sql(stmt));
    sqlite3_finalize(stmt);
    _fail(file, line);
  }
  out->n = sqlite3_column_bytes(stmt, 0);
  out->p = malloc((size_t)out->n + 1);
  assert_non_null(out->p);
  memcpy(out->p, sqlite3_column_blob(stmt, 0), (size_t)out->n);
  *seen = dup_text((const char *)sqlite3_column_text(stmt, 1), -1);
  assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
}

/* ========================================================================
** 1. Passes over any split agree with gmm_fit warm-started.
*/
enum { M_PASSES = 8 };

/* The merge of the 7 parts' statistics of model cur arrives in three
** orders (checked through group_concat) and gives the bytes of want each
** time. */
static void check_merge_orders(sqlite3 *db, const char *wcol, bytes want) {
  exec_sql(db,
           "DROP TABLE IF EXISTS parts;"
           "CREATE TABLE parts AS SELECT id %% 7 AS part, gmm_estep(" B("cur") ", %sx, y, z) AS s "
           "FROM pts GROUP BY id %% 7",
           wcol);
  static const char *const orders[3][2] = {
      {"part", "0,1,2,3,4,5,6"},
      {"part DESC", "6,5,4,3,2,1,0"},
      {"(part * 3) % 7", "0,5,3,1,6,4,2"},
  };
  for (int o = 0; o < 3; o++) {
    char *from = format("SELECT part, s FROM parts ORDER BY %s", orders[o][0]);
    bytes got;
    char *seen;
    agg_in_order(db, "gmm_merge(s)", "part", from, &got, &seen);
    assert_string_equal(seen, orders[o][1]);
    assert_same_bytes(got, want, orders[o][0]);
    bytes_free(&got);
    free(seen);
    free(from);
  }
  /* Interleaved NULLs change nothing (pass (4)). */
  bytes with_nulls = get_blob(db,
                              "SELECT gmm_merge(s) FROM (SELECT s FROM parts UNION ALL "
                              "SELECT NULL UNION ALL SELECT NULL)");
  assert_same_bytes(with_nulls, want, "with NULLs");
  bytes_free(&with_nulls);
}

/* DESIGN §5, README, stats (5): from the same starting model, M_PASSES
** passes of estep / merge / mstep over the rows split into 1, 2 and 7
** parts give gmm_fit's parameters (warm-started, tol 0, max_iter M_PASSES)
** to 1e-10 relative, elementwise; pass (4): the 7 parts merged in any order
** give the same bytes. weight is NULL, or the SQL of the row weight. */
static void check_passes_equal_fit(const char *type, const char *weight) {
  sqlite3 *db = open_pts();
  int weighted = weight != NULL;
  char *wcol = weighted ? format("%s, ", weight) : dup_text("", 0);
  char *spec = format("{\"k\":3,\"tol\":0,\"max_iter\":%d,\"covariance_type\":\"%s\","
                      "\"weighted\":%s}",
                      M_PASSES, type, weighted ? "true" : "false");
  exec_sql(db, "INSERT INTO blobs SELECT 'm0', gmm_start(gmm_init('%s', %sx, y, z)) FROM pts",
           spec, wcol);
  free(spec);
  exec_sql(db, "INSERT INTO blobs SELECT 'fit', gmm_fit(" B("m0") ", %sx, y, z) FROM pts", wcol);
  assert_sql_int(db, M_PASSES, "SELECT gmm_info(" B("fit") ") ->> '$.n_iter'");
  assert_sql_int(db, 0, "SELECT gmm_converged(" B("fit") ")");
  assert_sql_int(db, 1, "SELECT gmm_info(" B("fit") ") ->> '$.warm_started'");
  params want, got;
  get_params(db, B("fit"), &want);
  double n_samples = sql_double(db, "SELECT gmm_info(" B("fit") ") ->> '$.n_samples'");

  static const int PARTS[3] = {1, 2, 7};
  for (int p = 0; p < 3; p++) {
    exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT 'cur', b FROM blobs WHERE name = 'm0'");
    for (int it = 1; it <= M_PASSES; it++) {
      bytes stats = get_blob(db,
                             "SELECT gmm_merge(s) FROM (SELECT gmm_estep(" B("cur") ", %sx, y, z) "
                             "AS s FROM pts GROUP BY id %% %d)",
                             wcol, PARTS[p]);
      assert_non_null(stats.p);
      store(db, "stats", stats);
      if (PARTS[p] == 7 && it == 1) check_merge_orders(db, wcol, stats);
      bytes next = get_blob(db, "SELECT gmm_mstep(" B("cur") ", " B("stats") ")");
      assert_non_null(next.p);
      if (it == M_PASSES) exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT 'prev', b FROM blobs "
                                       "WHERE name = 'cur'");
      store(db, "cur", next);
      bytes_free(&stats);
      bytes_free(&next);
      assert_sql_int(db, it, "SELECT gmm_info(" B("cur") ") ->> '$.n_iter'");
    }
    char *what = format("%s, weights %s, %d parts", type, weighted ? weight : "none", PARTS[p]);
    get_params(db, B("cur"), &got);
    assert_params_close(&got, &want, 1e-10, what);
    /* Not vacuous: one pass fewer is far from it. */
    params prev;
    get_params(db, B("prev"), &prev);
    double moved = 0;
    for (int i = 0; i < prev.n; i++)
      moved = fmax(moved, fabs(prev.v[i] - want.v[i]) / fmax(fabs(prev.v[i]), fabs(want.v[i])));
    if (!(moved > 1e-7)) fail_msg("%s: the last pass moved the parameters by %g only", what, moved);
    assert_sql_int(db, 0, "SELECT gmm_converged(" B("cur") ")");
    assert_sql_int(db, N_NULL, "SELECT gmm_info(" B("cur") ") ->> '$.n_skipped'");
    double n_got = sql_double(db, "SELECT gmm_info(" B("cur") ") ->> '$.n_samples'");
    if (!rel_close(n_got, n_samples, weighted ? 1e-12 : 0.0))
      fail_msg("%s: n_samples %.17g, gmm_fit's %.17g", what, n_got, n_samples);
    free(what);
  }
  free(wcol);
  close_db(db);
}

static void test_passes_equal_fit_full(void **state) {
  (void)state;
  check_passes_equal_fit("full", NULL);
  check_passes_equal_fit("full", "w");
}

static void test_passes_equal_fit_tied(void **state) {
  (void)state;
  check_passes_equal_fit("tied", NULL);
  check_passes_equal_fit("tied", "w");
}

static void test_passes_equal_fit_diag(void **state) {
  (void)state;
  check_passes_equal_fit("diag", NULL);
  check_passes_equal_fit("diag", "w");
}

static void test_passes_equal_fit_spherical(void **state) {
  (void)state;
  check_passes_equal_fit("spherical", NULL);
  check_passes_equal_fit("spherical", "w");
}

/* stats (5), fit (10): the weights' scale changes nothing: with every
** weight times 1e-14 or 1e14 (so that the masses are far from 1, where
** nk + 10 eps and the empty-component threshold would tell), passes still
** give gmm_fit's parameters, and no component is reported empty. */
static void test_passes_weight_scale(void **state) {
  (void)state;
  check_passes_equal_fit("full", "w * 1e-14");
  check_passes_equal_fit("diag", "w * 1e14");
  sqlite3 *db = open_pts();
  store_start(db, "m", "{\"k\":3,\"weighted\":true}", 1);
  exec_sql(db, "INSERT INTO blobs SELECT 'next', gmm_mstep(" B("m") ", gmm_estep(" B("m")
               ", w * 1e-14, x, y, z)) FROM pts;"
               "INSERT INTO blobs SELECT 'ref', gmm_mstep(" B("m") ", gmm_estep(" B("m")
               ", w, x, y, z)) FROM pts");
  assert_sql_int(db, 0, "SELECT gmm_info(" B("next") ") ->> '$.empty_components'");
  params got, want;
  get_params(db, B("next"), &got);
  get_params(db, B("ref"), &want);
  assert_params_close(&got, &want, 1e-10, "weights times 1e-14");
  close_db(db);
}

/* pass (1): the same rows in the same order give the same bytes; the
** statistics say what they hold (stats (3)): rows used and skipped, the
** sum of weights, masses summing to the weight. */
static void test_estep_deterministic_and_counts(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_start(db, "m", "{\"k\":3}", 0);
  store_start(db, "mw", "{\"k\":3,\"weighted\":true}", 1);
  bytes a = get_blob(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts");
  bytes b = get_blob(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts");
  assert_same_bytes(a, b, "the same rows twice");
  store(db, "s", a);
  assert_sql_text(db, "statistics", "SELECT gmm_stats_info(" B("s") ") ->> '$.kind'");
  assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_stats_info(" B("s") ") ->> '$.n_rows'");
  assert_sql_int(db, N_NULL, "SELECT gmm_stats_info(" B("s") ") ->> '$.n_skipped'");
  assert_sql_int(db, 0, "SELECT gmm_stats_info(" B("s") ") ->> '$.weighted'");
  assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_stats_info(" B("s") ") ->> '$.sum_weights'");
  /* The fingerprint is the model's stored checksum. */
  bytes m = get_blob(db, "SELECT " B("m"));
  char *fp = format("%016llx", (unsigned long long)fingerprint(m));
  assert_sql_text(db, fp, "SELECT gmm_stats_info(" B("s") ") ->> '$.fingerprint'");
  free(fp);
  /* The masses add up to the rows' weight. */
  assert_close(sql_double(db, "SELECT sum(value) FROM json_each(gmm_stats_info(" B("s")
                              ") -> '$.masses')"),
               N_PTS - N_NULL, 1e-9);
  /* The log-likelihood is the sum of gmm_score over the rows. */
  assert_close(sql_double(db, "SELECT gmm_stats_info(" B("s") ") ->> '$.log_likelihood'"),
               sql_double(db, "SELECT sum(gmm_score(" B("m") ", x, y, z)) FROM pts"), 1e-9);
  /* The JSON carries the JSON subtype. */
  assert_sql_text(db, "object",
                  "SELECT json_type(json_object('s', gmm_stats_info(" B("s") ")), '$.s')");
  /* Weighted: a weight of 0 leaves the row out uncounted, a NULL feature
  ** skips it (pass (2)). */
  bytes c = get_blob(db, "SELECT gmm_estep(" B("mw") ", w, x, y, z) FROM pts");
  store(db, "sw", c);
  assert_sql_int(db, N_PTS - N_NULL - N_ZERO_WEIGHT,
                 "SELECT gmm_stats_info(" B("sw") ") ->> '$.n_rows'");
  assert_sql_int(db, N_NULL, "SELECT gmm_stats_info(" B("sw") ") ->> '$.n_skipped'");
  assert_sql_int(db, 1, "SELECT gmm_stats_info(" B("sw") ") ->> '$.weighted'");
  assert_close(sql_double(db, "SELECT gmm_stats_info(" B("sw") ") ->> '$.sum_weights'"),
               sql_double(db, "SELECT sum(w) FROM pts WHERE z IS NOT NULL"), 1e-10);
  /* A NULL weight skips and counts the row too. */
  bytes d = get_blob(db,
                     "SELECT gmm_estep(" B("mw") ", CASE WHEN id %% 100 = 1 THEN NULL ELSE w END, "
                     "x, y, z) FROM pts");
  store(db, "sn", d);
  assert_sql_int(db, N_NULL + 9, "SELECT gmm_stats_info(" B("sn") ") ->> '$.n_skipped'");
  bytes_free(&a);
  bytes_free(&b);
  bytes_free(&c);
  bytes_free(&d);
  bytes_free(&m);
  close_db(db);
}

/* pass (2), ext (5): one vector argument (a float64 BLOB of d values, or a
** JSON array) gives the bytes of the d features; so for gmm_init. */
static void test_vectors(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  exec_sql(db, "CREATE TABLE vec(id INTEGER PRIMARY KEY, v BLOB, j TEXT)");
  sqlite3_stmt *read = prepare(db, NULL, 0, "SELECT id, x, y, z FROM pts WHERE z IS NOT NULL");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO vec VALUES (?1, ?2, ?3)");
  while (sqlite3_step(read) == SQLITE_ROW) {
    unsigned char v[24];
    double x[3];
    for (int c = 0; c < 3; c++) {
      x[c] = sqlite3_column_double(read, c + 1);
      put_double(v + 8 * c, x[c]);
    }
    char *j = format("[%.17g, %.17g, %.17g]", x[0], x[1], x[2]);
    sqlite3_bind_int(ins, 1, sqlite3_column_int(read, 0));
    sqlite3_bind_blob(ins, 2, v, 24, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 3, j, -1, SQLITE_TRANSIENT);
    insert_row(ins);
    free(j);
  }
  end_insert(db, ins);
  sqlite3_finalize(read);
  store_start(db, "m", "{\"k\":3}", 0);
  bytes want = get_blob(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts WHERE z IS NOT NULL");
  bytes blob = get_blob(db, "SELECT gmm_estep(" B("m") ", v) FROM vec");
  bytes json = get_blob(db, "SELECT gmm_estep(" B("m") ", j) FROM vec");
  assert_same_bytes(blob, want, "float64 BLOB vectors");
  assert_same_bytes(json, want, "JSON vectors");
  bytes init_want = get_blob(db, "SELECT gmm_init(3, x, y, z) FROM pts WHERE z IS NOT NULL");
  bytes init_blob =
      get_blob(db, "SELECT gmm_init('{\"k\":3,\"vector_type\":\"float64\"}', v) FROM vec");
  bytes init_json = get_blob(db, "SELECT gmm_init(3, j) FROM vec");
  assert_same_bytes(init_blob, init_want, "gmm_init, float64 BLOB vectors");
  assert_same_bytes(init_json, init_want, "gmm_init, JSON vectors");
  /* A vector of the wrong length names it. */
  assert_sql_error(db, "gmm_estep: row 1, argument 2 (vector) has 2 values, expected 3",
                   "SELECT gmm_estep(" B("m") ", '[1, 2]') FROM vec");
  bytes_free(&want);
  bytes_free(&blob);
  bytes_free(&json);
  bytes_free(&init_want);
  bytes_free(&init_blob);
  bytes_free(&init_json);
  close_db(db);
}

/* ========================================================================
** 2. gmm_init and gmm_start.
*/
static const char *const COV_TYPES[4] = {"full", "tied", "diag", "spherical"};
static const char *const INITS[4] = {"kmeans", "k-means++", "random", "random_from_data"};

/* The JSON of one key of gmm_info(model_sql) (malloc'd). */
static char *info_text(sqlite3 *db, const char *model_sql, const char *key) {
  return sql_text(db, "SELECT gmm_info(%s) -> '$.%s'", model_sql, key);
}

/* Asserts that two models' values under key are the same JSON text. */
static void assert_same_info(sqlite3 *db, const char *a, const char *b, const char *key,
                             const char *what) {
  char *x = info_text(db, a, key), *y = info_text(db, b, key);
  if (strcmp(x, y) != 0) {
    print_error("%s: %s differs:\n  %s\n  %s\n", what, key, x, y);
    free(x);
    free(y);
    fail();
  }
  free(x);
  free(y);
}

/* istate (4): when every row is in the sample, gmm_start gives exactly the
** parameters of gmm_fit with max_iter 0 on the same rows, for every init
** method and covariance type, n_init > 1 and weights; its counts are the
** rows' (n_skipped the NULL rows), its log-likelihood theirs. */
static void test_start_equals_fit_max_iter_0(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  for (int weighted = 0; weighted < 2; weighted++)
    for (int i = 0; i < 4; i++)
      for (int t = 0; t < 4; t++) {
        char *spec = format("{\"k\":3,\"init\":\"%s\",\"covariance_type\":\"%s\",\"max_iter\":0,"
                            "\"n_init\":2,\"seed\":11,\"weighted\":%s}",
                            INITS[i], COV_TYPES[t], weighted ? "true" : "false");
        const char *wcol = weighted ? "w, " : "";
        store_start(db, "start", spec, weighted);
        exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT 'fit', gmm_fit('%s', %sx, y, z) FROM pts",
                 spec, wcol);
        static const char *const exact[] = {"weights", "means",     "covariances", "n_iter",
                                            "n_skipped", "options", "best_init",   "converged"};
        for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++)
          assert_same_info(db, B("start"), B("fit"), exact[k], spec);
        for (int q = 0; q < 2; q++) {
          const char *key = q ? "$.log_likelihood" : "$.n_samples";
          double a = sql_double(db, "SELECT gmm_info(" B("start") ") ->> '%s'", key);
          double b = sql_double(db, "SELECT gmm_info(" B("fit") ") ->> '%s'", key);
          if (!rel_close(a, b, weighted ? 1e-13 : 0.0))
            fail_msg("%s: %s %.17g, gmm_fit's %.17g", spec, key, a, b);
        }
        free(spec);
      }
  /* With the default max_iter the start keeps it, for the passes. */
  store_start(db, "start", "{\"k\":3}", 0);
  exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT 'fit', gmm_fit('{\"k\":3,\"max_iter\":0}', "
               "x, y, z) FROM pts");
  assert_same_info(db, B("start"), B("fit"), "means", "default max_iter");
  assert_sql_int(db, 100, "SELECT gmm_info(" B("start") ") ->> '$.options.max_iter'");
  assert_sql_int(db, 0, "SELECT gmm_info(" B("start") ") ->> '$.n_iter'");
  assert_sql_int(db, 0, "SELECT gmm_converged(" B("start") ")");
  close_db(db);
}

/* istate (1), pass (3): gmm_init over the same rows in any order, or split
** into parts and merged in any order, gives the same bytes: with every row
** in the sample and with a sample of 64 of the 897 usable rows; the state
** says what it holds. */
static void test_init_order_and_split(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  static const char *const specs[2] = {"{\"k\":3}", "{\"k\":3,\"sample_size\":64}"};
  static const int held[2] = {N_PTS - N_NULL, 64};
  static const char *const orders[3][2] = {
      {"id", "1,2,3,4,5,"}, {"id DESC", "900,899,898,"}, {"(id * 7919) % 1009", "0"}};
  for (int s = 0; s < 2; s++) {
    char *agg = format("gmm_init('%s', x, y, z)", specs[s]);
    bytes want = get_blob(db, "SELECT %s FROM pts", agg);
    store(db, "want", want);
    assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_stats_info(" B("want") ") ->> '$.n_rows'");
    assert_sql_int(db, N_NULL, "SELECT gmm_stats_info(" B("want") ") ->> '$.n_skipped'");
    assert_sql_int(db, held[s], "SELECT gmm_stats_info(" B("want") ") ->> '$.n_sample'");
    char *seen_before = NULL;
    for (int o = 0; o < 3; o++) {
      char *from = format("SELECT * FROM pts ORDER BY %s", orders[o][0]);
      bytes got;
      char *seen;
      agg_in_order(db, agg, "id", from, &got, &seen);
      if (orders[o][1][0] != '0') assert_memory_equal(seen, orders[o][1], strlen(orders[o][1]));
      if (seen_before) assert_string_not_equal(seen, seen_before);
      assert_same_bytes(got, want, orders[o][0]);
      bytes_free(&got);
      free(seen_before);
      seen_before = seen;
      free(from);
    }
    free(seen_before);
    /* Split into 2 and 7 parts, merged in either order. */
    for (int parts = 2; parts <= 7; parts += 5)
      for (int desc = 0; desc < 2; desc++) {
        char *from = format("SELECT id %% %d AS part, %s AS s FROM pts GROUP BY id %% %d "
                            "ORDER BY id %% %d %s",
                            parts, agg, parts, parts, desc ? "DESC" : "");
        bytes got;
        char *seen;
        agg_in_order(db, "gmm_merge(s)", "part", from, &got, &seen);
        assert_true(seen[0] == (desc ? '0' + parts - 1 : '0'));
        assert_same_bytes(got, want, from);
        bytes_free(&got);
        free(seen);
        free(from);
      }
    /* A merge of the state alone re-encodes the same bytes. */
    bytes again = get_blob(db, "SELECT gmm_merge(" B("want") ")");
    assert_same_bytes(again, want, "merge of one state");
    bytes_free(&again);
    bytes_free(&want);
    free(agg);
  }
  close_db(db);
}

/* istate (1), (5): the sample of 64 is the bottom of the rows by key: its
** rows are rows of pts, in ascending order of key; a sample of 64 from
** the union of two halves is the sample of 64 from all rows (tested
** above), and a sample of 900 holds every usable row once. */
static void test_init_sample_contents(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes s = get_blob(db, "SELECT gmm_init('{\"k\":3,\"sample_size\":64}', x, y, z) FROM pts");
  enum { D = 3, ROW = 16 + 8 * D, HEAD = 96 };
  assert_int_equal(s.n, HEAD + 64 * ROW + 8);
  assert_memory_equal(s.p, "GMMi", 4);
  assert_int_equal(get_le(s.p + 4, 4), 1);
  assert_int_equal(get_le(s.p + 12, 4), D);
  assert_int_equal(get_le(s.p + 56, 4), 64);
  assert_int_equal(get_le(s.p + 64, 8), N_PTS - N_NULL);
  assert_int_equal(get_le(s.p + 72, 8), N_NULL);
  assert_int_equal(get_le(s.p + 88, 4), 64);
  assert_true(get_le(s.p + s.n - 8, 8) == fnv1a(s.p, (size_t)s.n - 8));
  uint64_t last_key = 0;
  /* The values are bound, not printed: SQLite's own text-to-double
  ** conversion need not round correctly (under valgrind it does not). */
  sqlite3_stmt *find =
      prepare(db, NULL, 0, "SELECT count(*) FROM pts WHERE x = ?1 AND y = ?2 AND z = ?3");
  for (int i = 0; i < 64; i++) {
    const unsigned char *row = s.p + HEAD + i * ROW;
    uint64_t key = get_le(row, 8);
    assert_true(i == 0 || key >= last_key);
    last_key = key;
    assert_true(get_double(row + 8) == 1.0);
    for (int c = 0; c < D; c++) sqlite3_bind_double(find, c + 1, get_double(row + 16 + 8 * c));
    step_row(db, find);
    assert_int_equal(sqlite3_column_int(find, 0), 1);
    sqlite3_reset(find);
  }
  sqlite3_finalize(find);
  bytes_free(&s);
  close_db(db);
}

/* istate (1) (and its note), README: with weights the sample is the same
** for any order and split, and the state's bytes are the same but for the
** sum of weights (offset 80), which is added in arrival order and agrees
** to rounding. */
static void test_init_weighted_order_and_split(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  const char *agg = "gmm_init('{\"k\":3,\"weighted\":true,\"sample_size\":100}', w, x, y, z)";
  bytes want = get_blob(db, "SELECT %s FROM (SELECT * FROM pts ORDER BY id)", agg);
  const char *froms[] = {
      "SELECT %s FROM (SELECT * FROM pts ORDER BY id DESC)",
      "SELECT %s FROM (SELECT * FROM pts ORDER BY (id * 7919) %% 1009)",
      "SELECT gmm_merge(s) FROM (SELECT %s AS s FROM pts GROUP BY id %% 7)",
      "SELECT gmm_merge(s) FROM (SELECT %s AS s FROM pts GROUP BY id %% 2 ORDER BY id %% 2 DESC)",
  };
  double sum_w = sql_double(db, "SELECT sum(w) FROM pts WHERE z IS NOT NULL");
  for (size_t f = 0; f < sizeof froms / sizeof froms[0]; f++) {
    bytes got = get_blob(db, froms[f], agg);
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.p, want.p, 80);
    assert_memory_equal(got.p + 88, want.p + 88, (size_t)want.n - 96);
    assert_close(get_double(got.p + 80), sum_w, 1e-12 * sum_w);
    bytes_free(&got);
  }
  assert_close(get_double(want.p + 80), sum_w, 1e-12 * sum_w);
  bytes_free(&want);
  close_db(db);
}

/* istate (4), pass (3): a state whose sample is smaller than the rows
** starts a model from the sample; n_samples is every row's, and the start
** is the same for any split. NULL and empty inputs give NULL. */
static void test_start_from_sample(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes a = get_blob(db, "SELECT gmm_start(gmm_init('{\"k\":3,\"sample_size\":200}', x, y, z)) "
                         "FROM pts");
  bytes b = get_blob(db,
                     "SELECT gmm_start(gmm_merge(s)) FROM (SELECT gmm_init('{\"k\":3,"
                     "\"sample_size\":200}', x, y, z) AS s FROM pts GROUP BY id %% 3)");
  assert_same_bytes(a, b, "start from a split sample");
  store(db, "a", a);
  assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_info(" B("a") ") ->> '$.n_samples'");
  assert_sql_int(db, N_NULL, "SELECT gmm_info(" B("a") ") ->> '$.n_skipped'");
  assert_sql_int(db, 3, "SELECT json_array_length(gmm_info(" B("a") ") -> '$.weights')");
  /* No usable row: NULL state, NULL start; the same for empty tables. */
  assert_sql_null(db, "SELECT gmm_init(3, x, y, z) FROM pts WHERE z IS NULL");
  assert_sql_null(db, "SELECT gmm_init(3, x, y, z) FROM pts WHERE 0");
  assert_sql_null(db, "SELECT gmm_init('{\"k\":3,\"weighted\":true}', 0, x, y, z) FROM pts");
  assert_sql_null(db, "SELECT gmm_start(gmm_init(3, x, y, z)) FROM pts WHERE z IS NULL");
  assert_sql_null(db, "SELECT gmm_start(NULL)");
  bytes_free(&a);
  bytes_free(&b);
  close_db(db);
}

/* ========================================================================
** 3. The loop: log-likelihood, convergence, n_iter, max_iter.
*/

/* stats (5), apply (4), README: from gmm_start with the default tol, the
** log-likelihood of consecutive E-steps never decreases; each model's
** log_likelihood is the one of the statistics it came from; n_iter counts
** the passes; gmm_converged is 0 until the pass where the mean
** log-likelihood changes by less than tol, then 1; that is where gmm_fit
** warm-started from the same model stops, with the same parameters. */
static void test_loop_converges(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_start(db, "m0", "{\"k\":3}", 0);
  exec_sql(db, "INSERT INTO blobs SELECT 'fit', gmm_fit(" B("m0") ", x, y, z) FROM pts");
  exec_sql(db, "INSERT INTO blobs SELECT 'cur', b FROM blobs WHERE name = 'm0'");
  double prev_ll = -INFINITY;
  int passes = 0, converged = 0;
  while (!converged) {
    assert_true(passes < 100);
    bytes stats = get_blob(db, "SELECT gmm_estep(" B("cur") ", x, y, z) FROM pts");
    store(db, "stats", stats);
    double ll = sql_double(db, "SELECT gmm_stats_info(" B("stats") ") ->> '$.log_likelihood'");
    if (!(ll >= prev_ll - 1e-12 * fabs(ll)))
      fail_msg("pass %d: log-likelihood %.17g after %.17g", passes + 1, ll, prev_ll);
    double mean_change = (ll - prev_ll) / (N_PTS - N_NULL);
    prev_ll = ll;
    bytes next = get_blob(db, "SELECT gmm_mstep(" B("cur") ", " B("stats") ")");
    store(db, "cur", next);
    passes++;
    assert_sql_int(db, passes, "SELECT gmm_info(" B("cur") ") ->> '$.n_iter'");
    assert_close(sql_double(db, "SELECT gmm_info(" B("cur") ") ->> '$.log_likelihood'"), ll, 0.0);
    converged = (int)sql_int(db, "SELECT gmm_converged(" B("cur") ")");
    assert_int_equal(converged, passes > 1 && fabs(mean_change) < 1e-3);
    bytes_free(&stats);
    bytes_free(&next);
  }
  assert_true(passes >= 3);
  assert_sql_int(db, passes, "SELECT gmm_info(" B("fit") ") ->> '$.n_iter'");
  assert_sql_int(db, 1, "SELECT gmm_converged(" B("fit") ")");
  params got, want;
  get_params(db, B("cur"), &got);
  get_params(db, B("fit"), &want);
  assert_params_close(&got, &want, 1e-10, "converged passes");
  /* README's recursive CTE gives the same model. */
  bytes cte = get_blob(db,
                       "WITH RECURSIVE em(i, model) AS ("
                       "  SELECT 0, " B("m0") " UNION ALL"
                       "  SELECT i + 1, (SELECT gmm_mstep(em.model, gmm_estep(em.model, x, y, z)) "
                       "FROM pts) FROM em WHERE i < 100 AND NOT gmm_converged(em.model))"
                       "SELECT model FROM em ORDER BY i DESC LIMIT 1");
  bytes cur = get_blob(db, "SELECT " B("cur"));
  assert_same_bytes(cte, cur, "the recursive CTE");
  bytes_free(&cte);
  bytes_free(&cur);
  close_db(db);
}

/* stats (5): gmm_mstep refuses to pass max_iter, after exactly max_iter
** passes, and a model of max_iter 0 takes no pass. */
static void test_mstep_max_iter(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_start(db, "cur", "{\"k\":3,\"max_iter\":3,\"tol\":0}", 0);
  for (int it = 1; it <= 3; it++) {
    bytes next = get_blob(db, "SELECT gmm_mstep(" B("cur") ", gmm_estep(" B("cur")
                              ", x, y, z)) FROM pts");
    store(db, "cur", next);
    bytes_free(&next);
  }
  assert_sql_int(db, 3, "SELECT gmm_info(" B("cur") ") ->> '$.n_iter'");
  assert_sql_error(db, "gmm_mstep: the model has done its max_iter = 3 iterations",
                   "SELECT gmm_mstep(" B("cur") ", gmm_estep(" B("cur") ", x, y, z)) FROM pts");
  exec_sql(db, "INSERT INTO blobs SELECT 'zero', gmm_fit('{\"k\":3,\"max_iter\":0}', x, y, z) "
               "FROM pts");
  assert_sql_error(db, "gmm_mstep: the model has done its max_iter = 0 iterations",
                   "SELECT gmm_mstep(" B("zero") ", gmm_estep(" B("zero") ", x, y, z)) FROM pts");
  close_db(db);
}

/* ========================================================================
** 4. Bad input: exact error texts.
*/

/* A connection with pts and, in blobs: m (k 3, d 3, full), m1 (the model
** after one pass of m), mw (weighted), m2 (d 2), s (statistics of m), s1
** (of m1), s2 (of m2), sw (of mw), st (a state), st2 (a state of d 2). */
static sqlite3 *open_with_blobs(void) {
  sqlite3 *db = open_pts();
  store_start(db, "m", "{\"k\":3}", 0);
  store_start(db, "mw", "{\"k\":3,\"weighted\":true}", 1);
  exec_sql(db,
           "INSERT INTO blobs SELECT 's', gmm_estep(" B("m") ", x, y, z) FROM pts;"
           "INSERT INTO blobs SELECT 'm1', gmm_mstep(" B("m") ", " B("s") ");"
           "INSERT INTO blobs SELECT 's1', gmm_estep(" B("m1") ", x, y, z) FROM pts;"
           "INSERT INTO blobs SELECT 'sw', gmm_estep(" B("mw") ", w, x, y, z) FROM pts;"
           "INSERT INTO blobs SELECT 'm2', gmm_start(gmm_init(3, x, y)) FROM pts;"
           "INSERT INTO blobs SELECT 's2', gmm_estep(" B("m2") ", x, y) FROM pts;"
           "INSERT INTO blobs SELECT 'st', gmm_init(3, x, y, z) FROM pts;"
           "INSERT INTO blobs SELECT 'st2', gmm_init(3, x, y) FROM pts");
  return db;
}

#define MODEL_KIND "a model BLOB (from gmm_fit, gmm_start or gmm_mstep)"
#define STATS_KIND "a statistics BLOB (from gmm_estep or gmm_merge)"
#define STATE_KIND "an initialisation state (from gmm_init or gmm_merge)"

/* pass (5), (6), (1): NULLs, and a BLOB of one kind where another is
** expected, naming both. */
static void test_errors_kinds_and_nulls(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  /* NULLs */
  assert_sql_error(db, "gmm_estep: argument 1 (model) is NULL",
                   "SELECT gmm_estep(NULL, x, y, z) FROM pts");
  assert_sql_error(db, "gmm_mstep: argument 2 (stats) is NULL: gmm_estep found no usable row",
                   "SELECT gmm_mstep(" B("m") ", NULL)");
  assert_sql_error(db, "gmm_mstep: argument 2 (stats) is NULL: gmm_estep found no usable row",
                   "SELECT gmm_mstep(" B("m") ", (SELECT gmm_estep(" B("m")
                   ", x, y, z) FROM pts WHERE z IS NULL))");
  assert_sql_null(db, "SELECT gmm_mstep(NULL, " B("s") ")");
  assert_sql_null(db, "SELECT gmm_stats_info(NULL)");
  assert_sql_null(db, "SELECT gmm_converged(NULL)");
  assert_sql_null(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts WHERE z IS NULL");
  assert_sql_null(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts WHERE 0");
  assert_sql_null(db, "SELECT gmm_estep(" B("mw") ", 0, x, y, z) FROM pts");
  assert_sql_null(db, "SELECT gmm_merge(NULL) FROM pts");
  assert_sql_null(db, "SELECT gmm_merge(b) FROM blobs WHERE 0");
  /* A model where statistics or a state are expected. */
  assert_sql_error(db,
                   "gmm_mstep: argument 2 (stats) must be a statistics BLOB (from gmm_estep or "
                   "gmm_merge), provided " MODEL_KIND,
                   "SELECT gmm_mstep(" B("m") ", " B("m") ")");
  assert_sql_error(db,
                   "gmm_mstep: argument 2 (stats) must be a statistics BLOB (from gmm_estep or "
                   "gmm_merge), provided " STATE_KIND,
                   "SELECT gmm_mstep(" B("m") ", " B("st") ")");
  assert_sql_error(db,
                   "gmm_mstep: argument 2 (stats) must be a statistics BLOB (from gmm_estep or "
                   "gmm_merge), provided TEXT 'abc'",
                   "SELECT gmm_mstep(" B("m") ", 'abc')");
  assert_sql_error(db,
                   "gmm_start: argument 1 (state) must be an initialisation state (from gmm_init "
                   "or gmm_merge), provided " MODEL_KIND,
                   "SELECT gmm_start(" B("m") ")");
  assert_sql_error(db,
                   "gmm_start: argument 1 (state) must be an initialisation state (from gmm_init "
                   "or gmm_merge), provided " STATS_KIND,
                   "SELECT gmm_start(" B("s") ")");
  assert_sql_error(db,
                   "gmm_start: argument 1 (state) must be an initialisation state (from gmm_init "
                   "or gmm_merge), provided 3",
                   "SELECT gmm_start(3)");
  assert_sql_error(db,
                   "gmm_stats_info: argument 1 (blob) must be statistics (gmm_estep) or an "
                   "initialisation state (gmm_init), provided " MODEL_KIND,
                   "SELECT gmm_stats_info(" B("m") ")");
  assert_sql_error(db,
                   "gmm_stats_info: argument 1 (blob) must be statistics (gmm_estep) or an "
                   "initialisation state (gmm_init), provided TEXT 'abc'",
                   "SELECT gmm_stats_info('abc')");
  assert_sql_error(db,
                   "gmm_merge: row 1, argument 1 must be statistics (gmm_estep) or an "
                   "initialisation state (gmm_init), provided " MODEL_KIND,
                   "SELECT gmm_merge(" B("m") ")");
  assert_sql_error(db,
                   "gmm_merge: row 2, argument 1 must be statistics (gmm_estep) or an "
                   "initialisation state (gmm_init), provided TEXT 'abc'",
                   "SELECT gmm_merge(b) FROM (SELECT " B("s") " AS b UNION ALL SELECT 'abc')");
  assert_sql_error(db,
                   "gmm_merge: row 1, argument 1 must be statistics (gmm_estep) or an "
                   "initialisation state (gmm_init), provided 42",
                   "SELECT gmm_merge(42)");
  /* Statistics or a state where a model is expected. */
  assert_sql_error(db, "gmm_mstep: argument 1 (model) must be a model BLOB, provided " STATS_KIND,
                   "SELECT gmm_mstep(" B("s") ", " B("s") ")");
  assert_sql_error(db, "gmm_estep: argument 1 (model) must be a model BLOB, provided " STATS_KIND,
                   "SELECT gmm_estep(" B("s") ", x, y, z) FROM pts");
  assert_sql_error(db, "gmm_estep: argument 1 (model) must be a model BLOB, provided " STATE_KIND,
                   "SELECT gmm_estep(" B("st") ", x, y, z) FROM pts");
  assert_sql_error(db, "gmm_estep: argument 1 (model) must be a model BLOB, provided TEXT 'm'",
                   "SELECT gmm_estep('m', x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) must be an INTEGER k or a JSON object of options, "
                   "provided " MODEL_KIND,
                   "SELECT gmm_init(" B("m") ", x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) must be an INTEGER k or a JSON object of options, "
                   "provided " STATS_KIND,
                   "SELECT gmm_init(" B("s") ", x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) must be an INTEGER k or a JSON object of options, "
                   "provided 2.5",
                   "SELECT gmm_init(2.5, x, y, z) FROM pts");
  /* A state merged with statistics, either way round, after a NULL. */
  assert_sql_error(db,
                   "gmm_merge: row 3 is " STATS_KIND ", the rows before it initialisation states",
                   "SELECT gmm_merge(b) FROM (SELECT NULL AS b UNION ALL SELECT " B("st")
                   " UNION ALL SELECT " B("s") ")");
  assert_sql_error(db, "gmm_merge: row 2 is " STATE_KIND ", the rows before it statistics",
                   "SELECT gmm_merge(b) FROM (SELECT " B("s") " AS b UNION ALL SELECT " B("st")
                   ")");
  /* Argument counts. */
  assert_sql_error(db, "gmm_estep: expected a model and at least one feature, provided 1 argument",
                   "SELECT gmm_estep(" B("m") ") FROM pts");
  assert_sql_error(db, "gmm_init: expected a spec and at least one feature, provided 1 argument",
                   "SELECT gmm_init(3) FROM pts");
  assert_sql_error(db, "wrong number of arguments to function gmm_mstep()",
                   "SELECT gmm_mstep(" B("m") ")");
  close_db(db);
}

/* pass (4), (5), stats (3), (5): statistics of another model, shape or
** kind of rows are refused by gmm_mstep and gmm_merge, naming what
** differs (gmm_merge names the row it met second in its byte order). */
static void test_errors_other_model(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  bytes m = get_blob(db, "SELECT " B("m"));
  bytes m1 = get_blob(db, "SELECT " B("m1"));
  bytes s = get_blob(db, "SELECT " B("s"));
  bytes s1 = get_blob(db, "SELECT " B("s1"));
  char *expect = format("gmm_mstep: the statistics come from another model (fingerprint %016llx; "
                        "this model's is %016llx): take them with gmm_estep of this model",
                        (unsigned long long)fingerprint(m1), (unsigned long long)fingerprint(m));
  assert_sql_error(db, expect, "SELECT gmm_mstep(" B("m") ", " B("s1") ")");
  free(expect);
  /* gmm_merge, both arrival orders. */
  int s_first = merge_order(s, s1) < 0;
  bytes first = s_first ? s : s1, second = s_first ? s1 : s;
  for (int swap = 0; swap < 2; swap++) {
    /* arrival: s then s1, or s1 then s */
    int second_row = (swap == 0) == s_first ? 2 : 1;
    expect = format("gmm_merge: row %d: statistics of two different models (fingerprints %016llx "
                    "and %016llx) do not add up: every part of a pass must use the same model",
                    second_row, (unsigned long long)get_le(first.p + 24, 8),
                    (unsigned long long)get_le(second.p + 24, 8));
    if (swap == 0)
      assert_sql_error(db, expect,
                       "SELECT gmm_merge(b) FROM (SELECT " B("s") " AS b UNION ALL SELECT " B("s1")
                       ")");
    else
      assert_sql_error(db, expect,
                       "SELECT gmm_merge(b) FROM (SELECT " B("s1") " AS b UNION ALL SELECT " B("s")
                       ")");
    free(expect);
  }
  /* Another shape. */
  assert_sql_error(db,
                   "gmm_mstep: the statistics have k = 3, d = 2, covariance_type 'full'; the model "
                   "has k = 3, d = 3, covariance_type 'full'",
                   "SELECT gmm_mstep(" B("m") ", " B("s2") ")");
  bytes s2 = get_blob(db, "SELECT " B("s2"));
  int row = merge_order(s, s2) < 0 ? 2 : 1;
  expect = format("gmm_merge: row %d: statistics of k = 3, d = %d, covariance_type 'full' and of "
                  "k = 3, d = %d, covariance_type 'full' do not add up",
                  row, row == 2 ? 3 : 2, row == 2 ? 2 : 3);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("s") " AS b UNION ALL SELECT " B("s2")
                   ")");
  free(expect);
  /* Weighted statistics of an unweighted model: forged (flag set, checksum
  ** resealed), since the fingerprint tells real ones apart first. */
  bytes forged = bytes_copy(s);
  put_le(forged.p + 20, 1, 4);
  reseal(forged);
  assert_sql_error_b(db, forged.p, forged.n,
                     "gmm_mstep: the statistics are of weighted rows, the model was fitted "
                     "without weights",
                     "SELECT gmm_mstep(" B("m") ", ?1)");
  /* k larger than the rows of the statistics. */
  assert_sql_error(db, "gmm_mstep: k = 3 is larger than the number of usable rows (2)",
                   "SELECT gmm_mstep(" B("m") ", gmm_estep(" B("m") ", x, y, z)) FROM pts "
                   "WHERE id <= 2");
  bytes_free(&forged);
  bytes_free(&m);
  bytes_free(&m1);
  bytes_free(&s);
  bytes_free(&s1);
  bytes_free(&s2);
  close_db(db);
}

/* pass (2), ext (4): rows read as gmm_fit reads them; errors name the row,
** the argument and the value; NaN (which SQLite stores as NULL) and NULL
** skip the row and count it. */
static void test_errors_rows(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  assert_sql_error(db,
                   "gmm_estep: row 4, argument 2 (x1) must be a finite INTEGER or REAL, provided "
                   "TEXT 'abc'",
                   "SELECT gmm_estep(" B("m") ", CASE WHEN id = 4 THEN 'abc' ELSE x END, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 4, argument 3 (x2) must be a finite INTEGER or REAL, provided "
                   "Inf",
                   "SELECT gmm_estep(" B("m") ", x, CASE WHEN id = 4 THEN 9e999 ELSE y END, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 6, argument 4 (x3) must be a finite INTEGER or REAL, provided "
                   "-Inf",
                   "SELECT gmm_estep(" B("m") ", x, y, CASE WHEN id = 6 THEN -9e999 ELSE z END) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 2, argument 2 (x1) must be a finite INTEGER or REAL, provided a "
                   "BLOB of 1 byte",
                   "SELECT gmm_estep(" B("m") ", CASE WHEN id = 2 THEN x'00' ELSE x END, y, z) "
                   "FROM pts");
  /* Weighted: the weight argument is argument 2, the features follow. */
  assert_sql_error(db,
                   "gmm_estep: row 5, argument 2 (weight) must be >= 0, provided -1",
                   "SELECT gmm_estep(" B("mw") ", CASE WHEN id = 5 THEN -1 ELSE w END, x, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 5, argument 2 (weight) must be >= 0, provided -0.5",
                   "SELECT gmm_estep(" B("mw") ", CASE WHEN id = 5 THEN -0.5 ELSE w END, x, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 5, argument 2 (weight) must be a finite INTEGER or REAL, "
                   "provided Inf",
                   "SELECT gmm_estep(" B("mw") ", CASE WHEN id = 5 THEN 9e999 ELSE w END, x, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_estep: row 3, argument 3 (x1) must be a finite INTEGER or REAL, provided "
                   "TEXT 'x'",
                   "SELECT gmm_estep(" B("mw") ", w, CASE WHEN id = 3 THEN 'x' ELSE x END, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_init: row 5, argument 2 (weight) must be >= 0, provided -1",
                   "SELECT gmm_init('{\"k\":3,\"weighted\":true}', CASE WHEN id = 5 THEN -1 ELSE "
                   "w END, x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: row 7, argument 2 (x1) must be a finite INTEGER or REAL, provided "
                   "TEXT 'abc'",
                   "SELECT gmm_init(3, CASE WHEN id = 7 THEN 'abc' ELSE x END, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: row 7, argument 4 (x3) must be a finite INTEGER or REAL, provided "
                   "Inf",
                   "SELECT gmm_init(3, x, y, CASE WHEN id = 7 THEN 9e999 ELSE z END) FROM pts");
  /* NaN bound as a feature is NULL to SQLite: a missing value, the row
  ** used through its other features (missing 'marginalize'). */
  sqlite3_stmt *stmt = prepare(db, NULL, 0,
                               "SELECT s ->> '$.n_skipped', s ->> '$.n_incomplete' FROM "
                               "(SELECT gmm_stats_info(gmm_estep(" B("m") ", x, CASE WHEN id = 4 "
                               "THEN ?1 ELSE y END, z)) AS s FROM pts)");
  sqlite3_bind_double(stmt, 1, NAN);
  step_row(db, stmt);
  assert_int_equal(sqlite3_column_int(stmt, 0), N_NULL);
  assert_int_equal(sqlite3_column_int(stmt, 1), 1);
  sqlite3_finalize(stmt);
  close_db(db);
}

/* pass (1), (2): the number of features must be the model's; a group's
** model (or spec) must be the same on every row. */
static void test_errors_d_and_same_arg(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  assert_sql_error(db, "gmm_estep: the model has 3 features, provided 2",
                   "SELECT gmm_estep(" B("m") ", x, y) FROM pts");
  assert_sql_error(db, "gmm_estep: the model has 2 features, provided 3",
                   "SELECT gmm_estep(" B("m2") ", x, y, z) FROM pts");
  assert_sql_error(db, "gmm_estep: row 1, the model has 3 features, provided 1 number",
                   "SELECT gmm_estep(" B("m") ", x) FROM pts");
  assert_sql_error(db,
                   "gmm_estep: the model has 3 features after a weight (it was fitted with "
                   "weights), provided 2",
                   "SELECT gmm_estep(" B("mw") ", x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_estep: the model has 3 features after a weight (it was fitted with "
                   "weights), provided 0",
                   "SELECT gmm_estep(" B("mw") ", w) FROM pts");
  /* The model changes between rows. */
  assert_sql_error(db, "gmm_estep: argument 1 (model) must be the same on every row of a group",
                   "SELECT gmm_estep(CASE WHEN id < 10 THEN " B("m") " ELSE " B("m1")
                   " END, x, y, z) FROM pts");
  assert_sql_error(db, "gmm_estep: argument 1 (model) must be the same on every row of a group",
                   "SELECT gmm_estep(CASE WHEN id = 10 THEN NULL ELSE " B("m")
                   " END, x, y, z) FROM pts");
  assert_sql_error(db, "gmm_init: argument 1 (spec) must be the same on every row of a group",
                   "SELECT gmm_init(CASE WHEN id < 10 THEN 3 ELSE 4 END, x, y, z) FROM pts");
  assert_sql_error(db, "gmm_init: argument 1 (spec) must be the same on every row of a group",
                   "SELECT gmm_init(CASE WHEN id < 10 THEN '{\"k\":3}' ELSE '{\"k\": 3}' END, "
                   "x, y, z) FROM pts");
  close_db(db);
}

/* pass (3), spec (5), istate (3): gmm_init's spec is gmm_fit's minus lists
** and *_init arrays, plus sample_size; states merge only when their specs
** agree, and the error names the first option that differs. */
static void test_errors_init_spec(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) has a list of k or of covariance_type (passes fit "
                   "one model: run them per candidate and compare gmm_bic)",
                   "SELECT gmm_init('{\"k\":[2,3]}', x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) has a list of k or of covariance_type (passes fit "
                   "one model: run them per candidate and compare gmm_bic)",
                   "SELECT gmm_init('{\"k\":3,\"covariance_type\":[\"full\",\"diag\"]}', x, y, z) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_init: argument 1 (spec) has weights_init, means_init or precisions_init "
                   "(start the passes from a model instead: gmm_estep takes any model)",
                   "SELECT gmm_init('{\"k\":2,\"weights_init\":[0.5,0.5]}', x, y, z) FROM pts");
  assert_sql_error(db, "gmm_init: option sample_size must be between 1 and 1000000, provided 0",
                   "SELECT gmm_init('{\"k\":3,\"sample_size\":0}', x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: option sample_size must be between 1 and 1000000, provided 1000001",
                   "SELECT gmm_init('{\"k\":3,\"sample_size\":1000001}', x, y, z) FROM pts");
  assert_sql_error(db, "gmm_init: option sample_size must be an integer, provided real 2.5",
                   "SELECT gmm_init('{\"k\":3,\"sample_size\":2.5}', x, y, z) FROM pts");
  assert_sql_error(db, "gmm_init: option k must be between 1 and 1024, provided 0",
                   "SELECT gmm_init('{\"k\":0}', x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_init: unknown option 'foo' in argument 1 (spec); known options: k, "
                   "covariance_type, max_iter, tol, reg_covar, n_init, init, seed, weighted, "
                   "weights_init, means_init, precisions_init, vector_type, verbose, threads, "
                   "sample_size, missing, hc_rows, criterion, prior, weight_concentration_prior, "
                   "mean_precision_prior, degrees_of_freedom_prior, mean_prior, covariance_prior, "
                   "prune",
                   "SELECT gmm_init('{\"k\":3,\"foo\":1}', x, y, z) FROM pts");
  assert_sql_error(db,
                   "gmm_fit: option sample_size is gmm_init's (the sample of a fit in passes); "
                   "gmm_fit uses every row",
                   "SELECT gmm_fit('{\"k\":3,\"sample_size\":10}', x, y, z) FROM pts");
  assert_sql_error(db, "gmm_start: k = 5 is larger than the number of usable rows (4)",
                   "SELECT gmm_start(gmm_init(5, x, y, z)) FROM pts WHERE id <= 4");

  /* States of different specs: each option a state stores. */
  static const char *const differs[][3] = {
      {"{\"k\":3}", "{\"k\":2}", "k"},
      {"{\"k\":3}", "{\"k\":3,\"covariance_type\":\"diag\"}", "covariance_type"},
      {"{\"k\":3}", "{\"k\":3,\"init\":\"random\"}", "init"},
      {"{\"k\":3}", "{\"k\":3,\"max_iter\":10}", "max_iter"},
      {"{\"k\":3}", "{\"k\":3,\"n_init\":2}", "n_init"},
      {"{\"k\":3}", "{\"k\":3,\"tol\":0.01}", "tol"},
      {"{\"k\":3}", "{\"k\":3,\"reg_covar\":0.001}", "reg_covar"},
      {"{\"k\":3}", "{\"k\":3,\"seed\":1}", "seed"},
      {"{\"k\":3}", "{\"k\":3,\"sample_size\":500}", "sample_size"},
  };
  for (size_t i = 0; i < sizeof differs / sizeof differs[0]; i++) {
    bytes a = get_blob(db, "SELECT gmm_init('%s', x, y, z) FROM pts", differs[i][0]);
    bytes b = get_blob(db, "SELECT gmm_init('%s', x, y, z) FROM pts", differs[i][1]);
    store(db, "a", a);
    store(db, "b", b);
    char *expect = format("gmm_merge: row %d: initialisation states with different %s do not "
                          "merge: every part must use the same spec",
                          merge_order(a, b) < 0 ? 2 : 1, differs[i][2]);
    assert_sql_error(db, expect,
                     "SELECT gmm_merge(b) FROM (SELECT " B("a") " AS b UNION ALL SELECT " B("b")
                     ")");
    free(expect);
    bytes_free(&a);
    bytes_free(&b);
  }
  /* weighted: the same rows, weights of 1. */
  bytes a = get_blob(db, "SELECT gmm_init(3, x, y, z) FROM pts");
  bytes b = get_blob(db, "SELECT gmm_init('{\"k\":3,\"weighted\":true}', 1, x, y, z) FROM pts");
  store(db, "a", a);
  store(db, "b", b);
  char *expect = format("gmm_merge: row %d: initialisation states with different weighted do not "
                        "merge: every part must use the same spec",
                        merge_order(a, b) < 0 ? 2 : 1);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("a") " AS b UNION ALL SELECT " B("b") ")");
  free(expect);
  bytes_free(&a);
  bytes_free(&b);
  close_db(db);
}

/* istate (3): states of a different number of features do not merge; the
** error names it in words that read as a sentence. */
static void test_errors_init_merge_d(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes a = get_blob(db, "SELECT gmm_init(3, x, y, z) FROM pts");
  bytes b = get_blob(db, "SELECT gmm_init(3, x, y) FROM pts");
  store(db, "a", a);
  store(db, "b", b);
  char *expect = format("gmm_merge: row %d: initialisation states with different d do not merge: "
                        "every part must use the same spec",
                        merge_order(a, b) < 0 ? 2 : 1);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("a") " AS b UNION ALL SELECT " B("b") ")");
  free(expect);
  bytes_free(&a);
  bytes_free(&b);
  close_db(db);
}

/* ========================================================================
** 5. Truncations, flipped bytes, forged contents.
*/
#define STATS_PREFIX "gmm_stats_info: argument 1 (blob) is not valid: "
#define OTHER_BLOB   "gmm_stats_info: argument 1 (blob) must be statistics (gmm_estep) or an " \
                     "initialisation state (gmm_init), provided "

/* stats (6), pass (4), (6): every proper prefix of a statistics BLOB is
** refused by gmm_stats_info, gmm_mstep and gmm_merge with the length it
** has and the one it needs. */
static void test_stats_truncated(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  bytes s = get_blob(db, "SELECT " B("s"));
  enum { K = 3, D = 3, SMALLEST = 64 + 8 * 3 + 8 };
  assert_int_equal(s.n, 64 + 8 * (K + K * D + K * D * (D + 1) / 2) + 8);
  for (int n = 0; n < s.n; n++) {
    char *tail;
    if (n < SMALLEST)
      tail = format("it is too short (%d bytes; the smallest statistics BLOB has %d)", n, SMALLEST);
    else
      tail = format("it has %d bytes, but its header (k = 3, d = 3) needs %d", n, s.n);
    char *expect;
    if (n < 4) {
      expect = format(OTHER_BLOB "a BLOB of %d byte%s", n, n == 1 ? "" : "s");
      assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_stats_info(substr(?1, 1, %d))", n);
      free(expect);
      expect = format("gmm_merge: row 1, argument 1 must be statistics (gmm_estep) or an "
                      "initialisation state (gmm_init), provided a BLOB of %d byte%s",
                      n, n == 1 ? "" : "s");
    } else {
      expect = format(STATS_PREFIX "%s", tail);
      assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_stats_info(substr(?1, 1, %d))", n);
      free(expect);
      expect = format("gmm_merge: row 1 is not a valid statistics BLOB: %s", tail);
    }
    assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_merge(substr(?1, 1, %d))", n);
    free(expect);
    expect = format("gmm_mstep: argument 2 (stats) is not valid: %s", tail);
    assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_mstep(" B("m") ", substr(?1, 1, %d))", n);
    free(expect);
    free(tail);
  }
  /* The whole BLOB is fine, and one byte more is refused too. */
  assert_sql_int_b(db, s.p, s.n, 897, "SELECT gmm_stats_info(?1) ->> '$.n_rows'");
  char *expect = format(STATS_PREFIX "it has %d bytes, but its header (k = 3, d = 3) needs %d",
                        s.n + 1, s.n);
  unsigned char *longer = calloc((size_t)s.n + 1, 1);
  assert_non_null(longer);
  memcpy(longer, s.p, (size_t)s.n);
  assert_sql_error_b(db, longer, s.n + 1, expect, "SELECT gmm_stats_info(?1)");
  free(longer);
  free(expect);
  bytes_free(&s);
  close_db(db);
}

/* istate (5), pass (4), (6): every proper prefix of a state BLOB is refused
** by gmm_stats_info, gmm_start and gmm_merge. */
static void test_state_truncated(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes s = get_blob(db, "SELECT gmm_init('{\"k\":3,\"sample_size\":5}', x, y, z) FROM pts");
  enum { D = 3, SMALLEST = 96 + 24 + 8 };
  assert_int_equal(s.n, 96 + 5 * (16 + 8 * D) + 8);
  for (int n = 0; n < s.n; n++) {
    char *tail;
    if (n < SMALLEST)
      tail = format("it is too short (%d bytes; the smallest initialisation state has %d)", n,
                    SMALLEST);
    else
      tail = format("it has %d bytes, but its header (5 rows of d = 3) needs %d", n, s.n);
    char *expect;
    if (n < 4)
      expect = format(OTHER_BLOB "a BLOB of %d byte%s", n, n == 1 ? "" : "s");
    else
      expect = format(STATS_PREFIX "%s", tail);
    assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_stats_info(substr(?1, 1, %d))", n);
    free(expect);
    expect = format("gmm_start: argument 1 (state) is not valid: %s", tail);
    assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_start(substr(?1, 1, %d))", n);
    free(expect);
    if (n >= 4) {
      expect = format("gmm_merge: row 1 is not a valid initialisation state: %s", tail);
      assert_sql_error_b(db, s.p, s.n, expect, "SELECT gmm_merge(substr(?1, 1, %d))", n);
      free(expect);
    }
    free(tail);
  }
  assert_sql_int_b(db, s.p, s.n, 5, "SELECT gmm_stats_info(?1) ->> '$.n_sample'");
  bytes_free(&s);
  close_db(db);
}

/* The error for statistics s (k 3, d 3, full, unweighted) with byte i
** XORed with mask, as stats (6)'s checks in order give it. */
static char *flipped_stats_error(bytes s, int i, unsigned mask) {
  unsigned char *p = malloc((size_t)s.n);
  assert_non_null(p);
  memcpy(p, s.p, (size_t)s.n);
  p[i] ^= (unsigned char)mask;
  uint64_t version = get_le(p + 4, 4), k = get_le(p + 8, 4), d = get_le(p + 12, 4);
  uint64_t cov = get_le(p + 16, 4), flags = get_le(p + 20, 4);
  char *e;
  if (memcmp(p, "GMMs", 4) != 0)
    e = format(OTHER_BLOB "a BLOB of %d bytes", s.n);
  else if (version != 1)
    e = format(STATS_PREFIX "format version %llu is not one this build reads (1 to 3)",
               (unsigned long long)version);
  else if (k < 1 || k > 1024)
    e = format(STATS_PREFIX "k = %llu is out of range (1 .. 1024)", (unsigned long long)k);
  else if (d < 1 || d > 1000)
    e = format(STATS_PREFIX "d = %llu is out of range (1 .. 1000)", (unsigned long long)d);
  else if (cov > 3)
    e = format(STATS_PREFIX "covariance type %llu is unknown", (unsigned long long)cov);
  else if (flags > 1)
    e = format(STATS_PREFIX "unknown flags 0x%llx", (unsigned long long)flags);
  else {
    uint64_t s2 = cov >= 2 ? k * d : k * d * (d + 1) / 2;
    uint64_t need = 64 + 8 * (k + k * d + s2) + 8;
    if (need != (uint64_t)s.n)
      e = format(STATS_PREFIX "it has %d bytes, but its header (k = %llu, d = %llu) needs %llu",
                 s.n, (unsigned long long)k, (unsigned long long)d, (unsigned long long)need);
    else
      e = format(STATS_PREFIX "the checksum does not match its contents");
  }
  free(p);
  return e;
}

/* stats (6): any one byte of a statistics BLOB flipped (low bit, high bit)
** is refused: the header's fields by their checks, everything else by the
** checksum. */
static void test_stats_flipped(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  bytes s = get_blob(db, "SELECT " B("s"));
  unsigned char *p = malloc((size_t)s.n);
  assert_non_null(p);
  for (int i = 0; i < s.n; i++)
    for (int b = 0; b < 2; b++) {
      unsigned mask = b ? 0x80 : 0x01;
      memcpy(p, s.p, (size_t)s.n);
      p[i] ^= (unsigned char)mask;
      char *expect = flipped_stats_error(s, i, mask);
      assert_sql_error_b(db, p, s.n, expect, "SELECT gmm_stats_info(?1)");
      free(expect);
    }
  free(p);
  bytes_free(&s);
  close_db(db);
}

/* istate (5): any one byte of a state flipped is refused: the sample rows
** and the checksum by the checksum, the header by its checks or the
** checksum. */
static void test_state_flipped(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes s = get_blob(db, "SELECT gmm_init('{\"k\":3,\"sample_size\":5}', x, y, z) FROM pts");
  unsigned char *p = malloc((size_t)s.n);
  assert_non_null(p);
  for (int i = 0; i < s.n; i++)
    for (int b = 0; b < 2; b++) {
      memcpy(p, s.p, (size_t)s.n);
      p[i] ^= (unsigned char)(b ? 0x80 : 0x01);
      if (i < 4) {
        char *expect = format(OTHER_BLOB "a BLOB of %d bytes", s.n);
        assert_sql_error_b(db, p, s.n, expect, "SELECT gmm_stats_info(?1)");
        free(expect);
      } else if (i >= 96) {
        assert_sql_error_b(db, p, s.n, STATS_PREFIX "the checksum does not match its contents",
                           "SELECT gmm_stats_info(?1)");
      } else {
        char *err = sql_errmsg_b(db, p, s.n, "SELECT gmm_stats_info(?1)");
        if (strncmp(err, STATS_PREFIX, strlen(STATS_PREFIX)) != 0)
          fail_msg("byte %d: %s", i, err);
        free(err);
      }
      char *err = sql_errmsg_b(db, p, s.n, "SELECT gmm_start(?1)");
      assert_true(strncmp(err, "gmm_start: argument 1 (state) ", 30) == 0);
      free(err);
    }
  free(p);
  bytes_free(&s);
  close_db(db);
}

/* The statistics s with the 8 bytes at offset set to v, resealed. */
static bytes forge_f64(bytes s, int offset, double v) {
  bytes f = bytes_copy(s);
  put_double(f.p + offset, v);
  reseal(f);
  return f;
}

static bytes forge_u(bytes s, int offset, uint64_t v, int n_bytes) {
  bytes f = bytes_copy(s);
  put_le(f.p + offset, v, n_bytes);
  reseal(f);
  return f;
}

#define assert_forged_error(db, f, expected)                                           \
  do {                                                                                 \
    bytes f_ = (f);                                                                    \
    assert_sql_error_b(db, f_.p, f_.n, expected, "SELECT gmm_stats_info(?1)");         \
    bytes_free(&f_);                                                                   \
  } while (0)

/* stats (6): contents no real rows give, behind a valid checksum, are
** refused, naming what is wrong. Offsets: nk at 64 (3), s1 at 88 (3 x 3),
** s2 at 160 (3 lower triangles of 6). */
static void test_stats_forged(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  bytes s = get_blob(db, "SELECT " B("s"));
  enum { NK = 64, S1 = NK + 8 * 3, S2 = S1 + 8 * 9 };
  double n_rows = N_PTS - N_NULL;
  assert_true(get_double(s.p + 48) == n_rows);
  assert_forged_error(db, forge_u(s, 4, 4, 4),
                      STATS_PREFIX "format version 4 is not one this build reads (1 to 3)");
  assert_forged_error(db, forge_u(s, 20, 2, 4), STATS_PREFIX "unknown flags 0x2");
  assert_forged_error(db, forge_u(s, 32, 0, 8), STATS_PREFIX "n_rows 0 is out of range");
  assert_forged_error(db, forge_u(s, 32, UINT64_C(1) << 63, 8),
                      STATS_PREFIX "n_rows 9223372036854775808 is out of range");
  assert_forged_error(db, forge_u(s, 40, UINT64_C(1) << 63, 8),
                      STATS_PREFIX "n_skipped is out of range");
  assert_forged_error(db, forge_f64(s, 48, 0.0),
                      STATS_PREFIX "the sum of weights 0 is out of range");
  assert_forged_error(db, forge_f64(s, 48, INFINITY),
                      STATS_PREFIX "the sum of weights inf is out of range");
  assert_forged_error(db, forge_f64(s, 48, n_rows - 1),
                      STATS_PREFIX "unweighted statistics of 897 rows have a sum of weights of 896");
  assert_forged_error(db, forge_f64(s, 56, 1e301),
                      STATS_PREFIX "the log-likelihood 1e+301 is out of range");
  assert_forged_error(db, forge_f64(s, 56, NAN),
                      STATS_PREFIX "the log-likelihood nan is out of range");
  assert_forged_error(db, forge_f64(s, NK, -1.0), STATS_PREFIX "the mass of component 0 is -1");
  assert_forged_error(db, forge_f64(s, NK + 16, INFINITY),
                      STATS_PREFIX "the mass of component 2 is inf");
  assert_forged_error(db, forge_f64(s, S1 + 8 * 4, NAN),
                      STATS_PREFIX "the sums of component 1, feature 1 are not those of real rows");
  /* s2: component 0's triangle is (0,0) (1,0) (1,1) (2,0) (2,1) (2,2). */
  assert_forged_error(db, forge_f64(s, S2, -1.0),
                      STATS_PREFIX "the sums of component 0, feature 0 are not those of real rows");
  assert_forged_error(db, forge_f64(s, S1, 1e12),
                      STATS_PREFIX "the first moment of component 0, feature 0 exceeds its "
                                   "scatter");
  assert_forged_error(db, forge_f64(s, S2 + 48 + 8, 1e12),
                      STATS_PREFIX "the scatter of component 1 is not positive semi-definite");
  /* Masses beyond the weight of the rows. */
  double nk0 = get_double(s.p + NK), nk1 = get_double(s.p + NK + 8), nk2 = get_double(s.p + NK + 16);
  bytes heavy = bytes_copy(s);
  put_double(heavy.p + NK, nk0 * 4);
  /* Scale the sums with the mass, so that they stay consistent. */
  for (int q = 0; q < 3; q++) put_double(heavy.p + S1 + 8 * q, get_double(s.p + S1 + 8 * q) * 4);
  for (int q = 0; q < 6; q++) put_double(heavy.p + S2 + 8 * q, get_double(s.p + S2 + 8 * q) * 4);
  reseal(heavy);
  char *expect = format(STATS_PREFIX "the components hold a mass of %g, more than the weight of "
                                     "the rows (%g)",
                        nk0 * 4 + nk1 + nk2, n_rows);
  assert_forged_error(db, heavy, expect);
  free(expect);
  /* Another model's fingerprint passes the decoder and fails the M-step. */
  bytes m = get_blob(db, "SELECT " B("m"));
  bytes other = forge_u(s, 24, fingerprint(m) ^ 1, 8);
  expect = format("gmm_mstep: the statistics come from another model (fingerprint %016llx; this "
                  "model's is %016llx): take them with gmm_estep of this model",
                  (unsigned long long)(fingerprint(m) ^ 1), (unsigned long long)fingerprint(m));
  assert_sql_error_b(db, other.p, other.n, expect, "SELECT gmm_mstep(" B("m") ", ?1)");
  free(expect);
  bytes_free(&other);
  bytes_free(&m);
  bytes_free(&s);
  close_db(db);
}

/* istate (5): state contents no rows give, behind a valid checksum, are
** refused. The state holds 5 rows of d 3 (40 bytes each from offset 96:
** key, weight, x, y, z). */
static void test_state_forged(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  bytes s = get_blob(db, "SELECT gmm_init('{\"k\":3,\"sample_size\":5}', x, y, z) FROM pts");
  enum { ROW0 = 96, ROW = 40 };
  assert_forged_error(db, forge_u(s, 92, 1, 4), STATS_PREFIX "reserved bytes are not zero");
  assert_forged_error(db, forge_u(s, 60, 2, 4), STATS_PREFIX "unknown flags 0x2");
  assert_forged_error(db, forge_u(s, 56, 0, 4),
                      STATS_PREFIX "sample_size 0 is out of range (1 .. 1000000)");
  assert_forged_error(db, forge_u(s, 64, 0, 8), STATS_PREFIX "the row counts are out of range");
  assert_forged_error(db, forge_u(s, 88, 4, 4),
                      STATS_PREFIX "it holds 4 rows; a sample of 897 rows with sample_size 5 "
                                   "holds 5");
  assert_forged_error(db, forge_u(s, 20, 9, 4), STATS_PREFIX "init method 9 is unknown");
  assert_forged_error(db, forge_u(s, 16, 14, 4), STATS_PREFIX "covariance type 14 is unknown");
  /* mclust's models and init 'hc' need version 3 (istate (7)). */
  assert_forged_error(db, forge_u(s, 16, 4, 4),
                      STATS_PREFIX "covariance type 4 or init method 0 is not one of format "
                                   "version 1");
  assert_forged_error(db, forge_u(s, 20, 5, 4),
                      STATS_PREFIX "covariance type 0 or init method 5 is not one of format "
                                   "version 1");
  assert_forged_error(db, forge_u(s, 20, 4, 4), STATS_PREFIX "init method 4 is unknown");
  assert_forged_error(db, forge_f64(s, 80, 896),
                      STATS_PREFIX "the sum of weights 896 does not fit 897 rows");
  assert_forged_error(db, forge_f64(s, ROW0 + 8, 2.0),
                      STATS_PREFIX "sample row 0 has a bad weight");
  assert_forged_error(db, forge_u(s, ROW0 + ROW, get_le(s.p + ROW0 + ROW, 8) ^ 1, 8),
                      STATS_PREFIX "sample row 1 has a key that is not its hash");
  assert_forged_error(db, forge_f64(s, ROW0 + 2 * ROW + 16, get_double(s.p + ROW0 + 2 * ROW + 16) + 1),
                      STATS_PREFIX "sample row 2 has a key that is not its hash");
  assert_forged_error(db, forge_f64(s, ROW0 + 3 * ROW + 24, -0.0),
                      STATS_PREFIX "sample row 3 has a value that is not finite or not canonical");
  assert_forged_error(db, forge_f64(s, ROW0 + 3 * ROW + 24, INFINITY),
                      STATS_PREFIX "sample row 3 has a value that is not finite or not canonical");
  /* Rows 0 and 1 swapped. */
  bytes swapped = bytes_copy(s);
  memcpy(swapped.p + ROW0, s.p + ROW0 + ROW, ROW);
  memcpy(swapped.p + ROW0 + ROW, s.p + ROW0, ROW);
  reseal(swapped);
  assert_forged_error(db, swapped, STATS_PREFIX "sample row 1 is out of order");
  /* A weighted state whose sample weighs more than every row. */
  bytes w = get_blob(db, "SELECT gmm_init('{\"k\":3,\"weighted\":true,\"sample_size\":5}', w, x, "
                         "y, z) FROM pts");
  double held = 0;
  for (int i = 0; i < 5; i++) held += get_double(w.p + ROW0 + i * ROW + 8);
  char *expect = format(STATS_PREFIX "the sample weighs %g, more than every row (%g)", held,
                        held / 2);
  assert_forged_error(db, forge_f64(w, 80, held / 2), expect);
  free(expect);
  bytes_free(&w);
  bytes_free(&s);
  close_db(db);
}

/* ========================================================================
** More of the loop and of bad input.
*/

/* DESIGN §4, stats (2), (5): statistics where two of three components get
** no mass (rows of one far cluster only) step to a model with two empty
** components, reported, that keep their means and get reg_covar I, with
** no NaN anywhere. */
static void test_mstep_empty_components(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE far(id INTEGER PRIMARY KEY, x REAL, y REAL);"
               "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO far VALUES (?1, ?2, ?3)");
  rng r = {5};
  for (int i = 1; i <= 300; i++) {
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_double(ins, 2, 100.0 * (i % 3) + rng_normal(&r));
    sqlite3_bind_double(ins, 3, -50.0 * (i % 3) + rng_normal(&r));
    insert_row(ins);
  }
  end_insert(db, ins);
  exec_sql(db, "INSERT INTO blobs SELECT 'm', gmm_start(gmm_init('{\"k\":3,\"reg_covar\":0.001}', "
               "x, y)) FROM far");
  exec_sql(db, "INSERT INTO blobs SELECT 'next', gmm_mstep(" B("m") ", gmm_estep(" B("m")
               ", x, y)) FROM far WHERE id %% 3 = 1");
  assert_sql_int(db, 2, "SELECT gmm_info(" B("next") ") ->> '$.empty_components'");
  /* Which component holds the rows: the one whose mean is near (100, -50). */
  int full = (int)sql_int(db, "SELECT key FROM json_each(gmm_info(" B("m") ") -> '$.means') "
                              "WHERE abs(value ->> '$[0]' - 100) < 10");
  for (int j = 0; j < 3; j++) {
    if (j == full) continue;
    assert_sql_int(db, 1, "SELECT gmm_info(" B("m") ") -> '$.means[%d]' = gmm_info(" B("next")
                          ") -> '$.means[%d]'", j, j);
    assert_sql_text(db, "[[0.001,0],[0,0.001]]",
                    "SELECT gmm_info(" B("next") ") -> '$.covariances[%d]'", j);
    assert_true(sql_double(db, "SELECT gmm_info(" B("next") ") ->> '$.weights[%d]'", j) < 1e-12);
  }
  /* icl is null: passes carry no row posteriors */
  assert_sql_int(db, 0, "SELECT instr(replace(gmm_info(" B("next") "), '\"icl\":null', ''), 'null')");
  /* The loop goes on from it over every row. */
  exec_sql(db, "INSERT INTO blobs SELECT 's2', gmm_estep(" B("next") ", x, y) FROM far;"
               "INSERT INTO blobs SELECT 'next2', gmm_mstep(" B("next") ", " B("s2") ")");
  assert_true(isfinite(sql_double(db, "SELECT gmm_stats_info(" B("s2") ") ->> '$.log_likelihood'")));
  assert_sql_int(db, 0, "SELECT instr(replace(gmm_info(" B("next2") "), '\"icl\":null', ''), 'null')");
  close_db(db);
}

/* pass (1), stats (5), fit (6): rows with no finite density under the
** model, and statistics whose M-step gives a covariance that is not
** positive definite (reg_covar 0, rows all equal), are errors that say
** what to do. */
static void test_errors_numeric(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  exec_sql(db, "INSERT INTO blobs SELECT 'm', gmm_fit('{\"k\":2,\"reg_covar\":0}', x, y, z) FROM pts");
  assert_true(sql_int(db, "SELECT gmm_info(" B("m") ") ->> '$.n_iter'") < 100);
  assert_sql_error(db,
                   "gmm_estep: the log-likelihood of the rows under the model is -Inf: a row has "
                   "no finite density (increase reg_covar, or rescale the data)",
                   "SELECT gmm_estep(" B("m") ", x, y, CASE WHEN id = 9 THEN 1e200 ELSE z END) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_mstep: the M-step gives a covariance that is not positive definite (the "
                   "covariance of component 0 is not positive definite): increase reg_covar or "
                   "decrease k",
                   "SELECT gmm_mstep(" B("m") ", gmm_estep(" B("m") ", 10, 20, 5)) FROM pts");
  close_db(db);
}

/* pass (4), stats (3): gmm_merge of 50 parts (more than its first
** allocation of 16) gives the same bytes in either arrival order; sums
** that leave the range of the BLOB's fields are refused, naming the row. */
static void test_merge_many_and_overflow(void **state) {
  (void)state;
  sqlite3 *db = open_with_blobs();
  bytes a, b;
  char *seen_a, *seen_b;
#define FIFTY_PARTS \
  "SELECT id % 50 AS part, gmm_estep(" B("m") ", x, y, z) AS s FROM pts GROUP BY id % 50 " \
  "ORDER BY id % 50"
  agg_in_order(db, "gmm_merge(s)", "part", FIFTY_PARTS, &a, &seen_a);
  agg_in_order(db, "gmm_merge(s)", "part", FIFTY_PARTS " DESC", &b, &seen_b);
#undef FIFTY_PARTS
  assert_memory_equal(seen_a, "0,1,2,", 6);
  assert_memory_equal(seen_b, "49,48,", 6);
  assert_same_bytes(a, b, "50 parts");
  store(db, "many", a);
  assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_stats_info(" B("many") ") ->> '$.n_rows'");
  free(seen_a);
  free(seen_b);
  bytes_free(&a);
  bytes_free(&b);
  /* The log-likelihood beyond +-1e300. */
  bytes s = get_blob(db, "SELECT " B("s"));
  bytes x = forge_f64(s, 56, -6e299), y = forge_f64(s, 56, -7e299);
  store(db, "x", x);
  store(db, "y", y);
  char *expect = format("gmm_merge: row %d: the log-likelihood (-1.3e+300) is beyond +-1e+300; "
                        "scale the weights or the data down",
                        merge_order(x, y) < 0 ? 2 : 1);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("x") " AS b UNION ALL SELECT " B("y") ")");
  free(expect);
  bytes_free(&x);
  bytes_free(&y);
  /* Row counts beyond 2^63 - 1 (unweighted: the sum of weights is the
  ** count). */
  x = forge_u(s, 32, UINT64_C(1) << 62, 8);
  put_double(x.p + 48, 0x1p62);
  reseal(x);
  y = forge_u(s, 32, UINT64_C(3) << 61, 8);
  put_double(y.p + 48, 0x3p61);
  reseal(y);
  store(db, "x", x);
  store(db, "y", y);
  expect = format("gmm_merge: row %d: the row counts overflow a 64-bit integer",
                  merge_order(x, y) < 0 ? 2 : 1);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("x") " AS b UNION ALL SELECT " B("y") ")");
  free(expect);
  bytes_free(&x);
  bytes_free(&y);
  bytes_free(&s);
  close_db(db);
}

/* DESIGN §1, README "Limits": a result beyond the connection's
** SQLITE_LIMIT_LENGTH is an error that says so (the results that can be
** larger than the arguments: a state from rows, a model from a state, a
** merged state, JSON). */
static void test_limit_length(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  exec_sql(db, "INSERT INTO blobs SELECT 'st', gmm_init('{\"k\":3,\"sample_size\":5}', x, y, z) "
               "FROM pts;"
               "INSERT INTO blobs SELECT 'tiny', gmm_init('{\"k\":1,\"sample_size\":1}', x) "
               "FROM pts;"
               "INSERT INTO blobs SELECT 'a', gmm_init('{\"k\":3,\"sample_size\":10}', x, y, z) "
               "FROM pts WHERE id <= 5;"
               "INSERT INTO blobs SELECT 'b', gmm_init('{\"k\":3,\"sample_size\":10}', x, y, z) "
               "FROM pts WHERE id > 5 AND id <= 10");
  enum { STATE = 96 + 5 * 40 + 8, MODEL = 104 + 8 * (3 + 9 + 18) + 8 };
  enum { ALL = 96 + (N_PTS - N_NULL) * 40 + 8, MERGED = 96 + 10 * 40 + 8 };
  int info_len = (int)sql_int(db, "SELECT length(gmm_stats_info(" B("tiny") "))");
  assert_true(info_len > 200);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, STATE);
  char *expect = format("gmm_init: the initialisation state takes %d bytes, more than this "
                        "connection's SQLITE_LIMIT_LENGTH (%d)",
                        ALL, STATE);
  assert_sql_error(db, expect, "SELECT gmm_init(3, x, y, z) FROM pts");
  free(expect);
  expect = format("gmm_start: the model takes %d bytes, more than this connection's "
                  "SQLITE_LIMIT_LENGTH (%d)",
                  MODEL, STATE);
  assert_sql_error(db, expect, "SELECT gmm_start(" B("st") ")");
  free(expect);
  expect = format("gmm_merge: the initialisation state takes %d bytes, more than this "
                  "connection's SQLITE_LIMIT_LENGTH (%d)",
                  MERGED, STATE);
  assert_sql_error(db, expect,
                   "SELECT gmm_merge(b) FROM (SELECT " B("a") " AS b UNION ALL SELECT " B("b") ")");
  free(expect);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 200); /* the state has 128 bytes */
  expect = format("gmm_stats_info: the JSON result takes %d bytes, more than this connection's "
                  "SQLITE_LIMIT_LENGTH (200)",
                  info_len);
  assert_sql_error(db, expect, "SELECT gmm_stats_info(" B("tiny") ")");
  free(expect);
  close_db(db);
}

/* The one value of sql run on a fresh connection in a child process after
** setup (as text: "NULL", the value, or "error: <message>"), or how the
** child died: a crash of the extension fails this test, not the suite. */
static char *isolated_value(const char *setup, const char *sql) {
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* cmocka's handlers would carry on with the suite in the child. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    close(fd[0]);
    sqlite3 *db = NULL;
    char *err = NULL;
    char out[512] = "";
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_enable_load_extension(db, 1) ||
        sqlite3_load_extension(db, extension_path(), "sqlite3_gmm_init", &err) != SQLITE_OK ||
        sqlite3_exec(db, setup, NULL, NULL, &err) != SQLITE_OK) {
      snprintf(out, sizeof out, "setup failed: %s", err ? err : "?");
    } else {
      sqlite3_stmt *stmt = NULL;
      int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW)
        snprintf(out, sizeof out, "%s",
                 sqlite3_column_type(stmt, 0) == SQLITE_NULL
                     ? "NULL"
                     : (const char *)sqlite3_column_text(stmt, 0));
      else
        snprintf(out, sizeof out, "error: %s", sqlite3_errmsg(db));
      sqlite3_finalize(stmt);
    }
    ssize_t w = write(fd[1], out, strlen(out));
    (void)w;
    _exit(0);
  }
  close(fd[1]);
  char buf[512];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof buf - 1 && (n = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
    got += (size_t)n;
  buf[got] = 0;
  close(fd[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status)) return format("the process died of signal %d", WTERMSIG(status));
  return dup_text(buf, -1);
}

/* pass (2), ext (5), README ("a NULL vector skips the row"): where one
** vector argument stands for the features, a NULL vector skips the row and
** counts it, in gmm_estep and in gmm_init, as it does in gmm_fit. Each
** statement runs in a child process (see isolated_value). */
static void test_null_vector_rows(void **state) {
  (void)state;
  const char *setup =
      "CREATE TABLE p(id INTEGER PRIMARY KEY, x REAL, y REAL, z REAL);"
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) "
      "INSERT INTO p SELECT i, 2.0 * (i % 3) + (i * 37 % 11) / 10.0, (i % 3) + (i * 53 % 7) / 5.0, "
      "(i * 29 % 13) / 6.0 FROM c;"
      "CREATE TABLE vec AS SELECT id, CASE WHEN id % 10 = 0 THEN NULL "
      "ELSE printf('[%!.17g, %!.17g, %!.17g]', x, y, z) END AS v FROM p;"
      "CREATE TABLE m AS SELECT gmm_start(gmm_init(3, x, y, z)) AS m FROM p;";
  static const char *const cases[][2] = {
      {"SELECT gmm_info(gmm_fit(3, v)) ->> '$.n_skipped' FROM vec", "30"},
      {"SELECT gmm_stats_info(gmm_init(3, v)) ->> '$.n_skipped' FROM vec", "30"},
      {"SELECT gmm_stats_info(gmm_estep((SELECT m FROM m), v)) ->> '$.n_skipped' FROM vec", "30"},
      {"SELECT gmm_estep((SELECT m FROM m), v) FROM vec WHERE v IS NULL", "NULL"},
      {"SELECT gmm_estep((SELECT m FROM m), NULL) FROM vec", "NULL"},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = isolated_value(setup, cases[i][0]);
    if (strcmp(got, cases[i][1]) != 0) {
      print_error("%s\n  gave: %s\n  expected: %s\n", cases[i][0], got, cases[i][1]);
      bad++;
    }
    free(got);
  }
  if (bad) fail_msg("%d of the NULL-vector statements went wrong", bad);
}

/* ========================================================================
** 6. Fixtures: one BLOB per format version, read forever.
*/
#define STATS_FIXTURE  "tests/fixtures/stats-v1.bin"
#define ISTATE_FIXTURE "tests/fixtures/istate-v1.bin"

/* PASS_FIXTURE_VALUES_BEGIN (printed by tests/make_pass_fixtures.c) */
#define STATS_FIXTURE_LEN 232
#define ISTATE_FIXTURE_LEN 360
#define STATS_FIXTURE_INFO \
  "{\"kind\":\"statistics\",\"format_version\":1,\"k\":2,\"d\":3,\"covariance_type\":\"full\",\"weighted\"" \
  ":true,\"fingerprint\":\"0d3cf30e4534df74\",\"n_rows\":13,\"n_skipped\":1,\"n_incomplete\":0" \
  ",\"n_missing\":0,\"sum_weights\":15.5,\"log_likelihood\":-16.43218890442263,\"mean_log_likelihood\":-1.0601412196401698" \
  ",\"masses\":[7.499999875658387,8.000000124341613]}"
#define STATS_FIXTURE_TWICE_INFO \
  "{\"kind\":\"statistics\",\"format_version\":1,\"k\":2,\"d\":3,\"covariance_type\":\"full\",\"weighted\"" \
  ":true,\"fingerprint\":\"0d3cf30e4534df74\",\"n_rows\":26,\"n_skipped\":2,\"n_incomplete\":0" \
  ",\"n_missing\":0,\"sum_weights\":31,\"log_likelihood\":-32.86437780884526,\"mean_log_likelihood\":-1.0601412196401698" \
  ",\"masses\":[14.999999751316775,16.000000248683225]}"
#define ISTATE_FIXTURE_INFO \
  "{\"kind\":\"initialisation\",\"format_version\":1,\"k\":2,\"d\":2,\"covariance_type\":\"tied\"" \
  ",\"init\":\"k-means++\",\"max_iter\":50,\"n_init\":2,\"tol\":0.0001,\"reg_covar\":1e-05,\"seed\"" \
  ":7,\"missing\":\"marginalize\",\"sample_size\":8,\"weighted\":true,\"n_rows\":13,\"n_skipped\":1,\"sum_weights\":15.5" \
  ",\"n_sample\":8}"
#define ISTATE_FIXTURE_TWICE_INFO \
  "{\"kind\":\"initialisation\",\"format_version\":1,\"k\":2,\"d\":2,\"covariance_type\":\"tied\"" \
  ",\"init\":\"k-means++\",\"max_iter\":50,\"n_init\":2,\"tol\":0.0001,\"reg_covar\":1e-05,\"seed\"" \
  ":7,\"missing\":\"marginalize\",\"sample_size\":8,\"weighted\":true,\"n_rows\":26,\"n_skipped\":2,\"sum_weights\":31,\"n_sample\"" \
  ":8}"
/* PASS_FIXTURE_VALUES_END */

/* DESIGN §3, stats (6): the version-1 statistics fixture: its fields where
** the layout puts them, gmm_stats_info exactly as when it was written, a
** merge of it alone re-encodes the same bytes, and merged with itself it
** is the fixture with every sum doubled (exact in binary), whatever the
** arrival order. */
static void test_fixture_stats_v1(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  int n = 0;
  unsigned char *p = read_binary(STATS_FIXTURE, &n);
  bytes f = {p, n};
  assert_int_equal(n, STATS_FIXTURE_LEN);
  /* The layout, read independently of the extension. */
  assert_memory_equal(p, "GMMs", 4);
  assert_int_equal(get_le(p + 4, 4), 1);
  assert_int_equal(get_le(p + 8, 4), 2);  /* k */
  assert_int_equal(get_le(p + 12, 4), 3); /* d */
  assert_int_equal(get_le(p + 16, 4), 0); /* full */
  assert_int_equal(get_le(p + 20, 4), 1); /* weighted */
  assert_true(get_le(p + 24, 8) == UINT64_C(0x0d3cf30e4534df74));
  assert_int_equal(get_le(p + 32, 8), 13);
  assert_int_equal(get_le(p + 40, 8), 1);
  assert_true(get_double(p + 48) == 15.5);
  assert_true(get_double(p + 56) == -16.43218890442263);
  assert_true(get_double(p + 64) == 7.499999875658387);
  assert_true(get_double(p + 72) == 8.000000124341613);
  assert_int_equal(n, 64 + 8 * (2 + 2 * 3 + 2 * 6) + 8);
  assert_true(get_le(p + n - 8, 8) == fnv1a(p, (size_t)n - 8));
  /* Through SQL. */
  assert_sql_text_b(db, p, n, STATS_FIXTURE_INFO, "SELECT gmm_stats_info(?1)");
  bytes again = {NULL, 0};
  {
    result r;
    run_sql(db, p, n, "SELECT gmm_merge(?1)", &r);
    assert_int_equal(r.rc, SQLITE_OK);
    again = (bytes){r.blob, r.n_blob};
    r.blob = NULL;
    result_clear(&r);
  }
  assert_same_bytes(again, f, "merge of the fixture alone");
  /* Twice: every count and sum doubled, resealed. */
  bytes twice = bytes_copy(f);
  put_le(twice.p + 32, 26, 8);
  put_le(twice.p + 40, 2, 8);
  for (int off = 48; off < n - 8; off += 8) put_double(twice.p + off, 2 * get_double(f.p + off));
  reseal(twice);
  exec_sql(db, "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  store(db, "f", f);
  bytes got = get_blob(db, "SELECT gmm_merge(b) FROM (SELECT " B("f") " AS b UNION ALL SELECT "
                           B("f") ")");
  assert_same_bytes(got, twice, "the fixture merged with itself");
  store(db, "twice", got);
  assert_sql_text(db, STATS_FIXTURE_TWICE_INFO, "SELECT gmm_stats_info(" B("twice") ")");
  bytes_free(&got);
  bytes_free(&twice);
  bytes_free(&again);
  free(p);
  close_db(db);
}

/* DESIGN §3, istate (5): the version-1 state fixture: its header fields
** where the layout puts them, ascending keys, gmm_stats_info exactly as when
** it was written; a merge of it alone re-encodes the same bytes, merged
** with itself it gives the same bytes twice and in either order (the
** sample of the union: each row twice, the bottom 8 kept), and gmm_start
** reads it. */
static void test_fixture_istate_v1(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  int n = 0;
  unsigned char *p = read_binary(ISTATE_FIXTURE, &n);
  bytes f = {p, n};
  assert_int_equal(n, ISTATE_FIXTURE_LEN);
  assert_memory_equal(p, "GMMi", 4);
  assert_int_equal(get_le(p + 4, 4), 1);
  assert_int_equal(get_le(p + 8, 4), 2);   /* k */
  assert_int_equal(get_le(p + 12, 4), 2);  /* d */
  assert_int_equal(get_le(p + 16, 4), 1);  /* tied */
  assert_int_equal(get_le(p + 20, 4), 1);  /* k-means++ */
  assert_int_equal(get_le(p + 24, 4), 50); /* max_iter */
  assert_int_equal(get_le(p + 28, 4), 2);  /* n_init */
  assert_true(get_double(p + 32) == 1e-4);
  assert_true(get_double(p + 40) == 1e-5);
  assert_int_equal(get_le(p + 48, 8), 7);  /* seed */
  assert_int_equal(get_le(p + 56, 4), 8);  /* sample_size */
  assert_int_equal(get_le(p + 60, 4), 1);  /* weighted */
  assert_int_equal(get_le(p + 64, 8), 13);
  assert_int_equal(get_le(p + 72, 8), 1);
  assert_true(get_double(p + 80) == 15.5);
  assert_int_equal(get_le(p + 88, 4), 8);
  assert_int_equal(get_le(p + 92, 4), 0);
  assert_int_equal(n, 96 + 8 * (16 + 16) + 8);
  for (int i = 1; i < 8; i++) assert_true(get_le(p + 96 + 32 * i, 8) >= get_le(p + 96 + 32 * (i - 1), 8));
  assert_true(get_le(p + n - 8, 8) == fnv1a(p, (size_t)n - 8));
  assert_sql_text_b(db, p, n, ISTATE_FIXTURE_INFO, "SELECT gmm_stats_info(?1)");
  store(db, "f", f);
  bytes again = get_blob(db, "SELECT gmm_merge(" B("f") ")");
  assert_same_bytes(again, f, "merge of the fixture alone");
  bytes twice = get_blob(db, "SELECT gmm_merge(b) FROM (SELECT " B("f") " AS b UNION ALL SELECT "
                             B("f") ")");
  bytes twice2 = get_blob(db, "SELECT gmm_merge(b) FROM (SELECT " B("f") " AS b UNION ALL SELECT "
                              B("f") ")");
  assert_same_bytes(twice2, twice, "the merge again");
  store(db, "twice", twice);
  assert_sql_text(db, ISTATE_FIXTURE_TWICE_INFO, "SELECT gmm_stats_info(" B("twice") ")");
  /* The union keeps the bottom 8 of 16 rows: the fixture's first 4, each
  ** twice. */
  for (int i = 0; i < 8; i++)
    assert_memory_equal(twice.p + 96 + 32 * i, p + 96 + 32 * (i / 2), 32);
  /* gmm_start reads it: a tied model of k 2, d 2, n_samples every row's. */
  assert_sql_text(db, "tied", "SELECT gmm_info(gmm_start(" B("f") ")) ->> '$.covariance_type'");
  assert_close(sql_double(db, "SELECT gmm_info(gmm_start(" B("f") ")) ->> '$.n_samples'"), 15.5,
               0.0);
  bytes_free(&again);
  bytes_free(&twice);
  bytes_free(&twice2);
  free(p);
  close_db(db);
}

/* ========================================================================
** 7. GROUP BY.
*/

/* pass (1), (2): gmm_estep and gmm_init per group over one table give each
** group the bytes of the same aggregate over that group's rows alone; a
** group with no usable row gives NULL and does not stop the others. */
static void test_group_by(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  exec_sql(db, "INSERT INTO pts(id, g, w, x, y, z) VALUES (1001, 9, 1, NULL, NULL, NULL), "
               "(1002, 9, 1, NULL, NULL, NULL)");
  store_start(db, "m", "{\"k\":3,\"covariance_type\":\"diag\"}", 0);
  static const char *const aggs[2] = {"gmm_estep(" B("m") ", x, y, z)",
                                      "gmm_init('{\"k\":2,\"sample_size\":50}', x, y, z)"};
  for (int a = 0; a < 2; a++) {
    sqlite3_stmt *stmt = prepare(db, NULL, 0, "SELECT g, %s FROM pts GROUP BY g ORDER BY g", aggs[a]);
    int groups = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      int g = sqlite3_column_int(stmt, 0);
      bytes alone = get_blob(db, "SELECT %s FROM pts WHERE g = %d", aggs[a], g);
      if (g == 9) {
        assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_NULL);
        assert_null(alone.p);
      } else {
        bytes grouped = {(unsigned char *)sqlite3_column_blob(stmt, 1),
                         sqlite3_column_bytes(stmt, 1)};
        assert_non_null(grouped.p);
        assert_same_bytes(grouped, alone, aggs[a]);
      }
      bytes_free(&alone);
      groups++;
    }
    if (rc != SQLITE_DONE) fail_msg("%s: %s", sqlite3_sql(stmt), sqlite3_errmsg(db));
    assert_int_equal(groups, 6);
    sqlite3_finalize(stmt);
  }
  /* Group statistics add up to the table's: rows, masses to rounding. */
  bytes all = get_blob(db, "SELECT gmm_estep(" B("m") ", x, y, z) FROM pts");
  store(db, "all", all);
  exec_sql(db, "INSERT INTO blobs SELECT 'sum', gmm_merge(s) FROM (SELECT gmm_estep(" B("m")
               ", x, y, z) AS s FROM pts GROUP BY g)");
  assert_sql_int(db, N_PTS - N_NULL, "SELECT gmm_stats_info(" B("sum") ") ->> '$.n_rows'");
  /* The group with no usable row gave NULL: its two skipped rows are in the
  ** table's statistics only. */
  assert_sql_int(db, N_NULL + 2, "SELECT gmm_stats_info(" B("all") ") ->> '$.n_skipped'");
  assert_sql_int(db, N_NULL, "SELECT gmm_stats_info(" B("sum") ") ->> '$.n_skipped'");
  for (int j = 0; j < 3; j++) {
    double a = sql_double(db, "SELECT gmm_stats_info(" B("all") ") ->> '$.masses[%d]'", j);
    double b = sql_double(db, "SELECT gmm_stats_info(" B("sum") ") ->> '$.masses[%d]'", j);
    if (!rel_close(a, b, 1e-12)) fail_msg("mass %d: %.17g and %.17g", j, a, b);
  }
  bytes_free(&all);
  close_db(db);
}

/* ========================================================================
** 8. Memory: passes do not buffer the rows.
*/
enum { BIG_ROWS = 200000 };

/* What SQLite had allocated at most while sql ran, beyond what was in use
** when it started. */
static sqlite3_int64 peak_during(sqlite3 *db, const char *sql, bytes *out) {
  sqlite3_int64 before = sqlite3_memory_used();
  sqlite3_memory_highwater(1);
  *out = get_blob(db, "%s", sql);
  return sqlite3_memory_highwater(0) - before;
}

/* pass (1), istate (2), DESIGN §6: over 200,000 rows of 2 features (3.2 MB
** as doubles), gmm_estep and gmm_init (sample_size 1000) allocate at most a
** quarter of that at their peak, while gmm_fit, which buffers the rows,
** allocates more than all of it (so the measure is not vacuous). Many
** batches agree with the rows split in parts (stats (4), DESIGN §5): the
** same counts, masses and next model to 1e-10. */
static void test_memory_bounded(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, x REAL, y REAL);"
               "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO big VALUES (?1, ?2, ?3)");
  rng r = {77};
  for (int i = 1; i <= BIG_ROWS; i++) {
    int c = i % 3;
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_double(ins, 2, 3.0 * c + rng_normal(&r));
    sqlite3_bind_double(ins, 3, -2.0 * c + rng_normal(&r));
    insert_row(ins);
  }
  end_insert(db, ins);
  const sqlite3_int64 rows_bytes = (sqlite3_int64)BIG_ROWS * 2 * 8;

  bytes state0;
  sqlite3_int64 init_peak =
      peak_during(db, "SELECT gmm_init('{\"k\":3,\"sample_size\":1000}', x, y) FROM big", &state0);
  store(db, "st", state0);
  exec_sql(db, "INSERT INTO blobs SELECT 'm', gmm_start(" B("st") ")");
  bytes stats;
  sqlite3_int64 estep_peak =
      peak_during(db, "SELECT gmm_estep(" B("m") ", x, y) FROM big", &stats);
  bytes fit;
  sqlite3_int64 fit_peak =
      peak_during(db, "SELECT gmm_fit('{\"k\":3,\"max_iter\":1}', x, y) FROM big", &fit);
  printf("peak allocation over %d rows (%lld bytes as doubles): gmm_init %lld, gmm_estep %lld, "
         "gmm_fit %lld\n",
         BIG_ROWS, (long long)rows_bytes, (long long)init_peak, (long long)estep_peak,
         (long long)fit_peak);
  if (!(fit_peak > rows_bytes)) fail_msg("gmm_fit's peak %lld: the measure is vacuous", (long long)fit_peak);
  if (!(estep_peak < rows_bytes / 4))
    fail_msg("gmm_estep's peak %lld is not far below the rows' %lld", (long long)estep_peak,
             (long long)rows_bytes);
  if (!(init_peak < rows_bytes / 4))
    fail_msg("gmm_init's peak %lld is not far below the rows' %lld", (long long)init_peak,
             (long long)rows_bytes);

  /* Many batches, twice: the same bytes; parts of many batches each. */
  store(db, "s", stats);
  bytes again = get_blob(db, "SELECT gmm_estep(" B("m") ", x, y) FROM big");
  assert_same_bytes(again, stats, "200,000 rows twice");
  exec_sql(db, "INSERT INTO blobs SELECT 'parts', gmm_merge(s) FROM (SELECT gmm_estep(" B("m")
               ", x, y) AS s FROM big GROUP BY id %% 3)");
  assert_sql_int(db, BIG_ROWS, "SELECT gmm_stats_info(" B("parts") ") ->> '$.n_rows'");
  for (int j = 0; j < 3; j++) {
    double a = sql_double(db, "SELECT gmm_stats_info(" B("s") ") ->> '$.masses[%d]'", j);
    double b = sql_double(db, "SELECT gmm_stats_info(" B("parts") ") ->> '$.masses[%d]'", j);
    if (!rel_close(a, b, 1e-10)) fail_msg("mass %d: %.17g and %.17g", j, a, b);
  }
  params p1, p2;
  get_params(db, "gmm_mstep(" B("m") ", " B("s") ")", &p1);
  get_params(db, "gmm_mstep(" B("m") ", " B("parts") ")", &p2);
  assert_params_close(&p1, &p2, 1e-10, "one query and three parts");
  bytes_free(&again);
  bytes_free(&state0);
  bytes_free(&stats);
  bytes_free(&fit);
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_passes_equal_fit_full),
      cmocka_unit_test(test_passes_equal_fit_tied),
      cmocka_unit_test(test_passes_equal_fit_diag),
      cmocka_unit_test(test_passes_equal_fit_spherical),
      cmocka_unit_test(test_passes_weight_scale),
      cmocka_unit_test(test_estep_deterministic_and_counts),
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_start_equals_fit_max_iter_0),
      cmocka_unit_test(test_init_order_and_split),
      cmocka_unit_test(test_init_sample_contents),
      cmocka_unit_test(test_init_weighted_order_and_split),
      cmocka_unit_test(test_start_from_sample),
      cmocka_unit_test(test_loop_converges),
      cmocka_unit_test(test_mstep_max_iter),
      cmocka_unit_test(test_errors_kinds_and_nulls),
      cmocka_unit_test(test_errors_other_model),
      cmocka_unit_test(test_errors_rows),
      cmocka_unit_test(test_errors_d_and_same_arg),
      cmocka_unit_test(test_errors_init_spec),
      cmocka_unit_test(test_errors_init_merge_d),
      cmocka_unit_test(test_stats_truncated),
      cmocka_unit_test(test_state_truncated),
      cmocka_unit_test(test_stats_flipped),
      cmocka_unit_test(test_state_flipped),
      cmocka_unit_test(test_stats_forged),
      cmocka_unit_test(test_state_forged),
      cmocka_unit_test(test_mstep_empty_components),
      cmocka_unit_test(test_errors_numeric),
      cmocka_unit_test(test_merge_many_and_overflow),
      cmocka_unit_test(test_limit_length),
      cmocka_unit_test(test_null_vector_rows),
      cmocka_unit_test(test_fixture_stats_v1),
      cmocka_unit_test(test_fixture_istate_v1),
      cmocka_unit_test(test_group_by),
      cmocka_unit_test(test_memory_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
