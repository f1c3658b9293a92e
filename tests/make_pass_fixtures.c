/*
** make_pass_fixtures.c -- writes tests/fixtures/stats-v1.bin and
** tests/fixtures/istate-v1.bin, the fixtures of the statistics BLOB
** (GMM_STATS_VERSION 1, "GMMs") and of the initialisation-state BLOB
** (GMM_ISTATE_VERSION 1, "GMMi") that tests/test_passes.c must keep
** reading forever (DESIGN §3: "Old versions stay readable forever; keep one
** fixture per version in tests/fixtures/").
**
**   NEVER REGENERATE A COMMITTED FIXTURE. Its bytes are the contract: if the
**   current code cannot read them, the code is wrong, not the fixture. When
**   a format changes, bump its version, add a new fixture (stats-v2.bin,
**   ...) from a new generator run and a new test, and keep every old
**   fixture and its test unchanged.
**
** The program refuses to overwrite an existing file (fopen mode "wbx").
**
** It works through the SQL surface, as a user does: it opens ":memory:"
** with the system libsqlite3, loads ./gmm (or $GMM_EXTENSION) and runs
** gmm_init, gmm_start, gmm_estep and gmm_stats_info. Build and run once,
** from the repository root, after `make gmm.so`:
**   cc -std=c11 -O2 tests/make_pass_fixtures.c -lsqlite3 -o /tmp/make_pass_fixtures
**   /tmp/make_pass_fixtures tests/fixtures/stats-v1.bin tests/fixtures/istate-v1.bin
**
** It prints the values to hard-code in tests/test_passes.c (between
** PASS_FIXTURE_VALUES_BEGIN and PASS_FIXTURE_VALUES_END).
**
** The BLOBs, on the fixed rows below (15 rows: 13 usable, one with a NULL
** feature, one of weight 0; weights are dyadic, so every sum is exact):
**   istate-v1.bin: gmm_init with every option a state stores set away from
**     its default (k 2, tied, k-means++, max_iter 50, n_init 2, tol 1e-4,
**     reg_covar 1e-5, seed 7), weighted rows, and sample_size 8, smaller
**     than the 13 usable rows, so that the sample is a proper bottom-8.
**     d = 2 (x, y).
**   stats-v1.bin: gmm_estep, with weights, of the model
**     gmm_start(gmm_init('{"k":2,"weighted":true}', w, x, y, z)) over the
**     same rows in d = 3 (x, y, z): full covariances, so the scatters are
**     stored as lower triangles, the weighted flag is set and n_skipped
**     is 1.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* id, w, x, y, z; NULL_ROW has a NULL y, ZERO_ROW weight 0. */
enum { N_ROWS = 15, NULL_ROW = 7, ZERO_ROW = 11 };
static const double ROWS[N_ROWS][5] = {
    {1, 1.0, 1.0, 2.0, 0.5},   {2, 2.0, 1.5, 1.8, 0.25}, {3, 0.5, 0.8, 2.4, 0.75},
    {4, 1.5, 1.2, 2.2, 0.5},   {5, 1.0, 0.0, 1.7, 1.0}, {6, 2.0, 6.0, 7.5, 3.0},
    {7, 1.0, 6.4, 0.0, 3.25},  {8, 0.25, 5.8, 8.0, 2.75}, {9, 1.0, 6.9, 7.7, 3.5},
    {10, 2.0, 6.2, 6.8, 3.0},  {11, 0.0, 5.5, 7.3, 2.5}, {12, 1.5, 6.6, 8.2, 3.25},
    {13, 1.0, 1.1, 2.1, 0.625}, {14, 0.75, 5.9, 7.1, 2.875},
    {15, 1.0, 3.6, 4.9, 1.8}};

#define STATE_SPEC                                                                          \
  "'{\"k\":2,\"covariance_type\":\"tied\",\"init\":\"k-means++\",\"max_iter\":50,"          \
  "\"n_init\":2,\"tol\":1e-4,\"reg_covar\":1e-5,\"seed\":7,\"weighted\":true,"              \
  "\"sample_size\":8}'"
#define MODEL_SPEC "'{\"k\":2,\"weighted\":true}'"

static void die(sqlite3 *db, const char *what) {
  fprintf(stderr, "%s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "%s\n  in: %s\n", err ? err : "?", sql);
    exit(1);
  }
}

/* The single value of sql, with ?1 bound to blob when given: its bytes
** (malloc'd, NUL-terminated), their number in *n. */
static unsigned char *value(sqlite3 *db, const char *sql, const unsigned char *blob, int n_blob,
                            int *n) {
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) die(db, sql);
  if (blob) sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_TRANSIENT);
  if (sqlite3_step(stmt) != SQLITE_ROW) die(db, sql);
  int len = sqlite3_column_bytes(stmt, 0);
  const void *p = sqlite3_column_blob(stmt, 0);
  unsigned char *out = malloc((size_t)len + 1);
  if (!out || !p) die(db, "no value");
  memcpy(out, p, (size_t)len);
  out[len] = 0;
  *n = len;
  sqlite3_finalize(stmt);
  return out;
}

static void write_file(const char *path, const unsigned char *p, int n) {
  FILE *f = fopen(path, "wbx");
  if (!f) {
    fprintf(stderr, "%s: cannot create (it exists? fixtures are never regenerated)\n", path);
    exit(1);
  }
  if (fwrite(p, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
    fprintf(stderr, "%s: write failed\n", path);
    exit(1);
  }
}

/* Prints a C string literal of text. */
static void print_literal(const char *name, const char *text) {
  printf("#define %s \\\n  \"", name);
  int col = 3;
  for (const char *c = text; *c; c++) {
    if (col > 80 && (*c == ',' || *c == ':')) {
      printf("\" \\\n  \"");
      col = 3;
    }
    if (*c == '"' || *c == '\\') putchar('\\');
    putchar(*c);
    col++;
  }
  printf("\"\n");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s tests/fixtures/stats-v1.bin tests/fixtures/istate-v1.bin\n",
            argv[0]);
    return 2;
  }
  sqlite3 *db = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) die(db, "open");
  sqlite3_enable_load_extension(db, 1);
  const char *ext = getenv("GMM_EXTENSION");
  char *err = NULL;
  if (sqlite3_load_extension(db, ext && ext[0] ? ext : "./gmm", "sqlite3_gmm_init", &err) !=
      SQLITE_OK) {
    fprintf(stderr, "cannot load the extension: %s\n", err ? err : "?");
    return 1;
  }
  exec(db, "CREATE TABLE rows(id INTEGER PRIMARY KEY, w REAL, x REAL, y REAL, z REAL)");
  sqlite3_stmt *ins = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins, NULL) !=
      SQLITE_OK)
    die(db, "prepare");
  for (int i = 0; i < N_ROWS; i++) {
    sqlite3_bind_int(ins, 1, (int)ROWS[i][0]);
    for (int c = 1; c < 5; c++) sqlite3_bind_double(ins, c + 1, ROWS[i][c]);
    if ((int)ROWS[i][0] == NULL_ROW) sqlite3_bind_null(ins, 4);
    if (sqlite3_step(ins) != SQLITE_DONE) die(db, "insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);

  int n_state, n_model, n_stats, n;
  unsigned char *state =
      value(db, "SELECT gmm_init(" STATE_SPEC ", w, x, y) FROM rows", NULL, 0, &n_state);
  unsigned char *model = value(
      db, "SELECT gmm_start(gmm_init(" MODEL_SPEC ", w, x, y, z)) FROM rows", NULL, 0, &n_model);
  unsigned char *stats =
      value(db, "SELECT gmm_estep(?1, w, x, y, z) FROM rows", model, n_model, &n_stats);
  write_file(argv[1], stats, n_stats);
  write_file(argv[2], state, n_state);

  unsigned char *stats_info = value(db, "SELECT gmm_stats_info(?1)", stats, n_stats, &n);
  unsigned char *state_info = value(db, "SELECT gmm_stats_info(?1)", state, n_state, &n);
  unsigned char *stats2_info = value(
      db, "SELECT gmm_stats_info(gmm_merge(b)) FROM (SELECT ?1 AS b UNION ALL SELECT ?1)", stats,
      n_stats, &n);
  unsigned char *state2_info = value(
      db, "SELECT gmm_stats_info(gmm_merge(b)) FROM (SELECT ?1 AS b UNION ALL SELECT ?1)", state,
      n_state, &n);
  printf("/* PASS_FIXTURE_VALUES_BEGIN (printed by tests/make_pass_fixtures.c) */\n");
  printf("#define STATS_FIXTURE_LEN %d\n", n_stats);
  printf("#define ISTATE_FIXTURE_LEN %d\n", n_state);
  print_literal("STATS_FIXTURE_INFO", (const char *)stats_info);
  print_literal("STATS_FIXTURE_TWICE_INFO", (const char *)stats2_info);
  print_literal("ISTATE_FIXTURE_INFO", (const char *)state_info);
  print_literal("ISTATE_FIXTURE_TWICE_INFO", (const char *)state2_info);
  printf("/* PASS_FIXTURE_VALUES_END */\n");
  free(stats_info);
  free(state_info);
  free(stats2_info);
  free(state2_info);
  free(state);
  free(model);
  free(stats);
  if (sqlite3_close(db) != SQLITE_OK) die(db, "close");
  return 0;
}
