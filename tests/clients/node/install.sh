#!/bin/sh
# install.sh -- installs better-sqlite3 12 with npm in tests/clients/node
# (node_modules, not committed) when it is not there yet. The Node client
# test uses it, and its bundled amalgamation (deps/sqlite3/sqlite3.c) is the
# newer of the two SQLite versions `make test` runs the suite against.
#
# Usage: sh tests/clients/node/install.sh
# Says what it installed, or why it could not (npm's log follows); exits 0
# when better-sqlite3 is installed (already, or now), 1 otherwise. Node.js
# and npm must be on PATH (tests/clients/run.sh installs Debian's).

dir=$(cd "$(dirname "$0")" && pwd) || exit 1
binding=$dir/node_modules/better-sqlite3/build/Release/better_sqlite3.node
[ -f "$binding" ] && exit 0
for tool in node npm; do
  command -v $tool >/dev/null 2>&1 || {
    echo "better-sqlite3 cannot be installed: no $tool (apt-get install -y nodejs npm)"
    exit 1
  }
done
log=$(mktemp "${TMPDIR:-/tmp}/gmm-npm.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
trap 'exit 1' INT TERM

# node-gyp builds better-sqlite3 against the headers of the Node.js that
# runs it; where they are installed, it need not download them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  case $(npm config get nodedir 2>/dev/null) in
    "" | undefined | null) npm_config_nodedir=/usr && export npm_config_nodedir ;;
  esac
fi
echo "installing better-sqlite3 with npm in tests/clients/node (built from source: a minute or two)"
start=$(date +%s)
# Not the make variables of a make that runs this script: node-gyp's own
# make would take them (MAKE, and overrides such as CFLAGS= in MAKEFLAGS).
if (cd "$dir" && unset MAKE MAKEFLAGS MFLAGS MAKELEVEL &&
  npm install --no-audit --no-fund --no-package-lock) >"$log" 2>&1 && [ -f "$binding" ]; then
  v=$(node -p "require('$dir/node_modules/better-sqlite3/package.json').version")
  echo "installed (npm): better-sqlite3@$v in tests/clients/node/node_modules ($(($(date +%s) - start)) s)"
  exit 0
fi
echo "npm install in tests/clients/node failed:"
sed 's/^/    /' "$log"
exit 1
