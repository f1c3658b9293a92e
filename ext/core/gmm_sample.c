/*
** gmm_sample.c -- drawing rows from a fitted mixture.
**
** Requirements (tests cite them as "sample (N)"):
**  (1) Each draw picks component j with probability weights[j], then
**      x = means[j] + L_j z with z standard normal and L_j the lower
**      Cholesky factor of covariance j (for diag and spherical, the standard
**      deviations), so that the sample's mean and covariance converge to
**      the model's.
**  (2) The same model and seed give the same sequence of draws on every
**      platform with IEEE doubles: the PRNG is the project's own, normals
**      come from Box-Muller on it.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

struct gmm_sampler {
  int k, d;
  gmm_cov_type type;
  gmm_rng rng;
  double *cum_weights; /* k: running sums of the weights */
  double *means;       /* k x d */
  double *scale;       /* full k x d x d, tied d x d: L; diag k x d,
                          spherical k: standard deviations */
  double *z;           /* d: the current standard normal draw */
  double spare;        /* Box-Muller's second value, when has_spare */
  int has_spare;
  gmm_allocator allocator;
};

gmm_status gmm_sampler_new(const gmm_model *m, uint64_t seed, const gmm_allocator *a,
                           gmm_sampler **out) {
  *out = NULL;
  size_t kk = (size_t)m->k, dd = (size_t)m->d;
  size_t n_cov = gmm_cov_len(m->k, m->d, m->covariance_type);
  size_t header = (sizeof(gmm_sampler) + sizeof(double) - 1) / sizeof(double);
  double *block = gmm_alloc_array(a, header + kk + kk * dd + n_cov + dd, sizeof(double));
  if (!block) return GMM_ENOMEM;
  gmm_sampler *s = (gmm_sampler *)block;
  memset(s, 0, sizeof *s);
  s->k = m->k;
  s->d = m->d;
  s->type = gmm_cov_shape(m->covariance_type);
  s->allocator = *a;
  s->cum_weights = block + header;
  s->means = s->cum_weights + kk;
  s->scale = s->means + kk * dd;
  s->z = s->scale + n_cov;
  gmm_rng_seed(&s->rng, seed, 0);
  double cum = 0.0;
  for (size_t j = 0; j < kk; j++) s->cum_weights[j] = cum += m->weights[j];
  memcpy(s->means, m->means, kk * dd * sizeof(double));
  memcpy(s->scale, m->covariances, n_cov * sizeof(double));
  if (s->type == GMM_COV_FULL || s->type == GMM_COV_TIED) {
    size_t n_mats = s->type == GMM_COV_FULL ? kk : 1;
    for (size_t j = 0; j < n_mats; j++)
      if (gmm_cholesky(s->scale + j * dd * dd, m->d) != 0) {
        gmm_release(a, block);
        return GMM_EINVAL; /* a prepared model's covariances are SPD */
      }
  } else {
    for (size_t i = 0; i < n_cov; i++) s->scale[i] = sqrt(s->scale[i]);
  }
  *out = s;
  return GMM_OK;
}

void gmm_sampler_free(gmm_sampler *s) {
  if (!s) return;
  gmm_allocator a = s->allocator;
  gmm_release(&a, s);
}

static double normal(gmm_sampler *s) {
  if (s->has_spare) {
    s->has_spare = 0;
    return s->spare;
  }
  s->has_spare = 1;
  return gmm_rng_normal_pair(&s->rng, &s->spare);
}

void gmm_sampler_draw(gmm_sampler *s, double *x, int *component) {
  size_t dd = (size_t)s->d;
  double u = gmm_rng_uniform(&s->rng) * s->cum_weights[s->k - 1];
  int j = 0;
  while (j < s->k - 1 && !(u < s->cum_weights[j])) j++;
  *component = j;
  size_t jj = (size_t)j;
  const double *mu = s->means + jj * dd;
  for (size_t p = 0; p < dd; p++) s->z[p] = normal(s);
  switch (s->type) {
    case GMM_COV_FULL:
    case GMM_COV_TIED: {
      const double *l = s->scale + (s->type == GMM_COV_FULL ? jj * dd * dd : 0);
      for (size_t p = 0; p < dd; p++) {
        double v = 0.0;
        for (size_t q = 0; q <= p; q++) v += l[p * dd + q] * s->z[q];
        x[p] = mu[p] + v;
      }
      break;
    }
    case GMM_COV_DIAG:
      for (size_t p = 0; p < dd; p++) x[p] = mu[p] + s->scale[jj * dd + p] * s->z[p];
      break;
    case GMM_COV_SPHERICAL:
      for (size_t p = 0; p < dd; p++) x[p] = mu[p] + s->scale[jj] * s->z[p];
      break;
    default: break;
  }
}
