/*
** gmm_order.c -- a canonical order for a set of rows, so that a fit does
** not depend on the order SQLite happened to scan them in (a query plan, an
** index or a VACUUM can change it).
**
** Requirements (tests cite them as "order (N)"):
**  (1) After gmm_canonical_order, two buffers holding the same multiset of
**      (row, weight) pairs are identical, byte for byte, whatever order the
**      rows came in. Rows compare lexicographically on their features, then
**      on their weight; -0.0 is first made +0.0 and every NaN (a missing
**      feature) the one quiet NaN, so that equal values have equal bytes.
**      When some value is missing, the pattern of missing features comes
**      before the values: complete rows first, then the rows of each
**      pattern together (the layout gmm_fit works on in place), each
**      pattern a bit string compared as an unsigned number, feature 1 its
**      highest bit.
**  (2) In place and without allocation: a most-significant-digit radix
**      sort (American flag sort) on the features in order and then the
**      weight, each mapped to a 64-bit integer with the same order. Each
**      pass splits a run 256 ways over the range of its keys (the 8 bits
**      below the highest bit in which its smallest and largest key differ),
**      so no pass is spent on bits every key shares; a run whose keys are
**      all equal moves on to the next feature. Runs of at most
**      RADIX_MIN_ROWS rows go to an introsort (median-of-three quicksort,
**      heapsort past 2 log2 n levels, insertion sort for short runs) on the
**      same order. Each pass moves every row at most once; the stack holds
**      at most log2(n) frames, since only buckets of at most half the rows
**      are recursed into (the largest is continued in place).
**  (3) With threads (0 = every core), the rows are first split by radix
**      passes into runs no larger than half a thread's share, which the
**      threads then sort apart. The result is the same bytes for any thread
**      count: the order is a total one and the runs are disjoint.
*/
#include "gmm_internal.h"

#include <stdint.h>
#include <string.h>

typedef struct row_set {
  double *x;
  double *w;          /* NULL: unweighted */
  size_t d;
  size_t mask_words;  /* 0 when no value is missing, else ceil(d / 64) */
} row_set;

static uint64_t values_key(const row_set *r, const double *x, double w, size_t p);

/* Row a (weight wa) against row b: the pattern of missing features first
** when some value is missing, then the values, then the weight. */
static inline int compare_values(const row_set *r, const double *a, double wa, const double *b,
                                 double wb) {
  size_t d = r->d;
  if (r->mask_words != 0) {
    size_t n_keys = r->mask_words + d + (r->w != NULL);
    for (size_t p = 0; p < n_keys; p++) {
      uint64_t ka = values_key(r, a, wa, p), kb = values_key(r, b, wb, p);
      if (ka != kb) return ka < kb ? -1 : 1;
    }
    return 0;
  }
  for (size_t p = 0; p < d; p++) {
    if (a[p] < b[p]) return -1;
    if (a[p] > b[p]) return 1;
  }
  return wa < wb ? -1 : wa > wb;
}

static inline double weight_of(const row_set *r, size_t i) {
  return r->w ? r->w[i] : 0.0;
}

static int compare_rows(const row_set *r, size_t i, size_t j) {
  return compare_values(r, r->x + i * r->d, weight_of(r, i), r->x + j * r->d, weight_of(r, j));
}

static inline void swap_rows(const row_set *r, size_t i, size_t j) {
  double *a = r->x + i * r->d, *b = r->x + j * r->d;
  for (size_t p = 0; p < r->d; p++) {
    double t = a[p];
    a[p] = b[p];
    b[p] = t;
  }
  if (r->w) {
    double t = r->w[i];
    r->w[i] = r->w[j];
    r->w[j] = t;
  }
}

static void copy_row(const row_set *r, size_t to, size_t from) {
  double *a = r->x + to * r->d;
  const double *b = r->x + from * r->d;
  for (size_t p = 0; p < r->d; p++) a[p] = b[p];
  if (r->w) r->w[to] = r->w[from];
}

/* Each row out of order is lifted into `row` (d doubles of scratch), the
** larger rows before it move up one, and it drops into the gap. */
static void insertion_sort(const row_set *r, size_t lo, size_t hi, double *row) {
  for (size_t i = lo + 1; i < hi; i++) {
    if (compare_rows(r, i - 1, i) <= 0) continue;
    memcpy(row, r->x + i * r->d, r->d * sizeof *row);
    double w = weight_of(r, i);
    size_t j = i;
    for (; j > lo && compare_values(r, r->x + (j - 1) * r->d, weight_of(r, j - 1), row, w) > 0;
         j--)
      copy_row(r, j, j - 1);
    memcpy(r->x + j * r->d, row, r->d * sizeof *row);
    if (r->w) r->w[j] = w;
  }
}

static void sift_down(const row_set *r, size_t lo, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && compare_rows(r, lo + child, lo + child + 1) < 0) child++;
    if (compare_rows(r, lo + root, lo + child) >= 0) return;
    swap_rows(r, lo + root, lo + child);
    root = child;
  }
}

static void heap_sort(const row_set *r, size_t lo, size_t hi) {
  size_t n = hi - lo;
  for (size_t i = n / 2; i-- > 0;) sift_down(r, lo, i, n);
  for (size_t end = n - 1; end > 0; end--) {
    swap_rows(r, lo, lo + end);
    sift_down(r, lo, 0, end);
  }
}

/* Hoare partition of [lo, hi) around the median of its first, middle and
** last rows; returns j with [lo, j] <= pivot <= [j+1, hi). */
static size_t partition(const row_set *r, size_t lo, size_t hi, double *pivot) {
  size_t mid = lo + (hi - lo) / 2, last = hi - 1;
  if (compare_rows(r, mid, lo) < 0) swap_rows(r, mid, lo);
  if (compare_rows(r, last, lo) < 0) swap_rows(r, last, lo);
  if (compare_rows(r, last, mid) < 0) swap_rows(r, last, mid);
  swap_rows(r, lo, mid); /* the median to the front: Hoare's pivot */
  memcpy(pivot, r->x + lo * r->d, r->d * sizeof *pivot);
  double pivot_w = weight_of(r, lo);
  size_t i = lo, j = hi;
  for (;;) {
    while (compare_values(r, r->x + i * r->d, weight_of(r, i), pivot, pivot_w) < 0) i++;
    do j--;
    while (compare_values(r, r->x + j * r->d, weight_of(r, j), pivot, pivot_w) > 0);
    if (i >= j) return j;
    swap_rows(r, i, j);
    i++;
  }
}

/* Sorts rows [lo, hi) by the comparison order. */
static void introsort(const row_set *r, size_t lo_all, size_t hi_all) {
  if (hi_all - lo_all < 2) return;
  double pivot[GMM_MAX_D];
  /* Explicit stack of the larger halves: at most log2(n) entries since the
  ** smaller half is always processed first. */
  size_t stack_lo[64], stack_hi[64], stack_depth[64];
  int top = 0;
  size_t depth_limit = 0;
  for (size_t m = hi_all - lo_all; m > 1; m >>= 1) depth_limit += 2;
  stack_lo[0] = lo_all;
  stack_hi[0] = hi_all;
  stack_depth[0] = depth_limit;
  top = 1;
  while (top > 0) {
    top--;
    size_t lo = stack_lo[top], hi = stack_hi[top], depth = stack_depth[top];
    while (hi - lo > 16) {
      if (depth == 0) {
        heap_sort(r, lo, hi);
        lo = hi;
        break;
      }
      depth--;
      size_t j = partition(r, lo, hi, pivot);
      /* Push the larger side, continue with the smaller. */
      if (j + 1 - lo > hi - (j + 1)) {
        stack_lo[top] = lo, stack_hi[top] = j + 1, stack_depth[top] = depth, top++;
        lo = j + 1;
      } else {
        stack_lo[top] = j + 1, stack_hi[top] = hi, stack_depth[top] = depth, top++;
        hi = j + 1;
      }
    }
    if (hi - lo > 1) insertion_sort(r, lo, hi, pivot);
  }
}

/* ---- the radix passes ---- */

#define RADIX_MIN_ROWS 32

/* A finite double (zero never negative) as an unsigned integer in the same
** order: negative values have every bit flipped, others the sign bit set. */
static inline uint64_t order_key(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

/* Word p of the pattern of missing features of row x: bit 63 - (q mod 64)
** is set when feature q = 64 p + (q mod 64) is missing. */
static uint64_t mask_word(const row_set *r, const double *x, size_t p) {
  size_t end = 64 * p + 64 < r->d ? 64 * p + 64 : r->d;
  uint64_t word = 0;
  for (size_t q = 64 * p; q < end; q++)
    if (x[q] != x[q]) word |= UINT64_C(1) << (63 - q % 64);
  return word;
}

/* Key p of row x (weight w): the words of its pattern of missing features,
** then its features, then its weight. */
static uint64_t values_key(const row_set *r, const double *x, double w, size_t p) {
  if (p < r->mask_words) return mask_word(r, x, p);
  p -= r->mask_words;
  return order_key(p < r->d ? x[p] : w);
}

static inline uint64_t row_key(const row_set *r, size_t i, size_t p) {
  if (r->mask_words == 0) return order_key(p < r->d ? r->x[i * r->d + p] : weight_of(r, i));
  return values_key(r, r->x + i * r->d, weight_of(r, i), p);
}

/* One pass over [lo, lo + the rows counted in edge) on key p: the bucket of
** row i is (key - base) >> shift. edge[b + 1] holds bucket b's count on
** entry and bucket b's end on return (edge[0] = lo). Apart from radix_sort
** so that `next` and `hold` are off the stack when it recurses. */
GMM_NOINLINE static void radix_pass(const row_set *r, size_t lo, size_t p, uint64_t base,
                                    unsigned shift, size_t *edge) {
  edge[0] = lo;
  for (int b = 0; b < 256; b++) edge[b + 1] += edge[b];
  /* Move each row into its bucket: next[b] is bucket b's first row not yet
  ** known to belong there. */
  size_t next[256];
  memcpy(next, edge, sizeof next);
  double hold[GMM_MAX_D];
  size_t d = r->d;
  for (unsigned b = 0; b < 256; b++)
    while (next[b] < edge[b + 1]) {
      size_t i = next[b];
      unsigned c = (unsigned)((row_key(r, i, p) - base) >> shift);
      if (c == b) {
        next[b]++;
        continue;
      }
      /* Lift row i out and follow its cycle: each row the held one lands
      ** on is lifted in its turn, until one belongs in bucket b, at i. */
      double *xi = r->x + i * d;
      memcpy(hold, xi, d * sizeof *hold);
      double hold_w = weight_of(r, i);
      do {
        size_t to = next[c]++;
        double *xt = r->x + to * d;
        unsigned c_to = (unsigned)((row_key(r, to, p) - base) >> shift);
        for (size_t q = 0; q < d; q++) {
          double t = xt[q];
          xt[q] = hold[q];
          hold[q] = t;
        }
        if (r->w) {
          double t = r->w[to];
          r->w[to] = hold_w;
          hold_w = t;
        }
        c = c_to;
      } while (c != b);
      memcpy(xi, hold, d * sizeof *hold);
      if (r->w) r->w[i] = hold_w;
      next[b]++;
    }
}

/* One 256-way split of [lo, hi), whose rows agree on keys 0 .. *p - 1, on
** the first key at or after *p that is not the same for every row (*p
** advances to it). Returns 0, leaving edge alone, when the rows agree on
** every key; else fills edge (257) with the buckets' bounds. */
static int split_once(const row_set *r, size_t lo, size_t hi, size_t *p, size_t *edge) {
  size_t n_keys = r->mask_words + r->d + (r->w != NULL);
  for (; *p < n_keys; ++*p) {
    uint64_t lo_key = UINT64_MAX, hi_key = 0;
    for (size_t i = lo; i < hi; i++) {
      uint64_t key = row_key(r, i, *p);
      if (key < lo_key) lo_key = key;
      if (key > hi_key) hi_key = key;
    }
    if (lo_key == hi_key) continue; /* all equal on key p: the next key decides */
    /* The 8 bits below the highest bit of hi_key - lo_key. */
    unsigned width = 0;
    for (uint64_t span = hi_key - lo_key; span > 0; span >>= 1) width++;
    unsigned shift = width > 8 ? width - 8 : 0;
    memset(edge, 0, 257 * sizeof *edge);
    for (size_t i = lo; i < hi; i++) edge[((row_key(r, i, *p) - lo_key) >> shift) + 1]++;
    radix_pass(r, lo, *p, lo_key, shift, edge);
    return 1;
  }
  return 0;
}

/* Sorts [lo, hi), whose rows agree on keys 0 .. p-1. Frames hold 257
** size_t; they nest at most log2(n) deep. */
static void radix_sort(const row_set *r, size_t lo, size_t hi, size_t p) {
  while (hi - lo > RADIX_MIN_ROWS) {
    size_t edge[257];
    if (!split_once(r, lo, hi, &p, edge)) return; /* equal rows need nothing */
    /* Recurse into every bucket but the largest, then continue with it. */
    unsigned largest = 0;
    for (unsigned b = 1; b < 256; b++)
      if (edge[b + 1] - edge[b] > edge[largest + 1] - edge[largest]) largest = b;
    for (unsigned b = 0; b < 256; b++)
      if (b != largest && edge[b + 1] - edge[b] > 1) radix_sort(r, edge[b], edge[b + 1], p);
    lo = edge[largest];
    hi = edge[largest + 1];
  }
  introsort(r, lo, hi);
}

/* ---- on threads: order (3) ---- */

/* Runs of rows that can be sorted apart: at most MAX_RUNS after splitting,
** and splitting stops once no run holds more than 1 / SPLIT_SHARE of a
** worker's fair share. Below PARALLEL_MIN_ROWS one thread sorts. */
#define MAX_RUNS          512
#define PARALLEL_MIN_ROWS 65536

typedef struct run {
  size_t lo, hi, p;
  int worker;
} run;

typedef struct sort_job {
  const row_set *r;
  run *runs;
  int n_runs;
} sort_job;

static void sort_worker(void *ctx, int block, int worker) {
  (void)worker;
  sort_job *job = ctx;
  for (int i = 0; i < job->n_runs; i++)
    if (job->runs[i].worker == block)
      radix_sort(job->r, job->runs[i].lo, job->runs[i].hi, job->runs[i].p);
}

static size_t run_size(const run *u) {
  return u->hi - u->lo;
}

static void parallel_sort(const row_set *r, size_t n, int workers) {
  run runs[MAX_RUNS];
  int n_runs = 1;
  runs[0] = (run){0, n, 0, 0};
  size_t share = n / (size_t)workers / 2;
  /* Split the largest run while it is more than half a worker's share. */
  while (n_runs + 256 <= MAX_RUNS) {
    int big = 0;
    for (int i = 1; i < n_runs; i++)
      if (run_size(&runs[i]) > run_size(&runs[big])) big = i;
    if (run_size(&runs[big]) <= share) break;
    size_t edge[257], p = runs[big].p;
    if (!split_once(r, runs[big].lo, runs[big].hi, &p, edge)) {
      runs[big].hi = runs[big].lo; /* equal rows: nothing left to sort */
      continue;
    }
    runs[big] = runs[--n_runs];
    for (int b = 0; b < 256; b++)
      if (edge[b + 1] - edge[b] > 1) runs[n_runs++] = (run){edge[b], edge[b + 1], p, 0};
  }
  /* Largest first, each to the least loaded worker. Which worker sorts a
  ** run changes nothing: the runs are disjoint. */
  for (int i = 1; i < n_runs; i++)
    for (int j = i; j > 0 && run_size(&runs[j]) > run_size(&runs[j - 1]); j--) {
      run t = runs[j];
      runs[j] = runs[j - 1];
      runs[j - 1] = t;
    }
  size_t load[GMM_MAX_THREADS] = {0};
  for (int i = 0; i < n_runs; i++) {
    int least = 0;
    for (int t = 1; t < workers; t++)
      if (load[t] < load[least]) least = t;
    runs[i].worker = least;
    load[least] += run_size(&runs[i]);
  }
  sort_job job = {r, runs, n_runs};
  gmm_par_run(workers, workers, sort_worker, &job);
}

void gmm_canonical_order(double *x, double *w, size_t n, int d, int threads) {
  size_t dd = (size_t)d;
  int any_missing = 0;
  for (size_t i = 0; i < n * dd; i++) {
    if (x[i] == 0.0) x[i] = 0.0; /* -0.0 -> +0.0 */
    if (x[i] != x[i]) {
      x[i] = gmm_missing_value();
      any_missing = 1;
    }
  }
  if (w)
    for (size_t i = 0; i < n; i++)
      if (w[i] == 0.0) w[i] = 0.0;
  row_set r = {x, w, dd, any_missing ? (dd + 63) / 64 : 0};
  int workers = gmm_threads(threads);
  if (workers > 1 && n >= PARALLEL_MIN_ROWS)
    parallel_sort(&r, n, workers);
  else
    radix_sort(&r, 0, n, 0);
}
