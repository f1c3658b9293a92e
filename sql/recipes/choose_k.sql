-- choose_k.sql -- recipe: choose the number of components k and the
-- covariance model by BIC in one gmm_fit call, as R's mclust does, and list
-- every candidate with its BIC and ICL.
--
-- When "k" or "covariance_type" in the spec is a list ("all": mclust's
-- fourteen models), every pair is fitted on one copy of the rows, each from
-- the cut of one hierarchical tree (init "hc", mclust's start), and the
-- model of lowest BIC is returned ("criterion": "icl" or "aic" chooses by
-- those); its gmm_info lists all the candidates under "candidates".
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/choose_k.sql
-- After the table it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok choose_k".
.bail on
.load ./gmm
.read sql/faithful.sql

-- Fit: k = 1..9 times mclust's fourteen models, 126 candidates.
CREATE TABLE best AS
  SELECT gmm_fit('{"k": [1, 2, 3, 4, 5, 6, 7, 8, 9], "covariance_type": "all"}',
                 eruptions, waiting) AS model
  FROM faithful;

-- The candidates, best first; delta_bic is the distance to the best
-- (rule of thumb: above 10 is strong evidence against that candidate).
CREATE TABLE candidates AS
  SELECT c.value ->> '$.k' AS k,
         c.value ->> '$.covariance_type' AS covariance_type,
         c.value ->> '$.bic' AS bic,
         c.value ->> '$.icl' AS icl,
         c.value ->> '$.log_likelihood' AS log_likelihood,
         json_type(c.value, '$.failed') = 'true' AS failed
  FROM best, json_each(gmm_info(best.model), '$.candidates') AS c;

.mode box
SELECT k, covariance_type,
       printf('%.2f', bic) AS bic,
       printf('%.2f', bic - min(bic) OVER ()) AS delta_bic,
       printf('%.2f', icl) AS icl,
       printf('%.2f', log_likelihood) AS log_likelihood
FROM candidates
WHERE NOT failed
ORDER BY bic
LIMIT 10;

-- The model returned is the winner: use it like any other model.
SELECT gmm_info(model) ->> '$.k' AS k,
       gmm_info(model) ->> '$.covariance_type' AS covariance_type,
       gmm_info(model) ->> '$.model_name' AS mclust_name,
       printf('%.2f', gmm_bic(model)) AS bic,
       (SELECT count(*) FROM candidates) AS candidates_tried
FROM best;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: 126 candidates, none failed' WHERE NOT ifnull((
  SELECT count(*) = 126 AND sum(failed) = 0 FROM candidates), 0);
SELECT 'FAIL: the model is the candidate of lowest BIC' WHERE NOT ifnull((
  SELECT gmm_bic(model) = (SELECT min(bic) FROM candidates) AND
         (gmm_info(model) ->> '$.k') || (gmm_info(model) ->> '$.covariance_type') =
         (SELECT k || covariance_type FROM candidates ORDER BY bic LIMIT 1)
  FROM best), 0);
-- On Old Faithful the winner is mclust's: EEE (tied) with k = 3, BIC
-- 2314.56 (mclust: -2314.3 in its sign, at its looser tolerance), then
-- VVE with k = 2.
SELECT 'FAIL: the winner is not k = 3 EEE, BIC 2314.56' WHERE NOT ifnull((
  SELECT gmm_info(model) ->> '$.k' = 3 AND gmm_info(model) ->> '$.model_name' = 'EEE'
         AND abs(gmm_bic(model) - 2314.56) < 0.01 FROM best), 0);
SELECT 'FAIL: the runner-up is not k = 2 VVE' WHERE NOT ifnull((
  SELECT k = 2 AND covariance_type = 'VVE' FROM candidates ORDER BY bic LIMIT 1 OFFSET 1), 0);
-- ICL never favours a candidate more than BIC does (it adds a penalty).
SELECT 'FAIL: an ICL below its BIC' WHERE NOT ifnull((
  SELECT min(icl - bic) >= 0 FROM candidates), 0);
-- A lower BIC never comes from ignoring the data: the winner beats k = 1.
SELECT 'FAIL: k = 1 beats the winner' WHERE NOT ifnull((
  SELECT min(bic) > (SELECT gmm_bic(model) FROM best) FROM candidates WHERE k = 1), 0);

SELECT 'ok choose_k';
