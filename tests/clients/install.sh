#!/bin/sh
# install.sh -- `make install` and `make uninstall` into a temporary DESTDIR.
# Checks that install puts exactly the loadable module, the static library and
# the header where the rules say ($(PREFIX)/lib/gmm.so, $(PREFIX)/lib/libgmm.a,
# $(PREFIX)/include/sqlite3_gmm.h) with the pkg-config file
# $(PREFIX)/lib/pkgconfig/gmm.pc, that the installed module loads in the
# sqlite3 shell by its full path (and by the path gmm.pc's variable
# extension gives) and fits Old Faithful, that a program built from the
# installed header and library alone works, built both by hand and by
# README's "install-c" block (`cc app.c $(pkg-config --cflags --libs gmm)`,
# then `.load $(pkg-config --variable=extension gmm)`), and that uninstall
# removes those four files and nothing else.
#
# Usage: sh tests/clients/install.sh
#   GMM_MAKE make, with any -f option (default make)
#   SQLITE3  the sqlite3 shell (default sqlite3)
#   CC       the C compiler (default cc)
# Prints "ok install" and exits 0 when every check passes.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
make=${GMM_MAKE:-make}
sqlite=${SQLITE3:-sqlite3}
cc=${CC:-cc}
prefix=/usr/local
case $(uname -s) in Darwin) ext=dylib ;; *) ext=so ;; esac

dest=$(mktemp -d "${TMPDIR:-/tmp}/gmm-install.XXXXXX") || exit 1
log=$dest.log
trap 'rm -rf "$dest" "$log" "$dest.static"' EXIT
trap 'exit 1' INT TERM

status=0
fail() {
  echo "FAIL install: $*"
  status=1
}

# The files under $dest, one a line, sorted, relative to $dest.
files() { (cd "$dest" && find . -type f | sed 's#^\./##' | LC_ALL=C sort); }

if ! $make install PREFIX=$prefix DESTDIR="$dest" >"$log" 2>&1; then
  fail "make install PREFIX=$prefix DESTDIR=$dest failed:"
  sed 's/^/    /' "$log"
  exit 1
fi

expected=$(printf '%s\n' "usr/local/include/sqlite3_gmm.h" "usr/local/lib/gmm.$ext" "usr/local/lib/libgmm.a" \
  "usr/local/lib/pkgconfig/gmm.pc" | LC_ALL=C sort)
got=$(files)
if [ "$got" != "$expected" ]; then
  fail "installed files differ; got:"
  printf '%s\n' "$got" | sed 's/^/    /'
  echo "  expected:"
  printf '%s\n' "$expected" | sed 's/^/    /'
fi
lib=$dest$prefix/lib
inc=$dest$prefix/include
[ -x "$lib/gmm.$ext" ] || fail "$lib/gmm.$ext is not executable"
cmp -s ext/sqlite/sqlite3_gmm.h "$inc/sqlite3_gmm.h" || fail "the installed header differs from ext/sqlite/sqlite3_gmm.h"

# The installed module, loaded by its full path (no suffix, as .load takes it).
out=$(sed "s#^\\.load \\./gmm\$#.load $lib/gmm#" tests/clients/example.sql | "$sqlite" -bail :memory: 2>&1)
if [ "$(printf '%s\n' "$out" | head -n 1)" != "97|175" ]; then
  fail ".load $lib/gmm and the Old Faithful fit:"
  printf '%s\n' "$out" | sed 's/^/    /'
fi
version=$("$sqlite" :memory: ".load $lib/gmm" "SELECT gmm_version();" 2>&1)
[ "$version" = "$("$sqlite" :memory: ".load ./gmm" "SELECT gmm_version();" 2>&1)" ] ||
  fail "the installed gmm_version() ($version) is not the built one's"

# A program from the installed header and static library alone.
if $cc -std=c11 -I"$inc" -o "$dest.static" tests/clients/static.c "$lib/libgmm.a" -lsqlite3 -lm >"$log" 2>&1; then
  out=$("$dest.static" 2>&1)
  [ "$out" = "ok static" ] || fail "tests/clients/static.c built from the installed files: $out"
else
  fail "tests/clients/static.c does not build from the installed header and libgmm.a:"
  sed 's/^/    /' "$log"
fi
rm -f "$dest.static"

# README's "install-c" block, run as written in a working directory of its
# own, but for the install's place: `sudo make install` installs into the
# temporary DESTDIR, pkg-config is told that prefix (its PREFIX relocated
# into DESTDIR), app.c is tests/clients/static.c and sqlite3 is $SQLITE3.
# The program it builds (a.out) must run (from the repository root, where
# it finds sql/faithful.sql), and the shell must print the
# installed module's gmm_version().
work=$dest.work
trap 'rm -rf "$dest" "$log" "$dest.static" "$work"' EXIT
pcfg="PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --define-variable=prefix=$dest$prefix"
if ! command -v pkg-config >/dev/null 2>&1; then
  fail "pkg-config is not installed (apt-get install pkg-config)"
elif [ "$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --define-variable=prefix="$dest$prefix" \
  --modversion gmm 2>&1)" != "$version" ]; then
  fail "pkg-config --modversion gmm does not give gmm_version() ($version)"
elif ! block=$(sh tests/clients/readme_block.sh install-c 2>&1); then
  fail "$block"
else
  script=$(printf '%s\n' "$block" | sed -e "s#^sudo make install#$make -C '$root' install DESTDIR='$dest'#" \
    -e "s#pkg-config #$pcfg #g" -e "s#app\.c#'$root/tests/clients/static.c'#" \
    -e "s#^sqlite3 #'$sqlite' #")
  for want in "DESTDIR=" "--define-variable" "static.c" "'$sqlite' "; do
    case $script in
      *"$want"*) ;;
      *) fail "README's install-c block no longer has the shape this test substitutes in ($want):
$block" ;;
    esac
  done
  mkdir -p "$work" && cd "$work" || exit 1
  if out=$(printf '%s\n' "$script" | sh -e 2>&1) && [ "$(printf '%s\n' "$out" | tail -n 1)" = "$version" ]; then
    # static.c reads sql/faithful.sql from the repository root.
    got=$(cd "$root" && "$work/a.out" 2>&1)
    [ "$got" = "ok static" ] || fail "the program README's block built: $got"
  else
    fail "README's install-c block, as run:
$script
  printed:
$out"
  fi
  cd "$root" || exit 1
fi

# uninstall removes exactly what install put there.
mkdir -p "$lib" && echo keep >"$lib/other.so"
if ! $make uninstall PREFIX=$prefix DESTDIR="$dest" >"$log" 2>&1; then
  fail "make uninstall PREFIX=$prefix DESTDIR=$dest failed:"
  sed 's/^/    /' "$log"
fi
got=$(files)
[ "$got" = "usr/local/lib/other.so" ] || {
  fail "after make uninstall, the files left are not just usr/local/lib/other.so:"
  printf '%s\n' "$got" | sed 's/^/    /'
}

[ "$status" -eq 0 ] && echo "ok install"
exit "$status"
