/*
** gmm_mclust.c -- the M-steps of mclust's covariance models beyond
** scikit-learn's four: each component's covariance Sigma_j = lambda_j D_j
** A_j D_j' with the volume lambda (a scalar), the shape A (diagonal, det 1,
** its values in descending order) and the orientation D (orthogonal) equal
** across components (E), varying (V) or the identity (I) (Banfield &
** Raftery, 1993; Celeux & Govaert, 1995, "Gaussian parsimonious clustering
** models", Pattern Recognition 28:781-793).
**
** Requirements (tests cite them as "mclust (N)"):
**  (1) Input: the unconstrained estimate of every component, S_j = W_j /
**      n_j + reg_covar I (W_j its responsibility-weighted scatter around
**      its mean, n_j its mass), in the storage shape of the model
**      (gmm_cov_shape: spherical for EII, diag for EEI, VEI, EVI, full for
**      the rest); output, in place, the Sigma_j that minimise
**      sum_j n_j (log |Sigma_j| + tr(S_j Sigma_j^-1)) under the model's
**      constraints: the maximum-likelihood M-step for the scatters
**      n_j S_j. reg_covar therefore enters as n_j reg_covar I added to each
**      scatter: for the four unconstrained-shape models (VVV, EEE, VVI,
**      VII, gmm_stats.c) and for EII and EEI that is reg_covar added to the
**      covariance diagonals; for the others it keeps the constraint.
**  (2) Closed forms: EII sigma^2 = sum n_j tr S_j / (n d); EEI A lambda =
**      sum n_j diag S_j / n; EVI lambda A_j with A_j = diag S_j / |diag
**      S_j|^(1/d), lambda = sum n_j |diag S_j|^(1/d) / n; EVV Sigma_j =
**      lambda S_j / |S_j|^(1/d), lambda = sum n_j |S_j|^(1/d) / n; EEV D_j
**      the eigenvectors of S_j (eigenvalues omega_j descending), A and
**      lambda from sum n_j omega_j.
**  (3) Iterative (Celeux & Govaert, 1995): VEI, VEE and VEV alternate the
**      common shape (or shape and orientation, VEE) given the volumes and
**      the volumes lambda_j = tr(S_j (D_j A D_j')^-1) / d given the shape.
**      EVE and VVE (the objective of Browne & McNicholas, 2014, "Estimating
**      common principal components in high dimensions", ADAC 8:217-226)
**      alternate the shapes (and volumes) given D with a sweep of Jacobi
**      rotations of D given them, each rotation minimising exactly over
**      its pair of columns (constrain_xve says why not their MM steps).
**      VEI, VEE and VEV stop when no volume changes by more than
**      MCLUST_INNER_TOL (relative), EVE and VVE when no rotation exceeds
**      MCLUST_INNER_TOL radians; all after at most MCLUST_INNER_MAX rounds
**      (the fit goes on from where the rounds stopped: each round lowers
**      the objective, so EM's log-likelihood still never decreases).
**  (4) The iterative models start from the previous M-step's covariances
**      when the caller has them (the volumes, or the orientation D: the
**      eigenvectors of the sum of the previous Sigma_j), else from S. The
**      result depends only on (S, n, previous covariances), so gmm_fit's
**      iterations and gmm_mstep's agree to the bit.
*/
#include "gmm_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MCLUST_INNER_TOL 1e-12
#define MCLUST_INNER_MAX 10000

int gmm_cov_iterative(gmm_cov_type t) {
  return t == GMM_COV_VEI || t == GMM_COV_VEE || t == GMM_COV_VEV || t == GMM_COV_EVE ||
         t == GMM_COV_VVE;
}

size_t gmm_constrain_work_len(int k, int d, gmm_cov_type t) {
  if ((unsigned)t <= GMM_COV_SPHERICAL) return 0;
  size_t kk = (size_t)k, dd = (size_t)d;
  /* as gmm_constrain_covariances lays it out */
  return gmm_cov_len(k, d, t) + kk * dd * dd + 2 * kk * dd + 8 * dd * dd + 3 * kk + 2 * dd;
}

/* exp(mean(log v)): |diag(v)|^(1/d), without overflow. */
static double geo_mean(const double *v, int d) {
  double s = 0.0;
  for (int p = 0; p < d; p++) s += log(v[p]);
  return exp(s / d);
}

/* |S|^(1/d) of a symmetric positive definite S (NAN when it is not). */
static double det_root(const double *s, int d, double *work) {
  size_t dd = (size_t)d;
  memcpy(work, s, dd * dd * sizeof *work);
  if (gmm_cholesky(work, d) != 0) return NAN;
  double l = 0.0;
  for (size_t p = 0; p < dd; p++) l += log(work[p * dd + p]);
  return exp(2.0 * l / d);
}

static double max_rel_change(const double *a, const double *b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++) {
    double c = fabs(a[i] - b[i]) / (fabs(b[i]) > DBL_MIN ? fabs(b[i]) : 1.0);
    if (!(c <= m)) m = c; /* NaN counts as change */
  }
  return m;
}

/* out = D diag(a) D' (D d x d row-major, columns the directions). */
static void compose(const double *dm, const double *a, double *out, int d) {
  size_t dd = (size_t)d;
  for (size_t p = 0; p < dd; p++)
    for (size_t q = 0; q <= p; q++) {
      double s = 0.0;
      for (size_t r = 0; r < dd; r++) s += dm[p * dd + r] * a[r] * dm[q * dd + r];
      out[p * dd + q] = out[q * dd + p] = s;
    }
}

/* ---- diagonal models: mclust (2), (3) ---- */

/* VEI and VEV: the common shape a (det 1) and the volumes lam (k, their
** starting values on entry) of Sigma_j = lam_j A in a basis where S_j is
** the diagonal v_j (k x d): alternately a = sum_j n_j v_j / lam_j
** normalised and lam_j = sum_p v_jp / a_p / d, mclust (3). */
static void common_shape(int k, int d, const double *nk, const double *v, double *a, double *lam,
                         double *lam_old) {
  size_t kk = (size_t)k, dd = (size_t)d;
  for (int it = 0; it < MCLUST_INNER_MAX; it++) {
    for (size_t p = 0; p < dd; p++) {
      double s = 0.0;
      for (size_t j = 0; j < kk; j++) s += nk[j] * v[j * dd + p] / lam[j];
      a[p] = s;
    }
    double g = geo_mean(a, d);
    for (size_t p = 0; p < dd; p++) a[p] /= g;
    memcpy(lam_old, lam, kk * sizeof *lam);
    for (size_t j = 0; j < kk; j++) {
      double s = 0.0;
      for (size_t p = 0; p < dd; p++) s += v[j * dd + p] / a[p];
      lam[j] = s / (double)d;
    }
    if (!(max_rel_change(lam, lam_old, kk) > MCLUST_INNER_TOL)) break;
  }
}

static void constrain_diag(gmm_cov_type t, int k, int d, const double *nk, double *cov,
                           const double *prev, double *a, double *lam, double *lam_old) {
  size_t kk = (size_t)k, dd = (size_t)d;
  double n = 0.0;
  for (size_t j = 0; j < kk; j++) n += nk[j];
  if (t == GMM_COV_EEI) {
    for (size_t p = 0; p < dd; p++) {
      double s = 0.0;
      for (size_t j = 0; j < kk; j++) s += nk[j] * cov[j * dd + p];
      a[p] = s / n;
    }
    for (size_t j = 0; j < kk; j++) memcpy(cov + j * dd, a, dd * sizeof *a);
    return;
  }
  if (t == GMM_COV_EVI) {
    double lambda = 0.0;
    for (size_t j = 0; j < kk; j++) lambda += nk[j] * (lam[j] = geo_mean(cov + j * dd, d));
    lambda /= n;
    for (size_t j = 0; j < kk; j++)
      for (size_t p = 0; p < dd; p++) cov[j * dd + p] *= lambda / lam[j];
    return;
  }
  /* VEI: Sigma_j = lambda_j A. */
  for (size_t j = 0; j < kk; j++) {
    if (prev) {
      lam[j] = geo_mean(prev + j * dd, d);
    } else {
      double s = 0.0;
      for (size_t p = 0; p < dd; p++) s += cov[j * dd + p];
      lam[j] = s / (double)d;
    }
  }
  common_shape(k, d, nk, cov, a, lam, lam_old);
  for (size_t j = 0; j < kk; j++)
    for (size_t p = 0; p < dd; p++) cov[j * dd + p] = lam[j] * a[p];
}

/* ---- full models: mclust (2), (3) ---- */

/* Eigenvectors (k d x d) and eigenvalues (k x d, descending) of every S_j. */
static void eigen_all(const double *cov, int k, int d, double *vec, double *val, double *tmp) {
  size_t dd = (size_t)d;
  for (size_t j = 0; j < (size_t)k; j++) {
    memcpy(tmp, cov + j * dd * dd, dd * dd * sizeof *tmp);
    gmm_sym_eigen(tmp, d, val + j * dd, vec + j * dd * dd);
  }
}

/* lambda_j = det(prev_j)^(1/d), or tr(S_j) / d without a previous model. */
static void start_volumes(const double *cov, const double *prev, int k, int d, double *lam,
                          double *tmp) {
  size_t dd = (size_t)d;
  for (size_t j = 0; j < (size_t)k; j++) {
    double v = prev ? det_root(prev + j * dd * dd, d, tmp) : NAN;
    if (!(v > 0.0) || !isfinite(v)) {
      v = 0.0;
      for (size_t p = 0; p < dd; p++) v += cov[j * dd * dd + p * dd + p];
      v /= (double)d;
    }
    lam[j] = v;
  }
}

/* VEE: Sigma_j = lambda_j C, |C| = 1. */
static void constrain_vee(int k, int d, const double *nk, double *cov, const double *prev,
                          double *lam, double *lam_old, double *c, double *ci, double *tmp) {
  size_t kk = (size_t)k, dd = (size_t)d;
  start_volumes(cov, prev, k, d, lam, tmp);
  for (int it = 0; it < MCLUST_INNER_MAX; it++) {
    memset(c, 0, dd * dd * sizeof *c);
    for (size_t j = 0; j < kk; j++)
      for (size_t i = 0; i < dd * dd; i++) c[i] += nk[j] * cov[j * dd * dd + i] / lam[j];
    double g = det_root(c, d, tmp);
    for (size_t i = 0; i < dd * dd; i++) c[i] /= g;
    if (gmm_spd_inverse(c, ci, tmp, d) != 0) break;
    memcpy(lam_old, lam, kk * sizeof *lam);
    for (size_t j = 0; j < kk; j++) {
      double s = 0.0;
      for (size_t i = 0; i < dd * dd; i++) s += cov[j * dd * dd + i] * ci[i];
      lam[j] = s / (double)d;
    }
    if (!(max_rel_change(lam, lam_old, kk) > MCLUST_INNER_TOL)) break;
  }
  for (size_t j = 0; j < kk; j++)
    for (size_t i = 0; i < dd * dd; i++) cov[j * dd * dd + i] = lam[j] * c[i];
}

/* EEV and VEV: Sigma_j = lambda_j D_j A D_j', D_j the eigenvectors of S_j. */
static void constrain_xev(gmm_cov_type t, int k, int d, const double *nk, double *cov,
                          const double *prev, double *vec, double *val, double *a, double *lam,
                          double *lam_old, double *tmp) {
  size_t kk = (size_t)k, dd = (size_t)d;
  eigen_all(cov, k, d, vec, val, tmp);
  double n = 0.0;
  for (size_t j = 0; j < kk; j++) n += nk[j];
  if (t == GMM_COV_EEV) {
    for (size_t p = 0; p < dd; p++) {
      double s = 0.0;
      for (size_t j = 0; j < kk; j++) s += nk[j] * val[j * dd + p];
      a[p] = s / n;
    }
    for (size_t j = 0; j < kk; j++) lam[j] = 1.0;
  } else {
    start_volumes(cov, prev, k, d, lam, tmp);
    common_shape(k, d, nk, val, a, lam, lam_old);
  }
  for (size_t j = 0; j < kk; j++) {
    for (size_t p = 0; p < dd; p++) tmp[p] = lam[j] * a[p];
    compose(vec + j * dd * dd, tmp, cov + j * dd * dd, d);
  }
}

/* EVE and VVE: Sigma_j = lambda_j D A_j D' with one orientation D. With
** M_j = D' W_j D (W_j = n_j S_j), given D each component's lambda_j A_j
** follows from diag(M_j) (VVE: diag(M_j) / n_j itself; EVE: a common
** volume). Given B_j = (lambda_j A_j)^-1, D minimises
** f(D) = sum_j tr(M_j B_j); a rotation of D's columns p and q by theta
** changes f by beta cos 2 theta + gamma sin 2 theta, whose minimum is
** closed-form, so sweeps over the pairs (a Jacobi method) descend f
** exactly pair by pair, and M_j follows each rotation in O(k d). The
** shapes are updated after every sweep; the loop stops when no rotation
** exceeds MCLUST_INNER_TOL radians. The objective is that of Browne &
** McNicholas (2014), whose majorisation-minimisation steps needed
** thousands of rounds per M-step here (bench: EVE 25x, VVE 9x a VVV
** iteration); the sweeps reach the same fixed point in a few. */
static void shapes_given_orientation(gmm_cov_type t, int k, int d, const double *nk,
                                     const double *m, double *b, double *e) {
  size_t kk = (size_t)k, dd = (size_t)d;
  double n = 0.0, lambda = 0.0;
  for (size_t j = 0; j < kk; j++) {
    for (size_t p = 0; p < dd; p++) e[j * dd + p] = m[j * dd * dd + p * dd + p] / nk[j];
    n += nk[j];
    lambda += nk[j] * geo_mean(e + j * dd, d);
  }
  lambda /= n;
  for (size_t j = 0; j < kk; j++) {
    double scale = t == GMM_COV_VVE ? 1.0 : lambda / geo_mean(e + j * dd, d);
    for (size_t p = 0; p < dd; p++) {
      e[j * dd + p] *= scale; /* the diagonal of Sigma_j in D's basis */
      b[j * dd + p] = 1.0 / e[j * dd + p];
    }
  }
}

static void constrain_xve(gmm_cov_type t, int k, int d, const double *nk, double *cov,
                          const double *prev, double *m, double *b, double *e, double *dm,
                          double *tmp) {
  size_t kk = (size_t)k, dd = (size_t)d, d2 = dd * dd;
  /* The starting orientation: eigenvectors of the sum of the previous
  ** covariances, or of the pooled S. */
  memset(tmp, 0, d2 * sizeof *tmp);
  const double *from = prev ? prev : cov;
  for (size_t j = 0; j < kk; j++)
    for (size_t i = 0; i < d2; i++) tmp[i] += (prev ? 1.0 : nk[j]) * from[j * d2 + i];
  gmm_sym_eigen(tmp, d, tmp + d2, dm);
  /* M_j = D' (n_j S_j) D */
  for (size_t j = 0; j < kk; j++) {
    const double *s = cov + j * d2;
    double *mj = m + j * d2;
    for (size_t p = 0; p < dd; p++)
      for (size_t r = 0; r < dd; r++) {
        double u = 0.0;
        for (size_t q = 0; q < dd; q++) u += s[p * dd + q] * dm[q * dd + r];
        tmp[p * dd + r] = nk[j] * u; /* W_j D */
      }
    for (size_t r = 0; r < dd; r++)
      for (size_t c = 0; c < dd; c++) {
        double u = 0.0;
        for (size_t p = 0; p < dd; p++) u += dm[p * dd + r] * tmp[p * dd + c];
        mj[r * dd + c] = u;
      }
  }
  for (int sweep = 0; sweep < MCLUST_INNER_MAX; sweep++) {
    shapes_given_orientation(t, k, d, nk, m, b, e);
    double largest = 0.0;
    for (size_t p = 0; p + 1 < dd; p++)
      for (size_t q = p + 1; q < dd; q++) {
        double beta = 0.0, gamma = 0.0;
        for (size_t j = 0; j < kk; j++) {
          const double *mj = m + j * d2;
          double db = b[j * dd + p] - b[j * dd + q];
          beta += 0.5 * db * (mj[p * dd + p] - mj[q * dd + q]);
          gamma -= db * mj[p * dd + q];
        }
        double amp = hypot(beta, gamma);
        if (!(amp > 0.0)) continue;
        /* f(theta) - f(0) = beta (cos 2 theta - 1) + gamma sin 2 theta */
        double theta = 0.5 * atan2(-gamma, -beta);
        if (!(beta * (cos(2.0 * theta) - 1.0) + gamma * sin(2.0 * theta) < 0.0)) continue;
        double c = cos(theta), sn = sin(theta);
        largest = fmax(largest, fabs(theta));
        for (size_t r = 0; r < dd; r++) { /* D's columns p, q */
          double x = dm[r * dd + p], y = dm[r * dd + q];
          dm[r * dd + p] = c * x - sn * y;
          dm[r * dd + q] = sn * x + c * y;
        }
        for (size_t j = 0; j < kk; j++) { /* M_j = R' M_j R */
          double *mj = m + j * d2;
          for (size_t r = 0; r < dd; r++) {
            double x = mj[r * dd + p], y = mj[r * dd + q];
            mj[r * dd + p] = c * x - sn * y;
            mj[r * dd + q] = sn * x + c * y;
          }
          for (size_t r = 0; r < dd; r++) {
            double x = mj[p * dd + r], y = mj[q * dd + r];
            mj[p * dd + r] = c * x - sn * y;
            mj[q * dd + r] = sn * x + c * y;
          }
        }
      }
    if (!(largest > MCLUST_INNER_TOL)) break;
  }
  shapes_given_orientation(t, k, d, nk, m, b, e);
  for (size_t j = 0; j < kk; j++) compose(dm, e + j * dd, cov + j * d2, d);
}

void gmm_constrain_covariances(gmm_cov_type t, int k, int d, const double *nk, double *cov,
                               const double *prev, double *work) {
  size_t kk = (size_t)k, dd = (size_t)d;
  if ((unsigned)t <= GMM_COV_SPHERICAL) return;
  if (t == GMM_COV_EII) {
    double n = 0.0, s = 0.0;
    for (size_t j = 0; j < kk; j++) {
      n += nk[j];
      s += nk[j] * cov[j];
    }
    for (size_t j = 0; j < kk; j++) cov[j] = s / n;
    return;
  }
  /* work: the previous covariances (copied first: they may be cov itself),
  ** eigenvectors (k d^2), eigenvalues and another k x d, eight d x d
  ** matrices, three k vectors, two d vectors. */
  size_t n_cov = gmm_cov_len(k, d, t), d2 = dd * dd;
  double *old = work, *vec = old + n_cov, *val = vec + kk * d2, *val2 = val + kk * dd;
  double *m = val2 + kk * dd;
  double *k0 = m + 8 * d2, *k1 = k0 + kk, *k2 = k1 + kk, *v0 = k2 + kk;
  if (prev && gmm_cov_iterative(t)) {
    memmove(old, prev, n_cov * sizeof *old);
    prev = old;
  } else {
    prev = NULL;
  }
  switch (t) {
    case GMM_COV_EEI:
    case GMM_COV_EVI:
    case GMM_COV_VEI: constrain_diag(t, k, d, nk, cov, prev, v0, k0, k1); return;
    case GMM_COV_EVV: {
      double n = 0.0, lambda = 0.0;
      for (size_t j = 0; j < kk; j++) {
        k0[j] = det_root(cov + j * d2, d, m);
        n += nk[j];
        lambda += nk[j] * k0[j];
      }
      lambda /= n;
      for (size_t j = 0; j < kk; j++)
        for (size_t i = 0; i < d2; i++) cov[j * d2 + i] *= lambda / k0[j];
      return;
    }
    case GMM_COV_VEE: constrain_vee(k, d, nk, cov, prev, k0, k1, m, m + d2, m + 2 * d2); return;
    case GMM_COV_EEV:
    case GMM_COV_VEV: constrain_xev(t, k, d, nk, cov, prev, vec, val, v0, k0, k1, m); return;
    case GMM_COV_EVE:
    case GMM_COV_VVE:
      constrain_xve(t, k, d, nk, cov, prev, vec, val, val2, m, m + d2);
      return;
    default: return;
  }
}
