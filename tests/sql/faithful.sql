-- faithful.sql -- self-checking: gmm_fit(2, ...) on the Old Faithful data
-- (sql/faithful.sql, 272 rows) against scikit-learn's GaussianMixture(2):
-- clusters of 97 and 175 rows, means (2.04, 54.5) and (4.29, 80.0), BIC
-- 2322.19.
--
-- Run by tests/run_sql_tests.sh from the repository root:
--   sqlite3 -bail :memory: < tests/sql/faithful.sql
-- Every check prints a line starting with FAIL when its condition is not
-- true (ifnull: a NULL condition fails too); the last line is "ok faithful".
-- Requirements cited as in the sources: gmm_fit (N), apply (N).
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;
CREATE TABLE info AS SELECT gmm_info(model) AS i FROM m;
CREATE TABLE p AS
  SELECT f.id, gmm_predict(m.model, f.eruptions, f.waiting) AS c,
         gmm_predict_proba(m.model, f.eruptions, f.waiting) AS proba,
         gmm_score(m.model, f.eruptions, f.waiting) AS score
  FROM faithful f, m;

-- gmm_fit (6): one model BLOB.
SELECT 'FAIL: gmm_fit returns one BLOB' WHERE NOT ifnull((
  SELECT count(*) = 1 AND typeof(model) = 'blob' FROM m), 0);
-- apply (4): shape and training summary.
SELECT 'FAIL: k, d, covariance_type' WHERE NOT ifnull((
  SELECT i ->> '$.k' = 2 AND i ->> '$.d' = 2 AND i ->> '$.covariance_type' = 'full'
  FROM info), 0);
SELECT 'FAIL: n_samples 272, n_skipped 0' WHERE NOT ifnull((
  SELECT i ->> '$.n_samples' = 272 AND i ->> '$.n_skipped' = 0 FROM info), 0);
SELECT 'FAIL: converged' WHERE NOT ifnull((
  SELECT json_type(i, '$.converged') = 'true' FROM info), 0);

-- Cluster sizes 97 and 175, in either order.
SELECT 'FAIL: cluster sizes are 97 and 175' WHERE NOT ifnull((
  SELECT group_concat(n, ',') FROM
    (SELECT count(*) AS n FROM p GROUP BY c ORDER BY n)) = '97,175', 0);
-- Means near (2.04, 54.5) and (4.29, 80.0), one per component.
SELECT 'FAIL: a mean near (2.04, 54.5)' WHERE NOT ifnull((
  SELECT count(*) = 1 FROM json_each((SELECT i FROM info), '$.means')
  WHERE abs(value ->> '$[0]' - 2.04) < 0.05 AND abs(value ->> '$[1]' - 54.5) < 0.5), 0);
SELECT 'FAIL: a mean near (4.29, 80.0)' WHERE NOT ifnull((
  SELECT count(*) = 1 FROM json_each((SELECT i FROM info), '$.means')
  WHERE abs(value ->> '$[0]' - 4.29) < 0.05 AND abs(value ->> '$[1]' - 80.0) < 0.5), 0);
-- Weights 97/272 and 175/272 or near them (0.356, 0.644).
SELECT 'FAIL: weights near 0.356 and 0.644' WHERE NOT ifnull((
  SELECT abs(min(value) - 0.356) < 0.005 AND abs(max(value) - 0.644) < 0.005
  FROM json_each((SELECT i FROM info), '$.weights')), 0);
-- The short-eruption cluster is the 97-row one.
SELECT 'FAIL: the short-eruption component holds 97 rows' WHERE NOT ifnull((
  SELECT count(*) = 97 FROM p JOIN faithful f USING (id), m
  WHERE p.c = gmm_predict(m.model, 2.04, 54.5)), 0);

-- BIC within 0.01 of scikit-learn's 2322.19; gmm_bic equals gmm_info's.
SELECT 'FAIL: bic ' || (SELECT gmm_bic(model) FROM m) || ' is not 2322.19'
  WHERE NOT ifnull((SELECT abs(gmm_bic(model) - 2322.19) < 0.01 FROM m), 0);
SELECT 'FAIL: gmm_bic = gmm_info bic, gmm_aic = gmm_info aic' WHERE NOT ifnull((
  SELECT gmm_bic(model) = i ->> '$.bic' AND gmm_aic(model) = i ->> '$.aic' FROM m, info), 0);
-- AIC = BIC - p ln n + 2p with p = 11 free parameters.
SELECT 'FAIL: aic from bic' WHERE NOT ifnull((
  SELECT abs(gmm_aic(model) - (gmm_bic(model) - 11 * ln(272) + 22)) < 1e-9 FROM m), 0);

-- apply (1): every posterior in [0, 1], summing to 1, argmax = gmm_predict.
SELECT 'FAIL: every row predicted' WHERE NOT ifnull((
  SELECT count(*) = 272 AND count(c) = 272 AND min(c) = 0 AND max(c) = 1 FROM p), 0);
SELECT 'FAIL: every proba in [0, 1]' WHERE NOT ifnull((
  SELECT count(*) = 2 * 272 AND min(value) >= 0 AND max(value) <= 1
  FROM p, json_each(p.proba)), 0);
SELECT 'FAIL: proba sums to 1' WHERE NOT ifnull((
  SELECT max(abs(s - 1)) < 1e-12 FROM
    (SELECT (SELECT sum(value) FROM json_each(proba)) AS s FROM p)), 0);
SELECT 'FAIL: gmm_predict is the argmax of gmm_predict_proba (row ' || id || ')'
  FROM p WHERE NOT ifnull(c = (SELECT key FROM json_each(proba)
                               ORDER BY value DESC, key LIMIT 1), 0);
-- apply (1): the total score is the log-likelihood gmm_info reports.
SELECT 'FAIL: sum of gmm_score = log_likelihood' WHERE NOT ifnull((
  SELECT abs(sum(score) - (SELECT i ->> '$.log_likelihood' FROM info)) < 1e-8 FROM p), 0);

-- gmm_fit (6): deterministic.
SELECT 'FAIL: the same fit twice gives the same BLOB' WHERE NOT ifnull((
  SELECT model = (SELECT gmm_fit(2, eruptions, waiting) FROM faithful) FROM m), 0);

SELECT 'ok faithful';
