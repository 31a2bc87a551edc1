#!/usr/bin/env python3
"""CI check that the sample's oracles are not stale: `python .ci/check_reference.py`.

`sample-data/expected.json` is what tests/sample_data.rs checks the pipeline against, and it is
only as good as the last time someone ran `sample-data/reference.py`. So this script:

1. copies `reference.py`, `fx_rates.csv` and `logs/` into a temporary folder and runs the
   reference there (it writes `expected.json` beside itself), then fails, with a diff, unless
   the result is byte-identical to the committed `sample-data/expected.json`;
2. runs the reference once more on `logs/generated/` alone and fails unless its figures equal
   the generator's own `logs/generated/truth.json` (records, accepted, duplicates, rejected,
   rejects by kind, and every CST day's orders, GMV, refund events, refunds and peak second):
   the generator and the independent Python reference must agree on the generated files.

Needs Python 3 with `zstandard` (bench/requirements.txt; .ci/run uses the venv it builds).
Nothing in the repository is written.
"""
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "sample-data")


def run_reference(logs, into, under="logs"):
    """Runs a copy of reference.py in folder `into` over a copy of `logs` placed at
    `into/<under>`; returns the expected.json text it writes."""
    shutil.copy(os.path.join(SAMPLE, "reference.py"), into)
    shutil.copy(os.path.join(SAMPLE, "fx_rates.csv"), into)
    shutil.copytree(logs, os.path.join(into, under))
    subprocess.run([sys.executable, os.path.join(into, "reference.py")], check=True,
                   stdout=subprocess.DEVNULL, cwd=into)
    with open(os.path.join(into, "expected.json"), encoding="utf-8") as f:
        return f.read()


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="double11-reference-") as tmp:
        # 1. expected.json is what reference.py computes today.
        whole = os.path.join(tmp, "whole")
        os.makedirs(whole)
        fresh = run_reference(os.path.join(SAMPLE, "logs"), whole)
        with open(os.path.join(SAMPLE, "expected.json"), encoding="utf-8") as f:
            committed = f.read()
        if fresh != committed:
            diff = difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                        "sample-data/expected.json (committed)",
                                        "reference.py now", lineterm="", n=1)
            failures.append("sample-data/expected.json is stale: reference.py now computes "
                            "something else. Re-run `python3 sample-data/reference.py` and review "
                            "the diff:\n" + "\n".join(list(diff)[:60]))

        # 2. On the generated files alone, the reference equals the generator's truth.json.
        gen = os.path.join(tmp, "generated")
        os.makedirs(gen)
        generated = os.path.join(SAMPLE, "logs", "generated")
        # Kept under logs/generated/, so the file names are those of the sample.
        ref = json.loads(run_reference(generated, gen, os.path.join("logs", "generated")))
        with open(os.path.join(generated, "truth.json"), encoding="utf-8") as f:
            truth = json.load(f)
        got = {k: ref["totals"][k] for k in ("records", "accepted", "duplicates", "rejected")}
        want = {k: truth[k] for k in got}
        if got != want:
            failures.append(f"logs/generated: reference totals {got}, truth.json {want}")
        if ref["reject_kinds"] != truth["rejects_by_kind"]:
            failures.append(f"logs/generated: reference rejects by kind {ref['reject_kinds']}, "
                            f"truth.json {truth['rejects_by_kind']}")
        for day in sorted(set(ref["days"]) | set(truth["days"])):
            r, t = ref["days"].get(day), truth["days"].get(day)
            if r is None or t is None:
                failures.append(f"logs/generated: {day} only in "
                                f"{'truth.json' if r is None else 'the reference'}")
                continue
            peak = r["peak"] or {}
            got = (r["orders"], r["gmv"], r["refund_events"], r["refunds"],
                   peak.get("second"), peak.get("orders"))
            want = (t["orders"], t["gmv"], t["refund_events"], t["refunds"],
                    t["peak_second"], t["peak_orders"])
            if got != want:
                failures.append(f"logs/generated: {day}: reference (orders, GMV, refund events, "
                                f"refunds, peak second, peak orders) = {got}, truth.json {want}")
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        return 1
    print("sample-data/expected.json is what reference.py computes; on logs/generated/ the "
          "reference equals truth.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
