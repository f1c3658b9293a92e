-- model_table.sql -- recipe: keep models in a table, one row per version,
-- apply the latest version to new rows, and refit it (warm start) as a new
-- version.
--
-- The story: the Old Faithful eruptions 1..200 are what we had when the
-- first model was fitted; eruptions 201..272 arrive later.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/model_table.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok model_table".
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE models(
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
  note       TEXT,
  model      BLOB NOT NULL,
  PRIMARY KEY (name, version));

-- Version 1: fitted on the rows we had.
INSERT INTO models(name, version, note, model)
SELECT 'geyser', 1, 'eruptions 1..200', gmm_fit(2, eruptions, waiting)
FROM faithful WHERE id <= 200;

-- New rows arrive; each is labelled with the latest model of its name.
CREATE TABLE new_eruptions AS SELECT * FROM faithful WHERE id > 200;

.mode box
SELECT gmm_predict((SELECT model FROM models WHERE name = 'geyser'
                    ORDER BY version DESC LIMIT 1), eruptions, waiting) AS cluster,
       count(*) AS new_rows,
       printf('%.2f', avg(eruptions)) AS mean_duration_min,
       printf('%.1f', avg(waiting)) AS mean_wait_min
FROM new_eruptions
GROUP BY cluster ORDER BY cluster;

-- Version 2: a warm start. The latest model is the spec, so EM starts from
-- its parameters (and options) and refits on every row we have now.
INSERT INTO models(name, version, note, model)
SELECT 'geyser',
       (SELECT max(version) + 1 FROM models WHERE name = 'geyser'),
       'warm start from version 1 on eruptions 1..272',
       gmm_fit((SELECT model FROM models WHERE name = 'geyser'
                ORDER BY version DESC LIMIT 1), eruptions, waiting)
FROM faithful;

-- The history: every version with what it was fitted on.
SELECT version, created_at, note,
       gmm_info(model) ->> '$.n_samples' AS n_samples,
       gmm_info(model) ->> '$.n_iter' AS n_iter,
       json_type(gmm_info(model), '$.warm_started') AS warm_started,
       printf('%.2f', gmm_info(model) ->> '$.log_likelihood' / (gmm_info(model) ->> '$.n_samples'))
         AS mean_log_lik
FROM models WHERE name = 'geyser' ORDER BY version;

-- The same apply query now uses version 2: nothing to change in it.
CREATE TABLE labelled AS
  SELECT id, gmm_predict((SELECT model FROM models WHERE name = 'geyser'
                          ORDER BY version DESC LIMIT 1), eruptions, waiting) AS cluster
  FROM new_eruptions;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: two versions of geyser' WHERE NOT ifnull((
  SELECT group_concat(version, ',') = '1,2' FROM
    (SELECT version FROM models WHERE name = 'geyser' ORDER BY version)), 0);
SELECT 'FAIL: version 1 fitted on 200 rows, not warm-started' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_samples' = 200 AND
         json_type(gmm_info(model), '$.warm_started') = 'false'
  FROM models WHERE name = 'geyser' AND version = 1), 0);
SELECT 'FAIL: version 2 warm-started on 272 rows' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_samples' = 272 AND
         json_type(gmm_info(model), '$.warm_started') = 'true' AND
         json_type(gmm_info(model), '$.converged') = 'true'
  FROM models WHERE name = 'geyser' AND version = 2), 0);
-- The latest-version subquery picks version 2.
SELECT 'FAIL: the apply query does not use version 2' WHERE NOT ifnull((
  SELECT count(*) = 72 AND
         sum(l.cluster = gmm_predict(m.model, n.eruptions, n.waiting)) = 72
  FROM labelled l JOIN new_eruptions n USING (id),
       models m WHERE m.name = 'geyser' AND m.version = 2), 0);
-- The warm start ends where a fresh fit on all rows ends (same optimum,
-- components in the same order as version 1's).
SELECT 'FAIL: version 2 is not the fit on all rows' WHERE NOT ifnull((
  SELECT abs((gmm_info(m.model) ->> '$.log_likelihood') -
             (gmm_info(f.model) ->> '$.log_likelihood')) < 1e-3
  FROM models m, (SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful) f
  WHERE m.name = 'geyser' AND m.version = 2), 0);
SELECT 'FAIL: component order kept across versions' WHERE NOT ifnull((
  SELECT count(*) = 2 FROM gmm_components((SELECT model FROM models WHERE version = 1)) a
                      JOIN gmm_components((SELECT model FROM models WHERE version = 2)) b
                      USING (component)
  WHERE abs((a.mean ->> '$[0]') - (b.mean ->> '$[0]')) < 0.2), 0);

SELECT 'ok model_table';
