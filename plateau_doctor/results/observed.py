"""Write a run the doctor observed but did not train: a user's fit or an old training log.

Same layout as a doctor run (``shared/CONTRACT.md``): ``runs/<run_id>/summary.json``,
``report.md``, ``report.html``, ``audit.json`` and the run's rows in the ``history`` and
``diagnosis`` datasets, published at once (``results.RunWriter``). There are no remedies,
so the status is ``healthy`` or ``sick``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.engine.log_doctor import CurvesDiagnosis
from plateau_doctor.results.store import RunWriter, new_run_id, to_jsonable
from plateau_doctor.schema import HISTORY_SIGNALS, Finding
from plateau_doctor.engine.verdict import main_metric


def history_rows(frame: pd.DataFrame, branch: str) -> pd.DataFrame:
    """The ``history`` dataset's columns: every signal, NaN where the run did not record it."""
    rows = frame.reindex(columns=["epoch", *HISTORY_SIGNALS]).astype(float)
    rows.insert(0, "branch", branch)
    rows["epoch"] = rows["epoch"].round().astype(np.int64)
    return rows


def _with_not_checked(findings: list[Finding], not_checked: list[str]) -> list[Finding]:
    """The first finding's evidence says what could not be checked, so the report shows it."""
    if not findings or not not_checked:
        return findings
    first = findings[0]
    note = "; not checked: " + "; ".join(not_checked)
    return [Finding(first.kind, first.name, first.confidence, first.evidence + note), *findings[1:]]


def final_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """The last epoch's validation numbers, those that were recorded."""
    last = frame.iloc[-1]
    names = [c for c in frame.columns if c.startswith("val_")]
    return {name: float(last[name]) for name in names if math.isfinite(float(last[name]))}


def build_summary(found: CurvesDiagnosis, run_id: str, source: str, extra: dict[str, Any] | None = None) -> dict:
    frame = found.history
    metrics = final_metrics(frame)
    epochs = int(len(frame))
    kept = found.setup.kept_epoch  # an epoch a callback put back at the end: the model the fit leaves
    final = final_metrics(frame.iloc[:kept]) if 0 < kept < epochs else metrics
    return to_jsonable(
        {
            "run_id": run_id,
            "status": found.status,
            "task": found.audit.task,
            "dataset": source,
            "target": None,
            "symptoms": [s.name for s in found.symptoms],
            "causes": [{"cause": c.name, "confidence": round(c.confidence, 4), "evidence": c.evidence} for c in found.causes],
            "chosen_remedy": None,
            "baseline": {"epochs": epochs, "metrics": metrics},
            "final": {"epochs": epochs, "metrics": final},
            "epochs_trained_total": epochs,
            "wall_seconds": 0.0,
            "main_metric": main_metric(found.audit.task),
            "diagnosis_epochs": epochs,
            "not_checked": list(found.not_checked),
            "setup": found.setup.to_dict(),
            "source": source,
            **(extra or {}),
        }
    )


def write_observed_run(
    found: CurvesDiagnosis,
    out: str | Path,
    source: str,
    *,
    branch: str = "observed",
    extra: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Stage and publish the run; returns (summary, run folder). ``files``: extra JSON files."""
    from plateau_doctor.report.render import render_report

    run_id = new_run_id(source)
    writer = RunWriter(out, run_id)
    try:
        summary = build_summary(found, run_id, source, extra)
        history = history_rows(found.history, branch)
        findings = _with_not_checked([*found.symptoms, *found.causes], found.not_checked)
        diagnosis = pd.DataFrame(
            [{"round": 0, **f.to_dict()} for f in findings], columns=["round", "kind", "name", "confidence", "evidence"]
        ).astype({"round": "int64", "confidence": float})
        writer.add_dataset("history", history)
        writer.add_dataset("diagnosis", diagnosis)
        writer.write_text("curves.csv", found.history.to_csv(index=False))
        writer.write_json("audit.json", found.audit.to_dict())
        writer.write_json("summary.json", summary)
        for name, payload in (files or {}).items():
            writer.write_json(name, payload)
        markdown, html = render_report(summary, found.audit.to_dict(), history, [f.to_dict() for f in findings], None)
        writer.write_text("report.md", markdown)
        writer.write_text("report.html", html)
        run_dir = writer.publish()
    except BaseException:
        writer.abort()
        raise
    return {**summary, "run_dir": str(run_dir)}, run_dir


def verdict_lines(summary: dict[str, Any]) -> str:
    """What the terminal shows at the end: status, symptoms, causes, what was not checked, the report."""
    causes = ", ".join(f"{c['cause']} ({c['confidence']:.2f})" for c in summary["causes"]) or "none"
    lines = [
        f"plateau-doctor verdict: {summary['status']}",
        f"  symptoms: {', '.join(summary['symptoms']) or 'none'}",
        f"  causes:   {causes}",
    ]
    if summary.get("not_checked"):
        lines.append(f"  not checked: {'; '.join(summary['not_checked'])}")
    if summary.get("run_dir"):
        lines.append(f"report: {Path(summary['run_dir']) / 'report.html'}")
    return "\n".join(lines)
