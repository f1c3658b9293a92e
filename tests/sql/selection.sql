-- selection.sql -- self-checking: choosing the number of components and the
-- covariance type by BIC in one call on the Old Faithful data (272 rows):
-- k in 1..6 and 'full', 'tied', 'diag', 'spherical' give 24 candidates,
-- fitted on one buffered copy of the rows; the model returned is the one of
-- lowest BIC. Without init a selection starts every candidate from the cut
-- of one hierarchical tree (init 'hc', mclust's way), and the winner is
-- mclust's: k = 3 'tied' (EEE), the model gmm_fit gives with those options
-- and init 'hc'. With init 'kmeans' (one k-means start per candidate, as
-- scikit-learn) the winner is k = 2 'full', BIC 2322.19 as scikit-learn's.
--
-- Run by tests/run_sql_tests.sh from the repository root. Every check
-- prints a line starting with FAIL when its condition is not true (ifnull:
-- a NULL condition fails too); the last line is "ok selection".
-- Requirements cited as in the sources: spec (N), gmm_fit (N), apply (N).
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE sel AS
  SELECT gmm_fit('{"k": [1, 2, 3, 4, 5, 6],
                   "covariance_type": ["full", "tied", "diag", "spherical"]}',
                 eruptions, waiting) AS model
  FROM faithful;
CREATE TABLE info AS SELECT gmm_info(model) AS i FROM sel;
CREATE TABLE cand AS
  SELECT c.key AS pos, c.value ->> '$.k' AS k, c.value ->> '$.covariance_type' AS t,
         json_type(c.value, '$.failed') AS failed, c.value ->> '$.bic' AS bic,
         c.value ->> '$.log_likelihood' AS ll
  FROM info, json_each(info.i, '$.candidates') AS c;

-- gmm_fit (7), apply (4): every (k, covariance type) pair, k-major.
SELECT 'FAIL: 24 candidates' WHERE NOT ifnull((SELECT count(*) = 24 FROM cand), 0);
SELECT 'FAIL: candidate ' || pos || ' is k = ' || k || ' ' || t
  FROM cand
  WHERE NOT ifnull(k = 1 + pos / 4 AND
                   t = CASE pos % 4 WHEN 0 THEN 'full' WHEN 1 THEN 'tied'
                                    WHEN 2 THEN 'diag' ELSE 'spherical' END, 0);
SELECT 'FAIL: candidate k = ' || k || ' ' || t || ' has no BIC'
  FROM cand WHERE NOT ifnull(failed = 'false' AND typeof(bic) = 'real', 0);

-- gmm_fit (7): the winner has the lowest BIC of the candidates (the first
-- on ties), and its own numbers are that candidate's.
SELECT 'FAIL: the model''s BIC is not the lowest of the candidates' WHERE NOT ifnull((
  SELECT i ->> '$.bic' = (SELECT min(bic) FROM cand WHERE failed = 'false') FROM info), 0);
SELECT 'FAIL: the model is not the first candidate of lowest BIC' WHERE NOT ifnull((
  SELECT (i ->> '$.k') || (i ->> '$.covariance_type') =
         (SELECT k || t FROM cand WHERE failed = 'false' ORDER BY bic, pos LIMIT 1)
  FROM info), 0);
SELECT 'FAIL: gmm_bic is the winner''s BIC' WHERE NOT ifnull((
  SELECT gmm_bic(model) = (SELECT min(bic) FROM cand) FROM sel), 0);

-- On Old Faithful the winner is k = 3, 'tied' (mclust's EEE): the model of
-- gmm_fit with init 'hc', BIC 2314.56 (mclust's 2314.3 at its own tol).
SELECT 'FAIL: the winner is not k = 3 tied from init hc' WHERE NOT ifnull((
  SELECT i ->> '$.k' = 3 AND i ->> '$.covariance_type' = 'tied' AND
         i ->> '$.options.init' = 'hc' FROM info), 0);
SELECT 'FAIL: the winner differs from the fit of its options' WHERE NOT ifnull((
  SELECT json_extract(i, '$.weights') = json_extract(p, '$.weights') AND
         json_extract(i, '$.means') = json_extract(p, '$.means') AND
         json_extract(i, '$.covariances') = json_extract(p, '$.covariances') AND
         json_extract(i, '$.bic') = json_extract(p, '$.bic')
  FROM info, (SELECT gmm_info(gmm_fit('{"k": 3, "covariance_type": "tied", "init": "hc"}',
                                      eruptions, waiting)) AS p FROM faithful)), 0);
SELECT 'FAIL: BIC ' || (i ->> '$.bic') || ' is not 2314.56' FROM info
  WHERE NOT ifnull(abs((i ->> '$.bic') - 2314.56) < 0.01, 0);

-- spec (3): with init 'kmeans' the winner is scikit-learn's, k = 2 'full',
-- the model of gmm_fit(2, ...) (n_init 1, seed 0), BIC 2322.19.
SELECT 'FAIL: with init kmeans the winner differs from gmm_fit(2, ...)' WHERE NOT ifnull((
  SELECT json_extract(i, '$.k') = 2 AND json_extract(i, '$.covariance_type') = 'full' AND
         json_extract(i, '$.means') = json_extract(p, '$.means') AND
         abs((i ->> '$.bic') - 2322.19) < 0.01
  FROM (SELECT gmm_info(gmm_fit('{"k": [1, 2, 3, 4, 5, 6], "init": "kmeans",
                                  "covariance_type": ["full", "tied", "diag", "spherical"]}',
                                eruptions, waiting)) AS i FROM faithful),
       (SELECT gmm_info(gmm_fit(2, eruptions, waiting)) AS p FROM faithful)), 0);

-- spec (3), apply (4): the options are the lists asked for.
SELECT 'FAIL: options.k is the list' WHERE NOT ifnull((
  SELECT json_extract(i, '$.options.k') = '[1,2,3,4,5,6]' FROM info), 0);
SELECT 'FAIL: options.covariance_type is the list' WHERE NOT ifnull((
  SELECT json_extract(i, '$.options.covariance_type') = '["full","tied","diag","spherical"]'
  FROM info), 0);

-- apply (1): the selected model predicts as the k = 3 tied model does.
SELECT 'FAIL: predictions of the selected model' WHERE NOT ifnull((
  SELECT count(*) = 272 AND
         sum(gmm_predict(s.model, eruptions, waiting) =
             gmm_predict(p.model, eruptions, waiting)) = 272
  FROM faithful, sel s,
       (SELECT gmm_fit('{"k": 3, "covariance_type": "tied", "init": "hc"}', eruptions, waiting)
          AS model FROM faithful) p), 0);

SELECT 'ok selection';
