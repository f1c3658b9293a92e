/*
** gmm_wasm.c -- the C side of the WebAssembly build (wasm/build.sh): SQLite's
** amalgamation and gmm linked into one module, gmm registered on every
** connection, and the few helpers web/sqlite-gmm.mjs needs beyond the plain
** SQLite API (which it calls directly: sqlite3_prepare_v2, sqlite3_bind_*,
** sqlite3_step, sqlite3_column_*, ..., listed in build.sh's
** EXPORTED_FUNCTIONS).
**
** Threads: the module is built without -pthread, so sysconf(_SC_NPROCESSORS_ONLN)
** answers 1 (emscripten's emscripten_num_logical_cores stub) and gmm's
** `threads` option, 0 by default (every core), means one thread: a fit never
** calls pthread_create. An explicit {"threads": 4} makes it try; the stub
** pthread_create fails (EAGAIN) and gmm runs those blocks on the calling
** thread (ext/core/gmm_par.c, par (3)), with the same bits.
*/
#include <emscripten.h>
#include <stddef.h>

#include "sqlite3.h"
#include "sqlite3_gmm.h"

/* Registers gmm for every connection opened from now on; idempotent
** (SQLite keeps one entry per function). SQLITE_OK or an error code. */
EMSCRIPTEN_KEEPALIVE int gmm_wasm_init(void) {
  int rc = sqlite3_initialize();
  if (rc == SQLITE_OK) rc = sqlite3_auto_extension((void (*)(void))sqlite3_gmm_init);
  return rc;
}

/* One call's results that C hands back through pointers (a handle, the
** rest of the SQL text) are kept here, read right after the call. */
static sqlite3 *last_db;
static sqlite3_stmt *last_stmt;
static const char *last_tail;

/* Opens filename (":memory:" for an in-memory database) read-write,
** created when missing. Returns the result code; the handle, from
** gmm_wasm_db(), is set even on most errors and must be closed. */
EMSCRIPTEN_KEEPALIVE int gmm_wasm_open(const char *filename) {
  last_db = NULL;
  return sqlite3_open_v2(filename, &last_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
}

EMSCRIPTEN_KEEPALIVE sqlite3 *gmm_wasm_db(void) {
  return last_db;
}

/* Prepares the first statement of the n bytes of UTF-8 at sql. Returns the
** result code; gmm_wasm_stmt() is the statement (NULL when the text held
** only whitespace and comments) and gmm_wasm_tail() where the rest begins. */
EMSCRIPTEN_KEEPALIVE int gmm_wasm_prepare(sqlite3 *db, const char *sql, int n) {
  last_stmt = NULL;
  last_tail = sql + n;
  return sqlite3_prepare_v2(db, sql, n, &last_stmt, &last_tail);
}

EMSCRIPTEN_KEEPALIVE sqlite3_stmt *gmm_wasm_stmt(void) {
  return last_stmt;
}

EMSCRIPTEN_KEEPALIVE const char *gmm_wasm_tail(void) {
  return last_tail;
}

/* Binds a copy of n bytes as TEXT or a BLOB (n may be 0: an empty value,
** not NULL). */
EMSCRIPTEN_KEEPALIVE int gmm_wasm_bind_text(sqlite3_stmt *stmt, int i, const char *p, int n) {
  return n > 0 ? sqlite3_bind_text(stmt, i, p, n, SQLITE_TRANSIENT) : sqlite3_bind_text(stmt, i, "", 0, SQLITE_STATIC);
}

EMSCRIPTEN_KEEPALIVE int gmm_wasm_bind_blob(sqlite3_stmt *stmt, int i, const void *p, int n) {
  return n > 0 ? sqlite3_bind_blob(stmt, i, p, n, SQLITE_TRANSIENT) : sqlite3_bind_zeroblob(stmt, i, 0);
}
