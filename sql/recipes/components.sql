-- components.sql -- recipe: look inside a model with gmm_components (one
-- row per component: weight, mean, covariance) and draw synthetic rows
-- from it with gmm_sample.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/components.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok components".
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;

.mode box
-- mean is [eruptions, waiting]; covariance is the 2 x 2 matrix (full
-- covariances), from which standard deviations and the correlation follow.
SELECT c.component,
       printf('%.3f', c.weight) AS weight,
       printf('%.2f', c.mean ->> '$[0]') AS mean_eruptions_min,
       printf('%.1f', c.mean ->> '$[1]') AS mean_waiting_min,
       printf('%.2f', sqrt(c.covariance ->> '$[0][0]')) AS sd_eruptions,
       printf('%.1f', sqrt(c.covariance ->> '$[1][1]')) AS sd_waiting,
       printf('%.2f', (c.covariance ->> '$[0][1]') /
                      sqrt((c.covariance ->> '$[0][0]') * (c.covariance ->> '$[1][1]')))
         AS correlation
FROM m, gmm_components(m.model) AS c
ORDER BY c.component;

-- 2000 synthetic eruptions; the same model, n and seed give the same rows.
CREATE TABLE synthetic AS
  SELECT sample, component,
         x ->> '$[0]' AS eruptions,
         x ->> '$[1]' AS waiting
  FROM gmm_sample((SELECT model FROM m), 2000, 42);

-- The synthetic rows against the model they came from.
SELECT s.component, count(*) AS rows,
       printf('%.3f', count(*) / 2000.0) AS share,
       printf('%.3f', c.weight) AS weight,
       printf('%.2f', avg(s.eruptions)) AS mean_eruptions,
       printf('%.2f', c.mean ->> '$[0]') AS model_eruptions,
       printf('%.1f', avg(s.waiting)) AS mean_waiting,
       printf('%.1f', c.mean ->> '$[1]') AS model_waiting
FROM synthetic s JOIN gmm_components((SELECT model FROM m)) c USING (component)
GROUP BY s.component ORDER BY s.component;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: 2 components, weights summing to 1' WHERE NOT ifnull((
  SELECT count(*) = 2 AND abs(sum(weight) - 1) < 1e-12
  FROM gmm_components((SELECT model FROM m))), 0);
-- gmm_components agrees with gmm_info, component by component.
SELECT 'FAIL: component ' || c.component || ' differs from gmm_info'
  FROM m, gmm_components(m.model) AS c
  WHERE NOT ifnull(c.weight = gmm_info(m.model) ->> ('$.weights[' || c.component || ']')
                   AND json(c.mean) = json(gmm_info(m.model) -> ('$.means[' || c.component || ']'))
                   AND json(c.covariance) =
                       json(gmm_info(m.model) -> ('$.covariances[' || c.component || ']')), 0);
SELECT 'FAIL: covariances symmetric with positive variances' WHERE NOT ifnull((
  SELECT sum(covariance ->> '$[0][1]' = covariance ->> '$[1][0]'
             AND covariance ->> '$[0][0]' > 0 AND covariance ->> '$[1][1]' > 0) = 2
  FROM gmm_components((SELECT model FROM m))), 0);
-- gmm_sample: 2000 rows numbered 0..1999, reproducible, LIMIT gives a prefix.
SELECT 'FAIL: 2000 samples' WHERE NOT ifnull((
  SELECT count(*) = 2000 AND min(sample) = 0 AND max(sample) = 1999 FROM synthetic), 0);
CREATE TABLE resampled AS SELECT * FROM gmm_sample((SELECT model FROM m), 2000, 42);
SELECT 'FAIL: same seed, same rows' WHERE NOT ifnull((
  SELECT count(*) = 2000 FROM synthetic s JOIN resampled t USING (sample)
  WHERE t.component = s.component AND t.x ->> '$[0]' = s.eruptions
    AND t.x ->> '$[1]' = s.waiting), 0);
SELECT 'FAIL: LIMIT 10 is the first 10 rows' WHERE NOT ifnull((
  SELECT count(*) = 10
  FROM (SELECT * FROM gmm_sample((SELECT model FROM m), 2000, 42) LIMIT 10) t
  JOIN synthetic s USING (sample) WHERE t.x ->> '$[0]' = s.eruptions), 0);
-- The synthetic rows follow the model: component shares near the weights,
-- means near the component means.
SELECT 'FAIL: component ' || s.component || ' of the synthetic rows is off'
  FROM (SELECT component, count(*) / 2000.0 AS share, avg(eruptions) AS e, avg(waiting) AS w
        FROM synthetic GROUP BY component) s
  JOIN gmm_components((SELECT model FROM m)) c USING (component)
  WHERE NOT ifnull(abs(s.share - c.weight) < 0.04 AND abs(s.e - (c.mean ->> '$[0]')) < 0.05
                   AND abs(s.w - (c.mean ->> '$[1]')) < 1, 0);
-- A model fitted on the synthetic rows finds the same two components again.
SELECT 'FAIL: refit on synthetic rows does not recover the means' WHERE NOT ifnull((
  SELECT count(*) = 2
  FROM gmm_components((SELECT gmm_fit(2, eruptions, waiting) FROM synthetic)) r,
       gmm_components((SELECT model FROM m)) c
  WHERE abs((r.mean ->> '$[0]') - (c.mean ->> '$[0]')) < 0.1
    AND abs((r.mean ->> '$[1]') - (c.mean ->> '$[1]')) < 1), 0);

SELECT 'ok components';
