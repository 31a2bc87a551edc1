"""What the notebooks share: finding the double11 binary, the warehouse they read, its committed
files as Polars LazyFrames, double11 reports parsed from CSV, and exact checks between the two.

Every notebook in this folder draws its figures with Polars straight from the warehouse's
Parquet files and, wherever a double11 report computes the same figure, asserts the two are
equal to the fen. This module keeps that plumbing in one place instead of a copy per notebook.

- The binary: `$DOUBLE11_BIN`, else `double11` on PATH; neither is an error saying to build it.
- The warehouse: the notebook's `WAREHOUSE` parameter, else `$DOUBLE11_WAREHOUSE_NB` (a relative
  path is relative to the repository root), else a fresh one built from `sample-data/logs` into
  a temporary folder (the README's first command).
- Only committed files are read: the latest warehouse version (`_double11/versions/<N>.json`)
  lists every data file the tables hold at the Delta Lake versions it pins (the folders also
  keep replaced files, for time travel, and a crashed run's), and exactly those paths go to
  `pl.scan_parquet` (Hive partition `cst_date` typed as `pl.Date`): the same files, the same
  types (+08:00 timestamps) as double11 reads.
- Money stays exact: `amount` / `amount_cny` are Decimal128 and are summed as decimals; report
  CSV is read as text and compared as `decimal.Decimal`. Floats are for chart geometry only.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample-data" / "logs"
SAMPLE_RATES = REPO / "sample-data" / "fx_rates.csv"
QUERIES = REPO / "queries"

# The seed day that `double11 generate --scale 1.0` is calibrated to (README, "Synthetic logs").
SEED_ORDERS = 1_300_000_000
SEED_GMV_CNY = Decimal("268400000000")
SEED_BASE_GMV_CNY = Decimal("213500000000")
SEED_PEAK_ORDERS = 544_000
# The seed day's GMV milestones, in yuan, at scale 1.
SEED_MILESTONES_CNY = [Decimal("10e9"), Decimal("100e9"), Decimal("200e9")]

# Tables partitioned by CST day (`<table>/cst_date=YYYY-MM-DD/*.parquet`).
PARTITIONED = {"transactions", "per_second", "per_hour"}
# Tables a clean ingest may never write a file of (no rejected or re-delivered line yet): `scan`
# gives them empty, with these columns (README, "Tables").
MAYBE_EMPTY = {
    "rejects": {"run_id": pl.String, "file": pl.String, "line": pl.Int64, "kind": pl.String,
                "reason": pl.String, "raw": pl.String},
    "duplicates": {"run_id": pl.String, "file": pl.String, "line": pl.Int64, "event_id": pl.String,
                   "event_time": pl.Datetime("ms", "Etc/GMT-8"), "cst_date": pl.Date},
}

FEN = Decimal("0.01")


def binary() -> str:
    """The double11 binary: $DOUBLE11_BIN, else `double11` on PATH."""
    path = os.environ.get("DOUBLE11_BIN")
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise FileNotFoundError(
                f"DOUBLE11_BIN={path} is not an executable file: build double11 with `cargo build` "
                "and set DOUBLE11_BIN to target/debug/double11 (or your $CARGO_TARGET_DIR/debug/double11)")
        return path
    found = shutil.which("double11")
    if found:
        return found
    raise FileNotFoundError(
        "no double11 binary: DOUBLE11_BIN is not set and there is no double11 on PATH. Build it "
        "with `cargo build` in the repository and set DOUBLE11_BIN=$PWD/target/debug/double11 "
        "(or your $CARGO_TARGET_DIR/debug/double11) before starting Jupyter or pytest")


def run(*args, check_codes=(0,)) -> subprocess.CompletedProcess:
    """Run double11 with ARGS from the repository root; fail with its stderr on another exit code."""
    cmd = [binary(), *map(str, args)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode not in check_codes:
        raise RuntimeError(
            f"`{' '.join(cmd)}` exited {done.returncode} (expected {' or '.join(map(str, check_codes))}):\n"
            f"{done.stderr.strip() or done.stdout.strip()}")
    return done


def ingest(inputs, warehouse, fx_rates=None) -> Path:
    """`double11 ingest INPUTS --warehouse W [--fx-rates R]`; exit 0 (rejects are not failures)."""
    warehouse = Path(warehouse)
    args = ["-q", "ingest", *map(str, inputs), "--warehouse", warehouse]
    if fx_rates is not None:
        args += ["--fx-rates", fx_rates]
    run(*args)
    return warehouse


def build_sample_warehouse(parent=None) -> Path:
    """A new warehouse from the bundled sample logs (the README's first command), in PARENT or a
    temporary folder. Input names are relative to the repository (`sample-data/logs/...`)."""
    parent = Path(parent) if parent is not None else Path(tempfile.mkdtemp(prefix="double11-nb-"))
    return ingest([SAMPLE_LOGS.relative_to(REPO)], parent / "warehouse", SAMPLE_RATES.relative_to(REPO))


def warehouse(param=None) -> Path:
    """The warehouse a notebook reads: its WAREHOUSE parameter, else $DOUBLE11_WAREHOUSE_NB, else
    one built from sample-data/ into a temporary folder."""
    chosen = param or os.environ.get("DOUBLE11_WAREHOUSE_NB")
    if not chosen:
        wh = build_sample_warehouse()
        print(f"warehouse: built from sample-data/logs into {wh}")
        return wh
    wh = Path(chosen).expanduser()
    wh = (wh if wh.is_absolute() else REPO / wh).resolve()   # relative: to the repository root
    if not (wh / "_double11" / "versions").is_dir():
        raise FileNotFoundError(
            f"{wh} has no _double11/versions, so it is not a double11 warehouse (or nothing was ever "
            "committed to it): point WAREHOUSE / DOUBLE11_WAREHOUSE_NB at the folder given to "
            "`double11 ingest --warehouse`, or leave both unset to build one from sample-data/")
    print(f"warehouse: {wh}")
    return wh


def from_sample(wh) -> bool:
    """Whether the warehouse holds exactly one ingest of the bundled sample logs (the default one),
    so that sample-data/expected.json describes it."""
    runs = manifest(wh)["runs"]
    root = SAMPLE_LOGS.resolve()
    return len(runs) == 1 and all(Path(i.get("path", "/")).resolve().is_relative_to(root)
                                  for i in runs[0]["inputs"])


def manifest(wh) -> dict:
    """The warehouse's latest version: `files` (every committed data file) and `runs`."""
    versions = Path(wh) / "_double11" / "versions"
    latest = max(versions.glob("*.json"))
    with open(latest, encoding="utf-8") as f:
        return json.load(f)


def committed_files(wh, table) -> list[str]:
    """Absolute paths of TABLE's committed data files, as the manifest lists them."""
    wh = Path(wh).resolve()
    return [str(wh / f["path"]) for f in manifest(wh)["files"] if f["table"] == table]


def scan(wh, table, with_paths=False) -> pl.LazyFrame:
    """TABLE of the warehouse as a LazyFrame over exactly its committed files; the partitioned
    tables get `cst_date` (pl.Date) from the Hive path. `rejects` and `duplicates` of a warehouse
    that never had one are empty; another table without a committed file is a LookupError.
    WITH_PATHS adds `file_path`, the absolute path of the file each row was read from."""
    paths = committed_files(wh, table)
    if not paths and table in MAYBE_EMPTY:
        schema = dict(MAYBE_EMPTY[table], **({"file_path": pl.String} if with_paths else {}))
        return pl.LazyFrame(schema=schema)
    if not paths:
        raise LookupError(f"the manifest of {wh} lists no committed file of table {table}: "
                          "ingest some logs into it first")
    extra = {"include_file_paths": "file_path"} if with_paths else {}
    if table in PARTITIONED:
        return pl.scan_parquet(paths, hive_partitioning=True, hive_schema={"cst_date": pl.Date}, **extra)
    return pl.scan_parquet(paths, hive_partitioning=False, **extra)


def report(wh, name, day, compare=None, params=None) -> dict[str, pl.DataFrame]:
    """`double11 report NAME --format csv --out DIR`, each query's CSV parsed with every column
    as text (money stays exact; compare it with `check`). Keys are the query names
    (`summary`, `summary.rejects`, ...)."""
    out = Path(tempfile.mkdtemp(prefix="double11-nb-report-"))
    args = ["-q", "report", name, "--warehouse", Path(wh), "--day", day, "--queries", QUERIES,
            "--format", "csv", "--out", out]
    if compare:
        args += ["--compare", compare]
    for k, v in (params or {}).items():
        args += ["--param", f"{k}={v}"]
    run(*args)
    tables = {}
    for path in sorted(out.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        # CSV has no null: an empty field is one (a missing category, a milestone not reached).
        tables[path.stem] = pl.DataFrame(
            {h: [r[i] if r[i] != "" else None for r in body] for i, h in enumerate(header)},
            schema={h: pl.String for h in header})
    shutil.rmtree(out)
    return tables


# -- exact checks -------------------------------------------------------------------------------

CHECKS = {"count": 0}


def exact(v):
    """A figure as an exact comparable value: Decimal for numbers and numeric text, str else."""
    if v is None:
        return None
    if isinstance(v, bool):
        return Decimal(int(v))
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, float):
        raise TypeError(f"a float ({v!r}) reached an exact check: keep money as Decimal")
    s = str(v)
    try:
        return Decimal(s)
    except ArithmeticError:
        return s


def check(what, notebook_value, report_value):
    """Assert NOTEBOOK_VALUE (from Polars) equals REPORT_VALUE (double11's text) exactly: as
    decimals when both are numbers (so 15.50 = 15.5, but never 15.50 = 15.51), as text else."""
    a, b = exact(notebook_value), exact(report_value)
    assert a == b, (f"{what}: the notebook computed {notebook_value!r} but the double11 report says "
                    f"{report_value!r}")
    CHECKS["count"] += 1


def check_rows(what, notebook_rows, report_df, key, columns):
    """Check a whole report table: REPORT_DF (text) against NOTEBOOK_ROWS (a Polars DataFrame),
    matched on KEY (null keys match null), every column of COLUMNS, and the same set of keys."""
    ours = {r[key]: r for r in notebook_rows.iter_rows(named=True)}
    theirs = {r[key]: r for r in report_df.iter_rows(named=True)}
    assert set(map(str, ours)) == set(map(str, theirs)), (
        f"{what}: the notebook has {key} values {sorted(map(str, ours))} but the double11 report "
        f"has {sorted(map(str, theirs))}")
    for k, row in ours.items():
        for c in columns:
            check(f"{what} [{key}={k}] {c}", row[c], theirs[k][c] if k in theirs else theirs[str(k)][c])


def checked() -> int:
    """How many figures the exact checks have compared so far (in this kernel)."""
    return CHECKS["count"]


# -- exact arithmetic -------------------------------------------------------------------------

def ratio6(n, d):
    """n / d to 6 decimals, rounded half away from zero, exactly (None when d = 0): the rule of the
    reports' shares and growth figures (queries/README.md)."""
    n, d = Decimal(n), Decimal(d)
    if d == 0:
        return None
    # integer arithmetic on values scaled to whole fen: no float, no context rounding
    ni, di = int(n * 100), int(d * 100)
    assert Decimal(ni) == n * 100 and Decimal(di) == d * 100, "ratio6 takes values with at most 2 decimals"
    sign = -1 if (ni < 0) != (di < 0) else 1
    ni, di = abs(ni), abs(di)
    q = (ni * 2_000_000 + di) // (di * 2)
    return Decimal(sign * q).scaleb(-6)


def growth(this, base):
    """(this - base) / base, 6 decimals, half away from zero; None when base is 0."""
    return ratio6(Decimal(this) - Decimal(base), base)


def div_fen(money, n):
    """MONEY / N rounded to the fen, half away from zero, exactly (None when n = 0): the average
    order value of the summary report."""
    money, n = Decimal(money), int(n)
    if n == 0:
        return None
    f = int(money * 100)
    assert Decimal(f) == money * 100, "div_fen takes money with at most 2 decimals"
    q = (abs(f) * 2 + abs(n)) // (abs(n) * 2)
    return Decimal(q if (f < 0) == (n < 0) or q == 0 else -q).scaleb(-2)


def fen(v) -> Decimal:
    """A money value as an exact 2-decimal Decimal (0 for None)."""
    return (Decimal(0) if v is None else Decimal(v)).quantize(FEN)


def plots():
    """Chart settings shared by the notebooks: a CJK font where one is installed (the sample has
    category names like 女装), else the missing-glyph warnings silenced (they show as boxes)."""
    import warnings

    import matplotlib
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
                       "AR PL UMing CN", "Droid Sans Fallback") if n in names]
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *cjk]
    if not cjk:
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")


def as_float(series: pl.Series) -> list[float]:
    """Chart geometry only: a Decimal series as floats. Never sum what this returns."""
    return series.cast(pl.Float64).to_list()
