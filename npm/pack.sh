#!/bin/sh
# pack.sh -- the npm package sqlite-gmm as a tarball, holding the loadable
# module built on this machine (`make npm` runs it).
#
# Stages package.json, index.js, index.mjs, index.d.ts and README.md of this
# folder in a temporary directory, fills in package.json's "version" (gmm's,
# from ext/core/gmm.h's #define GMM_VERSION), its "os" and "cpu" (this
# Node.js's process.platform and process.arch: npm refuses to install the
# package elsewhere) and on Linux its "libc" (glibc or musl), copies LIB to
# lib/gmm.so (lib/gmm.dylib on macOS), and runs `npm pack --offline` there.
# The tarball replaces OUTDIR's by a rename (never half written), and any
# other sqlite-gmm-*.tgz in OUTDIR is removed, so that
# OUTDIR/sqlite-gmm-*.tgz names one file. npm pack writes the files
# in a fixed order with fixed times: the same inputs give the same tarball.
#
# Usage: sh npm/pack.sh LIB OUTDIR
#   LIB     the built module, e.g. gmm.so (gmm.dylib on macOS)
#   OUTDIR  where the tarball goes (created if need be), e.g. build/npm
# Prints OUTDIR/sqlite-gmm-VERSION.tgz as its last line; exits 1, saying why,
# when an argument is missing or wrong, the version cannot be read, or npm
# pack fails.

here=$(cd "$(dirname "$0")" && pwd) || exit 1
header=$(cd "$here/.." && pwd)/ext/core/gmm.h

refuse() {
  echo "pack.sh: $*" >&2
  exit 1
}

lib=$1
out=$2
[ -n "$lib" ] || refuse "LIB is missing (usage: sh npm/pack.sh LIB OUTDIR)"
[ -n "$out" ] || refuse "OUTDIR is missing (usage: sh npm/pack.sh LIB OUTDIR)"
[ -f "$lib" ] || refuse "LIB '$lib' is not a file: build the module first (make)"
case $lib in
  *.so) suffix=so ;;
  *.dylib) suffix=dylib ;;
  *) refuse "LIB '$lib' is not a loadable module named *.so or *.dylib" ;;
esac

version=$(sed -n 's/^#define GMM_VERSION "\([^"]*\)".*$/\1/p' "$header" 2>/dev/null)
printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$' ||
  refuse "cannot read the version: no #define GMM_VERSION \"X.Y.Z\" in $header"

command -v node >/dev/null 2>&1 || refuse "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || refuse "npm is not installed (apt-get install npm)"
platform=$(node -p process.platform) || refuse "node -p process.platform failed"
arch=$(node -p process.arch) || refuse "node -p process.arch failed"
case $platform in
  darwin) want=dylib ;;
  *) want=so ;;
esac
[ "$suffix" = "$want" ] || refuse "LIB '$lib' is a .$suffix, but a module for $platform is a .$want"

mkdir -p "$out" || refuse "cannot create OUTDIR '$out'"
outabs=$(cd "$out" && pwd) || refuse "cannot enter OUTDIR '$out'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sqlite-gmm-pack.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

stage=$tmp/package
log=$tmp/npm-pack.log
mkdir "$stage" || exit 1
for f in package.json index.js index.mjs index.d.ts README.md; do
  cp "$here/$f" "$stage/$f" || refuse "cannot copy $here/$f"
done
if ! { mkdir "$stage/lib" && cp "$lib" "$stage/lib/gmm.$suffix" && chmod 755 "$stage/lib/gmm.$suffix"; }; then
  refuse "cannot copy LIB '$lib' to the staged lib/gmm.$suffix"
fi

node -e '
  const fs = require("fs");
  const [file, version, os, cpu] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  if (pkg.name !== "sqlite-gmm") throw new Error(file + " is not sqlite-gmm'\''s package.json");
  pkg.version = version;
  pkg.os = [os];
  pkg.cpu = [cpu];
  // On Linux the module links the C library it was built against: glibc
  // (npm 10.4 and later skip the package on musl), or musl.
  if (os === "linux")
    pkg.libc = [process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl"];
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$stage/package.json" "$version" "$platform" "$arch" || refuse "cannot fill in $stage/package.json"

tgz=sqlite-gmm-$version.tgz
if ! (cd "$stage" && npm pack --offline --ignore-scripts --pack-destination "$tmp") >"$log" 2>&1; then
  sed 's/^/    /' "$log" >&2
  refuse "npm pack failed in the staged package"
fi
[ -f "$tmp/$tgz" ] || refuse "npm pack wrote no $tgz"
# Into OUTDIR by a rename, so that a reader (or another make npm) never sees
# a tarball half written; then any other version's tarball goes.
part=$outabs/.$tgz.$$
trap 'rm -rf "$tmp" "$part"' EXIT
if ! { cp "$tmp/$tgz" "$part" && mv -f "$part" "$outabs/$tgz"; }; then
  refuse "cannot write $outabs/$tgz"
fi
for old in "$outabs"/sqlite-gmm-*.tgz; do
  [ "$old" = "$outabs/$tgz" ] || rm -f "$old"
done
echo "sqlite-gmm $version for $platform-$arch, with $lib as lib/gmm.$suffix:"
echo "${out%/}/$tgz"
