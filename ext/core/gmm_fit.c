/*
** gmm_fit.c -- expectation-maximisation for Gaussian mixtures over rows in
** memory: checks, initialisations, iterations of the statistics module
** (gmm_stats.c), selection.
**
** Requirements (tests cite them as "fit (N)"):
**  (1) The fit follows scikit-learn's GaussianMixture.fit: for each of n_init
**      initialisations, up to max_iter iterations, each an E-step under the
**      current parameters followed by an M-step; an initialisation stops
**      once the mean per-row log-likelihood changes by less than tol.
**  (2) The E- and M-steps are one fused pass over the rows: the posteriors of
**      a row are turned into sufficient statistics at once, so no n x k
**      matrix exists. Log densities go through the inverse Cholesky factor
**      of each covariance and are normalised by log-sum-exp.
**  (3) Statistics are accumulated around a shift, each component's previous
**      mean, so data far from the origin fits as well as centred data.
**  (4) Rows are processed in fixed chunks of GMM_CHUNK_ROWS, grouped into
**      at most GMM_BLOCKS blocks that threads (options.threads, 0 = every
**      core) share out; partial statistics are added in chunk and block
**      order, so the model is the same bits for any thread count.
**  (5) The M-step is scikit-learn's for each covariance type: nk = sum of
**      responsibilities + 10 eps, weights nk / sum(nk); full: each
**      component's responsibility-weighted scatter; tied: the scatters
**      summed over components, divided by sum(nk); diag: their diagonals;
**      spherical: the mean of the diagonal; reg_covar added to every
**      variance. A component that empties keeps its mean and gets a
**      covariance of reg_covar I; it is counted in n_empty.
**  (6) An initialisation whose covariance stops being positive definite is
**      abandoned; the fit fails (GMM_EFIT) only when every one is.
**  (7) The winner is the initialisation with the highest log-likelihood under
**      its final parameters (earliest on ties); that log-likelihood is what
**      the summary and BIC/AIC report.
**  (8) Same rows, same order, same options: the same model, bit for bit.
**  (9) Explicit weights_init / means_init / precisions_init replace what the
**      init method gives; when all three are given it does not run. A warm
**      start begins from another model's parameters, with one
**      initialisation.
** (10) Row weights w_i >= 0 multiply each row's responsibilities and its
**      log-likelihood; n_samples is their sum. Rows of weight 0 take no
**      part; at least k rows must have a positive weight.
** (11) Selection (gmm_fit_select) fits every candidate on the same rows and
**      keeps the lowest options.criterion (BIC, ICL or AIC), the first on
**      ties. With init hc the tree is built once for all candidates.
** (12) Missing features (options.missing marginalize; NaN in the rows): EM
**      over the observed data (gmm_missing.c). Rows with every value
**      missing take no part and are counted in n_skipped; a feature missing
**      on every row used is an error naming it. The initialisation runs on
**      a copy of the rows with each missing value filled by its feature's
**      observed (weighted) mean, then EM runs on the rows as they are. Rows
**      with no missing value take exactly the path of a fit without any:
**      on complete rows the model is the same bits as before. With skip, a
**      NaN is an error.
** (13) init labels: every row used carries a label in 0 .. k - 1 and every
**      component at least one row; the first M-step is that of the hard
**      partition (mclust's start), then EM. init hc: the labels are the cut
**      at k of mclust's hierarchical tree (gmm_hc.c) over the rows used, or
**      over a seeded sample of hc_rows of them (stream GMM_HC_STREAM), the
**      other rows taking no part in that first M-step.
** (14) The model carries sum_i w_i ln max_j p(j | x_i) over the rows used,
**      under its final parameters (summary.log_map, for ICL): the final
**      pass of each initialisation sums it with the log-likelihood (the
**      kernel's -ln of each row's sum of shares), in block order.
** (15) mclust's covariance models: the M-step of the storage shape, then
**      the model's constraints (gmm_mclust.c), warm-started from the
**      previous iteration's covariances (none for the first M-step of an
**      initialisation).
** (16) Priors (gmm_bayes.c): the prior's defaults come from the rows the
**      initialisation sees; every M-step, the first included, is the
**      prior's (variational: bayes (3); conjugate: bayes (6)). A
**      variational fit stops when its lower bound (bayes (5), the total,
**      not per row) changes by less than tol, the trace reports that
**      bound, and the initialisation with the highest bound wins (the
**      earliest on ties), as scikit-learn's BayesianGaussianMixture.
**      Row weights are not rescaled under a prior: they count rows, whose
**      number weighs against the prior's. Variational priors take no
**      missing values and no explicit initial parameters.
** (17) prune (variational priors): when some component of the fit is not
**      effective (gmm_model_effective), EM goes on from the effective
**      ones alone (their posterior, in order, as a warm start), with the
**      prior's parameters as resolved for the first fit, one
**      initialisation, up to max_iter iterations and tol; the model
**      records how many were dropped (n_pruned), and its n_iter and
**      converged are those of that second EM.
*/
#include "gmm_hc.h"
#include "gmm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The M-step of m's prior: fit (5), (16). */
static int prior_m_step(gmm_model *m, const gmm_stats *st, const double *shift, double reg_covar,
                        const double *prev, double *work) {
  if (gmm_prior_variational(m->options.prior))
    return gmm_bayes_m_step(m, st, shift, reg_covar);
  if (m->options.prior == GMM_PRIOR_CONJUGATE) return gmm_map_m_step(m, st, shift, reg_covar);
  return gmm_m_step(m, st, shift, reg_covar, prev, work);
}

/* ---- initial parameters: fit (9) ---- */

/* Covariances from scikit-learn-shaped precisions: inverses of the d x d
** matrices (full, tied), reciprocals of the variances (diag, spherical).
** work holds d x d doubles. Returns the index of the first precision that
** is not positive definite, or -1. */
static int covariances_from_precisions(const double *prec, double *cov, int k, int d,
                                       gmm_cov_type type, double *work) {
  size_t dd = (size_t)d;
  type = gmm_cov_shape(type);
  if (type == GMM_COV_FULL || type == GMM_COV_TIED) {
    int n_mats = type == GMM_COV_FULL ? k : 1;
    for (int j = 0; j < n_mats; j++)
      if (gmm_spd_inverse(prec + (size_t)j * dd * dd, cov + (size_t)j * dd * dd, work, d) != 0)
        return j;
    return -1;
  }
  size_t len = gmm_cov_len(k, d, type);
  for (size_t i = 0; i < len; i++) {
    if (!(prec[i] > 0.0) || !isfinite(prec[i])) return (int)(type == GMM_COV_DIAG ? i / dd : i);
    cov[i] = 1.0 / prec[i];
  }
  return -1;
}

static gmm_status check_explicit_init(const gmm_options *opt, int d, double *work, double *cov,
                                      char *err, size_t err_len) {
  int k = opt->k;
  size_t dd = (size_t)d;
  if (opt->weights_init) {
    double sum = 0.0;
    for (int j = 0; j < k; j++) {
      double w = opt->weights_init[j];
      if (!isfinite(w) || w < 0.0 || w > 1.0)
        return gmm_errorf(err, err_len, GMM_EINVAL,
                          "weights_init[%d] must be between 0 and 1, provided %g", j, w);
      sum += w;
    }
    if (fabs(sum - 1.0) > 1e-8)
      return gmm_errorf(err, err_len, GMM_EINVAL, "weights_init must sum to 1, provided sum %.17g",
                        sum);
  }
  if (opt->means_init)
    for (size_t i = 0; i < (size_t)k * dd; i++)
      if (!isfinite(opt->means_init[i]))
        return gmm_errorf(err, err_len, GMM_EINVAL, "means_init[%zu][%zu] is not finite", i / dd,
                          i % dd);
  if (opt->precisions_init) {
    const double *p = opt->precisions_init;
    gmm_cov_type type = gmm_cov_shape(opt->covariance_type);
    if (type == GMM_COV_FULL || type == GMM_COV_TIED) {
      int n_mats = type == GMM_COV_FULL ? k : 1;
      for (int j = 0; j < n_mats; j++) {
        const double *pj = p + (size_t)j * dd * dd;
        for (size_t r = 0; r < dd; r++)
          for (size_t c = 0; c < r; c++)
            if (!isfinite(pj[r * dd + c]) ||
                fabs(pj[r * dd + c] - pj[c * dd + r]) >
                    1e-8 * (fabs(pj[r * dd + c]) + fabs(pj[c * dd + r])) + 1e-300)
              return gmm_errorf(err, err_len, GMM_EINVAL,
                                "precisions_init[%d] must be finite and symmetric", j);
      }
    }
    int bad = covariances_from_precisions(p, cov, k, d, type, work);
    if (bad >= 0)
      return gmm_errorf(err, err_len, GMM_EINVAL, "precisions_init[%d] %s", bad,
                        type == GMM_COV_FULL || type == GMM_COV_TIED
                            ? "is not positive definite"
                            : "must be positive and finite");
  }
  return GMM_OK;
}

/* Sets m's parameters for initialisation init_index and prepares them. */
static gmm_status initialise(gmm_model *m, const gmm_data *data, const gmm_options *opt,
                             int init_index, const double *data_mean, gmm_em_work *w,
                             const gmm_allocator *a, char *err, size_t err_len) {
  int k = m->k;
  size_t kk = (size_t)k, dd = (size_t)m->d;
  size_t n_cov = gmm_cov_len(k, m->d, m->covariance_type);
  if (opt->warm_start) {
    const gmm_model *from = opt->warm_start;
    memcpy(m->weights, from->weights, kk * sizeof(double));
    memcpy(m->means, from->means, kk * dd * sizeof(double));
    memcpy(m->covariances, from->covariances, n_cov * sizeof(double));
    if (gmm_prior_variational(m->options.prior)) {
      /* the same prior: gmm_prior_options_check */
      memcpy(m->weight_concentration, from->weight_concentration,
             gmm_concentration_len(k, m->options.prior) * sizeof(double));
      memcpy(m->mean_precision, from->mean_precision, kk * sizeof(double));
      memcpy(m->degrees_of_freedom, from->degrees_of_freedom,
             (gmm_cov_shape(m->covariance_type) == GMM_COV_TIED ? 1 : kk) * sizeof(double));
    }
    return gmm_model_prepare(m, err, err_len);
  }
  if (!(opt->weights_init && opt->means_init && opt->precisions_init)) {
    gmm_par_work par = {w->n_blocks, w->n_workers, w->block};
    gmm_status rc =
        gmm_init_stats(data, opt, init_index, data_mean, &w->total, &par, a, err, err_len);
    if (rc != GMM_OK) return rc;
    for (int j = 0; j < k; j++) memcpy(w->shift + (size_t)j * dd, data_mean, dd * sizeof(double));
    prior_m_step(m, &w->total, w->shift, opt->reg_covar, NULL, w->mstep_work);
  }
  if (opt->weights_init) {
    /* Checked to sum to 1 within 1e-8; made to sum to 1 to the last bit the
    ** BLOB decoder asks for. */
    double sum = 0.0;
    for (size_t j = 0; j < kk; j++) sum += opt->weights_init[j];
    for (size_t j = 0; j < kk; j++) m->weights[j] = opt->weights_init[j] / sum;
  }
  if (opt->means_init) memcpy(m->means, opt->means_init, kk * dd * sizeof(double));
  if (opt->precisions_init) /* checked by check_explicit_init */
    covariances_from_precisions(opt->precisions_init, m->covariances, k, m->d, m->covariance_type,
                                m->prec_chol);
  return gmm_model_prepare(m, err, err_len);
}

/* ---- the fit ---- */

/* ---- one look at the rows before the fit: parallel passes (gmm_par.c) ----
** Each block writes its results at out + b * stride; they are combined in
** block order. */

typedef struct scan_job {
  const gmm_data *data;
  int n_blocks;
  int marginalize;      /* a NaN is a missing value, not an error */
  double *out;          /* n_blocks x stride */
  size_t stride;        /* d + 5 */
  size_t *bad;          /* n_blocks: the block's first bad row, or SIZE_MAX */
  const double *centre; /* d: for the mean and spread passes */
} scan_job;

/* Where scan_check puts its counts in a block's results. */
enum { SCAN_USABLE, SCAN_WEIGHT, SCAN_ALL_MISSING, SCAN_INCOMPLETE, SCAN_MISSING, SCAN_FEATURE };

/* bad[b] = the first row with a value that is neither finite nor (when
** marginalising) missing, or a weight that is not finite and >= 0. The
** counts are over rows of positive weight: usable rows (some value
** observed) and their total weight, rows with every value missing, rows
** with some, missing cells, and missing cells per feature. */
static void scan_check(void *ctx, int b, int worker) {
  (void)worker;
  scan_job *job = ctx;
  const gmm_data *data = job->data;
  size_t start, end, dd = (size_t)data->d, usable = 0;
  gmm_par_rows(data->n, job->n_blocks, b, &start, &end);
  double total = 0.0, *out = job->out + (size_t)b * job->stride;
  memset(out, 0, job->stride * sizeof *out);
  job->bad[b] = SIZE_MAX;
  for (size_t i = start; i < end; i++) {
    const double *x = data->x + i * dd;
    int ok = 1;
    size_t missing = 0;
    for (size_t p = 0; p < dd; p++) {
      int finite = isfinite(x[p]) != 0, gap = job->marginalize && gmm_is_missing(x[p]);
      ok &= finite | gap;
      missing += (size_t)gap;
    }
    double w = gmm_row_weight(data, i);
    if (!ok || !isfinite(w) || w < 0.0) {
      job->bad[b] = i;
      break;
    }
    if (!(w > 0.0)) continue;
    if (missing == dd) {
      out[SCAN_ALL_MISSING]++;
      continue;
    }
    usable++;
    total += w;
    if (missing == 0) continue;
    out[SCAN_INCOMPLETE]++;
    out[SCAN_MISSING] += (double)missing;
    for (size_t p = 0; p < dd; p++) out[SCAN_FEATURE + p] += gmm_is_missing(x[p]);
  }
  out[SCAN_USABLE] = (double)usable;
  out[SCAN_WEIGHT] = total;
}

/* out = sum w (x - centre) per feature, then sum w. */
static void scan_mean(void *ctx, int b, int worker) {
  (void)worker;
  scan_job *job = ctx;
  const gmm_data *data = job->data;
  size_t start, end, dd = (size_t)data->d;
  gmm_par_rows(data->n, job->n_blocks, b, &start, &end);
  double *acc = job->out + (size_t)b * job->stride, total = 0.0;
  memset(acc, 0, (dd + 1) * sizeof *acc);
  for (size_t i = start; i < end; i++) {
    double w = gmm_row_weight(data, i);
    const double *x = data->x + i * dd;
    total += w;
    for (size_t p = 0; p < dd; p++) acc[p] += w * (x[p] - job->centre[p]);
  }
  acc[dd] = total;
}

/* out = the widest |x - centre| per feature over rows of positive weight. */
static void scan_spread(void *ctx, int b, int worker) {
  (void)worker;
  scan_job *job = ctx;
  const gmm_data *data = job->data;
  size_t start, end, dd = (size_t)data->d;
  gmm_par_rows(data->n, job->n_blocks, b, &start, &end);
  double *widest = job->out + (size_t)b * job->stride;
  memset(widest, 0, dd * sizeof *widest);
  for (size_t i = start; i < end; i++) {
    if (!(gmm_row_weight(data, i) > 0.0)) continue;
    const double *x = data->x + i * dd;
    for (size_t p = 0; p < dd; p++) {
      double t = fabs(x[p] - job->centre[p]);
      if (t > widest[p]) widest[p] = t;
    }
  }
}

/* What check_data counts besides the usable rows and their weight. */
typedef struct missing_counts {
  size_t all_missing; /* rows of positive weight with every value missing */
  size_t incomplete;  /* usable rows with some value missing */
  double cells;       /* missing cells of the usable rows */
} missing_counts;

/* Checks the rows and weights; gives the number of rows of positive weight
** (with some value observed), their total weight and the missing counts:
** fit (10), (12). */
static gmm_status check_data(scan_job *job, int k, int workers, size_t *n_usable,
                             double *total_weight, missing_counts *mc, char *err,
                             size_t err_len) {
  const gmm_data *data = job->data;
  size_t dd = (size_t)data->d, usable = 0;
  gmm_par_run(job->n_blocks, workers, scan_check, job);
  double total = 0.0;
  memset(mc, 0, sizeof *mc);
  for (int b = 0; b < job->n_blocks; b++) {
    size_t i = job->bad[b];
    if (i != SIZE_MAX) {
      for (size_t p = 0; p < dd; p++)
        if (gmm_is_missing(data->x[i * dd + p]) && !job->marginalize)
          return gmm_errorf(err, err_len, GMM_EINVAL,
                            "row %zu, feature %zu is missing (NaN), and the option missing is "
                            "'skip'",
                            i + 1, p + 1);
        else if (!isfinite(data->x[i * dd + p]) && !gmm_is_missing(data->x[i * dd + p]))
          return gmm_errorf(err, err_len, GMM_EINVAL, "row %zu, feature %zu is not finite", i + 1,
                            p + 1);
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "row %zu has weight %g; weights must be finite and >= 0", i + 1,
                        gmm_row_weight(data, i));
    }
    const double *out = job->out + (size_t)b * job->stride;
    usable += (size_t)out[SCAN_USABLE];
    total += out[SCAN_WEIGHT];
    mc->all_missing += (size_t)out[SCAN_ALL_MISSING];
    mc->incomplete += (size_t)out[SCAN_INCOMPLETE];
    mc->cells += out[SCAN_MISSING];
  }
  for (size_t p = 0; p < dd && mc->incomplete > 0 && usable > 0; p++) {
    double missing = 0.0;
    for (int b = 0; b < job->n_blocks; b++) missing += job->out[(size_t)b * job->stride + SCAN_FEATURE + p];
    if (missing == (double)usable)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "feature %zu is missing on every row used (%zu rows): its mean and "
                        "variance cannot be estimated",
                        p + 1, usable);
  }
  if (!isfinite(total))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the weights sum to more than the largest double; scale them down");
  if (usable < (size_t)k)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "k = %d is larger than the number of usable rows (%zu)", k, usable);
  *n_usable = usable;
  *total_weight = total;
  return GMM_OK;
}

/* The weighted mean of the rows, the shift of first-pass statistics and of
** k-means: two passes, a rough mean and then the mean of the residuals
** around it, so that it is accurate even when |mean| >> spread. Then
** checks that squared distances fit in a double. */
static gmm_status rows_mean(scan_job *job, int workers, double *mean, char *err, size_t err_len) {
  size_t dd = (size_t)job->data->d;
  double centre[GMM_MAX_D];
  memset(mean, 0, dd * sizeof *mean);
  for (int pass = 0; pass < 2; pass++) {
    memcpy(centre, mean, dd * sizeof *mean);
    job->centre = centre;
    gmm_par_run(job->n_blocks, workers, scan_mean, job);
    double acc[GMM_MAX_D] = {0}, total = 0.0;
    for (int b = 0; b < job->n_blocks; b++) {
      const double *o = job->out + (size_t)b * job->stride;
      for (size_t p = 0; p < dd; p++) acc[p] += o[p];
      total += o[dd];
    }
    for (size_t p = 0; p < dd; p++) mean[p] = centre[p] + acc[p] / total;
  }
  job->centre = mean;
  gmm_par_run(job->n_blocks, workers, scan_spread, job);
  for (size_t p = 0; p < dd; p++) {
    double widest = 0.0;
    for (int b = 0; b < job->n_blocks; b++)
      widest = fmax(widest, job->out[(size_t)b * job->stride + p]);
    if (!isfinite(mean[p]) || !isfinite(widest * widest * (double)dd))
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "feature %zu spreads %g around its mean, too wide for squared distances "
                        "in double precision; rescale it",
                        p + 1, widest);
  }
  return GMM_OK;
}

/* The rows the initialisation sees when some values are missing: fit
** (12). A copy of the rows with some value observed, each missing value
** replaced by its feature's observed weighted mean (two passes, the second
** over the residuals of the first, as rows_mean). On GMM_OK *buffer owns
** the copy's rows and weights. */
static gmm_status fill_missing(const gmm_data *data, const gmm_allocator *a, gmm_data *filled,
                               double **buffer) {
  size_t n = data->n, dd = (size_t)data->d, kept = 0;
  double mean[GMM_MAX_D] = {0};
  for (int pass = 0; pass < 2; pass++) {
    double acc[GMM_MAX_D] = {0}, mass[GMM_MAX_D] = {0};
    for (size_t i = 0; i < n; i++) {
      double w = gmm_row_weight(data, i);
      const double *x = data->x + i * dd;
      for (size_t p = 0; p < dd; p++)
        if (w > 0.0 && !gmm_is_missing(x[p])) {
          acc[p] += w * (x[p] - mean[p]);
          mass[p] += w;
        }
    }
    for (size_t p = 0; p < dd; p++) mean[p] += acc[p] / mass[p];
  }
  for (size_t i = 0; i < n; i++) kept += !(gmm_row_weight(data, i) > 0.0) ||
                                          !gmm_is_missing_row(data->x + i * dd, data->d);
  /* rows, weights, then the labels (ints in double-sized slots) */
  size_t per_row = dd + (data->w != NULL) + (data->labels != NULL);
  *buffer = gmm_alloc_array(a, kept, per_row * sizeof(double));
  if (!*buffer) return GMM_ENOMEM;
  double *x = *buffer, *w = data->w ? x + kept * dd : NULL;
  int *labels = data->labels ? (int *)(x + kept * (dd + (data->w != NULL))) : NULL;
  size_t r = 0;
  for (size_t i = 0; i < n; i++) {
    const double *row = data->x + i * dd;
    if (gmm_row_weight(data, i) > 0.0 && gmm_is_missing_row(row, data->d)) continue;
    for (size_t p = 0; p < dd; p++) x[r * dd + p] = gmm_is_missing(row[p]) ? mean[p] : row[p];
    if (w) w[r] = data->w[i];
    if (labels) labels[r] = data->labels[i];
    r++;
  }
  *filled = *data;
  filled->x = x;
  filled->w = w;
  filled->labels = labels;
  filled->n = kept;
  return GMM_OK;
}

/* init labels: every row used has a label in 0 .. k - 1 and every
** component a row: fit (13). */
static gmm_status check_labels(const gmm_data *data, int k, char *err, size_t err_len) {
  if (!data->labels)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "init 'labels' needs a label per row (the first value after the spec)");
  size_t dd = (size_t)data->d, used[GMM_MAX_K] = {0};
  for (size_t i = 0; i < data->n; i++) {
    if (!(gmm_row_weight(data, i) > 0.0) || gmm_is_missing_row(data->x + i * dd, data->d))
      continue;
    int l = data->labels[i];
    if (l < 0 || l >= k)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "row %zu has label %d; init 'labels' takes labels from 0 to k - 1 = %d",
                        i + 1, l, k - 1);
    used[l]++;
  }
  for (int j = 0; j < k; j++)
    if (used[j] == 0)
      return gmm_errorf(err, err_len, GMM_EINVAL,
                        "no row has label %d: init 'labels' needs every label from 0 to k - 1 = "
                        "%d",
                        j, k - 1);
  return GMM_OK;
}

/* Runs initialisation init_index to its end in *cur: the initialisation on
** init_data (the rows, or their filled copy), EM on data. */
static gmm_status run_init(gmm_model *cur, const gmm_data *data, const gmm_data *init_data,
                           const gmm_options *opt, int init_index, const double *data_mean,
                           double n_weight, gmm_em_work *w, const gmm_allocator *a,
                           gmm_trace_fn trace, void *trace_ctx, char *err, size_t err_len) {
  gmm_status rc = initialise(cur, init_data, opt, init_index, data_mean, w, a, err, err_len);
  if (rc != GMM_OK) return rc;
  double lower_bound = -INFINITY;
  int converged = 0, n_iter = 0, n_empty = 0;
  int variational = gmm_prior_variational(opt->prior);
  for (int iter = 1; iter <= opt->max_iter; iter++) {
    double prev = lower_bound;
    double ll = gmm_em_pass(cur, data, w, 1);
    /* fit (16): the entropy of this E-step's responsibilities, before the
    ** M-step replaces the parameters it was taken under. */
    double r_log_r = variational ? gmm_bayes_expected_log_rho(cur, &w->total) - ll : 0.0;
    lower_bound = ll / n_weight;
    n_empty = prior_m_step(cur, &w->total, w->shift, opt->reg_covar, cur->covariances,
                           w->mstep_work);
    n_iter = iter;
    rc = gmm_model_prepare(cur, err, err_len);
    if (rc != GMM_OK) return rc;
    if (variational) {
      lower_bound = gmm_bayes_lower_bound(cur, r_log_r);
      if (!isfinite(lower_bound))
        return gmm_errorf(err, err_len, GMM_EFIT,
                          "the lower bound is not finite; increase reg_covar or decrease k");
      cur->summary.lower_bound = lower_bound;
    }
    if (trace && trace(trace_ctx, init_index, iter, lower_bound) != 0)
      return gmm_errorf(err, err_len, GMM_EINTERRUPTED, "interrupted");
    if (fabs(lower_bound - prev) < opt->tol) {
      converged = 1;
      break;
    }
  }
  w->want_map = 1; /* fit (14): ICL's term comes with the final pass */
  double ll = gmm_em_pass(cur, data, w, 0);
  w->want_map = 0;
  if (!isfinite(ll))
    return gmm_errorf(err, err_len, GMM_EFIT,
                      "the log-likelihood is not finite; increase reg_covar or decrease k");
  cur->summary.log_likelihood = ll;
  cur->summary.log_map = w->log_map;
  cur->summary.n_iter = n_iter;
  cur->summary.converged = converged;
  cur->summary.best_init = init_index;
  cur->summary.n_empty = n_empty;
  return GMM_OK;
}

/* The checks of a single fit that do not depend on the rows' values. */
static gmm_status check_fit_args(const gmm_data *data, const gmm_options *opt, char *err,
                                 size_t err_len) {
  if (data->d < 1)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the number of features must be between 1 and %d, provided %d", GMM_MAX_D,
                      data->d);
  gmm_status rc = gmm_options_check(opt, data->d, err, err_len);
  if (rc != GMM_OK) return rc;
  const gmm_model *from = opt->warm_start;
  if (from &&
      (from->k != opt->k || from->d != data->d || from->covariance_type != opt->covariance_type))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the warm-start model has k = %d, d = %d, covariance_type '%s'; the fit "
                      "asks for k = %d, d = %d, covariance_type '%s'",
                      from->k, from->d, gmm_cov_type_name(from->covariance_type), opt->k, data->d,
                      gmm_cov_type_name(opt->covariance_type));
  return GMM_OK;
}

/* ---- the hierarchical start: fit (13) ---- */

/* The PRNG stream of the rows init hc builds its tree on ("hc"), apart
** from the streams 0 .. n_init - 1 of the initialisations. */
#define GMM_HC_STREAM UINT64_C(0x6863000000000000)

/* The tree of init hc, built once per fit or selection. */
typedef struct hc_start {
  gmm_hc_tree *tree;
  size_t *rows; /* the rows of the initialisation's data it was built on, ascending */
  size_t n_rows;
} hc_start;

static void hc_start_free(hc_start *hc, const gmm_allocator *a) {
  gmm_hc_free(hc->tree);
  gmm_release(a, hc->rows);
  memset(hc, 0, sizeof *hc);
}

static int compare_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* Builds the tree on the rows of positive weight, or on a seeded sample of
** hc_rows of them. */
static gmm_status hc_build(hc_start *hc, const gmm_data *data, const gmm_options *opt,
                           const gmm_allocator *a, char *err, size_t err_len) {
  size_t n = 0, dd = (size_t)data->d;
  for (size_t i = 0; i < data->n; i++) n += gmm_row_weight(data, i) > 0.0;
  hc->rows = gmm_alloc_array(a, n ? n : 1, sizeof(size_t));
  if (!hc->rows) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  for (size_t i = 0, r = 0; i < data->n; i++)
    if (gmm_row_weight(data, i) > 0.0) hc->rows[r++] = i;
  size_t m = n < (size_t)opt->hc_rows ? n : (size_t)opt->hc_rows;
  if (m < n) {
    /* The first m of a seeded Fisher-Yates shuffle, back in row order. */
    gmm_rng rng;
    gmm_rng_seed(&rng, opt->seed, GMM_HC_STREAM);
    for (size_t i = 0; i < m; i++) {
      size_t j = i + (size_t)gmm_rng_below(&rng, (uint64_t)(n - i));
      size_t t = hc->rows[i];
      hc->rows[i] = hc->rows[j];
      hc->rows[j] = t;
    }
    qsort(hc->rows, m, sizeof *hc->rows, compare_size);
  }
  hc->n_rows = m;
  double *x = gmm_alloc_array(a, m ? m : 1, dd * sizeof(double));
  if (!x) {
    hc_start_free(hc, a);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  for (size_t r = 0; r < m; r++) memcpy(x + r * dd, data->x + hc->rows[r] * dd, dd * sizeof *x);
  gmm_status rc = gmm_hc_build(x, m, data->d, a, &hc->tree, err, err_len);
  gmm_release(a, x);
  if (rc != GMM_OK) hc_start_free(hc, a); /* a selection's next candidate tries again */
  return rc;
}

/* labels (data->n) = the tree's cut at k on its rows, -1 elsewhere. */
static gmm_status hc_labels(const hc_start *hc, const gmm_data *data, int k,
                            const gmm_allocator *a, int **labels, char *err, size_t err_len) {
  if ((size_t)k > hc->n_rows)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "k = %d is larger than the %zu rows the hierarchical start (init 'hc') "
                      "was built on",
                      k, hc->n_rows);
  int *l = gmm_alloc_array(a, data->n + hc->n_rows, sizeof(int));
  if (!l) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  int *cut = l + data->n;
  gmm_hc_cut(hc->tree, k, cut);
  for (size_t i = 0; i < data->n; i++) l[i] = -1;
  for (size_t r = 0; r < hc->n_rows; r++) l[hc->rows[r]] = cut[r];
  *labels = l;
  return GMM_OK;
}

/* ---- the fit ---- */

/* dst's prior = src's (models of one shape and prior). */
static void copy_prior(gmm_model *dst, const gmm_model *src) {
  dst->options.prior = src->options.prior;
  dst->options.weight_concentration_prior = src->options.weight_concentration_prior;
  dst->options.mean_precision_prior = src->options.mean_precision_prior;
  dst->options.degrees_of_freedom_prior = src->options.degrees_of_freedom_prior;
  dst->options.prune = src->options.prune;
  memcpy(dst->mean_prior, src->mean_prior, (size_t)src->d * sizeof(double));
  memcpy(dst->covariance_prior, src->covariance_prior,
         gmm_cov_len(1, src->d, src->covariance_type) * sizeof(double));
}

/* gmm_fit, with the hierarchical start a selection shares (hc: NULL for a
** fit of its own). */
static gmm_status fit_one(const gmm_data *data, const gmm_options *opt, hc_start *hc,
                          const gmm_allocator *a, gmm_trace_fn trace, void *trace_ctx,
                          gmm_model **out, char *err, size_t err_len) {
  *out = NULL;
  if (err && err_len) err[0] = 0;
  gmm_status rc = check_fit_args(data, opt, err, err_len);
  if (rc != GMM_OK) return rc;
  size_t n_usable = 0;
  double total_weight = 0.0;
  int workers = gmm_par_workers(gmm_thread_count(opt), gmm_par_blocks(data->n, 0), data->n,
                                (double)data->d + 1.0);
  scan_job scan = {data,
                   gmm_par_blocks(data->n, ((size_t)data->d + 3) * sizeof(double)),
                   opt->missing == GMM_MISSING_MARGINALIZE,
                   NULL,
                   (size_t)data->d + SCAN_FEATURE,
                   NULL,
                   NULL};
  scan.out = gmm_alloc_array(a, (size_t)scan.n_blocks * scan.stride, sizeof(double));
  scan.bad = gmm_alloc_array(a, (size_t)scan.n_blocks, sizeof(size_t));
  if (!scan.out || !scan.bad) {
    gmm_release(a, scan.out);
    gmm_release(a, scan.bad);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  missing_counts mc;
  rc = check_data(&scan, opt->k, workers, &n_usable, &total_weight, &mc, err, err_len);
  if (rc == GMM_OK && opt->init == GMM_INIT_LABELS && !opt->warm_start &&
      !(opt->weights_init && opt->means_init && opt->precisions_init))
    rc = check_labels(data, opt->k, err, err_len);
  if (rc != GMM_OK) {
    gmm_release(a, scan.out);
    gmm_release(a, scan.bad);
    return rc;
  }

  /* fit (10): weights are rescaled to a mean of 1 per usable row, so that
  ** their scale changes nothing (nk + 10 eps and the empty-component test
  ** assume rows of weight about 1); the log-likelihood is scaled back. */
  /* fit (16): under a prior the weights count rows (the prior's strength
  ** is in rows), so they are not rescaled. */
  double w_scale = data->w && opt->prior == GMM_PRIOR_NONE ? (double)n_usable / total_weight : 1.0;
  gmm_data scaled = *data;
  double *scaled_w = NULL, *filled = NULL;
  int *start_labels = NULL;             /* init hc's labels */
  hc_start own_hc = {NULL, NULL, 0};    /* init hc's tree, outside a selection */
  int k = opt->k, d = data->d;
  gmm_em_work w;
  gmm_model *cur = gmm_model_new_prior(k, d, opt->covariance_type, opt->prior, a);
  gmm_model *best = gmm_model_new_prior(k, d, opt->covariance_type, opt->prior, a);
  rc = gmm_em_work_alloc(&w, k, d, opt->covariance_type, data->n, gmm_thread_count(opt), a);
  size_t n_kept = n_usable;
  if (data->w && w_scale != 1.0) {
    scaled_w = gmm_alloc_array(a, data->n, sizeof(double));
    if (scaled_w) {
      n_kept = 0;
      for (size_t i = 0; i < data->n; i++) n_kept += (scaled_w[i] = data->w[i] * w_scale) > 0.0;
    }
    scaled.w = scaled_w;
  }
  if (!cur || !best || rc != GMM_OK || (data->w && w_scale != 1.0 && !scaled_w)) {
    rc = GMM_ENOMEM;
    goto done;
  }
  if (n_kept < (size_t)k) {
    /* Weights below 1e-308 of their mean underflow once rescaled. */
    rc = gmm_errorf(err, err_len, GMM_EINVAL,
                    "k = %d is larger than the number of rows of non-negligible weight (%zu)", k,
                    n_kept);
    goto done;
  }
  data = &scaled;
  /* Explicit initial parameters are checked once, using cur's arrays as
  ** scratch before they hold anything (prec_chol has room for d x d). */
  if (!opt->warm_start) {
    rc = check_explicit_init(opt, d, cur->prec_chol, cur->covariances, err, err_len);
    if (rc != GMM_OK) goto done;
  }

  /* fit (12): the initialisation sees the filled copy; rows from the first
  ** one with a missing value on go through the missing-value pass. */
  gmm_data init_data = *data;
  if ((mc.incomplete > 0 || mc.all_missing > 0) && gmm_prior_variational(opt->prior)) {
    rc = gmm_errorf(err, err_len, GMM_EINVAL,
                    "prior '%s' needs every feature of every row (%zu rows have a missing "
                    "value); leave those rows out with missing 'skip'",
                    gmm_prior_name(opt->prior), mc.incomplete + mc.all_missing);
    goto done;
  }
  if (mc.incomplete > 0 || mc.all_missing > 0) {
    size_t first = 0;
    while (!gmm_row_has_missing(data->x + first * (size_t)d, d)) first++;
    rc = gmm_em_work_missing(&w, first, k, d, opt->covariance_type, a);
    if (rc == GMM_OK) rc = fill_missing(data, a, &init_data, &filled);
    if (rc != GMM_OK) goto done;
  }
  double data_mean[GMM_MAX_D];
  scan.data = &init_data;
  rc = rows_mean(&scan, workers, data_mean, err, err_len);
  if (rc != GMM_OK) goto done;
  if (opt->prior != GMM_PRIOR_NONE) {
    /* fit (16): the prior's defaults from the rows the initialisation sees */
    rc = gmm_prior_resolve(cur, opt, &init_data, data_mean, err, err_len);
    if (rc != GMM_OK) goto done;
    copy_prior(best, cur);
  }
  /* fit (13): after the checks of the rows' spread, on the rows the
  ** initialisation sees. */
  if (opt->init == GMM_INIT_HC && !opt->warm_start &&
      !(opt->weights_init && opt->means_init && opt->precisions_init)) {
    hc_start *tree = hc ? hc : &own_hc;
    if (!tree->tree) rc = hc_build(tree, &init_data, opt, a, err, err_len);
    if (rc == GMM_OK) rc = hc_labels(tree, &init_data, k, a, &start_labels, err, err_len);
    if (rc != GMM_OK) goto done;
    init_data.labels = start_labels;
  }
  double n_weight = (double)n_usable;

  int have_best = 0;
  int n_init = opt->warm_start ? 1 : opt->n_init;
  char last_err[256] = "";
  for (int init = 0; init < n_init; init++) {
    rc = run_init(cur, data, &init_data, opt, init, data_mean, n_weight, &w, a, trace, trace_ctx,
                  last_err, sizeof last_err);
    if (rc == GMM_ENOMEM) goto done;
    if (rc == GMM_EINTERRUPTED) {
      gmm_errorf(err, err_len, rc, "interrupted");
      goto done;
    }
    if (rc != GMM_OK) continue; /* fit (6) */
    /* fit (7), (16): the best log-likelihood, or lower bound */
    int better = gmm_prior_variational(opt->prior)
                     ? cur->summary.lower_bound > best->summary.lower_bound
                     : cur->summary.log_likelihood > best->summary.log_likelihood;
    if (!have_best || better) {
      gmm_model *t = best;
      best = cur;
      cur = t;
      have_best = 1;
    }
  }
  if (!have_best) {
    rc = gmm_errorf(err, err_len, GMM_EFIT,
                    "EM failed in every initialisation (%s): try fewer components or a larger "
                    "reg_covar",
                    last_err);
    goto done;
  }
  gmm_options resolved = best->options;
  best->options = *opt;
  best->options.weights_init = best->options.means_init = best->options.precisions_init = NULL;
  best->options.warm_start = NULL;
  best->options.mean_prior = best->options.covariance_prior = NULL;
  best->options.weight_concentration_prior = resolved.weight_concentration_prior;
  best->options.mean_precision_prior = resolved.mean_precision_prior;
  best->options.degrees_of_freedom_prior = resolved.degrees_of_freedom_prior;
  best->summary.n_samples = data->w ? total_weight : n_weight;
  best->summary.log_likelihood /= w_scale;
  if (!(fabs(best->summary.log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD)) {
    rc = gmm_errorf(err, err_len, GMM_EINVAL,
                    "the log-likelihood (%g) is beyond +-%g, where BIC and AIC overflow; scale "
                    "the weights or the data down",
                    best->summary.log_likelihood, GMM_MAX_ABS_LOG_LIKELIHOOD);
    goto done;
  }
  best->summary.log_map /= w_scale;
  best->summary.n_skipped = data->n_skipped + (int64_t)mc.all_missing;
  best->summary.n_incomplete = (int64_t)mc.incomplete;
  best->summary.missing_fraction = mc.cells / ((double)n_usable * (double)d);
  best->summary.weighted = data->w != NULL;
  best->summary.warm_started = opt->warm_start != NULL;
  *out = best;
  best = NULL;
  rc = GMM_OK;

done:
  if (rc == GMM_ENOMEM) gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  gmm_em_work_free(&w, a);
  gmm_release(a, scan.out);
  gmm_release(a, scan.bad);
  gmm_release(a, scaled_w);
  gmm_release(a, filled);
  gmm_release(a, start_labels);
  hc_start_free(&own_hc, a);
  gmm_model_free(cur);
  gmm_model_free(best);
  return rc;
}

/* ---- pruning: fit (17) ---- */

/* The model of m's effective components (k_kept of them, in order) with
** their posterior, to warm-start EM from. */
static gmm_model *kept_components(const gmm_model *m, int k_kept, const gmm_allocator *a) {
  int k = m->k, d = m->d;
  size_t dd = (size_t)d;
  gmm_cov_type t = m->covariance_type, shape = gmm_cov_shape(t);
  gmm_model *s = gmm_model_new_prior(k_kept, d, t, m->options.prior, a);
  if (!s) return NULL;
  copy_prior(s, m);
  size_t n_cov1 = shape == GMM_COV_TIED ? 0 : gmm_cov_len(1, d, t);
  if (shape == GMM_COV_TIED) {
    memcpy(s->covariances, m->covariances, dd * dd * sizeof(double));
    s->degrees_of_freedom[0] = m->degrees_of_freedom[0];
  }
  int dp = m->options.prior == GMM_PRIOR_DIRICHLET_PROCESS;
  for (int j = 0, r = 0; j < k; j++) {
    if (!gmm_model_effective(m, j)) continue;
    size_t jj = (size_t)j, rr = (size_t)r;
    memcpy(s->means + rr * dd, m->means + jj * dd, dd * sizeof(double));
    memcpy(s->covariances + rr * n_cov1, m->covariances + jj * n_cov1, n_cov1 * sizeof(double));
    s->weight_concentration[r] = m->weight_concentration[j];
    if (dp) s->weight_concentration[k_kept + r] = m->weight_concentration[k + j];
    s->mean_precision[r] = m->mean_precision[j];
    if (shape != GMM_COV_TIED) s->degrees_of_freedom[r] = m->degrees_of_freedom[j];
    r++;
  }
  gmm_bayes_weights(s);
  return s;
}

gmm_status gmm_fit(const gmm_data *data, const gmm_options *opt, const gmm_allocator *a,
                   gmm_trace_fn trace, void *trace_ctx, gmm_model **out, char *err,
                   size_t err_len) {
  gmm_model *m = NULL;
  gmm_status rc = fit_one(data, opt, NULL, a, trace, trace_ctx, &m, err, err_len);
  if (rc != GMM_OK || !opt->prune) {
    *out = m;
    return rc;
  }
  /* fit (17): EM goes on with the effective components alone, under the
  ** same prior (its parameters as resolved for the first fit). */
  int k_kept = gmm_model_n_effective(m);
  if (k_kept == m->k) {
    *out = m;
    return GMM_OK;
  }
  *out = NULL;
  gmm_model *start = kept_components(m, k_kept, a), *pruned = NULL;
  if (!start) {
    gmm_model_free(m);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  gmm_options o = *opt;
  o.k = k_kept;
  o.n_init = 1;
  o.prune = 0;
  o.warm_start = start;
  o.weight_concentration_prior = m->options.weight_concentration_prior;
  o.mean_precision_prior = m->options.mean_precision_prior;
  o.degrees_of_freedom_prior = m->options.degrees_of_freedom_prior;
  o.mean_prior = m->mean_prior;
  o.covariance_prior = m->covariance_prior;
  rc = fit_one(data, &o, NULL, a, trace, trace_ctx, &pruned, err, err_len);
  if (rc == GMM_OK) {
    pruned->options = m->options;
    pruned->options.k = k_kept;
    pruned->summary.n_pruned = m->k - k_kept;
    pruned->summary.best_init = m->summary.best_init;
    pruned->summary.warm_started = m->summary.warm_started;
  }
  gmm_model_free(start);
  gmm_model_free(m);
  *out = pruned;
  return rc;
}

/* ---- selection: fit (11) ---- */

gmm_status gmm_fit_select(const gmm_data *data, const gmm_options *opt, const int *ks, int n_k,
                          const gmm_cov_type *types, int n_types, const gmm_allocator *a,
                          gmm_trace_fn trace, void *trace_ctx, gmm_model **out, char *err,
                          size_t err_len) {
  *out = NULL;
  if (n_k < 1 || n_types < 1 || n_k > GMM_MAX_CANDIDATES / n_types)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "selection needs 1 to %d candidates, provided %lld (%d k values x %d "
                      "covariance types)",
                      GMM_MAX_CANDIDATES, (long long)n_k * n_types, n_k, n_types);
  if (opt->weights_init || opt->means_init || opt->precisions_init || opt->warm_start)
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "explicit initial parameters and warm starts do not combine with a list "
                      "of k or covariance_type");
  if (gmm_prior_variational(opt->prior))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "prior '%s' chooses the number of components itself: give one k and one "
                      "covariance_type",
                      gmm_prior_name(opt->prior));
  int n_cand = n_k * n_types;
  /* Every candidate's options are checked before any fit, so that an
  ** invalid k or option is an error, not a failed candidate. */
  for (int c = 0; c < n_cand; c++) {
    gmm_options o = *opt;
    o.k = ks[c / n_types];
    o.covariance_type = types[c % n_types];
    gmm_status rc = gmm_options_check(&o, data->d, err, err_len);
    if (rc != GMM_OK) return rc;
  }
  gmm_candidate *cand = gmm_alloc_array(a, (size_t)n_cand, sizeof *cand);
  hc_start hc = {NULL, NULL, 0}; /* fit (11): one tree for every candidate */
  if (!cand) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  gmm_model *best = NULL;
  gmm_status rc = GMM_OK;
  char why[256] = "";
  for (int c = 0; c < n_cand && rc == GMM_OK; c++) {
    gmm_options o = *opt;
    o.k = ks[c / n_types];
    o.covariance_type = types[c % n_types];
    memset(&cand[c], 0, sizeof cand[c]);
    cand[c].k = o.k;
    cand[c].covariance_type = o.covariance_type;
    gmm_model *m = NULL;
    rc = fit_one(data, &o, &hc, a, trace, trace_ctx, &m, why, sizeof why);
    if (rc != GMM_OK) {
      /* Too few rows for this k, or EM failed: a failed candidate. */
      if (rc != GMM_ENOMEM && rc != GMM_EINTERRUPTED) rc = GMM_OK;
      cand[c].failed = 1;
      continue;
    }
    cand[c].converged = m->summary.converged;
    cand[c].n_iter = m->summary.n_iter;
    cand[c].log_likelihood = m->summary.log_likelihood;
    cand[c].bic = gmm_model_bic(m);
    cand[c].icl = gmm_model_icl(m);
    cand[c].aic = gmm_model_aic(m);
    if (!best ||
        gmm_model_criterion(m, opt->criterion) < gmm_model_criterion(best, opt->criterion)) {
      gmm_model_free(best);
      best = m;
    } else {
      gmm_model_free(m);
    }
  }
  if (rc == GMM_OK && !best)
    rc = gmm_errorf(err, err_len, GMM_EFIT, "no candidate could be fitted (the last: %s)", why);
  else if (rc == GMM_OK)
    rc = gmm_model_set_candidates(best, cand, n_cand);
  if (rc == GMM_ENOMEM) gmm_errorf(err, err_len, rc, "out of memory");
  if (rc == GMM_EINTERRUPTED) gmm_errorf(err, err_len, rc, "interrupted");
  gmm_release(a, cand);
  hc_start_free(&hc, a);
  if (rc != GMM_OK) {
    gmm_model_free(best);
    return rc;
  }
  *out = best;
  return GMM_OK;
}
