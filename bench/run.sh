#!/bin/sh
# bench/run.sh -- make bench's driver: checks for scikit-learn, threadpoolctl
# and OpenBLAS (installs them with apt-get when run as root, otherwise prints
# the command), then runs bench/driver.py, which generates the data sets
# (cached in $BUILD/bench/data), runs gmm's core, gmm through SQL and
# scikit-learn side by side, and writes bench/RESULTS.md.
#
# Environment (make bench sets the first ones):
#   BUILD          build directory holding bench/{gen_data,bench_core,bench_sql}
#   GMM_EXTENSION  the extension to load (./gmm)
#   PYTHON         /usr/bin/python3
#   BENCH_ITER     EM iterations per timed fit (5)
#   BENCH_SQL_ITER iterations of the SQL-level comparison (20)
#   BENCH_REPEAT   repeats of every timing; the fastest is kept (3)
#   BENCH_SETS     subset of the data sets, e.g. "1000000x2k3 100000x64k16"
set -e
PYTHON=${PYTHON:-/usr/bin/python3}

missing=""
"$PYTHON" -c 'import numpy, sklearn' 2>/dev/null || missing="$missing python3-sklearn"
"$PYTHON" -c 'import threadpoolctl' 2>/dev/null || missing="$missing python3-threadpoolctl"
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q 'ok installed' \
    || missing="$missing libopenblas0-pthread"
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
