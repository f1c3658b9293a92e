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
** The version-1 fixtures were made through the SQL surface, as a user
** does: it opens ":memory:" with the system libsqlite3, loads ./gmm (or
** $GMM_EXTENSION) and runs gmm_init, gmm_start, gmm_estep and
** gmm_stats_info. The version-2 fixtures (--v2, below) are made with the
** core alone (ext/core/gmm.h), which fitted rows with missing values
** before SQL passed them on; so are the version-3 fixtures (--v3, below),
** of mclust's covariance models and init 'hc'. Build once, from the
** repository root, after `make gmm.so`:
**   cc -std=c11 -O2 -Iext/core tests/make_pass_fixtures.c ext/core/[a-z]*.c -lsqlite3 -lm \
**      -lpthread -o /tmp/make_pass_fixtures
** and run once per pair of fixtures:
**   /tmp/make_pass_fixtures tests/fixtures/stats-v1.bin tests/fixtures/istate-v1.bin
**   /tmp/make_pass_fixtures --v2 tests/fixtures/stats-v2.bin tests/fixtures/istate-v2.bin
**   /tmp/make_pass_fixtures --v3 tests/fixtures/stats-v3.bin tests/fixtures/istate-v3.bin
**
** It prints the values to hard-code in tests/test_passes.c (between
** PASS_FIXTURE_VALUES_BEGIN and PASS_FIXTURE_VALUES_END), with --v2 in
** tests/test_stats.c (between PASS_FIXTURE2_VALUES_BEGIN and _END), and
** with --v3 there too (between PASS_FIXTURE3_VALUES_BEGIN and _END).
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
**
** The version-2 BLOBs (--v2), which add the missing option (state) and the
** counts of missing values (statistics), on the same rows in d = 3 with
** missing values (NaN): row 3 misses x, row 7 y, row 12 y and z, and a
** 16th row misses every value (never used: n_skipped 1). Row 11 (weight 0)
** is left out, as SQL leaves it out.
**   istate-v2.bin: gmm_istate_add of the 14 other rows, weighted, with k 2,
**     diag, random_from_data, max_iter 40, n_init 3, tol 1e-5, reg_covar
**     1e-4, seed 13, missing 'marginalize' and sample_size 9, so that the
**     sample is a proper bottom-9 holding rows with missing values (the
**     program checks that it does).
**   stats-v2.bin: gmm_estep_add, unweighted, of all 16 rows under the
**     model gmm_fit gives on the 14 usable rows in canonical order (k 2,
**     full, missing 'marginalize'; its BLOB is version 3): n_rows 14,
**     n_skipped 1, n_incomplete 3, n_missing 4.
**
** The version-3 BLOBs (--v3; statistics "stats (8)", state "istate (7)" in
** ext/core), on the rows of --v2 (the same missing values, the same 16th
** row of missing values only, row 11 of weight 0 left out):
**   istate-v3.bin: gmm_istate_add of the 14 usable rows, weighted, with
**     k 2, covariance type VVE, init 'hc', max_iter 30, n_init 2, tol
**     1e-4, reg_covar 1e-5, seed 21, missing 'marginalize' and
**     sample_size 9 (a proper bottom-9; the program checks that it holds a
**     row with a missing value, so that the missing word and the NaNs of
**     version 2 are there too).
**   stats-v3.bin: gmm_estep_add, weighted, of all 16 rows but row 11
**     under the model gmm_fit gives on the 14 usable rows and their
**     weights in canonical order (k 2, covariance type VEV, init kmeans,
**     seed 3, missing 'marginalize'): n_rows 14, n_skipped 1,
**     n_incomplete 3, n_missing 4; its sums are those of the full shape.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gmm.h"

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

/* ---- --v2: the core alone ---- */

static void fail(const char *what, const char *err) {
  fprintf(stderr, "%s: %s\n", what, err);
  exit(1);
}

/* The rows of --v2: x, y, z of ROWS with the missing values above, then
** the row of missing values only; weights in w. */
enum { N_ROWS2 = N_ROWS + 1 };
static void rows_v2(double *x, double *w) {
  for (int i = 0; i < N_ROWS2; i++) {
    for (int c = 0; c < 3; c++) x[i * 3 + c] = i < N_ROWS ? ROWS[i][2 + c] : NAN;
    w[i] = i < N_ROWS ? ROWS[i][1] : 1.0;
  }
  x[2 * 3 + 0] = NAN;            /* row 3: x */
  x[(NULL_ROW - 1) * 3 + 1] = NAN; /* row 7: y */
  x[11 * 3 + 1] = NAN;           /* row 12: y, z */
  x[11 * 3 + 2] = NAN;
}

static int is_used(const double *x, double w) {
  return w > 0.0 && !(isnan(x[0]) && isnan(x[1]) && isnan(x[2]));
}

static void print_hex64(const char *name, uint64_t v) {
  printf("#define %s UINT64_C(0x%016llx)\n", name, (unsigned long long)v);
}

static int main_v2(const char *stats_path, const char *state_path) {
  double x[N_ROWS2 * 3], w[N_ROWS2];
  rows_v2(x, w);
  char err[512] = "";

  /* The state. */
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.covariance_type = GMM_COV_DIAG;
  opt.init = GMM_INIT_RANDOM_FROM_DATA;
  opt.max_iter = 40;
  opt.n_init = 3;
  opt.tol = 1e-5;
  opt.reg_covar = 1e-4;
  opt.seed = 13;
  opt.missing = GMM_MISSING_MARGINALIZE;
  gmm_istate *state = NULL;
  if (gmm_istate_new(&opt, 3, 1, 9, &gmm_libc_allocator, &state) != GMM_OK)
    fail("gmm_istate_new", "failed");
  for (int i = 0; i < N_ROWS2; i++) {
    if (!is_used(x + 3 * i, w[i])) {
      if (w[i] > 0.0) state->n_skipped++; /* as SQL counts a row of NULLs */
      continue;
    }
    if (gmm_istate_add(state, x + 3 * i, w[i]) != GMM_OK) fail("gmm_istate_add", "failed");
  }
  size_t n_state = gmm_istate_size(state);
  unsigned char *state_bytes = malloc(n_state);
  if (!state_bytes) fail("malloc", "out of memory");
  gmm_istate_write(state, state_bytes);
  if (state_bytes[4] != 2) fail("the state", "the sample holds no missing value: not version 2");

  /* The model and its statistics. */
  double used[N_ROWS2 * 3];
  size_t n_used = 0;
  for (int i = 0; i < N_ROWS2; i++)
    if (is_used(x + 3 * i, w[i])) memcpy(used + 3 * n_used++, x + 3 * i, 3 * sizeof(double));
  gmm_canonical_order(used, NULL, n_used, 3, 1);
  gmm_options mopt;
  gmm_options_default(&mopt, 2);
  mopt.threads = 1;
  gmm_data data = {used, n_used, 3, NULL, 1, NULL};
  gmm_model *m = NULL;
  if (gmm_fit(&data, &mopt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    fail("gmm_fit", err);
  size_t n_model = gmm_blob_size(m);
  unsigned char *model_bytes = malloc(n_model);
  if (!model_bytes) fail("malloc", "out of memory");
  gmm_blob_write(m, model_bytes);
  uint64_t fingerprint = gmm_blob_stored_checksum(model_bytes, n_model);
  gmm_estats *st = NULL;
  gmm_estep_acc *acc = NULL;
  if (gmm_estats_new(m, fingerprint, 0, &gmm_libc_allocator, &st) != GMM_OK ||
      gmm_estep_acc_new(m, 1, &gmm_libc_allocator, &acc) != GMM_OK)
    fail("gmm_estats_new", "failed");
  /* Every row but the one of weight 0 (which SQL leaves out). */
  double batch[N_ROWS2 * 3];
  size_t n_batch = 0;
  for (int i = 0; i < N_ROWS2; i++)
    if (w[i] > 0.0) memcpy(batch + 3 * n_batch++, x + 3 * i, 3 * sizeof(double));
  gmm_estep_add(acc, batch, NULL, n_batch, st);
  if (gmm_estats_check(st, err, sizeof err) != GMM_OK) fail("gmm_estats_check", err);
  if (st->n_incomplete != 3 || st->n_missing != 4 || st->n_skipped != 1 || st->n_rows != 14)
    fail("the statistics", "unexpected counts");
  size_t n_stats = gmm_estats_size(st);
  unsigned char *stats_bytes = malloc(n_stats);
  if (!stats_bytes) fail("malloc", "out of memory");
  gmm_estats_write(st, stats_bytes);
  if (stats_bytes[4] != 2) fail("the statistics", "not version 2");

  /* Both must decode before they are kept. */
  gmm_estats *st_back = NULL;
  gmm_istate *state_back = NULL;
  if (gmm_estats_read(stats_bytes, n_stats, &gmm_libc_allocator, &st_back, err, sizeof err) !=
      GMM_OK)
    fail("the statistics do not decode", err);
  if (gmm_istate_read(state_bytes, n_state, &gmm_libc_allocator, &state_back, err,
                      sizeof err) != GMM_OK)
    fail("the state does not decode", err);
  write_file(stats_path, stats_bytes, (int)n_stats);
  write_file(state_path, state_bytes, (int)n_state);

  printf("/* PASS_FIXTURE2_VALUES_BEGIN (printed by tests/make_pass_fixtures.c --v2) */\n");
  printf("#define STATS2_FIXTURE_LEN %zu\n", n_stats);
  print_hex64("STATS2_FIXTURE_FINGERPRINT", fingerprint);
  printf("#define STATS2_FIXTURE_N_ROWS %lld\n", (long long)st->n_rows);
  printf("#define STATS2_FIXTURE_N_SKIPPED %lld\n", (long long)st->n_skipped);
  printf("#define STATS2_FIXTURE_N_INCOMPLETE %lld\n", (long long)st->n_incomplete);
  printf("#define STATS2_FIXTURE_N_MISSING %lld\n", (long long)st->n_missing);
  printf("static const double STATS2_FIXTURE_LOG_LIKELIHOOD = %.17g;\n", st->log_likelihood);
  printf("static const double STATS2_FIXTURE_NK[2] = {%.17g, %.17g};\n", st->sums.nk[0],
         st->sums.nk[1]);
  printf("#define ISTATE2_FIXTURE_LEN %zu\n", n_state);
  printf("#define ISTATE2_FIXTURE_N_ROWS %lld\n", (long long)state->n_rows);
  printf("#define ISTATE2_FIXTURE_N_SKIPPED %lld\n", (long long)state->n_skipped);
  printf("#define ISTATE2_FIXTURE_N_HELD %d\n", state->n_held);
  printf("static const double ISTATE2_FIXTURE_SUM_WEIGHTS = %.17g;\n", state->sum_weights);
  int n_incomplete = 0;
  for (int i = 0; i < state->n_held; i++)
    for (int c = 0; c < 3; c++)
      if (isnan(state->x[3 * i + c])) {
        n_incomplete++;
        break;
      }
  printf("#define ISTATE2_FIXTURE_N_HELD_INCOMPLETE %d\n", n_incomplete);
  printf("/* PASS_FIXTURE2_VALUES_END */\n");
  gmm_estats_free(st_back);
  gmm_istate_free(state_back);
  free(stats_bytes);
  free(model_bytes);
  free(state_bytes);
  gmm_estats_free(st);
  gmm_estep_acc_free(acc);
  gmm_model_free(m);
  gmm_istate_free(state);
  return 0;
}

/* ---- --v3: mclust's covariance models and init 'hc', the core alone ---- */

static int main_v3(const char *stats_path, const char *state_path) {
  double x[N_ROWS2 * 3], w[N_ROWS2];
  rows_v2(x, w);
  char err[512] = "";

  /* The state: VVE and init 'hc'. */
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.covariance_type = GMM_COV_VVE;
  opt.init = GMM_INIT_HC;
  opt.max_iter = 30;
  opt.n_init = 2;
  opt.tol = 1e-4;
  opt.reg_covar = 1e-5;
  opt.seed = 21;
  opt.missing = GMM_MISSING_MARGINALIZE;
  gmm_istate *state = NULL;
  if (gmm_istate_new(&opt, 3, 1, 9, &gmm_libc_allocator, &state) != GMM_OK)
    fail("gmm_istate_new", "failed");
  for (int i = 0; i < N_ROWS2; i++) {
    if (!is_used(x + 3 * i, w[i])) {
      if (w[i] > 0.0) state->n_skipped++; /* as SQL counts a row of NULLs */
      continue;
    }
    if (gmm_istate_add(state, x + 3 * i, w[i]) != GMM_OK) fail("gmm_istate_add", "failed");
  }
  size_t n_state = gmm_istate_size(state);
  unsigned char *state_bytes = malloc(n_state);
  if (!state_bytes) fail("malloc", "out of memory");
  gmm_istate_write(state, state_bytes);
  if (state_bytes[4] != 3) fail("the state", "not version 3");
  int n_held_incomplete = 0;
  for (int i = 0; i < state->n_held; i++)
    for (int c = 0; c < 3; c++)
      if (isnan(state->x[3 * i + c])) {
        n_held_incomplete++;
        break;
      }
  if (n_held_incomplete == 0) fail("the state", "the sample holds no missing value");
  if (state->n_held >= state->n_rows) fail("the state", "the sample is not a proper one");

  /* The model (VEV) and its statistics, weighted. */
  double used[N_ROWS2 * 3], used_w[N_ROWS2];
  size_t n_used = 0;
  for (int i = 0; i < N_ROWS2; i++)
    if (is_used(x + 3 * i, w[i])) {
      memcpy(used + 3 * n_used, x + 3 * i, 3 * sizeof(double));
      used_w[n_used++] = w[i];
    }
  gmm_canonical_order(used, used_w, n_used, 3, 1);
  gmm_options mopt;
  gmm_options_default(&mopt, 2);
  mopt.covariance_type = GMM_COV_VEV;
  mopt.seed = 3;
  mopt.threads = 1;
  gmm_data data = {used, n_used, 3, used_w, 1, NULL};
  gmm_model *m = NULL;
  if (gmm_fit(&data, &mopt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err) != GMM_OK)
    fail("gmm_fit", err);
  size_t n_model = gmm_blob_size(m);
  unsigned char *model_bytes = malloc(n_model);
  if (!model_bytes) fail("malloc", "out of memory");
  gmm_blob_write(m, model_bytes);
  uint64_t fingerprint = gmm_blob_stored_checksum(model_bytes, n_model);
  gmm_estats *st = NULL;
  gmm_estep_acc *acc = NULL;
  if (gmm_estats_new(m, fingerprint, 1, &gmm_libc_allocator, &st) != GMM_OK ||
      gmm_estep_acc_new(m, 1, &gmm_libc_allocator, &acc) != GMM_OK)
    fail("gmm_estats_new", "failed");
  /* Every row but the one of weight 0 (which SQL leaves out). */
  double batch[N_ROWS2 * 3], batch_w[N_ROWS2];
  size_t n_batch = 0;
  for (int i = 0; i < N_ROWS2; i++)
    if (w[i] > 0.0) {
      memcpy(batch + 3 * n_batch, x + 3 * i, 3 * sizeof(double));
      batch_w[n_batch++] = w[i];
    }
  gmm_estep_add(acc, batch, batch_w, n_batch, st);
  if (gmm_estats_check(st, err, sizeof err) != GMM_OK) fail("gmm_estats_check", err);
  if (st->n_incomplete != 3 || st->n_missing != 4 || st->n_skipped != 1 || st->n_rows != 14 ||
      st->covariance_type != GMM_COV_VEV || st->sums.diag_only)
    fail("the statistics", "unexpected counts or shape");
  size_t n_stats = gmm_estats_size(st);
  unsigned char *stats_bytes = malloc(n_stats);
  if (!stats_bytes) fail("malloc", "out of memory");
  gmm_estats_write(st, stats_bytes);
  if (stats_bytes[4] != 3) fail("the statistics", "not version 3");

  /* Both must decode, and re-encode to themselves, before they are kept. */
  gmm_estats *st_back = NULL;
  gmm_istate *state_back = NULL;
  if (gmm_estats_read(stats_bytes, n_stats, &gmm_libc_allocator, &st_back, err, sizeof err) !=
      GMM_OK)
    fail("the statistics do not decode", err);
  if (gmm_istate_read(state_bytes, n_state, &gmm_libc_allocator, &state_back, err,
                      sizeof err) != GMM_OK)
    fail("the state does not decode", err);
  unsigned char *again = malloc(n_stats > n_state ? n_stats : n_state);
  if (!again) fail("malloc", "out of memory");
  if (gmm_estats_size(st_back) != n_stats) fail("the statistics", "re-encode to another length");
  gmm_estats_write(st_back, again);
  if (memcmp(again, stats_bytes, n_stats) != 0) fail("the statistics", "re-encode to other bytes");
  if (gmm_istate_size(state_back) != n_state) fail("the state", "re-encodes to another length");
  gmm_istate_write(state_back, again);
  if (memcmp(again, state_bytes, n_state) != 0) fail("the state", "re-encodes to other bytes");
  free(again);
  write_file(stats_path, stats_bytes, (int)n_stats);
  write_file(state_path, state_bytes, (int)n_state);

  printf("/* PASS_FIXTURE3_VALUES_BEGIN (printed by tests/make_pass_fixtures.c --v3) */\n");
  printf("#define STATS3_FIXTURE_LEN %zu\n", n_stats);
  print_hex64("STATS3_FIXTURE_FINGERPRINT", fingerprint);
  printf("#define STATS3_FIXTURE_N_ROWS %lld\n", (long long)st->n_rows);
  printf("#define STATS3_FIXTURE_N_SKIPPED %lld\n", (long long)st->n_skipped);
  printf("#define STATS3_FIXTURE_N_INCOMPLETE %lld\n", (long long)st->n_incomplete);
  printf("#define STATS3_FIXTURE_N_MISSING %lld\n", (long long)st->n_missing);
  printf("static const double STATS3_FIXTURE_SUM_WEIGHTS = %.17g;\n", st->sum_weights);
  printf("static const double STATS3_FIXTURE_LOG_LIKELIHOOD = %.17g;\n", st->log_likelihood);
  printf("static const double STATS3_FIXTURE_NK[2] = {%.17g, %.17g};\n", st->sums.nk[0],
         st->sums.nk[1]);
  printf("#define ISTATE3_FIXTURE_LEN %zu\n", n_state);
  printf("#define ISTATE3_FIXTURE_N_ROWS %lld\n", (long long)state->n_rows);
  printf("#define ISTATE3_FIXTURE_N_SKIPPED %lld\n", (long long)state->n_skipped);
  printf("#define ISTATE3_FIXTURE_N_HELD %d\n", state->n_held);
  printf("static const double ISTATE3_FIXTURE_SUM_WEIGHTS = %.17g;\n", state->sum_weights);
  printf("#define ISTATE3_FIXTURE_N_HELD_INCOMPLETE %d\n", n_held_incomplete);
  print_hex64("ISTATE3_FIXTURE_FIRST_KEY", state->keys[0]);
  printf("/* PASS_FIXTURE3_VALUES_END */\n");
  gmm_estats_free(st_back);
  gmm_istate_free(state_back);
  free(stats_bytes);
  free(model_bytes);
  free(state_bytes);
  gmm_estats_free(st);
  gmm_estep_acc_free(acc);
  gmm_model_free(m);
  gmm_istate_free(state);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--v2") == 0) return main_v2(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "--v3") == 0) return main_v3(argv[2], argv[3]);
  if (argc != 3) {
    fprintf(stderr,
            "usage: %s tests/fixtures/stats-v1.bin tests/fixtures/istate-v1.bin\n"
            "       %s --v2 tests/fixtures/stats-v2.bin tests/fixtures/istate-v2.bin\n"
            "       %s --v3 tests/fixtures/stats-v3.bin tests/fixtures/istate-v3.bin\n",
            argv[0], argv[0], argv[0]);
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
