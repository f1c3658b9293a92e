-- per_group.sql -- recipe: one model per group with GROUP BY, and every row
-- scored by its own group's model through a join.
--
-- The data: hourly readings (temperature in °C, relative humidity in %) of
-- three weather stations, each switching between a "day" and a "night"
-- regime with its own centre. They are generated below with Gaussian noise
-- (a seeded LCG and the Box-Muller transform; SQLite's random() cannot be
-- seeded); with your own table, start at "Fit".
--
-- Run from the repository root:
--   sqlite3 :memory: < sql/recipes/per_group.sql
-- After the tables it prints, each check prints a line starting with FAIL
-- when it does not hold; the last line is "ok per_group".
.bail on
.load ./gmm

CREATE TABLE stations(station TEXT PRIMARY KEY, s INTEGER,
                      day_temp REAL, day_hum REAL, night_temp REAL, night_hum REAL);
INSERT INTO stations VALUES
  ('airport', 0, 24.0, 40.0, 12.0, 75.0),
  ('harbour', 1, 19.0, 70.0, 14.0, 90.0),
  ('summit',  2, 10.0, 55.0, -2.0, 85.0);

-- 240 readings per station (720 rows), the hour of day decides the regime.
CREATE TABLE readings(id INTEGER PRIMARY KEY, station TEXT, hour INTEGER, regime TEXT,
                      temp REAL, humidity REAL);
WITH RECURSIVE lcg(i, a, b) AS (   -- a seeded LCG, two draws per row
  SELECT 0, 1, 2
  UNION ALL
  SELECT i + 1, (b * 1103515245 + 12345) % 2147483648,
         ((b * 1103515245 + 12345) % 2147483648 * 1103515245 + 12345) % 2147483648
  FROM lcg WHERE i < 720),
normal(i, z1, z2) AS (               -- Box-Muller: two standard normal numbers per row
  SELECT i, sqrt(-2 * ln((a + 1) / 2147483648.0)) * cos(2 * pi() * b / 2147483648.0),
            sqrt(-2 * ln((a + 1) / 2147483648.0)) * sin(2 * pi() * b / 2147483648.0)
  FROM lcg WHERE i > 0)
INSERT INTO readings(station, hour, regime, temp, humidity)
SELECT st.station, n.i % 24,
       CASE WHEN n.i % 24 BETWEEN 8 AND 19 THEN 'day' ELSE 'night' END,
       CASE WHEN n.i % 24 BETWEEN 8 AND 19 THEN st.day_temp ELSE st.night_temp END + 1.5 * n.z1,
       CASE WHEN n.i % 24 BETWEEN 8 AND 19 THEN st.day_hum ELSE st.night_hum END + 4.0 * n.z2
FROM normal n JOIN stations st ON st.s = (n.i - 1) / 240;

-- Fit: one model per station, in one statement.
CREATE TABLE station_models AS
  SELECT station, count(*) AS n, gmm_fit(2, temp, humidity) AS model
  FROM readings
  GROUP BY station;

-- Apply: each reading gets the regime of its own station's model (join on
-- the group column), with its log density under that model.
CREATE TABLE labelled AS
  SELECT r.id, r.station, r.regime,
         gmm_predict(m.model, r.temp, r.humidity) AS cluster,
         gmm_score(m.model, r.temp, r.humidity) AS log_density
  FROM readings r JOIN station_models m USING (station);

.mode box
SELECT l.station, l.cluster, count(*) AS readings,
       printf('%.1f', avg(r.temp)) AS mean_temp_c,
       printf('%.1f', avg(r.humidity)) AS mean_humidity_pct,
       printf('%.2f', avg(l.log_density)) AS mean_log_density
FROM labelled l JOIN readings r USING (id)
GROUP BY l.station, l.cluster
ORDER BY l.station, l.cluster;

-- The components of each station's model, straight from the model BLOBs.
SELECT m.station, c.component, printf('%.2f', c.weight) AS weight,
       printf('%.1f', c.mean ->> '$[0]') AS temp_c, printf('%.1f', c.mean ->> '$[1]') AS humidity_pct
FROM station_models m, gmm_components(m.model) c
ORDER BY m.station, c.component;

-- ---- checks ------------------------------------------------------------------
.mode list
.headers off
SELECT 'FAIL: 720 readings, 240 per station' WHERE NOT ifnull((
  SELECT count(*) = 720 AND count(DISTINCT station) = 3 FROM readings), 0);
SELECT 'FAIL: one model per station, fitted on its 240 rows' WHERE NOT ifnull((
  SELECT count(*) = 3 AND sum(typeof(model) = 'blob') = 3 AND
         sum(gmm_info(model) ->> '$.n_samples' = 240) = 3 FROM station_models), 0);
-- Each station's clusters are its day and night regimes (up to the label
-- order): at most 2 % of a station's readings on the wrong side.
SELECT 'FAIL: station ' || station || ': clusters do not match day/night'
  FROM (SELECT station, sum(cluster = (regime = 'day')) AS same, count(*) AS n
        FROM labelled GROUP BY station)
  WHERE NOT ifnull(max(same, n - same) >= 0.98 * n, 0);
-- The day component's mean is near the station's day centre.
SELECT 'FAIL: station ' || st.station || ' has no component near its day centre'
  FROM stations st
  WHERE NOT ifnull((SELECT count(*) = 1
                    FROM station_models m, gmm_components(m.model) c
                    WHERE m.station = st.station
                      AND abs((c.mean ->> '$[0]') - st.day_temp) < 1
                      AND abs((c.mean ->> '$[1]') - st.day_hum) < 2), 0);
-- A station's own model explains its readings far better than another's.
SELECT 'FAIL: own model does not score higher than the other stations''' WHERE NOT ifnull((
  SELECT sum(gmm_score(own.model, r.temp, r.humidity)) >
         sum(gmm_score(other.model, r.temp, r.humidity)) + 1000
  FROM readings r JOIN station_models own USING (station)
       JOIN station_models other ON other.station <> r.station), 0);

SELECT 'ok per_group';
