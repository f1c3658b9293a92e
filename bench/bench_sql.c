/*
** bench_sql.c -- gmm_fit end to end through SQL, for make bench.
**
**   bench_sql load FILE N D DB
**       creates DB (through DB.tmp and a rename) holding
**       pts(x0 REAL, ..., x{D-1} REAL) filled from FILE (gen_data's format).
**   bench_sql fit DB EXTENSION D K COV MAX_ITER
**       loads EXTENSION into the system libsqlite3, reads pts once (so it is
**       in the OS page cache) and fits once with max_iter 0, untimed (the
**       process's first touch of its buffers), then times
**         SELECT length(gmm_fit('{"k":K,"covariance_type":COV,
**           "init":"random_from_data","tol":0,"max_iter":M}', x0, ..., x{D-1}))
**         FROM pts
**       for M = 0 and M = MAX_ITER, and prints one line of JSON: both wall
**       times, their difference divided by MAX_ITER (seconds per EM
**       iteration) and the peak resident set (getrusage ru_maxrss) above the
**       resident set before the first query.
*/
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static void die(sqlite3 *db, const char *what) {
  fprintf(stderr, "bench_sql: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
  exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "bench_sql: %s: %s\n", sql, err ? err : "?");
    exit(1);
  }
}

/* "x0, x1, ..., x{d-1}" (with " REAL" after each when typed). */
static char *columns(int d, int typed) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  for (int j = 0; j < d; j++) sqlite3_str_appendf(s, "%sx%d%s", j ? ", " : "", j, typed ? " REAL" : "");
  char *r = sqlite3_str_finish(s);
  if (!r) die(NULL, "columns");
  return r;
}

static int load(const char *file, size_t n, int d, const char *path) {
  size_t dd = (size_t)d;
  double *row = malloc(dd * sizeof *row);
  FILE *f = fopen(file, "rb");
  if (!row || !f) {
    perror(file);
    return 1;
  }
  char *tmp = sqlite3_mprintf("%s.tmp", path);
  remove(tmp);
  sqlite3 *db;
  if (sqlite3_open(tmp, &db) != SQLITE_OK) die(db, tmp);
  char *cols = columns(d, 1), *names = columns(d, 0);
  exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
  char *sql = sqlite3_mprintf("CREATE TABLE pts(%s)", cols);
  exec(db, sql);
  sqlite3_free(sql);
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s, "INSERT INTO pts(%s) VALUES (", names);
  for (int j = 0; j < d; j++) sqlite3_str_appendf(s, "%s?", j ? ", " : "");
  sqlite3_str_appendall(s, ")");
  sql = sqlite3_str_finish(s);
  sqlite3_stmt *ins;
  if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK) die(db, sql);
  exec(db, "BEGIN");
  for (size_t i = 0; i < n; i++) {
    if (fread(row, sizeof *row, dd, f) != dd) {
      fprintf(stderr, "bench_sql: %s is short\n", file);
      return 1;
    }
    for (int j = 0; j < d; j++) sqlite3_bind_double(ins, j + 1, row[j]);
    if (sqlite3_step(ins) != SQLITE_DONE) die(db, "insert");
    sqlite3_reset(ins);
  }
  exec(db, "COMMIT");
  sqlite3_finalize(ins);
  if (sqlite3_close(db) != SQLITE_OK) die(db, "close");
  if (rename(tmp, path) != 0) {
    perror(path);
    return 1;
  }
  fclose(f);
  free(row);
  sqlite3_free(sql), sqlite3_free(cols), sqlite3_free(names), sqlite3_free(tmp);
  return 0;
}

static double time_query(sqlite3 *db, const char *sql, sqlite3_int64 *result) {
  sqlite3_stmt *st;
  double t0 = now();
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(db, sql);
  if (sqlite3_step(st) != SQLITE_ROW) die(db, sql);
  *result = sqlite3_column_int64(st, 0);
  if (sqlite3_step(st) != SQLITE_DONE) die(db, sql);
  sqlite3_finalize(st);
  return now() - t0;
}

static int fit(const char *path, const char *ext, int d, int k, const char *cov, int max_iter) {
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) die(db, path);
  char *err = NULL;
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, ext, "sqlite3_gmm_init", &err) != SQLITE_OK) {
    fprintf(stderr, "bench_sql: cannot load %s: %s\n", ext, err ? err : "?");
    return 1;
  }
  sqlite3_int64 r0, rn;
  char *cols = columns(d, 0);
  char *sql = sqlite3_mprintf("SELECT sum(x0) FROM pts");
  time_query(db, sql, &r0); /* warm the OS page cache */
  sqlite3_free(sql);
  long base = rss_kib();
  const char *fmt = "SELECT length(gmm_fit('{\"k\":%d,\"covariance_type\":\"%s\","
                    "\"init\":\"random_from_data\",\"tol\":0,\"max_iter\":%d}', %s)) FROM pts";
  sql = sqlite3_mprintf(fmt, k, cov, 0, cols);
  /* Once untimed: the process's first fit pays for its first touch of the
  ** row buffer and for starting threads, tens of milliseconds that would
  ** otherwise count against max_iter 0 alone. */
  time_query(db, sql, &r0);
  double t_init = time_query(db, sql, &r0);
  sqlite3_free(sql);
  sql = sqlite3_mprintf(fmt, k, cov, max_iter, cols);
  double t_fit = time_query(db, sql, &rn);
  sqlite3_free(sql);
  if (r0 <= 0 || r0 != rn) {
    fprintf(stderr, "bench_sql: unexpected model sizes %lld, %lld\n", r0, rn);
    return 1;
  }
  printf("{\"tool\": \"sql\", \"cov\": \"%s\", \"max_iter\": %d, \"init_s\": %.6f, \"fit_s\": %.6f, "
         "\"per_iter_s\": %.6f, \"peak_above_base_mib\": %.1f, \"base_rss_mib\": %.1f, "
         "\"sqlite\": \"%s\"}\n",
         cov, max_iter, t_init, t_fit, (t_fit - t_init) / max_iter,
         (double)(peak_kib() - base) / 1024.0, (double)base / 1024.0, sqlite3_libversion());
  sqlite3_free(cols);
  sqlite3_close(db);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "load") == 0)
    return load(argv[2], (size_t)strtoull(argv[3], NULL, 10), atoi(argv[4]), argv[5]);
  if (argc == 8 && strcmp(argv[1], "fit") == 0)
    return fit(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6], atoi(argv[7]));
  fprintf(stderr,
          "usage: %s load FILE N D DB\n"
          "       %s fit DB EXTENSION D K COV MAX_ITER\n",
          argv[0], argv[0]);
  return 2;
}
