/*
** gmm_pass_sql.c -- EM in passes over any query: the statistics and the
** initialisation state as SQL values.
**
**   gmm_init(spec, [weight,] x1, ..., xd)   aggregate  initialisation state
**   gmm_start(state)                        scalar     the initial model
**   gmm_estep(model, [weight,] x1, ..., xd) aggregate  statistics of one E-step
**   gmm_merge(blob)                         aggregate  the sum of statistics,
**                                                      or the union of states
**   gmm_mstep(model, stats)                 scalar     the next model
**   gmm_stats_info(blob)                    scalar     JSON about a statistics
**                                                      or state BLOB
** (gmm_converged(model) reads a model and lives in gmm_apply.c.)
**
** Requirements (tests cite them as "pass (N)"):
**  (1) gmm_estep keeps the model and one batch of rows
**      (gmm_estep_batch_rows), never all rows: O(k d^2 + batch) memory. A
**      full batch goes through the core's E-step on threads. The same rows in
**      the same order give the same bytes. The weight argument is there when
**      the model was fitted with weights. No usable row gives NULL.
**  (2) Rows are read as gmm_fit reads them (gmm_fit (3)): a NULL feature
**      (or null vector element) is a missing value, passed to the core as
**      NaN when the option missing is 'marginalize' (gmm_estep: the model's
**      option; gmm_init: its spec's), and skips the row (counted in
**      n_skipped) when it is 'skip'; a row with every feature NULL, or a
**      NULL weight, is skipped and counted in either mode; a weight of 0
**      leaves the row out; TEXT, BLOB (other than one vector argument),
**      +-Inf and negative weights are errors naming the row, the argument
**      and the value. The model
**      (or spec) must be the same on every row of a group: a spec is
**      compared byte for byte, a model by its length and stored checksum
**      (not its every byte on every row; the E-step runs under the first
**      row's model, whose fingerprint the statistics carry).
**  (3) gmm_init reads gmm_fit's spec (an INTEGER k or a JSON object; one k
**      and one covariance_type, any of the fourteen, no *_init arrays, no
**      init 'labels', criterion or hc_rows, none of the prior options
**      (prior, weight_concentration_prior, mean_precision_prior,
**      degrees_of_freedom_prior, mean_prior, covariance_prior, prune):
**      each refused with a sentence that says why; init 'hc' builds its
**      tree on the sample) plus
**      sample_size, and
**      keeps the sample of gmm_istate.c: the same set of rows in any order
**      or split gives the same state once merged.
**  (4) gmm_merge takes statistics of one model, or states of one spec, and
**      NULLs (ignored; only NULLs give NULL). It sorts the BLOBs by their
**      bytes before adding them up, so the result does not depend on the
**      order they arrive in. Every BLOB is validated; a BLOB of another
**      kind, model or spec is an error naming its row.
**  (5) gmm_mstep(model, stats) checks that the statistics are the model's
**      (its fingerprint) and gives the next model (gmm_stats.c). A NULL
**      model gives NULL; NULL statistics are an error (no row was usable).
**  (6) A BLOB of one kind where another is expected (a model for
**      statistics, statistics for a state, ...) is an error that names both.
**  (7) gmm_stats_info(blob) is a JSON object (JSON subtype); format_version
**      is the BLOB's own. Statistics:
**      kind 'statistics', format_version, k, d, covariance_type, weighted,
**      fingerprint, n_rows (rows used), n_skipped, n_incomplete (rows used
**      with some feature missing), n_missing (missing cells of the rows
**      used), sum_weights, log_likelihood, mean_log_likelihood, masses. A
**      state: kind 'initialisation', format_version, k, d, covariance_type,
**      init, max_iter, n_init, tol, reg_covar, seed, missing, sample_size,
**      weighted, n_rows, n_skipped, sum_weights, n_sample. NULL gives NULL.
**  (8) Passes fit maximum-likelihood models: gmm_estep and gmm_mstep of a
**      model with a prior (from gmm_fit) are errors, "gmm_estep: passes
**      fit maximum likelihood models; the model has prior 'conjugate'".
*/
#include "gmm_spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- BLOB kinds: pass (6) ---- */

typedef enum { KIND_OTHER, KIND_MODEL, KIND_STATS, KIND_STATE } blob_kind;

static blob_kind kind_of(sqlite3_value *v) {
  if (sqlite3_value_type(v) != SQLITE_BLOB || sqlite3_value_bytes(v) < 4) return KIND_OTHER;
  const void *p = sqlite3_value_blob(v);
  if (!p) return KIND_OTHER;
  if (memcmp(p, GMM_BLOB_MAGIC, 4) == 0) return KIND_MODEL;
  if (memcmp(p, GMM_STATS_MAGIC, 4) == 0) return KIND_STATS;
  if (memcmp(p, GMM_ISTATE_MAGIC, 4) == 0) return KIND_STATE;
  return KIND_OTHER;
}

static const char *kind_name(blob_kind k) {
  switch (k) {
    case KIND_MODEL: return "a model BLOB (from gmm_fit, gmm_start or gmm_mstep)";
    case KIND_STATS: return "a statistics BLOB (from gmm_estep or gmm_merge)";
    case KIND_STATE: return "an initialisation state (from gmm_init or gmm_merge)";
    case KIND_OTHER: break;
  }
  return "a BLOB";
}

/* "fn: argument A (name) must be WANT, provided WHAT": for a value of the
** wrong type or a BLOB of the wrong kind. */
static void wrong_argument(sqlite3_context *ctx, const char *fn, int arg_no, const char *name,
                           const char *want, sqlite3_value *v) {
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "%s: argument %d (%s) must be %s, provided ", fn, arg_no, name, want);
  blob_kind k = kind_of(v);
  if (k != KIND_OTHER)
    sqlite3_str_appendall(s, kind_name(k));
  else
    gmm_str_append_value(s, v);
  gmm_result_error_str(ctx, s);
}

/* Reports a core error: out of memory, or "fn: <prefix><err>". */
static void core_error(sqlite3_context *ctx, gmm_status rc, const char *fn, const char *prefix,
                       const char *err) {
  if (rc == GMM_ENOMEM)
    sqlite3_result_error_nomem(ctx);
  else
    gmm_result_errorf(ctx, "%s: %s%s", fn, prefix, err);
}

/* Decodes argument arg_no as a model. Returns NULL after setting an error
** (wrong kind, corrupt, out of memory); *fingerprint is its checksum. */
static gmm_model *read_model(sqlite3_context *ctx, const char *fn, int arg_no, sqlite3_value *v,
                             uint64_t *fingerprint) {
  blob_kind kind = kind_of(v);
  if (sqlite3_value_type(v) != SQLITE_BLOB || (kind != KIND_MODEL && kind != KIND_OTHER)) {
    wrong_argument(ctx, fn, arg_no, "model", "a model BLOB", v);
    return NULL;
  }
  const unsigned char *p = sqlite3_value_blob(v);
  size_t n = (size_t)sqlite3_value_bytes(v);
  char err[256];
  gmm_model *m = NULL;
  gmm_status rc = gmm_blob_read(p, p ? n : 0, &gmm_sqlite_allocator, &m, err, sizeof err);
  if (rc != GMM_OK) {
    char prefix[64];
    sqlite3_snprintf((int)sizeof prefix, prefix, "argument %d (model) is not a valid gmm model: ",
                     arg_no);
    core_error(ctx, rc, fn, prefix, err);
    return NULL;
  }
  *fingerprint = gmm_blob_stored_checksum(p, n);
  return m;
}

/* Sets an encoded BLOB of n bytes as the result; write fills it. */
typedef void (*blob_writer)(void *obj, unsigned char *out);

static void result_blob(sqlite3_context *ctx, const char *fn, const char *what, size_t n,
                        blob_writer write, void *obj) {
  if (gmm_check_length(ctx, fn, what, n) != SQLITE_OK) return;
  unsigned char *blob = sqlite3_malloc64(n);
  if (!blob) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  write(obj, blob);
  sqlite3_result_blob64(ctx, blob, n, sqlite3_free);
}

static void write_model(void *m, unsigned char *out) {
  gmm_blob_write(m, out);
}
static void write_stats(void *s, unsigned char *out) {
  gmm_estats_write(s, out);
}
static void write_state(void *s, unsigned char *out) {
  gmm_istate_write(s, out);
}

static void result_model(sqlite3_context *ctx, const char *fn, gmm_model *m) {
  result_blob(ctx, fn, "the model", gmm_blob_size(m), write_model, m);
}

/* ---- rows: pass (2) ---- */

/* How the rows of a group are read. */
typedef struct row_reader {
  const char *fn;
  int weighted;     /* argv[first - 1] is a weight */
  int first;        /* index of the first feature argument */
  int single;       /* one argument: a number (d = 1) or a vector */
  int d;            /* 0 until the first usable row of a one-argument call */
  int vector_f64;   /* how a BLOB vector is read (gmm_read_vector) */
  int marginalize;  /* a row with some feature missing is used (NaN there) */
  const char *what; /* "the model" or "the spec", for d errors */
  sqlite3_int64 n_seen;
  sqlite3_int64 n_skipped;
} row_reader;

typedef enum { ROW_USED, ROW_SKIPPED, ROW_ERROR } row_status;

/* Reads one row into x (GMM_MAX_D doubles, NaN where a feature is
** missing) and *weight: pass (2). */
static row_status read_row(sqlite3_context *ctx, row_reader *r, sqlite3_value **argv, double *x,
                           double *weight) {
  sqlite3_int64 row = ++r->n_seen;
  int null_weight = 0;
  *weight = 1.0;
  if (r->weighted) {
    sqlite3_value *v = argv[r->first - 1];
    gmm_feature_read got = gmm_read_number(ctx, r->fn, v, r->first, "weight", row, weight);
    if (got == GMM_FEATURE_ERROR) return ROW_ERROR;
    if (got == GMM_FEATURE_OK && *weight < 0.0) {
      char buf[32];
      gmm_result_errorf(ctx, "%s: row %lld, argument %d (weight) must be >= 0, provided %s", r->fn,
                        row, r->first, gmm_number_text(v, buf));
      return ROW_ERROR;
    }
    null_weight = got == GMM_FEATURE_NULL;
  }
  sqlite3_value *v = argv[r->first];
  int type = sqlite3_value_type(v);
  /* One argument: a vector, or a number when d is (or may be) 1. n_values
  ** is the row's d, n_missing how many of them are missing; a NULL single
  ** argument is a row with every feature missing, whatever d is. */
  int n_values = r->single ? 1 : r->d, n_missing = 0;
  if (r->single && type == SQLITE_NULL) {
    n_missing = n_values;
  } else if (r->single && (type == SQLITE_TEXT || type == SQLITE_BLOB)) {
    int n = gmm_read_vector(ctx, r->fn, v, r->first + 1, row, r->d, r->vector_f64, x);
    if (n < 0) return ROW_ERROR;
    r->d = n_values = n;
    n_missing = gmm_count_missing(x, n);
  } else if (r->single && r->d > 1) {
    gmm_result_errorf(ctx, "%s: row %lld, %s has %d features, provided 1 number", r->fn, row,
                      r->what, r->d);
    return ROW_ERROR;
  } else {
    for (int j = 0; j < n_values; j++) {
      gmm_feature_read got =
          gmm_read_feature(ctx, r->fn, argv[r->first + j], r->first + j + 1, j + 1, row, &x[j]);
      if (got == GMM_FEATURE_ERROR) return ROW_ERROR;
      n_missing += got == GMM_FEATURE_NULL;
    }
    if (n_missing == 0 && r->single) r->d = 1;
  }
  if (null_weight || n_missing == n_values || (n_missing > 0 && !r->marginalize)) {
    r->n_skipped++;
    return ROW_SKIPPED;
  }
  return *weight == 0.0 ? ROW_SKIPPED : ROW_USED;
}

/* The first argument of every row must be the first row's: pass (2). */
typedef struct same_arg {
  int type;
  sqlite3_int64 integer;
  unsigned char *bytes;
  int n_bytes;
} same_arg;

static int keep_arg(sqlite3_context *ctx, same_arg *a, sqlite3_value *v) {
  a->type = sqlite3_value_type(v);
  if (a->type == SQLITE_INTEGER) a->integer = sqlite3_value_int64(v);
  if (a->type != SQLITE_TEXT && a->type != SQLITE_BLOB) return 0;
  const void *p = a->type == SQLITE_TEXT ? (const void *)sqlite3_value_text(v)
                                         : sqlite3_value_blob(v);
  a->n_bytes = sqlite3_value_bytes(v);
  a->bytes = sqlite3_malloc64((sqlite3_uint64)a->n_bytes + 1);
  if (!a->bytes || (!p && a->n_bytes > 0)) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  if (a->n_bytes > 0) memcpy(a->bytes, p, (size_t)a->n_bytes);
  return 0;
}

static int same_as_kept(const same_arg *a, sqlite3_value *v) {
  if (sqlite3_value_type(v) != a->type) return 0;
  if (a->type == SQLITE_INTEGER) return sqlite3_value_int64(v) == a->integer;
  if (a->type != SQLITE_TEXT && a->type != SQLITE_BLOB) return 1;
  const unsigned char *p = a->type == SQLITE_TEXT ? sqlite3_value_text(v) : sqlite3_value_blob(v);
  if (!p || sqlite3_value_bytes(v) != a->n_bytes) return 0;
  /* A BLOB's last 8 bytes are the checksum of the rest: comparing them is
  ** comparing the BLOB, without reading a large model on every row. */
  size_t n = (size_t)a->n_bytes, tail = a->type == SQLITE_BLOB && n >= 8 ? 8 : n;
  return memcmp(p + n - tail, a->bytes + n - tail, tail) == 0;
}

/* What gmm_estep and gmm_init keep for a group, first in their states. */
typedef struct group_head {
  int started, failed;
  same_arg first_arg; /* the model or the spec */
  row_reader rows;
} group_head;

/* Checks a group's first row (argc and argument 1) and sets up the state.
** Returns 0, or -1 after setting an error. */
typedef int (*group_start_fn)(sqlite3_context *ctx, group_head *g, int argc,
                              sqlite3_value **argv);

/* The state (of size bytes, starting with a group_head) of the group of
** this row, set up by start on its first row, and the row read into x and
** *weight. Returns the state when the row is to be used, else NULL (a
** skipped row, or an error set on ctx). */
static group_head *group_row(sqlite3_context *ctx, int size, const char *arg_name,
                             group_start_fn start, int argc, sqlite3_value **argv, double *x,
                             double *weight) {
  group_head *g = sqlite3_aggregate_context(ctx, size);
  if (!g) {
    sqlite3_result_error_nomem(ctx);
    return NULL;
  }
  if (g->failed) return NULL;
  if (!g->started) {
    if (start(ctx, g, argc, argv) != 0 || keep_arg(ctx, &g->first_arg, argv[0]) != 0) {
      g->failed = 1;
      return NULL;
    }
    g->started = 1;
  } else if (!same_as_kept(&g->first_arg, argv[0])) {
    gmm_result_errorf(ctx, "%s: argument 1 (%s) must be the same on every row of a group",
                      g->rows.fn, arg_name);
    g->failed = 1;
    return NULL;
  }
  row_status r = read_row(ctx, &g->rows, argv, x, weight);
  if (r == ROW_ERROR) g->failed = 1;
  return r == ROW_USED ? g : NULL;
}

/* ---- gmm_estep: pass (1) ---- */

typedef struct estep_state {
  group_head head;
  gmm_model *model;
  gmm_estats *stats;
  gmm_estep_acc *acc;
  double *batch_x, *batch_w;
  size_t n_batch, batch_rows;
} estep_state;

static void estep_clear(estep_state *st) {
  gmm_estep_acc_free(st->acc);
  gmm_estats_free(st->stats);
  gmm_model_free(st->model);
  sqlite3_free(st->batch_x);
  sqlite3_free(st->batch_w);
  sqlite3_free(st->head.first_arg.bytes);
  memset(st, 0, sizeof *st);
}

static void estep_flush(estep_state *st) {
  gmm_estep_add(st->acc, st->batch_x, st->batch_w, st->n_batch,
                st->stats);
  st->n_batch = 0;
}

static int estep_start(sqlite3_context *ctx, group_head *g, int argc, sqlite3_value **argv) {
  estep_state *st = (estep_state *)g;
  const char *fn = "gmm_estep";
  if (argc < 2) {
    gmm_result_errorf(ctx, "%s: expected a model and at least one feature, provided %d argument%s",
                      fn, argc, argc == 1 ? "" : "s");
    return -1;
  }
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    gmm_result_errorf(ctx, "%s: argument 1 (model) is NULL", fn);
    return -1;
  }
  uint64_t fingerprint = 0;
  st->model = read_model(ctx, fn, 1, argv[0], &fingerprint);
  if (!st->model) return -1;
  gmm_model *m = st->model;
  if (m->options.prior != GMM_PRIOR_NONE) {
    /* pass (8); the core's gmm_estats_new refuses it too, without a text */
    gmm_result_errorf(ctx, "%s: passes fit maximum likelihood models; the model has prior '%s'",
                      fn, gmm_prior_name(m->options.prior));
    return -1;
  }
  int weighted = m->summary.weighted, first = 1 + weighted;
  int n_features = argc - first;
  if (n_features < 1 || (n_features > 1 && n_features != m->d)) {
    gmm_result_errorf(ctx, "%s: the model has %d feature%s%s, provided %d", fn, m->d,
                      m->d == 1 ? "" : "s",
                      weighted ? " after a weight (it was fitted with weights)" : "",
                      n_features < 0 ? 0 : n_features);
    return -1;
  }
  g->rows = (row_reader){.fn = fn,
                         .weighted = weighted,
                         .first = first,
                         .single = n_features == 1,
                         .d = m->d,
                         .vector_f64 = -1,
                         .marginalize = m->options.missing == GMM_MISSING_MARGINALIZE,
                         .what = "the model"};
  st->batch_rows = gmm_estep_batch_rows(m->d);
  st->batch_x = sqlite3_malloc64(st->batch_rows * (size_t)m->d * sizeof(double));
  st->batch_w = weighted ? sqlite3_malloc64(st->batch_rows * sizeof(double)) : NULL;
  if (!st->batch_x || (weighted && !st->batch_w) ||
      gmm_estats_new(m, fingerprint, weighted, &gmm_sqlite_allocator, &st->stats) != GMM_OK ||
      gmm_estep_acc_new(m, 0, &gmm_sqlite_allocator, &st->acc) != GMM_OK) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  return 0;
}

void gmm_estep_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  double x[GMM_MAX_D], weight;
  estep_state *st = (estep_state *)group_row(ctx, (int)sizeof(estep_state), "model", estep_start,
                                             argc, argv, x, &weight);
  if (!st) return;
  size_t d = (size_t)st->model->d;
  memcpy(st->batch_x + st->n_batch * d, x, d * sizeof *x);
  if (st->batch_w) st->batch_w[st->n_batch] = weight;
  if (++st->n_batch == st->batch_rows) estep_flush(st);
}

void gmm_estep_final(sqlite3_context *ctx) {
  estep_state *st = sqlite3_aggregate_context(ctx, 0);
  if (!st) return;
  if (!st->head.failed && st->head.started) {
    estep_flush(st);
    gmm_estats *s = st->stats;
    s->n_skipped = st->head.rows.n_skipped;
    char why[192];
    if (s->n_rows == 0) {
      sqlite3_result_null(ctx);
    } else if (!(fabs(s->log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD)) {
      gmm_result_errorf(ctx,
                        "gmm_estep: the log-likelihood of the rows under the model is %g: a row "
                        "has no finite density (increase reg_covar, or rescale the data)",
                        s->log_likelihood);
    } else if (gmm_estats_check(s, why, sizeof why) != GMM_OK) {
      gmm_result_errorf(ctx,
                        "gmm_estep: the statistics of the rows are out of range (%s): the rows "
                        "lie too far from the model's means for sums in double precision; "
                        "rescale the data",
                        why);
    } else {
      result_blob(ctx, "gmm_estep", "the statistics BLOB", gmm_estats_size(s), write_stats, s);
    }
  }
  estep_clear(st);
}

/* ---- gmm_init: pass (3) ---- */

typedef struct init_state {
  group_head head;
  gmm_options opt; /* the spec's */
  int sample_size;
  gmm_istate *state; /* from the first usable row, once d is known */
} init_state;

static int init_start(sqlite3_context *ctx, group_head *g, int argc, sqlite3_value **argv) {
  init_state *st = (init_state *)g;
  const char *fn = "gmm_init";
  if (argc < 2) {
    gmm_result_errorf(ctx, "%s: expected a spec and at least one feature, provided %d argument%s",
                      fn, argc, argc == 1 ? "" : "s");
    return -1;
  }
  int type = sqlite3_value_type(argv[0]);
  if (type != SQLITE_INTEGER && type != SQLITE_TEXT) {
    wrong_argument(ctx, fn, 1, "spec", "an INTEGER k or a JSON object of options", argv[0]);
    return -1;
  }
  gmm_fit_spec spec;
  int rc = gmm_spec_parse(ctx, argv[0], &spec);
  const char *unsupported = NULL;
  if (rc == 0 && (spec.n_k > 0 || spec.n_types > 0))
    unsupported = "a list of k or of covariance_type (passes fit one model: run them per "
                  "candidate and compare gmm_bic)";
  for (int i = 0; rc == 0 && !unsupported && i < 3; i++)
    if (spec.init_json[i])
      unsupported = "weights_init, means_init or precisions_init (start the passes from a model "
                    "instead: gmm_estep takes any model)";
  if (rc == 0 && !unsupported && spec.opt.init == GMM_INIT_LABELS)
    unsupported = "init 'labels' (gmm_fit's: the passes start from a sample, which carries no "
                  "labels)";
  char prior_text[160];
  if (rc == 0 && !unsupported && spec.prior_option) {
    sqlite3_snprintf((int)sizeof prior_text, prior_text,
                     "option %s (passes fit maximum likelihood models: fit a prior with gmm_fit)",
                     spec.prior_option);
    unsupported = prior_text;
  }
  if (rc == 0 && !unsupported && (spec.opt.criterion != GMM_CRITERION_BIC ||
                                  spec.opt.hc_rows != GMM_DEFAULT_HC_ROWS))
    unsupported = "criterion or hc_rows (options of gmm_fit's selection, and of its "
                  "hierarchical start: gmm_start builds the tree on at most 2000 rows of the "
                  "sample)";
  int first = 1 + spec.weighted, n_features = argc - first;
  char err[256];
  if (rc != 0) {
    /* reported by gmm_spec_parse */
  } else if (unsupported) {
    gmm_result_errorf(ctx, "%s: argument 1 (spec) has %s", fn, unsupported);
    rc = -1;
  } else if (n_features < 1 || n_features > GMM_MAX_D) {
    gmm_result_errorf(ctx, "%s: expected %s1 to %d features, provided %d", fn,
                      spec.weighted ? "a weight and " : "", GMM_MAX_D,
                      n_features < 0 ? 0 : n_features);
    rc = -1;
  } else if (gmm_options_check(&spec.opt, n_features > 1 ? n_features : 0, err, sizeof err) !=
             GMM_OK) {
    gmm_result_errorf(ctx, "%s: %s", fn, err);
    rc = -1;
  } else if (spec.sample_size && spec.sample_size < spec.opt.k) {
    gmm_result_errorf(ctx,
                      "%s: option sample_size must be at least k (%d), provided %d: gmm_start "
                      "draws the initial model from the sample",
                      fn, spec.opt.k, spec.sample_size);
    rc = -1;
  } else {
    st->opt = spec.opt;
    st->sample_size = spec.sample_size ? spec.sample_size : GMM_DEFAULT_SAMPLE_SIZE;
    g->rows = (row_reader){.fn = fn,
                           .weighted = spec.weighted,
                           .first = first,
                           .single = n_features == 1,
                           .d = n_features > 1 ? n_features : 0,
                           .vector_f64 = spec.vector_f64,
                           .marginalize = spec.opt.missing == GMM_MISSING_MARGINALIZE,
                           .what = "the spec"};
  }
  gmm_spec_clear(&spec);
  return rc;
}

void gmm_init_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  double x[GMM_MAX_D], weight;
  init_state *st = (init_state *)group_row(ctx, (int)sizeof(init_state), "spec", init_start, argc,
                                           argv, x, &weight);
  if (!st) return;
  if (!st->state) {
    char err[256];
    if (gmm_options_check(&st->opt, st->head.rows.d, err, sizeof err) != GMM_OK) {
      gmm_result_errorf(ctx, "gmm_init: %s", err);
      st->head.failed = 1;
      return;
    }
    if (gmm_istate_new(&st->opt, st->head.rows.d, st->head.rows.weighted, st->sample_size,
                       &gmm_sqlite_allocator, &st->state) != GMM_OK) {
      sqlite3_result_error_nomem(ctx);
      st->head.failed = 1;
      return;
    }
  }
  if (gmm_istate_add(st->state, x, weight) != GMM_OK) {
    sqlite3_result_error_nomem(ctx);
    st->head.failed = 1;
  }
}

void gmm_init_final(sqlite3_context *ctx) {
  init_state *st = sqlite3_aggregate_context(ctx, 0);
  if (!st) return;
  if (!st->head.failed && st->state) {
    st->state->n_skipped = st->head.rows.n_skipped;
    result_blob(ctx, "gmm_init", "the initialisation state", gmm_istate_size(st->state),
                write_state, st->state);
  }
  gmm_istate_free(st->state);
  sqlite3_free(st->head.first_arg.bytes);
  memset(st, 0, sizeof *st);
}

/* ---- gmm_start ---- */

/* Decodes argument arg_no as a state or statistics BLOB of the kind
** wanted. Returns 0, or -1 after setting an error. */
static int read_pass_blob(sqlite3_context *ctx, const char *fn, int arg_no, const char *name,
                          blob_kind want, sqlite3_value *v, gmm_istate **state,
                          gmm_estats **stats) {
  if (kind_of(v) != want && (kind_of(v) != KIND_OTHER || sqlite3_value_type(v) != SQLITE_BLOB)) {
    wrong_argument(ctx, fn, arg_no, name, kind_name(want), v);
    return -1;
  }
  const unsigned char *p = sqlite3_value_blob(v);
  size_t n = p ? (size_t)sqlite3_value_bytes(v) : 0;
  char err[256];
  gmm_status rc = want == KIND_STATE
                      ? gmm_istate_read(p, n, &gmm_sqlite_allocator, state, err, sizeof err)
                      : gmm_estats_read(p, n, &gmm_sqlite_allocator, stats, err, sizeof err);
  if (rc == GMM_OK) return 0;
  char prefix[96];
  sqlite3_snprintf((int)sizeof prefix, prefix, "argument %d (%s) is not valid: ", arg_no, name);
  core_error(ctx, rc, fn, prefix, err);
  return -1;
}

void gmm_start_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  gmm_istate *state = NULL;
  if (read_pass_blob(ctx, "gmm_start", 1, "state", KIND_STATE, argv[0], &state, NULL) != 0) return;
  gmm_model *m = NULL;
  char err[512];
  gmm_status rc = gmm_istate_start(state, 0, &gmm_sqlite_allocator, &m, err, sizeof err);
  gmm_istate_free(state);
  if (rc != GMM_OK) {
    core_error(ctx, rc, "gmm_start", "", err);
    return;
  }
  result_model(ctx, "gmm_start", m);
  gmm_model_free(m);
}

/* ---- gmm_mstep: pass (5) ---- */

void gmm_mstep_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    gmm_result_errorf(ctx, "gmm_mstep: argument 2 (stats) is NULL: gmm_estep found no usable row");
    return;
  }
  uint64_t fingerprint = 0;
  gmm_model *m = read_model(ctx, "gmm_mstep", 1, argv[0], &fingerprint);
  if (!m) return;
  gmm_estats *stats = NULL;
  if (read_pass_blob(ctx, "gmm_mstep", 2, "stats", KIND_STATS, argv[1], NULL, &stats) != 0) {
    gmm_model_free(m);
    return;
  }
  gmm_model *next = NULL;
  char err[512];
  gmm_status rc = gmm_mstep(m, fingerprint, stats, &gmm_sqlite_allocator, &next, err, sizeof err);
  if (rc != GMM_OK)
    core_error(ctx, rc, "gmm_mstep", "", err);
  else
    result_model(ctx, "gmm_mstep", next);
  gmm_model_free(next);
  gmm_estats_free(stats);
  gmm_model_free(m);
}

/* ---- gmm_merge: pass (4) ---- */

typedef struct merge_item {
  unsigned char *bytes;
  int n_bytes;
  sqlite3_int64 row; /* 1-based, in arrival order, for errors */
} merge_item;

typedef struct merge_state {
  int failed;
  blob_kind kind;
  merge_item *items;
  size_t n, cap;
  sqlite3_int64 n_seen;
} merge_state;

void gmm_merge_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  merge_state *st = sqlite3_aggregate_context(ctx, (int)sizeof *st);
  if (!st) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (st->failed) return;
  sqlite3_int64 row = ++st->n_seen;
  sqlite3_value *v = argv[0];
  if (sqlite3_value_type(v) == SQLITE_NULL) return;
  blob_kind kind = kind_of(v);
  if (kind != KIND_STATS && kind != KIND_STATE) {
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(s,
                        "gmm_merge: row %lld, argument 1 must be statistics (gmm_estep) or an "
                        "initialisation state (gmm_init), provided ",
                        row);
    if (kind == KIND_MODEL)
      sqlite3_str_appendall(s, kind_name(kind));
    else
      gmm_str_append_value(s, v);
    gmm_result_error_str(ctx, s);
    st->failed = 1;
    return;
  }
  if (st->n > 0 && kind != st->kind) {
    gmm_result_errorf(ctx, "gmm_merge: row %lld is %s, the rows before it %s", row,
                      kind_name(kind),
                      st->kind == KIND_STATS ? "statistics" : "initialisation states");
    st->failed = 1;
    return;
  }
  st->kind = kind;
  if (st->n == st->cap) {
    size_t cap = st->cap ? 2 * st->cap : 16;
    merge_item *items = sqlite3_realloc64(st->items, cap * sizeof *items);
    if (!items) {
      sqlite3_result_error_nomem(ctx);
      st->failed = 1;
      return;
    }
    st->items = items;
    st->cap = cap;
  }
  merge_item *it = &st->items[st->n];
  it->n_bytes = sqlite3_value_bytes(v);
  it->bytes = sqlite3_malloc64((sqlite3_uint64)it->n_bytes);
  const void *p = sqlite3_value_blob(v);
  if (!it->bytes || !p) {
    sqlite3_free(it->bytes);
    sqlite3_result_error_nomem(ctx);
    st->failed = 1;
    return;
  }
  memcpy(it->bytes, p, (size_t)it->n_bytes);
  it->row = row;
  st->n++;
}

/* The canonical order of pass (4): bytes, then length. */
static int compare_items(const void *a, const void *b) {
  const merge_item *x = a, *y = b;
  int n = x->n_bytes < y->n_bytes ? x->n_bytes : y->n_bytes;
  int c = memcmp(x->bytes, y->bytes, (size_t)n);
  if (c != 0) return c;
  return (x->n_bytes > y->n_bytes) - (x->n_bytes < y->n_bytes);
}

/* Decodes item i and adds it to *total (the first becomes *total).
** Returns 0, or -1 after setting an error. */
static int merge_one(sqlite3_context *ctx, blob_kind kind, const merge_item *it, void **total) {
  char err[256];
  gmm_status rc;
  void *one = NULL;
  if (kind == KIND_STATS)
    rc = gmm_estats_read(it->bytes, (size_t)it->n_bytes, &gmm_sqlite_allocator,
                         (gmm_estats **)&one, err, sizeof err);
  else
    rc = gmm_istate_read(it->bytes, (size_t)it->n_bytes, &gmm_sqlite_allocator,
                         (gmm_istate **)&one, err, sizeof err);
  const char *what = kind == KIND_STATS ? "statistics BLOB" : "initialisation state";
  if (rc == GMM_OK && *total) {
    rc = kind == KIND_STATS ? gmm_estats_merge(*total, one, err, sizeof err)
                            : gmm_istate_merge(*total, one, err, sizeof err);
    if (kind == KIND_STATS)
      gmm_estats_free(one);
    else
      gmm_istate_free(one);
    one = NULL;
  } else if (rc == GMM_OK) {
    *total = one;
    return 0;
  }
  if (rc == GMM_OK) return 0;
  if (rc == GMM_ENOMEM)
    sqlite3_result_error_nomem(ctx);
  else if (rc == GMM_ECORRUPT)
    gmm_result_errorf(ctx, "gmm_merge: row %lld is not a valid %s: %s", it->row, what, err);
  else
    gmm_result_errorf(ctx, "gmm_merge: row %lld: %s", it->row, err);
  return -1;
}

void gmm_merge_final(sqlite3_context *ctx) {
  merge_state *st = sqlite3_aggregate_context(ctx, 0);
  if (!st) return;
  if (!st->failed && st->n > 0) {
    qsort(st->items, st->n, sizeof *st->items, compare_items);
    void *total = NULL;
    int ok = 1;
    for (size_t i = 0; i < st->n && ok; i++) ok = merge_one(ctx, st->kind, &st->items[i], &total) == 0;
    if (ok && st->kind == KIND_STATS)
      result_blob(ctx, "gmm_merge", "the statistics BLOB", gmm_estats_size(total), write_stats,
                  total);
    else if (ok)
      result_blob(ctx, "gmm_merge", "the initialisation state", gmm_istate_size(total),
                  write_state, total);
    if (st->kind == KIND_STATS)
      gmm_estats_free(total);
    else
      gmm_istate_free(total);
  }
  for (size_t i = 0; i < st->n; i++) sqlite3_free(st->items[i].bytes);
  sqlite3_free(st->items);
  memset(st, 0, sizeof *st);
}

/* ---- gmm_stats_info: pass (7) ---- */

static void append_field(sqlite3_str *s, const char *name, double v) {
  sqlite3_str_appendf(s, ",\"%s\":", name);
  gmm_str_append_double(s, v);
}

void gmm_stats_info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sqlite3_value *v = argv[0];
  if (sqlite3_value_type(v) == SQLITE_NULL) return;
  blob_kind kind = kind_of(v);
  if (kind != KIND_STATS && kind != KIND_STATE) {
    wrong_argument(ctx, "gmm_stats_info", 1, "blob",
                   "statistics (gmm_estep) or an initialisation state (gmm_init)", v);
    return;
  }
  gmm_istate *state = NULL;
  gmm_estats *stats = NULL;
  if (read_pass_blob(ctx, "gmm_stats_info", 1, "blob", kind, v, &state, &stats) != 0) return;
  /* The BLOB's own format version (the u32 after the magic; the decoder
  ** has checked the length): the encoders write the oldest version that
  ** holds the value. */
  const unsigned char *p = sqlite3_value_blob(v);
  unsigned version = (unsigned)p[4] | (unsigned)p[5] << 8 | (unsigned)p[6] << 16 |
                     (unsigned)p[7] << 24;
  sqlite3_str *s = sqlite3_str_new(NULL);
  if (stats) {
    sqlite3_str_appendf(s,
                        "{\"kind\":\"statistics\",\"format_version\":%u,\"k\":%d,\"d\":%d,"
                        "\"covariance_type\":\"%s\",\"weighted\":%s,\"fingerprint\":\"%016llx\","
                        "\"n_rows\":%lld,\"n_skipped\":%lld,\"n_incomplete\":%lld,"
                        "\"n_missing\":%lld",
                        version, stats->k, stats->d,
                        gmm_cov_type_name(stats->covariance_type),
                        stats->weighted ? "true" : "false",
                        (unsigned long long)stats->fingerprint, (long long)stats->n_rows,
                        (long long)stats->n_skipped, (long long)stats->n_incomplete,
                        (long long)stats->n_missing);
    append_field(s, "sum_weights", stats->sum_weights);
    append_field(s, "log_likelihood", stats->log_likelihood);
    append_field(s, "mean_log_likelihood", stats->log_likelihood / stats->sum_weights);
    sqlite3_str_appendall(s, ",\"masses\":");
    gmm_str_append_array(s, stats->sums.nk, (size_t)stats->k);
    sqlite3_str_appendchar(s, 1, '}');
    gmm_estats_free(stats);
  } else {
    const gmm_options *o = &state->options;
    sqlite3_str_appendf(s,
                        "{\"kind\":\"initialisation\",\"format_version\":%u,\"k\":%d,\"d\":%d,"
                        "\"covariance_type\":\"%s\",\"init\":\"%s\",\"max_iter\":%d,"
                        "\"n_init\":%d",
                        version, o->k, state->d, gmm_cov_type_name(o->covariance_type),
                        gmm_init_name(o->init), o->max_iter, o->n_init);
    append_field(s, "tol", o->tol);
    append_field(s, "reg_covar", o->reg_covar);
    sqlite3_str_appendf(s,
                        ",\"seed\":%llu,\"missing\":\"%s\",\"sample_size\":%d,\"weighted\":%s,"
                        "\"n_rows\":%lld,\"n_skipped\":%lld",
                        (unsigned long long)o->seed, gmm_missing_name(o->missing), state->sample_size,
                        state->weighted ? "true" : "false", (long long)state->n_rows,
                        (long long)state->n_skipped);
    append_field(s, "sum_weights", state->sum_weights);
    sqlite3_str_appendf(s, ",\"n_sample\":%d}", state->n_held);
    gmm_istate_free(state);
  }
  gmm_result_json(ctx, "gmm_stats_info", s);
}
