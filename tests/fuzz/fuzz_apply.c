/*
** fuzz_apply.c -- libFuzzer target: the functions that read a model BLOB,
** through SQL: gmm_predict, gmm_predict_proba, gmm_score, gmm_info,
** gmm_bic, gmm_aic, gmm_components and gmm_sample, on one in-memory
** connection with the extension compiled in.
**
** Input:
**   b0   flags: bit 0, leave the BLOB's checksum as it is (otherwise its
**        last 8 bytes are rewritten to the right checksum, so that
**        mutations reach the decoder's other checks); bits 1-2, how the
**        model is passed: 0 a bound BLOB, 1 a BLOB from a subquery / join
**        column (not constant: the connection's cache), 2 another type
**        (b1 bits 6-7: NULL, TEXT, INTEGER, REAL), 3 a bound BLOB on two
**        rows (auxdata); bit 3, the number of features is b1 bits 0-3
**        rather than the model's d; bit 4, gmm_sample with "sample < m
**        ORDER BY sample" (m = b1 bits 4-5; 3 means the REAL 1.5); bits 5-7,
**        n of gmm_sample (0 .. 7)
**   b1   see b0
**   u16  L, the BLOB's length (little-endian; cut to what is left)
**   L    the model BLOB
**   then one encoded value (fuzz_common.h) per feature, then a byte whose
**   bits 0-1 choose gmm_sample's n as given, NULL, -1 or TEXT, and bits
**   2-3 its seed as the byte's top 4 bits, absent, -1 or 2^62.
**
** The harness decodes the same bytes with the core (gmm_blob_read) and
** checks SQL's answers against it (FUZZ_CHECK traps otherwise):
**   - the apply functions fail exactly when they must (not a BLOB, a BLOB
**     the core rejects, a feature count other than d, a TEXT / BLOB / Inf
**     feature), give NULL exactly when they must (a NULL model or feature)
**     and otherwise the core's answer: the same label (in 0 .. k-1), the
**     same score (NULL where the core gives NaN), k posteriors in [0, 1]
**     summing to 1 as valid JSON;
**   - gmm_info is valid JSON with the model's k and d; gmm_bic and gmm_aic
**     are the core's numbers;
**   - gmm_components has k rows with the core's weights and valid JSON;
**     gmm_sample has the rows asked for, the components the core's
**     sampler draws with that seed, and valid JSON arrays of d numbers;
**   - no error code other than SQLITE_ERROR, every error with a message.
*/
#include "gmm.h"

#include "fuzz_sql.h"

#include <stdlib.h>

#define MAX_FEATURES 9

typedef enum { MODEL_BLOB, MODEL_SUBQUERY, MODEL_OTHER, MODEL_BLOB_TWICE } model_mode;

typedef struct apply_case {
  model_mode mode;
  int other_type;       /* MODEL_OTHER: 0 NULL, 1 TEXT, 2 INTEGER, 3 REAL */
  const uint8_t *blob;  /* the model bytes, checksum fixed unless raw */
  size_t n_blob;
  gmm_model *model;     /* the core's decoding, or NULL when it fails */
  int n_features;
  fuzz_value features[MAX_FEATURES];
  double x[MAX_FEATURES];
  int any_bad, any_null, all_null; /* all_null: every feature NULL */
} apply_case;

static int model_is_blob(const apply_case *c) {
  return c->mode != MODEL_OTHER;
}

static int model_is_null(const apply_case *c) {
  return c->mode == MODEL_OTHER && c->other_type == 0;
}

static void bind_model(sqlite3_stmt *stmt, int i, const apply_case *c) {
  if (model_is_blob(c)) {
    sqlite3_bind_blob(stmt, i, c->n_blob ? (const void *)c->blob : "", (int)c->n_blob,
                      SQLITE_TRANSIENT);
    return;
  }
  switch (c->other_type) {
    case 0: sqlite3_bind_null(stmt, i); break;
    case 1: sqlite3_bind_text(stmt, i, (const char *)c->blob, (int)c->n_blob, SQLITE_TRANSIENT); break;
    case 2: sqlite3_bind_int64(stmt, i, (sqlite3_int64)c->n_blob); break;
    default: sqlite3_bind_double(stmt, i, 0.5); break;
  }
}

/* ---- the per-row functions ---- */

/* EXPECT_ANY: a single TEXT or BLOB feature is a vector (ext (5)) whose
** bytes the harness does not model: an error or a sane value. */
typedef enum { EXPECT_ERROR, EXPECT_NULL, EXPECT_VALUE, EXPECT_ANY } expectation;

static int one_vector(const apply_case *c) {
  return c->n_features == 1 &&
         (c->features[0].kind == FUZZ_V_TEXT || c->features[0].kind == FUZZ_V_BLOB);
}

static expectation expect_apply(const apply_case *c) {
  if (c->n_features < 1) return EXPECT_ERROR;
  if (c->mode == MODEL_OTHER && !model_is_null(c)) return EXPECT_ERROR;
  if (model_is_blob(c) && !c->model) return EXPECT_ERROR;
  /* One argument: NULL gives NULL whatever the model's d; TEXT or BLOB is a
  ** vector (not read without a model). */
  if (c->n_features == 1 && c->any_null) return EXPECT_NULL;
  if (one_vector(c)) return model_is_null(c) ? EXPECT_NULL : EXPECT_ANY;
  if (model_is_blob(c) && (!c->model || c->model->d != c->n_features)) return EXPECT_ERROR;
  if (c->mode == MODEL_OTHER && !model_is_null(c)) return EXPECT_ERROR;
  if (c->any_bad) return EXPECT_ERROR;
  /* Some features NULL: the observed ones are used; all NULL gives NULL. */
  if (model_is_null(c) || c->all_null) return EXPECT_NULL;
  return EXPECT_VALUE;
}

/* The SQL that calls fn(model, features...) once or twice. */
static void apply_sql(char *sql, size_t cap, const char *fn, const apply_case *c) {
  sql[0] = 0;
  if (c->mode == MODEL_SUBQUERY)
    fuzz_appendf(sql, cap, "WITH t(m) AS MATERIALIZED (SELECT ?1 UNION ALL SELECT ?1) ");
  fuzz_appendf(sql, cap, "SELECT %s(%s", fn, c->mode == MODEL_SUBQUERY ? "m" : "?1");
  for (int j = 0; j < c->n_features; j++) fuzz_appendf(sql, cap, ", ?%d", j + 2);
  fuzz_appendf(sql, cap, ")");
  if (c->mode == MODEL_SUBQUERY)
    fuzz_appendf(sql, cap, " FROM t");
  else if (c->mode == MODEL_BLOB_TWICE)
    fuzz_appendf(sql, cap, " FROM (VALUES (1), (2))");
}

static void check_proba_json(const apply_case *c, const char *text, const double *post) {
  sqlite3_stmt *q = fuzz_prepare("SELECT json_valid(?1), json_array_length(?1)");
  sqlite3_bind_text(q, 1, text, -1, SQLITE_TRANSIENT);
  FUZZ_CHECK(sqlite3_step(q) == SQLITE_ROW);
  FUZZ_CHECK_MSG(sqlite3_column_int(q, 0) == 1, "gmm_predict_proba gave invalid JSON: %s", text);
  FUZZ_CHECK_MSG(sqlite3_column_int(q, 1) == c->model->k, "gmm_predict_proba: %s", text);
  sqlite3_finalize(q);
  q = fuzz_prepare("SELECT key, value FROM json_each(?1)");
  sqlite3_bind_text(q, 1, text, -1, SQLITE_TRANSIENT);
  double sum = 0.0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    int j = sqlite3_column_int(q, 0);
    double p = sqlite3_column_double(q, 1);
    FUZZ_CHECK_MSG(p >= 0.0 && p <= 1.0, "posterior %d is %.17g", j, p);
    FUZZ_CHECK_MSG(fabs(p - post[j]) <= 1e-12, "posterior %d: SQL %.17g, core %.17g", j, p,
                   post[j]);
    sum += p;
  }
  /* FUZZ_KNOWN_POSTERIOR_SUM (see fuzz_blob.c). */
  FUZZ_CHECK_MSG(FUZZ_TOLERATE || fabs(sum - 1.0) <= 1e-9 * c->model->k,
                 "posteriors sum to %.17g: %s", sum, text);
  sqlite3_finalize(q);
}

/* What the core says about the row: label, score, posteriors. */
typedef struct core_answer {
  int label;
  double score;
  double *post;
} core_answer;

static void run_apply(const char *fn, const apply_case *c, const core_answer *want) {
  char sql[512];
  apply_sql(sql, sizeof sql, fn, c);
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  bind_model(stmt, 1, c);
  for (int j = 0; j < c->n_features; j++) fuzz_bind(stmt, j + 2, &c->features[j]);
  expectation e = expect_apply(c);
  int rows = 0, rc;
  while ((rc = fuzz_step(stmt)) == SQLITE_ROW) {
    rows++;
    int type = sqlite3_column_type(stmt, 0);
    FUZZ_CHECK_MSG(e != EXPECT_ERROR, "%s succeeded (type %d) where it must fail: %s", fn, type,
                   sql);
    if (e == EXPECT_ANY) {
      /* A vector read by the extension: only the value's sanity is known. */
      if (strcmp(fn, "gmm_predict") == 0)
        FUZZ_CHECK(type == SQLITE_INTEGER && sqlite3_column_int(stmt, 0) >= 0 &&
                   sqlite3_column_int(stmt, 0) < c->model->k);
      else if (strcmp(fn, "gmm_score") == 0)
        FUZZ_CHECK(type == SQLITE_FLOAT || type == SQLITE_NULL);
      else
        FUZZ_CHECK(type == SQLITE_TEXT);
      continue;
    }
    if (e == EXPECT_NULL) {
      FUZZ_CHECK_MSG(type == SQLITE_NULL, "%s: expected NULL, got type %d", fn, type);
      continue;
    }
    if (strcmp(fn, "gmm_predict") == 0) {
      FUZZ_CHECK_MSG(type == SQLITE_INTEGER, "gmm_predict gave type %d", type);
      int label = sqlite3_column_int(stmt, 0);
      FUZZ_CHECK_MSG(label >= 0 && label < c->model->k, "gmm_predict gave %d, k = %d", label,
                     c->model->k);
      FUZZ_CHECK_MSG(label == want->label, "gmm_predict gave %d, the core %d", label, want->label);
    } else if (strcmp(fn, "gmm_score") == 0) {
      if (isnan(want->score)) {
        FUZZ_CHECK(type == SQLITE_NULL);
      } else {
        FUZZ_CHECK_MSG(type == SQLITE_FLOAT, "gmm_score gave type %d", type);
        double s = sqlite3_column_double(stmt, 0);
        FUZZ_CHECK_MSG(fuzz_double_bits(s) == fuzz_double_bits(want->score),
                       "gmm_score gave %.17g, the core %.17g", s, want->score);
      }
    } else {
      FUZZ_CHECK_MSG(type == SQLITE_TEXT, "gmm_predict_proba gave type %d", type);
      check_proba_json(c, (const char *)sqlite3_column_text(stmt, 0), want->post);
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    FUZZ_CHECK_MSG(e == EXPECT_ERROR || e == EXPECT_ANY, "%s failed where it must not: %s\n  in: %s", fn,
                   sqlite3_errmsg(fuzz_db()), sql);
  else
    FUZZ_CHECK(rows == (c->mode == MODEL_SUBQUERY || c->mode == MODEL_BLOB_TWICE ? 2 : 1));
  sqlite3_finalize(stmt);
}

/* ---- the one-argument functions ---- */

static expectation expect_inspect(const apply_case *c) {
  if (model_is_null(c)) return EXPECT_NULL;
  if (!model_is_blob(c) || !c->model) return EXPECT_ERROR;
  return EXPECT_VALUE;
}

static void run_inspect(const apply_case *c) {
  sqlite3_stmt *stmt = fuzz_prepare(
      c->mode == MODEL_SUBQUERY
          ? "WITH t(m) AS MATERIALIZED (SELECT ?1) "
            "SELECT json_valid(i), CASE WHEN json_valid(i) THEN json_extract(i, '$.k') END, "
            "CASE WHEN json_valid(i) THEN json_extract(i, '$.d') END, i, "
            "gmm_bic(m), gmm_aic(m) FROM (SELECT gmm_info(m) AS i, m FROM t)"
          : "SELECT json_valid(i), CASE WHEN json_valid(i) THEN json_extract(i, '$.k') END, "
            "CASE WHEN json_valid(i) THEN json_extract(i, '$.d') END, i, "
            "gmm_bic(?1), gmm_aic(?1) FROM (SELECT gmm_info(?1) AS i)");
  bind_model(stmt, 1, c);
  expectation e = expect_inspect(c);
  int rc = fuzz_step(stmt);
  if (rc == SQLITE_ROW) {
    FUZZ_CHECK_MSG(e != EXPECT_ERROR, "gmm_info succeeded where it must fail");
    if (e == EXPECT_NULL) {
      FUZZ_CHECK(sqlite3_column_type(stmt, 3) == SQLITE_NULL);
      FUZZ_CHECK(sqlite3_column_type(stmt, 4) == SQLITE_NULL);
    } else {
      const gmm_model *m = c->model;
      /* FUZZ_KNOWN_BIC_OVERFLOW (see fuzz_blob.c): "bic":-inf in the JSON. */
      FUZZ_CHECK_MSG((FUZZ_TOLERATE && fabs(m->summary.log_likelihood) > 1e307) ||
                         sqlite3_column_int(stmt, 0) == 1,
                     "gmm_info gave invalid JSON: %s", (const char *)sqlite3_column_text(stmt, 3));
      if (sqlite3_column_int(stmt, 0) == 1)
        FUZZ_CHECK(sqlite3_column_int(stmt, 1) == m->k && sqlite3_column_int(stmt, 2) == m->d);
      double bic = gmm_model_bic(m), aic = gmm_model_aic(m);
      FUZZ_CHECK(fuzz_double_bits(sqlite3_column_double(stmt, 4)) == fuzz_double_bits(bic));
      FUZZ_CHECK(fuzz_double_bits(sqlite3_column_double(stmt, 5)) == fuzz_double_bits(aic));
    }
    FUZZ_CHECK(fuzz_step(stmt) == SQLITE_DONE);
  } else {
    FUZZ_CHECK(rc != SQLITE_DONE);
    FUZZ_CHECK_MSG(e == EXPECT_ERROR, "gmm_info failed where it must not: %s",
                   sqlite3_errmsg(fuzz_db()));
  }
  sqlite3_finalize(stmt);
}

/* ---- the table-valued functions ---- */

static void run_components(const apply_case *c) {
  sqlite3_stmt *stmt = fuzz_prepare(
      c->mode == MODEL_SUBQUERY
          ? "WITH s(m) AS MATERIALIZED (SELECT ?1) "
            "SELECT component, weight, json_valid(mean), json_array_length(mean), "
            "json_valid(covariance), model IS s.m FROM s, gmm_components(s.m)"
          : "SELECT component, weight, json_valid(mean), json_array_length(mean), "
            "json_valid(covariance), model IS ?1 FROM gmm_components(?1)");
  bind_model(stmt, 1, c);
  expectation e = expect_inspect(c);
  int rows = 0, rc;
  while ((rc = fuzz_step(stmt)) == SQLITE_ROW) {
    FUZZ_CHECK_MSG(e == EXPECT_VALUE, "gmm_components gave a row where it must not");
    const gmm_model *m = c->model;
    FUZZ_CHECK(sqlite3_column_int(stmt, 0) == rows);
    FUZZ_CHECK(fuzz_double_bits(sqlite3_column_double(stmt, 1)) ==
               fuzz_double_bits(m->weights[rows]));
    FUZZ_CHECK_MSG(sqlite3_column_int(stmt, 2) == 1 && sqlite3_column_int(stmt, 4) == 1,
                   "gmm_components gave invalid JSON for component %d", rows);
    FUZZ_CHECK(sqlite3_column_int(stmt, 3) == m->d);
    FUZZ_CHECK(sqlite3_column_int(stmt, 5) == 1);
    rows++;
  }
  if (rc == SQLITE_DONE)
    FUZZ_CHECK_MSG(e != EXPECT_ERROR && rows == (e == EXPECT_VALUE ? c->model->k : 0),
                   "gmm_components: %d rows", rows);
  else
    FUZZ_CHECK_MSG(e == EXPECT_ERROR, "gmm_components failed: %s", sqlite3_errmsg(fuzz_db()));
  sqlite3_finalize(stmt);
}

typedef struct sample_args {
  int n_kind; /* 0 the INTEGER n, 1 NULL, 2 -1, 3 TEXT '2' */
  int n;
  int seed_kind; /* 0 the INTEGER seed, 1 absent, 2 -1, 3 2^62 */
  sqlite3_int64 seed;
  int bounded; /* WHERE sample < bound */
  int bound;
} sample_args;

static void run_sample(const apply_case *c, const sample_args *a) {
  char sql[512] = "";
  fuzz_appendf(sql, sizeof sql,
               "%sSELECT sample, component, json_valid(x), json_array_length(x), n, seed "
               "FROM %sgmm_sample(%s, ?2%s)%s",
               c->mode == MODEL_SUBQUERY ? "WITH s(m) AS MATERIALIZED (SELECT ?1) " : "",
               c->mode == MODEL_SUBQUERY ? "s, " : "",
               c->mode == MODEL_SUBQUERY ? "s.m" : "?1", a->seed_kind == 1 ? "" : ", ?3",
               a->bounded ? " WHERE sample < ?4 ORDER BY sample" : "");
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  bind_model(stmt, 1, c);
  switch (a->n_kind) {
    case 0: sqlite3_bind_int(stmt, 2, a->n); break;
    case 1: sqlite3_bind_null(stmt, 2); break;
    case 2: sqlite3_bind_int(stmt, 2, -1); break;
    default: sqlite3_bind_text(stmt, 2, "2", -1, SQLITE_STATIC); break;
  }
  sqlite3_int64 seed = a->seed_kind == 0 ? a->seed : a->seed_kind == 3 ? (sqlite3_int64)1 << 62 : 0;
  if (a->seed_kind == 2)
    sqlite3_bind_int(stmt, 3, -1);
  else if (a->seed_kind != 1)
    sqlite3_bind_int64(stmt, 3, seed);
  /* Bound 3 is bound as the REAL 1.5: rows 0 and 1. */
  if (a->bounded && a->bound == 3)
    sqlite3_bind_double(stmt, 4, 1.5);
  else if (a->bounded)
    sqlite3_bind_int(stmt, 4, a->bound);
  int bound_rows = a->bound == 3 ? 2 : a->bound;

  int args_ok = a->n_kind == 0 && a->seed_kind != 2;
  expectation e = expect_inspect(c);
  if (!args_ok || (c->mode == MODEL_OTHER && !model_is_null(c))) e = EXPECT_ERROR;
  int want_rows = e != EXPECT_VALUE ? 0 : a->bounded && bound_rows < a->n ? bound_rows : a->n;

  gmm_sampler *sampler = NULL;
  double *x = NULL;
  if (e == EXPECT_VALUE) {
    FUZZ_CHECK(gmm_sampler_new(c->model, (uint64_t)seed, &gmm_libc_allocator, &sampler) == GMM_OK);
    x = malloc((size_t)c->model->d * sizeof *x);
    FUZZ_CHECK(x);
  }
  int rows = 0, rc;
  while ((rc = fuzz_step(stmt)) == SQLITE_ROW) {
    FUZZ_CHECK_MSG(e == EXPECT_VALUE, "gmm_sample gave a row where it must not");
    int component;
    gmm_sampler_draw(sampler, x, &component);
    FUZZ_CHECK(sqlite3_column_int(stmt, 0) == rows);
    FUZZ_CHECK_MSG(sqlite3_column_int(stmt, 1) == component,
                   "gmm_sample row %d: component %d, the core's sampler %d", rows,
                   sqlite3_column_int(stmt, 1), component);
    FUZZ_CHECK_MSG(sqlite3_column_int(stmt, 2) == 1, "gmm_sample row %d: invalid JSON x", rows);
    FUZZ_CHECK(sqlite3_column_int(stmt, 3) == c->model->d);
    FUZZ_CHECK(sqlite3_column_int(stmt, 4) == a->n);
    FUZZ_CHECK(sqlite3_column_int64(stmt, 5) == seed);
    rows++;
  }
  if (rc == SQLITE_DONE)
    FUZZ_CHECK_MSG(e != EXPECT_ERROR && rows == want_rows, "gmm_sample: %d rows, expected %d (%s)",
                   rows, want_rows, e == EXPECT_ERROR ? "an error" : "");
  else
    FUZZ_CHECK_MSG(e == EXPECT_ERROR, "gmm_sample failed: %s", sqlite3_errmsg(fuzz_db()));
  free(x);
  gmm_sampler_free(sampler);
  sqlite3_finalize(stmt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_reader in = {data, size};
  uint8_t b0 = fuzz_u8(&in), b1 = fuzz_u8(&in);
  size_t n_blob = fuzz_u16(&in);
  if (n_blob > in.n) n_blob = in.n;
  uint8_t *blob = malloc(n_blob ? n_blob : 1);
  FUZZ_CHECK(blob);
  fuzz_bytes(&in, blob, n_blob);
  if (!(b0 & 1)) fuzz_fix_checksum(blob, n_blob);

  apply_case c;
  memset(&c, 0, sizeof c);
  c.all_null = 1;
  c.mode = (model_mode)((b0 >> 1) & 3);
  c.other_type = b1 >> 6;
  c.blob = blob;
  c.n_blob = n_blob;
  gmm_status st = gmm_blob_read(blob, n_blob, &gmm_libc_allocator, &c.model, NULL, 0);
  FUZZ_CHECK(st == GMM_OK || st == GMM_ECORRUPT);

  if (b0 & 8)
    c.n_features = b1 & 15;
  else if (c.model)
    c.n_features = c.model->d;
  else if (n_blob >= 16)
    c.n_features = (int)(fuzz_get_le32(blob + FUZZ_BLOB_D_AT) % 10);
  else
    c.n_features = 2;
  if (c.n_features > MAX_FEATURES) c.n_features = MAX_FEATURES;
  for (int j = 0; j < c.n_features; j++) {
    c.features[j] = fuzz_read_value(&in);
    int cls = fuzz_value_class(&c.features[j]);
    c.any_bad |= cls == FUZZ_FEATURE_BAD;
    c.any_null |= cls == FUZZ_FEATURE_NULL;
    c.all_null &= cls == FUZZ_FEATURE_NULL;
    c.x[j] = cls == FUZZ_FEATURE_NULL ? NAN : fuzz_value_number(&c.features[j]);
  }
  uint8_t tail = fuzz_u8(&in);

  core_answer want = {-1, NAN, NULL};
  if (expect_apply(&c) == EXPECT_VALUE) {
    const gmm_model *m = c.model;
    double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(m) + (size_t)m->k));
    FUZZ_CHECK(scratch);
    want.post = scratch + gmm_model_scratch_len(m);
    want.score = gmm_model_score_row(m, c.x, scratch, want.post, &want.label);
  }
  run_apply("gmm_predict", &c, &want);
  run_apply("gmm_score", &c, &want);
  run_apply("gmm_predict_proba", &c, &want);
  run_inspect(&c);
  run_components(&c);
  sample_args a = {tail & 3, b0 >> 5, (tail >> 2) & 3, tail >> 4, (b0 >> 4) & 1, (b1 >> 4) & 3};
  run_sample(&c, &a);

  if (want.post) free(want.post - gmm_model_scratch_len(c.model));
  gmm_model_free(c.model);
  free(blob);
  return 0;
}
