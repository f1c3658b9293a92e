/*
** test_oom.c -- every allocation of every gmm SQL function fails in turn.
**
** SQLite's allocator is replaced (SQLITE_CONFIG_MALLOC, before
** sqlite3_initialize) by a wrapper of the default methods that counts the
** allocations (xMalloc and xRealloc) made while it is armed, and refuses
** either the Nth only ("once") or every one from the Nth on ("persistent").
** The extension allocates only through sqlite3_malloc64 / sqlite3_free
** (DESIGN §2), so this reaches every allocation it makes, and SQLite's own
** allocations inside the statement as well.
**
** For each scenario below and for N = 1, 2, ... until a run completes with
** no allocation refused, in both modes:
**   1. a fresh connection is opened, the extension loaded and the data set
**      up with the allocator disarmed;
**   2. the allocator is armed around the statement under test only
**      (prepare, bind, every step, finalize);
**   3. the run must end with SQLITE_NOMEM (or SQLITE_ERROR whose message
**      says out of memory), or with exactly the rows of the uninjected run
**      (every column of every row, numbers to 17 digits, BLOBs in hex);
**      SQLITE_NOMEM with nothing refused is wrong too;
**   4. disarmed, the connection still answers a query, closes cleanly, and
**      sqlite3_memory_used() is back at its value from before the open.
** A failing check names the scenario, the mode, N, what came back and
** where allocation N was made in the uninjected run (SQLite, or gmm.so at
** a return address that `addr2line -f -i -e gmm.so 0x...` names).
**
** Requirements covered (as the sources number them): DESIGN §2 (check
** every allocation, free on every path), apply (5) (the decoded-model
** cache, fed by bound parameters, scalar subqueries and join columns),
** gmm_fit (5) (every group's buffer freed), spec (2)-(4), vtab (6).
**
** At the end a table gives, per scenario, the allocations of the statement
** (and how many of them were made with the extension on the stack), the
** OOM points injected in each mode, how the injected runs ended, and the
** time taken; and the totals.
**
** Lookaside is off (SQLITE_CONFIG_LOOKASIDE 0, 0; Debian's library is
** built without it anyway), so that SQLite's small allocations are counted
** and refused too.
**
** Environment: GMM_EXTENSION (the extension to load, default ./gmm);
** TEST_OOM_STRIDE=s: the long scenarios (marked LONG_SCENARIO) try only
** every s-th N; the others always try every N. The default is 1 (every N),
** or 10 under valgrind. TEST_OOM_ONLY=text runs only the scenarios whose
** name contains it; TEST_OOM_VERBOSE=1 prints every wrong run (not just
** the first five of a scenario) and every refusal SQLite or the extension
** absorbed with the right rows.
*/
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <execinfo.h>
#include <time.h>

#include "sql_harness.h"

/* ------------------------------------------------------------------------
** The failing allocator.
*/
static sqlite3_mem_methods default_mem;

typedef struct injector {
  int armed;
  long count;      /* allocations asked for while armed */
  long fail_at;    /* refuse allocation fail_at (1-based); 0: none */
  int persistent;  /* and every one after it */
  long n_refused;  /* allocations refused */
  int record;      /* note where each allocation comes from (uninjected runs) */
} injector;

static injector inj;

/* Where each allocation of the last recorded run came from: the offset in
** the extension's library of the innermost return address in it, or 0 when
** the extension is not on the stack (SQLite's own). */
static uintptr_t *origin;
static long n_origin, cap_origin;
static uintptr_t ext_base; /* the extension's load address (hold_extension) */

static void note_origin(long i) {
  if (i > cap_origin) {
    cap_origin = cap_origin ? 2 * cap_origin : 1024;
    while (cap_origin < i) cap_origin *= 2;
    origin = realloc(origin, (size_t)cap_origin * sizeof *origin);
    if (!origin) abort();
  }
  uintptr_t where = 0;
  void *frames[48];
  int n = backtrace(frames, 48);
  for (int f = 2; f < n && !where; f++) {
    Dl_info info;
    if (dladdr(frames[f], &info) && (uintptr_t)info.dli_fbase == ext_base)
      where = (uintptr_t)frames[f] - ext_base;
  }
  origin[i - 1] = where;
  n_origin = i;
}

static int refuse(void) {
  if (!inj.armed) return 0;
  long i = ++inj.count;
  if (inj.fail_at > 0 && (i == inj.fail_at || (inj.persistent && i > inj.fail_at))) {
    inj.n_refused++;
    return 1;
  }
  if (inj.record) note_origin(i);
  return 0;
}

static void *inj_malloc(int n) {
  return refuse() ? NULL : default_mem.xMalloc(n);
}

static void *inj_realloc(void *p, int n) {
  return refuse() ? NULL : default_mem.xRealloc(p, n);
}

static void arm(long fail_at, int persistent, int record) {
  inj.count = 0;
  inj.n_refused = 0;
  inj.fail_at = fail_at;
  inj.persistent = persistent;
  inj.record = record;
  if (record) n_origin = 0;
  inj.armed = 1;
}

static void disarm(void) {
  inj.armed = 0;
}

/* Installs the failing allocator: before sqlite3_initialize. */
static void install_allocator(void) {
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &default_mem) != SQLITE_OK) abort();
  sqlite3_mem_methods failing = default_mem;
  failing.xMalloc = inj_malloc;
  failing.xRealloc = inj_realloc;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &failing) != SQLITE_OK) abort();
  /* No lookaside (Debian's library omits it anyway): every allocation of
  ** SQLite's, not just the large ones, goes through the wrapper. */
  if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK) abort();
  if (sqlite3_initialize() != SQLITE_OK) abort();
  /* backtrace loads its unwinder on first use: do it now. */
  void *frames[4];
  (void)backtrace(frames, 4);
}

/* The test holds the extension's library open from start to end, as an
** application with several connections would: SQLite's dlopen and dlclose
** of each connection then only count references, the load address stays
** put, and valgrind does not read the library's debug information again
** for every connection. SQLite dlopens the path given, or failing that the
** path with the platform's suffix; so does this. */
static void *ext_handle;

static void hold_extension(void) {
  static const char *const suffixes[] = {"", ".so", ".dylib"};
  for (int i = 0; i < 3 && !ext_handle; i++) {
    char *path = format("%s%s", extension_path(), suffixes[i]);
    ext_handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    free(path);
  }
  void *sym = ext_handle ? dlsym(ext_handle, "sqlite3_gmm_init") : NULL;
  Dl_info info;
  if (!sym || !dladdr(sym, &info)) {
    fprintf(stderr, "cannot load %s: %s\n", extension_path(), dlerror());
    exit(1);
  }
  ext_base = (uintptr_t)info.dli_fbase;
}

/* ------------------------------------------------------------------------
** Data and models.
*/
enum { N_ROWS = 200, N_MODELS = 6 };

/* pts(id, g, w, x, y): three clusters in 2-D, g = id % 5 (five groups of
** 40 rows), w a positive row weight. */
static void make_points(sqlite3 *db) {
  exec_sql(db, "CREATE TABLE pts(id INTEGER PRIMARY KEY, g INTEGER, w REAL, x REAL, y REAL)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO pts(id, g, w, x, y) VALUES (?1, ?2, ?3, ?4, ?5)");
  rng r = {2024};
  static const double cx[3] = {-4.0, 0.5, 5.0}, cy[3] = {0.0, 4.0, -1.0};
  for (int i = 1; i <= N_ROWS; i++) {
    int c = i % 3;
    double a = rng_normal(&r), b = rng_normal(&r);
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_int(ins, 2, i % 5);
    sqlite3_bind_double(ins, 3, 0.5 + rng_uniform(&r));
    sqlite3_bind_double(ins, 4, cx[c] + 0.8 * a);
    sqlite3_bind_double(ins, 5, cy[c] + 0.6 * b + 0.3 * a);
    insert_row(ins);
  }
  end_insert(db, ins);
}

/* Models fitted once, before any injection: MODEL (k = 3, full) is the one
** the apply scenarios use; WARM (k = 3, full, 2 iterations) starts the
** warm-start fit; models(id, model) holds N_MODELS of different types for
** the join scenario, MODEL first. */
typedef struct blob {
  unsigned char *bytes;
  int n;
} blob;

static blob MODEL, WARM, MODELS[N_MODELS];

static const char *const MODEL_SPECS[N_MODELS] = {
    "3",
    "'{\"k\":2,\"covariance_type\":\"tied\"}'",
    "'{\"k\":3,\"covariance_type\":\"diag\",\"seed\":1}'",
    "'{\"k\":4,\"covariance_type\":\"spherical\"}'",
    "'{\"k\":1}'",
    "'{\"k\":5,\"seed\":9}'",
};

static int fit_models(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db);
  for (int i = 0; i < N_MODELS; i++)
    MODELS[i].bytes =
        sql_blob(db, &MODELS[i].n, "SELECT gmm_fit(%s, x, y) FROM pts", MODEL_SPECS[i]);
  MODEL = MODELS[0];
  WARM.bytes = sql_blob(db, &WARM.n, "SELECT gmm_fit('{\"k\":3,\"max_iter\":2}', x, y) FROM pts");
  close_db(db);
  return 0;
}

/* The connection of one run: pts and models. */
static sqlite3 *open_scenario_db(void) {
  sqlite3 *db = open_db();
  make_points(db);
  exec_sql(db, "CREATE TABLE models(id INTEGER PRIMARY KEY, model BLOB)");
  for (int i = 0; i < N_MODELS; i++) {
    sqlite3_stmt *ins = prepare(db, MODELS[i].bytes, MODELS[i].n,
                                "INSERT INTO models(id, model) VALUES (%d, ?1)", i + 1);
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_finalize(ins);
  }
  return db;
}

/* ------------------------------------------------------------------------
** Scenarios.
*/
enum { BIND_NONE, BIND_MODEL, BIND_WARM };

typedef struct scenario {
  const char *name;
  int bind; /* what ?1 is */
  const char *sql;
  int long_run; /* may try only every stride-th N (see TEST_OOM_STRIDE) */
  /* Filled by the run: */
  long allocations, from_extension;
  long points[2]; /* OOM points injected: once, persistent */
  long ended[3];  /* injected runs that ended: SQLITE_NOMEM, SQLITE_ERROR
                     "out of memory", with the right rows anyway */
  double seconds;
} scenario;

#define JSON_ALL_OPTIONS                                                                     \
  "'{\"k\":3,\"covariance_type\":\"full\",\"max_iter\":50,\"tol\":1e-4,\"reg_covar\":1e-5,"  \
  "\"n_init\":2,\"init\":\"k-means++\",\"seed\":7,\"weighted\":true,"                        \
  "\"weights_init\":[0.3,0.3,0.4],\"means_init\":[[-4,0],[0.5,4],[5,-1]],"                   \
  "\"precisions_init\":[[[1.5,-0.5],[-0.5,2]],[[1.5,0],[0,2.5]],[[1.2,-0.6],[-0.6,2.5]]]}'"

#define SCENARIO(n, b, s)      {.name = n, .bind = b, .sql = s}
#define LONG_SCENARIO(n, b, s) {.name = n, .bind = b, .sql = s, .long_run = 1}
#define FROM_SUBQUERY     "(SELECT model FROM models WHERE id = 1)"
static scenario SCENARIOS[] = {
    /* gmm_fit */
    SCENARIO("fit k=3 full", BIND_NONE, "SELECT gmm_fit(3, x, y) FROM pts"),
    SCENARIO("fit JSON every option", BIND_NONE,
             "SELECT gmm_fit(" JSON_ALL_OPTIONS ", w, x, y) FROM pts"),
    SCENARIO("fit selection k list", BIND_NONE,
             "SELECT gmm_fit('{\"k\":[1,2,3,4],\"covariance_type\":[\"full\",\"diag\"]}', x, y) "
             "FROM pts"),
    SCENARIO("fit VVE init labels", BIND_NONE,
             "SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"VVE\",\"init\":\"labels\"}', "
             "id % 2, x, y) FROM pts"),
    SCENARIO("fit all models ICL (hc)", BIND_NONE,
             "SELECT gmm_fit('{\"k\":[1,2],\"covariance_type\":\"all\",\"criterion\":"
             "\"icl\"}', x, y) FROM pts"),
    SCENARIO("icl", BIND_MODEL, "SELECT gmm_icl(?1)"),
    SCENARIO("fit weighted", BIND_NONE,
             "SELECT gmm_fit('{\"k\":3,\"weighted\":true}', w, x, y) FROM pts"),
    SCENARIO("fit warm start (bound BLOB)", BIND_WARM, "SELECT gmm_fit(?1, x, y) FROM pts"),
    SCENARIO("fit GROUP BY (5 groups)", BIND_NONE,
             "SELECT g, gmm_fit(2, x, y) FROM pts GROUP BY g ORDER BY g"),
    /* apply: the model from a bound parameter (auxdata) and from a scalar
    ** subquery (the connection's cache) */
    SCENARIO("predict (bound)", BIND_MODEL, "SELECT gmm_predict(?1, x, y) FROM pts ORDER BY id"),
    SCENARIO("predict (subquery)", BIND_NONE,
             "SELECT gmm_predict(" FROM_SUBQUERY ", x, y) FROM pts ORDER BY id"),
    LONG_SCENARIO("predict_proba (bound)", BIND_MODEL,
             "SELECT gmm_predict_proba(?1, x, y) FROM pts ORDER BY id"),
    LONG_SCENARIO("predict_proba (subquery)", BIND_NONE,
             "SELECT gmm_predict_proba(" FROM_SUBQUERY ", x, y) FROM pts ORDER BY id"),
    SCENARIO("score (bound)", BIND_MODEL, "SELECT gmm_score(?1, x, y) FROM pts ORDER BY id"),
    SCENARIO("score (subquery)", BIND_NONE,
             "SELECT gmm_score(" FROM_SUBQUERY ", x, y) FROM pts ORDER BY id"),
    /* six models through the four-slot cache: evictions on every call */
    LONG_SCENARIO("predict (join, 6 models)", BIND_NONE,
             "SELECT p.id, m.id, gmm_predict(m.model, p.x, p.y) FROM pts p, models m "
             "WHERE p.id <= 20 ORDER BY p.id, m.id"),
    /* inspection */
    SCENARIO("info (bound)", BIND_MODEL, "SELECT gmm_info(?1)"),
    SCENARIO("info (subquery)", BIND_NONE, "SELECT gmm_info(" FROM_SUBQUERY ")"),
    SCENARIO("info (selection model)", BIND_NONE,
             "SELECT gmm_info(gmm_fit('{\"k\":[1,2],\"covariance_type\":[\"diag\",\"tied\"]}', "
             "x, y)) FROM pts"),
    SCENARIO("bic, aic (bound)", BIND_MODEL, "SELECT gmm_bic(?1), gmm_aic(?1)"),
    SCENARIO("bic (subquery)", BIND_NONE, "SELECT gmm_bic(" FROM_SUBQUERY ")"),
    /* table-valued */
    SCENARIO("components (bound)", BIND_MODEL, "SELECT * FROM gmm_components(?1)"),
    LONG_SCENARIO("components (join)", BIND_NONE,
             "SELECT m.id, c.* FROM models m, gmm_components(m.model) c "
             "ORDER BY m.id, c.component"),
    LONG_SCENARIO("sample (bound)", BIND_MODEL, "SELECT * FROM gmm_sample(?1, 50, 3)"),
    /* passes: pass (1)-(5), istate (2)-(4), stats (3), (5), (6); small
    ** samples, so that each run stays short */
    SCENARIO("init + start", BIND_NONE,
             "SELECT gmm_start(gmm_init('{\"k\":3,\"covariance_type\":\"diag\","
             "\"sample_size\":100}', x, y)) FROM pts"),
    SCENARIO("init weighted GROUP BY", BIND_NONE,
             "SELECT g, gmm_init('{\"k\":2,\"weighted\":true,\"sample_size\":20}', w, x, y) "
             "FROM pts GROUP BY g ORDER BY g"),
    SCENARIO("estep (bound)", BIND_MODEL, "SELECT gmm_estep(?1, x, y) FROM pts"),
    SCENARIO("estep GROUP BY (subquery)", BIND_NONE,
             "SELECT g, gmm_estep(" FROM_SUBQUERY ", x, y) FROM pts GROUP BY g ORDER BY g"),
    SCENARIO("estep weighted", BIND_NONE,
             "SELECT gmm_estep((SELECT gmm_start(gmm_init('{\"k\":2,\"weighted\":true,"
             "\"sample_size\":50}', w, x, y)) FROM pts), w, x, y) FROM pts"),
    SCENARIO("merge statistics", BIND_MODEL,
             "SELECT gmm_merge(s) FROM (SELECT gmm_estep(?1, x, y) AS s FROM pts GROUP BY g)"),
    SCENARIO("merge states", BIND_NONE,
             "SELECT gmm_merge(s) FROM (SELECT gmm_init('{\"k\":3,\"sample_size\":30}', x, y) "
             "AS s FROM pts GROUP BY g)"),
    SCENARIO("mstep", BIND_MODEL, "SELECT gmm_mstep(?1, gmm_estep(?1, x, y)) FROM pts"),
    SCENARIO("stats_info (statistics)", BIND_MODEL,
             "SELECT gmm_stats_info(gmm_estep(?1, x, y)) FROM pts"),
    SCENARIO("stats_info (state)", BIND_NONE,
             "SELECT gmm_stats_info(gmm_init('{\"k\":3,\"sample_size\":50}', x, y)) FROM pts"),
    SCENARIO("converged (bound)", BIND_MODEL, "SELECT gmm_converged(?1)"),
    SCENARIO("fit marginalize NULLs", BIND_NONE,
             "SELECT gmm_fit(3, CASE WHEN id % 7 = 0 THEN NULL ELSE x END, CASE WHEN id % 5 = 0 "
             "THEN NULL ELSE y END) FROM pts"),
    SCENARIO("fit vector nulls", BIND_NONE,
             "SELECT gmm_fit('{\"k\":2,\"covariance_type\":\"diag\"}', CASE WHEN id % 4 = 0 "
             "THEN '[null,' || y || ']' ELSE json_array(x, y) END) FROM pts"),
    SCENARIO("predict_proba NULLs (bound)", BIND_MODEL,
             "SELECT gmm_predict_proba(?1, CASE WHEN id % 3 = 0 THEN NULL ELSE x END, y) FROM pts "
             "WHERE id <= 40 ORDER BY id"),
    SCENARIO("impute (bound)", BIND_MODEL,
             "SELECT gmm_impute(?1, CASE WHEN id % 3 = 0 THEN NULL ELSE x END, CASE WHEN id % 3 "
             "= 1 THEN NULL ELSE y END) FROM pts WHERE id <= 60 ORDER BY id"),
    SCENARIO("impute (subquery, vector)", BIND_NONE,
             "SELECT gmm_impute(" FROM_SUBQUERY ", '[null,' || y || ']') FROM pts WHERE id <= 30 "
             "ORDER BY id"),
    SCENARIO("impute_draws (bound)", BIND_MODEL,
             "SELECT * FROM gmm_impute_draws(?1, '[null,1.5]', 20, 3)"),
    SCENARIO("impute_draws (join)", BIND_NONE,
             "SELECT p.id, d.* FROM pts p, gmm_impute_draws(" FROM_SUBQUERY ", json_array(p.x, "
             "NULL), 2) d WHERE p.id <= 10 ORDER BY p.id, d.draw"),
    SCENARIO("estep NULLs (bound)", BIND_MODEL,
             "SELECT gmm_stats_info(gmm_estep(?1, CASE WHEN id % 5 = 0 THEN NULL ELSE x END, y)) "
             "FROM pts"),
    SCENARIO("init NULLs + start", BIND_NONE,
             "SELECT gmm_start(gmm_init('{\"k\":3,\"sample_size\":100}', CASE WHEN id % 5 = 0 "
             "THEN NULL ELSE x END, y)) FROM pts"),
    /* priors (issue 13): a variational fit, a pruned one with the prior's
    ** arrays given, a conjugate (MAP) fit, and what reads their models */
    SCENARIO("fit dirichlet_process", BIND_NONE,
             "SELECT gmm_fit('{\"k\":4,\"prior\":\"dirichlet_process\",\"max_iter\":20}', x, "
             "y) FROM pts"),
    SCENARIO("fit dirichlet_distribution pruned", BIND_NONE,
             "SELECT gmm_fit('{\"k\":6,\"prior\":\"dirichlet_distribution\",\"prune\":true,"
             "\"mean_prior\":[0,0],\"covariance_prior\":[[4,0],[0,4]],\"max_iter\":20}', x, y) "
             "FROM pts"),
    SCENARIO("fit conjugate diag", BIND_NONE,
             "SELECT gmm_fit('{\"k\":3,\"prior\":\"conjugate\",\"covariance_type\":\"diag\","
             "\"covariance_prior\":[2,2]}', x, y) FROM pts"),
    SCENARIO("info + components (variational)", BIND_NONE,
             "SELECT gmm_info(m), c.* FROM (SELECT gmm_fit('{\"k\":3,\"prior\":"
             "\"dirichlet_process\",\"max_iter\":5}', x, y) AS m FROM pts), "
             "gmm_components(m) c"),
};
enum { N_SCENARIOS = sizeof SCENARIOS / sizeof SCENARIOS[0] };

/* ------------------------------------------------------------------------
** One run of a statement.
*/
typedef struct outcome {
  int rc;       /* SQLITE_OK or the error */
  char *rows;   /* every row, when rc is SQLITE_OK (malloc'd) */
  char *error;  /* sqlite3_errmsg otherwise (malloc'd) */
} outcome;

typedef struct buffer {
  char *p;
  size_t len, cap;
} buffer;

static void put(buffer *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vformat(fmt, ap);
  va_end(ap);
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
  free(s);
}

/* Appends one column without asking SQLite to convert (and so allocate):
** numbers as numbers, TEXT and BLOB through sqlite3_column_blob. */
static void put_column(buffer *b, sqlite3_stmt *stmt, int c) {
  switch (sqlite3_column_type(stmt, c)) {
    case SQLITE_INTEGER: put(b, "%lld", (long long)sqlite3_column_int64(stmt, c)); break;
    case SQLITE_FLOAT: put(b, "%.17g", sqlite3_column_double(stmt, c)); break;
    case SQLITE_NULL: put(b, "NULL"); break;
    case SQLITE_TEXT: {
      const char *t = sqlite3_column_blob(stmt, c);
      put(b, "'%.*s'", sqlite3_column_bytes(stmt, c), t ? t : "");
      break;
    }
    default: {
      const unsigned char *p = sqlite3_column_blob(stmt, c);
      int n = sqlite3_column_bytes(stmt, c);
      put(b, "x'");
      for (int i = 0; i < n && p; i++) put(b, "%02x", p[i]);
      put(b, "'");
    }
  }
}

static void outcome_clear(outcome *o) {
  free(o->rows);
  free(o->error);
  memset(o, 0, sizeof *o);
}

/* Prepares, binds, steps to the end and finalizes sc's statement. */
static void run_statement(sqlite3 *db, const scenario *sc, outcome *o) {
  memset(o, 0, sizeof *o);
  buffer b = {NULL, 0, 0};
  put(&b, "");
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sc->sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK && sc->bind != BIND_NONE) {
    const blob *m = sc->bind == BIND_MODEL ? &MODEL : &WARM;
    rc = sqlite3_bind_blob(stmt, 1, m->bytes, m->n, SQLITE_STATIC);
  }
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); c++) {
      if (c) put(&b, "|");
      put_column(&b, stmt, c);
    }
    put(&b, "\n");
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK) o->error = dup_text(sqlite3_errmsg(db), -1);
  int rc_final = sqlite3_finalize(stmt);
  if (rc == SQLITE_OK && rc_final != SQLITE_OK) {
    rc = rc_final;
    o->error = dup_text(sqlite3_errmsg(db), -1);
  }
  o->rc = rc;
  if (rc == SQLITE_OK)
    o->rows = b.p;
  else
    free(b.p);
}

/* ------------------------------------------------------------------------
** The scenarios' runs.
*/
static long stride = 1;
static int verbose;

/* Where allocation i of the uninjected run was made. */
static void describe_origin(long i, char *out, size_t len) {
  if (i < 1 || i > n_origin)
    snprintf(out, len, "beyond the uninjected run's %ld allocations", n_origin);
  else if (origin[i - 1] == 0)
    snprintf(out, len, "made by SQLite");
  else
    snprintf(out, len, "made by the extension at gmm.so+0x%lx", (unsigned long)origin[i - 1]);
}

/* One run with allocation n failing (and, when persistent, every later
** one). Returns 1 when an allocation was refused, and counts a wrong
** outcome in *bad. */
static int injected_run(scenario *sc, const outcome *want, long n, int persistent, int *bad) {
  static const char *const mode_names[2] = {"once", "persistent"};
  sqlite3_int64 before_open = sqlite3_memory_used();
  sqlite3 *db = open_scenario_db();
  outcome got;
  arm(n, persistent, 0);
  run_statement(db, sc, &got);
  disarm();
  long refused = inj.n_refused;
  const char *problem = NULL;
  if (got.rc == SQLITE_OK) {
    if (strcmp(got.rows, want->rows) != 0)
      problem = "succeeded with other rows";
    else if (refused) {
      sc->ended[2]++;
      if (verbose) {
        char where[96];
        describe_origin(n, where, sizeof where);
        printf("note %s: allocation %ld refused (%s; %s), right rows anyway\n", sc->name, n,
               mode_names[persistent], where);
      }
    }
  } else if (refused == 0) {
    problem = "failed with no allocation refused";
  } else if ((got.rc & 0xff) == SQLITE_NOMEM) {
    sc->ended[0]++;
  } else if ((got.rc & 0xff) == SQLITE_ERROR && got.error && strstr(got.error, "out of memory")) {
    sc->ended[1]++;
  } else {
    problem = "failed with an error other than out of memory";
  }
  if (problem) {
    if (*bad < 5 || verbose) {
      char where[96];
      describe_origin(n, where, sizeof where);
      print_error("BUG %s: allocation %ld failing (%s; %s): %s: rc %d \"%s\"\n  in: %s\n",
                  sc->name, n, mode_names[persistent], where, problem, got.rc,
                  got.error ? got.error : "", sc->sql);
      if (got.rc == SQLITE_OK) print_error("  got:  %.300s\n  want: %.300s\n", got.rows, want->rows);
    }
    (*bad)++;
  }
  outcome_clear(&got);
  check_alive(__FILE__, __LINE__, db);
  close_db(db);
  sqlite3_int64 after = sqlite3_memory_used();
  if (after != before_open) {
    if (*bad < 5 || verbose)
      print_error("BUG %s: allocation %ld failing (%s): %lld bytes still in use after close\n",
                  sc->name, n, mode_names[persistent], (long long)(after - before_open));
    (*bad)++;
  }
  return refused > 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_scenario(void **state) {
  scenario *sc = *state;
  double start = now();
  /* The uninjected run: the right answer, and where each allocation comes
  ** from. */
  sqlite3_int64 before_open = sqlite3_memory_used();
  sqlite3 *db = open_scenario_db();
  outcome want;
  arm(0, 0, 1);
  run_statement(db, sc, &want);
  disarm();
  if (want.rc != SQLITE_OK) fail_msg("%s: uninjected run failed: %s", sc->name, want.error);
  /* SQLite's accounting is on, or the comparisons below prove nothing. */
  assert_true(sqlite3_memory_used() > before_open);
  sc->allocations = inj.count;
  sc->from_extension = 0;
  for (long i = 0; i < n_origin; i++) sc->from_extension += origin[i] != 0;
  close_db(db);
  assert_int_equal(sqlite3_memory_used(), before_open);
  assert_true(sc->allocations > 0);

  int bad = 0;
  for (int persistent = 0; persistent < 2; persistent++) {
    long points = 0;
    long step = sc->long_run ? stride : 1;
    for (long n = 1;; n += step) {
      if (!injected_run(sc, &want, n, persistent, &bad)) break;
      points++;
    }
    sc->points[persistent] = points;
  }
  outcome_clear(&want);
  sc->seconds = now() - start;
  if (bad) fail_msg("%s: %d wrong runs (the first are printed above)", sc->name, bad);
}

/* The table of injection points, printed after the runs. */
static int print_totals(void **state) {
  (void)state;
  for (int i = 0; i < N_MODELS; i++) free(MODELS[i].bytes);
  free(WARM.bytes);
  long total[2] = {0, 0}, allocations = 0, from_ext = 0, ended[3] = {0, 0, 0};
  double seconds = 0;
  printf("\nallocs: allocations of the statement in the uninjected run; by gmm: those made\n"
         "with the extension on the stack; OOM once / pers.: runs with allocation N refused\n"
         "(once, or from N on); then how the injected runs of both modes ended: NOMEM,\n"
         "SQLITE_ERROR \"out of memory\", or the right rows anyway (a failure SQLite absorbed).\n");
  printf("%-28s %7s %7s %9s %9s %7s %7s %7s %7s\n", "scenario", "allocs", "by gmm", "OOM once",
         "OOM pers", "NOMEM", "ERR oom", "rows ok", "seconds");
  for (int i = 0; i < N_SCENARIOS; i++) {
    scenario *sc = &SCENARIOS[i];
    if (sc->allocations == 0) continue;
    printf("%-28s %7ld %7ld %9ld %9ld %7ld %7ld %7ld %7.2f\n", sc->name, sc->allocations,
           sc->from_extension, sc->points[0], sc->points[1], sc->ended[0], sc->ended[1],
           sc->ended[2], sc->seconds);
    for (int e = 0; e < 3; e++) ended[e] += sc->ended[e];
    total[0] += sc->points[0];
    total[1] += sc->points[1];
    allocations += sc->allocations;
    from_ext += sc->from_extension;
    seconds += sc->seconds;
  }
  printf("%-28s %7ld %7ld %9ld %9ld %7ld %7ld %7ld %7.2f\n", "total", allocations, from_ext,
         total[0], total[1], ended[0], ended[1], ended[2], seconds);
  if (stride == 1)
    printf("total OOM points injected: %ld (every N)\n", total[0] + total[1]);
  else
    printf("total OOM points injected: %ld (every N; the long scenarios every %ld-th N)\n",
           total[0] + total[1], stride);
  fflush(stdout);
  return 0;
}

int main(void) {
  install_allocator();
  hold_extension();
  /* Under valgrind (its preload library is in LD_PRELOAD) the long
  ** scenarios take every 10th N unless told otherwise. */
  const char *preload = getenv("LD_PRELOAD");
  if (preload && strstr(preload, "vgpreload")) stride = 10;
  const char *s = getenv("TEST_OOM_STRIDE");
  if (s && atol(s) > 0) stride = atol(s);
  verbose = getenv("TEST_OOM_VERBOSE") != NULL;
  const char *only = getenv("TEST_OOM_ONLY");

  struct CMUnitTest tests[N_SCENARIOS];
  size_t n_tests = 0;
  for (int i = 0; i < N_SCENARIOS; i++) {
    if (only && !strstr(SCENARIOS[i].name, only)) continue;
    tests[n_tests] = (struct CMUnitTest){SCENARIOS[i].name, run_scenario, NULL, NULL,
                                         &SCENARIOS[i]};
    n_tests++;
  }
  /* Group setup: the models every scenario uses, fitted with nothing
  ** injected (kept in plain malloc, outside SQLite's accounting). */
  int failed = _cmocka_run_group_tests("test_oom", tests, n_tests, fit_models, print_totals);
  free(origin);
  dlclose(ext_handle);
  return failed;
}
