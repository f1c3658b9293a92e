/*
** test_threads.c -- the gmm extension has no global mutable state: work
** done on several connections at once gives the same bytes as the same
** work done one connection at a time, and one connection shared by two
** threads (serialized mode) keeps its decoded-model cache sound.
**
** Requirements covered: DESIGN §1 (determinism: the same rows and options
** give a byte-identical model, whatever else runs), DESIGN §3 and apply (5)
** (the per-connection cache of decoded models, owned by the connection's
** function data), gmm_fit (5), vtab (2).
**
**   test_parallel_connections  JOBS jobs, each on its own connection
**       (SQLITE_OPEN_FULLMUTEX), each loading the extension, creating its
**       own rows (its own seed), fitting models (its own seed and
**       covariance type; a plain fit, a selection over k and covariance
**       types, a GROUP BY fit, a warm start) and applying them to every row
**       (gmm_predict, gmm_score, gmm_predict_proba from a bound parameter,
**       from a scalar subquery and from a join column; gmm_info,
**       gmm_components, gmm_sample). Every job runs once single-threaded
**       first; then THREADS threads run them all at once, each thread its
**       share, ROUNDS times over (a fresh connection each time, so the
**       extension is also loaded and unloaded while other threads use it).
**       Every BLOB must be byte-identical to the single-threaded one and
**       every other result identical (text, and numbers to the bit).
**   test_shared_connection  one serialized connection, two threads
**       stepping statements on it at once: gmm_predict / gmm_score /
**       gmm_predict_proba on the same model (bound parameter and scalar
**       subquery) and, to force evictions from the 4-slot cache while the
**       other thread's statements are half way, on six models from a join
**       column. SQLite holds the connection's mutex during each step, so
**       the cache needs no lock of its own; this shows it needs nothing
**       else either. Results must equal the single-threaded ones.
**
** Worker threads never call cmocka: they record the first problem they
** meet, and the main thread asserts after joining them.
**
** Under ThreadSanitizer, build both the extension and this file with
** -fsanitize=thread and run with GMM_EXTENSION pointing at that extension.
** libsqlite3 itself is not instrumented: its mutexes are seen through the
** pthread interceptors, its plain loads and stores not at all.
**
** Environment: GMM_EXTENSION (default ./gmm); TEST_THREADS_ROUNDS (default
** 3).
*/
#include <pthread.h>

#include "sql_harness.h"

enum { THREADS = 4, JOBS_PER_THREAD = 2, JOBS = THREADS * JOBS_PER_THREAD };

/* ------------------------------------------------------------------------
** Thread-safe helpers: no cmocka, errors as text.
*/

/* What a worker met first (plain malloc; NULL when all went well). */
typedef struct problem {
  char *text;
} problem;

static void note_problem(problem *p, const char *fmt, ...) {
  if (p->text) return;
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  size_t n = strlen(buf) + 1;
  p->text = malloc(n);
  if (!p->text) abort();
  memcpy(p->text, buf, n);
}

static sqlite3 *open_connection(problem *p) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(":memory:", &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    note_problem(p, "sqlite3_open_v2: %s", db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return NULL;
  }
  char *err = NULL;
  if (sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
      sqlite3_load_extension(db, extension_path(), "sqlite3_gmm_init", &err) != SQLITE_OK) {
    note_problem(p, "cannot load %s: %s", extension_path(), err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

static int exec_or_note(sqlite3 *db, problem *p, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    note_problem(p, "%s\n  in: %s", err ? err : sqlite3_errmsg(db), sql);
    sqlite3_free(err);
    return -1;
  }
  return 0;
}

/* FNV-1a, continued. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* What a query gave: the number of rows and a hash of every value (type,
** then the bytes: integers and doubles bit for bit, TEXT and BLOB as
** stored); and its first value's bytes, when that is a BLOB or TEXT. */
typedef struct digest {
  int ok;
  long rows;
  uint64_t hash;
  unsigned char *first; /* malloc'd */
  int n_first;
} digest;

static void digest_clear(digest *d) {
  free(d->first);
  memset(d, 0, sizeof *d);
}

static int digest_equal(const digest *a, const digest *b) {
  return a->ok && b->ok && a->rows == b->rows && a->hash == b->hash &&
         a->n_first == b->n_first &&
         (a->n_first == 0 || memcmp(a->first, b->first, (size_t)a->n_first) == 0);
}

/* Runs sql to the end, binding the BLOB (when not NULL) to ?1. */
static digest query(sqlite3 *db, problem *p, const void *blob, int n_blob, const char *sql) {
  digest d;
  memset(&d, 0, sizeof d);
  d.hash = UINT64_C(0xcbf29ce484222325);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK && blob && sqlite3_bind_parameter_count(stmt) > 0)
    rc = sqlite3_bind_blob(stmt, 1, blob, n_blob, SQLITE_STATIC);
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(stmt); c++) {
      int type = sqlite3_column_type(stmt, c);
      d.hash = hash_bytes(d.hash, &type, sizeof type);
      if (type == SQLITE_INTEGER) {
        sqlite3_int64 v = sqlite3_column_int64(stmt, c);
        d.hash = hash_bytes(d.hash, &v, sizeof v);
      } else if (type == SQLITE_FLOAT) {
        double v = sqlite3_column_double(stmt, c);
        d.hash = hash_bytes(d.hash, &v, sizeof v);
      } else if (type != SQLITE_NULL) {
        const void *bytes = sqlite3_column_blob(stmt, c);
        int n = sqlite3_column_bytes(stmt, c);
        d.hash = hash_bytes(d.hash, &n, sizeof n);
        if (n) d.hash = hash_bytes(d.hash, bytes, (size_t)n);
        if (d.rows == 0 && c == 0 && n > 0) {
          d.first = malloc((size_t)n);
          if (!d.first) abort();
          memcpy(d.first, bytes, (size_t)n);
          d.n_first = n;
        }
      }
    }
    d.rows++;
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) {
    d.ok = 1;
  } else {
    note_problem(p, "query failed (%d): %s\n  in: %s", rc, sqlite3_errmsg(db), sql);
    digest_clear(&d);
  }
  sqlite3_finalize(stmt);
  return d;
}

/* ------------------------------------------------------------------------
** The jobs of test_parallel_connections.
*/
static const char *const COV_TYPES[4] = {"full", "tied", "diag", "spherical"};

enum {
  R_MODEL,      /* gmm_fit with the job's k, covariance type and seed */
  R_SELECTION,  /* gmm_fit over a k list and two covariance types */
  R_GROUPS,     /* gmm_fit per group (GROUP BY) */
  R_WARM,       /* gmm_fit warm-started from R_MODEL */
  R_APPLY,      /* predict, score, proba from a bound parameter */
  R_SUBQUERY,   /* the same from a scalar subquery */
  R_JOIN,       /* predict with every model of the job from a join column */
  R_INFO,       /* gmm_info, gmm_bic, gmm_aic */
  R_TABLES,     /* gmm_components, gmm_sample */
  N_RESULTS
};
static const char *const RESULT_NAMES[N_RESULTS] = {
    "fit", "selection fit", "GROUP BY fits", "warm-start fit", "apply (bound)",
    "apply (subquery)", "predict (join)", "info", "components and sample"};

typedef struct job_result {
  digest r[N_RESULTS];
} job_result;

static void job_result_clear(job_result *jr) {
  for (int i = 0; i < N_RESULTS; i++) digest_clear(&jr->r[i]);
}

/* Job j's rows: pts(id, g, x, y, z), 1200 rows of three clusters in 3-D
** placed by the job's seed. */
static int make_job_rows(sqlite3 *db, problem *p, int j) {
  if (exec_or_note(db, p, "CREATE TABLE pts(id INTEGER PRIMARY KEY, g INT, x REAL, y REAL, z REAL);"
                          "BEGIN") != 0)
    return -1;
  sqlite3_stmt *ins = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO pts(g, x, y, z) VALUES (?1, ?2, ?3, ?4)", -1, &ins,
                         NULL) != SQLITE_OK) {
    note_problem(p, "prepare insert: %s", sqlite3_errmsg(db));
    return -1;
  }
  rng r = {UINT64_C(1000) + (uint64_t)j};
  double centre[3][3];
  for (int c = 0; c < 3; c++)
    for (int a = 0; a < 3; a++) centre[c][a] = 8.0 * (rng_uniform(&r) - 0.5);
  for (int i = 0; i < 1200; i++) {
    int c = (int)(rng_u64(&r) % 3);
    sqlite3_bind_int(ins, 1, i % 4);
    for (int a = 0; a < 3; a++)
      sqlite3_bind_double(ins, 2 + a, centre[c][a] + (0.5 + 0.25 * a) * rng_normal(&r));
    if (sqlite3_step(ins) != SQLITE_DONE) {
      note_problem(p, "insert: %s", sqlite3_errmsg(db));
      sqlite3_finalize(ins);
      return -1;
    }
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  return exec_or_note(db, p, "COMMIT");
}

/* Runs job j on a fresh connection. Returns 0, or -1 with p set. */
static int run_job(int j, job_result *out, problem *p) {
  memset(out, 0, sizeof *out);
  sqlite3 *db = open_connection(p);
  if (!db) return -1;
  int status = make_job_rows(db, p, j);
  const char *cov = COV_TYPES[j % 4];
  int k = 2 + j % 3;
  char sql[1024];
  if (status == 0) {
    snprintf(sql, sizeof sql,
             "SELECT gmm_fit('{\"k\":%d,\"covariance_type\":\"%s\",\"seed\":%d,\"n_init\":2,"
             "\"init\":\"%s\"}', x, y, z) FROM pts",
             k, cov, 17 * j + 1, j % 2 ? "k-means++" : "kmeans");
    out->r[R_MODEL] = query(db, p, NULL, 0, sql);
    snprintf(sql, sizeof sql,
             "SELECT gmm_fit('{\"k\":[1,2,3,4],\"covariance_type\":[\"%s\",\"%s\"],\"seed\":%d}', "
             "x, y, z) FROM pts",
             cov, COV_TYPES[(j + 1) % 4], j);
    out->r[R_SELECTION] = query(db, p, NULL, 0, sql);
    snprintf(sql, sizeof sql,
             "SELECT g, gmm_fit('{\"k\":2,\"covariance_type\":\"%s\",\"seed\":%d}', x, y, z) "
             "FROM pts GROUP BY g ORDER BY g",
             cov, j);
    out->r[R_GROUPS] = query(db, p, NULL, 0, sql);
  }
  const digest *m = &out->r[R_MODEL];
  if (!m->ok || !out->r[R_SELECTION].ok || !out->r[R_GROUPS].ok || !m->first) status = -1;
  if (status == 0) {
    out->r[R_WARM] = query(db, p, m->first, m->n_first, "SELECT gmm_fit(?1, x, y, z) FROM pts");
    out->r[R_APPLY] = query(db, p, m->first, m->n_first,
                            "SELECT gmm_predict(?1, x, y, z), gmm_score(?1, x, y, z), "
                            "gmm_predict_proba(?1, x, y, z) FROM pts ORDER BY id");
    /* Every model of the job in a table, for the subquery and the join. */
    status = exec_or_note(db, p, "CREATE TABLE models(id INTEGER PRIMARY KEY, model BLOB)");
    const digest *models[3] = {m, &out->r[R_SELECTION], &out->r[R_WARM]};
    for (int i = 0; i < 3 && status == 0; i++) {
      if (!models[i]->ok || !models[i]->first) {
        status = -1;
        break;
      }
      digest ins = query(db, p, models[i]->first, models[i]->n_first,
                         "INSERT INTO models(model) VALUES (?1)");
      status = ins.ok ? 0 : -1;
      digest_clear(&ins);
    }
    if (status == 0)
      status = exec_or_note(db, p,
                            "INSERT INTO models(model) SELECT gmm_fit(2, x, y, z) FROM pts "
                            "GROUP BY g ORDER BY g");
  }
  if (status == 0) {
    out->r[R_SUBQUERY] =
        query(db, p, NULL, 0,
              "SELECT gmm_predict((SELECT model FROM models WHERE id = 1), x, y, z), "
              "gmm_score((SELECT model FROM models WHERE id = 1), x, y, z), "
              "gmm_predict_proba((SELECT model FROM models WHERE id = 1), x, y, z) "
              "FROM pts ORDER BY id");
    /* Seven models: more than the cache's slots. */
    out->r[R_JOIN] = query(db, p, NULL, 0,
                           "SELECT p.id, m.id, gmm_predict(m.model, p.x, p.y, p.z), "
                           "gmm_score(m.model, p.x, p.y, p.z) FROM pts p, models m "
                           "WHERE p.id % 5 = 0 ORDER BY p.id, m.id");
    out->r[R_INFO] = query(db, p, NULL, 0,
                           "SELECT gmm_info(model), gmm_bic(model), gmm_aic(model) FROM models "
                           "ORDER BY id");
    out->r[R_TABLES] = query(db, p, NULL, 0,
                             "SELECT m.id, c.* FROM models m, gmm_components(m.model) c "
                             "UNION ALL SELECT m.id, s.sample, s.component, s.x, NULL, NULL "
                             "FROM models m, gmm_sample(m.model, 200, m.id) s "
                             "ORDER BY 1, 2");
    for (int i = R_WARM; i < N_RESULTS; i++)
      if (!out->r[i].ok) status = -1;
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    note_problem(p, "sqlite3_close: %s", sqlite3_errmsg(db));
    status = -1;
  }
  return status;
}

/* The single-threaded results, computed first. */
static job_result expected[JOBS];

typedef struct worker {
  pthread_t thread;
  int index;
  int rounds;
  long jobs_done;
  problem p;
} worker;

static void *parallel_worker(void *arg) {
  worker *w = arg;
  for (int round = 0; round < w->rounds && !w->p.text; round++) {
    for (int i = 0; i < JOBS_PER_THREAD && !w->p.text; i++) {
      /* Each round a thread takes other jobs, so that every job also runs
      ** beside different neighbours. */
      int j = (w->index * JOBS_PER_THREAD + i + round * JOBS_PER_THREAD) % JOBS;
      job_result got;
      if (run_job(j, &got, &w->p) == 0) {
        for (int r = 0; r < N_RESULTS; r++)
          if (!digest_equal(&got.r[r], &expected[j].r[r])) {
            note_problem(&w->p,
                         "thread %d, round %d, job %d: the %s differs from the single-threaded "
                         "one (%ld rows, hash %016llx; single-threaded %ld rows, hash %016llx)",
                         w->index, round, j, RESULT_NAMES[r], got.r[r].rows,
                         (unsigned long long)got.r[r].hash, expected[j].r[r].rows,
                         (unsigned long long)expected[j].r[r].hash);
            break;
          }
      } else {
        char *t = w->p.text;
        w->p.text = NULL;
        note_problem(&w->p, "thread %d, round %d, job %d: %s", w->index, round, j, t);
        free(t);
      }
      job_result_clear(&got);
      w->jobs_done++;
    }
  }
  return NULL;
}

static int rounds(void) {
  const char *s = getenv("TEST_THREADS_ROUNDS");
  return s && atoi(s) > 0 ? atoi(s) : 3;
}

static void test_parallel_connections(void **state) {
  (void)state;
  assert_true(sqlite3_threadsafe() != 0);
  /* Single-threaded first; twice, so that the reference is itself stable. */
  for (int j = 0; j < JOBS; j++) {
    problem p = {NULL};
    job_result again;
    if (run_job(j, &expected[j], &p) != 0 || run_job(j, &again, &p) != 0) {
      print_error("job %d: %s\n", j, p.text);
      free(p.text);
      fail();
    }
    for (int r = 0; r < N_RESULTS; r++) {
      if (!digest_equal(&expected[j].r[r], &again.r[r]))
        fail_msg("job %d: the %s differs between two single-threaded runs", j, RESULT_NAMES[r]);
      assert_true(expected[j].r[r].rows > 0);
    }
    /* Every fit gave a model. */
    for (int r = R_MODEL; r <= R_WARM; r++)
      assert_true(r == R_GROUPS || expected[j].r[r].n_first > 100);
    job_result_clear(&again);
  }

  worker w[THREADS];
  memset(w, 0, sizeof w);
  for (int t = 0; t < THREADS; t++) {
    w[t].index = t;
    w[t].rounds = rounds();
    assert_int_equal(pthread_create(&w[t].thread, NULL, parallel_worker, &w[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(w[t].thread, NULL), 0);
  int failed = 0;
  for (int t = 0; t < THREADS; t++) {
    if (w[t].p.text) {
      print_error("%s\n", w[t].p.text);
      failed = 1;
    } else {
      assert_int_equal(w[t].jobs_done, (long)rounds() * JOBS_PER_THREAD);
    }
    free(w[t].p.text);
  }
  for (int j = 0; j < JOBS; j++) job_result_clear(&expected[j]);
  if (failed) fail_msg("the threads' results differ from the single-threaded ones");
}

/* ------------------------------------------------------------------------
** One connection, two threads.
*/
enum { SHARED_QUERIES = 4, SHARED_LOOPS = 25 };

static const char *const SHARED_SQL[SHARED_QUERIES] = {
    /* the same model, bound (auxdata) */
    "SELECT gmm_predict(?1, x, y, z), gmm_score(?1, x, y, z) FROM pts ORDER BY id",
    /* the same model, from a scalar subquery (the connection's cache) */
    "SELECT gmm_predict((SELECT model FROM models WHERE id = 1), x, y, z), "
    "gmm_predict_proba((SELECT model FROM models WHERE id = 1), x, y, z) FROM pts ORDER BY id",
    /* six models from a join column: evictions */
    "SELECT p.id, m.id, gmm_predict(m.model, p.x, p.y, p.z) FROM pts p, models m "
    "WHERE p.id % 3 = 0 ORDER BY p.id, m.id",
    /* and the other order of the join, so the two threads evict each other's
    ** entries in other patterns */
    "SELECT m.id, p.id, gmm_score(m.model, p.x, p.y, p.z) FROM models m, pts p "
    "WHERE p.id % 3 = 1 ORDER BY m.id DESC, p.id",
};

typedef struct shared_worker {
  pthread_t thread;
  sqlite3 *db;
  int index;
  const unsigned char *model;
  int n_model;
  const digest *want; /* SHARED_QUERIES */
  long statements;
  problem p;
} shared_worker;

/* Steps every query of the list a row at a time, interleaving them, so that
** statements stay half way while the other thread steps its own. */
static void *shared_worker_main(void *arg) {
  shared_worker *w = arg;
  for (int loop = 0; loop < SHARED_LOOPS && !w->p.text; loop++) {
    int q = (loop + w->index) % SHARED_QUERIES;
    int q2 = (q + 1 + w->index) % SHARED_QUERIES;
    /* Two statements of this thread open at once, one row of each in turn. */
    sqlite3_stmt *s[2] = {NULL, NULL};
    uint64_t h[2];
    long rows[2] = {0, 0};
    int qs[2] = {q, q2}, done[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
      h[i] = UINT64_C(0xcbf29ce484222325);
      if (sqlite3_prepare_v2(w->db, SHARED_SQL[qs[i]], -1, &s[i], NULL) != SQLITE_OK)
        note_problem(&w->p, "prepare: %s", sqlite3_errmsg(w->db));
      else if (sqlite3_bind_parameter_count(s[i]) > 0)
        sqlite3_bind_blob(s[i], 1, w->model, w->n_model, SQLITE_STATIC);
    }
    while (!w->p.text && !(done[0] && done[1])) {
      for (int i = 0; i < 2; i++) {
        if (done[i]) continue;
        int rc = sqlite3_step(s[i]);
        if (rc == SQLITE_DONE) {
          done[i] = 1;
        } else if (rc != SQLITE_ROW) {
          note_problem(&w->p, "thread %d: step failed (%d): %s\n  in: %s", w->index, rc,
                       sqlite3_errmsg(w->db), SHARED_SQL[qs[i]]);
          break;
        } else {
          for (int c = 0; c < sqlite3_column_count(s[i]); c++) {
            int type = sqlite3_column_type(s[i], c);
            h[i] = hash_bytes(h[i], &type, sizeof type);
            if (type == SQLITE_INTEGER) {
              sqlite3_int64 v = sqlite3_column_int64(s[i], c);
              h[i] = hash_bytes(h[i], &v, sizeof v);
            } else if (type == SQLITE_FLOAT) {
              double v = sqlite3_column_double(s[i], c);
              h[i] = hash_bytes(h[i], &v, sizeof v);
            } else if (type != SQLITE_NULL) {
              int n = sqlite3_column_bytes(s[i], c);
              h[i] = hash_bytes(h[i], &n, sizeof n);
              if (n) h[i] = hash_bytes(h[i], sqlite3_column_blob(s[i], c), (size_t)n);
            }
          }
          rows[i]++;
        }
      }
    }
    for (int i = 0; i < 2; i++) {
      sqlite3_finalize(s[i]);
      if (!w->p.text && (rows[i] != w->want[qs[i]].rows || h[i] != w->want[qs[i]].hash))
        note_problem(&w->p,
                     "thread %d, loop %d: %ld rows, hash %016llx; single-threaded %ld rows, "
                     "hash %016llx\n  in: %s",
                     w->index, loop, rows[i], (unsigned long long)h[i], w->want[qs[i]].rows,
                     (unsigned long long)w->want[qs[i]].hash, SHARED_SQL[qs[i]]);
      w->statements++;
    }
  }
  return NULL;
}

static void test_shared_connection(void **state) {
  (void)state;
  problem p = {NULL};
  sqlite3 *db = open_connection(&p);
  if (!db) fail_msg("%s", p.text);
  /* SQLITE_OPEN_FULLMUTEX: the connection has a mutex (NULL when not). */
  assert_non_null(sqlite3_db_mutex(db));
  assert_int_equal(make_job_rows(db, &p, 99), 0);
  exec_sql(db, "CREATE TABLE models(id INTEGER PRIMARY KEY, model BLOB)");
  for (int i = 0; i < 6; i++)
    exec_sql(db,
             "INSERT INTO models(model) SELECT gmm_fit('{\"k\":%d,\"covariance_type\":\"%s\","
             "\"seed\":%d}', x, y, z) FROM pts",
             2 + i % 3, COV_TYPES[i % 4], i);
  int n_model = 0;
  unsigned char *model = sql_blob(db, &n_model, "SELECT model FROM models WHERE id = 1");

  /* Single-threaded: the answers, each twice (the second time from the
  ** cache). */
  digest want[SHARED_QUERIES];
  for (int q = 0; q < SHARED_QUERIES; q++) {
    want[q] = query(db, &p, model, n_model, SHARED_SQL[q]);
    digest again = query(db, &p, model, n_model, SHARED_SQL[q]);
    if (p.text) fail_msg("%s", p.text);
    assert_true(digest_equal(&want[q], &again));
    assert_true(want[q].rows > 100);
    digest_clear(&again);
  }

  shared_worker w[2];
  memset(w, 0, sizeof w);
  for (int t = 0; t < 2; t++) {
    w[t].db = db;
    w[t].index = t;
    w[t].model = model;
    w[t].n_model = n_model;
    w[t].want = want;
    assert_int_equal(pthread_create(&w[t].thread, NULL, shared_worker_main, &w[t]), 0);
  }
  for (int t = 0; t < 2; t++) assert_int_equal(pthread_join(w[t].thread, NULL), 0);
  int failed = 0;
  for (int t = 0; t < 2; t++) {
    if (w[t].p.text) {
      print_error("%s\n", w[t].p.text);
      failed = 1;
    } else {
      assert_int_equal(w[t].statements, 2 * SHARED_LOOPS);
    }
    free(w[t].p.text);
  }
  for (int q = 0; q < SHARED_QUERIES; q++) digest_clear(&want[q]);
  free(model);
  close_db(db);
  if (failed) fail_msg("the shared connection's results differ from the single-threaded ones");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parallel_connections),
      cmocka_unit_test(test_shared_connection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
