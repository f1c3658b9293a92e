#!/bin/sh
# coverage.sh -- line and branch coverage of ext/ after a coverage build has
# run the suite (make coverage does both).
#
# Usage: sh tests/coverage.sh BUILD_DIR
#   BUILD_DIR  the build whose objects were compiled with --coverage
#              (their .gcno/.gcda files sit beside them under obj/).
# Prints one line per source file and a total: lines executed, branches
# taken at least once, as gcov counts them.
set -eu
build=${1:?usage: sh tests/coverage.sh BUILD_DIR}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in core sqlite; do
  gcov -b -n -o "$build/obj/$dir" ext/$dir/*.c >>"$out" 2>/dev/null
done
awk '
  /^File .ext\// { file = $2; gsub(/\047/, "", file); next }
  file != "" && /^Lines executed:/ {
    split($0, a, /[:% ]+/); pct = a[3]; n = a[5]; lines[file] = pct; nl[file] = n
    tl += n; te += pct * n / 100; next
  }
  file != "" && /^Taken at least once:/ {
    split($0, a, /[:% ]+/); pct = a[5]; n = a[7]; br[file] = pct; nb[file] = n
    tb += n; tt += pct * n / 100; order[++count] = file; file = ""; next
  }
  END {
    printf "%-28s %16s %18s\n", "file", "lines", "branches taken"
    for (i = 1; i <= count; i++) {
      f = order[i]
      printf "%-28s %6.1f%% of %5d %8.1f%% of %5d\n", f, lines[f], nl[f], br[f], nb[f]
    }
    printf "%-28s %6.1f%% of %5d %8.1f%% of %5d\n", "total", 100 * te / tl, tl, 100 * tt / tb, tb
  }' "$out"
