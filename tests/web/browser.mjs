// browser.mjs -- the playground (web/) in a real browser: Debian's headless
// Chromium driven by puppeteer-core (no browser is downloaded).
//
// From the repository root, after `make wasm` and `npm install` in
// tests/web (tests/web/run.sh does both):
//   node tests/web/browser.mjs [extension]
// The page is served by a static server of this process on 127.0.0.1 (a
// port the system picks), which stops with the process; a watchdog ends the
// process, failing, after 5 minutes. Checks, in order:
//   1. the first load fits Old Faithful by itself: 272 <circle class="point">,
//      2 components, 4 ellipses, weights equal to the native build's (the
//      sqlite3 shell with the extension given, default ./gmm) to 1e-12, and
//      no console error, page error or failed request anywhere in the run;
//   2. a CSV chosen through input#csv-file is loaded and fitted (300 points,
//      the columns offered, k from input#k);
//   3. bad CSVs (ragged rows, no numeric column, an empty file) each show a
//      clear message in #message.error and set body[data-state=error], and
//      the page fits again afterwards;
//   4. choosing k by BIC fits k = 1..6 and charts every candidate;
//   5. the model exported by #export-model is the fitted BLOB, and a corrupt
//      one given to #import-model is refused with gmm's message.
// A screenshot of the first fit is written to build/playground.png.
// Prints "ok web" last.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { serve } from './serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const webDir = path.join(root, 'web');
const extension = process.argv[2] || './gmm';
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const shot = path.join(root, 'build', 'playground.png');

const watchdog = setTimeout(() => {
  console.log('FAIL web: still running after 5 minutes');
  process.exit(1);
}, 5 * 60 * 1000);
watchdog.unref();

// ---- the native build's answer ---------------------------------------------------

function nativeWeights() {
  const out = execFileSync(
    process.env.SQLITE3 || 'sqlite3',
    [':memory:', `.load ${extension}`, '.read sql/faithful.sql',
      "SELECT json_extract(gmm_info(gmm_fit(2, eruptions, waiting)), '$.weights') FROM faithful"],
    { cwd: root, encoding: 'utf8' });
  return JSON.parse(out);
}

// ---- the run ----------------------------------------------------------------------

const problems = [];
const server = await serve(webDir);
const base = `http://127.0.0.1:${server.address().port}/`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gmm-web-'));
let browser;

async function main() {
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1280, height: 900 },
  });
  const page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });

  const fits = () => page.evaluate(() => (window.playground ? window.playground.fits : 0));
  async function waitState(state) {
    await page.waitForFunction((s) => document.body.dataset.state === s, { timeout: 60000 }, state);
  }
  const count = (sel) => page.$$eval(sel, (els) => els.length);
  const message = () => page.$eval('#message', (el) => ({ text: el.textContent.trim(), error: el.classList.contains('error') }));

  // 1. First load: Old Faithful, at once.
  await page.goto(base, { waitUntil: 'load' });
  await page.waitForFunction(
    () => window.playground && window.playground.fits >= 1 && document.body.dataset.state === 'ready',
    { timeout: 60000 });
  const firstPlotMs = await page.evaluate(() => performance.now());
  assert.equal(await count('svg#plot circle.point'), 272, 'Old Faithful points');
  assert.equal(await count('svg#plot path.ellipse'), 4, '1- and 2-sigma ellipses of 2 components');
  assert.equal(await count('svg#plot circle.mean'), 2, 'component means');
  const first = await page.evaluate(() => ({
    k: window.playground.lastFit.k,
    n: window.playground.lastFit.nPoints,
    weights: window.playground.lastFit.info.weights,
    bytes: window.playground.lastFit.model.length,
  }));
  assert.equal(first.k, 2);
  assert.equal(first.n, 272);
  const native = nativeWeights();
  assert.equal(first.weights.length, native.length);
  for (let j = 0; j < native.length; j++)
    assert.ok(Math.abs(first.weights[j] - native[j]) <= 1e-12,
      `weight ${j}: ${first.weights[j]} in Chromium, ${native[j]} native`);
  fs.mkdirSync(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  console.log(`first plot ${firstPlotMs.toFixed(0)} ms after navigation; weights ${first.weights.join(', ')} ` +
    `(native ${native.join(', ')}); screenshot ${path.relative(root, shot)}`);

  // 2. A CSV through the file input.
  const lines = ['alpha,beta,label'];
  for (let i = 0; i < 300; i++) {
    const c = i % 3;
    const a = [0, 5, 10][c] + Math.sin(i * 12.9898) * 0.8;
    const b = [0, 4, -3][c] + Math.cos(i * 78.233) * 0.8;
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},group${c}`);
  }
  const good = path.join(tmp, 'three.csv');
  fs.writeFileSync(good, lines.join('\n') + '\n');
  await page.$eval('#k', (el) => { el.value = '3'; el.dispatchEvent(new Event('change', { bubbles: true })); });
  let before = await fits();
  await (await page.$('#csv-file')).uploadFile(good);
  await page.waitForFunction(
    (n) => window.playground.fits > n && document.body.dataset.state === 'ready' &&
      window.playground.lastFit.nPoints === 300,
    { timeout: 60000 }, before);
  assert.equal(await count('svg#plot circle.point'), 300, 'CSV points');
  const columns = await page.$$eval('#x-column option', (os) => os.map((o) => o.value));
  assert.deepEqual(columns.filter((c) => c === 'alpha' || c === 'beta').sort(), ['alpha', 'beta']);
  assert.ok(!columns.includes('label'), 'a text column is not offered for the axes');
  assert.equal(await page.evaluate(() => window.playground.lastFit.k), 3);
  assert.equal(await page.$eval('#dataset', (el) => el.value), 'csv');

  // 3. Bad CSVs: a clear message, never a blank page; then it fits again.
  const bad = {
    'ragged.csv': 'x,y\n1,2\n3,4,5\n6,7\n',
    'words.csv': 'name,colour\nann,red\nbob,blue\n',
    'empty.csv': '',
  };
  for (const [name, text] of Object.entries(bad)) {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    await page.evaluate(() => { document.body.dataset.state = 'testing'; });
    await (await page.$('#csv-file')).uploadFile(file);
    await waitState('error');
    const m = await message();
    assert.ok(m.error && m.text.length > 10, `${name}: #message.error says ${JSON.stringify(m.text)}`);
    assert.ok(await count('svg#plot') === 1, `${name}: the plot is still on the page`);
    console.log(`${name}: ${m.text}`);
  }
  before = await fits();
  await page.select('#dataset', 'faithful');
  await page.waitForFunction(
    (n) => window.playground.fits > n && document.body.dataset.state === 'ready' &&
      window.playground.lastFit.nPoints === 272,
    { timeout: 60000 }, before);

  // 4. k by BIC: every candidate charted, the chosen one marked.
  before = await fits();
  await page.$eval('#choose-bic', (el) => { el.checked = true; el.dispatchEvent(new Event('change', { bubbles: true })); });
  await page.click('#fit');
  await page.waitForFunction((n) => window.playground.fits > n && document.body.dataset.state === 'ready',
    { timeout: 60000 }, before);
  const ks = await page.$$eval('svg#bic-chart circle.bic-point', (cs) => cs.map((c) => Number(c.dataset.k)));
  assert.deepEqual(ks.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);

  // 5. Export and import.
  const exported = await page.evaluate(() => Array.from(window.playground.lastFit.model));
  const client = await page.createCDPSession();
  const downloads = path.join(tmp, 'downloads');
  fs.mkdirSync(downloads);
  await client.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.click('#export-model');
  const saved = path.join(downloads, 'gmm-model.bin');
  for (let i = 0; i < 100 && !fs.existsSync(saved); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.existsSync(saved), 'the export downloads gmm-model.bin');
  assert.deepEqual(Array.from(fs.readFileSync(saved)), exported, 'the download is the fitted model');
  const corrupt = path.join(tmp, 'corrupt.bin');
  const bytes = fs.readFileSync(saved);
  bytes[bytes.length - 1] ^= 0xff;
  fs.writeFileSync(corrupt, bytes);
  await page.evaluate(() => { document.body.dataset.state = 'testing'; });
  await (await page.$('#import-model')).uploadFile(corrupt);
  await waitState('error');
  const m = await message();
  assert.ok(m.error && /gmm/.test(m.text), `a corrupt model: ${JSON.stringify(m.text)}`);
  console.log(`corrupt model: ${m.text}`);
  before = await fits();
  await (await page.$('#import-model')).uploadFile(saved);
  await page.waitForFunction((n) => window.playground.fits > n && document.body.dataset.state === 'ready',
    { timeout: 60000 }, before);

  assert.deepEqual(problems, [], 'console errors, page errors or failed requests');
}

let status = 0;
try {
  await main();
  console.log('ok web');
} catch (err) {
  console.log(`FAIL web: ${err.message}`);
  if (problems.length) console.log(problems.map((p) => `    ${p}`).join('\n'));
  status = 1;
} finally {
  if (browser) await browser.close();
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
