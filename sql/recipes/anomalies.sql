-- anomalies.sql -- recipe: anomaly scores with gmm_score. A row is unusual
-- when its log density under the model is below the 1st percentile of the
-- training rows' log densities.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/anomalies.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok anomalies".
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;

-- Score the training rows: log p(x), higher is more typical.
CREATE TABLE train_scores AS
  SELECT id, eruptions, waiting, gmm_score((SELECT model FROM m), eruptions, waiting) AS score
  FROM faithful;

-- The 1st percentile (nearest rank: the ceil(0.01 n)-th lowest score).
CREATE TABLE threshold AS
  SELECT score AS p01 FROM train_scores ORDER BY score
  LIMIT 1 OFFSET (SELECT CAST(ceil(0.01 * count(*)) AS INTEGER) - 1 FROM train_scores);

.mode box
-- The training rows below it, with where they fall in the distribution.
SELECT id, eruptions, waiting, printf('%.2f', score) AS log_density,
       printf('%.4f', cume_dist) AS share_at_or_below
FROM (SELECT *, cume_dist() OVER (ORDER BY score) AS cume_dist FROM train_scores)
WHERE score < (SELECT p01 FROM threshold)
ORDER BY score;

-- New observations scored against the same threshold.
CREATE TABLE new_rows(label TEXT, eruptions REAL, waiting REAL);
INSERT INTO new_rows VALUES
  ('typical long',      4.3, 80),
  ('typical short',     2.0, 54),
  ('in between',        3.2, 68),
  ('short but late',    1.9, 88),
  ('long but early',    4.8, 48),
  ('far too long',      7.5, 95);

CREATE TABLE new_scored AS
  SELECT label, eruptions, waiting,
         gmm_score((SELECT model FROM m), eruptions, waiting) AS score,
         gmm_score((SELECT model FROM m), eruptions, waiting) < (SELECT p01 FROM threshold)
           AS anomaly
  FROM new_rows;

SELECT label, eruptions, waiting, printf('%.2f', score) AS log_density,
       printf('%.2f', (SELECT p01 FROM threshold)) AS threshold,
       CASE WHEN anomaly THEN 'ANOMALY' ELSE '' END AS flag
FROM new_scored ORDER BY score DESC;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: every training row scored' WHERE NOT ifnull((
  SELECT count(*) = 272 AND count(score) = 272 FROM train_scores), 0);
-- The threshold is the 3rd lowest of 272 scores (ceil(2.72) = 3): exactly
-- two training rows are below it.
SELECT 'FAIL: two training rows below the 1st percentile' WHERE NOT ifnull((
  SELECT count(*) = 2 FROM train_scores WHERE score < (SELECT p01 FROM threshold)), 0);
-- The window-function way gives the same threshold: the lowest score whose
-- cumulative share reaches 1 %.
SELECT 'FAIL: window-function percentile differs' WHERE NOT ifnull((
  SELECT min(score) = (SELECT p01 FROM threshold)
  FROM (SELECT score, cume_dist() OVER (ORDER BY score) AS cd FROM train_scores)
  WHERE cd >= 0.01), 0);
-- The sum of the training scores is the model's log-likelihood.
SELECT 'FAIL: sum of scores = log_likelihood' WHERE NOT ifnull((
  SELECT abs(sum(score) - (SELECT gmm_info(model) ->> '$.log_likelihood' FROM m)) < 1e-8
  FROM train_scores), 0);
-- The typical rows pass, the off-pattern ones are flagged.
SELECT 'FAIL: flags of the new rows' WHERE NOT ifnull((
  SELECT group_concat(label || '=' || anomaly, ', ') =
         'typical long=0, typical short=0, in between=0, short but late=1, ' ||
         'long but early=1, far too long=1'
  FROM (SELECT * FROM new_scored ORDER BY rowid)), 0);

SELECT 'ok anomalies';
