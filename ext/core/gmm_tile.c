/*
** gmm_tile.c -- the blocked E+M kernel: one tile of rows at a time.
**
** Requirements (tests cite them as "tile (N)"):
**  (1) For a tile of rows, the kernel gives what the row-at-a-time path
**      (gmm_model_log_prob, gmm_posteriors, gmm_stats_add_row) gives, to
**      rounding: the weighted log-likelihood of the rows, and, when asked,
**      their sufficient statistics around the pass's shift, added to st.
**  (2) It works column-wise on a transposed copy of the tile, LANES rows at
**      a time, so every inner loop is a fixed-width vector operation: the
**      differences x - mu, the triangular solve z = W (x - mu), exp and log
**      of the log-sum-exp, and the scatter sums r a a' (lower triangle
**      only, in 2 x 2 register blocks). Up to SMALL_D features a group of
**      rows stays in registers through a component's density and sums;
**      diagonal densities take four components per load of the rows.
**  (3) Sums over rows are kept in STEP partial sums, one per row modulo
**      STEP, and reduced in a fixed order (step_sum); every other operation
**      is per row. So the result is the same bits for any thread count and
**      for any vector width that holds the same STEP partial sums: the
**      AVX-512 copy (gmm_tile_avx512.c: 8 lanes, one vector per step) and
**      the AVX2 copy (this file: 4 lanes, two vectors per step), which the
**      runtime dispatch picks between, give the same bits. Both use fused
**      multiply-adds, written out (fmadd), never contracted by the compiler
**      (the Makefile passes -ffp-contract=off). The baseline
**      (gmm_tile_narrow.c: 2 lanes, for x86-64 without AVX2 and FMA and for
**      other architectures) rounds each product and keeps STEP = 4 partial
**      sums, so its last bits can differ from theirs.
**  (4) A row whose every log density is -inf makes the kernel return 0
**      without touching st, and so does a NaN density (W (x - mu)
**      overflowing to inf - inf): the caller redoes that tile row at a
**      time, whose rules cover both.
**  (5) exp and log are computed here, vectorised, to within a few ulp of
**      libm's over the ranges used: exp on [-708, 0] (below, 0), log on
**      [1, 1024] (a sum of at most k <= 1024 shares, the largest 1).
**  (6) A component's statistics skip the steps of STEP rows whose weighted
**      responsibilities are all exactly 0: their terms would add exact
**      zeros, so the sums are the same bits without them.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

/* Lanes per vector: 4 here; gmm_tile_avx512.c builds this file again with
** 8, and gmm_tile_narrow.c with 2, the width of SSE2 and NEON registers,
** for the baseline (GCC spills wider vectors there). This copy (4 lanes)
** also owns the tile's layout and the dispatch. */
#ifndef GMM_TILE_LANES
#define GMM_TILE_LANES 4
#endif
#define LANES GMM_TILE_LANES
#define WIDE  (LANES >= 4)
#define OWNER (LANES == 4)

/* Runtime dispatch (GMM_TILE_DISPATCH, gmm_internal.h): the 4- and 8-lane
** copies are compiled for AVX2 with FMA and for AVX-512F, every function
** of theirs, and gmm_tile_pass picks the best the CPU runs: tile (3).
** Elsewhere the wide copies are not used, and nothing is fused. */
#if defined(GMM_TILE_DISPATCH) && LANES == 8
#define TILE_TARGET "avx512f"
#elif defined(GMM_TILE_DISPATCH) && LANES == 4
#define TILE_TARGET "avx2,fma"
#endif

#ifdef TILE_TARGET
#include <immintrin.h>
#define INLINE static inline __attribute__((always_inline, target(TILE_TARGET)))
#else
#define INLINE static inline __attribute__((always_inline))
#endif

/* Rows per step of partial sums, and vectors per step: tile (3). */
#define STEP (WIDE ? 8 : 4)
#define NV   (STEP / LANES)
/* The tile's rows are padded to whole groups of two steps (the densities
** take two vectors at a time). The same in both wide copies. */
#define GROUP_ROWS (2 * STEP)

/* Vectors of LANES doubles (and 64-bit integers for the bit tricks of exp
** and log); GCC and Clang split them into whatever the target has. Their
** alignment is a double's, so they load from any row. */
typedef double vd __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double))));
typedef long long vi
    __attribute__((vector_size(LANES * sizeof(long long)), aligned(sizeof(double))));

/* Loads and stores through a may_alias vector type of a double's
** alignment. */
typedef double vd_mem
    __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double)), may_alias));

INLINE vd load(const double *p) {
  return *(const vd_mem *)p;
}

#if LANES == 4 && !defined(TILE_TARGET)
typedef double vh_mem
    __attribute__((vector_size(LANES / 2 * sizeof(double)), aligned(sizeof(double)), may_alias));

/* In two halves, which GCC turns into plain vector stores on every target
** (a whole store goes through the stack where vectors are narrower). */
INLINE void store(double *p, vd v) {
  *(vh_mem *)p = __builtin_shufflevector(v, v, 0, 1);
  *(vh_mem *)(p + LANES / 2) = __builtin_shufflevector(v, v, 2, 3);
}
#else
INLINE void store(double *p, vd v) {
  *(vd_mem *)p = v;
}
#endif

INLINE vd splat(double x) {
  return (vd){0} + x;
}

/* a * b + c, rounded once in the dispatched copies: tile (3). */
INLINE vd fmadd(vd a, vd b, vd c) {
#if defined(TILE_TARGET) && LANES == 8
  return (vd)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
#elif defined(TILE_TARGET)
  return (vd)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#else
  return a * b + c;
#endif
}

/* mask ? a : b, mask lanes all ones or all zeros. */
INLINE vd vselect(vi mask, vd a, vd b) {
  return (vd)(((vi)a & mask) | ((vi)b & ~mask));
}

/* The sum of STEP partial sums held in NV vectors (partial sum i, for the
** rows i modulo STEP, in lane i % LANES of vector i / LANES), in one fixed
** order whatever the width: ((p0 + p4) + (p1 + p5)) + ((p2 + p6) + (p3 +
** p7)) for the wide copies: tile (3). */
INLINE double step_sum(const vd *acc) {
#if LANES == 8
  vd s = acc[0];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
#elif LANES == 4
  vd s = acc[0] + acc[1];
  return (s[0] + s[1]) + (s[2] + s[3]);
#else
  vd s = acc[0] + acc[1];
  return s[0] + s[1];
#endif
}

INLINE int all_lanes(vi mask) {
  long long all = -1;
  for (int l = 0; l < LANES; l++) all &= mask[l];
  return all != 0;
}

/* For every vector h of a step. */
#define EACH_V(h) _Pragma("GCC unroll 2") for (size_t h = 0; h < NV; h++)

/* ---- exp and log: tile (5) ---- */

#define ROUND_MAGIC 6755399441055744.0 /* 1.5 * 2^52: adding it rounds to an integer */
#define LOG2E       1.4426950408889634074
/* ln 2 split so that n * LN2_HI is exact for |n| < 2^11 (Cody and Waite). */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10

/* exp(x) for x <= 0; 0 for x < -708 (where exp is subnormal or 0). */
INLINE vd vexp_neg(vd x) {
  vi tiny = (vi)(x < -708.0);
  x = vselect(tiny, splat(-708.0), x);
  vd t = fmadd(x, splat(LOG2E), splat(ROUND_MAGIC));
  vd n = t - ROUND_MAGIC;
  /* |r| <= ln(2) / 2 */
  vd r = fmadd(n, splat(-LN2_LO), fmadd(n, splat(-LN2_HI), x));
  /* Taylor to r^13 (the remainder is below 2^-56 relative on |r| <= 0.35),
  ** evaluated by Estrin's scheme: four levels of products instead of a
  ** chain of thirteen, so that the core overlaps more of the work. */
  vd r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  vd p01 = 1.0 + r, p23 = fmadd(r, splat(1.0 / 6.0), splat(0.5));
  vd p45 = fmadd(r, splat(1.0 / 120.0), splat(1.0 / 24.0));
  vd p67 = fmadd(r, splat(1.0 / 5040.0), splat(1.0 / 720.0));
  vd p89 = fmadd(r, splat(1.0 / 362880.0), splat(1.0 / 40320.0));
  vd p1011 = fmadd(r, splat(1.0 / 39916800.0), splat(1.0 / 3628800.0));
  vd p1213 = fmadd(r, splat(1.0 / 6227020800.0), splat(1.0 / 479001600.0));
  vd p03 = fmadd(r2, p23, p01), p47 = fmadd(r2, p67, p45), p811 = fmadd(r2, p1011, p89);
  vd p813 = fmadd(r4, p1213, p811);
  vd p = fmadd(r8, p813, fmadd(r4, p47, p03));
  /* 2^n from the integer n sitting in t's low mantissa bits; n in
  ** [-1022, 0], so the exponent field n + 1023 is a normal one. */
  vi scale = ((vi)t - (vi)splat(ROUND_MAGIC) + 1023) << 52;
  return vselect(tiny, splat(0.0), p * (vd)scale);
}

/* log(s) for s in [1, 2^52): s = 2^e m with m in [sqrt(1/2), sqrt(2)),
** log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.172. */
INLINE vd vlog_ge1(vd s) {
  vi bits = (vi)s;
  vi exp_field = bits >> 52;
  vd m = (vd)((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  /* e as a double without an int64 -> double conversion instruction. */
  vd e = (vd)(exp_field | 0x4330000000000000LL) - (4503599627370496.0 + 1023.0);
  vi big = (vi)(m > 1.41421356237309504880);
  m = vselect(big, m * 0.5, m);
  e = vselect(big, e + 1.0, e);
  vd f = (m - 1.0) / (m + 1.0);
  vd f2 = f * f;
  /* 2 atanh(f) = 2f (1 + f^2/3 + f^4/5 + ...); f^24 < 2^-61. Estrin's
  ** scheme in g = f^2, as for exp. */
  vd g = f2, g2 = g * g, g4 = g2 * g2, g8 = g4 * g4;
  vd q01 = fmadd(g, splat(1.0 / 5.0), splat(1.0 / 3.0));
  vd q23 = fmadd(g, splat(1.0 / 9.0), splat(1.0 / 7.0));
  vd q45 = fmadd(g, splat(1.0 / 13.0), splat(1.0 / 11.0));
  vd q67 = fmadd(g, splat(1.0 / 17.0), splat(1.0 / 15.0));
  vd q89 = fmadd(g, splat(1.0 / 21.0), splat(1.0 / 19.0));
  vd q03 = fmadd(g2, q23, q01), q47 = fmadd(g2, q67, q45);
  vd q8 = fmadd(g2, splat(1.0 / 23.0), q89);
  vd p = fmadd(g8, q8, fmadd(g4, q47, q03));
  vd f_2 = 2.0 * f;
  vd log_m = fmadd(f_2, f2 * p, f_2);
  return fmadd(e, splat(LN2_HI), fmadd(e, splat(LN2_LO), log_m));
}

/* ---- the tile's scratch ---- */

/* Rows the tile's arrays hold at most: a power of two dividing
** GMM_CHUNK_ROWS, fewer for wide rows and many components so that the
** arrays stay near the core (64 KiB), but at least TILE_MIN_ROWS so that the
** sums over rows stay long. Depends on k and d only: tile (3). The arrays
** start on a 64-byte boundary, so that a step of 8 rows is one cache line
** of a feature's column. */
#define TILE_BYTES    ((size_t)64 << 10)
#define TILE_MIN_ROWS 64
#define TILE_ALIGN    64

#if OWNER
static size_t d_padded(int d) {
  return (size_t)d + ((size_t)d & 1u);
}

static size_t tile_doubles_per_row(int k, int d) {
  return 3 * d_padded(d) + (size_t)k + 1;
}

size_t gmm_tile_rows(int k, int d) {
  size_t rows = GMM_CHUNK_ROWS, per_row = tile_doubles_per_row(k, d) * sizeof(double);
  while (rows > TILE_MIN_ROWS && rows * per_row > TILE_BYTES) rows /= 2;
  return rows;
}

gmm_status gmm_tile_init(gmm_tile *t, int k, int d, const gmm_allocator *a) {
  t->rows = gmm_tile_rows(k, d);
  /* Then the list of active steps: one offset per 4 rows (the narrowest
  ** step), and the slack for the alignment. */
  size_t n_doubles = tile_doubles_per_row(k, d) * t->rows + t->rows / 4;
  size_t slack = TILE_ALIGN / sizeof(double) - 1;
  t->buffer = gmm_alloc_array(a, n_doubles + slack, sizeof(double));
  if (!t->buffer) return GMM_ENOMEM;
  size_t misalign = (size_t)((uintptr_t)t->buffer % TILE_ALIGN) / sizeof(double);
  size_t dp = d_padded(d) * t->rows;
  t->xt = t->buffer + (misalign ? TILE_ALIGN / sizeof(double) - misalign : 0);
  t->a = t->xt + dp;
  t->ra = t->a + dp;
  t->lp = t->ra + dp;
  t->w = t->lp + (size_t)k * t->rows;
  t->active = (size_t *)(t->w + t->rows);
  t->ahead = NULL;
  t->ahead_bytes = 0;
  /* The odd row of a and ra (d odd) is the zero row the 2 x 2 blocks pair
  ** the last feature with; it is never written again. */
  memset(t->xt, 0, 3 * dp * sizeof(double));
  return GMM_OK;
}

void gmm_tile_free(gmm_tile *t, const gmm_allocator *a) {
  gmm_release(a, t->buffer);
  t->buffer = NULL;
}
#endif

/* ---- the kernel ---- */

/* a[p][t] = xt[p][t] - c[p] for every feature p and the rows t of the
** given steps (offsets in `at`). */
INLINE void centre(const double *xt, const double *c, double *a, size_t d, const size_t *at,
                   size_t n_at, size_t ld) {
  for (size_t p = 0; p < d; p++) {
    vd cp = splat(c[p]);
    for (size_t g = 0; g < n_at; g++)
      for (size_t t = at[g]; t < at[g] + STEP; t += LANES)
        store(a + p * ld + t, load(xt + p * ld + t) - cp);
  }
}

/* lp[0..n) = log_norm - q / 2, q = |W a|^2 with W lower triangular (d x d,
** row-major): z_i = sum_{p <= i} W_ip a_p, for two rows of W and two
** vectors of rows at a time (four independent chains). */
INLINE void log_density_full(const double *a, const double *w, double log_norm, double *lp,
                             size_t d, size_t n, size_t ld) {
  for (size_t t = 0; t < n; t += 2 * LANES) {
    vd q = splat(0.0), q_ = splat(0.0);
    size_t i = 0;
    for (; i + 1 < d; i += 2) {
      const double *w0 = w + i * d, *w1 = w0 + d;
      vd z0 = splat(0.0), z1 = splat(0.0), z0_ = splat(0.0), z1_ = splat(0.0);
      for (size_t p = 0; p <= i; p++) {
        vd ap = load(a + p * ld + t), ap_ = load(a + p * ld + t + LANES);
        vd w0p = splat(w0[p]), w1p = splat(w1[p]);
        z0 = fmadd(w0p, ap, z0);
        z1 = fmadd(w1p, ap, z1);
        z0_ = fmadd(w0p, ap_, z0_);
        z1_ = fmadd(w1p, ap_, z1_);
      }
      vd w1i = splat(w1[i + 1]);
      z1 = fmadd(w1i, load(a + (i + 1) * ld + t), z1);
      z1_ = fmadd(w1i, load(a + (i + 1) * ld + t + LANES), z1_);
      q = fmadd(z1, z1, fmadd(z0, z0, q));
      q_ = fmadd(z1_, z1_, fmadd(z0_, z0_, q_));
    }
    if (i < d) {
      const double *w0 = w + i * d;
      vd z0 = splat(0.0), z0_ = splat(0.0);
      for (size_t p = 0; p <= i; p++) {
        z0 = fmadd(splat(w0[p]), load(a + p * ld + t), z0);
        z0_ = fmadd(splat(w0[p]), load(a + p * ld + t + LANES), z0_);
      }
      q = fmadd(z0, z0, q);
      q_ = fmadd(z0_, z0_, q_);
    }
    store(lp + t, log_norm - 0.5 * q);
    store(lp + t + LANES, log_norm - 0.5 * q_);
  }
}

/* Up to SMALL_D features, the full-covariance kernel keeps a vector of
** rows' differences and sums in registers, one pass per component. */
#define SMALL_D 4

INLINE void log_density_full_small(const double *xt, const double *mu, const double *w,
                                   double log_norm, double *lp, size_t d, size_t n, size_t ld) {
  for (size_t t = 0; t < n; t += LANES) {
    vd a[SMALL_D];
    for (size_t p = 0; p < d; p++) a[p] = load(xt + p * ld + t) - mu[p];
    vd q = splat(0.0);
    for (size_t i = 0; i < d; i++) {
      vd z = splat(0.0);
      for (size_t p = 0; p <= i; p++) z = fmadd(splat(w[i * d + p]), a[p], z);
      q = fmadd(z, z, q);
    }
    store(lp + t, log_norm - 0.5 * q);
  }
}

/* The same for a diagonal W (one factor per feature, or one for all when
** spherical): q = sum_p (w_p (x_p - mu_p))^2, for DIAG_BLOCK components at
** a time (each row's features are loaded once for all of them) and two
** vectors of rows. mu, w and lp point at the block's first component. */
#define DIAG_BLOCK 4

INLINE void log_density_diag(const double *xt, const double *mu, const double *w, int spherical,
                             const double *log_norm, double *lp, size_t n_comp, size_t d, size_t n,
                             size_t ld) {
  size_t w_stride = spherical ? 1 : d;
  for (size_t t = 0; t < n; t += 2 * LANES) {
    vd q0[DIAG_BLOCK], q1[DIAG_BLOCK];
#pragma GCC unroll 4
    for (size_t c = 0; c < DIAG_BLOCK; c++) q0[c] = q1[c] = splat(0.0);
    for (size_t p = 0; p < d; p++) {
      vd x0 = load(xt + p * ld + t), x1 = load(xt + p * ld + t + LANES);
#pragma GCC unroll 4
      for (size_t c = 0; c < DIAG_BLOCK; c++) {
        if (c >= n_comp) break;
        double m = mu[c * d + p], wp = w[c * w_stride + (spherical ? 0 : p)];
        vd z0 = (x0 - m) * wp, z1 = (x1 - m) * wp;
        q0[c] = fmadd(z0, z0, q0[c]);
        q1[c] = fmadd(z1, z1, q1[c]);
      }
    }
#pragma GCC unroll 4
    for (size_t c = 0; c < DIAG_BLOCK; c++) {
      if (c >= n_comp) break;
      store(lp + c * ld + t, log_norm[c] - 0.5 * q0[c]);
      store(lp + c * ld + t + LANES, log_norm[c] - 0.5 * q1[c]);
    }
  }
}

/* lp (k x n) from log densities to weighted responsibilities; returns the
** weighted log-likelihood, or NAN when a row has no finite log density
** (the caller then takes the rows one at a time: tile (4); a NaN density,
** from W a overflowing to inf - inf, makes the sum NaN and goes there too).
** Each step is its own loop over the rows, with no chain from one vector
** of rows to the next, so the core overlaps many vectors' exp and log; top
** and sum (n each) are scratch. */
INLINE double responsibilities(double *lp, const double *w, double *top, double *sum, size_t k,
                               size_t n, size_t ld, double *log_map) {
  vd finite = (vd)(splat(0.0) == 0.0);
  for (size_t t = 0; t < n; t += LANES) {
    vd m = load(lp + t);
    for (size_t j = 1; j < k; j++) {
      vd v = load(lp + j * ld + t);
      m = vselect((vi)(v > m), v, m);
    }
    finite = (vd)((vi)finite & (vi)(m > -INFINITY) & (vi)(m < INFINITY));
    store(top + t, m);
  }
  if (!all_lanes((vi)finite)) return NAN;
  for (size_t t = 0; t < n; t += LANES) store(sum + t, splat(0.0));
  for (size_t j = 0; j < k; j++)
    for (size_t t = 0; t < n; t += LANES) {
      vd e = vexp_neg(load(lp + j * ld + t) - load(top + t));
      store(lp + j * ld + t, e);
      store(sum + t, load(sum + t) + e);
    }
  /* The largest share is exp(0) / s, so ln max_j p(j | x) = -ln s. */
  vd ll[NV], map[NV];
  EACH_V(h) ll[h] = map[h] = splat(0.0);
  for (size_t t = 0; t < n; t += STEP) EACH_V(h) {
      size_t u = t + h * LANES;
      vd s = load(sum + u), wu = load(w + u), lg = vlog_ge1(s);
      ll[h] = fmadd(wu, load(top + u) + lg, ll[h]);
      map[h] = fmadd(-wu, lg, map[h]);
      store(sum + u, wu / s);
    }
  for (size_t j = 0; j < k; j++)
    for (size_t t = 0; t < n; t += LANES)
      store(lp + j * ld + t, load(lp + j * ld + t) * load(sum + t));
  *log_map = step_sum(map);
  return step_sum(ll);
}

/* s2 (lower triangle, d x d) += sum_t ra_p[t] a_q[t], q <= p, in 2 x 2
** blocks of (p, q), one vector of each step at a time (the blocks' four
** sums stay in registers); a and ra have an even number of rows. */
INLINE void add_scatter(const double *a, const double *ra, double *s2, size_t d, const size_t *at,
                        size_t n_at, size_t ld) {
  for (size_t p = 0; p < d; p += 2) {
    const double *ra0 = ra + p * ld, *ra1 = ra0 + ld;
    for (size_t q = 0; q <= p; q += 2) {
      const double *a0 = a + q * ld, *a1 = a0 + ld;
      vd s00[NV], s01[NV], s10[NV], s11[NV];
      EACH_V(h) {
        vd x00 = splat(0.0), x01 = splat(0.0), x10 = splat(0.0), x11 = splat(0.0);
        for (size_t g = 0; g < n_at; g++) {
          size_t t = at[g] + h * LANES;
          vd r0 = load(ra0 + t), r1 = load(ra1 + t), v0 = load(a0 + t), v1 = load(a1 + t);
          x00 = fmadd(r0, v0, x00);
          x01 = fmadd(r0, v1, x01);
          x10 = fmadd(r1, v0, x10);
          x11 = fmadd(r1, v1, x11);
        }
        s00[h] = x00, s01[h] = x01, s10[h] = x10, s11[h] = x11;
      }
      s2[p * d + q] += step_sum(s00);
      if (q + 1 < p + 1) s2[p * d + q + 1] += step_sum(s01);
      if (p + 1 < d) {
        s2[(p + 1) * d + q] += step_sum(s10);
        s2[(p + 1) * d + q + 1] += step_sum(s11);
      }
    }
  }
}

/* The statistics of one component j -- nk, s1 and s2 -- from its weighted
** responsibilities r, over the steps at[0 .. n_at) where some r is not 0
** (the others would add exact zeros). */
INLINE double sum_steps(const double *v, const size_t *at, size_t n_at) {
  vd s[NV];
  EACH_V(h) s[h] = splat(0.0);
  for (size_t g = 0; g < n_at; g++) EACH_V(h) s[h] += load(v + at[g] + h * LANES);
  return step_sum(s);
}

INLINE void add_stats_full(const double *xt, const double *c, double *a, double *ra,
                           const double *r, gmm_stats *st, size_t j, size_t d, const size_t *at,
                           size_t n_at, size_t ld) {
  st->nk[j] += sum_steps(r, at, n_at);
  double *s1 = st->s1 + j * d;
  /* a = x - c and ra = r a in one sweep per feature, summing ra. */
  for (size_t p = 0; p < d; p++) {
    vd cp = splat(c[p]), s[NV];
    EACH_V(h) s[h] = splat(0.0);
    for (size_t g = 0; g < n_at; g++) EACH_V(h) {
        size_t t = at[g] + h * LANES;
        vd a_ = load(xt + p * ld + t) - cp, ra_ = load(r + t) * a_;
        store(a + p * ld + t, a_);
        store(ra + p * ld + t, ra_);
        s[h] += ra_;
      }
    s1[p] += step_sum(s);
  }
  add_scatter(a, ra, st->s2 + j * d * d, d, at, n_at, ld);
}

/* Up to SMALL_D features: every sum in registers, one vector of each step
** at a time. */
INLINE void add_stats_full_small(const double *xt, const double *c, const double *r, gmm_stats *st,
                                 size_t j, size_t d, const size_t *at, size_t n_at, size_t ld) {
  vd nk[NV], s1[SMALL_D][NV], s2[SMALL_D * SMALL_D][NV];
  EACH_V(h) {
    vd nk_ = splat(0.0), s1_[SMALL_D], s2_[SMALL_D * SMALL_D];
    for (size_t p = 0; p < d; p++) {
      s1_[p] = splat(0.0);
      for (size_t q = 0; q <= p; q++) s2_[p * d + q] = splat(0.0);
    }
    for (size_t g = 0; g < n_at; g++) {
      size_t t = at[g] + h * LANES;
      vd rt = load(r + t), a[SMALL_D], ra[SMALL_D];
      nk_ += rt;
      for (size_t p = 0; p < d; p++) {
        a[p] = load(xt + p * ld + t) - c[p];
        ra[p] = rt * a[p];
        s1_[p] += ra[p];
      }
      for (size_t p = 0; p < d; p++)
        for (size_t q = 0; q <= p; q++) s2_[p * d + q] = fmadd(ra[p], a[q], s2_[p * d + q]);
    }
    nk[h] = nk_;
    for (size_t p = 0; p < d; p++) {
      s1[p][h] = s1_[p];
      for (size_t q = 0; q <= p; q++) s2[p * d + q][h] = s2_[p * d + q];
    }
  }
  st->nk[j] += step_sum(nk);
  for (size_t p = 0; p < d; p++) {
    st->s1[j * d + p] += step_sum(s1[p]);
    for (size_t q = 0; q <= p; q++) st->s2[j * d * d + p * d + q] += step_sum(s2[p * d + q]);
  }
}

INLINE void add_stats_diag(const double *xt, const double *c, const double *r, gmm_stats *st,
                           size_t j, size_t d, const size_t *at, size_t n_at, size_t ld) {
  st->nk[j] += sum_steps(r, at, n_at);
  double *s1 = st->s1 + j * d, *s2 = st->s2 + j * d;
  for (size_t p = 0; p < d; p++) {
    vd cp = splat(c[p]), m1[NV], m2[NV];
    EACH_V(h) m1[h] = m2[h] = splat(0.0);
    for (size_t g = 0; g < n_at; g++) EACH_V(h) {
        size_t t = at[g] + h * LANES;
        vd x = load(xt + p * ld + t) - cp, rx = load(r + t) * x;
        m1[h] += rx;
        m2[h] = fmadd(rx, x, m2[h]);
      }
    s1[p] += step_sum(m1);
    s2[p] += step_sum(m2);
  }
}

/* The offsets of the steps in r[0 .. n) where some r is not 0, into at;
** returns their count. */
INLINE size_t active_steps(const double *r, size_t n, size_t *at) {
  size_t n_at = 0;
  for (size_t t = 0; t < n; t += STEP) {
    vi zero = (vi)(load(r + t) == 0.0);
    for (size_t h = 1; h < NV; h++) zero &= (vi)(load(r + t + h * LANES) == 0.0);
    if (!all_lanes(zero)) at[n_at++] = t;
  }
  return n_at;
}

/* xt[p][t .. t + LANES) = x[t .. t + LANES)[p] for the LANES features
** p0 .. p0 + LANES - 1 (x at row t, feature p0; xt at feature p0, row t):
** the rows are read in order, a vector each, and transposed in registers
** by rounds of two-vector shuffles. */
INLINE void transpose_block(const double *x, double *xt, size_t d, size_t ld) {
#if LANES == 8
  vd r0 = load(x), r1 = load(x + d), r2 = load(x + 2 * d), r3 = load(x + 3 * d);
  vd r4 = load(x + 4 * d), r5 = load(x + 5 * d), r6 = load(x + 6 * d), r7 = load(x + 7 * d);
  /* Rows i and i + 1 interleaved: their even features (e) and odd (o). */
#define EVEN(a, b) __builtin_shufflevector(a, b, 0, 8, 2, 10, 4, 12, 6, 14)
#define ODD(a, b)  __builtin_shufflevector(a, b, 1, 9, 3, 11, 5, 13, 7, 15)
  vd e01 = EVEN(r0, r1), o01 = ODD(r0, r1), e23 = EVEN(r2, r3), o23 = ODD(r2, r3);
  vd e45 = EVEN(r4, r5), o45 = ODD(r4, r5), e67 = EVEN(r6, r7), o67 = ODD(r6, r7);
  /* Four rows' features f and f + 4: fF_03 for rows 0-3, fF_47 for 4-7. */
#define LOW(a, b)  __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define HIGH(a, b) __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15)
  vd f0_03 = LOW(e01, e23), f2_03 = HIGH(e01, e23), f1_03 = LOW(o01, o23), f3_03 = HIGH(o01, o23);
  vd f0_47 = LOW(e45, e67), f2_47 = HIGH(e45, e67), f1_47 = LOW(o45, o67), f3_47 = HIGH(o45, o67);
  /* Feature f of all eight rows (the lower halves), and f + 4 (upper). */
#define FIRST(a, b)  __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define SECOND(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15)
  store(xt, FIRST(f0_03, f0_47));
  store(xt + ld, FIRST(f1_03, f1_47));
  store(xt + 2 * ld, FIRST(f2_03, f2_47));
  store(xt + 3 * ld, FIRST(f3_03, f3_47));
  store(xt + 4 * ld, SECOND(f0_03, f0_47));
  store(xt + 5 * ld, SECOND(f1_03, f1_47));
  store(xt + 6 * ld, SECOND(f2_03, f2_47));
  store(xt + 7 * ld, SECOND(f3_03, f3_47));
#undef EVEN
#undef ODD
#undef LOW
#undef HIGH
#undef FIRST
#undef SECOND
#elif LANES == 4
  vd r0 = load(x), r1 = load(x + d), r2 = load(x + 2 * d), r3 = load(x + 3 * d);
  vd e01 = __builtin_shufflevector(r0, r1, 0, 4, 2, 6), o01 = __builtin_shufflevector(r0, r1, 1, 5, 3, 7);
  vd e23 = __builtin_shufflevector(r2, r3, 0, 4, 2, 6), o23 = __builtin_shufflevector(r2, r3, 1, 5, 3, 7);
  store(xt, __builtin_shufflevector(e01, e23, 0, 1, 4, 5));
  store(xt + ld, __builtin_shufflevector(o01, o23, 0, 1, 4, 5));
  store(xt + 2 * ld, __builtin_shufflevector(e01, e23, 2, 3, 6, 7));
  store(xt + 3 * ld, __builtin_shufflevector(o01, o23, 2, 3, 6, 7));
#else
  vd r0 = load(x), r1 = load(x + d);
  store(xt, __builtin_shufflevector(r0, r1, 0, 2));
  store(xt + ld, __builtin_shufflevector(r0, r1, 1, 3));
#endif
}

/* xt[p][t] = x[t][p] for the n_rows rows, then row 0 again up to n: LANES
** rows at a time, LANES features at a time, and two features (d = 2, and
** four on the 8-lane copy) in one round of shuffles. */
INLINE void transpose(const double *x, double *xt, size_t d, size_t n_rows, size_t n, size_t ld) {
  size_t t = 0;
  if (d == 2) {
    for (; t + LANES <= n_rows; t += LANES) {
      vd lo = load(x + t * 2), hi = load(x + t * 2 + LANES);
#if LANES == 8
      store(xt + t, __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14));
      store(xt + ld + t, __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15));
#elif LANES == 4
      store(xt + t, __builtin_shufflevector(lo, hi, 0, 2, 4, 6));
      store(xt + ld + t, __builtin_shufflevector(lo, hi, 1, 3, 5, 7));
#else
      store(xt + t, __builtin_shufflevector(lo, hi, 0, 2));
      store(xt + ld + t, __builtin_shufflevector(lo, hi, 1, 3));
#endif
    }
#if LANES == 8
  } else if (d == 4) {
    /* Two rows a vector: features 0 and 1 (lo) or 2 and 3 (hi) of rows
    ** 0-3 and of rows 4-7, then each feature's eight rows. */
    for (; t + LANES <= n_rows; t += LANES) {
      vd r01 = load(x + t * 4), r23 = load(x + t * 4 + 8), r45 = load(x + t * 4 + 16),
         r67 = load(x + t * 4 + 24);
      vd lo03 = __builtin_shufflevector(r01, r23, 0, 4, 8, 12, 1, 5, 9, 13);
      vd hi03 = __builtin_shufflevector(r01, r23, 2, 6, 10, 14, 3, 7, 11, 15);
      vd lo47 = __builtin_shufflevector(r45, r67, 0, 4, 8, 12, 1, 5, 9, 13);
      vd hi47 = __builtin_shufflevector(r45, r67, 2, 6, 10, 14, 3, 7, 11, 15);
      store(xt + t, __builtin_shufflevector(lo03, lo47, 0, 1, 2, 3, 8, 9, 10, 11));
      store(xt + ld + t, __builtin_shufflevector(lo03, lo47, 4, 5, 6, 7, 12, 13, 14, 15));
      store(xt + 2 * ld + t, __builtin_shufflevector(hi03, hi47, 0, 1, 2, 3, 8, 9, 10, 11));
      store(xt + 3 * ld + t, __builtin_shufflevector(hi03, hi47, 4, 5, 6, 7, 12, 13, 14, 15));
    }
#endif
  } else if (d >= LANES) {
    for (; t + LANES <= n_rows; t += LANES) {
      size_t p = 0;
      for (; p + LANES <= d; p += LANES) transpose_block(x + t * d + p, xt + p * ld + t, d, ld);
      for (; p < d; p++)
        for (size_t i = t; i < t + LANES; i++) xt[p * ld + i] = x[i * d + p];
    }
  }
  for (size_t p = 0; p < d; p++) {
    double *col = xt + p * ld;
    for (size_t i = t; i < n_rows; i++) col[i] = x[i * d + p];
    for (size_t i = n_rows; i < n; i++) col[i] = x[p];
  }
}

/* Slices [from, to) of `parts` of the rows the next call reads, asked for
** into the outer caches: the kernel reads a tile's rows in one burst and
** then computes for a long time, so the hardware prefetchers, which run a
** little ahead of the reads, would leave the next burst waiting on memory.
** The densities ask for slices 0 .. k - 1, the statistics k .. 2k - 1. */
INLINE void prefetch_ahead(const gmm_tile *tile, size_t from, size_t to, size_t parts) {
  size_t lines = (tile->ahead_bytes + 63) / 64;
  const char *base = (const char *)tile->ahead;
  for (size_t i = lines * from / parts; i < lines * to / parts; i++)
    __builtin_prefetch(base + 64 * i, 0, 2);
}

/* The transposed tile and every component's log densities in tile->lp,
** for d features; d is a constant where densities_any inlines it for small
** d, so that the loops over features unroll. Rows past n_rows repeat row 0
** with weight 0, so their arithmetic is finite and adds nothing. */
INLINE void densities(const gmm_model *m, const double *x, const double *w, size_t n_rows, size_t n,
                      gmm_tile *tile, size_t d) {
  size_t k = (size_t)m->k, ld = tile->rows;
  gmm_cov_type type = gmm_cov_shape(m->covariance_type);
  transpose(x, tile->xt, d, n_rows, n, ld);
  if (w)
    memcpy(tile->w, w, n_rows * sizeof *w);
  else
    for (size_t t = 0; t < n_rows; t++) tile->w[t] = 1.0;
  for (size_t t = n_rows; t < n; t++) tile->w[t] = 0.0;
  /* Every step, for the centring before the densities. */
  size_t n_all = 0;
  for (size_t t = 0; t < n; t += STEP) tile->active[n_all++] = t;
  if (type == GMM_COV_DIAG || type == GMM_COV_SPHERICAL) {
    int spherical = type == GMM_COV_SPHERICAL;
    for (size_t j = 0; j < k; j += DIAG_BLOCK) {
      prefetch_ahead(tile, j, j + DIAG_BLOCK < k ? j + DIAG_BLOCK : k, 2 * k);
      const double *prec = m->prec_chol + (spherical ? j : j * d);
      log_density_diag(tile->xt, m->means + j * d, prec, spherical, m->log_norm + j,
                       tile->lp + j * ld, k - j, d, n, ld);
    }
    return;
  }
  for (size_t j = 0; j < k; j++) {
    prefetch_ahead(tile, j, j + 1, 2 * k);
    const double *mu = m->means + j * d;
    double *lp = tile->lp + j * ld;
    const double *prec = m->prec_chol + (type == GMM_COV_FULL ? j * d * d : 0);
    if (d <= SMALL_D) {
      log_density_full_small(tile->xt, mu, prec, m->log_norm[j], lp, d, n, ld);
    } else {
      centre(tile->xt, mu, tile->a, d, tile->active, n_all, ld);
      log_density_full(tile->a, prec, m->log_norm[j], lp, d, n, ld);
    }
  }
}

/* Every component's statistics from the responsibilities in tile->lp; d as
** for densities. */
INLINE void statistics(const gmm_model *m, const double *shift, gmm_tile *tile, gmm_stats *st,
                       size_t n, size_t d) {
  size_t k = (size_t)m->k, ld = tile->rows;
  gmm_cov_type shape = gmm_cov_shape(m->covariance_type);
  int full = shape == GMM_COV_FULL || shape == GMM_COV_TIED;
  for (size_t j = 0; j < k; j++) {
    prefetch_ahead(tile, k + j, k + j + 1, 2 * k);
    const double *c = shift + j * d, *r = tile->lp + j * ld;
    size_t n_at = active_steps(r, n, tile->active);
    if (n_at == 0) continue;
    if (full && d <= SMALL_D) {
      add_stats_full_small(tile->xt, c, r, st, j, d, tile->active, n_at, ld);
    } else if (full) {
      add_stats_full(tile->xt, c, tile->a, tile->ra, r, st, j, d, tile->active, n_at, ld);
    } else {
      add_stats_diag(tile->xt, c, r, st, j, d, tile->active, n_at, ld);
    }
  }
}

/* Calls FN(..., D) with D a constant for d = 1 .. SMALL_D. */
#define WITH_D(d, FN, ...)              \
  switch (d) {                          \
    case 1: FN(__VA_ARGS__, 1); break;  \
    case 2: FN(__VA_ARGS__, 2); break;  \
    case 3: FN(__VA_ARGS__, 3); break;  \
    case 4: FN(__VA_ARGS__, 4); break;  \
    default: FN(__VA_ARGS__, d); break; \
  }

/* The wide copies without x86 dispatch (WebAssembly, other CPUs) are not
** used: the baseline runs there. */
#if WIDE && !defined(GMM_TILE_DISPATCH)
__attribute__((unused))
#endif
INLINE int tile_pass(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                     const double *shift, gmm_tile *tile, gmm_stats *st, double *ll) {
  size_t d = (size_t)m->d;
  size_t n = (n_rows + GROUP_ROWS - 1) / GROUP_ROWS * GROUP_ROWS;
  WITH_D(d, densities, m, x, w, n_rows, n, tile)
  /* tile->ra is free until the statistics: scratch for the responsibilities. */
  double map;
  double total = responsibilities(tile->lp, tile->w, tile->ra, tile->ra + tile->rows, (size_t)m->k,
                                  n, tile->rows, &map);
  if (isnan(total)) return 0;
  *ll = total;
  tile->log_map = map;
  if (st) WITH_D(d, statistics, m, shift, tile, st, n)
  return 1;
}

#define TILE_PARAMS                                                                         \
  const gmm_model *m, const double *x, const double *w, size_t n_rows, const double *shift, \
      gmm_tile *tile, gmm_stats *st, double *ll

#if LANES == 8
#ifdef GMM_TILE_DISPATCH
__attribute__((target(TILE_TARGET))) int gmm_tile_pass_avx512f(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}
#endif
#elif LANES == 4
#ifdef GMM_TILE_DISPATCH
__attribute__((target(TILE_TARGET))) int gmm_tile_pass_avx2(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}
#endif

int gmm_tile_pass(TILE_PARAMS) {
#ifdef GMM_TILE_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return gmm_tile_pass_avx512f(m, x, w, n_rows, shift, tile, st, ll);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return gmm_tile_pass_avx2(m, x, w, n_rows, shift, tile, st, ll);
#endif
  return gmm_tile_pass_baseline(m, x, w, n_rows, shift, tile, st, ll);
}
#else
int gmm_tile_pass_baseline(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}
#endif
