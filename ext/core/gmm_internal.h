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
#include <string.h>

#define GMM_LOG_2PI 1.8378770664093454836
#define GMM_LN2     0.69314718055994530942

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
/* Two independent standard normals from two uniforms (Box-Muller): returns
** one and writes the other to *second. */
double gmm_rng_normal_pair(gmm_rng *r, double *second);

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

/* Eigen-decomposition of the symmetric d x d matrix a (the lower triangle
** is read; a is destroyed): values in descending order, vectors row-major
** with column j the unit eigenvector of values[j]. Returns 0, or -1 when
** the Jacobi sweeps did not converge (the result is then approximate). */
int gmm_sym_eigen(double *a, int d, double *values, double *vectors);

/* Returns log(sum(exp(v[0..n)))) (stable for any v; -inf when every v is
** -inf) and writes the normalised shares exp(v[j]) / sum into post, which
** may be v itself. They sum to 1 to rounding whatever the magnitude of v;
** when every v is -inf, post is 1 at index 0. */
double gmm_posteriors(const double *v, int n, double *post);

/* log w_j + log N(x | mu_j, S_j) for every component j into log_p (k);
** diff (k x d) receives x - mu_j. m must be prepared. */
void gmm_model_log_prob(const gmm_model *m, const double *x, double *diff, double *log_p);

/* ---- the statistics module (gmm_stats.c): the one EM ----
** gmm_fit's iterations, gmm_init's first statistics and the passes of
** gmm_estep / gmm_mstep all go through these. gmm_stats itself is declared
** in gmm.h. */

gmm_status gmm_stats_init(gmm_stats *st, int k, int d, int diag_only, const gmm_allocator *a);
void gmm_stats_free(gmm_stats *st, const gmm_allocator *a);
void gmm_stats_zero(gmm_stats *st);
/* Doubles in nk, s1 and s2 together (they are one array). */
size_t gmm_stats_len(const gmm_stats *st);
/* st += r * (a, a a'), lower triangle (or diagonal) only. */
void gmm_stats_add_row(gmm_stats *st, int j, double r, const double *a);
/* dst += src, in component order. */
void gmm_stats_merge(gmm_stats *dst, const gmm_stats *src);
/* Whether statistics of covariance type t keep only diagonals. */
int gmm_stats_diag_only(gmm_cov_type t);

/* The M-step, fit (5): new weights, means and covariances of m from
** statistics taken around shift (k x d). Returns the number of empty
** components. m is not prepared. For mclust's models (gmm_mclust.c) prev
** is NULL or the previous covariances (a warm start of the iterative
** M-steps; it may be m->covariances), and work holds
** gmm_m_step_work_len doubles (NULL when that is 0). */
int gmm_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar,
               const double *prev, double *work);
size_t gmm_m_step_work_len(int k, int d, gmm_cov_type t);

/* ---- mclust's covariance models (gmm_mclust.c) ---- */

/* Whether type t's M-step iterates (VEI, VEE, VEV, EVE, VVE). */
int gmm_cov_iterative(gmm_cov_type t);
size_t gmm_constrain_work_len(int k, int d, gmm_cov_type t);
/* In place: cov (type t's storage shape) holds every component's
** unconstrained estimate S_j + reg_covar I and becomes the M-step's
** Sigma_j under t's constraints, for masses nk (k). prev: NULL or the
** previous covariances (may be cov). work: gmm_constrain_work_len doubles.
** Does nothing for scikit-learn's four types. */
void gmm_constrain_covariances(gmm_cov_type t, int k, int d, const double *nk, double *cov,
                               const double *prev, double *work);

/* ---- priors (gmm_bayes.c) ---- */

/* Digamma, log-gamma and ln B(a, b) for positive arguments: bayes (1). */
double gmm_digamma(double x);
double gmm_lgamma(double x);
double gmm_betaln(double a, double b);
/* The checks of the prior options that need no rows (d = 0: none that
** need d); part of gmm_options_check. */
gmm_status gmm_prior_options_check(const gmm_options *opt, int d, char *err, size_t err_len);
/* Sets m's prior (options scalars, mean_prior, covariance_prior) from opt
** or its defaults over the rows of data (data_mean their weighted mean):
** bayes (2). GMM_EINVAL names a bad mean_prior or covariance_prior. */
gmm_status gmm_prior_resolve(gmm_model *m, const gmm_options *opt, const gmm_data *data,
                             const double *data_mean, char *err, size_t err_len);
/* A variational model's E[log w_j] (k), and the rest of its log_norm
** beyond the plug-in density's: bayes (4). */
void gmm_bayes_log_weights(const gmm_model *m, double *out);
double gmm_bayes_log_lambda(const gmm_model *m, int j);
/* A variational model's weights: the posterior means of its weight
** concentrations (scikit-learn's weights_). */
void gmm_bayes_weights(gmm_model *m);
/* The variational M-step from statistics around shift: bayes (3). Returns
** the number of empty components, as gmm_m_step. */
int gmm_bayes_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar);
/* sum_j [N_j log_norm_j - Q_j / 2] for the statistics st of an E-step of
** the prepared model m (around its means): the rows' sum of w r log rho;
** less their log-likelihood it is their sum of w r log r: bayes (5). */
double gmm_bayes_expected_log_rho(const gmm_model *m, const gmm_stats *st);
/* The lower bound of the prepared model m (after the M-step), given the
** E-step's sum of w r log r: bayes (5). */
double gmm_bayes_lower_bound(const gmm_model *m, double sum_r_log_r);
/* The conjugate prior's M-step: bayes (6). */
int gmm_map_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar);

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
  /* Rows the next call will read (set by the caller, or NULL): the kernel
  ** asks for them, a slice per component, while it works on these. */
  const double *ahead;
  size_t ahead_bytes;
  double log_map; /* of the last gmm_tile_pass that returned 1: sum of w ln max_j p(j | x) */
} gmm_tile;

size_t gmm_tile_rows(int k, int d);
gmm_status gmm_tile_init(gmm_tile *t, int k, int d, const gmm_allocator *a);
void gmm_tile_free(gmm_tile *t, const gmm_allocator *a);
/* Rows x[0..n_rows) (n_rows <= tile->rows; weights w, or 1 when w is NULL)
** under the prepared model m: sets *ll to their weighted log-likelihood and,
** when st is not NULL, adds their statistics around shift (k x d) to st.
** Returns 0, leaving st and *ll alone, when some row has no finite log
** density; the caller then takes those rows one at a time. On 1 it also
** sets tile->log_map, the rows' sum of w ln max_j p(j | x) (for ICL). */
int gmm_tile_pass(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                  const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
/* The kernel compiled for one instruction set: _baseline (2-lane vectors,
** gmm_tile_narrow.c) everywhere; where GMM_TILE_DISPATCH is defined (x86-64
** with GCC or Clang), _avx2 (4 lanes, with FMA) and _avx512f (8 lanes,
** gmm_tile_avx512.c), the same bits as each other, to be called only where
** the CPU has AVX2 and FMA, or AVX-512F. gmm_tile_pass picks the best;
** tests compare them. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(GMM_NO_DISPATCH)
#define GMM_TILE_DISPATCH 1
#endif
int gmm_tile_pass_baseline(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                           const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
int gmm_tile_pass_avx2(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                       const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);
int gmm_tile_pass_avx512f(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                          const double *shift, gmm_tile *tile, gmm_stats *st, double *ll);

/* ---- one E-step pass over rows in memory (gmm_stats.c) ---- */

/* What one thread of a pass needs for itself. */
typedef struct gmm_em_worker {
  gmm_stats chunk; /* of the current chunk */
  gmm_tile tile;   /* the blocked kernel's scratch */
  double *diff;    /* k x d: x - mu_j for the current row (row-at-a-time path) */
  double *log_p;   /* k */
  double *missing; /* gmm_missing_scratch_len, once gmm_em_work_missing ran */
} gmm_em_worker;

/* The scratch of passes over at most the n_rows given to
** gmm_em_work_alloc: the rows are split into n_blocks blocks of whole
** chunks (gmm_par.c), each block's statistics summed chunk by chunk and the
** blocks summed in order, so every thread count gives the same bits. */
typedef struct gmm_em_work {
  gmm_stats total; /* statistics of the whole pass */
  double *shift;   /* k x d: the means the pass started from */
  int n_blocks;
  gmm_stats block[GMM_BLOCKS];
  double block_ll[GMM_BLOCKS];
  int n_workers;
  gmm_em_worker worker[GMM_MAX_THREADS];
  size_t first_incomplete; /* rows from here on go through gmm_missing_pass;
                              SIZE_MAX (none) after gmm_em_work_alloc */
  double *mstep_work;      /* gmm_m_step_work_len doubles, or NULL */
  int want_map;            /* gmm_em_pass also sums w ln max_j p(j | x) into log_map */
  double block_map[GMM_BLOCKS];
  double log_map;
} gmm_em_work;

gmm_status gmm_em_work_alloc(gmm_em_work *w, int k, int d, gmm_cov_type type, size_t n_rows,
                             int threads, const gmm_allocator *a);
/* Sends rows from first_incomplete on through gmm_missing_pass, and gives
** the workers the scratch it needs. */
gmm_status gmm_em_work_missing(gmm_em_work *w, size_t first_incomplete, int k, int d,
                               gmm_cov_type type, const gmm_allocator *a);
/* Frees what gmm_em_work_alloc took, also after it failed half way. */
void gmm_em_work_free(gmm_em_work *w, const gmm_allocator *a);
/* One pass over the rows (at most the n_rows of the allocation) under the
** model's current parameters: rows before w->first_incomplete through the
** blocked kernel, the others through gmm_missing_pass. Returns the total (weighted) log-likelihood;
** when with_stats, fills w->total with the statistics around w->shift (a
** copy of the current means). w->log_map receives the rows' sum of
** w ln max_j p(j | x) in block order (ICL's term): of the complete rows
** always (the kernel has it for free), of the rows with missing values
** only when w->want_map. */
double gmm_em_pass(const gmm_model *m, const gmm_data *data, gmm_em_work *w, int with_stats);

/* ---- rows with missing features (gmm_missing.c) ---- */

/* The one quiet NaN every missing value is stored as: missing (1). */
static inline double gmm_missing_value(void) {
  uint64_t bits = UINT64_C(0x7ff8000000000000);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}
static inline int gmm_is_missing(double v) {
  return v != v;
}
/* Whether some of the d values of x are missing; whether all are. */
int gmm_row_has_missing(const double *x, int d);
int gmm_is_missing_row(const double *x, int d);

/* The factors of one pattern of missing features under one model:
** missing (2). Its arrays live in a caller's buffer of gmm_pattern_len
** doubles. */
typedef struct gmm_pattern {
  int k, d;
  gmm_cov_type type;
  int d_o, d_m;      /* observed and missing features */
  int *obs, *mis;    /* their indices, ascending */
  size_t stride;     /* doubles per factor */
  double *fac;       /* per component (one for tied): W, V, C */
  double *log_norm;  /* k: log w_j - d_o/2 log(2 pi) + log det W_j */
} gmm_pattern;

size_t gmm_pattern_len(int k, int d, gmm_cov_type t);
void gmm_pattern_init(gmm_pattern *p, int k, int d, gmm_cov_type t, double *buffer);
/* Factors the pattern of row x under m (prepared). Returns -1 when an
** observed block is not numerically positive definite. */
int gmm_pattern_set(gmm_pattern *p, const gmm_model *m, const double *x);
/* Whether row x has p's pattern. */
int gmm_pattern_matches(const gmm_pattern *p, const double *x);
/* log_p[j] = log w_j + log N(x_o | mu_j,o, S_j,oo); z (k x d, the first d_o
** of each row used) receives W_j (x_o - mu_j,o). */
void gmm_pattern_log_prob(const gmm_pattern *p, const gmm_model *m, const double *x, double *z,
                          double *log_p);
/* out (d_m) = E[x_m | x_o, j] - mu_j,m, from component j's z. */
void gmm_pattern_cond_offset(const gmm_pattern *p, int j, const double *zj, double *out);

/* Scratch doubles of gmm_missing_pass, and of the per-row functions. */
size_t gmm_missing_scratch_len(int k, int d, gmm_cov_type t);
size_t gmm_missing_row_scratch_len(int k, int d, gmm_cov_type t);
/* The E-step of rows [start, end) of data, rows with missing values (any
** row is fine; complete rows just take the slower path): returns their
** weighted observed-data log-likelihood and, when st is not NULL, adds
** their statistics around shift (k x d) with the conditional covariance
** correction: missing (4). Runs of rows of one pattern go through the
** blocked kernel on tile (a worker's; NULL: one row at a time). */
double gmm_missing_pass(const gmm_model *m, const gmm_data *data, size_t start, size_t end,
                        const double *shift, double *scratch, struct gmm_tile *tile,
                        gmm_stats *st);
/* log_p (k) of a row with missing values: log w_j + the log density of its
** observed block; -inf when a block cannot be factored. */
void gmm_missing_row_log_prob(const gmm_model *m, const double *x, double *log_p,
                              double *scratch);

/* ---- little-endian fields and the checksum of every BLOB (gmm_util.c) ---- */

void gmm_put_u32(unsigned char *p, uint32_t v);
void gmm_put_u64(unsigned char *p, uint64_t v);
void gmm_put_f64(unsigned char *p, double v);
uint32_t gmm_get_u32(const unsigned char *p);
uint64_t gmm_get_u64(const unsigned char *p);
double gmm_get_f64(const unsigned char *p);
/* FNV-1a 64 of n bytes: the last 8 bytes of every BLOB of the core. */
uint64_t gmm_fnv1a64(const unsigned char *p, size_t n);
/* The first checks of a decoder: at least min_len bytes, the magic, a
** format version from 1 to `version` (the newest it reads); what names the
** kind ("statistics"). */
gmm_status gmm_check_preamble(const unsigned char *p, size_t n, size_t min_len, const char *magic,
                              const char *what, uint32_t version, char *err, size_t err_len);
/* The first 56 bytes the model and state BLOBs share: magic, version, k,
** d, covariance type, init, max_iter, n_init, tol, reg_covar, seed. */
void gmm_put_head(unsigned char *out, const char *magic, uint32_t version, int d,
                  const gmm_options *o);

#endif /* GMM_INTERNAL_H */
