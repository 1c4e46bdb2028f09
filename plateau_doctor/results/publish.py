"""Assemble a finished run into the contract's files: summary, report, Parquet rows, model.

Pure of Prefect; the only Keras use is copying saved model files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.report.render import render_report
from plateau_doctor.results.store import METRIC_COLUMNS, RunWriter, to_jsonable
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup
from plateau_doctor.engine.significance import LevelComparison, tolerance_only
from plateau_doctor.engine.verdict import BranchOutcome, beats_baseline, gap_to_level, level_to_beat, main_metric, score


@dataclass
class RunRecord:
    """Everything one doctor run found and produced, in plain data."""

    run_id: str
    config: DoctorConfig
    audit: DataAudit
    setup: ResolvedSetup
    preprocessing: dict[str, Any]
    preflight: list[Finding]
    baseline_history: pd.DataFrame
    baseline_metrics: dict[str, float]
    baseline_epochs: int
    baseline_model_path: str
    stopped_by: Finding | None
    symptoms: list[Finding]
    causes: list[Finding]
    status: str = "healthy"
    outcomes: list[BranchOutcome] = field(default_factory=list)
    winner: BranchOutcome | None = None
    winner_reason: str = ""
    final_history: pd.DataFrame | None = None
    final_metrics: dict[str, float] | None = None
    final_epochs: int = 0
    final_model_path: str | None = None
    final_preprocessing: dict[str, Any] | None = None
    wall_seconds: float = 0.0
    round_findings: list[tuple[int, Finding]] = field(default_factory=list)  # each later patient's diagnosis
    round_reasons: list[str] = field(default_factory=list)  # each round's verdict, then the search's
    stop_reason: str = ""  # why the rounds stopped
    final_healthy: bool | None = None  # the final model's own curves, diagnosed again
    round_winners: list[BranchOutcome] = field(default_factory=list)  # the path: each round's winner, in order
    timings: dict[str, Any] = field(default_factory=dict)  # wall seconds per stage (plateau_doctor.run.timing)
    level: LevelComparison | None = None  # the kept model against the level on the validation rows (the verdict's)
    baseline_predictions_path: str | None = None  # the baseline's validation predictions (a scratch file)

    @property
    def dataset(self) -> str:
        return dataset_name(self.config)

    @property
    def epochs_trained_total(self) -> int:
        return self.baseline_epochs + sum(o.epochs for o in self.outcomes) + self.final_epochs


def build_summary(record: RunRecord) -> dict[str, Any]:
    """The contract's summary.json, plus documented extras."""
    chosen = record.winner.remedy if record.winner else None
    final_metrics = record.final_metrics if record.final_metrics is not None else record.baseline_metrics
    final_epochs = record.final_epochs or (record.winner.epochs if record.winner else record.baseline_epochs)
    return to_jsonable(
        {
            "run_id": record.run_id,
            "status": record.status,
            "task": record.audit.task,
            "dataset": record.dataset,
            "target": record.config.data.target,
            "symptoms": [s.name for s in record.symptoms],
            "causes": [{"cause": c.name, "confidence": round(c.confidence, 4), "evidence": c.evidence} for c in record.causes],
            "chosen_remedy": chosen,
            "chosen_params": record.winner.params if record.winner else None,
            "baseline": {"epochs": record.baseline_epochs, "metrics": record.baseline_metrics},
            "final": {"epochs": final_epochs, "metrics": final_metrics},
            "epochs_trained_total": record.epochs_trained_total,
            "wall_seconds": round(record.wall_seconds, 2),
            "timings": record.timings,
            "main_metric": main_metric(record.audit.task),
            "diagnosis_epochs": record.baseline_epochs,
            "early_stopped": record.stopped_by is not None,
            "early_stop_reason": record.stopped_by.evidence if record.stopped_by else None,
            "preflight": [f.to_dict() for f in record.preflight],
            "winner_reason": record.winner_reason,
            "level": level_summary(record, final_metrics),
            "path": repair_path(record),
            "rounds": max((o.round for o in record.outcomes if not o.remedy.startswith("search")), default=0),
            "round_reasons": record.round_reasons,
            "stop_reason": record.stop_reason,
            "search_trials": sum(1 for o in record.outcomes if o.remedy.startswith("search")),
            "pruned": [f"{branch_label(o)} at epoch {o.epochs}" for o in record.outcomes if o.status == "pruned"],
            "setup": record.setup.to_dict(),
            "config": record.config.model_dump(mode="json"),
        }
    )


def level_summary(record: RunRecord, final_metrics: dict[str, float]) -> dict[str, Any]:
    """The attainable level (reference models), the linear reference, and how far the final model is from them:
    the difference on the validation rows with its bounds at ``remedies.confidence`` (``engine.significance``)."""
    task, audit, remedies = record.audit.task, record.audit, record.config.remedies
    metric = main_metric(task)
    gap = gap_to_level(task, final_metrics, audit.reference_metrics)
    level = record.level or tolerance_only(
        -gap, confidence=remedies.confidence, tolerance=remedies.tolerance, n_val=audit.n_val
    )
    return {
        "metric": metric,
        "attainable": audit.reference_metrics.get(metric),
        "linear_reference": audit.linear_reference_metrics.get(metric),
        "final": final_metrics.get(metric),
        "gap": gap,
        "tolerance": remedies.tolerance,
        "final_curves_healthy": record.final_healthy,
        **level.to_dict(),
    }


def repair_path(record: RunRecord) -> list[dict[str, Any]]:
    """Baseline -> each round's winner -> ...: the steps the chosen model came through."""
    task = record.audit.task
    metric = main_metric(task)
    steps = [{"step": "baseline", "round": 0, "metric": record.baseline_metrics.get(metric),
              "score": score(task, record.baseline_metrics), "epochs": record.baseline_epochs}]
    for outcome in record.round_winners:
        steps.append({"step": branch_label(outcome), "round": outcome.round, "metric": outcome.metrics.get(metric),
                      "score": score(task, outcome.metrics), "epochs": outcome.epochs})
    return steps


def findings_frame(record: RunRecord) -> pd.DataFrame:
    """Round 0 is the baseline's diagnosis; round r the diagnosis of round r's winner, the next patient."""
    rows = [{"round": 0, **f.to_dict()} for f in (*record.symptoms, *record.causes)]
    rows += [{"round": int(index), **f.to_dict()} for index, f in record.round_findings]
    return pd.DataFrame(rows, columns=["round", "kind", "name", "confidence", "evidence"]).astype(
        {"round": "int64", "confidence": float}
    )


def remedies_frame(record: RunRecord) -> pd.DataFrame:
    """One row per remedy branch tried; metric columns for the task."""
    metrics = list(METRIC_COLUMNS)  # every task's columns, NaN where they do not apply
    to_beat = level_to_beat(
        record.audit.task, record.baseline_metrics, record.audit.trivial_metrics, record.audit.trivial_val_loss
    )
    rows = []
    for outcome in record.outcomes:
        rows.append(
            {
                "round": int(outcome.round),
                "remedy": outcome.remedy,
                "params": json.dumps(to_jsonable(outcome.params), sort_keys=True),
                "epochs": int(outcome.epochs),
                **{m: float(outcome.metrics.get(m, float("nan"))) for m in metrics},
                "improved": beats_baseline(record.audit.task, to_beat, outcome, record.config.remedies.margin),
                "chosen": record.winner is outcome,
                "status": outcome.status,
                "error": outcome.error,
                "reason": "; ".join(part for part in (outcome.reason, outcome.pruned_reason) if part),
                "wall_seconds": float(outcome.wall_seconds),
            }
        )
    columns = ["round", "remedy", "params", "epochs", *metrics, "improved", "chosen", "status", "error", "reason", "wall_seconds"]
    return pd.DataFrame(rows, columns=columns)


def branch_label(outcome: BranchOutcome) -> str:
    """A branch's name in the history and the report: a later round's branch carries its round."""
    if outcome.name:
        return outcome.name
    return outcome.remedy if outcome.round <= 1 else f"{outcome.remedy}@{outcome.round}"


def history_frame(record: RunRecord) -> pd.DataFrame:
    parts = [record.baseline_history]
    for outcome in record.outcomes:
        if outcome.history is not None:
            parts.append(outcome.history.assign(branch=branch_label(outcome)))
    if record.final_history is not None:
        parts.append(record.final_history)
    return pd.concat(parts, ignore_index=True)


def write_run(record: RunRecord, writer: RunWriter) -> dict[str, Any]:
    """Stage every file of the run in ``writer``; returns the summary. The caller publishes."""
    summary = build_summary(record)
    history = history_frame(record)
    findings = findings_frame(record)
    remedies = remedies_frame(record)
    writer.add_dataset("history", history)
    writer.add_dataset("diagnosis", findings)
    writer.add_dataset("remedies", remedies)
    chosen_model = record.final_model_path or record.baseline_model_path
    shutil.copyfile(chosen_model, writer.path("model.keras"))  # baseline.keras is already staged beside it
    writer.write_json("preprocessing.json", record.final_preprocessing or record.preprocessing)
    writer.write_json("audit.json", record.audit.to_dict())
    writer.write_json("summary.json", summary)
    markdown, html = render_report(
        summary,
        record.audit.to_dict(),
        history,
        [f.to_dict() for f in (*record.symptoms, *record.causes)],
        remedies,
    )
    writer.write_text("report.md", markdown)
    writer.write_text("report.html", html)
    return summary
