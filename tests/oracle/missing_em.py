"""missing_em.py -- a plain numpy reference for EM with missing features.

The reference implementation that tests/oracle/make_missing_fixtures.py uses
to produce the fixed-start fixtures (k = 2 and 3 on masked iris) and to
choose the tolerances of the "stays close to the complete-data fit" test.
It shares no code with the C core (ext/core/) and is written from the
formulas (Ghahramani, Z. and Jordan, M. I. (1994) Supervised learning from
incomplete data via an EM approach. NIPS 6, 120-127; Little, R. J. A. and
Rubin, D. B. (2002) Statistical Analysis with Missing Data, 2nd ed., ch. 8
and 11), with scikit-learn's GaussianMixture conventions: weights N_j / n
with N_j = sum_i r_ij + 10 eps, covariances with divisor N_j, reg_covar
added to every variance after the update, lower_bound the mean per-row
log-likelihood under the parameters an iteration starts from.

For a row with observed features o and missing m, and component j:

  E-step   log N(x_o; mu_jo, S_joo), responsibilities r_ij over components.
  M-step   "gj" (Ghahramani-Jordan, every covariance type): the missing
           block is replaced by its conditional mean
               xhat_m = mu_jm + S_jmo S_joo^-1 (x_o - mu_jo)
           and the scatter gets the conditional covariance
               C_mm = S_jmm - S_jmo S_joo^-1 S_jom
           (for diag and spherical, S_jmo = 0: xhat_m = mu_jm, C = S_jmm);
           "exact" (diag and spherical only): the exact EM over the
           observed cells, whose marginal factorises per feature: weighted
           available-case moments. Both have the same fixed points when
           reg_covar = 0.

Rows are grouped by their pattern of missing features, so each pattern and
component costs one Cholesky factorisation per iteration. Rows with every
feature missing are left out (they carry no information).
"""

import numpy as np

EPS10 = 10 * np.finfo(np.float64).eps
LOG_2PI = np.log(2 * np.pi)


def patterns(x):
    """[(observed boolean mask, row indices)] of the rows with at least one
    observed feature, in a fixed order (sorted by the mask's bytes)."""
    obs = ~np.isnan(x)
    groups = {}
    for i in range(x.shape[0]):
        if obs[i].any():
            groups.setdefault(obs[i].tobytes(), []).append(i)
    return [(np.frombuffer(key, dtype=bool).copy(), np.array(rows))
            for key, rows in sorted(groups.items())]


def full_covariances(covariance_type, cov, k, d):
    """k full d x d matrices from scikit-learn's shape of covariance_type."""
    cov = np.asarray(cov, dtype=np.float64)
    if covariance_type == "full":
        return cov.copy()
    if covariance_type == "tied":
        return np.array([cov] * k)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    if covariance_type == "spherical":
        return np.array([c * np.eye(d) for c in cov])
    raise ValueError(covariance_type)


def log_gauss_observed(xo, mu_o, s_oo):
    """log N(x_o; mu_o, S_oo) for the rows of xo (n x d_o)."""
    ch = np.linalg.cholesky(s_oo)
    z = np.linalg.solve(ch, (xo - mu_o).T)
    return -0.5 * (xo.shape[1] * LOG_2PI + 2 * np.log(np.diag(ch)).sum()
                   + (z * z).sum(axis=0))


def e_step(x, groups, weights, means, covs):
    """Per-row log p(x_o) and responsibilities (n x k; rows left out stay
    0), from full covariances covs (k x d x d)."""
    n, k = x.shape[0], len(weights)
    log_p = np.full((n, k), -np.inf)
    for mask, rows in groups:
        xo = x[np.ix_(rows, mask)]
        for j in range(k):
            log_p[rows, j] = np.log(weights[j]) + log_gauss_observed(
                xo, means[j, mask], covs[j][np.ix_(mask, mask)])
    used = np.concatenate([rows for _, rows in groups])
    row_ll = np.zeros(n)
    top = log_p[used].max(axis=1)
    row_ll[used] = top + np.log(np.exp(log_p[used] - top[:, None]).sum(axis=1))
    resp = np.zeros((n, k))
    resp[used] = np.exp(log_p[used] - row_ll[used, None])
    return row_ll, resp, used


def m_step_gj(x, groups, resp, means, covs, covariance_type, reg_covar, n_used):
    """Ghahramani-Jordan M-step; returns weights, means and covariances in
    scikit-learn's shape for covariance_type."""
    k, d = resp.shape[1], x.shape[1]
    nk = resp.sum(axis=0) + EPS10
    # First pass: conditional means of every row under every component.
    xhat = np.zeros((k, x.shape[0], d))
    cmm = []  # per group, per component: (d x d) conditional covariance
    for mask, rows in groups:
        miss = ~mask
        xo = x[np.ix_(rows, mask)]
        per_j = []
        for j in range(k):
            s = covs[j]
            xh = np.empty((len(rows), d))
            xh[:, mask] = xo
            c = np.zeros((d, d))
            if miss.any():
                s_oo = s[np.ix_(mask, mask)]
                s_mo = s[np.ix_(miss, mask)]
                b = np.linalg.solve(s_oo, s_mo.T).T          # S_mo S_oo^-1
                xh[:, miss] = means[j, miss] + (xo - means[j, mask]) @ b.T
                c[np.ix_(miss, miss)] = s[np.ix_(miss, miss)] - b @ s_mo.T
                c = 0.5 * (c + c.T)
            xhat[j, rows] = xh
            per_j.append(c)
        cmm.append(per_j)
    new_means = np.einsum("nk,knd->kd", resp, xhat) / nk[:, None]
    scatter = np.zeros((k, d, d))
    for j in range(k):
        diff = xhat[j] - new_means[j]
        scatter[j] = (resp[:, j, None] * diff).T @ diff
        for g, (mask, rows) in enumerate(groups):
            scatter[j] += resp[rows, j].sum() * cmm[g][j]
    weights = nk / n_used
    weights = weights / weights.sum()
    if covariance_type == "full":
        cov = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        cov = np.array([np.diag(s) for s in scatter]) / nk[:, None] + reg_covar
    elif covariance_type == "spherical":
        cov = (np.array([np.diag(s) for s in scatter]) / nk[:, None]).mean(axis=1) + reg_covar
    else:
        raise ValueError(covariance_type)
    return weights, new_means, cov


def m_step_exact(x, groups, resp, means, covariance_type, reg_covar, n_used):
    """The exact EM for diag and spherical: weighted available-case moments
    over the observed cells (a feature that no row of a component observes
    keeps its mean and variance; the tests never have one)."""
    k, d = resp.shape[1], x.shape[1]
    obs = ~np.isnan(x)
    x0 = np.where(obs, x, 0.0)
    nk = resp.sum(axis=0) + EPS10
    nkl = resp.T @ obs + EPS10                       # k x d
    new_means = (resp.T @ x0) / nkl
    sq = np.zeros((k, d))
    for j in range(k):
        diff = np.where(obs, x0 - new_means[j], 0.0)
        sq[j] = resp[:, j] @ (diff * diff)
    weights = nk / n_used
    weights = weights / weights.sum()
    if covariance_type == "diag":
        cov = sq / nkl + reg_covar
    elif covariance_type == "spherical":
        cov = sq.sum(axis=1) / nkl.sum(axis=1) + reg_covar
    else:
        raise ValueError("the exact form is for diag and spherical")
    return weights, new_means, cov


def fit(x, covariance_type, weights, means, cov, max_iter, reg_covar=0.0,
        form="gj", tol=None):
    """EM from the given parameters (scikit-learn's shapes; cov are
    covariances, not precisions) for max_iter iterations, or until the mean
    log-likelihood changes by less than tol. Returns a dict with the final
    weights, means, covariances, the lower bounds (mean per-row
    log-likelihood under the parameters each iteration started from), the
    final mean log-likelihood and n_iter."""
    x = np.asarray(x, dtype=np.float64)
    groups = patterns(x)
    n_used = sum(len(r) for _, r in groups)
    k, d = len(weights), x.shape[1]
    w, mu, c = (np.array(weights, dtype=np.float64), np.array(means, dtype=np.float64),
                np.array(cov, dtype=np.float64))
    bounds = []
    for _ in range(max_iter):
        covs = full_covariances(covariance_type, c, k, d)
        row_ll, resp, used = e_step(x, groups, w, mu, covs)
        bounds.append(row_ll[used].mean())
        if form == "gj":
            w, mu, c = m_step_gj(x, groups, resp, mu, covs, covariance_type, reg_covar, n_used)
        else:
            w, mu, c = m_step_exact(x, groups, resp, mu, covariance_type, reg_covar, n_used)
        if tol is not None and len(bounds) > 1 and abs(bounds[-1] - bounds[-2]) < tol:
            break
    covs = full_covariances(covariance_type, c, k, d)
    row_ll, resp, used = e_step(x, groups, w, mu, covs)
    return dict(weights=w, means=mu, covariances=c, lower_bounds=np.array(bounds),
                log_likelihood=float(row_ll[used].sum()), n_iter=len(bounds))


def score_rows(x, covariance_type, weights, means, cov):
    """Per-row log p(x_o) and posteriors of a fixed mixture (all-missing rows:
    0 and the weights)."""
    x = np.asarray(x, dtype=np.float64)
    k, d = len(weights), x.shape[1]
    groups = patterns(x)
    row_ll, resp, used = e_step(x, groups, np.asarray(weights), np.asarray(means),
                                full_covariances(covariance_type, cov, k, d))
    empty = np.ones(x.shape[0], dtype=bool)
    empty[used] = False
    resp[empty] = weights
    return row_ll, resp
