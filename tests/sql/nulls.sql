-- nulls.sql -- self-checking: the NULL rules of gmm_fit, of the passes and
-- of the apply functions, with the option missing 'skip' and with
-- 'marginalize' (the default).
--
--   spec (2)     the option missing: 'marginalize' | 'skip', in gmm_info
--   gmm_fit (3)  skip: a row with a NULL feature is skipped and counted
--                (n_skipped); marginalize: it is used through its observed
--                features (n_incomplete, missing_fraction), and only a row
--                with every feature NULL is skipped and counted
--   gmm_fit (4)  no usable row (empty table, every row NULL) gives NULL
--   pass (2)     gmm_estep reads rows by its model's option, gmm_init by its
--                spec's; pass (7) gmm_stats_info's counts
--   apply (2)    some features NULL: the marginal of the observed features;
--                every feature NULL or a NULL model: NULL
--   apply (6)    gmm_impute: observed values kept, missing ones filled
--   ext (5)      a JSON vector's null elements are missing values
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
  ('b', NULL, 1), ('b', 2, NULL), ('b', NULL, NULL),
  ('c', NULL, NULL), ('c', NULL, NULL);
CREATE TABLE empty(x, y);

-- ---- missing 'skip': today's rule -------------------------------------------
-- gmm_fit (3): 3 rows of group a skipped and counted; 6 used.
CREATE TABLE ms AS
  SELECT gmm_fit('{"k":1,"missing":"skip"}', x, y) AS model FROM t WHERE grp = 'a';
SELECT 'FAIL: skip: n_skipped 3, n_samples 6, n_incomplete 0' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_skipped' = 3 AND gmm_info(model) ->> '$.n_samples' = 6
     AND gmm_info(model) ->> '$.n_incomplete' = 0
     AND gmm_info(model) ->> '$.missing_fraction' = 0
     AND gmm_info(model) ->> '$.options.missing' = 'skip' FROM ms), 0);
SELECT 'FAIL: skip: the skipped rows are left out of the fit' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.means' = gmm_info((SELECT gmm_fit(1, x, y) FROM t
                                                   WHERE grp = 'a' AND x IS NOT NULL
                                                   AND y IS NOT NULL)) ->> '$.means'
  FROM ms), 0);
SELECT 'FAIL: skip: the mean of the 6 complete rows is (4/3, 1)' WHERE NOT ifnull((
  SELECT abs((gmm_info(model) ->> '$.means[0][0]') - 4.0 / 3) < 1e-12
     AND abs((gmm_info(model) ->> '$.means[0][1]') - 1) < 1e-12 FROM ms), 0);
SELECT 'FAIL: skip: a group of incomplete rows only gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit('{"k":1,"missing":"skip"}', x, y) IS NULL FROM t WHERE grp = 'b'), 0);
SELECT 'FAIL: skip: GROUP BY: NULL models for groups b and c' WHERE NOT ifnull((
  SELECT group_concat(grp || '=' || typeof(model), ',') = 'a=blob,b=null,c=null' FROM
    (SELECT grp, gmm_fit('{"k":1,"missing":"skip"}', x, y) AS model FROM t
     GROUP BY grp ORDER BY grp)), 0);

-- ---- missing 'marginalize', the default ------------------------------------
-- gmm_fit (3): only the all-NULL row is skipped; 8 rows used, 2 of them
-- with one of their 2 features missing: 2 missing cells of 16.
CREATE TABLE mm AS SELECT gmm_fit(1, x, y) AS model FROM t WHERE grp = 'a';
SELECT 'FAIL: marginalize: n_skipped 1, n_samples 8, n_incomplete 2, missing_fraction 0.125'
WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.n_skipped' = 1 AND gmm_info(model) ->> '$.n_samples' = 8
     AND gmm_info(model) ->> '$.n_incomplete' = 2
     AND gmm_info(model) ->> '$.missing_fraction' = 0.125
     AND gmm_info(model) ->> '$.options.missing' = 'marginalize' FROM mm), 0);
SELECT 'FAIL: marginalize: the default, the JSON spec and the option named agree' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit('{"k":1}', x, y) FROM t WHERE grp = 'a')
     AND model = (SELECT gmm_fit('{"k":1,"missing":"marginalize"}', x, y) FROM t
                  WHERE grp = 'a') FROM mm), 0);
SELECT 'FAIL: marginalize: the incomplete rows move the fit' WHERE NOT ifnull((
  SELECT gmm_info(mm.model) ->> '$.means' <> gmm_info(ms.model) ->> '$.means' FROM mm, ms), 0);
-- k = 1 diag, reg_covar 0, run to convergence: the maximum likelihood is
-- each feature's mean and variance over the rows where it is observed.
-- x: 0, 1, 2, 0.5, 3, 1.5, 1 (mean 9/7, variance 41.5/49);
-- y: 0, 1, 0.5, 2, 1, 1.5, 1 (mean 1, variance 2.5/7).
CREATE TABLE md AS
  SELECT gmm_fit('{"k":1,"covariance_type":"diag","reg_covar":0,"tol":0,"max_iter":300}',
                 x, y) AS model FROM t WHERE grp = 'a';
SELECT 'FAIL: marginalize: k = 1 diag is the available-case mean and variance' WHERE NOT ifnull((
  SELECT abs((gmm_info(model) ->> '$.means[0][0]') - 9.0 / 7) < 1e-12
     AND abs((gmm_info(model) ->> '$.means[0][1]') - 1) < 1e-12
     AND abs((gmm_info(model) ->> '$.covariances[0][0]') - 41.5 / 49) < 1e-12
     AND abs((gmm_info(model) ->> '$.covariances[0][1]') - 2.5 / 7) < 1e-12 FROM md), 0);
SELECT 'FAIL: marginalize: a JSON vector with null elements is the same row' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit(1, json_array(x, y)) FROM t WHERE grp = 'a') FROM mm), 0);

-- gmm_fit (4): no usable row gives NULL.
SELECT 'FAIL: empty table gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(2, x, y) IS NULL FROM empty), 0);
SELECT 'FAIL: empty table with a JSON spec gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit('{"k":2}', x, y) IS NULL FROM empty), 0);
SELECT 'FAIL: every row NULL gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(1, x, y) IS NULL FROM t WHERE grp = 'c'), 0);
SELECT 'FAIL: every vector of nulls only gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(1, json_array(x, y)) IS NULL FROM t WHERE grp = 'c'), 0);
SELECT 'FAIL: no row selected gives NULL' WHERE NOT ifnull((
  SELECT gmm_fit(1, x, y) IS NULL FROM t WHERE 0), 0);
SELECT 'FAIL: GROUP BY: NULL model for the all-NULL group only' WHERE NOT ifnull((
  SELECT group_concat(grp || '=' || typeof(model), ',') = 'a=blob,c=null' FROM
    (SELECT grp, gmm_fit(1, x, y) AS model FROM t WHERE grp <> 'b'
     GROUP BY grp ORDER BY grp)), 0);

-- ---- passes: pass (2), (7) -----------------------------------------------------
SELECT 'FAIL: gmm_estep under a marginalize model counts the incomplete rows' WHERE NOT ifnull((
  SELECT s ->> '$.n_rows' = 8 AND s ->> '$.n_skipped' = 1 AND s ->> '$.n_incomplete' = 2
     AND s ->> '$.n_missing' = 2
  FROM (SELECT gmm_stats_info(gmm_estep((SELECT model FROM mm), x, y)) AS s
        FROM t WHERE grp = 'a')), 0);
SELECT 'FAIL: gmm_estep under a skip model skips them' WHERE NOT ifnull((
  SELECT s ->> '$.n_rows' = 6 AND s ->> '$.n_skipped' = 3 AND s ->> '$.n_incomplete' = 0
     AND s ->> '$.n_missing' = 0
  FROM (SELECT gmm_stats_info(gmm_estep((SELECT model FROM ms), x, y)) AS s
        FROM t WHERE grp = 'a')), 0);
SELECT 'FAIL: gmm_init reads its own option missing' WHERE NOT ifnull((
  SELECT d ->> '$.n_rows' = 8 AND d ->> '$.n_skipped' = 1 AND d ->> '$.missing' = 'marginalize'
     AND s ->> '$.n_rows' = 6 AND s ->> '$.n_skipped' = 3 AND s ->> '$.missing' = 'skip'
  FROM (SELECT gmm_stats_info(gmm_init(1, x, y)) AS d,
               gmm_stats_info(gmm_init('{"k":1,"missing":"skip"}', x, y)) AS s
        FROM t WHERE grp = 'a')), 0);
-- One pass from a start gives what gmm_fit's one iteration from it gives.
CREATE TABLE m0 AS
  SELECT gmm_start(gmm_init('{"k":1,"max_iter":1,"tol":0}', x, y)) AS model
  FROM t WHERE grp = 'a';
SELECT 'FAIL: one pass with NULLs gives gmm_fit''s iteration' WHERE NOT ifnull((
  SELECT max(abs(p.value - f.value)) < 1e-12 FROM
    json_tree(gmm_info((SELECT gmm_mstep(m0.model, gmm_estep(m0.model, x, y))
                        FROM m0, t WHERE grp = 'a'))) AS p
    JOIN json_tree(gmm_info((SELECT gmm_fit(m0.model, x, y) FROM m0, t WHERE grp = 'a'))) AS f
      USING (fullkey)
  WHERE p.type IN ('integer', 'real') AND (p.fullkey LIKE '$.means%'
                                           OR p.fullkey LIKE '$.covariances%')), 0);

-- ---- apply functions: apply (2), (6), ext (5) ------------------------------------
-- Some features NULL: the observed ones are used. Under the k = 1 diag
-- model, the score of (NULL, y) is the 1-D normal log density of y.
SELECT 'FAIL: marginal score of (NULL, y) under k = 1 diag' WHERE NOT ifnull((
  SELECT abs(gmm_score(model, NULL, 0.25)
             - (-0.5 * (ln(2 * pi() * 2.5 / 7) + (0.25 - 1) * (0.25 - 1) / (2.5 / 7)))) < 1e-12
  FROM md), 0);
SELECT 'FAIL: apply functions on partly NULL rows are not NULL' WHERE NOT ifnull((
  SELECT gmm_predict(model, NULL, 1) = 0 AND gmm_predict(model, 1, NULL) = 0
     AND gmm_predict_proba(model, NULL, 1) = '[1]' AND gmm_predict_proba(model, 1, NULL) = '[1]'
     AND gmm_score(model, NULL, 1) IS NOT NULL AND gmm_score(model, 1, NULL) IS NOT NULL
  FROM mm), 0);
SELECT 'FAIL: a JSON vector with null elements is the same row' WHERE NOT ifnull((
  SELECT gmm_score(model, '[null,0.25]') = gmm_score(model, NULL, 0.25)
     AND gmm_score(model, '[3, null]') = gmm_score(model, 3, NULL)
     AND gmm_predict(model, '[null,null]') IS NULL FROM md), 0);
SELECT 'FAIL: every feature NULL gives NULL' WHERE NOT ifnull((
  SELECT gmm_predict(model, NULL, NULL) IS NULL AND gmm_predict_proba(model, NULL, NULL) IS NULL
     AND gmm_score(model, NULL, NULL) IS NULL AND gmm_score(model, NULL) IS NULL FROM mm), 0);
SELECT 'FAIL: NULL features from a table: NULL exactly for the all-NULL rows' WHERE NOT ifnull((
  SELECT count(*) = 14 AND count(gmm_predict(mm.model, t.x, t.y)) = 10
     AND count(gmm_predict_proba(mm.model, t.x, t.y)) = 10
     AND count(gmm_score(mm.model, t.x, t.y)) = 10
     AND sum((gmm_predict(mm.model, t.x, t.y) IS NULL) = (t.x IS NULL AND t.y IS NULL)) = 14
  FROM t, mm), 0);
-- gmm_impute: the observed values as given, the missing ones filled: under
-- k = 1 diag by the means; a row with every feature missing by the mixture
-- mean; a complete row unchanged.
SELECT 'FAIL: gmm_impute under k = 1 diag' WHERE NOT ifnull((
  SELECT abs((gmm_impute(model, NULL, 0.25) ->> '$[0]') - 9.0 / 7) < 1e-12
     AND gmm_impute(model, NULL, 0.25) ->> '$[1]' = 0.25
     AND gmm_impute(model, 3, NULL) ->> '$[0]' = 3
     AND abs((gmm_impute(model, 3, NULL) ->> '$[1]') - 1) < 1e-12
     AND gmm_impute(model, NULL, NULL) = gmm_impute(model, '[null,null]')
     AND gmm_impute(model, NULL, NULL) = json_extract(gmm_info(model), '$.means[0]')
     AND gmm_impute(model, 0.1, 0.2) = '[0.1,0.2]' FROM md), 0);
SELECT 'FAIL: gmm_impute leaves no NULL in the table' WHERE NOT ifnull((
  SELECT count(*) = 14 AND sum(json_type(v, '$[0]') IN ('integer', 'real')
                               AND json_type(v, '$[1]') IN ('integer', 'real')) = 14
     AND sum(t.x IS NOT NULL AND (v ->> '$[0]') <> t.x) = 0
     AND sum(t.y IS NOT NULL AND (v ->> '$[1]') <> t.y) = 0
  FROM (SELECT t.*, gmm_impute(mm.model, t.x, t.y) AS v FROM t, mm) AS t), 0);

-- apply (2): a NULL model gives NULL, for every function.
SELECT 'FAIL: NULL model' WHERE NOT ifnull((
  SELECT gmm_predict(NULL, 1, 2) IS NULL AND gmm_predict_proba(NULL, 1, 2) IS NULL
     AND gmm_score(NULL, 1, 2) IS NULL AND gmm_impute(NULL, 1, NULL) IS NULL
     AND gmm_info(NULL) IS NULL AND gmm_bic(NULL) IS NULL AND gmm_aic(NULL) IS NULL), 0);
SELECT 'FAIL: NULL model from an empty fit' WHERE NOT ifnull((
  SELECT gmm_predict(model, 1, 2) IS NULL AND gmm_info(model) IS NULL FROM
    (SELECT gmm_fit(2, x, y) AS model FROM empty)), 0);
SELECT 'FAIL: NULL model from a scalar subquery with no row' WHERE NOT ifnull((
  SELECT count(gmm_predict((SELECT model FROM mm WHERE 0), x, y)) = 0 FROM t), 0);

SELECT 'ok nulls';
