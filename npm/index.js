// sqlite-gmm -- the gmm SQLite extension (Gaussian mixture models) for
// Node.js. The package holds one loadable module, lib/gmm.so (lib/gmm.dylib
// on macOS), built on the platform named by package.json's "os" and "cpu"
// (npm/pack.sh, `make npm`, fills them in with the version).
//
//   const sqliteGmm = require('sqlite-gmm');
//   sqliteGmm.load(db);   // db: a better-sqlite3 Database, or a node:sqlite
//                         // DatabaseSync opened with { allowExtension: true }
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const pkg = require('./package.json');

const version = pkg.version;
const builtPlatform = Array.isArray(pkg.os) && pkg.os.length === 1 ? pkg.os[0] : undefined;
const builtArch = Array.isArray(pkg.cpu) && pkg.cpu.length === 1 ? pkg.cpu[0] : undefined;

// The absolute path of the bundled loadable module, as db.loadExtension()
// takes it (SQLite finds the entry point sqlite3_gmm_init from the name).
function getLoadablePath() {
  if (builtPlatform === undefined || builtArch === undefined) {
    throw new Error(
      `sqlite-gmm ${version}: package.json names no single "os" and "cpu" the module was built for; ` +
        'build the package with `make npm` (npm/pack.sh), which fills them in'
    );
  }
  const here = `${process.platform}-${process.arch}`;
  const built = `${builtPlatform}-${builtArch}`;
  if (here !== built) {
    throw new Error(
      `sqlite-gmm ${version} holds a module built for ${built}, but this is ${here}; ` +
        'build the package on this platform with `make npm`'
    );
  }
  const file = path.join(__dirname, 'lib', builtPlatform === 'darwin' ? 'gmm.dylib' : 'gmm.so');
  if (!fs.existsSync(file)) {
    throw new Error(
      `sqlite-gmm ${version}: the loadable module ${file} is missing (built for ${built}, this is ${here}); ` +
        'reinstall the package'
    );
  }
  return file;
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value !== 'object' && typeof value !== 'function') return typeof value;
  const name = value.constructor && value.constructor.name;
  return name ? `a ${name} object` : 'an object';
}

// Loads gmm into the connection db: any object with loadExtension(path).
function load(db) {
  if (db === null || db === undefined || typeof db.loadExtension !== 'function') {
    throw new TypeError(
      `sqlite-gmm: load(db) needs a database with a loadExtension(path) method ` +
        `(a better-sqlite3 Database, or a node:sqlite DatabaseSync opened with { allowExtension: true }); ` +
        `got ${describe(db)}`
    );
  }
  db.loadExtension(getLoadablePath());
}

module.exports = { getLoadablePath, load, version };
