#!/bin/sh
# plot.sh -- draws docs/faithful.png: the Old Faithful eruptions coloured by
# their gmm_predict cluster, with each component's 1- and 2-sigma ellipses.
# Every number in the picture comes out of the extension through SQL
# (sql/plot.sql); gnuplot only draws it (sql/plot.gp). Run by `make plot`.
#
# Usage: sh sql/plot.sh [extension [output.png]]
#   extension  the library to load, as the sqlite3 shell's .load takes it
#              (default ./gmm, relative to the repository root)
#   output     the PNG to write (default docs/faithful.png, relative to the
#              repository root)
#   SQLITE3    the sqlite3 shell (default sqlite3)
#   GNUPLOT    gnuplot (default gnuplot); when it is missing, Debian's
#              gnuplot-nox is installed with apt-get when running as root,
#              otherwise the command to install it is printed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
ext=${1:-./gmm}
case $ext in
  /*) ;;
  *) ext=$(pwd)/$ext ;;
esac
out=${2:-docs/faithful.png}
sqlite=${SQLITE3:-sqlite3}
gnuplot=${GNUPLOT:-gnuplot}
cd "$root"

if ! command -v "$sqlite" >/dev/null 2>&1; then
  echo "plot.sh: $sqlite not found; install it with: sudo apt-get install -y sqlite3" >&2
  exit 1
fi
# The ellipses need SQLite's math functions (sqrt, cos, sin, pi: built in
# since 3.35 when compiled with SQLITE_ENABLE_MATH_FUNCTIONS, as Debian's is).
if ! "$sqlite" :memory: 'SELECT sqrt(4) + cos(pi())' >/dev/null 2>&1; then
  echo "plot.sh: $sqlite has no math functions (sqrt, cos, sin, pi); use SQLite >= 3.35" \
       "built with SQLITE_ENABLE_MATH_FUNCTIONS (Debian's sqlite3 is)" >&2
  exit 1
fi
if ! command -v "$gnuplot" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing gnuplot-nox"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null \
      || { echo "apt-get failed; run: apt-get update && apt-get install -y gnuplot-nox" >&2; exit 1; }
  else
    echo "plot.sh: gnuplot is missing." >&2
    echo "Install it with: sudo apt-get update && sudo apt-get install -y gnuplot-nox" >&2
    echo "then run again: sh sql/plot.sh $*" >&2
    exit 1
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The data, from the extension (the .load line replaced by the library given).
sed "s#^\\.load \\./gmm\$#.load $ext#" sql/plot.sql | "$sqlite" -bail :memory: >"$tmp/data.gp"

mkdir -p "$(dirname "$out")"
"$gnuplot" -e "datafile='$tmp/data.gp'; outfile='$tmp/plot.png'" sql/plot.gp
mv "$tmp/plot.png" "$out"
echo "wrote $out"
