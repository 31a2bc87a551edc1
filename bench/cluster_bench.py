#!/usr/bin/env python3
"""Local queries against the same queries on a 2-executor Ballista cluster (issue 16), same run,
same binary, same warehouse.

    python3 bench/cluster_bench.py --scale 0.002 --repeat 3

Generates a Singles' Day and its base year (`double11 generate`, 8 files) and ingests it, starts
`double11 scheduler` and two `double11 executor`s on 127.0.0.1 (each `--threads 1`,
`--memory-limit 2G`: together the machine's two cores), then, alternating local and cluster in
each repetition, times:
1. `report all` (every built-in report, CSV; served by the rollups, so mostly small scans);
2. the six ad-hoc queries of bench/compare.py (raw rows of `transactions`: a lookup, distinct
   buyers, a province's top categories, refund share by a join, top buyers by rank(), orders per
   minute).
Prints median seconds and the cluster/local ratio per step; each step's output must be equal
(checked). A cluster session runs a plan whose files total at most `DOUBLE11_CLUSTER_LOCAL_BYTES`
(64 MiB by default) in the client; `--local-bytes 0` sends every plan that reads a file to the
cluster (what every cluster run did before stop 35). On one 2-core machine this measures the cluster's overhead (planning here, shipping
the plan, stages, shuffles through Arrow Flight, results back), not a speed-up.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import double11_binary, free_port, machine, timed, wait_port  # noqa: E402
from compare import ADHOC, adhoc_sql  # noqa: E402

DAY = "2019-11-11"
BASE = "2018-11-11"


def start_cluster(binary, work):
    port = free_port()
    procs = []
    log = open(os.path.join(work, "scheduler.log"), "w")
    sched = subprocess.Popen([binary, "scheduler", "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=log)
    procs.append(sched)
    wait_port(port, sched, "the scheduler")
    for i in range(2):
        flight = free_port()
        log = open(os.path.join(work, f"executor-{i}.log"), "w")
        ex = subprocess.Popen([binary, "--threads", "1", "--memory-limit", "2G", "executor",
                               "--scheduler", f"df://127.0.0.1:{port}", "--port", str(flight),
                               "--work-dir", os.path.join(work, f"executor-{i}")],
                              stdout=log, stderr=log)
        procs.append(ex)
        wait_port(flight, ex, f"executor {i}")
    time.sleep(1.5)  # both registered
    return f"df://127.0.0.1:{port}", procs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--local-bytes", default=None,
                    help="DOUBLE11_CLUSTER_LOCAL_BYTES for the cluster runs (default: double11's own, 64M)")
    args = ap.parse_args()
    cluster_env = dict(os.environ)
    if args.local_bytes is not None:
        cluster_env["DOUBLE11_CLUSTER_LOCAL_BYTES"] = args.local_bytes
    binary = double11_binary(args.bin)
    print(machine())
    work = tempfile.mkdtemp(prefix="d11-cluster-bench-")
    procs = []
    try:
        logs = os.path.join(work, "day")
        subprocess.run([binary, "-q", "generate", "--day", DAY, "--year-over-year", BASE, "--scale",
                        str(args.scale), "--out", logs, "--files", "8"], check=True)
        wh = os.path.join(work, "wh")
        subprocess.run([binary, "-q", "ingest", logs, "--warehouse", wh, "--fx-rates",
                        os.path.join(logs, "_fx_rates.csv")], check=True)
        _, out = timed([binary, "sql", "--warehouse", wh, "--format", "csv", "-c",
                        "SELECT buyer_id FROM transactions WHERE buyer_id IS NOT NULL "
                        "GROUP BY buyer_id ORDER BY count(*) DESC, buyer_id LIMIT 1"])
        buyer = int(out.splitlines()[1])
        url, procs = start_cluster(binary, work)
        steps = [("report", "report all (CSV, 21 queries over rollups)",
                  ["report", "all", "--day", DAY, "--compare", BASE, "--format", "csv"])]
        for name, label, text in ADHOC:
            steps.append((name, label, ["sql", "--format", "csv", "-c", adhoc_sql(text, "double11", buyer)]))
        times = {s[0]: {"local": [], "cluster": []} for s in steps}
        for rep in range(args.repeat):
            for name, _, cmd in steps:
                outputs = {}
                for where in ("local", "cluster"):
                    full = [binary, "-q", "--warehouse", wh]
                    if where == "cluster":
                        full += ["--cluster", url]
                    took, outputs[where] = timed(full + cmd, env=cluster_env if where == "cluster" else None)
                    times[name][where].append(took)
                if outputs["local"] != outputs["cluster"]:
                    import difflib
                    diff = difflib.unified_diff(outputs["local"].splitlines(), outputs["cluster"].splitlines(),
                                                "local", "cluster", lineterm="", n=1)
                    sys.exit(f"{name}: the cluster's output differs from the local one:\n"
                             + "\n".join(list(diff)[:20]))
            print(f"run {rep + 1}/{args.repeat} done", flush=True)
        print(f"\nlocal (one process, 2 threads) vs Ballista (scheduler + 2 executors x 1 core, "
              f"same machine); scale {args.scale}; {args.repeat} alternating runs, median s; "
              f"outputs checked equal; DOUBLE11_CLUSTER_LOCAL_BYTES="
              f"{args.local_bytes if args.local_bytes is not None else 'default (64M)'}")
        print(f"{'step':<56}{'local':>8}{'cluster':>9}{'cluster/local':>15}")
        for name, label, _ in steps:
            loc = statistics.median(times[name]["local"])
            rem = statistics.median(times[name]["cluster"])
            print(f"{label:<56}{loc:>8.2f}{rem:>9.2f}{rem / loc:>15.2f}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
