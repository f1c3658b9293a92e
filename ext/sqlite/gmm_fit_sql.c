/*
** gmm_fit_sql.c -- the aggregate gmm_fit(spec, x1, ..., xd): buffers the
** rows of its group as contiguous doubles, then hands them to the core's
** EM fit and returns the model BLOB.
**
** Requirements (tests cite them as "gmm_fit (N)"):
**  (1) spec is an INTEGER k, or TEXT holding a JSON object of options:
**        k (required, integer), covariance_type ('full'), max_iter (integer
**        >= 0, default 100), tol (number >= 0, 1e-3), reg_covar (number >=
**        0, 1e-6), n_init (integer >= 1, 1), init ('kmeans', 'k-means++',
**        'random', 'random_from_data'; default 'kmeans'), seed (integer >=
**        0, 0).
**      The object is read with SQLite's own json_each. An unknown key, a
**      key given twice, a value of the wrong type or out of range is an
**      error that names it.
**  (2) spec must be the same on every row of a group.
**  (3) d is the number of arguments after spec (at least 1). A row with a
**      NULL feature is skipped and counted (n_skipped in gmm_info); SQLite
**      itself stores NaN as NULL, so a NaN row is skipped too. TEXT, BLOB
**      and +-Inf features are errors naming the row (1-based within the
**      group), the argument and the value.
**  (4) A group with no usable row gives NULL. A group with fewer usable
**      rows than k is an error that gives both numbers.
**  (5) Each group of a GROUP BY is fitted on its own rows; every group's
**      buffer is freed, whether the statement finishes or fails.
**  (6) The result is a model BLOB (gmm_blob.c), deterministic for the same
**      rows in the same order and the same options.
*/
#include "gmm_sqlite.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* The aggregate's state, zeroed by sqlite3_aggregate_context. */
typedef struct fit_state {
  int started; /* spec parsed, d fixed */
  int failed;  /* an error was reported: ignore further rows */
  int d;
  gmm_options opt;
  int spec_type; /* SQLITE_INTEGER or SQLITE_TEXT */
  sqlite3_int64 spec_int;
  char *spec_text; /* copy of the JSON spec, for gmm_fit (2) */
  int spec_len;
  double *rows;         /* n x d */
  size_t n, cap;        /* rows buffered, rows allocated */
  sqlite3_int64 n_seen; /* rows stepped, skipped ones included */
  sqlite3_int64 n_skipped;
} fit_state;

/* Reports an error and stops the group: rows after it are ignored and the
** final step returns no model. */
static void fit_error(sqlite3_context *ctx, fit_state *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  st->failed = 1;
  if (msg)
    sqlite3_result_error(ctx, msg, -1);
  else
    sqlite3_result_error_nomem(ctx);
  sqlite3_free(msg);
}

static void fit_error_str(sqlite3_context *ctx, fit_state *st, sqlite3_str *s) {
  st->failed = 1;
  gmm_result_error_str(ctx, s);
}

/* ---- options: gmm_fit (1) ---- */

typedef enum {
  OPT_K,
  OPT_COVARIANCE_TYPE,
  OPT_MAX_ITER,
  OPT_TOL,
  OPT_REG_COVAR,
  OPT_N_INIT,
  OPT_INIT,
  OPT_SEED,
  OPT_COUNT
} option_id;

static const char *const option_names[OPT_COUNT] = {
    "k", "covariance_type", "max_iter", "tol", "reg_covar", "n_init", "init", "seed"};

#define KNOWN_OPTIONS "k, covariance_type, max_iter, tol, reg_covar, n_init, init, seed"

/* "gmm_fit: option NAME must be WANT, provided VALUE". When the value has
** the wrong JSON type, VALUE names the type too ("real 2.5", "text '2'", or
** just true, false, null, array, object); when only its value is wrong, it
** is the value alone ("'foo'"). */
static void option_error(sqlite3_context *ctx, fit_state *st, const char *name, const char *want,
                         const char *type, sqlite3_value *atom, int wrong_type) {
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "gmm_fit: option %s must be %s, provided ", name, want);
  const char *text = (const char *)sqlite3_value_text(atom);
  int is_scalar =
      strcmp(type, "text") == 0 || strcmp(type, "integer") == 0 || strcmp(type, "real") == 0;
  if (wrong_type || !is_scalar) sqlite3_str_appendall(s, type);
  if (is_scalar) {
    if (wrong_type) sqlite3_str_appendchar(s, 1, ' ');
    if (strcmp(type, "text") == 0)
      gmm_str_append_quoted(s, text ? text : "");
    else
      sqlite3_str_appendall(s, text ? text : "");
  }
  fit_error_str(ctx, st, s);
}

/* One option from json_each: key, type ('integer', 'real', 'text', ...) and
** atom value. Returns 0 or -1 after reporting an error. */
static int apply_option(sqlite3_context *ctx, fit_state *st, option_id id, const char *type,
                        sqlite3_value *atom) {
  gmm_options *o = &st->opt;
  const char *name = option_names[id];
  int is_int = strcmp(type, "integer") == 0;
  int is_num = is_int || strcmp(type, "real") == 0;
  int is_text = strcmp(type, "text") == 0;
  switch (id) {
    case OPT_K:
    case OPT_MAX_ITER:
    case OPT_N_INIT:
    case OPT_SEED: {
      if (!is_int) break;
      sqlite3_int64 v = sqlite3_value_int64(atom);
      sqlite3_int64 lo = id == OPT_K || id == OPT_N_INIT ? 1 : 0;
      sqlite3_int64 hi = id == OPT_K          ? GMM_MAX_K
                         : id == OPT_MAX_ITER ? GMM_MAX_ITER
                         : id == OPT_N_INIT   ? GMM_MAX_N_INIT
                                              : (sqlite3_int64)0x7fffffffffffffffLL;
      /* An integer beyond 64 bits reaches us as a REAL: out of range too. */
      int beyond_64_bits = sqlite3_value_type(atom) != SQLITE_INTEGER;
      if (beyond_64_bits || v < lo || v > hi) {
        fit_error(ctx, st, "gmm_fit: option %s must be between %lld and %lld, provided %s%s", name,
                  lo, hi, (const char *)sqlite3_value_text(atom),
                  beyond_64_bits ? " (beyond the 64-bit integer range)" : "");
        return -1;
      }
      if (id == OPT_K)
        o->k = (int)v;
      else if (id == OPT_MAX_ITER)
        o->max_iter = (int)v;
      else if (id == OPT_N_INIT)
        o->n_init = (int)v;
      else
        o->seed = (uint64_t)v;
      return 0;
    }
    case OPT_TOL:
    case OPT_REG_COVAR: {
      if (!is_num) break;
      double v = sqlite3_value_double(atom);
      if (!(v >= 0.0) || !isfinite(v)) {
        fit_error(ctx, st, "gmm_fit: option %s must be a finite number >= 0, provided %s", name,
                  (const char *)sqlite3_value_text(atom));
        return -1;
      }
      if (id == OPT_TOL)
        o->tol = v;
      else
        o->reg_covar = v;
      return 0;
    }
    case OPT_COVARIANCE_TYPE:
    case OPT_INIT: {
      if (!is_text) break;
      const char *v = (const char *)sqlite3_value_text(atom);
      int e = id == OPT_INIT ? gmm_init_from_name(v) : gmm_cov_type_from_name(v);
      if (id == OPT_COVARIANCE_TYPE && e != GMM_COV_FULL) e = -1; /* the one type of v1 */
      if (e < 0) {
        option_error(ctx, st, name,
                     id == OPT_INIT ? "one of 'kmeans', 'k-means++', 'random', 'random_from_data'"
                                    : "'full'",
                     type, atom, 0);
        return -1;
      }
      if (id == OPT_INIT)
        o->init = (gmm_init_method)e;
      else
        o->covariance_type = (gmm_cov_type)e;
      return 0;
    }
    case OPT_COUNT: break;
  }
  const char *want = id == OPT_TOL || id == OPT_REG_COVAR          ? "a number"
                     : id == OPT_INIT || id == OPT_COVARIANCE_TYPE ? "a string"
                                                                   : "an integer";
  option_error(ctx, st, name, want, type, atom, 1);
  return -1;
}

/* The JSON type of the spec through json_type(), or NULL after reporting
** malformed JSON. */
static char *spec_json_type(sqlite3_context *ctx, fit_state *st, sqlite3_value *spec) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt *stmt = NULL;
  char *type = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT json_type(?1)", -1, &stmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_value(stmt, 1, spec);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      type = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(stmt, 0));
      if (!type) rc = SQLITE_NOMEM;
    }
  }
  if (rc == SQLITE_NOMEM) {
    st->failed = 1;
    sqlite3_result_error_nomem(ctx);
  } else if (!type) {
    fit_error(ctx, st, "gmm_fit: argument 1 (spec) is not valid JSON: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  return type;
}

/* Parses a JSON object spec through json_each on this connection. */
static int parse_json_spec(sqlite3_context *ctx, fit_state *st, sqlite3_value *spec) {
  char *json_type = spec_json_type(ctx, st, spec);
  if (!json_type) return -1;
  int is_object = strcmp(json_type, "object") == 0;
  sqlite3_free(json_type);
  if (!is_object) {
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendall(s,
                          "gmm_fit: argument 1 (spec) must be an INTEGER k or a JSON object, "
                          "provided TEXT ");
    gmm_str_append_quoted(s, (const char *)sqlite3_value_text(spec));
    fit_error_str(ctx, st, s);
    return -1;
  }
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt *stmt = NULL;
  int seen[OPT_COUNT] = {0};
  int rc = sqlite3_prepare_v2(db, "SELECT key, type, atom FROM json_each(?1)", -1, &stmt, NULL);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_NOMEM) {
      st->failed = 1;
      sqlite3_result_error_nomem(ctx);
    } else {
      fit_error(ctx, st, "gmm_fit: JSON options need SQLite's JSON functions: %s",
                sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    return -1;
  }
  sqlite3_bind_value(stmt, 1, spec);
  int status = 0;
  while (status == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(stmt, 0);
    const char *type = (const char *)sqlite3_column_text(stmt, 1);
    if (!key || !type) {
      status = -1;
      sqlite3_result_error_nomem(ctx);
      st->failed = 1;
      break;
    }
    int id = 0;
    while (id < OPT_COUNT && strcmp(key, option_names[id]) != 0) id++;
    if (id == OPT_COUNT) {
      sqlite3_str *s = sqlite3_str_new(db);
      sqlite3_str_appendall(s, "gmm_fit: unknown option ");
      gmm_str_append_quoted(s, key);
      sqlite3_str_appendall(s, " in argument 1 (spec); known options: " KNOWN_OPTIONS);
      fit_error_str(ctx, st, s);
      status = -1;
    } else if (seen[id]++) {
      fit_error(ctx, st, "gmm_fit: option %s is given twice", key);
      status = -1;
    } else {
      status = apply_option(ctx, st, (option_id)id, type, sqlite3_column_value(stmt, 2));
    }
  }
  if (status == 0 && rc != SQLITE_DONE) {
    st->failed = 1;
    if (rc == SQLITE_NOMEM)
      sqlite3_result_error_nomem(ctx);
    else
      fit_error(ctx, st, "gmm_fit: argument 1 (spec) could not be read: %s", sqlite3_errmsg(db));
    status = -1;
  }
  sqlite3_finalize(stmt);
  if (status != 0) return -1;
  if (!seen[OPT_K]) {
    fit_error(ctx, st, "gmm_fit: option k is required in argument 1 (spec)");
    return -1;
  }
  return 0;
}

static int parse_spec(sqlite3_context *ctx, fit_state *st, sqlite3_value *spec) {
  gmm_options_default(&st->opt, 1);
  st->spec_type = sqlite3_value_type(spec);
  if (st->spec_type == SQLITE_INTEGER) {
    st->spec_int = sqlite3_value_int64(spec);
    if (st->spec_int < 1 || st->spec_int > GMM_MAX_K) {
      fit_error(ctx, st, "gmm_fit: argument 1 (spec) k must be between 1 and %d, provided %lld",
                GMM_MAX_K, st->spec_int);
      return -1;
    }
    st->opt.k = (int)st->spec_int;
    return 0;
  }
  if (st->spec_type == SQLITE_TEXT) {
    const unsigned char *text = sqlite3_value_text(spec);
    st->spec_len = sqlite3_value_bytes(spec);
    st->spec_text = sqlite3_malloc64((sqlite3_uint64)st->spec_len + 1);
    if (!text || !st->spec_text) {
      st->failed = 1;
      sqlite3_result_error_nomem(ctx);
      return -1;
    }
    memcpy(st->spec_text, text, (size_t)st->spec_len + 1);
    return parse_json_spec(ctx, st, spec);
  }
  fit_error(ctx, st,
            "gmm_fit: argument 1 (spec) must be an INTEGER k or a JSON object, "
            "provided %s",
            st->spec_type == SQLITE_NULL    ? "NULL"
            : st->spec_type == SQLITE_FLOAT ? "a REAL"
                                            : "a BLOB");
  return -1;
}

/* gmm_fit (2): the spec of a later row must equal the first row's. */
static int same_spec(const fit_state *st, sqlite3_value *spec) {
  if (sqlite3_value_type(spec) != st->spec_type) return 0;
  if (st->spec_type == SQLITE_INTEGER) return sqlite3_value_int64(spec) == st->spec_int;
  const unsigned char *text = sqlite3_value_text(spec);
  return text && sqlite3_value_bytes(spec) == st->spec_len &&
         memcmp(text, st->spec_text, (size_t)st->spec_len) == 0;
}

/* Room for one more row; doubles the buffer as it fills. */
static int reserve_row(sqlite3_context *ctx, fit_state *st) {
  if (st->n < st->cap) return 0;
  size_t cap = st->cap ? st->cap * 2 : 64;
  sqlite3_uint64 bytes = (sqlite3_uint64)cap * (sqlite3_uint64)st->d * sizeof(double);
  if (cap < st->cap || bytes / sizeof(double) / (sqlite3_uint64)st->d != cap) {
    fit_error(ctx, st, "gmm_fit: too many rows to buffer (%llu)", (unsigned long long)st->n);
    return -1;
  }
  double *rows = sqlite3_realloc64(st->rows, bytes);
  if (!rows) {
    st->failed = 1;
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  st->rows = rows;
  st->cap = cap;
  return 0;
}

void gmm_fit_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  fit_state *st = sqlite3_aggregate_context(ctx, (int)sizeof(fit_state));
  if (!st) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (st->failed) return;
  if (!st->started) {
    if (argc < 2) {
      fit_error(ctx, st,
                "gmm_fit: expected a spec and at least one feature, provided %d "
                "argument%s",
                argc, argc == 1 ? "" : "s");
      return;
    }
    if (argc - 1 > GMM_MAX_D) {
      fit_error(ctx, st, "gmm_fit: too many features, provided %d, maximum %d", argc - 1,
                GMM_MAX_D);
      return;
    }
    if (parse_spec(ctx, st, argv[0]) != 0) return;
    st->d = argc - 1;
    st->started = 1;
  } else if (!same_spec(st, argv[0])) {
    fit_error(ctx, st, "gmm_fit: argument 1 (spec) must be the same on every row of a group");
    return;
  }
  st->n_seen++;
  if (reserve_row(ctx, st) != 0) return;
  double *row = st->rows + st->n * (size_t)st->d;
  for (int j = 0; j < st->d; j++) {
    gmm_feature_read r =
        gmm_read_feature(ctx, "gmm_fit", argv[j + 1], j + 2, j + 1, st->n_seen, &row[j]);
    if (r == GMM_FEATURE_ERROR) {
      st->failed = 1;
      return;
    }
    if (r == GMM_FEATURE_NULL) {
      /* Keep reading: a later argument may still be an error to report. */
      for (int t = j + 1; t < st->d; t++) {
        double ignored;
        if (gmm_read_feature(ctx, "gmm_fit", argv[t + 1], t + 2, t + 1, st->n_seen, &ignored) ==
            GMM_FEATURE_ERROR) {
          st->failed = 1;
          return;
        }
      }
      st->n_skipped++;
      return;
    }
  }
  st->n++;
}

void gmm_fit_final(sqlite3_context *ctx) {
  fit_state *st = sqlite3_aggregate_context(ctx, 0);
  if (!st) return; /* no row at all: NULL */
  if (!st->failed && st->n > 0) {
    gmm_data data = {st->rows, st->n, st->d, NULL, st->n_skipped};
    gmm_model *m = NULL;
    char err[512];
    gmm_status rc =
        gmm_fit(&data, &st->opt, &gmm_sqlite_allocator, NULL, NULL, &m, err, sizeof err);
    if (rc == GMM_ENOMEM) {
      sqlite3_result_error_nomem(ctx);
    } else if (rc != GMM_OK) {
      fit_error(ctx, st, "gmm_fit: %s", err);
    } else {
      size_t size = gmm_blob_size(m);
      unsigned char *blob = size ? sqlite3_malloc64(size) : NULL;
      if (!blob) {
        sqlite3_result_error_nomem(ctx);
      } else {
        gmm_blob_write(m, blob);
        sqlite3_result_blob64(ctx, blob, size, sqlite3_free);
      }
      gmm_model_free(m);
    }
  }
  sqlite3_free(st->rows);
  sqlite3_free(st->spec_text);
  st->rows = NULL;
  st->spec_text = NULL;
}
