"""The doctor's stages and their order, independent of any orchestrator.

``run_doctor`` is the pipeline. Its stages are plain functions by default (the scenario
suite and the benchmark run it so); the Prefect flow passes its tasks instead, so the UI
shows one task run per stage and per branch while the logic stays here, once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from plateau_doctor.config import DoctorConfig
from plateau_doctor.config import dataset_name
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.data.prepared import prepare_from_config
from plateau_doctor.engine.causes.catalog import untreatable_reason
from plateau_doctor.engine.detection import check_early_stop, detect_symptoms
from plateau_doctor.engine.levels import reference_gap
from plateau_doctor.engine.diagnosis import check_setup, diagnose
from plateau_doctor.engine.planning import RemedyPlan, apply_plan, plan_remedies
from plateau_doctor.results.publish import RunRecord, write_run
from plateau_doctor.run.search import SearchRequest
from plateau_doctor.results.store import RunWriter, new_run_id
from plateau_doctor.schema import Finding, ResolvedSetup
from plateau_doctor.run.timing import StageClock
from plateau_doctor.engine.planning import MIN_BRANCH_EPOCHS
from plateau_doctor.engine.verdict import (
    BranchOutcome,
    choose_winner,
    is_sick,
    level_reached,
    level_to_beat,
    main_metric,
    repair_status,
    round_stop_reason,
    run_status,
    score,
)

log = logging.getLogger("plateau_doctor")


# --------------------------------------------------------------------------- stages
def load_stage(config: DoctorConfig) -> PreparedData:
    """Load, validate, split (seeded, stratified), scale on the training split, audit."""
    return prepare_from_config(config)  # the split and audit the CLI prepared, when it did


def check_setup_stage(config: DoctorConfig, data: PreparedData) -> tuple[ResolvedSetup, list[Finding]]:
    """Mismatches the config alone reveals, found before any epoch is spent."""
    from plateau_doctor.training.model import setup_without_building

    setup = setup_without_building(config, data.task, data.n_classes, data.x_train.shape[1])
    return setup, check_setup(setup, data.audit)


def baseline_stage(config: DoctorConfig, data: PreparedData, setup: ResolvedSetup, model_path: str):
    """Fit the user's model; stop it once a pathology is confirmed (detection.stop_sick_baseline)."""
    from plateau_doctor.training.fit import fit_branch

    monitor = None
    if config.detection.stop_sick_baseline:
        def monitor(records):
            return check_early_stop(records, data.audit, config.detection, setup=setup)

    result = fit_branch(config, data, branch="baseline", monitor=monitor)
    result.save_model(model_path)
    return result


def diagnose_stage(
    history, data: PreparedData, setup: ResolvedSetup, config: DoctorConfig, preflight: list[Finding]
) -> tuple[list[Finding], list[Finding]]:
    """Symptoms from the curves, then causes ranked by confidence."""
    symptoms = detect_symptoms(history, data.audit, config.detection, setup=setup)
    causes = diagnose(history, data.audit, setup, config.detection, symptoms=symptoms, preflight=preflight, config=config)
    return symptoms, causes


def plan_stage(causes, symptoms, config: DoctorConfig, setup: ResolvedSetup, data: PreparedData, history) -> list[RemedyPlan]:
    """Only the branches that the causes point to, within remedies.enabled and the epoch budget."""
    return plan_remedies(causes, symptoms, config, setup, data.audit, history=history)


def branches_in_sequence(config: DoctorConfig, plans: list[RemedyPlan], folder: str) -> list[BranchOutcome]:
    """Every branch one after the other in this process (each fit re-seeds, so results repeat)."""
    from plateau_doctor.run.branch import run_branch

    Path(folder).mkdir(parents=True, exist_ok=True)
    return [run_branch(config, plan, branch_model_path(folder, index, plan)) for index, plan in enumerate(plans)]


def branch_model_path(folder: str, index: int, plan: RemedyPlan) -> str:
    """Where a branch keeps its model. The remedy's name is unique in a round and must not move
    between rungs (a raced branch resumes from this file), so ``index`` does not enter it."""
    return str(Path(folder) / f"branch-{plan.remedy.replace('+', '_')}.keras")


def retrain_stage(config: DoctorConfig, model_path: str):
    """Retrain the winning recipe to completion; returns the fit and its preprocessing."""
    from plateau_doctor.training.fit import fit_branch

    data = prepare_from_config(config, audit=False)
    result = fit_branch(config, data, branch="final", use_saved_model=config.model.path is not None)
    result.save_model(model_path)
    return result, data.preprocessor.to_dict()


def write_stage(record: RunRecord, writer: RunWriter) -> tuple[dict[str, Any], Path]:
    """Stage every file, then publish them all at once."""
    summary = write_run(record, writer)
    return summary, writer.publish()


def search_stage(config: DoctorConfig, request: SearchRequest, folder: str) -> list[BranchOutcome]:
    """The guided search (Optuna TPE with successive halving), its trials one after another here."""
    from plateau_doctor.run.search import run_search

    return run_search(config, request, folder)


@dataclass
class Stages:
    """The callables ``run_doctor`` uses; the flow swaps in its Prefect tasks."""

    load: Callable = load_stage
    check_setup: Callable = check_setup_stage
    fit_baseline: Callable = baseline_stage
    diagnose: Callable = diagnose_stage
    plan: Callable = plan_stage
    run_branches: Callable = branches_in_sequence
    search: Callable = search_stage
    retrain: Callable = retrain_stage
    write: Callable = write_stage
    logger: Any = field(default=log)


# --------------------------------------------------------------------------- the pipeline
def run_doctor(config: DoctorConfig, stages: Stages | None = None) -> tuple[dict[str, Any], Path, RunRecord]:
    """Data -> baseline -> diagnosis -> remedies -> verified winner -> results. Returns (summary, run_dir, record)."""
    clock = StageClock()
    stages = clock.wrap_stages(stages or Stages())
    logger = stages.logger
    started = time.perf_counter()
    logger.info("stage 1/6 data: loading %s (target %r)", config.data.path, config.data.target)
    data = stages.load(config)
    audit = data.audit
    logger.info(
        "data: %s task, %d training / %d validation rows; trivial val_loss %.4g; reference %s %s",
        audit.task, audit.n_train, audit.n_val, audit.trivial_val_loss, audit.reference_model, audit.reference_metrics,
    )
    setup, preflight = stages.check_setup(config, data)
    for finding in preflight:
        logger.warning("before training: %s: %s", finding.name, finding.evidence)

    run_id = new_run_id(dataset_name(config))
    writer = RunWriter(config.output.dir, run_id)
    try:
        logger.info("stage 2/6 baseline: fitting the user's model for up to %d epochs", config.training.epochs)
        baseline_path = str(writer.path("baseline.keras"))
        baseline = stages.fit_baseline(config, data, setup, baseline_path)
        logger.info("stage 3/6 diagnosis after %d epochs", baseline.epochs)
        symptoms, causes = stages.diagnose(baseline.history, data, baseline.setup, config, preflight)
        for finding in (*symptoms, *causes):
            logger.info("%s %s (%.2f): %s", finding.kind, finding.name, finding.confidence, finding.evidence)
        record = RunRecord(
            run_id=run_id,
            config=config,
            audit=audit,
            setup=baseline.setup,
            preprocessing=data.preprocessor.to_dict(),
            preflight=preflight,
            baseline_history=baseline.history,
            baseline_metrics=baseline.metrics,
            baseline_epochs=baseline.epochs,
            baseline_model_path=baseline_path,
            stopped_by=baseline.stopped_by,
            symptoms=symptoms,
            causes=causes,
        )
        if is_sick(symptoms):
            plans = stages.plan(causes, symptoms, config, baseline.setup, data, baseline.history)
            remedy_stage(record, plans, stages, writer, data)
        record.status = run_status(symptoms, record.winner, final_status(record))
        record.wall_seconds = time.perf_counter() - started
        record.timings = clock.to_dict()
        logger.info("stage 6/6 results: writing run %s", run_id)
        summary, run_dir = stages.write(record, writer)
    except BaseException:
        writer.abort()
        raise
    summary = {**summary, "timings": clock.to_dict()}  # summary.json has every stage but its own writing
    logger.info("verdict: %s; report: %s", summary["status"], run_dir / "report.html")
    return summary, run_dir, record


def remedy_stage(
    record: RunRecord, plans: list[RemedyPlan], stages: Stages, writer: RunWriter, data: PreparedData
) -> None:
    """Rounds of raced branches until the level, then the guided search if still short; finish the winner.

    Round 1 treats the baseline. While a round's winner is short of the attainable level,
    it becomes the patient: its own curves are diagnosed, the next round is planned from
    its config, and the next winner must beat it by the margin. The rounds stop at the
    level, when a round brings less than the margin, after ``remedies.max_rounds`` or when
    ``remedies.budget_epochs`` is spent (:func:`verdict.round_stop_reason`). When no rule
    applies, or the rounds stop short, ``remedies.search_trials`` Optuna trials search the
    remedy space from the best model so far, seeded with the last diagnosis.
    """
    logger, config, audit = stages.logger, record.config, record.audit
    task, remedies = audit.task, config.remedies
    patient = Patient(
        config=config,
        overrides={},
        metrics=level_to_beat(task, record.baseline_metrics, audit.trivial_metrics, audit.trivial_val_loss),
        causes=list(record.causes),
        symptoms=list(record.symptoms),
    )
    budget_left = remedies.budget_epochs
    stop_reason = ""
    pending: list[RemedyPlan] = []  # planned by the last diagnosis but not run: the search tries them first
    round_index = 0
    plans = _builder_can_run(plans, record)
    while plans:
        round_index += 1
        logger.info("stage 4/6 remedies, round %d: %s", round_index, "; ".join(f"{p.remedy} {p.overrides}" for p in plans))
        folder = str(writer.scratch(f"branches-round-{round_index}"))
        outcomes = race_branches(patient.config, plans, folder, stages.run_branches, audit, logger)
        for outcome in outcomes:
            outcome.round = round_index
            outcome.params = {**patient.overrides, **outcome.params}
            logger.info(
                "round %d remedy %s: %s, %d epochs, %s", round_index, outcome.remedy, outcome.status, outcome.epochs,
                outcome.error or outcome.pruned_reason or outcome.metrics,
            )
        record.outcomes.extend(outcomes)
        budget_left -= sum(o.epochs for o in outcomes)
        winner, reason = choose_winner(task, patient.metrics, outcomes, remedies.margin)
        record.round_reasons.append(f"round {round_index}: {reason}")
        logger.info("stage 5/6 verification, round %d: %s", round_index, reason)
        if winner is None:
            stop_reason = f"round {round_index} brought no branch past the margin {remedies.margin}"
            break
        gain = score(task, winner.metrics) - score(task, patient.metrics)
        record.winner, record.winner_reason = winner, reason
        record.round_winners.append(winner)
        if level_reached(task, winner.metrics, audit.reference_metrics, remedies.tolerance):
            stop_reason = f"round {round_index} reached the attainable level"
            break
        patient = _next_patient(record, winner, stages, data, budget_left)
        record.round_findings.extend((round_index, f) for f in (*patient.symptoms, *patient.causes))
        plans = (
            stages.plan(patient.causes, patient.symptoms, patient.plan_config, winner.setup, patient.data, winner.history)
            if is_sick(patient.symptoms)
            else []
        )
        plans = _builder_can_run(plans, record)
        stop_reason = round_stop_reason(
            round_index, remedies.max_rounds, False, gain, remedies.margin, budget_left, MIN_BRANCH_EPOCHS, len(plans)
        ) or ""
        if stop_reason:
            pending = plans
            break
    if round_index == 0:
        untreatable = untreatable_reason(record.causes)
        stop_reason = "no remedy branch applies to these causes" + (f" ({untreatable})" if untreatable else "")
        record.winner_reason = stop_reason
        logger.info("stage 4/6 remedies: %s", stop_reason)
    record.stop_reason = stop_reason
    candidates = [{**patient.overrides, **plan.overrides} for plan in pending]
    _search_if_short(record, patient, stages, writer, data, budget_left, round_index + 1, candidates)
    if record.winner is not None:
        _finish_winner(record, stages, writer)


def plans_for_builder(plans: list[RemedyPlan], config: DoctorConfig) -> tuple[list[RemedyPlan], list[BranchOutcome]]:
    """The plans a ``model.builder`` can carry out, and the others as pruned outcomes saying why."""
    if not config.model.builder or not plans:
        return plans, []
    from plateau_doctor.training.builder import accepted_settings, load_builder, split_plans

    kept, skipped = split_plans(plans, accepted_settings(load_builder(config.model.builder)))
    # The report's remedies table shows ``error``: there it says why the branch did not run.
    return kept, [BranchOutcome(p.remedy, dict(p.overrides), why, status="pruned", error=why) for p, why in skipped]


def _builder_can_run(plans: list[RemedyPlan], record: RunRecord) -> list[RemedyPlan]:
    """Drop the plans a ``model.builder`` ignores; they go into the record as pruned, with the reason."""
    kept, skipped = plans_for_builder(plans, record.config)
    record.outcomes.extend(skipped)
    return kept


@dataclass
class Patient:
    """What a round treats: the baseline, then each round's winner while it is short of the level."""

    config: DoctorConfig
    overrides: dict[str, Any]  # from the user's config to this one
    metrics: dict[str, float]
    causes: list[Finding]
    symptoms: list[Finding]
    plan_config: DoctorConfig | None = None  # ``config`` with the budget that is left
    data: Any = None  # the prepared data with the audit as this patient sees it


def _next_patient(record: RunRecord, winner: BranchOutcome, stages: Stages, data, budget_left: int) -> Patient:
    """The winner as the next patient: its config, and its own curves and signals diagnosed."""
    config = record.config
    epochs = max(config.training.epochs, int(winner.params.get("training.epochs", config.training.epochs)))
    overrides = {**winner.params, "training.epochs": epochs}
    patient_config = apply_plan(config, RemedyPlan(winner.remedy, overrides, "", []))
    seen_by = audit_for(patient_config, record.audit)
    patient_data = dataclasses.replace(data, audit=seen_by)
    preflight = check_setup(winner.setup, seen_by)
    symptoms, causes = stages.diagnose(winner.history, patient_data, winner.setup, patient_config, preflight)
    for finding in (*symptoms, *causes):
        stages.logger.info("%s's %s %s (%.2f): %s", winner.remedy, finding.kind, finding.name, finding.confidence, finding.evidence)
    plan_config = apply_plan(
        patient_config, RemedyPlan("budget", {"remedies.budget_epochs": max(1, budget_left)}, "", [])
    )
    return Patient(patient_config, overrides, winner.metrics, list(causes), list(symptoms), plan_config, patient_data)


def _search_if_short(
    record: RunRecord,
    patient: Patient,
    stages: Stages,
    writer: RunWriter,
    data,
    budget_left: int,
    round_index: int,
    candidates: list[dict[str, Any]],
) -> None:
    """The guided search, when the rules ran out short of the level and the data has a signal."""
    from plateau_doctor.engine.search_space import search_wanted

    config, audit = record.config, record.audit
    best_metrics = record.winner.metrics if record.winner is not None else patient.metrics
    why = search_wanted(config, audit, patient.causes, best_metrics, budget_left, record.stop_reason)
    if why is None:
        return
    stages.logger.info("stage 4/6 remedies, round %d: guided search (%s)", round_index, why)
    request = SearchRequest(
        base_overrides=dict(patient.overrides),
        causes=list(patient.causes),
        symptoms=list(patient.symptoms),
        candidates=candidates,
        tried=[dict(o.params) for o in record.outcomes if o.status == "ok"],
        tried_scores=[score(audit.task, o.metrics) for o in record.outcomes if o.status == "ok"],
        trials=config.remedies.search_trials,
        budget_epochs=budget_left,
        round=round_index,
        why=why,
        audit=audit,
    )
    outcomes = stages.search(config, request, str(writer.scratch(f"search-round-{round_index}")))
    record.outcomes.extend(outcomes)
    winner, reason = choose_winner(audit.task, best_metrics, outcomes, config.remedies.margin)
    record.round_reasons.append(f"search: {reason}")
    stages.logger.info("stage 5/6 verification, search: %s", reason)
    if winner is not None:
        record.winner, record.winner_reason = winner, reason
        record.round_winners.append(winner)


def _winner_status(record: RunRecord, history) -> str:
    audit, config, winner = record.audit, record.config, record.winner
    healthy = False
    if history is not None and len(history) and winner.setup is not None:
        seen_by = audit_for(apply_plan(config, RemedyPlan(winner.remedy, winner.params, "", [])), audit)
        symptoms = detect_symptoms(history, seen_by, config.detection, setup=winner.setup)
        gap = reference_gap(history, seen_by, config.detection, setup=winner.setup)
        healthy = not is_sick(symptoms) and not (gap is not None and gap.far)
    record.final_healthy = healthy
    return repair_status(audit.task, record.final_metrics or winner.metrics, audit.reference_metrics,
                         config.remedies.tolerance, linear_reference_metrics=audit.linear_reference_metrics,
                         final_healthy=healthy)


def audit_for(config: DoctorConfig, audit):
    """The audit as a branch trained with ``config`` sees the data: its own scaling, its losses in its target's scale.

    The raw statistics and the references do not change; whether the features and the
    target are scaled does, and so does the scale of the regression losses (MSE on the
    standardized target is the raw MSE over the target's variance).
    """
    scaled_target = config.preprocessing.scale_target and audit.task == "regression"
    changes: dict[str, Any] = {"scaled_features": config.preprocessing.scale_features, "scaled_target": scaled_target}
    variance = audit.target_std**2
    if audit.task == "regression" and scaled_target != audit.scaled_target and math.isfinite(variance) and variance > 0:
        factor = 1 / variance if scaled_target else variance
        changes["trivial_val_loss"] = audit.trivial_val_loss * factor
        changes["reference_val_loss"] = audit.reference_val_loss * factor
    return dataclasses.replace(audit, **changes)


def final_status(record: RunRecord) -> str:
    """``repaired`` or ``improved`` for the run's winner (see :func:`verdict.repair_status`), on the final model."""
    if record.winner is None:
        return "not_repaired"
    history = record.final_history if record.final_history is not None else record.winner.history
    return _winner_status(record, history)


def race_branches(
    config: DoctorConfig, plans: list[RemedyPlan], folder: str, run_branches: Callable, audit, logger=log
) -> list[BranchOutcome]:
    """Train a round's branches in rungs; after each, stop those clearly lost (:mod:`plateau_doctor.engine.racing`).

    Each rung is one call of ``run_branches`` (in sequence, or Prefect's process pool) with
    the survivors' plans set to the rung's end epoch; a branch resumes from the model its
    last rung saved, so only paths cross processes and a seed gives the same race.
    """
    from plateau_doctor.engine.racing import race_decision, rung_epochs

    Path(folder).mkdir(parents=True, exist_ok=True)
    targets = {plan.remedy: int(plan.overrides.get("training.epochs", config.training.epochs)) for plan in plans}
    rungs = rung_epochs(max(targets.values()))
    outcomes: dict[str, BranchOutcome] = {}
    active = list(plans)
    behind = max(RACE_BEHIND, 2 * config.remedies.margin)
    for rung_index, end in enumerate(rungs):
        jobs = [_rung_plan(plan, outcomes.get(plan.remedy), min(end, targets[plan.remedy])) for plan in active]
        for plan, result in zip(active, run_branches(config, jobs, folder)):
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
            _standing(outcomes[plan.remedy], audit_for(apply_plan(config, plan), audit), config, plan not in running)
            for plan in active
            if outcomes[plan.remedy].status == "ok"
        ]
        stopped = race_decision(standings, behind=behind)
        for name, why in stopped.items():
            outcome = outcomes[name]
            outcome.status, outcome.pruned_reason = "pruned", f"pruned at epoch {outcome.epochs}: {why}"
            logger.info("racing: %s %s", name, outcome.pruned_reason)
        active = [plan for plan in running if plan.remedy not in stopped]
        if not active:
            break
    for outcome in outcomes.values():
        if outcome.status != "failed":
            outcome.params["training.epochs"] = outcome.epochs
    return [outcomes[plan.remedy] for plan in plans]


RACE_BEHIND = 0.05
"""Score a branch may trail the leader by at a rung and still go on (at least twice the margin)."""


def _rung_plan(plan: RemedyPlan, so_far: BranchOutcome | None, end: int) -> RemedyPlan:
    """The plan for the next rung: after the first, the branch's own params (the range test's rate included)."""
    if so_far is None:
        return RemedyPlan(plan.remedy, {**plan.overrides, "training.epochs": end}, plan.reason, plan.causes,
                          plan.lr_range_test, plan.confidence)
    return RemedyPlan(plan.remedy, {**so_far.params, "training.epochs": end}, plan.reason, plan.causes, False,
                      plan.confidence)


def _merge_rung(so_far: BranchOutcome | None, result: BranchOutcome) -> BranchOutcome:
    """One branch over its rungs so far: epochs, time and history add up; the latest model and metrics count."""
    if so_far is None:
        return result
    result.epochs += so_far.epochs
    result.wall_seconds += so_far.wall_seconds
    result.lr_suggestion = so_far.lr_suggestion
    result.params = {**so_far.params, "training.epochs": result.params.get("training.epochs")}
    if so_far.history is not None and result.history is not None:
        result.history = pd.concat([so_far.history, result.history], ignore_index=True)
    elif result.history is None:
        result.history = so_far.history
    return result


def _standing(outcome: BranchOutcome, audit, config: DoctorConfig, finished: bool):
    from plateau_doctor.engine.racing import Standing

    symptoms: tuple[str, ...] = ()
    if outcome.history is not None and len(outcome.history):
        symptoms = tuple(f.name for f in detect_symptoms(outcome.history, audit, config.detection, setup=outcome.setup))
    return Standing(outcome.remedy, score(audit.task, outcome.metrics), symptoms, finished)


def _finish_winner(record: RunRecord, stages: Stages, writer: RunWriter) -> None:
    """Retrain the winner to the user's epoch count when its branch ran fewer; keep the better model."""
    winner, config = record.winner, record.config
    winner_config = apply_plan(config, RemedyPlan(winner.remedy, winner.params, winner.reason, []))
    keep_branch = winner.epochs >= config.training.epochs or winner_config.training.early_stopping_patience is not None
    record.final_metrics, record.final_model_path = winner.metrics, winner.model_path
    record.final_preprocessing = winner.preprocessing
    if keep_branch:
        return
    full = apply_plan(winner_config, RemedyPlan("final", {"training.epochs": config.training.epochs}, "", []))
    final_path = str(writer.scratch("final.keras"))
    final, preprocessing = stages.retrain(full, final_path)
    record.final_history, record.final_epochs = final.history, final.epochs
    metric = main_metric(record.audit.task)
    final_value, branch_value = final.metrics.get(metric, math.nan), winner.metrics.get(metric, math.nan)
    if math.isfinite(final_value) and final_value >= branch_value:
        record.final_metrics, record.final_model_path, record.final_preprocessing = final.metrics, final_path, preprocessing
    else:
        record.winner_reason += (
            f"; retraining to {config.training.epochs} epochs reached {metric} {final_value:.4f}, "
            "below the branch's, so the branch's model is kept"
        )
