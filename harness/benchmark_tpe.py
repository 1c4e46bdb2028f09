"""Benchmark (not a test): the doctor against Optuna's TPE, the search users actually pick.

Per broken, repairable scenario: the doctor runs (or its rows are read from
``harness/scenarios.py --json``), then a seeded TPE study (``optuna.samplers.TPESampler``,
no pruner) trains set-ups from the usual hyperparameter space until one reaches the
doctor's final level, or ``--trials`` trials are spent. The level TPE must reach is never
set below the scenario's known-good bar (known-good metric minus tolerance), so a doctor
that stops short does not make TPE stop short too.

The usual space, around the scenario's own set-up (everything else stays as the user
wrote it: loss, output activation, initializer, dropout, L2, batch size, epochs):

- learning rate, log-uniform over 1e-4..0.3; optimizer: adam, nadam, rmsprop, sgd;
- depth 1..3 hidden layers of one width from 16, 32, 64, 128; activation: relu, tanh, elu, gelu;
- feature scaling on/off; target scaling on/off (regression); class weights none/balanced
  (classification).

``--space wide`` adds what the doctor's remedies also touch: batch size, dropout, L2,
epochs (0.5x..2x), and whether to keep the user's loss, output activation and initializer
or go back to Keras' defaults.

Reported per scenario and overall: whether each reached the known-good bar, and, over the
cases both reached, the doctor's epochs (its whole run: baseline, branches, retraining)
against TPE's (its trials' epochs plus the user's baseline run, the scenario's
``training.epochs``, which a user of TPE trained first to see that something was wrong):
the ratio of the totals, the median of the per-scenario ratios, the worst case and how many
cases cost the doctor more than TPE. Goals (issue 21): at most 0.25x overall, 0.5x as the
median, and no case above 1.5x.

    python harness/benchmark_tpe.py [--set heldout|suite|both] [--only NAME,NAME] [--trials 30]
        [--workers 2] [--space usual|wide] [--rows rows.json] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import suite  # noqa: E402

GOAL_OVERALL = 0.25
GOAL_MEDIAN = 0.5
GOAL_WORST = 1.5
OPTIMIZERS = ("adam", "nadam", "rmsprop", "sgd")
WIDTHS = (16, 32, 64, 128)
ACTIVATIONS = ("relu", "tanh", "elu", "gelu")
KERAS_DEFAULTS = {"training.loss": "auto", "model.output_activation": "auto", "model.kernel_initializer": "glorot_uniform"}


@dataclass
class TpeResult:
    scenario: str
    target: float
    bar: float
    reached_target: bool
    reached_bar: bool
    trials: int
    epochs: int
    baseline_epochs: int
    wall_seconds: float
    best_metric: float
    best_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.baseline_epochs


def suggest(trial, task: str, config, space: str = "usual") -> dict[str, Any]:
    """One point of the search space, as dotted config overrides."""
    depth = trial.suggest_int("depth", 1, 3)
    width = trial.suggest_categorical("width", WIDTHS)
    overrides: dict[str, Any] = {
        "training.learning_rate": trial.suggest_float("learning_rate", 1e-4, 0.3, log=True),
        "training.optimizer": trial.suggest_categorical("optimizer", OPTIMIZERS),
        "model.hidden_units": [width] * depth,
        "model.activation": trial.suggest_categorical("activation", ACTIVATIONS),
        "preprocessing.scale_features": trial.suggest_categorical("scale_features", (True, False)),
    }
    if task == "regression":
        overrides["preprocessing.scale_target"] = trial.suggest_categorical("scale_target", (True, False))
    else:
        overrides["preprocessing.class_weight"] = trial.suggest_categorical("class_weight", ("none", "balanced"))
    if space == "wide":
        overrides["training.batch_size"] = trial.suggest_categorical("batch_size", (16, 32, 64, 128, 256))
        overrides["model.dropout"] = trial.suggest_float("dropout", 0.0, 0.5)
        overrides["model.l2"] = trial.suggest_float("l2", 1e-6, 1e-2, log=True)
        epochs = config.training.epochs
        overrides["training.epochs"] = trial.suggest_int("epochs", max(1, epochs // 2), max(2, epochs * 2))
        for key, default in KERAS_DEFAULTS.items():
            if trial.suggest_categorical(f"default_{key.split('.')[1]}", (False, True)):
                overrides[key] = default
    return overrides


def tpe_search(scenario: suite.Scenario, target: float, bar: float, trials: int, space: str = "usual",
               seed: int = 0) -> TpeResult:
    """TPE trials until one reaches ``target`` or ``trials`` are spent."""
    import optuna

    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.training.fit import fit_branch
    from plateau_doctor.engine.verdict import main_metric

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = suite.scenario_config(scenario)
    task = prepare_from_config(base, audit=False).task
    metric = main_metric(task)
    spent = {"epochs": 0}
    started = time.perf_counter()

    def objective(trial) -> float:
        suite._fresh_keras_session()
        overrides = suggest(trial, task, base, space)
        trial.set_user_attr("overrides", overrides)
        try:
            config = suite.scenario_config(scenario, overrides)
            data = prepare_from_config(config, audit=False)
            result = fit_branch(config, data, branch=f"tpe-{trial.number}")
            spent["epochs"] += result.epochs
            value = float(result.metrics.get(metric, math.nan))
        except Exception:  # a trial that fails spends its time and reaches nothing
            value = math.nan
        # TPE needs a number: a failed or NaN trial counts as the worst possible score.
        return value if math.isfinite(value) else -1e9

    def stop_at_target(study, trial) -> None:
        if trial.value is not None and trial.value >= target:
            study.stop()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, callbacks=[stop_at_target])
    best = study.best_trial
    best_value = best.value if best.value is not None and best.value > -1e9 else math.nan
    return TpeResult(
        scenario=scenario.name, target=target, bar=bar,
        reached_target=math.isfinite(best_value) and best_value >= target,
        reached_bar=math.isfinite(best_value) and best_value >= bar,
        trials=len(study.trials), epochs=spent["epochs"], baseline_epochs=base.training.epochs,
        wall_seconds=round(time.perf_counter() - started, 1), best_metric=best_value,
        best_overrides=best.user_attrs.get("overrides", {}),
    )


def _job(job: tuple[suite.Scenario, dict[str, Any] | None, int, str]) -> tuple[dict[str, Any], TpeResult]:
    scenario, doctor, trials, space = job
    if doctor is None:
        doctor = suite.run_scenario(scenario).to_dict()
    bar = float(scenario.known_good_metric) - scenario.tolerance
    final = float(doctor["final_metric"]) if doctor.get("final_metric") is not None else math.nan
    target = max(final, bar) if math.isfinite(final) else bar
    return doctor, tpe_search(scenario, target, bar, trials, space)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def report(pairs: list[tuple[dict[str, Any], TpeResult]], trials: int) -> str:
    lines = []
    header = (f"{'scenario':34s} {'bar':>6s} {'doc':>6s} {'tpe':>6s} {'doc bar':>7s} {'tpe bar':>7s}"
              f" {'doc ep':>7s} {'tpe ep':>7s} {'ratio':>6s} {'trials':>6s} {'tpe s':>6s}")
    lines += [header, "-" * len(header)]
    both, ratios = [], []
    for doctor, tpe in pairs:
        doc_bar = bool(doctor.get("within_tolerance"))
        doc_ep = int(doctor["epochs_trained_total"])
        ratio = _ratio(doc_ep, tpe.total_epochs)
        if doc_bar and tpe.reached_bar:
            both.append((doc_ep, tpe.total_epochs))
            ratios.append(ratio)
        doc_metric = doctor.get("final_metric")
        lines.append(
            f"{tpe.scenario:34s} {tpe.bar:6.3f} {float(doc_metric if doc_metric is not None else math.nan):6.3f}"
            f" {tpe.best_metric:6.3f} {'yes' if doc_bar else 'no':>7s} {'yes' if tpe.reached_bar else 'no':>7s}"
            f" {doc_ep:7d} {tpe.total_epochs:7d} {ratio:6.2f} {tpe.trials:6d} {tpe.wall_seconds:6.0f}"
        )
    n = len(pairs)
    lines.append("")
    lines.append(f"reached the known-good bar: doctor {sum(bool(d.get('within_tolerance')) for d, _ in pairs)}/{n},"
                 f" TPE {sum(t.reached_bar for _, t in pairs)}/{n} (TPE: up to {trials} trials, stopping at the doctor's"
                 " final level or the bar, whichever is higher)")
    if both:
        doc_total, tpe_total = sum(d for d, _ in both), sum(t for _, t in both)
        overall, median = doc_total / tpe_total, statistics.median(ratios)
        worst = max(ratios)
        worst_name = next(t.scenario for (d, t) in pairs if _ratio(int(d["epochs_trained_total"]), t.total_epochs) == worst)
        lines.append(
            f"over the {len(both)} case(s) both reached: doctor epochs / (TPE epochs + baseline epochs) ="
            f" {doc_total} / {tpe_total} = {overall:.2f}x overall (goal <= {GOAL_OVERALL}),"
            f" median {median:.2f}x (goal <= {GOAL_MEDIAN}), worst {worst:.2f}x ({worst_name}; goal <= {GOAL_WORST}),"
            f" {sum(r > 1.0 for r in ratios)} case(s) above 1.0x, {sum(r > GOAL_WORST for r in ratios)} above {GOAL_WORST}x"
        )
    else:
        lines.append("no case reached by both: no epoch ratio")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="which", choices=["heldout", "suite", "both"], default="heldout")
    parser.add_argument("--only", metavar="NAME,NAME", help="comma-separated scenario names")
    parser.add_argument("--trials", type=int, default=30, help="TPE trials per scenario at most (default 30)")
    parser.add_argument("--workers", type=int, default=suite.DEFAULT_WORKERS)
    parser.add_argument("--space", choices=["usual", "wide"], default="usual")
    parser.add_argument("--rows", metavar="JSON", help="the doctor's rows from `harness/scenarios.py --json` (else run it)")
    parser.add_argument("--json", metavar="PATH", help="also write the doctor's rows and TPE's results as JSON")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")

    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        chosen = suite.select(suite.load_set(args.which), only)
    except ValueError as error:
        parser.error(str(error))
    scenarios = [s for s in chosen if s.kind == "broken" and s.repairable]
    known: dict[str, dict[str, Any]] = {}
    if args.rows:
        known = {row["scenario"]: row for row in json.loads(Path(args.rows).read_text(encoding="utf-8"))}
    jobs = [(s, known.get(s.name), args.trials, args.space) for s in scenarios]
    print(f"{len(jobs)} scenario(s): the doctor ({sum(j[1] is None for j in jobs)} to run) then TPE, up to"
          f" {args.trials} trials each, {args.workers} at a time", file=sys.stderr, flush=True)
    started = time.perf_counter()
    finished: list[tuple[dict[str, Any], TpeResult]] = []

    def progress(pair: tuple[dict[str, Any], TpeResult]) -> None:
        doctor, tpe = pair
        print(f"  done {tpe.scenario}: doctor {doctor['status']} {doctor.get('final_metric')}, {doctor['epochs_trained_total']}"
              f" epochs; TPE best {tpe.best_metric:.4f} (target {tpe.target:.4f}) after {tpe.trials} trials,"
              f" {tpe.epochs} + {tpe.baseline_epochs} epochs", file=sys.stderr, flush=True)
        finished.append(pair)
        if args.json:  # as results arrive: a long benchmark can be read before it ends
            Path(args.json).write_text(
                json.dumps([{"doctor": d, "tpe": asdict(t)} for d, t in finished], indent=1, default=str), encoding="utf-8"
            )

    pairs = suite.parallel_map(_job, jobs, args.workers, on_result=progress)
    print(report(pairs, args.trials))
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s on {args.workers} worker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
