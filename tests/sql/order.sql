-- order.sql -- self-checking: gmm_fit puts its rows in a canonical order
-- before fitting, so the same rows in any order give the same model BLOB,
-- byte for byte: ORDER BY eruptions, ORDER BY random() (several times) and
-- reverse id order, with k-means and random initialisation, with weights,
-- and per group.
--
-- Run by tests/run_sql_tests.sh from the repository root. Every check
-- prints a line starting with FAIL when its condition is not true (ifnull:
-- a NULL condition fails too); the last line is "ok order".
-- Requirements cited as in the sources: gmm_fit (N).
.bail on
.load ./gmm
.read sql/faithful.sql

-- The rows stored in other orders (a table keeps its insertion order).
CREATE TABLE by_x AS SELECT * FROM faithful ORDER BY eruptions;
CREATE TABLE shuffled1 AS SELECT * FROM faithful ORDER BY random();
CREATE TABLE shuffled2 AS SELECT * FROM faithful ORDER BY random();
CREATE TABLE reversed AS SELECT * FROM faithful ORDER BY id DESC;

SELECT 'FAIL: the tables are not in different orders' WHERE NOT ifnull((
  SELECT count(DISTINCT o) >= 4 FROM (
    SELECT group_concat(id) AS o FROM faithful UNION ALL
    SELECT group_concat(id) FROM by_x UNION ALL
    SELECT group_concat(id) FROM shuffled1 UNION ALL
    SELECT group_concat(id) FROM reversed)), 0);

-- gmm_fit (6): ORDER BY x versus ORDER BY random().
SELECT 'FAIL: ORDER BY eruptions and ORDER BY random() give different BLOBs'
  WHERE NOT ifnull((
  SELECT (SELECT gmm_fit(2, eruptions, waiting) FROM by_x) =
         (SELECT gmm_fit(2, eruptions, waiting) FROM shuffled1)), 0);
SELECT 'FAIL: ORDER BY random() in a subquery' WHERE NOT ifnull((
  SELECT (SELECT gmm_fit(2, eruptions, waiting)
          FROM (SELECT * FROM faithful ORDER BY eruptions)) =
         (SELECT gmm_fit(2, eruptions, waiting)
          FROM (SELECT * FROM faithful ORDER BY random()))), 0);

CREATE TABLE specs(spec TEXT);
INSERT INTO specs VALUES
  ('{"k": 3}'),
  ('{"k": 3, "init": "random", "n_init": 3, "seed": 7}'),
  ('{"k": 3, "init": "random_from_data", "covariance_type": "diag"}'),
  ('{"k": 3, "init": "k-means++", "covariance_type": "spherical"}'),
  ('{"k": [2, 3], "covariance_type": ["full", "tied"]}');
SELECT 'FAIL: ' || spec || ' depends on the row order' FROM specs
  WHERE NOT ifnull(
    (SELECT gmm_fit(spec, eruptions, waiting) FROM faithful) =
      (SELECT gmm_fit(spec, eruptions, waiting) FROM shuffled1) AND
    (SELECT gmm_fit(spec, eruptions, waiting) FROM faithful) =
      (SELECT gmm_fit(spec, eruptions, waiting) FROM shuffled2) AND
    (SELECT gmm_fit(spec, eruptions, waiting) FROM faithful) =
      (SELECT gmm_fit(spec, eruptions, waiting) FROM reversed), 0);

-- With weights (ties in the features are ordered by weight).
SELECT 'FAIL: a weighted fit depends on the row order' WHERE NOT ifnull((
  SELECT (SELECT gmm_fit('{"k": 2, "weighted": true}', 1 + id % 4, eruptions, waiting)
          FROM faithful) =
         (SELECT gmm_fit('{"k": 2, "weighted": true}', 1 + id % 4, eruptions, waiting)
          FROM shuffled2)), 0);

-- gmm_fit (5), (6): per group.
SELECT 'FAIL: group ' || a.g || ' depends on the row order'
  FROM (SELECT id % 3 AS g, gmm_fit('{"k": 2, "init": "random"}', eruptions, waiting) AS m
        FROM faithful GROUP BY id % 3) a
  JOIN (SELECT id % 3 AS g, gmm_fit('{"k": 2, "init": "random"}', eruptions, waiting) AS m
        FROM shuffled1 GROUP BY id % 3) b USING (g)
  WHERE NOT ifnull(a.m = b.m, 0);

SELECT 'ok order';
