/*
** gmm_apply.c -- the functions that read a model BLOB: gmm_predict,
** gmm_predict_proba, gmm_score, gmm_impute, gmm_info, gmm_bic, gmm_aic,
** gmm_converged, and the cache of decoded models they share.
**
** Requirements (tests cite them as "apply (N)"):
**  (1) gmm_predict(model, x1..xd) is the most probable component, an
**      INTEGER in 0 .. k-1 (the lowest on ties); gmm_predict_proba is the
**      JSON array of the k posteriors (JSON subtype); gmm_score is log p(x),
**      scikit-learn's score_samples.
**  (2) A NULL feature is a missing value (DESIGN §1), whatever the model's
**      option missing says (it is about fitting): gmm_predict,
**      gmm_predict_proba and gmm_score of a row with some features NULL
**      use the observed features only, that is the mixture restricted to
**      them (the sub-vectors of the means, the sub-matrices of the
**      covariances): the posteriors given the observed values, and the log
**      density of the observed block. Such scores are densities in fewer
**      dimensions, not comparable with those of rows with another pattern
**      of missing features. A row with every feature NULL, and a NULL
**      model, give NULL. A single TEXT or BLOB argument after the model is
**      a vector of the model's d values (ext (5)); its null elements are
**      missing values, and a NULL vector or one of nulls only is a row with
**      every feature missing.
**  (3) A model that is not a BLOB, or a BLOB that fails validation, is an
**      error naming the function, argument 1 and what is wrong; so is a
**      number of features other than the model's d, and a feature that is
**      not a finite INTEGER or REAL (ext (4)).
**  (4) gmm_info(model) is a JSON object: format_version, k, d,
**      covariance_type, weights, means, covariances (k x d x d), n_samples,
**      n_skipped, n_incomplete (rows used that had some feature missing),
**      missing_fraction (missing cells / (rows used x d), unweighted),
**      log_likelihood, n_iter, converged, best_init, empty_components,
**      warm_started, bic, aic, icl (null when unknown: a model from passes
**      or decoded from a format before 4), model_name (mclust's name of the
**      covariance model), candidates (after a selection; each with bic,
**      aic and icl), options (every option of the fit, missing, hc_rows
**      and criterion included).
**      gmm_bic / gmm_aic / gmm_icl are the REAL criteria on the training
**      rows (gmm_icl NULL when unknown);
**      gmm_converged is 1 when the fit (or the last pass) met tol, else 0.
**      A model with a prior (and only such a model: the JSON of the others
**      is unchanged) adds after icl: prior (its name), and for the
**      variational priors lower_bound (the fit's evidence lower bound,
**      scikit-learn's lower_bound_), effective_components
**      (gmm_model_n_effective: components whose share of the rows
**      exceeds 1 / (GMM_EFFECTIVE_DIVISOR k)) and n_pruned (components the option
**      prune dropped); its options add prior, weight_concentration_prior
**      (variational), mean_precision_prior, degrees_of_freedom_prior,
**      mean_prior (d numbers), covariance_prior (one component's
**      covariance in scikit-learn's shape: d x d for full and tied, d
**      numbers for diag, a number for spherical) and prune (variational),
**      the values the fit used (defaults resolved from the rows).
**      gmm_bic, gmm_aic and gmm_icl of a variational model are NULL (and
**      null in gmm_info): its log-likelihood is the rows' sum of scores
**      under expected log weights and precisions, not a maximised
**      likelihood, and these criteria compare maximum-likelihood fits
**      (the bound of a variational fit, lower_bound, is its own
**      criterion). A conjugate-prior (MAP) model has them as usual.
**  (7) A variational model (prior 'dirichlet_process' or
**      'dirichlet_distribution') scores complete rows only: gmm_predict,
**      gmm_predict_proba and gmm_score of a row with some feature NULL
**      give NULL, as the core computes no marginal of the variational
**      posterior (the fit refuses such rows too). gmm_impute (and the
**      table gmm_impute_draws) of such a model is an error: imputation
**      needs a maximum-likelihood or 'conjugate' model.
**  (5) A BLOB is decoded once, not once per row: through sqlite3_auxdata
**      when the argument is constant, and through a small per-connection
**      cache (keyed by length and checksum, confirmed by comparing bytes)
**      when it is not, as for a scalar subquery or a join column.
**  (6) gmm_impute(model, x1..xd) (or one vector argument) is a JSON array
**      (JSON subtype) of d numbers: each observed value as given (as a
**      double, written as gmm_info writes numbers, the shortest text that
**      reads back exactly, so json_extract gives the value back bit for
**      bit), each missing one replaced by its conditional mean under the
**      mixture, E[x_m | x_o] = sum_j p(j | x_o) (mu_jm + S_jmo S_joo^-1
**      (x_o - mu_jo)) (gmm_model_impute_row). A row with every feature
**      missing (a single NULL argument included) gets the mixture mean
**      sum_j w_j mu_j: unlike the other apply functions, whose answer for
**      such a row would be the prior, it is NOT NULL, so that filling a
**      table's NULLs leaves none. A row with nothing missing comes back
**      unchanged. A NULL model gives NULL. Arguments are checked as for
**      gmm_predict (apply (3)).
*/
#include "gmm_sqlite.h"

#include <math.h>
#include <string.h>

#define CACHE_SLOTS 4

/* A decoded model with the scratch its per-row work needs. Reference
** counted: the cache holds one reference, each auxdata slot another. */
typedef struct model_entry {
  int refs;
  sqlite3_uint64 checksum;
  size_t n_bytes;
  unsigned char *bytes; /* a copy of the BLOB, to confirm cache hits */
  gmm_model *model;
  double *x;                      /* d: the row's features */
  double *scratch;                /* gmm_model_scratch_len */
  double *post;                   /* k */
  const sqlite3_context *aux_ctx; /* the call site that last set auxdata to it */
} model_entry;

/* The connection's cache, most recently used first; shared by every
** function registered with it (refs counts them). */
struct gmm_cache {
  int refs;
  model_entry *slot[CACHE_SLOTS];
};

static void entry_unref(void *p) {
  model_entry *e = p;
  if (!e || --e->refs > 0) return;
  gmm_model_free(e->model);
  sqlite3_free(e->bytes);
  sqlite3_free(e);
}

gmm_cache *gmm_cache_new(void) {
  gmm_cache *c = sqlite3_malloc64(sizeof *c);
  if (c) memset(c, 0, sizeof *c);
  return c;
}

void gmm_cache_ref(gmm_cache *c) {
  c->refs++;
}

void gmm_cache_unref(void *p) {
  gmm_cache *c = p;
  if (!c || --c->refs > 0) return;
  for (int i = 0; i < CACHE_SLOTS; i++) entry_unref(c->slot[i]);
  sqlite3_free(c);
}

/* Decodes a BLOB into a new entry (one reference), or reports an error. */
static model_entry *entry_new(sqlite3_context *ctx, const char *fn, const unsigned char *bytes,
                              size_t n) {
  char err[256];
  gmm_model *m = NULL;
  gmm_status rc = gmm_blob_read(bytes, n, &gmm_sqlite_allocator, &m, err, sizeof err);
  if (rc == GMM_ENOMEM) {
    sqlite3_result_error_nomem(ctx);
    return NULL;
  }
  if (rc != GMM_OK) {
    gmm_result_errorf(ctx, "%s: argument 1 (model) is not a valid gmm model: %s", fn, err);
    return NULL;
  }
  size_t k = (size_t)m->k, d = (size_t)m->d;
  size_t doubles = d + gmm_model_scratch_len(m) + k;
  model_entry *e = sqlite3_malloc64(sizeof *e + doubles * sizeof(double));
  unsigned char *copy = sqlite3_malloc64(n);
  if (!e || !copy) {
    sqlite3_free(e);
    sqlite3_free(copy);
    gmm_model_free(m);
    sqlite3_result_error_nomem(ctx);
    return NULL;
  }
  memcpy(copy, bytes, n);
  e->refs = 1;
  e->aux_ctx = NULL;
  e->checksum = gmm_blob_stored_checksum(bytes, n);
  e->n_bytes = n;
  e->bytes = copy;
  e->model = m;
  e->x = (double *)(e + 1);
  e->scratch = e->x + d;
  e->post = e->scratch + gmm_model_scratch_len(m);
  return e;
}

/* The decoded model of argument 0: apply (3), (5). Returns NULL with an
** error set on ctx, or with *is_null set for a NULL model. The entry stays
** valid until the function returns (the cache holds it). */
static model_entry *model_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v,
                              int *is_null) {
  *is_null = 0;
  model_entry *e = sqlite3_get_auxdata(ctx, 0);
  if (e) return e;
  int type = sqlite3_value_type(v);
  if (type == SQLITE_NULL) {
    *is_null = 1;
    return NULL;
  }
  if (type != SQLITE_BLOB) {
    gmm_result_errorf(ctx,
                      "%s: argument 1 (model) must be a model BLOB from gmm_fit, "
                      "provided %s",
                      fn,
                      type == SQLITE_TEXT      ? "TEXT"
                      : type == SQLITE_INTEGER ? "an INTEGER"
                                               : "a REAL");
    return NULL;
  }
  const unsigned char *bytes = sqlite3_value_blob(v);
  size_t n = (size_t)sqlite3_value_bytes(v);
  if (!bytes && n > 0) {
    sqlite3_result_error_nomem(ctx);
    return NULL;
  }
  gmm_cache *cache = sqlite3_user_data(ctx);
  sqlite3_uint64 sum = gmm_blob_stored_checksum(bytes, n);
  int hit = -1;
  for (int i = 0; i < CACHE_SLOTS && hit < 0; i++) {
    model_entry *c = cache->slot[i];
    if (c && c->n_bytes == n && c->checksum == sum && memcmp(c->bytes, bytes, n) == 0) hit = i;
  }
  if (hit >= 0) {
    e = cache->slot[hit];
  } else {
    e = entry_new(ctx, fn, bytes, n);
    if (!e) return NULL;
    hit = CACHE_SLOTS - 1;
    entry_unref(cache->slot[hit]);
    cache->slot[hit] = e;
  }
  /* Most recently used first. */
  memmove(&cache->slot[1], &cache->slot[0], (size_t)hit * sizeof cache->slot[0]);
  cache->slot[0] = e;
  /* The context of a function call site stays the same for every row of a
  ** statement. Auxdata already set from this one and gone means the
  ** argument is not constant (a subquery, a join column): setting it again
  ** would only cost SQLite an allocation per row. */
  if (e->aux_ctx == ctx) return e;
  e->aux_ctx = ctx;
  /* SQLite may drop the auxdata at once; the cache's reference keeps e
  ** alive for the rest of this call either way. */
  e->refs++;
  sqlite3_set_auxdata(ctx, 0, e, entry_unref);
  return e;
}

/* Model and features of an apply call: apply (2), (3). Returns the entry
** with e->x filled (NaN where a feature is missing), or NULL with an error
** set or (for NULL inputs) a NULL result. A row with every feature missing
** gives NULL unless all_missing_ok (gmm_impute). */
static model_entry *apply_args(sqlite3_context *ctx, const char *fn, int argc,
                               sqlite3_value **argv, int all_missing_ok) {
  if (argc < 2) {
    gmm_result_errorf(ctx,
                      "%s: expected a model and at least one feature, provided %d "
                      "argument%s",
                      fn, argc, argc == 1 ? "" : "s");
    return NULL;
  }
  int is_null;
  model_entry *e = model_arg(ctx, fn, argv[0], &is_null);
  if (!e && !is_null) return NULL;
  int type = sqlite3_value_type(argv[1]), n_missing = 0;
  if (argc == 2 && type == SQLITE_NULL) {
    /* A NULL vector or feature: every feature missing, whatever d is. */
    if (!e || !all_missing_ok) return NULL;
    for (int j = 0; j < e->model->d; j++) e->x[j] = (double)NAN;
    return e;
  }
  if (argc == 2 && (type == SQLITE_TEXT || type == SQLITE_BLOB)) {
    /* One vector argument (ext (5)): its length must be the model's d.
    ** Without a model d is unknown, and the result is NULL anyway. */
    if (!e) return NULL;
    double vec[GMM_MAX_D];
    if (gmm_read_vector(ctx, fn, argv[1], 2, 0, e->model->d, -1, vec) < 0) return NULL;
    memcpy(e->x, vec, (size_t)e->model->d * sizeof *vec);
    n_missing = gmm_count_missing(e->x, e->model->d);
  } else {
    if (e && e->model->d != argc - 1) {
      gmm_result_errorf(ctx, "%s: the model has %d feature%s, provided %d", fn, e->model->d,
                        e->model->d == 1 ? "" : "s", argc - 1);
      return NULL;
    }
    /* Every argument is read, so that an error anywhere is reported even
    ** when the model or another feature is NULL. */
    for (int j = 0; j < argc - 1; j++) {
      double ignored, *slot = e ? &e->x[j] : &ignored;
      gmm_feature_read r = gmm_read_feature(ctx, fn, argv[j + 1], j + 2, j + 1, 0, slot);
      if (r == GMM_FEATURE_ERROR) return NULL;
      n_missing += r == GMM_FEATURE_NULL;
    }
    if (!e) return NULL; /* a NULL model: a NULL result is the default */
  }
  if (all_missing_ok) return e;
  /* apply (7): a variational model scores complete rows only. */
  if (n_missing == e->model->d ||
      (n_missing > 0 && gmm_prior_variational(e->model->options.prior)))
    return NULL;
  return e;
}

/* apply (7): imputation needs a model whose marginals the core computes. */
static int check_imputable(sqlite3_context *ctx, const char *fn, const gmm_model *m) {
  if (!gmm_prior_variational(m->options.prior)) return 0;
  gmm_result_errorf(ctx,
                    "%s: the model has prior '%s' (a variational posterior, which scores "
                    "complete rows only): imputation needs a maximum-likelihood or "
                    "'conjugate' model",
                    fn, gmm_prior_name(m->options.prior));
  return -1;
}

void gmm_predict_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  model_entry *e = apply_args(ctx, "gmm_predict", argc, argv, 0);
  if (!e) return;
  sqlite3_result_int(ctx, gmm_model_predict_row(e->model, e->x, e->scratch));
}

void gmm_score_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  model_entry *e = apply_args(ctx, "gmm_score", argc, argv, 0);
  if (!e) return;
  sqlite3_result_double(ctx, gmm_model_score_row(e->model, e->x, e->scratch, NULL, NULL));
}

void gmm_predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  model_entry *e = apply_args(ctx, "gmm_predict_proba", argc, argv, 0);
  if (!e) return;
  gmm_model_score_row(e->model, e->x, e->scratch, e->post, NULL);
  sqlite3_str *s = sqlite3_str_new(NULL);
  gmm_str_append_array(s, e->post, (size_t)e->model->k);
  gmm_result_json(ctx, "gmm_predict_proba", s);
}

/* apply (6). */
void gmm_impute_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  model_entry *e = apply_args(ctx, "gmm_impute", argc, argv, 1);
  if (!e || check_imputable(ctx, "gmm_impute", e->model) != 0) return;
  if (gmm_count_missing(e->x, e->model->d) > 0)
    gmm_model_impute_row(e->model, e->x, e->scratch);
  sqlite3_str *s = sqlite3_str_new(NULL);
  gmm_str_append_array(s, e->x, (size_t)e->model->d);
  gmm_result_json(ctx, "gmm_impute", s);
}

/* The model of a one-argument inspection function, or NULL. */
static const gmm_model *inspect_arg(sqlite3_context *ctx, const char *fn, sqlite3_value **argv) {
  int is_null;
  model_entry *e = model_arg(ctx, fn, argv[0], &is_null);
  return e ? e->model : NULL;
}

void gmm_bic_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const gmm_model *m = inspect_arg(ctx, "gmm_bic", argv);
  if (m && !gmm_prior_variational(m->options.prior)) sqlite3_result_double(ctx, gmm_model_bic(m));
}

void gmm_aic_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const gmm_model *m = inspect_arg(ctx, "gmm_aic", argv);
  if (m && !gmm_prior_variational(m->options.prior)) sqlite3_result_double(ctx, gmm_model_aic(m));
}

void gmm_icl_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const gmm_model *m = inspect_arg(ctx, "gmm_icl", argv);
  if (m && !isnan(m->summary.log_map) && !gmm_prior_variational(m->options.prior))
    sqlite3_result_double(ctx, gmm_model_icl(m));
}

void gmm_converged_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const gmm_model *m = inspect_arg(ctx, "gmm_converged", argv);
  if (m) sqlite3_result_int(ctx, m->summary.converged);
}

/* n rows of cols numbers as a nested JSON array. */
static void append_matrix(sqlite3_str *s, const double *v, int rows, int cols) {
  sqlite3_str_appendchar(s, 1, '[');
  for (int r = 0; r < rows; r++) {
    if (r) sqlite3_str_appendchar(s, 1, ',');
    gmm_str_append_array(s, v + (size_t)r * (size_t)cols, (size_t)cols);
  }
  sqlite3_str_appendchar(s, 1, ']');
}

void gmm_str_append_component_covariance(sqlite3_str *s, const gmm_model *m, int j) {
  size_t d = (size_t)m->d, jj = (size_t)j;
  switch (gmm_cov_shape(m->covariance_type)) {
    case GMM_COV_FULL: append_matrix(s, m->covariances + jj * d * d, m->d, m->d); break;
    case GMM_COV_TIED: append_matrix(s, m->covariances, m->d, m->d); break;
    case GMM_COV_DIAG: gmm_str_append_array(s, m->covariances + jj * d, d); break;
    case GMM_COV_SPHERICAL: gmm_str_append_double(s, m->covariances[j]); break;
    default: break;
  }
}

void gmm_str_append_covariances(sqlite3_str *s, const gmm_model *m) {
  switch (gmm_cov_shape(m->covariance_type)) {
    case GMM_COV_TIED: gmm_str_append_component_covariance(s, m, 0); return;
    case GMM_COV_SPHERICAL: gmm_str_append_array(s, m->covariances, (size_t)m->k); return;
    case GMM_COV_DIAG: append_matrix(s, m->covariances, m->k, m->d); return;
    case GMM_COV_FULL:
      sqlite3_str_appendchar(s, 1, '[');
      for (int j = 0; j < m->k; j++) {
        if (j) sqlite3_str_appendchar(s, 1, ',');
        gmm_str_append_component_covariance(s, m, j);
      }
      sqlite3_str_appendchar(s, 1, ']');
      return;
    default: return;
  }
}

static void append_key_double(sqlite3_str *s, const char *key, double v) {
  sqlite3_str_appendf(s, ",\"%s\":", key);
  gmm_str_append_double(s, v);
}

/* The same, with null for an unknown (NaN) value. */
static void append_key_known(sqlite3_str *s, const char *key, double v) {
  if (isnan(v))
    sqlite3_str_appendf(s, ",\"%s\":null", key);
  else
    append_key_double(s, key, v);
}

static const char *json_bool(int v) {
  return v ? "true" : "false";
}

/* options.k and options.covariance_type: a value, or for a selection the
** lists it was asked for (the distinct values of its candidates, in order). */
static void append_option_lists(sqlite3_str *s, const gmm_model *m) {
  const gmm_options *o = &m->options;
  if (m->n_candidates == 0) {
    sqlite3_str_appendf(s, "\"k\":%d,\"covariance_type\":\"%s\"", o->k,
                        gmm_cov_type_name(o->covariance_type));
    return;
  }
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_str_appendall(s, pass == 0 ? "\"k\":[" : ",\"covariance_type\":[");
    for (int c = 0, n = 0; c < m->n_candidates; c++) {
      const gmm_candidate *cand = &m->candidates[c];
      int seen = 0;
      for (int e = 0; e < c && !seen; e++)
        seen = pass == 0 ? m->candidates[e].k == cand->k
                         : m->candidates[e].covariance_type == cand->covariance_type;
      if (seen) continue;
      if (n++) sqlite3_str_appendchar(s, 1, ',');
      if (pass == 0)
        sqlite3_str_appendf(s, "%d", cand->k);
      else
        sqlite3_str_appendf(s, "\"%s\"", gmm_cov_type_name(cand->covariance_type));
    }
    sqlite3_str_appendchar(s, 1, ']');
  }
}

static void append_candidates(sqlite3_str *s, const gmm_model *m) {
  sqlite3_str_appendall(s, ",\"candidates\":[");
  for (int c = 0; c < m->n_candidates; c++) {
    const gmm_candidate *cand = &m->candidates[c];
    sqlite3_str_appendf(s, "%s{\"k\":%d,\"covariance_type\":\"%s\",\"failed\":%s", c ? "," : "",
                        cand->k, gmm_cov_type_name(cand->covariance_type), json_bool(cand->failed));
    if (cand->failed) {
      sqlite3_str_appendall(s, ",\"log_likelihood\":null,\"bic\":null,\"aic\":null,"
                               "\"icl\":null,\"converged\":false}");
      continue;
    }
    append_key_double(s, "log_likelihood", cand->log_likelihood);
    append_key_double(s, "bic", cand->bic);
    append_key_double(s, "aic", cand->aic);
    append_key_known(s, "icl", cand->icl);
    sqlite3_str_appendf(s, ",\"converged\":%s,\"n_iter\":%d}", json_bool(cand->converged),
                        cand->n_iter);
  }
  sqlite3_str_appendchar(s, 1, ']');
}

/* The prior's options, apply (4): the values the fit used. */
static void append_prior_options(sqlite3_str *s, const gmm_model *m) {
  const gmm_options *o = &m->options;
  int variational = gmm_prior_variational(o->prior);
  sqlite3_str_appendf(s, ",\"prior\":\"%s\"", gmm_prior_name(o->prior));
  if (variational) append_key_known(s, "weight_concentration_prior", o->weight_concentration_prior);
  append_key_known(s, "mean_precision_prior", o->mean_precision_prior);
  append_key_known(s, "degrees_of_freedom_prior", o->degrees_of_freedom_prior);
  if (m->mean_prior) {
    sqlite3_str_appendall(s, ",\"mean_prior\":");
    gmm_str_append_array(s, m->mean_prior, (size_t)m->d);
  }
  if (m->covariance_prior) {
    sqlite3_str_appendall(s, ",\"covariance_prior\":");
    switch (gmm_cov_shape(m->covariance_type)) {
      case GMM_COV_FULL:
      case GMM_COV_TIED: append_matrix(s, m->covariance_prior, m->d, m->d); break;
      case GMM_COV_DIAG: gmm_str_append_array(s, m->covariance_prior, (size_t)m->d); break;
      default: gmm_str_append_double(s, m->covariance_prior[0]); break;
    }
  }
  if (variational) sqlite3_str_appendf(s, ",\"prune\":%s", json_bool(o->prune));
}

void gmm_info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const gmm_model *m = inspect_arg(ctx, "gmm_info", argv);
  if (!m) return;
  const gmm_options *o = &m->options;
  const gmm_summary *sm = &m->summary;
  int variational = gmm_prior_variational(o->prior);
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s, "{\"format_version\":%d,\"k\":%d,\"d\":%d,\"covariance_type\":\"%s\"",
                      m->blob_version, m->k, m->d, gmm_cov_type_name(m->covariance_type));
  sqlite3_str_appendall(s, ",\"weights\":");
  gmm_str_append_array(s, m->weights, (size_t)m->k);
  sqlite3_str_appendall(s, ",\"means\":");
  append_matrix(s, m->means, m->k, m->d);
  sqlite3_str_appendall(s, ",\"covariances\":");
  gmm_str_append_covariances(s, m);
  append_key_double(s, "n_samples", sm->n_samples);
  sqlite3_str_appendf(s, ",\"n_skipped\":%lld,\"n_incomplete\":%lld", (sqlite3_int64)sm->n_skipped,
                      (sqlite3_int64)sm->n_incomplete);
  append_key_double(s, "missing_fraction", sm->missing_fraction);
  append_key_double(s, "log_likelihood", sm->log_likelihood);
  sqlite3_str_appendf(s,
                      ",\"n_iter\":%d,\"converged\":%s,\"best_init\":%d,"
                      "\"empty_components\":%d,\"warm_started\":%s",
                      sm->n_iter, json_bool(sm->converged), sm->best_init, sm->n_empty,
                      json_bool(sm->warm_started));
  if (variational) {
    /* apply (4): no maximum-likelihood criteria for a variational fit */
    sqlite3_str_appendall(s, ",\"bic\":null,\"aic\":null,\"icl\":null");
  } else {
    append_key_double(s, "bic", gmm_model_bic(m));
    append_key_double(s, "aic", gmm_model_aic(m));
    append_key_known(s, "icl", gmm_model_icl(m));
  }
  if (o->prior != GMM_PRIOR_NONE) {
    sqlite3_str_appendf(s, ",\"prior\":\"%s\"", gmm_prior_name(o->prior));
    if (variational) {
      append_key_known(s, "lower_bound", sm->lower_bound);
      sqlite3_str_appendf(s, ",\"effective_components\":%d,\"n_pruned\":%d",
                          gmm_model_n_effective(m), sm->n_pruned);
    }
  }
  sqlite3_str_appendf(s, ",\"model_name\":\"%s\"", gmm_cov_model_name(m->covariance_type));
  if (m->n_candidates > 0) append_candidates(s, m);
  sqlite3_str_appendall(s, ",\"options\":{");
  append_option_lists(s, m);
  sqlite3_str_appendf(s, ",\"max_iter\":%d", o->max_iter);
  append_key_double(s, "tol", o->tol);
  append_key_double(s, "reg_covar", o->reg_covar);
  sqlite3_str_appendf(s,
                      ",\"n_init\":%d,\"init\":\"%s\",\"seed\":%llu,\"weighted\":%s,"
                      "\"missing\":\"%s\",\"hc_rows\":%d,\"criterion\":\"%s\"",
                      o->n_init, gmm_init_name(o->init), (unsigned long long)o->seed,
                      json_bool(sm->weighted), gmm_missing_name(o->missing), o->hc_rows,
                      gmm_criterion_name(o->criterion));
  if (o->prior != GMM_PRIOR_NONE) append_prior_options(s, m);
  sqlite3_str_appendall(s, "}}");
  gmm_result_json(ctx, "gmm_info", s);
}
