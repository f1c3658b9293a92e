-- passes.sql -- recipe: EM in passes over the rows, for tables larger than
-- memory, for rows spread over several databases, and for one model per
-- group, in plain SQL.
--
-- gmm_fit keeps every row of its group in memory. A fit in passes keeps
-- none: gmm_init samples the rows once (a fixed-size sample, the same
-- whatever order or split the rows come in), gmm_start makes the first
-- model from the sample, and each iteration is one pass: gmm_estep sums
-- the E-step of the current model over the rows, gmm_mstep turns the sums
-- into the next model. A recursive CTE runs the loop until
-- gmm_converged(model) (or max_iter, 100 by default: gmm_mstep goes no
-- further). Statistics of several parts add up with gmm_merge, so the rows
-- can stay in several databases.
--
-- The data: 6000 points from three 2-D Gaussian clusters, generated below
-- (a seeded LCG and the Box-Muller transform); with your own table, start
-- at "Fit in passes".
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/passes.sql
-- Each check prints a line starting with FAIL when it does not hold; the
-- last line is "ok passes".
.bail on
.load ./gmm

CREATE TABLE centres(c INTEGER PRIMARY KEY, cx REAL, cy REAL, sx REAL, sy REAL);
INSERT INTO centres VALUES (0, 0.0, 0.0, 1.0, 0.5), (1, 6.0, 2.0, 0.7, 1.2),
                           (2, 2.0, 7.0, 1.5, 0.8);

CREATE TABLE big(id INTEGER PRIMARY KEY, tenant TEXT, x REAL, y REAL);
WITH RECURSIVE lcg(i, a, b) AS (
  SELECT 0, 7, 11
  UNION ALL
  SELECT i + 1, (b * 1103515245 + 12345) % 2147483648,
         ((b * 1103515245 + 12345) % 2147483648 * 1103515245 + 12345) % 2147483648
  FROM lcg WHERE i < 6000),
normal(i, z1, z2) AS (
  SELECT i, sqrt(-2 * ln((a + 1) / 2147483648.0)) * cos(2 * pi() * b / 2147483648.0),
            sqrt(-2 * ln((a + 1) / 2147483648.0)) * sin(2 * pi() * b / 2147483648.0)
  FROM lcg WHERE i > 0)
INSERT INTO big(tenant, x, y)
SELECT CASE n.i % 2 WHEN 0 THEN 'north' ELSE 'south' END,
       c.cx + c.sx * n.z1 + (n.i % 2) * 3.0, c.cy + c.sy * n.z2
FROM normal n JOIN centres c ON c.c = n.i % 3;

-- Fit in passes: the loop of the README, over one table.
CREATE TABLE passes AS
WITH RECURSIVE em(i, model) AS (
  SELECT 0, gmm_start((SELECT gmm_init('{"k": 3, "seed": 1}', x, y) FROM big))
  UNION ALL
  SELECT i + 1, (SELECT gmm_mstep(em.model, gmm_estep(em.model, x, y)) FROM big)
  FROM em WHERE i < 100 AND NOT gmm_converged(em.model))
SELECT i, model FROM em;

-- Each model of the loop carries the log-likelihood of the rows under the
-- model before it (scikit-learn's lower_bound_); the first, from gmm_start,
-- that of the sample, scaled to every row.
.mode box
SELECT i AS pass, printf('%.6f', gmm_info(model) ->> '$.log_likelihood' / 6000.0)
         AS mean_log_likelihood,
       gmm_converged(model) AS converged
FROM passes ORDER BY i;

CREATE TABLE final AS SELECT model FROM passes ORDER BY i DESC LIMIT 1;

-- The same rows in three databases (ATTACH ':memory:' here; files in real
-- use): statistics per database, added up with gmm_merge. Only the sums
-- cross from database to database, never the rows.
ATTACH ':memory:' AS part0;
ATTACH ':memory:' AS part1;
ATTACH ':memory:' AS part2;
CREATE TABLE part0.t AS SELECT x, y FROM big WHERE id % 3 = 0;
CREATE TABLE part1.t AS SELECT x, y FROM big WHERE id % 3 = 1;
CREATE TABLE part2.t AS SELECT x, y FROM big WHERE id % 3 = 2;

CREATE TABLE federated AS
WITH RECURSIVE em(i, model) AS (
  SELECT 0, gmm_start((SELECT gmm_merge(s) FROM (
    SELECT gmm_init('{"k": 3, "seed": 1}', x, y) AS s FROM part0.t UNION ALL
    SELECT gmm_init('{"k": 3, "seed": 1}', x, y) FROM part1.t UNION ALL
    SELECT gmm_init('{"k": 3, "seed": 1}', x, y) FROM part2.t)))
  UNION ALL
  SELECT i + 1, gmm_mstep(em.model, (SELECT gmm_merge(s) FROM (
    SELECT gmm_estep(em.model, x, y) AS s FROM part0.t UNION ALL
    SELECT gmm_estep(em.model, x, y) FROM part1.t UNION ALL
    SELECT gmm_estep(em.model, x, y) FROM part2.t)))
  FROM em WHERE i < 100 AND NOT gmm_converged(em.model))
SELECT model FROM em ORDER BY i DESC LIMIT 1;

-- One model per group, in passes: the loop carries a model per tenant, and
-- the last model of each tenant is the one with the most passes.
CREATE TABLE tenant_models AS
WITH RECURSIVE em(i, tenant, model) AS (
  SELECT 0, tenant, gmm_start(gmm_init('{"k": 3, "seed": 1}', x, y)) FROM big GROUP BY tenant
  UNION ALL
  SELECT i + 1, em.tenant,
         (SELECT gmm_mstep(em.model, gmm_estep(em.model, x, y)) FROM big WHERE big.tenant = em.tenant)
  FROM em WHERE i < 100 AND NOT gmm_converged(em.model))
SELECT tenant, i AS n_passes, model
FROM (SELECT *, row_number() OVER (PARTITION BY tenant ORDER BY i DESC) AS last FROM em)
WHERE last = 1;

SELECT tenant, n_passes, gmm_converged(model) AS converged,
       gmm_info(model) ->> '$.means' AS means
FROM tenant_models ORDER BY tenant;

-- Apply: a model from passes is a model like any other.
SELECT gmm_predict((SELECT model FROM final), x, y) AS cluster, count(*) AS rows,
       printf('%.2f', avg(x)) AS mean_x, printf('%.2f', avg(y)) AS mean_y
FROM big GROUP BY cluster ORDER BY cluster;

-- Checks.
.mode list
-- The passes converged, and the log-likelihood never decreased.
SELECT 'FAIL: the passes did not converge' FROM final WHERE NOT gmm_converged(model);
SELECT 'FAIL: the log-likelihood decreased at pass ' || b.i
FROM passes a JOIN passes b ON b.i = a.i + 1
WHERE gmm_info(b.model) ->> '$.log_likelihood' < gmm_info(a.model) ->> '$.log_likelihood' - 1e-9;
-- With every row in the sample (6000 <= sample_size), passes start where
-- gmm_fit starts and run the same EM: the same model to rounding, after the
-- same number of iterations.
CREATE TABLE in_memory AS SELECT gmm_fit('{"k": 3, "seed": 1}', x, y) AS model FROM big;
SELECT 'FAIL: passes and gmm_fit differ in ' || p.key || ': ' || p.value || ' vs ' || f.value
FROM json_tree(gmm_info((SELECT model FROM final)), '$.means') p
JOIN json_tree(gmm_info((SELECT model FROM in_memory)), '$.means') f USING (fullkey)
WHERE p.atom IS NOT NULL AND abs(p.atom - f.atom) > 1e-9 * (1 + abs(f.atom));
SELECT 'FAIL: passes took ' || (gmm_info(p.model) ->> '$.n_iter') || ' iterations, gmm_fit '
       || (gmm_info(f.model) ->> '$.n_iter')
FROM final p, in_memory f
WHERE gmm_info(p.model) ->> '$.n_iter' != gmm_info(f.model) ->> '$.n_iter';
-- Three databases give the model of one table (sums in another order).
SELECT 'FAIL: the federated fit differs in ' || p.key
FROM json_tree(gmm_info((SELECT model FROM final)), '$.means') p
JOIN json_tree(gmm_info((SELECT model FROM federated)), '$.means') f USING (fullkey)
WHERE p.atom IS NOT NULL AND abs(p.atom - f.atom) > 1e-9 * (1 + abs(f.atom));
-- gmm_merge does not depend on the order the parts come in.
SELECT 'FAIL: gmm_merge depends on the order of its parts'
FROM (SELECT gmm_merge(s) AS a FROM (SELECT s FROM (
        SELECT 0 AS o, gmm_estep((SELECT model FROM final), x, y) AS s FROM part0.t UNION ALL
        SELECT 1, gmm_estep((SELECT model FROM final), x, y) FROM part1.t UNION ALL
        SELECT 2, gmm_estep((SELECT model FROM final), x, y) FROM part2.t) ORDER BY o)),
     (SELECT gmm_merge(s) AS b FROM (SELECT s FROM (
        SELECT 0 AS o, gmm_estep((SELECT model FROM final), x, y) AS s FROM part0.t UNION ALL
        SELECT 1, gmm_estep((SELECT model FROM final), x, y) FROM part1.t UNION ALL
        SELECT 2, gmm_estep((SELECT model FROM final), x, y) FROM part2.t) ORDER BY o DESC))
WHERE a IS NOT b;
-- Each tenant's model converged on its own 3000 rows.
SELECT 'FAIL: tenant ' || tenant || ' did not converge' FROM tenant_models
WHERE NOT gmm_converged(model) OR gmm_info(model) ->> '$.n_samples' != 3000;
SELECT 'FAIL: ' || count(*) || ' tenant models' FROM tenant_models HAVING count(*) != 2;

SELECT 'ok passes';
