#!/bin/sh
# tests/dask/run.sh [extension]: python/gmm_dask.py on a real Dask LocalCluster.
#
# Run from the repository root; the extension defaults to ./gmm. Needs Dask's
# `distributed` for Debian's /usr/bin/python3: installs python3-distributed
# with apt-get when missing and running as root, else prints the command and
# exits 1. The checks are in tests/dask/check.py; the whole run is bounded by
# `timeout` (300 s). Prints "SKIP dask: <why>" and exits 0 when the cluster
# cannot start at all (Debian marks its Dask daemons flaky); ends with
# "N passed, M failed" otherwise, exit status 1 on any failure.
set -u

extension=${1:-./gmm}
here=$(dirname "$0")
python=/usr/bin/python3
package=python3-distributed

if ! "$python" -c 'import distributed' 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/dask: Dask distributed is missing; run as root:" >&2
        echo "    apt-get update && apt-get install -y $package" >&2
        exit 1
    fi
    echo "tests/dask: installing $package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$package" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null; } ||
        { echo "tests/dask: apt-get install -y $package failed" >&2; exit 1; }
    "$python" -c 'import distributed' ||
        { echo "tests/dask: $package installed but 'import distributed' fails" >&2; exit 1; }
fi

timeout -k 10 300 "$python" "$here/check.py" "$extension"
status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "tests/dask: timed out after 300 s"
    echo "0 passed, 1 failed"
    exit 1
fi
exit "$status"
