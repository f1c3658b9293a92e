#!/bin/sh
# run_sql_tests.sh -- runs self-checking SQL scripts: tests/sql/*.sql, or the
# recipes in sql/recipes/*.sql.
#
# Usage: sh tests/run_sql_tests.sh [extension [directory]]
#   extension  the library to load, as the sqlite3 shell's .load takes it
#              (default ./gmm, relative to the repository root). The scripts
#              say ".load ./gmm"; another path replaces it.
#   directory  where the scripts are, from the repository root (default
#              tests/sql; make test also runs sql/recipes).
#   SQLITE3    the sqlite3 shell (default sqlite3).
#
# Each script runs as `$SQLITE3 -bail :memory: < script` from the repository
# root (so that ".read sql/faithful.sql" works). What a script prints (the
# recipes print tables) is fine; it fails when the shell exits non-zero,
# when a line of its output starts with FAIL, or when
# its last line is not "ok <name>" (<name>: the file name without .sql).
# First the SQLite version the scripts run on (`$SQLITE3 -version`), then
# one line per script, then "N passed, M failed"; the exit status is
# non-zero when any script failed.

root=$(cd "$(dirname "$0")/.." && pwd) || exit 1
ext=${1:-./gmm}
dir=${2:-tests/sql}
case $ext in
  /*) ;;
  *) ext=$(pwd)/$ext ;;
esac
sqlite=${SQLITE3:-sqlite3}
cd "$root" || exit 1

echo "on SQLite $("$sqlite" -version | cut -d' ' -f1) ($sqlite)"
passed=0
failed=0
for script in "$dir"/*.sql; do
  if [ ! -f "$script" ]; then
    echo "no scripts in $dir" >&2
    exit 1
  fi
  name=$(basename "$script" .sql)
  # Load the extension given, whatever the script's own .load line says.
  out=$(sed "s#^\\.load \\./gmm\$#.load $ext#" "$script" | "$sqlite" -bail :memory: 2>&1)
  rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  why=""
  if [ "$rc" -ne 0 ]; then
    why="sqlite3 exited with status $rc"
  elif printf '%s\n' "$out" | grep -q '^FAIL'; then
    why="a check failed"
  elif [ "$last" != "ok $name" ]; then
    why="the last line is not 'ok $name'"
  fi
  if [ -z "$why" ]; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $why"
    printf '%s\n' "$out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
