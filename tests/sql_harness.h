/*
** sql_harness.h -- the harness shared by the cmocka suites that test the gmm
** extension through SQL: tests/test_sql.c, tests/test_options.c and
** tests/test_vtab.c.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL, the way a user does. This header offers:
**
**   1. rng: a seeded PRNG of the tests' own (splitmix64, Box-Muller), so
**      that the data depend on nothing under test; TEST_PI.
**   2. dup_text, vformat, format: strings in plain malloc, so that SQLite's
**      memory accounting (sqlite3_memory_used) sees only what SQLite and
**      the extension allocate.
**   3. open_db (":memory:" with ./gmm loaded; the first call prints the
**      SQLite library's version and the headers'), close_db (which must
**      succeed: nothing left unfinalized), exec_sql (printf-style SQL that
**      must succeed).
**   4. prepare (printf-style SQL that must prepare, with a BLOB bound to
**      ?1 when one is given and the statement has a parameter), step_row
**      (the statement must give one more row); run_sql: what one statement
**      gave (a result: its first row's first value, or its error code and
**      message), with a BLOB bound to ?1 likewise.
**   5. The single value of a statement, which must give exactly one row of
**      one value: sql_int (an INTEGER), sql_double (a number), sql_text
**      (malloc'd; NULL for SQL NULL), sql_type, sql_blob (malloc'd); the _b
**      forms bind a BLOB to ?1 first. assert_sql_int(_b), assert_sql_text(_b)
**      and assert_sql_null compare it with what is expected.
**   6. Errors: assert_sql_error(_b), the statement fails with exactly the
**      message expected (everything is freed before a mismatch fails the
**      test, so that the tests stay clean under valgrind); sql_errmsg(_b),
**      the message (malloc'd) for the test to inspect. After either,
**      check_alive: the connection still answers a simple query.
**   7. assert_close(a, b, tol): |a - b| <= tol, printing both on failure.
**   8. Bulk inserts for the tests' data: begin_insert (prepare an INSERT,
**      begin a transaction), insert_row (after the caller's binds), and
**      end_insert (commit, finalize).
**   9. Memory baselines: close_db_measured closes a connection and returns
**      sqlite3_memory_used() afterwards, for comparison with a baseline;
**      memory_while_open, what was in use just before, shows that SQLite's
**      memory accounting is on (so that the comparisons are not vacuous).
**  10. BLOB helpers: put_le and put_double (little-endian, as the model
**      BLOB stores them), fnv1a (its checksum), read_binary (a fixture
**      file, malloc'd).
**
** A file may define SQL_HARNESS_ON_OPEN(db) before including this header:
** open_db then calls it on every connection it opens (test_vtab.c hooks its
** statement profiler there).
**
** Every function is static inline so that a file that uses only some of
** them still compiles cleanly under the Makefile's warnings.
*/
#ifndef GMM_SQL_HARNESS_H
#define GMM_SQL_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define TEST_PI 3.14159265358979323846

/* ------------------------------------------------------------------------
** PRNG: splitmix64, Box-Muller.
*/
typedef struct rng {
  uint64_t state;
} rng;

static inline uint64_t rng_u64(rng *r) {
  uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static inline double rng_uniform(rng *r) {
  return ((double)(rng_u64(r) >> 11) + 0.5) * 0x1p-53;
}

static inline double rng_normal(rng *r) {
  double u = rng_uniform(r), v = rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(2.0 * TEST_PI * v);
}

/* ------------------------------------------------------------------------
** Small string helpers (plain malloc, so that SQLite's memory accounting
** sees only what SQLite and the extension allocate).
*/
static inline char *dup_text(const char *s, int n) {
  if (!s) return NULL;
  if (n < 0) n = (int)strlen(s);
  char *copy = malloc((size_t)n + 1);
  assert_non_null(copy);
  memcpy(copy, s, (size_t)n);
  copy[n] = 0;
  return copy;
}

static inline char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  assert_true(n >= 0);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static inline char *format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(fmt, ap);
  va_end(ap);
  return s;
}

/* ------------------------------------------------------------------------
** Connection and statement helpers.
*/
/* The extension under test: $GMM_EXTENSION (the Makefile sets it for each
** build variant), else ./gmm from the repository root. */
static inline const char *extension_path(void) {
  const char *path = getenv("GMM_EXTENSION");
  return path && path[0] ? path : "./gmm";
}

static inline sqlite3 *open_db(void) {
  static int version_said;
  if (!version_said) {
    /* make test runs the suites on two SQLite versions: say which. */
    version_said = 1;
    printf("[ SQLITE   ] library %s (headers %s)\n", sqlite3_libversion(), SQLITE_VERSION);
  }
  sqlite3 *db = NULL;
  int rc = sqlite3_open(":memory:", &db);
  if (rc != SQLITE_OK) fail_msg("sqlite3_open: %s", db ? sqlite3_errmsg(db) : "no memory");
  assert_int_equal(sqlite3_enable_load_extension(db, 1), SQLITE_OK);
  char *err = NULL;
  rc = sqlite3_load_extension(db, extension_path(), "sqlite3_gmm_init", &err);
  if (rc != SQLITE_OK)
    fail_msg("cannot load %s (run from the repo root): %s", extension_path(), err ? err : "?");
  sqlite3_free(err);
#ifdef SQL_HARNESS_ON_OPEN
  SQL_HARNESS_ON_OPEN(db);
#endif
  return db;
}

static inline void close_db(sqlite3 *db) {
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

#define exec_sql(db, ...) exec_sql_at(__FILE__, __LINE__, db, __VA_ARGS__)
static inline void exec_sql_at(const char *file, int line, sqlite3 *db, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *sql = vformat(fmt, ap);
  va_end(ap);
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    print_error("exec failed: %s\n  in: %s\n", err ? err : "?", sql);
    sqlite3_free(err);
    free(sql);
    _fail(file, line);
  }
  free(sql);
}

/* A prepared statement with blob (when not NULL, and the statement has a
** parameter) bound to ?1. */
static inline sqlite3_stmt *vprepare_at(const char *file, int line, sqlite3 *db, const void *blob,
                                        int n_blob, const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK || !stmt) {
    print_error("prepare failed: %s\n  in: %s\n", sqlite3_errmsg(db), sql);
    free(sql);
    _fail(file, line);
  }
  free(sql);
  if (blob && sqlite3_bind_parameter_count(stmt) >= 1) {
    int rc = sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) {
      print_error("bind failed (%d): %s\n  in: %s\n", rc, sqlite3_errmsg(db), sqlite3_sql(stmt));
      sqlite3_finalize(stmt);
      _fail(file, line);
    }
  }
  return stmt;
}

#define prepare(db, blob, n_blob, ...) prepare_at(__FILE__, __LINE__, db, blob, n_blob, __VA_ARGS__)
static inline sqlite3_stmt *prepare_at(const char *file, int line, sqlite3 *db, const void *blob,
                                       int n_blob, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_stmt *stmt = vprepare_at(file, line, db, blob, n_blob, fmt, ap);
  va_end(ap);
  return stmt;
}

/* Steps a statement that must give one more row. */
#define step_row(db, stmt) step_row_at(__FILE__, __LINE__, db, stmt)
static inline void step_row_at(const char *file, int line, sqlite3 *db, sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    print_error("expected a row, got %d: %s\n  in: %s\n", rc, sqlite3_errmsg(db),
                sqlite3_sql(stmt));
    _fail(file, line);
  }
}

/* What one statement gave: its first row's first value, or its error. */
typedef struct result {
  int rc; /* SQLITE_OK or the error code */
  int n_rows, n_cols;
  int type; /* type of the first value */
  sqlite3_int64 i;
  double d;
  char *text;          /* the first value as text; NULL for SQL NULL */
  unsigned char *blob; /* the first value's bytes, when it is a BLOB */
  int n_blob;
  char *error; /* sqlite3_errmsg when rc != SQLITE_OK */
} result;

static inline void result_clear(result *r) {
  free(r->text);
  free(r->blob);
  free(r->error);
  memset(r, 0, sizeof *r);
}

/* Runs sql to completion, binding blob (when not NULL, and the statement
** has a parameter) to ?1. */
static inline void run_sql(sqlite3 *db, const void *blob, int n_blob, const char *sql, result *r) {
  memset(r, 0, sizeof *r);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK && !stmt) {
    r->rc = SQLITE_MISUSE;
    r->error = dup_text("empty statement", -1);
    return;
  }
  if (rc == SQLITE_OK && blob && sqlite3_bind_parameter_count(stmt) >= 1)
    rc = sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_TRANSIENT);
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (r->n_rows++ == 0) {
      r->n_cols = sqlite3_column_count(stmt);
      r->type = sqlite3_column_type(stmt, 0);
      r->i = sqlite3_column_int64(stmt, 0);
      r->d = sqlite3_column_double(stmt, 0);
      if (r->type == SQLITE_BLOB) {
        r->n_blob = sqlite3_column_bytes(stmt, 0);
        r->blob = malloc((size_t)r->n_blob + 1);
        assert_non_null(r->blob);
        if (r->n_blob) memcpy(r->blob, sqlite3_column_blob(stmt, 0), (size_t)r->n_blob);
      }
      if (r->type != SQLITE_NULL)
        r->text =
            dup_text((const char *)sqlite3_column_text(stmt, 0), sqlite3_column_bytes(stmt, 0));
    }
    rc = SQLITE_OK;
  }
  r->rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
  if (r->rc != SQLITE_OK) r->error = dup_text(sqlite3_errmsg(db), -1);
  sqlite3_finalize(stmt);
}

/* Runs a statement that must succeed with exactly one row of one value. */
static inline void run_value(const char *file, int line, sqlite3 *db, const void *blob, int n_blob,
                             const char *sql, result *r) {
  run_sql(db, blob, n_blob, sql, r);
  if (r->rc != SQLITE_OK) {
    print_error("query failed: %s\n  in: %s\n", r->error, sql);
    _fail(file, line);
  }
  if (r->n_rows != 1 || r->n_cols != 1) {
    print_error("expected one row of one value, got %d rows of %d\n  in: %s\n", r->n_rows,
                r->n_cols, sql);
    _fail(file, line);
  }
}

static inline sqlite3_int64 int_at(const char *file, int line, sqlite3 *db, const void *blob,
                                   int n_blob, const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_value(file, line, db, blob, n_blob, sql, &r);
  if (r.type != SQLITE_INTEGER) {
    print_error("expected an INTEGER, got type %d (%s)\n  in: %s\n", r.type,
                r.text ? r.text : "NULL", sql);
    _fail(file, line);
  }
  sqlite3_int64 v = r.i;
  result_clear(&r);
  free(sql);
  return v;
}

static inline double double_at(const char *file, int line, sqlite3 *db, const void *blob,
                               int n_blob, const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_value(file, line, db, blob, n_blob, sql, &r);
  if (r.type != SQLITE_FLOAT && r.type != SQLITE_INTEGER) {
    print_error("expected a number, got type %d (%s)\n  in: %s\n", r.type, r.text ? r.text : "NULL",
                sql);
    _fail(file, line);
  }
  double v = r.d;
  result_clear(&r);
  free(sql);
  return v;
}

/* The value as text (malloc'd; NULL for SQL NULL). */
static inline char *text_at(const char *file, int line, sqlite3 *db, const void *blob, int n_blob,
                            const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_value(file, line, db, blob, n_blob, sql, &r);
  char *v = r.text;
  r.text = NULL;
  result_clear(&r);
  free(sql);
  return v;
}

static inline int type_at(const char *file, int line, sqlite3 *db, const void *blob, int n_blob,
                          const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_value(file, line, db, blob, n_blob, sql, &r);
  int v = r.type;
  result_clear(&r);
  free(sql);
  return v;
}

/* The value as a BLOB (malloc'd), its size in *n. */
static inline unsigned char *blob_at(const char *file, int line, sqlite3 *db, int *n,
                                     const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_value(file, line, db, NULL, 0, sql, &r);
  if (r.type != SQLITE_BLOB) {
    print_error("expected a BLOB, got type %d\n  in: %s\n", r.type, sql);
    _fail(file, line);
  }
  unsigned char *v = r.blob;
  *n = r.n_blob;
  r.blob = NULL;
  result_clear(&r);
  free(sql);
  return v;
}

/* The connection still answers a simple query after an error. */
static inline void check_alive(const char *file, int line, sqlite3 *db) {
  result r;
  run_sql(db, NULL, 0, "SELECT 40 + 2", &r);
  if (r.rc != SQLITE_OK || r.n_rows != 1 || r.i != 42) {
    print_error("the connection no longer works after an error: %s\n", r.error ? r.error : "");
    _fail(file, line);
  }
  result_clear(&r);
}

/* The statement fails with exactly the message expected. On a mismatch
** everything is freed before the test fails, so that the tests that keep
** an extension bug visible stay clean under valgrind. */
static inline void error_at(const char *file, int line, sqlite3 *db, const void *blob, int n_blob,
                            const char *expected, const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_sql(db, blob, n_blob, sql, &r);
  int ok = r.rc != SQLITE_OK && strcmp(r.error, expected) == 0;
  if (!ok) {
    if (r.rc == SQLITE_OK)
      print_error(
          "expected the error \"%s\", but the statement succeeded (%d rows, first value %s)\n"
          "  in: %s\n",
          expected, r.n_rows, r.text ? r.text : "NULL", sql);
    else
      print_error("expected the error \"%s\"\n          got \"%s\"\n  in: %s\n", expected, r.error,
                  sql);
  }
  result_clear(&r);
  free(sql);
  if (!ok) _fail(file, line);
  check_alive(file, line, db);
}

/* The error message, malloc'd (the test asserts on it itself). */
static inline char *errmsg_at(const char *file, int line, sqlite3 *db, const void *blob, int n_blob,
                              const char *fmt, va_list ap) {
  char *sql = vformat(fmt, ap);
  result r;
  run_sql(db, blob, n_blob, sql, &r);
  if (r.rc == SQLITE_OK) {
    print_error("expected an error, but the statement succeeded (%s)\n  in: %s\n",
                r.text ? r.text : "NULL", sql);
    _fail(file, line);
  }
  char *v = r.error;
  r.error = NULL;
  result_clear(&r);
  free(sql);
  check_alive(file, line, db);
  return v;
}

#define DEFINE_VARIADIC(ret, name, impl)                                                        \
  static inline ret name(const char *file, int line, sqlite3 *db, const void *blob, int n_blob, \
                         const char *fmt, ...) {                                                \
    va_list ap;                                                                                 \
    va_start(ap, fmt);                                                                          \
    ret v = impl(file, line, db, blob, n_blob, fmt, ap);                                        \
    va_end(ap);                                                                                 \
    return v;                                                                                   \
  }
DEFINE_VARIADIC(sqlite3_int64, sql_int_impl, int_at)
DEFINE_VARIADIC(double, sql_double_impl, double_at)
DEFINE_VARIADIC(char *, sql_text_impl, text_at)
DEFINE_VARIADIC(int, sql_type_impl, type_at)
DEFINE_VARIADIC(char *, sql_errmsg_impl, errmsg_at)
#undef DEFINE_VARIADIC

static inline unsigned char *sql_blob_impl(const char *file, int line, sqlite3 *db, int *n,
                                           const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  unsigned char *v = blob_at(file, line, db, n, fmt, ap);
  va_end(ap);
  return v;
}

static inline void sql_error_impl(const char *file, int line, sqlite3 *db, const void *blob,
                                  int n_blob, const char *expected, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_at(file, line, db, blob, n_blob, expected, fmt, ap);
  va_end(ap);
}

/* The single value of a statement, as INTEGER / number / text / type. The
** _b forms bind a BLOB to ?1 first. */
#define sql_int(db, ...)            sql_int_impl(__FILE__, __LINE__, db, NULL, 0, __VA_ARGS__)
#define sql_int_b(db, b, n, ...)    sql_int_impl(__FILE__, __LINE__, db, b, n, __VA_ARGS__)
#define sql_double(db, ...)         sql_double_impl(__FILE__, __LINE__, db, NULL, 0, __VA_ARGS__)
#define sql_double_b(db, b, n, ...) sql_double_impl(__FILE__, __LINE__, db, b, n, __VA_ARGS__)
#define sql_text(db, ...)           sql_text_impl(__FILE__, __LINE__, db, NULL, 0, __VA_ARGS__)
#define sql_text_b(db, b, n, ...)   sql_text_impl(__FILE__, __LINE__, db, b, n, __VA_ARGS__)
#define sql_type(db, ...)           sql_type_impl(__FILE__, __LINE__, db, NULL, 0, __VA_ARGS__)
#define sql_type_b(db, b, n, ...)   sql_type_impl(__FILE__, __LINE__, db, b, n, __VA_ARGS__)
#define sql_blob(db, n, ...)        sql_blob_impl(__FILE__, __LINE__, db, n, __VA_ARGS__)
/* The statement fails with exactly this message; then the connection works. */
#define assert_sql_error(db, expected, ...) \
  sql_error_impl(__FILE__, __LINE__, db, NULL, 0, expected, __VA_ARGS__)
#define assert_sql_error_b(db, b, n, expected, ...) \
  sql_error_impl(__FILE__, __LINE__, db, b, n, expected, __VA_ARGS__)
/* The statement fails; its message (malloc'd). */
#define sql_errmsg(db, ...)         sql_errmsg_impl(__FILE__, __LINE__, db, NULL, 0, __VA_ARGS__)
#define sql_errmsg_b(db, b, n, ...) sql_errmsg_impl(__FILE__, __LINE__, db, b, n, __VA_ARGS__)

#define assert_sql_int(db, expected, ...) assert_int_equal(sql_int(db, __VA_ARGS__), expected)
#define assert_sql_int_b(db, b, n, expected, ...) \
  assert_int_equal(sql_int_b(db, b, n, __VA_ARGS__), expected)
#define assert_sql_null(db, ...) assert_int_equal(sql_type(db, __VA_ARGS__), SQLITE_NULL)
#define assert_sql_text(db, expected, ...)   \
  do {                                       \
    char *text_ = sql_text(db, __VA_ARGS__); \
    assert_non_null(text_);                  \
    assert_string_equal(text_, expected);    \
    free(text_);                             \
  } while (0)
#define assert_sql_text_b(db, b, n, expected, ...)   \
  do {                                               \
    char *text_ = sql_text_b(db, b, n, __VA_ARGS__); \
    assert_non_null(text_);                          \
    assert_string_equal(text_, expected);            \
    free(text_);                                     \
  } while (0)

#define assert_close(a, b, tol)                                               \
  do {                                                                        \
    double a_ = (a), b_ = (b), tol_ = (tol);                                  \
    if (!(fabs(a_ - b_) <= tol_))                                             \
      fail_msg("%s = %.17g, %s = %.17g, tolerance %g", #a, a_, #b, b_, tol_); \
  } while (0)

/* ------------------------------------------------------------------------
** Bulk inserts: ins = begin_insert(db, "INSERT ...", ...) prepares the
** statement (printf-style) and begins a transaction; for each row the caller
** binds the values and calls insert_row(ins), which inserts them and resets
** the statement; end_insert(db, ins) commits and finalizes.
*/
#define begin_insert(db, ...) begin_insert_at(__FILE__, __LINE__, db, __VA_ARGS__)
static inline sqlite3_stmt *begin_insert_at(const char *file, int line, sqlite3 *db,
                                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_stmt *ins = vprepare_at(file, line, db, NULL, 0, fmt, ap);
  va_end(ap);
  exec_sql_at(file, line, db, "BEGIN");
  return ins;
}

#define insert_row(ins) insert_row_at(__FILE__, __LINE__, ins)
static inline void insert_row_at(const char *file, int line, sqlite3_stmt *ins) {
  int rc = sqlite3_step(ins);
  if (rc != SQLITE_DONE) {
    print_error("insert failed (%d): %s\n  in: %s\n", rc, sqlite3_errmsg(sqlite3_db_handle(ins)),
                sqlite3_sql(ins));
    _fail(file, line);
  }
  sqlite3_reset(ins);
}

#define end_insert(db, ins) end_insert_at(__FILE__, __LINE__, db, ins)
static inline void end_insert_at(const char *file, int line, sqlite3 *db, sqlite3_stmt *ins) {
  exec_sql_at(file, line, db, "COMMIT");
  sqlite3_finalize(ins);
}

/* ------------------------------------------------------------------------
** Memory baselines. SQLite's own allocations are counted by
** sqlite3_memory_used() (the harness allocates with plain malloc, so it
** adds nothing there).
*/

/* sqlite3_memory_used() just before the last close_db_measured: shows that
** SQLite's memory accounting is on (the comparisons with a baseline would
** be vacuous if not). */
static sqlite3_int64 memory_while_open;

/* Closes db (which must succeed) and returns sqlite3_memory_used()
** afterwards, noting in memory_while_open what was in use just before. */
static inline sqlite3_int64 close_db_measured(sqlite3 *db) {
  memory_while_open = sqlite3_memory_used();
  close_db(db);
  return sqlite3_memory_used();
}

/* ------------------------------------------------------------------------
** BLOB helpers: the model BLOB's little-endian fields and its checksum
** (gmm_blob.c's table), written here independently of the extension.
*/
static inline void put_le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put_double(unsigned char *p, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_le(p, bits, 8);
}

/* FNV-1a over n bytes: the checksum that ends every model BLOB. */
static inline uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* The bytes of a fixture file of at most 4096 bytes (malloc'd), their
** number in *len. Paths are relative to the repository root. */
static inline unsigned char *read_binary(const char *path, int *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s (run the tests from the repository root)", path);
  unsigned char *buf = malloc(4096);
  assert_non_null(buf);
  size_t n = fread(buf, 1, 4096, f);
  assert_true(feof(f));
  fclose(f);
  *len = (int)n;
  return buf;
}

#endif /* GMM_SQL_HARNESS_H */
