-- impute.sql -- recipe: fill the NULLs of a table with gmm_impute, each
-- missing value replaced by its conditional mean given the row's observed
-- values, under a mixture fitted on the table itself, NULLs and all; then
-- multiple imputation with gmm_impute_draws.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/impute.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok impute".
.bail on
.load ./gmm
.read sql/faithful.sql

-- Old Faithful with holes: about one value in eight knocked out, and one
-- eruption with nothing recorded at all.
CREATE TABLE obs AS SELECT id, eruptions, waiting FROM faithful;
UPDATE obs SET eruptions = NULL WHERE id % 7 = 3;
UPDATE obs SET waiting = NULL WHERE id % 11 = 5 AND eruptions IS NOT NULL;
UPDATE obs SET eruptions = NULL, waiting = NULL WHERE id = 100;
CREATE TABLE observed AS SELECT * FROM obs; -- as it was, for the checks

-- The fit uses every row with something observed (the option missing is
-- 'marginalize' by default): a row with a NULL takes part through its other
-- value. Only the row with nothing at all is skipped.
CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM obs;

.mode box
SELECT gmm_info(model) ->> '$.n_samples' AS rows_used,
       gmm_info(model) ->> '$.n_incomplete' AS with_a_null,
       gmm_info(model) ->> '$.n_skipped' AS skipped,
       printf('%.3f', gmm_info(model) ->> '$.missing_fraction') AS missing_fraction
FROM m;

-- Fill every NULL. One column alone is
--   UPDATE t SET x = json_extract(gmm_impute(model, x, y), '$[0]') WHERE x IS NULL;
-- With NULLs in several columns, set them in one UPDATE: SQLite computes
-- every SET expression from the row as it was, so each value is imputed
-- from the values actually observed (and a row with nothing observed gets
-- the mixture mean).
UPDATE obs SET
  eruptions = CASE WHEN eruptions IS NULL
                   THEN json_extract(gmm_impute((SELECT model FROM m), eruptions, waiting), '$[0]')
                   ELSE eruptions END,
  waiting = CASE WHEN waiting IS NULL
                 THEN json_extract(gmm_impute((SELECT model FROM m), eruptions, waiting), '$[1]')
                 ELSE waiting END
WHERE eruptions IS NULL OR waiting IS NULL;

-- A few filled rows next to the truth.
SELECT o.id, CASE WHEN b.eruptions IS NULL THEN 'NULL' ELSE printf('%.2f', b.eruptions) END
         AS eruptions_seen,
       printf('%.2f', o.eruptions) AS eruptions_filled, printf('%.2f', f.eruptions) AS true_eruptions,
       ifnull(b.waiting, 'NULL') AS waiting_seen, printf('%.1f', o.waiting) AS waiting_filled,
       f.waiting AS true_waiting
FROM obs o JOIN observed b USING (id) JOIN faithful f USING (id)
WHERE b.eruptions IS NULL OR b.waiting IS NULL ORDER BY o.id LIMIT 8;

-- How close the filled values are to the truth, beside filling with the
-- column mean of the observed values: the mixture knows that a long wait
-- goes with a long eruption.
CREATE TABLE errors AS
SELECT 'eruptions' AS column_filled,
       sqrt(avg((o.eruptions - f.eruptions) * (o.eruptions - f.eruptions))) AS rmse_gmm_impute,
       sqrt(avg(((SELECT avg(eruptions) FROM observed) - f.eruptions)
                * ((SELECT avg(eruptions) FROM observed) - f.eruptions))) AS rmse_column_mean
FROM obs o JOIN observed b USING (id) JOIN faithful f USING (id) WHERE b.eruptions IS NULL
UNION ALL
SELECT 'waiting',
       sqrt(avg((o.waiting - f.waiting) * (o.waiting - f.waiting))),
       sqrt(avg(((SELECT avg(waiting) FROM observed) - f.waiting)
                * ((SELECT avg(waiting) FROM observed) - f.waiting)))
FROM obs o JOIN observed b USING (id) JOIN faithful f USING (id) WHERE b.waiting IS NULL;
SELECT column_filled, printf('%.3f', rmse_gmm_impute) AS rmse_gmm_impute,
       printf('%.3f', rmse_column_mean) AS rmse_column_mean FROM errors;

-- Multiple imputation: 5 draws of every incomplete row from p(missing |
-- observed), so 5 completed tables (draw 0 .. 4). The draws depend on the
-- seed, the draw number and the row's values only: rerunning gives the same
-- tables, and LIMIT gives the first draws. They ignore the uncertainty of
-- the model's parameters (one fitted model, not a posterior): variances
-- pooled over them by Rubin's rules come out somewhat too small.
CREATE TABLE draws AS
SELECT b.id, d.draw, json_extract(d.x, '$[0]') AS eruptions, json_extract(d.x, '$[1]') AS waiting
FROM observed b, gmm_impute_draws((SELECT model FROM m), json_array(b.eruptions, b.waiting), 5, 42) d
WHERE b.eruptions IS NULL OR b.waiting IS NULL;

-- The mean eruption time in each completed table, and its spread.
CREATE TABLE completed_means AS
SELECT k.draw, avg(coalesce(b.eruptions, d.eruptions)) AS mean_eruptions
FROM observed b JOIN (SELECT DISTINCT draw FROM draws) AS k
     LEFT JOIN draws d ON d.id = b.id AND d.draw = k.draw
GROUP BY k.draw;
SELECT draw, printf('%.4f', mean_eruptions) AS mean_eruptions FROM completed_means ORDER BY draw;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: holes made' WHERE NOT ifnull((
  SELECT count(*) = 272 AND count(eruptions) < 240 AND count(waiting) < 260 FROM observed), 0);
SELECT 'FAIL: the fit used every row with something observed' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_samples' = 271 AND gmm_info(model) ->> '$.n_skipped' = 1
         AND gmm_info(model) ->> '$.n_incomplete' = (SELECT count(*) FROM observed WHERE
           (eruptions IS NULL OR waiting IS NULL) AND id <> 100) FROM m), 0);
SELECT 'FAIL: a NULL remains' WHERE NOT ifnull((
  SELECT count(*) = 272 AND count(eruptions) = 272 AND count(waiting) = 272 FROM obs), 0);
SELECT 'FAIL: row ' || id || ': an observed value changed'
FROM obs o JOIN observed b USING (id)
WHERE (b.eruptions IS NOT NULL AND o.eruptions IS NOT b.eruptions)
   OR (b.waiting IS NOT NULL AND o.waiting IS NOT b.waiting);
SELECT 'FAIL: the row with nothing observed got the mixture mean' WHERE NOT ifnull((
  SELECT abs(o.eruptions - (SELECT sum(weight * json_extract(mean, '$[0]'))
                            FROM gmm_components((SELECT model FROM m)))) < 1e-9
     AND abs(o.waiting - (SELECT sum(weight * json_extract(mean, '$[1]'))
                          FROM gmm_components((SELECT model FROM m)))) < 1e-9
  FROM obs o WHERE id = 100), 0);
SELECT 'FAIL: ' || column_filled || ': gmm_impute does not beat the column mean by far'
FROM errors WHERE NOT ifnull(rmse_gmm_impute < 0.6 * rmse_column_mean, 0);
SELECT 'FAIL: 5 draws of every incomplete row, observed values kept' WHERE NOT ifnull((
  SELECT count(*) = 5 * (SELECT count(*) FROM observed WHERE eruptions IS NULL OR waiting IS NULL)
     AND sum(b.eruptions IS NOT NULL AND d.eruptions <> b.eruptions) = 0
     AND sum(b.waiting IS NOT NULL AND d.waiting <> b.waiting) = 0
     AND count(d.eruptions) = count(*) AND count(d.waiting) = count(*)
  FROM draws d JOIN observed b USING (id)), 0);
SELECT 'FAIL: the draws are reproducible and LIMIT gives the first ones' WHERE NOT ifnull((
  SELECT (SELECT group_concat(x, ';') FROM gmm_impute_draws((SELECT model FROM m), '[null,80]', 3, 42))
       = (SELECT group_concat(x, ';') FROM (SELECT x FROM gmm_impute_draws((SELECT model FROM m),
                                                                         '[null,80]', 100, 42)
                                             LIMIT 3))), 0);
SELECT 'FAIL: the completed tables differ, but not by much' WHERE NOT ifnull((
  SELECT count(DISTINCT mean_eruptions) = 5 AND max(mean_eruptions) - min(mean_eruptions) < 0.1
  FROM completed_means), 0);

SELECT 'ok impute';
