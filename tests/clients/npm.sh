#!/bin/sh
# npm.sh -- the npm package sqlite-gmm: README's blocks "install-node-sh"
# and "install-node" run as written in a fresh npm project, then the package
# checked from there.
#
# The shell block runs in a temporary project directory (a minimal
# package.json) with only paths substituted: `make` becomes
# "$GMM_MAKE -C <repo>", `./build/npm/` the repository's build/npm/, and
# `better-sqlite3@12` the better-sqlite3 12 that tests/clients/run.sh
# installed in tests/clients/node/node_modules. npm installs a folder
# outside the project as a symlink and leaves its dependencies alone
# (they are beside it, in tests/clients/node/node_modules), so nothing
# comes from the registry. npm runs with
#   npm_config_offline=true       any registry fetch fails (ENOTCACHED)
#   npm_config_cache=<tmp>        an empty cache: nothing fetched before
#                                 can stand in for the registry either
#   npm_config_ignore_scripts=true  better-sqlite3's install script
#                                 (prebuild-install || node-gyp rebuild)
#                                 would otherwise rebuild the linked copy
#                                 in tests/clients/node, reaching for the
#                                 network; sqlite-gmm has no scripts
#   npm_config_audit=false npm_config_update_notifier=false  no requests
# and the test fails unless node_modules/better-sqlite3 is that symlink.
#
# Then: the js block's output is gmm's version; the tarball holds exactly
# the expected files, its lib/gmm.so being the module EXT; and a check
# script in the project fits Old Faithful through load() (cluster sizes 97
# and 175, gmm_info's k 2 and n_samples 272), checks getLoadablePath() lies
# in the project's node_modules/sqlite-gmm, version against gmm_version(),
# package.json's os/cpu/version, the errors of load() and getLoadablePath(),
# the ES module entry, and the same fit through node:sqlite where this
# Node.js has it (Node 22.13 or later; skipped with a note otherwise).
#
# Usage: sh tests/clients/npm.sh [extension path without suffix]
#   GMM_MAKE  make, with any -f option (default make)
# Prints "ok npm" and exits 0 when every check passes.

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
ext=${1:-./gmm}
case $ext in /*) ;; *) ext=$root/${ext#./} ;; esac
make=${GMM_MAKE:-make}
bsq=$root/tests/clients/node/node_modules/better-sqlite3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmm-npm.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
proj=$tmp/project
log=$tmp/log

fail() {
  echo "FAIL npm: $*"
  exit 1
}
# A word for sh, in single quotes.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# A replacement text for sed's s#...#...#.
sedrepl() { printf '%s' "$1" | sed 's/[\\&#]/\\&/g'; }

command -v node >/dev/null 2>&1 || fail "no node"
command -v npm >/dev/null 2>&1 || fail "no npm"
if [ ! -f "$bsq/package.json" ] || [ ! -f "$bsq/build/Release/better_sqlite3.node" ]; then
  fail "better-sqlite3 is not installed in tests/clients/node/node_modules: tests/clients/run.sh installs it (npm install in tests/clients/node) before the clients run"
fi
v=$(node -p "require('$bsq/package.json').version") || fail "cannot read $bsq/package.json"
case $v in 12.*) ;; *) fail "better-sqlite3 $v in tests/clients/node/node_modules, not 12" ;; esac

version=$(sed -n 's/^#define GMM_VERSION "\([^"]*\)".*$/\1/p' ext/core/gmm.h)
[ -n "$version" ] || fail "no #define GMM_VERSION in ext/core/gmm.h"
case $(node -p process.platform) in darwin) suffix=dylib ;; *) suffix=so ;; esac
[ -f "$ext.$suffix" ] || fail "no module $ext.$suffix (build it with make)"

# ---- README's shell block, in a fresh project ----------------------------------

sh tests/clients/readme_block.sh install-node-sh >"$tmp/block.orig" 2>"$log" || fail "$(cat "$log")"
for want in "make npm" "./build/npm/" "better-sqlite3@12"; do
  grep -qF -- "$want" "$tmp/block.orig" ||
    fail "README's install-node-sh block has no '$want' any more: update the substitutions in tests/clients/npm.sh"
done
sed -e "s#^make #$(sedrepl "$make -C $(quote "$root") ")#" \
  -e "s#\\./build/npm/#$(sedrepl "$(quote "$root")/build/npm/")#g" \
  -e "s#better-sqlite3@12#$(sedrepl "$(quote "$bsq")")#g" \
  "$tmp/block.orig" >"$tmp/block.sh"
if grep -q -e 'better-sqlite3@' -e '\./build/' "$tmp/block.sh"; then
  fail "README's install-node-sh block kept a path after the substitutions:$(printf '\n%s' "$(cat "$tmp/block.sh")")"
fi

mkdir "$proj" || exit 1
printf '%s\n' '{' '  "name": "gmm-npm-client",' '  "version": "1.0.0",' '  "private": true' '}' >"$proj/package.json"
npm_config_offline=true
npm_config_cache=$tmp/npm-cache
npm_config_ignore_scripts=true
npm_config_audit=false
npm_config_fund=false
npm_config_update_notifier=false
export npm_config_offline npm_config_cache npm_config_ignore_scripts npm_config_audit \
  npm_config_fund npm_config_update_notifier
if ! (cd "$proj" && sh -e "$tmp/block.sh") >"$log" 2>&1; then
  echo "the block, as run in $proj:"
  sed 's/^/    /' "$tmp/block.sh"
  echo "its output:"
  sed 's/^/    /' "$log"
  fail "README's install-node-sh block failed"
fi

tgz=$root/build/npm/sqlite-gmm-$version.tgz
[ -f "$tgz" ] || fail "make npm wrote no build/npm/sqlite-gmm-$version.tgz"
if [ ! -d "$proj/node_modules/sqlite-gmm" ] || [ -L "$proj/node_modules/sqlite-gmm" ]; then
  fail "node_modules/sqlite-gmm is not a directory installed from the tarball"
fi
if [ ! -L "$proj/node_modules/better-sqlite3" ] ||
  [ "$(cd -P "$proj/node_modules/better-sqlite3" && pwd)" != "$(cd -P "$bsq" && pwd)" ]; then
  fail "node_modules/better-sqlite3 is not the symlink to $bsq"
fi

# ---- the tarball --------------------------------------------------------------

got=$(tar tzf "$tgz" | LC_ALL=C sort) || fail "tar tzf $tgz"
expected=$(printf 'package/%s\n' README.md index.d.ts index.js index.mjs "lib/gmm.$suffix" package.json |
  LC_ALL=C sort)
if [ "$got" != "$expected" ]; then
  fail "the files in $tgz differ; got:$(printf '\n%s' "$got" | sed 's/^/    /')
  expected:$(printf '\n%s' "$expected" | sed 's/^/    /')"
fi
cmp -s "$ext.$suffix" "$proj/node_modules/sqlite-gmm/lib/gmm.$suffix" ||
  fail "the installed lib/gmm.$suffix is not $ext.$suffix"

# ---- README's js block ----------------------------------------------------------

sh tests/clients/readme_block.sh install-node >"$proj/readme.js" 2>"$log" || fail "$(cat "$log")"
out=$(cd "$proj" && node readme.js 2>&1) || fail "README's install-node block failed: $out"
[ "$out" = "$version" ] || fail "README's install-node block printed '$out', not the version $version"

# ---- the package, checked from the project --------------------------------------

cat >"$proj/check.js" <<'EOF'
// The package sqlite-gmm as installed: node check.js ROOT VERSION
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const [root, expected] = process.argv.slice(2);
const Database = require('better-sqlite3');
const sqliteGmm = require('sqlite-gmm');
const pkg = require('sqlite-gmm/package.json');
const faithful = fs.readFileSync(path.join(root, 'sql', 'faithful.sql'), 'utf8');
const real = (p) => fs.realpathSync(p);

// package.json as packed
assert.strictEqual(pkg.name, 'sqlite-gmm');
assert.strictEqual(pkg.version, expected);
assert.deepStrictEqual(pkg.os, [process.platform]);
assert.deepStrictEqual(pkg.cpu, [process.arch]);
if (process.platform === 'linux')
  assert.deepStrictEqual(pkg.libc,
    [process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl']);
else
  assert.strictEqual(pkg.libc, undefined);
assert.deepStrictEqual(pkg.engines, { node: '>=18' });
for (const k of ['dependencies', 'optionalDependencies', 'peerDependencies', 'scripts'])
  assert.strictEqual(pkg[k], undefined, `package.json has ${k}`);

// getLoadablePath(): the module inside this project's node_modules/sqlite-gmm
const file = sqliteGmm.getLoadablePath();
const home = real(path.join(__dirname, 'node_modules', 'sqlite-gmm'));
const lib = process.platform === 'darwin' ? 'gmm.dylib' : 'gmm.so';
assert.ok(path.isAbsolute(file), file);
assert.strictEqual(real(file), path.join(home, 'lib', lib));
assert.ok(!real(file).startsWith(real(root) + path.sep), `${file} is in the repository`);

// load() into better-sqlite3: version and the Old Faithful fit
const db = new Database(':memory:');
assert.strictEqual(sqliteGmm.load(db), undefined);
const one = (sql, ...args) => db.prepare(sql).pluck().get(...args);
assert.strictEqual(sqliteGmm.version, expected);
assert.strictEqual(one('SELECT gmm_version()'), sqliteGmm.version);
db.exec(faithful);
const model = one('SELECT gmm_fit(2, eruptions, waiting) FROM faithful');
const sizes = db.prepare(`SELECT count(*) FROM faithful
  GROUP BY gmm_predict(?, eruptions, waiting) ORDER BY 1`).pluck().all(model);
assert.deepStrictEqual(sizes, [97, 175]);
const info = JSON.parse(one('SELECT gmm_info(?)', model));
assert.ok(info.k === 2 && info.n_samples === 272, JSON.stringify(info));
db.close();

// db.loadExtension(getLoadablePath()), as README's comment has it
const db2 = new Database(':memory:');
db2.loadExtension(sqliteGmm.getLoadablePath());
assert.strictEqual(db2.prepare('SELECT gmm_version()').pluck().get(), expected);
db2.close();

// load() of anything without loadExtension: a TypeError that says so
for (const bad of [{}, null, undefined, 'gmm', { loadExtension: 'no' }]) {
  assert.throws(() => sqliteGmm.load(bad),
    (e) => e instanceof TypeError && e.message.startsWith('sqlite-gmm: load(db) needs') &&
      /loadExtension/.test(e.message), `load(${String(bad)})`);
}

// Another platform or architecture: an Error naming both
for (const [key, other] of [['platform', process.platform === 'win32' ? 'aix' : 'win32'],
                            ['arch', process.arch === 'riscv64' ? 's390x' : 'riscv64']]) {
  const saved = Object.getOwnPropertyDescriptor(process, key);
  const built = `${process.platform}-${process.arch}`;
  Object.defineProperty(process, key, { ...saved, value: other });
  const here = `${process.platform}-${process.arch}`;
  try {
    assert.throws(() => sqliteGmm.getLoadablePath(),
      (e) => e instanceof Error && e.message.includes(built) && e.message.includes(here), key);
  } finally {
    Object.defineProperty(process, key, saved);
  }
}
assert.strictEqual(sqliteGmm.getLoadablePath(), file);

// The module missing: an Error naming the file
fs.renameSync(file, file + '.moved');
try {
  assert.throws(() => sqliteGmm.getLoadablePath(),
    (e) => e instanceof Error && e.message.includes(file) && /missing/.test(e.message));
} finally {
  fs.renameSync(file + '.moved', file);
}

// node:sqlite, where this Node.js has it with loadExtension
let sqlite = null;
try {
  sqlite = require('node:sqlite');
} catch (e) {
  console.log(`note: node:sqlite is not available in Node.js ${process.version}: its check is skipped`);
}
if (sqlite && typeof sqlite.DatabaseSync.prototype.loadExtension !== 'function') {
  console.log(`note: node:sqlite in Node.js ${process.version} has no loadExtension: its check is skipped`);
  sqlite = null;
}
if (sqlite) {
  const ndb = new sqlite.DatabaseSync(':memory:', { allowExtension: true });
  sqliteGmm.load(ndb);
  assert.strictEqual(ndb.prepare('SELECT gmm_version() AS v').get().v, expected);
  ndb.exec(faithful);
  const m = ndb.prepare('SELECT gmm_fit(2, eruptions, waiting) AS m FROM faithful').get().m;
  const n = ndb.prepare(`SELECT count(*) AS n FROM faithful
    GROUP BY gmm_predict(?, eruptions, waiting) ORDER BY 1`).all(m).map((r) => Number(r.n));
  assert.deepStrictEqual(n, [97, 175]);
  const i = JSON.parse(ndb.prepare('SELECT gmm_info(?) AS i').get(m).i);
  assert.ok(i.k === 2 && i.n_samples === 272, JSON.stringify(i));
  ndb.close();
  console.log(`node:sqlite (Node.js ${process.version}): the same fit`);
}
console.log('ok check');
EOF
cat >"$proj/check.mjs" <<'EOF'
// The package's ES module entry: node check.mjs VERSION
import assert from 'node:assert';
import { createRequire } from 'node:module';
import sqliteGmm, { getLoadablePath, load, version } from 'sqlite-gmm';
const require = createRequire(import.meta.url);
const cjs = require('sqlite-gmm');
assert.strictEqual(sqliteGmm, cjs);
assert.strictEqual(getLoadablePath, cjs.getLoadablePath);
assert.strictEqual(load, cjs.load);
assert.strictEqual(version, process.argv[2]);
const Database = require('better-sqlite3');
const db = new Database(':memory:');
load(db);
assert.strictEqual(db.prepare('SELECT gmm_version()').pluck().get(), version);
db.close();
console.log('ok esm');
EOF

out=$(cd "$proj" && node check.js "$root" "$version" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ "$(printf '%s\n' "$out" | tail -n 1)" != "ok check" ]; then
  fail "the check script (status $rc):$(printf '\n%s' "$out" | sed 's/^/    /')"
fi
printf '%s\n' "$out" | grep '^note: '
out=$(cd "$proj" && node check.mjs "$version" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ "$out" != "ok esm" ]; then
  fail "the ES module check (status $rc):$(printf '\n%s' "$out" | sed 's/^/    /')"
fi

echo "ok npm"
