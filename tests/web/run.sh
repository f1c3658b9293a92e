#!/bin/sh
# run.sh -- gmm in WebAssembly: the JS API in Node, then the playground in
# headless Chromium. From the repository root, after `make wasm`:
#
#   sh tests/web/run.sh [extension]
#     extension  the native module the results are compared with (default ./gmm)
#     CHROMIUM   the browser (default /usr/bin/chromium)
#
# Installs what is missing: Debian's chromium with apt-get when running as
# root (otherwise the exact command is printed and the browser test fails),
# and puppeteer-core with npm in tests/web (node_modules, not committed; it
# drives the system's Chromium and downloads no browser). Runs
#   node tests/web/node_api.mjs   the API and a fit in Node ("ok wasm-node")
#   node tests/web/csv_fuzz.mjs   the page's CSV reader on 4000 random and
#                                 mangled files ("ok csv-fuzz")
#   node tests/web/browser.mjs    the page in Chromium ("ok web")
# and prints "N passed, M failed"; the exit status is non-zero when any
# failed.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
chromium=${CHROMIUM:-/usr/bin/chromium}
have() { command -v "$1" >/dev/null 2>&1; }

if [ ! -f web/dist/sqlite-gmm-core.wasm ]; then
  echo "FAIL web: no web/dist/sqlite-gmm-core.wasm (make wasm)"
  exit 1
fi
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing with apt-get: chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
      echo "apt-get failed; run: apt-get update && apt-get install -y chromium"
  else
    echo "missing: chromium; install it with: sudo apt-get update && sudo apt-get install -y chromium"
  fi
fi
if [ ! -f tests/web/node_modules/puppeteer-core/package.json ]; then
  echo "installing puppeteer-core with npm in tests/web (no browser download)"
  (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --no-package-lock >/dev/null 2>&1) ||
    echo "npm install in tests/web failed"
fi

passed=0
failed=0
# run NAME COMMAND...: passes when COMMAND exits 0 with "ok NAME" last.
run() {
  name=$1
  shift
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "ok $name" ]; then
    printf '%s\n' "$out" | sed '$d' | sed 's/^/    /'
    echo "ok $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit status $rc"
    printf '%s\n' "$out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

run wasm-node node tests/web/node_api.mjs "$ext"
run csv-fuzz node tests/web/csv_fuzz.mjs
if [ -x "$chromium" ] && [ -f tests/web/node_modules/puppeteer-core/package.json ]; then
  CHROMIUM=$chromium
  export CHROMIUM
  run web node tests/web/browser.mjs "$ext"
else
  echo "FAIL web: no Chromium at $chromium or no puppeteer-core in tests/web/node_modules"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
