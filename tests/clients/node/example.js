// example.js -- gmm from Node.js with better-sqlite3 (version 12).
// From the repository root, after `npm install` in tests/clients/node:
//   node tests/clients/node/example.js [extension]
// Fits Old Faithful, clusters it, reads the model back; prints "ok node".
'use strict';
const assert = require('assert');
const fs = require('fs');
const Database = require('better-sqlite3');

const db = new Database(':memory:');
db.loadExtension(process.argv[2] || './gmm');
db.exec(fs.readFileSync('sql/faithful.sql', 'utf8'));

const one = (sql, ...args) => db.prepare(sql).pluck().get(...args);
const model = one('SELECT gmm_fit(2, eruptions, waiting) FROM faithful');
const sizes = db.prepare(`SELECT count(*) FROM faithful
  GROUP BY gmm_predict(?, eruptions, waiting) ORDER BY 1`).pluck().all(model);
const info = JSON.parse(one('SELECT gmm_info(?)', model));
const proba = JSON.parse(one('SELECT gmm_predict_proba(?, 3.0, 70)', model));
const label = one('SELECT gmm_predict(?, 3.0, 70)', model);

assert.ok(Buffer.isBuffer(model));
assert.deepStrictEqual(sizes, [97, 175]);
assert.ok(info.k === 2 && info.n_samples === 272 && info.converged, JSON.stringify(info));
assert.ok(Math.abs(info.log_likelihood - -1130.264) < 1e-3, String(info.log_likelihood));
assert.ok(Math.abs(proba[0] + proba[1] - 1) < 1e-9 && Math.max(...proba).toFixed(3) === '0.963');
assert.strictEqual(proba[label], Math.max(...proba));
db.close();
console.log('ok node');
