// app.js -- the gmm playground (web/index.html): SQLite with the gmm
// extension compiled to WebAssembly (./sqlite-gmm.mjs, built by `make wasm`),
// plain DOM and SVG, nothing from the network but the files in web/.
//
// How the SQL box maps to the picture
// ------------------------------------
// The data set (bundled CSV or the user's) is loaded into the table `data`:
// one column per CSV column, numbers as REAL, other values TEXT, empty cells
// NULL. "Fit" writes a script into textarea#sql and runs it; "Run SQL" runs
// whatever the box holds. Either way the page first drops the five output
// tables (or views) below, runs every statement of the script with
// db.exec(), then reads them back and draws them:
//
//   model       required; its first row's column `model` is the model BLOB
//               (gmm_info of it gives the status line, window.playground
//               .lastFit and the download)
//   points      required; one <circle class="point"> per row: the first
//               column is x, the second y, the third the cluster (the
//               column names become the axis titles; rows with x or y NULL
//               are not drawn)
//   components  optional; component, weight, mx, my: the means
//               (<circle class="mean">) and the #components table; without
//               it they come from gmm_info
//   ellipses    optional; component, sigma, x, y in drawing order: one
//               <path class="ellipse"> per (component, sigma)
//   candidates  optional; k, covariance_type, bic, failed, chosen: the BIC
//               chart, one <circle class="bic-point"> per candidate
//
// The generated script computes all five in SQL from gmm_fit, gmm_predict,
// gmm_components (eigen-decomposition of each 2 x 2 covariance, whatever
// its type) and gmm_info's `candidates`, so editing k or the options in the
// box and pressing "Run SQL" redraws everything. A model loaded from a file
// is kept in the table `imported` (column model), and the script then takes
// the model from there instead of fitting.
//
// Test hooks: body[data-state] is loading / ready / error;
// window.playground = { db, lastFit: { model, info, nPoints, k }, fits }.

import { open } from './sqlite-gmm.mjs';
import { UserError, ident, loadTable, parseCsv } from './csv.mjs';

const $ = (id) => document.getElementById(id);
const el = {
  form: $('fit-form'),
  dataset: $('dataset'),
  csvFile: $('csv-file'),
  x: $('x-column'),
  y: $('y-column'),
  k: $('k'),
  bic: $('choose-bic'),
  cov: $('covariance-type'),
  fit: $('fit'),
  exportModel: $('export-model'),
  importModel: $('import-model'),
  components: $('components'),
  message: $('message'),
  status: $('status'),
  plot: $('plot'),
  bicChart: $('bic-chart'),
  bicNote: $('bic-note'),
  sql: $('sql'),
  runSql: $('run-sql'),
  versions: $('versions'),
};

const SVG = 'http://www.w3.org/2000/svg';
// Tableau 10: distinct, readable on white.
const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const colour = (j) => (j === null || j === undefined || !Number.isFinite(Number(j))
  ? '#9aa3ad' : COLOURS[((Number(j) % COLOURS.length) + COLOURS.length) % COLOURS.length]);
const BIC_KS = [1, 2, 3, 4, 5, 6];
const OUTPUTS = ['model', 'points', 'components', 'ellipses', 'candidates'];

const playground = { db: null, lastFit: null, fits: 0 };
window.playground = playground;

const app = {
  db: null,
  dataset: null,    // what table data holds: 'faithful', 'iris' or 'csv'
  csv: null,        // the last CSV file loaded: { name, table }
  columns: [],      // the numeric columns of data
  drawn: null,      // the last picture's data, redrawn on resize
};

// ---- small helpers -------------------------------------------------------------

function setState(s) { document.body.dataset.state = s; }

function showError(text) {
  el.message.textContent = text;
  el.message.className = 'error';
  el.message.hidden = false;
}

function clearMessage() {
  el.message.textContent = '';
  el.message.className = '';
  el.message.hidden = true;
}

const errorText = (err) => (err && err.message ? err.message : String(err));

// Lets the browser paint "loading" before a synchronous fit.
function nextFrame() {
  return new Promise((resolve) => {
    const done = () => resolve();
    requestAnimationFrame(() => setTimeout(done, 0));
    setTimeout(done, 100); // rAF does not run in a hidden tab
  });
}

// One task at a time (loading a file is asynchronous, fits are not).
let queue = Promise.resolve();
function serial(task) {
  queue = queue.then(task).catch((err) => {
    // Tasks report their own errors; this is a bug of the page.
    console.error(err);
    showError(`Unexpected error: ${errorText(err)}`);
    setState('error');
  });
  return queue;
}

function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function fmt(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '–';
  return Number(v).toFixed(digits);
}

// ---- the table data -----------------------------------------------------------------

function installData(table) {
  loadTable(app.db, table);
  app.columns = table.columns.filter((c) => c.numeric);
  fillColumnSelects();
}

function fillColumnSelects() {
  const names = app.columns.map((c) => c.name);
  const preferred = app.columns.filter((c) => !c.unnamed).map((c) => c.name);
  const defaults = preferred.length >= 2 ? preferred : names;
  for (const [select, pick] of [[el.x, defaults[0]], [el.y, defaults[1]]]) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    select.value = pick;
  }
}

async function fetchDataset(name) {
  const res = await fetch(`data/${name}.csv`);
  if (!res.ok) throw new UserError(`could not load data/${name}.csv (HTTP ${res.status})`);
  return parseCsv(new Uint8Array(await res.arrayBuffer()), `${name}.csv`);
}

function setCsvOptionLabel() {
  const option = el.dataset.querySelector('option[value="csv"]');
  option.textContent = app.csv ? `CSV: ${app.csv.name}` : 'CSV file…';
}

// ---- the SQL ----------------------------------------------------------------------

function specText({ k, chooseByBic, covarianceType }) {
  const kText = chooseByBic ? `[${BIC_KS.join(',')}]` : String(k);
  return `{"k": ${kText}, "covariance_type": "${covarianceType}"}`;
}

// The script the page runs; see the comment at the top of this file.
function buildScript({ x, y, spec, imported }) {
  const X = ident(x);
  const Y = ident(y);
  const modelPart = imported
    ? `-- 1. The model: the one loaded from a file (in the table
--    imported).
DROP TABLE IF EXISTS model;
CREATE TABLE model AS SELECT model FROM imported LIMIT 1;`
    : `-- 1. The model: gmm_fit over the two columns${spec.includes('[') ? ';\n--    a list of k fits every k and keeps the lowest BIC' : ''}.
DROP TABLE IF EXISTS model;
CREATE TABLE model AS
SELECT gmm_fit(
         '${spec}',
         ${X}, ${Y}) AS model
FROM data;`;
  return `-- The playground's SQL; the data are in the table data.
-- "Run SQL" runs it all, then draws the tables it makes:
--   model       the model BLOB (column model)
--   points      x, y, cluster: one dot each
--   components  component, weight, mx, my: the means
--   ellipses    component, sigma, x, y: one curve each
--   candidates  k, covariance_type, bic, failed, chosen

${modelPart}

-- 2. Each row's cluster. A row with one empty cell is fitted
--    through its other value, but it is not drawn.
DROP TABLE IF EXISTS points;
CREATE TABLE points AS
SELECT ${X}, ${Y},
       gmm_predict((SELECT model FROM model),
                   ${X}, ${Y}) AS cluster
FROM data
WHERE ${X} IS NOT NULL AND ${Y} IS NOT NULL;

-- 3. The components, and the eigen-decomposition of each
--    covariance [[a, b], [b, c]]: standard deviations sd1 >= sd2
--    along axes at angle theta. gmm_components gives it in the
--    model's shape: a 2 x 2 matrix (full; tied: the shared one),
--    two variances (diag) or one variance (spherical).
DROP TABLE IF EXISTS components;
CREATE TABLE components AS
WITH cov AS (
  SELECT component, weight,
         mean ->> '$[0]' AS mx, mean ->> '$[1]' AS my,
         coalesce(covariance ->> '$[0][0]', covariance ->> '$[0]',
                  covariance ->> '$') AS a,
         coalesce(covariance ->> '$[0][1]', 0) AS b,
         coalesce(covariance ->> '$[1][1]', covariance ->> '$[1]',
                  covariance ->> '$') AS c
  FROM gmm_components((SELECT model FROM model))
), eig AS (
  SELECT *, (a + c) / 2 AS mid,
         sqrt((a - c) * (a - c) / 4 + b * b) AS r
  FROM cov
)
SELECT component, weight, mx, my, a, b, c,
       sqrt(mid + r) AS sd1, sqrt(max(mid - r, 0)) AS sd2,
       atan2(2 * b, a - c) / 2 AS theta
FROM eig;

-- 4. The ellipses at Mahalanobis distance s = 1 and 2 ("1 and
--    2 sigma"): mean + s (sd1 cos t u1 + sd2 sin t u2), with
--    u1 = (cos theta, sin theta), u2 = (-sin theta, cos theta),
--    t = 0, 5, ..., 360 degrees.
DROP TABLE IF EXISTS ellipses;
CREATE TABLE ellipses AS
WITH RECURSIVE step(i) AS (
  SELECT 0 UNION ALL SELECT i + 1 FROM step WHERE i < 72
), angle AS (
  SELECT i, cos(pi() * i / 36) AS ct, sin(pi() * i / 36) AS st
  FROM step
), sigma(s) AS (VALUES (1), (2))
SELECT component, s AS sigma, i,
       mx + s * (sd1 * ct * cos(theta) - sd2 * st * sin(theta)) AS x,
       my + s * (sd1 * ct * sin(theta) + sd2 * st * cos(theta)) AS y
FROM components, sigma, angle
ORDER BY component, s, i;

-- 5. The BIC of every candidate (gmm_info's candidates; for
--    a single k, the model itself), the chosen one marked.
DROP TABLE IF EXISTS candidates;
CREATE TABLE candidates AS
SELECT c.value ->> '$.k' AS k,
       c.value ->> '$.covariance_type' AS covariance_type,
       c.value ->> '$.bic' AS bic,
       coalesce(c.value ->> '$.failed', 0) AS failed,
       c.value ->> '$.k' = gmm_info(model) ->> '$.k'
         AND c.value ->> '$.covariance_type'
             = gmm_info(model) ->> '$.covariance_type' AS chosen
FROM model,
     json_each(coalesce(gmm_info(model) -> '$.candidates',
                        json_array(gmm_info(model)))) AS c;
`;
}

// Which of the output tables (or views) exist now: name -> 'table' | 'view'.
function outputsPresent() {
  const db = app.db;
  const list = OUTPUTS.map((n) => `'${n}'`).join(', ');
  const { rows } = db.query(
    `SELECT lower(name), type FROM sqlite_schema WHERE type IN ('table', 'view') AND lower(name) IN (${list})`);
  return new Map(rows.map(([name, type]) => [name, type]));
}

function dropOutputs() {
  for (const [name, type] of outputsPresent()) {
    app.db.exec(`DROP ${type === 'view' ? 'VIEW' : 'TABLE'} IF EXISTS ${ident(name)}`);
  }
}

// Reads what the script left behind (see the top of this file).
function readOutputs() {
  const db = app.db;
  const present = outputsPresent();
  for (const name of ['model', 'points']) {
    if (!present.has(name)) throw new UserError(`The SQL did not create the table ${name}; the page draws model and points (and components, ellipses, candidates when present).`);
  }
  const m = db.query('SELECT model, typeof(model) FROM model LIMIT 1').rows[0];
  if (!m || m[0] === null) {
    throw new UserError('gmm_fit returned NULL: no row of data had a usable value in the chosen columns.');
  }
  if (!(m[0] instanceof Uint8Array)) throw new UserError(`The table model holds ${m[1]}, not a model BLOB.`);
  const model = m[0];
  const info = JSON.parse(db.query('SELECT gmm_info(?)', [model]).rows[0][0]);

  const pts = db.query('SELECT * FROM points');
  if (pts.columns.length < 3) throw new UserError(`The table points needs three columns (x, y, cluster); it has ${pts.columns.length}.`);
  const points = [];
  for (const row of pts.rows) {
    const px = Number(row[0]);
    const py = Number(row[1]);
    if (row[0] === null || row[1] === null || !Number.isFinite(px) || !Number.isFinite(py)) continue;
    points.push({ x: px, y: py, cluster: row[2] === null ? null : Number(row[2]) });
  }

  let components;
  if (present.has('components')) {
    components = db.query('SELECT component, weight, mx, my FROM components ORDER BY component').rows
      .map(([component, weight, mx, my]) => ({ component: Number(component), weight, mx, my }));
  } else {
    components = info.weights.map((w, j) => ({ component: j, weight: w, mx: info.means[j][0], my: info.means[j][1] }));
  }

  const ellipses = [];
  if (present.has('ellipses')) {
    const byKey = new Map();
    for (const [component, sigma, ex, ey] of db.query('SELECT component, sigma, x, y FROM ellipses').rows) {
      if (ex === null || ey === null) continue;
      const key = `${component}/${sigma}`;
      if (!byKey.has(key)) {
        const e = { component: Number(component), sigma: Number(sigma), xy: [] };
        byKey.set(key, e);
        ellipses.push(e);
      }
      byKey.get(key).xy.push([Number(ex), Number(ey)]);
    }
  }

  let candidates = [];
  if (present.has('candidates')) {
    candidates = db.query('SELECT k, covariance_type, bic, failed, chosen FROM candidates').rows
      .map(([k, type, bic, failed, chosen]) => ({
        k: Number(k), type: type === null ? '' : String(type), bic: bic === null ? null : Number(bic),
        failed: Boolean(Number(failed)), chosen: Boolean(Number(chosen)),
      }));
  }
  return { model, info, points, components, ellipses, candidates, xName: pts.columns[0], yName: pts.columns[1] };
}

// Runs a script (see the top of this file) and draws what it made.
// how: { imported } for the status line.
function runScript(sql, how = {}) {
  const db = app.db;
  try {
    dropOutputs();
    const t0 = performance.now();
    db.exec(sql);
    const ms = performance.now() - t0;
    const out = readOutputs();
    out.ms = ms;
    draw(out);
    playground.lastFit = { model: out.model, info: out.info, nPoints: out.points.length, k: out.info.k };
    playground.fits += 1;
    el.exportModel.disabled = false;
    clearMessage();
    el.status.textContent = statusLine(out, how);
    setState('ready');
    return true;
  } catch (err) {
    showError(errorText(err));
    setState('error');
    return false;
  }
}

function statusLine(out, how) {
  const { info } = out;
  const n = out.points.length;
  const plural = (v, one, many) => `${v} ${v === 1 ? one : many}`;
  const parts = [
    plural(n, 'point', 'points'),
    plural(info.k, 'component', 'components'),
    `BIC ${info.bic === null || info.bic === undefined ? 'n/a' : Number(info.bic).toFixed(2)}`,
    plural(info.n_iter, 'iteration', 'iterations'),
    `${out.ms.toFixed(1)} ms`,
  ];
  let text = parts.join(', ');
  if (Array.isArray(info.candidates)) {
    const criterion = String((info.options && info.options.criterion) || 'bic').toUpperCase();
    text += ` (best of ${info.candidates.length} by ${criterion})`;
  }
  if (how.imported) text = `Loaded model (${info.covariance_type}; BIC on its own training rows): ${text}`;
  return text;
}

// ---- drawing -------------------------------------------------------------------------

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  const raw = span / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return { ticks, decimals };
}

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(lo <= hi)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

// The data range, widened to the ellipses but by at most half the data's
// own range on each side (a stray component does not squash the points).
function axisRange(dataValues, ellipseValues) {
  let [lo, hi] = extent(dataValues);
  const span = hi - lo;
  if (ellipseValues.length) {
    const [elo, ehi] = extent(ellipseValues);
    lo = Math.max(Math.min(lo, elo), lo - span / 2);
    hi = Math.min(Math.max(hi, ehi), hi + span / 2);
  }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

function draw(out) {
  app.drawn = out;
  drawPlot(out);
  drawBic(out);
  fillComponents(out);
}

function drawPlot(out) {
  const root = el.plot;
  const desc = root.querySelector('desc');
  root.replaceChildren(desc);
  const W = Math.max(320, root.clientWidth || 640);
  const H = Math.max(240, root.clientHeight || 520);
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const margin = { left: 62, right: 14, top: 12, bottom: 46 };
  const pw = W - margin.left - margin.right;
  const ph = H - margin.top - margin.bottom;

  const exs = [];
  const eys = [];
  for (const e of out.ellipses) for (const [ex, ey] of e.xy) { exs.push(ex); eys.push(ey); }
  for (const c of out.components) { if (Number.isFinite(c.mx)) exs.push(c.mx); if (Number.isFinite(c.my)) eys.push(c.my); }
  const [x0, x1] = axisRange(out.points.map((p) => p.x), exs);
  const [y0, y1] = axisRange(out.points.map((p) => p.y), eys);
  const sx = (v) => margin.left + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v) => margin.top + ph - ((v - y0) / (y1 - y0)) * ph;

  const clipId = 'plot-clip';
  const defs = svg('defs', {}, root);
  svg('rect', { x: margin.left, y: margin.top, width: pw, height: ph }, svg('clipPath', { id: clipId }, defs));

  // Grid, axes, ticks, titles.
  const xt = niceTicks(x0, x1, Math.max(3, Math.round(pw / 90)));
  const yt = niceTicks(y0, y1, Math.max(3, Math.round(ph / 70)));
  const grid = svg('g', { class: 'grid' }, root);
  for (const v of xt.ticks) svg('line', { x1: sx(v), x2: sx(v), y1: margin.top, y2: margin.top + ph }, grid);
  for (const v of yt.ticks) svg('line', { x1: margin.left, x2: margin.left + pw, y1: sy(v), y2: sy(v) }, grid);
  const axes = svg('g', { class: 'axis' }, root);
  svg('line', { x1: margin.left, x2: margin.left + pw, y1: margin.top + ph, y2: margin.top + ph }, axes);
  svg('line', { x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + ph }, axes);
  for (const v of xt.ticks) {
    svg('line', { x1: sx(v), x2: sx(v), y1: margin.top + ph, y2: margin.top + ph + 5 }, axes);
    svg('text', { x: sx(v), y: margin.top + ph + 17, 'text-anchor': 'middle' }, axes).textContent = v.toFixed(xt.decimals);
  }
  for (const v of yt.ticks) {
    svg('line', { x1: margin.left - 5, x2: margin.left, y1: sy(v), y2: sy(v) }, axes);
    svg('text', { x: margin.left - 8, y: sy(v) + 4, 'text-anchor': 'end' }, axes).textContent = v.toFixed(yt.decimals);
  }
  svg('text', { class: 'axis-title', x: margin.left + pw / 2, y: H - 8, 'text-anchor': 'middle' }, root).textContent = out.xName;
  svg('text', {
    class: 'axis-title', x: 0, y: 0, 'text-anchor': 'middle',
    transform: `translate(14 ${margin.top + ph / 2}) rotate(-90)`,
  }, root).textContent = out.yName;

  // Points, then ellipses and means on top.
  const r = out.points.length > 5000 ? 1.6 : out.points.length > 1000 ? 2.4 : 3.4;
  const gPoints = svg('g', { class: 'points', 'clip-path': `url(#${clipId})` }, root);
  for (const p of out.points) {
    const attrs = { class: p.cluster === null ? 'point unfitted' : 'point', cx: sx(p.x).toFixed(2), cy: sy(p.y).toFixed(2), r };
    if (p.cluster !== null) { attrs['data-cluster'] = p.cluster; attrs.fill = colour(p.cluster); }
    svg('circle', attrs, gPoints);
  }
  const gEllipses = svg('g', { class: 'ellipses', 'clip-path': `url(#${clipId})` }, root);
  for (const e of out.ellipses) {
    if (e.xy.length < 2) continue;
    const d = e.xy.map(([ex, ey], i) => `${i ? 'L' : 'M'}${sx(ex).toFixed(2)},${sy(ey).toFixed(2)}`).join(' ') + ' Z';
    // A white halo keeps the curve visible over dense points.
    svg('path', { class: 'ellipse-halo', d, 'data-sigma': e.sigma, 'aria-hidden': 'true' }, gEllipses);
    const path = svg('path', {
      class: 'ellipse', d, stroke: colour(e.component), 'data-component': e.component, 'data-sigma': e.sigma,
    }, gEllipses);
    svg('title', {}, path).textContent = `component ${e.component}: ${e.sigma}-sigma ellipse`;
  }
  const gMeans = svg('g', { class: 'means', 'clip-path': `url(#${clipId})` }, root);
  for (const c of out.components) {
    if (!Number.isFinite(c.mx) || !Number.isFinite(c.my)) continue;
    const mean = svg('circle', {
      class: 'mean', cx: sx(c.mx).toFixed(2), cy: sy(c.my).toFixed(2), r: 6,
      fill: colour(c.component), 'data-component': c.component,
    }, gMeans);
    svg('title', {}, mean).textContent = `component ${c.component}: mean (${fmt(c.mx, 4)}, ${fmt(c.my, 4)}), weight ${fmt(c.weight, 6)}`;
  }
  if (out.points.length === 0) {
    svg('text', { class: 'empty-note', x: margin.left + pw / 2, y: margin.top + ph / 2, 'text-anchor': 'middle' }, root)
      .textContent = 'No row has both values.';
  }
}

function drawBic(out) {
  const root = el.bicChart;
  const desc = root.querySelector('desc');
  root.replaceChildren(desc);
  const W = Math.max(200, root.clientWidth || 380);
  const H = Math.max(100, root.clientHeight || 150);
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const cands = out.candidates.filter((c) => c.bic !== null && Number.isFinite(c.bic) && !c.failed);
  const failed = out.candidates.filter((c) => c.failed).map((c) => c.k);
  if (cands.length === 0) {
    el.bicNote.textContent = out.candidates.length ? 'No candidate has a BIC.' : 'No candidates table: nothing to chart.';
    return;
  }
  let [b0, b1] = extent(cands.map((c) => c.bic));
  const pad = (b1 - b0) * 0.12;
  b0 -= pad; b1 += pad;
  const yt = niceTicks(b0, b1, 3);
  const labelChars = Math.max(...yt.ticks.map((v) => v.toFixed(yt.decimals).length));
  const margin = { left: 26 + 6 * labelChars, right: 12, top: 14, bottom: 28 };
  const pw = W - margin.left - margin.right;
  const ph = H - margin.top - margin.bottom;
  const ks = [...new Set(cands.map((c) => c.k))].sort((a, b) => a - b);
  const [kLo, kHi] = ks.length === 1 ? [ks[0] - 1, ks[0] + 1] : [ks[0] - 0.4, ks[ks.length - 1] + 0.4];
  const sx = (k) => margin.left + ((k - kLo) / (kHi - kLo)) * pw;
  const sy = (v) => margin.top + ph - ((v - b0) / (b1 - b0)) * ph;

  const grid = svg('g', { class: 'grid' }, root);
  const axes = svg('g', { class: 'axis' }, root);
  for (const v of yt.ticks) {
    svg('line', { x1: margin.left, x2: margin.left + pw, y1: sy(v), y2: sy(v) }, grid);
    svg('text', { x: margin.left - 6, y: sy(v) + 3, 'text-anchor': 'end' }, axes).textContent = v.toFixed(yt.decimals);
  }
  svg('line', { x1: margin.left, x2: margin.left + pw, y1: margin.top + ph, y2: margin.top + ph }, axes);
  for (const k of ks) {
    svg('text', { x: sx(k), y: margin.top + ph + 13, 'text-anchor': 'middle' }, axes).textContent = k;
  }
  svg('text', { x: margin.left + pw / 2, y: H - 2, 'text-anchor': 'middle' }, axes).textContent = 'k (components)';
  svg('text', { x: 10, y: margin.top + ph / 2, 'text-anchor': 'middle', transform: `rotate(-90 10 ${margin.top + ph / 2})` }, axes)
    .textContent = 'BIC';

  // One line per covariance type (the box may ask for several).
  const types = [...new Set(cands.map((c) => c.type))];
  types.forEach((type, t) => {
    const series = cands.filter((c) => c.type === type).sort((a, b) => a.k - b.k);
    const stroke = types.length === 1 ? '#5b6673' : COLOURS[t % COLOURS.length];
    if (series.length > 1) {
      svg('path', {
        class: 'bic-line', stroke,
        d: series.map((c, i) => `${i ? 'L' : 'M'}${sx(c.k).toFixed(2)},${sy(c.bic).toFixed(2)}`).join(' '),
      }, root);
    }
    for (const c of series) {
      const point = svg('circle', {
        class: c.chosen ? 'bic-point chosen' : 'bic-point',
        cx: sx(c.k).toFixed(2), cy: sy(c.bic).toFixed(2), r: c.chosen ? 6 : 4,
        fill: c.chosen ? '#e15759' : stroke, 'data-k': c.k, 'data-covariance-type': c.type, 'data-bic': c.bic,
      }, root);
      svg('title', {}, point).textContent = `k = ${c.k}, ${c.type}: BIC ${c.bic.toFixed(2)}${c.chosen ? ' (chosen)' : ''}`;
      if (c.chosen) {
        const above = sy(c.bic) > margin.top + 14;
        svg('text', {
          class: 'chosen-label', x: sx(c.k), y: sy(c.bic) + (above ? -10 : 16), 'text-anchor': 'middle',
        }, root).textContent = c.bic.toFixed(1);
      }
    }
  });

  const chosen = cands.find((c) => c.chosen);
  let note;
  if (cands.length === 1) {
    note = `One model fitted (k = ${cands[0].k}). Tick "Choose k by BIC" to compare k = 1 … 6.`;
  } else {
    note = chosen ? `Lowest BIC: k = ${chosen.k}${types.length > 1 ? `, ${chosen.type}` : ''} (red).` : '';
    if (types.length > 1) note += ` Lines: ${types.map((t, i) => `${t} (${['blue', 'orange', 'red', 'teal', 'green', 'yellow', 'purple', 'pink', 'brown', 'grey'][i % 10]})`).join(', ')}.`;
  }
  if (failed.length) note += ` Failed: k = ${[...new Set(failed)].join(', ')}.`;
  el.bicNote.textContent = note.trim();
}

function fillComponents(out) {
  const counts = new Map();
  for (const p of out.points) counts.set(p.cluster, (counts.get(p.cluster) || 0) + 1);
  const head = el.components.tHead.rows[0].cells;
  head[2].textContent = `mean ${out.xName}`;
  head[3].textContent = `mean ${out.yName}`;
  const body = el.components.tBodies[0];
  body.replaceChildren(...out.components.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.component = c.component;
    const first = document.createElement('td');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour(c.component);
    swatch.setAttribute('aria-hidden', 'true');
    first.append(swatch, String(c.component));
    tr.append(first);
    for (const text of [fmt(c.weight, 6), fmt(c.mx, 4), fmt(c.my, 4), String(counts.get(c.component) || 0)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

// The data alone, grey (after new data whose fit failed).
function drawDataOnly() {
  try {
    const x = el.x.value;
    const y = el.y.value;
    if (!x || !y) return;
    const { rows } = app.db.query(
      `SELECT ${ident(x)}, ${ident(y)} FROM data WHERE ${ident(x)} IS NOT NULL AND ${ident(y)} IS NOT NULL`);
    drawPlot({
      points: rows.map(([px, py]) => ({ x: Number(px), y: Number(py), cluster: null })),
      components: [], ellipses: [], xName: x, yName: y,
    });
    el.bicChart.replaceChildren(el.bicChart.querySelector('desc'));
    el.bicNote.textContent = '';
    el.components.tBodies[0].replaceChildren();
    app.drawn = null;
  } catch {
    // The message already says what went wrong with the fit.
  }
}

// ---- actions ------------------------------------------------------------------------

function readControls() {
  const x = el.x.value;
  const y = el.y.value;
  if (!x || !y) throw new UserError('Load a data set with two numeric columns first.');
  if (x === y) throw new UserError(`Choose two different columns for x and y (both are ${x}).`);
  const chooseByBic = el.bic.checked;
  const k = Number(el.k.value);
  if (!chooseByBic && !(Number.isInteger(k) && k >= 1 && k <= 10)) {
    throw new UserError(`k must be a whole number from 1 to 10 (it is "${el.k.value}").`);
  }
  return { x, y, spec: specText({ k, chooseByBic, covarianceType: el.cov.value }) };
}

// Fit from the controls; after new data, a failed fit leaves the data drawn.
function fitFromControls({ newData = false } = {}) {
  let controls;
  try {
    controls = readControls();
  } catch (err) {
    showError(errorText(err));
    setState('error');
    if (newData) drawDataOnly();
    return false;
  }
  const script = buildScript(controls);
  el.sql.value = script;
  const ok = runScript(script);
  if (!ok && newData) drawDataOnly();
  return ok;
}

function loadBundled(name) {
  return serial(async () => {
    setState('loading');
    await nextFrame();
    let table;
    try {
      table = await fetchDataset(name);
      installData(table);
    } catch (err) {
      showError(errorText(err));
      setState('error');
      el.dataset.value = app.dataset || name;
      return;
    }
    app.dataset = name;
    el.dataset.value = name;
    fitFromControls({ newData: true });
  });
}

function loadCsvFile(file) {
  return serial(async () => {
    setState('loading');
    await nextFrame();
    let table;
    try {
      table = parseCsv(new Uint8Array(await file.arrayBuffer()), file.name);
      installData(table);
    } catch (err) {
      showError(errorText(err));
      setState('error');
      // The page keeps the data it had.
      el.dataset.value = app.dataset || 'faithful';
      return;
    }
    app.dataset = 'csv';
    app.csv = { name: file.name, table };
    setCsvOptionLabel();
    el.dataset.value = 'csv';
    fitFromControls({ newData: true });
  });
}

function reloadCsv() {
  return serial(async () => {
    setState('loading');
    await nextFrame();
    try {
      installData(app.csv.table);
    } catch (err) {
      showError(errorText(err));
      setState('error');
      return;
    }
    app.dataset = 'csv';
    fitFromControls({ newData: true });
  });
}

function importModel(file) {
  return serial(async () => {
    setState('loading');
    await nextFrame();
    let info;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const text = app.db.query('SELECT gmm_info(?)', [bytes]).rows[0][0];
      if (text === null) throw new UserError(`${file.name}: not a gmm model (gmm_info returned NULL).`);
      info = JSON.parse(text);
      if (info.d !== 2) {
        throw new UserError(`${file.name}: the model has ${info.d} features; the playground plots two columns, so it takes a model of 2.`);
      }
      app.db.exec('CREATE TABLE IF NOT EXISTS imported(model BLOB); DELETE FROM imported;');
      app.db.query('INSERT INTO imported(model) VALUES (?)', [bytes]);
    } catch (err) {
      const text = errorText(err);
      showError(err instanceof UserError ? text : `${file.name} is not a model this page can load: ${text}`);
      setState('error');
      return;
    }
    const x = el.x.value;
    const y = el.y.value;
    if (!x || !y) {
      showError('Load a data set first: the model clusters its columns.');
      setState('error');
      return;
    }
    const script = buildScript({ x, y, imported: true });
    el.sql.value = script;
    if (runScript(script, { imported: true })) {
      // The controls describe the model now shown.
      if (Number.isInteger(info.k) && info.k >= 1 && info.k <= 10) el.k.value = String(info.k);
      el.bic.checked = false;
      syncK();
      if ([...el.cov.options].some((o) => o.value === info.covariance_type)) el.cov.value = info.covariance_type;
    }
  });
}

function exportModel() {
  const fit = playground.lastFit;
  if (!fit) {
    showError('Nothing to download yet: fit a model first.');
    return;
  }
  const url = URL.createObjectURL(new Blob([fit.model], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'gmm-model.bin';
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function runSqlBox() {
  return serial(async () => {
    setState('loading');
    await nextFrame();
    runScript(el.sql.value);
  });
}

// ---- wiring ---------------------------------------------------------------------------

function syncK() {
  el.k.disabled = el.bic.checked;
}

function wire() {
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    serial(async () => {
      setState('loading');
      await nextFrame();
      fitFromControls();
    });
  });

  el.dataset.addEventListener('change', () => {
    const v = el.dataset.value;
    if (v === 'csv') {
      if (app.csv) {
        reloadCsv();
      } else {
        // No CSV yet: ask for one; the data stay until a file is chosen.
        el.dataset.value = app.dataset || 'faithful';
        el.csvFile.click();
      }
    } else {
      loadBundled(v);
    }
  });

  el.csvFile.addEventListener('change', () => {
    const file = el.csvFile.files[0];
    if (file) loadCsvFile(file);
    el.csvFile.value = '';
  });

  el.importModel.addEventListener('change', () => {
    const file = el.importModel.files[0];
    if (file) importModel(file);
    el.importModel.value = '';
  });

  // k is the list 1..6 while choosing by BIC.
  el.bic.addEventListener('change', syncK);

  el.exportModel.addEventListener('click', exportModel);
  el.runSql.addEventListener('click', runSqlBox);
  el.sql.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      runSqlBox();
    }
  });

  // Drag and drop a CSV file anywhere on the page.
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    document.body.classList.add('dragging');
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove('dragging');
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    const file = e.dataTransfer.files[0];
    if (file) loadCsvFile(file);
  });

  // Redraw at the new size.
  let timer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (app.drawn) draw(app.drawn); }, 100);
  });
}

async function main() {
  wire();
  // The form's defaults, whatever the browser restored.
  el.dataset.value = 'faithful';
  el.k.value = '2';
  el.bic.checked = false;
  el.cov.value = 'full';
  syncK();
  setState('loading');
  try {
    app.db = await open();
  } catch (err) {
    showError(`Could not start SQLite with gmm (WebAssembly): ${errorText(err)}. ` +
      'Build it with "make wasm" (web/dist/) and serve web/ over HTTP.');
    el.status.textContent = 'SQLite is not loaded.';
    setState('error');
    return;
  }
  playground.db = app.db;
  const v = app.db.versions || {};
  el.versions.textContent = `SQLite ${v.sqlite || '?'} · gmm ${v.gmm || '?'}`;
  el.status.textContent = 'Fitting Old Faithful…';
  await loadBundled('faithful');
}

main();
