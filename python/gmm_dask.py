#!/usr/bin/python3
"""gmm_dask: fit a Gaussian mixture over many SQLite databases with Dask.

The data stay where they are: one SQLite database per shard, on the machines
of a Dask ``distributed`` cluster. Only models and statistics cross the
network. EM runs as passes of the ``gmm`` extension's SQL functions:

    initialisation  per shard  gmm_init(spec, [weight,] x1..xd)   (on a worker)
                    client     gmm_start(gmm_merge(states))
    each iteration  per shard  gmm_estep(model, [weight,] x1..xd) (on a worker)
                    client     gmm_mstep(model, gmm_merge(statistics))

Requirements this file keeps (tests/dask/run.sh checks them):

 (1) The same bytes as one process. Shard results are gathered in input
     order (``client.gather`` of ``client.map`` futures, never completion
     order) and ``gmm_merge`` is order-independent anyway, so the model is
     byte for byte the model of the same passes run in one sqlite3 process
     over the shards ATTACHed, whichever worker ran which shard, and when a
     worker dies mid-fit and its tasks run again elsewhere.
 (2) No stale results: every pass is submitted with ``pure=False``, so Dask
     gives its tasks new keys and never reuses an earlier iteration's result.
 (3) Stopping rule: iterate until ``gmm_converged(model)`` is 1 or the
     model's ``n_iter`` reaches its max_iter (``gmm_info(model)`` ->
     ``$.options.max_iter``: the spec's, 100 by default; the ``max_iter``
     argument, command ``--max-iter``, replaces the spec's).
 (4) Workers open their shard read-only (``file:PATH?mode=ro``) and load
     the extension themselves (worker processes are spawned, nothing is
     inherited); the client merges and steps in an in-memory connection.
 (5) The query's result columns are the aggregates' arguments after the
     model or spec: ``[weight,] x1..xd`` (a weight first when the spec says
     ``"weighted": true``). SQLite 3.40 reads ``f(*)`` as a call with no
     arguments and ``f(?, *)`` as a syntax error, so the columns are
     counted on each shard (``SELECT * FROM (query) LIMIT 0``, after
     ``EXPLAIN query`` so that SQLite's errors are about the query) and spelled
     positionally through a CTE:
     ``WITH gmm_dask_rows(c0, ..) AS (query) SELECT gmm_estep(?, c0, ..)
     FROM gmm_dask_rows``; the rows reach the aggregate in the query's order.
 (6) ``--local N`` starts a LocalCluster of N worker processes whose
     scheduler, nannies, workers and dashboards all listen on 127.0.0.1 only
     (Dask 2022.12's defaults would put the dashboards on every interface),
     and closes it at the end, whatever happens.
 (7) Errors are one line, ``gmm_dask: ...``, exit status 1: a missing shard
     file (checked on the client before any cluster starts, naming the
     file); a shard that cannot run the query (SQLite's message from the
     worker, naming the shard); a scheduler that cannot be reached within
     the connect timeout (10 s, naming the address); an extension that
     cannot be loaded (naming the path).

Use as a library (any ``distributed.Client``):

    import gmm_dask
    model = gmm_dask.fit(client, ["a.db", "b.db"], "SELECT x, y FROM t",
                         {"k": 3, "seed": 1})          # -> the model BLOB (bytes)

``spec`` is an int k, or a JSON text or dict (sent as JSON) of gmm_fit's
options, as gmm_init takes it. ``progress``, when given, is called after
every iteration with an :class:`Iteration`; ``timeout`` bounds each pass
(seconds, default none). Shard paths are checked and made absolute on the
client: they must name the same files on the workers (a shared file system,
or the same layout on every machine).

Use as a command:

    python3 python/gmm_dask.py --spec '{"k": 3}' --query 'SELECT x, y FROM t' \\
        [--scheduler tcp://HOST:PORT | --local N] [--extension PATH] \\
        [--max-iter N] [--out model.bin] [--time] [--connect-timeout S] \\
        shard1.db shard2.db ...

It prints each iteration to stderr (iteration, mean log-likelihood per row
under the model the E-step used, change from the previous iteration), then
``gmm_info`` of the result (JSON) to stdout; ``--out`` writes the model
BLOB's bytes. Without ``--scheduler`` it runs ``--local 2``. ``--time``
adds one line to stderr, ``gmm_dask: time {...}``, a JSON object with the
seconds of the initialisation pass, of each iteration and per iteration.

The extension is ``--extension`` when given, else the gmm built in this
repository (``gmm.so`` in the repository root), else the environment
variable GMM_EXTENSION. Its path must be valid on the workers too (a shared
or identical installation). The Python must be able to load extensions
(Debian's /usr/bin/python3 can).

Requires Dask ``distributed`` (Debian 12: ``apt-get install
python3-distributed``, 2022.12.1, the first release that runs on Python
3.11) on the client and every worker. Worker processes are started with the
``spawn`` method, hence the ``if __name__ == "__main__"`` guard below.
"""

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import NamedTuple, Optional

REPOSITORY_EXTENSION = Path(__file__).resolve().parent.parent / "gmm"
DEFAULT_MAX_ITER = 100
CONNECT_TIMEOUT = 10.0
LOCALHOST = "127.0.0.1"


class GmmDaskError(Exception):
    """An error to report as one line, ``gmm_dask: <message>``."""


class Iteration(NamedTuple):
    """What ``progress`` receives after each EM iteration."""

    iteration: int                 # the new model's n_iter
    mean_log_likelihood: float     # per unit of weight, under the previous model
    change: Optional[float]        # from the previous iteration; None at the first
    seconds: float                 # wall time of the pass and the step
    model: bytes                   # the new model BLOB


# --------------------------------------------------------------------------
# Runs on the workers. Self-contained (imports inside) so that cloudpickle
# can ship it by value to workers that do not have this file.

def shard_pass(path, extension, query, aggregate, argument):
    """One pass of `aggregate` (gmm_init or gmm_estep) over one shard.

    Returns the aggregate's BLOB (None when no row was usable); any failure
    is a RuntimeError whose message names the shard.
    """
    import sqlite3
    import urllib.parse

    uri = "file:%s?mode=ro" % urllib.parse.quote(path, safe="/")
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise RuntimeError("shard %s: %s" % (path, error)) from None
    try:
        try:
            connection.enable_load_extension(True)
            connection.load_extension(extension)
            connection.enable_load_extension(False)
        except (sqlite3.Error, AttributeError) as error:
            raise RuntimeError("shard %s: cannot load extension %s: %s"
                               % (path, extension, error)) from None
        try:
            connection.execute("EXPLAIN " + query)   # its own errors, not the wrapper's
            probe = connection.execute("SELECT * FROM (%s) LIMIT 0" % query)
            columns = ", ".join("c%d" % i for i in range(len(probe.description)))
            sql = ("WITH gmm_dask_rows(%s) AS (%s) SELECT %s(?, %s) FROM gmm_dask_rows"
                   % (columns, query, aggregate, columns))
            return connection.execute(sql, (argument,)).fetchone()[0]
        except sqlite3.Error as error:
            raise RuntimeError("shard %s: %s" % (path, error)) from None
    finally:
        connection.close()


# --------------------------------------------------------------------------
# The client side: extension, local steps, passes, the EM loop.

def resolve_extension(extension=None):
    """The extension path to load: the argument, the repository's build, GMM_EXTENSION."""
    if extension:
        return os.path.abspath(extension)
    for suffix in (".so", ".dylib", ".dll"):
        if REPOSITORY_EXTENSION.with_suffix(suffix).exists():
            return str(REPOSITORY_EXTENSION)
    if os.environ.get("GMM_EXTENSION"):
        return os.path.abspath(os.environ["GMM_EXTENSION"])
    raise GmmDaskError("no extension: build gmm.so in %s, pass --extension "
                       "or set GMM_EXTENSION" % REPOSITORY_EXTENSION.parent)


def local_connection(extension):
    """An in-memory connection with the extension loaded, for merges and steps."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.enable_load_extension(True)
        connection.load_extension(extension)
        connection.enable_load_extension(False)
    except (sqlite3.Error, AttributeError) as error:
        connection.close()
        raise GmmDaskError("cannot load extension %s: %s" % (extension, error)) from None
    connection.execute("CREATE TEMP TABLE parts(shard INTEGER PRIMARY KEY, blob BLOB)")
    return connection


def check_shards(paths):
    """Every shard file exists (on the client); returns the paths made absolute."""
    if not paths:
        raise GmmDaskError("no shard given")
    for path in paths:
        if not os.path.isfile(path):
            raise GmmDaskError("no such shard file: %s" % path)
    return [os.path.abspath(path) for path in paths]


def spec_argument(spec):
    """The SQL value for gmm_init's spec: an int k or a JSON text."""
    if isinstance(spec, dict):
        return json.dumps(spec)
    if isinstance(spec, (bytes, bytearray, memoryview)):
        return bytes(spec)
    if isinstance(spec, str):
        try:
            value = json.loads(spec)
        except ValueError:
            return spec           # let gmm_init name what is wrong with it
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return spec
    return spec


def merge(connection, blobs):
    """gmm_merge of the BLOBs (NULLs ignored), in the order given."""
    connection.executemany("INSERT INTO parts(shard, blob) VALUES (?, ?)",
                           list(enumerate(blobs)))
    try:
        return connection.execute("SELECT gmm_merge(blob) FROM parts").fetchone()[0]
    finally:
        connection.execute("DELETE FROM parts")


def scalar(connection, sql, *arguments):
    """The one value of a one-row query, SQLite errors reported as GmmDaskError."""
    try:
        return connection.execute(sql, arguments).fetchone()[0]
    except sqlite3.Error as error:
        raise GmmDaskError("%s: %s" % (sql, error)) from None


def run_pass(client, paths, extension, query, aggregate, argument, timeout=None):
    """`aggregate` over every shard on the cluster; the BLOBs in shard order."""
    from distributed import wait

    futures = client.map(shard_pass, paths, extension=extension, query=query,
                         aggregate=aggregate, argument=argument, pure=False)
    try:
        wait(futures, timeout=timeout)
        return client.gather(futures)
    except TimeoutError:
        raise GmmDaskError("the %s pass did not finish within %s s"
                           % (aggregate, timeout)) from None
    except Exception as error:           # the worker's RuntimeError, KilledWorker, ...
        message = str(error) or type(error).__name__
        raise GmmDaskError(message.splitlines()[0]) from None
    finally:
        client.cancel(futures)


def ship_by_value():
    """Let cloudpickle send this module's functions by value (workers need not have it)."""
    if __name__ == "__main__":
        return                           # cloudpickle ships __main__ by value already
    try:
        import cloudpickle
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except (ImportError, AttributeError, ValueError):
        pass                             # older cloudpickle: workers import gmm_dask


def initial_model(client, connection, paths, extension, query, spec, timeout=None):
    """The initialisation pass: gmm_init per shard, merged, gmm_start."""
    states = run_pass(client, paths, extension, query, "gmm_init",
                      spec_argument(spec), timeout)
    state = merge(connection, states)
    if state is None:
        raise GmmDaskError("no usable row in any shard")
    return scalar(connection, "SELECT gmm_start(?)", state)


def with_max_iter(spec, max_iter):
    """The spec with max_iter set, when given: the model carries it, and
    gmm_mstep goes no further than the model's max_iter."""
    if max_iter is None:
        return spec
    value = spec_argument(spec)
    if isinstance(value, int):
        value = {"k": value}
    elif isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return spec           # let gmm_init name what is wrong with it
    if not isinstance(value, dict):
        return spec
    return dict(value, max_iter=int(max_iter))


def iteration_limit(info):
    """The model's max_iter (requirement 3)."""
    limit = (info.get("options") or {}).get("max_iter")
    return int(limit) if limit is not None else DEFAULT_MAX_ITER


def em_step(client, connection, paths, extension, query, model, timeout=None):
    """One EM iteration: gmm_estep per shard, merged, gmm_mstep.

    Returns (next model, mean log-likelihood of the rows under `model`).
    """
    parts = run_pass(client, paths, extension, query, "gmm_estep", model, timeout)
    statistics = merge(connection, parts)
    if statistics is None:
        raise GmmDaskError("no usable row in any shard")
    summary = json.loads(scalar(connection, "SELECT gmm_stats_info(?)", statistics))
    weight = summary.get("sum_weights") or summary.get("n_rows") or 1
    mean = summary["log_likelihood"] / weight
    return scalar(connection, "SELECT gmm_mstep(?, ?)", model, statistics), mean


def fit(client, paths, query, spec, extension=None, max_iter=None, progress=None,
        timeout=None):
    """Fit a mixture over the shards `paths` on the cluster of `client`.

    query: SQL run on every shard, its columns ``[weight,] x1..xd``.
    spec: k, or a JSON text or dict of gmm_fit options.
    extension: the gmm extension's path (see resolve_extension).
    max_iter: replaces the spec's max_iter (the model carries it).
    progress: called with an Iteration after each iteration.
    timeout: seconds to wait for one pass (None: no limit).
    Returns the model BLOB (bytes). Raises GmmDaskError.
    """
    paths = check_shards(list(paths))
    extension = resolve_extension(extension)
    query = query.strip().rstrip(";").strip()
    connection = local_connection(extension)
    ship_by_value()
    try:
        model = initial_model(client, connection, paths, extension, query,
                              with_max_iter(spec, max_iter), timeout)
        info = json.loads(scalar(connection, "SELECT gmm_info(?)", model))
        limit = iteration_limit(info)
        previous = None
        while not scalar(connection, "SELECT gmm_converged(?)", model) \
                and info["n_iter"] < limit:
            started = time.monotonic()
            model, mean = em_step(client, connection, paths, extension, query,
                                  model, timeout)
            info = json.loads(scalar(connection, "SELECT gmm_info(?)", model))
            if progress is not None:
                change = None if previous is None else mean - previous
                progress(Iteration(info["n_iter"], mean, change,
                                   time.monotonic() - started, model))
            previous = mean
        return model
    finally:
        connection.close()


def model_info(model, extension=None):
    """gmm_info(model) as JSON text."""
    connection = local_connection(resolve_extension(extension))
    try:
        return scalar(connection, "SELECT gmm_info(?)", model)
    finally:
        connection.close()


# --------------------------------------------------------------------------
# Clusters and the command.

def start_local_cluster(n_workers):
    """A LocalCluster whose every socket listens on 127.0.0.1 (requirement 6)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        host=LOCALHOST, scheduler_port=0,
                        dashboard_address=LOCALHOST + ":0",
                        worker_dashboard_address=LOCALHOST + ":0",
                        memory_limit=0, silence_logs=logging.ERROR)


def connect(address, timeout=CONNECT_TIMEOUT):
    """A Client of the scheduler at `address`, or GmmDaskError naming it."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except Exception as error:           # OSError "Timed out trying to connect", ...
        raise GmmDaskError("cannot reach the scheduler at %s: %s"
                           % (address, str(error).splitlines()[0] if str(error)
                              else type(error).__name__)) from None


def print_progress(step):
    """The command's per-iteration line on stderr."""
    change = "" if step.change is None else "  change %+.6e" % step.change
    print("iteration %3d  mean log-likelihood %.10f%s"
          % (step.iteration, step.mean_log_likelihood, change),
          file=sys.stderr, flush=True)


class Timer:
    """Collects per-iteration times for --time."""

    def __init__(self, forward=None):
        self.started = time.monotonic()
        self.first = None
        self.seconds = []
        self.forward = forward

    def __call__(self, step):
        if self.first is None:
            self.first = time.monotonic() - self.started - step.seconds
        self.seconds.append(step.seconds)
        if self.forward is not None:
            self.forward(step)

    def report(self):
        total = time.monotonic() - self.started
        per = sum(self.seconds) / len(self.seconds) if self.seconds else None
        return {"init_seconds": self.first, "iterations": len(self.seconds),
                "seconds_per_iteration": per, "iteration_seconds": self.seconds,
                "total_seconds": total}


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="gmm_dask",
        description="Fit a Gaussian mixture over SQLite shards with Dask.")
    parser.add_argument("--spec", required=True,
                        help="k or a JSON object of gmm_fit options")
    parser.add_argument("--query", required=True,
                        help="SQL run on every shard; columns [weight,] x1..xd")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="address of a running Dask scheduler")
    where.add_argument("--local", type=int, metavar="N",
                       help="start a LocalCluster of N worker processes on "
                            "127.0.0.1 (default 2)")
    parser.add_argument("--extension", help="path of the gmm extension")
    parser.add_argument("--max-iter", type=int, help="replace the spec's max_iter")
    parser.add_argument("--out", help="write the model BLOB's bytes to this file")
    parser.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT,
                        help="seconds to reach the scheduler (default 10)")
    parser.add_argument("--time", action="store_true",
                        help="print seconds per iteration to stderr")
    parser.add_argument("shards", nargs="+", help="SQLite database files")
    arguments = parser.parse_args(argv)
    if arguments.local is not None and arguments.local < 1:
        parser.error("--local needs at least 1 worker")
    return arguments


def run(arguments):
    """The command's work; returns the model BLOB. Raises GmmDaskError."""
    check_shards(arguments.shards)
    extension = resolve_extension(arguments.extension)
    local_connection(extension).close()  # fail on the extension before any cluster
    cluster = client = progress = None
    try:
        if arguments.scheduler:
            client = connect(arguments.scheduler, arguments.connect_timeout)
        else:
            try:
                cluster = start_local_cluster(arguments.local or 2)
            except Exception as error:
                raise GmmDaskError("cannot start a local cluster: %s" % error) from None
            client = connect(cluster.scheduler_address, arguments.connect_timeout)
        progress = Timer(print_progress) if arguments.time else print_progress
        model = fit(client, arguments.shards, arguments.query, arguments.spec,
                    extension, arguments.max_iter, progress)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if arguments.time:
        print("gmm_dask: time %s" % json.dumps(progress.report()),
              file=sys.stderr, flush=True)
    if arguments.out:
        Path(arguments.out).write_bytes(model)
    print(model_info(model, extension))
    return model


def main(argv=None):
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        run(arguments)
    except GmmDaskError as error:
        print("gmm_dask: %s" % error, file=sys.stderr)
        return 1
    except OSError as error:             # --out not writable, ...
        print("gmm_dask: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
