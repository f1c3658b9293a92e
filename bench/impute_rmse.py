#!/usr/bin/python3
"""impute_rmse.py -- how well gmm_impute fills cells missing at random.

For issue 11 ("NULLs are data"): masks 20% of the cells of two real data
sets completely at random, fills them back, and reports the root mean
squared error over the masked cells of

  column mean      each missing cell replaced by its column's observed mean
                   (what a fit that ignores the structure of the data does);
  IterativeImputer scikit-learn's chained regressions (MICE-like, one
                   imputation): IterativeImputer(random_state=0) with its
                   defaults, BayesianRidge, max_iter 10, posterior sampling
                   off (so it returns conditional-mean-like point estimates);
  gmm k=1 full     gmm_fit('{"k": 1, ...}') then gmm_impute: the conditional
                   mean under the maximum-likelihood multivariate normal
                   (the classic EM imputation, as Amelia's point estimate);
  gmm BIC          gmm_fit with k in 1..5 and every covariance type, the
                   lowest BIC chosen by the extension itself (the chosen
                   models are listed), then gmm_impute: the conditional mean
                   E[x_m | x_o] under the mixture;
  gmm BIC full/tied  the same over full and tied covariances only. With
                   diag or spherical covariances a missing cell's
                   conditional mean ignores the row's other values except
                   through the posteriors, so BIC's choice of a diagonal
                   model (on wine) can impute worse than k = 1 full.

Every gmm fit runs through SQL, on a table whose masked cells are NULL:
`gmm_fit(spec, x1, ..., xd)` with n_init 5, seed 0, tol 1e-6, max_iter 1000
(and reg_covar's default 1e-6); `gmm_impute(model, x1, ..., xd)` returns the
row as a JSON array.

The errors are on the original scale of each data set (centimetres for
iris; wine's 13 columns mix units, and its proline column, in the hundreds,
dominates the original-scale RMSE), and also standardised: each cell's
error divided by its column's standard deviation in the complete data, so
that every column counts alike. Mean and standard deviation over five masks
(numpy default_rng(seed) for seed 0..4, round(0.2 n d) cells each, without
replacement; rows that lose every cell are kept: gmm_impute gives them the
mixture mean).

Data: Fisher's iris (Fisher, R. A. (1936) Annals of Eugenics 7, 179-188;
150 x 4) and the UCI Wine data (Forina, M. et al., PARVUS, 1988; 178 x 13),
both as shipped with scikit-learn (load_iris, load_wine).

Run from anywhere (it finds the repository from its own path); build the
extension first (`make`):

    /usr/bin/python3 bench/impute_rmse.py [--extension ./gmm] [--reps 5]

It prints a markdown table and the machine it ran on.
"""

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FRACTION = 0.2
GMM_COMMON = {"n_init": 5, "seed": 0, "tol": 1e-6, "max_iter": 1000}
GMM_METHODS = (
    ("gmm k=1 full", dict(GMM_COMMON, k=1, covariance_type="full")),
    ("gmm BIC full/tied", dict(GMM_COMMON, k=[1, 2, 3, 4, 5], covariance_type=["full", "tied"])),
    ("gmm BIC", dict(GMM_COMMON, k=[1, 2, 3, 4, 5],
                     covariance_type=["full", "tied", "diag", "spherical"])),
)


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def mask(x, seed):
    n, d = x.shape
    rng = np.random.default_rng(seed)
    cells = rng.choice(n * d, int(round(FRACTION * n * d)), replace=False)
    out = x.copy()
    out.flat[cells] = np.nan
    return out


def connect(extension):
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(extension)
    db.enable_load_extension(False)
    return db


def gmm_impute(db, xm, spec):
    """Fits through SQL on a table with NULLs and fills them with
    gmm_impute; returns the filled rows and the model's gmm_info."""
    d = xm.shape[1]
    cols = ", ".join("x%d" % i for i in range(d))
    db.execute("DROP TABLE IF EXISTS t")
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, %s)"
               % ", ".join("x%d REAL" % i for i in range(d)))
    db.executemany("INSERT INTO t VALUES (?, %s)" % ", ".join("?" * d),
                   [[i] + [None if np.isnan(v) else float(v) for v in row]
                    for i, row in enumerate(xm)])
    model = db.execute("SELECT gmm_fit(?, %s) FROM t" % cols, (json.dumps(spec),)).fetchone()[0]
    if model is None:
        raise RuntimeError("gmm_fit returned NULL")
    info = json.loads(db.execute("SELECT gmm_info(?)", (model,)).fetchone()[0])
    rows = db.execute("SELECT gmm_impute(?, %s) FROM t ORDER BY id" % cols, (model,)).fetchall()
    filled = np.array([json.loads(r[0]) for r in rows], dtype=np.float64)
    observed = ~np.isnan(xm)
    if filled.shape != xm.shape or not np.array_equal(filled[observed], xm[observed]):
        raise RuntimeError("gmm_impute changed an observed value")
    return filled, info


def rmse(filled, x, xm, sd):
    miss = np.isnan(xm)
    err = (filled - x)[miss]
    std_err = ((filled - x) / sd)[miss]
    return float(np.sqrt(np.mean(err ** 2))), float(np.sqrt(np.mean(std_err ** 2)))


def run(extension, reps):
    sets = [("iris", np.ascontiguousarray(load_iris().data, dtype=np.float64)),
            ("wine", np.ascontiguousarray(load_wine().data, dtype=np.float64))]
    methods = ["column mean", "IterativeImputer"] + [m for m, _ in GMM_METHODS]
    results, chosen, seconds = {}, {}, {}
    db = connect(extension)
    for name, x in sets:
        sd = x.std(axis=0)
        for seed in range(reps):
            xm = mask(x, seed)
            fills = {}
            t0 = time.perf_counter()
            fills["column mean"] = np.where(np.isnan(xm), np.nanmean(xm, axis=0), xm)
            seconds[(name, "column mean")] = seconds.get((name, "column mean"), 0) + \
                time.perf_counter() - t0
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fills["IterativeImputer"] = IterativeImputer(random_state=0).fit_transform(xm)
            seconds[(name, "IterativeImputer")] = seconds.get((name, "IterativeImputer"), 0) + \
                time.perf_counter() - t0
            for label, spec in GMM_METHODS:
                t0 = time.perf_counter()
                fills[label], info = gmm_impute(db, xm, spec)
                seconds[(name, label)] = seconds.get((name, label), 0) + time.perf_counter() - t0
                chosen.setdefault((name, label), []).append(
                    "%d %s" % (info["k"], info["covariance_type"]))
            for m in methods:
                results.setdefault((name, m), []).append(rmse(fills[m], x, xm, sd))
    return sets, methods, results, chosen, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extension", default=os.path.join(REPO, "gmm"),
                    help="the loadable extension, without its suffix (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=5, help="masks per data set (default 5)")
    args = ap.parse_args()
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    if not os.path.exists(args.extension + suffix) and not os.path.exists(args.extension):
        sys.exit("impute_rmse: %s%s not found; build it with `make` in %s"
                 % (args.extension, suffix, REPO))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t_start = time.perf_counter()
    sets, methods, results, chosen, seconds = run(args.extension, args.reps)

    print("## gmm_impute: RMSE over cells masked completely at random\n")
    print("%d masks of %d%% of the cells per data set (numpy default_rng(seed), seed 0..%d); "
          "mean ± standard deviation over the masks. \"original\": RMSE in the data's units; "
          "\"standardised\": each error divided by its column's standard deviation. "
          "Lower is better.\n" % (args.reps, int(FRACTION * 100), args.reps - 1))
    print("| data (n x d) | method | RMSE, original scale | RMSE, standardised | seconds per mask |")
    print("|---|---|---|---|---|")
    for name, x in sets:
        for m in methods:
            r = np.array(results[(name, m)])
            extra = ""
            if (name, m) in chosen and m.startswith("gmm BIC"):
                c = chosen[(name, m)]
                extra = " (chosen: %s)" % ", ".join(sorted(set(c), key=c.index))
            print("| %s (%d x %d) | %s%s | %.4f ± %.4f | %.4f ± %.4f | %.3f |"
                  % (name, x.shape[0], x.shape[1], m, extra, r[:, 0].mean(), r[:, 0].std(),
                     r[:, 1].mean(), r[:, 1].std(), seconds[(name, m)] / args.reps))
    print()
    print("gmm options: %s; the BIC rows search k in 1..5 and the four covariance types, or "
          "full and tied only." % json.dumps(GMM_COMMON))
    print("Machine: %s; Python %s, scikit-learn %s, numpy %s, SQLite %s; %.1f s in all." %
          (cpu_model(), platform.python_version(), sklearn.__version__, np.__version__,
           sqlite3.sqlite_version, time.perf_counter() - t_start))


if __name__ == "__main__":
    main()
