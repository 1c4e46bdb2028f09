"""Benchmark (not a test): the doctor against a random search over the same remedy space.

For each broken scenario that the doctor repairs, a seeded random search samples set-ups
from the remedy space the doctor draws from, trains each (same data, split, seed and epoch
count as the scenario), and stops at the first trial whose validation main metric
(balanced accuracy or R^2) reaches the doctor's final metric, or after ``--trials``
trials (then "not reached", and its totals are lower bounds). It prints, per scenario and
overall, the epochs and the wall time the random search spent over the doctor's.

The remedy space, around the scenario's own set-up (optimizer, activations, initializer,
output and loss are kept as the user wrote them, since the issue's space does not cover
them):

- learning rate, log-uniform over 1e-4..1e-1 (adaptive optimizers) or 1e-3..1 (plain SGD);
- feature scaling on/off; target scaling on/off (regression);
- class weights none/balanced (classification);
- depth 1..3 hidden layers, each width one of 8, 16, 32, 64, 128, 256;
- early stopping (patience 5) on/off.

The doctor's cost is the whole run: baseline, range tests, branches, retraining
(``epochs_trained_total``) and its wall time including the data audit and the report.
The random search's cost is its trials' epochs and wall time (data preparation included).

    python scripts/benchmark_random_search.py [--only NAME ...] [--trials 20] [--workers 2]
        [--rows rows.json]   # reuse the doctor's rows from `scripts/scenarios.py --json`
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from plateau_doctor import scenarios as suite  # noqa: E402

ADAPTIVE = ("adam", "adamw", "nadam", "adamax", "rmsprop", "lion", "adafactor", "lamb")
WIDTHS = (8, 16, 32, 64, 128, 256)
EARLY_STOPPING_PATIENCE = 5


@dataclass
class SearchResult:
    scenario: str
    target_metric: float
    reached: bool
    trials: int
    epochs: int
    wall_seconds: float
    best_metric: float
    best_overrides: dict[str, Any]


def sample_overrides(rng, config) -> dict[str, Any]:
    """One point of the remedy space, as config overrides."""
    adaptive = config.training.optimizer.strip().lower().replace("_", "") in ADAPTIVE
    low, high = (1e-4, 1e-1) if adaptive else (1e-3, 1.0)
    depth = int(rng.integers(1, 4))
    overrides: dict[str, Any] = {
        "training.learning_rate": float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.3g}"),
        "preprocessing.scale_features": bool(rng.integers(0, 2)),
        "model.hidden_units": [int(rng.choice(WIDTHS)) for _ in range(depth)],
        "training.early_stopping_patience": EARLY_STOPPING_PATIENCE if rng.integers(0, 2) else None,
    }
    return overrides


def task_specific(rng, task: str) -> dict[str, Any]:
    if task == "regression":
        return {"preprocessing.scale_target": bool(rng.integers(0, 2))}
    return {"preprocessing.class_weight": "balanced" if rng.integers(0, 2) else "none"}


def random_search(scenario: suite.Scenario, target: float, trials: int, seed: int = 0) -> SearchResult:
    """Trials until one reaches ``target`` (the doctor's final metric) or ``trials`` are spent."""
    import numpy as np

    from plateau_doctor.data import prepare_from_config
    from plateau_doctor.training import fit_branch
    from plateau_doctor.verdict import main_metric

    suite._fresh_keras_session()
    rng = np.random.default_rng(seed)
    base = suite.scenario_config(scenario)
    epochs = 0
    started = time.perf_counter()
    best, best_overrides = -math.inf, {}
    for trial in range(1, trials + 1):
        overrides = sample_overrides(rng, base)
        task = None
        try:
            config = suite.scenario_config(scenario, overrides)
            data = prepare_from_config(config, audit=False)
            task = data.task
            overrides.update(task_specific(rng, task))
            config = suite.scenario_config(scenario, overrides)
            data = prepare_from_config(config, audit=False)
            result = fit_branch(config, data, branch=f"random-{trial}")
            epochs += result.epochs
            value = float(result.metrics.get(main_metric(task), math.nan))
        except Exception:  # a trial that fails spends its time and reaches nothing
            value = math.nan
        if math.isfinite(value) and value > best:
            best, best_overrides = value, overrides
        if math.isfinite(value) and value >= target:
            return SearchResult(scenario.name, target, True, trial, epochs, time.perf_counter() - started, best, best_overrides)
    return SearchResult(scenario.name, target, False, trials, epochs, time.perf_counter() - started, best, best_overrides)


def _search_in_worker(job: tuple[suite.Scenario, float, int]) -> SearchResult:
    scenario, target, trials = job
    return random_search(scenario, target, trials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="benchmark only these scenarios")
    parser.add_argument("--trials", type=int, default=20, help="random-search trials per scenario (default 20)")
    parser.add_argument("--workers", type=int, default=suite.DEFAULT_WORKERS)
    parser.add_argument("--rows", metavar="JSON", help="the doctor's rows from `scripts/scenarios.py --json` (else run it)")
    args = parser.parse_args(argv)

    scenarios = [s for s in suite.select(suite.load_suite(), args.only) if s.kind == "broken" and s.repairable]
    if args.rows:
        known = {row["scenario"]: row for row in json.loads(Path(args.rows).read_text(encoding="utf-8"))}
        missing = [s.name for s in scenarios if s.name not in known]
        if missing:
            parser.error(f"{args.rows} has no row for {missing}; run scripts/scenarios.py --json first")
        doctor = {s.name: known[s.name] for s in scenarios}
    else:
        print(f"running the doctor on {len(scenarios)} scenario(s)...", file=sys.stderr, flush=True)
        doctor = {row.scenario: row.to_dict() for row in suite.run_suite(scenarios, args.workers)}

    jobs = [
        (s, float(doctor[s.name]["final_metric"]), args.trials)
        for s in scenarios
        if doctor[s.name]["status"] == "repaired" and math.isfinite(float(doctor[s.name]["final_metric"]))
    ]
    skipped = [s.name for s in scenarios if s.name not in {job[0].name for job in jobs}]
    print(f"random search on {len(jobs)} repaired scenario(s), up to {args.trials} trials each...", file=sys.stderr, flush=True)
    results = suite.parallel_map(_search_in_worker, jobs, args.workers)

    header = f"{'scenario':30s} {'metric':>7s} {'doc ep':>7s} {'rs ep':>7s} {'ep ratio':>9s} {'doc s':>7s} {'rs s':>7s} {'s ratio':>8s} {'trials':>7s}"
    print(header)
    print("-" * len(header))
    epoch_ratios, wall_ratios = [], []
    totals = {"doc_ep": 0, "rs_ep": 0, "doc_s": 0.0, "rs_s": 0.0}
    for result in results:
        row = doctor[result.scenario]
        doc_ep, doc_s = int(row["epochs_trained_total"]), float(row["wall_seconds"])
        ep_ratio, s_ratio = result.epochs / max(doc_ep, 1), result.wall_seconds / max(doc_s, 1e-9)
        epoch_ratios.append(ep_ratio)
        wall_ratios.append(s_ratio)
        totals["doc_ep"] += doc_ep
        totals["rs_ep"] += result.epochs
        totals["doc_s"] += doc_s
        totals["rs_s"] += result.wall_seconds
        bound = "" if result.reached else ">="
        trials = f"{result.trials}" if result.reached else f"{result.trials} (not reached, best {result.best_metric:.3f})"
        print(
            f"{result.scenario:30s} {result.target_metric:7.3f} {doc_ep:7d} {result.epochs:7d} {bound + f'{ep_ratio:.2f}':>9s}"
            f" {doc_s:7.1f} {result.wall_seconds:7.1f} {bound + f'{s_ratio:.2f}':>8s} {trials:>7s}"
        )
    if results:
        reached = sum(r.reached for r in results)
        geo = lambda values: math.exp(sum(math.log(max(v, 1e-9)) for v in values) / len(values))  # noqa: E731
        print()
        print(f"random search reached the doctor's metric in {reached}/{len(results)} scenario(s) within {args.trials} trials")
        print(
            f"overall (totals): epochs {totals['rs_ep']} / {totals['doc_ep']} = {totals['rs_ep'] / max(totals['doc_ep'], 1):.2f}x;"
            f" wall {totals['rs_s']:.0f} s / {totals['doc_s']:.0f} s = {totals['rs_s'] / max(totals['doc_s'], 1e-9):.2f}x"
            + ("" if reached == len(results) else " (lower bounds: some searches did not reach)")
        )
        print(f"geometric mean of the per-scenario ratios: epochs {geo(epoch_ratios):.2f}x, wall {geo(wall_ratios):.2f}x")
        hit = [(r, doctor[r.scenario]) for r in results if r.reached]
        if hit and reached < len(results):
            rs_ep, doc_ep = sum(r.epochs for r, _ in hit), sum(int(d["epochs_trained_total"]) for _, d in hit)
            rs_s, doc_s = sum(r.wall_seconds for r, _ in hit), sum(float(d["wall_seconds"]) for _, d in hit)
            print(
                f"only the {len(hit)} scenario(s) the search reached: epochs {rs_ep} / {doc_ep} = {rs_ep / max(doc_ep, 1):.2f}x;"
                f" wall {rs_s:.0f} s / {doc_s:.0f} s = {rs_s / max(doc_s, 1e-9):.2f}x"
            )
    if skipped:
        print(f"not benchmarked (the doctor did not repair them, so there is no metric to reach): {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
