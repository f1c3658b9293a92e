#!/bin/sh
# shell.sh -- the sqlite3 shell as a client of gmm, both ways it loads an
# extension: the dot-command `.load ./gmm` and the SQL function
# `SELECT load_extension('./gmm')` (the shell enables loading for both).
# Each runs tests/clients/example.sql on the Old Faithful data and must print
# exactly the expected lines (cluster sizes 97 and 175, the model's k,
# n_samples and log-likelihood, one eruption's posteriors).
#
# Usage: sh tests/clients/shell.sh [extension]
#   extension  as .load takes it (default ./gmm, from the repository root)
#   SQLITE3    the sqlite3 shell (default sqlite3)
# Prints "ok shell" and exits 0 when both ways pass.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
sqlite=${SQLITE3:-sqlite3}

expected='97|175
2|272|-1130.264
0.963|1.0'

status=0
for how in dot-load sql-load; do
  case $how in
    dot-load) line=".load $ext" ; blank='' ;;
    # load_extension() returns NULL: the shell prints an empty line for it.
    sql-load) line="SELECT load_extension('$ext');" ; blank='
' ;;
  esac
  out=$(sed "s#^\\.load \\./gmm\$#$line#" tests/clients/example.sql | "$sqlite" -bail :memory: 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || [ "$out" != "$blank$expected" ]; then
    echo "FAIL shell ($how: $line): exit status $rc, output:"
    printf '%s\n' "$out" | sed 's/^/    /'
    echo "  expected:"
    printf '%s\n' "$blank$expected" | sed 's/^/    /'
    status=1
  fi
done

[ "$status" -eq 0 ] && echo "ok shell"
exit "$status"
