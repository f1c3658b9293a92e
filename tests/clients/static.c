/*
** static.c -- gmm linked into a program: the static library libgmm.a (built
** with -DSQLITE_CORE) and the system libsqlite3, the extension registered
** for every connection with sqlite3_auto_extension. From the repository root:
**
**   make libgmm.a
**   cc -Iext/sqlite -o static tests/clients/static.c libgmm.a -lsqlite3 -lm
**   ./static          (reads sql/faithful.sql; prints "ok static")
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>
#include "sqlite3_gmm.h"

static int failures = 0;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL static: %s\n", what);
    failures++;
  }
}

/* Runs sql (one statement) and returns its first row's first column as a
** double, or NAN on an error. */
static double one(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt = NULL;
  double v = NAN;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_double(stmt, 0);
  else
    fprintf(stderr, "%s\n  -> %s\n", sql, sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  return v;
}

/* Reads a whole file into a NUL-terminated buffer (free() it). */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL) {
      if (fread(text, 1, (size_t)n, f) == (size_t)n) {
        text[n] = 0;
      } else {
        free(text);
        text = NULL;
      }
    }
  }
  fclose(f);
  return text;
}

int main(void) {
  /* Every connection opened from now on gets the gmm functions. */
  if (sqlite3_auto_extension((void (*)(void))sqlite3_gmm_init) != SQLITE_OK) return 1;

  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  char *data = read_file("sql/faithful.sql");
  char *err = NULL;
  if (!data || sqlite3_exec(db, data, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "FAIL static: sql/faithful.sql: %s\n", err ? err : "cannot read it");
    return 1;
  }
  free(data);
  if (sqlite3_exec(db,
                   "CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful",
                   NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "FAIL static: gmm_fit: %s\n", err);
    return 1;
  }

  const char *sizes =
      "FROM (SELECT count(*) AS n FROM faithful"
      " GROUP BY gmm_predict((SELECT model FROM m), eruptions, waiting))";
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT min(n) %s", sizes);
  check(one(db, sql) == 97, "the smaller cluster has 97 eruptions");
  snprintf(sql, sizeof sql, "SELECT max(n) %s", sizes);
  check(one(db, sql) == 175, "the larger cluster has 175 eruptions");
  check(one(db, "SELECT json_extract(gmm_info(model), '$.k') FROM m") == 2, "k is 2");
  check(one(db, "SELECT json_extract(gmm_info(model), '$.n_samples') FROM m") == 272,
        "n_samples is 272");
  const char *loglik = "SELECT json_extract(gmm_info(model), '$.log_likelihood') FROM m";
  check(fabs(one(db, loglik) - -1130.264) < 1e-3, "log_likelihood is -1130.264");
  const char *proba =
      "SELECT max(value) FROM json_each(gmm_predict_proba("
      "(SELECT model FROM m), 3.0, 70))";
  check(fabs(one(db, proba) - 0.963) < 5e-4,
        "p(component | 3.0, 70) is 0.963 for the likelier one");
  sqlite3_close(db);

  /* A second connection gets the functions too, without loading anything. */
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  check(one(db, "SELECT length(gmm_version()) > 0") == 1, "gmm_version() on a second connection");
  sqlite3_close(db);

  /* Without the auto-extension, one connection can call the entry point
  ** itself (pApi is not used by a static build). */
  sqlite3_reset_auto_extension();
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  check(sqlite3_gmm_init(db, &err, NULL) == SQLITE_OK, "sqlite3_gmm_init called directly");
  const char *fit1 = "SELECT gmm_predict(gmm_fit(1, x), 0) FROM (SELECT 1 AS x UNION SELECT 2)";
  check(one(db, fit1) == 0, "gmm_fit and gmm_predict after a direct sqlite3_gmm_init");
  sqlite3_close(db);

  if (failures) return 1;
  printf("ok static\n");
  return 0;
}
