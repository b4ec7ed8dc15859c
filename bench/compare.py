#!/usr/bin/python3
"""compare.py - zpar beside raw ZeroMQ, IPython Parallel and Dask
distributed, the same workloads in one run on one machine (`make bench`).

zpar and raw ZeroMQ are measured by the C benchmarks beside this file
(latency, throughput, buffers) and the seed's example (pool_scaling); IPython
Parallel (Debian's python3-ipyparallel, its own ipcluster machinery) and Dask
(python3-distributed, a LocalCluster of single-threaded worker processes)
through their Python APIs, here. Every process started here is stopped by
pid at the end, on failure and on Ctrl-C too: the Python systems' through
their own stop, then whatever descends from this process, by pid.

usage: compare.py BUILD_DIR [--quick]      (--quick: fewer calls, no 64 engines)
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

warnings.simplefilter ("ignore")
BUSY_N = 10_000_000         # the seed's busy_wait(10,000,000)
BUSY_CALLS = 8
MIB_100 = 100 * 1024 * 1024

build = os.path.abspath (sys.argv [1]) if len (sys.argv) > 1 else "build"
quick = "--quick" in sys.argv
results = {}                # (system, workload) -> value


def note (system, workload, value):
    results [(system, workload)] = value
    print (f"  {system:8} {workload:28} {value:.4g}", file=sys.stderr, flush=True)


def run (args, env=None, stdin=None):
    """stdout of args; an interruption reaches the program as SIGINT, so
    that a benchmark stops what it started before it goes."""
    child = subprocess.Popen (args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.PIPE if stdin is not None else None, text=True, env=env)
    try:
        out, err = child.communicate (stdin)
    except BaseException:
        child.send_signal (signal.SIGINT)
        try:
            child.wait (30)
        except subprocess.TimeoutExpired:
            child.kill ()
            child.wait ()
        raise
    if child.returncode != 0:
        raise RuntimeError (f"{' '.join (args)} failed: {err.strip ()[-300:]}")
    return out


def memory_mib (pid):
    """RSS and PSS of pid, MiB."""
    fields = {}
    with open (f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split ()
            if len (parts) >= 2 and parts [0].endswith (":") and parts [1].isdigit ():
                fields [parts [0][:-1]] = int (parts [1]) / 1024
    return fields.get ("Rss", 0), fields.get ("Pss", 0)


def note_memory (system, pids):
    rss = [memory_mib (pid) for pid in pids]
    note (system, "idle engine RSS (MiB)", statistics.mean (r for r, _ in rss))
    note (system, "idle engine PSS (MiB)", statistics.mean (p for _, p in rss))


def descendants (pid):
    """Every live process below pid, from /proc, deepest first."""
    children = {}
    for entry in os.listdir ("/proc"):
        if entry.isdigit ():
            try:
                with open (f"/proc/{entry}/stat") as stat:
                    ppid = int (stat.read ().rsplit (")", 1)[1].split ()[1])
                children.setdefault (ppid, []).append (int (entry))
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        for child in children.get (todo.pop (), []):
            found.append (child)
            todo.append (child)
    return found [::-1]


def running (pid):
    """pid is a live process (not a zombie)."""
    try:
        with open (f"/proc/{pid}/stat") as stat:
            return stat.read ().rsplit (")", 1)[1].split ()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_pids (pids):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill (pid, sig)
                alive.append (pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic () + 5
        while alive and time.monotonic () < deadline:
            alive = [pid for pid in alive if running (pid)]
            time.sleep (0.05)
        for pid in pids:
            try:
                os.waitpid (pid, os.WNOHANG)
            except ChildProcessError:
                pass
        pids = alive
        if not pids:
            break


def python_busy_wait (n):
    while n > 0:
        n -= 1
    return n


def noop ():
    return None


def identity (value):
    return value


# -- zpar and raw ZeroMQ --------------------------------------------------------

def zpar_pids (zpar_dir):
    """The daemons a profile's pid files name that still run as started
    (a pid file holds the pid and the process's start time)."""
    piddir = f"{zpar_dir}/profile_default/pid"
    pids = {}
    for name in os.listdir (piddir) if os.path.isdir (piddir) else []:
        try:
            fields = open (f"{piddir}/{name}").read ().split ()
            pid, started = int (fields [0]), fields [1] if len (fields) > 1 else None
            with open (f"/proc/{pid}/stat") as stat:
                now = stat.read ().rsplit (")", 1)[1].split () [19]
            if started is None or started == now:
                pids [name] = pid
        except (OSError, ValueError, IndexError):
            pass
    return pids


def zpar_stop (zpar_dir, env):
    """ipcluster stop, then by pid whatever is left, before the pid files go."""
    try:
        subprocess.run ([f"{build}/bin/ipcluster", "stop"], env=env, capture_output=True, timeout=60)
    finally:
        stop_pids (list (zpar_pids (zpar_dir).values ()))
        subprocess.run (["rm", "-rf", zpar_dir])


def zpar_and_raw ():
    out = run ([f"{build}/bench/latency", "-n", "2000" if quick else "10000"])
    for system, label in (("raw", "raw ZeroMQ"), ("zpar", "zpar apply_sync")):
        row = next (line for line in out.splitlines () if line.startswith (label))
        median, p99 = (float (x) for x in row.split () [-4:-2])
        note (system, "apply round trip median (ms)", median / 1e3)
        note (system, "apply round trip p99 (ms)", p99 / 1e3)
    out = run ([f"{build}/bench/throughput", "-n", "20000" if quick else "100000"])
    for system, label in (("raw", "raw ZeroMQ load balancer"), ("zpar", "zpar balanced map, one task per message")):
        row = next (line for line in out.splitlines () if line.startswith (label))
        note (system, "load-balanced tasks/s", float (row.split () [-2]))
    out = run ([f"{build}/bench/buffers", "-r", "2" if quick else "5"])
    row = next (line for line in out.splitlines () if line.strip ().startswith ("100 MiB"))
    raw_gib, zpar_gib = (float (x) for x in row.split () [2:4])
    # GiB/s counts both ways: a round trip moves 2 x 100 MiB.
    note ("raw", "100 MiB round trip (s)", 2 * 100 / 1024 / raw_gib)
    note ("zpar", "100 MiB round trip (s)", 2 * 100 / 1024 / zpar_gib)
    out = run ([f"{build}/examples/pool_scaling", "-n", str (BUSY_N), "1", "2", "4"])
    for line in out.splitlines ():
        parts = line.split ()
        if len (parts) == 3 and parts [0] in ("process", "1", "2", "4"):
            what = "one process" if parts [0] == "process" else f"{parts [0]} engines"
            note ("zpar", f"busy_wait x8, {what} (s)", float (parts [1]))
    for engines in (4,) if quick else (4, 64):
        zpar_dir = tempfile.mkdtemp (prefix="zpar-compare-")
        env = dict (os.environ, ZPAR_DIR=zpar_dir)
        start = time.monotonic ()
        try:
            run ([f"{build}/bin/ipcluster", "start", "-n", str (engines), "--daemonize"], env)
            # Ready as a client sees it, as for the others: connected, every engine listed.
            listed = run ([f"{build}/bin/zpar", "engines", "--json"], env)
            assert listed.count ('"uuid"') == engines, "zpar engines did not list them all"
            note ("zpar", f"start {engines} engines (s)", time.monotonic () - start)
            if engines == 4:
                # Measured after work, as the others are.
                run ([f"{build}/bin/zpar", "map", "echo", "-"], env, "".join (f"[{i}]\n" for i in range (2000)))
                time.sleep (1)
                note_memory ("zpar", [pid for name, pid in zpar_pids (zpar_dir).items ()
                                      if name.startswith ("engine-")])
        finally:
            zpar_stop (zpar_dir, env)


# -- IPython Parallel ---------------------------------------------------------

def ipython ():
    import ipyparallel as ipp
    # 2 engines for the balanced tasks, as zpar's and raw ZeroMQ's rows.
    for engines in (2, 4) if quick else (2, 4, 64):
        profile = tempfile.mkdtemp (prefix="ipp-compare-")
        cluster = ipp.Cluster (n=engines, profile_dir=profile, log_level=40)
        try:
            start = time.monotonic ()
            cluster.start_cluster_sync ()
            client = cluster.connect_client_sync ()
            client.wait_for_engines (engines, timeout=600)
            if engines == 2:
                ipython_balanced (client)
            else:
                note ("ipython", f"start {engines} engines (s)", time.monotonic () - start)
            if engines == 4:
                ipython_workloads (ipp, client)
            client.close ()
        finally:
            try:
                cluster.stop_cluster_sync ()
            finally:
                stop_pids (descendants (os.getpid ()))
                subprocess.run (["rm", "-rf", profile])


def ipython_workloads (ipp, client):
    one = client [0]
    note_rtt ("ipython", seconds_each (lambda: one.apply_sync (noop), 100 if quick else 500))
    note_one_process ("ipython")
    for engines in (1, 2, 4):
        view = client.load_balanced_view (targets=list (range (engines)))
        begin = time.perf_counter ()
        view.map_sync (python_busy_wait, [BUSY_N] * BUSY_CALLS)
        note ("ipython", f"busy_wait x8, {engines} engines (s)", time.perf_counter () - begin)
    time.sleep (1)
    note_memory ("ipython", client [:].apply_sync (os.getpid))
    note_round_trip ("ipython", lambda data: one.apply_sync (identity, data))


def ipython_balanced (client):
    tasks = 500 if quick else 2000
    balanced = client.load_balanced_view ()
    begin = time.perf_counter ()
    pending = [balanced.apply_async (noop) for _ in range (tasks)]
    for result in pending:
        result.get ()
    note ("ipython", "load-balanced tasks/s", tasks / (time.perf_counter () - begin))


def seconds_each (call, count):
    """How long each of count calls took, in seconds."""
    times = []
    for _ in range (count):
        begin = time.perf_counter ()
        call ()
        times.append (time.perf_counter () - begin)
    return times


def note_one_process (system):
    begin = time.perf_counter ()
    for _ in range (BUSY_CALLS):
        python_busy_wait (BUSY_N)
    note (system, "busy_wait x8, one process (s)", time.perf_counter () - begin)


def note_round_trip (system, send):
    """The mean time send (data) takes to return 100 MiB it was given."""
    data = bytes (MIB_100)

    def once ():
        assert len (send (data)) == MIB_100
    note (system, "100 MiB round trip (s)", statistics.mean (seconds_each (once, 2 if quick else 3)))


def note_rtt (system, times):
    times.sort ()
    note (system, "apply round trip median (ms)", times [len (times) // 2] * 1e3)
    note (system, "apply round trip p99 (ms)", times [min (len (times) - 1, int (len (times) * 0.99))] * 1e3)


# -- Dask distributed -----------------------------------------------------------

def dask ():
    from distributed import Client, LocalCluster
    for engines in (2, 4) if quick else (2, 4, 64):
        cluster = client = None
        try:
            start = time.monotonic ()
            cluster = LocalCluster (n_workers=engines, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=50)
            client = Client (cluster)
            client.wait_for_workers (engines, timeout=600)
            if engines == 2:
                tasks = 2000 if quick else 10000
                begin = time.perf_counter ()
                client.gather (client.map (identity, range (tasks), pure=False))
                note ("dask", "load-balanced tasks/s", tasks / (time.perf_counter () - begin))
            else:
                note ("dask", f"start {engines} engines (s)", time.monotonic () - start)
            if engines == 4:
                dask_workloads (client)
        finally:
            #  Dask's own stop can hang with many workers on a small
            #  machine: it gets a minute, then its processes are stopped.
            try:
                if client:
                    client.close (timeout=60)
                if cluster:
                    cluster.close (timeout=60)
            except Exception as error:
                print (f"  dask     stop: {type (error).__name__}; its processes are stopped by pid",
                       file=sys.stderr)
            stop_pids (descendants (os.getpid ()))


def dask_workloads (client):
    note_rtt ("dask", seconds_each (lambda: client.submit (noop, pure=False).result (),
                                    100 if quick else 500))
    note_one_process ("dask")
    workers = sorted (client.scheduler_info () ["workers"])
    for engines in (1, 2, 4):
        begin = time.perf_counter ()
        client.gather (client.map (python_busy_wait, [BUSY_N] * BUSY_CALLS, pure=False,
                                   workers=workers [:engines], allow_other_workers=False))
        note ("dask", f"busy_wait x8, {engines} engines (s)", time.perf_counter () - begin)
    time.sleep (1)
    note_memory ("dask", list (client.run (os.getpid).values ()))
    note_round_trip ("dask", lambda data: client.submit (identity, data, pure=False).result ())


# -- the table ----------------------------------------------------------------------

ROWS = [
    ("apply round trip median (ms)", False),
    ("apply round trip p99 (ms)", False),
    ("load-balanced tasks/s", True),
    ("busy_wait x8, one process (s)", False),
    ("busy_wait x8, 1 engines (s)", False),
    ("busy_wait x8, 2 engines (s)", False),
    ("busy_wait x8, 4 engines (s)", False),
    ("start 4 engines (s)", False),
    ("start 64 engines (s)", False),
    ("idle engine RSS (MiB)", False),
    ("idle engine PSS (MiB)", False),
    ("100 MiB round trip (s)", False),
]
SYSTEMS = ["zpar", "raw", "ipython", "dask"]


def cell (value):
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def table ():
    print (f"{'':32} {'zpar':>9} {'raw ZMQ':>9} {'IPython':>9} {'Dask':>9}   zpar is, beside: {'raw':>6} {'IPython':>8} {'Dask':>7}")
    for workload, higher_better in ROWS:
        values = [results.get ((system, workload)) for system in SYSTEMS]
        zpar = values [0]
        ratios = []
        for other in values [1:]:
            if zpar is None or other is None or zpar == 0 or other == 0:
                ratios.append ("-")
            else:
                # "x times better": a rate divided, a time or a size inverted.
                ratio = zpar / other if higher_better else other / zpar
                ratios.append (f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x")
        print (f"{workload:32} " + " ".join (f"{cell (v):>9}" for v in values)
               + f"   {'':16} {ratios [0]:>6} {ratios [1]:>8} {ratios [2]:>7}")
    print ("\n'zpar is, beside' says how many times better zpar does: for a rate, zpar's\n"
           "over the other's; for a time or a size, the other's over zpar's. busy_wait\n"
           "is C on zpar, the same loop in Python on IPython Parallel and Dask.")


def main ():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal (sig, lambda number, frame: sys.exit (1))
    print (f"command: {' '.join (sys.argv)}")
    uname = os.uname ()
    memory = os.sysconf ("SC_PAGE_SIZE") * os.sysconf ("SC_PHYS_PAGES") / 2**30
    print (f"machine: {os.cpu_count ()} CPUs, {memory:.0f} GiB, {uname.sysname} {uname.release}")
    import distributed
    import ipyparallel
    print (f"IPython Parallel {ipyparallel.__version__}, Dask distributed {distributed.__version__}, "
           f"Python {sys.version.split () [0]}\n")
    failed = []
    try:
        for name, measure in (("zpar and raw ZeroMQ", zpar_and_raw), ("IPython Parallel", ipython),
                              ("Dask", dask)):
            print (f"measuring {name}...", file=sys.stderr, flush=True)
            try:
                measure ()
            except Exception as error:          # a system that fails leaves its cells empty
                failed.append (f"{name}: {error}")
    finally:
        stop_pids (descendants (os.getpid ()))
    table ()
    for failure in failed:
        print (f"failed: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit (main ())
