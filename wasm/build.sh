#!/bin/sh
# build.sh -- gmm in WebAssembly: SQLite's amalgamation and every gmm source
# compiled with Debian's emscripten into one module, gmm registered on every
# connection (wasm/gmm_wasm.c), for web/sqlite-gmm.mjs.
#
# Usage: sh wasm/build.sh OUTDIR          (make wasm: OUTDIR is web/dist)
#   EMCC      the compiler (default emcc)
#   WASM_OPT  the optimisation level (default -O2: -O3 is no faster and 110 kB
#             larger, -Os 40 % smaller and 30 to 45 % slower fits)
# Writes OUTDIR/sqlite-gmm-core.mjs (the ES module emscripten generates: its
# default export instantiates the module) and OUTDIR/sqlite-gmm-core.wasm,
# then prints their sizes. Objects are kept in build/wasm/obj and compiled
# again only when their source, gmm's headers, this script or the flags
# changed, the module linked again only when an object is newer.
#
# The amalgamation is the sqlite3.c better-sqlite3 12 bundles (npm), as for
# tests/sqlite_newest.sh (tests/sqlite_amalgamation.sh finds it: the client
# tests' copy, else the npm tarball unpacked in build/wasm/pack).
#
# Debian's emscripten (3.1.6) and node-acorn (its JS optimiser needs acorn)
# are installed with apt-get
# when missing and running as root; otherwise the apt-get command is
# printed. emcc runs with NODE_PATH=/usr/share/nodejs, where Debian keeps
# acorn (this machine's Node is not Debian's and does not look there).
#
# Flags: -ffp-contract=off as in the native build (no fused multiply-adds,
# so the bits are the native baseline's); -msimd128, which the 2-lane kernel
# (ext/core/gmm_tile_narrow.c) maps onto (ext/core/gmm_tile.c's x86 dispatch
# is not compiled for wasm); no -pthread: one thread (see wasm/gmm_wasm.c).
# SQLite without threads or extension loading, with the math functions,
# temporary tables in memory, and the sqlite_stmt table (the tests count
# unfinalized statements with it).

out=${1:?usage: sh wasm/build.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd) || exit 1
EMCC=${EMCC:-emcc}
OPT=${WASM_OPT:--O2}
obj=$root/build/wasm/obj
NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
export NODE_PATH
start=$(date +%s)

# ---- emscripten ----------------------------------------------------------------

# need PACKAGE...: installs the Debian packages with apt-get when running as
# root, else prints the command and stops.
need() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing with apt-get: $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
      { echo "apt-get failed; run: apt-get update && apt-get install -y $*" >&2; exit 1; }
  else
    echo "missing: $*; install with: sudo apt-get update && sudo apt-get install -y $*" >&2
    exit 1
  fi
}
if ! command -v "$EMCC" >/dev/null 2>&1; then
  need emscripten node-acorn
elif [ ! -f /usr/share/nodejs/acorn/package.json ] && [ "$EMCC" = emcc ]; then
  need node-acorn
fi

# ---- the amalgamation ------------------------------------------------------------

src=$(sh "$root/tests/sqlite_amalgamation.sh" "$root/build/wasm/pack") || exit 1
version=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$src/sqlite3.h")

# ---- compile ----------------------------------------------------------------------

COMMON="$OPT -msimd128 -ffp-contract=off -DSQLITE_CORE"
SQLITE_OPTS="-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_ENABLE_MATH_FUNCTIONS \
-DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_TEMP_STORE=3 -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE \
-DSQLITE_OMIT_UTF16 -DSQLITE_USE_ALLOCA -DSQLITE_ENABLE_STMTVTAB"
# gmm's sources as the native build compiles them (its warnings included).
GMM_FLAGS="-std=c11 -Wall -Wextra -Wshadow -Wpedantic -I$src -I$root/ext/sqlite"

mkdir -p "$obj" "$out" || exit 1
# Other flags (WASM_OPT, EMCC, another amalgamation): every object again.
flags="$EMCC $COMMON $SQLITE_OPTS $GMM_FLAGS"
if [ "$(cat "$obj/flags" 2>/dev/null)" != "$flags" ]; then
  rm -f "$obj"/*.o
  printf '%s\n' "$flags" > "$obj/flags" || exit 1
fi
# stale OBJ SRC: the object is missing or older than its inputs.
stale() {
  [ ! -f "$1" ] && return 0
  for f in "$2" "$0" "$root"/ext/core/*.h "$root"/ext/sqlite/*.h; do
    [ "$f" -nt "$1" ] && return 0
  done
  return 1
}

# SQLite (the longest) in the background, gmm's sources meanwhile.
pid=
if stale "$obj/sqlite3.o" "$src/sqlite3.c"; then
  echo "emcc sqlite3.c (SQLite $version)"
  $EMCC $COMMON $SQLITE_OPTS -c -o "$obj/sqlite3.o.tmp" "$src/sqlite3.c" &&
    mv "$obj/sqlite3.o.tmp" "$obj/sqlite3.o" &
  pid=$!
fi
failed=0
objs=
for c in "$root"/ext/core/*.c "$root"/ext/sqlite/*.c "$root"/wasm/gmm_wasm.c; do
  base=$(basename "$(dirname "$c")")_$(basename "$c" .c)
  o=$obj/$base.o
  objs="$objs $o"
  if stale "$o" "$c"; then
    echo "emcc ${c#"$root"/}"
    $EMCC $COMMON $GMM_FLAGS -DGMM_BUILD_FLAGS="\"$COMMON (emscripten)\"" -c -o "$o" "$c" ||
      { failed=1; rm -f "$o"; }
  fi
done
if [ -n "$pid" ]; then wait "$pid" || failed=1; fi
[ "$failed" = 0 ] && [ -f "$obj/sqlite3.o" ] || { echo "compilation failed" >&2; exit 1; }

# ---- link -----------------------------------------------------------------------------

# emscripten 3.1.6's ES6 glue calls CommonJS's require and __dirname under
# Node, which an ES module lacks: this prologue (before the glue, outside its
# optimised code) gives them, in Node only.
cat > "$obj/node_prologue.js.new" <<'EOF'
// Node: CommonJS's require and __dirname, which emscripten 3.1.6's ES6 glue uses.
var require, __dirname;
if (typeof process == 'object' && typeof process.versions == 'object' && typeof process.versions.node == 'string') {
  require = (await import('node:module')).createRequire(import.meta.url);
  __dirname = require('node:path').dirname(require('node:url').fileURLToPath(import.meta.url));
}
EOF

EXPORTS="_malloc,_free,_gmm_wasm_init,_gmm_wasm_open,_gmm_wasm_db,_gmm_wasm_prepare,_gmm_wasm_stmt,\
_gmm_wasm_tail,_gmm_wasm_bind_text,_gmm_wasm_bind_blob,_sqlite3_libversion,_sqlite3_close_v2,\
_sqlite3_errmsg,_sqlite3_errcode,_sqlite3_extended_errcode,_sqlite3_changes,_sqlite3_step,\
_sqlite3_finalize,_sqlite3_bind_parameter_count,_sqlite3_bind_int64,_sqlite3_bind_double,\
_sqlite3_bind_null,_sqlite3_column_count,_sqlite3_column_name,_sqlite3_column_type,\
_sqlite3_column_int64,_sqlite3_column_double,_sqlite3_column_text,_sqlite3_column_blob,\
_sqlite3_column_bytes"

cmp -s "$obj/node_prologue.js.new" "$obj/node_prologue.js" || mv "$obj/node_prologue.js.new" "$obj/node_prologue.js"
rm -f "$obj/node_prologue.js.new"

link=0
for f in "$out/sqlite-gmm-core.mjs" "$out/sqlite-gmm-core.wasm"; do
  for i in "$obj/sqlite3.o" $objs "$obj/node_prologue.js" "$0"; do
    [ -f "$f" ] && [ ! "$i" -nt "$f" ] || link=1
  done
done
if [ "$link" = 1 ]; then
  rm -f "$out/sqlite-gmm-core.mjs" "$out/sqlite-gmm-core.wasm"
  echo "emcc -o ${out%/}/sqlite-gmm-core.mjs"
  $EMCC $OPT -msimd128 -o "$out/sqlite-gmm-core.mjs" "$obj/sqlite3.o" $objs \
    -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createSqliteGmmCore -sENVIRONMENT=web,worker,node \
    -sALLOW_MEMORY_GROWTH=1 -sWASM_BIGINT=1 -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
    -sEXPORTED_FUNCTIONS="$EXPORTS" --extern-pre-js "$obj/node_prologue.js" || exit 1
else
  echo "${out%/}/sqlite-gmm-core.{mjs,wasm} are up to date"
fi

end=$(date +%s)
wasm=$out/sqlite-gmm-core.wasm
[ "$link" = 1 ] && echo "built $out/sqlite-gmm-core.{mjs,wasm}: SQLite $version and gmm $(sed -n 's/^#define GMM_VERSION "\(.*\)"/\1/p' "$root/ext/core/gmm.h") in $((end - start)) s"
echo "sqlite-gmm-core.wasm: $(wc -c < "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) gzipped;" \
  "sqlite-gmm-core.mjs: $(wc -c < "$out/sqlite-gmm-core.mjs") bytes"
