/*
** test_interrupt.c -- sqlite3_interrupt() during a fit, through SQL: gmm_fit
** (8) and the passes.
**
** A long fit stops after the EM iteration that was running when the
** connection was interrupted, from another thread or from a progress
** handler, and the statement fails with SQLITE_INTERRUPT; nothing leaks and
** the connection fits again, to the same bytes as a fresh one. make test
** runs this suite on both SQLite versions (make test-newest), so both ways
** gmm asks are tested: sqlite3_is_interrupted on 3.53, the probe statement
** on Debian 12's 3.40 (gmm_is_interrupted). With gmm_is_interrupted made to
** answer 0, test_interrupt_from_thread fails on both (the watchdog).
**
** Which iteration a fit reached is read from its own trace ("verbose": 2,
** one line per EM iteration on stderr), sent to a temporary file while the
** statement runs. A watchdog ends the process with a failure when a fit has
** not stopped 30 s after the interrupt, so that a fit that ignores the
** interrupt (a fit of a million iterations) fails the test rather than
** hanging it.
*/
#define _POSIX_C_SOURCE 200809L

#include "sql_harness.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Whether the library running the tests has sqlite3_is_interrupted;
** before, gmm steps its probe statement. */
static int library_has_is_interrupted(void) { return sqlite3_libversion_number() >= 3041000; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------
** The trace: stderr goes to a temporary file while a statement runs.
*/
typedef struct trace {
  FILE *file;
  int saved_stderr;
} trace;

static void trace_begin(trace *t) {
  fflush(stderr);
  t->file = tmpfile();
  assert_non_null(t->file);
  t->saved_stderr = dup(2);
  assert_true(t->saved_stderr >= 0);
  assert_true(dup2(fileno(t->file), 2) >= 0);
}

static void trace_end(trace *t) {
  fflush(stderr);
  assert_true(dup2(t->saved_stderr, 2) >= 0);
  close(t->saved_stderr);
}

/* The trace's text so far (malloc'd). Safe while the fit is writing: it
** reads the file's bytes as they are, without the FILE's buffer. */
static char *trace_text(trace *t) {
  int fd = fileno(t->file);
  struct stat sb;
  assert_int_equal(fstat(fd, &sb), 0);
  char *text = malloc((size_t)sb.st_size + 1);
  assert_non_null(text);
  ssize_t got = pread(fd, text, (size_t)sb.st_size, 0);
  text[got > 0 ? got : 0] = '\0';
  return text;
}

/* The number of EM iterations the trace shows so far: its lines
** "gmm_fit:   iteration N: ...". */
static int trace_iterations(trace *t) {
  static const char token[] = "gmm_fit:   iteration ";
  char *text = trace_text(t);
  int lines = 0;
  for (const char *p = text; (p = strstr(p, token)) != NULL; p += sizeof token - 1) lines++;
  free(text);
  return lines;
}

/* ------------------------------------------------------------------------
** Data: three well separated clusters, so that k = 8 over them never
** converges and tol 0 never stops the fit.
*/
static void make_points(sqlite3 *db, int n) {
  exec_sql(db, "CREATE TABLE pts(x REAL, y REAL)");
  sqlite3_stmt *ins = begin_insert(db, "INSERT INTO pts VALUES (?1, ?2)");
  rng r = {20261204};
  static const double centres[3][2] = {{0, 0}, {6, 1}, {2, 7}};
  for (int i = 0; i < n; i++) {
    const double *c = centres[i % 3];
    sqlite3_bind_double(ins, 1, c[0] + rng_normal(&r));
    sqlite3_bind_double(ins, 2, c[1] + 0.5 * rng_normal(&r));
    insert_row(ins);
  }
  end_insert(db, ins);
}

#define ROWS 60000
/* A fit that would run a million EM iterations (minutes). */
#define ENDLESS_FIT                                                                          \
  "SELECT gmm_fit('{\"k\": 8, \"max_iter\": 1000000, \"tol\": 0, \"threads\": 1, "          \
  "\"verbose\": 2}', x, y) FROM pts"

/* ------------------------------------------------------------------------
** The watchdog: the process fails when a fit goes on 30 s after the
** interrupt.
*/
typedef struct watchdog {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done;
  const char *what;
} watchdog;

static void *watchdog_main(void *arg) {
  watchdog *w = arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  pthread_mutex_lock(&w->lock);
  int rc = 0;
  while (!w->done && rc == 0) rc = pthread_cond_timedwait(&w->done_cond, &w->lock, &until);
  int done = w->done;
  pthread_mutex_unlock(&w->lock);
  if (!done) {
    /* stderr is the trace file now: the message goes to stdout. */
    printf("FAILED: %s did not stop within 30 s of sqlite3_interrupt\n", w->what);
    fflush(stdout);
    _exit(1);
  }
  return NULL;
}

static void watchdog_start(watchdog *w, const char *what) {
  w->done = 0;
  w->what = what;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->done_cond, NULL);
  assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

static void watchdog_stop(watchdog *w) {
  pthread_mutex_lock(&w->lock);
  w->done = 1;
  pthread_cond_signal(&w->done_cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->done_cond);
  pthread_mutex_destroy(&w->lock);
}

/* ------------------------------------------------------------------------
** The interrupting thread: waits until the fit's trace shows `after`
** iterations, interrupts the connection, and notes how many iterations the
** trace showed just after sqlite3_interrupt returned.
*/
typedef struct interrupter {
  sqlite3 *db;
  trace *trace;
  int after;
  int seen_after_interrupt; /* iterations in the trace once interrupted */
  watchdog dog;
} interrupter;

static void *interrupter_main(void *arg) {
  interrupter *in = arg;
  double start = now_seconds();
  /* 60 s at most for the fit to start (a slow machine, valgrind). */
  while (trace_iterations(in->trace) < in->after && now_seconds() - start < 60) sleep_ms(2);
  watchdog_start(&in->dog, "the fit interrupted from another thread");
  sqlite3_interrupt(in->db);
  in->seen_after_interrupt = trace_iterations(in->trace);
  return NULL;
}

/* A faithful fit's BLOB on db (malloc'd), for comparison across connections. */
static unsigned char *faithful_fit(sqlite3 *db, int *n) {
  return sql_blob(db, n,
                  "WITH f(x, y) AS (VALUES (3.6, 79), (1.8, 54), (3.333, 74), (2.283, 62), "
                  "(4.533, 85), (2.883, 55), (4.7, 88), (3.6, 85), (1.95, 51), (4.35, 85), "
                  "(1.833, 54), (3.917, 84), (4.2, 78), (1.75, 47), (4.7, 83), (2.167, 52)) "
                  "SELECT gmm_fit(2, x, y) FROM f");
}

/* After an interrupted statement the connection works: the same fit gives
** the same bytes as on a fresh connection. */
static void assert_fits_as_fresh(sqlite3 *db) {
  int n1 = 0, n2 = 0;
  unsigned char *got = faithful_fit(db, &n1);
  sqlite3 *fresh = open_db();
  unsigned char *want = faithful_fit(fresh, &n2);
  close_db(fresh);
  assert_int_equal(n1, n2);
  assert_memory_equal(got, want, (size_t)n1);
  free(got);
  free(want);
}

/* gmm_fit (8): sqlite3_interrupt from another thread while EM runs. The
** fit stops after the iteration that was running: the trace shows at most
** one iteration more than it did once sqlite3_interrupt had returned, and
** the statement fails with SQLITE_INTERRUPT. */
static void test_interrupt_from_thread(void **state) {
  (void)state;
  sqlite3_int64 baseline = sqlite3_memory_used();
  sqlite3 *db = open_db();
  make_points(db, ROWS);
  trace tr;
  trace_begin(&tr);
  interrupter in = {db, &tr, 3, -1, {0}};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, interrupter_main, &in), 0);
  sqlite3_stmt *st = prepare(db, NULL, 0, ENDLESS_FIT);
  int rc = sqlite3_step(st);
  char *msg = dup_text(sqlite3_errmsg(db), -1);
  sqlite3_finalize(st);
  pthread_join(thread, NULL);
  watchdog_stop(&in.dog);
  trace_end(&tr);
  int iterations = trace_iterations(&tr);
  char *text = trace_text(&tr);
  fclose(tr.file);
  if (rc != SQLITE_ERROR && rc != SQLITE_INTERRUPT) fail_msg("step gave %d, trace:\n%s", rc, text);
  assert_int_equal(sqlite3_errcode(db), SQLITE_INTERRUPT);
  assert_string_equal(msg, "gmm_fit: interrupted");
  if (!(iterations >= in.after && iterations <= in.seen_after_interrupt + 1))
    fail_msg("the trace shows %d iterations, %d when sqlite3_interrupt returned:\n%s", iterations,
             in.seen_after_interrupt, text);
  free(text);
  free(msg);
  assert_fits_as_fresh(db);
  assert_int_equal(close_db_measured(db), baseline);
  assert_true(memory_while_open > baseline);
}

/* ------------------------------------------------------------------------
** From a progress handler: the handler interrupts the connection while the
** rows are being read (SQLite calls it between virtual machine steps, never
** during the fit itself). SQLite stops the statement at once and, as it
** cleans up, still finalizes the aggregate: the fit gmm_fit then starts
** sees the interrupt and stops after its first iteration, instead of
** running its million iterations for a result nobody will read.
*/
typedef struct progress {
  sqlite3 *db;
  int calls;
  int interrupt_at;
} progress;

static int progress_handler(void *arg) {
  progress *p = arg;
  if (++p->calls == p->interrupt_at) sqlite3_interrupt(p->db);
  return 0;
}

static void test_interrupt_from_progress_handler(void **state) {
  (void)state;
  sqlite3_int64 baseline = sqlite3_memory_used();
  sqlite3 *db = open_db();
  make_points(db, ROWS);
  /* About 10 virtual machine steps a row: the interrupt comes half way. */
  progress p = {db, 0, ROWS / 2 / 100};
  sqlite3_progress_handler(db, 1000, progress_handler, &p);
  trace tr;
  trace_begin(&tr);
  watchdog dog;
  sqlite3_stmt *st = prepare(db, NULL, 0, ENDLESS_FIT);
  watchdog_start(&dog, "the fit interrupted from a progress handler");
  int rc = sqlite3_step(st);
  char *msg = dup_text(sqlite3_errmsg(db), -1);
  sqlite3_finalize(st);
  watchdog_stop(&dog);
  trace_end(&tr);
  sqlite3_progress_handler(db, 0, NULL, NULL);
  int iterations = trace_iterations(&tr);
  char *text = trace_text(&tr);
  fclose(tr.file);
  assert_true(p.calls >= p.interrupt_at);
  assert_int_equal(rc, SQLITE_INTERRUPT);
  assert_string_equal(msg, "interrupted");
  if (iterations > 1) fail_msg("the trace shows %d iterations:\n%s", iterations, text);
  free(text);
  free(msg);
  assert_fits_as_fresh(db);
  assert_int_equal(close_db_measured(db), baseline);
}

/* pass (1): the streamed passes are SQLite's own loops over the rows, so
** SQLite stops them wherever they are, on every version: gmm_estep over a
** long query interrupted from another thread fails with SQLITE_INTERRUPT,
** leaks nothing, and the connection goes on. The thread interrupts every
** 50 ms until the statement has returned: an interrupt that came before the
** statement started would be forgotten when it starts. */
typedef struct repeater {
  sqlite3 *db;
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done;
} repeater;

static void *interrupt_until_done(void *arg) {
  repeater *r = arg;
  pthread_mutex_lock(&r->lock);
  while (!r->done) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 50000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->done_cond, &r->lock, &until);
    if (!r->done) sqlite3_interrupt(r->db);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

static void test_interrupt_pass(void **state) {
  (void)state;
  sqlite3_int64 baseline = sqlite3_memory_used();
  sqlite3 *db = open_db();
  make_points(db, 3000);
  exec_sql(db, "CREATE TABLE m AS SELECT gmm_fit('{\"k\": 3, \"seed\": 1}', x, y) AS model "
               "FROM pts");
  /* Every row of pts a billion times over: hours, unless interrupted. */
  repeater r = {db, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, interrupt_until_done, &r), 0);
  sqlite3_stmt *st = prepare(db, NULL, 0,
                             "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                             "WHERE i < 1000000000) "
                             "SELECT gmm_estep((SELECT model FROM m), x, y) FROM r, pts");
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  pthread_mutex_lock(&r.lock);
  r.done = 1;
  pthread_cond_signal(&r.done_cond);
  pthread_mutex_unlock(&r.lock);
  pthread_join(thread, NULL);
  assert_int_equal(rc, SQLITE_INTERRUPT);
  assert_string_equal(sqlite3_errmsg(db), "interrupted");
  /* The connection goes on: one E-step over pts gives its statistics. */
  assert_sql_int(db, 3000,
                 "SELECT json_extract(gmm_stats_info(gmm_estep((SELECT model FROM m), x, y)), "
                 "'$.n_rows') FROM pts");
  assert_fits_as_fresh(db);
  assert_int_equal(close_db_measured(db), baseline);
}

/* gmm_is_interrupted: before 3.41 each EM iteration steps the probe
** statement once (a connection's statement trace shows it, with a comment
** that says whose it is); from 3.41 on there is no probe. The fit's bytes do
** not depend on it. */
static int probe_steps;

static int count_probes(unsigned type, void *arg, void *p, void *x) {
  (void)arg;
  (void)x;
  if (type == SQLITE_TRACE_STMT && strstr(sqlite3_sql(p), "gmm: is the connection interrupted?"))
    probe_steps++;
  return 0;
}

static void test_interrupt_probe(void **state) {
  (void)state;
  sqlite3 *db = open_db();
  make_points(db, 3000);
  int n1 = 0, n2 = 0;
  static const char fit[] =
      "SELECT gmm_fit('{\"k\": 3, \"max_iter\": 25, \"tol\": 0, \"n_init\": 2}', x, y) "
      "FROM pts";
  unsigned char *plain = sql_blob(db, &n1, fit);
  probe_steps = 0;
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_probes, NULL);
  unsigned char *traced = sql_blob(db, &n2, fit);
  sqlite3_trace_v2(db, 0, NULL, NULL);
  assert_int_equal(n1, n2);
  assert_memory_equal(plain, traced, (size_t)n1);
  /* Two initialisations of 25 iterations each. */
  assert_int_equal(probe_steps, library_has_is_interrupted() ? 0 : 50);
  free(plain);
  free(traced);
  close_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interrupt_from_thread),
      cmocka_unit_test(test_interrupt_from_progress_handler),
      cmocka_unit_test(test_interrupt_pass),
      cmocka_unit_test(test_interrupt_probe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
