#!/usr/bin/env python3
"""Generator benchmark: rows/s of `double11 generate` to /dev/null (CSV, NDJSON) and straight
into a Parquet warehouse (`generate --stdout | ingest -`), with peak RSS.

    python3 bench/generate_bench.py --scale 0.005
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import latest_manifest  # noqa: E402


def run(cmd, stdout):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=stdout, check=True, shell=isinstance(cmd, str))
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.005)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    binary = args.bin
    if binary is None:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/double11-target"))
        subprocess.check_call(["cargo", "build", "--quiet"], cwd=ROOT,
                              env=dict(os.environ, CARGO_TARGET_DIR=target))
        binary = os.path.join(target, "debug", "double11")
    work = tempfile.mkdtemp(prefix="double11-genbench-")
    try:
        truth = os.path.join(work, "truth.json")
        gen = [binary, "-q", "generate", "--day", "2019-11-11", "--scale", str(args.scale),
               "--stdout", "--truth", truth, "--force"]
        rows = None
        print(f"{'target':<28}{'seconds':>10}{'rows/s':>14}{'peak RSS MiB':>14}")
        for label, extra in [("csv -> /dev/null", ["--format", "csv"]),
                             ("ndjson -> /dev/null", ["--format", "ndjson"])]:
            with open(os.devnull, "wb") as null:
                t = run(gen + extra, null)
            rows = json.load(open(truth))["records"]
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{label:<28}{t:>10.2f}{rows / t:>14,.0f}{rss:>14,.0f}")
        wh = os.path.join(work, "wh")
        pipe = " ".join(gen + ["--format", "csv"]) + f" | {binary} -q ingest - --warehouse {wh}"
        t = run(pipe, None)
        m = latest_manifest(wh)
        n = m["runs"][-1]["totals"]["records"]
        if n != rows:
            sys.exit(f"ingested {n} records, generated {rows}")
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{'csv | ingest -> Parquet':<28}{t:>10.2f}{n / t:>14,.0f}{rss:>14,.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
