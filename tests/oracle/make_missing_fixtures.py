#!/usr/bin/python3
"""make_missing_fixtures.py -- oracle fixtures for EM with missing features.

Regenerates tests/oracle/missing_fixtures.h (a committed, generated C header
read by tests/test_missing_oracle.c) for issue 11, "NULLs are data". Run it
from anywhere with the system Python (numpy, scikit-learn) and R (Debian:
r-base-core, r-cran-lavaan, r-cran-amelia):

    /usr/bin/python3 tests/oracle/make_missing_fixtures.py
    /usr/bin/python3 tests/oracle/make_missing_fixtures.py -o out.h
    /usr/bin/python3 tests/oracle/make_missing_fixtures.py --r-output DIR
        (reuse the CSV files of an earlier
         `Rscript tests/oracle/make_missing_fixtures.R DIR` instead of
         running R)

`make fixtures` runs it; `make test` only reads the header it writes.

Four kinds of fixture, each independent of the C core:

1. mvn_cases: the k = 1 maximum-likelihood normal of data with missing
   cells (R's airquality with its real NAs; Fisher's iris with 20% of the
   cells masked completely at random), from R: lavaan's FIML and its EM of
   the unrestricted model, and Amelia's EM (tests/oracle/
   make_missing_fixtures.R, which prints how closely they agree). For k = 1
   full and tied covariances are both that MLE. The diag and spherical MLEs
   are computed here in closed form, because the observed-data likelihood of
   a diagonal normal factorises over the cells: each mean is the available-
   case mean of its feature, each diag variance the available-case variance
   (divisor: the feature's observed count), and the spherical variance the
   pooled sum of squares over every observed cell divided by the number of
   observed cells. The script also runs its own EM (tests/oracle/
   missing_em.py) on these data and checks it reaches R's estimates.

2. sub-model cases: a fixed 3-component mixture on iris for each covariance
   type (scikit-learn's GaussianMixture fit of the complete data,
   random_state 0, n_init 10), and rows with every proper subset of the
   features masked. For each masked row, the scikit-learn GaussianMixture
   built from the sub-vectors of the means and the sub-matrices of the
   covariances of the observed features (weights_, means_, covariances_ and
   precisions_cholesky_ from sklearn's own _compute_precision_cholesky)
   gives predict_proba and score_samples: the posteriors and log density
   that the core's per-row functions must give for the row with NaNs.

3. fixed-start EM cases: EM on masked data from given weights, means and
   precisions with reg_covar 0 and tol 0 for a fixed number of iterations,
   by the reference EM of missing_em.py: the lower bound of every iteration
   (for the trace callback) and the final parameters. For diag and
   spherical both the Ghahramani-Jordan M-step and the exact EM over the
   observed cells are recorded (their paths differ; their fixed points do
   not); the core may follow either.

4. close-to-complete cases: iris and wine, complete and with 20% of the
   cells masked, and scikit-learn's fit of the complete data (k = 3,
   random_state 0, n_init 10, tol 1e-10). The C test starts EM on the
   masked rows from that fit and checks the result stays near it; the
   figures the reference EM reaches, and those of column-mean filling, are
   recorded beside the tolerances (see close_cases below).

Data sets: airquality (R datasets; New York State Department of
Conservation and National Weather Service, May-September 1973); iris
(Fisher, R. A. (1936) Annals of Eugenics 7, 179-188; R's datasets::iris,
checked equal to scikit-learn's load_iris()); wine (UCI Machine Learning
Repository, Wine data set: Forina, M. et al., PARVUS, 1988; scikit-learn's
load_wine()).

Every double is written with repr(), which round-trips exactly; a missing
cell is the C token NAN. OpenBLAS is limited to one thread so that the
scikit-learn fits do not depend on the machine. The scikit-learn mixtures
are rounded to 12 significant digits (fit_complete) so that they come out
the same on every run; the reference EM's outputs (section 3, and the
figures of section 4) can still differ in their last one or two digits from
one run to the next, since numpy's and OpenBLAS's summation order depends on
memory alignment: some 1e-16 relative, far inside the C test's tolerances.
"""

import argparse
import csv
import itertools
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import sklearn
from sklearn.datasets import load_iris, load_wine
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import missing_em  # noqa: E402  (tests/oracle/missing_em.py)

DEFAULT_OUT = os.path.join(HERE, "missing_fixtures.h")
R_SCRIPT = os.path.join(HERE, "make_missing_fixtures.R")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# The seed of the wine mask (the iris mask is drawn in R, see the R script).
WINE_MASK_SEED = 20110611
MASK_FRACTION = 0.2
# Iterations of the fixed-start cases (tol 0): enough for every case to
# reach its fixed point to about 1e-14 in the mean log-likelihood.
EM_ITERATIONS = 200
# The reference EM must reproduce R's k = 1 estimates to this (relative, on
# the C test's scales) or the script stops.
REFERENCE_RTOL = 1e-10


def die(msg):
    sys.exit("make_missing_fixtures: " + msg)


# --------------------------------------------------------------------------
# R's oracles
# --------------------------------------------------------------------------

def run_r(outdir):
    rscript = shutil.which("Rscript")
    if rscript is None:
        die("Rscript not found; install r-base-core r-cran-lavaan r-cran-amelia "
            "(apt-get install -y r-base-core r-cran-lavaan r-cran-amelia), "
            "or pass --r-output DIR")
    subprocess.run([rscript, R_SCRIPT, outdir], check=True)


def read_r_data(outdir, name):
    with open(os.path.join(outdir, name + "_data.csv"), encoding="ascii") as f:
        rows = list(csv.reader(f))
    x = np.array([[math.nan if v == "NA" else float(v) for v in r] for r in rows[1:]])
    return rows[0], x


def read_r_oracle(outdir, name, d):
    est, meta = {}, {}
    with open(os.path.join(outdir, name + "_oracle.csv"), encoding="ascii") as f:
        for source, what, i, j, value in list(csv.reader(f))[1:]:
            i, j = int(i), int(j)
            if source == "data":
                meta[what] = float(value)
                continue
            e = est.setdefault(source, dict(mean=np.full(d, np.nan),
                                            cov=np.full((d, d), np.nan)))
            if what == "mean":
                e["mean"][i - 1] = float(value)
            elif what == "cov":
                e["cov"][i - 1, j - 1] = float(value)
            else:
                e[what] = float(value)
    for s, e in est.items():
        if not (np.all(np.isfinite(e["mean"])) and np.all(np.isfinite(e["cov"]))):
            die("%s: %s's estimate is incomplete" % (name, s))
    return est, meta


# --------------------------------------------------------------------------
# Closed forms and checks
# --------------------------------------------------------------------------

def gauss_cells_loglik(x, mean, var):
    """sum over observed cells of log N(x_il; mean_l, var_l)."""
    obs = ~np.isnan(x)
    z = np.where(obs, x - mean, 0.0)
    per = -0.5 * (math.log(2 * math.pi) + np.log(var) + z * z / var)
    return float(np.where(obs, per, 0.0).sum())


def diag_spherical_mle(x):
    """k = 1 diag and spherical MLEs with missing cells, closed form."""
    obs = ~np.isnan(x)
    count = obs.sum(axis=0)
    mean = np.nansum(x, axis=0) / count
    ss = np.nansum((x - mean) ** 2, axis=0)
    var = ss / count
    sph = ss.sum() / count.sum()
    return dict(mean=mean, var=var, loglik=gauss_cells_loglik(x, mean, var),
                spherical_var=float(sph),
                spherical_loglik=gauss_cells_loglik(x, mean, np.full(x.shape[1], sph)))


def scaled_difference(mean_a, cov_a, mean_b, cov_b):
    """Largest difference of means against the standard deviations and of
    covariances against sqrt(S_pp S_qq) (the C test's scales, b's sd)."""
    sd = np.sqrt(np.diag(cov_b))
    return max(np.max(np.abs(mean_a - mean_b) / sd),
               np.max(np.abs(cov_a - cov_b) / np.outer(sd, sd)))


def mask_cells(x, fraction, seed):
    """x with round(fraction * n * d) cells, drawn uniformly without
    replacement by numpy's default_rng(seed), set to NaN."""
    n, d = x.shape
    rng = np.random.default_rng(seed)
    cells = rng.choice(n * d, int(round(fraction * n * d)), replace=False)
    out = x.copy()
    out.flat[cells] = np.nan
    return out


def check_masked(name, x):
    """Every feature observed somewhere, every pair of features observed
    together on some row (else the covariance is not identified: pitfall 4
    of the notes)."""
    obs = (~np.isnan(x)).astype(int)
    co = obs.T @ obs
    if co.min() == 0:
        die("%s: a pair of features is never observed together" % name)
    return int((obs.sum(axis=1) == 0).sum())


# --------------------------------------------------------------------------
# 1. k = 1
# --------------------------------------------------------------------------

def mvn_cases(routdir):
    cases = []
    for name, doc in (("airquality",
                       "R datasets::airquality, Ozone, Solar.R, Wind, Temp: 153 rows, real NAs"),
                      ("iris_mcar",
                       "Fisher's iris (R datasets::iris), 20% of the cells masked at random in R")):
        cols, x = read_r_data(routdir, name)
        d = x.shape[1]
        est, meta = read_r_oracle(routdir, name, d)
        n_all = check_masked(name, x)
        if n_all != int(meta["all_missing_rows"]):
            die("%s: all-missing rows %d, R says %d" % (name, n_all, meta["all_missing_rows"]))
        ds = diag_spherical_mle(x)
        # The reference EM from the available-case moments: it must reach
        # R's estimates (full) and the closed forms (diag, spherical).
        start_w = np.array([1.0])
        start_m = ds["mean"][None]
        ref = missing_em.fit(x, "full", start_w, start_m, np.diag(ds["var"])[None], 400)
        agree_ref = scaled_difference(ref["means"][0], ref["covariances"][0],
                                      est["amelia"]["mean"], est["amelia"]["cov"])
        ref_d = missing_em.fit(x, "diag", start_w, start_m, ds["var"][None] * 1.5, 400)
        ref_s = missing_em.fit(x, "spherical", start_w, start_m, np.array([1.0]), 400)
        agree_ds = max(np.max(np.abs(ref_d["means"][0] - ds["mean"]) / np.sqrt(ds["var"])),
                       np.max(np.abs(ref_d["covariances"][0] / ds["var"] - 1)),
                       abs(ref_s["covariances"][0] / ds["spherical_var"] - 1),
                       abs(ref_d["log_likelihood"] / ds["loglik"] - 1),
                       abs(ref_s["log_likelihood"] / ds["spherical_loglik"] - 1))
        ll_ref = abs(ref["log_likelihood"] / est["amelia"]["loglik"] - 1)
        print("%s: reference EM (GJ, 400 iterations) against Amelia %.3g, log-likelihood %.3g; "
              "diag/spherical EM against the closed forms %.3g"
              % (name, agree_ref, ll_ref, agree_ds))
        if max(agree_ref, ll_ref, agree_ds) > REFERENCE_RTOL:
            die("%s: the reference EM does not reproduce the oracles" % name)
        pairs = {}
        for a, b in (("lavaan", "amelia"), ("lavaan_h1", "amelia"), ("lavaan", "lavaan_h1")):
            pairs[(a, b)] = max(scaled_difference(est[a]["mean"], est[a]["cov"],
                                                  est[b]["mean"], est[b]["cov"]),
                                abs(est[a]["loglik"] / est[b]["loglik"] - 1))
        cases.append(dict(name=name, doc=doc, columns=cols, x=x, est=est, n_all_missing=n_all,
                          diag=ds, pairs=pairs,
                          iterations={s: int(e.get("iterations", 0)) for s, e in est.items()}))
    return cases


# --------------------------------------------------------------------------
# 2. sub-models
# --------------------------------------------------------------------------

def iris_complete(r_iris_masked):
    x = np.ascontiguousarray(load_iris().data, dtype=np.float64)
    obs = ~np.isnan(r_iris_masked)
    if x.shape != r_iris_masked.shape or not np.array_equal(x[obs], r_iris_masked[obs]):
        die("R's datasets::iris and scikit-learn's load_iris() differ")
    return x


def round_sig(a, digits=12):
    a = np.asarray(a, dtype=np.float64)
    return np.array([float("%.*g" % (digits, v)) for v in a.ravel()]).reshape(a.shape)


def fit_complete(x, covariance_type, k=3):
    """scikit-learn's fit of complete rows, its parameters then rounded to
    12 significant digits (weights renormalised through the last one): the
    fit's last digits vary from run to run (numpy's reductions depend on
    memory alignment), and the rounded mixture is the fixture of record,
    so that the header is reproducible."""
    gm = GaussianMixture(n_components=k, covariance_type=covariance_type, n_init=10,
                         random_state=0, tol=1e-10, max_iter=10000).fit(x)
    if not gm.converged_:
        die("complete-data fit %s did not converge" % covariance_type)
    w = round_sig(gm.weights_)
    w[-1] = 1.0 - w[:-1].sum()
    cov = round_sig(gm.covariances_)
    gm._set_parameters((w, round_sig(gm.means_), cov,
                        _compute_precision_cholesky(cov, covariance_type)))
    return gm


def sub_cov(covariance_type, cov, o):
    if covariance_type == "full":
        return cov[:, o][:, :, o]
    if covariance_type == "tied":
        return cov[np.ix_(o, o)]
    if covariance_type == "diag":
        return cov[:, o]
    return cov.copy()


def sub_model_scores(gm, covariance_type, rows):
    """predict_proba and score_samples of each row (NaN = missing) by the
    scikit-learn mixture restricted to the row's observed features."""
    post, score = [], []
    for x in rows:
        o = np.flatnonzero(~np.isnan(x))
        sub = GaussianMixture(n_components=gm.n_components, covariance_type=covariance_type)
        sub.weights_ = gm.weights_.copy()
        sub.means_ = gm.means_[:, o].copy()
        sub.covariances_ = sub_cov(covariance_type, gm.covariances_, o)
        sub.precisions_cholesky_ = _compute_precision_cholesky(sub.covariances_, covariance_type)
        xo = x[o][None, :]
        post.append(sub.predict_proba(xo)[0])
        score.append(float(sub.score_samples(xo)[0]))
    return np.array(post), np.array(score)


def sub_model_cases(x_iris):
    models = {t: fit_complete(x_iris, t) for t in COVARIANCE_TYPES}
    # Rows: one of each species (1, 51, 101 of Fisher's order), the rows the
    # full mixture is least sure about, and one far from the data.
    full_post = models["full"].predict_proba(x_iris)
    unsure = [int(i) for i in np.argsort(full_post.max(axis=1))[:6]]
    base_idx = [0, 50, 100] + [i for i in unsure if i not in (0, 50, 100)]
    base = [x_iris[i] for i in base_idx]
    base.append(x_iris.mean(axis=0) + 3.0 * x_iris.std(axis=0) * np.array([1, -1, 1, -1]))
    d = x_iris.shape[1]
    masks = [m for m in itertools.product([True, False], repeat=d) if any(m)]  # observed
    rows = []
    for b in base:
        for m in masks:
            r = b.copy()
            r[~np.array(m)] = np.nan
            rows.append(r)
    rows = np.array(rows)
    out, out_disagree = {}, {}
    for t, gm in models.items():
        post, score = sub_model_scores(gm, t, rows)
        # The complete rows against the model itself, as a check of the
        # construction; and every row against the reference code. They
        # differ by rounding: one row at a time and a batch take different
        # BLAS paths, and for diag and spherical scikit-learn expands
        # |x - mu|^2 / s^2 into mu^2/s^2 - 2 x mu/s^2 + x^2/s^2, which loses
        # about log10((x/s)^2) digits (1e-13 on iris).
        full_rows = ~np.isnan(rows).any(axis=1)
        self_diff = max(np.max(np.abs(post[full_rows] - gm.predict_proba(rows[full_rows]))),
                        np.max(np.abs(score[full_rows] - gm.score_samples(rows[full_rows])) /
                               np.maximum(1, np.abs(score[full_rows]))))
        ref_ll, ref_post = missing_em.score_rows(rows, t, gm.weights_, gm.means_, gm.covariances_)
        disagree = max(np.max(np.abs(ref_post - post)), np.max(np.abs(ref_ll - score) /
                                                                np.maximum(1, np.abs(score))))
        print("sub-model %-9s %d rows: complete rows against the model %.3g; scikit-learn "
              "against missing_em.py %.3g" % (t, rows.shape[0], self_diff, disagree))
        if self_diff > 2.5e-13:
            die("sub-model %s: the complete rows do not reproduce the model" % t)
        if disagree > 2.5e-13:
            die("sub-model %s: scikit-learn and the reference disagree" % t)
        out_disagree[t] = disagree
        out[t] = dict(model=gm, post=post, score=score)
    return dict(rows=rows, base_idx=base_idx, models=out, disagree=out_disagree)


# --------------------------------------------------------------------------
# 3. fixed-start EM
# --------------------------------------------------------------------------

def precisions_of(covariance_type, cov):
    if covariance_type == "full":
        return np.array([np.linalg.inv(c) for c in cov])
    if covariance_type == "tied":
        return np.linalg.inv(cov)
    return 1.0 / cov


def start_cov(covariance_type, k, d, v):
    return {"full": np.array([v * np.eye(d)] * k), "tied": v * np.eye(d),
            "diag": np.full((k, d), v), "spherical": np.full(k, v)}[covariance_type]


def em_cases(x_iris_masked, wine_masked, wine_models):
    iris_means = {2: np.array([[5.0, 3.4, 1.5, 0.2], [6.5, 2.9, 5.0, 1.7]]),
                  3: np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3],
                               [6.6, 3.0, 5.6, 2.0]])}
    specs = []
    for k in (2, 3):
        for t in COVARIANCE_TYPES:
            specs.append(dict(name="iris_k%d_%s" % (k, t), data="iris_mcar", x=x_iris_masked,
                              k=k, covariance_type=t, weights_init=np.full(k, 1.0 / k),
                              means_init=iris_means[k],
                              cov_init=start_cov(t, k, 4, 0.3),
                              doc="masked iris, k=%d, means by hand, covariances 0.3 I" % k))
    for t in ("tied", "diag"):
        gm = wine_models[t]
        specs.append(dict(name="wine_k3_%s" % t, data="wine_mcar", x=wine_masked, k=3,
                          covariance_type=t, weights_init=np.full(3, 1.0 / 3),
                          means_init=gm.means_, cov_init=gm.covariances_ * 1.5,
                          doc="masked wine, k=3, started from the complete-data fit's means "
                              "with 1.5 x its covariances"))
    for s in specs:
        s["precisions_init"] = precisions_of(s["covariance_type"], s["cov_init"])
        # the start as the core will see it: covariances from the precisions
        cov0 = (np.array([np.linalg.inv(p) for p in s["precisions_init"]])
                if s["covariance_type"] == "full" else
                np.linalg.inv(s["precisions_init"]) if s["covariance_type"] == "tied"
                else 1.0 / s["precisions_init"])
        forms = ("gj",) if s["covariance_type"] in ("full", "tied") else ("gj", "exact")
        s["runs"] = {}
        for f in forms:
            r = missing_em.fit(s["x"], s["covariance_type"], s["weights_init"], s["means_init"],
                               cov0, EM_ITERATIONS, 0.0, form=f)
            lb = r["lower_bounds"]
            worst = np.min(np.diff(lb) / np.abs(lb[1:]))
            last = abs(lb[-1] - lb[-2])
            print("%-16s %-5s %d iterations: final log-likelihood %r; largest relative decrease "
                  "%.3g; last change %.3g" % (s["name"], f, EM_ITERATIONS, r["log_likelihood"],
                                              max(0.0, -worst), last))
            if worst < -1e-13:
                die("%s: the reference EM's log-likelihood decreased" % s["name"])
            if last > 1e-12:
                die("%s: not converged after %d iterations" % (s["name"], EM_ITERATIONS))
            s["runs"][f] = r
        if len(forms) == 2:
            a, b = s["runs"]["gj"], s["runs"]["exact"]
            dif = max(np.max(np.abs(a["means"] - b["means"])),
                      np.max(np.abs(a["covariances"] / b["covariances"] - 1)))
            print("%-16s gj and exact fixed points differ by %.3g" % (s["name"], dif))
            if dif > 1e-9:
                die("%s: the two forms reach different fixed points" % s["name"])
    return specs


# --------------------------------------------------------------------------
# 4. close to the complete-data fit
# --------------------------------------------------------------------------

def close_metrics(t, ref_gm, got, x_complete):
    k, d = ref_gm.n_components, x_complete.shape[1]
    ref_full = missing_em.full_covariances(t, ref_gm.covariances_, k, d)
    got_full = missing_em.full_covariances(t, got["covariances"], k, d)
    sd = np.sqrt(np.array([np.diag(c) for c in ref_full]))
    rms_mean = math.sqrt(np.mean(((got["means"] - ref_gm.means_) / sd) ** 2))
    rms_cov = math.sqrt(np.mean([((got_full[j] - ref_full[j]) / np.outer(sd[j], sd[j])) ** 2
                                 for j in range(k)]))
    max_w = float(np.max(np.abs(got["weights"] - ref_gm.weights_)))
    _, p = missing_em.score_rows(x_complete, t, got["weights"], got["means"], got["covariances"])
    agree = float(np.mean(p.argmax(axis=1) == ref_gm.predict(x_complete)))
    return dict(rms_mean=rms_mean, rms_cov=rms_cov, max_weight=max_w, agreement=agree)


def close_cases(sets):
    cases = []
    for name, x_complete, x_masked, models in sets:
        for t, gm in models.items():
            form = "exact" if t in ("diag", "spherical") else "gj"
            got = missing_em.fit(x_masked, t, gm.weights_, gm.means_, gm.covariances_, 2000,
                                 1e-6, form=form, tol=1e-10)
            filled = np.where(np.isnan(x_masked), np.nanmean(x_masked, axis=0), x_masked)
            base = missing_em.fit(filled, t, gm.weights_, gm.means_, gm.covariances_, 2000,
                                  1e-6, tol=1e-10)
            m, b = close_metrics(t, gm, got, x_complete), close_metrics(t, gm, base, x_complete)
            print("close %-5s %-9s marginalised: rms mean %.3f sd, rms cov %.3f, max weight "
                  "%.3f, labels %.3f; column means: %.3f, %.3f, %.3f, %.3f"
                  % (name, t, m["rms_mean"], m["rms_cov"], m["max_weight"], m["agreement"],
                     b["rms_mean"], b["rms_cov"], b["max_weight"], b["agreement"]))
            cases.append(dict(name="%s_%s" % (name, t), data=name, covariance_type=t, model=gm,
                              reference=m, mean_filled=b))
    return cases


# --------------------------------------------------------------------------
# C output
# --------------------------------------------------------------------------

def num(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if not math.isfinite(v):
        raise ValueError("non-finite value %r" % v)
    return repr(v)


def c_array(name, arr, row_len, comment):
    flat = np.asarray(arr, dtype=np.float64).ravel()
    lines = ["/* %s */" % comment, "static const double %s[%d] = {" % (name, flat.size)]
    for i in range(0, flat.size, row_len):
        lines.append("  " + ", ".join(num(v) for v in flat[i:i + row_len]) + ",")
    lines.append("};")
    return "\n".join(lines)


def comment_block(lines):
    body = []
    for line in lines:
        if not line or line.startswith(" "):
            body.append(line)
        else:
            body.extend(textwrap.wrap(line, 76, break_long_words=False, break_on_hyphens=False))
    return "\n".join(["/*"] + ["** " + l if l else "**" for l in body] + ["*/"])


def row_len_of(t, k, d):
    return k if t == "spherical" else d


def render(mvn, sub, ems, close, data_sets, versions):
    out = [comment_block([
        "missing_fixtures.h -- GENERATED FILE, DO NOT EDIT.",
        "",
        "Generated by tests/oracle/make_missing_fixtures.py (and "
        "tests/oracle/make_missing_fixtures.R) with scikit-learn %s, numpy %s, Python %s, %s."
        % (sklearn.__version__, np.__version__, sys.version.split()[0], "; ".join(versions)),
        "Regenerate with `make fixtures` or",
        "",
        "    /usr/bin/python3 tests/oracle/make_missing_fixtures.py",
        "",
        "Oracles for EM with missing features (NAN marks a missing cell), read by "
        "tests/test_missing_oracle.c; the generator's docstring explains each kind:",
        "",
        "  mvn_cases       k = 1 MLE from lavaan (FIML and its h1 EM) and Amelia (EM)",
        "  sub_*           posteriors and log densities of masked rows from scikit-learn",
        "                  mixtures restricted to the observed features",
        "  em_cases        fixed-start EM traces and results (tests/oracle/missing_em.py)",
        "  close_cases     complete-data fits of iris and wine, for the masked fits",
        "",
        "Doubles are written with repr(), which round-trips exactly.",
    ])]
    out.append("#ifndef GMM_MISSING_FIXTURES_H\n#define GMM_MISSING_FIXTURES_H\n\n#include <math.h>\n#include <stddef.h>\n")

    # data sets
    for name, info in data_sets.items():
        out.append(comment_block([info["doc"]]))
        out.append(c_array(name + "_x", info["x"], info["x"].shape[1],
                           "%d rows x %d features (%s), row-major; NAN = missing"
                           % (info["x"].shape[0], info["x"].shape[1], ", ".join(info["columns"]))))
        if "complete" in info:
            out.append(c_array(name + "_complete", info["complete"], info["x"].shape[1],
                               "the same rows before masking"))
        out.append("")

    # 1. k = 1
    out.append("""\
/* ---- 1. k = 1: the multivariate normal MLE with missing data ---- */

typedef struct mvn_estimate {
  const char *source;    /* "lavaan" (FIML, nlminb), "lavaan_h1" (lavaan's EM), "amelia" (EM) */
  const double *mean;    /* d */
  const double *cov;     /* d x d, divisor n (the MLE) */
  double log_likelihood; /* observed-data, total, at this estimate */
} mvn_estimate;

typedef struct mvn_case {
  const char *name;
  int n, d;
  const double *x;          /* n x d, NAN = missing */
  int n_all_missing;        /* rows with every cell missing (the fit skips them) */
  int n_incomplete;         /* rows with some, not all, cells missing */
  int n_missing_cells;      /* missing cells of the rows with some observed cell */
  const mvn_estimate *full; /* 3 estimates of the full (and, for k = 1, tied) MLE */
  int n_full;
  /* diag: available-case means and variances (divisor: observed count);
  ** spherical: the same means, variance = observed-cell sum of squares /
  ** observed cells. Closed forms computed by the generator. */
  const double *diag_mean;  /* d; also the spherical means */
  const double *diag_var;   /* d */
  double diag_log_likelihood;
  double spherical_var;
  double spherical_log_likelihood;
} mvn_case;
""")
    for c in mvn:
        nm, d = c["name"], c["x"].shape[1]
        lines = ["k = 1 oracles for %s (%s)." % (nm, c["doc"]), "",
                 "Agreement of the oracles (largest difference, means against the standard "
                 "deviations, covariances against sqrt(S_pp S_qq), log-likelihood relative):"]
        for (a, b), v in c["pairs"].items():
            lines.append("  %-9s vs %-9s %.3g" % (a, b, v))
        lines.append("Iterations: lavaan nlminb %d, Amelia EM %d."
                     % (c["iterations"]["lavaan"], c["iterations"]["amelia"]))
        out.append(comment_block(lines))
        for s in ("lavaan", "lavaan_h1", "amelia"):
            e = c["est"][s]
            out.append(c_array("%s_%s_mean" % (nm, s), e["mean"], d, "%s mean" % s))
            out.append(c_array("%s_%s_cov" % (nm, s), e["cov"], d, "%s covariance" % s))
        out.append("static const mvn_estimate %s_full[3] = {" % nm)
        for s in ("lavaan", "lavaan_h1", "amelia"):
            out.append("  {\"%s\", %s_%s_mean, %s_%s_cov, %s}," % (s, nm, s, nm, s,
                                                                 num(c["est"][s]["loglik"])))
        out.append("};")
        out.append(c_array(nm + "_diag_mean", c["diag"]["mean"], d, "available-case means"))
        out.append(c_array(nm + "_diag_var", c["diag"]["var"], d,
                           "available-case variances, divisor the observed count"))
        out.append("")
    out.append("static const mvn_case mvn_cases[] = {")
    for c in mvn:
        nm, (n, d) = c["name"], c["x"].shape
        nan_rows = np.isnan(c["x"])
        used = ~nan_rows.all(axis=1)
        out.append("  {\"%s\", %d, %d, %s_x, %d, %d, %d, %s_full, 3, %s_diag_mean, %s_diag_var, "
                   "%s, %s, %s}," % (nm, n, d, nm, c["n_all_missing"],
                                     int((nan_rows.any(axis=1) & used).sum()),
                                     int(nan_rows[used].sum()), nm, nm, nm,
                                     num(c["diag"]["loglik"]), num(c["diag"]["spherical_var"]),
                                     num(c["diag"]["spherical_loglik"])))
    out.append("};")
    out.append("static const int mvn_n_cases = %d;\n" % len(mvn))

    # 2. sub-models
    rows = sub["rows"]
    out.append(comment_block([
        "---- 2. Sub-models: rows with masked features ----",
        "",
        "sub_x: %d rows, each of %d base rows with every non-empty set of observed features "
        "(the complete row first, then %d masks; NAN = missing). Base rows: iris rows %s "
        "(0-based; one of each species, then those the full mixture is least sure about) and "
        "one far from the data (mean + 3 sd x (1, -1, 1, -1))."
        % (rows.shape[0], len(sub["base_idx"]) + 1, 2 ** 4 - 2,
           ", ".join(str(i) for i in sub["base_idx"])),
        "",
        "For each covariance type, sub_models[t] is GaussianMixture(n_components=3, "
        "covariance_type=t, n_init=10, random_state=0, tol=1e-10, max_iter=10000) fitted to "
        "the complete iris_mcar_complete; post (rows x 3) and score (rows) are predict_proba "
        "and score_samples of the scikit-learn mixture restricted to each row's observed "
        "features. A row with every feature missing is not among them: the core gives it "
        "the weights and log density 0 by definition.",
        "",
        "scikit-learn against the plain reference (tests/oracle/missing_em.py; posteriors "
        "absolute, scores relative to max(1, |score|)): " +
        ", ".join("%s %.2g" % (t, v) for t, v in sub["disagree"].items()) +
        ". For diag and spherical scikit-learn expands the squared distance, which costs it "
        "about 1e-13 on these rows.",
    ]))
    out.append(c_array("sub_x", rows, 4, "rows x 4, NAN = missing"))
    out.append("""
typedef struct sub_model {
  const char *covariance_type;
  int k, d;
  const double *weights, *means, *covariances; /* scikit-learn's shapes */
  const double *post;  /* sub_n_rows x k */
  const double *score; /* sub_n_rows */
} sub_model;
""")
    for t in COVARIANCE_TYPES:
        m = sub["models"][t]
        gm = m["model"]
        out.append(c_array("sub_%s_weights" % t, gm.weights_, 3, "weights"))
        out.append(c_array("sub_%s_means" % t, gm.means_, 4, "means"))
        out.append(c_array("sub_%s_covariances" % t, gm.covariances_, row_len_of(t, 3, 4),
                           "covariances"))
        out.append(c_array("sub_%s_post" % t, m["post"], 3, "predict_proba of the sub-models"))
        out.append(c_array("sub_%s_score" % t, m["score"], 4, "score_samples of the sub-models"))
    out.append("static const int sub_n_rows = %d;" % rows.shape[0])
    out.append("static const sub_model sub_models[4] = {")
    for t in COVARIANCE_TYPES:
        out.append("  {\"%s\", 3, 4, sub_%s_weights, sub_%s_means, sub_%s_covariances, "
                   "sub_%s_post, sub_%s_score}," % (t, t, t, t, t, t))
    out.append("};\n")

    # 3. fixed-start EM
    out.append(comment_block([
        "---- 3. Fixed-start EM on masked data (tests/oracle/missing_em.py) ----",
        "",
        "Each case runs %d EM iterations (tol 0, reg_covar 0) from weights_init, means_init "
        "and precisions_init (scikit-learn's meaning and shapes). lower_bounds[t] is the mean "
        "per-row log-likelihood under the parameters iteration t + 1 started from (the trace "
        "callback's lower_bound); weights, means, covariances the parameters after the last "
        "M-step; log_likelihood the total under them. \"gj\" is the Ghahramani-Jordan "
        "M-step; for diag and spherical, \"exact\" is the EM over the observed cells, which "
        "follows another path to the same fixed point (NULL for full and tied)."
        % EM_ITERATIONS,
    ]))
    out.append("""typedef struct em_run {
  const double *lower_bounds; /* max_iter */
  const double *weights, *means, *covariances;
  double log_likelihood;
} em_run;

typedef struct em_case {
  const char *name;
  const char *covariance_type;
  int n, d, k, max_iter;
  double reg_covar;
  const double *x;
  const double *weights_init, *means_init, *precisions_init;
  em_run gj;
  em_run exact; /* lower_bounds NULL when the type has no exact form */
} em_case;
""")
    for s in ems:
        nm, t, k = s["name"], s["covariance_type"], s["k"]
        d = s["x"].shape[1]
        out.append("/* %s: %s */" % (nm, s["doc"]))
        out.append(c_array(nm + "_weights_init", s["weights_init"], k, "weights_init"))
        out.append(c_array(nm + "_means_init", s["means_init"], d, "means_init"))
        out.append(c_array(nm + "_precisions_init", s["precisions_init"], row_len_of(t, k, d),
                           "precisions_init"))
        for f, r in s["runs"].items():
            out.append(c_array("%s_%s_lower_bounds" % (nm, f), r["lower_bounds"], 4,
                               "%s: lower bound of each iteration" % f))
            out.append(c_array("%s_%s_weights" % (nm, f), r["weights"], k, "%s: weights" % f))
            out.append(c_array("%s_%s_means" % (nm, f), r["means"], d, "%s: means" % f))
            out.append(c_array("%s_%s_covariances" % (nm, f), r["covariances"],
                               row_len_of(t, k, d), "%s: covariances" % f))
        out.append("")
    out.append("static const em_case em_cases[] = {")
    for s in ems:
        nm, t, k = s["name"], s["covariance_type"], s["k"]
        n, d = s["x"].shape
        runs = []
        for f in ("gj", "exact"):
            if f in s["runs"]:
                runs.append("{%s_%s_lower_bounds, %s_%s_weights, %s_%s_means, %s_%s_covariances, "
                            "%s}" % (nm, f, nm, f, nm, f, nm, f,
                                     num(s["runs"][f]["log_likelihood"])))
            else:
                runs.append("{NULL, NULL, NULL, NULL, 0}")
        out.append("  {\"%s\", \"%s\", %d, %d, %d, %d, 0.0, %s_x, %s_weights_init, %s_means_init,"
                   " %s_precisions_init,\n   %s,\n   %s}," % (nm, t, n, d, k, EM_ITERATIONS,
                                                         s["data"], nm, nm, nm, runs[0], runs[1]))
    out.append("};")
    out.append("static const int em_n_cases = %d;\n" % len(ems))

    # 4. close
    lines = ["---- 4. Masked fits close to the complete-data fit ----", "",
             "Each case: scikit-learn's GaussianMixture(n_components=3, covariance_type=t, "
             "n_init=10, random_state=0, tol=1e-10, max_iter=10000) fitted to the complete rows "
             "(data_complete). The test fits the masked rows (data_x) from those weights, means "
             "and precisions with reg_covar 1e-6, and compares the result with this fit: "
             "rms_mean = root mean square over components and features of the mean difference "
             "in units of the complete fit's standard deviation of that component and feature; "
             "rms_cov = root mean square of the covariance differences in units of "
             "sqrt(S_pp S_qq); max_weight = the largest weight difference; agreement = the "
             "fraction of the complete rows given the same most probable component.",
             "",
             "\"reference\" is what tests/oracle/missing_em.py reaches (the figures the core "
             "should reproduce closely); \"mean_filled\" what EM reaches on the rows with each "
             "missing cell filled with its column's observed mean (the core's test fits that too, "
             "and must do better on rms_mean; on rms_cov filling can come out ahead, as it does "
             "on wine tied). Wine is fitted with tied and diag "
             "covariances only: with k = 3 full covariances 13-d wine has 3 x 104 + 2 "
             "parameters for 178 rows and EM does not settle, and spherical treats its "
             "features, whose scales differ by a factor 10^4, as one scale."]
    for c in close:
        r, b = c["reference"], c["mean_filled"]
        lines.append("  %-15s reference: rms_mean %.3f, rms_cov %.3f, max_weight %.3f, "
                     "agreement %.3f; mean_filled: %.3f, %.3f, %.3f, %.3f"
                     % (c["name"], r["rms_mean"], r["rms_cov"], r["max_weight"], r["agreement"],
                        b["rms_mean"], b["rms_cov"], b["max_weight"], b["agreement"]))
    out.append(comment_block(lines))
    out.append("""typedef struct close_figures {
  double rms_mean, rms_cov, max_weight, agreement;
} close_figures;

typedef struct close_case {
  const char *name;
  const char *covariance_type;
  int n, d, k;
  const double *x;        /* masked, NAN = missing */
  const double *complete; /* the same rows before masking */
  const double *weights, *means, *covariances, *precisions; /* the complete-data fit */
  close_figures reference, mean_filled;
} close_case;
""")
    for c in close:
        nm, t, gm = c["name"], c["covariance_type"], c["model"]
        d = gm.means_.shape[1]
        out.append(c_array(nm + "_weights", gm.weights_, 3, "complete-data fit: weights"))
        out.append(c_array(nm + "_means", gm.means_, d, "means"))
        out.append(c_array(nm + "_covariances", gm.covariances_, row_len_of(t, 3, d),
                           "covariances"))
        out.append(c_array(nm + "_precisions", gm.precisions_, row_len_of(t, 3, d),
                           "precisions"))
    out.append("static const close_case close_cases[] = {")
    for c in close:
        nm, t, gm = c["name"], c["covariance_type"], c["model"]
        n, d = data_sets[c["data"]]["x"].shape
        fig = lambda f: "{%s, %s, %s, %s}" % (num(f["rms_mean"]), num(f["rms_cov"]),  # noqa
                                              num(f["max_weight"]), num(f["agreement"]))
        out.append("  {\"%s\", \"%s\", %d, %d, 3, %s_x, %s_complete, %s_weights, %s_means, "
                   "%s_covariances, %s_precisions,\n   %s, %s}," %
                   (nm, t, n, d, c["data"], c["data"], nm, nm, nm, nm,
                    fig(c["reference"]), fig(c["mean_filled"])))
    out.append("};")
    out.append("static const int close_n_cases = %d;\n" % len(close))
    out.append("#endif /* GMM_MISSING_FIXTURES_H */")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT,
                    help="header to write (default: %(default)s)")
    ap.add_argument("--r-output", metavar="DIR",
                    help="read the R script's CSV files from DIR instead of running R")
    args = ap.parse_args()
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory() as tmp:
        routdir = args.r_output
        if routdir is None:
            routdir = tmp
            run_r(routdir)
        with open(os.path.join(routdir, "versions.txt"), encoding="ascii") as f:
            versions = [line.strip() for line in f if line.strip()]
        mvn = mvn_cases(routdir)
        by_name = {c["name"]: c for c in mvn}
        iris_masked = by_name["iris_mcar"]["x"]
        iris = iris_complete(iris_masked)
        wine = np.ascontiguousarray(load_wine().data, dtype=np.float64)
        wine_masked = mask_cells(wine, MASK_FRACTION, WINE_MASK_SEED)
        if check_masked("wine_mcar", wine_masked):
            die("wine_mcar: a row has every cell masked")
        data_sets = {
            "airquality": dict(x=by_name["airquality"]["x"], columns=by_name["airquality"]["columns"],
                               doc="airquality: R datasets::airquality (New York, May to "
                                   "September 1973; ozone from the New York State Department "
                                   "of Conservation, meteorology from the National Weather "
                                   "Service), the real NAs."),
            "iris_mcar": dict(x=iris_masked, complete=iris, columns=by_name["iris_mcar"]["columns"],
                              doc="iris_mcar: Fisher's iris (Fisher, 1936; R datasets::iris, "
                                  "equal to scikit-learn's load_iris()), 120 of the 600 cells "
                                  "(20%%) masked completely at random in R (set.seed(20110611); "
                                  "sample(600, 120)). %d rows have a missing cell, none all."
                                  % int(np.isnan(iris_masked).any(axis=1).sum())),
            "wine_mcar": dict(x=wine_masked, complete=wine, columns=load_wine().feature_names,
                              doc="wine_mcar: the UCI Wine data set (Forina et al., PARVUS, "
                                  "1988; scikit-learn's load_wine()), 178 rows x 13, with "
                                  "%d of the %d cells (20%%) masked completely at random: "
                                  "numpy default_rng(%d).choice(n * d, %d, replace=False). "
                                  "%d rows have a missing cell, none all; every pair of "
                                  "features is observed together on some row."
                                  % (int(np.isnan(wine_masked).sum()), wine.size,
                                     WINE_MASK_SEED, int(np.isnan(wine_masked).sum()),
                                     int(np.isnan(wine_masked).any(axis=1).sum()))),
        }
        sub = sub_model_cases(iris)
        wine_models = {t: fit_complete(wine, t) for t in ("tied", "diag")}
        ems = em_cases(iris_masked, wine_masked, wine_models)
        close = close_cases([("iris_mcar", iris, iris_masked,
                              {t: sub["models"][t]["model"] for t in COVARIANCE_TYPES}),
                             ("wine_mcar", wine, wine_masked, wine_models)])
    text = render(mvn, sub, ems, close, data_sets, versions)
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print("wrote %s" % args.output)


if __name__ == "__main__":
    main()
