"""Helpers shared by the benchmark scripts (host Python 3, standard library only)."""
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The one venv of the benchmarks and CI (.ci/run builds the same one): DuckDB, Polars and
# zstandard at the versions pinned in bench/requirements.txt.
VENV = os.environ.get("DOUBLE11_VENV", os.path.expanduser("~/.cache/double11-venv"))
REQUIREMENTS = os.path.join(ROOT, "bench", "requirements.txt")


def venv_python():
    """The Python of the benchmark virtualenv, (re)built from bench/requirements.txt when it
    is missing or the requirements changed (their SHA-256 is stamped into the venv, as .ci/run
    does), so every run uses the pinned DuckDB and Polars."""
    import hashlib
    py = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".requirements.sha256")
    with open(REQUIREMENTS, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    try:
        with open(stamp) as f:
            have = f.read().strip()
    except OSError:
        have = None
    if not os.path.exists(py) or have != want:
        subprocess.check_call([sys.executable, "-m", "venv", "--clear", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "-r", REQUIREMENTS])
        with open(stamp, "w") as f:
            f.write(want + "\n")
    return py


def double11_binary(path=None):
    """`path`, or the dev-profile binary under $CARGO_TARGET_DIR, built with cargo if missing."""
    if path:
        if not os.access(path, os.X_OK):
            sys.exit(f"not an executable: {path}")
        return path
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/double11-target"))
    binary = os.path.join(target, "debug", "double11")
    if not os.access(binary, os.X_OK):
        subprocess.check_call(["cargo", "build", "--quiet"], cwd=ROOT,
                              env=dict(os.environ, CARGO_TARGET_DIR=target))
    return binary


class Measured:
    """One finished process: wall seconds, its own peak RSS in MiB, exit code, stdout."""

    def __init__(self, seconds, rss_mib, rc, stdout, stderr):
        self.seconds, self.rss_mib, self.rc = seconds, rss_mib, rc
        self.stdout, self.stderr = stdout, stderr


def measure(cmd, cwd=None, env=None):
    """Runs `cmd` as a child process and returns a Measured.

    Wall time runs from just before the fork to the child's exit. The peak RSS is the child's
    own (os.wait4 returns the rusage of exactly that process, children it waited for
    included), so nothing else running in this script counts. Output goes to temporary files,
    not pipes, so reading it costs the child nothing.

    Writes still in the kernel's cache (logs just generated, the Parquet of the tool before)
    are flushed first, outside the timing: otherwise the next tool pays for their writeback
    (double11's ingest, which runs first after the logs are generated, took 17.3 s in the
    first run and 12.8 s on average over two with 3 GiB of fresh logs).
    """
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Measured(seconds, usage.ru_maxrss / 1024, proc.returncode,
                        out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def run_checked(cmd, what, cwd=None, env=None):
    """measure(), but a failing command ends the benchmark with its stderr."""
    m = measure(cmd, cwd=cwd, env=env)
    if m.rc != 0:
        sys.exit(f"{what} failed (exit {m.rc}): {' '.join(cmd)}\n{m.stderr[-4000:]}")
    return m


def timed(cmd, env=None, retries=0):
    """Wall seconds and stdout of `cmd`, retried `retries` times (2 s apart) before a failure
    ends the benchmark with its stderr."""
    for attempt in range(retries + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        took = time.perf_counter() - start
        if done.returncode == 0:
            return took, done.stdout
        if attempt == retries:
            sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        time.sleep(2)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, seconds=30):
    """Waits until something listens on 127.0.0.1:`port`; ends the benchmark if `proc` exits
    first or the port stays closed."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode})")
        time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {seconds} s")


def lit(s):
    """`s` as an SQL string literal (DuckDB's and DataFusion's): quotes doubled."""
    return "'" + str(s).replace("'", "''") + "'"


def machine():
    """nproc, RAM and CPU model of this machine, for the results header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) / 2**20
                    break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "ram_gib": ram, "cpu": cpu,
            "os": f"{platform.system()} {platform.release()}"}


def tool_command_line(handlers):
    """The command line both competitor scripts take: `ingest --rates R --out DIR FILES...`,
    `report NAME --transactions DIR --day D --compare D`, plus where the script has them
    `verify FOLDERS...`, `sql --transactions DIR FILE.sql` (DuckDB) and `adhoc NAME
    --transactions DIR --day D --buyer N --province P --device D` (Polars). `handlers` maps each subcommand to its function; runs the one asked for."""
    import argparse
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--rates", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("name")
    p.add_argument("--transactions", required=True)
    p.add_argument("--day", required=True)
    p.add_argument("--compare", required=True)
    if "plain" in handlers:
        # The plain conversion a user compares with first: CSV to Parquet, no contract.
        p = sub.add_parser("plain")
        p.add_argument("--out", required=True)
        p.add_argument("files", nargs="+")
    if "verify" in handlers:
        p = sub.add_parser("verify")
        p.add_argument("folders", nargs="+")
    if "sql" in handlers:
        p = sub.add_parser("sql")
        p.add_argument("--transactions", required=True)
        p.add_argument("file")
    if "adhoc" in handlers:
        p = sub.add_parser("adhoc")
        p.add_argument("name")
        p.add_argument("--transactions", required=True)
        p.add_argument("--day", required=True)
        p.add_argument("--buyer", type=int, required=True)
        p.add_argument("--province", required=True)
        p.add_argument("--device", required=True)
    args = ap.parse_args()
    handlers[args.cmd](args)


def latest_manifest(warehouse):
    """The latest warehouse version of a double11 warehouse (`_double11/versions/<N>.json`):
    its committed `files` and its `runs`."""
    folder = os.path.join(warehouse, "_double11", "versions")
    name = max(n for n in os.listdir(folder) if n.endswith(".json"))
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return json.load(f)
