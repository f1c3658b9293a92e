-- soft_assign.sql -- recipe: soft assignments. gmm_predict_proba returns a
-- JSON array of the k posteriors p(component | row); json_each turns it
-- into one row per (row, component, probability). The entropy of a row's
-- posteriors says how sure the assignment is: 0 bits is certain, log2(k)
-- bits is a coin toss between all k components.
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/soft_assign.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok soft_assign".
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;

-- Long form: one row per (eruption, component).
CREATE TABLE soft AS
  SELECT f.id, p.key AS component, p.value AS probability
  FROM faithful f, m,
       json_each(gmm_predict_proba(m.model, f.eruptions, f.waiting)) AS p;

-- Entropy of each eruption's assignment, in bits (0 log 0 = 0).
CREATE TABLE assignment AS
  SELECT id,
         (SELECT component FROM soft s2 WHERE s2.id = s.id
          ORDER BY probability DESC, component LIMIT 1) AS best,
         max(probability) AS best_probability,
         -sum(CASE WHEN probability > 0 THEN probability * log2(probability) ELSE 0 END)
           AS entropy_bits
  FROM soft s GROUP BY id;

.mode box
-- The long form for the three least certain eruptions.
SELECT s.id, f.eruptions, f.waiting, s.component,
       printf('%.4f', s.probability) AS probability,
       printf('%.3f', a.entropy_bits) AS entropy_bits
FROM soft s JOIN faithful f USING (id) JOIN assignment a USING (id)
WHERE s.id IN (SELECT id FROM assignment ORDER BY entropy_bits DESC LIMIT 3)
ORDER BY a.entropy_bits DESC, s.id, s.component;

-- How sure the assignments are, over all 272 eruptions.
SELECT CASE WHEN entropy_bits < 0.01 THEN 'under 0.01 bits (certain)'
            WHEN entropy_bits < 0.1  THEN '0.01 to 0.1 bits'
            WHEN entropy_bits < 0.5  THEN '0.1 to 0.5 bits'
            ELSE                          '0.5 bits or more (unsure)' END AS entropy,
       count(*) AS eruptions,
       printf('%.3f', min(best_probability)) AS lowest_best_probability
FROM assignment GROUP BY 1 ORDER BY min(entropy_bits);

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: 2 probabilities per eruption' WHERE NOT ifnull((
  SELECT count(*) = 2 * 272 AND count(DISTINCT id) = 272 AND min(component) = 0
         AND max(component) = 1 FROM soft), 0);
SELECT 'FAIL: eruption ' || id || ': probabilities do not sum to 1'
  FROM (SELECT id, sum(probability) AS total FROM soft GROUP BY id)
  WHERE NOT ifnull(abs(total - 1) < 1e-12, 0);
SELECT 'FAIL: entropy outside [0, 1] bit' WHERE NOT ifnull((
  SELECT min(entropy_bits) >= 0 AND max(entropy_bits) <= 1 FROM assignment), 0);
-- The most probable component is what gmm_predict returns.
SELECT 'FAIL: eruption ' || a.id || ': argmax differs from gmm_predict'
  FROM assignment a JOIN faithful f USING (id), m
  WHERE NOT ifnull(a.best = gmm_predict(m.model, f.eruptions, f.waiting), 0);
-- The least certain eruption lies between the two clusters (durations of
-- about 2 and 4.3 minutes), and most eruptions are near certain.
SELECT 'FAIL: the least certain eruption is not in between' WHERE NOT ifnull((
  SELECT f.eruptions BETWEEN 2.5 AND 3.8 FROM assignment a JOIN faithful f USING (id)
  ORDER BY a.entropy_bits DESC LIMIT 1), 0);
SELECT 'FAIL: most assignments certain' WHERE NOT ifnull((
  SELECT sum(entropy_bits < 0.1) > 0.9 * count(*) FROM assignment), 0);

SELECT 'ok soft_assign';
