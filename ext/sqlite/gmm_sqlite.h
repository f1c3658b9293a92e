/*
** gmm_sqlite.h -- what the binding's files share: the SQLite API pointer,
** the allocator handed to the core, feature reading, JSON number output,
** and the functions each file registers.
*/
#ifndef GMM_SQLITE_H
#define GMM_SQLITE_H

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "../core/gmm.h"

/* JSON results carry SQLite's JSON subtype ('J') so that json_object() and
** friends embed them as JSON rather than as strings. */
#define GMM_JSON_SUBTYPE 74

/* SQLite 3.45 asks functions that set a result subtype to say so with
** SQLITE_RESULT_SUBTYPE. Older libraries drop flag bits they do not know, so
** the flag is passed whatever the headers the build sees. */
#ifndef SQLITE_RESULT_SUBTYPE
#define SQLITE_RESULT_SUBTYPE 0x001000000
#endif

/* Whether the connection has been interrupted (sqlite3_interrupt, Ctrl-C
** in the shell), asked while one of its statements runs (from inside a
** function). SQLite 3.41 and later answer through sqlite3_is_interrupted,
** whatever the version of the headers the module was built with. Older
** libraries have no such call, but SQLite documents that a statement started
** on an interrupted connection while another still runs is interrupted too:
** there a one-row probe statement is prepared in *probe (on the first call;
** the caller finalizes it) and stepped. A probe that cannot be prepared (no
** memory) answers 0: the fit goes on. gmm_ext.c. */
int gmm_is_interrupted(sqlite3 *db, sqlite3_stmt **probe);

/* The core's allocator over sqlite3_malloc64 / sqlite3_free, so SQLite's
** accounting and fault injection see every byte the core takes. */
extern const gmm_allocator gmm_sqlite_allocator;

/* Sets the error result: a printf-style message (SQLite's printf), or the
** text built in s (which is finished and freed). Out of memory becomes
** SQLITE_NOMEM. */
void gmm_result_errorf(sqlite3_context *ctx, const char *fmt, ...);
void gmm_result_error_str(sqlite3_context *ctx, sqlite3_str *s);

/* Outcome of reading one feature argument. */
typedef enum { GMM_FEATURE_OK, GMM_FEATURE_NULL, GMM_FEATURE_ERROR } gmm_feature_read;

/* Reads argument arg_no (1-based, as the user counts) into *out: a number
** named arg_name, or feature number feature_no (named x1, x2, ...). INTEGER
** and REAL are accepted; NULL is reported (gmm_read_feature then sets *out
** to NaN, a missing feature); TEXT, BLOB and non-finite values set an error
** on ctx naming the function, the row (when row > 0), the argument and the
** value. */
gmm_feature_read gmm_read_number(sqlite3_context *ctx, const char *fn, sqlite3_value *v, int arg_no,
                                 const char *arg_name, sqlite3_int64 row, double *out);
gmm_feature_read gmm_read_feature(sqlite3_context *ctx, const char *fn, sqlite3_value *v,
                                  int arg_no, int feature_no, sqlite3_int64 row, double *out);

/* Reads a vector argument (ext (5)) into out, which has room for GMM_MAX_D
** doubles; a JSON null element is stored as NaN (a missing value), which
** the caller counts (gmm_count_missing). expect_d > 0 is the d it must
** have; blob_f64 says how a BLOB is read: 1 float64, 0 float32, -1 float64
** when it is 8 * expect_d bytes. Returns the number of values, or -1 after
** setting an error on ctx that names the function, the row (when row > 0)
** and the argument. */
int gmm_read_vector(sqlite3_context *ctx, const char *fn, sqlite3_value *v, int arg_no,
                    sqlite3_int64 row, int expect_d, int blob_f64, double *out);
/* The same without a context (for virtual tables): -1 with *errmsg the
** error text (sqlite3_malloc'd, NULL when memory ran out); db may be NULL. */
int gmm_parse_vector(sqlite3 *db, const char *fn, sqlite3_value *v, int arg_no, sqlite3_int64 row,
                     int expect_d, int blob_f64, double *out, char **errmsg);
/* The number of NaN (missing) values among x[0 .. d-1]. */
int gmm_count_missing(const double *x, int d);

/* Length in bytes of the longest prefix of text of at most max_bytes that
** ends on a UTF-8 character boundary; and text quoted for an error message,
** cut to 40 bytes at such a boundary with "..." when longer. */
int gmm_utf8_prefix(const char *text, int max_bytes);
void gmm_str_append_quoted(sqlite3_str *s, const char *text);

/* A value as error messages show it: NULL, 12, 1.5, 1000.0 (a REAL that
** looks like an integer), Inf, TEXT 'abc', a BLOB of 3 bytes. */
void gmm_str_append_value(sqlite3_str *s, sqlite3_value *v);
/* A number as error messages show it, into buf (32 bytes): an INTEGER as
** such, a REAL as the shortest text that reads back as it (".0" added when
** it looks like an integer; NaN, Inf, -Inf). gmm's own text, not SQLite's
** REAL-to-text conversion, which changed between SQLite versions: a message
** is the same on every SQLite. Returns buf. */
char *gmm_number_text(sqlite3_value *v, char buf[32]);

/* Finishes the JSON text built in s as the result, with the JSON subtype.
** Returns SQLITE_OK, or SQLITE_NOMEM / SQLITE_TOOBIG with the error set on
** ctx (naming fn when the text exceeds SQLITE_LIMIT_LENGTH). */
int gmm_result_json(sqlite3_context *ctx, const char *fn, sqlite3_str *s);

/* SQLITE_OK when a result of n_bytes fits the connection's
** SQLITE_LIMIT_LENGTH; else SQLITE_TOOBIG with an error on ctx:
** "<fn>: <what> takes N bytes, more than this connection's
** SQLITE_LIMIT_LENGTH (M)". */
int gmm_check_length(sqlite3_context *ctx, const char *fn, const char *what,
                     sqlite3_uint64 n_bytes);

/* Appends the shortest decimal text that reads back as exactly v (null for
** a non-finite v, as JSON has no infinities), and JSON arrays of doubles. */
void gmm_str_append_double(sqlite3_str *s, double v);
void gmm_str_append_array(sqlite3_str *s, const double *v, size_t n);
/* Covariances in scikit-learn's shapes: all of a model's (full k x d x d,
** tied d x d, diag k x d, spherical k), or component j's (full and tied
** d x d, diag d, spherical a number). */
void gmm_str_append_covariances(sqlite3_str *s, const gmm_model *m);
void gmm_str_append_component_covariance(sqlite3_str *s, const gmm_model *m, int j);

/* The SQL functions, registered from the one table in gmm_ext.c. */
void gmm_fit_step(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_fit_final(sqlite3_context *ctx);
void gmm_predict_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_score_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_impute_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_bic_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_aic_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_icl_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_converged_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
/* Passes (gmm_pass_sql.c). */
void gmm_estep_step(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_estep_final(sqlite3_context *ctx);
void gmm_init_step(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_init_final(sqlite3_context *ctx);
void gmm_merge_step(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_merge_final(sqlite3_context *ctx);
void gmm_start_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_mstep_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void gmm_stats_info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* The table-valued functions gmm_components, gmm_sample and
** gmm_impute_draws (gmm_vtab.c). */
int gmm_register_vtabs(sqlite3 *db);

/* The connection's cache of decoded models (gmm_apply.c), the user data of
** every function that reads a model. Reference counted: one reference per
** registration, released by SQLite through gmm_cache_unref. */
typedef struct gmm_cache gmm_cache;
gmm_cache *gmm_cache_new(void);
void gmm_cache_ref(gmm_cache *c);
void gmm_cache_unref(void *c);

#endif /* GMM_SQLITE_H */
