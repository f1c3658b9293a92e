/*
** fuzz_pass_sql.c -- libFuzzer target: EM in passes through SQL, on fuzzed
** BLOBs: gmm_merge, gmm_mstep, gmm_start, gmm_stats_info, and gmm_estep /
** gmm_init over a few fuzzed rows (with a fuzzed spec), on one in-memory
** connection with the extension compiled in (-DSQLITE_CORE).
**
** Input:
**   b0   bit 0, leave the BLOBs' checksums as they are (otherwise the last
**        8 bytes of each BLOB of at least 8 bytes are rewritten to the
**        FNV-1a 64 of the bytes before them, so that mutations reach the
**        decoders' other checks); bit 1, set the fingerprint (bytes 24-31)
**        of every statistics BLOB (magic "GMMs") that is not the model to
**        the model's stored checksum first;
**        bit 2, one of gmm_merge's values is NULL; bit 3, gmm_init's rows
**        carry a weight first; bits 4-7, gmm_init's spec when its length
**        byte is 0: the INTEGER k = b0 >> 4
**   b1   bits 0-2, the model of gmm_mstep and gmm_estep: 0-5 the fixed
**        models below (fitted through SQL when the connection opens), 6 the
**        first BLOB, 7 NULL; bits 3-5, rows of gmm_estep / gmm_init (0-7);
**        bits 6-7, features per row less one (1-4)
**   b2   bits 0-2, the number of BLOBs (at most MAX_BLOBS)
**   then per BLOB: u16 L (little-endian, cut to what is left), L bytes
**   then u8 S, gmm_init's spec: 0 the INTEGER of b0, 255 the first BLOB
**        (a wrong type), else S bytes of TEXT (cut to what is left)
**   then per row (weight, when the model or b0 bit 3 asks for one, and)
**        the features: encoded values (fuzz_common.h)
**
** Statements, each on the fixed-up BLOBs:
**   - SELECT gmm_merge(b) FROM (VALUES (?1), ..., (?n)) and the same in the
**     reverse order: the same outcome, and on success the same bytes, a
**     BLOB the core decodes and gmm_stats_info describes;
**   - SELECT gmm_stats_info(?1) per BLOB: succeeds exactly when the core
**     decodes the BLOB (as statistics, or as a state for "GMMi"), with
**     valid JSON of the core's k and d, and a finite mean log-likelihood
**     (FUZZ_KNOWN_STATS_INFO_INF);
**   - SELECT gmm_start(?1) per BLOB and on a merged state: succeeds exactly
**     when the core decodes the state and gmm_istate_start succeeds, with
**     the core's bytes (bounded work only); the model decodes, finite;
**   - SELECT gmm_mstep(?1, ?2) on the model and a BLOB (and on merged
**     statistics): the core's outcome and bytes; the model decodes, finite
**     (FUZZ_KNOWN_MSTEP_NAN);
**   - SELECT gmm_estep(?1, ...) FROM (VALUES ...) on the model and the rows:
**     NULL, an error, or statistics the core decodes (FUZZ_KNOWN_ESTEP_INF)
**     whose fingerprint is the model's, then gmm_mstep of them;
**   - SELECT gmm_init(?1, ...) FROM (VALUES ...) on the spec and the rows:
**     NULL, an error, or a state the core decodes, then gmm_start of it.
** Any SQL error (with a message) is fine; SQLITE_NOMEM only for a state
** BLOB whose header asks for more than ALLOC_LIMIT (FUZZ_KNOWN_ISTATE_ALLOC).
*/
#include "gmm.h"

#include "fuzz_sql.h"
#include "fuzz_pass_common.h"

#include <stdlib.h>

#define MAX_BLOBS    6
#define MAX_ROWS     7
#define MAX_FEATURES 4
#define N_FIXED      6
/* gmm_start's work bound: k * d * n_held * n_init. */
#define START_BUDGET 6000
/* The connection's heap limit. A state BLOB whose sample_size x (d + 2)
** doubles take more than ALLOC_LIMIT bytes is a big state: a statement on
** one may fail with SQLITE_NOMEM only under FUZZ_KNOWN_ISTATE_ALLOC (a
** decoder that allocated sample_size slots, fixed in bf8ad37). The core
** decodes here with allocations of at most CORE_LIMIT bytes each. */
#define HEAP_LIMIT  ((sqlite3_int64)256 << 20)
#define ALLOC_LIMIT ((double)(1 << 20))
#define CORE_LIMIT  ((size_t)64 << 20)

/* ---- values ---- */

typedef struct blob_value {
  uint8_t *p;
  size_t n;
} blob_value;

static int has_magic(const blob_value *b, const char *magic) {
  return b->n >= 4 && memcmp(b->p, magic, 4) == 0;
}

/* Bytes sample_size slots of a state BLOB would take. */
static double state_slots_bytes(const uint8_t *p, size_t n) {
  if (n < 96 || memcmp(p, GMM_ISTATE_MAGIC, 4) != 0) return 0.0;
  double d = fuzz_get_le32(p + 12), sample_size = fuzz_get_le32(p + 56);
  if (d > GMM_MAX_D || sample_size > GMM_MAX_SAMPLE_SIZE) return 0.0; /* rejected first */
  return (sample_size + 1.0) * (d + 2.0) * 8.0;
}

/* ---- statements ---- */

/* Whether the statement now running involves a state that may ask for
** more than ALLOC_LIMIT. */
static int big_state;

/* A statement's outcome: SQLITE_ROW, SQLITE_DONE or SQLITE_ERROR (with a
** message); SQLITE_NOMEM only for a big state. */
static int pass_step(sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_NOMEM) {
    /* FUZZ_KNOWN_ISTATE_ALLOC (fixed in bf8ad37): the decoder allocated
    ** sample_size + 1 slots of d + 2 doubles whatever the BLOB held. */
    FUZZ_CHECK_MSG(FUZZ_TOLERATE && big_state, "SQLITE_NOMEM in: %s", sqlite3_sql(stmt));
    return SQLITE_ERROR;
  }
  FUZZ_CHECK_MSG(rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_ERROR,
                 "sqlite3_step returned %d (%s) in: %s", rc, sqlite3_errmsg(fuzz_db()),
                 sqlite3_sql(stmt));
  if (rc == SQLITE_ERROR) {
    const char *msg = sqlite3_errmsg(fuzz_db());
    FUZZ_CHECK_MSG(msg && msg[0], "an error without a message in: %s", sqlite3_sql(stmt));
  }
  return rc;
}

static void bind_blob(sqlite3_stmt *stmt, int i, const blob_value *b) {
  if (!b)
    sqlite3_bind_null(stmt, i);
  else
    sqlite3_bind_blob(stmt, i, b->n ? (const void *)b->p : "", (int)b->n, SQLITE_TRANSIENT);
}

/* The first column of the one row of a one-BLOB statement, as a malloc'd
** copy: *out NULL for a NULL value. Returns the step's outcome. */
static int run_one(const char *sql, const blob_value *a, const blob_value *b, blob_value *out,
                   int *type) {
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  bind_blob(stmt, 1, a);
  if (sqlite3_bind_parameter_count(stmt) >= 2) bind_blob(stmt, 2, b);
  int rc = pass_step(stmt);
  out->p = NULL;
  out->n = 0;
  *type = SQLITE_NULL;
  if (rc == SQLITE_ROW) {
    *type = sqlite3_column_type(stmt, 0);
    if (*type == SQLITE_BLOB || *type == SQLITE_TEXT) {
      const void *p = *type == SQLITE_BLOB ? sqlite3_column_blob(stmt, 0)
                                           : (const void *)sqlite3_column_text(stmt, 0);
      out->n = (size_t)sqlite3_column_bytes(stmt, 0);
      out->p = malloc(out->n + 1);
      FUZZ_CHECK(out->p);
      if (out->n) memcpy(out->p, p, out->n);
      out->p[out->n] = 0;
    }
    FUZZ_CHECK(pass_step(stmt) == SQLITE_DONE);
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* ---- the core's view ---- */

/* A model BLOB that SQL returned: the core decodes it, and it is sound. */
static void check_model_blob(const blob_value *b, const char *what) {
  gmm_model *m = NULL;
  char err[256] = "";
  gmm_status rc = gmm_blob_read(b->p, b->n, &gmm_libc_allocator, &m, err, sizeof err);
  FUZZ_CHECK_MSG(rc == GMM_OK, "%s gave a model BLOB the core rejects: %s", what, err);
  check_model(m, what);
  gmm_model_free(m);
}

static gmm_model *core_model(const blob_value *b) {
  gmm_model *m = NULL;
  if (!b) return NULL;
  gmm_blob_read(b->p, b->n, &gmm_libc_allocator, &m, NULL, 0);
  return m;
}

static gmm_estats *core_estats(const blob_value *b) {
  gmm_estats *s = NULL;
  if (!b) return NULL;
  gmm_status rc = gmm_estats_read(b->p, b->n, &gmm_libc_allocator, &s, NULL, 0);
  FUZZ_CHECK(rc == GMM_OK || rc == GMM_ECORRUPT);
  return s;
}

/* malloc, refusing single allocations above CORE_LIMIT. */
static void *capped_malloc(void *ctx, size_t n) {
  (void)ctx;
  return n > CORE_LIMIT ? NULL : malloc(n);
}

static void capped_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static const gmm_allocator capped = {capped_malloc, capped_free, NULL};

/* The core's decoding of a state; *status its outcome (GMM_ENOMEM: one
** that needs more than CORE_LIMIT in one allocation). */
static gmm_istate *core_istate(const blob_value *b, gmm_status *status) {
  gmm_istate *s = NULL;
  if (!b) {
    *status = GMM_ECORRUPT;
    return NULL;
  }
  *status = gmm_istate_read(b->p, b->n, &capped, &s, NULL, 0);
  FUZZ_CHECK(*status == GMM_OK || *status == GMM_ECORRUPT || *status == GMM_ENOMEM);
  return s;
}

/* FUZZ_KNOWN_KMEANS_SCRATCH (see fuzz_pass.c): init 'kmeans' with k >= 12
** overflows gmm_init.c's scratch; a tolerant session does not start it. */
static int start_bounded(const gmm_istate *s) {
  if (FUZZ_TOLERATE && s->options.init == GMM_INIT_KMEANS && s->options.k >= 12) return 0;
  return (double)s->options.k * s->d * s->n_held * s->options.n_init <= START_BUDGET;
}

/* ---- the fixed models ---- */

static blob_value fixed[N_FIXED];

/* Rows: two groups, i in 0 .. 17 (as make_corpus.c's, in SQL). */
#define FIXED_ROWS                                                                          \
  "WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 17), "         \
  "t(i, w, x, y, z) AS (SELECT i, 1 + i % 3, (i % 2) * 4 + (i * 7 % 11) / 11.0, "          \
  "(i % 2) * 4 + (i * 5 % 13) / 13.0 + 0.01, (i % 2) * 4 + (i * 3 % 7) / 7.0 + 0.02 FROM r) "

static const char *const fixed_sql[N_FIXED] = {
    FIXED_ROWS "SELECT gmm_fit('{\"k\":2,\"max_iter\":50,\"tol\":0.1}', x, y) FROM t",
    FIXED_ROWS "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"diag\",\"weighted\":true,"
               "\"max_iter\":50,\"tol\":0.1}', w, x, y) FROM t",
    FIXED_ROWS "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"spherical\",\"max_iter\":50,"
               "\"tol\":0.1}', x) FROM t",
    FIXED_ROWS "SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"tied\",\"max_iter\":50,"
               "\"tol\":0.1}', x, y, z) FROM t",
    FIXED_ROWS "SELECT gmm_start(gmm_init('{\"k\":2,\"sample_size\":8,\"max_iter\":10}', x, y)) "
               "FROM t",
    /* Variances about 1e300: rows up to about 1e160 have a finite density. */
    FIXED_ROWS "SELECT gmm_fit('{\"k\":2,\"max_iter\":50,\"tol\":0.1}', x * 1e150, y * 1e150) "
               "FROM t",
};

static void make_fixed(void) {
  if (fixed[0].p) return;
  sqlite3 *db = fuzz_db();
  sqlite3_hard_heap_limit64(HEAP_LIMIT);
  (void)db;
  for (int i = 0; i < N_FIXED; i++) {
    int type;
    int rc = run_one(fixed_sql[i], NULL, NULL, &fixed[i], &type);
    FUZZ_CHECK_MSG(rc == SQLITE_ROW && type == SQLITE_BLOB, "fixed model %d: %s", i,
                   sqlite3_errmsg(fuzz_db()));
    check_model_blob(&fixed[i], "a fixed model");
    /* gmm_mstep must be able to step it. */
    gmm_model *m = core_model(&fixed[i]);
    FUZZ_CHECK_MSG(m->summary.n_iter < m->options.max_iter, "fixed model %d has done its "
                   "max_iter", i);
    gmm_model_free(m);
  }
}

/* ---- the statements ---- */

/* gmm_stats_info of one BLOB: succeeds exactly when the core decodes it. */
static void run_stats_info(const blob_value *b) {
  gmm_estats *stats = NULL;
  gmm_istate *state = NULL;
  gmm_status st_state = GMM_ECORRUPT;
  if (has_magic(b, GMM_ISTATE_MAGIC))
    state = core_istate(b, &st_state);
  else
    stats = core_estats(b);
  big_state = state_slots_bytes(b->p, b->n) > ALLOC_LIMIT;
  sqlite3_stmt *q = fuzz_prepare(
      "SELECT json_valid(i), json_extract(i, '$.kind'), json_extract(i, '$.k'), "
      "json_extract(i, '$.d'), json_extract(i, '$.mean_log_likelihood'), i "
      "FROM (SELECT gmm_stats_info(?1) AS i)");
  bind_blob(q, 1, b);
  int rc = pass_step(q);
  if (rc == SQLITE_ROW) {
    FUZZ_CHECK_MSG(stats || state || st_state == GMM_ENOMEM,
                   "gmm_stats_info succeeded on a BLOB the core rejects");
    FUZZ_CHECK(sqlite3_column_type(q, 5) == SQLITE_TEXT);
    FUZZ_CHECK_MSG(sqlite3_column_int(q, 0) == 1, "gmm_stats_info gave invalid JSON: %s",
                   (const char *)sqlite3_column_text(q, 5));
    if (stats || state) {
      int k = stats ? stats->k : state->options.k, d = stats ? stats->d : state->d;
      FUZZ_CHECK(sqlite3_column_int(q, 2) == k && sqlite3_column_int(q, 3) == d);
    }
    const char *kind = (const char *)sqlite3_column_text(q, 1);
    FUZZ_CHECK(kind && strcmp(kind, stats ? "statistics" : "initialisation") == 0);
    /* FUZZ_KNOWN_STATS_INFO_INF (fixed in 6848f02): log_likelihood /
    ** sum_weights overflowed (|ll| up to 1e300 over a weight down to the
    ** smallest double) and the JSON said null. */
    if (stats)
      FUZZ_CHECK_MSG(FUZZ_TOLERATE || sqlite3_column_type(q, 4) == SQLITE_FLOAT ||
                         sqlite3_column_type(q, 4) == SQLITE_INTEGER,
                     "gmm_stats_info: mean_log_likelihood is not a number: %s",
                     (const char *)sqlite3_column_text(q, 5));
    FUZZ_CHECK(pass_step(q) == SQLITE_DONE);
  } else {
    FUZZ_CHECK(rc == SQLITE_ERROR);
    FUZZ_CHECK_MSG(!stats && (!state || big_state), "gmm_stats_info failed on a BLOB the core "
                   "decodes: %s", sqlite3_errmsg(fuzz_db()));
  }
  sqlite3_finalize(q);
  big_state = 0;
  gmm_estats_free(stats);
  gmm_istate_free(state);
}

/* gmm_start of a BLOB: the core's outcome and bytes when the work is
** bounded (otherwise not run). */
static void run_start(const blob_value *b) {
  gmm_status st;
  gmm_istate *s = core_istate(b, &st);
  if (st == GMM_ENOMEM || (s && !start_bounded(s))) {
    gmm_istate_free(s);
    return;
  }
  gmm_model *want = NULL;
  gmm_status want_rc = GMM_ECORRUPT;
  if (s) want_rc = gmm_istate_start(s, 1, &gmm_libc_allocator, &want, NULL, 0);
  blob_value got;
  int type;
  int rc = run_one("SELECT gmm_start(?1)", b, NULL, &got, &type);
  if (rc == SQLITE_ROW) {
    FUZZ_CHECK_MSG(type == SQLITE_BLOB, "gmm_start gave type %d", type);
    FUZZ_CHECK_MSG(want_rc == GMM_OK, "gmm_start succeeded where the core fails (%d)",
                   (int)want_rc);
    check_model_blob(&got, "gmm_start");
    size_t n = gmm_blob_size(want);
    uint8_t *bytes = malloc(n);
    FUZZ_CHECK(bytes);
    gmm_blob_write(want, bytes);
    FUZZ_CHECK_MSG(n == got.n && memcmp(bytes, got.p, n) == 0,
                   "gmm_start's model differs from the core's on 1 thread");
    free(bytes);
  } else {
    FUZZ_CHECK_MSG(want_rc != GMM_OK, "gmm_start failed where the core succeeds: %s",
                   sqlite3_errmsg(fuzz_db()));
  }
  free(got.p);
  gmm_model_free(want);
  gmm_istate_free(s);
}

/* gmm_mstep(model, stats): the core's outcome and bytes. */
static void run_mstep(const blob_value *model, const blob_value *stats) {
  gmm_model *m = core_model(model);
  gmm_estats *s = core_estats(stats);
  gmm_model *want = NULL;
  gmm_status want_rc = GMM_ECORRUPT;
  if (m && s)
    want_rc = gmm_mstep(m, gmm_blob_stored_checksum(model->p, model->n), s, &gmm_libc_allocator,
                        &want, NULL, 0);
  blob_value got;
  int type;
  int rc = run_one("SELECT gmm_mstep(?1, ?2)", model, stats, &got, &type);
  if (rc == SQLITE_ROW && type == SQLITE_NULL) {
    FUZZ_CHECK_MSG(!model, "gmm_mstep gave NULL for a model that is not NULL");
  } else if (rc == SQLITE_ROW) {
    FUZZ_CHECK_MSG(type == SQLITE_BLOB, "gmm_mstep gave type %d", type);
    FUZZ_CHECK_MSG(want_rc == GMM_OK, "gmm_mstep succeeded where the core fails (%d)",
                   (int)want_rc);
    size_t n = gmm_blob_size(want);
    uint8_t *bytes = malloc(n);
    FUZZ_CHECK(bytes);
    gmm_blob_write(want, bytes);
    FUZZ_CHECK_MSG(n == got.n && memcmp(bytes, got.p, n) == 0,
                   "gmm_mstep's model differs from the core's");
    free(bytes);
    /* FUZZ_KNOWN_MSTEP_NAN (see fuzz_pass.c; an error since 6848f02). */
    if (!FUZZ_TOLERATE) check_model_blob(&got, "gmm_mstep");
  } else {
    FUZZ_CHECK_MSG(model != NULL, "gmm_mstep failed on a NULL model: %s",
                   sqlite3_errmsg(fuzz_db()));
    FUZZ_CHECK_MSG(want_rc != GMM_OK, "gmm_mstep failed where the core succeeds: %s",
                   sqlite3_errmsg(fuzz_db()));
  }
  free(got.p);
  gmm_model_free(want);
  gmm_estats_free(s);
  gmm_model_free(m);
}

/* A BLOB that gmm_merge (or gmm_estep, gmm_init) returned: the core
** decodes it and gmm_stats_info describes it. */
static void check_pass_blob(const blob_value *b, const char *what) {
  if (has_magic(b, GMM_STATS_MAGIC)) {
    gmm_estats *s = NULL;
    char err[256] = "";
    gmm_status rc = gmm_estats_read(b->p, b->n, &gmm_libc_allocator, &s, err, sizeof err);
    /* FUZZ_KNOWN_MERGE_UNDECODABLE (see fuzz_pass.c) and
    ** FUZZ_KNOWN_ESTEP_INF: sums that overflowed to +-Inf were written out
    ** (both fixed in 6848f02). */
    FUZZ_CHECK_MSG(FUZZ_TOLERATE || rc == GMM_OK, "%s gave statistics the core rejects: %s", what,
                   err);
    gmm_estats_free(s);
    if (rc != GMM_OK) return;
  } else {
    FUZZ_CHECK_MSG(has_magic(b, GMM_ISTATE_MAGIC), "%s gave a BLOB of neither kind", what);
    gmm_istate *s = NULL;
    char err[256] = "";
    gmm_status rc = gmm_istate_read(b->p, b->n, &capped, &s, err, sizeof err);
    if (rc == GMM_ENOMEM) return;
    FUZZ_CHECK_MSG(FUZZ_TOLERATE || rc == GMM_OK, "%s gave a state the core rejects: %s", what,
                   err);
    gmm_istate_free(s);
    if (rc != GMM_OK) return;
  }
  run_stats_info(b);
}

/* gmm_merge over the BLOBs in the order given, or reversed. */
static int run_merge(blob_value *const *items, int n, int reverse, blob_value *out) {
  /* SQLite names the column of VALUES column1. */
  char sql[256] = "";
  fuzz_appendf(sql, sizeof sql, "SELECT gmm_merge(column1) FROM (VALUES ");
  for (int i = 0; i < n; i++) fuzz_appendf(sql, sizeof sql, "%s(?%d)", i ? "," : "", i + 1);
  fuzz_appendf(sql, sizeof sql, ")");
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  big_state = 0;
  for (int i = 0; i < n; i++) {
    const blob_value *b = items[reverse ? n - 1 - i : i];
    if (b && state_slots_bytes(b->p, b->n) > ALLOC_LIMIT) big_state = 1;
    bind_blob(stmt, i + 1, b);
  }
  int rc = pass_step(stmt);
  out->p = NULL;
  out->n = 0;
  if (rc == SQLITE_ROW) {
    int type = sqlite3_column_type(stmt, 0);
    int any = 0;
    for (int i = 0; i < n; i++) any |= items[i] != NULL;
    FUZZ_CHECK_MSG(type == (any ? SQLITE_BLOB : SQLITE_NULL), "gmm_merge gave type %d", type);
    if (type == SQLITE_BLOB) {
      out->n = (size_t)sqlite3_column_bytes(stmt, 0);
      out->p = malloc(out->n ? out->n : 1);
      FUZZ_CHECK(out->p);
      memcpy(out->p, sqlite3_column_blob(stmt, 0), out->n);
    }
    FUZZ_CHECK(pass_step(stmt) == SQLITE_DONE);
  }
  sqlite3_finalize(stmt);
  big_state = 0;
  return rc;
}

/* The rows of gmm_estep / gmm_init: "(VALUES (?a, ?b), ...)" from
** placeholder `first` on, n_cols per row. */
static void rows_sql(char *sql, size_t cap, int n_rows, int n_cols, int first) {
  fuzz_appendf(sql, cap, " FROM (VALUES ");
  for (int r = 0; r < n_rows; r++) {
    fuzz_appendf(sql, cap, "%s(", r ? "," : "");
    for (int c = 0; c < n_cols; c++) fuzz_appendf(sql, cap, "%s?%d", c ? "," : "", first++);
    fuzz_appendf(sql, cap, ")");
  }
  fuzz_appendf(sql, cap, ")");
}

typedef struct rows {
  int n_rows, n_cols;
  fuzz_value v[MAX_ROWS][MAX_FEATURES + 1];
} rows;

static int run_aggregate(const char *fn, const blob_value *first_blob, const char *spec_text,
                         size_t spec_len, int spec_int, const rows *r, blob_value *out) {
  char sql[1024] = "";
  fuzz_appendf(sql, sizeof sql, "SELECT %s(?1", fn);
  if (r->n_rows == 0) {
    fuzz_appendf(sql, sizeof sql, ", 1.0) WHERE 0");
  } else {
    for (int c = 0; c < r->n_cols; c++) fuzz_appendf(sql, sizeof sql, ", column%d", c + 1);
    fuzz_appendf(sql, sizeof sql, ")");
    rows_sql(sql, sizeof sql, r->n_rows, r->n_cols, 2);
  }
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  if (spec_text)
    sqlite3_bind_text(stmt, 1, spec_len ? spec_text : "", (int)spec_len, SQLITE_TRANSIENT);
  else if (first_blob)
    bind_blob(stmt, 1, first_blob);
  else if (spec_int >= 0)
    sqlite3_bind_int(stmt, 1, spec_int);
  else
    sqlite3_bind_null(stmt, 1);
  if (r->n_rows > 0)
    for (int i = 0; i < r->n_rows; i++)
      for (int c = 0; c < r->n_cols; c++) fuzz_bind(stmt, 2 + i * r->n_cols + c, &r->v[i][c]);
  int rc = pass_step(stmt);
  out->p = NULL;
  out->n = 0;
  if (rc == SQLITE_ROW) {
    int type = sqlite3_column_type(stmt, 0);
    FUZZ_CHECK_MSG(type == SQLITE_BLOB || type == SQLITE_NULL, "%s gave type %d", fn, type);
    if (type == SQLITE_BLOB) {
      out->n = (size_t)sqlite3_column_bytes(stmt, 0);
      out->p = malloc(out->n ? out->n : 1);
      FUZZ_CHECK(out->p);
      memcpy(out->p, sqlite3_column_blob(stmt, 0), out->n);
    }
    FUZZ_CHECK(pass_step(stmt) == SQLITE_DONE);
  }
  sqlite3_finalize(stmt);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  make_fixed();
  fuzz_reader in = {data, size};
  uint8_t b0 = fuzz_u8(&in), b1 = fuzz_u8(&in), b2 = fuzz_u8(&in);

  int n_blobs = b2 & 7;
  if (n_blobs > MAX_BLOBS) n_blobs = MAX_BLOBS;
  blob_value blobs[MAX_BLOBS];
  for (int i = 0; i < n_blobs; i++) {
    size_t n = fuzz_u16(&in);
    if (n > in.n) n = in.n;
    blobs[i].n = n;
    blobs[i].p = malloc(n ? n : 1);
    FUZZ_CHECK(blobs[i].p);
    fuzz_bytes(&in, blobs[i].p, n);
  }
  size_t spec_len = fuzz_u8(&in);
  char spec[256];
  int spec_kind = spec_len == 0 ? 0 : spec_len == 255 ? 1 : 2;
  if (spec_kind == 2) {
    if (spec_len > in.n) spec_len = in.n;
    fuzz_bytes(&in, (uint8_t *)spec, spec_len);
  }

  /* The model of gmm_mstep and gmm_estep. */
  int model_choice = b1 & 7;
  const blob_value *model = model_choice < N_FIXED ? &fixed[model_choice]
                            : model_choice == 6 && n_blobs > 0 ? &blobs[0]
                                                               : NULL;
  /* gmm_mstep's statistics: the first BLOB that is not the model. */
  blob_value *stats = model_choice == 6 ? (n_blobs > 1 ? &blobs[1] : NULL)
                                        : (n_blobs > 0 ? &blobs[0] : NULL);

  /* Fix-ups: the fingerprints, then every checksum. */
  if ((b0 & 2) && model && model->n >= 8)
    for (int i = 0; i < n_blobs; i++)
      if (&blobs[i] != model && blobs[i].n >= 32 && has_magic(&blobs[i], GMM_STATS_MAGIC))
        fuzz_put_le64(blobs[i].p + 24, gmm_blob_stored_checksum(model->p, model->n));
  if (!(b0 & 1))
    for (int i = 0; i < n_blobs; i++) fuzz_fix_checksum(blobs[i].p, blobs[i].n);

  /* The rows. */
  gmm_model *core_m = core_model(model);
  int weighted = core_m ? core_m->summary.weighted : 0;
  rows r;
  memset(&r, 0, sizeof r);
  r.n_rows = (b1 >> 3) & 7;
  int n_features = 1 + (b1 >> 6);
  r.n_cols = n_features + (weighted || (b0 & 8) ? 1 : 0);
  for (int i = 0; i < r.n_rows; i++)
    for (int c = 0; c < r.n_cols; c++) r.v[i][c] = fuzz_read_value(&in);

  /* gmm_merge, both ways round. */
  if (n_blobs > 0) {
    blob_value *items[MAX_BLOBS];
    for (int i = 0; i < n_blobs; i++) items[i] = &blobs[i];
    if (b0 & 4) items[n_blobs - 1] = NULL;
    blob_value m1, m2;
    int rc1 = run_merge(items, n_blobs, 0, &m1);
    int rc2 = run_merge(items, n_blobs, 1, &m2);
    FUZZ_CHECK_MSG((rc1 == SQLITE_ROW) == (rc2 == SQLITE_ROW),
                   "gmm_merge succeeds in one order only");
    if (m1.p) {
      FUZZ_CHECK_MSG(m2.p && m1.n == m2.n && memcmp(m1.p, m2.p, m1.n) == 0,
                     "gmm_merge depends on the order of its rows");
      check_pass_blob(&m1, "gmm_merge");
      if (has_magic(&m1, GMM_ISTATE_MAGIC)) run_start(&m1);
      if (has_magic(&m1, GMM_STATS_MAGIC) && model) run_mstep(model, &m1);
    }
    free(m1.p);
    free(m2.p);
  }

  for (int i = 0; i < n_blobs; i++) {
    run_stats_info(&blobs[i]);
    if (!has_magic(&blobs[i], GMM_STATS_MAGIC)) run_start(&blobs[i]);
  }
  if (model || stats) run_mstep(model, stats);

  /* gmm_estep of the model over the rows, then gmm_mstep of the result. */
  {
    blob_value out;
    int rc = run_aggregate("gmm_estep", model, NULL, 0, -1, &r, &out);
    if (rc == SQLITE_ROW && out.p) {
      FUZZ_CHECK_MSG(model && core_m, "gmm_estep gave statistics for a model the core rejects");
      check_pass_blob(&out, "gmm_estep");
      FUZZ_CHECK_MSG(out.n >= 32 && fuzz_get_le64(out.p + 24) ==
                                        gmm_blob_stored_checksum(model->p, model->n),
                     "gmm_estep's fingerprint is not the model's");
      run_mstep(model, &out);
    }
    free(out.p);
  }

  /* gmm_init over the rows with the fuzzed spec, then gmm_start. */
  {
    blob_value out;
    int rc = spec_kind == 2 ? run_aggregate("gmm_init", NULL, spec, spec_len, -1, &r, &out)
             : spec_kind == 1 ? run_aggregate("gmm_init", n_blobs ? &blobs[0] : NULL, NULL, 0,
                                              -1, &r, &out)
                              : run_aggregate("gmm_init", NULL, NULL, 0, b0 >> 4, &r, &out);
    if (rc == SQLITE_ROW && out.p) {
      check_pass_blob(&out, "gmm_init");
      run_start(&out);
    }
    free(out.p);
  }

  gmm_model_free(core_m);
  for (int i = 0; i < n_blobs; i++) free(blobs[i].p);
  return 0;
}
