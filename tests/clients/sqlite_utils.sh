#!/bin/sh
# sqlite_utils.sh -- gmm from sqlite-utils (Debian's sqlite-utils 3.30), the
# commands of README's "sqlite-utils" block: Old Faithful written to a CSV
# file, inserted with `sqlite-utils insert --csv --detect-types`, fitted and
# clustered with `sqlite-utils query --load-extension`.
#
# Usage: sh tests/clients/sqlite_utils.sh [extension path without suffix]
#   SQLITE3  the sqlite3 shell that writes the CSV (default sqlite3)
# Prints "ok sqlite-utils" and exits 0 when the cluster sizes are Old
# Faithful's 97 and 175.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
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

# README's block, with $tmp for the working directory and $ext for ./gmm.
db=$tmp/geyser.db
sqlite-utils insert "$db" faithful "$tmp/faithful.csv" --csv --detect-types ||
  fail "sqlite-utils insert"
sqlite-utils query "$db" --load-extension "$ext" \
  "CREATE TABLE models AS SELECT 'geyser' AS name, gmm_fit(2, eruptions, waiting) AS model FROM faithful" \
  >/dev/null || fail "sqlite-utils query: the fit"
out=$(sqlite-utils query "$db" --load-extension "$ext" --csv --no-headers \
  "SELECT gmm_predict((SELECT model FROM models), eruptions, waiting) AS cluster, count(*) AS n
   FROM faithful GROUP BY cluster ORDER BY n") || fail "sqlite-utils query: the clusters"
sizes=$(printf '%s\n' "$out" | tr -d '\r' | cut -d, -f2 | tr '\n' ' ')
[ "$sizes" = "97 175 " ] || fail "cluster sizes '$sizes', expected '97 175 ': $out"
echo "ok sqlite-utils"
