"""tests/dask/check.py EXTENSION: python/gmm_dask.py on a real Dask LocalCluster.

Run by tests/dask/run.sh (which installs Dask and bounds the whole run with
`timeout`). Checks, against python/gmm_dask.py's numbered requirements:

  (1) a fit of 8 shards on a LocalCluster of 2 worker processes equals, byte
      for byte, the same passes run in one sqlite3 process over the 8 files
      ATTACHed; with the shards listed in another order too; n_iter > 1;
      and again when a worker process is SIGKILLed mid-fit (its Nanny
      restarts it);
  (6) every TCP socket the test's process tree listens on while the cluster
      runs is on 127.0.0.1 (read from /proc, as `ss -ltnp` would show);
  (7) the command's one-line errors: a missing shard file, a shard without
      table t, an unreachable scheduler; and the command itself (--scheduler
      with --out, --local with --time) gives the library's bytes.

If the cluster cannot start (twice), prints "SKIP dask: <why>" and exits 0:
Debian marks its Dask daemons flaky. Every check after startup is a hard
failure. Ends with "N passed, M failed"; exit status 1 on any failure.
"""

import ipaddress
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "python" / "gmm_dask.py"
sys.path.insert(0, str(SCRIPT.parent))

import gmm_dask  # noqa: E402

SHARDS = 8
ROWS_PER_SHARD = 2000
SPEC = '{"k": 3, "seed": 7, "max_iter": 30, "tol": 1e-4}'
QUERY = "SELECT x, y FROM t"
WEIGHTED_SPEC = '{"k": 3, "seed": 7, "max_iter": 30, "weighted": true}'
WEIGHT = "1.0 + (rowid % 3)"
WEIGHTED_QUERY = "SELECT %s AS w, x, y FROM t" % WEIGHT
CENTRES = [(-2.0, 0.0, 1.5), (2.0, 1.0, 1.5), (0.0, -2.0, 1.2)]   # x, y, sd: overlapping
PASS_TIMEOUT = 60        # seconds for one pass on the cluster
COMMAND_TIMEOUT = 120    # seconds for one run of the command


class Checks:
    """Counts and prints checks; a failure is printed with what was seen."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, name, detail=""):
        if ok:
            self.passed += 1
            print("ok    %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL  %s%s" % (name, ": " + detail if detail else ""), flush=True)
        return ok

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


# --------------------------------------------------------------------------
# Data and the one-process reference.

def make_shards(directory):
    """8 databases of t(x REAL, y REAL): 3 Gaussian clusters, fixed seed."""
    generator = random.Random(20240607)
    paths = []
    for shard in range(SHARDS):
        rows = []
        for _ in range(ROWS_PER_SHARD):
            cx, cy, sd = generator.choice(CENTRES)
            rows.append((generator.gauss(cx, sd), generator.gauss(cy, sd)))
        path = os.path.join(directory, "shard%d.db" % shard)
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE t(x REAL, y REAL)")
            connection.executemany("INSERT INTO t(x, y) VALUES (?, ?)", rows)
        connection.close()
        paths.append(path)
    return paths


def reference_fit(extension, paths, spec, columns="x, y"):
    """The same passes in one sqlite3 process, the shards ATTACHed."""
    connection = sqlite3.connect("file::memory:", uri=True)   # ATTACH reads URIs too
    connection.enable_load_extension(True)
    connection.load_extension(extension)
    connection.enable_load_extension(False)
    for shard, path in enumerate(paths):
        connection.execute("ATTACH ? AS s%d" % shard, ("file:%s?mode=ro" % path,))

    def union(aggregate):
        return " UNION ALL ".join("SELECT %s(?1, %s) AS s FROM s%d.t" % (aggregate, columns, shard)
                                  for shard in range(len(paths)))

    def one(sql, *arguments):
        return connection.execute(sql, arguments).fetchone()[0]

    model = one("SELECT gmm_start((SELECT gmm_merge(s) FROM (%s)))" % union("gmm_init"), spec)
    limit = one("SELECT json_extract(gmm_info(?1), '$.options.max_iter')", model)
    while not one("SELECT gmm_converged(?1)", model) \
            and one("SELECT json_extract(gmm_info(?1), '$.n_iter')", model) < limit:
        model = one("SELECT gmm_mstep(?1, (SELECT gmm_merge(s) FROM (%s)))"
                    % union("gmm_estep"), model)
    connection.close()
    return model


def n_iter(extension, model):
    return json.loads(gmm_dask.model_info(model, extension))["n_iter"]


# --------------------------------------------------------------------------
# The cluster and its sockets.

def start_cluster():
    """gmm_dask's LocalCluster of 2 workers and a client; one retry. None, why on failure."""
    from distributed import Client

    why = "unknown"
    for attempt in (1, 2):
        cluster = None
        try:
            cluster = gmm_dask.start_local_cluster(2)
            client = Client(cluster, timeout=30)
            client.wait_for_workers(2, timeout=30)
            return cluster, client, None
        except Exception as error:       # flaky daemons: report, retry once
            why = "%s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else "")
            print("dask: cluster startup attempt %d failed: %s" % (attempt, why), flush=True)
            if cluster is not None:
                try:
                    cluster.close()
                except Exception:
                    pass
    return None, None, why


def process_tree(root):
    """The pids of `root` and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc/%s/stat" % entry).read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def listening_sockets(pids):
    """[(address, port, pid)] of the TCP sockets in LISTEN state owned by `pids`."""
    owner = {}
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if target.startswith("socket:["):
                    owner[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in owner:
                continue
            address, port = local.split(":")
            found.append((decode_address(address, width), int(port, 16), owner[inode]))
    return found


def decode_address(hexadecimal, width):
    """/proc/net/tcp{,6}'s address, in the usual notation."""
    raw = bytes.fromhex(hexadecimal)        # 32-bit words in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if width == 8:
        return str(ipaddress.IPv4Address(words))
    return "[%s]" % ipaddress.IPv6Address(words)


def check_sockets(checks, moment):
    sockets = listening_sockets(process_tree(os.getpid()))
    exposed = ["%s:%d (pid %d)" % s for s in sockets if s[0] != "127.0.0.1"]
    # scheduler + its dashboard, and per worker: nanny, worker, dashboard
    checks.check(len(sockets) >= 2 + 3 * 2 and not exposed,
                 "%s: every listening socket of the cluster is on 127.0.0.1 (%d sockets)"
                 % (moment, len(sockets)),
                 "exposed: %s" % ", ".join(exposed) if exposed else
                 "only %d listening sockets found" % len(sockets))


def worker_pids(client):
    return client.run(os.getpid)


def wait_for_restart(client, old, timeout=30):
    """Worker pids once 2 workers answer and none is a killed one (or the last seen)."""
    deadline = time.monotonic() + timeout
    pids = {}
    while time.monotonic() < deadline:
        try:
            pids = worker_pids(client)
            if len(pids) == 2 and not set(pids.values()) & old:
                return pids
        except Exception:
            pass
        time.sleep(0.2)
    return pids


# --------------------------------------------------------------------------
# The command.

def command(extension, *arguments, timeout=COMMAND_TIMEOUT):
    return subprocess.run([sys.executable, str(SCRIPT), "--extension", extension] +
                          list(arguments), capture_output=True, text=True, timeout=timeout)


def start_command(extension, *arguments):
    return subprocess.Popen([sys.executable, str(SCRIPT), "--extension", extension] +
                            list(arguments), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def check_error(checks, name, result, *expected):
    lines = result.stderr.strip().splitlines()
    checks.check(result.returncode == 1 and len(lines) == 1
                 and lines[0].startswith("gmm_dask: ")
                 and all(text in lines[0] for text in expected),
                 name, "status %s, stderr %r" % (result.returncode, result.stderr))


# --------------------------------------------------------------------------

def cluster_checks(checks, client, scheduler, extension, paths, directory):
    check_sockets(checks, "running")

    started = time.monotonic()
    model = gmm_dask.fit(client, paths, QUERY, SPEC, extension=extension,
                         timeout=PASS_TIMEOUT)
    seconds = time.monotonic() - started
    reference = reference_fit(extension, paths, SPEC)
    iterations = n_iter(extension, model)
    checks.check(model == reference,
                 "Dask fit == one-process passes over the ATTACHed shards, byte for byte "
                 "(%d iterations, %.1f s)" % (iterations, seconds),
                 "%d vs %d bytes; n_iter %d vs %d" % (len(model), len(reference), iterations,
                                                      n_iter(extension, reference)))
    checks.check(iterations > 1, "the fit took more than one iteration", "n_iter %d" % iterations)

    shuffled = paths[::-1]
    shuffled[1], shuffled[5] = shuffled[5], shuffled[1]
    again = gmm_dask.fit(client, shuffled, QUERY, SPEC, extension=extension,
                         timeout=PASS_TIMEOUT)
    checks.check(again == model, "the shards in another order give the same bytes")

    limited = gmm_dask.fit(client, paths, QUERY, SPEC, extension=extension, max_iter=3,
                           timeout=PASS_TIMEOUT)
    info = json.loads(gmm_dask.model_info(limited, extension))
    limited_spec = json.dumps(dict(json.loads(SPEC), max_iter=3))  # the model carries it
    checks.check(limited == reference_fit(extension, paths, limited_spec)
                 and info["n_iter"] == 3 and not info["converged"],
                 "max_iter=3 stops after 3 iterations, unconverged, same bytes",
                 "n_iter %d, converged %s" % (info["n_iter"], info["converged"]))

    weighted = gmm_dask.fit(client, paths, WEIGHTED_QUERY, WEIGHTED_SPEC,
                            extension=extension, timeout=PASS_TIMEOUT)
    checks.check(weighted == reference_fit(extension, paths, WEIGHTED_SPEC,
                                           WEIGHT + ", x, y"),
                 "weighted: the query's first column is the weight, same bytes")

    killed = set()

    def kill_at_two(step):
        if step.iteration == 2 and not killed:
            address, pid = sorted(worker_pids(client).items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)

    survived = gmm_dask.fit(client, paths, QUERY, SPEC, extension=extension,
                            progress=kill_at_two, timeout=PASS_TIMEOUT)
    checks.check(len(killed) == 1, "a worker process was killed at iteration 2")
    checks.check(survived == model, "with a worker killed mid-fit: the same bytes")
    pids = wait_for_restart(client, killed)
    checks.check(len(pids) == 2 and not set(pids.values()) & killed,
                 "the Nanny restarted the killed worker", "workers now %r" % pids)
    check_sockets(checks, "after the restart")

    out = os.path.join(directory, "model.bin")
    result = command(extension, "--spec", SPEC, "--query", QUERY,
                     "--scheduler", scheduler, "--out", out, *paths)
    written = Path(out).read_bytes() if os.path.exists(out) else b""
    info = json.loads(result.stdout) if result.returncode == 0 and result.stdout else {}
    checks.check(result.returncode == 0 and written == model
                 and info.get("n_iter") == iterations,
                 "command --scheduler --out: the same bytes, gmm_info on stdout",
                 "status %d, stderr %r" % (result.returncode, result.stderr[-500:]))
    checks.check(result.stderr.count("iteration ") == iterations,
                 "command prints one progress line per iteration",
                 "stderr %r" % result.stderr[-500:])

    no_table = os.path.join(directory, "notable.db")
    with sqlite3.connect(no_table) as connection:
        connection.execute("CREATE TABLE other(x REAL, y REAL)")
    connection.close()
    result = command(extension, "--spec", SPEC, "--query", QUERY,
                     "--scheduler", scheduler, paths[0], no_table)
    check_error(checks, "error: a shard without table t", result,
                "notable.db", "no such table: t")


def main():
    extension = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "gmm"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("dask: terminated"))
    checks = Checks()
    directory = tempfile.mkdtemp(prefix="gmm-dask-")
    unreachable = None
    try:
        try:
            gmm_dask.local_connection(extension).close()
        except gmm_dask.GmmDaskError as error:
            checks.check(False, "the extension loads", str(error))
            return checks.summary()
        paths = make_shards(directory)
        # takes the connect timeout (10 s): runs while the rest goes on
        unreachable = start_command(extension, "--spec", SPEC, "--query", QUERY,
                                    "--scheduler", "tcp://127.0.0.1:1", *paths)

        missing = os.path.join(directory, "missing.db")
        check_error(checks, "error: a missing shard file",
                    command(extension, "--spec", SPEC, "--query", QUERY,
                            "--local", "2", paths[0], missing),
                    "no such shard file", missing)

        cluster, client, why = start_cluster()
        if cluster is None:
            print("SKIP dask: the LocalCluster did not start twice (%s)" % why, flush=True)
            return 0
        try:
            cluster_checks(checks, client, cluster.scheduler_address, extension,
                           paths, directory)
        except Exception as error:
            checks.check(False, "cluster checks ran to the end",
                         "%s: %s" % (type(error).__name__, error))
        finally:
            client.close()
            cluster.close()

        result = command(extension, "--spec", SPEC, "--query", QUERY, "--local", "2",
                         "--max-iter", "2", "--time", *paths)
        timing = [line for line in result.stderr.splitlines()
                  if line.startswith("gmm_dask: time ")]
        timed = json.loads(timing[0][len("gmm_dask: time "):]) if timing else {}
        info = json.loads(result.stdout) if result.returncode == 0 and result.stdout else {}
        checks.check(info.get("n_iter") == 2 and timed.get("iterations") == 2
                     and timed.get("seconds_per_iteration", 0) > 0,
                     "command --local 2 --max-iter 2 --time",
                     "status %d, stderr %r" % (result.returncode, result.stderr[-500:]))

        try:
            output, errors = unreachable.communicate(timeout=60)
            result = subprocess.CompletedProcess(unreachable.args, unreachable.returncode,
                                                 output, errors)
        except subprocess.TimeoutExpired:
            unreachable.kill()
            result = subprocess.CompletedProcess(unreachable.args, "timeout", "", "")
        check_error(checks, "error: an unreachable scheduler", result,
                    "cannot reach the scheduler at tcp://127.0.0.1:1")
        return checks.summary()
    finally:
        if unreachable is not None and unreachable.poll() is None:
            unreachable.kill()
            unreachable.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
