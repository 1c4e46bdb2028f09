"""Racing one round's branches: train in rungs, stop those clearly lost (:mod:`plateau_doctor.engine.racing`).

Each rung is one call of the executor's ``branches`` (in sequence, a process pool or Dask)
with the survivors' plans set to the rung's end epoch; a branch resumes from the model its
last rung saved, so only paths cross processes and a seed gives the same race.

The race reads each branch as it stands at the rung's end (``current_metrics``: how it is
doing now says whether more epochs are worth it); the branch itself keeps its best epoch so
far (``metrics``, ``model_path``), which is what the round's verdict judges, pruned or not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.engine.racing import Standing, finite_or_low, race_decision, rung_epochs
from plateau_doctor.engine.verdict import BranchOutcome, score
from plateau_doctor.run.audit_view import audit_for

RACE_BEHIND = 0.05
"""Score a branch may trail the leader by at a rung and still go on (at least twice the margin)."""


def race_branches(
    config: DoctorConfig, plans: list[RemedyPlan], folder: str, executor, audit, split_dir: str,
    at_level: Callable[[BranchOutcome], bool] | None = None,
    warm: dict[str, BranchOutcome] | None = None,
) -> list[BranchOutcome]:
    """Train a round's branches in rungs; after each, stop those clearly lost. Returns one outcome per plan.

    ``at_level`` reads a branch's kept model against the attainable level (the round's own
    verdict): when the best kept model is there at a rung, the others stop and it trains on alone.
    ``warm`` maps a plan to a continuation: its files are already in ``folder`` (``branch.copy_branch``),
    the outcome holds the earlier branch's history and ``warm_epochs``, and the plan's
    ``training.epochs`` counts the epochs it adds.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    targets = {plan.remedy: int(plan.overrides.get("training.epochs", config.training.epochs)) for plan in plans}
    rungs = rung_epochs(max(targets.values()))
    outcomes: dict[str, BranchOutcome] = dict(warm or {})
    done = {plan.remedy: outcomes[plan.remedy].warm_epochs if plan.remedy in outcomes else 0 for plan in plans}
    active = list(plans)
    behind = max(RACE_BEHIND, 2 * config.remedies.margin)
    for rung_index, end in enumerate(rungs):
        jobs = [_rung_plan(plan, outcomes.get(plan.remedy), done[plan.remedy] + min(end, targets[plan.remedy]))
                for plan in active]
        for plan, result in zip(active, executor.branches(config, jobs, folder, split_dir)):
            outcomes[plan.remedy] = _merge_rung(outcomes.get(plan.remedy), result)
        last = rung_index == len(rungs) - 1
        running = [
            plan for plan in active
            if outcomes[plan.remedy].status == "ok" and not outcomes[plan.remedy].finished
            and outcomes[plan.remedy].epochs < targets[plan.remedy]
        ]
        for plan in active:
            if plan not in running:
                outcomes[plan.remedy].finished = True
        if last or not running:
            break
        standings = [
            _standing(outcomes[plan.remedy], audit_for(with_overrides(config, plan.overrides, plan.remedy), audit),
                      config, plan not in running)
            for plan in active
            if outcomes[plan.remedy].status == "ok"
        ]
        stopped = race_decision(standings, behind=behind, at_level=_leader_at_level(outcomes, active, running, audit, at_level))
        for name, why in stopped.items():
            outcome = outcomes[name]
            outcome.status, outcome.pruned_reason = "pruned", f"pruned at epoch {outcome.epochs}: {why}"
            if outcome.best_epoch is not None and outcome.best_epoch < outcome.epochs:
                outcome.pruned_reason += f"; its best epoch, {outcome.best_epoch}, is kept"
            executor.logger.info("racing: %s %s", name, outcome.pruned_reason)
        active = [plan for plan in running if plan.remedy not in stopped]
        if not active:
            break
    for outcome in outcomes.values():
        if outcome.status != "failed":
            outcome.params["training.epochs"] = outcome.warm_epochs + outcome.epochs
    return [outcomes[plan.remedy] for plan in plans]


def _leader_at_level(outcomes, active, running, audit, at_level) -> str | None:
    """The branch whose kept model scores best, when it is at the level and a rival still runs; else None."""
    if at_level is None:
        return None
    candidates = [outcomes[plan.remedy] for plan in active if outcomes[plan.remedy].status == "ok"]
    if not candidates:
        return None
    # Of branches tied on their kept model, one that stops itself (early stopping) leads: the
    # same model for fewer epochs.
    leader = max(candidates, key=lambda outcome: (
        finite_or_low(score(audit.task, outcome.metrics)),
        outcome.params.get("training.early_stopping_patience") is not None,
    ))
    rivals_running = any(plan.remedy != leader.remedy for plan in running)
    return leader.remedy if rivals_running and at_level(leader) else None


def _rung_plan(plan: RemedyPlan, so_far: BranchOutcome | None, end: int) -> RemedyPlan:
    """The plan for the next rung: after the first, the branch's own params (the range test's rate included)."""
    if so_far is None:
        return RemedyPlan(plan.remedy, {**plan.overrides, "training.epochs": end}, plan.reason, plan.causes,
                          plan.lr_range_test, plan.confidence)
    return RemedyPlan(plan.remedy, {**so_far.params, "training.epochs": end}, plan.reason, plan.causes, False,
                      plan.confidence)


def _merge_rung(so_far: BranchOutcome | None, result: BranchOutcome) -> BranchOutcome:
    """One branch over its rungs so far: epochs, time and history add up; the latest rung's outcome
    holds the best epoch so far (``run.branch`` compares it with the earlier rungs') and the current metrics."""
    if so_far is None:
        return result
    result.epochs += so_far.epochs
    result.warm_epochs = so_far.warm_epochs
    result.wall_seconds += so_far.wall_seconds
    result.lr_suggestion = so_far.lr_suggestion
    result.params = {**so_far.params, "training.epochs": result.params.get("training.epochs")}
    if so_far.history is not None and result.history is not None:
        result.history = pd.concat([so_far.history, result.history], ignore_index=True)
    elif result.history is None:
        result.history = so_far.history
    return result


def _standing(outcome: BranchOutcome, audit, config: DoctorConfig, finished: bool) -> Standing:
    symptoms: tuple[str, ...] = ()
    if outcome.history is not None and len(outcome.history):
        symptoms = tuple(f.name for f in detect_symptoms(outcome.history, audit, config.detection, setup=outcome.setup))
    return Standing(outcome.remedy, score(audit.task, outcome.current_metrics or outcome.metrics), symptoms, finished)
