// csv_fuzz.mjs -- the playground's CSV reader (web/csv.mjs) on random and
// mangled files: the decoder of the only outside bytes the page takes
// besides model BLOBs (whose decoder, gmm's, has its own fuzz targets).
//
//   node tests/web/csv_fuzz.mjs [cases]      (default 4000; seeded, repeatable)
//
// Each case is random bytes, a valid CSV of known content (quoted fields,
// CRLF, BOM, odd names, empty cells, other delimiters), or such a CSV with a
// few bytes changed, inserted or removed. For every case parseCsv must
// either throw a UserError whose message starts with the file name, or
// return a table that keeps its promises: unique non-empty column names
// (SQLite compares them without case), every row as wide as the header,
// numeric columns holding only finite numbers and nulls, at least two of
// them. Any other exception fails. A returned table must then load into the
// WebAssembly build's SQLite (loadTable) with its row count and column
// names, and a valid CSV must come back with exactly the values written.
// Prints "ok csv-fuzz" last.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { parseCsv, loadTable, UserError } = await import(pathToFileURL(path.join(root, 'web/csv.mjs')).href);
const { open } = await import(pathToFileURL(path.join(root, 'web/sqlite-gmm.mjs')).href);
const cases = Number(process.argv[2] || 4000);

// ---- a seeded generator (splitmix32) ------------------------------------------------

let state = 0x2026c5f;
function rand() {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
}
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];

// ---- valid CSVs of known content ----------------------------------------------------

const NAME_PARTS = ['x', 'y', 'Y', 'wait', 'é', '名前', 'a b', 'a,b', 'q"uote', ' sp ', 'data', 'model', '', '1x'];
const TEXTS = ['red', 'blue', 'a,b', 'say "hi"', 'line\nbreak', 'naïve', ' ', 'NaN', 'Infinity', '1e999', '--1'];

function number() {
  switch (int(6)) {
    case 0: return int(1000) - 500;
    case 1: return (rand() - 0.5) * 10 ** (int(20) - 10);
    case 2: return Number((rand() * 100).toFixed(int(6)));
    case 3: return -0.5 + int(3);
    case 4: return 1e-300 * rand();
    default: return rand() * 1e6;
  }
}

// A table of known values and its CSV text.
function validCsv() {
  const width = 2 + int(5);
  const rows = 1 + int(30);
  const delim = pick([',', ',', ',', ';', '\t']);
  const eol = pick(['\n', '\r\n', '\r']);
  const kinds = Array.from({ length: width }, (_, i) => (i < 2 ? 'num' : pick(['num', 'text', 'mixed'])));
  const names = kinds.map((_, i) => `${pick(NAME_PARTS)}${pick(['', String(i)])}`);
  if (names.every((n) => n.trim() === '' || /^[0-9.eE+-]+$/.test(n.trim()))) names[0] = 'first';
  const values = Array.from({ length: rows }, () => kinds.map((k, i) => {
    if (rand() < 0.08 && i >= 2) return null;
    if (k === 'num') return number();
    if (k === 'text') return pick(TEXTS);
    return rand() < 0.5 ? number() : pick(TEXTS);
  }));
  // Column 0 and 1 have at least one number each, so two are numeric.
  for (const r of values) for (const i of [0, 1]) if (r[i] === null) r[i] = number();
  const quote = (s, force) => (force || /[",;\t\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s);
  const cell = (v) => (v === null ? '' : quote(typeof v === 'number' ? String(v) : v, rand() < 0.1));
  const text = [names.map((n) => quote(n, false)), ...values.map((r) => r.map(cell))]
    .map((r) => r.join(delim)).join(eol) + (rand() < 0.7 ? eol : '');
  return { text: (rand() < 0.1 ? '\ufeff' : '') + text, names, values, delim };
}

// ---- cases ----------------------------------------------------------------------------

const encoder = new TextEncoder();
function mutate(bytes) {
  const b = Array.from(bytes);
  for (let m = 1 + int(4); m > 0; m--) {
    const at = int(b.length + 1);
    switch (int(4)) {
      case 0: b.splice(at, 0, pick([0x22, 0x2c, 0x0a, 0x0d, 0x3b, 0x09, 0x00, 0xff, 0xc3, 0x31])); break;
      case 1: b.splice(at, 1); break;
      case 2: if (at < b.length) b[at] = int(256); break;
      default: b.splice(at, 0, ...b.slice(int(b.length), int(b.length) + int(12)));
    }
  }
  return Uint8Array.from(b);
}

const db = await open();
let rejected = 0, accepted = 0, exact = 0;
const why = new Map();
for (let c = 0; c < cases; c++) {
  const kind = c % 3;
  let bytes, known = null;
  if (kind === 0) {
    bytes = Uint8Array.from({ length: int(200) }, () => (rand() < 0.6 ? pick([0x2c, 0x0a, 0x22, 0x31, 0x2e, 0x65, 0x2d, 0x20]) : int(256)));
  } else {
    known = validCsv();
    bytes = encoder.encode(known.text);
    if (kind === 2) { bytes = mutate(bytes); known = null; }
  }
  const name = `case${c}.csv`;
  let table;
  try {
    table = parseCsv(bytes, name);
  } catch (err) {
    if (!(err instanceof UserError)) throw new Error(`case ${c}: ${err.stack}\n  input: ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}`);
    assert.ok(err.message.startsWith(`${name}: `) && err.message.length > name.length + 10, `case ${c}: ${err.message}`);
    if (known) throw new Error(`case ${c}: a valid CSV was refused: ${err.message}\n${known.text}`);
    rejected++;
    const key = err.message.slice(name.length + 2).replace(/[0-9]+/g, 'N').slice(0, 30);
    why.set(key, (why.get(key) || 0) + 1);
    continue;
  }
  // The table's promises.
  const lower = table.columns.map((col) => col.name.toLowerCase());
  assert.equal(new Set(lower).size, lower.length, `case ${c}: names unique without case`);
  assert.ok(table.columns.every((col) => col.name.length > 0), `case ${c}: no empty name`);
  assert.ok(table.columns.filter((col) => col.numeric).length >= 2, `case ${c}: two numeric columns`);
  for (const row of table.rows) {
    assert.equal(row.length, table.columns.length, `case ${c}: row width`);
    row.forEach((v, i) => {
      if (table.columns[i].numeric) assert.ok(v === null || Number.isFinite(v), `case ${c}: numeric column holds ${v}`);
      else assert.ok(v === null || typeof v === 'string' || Number.isFinite(v), `case ${c}: value ${v}`);
    });
  }
  // It loads into SQLite, names and all.
  loadTable(db, table);
  assert.equal(db.query('SELECT count(*) FROM data').rows[0][0], table.rows.length, `case ${c}: rows in SQLite`);
  assert.deepEqual(db.query('SELECT name FROM pragma_table_info(\'data\')').rows.map((r) => r[0]),
    table.columns.map((col) => col.name), `case ${c}: column names in SQLite`);
  accepted++;
  if (known) {
    // A valid CSV comes back as written.
    assert.equal(table.rows.length, known.values.length, `case ${c}: row count`);
    known.values.forEach((row, r) => row.forEach((v, i) => {
      const got = table.rows[r][i];
      const want = v === null || (typeof v === 'string' && v.trim() === '') ? null : v;
      if (typeof want === 'number' || typeof got === 'number') assert.equal(Number(got), Number(want), `case ${c}: row ${r}, column ${i}`);
      else assert.equal(got, want, `case ${c}: row ${r}, column ${i}`);
    }));
    exact++;
  }
}
db.close();
assert.ok(rejected > cases / 10 && accepted > cases / 4, `rejected ${rejected}, accepted ${accepted}: the cases miss one side`);
console.log(`${cases} cases: ${accepted} read (${exact} valid CSVs back as written), ${rejected} refused with a message`);
console.log([...why.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `    ${n} × ${k}…`).join('\n'));
console.log('ok csv-fuzz');
