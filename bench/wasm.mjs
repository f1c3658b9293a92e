// bench/wasm.mjs -- gmm in WebAssembly against the native build, in one run
// (`BENCH_ONLY=wasm make bench`; bench/run.sh builds web/dist first):
//
//   - the size of web/dist/sqlite-gmm-core.wasm, raw and gzipped (level 9);
//   - seconds per EM iteration on 100k x 2, k 3, full covariance, one
//     thread, the same SQL on the same SQLite (3.53, better-sqlite3 12's
//     amalgamation) four ways: native (better-sqlite3 with ./gmm.so loaded),
//     native on every core (threads 0), the WebAssembly build in Node, and
//     the WebAssembly build in headless Chromium;
//   - the playground's load to first plot in Chromium (navigation start to
//     body[data-state=ready] after the Old Faithful fit).
//
// Seconds per iteration: a fit of M (100) iterations (init random_from_data,
// n_init 1, tol 0, so that it never stops early) less the same fit with
// max_iter 0 (reading the rows, canonical order, initialisation), over M;
// each timing is the fastest of BENCH_REPEAT (3), after one untimed fit of M
// iterations (WebAssembly engines compile a baseline first and optimise the
// hot functions later). M is large because an iteration's cost is not the
// same throughout the fit: in Chromium the first 20 iterations measured a
// fifth of the cost of later ones (0.7 against 3.4 ms); the cause was not
// looked into. The data: 100,000 rows of
// three Gaussian clusters from a seeded generator, inserted from one JSON
// text, so every build fits the same doubles.
//
// Needs better-sqlite3 in tests/clients/node and puppeteer-core in
// tests/web (make test installs both) and Chromium (/usr/bin/chromium or
// $CHROMIUM). Writes $BENCH_OUT (default build/bench/RESULTS-wasm.md) and
// prints it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repeat = Number(process.env.BENCH_REPEAT || 3);
const M = Number(process.env.BENCH_WASM_ITER || 100);
const out = process.env.BENCH_OUT || path.join(root, 'build', 'bench', 'RESULTS-wasm.md');
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const wasmFile = path.join(root, 'web', 'dist', 'sqlite-gmm-core.wasm');

const Database = createRequire(path.join(root, 'tests/clients/node/package.json'))('better-sqlite3');
const puppeteer = (await import(pathToFileURL(
  createRequire(path.join(root, 'tests/web/package.json')).resolve('puppeteer-core')).href)).default;
const { serve } = await import(pathToFileURL(path.join(root, 'tests/web/serve.mjs')).href);
const { open } = await import(pathToFileURL(path.join(root, 'web/sqlite-gmm.mjs')).href);

// ---- the data --------------------------------------------------------------------

function points(n, seed) {
  let s = BigInt(seed);
  const next = () => { // splitmix64 -> [0, 1)
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
  };
  const centres = [[0, 0], [6, 1], [2, 7]];
  const rows = [];
  for (let i = 0; i < n; i++) {
    const c = centres[i % 3];
    const r = Math.sqrt(-2 * Math.log(1 - next())), t = 2 * Math.PI * next();
    rows.push([c[0] + r * Math.cos(t), c[1] + 0.5 * r * Math.sin(t)]);
  }
  return JSON.stringify(rows);
}

const json = points(100000, 20261204);
const LOAD = `CREATE TABLE pts AS SELECT json_extract(value, '$[0]') AS x, json_extract(value, '$[1]') AS y
              FROM json_each(?)`;
const fitSql = (iters, threads) =>
  `SELECT gmm_fit('{"k": 3, "covariance_type": "full", "init": "random_from_data", "n_init": 1, ` +
  `"tol": 0, "max_iter": ${iters}, "seed": 7, "threads": ${threads}}', x, y) FROM pts`;

// Seconds per EM iteration of runFit(sql) -> milliseconds.
async function perIteration(runFit, threads) {
  await runFit(fitSql(M, threads)); // warm-up, untimed
  const best = async (iters) => {
    let t = Infinity;
    for (let r = 0; r < repeat; r++) t = Math.min(t, await runFit(fitSql(iters, threads)));
    return t;
  };
  const t0 = await best(0), tM = await best(M);
  return (tM - t0) / M / 1000;
}

// ---- native: better-sqlite3 12 with ./gmm.so -----------------------------------------

function native(threads) {
  const db = new Database(':memory:');
  db.loadExtension(path.join(root, 'gmm'));
  db.prepare(LOAD).run(json);
  const versions = db.prepare("SELECT sqlite_version() || ' / gmm ' || gmm_version()").pluck().get();
  const run = (sql) => {
    const s = db.prepare(sql).pluck();
    const t = performance.now();
    s.get();
    return performance.now() - t;
  };
  return perIteration(async (sql) => run(sql), threads).finally(() => db.close()).then((s) => ({ s, versions }));
}

// ---- WebAssembly in Node ----------------------------------------------------------------

async function wasmNode() {
  const db = await open();
  db.query(LOAD, [json]);
  const run = (sql) => {
    const t = performance.now();
    db.query(sql);
    return performance.now() - t;
  };
  const s = await perIteration(async (sql) => run(sql), 1);
  const v = db.versions;
  db.close();
  return { s, versions: `${v.sqlite} / gmm ${v.gmm}` };
}

// ---- WebAssembly in Chromium ------------------------------------------------------------

async function chromiumRuns() {
  const server = await serve(path.join(root, 'web'));
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await puppeteer.launch({
    executablePath: chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1280, height: 900 },
  });
  try {
    const version = await browser.version();
    // The playground: navigation start to the first plot.
    let load = Infinity;
    for (let r = 0; r < repeat; r++) {
      const page = await browser.newPage();
      await page.goto(base, { waitUntil: 'load' });
      await page.waitForFunction(
        () => window.playground && window.playground.fits >= 1 && document.body.dataset.state === 'ready',
        { timeout: 60000, polling: 'mutation' });
      load = Math.min(load, await page.evaluate(() => performance.now()));
      await page.close();
    }
    // EM in the page, through the same module the playground imports.
    const page = await browser.newPage();
    await page.goto(base + 'data/README.md');
    const timings = await page.evaluate(async (moduleUrl, data, load, sqls, repeat) => {
      const { open } = await import(moduleUrl);
      const db = await open();
      db.query(load, [data]);
      const out = {};
      db.query(sqls.tM); // warm-up, untimed
      for (const [name, sql] of Object.entries(sqls)) {
        let t = Infinity;
        for (let r = 0; r < repeat; r++) {
          const t0 = performance.now();
          db.query(sql);
          t = Math.min(t, performance.now() - t0);
        }
        out[name] = t;
      }
      out.versions = `${db.versions.sqlite} / gmm ${db.versions.gmm}`;
      db.close();
      return out;
    }, base + 'sqlite-gmm.mjs', json, LOAD, { t0: fitSql(0, 1), tM: fitSql(M, 1) }, repeat);
    await page.close();
    return { load, s: (timings.tM - timings.t0) / M / 1000, versions: timings.versions, version };
  } finally {
    await browser.close();
    server.close();
  }
}

// ---- the report ----------------------------------------------------------------------------

const raw = fs.readFileSync(wasmFile);
const gz = zlib.gzipSync(raw, { level: 9 }).length;
const cpu = (() => {
  try {
    return execFileSync('sh', ['-c', "lscpu | sed -n 's/^Model name: *//p'"], { encoding: 'utf8' }).trim();
  } catch {
    return os.cpus()[0]?.model || 'unknown CPU';
  }
})();

const one = await native(1);
const all = await native(0);
const node = await wasmNode();
const web = await chromiumRuns();
const ms = (s) => (s * 1000).toFixed(2);
const lines = [
  '# gmm in WebAssembly against the native build',
  '',
  `Machine: ${cpu}, ${os.cpus().length} cores; Node ${process.version}; ${web.version}.`,
  `Generated by \`BENCH_ONLY=wasm make bench\` (bench/wasm.mjs) on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  `- \`web/dist/sqlite-gmm-core.wasm\`: ${(raw.length / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(0)} KiB gzipped (level 9).`,
  `- The playground, navigation start to the first plot (Old Faithful fitted) in headless Chromium: ${web.load.toFixed(0)} ms (fastest of ${repeat}).`,
  '',
  `Seconds per EM iteration, 100,000 x 2, k 3, full covariance ((t(${M}) - t(0)) / ${M}, fastest of ${repeat}):`,
  '',
  '| build | SQLite / gmm | ms per iteration | vs native, 1 thread |',
  '|---|---|---:|---:|',
  `| native, 1 thread (better-sqlite3 + gmm.so) | ${one.versions} | ${ms(one.s)} | 1.00 |`,
  `| native, every core (threads 0) | ${all.versions} | ${ms(all.s)} | ${(all.s / one.s).toFixed(2)} |`,
  `| WebAssembly in Node | ${node.versions} | ${ms(node.s)} | ${(node.s / one.s).toFixed(2)} |`,
  `| WebAssembly in Chromium | ${web.versions} | ${ms(web.s)} | ${(web.s / one.s).toFixed(2)} |`,
  '',
];
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
console.log(`written to ${path.relative(root, out)}`);
