/*
** gmm_ext.c -- the gmm SQLite extension's entry point, and what every SQL
** function of it shares.
**
** Load it with ".load ./gmm" in the sqlite3 shell, or
** sqlite3_load_extension(db, "./gmm", 0, &err) from C; the entry point is
** sqlite3_gmm_init. It registers:
**
**   gmm_fit(spec, x1, ..., xd)            aggregate   gmm_fit_sql.c
**   gmm_predict(model, x1, ..., xd)       scalar      gmm_apply.c
**   gmm_predict_proba(model, x1, ..., xd) scalar      gmm_apply.c
**   gmm_score(model, x1, ..., xd)         scalar      gmm_apply.c
**   gmm_impute(model, x1, ..., xd)        scalar      gmm_apply.c
**   gmm_info(model), gmm_bic(model), gmm_aic(model), gmm_icl(model), gmm_converged(model)
**                                         scalar      gmm_apply.c
**   gmm_init(spec, [weight,] x1, ..., xd) aggregate   gmm_pass_sql.c
**   gmm_estep(model, [weight,] x1, ..., xd), gmm_merge(blob)
**                                         aggregate   gmm_pass_sql.c
**   gmm_start(state), gmm_mstep(model, stats), gmm_stats_info(blob)
**                                         scalar      gmm_pass_sql.c
**   gmm_version(), gmm_debug()            scalar      this file
**   gmm_components(model), gmm_sample(model, n [, seed]),
**   gmm_impute_draws(model, vector, n [, seed])
**                                         table       gmm_vtab.c
**
** Requirements (tests cite them as "ext (N)"):
**  (1) gmm_version() returns the version text, e.g. '0.2.0'.
**  (2) gmm_debug() returns the version, the SQLite versions it was built
**      against and runs on, the compiler and the build flags, one per line.
**  (3) Every error text starts with the function's name and a colon.
**  (4) A feature must be INTEGER or REAL: NULL is reported to the caller
**      (a missing feature, DESIGN §1), anything else (TEXT, BLOB, +-Inf) is
**      an error naming the row (for gmm_fit), the argument and the value.
**      SQLite stores a NaN as NULL before any function sees it, so a bound
**      NaN arrives as NULL: a missing feature, not an error.
**  (5) A function given a single TEXT or BLOB where features go reads it as
**      a vector: a JSON array of numbers, or little-endian IEEE floats as
**      sqlite-vec stores them, float32 (4 bytes a value) unless the expected
**      d is known and the BLOB is 8*d bytes long, or gmm_fit's option
**      vector_type says 'float64'. A JSON null element is a missing value
**      (NaN to the core), as a NULL feature is; an array of nulls only is a
**      row with every feature missing. Every other value must be finite
**      (a NaN or an infinity in a BLOB, a number too large for a double in
**      JSON, are errors).
*/
#include "gmm_sqlite.h"
SQLITE_EXTENSION_INIT1

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GMM_BUILD_FLAGS
#define GMM_BUILD_FLAGS "unknown"
#endif

static void *sqlite_alloc(void *ctx, size_t n) {
  (void)ctx;
  return sqlite3_malloc64((sqlite3_uint64)n);
}

static void sqlite_release(void *ctx, void *p) {
  (void)ctx;
  sqlite3_free(p);
}

const gmm_allocator gmm_sqlite_allocator = {sqlite_alloc, sqlite_release, NULL};

/* ---- errors: ext (3) ---- */

static void result_error_text(sqlite3_context *ctx, char *msg) {
  if (msg)
    sqlite3_result_error(ctx, msg, -1);
  else
    sqlite3_result_error_nomem(ctx);
  sqlite3_free(msg);
}

void gmm_result_errorf(sqlite3_context *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  result_error_text(ctx, msg);
}

void gmm_result_error_str(sqlite3_context *ctx, sqlite3_str *s) {
  result_error_text(ctx, sqlite3_str_finish(s));
}

/* ---- features: ext (4) ---- */

int gmm_utf8_prefix(const char *text, int max_bytes) {
  int n = 0;
  while (n < max_bytes && text[n]) n++;
  if (text[n] == 0) return n;
  /* Back up over continuation bytes (10xxxxxx) to a character boundary. */
  while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
  return n;
}

void gmm_str_append_quoted(sqlite3_str *s, const char *text) {
  int n = gmm_utf8_prefix(text, 40);
  sqlite3_str_appendf(s, "'%.*s%s'", n, text, text[n] ? "..." : "");
}

/* The fewest significant digits (15 to 17) that read back as exactly the
** finite v, into buf (32 bytes). */
static char *gmm_shortest_double(double v, char buf[32]) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(buf, NULL) == v) break;
  }
  return buf;
}

void gmm_str_append_value(sqlite3_str *s, sqlite3_value *v) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_TEXT: {
      const char *t = (const char *)sqlite3_value_text(v);
      sqlite3_str_appendall(s, "TEXT ");
      gmm_str_append_quoted(s, t ? t : "");
      break;
    }
    case SQLITE_BLOB: {
      int n = sqlite3_value_bytes(v);
      sqlite3_str_appendf(s, "a BLOB of %d byte%s", n, n == 1 ? "" : "s");
      break;
    }
    case SQLITE_NULL: sqlite3_str_appendall(s, "NULL"); break;
    default: {
      char buf[32];
      sqlite3_str_appendall(s, gmm_number_text(v, buf));
    }
  }
}

char *gmm_number_text(sqlite3_value *v, char buf[32]) {
  if (sqlite3_value_type(v) == SQLITE_INTEGER) {
    snprintf(buf, 32, "%lld", sqlite3_value_int64(v));
    return buf;
  }
  double d = sqlite3_value_double(v);
  if (isnan(d)) {
    snprintf(buf, 32, "NaN");
  } else if (isinf(d)) {
    snprintf(buf, 32, "%s", d > 0 ? "Inf" : "-Inf");
  } else {
    gmm_shortest_double(d, buf);
    /* A REAL with an integral value must not read as an INTEGER. */
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
  }
  return buf;
}

int gmm_check_length(sqlite3_context *ctx, const char *fn, const char *what,
                     sqlite3_uint64 n_bytes) {
  int limit = sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1);
  if (n_bytes <= (sqlite3_uint64)limit) return SQLITE_OK;
  gmm_result_errorf(ctx,
                    "%s: %s takes %llu bytes, more than this connection's "
                    "SQLITE_LIMIT_LENGTH (%d)",
                    fn, what, n_bytes, limit);
  return SQLITE_TOOBIG;
}

int gmm_result_json(sqlite3_context *ctx, const char *fn, sqlite3_str *s) {
  int len = sqlite3_str_length(s);
  int err = sqlite3_str_errcode(s);
  char *text = sqlite3_str_finish(s);
  if (err == SQLITE_TOOBIG) {
    /* Beyond SQLITE_MAX_LENGTH, where a string built without a connection
    ** (so that its full length is known below) stops. */
    sqlite3_free(text);
    gmm_result_errorf(ctx, "%s: the JSON result is longer than SQLite's largest string", fn);
    return SQLITE_TOOBIG;
  }
  if (!text || err != SQLITE_OK) {
    sqlite3_free(text);
    sqlite3_result_error_nomem(ctx);
    return SQLITE_NOMEM;
  }
  if (gmm_check_length(ctx, fn, "the JSON result", (sqlite3_uint64)len) != SQLITE_OK) {
    sqlite3_free(text);
    return SQLITE_TOOBIG;
  }
  sqlite3_result_text(ctx, text, len, sqlite3_free);
  sqlite3_result_subtype(ctx, GMM_JSON_SUBTYPE);
  return SQLITE_OK;
}

gmm_feature_read gmm_read_number(sqlite3_context *ctx, const char *fn, sqlite3_value *v, int arg_no,
                                 const char *arg_name, sqlite3_int64 row, double *out) {
  int type = sqlite3_value_type(v);
  if (type == SQLITE_NULL) return GMM_FEATURE_NULL;
  if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
    *out = sqlite3_value_double(v);
    if (isfinite(*out)) return GMM_FEATURE_OK;
  }
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "%s: ", fn);
  if (row > 0) sqlite3_str_appendf(s, "row %lld, ", row);
  sqlite3_str_appendf(s, "argument %d (%s) must be a finite INTEGER or REAL, provided ", arg_no,
                      arg_name);
  gmm_str_append_value(s, v);
  gmm_result_error_str(ctx, s);
  return GMM_FEATURE_ERROR;
}

gmm_feature_read gmm_read_feature(sqlite3_context *ctx, const char *fn, sqlite3_value *v,
                                  int arg_no, int feature_no, sqlite3_int64 row, double *out) {
  /* The common case first: the name is formatted only for an error. */
  int type = sqlite3_value_type(v);
  if (type == SQLITE_FLOAT || type == SQLITE_INTEGER) {
    *out = sqlite3_value_double(v);
    if (isfinite(*out)) return GMM_FEATURE_OK;
  }
  if (type == SQLITE_NULL) {
    *out = (double)NAN; /* a missing feature: ext (4) */
    return GMM_FEATURE_NULL;
  }
  char name[16];
  sqlite3_snprintf((int)sizeof name, name, "x%d", feature_no);
  return gmm_read_number(ctx, fn, v, arg_no, name, row, out);
}

/* ---- vectors: ext (5) ---- */

/* Parses a JSON array of numbers and nulls, strictly (RFC 8259 numbers, no
** NaN or Infinity); a null is stored as NaN, a missing value: ext (5).
** Vectors arrive once per row, so they are read here rather than through a
** json_each statement per row. Returns the count, -1 when the text is not
** such an array, -2 when it has more than max values. */
static int parse_json_numbers(const char *p, double *out, int max) {
  int n = 0;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != '[') return -1;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == ']' && n == 0) {
      p++;
      break;
    }
    double value;
    if (strncmp(p, "null", 4) == 0) {
      value = (double)NAN;
      p += 4;
    } else {
      const char *start = p;
      if (*p == '-') p++;
      if (!(*p >= '0' && *p <= '9')) return -1;
      if (*p == '0' && p[1] >= '0' && p[1] <= '9') return -1; /* no leading zeros */
      while (*p >= '0' && *p <= '9') p++;
      if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return -1;
        while (*p >= '0' && *p <= '9') p++;
      }
      if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return -1;
        while (*p >= '0' && *p <= '9') p++;
      }
      value = strtod(start, NULL);
    }
    if (n == max) return -2;
    out[n++] = value;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p++ != ']') return -1;
    break;
  }
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return *p == 0 ? n : -1;
}

static float float32_le(const unsigned char *p) {
  uint32_t bits =
      (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static double float64_le(const unsigned char *p) {
  uint64_t bits = 0;
  for (int i = 7; i >= 0; i--) bits = bits << 8 | p[i];
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* The start of every vector error: "<fn>: [row R, ]argument A (vector) ". */
static sqlite3_str *vector_error(sqlite3 *db, const char *fn, int arg_no, sqlite3_int64 row) {
  sqlite3_str *s = sqlite3_str_new(db);
  sqlite3_str_appendf(s, "%s: ", fn);
  if (row > 0) sqlite3_str_appendf(s, "row %lld, ", row);
  sqlite3_str_appendf(s, "argument %d (vector) ", arg_no);
  return s;
}

int gmm_parse_vector(sqlite3 *db, const char *fn, sqlite3_value *v, int arg_no, sqlite3_int64 row,
                     int expect_d, int blob_f64, double *out, char **errmsg) {
  int type = sqlite3_value_type(v), n;
  sqlite3_str *s = NULL;
  *errmsg = NULL;
  if (type == SQLITE_BLOB) {
    const unsigned char *p = sqlite3_value_blob(v);
    int bytes = sqlite3_value_bytes(v);
    if (blob_f64 < 0) blob_f64 = expect_d > 0 && bytes == 8 * expect_d; /* ext (5): by d */
    int width = blob_f64 ? 8 : 4;
    n = bytes / width;
    if (bytes % width != 0 || n == 0 || n > GMM_MAX_D || !p) {
      s = vector_error(db, fn, arg_no, row);
      sqlite3_str_appendf(s, "must hold 1 to %d %s values, provided a BLOB of %d byte%s", GMM_MAX_D,
                          blob_f64 ? "float64" : "float32", bytes, bytes == 1 ? "" : "s");
    } else {
      for (int i = 0; i < n; i++)
        out[i] = blob_f64 ? float64_le(p + 8 * i) : (double)float32_le(p + 4 * i);
      /* A BLOB has no null: a NaN there is a NaN, an error. */
      for (int i = 0; i < n && !s; i++)
        if (!isfinite(out[i])) {
          s = vector_error(db, fn, arg_no, row);
          sqlite3_str_appendf(s, "value %d is not finite", i + 1);
        }
    }
  } else if (type == SQLITE_TEXT) {
    const char *text = (const char *)sqlite3_value_text(v);
    n = text ? parse_json_numbers(text, out, GMM_MAX_D) : -1;
    if (n <= 0) {
      s = vector_error(db, fn, arg_no, row);
      sqlite3_str_appendf(s, "must be a JSON array of 1 to %d numbers or a float32 BLOB, provided ",
                          GMM_MAX_D);
      gmm_str_append_value(s, v);
    }
    /* NaN is a null element here; a number beyond the doubles is infinite. */
    for (int i = 0; i < n && !s; i++)
      if (isinf(out[i])) {
        s = vector_error(db, fn, arg_no, row);
        sqlite3_str_appendf(s, "value %d is not finite", i + 1);
      }
  } else {
    n = -1;
    s = vector_error(db, fn, arg_no, row);
    sqlite3_str_appendall(s, "must be a JSON array or a float32 BLOB, provided ");
    gmm_str_append_value(s, v);
  }
  if (!s && expect_d > 0 && n != expect_d) {
    s = vector_error(db, fn, arg_no, row);
    sqlite3_str_appendf(s, "has %d value%s, expected %d", n, n == 1 ? "" : "s", expect_d);
  }
  if (!s) return n;
  *errmsg = sqlite3_str_finish(s);
  return -1;
}

int gmm_read_vector(sqlite3_context *ctx, const char *fn, sqlite3_value *v, int arg_no,
                    sqlite3_int64 row, int expect_d, int blob_f64, double *out) {
  char *msg = NULL;
  int n = gmm_parse_vector(sqlite3_context_db_handle(ctx), fn, v, arg_no, row, expect_d, blob_f64,
                           out, &msg);
  if (n < 0) result_error_text(ctx, msg);
  return n;
}

int gmm_count_missing(const double *x, int d) {
  int n = 0;
  for (int j = 0; j < d; j++) n += isnan(x[j]) != 0;
  return n;
}

/* ---- JSON numbers ---- */

void gmm_str_append_double(sqlite3_str *s, double v) {
  if (!isfinite(v)) {
    sqlite3_str_appendall(s, "null"); /* JSON has no infinities */
    return;
  }
  char buf[32];
  sqlite3_str_appendall(s, gmm_shortest_double(v, buf));
}

void gmm_str_append_array(sqlite3_str *s, const double *v, size_t n) {
  sqlite3_str_appendchar(s, 1, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) sqlite3_str_appendchar(s, 1, ',');
    gmm_str_append_double(s, v[i]);
  }
  sqlite3_str_appendchar(s, 1, ']');
}

/* ---- gmm_version, gmm_debug: ext (1), (2) ---- */

static void version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, GMM_VERSION, -1, SQLITE_STATIC);
}

static void debug_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  char *text = sqlite3_mprintf(
      "Version: %s\nSQLite headers: %s\nSQLite library: %s\nBLOB format: %d\n"
      "Compiler: %s\nBuild flags: %s",
      GMM_VERSION, SQLITE_VERSION, sqlite3_libversion(), GMM_BLOB_VERSION,
#if defined(__clang__)
      "clang " __clang_version__,
#elif defined(__GNUC__)
      "gcc " __VERSION__,
#else
      "unknown",
#endif
      GMM_BUILD_FLAGS);
  if (!text) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, text, -1, sqlite3_free);
}

/* ---- registration ---- */

#ifdef SQLITE_MUTEX_STATIC_MAIN
#define GMM_MUTEX_STATIC_MAIN SQLITE_MUTEX_STATIC_MAIN
#else
#define GMM_MUTEX_STATIC_MAIN SQLITE_MUTEX_STATIC_MASTER /* its name before 3.35 */
#endif

#define GMM_FLAGS (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)

static const struct gmm_function {
  const char *name;
  int n_arg; /* -1: variadic, checked by the function */
  int flags;
  int uses_cache;
  void (*x_func)(sqlite3_context *, int, sqlite3_value **);
  void (*x_step)(sqlite3_context *, int, sqlite3_value **);
  void (*x_final)(sqlite3_context *);
} gmm_functions[] = {
    {"gmm_version", 0, GMM_FLAGS, 0, version_func, NULL, NULL},
    {"gmm_debug", 0, GMM_FLAGS, 0, debug_func, NULL, NULL},
    {"gmm_fit", -1, GMM_FLAGS, 0, NULL, gmm_fit_step, gmm_fit_final},
    {"gmm_init", -1, GMM_FLAGS, 0, NULL, gmm_init_step, gmm_init_final},
    {"gmm_start", 1, GMM_FLAGS, 0, gmm_start_func, NULL, NULL},
    {"gmm_estep", -1, GMM_FLAGS, 0, NULL, gmm_estep_step, gmm_estep_final},
    {"gmm_merge", 1, GMM_FLAGS, 0, NULL, gmm_merge_step, gmm_merge_final},
    {"gmm_mstep", 2, GMM_FLAGS, 0, gmm_mstep_func, NULL, NULL},
    {"gmm_stats_info", 1, GMM_FLAGS | SQLITE_RESULT_SUBTYPE, 0, gmm_stats_info_func, NULL, NULL},
    {"gmm_predict", -1, GMM_FLAGS, 1, gmm_predict_func, NULL, NULL},
    {"gmm_predict_proba", -1, GMM_FLAGS | SQLITE_RESULT_SUBTYPE, 1, gmm_predict_proba_func, NULL,
     NULL},
    {"gmm_score", -1, GMM_FLAGS, 1, gmm_score_func, NULL, NULL},
    {"gmm_impute", -1, GMM_FLAGS | SQLITE_RESULT_SUBTYPE, 1, gmm_impute_func, NULL, NULL},
    {"gmm_info", 1, GMM_FLAGS | SQLITE_RESULT_SUBTYPE, 1, gmm_info_func, NULL, NULL},
    {"gmm_bic", 1, GMM_FLAGS, 1, gmm_bic_func, NULL, NULL},
    {"gmm_aic", 1, GMM_FLAGS, 1, gmm_aic_func, NULL, NULL},
    {"gmm_icl", 1, GMM_FLAGS, 1, gmm_icl_func, NULL, NULL},
    {"gmm_converged", 1, GMM_FLAGS, 1, gmm_converged_func, NULL, NULL},
};

/* sqlite3_is_interrupted is asked only of a library that has it (3.41 and
** later), checked at run time, so one module serves every SQLite. Built
** with older headers, the loadable module still finds it: the routine table
** SQLite hands an extension only ever grows at its end (sqlite3ext.h keeps it
** backwards compatible), and in 3.41 is_interrupted follows value_encoding,
** the last entry of 3.40's table. Linked in (SQLITE_CORE) with older
** headers, the program's library is taken to be that old one: the probe
** answers. */
#if SQLITE_VERSION_NUMBER < 3041000 && !defined(SQLITE_CORE)
typedef struct api_routines_3041 {
  sqlite3_api_routines v3040;
  int (*is_interrupted)(sqlite3 *);
} api_routines_3041;
#endif

/* The probe's text says whose it is, for anyone tracing statements. */
#define GMM_INTERRUPT_PROBE "SELECT 1 /* gmm: is the connection interrupted? */"

int gmm_is_interrupted(sqlite3 *db, sqlite3_stmt **probe) {
  if (sqlite3_libversion_number() >= 3041000) {
#if SQLITE_VERSION_NUMBER >= 3041000
    return sqlite3_is_interrupted(db);
#elif !defined(SQLITE_CORE)
    return ((const api_routines_3041 *)(const void *)sqlite3_api)->is_interrupted(db);
#endif
  }
  /* SQLite's parser stops on an interrupted connection too: a probe that
  ** cannot be prepared for that reason answers as its step would. The
  ** prepare is what answers when the fit runs as SQLite finalizes the
  ** aggregate of a statement that has already stopped (interrupted while it
  ** read the rows): no statement is active then, and a step would clear
  ** the interrupt rather than report it. */
  int rc = SQLITE_OK;
  if (!*probe) {
    rc = sqlite3_prepare_v2(db, GMM_INTERRUPT_PROBE, -1, probe, NULL);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(*probe);
      *probe = NULL;
    }
  }
  if (*probe) {
    rc = sqlite3_step(*probe);
    sqlite3_reset(*probe);
  }
  return rc == SQLITE_INTERRUPT;
}

/* The one symbol the loadable module exports (the build hides the rest). */
#if defined(_WIN32)
#define GMM_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define GMM_EXPORT __attribute__((visibility("default")))
#else
#define GMM_EXPORT
#endif

GMM_EXPORT int sqlite3_gmm_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
#ifndef SQLITE_CORE
  /* The API pointer is the extension's one global. Loads on several
  ** connections at once would all write it while other threads read it:
  ** the first load writes it, under SQLite's main mutex, later loads find it
  ** set. */
  sqlite3_mutex *main_mutex = pApi->mutex_alloc(GMM_MUTEX_STATIC_MAIN);
  pApi->mutex_enter(main_mutex);
  if (sqlite3_api != pApi) SQLITE_EXTENSION_INIT2(pApi);
  pApi->mutex_leave(main_mutex);
#else
  (void)pApi;
#endif
  (void)pzErrMsg;
  gmm_cache *cache = gmm_cache_new();
  if (!cache) return SQLITE_NOMEM;
  gmm_cache_ref(cache); /* held until registration is over */
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof gmm_functions / sizeof gmm_functions[0]; i++) {
    const struct gmm_function *f = &gmm_functions[i];
    /* On failure SQLite itself calls the destructor, dropping the
    ** reference taken here. */
    if (f->uses_cache) gmm_cache_ref(cache);
    /* The others' user data is their name, for errors of shared code. */
    void *user_data = f->uses_cache ? (void *)cache : (void *)f->name;
    rc = sqlite3_create_function_v2(db, f->name, f->n_arg, f->flags, user_data,
                                    f->x_func, f->x_step, f->x_final,
                                    f->uses_cache ? gmm_cache_unref : NULL);
  }
  gmm_cache_unref(cache);
  if (rc == SQLITE_OK) rc = gmm_register_vtabs(db);
  return rc;
}
