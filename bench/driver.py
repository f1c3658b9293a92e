"""driver.py -- make bench: gmm (core alone and through SQL) against
scikit-learn, side by side in one run. Started by bench/run.sh; see there
for the environment it reads.

1. Generates the data sets once (bench/gen_data.c, seeded) into
   $BUILD/bench/data/*.f64, and loads each into a SQLite database beside it
   (*.db, table pts); later runs reuse both.
2. For each data set and covariance type: seconds per EM iteration and peak
   memory of the core (bench_core), of SELECT gmm_fit(...) (bench_sql) and of
   scikit-learn (bench_sklearn.py, run with OPENBLAS_CORETYPE and
   OPENBLAS_L2_SIZE removed from its environment).
3. The SQL-level figures on 1M x 2, k 3 (bench_sklearn.py sql).
4. Prints the Markdown report and writes it to bench/RESULTS.md.
"""
import datetime
import json
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
SQL_ITER = int(os.environ.get("BENCH_SQL_ITER", "20"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
COVS = ("full", "diag")

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
    runs = [run_json(cmd, env) for _ in range(REPEAT)]
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
    res = {}
    for cov in COVS:
        log(f"{label(n, d, k)} {cov}: core")
        core = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov, str(it)],
                    ("init_s", "fit_s"))
        log(f"{label(n, d, k)} {cov}: core, rows sorted")
        core_sorted = best([os.path.join(BIN, "bench_core"), f64, str(n), str(d), str(k), cov,
                            str(it), "sorted"], ("init_s", "fit_s"))
        log(f"{label(n, d, k)} {cov}: SQL")
        sql = best([os.path.join(BIN, "bench_sql"), "fit", db, EXT, str(d), str(k), cov, str(it)],
                   ("init_s", "fit_s"))
        log(f"{label(n, d, k)} {cov}: scikit-learn")
        sk = best([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "fit", f64, str(n), str(d),
                   str(k), cov, str(it)], ("fit1_s", "fit_s"), env=SKLEARN_ENV)
        core["per_iter_s"] = (core["fit_s"] - core["init_s"]) / it
        core_sorted["per_iter_s"] = (core_sorted["fit_s"] - core_sorted["init_s"]) / it
        sql["per_iter_s"] = (sql["fit_s"] - sql["init_s"]) / it
        sk["per_iter_s"] = (sk["fit_s"] - sk["fit1_s"]) / (it - 1)
        res[cov] = {"core": core, "core_sorted": core_sorted, "sql": sql, "sklearn": sk}
        log(f"  s/iter core {core['per_iter_s']:.4f}  sorted {core_sorted['per_iter_s']:.4f}  "
            f"SQL {sql['per_iter_s']:.4f}  sklearn {sk['per_iter_s']:.4f}")
    return {"n": n, "d": d, "k": k, "seed": seed, "iter": it, "data_mib": n * d * 8 / 2**20,
            "res": res}


# ---- machine -----------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def machine(sk_info, sqlite_lib):
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
    blas = [t for t in sk_info["threadpool_info"] if t.get("user_api") == "blas"]
    blas_txt = "; ".join(
        f"{t.get('internal_api')} {t.get('version')} ({t.get('threading_layer', '?')} threads, "
        f"{t.get('num_threads')} of them, kernel {t.get('architecture', '?')}) {t.get('filepath')}"
        for t in blas) or "no BLAS seen by threadpoolctl (reference BLAS?)"
    pkg = sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null")
    return [
        ("Date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", f"{cpu} ({simd})"),
        ("Cores", f"{os.cpu_count()} online, {len(os.sched_getaffinity(0))} usable"),
        ("Memory", mem),
        ("OS", f"{osname}, Linux {platform.release()}"),
        ("SQLite", f"library {sqlite_lib}; shell {sh('sqlite3 --version').split(' ')[0]}"),
        ("Compiler", f"{sh(CC + ' --version').splitlines()[0]}; `{CFLAGS}`"),
        ("Python", platform.python_version() + f" ({PYTHON})"),
        ("scikit-learn", sk_info["sklearn"]),
        ("numpy", sk_info["numpy"]),
        ("scipy", sh(f"{PYTHON} -c 'import scipy; print(scipy.__version__)'")),
        ("OpenBLAS", f"{blas_txt}; Debian package libopenblas0-pthread {pkg or 'not installed'}"),
        ("Load average", f"start {LOAD0}, end {' '.join(sh('cat /proc/loadavg').split()[:3])}"),
    ]


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


def targets(results, sqlr):
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
    return ["", "## Targets of the performance issue", "", "| target | measured | |",
            "|---|---:|---|"] + rows


def report(results, sqlr, elapsed):
    sk_info = results[0]["res"]["full"]["sklearn"]
    sqlite_lib = results[0]["res"]["full"]["sql"]["sqlite"]
    out = ["# make bench: gmm against scikit-learn", ""]
    out += [f"Generated by `make bench` (bench/run.sh, bench/driver.py) in {elapsed / 60:.1f} min.",
            "", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine(sk_info, sqlite_lib)]
    out += ["", "## Method", "",
            f"Every fit: `init` random_from_data, `tol` 0, `n_init` 1, seed / random_state 0, "
            f"M EM iterations, M = {ITER} for the 1M-row sets and more for the smaller ones "
            "(the table says), so that every timed fit lasts long enough to time; the data sets "
            "are seeded Gaussian mixtures "
            "(bench/gen_data.c: weights uniform in [0.5, 1.5] normalised, means uniform in "
            "[-8, 8]^d, covariances A A'/d + 0.05 I) cached in " + DATA + ".",
            "",
            f"- **core**: bench/bench_core.c linked with the core objects, `gmm_fit` on the rows "
            "in memory; s/iter = (t(max_iter M) - t(max_iter 0)) / M. **core sorted**: "
            "the same after `gmm_canonical_order` on the rows, the order gmm_fit in SQL fits them "
            "in (so it starts from the same rows as SQL and fits the same model; row order changes "
            "the time through branches and exp underflow).",
            f"- **SQL**: bench/bench_sql.c, the system libsqlite3 loading `{EXT}`, "
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
    head = "| data set (rows x d, k) | M |"
    sep = "|---|---:|"
    for cov in COVS:
        head += (f" {cov}: core | {cov}: core sorted | {cov}: SQL | {cov}: sklearn |"
                 f" {cov}: sklearn/core | {cov}: sklearn/SQL |")
        sep += "---:|" * 6
    out += [head, sep]
    for r in results:
        line = f"| {label(r['n'], r['d'], r['k'])} | {r['iter']} |"
        for cov in COVS:
            c, cs, s, k = (r["res"][cov][t]["per_iter_s"]
                           for t in ("core", "core_sorted", "sql", "sklearn"))
            line += f" {fmt_s(c)} | {fmt_s(cs)} | {fmt_s(s)} | {fmt_s(k)} | **{ratio(k, c)}** | {ratio(k, s)} |"
        out.append(line)
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
    out += targets(results, sqlr)
    out += ["", "## threadpoolctl threadpool_info() in the scikit-learn process", "", "```",
            json.dumps(sk_info["threadpool_info"], indent=1), "```", ""]
    return "\n".join(out)


def main():
    global LOAD0
    LOAD0 = " ".join(sh("cat /proc/loadavg").split()[:3])
    if ITER < 2:
        sys.exit("BENCH_ITER must be at least 2 (scikit-learn's per-iteration time needs it)")
    results = []
    for s in SETS:
        results.append(measure(*s))
    sqlr = None
    if any(tuple(s[:3]) == (1000000, 2, 3) for s in SETS):
        log(f"SQL level: 1M x 2, k 3, {SQL_ITER} iterations")
        _, db = ensure_data(1000000, 2, 3, 1)
        sqlr = run_json([PYTHON, os.path.join(HERE, "bench_sklearn.py"), "sql", db, EXT,
                         str(SQL_ITER), str(REPEAT)], env=SKLEARN_ENV)
    with open(os.path.join(BIN, "results.json"), "w") as f:
        json.dump({"sets": results, "sql_level": sqlr}, f, indent=1)
    md = report(results, sqlr, time.time() - T_START)
    print(md)
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write(md)
    log(f"done in {(time.time() - T_START) / 60:.1f} min; wrote bench/RESULTS.md and "
        f"{os.path.join(BIN, 'results.json')}")


if __name__ == "__main__":
    main()
