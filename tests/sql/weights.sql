-- weights.sql -- self-checking: a frequency-weighted table fitted with
-- weighted: true gives the model of the table with every row repeated as
-- many times as its weight (expanded here by a recursive CTE): the same
-- predictions on every row, the same n_samples, log-likelihoods and means
-- within rounding. Rows of weight 0 change nothing; a NULL weight skips its
-- row.
--
-- The data: Old Faithful (272 rows) with a made-up frequency 1 + id % 3.
--
-- Run by tests/run_sql_tests.sh from the repository root. Every check
-- prints a line starting with FAIL when its condition is not true (ifnull:
-- a NULL condition fails too); the last line is "ok weights".
-- Requirements cited as in the sources: spec (N), gmm_fit (N), apply (N).
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE freq AS SELECT id, 1 + id % 3 AS n, eruptions, waiting FROM faithful;
CREATE TABLE expanded AS
  WITH RECURSIVE r(id, left_, eruptions, waiting) AS (
    SELECT id, n, eruptions, waiting FROM freq
    UNION ALL
    SELECT id, left_ - 1, eruptions, waiting FROM r WHERE left_ > 1)
  SELECT id, eruptions, waiting FROM r;

SELECT 'FAIL: the expansion has sum(n) rows' WHERE NOT ifnull((
  SELECT (SELECT sum(n) FROM freq) = (SELECT count(*) FROM expanded)), 0);

CREATE TABLE m AS SELECT
  (SELECT gmm_fit('{"k": 2, "weighted": true}', n, eruptions, waiting) FROM freq) AS weighted,
  (SELECT gmm_fit(2, eruptions, waiting) FROM expanded) AS repeated;
CREATE TABLE info AS SELECT gmm_info(weighted) AS w, gmm_info(repeated) AS r FROM m;

-- gmm_fit (3): n_samples is the sum of the weights.
SELECT 'FAIL: n_samples is the sum of the weights' WHERE NOT ifnull((
  SELECT w ->> '$.n_samples' = (SELECT sum(n) FROM freq) AND
         r ->> '$.n_samples' = w ->> '$.n_samples' FROM info), 0);
SELECT 'FAIL: options.weighted' WHERE NOT ifnull((
  SELECT json_type(w, '$.options.weighted') = 'true' AND
         json_type(r, '$.options.weighted') = 'false' FROM info), 0);

-- apply (1): the same prediction for every row.
SELECT 'FAIL: row ' || f.id || ' is predicted differently' FROM faithful f, m
  WHERE NOT ifnull(gmm_predict(m.weighted, f.eruptions, f.waiting) =
                   gmm_predict(m.repeated, f.eruptions, f.waiting), 0);
-- The same log-likelihood and means, within rounding.
SELECT 'FAIL: log-likelihoods ' || (w ->> '$.log_likelihood') || ' and ' ||
       (r ->> '$.log_likelihood') FROM info
  WHERE NOT ifnull(abs((w ->> '$.log_likelihood') - (r ->> '$.log_likelihood')) <=
                   1e-9 * abs(r ->> '$.log_likelihood'), 0);
SELECT 'FAIL: mean ' || a.fullkey || ' differs' FROM info,
  json_tree(info.w, '$.means') AS a JOIN json_tree(info.r, '$.means') AS b USING (fullkey)
  WHERE a.type = 'real' AND NOT ifnull(abs(a.value - b.value) <= 1e-9 * abs(b.value), 0);

-- gmm_fit (4): rows of weight 0 change nothing, byte for byte.
SELECT 'FAIL: rows of weight 0 changed the model' WHERE NOT ifnull((
  SELECT weighted = (SELECT gmm_fit('{"k": 2, "weighted": true}', n, eruptions, waiting)
                     FROM (SELECT n, eruptions, waiting FROM freq
                           UNION ALL SELECT 0, 10, 10
                           UNION ALL SELECT 0, eruptions, waiting FROM freq WHERE id <= 5))
  FROM m), 0);
-- gmm_fit (3): a NULL weight skips its row and counts it.
SELECT 'FAIL: a NULL weight is skipped and counted' WHERE NOT ifnull((
  SELECT i ->> '$.n_skipped' = 1 AND i ->> '$.n_samples' = (SELECT sum(n) FROM freq)
  FROM (SELECT gmm_info(gmm_fit('{"k": 2, "weighted": true}', n, eruptions, waiting)) AS i
        FROM (SELECT n, eruptions, waiting FROM freq UNION ALL SELECT NULL, 3, 70))), 0);

SELECT 'ok weights';
