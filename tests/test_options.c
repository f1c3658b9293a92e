/*
** test_options.c -- cmocka tests, through SQL, of what gmm_fit's options
** added: the four covariance types, the *_init arrays, warm starts from a
** model BLOB, model selection over lists of k and covariance types, row
** weights, and the canonical row order that makes a fit independent of the
** order its rows arrive in.
**
** Same harness as tests/test_sql.c (tests/sql_harness.h): every test opens
** ":memory:" with the system libsqlite3, loads ./gmm (the tests run from the
** repository root) and talks to the extension only through SQL. Each test's
** comment cites the numbered requirements it checks, as the sources state
** them:
**
**   spec (N)     ext/sqlite/gmm_spec.c     gmm_fit's first argument
**   gmm_fit (N)  ext/sqlite/gmm_fit_sql.c  the aggregate
**   apply (N)    ext/sqlite/gmm_apply.c    predict, proba, score, info, ...
**   fit (N)      ext/core/gmm_fit.c        EM, inits, weights, selection
**   blob (N)     ext/core/gmm_blob.c       the model BLOB
**   order (N)    ext/core/gmm_order.c      the canonical row order
**   DESIGN §N    /work/shared/DESIGN.md
**
** Error texts are asserted whole. After every expected error the test checks
** that the connection still answers a simple query.
**
** The data are generated here with a seeded PRNG of the test's own
** (splitmix64 + Box-Muller), so they depend on nothing under test; the Old
** Faithful data are read from sql/faithful.sql.
*/
#define _POSIX_C_SOURCE 200809L /* fileno, dup, for capturing stderr */
#include "sql_harness.h"

#include <unistd.h>

#define assert_rel(a, b, rel, scale)                                                       \
  do {                                                                                     \
    double a_ = (a), b_ = (b), s_ = fmax(fmax(fabs(a_), fabs(b_)), (scale));               \
    if (!(fabs(a_ - b_) <= (rel)*s_))                                                      \
      fail_msg("%s = %.17g, %s = %.17g, relative tolerance %g (scale %g)", #a, a_, #b, b_, \
               (double)(rel), s_);                                                         \
  } while (0)

/* ------------------------------------------------------------------------
** Data.
*/

/* Table name(id INTEGER PRIMARY KEY, x1 .. xd REAL, label INTEGER): n rows,
** row i from component label = i % k (so every component has rows), drawn
** around centres[label] (k x d) with standard deviation sd. */
/* The covariance types the spec accepts, as its errors list them. */
#define COV_ONE_OF                                                                           \
  "one of 'full', 'tied', 'diag', 'spherical', 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', " \
  "'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV'"

static void make_data(sqlite3 *db, const char *name, int n, int d, int k, const double *centres,
                      double sd, uint64_t seed) {
  char cols[256] = "", params[256] = "";
  for (int p = 1; p <= d; p++) {
    char c[32];
    snprintf(c, sizeof c, ", x%d REAL", p);
    strcat(cols, c);
    snprintf(c, sizeof c, ", ?%d", p + 2);
    strcat(params, c);
  }
  exec_sql(db, "CREATE TABLE %s(id INTEGER PRIMARY KEY, label INTEGER%s)", name, cols);
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO %s VALUES (?1, ?2%s)", name, params);
  rng r = {seed};
  for (int i = 0; i < n; i++) {
    int label = i % k;
    sqlite3_bind_int(ins, 1, i + 1);
    sqlite3_bind_int(ins, 2, label);
    for (int p = 0; p < d; p++)
      sqlite3_bind_double(ins, p + 3, centres[label * d + p] + sd * rng_normal(&r));
    insert_row(ins);
  }
  end_insert(db, ins);
}

/* Two well separated clusters in 3-D (for k = 2, d = 3: every covariance
** shape differs from the others). */
static const double TWO_3D[] = {0, 0, 0, 6, 6, 6};
/* Three overlapping clusters in 2-D. */
static const double OVERLAP_2D[] = {0, 0, 1.5, 0, 0.7, 1.3};
/* Three separated clusters in 2-D. */
static const double SEPARATED_2D[] = {0, 0, 10, 0, 0, 10};

/* Reads sql/faithful.sql (the repository's Old Faithful table) and runs
** it, as the shell's .read would. */
static void load_faithful(sqlite3 *db) {
  FILE *f = fopen("sql/faithful.sql", "rb");
  if (!f) fail_msg("cannot open sql/faithful.sql (run the tests from the repository root)");
  char *text = malloc(1 << 16);
  assert_non_null(text);
  size_t n = fread(text, 1, (1 << 16) - 1, f);
  assert_true(feof(f));
  fclose(f);
  text[n] = 0;
  exec_sql(db, "%s", text);
  free(text);
  assert_sql_int(db, 272, "SELECT count(*) FROM faithful");
}

/* The numbers of a JSON value in document order: json_tree's leaves of
** (sql), which must give one JSON text, under path. Returns the count. */
static int json_numbers(sqlite3 *db, const char *sql, const char *path, double *out, int cap) {
  char *q = format(
      "SELECT value FROM json_tree((%s), '%s') WHERE type IN ('integer', 'real') "
      "ORDER BY id",
      sql, path);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, q, -1, &stmt, NULL) != SQLITE_OK)
    fail_msg("%s: %s", q, sqlite3_errmsg(db));
  int n = 0, rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    assert_true(n < cap);
    out[n++] = sqlite3_column_double(stmt, 0);
  }
  if (rc != SQLITE_DONE) fail_msg("%s: %s", q, sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  free(q);
  return n;
}

/* Every number under path in the two JSON texts agrees to rel, relative to
** the largest magnitude of the array (so that near-zero off-diagonals are
** judged on the covariance's scale). */
static void assert_json_close(sqlite3 *db, const char *sql_a, const char *sql_b, const char *path,
                              double rel) {
  double a[256], b[256];
  int na = json_numbers(db, sql_a, path, a, 256), nb = json_numbers(db, sql_b, path, b, 256);
  assert_int_equal(na, nb);
  assert_true(na > 0);
  double scale = 0;
  for (int i = 0; i < na; i++) scale = fmax(scale, fmax(fabs(a[i]), fabs(b[i])));
  for (int i = 0; i < na; i++)
    if (!(fabs(a[i] - b[i]) <= rel * scale))
      fail_msg("%s element %d: %.17g vs %.17g (relative tolerance %g of %g)", path, i, a[i], b[i],
               rel, scale);
}

/* Inverse of a symmetric positive definite d x d matrix (d <= 4) by
** Gauss-Jordan elimination, plain textbook code. */
static void spd_inverse(const double *a, int d, double *inv) {
  double m[4][8];
  for (int r = 0; r < d; r++)
    for (int c = 0; c < 2 * d; c++) m[r][c] = c < d ? a[r * d + c] : (c - d == r);
  for (int p = 0; p < d; p++) {
    double piv = m[p][p];
    assert_true(piv > 0);
    for (int c = 0; c < 2 * d; c++) m[p][c] /= piv;
    for (int r = 0; r < d; r++)
      if (r != p) {
        double f = m[r][p];
        for (int c = 0; c < 2 * d; c++) m[r][c] -= f * m[p][c];
      }
  }
  for (int r = 0; r < d; r++)
    for (int c = 0; c < d; c++) inv[r * d + c] = m[r][d + c];
}

/* log N(x; mu, S) for a d x d covariance S (d <= 4), by Cholesky. */
static double gauss_logpdf(const double *x, const double *mu, const double *s, int d) {
  double l[16] = {0};
  for (int i = 0; i < d; i++)
    for (int j = 0; j <= i; j++) {
      double v = s[i * d + j];
      for (int p = 0; p < j; p++) v -= l[i * d + p] * l[j * d + p];
      l[i * d + j] = i == j ? sqrt(v) : v / l[j * d + j];
    }
  double z[4], q = 0, logdet = 0;
  for (int i = 0; i < d; i++) {
    double v = x[i] - mu[i];
    for (int p = 0; p < i; p++) v -= l[i * d + p] * z[p];
    z[i] = v / l[i * d + i];
    q += z[i] * z[i];
    logdet += 2 * log(l[i * d + i]);
  }
  return -0.5 * (d * log(2 * TEST_PI) + logdet + q);
}

static const char *const COV_TYPES[4] = {"full", "tied", "diag", "spherical"};
static const char *const INITS[4] = {"kmeans", "k-means++", "random", "random_from_data"};

/* Free parameters of scikit-learn's _n_parameters for type t. */
static double n_parameters(int t, int k, int d) {
  double cov = t == 0 ? k * d * (d + 1) / 2.0 : t == 1 ? d * (d + 1) / 2.0 : t == 2 ? k * d : k;
  return cov + k * d + (k - 1);
}

/* The full d x d covariance of component j, from gmm_info's covariances in
** the shape of type t (info is the SQL of one gmm_info text). */
static void component_covariance(sqlite3 *db, const char *info, int t, int j, int d, double *s) {
  for (int a = 0; a < d; a++)
    for (int b = 0; b < d; b++) {
      char path[64];
      if (t >= 2 && a != b) {
        s[a * d + b] = 0;
        continue;
      }
      if (t == 0)
        snprintf(path, sizeof path, "$.covariances[%d][%d][%d]", j, a, b);
      else if (t == 1)
        snprintf(path, sizeof path, "$.covariances[%d][%d]", a, b);
      else if (t == 2)
        snprintf(path, sizeof path, "$.covariances[%d][%d]", j, a);
      else
        snprintf(path, sizeof path, "$.covariances[%d]", j);
      s[a * d + b] = sql_double(db, "SELECT json_extract(%s, '%s')", info, path);
    }
}

/* ========================================================================
** Covariance types.
*/

/* spec (2), gmm_fit (1), apply (1), (4), fit (5): each covariance type fits
** two separated clusters in 3-D and predicts them; gmm_info's covariances
** have scikit-learn's shapes (full k x d x d, tied d x d, diag k x d,
** spherical k); bic and aic are -2 LL + p ln n and -2 LL + 2p with
** scikit-learn's parameter counts, exactly; gmm_score is the mixture's log
** density under the parameters gmm_info reports. */
static void test_covariance_types(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  const int n = 400, k = 2, d = 3;
  make_data(db, "pts", n, d, k, TWO_3D, 1.0, 7);
  exec_sql(db, "CREATE TABLE models(t INTEGER PRIMARY KEY, model BLOB)");
  for (int t = 0; t < 4; t++)
    exec_sql(db,
             "INSERT INTO models SELECT %d, gmm_fit('{\"k\":2,\"covariance_type\":\"%s\"}', "
             "x1, x2, x3) FROM pts",
             t, COV_TYPES[t]);
  for (int t = 0; t < 4; t++) {
    char *info = format("(SELECT gmm_info(model) FROM models WHERE t = %d)", t);
    char *model = format("(SELECT model FROM models WHERE t = %d)", t);
    assert_sql_text(db, COV_TYPES[t], "SELECT json_extract(%s, '$.covariance_type')", info);
    assert_sql_text(db, COV_TYPES[t], "SELECT json_extract(%s, '$.options.covariance_type')", info);
    assert_sql_int(db, 4, "SELECT json_extract(%s, '$.format_version')", info);
    assert_sql_text(db, "true", "SELECT json_type(%s, '$.converged')", info);
    /* Predictions: the two clusters, up to the order of the labels. */
    sqlite3_int64 same =
        sql_int(db, "SELECT sum(gmm_predict(%s, x1, x2, x3) = label) FROM pts", model);
    if (same != n && same != 0)
      fail_msg("%s: %lld of %d rows agree with the labels", COV_TYPES[t], same, n);
    /* Shapes. */
    static const int leaves[4] = {2 * 3 * 3, 3 * 3, 2 * 3, 2};
    assert_sql_int(db, leaves[t],
                   "SELECT count(*) FROM json_tree(%s, '$.covariances') "
                   "WHERE type IN ('integer', 'real')",
                   info);
    switch (t) {
      case 0:
        assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.covariances')", info);
        for (int j = 0; j < 2; j++) {
          assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances[%d]')", info, j);
          for (int r = 0; r < 3; r++)
            assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances[%d][%d]')", info, j,
                           r);
        }
        break;
      case 1:
        assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances')", info);
        for (int r = 0; r < 3; r++)
          assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances[%d]')", info, r);
        assert_sql_int(db, 1,
                       "SELECT json_extract(%s, '$.covariances[0][2]') = "
                       "json_extract(%s, '$.covariances[2][0]')",
                       info, info);
        break;
      case 2:
        assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.covariances')", info);
        for (int j = 0; j < 2; j++)
          assert_sql_int(db, 3, "SELECT json_array_length(%s, '$.covariances[%d]')", info, j);
        break;
      case 3:
        assert_sql_int(db, 2, "SELECT json_array_length(%s, '$.covariances')", info);
        assert_sql_int(db, 2,
                       "SELECT count(*) FROM json_each(%s, '$.covariances') "
                       "WHERE type = 'real' AND value > 0",
                       info);
        break;
    }
    /* Unit-variance clusters: every variance near 1. */
    double s[9];
    for (int j = 0; j < 2; j++) {
      component_covariance(db, info, t, j, d, s);
      for (int a = 0; a < 3; a++)
        if (!(fabs(s[a * 3 + a] - 1) < 0.25))
          fail_msg("%s: variance %d of component %d is %g", COV_TYPES[t], a, j, s[a * 3 + a]);
    }
    /* bic and aic, exactly, from gmm_info's own fields. */
    double ll = sql_double(db, "SELECT json_extract(%s, '$.log_likelihood')", info);
    double ns = sql_double(db, "SELECT json_extract(%s, '$.n_samples')", info);
    double bic = sql_double(db, "SELECT json_extract(%s, '$.bic')", info);
    double aic = sql_double(db, "SELECT json_extract(%s, '$.aic')", info);
    double p = n_parameters(t, k, d);
    assert_true(ns == n);
    if (bic != -2.0 * ll + p * log(ns))
      fail_msg("%s: bic %.17g, expected -2 LL + %g ln n = %.17g", COV_TYPES[t], bic, p,
               -2.0 * ll + p * log(ns));
    if (aic != -2.0 * ll + 2.0 * p)
      fail_msg("%s: aic %.17g, expected -2 LL + 2 * %g = %.17g", COV_TYPES[t], aic, p,
               -2.0 * ll + 2.0 * p);
    assert_sql_int(db, 1, "SELECT gmm_bic(%s) = json_extract(%s, '$.bic')", model, info);
    assert_sql_int(db, 1, "SELECT gmm_aic(%s) = json_extract(%s, '$.aic')", model, info);
    /* The total score of the training rows is the log-likelihood. */
    assert_close(sql_double(db, "SELECT total(gmm_score(%s, x1, x2, x3)) FROM pts", model), ll,
                 1e-9 * fabs(ll));
    /* gmm_score and gmm_predict_proba against the parameters reported. */
    double w[2], mu[2][3], cov[2][9];
    for (int j = 0; j < 2; j++) {
      w[j] = sql_double(db, "SELECT json_extract(%s, '$.weights[%d]')", info, j);
      for (int a = 0; a < 3; a++)
        mu[j][a] = sql_double(db, "SELECT json_extract(%s, '$.means[%d][%d]')", info, j, a);
      component_covariance(db, info, t, j, d, cov[j]);
    }
    static const double points[][3] = {{0, 0, 0}, {3, 3, 3}, {6, 5, 7}, {1, -2, 0.5}};
    for (int i = 0; i < 4; i++) {
      double lp[2];
      for (int j = 0; j < 2; j++) lp[j] = log(w[j]) + gauss_logpdf(points[i], mu[j], cov[j], 3);
      double top = fmax(lp[0], lp[1]);
      double want = top + log(exp(lp[0] - top) + exp(lp[1] - top));
      double got = sql_double(db, "SELECT gmm_score(%s, %.17g, %.17g, %.17g)", model, points[i][0],
                              points[i][1], points[i][2]);
      assert_close(got, want, 1e-10 * fabs(want) + 1e-12);
      double post1 = sql_double(db,
                                "SELECT json_extract(gmm_predict_proba(%s, %.17g, %.17g, %.17g), "
                                "'$[1]')",
                                model, points[i][0], points[i][1], points[i][2]);
      assert_close(post1, exp(lp[1] - want), 1e-10);
    }
    free(info);
    free(model);
  }
  /* The types are different models of the same rows: the log-likelihoods
  ** are ordered as the families nest (spherical within diag within full,
  ** tied within full) up to EM's own tolerance. */
  double ll[4];
  for (int t = 0; t < 4; t++)
    ll[t] = sql_double(db,
                       "SELECT json_extract(gmm_info(model), '$.log_likelihood') FROM models "
                       "WHERE t = %d",
                       t);
  assert_true(ll[0] > ll[1] - 1 && ll[0] > ll[2] - 1 && ll[2] > ll[3] - 1);
  assert_sql_int(db, 4, "SELECT count(DISTINCT model) FROM models");
  /* reg_covar is on every variance of every type. */
  for (int t = 0; t < 4; t++) {
    char *info = format(
        "(SELECT gmm_info(gmm_fit('{\"k\":2,\"covariance_type\":\"%s\","
        "\"reg_covar\":10}', x1, x2, x3)) FROM pts)",
        COV_TYPES[t]);
    double s[9];
    for (int j = 0; j < 2; j++) {
      component_covariance(db, info, t, j, d, s);
      for (int a = 0; a < 3; a++)
        if (!(s[a * 3 + a] >= 10))
          fail_msg("%s, reg_covar 10: variance %d of component %d is %g", COV_TYPES[t], a, j,
                   s[a * 3 + a]);
    }
    free(info);
  }
  close_db(db);
}

/* ========================================================================
** weights_init, means_init, precisions_init.
*/

/* Precisions of each type for k = 2, d = 3 (scikit-learn's shapes), as
** JSON and as numbers. */
static const double PREC_FULL[2][9] = {{2, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 4},
                                       {1, 0, 0.3, 0, 2, 0, 0.3, 0, 0.5}};
static const double PREC_DIAG[2][3] = {{2, 1, 4}, {0.5, 0.25, 8}};
static const double PREC_SPHERICAL[2] = {2, 0.5};
static const char *const PREC_JSON[4] = {
    "[[[2,0.5,0],[0.5,1,0.2],[0,0.2,4]],[[1,0,0.3],[0,2,0],[0.3,0,0.5]]]",
    "[[2,0.5,0],[0.5,1,0.2],[0,0.2,4]]",
    "[[2,1,4],[0.5,0.25,8]]",
    "[2,0.5]",
};
static const char *const WEIGHTS_JSON = "[0.25,0.75]";
static const char *const MEANS_JSON = "[[0.5,-0.25,0],[6,6.5,5.75]]";
static const double WEIGHTS_INIT[2] = {0.25, 0.75};
static const double MEANS_INIT[2][3] = {{0.5, -0.25, 0}, {6, 6.5, 5.75}};

/* The covariances of component j that the precisions of type t imply. */
static void init_covariance(int t, int j, double *s) {
  memset(s, 0, 9 * sizeof *s);
  if (t == 0 || t == 1) {
    spd_inverse(PREC_FULL[t == 0 ? j : 0], 3, s);
  } else {
    for (int a = 0; a < 3; a++) s[a * 3 + a] = 1.0 / (t == 2 ? PREC_DIAG[j][a] : PREC_SPHERICAL[j]);
  }
}

/* spec (2), fit (9): the three *_init arrays in each type's shape are
** accepted; with max_iter 0 the model's weights and means are the inits
** exactly and its covariances the inverse precisions (to 1e-12); each
** array alone replaces just its part; from them EM runs to a sound fit. */
static void test_init_arrays(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 300, 3, 2, TWO_3D, 1.0, 3);
  for (int t = 0; t < 4; t++) {
    char *spec = format(
        "{\"k\":2,\"covariance_type\":\"%s\",\"max_iter\":0,"
        "\"weights_init\":%s,\"means_init\":%s,\"precisions_init\":%s}",
        COV_TYPES[t], WEIGHTS_JSON, MEANS_JSON, PREC_JSON[t]);
    char *info = format("(SELECT gmm_info(gmm_fit('%s', x1, x2, x3)) FROM pts)", spec);
    assert_sql_int(db, 1,
                   "SELECT i ->> '$.n_iter' = 0 AND json_type(i, '$.converged') = 'false' AND "
                   "i ->> '$.covariance_type' = '%s' FROM (SELECT %s AS i)",
                   COV_TYPES[t], info);
    for (int j = 0; j < 2; j++) {
      double w = sql_double(db, "SELECT json_extract(%s, '$.weights[%d]')", info, j);
      if (w != WEIGHTS_INIT[j]) fail_msg("%s: weight %d is %.17g", COV_TYPES[t], j, w);
      for (int a = 0; a < 3; a++) {
        double m = sql_double(db, "SELECT json_extract(%s, '$.means[%d][%d]')", info, j, a);
        if (m != MEANS_INIT[j][a]) fail_msg("%s: mean [%d][%d] is %.17g", COV_TYPES[t], j, a, m);
      }
      double got[9], want[9];
      component_covariance(db, info, t, j, 3, got);
      init_covariance(t, j, want);
      for (int e = 0; e < 9; e++) assert_close(got[e], want[e], 1e-12);
    }
    /* The log-likelihood is that of the rows under those parameters. */
    double ll = sql_double(db, "SELECT json_extract(%s, '$.log_likelihood')", info);
    double ref = 0;
    {
      sqlite3_stmt *stmt = NULL;
      assert_int_equal(sqlite3_prepare_v2(db, "SELECT x1, x2, x3 FROM pts", -1, &stmt, NULL),
                       SQLITE_OK);
      double cov[2][9];
      init_covariance(t, 0, cov[0]);
      init_covariance(t, 1, cov[1]);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        double x[3] = {sqlite3_column_double(stmt, 0), sqlite3_column_double(stmt, 1),
                       sqlite3_column_double(stmt, 2)};
        double l0 = log(WEIGHTS_INIT[0]) + gauss_logpdf(x, MEANS_INIT[0], cov[0], 3);
        double l1 = log(WEIGHTS_INIT[1]) + gauss_logpdf(x, MEANS_INIT[1], cov[1], 3);
        double top = fmax(l0, l1);
        ref += top + log(exp(l0 - top) + exp(l1 - top));
      }
      sqlite3_finalize(stmt);
    }
    assert_close(ll, ref, 1e-9 * fabs(ref));
    free(info);
    free(spec);

    /* Each array alone: its part of the model is the init, the rest comes
    ** from the init method. */
    spec = format("{\"k\":2,\"covariance_type\":\"%s\",\"max_iter\":0,\"means_init\":%s}",
                  COV_TYPES[t], MEANS_JSON);
    assert_sql_text(db, "[[0.5,-0.25,0],[6,6.5,5.75]]",
                    "SELECT json_extract(gmm_info(gmm_fit('%s', x1, x2, x3)), '$.means') FROM pts",
                    spec);
    free(spec);
    spec = format("{\"k\":2,\"covariance_type\":\"%s\",\"max_iter\":0,\"weights_init\":%s}",
                  COV_TYPES[t], WEIGHTS_JSON);
    assert_sql_text(db, "[0.25,0.75]",
                    "SELECT json_extract(gmm_info(gmm_fit('%s', x1, x2, x3)), '$.weights') "
                    "FROM pts",
                    spec);
    free(spec);
    spec = format("{\"k\":2,\"covariance_type\":\"%s\",\"max_iter\":0,\"precisions_init\":%s}",
                  COV_TYPES[t], PREC_JSON[t]);
    info = format("(SELECT gmm_info(gmm_fit('%s', x1, x2, x3)) FROM pts)", spec);
    for (int j = 0; j < 2; j++) {
      double got[9], want[9];
      component_covariance(db, info, t, j, 3, got);
      init_covariance(t, j, want);
      for (int e = 0; e < 9; e++) assert_close(got[e], want[e], 1e-12);
    }
    free(info);
    free(spec);

    /* EM from the inits finds the two clusters. */
    spec = format(
        "{\"k\":2,\"covariance_type\":\"%s\",\"weights_init\":%s,\"means_init\":%s,"
        "\"precisions_init\":%s}",
        COV_TYPES[t], WEIGHTS_JSON, MEANS_JSON, PREC_JSON[t]);
    exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('%s', x1, x2, x3) AS model FROM pts", spec);
    assert_sql_int(db, 300, "SELECT sum(gmm_predict(m.model, x1, x2, x3) = label) FROM pts, m");
    assert_sql_int(db, 1,
                   "SELECT abs(json_extract(gmm_info(model), '$.weights[0]') - 0.5) < 0.01 "
                   "FROM m");
    /* The inits are not stored: options holds the options of the fit. */
    assert_sql_int(db, 12, "SELECT count(*) FROM m, json_each(gmm_info(m.model), '$.options')");
    exec_sql(db, "DROP TABLE m");
    free(spec);
  }
  close_db(db);
}

/* text as the extension quotes it in an error: cut to 40 bytes with "...". */
static char *quoted(const char *text) {
  size_t n = strlen(text);
  return n > 40 ? format("'%.40s...'", text) : format("'%s'", text);
}

/* The error of gmm_fit(spec, x1, x2, x3) over pts (k = 2, d = 3). */
static void assert_fit_error(const char *file, int line, sqlite3 *db, const char *spec,
                             const char *expected) {
  sql_error_impl(file, line, db, NULL, 0, expected, "SELECT gmm_fit('%s', x1, x2, x3) FROM pts",
                 spec);
}
#define assert_fit_error(db, spec, expected) \
  assert_fit_error(__FILE__, __LINE__, db, spec, expected)

/* The shape error of option name whose JSON is value. */
static char *shape_error(const char *name, const char *shape, const char *value) {
  char *q = quoted(value);
  char *msg =
      format("gmm_fit: option %s must be %s array of finite numbers, provided %s", name, shape, q);
  free(q);
  return msg;
}

/* spec (2), (3), fit (9): *_init arrays of the wrong shape, with values
** that are not finite numbers, nested wrongly or empty, weights that do not
** sum to 1 or leave [0, 1], precisions that are not positive definite,
** symmetric or positive; and *_init with a list of k or of covariance
** types. Every message whole. */
static void test_init_errors(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 60, 3, 2, TWO_3D, 1.0, 3);
  /* Wrong shapes and values, per option and type. */
  static const struct {
    int type; /* index into COV_TYPES */
    const char *name, *value;
  } shapes[] = {
      {0, "weights_init", "[1]"},
      {0, "weights_init", "[0.5,0.25,0.25]"},
      {0, "weights_init", "[]"},
      {0, "weights_init", "[[0.5],[0.5]]"},
      {0, "weights_init", "[0.5,\"0.5\"]"},
      {0, "weights_init", "[0.5,null]"},
      {0, "weights_init", "[0.5,true]"},
      {0, "weights_init", "[0.5,1e999]"},
      {0, "weights_init", "[0.5,{\"a\":0.5}]"},
      {0, "means_init", "[[0,0,0]]"},
      {0, "means_init", "[[0,0],[6,6]]"},
      {0, "means_init", "[0,0,0,6,6,6]"},
      {0, "means_init", "[[0,0,0],[6,6,[6]]]"},
      {0, "means_init", "[[0,0,0],[6,6,\"6\"]]"},
      {0, "means_init", "[[0,0,0],[6,6,-1e999]]"},
      {0, "means_init", "[[0,0,0],{\"0\":6,\"1\":6,\"2\":6}]"},
      {0, "means_init", "[[],[]]"},
      {0, "means_init", "[]"},
      {0, "means_init", "[[0,0,0],[6,6,6],[1,1,1]]"},
      {0, "precisions_init", "[[1,0,0],[0,1,0],[0,0,1]]"},
      {0, "precisions_init", "[[[1,0,0],[0,1,0],[0,0,1]]]"},
      {0, "precisions_init", "[[[1,0],[0,1]],[[1,0],[0,1]]]"},
      {0, "precisions_init", "[1,1]"},
      {0, "precisions_init", "[]"},
      {1, "precisions_init", "[[[1,0,0],[0,1,0],[0,0,1]],[[1,0,0],[0,1,0],[0,0,1]]]"},
      {1, "precisions_init", "[[1,0,0],[0,1,0]]"},
      {1, "precisions_init", "[1,1,1]"},
      {2, "precisions_init", "[[1,0,0],[0,1,0],[0,0,1]]"},
      {2, "precisions_init", "[1,1,1]"},
      {2, "precisions_init", "[[1,1,1],[1,1]]"},
      {2, "precisions_init", "[[[1],[1],[1]],[[1],[1],[1]]]"},
      {3, "precisions_init", "[[1,1,1],[1,1,1]]"},
      {3, "precisions_init", "[1]"},
      {3, "precisions_init", "[1,1,1]"},
      {3, "precisions_init", "[[1],[1]]"},
      {3, "precisions_init", "[1,\"1\"]"},
  };
  static const char *const prec_shape[4] = {"a 2 x 3 x 3 (k x d x d)", "a 3 x 3 (d x d, tied)",
                                            "a 2 x 3 (k x d, diag)", "a 2-element (k, spherical)"};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const char *name = shapes[i].name;
    const char *shape = strcmp(name, "weights_init") == 0 ? "a 2-element (k)"
                        : strcmp(name, "means_init") == 0 ? "a 2 x 3 (k x d)"
                                                          : prec_shape[shapes[i].type];
    char *spec = format("{\"k\":2,\"covariance_type\":\"%s\",\"%s\":%s}", COV_TYPES[shapes[i].type],
                        name, shapes[i].value);
    char *expect = shape_error(name, shape, shapes[i].value);
    assert_fit_error(db, spec, expect);
    free(expect);
    free(spec);
  }
  /* Not an array at all. */
  assert_fit_error(db, "{\"k\":2,\"weights_init\":\"[0.5,0.5]\"}",
                   "gmm_fit: option weights_init must be an array of numbers, provided text "
                   "'[0.5,0.5]'");
  assert_fit_error(db, "{\"k\":2,\"means_init\":{\"a\":1}}",
                   "gmm_fit: option means_init must be an array of numbers, provided object");
  assert_fit_error(db, "{\"k\":2,\"precisions_init\":1}",
                   "gmm_fit: option precisions_init must be an array of numbers, provided "
                   "integer 1");
  assert_fit_error(db, "{\"k\":2,\"precisions_init\":null}",
                   "gmm_fit: option precisions_init must be an array of numbers, provided null");
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[0.5,0.5],\"weights_init\":[0.5,0.5]}",
                   "gmm_fit: option weights_init is given twice");

  /* Weights outside [0, 1] or not summing to 1. */
  char sum[64];
  snprintf(sum, sizeof sum, "%.17g", 0.5 + 0.6);
  char *expect = format("gmm_fit: weights_init must sum to 1, provided sum %s", sum);
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[0.5,0.6]}", expect);
  free(expect);
  snprintf(sum, sizeof sum, "%.17g", 0.25 + 0.7);
  expect = format("gmm_fit: weights_init must sum to 1, provided sum %s", sum);
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[0.25,0.7]}", expect);
  free(expect);
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[0,0]}",
                   "gmm_fit: weights_init must sum to 1, provided sum 0");
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[1.5,-0.5]}",
                   "gmm_fit: weights_init[0] must be between 0 and 1, provided 1.5");
  assert_fit_error(db, "{\"k\":2,\"weights_init\":[0.5,-0.5]}",
                   "gmm_fit: weights_init[1] must be between 0 and 1, provided -0.5");

  /* Precisions that are not positive definite, symmetric or positive. */
  static const struct {
    int type;
    const char *value, *message;
  } bad[] = {
      {0, "[[[1,2,0],[2,1,0],[0,0,1]],[[1,0,0],[0,1,0],[0,0,1]]]",
       "precisions_init[0] is not positive definite"},
      {0, "[[[1,0,0],[0,1,0],[0,0,1]],[[1,0,0],[0,1,0],[0,0,-1]]]",
       "precisions_init[1] is not positive definite"},
      {0, "[[[1,0,0],[0,1,0],[0,0,1]],[[0,0,0],[0,0,0],[0,0,0]]]",
       "precisions_init[1] is not positive definite"},
      {0, "[[[1,0,0],[0,1,0],[0,0,1]],[[1,0.5,0],[0,1,0],[0,0,1]]]",
       "precisions_init[1] must be finite and symmetric"},
      {1, "[[1,2,0],[2,1,0],[0,0,1]]", "precisions_init[0] is not positive definite"},
      {1, "[[-1,0,0],[0,-1,0],[0,0,-1]]", "precisions_init[0] is not positive definite"},
      {1, "[[1,0,0.1],[0,1,0],[0,0,1]]", "precisions_init[0] must be finite and symmetric"},
      {2, "[[1,1,1],[1,-1,1]]", "precisions_init[1] must be positive and finite"},
      {2, "[[0,1,1],[1,1,1]]", "precisions_init[0] must be positive and finite"},
      {3, "[1,-1]", "precisions_init[1] must be positive and finite"},
      {3, "[0,1]", "precisions_init[0] must be positive and finite"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *spec = format("{\"k\":2,\"covariance_type\":\"%s\",\"precisions_init\":%s}",
                        COV_TYPES[bad[i].type], bad[i].value);
    expect = format("gmm_fit: %s", bad[i].message);
    assert_fit_error(db, spec, expect);
    free(expect);
    free(spec);
  }

  /* spec (3): lists do not combine with the *_init options. */
  static const char *const lists[] = {"\"k\":[1,2]", "\"k\":[2]",
                                      "\"k\":2,\"covariance_type\":[\"full\",\"diag\"]"};
  static const char *const inits[3][2] = {{"weights_init", "[0.5,0.5]"},
                                          {"means_init", "[[0,0,0],[6,6,6]]"},
                                          {"precisions_init",
                                           "[[[1,0,0],[0,1,0],[0,0,1]],"
                                           "[[1,0,0],[0,1,0],[0,0,1]]]"}};
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < 3; i++) {
      char *spec = format("{%s,\"%s\":%s}", lists[l], inits[i][0], inits[i][1]);
      expect = format(
          "gmm_fit: option %s does not combine with a list of k or of "
          "covariance_type",
          inits[i][0]);
      assert_fit_error(db, spec, expect);
      free(expect);
      free(spec);
      /* Whatever the order of the keys. */
      spec = format("{\"%s\":%s,%s}", inits[i][0], inits[i][1], lists[l]);
      expect = format(
          "gmm_fit: option %s does not combine with a list of k or of "
          "covariance_type",
          inits[i][0]);
      assert_fit_error(db, spec, expect);
      free(expect);
      free(spec);
    }
  close_db(db);
}

/* fit (9), blob (3): weights_init is accepted when it sums to 1 within the
** check's tolerance; the model written from it (max_iter 0 keeps the
** initial weights) must still be a valid BLOB that every function reads. */
static void test_init_weights_near_one(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 60, 3, 2, TWO_3D, 1.0, 3);
  exec_sql(db,
           "CREATE TABLE m AS SELECT gmm_fit('{\"k\":2,\"max_iter\":0,"
           "\"weights_init\":[0.5,0.500000005]}', x1, x2, x3) AS model FROM pts");
  assert_sql_int(db, 1, "SELECT typeof(model) = 'blob' FROM m");
  result r;
  run_sql(db, NULL, 0, "SELECT gmm_info(model) FROM m", &r);
  if (r.rc != SQLITE_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", r.error);
    result_clear(&r);
    close_db(db);
    fail_msg(
        "gmm_fit accepted weights_init [0.5, 0.500000005] but wrote a model that gmm_info "
        "rejects: %s",
        why);
  }
  result_clear(&r);
  assert_sql_int(db, 1,
                 "SELECT abs((SELECT sum(value) FROM json_each(gmm_info(model), '$.weights')) - "
                 "1) <= 1e-9 FROM m");
  assert_sql_int(db, 1, "SELECT gmm_predict(model, 6, 6, 6) IS NOT NULL FROM m");
  close_db(db);
}

/* ========================================================================
** Warm start.
*/

/* spec (4), gmm_fit (1), fit (9): gmm_fit(model, x, y) over the rows the
** model was fitted on starts from the model: it converges at once, its
** log-likelihood does not fall, it keeps the model's options, and it says
** warm_started. A model whose options say max_iter 0 is reproduced
** exactly, for every covariance type. */
static void test_warm_start_same_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 600, 2, 3, OVERLAP_2D, 0.5, 11);
  exec_sql(db,
           "CREATE TABLE m0 AS SELECT gmm_fit('{\"k\":3,\"n_init\":2,\"seed\":5}', x1, x2) "
           "AS model FROM pts;"
           "CREATE TABLE m1 AS SELECT gmm_fit((SELECT model FROM m0), x1, x2) AS model "
           "FROM pts;");
  const char *i0 = "(SELECT gmm_info(model) FROM m0)", *i1 = "(SELECT gmm_info(model) FROM m1)";
  assert_sql_text(db, "false", "SELECT json_type(%s, '$.warm_started')", i0);
  assert_sql_text(db, "true", "SELECT json_type(%s, '$.warm_started')", i1);
  assert_sql_int(db, 4, "SELECT json_extract(%s, '$.format_version')", i1);
  /* The model's options, n_init included (one initialisation ran). */
  assert_sql_int(db, 1, "SELECT json_extract(%s, '$.options') = json_extract(%s, '$.options')", i0,
                 i1);
  assert_sql_int(db, 0, "SELECT json_extract(%s, '$.best_init')", i1);
  assert_sql_int(db, 600, "SELECT json_extract(%s, '$.n_samples')", i1);
  assert_sql_text(db, "true", "SELECT json_type(%s, '$.converged')", i1);
  sqlite3_int64 it0 = sql_int(db, "SELECT json_extract(%s, '$.n_iter')", i0);
  sqlite3_int64 it1 = sql_int(db, "SELECT json_extract(%s, '$.n_iter')", i1);
  if (it1 > 2) fail_msg("the warm start took %lld iterations (the cold fit %lld)", it1, it0);
  double ll0 = sql_double(db, "SELECT json_extract(%s, '$.log_likelihood')", i0);
  double ll1 = sql_double(db, "SELECT json_extract(%s, '$.log_likelihood')", i1);
  if (!(ll1 >= ll0 - 1e-9 * fabs(ll0)))
    fail_msg("warm start log-likelihood %.17g is below the model's %.17g", ll1, ll0);
  /* And it stays where the model was. */
  assert_json_close(db, i0, i1, "$.means", 1e-2);
  /* Overlapping clusters: a row on a boundary may change sides. */
  assert_sql_int(db, 1,
                 "SELECT sum(gmm_predict(m0.model, x1, x2) = gmm_predict(m1.model, x1, x2)) >= "
                 "597 FROM pts, m0, m1");
  /* Deterministic. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit((SELECT model FROM m0), x1, x2) FROM pts) = "
                 "(SELECT model FROM m1)");

  /* max_iter 0 in the model's options: the warm start runs no iteration
  ** and gives back the model's parameters, bit for bit. */
  for (int t = 0; t < 4; t++) {
    exec_sql(db,
             "DROP TABLE IF EXISTS z0; DROP TABLE IF EXISTS z1;"
             "CREATE TABLE z0 AS SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\","
             "\"max_iter\":0}', x1, x2) AS model FROM pts;"
             "CREATE TABLE z1 AS SELECT gmm_fit((SELECT model FROM z0), x1, x2) AS model "
             "FROM pts",
             COV_TYPES[t]);
    assert_sql_int(db, 1,
                   "SELECT a ->> '$.covariance_type' = '%s' AND b ->> '$.n_iter' = 0 AND "
                   "json_type(b, '$.warm_started') = 'true' AND "
                   "json_extract(a, '$.weights') = json_extract(b, '$.weights') AND "
                   "json_extract(a, '$.means') = json_extract(b, '$.means') AND "
                   "json_extract(a, '$.covariances') = json_extract(b, '$.covariances') AND "
                   "json_extract(a, '$.log_likelihood') = json_extract(b, '$.log_likelihood') "
                   "FROM (SELECT gmm_info(z0.model) AS a, gmm_info(z1.model) AS b FROM z0, z1)",
                   COV_TYPES[t]);
  }
  close_db(db);
}

/* spec (4), gmm_fit (1), (3): a warm start over other rows refits to them;
** a model of another d, a BLOB that is not a model, and a spec that changes
** between rows are errors; a weighted model expects its weight argument; a
** selection's winner and a format-version-1 model warm-start too. */
static void test_warm_start_new_rows_and_errors(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "a", 300, 2, 3, SEPARATED_2D, 1.0, 1);
  exec_sql(db,
           "CREATE TABLE b AS SELECT id, label, x1 + 3 AS x1, x2 - 2 AS x2 FROM a "
           "WHERE id <= 240;"
           "CREATE TABLE m0 AS SELECT gmm_fit(3, x1, x2) AS model FROM a;"
           "CREATE TABLE m1 AS SELECT gmm_fit((SELECT model FROM m0), x1, x2) AS model FROM b");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_samples' = 240 AND json_type(i, '$.warm_started') = 'true' "
                 "AND i ->> '$.k' = 3 FROM (SELECT gmm_info(model) AS i FROM m1)");
  /* Every shifted centre has a fitted mean within 0.3. */
  for (int c = 0; c < 3; c++)
    assert_sql_int(db, 1,
                   "SELECT count(*) = 1 FROM m1, json_each(gmm_info(m1.model), '$.means') "
                   "WHERE abs((value ->> '$[0]') - %g) < 0.3 AND abs((value ->> '$[1]') - %g) "
                   "< 0.3",
                   SEPARATED_2D[2 * c] + 3, SEPARATED_2D[2 * c + 1] - 2);
  assert_sql_int(db, 240,
                 "SELECT sum(gmm_predict(m1.model, b.x1, b.x2) = gmm_predict(m0.model, "
                 "a.x1, a.x2)) FROM a JOIN b USING (id), m0, m1");
  /* NULL rows are skipped and counted as in any fit (all-NULL ones, with
  ** the model's option missing 'marginalize'; the others are used). */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 2 AND i ->> '$.n_incomplete' = 0 FROM (SELECT "
                 "gmm_info(gmm_fit((SELECT model FROM m0), CASE WHEN id IN (3, 4) THEN NULL "
                 "ELSE x1 END, CASE WHEN id IN (3, 4) THEN NULL ELSE x2 END)) AS i FROM b)");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 0 AND i ->> '$.n_incomplete' = 2 FROM (SELECT "
                 "gmm_info(gmm_fit((SELECT model FROM m0), "
                 "CASE WHEN id IN (3, 4) THEN NULL ELSE x1 END, x2)) AS i FROM b)");
  /* Too few rows for the model's k. */
  assert_sql_error(db, "gmm_fit: k = 3 is larger than the number of usable rows (2)",
                   "SELECT gmm_fit((SELECT model FROM m0), x1, x2) FROM b WHERE id <= 2");

  /* d mismatch. */
  assert_sql_error(db, "gmm_fit: the model in argument 1 (spec) has 2 features, provided 1",
                   "SELECT gmm_fit((SELECT model FROM m0), x1) FROM b");
  assert_sql_error(db, "gmm_fit: the model in argument 1 (spec) has 2 features, provided 3",
                   "SELECT gmm_fit((SELECT model FROM m0), x1, x2, x1) FROM b");
  exec_sql(db, "CREATE TABLE m_one AS SELECT gmm_fit(2, x1) AS model FROM a");
  assert_sql_error(db, "gmm_fit: the model in argument 1 (spec) has 1 feature, provided 2",
                   "SELECT gmm_fit((SELECT model FROM m_one), x1, x2) FROM b");
  /* BLOBs that are not models. */
  const char *prefix = "gmm_fit: argument 1 (spec) is not a valid gmm model: ";
  char *expect = format("%sthe checksum does not match its contents", prefix);
  assert_sql_error(db, expect,
                   "SELECT gmm_fit(CAST(substr(m.model, 1, 150) || x'ff' || "
                   "substr(m.model, 152) AS BLOB), x1, x2) FROM b, m0 m");
  free(expect);
  expect = format("%sit does not start with the gmm magic", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit(zeroblob(300), x1, x2) FROM b");
  free(expect);
  expect = format("%sit is too short (0 bytes; the smallest model has 104)", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit(x'', x1, x2) FROM b");
  free(expect);
  expect = format("%sit has 287 bytes, but its header (k = 3, d = 2) needs 288", prefix);
  assert_sql_error(db, expect, "SELECT gmm_fit(substr(m.model, 1, 287), x1, x2) FROM b, m0 m");
  free(expect);
  /* gmm_fit (2): the same model on every row. */
  assert_sql_error(db, "gmm_fit: argument 1 (spec) must be the same on every row of a group",
                   "SELECT gmm_fit(CASE WHEN id = 5 THEN m_one.model ELSE m0.model END, x1, "
                   "x2) FROM b, m0, m_one");
  assert_sql_error(db, "gmm_fit: argument 1 (spec) must be the same on every row of a group",
                   "SELECT gmm_fit(CASE WHEN id = 5 THEN 3 ELSE m0.model END, x1, x2) "
                   "FROM b, m0");

  /* A weighted model: its warm start reads a weight first. */
  exec_sql(db,
           "CREATE TABLE mw AS SELECT gmm_fit('{\"k\":3,\"weighted\":true}', 1 + id %% 3, x1, "
           "x2) AS model FROM a");
  assert_sql_error(db,
                   "gmm_fit: the model in argument 1 (spec) has 2 features, provided 1 after the "
                   "weight (the model was fitted with weights)",
                   "SELECT gmm_fit((SELECT model FROM mw), x1, x2) FROM b");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_samples' = (SELECT sum(1 + id %% 3) FROM b) AND "
                 "json_type(i, '$.options.weighted') = 'true' AND "
                 "json_type(i, '$.warm_started') = 'true' FROM (SELECT gmm_info(gmm_fit("
                 "(SELECT model FROM mw), 1 + id %% 3, x1, x2)) AS i FROM b)");
  assert_sql_error(db, "gmm_fit: row 2, argument 2 (weight) must be >= 0, provided -1",
                   "SELECT gmm_fit((SELECT model FROM mw), CASE WHEN id = 2 THEN -1 ELSE 1 END, "
                   "x1, x2) FROM (SELECT * FROM b ORDER BY id)");
  exec_sql(db,
           "CREATE TABLE mw1 AS SELECT gmm_fit('{\"k\":2,\"weighted\":true}', 1, x1) AS model "
           "FROM a");
  assert_sql_error(db,
                   "gmm_fit: expected a spec, a weight and at least one feature (weighted), "
                   "provided 2 arguments",
                   "SELECT gmm_fit((SELECT model FROM mw1), x1) FROM b");

  /* The winner of a selection warm-starts as a single model. */
  exec_sql(db, "CREATE TABLE ms AS SELECT gmm_fit('{\"k\":[2,3,4]}', x1, x2) AS model FROM a");
  assert_sql_int(db, 1,
                 "SELECT json_type(i, '$.candidates') IS NULL AND "
                 "i ->> '$.k' = (SELECT gmm_info(model) ->> '$.k' FROM ms) AND "
                 "json_type(i, '$.options.k') = 'integer' AND "
                 "json_type(i, '$.warm_started') = 'true' "
                 "FROM (SELECT gmm_info(gmm_fit((SELECT model FROM ms), x1, x2)) AS i FROM a)");

  /* A format-version-1 model (tests/fixtures/model_v1.bin, fitted by
  ** tests/make_blob_fixture.c on these 12 rows) warm-starts, and the new
  ** model is written in format version 4 (it carries its ICL). */
  int n = 0;
  unsigned char *v1 = read_binary("tests/fixtures/model_v1.bin", &n);
  exec_sql(db,
           "CREATE TABLE fx(x, y); INSERT INTO fx VALUES (1.0, 2.0), (1.5, 1.8), (0.8, 2.4), "
           "(1.2, 2.2), (0.9, 1.7), (6.0, 7.5), (6.4, 7.1), (5.8, 8.0), (6.9, 7.7), "
           "(6.2, 6.8), (5.5, 7.3), (6.6, 8.2)");
  double ll_v1 = sql_double_b(db, v1, n, "SELECT json_extract(gmm_info(?1), '$.log_likelihood')");
  assert_sql_int_b(db, v1, n, 1,
                   "SELECT i ->> '$.format_version' = 4 AND json_type(i, '$.warm_started') = "
                   "'true' AND i ->> '$.k' = 2 AND i ->> '$.n_samples' = 12 AND "
                   "i ->> '$.n_iter' <= 2 AND i ->> '$.log_likelihood' >= %.17g "
                   "FROM (SELECT gmm_info(gmm_fit(?1, x, y)) AS i FROM fx)",
                   ll_v1 - 1e-9 * fabs(ll_v1));
  free(v1);
  close_db(db);
}

/* ========================================================================
** Model selection.
*/

/* spec (3), gmm_fit (7), apply (4), fit (11): k in 1..6 and every
** covariance type on Old Faithful in one call. The 24 candidates are in
** k-major order, each with its log-likelihood and BIC; the model is the
** candidate of lowest BIC (the first on ties), here k = 2 'full' with the
** same parameters as gmm_fit(2, ...); options.k and options.covariance_type
** are the lists. */
static void test_selection_faithful(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  load_faithful(db);
  exec_sql(db,
           "CREATE TABLE sel AS SELECT gmm_fit('{\"k\":[1,2,3,4,5,6],\"covariance_type\":"
           "[\"full\",\"tied\",\"diag\",\"spherical\"]}', eruptions, waiting) AS model "
           "FROM faithful;"
           "CREATE TABLE info AS SELECT gmm_info(model) AS i FROM sel;"
           "CREATE TABLE cand AS SELECT key AS c, value ->> '$.k' AS k, "
           "value ->> '$.covariance_type' AS t, json_type(value, '$.failed') AS failed, "
           "value ->> '$.bic' AS bic, value ->> '$.log_likelihood' AS ll, "
           "json_type(value, '$.converged') AS converged, value ->> '$.n_iter' AS n_iter "
           "FROM info, json_each(info.i, '$.candidates')");
  assert_sql_int(db, 24, "SELECT count(*) FROM cand");
  assert_sql_int(db, 24, "SELECT json_array_length(i, '$.candidates') FROM info");
  /* k-major order. */
  assert_sql_text(db,
                  "1full,1tied,1diag,1spherical,2full,2tied,2diag,2spherical,"
                  "3full,3tied,3diag,3spherical,4full,4tied,4diag,4spherical,"
                  "5full,5tied,5diag,5spherical,6full,6tied,6diag,6spherical",
                  "SELECT group_concat(k || t, ',') FROM (SELECT k, t FROM cand ORDER BY c)");
  /* Every candidate fitted, with its numbers. */
  assert_sql_int(db, 24,
                 "SELECT count(*) FROM cand WHERE failed = 'false' AND typeof(bic) = 'real' AND "
                 "typeof(ll) = 'real' AND converged IN ('true', 'false') AND "
                 "typeof(n_iter) = 'integer' AND n_iter BETWEEN 1 AND 100");
  /* Each candidate's BIC is -2 LL + p ln n with its own parameter count. */
  for (int t = 0; t < 4; t++)
    for (int k = 1; k <= 6; k++) {
      double ll = sql_double(db, "SELECT ll FROM cand WHERE k = %d AND t = '%s'", k, COV_TYPES[t]);
      double bic =
          sql_double(db, "SELECT bic FROM cand WHERE k = %d AND t = '%s'", k, COV_TYPES[t]);
      double want = -2.0 * ll + n_parameters(t, k, 2) * log(272.0);
      if (bic != want)
        fail_msg("candidate k = %d %s: bic %.17g, expected %.17g", k, COV_TYPES[t], bic, want);
    }
  /* The winner: the lowest BIC, the first on ties. */
  assert_sql_int(db, 1, "SELECT i ->> '$.bic' = (SELECT min(bic) FROM cand) FROM info");
  assert_sql_int(db, 1,
                 "SELECT (i ->> '$.k') || (i ->> '$.covariance_type') = "
                 "(SELECT k || t FROM cand WHERE failed = 'false' ORDER BY bic, c LIMIT 1) "
                 "FROM info");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.log_likelihood' = (SELECT ll FROM cand WHERE k = i ->> '$.k' "
                 "AND t = i ->> '$.covariance_type') FROM info");
  assert_sql_int(db, 1, "SELECT gmm_bic(model) = json_extract(gmm_info(model), '$.bic') FROM sel");
  /* Without init, a selection starts from mclust's hierarchical tree
  ** (spec (3)), and here the winner is k = 3, tied (mclust's EEE, 3): the
  ** model the single fit with init 'hc' gives. */
  assert_sql_int(db, 1, "SELECT i ->> '$.k' = 3 AND i ->> '$.covariance_type' = 'tied' FROM info");
  assert_sql_text(db, "hc", "SELECT i ->> '$.options.init' FROM info");
  exec_sql(db,
           "CREATE TABLE plain AS SELECT gmm_info(gmm_fit('{\"k\":3,\"covariance_type\":"
           "\"tied\",\"init\":\"hc\"}', eruptions, waiting)) AS p FROM faithful");
  assert_sql_int(db, 1,
                 "SELECT json_extract(i, '$.weights') = json_extract(p, '$.weights') AND "
                 "json_extract(i, '$.means') = json_extract(p, '$.means') AND "
                 "json_extract(i, '$.covariances') = json_extract(p, '$.covariances') AND "
                 "json_extract(i, '$.log_likelihood') = json_extract(p, '$.log_likelihood') AND "
                 "json_extract(i, '$.bic') = json_extract(p, '$.bic') FROM info, plain");
  /* Another candidate is the fit of its own options. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT bic FROM cand WHERE k = 3 AND t = 'diag') = "
                 "(SELECT gmm_bic(gmm_fit('{\"k\":3,\"covariance_type\":\"diag\",\"init\":"
                 "\"hc\"}', eruptions, waiting)) FROM faithful)");
  /* options: the lists asked for. */
  assert_sql_text(db, "[1,2,3,4,5,6]", "SELECT json_extract(i, '$.options.k') FROM info");
  assert_sql_text(db, "[\"full\",\"tied\",\"diag\",\"spherical\"]",
                  "SELECT json_extract(i, '$.options.covariance_type') FROM info");
  assert_sql_int(db, 12, "SELECT count(*) FROM info, json_each(info.i, '$.options')");
  /* The model BLOB (format version 4) carries the candidates: 24 x 40
  ** bytes after the parameters (136 + 8 (3 + 6 + 3) + 960 + 8). */
  assert_sql_int(db, 136 + 8 * 12 + 24 * 40 + 8, "SELECT length(model) FROM sel");
  /* Predictions are those of the k = 3 tied model. */
  assert_sql_int(db, 272,
                 "SELECT sum(gmm_predict(s.model, eruptions, waiting) = "
                 "gmm_predict(p.model, eruptions, waiting)) FROM faithful, sel s, "
                 "(SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"tied\",\"init\":\"hc\"}', "
                 "eruptions, waiting) AS model FROM faithful) p");
  /* Selection is deterministic. */
  assert_sql_int(db, 1,
                 "SELECT model = (SELECT gmm_fit('{\"k\":[1,2,3,4,5,6],\"covariance_type\":"
                 "[\"full\",\"tied\",\"diag\",\"spherical\"]}', eruptions, waiting) FROM "
                 "faithful) FROM sel");
  /* A list of k alone, a list of types alone. */
  assert_sql_int(db, 1,
                 "SELECT json_array_length(i, '$.candidates') = 3 AND "
                 "json_extract(i, '$.options.k') = '[1,2,3]' AND "
                 "json_extract(i, '$.options.covariance_type') = '[\"full\"]' AND "
                 "i ->> '$.k' = 2 FROM (SELECT gmm_info(gmm_fit('{\"k\":[1,2,3]}', eruptions, "
                 "waiting)) AS i FROM faithful)");
  assert_sql_int(db, 1,
                 "SELECT json_array_length(i, '$.candidates') = 2 AND "
                 "json_extract(i, '$.options.k') = '[2]' AND "
                 "json_extract(i, '$.options.covariance_type') = '[\"spherical\",\"diag\"]' AND "
                 "i ->> '$.covariance_type' = 'diag' FROM (SELECT gmm_info(gmm_fit("
                 "'{\"k\":2,\"covariance_type\":[\"spherical\",\"diag\"]}', eruptions, waiting)) "
                 "AS i FROM faithful)");
  close_db(db);
}

/* spec (3), gmm_fit (7), fit (11): list errors, each text whole; a
** candidate with more components than usable rows is recorded as failed
** (failed true, bic null) instead of failing the fit; only when every
** candidate fails is the fit an error. */
static void test_selection_errors_and_failed_candidates(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db,
           "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 2), (2, 1), (3, 3), (4, 0), (0, 4),"
           "(NULL, NULL)");
  static const struct {
    const char *spec, *message;
  } cases[] = {
      {"{\"k\":[1,2,0]}", "option k[2] must be between 1 and 1024, provided 0"},
      {"{\"k\":[-1]}", "option k[0] must be between 1 and 1024, provided -1"},
      {"{\"k\":[2,1025]}", "option k[1] must be between 1 and 1024, provided 1025"},
      {"{\"k\":[1,2.5]}", "option k[1] must be an integer, provided real 2.5"},
      {"{\"k\":[1,null]}", "option k[1] must be an integer, provided null"},
      {"{\"k\":[1,[2]]}", "option k[1] must be an integer, provided array"},
      {"{\"k\":[1,{\"k\":2}]}", "option k[1] must be an integer, provided object"},
      {"{\"k\":[\"2\"]}", "option k[0] must be an integer, provided text '2'"},
      {"{\"k\":[]}", "option k must not be an empty list"},
      {"{\"k\":2,\"covariance_type\":[]}", "option covariance_type must not be an empty list"},
      {"{\"k\":2,\"covariance_type\":[\"full\",\"Tied\"]}",
       "option covariance_type[1] must be " COV_ONE_OF ", "
       "provided 'Tied'"},
      {"{\"k\":2,\"covariance_type\":[[\"full\"]]}",
       "option covariance_type[0] must be " COV_ONE_OF ", "
       "provided array"},
      {"{\"k\":2,\"covariance_type\":[2]}",
       "option covariance_type[0] must be " COV_ONE_OF ", "
       "provided integer 2"},
      {"{\"k\":[1,2],\"k\":[1,2]}", "option k is given twice"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *expect = format("gmm_fit: %s", cases[i].message);
    assert_sql_error(db, expect, "SELECT gmm_fit('%s', x, y) FROM t", cases[i].spec);
    free(expect);
  }
  /* At most 1024 values in a list and 1024 candidates in all. */
  char *list = malloc(8 * 1100);
  assert_non_null(list);
  strcpy(list, "1");
  for (int k = 2; k <= 1025; k++) sprintf(list + strlen(list), ",%d", k);
  assert_sql_error(db, "gmm_fit: option k has too many values, maximum 1024",
                   "SELECT gmm_fit('{\"k\":[%s]}', x, y) FROM t", list);
  *strrchr(list, ',') = 0; /* 1 .. 1024 */
  assert_sql_error(db,
                   "gmm_fit: selection needs 1 to 1024 candidates, provided 2048 (1024 k values "
                   "x 2 covariance types)",
                   "SELECT gmm_fit('{\"k\":[%s],\"covariance_type\":[\"full\",\"diag\"]}', x, y) "
                   "FROM t",
                   list);
  free(list);

  /* k = 8 > 5 usable rows: a failed candidate, not a failed fit. */
  exec_sql(db,
           "CREATE TABLE info AS SELECT gmm_info(gmm_fit('{\"k\":[1,8,2]}', x, y)) AS i "
           "FROM t");
  assert_sql_int(db, 3, "SELECT json_array_length(i, '$.candidates') FROM info");
  assert_sql_int(db, 1,
                 "SELECT value ->> '$.k' = 8 AND json_type(value, '$.failed') = 'true' AND "
                 "json_type(value, '$.bic') = 'null' AND "
                 "json_type(value, '$.log_likelihood') = 'null' AND "
                 "json_type(value, '$.converged') = 'false' "
                 "FROM info, json_each(info.i, '$.candidates') WHERE key = 1");
  assert_sql_int(db, 2,
                 "SELECT count(*) FROM info, json_each(info.i, '$.candidates') "
                 "WHERE json_type(value, '$.failed') = 'false' AND json_type(value, '$.bic') = "
                 "'real'");
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.k' IN (1, 2) AND i ->> '$.bic' = (SELECT min(value ->> '$.bic') "
                 "FROM json_each(i, '$.candidates')) AND i ->> '$.n_skipped' = 1 AND "
                 "json_extract(i, '$.options.k') = '[1,8,2]' FROM info");
  /* Every candidate failed: an error that gives the last reason. */
  assert_sql_error(db,
                   "gmm_fit: no candidate could be fitted (the last: k = 7 is larger than the "
                   "number of usable rows (5))",
                   "SELECT gmm_fit('{\"k\":[6,7]}', x, y) FROM t");
  assert_sql_error(db,
                   "gmm_fit: no candidate could be fitted (the last: k = 6 is larger than the "
                   "number of usable rows (5))",
                   "SELECT gmm_fit('{\"k\":[6],\"covariance_type\":[\"full\",\"spherical\"]}', "
                   "x, y) FROM t");
  /* No usable row: NULL, as for a single fit. */
  assert_sql_null(db, "SELECT gmm_fit('{\"k\":[1,2]}', x, y) FROM t WHERE x IS NULL");
  close_db(db);
}

/* spec (2), (3): a value listed twice is an error, as a key given twice is:
** {"k":[2,2]} would fit the same candidate twice and report options.k as
** [2]. */
static void test_selection_duplicates(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db, "CREATE TABLE t(x, y); INSERT INTO t VALUES (1, 2), (2, 1), (3, 3), (4, 0), (0, 4)");
  static const struct {
    const char *spec, *message;
  } cases[] = {
      {"{\"k\":[2,2]}", "gmm_fit: option k lists 2 twice"},
      {"{\"k\":[1,2,1]}", "gmm_fit: option k lists 1 twice"},
      {"{\"k\":2,\"covariance_type\":[\"diag\",\"full\",\"diag\"]}",
       "gmm_fit: option covariance_type lists 'diag' twice"},
  };
  /* Every case is run and reported before the test fails. */
  char report[2048] = "";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *sql = format("SELECT gmm_info(gmm_fit('%s', x, y)) FROM t", cases[i].spec);
    result r;
    run_sql(db, NULL, 0, sql, &r);
    char line[512] = "";
    if (r.rc == SQLITE_OK)
      snprintf(line, sizeof line, "\n  %s: accepted (expected \"%s\"); options %.120s",
               cases[i].spec, cases[i].message, strstr(r.text, "\"options\""));
    else if (strcmp(r.error, cases[i].message) != 0)
      snprintf(line, sizeof line, "\n  %s: \"%s\" (expected \"%s\")", cases[i].spec, r.error,
               cases[i].message);
    strncat(report, line, sizeof report - strlen(report) - 1);
    result_clear(&r);
    free(sql);
    check_alive(__FILE__, __LINE__, db);
  }
  close_db(db);
  if (report[0]) fail_msg("lists with a value twice:%s", report);
}

/* ========================================================================
** Row weights.
*/

/* spec (2), gmm_fit (3), fit (10): weighted true with every weight 1 is the
** unweighted fit: the same parameters, log-likelihood and summary, bit for
** bit, for every init method and covariance type; only options.weighted
** differs (in the BLOB, the flags word and so the checksum). */
static void test_weights_all_ones(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 300, 2, 3, OVERLAP_2D, 0.6, 21);
  for (int c = 0; c < 7; c++) {
    const char *init = INITS[c < 4 ? c : 0];
    const char *type = COV_TYPES[c < 4 ? 0 : c - 3];
    char *opts =
        format("\"k\":3,\"init\":\"%s\",\"covariance_type\":\"%s\",\"n_init\":2", init, type);
    int na = 0, nb = 0;
    unsigned char *a = sql_blob(db, &na, "SELECT gmm_fit('{%s}', x1, x2) FROM pts", opts);
    unsigned char *b =
        sql_blob(db, &nb, "SELECT gmm_fit('{%s,\"weighted\":true}', 1, x1, x2) FROM pts", opts);
    assert_int_equal(na, nb);
    /* Bytes 84..87 hold the flags (bit 1: weighted); the last 8 the
    ** checksum. Everything else is identical. */
    for (int i = 0; i < na - 8; i++)
      if (a[i] != b[i] && !(i >= 84 && i < 88))
        fail_msg("%s: byte %d differs between the unweighted and the all-ones fit", opts, i);
    assert_int_equal(b[84] & 2, 2);
    assert_int_equal(a[84] & 2, 0);
    static const char *const keys[] = {"weights",   "means",  "covariances", "log_likelihood",
                                       "n_samples", "n_iter", "converged",   "best_init",
                                       "bic",       "aic",    "n_skipped",   "empty_components"};
    for (size_t kx = 0; kx < sizeof keys / sizeof keys[0]; kx++) {
      sqlite3_stmt *stmt = NULL;
      char *sql = format(
          "SELECT json_extract(gmm_info(?1), '$.%s') IS json_extract(gmm_info(?2), "
          "'$.%s')",
          keys[kx], keys[kx]);
      assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
      sqlite3_bind_blob(stmt, 1, a, na, SQLITE_STATIC);
      sqlite3_bind_blob(stmt, 2, b, nb, SQLITE_STATIC);
      assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
      if (sqlite3_column_int(stmt, 0) != 1) fail_msg("%s: gmm_info %s differs", opts, keys[kx]);
      sqlite3_finalize(stmt);
      free(sql);
    }
    assert_sql_int_b(db, b, nb, 1, "SELECT json_type(gmm_info(?1), '$.options.weighted') = 'true'");
    assert_sql_int_b(db, a, na, 1,
                     "SELECT json_type(gmm_info(?1), '$.options.weighted') = 'false'");
    free(a);
    free(b);
    free(opts);
  }
  close_db(db);
}

/* Creates rep(id, w, x1, x2, label): pts with integer weights 1 + id % 4,
** and rep_x: each row of rep repeated w times (a recursive CTE). */
static void make_weighted_and_expanded(sqlite3 *db) {
  make_data(db, "pts", 240, 2, 3, OVERLAP_2D, 0.6, 33);
  exec_sql(db,
           "CREATE TABLE rep AS SELECT id, 1 + id %% 4 AS w, x1, x2, label FROM pts;"
           "CREATE TABLE rep_x AS WITH RECURSIVE r(id, n, x1, x2) AS ("
           "  SELECT id, w, x1, x2 FROM rep UNION ALL "
           "  SELECT id, n - 1, x1, x2 FROM r WHERE n > 1) "
           "SELECT id, x1, x2 FROM r");
  assert_sql_int(db, 1, "SELECT (SELECT sum(w) FROM rep) = (SELECT count(*) FROM rep_x)");
}

/* gmm_fit (3), fit (10): an integer weight w is the row repeated w times.
** From the same explicit initial parameters (no init method) and 20
** iterations, weights, means, covariances and log-likelihood agree to
** 1e-9 relative and n_samples is the sum of the weights, for every
** covariance type; with the default kmeans init every row gets the same
** label from both models. */
static void test_weights_integer_equal_repeats(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_weighted_and_expanded(db);
  static const char *const prec[4] = {"[[[1,0],[0,1]],[[2,0.5],[0.5,1]],[[1,0],[0,3]]]",
                                      "[[1.5,0.2],[0.2,1]]", "[[1,1],[2,1],[1,3]]", "[1,2,1.5]"};
  for (int t = 0; t < 4; t++) {
    char *spec = format(
        "\"k\":3,\"covariance_type\":\"%s\",\"max_iter\":20,\"tol\":0,"
        "\"weights_init\":[0.3,0.3,0.4],"
        "\"means_init\":[[-0.5,0],[2,0.2],[0.5,1.8]],\"precisions_init\":%s",
        COV_TYPES[t], prec[t]);
    char *weighted = format(
        "(SELECT gmm_info(gmm_fit('{%s,\"weighted\":true}', w, x1, x2)) "
        "FROM rep)",
        spec);
    char *expanded = format("(SELECT gmm_info(gmm_fit('{%s}', x1, x2)) FROM rep_x)", spec);
    assert_sql_int(db, 1,
                   "SELECT a ->> '$.n_samples' = (SELECT sum(w) FROM rep) AND "
                   "b ->> '$.n_samples' = a ->> '$.n_samples' AND a ->> '$.n_iter' = 20 AND "
                   "b ->> '$.n_iter' = 20 FROM (SELECT %s AS a, %s AS b)",
                   weighted, expanded);
    assert_json_close(db, weighted, expanded, "$.weights", 1e-9);
    assert_json_close(db, weighted, expanded, "$.means", 1e-9);
    assert_json_close(db, weighted, expanded, "$.covariances", 1e-9);
    assert_json_close(db, weighted, expanded, "$.log_likelihood", 1e-9);
    assert_json_close(db, weighted, expanded, "$.bic", 1e-9);
    free(weighted);
    free(expanded);
    free(spec);
  }
  /* The default init: every row labelled alike by the two models. */
  for (int t = 0; t < 4; t++) {
    exec_sql(db,
             "DROP TABLE IF EXISTS m;"
             "CREATE TABLE m AS SELECT (SELECT gmm_fit('{\"k\":3,\"covariance_type\":\"%s\","
             "\"weighted\":true}', w, x1, x2) FROM rep) AS a, (SELECT gmm_fit('{\"k\":3,"
             "\"covariance_type\":\"%s\"}', x1, x2) FROM rep_x) AS b",
             COV_TYPES[t], COV_TYPES[t]);
    sqlite3_int64 differ = sql_int(db,
                                   "SELECT count(*) FROM pts, m WHERE gmm_predict(a, x1, x2) <> "
                                   "gmm_predict(b, x1, x2)");
    if (differ) fail_msg("%s: %lld rows labelled differently", COV_TYPES[t], differ);
    assert_sql_int(db, 1, "SELECT gmm_info(a) ->> '$.n_samples' = (SELECT sum(w) FROM rep) FROM m");
  }
  close_db(db);
}

/* gmm_fit (4), fit (10): a row of weight 0 changes nothing: the BLOB is
** byte for byte the one fitted without it (even an outlier far away), for
** every init method; n_samples is the sum of the weights. */
static void test_weights_zero_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_data(db, "pts", 200, 2, 3, OVERLAP_2D, 0.6, 8);
  exec_sql(db,
           "CREATE TABLE w AS SELECT id, 0.5 + (id %% 3) AS w, x1, x2 FROM pts;"
           "CREATE TABLE w0 AS SELECT * FROM w;"
           "INSERT INTO w0 VALUES (1001, 0, 1e6, -1e6), (1002, 0, 0.5, 0.5), "
           "(1003, 0.0, (SELECT x1 FROM w WHERE id = 7), (SELECT x2 FROM w WHERE id = 7));"
           "CREATE TABLE w0s AS SELECT * FROM w0 ORDER BY w, id DESC");
  for (int c = 0; c < 4; c++) {
    const char *fmt =
        "SELECT gmm_fit('{\"k\":3,\"init\":\"%s\",\"weighted\":true,"
        "\"n_init\":2,\"seed\":9}', w, x1, x2) FROM %s";
    int na = 0, nb = 0, nc = 0;
    unsigned char *a = sql_blob(db, &na, fmt, INITS[c], "w");
    unsigned char *b = sql_blob(db, &nb, fmt, INITS[c], "w0");
    unsigned char *d = sql_blob(db, &nc, fmt, INITS[c], "w0s");
    assert_int_equal(na, nb);
    assert_int_equal(na, nc);
    if (memcmp(a, b, (size_t)na) != 0 || memcmp(a, d, (size_t)na) != 0)
      fail_msg("init %s: rows of weight 0 changed the model", INITS[c]);
    free(a);
    free(b);
    free(d);
  }
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_samples' = (SELECT sum(w) FROM w) AND i ->> '$.n_skipped' = 0 "
                 "FROM (SELECT gmm_info(gmm_fit('{\"k\":3,\"weighted\":true}', w, x1, x2)) AS i "
                 "FROM w0)");
  /* Fractional weights: n_samples is their sum, bic uses ln of it. */
  double ns = sql_double(db, "SELECT sum(w) FROM w");
  double ll = sql_double(db,
                         "SELECT gmm_info(gmm_fit('{\"k\":3,\"weighted\":true}', w, x1, x2)) "
                         "->> '$.log_likelihood' FROM w");
  double bic = sql_double(db,
                          "SELECT gmm_bic(gmm_fit('{\"k\":3,\"weighted\":true}', w, x1, x2)) "
                          "FROM w");
  if (bic != -2.0 * ll + n_parameters(0, 3, 2) * log(ns))
    fail_msg("weighted bic %.17g, expected -2 LL + p ln(sum of weights) = %.17g", bic,
             -2.0 * ll + n_parameters(0, 3, 2) * log(ns));
  close_db(db);
}

/* gmm_fit (3), (4), ext (4): weights that are negative, infinite, TEXT or
** BLOB are errors naming the row and argument 2 (weight); a NULL weight
** skips the row and counts it; rows all of weight 0 are an error that
** counts them; fewer positive-weight rows than k is the usual error. */
static void test_weights_errors(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  exec_sql(db,
           "CREATE TABLE t(id INTEGER PRIMARY KEY, w, x, y);"
           "INSERT INTO t VALUES (1, 1, 0, 0), (2, 2, 1, 1), (3, 0, 5, 5), (4, 1, 2, 0),"
           "(5, 3, 0, 2), (6, 1, 10, 10);");
  const char *spec = "'{\"k\":1,\"weighted\":true}'";
  const char *skip_spec = "'{\"k\":1,\"weighted\":true,\"missing\":\"skip\"}'";
  static const struct {
    const char *weight, *message;
  } cases[] = {
      {"-1", "row 4, argument 2 (weight) must be >= 0, provided -1"},
      {"-0.5", "row 4, argument 2 (weight) must be >= 0, provided -0.5"},
      {"-0.001", "row 4, argument 2 (weight) must be >= 0, provided -0.001"},
      {"1e999", "row 4, argument 2 (weight) must be a finite INTEGER or REAL, provided Inf"},
      {"-1e999", "row 4, argument 2 (weight) must be a finite INTEGER or REAL, provided -Inf"},
      {"'a'", "row 4, argument 2 (weight) must be a finite INTEGER or REAL, provided TEXT 'a'"},
      {"'2'", "row 4, argument 2 (weight) must be a finite INTEGER or REAL, provided TEXT '2'"},
      {"x'01'",
       "row 4, argument 2 (weight) must be a finite INTEGER or REAL, provided a BLOB of 1 byte"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *expect = format("gmm_fit: %s", cases[i].message);
    assert_sql_error(db, expect,
                     "SELECT gmm_fit(%s, CASE WHEN id = 4 THEN %s ELSE w END, x, y) FROM "
                     "(SELECT * FROM t ORDER BY id)",
                     spec, cases[i].weight);
    /* A NULL feature in the same row does not hide it. */
    assert_sql_error(db, expect,
                     "SELECT gmm_fit(%s, CASE WHEN id = 4 THEN %s ELSE w END, "
                     "CASE WHEN id = 4 THEN NULL ELSE x END, y) FROM (SELECT * FROM t ORDER BY id)",
                     spec, cases[i].weight);
    free(expect);
  }
  /* Features are arguments 3, 4, ... and x1, x2, ... in a weighted fit. */
  assert_sql_error(db,
                   "gmm_fit: row 2, argument 4 (x2) must be a finite INTEGER or REAL, provided "
                   "TEXT 'b'",
                   "SELECT gmm_fit(%s, w, x, CASE WHEN id = 2 THEN 'b' ELSE y END) FROM "
                   "(SELECT * FROM t ORDER BY id)",
                   spec);
  assert_sql_error(db,
                   "gmm_fit: expected a spec, a weight and at least one feature (weighted), "
                   "provided 2 arguments",
                   "SELECT gmm_fit(%s, w) FROM t", spec);
  assert_sql_error(db, "gmm_fit: expected a spec and at least one feature, provided 1 argument",
                   "SELECT gmm_fit(%s) FROM t", spec);
  /* NULL weight: skipped and counted, like a NULL feature. */
  assert_sql_int(db, 1,
                 "SELECT i ->> '$.n_skipped' = 2 AND i ->> '$.n_samples' = 5 FROM (SELECT "
                 "gmm_info(gmm_fit(%s, CASE WHEN id IN (2, 4) THEN NULL ELSE w END, x, y)) AS i "
                 "FROM t)",
                 spec);
  assert_sql_int(db, 1,
                 "SELECT (SELECT json_extract(gmm_info(gmm_fit(%s, CASE WHEN id = 2 THEN NULL "
                 "ELSE w END, x, y)), '$.means') FROM t) = (SELECT json_extract(gmm_info("
                 "gmm_fit(%s, w, x, y)), '$.means') FROM t WHERE id <> 2)",
                 spec, spec);
  assert_sql_null(db, "SELECT gmm_fit(%s, NULL, x, y) FROM t", spec);
  /* Every usable row of weight 0. */
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (6 rows)",
                   "SELECT gmm_fit(%s, 0, x, y) FROM t", spec);
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (1 row)",
                   "SELECT gmm_fit(%s, 0.0, x, y) FROM t WHERE id = 3", spec);
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (4 rows)",
                   "SELECT gmm_fit(%s, CASE WHEN id <= 2 THEN NULL ELSE 0 END, x, y) FROM t", spec);
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (5 rows)",
                   "SELECT gmm_fit(%s, 0, x, CASE WHEN id = 6 THEN NULL ELSE y END) FROM t",
                   skip_spec);
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (6 rows)",
                   "SELECT gmm_fit(%s, 0, x, CASE WHEN id = 6 THEN NULL ELSE y END) FROM t", spec);
  /* Per group: the all-zero group fails the statement. */
  assert_sql_error(db, "gmm_fit: every usable row has weight 0 (3 rows)",
                   "SELECT id > 3, gmm_fit(%s, CASE WHEN id > 3 THEN 0 ELSE 1 END, x, y) FROM t "
                   "GROUP BY id > 3",
                   spec);
  /* Fewer rows of positive weight than k. */
  assert_sql_error(db, "gmm_fit: k = 3 is larger than the number of usable rows (2)",
                   "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', w, x, y) FROM t WHERE id <= 3");
  /* The weighted option must be a JSON boolean. */
  assert_sql_error(db, "gmm_fit: option weighted must be true or false, provided text 'true'",
                   "SELECT gmm_fit('{\"k\":1,\"weighted\":\"true\"}', x, y) FROM t");
  assert_sql_error(db, "gmm_fit: option weighted must be true or false, provided null",
                   "SELECT gmm_fit('{\"k\":1,\"weighted\":null}', x, y) FROM t");
  close_db(db);
}

/* fit (10), apply (4): scaling every weight by a constant c changes
** n_samples by c and nothing else about the parameters; a component
** holding about half the weight is never reported empty. Tiny and huge
** weights should either fit as weight 1 does or fail with an error about
** the weights, never with a collapsed model or an unrelated diagnosis. */
static void test_weights_scale(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  load_faithful(db);
  const char *unit =
      "(SELECT gmm_info(gmm_fit('{\"k\":2,\"weighted\":true}', 1, eruptions, "
      "waiting)) FROM faithful)";
  static const char *const scales[] = {"1e-6", "1e6", "1e-12", "1e-300", "1e300", "1e308"};
  char report[2048] = "";
  for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
    char *scaled = format(
        "(SELECT gmm_info(gmm_fit('{\"k\":2,\"weighted\":true}', %s, "
        "eruptions, waiting)) FROM faithful)",
        scales[s]);
    char line[512] = "";
    result r;
    char *sql = format("SELECT %s", scaled);
    run_sql(db, NULL, 0, sql, &r);
    free(sql);
    if (r.rc != SQLITE_OK) {
      if (!strstr(r.error, "weight"))
        snprintf(line, sizeof line,
                 "\n  every weight %s: an error that does not name the weights: %s", scales[s],
                 r.error);
    } else {
      sqlite3_int64 empty = sql_int(db, "SELECT json_extract(%s, '$.empty_components')", scaled);
      double means_a[4], means_b[4];
      assert_int_equal(json_numbers(db, unit, "$.means", means_a, 4), 4);
      assert_int_equal(json_numbers(db, scaled, "$.means", means_b, 4), 4);
      int worst = 0;
      for (int i = 1; i < 4; i++)
        if (fabs(means_a[i] - means_b[i]) / fabs(means_a[i]) >
            fabs(means_a[worst] - means_b[worst]) / fabs(means_a[worst]))
          worst = i;
      if (empty != 0 || !(fabs(means_a[worst] - means_b[worst]) <= 1e-6 * fabs(means_a[worst])))
        snprintf(line, sizeof line,
                 "\n  every weight %s: empty_components %lld (expected 0), mean %d %.17g "
                 "(with weight 1: %.17g)",
                 scales[s], empty, worst, means_b[worst], means_a[worst]);
    }
    result_clear(&r);
    strncat(report, line, sizeof report - strlen(report) - 1);
    free(scaled);
  }
  close_db(db);
  if (report[0]) fail_msg("scaled weights:%s", report);
}

/* ========================================================================
** Order independence.
*/

/* ord0 .. ord4(id, grp, w, x1, x2): the same 400 rows (with some exact
** duplicates, and duplicates of different weight) stored in five orders:
** as generated, by x1, by x2 descending, by id descending, and shuffled in
** C with a seeded PRNG. */
static void make_orders(sqlite3 *db) {
  make_data(db, "base", 380, 2, 3, OVERLAP_2D, 0.7, 77);
  exec_sql(db,
           "CREATE TABLE ord0 AS SELECT id, id %% 4 AS grp, 0.25 + (id * 7 %% 5) AS w, x1, x2 "
           "FROM base;"
           /* 10 exact duplicates and 10 duplicates with another weight. */
           "INSERT INTO ord0 SELECT 1000 + id, id %% 4, 0.25 + (id * 7 %% 5), x1, x2 FROM base "
           "WHERE id <= 10;"
           "INSERT INTO ord0 SELECT 2000 + id, id %% 4, 3.5, x1, x2 FROM base "
           "WHERE id > 10 AND id <= 20;"
           "CREATE TABLE ord1 AS SELECT * FROM ord0 ORDER BY x1;"
           "CREATE TABLE ord2 AS SELECT * FROM ord0 ORDER BY x2 DESC;"
           "CREATE TABLE ord3 AS SELECT * FROM ord0 ORDER BY id DESC;"
           "CREATE TABLE ord4 AS SELECT * FROM ord0 WHERE 0;");
  int ids[400], n = 0;
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM ord0", -1, &stmt, NULL), SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) ids[n++] = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  assert_int_equal(n, 400);
  rng r = {2024};
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(rng_u64(&r) % (uint64_t)(i + 1));
    int t = ids[i];
    ids[i] = ids[j];
    ids[j] = t;
  }
  stmt = begin_insert(db, "INSERT INTO ord4 SELECT * FROM ord0 WHERE id = ?");
  for (int i = 0; i < n; i++) {
    sqlite3_bind_int(stmt, 1, ids[i]);
    insert_row(stmt);
  }
  end_insert(db, stmt);
  /* Five different scan orders of the same rows. */
  assert_sql_int(db, 5,
                 "SELECT count(DISTINCT o) FROM (SELECT group_concat(id) AS o FROM ord0 UNION ALL "
                 "SELECT group_concat(id) FROM ord1 UNION ALL SELECT group_concat(id) FROM ord2 "
                 "UNION ALL SELECT group_concat(id) FROM ord3 UNION ALL SELECT group_concat(id) "
                 "FROM ord4)");
  for (int t = 1; t < 5; t++)
    assert_sql_int(db, 0, "SELECT count(*) FROM (SELECT * FROM ord0 EXCEPT SELECT * FROM ord%d)",
                   t);
}

/* gmm_fit (6), DESIGN §1: the same rows in five orders give byte-identical
** BLOBs (compared with SQL =), for k = 3 with every init method (one and
** several initialisations), every covariance type, explicit means_init,
** row weights, and a selection. */
static void test_order_independence(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_orders(db);
  static const char *const calls[] = {
      "gmm_fit('{\"k\":3,\"init\":\"kmeans\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"init\":\"k-means++\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"init\":\"random\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"init\":\"random_from_data\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"init\":\"random\",\"n_init\":3,\"seed\":42}', x1, x2)",
      "gmm_fit('{\"k\":3,\"init\":\"random_from_data\",\"n_init\":3,\"seed\":42}', x1, x2)",
      "gmm_fit('{\"k\":3,\"covariance_type\":\"tied\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"covariance_type\":\"diag\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"covariance_type\":\"spherical\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"covariance_type\":\"spherical\",\"init\":\"random\"}', x1, x2)",
      "gmm_fit('{\"k\":3,\"means_init\":[[0,0],[1.5,0],[0.7,1.3]]}', x1, x2)",
      "gmm_fit('{\"k\":3,\"weighted\":true}', w, x1, x2)",
      "gmm_fit('{\"k\":3,\"weighted\":true,\"init\":\"random\"}', w, x1, x2)",
      "gmm_fit('{\"k\":3,\"weighted\":true,\"init\":\"k-means++\",\"covariance_type\":\"diag\"}', "
      "w, x1, x2)",
      "gmm_fit('{\"k\":[2,3],\"covariance_type\":[\"full\",\"spherical\"]}', x1, x2)",
      "gmm_fit(3, x1, x2)",
      "gmm_fit(1, x1)",
  };
  for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++)
    for (int t = 1; t < 5; t++) {
      sqlite3_int64 same = sql_int(db, "SELECT (SELECT %s FROM ord0) = (SELECT %s FROM ord%d)",
                                   calls[c], calls[c], t);
      if (same != 1) fail_msg("%s: the rows of ord%d give another BLOB than ord0's", calls[c], t);
    }
  /* A warm start too. */
  exec_sql(db,
           "CREATE TABLE m AS SELECT gmm_fit('{\"k\":3,\"max_iter\":3}', x1, x2) AS model "
           "FROM ord0");
  for (int t = 1; t < 5; t++)
    assert_sql_int(db, 1,
                   "SELECT (SELECT gmm_fit(m.model, x1, x2) FROM ord0, m) = "
                   "(SELECT gmm_fit(m.model, x1, x2) FROM ord%d, m)",
                   t);
  /* ORDER BY in a subquery and a row-value order. */
  assert_sql_int(db, 1,
                 "SELECT (SELECT gmm_fit('{\"k\":3,\"init\":\"random\"}', x1, x2) FROM "
                 "(SELECT * FROM ord0 ORDER BY x2 * x1)) = (SELECT gmm_fit('{\"k\":3,"
                 "\"init\":\"random\"}', x1, x2) FROM ord0)");
  close_db(db);
}

/* gmm_fit (5), (6): through GROUP BY each group's model is the same
** whatever order its rows arrive in. */
static void test_order_independence_group_by(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_orders(db);
  static const char *const calls[] = {
      "gmm_fit('{\"k\":2,\"init\":\"random\"}', x1, x2)",
      "gmm_fit('{\"k\":2,\"covariance_type\":\"diag\",\"init\":\"random_from_data\"}', x1, x2)",
      "gmm_fit('{\"k\":2,\"weighted\":true}', w, x1, x2)",
  };
  for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
    exec_sql(db,
             "DROP TABLE IF EXISTS g0; CREATE TABLE g0 AS SELECT grp, %s AS model FROM ord0 "
             "GROUP BY grp",
             calls[c]);
    assert_sql_int(db, 4, "SELECT count(DISTINCT model) FROM g0");
    for (int t = 1; t < 5; t++) {
      sqlite3_int64 differ = sql_int(db,
                                     "SELECT count(*) FROM g0 JOIN (SELECT grp, %s AS model FROM "
                                     "ord%d GROUP BY grp) g USING (grp) WHERE g.model IS NOT "
                                     "g0.model",
                                     calls[c], t);
      if (differ) fail_msg("%s: %lld groups of ord%d differ from ord0's", calls[c], differ, t);
    }
    /* Groups scanned interleaved (no index: the sorter orders the rows of
    ** a group as it pleases). */
    assert_sql_int(db, 0,
                   "SELECT count(*) FROM g0 JOIN (SELECT grp, %s AS model FROM "
                   "(SELECT * FROM ord4 ORDER BY x1) GROUP BY grp) g USING (grp) "
                   "WHERE g.model IS NOT g0.model",
                   calls[c]);
  }
  close_db(db);
}

/* gmm_fit (6), order (1): -0.0 and +0.0 are the same value, so rows that
** differ only in the sign of a zero give the same BLOB. */
static void test_order_negative_zero(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  const char *sql =
      "WITH r(x, y) AS (VALUES (?1, 1.0), (1.0, 2.0), (2.0, 0.5), (0.5, ?1), "
      "(3.0, 3.0)) SELECT gmm_fit('{\"k\":2,\"init\":\"random\"}', x, y) FROM r";
  unsigned char *out[2];
  int len[2];
  for (int s = 0; s < 2; s++) {
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    sqlite3_bind_double(stmt, 1, s ? -0.0 : 0.0);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    len[s] = sqlite3_column_bytes(stmt, 0);
    out[s] = malloc((size_t)len[s]);
    assert_non_null(out[s]);
    memcpy(out[s], sqlite3_column_blob(stmt, 0), (size_t)len[s]);
    sqlite3_finalize(stmt);
  }
  assert_int_equal(len[0], len[1]);
  assert_memory_equal(out[0], out[1], (size_t)len[0]);
  free(out[0]);
  free(out[1]);
  close_db(db);
}

/* ========================================================================
** Errors and memory.
*/

/* Runs each statement of sqls on a fresh connection holding pts, m (a
** model of pts) and the Old Faithful table, stepping at most max_rows rows
** of each (-1: to the end, success or error), checks after each that the
** connection still works, closes, and returns sqlite3_memory_used(). */
static sqlite3_int64 run_and_close(const char *const *sqls, size_t n, int max_rows) {
  sqlite3 *db = open_db();
  load_faithful(db);
  make_data(db, "pts", 200, 2, 3, OVERLAP_2D, 0.6, 5);
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit(3, x1, x2) AS model FROM pts");
  for (size_t i = 0; i < n; i++) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sqls[i], -1, &stmt, NULL) != SQLITE_OK)
      fail_msg("%s: %s", sqls[i], sqlite3_errmsg(db));
    int rows = 0;
    while ((max_rows < 0 || rows < max_rows) && sqlite3_step(stmt) == SQLITE_ROW) rows++;
    sqlite3_finalize(stmt);
    check_alive(__FILE__, __LINE__, db);
  }
  return close_db_measured(db);
}

/* gmm_fit (5), DESIGN §2 (free on every path): every new kind of fit and
** error leaves the connection working and gives back every byte:
** sqlite3_memory_used() returns to its baseline once the statements are
** finalized and the connection closed, whether they finish, fail, or are
** finalized half way through a GROUP BY. */
static void test_errors_and_memory(void **state) {
  (void)state;
  run_and_close(NULL, 0, -1); /* SQLite's global state */
  sqlite3_int64 base = sqlite3_memory_used();
  assert_true(memory_while_open > base + 10000);
  static const char *const sqls[] = {
      /* Successes. */
      "SELECT gmm_fit('{\"k\":[1,2,3],\"covariance_type\":[\"full\",\"diag\"]}', eruptions, "
      "waiting) FROM faithful",
      "SELECT gmm_info(gmm_fit('{\"k\":[1,2,300]}', eruptions, waiting)) FROM faithful",
      "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', 1 + id % 3, x1, x2) FROM pts",
      "SELECT gmm_fit((SELECT model FROM m), x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"tied\",\"weights_init\":[0.5,0.5],"
      "\"means_init\":[[0,0],[1,1]],\"precisions_init\":[[1,0],[0,1]]}', x1, x2) FROM pts",
      "SELECT id % 5, gmm_fit('{\"k\":2,\"weighted\":true,\"covariance_type\":\"spherical\"}', "
      "1 + id % 2, x1, x2) FROM pts GROUP BY id % 5",
      /* Errors: in the spec, at the first row, in a later row, in xFinal. */
      "SELECT gmm_fit('{\"k\":[1,0]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":[]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":2,\"covariance_type\":[\"full\",\"nope\"]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":[1,2],\"means_init\":[[0,0],[1,1]]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":2,\"means_init\":[[0,0],[1]]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":2,\"precisions_init\":[[[1,2],[2,1]],[[1,0],[0,1]]]}', x1, x2) "
      "FROM pts",
      "SELECT gmm_fit('{\"k\":2,\"weights_init\":[0.2,0.2]}', x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', CASE WHEN id = 150 THEN -1 ELSE 1 END, "
      "x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', CASE WHEN id = 150 THEN 'w' ELSE 1 END, "
      "x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', 0, x1, x2) FROM pts",
      "SELECT gmm_fit('{\"k\":[250,300]}', x1, x2) FROM pts",
      "SELECT gmm_fit((SELECT model FROM m), x1) FROM pts",
      "SELECT gmm_fit(CAST(substr(model, 1, 100) || x'ff' || substr(model, 102) AS BLOB), x1, "
      "x2) FROM pts, m",
      "SELECT gmm_fit(CASE WHEN id = 100 THEN 3 ELSE m.model END, x1, x2) FROM pts, m",
      "SELECT id % 5, gmm_fit('{\"k\":2,\"weighted\":true}', CASE WHEN id % 5 = 3 THEN 0 "
      "ELSE 1 END, x1, x2) FROM pts GROUP BY id % 5",
  };
  size_t n = sizeof sqls / sizeof sqls[0];
  sqlite3_int64 after = run_and_close(sqls, n, -1);
  if (after != base) fail_msg("%lld bytes left after the statements ran", after - base);
  /* Finalized after the first row of each (GROUP BY groups in progress). */
  after = run_and_close(sqls, n, 1);
  if (after != base) fail_msg("%lld bytes left after one row of each", after - base);
}

/* spec (2), gmm_fit (8): verbose 1 reports each initialisation and the
** end of the fit on stderr, verbose 2 each iteration too; verbose 0 prints
** nothing; the model is the same whatever the verbosity; out of range is an
** error. */
static char *fit_stderr(sqlite3 *db, const char *spec, unsigned char **blob, int *blob_len) {
  fflush(stderr);
  FILE *capture = tmpfile();
  assert_non_null(capture);
  int saved = dup(fileno(stderr));
  assert_true(saved >= 0);
  assert_true(dup2(fileno(capture), fileno(stderr)) >= 0);
  sqlite3_stmt *stmt = NULL;
  char *sql = format("SELECT gmm_fit('%s', eruptions, waiting) FROM faithful", spec);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  *blob_len = sqlite3_column_bytes(stmt, 0);
  *blob = malloc((size_t)*blob_len);
  memcpy(*blob, sqlite3_column_blob(stmt, 0), (size_t)*blob_len);
  sqlite3_finalize(stmt);
  free(sql);
  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  long size = ftell(capture);
  char *text = calloc(1, (size_t)size + 1);
  rewind(capture);
  assert_int_equal(fread(text, 1, (size_t)size, capture), (size_t)size);
  fclose(capture);
  return text;
}

static void test_verbose(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  load_faithful(db);
  unsigned char *b0, *b1, *b2;
  int n0, n1, n2;
  char *quiet = fit_stderr(db, "{\"k\":2,\"n_init\":2}", &b0, &n0);
  char *one = fit_stderr(db, "{\"k\":2,\"n_init\":2,\"verbose\":1}", &b1, &n1);
  char *two = fit_stderr(db, "{\"k\":2,\"n_init\":2,\"verbose\":2}", &b2, &n2);
  assert_string_equal(quiet, "");
  assert_non_null(strstr(one, "gmm_fit: initialisation 1\n"));
  assert_non_null(strstr(one, "gmm_fit: initialisation 2\n"));
  assert_non_null(strstr(one, "gmm_fit: done in "));
  assert_non_null(strstr(one, "k = 2, log-likelihood -1130.26"));
  assert_null(strstr(one, "iteration 1:"));
  assert_non_null(strstr(two, "gmm_fit:   iteration 1: log-likelihood per row -4.2037"));
  assert_non_null(strstr(two, "gmm_fit:   iteration 4: log-likelihood per row -4.1553"));
  assert_int_equal(n0, n1);
  assert_int_equal(n0, n2);
  assert_memory_equal(b0, b1, (size_t)n0);
  assert_memory_equal(b0, b2, (size_t)n0);
  assert_sql_error(db, "gmm_fit: option verbose must be between 0 and 2, provided 3",
                   "SELECT gmm_fit('{\"k\":2,\"verbose\":3}', eruptions, waiting) FROM faithful");
  free(quiet);
  free(one);
  free(two);
  free(b0);
  free(b1);
  free(b2);
  close_db(db);
}

/* spec (2), gmm_fit (6): the threads option changes the speed, never the
** model; out of range or of the wrong type is an error. */
static void test_threads_option(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  load_faithful(db);
  assert_sql_int(
      db, 1,
      "SELECT gmm_fit('{\"k\":3,\"threads\":1,\"covariance_type\":\"diag\"}', eruptions, "
      "waiting) = gmm_fit('{\"k\":3,\"threads\":2,\"covariance_type\":\"diag\"}', "
      "eruptions, waiting) FROM faithful");
  assert_sql_int(db, 1,
                 "SELECT gmm_fit('{\"k\":2,\"threads\":0}', eruptions, waiting) = "
                 "gmm_fit('{\"k\":2,\"threads\":64}', eruptions, waiting) FROM faithful");
  assert_sql_error(db, "gmm_fit: option threads must be between 0 and 64, provided 65",
                   "SELECT gmm_fit('{\"k\":2,\"threads\":65}', eruptions, waiting) FROM faithful");
  assert_sql_error(db, "gmm_fit: option threads must be between 0 and 64, provided -1",
                   "SELECT gmm_fit('{\"k\":2,\"threads\":-1}', eruptions, waiting) FROM faithful");
  assert_sql_error(
      db, "gmm_fit: option threads must be an integer, provided text '2'",
      "SELECT gmm_fit('{\"k\":2,\"threads\":\"2\"}', eruptions, waiting) FROM faithful");
  assert_sql_error(
      db, "gmm_fit: option threads must be an integer, provided null",
      "SELECT gmm_fit('{\"k\":2,\"threads\":null}', eruptions, waiting) FROM faithful");
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_covariance_types),
      cmocka_unit_test(test_init_arrays),
      cmocka_unit_test(test_verbose),
      cmocka_unit_test(test_threads_option),
      cmocka_unit_test(test_init_errors),
      cmocka_unit_test(test_init_weights_near_one),
      cmocka_unit_test(test_warm_start_same_rows),
      cmocka_unit_test(test_warm_start_new_rows_and_errors),
      cmocka_unit_test(test_selection_faithful),
      cmocka_unit_test(test_selection_errors_and_failed_candidates),
      cmocka_unit_test(test_selection_duplicates),
      cmocka_unit_test(test_weights_all_ones),
      cmocka_unit_test(test_weights_integer_equal_repeats),
      cmocka_unit_test(test_weights_zero_rows),
      cmocka_unit_test(test_weights_errors),
      cmocka_unit_test(test_weights_scale),
      cmocka_unit_test(test_order_independence),
      cmocka_unit_test(test_order_independence_group_by),
      cmocka_unit_test(test_order_negative_zero),
      cmocka_unit_test(test_errors_and_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
