/*
** fuzz_fit.c -- libFuzzer target: the aggregate gmm_fit(spec, ...) through
** SQL (spec parsing with SQLite's JSON functions, row checks and
** buffering, EM, selection, warm starts, weights), then the model it
** returns.
**
** Input:
**   the options JSON text, up to the first 0x00 byte (the whole input when
**   there is none: then there are no rows); then
**   h0   bits 0-2, d - 1 (d = 1 .. 8); bits 3-4, how values are encoded:
**        0 an 8-byte IEEE double (REAL), 1 a 16-bit integer / 64 (REAL),
**        2 an 8-bit integer (INTEGER), 3 a 4-byte float (REAL); bit 5,
**        flip whether a weight argument is passed (so that its absence or
**        surplus is exercised); bit 6, warm start: fit again with the
**        model as the spec; bit 7, GROUP BY rowid % 2
**   h1   bits 0-1, the spec: 0 the JSON text, 1 an INTEGER k
**        (((h1 >> 2) & 15) % 10 - 1), 2 a model BLOB that follows (u16
**        length, then the bytes; its checksum is rewritten, its max_iter
**        clamped), 3 NULL (bit 2 clear) or a REAL; bit 6, the order check:
**        the same rows in reverse order must give the same BLOB (gmm_fit
**        (6)); bit 7, the spec differs on row 2
**   rows, up to 256: a selector byte, then one value per argument (the
**   weight first when weighted). Selector bit 7 makes value (sel & 7) of
**   the row special, of kind (sel >> 4) & 7: 0 +-1e308, 1 the value as an
**   INTEGER, 2 +-5e-324, 3 NULL, 4 TEXT, 5 +-Inf, 6 NaN, 7 a BLOB; bit 3
**   is the sign.
**
** Bounded work: max_iter is clamped to 20, n_init to 3, k (and every k of
** a list) to 8, by rewriting the JSON text when it asks for more (the
** options are read with json_each, every member, as the extension reads
** them); then the rows are cut so that the estimated EM work stays under
** a budget.
**
** Checks (FUZZ_CHECK traps otherwise): no error code but SQLITE_ERROR;
** every BLOB gmm_fit returns decodes in the core, re-encodes to itself,
** agrees with the harness's reading of the spec (d, weighted, n_init,
** max_iter), has finite BIC/AIC and a valid gmm_info JSON; gmm_predict of
** the training rows is in 0 .. k-1; the order check; a warm start from the
** result either fails cleanly or gives a model that decodes too.
*/
#include "gmm.h"

#include "fuzz_sql.h"

#include <stdlib.h>

#define MAX_ROWS   256
#define MAX_D      8
#define MAX_ARGS   (MAX_D + 1)
#define CAP_ITER   20
#define CAP_N_INIT 3
#define CAP_K      8
#define BUDGET     2e7 /* estimated multiply-adds of EM per input */

typedef struct fit_plan {
  int d;        /* values per row besides the weight, as the input says */
  int weighted; /* the spec asks for weights (as far as the harness can tell) */
  int labeled;  /* init 'labels': a label argument before the features */
  int nargs;    /* arguments after the spec: d, plus 1 when weighted xor h0 bit 5 */
  int fit_d;    /* the d gmm_fit will see: nargs less its weight and label */
  int mode;
  int warm, group_by, order_check, spec_varies;
  int spec_kind; /* 0 JSON, 1 INTEGER, 2 BLOB, 3 NULL / REAL */
  char *json;    /* the (possibly rewritten) JSON text, sqlite3_malloc'd */
  int k_spec;
  int spec_null;
  uint8_t *spec_blob;
  size_t n_spec_blob;
  /* for the work estimate */
  double k_sum; /* sum of the k values asked for */
  int n_types, n_init, max_iter;
} fit_plan;

/* ---- the options: read as the extension reads them, clamped ---- */

/* The elements of member m when it is an array, else none. json_each must
** never see another member's value: a string such as the 'tied' of
** "covariance_type":"tied" is not JSON text, and json_each fails on it with
** "malformed JSON". A guard in front of it is not enough, since SQLite
** (3.40) evaluates both sides of an AND: "type = 'array' AND EXISTS
** (SELECT ... FROM json_each(m.value))" still ran json_each on 'tied'. */
#define MEMBER_ELEMENTS "json_each(CASE WHEN m.type = 'array' THEN m.value ELSE '[]' END)"

/* The cap of an integer option the harness bounds, else 0. */
static int option_cap(const char *key) {
  return strcmp(key, "max_iter") == 0 ? CAP_ITER : strcmp(key, "n_init") == 0 ? CAP_N_INIT : 0;
}

/* Reads the JSON object's members with json_each, every one of them, as
** the extension does (gmm_spec.c): the plan's weighted, n_init and max_iter
** are what gmm_fit will read, and check_model holds the models to them.
** Rewrites the text when a value is above its cap. Sets the work
** estimate's numbers. */
/* The text of a member of plan_json's statement ("" unless TEXT). */
static const char *member_value(sqlite3_stmt *q) {
  const char *v = (const char *)sqlite3_column_text(q, 6);
  return v ? v : "";
}

static void plan_json(fit_plan *p) {
  p->k_sum = 1;
  p->n_types = 1;
  p->n_init = 1;
  p->max_iter = 100;
  /* An object as gmm_spec.c's spec_is_object tells: json_type, an error
  ** when the text is not JSON. */
  sqlite3_stmt *q = fuzz_prepare("SELECT json_type(?1) = 'object'");
  sqlite3_bind_text(q, 1, p->json, -1, SQLITE_STATIC);
  int is_object = fuzz_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  if (!is_object) return;
  /* Each member as JSON text, with the caps applied; whether it was
  ** clamped; its atom when an integer; "count total-k" of an array. No
  ** json_each but over valid JSON (MEMBER_ELEMENTS). */
  q = fuzz_prepare(
      "SELECT key, type, json_quote(key) || ':' || CASE "
      "  WHEN key IN ('max_iter', 'n_init') AND type = 'integer' "
      "    AND atom > CASE key WHEN 'max_iter' THEN ?2 ELSE ?3 END "
      "    THEN CASE key WHEN 'max_iter' THEN ?2 ELSE ?3 END "
      "  WHEN key = 'k' AND type = 'integer' AND atom > ?4 AND atom <= 1024 "
      "    THEN (atom - 1) % ?4 + 1 "
      "  WHEN key = 'k' AND type = 'array' THEN (SELECT json_group_array(CASE "
      "      WHEN e.type = 'integer' AND e.atom > ?4 AND e.atom <= 1024 THEN (e.atom - 1) % ?4 + 1 "
      "      WHEN e.type IN ('array', 'object') THEN json(e.value) "
      "      WHEN e.type IN ('true', 'false', 'null') THEN json(e.type) "
      "      ELSE e.value END) FROM " MEMBER_ELEMENTS " e) "
      "  WHEN type IN ('array', 'object') THEN value "
      "  WHEN type IN ('true', 'false', 'null') THEN type "
      "  ELSE json_quote(value) END, "
      "  CASE "
      "    WHEN key IN ('max_iter', 'n_init') AND type = 'integer' "
      "      THEN atom > CASE key WHEN 'max_iter' THEN ?2 ELSE ?3 END "
      "    WHEN key = 'k' AND type = 'integer' THEN atom > ?4 AND atom <= 1024 "
      "    WHEN key = 'k' AND type = 'array' THEN EXISTS (SELECT 1 FROM " MEMBER_ELEMENTS " e "
      "      WHERE e.type = 'integer' AND e.atom > ?4 AND e.atom <= 1024) "
      "    ELSE 0 END, "
      "  CASE WHEN type = 'integer' THEN atom END, "
      "  CASE WHEN type = 'array' THEN (SELECT count(*) || ' ' || total(CASE WHEN e.type = "
      "    'integer' AND e.atom BETWEEN 1 AND 1024 THEN min(e.atom, ?4) ELSE 1 END) "
      "    FROM " MEMBER_ELEMENTS " e) END, "
      "  CASE WHEN type = 'text' THEN atom END "
      "FROM json_each(?1) m");
  sqlite3_bind_text(q, 1, p->json, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, CAP_ITER);
  sqlite3_bind_int(q, 3, CAP_N_INIT);
  sqlite3_bind_int(q, 4, CAP_K);
  sqlite3_str *rewritten = sqlite3_str_new(fuzz_db());
  sqlite3_str_appendchar(rewritten, 1, '{');
  int n_members = 0, clamped = 0, rc;
  while ((rc = fuzz_step(q)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(q, 0);
    const char *type = (const char *)sqlite3_column_text(q, 1);
    const char *member = (const char *)sqlite3_column_text(q, 2);
    FUZZ_CHECK(key && type && member);
    if (n_members++) sqlite3_str_appendchar(rewritten, 1, ',');
    sqlite3_str_appendall(rewritten, member);
    clamped |= sqlite3_column_int(q, 3);
    int is_int = sqlite3_column_type(q, 4) == SQLITE_INTEGER;
    sqlite3_int64 v = sqlite3_column_int64(q, 4);
    int cap = option_cap(key);
    if (strcmp(key, "k") == 0) {
      if (is_int) p->k_sum = v >= 1 && v <= 1024 ? (double)(v > CAP_K ? (v - 1) % CAP_K + 1 : v) : 1;
      const char *list = (const char *)sqlite3_column_text(q, 5);
      if (list) {
        double count = 0, total = 0;
        if (sscanf(list, "%lf %lf", &count, &total) == 2 && total >= 1) p->k_sum = total;
      }
    } else if (strcmp(key, "covariance_type") == 0 && strcmp(type, "array") == 0) {
      const char *list = (const char *)sqlite3_column_text(q, 5);
      double count = 1;
      if (list && sscanf(list, "%lf", &count) == 1 && count >= 1) p->n_types = (int)fmin(count, 1e6);
    } else if (cap && strcmp(type, "integer") == 0) {
      /* As rewritten: above the cap, the cap (an integer beyond 64 bits
      ** too, whose atom is a REAL). Below the option's range gmm_fit
      ** fails; the default stays, for the work estimate. */
      int *slot = strcmp(key, "n_init") == 0 ? &p->n_init : &p->max_iter;
      if (sqlite3_column_double(q, 4) > cap)
        *slot = cap;
      else if (is_int && v >= (slot == &p->n_init ? 1 : 0))
        *slot = (int)v;
    } else if (strcmp(key, "covariance_type") == 0 && strcmp(member_value(q), "all") == 0) {
      p->n_types = GMM_N_COV_TYPES;
    } else if (strcmp(key, "weighted") == 0) {
      p->weighted = strcmp(type, "true") == 0;
    } else if (strcmp(key, "init") == 0) {
      p->labeled = strcmp(member_value(q), "labels") == 0;
    }
  }
  /* The harness's own statement over a valid JSON object: stopping early
  ** would leave the plan (and the clamps) at odds with gmm_fit. */
  FUZZ_CHECK_MSG(rc == SQLITE_DONE, "the plan stopped after %d members of the spec: %s",
                 n_members, sqlite3_errmsg(fuzz_db()));
  sqlite3_finalize(q);
  sqlite3_str_appendchar(rewritten, 1, '}');
  char *text = sqlite3_str_finish(rewritten);
  FUZZ_CHECK(text);
  if (clamped) {
    sqlite3_free(p->json);
    p->json = text;
  } else {
    sqlite3_free(text);
  }
}

/* A BLOB spec: the checksum rewritten, max_iter clamped (n_iter with it). */
static void plan_blob(fit_plan *p) {
  uint8_t *b = p->spec_blob;
  size_t n = p->n_spec_blob;
  p->k_sum = 1;
  p->n_types = p->n_init = 1;
  p->max_iter = 100;
  if (n >= FUZZ_BLOB_HEADER_V1 + 8) {
    uint32_t max_iter = fuzz_get_le32(b + FUZZ_BLOB_MAX_ITER_AT);
    if (max_iter > CAP_ITER) {
      fuzz_put_le32(b + FUZZ_BLOB_MAX_ITER_AT, CAP_ITER);
      if (fuzz_get_le32(b + FUZZ_BLOB_N_ITER_AT) > CAP_ITER)
        fuzz_put_le32(b + FUZZ_BLOB_N_ITER_AT, CAP_ITER);
    }
    p->max_iter = (int)fuzz_get_le32(b + FUZZ_BLOB_MAX_ITER_AT);
    uint32_t k = fuzz_get_le32(b + FUZZ_BLOB_K_AT), d = fuzz_get_le32(b + FUZZ_BLOB_D_AT);
    p->k_sum = k >= 1 && k <= GMM_MAX_K ? k : 1;
    if (d >= 1 && d <= MAX_D) p->d = (int)d;
    p->weighted = (fuzz_get_le32(b + 84) & 2u) != 0;
  }
  fuzz_fix_checksum(b, n);
}

/* Rows that keep the estimated work under BUDGET. */
static size_t row_budget(const fit_plan *p) {
  double d = p->d;
  double per_init = ((double)p->max_iter + 2.0) * d * d + 300.0 * d + 64.0;
  double fits = 1.0 + p->warm + p->order_check;
  double per_row = fits * p->n_types * p->k_sum * p->n_init * per_init;
  double rows = BUDGET / per_row;
  return rows >= MAX_ROWS ? MAX_ROWS : rows < 1 ? 1 : (size_t)rows;
}

/* ---- rows ---- */

static void ensure_table(void) {
  static const char *const create =
      "CREATE TEMP TABLE IF NOT EXISTS fz(a0, a1, a2, a3, a4, a5, a6, a7, a8)";
  fuzz_exec(create);
  fuzz_exec("DELETE FROM temp.fz");
}

static double read_number(fuzz_reader *in, int mode, int *is_integer) {
  uint8_t b[8];
  *is_integer = 0;
  switch (mode) {
    case 0: fuzz_bytes(in, b, 8); return fuzz_bits_double(fuzz_get_le64(b));
    case 1: return (double)(int16_t)fuzz_u16(in) / 64.0;
    case 2: *is_integer = 1; return (double)(int8_t)fuzz_u8(in);
    default: {
      fuzz_bytes(in, b, 4);
      float f;
      memcpy(&f, b, 4);
      return (double)f;
    }
  }
}

static size_t value_width(int mode) {
  static const size_t width[4] = {8, 2, 1, 4};
  return width[mode];
}

static void bind_row_value(sqlite3_stmt *ins, int i, double v, int is_integer, int special,
                           int negative) {
  double sign = negative ? -1.0 : 1.0;
  switch (special) {
    case -1:
      if (is_integer)
        sqlite3_bind_int64(ins, i, (sqlite3_int64)v);
      else
        sqlite3_bind_double(ins, i, v);
      break;
    case 0: sqlite3_bind_double(ins, i, sign * 1e308); break;
    case 1:
      if (isfinite(v) && fabs(v) < 9e18)
        sqlite3_bind_int64(ins, i, (sqlite3_int64)v);
      else
        sqlite3_bind_int64(ins, i, negative ? INT64_MIN : INT64_MAX);
      break;
    case 2: sqlite3_bind_double(ins, i, sign * 5e-324); break;
    case 3: sqlite3_bind_null(ins, i); break;
    case 4: {
      char text[40];
      snprintf(text, sizeof text, "%.17g", v);
      sqlite3_bind_text(ins, i, text, -1, SQLITE_TRANSIENT);
      break;
    }
    case 5: sqlite3_bind_double(ins, i, sign * INFINITY); break;
    case 6: sqlite3_bind_double(ins, i, NAN); break;
    default: sqlite3_bind_blob(ins, i, &v, sizeof v, SQLITE_TRANSIENT); break;
  }
}

/* Inserts up to max_rows rows; returns how many. */
static size_t insert_rows(fuzz_reader *in, const fit_plan *p, size_t max_rows) {
  ensure_table();
  size_t row_bytes = 1 + (size_t)p->nargs * value_width(p->mode), n = 0;
  char sql[256] = "INSERT INTO temp.fz(a0";
  for (int j = 1; j < p->nargs; j++) fuzz_appendf(sql, sizeof sql, ", a%d", j);
  fuzz_appendf(sql, sizeof sql, ") VALUES (?1");
  for (int j = 1; j < p->nargs; j++) fuzz_appendf(sql, sizeof sql, ", ?%d", j + 1);
  fuzz_appendf(sql, sizeof sql, ")");
  sqlite3_stmt *ins = fuzz_prepare(sql);
  fuzz_exec("BEGIN");
  while (n < max_rows && in->n >= row_bytes) {
    uint8_t sel = fuzz_u8(in);
    int special_at = sel & 0x80 ? (sel & 7) % p->nargs : -1;
    for (int j = 0; j < p->nargs; j++) {
      int is_integer;
      double v = read_number(in, p->mode, &is_integer);
      bind_row_value(ins, j + 1, v, is_integer, j == special_at ? (sel >> 4) & 7 : -1,
                     (sel & 8) != 0);
    }
    FUZZ_CHECK_MSG(sqlite3_step(ins) == SQLITE_DONE, "insert: %s", sqlite3_errmsg(fuzz_db()));
    sqlite3_reset(ins);
    n++;
  }
  fuzz_exec("COMMIT");
  sqlite3_finalize(ins);
  return n;
}

/* ---- fits ---- */

#define MAX_RESULTS 2

typedef struct fit_result {
  int rc; /* SQLITE_DONE or an error */
  int n;  /* result rows */
  int type[MAX_RESULTS];
  uint8_t *blob[MAX_RESULTS];
  int n_blob[MAX_RESULTS];
  char *error;
} fit_result;

static void result_clear(fit_result *r) {
  for (int i = 0; i < MAX_RESULTS; i++) free(r->blob[i]);
  sqlite3_free(r->error);
  memset(r, 0, sizeof *r);
}

static void bind_spec(sqlite3_stmt *stmt, const fit_plan *p) {
  switch (p->spec_kind) {
    case 0: sqlite3_bind_text(stmt, 1, p->json, -1, SQLITE_TRANSIENT); break;
    case 1: sqlite3_bind_int(stmt, 1, p->k_spec); break;
    case 2:
      sqlite3_bind_blob(stmt, 1, p->n_spec_blob ? (const void *)p->spec_blob : "",
                        (int)p->n_spec_blob, SQLITE_TRANSIENT);
      break;
    default:
      if (p->spec_null)
        sqlite3_bind_null(stmt, 1);
      else
        sqlite3_bind_double(stmt, 1, 2.0);
  }
}

/* SELECT gmm_fit(spec, a0, ...) over the rows, forward or in reverse. */
static void run_fit(const fit_plan *p, int reverse, const uint8_t *warm, int n_warm,
                    fit_result *r) {
  memset(r, 0, sizeof *r);
  char sql[512] = "";
  fuzz_appendf(sql, sizeof sql, "SELECT gmm_fit(%s",
               p->spec_varies && !warm ? "CASE WHEN r = 2 THEN 3 ELSE ?1 END" : "?1");
  for (int j = 0; j < p->nargs; j++) fuzz_appendf(sql, sizeof sql, ", a%d", j);
  fuzz_appendf(sql, sizeof sql, ") FROM (SELECT rowid AS r, * FROM temp.fz ORDER BY r%s)",
               reverse ? " DESC" : "");
  if (p->group_by && !warm) fuzz_appendf(sql, sizeof sql, " GROUP BY r %% 2 ORDER BY r %% 2");
  sqlite3_stmt *stmt = fuzz_prepare(sql);
  if (warm)
    sqlite3_bind_blob(stmt, 1, warm, n_warm, SQLITE_TRANSIENT);
  else
    bind_spec(stmt, p);
  while ((r->rc = fuzz_step(stmt)) == SQLITE_ROW) {
    FUZZ_CHECK(r->n < MAX_RESULTS);
    int i = r->n++;
    r->type[i] = sqlite3_column_type(stmt, 0);
    FUZZ_CHECK_MSG(r->type[i] == SQLITE_BLOB || r->type[i] == SQLITE_NULL,
                   "gmm_fit returned type %d", r->type[i]);
    if (r->type[i] == SQLITE_BLOB) {
      r->n_blob[i] = sqlite3_column_bytes(stmt, 0);
      r->blob[i] = malloc((size_t)r->n_blob[i] + 1);
      FUZZ_CHECK(r->blob[i]);
      if (r->n_blob[i] > 0)
        memcpy(r->blob[i], sqlite3_column_blob(stmt, 0), (size_t)r->n_blob[i]);
    }
  }
  if (r->rc != SQLITE_DONE) {
    r->error = sqlite3_mprintf("%s", sqlite3_errmsg(fuzz_db()));
    FUZZ_CHECK_MSG(strncmp(r->error, "gmm_fit: ", 9) == 0, "an error not from gmm_fit: %s",
                   r->error);
  }
  sqlite3_finalize(stmt);
}

/* A model gmm_fit returned: it decodes, re-encodes to itself, has finite
** criteria and valid gmm_info, and predicts labels in range. */
static void check_model(const fit_plan *p, const uint8_t *blob, int n) {
  gmm_model *m = NULL;
  char err[256] = "";
  gmm_status st = gmm_blob_read(blob, (size_t)n, &gmm_libc_allocator, &m, err, sizeof err);
  /* FUZZ_KNOWN_FIT_LL_OVERFLOW: huge row weights make the unscaled
  ** log-likelihood overflow, and gmm_fit writes it anyway. */
  if (FUZZ_TOLERATE && st != GMM_OK && strstr(err, "log-likelihood is not finite")) return;
  FUZZ_CHECK_MSG(st == GMM_OK, "a BLOB from gmm_fit does not decode: %s", err);
  /* One feature argument may hold vectors (ext (5)): then d is their length. */
  FUZZ_CHECK_MSG((m->d == p->fit_d || p->fit_d == 1) && m->k >= 1 && m->k <= 1024,
                 "k %d, d %d (expected d %d)", m->k, m->d, p->fit_d);
  /* The harness read the spec as gmm_fit did (plan_json, plan_blob): with
  ** weights or not, and the n_init and max_iter it asks for (a BLOB spec's
  ** n_init is its own: a warm start runs one initialisation). */
  FUZZ_CHECK_MSG(m->summary.weighted == p->weighted, "weighted %d (the harness read the spec as %d)",
                 m->summary.weighted, p->weighted);
  FUZZ_CHECK_MSG(m->options.max_iter == p->max_iter &&
                     (p->spec_kind == 2 || m->options.n_init == p->n_init),
                 "max_iter %d, n_init %d (the harness read the spec as max_iter %d, n_init %d)",
                 m->options.max_iter, m->options.n_init, p->max_iter, p->n_init);
  FUZZ_CHECK((size_t)n == gmm_blob_size(m));
  uint8_t *again = malloc((size_t)n);
  FUZZ_CHECK(again);
  gmm_blob_write(m, again);
  FUZZ_CHECK(memcmp(again, blob, (size_t)n) == 0);
  free(again);
  /* FUZZ_KNOWN_BIC_OVERFLOW (see fuzz_blob.c). */
  int huge_ll = FUZZ_TOLERATE && fabs(m->summary.log_likelihood) > 1e307;
  FUZZ_CHECK_MSG(huge_ll || (isfinite(gmm_model_bic(m)) && isfinite(gmm_model_aic(m))),
                 "BIC %g of a fitted model (log_likelihood %.17g, n_samples %.17g)",
                 gmm_model_bic(m), m->summary.log_likelihood, m->summary.n_samples);
  FUZZ_CHECK_MSG(m->summary.n_samples > 0 && isfinite(m->summary.n_samples), "n_samples %g",
                 m->summary.n_samples);

  sqlite3_stmt *q = fuzz_prepare("SELECT json_valid(gmm_info(?1)), gmm_info(?1)");
  sqlite3_bind_blob(q, 1, blob, n, SQLITE_TRANSIENT);
  FUZZ_CHECK_MSG(fuzz_step(q) == SQLITE_ROW, "gmm_info of a fitted model: %s",
                 sqlite3_errmsg(fuzz_db()));
  FUZZ_CHECK_MSG(huge_ll || sqlite3_column_int(q, 0) == 1, "gmm_info is not valid JSON: %s",
                 (const char *)sqlite3_column_text(q, 1));
  sqlite3_finalize(q);

  /* gmm_predict on the training rows (the features follow the weight). */
  char sql[512] = "";
  fuzz_appendf(sql, sizeof sql, "SELECT count(*), min(p), max(p) FROM (SELECT gmm_predict(?1");
  for (int j = p->nargs - p->fit_d; j < p->nargs; j++) fuzz_appendf(sql, sizeof sql, ", a%d", j);
  fuzz_appendf(sql, sizeof sql, ") AS p FROM temp.fz) WHERE p IS NOT NULL");
  q = fuzz_prepare(sql);
  sqlite3_bind_blob(q, 1, blob, n, SQLITE_TRANSIENT);
  int rc = fuzz_step(q);
  if (rc == SQLITE_ROW) {
    if (sqlite3_column_int(q, 0) > 0)
      FUZZ_CHECK_MSG(sqlite3_column_int(q, 1) >= 0 && sqlite3_column_int(q, 2) < m->k,
                     "gmm_predict on the training rows gave %d .. %d, k = %d",
                     sqlite3_column_int(q, 1), sqlite3_column_int(q, 2), m->k);
  } else {
    /* Only a row gmm_fit would have refused (TEXT, Inf) can fail here, and
    ** then the fit failed too: a GROUP BY's other group cannot hide it,
    ** since any group's error fails the statement. */
    FUZZ_CHECK_MSG(p->fit_d == 1, "gmm_predict on the training rows of a fitted model failed: %s",
                   sqlite3_errmsg(fuzz_db()));
  }
  sqlite3_finalize(q);
  gmm_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *sep = size ? memchr(data, 0, size) : NULL;
  size_t json_len = sep ? (size_t)(sep - data) : size;
  fuzz_reader in = {sep ? sep + 1 : data + size, sep ? size - json_len - 1 : 0};

  fit_plan p;
  memset(&p, 0, sizeof p);
  p.json = sqlite3_mprintf("%.*s", (int)json_len, (const char *)data);
  FUZZ_CHECK(p.json);
  uint8_t h0 = fuzz_u8(&in), h1 = fuzz_u8(&in);
  p.d = (h0 & 7) + 1;
  p.mode = (h0 >> 3) & 3;
  p.warm = (h0 >> 6) & 1;
  p.group_by = h0 >> 7;
  p.spec_kind = h1 & 3;
  p.order_check = (h1 >> 6) & 1;
  p.spec_varies = h1 >> 7;
  switch (p.spec_kind) {
    case 0: plan_json(&p); break;
    case 1:
      p.k_spec = ((h1 >> 2) & 15) % 10 - 1;
      p.k_sum = p.k_spec >= 1 ? p.k_spec : 1;
      p.n_types = p.n_init = 1;
      p.max_iter = 100;
      break;
    case 2:
      p.n_spec_blob = fuzz_u16(&in);
      if (p.n_spec_blob > in.n) p.n_spec_blob = in.n;
      p.spec_blob = malloc(p.n_spec_blob + 1);
      FUZZ_CHECK(p.spec_blob);
      fuzz_bytes(&in, p.spec_blob, p.n_spec_blob);
      plan_blob(&p);
      break;
    default:
      p.spec_null = !(h1 & 4);
      p.k_sum = p.n_types = p.n_init = 1;
      p.max_iter = 100;
      break;
  }
  p.nargs = p.d + (p.weighted ^ ((h0 >> 5) & 1));
  /* A label argument only with a JSON spec (a warm start reads none). */
  if (p.spec_kind != 0) p.labeled = 0;
  p.fit_d = p.nargs - p.weighted - (p.labeled && p.nargs - p.weighted > 1);

  insert_rows(&in, &p, row_budget(&p));

  fit_result fwd;
  run_fit(&p, 0, NULL, 0, &fwd);
  if (fwd.rc == SQLITE_DONE)
    for (int i = 0; i < fwd.n; i++)
      if (fwd.type[i] == SQLITE_BLOB) check_model(&p, fwd.blob[i], fwd.n_blob[i]);

  if (p.order_check) {
    fit_result rev;
    run_fit(&p, 1, NULL, 0, &rev);
    FUZZ_CHECK_MSG((fwd.rc == SQLITE_DONE) == (rev.rc == SQLITE_DONE),
                   "the rows in reverse order: %s; in order: %s", rev.error ? rev.error : "ok",
                   fwd.error ? fwd.error : "ok");
    if (fwd.rc == SQLITE_DONE) {
      FUZZ_CHECK(fwd.n == rev.n);
      for (int i = 0; i < fwd.n; i++) {
        FUZZ_CHECK(fwd.type[i] == rev.type[i]);
        if (fwd.type[i] != SQLITE_BLOB) continue;
        FUZZ_CHECK_MSG(fwd.n_blob[i] == rev.n_blob[i] &&
                           memcmp(fwd.blob[i], rev.blob[i], (size_t)fwd.n_blob[i]) == 0,
                       "the same rows in reverse order give another model (group %d)", i);
      }
    }
    result_clear(&rev);
  }

  if (p.warm && fwd.rc == SQLITE_DONE && fwd.n > 0 && fwd.type[0] == SQLITE_BLOB) {
    fit_result w;
    run_fit(&p, 0, fwd.blob[0], fwd.n_blob[0], &w);
    if (w.rc == SQLITE_DONE && w.n == 1 && w.type[0] == SQLITE_BLOB)
      check_model(&p, w.blob[0], w.n_blob[0]);
    result_clear(&w);
  }

  result_clear(&fwd);
  sqlite3_free(p.json);
  free(p.spec_blob);
  return 0;
}
