"""Helpers shared by the benchmark scripts (host Python 3, standard library only)."""
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.expanduser("~/.cache/double11-bench-venv")


def venv_python():
    """The Python of the benchmark virtualenv, with DuckDB and Polars installed from pip."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    try:
        subprocess.check_call([py, "-c", "import duckdb, polars"], stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        subprocess.check_call([py, "-m", "pip", "install", "-q", "duckdb", "polars"])
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
    """
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
    `report NAME --transactions DIR --day D --compare D`, plus `verify FOLDERS...` where the
    script has it. `handlers` maps each subcommand to its function; runs the one asked for."""
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
    if "verify" in handlers:
        p = sub.add_parser("verify")
        p.add_argument("folders", nargs="+")
    args = ap.parse_args()
    handlers[args.cmd](args)
