#!/bin/sh
# sqlite_amalgamation.sh -- finds the newest SQLite amalgamation at hand, the
# sqlite3.c (with sqlite3.h and sqlite3ext.h) that better-sqlite3 12 bundles,
# for the second SQLite of make test (tests/sqlite_newest.sh) and the
# WebAssembly build (wasm/build.sh).
#
# Usage: sh tests/sqlite_amalgamation.sh PACKDIR
# Prints the directory holding sqlite3.c: tests/clients/node/node_modules/
# better-sqlite3/deps/sqlite3 when the client tests have installed it there,
# else PACKDIR/package/deps/sqlite3, fetched (once) with `npm pack
# better-sqlite3@12`: the tarball alone, nothing built or installed. npm is
# installed with apt-get when missing and running as root; otherwise the
# command is printed. Messages go to stderr; exits 1 when it cannot.

pack=${1:?usage: sqlite_amalgamation.sh PACKDIR}
root=$(cd "$(dirname "$0")/.." && pwd) || exit 1
for dir in "$root/tests/clients/node/node_modules/better-sqlite3/deps/sqlite3" \
  "$pack/package/deps/sqlite3"; do
  if [ -f "$dir/sqlite3.c" ] && [ -f "$dir/sqlite3.h" ]; then
    echo "$dir"
    exit 0
  fi
done

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing with apt-get: npm" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null ||
      { echo "apt-get failed; run: apt-get update && apt-get install -y npm" >&2; exit 1; }
  else
    echo "npm is missing; install it with: sudo apt-get update && sudo apt-get install -y npm" >&2
    exit 1
  fi
fi
echo "fetching better-sqlite3@12's tarball with npm pack (for its sqlite3.c)" >&2
rm -rf "$pack" && mkdir -p "$pack" || exit 1
(cd "$pack" && npm pack --silent better-sqlite3@12 >/dev/null) || {
  echo "npm pack better-sqlite3@12 failed" >&2
  exit 1
}
tar -xzf "$pack"/better-sqlite3-*.tgz -C "$pack" package/deps/sqlite3 || exit 1
echo "$pack/package/deps/sqlite3"
