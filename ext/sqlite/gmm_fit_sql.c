/*
** gmm_fit_sql.c -- the aggregate gmm_fit(spec, x1, ..., xd): buffers the
** rows of its group as contiguous doubles, then hands them to the core's
** EM fit and returns the model BLOB.
**
** Requirements (tests cite them as "gmm_fit (N)"):
**  (1) spec is an INTEGER k, a JSON object of options or a model BLOB to
**      warm-start from (gmm_spec.c).
**  (2) spec must be the same on every row of a group.
**  (3) d is the number of arguments after spec, less one when the options
**      say weighted (at least 1). A NULL feature is a missing value
**      (DESIGN §1): with the option missing 'marginalize' (the default) the
**      row is buffered with NaN there and takes part through its observed
**      features; with 'skip' the row is skipped and counted (n_skipped in
**      gmm_info), and the core never sees a NaN. In both modes a row whose
**      features are all NULL, and a row with a NULL weight, are skipped and
**      counted. A vector argument (ext (5)) follows the same rules: its
**      null elements are missing values, a NULL vector or one of nulls only
**      is a row with every feature missing. SQLite itself stores NaN as
**      NULL, so a bound NaN is a missing value too. TEXT, BLOB (other than
**      one vector argument) and +-Inf values, and negative weights, are
**      errors naming the row (1-based within the group), the argument and
**      the value, whatever else the row holds.
**  (4) A row of weight 0 changes nothing: it is not buffered. A group with
**      no usable row gives NULL; one whose rows all have weight 0 is an
**      error. A group with fewer usable rows than k is an error that gives
**      both numbers.
**  (5) Each group of a GROUP BY is fitted on its own rows; every group's
**      buffer is freed, whether the statement finishes or fails.
**  (6) The rows are put in a canonical order before the fit
**      (gmm_canonical_order: complete rows first, then the rows with missing
**      values grouped by their pattern), so the same set of rows gives the
**      same model BLOB whatever order they arrive in.
**  (7) A list of k or covariance types fits every candidate on the one
**      buffered copy of the rows and returns the lowest-BIC model.
**  (8) With verbose 1 the fit reports each initialisation on stderr, with 2
**      each iteration too (log-likelihood per row, or with a variational
**      prior the total lower bound; change; elapsed time). A fit stops
**      after the current EM iteration once the connection is interrupted
**      (sqlite3_interrupt, Ctrl-C in the shell): SQLITE_INTERRUPT. On every
**      SQLite: sqlite3_is_interrupted from 3.41, a probe statement before
**      (gmm_is_interrupted).
**  (9) When the row buffer cannot grow, the error says how many rows and
**      bytes it takes and points to fitting in passes (SQLITE_ERROR, so that
**      clients that map SQLITE_NOMEM to their own exception keep the text).
**      sample_size, gmm_init's option, is an error here.
** (10) With init 'labels' the first argument after the spec (and the
**      weight) is the row's label, an INTEGER from 0 to k - 1 (anything
**      else is an error naming the row and the value); it travels with its
**      row through the canonical order (sorted as one more column after
**      the features) and is handed to the core (gmm_data.labels). A row
**      skipped for its features or weight skips its label too.
*/
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for verbose's elapsed times */
#include "gmm_spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The aggregate's state, zeroed by sqlite3_aggregate_context. */
typedef struct fit_state {
  int started;   /* spec parsed */
  int failed;    /* an error was reported: ignore further rows */
  int d;         /* 0 until the first usable row of a one-argument call */
  int single;    /* one argument after the spec (and weight): a number or a vector */
  int mode_open; /* d is 1 (a warm start), number or vector still open */
  int vector;    /* that argument is a vector (ext (5)) */
  gmm_fit_spec spec;
  int spec_type; /* SQLITE_INTEGER, SQLITE_TEXT or SQLITE_BLOB */
  sqlite3_int64 spec_int;
  unsigned char *spec_bytes; /* copy of a TEXT or BLOB spec, for gmm_fit (2) */
  int spec_len;
  int labeled;          /* init labels: a label argument before the features */
  int width;            /* doubles per buffered row: d, and the label */
  double *rows;         /* n x width */
  double *weights;      /* n, when weighted */
  int *labels;          /* n, init labels, taken from the rows before the fit */
  size_t n, cap;        /* rows buffered, rows allocated */
  sqlite3_int64 n_seen; /* rows stepped, skipped ones included */
  sqlite3_int64 n_skipped;
  sqlite3_int64 n_zero_weight;
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

/* gmm_fit (2): the spec of a later row must equal the first row's. */
static int same_spec(const fit_state *st, sqlite3_value *spec) {
  if (sqlite3_value_type(spec) != st->spec_type) return 0;
  if (st->spec_type == SQLITE_INTEGER) return sqlite3_value_int64(spec) == st->spec_int;
  const void *bytes = st->spec_type == SQLITE_TEXT ? (const void *)sqlite3_value_text(spec)
                                                   : sqlite3_value_blob(spec);
  return bytes && sqlite3_value_bytes(spec) == st->spec_len &&
         memcmp(bytes, st->spec_bytes, (size_t)st->spec_len) == 0;
}

/* Keeps a copy of the first row's spec for gmm_fit (2). */
static int keep_spec(sqlite3_context *ctx, fit_state *st, sqlite3_value *spec) {
  st->spec_type = sqlite3_value_type(spec);
  if (st->spec_type == SQLITE_INTEGER) {
    st->spec_int = sqlite3_value_int64(spec);
    return 0;
  }
  const void *bytes = st->spec_type == SQLITE_TEXT ? (const void *)sqlite3_value_text(spec)
                                                   : sqlite3_value_blob(spec);
  st->spec_len = sqlite3_value_bytes(spec);
  st->spec_bytes = sqlite3_malloc64((sqlite3_uint64)st->spec_len + 1);
  if (!st->spec_bytes || (!bytes && st->spec_len > 0)) {
    st->failed = 1;
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  if (st->spec_len > 0) memcpy(st->spec_bytes, bytes, (size_t)st->spec_len);
  return 0;
}

/* Room for one more row (and weight). The buffers grow by a quarter, so
** that capacity stays within 1.25 times the rows (realloc of large blocks
** remaps pages rather than copying them), and are trimmed to the rows
** before the fit (trim_rows). */
static int reserve_row(sqlite3_context *ctx, fit_state *st) {
  if (st->n < st->cap) return 0;
  size_t cap = st->cap ? st->cap + st->cap / 4 : 256;
  sqlite3_uint64 bytes = (sqlite3_uint64)cap * (sqlite3_uint64)st->width * sizeof(double);
  if (cap < st->cap || bytes / sizeof(double) / (sqlite3_uint64)st->width != cap) {
    fit_error(ctx, st, "gmm_fit: too many rows to buffer (%llu)", (unsigned long long)st->n);
    return -1;
  }
  double *rows = sqlite3_realloc64(st->rows, bytes);
  if (rows) st->rows = rows;
  double *weights =
      st->spec.weighted && rows ? sqlite3_realloc64(st->weights, cap * sizeof(double)) : NULL;
  if (weights) st->weights = weights;
  if (!rows || (st->spec.weighted && !weights)) {
    /* gmm_fit (9): say what the rows need and where to go instead. */
    sqlite3_uint64 need = (sqlite3_uint64)cap * ((sqlite3_uint64)st->d + (st->spec.weighted != 0)) *
                          sizeof(double);
    fit_error(ctx, st,
              "gmm_fit: out of memory buffering the rows: at row %lld, a buffer for %llu rows "
              "of %d feature%s%s (%llu bytes) could not be allocated (memory ran out, or PRAGMA "
              "hard_heap_limit); fit a table this large in passes with gmm_init, gmm_estep and "
              "gmm_mstep, which keep no rows (README, \"Larger than memory\")",
              st->n_seen + 1,
              (unsigned long long)cap, st->d, st->d == 1 ? "" : "s",
              st->spec.weighted ? " and a weight" : "", need);
    return -1;
  }
  st->cap = cap;
  return 0;
}

/* d is known: check it against a warm-start model, read the *_init arrays. */
static int fix_d(sqlite3_context *ctx, fit_state *st, int d) {
  st->d = d;
  st->width = d + st->labeled;
  if (gmm_spec_bind_d(ctx, &st->spec, d) != 0) {
    st->failed = 1;
    return -1;
  }
  return 0;
}

/* First row of a group: parse the spec; fix d unless one argument will. */
static int start_group(sqlite3_context *ctx, fit_state *st, int argc, sqlite3_value **argv) {
  if (argc < 2) {
    fit_error(ctx, st, "gmm_fit: expected a spec and at least one feature, provided %d argument%s",
              argc, argc == 1 ? "" : "s");
    return -1;
  }
  if (keep_spec(ctx, st, argv[0]) != 0) return -1;
  if (gmm_spec_parse(ctx, argv[0], &st->spec) != 0) {
    st->failed = 1;
    return -1;
  }
  if (st->spec.sample_size) {
    fit_error(ctx, st,
              "gmm_fit: option sample_size is gmm_init's (the sample of a fit in passes); gmm_fit "
              "uses every row");
    return -1;
  }
  st->labeled = st->spec.opt.init == GMM_INIT_LABELS && !st->spec.warm_start;
  if (st->labeled && st->spec.n_k) {
    fit_error(ctx, st, "gmm_fit: init 'labels' does not combine with a list of k");
    return -1;
  }
  int first = 1 + st->spec.weighted + st->labeled;
  if (argc - first < 1) {
    fit_error(ctx, st, "gmm_fit: expected a spec, %s and at least one feature (%s), provided %d argument%s",
              st->spec.weighted && st->labeled ? "a weight, a label" : st->labeled ? "a label" : "a weight",
              st->spec.weighted && st->labeled ? "weighted, init 'labels'" : st->labeled ? "init 'labels'" : "weighted",
              argc, argc == 1 ? "" : "s");
    return -1;
  }
  if (argc - first > GMM_MAX_D) {
    fit_error(ctx, st, "gmm_fit: too many features, provided %d, maximum %d", argc - first,
              GMM_MAX_D);
    return -1;
  }
  st->started = 1;
  st->single = argc - first == 1;
  const gmm_model *from = st->spec.warm_start;
  if (!from) return st->single ? 0 : fix_d(ctx, st, argc - first);
  /* A warm start knows d: several arguments must be that many; one
  ** argument is a number when d is 1, else a vector of d values. */
  if (!st->single && from->d != argc - first) {
    fit_error(ctx, st, "gmm_fit: the model in argument 1 (spec) has %d feature%s, provided %d%s",
              from->d, from->d == 1 ? "" : "s", argc - first,
              st->spec.weighted ? " after the weight (the model was fitted with weights)" : "");
    return -1;
  }
  st->vector = st->single && from->d > 1;
  st->mode_open = st->single && from->d == 1; /* a number or a 1-value vector */
  return fix_d(ctx, st, from->d);
}

/* The first usable row of a one-argument call decides: a number (d = 1) or
** a vector (its length). */
static int decide_single(sqlite3_context *ctx, fit_state *st, sqlite3_value *v, double *vec) {
  int type = sqlite3_value_type(v);
  if (type != SQLITE_TEXT && type != SQLITE_BLOB) return fix_d(ctx, st, 1);
  st->vector = 1;
  int n = gmm_read_vector(ctx, "gmm_fit", v, 2 + st->spec.weighted + st->labeled, st->n_seen, 0,
                          st->spec.vector_f64, vec);
  if (n < 0) {
    st->failed = 1;
    return -1;
  }
  return fix_d(ctx, st, n);
}

/* gmm_fit (10): the label of row n_seen, argument arg (1-based). */
static int read_label(sqlite3_context *ctx, fit_state *st, sqlite3_value *v, int arg,
                      double *label) {
  int k = st->spec.opt.k, type = sqlite3_value_type(v);
  sqlite3_int64 l = type == SQLITE_INTEGER ? sqlite3_value_int64(v) : -1;
  if (type != SQLITE_INTEGER || l < 0 || l >= k) {
    /* The type first: sqlite3_value_text converts a BLOB in place. */
    char buf[32];
    const char *text = type == SQLITE_NULL   ? "NULL"
                       : type == SQLITE_BLOB ? "a BLOB"
                       : type == SQLITE_TEXT ? (const char *)sqlite3_value_text(v)
                                             : gmm_number_text(v, buf);
    fit_error(ctx, st,
              "gmm_fit: row %lld, argument %d (label) must be an integer from 0 to k - 1 = %d "
              "(init 'labels'), provided %s%s%s",
              st->n_seen, arg, k - 1, type == SQLITE_TEXT ? "'" : "", text ? text : "",
              type == SQLITE_TEXT ? "'" : "");
    return -1;
  }
  *label = (double)l;
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
    if (start_group(ctx, st, argc, argv) != 0) return;
  } else if (!same_spec(st, argv[0])) {
    fit_error(ctx, st, "gmm_fit: argument 1 (spec) must be the same on every row of a group");
    return;
  }
  st->n_seen++;
  /* Read every argument before deciding, so that an error anywhere in the
  ** row is reported even when another value is NULL. */
  int first = 1 + st->spec.weighted + st->labeled, null_weight = 0;
  double weight = 1.0, label = 0.0;
  if (st->labeled && read_label(ctx, st, argv[first - 1], first, &label) != 0) return;
  if (st->spec.weighted) {
    gmm_feature_read r = gmm_read_number(ctx, "gmm_fit", argv[1], 2, "weight", st->n_seen, &weight);
    if (r == GMM_FEATURE_ERROR) {
      st->failed = 1;
      return;
    }
    if (r == GMM_FEATURE_OK && weight < 0.0) {
      char buf[32];
      fit_error(ctx, st, "gmm_fit: row %lld, argument 2 (weight) must be >= 0, provided %s",
                st->n_seen, gmm_number_text(argv[1], buf));
      return;
    }
    null_weight = r == GMM_FEATURE_NULL;
  }
  double vec[GMM_MAX_D];
  int null_vector = 0;
  if (st->mode_open && sqlite3_value_type(argv[first]) != SQLITE_NULL) {
    int type = sqlite3_value_type(argv[first]);
    st->vector = type == SQLITE_TEXT || type == SQLITE_BLOB;
    st->mode_open = 0;
  }
  if (st->d == 0) {
    /* One argument, no usable row yet: this row says what it is. */
    if (sqlite3_value_type(argv[first]) == SQLITE_NULL) {
      st->n_skipped++;
      return;
    }
    if (decide_single(ctx, st, argv[first], vec) != 0) return;
  } else if (st->vector && st->spec.warm_start &&
             (sqlite3_value_type(argv[first]) == SQLITE_INTEGER ||
              sqlite3_value_type(argv[first]) == SQLITE_FLOAT)) {
    fit_error(ctx, st, "gmm_fit: the model in argument 1 (spec) has %d features, provided 1%s",
              st->d,
              st->spec.weighted ? " after the weight (the model was fitted with weights)" : "");
    return;
  } else if (st->vector && sqlite3_value_type(argv[first]) != SQLITE_NULL) {
    if (gmm_read_vector(ctx, "gmm_fit", argv[first], first + 1, st->n_seen, st->d,
                        st->spec.warm_start ? -1 : st->spec.vector_f64, vec) < 0) {
      st->failed = 1;
      return;
    }
  } else if (st->vector) {
    null_vector = 1;
  }
  if (reserve_row(ctx, st) != 0) return;
  double *row = st->rows + st->n * (size_t)st->width;
  if (st->labeled) row[st->d] = label;
  int n_missing = 0;
  if (null_vector) {
    n_missing = st->d;
  } else if (st->vector) {
    memcpy(row, vec, (size_t)st->d * sizeof *row);
    n_missing = gmm_count_missing(row, st->d);
  } else {
    for (int j = 0; j < st->d; j++) {
      gmm_feature_read r = gmm_read_feature(ctx, "gmm_fit", argv[first + j], first + j + 1, j + 1,
                                            st->n_seen, &row[j]);
      if (r == GMM_FEATURE_ERROR) {
        st->failed = 1;
        return;
      }
      n_missing += r == GMM_FEATURE_NULL;
    }
  }
  /* gmm_fit (3): every feature missing, a NULL weight, or any feature
  ** missing when the option says skip. */
  if (null_weight || n_missing == st->d ||
      (n_missing > 0 && st->spec.opt.missing == GMM_MISSING_SKIP)) {
    st->n_skipped++;
  } else if (weight == 0.0) {
    st->n_zero_weight++; /* gmm_fit (4): changes nothing */
  } else {
    if (st->weights) st->weights[st->n] = weight;
    st->n++;
  }
}

/* Gives the buffers' slack back before the fit needs memory of its own. A
** failure to shrink leaves the larger buffers, which are still valid. */
static void trim_rows(fit_state *st) {
  if (st->n == st->cap) return;
  double *rows =
      sqlite3_realloc64(st->rows, (sqlite3_uint64)st->n * (sqlite3_uint64)st->width * sizeof(double));
  if (rows) {
    st->rows = rows;
    st->cap = st->n;
  }
  if (st->weights) {
    double *weights = sqlite3_realloc64(st->weights, (sqlite3_uint64)st->n * sizeof(double));
    if (weights) st->weights = weights;
  }
}

/* ---- progress and interruption: gmm_fit (8) ---- */

typedef struct fit_progress {
  sqlite3 *db;
  sqlite3_stmt *probe; /* gmm_is_interrupted's, on SQLite before 3.41 */
  int verbose;
  int variational; /* the trace reports the total lower bound */
  double start; /* seconds, monotonic */
  double previous;
} fit_progress;

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Called by the core after every EM iteration. Reads the clock only to
** report; the fit itself never sees it. */
static int fit_progress_fn(void *ctx, int init, int iter, double lower_bound) {
  fit_progress *p = ctx;
  if (p->verbose >= 1 && iter == 1) fprintf(stderr, "gmm_fit: initialisation %d\n", init + 1);
  if (p->verbose >= 2)
    fprintf(stderr, "gmm_fit:   iteration %d: %s %.10g, change %.3g, %.3f s\n", iter,
            p->variational ? "lower bound" : "log-likelihood per row", lower_bound,
            iter == 1 ? 0.0 : lower_bound - p->previous, seconds_now() - p->start);
  p->previous = lower_bound;
  return gmm_is_interrupted(p->db, &p->probe);
}

/* Fits the buffered rows: one model, or the best of a selection. */
static gmm_status fit_rows(fit_state *st, fit_progress *progress, gmm_model **m, char *err,
                           size_t err_len) {
  gmm_fit_spec *spec = &st->spec;
  trim_rows(st);
  /* gmm_fit (6), (10): the label sorts as one more column. */
  gmm_canonical_order(st->rows, st->weights, st->n, st->width, spec->opt.threads);
  if (st->labeled) {
    st->labels = sqlite3_malloc64((sqlite3_uint64)(st->n ? st->n : 1) * sizeof(int));
    if (!st->labels) return GMM_ENOMEM;
    size_t dd = (size_t)st->d, wd = (size_t)st->width;
    for (size_t i = 0; i < st->n; i++) {
      st->labels[i] = (int)st->rows[i * wd + dd];
      memmove(st->rows + i * dd, st->rows + i * wd, dd * sizeof(double));
    }
  }
  gmm_data data = {st->rows, st->n, st->d, st->weights, st->n_skipped, st->labels};
  if (spec->n_k == 0 && spec->n_types == 0)
    return gmm_fit(&data, &spec->opt, &gmm_sqlite_allocator, fit_progress_fn, progress, m, err,
                   err_len);
  const int *ks = spec->n_k ? spec->k_list : &spec->opt.k;
  const gmm_cov_type *types = spec->n_types ? spec->type_list : &spec->opt.covariance_type;
  return gmm_fit_select(&data, &spec->opt, ks, spec->n_k ? spec->n_k : 1, types,
                        spec->n_types ? spec->n_types : 1, &gmm_sqlite_allocator, fit_progress_fn,
                        progress, m, err, err_len);
}

void gmm_fit_final(sqlite3_context *ctx) {
  fit_state *st = sqlite3_aggregate_context(ctx, 0);
  if (!st) return; /* no row at all: NULL */
  if (!st->failed && st->n == 0 && st->n_zero_weight > 0) {
    fit_error(ctx, st, "gmm_fit: every usable row has weight 0 (%lld row%s)", st->n_zero_weight,
              st->n_zero_weight == 1 ? "" : "s");
  } else if (!st->failed && st->n > 0) {
    gmm_model *m = NULL;
    char err[512];
    fit_progress progress = {sqlite3_context_db_handle(ctx), NULL, st->spec.verbose,
                             gmm_prior_variational(st->spec.opt.prior), 0.0, 0.0};
    if (progress.verbose) progress.start = seconds_now();
    gmm_status rc = fit_rows(st, &progress, &m, err, sizeof err);
    sqlite3_finalize(progress.probe);
    if (progress.verbose && rc == GMM_OK)
      fprintf(stderr, "gmm_fit: done in %.3f s: k = %d, log-likelihood %.10g, %d iterations, %s\n",
              seconds_now() - progress.start, m->k, m->summary.log_likelihood, m->summary.n_iter,
              m->summary.converged ? "converged" : "not converged");
    if (rc == GMM_ENOMEM) {
      sqlite3_result_error_nomem(ctx);
    } else if (rc == GMM_EINTERRUPTED) {
      st->failed = 1;
      sqlite3_result_error(ctx, "gmm_fit: interrupted", -1);
      sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
    } else if (rc != GMM_OK) {
      fit_error(ctx, st, "gmm_fit: %s", err);
    } else {
      size_t size = gmm_blob_size(m);
      unsigned char *blob = NULL;
      if (size == 0) {
        /* the codec has no encoding for it: a bug, not a lack of memory */
        fit_error(ctx, st,
                  "gmm_fit: the fitted model (k = %d, covariance_type '%s', prior '%s', %d "
                  "candidates) has no model BLOB encoding",
                  m->k, gmm_cov_type_name(m->covariance_type), gmm_prior_name(m->options.prior),
                  m->n_candidates);
      } else if (gmm_check_length(ctx, "gmm_fit", "the model", size) != SQLITE_OK) {
        st->failed = 1;
      } else if (!(blob = size ? sqlite3_malloc64(size) : NULL)) {
        sqlite3_result_error_nomem(ctx);
      } else {
        gmm_blob_write(m, blob);
        sqlite3_result_blob64(ctx, blob, size, sqlite3_free);
      }
      gmm_model_free(m);
    }
  }
  sqlite3_free(st->rows);
  sqlite3_free(st->weights);
  sqlite3_free(st->labels);
  st->labels = NULL;
  sqlite3_free(st->spec_bytes);
  gmm_spec_clear(&st->spec);
  st->rows = st->weights = NULL;
  st->spec_bytes = NULL;
}
