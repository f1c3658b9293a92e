/*
** test_missing_sql.c -- cmocka tests of missing features (NULLs are data,
** issue 11) through SQL: the option missing, gmm_fit's counts, the passes,
** the apply functions' marginals, gmm_impute and gmm_impute_draws.
**
** Every test opens ":memory:" with the system libsqlite3, loads ./gmm (the
** tests run from the repository root) and talks to the extension only
** through SQL (tests/sql_harness.h). Each test's comment cites the numbered
** requirements it checks, as the sources state them:
**
**   spec (N)     ext/sqlite/gmm_spec.c      the option missing
**   gmm_fit (N)  ext/sqlite/gmm_fit_sql.c   NULL features in a fit
**   pass (N)     ext/sqlite/gmm_pass_sql.c  NULL features in passes
**   apply (N)    ext/sqlite/gmm_apply.c     marginals, gmm_impute, gmm_info
**   vtab (N)     ext/sqlite/gmm_vtab.c      gmm_impute_draws
**   ext (N)      ext/sqlite/gmm_ext.c       features and vectors
**   DESIGN §N    /work/shared/DESIGN.md
**
** The reference numbers (marginal densities, posteriors, conditional
** means) are computed here with textbook code from the parameters gmm_info
** prints, so they depend on nothing under test but those parameters. Error
** texts are asserted whole; after every expected error the harness checks
** that the connection still answers a simple query.
*/
#include "sql_harness.h"

/* ------------------------------------------------------------------------
** Data and BLOBs.
*/

/* A name's BLOB in the blobs table, as an SQL expression. */
#define B(name) "(SELECT b FROM blobs WHERE name = '" name "')"

/* Row (x, y, z) as a JSON vector with nulls, numbers to 17 digits (SQLite's
** json_array writes 15, which would change the values), for formats. */
#define NUM17(c) "CASE WHEN " c " IS NULL THEN 'null' ELSE printf('%%!.17g', " c ") END"
#define VEC3 "('[' || " NUM17("x") " || ',' || " NUM17("y") " || ',' || " NUM17("z") " || ']')"

enum { N_PTS = 600 };

/* pts(id, w, x, y, z): N_PTS rows from three correlated Gaussians in 3-D,
** w a weight in [0.5, 1.5). About 10 % of the cells are NULL, at random;
** rows 7 and 8 have every feature NULL; no other row has more than two
** features NULL, and every pair of features is observed together on many
** rows. full(...) holds the same rows with nothing missing. */
static void make_pts(sqlite3 *db) {
  exec_sql(db,
           "CREATE TABLE pts(id INTEGER PRIMARY KEY, w REAL, x REAL, y REAL, z REAL);"
           "CREATE TABLE full(id INTEGER PRIMARY KEY, w REAL, x REAL, y REAL, z REAL);"
           "CREATE TABLE blobs(name TEXT PRIMARY KEY, b BLOB)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO pts VALUES (?1, ?2, ?3, ?4, ?5)");
  sqlite3_stmt *full = prepare(db, NULL, 0, "INSERT INTO full VALUES (?1, ?2, ?3, ?4, ?5)");
  static const double centre[3][3] = {{0, 0, 0}, {4, 1, -2}, {-1, 5, 3}};
  rng r = {20250101};
  for (int i = 1; i <= N_PTS; i++) {
    int c = i % 3;
    double a = rng_normal(&r), b = rng_normal(&r), e = rng_normal(&r);
    double v[3] = {centre[c][0] + a, centre[c][1] + 0.5 * a + 0.8 * b,
                   centre[c][2] + 0.3 * b - 0.4 * a + 0.7 * e};
    double w = 0.5 + rng_uniform(&r);
    int n_null = 0, is_null[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++) {
      is_null[p] = rng_uniform(&r) < 0.1;
      n_null += is_null[p];
    }
    if (n_null == 3) is_null[i % 3] = 0;
    if (i == 7 || i == 8) is_null[0] = is_null[1] = is_null[2] = 1;
    for (int t = 0; t < 2; t++) {
      sqlite3_stmt *s = t ? full : ins;
      sqlite3_bind_int(s, 1, i);
      sqlite3_bind_double(s, 2, w);
      for (int p = 0; p < 3; p++) {
        if (t == 0 && is_null[p])
          sqlite3_bind_null(s, 3 + p);
        else
          sqlite3_bind_double(s, 3 + p, v[p]);
      }
      insert_row(s);
    }
  }
  sqlite3_finalize(full);
  end_insert(db, ins);
}

static sqlite3 *open_pts(void) {
  sqlite3 *db = open_db();
  make_pts(db);
  return db;
}

/* Stores the value of a statement (a BLOB or NULL) under name. */
static void store_sql(sqlite3 *db, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *sql = vformat(fmt, ap);
  va_end(ap);
  exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT '%s', (%s)", name, sql);
  free(sql);
}

/* Rows with some (not every) feature NULL, and NULL cells among them. */
static void count_incomplete(sqlite3 *db, const char *table, sqlite3_int64 *rows,
                             sqlite3_int64 *cells) {
  *rows = sql_int(db,
                  "SELECT count(*) FROM %s WHERE (x IS NULL OR y IS NULL OR z IS NULL) AND "
                  "NOT (x IS NULL AND y IS NULL AND z IS NULL)",
                  table);
  *cells = sql_int(db,
                   "SELECT ifnull(sum((x IS NULL) + (y IS NULL) + (z IS NULL)), 0) FROM %s WHERE "
                   "NOT (x IS NULL AND y IS NULL AND z IS NULL)",
                   table);
}

/* ------------------------------------------------------------------------
** A model as gmm_info prints it, and reference computations on it.
*/
enum { MAX_K = 4, MAX_D = 4 };
enum { FULL, TIED, DIAG, SPHERICAL };
static const char *const TYPES[4] = {"full", "tied", "diag", "spherical"};

typedef struct ref_model {
  int k, d;
  double w[MAX_K];
  double mu[MAX_K][MAX_D];
  double cov[MAX_K][MAX_D][MAX_D]; /* every type as full matrices */
} ref_model;

/* Reads the model expr (an SQL expression) through gmm_info. */
static void read_model(sqlite3 *db, const char *expr, ref_model *m) {
  memset(m, 0, sizeof *m);
  m->k = (int)sql_int(db, "SELECT gmm_info(%s) ->> '$.k'", expr);
  m->d = (int)sql_int(db, "SELECT gmm_info(%s) ->> '$.d'", expr);
  assert_true(m->k <= MAX_K && m->d <= MAX_D);
  char *type = sql_text(db, "SELECT gmm_info(%s) ->> '$.covariance_type'", expr);
  int t = 0;
  while (strcmp(type, TYPES[t]) != 0) t++;
  free(type);
  for (int j = 0; j < m->k; j++) {
    m->w[j] = sql_double(db, "SELECT gmm_info(%s) ->> '$.weights[%d]'", expr, j);
    for (int a = 0; a < m->d; a++) {
      m->mu[j][a] = sql_double(db, "SELECT gmm_info(%s) ->> '$.means[%d][%d]'", expr, j, a);
      for (int b = 0; b < m->d; b++) {
        double v = 0.0;
        if (t == FULL)
          v = sql_double(db, "SELECT gmm_info(%s) ->> '$.covariances[%d][%d][%d]'", expr, j, a, b);
        else if (t == TIED)
          v = sql_double(db, "SELECT gmm_info(%s) ->> '$.covariances[%d][%d]'", expr, a, b);
        else if (a == b && t == DIAG)
          v = sql_double(db, "SELECT gmm_info(%s) ->> '$.covariances[%d][%d]'", expr, j, a);
        else if (a == b)
          v = sql_double(db, "SELECT gmm_info(%s) ->> '$.covariances[%d]'", expr, j);
        m->cov[j][a][b] = v;
      }
    }
  }
}

/* Lower Cholesky factor of the n x n matrix a (row-major), textbook order. */
static void cholesky(const double *a, int n, double *l) {
  for (int i = 0; i < n * n; i++) l[i] = 0.0;
  for (int j = 0; j < n; j++) {
    double s = a[j * n + j];
    for (int p = 0; p < j; p++) s -= l[j * n + p] * l[j * n + p];
    assert_true(s > 0.0);
    l[j * n + j] = sqrt(s);
    for (int i = j + 1; i < n; i++) {
      double t = a[i * n + j];
      for (int p = 0; p < j; p++) t -= l[i * n + p] * l[j * n + p];
      l[i * n + j] = t / l[j * n + j];
    }
  }
}

/* u = A^-1 b for A = L L'. */
static void chol_solve(const double *l, int n, const double *b, double *u) {
  double z[MAX_D];
  for (int i = 0; i < n; i++) {
    double s = b[i];
    for (int p = 0; p < i; p++) s -= l[i * n + p] * z[p];
    z[i] = s / l[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) {
    double s = z[i];
    for (int p = i + 1; p < n; p++) s -= l[p * n + i] * u[p];
    u[i] = s / l[i * n + i];
  }
}

/* The mixture restricted to the observed features of x (NaN: missing):
** the log density of the observed block (returned), the posteriors and
** the conditional mean of the whole row (observed values as given). Every
** value missing: 0, the weights and the mixture mean. */
static double reference(const ref_model *m, const double *x, double *post, double *mean) {
  int o[MAX_D], mi[MAX_D], n_o = 0, n_m = 0;
  for (int a = 0; a < m->d; a++) {
    if (isnan(x[a]))
      mi[n_m++] = a;
    else
      o[n_o++] = a;
  }
  double lp[MAX_K], xhat[MAX_K][MAX_D], top = -INFINITY;
  for (int j = 0; j < m->k; j++) {
    double s[MAX_D * MAX_D], l[MAX_D * MAX_D], delta[MAX_D], u[MAX_D];
    for (int a = 0; a < n_o; a++) {
      delta[a] = x[o[a]] - m->mu[j][o[a]];
      for (int b = 0; b < n_o; b++) s[a * n_o + b] = m->cov[j][o[a]][o[b]];
    }
    double quad = 0.0, log_det = 0.0;
    if (n_o > 0) {
      cholesky(s, n_o, l);
      chol_solve(l, n_o, delta, u);
      for (int a = 0; a < n_o; a++) {
        quad += delta[a] * u[a];
        log_det += 2.0 * log(l[a * n_o + a]);
      }
    }
    lp[j] = log(m->w[j]) - 0.5 * (n_o * log(2.0 * TEST_PI) + log_det + quad);
    for (int a = 0; a < m->d; a++) xhat[j][a] = x[a];
    for (int b = 0; b < n_m; b++) {
      double v = m->mu[j][mi[b]];
      for (int a = 0; a < n_o; a++) v += m->cov[j][mi[b]][o[a]] * u[a];
      xhat[j][mi[b]] = v;
    }
    if (lp[j] > top) top = lp[j];
  }
  double total = 0.0;
  for (int j = 0; j < m->k; j++) total += exp(lp[j] - top);
  double score = top + log(total);
  for (int a = 0; a < m->d; a++) mean[a] = isnan(x[a]) ? 0.0 : x[a];
  for (int j = 0; j < m->k; j++) {
    post[j] = exp(lp[j] - score);
    for (int b = 0; b < n_m; b++) mean[mi[b]] += post[j] * xhat[j][mi[b]];
  }
  return score;
}

/* x as SQL arguments: "1.5, NULL, -2". */
static char *sql_args(const double *x, int d) {
  char *s = calloc(1, (size_t)d * 32 + 1);
  assert_non_null(s);
  for (int a = 0; a < d; a++) {
    if (isnan(x[a]))
      sprintf(s + strlen(s), "%sNULL", a ? ", " : "");
    else
      sprintf(s + strlen(s), "%s%.17g", a ? ", " : "", x[a]);
  }
  return s;
}

/* |got - want| <= tol (1 + |want|), printing both on failure. */
#define assert_near(got, want, tol, what)                                                     \
  do {                                                                                        \
    double g_ = (got), w_ = (want);                                                           \
    if (!(fabs(g_ - w_) <= (tol) * (1.0 + fabs(w_))))                                         \
      fail_msg("%s: got %.17g, expected %.17g (difference %.3g)", what, g_, w_, fabs(g_ - w_)); \
  } while (0)

/* Checks gmm_predict, gmm_predict_proba, gmm_score and gmm_impute of the
** model expr on row x (NaN: NULL), as separate arguments and as a JSON
** vector, against the reference. */
static void check_row(sqlite3 *db, const char *expr, const ref_model *m, const double *x,
                      const char *what) {
  double post[MAX_K], mean[MAX_D];
  double score = reference(m, x, post, mean);
  char *args = sql_args(x, m->d);
  char *json = sql_text(db, "SELECT json_array(%s)", args);
  const char *forms[2] = {args, NULL};
  char *quoted = format("'%s'", json);
  forms[1] = quoted;
  for (int f = 0; f < 2; f++) {
    char *label = format("%s, row (%s), %s", what, args, f ? "vector" : "arguments");
    assert_near(sql_double(db, "SELECT gmm_score(%s, %s)", expr, forms[f]), score, 1e-12, label);
    int best = 0;
    for (int j = 0; j < m->k; j++) {
      char *lj = format("%s, posterior %d", label, j);
      assert_near(sql_double(db, "SELECT gmm_predict_proba(%s, %s) ->> '$[%d]'", expr, forms[f], j),
                  post[j], 1e-12, lj);
      free(lj);
      if (post[j] > post[best]) best = j;
    }
    assert_sql_int(db, best, "SELECT gmm_predict(%s, %s)", expr, forms[f]);
    for (int a = 0; a < m->d; a++) {
      char *la = format("%s, imputed %d", label, a);
      double got = sql_double(db, "SELECT gmm_impute(%s, %s) ->> '$[%d]'", expr, forms[f], a);
      if (isnan(x[a])) {
        assert_near(got, mean[a], 1e-12, la);
      } else if (got != x[a]) {
        fail_msg("%s: observed %.17g came back as %.17g", la, x[a], got);
      }
      free(la);
    }
    free(label);
  }
  free(quoted);
  free(json);
  free(args);
}

/* ========================================================================
** The option missing.
*/

/* spec (2), apply (4), pass (7): missing is 'marginalize' by default,
** 'skip' when asked, in gmm_info's options and in an initialisation
** state's JSON; anything else is an error naming it, in gmm_fit and in
** gmm_init. */
static void test_option_parsing(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  assert_sql_text(db, "marginalize",
                  "SELECT gmm_info(gmm_fit(1, x, y, z)) ->> '$.options.missing' FROM pts");
  assert_sql_text(db, "marginalize",
                  "SELECT gmm_info(gmm_fit('{\"k\":1}', x, y, z)) ->> '$.options.missing' FROM pts");
  assert_sql_text(db, "marginalize",
                  "SELECT gmm_info(gmm_fit('{\"k\":1,\"missing\":\"marginalize\"}', x, y, z)) "
                  "->> '$.options.missing' FROM pts");
  assert_sql_text(db, "skip",
                  "SELECT gmm_info(gmm_fit('{\"k\":1,\"missing\":\"skip\"}', x, y, z)) "
                  "->> '$.options.missing' FROM pts");
  /* Selection carries it too. */
  assert_sql_text(db, "skip",
                  "SELECT gmm_info(gmm_fit('{\"k\":[1,2],\"missing\":\"skip\"}', x, y, z)) "
                  "->> '$.options.missing' FROM pts");
  /* A warm start keeps the model's. */
  store_sql(db, "skip", "SELECT gmm_fit('{\"k\":2,\"missing\":\"skip\"}', x, y, z) FROM pts");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.options.missing' = 'skip' AND i ->> '$.n_incomplete' = 0 AND "
                 "i ->> '$.n_skipped' = (SELECT count(*) FROM pts WHERE x IS NULL OR y IS NULL "
                 "OR z IS NULL) FROM (SELECT gmm_info(gmm_fit(" B("skip") ", x, y, z)) AS i "
                 "FROM pts)");
  /* gmm_init's state shows it. */
  assert_sql_text(db, "marginalize",
                  "SELECT gmm_stats_info(gmm_init(2, x, y, z)) ->> '$.missing' FROM pts");
  assert_sql_text(db, "skip",
                  "SELECT gmm_stats_info(gmm_init('{\"k\":2,\"missing\":\"skip\"}', x, y, z)) "
                  "->> '$.missing' FROM pts");

  static const struct {
    const char *value, *provided;
  } bad[] = {
      {"\"bad\"", "'bad'"},       {"\"Skip\"", "'Skip'"},     {"\"\"", "''"},
      {"\"marginalise\"", "'marginalise'"},                   {"1", "integer 1"},
      {"0", "integer 0"},         {"1.5", "real 1.5"},        {"null", "null"},
      {"true", "true"},           {"false", "false"},         {"[\"skip\"]", "array"},
      {"{\"skip\":1}", "object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    static const char *const fns[2] = {"gmm_fit", "gmm_init"};
    for (int f = 0; f < 2; f++) {
      char *want = format("%s: option missing must be one of 'marginalize', 'skip', provided %s",
                          fns[f], bad[i].provided);
      assert_sql_error(db, want, "SELECT %s('{\"k\":1,\"missing\":%s}', x, y, z) FROM pts", fns[f],
                       bad[i].value);
      free(want);
    }
  }
  assert_sql_error(db, "gmm_fit: option missing is given twice",
                   "SELECT gmm_fit('{\"k\":1,\"missing\":\"skip\",\"missing\":\"skip\"}', x, y) "
                   "FROM pts");
  assert_sql_error(db,
                   "gmm_fit: unknown option 'Missing' in argument 1 (spec); known options: k, "
                   "covariance_type, max_iter, tol, reg_covar, n_init, init, seed, weighted, "
                   "weights_init, means_init, precisions_init, vector_type, verbose, threads, "
                   "sample_size, missing, hc_rows, criterion, prior, weight_concentration_prior, "
                   "mean_precision_prior, degrees_of_freedom_prior, mean_prior, covariance_prior, "
                   "prune",
                   "SELECT gmm_fit('{\"k\":1,\"Missing\":\"skip\"}', x, y) FROM pts");
  close_db(db);
}

/* ========================================================================
** gmm_fit.
*/

/* gmm_fit (3), apply (4): with 'skip' every row with a NULL feature is
** skipped; with 'marginalize' only the rows with every feature NULL are,
** the others counted in n_incomplete, and missing_fraction is the missing
** cells of the rows used over (rows used x d), weights or not. */
static void test_fit_counts(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  sqlite3_int64 n_incomplete, n_cells;
  count_incomplete(db, "pts", &n_incomplete, &n_cells);
  sqlite3_int64 n_any = sql_int(db, "SELECT count(*) FROM pts WHERE x IS NULL OR y IS NULL OR "
                                    "z IS NULL");
  assert_true(n_incomplete > 100 && n_incomplete < 200); /* about 27 % of the rows */
  assert_int_equal(n_any, n_incomplete + 2);

  store_sql(db, "marg", "SELECT gmm_fit(3, x, y, z) FROM pts");
  assert_sql_int(db, 2, "SELECT gmm_info(" B("marg") ") ->> '$.n_skipped'");
  assert_sql_int(db, N_PTS - 2, "SELECT gmm_info(" B("marg") ") ->> '$.n_samples'");
  assert_sql_int(db, n_incomplete, "SELECT gmm_info(" B("marg") ") ->> '$.n_incomplete'");
  double fraction = sql_double(db, "SELECT gmm_info(" B("marg") ") ->> '$.missing_fraction'");
  if (fraction != (double)n_cells / ((double)(N_PTS - 2) * 3.0))
    fail_msg("missing_fraction %.17g, expected %lld / (%d x 3) = %.17g", fraction, n_cells,
             N_PTS - 2, (double)n_cells / ((double)(N_PTS - 2) * 3.0));

  store_sql(db, "skip", "SELECT gmm_fit('{\"k\":3,\"missing\":\"skip\"}', x, y, z) FROM pts");
  assert_sql_int(db, n_any, "SELECT gmm_info(" B("skip") ") ->> '$.n_skipped'");
  assert_sql_int(db, N_PTS - n_any, "SELECT gmm_info(" B("skip") ") ->> '$.n_samples'");
  assert_sql_int(db, 0, "SELECT gmm_info(" B("skip") ") ->> '$.n_incomplete'");
  assert_sql_int(db, 0, "SELECT gmm_info(" B("skip") ") ->> '$.missing_fraction'");
  /* skip is the same as leaving the rows out. */
  store_sql(db, "complete",
            "SELECT gmm_fit('{\"k\":3,\"missing\":\"skip\"}', x, y, z) FROM pts WHERE x IS NOT "
            "NULL AND y IS NOT NULL AND z IS NOT NULL");
  assert_sql_int(db, 1,
                 "SELECT gmm_info(" B("skip") ") -> '$.means' = gmm_info(" B("complete")
                 ") -> '$.means' AND gmm_info(" B("skip") ") -> '$.covariances' = gmm_info("
                 B("complete") ") -> '$.covariances'");

  /* Weighted: n_samples is the weights' sum, the counts are rows; a NULL
  ** weight skips the row; a weight of 0 leaves it out uncounted. */
  store_sql(db, "wm",
            "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', CASE WHEN id = 10 THEN NULL WHEN id "
            "= 11 THEN 0 ELSE w END, x, y, z) FROM pts");
  sqlite3_int64 n_inc_used =
      sql_int(db, "SELECT count(*) FROM pts WHERE id NOT IN (10, 11) AND (x IS NULL OR y IS NULL "
                  "OR z IS NULL) AND NOT (x IS NULL AND y IS NULL AND z IS NULL)");
  sqlite3_int64 n_cells_used =
      sql_int(db, "SELECT sum((x IS NULL) + (y IS NULL) + (z IS NULL)) FROM pts WHERE id NOT IN "
                  "(10, 11) AND NOT (x IS NULL AND y IS NULL AND z IS NULL)");
  sqlite3_int64 n_used = sql_int(db, "SELECT count(*) FROM pts WHERE id NOT IN (10, 11) AND NOT "
                                     "(x IS NULL AND y IS NULL AND z IS NULL)");
  assert_sql_int(db, 3, "SELECT gmm_info(" B("wm") ") ->> '$.n_skipped'");
  assert_sql_int(db, n_inc_used, "SELECT gmm_info(" B("wm") ") ->> '$.n_incomplete'");
  assert_close(sql_double(db, "SELECT gmm_info(" B("wm") ") ->> '$.n_samples'"),
               sql_double(db, "SELECT sum(w) FROM pts WHERE id NOT IN (10, 11) AND NOT (x IS NULL "
                              "AND y IS NULL AND z IS NULL)"),
               1e-9);
  fraction = sql_double(db, "SELECT gmm_info(" B("wm") ") ->> '$.missing_fraction'");
  if (fraction != (double)n_cells_used / ((double)n_used * 3.0))
    fail_msg("weighted missing_fraction %.17g, expected %lld / (%lld x 3)", fraction,
             n_cells_used, n_used);
  close_db(db);
}

/* gmm_fit (3), (4), ext (5): rows with every feature NULL, as separate
** arguments, as a NULL vector and as a vector of nulls only, are skipped and
** counted in either mode, first (before d is known) or later; a group of
** them only gives NULL. */
static void test_fit_all_null_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v, a, b, c)");
  exec_sql(db,
           "INSERT INTO t VALUES (1, '[null,null,null]', NULL, NULL, NULL), "
           "(2, NULL, NULL, NULL, NULL), (3, '[0,0,1]', 0, 0, 1), (4, '[1,null,2]', 1, NULL, 2), "
           "(5, '[ null , 2 , null ]', NULL, 2, NULL), (6, '[2,1,0]', 2, 1, 0), "
           "(7, '[0.5,0.25,3]', 0.5, 0.25, 3), (8, '[3,3,1]', 3, 3, 1), (9, '[1,2,2]', 1, 2, 2), "
           "(10, '[null,null,null]', NULL, NULL, NULL)");
  static const char *const specs[2] = {"'{\"k\":1}'", "'{\"k\":1,\"missing\":\"skip\"}'"};
  for (int s = 0; s < 2; s++) {
    int skipped = s ? 5 : 3, incomplete = s ? 0 : 2;
    assert_sql_int(db, 1,
                   "SELECT gmm_fit(%s, v) = gmm_fit(%s, a, b, c) FROM (SELECT * FROM t ORDER BY "
                   "id)",
                   specs[s], specs[s]);
    assert_sql_int(db, 1,
                   "SELECT i ->> '$.n_skipped' = %d AND i ->> '$.n_incomplete' = %d AND "
                   "i ->> '$.n_samples' = %d FROM (SELECT gmm_info(gmm_fit(%s, v)) AS i FROM t)",
                   skipped, incomplete, 10 - skipped, specs[s]);
    /* Only all-NULL rows: NULL. */
    assert_sql_null(db, "SELECT gmm_fit(%s, v) FROM t WHERE id IN (1, 2, 10)", specs[s]);
    assert_sql_null(db, "SELECT gmm_fit(%s, a, b, c) FROM t WHERE id IN (1, 2, 10)", specs[s]);
  }
  /* The first row fixes d even when it is all nulls. */
  assert_sql_error(db,
                   "gmm_fit: row 2, argument 2 (vector) has 2 values, expected 3",
                   "SELECT gmm_fit(1, column1) FROM (VALUES ('[null,null,null]'), ('[1,2]'))");
  /* d = 1: a NULL number is a row with its one feature missing. */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 2 AND i ->> '$.n_incomplete' = 0 AND i ->> "
                 "'$.d' = 1 FROM (SELECT gmm_info(gmm_fit(1, column1)) AS i FROM (VALUES (NULL), "
                 "(1), (NULL), (2), (4)))");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 2 AND i ->> '$.d' = 1 FROM (SELECT gmm_info("
                 "gmm_fit(1, column1)) AS i FROM (VALUES ('[null]'), ('[1]'), (NULL), ('[2]'), "
                 "('[4]')))");
  /* Weighted: a NULL weight skips even a complete row. */
  assert_sql_int(db, 4,
                 "SELECT gmm_info(gmm_fit('{\"k\":1,\"weighted\":true}', CASE id WHEN 3 THEN NULL "
                 "ELSE 1 END, a, b, c)) ->> '$.n_skipped' FROM t");
  /* GROUP BY: the all-NULL group gives NULL, the others their models. */
  assert_sql_text(db, "1=blob,2=null,3=blob",
                  "SELECT group_concat(g || '=' || typeof(m), ',') FROM (SELECT CASE WHEN id IN "
                  "(1, 2, 10) THEN 2 WHEN id <= 6 THEN 1 ELSE 3 END AS g, gmm_fit(1, a, b, c) AS m "
                  "FROM t GROUP BY 1 ORDER BY 1)");
  close_db(db);
}

/* ext (4), (5), gmm_fit (3): TEXT, BLOB and infinite features are still
** errors on rows with NULLs, in either mode; a JSON vector's null is a
** missing value but NaN, Infinity and numbers beyond the doubles are not;
** a BLOB vector's NaN is an error. */
static void test_fit_errors_with_nulls(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  static const char *const specs[2] = {"1", "'{\"k\":1,\"missing\":\"skip\"}'"};
  for (int s = 0; s < 2; s++) {
    assert_sql_error(db,
                     "gmm_fit: row 2, argument 3 (x2) must be a finite INTEGER or REAL, provided "
                     "TEXT 'a'",
                     "SELECT gmm_fit(%s, column1, column2) FROM (VALUES (1, 2), (NULL, 'a'))",
                     specs[s]);
    assert_sql_error(db,
                     "gmm_fit: row 1, argument 2 (x1) must be a finite INTEGER or REAL, provided "
                     "Inf",
                     "SELECT gmm_fit(%s, column1, column2) FROM (VALUES (9e999, NULL))", specs[s]);
    assert_sql_error(db,
                     "gmm_fit: row 1, argument 3 (x2) must be a finite INTEGER or REAL, provided a "
                     "BLOB of 2 bytes",
                     "SELECT gmm_fit(%s, column1, column2) FROM (VALUES (NULL, x'0102'))",
                     specs[s]);
    assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 2 is not finite",
                     "SELECT gmm_fit(%s, '[null, 1e999]')", specs[s]);
    assert_sql_error(db, "gmm_fit: row 1, argument 2 (vector) value 1 is not finite",
                     "SELECT gmm_fit(%s, x'0000C07F0000803F')", specs[s]); /* float32 NaN, 1 */
    static const char *const bad_json[] = {"[NaN,null]", "[null,]", "[,null]", "[nul]",
                                           "[null null]", "[Null]", "[nulll]", "[null,Infinity]"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
      char *want = format("gmm_fit: row 1, argument 2 (vector) must be a JSON array of 1 to 1000 "
                          "numbers or a float32 BLOB, provided TEXT '%s'",
                          bad_json[i]);
      assert_sql_error(db, want, "SELECT gmm_fit(%s, '%s')", specs[s], bad_json[i]);
      free(want);
    }
  }
  /* A weight must be a number even on a row with a NULL feature. */
  assert_sql_error(db,
                   "gmm_fit: row 1, argument 2 (weight) must be a finite INTEGER or REAL, provided "
                   "TEXT 'w'",
                   "SELECT gmm_fit('{\"k\":1,\"weighted\":true}', 'w', NULL, 1)");
  close_db(db);
}

/* Issue 11 (2), gmm_fit (3): with nothing missing the two modes fit the
** same parameters, for every covariance type. */
static void test_fit_nothing_missing(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  for (int t = 0; t < 4; t++) {
    store_sql(db, "m", "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\"}', x, y, z) FROM full",
              TYPES[t]);
    store_sql(db, "s",
              "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\",\"missing\":\"skip\"}', x, y, "
              "z) FROM full",
              TYPES[t]);
    assert_sql_int(db, 1,
                   "SELECT a -> '$.weights' = b -> '$.weights' AND a -> '$.means' = b -> '$.means' "
                   "AND a -> '$.covariances' = b -> '$.covariances' AND a ->> '$.log_likelihood' "
                   "= b ->> '$.log_likelihood' AND a ->> '$.n_iter' = b ->> '$.n_iter' AND "
                   "a ->> '$.n_incomplete' = 0 AND a ->> '$.missing_fraction' = 0 FROM (SELECT "
                   "gmm_info(" B("m") ") AS a, gmm_info(" B("s") ") AS b)");
  }
  close_db(db);
}

/* ========================================================================
** Apply functions.
*/

/* The rows check_model tries: every pattern of missing features at points
** near each cluster, between them and far away. */
static void check_model(sqlite3 *db, const char *expr, const char *what) {
  ref_model m;
  read_model(db, expr, &m);
  static const double points[5][3] = {
      {0.2, -0.3, 0.1}, {3.5, 1.2, -1.5}, {-0.8, 4.6, 2.5}, {1.8, 2.5, 0.4}, {9, -7, 12}};
  for (int p = 0; p < 5; p++) {
    for (int mask = 0; mask < 7; mask++) { /* 7: every feature missing, not here */
      double x[3];
      for (int a = 0; a < 3; a++) x[a] = (mask >> a & 1) ? NAN : points[p][a];
      char *label = format("%s, point %d, pattern %d", what, p, mask);
      check_row(db, expr, &m, x, label);
      free(label);
    }
  }
}

/* apply (2), (6): on rows with some features NULL, the posteriors, the
** predicted component, the log density and the conditional mean are those
** of the mixture restricted to the observed features (computed here from
** gmm_info's parameters), for every covariance type and k = 1 and 3; the
** same with a JSON vector with nulls. */
static void test_apply_marginal_reference(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  for (int t = 0; t < 4; t++) {
    for (int k = 1; k <= 3; k += 2) {
      store_sql(db, "m", "SELECT gmm_fit('{\"k\":%d,\"covariance_type\":\"%s\"}', x, y, z) FROM pts",
                k, TYPES[t]);
      char *what = format("%s, k = %d", TYPES[t], k);
      check_model(db, B("m"), what);
      free(what);
    }
  }
  close_db(db);
}

/* apply (2): gmm_predict_proba and gmm_score of a row with x2 NULL equal
** those of the model restricted to (x1, x3), built through gmm_fit from
** the sub-vectors of the means and the inverses of the sub-matrices of the
** covariances (max_iter 0 keeps them). */
static void test_apply_equals_restricted_model(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_sql(db, "m", "SELECT gmm_fit(3, x, y, z) FROM pts");
  ref_model m;
  read_model(db, B("m"), &m);
  char weights[256] = "", means[512] = "", precisions[1024] = "";
  for (int j = 0; j < 3; j++) {
    /* The inverse of [[a, b], [b, c]] = cov of (x1, x3). */
    double a = m.cov[j][0][0], b = m.cov[j][0][2], c = m.cov[j][2][2], det = a * c - b * b;
    sprintf(weights + strlen(weights), "%s%.17g", j ? "," : "", m.w[j]);
    sprintf(means + strlen(means), "%s[%.17g,%.17g]", j ? "," : "", m.mu[j][0], m.mu[j][2]);
    sprintf(precisions + strlen(precisions), "%s[[%.17g,%.17g],[%.17g,%.17g]]", j ? "," : "",
            c / det, -b / det, -b / det, a / det);
  }
  store_sql(db, "r",
            "SELECT gmm_fit('{\"k\":3,\"max_iter\":0,\"reg_covar\":0,\"weights_init\":[%s],"
            "\"means_init\":[%s],\"precisions_init\":[%s]}', x, z) FROM full",
            weights, means, precisions);
  for (int j = 0; j < 3; j++)
    assert_near(sql_double(db, "SELECT gmm_info(" B("r") ") ->> '$.covariances[%d][0][1]'", j),
                m.cov[j][0][2], 1e-13, "restricted covariance");
  static const double points[4][2] = {{0.2, 0.1}, {3.5, -1.5}, {-0.8, 2.5}, {1.8, 0.4}};
  for (int p = 0; p < 4; p++) {
    double x1 = points[p][0], x3 = points[p][1];
    assert_near(sql_double(db, "SELECT gmm_score(" B("m") ", %.17g, NULL, %.17g)", x1, x3),
                sql_double(db, "SELECT gmm_score(" B("r") ", %.17g, %.17g)", x1, x3), 1e-12,
                "score");
    for (int j = 0; j < 3; j++)
      assert_near(
          sql_double(db, "SELECT gmm_predict_proba(" B("m") ", %.17g, NULL, %.17g) ->> '$[%d]'",
                     x1, x3, j),
          sql_double(db, "SELECT gmm_predict_proba(" B("r") ", %.17g, %.17g) ->> '$[%d]'", x1, x3,
                     j),
          1e-12, "posterior");
    assert_sql_int(db, 1,
                   "SELECT gmm_predict(" B("m") ", %.17g, NULL, %.17g) = gmm_predict(" B("r")
                   ", %.17g, %.17g)",
                   x1, x3, x1, x3);
  }
  close_db(db);
}

/* apply (2), ext (5): every feature NULL (separate arguments, a NULL
** vector, a vector of nulls) and a NULL model give NULL; JSON vectors with
** nulls in any spacing; the model's option missing does not matter. */
static void test_apply_nulls(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_sql(db, "m", "SELECT gmm_fit(2, x, y, z) FROM pts");
  store_sql(db, "s", "SELECT gmm_fit('{\"k\":2,\"missing\":\"skip\"}', x, y, z) FROM pts");
  static const char *const fns[3] = {"gmm_predict", "gmm_predict_proba", "gmm_score"};
  for (int f = 0; f < 3; f++) {
    assert_sql_null(db, "SELECT %s(" B("m") ", NULL, NULL, NULL)", fns[f]);
    assert_sql_null(db, "SELECT %s(" B("m") ", NULL)", fns[f]);
    assert_sql_null(db, "SELECT %s(" B("m") ", '[null,null,null]')", fns[f]);
    assert_sql_null(db, "SELECT %s(" B("m") ", ' [ null,null , null ] ')", fns[f]);
    assert_sql_null(db, "SELECT %s(NULL, 1, NULL, 2)", fns[f]);
    assert_sql_null(db, "SELECT %s(NULL, '[1,null,2]')", fns[f]);
    assert_sql_int(db, 1,
                   "SELECT %s(" B("m") ", 1, NULL, 2) IS %s(" B("m") ", '[1,null,2]') AND "
                   "%s(" B("m") ", 1, NULL, 2) IS %s(" B("m") ", '[ 1 ,null\t, 2 ]') AND "
                   "%s(" B("m") ", 1, NULL, 2) IS NOT NULL",
                   fns[f], fns[f], fns[f], fns[f], fns[f]);
    /* The same parameters give the same marginal, whatever missing says. */
    assert_sql_int(db, 1,
                   "SELECT count(*) = %d AND count(v) = %d FROM (SELECT %s(" B("s")
                   ", x, y, z) AS v FROM pts)",
                   N_PTS, N_PTS - 2, fns[f]);
  }
  /* Rows of a table: NULL exactly for the all-NULL rows. */
  assert_sql_int(db, 1,
                 "SELECT sum((gmm_score(" B("m") ", x, y, z) IS NULL) = (x IS NULL AND y IS NULL "
                 "AND z IS NULL)) = %d AND count(gmm_predict(" B("m") ", x, y, z)) = %d FROM pts",
                 N_PTS, N_PTS - 2);
  /* A vector with nulls gives what the separate arguments give, row by row. */
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM pts WHERE gmm_predict_proba(" B("m")
                 ", x, y, z) IS NOT gmm_predict_proba(" B("m") ", " VEC3 ")");
  close_db(db);
}

/* ========================================================================
** gmm_impute.
*/

/* A k = 1 full model with known parameters (max_iter 0 keeps the initial
** ones): mean (1, -2, 3), covariance S = [[4, 2, 1], [2, 3, 0.5],
** [1, 0.5, 2]], given as its inverse (det 14):
** [[5.75, -3.5, -2], [-3.5, 7, 0], [-2, 0, 8]] / 14. */
static void store_k1_model(sqlite3 *db, const char *name) {
  store_sql(db, name,
            "SELECT gmm_fit('{\"k\":1,\"max_iter\":0,\"reg_covar\":0,\"weights_init\":[1],"
            "\"means_init\":[[1,-2,3]],\"precisions_init\":[[[%.17g,%.17g,%.17g],"
            "[%.17g,%.17g,%.17g],[%.17g,%.17g,%.17g]]]}', x, y, z) FROM full",
            5.75 / 14, -3.5 / 14, -2.0 / 14, -3.5 / 14, 7.0 / 14, 0.0, -2.0 / 14, 0.0, 8.0 / 14);
}

/* apply (6): k = 1 full, parameters known exactly (max_iter 0 keeps the
** initial ones): each missing block is mu_m + S_mo S_oo^-1 (x_o - mu_o),
** worked out here by hand for the six patterns; the observed values come
** back bit for bit; every value missing gives the mean. */
static void test_impute_k1_full_exact(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_k1_model(db, "m");
  static const double S[3][3] = {{4, 2, 1}, {2, 3, 0.5}, {1, 0.5, 2}};
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      assert_near(sql_double(db, "SELECT gmm_info(" B("m") ") ->> '$.covariances[0][%d][%d]'", a,
                             b),
                  S[a][b], 1e-14, "covariance");
  /* x = (2, 1, 5): deltas 1, 3, 2. */
  static const struct {
    const char *args;
    double want[3];
  } cases[] = {
      /* x1 missing: 1 + [2, 1] [[3, .5], [.5, 2]]^-1 [3, 2]
      **           = 1 + [2, 1] [[2, -.5], [-.5, 3]] [3, 2] / 5.75 = 1 + [2, 1] [5, 4.5] / 5.75 */
      {"NULL, 1, 5", {1 + 14.5 / 5.75, 1, 5}},
      /* x2 missing: -2 + [2, .5] [[4, 1], [1, 2]]^-1 [1, 2] = -2 + [2, .5] [0, 7] / 7 */
      {"2, NULL, 5", {2, -2 + 0.5, 5}},
      /* x3 missing: 3 + [1, .5] [[4, 2], [2, 3]]^-1 [1, 3] = 3 + [1, .5] [-3, 10] / 8 */
      {"2, 1, NULL", {2, 1, 3 + 2.0 / 8}},
      /* x1, x2 missing: mu + S[:, 3] / 2 * 2 */
      {"NULL, NULL, 5", {1 + 1, -2 + 0.5, 5}},
      /* x1, x3 missing: mu + S[:, 2] / 3 * 3 */
      {"NULL, 1, NULL", {1 + 2, 1, 3 + 0.5}},
      /* x2, x3 missing: mu + S[:, 1] / 4 * 1 */
      {"2, NULL, NULL", {2, -2 + 0.5, 3 + 0.25}},
      {"NULL, NULL, NULL", {1, -2, 3}},
      {"2, 1, 5", {2, 1, 5}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int a = 0; a < 3; a++) {
      char *what = format("gmm_impute(m, %s)[%d]", cases[i].args, a);
      assert_near(sql_double(db, "SELECT gmm_impute(" B("m") ", %s) ->> '$[%d]'", cases[i].args,
                             a),
                  cases[i].want[a], 1e-14, what);
      free(what);
    }
  }
  /* Observed values as given, bit for bit, in the shortest text. */
  assert_sql_text(db, "[0.1,-2,0.30000000000000004]",
                  "SELECT gmm_impute(" B("m") ", 0.1, -2, 0.1 + 0.2)");
  assert_sql_int(db, 1,
                 "SELECT v ->> '$[0]' = 0.1 AND v ->> '$[2]' = 0.1 + 0.2 AND "
                 "v ->> '$[0]' = 0.1 AND typeof(v ->> '$[1]') = 'real' FROM (SELECT gmm_impute("
                 B("m") ", 0.1, NULL, 0.1 + 0.2) AS v)");
  assert_sql_int(db, 1,
                 "SELECT gmm_impute(" B("m") ", 1e-300, NULL, -123456789.125) ->> '$[0]' = 1e-300 "
                 "AND gmm_impute(" B("m") ", 1e-300, NULL, -123456789.125) ->> '$[2]' = "
                 "-123456789.125");
  /* A single NULL where the vector goes, and the vector of nulls: the mean. */
  assert_sql_text(db, "[1,-2,3]", "SELECT gmm_impute(" B("m") ", NULL)");
  assert_sql_text(db, "[1,-2,3]", "SELECT gmm_impute(" B("m") ", '[null,null,null]')");
  assert_sql_text(db, "[1,-2,3]", "SELECT gmm_impute(" B("m") ", NULL, NULL, NULL)");
  close_db(db);
}

/* apply (6): gmm_impute of fitted mixtures (k = 3, every covariance type)
** is sum_j p(j | x_o) (mu_jm + S_jmo S_joo^-1 (x_o - mu_jo)), the
** reference's; every value missing gives the mixture mean. (The other
** patterns run in test_apply_marginal_reference.) */
static void test_impute_mixture_mean(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  for (int t = 0; t < 4; t++) {
    store_sql(db, "m", "SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\"}', x, y, z) FROM pts",
              TYPES[t]);
    ref_model m;
    read_model(db, B("m"), &m);
    for (int a = 0; a < 3; a++) {
      double want = 0.0;
      for (int j = 0; j < 3; j++) want += m.w[j] * m.mu[j][a];
      assert_near(sql_double(db, "SELECT gmm_impute(" B("m") ", NULL, NULL, NULL) ->> '$[%d]'", a),
                  want, 1e-13, TYPES[t]);
    }
  }
  close_db(db);
}

/* apply (3), (6), ext (3): gmm_impute's arguments are checked as
** gmm_predict's; a NULL model gives NULL; the result carries the JSON
** subtype; it is deterministic (an index may use it) and innocuous (a view
** may, with trusted_schema off). */
static void test_impute_forms_and_errors(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_sql(db, "m", "SELECT gmm_fit(2, x, y, z) FROM pts");
  store_sql(db, "one", "SELECT gmm_fit(2, x) FROM pts");
  assert_sql_null(db, "SELECT gmm_impute(NULL, 1, NULL, 3)");
  assert_sql_null(db, "SELECT gmm_impute(NULL, '[1,null,3]')");
  assert_sql_null(db, "SELECT gmm_impute(NULL, NULL)");
  assert_sql_error(db, "gmm_impute: expected a model and at least one feature, provided 1 argument",
                   "SELECT gmm_impute(" B("m") ")");
  assert_sql_error(db, "gmm_impute: the model has 3 features, provided 2",
                   "SELECT gmm_impute(" B("m") ", 1, NULL)");
  assert_sql_error(db,
                   "gmm_impute: argument 3 (x2) must be a finite INTEGER or REAL, provided TEXT "
                   "'a'",
                   "SELECT gmm_impute(" B("m") ", NULL, 'a', NULL)");
  assert_sql_error(db,
                   "gmm_impute: argument 2 (x1) must be a finite INTEGER or REAL, provided Inf",
                   "SELECT gmm_impute(NULL, 9e999, NULL, NULL)");
  assert_sql_error(db, "gmm_impute: argument 1 (model) must be a model BLOB from gmm_fit, provided TEXT",
                   "SELECT gmm_impute('m', 1, NULL, 2)");
  char *msg = sql_errmsg(db, "SELECT gmm_impute(x'00010203', 1, NULL, 2)");
  if (strncmp(msg, "gmm_impute: argument 1 (model) is not a valid gmm model: ", 57) != 0)
    fail_msg("unexpected error: %s", msg);
  free(msg);
  assert_sql_error(db, "gmm_impute: argument 2 (vector) has 2 values, expected 3",
                   "SELECT gmm_impute(" B("m") ", '[1,null]')");
  assert_sql_error(db,
                   "gmm_impute: argument 2 (vector) must be a JSON array of 1 to 1000 numbers or "
                   "a float32 BLOB, provided TEXT '[1,nul,2]'",
                   "SELECT gmm_impute(" B("m") ", '[1,nul,2]')");
  /* d = 1: a number, NULL or a one-value vector. */
  assert_sql_text(db, "[2.5]", "SELECT gmm_impute(" B("one") ", 2.5)");
  assert_sql_text(db, "[2.5]", "SELECT gmm_impute(" B("one") ", '[2.5]')");
  assert_sql_int(db, 1,
                 "SELECT gmm_impute(" B("one") ", NULL) = gmm_impute(" B("one") ", '[null]')");
  ref_model one;
  read_model(db, B("one"), &one);
  assert_near(sql_double(db, "SELECT gmm_impute(" B("one") ", NULL) ->> '$[0]'"),
              one.w[0] * one.mu[0][0] + one.w[1] * one.mu[1][0], 1e-14, "d = 1 mixture mean");
  /* A float32 or float64 BLOB vector has nothing missing: as given. */
  assert_sql_text(db, "[1,2,0.5]",
                  "SELECT gmm_impute(" B("m") ", x'0000803F000000400000003F')");
  /* JSON subtype. */
  assert_sql_text(db, "array", "SELECT json_type(json_object('v', gmm_impute(" B("m")
                               ", 1, NULL, 2)), '$.v')");
  /* Deterministic: an index on it; innocuous: a view with trusted_schema off. */
  exec_sql(db, "CREATE TABLE mm(model BLOB); INSERT INTO mm SELECT b FROM blobs WHERE name = 'm'");
  exec_sql(db, "CREATE TABLE g AS SELECT id, x, y, z, (SELECT model FROM mm) AS model FROM pts "
               "WHERE id <= 20");
  exec_sql(db, "CREATE INDEX g_imputed ON g(gmm_impute(model, x, y, z))");
  exec_sql(db, "CREATE VIEW v AS SELECT gmm_impute(model, x, y, z) AS filled FROM g");
  exec_sql(db, "PRAGMA trusted_schema = OFF");
  assert_sql_int(db, 20, "SELECT count(filled) FROM v");
  close_db(db);
}

/* ========================================================================
** gmm_impute_draws.
*/

/* vtab (10), (11), (3), (8), (9): n rows numbered from 0; the observed
** values as given in every draw, the missing ones drawn; the same
** arguments give the same rows, another seed other ones; LIMIT and
** "draw < v" give the first rows of the full result; equal rows (however
** written) get equal draws, different rows different ones; a complete row
** gives n copies of itself; a NULL vector draws every value; a NULL model
** gives no rows; the hidden columns give the arguments back; x carries the
** JSON subtype; a lateral join draws per row. */
static void test_draws_basics(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_k1_model(db, "k1");
  store_sql(db, "m", "SELECT gmm_fit(3, x, y, z) FROM pts");
  const char *m = B("m");
  assert_sql_int(db, 1,
                 "SELECT count(*) = 50 AND min(draw) = 0 AND max(draw) = 49 AND "
                 "sum(x ->> '$[0]' = 0.25) = 50 AND sum(json_type(x, '$[1]') = 'real') = 50 AND "
                 "sum(x ->> '$[2]' = -1.5) = 50 AND count(DISTINCT x ->> '$[1]') = 50 FROM "
                 "gmm_impute_draws(%s, '[0.25,null,-1.5]', 50)",
                 m);
  /* Reproducible; the seed matters; default seed 0. */
  const char *all = "SELECT group_concat(draw || ':' || x, ';') FROM gmm_impute_draws(%s, "
                    "'[null,1,null]', 20%s)";
  char *a = sql_text(db, all, m, ", 7");
  char *b = sql_text(db, all, m, ", 7");
  char *c = sql_text(db, all, m, ", 8");
  char *d0 = sql_text(db, all, m, "");
  char *d1 = sql_text(db, all, m, ", 0");
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  assert_string_equal(d0, d1);
  free(a);
  free(b);
  free(c);
  free(d0);
  free(d1);
  /* LIMIT and bounds on draw give the first rows. */
  static const char *const filters[] = {"LIMIT 5", "WHERE draw < 5", "WHERE draw <= 4",
                                        "WHERE draw = 4", "WHERE draw > 15", "LIMIT 3 OFFSET 17",
                                        "WHERE draw < 2.5", "WHERE draw < 0"};
  for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
    assert_sql_int(db, 1,
                   "WITH every AS MATERIALIZED (SELECT * FROM gmm_impute_draws(%s, '[null,1,null]', "
                   "20, 3)) SELECT (SELECT ifnull(group_concat(draw || ':' || x, ';'), '') FROM "
                   "(SELECT * FROM gmm_impute_draws(%s, '[null,1,null]', 20, 3) %s)) = (SELECT "
                   "ifnull(group_concat(draw || ':' || x, ';'), '') FROM (SELECT * FROM every %s))",
                   m, m, filters[i], filters[i]);
  assert_sql_int(db, 10,
                 "SELECT count(*) FROM gmm_impute_draws(%s, '[null,1,null]', 10000000) WHERE "
                 "draw < 10",
                 m);
  /* Equal rows, written differently, get equal draws (-0.0 is 0.0); other
  ** rows other draws. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT group_concat(x ->> '$[0]', ';') FROM gmm_impute_draws(%s, "
                 "'[null,1,0]', 8, 2)) = (SELECT group_concat(x ->> '$[0]', ';') FROM "
                 "gmm_impute_draws(%s, '[ null , 1.0 , -0.0 ]', 8, 2))",
                 m, m);
  /* A float64 BLOB vector (1, 2, 0.5) has nothing missing. */
  assert_sql_int(db, 1,
                 "SELECT count(*) = 3 AND min(x) = '[1,2,0.5]' AND max(x) = '[1,2,0.5]' FROM "
                 "gmm_impute_draws(%s, x'000000000000F03F0000000000000040000000000000E03F', 3)",
                 B("k1"));
  assert_sql_int(db, 0,
                 "SELECT count(*) FROM gmm_impute_draws(%s, '[null,1,0]', 8, 2) a JOIN "
                 "gmm_impute_draws(%s, '[null,1,1e-9]', 8, 2) b USING (draw) WHERE "
                 "a.x ->> '$[0]' = b.x ->> '$[0]'",
                 m, m);
  /* Nothing missing: n copies; every value missing: draws of the mixture. */
  assert_sql_int(db, 1,
                 "SELECT count(*) = 4 AND count(DISTINCT x) = 1 AND min(x) = '[1,2,3]' FROM "
                 "gmm_impute_draws(%s, '[1,2,3]', 4)",
                 m);
  assert_sql_int(db, 1,
                 "SELECT count(*) = 6 AND count(DISTINCT x) = 6 AND sum(json_array_length(x) = 3 "
                 "AND json_type(x, '$[0]') = 'real') = 6 FROM gmm_impute_draws(%s, NULL, 6)",
                 m);
  assert_sql_int(db, 1,
                 "SELECT (SELECT group_concat(x, ';') FROM gmm_impute_draws(%s, NULL, 6)) = "
                 "(SELECT group_concat(x, ';') FROM gmm_impute_draws(%s, '[null,null,null]', 6))",
                 m, m);
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_impute_draws(%s, '[null,1,null]', 0)", m);
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_impute_draws(NULL, '[null,1,null]', 5)");
  assert_sql_int(db, 0, "SELECT count(*) FROM gmm_impute_draws(NULL, 'not checked', 5, 1)");
  /* Hidden columns. */
  assert_sql_int(db, 1,
                 "SELECT model = %s AND vector = '[null,1,null]' AND n = 3 AND seed = 9 FROM "
                 "gmm_impute_draws(%s, '[null,1,null]', 3, 9) WHERE draw = 2",
                 m, m);
  assert_sql_int(db, 1,
                 "SELECT seed = 0 AND vector IS NULL FROM gmm_impute_draws(%s, NULL, 3) WHERE "
                 "draw = 0",
                 m);
  /* JSON subtype. */
  assert_sql_text(db, "array",
                  "SELECT json_type(json_object('x', x), '$.x') FROM gmm_impute_draws(%s, "
                  "'[null,1,null]', 1)",
                  m);
  /* One row's draws per table row, in a lateral join; the rows without
  ** NULLs come back as they are. */
  assert_sql_int(db, 1,
                 "SELECT count(*) = 3 * (SELECT count(*) FROM pts WHERE id <= 30) AND "
                 "sum(json_type(d.x, '$[0]') IN ('integer', 'real') AND json_type(d.x, '$[1]') "
                 "IN ('integer', 'real') AND json_type(d.x, '$[2]') IN ('integer', 'real')) = "
                 "count(*) AND sum(p.x IS NOT NULL AND d.x ->> '$[0]' <> p.x) = 0 AND "
                 "sum(p.z IS NOT NULL AND d.x ->> '$[2]' <> p.z) = 0 FROM pts p, "
                 "gmm_impute_draws(%s, '[' || " NUM17("p.x") " || ',' || " NUM17("p.y") " || ',' "
                 "|| " NUM17("p.z") " || ']', 3) d WHERE p.id <= 30",
                 m);
  /* ORDER BY draw costs nothing. */
  sqlite3_stmt *stmt = prepare(db, NULL, 0,
                               "EXPLAIN QUERY PLAN SELECT * FROM gmm_impute_draws(%s, '[null,1,2]', "
                               "5) ORDER BY draw",
                               m);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const char *detail = (const char *)sqlite3_column_text(stmt, 3);
    if (detail && strstr(detail, "ORDER BY")) fail_msg("the plan sorts: %s", detail);
  }
  sqlite3_finalize(stmt);
  close_db(db);
}

/* vtab (10), (11): the draws follow p(x_m | x_o): for k = 1 full, 20000
** draws of (x2, x3) given x1 = 0.7 have the conditional mean
** mu_m + S_m1 / S_11 (0.7 - mu_1) to within 5 standard errors and the
** conditional covariance S_mm - S_m1 S_1m / S_11 to within 5 %; for a
** fitted k = 3 mixture the mean of the draws is gmm_impute's value to
** within 5 standard errors. */
static void test_draws_distribution(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_k1_model(db, "k1");
  enum { N = 20000 };
  exec_sql(db,
           "CREATE TABLE d AS SELECT x ->> '$[0]' AS a, x ->> '$[1]' AS b, x ->> '$[2]' AS c "
           "FROM gmm_impute_draws(" B("k1") ", '[0.7,null,null]', %d, 11)",
           N);
  assert_sql_int(db, N, "SELECT sum(a = 0.7) FROM d");
  /* S_11 = 4, S_m1 = (2, 1): mean (-2 + 0.5 (-0.3), 3 + 0.25 (-0.3));
  ** covariance [[3 - 1, 0.5 - 0.5], [0.5 - 0.5, 2 - 0.25]]. */
  double mean_b = -2 - 0.15, mean_c = 3 - 0.075, var_b = 2.0, var_c = 1.75, cov_bc = 0.0;
  double got_mb = sql_double(db, "SELECT avg(b) FROM d");
  double got_mc = sql_double(db, "SELECT avg(c) FROM d");
  double got_vb = sql_double(db, "SELECT avg((b - %.17g) * (b - %.17g)) FROM d", got_mb, got_mb);
  double got_vc = sql_double(db, "SELECT avg((c - %.17g) * (c - %.17g)) FROM d", got_mc, got_mc);
  double got_cbc =
      sql_double(db, "SELECT avg((b - %.17g) * (c - %.17g)) FROM d", got_mb, got_mc);
  assert_close(got_mb, mean_b, 5 * sqrt(var_b / N));
  assert_close(got_mc, mean_c, 5 * sqrt(var_c / N));
  assert_close(got_vb, var_b, 0.05 * var_b);
  assert_close(got_vc, var_c, 0.05 * var_c);
  assert_close(got_cbc, cov_bc, 0.05 * sqrt(var_b * var_c));

  store_sql(db, "m", "SELECT gmm_fit(3, x, y, z) FROM pts");
  static const char *const rows[3] = {"[1.8,null,0.4]", "[null,2.5,null]", "[null,null,-1]"};
  for (int r = 0; r < 3; r++) {
    exec_sql(db, "DROP TABLE IF EXISTS e");
    exec_sql(db,
             "CREATE TABLE e AS SELECT x ->> '$[0]' AS a, x ->> '$[1]' AS b, x ->> '$[2]' AS c "
             "FROM gmm_impute_draws(" B("m") ", '%s', %d, 5)",
             rows[r], N);
    static const char *const cols[3] = {"a", "b", "c"};
    for (int p = 0; p < 3; p++) {
      double want = sql_double(db, "SELECT gmm_impute(" B("m") ", '%s') ->> '$[%d]'", rows[r], p);
      if (sql_int(db, "SELECT json_type('%s', '$[%d]') <> 'null'", rows[r], p)) {
        /* Observed: every draw keeps it. */
        assert_sql_int(db, N, "SELECT sum(%s = %.17g) FROM e", cols[p], want);
        continue;
      }
      double mean = sql_double(db, "SELECT avg(%s) FROM e", cols[p]);
      double var = sql_double(db, "SELECT avg((%s - %.17g) * (%s - %.17g)) FROM e", cols[p], mean,
                              cols[p], mean);
      char *what = format("row %s, value %d: mean of the draws against gmm_impute", rows[r], p);
      if (!(fabs(mean - want) <= 5 * sqrt(var / N)))
        fail_msg("%s: %.17g, %.17g (standard error %g)", what, mean, want, sqrt(var / N));
      free(what);
    }
  }
  close_db(db);
}

/* vtab (5), (4): errors name the function, the argument and the value; a
** NULL model checks n and seed; the connection stays usable. */
static void test_draws_errors(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  store_sql(db, "m", "SELECT gmm_fit(2, x, y) FROM pts");
  const char *m = B("m");
  static const struct {
    const char *args, *message;
  } cases[] = {
      {"%s, '[1,null]', -1", "argument 3 (n) must be an INTEGER between 0 and 10000000, provided -1"},
      {"%s, '[1,null]', 10000001",
       "argument 3 (n) must be an INTEGER between 0 and 10000000, provided 10000001"},
      {"%s, '[1,null]', NULL",
       "argument 3 (n) must be an INTEGER between 0 and 10000000, provided NULL"},
      {"%s, '[1,null]', 2.5",
       "argument 3 (n) must be an INTEGER between 0 and 10000000, provided 2.5"},
      {"%s, '[1,null]', '5'",
       "argument 3 (n) must be an INTEGER between 0 and 10000000, provided TEXT '5'"},
      {"%s, '[1,null]', 5, -1", "argument 4 (seed) must be an INTEGER >= 0, provided -1"},
      {"%s, '[1,null]', 5, NULL", "argument 4 (seed) must be an INTEGER >= 0, provided NULL"},
      {"%s, '[1,null]', 5, 1.0", "argument 4 (seed) must be an INTEGER >= 0, provided 1.0"},
      {"NULL, '[1,null]', -1",
       "argument 3 (n) must be an INTEGER between 0 and 10000000, provided -1"},
      {"%s, '[1,null,2]', 5", "argument 2 (vector) has 3 values, expected 2"},
      {"%s, '[null]', 5", "argument 2 (vector) has 1 value, expected 2"},
      {"%s, 'abc', 5",
       "argument 2 (vector) must be a JSON array of 1 to 1000 numbers or a float32 BLOB, provided "
       "TEXT 'abc'"},
      {"%s, '[1e999,null]', 5", "argument 2 (vector) value 1 is not finite"},
      {"%s, 3, 5", "argument 2 (vector) must be a JSON array or a float32 BLOB, provided 3"},
      {"%s, x'010203', 5",
       "argument 2 (vector) must hold 1 to 1000 float32 values, provided a BLOB of 3 bytes"},
      {"'model', '[1,null]', 5",
       "argument 1 (model) must be a model BLOB from gmm_fit, provided TEXT"},
      {"7, '[1,null]', 5", "argument 1 (model) must be a model BLOB from gmm_fit, provided an INTEGER"},
      {"%s", "expected gmm_impute_draws(model, vector, n [, seed])"},
      {"%s, '[1,null]'", "expected gmm_impute_draws(model, vector, n [, seed])"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *args = format(cases[i].args, m);
    char *want = format("gmm_impute_draws: %s", cases[i].message);
    assert_sql_error(db, want, "SELECT * FROM gmm_impute_draws(%s)", args);
    free(want);
    free(args);
  }
  assert_sql_error(db, "gmm_impute_draws: expected gmm_impute_draws(model, vector, n [, seed])",
                   "SELECT * FROM gmm_impute_draws");
  char *msg = sql_errmsg(db, "SELECT * FROM gmm_impute_draws(x'0001', '[1,null]', 3)");
  if (strncmp(msg, "gmm_impute_draws: argument 1 (model) is not a valid gmm model: ", 63) != 0)
    fail_msg("unexpected error: %s", msg);
  free(msg);
  close_db(db);
}

/* vtab (6), (7): sqlite3_memory_used() comes back to its value before the
** statements once they are finalized (scans that end, are abandoned, fail,
** restart per row of a join); a view over gmm_impute_draws works with
** trusted_schema off. */
static void test_draws_memory_and_innocuous(void **state) {
  (void)state;
  sqlite3_int64 before_open = sqlite3_memory_used();
  sqlite3 *db = open_pts();
  store_sql(db, "m", "SELECT gmm_fit(3, x, y, z) FROM pts");
  exec_sql(db, "CREATE TABLE mm(model BLOB); INSERT INTO mm SELECT b FROM blobs WHERE name = 'm'");
  assert_sql_int(db, 2, "SELECT count(*) FROM gmm_impute_draws((SELECT model FROM mm), NULL, 2)");
  assert_sql_int(db, 1, "SELECT gmm_impute((SELECT model FROM mm), 1, NULL, 2) IS NOT NULL");
  sqlite3_int64 base = sqlite3_memory_used();
  static const char *const whole[] = {
      "SELECT * FROM gmm_impute_draws((SELECT model FROM mm), '[1,null,2]', 500, 5)",
      "SELECT * FROM gmm_impute_draws(NULL, '[1,null,2]', 10)",
      "SELECT * FROM pts p, gmm_impute_draws((SELECT model FROM mm), json_array(p.x, p.y, p.z), "
      "2) WHERE id < 40",
      "SELECT gmm_impute((SELECT model FROM mm), x, y, z) FROM pts",
  };
  for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
    sqlite3_stmt *stmt = prepare(db, NULL, 0, "%s", whole[i]);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
      for (int c = 0; c < sqlite3_column_count(stmt); c++) (void)sqlite3_column_text(stmt, c);
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(stmt);
    stmt = prepare(db, NULL, 0, "%s", whole[i]);
    for (int r = 0; r < 3 && sqlite3_step(stmt) == SQLITE_ROW; r++) {
    }
    sqlite3_reset(stmt);
    (void)sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (sqlite3_memory_used() != base)
      fail_msg("%lld bytes more after \"%s\"", sqlite3_memory_used() - base, whole[i]);
  }
  static const char *const failing[] = {
      "SELECT * FROM gmm_impute_draws((SELECT model FROM mm), '[1,null]', 5)",
      "SELECT * FROM pts p, gmm_impute_draws((SELECT model FROM mm), json_array(p.x, p.y, p.z), "
      "CASE WHEN id = 5 THEN -1 ELSE 2 END)",
      "SELECT * FROM gmm_impute_draws(x'00', '[1,null,2]', 5)",
  };
  for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++) {
    result r;
    run_sql(db, NULL, 0, failing[i], &r);
    if (r.rc == SQLITE_OK) fail_msg("\"%s\" did not fail", failing[i]);
    result_clear(&r);
  }
  exec_sql(db, "CREATE VIEW v AS SELECT d.* FROM mm, gmm_impute_draws(mm.model, '[null,1,2]', 4) d");
  exec_sql(db, "PRAGMA trusted_schema = OFF");
  assert_sql_int(db, 4, "SELECT count(*) FROM v");
  close_db(db);
  assert_int_equal(sqlite3_memory_used(), before_open);
}

/* ========================================================================
** Passes.
*/

enum { M_PASSES = 4 };

/* The model's parameters (weights, means, covariances) from gmm_info, in
** document order. Returns their number. */
static int get_params(sqlite3 *db, const char *expr, double *out, int max) {
  sqlite3_stmt *stmt = prepare(db, NULL, 0,
                               "SELECT value FROM json_tree(gmm_info(%s)) WHERE type IN "
                               "('integer', 'real') AND (path LIKE '$.weights%%' OR path LIKE "
                               "'$.means%%' OR path LIKE '$.covariances%%')",
                               expr);
  int n = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    assert_true(n < max);
    out[n++] = sqlite3_column_double(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return n;
}

/* pass (1), (2), (7), DESIGN §5: from the same start, M_PASSES passes of
** gmm_estep / gmm_merge / gmm_mstep over rows with NULLs, split into 1 and
** 5 parts, give gmm_fit's parameters (warm-started, tol 0) to 1e-10
** relative, and the statistics count the incomplete rows and the missing
** cells; the same with 'skip', where they are skipped. */
static void check_passes(const char *type, int weighted, const char *missing) {
  sqlite3 *db = open_pts();
  const char *wcol = weighted ? "w, " : "";
  char *spec = format("{\"k\":3,\"tol\":0,\"max_iter\":%d,\"covariance_type\":\"%s\","
                      "\"weighted\":%s,\"missing\":\"%s\"}",
                      M_PASSES, type, weighted ? "true" : "false", missing);
  int skip = strcmp(missing, "skip") == 0;
  store_sql(db, "m0", "SELECT gmm_start(gmm_init('%s', %sx, y, z)) FROM pts", spec, wcol);
  store_sql(db, "fit", "SELECT gmm_fit(" B("m0") ", %sx, y, z) FROM pts", wcol);
  assert_sql_int(db, M_PASSES, "SELECT gmm_info(" B("fit") ") ->> '$.n_iter'");
  assert_sql_text(db, missing, "SELECT gmm_info(" B("m0") ") ->> '$.options.missing'");
  double want[64], got[64];
  int n_want = get_params(db, B("fit"), want, 64);
  sqlite3_int64 n_incomplete, n_cells;
  count_incomplete(db, "pts", &n_incomplete, &n_cells);
  sqlite3_int64 n_any = n_incomplete + 2;
  static const int PARTS[2] = {1, 5};
  for (int p = 0; p < 2; p++) {
    exec_sql(db, "INSERT OR REPLACE INTO blobs SELECT 'cur', b FROM blobs WHERE name = 'm0'");
    for (int it = 1; it <= M_PASSES; it++) {
      store_sql(db, "stats",
                "SELECT gmm_merge(s) FROM (SELECT gmm_estep(" B("cur") ", %sx, y, z) AS s FROM "
                "pts GROUP BY id %% %d)",
                wcol, PARTS[p]);
      assert_sql_int(db, skip ? N_PTS - n_any : N_PTS - 2,
                     "SELECT gmm_stats_info(" B("stats") ") ->> '$.n_rows'");
      assert_sql_int(db, skip ? n_any : 2,
                     "SELECT gmm_stats_info(" B("stats") ") ->> '$.n_skipped'");
      assert_sql_int(db, skip ? 0 : n_incomplete,
                     "SELECT gmm_stats_info(" B("stats") ") ->> '$.n_incomplete'");
      assert_sql_int(db, skip ? 0 : n_cells,
                     "SELECT gmm_stats_info(" B("stats") ") ->> '$.n_missing'");
      /* pass (7): the format version is the BLOB's own. */
      assert_sql_int(db, 1,
                     "SELECT hex(substr(" B("stats") ", 5, 4)) = printf('%%02X000000', "
                     "gmm_stats_info(" B("stats") ") ->> '$.format_version')");
      store_sql(db, "cur", "SELECT gmm_mstep(" B("cur") ", " B("stats") ")");
    }
    int n_got = get_params(db, B("cur"), got, 64);
    assert_int_equal(n_got, n_want);
    for (int i = 0; i < n_got; i++) {
      double scale = fmax(fabs(want[i]), 1e-300);
      if (!(fabs(got[i] - want[i]) <= 1e-10 * scale))
        fail_msg("%s, %s, %s, %d parts: parameter %d is %.17g, gmm_fit's %.17g", type,
                 weighted ? "weighted" : "unweighted", missing, PARTS[p], i, got[i], want[i]);
    }
    assert_sql_int(db, 1,
                   "SELECT a ->> '$.n_skipped' = b ->> '$.n_skipped' AND a ->> '$.n_incomplete' = "
                   "b ->> '$.n_incomplete' AND a ->> '$.missing_fraction' = b ->> "
                   "'$.missing_fraction' AND a ->> '$.options.missing' = '%s' FROM (SELECT "
                   "gmm_info(" B("cur") ") AS a, gmm_info(" B("fit") ") AS b)",
                   missing);
  }
  free(spec);
  close_db(db);
}

static void test_passes_full(void **state) {
  (void)state;
  check_passes("full", 0, "marginalize");
}
static void test_passes_tied(void **state) {
  (void)state;
  check_passes("tied", 0, "marginalize");
}
static void test_passes_diag(void **state) {
  (void)state;
  check_passes("diag", 0, "marginalize");
}
static void test_passes_spherical(void **state) {
  (void)state;
  check_passes("spherical", 0, "marginalize");
}
static void test_passes_weighted(void **state) {
  (void)state;
  check_passes("full", 1, "marginalize");
}
static void test_passes_skip(void **state) {
  (void)state;
  check_passes("full", 0, "skip");
}

/* pass (2), (3), (7): gmm_init keeps rows with some features NULL under
** 'marginalize' and skips them under 'skip'; its state merges and starts
** as for complete rows. */
static void test_init_with_nulls(void **state) {
  (void)state;
  sqlite3 *db = open_pts();
  sqlite3_int64 n_incomplete, n_cells;
  count_incomplete(db, "pts", &n_incomplete, &n_cells);
  assert_sql_int(db, 1,
                 "SELECT s ->> '$.n_rows' = %d AND s ->> '$.n_skipped' = 2 AND s ->> '$.n_sample' = "
                 "%d FROM (SELECT gmm_stats_info(gmm_init(3, x, y, z)) AS s FROM pts)",
                 N_PTS - 2, N_PTS - 2);
  assert_sql_int(db, 1,
                 "SELECT s ->> '$.n_rows' = %lld AND s ->> '$.n_skipped' = %lld FROM (SELECT "
                 "gmm_stats_info(gmm_init('{\"k\":3,\"missing\":\"skip\"}', x, y, z)) AS s FROM "
                 "pts)",
                 (long long)(N_PTS - 2 - n_incomplete), (long long)(n_incomplete + 2));
  assert_sql_int(db, 1,
                 "SELECT hex(substr(s, 5, 4)) = printf('%%02X000000', gmm_stats_info(s) ->> "
                 "'$.format_version') FROM (SELECT gmm_init(3, x, y, z) AS s FROM pts)");
  /* The same rows in any split give the same state. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_init('{\"k\":3,\"sample_size\":100}', x, y, z) FROM pts) = "
                 "(SELECT gmm_merge(s) FROM (SELECT gmm_init('{\"k\":3,\"sample_size\":100}', x, "
                 "y, z) AS s FROM pts GROUP BY id %% 4))");
  store_sql(db, "m0", "SELECT gmm_start(gmm_init(3, x, y, z)) FROM pts");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.k' = 3 AND i ->> '$.n_skipped' = 2 AND i ->> '$.options.missing' "
                 "= 'marginalize' FROM (SELECT gmm_info(" B("m0") ") AS i)");
  /* A vector with nulls is read the same way. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_init(3, x, y, z) FROM pts) = (SELECT gmm_init(3, " VEC3
                 ") FROM pts)");
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_option_parsing),
      cmocka_unit_test(test_fit_counts),
      cmocka_unit_test(test_fit_all_null_rows),
      cmocka_unit_test(test_fit_errors_with_nulls),
      cmocka_unit_test(test_fit_nothing_missing),
      cmocka_unit_test(test_apply_marginal_reference),
      cmocka_unit_test(test_apply_equals_restricted_model),
      cmocka_unit_test(test_apply_nulls),
      cmocka_unit_test(test_impute_k1_full_exact),
      cmocka_unit_test(test_impute_mixture_mean),
      cmocka_unit_test(test_impute_forms_and_errors),
      cmocka_unit_test(test_draws_basics),
      cmocka_unit_test(test_draws_distribution),
      cmocka_unit_test(test_draws_errors),
      cmocka_unit_test(test_draws_memory_and_innocuous),
      cmocka_unit_test(test_passes_full),
      cmocka_unit_test(test_passes_tied),
      cmocka_unit_test(test_passes_diag),
      cmocka_unit_test(test_passes_spherical),
      cmocka_unit_test(test_passes_weighted),
      cmocka_unit_test(test_passes_skip),
      cmocka_unit_test(test_init_with_nulls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
