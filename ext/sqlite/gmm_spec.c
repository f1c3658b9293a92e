/*
** gmm_spec.c -- the first argument of gmm_fit: an INTEGER k, a JSON object
** of options, or a model BLOB to warm-start from. JSON is read with SQLite's
** own json_each and json_tree on the calling connection, never by hand.
**
** Requirements (tests cite them as "spec (N)"):
**  (1) An INTEGER spec is k, every other option at its default.
**  (2) A TEXT spec is a JSON object whose keys are options, with
**      scikit-learn's names and defaults:
**        k                integer 1..GMM_MAX_K, or a list of them (required)
**        covariance_type  'full' | 'tied' | 'diag' | 'spherical', or one of
**                         mclust's fourteen names ('EII' .. 'VVV'; 'VVV',
**                         'EEE', 'VVI', 'VII' are scikit-learn's four), or
**                         a list of them, or 'all' (mclust's fourteen)
**                         ('full')
**        max_iter         integer 0..GMM_MAX_ITER (100)
**        tol              number >= 0 (1e-3)
**        reg_covar        number >= 0 (1e-6)
**        n_init           integer 1..GMM_MAX_N_INIT (1)
**        init             'kmeans' | 'k-means++' | 'random' |
**                         'random_from_data' | 'labels' | 'hc' ('kmeans');
**                         with 'labels' the first value after the spec (or
**                         after the weight) is each row's integer label
**                         0 .. k - 1
**        hc_rows          2 .. GMM_MAX_HC_ROWS (GMM_DEFAULT_HC_ROWS): init
**                         'hc' builds its tree on at most this many rows
**        criterion        'bic' | 'icl' | 'aic' ('bic'): what a selection
**                         minimises
**        seed             integer >= 0 (0)
**        weighted         true | false (false): the first value after the
**                         spec is then a row weight
**        weights_init     k numbers
**        means_init       k x d numbers
**        precisions_init  full k x d x d, tied d x d, diag k x d,
**                         spherical k numbers
**        vector_type      'float32' | 'float64' ('float32'): how a BLOB
**                         vector argument is read
**        threads          0 .. GMM_MAX_THREADS (0: every core): threads of
**                         the EM passes; not part of the model
**        verbose          0 | 1 | 2 (0): progress on stderr, each
**                         initialisation (1) and each iteration (2); not
**                         part of the model
**        sample_size      1 .. GMM_MAX_SAMPLE_SIZE (GMM_DEFAULT_SAMPLE_SIZE):
**                         gmm_init only, the rows its sample keeps
**        missing          'marginalize' | 'skip' ('marginalize'): what a
**                         row with some feature NULL does; marginalize:
**                         it takes part through its observed features,
**                         skip: it is skipped and counted (n_skipped), as
**                         is a row with every feature NULL in either mode.
**                         Part of the model (gmm_estep reads the model's).
**        prior            'dirichlet_process' | 'dirichlet_distribution' |
**                         'conjugate' | 'none' ('none': maximum
**                         likelihood): the two variational priors are
**                         scikit-learn's BayesianGaussianMixture, the
**                         conjugate prior mclust's priorControl() for
**                         maximum a posteriori EM (gmm.h, gmm_prior)
**        weight_concentration_prior  number (variational: 1 / k)
**        mean_precision_prior        number (1; conjugate 0.01)
**        degrees_of_freedom_prior    number (d; conjugate d + 2)
**        mean_prior       d numbers (the column means)
**        covariance_prior one component's covariance in the storage shape
**                         of covariance_type: full, tied and mclust's
**                         full-shaped types a d x d nested array, diag and
**                         EEI d numbers, spherical and EII one number (or
**                         a one-element array) (the rows' covariance;
**                         conjugate: mclust's var / k^(2/d))
**        prune            true | false (false): variational priors, drop
**                         the components that are not effective after the
**                         fit and go on with EM on the others
**      The prior options are checked here for their JSON type and shape
**      (mean_prior and covariance_prior once d is known, as the *_init
**      arrays); their ranges and how they combine are the core's
**      (gmm_options_check, and at fit time gmm_prior_resolve for the
**      contents of mean_prior and covariance_prior), whose errors name the
**      option and the value too.
**      An unknown key, a key given twice, a value of the wrong type, out of
**      range or of the wrong shape is an error that names the option and
**      the value.
**  (3) A list of k or of covariance types asks for model selection: every
**      pair is fitted and the lowest criterion (BIC unless the option
**      criterion says otherwise) wins. Without the option init a selection
**      starts every candidate from the cut of one hierarchical tree (init
**      'hc', mclust's way); a single fit keeps scikit-learn's 'kmeans'. A
**      value listed twice is an error. Lists do not combine with the *_init
**      options, nor a list of covariance_type with covariance_prior (whose
**      shape is the type's).
**  (4) A BLOB spec is a model from gmm_fit: the fit starts from its
**      parameters with its options (weighted included), one
**      initialisation; a model with a prior keeps its whole prior (the
**      resolved scalars, mean_prior and covariance_prior).
**  (5) gmm_init reads its spec here too (an INTEGER or a JSON object), and
**      errors then name gmm_init (the function's user data is its name).
*/
#include "gmm_spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  OPT_K,
  OPT_COVARIANCE_TYPE,
  OPT_MAX_ITER,
  OPT_TOL,
  OPT_REG_COVAR,
  OPT_N_INIT,
  OPT_INIT,
  OPT_SEED,
  OPT_WEIGHTED,
  OPT_WEIGHTS_INIT,
  OPT_MEANS_INIT,
  OPT_PRECISIONS_INIT,
  OPT_VECTOR_TYPE,
  OPT_VERBOSE,
  OPT_THREADS,
  OPT_SAMPLE_SIZE,
  OPT_MISSING,
  OPT_HC_ROWS,
  OPT_CRITERION,
  OPT_PRIOR,
  OPT_WEIGHT_CONCENTRATION_PRIOR,
  OPT_MEAN_PRECISION_PRIOR,
  OPT_DEGREES_OF_FREEDOM_PRIOR,
  OPT_MEAN_PRIOR,
  OPT_COVARIANCE_PRIOR,
  OPT_PRUNE,
  OPT_COUNT
} option_id;

static const char *const option_names[] = {
    "k",           "covariance_type", "max_iter",   "tol",
    "reg_covar",   "n_init",          "init",       "seed",
    "weighted",    "weights_init",    "means_init", "precisions_init",
    "vector_type", "verbose",         "threads",    "sample_size", "missing",
    "hc_rows",     "criterion",       "prior",      "weight_concentration_prior",
    "mean_precision_prior", "degrees_of_freedom_prior", "mean_prior", "covariance_prior",
    "prune"};
_Static_assert(sizeof option_names / sizeof option_names[0] == OPT_COUNT, "one name per option");

#define KNOWN_OPTIONS                                                                          \
  "k, covariance_type, max_iter, tol, reg_covar, n_init, init, seed, weighted, weights_init, " \
  "means_init, precisions_init, vector_type, verbose, threads, sample_size, missing, hc_rows, " \
  "criterion, prior, weight_concentration_prior, mean_precision_prior, "                     \
  "degrees_of_freedom_prior, mean_prior, covariance_prior, prune"

#define INIT_NAMES                                                                        \
  "one of 'kmeans', 'k-means++', 'random', 'random_from_data', 'labels', 'hc'"
#define COV_NAMES                                                                           \
  "one of 'full', 'tied', 'diag', 'spherical', 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', " \
  "'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV'"
#define CRITERION_NAMES "one of 'bic', 'icl', 'aic'"
#define MISSING_NAMES "one of 'marginalize', 'skip'"
#define PRIOR_NAMES \
  "one of 'dirichlet_process', 'dirichlet_distribution', 'conjugate', 'none'"

/* ---- errors ---- */

/* The function whose spec this is, for error texts: the user data of
** gmm_fit and gmm_init is their name (gmm_ext.c). */
static const char *spec_fn(sqlite3_context *ctx) {
  const char *name = sqlite3_user_data(ctx);
  return name ? name : "gmm_fit";
}

/* "gmm_fit: option NAME must be WANT, provided VALUE". When the value has
** the wrong JSON type, VALUE names the type too ("real 2.5", "text '2'", or
** just true, false, null, array, object); when only its value is wrong, it
** is the value alone ("'foo'"). */
static void option_error(sqlite3_context *ctx, const char *name, const char *want, const char *type,
                         sqlite3_value *atom, int wrong_type) {
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "%s: option %s must be %s, provided ", spec_fn(ctx), name, want);
  const char *text = (const char *)sqlite3_value_text(atom);
  int is_text = strcmp(type, "text") == 0;
  int is_scalar = is_text || strcmp(type, "integer") == 0 || strcmp(type, "real") == 0;
  if (wrong_type || !is_scalar) sqlite3_str_appendall(s, type);
  if (is_scalar) {
    if (wrong_type) sqlite3_str_appendchar(s, 1, ' ');
    if (is_text) {
      gmm_str_append_quoted(s, text ? text : "");
    } else {
      char buf[32];
      sqlite3_str_appendall(s, gmm_number_text(atom, buf));
    }
  }
  gmm_result_error_str(ctx, s);
}

/* ---- running a JSON query ---- */

/* Called for each row of a JSON query: key (or path), type, atom. Returns 0
** to go on, -1 after reporting an error. */
typedef int (*json_row_fn)(sqlite3_context *ctx, void *arg, const char *key, const char *type,
                           sqlite3_value *atom);

/* Runs sql with ?1 bound to json (a value, or else json_text) and hands
** each row to fn. Returns 0, or -1 after reporting an error (what names the
** JSON for SQL errors). */
static int json_rows(sqlite3_context *ctx, const char *sql, sqlite3_value *json,
                     const char *json_text, const char *what, json_row_fn fn, void *arg) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_NOMEM)
      sqlite3_result_error_nomem(ctx);
    else
      gmm_result_errorf(ctx, "%s: JSON options need SQLite's JSON functions: %s", spec_fn(ctx),
                        sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return -1;
  }
  if (json)
    sqlite3_bind_value(stmt, 1, json);
  else
    sqlite3_bind_text(stmt, 1, json_text, -1, SQLITE_STATIC);
  int status = 0;
  while (status == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(stmt, 0);
    const char *type = (const char *)sqlite3_column_text(stmt, 1);
    if (!key || !type) {
      sqlite3_result_error_nomem(ctx);
      status = -1;
    } else {
      status = fn(ctx, arg, key, type, sqlite3_column_value(stmt, 2));
    }
  }
  if (status == 0 && rc != SQLITE_DONE) {
    if (rc == SQLITE_NOMEM)
      sqlite3_result_error_nomem(ctx);
    else
      gmm_result_errorf(ctx, "%s: %s is not valid JSON: %s", spec_fn(ctx), what, sqlite3_errmsg(db));
    status = -1;
  }
  sqlite3_finalize(stmt);
  return status;
}

/* ---- scalar options ---- */

/* Reads an integer in [lo, hi] into *out; name is the option (or list
** element) for the error. */
static int read_integer(sqlite3_context *ctx, const char *name, const char *want, const char *type,
                        sqlite3_value *atom, sqlite3_int64 lo, sqlite3_int64 hi,
                        sqlite3_int64 *out) {
  if (strcmp(type, "integer") != 0) {
    option_error(ctx, name, want, type, atom, 1);
    return -1;
  }
  sqlite3_int64 v = sqlite3_value_int64(atom);
  /* An integer beyond 64 bits reaches us as a REAL: out of range too. */
  int beyond_64_bits = sqlite3_value_type(atom) != SQLITE_INTEGER;
  if (beyond_64_bits || v < lo || v > hi) {
    char buf[32];
    gmm_result_errorf(ctx, "%s: option %s must be between %lld and %lld, provided %s%s", spec_fn(ctx), name,
                      lo, hi, gmm_number_text(atom, buf),
                      beyond_64_bits ? " (beyond the 64-bit integer range)" : "");
    return -1;
  }
  *out = v;
  return 0;
}

/* Reads a name from names (via from_name) into *out. */
static int read_name(sqlite3_context *ctx, const char *name, const char *want, const char *type,
                     sqlite3_value *atom, int (*from_name)(const char *), int *out) {
  if (strcmp(type, "text") != 0) {
    option_error(ctx, name, want, type, atom, 1);
    return -1;
  }
  const char *v = (const char *)sqlite3_value_text(atom);
  int e = v ? from_name(v) : -1;
  if (e < 0) {
    option_error(ctx, name, want, type, atom, 0);
    return -1;
  }
  *out = e;
  return 0;
}

/* ---- lists: spec (3) ---- */

typedef struct list_reader {
  gmm_fit_spec *spec;
  option_id id;
  int n;
} list_reader;

static int list_item(sqlite3_context *ctx, void *arg, const char *key, const char *type,
                     sqlite3_value *atom) {
  list_reader *r = arg;
  gmm_fit_spec *s = r->spec;
  char name[48];
  sqlite3_snprintf((int)sizeof name, name, "%s[%s]", option_names[r->id], key);
  if (r->n >= GMM_MAX_CANDIDATES) {
    gmm_result_errorf(ctx, "%s: option %s has too many values, maximum %d", spec_fn(ctx),
                      option_names[r->id], GMM_MAX_CANDIDATES);
    return -1;
  }
  if (r->id == OPT_K) {
    sqlite3_int64 k;
    if (read_integer(ctx, name, "an integer", type, atom, 1, GMM_MAX_K, &k) != 0) return -1;
    for (int i = 0; i < r->n; i++)
      if (s->k_list[i] == (int)k) {
        gmm_result_errorf(ctx, "%s: option k lists %lld twice", spec_fn(ctx), k);
        return -1;
      }
    s->k_list[r->n++] = (int)k;
    return 0;
  }
  int t;
  if (read_name(ctx, name, COV_NAMES, type, atom, gmm_cov_type_from_name, &t) != 0) return -1;
  for (int i = 0; i < r->n; i++)
    if (s->type_list[i] == (gmm_cov_type)t) {
      gmm_result_errorf(ctx, "%s: option covariance_type lists '%s' twice", spec_fn(ctx),
                        gmm_cov_type_name((gmm_cov_type)t));
      return -1;
    }
  s->type_list[r->n++] = (gmm_cov_type)t;
  return 0;
}

/* A JSON list of k values or of covariance types. */
static int read_list(sqlite3_context *ctx, gmm_fit_spec *s, option_id id, sqlite3_value *json) {
  if (id == OPT_K)
    s->k_list = sqlite3_malloc64(GMM_MAX_CANDIDATES * sizeof *s->k_list);
  else
    s->type_list = sqlite3_malloc64(GMM_MAX_CANDIDATES * sizeof *s->type_list);
  if (id == OPT_K ? !s->k_list : !s->type_list) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  list_reader r = {s, id, 0};
  if (json_rows(ctx, "SELECT key, type, atom FROM json_each(?1)", json, NULL, "argument 1 (spec)",
                list_item, &r) != 0)
    return -1;
  if (r.n == 0) {
    gmm_result_errorf(ctx, "%s: option %s must not be an empty list", spec_fn(ctx), option_names[id]);
    return -1;
  }
  if (id == OPT_K) {
    s->n_k = r.n;
    s->opt.k = s->k_list[0];
  } else {
    s->n_types = r.n;
    s->opt.covariance_type = s->type_list[0];
  }
  return 0;
}

/* covariance_type 'all': mclust's fourteen models, in mclust's order. */
static int all_types(sqlite3_context *ctx, gmm_fit_spec *s) {
  static const gmm_cov_type order[GMM_N_COV_TYPES] = {
      GMM_COV_EII, GMM_COV_SPHERICAL, GMM_COV_EEI, GMM_COV_VEI, GMM_COV_EVI,
      GMM_COV_DIAG, GMM_COV_TIED, GMM_COV_VEE, GMM_COV_EVE, GMM_COV_VVE,
      GMM_COV_EEV, GMM_COV_VEV, GMM_COV_EVV, GMM_COV_FULL};
  s->type_list = sqlite3_malloc64(GMM_N_COV_TYPES * sizeof *s->type_list);
  if (!s->type_list) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  memcpy(s->type_list, order, sizeof order);
  s->n_types = GMM_N_COV_TYPES;
  s->opt.covariance_type = order[0];
  return 0;
}

/* ---- the JSON object: spec (2) ---- */

typedef struct object_reader {
  gmm_fit_spec *spec;
  int seen[OPT_COUNT];
} object_reader;

/* A copy of a JSON value's text in *slot. */
static int keep_text(sqlite3_context *ctx, char **slot, sqlite3_value *value) {
  *slot = sqlite3_mprintf("%s", (const char *)sqlite3_value_text(value));
  if (!*slot) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  return 0;
}

/* Keeps the JSON text of an array option until d is known. */
static int keep_json(sqlite3_context *ctx, gmm_fit_spec *s, option_id id, const char *type,
                     sqlite3_value *value) {
  if (strcmp(type, "array") != 0) {
    option_error(ctx, option_names[id], "an array of numbers", type, value, 1);
    return -1;
  }
  return keep_text(ctx, &s->init_json[id - OPT_WEIGHTS_INIT], value);
}

static int object_member(sqlite3_context *ctx, void *arg, const char *key, const char *type,
                         sqlite3_value *value) {
  object_reader *r = arg;
  gmm_fit_spec *s = r->spec;
  gmm_options *o = &s->opt;
  int id = 0;
  while (id < OPT_COUNT && strcmp(key, option_names[id]) != 0) id++;
  if (id == OPT_COUNT) {
    sqlite3_str *msg = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(msg, "%s: unknown option ", spec_fn(ctx));
    gmm_str_append_quoted(msg, key);
    sqlite3_str_appendall(msg, " in argument 1 (spec); known options: " KNOWN_OPTIONS);
    gmm_result_error_str(ctx, msg);
    return -1;
  }
  if (r->seen[id]++) {
    gmm_result_errorf(ctx, "%s: option %s is given twice", spec_fn(ctx), key);
    return -1;
  }
  const char *name = option_names[id];
  sqlite3_int64 v;
  int e;
  switch ((option_id)id) {
    case OPT_K:
      if (strcmp(type, "array") == 0) return read_list(ctx, s, OPT_K, value);
      if (read_integer(ctx, name, "an integer or a list of integers", type, value, 1, GMM_MAX_K,
                       &v) != 0)
        return -1;
      o->k = (int)v;
      return 0;
    case OPT_COVARIANCE_TYPE:
      if (strcmp(type, "array") == 0) return read_list(ctx, s, OPT_COVARIANCE_TYPE, value);
      if (strcmp(type, "text") == 0) {
        const char *text = (const char *)sqlite3_value_text(value);
        if (!text) {
          sqlite3_result_error_nomem(ctx);
          return -1;
        }
        if (strcmp(text, "all") == 0) return all_types(ctx, s);
      }
      if (read_name(ctx, name, COV_NAMES ", a list of them or 'all'", type, value,
                    gmm_cov_type_from_name, &e) != 0)
        return -1;
      o->covariance_type = (gmm_cov_type)e;
      return 0;
    case OPT_MAX_ITER:
    case OPT_N_INIT:
    case OPT_SEED: {
      sqlite3_int64 lo = id == OPT_N_INIT ? 1 : 0;
      sqlite3_int64 hi = id == OPT_MAX_ITER ? GMM_MAX_ITER
                         : id == OPT_N_INIT ? GMM_MAX_N_INIT
                                            : (sqlite3_int64)0x7fffffffffffffffLL;
      if (read_integer(ctx, name, "an integer", type, value, lo, hi, &v) != 0) return -1;
      if (id == OPT_MAX_ITER)
        o->max_iter = (int)v;
      else if (id == OPT_N_INIT)
        o->n_init = (int)v;
      else
        o->seed = (uint64_t)v;
      return 0;
    }
    case OPT_TOL:
    case OPT_REG_COVAR: {
      if (strcmp(type, "integer") != 0 && strcmp(type, "real") != 0) {
        option_error(ctx, name, "a number", type, value, 1);
        return -1;
      }
      double x = sqlite3_value_double(value);
      if (!(x >= 0.0) || !isfinite(x)) {
        char buf[32];
        gmm_result_errorf(ctx, "%s: option %s must be a finite number >= 0, provided %s", spec_fn(ctx), name,
                          gmm_number_text(value, buf));
        return -1;
      }
      if (id == OPT_TOL)
        o->tol = x;
      else
        o->reg_covar = x;
      return 0;
    }
    case OPT_INIT:
      if (read_name(ctx, name, INIT_NAMES, type, value, gmm_init_from_name, &e) != 0) return -1;
      o->init = (gmm_init_method)e;
      return 0;
    case OPT_MISSING:
      if (read_name(ctx, name, MISSING_NAMES, type, value, gmm_missing_from_name, &e) != 0)
        return -1;
      o->missing = (gmm_missing)e;
      return 0;
    case OPT_CRITERION:
      if (read_name(ctx, name, CRITERION_NAMES, type, value, gmm_criterion_from_name, &e) != 0)
        return -1;
      o->criterion = (gmm_criterion)e;
      return 0;
    case OPT_HC_ROWS:
      if (read_integer(ctx, name, "an integer", type, value, 2, GMM_MAX_HC_ROWS, &v) != 0)
        return -1;
      o->hc_rows = (int)v;
      return 0;
    case OPT_WEIGHTED:
      if (strcmp(type, "true") != 0 && strcmp(type, "false") != 0) {
        option_error(ctx, name, "true or false", type, value, 1);
        return -1;
      }
      s->weighted = strcmp(type, "true") == 0;
      return 0;
    case OPT_WEIGHTS_INIT:
    case OPT_MEANS_INIT:
    case OPT_PRECISIONS_INIT: return keep_json(ctx, s, (option_id)id, type, value);
    case OPT_THREADS:
      if (read_integer(ctx, name, "an integer", type, value, 0, GMM_MAX_THREADS, &v) != 0)
        return -1;
      o->threads = (int)v;
      return 0;
    case OPT_SAMPLE_SIZE:
      if (read_integer(ctx, name, "an integer", type, value, 1, GMM_MAX_SAMPLE_SIZE, &v) != 0)
        return -1;
      s->sample_size = (int)v;
      return 0;
    case OPT_VERBOSE:
      if (read_integer(ctx, name, "an integer", type, value, 0, 2, &v) != 0) return -1;
      s->verbose = (int)v;
      return 0;
    case OPT_VECTOR_TYPE: {
      const char *text = strcmp(type, "text") == 0 ? (const char *)sqlite3_value_text(value) : NULL;
      if (!text || (strcmp(text, "float32") != 0 && strcmp(text, "float64") != 0)) {
        option_error(ctx, name, "'float32' or 'float64'", type, value, !text);
        return -1;
      }
      s->vector_f64 = strcmp(text, "float64") == 0;
      return 0;
    }
    case OPT_PRIOR:
      if (read_name(ctx, name, PRIOR_NAMES, type, value, gmm_prior_from_name, &e) != 0) return -1;
      o->prior = (gmm_prior)e;
      break;
    case OPT_WEIGHT_CONCENTRATION_PRIOR:
    case OPT_MEAN_PRECISION_PRIOR:
    case OPT_DEGREES_OF_FREEDOM_PRIOR: {
      /* The type here, the range in the core (gmm_prior_options_check). */
      if (strcmp(type, "integer") != 0 && strcmp(type, "real") != 0) {
        option_error(ctx, name, "a number", type, value, 1);
        return -1;
      }
      double x = sqlite3_value_double(value);
      if (id == OPT_WEIGHT_CONCENTRATION_PRIOR)
        o->weight_concentration_prior = x;
      else if (id == OPT_MEAN_PRECISION_PRIOR)
        o->mean_precision_prior = x;
      else
        o->degrees_of_freedom_prior = x;
      break;
    }
    case OPT_MEAN_PRIOR:
      if (strcmp(type, "array") != 0) {
        option_error(ctx, name, "an array of numbers", type, value, 1);
        return -1;
      }
      if (keep_text(ctx, &s->prior_json[0], value) != 0) return -1;
      break;
    case OPT_COVARIANCE_PRIOR:
      /* spec (2): the shape once d is known; a bare number is the
      ** spherical shape's one variance. */
      if (strcmp(type, "integer") == 0 || strcmp(type, "real") == 0) {
        s->covariance_prior_is_number = 1;
        s->covariance_prior_number = sqlite3_value_double(value);
      } else if (strcmp(type, "array") != 0) {
        option_error(ctx, name, "a number or an array of numbers", type, value, 1);
        return -1;
      } else if (keep_text(ctx, &s->prior_json[1], value) != 0) {
        return -1;
      }
      break;
    case OPT_PRUNE:
      if (strcmp(type, "true") != 0 && strcmp(type, "false") != 0) {
        option_error(ctx, name, "true or false", type, value, 1);
        return -1;
      }
      o->prune = strcmp(type, "true") == 0;
      break;
    case OPT_COUNT: break;
  }
  if (id >= OPT_PRIOR && !s->prior_option) s->prior_option = option_names[id];
  return 0;
}

/* The JSON type of the spec through json_type(): 1 for an object, 0 after
** reporting any other JSON or malformed text. */
static int spec_is_object(sqlite3_context *ctx, sqlite3_value *spec) {
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt *stmt = NULL;
  int is_object = 0, rc = sqlite3_prepare_v2(db, "SELECT json_type(?1)", -1, &stmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_value(stmt, 1, spec);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const char *type = (const char *)sqlite3_column_text(stmt, 0);
      if (!type) rc = SQLITE_NOMEM;
      is_object = type && strcmp(type, "object") == 0;
    }
  }
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else if (rc != SQLITE_ROW) {
    gmm_result_errorf(ctx, "%s: argument 1 (spec) is not valid JSON: %s", spec_fn(ctx), sqlite3_errmsg(db));
  } else if (!is_object) {
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s,
                        "%s: argument 1 (spec) must be an INTEGER k, a JSON object or "
                        "a model BLOB, provided TEXT ",
                        spec_fn(ctx));
    gmm_str_append_quoted(s, (const char *)sqlite3_value_text(spec));
    gmm_result_error_str(ctx, s);
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_ROW && is_object;
}

static int parse_object(sqlite3_context *ctx, sqlite3_value *spec, gmm_fit_spec *s) {
  if (!spec_is_object(ctx, spec)) return -1;
  object_reader r;
  memset(&r, 0, sizeof r);
  r.spec = s;
  if (json_rows(ctx, "SELECT key, type, value FROM json_each(?1)", spec, NULL, "argument 1 (spec)",
                object_member, &r) != 0)
    return -1;
  if (!r.seen[OPT_K]) {
    gmm_result_errorf(ctx, "%s: option k is required in argument 1 (spec)", spec_fn(ctx));
    return -1;
  }
  int lists = s->n_k > 0 || s->n_types > 0;
  /* spec (3): a selection starts from mclust's hierarchical tree unless
  ** init says otherwise. */
  if (lists && !r.seen[OPT_INIT]) s->opt.init = GMM_INIT_HC;
  for (int i = 0; i < 3 && lists; i++)
    if (s->init_json[i]) {
      gmm_result_errorf(ctx,
                        "%s: option %s does not combine with a list of k or of "
                        "covariance_type", spec_fn(ctx),
                        option_names[OPT_WEIGHTS_INIT + i]);
      return -1;
    }
  if (s->n_types > 0 && (s->prior_json[1] || s->covariance_prior_is_number)) {
    gmm_result_errorf(ctx,
                      "%s: option covariance_prior does not combine with a list of "
                      "covariance_type (its shape is the covariance type's)",
                      spec_fn(ctx));
    return -1;
  }
  return 0;
}

/* ---- warm start: spec (4) ---- */

static int parse_model(sqlite3_context *ctx, sqlite3_value *spec, gmm_fit_spec *s) {
  char err[256];
  const unsigned char *bytes = sqlite3_value_blob(spec);
  size_t n = (size_t)sqlite3_value_bytes(spec);
  gmm_status rc =
      gmm_blob_read(bytes, bytes ? n : 0, &gmm_sqlite_allocator, &s->warm_start, err, sizeof err);
  if (rc == GMM_ENOMEM) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  if (rc != GMM_OK) {
    gmm_result_errorf(ctx, "%s: argument 1 (spec) is not a valid gmm model: %s", spec_fn(ctx), err);
    return -1;
  }
  s->opt = s->warm_start->options;
  s->opt.warm_start = s->warm_start;
  /* The whole prior: the options hold its resolved scalars, the model its
  ** arrays (NULL without a prior). */
  s->opt.mean_prior = s->warm_start->mean_prior;
  s->opt.covariance_prior = s->warm_start->covariance_prior;
  s->weighted = s->warm_start->summary.weighted;
  return 0;
}

int gmm_spec_parse(sqlite3_context *ctx, sqlite3_value *spec, gmm_fit_spec *s) {
  memset(s, 0, sizeof *s);
  gmm_options_default(&s->opt, 1);
  switch (sqlite3_value_type(spec)) {
    case SQLITE_INTEGER: {
      sqlite3_int64 k = sqlite3_value_int64(spec);
      if (k < 1 || k > GMM_MAX_K) {
        gmm_result_errorf(ctx,
                          "%s: argument 1 (spec) k must be between 1 and %d, provided %lld", spec_fn(ctx),
                          GMM_MAX_K, k);
        return -1;
      }
      s->opt.k = (int)k;
      return 0;
    }
    case SQLITE_TEXT: return parse_object(ctx, spec, s);
    case SQLITE_BLOB: return parse_model(ctx, spec, s);
    default:
      gmm_result_errorf(ctx,
                        "%s: argument 1 (spec) must be an INTEGER k, a JSON object or "
                        "a model BLOB, provided %s", spec_fn(ctx),
                        sqlite3_value_type(spec) == SQLITE_NULL ? "NULL" : "a REAL");
      return -1;
  }
}

/* ---- the *_init arrays, once d is known ---- */

typedef struct array_reader {
  const char *name;
  int ndim;
  int shape[3];
  double *out;
  size_t count;
  int bad; /* the array does not have the shape */
} array_reader;

/* A leaf of json_tree: its path must be $[i]..[l] with ndim indices within
** the shape, and it must be a number. */
static int array_leaf(sqlite3_context *ctx, void *arg, const char *path, const char *type,
                      sqlite3_value *atom) {
  array_reader *r = arg;
  (void)ctx;
  if (strcmp(type, "integer") != 0 && strcmp(type, "real") != 0) {
    r->bad = 1;
    return 0;
  }
  const char *p = path;
  if (*p++ != '$') r->bad = 1;
  size_t flat = 0;
  int dim = 0;
  while (!r->bad && *p == '[') {
    char *end;
    long idx = strtol(p + 1, &end, 10);
    if (*end != ']' || dim >= r->ndim || idx < 0 || idx >= r->shape[dim]) {
      r->bad = 1;
      break;
    }
    flat = flat * (size_t)r->shape[dim] + (size_t)idx;
    dim++;
    p = end + 1;
  }
  if (r->bad || *p != 0 || dim != r->ndim) {
    r->bad = 1;
    return 0;
  }
  double v = sqlite3_value_double(atom);
  if (!isfinite(v)) {
    r->bad = 1;
    return 0;
  }
  r->out[flat] = v;
  r->count++;
  return 0;
}

/* Reads the JSON array json of option id, of the given shape. Every leaf
** is a number at a distinct index within the shape, so a count equal to
** the shape's size means every element is there exactly once. */
static int read_json_array(sqlite3_context *ctx, option_id id, const char *json, int ndim,
                           const int *shape, const char *shape_text, double **out) {
  size_t size = 1;
  for (int a = 0; a < ndim; a++) size *= (size_t)shape[a];
  *out = sqlite3_malloc64(size * sizeof(double));
  if (!*out) {
    sqlite3_result_error_nomem(ctx);
    return -1;
  }
  array_reader r = {option_names[id], ndim, {0, 0, 0}, *out, 0, 0};
  memcpy(r.shape, shape, (size_t)ndim * sizeof *shape);
  char what[48];
  sqlite3_snprintf((int)sizeof what, what, "option %s", r.name);
  if (json_rows(ctx,
                "SELECT fullkey, type, atom FROM json_tree(?1) "
                "WHERE type NOT IN ('array', 'object')",
                NULL, json, what, array_leaf, &r) != 0)
    return -1;
  if (r.bad || r.count != size) {
    sqlite3_str *msg = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(msg, "%s: option %s must be %s array of finite numbers, provided ", spec_fn(ctx),
                        r.name, shape_text);
    gmm_str_append_quoted(msg, json);
    gmm_result_error_str(ctx, msg);
    return -1;
  }
  return 0;
}

/* Reads init array i (0 weights, 1 means, 2 precisions). */
static int read_init_array(sqlite3_context *ctx, gmm_fit_spec *s, int i, int ndim, const int *shape,
                           const char *shape_text, double **out) {
  return read_json_array(ctx, (option_id)(OPT_WEIGHTS_INIT + i), s->init_json[i], ndim, shape,
                         shape_text, out);
}

/* mean_prior (d numbers) and covariance_prior (one component's
** covariance in the storage shape of the covariance type): spec (2). */
static int bind_prior_arrays(sqlite3_context *ctx, gmm_fit_spec *s, int d) {
  gmm_options *o = &s->opt;
  char text[96];
  if (s->prior_json[0]) {
    int shape[1] = {d};
    sqlite3_snprintf((int)sizeof text, text, "a %d-element (d)", d);
    if (read_json_array(ctx, OPT_MEAN_PRIOR, s->prior_json[0], 1, shape, text, &s->mean_prior) !=
        0)
      return -1;
    o->mean_prior = s->mean_prior;
  }
  if (!s->prior_json[1] && !s->covariance_prior_is_number) return 0;
  int shape[2] = {d, d}, ndim = 2;
  const char *type = gmm_cov_type_name(o->covariance_type);
  switch (gmm_cov_shape(o->covariance_type)) {
    case GMM_COV_DIAG:
      ndim = 1;
      sqlite3_snprintf((int)sizeof text, text, "a %d-element (d, %s)", d, type);
      break;
    case GMM_COV_SPHERICAL:
      shape[0] = 1, ndim = 1;
      sqlite3_snprintf((int)sizeof text, text, "a number or a 1-element (%s)", type);
      break;
    default: sqlite3_snprintf((int)sizeof text, text, "a %d x %d (d x d, %s)", d, d, type); break;
  }
  if (s->covariance_prior_is_number) {
    /* A bare number is the spherical shape's variance; any other shape
    ** is an array. */
    if (ndim != 1 || shape[0] != 1) {
      sqlite3_str *msg = sqlite3_str_new(sqlite3_context_db_handle(ctx));
      sqlite3_str_appendf(msg, "%s: option covariance_prior must be %s array of finite numbers, "
                          "provided ", spec_fn(ctx), text);
      gmm_str_append_double(msg, s->covariance_prior_number);
      gmm_result_error_str(ctx, msg);
      return -1;
    }
    s->covariance_prior = sqlite3_malloc64(sizeof(double));
    if (!s->covariance_prior) {
      sqlite3_result_error_nomem(ctx);
      return -1;
    }
    s->covariance_prior[0] = s->covariance_prior_number;
  } else if (read_json_array(ctx, OPT_COVARIANCE_PRIOR, s->prior_json[1], ndim, shape, text,
                             &s->covariance_prior) != 0) {
    return -1;
  }
  o->covariance_prior = s->covariance_prior;
  return 0;
}

int gmm_spec_bind_d(sqlite3_context *ctx, gmm_fit_spec *s, int d) {
  gmm_options *o = &s->opt;
  int k = o->k;
  char text[96];
  if (s->init_json[0]) {
    int shape[1] = {k};
    sqlite3_snprintf((int)sizeof text, text, "a %d-element (k)", k);
    if (read_init_array(ctx, s, 0, 1, shape, text, &s->weights_init) != 0) return -1;
    o->weights_init = s->weights_init;
  }
  if (s->init_json[1]) {
    int shape[2] = {k, d};
    sqlite3_snprintf((int)sizeof text, text, "a %d x %d (k x d)", k, d);
    if (read_init_array(ctx, s, 1, 2, shape, text, &s->means_init) != 0) return -1;
    o->means_init = s->means_init;
  }
  if (s->init_json[2]) {
    int shape[3] = {k, d, d}, ndim = 3;
    switch (gmm_cov_shape(o->covariance_type)) {
      case GMM_COV_FULL:
        sqlite3_snprintf((int)sizeof text, text, "a %d x %d x %d (k x d x d)", k, d, d);
        break;
      case GMM_COV_TIED:
        shape[0] = d, ndim = 2;
        sqlite3_snprintf((int)sizeof text, text, "a %d x %d (d x d, tied)", d, d);
        break;
      case GMM_COV_DIAG:
        ndim = 2;
        sqlite3_snprintf((int)sizeof text, text, "a %d x %d (k x d, diag)", k, d);
        break;
      case GMM_COV_SPHERICAL:
        ndim = 1;
        sqlite3_snprintf((int)sizeof text, text, "a %d-element (k, spherical)", k);
        break;
      default: break;
    }
    if (read_init_array(ctx, s, 2, ndim, shape, text, &s->precisions_init) != 0) return -1;
    o->precisions_init = s->precisions_init;
  }
  return bind_prior_arrays(ctx, s, d);
}

void gmm_spec_clear(gmm_fit_spec *s) {
  sqlite3_free(s->k_list);
  sqlite3_free(s->type_list);
  for (int i = 0; i < 3; i++) sqlite3_free(s->init_json[i]);
  sqlite3_free(s->weights_init);
  sqlite3_free(s->means_init);
  sqlite3_free(s->precisions_init);
  for (int i = 0; i < 2; i++) sqlite3_free(s->prior_json[i]);
  sqlite3_free(s->mean_prior);
  sqlite3_free(s->covariance_prior);
  gmm_model_free(s->warm_start);
  memset(s, 0, sizeof *s);
}
