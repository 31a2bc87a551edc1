#!/usr/bin/env python3
"""Generate the bundled double11 sample data set (deterministic).

Writes sample-data/fx_rates.csv and sample-data/logs/*. Re-running produces
byte-identical files (fixed seed, gzip mtime=0, fixed zstd level).

Python 3.11, stdlib + `zstandard` (pip install zstandard).
The expected figures are NOT computed here: see reference.py, which reads the
written files back and applies the contract (docs/input-format.md).
"""
import csv
import gzip
import io
import json
import random
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import zstandard

SEED = 20191111
HERE = Path(__file__).resolve().parent
LOGS = HERE / "logs"
EPOCH = datetime(1970, 1, 1)
CST_MS = 8 * 3600 * 1000
DAY_MS = 86400 * 1000

rng = random.Random(SEED)

# --------------------------------------------------------------------------- rates
# GBP deliberately absent. Up to 6 fraction digits.
RATES = {
    "USD": {"2018-11-10": "6.9646", "2018-11-11": "6.9646", "2018-11-12": "6.9715",
            "2019-11-10": "6.995700", "2019-11-11": "7.0025", "2019-11-12": "7.0081"},
    "EUR": {"2018-11-10": "7.8812", "2018-11-11": "7.8812", "2018-11-12": "7.8456",
            "2019-11-10": "7.7182", "2019-11-11": "7.7245", "2019-11-12": "7.715833"},
    "JPY": {"2018-11-10": "0.061268", "2018-11-11": "0.061268", "2018-11-12": "0.061135",
            "2019-11-10": "0.064238", "2019-11-11": "0.06425", "2019-11-12": "0.064391"},
    "KRW": {"2018-11-10": "0.006154", "2018-11-11": "0.006154", "2018-11-12": "0.006147",
            "2019-11-10": "0.006012", "2019-11-11": "0.006035", "2019-11-12": "0.006047"},
    "HKD": {"2018-11-10": "0.889512", "2018-11-11": "0.889512", "2018-11-12": "0.89024",
            "2019-11-10": "0.893675", "2019-11-11": "0.894515", "2019-11-12": "0.895128"},
}

PLATFORMS = [("tmall", 45), ("taobao", 35), ("tmall_global", 8), ("aliexpress", 7), ("kaola", 5)]
FOREIGN = {"aliexpress": (0.7, ["USD", "USD", "EUR", "KRW"]),
           "tmall_global": (0.4, ["HKD", "JPY", "USD", "KRW"]),
           "kaola": (0.2, ["JPY", "KRW"]),
           "tmall": (0.01, ["HKD"]), "taobao": (0.01, ["USD"])}
CATEGORIES = [("Apparel", 20), ("女装", 6), ("Shoes, Bags", 8), ("Electronics", 14), ("Beauty", 12),
              ("Home & Garden", 9), ("Food", 10), ("Mother & Baby", 7), ("Sports", 6), ("Books", 4),
              ("Digital, Accessories", 4)]
PROVINCES = [("Zhejiang", 14), ("Guangdong", 16), ("Jiangsu", 12), ("Shanghai", 9), ("Beijing", 8),
             ("Shandong", 7), ("Sichuan", 5), ("Fujian", 5), ("Henan", 4), ("Hubei", 4), ("Hunan", 3),
             ("Anhui", 3), ("Hebei", 3), ("Chongqing", 2), ("Tianjin", 2), ("Shaanxi", 2), ("Yunnan", 1)]
HOUR_W = [9, 5, 2.5, 1.2, 0.7, 0.5, 0.6, 1.0, 1.8, 2.6, 3.2, 3.3, 3.2, 3.0, 3.0, 2.9, 2.8, 2.8,
          3.0, 3.6, 4.8, 5.4, 5.0, 4.2]

FIELDS = ["event_id", "event_time", "event_type", "order_id", "platform", "amount", "currency",
          "buyer_id", "seller_id", "category", "province", "device", "quantity"]


def wchoice(pairs):
    return rng.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def new_event_id():
    b = rng.getrandbits(128)
    h = f"{b:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_order_id():
    return str(rng.randrange(10**17, 10**19))


def day_start_ms(d):
    """epoch ms of 00:00:00 CST of ISO date d."""
    dd = date.fromisoformat(d)
    return (datetime(dd.year, dd.month, dd.day) - EPOCH) // timedelta(milliseconds=1) - CST_MS


def cst_date(ms):
    return (EPOCH + timedelta(milliseconds=ms + CST_MS)).date().isoformat()


def to_cny(amount, cur, ms):
    if cur in (None, "CNY"):
        return Decimal(amount)
    return (Decimal(amount) * Decimal(RATES[cur][cst_date(ms)])).quantize(Decimal("0.01"), ROUND_HALF_UP)


def price():
    """Skewed unit price in CNY (Decimal, 2 fraction digits)."""
    v = min(max(rng.lognormvariate(4.4, 1.1), 1.0), 30000.0)
    base = int(v)
    r = rng.random()
    if r < 0.30:
        cents = 0
    elif r < 0.50:
        cents = 90
    elif r < 0.70:
        cents = 99
    elif r < 0.78:
        cents = 50
    else:
        cents = rng.randrange(1, 100)
    if base == 0:
        base, cents = 1, cents
    return Decimal(base) + Decimal(cents) / 100


def amount_text(v, allow_short=True):
    """Text of a Decimal amount; sometimes with 0 or 1 fraction digits."""
    s = f"{v:.2f}"
    if allow_short and s.endswith(".00") and rng.random() < 0.35:
        return s[:-3]
    if allow_short and s.endswith("0") and not s.endswith(".00") and rng.random() < 0.35:
        return s[:-1]
    return s


def buyer_id():
    r = rng.random()
    if r < 0.08:
        return None
    if r < 0.25:
        return rng.randrange(2**53, 2**63)       # above 2^53: not exact as a double
    return rng.randrange(10**8, 10**12)


def seller_id():
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.15:
        return rng.randrange(2**53, 2**63)
    return rng.randrange(10**6, 10**10)


def quantity():
    r = rng.random()
    if r < 0.10:
        return None
    if r < 0.85:
        return 1
    return rng.randint(2, 5)


def make_order(ms, platform=None, cur=None, amount=None):
    platform = platform or wchoice(PLATFORMS)
    if cur is None:
        p, curs = FOREIGN[platform]
        cur = rng.choice(curs) if rng.random() < p else "CNY"
    q = quantity()
    cny = price() * (q or 1)
    if amount is None:
        if cur == "CNY":
            amount = amount_text(cny)
        else:
            rate = Decimal(RATES[cur][cst_date(ms)])
            if cur in ("JPY", "KRW"):
                fv = (cny / rate).quantize(Decimal("1"), ROUND_HALF_UP)
                amount = str(fv) if rng.random() < 0.8 else f"{fv}.00"
            else:
                amount = amount_text(max((cny / rate).quantize(Decimal("0.01"), ROUND_HALF_UP), Decimal("0.01")))
    r = rng.random()
    currency = cur if (cur != "CNY" or r < 0.55) else ("" if r < 0.75 else None)  # CNY explicit/empty/absent
    return {
        "event_id": new_event_id(), "ms": ms, "event_type": "paid", "order_id": new_order_id(),
        "platform": platform, "amount": amount, "currency": currency,
        "buyer_id": buyer_id(), "seller_id": seller_id(),
        "category": wchoice(CATEGORIES) if rng.random() < 0.95 else None,
        "province": wchoice(PROVINCES) if rng.random() < 0.96 else None,
        "device": ("mobile" if rng.random() < 0.89 else "pc") if rng.random() < 0.98 else None,
        "quantity": q,
    }


def cny_of(ev):
    return to_cny(ev["amount"], ev["currency"] or "CNY", ev["ms"])


def rand_ms_in_second():
    return 0 if rng.random() < 0.25 else rng.randrange(1000)


def day_seconds(n, planted):
    """n CST second offsets for one day: planted midnight counts, a burst in the first
    3 minutes, then the hourly shape (quiet night, evening bump)."""
    out = []
    for s, c in enumerate(planted):
        out += [s] * c
    burst = n // 22
    out += [rng.randrange(len(planted), 180) for _ in range(burst)]
    rest = n - len(out)
    hours = rng.choices(range(24), HOUR_W, k=rest)
    for h in hours:
        lo = 180 if h == 0 else h * 3600
        out.append(rng.randrange(lo, (h + 1) * 3600))
    return sorted(out)


# --------------------------------------------------------------------------- events
def gen_year(year, n_or_target, planted):
    """Paid orders on YYYY-11-11. n_or_target: int count or ('gmv', Decimal)."""
    d0 = day_start_ms(f"{year}-11-11")
    orders = []
    if isinstance(n_or_target, int):
        n = n_or_target
        secs = day_seconds(n, planted)
        for s in secs:
            orders.append(make_order(d0 + s * 1000 + rand_ms_in_second()))
    else:
        target = n_or_target[1]
        # draw orders at a provisional time until the GMV target is met, then lay out times
        tmp, tot = [], Decimal(0)
        while tot < target:
            o = make_order(d0 + 12 * 3600 * 1000)
            tmp.append(o)
            tot += cny_of(o)
        secs = day_seconds(len(tmp), planted)
        for o, s in zip(tmp, secs):
            o["ms"] = d0 + s * 1000 + rand_ms_in_second()
            orders.append(o)
    return orders


def outside(year, n_before, n_after):
    d0 = day_start_ms(f"{year}-11-11")
    ev = []
    for _ in range(n_before):   # pre-sale evening of the 10th
        ev.append(make_order(d0 - rng.randrange(1, 2 * 3600) * 1000 + rand_ms_in_second()))
    for _ in range(n_after):    # first hours of the 12th
        ev.append(make_order(d0 + DAY_MS + rng.randrange(0, 3 * 3600) * 1000 + rand_ms_in_second()))
    return ev


def refunds_for(orders, frac, year):
    limit = day_start_ms(f"{year}-11-13") - 60_000
    out = []
    for o in rng.sample(orders, int(len(orders) * frac)):
        ms = min(o["ms"] + rng.randrange(600, 14 * 3600) * 1000 + rng.randrange(1000), limit)
        if rng.random() < 0.8:
            amt = o["amount"]
        else:
            v = Decimal(o["amount"]) * Decimal(rng.choice(["0.5", "0.3", "0.25"]))
            v = v.quantize(Decimal("1") if o["currency"] in ("JPY", "KRW") else Decimal("0.01"), ROUND_HALF_UP)
            amt = amount_text(max(v, Decimal("0.01")))
        r = dict(o, event_id=new_event_id(), ms=ms, event_type="refunded", amount=amt)
        r.pop("time_text", None)
        r.pop("amount_json", None)
        r.pop("time_json", None)
        out.append(r)
    return out


def at(date_s, hms, ms=0):
    h, m, s = map(int, hms.split(":"))
    return day_start_ms(date_s) + ((h * 60 + m) * 60 + s) * 1000 + ms


# --------------------------------------------------------------------------- rendering
def fmt_time(ms, off_min=480, digits=3, extra="", z=True, lower=False):
    """RFC 3339 text of instant ms written with offset off_min (minutes) and `digits`
    fraction digits; `extra` = sub-millisecond digits appended (truncated by readers)."""
    local = EPOCH + timedelta(milliseconds=ms + off_min * 60000)
    s = local.strftime("%Y-%m-%dT%H:%M:%S")
    msr = ms % 1000
    frac = f"{msr:03d}" + extra
    assert digits or msr == 0, (ms, digits)
    if digits:
        assert digits >= 3 or frac[digits:].strip("0") == "", (ms, digits)
        s += "." + (frac + "0" * 9)[:digits]
    if off_min == 0 and z:
        s += "Z"
    else:
        sign = "+" if off_min >= 0 else "-"
        a = abs(off_min)
        s += f"{sign}{a // 60:02d}:{a % 60:02d}"
    if lower:
        s = s.replace("T", "t").replace("Z", "z")
    return s


_RFC = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def instant_of(text):
    """Generator-side self-check only: epoch ms of an RFC 3339 text (fraction truncated)."""
    m = _RFC.fullmatch(text)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    ms = int(((m.group(7) or "") + "000")[:3])
    off = 0 if m.group(8) in "Zz" else (1 if m.group(8)[0] == "+" else -1) * (int(m.group(8)[1:3]) * 60 + int(m.group(8)[4:]))
    return (datetime(y, mo, d, h, mi, s) - EPOCH) // timedelta(milliseconds=1) + ms - off * 60000


def random_time_text(ms):
    off = rng.choices([480, 0, -300, 540], [76, 12, 5, 7])[0]
    msr = ms % 1000
    if msr == 0:
        digits = rng.choices([0, 3, 6, 9, 1], [40, 35, 10, 10, 5])[0]
    elif msr % 100 == 0:
        digits = rng.choice([1, 3, 6])
    else:
        digits = rng.choices([3, 6, 9], [70, 18, 12])[0]
    extra = "".join(rng.choice("0123456789") for _ in range(max(digits - 3, 0)))
    return fmt_time(ms, off, digits, extra)


def csv_values(ev):
    """field -> text for a CSV row ('' = absent)."""
    if ev.get("time_text"):
        assert instant_of(ev["time_text"]) == ev["ms"], (ev["time_text"], ev["ms"])
    v = {}
    for f in FIELDS:
        x = ev.get(f)
        if f == "event_time":
            x = ev.get("time_text") or random_time_text(ev["ms"])
        v[f] = "" if x is None else str(x)
    return v


def json_pairs(ev, epoch_p):
    if ev.get("time_text"):
        assert instant_of(ev["time_text"]) == ev["ms"], (ev["time_text"], ev["ms"])
    pairs = []
    for f in FIELDS:
        x = ev.get(f)
        if f == "event_time":
            if ev.get("time_text"):
                pairs.append((f, json.dumps(ev["time_text"])))
            elif ev.get("time_json") == "epoch" or rng.random() < epoch_p:
                pairs.append((f, str(ev["ms"])))
            else:
                pairs.append((f, json.dumps(random_time_text(ev["ms"]))))
            continue
        if x is None:
            if f in ("quantity", "currency", "device") and rng.random() < 0.3:
                pairs.append((f, "null"))
            continue
        if f == "amount":
            num = ev.get("amount_json") or ("num" if rng.random() < 0.4 else "str")
            pairs.append((f, x if num == "num" else json.dumps(x)))
        elif f in ("buyer_id", "seller_id"):
            pairs.append((f, json.dumps(str(x)) if rng.random() < 0.1 else str(x)))
        elif f == "quantity":
            pairs.append((f, str(x)))
        else:
            pairs.append((f, json.dumps(x, ensure_ascii=False)))
    return pairs


def json_line(pairs, spaced, shuffle):
    pairs = list(pairs)
    if shuffle:
        rng.shuffle(pairs)
    sep, kv = (", ", ": ") if spaced else (",", ":")
    return "{" + sep.join(f"{json.dumps(k)}{kv}{v}" for k, v in pairs) + "}"


def csv_line(values, quote_p=0.0):
    out = []
    for x in values:
        if any(c in x for c in ',"\r\n') or (x and rng.random() < quote_p):
            out.append('"' + x.replace('"', '""') + '"')
        else:
            out.append(x)
    return ",".join(out)


# --------------------------------------------------------------------------- file specs
FILES = {
    "2018-11-11-a.csv": dict(kind="csv", year=2018, cols=FIELDS, extra=[], eol="\n", final_eol=True, bom=False, quote_p=0.04),
    "2018-11-11-b.jsonl.gz": dict(kind="json", year=2018, epoch_p=0.1, spaced=True, shuffle=False, extra_keys=True),
    "2019-11-11-a.csv": dict(kind="csv", year=2019,
                             cols=["order_id", "event_time", "event_id", "amount", "currency", "platform", "event_type",
                                   "province", "category", "buyer_id", "seller_id", "device", "quantity"],
                             extra=[("channel", 2)], header_pad={"amount": "amount ", "event_type": " event_type"},
                             eol="\r\n", final_eol=True, bom=True, quote_p=0.0),
    "2019-11-11-b.csv.gz": dict(kind="csv", year=2019,
                                cols=["event_time", "event_id", "platform", "event_type", "order_id", "amount", "currency",
                                      "buyer_id", "device", "category", "province"],
                                extra=[], eol="\n", final_eol=False, bom=False, quote_p=0.02),
    "2019-11-11-c.jsonl": dict(kind="json", year=2019, epoch_p=0.25, spaced=False, shuffle=False, extra_keys=True),
    "2019-11-11-d.ndjson.zst": dict(kind="json", year=2019, epoch_p=0.3, spaced=True, shuffle=True, extra_keys=True),
}
YEAR_FILES = {2018: [("2018-11-11-a.csv", 55), ("2018-11-11-b.jsonl.gz", 45)],
              2019: [("2019-11-11-a.csv", 30), ("2019-11-11-b.csv.gz", 25), ("2019-11-11-c.jsonl", 25),
                     ("2019-11-11-d.ndjson.zst", 20)]}

# entries per file: list of dicts {"ev": event} | {"bad": spec} | {"blank": text}
entries = {f: [] for f in FILES}


def add_events(evs, year):
    for ev in evs:
        f = ev.pop("file", None) or wchoice(YEAR_FILES[year])
        entries[f].append({"ev": ev})


def sort_files():
    for f in entries:
        entries[f].sort(key=lambda e: e["ev"]["ms"])


def insert_after(f, idx, item):
    lst = entries[f]
    pos = rng.randint(idx + 1, min(len(lst), idx + 40))
    lst.insert(pos, item)


def index_of(f, event_id):
    for i, e in enumerate(entries[f]):
        if "ev" in e and e["ev"]["event_id"] == event_id and not e.get("dup"):
            return i
    raise KeyError(event_id)


def main():
    if LOGS.exists():
        shutil.rmtree(LOGS)
    LOGS.mkdir(parents=True)

    # ---- rates
    with open(HERE / "fx_rates.csv", "w", newline="") as fh:
        fh.write("currency,date,cny_per_unit\n")
        for cur in ["USD", "EUR", "JPY", "KRW", "HKD"]:
            for d, r in RATES[cur].items():
                fh.write(f"{cur},{d},{r}\n")

    # ---- paid orders on the day. Midnight counts per second (00:00:00 ..):
    # 2018 peak 00:00:02 (12); 2019 has a tie of 14 at 00:00:01 and 00:00:03 (earliest wins).
    o18 = gen_year(2018, 1850, [5, 8, 12, 9, 7, 6, 5, 4, 4, 3])
    o19 = []    # planted 2019 events first; random ones are drawn below to reach the GMV target

    # ---- planted edge cases (good events)
    P = {}

    def plant(name, year, ms, file, time_text=None, **kw):
        o = make_order(ms, kw.pop("platform", None), kw.pop("cur", None), kw.pop("amount", None))
        o.update(kw)
        if time_text:
            o["time_text"] = time_text
        o["file"] = file
        P[name] = o
        (o18 if year == 2018 else o19).append(o)
        return o

    A18, B18 = "2018-11-11-a.csv", "2018-11-11-b.jsonl.gz"
    A19, B19, C19, D19 = "2019-11-11-a.csv", "2019-11-11-b.csv.gz", "2019-11-11-c.jsonl", "2019-11-11-d.ndjson.zst"
    # day boundaries
    plant("b18_mid", 2018, at("2018-11-11", "00:00:00"), A18, "2018-11-11T00:00:00.000+08:00", cur="CNY")
    plant("b18_prev", 2018, at("2018-11-10", "23:59:59", 999), B18, "2018-11-10T15:59:59.999Z", cur="CNY")
    plant("b18_last", 2018, at("2018-11-11", "23:59:59", 999), A18, "2018-11-11T15:59:59.999999Z", cur="USD", amount="25")
    plant("b18_next", 2018, at("2018-11-12", "00:00:00"), A18, "2018-11-11T16:00:00Z", cur="USD", amount="25")
    plant("b18_jst", 2018, at("2018-11-11", "07:00:00"), A18, "2018-11-11T08:00:00+09:00", cur="CNY")
    plant("half18_krw", 2018, at("2018-11-11", "10:11:12", 345), B18, None, platform="aliexpress", cur="KRW", amount="2500")
    plant("big18", 2018, at("2018-11-11", "09:30:00", 120), B18, None, cur="CNY", buyer_id=9007199254740993,
          seller_id=9223372036854775807)
    plant("b19_mid", 2019, at("2019-11-11", "00:00:00"), A19, "2019-11-11T00:00:00+08:00", cur="CNY")
    plant("b19_prev_ns", 2019, at("2019-11-10", "23:59:59", 999), C19, "2019-11-10T15:59:59.999999999Z", cur="CNY")
    plant("b19_last_7", 2019, at("2019-11-11", "23:59:59", 999), B19, "2019-11-11T23:59:59.9999999+08:00",
          platform="aliexpress", cur="USD", amount="19.99")
    plant("b19_next", 2019, at("2019-11-12", "00:00:00"), D19, "2019-11-11T16:00:00Z", platform="aliexpress",
          cur="USD", amount="19.99")
    plant("b19_ny_mid", 2019, at("2019-11-11", "00:00:00"), C19, "2019-11-10T11:00:00-05:00", cur="CNY")
    plant("b19_ny_prev", 2019, at("2019-11-10", "23:59:59", 999), C19, "2019-11-10T10:59:59.999-05:00", cur="USD")
    plant("b19_jst_last", 2019, at("2019-11-11", "23:59:59", 999), C19, "2019-11-12T00:59:59.999+09:00", cur="CNY")
    plant("b19_epoch_prev", 2019, at("2019-11-10", "23:59:59", 999), D19, None, cur="CNY", time_json="epoch")
    plant("b19_epoch_mid", 2019, at("2019-11-11", "00:00:00"), D19, None, cur="CNY", time_json="epoch")
    plant("b19_lower", 2019, at("2019-11-11", "20:00:00", 500), C19, "2019-11-11t12:00:00.5z", cur="CNY")
    plant("b19_usd_ny", 2019, at("2019-11-11", "00:30:00"), A19, "2019-11-10T11:30:00-05:00", platform="aliexpress",
          cur="USD", amount="49.5")
    plant("half19_usd", 2019, at("2019-11-11", "14:21:27", 250), A19, None, platform="aliexpress", cur="USD", amount="10.00")
    plant("half19_jpy", 2019, at("2019-11-11", "13:14:15", 161), C19, None, platform="tmall_global", cur="JPY", amount="100")
    plant("big19", 2019, at("2019-11-11", "08:08:08", 808), C19, None, cur="CNY", buyer_id=9007199254740993,
          seller_id=-9223372036854775808, quantity=3)
    plant("big19b", 2019, at("2019-11-11", "09:09:09", 909), D19, None, cur="CNY", buyer_id=9223372036854775807,
          seller_id=9223372036854775806)
    plant("id64", 2019, at("2019-11-11", "11:11:11", 111), B19, None, cur="CNY", event_id="e" * 8 + "-" + "0123456789abcdef" * 3 + "-x" * 3 + "z")
    assert len(P["id64"]["event_id"]) == 64, len(P["id64"]["event_id"])
    # largest valid amount (< 10,000,000), in KRW so that it stays a plausible luxury order
    plant("max_amt", 2019, at("2019-11-11", "10:00:00"), D19, None, platform="tmall_global", cur="KRW",
          amount="9999999.99", category="Watches", amount_json="str")
    plant("max_amt18", 2018, at("2018-11-11", "10:00:00"), A18, None, platform="tmall_global", cur="KRW",
          amount="9999999", category="Watches")
    plant("cat_nl", 2018, at("2018-11-11", "12:34:56", 789), A18, None, cur="CNY", category="Gift Sets\nLimited Edition")
    plant("cat_q", 2018, at("2018-11-11", "12:35:01", 2), A18, None, cur="CNY", category='Toys "LEGO" Sets, Kids')
    plant("cat_nl19", 2019, at("2019-11-11", "16:00:00", 1), B19, None, cur="CNY", category="Wine\nImported")
    plant("cat_q19", 2019, at("2019-11-11", "16:00:02", 2), A19, None, cur="CNY", category='Phone "Pro", 256GB')
    plant("amt_num_int", 2019, at("2019-11-11", "12:00:00", 7), C19, None, cur="CNY", amount="199", amount_json="num")
    plant("amt_num_1", 2019, at("2019-11-11", "12:00:01", 7), C19, None, cur="CNY", amount="12.5", amount_json="num")
    plant("amt_num_2", 2019, at("2019-11-11", "12:00:02", 7), D19, None, cur="CNY", amount="12.50", amount_json="num")

    # 2019 GMV on the day = 1.257 x 2018 (seed: +25.7 %), planted events included
    day = lambda o, y: cst_date(o["ms"]) == f"{y}-11-11"
    gmv18 = sum(cny_of(o) for o in o18 if day(o, 2018))
    planted19 = sum(cny_of(o) for o in o19 if day(o, 2019))
    o19 += gen_year(2019, ("gmv", (gmv18 * Decimal("1.257") - planted19).quantize(Decimal("0.01"))),
                    [9, 14, 11, 14, 10, 8, 7, 6, 5, 5])

    out18 = outside(2018, 14, 14)
    out19 = outside(2019, 18, 18)
    # a few foreign-currency events outside the day use that day's rate
    r18 = refunds_for(o18, 0.03, 2018)
    r19 = refunds_for(o19, 0.03, 2019)

    for evs, y in ((o18, 2018), (out18, 2018), (r18, 2018), (o19, 2019), (out19, 2019), (r19, 2019)):
        add_events(evs, y)
    sort_files()

    # ---- duplicates (re-deliveries): same event_id, same instant, maybe other offset/amount/platform
    def make_dup(ev, change=True):
        d = dict(ev)
        d.pop("time_text", None)
        d.pop("amount_json", None)
        if change:
            r = rng.random()
            if r < 0.3:
                d["amount"] = amount_text(Decimal(ev["amount"]) + Decimal(rng.randrange(1, 5000)) / 100, False)
            elif r < 0.5:
                d["platform"] = rng.choice([p for p, _ in PLATFORMS if p != ev["platform"]])
        return d

    n_dups = 0
    for year in (2018, 2019):
        files = [f for f, _ in YEAR_FILES[year]]
        pool = [(f, e["ev"]) for f in files for e in entries[f] if "ev" in e]
        for f, ev in rng.sample(pool, int(len(pool) * 0.02)):
            d = make_dup(ev)
            if rng.random() < 0.6:
                insert_after(f, index_of(f, ev["event_id"]), {"ev": d, "dup": True})
            else:
                g = rng.choice([x for x in files if x != f])
                entries[g].insert(rng.randrange(len(entries[g]) + 1), {"ev": d, "dup": True})
            n_dups += 1

    # planted duplicates
    def dup_into(name, f, time_text=None, **kw):
        d = make_dup(P[name], change=False)
        d.update(kw)
        if time_text:
            d["time_text"] = time_text
        entries[f].insert(rng.randrange(len(entries[f]) + 1), {"ev": d, "dup": True})

    # CSV -> NDJSON, other offset, other amount and currency (first one, USD 10.00, wins)
    dup_into("half19_usd", C19, "2019-11-11T06:21:27.250999Z", currency="CNY", amount="70.00")
    # copy in an earlier file (2019-11-11-a.csv) than the "original" (2019-11-11-c.jsonl): input order
    # decides, so the CSV copy (platform taobao) is the one accepted
    dup_into("half19_jpy", A19, "2019-11-11T14:14:15.161+09:00", platform="taobao")
    # boundary events re-delivered with other offsets (must stay on their day)
    dup_into("b19_prev_ns", D19, "2019-11-10T23:59:59.999+08:00", amount="1.00")
    dup_into("b19_last_7", C19, "2019-11-11T10:59:59.999-05:00")
    dup_into("b18_last", B18, "2018-11-12T00:59:59.999+09:00", amount="9999")   # later file: loses
    # peak-second orders re-delivered: they must not change the 2019 peak (00:00:03 would win with 15)
    peak3 = [e["ev"] for e in entries[A19] + entries[B19] + entries[C19] + entries[D19]
             if "ev" in e and not e.get("dup") and e["ev"]["event_type"] == "paid"
             and e["ev"]["ms"] // 1000 == at("2019-11-11", "00:00:03") // 1000]
    for ev in peak3[:2]:
        d = make_dup(ev, change=False)
        d["time_text"] = fmt_time(ev["ms"], 0, 9, "123456")
        entries[D19].insert(rng.randrange(len(entries[D19]) // 2, len(entries[D19])), {"ev": d, "dup": True})
    n_dups += 7

    # ---- rejects
    def base(year, hms=None):
        d = f"{year}-11-11"
        ms = at(d, hms) if hms else day_start_ms(d) + rng.randrange(DAY_MS)
        return make_order(ms, cur="CNY")

    def bad(f, spec, before=None, after=None):
        item = {"bad": spec}
        if before is not None:
            entries[f].insert(index_of(f, before), item)
        elif after is not None:
            insert_after(f, index_of(f, after), item)
        else:
            entries[f].insert(rng.randrange(1, len(entries[f]) + 1), item)

    L65 = "evt-" + "9" * 61
    # CSV specs: {"ev": base, "set": {field: text}, "fields": +1/-1}
    bad(A18, {"ev": base(2018), "fields": -1})                                 # csv_field_count
    bad(A18, {"ev": base(2018), "fields": +1})                                 # csv_field_count
    bad(A18, {"ev": base(2018), "set": {"event_id": ""}})                       # missing_field
    bad(A18, {"ev": base(2018), "set": {"amount": ""}})                         # missing_field
    bad(A18, {"ev": base(2018), "set": {"event_time": "2018-11-11 00:00:01"}})  # bad_time
    bad(A18, {"ev": base(2018), "set": {"event_time": "1541865600000"}})        # bad_time (int in CSV)
    bad(A18, {"ev": base(2018), "set": {"amount": "-5.00"}})                    # bad_amount
    bad(A18, {"ev": base(2018), "set": {"amount": "12.345"}})                   # bad_amount
    bad(A18, {"ev": base(2018), "set": {"event_type": "PAID"}})                 # bad_event_type
    bad(A18, {"ev": base(2018), "set": {"currency": "GBP"}})                    # unknown_currency
    bad(A18, {"ev": base(2018), "set": {"quantity": "0"}})                      # bad_field
    bad(A18, {"ev": base(2018), "set": {"buyer_id": "abc"}})                    # bad_field
    bad(A18, {"ev": base(2018), "set": {"event_id": L65}})                      # bad_field (65 chars)

    bad(A19, {"ev": base(2019), "fields": -1})
    bad(A19, {"ev": base(2019), "set": {"order_id": ""}})
    bad(A19, {"ev": base(2019), "set": {"event_type": ""}})
    bad(A19, {"ev": base(2019), "set": {"event_time": "2019-11-11T23:59:60+08:00"}})
    bad(A19, {"ev": base(2019), "set": {"event_time": "not-a-time"}})
    bad(A19, {"ev": base(2019), "set": {"amount": "1e3"}})
    bad(A19, {"ev": base(2019), "set": {"amount": "10000000.00"}})
    bad(A19, {"ev": base(2019), "set": {"amount": "0.00"}})
    bad(A19, {"ev": base(2019), "set": {"event_type": "Paid"}})
    bad(A19, {"ev": base(2019), "set": {"currency": "usd"}})
    bad(A19, {"ev": base(2019), "set": {"quantity": "-1"}})
    bad(A19, {"ev": base(2019), "set": {"order_id": "o" * 65}})
    # a bad line carrying the event_id of a later good line: the good one must still be accepted
    good_a19 = next(e["ev"] for e in entries[A19][200:] if "ev" in e and not e.get("dup"))
    bad(A19, {"ev": dict(good_a19, time_text=None), "set": {"amount": "abc"}}, before=good_a19["event_id"])
    # same across files: bad in 2019-a.csv, the good one only later in 2019-c.jsonl
    good_c19 = next(e["ev"] for e in entries[C19][300:] if "ev" in e and not e.get("dup"))
    bad(A19, {"ev": dict(good_c19, time_text=None), "set": {"event_type": "PAID"}})

    bad(B19, {"ev": base(2019), "fields": +1})
    bad(B19, {"ev": base(2019), "set": {"platform": ""}})
    bad(B19, {"ev": base(2019), "set": {"event_time": "2019-02-29T10:00:00+08:00"}})
    bad(B19, {"ev": base(2019), "set": {"event_time": "2019-11-11T10:00:00.1234567890+08:00"}})
    bad(B19, {"ev": base(2019), "set": {"event_time": "2019-11-11T10:00:00+24:00"}})
    bad(B19, {"ev": base(2019), "set": {"amount": ".5"}})
    bad(B19, {"ev": base(2019), "set": {"amount": "5."}})
    bad(B19, {"ev": base(2019), "set": {"currency": "GBP"}})
    bad(B19, {"ev": base(2019), "set": {"buyer_id": "9223372036854775808"}})
    bad(B19, {"ev": base(2019), "set": {"event_time": "2019-13-01T00:00:00Z"}})

    # NDJSON specs: {"ev": base, "set": {field: raw json}, "del": [fields]} or {"raw": text}
    def raw_json(ev, mutate):
        pairs = dict(json_pairs(ev, 0.0))
        mutate(pairs)
        return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs.items()) + "}"

    b = base(2018)
    bad(B18, {"raw": raw_json(b, lambda p: None)[:-1] + ",}"})                                  # invalid_json
    b = base(2018)
    bad(B18, {"raw": raw_json(b, lambda p: p.__setitem__("amount", "NaN"))})                     # invalid_json
    bad(B18, {"ev": base(2018), "del": ["event_time"]})                                           # missing_field
    bad(B18, {"ev": base(2018), "set": {"platform": "null"}})                                     # missing_field
    bad(B18, {"ev": base(2018), "set": {"event_time": '"2018-11-31T10:00:00+08:00"'}})            # bad_time
    bad(B18, {"ev": base(2018), "set": {"event_time": "1.5e12"}})                                 # bad_time (float)
    bad(B18, {"ev": base(2018), "set": {"amount": "0"}})                                          # bad_amount
    bad(B18, {"ev": base(2018), "set": {"amount": '"abc"'}})                                      # bad_amount
    bad(B18, {"ev": base(2018), "set": {"event_type": '"cancelled"'}})                            # bad_event_type
    bad(B18, {"ev": base(2018), "set": {"currency": '"XXX"'}})                                    # unknown_currency
    usd9 = make_order(at("2018-11-09", "23:00:00"), "aliexpress", "USD", "15.00")
    bad(B18, {"ev": usd9, "set": {"event_time": '"2018-11-09T15:00:00Z"'}})                       # unknown_currency (no rate that day)
    bad(B18, {"ev": base(2018), "set": {"quantity": '"two"'}})                                    # bad_field
    bad(B18, {"ev": base(2018), "set": {"seller_id": "1.5"}})                                     # bad_field

    b = base(2019)
    bad(C19, {"raw": raw_json(b, lambda p: None)[:57]})                                           # invalid_json (truncated)
    b = base(2019)
    bad(C19, {"raw": raw_json(b, lambda p: p.__setitem__("amount", "Infinity"))})                 # invalid_json
    bad(C19, {"ev": base(2019), "del": ["amount"]})                                               # missing_field
    bad(C19, {"ev": base(2019), "del": ["event_id"]})                                             # missing_field
    bad(C19, {"ev": base(2019), "set": {"order_id": "null"}})                                     # missing_field
    bad(C19, {"ev": base(2019), "set": {"event_time": "true"}})                                   # bad_time
    bad(C19, {"ev": base(2019), "set": {"event_time": "1573401600000.0"}})                        # bad_time (float)
    bad(C19, {"ev": base(2019), "set": {"event_time": '"2019-11-11T00:00:01"'}})                  # bad_time (no offset)
    bad(C19, {"ev": base(2019), "set": {"amount": "12.345"}})                                     # bad_amount
    bad(C19, {"ev": base(2019), "set": {"amount": "-1"}})                                         # bad_amount
    bad(C19, {"ev": base(2019), "set": {"amount": "1e3"}})                                        # bad_amount
    bad(C19, {"ev": base(2019), "set": {"event_type": '"refund"'}})                               # bad_event_type
    bad(C19, {"ev": base(2019), "set": {"currency": '"GBP"'}})                                    # unknown_currency
    bad(C19, {"ev": base(2019), "set": {"event_id": "12345"}})                                    # bad_field (number)
    bad(C19, {"ev": base(2019), "set": {"event_type": "1"}})                                      # bad_field (number)
    bad(C19, {"ev": base(2019), "set": {"platform": "7"}})                                        # bad_field (number)
    bad(C19, {"ev": base(2019), "set": {"buyer_id": '"abc"'}})                                    # bad_field
    bad(C19, {"ev": base(2019), "set": {"device": "1"}})                                          # bad_field
    bad(C19, {"ev": base(2019), "set": {"quantity": "2.0"}})                                      # bad_field
    bad(C19, {"ev": base(2019), "set": {"quantity": "0"}})                                        # bad_field
    # a good line followed later by a bad re-delivery of the same event_id: that one is a reject
    good_c19b = next(e["ev"] for e in entries[C19][100:] if "ev" in e and not e.get("dup"))
    bad(C19, {"ev": dict(good_c19b, time_text=None), "set": {"amount": '"-3.00"'}}, after=good_c19b["event_id"])

    b = base(2019)
    bad(D19, {"raw": raw_json(b, lambda p: None).replace(", ", " ", 1)})                          # invalid_json (missing comma)
    b = base(2019)
    bad(D19, {"raw": "[" + raw_json(b, lambda p: None) + "]"})                                    # invalid_json (not an object)
    bad(D19, {"ev": base(2019), "del": ["event_type"]})                                           # missing_field
    bad(D19, {"ev": base(2019), "set": {"event_time": '"2019-11-11T10:00:00+08"'}})               # bad_time
    bad(D19, {"ev": base(2019), "set": {"amount": '"10000000"'}})                                 # bad_amount
    bad(D19, {"ev": base(2019), "set": {"amount": "-0.01"}})                                      # bad_amount
    usd13 = make_order(at("2019-11-13", "00:30:00"), "aliexpress", "USD", "15.00")
    bad(D19, {"ev": usd13, "set": {"event_time": '"2019-11-12T16:30:00Z"'}})                      # unknown_currency (no rate)
    bad(D19, {"ev": base(2019), "set": {"buyer_id": "true"}})                                     # bad_field
    bad(D19, {"ev": base(2019), "set": {"buyer_id": "9223372036854775808"}})                      # bad_field (> int64)
    bad(D19, {"ev": base(2019), "set": {"event_id": json.dumps("E" * 65)}})                       # bad_field (65 chars)
    # rejects inside the 2019 peak second must not count either
    pk = make_order(at("2019-11-11", "00:00:03", 500), cur="CNY")
    bad(D19, {"ev": pk, "set": {"amount": '"0.001"'}})
    pk = make_order(at("2019-11-11", "00:00:03", 600), cur="CNY")
    bad(A19, {"ev": pk, "set": {"currency": "GBP"}})

    # ---- blank lines (skipped, not counted)
    for f, texts in ((A18, ["", "", "   "]), (A19, [""]), (C19, ["", "\t ", ""]), (D19, [""])):
        for t in texts:
            entries[f].insert(rng.randrange(1, len(entries[f])), {"blank": t})

    # ---- render
    for name, spec in FILES.items():
        lines = render(name, spec)
        eol = spec.get("eol", "\n")
        text = eol.join(lines)
        if spec.get("final_eol", True):
            text += eol
        if name == B18:
            text += "\n"    # one more blank line at the very end
        data = (("\ufeff" if spec.get("bom") else "") + text).encode("utf-8")
        if name.endswith(".gz"):
            data = gzip.compress(data, compresslevel=9, mtime=0)
        elif name.endswith(".zst"):
            data = zstandard.ZstdCompressor(level=10).compress(data)
        (LOGS / name).write_bytes(data)
    print(f"wrote {len(FILES)} files to {LOGS} (planted duplicates ~{n_dups})")


def render(name, spec):
    out = []
    if spec["kind"] == "csv":
        pad = spec.get("header_pad", {})
        extra = spec["extra"]
        cols = list(spec["cols"])
        header = [pad.get(c, c) for c in cols] + [x for x, _ in extra]
        # put the unknown column in the middle
        if extra:
            header = header[:7] + [extra[0][0]] + header[7:-1]
        out.append(",".join(header))
        for e in entries[name]:
            if "blank" in e:
                out.append(e["blank"])
                continue
            ev = e.get("ev") or e["bad"]["ev"]
            v = csv_values(ev)
            if "bad" in e:
                v.update(e["bad"].get("set", {}))
            row = [v[c] for c in cols]
            if extra:
                ch = rng.choice(["search", "live_stream", "", "promo, 11.11", "cart"])
                row = row[:7] + [ch] + row[7:]
            if "bad" in e and e["bad"].get("fields") == -1:
                row = row[:-1]
            if "bad" in e and e["bad"].get("fields") == +1:
                row = row + ["oops"]
            out.append(csv_line(row, spec.get("quote_p", 0)))
    else:
        for e in entries[name]:
            if "blank" in e:
                out.append(e["blank"])
                continue
            if "bad" in e and "raw" in e["bad"]:
                out.append(e["bad"]["raw"])
                continue
            ev = e.get("ev") or e["bad"]["ev"]
            pairs = json_pairs(ev, spec["epoch_p"])
            if "bad" in e:
                d = dict(pairs)
                for k, v in e["bad"].get("set", {}).items():
                    d[k] = v
                for k in e["bad"].get("del", []):
                    d.pop(k, None)
                pairs = list(d.items())
            if spec.get("extra_keys") and rng.random() < 0.3:
                r = rng.random()
                if r < 0.4:
                    pairs.append(("trace_id", json.dumps(f"{rng.getrandbits(64):016x}")))
                elif r < 0.7:
                    pairs.append(("client", json.dumps({"app": rng.choice(["taobao", "tmall"]),
                                                        "ver": "9.1.0", "ab": [1, 2]})))
                else:
                    pairs.append(("score", f"{rng.random():.4f}"))
            out.append(json_line(pairs, spec["spaced"], spec["shuffle"]))
    return out


if __name__ == "__main__":
    main()
