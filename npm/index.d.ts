// sqlite-gmm: the gmm SQLite extension (Gaussian mixture models) for Node.js.

/** A connection that can load an extension: a better-sqlite3 `Database`, or a
 * node:sqlite `DatabaseSync` opened with `{ allowExtension: true }`. */
export interface Database {
  loadExtension(path: string, entryPoint?: string): unknown;
}

/** The absolute path of the bundled loadable module (`lib/gmm.so`, or
 * `lib/gmm.dylib` on macOS). Throws an Error when this process's platform or
 * architecture is not the one the package was built for, or the file is
 * missing. */
export declare function getLoadablePath(): string;

/** `db.loadExtension(getLoadablePath())`. Throws a TypeError when `db` has no
 * `loadExtension` method. */
export declare function load(db: Database): void;

/** The package's version: gmm's, as `SELECT gmm_version()` returns it. */
export declare const version: string;
