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
**  (3) Sums over rows are kept in LANES partial sums and reduced in a fixed
**      order, and no floating-point contraction is used (the Makefile
**      passes -ffp-contract=off), so the result is the same bits for any
**      thread count, and the same bits from the AVX2 and AVX-512 clones the
**      runtime dispatch picks between. The baseline (gmm_tile_narrow.c:
**      2 lanes, for x86-64 without AVX2 and other architectures) keeps two
**      partial sums instead, so its last bits can differ from theirs.
**  (4) A row whose every log density is -inf makes the kernel return 0
**      without touching st, and so does a NaN density (W (x - mu)
**      overflowing to inf - inf): the caller redoes that tile row at a
**      time, whose rules cover both.
**  (5) exp and log are computed here, vectorised, to within a few ulp of
**      libm's over the ranges used: exp on [-708, 0] (below, 0), log on
**      [1, 1024] (a sum of at most k <= 1024 shares, the largest 1).
**  (6) A component's statistics skip the groups of PAIR_ROWS rows whose
**      weighted responsibilities are all exactly 0: their terms would add
**      exact zeros, so the sums are the same bits without them.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

/* Lanes per vector: 4 here, where the AVX2 and AVX-512 clones are built;
** gmm_tile_narrow.c builds this file again with 2, the width of SSE2 and
** NEON registers, for the baseline (GCC spills 4-lane vectors there). */
#ifndef GMM_TILE_LANES
#define GMM_TILE_LANES 4
#endif
#define LANES GMM_TILE_LANES
#define WIDE  (LANES == 4)

/* Vectors of LANES doubles (and 64-bit integers for the bit tricks of exp
** and log); GCC and Clang split them into whatever the target has. Their
** alignment is a double's, so they load from any row. */
typedef double vd __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double))));
typedef long long vi
    __attribute__((vector_size(LANES * sizeof(long long)), aligned(sizeof(double))));

#define INLINE static inline __attribute__((always_inline))

/* Runtime dispatch: the kernel is compiled once per instruction set
** (gmm_tile_pass_avx512f, _avx2 here, _baseline in gmm_tile_narrow.c) and
** gmm_tile_pass picks the best the CPU runs: tile (3). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(GMM_NO_DISPATCH)
#define GMM_TILE_DISPATCH 1
#endif

/* Loads and stores through a may_alias vector type of a double's
** alignment. */
typedef double vd_mem
    __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double)), may_alias));

INLINE vd load(const double *p) {
  return *(const vd_mem *)p;
}

#if WIDE
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

/* mask ? a : b, mask lanes all ones or all zeros. */
INLINE vd vselect(vi mask, vd a, vd b) {
  return (vd)(((vi)a & mask) | ((vi)b & ~mask));
}

/* A fixed order of the lanes' sum: tile (3). */
INLINE double hsum(vd v) {
#if WIDE
  return (v[0] + v[1]) + (v[2] + v[3]);
#else
  return v[0] + v[1];
#endif
}

INLINE int all_lanes(vi mask) {
  long long all = -1;
  for (int l = 0; l < LANES; l++) all &= mask[l];
  return all != 0;
}

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
  vd t = x * LOG2E + ROUND_MAGIC;
  vd n = t - ROUND_MAGIC;
  vd r = (x - n * LN2_HI) - n * LN2_LO; /* |r| <= ln(2) / 2 */
  /* Taylor to r^13 (the remainder is below 2^-56 relative on |r| <= 0.35),
  ** evaluated by Estrin's scheme: four levels of products instead of a
  ** chain of thirteen, so that the core overlaps more of the work. */
  vd r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  vd p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6.0);
  vd p45 = 1.0 / 24.0 + r * (1.0 / 120.0), p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
  vd p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
  vd p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
  vd p1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
  vd p03 = p01 + r2 * p23, p47 = p45 + r2 * p67, p811 = p89 + r2 * p1011;
  vd p813 = p811 + r4 * p1213;
  vd p = (p03 + r4 * p47) + r8 * p813;
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
  vd q01 = 1.0 / 3.0 + g * (1.0 / 5.0), q23 = 1.0 / 7.0 + g * (1.0 / 9.0);
  vd q45 = 1.0 / 11.0 + g * (1.0 / 13.0), q67 = 1.0 / 15.0 + g * (1.0 / 17.0);
  vd q89 = 1.0 / 19.0 + g * (1.0 / 21.0);
  vd q03 = q01 + g2 * q23, q47 = q45 + g2 * q67, q8 = q89 + g2 * (1.0 / 23.0);
  vd p = (q03 + g4 * q47) + g8 * q8;
  vd log_m = 2.0 * f + (2.0 * f) * (f2 * p);
  return e * LN2_HI + (e * LN2_LO + log_m);
}

/* ---- the tile's scratch ---- */

/* Rows the tile's arrays hold at most: a power of two dividing
** GMM_CHUNK_ROWS, fewer for wide rows and many components so that the
** arrays stay near the core (64 KiB), but at least TILE_MIN_ROWS so that the
** sums over rows stay long. Depends on k and d only: tile (3). */
#define TILE_BYTES    ((size_t)64 << 10)
#define TILE_MIN_ROWS 64
#define GROUP_ROWS    (4 * LANES)
#define PAIR_ROWS     (2 * LANES)

#if WIDE
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
  /* Then the list of active pairs of lane groups: one offset per 4 rows,
  ** a pair of the narrowest (2-lane) groups. */
  size_t n_doubles = tile_doubles_per_row(k, d) * t->rows + t->rows / 4;
  t->buffer = gmm_alloc_array(a, n_doubles, sizeof(double));
  if (!t->buffer) return GMM_ENOMEM;
  size_t dp = d_padded(d) * t->rows;
  t->xt = t->buffer;
  t->a = t->xt + dp;
  t->ra = t->a + dp;
  t->lp = t->ra + dp;
  t->w = t->lp + (size_t)k * t->rows;
  t->active = (size_t *)(t->w + t->rows);
  /* The odd row of a and ra (d odd) is the zero row the 2 x 2 blocks pair
  ** the last feature with; it is never written again. */
  memset(t->buffer, 0, 3 * dp * sizeof(double));
  return GMM_OK;
}

void gmm_tile_free(gmm_tile *t, const gmm_allocator *a) {
  gmm_release(a, t->buffer);
  t->buffer = NULL;
}
#endif

/* ---- the kernel ---- */

/* a[p][t] = xt[p][t] - c[p] for every feature p and the rows t of the
** given pairs of lane groups (offsets in `at`). */
INLINE void centre(const double *xt, const double *c, double *a, size_t d, const size_t *at,
                   size_t n_at, size_t ld) {
  for (size_t p = 0; p < d; p++) {
    vd cp = splat(c[p]);
    for (size_t g = 0; g < n_at; g++)
      for (size_t t = at[g]; t < at[g] + PAIR_ROWS; t += LANES)
        store(a + p * ld + t, load(xt + p * ld + t) - cp);
  }
}

/* lp[0..n) = log_norm - q / 2, q = |W a|^2 with W lower triangular (d x d,
** row-major): z_i = sum_{p <= i} W_ip a_p, for two rows of W and two groups
** of lanes at a time (four independent chains of additions). */
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
        z0 += w0[p] * ap;
        z1 += w1[p] * ap;
        z0_ += w0[p] * ap_;
        z1_ += w1[p] * ap_;
      }
      z1 += w1[i + 1] * load(a + (i + 1) * ld + t);
      z1_ += w1[i + 1] * load(a + (i + 1) * ld + t + LANES);
      q += z0 * z0 + z1 * z1;
      q_ += z0_ * z0_ + z1_ * z1_;
    }
    if (i < d) {
      const double *w0 = w + i * d;
      vd z0 = splat(0.0), z0_ = splat(0.0);
      for (size_t p = 0; p <= i; p++) {
        z0 += w0[p] * load(a + p * ld + t);
        z0_ += w0[p] * load(a + p * ld + t + LANES);
      }
      q += z0 * z0;
      q_ += z0_ * z0_;
    }
    store(lp + t, log_norm - 0.5 * q);
    store(lp + t + LANES, log_norm - 0.5 * q_);
  }
}

/* Up to SMALL_D features, the full-covariance kernel keeps a group of
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
      for (size_t p = 0; p <= i; p++) z += w[i * d + p] * a[p];
      q += z * z;
    }
    store(lp + t, log_norm - 0.5 * q);
  }
}

/* The same for a diagonal W (one factor per feature, or one for all when
** spherical): q = sum_p (w_p (x_p - mu_p))^2, for DIAG_BLOCK components at
** a time (each row's features are loaded once for all of them) and two
** groups of lanes. mu, w and lp point at the block's first component. */
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
        q0[c] += z0 * z0;
        q1[c] += z1 * z1;
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
** Each step is its own loop over the rows, with no chain from one group of
** lanes to the next, so the core overlaps many groups' exp and log; top
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
  vd ll0 = splat(0.0), ll1 = splat(0.0), map0 = splat(0.0), map1 = splat(0.0);
  for (size_t t = 0; t < n; t += 2 * LANES) {
    vd s0 = load(sum + t), s1 = load(sum + t + LANES);
    vd w0 = load(w + t), w1 = load(w + t + LANES);
    vd lg0 = vlog_ge1(s0), lg1 = vlog_ge1(s1);
    ll0 += w0 * (load(top + t) + lg0);
    ll1 += w1 * (load(top + t + LANES) + lg1);
    map0 -= w0 * lg0;
    map1 -= w1 * lg1;
    store(sum + t, w0 / s0);
    store(sum + t + LANES, w1 / s1);
  }
  for (size_t j = 0; j < k; j++)
    for (size_t t = 0; t < n; t += LANES)
      store(lp + j * ld + t, load(lp + j * ld + t) * load(sum + t));
  *log_map = hsum(map0 + map1);
  return hsum(ll0 + ll1);
}

/* s2 (lower triangle, d x d) += sum_t ra_p[t] a_q[t], q <= p, in 2 x 2
** blocks of (p, q); a and ra have an even number of rows. */
INLINE void add_scatter(const double *a, const double *ra, double *s2, size_t d, const size_t *at,
                        size_t n_at, size_t ld) {
  for (size_t p = 0; p < d; p += 2) {
    const double *ra0 = ra + p * ld, *ra1 = ra0 + ld;
    for (size_t q = 0; q <= p; q += 2) {
      const double *a0 = a + q * ld, *a1 = a0 + ld;
      vd s00 = splat(0.0), s01 = splat(0.0), s10 = splat(0.0), s11 = splat(0.0);
      for (size_t g = 0; g < n_at; g++) {
        size_t t = at[g];
        vd r0 = load(ra0 + t), r1 = load(ra1 + t), x0 = load(a0 + t), x1 = load(a1 + t);
        vd r0_ = load(ra0 + t + LANES), r1_ = load(ra1 + t + LANES);
        vd x0_ = load(a0 + t + LANES), x1_ = load(a1 + t + LANES);
        s00 += r0 * x0 + r0_ * x0_;
        s01 += r0 * x1 + r0_ * x1_;
        s10 += r1 * x0 + r1_ * x0_;
        s11 += r1 * x1 + r1_ * x1_;
      }
      s2[p * d + q] += hsum(s00);
      if (q + 1 < p + 1) s2[p * d + q + 1] += hsum(s01);
      if (p + 1 < d) {
        s2[(p + 1) * d + q] += hsum(s10);
        s2[(p + 1) * d + q + 1] += hsum(s11);
      }
    }
  }
}

/* The statistics of one component j -- nk, s1 and s2 -- from its weighted
** responsibilities r, over the pairs of lane groups at[0 .. n_at) where some
** r is not 0 (the others would add exact zeros). */
INLINE vd sum_pairs(const double *v, const size_t *at, size_t n_at) {
  vd s = splat(0.0);
  for (size_t g = 0; g < n_at; g++) s += load(v + at[g]) + load(v + at[g] + LANES);
  return s;
}

INLINE void add_stats_full(const double *xt, const double *c, double *a, double *ra,
                           const double *r, gmm_stats *st, size_t j, size_t d, const size_t *at,
                           size_t n_at, size_t ld) {
  st->nk[j] += hsum(sum_pairs(r, at, n_at));
  double *s1 = st->s1 + j * d;
  /* a = x - c and ra = r a in one sweep per feature, summing ra. */
  for (size_t p = 0; p < d; p++) {
    vd cp = splat(c[p]), s = splat(0.0);
    for (size_t g = 0; g < n_at; g++) {
      size_t t = at[g];
      vd a0 = load(xt + p * ld + t) - cp, a1 = load(xt + p * ld + t + LANES) - cp;
      vd r0 = load(r + t) * a0, r1 = load(r + t + LANES) * a1;
      store(a + p * ld + t, a0);
      store(a + p * ld + t + LANES, a1);
      store(ra + p * ld + t, r0);
      store(ra + p * ld + t + LANES, r1);
      s += r0 + r1;
    }
    s1[p] += hsum(s);
  }
  add_scatter(a, ra, st->s2 + j * d * d, d, at, n_at, ld);
}

INLINE void add_stats_full_small(const double *xt, const double *c, const double *r, gmm_stats *st,
                                 size_t j, size_t d, const size_t *at, size_t n_at, size_t ld) {
  vd nk = splat(0.0), s1[SMALL_D], s2[SMALL_D * SMALL_D];
  for (size_t p = 0; p < d; p++) {
    s1[p] = splat(0.0);
    for (size_t q = 0; q <= p; q++) s2[p * d + q] = splat(0.0);
  }
  for (size_t g = 0; g < n_at; g++)
    for (size_t t = at[g]; t < at[g] + PAIR_ROWS; t += LANES) {
      vd rt = load(r + t), a[SMALL_D], ra[SMALL_D];
      nk += rt;
      for (size_t p = 0; p < d; p++) {
        a[p] = load(xt + p * ld + t) - c[p];
        ra[p] = rt * a[p];
        s1[p] += ra[p];
      }
      for (size_t p = 0; p < d; p++)
        for (size_t q = 0; q <= p; q++) s2[p * d + q] += ra[p] * a[q];
    }
  st->nk[j] += hsum(nk);
  for (size_t p = 0; p < d; p++) {
    st->s1[j * d + p] += hsum(s1[p]);
    for (size_t q = 0; q <= p; q++) st->s2[j * d * d + p * d + q] += hsum(s2[p * d + q]);
  }
}

INLINE void add_stats_diag(const double *xt, const double *c, const double *r, gmm_stats *st,
                           size_t j, size_t d, const size_t *at, size_t n_at, size_t ld) {
  st->nk[j] += hsum(sum_pairs(r, at, n_at));
  double *s1 = st->s1 + j * d, *s2 = st->s2 + j * d;
  for (size_t p = 0; p < d; p++) {
    vd m1 = splat(0.0), m2 = splat(0.0);
    for (size_t g = 0; g < n_at; g++) {
      size_t t = at[g];
      vd x = load(xt + p * ld + t) - c[p], x_ = load(xt + p * ld + t + LANES) - c[p];
      vd rx = load(r + t) * x, rx_ = load(r + t + LANES) * x_;
      m1 += rx + rx_;
      m2 += rx * x + rx_ * x_;
    }
    s1[p] += hsum(m1);
    s2[p] += hsum(m2);
  }
}

/* The offsets of the pairs of lane groups in r[0 .. n) where some r is not
** 0, into at; returns their count. */
INLINE size_t active_pairs(const double *r, size_t n, size_t *at) {
  size_t n_at = 0;
  for (size_t t = 0; t < n; t += PAIR_ROWS)
    if (!all_lanes((vi)(load(r + t) == 0.0) & (vi)(load(r + t + LANES) == 0.0))) at[n_at++] = t;
  return n_at;
}

/* xt[p][t] = x[t][p] for the n_rows rows, then row 0 again up to n. Two
** and four features go four rows at a time through vector shuffles. */
INLINE void transpose(const double *x, double *xt, size_t d, size_t n_rows, size_t n, size_t ld) {
  size_t t = 0;
#if WIDE
  if (d == 2) {
    for (; t + LANES <= n_rows; t += LANES) {
      vd r01 = load(x + t * 2), r23 = load(x + t * 2 + LANES);
      store(xt + t, __builtin_shufflevector(r01, r23, 0, 2, 4, 6));
      store(xt + ld + t, __builtin_shufflevector(r01, r23, 1, 3, 5, 7));
    }
  } else if (d == 4) {
    for (; t + LANES <= n_rows; t += LANES) {
      vd r0 = load(x + t * 4), r1 = load(x + t * 4 + 4), r2 = load(x + t * 4 + 8),
         r3 = load(x + t * 4 + 12);
      vd lo01 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5);
      vd lo23 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5);
      vd hi01 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
      vd hi23 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
      store(xt + t, __builtin_shufflevector(lo01, lo23, 0, 1, 4, 5));
      store(xt + ld + t, __builtin_shufflevector(lo01, lo23, 2, 3, 6, 7));
      store(xt + 2 * ld + t, __builtin_shufflevector(hi01, hi23, 0, 1, 4, 5));
      store(xt + 3 * ld + t, __builtin_shufflevector(hi01, hi23, 2, 3, 6, 7));
    }
  }
#else
  if (d == 2) {
    for (; t + LANES <= n_rows; t += LANES) {
      vd r0 = load(x + t * 2), r1 = load(x + t * 2 + 2);
      store(xt + t, __builtin_shufflevector(r0, r1, 0, 2));
      store(xt + ld + t, __builtin_shufflevector(r0, r1, 1, 3));
    }
  }
#endif
  for (size_t p = 0; p < d; p++) {
    double *col = xt + p * ld;
    for (size_t i = t; i < n_rows; i++) col[i] = x[i * d + p];
    for (size_t i = n_rows; i < n; i++) col[i] = x[p];
  }
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
  /* Every pair of lane groups, for the centring before the densities. */
  size_t n_all = 0;
  for (size_t t = 0; t < n; t += PAIR_ROWS) tile->active[n_all++] = t;
  if (type == GMM_COV_DIAG || type == GMM_COV_SPHERICAL) {
    int spherical = type == GMM_COV_SPHERICAL;
    for (size_t j = 0; j < k; j += DIAG_BLOCK) {
      const double *prec = m->prec_chol + (spherical ? j : j * d);
      log_density_diag(tile->xt, m->means + j * d, prec, spherical, m->log_norm + j,
                       tile->lp + j * ld, k - j, d, n, ld);
    }
    return;
  }
  for (size_t j = 0; j < k; j++) {
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
    const double *c = shift + j * d, *r = tile->lp + j * ld;
    size_t n_at = active_pairs(r, n, tile->active);
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

/* The wide copy without x86 dispatch (WebAssembly, other CPUs) runs the
** baseline only: nothing calls its tile_pass. */
#if WIDE && !defined(GMM_TILE_DISPATCH)
__attribute__((unused))
#endif
INLINE int tile_pass(const gmm_model *m, const double *x, const double *w, size_t n_rows,
                     const double *shift, gmm_tile *tile, gmm_stats *st, double *ll) {
  size_t d = (size_t)m->d;
  /* Whole groups of GROUP_ROWS rows (the loops take up to four lane groups
  ** at a time). */
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

#if WIDE
#ifdef GMM_TILE_DISPATCH
__attribute__((target("avx2"))) int gmm_tile_pass_avx2(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}

__attribute__((target("avx512f"))) int gmm_tile_pass_avx512f(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}
#endif

int gmm_tile_pass(TILE_PARAMS) {
#ifdef GMM_TILE_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return gmm_tile_pass_avx512f(m, x, w, n_rows, shift, tile, st, ll);
  if (__builtin_cpu_supports("avx2"))
    return gmm_tile_pass_avx2(m, x, w, n_rows, shift, tile, st, ll);
#endif
  return gmm_tile_pass_baseline(m, x, w, n_rows, shift, tile, st, ll);
}
#else
int gmm_tile_pass_baseline(TILE_PARAMS) {
  return tile_pass(m, x, w, n_rows, shift, tile, st, ll);
}
#endif
