#!/bin/sh
# run.sh -- every client of gmm, each against the real thing, from the
# repository root:
#
#   shell    the sqlite3 shell, `.load ./gmm` and `SELECT load_extension('./gmm')`
#            (shell.sh, example.sql)
#   python   Python's standard sqlite3 module, Debian's /usr/bin/python3
#            (example.py)
#   node     Node.js with better-sqlite3 12, db.loadExtension (node/example.js)
#   static   a C program linking the static library libgmm.a (built with
#            -DSQLITE_CORE) and the system libsqlite3, registered with
#            sqlite3_auto_extension (static.c)
#   install  make install / make uninstall into a temporary DESTDIR, and a
#            build with pkg-config (install.sh)
#   sqlite-utils  Debian's sqlite-utils: `insert --csv`, then `query
#            --load-extension` (sqlite_utils.sh, README's block)
#   wheel    `make wheel`, installed with pip --no-index into a fresh virtual
#            environment of Debian's python3 (wheel.sh, README's blocks)
#   npm      `make npm`, the tarball installed into a fresh npm project and
#            used with better-sqlite3 12 (npm.sh, README's blocks)
#
# A missing runtime is installed, and the runner says what it installed:
# Debian packages (sqlite3, python3, nodejs, npm, and make and g++ to build
# better-sqlite3) with apt-get when running as root, otherwise the exact
# command is printed and the clients that need them fail; better-sqlite3 with
# `npm install` in tests/clients/node when it is not there yet (node/install.sh).
#
# Usage: sh tests/clients/run.sh [extension]
#   extension  the loadable module as .load takes it (default ./gmm)
#   SQLITE3    the sqlite3 shell (default sqlite3)
#   PYTHON     the Python interpreter (default /usr/bin/python3)
#   CC         the C compiler (default cc)
#   GMM_STATIC the static library (default libgmm.a; `make libgmm.a`)
#   GMM_MAKE   make, with any -f option, for install.sh (default make)
# One "ok <client>" or "FAIL <client>: why" line each, then "N passed, M
# failed"; the exit status is non-zero when any client failed.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
SQLITE3=${SQLITE3:-sqlite3}
PYTHON=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
GMM_MAKE=${GMM_MAKE:-make}
static=${GMM_STATIC:-libgmm.a}
export SQLITE3 PYTHON CC GMM_MAKE
node_dir=tests/clients/node
binding=$node_dir/node_modules/better-sqlite3/build/Release/better_sqlite3.node

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-clients.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

have() { command -v "$1" >/dev/null 2>&1; }

# ---- runtimes ----------------------------------------------------------------

missing=""
need() { case " $missing " in *" $1 "*) ;; *) missing="$missing $1" ;; esac; }
have "$SQLITE3" || need sqlite3
have "$PYTHON" || need python3
have node || need nodejs
have npm || need npm
have sqlite-utils || need sqlite-utils
if [ ! -f "$binding" ]; then
  # better-sqlite3 is built from source here (node-gyp): make, g++, python3.
  have make || need make
  have g++ || need g++
  have python3 || need python3
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing with apt-get:$missing"
    # shellcheck disable=SC2086 # one word per package
    if apt-get update -qq >"$tmp/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >>"$tmp/apt.log" 2>&1; then
      echo "installed (apt-get):$missing"
    else
      echo "apt-get failed; run: apt-get update && apt-get install -y$missing"
      sed 's/^/    /' "$tmp/apt.log"
    fi
  else
    echo "missing:$missing"
    echo "install them with: sudo apt-get update && sudo apt-get install -y$missing"
  fi
fi

npm_note=""
if [ ! -f "$binding" ] && have npm && have node; then
  sh "$node_dir/install.sh" || npm_note="npm install in $node_dir failed"
fi

# ---- the clients ----------------------------------------------------------------

passed=0
failed=0

# run NAME WHY-NOT COMMAND...: runs COMMAND unless WHY-NOT is set; it passes
# when it exits 0 and its last line is "ok NAME".
run() {
  name=$1
  why=$2
  shift 2
  out=""
  if [ -z "$why" ]; then
    out=$("$@" 2>&1)
    rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
      why="exit status $rc"
    elif [ "$last" != "ok $name" ]; then
      why="the last line is not 'ok $name'"
    fi
  fi
  if [ -z "$why" ]; then
    echo "ok $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $why"
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

why=""
have "$SQLITE3" || why="no sqlite3 shell ($SQLITE3)"
run shell "$why" sh tests/clients/shell.sh "$ext"

why=""
have "$PYTHON" || why="no $PYTHON"
run python "$why" "$PYTHON" tests/clients/example.py "$ext"

why=""
if ! have node; then
  why="no node"
elif [ "$(node -p 'process.versions.node.split(".")[0] >= 20')" != true ]; then
  why="better-sqlite3 12 needs Node.js 20 or later; this is $(node --version)"
elif [ ! -f "$binding" ]; then
  why=${npm_note:-"better-sqlite3 is not installed in $node_dir"}
else
  v=$(node -p "require('./$node_dir/node_modules/better-sqlite3/package.json').version")
  case $v in 12.*) ;; *) why="better-sqlite3 $v in $node_dir/node_modules, not 12 (remove node_modules to reinstall)" ;; esac
fi
run node "$why" node "$node_dir/example.js" "$ext"

# The C program is built with the project's warnings, as errors: the public
# header and the SQLITE_CORE library must compile cleanly.
why=""
if [ ! -f "$static" ]; then
  why="no $static (make libgmm.a)"
elif ! $CC -std=c11 -Wall -Wextra -Wshadow -Wconversion -Wpedantic -Werror -Iext/sqlite \
  -o "$tmp/static" tests/clients/static.c "$static" -lsqlite3 -lm >"$tmp/cc.log" 2>&1; then
  why="tests/clients/static.c does not build against $static: $(cat "$tmp/cc.log")"
fi
run static "$why" "$tmp/static"

why=""
have "$SQLITE3" || why="no sqlite3 shell ($SQLITE3)"
run install "$why" sh tests/clients/install.sh

why=""
have sqlite-utils || why="no sqlite-utils (apt-get install sqlite-utils)"
run sqlite-utils "$why" sh tests/clients/sqlite_utils.sh "$ext"

why=""
have "$PYTHON" || why="no $PYTHON"
run wheel "$why" sh tests/clients/wheel.sh "$ext"

why=""
have npm || why="no npm"
run npm "$why" sh tests/clients/npm.sh "$ext"

# The loadable module exports its entry point and nothing else, so its
# internal names cannot clash with a host program's.
exports() {
  so="$ext.so"
  [ -f "$so" ] || so="$ext.dylib"
  list=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ { print $3 }')
  if [ "$list" = "sqlite3_gmm_init" ]; then
    echo "ok exports"
  else
    echo "exported: $list"
  fi
}
why=""
have nm || why="no nm (binutils)"
run exports "$why" exports

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
