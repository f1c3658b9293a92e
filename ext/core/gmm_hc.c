/*
** gmm_hc.c -- mclust's model-based agglomerative clustering: the tree of
** R mclust 6.0.0's hc(x, modelName = "VVV", use = "SVD") and its cuts
** hclass(tree, k) (Banfield & Raftery 1993, Biometrics 49:803-821; Fraley
** 1998, SIAM J. Sci. Comput. 20:270-281; the SVD transformation of Scrucca
** & Raftery 2015, ADAC 9:447-460). Written from mclust's R code (hc,
** hcVVV, hclass, traceW) and the description of its Fortran (hcvvv,
** vvvtij, mclrup, det2mc); see gmm_hc.h for the interface.
**
** 1. The transformation (use = "SVD"). Every column is centred and scaled
**    as R's scale() does (the mean summed in long double, sd with n - 1),
**    the scaled rows S are rotated onto the right singular vectors of S and
**    coordinate j is divided by sqrt(sigma_j). Here V and sigma come from
**    the eigen-decomposition of S'S (gmm_sym_eigen), not from LAPACK's SVD.
**    Degenerate data, where R gives NaN or stops:
**      - a column whose values are all equal (sd 0; R's scale() makes it
**        NaN and hc drops it: dropCols) is left out, as in R;
**      - directions whose eigenvalue is at most HC_RANK_TOL times the
**        largest (rank-deficient data: R divides by the square root of a
**        singular value that is rounding noise) are left out;
**      - with no column left (every column constant) the rows are one
**        zero coordinate: every merge then costs the same and ties decide
**        (below);
**      - n = 1 gives a tree without merges (R stops).
**    Like hc(), the agglomeration starts from singletons: hc's default
**    partition = dupPartition(data) is never passed on to hcVVV, so equal
**    rows are not grouped beforehand (they merge early, at 2 log 1/2).
** 2. The agglomeration (hcVVV's defaults alpha = 1, beta = 1). A group of
**    l rows keeps sqrt(l) times its mean, the trace of its scatter W and
**    the upper triangular R with R'R = W (min(l - 1, p) rows, p the
**    transformed coordinates), updated by Givens rotations in mclust's
**    order. Its term is
**      l log(beta (tr W + alpha) / l)                          l <= p
**      l log(|W / l| + beta (tr W + alpha) / l)                 l > p
**    (the trace form when tr W = 0 or |W| = 0), with alpha = the trace of
**    the scatter of z / sqrt(n p); a merge costs the merged term minus the
**    two terms. Two singletons always take the trace form, as in mclust,
**    also when p = 1. As in mclust, the next merge's factor is recomputed
**    when it does not involve the group just merged, and the merged term is
**    then its cost plus the two terms (not the term evaluated afresh).
**    The groups live in slots 0 .. g - 1; all g (g - 1) / 2 merge costs are
**    kept, packed column by column (pair a < b at b (b - 1) / 2 + a). The
**    merge taken is the cheapest pair, ties going to the last in that packed
**    order (mclust's scan with .le.); the merged group takes the lower slot
**    and the last slot moves into the upper one; then only the costs of
**    pairs with the merged group are recomputed. mclust rescans all costs
**    to find the next merge (cubic time); here each column keeps its own
**    minimum and only columns whose minimum changed are rescanned, which
**    picks the same pair.
** 3. The tree records each merge as mclust's hc object does: the two
**    groups' first rows, smaller first. hclass(tree, k) applies the first
**    n - k merges and numbers the groups by their first row.
**
** The arithmetic follows mclust's operation for operation (the order of
** sums, the scalings sqrt(n_i / n_ij), the sign of each rotated row) so
** that near-ties fall the same way; BLAS-level rounding (R's OpenBLAS, and
** LAPACK's SVD, which agrees with the eigenvectors here to about 1e-15 /
** the relative gap between singular values) is not reproduced bit for bit.
** Pairs whose costs are equal in exact arithmetic but not in R's rounding
** (translated copies of a configuration, in data with many ties) can
** therefore merge in another order than mclust's. Same input, same tree.
*/
#include "gmm_hc.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Directions with eigenvalue <= HC_RANK_TOL * the largest are null. */
#define HC_RANK_TOL 1e-11
/* sqrt(1/2) as mclust writes it (.7071067811865476d0). */
#define HC_RTHALF 0.7071067811865476

struct gmm_hc_tree {
  gmm_allocator alloc;
  size_t n;
  int pair[]; /* 2 (n - 1): merge s joins the groups first at rows pair[2s] < pair[2s + 1] */
};

/* ---- the transformation ---- */

/* The scaled column c of x (n rows, d columns) into s (stride ds), as R's
** scale(): returns 0 when the column is constant (or its sd is not a
** positive number), and leaves s alone then. */
static int scale_column(const double *x, size_t n, int d, int c, double *s, int ds) {
  size_t dd = (size_t)d, stride = (size_t)ds;
  double first = x[(size_t)c], maxabs = 0.0;
  int constant = 1;
  for (size_t i = 0; i < n; i++) {
    double v = x[i * dd + (size_t)c];
    if (v != first) constant = 0;
    if (fabs(v) > maxabs) maxabs = fabs(v);
  }
  if (constant || n < 2) return 0;
  /* A power of two keeps every operation below exact relative to R's, and
  ** keeps squares and sums finite for columns near the ends of the range. */
  int e = 0;
  if (maxabs > 0x1p480 || maxabs < 0x1p-480) (void)frexp(maxabs, &e);
  long double sum = 0.0L;
  for (size_t i = 0; i < n; i++) sum += (long double)ldexp(x[i * dd + (size_t)c], -e);
  double mean = (double)(sum / (long double)n);
  long double ss = 0.0L;
  for (size_t i = 0; i < n; i++) {
    double v = ldexp(x[i * dd + (size_t)c], -e) - mean;
    s[i * stride] = v;
    ss += (long double)(v * v);
  }
  double sd = sqrt((double)ss / (double)(n - 1));
  if (!(sd > 0.0) || !isfinite(sd)) return 0;
  for (size_t i = 0; i < n; i++) s[i * stride] /= sd;
  return 1;
}

/* z (n x *p, allocated here) = the transformed rows. */
static gmm_status transform(const double *x, size_t n, int d, const gmm_allocator *a, double **z,
                            int *p) {
  size_t dd = (size_t)d;
  *z = NULL;
  *p = 0;
  double *s = gmm_alloc_array(a, n, dd * sizeof(double));
  if (!s) return GMM_ENOMEM;
  int dk = 0; /* the columns kept, packed to the left of s's rows */
  for (int c = 0; c < d; c++) dk += scale_column(x, n, d, c, s + dk, d);
  size_t k = (size_t)dk;
  double *w = dk ? gmm_alloc_array(a, 2 * k + 1, k * sizeof(double)) : NULL;
  if (dk && !w) {
    gmm_release(a, s);
    return GMM_ENOMEM;
  }
  int q = 0;
  double *cp = w, *vec = w ? w + k * k : NULL, *val = w ? w + 2 * k * k : NULL;
  if (dk) {
    for (size_t i = 0; i < k; i++)
      for (size_t j = 0; j <= i; j++) {
        long double acc = 0.0L;
        for (size_t r = 0; r < n; r++) acc += (long double)s[r * dd + i] * s[r * dd + j];
        cp[i * k + j] = (double)acc;
      }
    (void)gmm_sym_eigen(cp, dk, val, vec); /* unconverged: still a usable rotation */
    size_t top = n < k ? n : k;
    while ((size_t)q < top && val[q] > 0.0 && val[q] > HC_RANK_TOL * val[0]) q++;
  }
  size_t pq = q ? (size_t)q : 1;
  double *out = gmm_alloc_array(a, n, pq * sizeof(double));
  if (!out) {
    gmm_release(a, w);
    gmm_release(a, s);
    return GMM_ENOMEM;
  }
  if (!q) memset(out, 0, n * pq * sizeof(double));
  for (size_t j = 0; j < (size_t)q; j++) {
    double inv = 1.0 / sqrt(sqrt(val[j])); /* 1 / sqrt(sigma_j) */
    for (size_t r = 0; r < n; r++) {
      double acc = 0.0;
      for (size_t c = 0; c < k; c++) acc += s[r * dd + c] * vec[c * k + j];
      out[r * pq + j] = acc * inv;
    }
  }
  gmm_release(a, w);
  gmm_release(a, s);
  *z = out;
  *p = (int)pq;
  return GMM_OK;
}

/* hcVVV's alpha: traceW(z / sqrt(n p)) (mclust's mcltrw), at least eps. */
static double hc_alpha(const double *z, size_t n, int p) {
  size_t pp = (size_t)p;
  double root = sqrt((double)n * (double)p), fac = 1.0 / sqrt((double)n), ss = 0.0;
  for (size_t j = 0; j < pp; j++) {
    double u = 0.0;
    for (size_t i = 0; i < n; i++) u += fac * (z[i * pp + j] / root);
    double col = 0.0;
    for (size_t i = 0; i < n; i++) {
      double v = z[i * pp + j] / root - fac * u;
      col += v * v;
    }
    ss += col;
  }
  return ss > DBL_EPSILON ? ss : DBL_EPSILON;
}

/* ---- Givens rotations and mclust's row update ---- */

/* (a, b) -> (r, 0): returns c and s, a becomes r. */
static void rotg(double *a, double b, double *c, double *s) {
  double aa = *a;
  if (b == 0.0) {
    *c = 1.0;
    *s = 0.0;
    return;
  }
  if (aa == 0.0) {
    *c = 0.0;
    *s = 1.0;
    *a = b;
    return;
  }
  double scale = fabs(aa) > fabs(b) ? fabs(aa) : fabs(b);
  double as = aa / scale, bs = b / scale;
  double r = scale * sqrt(as * as + bs * bs);
  if ((fabs(aa) > fabs(b) ? aa : b) < 0.0) r = -r;
  *c = aa / r;
  *s = b / r;
  *a = r;
}

static void rot(int m, double *x, double *y, double c, double s) {
  for (int i = 0; i < m; i++) {
    double t = c * x[i] + s * y[i];
    y[i] = c * y[i] - s * x[i];
    x[i] = t;
  }
}

/* mclust's mclrup: the upper triangular m x m factor r (row stride ld) of a
** group of l - 1 rows takes the row v (m values, overwritten) of its l-th:
** while the factor has fewer than m rows, v becomes row l - 1 and is
** rotated against the rows above; then v is rotated into the full factor. */
static void row_update(int l, int m, double *v, double *r, int ld) {
  if (l == 1) return;
  size_t st = (size_t)ld;
  int k = l - 1;
  if (k <= m) {
    double *rk = r + (size_t)(k - 1) * st;
    memcpy(rk, v, (size_t)m * sizeof *v);
    for (int i = 0; i + 1 < k; i++) {
      double *ri = r + (size_t)i * st, c, s;
      rotg(ri + i, rk[i], &c, &s);
      rot(m - i - 1, ri + i + 1, rk + i + 1, c, s);
    }
  } else {
    for (int i = 0; i + 1 < m; i++) {
      double *ri = r + (size_t)i * st, c, s;
      rotg(ri + i, v[i], &c, &s);
      rot(m - i - 1, ri + i + 1, v + i + 1, c, s);
    }
    double c, s;
    rotg(r + (size_t)(m - 1) * st + (size_t)(m - 1), v[m - 1], &c, &s);
  }
}

/* ---- the agglomeration ---- */

typedef struct hc_state {
  size_t n;
  int p;
  double alpha, ablog;
  double *x;     /* n x p: storage rows, first the transformed data */
  double *d;     /* the packed merge costs */
  double *cmin;  /* per column b: the least cost of pairs (a, b), a < b */
  int *carg;     /* its a, the last among equals */
  int *head;     /* per slot: the storage row of sqrt(size) times its mean */
  int *rfirst;   /* per slot: the storage row of R's row 0, linked through next */
  int *next;     /* per storage row: the one holding R's following row */
  int *size;     /* per slot: rows in the group */
  int *first;    /* per slot: the group's first row */
  double *tr;    /* per slot: tr W */
  double *term;  /* per slot: the group's term */
  double *r;     /* p x p: the factor of the pending merge */
  double *u;     /* p x p: a candidate's factor */
  double *sbest; /* p x p: the best candidate's factor among a merged group's pairs */
  double *v, *w, *mean; /* p each */
  int *gather;   /* 2 p + 1 */
} hc_state;

/* The pending merge: slots i < j, what the merged group will hold, and the
** weights of the two groups' scaled means. */
typedef struct hc_merge {
  int i, j, size;
  double cost, tr, term, wi, wj;
} hc_merge;

static size_t packed(int a, int b) {
  return (size_t)b * (size_t)(b - 1) / 2 + (size_t)a;
}

static double dot(const double *v, int m) {
  double s = 0.0;
  for (int k = 0; k < m; k++) s += v[k] * v[k];
  return s;
}

static int factor_rows(const hc_state *h, int size) {
  return size - 1 < h->p ? size - 1 : h->p;
}

/* vvvtij: the term of a group of l rows with factor r (times s = 1/sqrt(l)
** on the diagonal) and trace tr. */
static double group_term(const hc_state *h, int l, const double *r, double s, double tr) {
  int p = h->p;
  double rl = (double)l, t;
  if (l <= p) {
    t = log(1.0 * (tr + h->alpha) / rl);
  } else if (tr == 0.0) {
    t = log(h->alpha * 1.0 / rl);
  } else {
    double det = 0.0;
    for (int k = 0; k < p; k++) {
      double q = r[(size_t)k * (size_t)p + (size_t)k] * s;
      if (q == 0.0) {
        det = -DBL_MAX;
        break;
      }
      det += log(fabs(q));
    }
    if (det != -DBL_MAX) det = 2.0 * det;
    if (det == -DBL_MAX)
      t = log(1.0 * (tr + h->alpha) / rl);
    else if (det <= 0.0)
      t = log(exp(det) + 1.0 * (tr + h->alpha) / rl);
    else
      t = log(1.0 + exp(-det) * (1.0 * (tr + h->alpha) / rl)) + det;
  }
  return rl * t;
}

/* dst (p x p) = the rows of slot g's factor from storage. */
static void load_factor(const hc_state *h, int g, double *dst) {
  size_t p = (size_t)h->p;
  int row = h->rfirst[g];
  for (int t = 0; t < factor_rows(h, h->size[g]); t++) {
    memcpy(dst + (size_t)t * p + (size_t)t, h->x + (size_t)row * p + (size_t)t,
           (p - (size_t)t) * sizeof(double));
    row = h->next[row];
  }
}

/* Rotates the rows of slot g's factor into u, the factor of a group of
** l - 1 rows, as mclust merges two groups: row t of g's factor updates u's
** trailing block from (t, t). */
static void add_factor(const hc_state *h, int g, int l, double *u) {
  size_t p = (size_t)h->p;
  int row = h->rfirst[g];
  for (int t = 0; t < factor_rows(h, h->size[g]); t++) {
    size_t m = p - (size_t)t;
    memcpy(h->w, h->x + (size_t)row * p + (size_t)t, m * sizeof(double));
    row_update(l, (int)m, h->w, u + (size_t)t * p + (size_t)t, h->p);
    row = h->next[row];
  }
}

static void copy_factor(const hc_state *h, int rows, const double *src, double *dst) {
  size_t p = (size_t)h->p;
  for (int t = 0; t < rows; t++)
    memcpy(dst + (size_t)t * p + (size_t)t, src + (size_t)t * p + (size_t)t,
           (p - (size_t)t) * sizeof(double));
}

/* The cost of merging the merged group in slot g (factor h->r) with slot o;
** u receives the factor of the union, *m its statistics. */
static double cost_with_merged(hc_state *h, int g, int o, double *u, hc_merge *m) {
  int p = h->p, ni = h->size[g], nj = h->size[o], nij = ni + nj;
  const double *xi = h->x + (size_t)h->head[g] * (size_t)p;
  const double *xj = h->x + (size_t)h->head[o] * (size_t)p;
  double ri = (double)ni, rij = (double)nij, qij = 1.0 / rij, si, sj, sij, tr, termj;
  copy_factor(h, factor_rows(h, ni), h->r, u);
  if (nj == 1) {
    si = sqrt(ri * qij);
    sj = sqrt(qij);
    sij = sj;
    for (int k = 0; k < p; k++) h->v[k] = si * xj[k] - sj * xi[k];
    tr = h->tr[g] + dot(h->v, p);
    termj = h->ablog;
  } else {
    add_factor(h, o, ni + 1, u);
    si = sqrt(ri * qij);
    sj = sqrt((double)nj * qij);
    sij = sqrt(qij);
    for (int k = 0; k < p; k++) h->v[k] = si * xj[k] - sj * xi[k];
    tr = (h->tr[g] + h->tr[o]) + dot(h->v, p);
    termj = h->term[o];
  }
  row_update(nij, p, h->v, u, p);
  double tm = group_term(h, nij, u, sij, tr);
  double cost = tm - (h->term[g] + termj);
  m->size = nij;
  m->tr = tr;
  m->term = tm;
  m->cost = cost;
  if (o < g) {
    m->i = o;
    m->j = g;
    m->wi = sj;
    m->wj = si;
  } else {
    m->i = g;
    m->j = o;
    m->wi = si;
    m->wj = sj;
  }
  return cost;
}

/* The merge of slots i < j, neither just merged, into h->r and *m, with
** its cost taken from the table (mclust recomputes the factor and takes the
** merged term as cost + terms). */
static void prepare_merge(hc_state *h, int i, int j, double cost, hc_merge *m) {
  int p = h->p, ni = h->size[i], nj = h->size[j], nij;
  const double *xi = h->x + (size_t)h->head[i] * (size_t)p;
  const double *xj = h->x + (size_t)h->head[j] * (size_t)p;
  double si, sj, tr, termi, termj;
  if (nj == 1) {
    termj = h->ablog;
    if (ni == 1) {
      for (int k = 0; k < p; k++) h->v[k] = (xi[k] - xj[k]) * HC_RTHALF;
      tr = dot(h->v, p);
      memcpy(h->r, h->v, (size_t)p * sizeof(double));
      nij = 2;
      si = sj = HC_RTHALF;
      termi = h->ablog;
    } else {
      load_factor(h, i, h->r);
      nij = ni + 1;
      double qij = 1.0 / (double)nij;
      si = sqrt((double)ni * qij);
      sj = sqrt(qij);
      for (int k = 0; k < p; k++) h->v[k] = sj * xi[k] - si * xj[k];
      tr = h->tr[i] + dot(h->v, p);
      row_update(nij, p, h->v, h->r, p);
      termi = h->term[i];
    }
  } else {
    load_factor(h, j, h->r);
    termj = h->term[j];
    double rj = (double)nj;
    if (ni == 1) {
      nij = nj + 1;
      double qij = 1.0 / (double)nij;
      si = sqrt(qij);
      sj = sqrt(rj * qij);
      for (int k = 0; k < p; k++) h->v[k] = sj * xi[k] - si * xj[k];
      tr = h->tr[j] + dot(h->v, p);
      termi = h->ablog;
    } else {
      add_factor(h, i, nj + 1, h->r);
      nij = ni + nj;
      double qij = 1.0 / (double)nij;
      si = sqrt((double)ni * qij);
      sj = sqrt(rj * qij);
      for (int k = 0; k < p; k++) h->v[k] = sj * xi[k] - si * xj[k];
      tr = (h->tr[i] + h->tr[j]) + dot(h->v, p);
      termi = h->term[i];
    }
    row_update(nij, p, h->v, h->r, p);
  }
  m->i = i;
  m->j = j;
  m->size = nij;
  m->cost = cost;
  m->tr = tr;
  m->term = cost + (termi + termj);
  m->wi = si;
  m->wj = sj;
}

/* Column b's least cost, the last among equals. */
static void column_scan(hc_state *h, int b) {
  const double *col = h->d + packed(0, b);
  double best = col[0];
  int arg = 0;
  for (int a = 1; a < b; a++)
    if (col[a] <= best) {
      best = col[a];
      arg = a;
    }
  h->cmin[b] = best;
  h->carg[b] = arg;
}

/* The cost of pair (a, b) is now c. */
static void column_update(hc_state *h, int a, int b, double c) {
  if (h->carg[b] == a) {
    if (c <= h->cmin[b])
      h->cmin[b] = c;
    else
      column_scan(h, b);
  } else if (c < h->cmin[b] || (c == h->cmin[b] && a > h->carg[b])) {
    h->cmin[b] = c;
    h->carg[b] = a;
  }
}

/* The cheapest pair among g slots, the last in packed order among equals. */
static void cheapest(const hc_state *h, int g, int *i, int *j) {
  int b = 1;
  for (int c = 2; c < g; c++)
    if (h->cmin[c] <= h->cmin[b]) b = c;
  *i = h->carg[b];
  *j = b;
}

/* Carries out merge m among g slots (g - 1 remain). */
static void apply_merge(hc_state *h, int g, const hc_merge *m) {
  size_t p = (size_t)h->p;
  int i = m->i, j = m->j, last = g - 1;
  const double *xi = h->x + (size_t)h->head[i] * p, *xj = h->x + (size_t)h->head[j] * p;
  for (size_t k = 0; k < p; k++) h->mean[k] = m->wi * xi[k] + m->wj * xj[k];
  /* The storage rows the merged group may use: j's head, then the rows of
  ** both factors. */
  int n_rows = 0;
  h->gather[n_rows++] = h->head[j];
  for (int s = 0; s < 2; s++) {
    int slot = s ? j : i, row = h->rfirst[slot];
    for (int t = 0; t < factor_rows(h, h->size[slot]); t++) {
      h->gather[n_rows++] = row;
      row = h->next[row];
    }
  }
  int first = h->first[i] < h->first[j] ? h->first[i] : h->first[j];
  if (j != last) {
    h->head[j] = h->head[last];
    h->rfirst[j] = h->rfirst[last];
    h->size[j] = h->size[last];
    h->first[j] = h->first[last];
    h->tr[j] = h->tr[last];
    h->term[j] = h->term[last];
    double *d = h->d;
    for (int a = 0; a < j; a++) d[packed(a, j)] = d[packed(a, last)];
    column_scan(h, j);
    for (int b = j + 1; b < last; b++) {
      d[packed(j, b)] = d[packed(b, last)];
      column_update(h, j, b, d[packed(j, b)]);
    }
  }
  int rows = factor_rows(h, m->size);
  for (int t = 0; t < rows; t++) {
    int row = h->gather[t];
    memcpy(h->x + (size_t)row * p + (size_t)t, h->r + (size_t)t * p + (size_t)t,
           (p - (size_t)t) * sizeof(double));
    h->next[row] = t + 1 < rows ? h->gather[t + 1] : -1;
  }
  h->rfirst[i] = rows ? h->gather[0] : -1;
  h->size[i] = m->size;
  h->first[i] = first;
  h->tr[i] = m->tr;
  h->term[i] = m->term;
  memcpy(h->x + (size_t)h->head[i] * p, h->mean, p * sizeof(double));
}

/* The cost of merging singletons a < b. */
static double singleton_cost(hc_state *h, int a, int b, double *tr, double *term) {
  int p = h->p;
  const double *xa = h->x + (size_t)a * (size_t)p, *xb = h->x + (size_t)b * (size_t)p;
  for (int k = 0; k < p; k++) h->v[k] = (xa[k] - xb[k]) * HC_RTHALF;
  *tr = dot(h->v, p);
  *term = 2.0 * log(1.0 * (*tr + h->alpha) / 2.0);
  return *term - (h->ablog + h->ablog);
}

static void agglomerate(hc_state *h, int *pair) {
  int n = (int)h->n, p = h->p;
  for (int g = 0; g < n; g++) {
    h->head[g] = g;
    h->rfirst[g] = -1;
    h->next[g] = -1;
    h->size[g] = 1;
    h->first[g] = g;
    h->tr[g] = 0.0;
    h->term[g] = h->ablog;
  }
  for (int b = 1; b < n; b++) {
    double *col = h->d + packed(0, b), tr, term;
    for (int a = 0; a < b; a++) col[a] = singleton_cost(h, a, b, &tr, &term);
    column_scan(h, b);
  }
  hc_merge m, best;
  int i, j;
  cheapest(h, n, &i, &j);
  m.i = i;
  m.j = j;
  m.size = 2;
  m.cost = singleton_cost(h, i, j, &m.tr, &m.term);
  memcpy(h->r, h->v, (size_t)p * sizeof(double));
  m.wi = m.wj = HC_RTHALF;
  for (int g = n, s = 0; g > 1; g--, s++) {
    pair[2 * s] = h->first[m.i] < h->first[m.j] ? h->first[m.i] : h->first[m.j];
    pair[2 * s + 1] = h->first[m.i] < h->first[m.j] ? h->first[m.j] : h->first[m.i];
    apply_merge(h, g, &m);
    if (g == 2) break;
    /* The costs of the merged group's pairs, in packed order. */
    int mg = m.i;
    double top = DBL_MAX;
    best = m;
    for (int o = 0; o < g - 1; o++) {
      if (o == mg) continue;
      hc_merge c;
      double cost = cost_with_merged(h, mg, o, h->u, &c);
      if (o < mg) {
        h->d[packed(o, mg)] = cost;
      } else {
        h->d[packed(mg, o)] = cost;
        column_update(h, mg, o, cost);
      }
      if (cost <= top) {
        top = cost;
        best = c;
        copy_factor(h, factor_rows(h, c.size), h->u, h->sbest);
      }
    }
    if (mg > 0) column_scan(h, mg);
    cheapest(h, g - 1, &i, &j);
    if (i == mg || j == mg) {
      m = best;
      copy_factor(h, factor_rows(h, m.size), h->sbest, h->r);
    } else {
      prepare_merge(h, i, j, h->d[packed(i, j)], &m);
    }
  }
}

/* ---- the interface ---- */

static gmm_status fail(gmm_hc_tree *t, gmm_status rc, char *err, size_t err_len) {
  gmm_hc_free(t);
  if (rc == GMM_ENOMEM)
    return gmm_errorf(err, err_len, rc, "out of memory for the hierarchical clustering");
  return rc;
}

gmm_status gmm_hc_build(const double *x, size_t n, int d, const gmm_allocator *a,
                        gmm_hc_tree **out, char *err, size_t err_len) {
  *out = NULL;
  if (err && err_len) err[0] = 0;
  if (n < 1 || n > (size_t)INT_MAX)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the hierarchical clustering needs between 1 and %d rows, provided %zu",
                      INT_MAX, n);
  if (d < 1)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the hierarchical clustering needs at least 1 feature, provided %d", d);
  for (size_t i = 0; i < n * (size_t)d; i++)
    if (!isfinite(x[i]))
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "the hierarchical clustering needs finite values; row %zu has a missing "
                        "or infinite one",
                        i / (size_t)d);
  size_t n_pairs = n - 1;
  if (n_pairs > (SIZE_MAX - sizeof(gmm_hc_tree)) / (2 * sizeof(int)))
    return fail(NULL, GMM_ENOMEM, err, err_len);
  gmm_hc_tree *t = a->alloc(a->ctx, sizeof(gmm_hc_tree) + 2 * n_pairs * sizeof(int));
  if (!t) return fail(NULL, GMM_ENOMEM, err, err_len);
  t->alloc = *a;
  t->n = n;
  if (n == 1) {
    *out = t;
    return GMM_OK;
  }
  if (n_pairs > SIZE_MAX / n) return fail(t, GMM_ENOMEM, err, err_len);
  hc_state h;
  memset(&h, 0, sizeof h);
  h.n = n;
  gmm_status rc = transform(x, n, d, a, &h.x, &h.p);
  if (rc != GMM_OK) return fail(t, rc, err, err_len);
  size_t p = (size_t)h.p, nn = n;
  h.d = gmm_alloc_array(a, n * n_pairs / 2, sizeof(double));
  double *dw = gmm_alloc_array(a, 3 * nn + 3 * p * p + 3 * p, sizeof(double));
  int *iw = gmm_alloc_array(a, 6 * nn + 2 * p + 1, sizeof(int));
  if (!h.d || !dw || !iw) {
    gmm_release(a, h.d);
    gmm_release(a, dw);
    gmm_release(a, iw);
    gmm_release(a, h.x);
    return fail(t, GMM_ENOMEM, err, err_len);
  }
  h.cmin = dw;
  h.tr = dw + nn;
  h.term = dw + 2 * nn;
  h.r = dw + 3 * nn;
  h.u = h.r + p * p;
  h.sbest = h.u + p * p;
  h.v = h.sbest + p * p;
  h.w = h.v + p;
  h.mean = h.w + p;
  memset(h.r, 0, 3 * p * p * sizeof(double));
  h.carg = iw;
  h.head = iw + nn;
  h.rfirst = iw + 2 * nn;
  h.next = iw + 3 * nn;
  h.size = iw + 4 * nn;
  h.first = iw + 5 * nn;
  h.gather = iw + 6 * nn;
  h.alpha = hc_alpha(h.x, n, h.p);
  h.ablog = log(1.0 * h.alpha);
  agglomerate(&h, t->pair);
  gmm_release(a, h.d);
  gmm_release(a, dw);
  gmm_release(a, iw);
  gmm_release(a, h.x);
  *out = t;
  return GMM_OK;
}

void gmm_hc_cut(const gmm_hc_tree *t, int k, int *labels) {
  size_t n = t->n;
  if (k < 1) k = 1;
  if ((size_t)k > n) k = (int)n;
  /* labels[r] = a row before r in r's group, or r for its first row. */
  for (size_t r = 0; r < n; r++) labels[r] = (int)r;
  for (size_t s = 0; s < n - (size_t)k; s++) labels[t->pair[2 * s + 1]] = t->pair[2 * s];
  int next = 0;
  for (size_t r = 0; r < n; r++) labels[r] = labels[r] == (int)r ? next++ : labels[labels[r]];
}

size_t gmm_hc_rows(const gmm_hc_tree *t) {
  return t->n;
}

void gmm_hc_merge(const gmm_hc_tree *t, size_t s, int *a, int *b) {
  *a = t->pair[2 * s];
  *b = t->pair[2 * s + 1];
}

void gmm_hc_free(gmm_hc_tree *t) {
  if (!t) return;
  gmm_allocator a = t->alloc;
  a.release(a.ctx, t);
}
