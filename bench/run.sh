#!/bin/sh
# bench/run.sh -- make bench's driver: checks for scikit-learn, threadpoolctl
# and OpenBLAS, and for the sections on EM in passes Dask's distributed
# (installs them with apt-get when run as root, otherwise prints the command),
# then runs bench/driver.py, which generates the data sets (cached in
# $BUILD/bench/data), runs gmm's core, gmm through SQL and scikit-learn side
# by side, then EM in passes (streamed, out of core, Dask), then EM with
# missing values (the core's EM iteration with 10 % of the cells of 1M x 8
# missing against the complete one; bench/impute_rmse.py when present), then
# mclust's fourteen covariance models (the core's EM iteration on 100k x 8,
# k 4, each against VVV = full), then the priors (the core's EM iteration
# with each prior -- none, dirichlet_process, dirichlet_distribution,
# conjugate -- on 1M x 2, k 3 and 100k x 16, k 8, for full, tied, diag and
# spherical, against maximum likelihood and against scikit-learn's
# GaussianMixture and BayesianGaussianMixture), and writes bench/RESULTS.md.
#
# Environment (make bench sets the first ones):
#   BUILD          build directory holding bench/{gen_data,bench_core,bench_sql,bench_passes}
#   GMM_EXTENSION  the extension to load (./gmm)
#   PYTHON         /usr/bin/python3
#   BENCH_ITER     EM iterations per timed scikit-learn fit (5; 4 times
#                  that in the section on missing values)
#   BENCH_GMM_ITER gmm's timed fits run this many times BENCH_ITER (4)
#   BENCH_SQL_MIN_S  and through SQL at least this many seconds of
#                  iterations, from the core's time (0.5)
#   BENCH_SQL_ITER iterations of the SQL-level comparison (20)
#   BENCH_REPEAT   repeats of every timing; the fastest is kept (5)
#   BENCH_SETS     subset of the data sets, e.g. "1000000x2k3 100000x64k16"
#   BENCH_PASSES   0 skips the sections on EM in passes (1)
#   BENCH_ONLY     "passes", "missing", "mclust" or "bayes": only those
#                  sections; the report goes to $BENCH_OUT, default
#                  $BUILD/bench/RESULTS-passes.md, RESULTS-missing.md,
#                  RESULTS-mclust.md or RESULTS-bayes.md (never
#                  bench/RESULTS.md). "missing" needs scikit-learn
#                  (impute_rmse.py), not Dask; "mclust" times bench_core
#                  alone and needs neither; "bayes" needs scikit-learn, not
#                  Dask
#   BENCH_MCLUST_ITER  EM iterations per model in the section on mclust's
#                  models (50)
#   BENCH_BAYES_ITER   M of the core's timed fits in the section on priors
#                  (50): s/iter = (t(M) - t(1)) / (M - 1) for every prior,
#                  maximum likelihood included
#   BENCH_BAYES_SK_ITER  M of scikit-learn's timed fits there (10)
#   BENCH_OUT      where to write the report instead
#   BENCH_DASK_ITER  EM iterations of the Dask comparison (10)
#   BENCH_OOC_ITER   EM iterations of the out-of-core fit (3)
#   BENCH_OOC_HEAP   its PRAGMA hard_heap_limit in bytes (64000000)
#   BENCH_OOC_CACHE  its PRAGMA cache_size (-2000: 2 MB)
#   BENCH_ONLY=floors  the core's full-covariance EM iteration on 1, 2 and
#                  every core against a floor derived from its work and this
#                  machine's rates (bench/rates.py: dgemm, exp, read with
#                  numpy), $BUILD/bench/RESULTS-floors.md
#   BENCH_ONLY=wasm  instead: gmm in WebAssembly (web/dist, built first by
#                  wasm/build.sh) in Node and headless Chromium against the
#                  native build (bench/wasm.mjs; BENCH_WASM_ITER, 20, and
#                  BENCH_REPEAT, there 3 by default); the report goes to
#                  $BUILD/bench/RESULTS-wasm.md
# e.g. BENCH_ONLY=passes BENCH_REPEAT=3 make bench
#      BENCH_ONLY=missing BENCH_REPEAT=3 make bench
#      BENCH_ONLY=mclust BENCH_REPEAT=3 make bench
#      BENCH_ONLY=bayes BENCH_REPEAT=3 make bench
set -e
PYTHON=${PYTHON:-/usr/bin/python3}

if [ "${BENCH_ONLY:-}" = wasm ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  sh "$root/wasm/build.sh" "$root/web/dist"
  BENCH_OUT=${BENCH_OUT:-${BUILD:-build}/bench/RESULTS-wasm.md}
  export BENCH_OUT
  exec node "$root/bench/wasm.mjs"
fi

missing=""
only=${BENCH_ONLY:-}
if [ "$only" != passes ] && [ "$only" != mclust ] && [ "$only" != floors ]; then
  "$PYTHON" -c 'import numpy, sklearn' 2>/dev/null || missing="$missing python3-sklearn"
  "$PYTHON" -c 'import threadpoolctl' 2>/dev/null || missing="$missing python3-threadpoolctl"
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q 'ok installed' \
      || missing="$missing libopenblas0-pthread"
  fi
fi
if [ "$only" = floors ]; then
  "$PYTHON" -c 'import numpy' 2>/dev/null || missing="$missing python3-numpy"
fi
if [ "${BENCH_PASSES:-1}" != 0 ] && { [ -z "$only" ] || [ "$only" = passes ]; }; then
  "$PYTHON" -c 'import distributed' 2>/dev/null || missing="$missing python3-distributed"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing packages:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
      || { echo "apt-get failed; run: apt-get update && apt-get install -y$missing" >&2; exit 1; }
  else
    echo "Missing packages:$missing" >&2
    echo "Install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

exec "$PYTHON" "$(dirname "$0")/driver.py" "$@"
