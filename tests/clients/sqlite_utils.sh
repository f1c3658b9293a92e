#!/bin/sh
# sqlite_utils.sh -- gmm from sqlite-utils (Debian's sqlite-utils 3.30), the
# commands of README's "sqlite-utils" block: Old Faithful written to a CSV
# file, inserted with `sqlite-utils insert --csv --detect-types`, fitted and
# clustered with `sqlite-utils query --load-extension`.
#
# Usage: sh tests/clients/sqlite_utils.sh [extension path without suffix;
#        an absolute path, or relative to the repository root]
#   SQLITE3  the sqlite3 shell that writes the CSV (default sqlite3)
# Prints "ok sqlite-utils" and exits 0 when the cluster sizes are Old
# Faithful's 97 and 175.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
case $ext in
  /*) ;;
  *) ext=$root/$ext ;;
esac
sqlite=${SQLITE3:-sqlite3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-sqlite-utils.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL sqlite-utils: $*"
  exit 1
}

# A CSV with a header row: eruptions,waiting.
"$sqlite" :memory: ".read sql/faithful.sql" ".headers on" ".mode csv" \
  "SELECT eruptions, waiting FROM faithful;" >"$tmp/faithful.csv" || fail "could not write the CSV"

# README's "install-sqlite-utils" block as written, run in $tmp (where
# faithful.csv is), with $ext for ./gmm.
block=$(sh tests/clients/readme_block.sh install-sqlite-utils) || fail "$block"
script=$(printf '%s\n' "$block" | sed "s#--load-extension \./gmm#--load-extension '$ext'#g")
case $script in
  *"--load-extension '$ext'"*) ;;
  *) fail "README's block no longer loads ./gmm:
$block" ;;
esac
out=$(cd "$tmp" && printf '%s\n' "$script" | sh -e 2>&1) || fail "README's block, as run:
$script
  printed:
$out"
# The last command's CSV: a header, then cluster,n by size.
got=$(printf '%s\n' "$out" | tr -d '\r' | tail -n 3 | tr '\n' ' ')
[ "$got" = "cluster,n 1,97 0,175 " ] || fail "the clusters: '$got', expected 'cluster,n 1,97 0,175 ':
$out"
echo "ok sqlite-utils"
