#!/usr/bin/env python3
"""DuckDB side of bench/compare.py; runs in the benchmark virtualenv (duckdb from pip).

    python compare_duckdb.py ingest --rates _fx_rates.csv --out DIR FILE.csv...
    python compare_duckdb.py report NAME --transactions WH/transactions --day D --compare D
    python compare_duckdb.py verify DIR...
    python compare_duckdb.py sql --transactions WH/transactions QUERY.sql

`ingest` is one DuckDB statement from the raw CSV logs to Parquet partitioned by CST date,
applying the input contract (docs/input-format.md) as far as SQL allows:
  - CSV: header row, columns by name in any order (union_by_name), unknown columns ignored,
    RFC 4180 quoting; a row with another field count than its header is dropped
    (strict_mode + ignore_errors), which is the contract's csv_field_count reject.
  - every field rule: required fields, ids of 1..64 characters, RFC 3339 time with offset
    (T/t, Z/z or +-HH:MM, 1..9 fraction digits truncated to the millisecond, real dates and
    times only), event_type paid|refunded, amount a plain decimal with at most 2 fraction
    digits, > 0 and < 10,000,000, currency an upper-case 3-letter code (empty: CNY) with a rate
    for the event's CST date, buyer_id / seller_id 64-bit integers, quantity an integer >= 1
    (empty: 1);
  - de-duplication of event_id among accepted rows, first in input order wins (files in the
    order given, rows in file order: row_number() OVER () over the scan, which DuckDB keeps in
    input order with preserve_insertion_order, its default);
  - amount_cny = amount x rate in integer fen, rounded half away from zero;
  - zstd Parquet partitioned by cst_date, the CST day of event_time.
It skips what double11 also does: the rejects and duplicates tables (bad rows are dropped,
not kept with a reason), line-number accounting, non-UTF-8 detection, the manifest,
exactly-once across runs (a fresh output folder every time), the atomic commit, and sorting
by event_time.

`report` prints one report as CSV, the same columns and order as double11's query, figures
exact (decimals, never floats; ratios in integer arithmetic, half away from zero).
`verify` prints per-CST-day figures of Parquet folders as JSON (untimed consistency check).
`sql` runs the statement of a file against a view `transactions` over the Parquet folder (hive
partitions, `cst_date` a DATE, session time zone Asia/Shanghai so that times truncate in CST)
and prints its rows as CSV: the ad-hoc queries of bench/compare.py, the same SQL text that
`double11 sql -c` runs.
"""
import csv
import datetime
import json
import os
import sys

from common import lit, tool_command_line

import duckdb


def date_lit(d):
    return f"DATE '{datetime.date.fromisoformat(d).isoformat()}'"


TIME_RE = (r"^([1-9][0-9]{3}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})"
           r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")


def ingest(args):
    # Spill beside the output (the benchmark's work folder), not into `.tmp` of the current
    # folder: at 100 M orders DuckDB spilled over 30 GB.
    con = duckdb.connect(config={"temp_directory": args.out.rstrip("/") + ".duckdb-tmp"})
    con.execute("SET preserve_insertion_order = true")
    # Rates in integer millionths of a CNY (the file is trusted, as double11 refuses a bad one).
    con.execute(f"""
        CREATE TABLE rates AS
        SELECT currency, CAST(date AS DATE) AS day,
               CAST(CAST(cny_per_unit AS DECIMAL(18, 6)) * 1000000 AS BIGINT) AS micro
        FROM read_csv({lit(args.rates)}, header = true, all_varchar = true)""")
    files = "[" + ", ".join(lit(f) for f in args.files) + "]"
    con.execute(f"""
    COPY (
    WITH raw AS (
        SELECT *, row_number() OVER () AS seq
        FROM read_csv({files}, header = true, all_varchar = true, union_by_name = true,
                      delim = ',', quote = '"', escape = '"',
                      strict_mode = true, ignore_errors = true, null_padding = false)
    ), parsed AS (
        SELECT *,
            regexp_extract(event_time, '{TIME_RE}', ['d', 't', 'frac', 'off']) AS tp,
            coalesce(currency, 'CNY') AS cur,
            CASE WHEN regexp_full_match(amount, '[0-9]+(\\.[0-9]{{1,2}})?')
                 THEN TRY_CAST(amount AS DECIMAL(18, 2)) END AS amount_dec
        FROM raw
    ), timed AS (
        SELECT *,
            epoch_ms(try_strptime(tp.d || ' ' || tp.t, '%Y-%m-%d %H:%M:%S'))
              + coalesce(TRY_CAST(rpad(substr(tp.frac, 2, 3), 3, '0') AS BIGINT), 0)
              - CASE WHEN tp.off IN ('Z', 'z') THEN 0
                     WHEN TRY_CAST(substr(tp.off, 2, 2) AS INTEGER) > 23
                       OR TRY_CAST(substr(tp.off, 5, 2) AS INTEGER) > 59 THEN NULL
                     ELSE (CASE WHEN left(tp.off, 1) = '-' THEN -60000 ELSE 60000 END)
                          * (TRY_CAST(substr(tp.off, 2, 2) AS BIGINT) * 60
                             + TRY_CAST(substr(tp.off, 5, 2) AS BIGINT)) END AS event_ms
        FROM parsed
    ), dated AS (
        SELECT *, CAST(epoch_ms(event_ms + 8 * 3600 * 1000) AS DATE) AS cst_date FROM timed
    ), valid AS (
        SELECT d.*, CASE WHEN d.cur = 'CNY' THEN 1000000 ELSE r.micro END AS micro
        FROM dated AS d LEFT JOIN rates AS r ON r.currency = d.cur AND r.day = d.cst_date
        WHERE d.event_id IS NOT NULL AND length(d.event_id) <= 64
          AND d.event_ms IS NOT NULL
          AND d.event_type IN ('paid', 'refunded')
          AND d.order_id IS NOT NULL AND length(d.order_id) <= 64
          AND d.platform IS NOT NULL
          AND d.amount_dec > 0 AND d.amount_dec < 10000000
          AND regexp_full_match(d.cur, '[A-Z]{{3}}') AND (d.cur = 'CNY' OR r.micro IS NOT NULL)
          AND (d.buyer_id IS NULL OR (regexp_full_match(d.buyer_id, '-?[0-9]+')
                                      AND TRY_CAST(d.buyer_id AS BIGINT) IS NOT NULL))
          AND (d.seller_id IS NULL OR (regexp_full_match(d.seller_id, '-?[0-9]+')
                                       AND TRY_CAST(d.seller_id AS BIGINT) IS NOT NULL))
          AND (d.quantity IS NULL OR (regexp_full_match(d.quantity, '-?[0-9]+')
                                      AND TRY_CAST(d.quantity AS BIGINT) >= 1))
    ), firsts AS (
        SELECT * FROM valid
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY seq) = 1
    )
    SELECT
        event_id,
        timezone('UTC', epoch_ms(event_ms)) AS event_time,
        event_type,
        order_id,
        platform,
        CAST(amount_dec AS DECIMAL(9, 2)) AS amount,
        cur AS currency,
        CAST(CAST((CAST(amount_dec * 100 AS BIGINT) * micro + 500000) // 1000000 AS DECIMAL(18, 0))
             * 0.01 AS DECIMAL(18, 2)) AS amount_cny,
        TRY_CAST(buyer_id AS BIGINT) AS buyer_id,
        TRY_CAST(seller_id AS BIGINT) AS seller_id,
        category,
        province,
        device,
        coalesce(TRY_CAST(quantity AS BIGINT), 1) AS quantity,
        cst_date
    FROM firsts
    ) TO {lit(args.out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (cst_date))""")


# A ratio (n / d) to 6 decimals, half away from zero, exactly (integers, HUGEINT); null if d = 0.
RATIO6 = """
CREATE MACRO ratio6(n, d) AS CASE WHEN d = 0 THEN NULL ELSE
    CAST(sign(n) * ((abs(CAST(n AS HUGEINT)) * 2000000 + d) // (2 * CAST(d AS HUGEINT)))
         AS DECIMAL(28, 0)) * CAST(0.000001 AS DECIMAL(7, 6)) END"""


def report_sql(name, scan, day, compare):
    if name == "summary":
        return f"""
        WITH t AS (
            SELECT
                count(*) FILTER (WHERE event_type = 'paid') AS orders,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), 0) AS gmv_cny,
                count(*) FILTER (WHERE event_type = 'refunded') AS refund_events,
                coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), 0) AS refunds_cny,
                count(DISTINCT buyer_id) FILTER (WHERE event_type = 'paid') AS buyers,
                count(DISTINCT seller_id) FILTER (WHERE event_type = 'paid') AS sellers
            FROM {scan} WHERE cst_date = {day})
        SELECT {day} AS cst_date, orders, gmv_cny, refund_events, refunds_cny,
               gmv_cny - refunds_cny AS net_cny, buyers, sellers,
               CASE WHEN orders > 0 THEN
                   CAST((CAST(gmv_cny * 100 AS HUGEINT) * 2 + orders) // (2 * orders) AS DECIMAL(28, 0))
                   * CAST(0.01 AS DECIMAL(3, 2)) END AS aov_cny
        FROM t"""
    if name == "revenue_platform_hour":
        return f"""
        SELECT platform, CAST(date_part('hour', event_time) AS INTEGER) AS hour,
               count(*) AS orders, sum(amount_cny) AS gmv_cny
        FROM {scan} WHERE cst_date = {day} AND event_type = 'paid'
        GROUP BY ALL ORDER BY platform NULLS LAST, hour"""
    if name == "peak_top":
        return f"""
        SELECT row_number() OVER (ORDER BY count(*) DESC, date_trunc('second', event_time)) AS rank,
               strftime(date_trunc('second', event_time), '%Y-%m-%dT%H:%M:%S+08:00') AS second_cst,
               count(*) AS orders, sum(amount_cny) AS gmv_cny
        FROM {scan} WHERE cst_date = {day} AND event_type = 'paid'
        GROUP BY date_trunc('second', event_time)
        ORDER BY rank LIMIT 10"""
    if name == "growth_platform":
        return f"""
        WITH g AS (
            SELECT platform,
                count(*) FILTER (WHERE cst_date = {day}) AS orders,
                count(*) FILTER (WHERE cst_date = {compare}) AS base_orders,
                coalesce(sum(amount_cny) FILTER (WHERE cst_date = {day}), 0) AS gmv_cny,
                coalesce(sum(amount_cny) FILTER (WHERE cst_date = {compare}), 0) AS base_gmv_cny
            FROM {scan} WHERE cst_date IN ({day}, {compare}) AND event_type = 'paid'
            GROUP BY platform)
        SELECT platform, orders, base_orders, ratio6(orders - base_orders, base_orders) AS orders_growth,
               gmv_cny, base_gmv_cny,
               ratio6(CAST((gmv_cny - base_gmv_cny) * 100 AS HUGEINT),
                      CAST(base_gmv_cny * 100 AS HUGEINT)) AS gmv_growth
        FROM g ORDER BY gmv_cny DESC, platform NULLS LAST"""
    sys.exit(f"unknown report {name}")


def scan_of(folder):
    return (f"read_parquet({lit(folder.rstrip('/') + '/cst_date=*/*.parquet')}, "
            "hive_partitioning = true, hive_types = {'cst_date': DATE})")


def report(args):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")  # hours and seconds of event_time in CST
    con.execute(RATIO6)
    cur = con.execute(report_sql(args.name, scan_of(args.transactions),
                                 date_lit(args.day), date_lit(args.compare)))
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([d[0] for d in cur.description])
    for row in cur.fetchall():
        out.writerow(["" if v is None else str(v) for v in row])


def sql(args):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(f"CREATE VIEW transactions AS SELECT * FROM {scan_of(args.transactions)}")
    with open(args.file) as f:
        cur = con.execute(f.read())
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([d[0] for d in cur.description])
    for row in cur.fetchall():
        out.writerow(["" if v is None else str(v) for v in row])


def verify(args):
    con = duckdb.connect()
    result = {}
    for folder in args.folders:
        rows = con.execute(f"""
            SELECT CAST(cst_date AS VARCHAR), count(*), count(DISTINCT event_id),
                   count(*) FILTER (WHERE event_type = 'paid'),
                   CAST(coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), 0) AS VARCHAR),
                   count(*) FILTER (WHERE event_type = 'refunded'),
                   CAST(coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), 0) AS VARCHAR),
                   -- every column of every row, whatever Parquet types each tool chose
                   CAST(sum(hash(event_id, epoch_ms(event_time), event_type, order_id, platform,
                                 CAST(CAST(amount AS DECIMAL(18, 2)) AS VARCHAR), currency,
                                 CAST(CAST(amount_cny AS DECIMAL(18, 2)) AS VARCHAR),
                                 CAST(buyer_id AS BIGINT), CAST(seller_id AS BIGINT),
                                 category, province, device, CAST(quantity AS BIGINT))) AS VARCHAR)
            FROM {scan_of(folder)} GROUP BY 1 ORDER BY 1""").fetchall()
        result[folder] = {r[0]: {"rows": r[1], "distinct_ids": r[2], "orders": r[3], "gmv": r[4],
                                 "refund_events": r[5], "refunds": r[6], "row_hash": r[7]}
                          for r in rows}
    json.dump(result, sys.stdout)


def plain(args):
    """The plain conversion (issue 17's floor): every CSV row to one Parquet file sorted by
    event_time, types as DuckDB sniffs them; no contract (no validation, rejects, de-dup,
    currency conversion, CST day or rollups)."""
    os.makedirs(args.out, exist_ok=True)
    con = duckdb.connect(config={"temp_directory": args.out.rstrip("/") + ".duckdb-tmp"})
    files = "[" + ", ".join(lit(f) for f in args.files) + "]"
    con.execute(f"COPY (SELECT * FROM read_csv({files}) ORDER BY event_time) "
                f"TO {lit(os.path.join(args.out, 'plain.parquet'))} (FORMAT parquet)")


def main():
    tool_command_line({"ingest": ingest, "report": report, "verify": verify, "sql": sql,
                       "plain": plain})


if __name__ == "__main__":
    main()
