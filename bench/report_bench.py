#!/usr/bin/env python3
"""Report benchmark: each built-in report's time on a generated day (default scale 0.008:
10.4 million orders, with its base year for growth).

    python3 bench/report_bench.py --scale 0.008

Prints the ingest time once, then each report's median of --repeat runs (CSV to a temp folder).
double11 alone, no competitor and no ratio: the built-in reports read the rollups ingest writes
(per_second, per_hour) wherever they can, so these are the product's times, not a measure of
the query engine over raw rows (bench/compare.py has both, side by side with DuckDB and Polars).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.008)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    binary = args.bin
    if binary is None:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/double11-target"))
        subprocess.check_call(["cargo", "build", "--quiet"], cwd=ROOT,
                              env=dict(os.environ, CARGO_TARGET_DIR=target))
        binary = os.path.join(target, "debug", "double11")
    work = tempfile.mkdtemp(prefix="double11-reportbench-")
    try:
        logs, wh = os.path.join(work, "logs"), os.path.join(work, "wh")
        t = timed([binary, "-q", "generate", "--day", "2019-11-11", "--year-over-year", "2018-11-11",
                   "--scale", str(args.scale), "--out", logs, "--files", "4", "--compress", "zst"])
        print(f"generate: {t:.1f} s")
        t = timed([binary, "-q", "ingest", logs, "--warehouse", wh,
                   "--fx-rates", os.path.join(logs, "_fx_rates.csv")])
        print(f"ingest:   {t:.1f} s")
        print(f"{'report':<12}{'median s':>10}")
        for report in ["summary", "revenue", "growth", "peak", "milestones", "all"]:
            times = []
            for i in range(args.repeat):
                out = os.path.join(work, f"out-{report}-{i}")
                times.append(timed([binary, "report", report, "--warehouse", wh, "--day", "2019-11-11",
                                    "--compare", "2018-11-11", "--format", "csv", "--out", out]))
            print(f"{report:<12}{statistics.median(times):>10.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
