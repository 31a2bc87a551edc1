#!/usr/bin/env python3
"""Polars side of bench/compare.py; runs in the benchmark virtualenv (polars from pip).

    python compare_polars.py ingest --rates _fx_rates.csv --out DIR FILE.csv...
    python compare_polars.py report NAME --transactions WH/transactions --day D --compare D
    python compare_polars.py adhoc NAME --transactions WH/transactions --day D --buyer N \
        --province P --device D

`ingest` is one lazy Polars query from the raw CSV logs to Parquet partitioned by CST date,
applying the input contract (docs/input-format.md) as far as Polars allows:
  - CSV: header row, columns by name in any order, unknown columns ignored, RFC 4180
    quoting. Polars' reader silently pads a short row and (truncate_ragged_lines) cuts a long
    one, so the field count of every record is counted on the raw line (quoted sections
    removed, commas counted) and a row whose count differs from its header's is dropped: the
    contract's csv_field_count reject. That pairing of parsed rows with raw lines assumes one
    record per physical line, true of `double11 generate`: a quoted field spanning lines
    makes the two lengths differ and the query fails ("zip node received non-equal length
    inputs"). Blank lines are fine: both sides see them, and their all-null row is dropped.
  - every field rule: required fields, ids of 1..64 characters, RFC 3339 time with offset
    (T/t, Z/z or +-HH:MM, 1..9 fraction digits truncated to the millisecond, real dates and
    times only), event_type paid|refunded, amount a plain decimal with at most 2 fraction
    digits, > 0 and < 10,000,000, currency an upper-case 3-letter code (empty: CNY) with a rate
    for the event's CST date, buyer_id / seller_id 64-bit integers, quantity an integer >= 1
    (empty: 1);
  - de-duplication of event_id among accepted rows, first in input order wins (files in the
    order given, rows in file order: the row with the smallest (file, row) position);
  - amount_cny = amount x rate in integer fen, rounded half away from zero;
  - zstd Parquet partitioned by cst_date, the CST day of event_time.
It skips what double11 also does: the rejects and duplicates tables (bad rows are dropped,
not kept with a reason), line-number accounting, non-UTF-8 detection, the manifest,
exactly-once across runs (a fresh output folder every time), the atomic commit, and sorting
by event_time.

`report` prints one report as CSV, the same columns and order as double11's query, figures
exact (decimals, never floats; ratios in Int128 arithmetic, half away from zero).
`adhoc` answers one of the ad-hoc questions of bench/compare.py (ADHOC there: the SQL that
double11 and DuckDB run) with a lazy Polars query of the same columns, order and figures.
"""
import csv
import datetime
import gzip
import os
import sys
from decimal import Decimal

from common import tool_command_line

import polars as pl

FIELDS = ["event_id", "event_time", "event_type", "order_id", "platform", "amount", "currency",
          "buyer_id", "seller_id", "category", "province", "device", "quantity"]
TIME_RE = (r"^(?P<d>[1-9][0-9]{3}-[0-9]{2}-[0-9]{2})[Tt](?P<t>[0-9]{2}:[0-9]{2}:[0-9]{2})"
           r"(?:\.(?P<frac>[0-9]{1,9}))?(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))$")
INT_RE = r"^-?[0-9]+$"
CST_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000


def header_of(path):
    """The header's column names as Polars will name them."""
    if path.endswith(".zst"):  # no zstd in this Python's standard library
        return pl.read_csv(path, n_rows=0, infer_schema=False).columns
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])


def scan_file(index, path):
    header = header_of(path)
    by_name = {h.strip(): h for h in header}
    rows = pl.scan_csv(path, infer_schema=False, truncate_ragged_lines=True, quote_char='"',
                       row_index_name="row")
    fields = (pl.scan_lines(path).slice(1)
              .select((pl.col("line").str.replace_all(r'"(?:[^"]|"")*"', "")
                       .str.count_matches(",", literal=True) + 1).alias("n_fields")))
    both = pl.concat([rows, fields], how="horizontal")
    return both.select(
        (pl.lit(index, pl.Int64) * (1 << 40) + pl.col("row").cast(pl.Int64)).alias("seq"),
        (pl.col("n_fields") == len(header)).alias("whole"),
        # columns by name (surrounding spaces ignored, as double11 does), missing ones null
        *[pl.col(by_name[f]).alias(f) if f in by_name else pl.lit(None, pl.String).alias(f)
          for f in FIELDS],
    )


def int_ok(name):
    c = pl.col(name)
    return c.is_null() | (c.str.contains(INT_RE) & c.str.to_integer(strict=False).is_not_null())


def ingest(args):
    rates = []
    with open(args.rates, newline="") as f:
        for r in csv.DictReader(f):
            rates.append((r["currency"], datetime.date.fromisoformat(r["date"]),
                          int(Decimal(r["cny_per_unit"]) * 1_000_000)))
    rates = pl.LazyFrame(rates, schema={"cur": pl.String, "cst_date": pl.Date, "micro": pl.Int64},
                         orient="row")

    lf = pl.concat([scan_file(i, f) for i, f in enumerate(args.files)], how="vertical")
    tp = pl.col("event_time").str.extract_groups(TIME_RE)
    local = (tp.struct.field("d") + " " + tp.struct.field("t")).str.strptime(
        pl.Datetime("ms"), "%Y-%m-%d %H:%M:%S", strict=False)
    frac_ms = tp.struct.field("frac").str.slice(0, 3).str.pad_end(3, "0").cast(pl.Int64).fill_null(0)
    oh = tp.struct.field("oh").cast(pl.Int64)
    om = tp.struct.field("om").cast(pl.Int64)
    offset_ms = (pl.when(tp.struct.field("z").is_not_null()).then(0)
                 .when((oh <= 23) & (om <= 59))
                 .then(pl.when(tp.struct.field("sign") == "-").then(-60_000).otherwise(60_000)
                       * (oh * 60 + om)))
    event_ms = (pl.when(tp.struct.field("t").str.slice(6, 2) < "60")  # chrono takes :60 as a leap second
                .then(local.dt.epoch("ms") + frac_ms - offset_ms))
    amount_dec = (pl.when(pl.col("amount").str.contains(r"^[0-9]+(\.[0-9]{1,2})?$"))
                  .then(pl.col("amount").cast(pl.Decimal(18, 2), strict=False)))
    lf = lf.with_columns(
        event_ms.alias("event_ms"),
        pl.col("currency").fill_null("CNY").alias("cur"),
        amount_dec.alias("amount_dec"),
    ).with_columns(
        ((pl.col("event_ms") + CST_MS) // DAY_MS).cast(pl.Int32).cast(pl.Date).alias("cst_date"),
    ).join(rates, on=["cur", "cst_date"], how="left").with_columns(
        pl.when(pl.col("cur") == "CNY").then(1_000_000).otherwise(pl.col("micro")).alias("micro"),
    )
    valid = (
        pl.col("whole")
        & (pl.col("event_id").str.len_chars() <= 64)
        & pl.col("event_ms").is_not_null()
        & pl.col("event_type").is_in(["paid", "refunded"])
        & (pl.col("order_id").str.len_chars() <= 64)
        & pl.col("platform").is_not_null()
        & (pl.col("amount_dec") > 0) & (pl.col("amount_dec") < 10_000_000)
        & pl.col("cur").str.contains(r"^[A-Z]{3}$") & pl.col("micro").is_not_null()
        & int_ok("buyer_id") & int_ok("seller_id")
        & (pl.col("quantity").is_null()
           | (pl.col("quantity").str.contains(INT_RE)
              & (pl.col("quantity").str.to_integer(strict=False) >= 1)))
    )
    amount_fen = (pl.col("amount_dec") * 100).cast(pl.Int64)
    cny_fen = (amount_fen * pl.col("micro") + 500_000) // 1_000_000
    out = (
        lf.filter(valid.fill_null(False))
        .filter(pl.col("seq") == pl.col("seq").min().over("event_id"))
        .select(
            "event_id",
            pl.from_epoch("event_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("event_time"),
            "event_type", "order_id", "platform",
            pl.col("amount_dec").cast(pl.Decimal(9, 2)).alias("amount"),
            pl.col("cur").alias("currency"),
            (cny_fen.cast(pl.Decimal(18, 2)) * pl.lit(Decimal("0.01"))).cast(pl.Decimal(18, 2))
            .alias("amount_cny"),
            pl.col("buyer_id").str.to_integer(strict=False),
            pl.col("seller_id").str.to_integer(strict=False),
            "category", "province", "device",
            pl.col("quantity").str.to_integer(strict=False).fill_null(1),
            "cst_date",
        )
    )
    out.sink_parquet(pl.PartitionBy(args.out, key="cst_date", include_key=False),
                     compression="zstd", mkdir=True)


def ratio6(n, d):
    """n / d to 6 decimals, half away from zero, in Int128 arithmetic; null when d = 0."""
    n, d = n.cast(pl.Int128), d.cast(pl.Int128)
    q = (n.abs() * 2_000_000 + d) // (d * 2) * n.sign()
    return pl.when(d != 0).then(q.cast(pl.Decimal(38, 6)) * pl.lit(Decimal("0.000001")))


def fen(money):
    return (money * 100).cast(pl.Int128)


def scan_transactions(path):
    """The `transactions` Parquet files under `path` (Hive folders `cst_date=…`); only the data
    files, so that a Delta table's `_delta_log/` beside them is not read as data."""
    if os.path.isdir(path):
        path = os.path.join(path, "cst_date=*", "*.parquet")
    return pl.scan_parquet(path, hive_partitioning=True)


def report(args):
    day = datetime.date.fromisoformat(args.day)
    compare = datetime.date.fromisoformat(args.compare)
    lf = scan_transactions(args.transactions)
    paid = pl.col("event_type") == "paid"
    refunded = pl.col("event_type") == "refunded"
    if args.name == "summary":
        df = lf.filter(pl.col("cst_date") == day).select(
            pl.lit(day).alias("cst_date"),
            paid.sum().alias("orders"),
            pl.col("amount_cny").filter(paid).sum().alias("gmv_cny"),
            refunded.sum().alias("refund_events"),
            pl.col("amount_cny").filter(refunded).sum().alias("refunds_cny"),
            pl.col("buyer_id").filter(paid).drop_nulls().n_unique().alias("buyers"),
            pl.col("seller_id").filter(paid).drop_nulls().n_unique().alias("sellers"),
        ).with_columns(
            (pl.col("gmv_cny") - pl.col("refunds_cny")).alias("net_cny"),
            # average order value to the fen, half away from zero
            pl.when(pl.col("orders") > 0).then(
                ((fen(pl.col("gmv_cny")) * 2 + pl.col("orders")) // (pl.col("orders").cast(pl.Int128) * 2))
                .cast(pl.Decimal(38, 2)) * pl.lit(Decimal("0.01"))).alias("aov_cny"),
        ).select("cst_date", "orders", "gmv_cny", "refund_events", "refunds_cny", "net_cny",
                 "buyers", "sellers", "aov_cny")
    elif args.name == "revenue_platform_hour":
        df = (lf.filter((pl.col("cst_date") == day) & paid)
              .group_by("platform", pl.col("event_time").dt.hour().cast(pl.Int32).alias("hour"))
              .agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv_cny"))
              .sort("platform", "hour", nulls_last=True))
    elif args.name == "peak_top":
        second = pl.col("event_time").dt.truncate("1s")
        df = (lf.filter((pl.col("cst_date") == day) & paid)
              .group_by(second.alias("second"))
              .agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv_cny"))
              .sort(["orders", "second"], descending=[True, False])
              .head(10)
              .with_row_index("rank", offset=1)
              .select("rank",
                      pl.col("second").dt.strftime("%Y-%m-%dT%H:%M:%S+08:00").alias("second_cst"),
                      "orders", "gmv_cny"))
    elif args.name == "growth_platform":
        this, base = pl.col("cst_date") == day, pl.col("cst_date") == compare
        df = (lf.filter(pl.col("cst_date").is_in([day, compare]) & paid)
              .group_by("platform")
              .agg(this.sum().alias("orders"), base.sum().alias("base_orders"),
                   pl.col("amount_cny").filter(this).sum().alias("gmv_cny"),
                   pl.col("amount_cny").filter(base).sum().alias("base_gmv_cny"))
              .with_columns(
                  ratio6(pl.col("orders") - pl.col("base_orders"), pl.col("base_orders"))
                  .alias("orders_growth"),
                  ratio6(fen(pl.col("gmv_cny")) - fen(pl.col("base_gmv_cny")), fen(pl.col("base_gmv_cny")))
                  .alias("gmv_growth"))
              .sort(["gmv_cny", "platform"], descending=[True, False], nulls_last=True)
              .select("platform", "orders", "base_orders", "orders_growth", "gmv_cny",
                      "base_gmv_cny", "gmv_growth"))
    else:
        sys.exit(f"unknown report {args.name}")
    sys.stdout.write(df.collect().write_csv())


def adhoc(args):
    day = datetime.date.fromisoformat(args.day)
    # Times shown in CST, as double11 and DuckDB (session time zone) show them.
    lf = (scan_transactions(args.transactions)
          .with_columns(pl.col("event_time").dt.convert_time_zone("Asia/Shanghai")))
    paid_today = (pl.col("cst_date") == day) & (pl.col("event_type") == "paid")
    if args.name == "lookup":
        df = (lf.filter(pl.col("buyer_id") == args.buyer)
              .sort("event_time", "event_id")
              .select("event_id", "event_time", "event_type", "order_id", "platform", "amount_cny"))
    elif args.name == "buyers":
        df = (lf.filter(paid_today)
              .group_by("platform")
              .agg(pl.col("buyer_id").drop_nulls().n_unique().alias("buyers"))
              .sort("platform", nulls_last=True))
    elif args.name == "province":
        df = (lf.filter(paid_today & (pl.col("province") == args.province))
              .group_by("category")
              .agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv_cny"))
              .sort(["gmv_cny", "category"], descending=[True, False], nulls_last=True)
              .head(10))
    elif args.name == "refunds":
        refunded = (lf.filter(pl.col("event_type") == "refunded").select("order_id").unique()
                    .with_columns(pl.lit(True).alias("refunded")))
        r = pl.col("refunded").fill_null(False)
        df = (lf.filter(paid_today)
              .join(refunded, on="order_id", how="left")
              .group_by("category")
              .agg(pl.len().alias("orders"),
                   r.sum().alias("refunded_orders"),
                   pl.col("amount_cny").sum().alias("gmv_cny"),
                   pl.col("amount_cny").filter(r).sum().alias("refunded_gmv_cny"))
              .with_columns((pl.col("refunded_orders").cast(pl.Int64) * 1_000_000
                             // pl.col("orders").cast(pl.Int64)).alias("refunded_ppm"))
              .sort("category", nulls_last=True)
              .select("category", "orders", "refunded_orders", "refunded_ppm", "gmv_cny",
                      "refunded_gmv_cny"))
    elif args.name == "topbuyers":
        df = (lf.filter(paid_today & pl.col("buyer_id").is_not_null())
              .group_by("buyer_id")
              .agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv_cny"))
              .with_columns(pl.col("gmv_cny").rank("min", descending=True).alias("rank"))
              .filter(pl.col("rank") <= 10)
              .sort("rank", "buyer_id")
              .select("rank", "buyer_id", "orders", "gmv_cny"))
    elif args.name == "minutes":
        df = (lf.filter(paid_today & (pl.col("device") == args.device))
              .group_by(pl.col("event_time").dt.truncate("1m").alias("minute_cst"))
              .agg(pl.len().alias("orders"), pl.col("amount_cny").sum().alias("gmv_cny"))
              .sort("minute_cst"))
    else:
        sys.exit(f"unknown ad-hoc query {args.name}")
    sys.stdout.write(df.collect().write_csv())


def plain(args):
    """The plain conversion (issue 17's floor): `scan_csv` of every file, `sink_parquet` (the
    streaming engine), types as Polars infers them; no sort and no contract."""
    os.makedirs(args.out, exist_ok=True)
    pl.scan_csv(args.files).sink_parquet(os.path.join(args.out, "plain.parquet"))


def main():
    tool_command_line({"ingest": ingest, "report": report, "adhoc": adhoc, "plain": plain})


if __name__ == "__main__":
    main()
