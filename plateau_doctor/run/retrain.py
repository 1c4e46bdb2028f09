"""Scheduled retraining: re-fit the last chosen recipe on current data and watch the trend.

The recipe is read from the results store: the chosen remedy's parameters (config
overrides) of the latest ``repaired`` or ``healthy`` run for the same dataset and target.
Each retraining run appends one row to ``<out>/retraining/`` (Parquet, one file per run,
so ``pandas.read_parquet("<out>/retraining")`` reads the whole trend).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.results.store import dataset_schema, write_parquet
from plateau_doctor.schema import Finding
from plateau_doctor.engine.verdict import is_sick, main_metric

RECIPE_STATUSES = ("repaired", "healthy")


@dataclass
class Recipe:
    """What the latest good run chose: the config overrides and the metrics it reached."""

    run_id: str
    status: str
    params: dict[str, Any]
    metrics: dict[str, float]
    task: str


@dataclass
class RetrainVerdict:
    status: str  # ok | degraded | stalled
    reason: str
    previous: float
    current: float
    symptoms: list[str] = field(default_factory=list)

    @property
    def needs_doctor(self) -> bool:
        return self.status != "ok"


def data_fingerprint(path: str | Path) -> str:
    """A short content hash of the table (every file of a Parquet folder, in name order)."""
    source = Path(path)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def latest_recipe(out_dir: str | Path, dataset: str, target: str) -> Recipe | None:
    """The newest repaired or healthy run for this dataset and target (run ids sort by time)."""
    runs = Path(out_dir) / "runs"
    if not runs.is_dir():
        return None
    for run_dir in sorted(runs.iterdir(), reverse=True):
        summary_file = run_dir / "summary.json"
        if not summary_file.is_file():
            continue
        summary = json.loads(summary_file.read_text())
        if summary.get("dataset") == dataset and summary.get("target") == target and summary.get("status") in RECIPE_STATUSES:
            return Recipe(
                run_id=summary["run_id"],
                status=summary["status"],
                params=summary.get("chosen_params") or {},
                metrics=(summary.get("final") or summary["baseline"])["metrics"],
                task=summary["task"],
            )
    return None


def judge_retrain(
    task: str, previous: dict[str, float], current: dict[str, float], symptoms: list[Finding], margin: float
) -> RetrainVerdict:
    """``degraded`` when the main metric fell by more than ``margin``; ``stalled`` when the curves are sick."""
    metric = main_metric(task)
    before = float(previous.get(metric, math.nan))
    after = float(current.get(metric, math.nan))
    names = [s.name for s in symptoms]
    if not math.isfinite(after) or (math.isfinite(before) and after < before - margin):
        return RetrainVerdict(
            "degraded", f"{metric} fell from {before:.4f} to {after:.4f} (more than the margin {margin})", before, after, names
        )
    if is_sick(symptoms):
        return RetrainVerdict("stalled", f"the refit's curves show {', '.join(names)}", before, after, names)
    return RetrainVerdict("ok", f"{metric} {after:.4f} against {before:.4f} before (margin {margin})", before, after, names)


def trend_row(
    config: DoctorConfig,
    fingerprint: str,
    recipe: Recipe | None,
    verdict: RetrainVerdict | None,
    current: dict[str, float] | None,
    doctor_summary: dict[str, Any] | None,
    task: str,
) -> dict[str, Any]:
    """One row of the retraining history."""
    now = datetime.now(timezone.utc)
    metric = main_metric(task)
    final = (doctor_summary or {}).get("final") or {}
    metrics = current if current is not None else final.get("metrics", {})
    return {
        "retrain_id": f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
        "date": now.isoformat(timespec="seconds"),
        "dataset": dataset_name(config),
        "target": config.data.target,
        "data_fingerprint": fingerprint,
        "recipe_run_id": recipe.run_id if recipe else None,
        "recipe": json.dumps(recipe.params, sort_keys=True) if recipe else None,
        "status": verdict.status if verdict else "first_run",
        "reason": verdict.reason if verdict else "no earlier repaired or healthy run: the doctor ran first",
        "main_metric": metric,
        "previous_metric": verdict.previous if verdict else math.nan,
        "metric": float(metrics.get(metric, math.nan)),
        "val_loss": float(metrics.get("val_loss", math.nan)),
        "symptoms": ",".join(verdict.symptoms) if verdict else ",".join((doctor_summary or {}).get("symptoms", [])),
        "doctor_run_id": (doctor_summary or {}).get("run_id"),
        "doctor_status": (doctor_summary or {}).get("status"),
    }


def append_trend(out_dir: str | Path, row: dict[str, Any]) -> Path:
    """One Parquet file per retraining run, written atomically."""
    path = Path(out_dir) / "retraining" / f"{row['retrain_id']}.parquet"
    write_parquet(pd.DataFrame([row]), path, dataset_schema("retraining"))
    return path


def read_trend(out_dir: str | Path) -> pd.DataFrame:
    return pd.read_parquet(Path(out_dir) / "retraining").sort_values("retrain_id", ignore_index=True)


def previous_metrics(out_dir: str | Path, dataset: str, target: str, recipe: Recipe) -> dict[str, float]:
    """The previous retraining run's metrics for this dataset and target, else the recipe run's."""
    folder = Path(out_dir) / "retraining"
    if folder.is_dir() and any(folder.glob("*.parquet")):
        trend = read_trend(out_dir)
        rows = trend[(trend["dataset"] == dataset) & (trend["target"] == target) & trend["metric"].notna()]
        if len(rows):
            last = rows.iloc[-1]
            return {str(last["main_metric"]): float(last["metric"]), "val_loss": float(last["val_loss"])}
    return recipe.metrics


@dataclass
class Refit:
    metrics: dict[str, float]
    symptoms: list[Finding]
    task: str
    epochs: int
    model_dir: str


def refit_recipe(config: DoctorConfig, recipe: Recipe, out_dir: str | Path) -> Refit:
    """Fit the recipe (the user's config plus the chosen overrides) on the current data; keep the model."""
    import os

    from plateau_doctor.engine.detection import detect_symptoms
    from plateau_doctor.config import with_overrides
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.results.store import atomic_write_json
    from plateau_doctor.training.fit import fit_branch

    recipe_config = with_overrides(config, recipe.params, f"the recipe of run {recipe.run_id}")
    data = prepare_from_config(recipe_config)
    result = fit_branch(recipe_config, data, branch="retrain")
    symptoms = detect_symptoms(result.history, data.audit, recipe_config.detection, setup=result.setup)
    stamp = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    staging = Path(out_dir) / "retrained" / f".staging-{stamp}"
    staging.mkdir(parents=True)
    result.save_model(staging / "model.keras")
    atomic_write_json(staging / "preprocessing.json", data.preprocessor.to_dict())
    final_dir = Path(out_dir) / "retrained" / stamp
    os.rename(staging, final_dir)
    return Refit(result.metrics, symptoms, data.task, result.epochs, str(final_dir))
