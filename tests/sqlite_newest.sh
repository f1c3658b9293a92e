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
# The amalgamation comes from tests/sqlite_amalgamation.sh: better-sqlite3's
# copy in tests/clients/node/node_modules, or its npm tarball unpacked in
# OUTDIR/pack.
#
# Compile options: the amalgamation's defaults (lookaside on, for one, where
# Debian's build has it off) plus what Debian's libsqlite3 and the clients
# rely on: column metadata (Python's sqlite3), math functions, FTS5, R*Tree,
# dbstat.

out=${1:?usage: sqlite_newest.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd) || exit 1
CC=${CC:-cc}
mkdir -p "$out/include" || exit 1

src=$(sh "$root/tests/sqlite_amalgamation.sh" "$out/pack") || exit 1
cp "$src/sqlite3.h" "$src/sqlite3ext.h" "$out/include/" || exit 1
$CC -O2 -fPIC -shared -Wl,-soname,libsqlite3.so.0 \
  -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_MATH_FUNCTIONS \
  -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_DBSTAT_VTAB \
  -o "$out/libsqlite3.so.0.tmp" "$src/sqlite3.c" -lm -lpthread -ldl || exit 1
mv "$out/libsqlite3.so.0.tmp" "$out/libsqlite3.so.0" || exit 1
echo "built $out/libsqlite3.so.0: SQLite $(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$out/include/sqlite3.h") from $src/sqlite3.c"
