/*
** fuzz_sql.h -- what the SQL fuzz targets (fuzz_apply.c, fuzz_fit.c)
** share: the one connection, opened lazily on ":memory:" with the gmm
** extension compiled in (-DSQLITE_CORE) and registered by calling its
** entry point; statement helpers; binding an encoded value.
**
** The connection is the only state carried from one input to the next
** (with the extension's cache of decoded models inside it).
*/
#ifndef GMM_FUZZ_SQL_H
#define GMM_FUZZ_SQL_H

#include <sqlite3.h>

#include "fuzz_common.h"

int sqlite3_gmm_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

static sqlite3 *fuzz_connection;

static sqlite3 *fuzz_db(void) {
  if (fuzz_connection) return fuzz_connection;
  int rc = sqlite3_open(":memory:", &fuzz_connection);
  FUZZ_CHECK_MSG(rc == SQLITE_OK, "sqlite3_open: %d", rc);
  rc = sqlite3_gmm_init(fuzz_connection, NULL, NULL);
  FUZZ_CHECK_MSG(rc == SQLITE_OK, "sqlite3_gmm_init: %d", rc);
  return fuzz_connection;
}

/* A statement that must prepare (the harness's own SQL). */
static sqlite3_stmt *fuzz_prepare(const char *sql) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(fuzz_db(), sql, -1, &stmt, NULL);
  FUZZ_CHECK_MSG(rc == SQLITE_OK && stmt, "prepare failed (%s): %s", sqlite3_errmsg(fuzz_db()),
                 sql);
  return stmt;
}

/* Runs harness SQL that must succeed. */
static void fuzz_exec(const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(fuzz_db(), sql, NULL, NULL, &err);
  FUZZ_CHECK_MSG(rc == SQLITE_OK, "%s: %s", sql, err ? err : "");
}

/* A statement's outcome: SQLITE_DONE, or an error code other than a
** crash. SQLITE_NOMEM and SQLITE_MISUSE are never fine here. */
static int fuzz_step(sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  FUZZ_CHECK_MSG(rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_ERROR ||
                     rc == SQLITE_CONSTRAINT,
                 "sqlite3_step returned %d (%s) in: %s", rc, sqlite3_errmsg(fuzz_db()),
                 sqlite3_sql(stmt));
  if (rc == SQLITE_ERROR) {
    /* Every gmm error names its function. */
    const char *msg = sqlite3_errmsg(fuzz_db());
    FUZZ_CHECK_MSG(msg && msg[0], "an error without a message in: %s", sqlite3_sql(stmt));
  }
  return rc;
}

static void fuzz_bind(sqlite3_stmt *stmt, int i, const fuzz_value *v) {
  uint64_t bits = fuzz_get_le64(v->payload);
  switch (v->kind) {
    case FUZZ_V_INTEGER: sqlite3_bind_int64(stmt, i, (int32_t)(uint32_t)bits); break;
    case FUZZ_V_NULL: sqlite3_bind_null(stmt, i); break;
    case FUZZ_V_TEXT: sqlite3_bind_text(stmt, i, (const char *)v->payload, 8, SQLITE_TRANSIENT); break;
    case FUZZ_V_BLOB: sqlite3_bind_blob(stmt, i, v->payload, 8, SQLITE_TRANSIENT); break;
    default: sqlite3_bind_double(stmt, i, fuzz_value_number(v)); break;
  }
}

/* Appends printf-style text to a fixed buffer (harness SQL only). */
static void fuzz_appendf(char *buf, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#include <stdarg.h>
static void fuzz_appendf(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
  FUZZ_CHECK(n >= 0 && (size_t)n < cap - len);
}

#endif /* GMM_FUZZ_SQL_H */
