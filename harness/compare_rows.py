"""Compare two scenario runs row by row: ``python harness/compare_rows.py BEFORE.json AFTER.json``.

The rows are what ``harness/scenarios.py --json`` writes. A row matches when its status,
symptoms, causes in order (with confidences), chosen remedy, branches, epochs and metrics
are the same; metrics may differ by float noise (``--tolerance``, relative, default 1e-9).
Exit status 0 when every row matches, 1 otherwise. Wall times are not compared.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

EXACT = ("status", "symptoms", "found_causes", "chosen_remedy", "branches_run", "epochs_trained_total",
         "baseline_epochs", "flagged", "top1_hit", "final_healthy", "error")
NUMERIC = ("baseline_metric", "final_metric", "level", "linear_level")


def _close(a, b, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def differences(before: dict, after: dict, tolerance: float) -> list[str]:
    found = [f"{key}: {before.get(key)!r} -> {after.get(key)!r}" for key in EXACT if before.get(key) != after.get(key)]
    found += [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in NUMERIC
        if not _close(before.get(key), after.get(key), tolerance)
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--common", action="store_true", help="compare only the scenarios both runs have")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative tolerance on metrics")
    args = parser.parse_args(argv)
    before = {row["scenario"]: row for row in json.loads(args.before.read_text())}
    after = {row["scenario"]: row for row in json.loads(args.after.read_text())}
    moved = 0
    names = set(before) & set(after) if args.common else set(before) | set(after)
    for name in sorted(names):
        if name not in before or name not in after:
            print(f"{name}: only in {'before' if name in before else 'after'}")
            moved += 1
            continue
        found = differences(before[name], after[name], args.tolerance)
        if found:
            moved += 1
            print(f"{name}: " + "; ".join(found))
    print(f"{len(set(before) & set(after))} rows compared, {moved} differ")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
