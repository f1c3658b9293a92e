/*
** gmm_internal.h -- pieces shared by the core's own files: checked
** allocation, error text, the seeded PRNG and small dense linear algebra.
** Not part of the core's API; ext/sqlite never includes it.
*/
#ifndef GMM_INTERNAL_H
#define GMM_INTERNAL_H

#include "gmm.h"

#include <stdarg.h>
#include <stdint.h>

#define GMM_LOG_2PI 1.8378770664093454836

/* Keeps a function's frame apart from its caller's (stack depth). */
#if defined(__GNUC__)
#define GMM_NOINLINE __attribute__((noinline))
#else
#define GMM_NOINLINE
#endif

/* Allocates count * size bytes, or returns NULL when the product overflows
** or the allocator fails. */
void *gmm_alloc_array(const gmm_allocator *a, size_t count, size_t size);
void gmm_release(const gmm_allocator *a, void *p);

/* snprintf into err (when err is not NULL) and return status. */
gmm_status gmm_errorf(char *err, size_t err_len, gmm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- PRNG: xoshiro256** seeded through splitmix64 ----
** The generator of every random choice in the core. A (seed, stream) pair
** names one independent sequence, so restart i of a fit draws from stream
** i whatever order the restarts run in. */
typedef struct gmm_rng {
  uint64_t s[4];
} gmm_rng;

void gmm_rng_seed(gmm_rng *r, uint64_t seed, uint64_t stream);
uint64_t gmm_rng_next(gmm_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
double gmm_rng_uniform(gmm_rng *r);
/* Uniform integer on [0, n), n >= 1, without modulo bias. */
uint64_t gmm_rng_below(gmm_rng *r, uint64_t n);

/* ---- Linear algebra on small dense row-major matrices ---- */

/* In-place lower Cholesky factor of the symmetric d x d matrix a (only the
** lower triangle is read; the strict upper triangle is zeroed). Returns 0,
** or -1 when a is not numerically positive definite. */
int gmm_cholesky(double *a, int d);
/* In place: the lower triangular l becomes its inverse (also lower). */
void gmm_tri_lower_inverse(double *l, int d);
/* Inverse of a symmetric positive definite matrix: out = a^-1, using work
** (d*d doubles). Returns -1 when a is not positive definite. */
int gmm_spd_inverse(const double *a, double *out, double *work, int d);

/* Returns log(sum(exp(v[0..n)))) (stable for any v; -inf when every v is
** -inf) and writes the normalised shares exp(v[j]) / sum into post, which
** may be v itself. They sum to 1 to rounding whatever the magnitude of v;
** when every v is -inf, post is 1 at index 0. */
double gmm_posteriors(const double *v, int n, double *post);

/* log w_j + log N(x | mu_j, S_j) for every component j into log_p (k);
** diff (k x d) receives x - mu_j. m must be prepared. */
void gmm_model_log_prob(const gmm_model *m, const double *x, double *diff, double *log_p);

/* ---- EM building blocks shared by gmm_init.c and gmm_fit.c ---- */

/* Sufficient statistics of responsibilities r_ij over rows x_i, taken
** around a per-component shift c_j (a_ij = x_i - c_j):
**   nk[j] = sum_i r_ij,  s1[j] = sum_i r_ij a_ij,
**   s2[j] = sum_i r_ij a_ij a_ij' (lower triangle, d x d). */
typedef struct gmm_stats {
  int k, d;
  int diag_only; /* s2 keeps only the diagonals, k x d */
  double *nk;    /* k */
  double *s1;    /* k x d */
  double *s2;    /* k x d x d, or k x d when diag_only */
} gmm_stats;

gmm_status gmm_stats_init(gmm_stats *st, int k, int d, int diag_only, const gmm_allocator *a);
void gmm_stats_free(gmm_stats *st, const gmm_allocator *a);
void gmm_stats_zero(gmm_stats *st);
/* st += r * (a, a a'), lower triangle (or diagonal) only. */
void gmm_stats_add_row(gmm_stats *st, int j, double r, const double *a);
/* dst += src, in component order. */
void gmm_stats_merge(gmm_stats *dst, const gmm_stats *src);

static inline double gmm_row_weight(const gmm_data *data, size_t i) {
  return data->w ? data->w[i] : 1.0;
}

/* The blocks and threads of a fit's passes, and one statistics object per
** block that the initialisation may use as scratch. */
typedef struct gmm_par_work {
  int n_blocks, n_workers;
  gmm_stats *block;
} gmm_par_work;

/* Statistics of the initial responsibilities of initialisation number
** init_index (its own PRNG stream), taken around shift (d doubles, the same
** for every component). The passes over the rows run on par's blocks. */
gmm_status gmm_init_stats(const gmm_data *data, const gmm_options *opt, int init_index,
                          const double *shift, gmm_stats *st, const gmm_par_work *par,
                          const gmm_allocator *a, char *err, size_t err_len);

/* ---- passes over fixed blocks of rows, on threads (gmm_par.c) ---- */

/* Rows per chunk of a pass: the unit whose statistics are summed first. */
#define GMM_CHUNK_ROWS 1024
/* Blocks of whole chunks a pass splits the rows into, at most. */
#define GMM_BLOCKS 16

/* The threads a fit uses: opt->threads, or with 0 every online core (at
** most GMM_MAX_THREADS); gmm_threads takes the count alone. */
int gmm_thread_count(const gmm_options *opt);
int gmm_threads(int threads);
/* The blocks for n_rows rows whose per-block results take bytes_per_block:
** at most GMM_BLOCKS, one per chunk, within a memory budget; at least 1. */
int gmm_par_blocks(size_t n_rows, size_t bytes_per_block);
/* The threads a pass over n_rows rows of work_per_row units each (about a
** nanosecond a unit) should take: at most threads and n_blocks, and fewer
** when each would get too little work to pay for starting it; at least 1. */
int gmm_par_workers(int threads, int n_blocks, size_t n_rows, double work_per_row);
/* The rows [start, end) of block b of n_blocks over n rows. */
void gmm_par_rows(size_t n, int n_blocks, int b, size_t *start, size_t *end);
/* Calls fn(ctx, b, worker) once for every block b on up to n_workers
** threads (worker in 0 .. n_workers - 1 names the caller's scratch). */
typedef void (*gmm_block_fn)(void *ctx, int block, int worker);
void gmm_par_run(int n_blocks, int n_workers, gmm_block_fn fn, void *ctx);

/* ---- the blocked E+M kernel (gmm_tile.c) ---- */

/* One worker's scratch: a transposed tile of rows and what the kernel
** derives from it, each array `rows` long per feature or component. */
typedef struct gmm_tile {
  size_t rows;    /* at most this many rows per call; divides GMM_CHUNK_ROWS */
  double *buffer; /* the one allocation holding the arrays below */
  double *xt;     /* d x rows: the rows, transposed */
  double *a, *ra; /* d x rows each: x - mu_j, r_j (x - mu_j) */
  double *lp;     /* k x rows: log densities, then weighted responsibilities */
  double *w;      /* rows: the row weights */
  size_t *active; /* offsets of the groups of rows a component's sums visit */
} gmm_tile;

size_t gmm_tile_rows(int k, int d);
gmm_status gmm_tile_init(gmm_tile *t, int k, int d, const gmm_allocator *a);
void gmm_tile_free(gmm_tile *t, const gmm_allocator *a);
/* Rows x[0..n_rows) (n_rows <= tile->rows; weights w, or 1 when w is NULL)
** under the prepared model m: sets *ll to their weighted log-likelihood and,
** when st is not NULL, adds their statistics around shift (k x d) to st.
** Returns 0, leaving st and *ll alone, when some row has no finite log
** density; the caller then takes those rows one at a time. */
int gmm_tile_pass(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                  const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
/* The kernel compiled for one instruction set: _baseline (2-lane vectors,
** gmm_tile_narrow.c) everywhere; _avx2 and _avx512f (4 lanes, the same bits
** as each other) on x86-64 with GCC or Clang, to be called only where the
** CPU has them. gmm_tile_pass picks the best; tests compare them. */
int gmm_tile_pass_baseline(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                           const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
int gmm_tile_pass_avx2(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                       const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
int gmm_tile_pass_avx512f(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                          const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);

#endif /* GMM_INTERNAL_H */
