// csv.mjs -- the playground's CSV reader and the table it fills: the one
// place where bytes from outside (the user's file) become data. No DOM, so
// Node runs it too (tests/web/csv_fuzz.mjs feeds it random and mangled
// files).
//
//   parseCsv(bytes, fileName) -> { columns: [{ name, numeric, unnamed,
//       numbers, texts, firstText }], rows: [[number | string | null]] }
//     or throws a UserError whose message starts with the file name and
//     says what is wrong and what a good file looks like. Any other
//     exception is a bug.
//   loadTable(db, table)  (re)creates the table `data` from it in one
//     transaction: numeric columns REAL, others TEXT, empty cells NULL.
//   ident(name)           a quoted SQL identifier.

/** A problem with the user's input, told to the user as it is. */
export class UserError extends Error {}

export const MAX_CSV_BYTES = 64 * 1024 * 1024;

export const ident = (name) => `"${String(name).replace(/"/g, '""')}"`;

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(cell) {
  const t = cell.trim();
  if (!NUMBER.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

// The delimiter: the most frequent of , ; and tab in the first record,
// outside quoted fields (a header "a,b";c is two columns split by ;). A tie
// goes to the comma, then the semicolon.
function guessDelimiter(text) {
  const counts = { ',': 0, ';': 0, '\t': 0 };
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (ch === '\n' || ch === '\r')) break;
    else if (!inQuotes && ch in counts) counts[ch]++;
  }
  let best = ',';
  for (const d of [';', '\t']) if (counts[d] > counts[best]) best = d;
  return best;
}

// RFC 4180 records: quoted fields ("" for a quote, line breaks allowed),
// CRLF, LF or CR line ends. Returns [{ cells, line }].
function splitCsv(text, delim) {
  const records = [];
  let cells = [];
  let field = '';
  let atFieldStart = true;
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let quoteLine = 1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else inQuotes = false;
      } else {
        if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && atFieldStart) { inQuotes = true; atFieldStart = false; quoteLine = line; continue; }
    if (ch === delim) { cells.push(field); field = ''; atFieldStart = true; continue; }
    if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      cells.push(field);
      records.push({ cells, line: recordLine });
      cells = [];
      field = '';
      atFieldStart = true;
      line++;
      recordLine = line;
      continue;
    }
    field += ch;
    atFieldStart = false;
  }
  if (inQuotes) throw new UserError(`line ${quoteLine}: a quoted field ("…) is never closed.`);
  if (field !== '' || cells.length > 0) {
    cells.push(field);
    records.push({ cells, line: recordLine });
  }
  // Blank lines separate nothing: drop them.
  return records.filter((r) => !(r.cells.length === 1 && r.cells[0].trim() === ''));
}

// Bytes of a CSV file -> { columns: [{ name, numeric, unnamed }], rows: [[value]] }
// with values number / string / null. Throws UserError with a message
// that says what is wrong and what a good file looks like.
export function parseCsv(bytes, fileName) {
  const fail = (text) => { throw new UserError(`${fileName}: ${text}`); };
  if (bytes.length === 0) fail('the file is empty. A CSV file needs a header line naming the columns, then one line per row, e.g. "x,y" then "1.5,2".');
  if (bytes.length > MAX_CSV_BYTES) fail(`the file is ${(bytes.length / 1048576).toFixed(0)} MB; the playground takes up to ${MAX_CSV_BYTES / 1048576} MB.`);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    fail('this is not a text file (it is not valid UTF-8). Choose a CSV file: comma-separated values, a header line first.');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const junk = text.search(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/);
  if (junk >= 0) fail(`this looks like a binary file, not a CSV (control character 0x${text.charCodeAt(junk).toString(16).padStart(2, '0')} at character ${junk + 1}).`);
  if (text.trim() === '') fail('the file holds only blank lines. A CSV file needs a header line naming the columns, then one line per row.');

  const delim = guessDelimiter(text);
  let records;
  try {
    records = splitCsv(text, delim);
  } catch (err) {
    if (err instanceof UserError) fail(err.message);
    throw err;
  }
  if (records.length === 0) fail('the file holds no values. A CSV file needs a header line naming the columns, then one line per row.');
  const header = records[0].cells.map((c) => c.trim());
  if (header.every((c) => c === '')) fail(`line ${records[0].line}, the header, names no column.`);
  if (header.every((c) => toNumber(c) !== null)) {
    fail(`the first line (${header.slice(0, 4).join(', ')}${header.length > 4 ? ', …' : ''}) holds numbers, not column names. ` +
      'Add a header line naming the columns, e.g. "x,y".');
  }
  const rowsIn = records.slice(1);
  if (rowsIn.length === 0) fail('the file has a header line but no data rows.');
  for (const r of rowsIn) {
    if (r.cells.length !== header.length) {
      fail(`line ${r.line} has ${r.cells.length} field${r.cells.length === 1 ? '' : 's'}, but the header (line ${records[0].line}) has ${header.length}. ` +
        'Every row needs one value per column (an empty value is fine).');
    }
  }

  // Column names: unique (SQLite's names are case-insensitive), never empty.
  const seen = new Set();
  const columns = header.map((raw, i) => {
    let name = raw === '' ? `column_${i + 1}` : raw;
    const base = name;
    for (let n = 2; seen.has(name.toLowerCase()); n++) name = `${base}_${n}`;
    seen.add(name.toLowerCase());
    return { name, unnamed: raw === '', numbers: 0, texts: 0, firstText: null };
  });
  const rows = rowsIn.map((r) => r.cells.map((cell, i) => {
    const c = columns[i];
    if (cell.trim() === '') return null;
    const v = toNumber(cell);
    if (v !== null) { c.numbers++; return v; }
    c.texts++;
    if (c.firstText === null) c.firstText = cell;
    return cell;
  }));
  for (const c of columns) c.numeric = c.numbers > 0 && c.texts === 0;
  const numeric = columns.filter((c) => c.numeric);
  if (numeric.length === 0) {
    const examples = columns.slice(0, 3).map((c) => (c.firstText !== null ? `${c.name}: "${c.firstText}"` : `${c.name}: empty`)).join(', ');
    fail(`no numeric column: every column holds text or nothing (${examples}${columns.length > 3 ? ', …' : ''}). ` +
      'The plot needs two columns of numbers.');
  }
  if (numeric.length === 1) {
    fail(`only one numeric column (${numeric[0].name}); the plot needs two columns of numbers.`);
  }
  return { columns, rows };
}

export function loadTable(db, table) {
  const cols = table.columns.map((c) => `${ident(c.name)} ${c.numbers > 0 ? 'REAL' : 'TEXT'}`);
  const width = table.columns.length;
  // SQLite takes up to 32766 parameters a statement; 999 keeps the
  // statements short.
  const perInsert = Math.max(1, Math.floor(999 / width));
  db.exec('BEGIN');
  try {
    db.exec(`DROP TABLE IF EXISTS data; CREATE TABLE data (${cols.join(', ')});`);
    const one = `(${new Array(width).fill('?').join(', ')})`;
    for (let start = 0; start < table.rows.length; start += perInsert) {
      const chunk = table.rows.slice(start, start + perInsert);
      db.query(`INSERT INTO data VALUES ${new Array(chunk.length).fill(one).join(', ')}`, chunk.flat());
    }
    db.exec('COMMIT');
  } catch (err) {
    try { db.exec('ROLLBACK'); } catch { /* already rolled back */ }
    throw err;
  }
}
