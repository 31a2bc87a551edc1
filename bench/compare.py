#!/usr/bin/env python3
"""double11 vs DuckDB vs Polars: ingest, four reports and six ad-hoc queries on the same logs.

    python3 bench/compare.py --scale 0.002 --repeat 3                # ~2.6 M orders + base year
    python3 bench/compare.py --scale 0.008 --markdown results.md    # ~10.4 M orders
    python3 bench/compare.py --check                                 # correctness only (CI)

One run:
 1. `double11 generate` writes 2019-11-11 and its base year 2018-11-11 at --scale as CSV
    (--files per day, --compress, --dirty re-deliveries and bad lines) with _fx_rates.csv,
    the rates every tool converts with, and truth.json, the generator's own exact figures.
 2. ingest, timed: each tool turns the raw logs into Parquet partitioned by CST date, into a
    fresh folder each time: `double11 ingest` (the whole contract: rejects and duplicates
    tables, manifest, atomic commit, and the per_second / per_hour rollups), and
    bench/compare_duckdb.py / compare_polars.py, which apply the contract's rules in one
    DuckDB / Polars query (their docstrings say what they skip).
 3. four reports, timed, every tool reading the same Parquet files (the double11 warehouse
    written by the first ingest), each report in two double11 forms:
      - `double11 report NAME`: the built-in query, which reads the rollups that double11's
        ingest wrote (per_second: one row per CST second x platform x event type), except the
        summary's distinct buyers and sellers, which scan `transactions`;
      - `double11 sql -f`: SQL over `transactions`, the raw rows, equal in every figure (RAW
        below): the like-for-like comparison with DuckDB and Polars, which read only the raw
        rows (they have no rollups).
    The reports:
      summary         orders, GMV, refunds, net, buyers, sellers, AOV (queries/summary.sql)
      revenue         GMV and orders by platform x CST hour (REVENUE_PLATFORM_HOUR below: no
                      query of queries/ is that; revenue.platform and revenue.hour are one
                      dimension each)
      peak            the 10 busiest seconds, row 1 the peak (queries/peak.top.sql)
      growth          year-over-year GMV and orders by platform (queries/growth.platform.sql)
    `double11 report` runs from a folder holding only that query file, so a step is one query.
 4. six ad-hoc queries no rollup can serve (ADHOC below: a point lookup by buyer_id, distinct
    buyers per platform, top categories in one province, refund share by category (a join on
    order_id), top buyers with a window rank, orders per minute on mobile), as a user would
    type them into the shell: the same SQL text run by `double11 sql -c` and by DuckDB (over a
    view of the same Parquet), and the same question as a Polars lazy query.
 5. every step --repeat times, tools interleaved (for ingest, each run starts with the next
    tool in turn); the median wall time and each process's own peak RSS (os.wait4); each
    ingest run's time is printed too.
 6. BEFORE any time is printed: per CST day, the rows, distinct event ids, orders, GMV,
    refunds and a hash of every column of every row that each ingest wrote must be equal
    across the tools and match truth.json (and double11's manifest counts); every report and
    query result of every run must equal double11's, cell by cell, numbers compared as exact
    decimals. Any difference stops the benchmark with exit code 1 and the differing rows.
Then a table (and with --markdown, a file for BENCHMARKS.md) with the ratios double11 / DuckDB
and double11 / Polars.

--check is the correctness mode CI runs: a tiny scale (0.0001 unless --scale is given), one
run of every tool and step, every figure checked as above, and no timing printed at all.

Host Python 3, standard library only; DuckDB and Polars come from pip, at the versions pinned in
bench/requirements.txt, into ~/.cache/double11-venv ($DOUBLE11_VENV). Timings include each
tool's process start (Python and the import of duckdb / polars for those two, about 0.1-0.3 s),
as a user would see them.
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
from common import (ROOT, double11_binary, latest_manifest, lit, machine, measure, run_checked,  # noqa: E402
                    venv_python)

BENCH = os.path.dirname(os.path.abspath(__file__))
TOOLS = ["double11", "duckdb", "polars"]
TOOL_NAMES = {"double11": "double11", "double11_raw": "double11 (SQL over transactions)",
              "duckdb": "DuckDB", "polars": "Polars"}
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

# The same four reports as SQL over `transactions` (the raw rows), run by `double11 sql -f`:
# what double11 answers without its rollups. Same columns, order and rounding as the report
# files; {day} and {compare} become DATE literals. Their output must equal the reports'.
RAW = {
    "summary": """-- summary over transactions (bench/compare.py RAW)
WITH totals AS (
    SELECT
        count(*) FILTER (WHERE event_type = 'paid') AS orders,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        count(*) FILTER (WHERE event_type = 'refunded') AS refund_events,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), CAST(0 AS DECIMAL(28, 2))) AS refunds_cny
    FROM transactions
    WHERE cst_date = {day}
),
buyers AS (
    SELECT count(*) AS buyers
    FROM (SELECT buyer_id FROM transactions
          WHERE cst_date = {day} AND event_type = 'paid' AND buyer_id IS NOT NULL
          GROUP BY buyer_id)
),
sellers AS (
    SELECT count(*) AS sellers
    FROM (SELECT seller_id FROM transactions
          WHERE cst_date = {day} AND event_type = 'paid' AND seller_id IS NOT NULL
          GROUP BY seller_id)
)
SELECT {day} AS cst_date, orders, gmv_cny, refund_events, refunds_cny,
    gmv_cny - refunds_cny AS net_cny, buyers, sellers,
    round(CAST(gmv_cny AS DECIMAL(30, 6)) / CAST(nullif(orders, 0) AS DECIMAL(28, 2)), 2) AS aov_cny
FROM totals CROSS JOIN buyers CROSS JOIN sellers
""",
    "revenue": """-- revenue by platform x CST hour over transactions (bench/compare.py RAW)
SELECT platform, CAST(date_part('hour', event_time) AS INT) AS hour,
    count(*) AS orders, sum(amount_cny) AS gmv_cny
FROM transactions
WHERE cst_date = {day} AND event_type = 'paid'
GROUP BY 1, 2
ORDER BY platform NULLS LAST, hour
""",
    "peak": """-- the 10 busiest seconds over transactions (bench/compare.py RAW)
SELECT
    row_number() OVER (ORDER BY count(*) DESC, date_trunc('second', event_time) ASC) AS rank,
    date_trunc('second', event_time) AS second_cst,
    count(*) AS orders,
    sum(amount_cny) AS gmv_cny
FROM transactions
WHERE cst_date = {day} AND event_type = 'paid'
GROUP BY date_trunc('second', event_time)
ORDER BY rank
LIMIT 10
""",
    "growth": """-- growth by platform over transactions (bench/compare.py RAW)
WITH g AS (
    SELECT platform,
        count(*) FILTER (WHERE cst_date = {day}) AS orders,
        count(*) FILTER (WHERE cst_date = {compare}) AS base_orders,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = {day}), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = {compare}), CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny
    FROM transactions
    WHERE cst_date IN ({day}, {compare}) AND event_type = 'paid'
    GROUP BY platform
)
SELECT platform, orders, base_orders,
    round(CAST(orders - base_orders AS DECIMAL(30, 6)) / CAST(nullif(base_orders, 0) AS DECIMAL(28, 2)), 6) AS orders_growth,
    gmv_cny, base_gmv_cny,
    round(CAST(gmv_cny - base_gmv_cny AS DECIMAL(30, 6)) / CAST(nullif(base_gmv_cny, 0) AS DECIMAL(28, 2)), 6) AS gmv_growth
FROM g
ORDER BY gmv_cny DESC, platform NULLS LAST
""",
}

# Ad-hoc questions no rollup can serve, as one would type them into `double11 sql`: the same
# SQL text runs in DataFusion (double11) and DuckDB (a view `transactions` over the same
# Parquet); {idiv} is integer division (`/` in DataFusion, `//` in DuckDB). compare_polars.py
# answers each with a lazy query of its own (adhoc_* there). {buyer} is chosen before timing
# (the buyer with the most events), {province} and {device} are fixed.
PROVINCE, DEVICE = "Zhejiang", "mobile"
ADHOC = [
    ("lookup", "ad hoc: every event of one buyer_id", """
SELECT event_id, event_time, event_type, order_id, platform, amount_cny
FROM transactions
WHERE buyer_id = {buyer}
ORDER BY event_time, event_id"""),
    ("buyers", "ad hoc: distinct buyers per platform", """
SELECT platform, count(DISTINCT buyer_id) AS buyers
FROM transactions
WHERE cst_date = {day} AND event_type = 'paid'
GROUP BY platform
ORDER BY platform NULLS LAST"""),
    ("province", f"ad hoc: top 10 categories in {PROVINCE}", """
SELECT category, count(*) AS orders, sum(amount_cny) AS gmv_cny
FROM transactions
WHERE cst_date = {day} AND event_type = 'paid' AND province = '{province}'
GROUP BY category
ORDER BY gmv_cny DESC, category NULLS LAST
LIMIT 10"""),
    ("refunds", "ad hoc: refund share by category (join on order_id)", """
WITH refunded AS (
    SELECT DISTINCT order_id FROM transactions WHERE event_type = 'refunded'
)
SELECT p.category,
    count(*) AS orders,
    count(r.order_id) AS refunded_orders,
    count(r.order_id) * 1000000 {idiv} count(*) AS refunded_ppm,
    sum(p.amount_cny) AS gmv_cny,
    coalesce(sum(p.amount_cny) FILTER (WHERE r.order_id IS NOT NULL), CAST(0 AS DECIMAL(28, 2))) AS refunded_gmv_cny
FROM transactions AS p
LEFT JOIN refunded AS r ON r.order_id = p.order_id
WHERE p.cst_date = {day} AND p.event_type = 'paid'
GROUP BY p.category
ORDER BY p.category NULLS LAST"""),
    ("topbuyers", "ad hoc: top 10 buyers by GMV, rank()", """
SELECT rank, buyer_id, orders, gmv_cny
FROM (
    SELECT buyer_id, count(*) AS orders, sum(amount_cny) AS gmv_cny,
        rank() OVER (ORDER BY sum(amount_cny) DESC) AS rank
    FROM transactions
    WHERE cst_date = {day} AND event_type = 'paid' AND buyer_id IS NOT NULL
    GROUP BY buyer_id
) AS ranked
WHERE rank <= 10
ORDER BY rank, buyer_id"""),
    ("minutes", f"ad hoc: orders per minute on {DEVICE}", """
SELECT date_trunc('minute', event_time) AS minute_cst, count(*) AS orders, sum(amount_cny) AS gmv_cny
FROM transactions
WHERE cst_date = {day} AND event_type = 'paid' AND device = '{device}'
GROUP BY 1
ORDER BY 1"""),
]


def date_lit(d):
    return f"DATE '{d}'"


def adhoc_sql(text, engine, buyer):
    return text.format(day=date_lit(DAY), buyer=buyer, province=PROVINCE, device=DEVICE,
                       idiv="/" if engine == "double11" else "//").strip() + "\n"


STEPS = ["ingest"] + [r[0] for r in REPORTS] + ["adhoc"]


def fail(msg):
    sys.stderr.write(f"\nFIGURES DISAGREE - no timing is printed.\n{msg}\n")
    sys.exit(1)


# ---------------------------------------------------------------- checking figures

NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
TIMESTAMP = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?"
                       r"(?:\+08(?::?00)?)?$")


def cell(text):
    """A report cell compared exactly: plain decimals as Decimal (1.50 == 1.5, but never a
    float: 1.5e-05 stays text and differs from 0.000015), CST timestamps without their offset
    spelling or trailing zeros of the fraction, empty and NULL as None, anything else as text."""
    if text in ("", "NULL", "null"):
        return None
    if NUMBER.match(text):
        return Decimal(text)
    m = TIMESTAMP.match(text)
    if m:
        # 00:00:01.230 == 00:00:01.23 and 00:01:00.000 == 00:01:00 (tools print fractions
        # differently)
        frac = (m.group(3) or "").rstrip("0").rstrip(".")
        return f"{m.group(1)}T{m.group(2)}{frac}"
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
    ap.add_argument("--scale", type=float, default=None,
                    help="size of the day, 1.0 = 1.3 billion orders (default 0.008; 0.0001 with --check)")
    ap.add_argument("--check", action="store_true",
                    help="correctness only (CI): one run of every tool and step at a tiny scale, "
                         "every figure checked, no timing printed")
    ap.add_argument("--files", type=int, default=4, help="log files per day (default 4)")
    ap.add_argument("--compress", choices=["none", "gz", "zst"], default="none")
    ap.add_argument("--dirty", default="0.01",
                    help="dirty lines per good event: re-deliveries and bad lines (default 0.01)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step (default 3)")
    ap.add_argument("--no-plain", action="store_true",
                    help="skip the plain conversions (DuckDB and DataFusion COPY ... ORDER BY "
                         "event_time, Polars sink_parquet; no contract) timed beside the ingest step")
    ap.add_argument("--bin", help="the double11 binary (default: $CARGO_TARGET_DIR/debug/double11)")
    ap.add_argument("--workdir", help="where the logs and Parquet go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--markdown", help="also write the results as markdown to this file")
    ap.add_argument("--steps", default=",".join(STEPS),
                    help="steps to time, comma-separated (default: all of " + ",".join(STEPS)
                         + "; the reports and ad-hoc queries need no other step: double11's "
                         "first ingest is always run)")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="tools to run, comma-separated (default: all three; double11 and duckdb "
                         "are always run, since the ratio is theirs). Leave Polars out where it "
                         "cannot hold the logs in memory, e.g. 100 M orders on 24 GiB")
    args = ap.parse_args()
    if args.scale is None:
        args.scale = 0.0001 if args.check else 0.008
    if args.check:
        if args.markdown:
            sys.exit("--check prints no timing: no --markdown")
        args.repeat = 1
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
          f"{len(files)} files, {size_mib:,.0f} MiB"
          + ("" if args.check else f", in {gen.seconds:.1f} s"), flush=True)

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
    unknown = set(steps) - set(STEPS)
    if unknown:
        sys.exit(f"unknown --steps {sorted(unknown)}")
    warehouse = None
    times["ingest"] = {t: [] for t in tools}
    plain_tools = ([f"{t}_plain" for t in tools if t != "double11"] + ["datafusion_plain"]
                   if "ingest" in steps and not args.check and not args.no_plain else [])
    if plain_tools:  # (printed in a table of their own)
        times["plain"] = {t: [] for t in plain_tools}
        datafusion_plain = datafusion_plain_cmd(binary, work, files)
    for rep in range(args.repeat if "ingest" in steps else 1):
        ran = tools if "ingest" in steps else ["double11"]
        # Each run starts with a different tool (the contract-applying ones, then the plain
        # conversions, rotated by one per run): whatever the first process after the logs'
        # generation pays (stop 37 saw double11's first run 1.5-3 s slower than its next ones
        # on the same logs) falls on each tool in turn, and the median of 3 drops it.
        order = [(t, False) for t in ran] + [(t, True) for t in plain_tools]
        order = order[rep % len(order):] + order[:rep % len(order)]
        for tool, plain in order:
            print(f"ingest   {tool:<16} run {rep + 1}/{args.repeat}", end="", flush=True)
            # The logs just generated and the last tool's Parquet are written back to disk
            # first: otherwise the kernel's write-back runs during the next ingest (the first
            # tool's 12.2 s became 15.6 s in one run of stop 36).
            os.sync()
            if plain:
                # The plain conversions (no contract, outputs not compared): the floor users
                # see first.
                out = os.path.join(work, f"plain-{tool}-{rep}")
                engine = tool.split("_")[0]
                if engine == "datafusion":
                    m = measure(datafusion_plain(out))
                else:
                    m = measure([py, os.path.join(BENCH, f"compare_{engine}.py"), "plain", "--out", out]
                                + files)
                print(f"  {m.seconds:7.2f} s {m.rss_mib:7,.0f} MiB", flush=True)
                if m.rc != 0:
                    print(f"         {tool} failed (exit {m.rc}): {m.stderr.strip()[-300:]}", flush=True)
                times["plain"][tool].append(m)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(out + ".duckdb-tmp", ignore_errors=True)
                continue
            out = os.path.join(work, f"ingest-{tool}-{rep}")
            if tool == "double11":
                m = run_checked(ingest_cmd(tool, out), f"{tool} ingest")
            else:
                # A competitor that fails (out of memory at a large scale, say) is recorded as
                # failed, with its exit code and peak RSS, and leaves the figures check.
                m = measure(ingest_cmd(tool, out))
                if m.rc != 0 and args.check:
                    fail(f"ingest: {tool} failed (exit {m.rc}): {m.stderr.strip()[-2000:]}")
            print("" if args.check else f"  {m.seconds:7.2f} s {m.rss_mib:7,.0f} MiB", flush=True)
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
        manifest = latest_manifest(os.path.join(work, f"ingest-double11-{rep}"))
        rows = check_ingest(json.loads(verified.stdout), truth, manifest, folders)
        for o in [os.path.join(work, f"ingest-{t}-{rep}") for t in ran]:
            if o.endswith(f"ingest-double11-{rep}") and warehouse is None:
                warehouse = o
            else:
                shutil.rmtree(o, ignore_errors=True)
            shutil.rmtree(o + ".duckdb-tmp", ignore_errors=True)  # DuckDB's spill, if any

    # ---- reports and ad-hoc queries, all reading the first double11 warehouse's Parquet
    transactions = os.path.join(warehouse, "transactions")
    queries = os.path.join(work, "queries")
    os.makedirs(queries)
    for _, _, _, qfile, _ in REPORTS:
        if qfile:
            shutil.copy(os.path.join(ROOT, "queries", qfile), queries)
    with open(os.path.join(queries, "revenue_platform_hour.sql"), "w") as f:
        f.write(REVENUE_PLATFORM_HOUR)
    sql_dir = os.path.join(work, "sql")
    os.makedirs(sql_dir)

    def sql_file(name, text):
        path = os.path.join(sql_dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # A report step runs double11 twice (the report, which reads rollups; the same figures by
    # SQL over transactions), then DuckDB and Polars; every output must equal the first.
    report_tools = ["double11", "double11_raw"] + [t for t in tools if t != "double11"]
    for step, _, d11_name, _, script_name in REPORTS:
        if step not in steps:
            continue
        raw_sql = sql_file(f"{step}.raw.sql", RAW[step].format(day=date_lit(DAY), compare=date_lit(BASE)))
        times[step] = {t: [] for t in report_tools}
        want = None
        for rep in range(args.repeat):
            for tool in report_tools:
                if tool == "double11":
                    cmd = [binary, "-q", "report", d11_name, "--queries", queries, "--warehouse", warehouse,
                           "--day", DAY, "--compare", BASE, "--format", "csv"]
                elif tool == "double11_raw":
                    cmd = [binary, "-q", "sql", "--warehouse", warehouse, "-f", raw_sql, "--format", "csv"]
                else:
                    cmd = [py, os.path.join(BENCH, f"compare_{tool}.py"), "report", script_name,
                           "--transactions", transactions, "--day", DAY, "--compare", BASE]
                print(f"{step:<8} {tool:<12} run {rep + 1}/{args.repeat}", flush=True)
                m = run_checked(cmd, f"{tool} report {step}")
                times[step][tool].append(m)
                if want is None:
                    want = m.stdout
                    check_truth(step, want, truth)
                same_report(step, TOOL_NAMES[tool], rep, m.stdout, want)

    # Ad-hoc queries: double11 and DuckDB run the same SQL text, Polars its own lazy query.
    if "adhoc" in steps:
        pick = sql_file("pick_buyer.sql", "SELECT buyer_id FROM transactions WHERE buyer_id IS NOT NULL "
                        "GROUP BY buyer_id ORDER BY count(*) DESC, buyer_id LIMIT 1\n")
        picked = run_checked([py, os.path.join(BENCH, "compare_duckdb.py"), "sql", "--transactions",
                              transactions, pick], "choosing the buyer of the lookup (DuckDB)")
        buyer = int(parse_report(picked.stdout, True)[1][0][0])
        for name, label, text in ADHOC:
            step = f"adhoc_{name}"
            d11_sql = adhoc_sql(text, "double11", buyer)
            duck_sql = sql_file(f"{name}.duckdb.sql", adhoc_sql(text, "duckdb", buyer))
            times[step] = {t: [] for t in tools}
            want = None
            for rep in range(args.repeat):
                for tool in tools:
                    if tool == "double11":
                        cmd = [binary, "-q", "sql", "--warehouse", warehouse, "-c", d11_sql, "--format", "csv"]
                    elif tool == "duckdb":
                        cmd = [py, os.path.join(BENCH, "compare_duckdb.py"), "sql", "--transactions",
                               transactions, duck_sql]
                    else:
                        cmd = [py, os.path.join(BENCH, "compare_polars.py"), "adhoc", name, "--transactions",
                               transactions, "--day", DAY, "--buyer", str(buyer), "--province", PROVINCE,
                               "--device", DEVICE]
                    print(f"{name:<9} {tool:<11} run {rep + 1}/{args.repeat}", flush=True)
                    m = run_checked(cmd, f"{tool} ad-hoc query {name}")
                    times[step][tool].append(m)
                    if want is None:
                        want = m.stdout
                        if len(parse_report(want)[1]) == 0:
                            fail(f"ad-hoc query {name}: no rows at all; the benchmark would compare nothing")
                    same_report(label, TOOL_NAMES[tool], rep, m.stdout, want)

    if args.check:
        n = sum(len(v) for step in times.values() for v in step.values())
        print(f"\ncheck passed: {n} runs of {len(times)} steps; every tool's figures are equal "
              f"(ingest: every column of every row and truth.json; reports and queries: every cell, "
              f"to the fen). No timing is reported in --check mode.")
        return

    # ---- all figures agree: the results
    # (label, what double11 reads, step, double11's tool key)
    rows_spec = []
    if "ingest" in steps:
        rows_spec.append((f"ingest ({rows:,} rows)", "raw CSV logs", "ingest", "double11"))
    for step, label, _, _, _ in REPORTS:
        if step in steps:
            rows_spec.append((label, "rollups (`double11 report`)", step, "double11"))
            rows_spec.append((label, "raw rows (`double11 sql -f`)", step, "double11_raw"))
    if "adhoc" in steps:
        for name, label, _ in ADHOC:
            rows_spec.append((label, "raw rows (`double11 sql -c`)", f"adhoc_{name}", "double11"))

    def med(ms):
        # A tool that failed any run shows "failed (exit N)" and no ratio.
        return statistics.median(m.seconds for m in ms) if all(m.rc == 0 for m in ms) else None

    def seconds(ms):
        v = med(ms)
        return f"{v:.2f}" if v is not None else f"failed (exit {next(m.rc for m in ms if m.rc)})"

    def ratio(a, b):
        return f"{a / b:.2f}x" if a is not None and b else "-"

    peers = [t for t in tools if t != "double11"]
    header = (["step", "double11 reads", "double11 s"] + [f"{TOOL_NAMES[t]} s" for t in peers]
              + ["double11 MiB"] + [f"{TOOL_NAMES[t]} MiB" for t in peers]
              + [f"double11 / {TOOL_NAMES[t]}" for t in peers])
    table = [header]
    for label, reads, step, d11 in rows_spec:
        t = times[step]
        d = med(t[d11])
        table.append([label, reads, seconds(t[d11])] + [seconds(t[p]) for p in peers]
                     + [f"{max(m.rss_mib for m in t[d11]):,.0f}"]
                     + [f"{max(m.rss_mib for m in t[p]):,.0f}" for p in peers]
                     + [ratio(d, med(t[p])) for p in peers])
    print(f"\nAll figures agree (ingest: every column of every row; reports and queries: every "
          f"cell, to the fen).")
    print(f"{size_mib:,.0f} MiB of logs, {truth['records']:,} records; median of {args.repeat} runs, "
          f"seconds and peak RSS (MiB) of each process\n")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if "ingest" in steps and args.repeat > 1:
        print("\nEach ingest run, seconds (run 1, 2, ...; each run starts one tool later in this list):")
        for tool, ms in list(times["ingest"].items()) + list(times.get("plain", {}).items()):
            print(f"  {tool:<16} " + " ".join(f"{m.seconds:6.2f}" for m in ms))
    plain_times = times.get("plain", {})
    if plain_times:
        d = med(times["ingest"]["double11"])
        print(f"\nPlain conversions of the same CSV, no contract (DuckDB: `COPY (SELECT * FROM "
              f"read_csv(...) ORDER BY event_time) TO ... (FORMAT parquet)`; Polars: "
              f"`scan_csv(...).sink_parquet(...)`, unsorted; DataFusion, the engine double11 is "
              f"built on: the same `COPY ... ORDER BY` in `double11 sql`), against double11's "
              f"whole-contract ingest:")
        for tool, ms in plain_times.items():
            print(f"  {tool:<16} {seconds(ms):>8} s  {max(m.rss_mib for m in ms):>7,.0f} MiB  "
                  f"double11 ingest / {tool} = {ratio(d, med(ms))}")
    if args.markdown:
        write_markdown(args, ver, truth, size_mib, len(files), table, buyer if "adhoc" in steps else None)
        print(f"\nwrote {args.markdown}")


def datafusion_plain_cmd(binary, work, files):
    """The plain conversion by DataFusion, the engine double11 is built on: `COPY (SELECT * FROM
    logs ORDER BY event_time) TO ... STORED AS PARQUET` in a `double11 sql` session, over an
    external CSV table of the same files (a folder of links to them), types as DataFusion infers
    them; DataFusion's default Parquet writer settings; memory up to 80 % of the machine's (as
    DuckDB's default), so that the sort spills no sooner than DuckDB's. No contract. The session
    needs a warehouse to open: an empty one, made here (untimed) from a header-only file."""
    folder = os.path.join(work, "plain-datafusion-csv")
    os.makedirs(folder)
    for f in files:
        os.symlink(os.path.abspath(f), os.path.join(folder, os.path.basename(f)))
    header_only = os.path.join(work, "plain-datafusion-header")
    os.makedirs(header_only)
    with open(files[0]) as src, open(os.path.join(header_only, "header.csv"), "w") as dst:
        dst.write(src.readline())
    session = os.path.join(work, "plain-datafusion-session")
    run_checked([binary, "-q", "ingest", header_only, "--warehouse", session],
                "double11 ingest (the plain DataFusion run's empty session warehouse)")
    ram = machine()["ram_gib"] or 4
    limit = f"{max(1, int(ram * 0.8))}G"

    def command(out):
        os.makedirs(out, exist_ok=True)
        return [binary, "-q", "--memory-limit", limit, "sql", "--writable", "--warehouse", session,
                "-c", f"CREATE EXTERNAL TABLE logs STORED AS CSV LOCATION {lit(folder + '/')} "
                      "OPTIONS ('format.has_header' 'true')",
                "-c", "COPY (SELECT * FROM logs ORDER BY event_time) "
                      f"TO {lit(os.path.join(out, 'plain.parquet'))} STORED AS PARQUET"]
    return command


def write_markdown(args, ver, truth, size_mib, n_files, table, buyer):
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
        f"- median of {args.repeat} runs; MiB = the process's peak RSS; all figures checked equal first"
        + (f"; the lookup's buyer_id: {buyer}" if buyer is not None else ""),
        "",
        "| " + " | ".join(table[0]) + " |",
        "| --- | --- |" + " ---: |" * (len(table[0]) - 2),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    with open(args.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
