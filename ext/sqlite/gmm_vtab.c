/*
** gmm_vtab.c -- the table-valued functions gmm_components, gmm_sample and
** gmm_impute_draws: eponymous-only virtual tables whose arguments are
** hidden columns, the way SQLite's generate_series is.
**
**   SELECT * FROM gmm_components(model);
**     component INTEGER, weight REAL, mean TEXT (JSON), covariance TEXT (JSON),
**     effective INTEGER
**   SELECT * FROM gmm_sample(model, n [, seed]);
**     sample INTEGER, component INTEGER, x TEXT (JSON)
**   SELECT * FROM gmm_impute_draws(model, vector, n [, seed]);
**     draw INTEGER, x TEXT (JSON)
**
** Requirements (tests cite them as "vtab (N)"):
**  (1) gmm_components(model) has one row per component j = 0 .. k-1, in
**      that order: component j, its weight, its mean as a JSON array of d
**      numbers, and its covariance in scikit-learn's per-component shape:
**      full, the d x d nested array; tied, the one shared d x d array (the
**      same on every row); diag, the array of d variances; spherical, the
**      single variance as a number. Numbers are written as gmm_info writes
**      them (shortest text that reads back exactly), so each value equals
**      the matching element of gmm_info(model). effective is 1 when the
**      component is effective (gmm_model_effective: for a variational
**      model, its share of the rows exceeds 1 / (GMM_EFFECTIVE_DIVISOR k); the others
**      are the components the prior switched off), else 0; every component
**      of a model without a variational prior is effective.
**  (2) gmm_sample(model, n [, seed]) has n rows: sample (0-based row
**      number), the component drawn, and x, the JSON array of the d values
**      drawn. Rows are gmm_sampler_draw's draws in row order from a sampler
**      seeded with seed (default 0), so the same (model, n, seed) gives the
**      same rows, and a row does not depend on how many rows are read:
**      LIMIT m gives the first m rows of the full result.
**  (3) The JSON columns (mean, covariance, x) carry SQLite's JSON subtype,
**      so json_object('x', x) embeds an array, not a string.
**  (4) A NULL model gives no rows (after the other arguments are checked;
**      gmm_impute_draws's vector is checked only against a model, whose d
**      it must have).
**  (5) Errors name the function, the argument and the value:
**        a model that is not a BLOB: "<fn>: argument 1 (model) must be a
**          model BLOB from gmm_fit, provided TEXT" (as the apply functions);
**        a BLOB that fails validation: "<fn>: argument 1 (model) is not a
**          valid gmm model: <what the decoder found>";
**        n that is not an INTEGER in 0 .. 10000000 (NULL included):
**          "gmm_sample: argument 2 (n) must be an INTEGER between 0 and
**          10000000, provided -1";
**        seed that is not an INTEGER >= 0 (NULL included): "gmm_sample:
**          argument 3 (seed) must be an INTEGER >= 0, provided -1";
**          gmm_impute_draws's n and seed are its arguments 3 and 4;
**        a vector of gmm_impute_draws that is not one (ext (5)), or not of
**          the model's d: the apply functions' vector errors, e.g.
**          "gmm_impute_draws: argument 2 (vector) has 3 values, expected 2";
**        a required argument missing: "gmm_sample: expected
**          gmm_sample(model, n [, seed])", "gmm_components: expected
**          gmm_components(model)", "gmm_impute_draws: expected
**          gmm_impute_draws(model, vector, n [, seed])".
**      The connection stays usable after every error.
**  (6) The model BLOB is decoded once per scan (in xFilter), never per row;
**      every byte is allocated through sqlite3_malloc64 and freed by
**      xClose / xDisconnect or when a scan restarts, whether the scan ends,
**      fails or is abandoned half way.
**  (7) The tables are innocuous (usable from triggers and views in schemas
**      with trusted_schema off) where the library knows the flag.
**  (8) ORDER BY component (gmm_components), ORDER BY sample (gmm_sample)
**      or ORDER BY draw (gmm_impute_draws), ascending, costs nothing: rows
**      already come in that order.
**  (9) A constraint sample < v, sample <= v or sample = v ends the scan of
**      gmm_sample once no later row can match (SQLite still checks every
**      row it is given), so "WHERE sample < 10" over a large n draws about
**      10 rows, not n. Rows before the bound are drawn as without it. The
**      same holds for draw in gmm_impute_draws.
** (10) gmm_impute_draws(model, vector, n [, seed]) is multiple imputation of
**      one row: n rows, draw (0-based) and x, the JSON array of the row's d
**      values with the observed ones as given (written as gmm_info writes
**      numbers, so they read back exactly) and each missing one drawn from
**      p(x_m | x_o) under the mixture: a component with probability
**      p(j | x_o), then x_m from that component's conditional normal
**      (gmm_model_draw_missing_row). A variational model (apply (7)) is an
**      error: "gmm_impute_draws: the model has prior 'dirichlet_process'
**      (...): imputation needs a maximum-likelihood or 'conjugate' model".
**      vector is what the apply functions take
**      as one vector argument (ext (5)): a JSON array whose null elements
**      are the missing values, or a vector BLOB (which has none); a NULL
**      vector is a row with every value missing (the draws are then draws
**      of the mixture). n is an INTEGER in 0 .. 10000000, seed an INTEGER
**      >= 0 (default 0).
** (11) The draws depend on the seed, the draw number and the row's values
**      only (draw i uses the core's stream i, under a seed mixed from seed
**      and a hash of the row's values: -0.0 as 0.0, every missing value
**      alike): equal rows get equal draws, different rows independent
**      ones, and LIMIT m gives the first m draws of the full result. A row
**      with nothing missing gives n copies of itself. The draws ignore the
**      uncertainty of the model's parameters (improper multiple
**      imputation): variances pooled by Rubin's rules over them come out
**      too small.
*/
#include "gmm_sqlite.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#define GMM_SAMPLE_MAX_N 10000000
/* Hidden columns (arguments) a table has at most. */
#define MAX_HIDDEN 4

/* idxNum bits beyond the arguments given: an upper bound on the row
** number, exclusive or inclusive (vtab (9)). */
#define ROW_BOUND_LT 0x100
#define ROW_BOUND_LE 0x200

/* Hidden columns: their positions in the schemas below. */
enum { COMPONENTS_COL_MODEL = 5 };
enum { SAMPLE_COL_MODEL = 3, SAMPLE_COL_N = 4, SAMPLE_COL_SEED = 5 };
enum { DRAWS_COL_MODEL = 2, DRAWS_COL_VECTOR = 3, DRAWS_COL_N = 4, DRAWS_COL_SEED = 5 };

/* What both tables share. */
typedef struct gmm_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  const char *name; /* "gmm_components", "gmm_sample" or "gmm_impute_draws" */
} gmm_vtab;

/* ---- shared helpers ---- */

/* Replaces the table's error message (SQLite frees it). */
static int vtab_errorf(sqlite3_vtab *vtab, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = msg;
  return msg ? SQLITE_ERROR : SQLITE_NOMEM;
}

static int vtab_error_str(sqlite3_vtab *vtab, sqlite3_str *s) {
  char *msg = sqlite3_str_finish(s);
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = msg;
  return msg ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* Checks an INTEGER argument in lo .. hi (hi < 0: no upper bound): vtab
** (5). Returns SQLITE_OK with *out set, or an error set on vtab. */
static int integer_arg(gmm_vtab *vt, sqlite3_value *v, int arg_no, const char *arg_name,
                       sqlite3_int64 lo, sqlite3_int64 hi, sqlite3_int64 *out) {
  if (sqlite3_value_type(v) == SQLITE_INTEGER) {
    *out = sqlite3_value_int64(v);
    if (*out >= lo && (hi < 0 || *out <= hi)) return SQLITE_OK;
  }
  sqlite3_str *s = sqlite3_str_new(vt->db);
  sqlite3_str_appendf(s, "%s: argument %d (%s) must be an INTEGER ", vt->name, arg_no, arg_name);
  if (hi < 0)
    sqlite3_str_appendf(s, ">= %lld", lo);
  else
    sqlite3_str_appendf(s, "between %lld and %lld", lo, hi);
  sqlite3_str_appendall(s, ", provided ");
  gmm_str_append_value(s, v);
  return vtab_error_str(&vt->base, s);
}

/* Checks the model argument: vtab (4), (5). A NULL model gives *is_null;
** anything but a BLOB is an error. The decoding is model_decode's. */
static int model_arg_check(gmm_vtab *vt, sqlite3_value *v, int *is_null) {
  int type = sqlite3_value_type(v);
  *is_null = type == SQLITE_NULL;
  if (type == SQLITE_NULL || type == SQLITE_BLOB) return SQLITE_OK;
  return vtab_errorf(
      &vt->base, "%s: argument 1 (model) must be a model BLOB from gmm_fit, provided %s", vt->name,
      type == SQLITE_TEXT      ? "TEXT"
      : type == SQLITE_INTEGER ? "an INTEGER"
                               : "a REAL");
}

/* Decodes a model BLOB argument: vtab (5), (6). */
static int model_decode(gmm_vtab *vt, sqlite3_value *v, gmm_model **out) {
  *out = NULL;
  const unsigned char *bytes = sqlite3_value_blob(v);
  size_t n = (size_t)sqlite3_value_bytes(v);
  if (!bytes && n > 0) return SQLITE_NOMEM;
  static const unsigned char empty[1] = {0};
  char err[256];
  gmm_status rc =
      gmm_blob_read(bytes ? bytes : empty, n, &gmm_sqlite_allocator, out, err, sizeof err);
  if (rc == GMM_ENOMEM) return SQLITE_NOMEM;
  if (rc != GMM_OK)
    return vtab_errorf(&vt->base, "%s: argument 1 (model) is not a valid gmm model: %s", vt->name,
                       err);
  return SQLITE_OK;
}

/* Declares the schema and the flags of either table: vtab (7). */
static int vtab_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err, const char *schema) {
  (void)argc;
  (void)argv;
  (void)err;
  *out = NULL;
  int rc = sqlite3_declare_vtab(db, schema);
  if (rc != SQLITE_OK) return rc;
  gmm_vtab *vt = sqlite3_malloc64(sizeof *vt);
  if (!vt) return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->db = db;
  vt->name = aux;
#ifdef SQLITE_VTAB_INNOCUOUS
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
#endif
  *out = &vt->base;
  return SQLITE_OK;
}

static int vtab_disconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* Plans a scan: vtab (5), (8). The hidden columns first_hidden ..
** first_hidden + n_hidden - 1 are the arguments, the first n_required of
** them required. Each argument given by a usable equality constraint gets
** the next argvIndex, in column order, and idxNum records which were given
** (bit i for the i-th hidden column). A required argument whose only
** constraints are not usable yet (a join column) asks the planner for
** another order (SQLITE_CONSTRAINT); one with no constraint at all is the
** user's mistake. */
static int vtab_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info, int first_hidden,
                           int n_hidden, int n_required, const char *usage, double rows,
                           int use_row_bound) {
  gmm_vtab *vt = (gmm_vtab *)vtab;
  int usable[MAX_HIDDEN] = {-1, -1, -1, -1}, unusable = 0, present = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int h = c->iColumn - first_hidden;
    if (h < 0 || h >= n_hidden || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    present |= 1 << h;
    if (!c->usable)
      unusable |= 1 << h;
    else if (usable[h] < 0)
      usable[h] = i;
  }
  int given = 0;
  for (int h = 0; h < n_hidden; h++)
    if (usable[h] >= 0) given |= 1 << h;
  int required = (1 << n_required) - 1;
  if ((present & required) != required) {
    return vtab_errorf(vtab, "%s: expected %s", vt->name, usage);
  }
  /* Every argument that will be given must be given now, or the rows
  ** would be filtered by a value the scan did not use. */
  if ((unusable & ~given) != 0) return SQLITE_CONSTRAINT;
  int next = 1;
  for (int h = 0; h < n_hidden; h++) {
    if (usable[h] < 0) continue;
    info->aConstraintUsage[usable[h]].argvIndex = next++;
    info->aConstraintUsage[usable[h]].omit = 1;
  }
  info->idxNum = given;
  /* vtab (9): the first usable upper bound on column 0 comes last in argv;
  ** it is not omitted, so SQLite checks it on every row anyway. */
  for (int i = 0; use_row_bound && i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int op = c->op;
    if (!c->usable || c->iColumn != 0) continue;
    if (op != SQLITE_INDEX_CONSTRAINT_LT && op != SQLITE_INDEX_CONSTRAINT_LE &&
        op != SQLITE_INDEX_CONSTRAINT_EQ)
      continue;
    info->aConstraintUsage[i].argvIndex = next++;
    info->idxNum |= op == SQLITE_INDEX_CONSTRAINT_LT ? ROW_BOUND_LT : ROW_BOUND_LE;
    rows = rows > 10.0 ? rows / 10.0 : rows;
    break;
  }
  info->estimatedCost = rows;
  info->estimatedRows = (sqlite3_int64)rows;
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == 0 && !info->aOrderBy[0].desc)
    info->orderByConsumed = 1;
  return SQLITE_OK;
}

/* ========================================================================
** gmm_components(model): vtab (1).
*/

typedef struct components_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_value *model_arg; /* the argument, for the hidden column */
  gmm_model *model;         /* NULL for a NULL model */
  sqlite3_int64 row, n_rows;
} components_cursor;

static int components_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                              sqlite3_vtab **out, char **err) {
  return vtab_connect(db, aux, argc, argv, out, err,
                      "CREATE TABLE x(component INTEGER, weight REAL, mean TEXT, "
                      "covariance TEXT, effective INTEGER, model HIDDEN)");
}

static int components_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  return vtab_best_index(vtab, info, COMPONENTS_COL_MODEL, 1, 1, "gmm_components(model)", 10.0, 0);
}

static int components_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  components_cursor *c = sqlite3_malloc64(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static void components_reset(components_cursor *c) {
  sqlite3_value_free(c->model_arg);
  gmm_model_free(c->model);
  c->model_arg = NULL;
  c->model = NULL;
  c->row = c->n_rows = 0;
}

static int components_close(sqlite3_vtab_cursor *cur) {
  components_cursor *c = (components_cursor *)cur;
  components_reset(c);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int components_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                             sqlite3_value **argv) {
  (void)idx_str;
  components_cursor *c = (components_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  components_reset(c);
  if (idx_num != 1 || argc != 1)
    return vtab_errorf(&vt->base, "%s: expected gmm_components(model)", vt->name);
  int is_null, rc = model_arg_check(vt, argv[0], &is_null);
  if (rc != SQLITE_OK) return rc;
  c->model_arg = sqlite3_value_dup(argv[0]);
  if (!c->model_arg) return SQLITE_NOMEM;
  if (is_null) return SQLITE_OK;
  rc = model_decode(vt, argv[0], &c->model);
  if (rc != SQLITE_OK) return rc;
  c->n_rows = c->model->k;
  return SQLITE_OK;
}

static int components_next(sqlite3_vtab_cursor *cur) {
  ((components_cursor *)cur)->row++;
  return SQLITE_OK;
}

static int components_eof(sqlite3_vtab_cursor *cur) {
  components_cursor *c = (components_cursor *)cur;
  return c->row >= c->n_rows;
}

static int components_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  components_cursor *c = (components_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  if (col == COMPONENTS_COL_MODEL) {
    sqlite3_result_value(ctx, c->model_arg);
    return SQLITE_OK;
  }
  const gmm_model *m = c->model;
  size_t j = (size_t)c->row, d = (size_t)m->d;
  switch (col) {
    case 0: sqlite3_result_int64(ctx, c->row); return SQLITE_OK;
    case 1: sqlite3_result_double(ctx, m->weights[j]); return SQLITE_OK;
    case 2: {
      sqlite3_str *s = sqlite3_str_new(NULL);
      gmm_str_append_array(s, m->means + j * d, d);
      return gmm_result_json(ctx, vt->name, s);
    }
    case 4: sqlite3_result_int(ctx, gmm_model_effective(m, (int)j)); return SQLITE_OK;
    default: {
      sqlite3_str *s = sqlite3_str_new(NULL);
      gmm_str_append_component_covariance(s, m, (int)j);
      return gmm_result_json(ctx, vt->name, s);
    }
  }
}

static int components_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid) {
  *rowid = ((components_cursor *)cur)->row;
  return SQLITE_OK;
}

static const sqlite3_module components_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = components_connect,
    .xBestIndex = components_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = components_open,
    .xClose = components_close,
    .xFilter = components_filter,
    .xNext = components_next,
    .xEof = components_eof,
    .xColumn = components_column,
    .xRowid = components_rowid,
};

/* ========================================================================
** gmm_sample(model, n [, seed]): vtab (2).
*/

typedef struct sample_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_value *model_arg; /* the argument, for the hidden column */
  gmm_sampler *sampler;     /* NULL for a NULL model or n = 0 */
  int d;
  double *x; /* d: the current row's draw */
  int component;
  sqlite3_int64 row, n_rows; /* n_rows: n, or 0 for a NULL model */
  sqlite3_int64 n, seed;     /* the arguments, for the hidden columns */
} sample_cursor;

static int sample_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err) {
  return vtab_connect(db, aux, argc, argv, out, err,
                      "CREATE TABLE x(sample INTEGER, component INTEGER, x TEXT, "
                      "model HIDDEN, n HIDDEN, seed HIDDEN)");
}

static int sample_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  return vtab_best_index(vtab, info, SAMPLE_COL_MODEL, 3, 2, "gmm_sample(model, n [, seed])",
                         1000.0, 1);
}

static int sample_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  sample_cursor *c = sqlite3_malloc64(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static void sample_reset(sample_cursor *c) {
  sqlite3_value_free(c->model_arg);
  gmm_sampler_free(c->sampler);
  sqlite3_free(c->x);
  c->model_arg = NULL;
  c->sampler = NULL;
  c->x = NULL;
  c->d = c->component = 0;
  c->row = c->n_rows = c->n = c->seed = 0;
}

static int sample_close(sqlite3_vtab_cursor *cur) {
  sample_cursor *c = (sample_cursor *)cur;
  sample_reset(c);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* The number of rows to draw, at most n, so that every row whose number
** satisfies "sample < v" (lt) or "sample <= v" / "sample = v" is drawn:
** vtab (9). Values that are not numbers compare above every INTEGER in
** SQLite, so they bound nothing. */
static sqlite3_int64 row_bound(sqlite3_value *v, int lt, sqlite3_int64 n) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: {
      sqlite3_int64 b = sqlite3_value_int64(v);
      if (b < 0) return 0;
      if (b >= n) return n;
      return lt ? b : b + 1;
    }
    case SQLITE_FLOAT: {
      double b = sqlite3_value_double(v);
      if (isnan(b)) return n;
      if (b < 0) return 0;
      if (b >= (double)n) return n;
      return (sqlite3_int64)floor(b) + 1; /* one too many at most: SQLite checks */
    }
    default: return n;
  }
}

/* Draws the current row. */
static void sample_draw(sample_cursor *c) {
  if (c->row < c->n_rows) gmm_sampler_draw(c->sampler, c->x, &c->component);
}

static int sample_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                         sqlite3_value **argv) {
  (void)idx_str;
  sample_cursor *c = (sample_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  sample_reset(c);
  int bounded = (idx_num & (ROW_BOUND_LT | ROW_BOUND_LE)) != 0;
  int want_argc = 2 + ((idx_num & 4) != 0) + bounded;
  if ((idx_num & 3) != 3 || argc != want_argc)
    return vtab_errorf(&vt->base, "%s: expected gmm_sample(model, n [, seed])", vt->name);
  int is_null, rc = model_arg_check(vt, argv[0], &is_null);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 n, seed = 0;
  rc = integer_arg(vt, argv[1], 2, "n", 0, GMM_SAMPLE_MAX_N, &n);
  if (rc == SQLITE_OK && (idx_num & 4)) rc = integer_arg(vt, argv[2], 3, "seed", 0, -1, &seed);
  if (rc != SQLITE_OK) return rc;
  c->model_arg = sqlite3_value_dup(argv[0]);
  if (!c->model_arg) return SQLITE_NOMEM;
  c->n = n;
  c->seed = seed;
  if (is_null) return SQLITE_OK;

  gmm_model *m = NULL;
  rc = model_decode(vt, argv[0], &m);
  if (rc != SQLITE_OK) return rc;
  c->d = m->d;
  c->x = sqlite3_malloc64((sqlite3_uint64)m->d * sizeof(double));
  gmm_status st =
      c->x ? gmm_sampler_new(m, (uint64_t)seed, &gmm_sqlite_allocator, &c->sampler) : GMM_ENOMEM;
  gmm_model_free(m); /* the sampler keeps its own copy of what it needs */
  if (st == GMM_ENOMEM) return SQLITE_NOMEM;
  if (st != GMM_OK)
    return vtab_errorf(&vt->base,
                       "%s: argument 1 (model) is not a valid gmm model: a covariance has no "
                       "Cholesky factor",
                       vt->name);
  c->n_rows = bounded ? row_bound(argv[argc - 1], idx_num & ROW_BOUND_LT, n) : n;
  sample_draw(c);
  return SQLITE_OK;
}

static int sample_next(sqlite3_vtab_cursor *cur) {
  sample_cursor *c = (sample_cursor *)cur;
  c->row++;
  sample_draw(c);
  return SQLITE_OK;
}

static int sample_eof(sqlite3_vtab_cursor *cur) {
  sample_cursor *c = (sample_cursor *)cur;
  return c->row >= c->n_rows;
}

static int sample_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  sample_cursor *c = (sample_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  switch (col) {
    case 0: sqlite3_result_int64(ctx, c->row); break;
    case 1: sqlite3_result_int(ctx, c->component); break;
    case 2: {
      sqlite3_str *s = sqlite3_str_new(NULL);
      gmm_str_append_array(s, c->x, (size_t)c->d);
      return gmm_result_json(ctx, vt->name, s);
    }
    case SAMPLE_COL_MODEL: sqlite3_result_value(ctx, c->model_arg); break;
    case SAMPLE_COL_N: sqlite3_result_int64(ctx, c->n); break;
    default: sqlite3_result_int64(ctx, c->seed); break;
  }
  return SQLITE_OK;
}

static int sample_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid) {
  *rowid = ((sample_cursor *)cur)->row;
  return SQLITE_OK;
}

static const sqlite3_module sample_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = sample_connect,
    .xBestIndex = sample_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = sample_open,
    .xClose = sample_close,
    .xFilter = sample_filter,
    .xNext = sample_next,
    .xEof = sample_eof,
    .xColumn = sample_column,
    .xRowid = sample_rowid,
};

/* ========================================================================
** gmm_impute_draws(model, vector, n [, seed]): vtab (10), (11).
*/

typedef struct draws_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_value *model_arg, *vector_arg; /* the arguments, for the hidden columns */
  gmm_model *model;                      /* NULL for a NULL model */
  int d, n_missing;
  double *given;   /* d: the row, NaN where a value is missing */
  double *x;       /* d: the current draw */
  double *scratch; /* gmm_model_scratch_len */
  uint64_t row_seed;
  sqlite3_int64 row, n_rows; /* n_rows: n, or 0 for a NULL model */
  sqlite3_int64 n, seed;     /* the arguments, for the hidden columns */
} draws_cursor;

static int draws_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err) {
  return vtab_connect(db, aux, argc, argv, out, err,
                      "CREATE TABLE x(draw INTEGER, x TEXT, model HIDDEN, vector HIDDEN, "
                      "n HIDDEN, seed HIDDEN)");
}

static int draws_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  return vtab_best_index(vtab, info, DRAWS_COL_MODEL, 4, 3,
                         "gmm_impute_draws(model, vector, n [, seed])", 1000.0, 1);
}

static int draws_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  draws_cursor *c = sqlite3_malloc64(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static void draws_reset(draws_cursor *c) {
  sqlite3_value_free(c->model_arg);
  sqlite3_value_free(c->vector_arg);
  gmm_model_free(c->model);
  sqlite3_free(c->given); /* x and scratch share its allocation */
  /* Every field after base back to zero. */
  memset(&c->model_arg, 0, sizeof *c - offsetof(draws_cursor, model_arg));
}

static int draws_close(sqlite3_vtab_cursor *cur) {
  draws_cursor *c = (draws_cursor *)cur;
  draws_reset(c);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* splitmix64's finaliser: a bijection of 64 bits that mixes them well. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* vtab (11): the seed of a row's draws, from seed and FNV-1a over the bits
** of its values (+0.0 for -0.0, one pattern for every missing value), so
** that equal rows get equal draws and other rows independent ones. */
static uint64_t row_seed(uint64_t seed, const double *x, int d) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (int j = 0; j < d; j++) {
    uint64_t bits = UINT64_C(0x7ff8000000000000); /* missing */
    if (!isnan(x[j])) {
      double v = x[j] == 0.0 ? 0.0 : x[j];
      memcpy(&bits, &v, sizeof bits);
    }
    for (int b = 0; b < 8; b++) {
      h ^= (bits >> (8 * b)) & 0xff;
      h *= UINT64_C(0x100000001b3);
    }
  }
  return mix64(seed ^ mix64(h));
}

/* The row of argument 2 into c->given: vtab (10). */
static int draws_read_vector(gmm_vtab *vt, draws_cursor *c, sqlite3_value *v) {
  if (sqlite3_value_type(v) == SQLITE_NULL) {
    for (int j = 0; j < c->d; j++) c->given[j] = (double)NAN;
    c->n_missing = c->d;
    return SQLITE_OK;
  }
  double vec[GMM_MAX_D];
  char *msg = NULL;
  if (gmm_parse_vector(vt->db, vt->name, v, 2, 0, c->d, -1, vec, &msg) < 0) {
    sqlite3_free(vt->base.zErrMsg);
    vt->base.zErrMsg = msg;
    return msg ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  memcpy(c->given, vec, (size_t)c->d * sizeof *vec);
  c->n_missing = gmm_count_missing(c->given, c->d);
  return SQLITE_OK;
}

/* Draws the current row. */
static void draws_draw(draws_cursor *c) {
  if (c->row >= c->n_rows) return;
  memcpy(c->x, c->given, (size_t)c->d * sizeof *c->x);
  if (c->n_missing > 0)
    gmm_model_draw_missing_row(c->model, c->x, c->row_seed, (uint64_t)c->row, c->scratch);
}

static int draws_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                        sqlite3_value **argv) {
  (void)idx_str;
  draws_cursor *c = (draws_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  draws_reset(c);
  int bounded = (idx_num & (ROW_BOUND_LT | ROW_BOUND_LE)) != 0;
  int want_argc = 3 + ((idx_num & 8) != 0) + bounded;
  if ((idx_num & 7) != 7 || argc != want_argc)
    return vtab_errorf(&vt->base, "%s: expected gmm_impute_draws(model, vector, n [, seed])",
                       vt->name);
  int is_null, rc = model_arg_check(vt, argv[0], &is_null);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 n, seed = 0;
  rc = integer_arg(vt, argv[2], 3, "n", 0, GMM_SAMPLE_MAX_N, &n);
  if (rc == SQLITE_OK && (idx_num & 8)) rc = integer_arg(vt, argv[3], 4, "seed", 0, -1, &seed);
  if (rc != SQLITE_OK) return rc;
  c->model_arg = sqlite3_value_dup(argv[0]);
  c->vector_arg = sqlite3_value_dup(argv[1]);
  if (!c->model_arg || !c->vector_arg) return SQLITE_NOMEM;
  c->n = n;
  c->seed = seed;
  if (is_null) return SQLITE_OK;

  rc = model_decode(vt, argv[0], &c->model);
  if (rc != SQLITE_OK) return rc;
  if (gmm_prior_variational(c->model->options.prior))
    return vtab_errorf(&vt->base,
                       "%s: the model has prior '%s' (a variational posterior, which scores "
                       "complete rows only): imputation needs a maximum-likelihood or "
                       "'conjugate' model",
                       vt->name, gmm_prior_name(c->model->options.prior));
  c->d = c->model->d;
  size_t d = (size_t)c->d, scratch = gmm_model_scratch_len(c->model);
  c->given = sqlite3_malloc64((2 * d + scratch) * sizeof(double));
  if (!c->given) return SQLITE_NOMEM;
  c->x = c->given + d;
  c->scratch = c->x + d;
  rc = draws_read_vector(vt, c, argv[1]);
  if (rc != SQLITE_OK) return rc;
  c->row_seed = row_seed((uint64_t)seed, c->given, c->d);
  c->n_rows = bounded ? row_bound(argv[argc - 1], idx_num & ROW_BOUND_LT, n) : n;
  draws_draw(c);
  return SQLITE_OK;
}

static int draws_next(sqlite3_vtab_cursor *cur) {
  draws_cursor *c = (draws_cursor *)cur;
  c->row++;
  draws_draw(c);
  return SQLITE_OK;
}

static int draws_eof(sqlite3_vtab_cursor *cur) {
  draws_cursor *c = (draws_cursor *)cur;
  return c->row >= c->n_rows;
}

static int draws_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  draws_cursor *c = (draws_cursor *)cur;
  gmm_vtab *vt = (gmm_vtab *)cur->pVtab;
  switch (col) {
    case 0: sqlite3_result_int64(ctx, c->row); break;
    case 1: {
      sqlite3_str *s = sqlite3_str_new(NULL);
      gmm_str_append_array(s, c->x, (size_t)c->d);
      return gmm_result_json(ctx, vt->name, s);
    }
    case DRAWS_COL_MODEL: sqlite3_result_value(ctx, c->model_arg); break;
    case DRAWS_COL_VECTOR: sqlite3_result_value(ctx, c->vector_arg); break;
    case DRAWS_COL_N: sqlite3_result_int64(ctx, c->n); break;
    default: sqlite3_result_int64(ctx, c->seed); break;
  }
  return SQLITE_OK;
}

static int draws_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid) {
  *rowid = ((draws_cursor *)cur)->row;
  return SQLITE_OK;
}

static const sqlite3_module draws_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = draws_connect,
    .xBestIndex = draws_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = draws_open,
    .xClose = draws_close,
    .xFilter = draws_filter,
    .xNext = draws_next,
    .xEof = draws_eof,
    .xColumn = draws_column,
    .xRowid = draws_rowid,
};

/* ---- registration ---- */

int gmm_register_vtabs(sqlite3 *db) {
  int rc =
      sqlite3_create_module(db, "gmm_components", &components_module, (void *)"gmm_components");
  if (rc == SQLITE_OK)
    rc = sqlite3_create_module(db, "gmm_sample", &sample_module, (void *)"gmm_sample");
  if (rc == SQLITE_OK)
    rc = sqlite3_create_module(db, "gmm_impute_draws", &draws_module, (void *)"gmm_impute_draws");
  return rc;
}
