#!/usr/bin/env python3
"""Ingest benchmark: double11 vs DuckDB vs Polars on the same generated CSV logs.

Generates a Singles' Day at --scale with `double11 generate`, then, in the same run and on
the same files, times CSV -> partitioned zstd Parquet for each tool (median of --repeat runs),
records each process's peak RSS, checks that all three wrote the same number of rows, and
prints rows/s and the double11 / DuckDB ratio.

    python3 bench/ingest_bench.py --scale 0.002          # ~2.6 M orders
    python3 bench/ingest_bench.py --scale 0.01 --repeat 3

DuckDB and Polars are installed from pip into a virtualenv under ~/.cache by this script.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.expanduser("~/.cache/double11-bench-venv")


def venv_python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    try:
        subprocess.check_call([py, "-c", "import duckdb, polars"], stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        subprocess.check_call([py, "-m", "pip", "install", "-q", "duckdb", "polars"])
    return py


def timed(cmd, env=None):
    """Runs cmd, returns (seconds, peak RSS MiB of that child, stdout)."""
    start = time.perf_counter()
    # A fresh process per measurement so RUSAGE_CHILDREN's max is this process's own peak
    # (wrapped in a python shim that reports its child's rusage).
    shim = (
        "import resource,subprocess,sys,json;"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "sys.stderr.write(p.stderr);"
        "print(json.dumps({'rc':p.returncode,'out':p.stdout,"
        "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
    )
    res = subprocess.run([sys.executable, "-c", shim] + cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"failed: {cmd}\n{res.stderr}")
    report = json.loads(res.stdout.strip().splitlines()[-1])
    if report["rc"] != 0:
        sys.exit(f"failed ({report['rc']}): {' '.join(cmd)}\n{res.stderr}")
    return elapsed, report["rss"] / 1024, report["out"]


DUCKDB = r"""
import duckdb, sys
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f'''
COPY (SELECT *, CAST(CAST(event_time AS TIMESTAMPTZ) AT TIME ZONE 'Asia/Shanghai' AS DATE) AS cst_date
      FROM read_csv('{src}/[0-9]*.csv', header=true, all_varchar=false))
TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (cst_date))''')
print(con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()[0])
"""

POLARS = r"""
import polars as pl, sys, os
src, out = sys.argv[1], sys.argv[2]
lf = pl.scan_csv(f"{src}/[0-9]*.csv", infer_schema=False)
lf = lf.with_columns(pl.col("event_time").str.to_datetime(time_zone="UTC").alias("ts"))
lf = lf.with_columns((pl.col("ts") + pl.duration(hours=8)).dt.date().alias("cst_date"))
os.makedirs(out, exist_ok=True)
lf.sink_parquet(pl.PartitionBy(out, key="cst_date"), compression="zstd", mkdir=True)
print(pl.scan_parquet(f"{out}/**/*.parquet").select(pl.len()).collect().item())
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=None, help="double11 binary (default: cargo build)")
    args = ap.parse_args()

    binary = args.bin
    if binary is None:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/double11-target"))
        subprocess.check_call(["cargo", "build", "--quiet"], cwd=ROOT,
                              env=dict(os.environ, CARGO_TARGET_DIR=target))
        binary = os.path.join(target, "debug", "double11")
    py = venv_python()
    work = tempfile.mkdtemp(prefix="double11-bench-")
    try:
        logs = os.path.join(work, "logs")
        subprocess.check_call([binary, "generate", "--day", "2019-11-11", "--scale", str(args.scale),
                               "--out", logs, "--files", str(args.files), "--format", "csv"])
        size = sum(os.path.getsize(os.path.join(logs, f)) for f in os.listdir(logs) if f.endswith(".csv"))
        rates = os.path.join(logs, "_fx_rates.csv")
        results = {}
        rows = {}
        for tool in ["double11", "duckdb", "polars"]:
            times, rss = [], []
            for i in range(args.repeat):
                out = os.path.join(work, f"{tool}-{i}")
                if tool == "double11":
                    cmd = [binary, "-q", "ingest", logs, "--warehouse", out, "--fx-rates", rates]
                elif tool == "duckdb":
                    cmd = [py, "-c", DUCKDB, logs, out]
                else:
                    cmd = [py, "-c", POLARS, logs, out]
                t, r, stdout = timed(cmd)
                times.append(t)
                rss.append(r)
                if tool == "double11":
                    m = json.load(open(os.path.join(out, "manifest.json")))
                    rows[tool] = m["runs"][-1]["totals"]["records"]
                else:
                    rows[tool] = int(stdout.strip().splitlines()[-1])
                shutil.rmtree(out, ignore_errors=True)
            results[tool] = (statistics.median(times), max(rss))
        if len(set(rows.values())) != 1:
            sys.exit(f"tools disagree on the row count: {rows}")
        n = rows["double11"]
        print(f"\ningest of {n:,} CSV records ({size / 2**20:,.0f} MiB, {args.files} files), median of {args.repeat}")
        print(f"{'tool':<10}{'seconds':>10}{'rows/s':>14}{'peak RSS MiB':>14}{'vs DuckDB':>11}")
        duck = results["duckdb"][0]
        for tool, (t, r) in results.items():
            print(f"{tool:<10}{t:>10.2f}{n / t:>14,.0f}{r:>14,.0f}{t / duck:>10.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
