"""The scenario suite from the command line.

    python harness/scenarios.py [--only NAME ...] [--workers 2] [--json rows.json]
        run the doctor on each scenario and print the table and the suite's figures
    python harness/scenarios.py make-data
        (re)generate scenarios/data/*.csv from scikit-learn (no download)
    python harness/scenarios.py measure-known-good [--only NAME ...] [--write]
        train each broken scenario's known-good set-up once and print (or write into
        scenarios/suite.yaml) its validation metric
    python harness/scenarios.py make-heldout
        (re)generate the held-out set, scenarios/heldout/: its data, the mutation operators
        applied to the base set-ups, each candidate and its known-good set-up measured once,
        equivalent mutants dropped, the seeded draw (frozen on 2026-11-29: re-running it
        must rewrite the same files)

--set suite|heldout|both picks the scenario set (default: suite); --only takes names from it.

Scenarios run in 2 spawned worker processes by default (the machine's 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import suite  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "make-data", "measure-known-good", "make-heldout"])
    parser.add_argument("--set", dest="which", choices=["suite", "heldout", "both"], default="suite",
                        help="the scenario set: the suite (default), the held-out set, or both")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--workers", type=int, default=suite.DEFAULT_WORKERS, help="worker processes (default 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--write", action="store_true", help="measure-known-good: write the numbers into suite.yaml")
    args = parser.parse_args(argv)

    if args.command == "make-data":
        for path in suite.make_data():
            print(f"wrote {path.relative_to(suite.ROOT)} ({path.stat().st_size:,} bytes)")
        return 0

    if args.command == "make-heldout":
        from harness import heldout

        outcome = heldout.generate(args.workers, log=lambda line: print(line, flush=True))
        print(f"{outcome['candidates']} candidates, {outcome['killed']} killed mutants, {len(outcome['chosen'])} drawn")
        return 0

    scenarios = suite.select(suite.load_set(args.which), args.only)
    started = time.perf_counter()
    if args.command == "measure-known-good":
        targets = [s for s in scenarios if s.known_good is not None]
        measured = suite.measure_suite(targets, args.workers)
        for entry, scenario in zip(measured, targets):
            print(f"{scenario.name:32s} {entry['metric']} {entry['value']} (suite.yaml: {scenario.known_good_metric},"
                  f" {entry['epochs']} epochs, {entry['wall_seconds']} s)")
        if args.write:
            if args.which != "suite":
                parser.error("--write rewrites scenarios/suite.yaml only; the held-out set is frozen (make-heldout)")
            print(f"updated {suite.write_known_good(measured)} known_good_metric line(s) in {suite.SUITE_FILE}")
        return 0

    finished: list[suite.Row] = []

    def progress(row: suite.Row) -> None:
        print(f"  done {row.scenario}: {row.status} ({row.wall_seconds:.0f} s)", file=sys.stderr, flush=True)
        finished.append(row)
        if args.json:  # as rows arrive, so that a long run can be read (or benchmarked) before it ends
            Path(args.json).write_text(json.dumps([r.to_dict() for r in finished], indent=1), encoding="utf-8")

    rows = suite.run_suite(scenarios, args.workers, on_result=progress)
    print(suite.format_table(rows))
    print()
    if args.which == "both":
        for which, part in (("suite", [r for r in rows if not r.heldout]), ("heldout", [r for r in rows if r.heldout])):
            print(f"--- {which} ---")
            print(suite.format_figures(suite.figures(part), **suite.requirements(which)))
    else:
        print(suite.format_figures(suite.figures(rows), **suite.requirements(args.which)))
    print(f"suite wall time: {time.perf_counter() - started:.0f} s on {args.workers} worker(s)")
    if args.json:
        Path(args.json).write_text(json.dumps([row.to_dict() for row in rows], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
