#!/usr/bin/env python3
"""double11 vs DuckDB vs Polars: ingest and four reports on the same generated logs.

    python3 bench/compare.py --scale 0.008                      # ~10.4 M orders + base year
    python3 bench/compare.py --scale 0.0005 --repeat 1          # a quick correctness run
    python3 bench/compare.py --scale 0.008 --markdown results.md

One run:
 1. `double11 generate` writes 2019-11-11 and its base year 2018-11-11 at --scale as CSV
    (--files per day, --compress, --dirty re-deliveries and bad lines) with _fx_rates.csv,
    the rates every tool converts with, and truth.json, the generator's own exact figures.
 2. ingest, timed: each tool turns the raw logs into Parquet partitioned by CST date, into a
    fresh folder each time: `double11 ingest`, and bench/compare_duckdb.py /
    compare_polars.py, which apply the contract's rules in one DuckDB / Polars query (their
    docstrings say what they skip).
 3. four reports, timed, all three tools reading the same Parquet files (the double11
    warehouse written by the first ingest; plain Hive-partitioned Parquet), so the step
    measures the query engines, not each tool's file layout:
      summary         queries/summary.sql (orders, GMV, refunds, net, buyers, sellers, AOV)
      revenue         GMV and orders by platform x CST hour; no query file of queries/ is
                      that (revenue.platform and revenue.hour are one dimension each), so this
                      benchmark adds REVENUE_PLATFORM_HOUR below, run by `double11 report`
      peak            queries/peak.top.sql, the 10 busiest seconds (row 1 is the peak)
      growth          queries/growth.platform.sql, year-over-year GMV and orders by platform
    double11 runs them as `double11 report NAME --format csv` from a folder holding only that
    query file, so each step is exactly one query (plus process start, as for the others).
 4. every step --repeat times, tools interleaved; the median wall time and each process's own
    peak RSS (os.wait4).
 5. BEFORE any time is printed: per CST day, the rows, distinct event ids, orders, GMV,
    refunds and a hash of every column of every row that each ingest wrote must be equal
    across the tools and match truth.json (and double11's manifest counts); every report
    of every run must equal double11's, cell by cell, numbers compared as exact decimals.
    Any difference stops the benchmark with exit code 1 and the differing rows.
Then a table (and with --markdown, a file for BENCHMARKS.md) with the ratio double11 / DuckDB.

Host Python 3, standard library only; DuckDB and Polars come from pip into
~/.cache/double11-bench-venv. Timings include each tool's process start (Python and the
import of duckdb / polars for those two, about 0.1-0.3 s), as a user would see them.
"""
import argparse
import csv
import datetime
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from decimal import Decimal

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, double11_binary, machine, measure, run_checked, venv_python  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
TOOLS = ["double11", "duckdb", "polars"]
TOOL_NAMES = {"double11": "double11", "duckdb": "DuckDB", "polars": "Polars"}
DAY, BASE = "2019-11-11", "2018-11-11"

# GMV and orders of the day by platform and CST hour (only the hours with orders), from the
# per-second sums double11 writes during ingest (DuckDB and Polars read transactions).
REVENUE_PLATFORM_HOUR = """-- revenue_platform_hour (bench/compare.py): GMV and orders by platform and CST hour.
SELECT
    platform,
    CAST(date_part('hour', second_cst) AS INT) AS hour,
    sum(events) AS orders,
    sum(amount_cny) AS gmv_cny
FROM per_second
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY 1, 2
ORDER BY platform NULLS LAST, hour
"""

# step -> (label, double11 report name, query file under queries/ or None, name in the scripts)
REPORTS = [
    ("summary", "summary of the day", "summary", "summary.sql", "summary"),
    ("revenue", "revenue by platform x hour", "revenue_platform_hour", None, "revenue_platform_hour"),
    ("peak", "peak: top 10 seconds", "peak", "peak.top.sql", "peak_top"),
    ("growth", "growth by platform (YoY)", "growth", "growth.platform.sql", "growth_platform"),
]


def fail(msg):
    sys.stderr.write(f"\nFIGURES DISAGREE - no timing is printed.\n{msg}\n")
    sys.exit(1)


# ---------------------------------------------------------------- checking figures

NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
TIMESTAMP = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)"
                       r"(?:\+08(?::?00)?)?$")


def cell(text):
    """A report cell compared exactly: plain decimals as Decimal (1.50 == 1.5, but never a
    float: 1.5e-05 stays text and differs from 0.000015), CST timestamps without their offset
    spelling, empty and NULL as None, anything else as text."""
    if text in ("", "NULL", "null"):
        return None
    if NUMBER.match(text):
        return Decimal(text)
    m = TIMESTAMP.match(text)
    if m:
        return f"{m.group(1)}T{m.group(2)}"
    return text


def parse_report(text, raw=False):
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], []
    return rows[0], rows[1:] if raw else [[cell(c) for c in r] for r in rows[1:]]


def same_report(step, tool, rep, got_text, want_text):
    got_header, got = parse_report(got_text)
    want_header, want = parse_report(want_text)
    if got_header != want_header:
        fail(f"{step}: {tool} (run {rep + 1}) has columns {got_header}, double11 {want_header}")
    if got != want:
        got_raw, want_raw = parse_report(got_text, True)[1], parse_report(want_text, True)[1]
        lines = [f"{step}: {tool} (run {rep + 1}) differs from double11 "
                 f"({len(got)} rows vs {len(want)}), columns {','.join(want_header)}:"]
        for i in range(max(len(got), len(want))):
            g = ",".join(got_raw[i]) if i < len(got) else "(no row)"
            w = ",".join(want_raw[i]) if i < len(want) else "(no row)"
            if (got[i] if i < len(got) else None) != (want[i] if i < len(want) else None):
                lines.append(f"  row {i + 1}: {tool:>8}: {g}\n  {' ' * len(str(i + 1))}      double11: {w}")
                if len(lines) > 21:
                    break
        fail("\n".join(lines))


def check_ingest(figures, truth, manifest, folder_tool):
    """figures: {folder: {cst_date: {...}}} from compare_duckdb.py verify, for the tools whose
    ingest finished."""
    by_tool = {folder_tool[f]: v for f, v in figures.items()}
    want = by_tool["double11"]
    for tool, days in by_tool.items():
        if days != want:
            diff = [f"  {d}: {tool}: {days.get(d)}\n  {' ' * len(d)}  double11: {want.get(d)}"
                    for d in sorted(set(days) | set(want)) if days.get(d) != want.get(d)]
            fail(f"ingest: {tool} wrote other rows than double11:\n" + "\n".join(diff))
    for d, f in want.items():
        if f["rows"] != f["distinct_ids"]:
            fail(f"ingest: {d} has {f['rows']} rows but {f['distinct_ids']} distinct event ids")
    # The generator's truth: what a correct ingest must produce.
    accepted = sum(f["rows"] for f in want.values())
    if accepted != truth["accepted"]:
        fail(f"ingest: {accepted} rows in all tools, truth.json says {truth['accepted']} accepted")
    totals = manifest["runs"][-1]["totals"]
    for k in ("records", "accepted", "duplicates", "rejected"):
        if totals[k] != truth[k]:
            fail(f"ingest: double11's manifest says {k} = {totals[k]}, truth.json {truth[k]}")
    for d, t in truth["days"].items():
        f = want.get(d)
        if f is None:
            fail(f"ingest: no rows for {d}, truth.json has {t}")
        got = (f["orders"], Decimal(f["gmv"]), f["refund_events"], Decimal(f["refunds"]))
        exp = (t["orders"], Decimal(t["gmv"]), t["refund_events"], Decimal(t["refunds"]))
        if got != exp:
            fail(f"ingest: {d}: (orders, GMV, refund events, refunds) = {got} in all tools, "
                 f"truth.json {exp}")
    return accepted


def check_truth(step, text, truth):
    """The reports that truth.json also knows: the day's totals and its peak second."""
    header, rows = parse_report(text)
    t = truth["days"][DAY]
    if step == "summary":
        r = dict(zip(header, rows[0]))
        got = (r["orders"], r["gmv_cny"], r["refund_events"], r["refunds_cny"])
        exp = (t["orders"], Decimal(t["gmv"]), t["refund_events"], Decimal(t["refunds"]))
    elif step == "peak":
        r = dict(zip(header, rows[0]))
        got = (r["second_cst"], r["orders"])
        exp = (t["peak_second"], t["peak_orders"])
    elif step == "revenue":
        i, j = header.index("orders"), header.index("gmv_cny")
        got = (sum(r[i] for r in rows), sum(r[j] for r in rows))
        exp = (t["orders"], Decimal(t["gmv"]))
    else:
        i, j = header.index("orders"), header.index("gmv_cny")
        bi, bj = header.index("base_orders"), header.index("base_gmv_cny")
        b = truth["days"][BASE]
        got = (sum(r[i] for r in rows), sum(r[j] for r in rows),
               sum(r[bi] for r in rows), sum(r[bj] for r in rows))
        exp = (t["orders"], Decimal(t["gmv"]), b["orders"], Decimal(b["gmv"]))
    if got != exp:
        fail(f"{step}: all tools say {got}, truth.json {exp}")


# ---------------------------------------------------------------- running

def versions(binary, py):
    d11 = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    out = subprocess.run([py, "-c", "import duckdb, polars, platform; "
                          "print(duckdb.__version__, polars.__version__, platform.python_version())"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {"double11": d11, "duckdb": out[0], "polars": out[1], "python": out[2]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.008,
                    help="size of the day, 1.0 = 1.3 billion orders (default 0.008)")
    ap.add_argument("--files", type=int, default=4, help="log files per day (default 4)")
    ap.add_argument("--compress", choices=["none", "gz", "zst"], default="none")
    ap.add_argument("--dirty", default="0.01",
                    help="dirty lines per good event: re-deliveries and bad lines (default 0.01)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step (default 3)")
    ap.add_argument("--bin", help="the double11 binary (default: $CARGO_TARGET_DIR/debug/double11)")
    ap.add_argument("--workdir", help="where the logs and Parquet go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--markdown", help="also write the results as markdown to this file")
    ap.add_argument("--steps", default=",".join(["ingest"] + [r[0] for r in REPORTS]),
                    help="steps to time, comma-separated (default: all; the reports need no "
                         "other step: double11's first ingest is always run)")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="tools to run, comma-separated (default: all three; double11 and duckdb "
                         "are always run, since the ratio is theirs). Leave Polars out where it "
                         "cannot hold the logs in memory, e.g. 100 M orders on 24 GiB")
    args = ap.parse_args()
    asked = set(args.tools.split(","))
    if asked - set(TOOLS):
        sys.exit(f"unknown --tools {sorted(asked - set(TOOLS))} (known: {', '.join(TOOLS)})")
    args.tools = [t for t in TOOLS if t in asked or t in ("double11", "duckdb")]

    binary = os.path.abspath(double11_binary(args.bin))
    py = venv_python()
    ver = versions(binary, py)
    work = tempfile.mkdtemp(prefix="double11-compare-", dir=args.workdir)
    try:
        run(args, binary, py, ver, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, binary, py, ver, work):
    tools = args.tools
    logs = os.path.join(work, "logs")
    gen = run_checked([binary, "-q", "generate", "--day", DAY, "--year-over-year", BASE,
                       "--scale", str(args.scale), "--format", "csv", "--files", str(args.files),
                       "--compress", args.compress, "--dirty", str(args.dirty), "--out", logs],
                      "double11 generate")
    files = sorted(os.path.join(logs, f) for f in os.listdir(logs) if re.match(r"[0-9].*\.csv", f))
    rates = os.path.join(logs, "_fx_rates.csv")
    truth = json.load(open(os.path.join(logs, "truth.json")))
    size_mib = sum(os.path.getsize(f) for f in files) / 2**20
    print(f"generated {truth['records']:,} records ({truth['accepted']:,} accepted, "
          f"{truth['duplicates']:,} re-deliveries, {truth['rejected']:,} bad lines) in "
          f"{len(files)} files, {size_mib:,.0f} MiB, in {gen.seconds:.1f} s", flush=True)

    times = {}  # step -> tool -> [Measured]

    # ---- ingest
    def ingest_cmd(tool, out):
        if tool == "double11":
            return [binary, "-q", "ingest", logs, "--warehouse", out, "--fx-rates", rates]
        return [py, os.path.join(BENCH, f"compare_{tool}.py"), "ingest", "--rates", rates,
                "--out", out] + files

    def table_of(tool, out):
        return os.path.join(out, "transactions") if tool == "double11" else out

    steps = args.steps.split(",")
    unknown = set(steps) - {"ingest"} - {r[0] for r in REPORTS}
    if unknown:
        sys.exit(f"unknown --steps {sorted(unknown)}")
    warehouse = None
    times["ingest"] = {t: [] for t in tools}
    for rep in range(args.repeat if "ingest" in steps else 1):
        ran = tools if "ingest" in steps else ["double11"]
        for tool in ran:
            out = os.path.join(work, f"ingest-{tool}-{rep}")
            print(f"ingest   {tool:<9} run {rep + 1}/{args.repeat}", flush=True)
            if tool == "double11":
                m = run_checked(ingest_cmd(tool, out), f"{tool} ingest")
            else:
                # A competitor that fails (out of memory at a large scale, say) is recorded as
                # failed, with its exit code and peak RSS, and leaves the figures check.
                m = measure(ingest_cmd(tool, out))
                if m.rc != 0:
                    print(f"         {tool} failed (exit {m.rc}, peak RSS {m.rss_mib:,.0f} MiB): "
                          f"{m.stderr.strip()[-300:]}", flush=True)
            times["ingest"][tool].append(m)
        # Every run's output is checked (untimed), then removed; the first double11 warehouse
        # stays for the reports.
        outs = {os.path.join(work, f"ingest-{t}-{rep}"): t for t in ran
                if times["ingest"][t][-1].rc == 0}
        folders = {table_of(t, o): t for o, t in outs.items()}
        verified = run_checked([py, os.path.join(BENCH, "compare_duckdb.py"), "verify"] + list(folders),
                               "verify (DuckDB reading every tool's Parquet)")
        manifest = json.load(open(os.path.join(work, f"ingest-double11-{rep}", "manifest.json")))
        rows = check_ingest(json.loads(verified.stdout), truth, manifest, folders)
        for o in [os.path.join(work, f"ingest-{t}-{rep}") for t in ran]:
            if o.endswith(f"ingest-double11-{rep}") and warehouse is None:
                warehouse = o
            else:
                shutil.rmtree(o, ignore_errors=True)
            shutil.rmtree(o + ".duckdb-tmp", ignore_errors=True)  # DuckDB's spill, if any

    # ---- reports, all reading the first double11 warehouse's Parquet
    transactions = os.path.join(warehouse, "transactions")
    queries = os.path.join(work, "queries")
    os.makedirs(queries)
    for _, _, _, qfile, _ in REPORTS:
        if qfile:
            shutil.copy(os.path.join(ROOT, "queries", qfile), queries)
    with open(os.path.join(queries, "revenue_platform_hour.sql"), "w") as f:
        f.write(REVENUE_PLATFORM_HOUR)

    for step, _, d11_name, _, script_name in REPORTS:
        if step not in steps:
            continue
        times[step] = {t: [] for t in tools}
        want = None
        for rep in range(args.repeat):
            for tool in tools:
                if tool == "double11":
                    cmd = [binary, "-q", "report", d11_name, "--queries", queries, "--warehouse", warehouse,
                           "--day", DAY, "--compare", BASE, "--format", "csv"]
                else:
                    cmd = [py, os.path.join(BENCH, f"compare_{tool}.py"), "report", script_name,
                           "--transactions", transactions, "--day", DAY, "--compare", BASE]
                print(f"{step:<8} {tool:<9} run {rep + 1}/{args.repeat}", flush=True)
                m = run_checked(cmd, f"{tool} report {step}")
                times[step][tool].append(m)
                if want is None:
                    want = m.stdout
                    check_truth(step, want, truth)
                same_report(step, tool, rep, m.stdout, want)

    # ---- all figures agree: the results
    results = []
    for step, label in [("ingest", f"ingest ({rows:,} rows)")] + [(r[0], r[1]) for r in REPORTS]:
        if step not in steps:
            continue
        # A tool that failed any run shows "failed (exit N)" and no ratio.
        med = {t: (statistics.median(m.seconds for m in times[step][t])
                   if all(m.rc == 0 for m in times[step][t]) else None) for t in tools}
        rss = {t: max(m.rss_mib for m in times[step][t]) for t in tools}
        rcs = {t: next((m.rc for m in times[step][t] if m.rc != 0), 0) for t in tools}
        results.append((label, med, rss, rcs))
    header = (["step"] + [f"{TOOL_NAMES[t]} s" for t in tools] + [f"{TOOL_NAMES[t]} MiB" for t in tools]
              + ["double11 / DuckDB"])

    def seconds(med, rcs, t):
        return f"{med[t]:.2f}" if med[t] is not None else f"failed (exit {rcs[t]})"

    def ratio(med):
        return f"{med['double11'] / med['duckdb']:.2f}x" if med["duckdb"] is not None else "-"

    table = [header] + [[label] + [seconds(med, rcs, t) for t in tools] + [f"{rss[t]:,.0f}" for t in tools]
                        + [ratio(med)] for label, med, rss, rcs in results]
    print(f"\nAll figures agree (ingest: every column of every row; reports: every cell, to the fen).")
    print(f"{size_mib:,.0f} MiB of logs, {truth['records']:,} records; median of {args.repeat} runs, "
          f"seconds and peak RSS (MiB) of each process\n")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if args.markdown:
        write_markdown(args, ver, truth, size_mib, len(files), table)
        print(f"\nwrote {args.markdown}")


def write_markdown(args, ver, truth, size_mib, n_files, table):
    m = machine()
    cmd = "python3 bench/compare.py " + " ".join(a for a in sys.argv[1:])
    lines = [
        f"### {datetime.date.today().isoformat()}: `{cmd}`",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), "
        + (f"{m['ram_gib']:.1f} GiB RAM, " if m["ram_gib"] else "") + m["os"],
        f"- versions: {ver['double11']} (dev profile), DuckDB {ver['duckdb']}, Polars {ver['polars']}, "
        f"Python {ver['python']}",
        f"- data: {DAY} and {BASE} at scale {args.scale}, {truth['records']:,} CSV records "
        f"({truth['accepted']:,} accepted, {truth['duplicates']:,} re-deliveries, "
        f"{truth['rejected']:,} bad lines), {n_files} files, {size_mib:,.0f} MiB"
        + ("" if args.compress == "none" else f" ({args.compress})"),
        f"- median of {args.repeat} runs; MiB = the process's peak RSS; all figures checked equal first",
        "",
        "| " + " | ".join(table[0]) + " |",
        "| --- |" + " ---: |" * (len(table[0]) - 1),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    with open(args.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
