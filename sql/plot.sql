-- plot.sql -- the data of docs/faithful.png, computed by the extension and
-- written as a gnuplot script fragment (run by sql/plot.sh, drawn by
-- sql/plot.gp): the Old Faithful eruptions with their cluster
-- (gmm_predict), the components' means, and each component's ellipses at
-- Mahalanobis distance 1 and 2 ("1 and 2 sigma") from gmm_components.
--
-- Run from the repository root:
--   sqlite3 -bail :memory: < sql/plot.sql > faithful-data.gp
--
-- The ellipse at distance s around mean m with covariance S = L L^T
-- (Cholesky, 2 x 2: l11 = sqrt(S11), l21 = S21 / l11,
-- l22 = sqrt(S22 - l21^2)) is m + s L (cos t, sin t), t in [0, 2 pi].
.bail on
.load ./gmm
.read sql/faithful.sql

CREATE TEMP TABLE m AS SELECT gmm_fit(2, eruptions, waiting) AS model FROM faithful;
CREATE TEMP TABLE labelled AS
  SELECT id, eruptions, waiting, gmm_predict((SELECT model FROM m), eruptions, waiting) AS cluster
  FROM faithful;
-- Components with their Cholesky factors (full covariances).
CREATE TEMP TABLE comp AS
  SELECT component, weight,
         mean ->> '$[0]' AS mx, mean ->> '$[1]' AS my,
         sqrt(covariance ->> '$[0][0]') AS l11,
         (covariance ->> '$[1][0]') / sqrt(covariance ->> '$[0][0]') AS l21,
         sqrt((covariance ->> '$[1][1]') -
              (covariance ->> '$[1][0]') * (covariance ->> '$[1][0]') / (covariance ->> '$[0][0]'))
           AS l22
  FROM gmm_components((SELECT model FROM m));

.mode list
.headers off
.separator ' '

-- Scalars and legend texts (gnuplot single-quoted strings).
SELECT printf('K = %d', gmm_info(model) ->> '$.k') FROM m;
SELECT printf('N = %d', count(*)) FROM faithful;
SELECT printf('subtitle = ''gmm_fit(2, eruptions, waiting): k = %d, %s covariances, BIC %.2f, log-likelihood %.2f; ellipses at Mahalanobis distance 1 and 2''',
              gmm_info(model) ->> '$.k', gmm_info(model) ->> '$.covariance_type',
              gmm_bic(model), gmm_info(model) ->> '$.log_likelihood')
FROM m;
SELECT 'array label[K]';
SELECT printf('label[%d] = ''cluster %d: %d eruptions, weight %.3f''',
              c.component + 1, c.component,
              (SELECT count(*) FROM labelled l WHERE l.cluster = c.component), c.weight)
FROM comp c ORDER BY c.component;

-- $points: eruptions, waiting, cluster.
.print '$points << EOD'
SELECT eruptions, waiting, cluster FROM labelled ORDER BY id;
.print EOD

-- $means: component, mean eruptions, mean waiting.
.print '$means << EOD'
SELECT component, mx, my FROM comp ORDER BY component;
.print EOD

-- $ellipses: one data set (index) per component and distance,
-- index 2 * component + (s - 1); 121 points each (the last closes the
-- curve), data sets separated by two blank lines.
.print '$ellipses << EOD'
WITH RECURSIVE step(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM step WHERE j < 122),
     dist(s) AS (VALUES (1), (2))
SELECT CASE WHEN j <= 120
            THEN printf('%.6f %.6f', mx + s * l11 * cos(2 * pi() * j / 120),
                        my + s * (l21 * cos(2 * pi() * j / 120) + l22 * sin(2 * pi() * j / 120)))
            ELSE '' END
FROM comp, dist, step
ORDER BY component, s, j;
.print EOD
