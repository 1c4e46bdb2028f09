"""The Python API: the doctor's run and the curves-only diagnosis, as result objects.

    import plateau_doctor
    result = plateau_doctor.run("config.yaml", training__learning_rate=0.01)
    result.status, result.summary, result.history, result.paths
    plateau_doctor.diagnose(history)          # a History, its .history dict, a DataFrame or a log file
    plateau_doctor.repair(model, x, y)        # your compiled model and arrays or dataset; result.model

Both train with (or read) whatever Keras backend the caller's process uses; neither
changes it. ``run`` runs the same stages as the CLI (``pipeline.run_doctor``) in this
process, without Prefect unless ``prefect=True``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from plateau_doctor.config import DoctorConfig, load_config, validate_config, with_overrides


@dataclass
class DoctorResult:
    """What one run found: ``summary`` (summary.json's content), the files, the per-epoch history;
    ``model``: the kept Keras model, loaded (``repair`` only; None otherwise)."""

    summary: dict[str, Any]
    history: pd.DataFrame
    run_dir: Path | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    model: Any = None

    @property
    def status(self) -> str:
        return self.summary["status"]

    @property
    def causes(self) -> list[dict[str, Any]]:
        return self.summary.get("causes") or []

    def _repr_html_(self) -> str:
        """The verdict, the causes with their evidence, and the report's path: a notebook's view."""
        summary = self.summary
        rows = "".join(
            f"<tr><td>{html.escape(c['cause'])}</td><td>{c['confidence']:.2f}</td>"
            f"<td style='text-align:left'>{html.escape(str(c.get('evidence', '')))}</td></tr>"
            for c in self.causes
        ) or "<tr><td colspan='3'>no cause: nothing sick to explain</td></tr>"
        report = self.paths.get("report_html")
        link = f"<p>Report: <a href='{report.resolve().as_uri()}'>{html.escape(str(report))}</a></p>" if report else ""
        return (
            f"<div><h3>plateau-doctor: {html.escape(self.status)}</h3>"
            f"<p>Symptoms: {html.escape(', '.join(summary.get('symptoms') or []) or 'none')}; "
            f"remedy: {html.escape(str(summary.get('chosen_remedy') or 'none'))}; "
            f"{len(self.history)} epoch rows.</p>"
            f"<table><tr><th>cause</th><th>confidence</th><th>evidence</th></tr>{rows}</table>{link}</div>"
        )

    def __repr__(self) -> str:
        return f"DoctorResult(status={self.status!r}, causes={[c['cause'] for c in self.causes]}, run_dir={self.run_dir})"


def _paths(run_dir: Path | None) -> dict[str, Path]:
    if run_dir is None:
        return {}
    names = {"summary": "summary.json", "report_html": "report.html", "report_md": "report.md", "model": "model.keras"}
    paths = {key: run_dir / name for key, name in names.items() if (run_dir / name).exists()}
    paths["run_dir"] = run_dir
    return paths


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """``training__learning_rate=0.01`` or ``training={"learning_rate": 0.01}`` as dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if "__" in key:
            flat[key.replace("__", ".")] = value
        elif isinstance(value, dict):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def resolve_config(config_or_path: DoctorConfig | dict | str | Path | None, **overrides) -> DoctorConfig:
    if isinstance(config_or_path, DoctorConfig):
        config = config_or_path
    elif isinstance(config_or_path, dict):
        config = validate_config(config_or_path, source="config")
    else:
        config = load_config(config_or_path)
    return with_overrides(config, _dotted(overrides), "plateau_doctor.run") if overrides else config


def run(config_or_path: DoctorConfig | dict | str | Path | None = None, *, prefect: bool = False, **overrides) -> DoctorResult:
    """Diagnose and repair the set-up a config describes; write the run; return its result.

    ``config_or_path``: a DoctorConfig, a dict of sections, or a YAML file. ``overrides``
    set config fields, as ``--set`` does: ``training__learning_rate=0.01`` or
    ``training={"learning_rate": 0.01}``. ``prefect=True`` runs the Prefect flow (embedded
    server) as the CLI does. Bad config or data raise ``errors.UserInputError``.
    """
    from plateau_doctor.run.checks import check_inputs

    config = resolve_config(config_or_path, **overrides)
    check_inputs(config)  # the CLI's checks: bad input raises before anything runs or is written
    if prefect:
        from plateau_doctor.orchestration.flows import doctor

        summary = doctor(config)
        run_dir = Path(summary["run_dir"])
    else:
        from plateau_doctor.run.pipeline import run_doctor

        summary, run_dir, _ = run_doctor(config)
        summary = {**summary, "run_dir": str(run_dir)}
    history = pd.read_parquet(Path(config.output.dir) / "history" / f"run_id={summary['run_id']}")
    return DoctorResult(summary=summary, history=history, run_dir=run_dir, paths=_paths(run_dir))


def diagnose(history, *, out: str | Path | None = "results", task: str | None = None, name: str | None = None) -> DoctorResult:
    """Diagnose training curves alone: a Keras History (or its ``.history``), a DataFrame, or a log file.

    Writes a run under ``out`` (``None``: write nothing). Causes that need signals the
    curves lack get lower confidence and name the measurement that would confirm them. What
    the reader of a log file skipped (rows with a non-numeric loss, an epoch cut short)
    leads the summary's ``not_checked``.
    """
    from plateau_doctor.engine.log_doctor import diagnose_curves

    source = name or "history"
    skipped: list[str] = []
    fit: dict = {}
    if isinstance(history, (str, Path)):
        from plateau_doctor.data.logs import read_log

        source = name or Path(history).stem or Path(history).name
        log = read_log(history)
        history, skipped, fit = log.history, [f"the log: {line}" for line in log.skipped], log.fit
    found = diagnose_curves(history, task=task, not_checked=skipped, fit=fit)  # what the reader left out, first
    if out is None:
        from plateau_doctor.results.observed import build_summary

        return DoctorResult(summary=build_summary(found, "not-written", source), history=found.history)
    from plateau_doctor.results.observed import history_rows, write_observed_run

    summary, run_dir = write_observed_run(found, out, source, branch="log")
    return DoctorResult(summary=summary, history=history_rows(found.history, "log"), run_dir=run_dir, paths=_paths(run_dir))
