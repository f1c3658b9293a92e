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
**   random_from_data  k distinct rows drawn at random each own one component.
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

/* A row drawn with probability proportional to w_i * mass[i] (mass NULL:
** proportional to w_i), by one scan of the cumulative sum. total is the sum
** of those products. Rounding can leave the scan short of the target: then
** the last row with positive mass is taken. */
static size_t draw_row(const gmm_data *data, const float *mass, double total, gmm_rng *rng) {
  double target = gmm_rng_uniform(rng) * total;
  double cum = 0.0;
  size_t last = 0;
  for (size_t i = 0; i < data->n; i++) {
    double p = gmm_row_weight(data, i) * (mass ? (double)mass[i] : 1.0);
    if (p > 0.0) {
      cum += p;
      last = i;
      if (cum > target) return i;
    }
  }
  return last;
}

/* Greedy k-means++ (Arthur and Vassilvitskii 2007, with scikit-learn's
** 2 + floor(ln k) candidates per centre, keeping the one that lowers the
** potential most). Writes k centres. closest (n floats) is scratch: each
** row's squared distance to its nearest centre, divided by the mean squared
** distance to the first centre so that floats hold it without overflow;
** floats, not doubles, keep the scratch at half a feature's worth per row. */
static void kmeans_pp(const gmm_data *data, int k, gmm_rng *rng, double *centres, float *closest,
                      size_t *chosen) {
  int d = data->d;
  size_t dd = (size_t)d;
  double total_w = 0.0;
  for (size_t i = 0; i < data->n; i++) total_w += gmm_row_weight(data, i);
  size_t first = draw_row(data, NULL, total_w, rng);
  memcpy(centres, row(data, first), dd * sizeof *centres);
  if (chosen) chosen[0] = first;
  double pot = 0.0;
  for (size_t i = 0; i < data->n; i++)
    pot += gmm_row_weight(data, i) * sq_dist(row(data, i), centres, d);
  double inv_scale = pot > 0.0 && isfinite(pot) ? total_w / pot : 1.0;
  pot = 0.0;
  for (size_t i = 0; i < data->n; i++) {
    closest[i] = (float)(sq_dist(row(data, i), centres, d) * inv_scale);
    pot += gmm_row_weight(data, i) * (double)closest[i];
  }
  int trials = 2 + (int)log((double)k);
  enum { MAX_TRIALS = 2 + 7 }; /* ln(GMM_MAX_K) < 7 */
  for (int c = 1; c < k; c++) {
    size_t cand[MAX_TRIALS];
    double cand_pot[MAX_TRIALS];
    for (int t = 0; t < trials; t++) {
      /* All mass zero means every row already sits on a centre: any
      ** positive-weight row is as good as another. */
      cand[t] = pot > 0.0 ? draw_row(data, closest, pot, rng) : draw_row(data, NULL, total_w, rng);
      cand_pot[t] = 0.0;
    }
    for (size_t i = 0; i < data->n; i++) {
      double w = gmm_row_weight(data, i);
      if (w == 0.0) continue;
      for (int t = 0; t < trials; t++) {
        double dist = sq_dist(row(data, i), row(data, cand[t]), d) * inv_scale;
        cand_pot[t] += w * fmin(dist, (double)closest[i]);
      }
    }
    int best = 0;
    for (int t = 1; t < trials; t++)
      if (cand_pot[t] < cand_pot[best]) best = t;
    double *centre = centres + (size_t)c * dd;
    memcpy(centre, row(data, cand[best]), dd * sizeof *centre);
    if (chosen) chosen[c] = cand[best];
    pot = 0.0;
    for (size_t i = 0; i < data->n; i++) {
      double dist = sq_dist(row(data, i), centre, d) * inv_scale;
      if (dist < (double)closest[i]) closest[i] = (float)dist;
      pot += gmm_row_weight(data, i) * (double)closest[i];
    }
  }
}

/* Moves the centre of an empty cluster onto the row farthest from its
** nearest centre, as scikit-learn's k-means does. */
static void relocate(const gmm_data *data, double *centres, int k, int empty) {
  size_t far = 0;
  double far_d = -1.0;
  for (size_t i = 0; i < data->n; i++) {
    if (gmm_row_weight(data, i) == 0.0) continue;
    double dist;
    nearest(row(data, i), centres, k, data->d, &dist);
    if (dist > far_d) {
      far_d = dist;
      far = i;
    }
  }
  memcpy(centres + (size_t)empty * (size_t)data->d, row(data, far),
         (size_t)data->d * sizeof *centres);
}

/* Lloyd iterations from the given centres; sums are taken around shift so
** that data far from the origin keeps its precision. */
static void kmeans_lloyd(const gmm_data *data, int k, const double *shift, double *centres,
                         double *sums /* k*d */, double *counts /* k */) {
  int d = data->d;
  size_t dd = (size_t)d;
  /* Tolerance: KMEANS_TOL times the mean per-feature (weighted) variance. */
  double total_w = 0.0, var_sum = 0.0;
  for (size_t i = 0; i < data->n; i++) {
    double w = gmm_row_weight(data, i);
    total_w += w;
    var_sum += w * sq_dist(row(data, i), shift, d);
  }
  double tol = KMEANS_TOL * var_sum / total_w / (double)d;
  for (int it = 0; it < KMEANS_MAX_ITER; it++) {
    memset(sums, 0, (size_t)k * dd * sizeof *sums);
    memset(counts, 0, (size_t)k * sizeof *counts);
    for (size_t i = 0; i < data->n; i++) {
      double w = gmm_row_weight(data, i);
      if (w == 0.0) continue;
      double dist;
      const double *x = row(data, i);
      int j = nearest(x, centres, k, d, &dist);
      counts[j] += w;
      double *s = sums + (size_t)j * dd;
      for (size_t p = 0; p < dd; p++) s[p] += w * (x[p] - shift[p]);
    }
    double shift_total = 0.0;
    for (int j = 0; j < k; j++) {
      double *c = centres + (size_t)j * dd;
      if (counts[j] == 0.0) {
        relocate(data, centres, k, j);
        shift_total += INFINITY; /* a relocation always asks for another pass */
        continue;
      }
      for (size_t p = 0; p < dd; p++) {
        double next = shift[p] + sums[(size_t)j * dd + p] / counts[j];
        double t = next - c[p];
        shift_total += t * t;
        c[p] = next;
      }
    }
    if (shift_total <= tol) break;
  }
}

/* Statistics of the hard assignment of every row to its nearest centre. */
static void stats_from_centres(const gmm_data *data, const double *centres, int k,
                               const double *shift, double *a, gmm_stats *st) {
  int d = data->d;
  for (size_t i = 0; i < data->n; i++) {
    double w = gmm_row_weight(data, i);
    if (w == 0.0) continue;
    double dist;
    const double *x = row(data, i);
    int j = nearest(x, centres, k, d, &dist);
    for (int p = 0; p < d; p++) a[p] = x[p] - shift[p];
    gmm_stats_add_row(st, j, w, a);
  }
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

gmm_status gmm_init_stats(const gmm_data *data, const gmm_options *opt, int init_index,
                          const double *shift, gmm_stats *st, const gmm_allocator *al, char *err,
                          size_t err_len) {
  int k = opt->k, d = data->d;
  size_t kk = (size_t)k, dd = (size_t)d;
  gmm_rng rng;
  gmm_rng_seed(&rng, opt->seed, (uint64_t)init_index);
  gmm_stats_zero(st);

  /* One scratch block: a (d), resp or counts (k), centres and sums (2 k d);
  ** chosen (k); closest (n floats) for the methods that seed with
  ** k-means++. */
  int seeds_pp = opt->init == GMM_INIT_KMEANS || opt->init == GMM_INIT_KMEANS_PP;
  double *scratch = gmm_alloc_array(al, dd + kk + 2 * kk * dd, sizeof(double));
  size_t *chosen = gmm_alloc_array(al, kk, sizeof(size_t));
  float *closest = seeds_pp ? gmm_alloc_array(al, data->n, sizeof(float)) : NULL;
  if (!scratch || !chosen || (seeds_pp && !closest)) {
    gmm_release(al, scratch);
    gmm_release(al, chosen);
    gmm_release(al, closest);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  double *a = scratch, *resp = a + dd, *centres = resp + kk, *sums = centres + kk * dd;

  switch (opt->init) {
    case GMM_INIT_KMEANS:
      kmeans_pp(data, k, &rng, centres, closest, NULL);
      kmeans_lloyd(data, k, shift, centres, sums, resp);
      stats_from_centres(data, centres, k, shift, a, st);
      break;
    case GMM_INIT_KMEANS_PP:
      kmeans_pp(data, k, &rng, centres, closest, chosen);
      stats_from_rows(data, chosen, k, shift, a, st);
      break;
    case GMM_INIT_RANDOM: stats_random(data, k, shift, &rng, a, resp, st); break;
    case GMM_INIT_RANDOM_FROM_DATA:
      draw_distinct_rows(data, k, &rng, chosen);
      stats_from_rows(data, chosen, k, shift, a, st);
      break;
  }
  gmm_release(al, scratch);
  gmm_release(al, chosen);
  gmm_release(al, closest);
  return GMM_OK;
}
