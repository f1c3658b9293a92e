-- demo.sql -- the README's main job, run by `make demo` from the repository
-- root: load the extension, load the Old Faithful eruptions (272 rows, see
-- sql/faithful.sql for the source), fit a two-component Gaussian mixture in
-- one aggregate, keep the model in a table and use it.
.bail on
.load ./gmm
.read sql/faithful.sql

-- Fit: one row in, one model BLOB out.
CREATE TABLE models AS
  SELECT 'geyser' AS name, gmm_fit(2, eruptions, waiting) AS model FROM faithful;

.print
.print Old Faithful: 272 eruptions, clustered by gmm_fit(2, eruptions, waiting)
.print
.mode box
-- Apply: the cluster of every row, summarised per cluster.
SELECT gmm_predict((SELECT model FROM models), eruptions, waiting) AS cluster,
       count(*) AS eruptions,
       printf('%.2f', avg(eruptions)) AS mean_duration_min,
       printf('%.1f', avg(waiting)) AS mean_wait_min
FROM faithful
GROUP BY cluster
ORDER BY cluster;

-- The fitted mixture itself, and how well it describes the data.
SELECT printf('%.3f', json_extract(gmm_info(model), '$.weights[0]')) AS weight_0,
       printf('%.3f', json_extract(gmm_info(model), '$.weights[1]')) AS weight_1,
       printf('%.2f', gmm_bic(model)) AS bic,
       printf('%.2f', json_extract(gmm_info(model), '$.log_likelihood')) AS log_likelihood,
       json_extract(gmm_info(model), '$.n_iter') AS iterations
FROM models;

-- Soft assignments and log densities for a few eruptions in between.
SELECT eruptions, waiting,
       gmm_predict_proba((SELECT model FROM models), eruptions, waiting) AS posteriors,
       printf('%.3f', gmm_score((SELECT model FROM models), eruptions, waiting)) AS log_density
FROM faithful
WHERE eruptions BETWEEN 2.9 AND 3.4
ORDER BY eruptions;
