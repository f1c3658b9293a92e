"""bench_sklearn.py -- scikit-learn's side of make bench.

  bench_sklearn.py fit FILE N D K COV MAX_ITER
      Loads N x D float64 rows from FILE (gen_data's format) with numpy,
      then times GaussianMixture(n_components=K, covariance_type=COV,
      init_params='random_from_data', tol=0, max_iter=M, n_init=1,
      random_state=0).fit(X) for M = 1 and M = MAX_ITER. scikit-learn cannot
      fit with max_iter 0, so seconds per EM iteration are
      (t(MAX_ITER) - t(1)) / (MAX_ITER - 1). Prints one line of JSON with
      the peak resident set (ru_maxrss) above the resident set once the data
      is loaded, and threadpoolctl's threadpool_info().

  bench_sklearn.py fit FILE N D K COV MAX_ITER START
      The same from the starting parameters in START (written by `start`):
      GaussianMixture(..., weights_init, means_init, precisions_init), so
      that gmm (bench_core start=START) and scikit-learn run EM from the
      same place.

  bench_sklearn.py start FILE N D K COV OUT
      Writes a starting point for both tools to OUT, float64 in this order:
      weights (k, all 1/k), means (k x d: k distinct rows of FILE drawn with
      numpy's default_rng(0)), precisions in scikit-learn's shape for COV
      (full k x d x d, tied d x d, diag k x d, spherical k): the inverse of
      the data's covariance (its diagonal for diag, the mean variance for
      spherical) for every component.

  bench_sklearn.py bayes FILE N D K COV MAX_ITER
      The section on priors (issue 13): as fit, the same rows, init and
      random_state, for GaussianMixture and for BayesianGaussianMixture
      with weight_concentration_prior_type 'dirichlet_process' and
      'dirichlet_distribution' (every other parameter of the prior at its
      default), each timed at max_iter 1 and MAX_ITER in turn; seconds per
      iteration (t(MAX_ITER) - t(1)) / (MAX_ITER - 1) for all three. With
      tol 0 neither class can stop early (|change| < 0 never holds); the
      iterations are checked. Prints one line of JSON: per model its two
      times, s/iter and final lower_bound_ (GaussianMixture's: the mean
      log-likelihood per row), and threadpool_info().

  bench_sklearn.py sql DB EXTENSION MAX_ITER [REPEAT]
      The SQL-level figures on DB's pts(x0, x1), k 3, full: gmm_fit end to
      end against reading the table into numpy plus scikit-learn's fit with
      the same iterations; gmm_predict over every row (model bound as a
      parameter, and from a scalar subquery) against sum(x0 + x1) and
      scikit-learn's predict. Every time is the fastest of REPEAT (3).
      Prints one line of JSON.

Run with /usr/bin/python3 (Debian's sqlite3 module can load extensions).
"""
import itertools
import json
import resource
import sqlite3
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from threadpoolctl import threadpool_info

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gm(k, cov, max_iter):
    return GaussianMixture(n_components=k, covariance_type=cov, init_params="random_from_data",
                           tol=0, max_iter=max_iter, n_init=1, random_state=0)


# The models of `bayes`: name -> constructor(k, cov, max_iter).
BAYES_MODELS = {
    "GaussianMixture": gm,
    "BayesianGaussianMixture_dirichlet_process": lambda k, cov, max_iter: BayesianGaussianMixture(
        n_components=k, covariance_type=cov, weight_concentration_prior_type="dirichlet_process",
        init_params="random_from_data", tol=0, max_iter=max_iter, n_init=1, random_state=0),
    "BayesianGaussianMixture_dirichlet_distribution":
        lambda k, cov, max_iter: BayesianGaussianMixture(
            n_components=k, covariance_type=cov,
            weight_concentration_prior_type="dirichlet_distribution",
            init_params="random_from_data", tol=0, max_iter=max_iter, n_init=1, random_state=0),
}


def warm_up(d, bayes=False):
    """One small fit (of each model with bayes), so that the timed ones pay
    no first-call costs."""
    x = np.random.default_rng(0).standard_normal((2000, d))
    for make in (BAYES_MODELS.values() if bayes else (gm,)):
        make(2, "full", 2).fit(x)


def read_start(path, d, k, cov):
    """The starting point `start` wrote: (weights, means, precisions)."""
    v = np.fromfile(path, dtype=np.float64)
    shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[cov]
    size = k + k * d + int(np.prod(shape))
    if v.size != size:
        sys.exit(f"bench_sklearn: {path} holds {v.size} doubles, not {size}")
    return v[:k], v[k:k + k * d].reshape(k, d), v[k + k * d:].reshape(shape)


def start(path, n, d, k, cov, out):
    n, d, k = int(n), int(d), int(k)
    x = np.fromfile(path, dtype=np.float64, count=n * d).reshape(n, d)
    rows = np.random.default_rng(0).choice(n, size=k, replace=False)
    means = x[np.sort(rows)]
    c = np.atleast_2d(np.cov(x, rowvar=False))
    if cov in ("full", "tied"):
        p = np.linalg.inv(c)
        prec = np.broadcast_to(p, (k, d, d)) if cov == "full" else p
    elif cov == "diag":
        prec = np.broadcast_to(1.0 / np.diag(c), (k, d))
    else:
        prec = np.full(k, 1.0 / np.mean(np.diag(c)))
    np.concatenate([np.full(k, 1.0 / k), means.ravel(), np.asarray(prec).ravel()]).tofile(out)


def timed_fit(x, k, cov, max_iter, make=gm):
    t0 = time.perf_counter()
    model = make(k, cov, max_iter).fit(x)
    t = time.perf_counter() - t0
    if model.n_iter_ != max_iter:
        sys.exit(f"bench_sklearn: {model.n_iter_} iterations instead of {max_iter}")
    return t, model


def load_rows(path, n, d, k, max_iter):
    """The arguments of fit and bayes as numbers, and the n x d rows of path."""
    n, d, k, max_iter = int(n), int(d), int(k), int(max_iter)
    if max_iter < 2:
        sys.exit("bench_sklearn: MAX_ITER must be at least 2")
    x = np.fromfile(path, dtype=np.float64, count=n * d)
    if x.size != n * d:
        sys.exit(f"bench_sklearn: {path} is short")
    return x.reshape(n, d), n, d, k, max_iter


def fit(path, n, d, k, cov, max_iter, start_path=None):
    x, n, d, k, max_iter = load_rows(path, n, d, k, max_iter)
    make = gm
    if start_path:
        w, m, p = read_start(start_path, d, k, cov)

        def make(k_, cov_, max_iter_):
            return GaussianMixture(n_components=k_, covariance_type=cov_, weights_init=w,
                                   means_init=m, precisions_init=p, tol=0, max_iter=max_iter_,
                                   n_init=1, random_state=0)
    warm_up(d)
    base = rss_mib()
    t1, _ = timed_fit(x, k, cov, 1, make)
    tn, model = timed_fit(x, k, cov, max_iter, make)
    print(json.dumps({
        "tool": "sklearn", "cov": cov, "max_iter": max_iter, "fit1_s": t1, "fit_s": tn,
        "per_iter_s": (tn - t1) / (max_iter - 1), "peak_above_data_mib": peak_mib() - base,
        "data_rss_mib": base, "mean_ll": float(model.score(x)),
        "sklearn": sklearn.__version__, "numpy": np.__version__,
        "threadpool_info": threadpool_info(),
    }))


def bayes(path, n, d, k, cov, max_iter):
    x, n, d, k, max_iter = load_rows(path, n, d, k, max_iter)
    warm_up(d, bayes=True)
    r = {"tool": "sklearn-bayes", "cov": cov, "max_iter": max_iter}
    for name, make in BAYES_MODELS.items():
        t1, _ = timed_fit(x, k, cov, 1, make)
        tn, model = timed_fit(x, k, cov, max_iter, make)
        r[name] = {"fit1_s": t1, "fit_s": tn, "per_iter_s": (tn - t1) / (max_iter - 1),
                   "lower_bound": float(model.lower_bound_)}
    r.update({"sklearn": sklearn.__version__, "numpy": np.__version__,
              "threadpool_info": threadpool_info()})
    print(json.dumps(r))


def best_of(repeat, f):
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = f()
        best = min(best, time.perf_counter() - t0)
    return best, value


def sql(path, ext, max_iter, repeat="3"):
    max_iter, repeat = int(max_iter), int(repeat)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.enable_load_extension(False)
    db.execute("SELECT sum(x0) FROM pts").fetchone()  # warm the OS page cache
    warm_up(2)
    spec = json.dumps({"k": 3, "init": "random_from_data", "tol": 0, "max_iter": max_iter})
    r = {"tool": "sql-level", "max_iter": max_iter, "repeat": repeat,
         "sqlite": sqlite3.sqlite_version}

    r["gmm_fit_s"], blob = best_of(
        repeat, lambda: db.execute("SELECT gmm_fit(?, x0, x1) FROM pts", (spec,)).fetchone()[0])
    r["gmm_n_iter"] = json.loads(db.execute("SELECT gmm_info(?)", (blob,)).fetchone()[0]).get(
        "n_iter")

    r["read_fetchall_s"], x = best_of(
        repeat, lambda: np.array(db.execute("SELECT x0, x1 FROM pts").fetchall(), dtype=np.float64))
    n = x.shape[0]
    r["read_fromiter_s"], x2 = best_of(
        repeat, lambda: np.fromiter(itertools.chain.from_iterable(
            db.execute("SELECT x0, x1 FROM pts")), dtype=np.float64, count=2 * n).reshape(n, 2))
    assert np.array_equal(x, x2)
    del x2
    r["n"] = n
    r["sklearn_fit_s"], model = best_of(repeat, lambda: timed_fit(x, 3, "full", max_iter)[1])
    r["sklearn_total_s"] = min(r["read_fetchall_s"], r["read_fromiter_s"]) + r["sklearn_fit_s"]

    q = lambda sql, *p: db.execute(sql, p).fetchone()[0]  # noqa: E731
    r["predict_param_s"], s_param = best_of(
        repeat, lambda: q("SELECT sum(gmm_predict(?, x0, x1)) FROM pts", blob))
    db.execute("CREATE TEMP TABLE m(model BLOB)")
    db.execute("INSERT INTO m VALUES (?)", (blob,))
    r["predict_subquery_s"], s_sub = best_of(
        repeat, lambda: q("SELECT sum(gmm_predict((SELECT model FROM m), x0, x1)) FROM pts"))
    r["predict_join_s"], s_join = best_of(
        repeat, lambda: q("SELECT sum(gmm_predict(m.model, x0, x1)) FROM m, pts"))
    r["sum_x0_x1_s"], _ = best_of(repeat, lambda: q("SELECT sum(x0 + x1) FROM pts"))
    r["sklearn_predict_s"], labels = best_of(repeat, lambda: model.predict(x))
    if not s_param == s_sub == s_join:
        sys.exit(f"bench_sklearn: gmm_predict sums differ: {s_param} {s_sub} {s_join}")
    r["predict_sum"] = s_param
    print(json.dumps(r))


if __name__ == "__main__":
    if len(sys.argv) in (8, 9) and sys.argv[1] == "fit":
        fit(*sys.argv[2:])
    elif len(sys.argv) == 8 and sys.argv[1] == "start":
        start(*sys.argv[2:])
    elif len(sys.argv) == 8 and sys.argv[1] == "bayes":
        bayes(*sys.argv[2:])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "sql":
        sql(*sys.argv[2:])
    else:
        sys.exit(__doc__)
