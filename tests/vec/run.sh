#!/bin/sh
# run.sh -- gmm against the real sqlite-vec extension (vec0): fits a mixture
# over the float32 BLOBs of a vec0 virtual table and checks the result.
#
# Usage: sh tests/vec/run.sh [extension]
#   extension  the gmm library as the sqlite3 shell's .load takes it
#              (default $GMM_EXTENSION, else ./gmm; relative to the current
#              directory).
#   SQLITE3             the sqlite3 shell (default sqlite3).
#   SQLITE_VEC          a vec0 library to use instead of the npm package.
#   SQLITE_VEC_VERSION  the npm package's version (default 0.1.9).
#
# sqlite-vec's loadable build comes from npm: the package sqlite-vec
# depends on a platform package (sqlite-vec-linux-x64, -linux-arm64,
# -darwin-x64, -darwin-arm64, -windows-x64) holding vec0.so (.dylib,
# .dll). When tests/vec/node_modules does not hold that version, it is
# installed there with npm (tests/vec/node_modules is ignored by git).
#
# The SQL below is self-checking, as tests/sql/*.sql are: each check prints
# a line starting with FAIL when its condition is not true (ifnull: a NULL
# condition fails too), and the last line is "ok vec". The script fails
# (non-zero exit) when the shell fails, a line starts with FAIL, or the last
# line is not "ok vec".

here=$(cd "$(dirname "$0")" && pwd) || exit 1
ext=${1:-${GMM_EXTENSION:-./gmm}}
case $ext in
  /*) ;;
  *) ext=$(pwd)/$ext ;;
esac
sqlite=${SQLITE3:-sqlite3}
version=${SQLITE_VEC_VERSION:-0.1.9}

# The vec0 library of the installed platform package, when its version is
# the one asked for.
find_vec0() {
  for pkg in "$here"/node_modules/sqlite-vec-*; do
    [ -f "$pkg/package.json" ] || continue
    v=$(sed -n 's/.*"version" *: *"\([^"]*\)".*/\1/p' "$pkg/package.json")
    [ "$v" = "$version" ] || continue
    for f in "$pkg"/vec0.so "$pkg"/vec0.dylib "$pkg"/vec0.dll; do
      if [ -f "$f" ]; then
        printf '%s\n' "$f"
        return 0
      fi
    done
  done
  return 1
}

if [ -n "${SQLITE_VEC:-}" ]; then
  vec0=$SQLITE_VEC
elif ! vec0=$(find_vec0); then
  if ! command -v npm >/dev/null 2>&1; then
    echo "tests/vec: npm not found: install Node.js and npm, or set SQLITE_VEC to a vec0 library" >&2
    exit 1
  fi
  echo "tests/vec: installing sqlite-vec@$version with npm into tests/vec/node_modules"
  LD_PRELOAD='' npm install --prefix "$here" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "sqlite-vec@$version" >&2 || {
    echo "tests/vec: npm install sqlite-vec@$version failed" >&2
    exit 1
  }
  vec0=$(find_vec0) || {
    echo "tests/vec: no vec0 library for this platform in sqlite-vec@$version" >&2
    exit 1
  }
fi
echo "tests/vec: $vec0"

out=$({
  printf '.bail on\n.load %s\n.load %s\n' "$vec0" "$ext"
  cat <<'EOF'
-- The layout gmm reads (ext (5)): vec_f32 gives little-endian float32.
SELECT 'sqlite-vec ' || vec_version();
SELECT 'FAIL: vec_f32 is little-endian float32' WHERE NOT ifnull((
  SELECT hex(vec_f32('[1, 2]')) = '0000803F00000040'), 0);

-- 180 points, three well separated clusters in 4-D (cluster = (id - 1) % 3),
-- centres (0,0,0,0), (10,10,0,0), (0,-10,10,10); offsets in [-1, 1] in
-- eighths, so that every value is exact in float32 and in any JSON text.
CREATE TABLE src(id INTEGER PRIMARY KEY, cluster INTEGER, a REAL, b REAL, c REAL, d REAL);
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < 179)
INSERT INTO src
SELECT i + 1, i % 3,
       CASE i % 3 WHEN 1 THEN 10 ELSE 0 END + ((i * 7 + 1) % 17 - 8) / 8.0,
       CASE i % 3 WHEN 1 THEN 10 WHEN 2 THEN -10 ELSE 0 END + ((i * 5 + 3) % 13 - 6) / 6.0,
       CASE i % 3 WHEN 2 THEN 10 ELSE 0 END + ((i * 3 + 2) % 11 - 5) / 8.0,
       CASE i % 3 WHEN 2 THEN 10 ELSE 0 END + ((i * 11 + 5) % 19 - 9) / 9.0
FROM seq;
UPDATE src SET b = round(b * 8) / 8, d = round(d * 8) / 8;  -- eighths too

CREATE VIRTUAL TABLE items USING vec0(embedding float[4]);
INSERT INTO items(rowid, embedding)
  SELECT id, vec_f32('[' || a || ', ' || b || ', ' || c || ', ' || d || ']') FROM src;

SELECT 'FAIL: 180 items, each a 16-byte float32 BLOB' WHERE NOT ifnull((
  SELECT count(*) = 180 AND sum(typeof(embedding) = 'blob' AND length(embedding) = 16) = 180
  FROM items), 0);

-- gmm_fit over the vec0 table.
CREATE TABLE m AS SELECT gmm_fit(3, embedding) AS model FROM items;
SELECT 'FAIL: gmm_fit(3, embedding): k 3, d 4, 180 rows' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.k' = 3 AND gmm_info(model) ->> '$.d' = 4
     AND gmm_info(model) ->> '$.n_samples' = 180 AND gmm_info(model) ->> '$.n_skipped' = 0
  FROM m), 0);

-- Predictions recover the clusters up to relabelling: each cluster gets
-- one label, and the three labels differ.
CREATE TABLE pred AS
  SELECT rowid AS id, gmm_predict((SELECT model FROM m), embedding) AS label FROM items;
SELECT 'FAIL: each cluster is one component' WHERE NOT ifnull((
  SELECT count(*) = 3 AND max(n) = 1 FROM
    (SELECT count(DISTINCT label) AS n FROM pred JOIN src USING (id) GROUP BY cluster)), 0);
SELECT 'FAIL: three components used' WHERE NOT ifnull((
  SELECT count(DISTINCT label) = 3 AND count(*) = 180 FROM pred), 0);
SELECT 'FAIL: means near the centres' WHERE NOT ifnull((
  SELECT count(*) = 3 FROM json_each((SELECT gmm_info(model) -> '$.means' FROM m))
  WHERE (abs(value ->> '$[0]') < 0.5 AND abs(value ->> '$[1]') < 0.5 AND
         abs(value ->> '$[2]') < 0.5 AND abs(value ->> '$[3]') < 0.5)
     OR (abs(value ->> '$[0]' - 10) < 0.5 AND abs(value ->> '$[1]' - 10) < 0.5 AND
         abs(value ->> '$[2]') < 0.5 AND abs(value ->> '$[3]') < 0.5)
     OR (abs(value ->> '$[0]') < 0.5 AND abs(value ->> '$[1]' + 10) < 0.5 AND
         abs(value ->> '$[2]' - 10) < 0.5 AND abs(value ->> '$[3]' - 10) < 0.5)), 0);

-- The same model, byte for byte, from the same values as JSON arrays, as
-- sqlite-vec's own JSON (vec_to_json) and as separate arguments.
SELECT 'FAIL: the model equals gmm_fit(3, json_array(a, b, c, d))' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit(3, json_array(a, b, c, d)) FROM src) FROM m), 0);
SELECT 'FAIL: the model equals gmm_fit(3, vec_to_json(embedding))' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit(3, vec_to_json(embedding)) FROM items) FROM m), 0);
SELECT 'FAIL: the model equals gmm_fit(3, a, b, c, d)' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit(3, a, b, c, d) FROM src) FROM m), 0);

-- The apply functions agree, row for row, on the BLOB and on JSON.
SELECT 'FAIL: predict, proba, score agree on BLOBs and JSON' WHERE NOT ifnull((
  SELECT count(*) = 180 FROM items, m JOIN src ON src.id = items.rowid
  WHERE gmm_predict(model, embedding) = gmm_predict(model, json_array(a, b, c, d))
    AND gmm_predict_proba(model, embedding) = gmm_predict_proba(model, vec_to_json(embedding))
    AND gmm_score(model, embedding) = gmm_score(model, a, b, c, d)), 0);

-- A vec0 KNN query and gmm agree: the 5 nearest items of a cluster centre
-- are in the component gmm_predict gives that centre.
SELECT 'FAIL: the KNN neighbours of (10,10,0,0) share its component' WHERE NOT ifnull((
  SELECT count(*) = 5 FROM items, m
  WHERE embedding MATCH vec_f32('[10, 10, 0, 0]') AND k = 5
    AND gmm_predict(model, embedding) = gmm_predict(model, vec_f32('[10, 10, 0, 0]'))), 0);
SELECT 'FAIL: gmm_predict(model, vec_f32(...)) is gmm_predict(model, x1..x4)' WHERE NOT ifnull((
  SELECT gmm_predict(model, vec_f32('[0, -10, 10, 10]')) = gmm_predict(model, 0, -10, 10, 10)
     AND gmm_predict(model, vec_f32('[0, -10, 10, 10]')) <>
         gmm_predict(model, vec_f32('[10, 10, 0, 0]'))
  FROM m), 0);

-- GROUP BY over the vec0 table: one model per cluster, each the model of
-- its rows as JSON arrays.
SELECT 'FAIL: GROUP BY over vec0' WHERE NOT ifnull((
  SELECT count(*) = 3 AND sum(g.model = j.model) = 3 FROM
    (SELECT (rowid - 1) % 3 AS cluster, gmm_fit(1, embedding) AS model FROM items
     GROUP BY 1) g
    JOIN (SELECT cluster, gmm_fit(1, json_array(a, b, c, d)) AS model FROM src GROUP BY 1) j
    USING (cluster)), 0);

SELECT 'ok vec';
EOF
} | "$sqlite" -bail :memory: 2>&1)
rc=$?
printf '%s\n' "$out"
last=$(printf '%s\n' "$out" | tail -n 1)
if [ "$rc" -ne 0 ]; then
  echo "FAIL vec: sqlite3 exited with status $rc" >&2
  exit 1
elif printf '%s\n' "$out" | grep -q '^FAIL'; then
  echo "FAIL vec: a check failed" >&2
  exit 1
elif [ "$last" != "ok vec" ]; then
  echo "FAIL vec: the last line is not 'ok vec'" >&2
  exit 1
fi
