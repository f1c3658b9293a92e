#!/usr/bin/python3
"""make_bayes_fixtures.py -- scikit-learn BayesianGaussianMixture oracle fixtures.

Regenerates tests/oracle/bayes_fixtures.h (a committed, generated C header)
from scikit-learn's BayesianGaussianMixture (variational inference), plus
digamma / lgamma / betaln reference values from scipy.special. Run it with
the system Python (numpy, scipy, scikit-learn 1.2.1):

    /usr/bin/python3 tests/oracle/make_bayes_fixtures.py            # writes the header
    /usr/bin/python3 tests/oracle/make_bayes_fixtures.py -o out.h   # writes elsewhere

Run it BEFORE tests/oracle/make_prior_fixtures.R, which reads the k-means
start labels (bayes_faithful_k4_labels, bayes_iris_k3_labels) and the data
rows from this header.

Data: Old Faithful (272 x 2) parsed from sql/faithful.sql exactly as
make_fixtures.py does, and iris (150 x 4) from sklearn's load_iris().

1. bayes_cases: fits from a fixed start partition. The start is
   KMeans(n_clusters=k, n_init=1, random_state=0).fit(X).labels_ (k = 4 on
   faithful, k = 3 on iris), turned into hard one-hot responsibilities and
   passed to BayesianGaussianMixture._initialize (one variational M-step),
   by overriding _initialize_parameters, the only place fit() uses its
   random state. Then max_iter=50, tol=0: exactly 50 iterations (E-step,
   M-step, bound). Every covariance type x both weight priors, default
   priors; plus two cases with explicit priors; plus faithful k=6 DP with
   all defaults (max_iter 100, tol 1e-3), started from the k-means labels
   that its default init computes (checked identical to a plain default fit).

2. Special functions at fixed points (digamma, gammaln, betaln).
"""

import argparse
import math
import os
import re
import sys
import textwrap
import warnings

import numpy as np
import scipy
import scipy.special as sp
import sklearn
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
FAITHFUL_SQL = os.path.join(REPO, "sql", "faithful.sql")
DEFAULT_OUT = os.path.join(HERE, "bayes_fixtures.h")

COV_CODE = {"full": 0, "tied": 1, "diag": 2, "spherical": 3}
PRIOR_CODE = {"dirichlet_process": 1, "dirichlet_distribution": 2}
PRIOR_SHORT = {"dirichlet_process": "dp", "dirichlet_distribution": "dd"}


def faithful_data():
    """The 272 Old Faithful rows of sql/faithful.sql (as make_fixtures.py)."""
    with open(FAITHFUL_SQL, encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r"^\s*\((\d+),([-+0-9.eE]+),(\d+)\)[,;]\s*$",
                      text, flags=re.M)
    ids = [int(r[0]) for r in rows]
    if ids != list(range(1, 273)):
        sys.exit("make_bayes_fixtures: %s: expected ids 1..272" % FAITHFUL_SQL)
    x = np.array([[float(r[1]), float(r[2])] for r in rows])
    if abs(x[:, 0].mean() - 3.4877830882352941) > 1e-12 or \
       abs(x[:, 1].mean() - 70.897058823529412) > 1e-10:
        sys.exit("make_bayes_fixtures: faithful means do not match R's")
    return x


def iris_data():
    x = np.ascontiguousarray(load_iris().data, dtype=np.float64)
    assert x.shape == (150, 4)
    return x


class LabelStartBGM(BayesianGaussianMixture):
    """BayesianGaussianMixture started from a given hard partition.

    sklearn 1.2.1 _base.fit_predict calls self._initialize_parameters(X,
    random_state) once per n_init and nothing else there is random; the
    kmeans branch builds exactly this one-hot resp and calls
    self._initialize(X, resp)."""

    def __init__(self, labels=None, n_components=1, *, covariance_type="full",
                 tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans",
                 weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None,
                 mean_prior=None, degrees_of_freedom_prior=None,
                 covariance_prior=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10):
        super().__init__(
            n_components=n_components, covariance_type=covariance_type,
            tol=tol, reg_covar=reg_covar, max_iter=max_iter, n_init=n_init,
            init_params=init_params,
            weight_concentration_prior_type=weight_concentration_prior_type,
            weight_concentration_prior=weight_concentration_prior,
            mean_precision_prior=mean_precision_prior, mean_prior=mean_prior,
            degrees_of_freedom_prior=degrees_of_freedom_prior,
            covariance_prior=covariance_prior, random_state=random_state,
            warm_start=warm_start, verbose=verbose,
            verbose_interval=verbose_interval)
        self.labels = labels

    def _initialize_parameters(self, X, random_state):
        n = X.shape[0]
        resp = np.zeros((n, self.n_components))
        resp[np.arange(n), self.labels] = 1
        self.bound_trace_ = []
        self._initialize(X, resp)

    def _compute_lower_bound(self, log_resp, log_prob_norm):
        lb = super()._compute_lower_bound(log_resp, log_prob_norm)
        self.bound_trace_.append(lb)
        return lb


def kmeans_labels(x, k):
    return KMeans(n_clusters=k, n_init=1, random_state=0).fit(x).labels_.astype(int)


def run(x, labels, k, cov, prior_type, max_iter, tol, priors):
    bgm = LabelStartBGM(labels=labels, n_components=k, covariance_type=cov,
                        weight_concentration_prior_type=prior_type,
                        max_iter=max_iter, tol=tol, reg_covar=1e-6,
                        random_state=0, **priors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(x)
    return bgm


def rel_diff(a, b):
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def make_case(name, data, x, labels, k, cov, prior_type, max_iter=50, tol=0.0,
              priors=None, doc=""):
    priors = priors or {}
    bgm = run(x, labels, k, cov, prior_type, max_iter, tol, priors)
    if tol == 0.0 and bgm.n_iter_ != max_iter:
        sys.exit("%s: n_iter_ %d != %d" % (name, bgm.n_iter_, max_iter))
    wc = bgm.weight_concentration_
    if prior_type == "dirichlet_process":
        wc = np.concatenate([np.asarray(wc[0]), np.asarray(wc[1])])
    c = dict(name=name, data=data, x=x, labels=labels, k=k, cov=cov,
             prior_type=prior_type, max_iter=max_iter, tol=tol, doc=doc,
             n=x.shape[0], d=x.shape[1],
             wcp=float(bgm.weight_concentration_prior_),
             mpp=float(bgm.mean_precision_prior_),
             mean_prior=np.asarray(bgm.mean_prior_, dtype=float),
             dofp=float(bgm.degrees_of_freedom_prior_),
             cov_prior=np.atleast_1d(np.asarray(bgm.covariance_prior_, dtype=float)),
             lower_bound=float(bgm.lower_bound_), n_iter=int(bgm.n_iter_),
             converged=int(bool(bgm.converged_)),
             trace=np.array(bgm.bound_trace_),
             weights=bgm.weights_, means=bgm.means_,
             covariances=bgm.covariances_,
             precisions_cholesky=bgm.precisions_cholesky_,
             dof=np.atleast_1d(bgm.degrees_of_freedom_),
             mean_precision=np.atleast_1d(bgm.mean_precision_),
             wc=wc, proba=bgm.predict_proba(x), score=bgm.score_samples(x),
             predict=bgm.predict(x))
    assert len(c["trace"]) == c["n_iter"]
    assert c["trace"][-1] == c["lower_bound"]
    # Translation check: EM/VB is translation equivariant if mean_prior moves
    # with the data; sklearn's uncentred diag/tied formulas lose digits.
    shift = x.mean(axis=0)
    p2 = dict(priors)
    if "mean_prior" in p2:
        p2["mean_prior"] = np.asarray(p2["mean_prior"]) - shift
    b2 = run(x - shift, labels, k, cov, prior_type, max_iter, tol, p2)
    c["translated"] = max(
        rel_diff(b2.means_ + shift, bgm.means_),
        rel_diff(b2.covariances_, bgm.covariances_),
        rel_diff(b2.predict_proba(x - shift), c["proba"]),
        rel_diff(b2.score_samples(x - shift), c["score"]),
        abs(b2.lower_bound_ - bgm.lower_bound_) / max(1.0, abs(bgm.lower_bound_)))
    return c


def build():
    fx = faithful_data()
    ix = iris_data()
    fl = kmeans_labels(fx, 4)
    il = kmeans_labels(ix, 3)
    fl6 = kmeans_labels(fx, 6)
    cases = []
    for data, x, lab, k in (("faithful", fx, fl, 4), ("iris", ix, il, 3)):
        for cov in ("full", "tied", "diag", "spherical"):
            for pt in ("dirichlet_process", "dirichlet_distribution"):
                cases.append(make_case("%s_%s_%s" % (data, cov, PRIOR_SHORT[pt]),
                                       data, x, lab, k, cov, pt,
                                       doc="default priors"))
    iris_priors = dict(weight_concentration_prior=0.5, mean_precision_prior=2.0,
                       degrees_of_freedom_prior=6.0,
                       mean_prior=ix.mean(axis=0) + 0.25,
                       covariance_prior=0.5 * np.cov(ix.T) + 0.1 * np.eye(4))
    cases.append(make_case("iris_full_dd_priors", "iris", ix, il, 3, "full",
                           "dirichlet_distribution", priors=iris_priors,
                           doc="weight_concentration_prior=0.5, "
                           "mean_precision_prior=2, degrees_of_freedom_prior=6, "
                           "mean_prior=colMeans+0.25, "
                           "covariance_prior=0.5*cov(X)+0.1*I"))
    f_priors = dict(weight_concentration_prior=10.0, mean_precision_prior=0.5,
                    degrees_of_freedom_prior=3.0,
                    covariance_prior=np.array([0.2, 30.0]),
                    mean_prior=np.array([3.5, 70.0]))
    cases.append(make_case("faithful_diag_dp_priors", "faithful", fx, fl, 4,
                           "diag", "dirichlet_process", priors=f_priors,
                           doc="weight_concentration_prior=10, "
                           "mean_precision_prior=0.5, degrees_of_freedom_prior=3, "
                           "covariance_prior=[0.2, 30], mean_prior=[3.5, 70]"))
    # k = 6, all defaults.
    default6 = BayesianGaussianMixture(n_components=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        default6.fit(fx)
    c6 = make_case("faithful_full_dp_k6_default", "faithful", fx, fl6, 6,
                   "full", "dirichlet_process", max_iter=100, tol=1e-3,
                   doc="all defaults (kmeans init random_state=0, max_iter 100, "
                   "tol 1e-3); started from the k-means labels the default "
                   "init computes")
    # The label start must reproduce the plain default fit bit for bit.
    for a, b in ((c6["weights"], default6.weights_), (c6["means"], default6.means_),
                 (c6["covariances"], default6.covariances_)):
        if not np.array_equal(a, b):
            sys.exit("k6: label start differs from the default fit")
    if c6["lower_bound"] != default6.lower_bound_ or c6["n_iter"] != default6.n_iter_:
        sys.exit("k6: label start differs from the default fit (bound)")
    if not default6.converged_:
        sys.exit("k6: default fit did not converge")
    cases.append(c6)
    thr = 1.0 / (100 * 6)
    k6 = dict(weights=default6.weights_,
              n_active=int(np.sum(default6.weights_ > thr)),
              labels=default6.predict(fx), n_iter=int(default6.n_iter_),
              lower_bound=float(default6.lower_bound_))
    for c in cases:
        for key in ("weights", "means", "covariances", "proba", "score"):
            if not np.all(np.isfinite(c[key])):
                sys.exit("%s: non-finite %s" % (c["name"], key))
    return dict(fx=fx, ix=ix, fl=fl, il=il, fl6=fl6, cases=cases, k6=k6)


SPECIAL_X = [1e-300, 1e-100, 1e-8, 1e-5, 1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0,
             1.25, 1.4616321449683623, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 5.5, 6.0,
             7.0, 8.0, 9.5, 9.99, 10.0, 10.01, 12.5, 20.0, 33.3, 50.0, 100.0,
             136.5, 171.5, 1e3, 1e4, 1e5, 1e7, 1e10, 1e15, 1e20, 1e100]
BETALN_AB = [(1.0, 1.0), (0.5, 0.5), (1.0, 0.25), (2.5, 3.5), (1e-3, 1.0),
             (1.0, 1e-3), (10.0, 20.0), (101.5, 0.25), (137.0, 136.0),
             (1.0, 1e5), (1e5, 1e5), (0.1, 1e10), (3.0, 2e-8), (272.0, 0.1667)]


def num(v):
    v = float(v)
    if not math.isfinite(v):
        raise ValueError("non-finite value %r" % v)
    return repr(v)


def c_doubles(name, arr, row_len, comment=None):
    flat = np.asarray(arr, dtype=np.float64).ravel()
    lines = ["/* %s */" % comment] if comment else []
    lines.append("static const double %s[%d] = {" % (name, flat.size))
    for i in range(0, flat.size, row_len):
        lines.append("  " + ", ".join(num(v) for v in flat[i:i + row_len]) + ",")
    lines.append("};")
    return "\n".join(lines)


def c_ints(name, arr, row_len=30, comment=None):
    flat = np.asarray(arr).ravel()
    lines = ["/* %s */" % comment] if comment else []
    lines.append("static const int %s[%d] = {" % (name, flat.size))
    for i in range(0, flat.size, row_len):
        lines.append("  " + ",".join(str(int(v)) for v in flat[i:i + row_len]) + ",")
    lines.append("};")
    return "\n".join(lines)


def comment_block(lines):
    body = []
    for line in lines:
        if not line or line.startswith(" "):
            body.append(line)
        else:
            body.extend(textwrap.wrap(line, 76, break_long_words=False,
                                      break_on_hyphens=False))
    return "\n".join(["/*"] + ["** " + l if l else "**" for l in body] + ["*/"])


HEADER_DOC = """\
bayes_fixtures.h -- GENERATED FILE, DO NOT EDIT.

Generated by tests/oracle/make_bayes_fixtures.py with scikit-learn %(skl)s, numpy %(np)s, scipy %(sp)s (Python %(py)s). Regenerate with:

    /usr/bin/python3 tests/oracle/make_bayes_fixtures.py
    Rscript tests/oracle/make_prior_fixtures.R tests/oracle/prior_fixtures.h

(the R script reads this header's labels and data, so run Python first).

Oracle fits of scikit-learn's BayesianGaussianMixture. Doubles are written with repr(), which round-trips exactly.

1. bayes_cases[]. Each case is

    BayesianGaussianMixture(n_components=k, covariance_type=...,
        weight_concentration_prior_type=..., max_iter=max_iter, tol=tol,
        reg_covar=1e-6, <priors>)

started from the hard partition `labels` (0-based): one-hot resp -> _initialize (one variational M-step), i.e. what init_params='kmeans' does with those k-means labels. With tol=0 exactly max_iter iterations run (E-step, M-step, lower bound). labels are KMeans(n_clusters=k, n_init=1, random_state=0).fit(x).labels_ (1 OpenMP thread).

Shapes are scikit-learn's, flattened row-major:
    covariances, precisions_cholesky  full k*d*d, tied d*d, diag k*d,
                                      spherical k
    covariance_prior                  full/tied d*d, diag d, spherical 1
    degrees_of_freedom                k (tied: 1)
    weight_concentration              DD (prior 2): k alphas; DP (prior 1):
                                      2k = the k gamma1 (1 + N_k), then the
                                      k gamma2 (alpha0 + sum_{j>k} N_j)
    lower_bound_trace                 n_iter values: the bound after each
                                      iteration's M-step; the last one is
                                      lower_bound (sklearn's lower_bound_)
    proba, score, predict             predict_proba (n*k), score_samples (n),
                                      predict (n), final parameters

`translated` is the largest relative difference (|a-b|/max(1,|b|)) between this fit and the same fit of x - colMeans(x) (mean_prior moved too), over means, covariances, proba, score and lower bound: sklearn's own rounding noise, a floor for test tolerances (its tied/diag/spherical statistics are E[x^2] - E[x]^2, uncentred).

2. faithful_dp6: Old Faithful, BayesianGaussianMixture(n_components=6, random_state=0) with all defaults (full, DP, kmeans init, max_iter 100, tol 1e-3). The same fit is the last bayes_cases entry (faithful_full_dp_k6_default, started from bayes_faithful_k6_labels; checked identical).

3. Special functions from scipy.special: bayes_special_x, bayes_digamma, bayes_gammaln; bayes_betaln_ab (pairs), bayes_betaln (mpmath: scipy's
betaln loses digits at large arguments)."""

STRUCT = """\
typedef struct bayes_case {
  const char *name;
  const char *data;            /* "faithful" or "iris" */
  int n, d, k;
  int cov_type;                /* 0 full, 1 tied, 2 diag, 3 spherical */
  int prior;                   /* 1 dirichlet_process, 2 dirichlet_distribution */
  int max_iter;
  double tol, reg_covar;
  const double *x;             /* n*d row-major (the data set's array) */
  const int *labels;           /* n, 0-based start partition */
  /* resolved priors (sklearn's *_prior_ attributes) */
  double weight_concentration_prior;   /* alpha0 */
  double mean_precision_prior;         /* beta0 */
  const double *mean_prior;            /* d, m0 */
  double degrees_of_freedom_prior;     /* nu0 */
  const double *covariance_prior;      /* full/tied d*d, diag d, spherical 1 */
  /* results */
  double lower_bound;          /* lower_bound_ */
  int n_iter;                  /* n_iter_ */
  int converged;               /* converged_ */
  const double *lower_bound_trace;     /* n_iter */
  const double *weights;       /* k */
  const double *means;         /* k*d */
  const double *covariances;   /* see shapes above */
  const double *precisions_cholesky;   /* same shape as covariances */
  const double *degrees_of_freedom;    /* k, tied 1 */
  const double *mean_precision;        /* k */
  const double *weight_concentration;  /* DD k, DP 2k */
  const double *proba;         /* n*k predict_proba */
  const double *score;         /* n score_samples */
  const int *predict;          /* n predict */
  double translated;           /* sklearn's translation noise, see above */
} bayes_case;"""


def render(r):
    py = sys.version.split()[0]
    doc = HEADER_DOC % dict(skl=sklearn.__version__, np=np.__version__,
                           sp=scipy.__version__, py=py)
    out = [comment_block(doc.split("\n")),
           "#ifndef GMM_BAYES_FIXTURES_H", "#define GMM_BAYES_FIXTURES_H", "",
           STRUCT, ""]
    out.append(c_doubles("bayes_faithful_x", r["fx"], 2,
                         "Old Faithful, 272 x 2 (eruptions, waiting), sql/faithful.sql"))
    out.append(c_doubles("bayes_iris_x", r["ix"], 4,
                         "iris, 150 x 4, sklearn load_iris().data"))
    out.append(c_ints("bayes_faithful_k4_labels", r["fl"], comment=
                      "KMeans(n_clusters=4, n_init=1, random_state=0).fit(faithful).labels_"))
    out.append(c_ints("bayes_iris_k3_labels", r["il"], comment=
                      "KMeans(n_clusters=3, n_init=1, random_state=0).fit(iris).labels_"))
    out.append(c_ints("bayes_faithful_k6_labels", r["fl6"], comment=
                      "KMeans(n_clusters=6, n_init=1, random_state=0).fit(faithful).labels_"))
    out.append("")
    xname = {"faithful": "bayes_faithful_x", "iris": "bayes_iris_x"}
    for i, c in enumerate(r["cases"]):
        p = "bayes_c%d_" % i
        k, d = c["k"], c["d"]
        out.append("/* case %d: %s (%s) */" % (i, c["name"], c["doc"]))
        c["arrays"] = {}
        for key, row in (("mean_prior", d), ("cov_prior", d), ("trace", 5),
                         ("weights", k), ("means", d), ("covariances", d),
                         ("precisions_cholesky", d), ("dof", k),
                         ("mean_precision", k), ("wc", k), ("proba", k),
                         ("score", 4)):
            out.append(c_doubles(p + key, c[key], row))
        out.append(c_ints(p + "predict", c["predict"]))
        out.append("")
    lab = {("faithful", 4): "bayes_faithful_k4_labels",
           ("iris", 3): "bayes_iris_k3_labels",
           ("faithful", 6): "bayes_faithful_k6_labels"}
    out.append("static const bayes_case bayes_cases[] = {")
    for i, c in enumerate(r["cases"]):
        p = "bayes_c%d_" % i
        k, d = c["k"], c["d"]
        out.append(
            '  {"%s", "%s", %d, %d, %d, %d, %d, %d, %s, 1e-6, %s, %s,\n'
            '   %s, %s, %smean_prior, %s, %scov_prior,\n'
            '   %s, %d, %d, %strace, %sweights, %smeans, %scovariances,\n'
            '   %sprecisions_cholesky, %sdof, %smean_precision, %swc, %sproba, %sscore,\n'
            '   %spredict, %s},'
            % (c["name"], c["data"], c["n"], d, k, COV_CODE[c["cov"]],
               PRIOR_CODE[c["prior_type"]], c["max_iter"], num(c["tol"]),
               xname[c["data"]], lab[(c["data"], k)],
               num(c["wcp"]), num(c["mpp"]), p, num(c["dofp"]), p,
               num(c["lower_bound"]), c["n_iter"], c["converged"], p, p, p, p,
               p, p, p, p, p, p, p, "%.3g" % c["translated"]))
    out.append("};")
    out.append("#define BAYES_N_CASES %d" % len(r["cases"]))
    out.append("")
    k6 = r["k6"]
    out.append("/* faithful_dp6: BayesianGaussianMixture(n_components=6, random_state=0)"
               ".fit(faithful), all defaults */")
    out.append(c_doubles("faithful_dp6_weights", k6["weights"], 6))
    out.append("static const double faithful_dp6_threshold = 1.0 / (100 * 6);")
    out.append("/* number of weights_ > 1/(100*6) */")
    out.append("static const int faithful_dp6_n_active = %d;" % k6["n_active"])
    out.append("static const int faithful_dp6_n_iter = %d;" % k6["n_iter"])
    out.append("static const double faithful_dp6_lower_bound = %s;" % num(k6["lower_bound"]))
    out.append(c_ints("faithful_dp6_labels", k6["labels"],
                      comment="predict(faithful), 0-based"))
    out.append("")
    xs = np.array(SPECIAL_X)
    out.append(c_doubles("bayes_special_x", xs, 4,
                         "points for digamma and lgamma"))
    out.append(c_doubles("bayes_digamma", sp.digamma(xs), 4,
                         "scipy.special.digamma(bayes_special_x)"))
    out.append(c_doubles("bayes_gammaln", sp.gammaln(xs), 4,
                         "scipy.special.gammaln(bayes_special_x)"))
    out.append("#define BAYES_N_SPECIAL %d" % len(xs))
    ab = np.array(BETALN_AB)
    out.append(c_doubles("bayes_betaln_ab", ab, 2, "pairs (a, b)"))
    # scipy's betaln loses up to 1e-9 absolute at large arguments (e.g.
    # betaln(1, 1e5) = -ln 1e5 exactly, scipy -11.51292546489276): the
    # reference is lgamma(a) + lgamma(b) - lgamma(a + b) in 40 digits.
    import mpmath
    mpmath.mp.dps = 40
    exact = [float(mpmath.loggamma(mpmath.mpf(a)) + mpmath.loggamma(mpmath.mpf(b)) -
                   mpmath.loggamma(mpmath.mpf(a) + mpmath.mpf(b))) for a, b in ab]
    out.append(c_doubles("bayes_betaln", np.array(exact), 4,
                         "ln B(a, b) by mpmath at 40 digits"))
    out.append("#define BAYES_N_BETALN %d" % len(ab))
    out.append("")
    out.append("#endif /* GMM_BAYES_FIXTURES_H */")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    args = ap.parse_args()
    with threadpool_limits(limits=1):
        r = build()
    text = render(r)
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    for c in r["cases"]:
        print("%-28s n_iter=%3d lower_bound=%-22r weights=%s translated=%.2g"
              % (c["name"], c["n_iter"], c["lower_bound"],
                 np.array2string(c["weights"], precision=4), c["translated"]))
    print("faithful_dp6: weights %s, n_active %d"
          % (np.array2string(r["k6"]["weights"], precision=5), r["k6"]["n_active"]))
    print("wrote %s (%d bytes)" % (args.output, len(text)))


if __name__ == "__main__":
    main()
