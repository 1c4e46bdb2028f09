"""The doctor's stages, each ``(config, state) -> state``, and the steps they share with the rounds.

``run.pipeline`` wires the stages in order. The steps (:func:`diagnose_history`,
:func:`plan_for`, :func:`retrain`, :func:`search`) are plain functions that the rounds call
through the run's executor, so that an orchestrator can make each its own unit of work.
"""

from __future__ import annotations

import logging
import time

from plateau_doctor.config import DoctorConfig, dataset_name, with_overrides
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.data.prepared import load_split, prepare_from_config
from plateau_doctor.engine.detection import check_early_stop, detect_symptoms
from plateau_doctor.engine.diagnosis import check_setup as setup_mismatches
from plateau_doctor.engine.diagnosis import diagnose
from plateau_doctor.engine.planning import RemedyPlan, plan_remedies
from plateau_doctor.engine.levels import reference_gap
from plateau_doctor.engine.verdict import is_sick, repair_status, run_status
from plateau_doctor.run.audit_view import audit_for
from plateau_doctor.run.branch import kept_predictions, level_comparison, read_predictions, save_kept, save_predictions
from plateau_doctor.results.publish import RunRecord, write_run
from plateau_doctor.results.store import RunWriter, new_run_id
from plateau_doctor.run.state import RunState
from plateau_doctor.schema import Finding, ResolvedSetup

log = logging.getLogger("plateau_doctor")


# --------------------------------------------------------------------------- stages
def load(config: DoctorConfig, state: RunState) -> RunState:
    """The table's prepared split, as this config preprocesses it, with the data audit (both kept on disk)."""
    state.executor.logger.info("stage 1/6 data: loading %s (target %r)", config.data.path, config.data.target)
    state.data = prepare_from_config(config)  # the split and audit the CLI prepared, when it did
    audit = state.data.audit
    state.executor.logger.info(
        "data: %s task, %d training / %d validation rows; trivial val_loss %.4g; reference %s %s",
        audit.task, audit.n_train, audit.n_val, audit.trivial_val_loss, audit.reference_model, audit.reference_metrics,
    )
    return state


def check_setup(config: DoctorConfig, state: RunState) -> RunState:
    """Mismatches the config alone reveals, found before any epoch is spent."""
    from plateau_doctor.training.model import setup_without_building

    data = state.data
    state.setup = setup_without_building(config, data.task, data.n_classes, data.x_train.shape[1])
    state.preflight = setup_mismatches(state.setup, data.audit)
    for finding in state.preflight:
        state.executor.logger.warning("before training: %s: %s", finding.name, finding.evidence)
    return state


def fit_baseline(config: DoctorConfig, state: RunState) -> RunState:
    """Open the run and fit the user's model; stop it once a pathology is confirmed (detection.stop_sick_baseline)."""
    from plateau_doctor.training.fit import fit_branch

    data, setup = state.data, state.setup
    state.writer = RunWriter(config.output.dir, new_run_id(dataset_name(config)))
    state.executor.logger.info("stage 2/6 baseline: fitting the user's model for up to %d epochs", config.training.epochs)
    monitor = None
    if config.detection.stop_sick_baseline:
        def monitor(records):
            return check_early_stop(records, data.audit, config.detection, setup=setup)

    baseline = fit_branch(config, data, branch="baseline", monitor=monitor)
    model_path = str(state.writer.path("baseline.keras"))
    baseline.save_model(model_path)
    predictions = str(state.writer.scratch("baseline.val.npy"))  # kept when no remedy beats it: the verdict reads them
    save_predictions(baseline, data, predictions)
    state.record = RunRecord(
        run_id=state.writer.run_id,
        config=config,
        audit=data.audit,
        setup=baseline.setup,
        preprocessing=data.preprocessor.to_dict(),
        preflight=state.preflight,
        baseline_history=baseline.history,
        baseline_metrics=baseline.metrics,
        baseline_epochs=baseline.epochs,
        baseline_model_path=model_path,
        stopped_by=baseline.stopped_by,
        symptoms=[],
        causes=[],
        baseline_predictions_path=predictions,
    )
    state.executor.pace(baseline.wall_seconds, baseline.epochs)
    return state


def diagnose_baseline(config: DoctorConfig, state: RunState) -> RunState:
    """Symptoms from the baseline's curves, then causes ranked by confidence."""
    record = state.record
    state.executor.logger.info("stage 3/6 diagnosis after %d epochs", record.baseline_epochs)
    record.symptoms, record.causes = diagnose_history(record.baseline_history, state.data, record.setup, config, state.preflight)
    for finding in (*record.symptoms, *record.causes):
        state.executor.logger.info("%s %s (%.2f): %s", finding.kind, finding.name, finding.confidence, finding.evidence)
    return state


def plan(config: DoctorConfig, state: RunState) -> RunState:
    """The first round's branches: only those the causes point to, within remedies.enabled and the epoch budget."""
    record = state.record
    state.plans = (
        plan_for(record.causes, record.symptoms, config, record.setup, state.data, record.baseline_history)
        if is_sick(record.symptoms)
        else []
    )
    return state


def verdict(config: DoctorConfig, state: RunState) -> RunState:
    """The run's status (healthy, repaired, improved or not_repaired: ``engine.verdict``), its time so far.

    The model the run keeps is compared with the attainable level on the validation rows first.
    """
    record = state.record
    record.level = level_comparison(config, state.data.split_dir, record.audit, *kept_model(record))
    record.status = run_status(record.symptoms, record.winner, final_status(record))
    record.wall_seconds = time.perf_counter() - state.started
    record.timings = state.executor.timings()
    return state


def write(config: DoctorConfig, state: RunState) -> RunState:
    """Stage every file, then publish them all at once."""
    state.executor.logger.info("stage 6/6 results: writing run %s", state.record.run_id)
    state.summary = write_run(state.record, state.writer)
    state.run_dir = state.writer.publish()
    return state


# --------------------------------------------------------------------------- steps the rounds share
def diagnose_history(history, data: PreparedData, setup: ResolvedSetup, config: DoctorConfig, preflight: list[Finding]):
    """Symptoms from the curves, then causes ranked by confidence."""
    symptoms = detect_symptoms(history, data.audit, config.detection, setup=setup)
    causes = diagnose(history, data.audit, setup, config.detection, symptoms=symptoms, preflight=preflight, config=config)
    return symptoms, causes


def plan_for(causes, symptoms, config: DoctorConfig, setup: ResolvedSetup, data: PreparedData, history) -> list[RemedyPlan]:
    """Only the branches that the causes point to, within remedies.enabled and the epoch budget."""
    return plan_remedies(causes, symptoms, config, setup, data.audit, history=history)


def retrain(config: DoctorConfig, model_path: str, split_dir: str):
    """Retrain the winning recipe to completion; returns the fit and its preprocessing."""
    from plateau_doctor.training.fit import fit_branch

    data = load_split(split_dir, config.data, config.preprocessing, audit=False)
    result = fit_branch(config, data, branch="final", use_saved_model=config.model.path is not None)
    save_kept(result, data, model_path)
    return result, data.preprocessor.to_dict()


def search(config: DoctorConfig, request, folder: str, split_dir: str):
    """The guided search (Optuna TPE with successive halving), its trials one after another here."""
    from plateau_doctor.run.search import run_search

    return run_search(config, request, folder, split_dir)


def kept_model(record: RunRecord):
    """The model the run keeps so far (the final model, the winner's, else the baseline): its metrics and
    validation predictions (None when none were saved)."""
    if record.final_model_path or record.winner is not None:
        metrics = record.final_metrics if record.final_metrics is not None else record.winner.metrics
        return metrics, kept_predictions(record.final_model_path or record.winner.model_path)
    return record.baseline_metrics, read_predictions(record.baseline_predictions_path)


def final_status(record: RunRecord) -> str:
    """``repaired`` or ``improved`` for the run's winner (see :func:`verdict.repair_status`), on the final model
    (``record.level``: the final model against the level on the validation rows, when the verdict stage compared them)."""
    if record.winner is None:
        return "not_repaired"
    history = record.final_history if record.final_history is not None else record.winner.history
    audit, config, winner = record.audit, record.config, record.winner
    healthy = False
    if history is not None and len(history) and winner.setup is not None:
        seen_by = audit_for(with_overrides(config, winner.params, f"remedy {winner.remedy!r}"), audit)
        symptoms = detect_symptoms(history, seen_by, config.detection, setup=winner.setup)
        gap = reference_gap(history, seen_by, config.detection, setup=winner.setup)
        healthy = not is_sick(symptoms) and not (gap is not None and gap.far)
    record.final_healthy = healthy
    return repair_status(audit.task, record.final_metrics or winner.metrics, audit.reference_metrics,
                         config.remedies.tolerance, linear_reference_metrics=audit.linear_reference_metrics,
                         final_healthy=healthy, level=record.level)
