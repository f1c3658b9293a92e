/*
** gmm_stats.c -- the statistics module: the one EM of the extension.
**
** An E-step over some rows is summarised by sufficient statistics that add
** up over any split of the rows; the M-step turns their sum into the next
** model. gmm_fit's iterations (gmm_fit.c), its first statistics
** (gmm_init.c) and the passes over a query (gmm_estep, gmm_merge,
** gmm_mstep in SQL) all run the functions of this file.
**
** Requirements (tests cite them as "stats (N)"):
**  (1) The E-step is one fused pass: log densities through the inverse
**      Cholesky factors, log-sum-exp, and the responsibilities turned at
**      once into statistics around the model's means (fit (2), (3)). Rows go
**      through the blocked kernel (gmm_tile.c) in fixed chunks and blocks
**      on threads, so the bits never depend on the thread count (fit (4)).
**  (2) The M-step is fit (5), for every covariance type.
**  (3) Statistics of a model (gmm_estats) carry its BLOB's fingerprint, k,
**      d, covariance type, whether rows were weighted, the rows used and
**      skipped, the sum of weights and the log-likelihood. Merging is an
**      elementwise sum, and refuses statistics of another model, shape or
**      kind, saying which.
**  (4) gmm_estep_add over batches of rows: the same batches in the same
**      order give the same bits.
**  (5) gmm_mstep scales weighted statistics to a mean weight of 1 per row
**      as gmm_fit scales its weights (fit (10)), so that from the same
**      model, passes over any split of the rows agree with gmm_fit
**      warm-started for as many iterations to rounding. n_iter is m's plus
**      one and may not pass max_iter; converged follows fit (1)'s tol rule
**      on the mean log-likelihood of consecutive passes (a model with
**      n_iter 0 has none before it).
**  (6) The statistics BLOB is gmm_stats_blob.c's.
*/
#include "gmm_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Mass below which a component counts as empty at the last M-step. */
#define GMM_EMPTY_MASS 1e-10

/* ---- sufficient statistics ---- */

/* s2 holds k full d x d scatters, or only their diagonals (k x d). */
static size_t s2_len(const gmm_stats *st) {
  size_t kk = (size_t)st->k, dd = (size_t)st->d;
  return st->diag_only ? kk * dd : kk * dd * dd;
}

size_t gmm_stats_len(const gmm_stats *st) {
  return (size_t)st->k * (1 + (size_t)st->d) + s2_len(st);
}

gmm_status gmm_stats_init(gmm_stats *st, int k, int d, int diag_only, const gmm_allocator *a) {
  st->k = k;
  st->d = d;
  st->diag_only = diag_only;
  st->nk = gmm_alloc_array(a, gmm_stats_len(st), sizeof(double));
  if (!st->nk) return GMM_ENOMEM;
  st->s1 = st->nk + k;
  st->s2 = st->s1 + (size_t)k * (size_t)d;
  return GMM_OK;
}

void gmm_stats_free(gmm_stats *st, const gmm_allocator *a) {
  gmm_release(a, st->nk);
  st->nk = st->s1 = st->s2 = NULL;
}

void gmm_stats_zero(gmm_stats *st) {
  memset(st->nk, 0, gmm_stats_len(st) * sizeof(double));
}

void gmm_stats_add_row(gmm_stats *st, int j, double r, const double *a) {
  size_t dd = (size_t)st->d;
  double *s1 = st->s1 + (size_t)j * dd;
  st->nk[j] += r;
  if (st->diag_only) {
    double *s2 = st->s2 + (size_t)j * dd;
    for (size_t p = 0; p < dd; p++) {
      double ra = r * a[p];
      s1[p] += ra;
      s2[p] += ra * a[p];
    }
    return;
  }
  double *s2 = st->s2 + (size_t)j * dd * dd;
  for (size_t p = 0; p < dd; p++) {
    double ra = r * a[p];
    s1[p] += ra;
    double *s2_p = s2 + p * dd;
    for (size_t q = 0; q <= p; q++) s2_p[q] += ra * a[q];
  }
}

void gmm_stats_merge(gmm_stats *dst, const gmm_stats *src) {
  size_t len = gmm_stats_len(dst);
  for (size_t i = 0; i < len; i++) dst->nk[i] += src->nk[i];
}

/* ---- M-step: fit (5) ---- */

size_t gmm_m_step_work_len(int k, int d, gmm_cov_type t) {
  size_t c = gmm_constrain_work_len(k, d, t);
  return c ? (size_t)k + c : 0;
}

int gmm_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar,
               const double *prev, double *work) {
  size_t kk = (size_t)m->k, dd = (size_t)m->d;
  /* The covariances of the storage shape first; mclust's constraints on
  ** them after. */
  gmm_cov_type type = gmm_cov_shape(m->covariance_type);
  double *masses = work;
  /* The previous covariances may be m's own: they go where
  ** gmm_constrain_covariances keeps them before they are overwritten. */
  if (masses && prev && gmm_cov_iterative(m->covariance_type)) {
    memmove(masses + kk, prev, gmm_cov_len(m->k, m->d, m->covariance_type) * sizeof *prev);
    prev = masses + kk;
  }
  int n_empty = 0;
  double nk_total = 0.0;
  for (size_t j = 0; j < kk; j++) nk_total += st->nk[j] + 10 * DBL_EPSILON;
  if (type == GMM_COV_TIED) memset(m->covariances, 0, dd * dd * sizeof(double));
  for (size_t j = 0; j < kk; j++) {
    double raw = st->nk[j];
    double nk = raw + 10 * DBL_EPSILON;
    if (masses) masses[j] = nk;
    if (raw < GMM_EMPTY_MASS) n_empty++;
    m->weights[j] = nk / nk_total;
    const double *s1 = st->s1 + j * dd;
    double *mu = m->means + j * dd;
    double delta[GMM_MAX_D];
    for (size_t p = 0; p < dd; p++) {
      delta[p] = s1[p] / nk;
      mu[p] = shift[j * dd + p] + delta[p];
    }
    if (st->diag_only) {
      const double *s2 = st->s2 + j * dd;
      double *var = type == GMM_COV_DIAG ? m->covariances + j * dd : NULL;
      double sum = 0.0;
      for (size_t p = 0; p < dd; p++) {
        double v = s2[p] / nk - delta[p] * delta[p] + reg_covar;
        if (var) var[p] = v;
        sum += v;
      }
      if (type == GMM_COV_SPHERICAL) m->covariances[j] = sum / (double)dd;
      continue;
    }
    const double *s2 = st->s2 + j * dd * dd;
    if (type == GMM_COV_FULL) {
      double *cov = m->covariances + j * dd * dd;
      for (size_t p = 0; p < dd; p++)
        for (size_t q = 0; q <= p; q++)
          cov[p * dd + q] = cov[q * dd + p] = s2[p * dd + q] / nk - delta[p] * delta[q];
    } else {
      /* tied: the within-component scatters, summed (lower triangle). */
      for (size_t p = 0; p < dd; p++)
        for (size_t q = 0; q <= p; q++)
          m->covariances[p * dd + q] += s2[p * dd + q] - nk * delta[p] * delta[q];
    }
  }
  if (type == GMM_COV_TIED) {
    for (size_t p = 0; p < dd; p++)
      for (size_t q = 0; q <= p; q++)
        m->covariances[q * dd + p] = m->covariances[p * dd + q] /= nk_total;
  }
  if (type == GMM_COV_FULL || type == GMM_COV_TIED) {
    size_t n_mats = type == GMM_COV_FULL ? kk : 1;
    for (size_t j = 0; j < n_mats; j++)
      for (size_t p = 0; p < dd; p++) m->covariances[j * dd * dd + p * dd + p] += reg_covar;
  }
  if (masses)
    gmm_constrain_covariances(m->covariance_type, m->k, m->d, masses, m->covariances, prev,
                              masses + kk);
  return n_empty;
}

/* ---- the fused pass: fit (2), (3), (4) ---- */

/* The largest of n values. */
static double largest(const double *v, int n) {
  double top = v[0];
  for (int j = 1; j < n; j++) top = fmax(top, v[j]);
  return top;
}

/* Rows [start, end) one at a time: the path for tiles the blocked kernel
** declines, tile (4). Returns their weighted log-likelihood. */
static double rows_one_by_one(const gmm_model *m, const gmm_data *data, gmm_em_worker *wk, size_t start,
                              size_t end, int with_stats, double *log_map) {
  int k = m->k;
  size_t dd = (size_t)m->d;
  double ll = 0.0, map = 0.0;
  for (size_t i = start; i < end; i++) {
    double weight = gmm_row_weight(data, i);
    if (weight == 0.0) continue;
    gmm_model_log_prob(m, data->x + i * dd, wk->diff, wk->log_p);
    double lse = gmm_posteriors(wk->log_p, k, wk->log_p);
    ll += weight * lse;
    map += weight * log(largest(wk->log_p, k));
    if (!with_stats || !isfinite(lse)) continue;
    for (int j = 0; j < k; j++) {
      double r = weight * wk->log_p[j];
      if (r > 0.0) gmm_stats_add_row(&wk->chunk, j, r, wk->diff + (size_t)j * dd);
    }
  }
  *log_map = map;
  return ll;
}

static void run_block(const gmm_model *m, const gmm_data *data, gmm_em_work *w, gmm_em_worker *wk, int b,
                      int with_stats) {
  size_t dd = (size_t)m->d, block_start, block_end, tile_rows = wk->tile.rows;
  gmm_par_rows(data->n, w->n_blocks, b, &block_start, &block_end);
  double ll_block = 0.0, map_block = 0.0;
  if (with_stats) gmm_stats_zero(&w->block[b]);
  for (size_t start = block_start; start < block_end; start += GMM_CHUNK_ROWS) {
    size_t end = start + GMM_CHUNK_ROWS < block_end ? start + GMM_CHUNK_ROWS : block_end;
    double ll_chunk = 0.0, map_chunk = 0.0;
    if (with_stats) gmm_stats_zero(&wk->chunk);
    for (size_t t0 = start; t0 < end; t0 += tile_rows) {
      size_t t1 = t0 + tile_rows < end ? t0 + tile_rows : end;
      size_t t2 = t1 + tile_rows < block_end ? t1 + tile_rows : block_end;
      wk->tile.ahead = data->x + t1 * dd;
      wk->tile.ahead_bytes = (t2 - t1) * dd * sizeof(double);
      double ll_tile, map_tile;
      if (gmm_tile_pass(m, data->x + t0 * dd, data->w ? data->w + t0 : NULL, t1 - t0, w->shift,
                        &wk->tile, with_stats ? &wk->chunk : NULL, &ll_tile))
        map_tile = wk->tile.log_map;
      else
        ll_tile = rows_one_by_one(m, data, wk, t0, t1, with_stats, &map_tile);
      ll_chunk += ll_tile;
      map_chunk += map_tile;
    }
    ll_block += ll_chunk;
    map_block += map_chunk;
    if (with_stats) gmm_stats_merge(&w->block[b], &wk->chunk);
  }
  wk->tile.ahead = NULL; /* other callers of the tile set none */
  wk->tile.ahead_bytes = 0;
  w->block_ll[b] = ll_block;
  w->block_map[b] = map_block;
}

typedef struct pass_job {
  const gmm_model *m;
  const gmm_data *data;
  gmm_em_work *w;
  int with_stats;
} pass_job;

static void pass_block(void *ctx, int b, int worker) {
  pass_job *job = ctx;
  run_block(job->m, job->data, job->w, &job->w->worker[worker], b, job->with_stats);
}

/* One pass over the rows under the model's current parameters. Returns the
** total (weighted) log-likelihood; when with_stats, fills w->total with the
** statistics around w->shift (a copy of the current means). */
/* Block b of the rows with missing values, [first_incomplete, n). */
static void tail_block(void *ctx, int b, int worker) {
  pass_job *job = ctx;
  gmm_em_work *w = job->w;
  size_t first = w->first_incomplete, start, end;
  gmm_par_rows(job->data->n - first, w->n_blocks, b, &start, &end);
  gmm_stats *st = job->with_stats ? &w->block[b] : NULL;
  if (st) gmm_stats_zero(st);
  gmm_em_worker *wk = &w->worker[worker];
  w->block_ll[b] = gmm_missing_pass(job->m, job->data, first + start, first + end, w->shift,
                                    wk->missing, &wk->tile, st);
  /* ICL's term of the rows with missing values, row by row: only for the
  ** final pass of a fit (w->want_map). */
  double map = 0.0;
  for (size_t i = first + start; w->want_map && i < first + end; i++) {
    double weight = gmm_row_weight(job->data, i);
    const double *x = job->data->x + i * (size_t)job->m->d;
    if (!(weight > 0.0) || gmm_is_missing_row(x, job->m->d)) continue;
    if (gmm_row_has_missing(x, job->m->d))
      gmm_missing_row_log_prob(job->m, x, wk->log_p, wk->missing);
    else
      gmm_model_log_prob(job->m, x, wk->diff, wk->log_p);
    gmm_posteriors(wk->log_p, job->m->k, wk->log_p);
    map += weight * log(largest(wk->log_p, job->m->k));
  }
  w->block_map[b] = map;
}

/* Adds the blocks' log-likelihoods (returned) and statistics to the total. */
static double sum_blocks(gmm_em_work *w, int with_stats) {
  double ll = 0.0;
  for (int b = 0; b < w->n_blocks; b++) {
    ll += w->block_ll[b];
    w->log_map += w->block_map[b];
    if (with_stats) gmm_stats_merge(&w->total, &w->block[b]);
  }
  return ll;
}

double gmm_em_pass(const gmm_model *m, const gmm_data *data, gmm_em_work *w, int with_stats) {
  if (with_stats) memcpy(w->shift, m->means, (size_t)m->k * (size_t)m->d * sizeof(double));
  /* The complete rows through the blocked kernel, then the rest: missing (5). */
  gmm_data head = *data;
  if (head.n > w->first_incomplete) head.n = w->first_incomplete;
  pass_job job = {m, &head, w, with_stats};
  gmm_par_run(w->n_blocks, w->n_workers, pass_block, &job);
  if (with_stats) gmm_stats_zero(&w->total);
  w->log_map = 0.0;
  double ll_total = sum_blocks(w, with_stats);
  if (head.n < data->n) {
    job.data = data;
    gmm_par_run(w->n_blocks, w->n_workers, tail_block, &job);
    ll_total += sum_blocks(w, with_stats);
  }
  return ll_total;
}


void gmm_em_work_free(gmm_em_work *w, const gmm_allocator *a) {
  gmm_stats_free(&w->total, a);
  gmm_release(a, w->shift);
  gmm_release(a, w->mstep_work);
  for (int b = 0; b < GMM_BLOCKS; b++) gmm_stats_free(&w->block[b], a);
  for (int t = 0; t < GMM_MAX_THREADS; t++) {
    gmm_stats_free(&w->worker[t].chunk, a);
    gmm_tile_free(&w->worker[t].tile, a);
    gmm_release(a, w->worker[t].diff);
    gmm_release(a, w->worker[t].missing);
  }
}

gmm_status gmm_em_work_missing(gmm_em_work *w, size_t first_incomplete, int k, int d,
                               gmm_cov_type type, const gmm_allocator *a) {
  w->first_incomplete = first_incomplete;
  for (int t = 0; t < w->n_workers; t++)
    if (!w->worker[t].missing) {
      w->worker[t].missing = gmm_alloc_array(a, gmm_missing_scratch_len(k, d, type),
                                             sizeof(double));
      if (!w->worker[t].missing) return GMM_ENOMEM;
    }
  return GMM_OK;
}

gmm_status gmm_em_work_alloc(gmm_em_work *w, int k, int d, gmm_cov_type type, size_t n_rows,
                             int threads, const gmm_allocator *a) {
  size_t kk = (size_t)k, dd = (size_t)d;
  int diag_only = gmm_stats_diag_only(type);
  memset(w, 0, sizeof *w);
  w->first_incomplete = SIZE_MAX;
  if (gmm_stats_init(&w->total, k, d, diag_only, a) != GMM_OK) return GMM_ENOMEM;
  w->shift = gmm_alloc_array(a, kk * dd, sizeof(double));
  if (!w->shift) return GMM_ENOMEM;
  size_t mstep_len = gmm_m_step_work_len(k, d, type);
  if (mstep_len && !(w->mstep_work = gmm_alloc_array(a, mstep_len, sizeof(double))))
    return GMM_ENOMEM;
  /* Blocks: at most one per chunk, and within the memory budget. */
  size_t stats_bytes = kk * (1 + dd + (diag_only ? dd : dd * dd)) * sizeof(double);
  w->n_blocks = gmm_par_blocks(n_rows, stats_bytes);
  /* An E+M pass does about k (d + 1) units of work a row, times d / 2 more
  ** for full and tied covariances (the triangular solve and the scatter). */
  double work = (double)kk * (double)(dd + 1) * (diag_only ? 1.0 : 1.0 + (double)dd / 2.0);
  w->n_workers = gmm_par_workers(threads, w->n_blocks, n_rows, work);
  for (int b = 0; b < w->n_blocks; b++)
    if (gmm_stats_init(&w->block[b], k, d, diag_only, a) != GMM_OK) return GMM_ENOMEM;
  for (int t = 0; t < w->n_workers; t++) {
    gmm_em_worker *wk = &w->worker[t];
    if (gmm_stats_init(&wk->chunk, k, d, diag_only, a) != GMM_OK) return GMM_ENOMEM;
    if (gmm_tile_init(&wk->tile, k, d, a) != GMM_OK) return GMM_ENOMEM;
    wk->diff = gmm_alloc_array(a, kk * dd + kk, sizeof(double));
    if (!wk->diff) return GMM_ENOMEM;
    wk->log_p = wk->diff + kk * dd;
  }
  return GMM_OK;
}


int gmm_stats_diag_only(gmm_cov_type t) {
  t = gmm_cov_shape(t);
  return t == GMM_COV_DIAG || t == GMM_COV_SPHERICAL;
}

/* ---- statistics of one E-step: stats (3) ---- */

gmm_status gmm_estats_new(const gmm_model *m, uint64_t fingerprint, int weighted,
                          const gmm_allocator *a, gmm_estats **out) {
  *out = NULL;
  if (m->options.prior != GMM_PRIOR_NONE) return GMM_EINVAL; /* gmm_mstep says why */
  gmm_estats *s = gmm_alloc_array(a, 1, sizeof *s);
  if (!s) return GMM_ENOMEM;
  memset(s, 0, sizeof *s);
  s->k = m->k;
  s->d = m->d;
  s->covariance_type = m->covariance_type;
  s->weighted = weighted != 0;
  s->fingerprint = fingerprint;
  s->allocator = *a;
  if (gmm_stats_init(&s->sums, m->k, m->d, gmm_stats_diag_only(m->covariance_type), a) !=
      GMM_OK) {
    gmm_release(a, s);
    return GMM_ENOMEM;
  }
  gmm_stats_zero(&s->sums);
  *out = s;
  return GMM_OK;
}

void gmm_estats_free(gmm_estats *s) {
  if (!s) return;
  gmm_allocator a = s->allocator;
  gmm_stats_free(&s->sums, &a);
  gmm_release(&a, s);
}

/* The differences that keep two statistics from adding up (or from
** stepping a model), as a sentence; GMM_OK when there is none. */
static gmm_status check_same_kind(const gmm_estats *a, const gmm_estats *b, char *err,
                                  size_t err_len) {
  if (a->k != b->k || a->d != b->d || a->covariance_type != b->covariance_type)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "statistics of k = %d, d = %d, covariance_type '%s' and of k = %d, d = %d, "
                      "covariance_type '%s' do not add up",
                      a->k, a->d, gmm_cov_type_name(a->covariance_type), b->k, b->d,
                      gmm_cov_type_name(b->covariance_type));
  if (a->fingerprint != b->fingerprint)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "statistics of two different models (fingerprints %016llx and %016llx) do "
                      "not add up: every part of a pass must use the same model",
                      (unsigned long long)a->fingerprint, (unsigned long long)b->fingerprint);
  if (a->weighted != b->weighted)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "statistics of weighted and of unweighted rows do not add up");
  return GMM_OK;
}

gmm_status gmm_estats_merge(gmm_estats *dst, const gmm_estats *src, char *err, size_t err_len) {
  gmm_status rc = check_same_kind(dst, src, err, err_len);
  if (rc != GMM_OK) return rc;
  if (src->n_rows > INT64_MAX - dst->n_rows || src->n_skipped > INT64_MAX - dst->n_skipped ||
      src->n_missing > INT64_MAX - dst->n_missing)
    return gmm_errorf(err, err_len, GMM_EINVAL, "the row counts overflow a 64-bit integer");
  double sum_weights = dst->sum_weights + src->sum_weights;
  double ll = dst->log_likelihood + src->log_likelihood;
  if (!isfinite(sum_weights))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the weights sum to more than the largest double; scale them down");
  if (!(fabs(ll) <= GMM_MAX_ABS_LOG_LIKELIHOOD))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the log-likelihood (%g) is beyond +-%g; scale the weights or the data "
                      "down",
                      ll, GMM_MAX_ABS_LOG_LIKELIHOOD);
  dst->n_rows += src->n_rows;
  dst->n_skipped += src->n_skipped;
  dst->n_incomplete += src->n_incomplete;
  dst->n_missing += src->n_missing;
  dst->sum_weights = dst->weighted ? sum_weights : (double)dst->n_rows;
  dst->log_likelihood = ll;
  gmm_stats_merge(&dst->sums, &src->sums);
  /* Sums of statistics that each pass the decoder's checks can still fail
  ** them (overflow, or the checks' slack adding up): such a sum is an
  ** error here rather than a BLOB no decoder takes. */
  char why[192];
  if (gmm_estats_check(dst, why, sizeof why) != GMM_OK)
    return gmm_errorf(err, err_len, GMM_EINVAL, "the statistics added up are out of range: %s",
                      why);
  return GMM_OK;
}

/* ---- the E-step over batches: stats (4) ---- */

struct gmm_estep_acc {
  const gmm_model *m;
  gmm_em_work work;
  int threads;
  double *rows;    /* a batch reordered: complete rows, then the others by pattern */
  double *weights; /* its weights */
  gmm_allocator allocator;
};

gmm_status gmm_estep_acc_new(const gmm_model *m, int threads, const gmm_allocator *a,
                             gmm_estep_acc **out) {
  *out = NULL;
  gmm_estep_acc *acc = gmm_alloc_array(a, 1, sizeof *acc);
  if (!acc) return GMM_ENOMEM;
  memset(acc, 0, sizeof *acc);
  acc->m = m;
  acc->allocator = *a;
  acc->threads = gmm_threads(threads);
  size_t batch = gmm_estep_batch_rows(m->d);
  gmm_status rc = gmm_em_work_alloc(&acc->work, m->k, m->d, m->covariance_type, batch,
                                    acc->threads, a);
  /* Rows with missing values need their own scratch and a reordered copy
  ** of the batch; a model that skips them needs neither. */
  if (rc == GMM_OK && m->options.missing == GMM_MISSING_MARGINALIZE) {
    acc->rows = gmm_alloc_array(a, batch * ((size_t)m->d + 1), sizeof(double));
    acc->weights = acc->rows ? acc->rows + batch * (size_t)m->d : NULL;
    rc = acc->rows ? gmm_em_work_missing(&acc->work, SIZE_MAX, m->k, m->d, m->covariance_type, a)
                   : GMM_ENOMEM;
  }
  if (rc != GMM_OK) {
    gmm_estep_acc_free(acc);
    return GMM_ENOMEM;
  }
  *out = acc;
  return GMM_OK;
}

size_t gmm_estep_batch_rows(int d) {
  size_t rows = GMM_BATCH_BYTES / (sizeof(double) * (size_t)(d > 0 ? d : 1));
  rows -= rows % GMM_CHUNK_ROWS;
  return rows < GMM_CHUNK_ROWS ? GMM_CHUNK_ROWS : rows > GMM_BATCH_ROWS ? GMM_BATCH_ROWS : rows;
}

void gmm_estep_acc_free(gmm_estep_acc *acc) {
  if (!acc) return;
  gmm_allocator a = acc->allocator;
  gmm_em_work_free(&acc->work, &a);
  gmm_release(&a, acc->rows);
  gmm_release(&a, acc);
}

/* Copies the batch into acc's buffer: its complete rows in their order,
** then the rows with missing values in canonical order (by pattern), rows
** with every value missing left out. Returns the rows copied; *n_complete
** the complete ones. */
static size_t reorder_batch(gmm_estep_acc *acc, const double *x, const double *w, size_t n,
                            size_t *n_complete, gmm_estats *st) {
  size_t dd = (size_t)acc->m->d, kept = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) *n_complete = kept;
    for (size_t i = 0; i < n; i++) {
      const double *row = x + i * dd;
      size_t missing = 0;
      for (size_t p = 0; p < dd; p++) missing += gmm_is_missing(row[p]) ? 1u : 0u;
      if ((missing != 0) != pass) continue;
      if (missing == dd) {
        st->n_skipped++;
        continue;
      }
      if (missing) {
        st->n_incomplete++;
        st->n_missing += (int64_t)missing;
      }
      memcpy(acc->rows + kept * dd, row, dd * sizeof *row);
      acc->weights[kept++] = w ? w[i] : 1.0;
    }
  }
  gmm_canonical_order(acc->rows + *n_complete * dd, acc->weights + *n_complete,
                      kept - *n_complete, acc->m->d, acc->threads);
  return kept;
}

void gmm_estep_add(gmm_estep_acc *acc, const double *x, const double *w, size_t n, gmm_estats *st) {
  if (n == 0) return;
  size_t dd = (size_t)acc->m->d, n_complete = n;
  if (acc->rows) {
    size_t i = 0;
    while (i < n * dd && !gmm_is_missing(x[i])) i++;
    if (i < n * dd) {
      n = reorder_batch(acc, x, w, n, &n_complete, st);
      x = acc->rows;
      w = w ? acc->weights : NULL;
    }
  }
  gmm_data batch = {x, n, acc->m->d, w, 0, NULL};
  acc->work.first_incomplete = n_complete;
  st->log_likelihood += gmm_em_pass(acc->m, &batch, &acc->work, 1);
  gmm_stats_merge(&st->sums, &acc->work.total);
  st->n_rows += (int64_t)n;
  if (!w) {
    st->sum_weights = (double)st->n_rows;
    return;
  }
  double total = 0.0;
  for (size_t i = 0; i < n; i++) total += w[i];
  st->sum_weights += total;
}

/* ---- the M-step of a pass: stats (5) ---- */

gmm_status gmm_mstep(const gmm_model *m, uint64_t fingerprint, const gmm_estats *st,
                     const gmm_allocator *a, gmm_model **out, char *err, size_t err_len) {
  *out = NULL;
  if (m->options.prior != GMM_PRIOR_NONE)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "passes fit maximum likelihood models; the model has prior '%s'",
                      gmm_prior_name(m->options.prior));
  if (st->k != m->k || st->d != m->d || st->covariance_type != m->covariance_type)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the statistics have k = %d, d = %d, covariance_type '%s'; the model has "
                      "k = %d, d = %d, covariance_type '%s'",
                      st->k, st->d, gmm_cov_type_name(st->covariance_type), m->k, m->d,
                      gmm_cov_type_name(m->covariance_type));
  if (st->fingerprint != fingerprint)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the statistics come from another model (fingerprint %016llx; this "
                      "model's is %016llx): take them with gmm_estep of this model",
                      (unsigned long long)st->fingerprint, (unsigned long long)fingerprint);
  if (st->weighted != m->summary.weighted)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the statistics are of %s rows, the model was fitted %s weights",
                      st->weighted ? "weighted" : "unweighted",
                      m->summary.weighted ? "with" : "without");
  if (m->options.missing == GMM_MISSING_SKIP && st->n_incomplete > 0)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the statistics hold %lld rows with missing features; the model skips "
                      "them (option missing 'skip')",
                      (long long)st->n_incomplete);
  if (m->summary.n_iter >= m->options.max_iter)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the model has done its max_iter = %d iterations", m->options.max_iter);
  if (st->n_rows < 1 || !(st->sum_weights > 0.0))
    return gmm_errorf(err, err_len, GMM_EINVAL, "the statistics hold no row");
  if (st->n_rows < m->k)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "k = %d is larger than the number of usable rows (%lld)", m->k,
                      (long long)st->n_rows);

  /* fit (10): the weights as if rescaled to a mean of 1 per row. */
  double scale = st->weighted ? (double)st->n_rows / st->sum_weights : 1.0;
  gmm_stats scaled = st->sums;
  gmm_model *next = gmm_model_new(m->k, m->d, m->covariance_type, a);
  if (!next) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  if (scale != 1.0) {
    if (gmm_stats_init(&scaled, st->k, st->d, st->sums.diag_only, a) != GMM_OK) {
      gmm_model_free(next);
      return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
    }
    size_t len = gmm_stats_len(&scaled);
    for (size_t i = 0; i < len; i++) scaled.nk[i] = st->sums.nk[i] * scale;
  }
  size_t work_len = gmm_m_step_work_len(m->k, m->d, m->covariance_type);
  double *work = work_len ? gmm_alloc_array(a, work_len, sizeof(double)) : NULL;
  if (work_len && !work) {
    if (scale != 1.0) gmm_stats_free(&scaled, a);
    gmm_model_free(next);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  int n_empty =
      gmm_m_step(next, &scaled, m->means, m->options.reg_covar, m->covariances, work);
  gmm_release(a, work);
  if (scale != 1.0) gmm_stats_free(&scaled, a);
  char why[160];
  if (gmm_model_prepare(next, why, sizeof why) != GMM_OK) {
    gmm_model_free(next);
    return gmm_errorf(err, err_len, GMM_EFIT,
                      "the M-step gives a covariance that is not positive definite (%s): "
                      "increase reg_covar or decrease k",
                      why);
  }
  size_t n_params = (size_t)m->k * (1 + (size_t)m->d) + gmm_cov_len(m->k, m->d, m->covariance_type);
  for (size_t i = 0; i < n_params; i++)
    if (!isfinite(next->weights[i])) {
      /* weights, means and covariances are one array (gmm_model_new) */
      gmm_model_free(next);
      return gmm_errorf(err, err_len, GMM_EFIT,
                        "the M-step gives parameters that are not finite: a component's mass is "
                        "too small for its sums; increase reg_covar or decrease k");
    }
  next->options = m->options;
  next->summary = m->summary;
  gmm_summary *s = &next->summary;
  s->n_samples = st->weighted ? st->sum_weights : (double)st->n_rows;
  s->n_skipped = st->n_skipped;
  s->n_incomplete = st->n_incomplete;
  s->missing_fraction = (double)st->n_missing / ((double)st->n_rows * (double)st->d);
  s->log_likelihood = st->log_likelihood;
  s->log_map = NAN; /* passes carry no row's posteriors: ICL is unknown */
  s->n_iter = m->summary.n_iter + 1;
  s->n_empty = n_empty;
  s->weighted = st->weighted;
  double mean = st->log_likelihood / st->sum_weights;
  double prev = m->summary.n_iter >= 1 ? m->summary.log_likelihood / m->summary.n_samples
                                       : -INFINITY;
  s->converged = fabs(mean - prev) < m->options.tol;
  *out = next;
  return GMM_OK;
}
