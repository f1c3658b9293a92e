-- bayes.sql -- recipe: let the data choose k. Fit Old Faithful with a
-- generous k = 6 under a Dirichlet-process prior (scikit-learn's
-- BayesianGaussianMixture): the prior switches off the components the rows
-- do not need, gmm_info counts the effective ones, gmm_components marks
-- them, and "prune": true returns the model without them.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/bayes.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok bayes".
.bail on
.load ./gmm
.read sql/faithful.sql

-- n_init 5: the best lower bound of five k-means starts.
CREATE TABLE m AS
  SELECT gmm_fit('{"k": 6, "prior": "dirichlet_process", "n_init": 5}',
                 eruptions, waiting) AS full,
         gmm_fit('{"k": 6, "prior": "dirichlet_process", "n_init": 5, "prune": true}',
                 eruptions, waiting) AS pruned
  FROM faithful;

.mode box
-- What the fit found: k, effective components, the evidence lower bound.
SELECT gmm_info(full) ->> '$.prior' AS prior,
       gmm_info(full) ->> '$.k' AS k,
       gmm_info(full) ->> '$.effective_components' AS effective,
       printf('%.2f', gmm_info(full) ->> '$.lower_bound') AS lower_bound,
       gmm_info(pruned) ->> '$.k' AS pruned_k,
       gmm_info(pruned) ->> '$.n_pruned' AS n_pruned
FROM m;

-- The six components: four with (nearly) no weight are switched off.
SELECT c.component, c.effective,
       printf('%.4f', c.weight) AS weight,
       printf('%.2f', c.mean ->> '$[0]') AS mean_eruptions,
       printf('%.1f', c.mean ->> '$[1]') AS mean_waiting
FROM m, gmm_components(m.full) AS c
ORDER BY c.component;

-- The pruned model's clusters: each row's label, counted.
SELECT gmm_predict(m.pruned, f.eruptions, f.waiting) AS cluster, count(*) AS rows,
       printf('%.2f', avg(f.eruptions)) AS avg_eruptions,
       printf('%.1f', avg(f.waiting)) AS avg_waiting
FROM faithful f, m
GROUP BY cluster ORDER BY cluster;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: two effective components of six' WHERE NOT ifnull((
  SELECT gmm_info(full) ->> '$.effective_components' = 2 AND gmm_info(full) ->> '$.k' = 6
  FROM m), 0);
SELECT 'FAIL: gmm_components marks the two effective ones, which hold the rows' WHERE NOT ifnull((
  SELECT sum(effective) = 2 AND sum(effective * weight) > 0.99
  FROM m, gmm_components(m.full)), 0);
SELECT 'FAIL: the pruned model has k = 2, 4 pruned' WHERE NOT ifnull((
  SELECT gmm_info(pruned) ->> '$.k' = 2 AND gmm_info(pruned) ->> '$.n_pruned' = 4 FROM m), 0);
SELECT 'FAIL: the lower bound is a finite number' WHERE NOT ifnull((
  SELECT json_type(gmm_info(full), '$.lower_bound') = 'real' FROM m), 0);
-- Label j of the pruned model is the j-th effective component of the full one.
SELECT 'FAIL: the pruned model predicts what the full one does' WHERE NOT ifnull((
  WITH kept AS (SELECT c.component AS full_label,
                       row_number() OVER (ORDER BY c.component) - 1 AS pruned_label
                FROM m, gmm_components(m.full) AS c WHERE c.effective)
  SELECT count(*) = 272 FROM faithful f, m JOIN kept
    ON kept.pruned_label = gmm_predict(m.pruned, f.eruptions, f.waiting)
  WHERE gmm_predict(m.full, f.eruptions, f.waiting) = kept.full_label), 0);
-- BIC compares maximum-likelihood fits: NULL for a variational model.
SELECT 'FAIL: gmm_bic of a variational model is NULL' WHERE NOT ifnull((
  SELECT gmm_bic(full) IS NULL FROM m), 0);

SELECT 'ok bayes';
