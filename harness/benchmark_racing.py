"""Epochs per scenario with and without racing, on a few scenarios of the suite.

    python harness/benchmark_racing.py [--only NAME ...] [--json rows.json]

Each scenario runs twice through the plain-function pipeline (no Prefect), each run in
its own spawned process (Keras' seed is process-global): once as the doctor runs
(branches raced in rungs), once with every branch trained to its end in one go (one rung).
Everything else is the same: rounds, judging and the fallback search. It prints, per
scenario, the status, the final main metric and the epochs of both, and the ratio of
epochs over the scenarios that end `repaired` both ways.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_SCENARIOS = (
    "overfitting_diabetes",
    "lr_too_high_adam",
    "unscaled_features_wine",
    "dead_relu_high_lr_sgd",
    "class_imbalance_binary",
)


def run_one(name: str, race: bool) -> dict:
    """One doctor run of one scenario; without racing every branch trains in a single rung."""
    import logging

    logging.getLogger("plateau_doctor").setLevel(logging.WARNING)
    import plateau_doctor.engine.racing as racing
    from harness import suite
    from plateau_doctor.run.pipeline import run_doctor

    if not race:
        racing.rung_epochs = lambda total, *args, **kwargs: [total]
    scenario = suite.select(suite.load_suite(), [name])[0]
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary, _, _ = run_doctor(suite.scenario_config(scenario, out_dir=out))
    metric = summary["main_metric"]
    return {
        "scenario": name,
        "race": race,
        "status": summary["status"],
        "metric": summary["final"]["metrics"].get(metric),
        "epochs": summary["epochs_trained_total"],
        "pruned": len(summary.get("pruned") or []),
        "search_trials": summary.get("search_trials", 0),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def _run(args: tuple[str, bool]) -> dict:
    return run_one(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", default=list(DEFAULT_SCENARIOS))
    parser.add_argument("--workers", type=int, default=1, help="runs at once, each in its own process (default 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    jobs = [(name, race) for name in args.only for race in (False, True)]
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        for row in pool.map(_run, jobs):
            rows.append(row)
            print(f"  done {row['scenario']} race={row['race']}: {row['status']} {row['epochs']} epochs",
                  file=sys.stderr, flush=True)
    by = {(r["scenario"], r["race"]): r for r in rows}
    print(f"{'scenario':26s} {'status (plain / raced)':26s} {'metric':17s} {'epochs':>13s} {'pruned':>6s}")
    both = []
    for name in args.only:
        plain, raced = by[(name, False)], by[(name, True)]
        print(f"{name:26s} {plain['status'] + ' / ' + raced['status']:26s} "
              f"{plain['metric']:.4f} / {raced['metric']:.4f}  {plain['epochs']:5d} / {raced['epochs']:5d} "
              f"{raced['pruned']:6d}")
        if plain["status"] == raced["status"] == "repaired":
            both.append((plain["epochs"], raced["epochs"]))
    if both:
        plain_total, raced_total = sum(p for p, _ in both), sum(r for _, r in both)
        print(f"\nrepaired both ways: {len(both)} scenarios; epochs per repaired scenario "
              f"{plain_total / len(both):.1f} without racing, {raced_total / len(both):.1f} with racing "
              f"({raced_total / plain_total:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
