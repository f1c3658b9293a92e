/*
** bench_passes.c -- EM in passes (gmm_init, gmm_start, gmm_estep, gmm_merge,
** gmm_mstep) through SQL, for make bench. Each mode prints one line of JSON.
**
**   bench_passes stream DB EXTENSION D K REPEAT
**       On pts(x0..x{D-1}) of DB (read-only, already in the OS page cache
**       after one warming scan), the fastest of REPEAT runs of
**         scan      SELECT sum(x0 + ... + x{D-1}) FROM pts
**         noop      SELECT bench_noop(?1, x0, ..., x{D-1}) FROM pts: an
**                   aggregate (registered here) that reads its arguments as
**                   gmm_estep does and does nothing else: SQLite's cost of
**                   calling an aggregate with D+1 arguments per row
**         estep     SELECT length(gmm_estep(?1, x0, ..., x{D-1})) FROM pts
**         streamed  SELECT gmm_mstep(?1, (SELECT gmm_estep(?1, x0, ..., x{D-1})
**                   FROM pts)): one EM iteration streamed over the table
**       with ?1 the model of gmm_start(gmm_init('{"k":K,"init":
**       "random_from_data","tol":0}', ...)) (full covariance; a model from
**       gmm_fit with max_iter 0 has done its iterations and gmm_mstep refuses it).
**
**   bench_passes outofcore DB EXTENSION D K ITER HEAP_LIMIT CACHE_SIZE FIT_K
**       In this (fresh) process: opens DB read-only and loads EXTENSION, takes
**       the resident set, then runs PRAGMA hard_heap_limit = HEAP_LIMIT,
**       cache_size = CACHE_SIZE, mmap_size = 0 and the passes
**         SELECT gmm_start(gmm_init('{"k":K,"init":"random_from_data","tol":0}',
**           x0, ..., x{D-1})) FROM pts
**         ITER x SELECT gmm_mstep(?1, (SELECT gmm_estep(?1, x0, ...) FROM pts))
**       timing each; the peak resident set (VmHWM, see hwm_kib) above the
**       resident set taken before the first statement; SQLite's heap
**       high-water mark. Then
**         SELECT gmm_fit(FIT_K, x0, ..., x{D-1}) FROM pts
**       under the same limit, which must fail: its error code and message.
**
**   bench_passes attached EXTENSION SPEC D ITER OUT SHARD...
**       The passes of python/gmm_dask.py in one process: an in-memory
**       database with every SHARD attached read-only (s0, s1, ...), then
**         SELECT gmm_start(gmm_merge(s)) FROM
**           (SELECT gmm_init(SPEC, x0, ...) AS s FROM s0.pts UNION ALL ...)
**         ITER x SELECT gmm_mstep(?1, (SELECT gmm_merge(s) FROM
**           (SELECT gmm_estep(?1, x0, ...) AS s FROM s0.pts UNION ALL ...)))
**       timing the initialisation and each iteration; writes the final model
**       BLOB to OUT (to compare with gmm_dask's --out).
*/
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* This process's peak resident set in KiB: VmHWM of /proc/self/status
** where there is one, else getrusage's ru_maxrss. ru_maxrss alone is not
** this process's: Linux carries it over from the parent when the process
** is started by vfork + exec (as Python's subprocess does), so it is at
** least the parent's peak (the driver's, tens of MiB). */
static long hwm_kib(void) {
  long kib = -1;
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
  }
  return kib >= 0 ? kib : peak_kib();
}

static void die(sqlite3 *db, const char *what) {
  fprintf(stderr, "bench_passes: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
  exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "bench_passes: %s: %s\n", sql, err ? err : "?");
    exit(1);
  }
}

/* "x0, x1, ..., x{d-1}" joined by sep (", " or " + "). */
static char *columns(int d, const char *sep) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  for (int j = 0; j < d; j++) sqlite3_str_appendf(s, "%sx%d", j ? sep : "", j);
  char *r = sqlite3_str_finish(s);
  if (!r) die(NULL, "columns");
  return r;
}

static sqlite3 *open_db(const char *path, int flags, const char *ext) {
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) die(db, path);
  char *err = NULL;
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, ext, "sqlite3_gmm_init", &err) != SQLITE_OK) {
    fprintf(stderr, "bench_passes: cannot load %s: %s\n", ext, err ? err : "?");
    exit(1);
  }
  return db;
}

/* A BLOB kept across statements. */
typedef struct blob {
  void *p;
  int n;
} blob;

static void blob_set(blob *b, sqlite3_stmt *st, int col) {
  free(b->p);
  b->n = sqlite3_column_bytes(st, col);
  b->p = malloc(b->n > 0 ? (size_t)b->n : 1);
  if (!b->p) die(NULL, "blob");
  if (b->n > 0) memcpy(b->p, sqlite3_column_blob(st, col), (size_t)b->n);
}

/* Runs a one-row query with ?1 bound to *arg (when given); the first column
** goes to *out (when given; it must be a BLOB). Returns the wall time. */
static double run1(sqlite3 *db, const char *sql, const blob *arg, blob *out) {
  sqlite3_stmt *st;
  double t0 = now();
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(db, sql);
  if (arg) sqlite3_bind_blob(st, 1, arg->p, arg->n, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW) die(db, sql);
  if (out) {
    if (sqlite3_column_type(st, 0) != SQLITE_BLOB) {
      fprintf(stderr, "bench_passes: %s: not a BLOB\n", sql);
      exit(1);
    }
    blob_set(out, st, 0);
  }
  if (sqlite3_step(st) != SQLITE_DONE) die(db, sql);
  sqlite3_finalize(st);
  return now() - t0;
}

static double best_of(int repeat, sqlite3 *db, const char *sql, const blob *arg, blob *out) {
  double best = 1e300;
  for (int r = 0; r < repeat; r++) {
    double t = run1(db, sql, arg, out);
    if (t < best) best = t;
  }
  return best;
}

/* bench_noop(model, x...): reads every argument as gmm_estep does (the
** model's bytes, each feature as a double) and keeps a running sum. */
static void noop_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  double *acc = sqlite3_aggregate_context(ctx, (int)sizeof *acc);
  if (!acc) return;
  const void *p = sqlite3_value_blob(argv[0]);
  *acc += (double)sqlite3_value_bytes(argv[0]) * (p != NULL);
  for (int j = 1; j < argc; j++) {
    if (sqlite3_value_type(argv[j]) == SQLITE_NULL) continue;
    *acc += sqlite3_value_double(argv[j]);
  }
}

static void noop_final(sqlite3_context *ctx) {
  double *acc = sqlite3_aggregate_context(ctx, 0);
  sqlite3_result_double(ctx, acc ? *acc : 0.0);
}

static int stream(const char *path, const char *ext, int d, int k, int repeat) {
  sqlite3 *db = open_db(path, SQLITE_OPEN_READONLY, ext);
  if (sqlite3_create_function(db, "bench_noop", -1, SQLITE_UTF8, NULL, NULL, noop_step,
                              noop_final) != SQLITE_OK)
    die(db, "bench_noop");
  char *cols = columns(d, ", "), *plus = columns(d, " + ");
  char *scan = sqlite3_mprintf("SELECT sum(%s) FROM pts", plus);
  char *init = sqlite3_mprintf(
      "SELECT gmm_start(gmm_init('{\"k\":%d,\"init\":\"random_from_data\",\"tol\":0}', %s)) "
      "FROM pts",
      k, cols);
  char *noop = sqlite3_mprintf("SELECT bench_noop(?1, %s) FROM pts", cols);
  char *estep = sqlite3_mprintf("SELECT length(gmm_estep(?1, %s)) FROM pts", cols);
  char *streamed =
      sqlite3_mprintf("SELECT gmm_mstep(?1, (SELECT gmm_estep(?1, %s) FROM pts))", cols);
  run1(db, scan, NULL, NULL); /* warm the OS page cache */
  blob model = {0}, next = {0};
  run1(db, init, NULL, &model);
  double t_scan = best_of(repeat, db, scan, NULL, NULL);
  double t_noop = best_of(repeat, db, noop, &model, NULL);
  double t_estep = best_of(repeat, db, estep, &model, NULL);
  double t_stream = best_of(repeat, db, streamed, &model, &next);
  if (next.n != model.n) {
    fprintf(stderr, "bench_passes: the next model has %d bytes, the model %d\n", next.n, model.n);
    return 1;
  }
  sqlite3_stmt *st;
  long long n = 0;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pts", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW)
    die(db, "count");
  n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  printf("{\"rows\": %lld, \"d\": %d, \"k\": %d, \"repeat\": %d, \"scan_s\": %.6f, "
         "\"noop_s\": %.6f, \"estep_s\": %.6f, \"streamed_s\": %.6f, \"model_bytes\": %d, "
         "\"sqlite\": \"%s\"}\n",
         n, d, k, repeat, t_scan, t_noop, t_estep, t_stream, model.n, sqlite3_libversion());
  free(model.p), free(next.p);
  sqlite3_free(cols), sqlite3_free(plus), sqlite3_free(scan), sqlite3_free(init);
  sqlite3_free(noop), sqlite3_free(estep), sqlite3_free(streamed);
  sqlite3_close(db);
  return 0;
}

/* s with every '"' and '\\' escaped and control characters dropped, for JSON. */
static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s >= 0x20)
      fputc(*s, f);
  }
  fputc('"', f);
}

static int outofcore(const char *path, const char *ext, int d, int k, int iters,
                     long long heap_limit, int cache_size, int fit_k) {
  sqlite3 *db = open_db(path, SQLITE_OPEN_READONLY, ext);
  long base = rss_kib();
  char *pragmas = sqlite3_mprintf(
      "PRAGMA hard_heap_limit = %lld; PRAGMA cache_size = %d; PRAGMA mmap_size = 0;", heap_limit,
      cache_size);
  exec(db, pragmas);
  sqlite3_free(pragmas);
  sqlite3_int64 limit_now = sqlite3_hard_heap_limit64(-1);
  char *cols = columns(d, ", ");
  char *init = sqlite3_mprintf(
      "SELECT gmm_start(gmm_init('{\"k\":%d,\"init\":\"random_from_data\",\"tol\":0}', %s)) "
      "FROM pts",
      k, cols);
  char *step =
      sqlite3_mprintf("SELECT gmm_mstep(?1, (SELECT gmm_estep(?1, %s) FROM pts))", cols);
  blob model = {0};
  double t_init = run1(db, init, NULL, &model);
  long peak_init = hwm_kib() - base;
  double *t = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *t);
  if (!t) die(NULL, "times");
  double sum = 0, best = 1e300;
  for (int i = 0; i < iters; i++) {
    blob next = {0};
    t[i] = run1(db, step, &model, &next);
    free(model.p);
    model = next;
    sum += t[i];
    if (t[i] < best) best = t[i];
  }
  long peak_passes = hwm_kib() - base;
  sqlite3_int64 heap_hw = sqlite3_memory_highwater(1);

  char *fit = sqlite3_mprintf("SELECT gmm_fit(%d, %s) FROM pts", fit_k, cols);
  sqlite3_stmt *st;
  double t0 = now();
  if (sqlite3_prepare_v2(db, fit, -1, &st, NULL) != SQLITE_OK) die(db, fit);
  int rc = sqlite3_step(st);
  double t_fit = now() - t0;
  char *msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  int ext_rc = sqlite3_extended_errcode(db);
  sqlite3_finalize(st);
  long peak_fit = hwm_kib() - base;
  sqlite3_int64 heap_hw_fit = sqlite3_memory_highwater(0);

  sqlite3_int64 rows = 0;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pts", -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW)
    die(db, "count");
  rows = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);

  printf("{\"rows\": %lld, \"d\": %d, \"k\": %d, \"iter\": %d, \"hard_heap_limit\": %lld, "
         "\"cache_size\": %d, \"init_s\": %.6f, \"iter_s\": [",
         (long long)rows, d, k, iters, (long long)limit_now, cache_size, t_init);
  for (int i = 0; i < iters; i++) printf("%s%.6f", i ? ", " : "", t[i]);
  printf("], \"per_iter_mean_s\": %.6f, \"per_iter_best_s\": %.6f, \"base_rss_mib\": %.1f, "
         "\"peak_growth_init_mib\": %.2f, \"peak_growth_mib\": %.2f, "
         "\"sqlite_heap_highwater_mib\": %.2f, "
         "\"fit_failed\": %s, \"fit_rc\": %d, \"fit_extended_rc\": %d, \"fit_s\": %.3f, "
         "\"fit_error\": ",
         iters ? sum / iters : 0.0, iters ? best : 0.0, (double)base / 1024.0,
         (double)peak_init / 1024.0, (double)peak_passes / 1024.0, (double)heap_hw / 1048576.0,
         rc == SQLITE_ROW || rc == SQLITE_DONE ? "false" : "true", rc, ext_rc, t_fit);
  json_string(stdout, msg);
  printf(", \"peak_growth_with_fit_mib\": %.2f, \"sqlite_heap_highwater_with_fit_mib\": %.2f, "
         "\"sqlite\": \"%s\"}\n",
         (double)peak_fit / 1024.0, (double)heap_hw_fit / 1048576.0, sqlite3_libversion());
  sqlite3_free(msg), sqlite3_free(fit), sqlite3_free(cols), sqlite3_free(init);
  sqlite3_free(step);
  free(model.p), free(t);
  sqlite3_close(db);
  return 0;
}

/* "SELECT FN(ARG, x0, ...) AS s FROM s0.pts UNION ALL ..." over n shards. */
static char *union_all(const char *fn, const char *arg, const char *cols, int n) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  for (int i = 0; i < n; i++)
    sqlite3_str_appendf(s, "%sSELECT %s(%s, %s) AS s FROM s%d.pts", i ? " UNION ALL " : "", fn,
                        arg, cols, i);
  char *r = sqlite3_str_finish(s);
  if (!r) die(NULL, "union_all");
  return r;
}

static int attached(const char *ext, const char *spec, int d, int iters, const char *out,
                    int n_shards, char **shards) {
  sqlite3 *db = open_db(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, ext);
  for (int i = 0; i < n_shards; i++) {
    char *sql = sqlite3_mprintf("ATTACH 'file:%q?mode=ro' AS s%d", shards[i], i);
    exec(db, sql);
    sqlite3_free(sql);
  }
  char *cols = columns(d, ", ");
  char *quoted = sqlite3_mprintf("%Q", spec);
  char *inits = union_all("gmm_init", quoted, cols, n_shards);
  char *esteps = union_all("gmm_estep", "?1", cols, n_shards);
  char *init = sqlite3_mprintf("SELECT gmm_start(gmm_merge(s)) FROM (%s)", inits);
  char *step = sqlite3_mprintf("SELECT gmm_mstep(?1, (SELECT gmm_merge(s) FROM (%s)))", esteps);
  /* warm the OS page cache */
  char *plus = columns(d, " + ");
  for (int i = 0; i < n_shards; i++) {
    char *sql = sqlite3_mprintf("SELECT sum(%s) FROM s%d.pts", plus, i);
    run1(db, sql, NULL, NULL);
    sqlite3_free(sql);
  }
  sqlite3_free(plus);
  blob model = {0};
  double t_init = run1(db, init, NULL, &model);
  double *t = malloc((size_t)(iters > 0 ? iters : 1) * sizeof *t);
  if (!t) die(NULL, "times");
  double sum = 0, best = 1e300;
  for (int i = 0; i < iters; i++) {
    blob next = {0};
    t[i] = run1(db, step, &model, &next);
    free(model.p);
    model = next;
    sum += t[i];
    if (t[i] < best) best = t[i];
  }
  FILE *f = fopen(out, "wb");
  if (!f || fwrite(model.p, 1, (size_t)model.n, f) != (size_t)model.n || fclose(f) != 0) {
    perror(out);
    return 1;
  }
  printf("{\"shards\": %d, \"iter\": %d, \"init_s\": %.6f, \"iter_s\": [", n_shards, iters, t_init);
  for (int i = 0; i < iters; i++) printf("%s%.6f", i ? ", " : "", t[i]);
  printf("], \"per_iter_s\": %.6f, \"per_iter_best_s\": %.6f, \"model_bytes\": %d}\n",
         iters ? sum / iters : 0.0, iters ? best : 0.0, model.n);
  sqlite3_free(cols), sqlite3_free(quoted), sqlite3_free(inits), sqlite3_free(esteps);
  sqlite3_free(init), sqlite3_free(step);
  free(model.p), free(t);
  sqlite3_close(db);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "stream") == 0)
    return stream(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  if (argc == 10 && strcmp(argv[1], "outofcore") == 0)
    return outofcore(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                     atoll(argv[7]), atoi(argv[8]), atoi(argv[9]));
  if (argc >= 8 && strcmp(argv[1], "attached") == 0)
    return attached(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6], argc - 7, argv + 7);
  fprintf(stderr,
          "usage: %s stream DB EXTENSION D K REPEAT\n"
          "       %s outofcore DB EXTENSION D K ITER HEAP_LIMIT CACHE_SIZE FIT_K\n"
          "       %s attached EXTENSION SPEC D ITER OUT SHARD...\n",
          argv[0], argv[0], argv[0]);
  return 2;
}
