#!/usr/bin/env python3
"""The seed day end to end: `double11 generate --scale S --stdout | double11 ingest -`, then
`double11 report all`, timed, with each process's own peak RSS.

    python3 bench/seed_day.py --scale 1          # 1.3 billion orders: the whole Singles' Day 2019
    python3 bench/seed_day.py --scale 0.05       # a twentieth of it, to extrapolate

The generator's truth (its own exact figures, from `--truth FILE`) is compared with the
warehouse's manifest counts and with `report summary` and `report peak` before any time is
printed; a difference exits 1. Host Python 3, standard library only.
"""
import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import double11_binary, latest_manifest, machine, run_checked  # noqa: E402

DAY = "2019-11-11"


def pipeline(generate, ingest):
    """Runs `generate | ingest`; returns (wall seconds, {name: (exit code, peak RSS MiB)})."""
    start = time.perf_counter()
    gen = subprocess.Popen(generate, stdout=subprocess.PIPE)
    ing = subprocess.Popen(ingest, stdin=gen.stdout)
    gen.stdout.close()  # ingest holds the read end; generate sees EPIPE if ingest dies
    done = {}
    while len(done) < 2:
        pid, status, usage = os.wait4(-1, 0)
        name = "generate" if pid == gen.pid else "ingest" if pid == ing.pid else None
        if name:
            done[name] = (os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024,
                          time.perf_counter() - start)
    gen.returncode, ing.returncode = done["generate"][0], done["ingest"][0]
    return time.perf_counter() - start, done


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--bin", help="the double11 binary (default: $CARGO_TARGET_DIR/debug/double11)")
    ap.add_argument("--workdir", help="where the warehouse goes (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the warehouse")
    args = ap.parse_args()
    binary = os.path.abspath(double11_binary(args.bin))
    work = tempfile.mkdtemp(prefix="double11-seed-", dir=args.workdir)
    try:
        run(args, binary, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, binary, work):
    wh, truth_file = os.path.join(work, "warehouse"), os.path.join(work, "truth.json")
    generate = [binary, "-q", "generate", "--day", DAY, "--scale", str(args.scale), "--stdout",
                "--truth", truth_file]
    ingest = [binary, "-q", "ingest", "-", "--warehouse", wh]
    print(f"{' '.join(generate)} | {' '.join(ingest)}", flush=True)
    wall, procs = pipeline(generate, ingest)
    for name, (rc, _, _) in procs.items():
        if rc != 0:
            sys.exit(f"{name} failed (exit {rc})")
    report = run_checked([binary, "-q", "report", "all", "--warehouse", wh, "--day", DAY,
                          "--format", "csv", "--out", os.path.join(work, "reports")],
                         "double11 report all")

    # The figures first.
    truth = json.load(open(truth_file))
    manifest = latest_manifest(wh)
    totals = manifest["runs"][-1]["totals"]
    for k in ("records", "accepted", "duplicates", "rejected"):
        if totals[k] != truth[k]:
            sys.exit(f"manifest {k} = {totals[k]}, truth.json {truth[k]}")
    t = truth["days"][DAY]
    with open(os.path.join(work, "reports", "summary.csv")) as f:
        s = next(csv.DictReader(f))
    with open(os.path.join(work, "reports", "peak.csv")) as f:
        p = next(csv.DictReader(f))
    got = (int(s["orders"]), Decimal(s["gmv_cny"]), int(s["refund_events"]),
           Decimal(s["refunds_cny"]), p["second_cst"][:19].replace(" ", "T"), int(p["orders"]))
    want = (t["orders"], Decimal(t["gmv"]), t["refund_events"], Decimal(t["refunds"]),
            t["peak_second"], t["peak_orders"])
    if got != want:
        sys.exit(f"report: {got}, truth.json {want}")

    m = machine()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(wh) for f in fs)
    rows = [
        ("generate → ingest (one pipe)", f"{wall:.1f}", f"{procs['generate'][1]:,.0f} / {procs['ingest'][1]:,.0f}"),
        ("report all", f"{report.seconds:.1f}", f"{report.rss_mib:,.0f}"),
        ("end to end", f"{wall + report.seconds:.1f}", ""),
    ]
    print(f"\nscale {args.scale}: {t['orders']:,} orders, {truth['records']:,} records "
          f"({truth['accepted']:,} accepted), warehouse {size / 2**30:.1f} GiB; "
          f"{m['nproc']} CPUs, {m['ram_gib']:.1f} GiB; figures equal to truth.json")
    print(f"generate finished at {procs['generate'][2]:.1f} s, ingest at {procs['ingest'][2]:.1f} s; "
          f"{truth['records'] / wall / 1e6:.2f} M records/s through the pipe\n")
    print("| step | seconds | peak RSS MiB (generate / ingest) |\n| --- | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
