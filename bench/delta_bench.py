#!/usr/bin/env python3
"""Delta Lake warehouse benchmark (issue 15): what the Delta tables and warehouse versions cost,
and what `optimize` buys.

    python3 bench/delta_bench.py --old-bin /tmp/double11-old --scale 0.002 --runs 144

1. Today's format against the one before Delta Lake (`--old-bin`, a double11 built from a commit
   before it, e.g. d687d51): the same generated day ingested by each binary, alternating, then
   `report all` on each warehouse; times and new/old ratios. Both do the whole contract.
2. Scheduled runs: the day split into --runs files in time order (as a job every ten minutes
   would find them) and ingested one run per file; the day's file count per table and the time
   of `report all` and of three queries over raw `transactions` rows, before and after
   `double11 optimize --day`, and the optimize itself; ratios after/before.
Every figure is checked equal between the binaries and before/after optimize (untimed).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import double11_binary, latest_manifest, machine  # noqa: E402

DAY = "2019-11-11"
BASE = "2018-11-11"
QUERIES = {
    "orders per minute": "SELECT date_trunc('minute', event_time) AS m, count(*) FROM transactions "
                         f"WHERE cst_date = DATE '{DAY}' AND event_type = 'paid' GROUP BY m ORDER BY m",
    "top categories": "SELECT category, sum(amount_cny) AS g FROM transactions "
                      f"WHERE cst_date = DATE '{DAY}' AND event_type = 'paid' GROUP BY category ORDER BY g DESC LIMIT 10",
    "one hour's buyers": "SELECT count(DISTINCT buyer_id) FROM transactions WHERE event_time >= "
                         "'2019-11-11T10:00:00+08:00' AND event_time < '2019-11-11T11:00:00+08:00'",
}


def timed(cmd, out=None):
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return took, done.stdout


def report_all(binary, wh, work, name):
    out = os.path.join(work, name)
    shutil.rmtree(out, ignore_errors=True)
    took, _ = timed([binary, "-q", "report", "all", "--warehouse", wh, "--day", DAY, "--compare", BASE,
                     "--format", "csv", "--out", out])
    figures = {f: open(os.path.join(out, f)).read() for f in sorted(os.listdir(out))}
    return took, figures


def query(binary, wh, sql):
    return timed([binary, "-q", "sql", "--warehouse", wh, "--format", "csv", "-c", sql])


def median(xs):
    return statistics.median(xs)


def files_of_day(wh, table):
    return sum(1 for f in latest_manifest(wh)["files"] if f["table"] == table and f.get("cst_date") == DAY)


def formats(args, binary, work):
    logs = os.path.join(work, "day")
    subprocess.run([binary, "-q", "generate", "--day", DAY, "--year-over-year", BASE, "--scale",
                    str(args.scale), "--out", logs, "--files", "8"], check=True)
    times = {"old": {"ingest": [], "report": []}, "new": {"ingest": [], "report": []}}
    figures = {}
    for rep in range(args.repeat):
        for name, b in (("old", args.old_bin), ("new", binary)):
            wh = os.path.join(work, f"wh-{name}")
            shutil.rmtree(wh, ignore_errors=True)
            took, _ = timed([b, "-q", "ingest", logs, "--warehouse", wh])
            times[name]["ingest"].append(took)
            took, figs = report_all(b, wh, work, f"reports-{name}")
            times[name]["report"].append(took)
            figures[name] = figs
    if figures["old"] != figures["new"]:
        sys.exit("the reports of the two formats differ")
    print(f"\n1. Delta Lake format vs the format before it, scale {args.scale}, {args.repeat} alternating runs (median s)")
    print(f"{'step':<30}{'before':>10}{'Delta':>10}{'Delta/before':>14}")
    for step, label in (("ingest", "ingest (whole contract)"), ("report", "report all (CSV)")):
        old, new = median(times["old"][step]), median(times["new"][step])
        print(f"{label:<30}{old:>10.2f}{new:>10.2f}{new / old:>14.2f}")


def scheduled(args, binary, work):
    logs = os.path.join(work, "runs")
    subprocess.run([binary, "-q", "generate", "--day", DAY, "--year-over-year", BASE, "--scale",
                    str(args.scale), "--out", logs, "--files", str(args.runs)], check=True)
    wh = os.path.join(work, "wh-runs")
    shutil.rmtree(wh, ignore_errors=True)
    names = sorted(n for n in os.listdir(logs) if not n.startswith("_") and n != "truth.json")
    rates = os.path.join(logs, "_fx_rates.csv")
    took_ingest = []
    for n in names:
        took, _ = timed([binary, "-q", "ingest", os.path.join(logs, n), "--warehouse", wh, "--fx-rates", rates])
        took_ingest.append(took)
    tables = ["transactions", "per_second", "per_hour"]
    before_files = {t: files_of_day(wh, t) for t in tables}

    def measure():
        report = [report_all(binary, wh, work, "reports-runs") for _ in range(args.repeat)]
        qs = {}
        for label, sql in QUERIES.items():
            runs = [query(binary, wh, sql) for _ in range(args.repeat)]
            qs[label] = (median([r[0] for r in runs]), runs[0][1])
        return median([r[0] for r in report]), report[0][1], qs

    r_before, figs_before, q_before = measure()
    took_optimize, _ = timed([binary, "-q", "optimize", "--warehouse", wh, "--day", DAY])
    after_files = {t: files_of_day(wh, t) for t in tables}
    r_after, figs_after, q_after = measure()
    if figs_before != figs_after or any(q_before[k][1] != q_after[k][1] for k in QUERIES):
        sys.exit("optimize changed a figure")
    print(f"\n2. {len(names)} scheduled runs ({args.runs} a day, the day and its base year; scale {args.scale}; {args.repeat} runs each, median s)")
    print(f"ingest per run: median {median(took_ingest):.2f} s, total {sum(took_ingest):.1f} s")
    print(f"optimize --day {DAY}: {took_optimize:.2f} s")
    print(f"{'files of the day':<30}{'before':>10}{'after':>10}")
    for t in tables:
        print(f"{t:<30}{before_files[t]:>10}{after_files[t]:>10}")
    print(f"{'query':<30}{'before':>10}{'after':>10}{'after/before':>14}")
    print(f"{'report all (rollups)':<30}{r_before:>10.2f}{r_after:>10.2f}{r_after / r_before:>14.2f}")
    for k in QUERIES:
        b, a = q_before[k][0], q_after[k][0]
        print(f"{k + ' (raw rows)':<30}{b:>10.2f}{a:>10.2f}{a / b:>14.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--runs", type=int, default=144)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--old-bin", default=None, help="a double11 from before Delta Lake (part 1)")
    args = ap.parse_args()
    binary = double11_binary(args.bin)
    print(machine())
    work = tempfile.mkdtemp(prefix="d11-delta-bench-")
    try:
        if args.old_bin:
            formats(args, binary, work)
        scheduled(args, binary, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
