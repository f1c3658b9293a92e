/*
** gmm_init.c -- initial responsibilities, as scikit-learn's GaussianMixture
** defines them for each init_params, turned straight into sufficient
** statistics so that no n x k matrix ever exists:
**
**   kmeans            k-means++ seeding then Lloyd iterations; each row is
**                     given wholly to its nearest centre;
**   k-means++         k-means++ seeding only; the k seed rows each own one
**                     component;
**   random            each row's responsibilities are k uniform draws,
**                     normalised;
**   random_from_data  k distinct rows drawn at random each own one component;
**   labels            each row is given wholly to its label's component (a
**                     label below 0: to none), mclust's start from a
**                     partition;
**   hc                the same, with the labels gmm_fit takes from the cut
**                     of mclust's hierarchical tree (gmm_hc.c).
**
** Rows of weight 0 are never chosen and contribute nothing. Every random
** choice comes from the PRNG stream of the initialisation, so restart i is
** the same whatever else runs.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

/* Lloyd iterations stop after this many passes or once the centres move
** less than KMEANS_TOL times the mean per-feature variance (scikit-learn's
** KMeans defaults). */
#define KMEANS_MAX_ITER 300
#define KMEANS_TOL      1e-4

static double sq_dist(const double *a, const double *b, int d) {
  double s = 0.0;
  for (int i = 0; i < d; i++) {
    double t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

static const double *row(const gmm_data *data, size_t i) {
  return data->x + i * (size_t)data->d;
}

/* Index of the nearest centre (lowest index on ties) and its squared
** distance. */
static int nearest(const double *x, const double *centres, int k, int d, double *dist) {
  int best = 0;
  double best_d = sq_dist(x, centres, d);
  for (int j = 1; j < k; j++) {
    double t = sq_dist(x, centres + (size_t)j * (size_t)d, d);
    if (t < best_d) {
      best_d = t;
      best = j;
    }
  }
  *dist = best_d;
  return best;
}

/* ---- passes over the rows, block by block (gmm_par.c) ----
** Every pass below writes one result per block into out (stride doubles
** apart); the caller adds them up in block order, so the thread count
** changes nothing. */

enum { MAX_TRIALS = 2 + 7 }; /* k-means++ candidates per centre; ln(GMM_MAX_K) < 7 */

typedef struct km_pass {
  const gmm_data *data;
  const gmm_par_work *par;
  int k;
  const double *centres; /* the current centres (k x d), or the one centre added */
  const double *shift;   /* d */
  float *closest;        /* n */
  double inv_scale;
  enum { POTENTIAL, SET_CLOSEST, LOWER_CLOSEST } closest_mode;
  const size_t *cand; /* the k-means++ candidates */
  int trials;
  double *out; /* n_blocks x stride (MAX_TRIALS) */
  size_t stride;
  size_t *far; /* n_blocks: the block's row farthest from its nearest centre */
  double *a;   /* n_workers x d */
  gmm_stats *st;
} km_pass;

static void block_range(const km_pass *c, int b, size_t *start, size_t *end) {
  gmm_par_rows(c->data->n, c->par->n_blocks, b, start, end);
}

/* out[b] = the block's total weight; out[b] + 1 = sum w |x - shift|^2. */
static void pass_weight_spread(void *ctx, int b, int worker) {
  (void)worker;
  km_pass *c = ctx;
  size_t start, end;
  block_range(c, b, &start, &end);
  double total = 0.0, spread = 0.0;
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(c->data, i);
    total += w;
    spread += w * sq_dist(row(c->data, i), c->shift, c->data->d);
  }
  c->out[(size_t)b * c->stride] = total;
  c->out[(size_t)b * c->stride + 1] = spread;
}

/* For the one centre c->centres: POTENTIAL: out[b] = sum w |x - c|^2;
** SET_CLOSEST: closest = |x - c|^2 inv_scale; LOWER_CLOSEST: closest = the
** smaller of that and closest; with both, out[b] = sum w closest. */
static void pass_closest(void *ctx, int b, int worker) {
  (void)worker;
  km_pass *c = ctx;
  size_t start, end;
  block_range(c, b, &start, &end);
  double pot = 0.0;
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(c->data, i), dist = sq_dist(row(c->data, i), c->centres, c->data->d);
    if (c->closest_mode == POTENTIAL) {
      pot += w * dist;
      continue;
    }
    if (c->closest_mode == SET_CLOSEST || dist * c->inv_scale < (double)c->closest[i])
      c->closest[i] = (float)(dist * c->inv_scale);
    pot += w * (double)c->closest[i];
  }
  c->out[(size_t)b * c->stride] = pot;
}

/* out[b + t] = the potential if candidate t became a centre. */
static void pass_candidates(void *ctx, int b, int worker) {
  (void)worker;
  km_pass *c = ctx;
  size_t start, end;
  block_range(c, b, &start, &end);
  double pot[MAX_TRIALS] = {0};
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(c->data, i);
    if (w == 0.0) continue;
    for (int t = 0; t < c->trials; t++) {
      double dist = sq_dist(row(c->data, i), row(c->data, c->cand[t]), c->data->d) * c->inv_scale;
      pot[t] += w * fmin(dist, (double)c->closest[i]);
    }
  }
  for (int t = 0; t < c->trials; t++) c->out[(size_t)b * c->stride + (size_t)t] = pot[t];
}

/* par->block[b]'s s1 = the sums around shift (k x d) and nk = the counts
** (k) of every row's nearest centre. */
static void pass_lloyd(void *ctx, int b, int worker) {
  (void)worker;
  km_pass *c = ctx;
  size_t start, end, dd = (size_t)c->data->d;
  block_range(c, b, &start, &end);
  double *sums = c->par->block[b].s1, *counts = c->par->block[b].nk;
  memset(sums, 0, (size_t)c->k * dd * sizeof *sums);
  memset(counts, 0, (size_t)c->k * sizeof *counts);
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(c->data, i);
    if (w == 0.0) continue;
    double dist;
    const double *x = row(c->data, i);
    int j = nearest(x, c->centres, c->k, c->data->d, &dist);
    counts[j] += w;
    double *s = sums + (size_t)j * dd;
    for (size_t p = 0; p < dd; p++) s[p] += w * (x[p] - c->shift[p]);
  }
}

/* far[b], out[b] = the block's row farthest from its nearest centre (the
** first on ties) and that distance (-1 when every weight is 0). */
static void pass_farthest(void *ctx, int b, int worker) {
  (void)worker;
  km_pass *c = ctx;
  size_t start, end, far = 0;
  block_range(c, b, &start, &end);
  double far_d = -1.0;
  for (size_t i = start; i < end; i++) {
    if (gmm_row_weight(c->data, i) == 0.0) continue;
    double dist;
    nearest(row(c->data, i), c->centres, c->k, c->data->d, &dist);
    if (dist > far_d) {
      far_d = dist;
      far = i;
    }
  }
  c->far[b] = far;
  c->out[(size_t)b * c->stride] = far_d;
}

/* par->block[b] = the statistics of every row given wholly to its nearest
** centre. */
static void pass_hard_stats(void *ctx, int b, int worker) {
  km_pass *c = ctx;
  size_t start, end;
  block_range(c, b, &start, &end);
  int d = c->data->d;
  double *a = c->a + (size_t)worker * (size_t)d;
  gmm_stats *st = &c->par->block[b];
  gmm_stats_zero(st);
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(c->data, i);
    if (w == 0.0) continue;
    double dist;
    const double *x = row(c->data, i);
    int j = nearest(x, c->centres, c->k, d, &dist);
    for (int p = 0; p < d; p++) a[p] = x[p] - c->shift[p];
    gmm_stats_add_row(st, j, w, a);
  }
}

static void run_pass(km_pass *c, gmm_block_fn fn) {
  gmm_par_run(c->par->n_blocks, c->par->n_workers, fn, c);
}

/* sum over blocks, in order, of out[b * stride + offset]. */
static double block_sum(const km_pass *c, size_t offset) {
  double s = 0.0;
  for (int b = 0; b < c->par->n_blocks; b++) s += c->out[(size_t)b * c->stride + offset];
  return s;
}

/* A row drawn with probability proportional to w_i * mass[i] (mass NULL:
** proportional to w_i). block_total[b] is block b's sum of those products,
** total their sum in block order. Blocks wholly below the target are
** skipped by their totals; rounding can leave the scan short of the
** target, and then the last row with positive mass is taken. */
static size_t draw_row(const km_pass *c, const float *mass, const double *block_total, double total,
                       gmm_rng *rng) {
  const gmm_data *data = c->data;
  double target = gmm_rng_uniform(rng) * total, cum = 0.0;
  for (int b = 0; b < c->par->n_blocks; b++) {
    if (cum + block_total[b] <= target) {
      cum += block_total[b];
      continue;
    }
    size_t start, end;
    block_range(c, b, &start, &end);
    double in_block = 0.0;
    for (size_t i = start; i < end; i++) {
      double p = gmm_row_weight(data, i) * (mass ? (double)mass[i] : 1.0);
      if (p > 0.0 && cum + (in_block += p) > target) return i;
    }
    cum += block_total[b];
  }
  for (size_t i = data->n; i-- > 0;)
    if (gmm_row_weight(data, i) * (mass ? (double)mass[i] : 1.0) > 0.0) return i;
  return 0;
}

/* Greedy k-means++ (Arthur and Vassilvitskii 2007, with scikit-learn's
** 2 + floor(ln k) candidates per centre, keeping the one that lowers the
** potential most). Writes k centres. closest (n floats) holds each row's
** squared distance to its nearest centre, divided by the mean squared
** distance to the first centre so that floats hold it without overflow;
** floats, not doubles, keep the scratch at half a feature's worth per row.
** bw and bpot take n_blocks doubles. */
static void kmeans_pp(km_pass *c, gmm_rng *rng, double *centres, size_t *chosen, double *bw,
                      double *bpot) {
  const gmm_data *data = c->data;
  int k = c->k, nb = c->par->n_blocks;
  size_t dd = (size_t)data->d;
  run_pass(c, pass_weight_spread);
  for (int b = 0; b < nb; b++) bw[b] = c->out[(size_t)b * c->stride];
  double total_w = block_sum(c, 0);
  size_t first = draw_row(c, NULL, bw, total_w, rng);
  memcpy(centres, row(data, first), dd * sizeof *centres);
  if (chosen) chosen[0] = first;
  c->centres = centres;
  c->closest_mode = POTENTIAL;
  run_pass(c, pass_closest);
  double pot = block_sum(c, 0);
  c->inv_scale = pot > 0.0 && isfinite(pot) ? total_w / pot : 1.0;
  c->closest_mode = SET_CLOSEST;
  run_pass(c, pass_closest);
  int trials = 2 + (int)log((double)k);
  for (int cc = 1; cc < k; cc++) {
    for (int b = 0; b < nb; b++) bpot[b] = c->out[(size_t)b * c->stride];
    pot = block_sum(c, 0);
    size_t cand[MAX_TRIALS];
    /* All mass zero means every row already sits on a centre: any
    ** positive-weight row is as good as another. */
    for (int t = 0; t < trials; t++)
      cand[t] =
          pot > 0.0 ? draw_row(c, c->closest, bpot, pot, rng) : draw_row(c, NULL, bw, total_w, rng);
    c->cand = cand;
    c->trials = trials;
    run_pass(c, pass_candidates);
    int best = 0;
    double best_pot = block_sum(c, 0);
    for (int t = 1; t < trials; t++) {
      double p = block_sum(c, (size_t)t);
      if (p < best_pot) {
        best_pot = p;
        best = t;
      }
    }
    double *centre = centres + (size_t)cc * dd;
    memcpy(centre, row(data, cand[best]), dd * sizeof *centre);
    if (chosen) chosen[cc] = cand[best];
    c->centres = centre;
    c->closest_mode = LOWER_CLOSEST;
    run_pass(c, pass_closest);
  }
  c->centres = centres;
}

/* Lloyd iterations from the given centres; sums are taken around shift so
** that data far from the origin keeps its precision. The blocks' sums and
** counts live in par->block's s1 and nk; sums holds k x d + k doubles. */
static void kmeans_lloyd(km_pass *c, double *centres, double *sums) {
  int k = c->k, d = c->data->d, nb = c->par->n_blocks;
  size_t dd = (size_t)d, kd = (size_t)k * dd;
  c->centres = centres;
  /* Tolerance: KMEANS_TOL times the mean per-feature (weighted) variance. */
  run_pass(c, pass_weight_spread);
  double tol = KMEANS_TOL * block_sum(c, 1) / block_sum(c, 0) / (double)d;
  double *counts = sums + kd;
  for (int it = 0; it < KMEANS_MAX_ITER; it++) {
    run_pass(c, pass_lloyd);
    memset(sums, 0, (kd + (size_t)k) * sizeof *sums);
    for (int b = 0; b < nb; b++) {
      for (size_t i = 0; i < kd; i++) sums[i] += c->par->block[b].s1[i];
      for (int j = 0; j < k; j++) counts[j] += c->par->block[b].nk[j];
    }
    double shift_total = 0.0;
    for (int j = 0; j < k; j++) {
      double *cj = centres + (size_t)j * dd;
      if (counts[j] == 0.0) {
        /* An empty cluster's centre moves onto the row farthest from its
        ** nearest centre, as scikit-learn's k-means does. */
        run_pass(c, pass_farthest);
        int far_b = 0;
        for (int b = 1; b < nb; b++)
          if (c->out[(size_t)b * c->stride] > c->out[(size_t)far_b * c->stride]) far_b = b;
        memcpy(cj, row(c->data, c->far[far_b]), dd * sizeof *cj);
        shift_total += INFINITY; /* a relocation always asks for another pass */
        continue;
      }
      for (size_t p = 0; p < dd; p++) {
        double next = c->shift[p] + sums[(size_t)j * dd + p] / counts[j];
        double t = next - cj[p];
        shift_total += t * t;
        cj[p] = next;
      }
    }
    if (shift_total <= tol) break;
  }
}

/* Statistics of the hard assignment of every row to its nearest centre. */
static void stats_from_centres(km_pass *c, const double *centres, gmm_stats *st) {
  c->centres = centres;
  run_pass(c, pass_hard_stats);
  gmm_stats_zero(st);
  for (int b = 0; b < c->par->n_blocks; b++) gmm_stats_merge(st, &c->par->block[b]);
}

/* Each chosen row owns one component with responsibility 1. */
static void stats_from_rows(const gmm_data *data, const size_t *chosen, int k, const double *shift,
                            double *a, gmm_stats *st) {
  for (int j = 0; j < k; j++) {
    const double *x = row(data, chosen[j]);
    for (int p = 0; p < data->d; p++) a[p] = x[p] - shift[p];
    gmm_stats_add_row(st, j, 1.0, a);
  }
}

/* k distinct rows of positive weight, uniformly (rejection: the caller has
** checked that at least k such rows exist). */
static void draw_distinct_rows(const gmm_data *data, int k, gmm_rng *rng, size_t *chosen) {
  for (int j = 0; j < k;) {
    size_t i = (size_t)gmm_rng_below(rng, data->n);
    if (gmm_row_weight(data, i) == 0.0) continue;
    int seen = 0;
    for (int t = 0; t < j && !seen; t++) seen = chosen[t] == i;
    if (!seen) chosen[j++] = i;
  }
}

static void stats_random(const gmm_data *data, int k, const double *shift, gmm_rng *rng, double *a,
                         double *resp, gmm_stats *st) {
  for (size_t i = 0; i < data->n; i++) {
    /* Draw even for rows of weight 0 so that a row's draws do not depend on
    ** the weights of the rows before it. */
    double total = 0.0;
    for (int j = 0; j < k; j++) total += resp[j] = gmm_rng_uniform(rng);
    double w = gmm_row_weight(data, i);
    if (w == 0.0 || total == 0.0) continue;
    const double *x = row(data, i);
    for (int p = 0; p < data->d; p++) a[p] = x[p] - shift[p];
    for (int j = 0; j < k; j++) gmm_stats_add_row(st, j, w * resp[j] / total, a);
  }
}

/* Each row of positive weight with a label j >= 0 wholly to component j. */
static void stats_from_labels(const gmm_data *data, const double *shift, double *a,
                              gmm_stats *st) {
  for (size_t i = 0; i < data->n; i++) {
    double w = gmm_row_weight(data, i);
    if (w == 0.0 || data->labels[i] < 0) continue;
    const double *x = row(data, i);
    for (int p = 0; p < data->d; p++) a[p] = x[p] - shift[p];
    gmm_stats_add_row(st, data->labels[i], w, a);
  }
}

gmm_status gmm_init_stats(const gmm_data *data, const gmm_options *opt, int init_index,
                          const double *shift, gmm_stats *st, const gmm_par_work *par,
                          const gmm_allocator *al, char *err, size_t err_len) {
  int k = opt->k, d = data->d, nb = par->n_blocks;
  size_t kk = (size_t)k, dd = (size_t)d, nbb = (size_t)nb;
  gmm_rng rng;
  gmm_rng_seed(&rng, opt->seed, (uint64_t)init_index);
  gmm_stats_zero(st);

  /* One scratch block: a (a row's worth per worker), resp (k), centres
  ** (k d), Lloyd's sums and counts (k d + k); per block: results
  ** (MAX_TRIALS), weight and potential (2); then chosen (k) and far
  ** (n_blocks); closest (n floats) for the methods that seed with
  ** k-means++. */
  int seeds_pp = opt->init == GMM_INIT_KMEANS || opt->init == GMM_INIT_KMEANS_PP;
  size_t n_a = (size_t)par->n_workers * dd;
  double *scratch = gmm_alloc_array(al, n_a + kk + 2 * kk * dd + kk + nbb * (MAX_TRIALS + 2),
                                    sizeof(double));
  size_t *chosen = gmm_alloc_array(al, kk + nbb, sizeof(size_t));
  float *closest = seeds_pp ? gmm_alloc_array(al, data->n, sizeof(float)) : NULL;
  if (!scratch || !chosen || (seeds_pp && !closest)) {
    gmm_release(al, scratch);
    gmm_release(al, chosen);
    gmm_release(al, closest);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  double *a = scratch, *resp = a + n_a, *centres = resp + kk, *sums = centres + kk * dd;
  double *out = sums + kk * dd + kk, *bw = out + nbb * MAX_TRIALS, *bpot = bw + nbb;
  km_pass c = {.data = data,
               .par = par,
               .k = k,
               .shift = shift,
               .closest = closest,
               .out = out,
               .stride = MAX_TRIALS,
               .far = chosen + kk,
               .a = a};

  switch (opt->init) {
    case GMM_INIT_KMEANS:
      kmeans_pp(&c, &rng, centres, NULL, bw, bpot);
      kmeans_lloyd(&c, centres, sums);
      stats_from_centres(&c, centres, st);
      break;
    case GMM_INIT_KMEANS_PP:
      kmeans_pp(&c, &rng, centres, chosen, bw, bpot);
      stats_from_rows(data, chosen, k, shift, a, st);
      break;
    case GMM_INIT_RANDOM: stats_random(data, k, shift, &rng, a, resp, st); break;
    case GMM_INIT_RANDOM_FROM_DATA:
      draw_distinct_rows(data, k, &rng, chosen);
      stats_from_rows(data, chosen, k, shift, a, st);
      break;
    case GMM_INIT_LABELS:
    case GMM_INIT_HC: stats_from_labels(data, shift, a, st); break;
  }
  gmm_release(al, scratch);
  gmm_release(al, chosen);
  gmm_release(al, closest);
  return GMM_OK;
}
