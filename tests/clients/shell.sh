#!/bin/sh
# shell.sh -- the sqlite3 shell as a client of gmm, both ways it loads an
# extension: the dot-command `.load ./gmm` and the SQL function
# `SELECT load_extension('./gmm')` (the shell enables loading for both).
# Each runs tests/clients/example.sql on the Old Faithful data and must print
# exactly the expected lines (cluster sizes 97 and 175, the model's k,
# n_samples and log-likelihood, one eruption's posteriors).
#
# Then README's "install-shell" block, which must print the two clusters.
#
# Usage: sh tests/clients/shell.sh [extension]
#   extension  as .load takes it (default ./gmm, from the repository root)
#   SQLITE3    the sqlite3 shell (default sqlite3)
#   GMM_MAKE   make, with any -f option (default make)
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

# README's "install-shell" block as written, from the repository root, but
# for make ($GMM_MAKE), the module ($ext) and the database (a temporary
# file).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-shell.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
if block=$(sh tests/clients/readme_block.sh install-shell 2>&1); then
  script=$(printf '%s\n' "$block" | sed -e "s#^make #${GMM_MAKE:-make} #" \
    -e "s#^sqlite3 geyser\.db \".load \./gmm\"#'$sqlite' '$tmp/geyser.db' \".load $ext\"#")
  case $script in
    *"$tmp/geyser.db"*) ;;
    *) script="" ;;
  esac
  out=$(printf '%s\n' "$script" | sh -e 2>&1)
  if [ -z "$script" ] || [ "$(printf '%s\n' "$out" | tail -n 2 | tr '\n' ' ')" != "0|175 1|97 " ]; then
    echo "FAIL shell (README's install-shell block): as run:"
    printf '%s\n' "${script:-"(its shape is not the one this test substitutes in)"}" | sed 's/^/    /'
    echo "  printed:"
    printf '%s\n' "$out" | sed 's/^/    /'
    echo "  expected the last lines 0|175 and 1|97"
    status=1
  fi
else
  echo "FAIL shell: $block"
  status=1
fi

[ "$status" -eq 0 ] && echo "ok shell"
exit "$status"
