#!/bin/sh
# sqlite_newest.sh -- builds the second SQLite that `make test` runs the
# suites on: libsqlite3.so.0 from the newest amalgamation at hand, the
# sqlite3.c that better-sqlite3 12 bundles (npm).
#
# Usage: sh tests/sqlite_newest.sh OUTDIR
#   CC       the C compiler (default cc)
# Writes OUTDIR/libsqlite3.so.0 (soname libsqlite3.so.0, so that programs
# linked with -lsqlite3 take it when OUTDIR is first on LD_LIBRARY_PATH) and
# OUTDIR/include/{sqlite3.h,sqlite3ext.h}, and prints the version built.
#
# The amalgamation comes from tests/clients/node/node_modules/better-sqlite3
# when the client tests have installed it there; otherwise `npm pack
# better-sqlite3@12` fetches the package's tarball alone (nothing is built
# or installed) and it is unpacked in OUTDIR. npm is installed with apt-get
# when missing and running as root.
#
# Compile options: the amalgamation's defaults (lookaside on, for one, where
# Debian's build has it off) plus what Debian's libsqlite3 and the clients
# rely on: column metadata (Python's sqlite3), math functions, FTS5, R*Tree,
# dbstat.

out=${1:?usage: sqlite_newest.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd) || exit 1
CC=${CC:-cc}
mkdir -p "$out/include" || exit 1

src=$root/tests/clients/node/node_modules/better-sqlite3/deps/sqlite3
if [ ! -f "$src/sqlite3.c" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing with apt-get: npm"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null ||
        { echo "apt-get failed; run: apt-get update && apt-get install -y npm" >&2; exit 1; }
    else
      echo "npm is missing; install it with: sudo apt-get update && sudo apt-get install -y npm" >&2
      exit 1
    fi
  fi
  echo "fetching better-sqlite3@12's tarball with npm pack (for its sqlite3.c)"
  rm -rf "$out/pack" && mkdir -p "$out/pack" || exit 1
  (cd "$out/pack" && npm pack --silent better-sqlite3@12 >/dev/null) || {
    echo "npm pack better-sqlite3@12 failed" >&2
    exit 1
  }
  tar -xzf "$out"/pack/better-sqlite3-*.tgz -C "$out/pack" package/deps/sqlite3 || exit 1
  src=$out/pack/package/deps/sqlite3
fi

cp "$src/sqlite3.h" "$src/sqlite3ext.h" "$out/include/" || exit 1
$CC -O2 -fPIC -shared -Wl,-soname,libsqlite3.so.0 \
  -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_MATH_FUNCTIONS \
  -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_DBSTAT_VTAB \
  -o "$out/libsqlite3.so.0.tmp" "$src/sqlite3.c" -lm -lpthread -ldl || exit 1
mv "$out/libsqlite3.so.0.tmp" "$out/libsqlite3.so.0" || exit 1
echo "built $out/libsqlite3.so.0: SQLite $(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$out/include/sqlite3.h") from $src/sqlite3.c"
