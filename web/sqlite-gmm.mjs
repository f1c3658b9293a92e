// sqlite-gmm.mjs -- SQLite with gmm (Gaussian mixture models) in WebAssembly:
// a small JS API over the module wasm/build.sh builds (`make wasm` writes
// ./dist/sqlite-gmm-core.{mjs,wasm} next to this file). No dependencies; an
// ES module for browsers (and workers) and Node 20 or later.
//
//   import { open } from './sqlite-gmm.mjs';
//   const db = await open();              // an in-memory database, gmm registered
//   db.exec(sqlText);                     // every statement, no parameters:
//                                         //   [{ columns, rows }, ...] for those with columns
//   const { columns, rows } = db.query(
//     'SELECT gmm_fit(?1, eruptions, waiting) FROM faithful', [2]);   // one statement
//   db.versions;                          // { sqlite: '3.53.2', gmm: '0.2.0' }
//   db.close();
//
// open(options): options.wasmBinary, the bytes of sqlite-gmm-core.wasm (an
// ArrayBuffer or a typed array), skips fetching them. Otherwise Node reads
// ./dist/sqlite-gmm-core.wasm next to this module and a browser fetches it
// from there. Every database shares one instance of the module, made by the
// first open().
//
// query(sql, params = []) runs ONE statement (anything after it must be
// whitespace, comments or semicolons; a text with no statement gives no
// columns and no rows) and returns { columns: string[], rows: any[][] }.
// params binds positionally (?, ?1, ?2, ...; :name and @name count by
// position too), exactly as many values as the statement takes:
//   number   an integer within Number.MAX_SAFE_INTEGER: INTEGER, else REAL
//   bigint   INTEGER (64-bit; beyond it a RangeError)
//   boolean  INTEGER 1 or 0
//   string   TEXT (UTF-8)
//   Uint8Array, ArrayBuffer, any other typed array or DataView: a BLOB of its bytes
//   null, undefined: NULL
// anything else throws a TypeError naming the parameter (1-based).
// Results: INTEGER is a number, or a bigint beyond Number.MAX_SAFE_INTEGER;
// REAL a number; TEXT a string; BLOB a Uint8Array (a copy, never a view of
// the module's memory); NULL null.
//
// Errors from SQLite (gmm's included) throw a SqliteError (an Error) whose
// message is sqlite3_errmsg's text and whose .code is the result code (1,
// SQLITE_ERROR, for most). Statements are always finalized, so the database
// stays usable after any error. exec() stops at the first failing statement;
// those before it have run. A closed database throws on use; close() again
// does nothing.
//
// Everything runs synchronously on the calling thread (gmm's `threads`
// option has one thread here): run long fits in a Worker to keep a page
// responsive.

import createCore from './dist/sqlite-gmm-core.mjs';

const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_NOMEM = 7;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';

/** An error SQLite reported: message is sqlite3_errmsg's, code the result code. */
export class SqliteError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'SqliteError';
    this.code = code;
  }
}

// ---- the module, instantiated once ------------------------------------------------

let corePromise = null;

function loadCore(wasmBinary) {
  if (corePromise) return corePromise;
  corePromise = (async () => {
    const settings = {};
    if (wasmBinary) {
      settings.wasmBinary = wasmBinary;
    } else if (isNode) {
      // Read here: the glue's own loading fetches a file path on Node 20.
      const { readFile } = await import('node:fs/promises');
      settings.wasmBinary = await readFile(new URL('./dist/sqlite-gmm-core.wasm', import.meta.url));
    } else {
      settings.locateFile = (path) => new URL(`./dist/${path}`, import.meta.url).href;
    }
    const core = await createCore(settings);
    const rc = core._gmm_wasm_init();
    if (rc !== 0) throw new SqliteError(`registering gmm failed (result code ${rc})`, rc);
    return core;
  })();
  corePromise.catch(() => { corePromise = null; }); // a later open() tries again
  return corePromise;
}

/** Opens an in-memory database with gmm registered. */
export async function open(options = {}) {
  const core = await loadCore(options.wasmBinary);
  const name = cString(core, ':memory:');
  const rc = core._gmm_wasm_open(name);
  core._free(name);
  const handle = core._gmm_wasm_db();
  if (rc !== 0) {
    const error = handle ? errorOf(core, handle, rc) : new SqliteError('out of memory', rc);
    core._sqlite3_close_v2(handle);
    throw error;
  }
  return new Database(core, handle);
}

// ---- memory helpers ------------------------------------------------------------------

// A NUL-terminated UTF-8 copy of text in the module's memory (free it).
function cString(core, text) {
  const bytes = encoder.encode(text);
  const p = alloc(core, bytes.length + 1);
  core.HEAPU8.set(bytes, p);
  core.HEAPU8[p + bytes.length] = 0;
  return p;
}

function alloc(core, n) {
  const p = core._malloc(n);
  if (!p) throw new SqliteError('out of memory', SQLITE_NOMEM);
  return p;
}

// The NUL-terminated UTF-8 text at p.
function readCString(core, p) {
  const heap = core.HEAPU8;
  return decoder.decode(heap.subarray(p, heap.indexOf(0, p)));
}

function errorOf(core, db, rc) {
  return new SqliteError(readCString(core, core._sqlite3_errmsg(db)), rc);
}

// Whether text holds whitespace, comments and semicolons only (what may
// follow query()'s statement).
function isBlankSql(text) {
  for (let i = 0; i < text.length;) {
    if (' \t\n\f\r;'.includes(text[i])) {
      i++;
    } else if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      return false;
    }
  }
  return true;
}

// ---- the database ----------------------------------------------------------------------

class Database {
  #core;
  #db;

  constructor(core, db) {
    this.#core = core;
    this.#db = db;
    this.versions = Object.freeze({
      sqlite: readCString(core, core._sqlite3_libversion()),
      gmm: this.query('SELECT gmm_version()').rows[0][0],
    });
  }

  /** Runs one statement with positional parameters: { columns, rows }. */
  query(sql, params = []) {
    const core = this.#check(sql);
    if (!Array.isArray(params)) throw new TypeError('query(): params must be an array');
    return this.#withSql(sql, (start, end) => {
      let stmt = 0;
      try {
        let at = start;
        while (!stmt && at < end) {
          stmt = this.#prepare(at, end);
          const tail = core._gmm_wasm_tail();
          if (tail <= at) break;
          at = tail;
        }
        if (!stmt) {
          if (params.length) throw new RangeError(`query(): no statement to bind ${params.length} parameter(s) to`);
          return { columns: [], rows: [] };
        }
        if (!isBlankSql(decoder.decode(core.HEAPU8.subarray(at, end))))
          throw new RangeError('query() runs one statement; use exec() for several');
        this.#bind(stmt, params);
        return this.#run(stmt);
      } finally {
        core._sqlite3_finalize(stmt); // a no-op for 0
      }
    });
  }

  /** Runs every statement of sql: [{ columns, rows }] for those with columns. */
  exec(sql, ...rest) {
    const core = this.#check(sql);
    if (rest.length) throw new TypeError('exec() takes no parameters; use query()');
    return this.#withSql(sql, (start, end) => {
      const results = [];
      let at = start;
      while (at < end) {
        const stmt = this.#prepare(at, end);
        const tail = core._gmm_wasm_tail();
        if (stmt) {
          try {
            const result = this.#run(stmt);
            if (result.columns.length) results.push(result);
          } finally {
            core._sqlite3_finalize(stmt);
          }
        }
        if (tail <= at) break;
        at = tail;
      }
      return results;
    });
  }

  /** Closes the database; later use throws, a second close() does nothing. */
  close() {
    if (this.#db) this.#core._sqlite3_close_v2(this.#db);
    this.#db = 0;
  }

  get isOpen() {
    return this.#db !== 0;
  }

  #check(sql) {
    if (!this.#db) throw new Error('the database is closed');
    if (typeof sql !== 'string') throw new TypeError('sql must be a string');
    return this.#core;
  }

  // Calls fn(start, end) with sql's UTF-8 bytes in the module's memory.
  #withSql(sql, fn) {
    const core = this.#core;
    const bytes = encoder.encode(sql);
    const p = alloc(core, bytes.length + 1);
    core.HEAPU8.set(bytes, p);
    core.HEAPU8[p + bytes.length] = 0;
    try {
      return fn(p, p + bytes.length);
    } finally {
      core._free(p);
    }
  }

  // Prepares the first statement in [at, end): the statement or 0.
  #prepare(at, end) {
    const core = this.#core;
    const rc = core._gmm_wasm_prepare(this.#db, at, end - at);
    if (rc !== 0) throw errorOf(core, this.#db, rc);
    return core._gmm_wasm_stmt();
  }

  #bind(stmt, params) {
    const core = this.#core;
    const count = core._sqlite3_bind_parameter_count(stmt);
    if (params.length !== count)
      throw new RangeError(`query(): the statement takes ${count} parameter(s), ${params.length} given`);
    for (let i = 1; i <= count; i++) {
      const v = params[i - 1];
      let rc;
      if (v === null || v === undefined) {
        rc = core._sqlite3_bind_null(stmt, i);
      } else if (typeof v === 'number') {
        rc = Number.isSafeInteger(v) ? core._sqlite3_bind_int64(stmt, i, BigInt(v))
          : core._sqlite3_bind_double(stmt, i, v);
      } else if (typeof v === 'bigint') {
        if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`parameter ${i}: ${v} is beyond a 64-bit integer`);
        rc = core._sqlite3_bind_int64(stmt, i, v);
      } else if (typeof v === 'boolean') {
        rc = core._sqlite3_bind_int64(stmt, i, v ? 1n : 0n);
      } else if (typeof v === 'string') {
        rc = this.#bindBytes(core._gmm_wasm_bind_text, stmt, i, encoder.encode(v));
      } else if (v instanceof ArrayBuffer) {
        rc = this.#bindBytes(core._gmm_wasm_bind_blob, stmt, i, new Uint8Array(v));
      } else if (ArrayBuffer.isView(v)) {
        rc = this.#bindBytes(core._gmm_wasm_bind_blob, stmt, i, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      } else {
        const what = typeof v === 'object' ? `an object (${v.constructor?.name ?? 'null prototype'})` : `a ${typeof v}`;
        throw new TypeError(`parameter ${i}: cannot bind ${what}`);
      }
      if (rc !== 0) throw errorOf(core, this.#db, rc);
    }
  }

  #bindBytes(bindFn, stmt, i, bytes) {
    const core = this.#core;
    const p = alloc(core, bytes.length || 1);
    try {
      core.HEAPU8.set(bytes, p);
      return bindFn(stmt, i, p, bytes.length); // SQLite copies them
    } finally {
      core._free(p);
    }
  }

  // Steps stmt to the end: { columns, rows }.
  #run(stmt) {
    const core = this.#core;
    const n = core._sqlite3_column_count(stmt);
    const columns = [];
    for (let c = 0; c < n; c++) columns.push(readCString(core, core._sqlite3_column_name(stmt, c)));
    const rows = [];
    for (;;) {
      const rc = core._sqlite3_step(stmt);
      if (rc === SQLITE_DONE) break;
      if (rc !== SQLITE_ROW) throw errorOf(core, this.#db, rc);
      const row = new Array(n);
      for (let c = 0; c < n; c++) row[c] = this.#column(stmt, c);
      rows.push(row);
    }
    return { columns, rows };
  }

  #column(stmt, c) {
    const core = this.#core;
    switch (core._sqlite3_column_type(stmt, c)) {
      case 1: { // INTEGER
        const v = core._sqlite3_column_int64(stmt, c);
        return v > MAX_SAFE || v < -MAX_SAFE ? v : Number(v);
      }
      case 2: // REAL
        return core._sqlite3_column_double(stmt, c);
      case 3: { // TEXT
        const p = core._sqlite3_column_text(stmt, c);
        const n = core._sqlite3_column_bytes(stmt, c);
        return decoder.decode(core.HEAPU8.subarray(p, p + n));
      }
      case 4: { // BLOB
        const p = core._sqlite3_column_blob(stmt, c);
        const n = core._sqlite3_column_bytes(stmt, c);
        return core.HEAPU8.slice(p, p + n);
      }
      default:
        return null;
    }
  }
}
