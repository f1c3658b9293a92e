// serve.mjs -- a static file server for the playground's tests and bench:
// one directory on 127.0.0.1, at a port the system picks, for as long as
// the process that started it wants (server.close()).
//
//   import { serve } from './serve.mjs';
//   const server = await serve('/path/to/web');
//   const base = `http://127.0.0.1:${server.address().port}/`;
//
// Paths outside the directory, and anything that is not a file, are 404;
// .wasm is served as application/wasm (WebAssembly.instantiateStreaming
// needs it) and nothing is cached.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function serve(dir) {
  const top = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = path.normalize(path.join(top, decodeURIComponent(url.pathname)));
    if (file === top || file.endsWith(path.sep)) file = path.join(file, 'index.html');
    if (!file.startsWith(top + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': types[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
