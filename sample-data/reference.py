#!/usr/bin/env python3
"""Independent reference computation for the double11 sample data set.

Reads sample-data/logs/* and sample-data/fx_rates.csv back from disk (it shares no
code or state with make_sample.py) and applies the input contract
(docs/input-format.md) to produce sample-data/expected.json.

Money is decimal.Decimal throughout, never float.
Python 3.11, stdlib + `zstandard` (pip install zstandard).
"""
import csv
import gzip
import io
import json
import re
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent
LOGS = HERE / "logs"
RATES_FILE = HERE / "fx_rates.csv"

REQUIRED = ["event_id", "event_time", "event_type", "order_id", "platform", "amount"]
OPTIONAL = ["currency", "buyer_id", "seller_id", "category", "province", "device", "quantity"]
KNOWN = REQUIRED + OPTIONAL

RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
INT64 = re.compile(r"-?[0-9]+")
UINT = re.compile(r"[0-9]+")
CURRENCY = re.compile(r"[A-Z]{3}")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
EPOCH = datetime(1970, 1, 1)
CST_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000
MS_MIN = (datetime(1, 1, 1) - EPOCH) // timedelta(milliseconds=1) + DAY_MS   # keep CST date >= 0001-01-01
MS_MAX = (datetime(9999, 12, 31) - EPOCH) // timedelta(milliseconds=1) - CST_MS  # ... and <= 9999-12-31
CENT = Decimal("0.01")
BLANK_CHARS = " \t\r\n"


class Reject(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class JsonFloat:
    """A JSON number with a fraction or exponent, kept with its literal text."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def _no_constants(name):
    raise ValueError(f"non-standard JSON constant {name}")


# ----------------------------------------------------------------------------- inputs
def load_rates():
    rates = {}
    with open(RATES_FILE, newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        for row in rd:
            cur, d, r = row["currency"].strip(), row["date"].strip(), row["cny_per_unit"].strip()
            assert CURRENCY.fullmatch(cur) and re.fullmatch(r"[0-9]+(\.[0-9]{1,6})?", r), row
            date.fromisoformat(d)
            assert (cur, d) not in rates, f"duplicate rate {cur} {d}"
            rates[(cur, d)] = Decimal(r)
    return rates


def file_format(name):
    n = name
    for c in (".gz", ".zst"):
        if n.endswith(c):
            n = n[: -len(c)]
            break
    if n.endswith(".csv"):
        return "csv"
    if n.endswith(".jsonl") or n.endswith(".ndjson"):
        return "json"
    return None


def read_text(path):
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def physical_lines(text):
    """Split on LF only (CRLF keeps its CR); each line keeps its terminator."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1] != "":
        lines.append(parts[-1])
    return lines


def is_blank(s):
    return s.strip(BLANK_CHARS) == ""


class _Feed:
    def __init__(self, lines):
        self.lines, self.i = lines, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= len(self.lines):
            raise StopIteration
        self.i += 1
        return self.lines[self.i - 1]


def csv_records(text):
    """Yields (line_no, raw, fields-dict | Reject). Header = first non-blank record."""
    lines = physical_lines(text)
    feed = _Feed(lines)
    reader = csv.reader(feed, strict=True)
    prev = 0
    header = None
    for row in reader:
        start, end = prev + 1, feed.i
        raw = "".join(lines[prev:end])
        prev = end
        if is_blank(raw):
            continue
        if header is None:
            header = [h.strip() for h in row]
            assert len(set(header)) == len(header), "duplicate CSV header names"
            continue
        raw = raw.rstrip("\n").rstrip("\r")
        if len(row) != len(header):
            yield start, raw, Reject("csv_field_count")
            continue
        rec = {}
        for h, v in zip(header, row):
            if h in KNOWN and v != "":
                rec[h] = v
        yield start, raw, rec


def json_records(text):
    for i, line in enumerate(text.split("\n"), start=1):
        if is_blank(line):
            continue
        raw = line.rstrip("\r")
        try:
            obj = json.loads(line, parse_float=JsonFloat, parse_int=int, parse_constant=_no_constants)
        except ValueError:
            yield i, raw, Reject("invalid_json")
            continue
        if not isinstance(obj, dict):
            yield i, raw, Reject("invalid_json")
            continue
        rec = {}
        for k, v in obj.items():
            if k in KNOWN and v is not None and v != "":
                rec[k] = v
        yield i, raw, rec


# ----------------------------------------------------------------------------- validation
def parse_rfc3339(s):
    m = RFC3339.fullmatch(s)
    if not m:
        raise Reject("bad_time")
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    try:
        local = datetime(y, mo, d, h, mi, se)     # rejects month 13, Feb 29 2019, hour 24, second 60
    except ValueError:
        raise Reject("bad_time")
    ms = int(((m.group(7) or "") + "000")[:3])    # truncate to milliseconds
    off = m.group(8)
    if off in ("Z", "z"):
        off_min = 0
    else:
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            raise Reject("bad_time")
        off_min = (oh * 60 + om) * (1 if off[0] == "+" else -1)
    return (local - EPOCH) // timedelta(milliseconds=1) + ms - off_min * 60_000


def text_of_string(v, is_json):
    """Value of a string field; wrong JSON type -> bad_field."""
    if is_json and not isinstance(v, str):
        raise Reject("bad_field")
    return v


def int_text(v, is_json):
    """Text of an integer field (JSON integer or string; CSV text)."""
    if is_json:
        if isinstance(v, bool):
            raise Reject("bad_field")
        if isinstance(v, int):
            return str(v)
        if not isinstance(v, str):
            raise Reject("bad_field")
    return v


def validate(rec, is_json, rates):
    for f in REQUIRED:
        if f not in rec:
            raise Reject("missing_field")
    # event_id
    eid = text_of_string(rec["event_id"], is_json)
    if not (1 <= len(eid) <= 64):
        raise Reject("bad_field")
    # event_time
    t = rec["event_time"]
    if is_json and isinstance(t, bool):
        raise Reject("bad_time")
    if is_json and isinstance(t, int):
        if not (MS_MIN <= t <= MS_MAX):
            raise Reject("bad_time")
        ms = t
    elif isinstance(t, str):
        ms = parse_rfc3339(t)
    else:
        raise Reject("bad_time")      # JSON float / object / array
    cst_ms = ms + CST_MS
    cst_day = (EPOCH + timedelta(milliseconds=(cst_ms // DAY_MS) * DAY_MS)).date().isoformat()
    # event_type
    et = rec["event_type"]  # a non-string (e.g. 1) is no known event type either
    if et not in ("paid", "refunded"):
        raise Reject("bad_event_type")
    # order_id, platform
    oid = text_of_string(rec["order_id"], is_json)
    if not (1 <= len(oid) <= 64):
        raise Reject("bad_field")
    platform = text_of_string(rec["platform"], is_json)
    # amount
    a = rec["amount"]
    if is_json:
        if isinstance(a, bool):
            raise Reject("bad_amount")
        if isinstance(a, int):
            a = str(a)
        elif isinstance(a, JsonFloat):
            a = a.text
        elif not isinstance(a, str):
            raise Reject("bad_amount")
    if not AMOUNT.fullmatch(a):
        raise Reject("bad_amount")
    amount = Decimal(a)
    if not (Decimal(0) < amount < Decimal(10_000_000)):
        raise Reject("bad_amount")
    # currency
    cur = "CNY"
    if "currency" in rec:
        cur = text_of_string(rec["currency"], is_json)
        if not CURRENCY.fullmatch(cur):
            raise Reject("unknown_currency")
    if cur == "CNY":
        amount_cny = amount
    else:
        rate = rates.get((cur, cst_day))
        if rate is None:
            raise Reject("unknown_currency")
        amount_cny = (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    # optional fields
    for f in ("buyer_id", "seller_id"):
        if f in rec:
            s = int_text(rec[f], is_json)
            if not INT64.fullmatch(s) or not (I64_MIN <= int(s) <= I64_MAX):
                raise Reject("bad_field")
    if "quantity" in rec:
        s = int_text(rec["quantity"], is_json)
        if not UINT.fullmatch(s) or not (1 <= int(s) <= I64_MAX):
            raise Reject("bad_field")
    for f in ("category", "province", "device"):
        if f in rec:
            text_of_string(rec[f], is_json)
    return {
        "event_id": eid, "ms": ms, "cst_day": cst_day, "cst_second": cst_ms // 1000,
        "event_type": et, "platform": platform, "amount_cny": amount_cny,
    }


# ----------------------------------------------------------------------------- main
def money(d):
    return f"{d.quantize(CENT):f}"


def cst_second_text(sec):
    return (EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")


def main():
    rates = load_rates()
    # Like `double11 ingest <folder>`: names starting with _ or . are side files, not logs.
    paths = sorted((p for p in LOGS.rglob("*") if p.is_file() and file_format(p.name)
                    and not any(part.startswith(("_", ".")) for part in p.relative_to(LOGS).parts)),
                   key=lambda p: p.relative_to(LOGS).as_posix())
    seen = set()
    files, rejects, accepted_events = [], [], []
    for p in paths:
        rel = p.relative_to(LOGS).as_posix()
        fmt = file_format(p.name)
        text = read_text(p)
        gen = csv_records(text) if fmt == "csv" else json_records(text)
        st = {"file": rel, "records": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
        for line, raw, rec in gen:
            st["records"] += 1
            try:
                if isinstance(rec, Reject):
                    raise rec
                ev = validate(rec, fmt == "json", rates)
            except Reject as r:
                st["rejected"] += 1
                rejects.append([rel, line, r.kind])
                continue
            if ev["event_id"] in seen:
                st["duplicates"] += 1
                continue
            seen.add(ev["event_id"])
            st["accepted"] += 1
            ev["file"], ev["line"] = rel, line
            accepted_events.append(ev)
        assert st["records"] == st["accepted"] + st["duplicates"] + st["rejected"]
        files.append(st)

    totals = {k: sum(f[k] for f in files) for k in ("records", "accepted", "duplicates", "rejected")}

    days = defaultdict(lambda: {"orders": 0, "gmv": Decimal(0), "refund_events": 0, "refunds": Decimal(0),
                                "platforms": defaultdict(lambda: {"orders": 0, "gmv": Decimal(0),
                                                                  "refund_events": 0, "refunds": Decimal(0)}),
                                "per_second": Counter()})
    for ev in accepted_events:
        d = days[ev["cst_day"]]
        pl = d["platforms"][ev["platform"]]
        if ev["event_type"] == "paid":
            d["orders"] += 1
            d["gmv"] += ev["amount_cny"]
            pl["orders"] += 1
            pl["gmv"] += ev["amount_cny"]
            d["per_second"][ev["cst_second"]] += 1
        else:
            d["refund_events"] += 1
            d["refunds"] += ev["amount_cny"]
            pl["refund_events"] += 1
            pl["refunds"] += ev["amount_cny"]

    out_days = {}
    for day in sorted(days):
        d = days[day]
        peak = None
        if d["per_second"]:
            top = max(d["per_second"].values())
            sec = min(s for s, c in d["per_second"].items() if c == top)
            peak = {"second": cst_second_text(sec), "orders": top}
        out_days[day] = {
            "orders": d["orders"], "gmv": money(d["gmv"]),
            "refund_events": d["refund_events"], "refunds": money(d["refunds"]),
            "net": money(d["gmv"] - d["refunds"]),
            "peak": peak,
            "platforms": {p: {"orders": v["orders"], "gmv": money(v["gmv"]),
                              "refund_events": v["refund_events"], "refunds": money(v["refunds"])}
                          for p, v in sorted(d["platforms"].items())},
        }

    growth = {}
    for day in out_days:
        prev = f"{int(day[:4]) - 1}{day[4:]}"
        if prev in out_days:
            g = {}
            for k in ("gmv", "orders"):
                a, b = Decimal(out_days[day][k]), Decimal(out_days[prev][k])
                g[k] = None if b == 0 else f"{((a - b) / b).quantize(Decimal('0.000001'), ROUND_HALF_UP):f}"
            growth[day] = {"vs": prev, **g}

    kinds = Counter(k for _, _, k in rejects)
    expected = {
        "contract": "docs/input-format.md",
        "generated_by": "sample-data/reference.py",
        "inputs": {"logs": "sample-data/logs (files sorted by relative path)", "rates": "sample-data/fx_rates.csv"},
        "files": files,
        "totals": totals,
        "days": out_days,
        "growth_informational": growth,
        "reject_kinds": dict(sorted(kinds.items())),
        "rejects": rejects,
    }
    with open(HERE / "expected.json", "w", encoding="utf-8", newline="\n") as fh:
        json.dump(expected, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    # short summary on stdout
    print(json.dumps(totals))
    for day, d in out_days.items():
        print(day, d["orders"], d["gmv"], d["refunds"], d["net"], d["peak"])
    print(dict(sorted(kinds.items())))
    print("growth", growth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
