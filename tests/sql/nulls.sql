-- nulls.sql -- self-checking: the NULL rules of gmm_fit and of the apply
-- functions.
--
--   gmm_fit (3)  a row with a NULL feature is skipped and counted (n_skipped)
--   gmm_fit (4)  no usable row (empty table, every row NULL) gives NULL
--   apply (2)    a NULL model or any NULL feature gives NULL
--
-- Run by tests/run_sql_tests.sh from the repository root. Every check
-- prints a line starting with FAIL when its condition is not true (a NULL
-- condition fails too); the last line is "ok nulls".
.bail on
.load ./gmm

CREATE TABLE t(id INTEGER PRIMARY KEY, grp TEXT, x, y);
INSERT INTO t(grp, x, y) VALUES
  ('a', 0, 0), ('a', 1, 1), ('a', 2, 0.5), ('a', 0.5, 2), ('a', 3, 1), ('a', 1.5, 1.5),
  ('a', NULL, 1), ('a', 1, NULL), ('a', NULL, NULL),
  ('b', NULL, 1), ('b', 2, NULL), ('b', NULL, NULL);
CREATE TABLE empty(x, y);

-- gmm_fit (3): 3 rows of group a skipped and counted; 6 used.
CREATE TABLE m AS SELECT gmm_fit(1, x, y) AS model FROM t WHERE grp = 'a';
SELECT 'FAIL: n_skipped 3, n_samples 6' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_skipped' = 3 AND gmm_info(model) ->> '$.n_samples' = 6
  FROM m), 0);
SELECT 'FAIL: the skipped rows are left out of the fit' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.means' = gmm_info((SELECT gmm_fit(1, x, y) FROM t
                                                   WHERE grp = 'a' AND x IS NOT NULL
                                                   AND y IS NOT NULL)) ->> '$.means'
  FROM m), 0);
SELECT 'FAIL: the mean of the 6 usable rows is (4/3, 1)' WHERE NOT ifnull((
  SELECT abs((gmm_info(model) ->> '$.means[0][0]') - 4.0 / 3) < 1e-12
     AND abs((gmm_info(model) ->> '$.means[0][1]') - 1) < 1e-12 FROM m), 0);
-- With a JSON spec too.
SELECT 'FAIL: n_skipped with a JSON spec' WHERE NOT ifnull((
  SELECT gmm_info(gmm_fit('{"k":1}', x, y)) ->> '$.n_skipped' = 3 FROM t WHERE grp = 'a'), 0);

-- gmm_fit (4): no usable row gives NULL.
SELECT 'FAIL: empty table gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(2, x, y) IS NULL FROM empty), 0);
SELECT 'FAIL: empty table with a JSON spec gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit('{"k":2}', x, y) IS NULL FROM empty), 0);
SELECT 'FAIL: every row NULL gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(1, x, y) IS NULL FROM t WHERE grp = 'b'), 0);
SELECT 'FAIL: no row selected gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(1, x, y) IS NULL FROM t WHERE 0), 0);
SELECT 'FAIL: GROUP BY: NULL model for the all-NULL group only' WHERE NOT ifnull((
  SELECT group_concat(grp || '=' || typeof(model), ',') = 'a=blob,b=null' FROM
    (SELECT grp, gmm_fit(1, x, y) AS model FROM t GROUP BY grp ORDER BY grp)), 0);

-- apply (2): any NULL feature gives NULL.
SELECT 'FAIL: gmm_predict with a NULL feature' WHERE NOT ifnull((
  SELECT gmm_predict(model, NULL, 1) IS NULL AND gmm_predict(model, 1, NULL) IS NULL
     AND gmm_predict(model, NULL, NULL) IS NULL FROM m), 0);
SELECT 'FAIL: gmm_predict_proba with a NULL feature' WHERE NOT ifnull((
  SELECT gmm_predict_proba(model, NULL, 1) IS NULL AND gmm_predict_proba(model, 1, NULL) IS NULL
  FROM m), 0);
SELECT 'FAIL: gmm_score with a NULL feature' WHERE NOT ifnull((
  SELECT gmm_score(model, NULL, 1) IS NULL AND gmm_score(model, 1, NULL) IS NULL FROM m), 0);
SELECT 'FAIL: NULL features from a table: NULL exactly for the incomplete rows' WHERE NOT ifnull((
  SELECT count(*) = 12 AND count(gmm_predict(m.model, t.x, t.y)) = 6
     AND count(gmm_predict_proba(m.model, t.x, t.y)) = 6
     AND count(gmm_score(m.model, t.x, t.y)) = 6
     AND sum((gmm_predict(m.model, t.x, t.y) IS NULL) = (t.x IS NULL OR t.y IS NULL)) = 12
  FROM t, m), 0);

-- apply (2): a NULL model gives NULL, for every function.
SELECT 'FAIL: NULL model' WHERE NOT ifnull((
  SELECT gmm_predict(NULL, 1, 2) IS NULL AND gmm_predict_proba(NULL, 1, 2) IS NULL
     AND gmm_score(NULL, 1, 2) IS NULL AND gmm_info(NULL) IS NULL
     AND gmm_bic(NULL) IS NULL AND gmm_aic(NULL) IS NULL), 0);
SELECT 'FAIL: NULL model from an empty fit' WHERE NOT ifnull((
  SELECT gmm_predict(model, 1, 2) IS NULL AND gmm_info(model) IS NULL FROM
    (SELECT gmm_fit(2, x, y) AS model FROM empty)), 0);
SELECT 'FAIL: NULL model from a scalar subquery with no row' WHERE NOT ifnull((
  SELECT count(gmm_predict((SELECT model FROM m WHERE 0), x, y)) = 0 FROM t), 0);

SELECT 'ok nulls';
