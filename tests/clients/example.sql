-- example.sql -- gmm in the sqlite3 shell. From the repository root:
--   sqlite3 :memory: < tests/clients/example.sql
-- tests/clients/shell.sh runs it as it is and with the .load line replaced
-- by SELECT load_extension('./gmm');
.bail on
.load ./gmm
.read sql/faithful.sql
CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;
-- Cluster sizes, smallest first: 97|175
SELECT min(n), max(n) FROM (
  SELECT count(*) AS n FROM faithful
  GROUP BY gmm_predict((SELECT model FROM m), eruptions, waiting));
-- The model as JSON: 2|272|-1130.264
SELECT json_extract(gmm_info(model), '$.k'), json_extract(gmm_info(model), '$.n_samples'),
       printf('%.3f', json_extract(gmm_info(model), '$.log_likelihood')) FROM m;
-- Posteriors of one eruption: 0.963|1.0
SELECT printf('%.3f', max(value)), round(sum(value), 9)
FROM json_each(gmm_predict_proba((SELECT model FROM m), 3.0, 70));
