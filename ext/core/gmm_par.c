/*
** gmm_par.c -- passes over the rows shared out to threads, with results
** that do not depend on how many threads there are.
**
** Requirements (tests cite them as "par (N)"):
**  (1) The rows are split into at most GMM_BLOCKS blocks of whole chunks
**      (GMM_CHUNK_ROWS rows), as evenly as they divide; the split depends on
**      the number of rows and the memory a block's results take, never on
**      the thread count.
**  (2) gmm_par_run calls fn once for every block, on up to n_workers
**      threads: each worker takes the next block not yet taken until none
**      is left, so a thread the system holds back (or a block with more
**      work) does not hold the others up. Callers keep one result per
**      block and combine them in block order afterwards, so which thread
**      ran a block changes nothing.
**  (3) A thread that cannot be started takes no block: the others, the
**      calling thread among them, take them all. That costs speed, never a
**      result.
**  (4) A pass takes no more threads than its work pays for (see
**      gmm_par_workers): many small fits, as in a GROUP BY, run on the
**      calling thread alone. The thread count never changes a result.
*/
#define _POSIX_C_SOURCE 200809L /* sysconf: the number of online cores */
#include "gmm_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* Block results kept at once, in bytes, at most (fewer blocks for big
** results). */
#define GMM_BLOCK_BYTES ((size_t)64 << 20)
/* Work a thread must get for starting it to pay: units of work_per_row
** (about a nanosecond each), so about a quarter of a millisecond. */
#define PAR_MIN_WORK 262144.0

int gmm_threads(int threads) {
  long n = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > GMM_MAX_THREADS ? GMM_MAX_THREADS : (int)n;
}

int gmm_thread_count(const gmm_options *opt) {
  return gmm_threads(opt->threads);
}

int gmm_par_blocks(size_t n_rows, size_t bytes_per_block) {
  size_t chunks = (n_rows + GMM_CHUNK_ROWS - 1) / GMM_CHUNK_ROWS;
  size_t blocks = bytes_per_block > 0 ? GMM_BLOCK_BYTES / bytes_per_block : GMM_BLOCKS;
  if (blocks > GMM_BLOCKS) blocks = GMM_BLOCKS;
  if (blocks > chunks) blocks = chunks;
  return blocks < 1 ? 1 : (int)blocks;
}

int gmm_par_workers(int threads, int n_blocks, size_t n_rows, double work_per_row) {
  double by_work = (double)n_rows * work_per_row / PAR_MIN_WORK;
  int workers = threads < n_blocks ? threads : n_blocks;
  if (by_work < (double)workers) workers = (int)by_work;
  return workers < 1 ? 1 : workers;
}

void gmm_par_rows(size_t n, int n_blocks, int b, size_t *start, size_t *end) {
  size_t chunks = (n + GMM_CHUNK_ROWS - 1) / GMM_CHUNK_ROWS;
  size_t first = chunks * (size_t)b / (size_t)n_blocks;
  size_t last = chunks * (size_t)(b + 1) / (size_t)n_blocks;
  *start = first * GMM_CHUNK_ROWS;
  *end = last * GMM_CHUNK_ROWS < n ? last * GMM_CHUNK_ROWS : n;
}

typedef struct par_job {
  gmm_block_fn fn;
  void *ctx;
  int n_blocks, worker;
  atomic_int *next; /* the next block to take, shared by the workers */
} par_job;

static void *run_worker(void *arg) {
  par_job *job = arg;
  for (int b; (b = atomic_fetch_add_explicit(job->next, 1, memory_order_relaxed)) < job->n_blocks;)
    job->fn(job->ctx, b, job->worker);
  return NULL;
}

void gmm_par_run(int n_blocks, int n_workers, gmm_block_fn fn, void *ctx) {
  if (n_workers > n_blocks) n_workers = n_blocks;
  if (n_workers < 1) n_workers = 1;
  par_job jobs[GMM_MAX_THREADS];
  pthread_t threads[GMM_MAX_THREADS];
  int started[GMM_MAX_THREADS] = {0};
  atomic_int next;
  atomic_init(&next, 0);
  for (int t = 0; t < n_workers; t++) {
    jobs[t] = (par_job){fn, ctx, n_blocks, t, &next};
    /* Worker 0 runs here; a thread that cannot start leaves its share to
    ** the others (pthread_join makes their results visible here). */
    started[t] = t > 0 && pthread_create(&threads[t], NULL, run_worker, &jobs[t]) == 0;
  }
  run_worker(&jobs[0]);
  for (int t = 1; t < n_workers; t++)
    if (started[t]) pthread_join(threads[t], NULL);
}
