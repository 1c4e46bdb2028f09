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

With ``--set both`` the figures are given for each set, then for both together. ``--tpe``
reuses an earlier run's TPE studies: a seeded study draws the same trials whatever level it
aims at, so its stored trials answer any target one of them reached (or any at all when it
spent every trial); only the others run again.

    python harness/benchmark_tpe.py [--set heldout|suite|both] [--only NAME,NAME] [--trials 30]
        [--workers 2] [--space usual|wide] [--rows rows.json] [--json out.json] [--tpe earlier.json]
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
    values: list[float] = field(default_factory=list)  # each trial's metric, in order (NaN: failed)
    trial_epochs: list[int] = field(default_factory=list)  # each trial's epochs, in order
    trials_allowed: int = 0  # the --trials it ran under

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.baseline_epochs


def replay(stored: TpeResult, target: float) -> TpeResult | None:
    """``stored``'s study stopped at ``target`` instead, or None when its trials cannot tell.

    The seeded study draws the same trials whatever it aims at (the target only says when it
    stops), so a stored run answers any target that one of its trials reached, and any
    target at all when it spent every trial it was allowed. A study stored without its
    trials' values (an older JSON) answers only the target it ran for.
    """
    if not stored.values:
        return stored if target == stored.target else None
    reached = next((i for i, value in enumerate(stored.values) if math.isfinite(value) and value >= target), None)
    if reached is None and len(stored.values) < stored.trials_allowed:
        return None  # it stopped at a lower target: the trials it did not run might reach this one
    used = len(stored.values) if reached is None else reached + 1
    values = stored.values[:used]
    finite = [v for v in values if math.isfinite(v)]
    best = max(finite) if finite else math.nan
    return TpeResult(
        scenario=stored.scenario, target=target, bar=stored.bar,
        reached_target=reached is not None, reached_bar=math.isfinite(best) and best >= stored.bar,
        trials=used, epochs=sum(stored.trial_epochs[:used]), baseline_epochs=stored.baseline_epochs,
        wall_seconds=stored.wall_seconds, best_metric=best,
        best_overrides=stored.best_overrides if used == len(stored.values) else {},
        values=list(stored.values), trial_epochs=list(stored.trial_epochs), trials_allowed=stored.trials_allowed,
    )


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
    spent: dict[str, list] = {"values": [], "epochs": []}
    started = time.perf_counter()

    def objective(trial) -> float:
        suite._fresh_keras_session()
        overrides = suggest(trial, task, base, space)
        trial.set_user_attr("overrides", overrides)
        epochs = 0
        try:
            config = suite.scenario_config(scenario, overrides)
            data = prepare_from_config(config, audit=False)
            result = fit_branch(config, data, branch=f"tpe-{trial.number}")
            epochs, value = result.epochs, float(result.metrics.get(metric, math.nan))
        except Exception:  # a trial that fails spends its time and reaches nothing
            value = math.nan
        spent["values"].append(value)
        spent["epochs"].append(epochs)
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
        trials=len(study.trials), epochs=sum(spent["epochs"]), baseline_epochs=base.training.epochs,
        wall_seconds=round(time.perf_counter() - started, 1), best_metric=best_value,
        best_overrides=best.user_attrs.get("overrides", {}),
        values=spent["values"], trial_epochs=spent["epochs"], trials_allowed=trials,
    )


Job = tuple[suite.Scenario, "dict[str, Any] | None", int, str, "TpeResult | None"]


def target_of(scenario: suite.Scenario, doctor: dict[str, Any]) -> tuple[float, float]:
    """The level TPE must reach for this doctor row, and the known-good bar (never above the target)."""
    bar = float(scenario.known_good_metric) - scenario.tolerance
    final = float(doctor["final_metric"]) if doctor.get("final_metric") is not None else math.nan
    return (max(final, bar) if math.isfinite(final) else bar), bar


def _job(job: Job) -> tuple[dict[str, Any], TpeResult]:
    scenario, doctor, trials, space, stored = job
    if doctor is None:
        doctor = suite.run_scenario(scenario).to_dict()
    target, bar = target_of(scenario, doctor)
    replayed = replay(stored, target) if stored is not None and stored.trials_allowed == trials else None
    return doctor, replayed or tpe_search(scenario, target, bar, trials, space)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def report(pairs: list[tuple[dict[str, Any], TpeResult]], trials: int) -> str:
    """The table and the figures; with rows of both sets, the figures of each set apart, then of both."""
    sets = sorted({d.get("scenario_set", "suite") for d, _ in pairs})
    if len(sets) < 2:
        return _report_one(pairs, trials)
    parts = [f"== {name} ==\n" + _report_one([p for p in pairs if p[0].get("scenario_set", "suite") == name], trials)
             for name in sets]
    return "\n\n".join([*parts, "== both sets ==\n" + _figures(pairs, trials)])


def _report_one(pairs: list[tuple[dict[str, Any], TpeResult]], trials: int) -> str:
    lines = []
    header = (f"{'scenario':34s} {'bar':>6s} {'doc':>6s} {'tpe':>6s} {'doc bar':>7s} {'tpe bar':>7s}"
              f" {'doc ep':>7s} {'tpe ep':>7s} {'ratio':>6s} {'trials':>6s} {'tpe s':>6s}")
    lines += [header, "-" * len(header)]
    for doctor, tpe in pairs:
        doc_bar = bool(doctor.get("within_tolerance"))
        doc_ep = int(doctor["epochs_trained_total"])
        ratio = _ratio(doc_ep, tpe.total_epochs)
        doc_metric = doctor.get("final_metric")
        lines.append(
            f"{tpe.scenario:34s} {tpe.bar:6.3f} {float(doc_metric if doc_metric is not None else math.nan):6.3f}"
            f" {tpe.best_metric:6.3f} {'yes' if doc_bar else 'no':>7s} {'yes' if tpe.reached_bar else 'no':>7s}"
            f" {doc_ep:7d} {tpe.total_epochs:7d} {ratio:6.2f} {tpe.trials:6d} {tpe.wall_seconds:6.0f}"
        )
    lines.append("")
    lines.append(_figures(pairs, trials))
    return "\n".join(lines)


def _figures(pairs: list[tuple[dict[str, Any], TpeResult]], trials: int) -> str:
    """Who reached the bar, and over the cases both reached the doctor's epochs against TPE's."""
    lines = []
    both = [(int(d["epochs_trained_total"]), t.total_epochs, t.scenario) for d, t in pairs
            if d.get("within_tolerance") and t.reached_bar]
    ratios = [_ratio(d, t) for d, t, _ in both]
    n = len(pairs)
    lines.append(f"reached the known-good bar: doctor {sum(bool(d.get('within_tolerance')) for d, _ in pairs)}/{n},"
                 f" TPE {sum(t.reached_bar for _, t in pairs)}/{n} (TPE: up to {trials} trials, stopping at the doctor's"
                 " final level or the bar, whichever is higher)")
    if both:
        doc_total, tpe_total = sum(d for d, _, _ in both), sum(t for _, t, _ in both)
        overall, median = doc_total / tpe_total, statistics.median(ratios)
        worst, worst_name = max(zip(ratios, (name for _, _, name in both)))
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
    parser.add_argument("--tpe", metavar="JSON", help="an earlier --json: reuse each scenario's TPE trials where they"
                        " settle the new target (else its study runs again)")
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
    stored: dict[str, TpeResult] = {}
    if args.tpe:
        stored = {pair["tpe"]["scenario"]: TpeResult(**pair["tpe"])
                  for pair in json.loads(Path(args.tpe).read_text(encoding="utf-8"))}
    jobs = [(s, known.get(s.name), args.trials, args.space, stored.get(s.name)) for s in scenarios]
    print(f"{len(jobs)} scenario(s): the doctor ({sum(j[1] is None for j in jobs)} to run) then TPE, up to"
          f" {args.trials} trials each ({len(stored)} stored studies to reuse where they settle the target),"
          f" {args.workers} at a time", file=sys.stderr, flush=True)
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
