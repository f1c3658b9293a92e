"""driver.py -- make bench: gmm (core alone and through SQL) against
scikit-learn, side by side in one run. Started by bench/run.sh; see there
for the environment it reads.

1. Generates the data sets once (bench/gen_data.c, seeded) into
   $BUILD/bench/data/*.f64, and loads each into a SQLite database beside it
   (*.db, table pts); later runs reuse both.
2. For each data set and covariance type: seconds per EM iteration and peak
   memory of the core (bench_core), of SELECT gmm_fit(...) (bench_sql) and of
   scikit-learn (bench_sklearn.py, run with OPENBLAS_CORETYPE and
   OPENBLAS_L2_SIZE removed from its environment), each from its own start
   and then the core and scikit-learn from one start; gmm over
   BENCH_GMM_ITER times scikit-learn's iterations, through SQL over at least
   BENCH_SQL_MIN_S seconds of them. Then this machine's rates
   (bench/rates.py) and the core's full-covariance iteration on 1, 2 and
   every core against the floor they give (floor_work, floor_seconds).
3. The SQL-level figures on 1M x 2, k 3 (bench_sklearn.py sql).
4. EM in passes (bench_passes, unless BENCH_PASSES=0): one streamed EM
   iteration over 1M x 2 and 1M x 8 against the scan and the in-memory
   iteration; a 10M x 8 table fitted in passes under PRAGMA
   hard_heap_limit, where gmm_fit must fail; python/gmm_dask.py over 8
   shards with 2 local workers against the same passes in one process.
5. EM with missing values (issue 11): seconds per EM iteration of the core
   on 1M x 8, k 8, complete (rows sorted) against 10 % of the cells masked
   at random (bench_core missing=0.1), full and diag; then, when it exists,
   bench/impute_rmse.py (gmm_impute's RMSE beside column means and
   scikit-learn's IterativeImputer).
6. mclust's covariance models (issue 12): seconds per EM iteration of the
   core on 100k x 8, k 4 (one set for all), for each of the fourteen
   (EII ... VVV, bench_core COV by name), BENCH_MCLUST_ITER iterations
   (50), and the fixed cost (max_iter 0); the ratio to VVV (full) per
   model, the five with an iterative M-step (VEI, VEE, VEV, EVE, VVE)
   flagged, and any above 1.5x VVV in bold.
7. Priors (issue 13): seconds per EM iteration of the core on 1M x 2, k 3
   and 100k x 16, k 8, for each of full, tied, diag, spherical and each
   prior (bench_core PRIOR: none, dirichlet_process,
   dirichlet_distribution, conjugate), all four as (t(M) - t(1)) / (M - 1)
   since a variational fit needs max_iter >= 1, M = BENCH_BAYES_ITER (50);
   the ratio to maximum likelihood, a variational one above 1.3x in bold;
   beside them scikit-learn's GaussianMixture and BayesianGaussianMixture
   (both weight priors) on the same rows (bench_sklearn.py bayes, M =
   BENCH_BAYES_SK_ITER, 10) and the speed-ups.
8. Prints the Markdown report and writes it to bench/RESULTS.md (or
   $BENCH_OUT). BENCH_ONLY=floors runs the floors of step 2 alone.
   BENCH_ONLY=passes runs step 4 alone, BENCH_ONLY=missing step
   5 alone, BENCH_ONLY=mclust step 6 alone, BENCH_ONLY=bayes step 7 alone,
   and each writes its report to $BENCH_OUT, default
   $BUILD/bench/RESULTS-passes.md, RESULTS-missing.md, RESULTS-mclust.md or
   RESULTS-bayes.md, never bench/RESULTS.md.
"""
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(BUILD, "bench")
DATA = os.path.join(BIN, "data")
EXT = os.environ.get("GMM_EXTENSION", "./gmm")
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")
CC = os.environ.get("CC", "cc")
CFLAGS = os.environ.get("CFLAGS_USED", "")
ITER = int(os.environ.get("BENCH_ITER", "5"))
# gmm's fits run this many times scikit-learn's iterations: its iterations are
# 10 to 60 times cheaper, and (t(M) - t(0)) / M needs t(M) - t(0) well above the
# run-to-run spread of t(0).
GMM_ITER = int(os.environ.get("BENCH_GMM_ITER", "4"))
# Through SQL the fixed part (SQLite's feed, the sort, the start) varies by a
# tenth of a second from run to run, so its fits run at least this many
# seconds of iterations (from the core's time per iteration, measured first).
SQL_MIN_S = float(os.environ.get("BENCH_SQL_MIN_S", "0.5"))
SQL_ITER = int(os.environ.get("BENCH_SQL_ITER", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
COVS = ("full", "diag")
ONLY = os.environ.get("BENCH_ONLY", "")
PASSES = os.environ.get("BENCH_PASSES", "1") != "0"
DASK_ITER = int(os.environ.get("BENCH_DASK_ITER", "10"))
OOC_ITER = int(os.environ.get("BENCH_OOC_ITER", "3"))
OOC_HEAP = int(os.environ.get("BENCH_OOC_HEAP", "64000000"))
OOC_CACHE = int(os.environ.get("BENCH_OOC_CACHE", "-2000"))
MCLUST_ITER = int(os.environ.get("BENCH_MCLUST_ITER", "50"))
BAYES_ITER = int(os.environ.get("BENCH_BAYES_ITER", "50"))
BAYES_SK_ITER = int(os.environ.get("BENCH_BAYES_SK_ITER", "10"))
REPO = os.path.dirname(HERE)
if ONLY not in ("", "passes", "missing", "mclust", "bayes", "floors"):
    sys.exit(f"BENCH_ONLY must be empty, 'passes', 'missing', 'mclust', 'bayes' or 'floors', "
             f"not {ONLY!r}")
if MCLUST_ITER < 1:
    sys.exit("BENCH_MCLUST_ITER must be at least 1")
if BAYES_ITER < 2 or BAYES_SK_ITER < 2:
    sys.exit("BENCH_BAYES_ITER and BENCH_BAYES_SK_ITER must be at least 2 (s/iter is "
             "(t(M) - t(1)) / (M - 1))")
if ONLY == "passes" and not PASSES:
    sys.exit("BENCH_ONLY=passes and BENCH_PASSES=0 leave nothing to run")
OUT = os.environ.get("BENCH_OUT") or (
    os.path.join(BIN, f"RESULTS-{ONLY}.md") if ONLY else os.path.join(HERE, "RESULTS.md"))

# (rows, d, k, seed, iteration factor): the smaller sets run BENCH_ITER times
# the factor iterations, so that every timed fit lasts long enough to time.
SETS = [
    (1000000, 2, 3, 1, 1),
    (1000000, 2, 16, 2, 1),
    (1000000, 8, 8, 3, 1),
    (100000, 16, 8, 4, 4),
    (100000, 64, 16, 5, 2),
]
if os.environ.get("BENCH_SETS"):
    wanted = os.environ["BENCH_SETS"].split()
    SETS = [s for s in SETS if f"{s[0]}x{s[1]}k{s[2]}" in wanted]

# scikit-learn runs without these (OpenBLAS picks its own kernel and cache size).
SKLEARN_ENV = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}

T_START = time.time()


def log(msg):
    print(f"[{time.time() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run_json(cmd, env=None):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best(cmd, keys, env=None):
    """Runs cmd REPEAT times; keeps the fastest time of each key (and the
    rest of the first run's fields), recomputing seconds per iteration."""
    return fastest([run_json(cmd, env) for _ in range(REPEAT)], keys)


def fastest(runs, keys):
    """best()'s summary of runs: the first run's fields, the fastest time of
    each key, the largest peak."""
    r = dict(runs[0])
    for key in keys:
        r[key] = min(x[key] for x in runs)
    r["peak_mib"] = max(x.get("peak_above_data_mib", x.get("peak_above_base_mib", 0.0))
                        for x in runs)
    return r


def name(n, d, k):
    return f"n{n}_d{d}_k{k}"


def label(n, d, k):
    rows = f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k"
    return f"{rows} x {d}, k {k}"


def ensure_data(n, d, k, seed):
    f64 = os.path.join(DATA, name(n, d, k) + f"_s{seed}.f64")
    db = f64[:-4] + ".db"
    os.makedirs(DATA, exist_ok=True)
    if not (os.path.exists(f64) and os.path.getsize(f64) == n * d * 8):
        log(f"generating {f64}")
        subprocess.run([os.path.join(BIN, "gen_data"), f64, str(n), str(d), str(k), str(seed)],
                       check=True)
        if os.path.exists(db):
            os.remove(db)
    if not os.path.exists(db):
        log(f"loading {db}")
        subprocess.run([os.path.join(BIN, "bench_sql"), "load", f64, str(n), str(d), db],
                       check=True)
    return f64, db


def measure(n, d, k, seed, factor):
    f64, db = ensure_data(n, d, k, seed)
    it = ITER * factor
    git = it * GMM_ITER
    res = {}
    for cov in COVS:
        log(f"{label(n, d, k)} {cov}: core")
        core = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov, str(git)],
                    ("init_s", "fit_s"))
        log(f"{label(n, d, k)} {cov}: core, rows sorted")
        core_sorted = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov,
                            str(git), "sorted"], ("init_s", "fit_s"))
        sql_it = max(git, math.ceil(SQL_MIN_S / max(
            (core_sorted["fit_s"] - core_sorted["init_s"]) / git, 1e-4)))
        log(f"{label(n, d, k)} {cov}: SQL, {sql_it} iterations")
        sql = best([os.path.join(BIN, "bench_sql"), "fit", db, EXT, str(d), str(k), cov,
                    str(sql_it)], ("init_s", "fit_s"))
        log(f"{label(n, d, k)} {cov}: scikit-learn")
        sk = best([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "fit", f64, str(n), str(d),
                   str(k), cov, str(it)], ("fit1_s", "fit_s"), env=SKLEARN_ENV)
        # Fair starts: both from the same weights, means and precisions.
        start = os.path.join(DATA, f"{name(n, d, k)}_s{seed}_{cov}.start")
        if not os.path.exists(start):
            subprocess.run([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "start", f64, str(n),
                            str(d), str(k), cov, start], check=True, env=SKLEARN_ENV)
        log(f"{label(n, d, k)} {cov}: core, rows sorted, and scikit-learn, from one start")
        core_start = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov,
                           str(git), "sorted", f"start={start}"], ("init_s", "fit_s"))
        # The same EM as scikit-learn's M iterations, for the log-likelihoods.
        core_check = run_json([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov,
                               str(it), "sorted", f"start={start}"])
        sk_start = best([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "fit", f64, str(n),
                         str(d), str(k), cov, str(it), start], ("fit1_s", "fit_s"), env=SKLEARN_ENV)
        core["per_iter_s"] = (core["fit_s"] - core["init_s"]) / git
        core_sorted["per_iter_s"] = (core_sorted["fit_s"] - core_sorted["init_s"]) / git
        core_start["per_iter_s"] = (core_start["fit_s"] - core_start["init_s"]) / git
        core_start["mean_ll_at_sklearn_iter"] = core_check["mean_ll"]
        sql["per_iter_s"] = (sql["fit_s"] - sql["init_s"]) / sql_it
        sql["iter"] = sql_it
        sk["per_iter_s"] = (sk["fit_s"] - sk["fit1_s"]) / (it - 1)
        sk_start["per_iter_s"] = (sk_start["fit_s"] - sk_start["fit1_s"]) / (it - 1)
        res[cov] = {"core": core, "core_sorted": core_sorted, "sql": sql, "sklearn": sk,
                    "core_start": core_start, "sklearn_start": sk_start}
        log(f"  s/iter core {core['per_iter_s']:.4f}  sorted {core_sorted['per_iter_s']:.4f}  "
            f"SQL {sql['per_iter_s']:.4f}  sklearn {sk['per_iter_s']:.4f}")
    return {"n": n, "d": d, "k": k, "seed": seed, "iter": it, "gmm_iter": git,
            "data_mib": n * d * 8 / 2**20, "res": res}


# ---- EM in passes (BENCH_PASSES) ---------------------------------------------------

# One streamed EM iteration over these (full covariance), against the scan
# and the in-memory iteration.
STREAM_SETS = [(1000000, 2, 3, 1), (1000000, 8, 8, 3)]
# The out-of-core table: 10M x 8, k 8 (about 800 MB as a SQLite file).
BIG = (10000000, 8, 8, 6)
OOC_FIT_K = 3
OOC_RSS_BOUND_MIB = 64     # the target: peak resident growth of the passes
# The Dask comparison: this set split into N_SHARDS shard databases.
DASK_SET = (1000000, 2, 3, 1)
N_SHARDS = 8
DASK_WORKERS = 2
PASS_SPEC = '{"k":%d,"init":"random_from_data","tol":0}'


def run_out(cmd, env=None, timeout=None):
    """Runs cmd; returns (exit status, stdout, stderr), never raising on failure."""
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return 124, e.stdout or "", f"timed out after {timeout} s"


def warm_file(path):
    """Reads a file once, so that it is in the OS page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 23):
            pass


def in_memory_per_iter(results, n, d, k, seed):
    """s/iter of gmm_fit through SQL (full) on the set: from the EM-iteration
    table when this run measured it, else measured here the same way."""
    for r in results:
        if (r["n"], r["d"], r["k"]) == (n, d, k):
            return r["res"]["full"]["sql"]["per_iter_s"], "EM-iteration table"
    _, db = ensure_data(n, d, k, seed)
    log(f"{label(n, d, k)} full: SQL in memory (bench_sql fit)")
    sql = best([os.path.join(BIN, "bench_sql"), "fit", db, EXT, str(d), str(k), "full", str(ITER)],
               ("init_s", "fit_s"))
    return (sql["fit_s"] - sql["init_s"]) / ITER, f"bench_sql fit, M = {ITER}"


def measure_streamed(results):
    rows = []
    for n, d, k, seed in STREAM_SETS:
        _, db = ensure_data(n, d, k, seed)
        inmem, source = in_memory_per_iter(results, n, d, k, seed)
        log(f"{label(n, d, k)}: one streamed EM iteration (bench_passes stream)")
        r = run_json([os.path.join(BIN, "bench_passes"), "stream", db, EXT, str(d), str(k),
                      str(REPEAT)])
        r.update({"n": n, "in_memory_s": inmem, "in_memory_from": source})
        r["bound_s"] = 1.5 * (r["scan_s"] + inmem)
        r["ratio"] = r["streamed_s"] / (r["scan_s"] + inmem)
        log(f"  scan {r['scan_s']:.4f}  in memory {inmem:.4f}  streamed {r['streamed_s']:.4f}  "
            f"ratio {r['ratio']:.2f}")
        rows.append(r)
    return rows


def ensure_big():
    """The 10M x 8 database, cached; its .f64 is removed once loaded."""
    n, d, k, seed = BIG
    f64 = os.path.join(DATA, name(n, d, k) + f"_s{seed}.f64")
    db = f64[:-4] + ".db"
    os.makedirs(DATA, exist_ok=True)
    if not os.path.exists(db):
        if not (os.path.exists(f64) and os.path.getsize(f64) == n * d * 8):
            log(f"generating {f64} ({n * d * 8 / 1e6:.0f} MB)")
            subprocess.run([os.path.join(BIN, "gen_data"), f64, str(n), str(d), str(k), str(seed)],
                           check=True)
        log(f"loading {db}")
        subprocess.run([os.path.join(BIN, "bench_sql"), "load", f64, str(n), str(d), db],
                       check=True)
    if os.path.exists(f64):
        os.remove(f64)
    return db


def measure_out_of_core():
    n, d, k, _ = BIG
    db = ensure_big()
    log(f"{label(n, d, k)}: passes under hard_heap_limit {OOC_HEAP} (bench_passes outofcore, "
        f"{REPEAT} fresh process(es))")
    warm_file(db)
    runs = [run_json([os.path.join(BIN, "bench_passes"), "outofcore", db, EXT, str(d), str(k),
                      str(OOC_ITER), str(OOC_HEAP), str(OOC_CACHE), str(OOC_FIT_K)])
            for _ in range(REPEAT)]
    r = dict(min(runs, key=lambda x: x["per_iter_mean_s"]))   # the fastest run's times
    r["per_iter_s"] = r["per_iter_mean_s"]
    r["init_s"] = min(x["init_s"] for x in runs)
    for key in ("peak_growth_mib", "sqlite_heap_highwater_mib", "peak_growth_with_fit_mib"):
        r[key] = max(x[key] for x in runs)
    r["peak_growth_runs_mib"] = [x["peak_growth_mib"] for x in runs]
    r["fit_failed"] = all(x["fit_failed"] for x in runs)
    r["fit_s"] = min(x["fit_s"] for x in runs)
    r["db_mib"] = os.path.getsize(db) / 2**20
    r["n"] = n
    msg = r["fit_error"]
    r["message_ok"] = (r["fit_failed"] and "bytes" in msg and "passes" in msg
                       and all(x["fit_error"] == msg for x in runs))
    log(f"  s/iter {r['per_iter_s']:.3f}  peak growth {r['peak_growth_mib']:.1f} MiB  "
        f"gmm_fit failed: {r['fit_failed']}")
    return r


def ensure_shards():
    """DASK_SET's rows split by rowid into N_SHARDS databases, cached."""
    import sqlite3
    n, d, k, seed = DASK_SET
    _, src = ensure_data(n, d, k, seed)
    where = os.path.join(DATA, f"shards{N_SHARDS}_" + name(n, d, k) + f"_s{seed}")
    os.makedirs(where, exist_ok=True)
    paths = []
    per = (n + N_SHARDS - 1) // N_SHARDS
    cols = ", ".join(f"x{j}" for j in range(d))
    for i in range(N_SHARDS):
        path = os.path.join(where, f"shard{i}.db")
        paths.append(path)
        if os.path.exists(path):
            continue
        log(f"writing {path}")
        tmp = path + ".tmp"
        if os.path.exists(tmp):
            os.remove(tmp)
        c = sqlite3.connect(tmp)
        c.execute("PRAGMA journal_mode=OFF")
        c.execute("ATTACH ? AS src", (src,))
        c.execute("CREATE TABLE pts(%s)" % ", ".join(f"x{j} REAL" for j in range(d)))
        c.execute(f"INSERT INTO pts SELECT {cols} FROM src.pts WHERE rowid > ? AND rowid <= ? "
                  "ORDER BY rowid", (i * per, (i + 1) * per))
        c.commit()
        c.close()
        os.rename(tmp, path)
    return paths


def shard_pass_serial(paths, model, query):
    """gmm_dask.shard_pass (gmm_estep) over every shard, one after the other in
    this process: a Dask iteration's work without Dask."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gmm_dask_bench",
                                                  os.path.join(REPO, "python", "gmm_dask.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True       # no __pycache__ in python/
    spec.loader.exec_module(mod)
    ext = os.path.abspath(EXT)
    t = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        for p in paths:
            mod.shard_pass(p, ext, query, "gmm_estep", model)
        t = min(t, time.perf_counter() - t0)
    return t


def measure_dask():
    n, d, k, _ = DASK_SET
    res = {"n": n, "d": d, "k": k, "shards": N_SHARDS, "workers": DASK_WORKERS,
           "iter": DASK_ITER,
           "spec": (PASS_SPEC % k)[:-1] + f',"max_iter":{DASK_ITER}}}'}
    script = os.path.join(REPO, "python", "gmm_dask.py")
    rc, ver, err = run_out([PYTHON, "-c", "import distributed; print(distributed.__version__)"])
    if not os.path.exists(script):
        res["skipped"] = "python/gmm_dask.py is missing"
    elif rc != 0:
        res["skipped"] = ("Dask distributed is missing for " + PYTHON +
                          " (apt-get install python3-distributed)")
    if "skipped" in res:
        log("Dask: skipped: " + res["skipped"])
        return res
    res["distributed"] = ver.strip()
    paths = ensure_shards()
    query = "SELECT " + ", ".join(f"x{j}" for j in range(d)) + " FROM pts"
    res["query"] = query
    one_bin = os.path.join(BIN, "passes_one.bin")
    dask_bin = os.path.join(BIN, "passes_dask.bin")
    log(f"passes in one process over {N_SHARDS} attached shards (bench_passes attached)")
    one = [run_json([os.path.join(BIN, "bench_passes"), "attached", EXT, res["spec"], str(d),
                     str(DASK_ITER), one_bin] + paths) for _ in range(REPEAT)]
    res["one_per_iter_s"] = min(x["per_iter_s"] for x in one)
    res["one_fastest_iter_s"] = min(x["per_iter_best_s"] for x in one)
    res["one_init_s"] = min(x["init_s"] for x in one)
    with open(one_bin, "rb") as f:
        one_model = f.read()
    log(f"Dask: python/gmm_dask.py --local {DASK_WORKERS}, {N_SHARDS} shards")
    runs = []
    for _ in range(REPEAT):
        if os.path.exists(dask_bin):
            os.remove(dask_bin)
        t0 = time.perf_counter()
        rc, _, err = run_out([PYTHON, script, "--spec", res["spec"], "--query", query,
                              "--local", str(DASK_WORKERS),
                              "--extension", EXT, "--time", "--out", dask_bin] + paths,
                             timeout=600)
        wall = time.perf_counter() - t0
        line = [x for x in err.splitlines() if x.startswith("gmm_dask: time ")]
        if rc != 0 or not line:
            res["error"] = (err.strip().splitlines() or [f"exit status {rc}"])[-1]
            log("Dask failed: " + res["error"])
            break
        t = json.loads(line[-1][len("gmm_dask: time "):])
        t["wall_s"] = wall
        with open(dask_bin, "rb") as f:
            t["same_bytes"] = f.read() == one_model
        runs.append(t)
    if runs:
        res["dask_per_iter_s"] = min(x["seconds_per_iteration"] for x in runs)
        res["dask_fastest_iter_s"] = min(min(x["iteration_seconds"]) for x in runs)
        res["dask_init_s"] = min(x["init_seconds"] for x in runs)
        res["dask_wall_s"] = min(x["wall_s"] for x in runs)
        res["dask_iterations"] = runs[0]["iterations"]
        res["same_bytes"] = all(x["same_bytes"] for x in runs)
        res["serial_shard_pass_s"] = shard_pass_serial(paths, one_model, query)
        log(f"  s/iter one process {res['one_per_iter_s']:.4f}  Dask {res['dask_per_iter_s']:.4f}"
            f"  same bytes: {res['same_bytes']}")
    return res


def measure_passes(results):
    return {"streamed": measure_streamed(results), "out_of_core": measure_out_of_core(),
            "dask": measure_dask()}


def passes_report(p):
    """The report's sections on EM in passes."""
    out = ["", "## EM in passes: method", "",
           "The passes are SQL: `gmm_init` + `gmm_start` for the initial model, then per EM "
           "iteration `SELECT gmm_mstep(?1, (SELECT gmm_estep(?1, x0, ..., xd) FROM pts))` with "
           "the model bound as ?1 (no rows kept: the statistics are O(k d^2)). Models come from "
           "`gmm_start(gmm_init('" + PASS_SPEC.replace("%d", "K") + "', x0, ..., xd))` (full "
           "covariance). bench/bench_passes.c, the system libsqlite3 loading `" + EXT + "`.",
           "",
           "- **Streamed iteration**: on the 1M x 2 (k 3) and 1M x 8 (k 8) sets, in one process on "
           "the file database already in the OS page cache (one warming scan first); each time the "
           f"fastest of {REPEAT}. *scan* = `SELECT sum(x0 + ... + xd) FROM pts`; *in-memory* = "
           "s/iter of `gmm_fit` through SQL, full (the EM-iteration table's SQL column when this "
           "run measured the set, else bench_sql the same way); *streamed* = the statement above "
           "(E-step over every row, then the M-step). Target: streamed <= 1.5 x (scan + "
           "in-memory). Also shown: *no-op aggregate* = `SELECT bench_noop(?1, x0, ..., xd) FROM "
           "pts`, an aggregate registered by bench_passes that reads its arguments as gmm_estep "
           "does and computes nothing (SQLite's scan plus the cost of calling an aggregate per "
           "row); *E-step alone* = `SELECT length(gmm_estep(?1, ...)) FROM pts`.",
           f"- **Out of core**: a {label(*BIG[:3])} table (bench/gen_data.c, seed {BIG[3]}), a "
           f"file database in {DATA}, read once before (so the OS page cache holds it: this "
           "measures the process's memory, not the disk). A fresh process opens it read-only, "
           "loads the extension, takes its resident set, then runs `PRAGMA hard_heap_limit = "
           f"{OOC_HEAP}; PRAGMA cache_size = {OOC_CACHE}; PRAGMA mmap_size = 0`, the initial "
           f"pass and {OOC_ITER} iterations; *peak growth* = the process's peak resident set after "
           "the passes (VmHWM of /proc/self/status: getrusage's ru_maxrss of a process started by "
           "vfork + exec, as Python's subprocess starts it, is carried over from the parent, here "
           "the driver's tens of MiB) minus the resident set before the first statement. Then, under the same limit, "
           f"`SELECT gmm_fit({OOC_FIT_K}, x0, ..., x7) FROM pts`, which must fail with an error "
           f"saying how many bytes the rows need and pointing to passes. {REPEAT} fresh "
           "process(es): s/iter is the fastest run's mean, memory the largest.",
           f"- **Dask**: the {label(*DASK_SET[:3])} set split by rowid into {N_SHARDS} shard "
           "databases (cached beside the data); `python3 python/gmm_dask.py --spec SPEC --query "
           f"'SELECT x0, x1 FROM pts' --local {DASK_WORKERS} --time shard*.db` with "
           f"max_iter {DASK_ITER} and tol 0 in the spec (a LocalCluster of {DASK_WORKERS} worker processes, 1 thread each; every "
           "shard pass opens its database and loads the extension on the worker) against the same "
           "passes in one process over the shards ATTACHed (bench_passes attached: `gmm_merge` "
           "over a UNION ALL of the per-shard `gmm_estep`s). s/iter is the mean over the "
           f"iterations of a run (gmm_dask's own `--time` figure: pass, merge, M-step), the "
           f"fastest of {REPEAT} runs; cluster start-up is outside it. *serial shard passes* = "
           "gmm_dask's `shard_pass` (gmm_estep) called for every shard one after the other in "
           "the bench's Python, no Dask: what a Dask iteration does, without scheduling or "
           "parallelism."]
    out += ["", "## EM in passes: one streamed iteration (full covariance)", "",
            "| data set | scan s | in-memory s/iter | streamed s/iter | bound 1.5 x (scan + "
            "in-memory) | streamed / (scan + in-memory) | met | in-memory from |",
            "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in p["streamed"]:
        out.append(f"| {label(r['n'], r['d'], r['k'])} | {fmt_s(r['scan_s'])} | "
                   f"{fmt_s(r['in_memory_s'])} | **{fmt_s(r['streamed_s'])}** | "
                   f"{fmt_s(r['bound_s'])} | {r['ratio']:.2f} | "
                   f"{'yes' if r['streamed_s'] <= r['bound_s'] else '**no**'} | "
                   f"{r['in_memory_from']} |")
    out += ["", "Where a streamed iteration's time goes (seconds; per row beyond the scan in ns):",
            "", "| data set | scan | no-op aggregate | E-step alone | streamed | aggregate call "
            "per row | gmm_estep per row beyond the call | in-memory iteration per row |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in p["streamed"]:
        n = r["rows"]
        out.append(f"| {label(r['n'], r['d'], r['k'])} | {fmt_s(r['scan_s'])} | "
                   f"{fmt_s(r['noop_s'])} | {fmt_s(r['estep_s'])} | {fmt_s(r['streamed_s'])} | "
                   f"{(r['noop_s'] - r['scan_s']) / n * 1e9:.0f} | "
                   f"{(r['estep_s'] - r['noop_s']) / n * 1e9:.0f} | "
                   f"{r['in_memory_s'] / n * 1e9:.0f} |")
    out += ["", "Aggregate call = no-op aggregate - scan (the scan's `sum(x0 + ... + xd)` costs "
            "about as much as passing the row to an aggregate, hence figures near 0); gmm_estep "
            "beyond the call = E-step alone - no-op aggregate: checking the model argument and "
            "reading the features (gmm_estep's row reader), copying them into the batch, and the "
            "batch's E-step on threads, during which the scan waits. The in-memory iteration is "
            "the whole EM iteration (E-step and M-step) on buffered rows."]
    o = p["out_of_core"]
    out += ["", f"## EM in passes: out of core, {label(o['n'], o['d'], o['k'])} "
            f"({o['db_mib']:.0f} MiB file), PRAGMA hard_heap_limit = {o['hard_heap_limit']}", "",
            "| what | measured |", "|---|---:|",
            f"| initial pass: `gmm_start(gmm_init(...))` | {o['init_s']:.2f} s |",
            f"| EM iteration (mean of the fastest run's {o['iter']}: "
            f"{', '.join(f'{t:.2f}' for t in o['iter_s'])} s) | **{o['per_iter_s']:.2f} s** |",
            f"| per row | {o['per_iter_s'] / o['n'] * 1e9:.0f} ns |",
            f"| resident set before the first statement | {o['base_rss_mib']:.1f} MiB |",
            f"| peak resident growth over the passes (largest of the runs: "
            f"{', '.join(f'{x:.1f}' for x in o['peak_growth_runs_mib'])}) | "
            f"**{o['peak_growth_mib']:.1f} MiB** |",
            f"| SQLite heap high-water mark over the passes | "
            f"{o['sqlite_heap_highwater_mib']:.1f} MiB |",
            f"| `SELECT gmm_fit({OOC_FIT_K}, x0, ..., x7) FROM pts` | "
            f"{'failed' if o['fit_failed'] else '**succeeded**'} after {o['fit_s']:.2f} s "
            f"(sqlite3_step {o['fit_rc']}, extended code {o['fit_extended_rc']}) |",
            f"| peak resident growth including that attempt | "
            f"{o['peak_growth_with_fit_mib']:.1f} MiB |",
            "", "gmm_fit's error:", "", "```", o["fit_error"], "```"]
    q = p["dask"]
    out += ["", f"## EM in passes: Dask, {label(q['n'], q['d'], q['k'])} in {q['shards']} shards, "
            f"{q['workers']} local workers, {q['iter']} iterations", ""]
    if "skipped" in q or "error" in q:
        out.append(f"Not measured: {q.get('skipped') or q.get('error')}.")
        if "one_per_iter_s" in q:
            out.append(f"One process over the attached shards: {fmt_s(q['one_per_iter_s'])} s/iter.")
        return out
    out += [f"Spec `{q['spec']}`, query `{q['query']}`, Dask distributed {q['distributed']}.", "",
            "| | s/iter (mean of the fastest run) | fastest iteration s | initial pass s |",
            "|---|---:|---:|---:|",
            f"| one process, {q['shards']} shards attached | **{fmt_s(q['one_per_iter_s'])}** | "
            f"{fmt_s(q['one_fastest_iter_s'])} | {fmt_s(q['one_init_s'])} |",
            f"| Dask, {q['workers']} workers | **{fmt_s(q['dask_per_iter_s'])}** | "
            f"{fmt_s(q['dask_fastest_iter_s'])} | {fmt_s(q['dask_init_s'])} |",
            f"| serial shard passes (gmm_dask.shard_pass x {q['shards']}, no Dask) | | "
            f"{fmt_s(q['serial_shard_pass_s'])} | |",
            "",
            f"Dask / one process: {ratio(q['dask_per_iter_s'], q['one_per_iter_s'])} per "
            f"iteration ({ratio(q['dask_fastest_iter_s'], q['one_fastest_iter_s'])} on the fastest "
            f"iterations); the whole command (cluster start, {q['dask_iterations']} iterations, "
            f"stop) {q['dask_wall_s']:.1f} s. Model BLOB the same bytes as one process's: "
            f"{'yes' if q['same_bytes'] else '**no**'}."]
    return out


def passes_targets(p):
    rows = []

    def verdict(ok):
        return "met" if ok else "**missed**"

    for r in p["streamed"]:
        rows.append(f"| one streamed EM iteration, full, {label(r['n'], r['d'], r['k'])}: <= 1.5 x "
                    f"(scan + in-memory iteration) = {fmt_s(r['bound_s'])} s | "
                    f"{fmt_s(r['streamed_s'])} s ({r['ratio']:.2f}x) | "
                    f"{verdict(r['streamed_s'] <= r['bound_s'])} |")
    o = p["out_of_core"]
    lim = OOC_RSS_BOUND_MIB
    rows.append(f"| passes over {label(o['n'], o['d'], o['k'])} under hard_heap_limit "
                f"{o['hard_heap_limit']}: peak resident growth <= {lim} MiB | "
                f"{o['peak_growth_mib']:.1f} MiB | {verdict(o['peak_growth_mib'] <= lim)} |")
    rows.append(f"| `gmm_fit` over {label(o['n'], o['d'], o['k'])} under the same limit fails, "
                f"saying the bytes the rows need and pointing to passes | "
                f"{'fails' if o['fit_failed'] else 'succeeds'} | {verdict(o['message_ok'])} |")
    q = p["dask"]
    if "same_bytes" in q:
        rows.append(f"| Dask over {q['shards']} shards: the model of the same passes in one "
                    f"process, byte for byte | {'same' if q['same_bytes'] else 'different'} | "
                    f"{verdict(q['same_bytes'])} |")
    return rows


# ---- EM with missing values (issue 11) ----------------------------------------------

# The set whose EM iteration with 10 % of its cells missing must cost at most
# MISSING_BOUND x the complete-data iteration.
MISSING_SET = (1000000, 8, 8, 3)
MISSING_FRAC = 0.1
MISSING_BOUND = 3.0
# Iterations: BENCH_ITER times this. The fixed cost with missing cells (the
# mean-filled copy for the initialisation, the final pass) is several EM
# iterations' worth, and s/iter is what is left after subtracting it.
MISSING_FACTOR = 4
IMPUTE_SCRIPT = os.path.join(HERE, "impute_rmse.py")
IMPUTE_TIMEOUT = 1800


def measure_missing():
    n, d, k, seed = MISSING_SET
    f64, _ = ensure_data(n, d, k, seed)
    it = ITER * MISSING_FACTOR
    res = {"n": n, "d": d, "k": k, "seed": seed, "iter": it, "frac": MISSING_FRAC,
           "data_mib": n * d * 8 / 2**20, "res": {}}
    core = [os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k)]
    for cov in COVS:
        cmds = {"complete": core + [cov, str(it), "sorted"],
                "missing": core + [cov, str(it), f"missing={MISSING_FRAC}"]}
        log(f"{label(n, d, k)} {cov}: core, complete (sorted) and {MISSING_FRAC:.0%} of the cells "
            f"missing, alternating, {REPEAT} time(s)")
        # Alternating the two, rather than best() on each in turn, so that
        # load from other processes during the run weighs on both alike.
        runs = {key: [] for key in cmds}
        for _ in range(REPEAT):
            for key, cmd in cmds.items():
                runs[key].append(run_json(cmd))
        r = {}
        for key in cmds:
            r[key] = fastest(runs[key], ("init_s", "fit_s"))
            r[key]["per_iter_s"] = (r[key]["fit_s"] - r[key]["init_s"]) / it
            r[key]["per_iter_runs_s"] = [(x["fit_s"] - x["init_s"]) / it for x in runs[key]]
        c, m = r["complete"]["per_iter_s"], r["missing"]["per_iter_s"]
        r["ratio"] = m / c if c > 0 else float("inf")
        res["res"][cov] = r
        log(f"  s/iter complete {c:.4f}  missing {m:.4f}  ratio {r['ratio']:.2f}")
    res["impute"] = measure_impute()
    return res


def measure_impute():
    """bench/impute_rmse.py's Markdown, or why there is none."""
    rel = os.path.relpath(IMPUTE_SCRIPT, REPO)
    if not os.path.exists(IMPUTE_SCRIPT):
        log(f"imputation: skipped: {rel} does not exist")
        return {"script": rel, "skipped": f"{rel} does not exist"}
    cmd = [PYTHON, IMPUTE_SCRIPT, "--extension", EXT]
    log("imputation: " + " ".join(cmd))
    t0 = time.perf_counter()
    # scikit-learn's environment: IterativeImputer runs on OpenBLAS too.
    rc, out, err = run_out(cmd, env=SKLEARN_ENV, timeout=IMPUTE_TIMEOUT)
    r = {"script": rel, "command": f"{PYTHON} {rel} --extension {EXT}",
         "seconds": time.perf_counter() - t0, "rc": rc}
    if rc != 0 or not out.strip():
        r["error"] = ((err.strip().splitlines() or [f"exit status {rc}"])[-1] if rc != 0
                      else "it printed nothing")
        log(f"imputation: failed: {r['error']}")
    else:
        # Its headings one level down, under the report's own.
        r["markdown"] = "\n".join("#" + x if x.startswith("#") else x
                                  for x in out.strip().splitlines())
    return r


def missing_report(m):
    """The report's section on EM with missing values."""
    name_ = label(m["n"], m["d"], m["k"])
    any_run = m["res"][COVS[0]]["missing"]
    out = ["", f"## EM with missing values: {name_}, {m['frac']:.0%} of the cells missing at random",
           "",
           f"bench/bench_core.c on the {name_} set (bench/gen_data.c, seed {m['seed']}), "
           f"M = {m['iter']} iterations, otherwise as the EM-iteration table; s/iter = "
           "(t(max_iter M) - t(max_iter 0)) / M for both. *complete* = `bench_core ... sorted`: "
           "every value present, rows in the canonical order (the \"core sorted\" column). "
           f"*missing* = `bench_core ... missing={m['frac']}`: each cell made NaN with probability "
           f"{m['frac']} from a fixed-seed splitmix64 stream of bench_core's own (the same cells "
           "every run), never a whole row (a row that would lose every value keeps its first), then "
           "the rows put in the canonical order, which groups them by missing pattern with the "
           "complete rows first, as gmm_fit in SQL hands them to the core; the fit marginalises "
           "(option `missing` \"marginalize\", the default). The two fits start from different "
           "models (the initialisation sees the mean-filled rows) and fit different data. The two "
           f"commands alternate, {REPEAT} time(s) each; the fastest t(M) and t(0) of each are "
           "kept. *fixed cost* = t(max_iter 0): initialisation (with missing cells, on a "
           "mean-filled copy of the rows) and the final log-likelihood pass. *peak* = ru_maxrss "
           "above the resident set once the rows are loaded and sorted.",
           "",
           f"Masked: {any_run['missing_cells_frac']:.2%} of the cells; "
           f"{any_run['rows_incomplete']} rows ({any_run['rows_incomplete'] / m['n']:.1%}) with "
           f"some value missing, in {any_run['missing_patterns']} distinct missing patterns; "
           f"the other {m['n'] - any_run['rows_incomplete']} rows are complete.",
           "",
           "| covariance | complete s/iter | missing s/iter | missing / complete | "
           f"<= {MISSING_BOUND:g}x | complete fixed cost s | missing fixed cost s | "
           "complete peak MiB | missing peak MiB | mean log-likelihood per row: complete, "
           "missing (observed features) |",
           "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for cov in COVS:
        r = m["res"][cov]
        c, x = r["complete"], r["missing"]
        out.append(f"| {cov} | {fmt_s(c['per_iter_s'])} | {fmt_s(x['per_iter_s'])} | "
                   f"**{r['ratio']:.2f}x** | "
                   f"{'yes' if r['ratio'] <= MISSING_BOUND else '**no**'} | "
                   f"{fmt_s(c['init_s'])} | {fmt_s(x['init_s'])} | {c['peak_mib']:.0f} | "
                   f"{x['peak_mib']:.0f} | {c['mean_ll']:.4f}, {x['mean_ll']:.4f} |")
    out += ["", "s/iter of each run, in the order run (the table takes the fastest t(M) and the "
            "fastest t(0), which may come from different runs, so its figure need not be one of "
            "these):", ""]
    for cov in COVS:
        r = m["res"][cov]
        out.append(f"- {cov}: complete "
                   f"{', '.join(fmt_s(v) for v in r['complete']['per_iter_runs_s'])}; missing "
                   f"{', '.join(fmt_s(v) for v in r['missing']['per_iter_runs_s'])}")
    q = m["impute"]
    out += ["", "## EM with missing values: imputation error (`gmm_impute` against column means "
            "and scikit-learn's IterativeImputer)", ""]
    if "markdown" in q:
        out += [f"`{q['command']}` ({q['seconds']:.0f} s in all):", "", q["markdown"]]
    elif "skipped" in q:
        out.append(f"**Not measured**: {q['skipped']} (it was not written when this report was "
                   "generated); rerun `BENCH_ONLY=missing make bench` once it is.")
    else:
        out.append(f"**Not measured**: `{q['command']}` failed (exit status {q['rc']}, "
                   f"after {q['seconds']:.0f} s): {q['error']}")
    return out


def missing_targets(m):
    rows = []
    for cov in COVS:
        r = m["res"][cov]
        rows.append(f"| EM iteration with {m['frac']:.0%} of the cells missing at random, {cov}, "
                    f"{label(m['n'], m['d'], m['k'])}: <= {MISSING_BOUND:g} x the complete-data "
                    f"iteration ({fmt_s(r['complete']['per_iter_s'])} s) | "
                    f"{fmt_s(r['missing']['per_iter_s'])} s ({r['ratio']:.2f}x) | "
                    f"{'met' if r['ratio'] <= MISSING_BOUND else '**missed**'} |")
    return rows


# ---- mclust's covariance models (issue 12) ---------------------------------------

# Every one of mclust's fourteen models fitted on this one set (100k x 8,
# k 4), so that a slow inner iteration of the five iterative M-steps shows
# beside the closed forms.
MCLUST_SET = (100000, 8, 4, 7)
MCLUST_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV",
                 "VEV", "EVV", "VVV")
# The M-steps with inner loops (ext/core/gmm_mclust.c, gmm_cov_iterative).
MCLUST_ITERATIVE = ("VEI", "VEE", "VEV", "EVE", "VVE")
# scikit-learn's names for four of them.
MCLUST_SKLEARN = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}
MCLUST_REF = "VVV"
# A model whose s/iter exceeds this times the reference's is flagged.
MCLUST_SLOW = 1.5
# EM iterations per model (MCLUST_ITER, BENCH_MCLUST_ITER, 50): at 20 the
# cheap models' t(M) - t(0) is about 0.03 s, no more than the jitter of t(0)
# itself; at 50 the section still takes about 10 s per repeat, most of it
# EVE's and VVE's inner loops.


def measure_mclust():
    n, d, k, seed = MCLUST_SET
    f64, _ = ensure_data(n, d, k, seed)
    it = MCLUST_ITER
    res = {"n": n, "d": d, "k": k, "seed": seed, "iter": it, "repeat": REPEAT,
           "data_mib": n * d * 8 / 2**20, "res": {}}
    core = [os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k)]
    log(f"{label(n, d, k)}: core, the {len(MCLUST_MODELS)} mclust models, M = {it}, "
        f"in turn, {REPEAT} time(s)")
    t0 = time.perf_counter()
    # Round robin over the models, rather than best() on each in turn, so
    # that load from other processes during the run weighs on all alike.
    runs = {cov: [] for cov in MCLUST_MODELS}
    errors = {}
    for _ in range(REPEAT):
        for cov in MCLUST_MODELS:
            if cov in errors:
                continue
            rc, out, err = run_out(core + [cov, str(it)])
            try:
                runs[cov].append(json.loads(out.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                errors[cov] = ((err.strip().splitlines() or [f"exit status {rc}"])[-1]
                               if rc != 0 else "it printed no JSON")
                log(f"  {cov}: failed: {errors[cov]}")
    for cov in MCLUST_MODELS:
        if cov in errors:
            res["res"][cov] = {"error": errors[cov]}
            continue
        r = fastest(runs[cov], ("init_s", "fit_s"))
        r["per_iter_s"] = (r["fit_s"] - r["init_s"]) / it
        r["per_iter_runs_s"] = [(x["fit_s"] - x["init_s"]) / it for x in runs[cov]]
        res["res"][cov] = r
    ref = res["res"].get(MCLUST_REF, {}).get("per_iter_s")
    for cov in MCLUST_MODELS:
        r = res["res"][cov]
        if "per_iter_s" in r and ref:
            r["ratio"] = r["per_iter_s"] / ref
        log(f"  {cov}: " + (f"s/iter {r['per_iter_s']:.5f}  fixed {r['init_s']:.4f}" +
                            (f"  / {MCLUST_REF} {r['ratio']:.2f}" if "ratio" in r else "")
                            if "per_iter_s" in r else f"failed: {r['error']}"))
    res["seconds"] = time.perf_counter() - t0
    return res


def mclust_slow(m):
    """The models whose s/iter exceeds MCLUST_SLOW x the reference's."""
    return [cov for cov in MCLUST_MODELS if m["res"][cov].get("ratio", 0.0) > MCLUST_SLOW]


def mclust_report(m):
    """The report's section on mclust's covariance models."""
    name_ = label(m["n"], m["d"], m["k"])
    out = ["", f"## mclust's covariance models: {name_}", "",
           f"bench/bench_core.c on the {name_} set (bench/gen_data.c, seed {m['seed']}), COV "
           f"each of mclust's fourteen names, M = {m['iter']} iterations "
           "(BENCH_MCLUST_ITER), rows in file order, otherwise as the EM-iteration table: "
           "`init` random_from_data, `tol` 0, the same data and the same initial rows for every "
           "model; s/iter = (t(max_iter M) - t(max_iter 0)) / M. *fixed cost* = t(max_iter 0): "
           "the initialisation and the final log-likelihood pass. The models run in turn, "
           f"{m['repeat']} time(s) each; the fastest t(M) and t(0) of each are kept. "
           f"*/ {MCLUST_REF}* = s/iter over {MCLUST_REF}'s (`full`); above {MCLUST_SLOW:g}x it "
           "is in bold. *iterative* = the M-step has an inner loop (ext/core/gmm_mclust.c: VEI, "
           "VEE, VEV alternate volumes and shape; EVE, VVE majorisation-minimisation steps on the "
           "orientation), until the parameters change by less than MCLUST_INNER_TOL (relative) or "
           "for MCLUST_INNER_MAX rounds, warm-started from the previous M-step. *mean "
           "log-likelihood* per row of the fitted model (the models differ in their "
           "constraints, so these differ too). *peak* = ru_maxrss above the resident set once "
           "the rows are loaded.",
           "",
           f"| model | scikit-learn | iterative M-step | s/iter | / {MCLUST_REF} | fixed cost s | "
           "peak MiB | mean log-likelihood per row |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for cov in MCLUST_MODELS:
        r = m["res"][cov]
        sk = MCLUST_SKLEARN.get(cov, "")
        itv = "**yes**" if cov in MCLUST_ITERATIVE else ""
        if "error" in r:
            out.append(f"| {cov} | {sk} | {itv} | **failed**: {r['error']} | | | | |")
            continue
        if "ratio" in r:
            q = f"{r['ratio']:.2f}x"
            q = f"**{q}**" if r["ratio"] > MCLUST_SLOW else q
        else:
            q = "?"
        out.append(f"| {cov} | {sk} | {itv} | {fmt_s(r['per_iter_s'])} | {q} | "
                   f"{fmt_s(r['init_s'])} | {r['peak_mib']:.0f} | {r['mean_ll']:.4f} |")
    slow = mclust_slow(m)
    ref = m["res"].get(MCLUST_REF, {})
    if slow:
        out += ["", f"Slower than {MCLUST_SLOW:g}x {MCLUST_REF} "
                f"({fmt_s(ref['per_iter_s'])} s/iter): " +
                ", ".join(f"{cov} {fmt_s(m['res'][cov]['per_iter_s'])} s/iter "
                          f"({m['res'][cov]['ratio']:.2f}x)" for cov in slow) + "."]
    elif "per_iter_s" in ref:
        out += ["", f"No model above {MCLUST_SLOW:g}x {MCLUST_REF} "
                f"({fmt_s(ref['per_iter_s'])} s/iter)."]
    out += ["", "s/iter of each run, in the order run (the table takes the fastest t(M) and the "
            "fastest t(0), which may come from different runs, so its figure need not be one of "
            "these):", ""]
    for cov in MCLUST_MODELS:
        r = m["res"][cov]
        if "per_iter_runs_s" in r:
            out.append(f"- {cov}: {', '.join(fmt_s(v) for v in r['per_iter_runs_s'])}")
    out += ["", f"The section took {m['seconds']:.0f} s."]
    return out


# ---- priors: variational and conjugate (issue 13) -----------------------------------

# The sets of the section (rows, d, k, seed: two of the EM-iteration table's).
BAYES_SETS = [(1000000, 2, 3, 1), (100000, 16, 8, 4)]
BAYES_COVS = ("full", "tied", "diag", "spherical")
# bench_core's PRIOR argument (gmm_prior_name), maximum likelihood first.
BAYES_PRIORS = ("none", "dirichlet_process", "dirichlet_distribution", "conjugate")
BAYES_VARIATIONAL = ("dirichlet_process", "dirichlet_distribution")
# bench_sklearn.py bayes's model for each of gmm's priors (conjugate has none).
BAYES_SKLEARN = {"none": "GaussianMixture",
                 "dirichlet_process": "BayesianGaussianMixture_dirichlet_process",
                 "dirichlet_distribution": "BayesianGaussianMixture_dirichlet_distribution"}
# The target of issue 13: a variational iteration at most this times a
# maximum-likelihood iteration on the same data.
BAYES_BOUND = 1.3
# BAYES_ITER (BENCH_BAYES_ITER, 50) and BAYES_SK_ITER (BENCH_BAYES_SK_ITER,
# 10) are the M of gmm's and of scikit-learn's timed fits: gmm's iteration
# costs 4 to 10 ms on these sets, so 49 of them (0.2 to 0.5 s) stand well
# above the jitter of t(1); scikit-learn's costs 20 to 250 ms, and 9 keep its
# three models within the section's time.


def measure_bayes():
    it, sk_it = BAYES_ITER, BAYES_SK_ITER
    res = {"iter": it, "sk_iter": sk_it, "repeat": REPEAT, "sets": []}
    files = {}
    for n, d, k, seed in BAYES_SETS:
        files[(n, d, k)], _ = ensure_data(n, d, k, seed)
        res["sets"].append({"n": n, "d": d, "k": k, "seed": seed, "res": {}})
    log(f"priors: core (M = {it}) and scikit-learn (M = {sk_it}), {len(BAYES_SETS)} sets x "
        f"{len(BAYES_COVS)} types x {len(BAYES_PRIORS)} priors, in turn, {REPEAT} time(s)")
    t0 = time.perf_counter()
    # Round robin over sets, types and priors, rather than best() on each in
    # turn, so that load from other processes during the run weighs on all
    # alike.
    runs, sk_runs, errors = {}, {}, {}
    for rep in range(REPEAT):
        for n, d, k, _ in BAYES_SETS:
            f64 = files[(n, d, k)]
            for cov in BAYES_COVS:
                got = []
                for prior in BAYES_PRIORS:
                    key = (n, d, k, cov, prior)
                    if key in errors:
                        continue
                    rc, out, err = run_out([os.path.join(BIN, "bench_core"), f64, str(n), str(d),
                                            str(k), cov, str(it), prior])
                    try:
                        r = json.loads(out.strip().splitlines()[-1])
                        runs.setdefault(key, []).append(r)
                        got.append(f"{prior} {r['per_iter_s']:.4f}")
                    except (ValueError, IndexError):
                        errors[key] = ((err.strip().splitlines() or [f"exit status {rc}"])[-1]
                                       if rc != 0 else "it printed no JSON")
                        log(f"  {label(n, d, k)} {cov} {prior}: failed: {errors[key]}")
                key = (n, d, k, cov, "sklearn")
                if key not in errors:
                    rc, out, err = run_out([PYTHON, os.path.join(HERE, "bench_sklearn.py"),
                                            "bayes", f64, str(n), str(d), str(k), cov,
                                            str(sk_it)], env=SKLEARN_ENV)
                    try:
                        r = json.loads(out.strip().splitlines()[-1])
                        sk_runs.setdefault(key, []).append(r)
                        got.append("sklearn " + " ".join(f"{r[m]['per_iter_s']:.4f}"
                                                         for m in BAYES_SKLEARN.values()))
                    except (ValueError, IndexError):
                        errors[key] = ((err.strip().splitlines() or [f"exit status {rc}"])[-1]
                                       if rc != 0 else "it printed no JSON")
                        log(f"  {label(n, d, k)} {cov} scikit-learn: failed: {errors[key]}")
                log(f"  [{rep + 1}/{REPEAT}] {label(n, d, k)} {cov}: s/iter " + ", ".join(got))
    for s in res["sets"]:
        n, d, k = s["n"], s["d"], s["k"]
        for cov in BAYES_COVS:
            rr = {}
            for prior in BAYES_PRIORS:
                key = (n, d, k, cov, prior)
                if key in errors:
                    rr[prior] = {"error": errors[key]}
                    continue
                r = fastest(runs[key], ("init_s", "fit_s"))
                r["per_iter_s"] = (r["fit_s"] - r["init_s"]) / (it - 1)
                r["per_iter_runs_s"] = [(x["fit_s"] - x["init_s"]) / (it - 1) for x in runs[key]]
                rr[prior] = r
            ml = rr["none"].get("per_iter_s")
            for prior in BAYES_PRIORS:
                if ml and "per_iter_s" in rr[prior]:
                    rr[prior]["ratio"] = rr[prior]["per_iter_s"] / ml
            key = (n, d, k, cov, "sklearn")
            if key in errors:
                rr["sklearn"] = {"error": errors[key]}
            else:
                sk = {"info": {x: sk_runs[key][0][x] for x in ("sklearn", "numpy",
                                                              "threadpool_info")}}
                for prior, model in BAYES_SKLEARN.items():
                    fits = [x[model] for x in sk_runs[key]]
                    m = {"fit1_s": min(x["fit1_s"] for x in fits),
                         "fit_s": min(x["fit_s"] for x in fits),
                         "lower_bound": fits[0]["lower_bound"],
                         "per_iter_runs_s": [x["per_iter_s"] for x in fits]}
                    m["per_iter_s"] = (m["fit_s"] - m["fit1_s"]) / (sk_it - 1)
                    ours = rr[prior].get("per_iter_s")
                    if ours:
                        m["speedup"] = m["per_iter_s"] / ours
                    sk[model] = m
                rr["sklearn"] = sk
            s["res"][cov] = rr
            log(f"  {label(n, d, k)} {cov}: " + ", ".join(
                f"{p} {rr[p]['per_iter_s']:.4f}" + (f" ({rr[p]['ratio']:.2f}x)"
                                                    if "ratio" in rr[p] else "")
                if "per_iter_s" in rr[p] else f"{p} failed" for p in BAYES_PRIORS))
    res["seconds"] = time.perf_counter() - t0
    return res


def bayes_slow(b):
    """(set label, type, prior, ratio) of each variational iteration above
    BAYES_BOUND x maximum likelihood's."""
    return [(label(s["n"], s["d"], s["k"]), cov, p, s["res"][cov][p]["ratio"])
            for s in b["sets"] for cov in BAYES_COVS for p in BAYES_VARIATIONAL
            if s["res"][cov][p].get("ratio", 0.0) > BAYES_BOUND]


def bayes_sk_info(b):
    """bench_sklearn.py's versions and threadpool_info from the section, if any ran."""
    for s in b["sets"]:
        for cov in BAYES_COVS:
            if "info" in s["res"][cov]["sklearn"]:
                return s["res"][cov]["sklearn"]["info"]
    return None


def bayes_report(b):
    """The report's section on priors."""
    it, sk_it = b["iter"], b["sk_iter"]
    sets = ", ".join(f"{label(s['n'], s['d'], s['k'])} (seed {s['seed']})" for s in b["sets"])
    out = ["", "## Priors: variational (BayesianGaussianMixture) and conjugate (mclust)", "",
           f"bench/bench_core.c `FILE N D K COV M PRIOR` on {sets} (bench/gen_data.c), rows in "
           "file order, for each covariance type and each `prior`: none (maximum likelihood), "
           "dirichlet_process, dirichlet_distribution, conjugate, every parameter of the prior "
           "at its default; `init` random_from_data, `tol` 0, `n_init` 1, seed 0, the same data "
           "and the same initial rows for every prior. A variational fit needs max_iter >= 1 "
           "(its lower bound), so **all four, maximum likelihood included, are timed alike: "
           f"s/iter = (t(max_iter M) - t(max_iter 1)) / (M - 1)**, M = {it} "
           "(BENCH_BAYES_ITER), which also leaves the initialisation, the prior's defaults, "
           "the first iteration and the final pass out. A variational iteration is the "
           "E-step (the plug-in kernel, its log_norm carrying E[log w] and E[log |Lambda|]), "
           "the responsibilities' entropy from the statistics, the variational M-step, "
           "gmm_model_prepare (its digammas) and the lower bound; a conjugate one is maximum "
           "likelihood's with the MAP M-step. *fixed cost* = t(max_iter 1).",
           "",
           f"scikit-learn: bench/bench_sklearn.py `bayes`, the same rows as numpy, "
           f"`GaussianMixture` and `BayesianGaussianMixture` with weight_concentration_prior_type "
           "dirichlet_process and dirichlet_distribution (its defaults otherwise: the same "
           "defaults as gmm's), `init_params='random_from_data', tol=0, n_init=1, "
           "random_state=0`, timed the same way: s/iter = (t(max_iter M') - t(max_iter 1)) / "
           f"(M' - 1), M' = {sk_it} (BENCH_BAYES_SK_ITER); with tol 0 neither side can stop "
           "early, and both check the iterations they ran. The same init method on both sides, "
           "but not the same random draws, so the initial rows differ (the cost of an iteration "
           "hardly depends on them). scikit-learn has no conjugate (MAP) prior. Run with "
           "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.",
           "",
           f"Sets, types, priors and scikit-learn run in turn, {b['repeat']} time(s) each; the "
           "fastest t(M) and t(1) of each are kept. gmm runs with its default `threads` 0, every "
           "core; scikit-learn with OpenBLAS's threads. */ ML* = s/iter over maximum "
           f"likelihood's on the same set and type; a variational one above {BAYES_BOUND:g}x "
           "(the target of issue 13) is in bold. *sklearn / gmm* = scikit-learn's s/iter over "
           "gmm's for the same model: above 1 gmm is faster.",
           "", "### gmm: seconds per EM iteration by prior", "",
           "| data set | type | none (ML) | dirichlet_process | / ML | dirichlet_distribution | "
           "/ ML | conjugate | / ML | fixed cost s (ML, dp, dd, conj) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in b["sets"]:
        name_ = label(s["n"], s["d"], s["k"])
        for cov in BAYES_COVS:
            rr = s["res"][cov]
            line = f"| {name_} | {cov} |"
            for p in BAYES_PRIORS:
                r = rr[p]
                if "error" in r:
                    line += f" **failed**: {r['error']} |" + ("" if p == "none" else " |")
                    continue
                line += f" {fmt_s(r['per_iter_s'])} |"
                if p != "none":
                    q = f"{r['ratio']:.2f}x" if "ratio" in r else "?"
                    if p in BAYES_VARIATIONAL and r.get("ratio", 0.0) > BAYES_BOUND:
                        q = f"**{q}**"
                    line += f" {q} |"
            line += " " + ", ".join(fmt_s(rr[p]["init_s"]) if "init_s" in rr[p] else "-"
                                    for p in BAYES_PRIORS) + " |"
            out.append(line)
    out += ["", "### Against scikit-learn: seconds per EM iteration", "",
            "| data set | type | gmm ML | sklearn GaussianMixture | sklearn / gmm | gmm "
            "dirichlet_process | sklearn BGM dirichlet_process | sklearn / gmm | gmm "
            "dirichlet_distribution | sklearn BGM dirichlet_distribution | sklearn / gmm | "
            "sklearn's own BGM (dp) / GaussianMixture |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in b["sets"]:
        name_ = label(s["n"], s["d"], s["k"])
        for cov in BAYES_COVS:
            rr = s["res"][cov]
            sk = rr["sklearn"]
            line = f"| {name_} | {cov} |"
            for p, model in BAYES_SKLEARN.items():
                ours = fmt_s(rr[p]["per_iter_s"]) if "per_iter_s" in rr[p] else "failed"
                if "error" in sk:
                    line += f" {ours} | **failed**: {sk['error']} | |"
                    continue
                m = sk[model]
                up = f"**{m['speedup']:.1f}x**" if "speedup" in m else "?"
                line += f" {ours} | {fmt_s(m['per_iter_s'])} | {up} |"
            if "error" in sk:
                line += " |"
            else:
                line += " " + ratio(sk[BAYES_SKLEARN["dirichlet_process"]]["per_iter_s"],
                                    sk["GaussianMixture"]["per_iter_s"]) + " |"
            out.append(line)
    slow = bayes_slow(b)
    if slow:
        out += ["", f"Variational iterations above {BAYES_BOUND:g}x maximum likelihood's: " +
                ", ".join(f"{s} {cov} {p} ({q:.2f}x)" for s, cov, p, q in slow) + "."]
    else:
        out += ["", f"No variational iteration above {BAYES_BOUND:g}x maximum likelihood's."]
    out += ["", "s/iter of each run, in the order run (the tables take the fastest t(M) and the "
            "fastest t(1), which may come from different runs, so their figure need not be one of "
            "these):", ""]
    for s in b["sets"]:
        name_ = label(s["n"], s["d"], s["k"])
        for cov in BAYES_COVS:
            rr = s["res"][cov]
            parts = [f"{p} {', '.join(fmt_s(v) for v in rr[p]['per_iter_runs_s'])}"
                     for p in BAYES_PRIORS if "per_iter_runs_s" in rr[p]]
            if "error" not in rr["sklearn"]:
                parts += [f"sklearn {m.replace('BayesianGaussianMixture_', 'BGM ')} "
                          f"{', '.join(fmt_s(v) for v in rr['sklearn'][m]['per_iter_runs_s'])}"
                          for m in BAYES_SKLEARN.values()]
            out.append(f"- {name_}, {cov}: " + "; ".join(parts))
    out += ["", f"The section took {b['seconds']:.0f} s."]
    return out


def bayes_targets(b):
    rows = []
    for s in b["sets"]:
        name_ = label(s["n"], s["d"], s["k"])
        for cov in BAYES_COVS:
            rr = s["res"][cov]
            for p in BAYES_VARIATIONAL:
                r = rr[p]
                if "ratio" in r:
                    got = f"{r['ratio']:.2f}x ({fmt_s(r['per_iter_s'])} s / " \
                          f"{fmt_s(rr['none']['per_iter_s'])} s)"
                    ok = "met" if r["ratio"] <= BAYES_BOUND else "**missed**"
                else:
                    got, ok = "not measured", "**missed**"
                rows.append(f"| variational EM iteration ({p}), {cov}, {name_}: <= "
                            f"{BAYES_BOUND:g} x the maximum-likelihood iteration | {got} | {ok} |")
    return rows


def bayes_only_report(b, elapsed):
    """The report of BENCH_ONLY=bayes: the machine and the section on priors."""
    out = ["# make bench, priors only (BENCH_ONLY=bayes)", "",
           f"Generated by `BENCH_ONLY=bayes make bench` (bench/run.sh, bench/driver.py) in "
           f"{elapsed / 60:.1f} min: a partial run; `make bench` writes the whole report to "
           "bench/RESULTS.md.", "", "## Machine", "", "| | |", "|---|---|"]
    # bench_core and bench_sklearn.py bayes use no SQLite.
    sk_info = bayes_sk_info(b) or sklearn_info()
    out += [f"| {k} | {v} |" for k, v in machine(sk_info, "not used (bench_core and "
                                                          "scikit-learn alone)")]
    out += [f"| gmm threads | `threads` 0, every core ({os.cpu_count()} here) |"]
    out += bayes_report(b)
    out += ["", "## Targets", "", "| target | measured | |", "|---|---:|---|"]
    out += bayes_targets(b)
    if sk_info:
        out += ["", "## threadpoolctl threadpool_info() in the scikit-learn process", "", "```",
                json.dumps(sk_info["threadpool_info"], indent=1), "```"]
    return "\n".join(out + [""])


# ---- floors: full covariance against what the machine can do ------------------

def floor_work(n, d, k):
    """The work of one full-covariance EM iteration: floating-point
    operations, exps and bytes of rows read. Per row and component: the
    difference a = x - mu (d), z = W a with W triangular (d (d + 1): a
    multiply and an add per entry), q = z'z (2 d), the responsibility's
    share of the scatter r a a' (lower triangle, a multiply and an add per
    entry: d (d + 1)) and of the sums r, r a (d + 1); one exp. The log per
    row and the M-step (O(k d^3), independent of n) are left out."""
    flops = n * k * (2 * d * (d + 1) + 4 * d + 1)
    return flops, n * k, n * d * 8


def floor_seconds(work, rates):
    """The floor of one iteration: the arithmetic at dgemm's rate on every
    core plus the exps at numpy's vectorised rate spread over the cores, or
    one read of the rows at one core's streaming rate if that is longer."""
    flops, exps, nbytes = work
    compute = flops / (rates["dgemm_gflops"] * 1e9) + exps * rates["exp_ns"] * 1e-9 / rates["cores"]
    return max(compute, nbytes / (rates["read_gbs"] * 1e9))


def measure_floors():
    """BENCH_ONLY=floors: the machine's rates (bench/rates.py), then for every
    data set the core's full-covariance EM iteration (rows sorted, as gmm_fit
    in SQL fits them) on 1 thread, 2 and every core, against its floor."""
    log("machine rates: dgemm, exp, read (bench/rates.py)")
    rates = run_json([PYTHON, os.path.join(HERE, "rates.py"), str(REPEAT)], env=SKLEARN_ENV)
    cores = len(os.sched_getaffinity(0))
    counts = sorted({1, min(2, cores), cores})
    sets = []
    for n, d, k, seed, factor in SETS:
        f64, _ = ensure_data(n, d, k, seed)
        it = ITER * factor * GMM_ITER
        row = {"n": n, "d": d, "k": k, "iter": it, "work": floor_work(n, d, k), "threads": {}}
        for t in counts:
            log(f"{label(n, d, k)} full: core, rows sorted, {t} thread{'s' if t > 1 else ''}")
            r = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), "full", str(it),
                      "sorted", f"threads={t}"], ("init_s", "fit_s"))
            row["threads"][t] = (r["fit_s"] - r["init_s"]) / it
        row["floor_s"] = floor_seconds(row["work"], rates)
        sets.append(row)
    return {"rates": rates, "cores": cores, "counts": counts, "sets": sets}


def floors_report(fl, elapsed):
    out = ["# make bench, full covariance against this machine's floor (BENCH_ONLY=floors)", "",
           f"Generated by `BENCH_ONLY=floors make bench` (bench/run.sh, bench/driver.py, "
           f"bench/rates.py) in {elapsed / 60:.1f} min: a partial run; `make bench` writes the "
           "whole report to bench/RESULTS.md.", "", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine(None, "not used (bench_core alone)")]
    out += ["", "## Rates (numpy, the fastest of each measurement)", ""] + rates_lines(fl)
    out += ["", "## Floors", ""]
    return "\n".join(out + floors_table(fl) + [""])


def rates_lines(fl):
    r = fl["rates"]
    return [f"- dgemm on every core ({fl['cores']}): **{r['dgemm_gflops']:.1f} GFLOP/s**",
            f"- numpy's vectorised exp on one core: **{r['exp_ns']:.3f} ns** per element",
            f"- one core reading doubles: **{r['read_gbs']:.1f} GB/s**"]


def floors_table(fl):
    """The floors section's method and table (BENCH_ONLY=floors and make bench)."""
    counts = fl["counts"]
    out = ["Work of one full-covariance EM iteration (bench/driver.py, floor_work): per row and "
            "component 2d(d+1) + 4d + 1 floating-point operations (x - mu, the triangular solve, "
            "z'z, the scatter's lower triangle, the sums) and one exp; the per-row log and the "
            "M-step are left out. Floor = the operations at the dgemm rate plus the exps at the "
            "exp rate over every core, or one read of the rows if longer. The core runs with the "
            "rows sorted (as gmm_fit in SQL), init random_from_data, tol 0; s/iter = "
            f"(t(M) - t(0)) / M, the fastest of {REPEAT}.", ""]
    head = ["data set", "M", "GFLOP/iter", "exps/iter", "floor (ms)"]
    head += [f"{t} thread{'s' if t > 1 else ''} (ms)" for t in counts]
    head += [f"ratio to floor ({counts[-1]} threads)"]
    head += [f"speed-up {t} threads" for t in counts[1:]]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for s in fl["sets"]:
        t1 = s["threads"][1]
        cells = [label(s["n"], s["d"], s["k"]), str(s["iter"]), f"{s['work'][0] / 1e9:.3f}",
                 f"{s['work'][1] / 1e6:.1f} M", f"{s['floor_s'] * 1e3:.2f}"]
        cells += [f"{s['threads'][t] * 1e3:.2f}" for t in counts]
        cells += [f"**{s['threads'][counts[-1]] / s['floor_s']:.2f}x**"]
        cells += [f"{t1 / s['threads'][t]:.2f}x" for t in counts[1:]]
        out.append("| " + " | ".join(cells) + " |")
    return out


def sklearn_info():
    """What bench_sklearn.py reports of its process (versions, threadpool_info),
    for a machine table when no scikit-learn fit ran; None without it."""
    rc, out, _ = run_out([PYTHON, "-c", "import json, numpy, sklearn, threadpoolctl; "
                          "print(json.dumps({'sklearn': sklearn.__version__, "
                          "'numpy': numpy.__version__, "
                          "'threadpool_info': threadpoolctl.threadpool_info()}))"],
                         env=SKLEARN_ENV)
    return json.loads(out) if rc == 0 else None


# ---- machine -----------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def machine(sk_info, sqlite_lib, dask_version=None):
    cpu = "?"
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    simd = " ".join(x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f") if x in flags)
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    osname = "?"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            osname += f" ({f.read().strip()})"
    blas = [t for t in sk_info["threadpool_info"] if t.get("user_api") == "blas"] if sk_info else []
    blas_txt = "; ".join(
        f"{t.get('internal_api')} {t.get('version')} ({t.get('threading_layer', '?')} threads, "
        f"{t.get('num_threads')} of them, kernel {t.get('architecture', '?')}) {t.get('filepath')}"
        for t in blas) or "no BLAS seen by threadpoolctl (reference BLAS?)"
    pkg = sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null")
    rows = [
        ("Date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", f"{cpu} ({simd})"),
        ("Cores", f"{os.cpu_count()} online, {len(os.sched_getaffinity(0))} usable"),
        ("Memory", mem),
        ("OS", f"{osname}, Linux {platform.release()}"),
        ("SQLite", f"library {sqlite_lib}; shell {sh('sqlite3 --version').split(' ')[0]}"),
        ("Compiler", f"{sh(CC + ' --version').splitlines()[0]}; `{CFLAGS}`"),
        ("Python", platform.python_version() + f" ({PYTHON})"),
    ]
    if sk_info:
        rows += [
            ("scikit-learn", sk_info["sklearn"]),
            ("numpy", sk_info["numpy"]),
            ("scipy", sh(f"{PYTHON} -c 'import scipy; print(scipy.__version__)'")),
            ("OpenBLAS", f"{blas_txt}; Debian package libopenblas0-pthread {pkg or 'not installed'}"),
        ]
    if dask_version:
        rows.append(("Dask distributed", dask_version))
    rows.append(("Load average", f"start {LOAD0}, end {' '.join(sh('cat /proc/loadavg').split()[:3])}"))
    return rows


# ---- report ------------------------------------------------------------------

def fmt_s(v):
    return f"{v:.3g}" if v >= 0.001 else f"{v:.2g}"


def ratio(a, b):
    return f"{a / b:.1f}x" if b > 0 else "?"


def table_head(head, sep, tools):
    """A Markdown table's header and separator: the given first columns, then
    one right-aligned column per covariance type and tool."""
    for cov in COVS:
        head += "".join(f" {cov}: {t} |" for t in tools)
        sep += "---:|" * len(tools)
    return [head, sep]


def targets(results, sqlr, passes=None, missing=None, bayes=None, floors=None):
    """The performance issue's targets, each with the figure above that decides it."""
    rows = []

    def verdict(ok):
        return "met" if ok else "**missed**"

    for r in results:
        name = label(r["n"], r["d"], r["k"])
        for cov in COVS:
            sk = r["res"][cov]["sklearn"]["per_iter_s"]
            need = (10 if cov == "diag" else 20 if r["d"] <= 8 else 5 if r["d"] <= 16 else 3)
            for tool, what in (("core", "core"), ("sql", "SQL")):
                ours = r["res"][cov][tool]["per_iter_s"]
                got = sk / ours if ours > 0 else float("inf")
                rows.append(f"| EM iteration, {cov}, {name}: sklearn / {what} >= {need}x | "
                            f"{got:.1f}x | {verdict(got >= need)} |")
    for s in (floors or {}).get("sets", []):
        every = floors["counts"][-1]
        got = s["threads"][every] / s["floor_s"]
        rows.append(f"| full covariance, {label(s['n'], s['d'], s['k'])}: EM iteration within "
                    f"2.5x of this machine's floor ({every} threads) | {got:.2f}x | "
                    f"{verdict(got <= 2.5)} |")
    for r in results:
        if r["d"] >= 16:
            rr = r["res"]["diag"]
            got = rr["sklearn_start"]["per_iter_s"] / rr["core_start"]["per_iter_s"]
            rows.append(f"| EM iteration, diag, {label(r['n'], r['d'], r['k'])}, from the same "
                        f"start: sklearn / core >= 10x | {got:.1f}x | {verdict(got >= 10)} |")
    if sqlr:
        q = sqlr
        got = q["sklearn_total_s"] / q["gmm_fit_s"]
        rows.append(f"| `SELECT gmm_fit` end to end, 1M x 2, k 3, {q['max_iter']} iterations: "
                    f">= 20x numpy + sklearn | {got:.1f}x | {verdict(got >= 20)} |")
        for key, what in (("predict_param_s", "model bound"), ("predict_join_s", "a join"),
                          ("predict_subquery_s", "scalar subquery")):
            got = q[key] / q["sum_x0_x1_s"]
            rows.append(f"| `sum(gmm_predict(...))` over 1M rows ({what}): <= 2x `sum(x0 + x1)` | "
                        f"{got:.2f}x | {verdict(got <= 2)} |")
    for r in results:
        if (r["n"], r["d"]) == (1000000, 8):
            for cov in COVS:
                peak = r["res"][cov]["sql"]["peak_mib"]
                bound = 1.3 * r["data_mib"] + 30
                rows.append(f"| peak memory of a 1M x 8 fit through SQL ({cov}): <= 1.3 x rows + "
                            f"30 MiB = {bound:.0f} MiB | {peak:.0f} MiB | {verdict(peak <= bound)} |")
    if passes:
        rows += passes_targets(passes)
    if missing:
        rows += missing_targets(missing)
    if bayes:
        rows += bayes_targets(bayes)
    return ["", "## Targets of the performance issue", "", "| target | measured | |",
            "|---|---:|---|"] + rows


def dask_version(passes):
    return (passes or {}).get("dask", {}).get("distributed")


def passes_only_report(passes, elapsed):
    """The report of BENCH_ONLY=passes: the machine and the sections on passes."""
    out = ["# make bench, EM in passes only (BENCH_ONLY=passes)", "",
           f"Generated by `BENCH_ONLY=passes make bench` (bench/run.sh, bench/driver.py) in "
           f"{elapsed / 60:.1f} min: a partial run; `make bench` writes the whole report to "
           "bench/RESULTS.md.", "", "## Machine", "", "| | |", "|---|---|"]
    sqlite_lib = passes["streamed"][0]["sqlite"]
    out += [f"| {k} | {v} |" for k, v in machine(None, sqlite_lib, dask_version(passes))]
    out += passes_report(passes)
    out += ["", "## Targets", "", "| target | measured | |", "|---|---:|---|"]
    out += passes_targets(passes)
    return "\n".join(out + [""])


def missing_only_report(missing, elapsed):
    """The report of BENCH_ONLY=missing: the machine and the sections on
    missing values."""
    import sqlite3
    out = ["# make bench, EM with missing values only (BENCH_ONLY=missing)", "",
           f"Generated by `BENCH_ONLY=missing make bench` (bench/run.sh, bench/driver.py) in "
           f"{elapsed / 60:.1f} min: a partial run; `make bench` writes the whole report to "
           "bench/RESULTS.md.", "", "## Machine", "", "| | |", "|---|---|"]
    # bench_core uses no SQLite; impute_rmse.py runs through Python's module.
    sqlite_lib = f"{sqlite3.sqlite_version} (Python's sqlite3 module)"
    sk_info = sklearn_info()
    out += [f"| {k} | {v} |" for k, v in machine(sk_info, sqlite_lib)]
    out += [f"| gmm threads | `threads` 0, every core ({os.cpu_count()} here) |"]
    out += missing_report(missing)
    out += ["", "## Targets", "", "| target | measured | |", "|---|---:|---|"]
    out += missing_targets(missing)
    return "\n".join(out + [""])


def mclust_only_report(mclust, elapsed):
    """The report of BENCH_ONLY=mclust: the machine and the section on
    mclust's covariance models."""
    out = ["# make bench, mclust's covariance models only (BENCH_ONLY=mclust)", "",
           f"Generated by `BENCH_ONLY=mclust make bench` (bench/run.sh, bench/driver.py) in "
           f"{elapsed / 60:.1f} min: a partial run; `make bench` writes the whole report to "
           "bench/RESULTS.md.", "", "## Machine", "", "| | |", "|---|---|"]
    # bench_core uses neither SQLite nor scikit-learn.
    out += [f"| {k} | {v} |" for k, v in machine(None, "not used (bench_core alone)")]
    out += [f"| gmm threads | `threads` 0, every core ({os.cpu_count()} here) |"]
    out += mclust_report(mclust)
    return "\n".join(out + [""])


def previous_figures(path):
    """The seconds per EM iteration of the report at path (the previous
    bench/RESULTS.md), as {(data set label, column name): seconds}; empty
    when there is none."""
    figures = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return figures
    try:
        start = lines.index("## Seconds per EM iteration")
    except ValueError:
        return figures
    head = None
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if head is None:
            head = cells
            continue
        for name, cell in zip(head[2:], cells[2:]):
            try:
                figures[(cells[0], name)] = float(cell.rstrip("x"))
            except ValueError:
                pass
    return figures


def against_previous(results, previous):
    """The section that sets every new figure beside the previous report's."""
    if not previous:
        return ["", "## Against the previous run", "", "No previous bench/RESULTS.md to compare with."]
    out = ["", "## Against the previous run", "",
           "Seconds per EM iteration of the bench/RESULTS.md this run replaces, beside this "
           "run's (now / before: below 1 is faster; load and the machine's state move these "
           "by several percent from run to run).", "",
           "| data set | type | tool | before | now | now / before |", "|---|---|---|---:|---:|---:|"]
    names = {"core": "core", "core_sorted": "core sorted", "sql": "SQL", "sklearn": "sklearn"}
    for r in results:
        lab = label(r["n"], r["d"], r["k"])
        for cov in COVS:
            for tool, col in names.items():
                before = previous.get((lab, f"{cov}: {col}"))
                now = r["res"][cov][tool]["per_iter_s"]
                if before:
                    out.append(f"| {lab} | {cov} | {col} | {fmt_s(before)} | {fmt_s(now)} | "
                               f"{now / before:.2f} |")
    return out


def fair_starts(results):
    """The section timing gmm's core (rows sorted) and scikit-learn from one
    starting point: how much of the main table's ratio is where EM starts."""
    out = ["", "## Fair starts: gmm and scikit-learn from the same parameters", "",
           "The main table lets each tool start EM its own way (random_from_data with its own "
           "random rows), and an iteration's cost depends on where EM is (how many "
           "responsibilities underflow, which rows the statistics skip). Here both start from "
           "the same weights (1/k), means (k rows drawn with numpy's default_rng(0)) and "
           "precisions (the inverse of the data's covariance, in the covariance type's shape): "
           "bench_sklearn.py start writes them, bench_core start=PATH and GaussianMixture's "
           "weights_init, means_init, precisions_init read them, so both run the same EM (the "
           "mean log-likelihood after scikit-learn's M iterations is printed for both; gmm is "
           "timed over its own, longer M as in the main table). gmm: the core on the rows in "
           "canonical order.", "",
           "| data set | M (gmm / sklearn) | type | gmm (s/iter) | sklearn (s/iter) | sklearn/gmm | own starts: "
           "sklearn/core sorted | mean log-lik. gmm | sklearn |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for cov in COVS:
            rr = r["res"][cov]
            if "core_start" not in rr:
                continue
            g, k = rr["core_start"], rr["sklearn_start"]
            out.append(f"| {label(r['n'], r['d'], r['k'])} | {r['gmm_iter']} / {r['iter']} | {cov} | "
                       f"{fmt_s(g['per_iter_s'])} | {fmt_s(k['per_iter_s'])} | "
                       f"**{ratio(k['per_iter_s'], g['per_iter_s'])}** | "
                       f"{ratio(rr['sklearn']['per_iter_s'], rr['core_sorted']['per_iter_s'])} | "
                       f"{g['mean_ll_at_sklearn_iter']:.6f} | {k['mean_ll']:.6f} |")
    return out


def report(results, sqlr, elapsed, passes=None, missing=None, mclust=None, bayes=None,
           floors=None):
    sk_info = results[0]["res"]["full"]["sklearn"]
    sqlite_lib = results[0]["res"]["full"]["sql"]["sqlite"]
    out = ["# make bench: gmm against scikit-learn", ""]
    out += [f"Generated by `make bench` (bench/run.sh, bench/driver.py) in {elapsed / 60:.1f} min.",
            "", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine(sk_info, sqlite_lib, dask_version(passes))]
    out += ["", "## Method", "",
            f"Every fit: `init` random_from_data, `tol` 0, `n_init` 1, seed / random_state 0, "
            f"M EM iterations, M = {ITER} for scikit-learn on the 1M-row sets and more for the "
            f"smaller ones, and {GMM_ITER} times that for gmm, whose iterations are 10 to 60 "
            "times cheaper (the table says), so that every timed fit lasts long enough to time; "
            "the data sets "
            "are seeded Gaussian mixtures "
            "(bench/gen_data.c: weights uniform in [0.5, 1.5] normalised, means uniform in "
            "[-8, 8]^d, covariances A A'/d + 0.05 I) cached in " + DATA + ".",
            "",
            f"- **core**: bench/bench_core.c linked with the core objects, `gmm_fit` on the rows "
            "in memory; s/iter = (t(max_iter M) - t(max_iter 0)) / M. **core sorted**: "
            "the same after `gmm_canonical_order` on the rows, the order gmm_fit in SQL fits them "
            "in (so it starts from the same rows as SQL and fits the same model; row order changes "
            "the time through branches and exp underflow).",
            f"- **SQL**: bench/bench_sql.c, the system libsqlite3 loading `{EXT}`, with at least "
            f"M and at least {SQL_MIN_S} s of iterations (from core sorted's time; SQLite's feed "
            "and the sort vary by a tenth of a second from run to run), "
            "`SELECT length(gmm_fit('{\"k\":K,\"covariance_type\":C,\"init\":\"random_from_data\","
            "\"tol\":0,\"max_iter\":M}', x0, ..., xd)) FROM pts` on a file database already in the "
            "OS page cache; s/iter = (t(M) - t(0)) / M, so the scan, buffering "
            "and canonical sort cancel out (they are in the fixed-cost table).",
            f"- **sklearn**: `GaussianMixture(n_components=K, covariance_type=C, "
            f"init_params='random_from_data', tol=0, max_iter=M, n_init=1, random_state=0).fit(X)`"
            f" on the same rows (numpy from the same file); it cannot run max_iter 0, so "
            "s/iter = (t(M) - t(1)) / (M - 1). Run with OPENBLAS_CORETYPE and "
            "OPENBLAS_L2_SIZE unset.",
            "- **ratio** = sklearn s/iter / gmm s/iter: above 1 gmm is faster.",
            "- **peak**: getrusage ru_maxrss at the end minus the resident set once the data is "
            "loaded (core, sklearn: the data array; SQL: before the first query, so the "
            "extension's own copy of the rows is included).",
            f"- Each timing is the fastest of {REPEAT} run(s). gmm runs with its default "
            f"`threads` 0, every core ({os.cpu_count()} here); scikit-learn uses OpenBLAS's "
            "threads (see threadpool_info below).",
            "", "## Seconds per EM iteration", ""]
    head = "| data set (rows x d, k) | M (gmm / sklearn) |"
    sep = "|---|---:|"
    for cov in COVS:
        head += (f" {cov}: core | {cov}: core sorted | {cov}: SQL | {cov}: sklearn |"
                 f" {cov}: sklearn/core | {cov}: sklearn/SQL |")
        sep += "---:|" * 6
    out += [head, sep]
    for r in results:
        line = f"| {label(r['n'], r['d'], r['k'])} | {r['gmm_iter']} / {r['iter']} |"
        for cov in COVS:
            c, cs, s, k = (r["res"][cov][t]["per_iter_s"]
                           for t in ("core", "core_sorted", "sql", "sklearn"))
            line += f" {fmt_s(c)} | {fmt_s(cs)} | {fmt_s(s)} | {fmt_s(k)} | **{ratio(k, c)}** | {ratio(k, s)} |"
        out.append(line)
    out += fair_starts(results)
    if floors:
        out += ["", "## Full covariance against this machine's floor", "",
                "The machine's rates (numpy, the fastest of each measurement, bench/rates.py):", ""]
        out += rates_lines(floors) + [""] + floors_table(floors)
    out += against_previous(results, previous_figures(os.path.join(HERE, "RESULTS.md")))
    out += ["", "## Peak memory above the data (MiB)", ""]
    out += table_head("| data set | data |", "|---|---:|", ("core", "SQL", "sklearn"))
    for r in results:
        line = f"| {label(r['n'], r['d'], r['k'])} | {r['data_mib']:.0f} |"
        for cov in COVS:
            line += "".join(f" {r['res'][cov][t]['peak_mib']:.0f} |" for t in ("core", "sql", "sklearn"))
        out.append(line)
    out += ["", "## Fixed costs (seconds): core max_iter 0, SQL max_iter 0 (scan, buffer, sort, "
            "init, final pass), sklearn max_iter 1", ""]
    out += table_head("| data set |", "|---|", ("core", "SQL", "sklearn"))
    for r in results:
        rr = r["res"]
        line = f"| {label(r['n'], r['d'], r['k'])} |"
        for cov in COVS:
            line += (f" {fmt_s(rr[cov]['core']['init_s'])} | {fmt_s(rr[cov]['sql']['init_s'])} |"
                     f" {fmt_s(rr[cov]['sklearn']['fit1_s'])} |")
        out.append(line)
    if sqlr:
        q = sqlr
        out += ["", f"## SQL level: 1M x 2, k 3, full, {q['max_iter']} iterations", "",
                "| what | seconds |", "|---|---:|",
                f"| `SELECT gmm_fit('{{\"k\":3,\"init\":\"random_from_data\",\"tol\":0,"
                f"\"max_iter\":{q['max_iter']}}}', x0, x1) FROM pts` end to end | "
                f"**{q['gmm_fit_s']:.2f}** |",
                f"| read pts into numpy: `fetchall()` + `np.array` | {q['read_fetchall_s']:.2f} |",
                f"| read pts into numpy: `np.fromiter` over the cursor | {q['read_fromiter_s']:.2f} |",
                f"| sklearn `fit`, {q['max_iter']} iterations | {q['sklearn_fit_s']:.2f} |",
                f"| sklearn total (faster read + fit) | **{q['sklearn_total_s']:.2f}** "
                f"({ratio(q['sklearn_total_s'], q['gmm_fit_s'])} gmm) |",
                "", f"Fastest of {q['repeat']} each. Over all {q['n']} rows:", "",
                "| query | seconds |", "|---|---:|",
                f"| `SELECT sum(gmm_predict(?, x0, x1)) FROM pts` (model bound) | "
                f"{q['predict_param_s']:.3f} |",
                f"| `SELECT sum(gmm_predict((SELECT model FROM m), x0, x1)) FROM pts` | "
                f"{q['predict_subquery_s']:.3f} |",
                f"| `SELECT sum(gmm_predict(m.model, x0, x1)) FROM m, pts` (a join) | "
                f"{q['predict_join_s']:.3f} |",
                f"| `SELECT sum(x0 + x1) FROM pts` (the scan alone) | {q['sum_x0_x1_s']:.3f} |",
                f"| sklearn `predict(X)` on the numpy array | {q['sklearn_predict_s']:.3f} |",
                "",
                f"gmm_predict per row beyond the scan: "
                f"{(q['predict_param_s'] - q['sum_x0_x1_s']) / q['n'] * 1e9:.0f} ns (bound), "
                f"{(q['predict_join_s'] - q['sum_x0_x1_s']) / q['n'] * 1e9:.0f} ns (join), "
                f"{(q['predict_subquery_s'] - q['sum_x0_x1_s']) / q['n'] * 1e9:.0f} ns (subquery: "
                "SQLite copies a scalar subquery's BLOB into the argument on every row)."]
    if passes:
        out += passes_report(passes)
    if missing:
        out += missing_report(missing)
    if mclust:
        out += mclust_report(mclust)
    if bayes:
        out += bayes_report(bayes)
    out += targets(results, sqlr, passes, missing, bayes, floors)
    out += ["", "## threadpoolctl threadpool_info() in the scikit-learn process", "", "```",
            json.dumps(sk_info["threadpool_info"], indent=1), "```", ""]
    return "\n".join(out)


def main():
    global LOAD0
    LOAD0 = " ".join(sh("cat /proc/loadavg").split()[:3])
    if ITER < 2:
        sys.exit("BENCH_ITER must be at least 2 (scikit-learn's per-iteration time needs it)")
    # A partial run: one section, its own report and JSON.
    partial = {
        "passes": (lambda: measure_passes([]), passes_only_report),
        "missing": (measure_missing, missing_only_report),
        "mclust": (measure_mclust, mclust_only_report),
        "floors": (measure_floors, floors_report),
        "bayes": (measure_bayes, bayes_only_report),
    }
    if ONLY in partial:
        measure_fn, report_fn = partial[ONLY]
        data = measure_fn()
        path = os.path.join(BIN, f"results-{ONLY}.json")
        with open(path, "w") as f:
            json.dump({ONLY: data}, f, indent=1)
        md = report_fn(data, time.time() - T_START)
        print(md)
        with open(OUT, "w") as f:
            f.write(md)
        log(f"done in {(time.time() - T_START) / 60:.1f} min; wrote {OUT} and {path}")
        return
    results = []
    for s in SETS:
        results.append(measure(*s))
    floors = measure_floors()
    sqlr = None
    if any(tuple(s[:3]) == (1000000, 2, 3) for s in SETS):
        log(f"SQL level: 1M x 2, k 3, {SQL_ITER} iterations")
        _, db = ensure_data(1000000, 2, 3, 1)
        sqlr = run_json([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "sql", db, EXT,
                         str(SQL_ITER), str(REPEAT)], env=SKLEARN_ENV)
    passes = measure_passes(results) if PASSES else None
    missing = measure_missing()
    mclust = measure_mclust()
    bayes = measure_bayes()
    with open(os.path.join(BIN, "results.json"), "w") as f:
        json.dump({"sets": results, "floors": floors, "sql_level": sqlr, "passes": passes,
                   "missing": missing, "mclust": mclust, "bayes": bayes}, f, indent=1)
    md = report(results, sqlr, time.time() - T_START, passes, missing, mclust, bayes, floors)
    print(md)
    with open(OUT, "w") as f:
        f.write(md)
    log(f"done in {(time.time() - T_START) / 60:.1f} min; wrote {OUT} and "
        f"{os.path.join(BIN, 'results.json')}")


if __name__ == "__main__":
    main()
