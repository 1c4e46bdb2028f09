"""The report's sections as blocks: summary, curves, diagnosis, remedies and path, training signals, data audit, run.

Each builder takes the run's plain data (summary.json's dict, the audit's dict, the
history and remedies frames) and returns the section's blocks; nothing here renders text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.report.charts import causes_chart_png, curves_chart_png, signals_chart_png
from plateau_doctor.report.document import Block, Bullets, Heading, Image, Paragraph, Table
from plateau_doctor.report.findings import as_dict, finding_item, ranked_causes
from plateau_doctor.report.format import fmt, fmt_config_value, fmt_params, fmt_seconds, flatten, text_or_empty
from plateau_doctor.report.headline import metrics_table
from plateau_doctor.report.history import (
    BASELINE,
    FINAL,
    branch_frames,
    column,
    family,
    floats,
    has_diverged,
    has_values,
    main_metric,
    ordered_metrics,
)
from plateau_doctor.schema import CLASSIFICATION_METRICS, HISTORY_SIGNALS, REGRESSION_METRICS

_NO_REMEDY_REASONS: dict[str, str] = {
    "healthy": "the baseline training was healthy, so there was nothing to repair",
    "diagnosed": "remedies have not run yet; this run stopped after the diagnosis",
}
_NOT_SIGNALS: frozenset[str] = frozenset(
    {"loss", "val_loss", "val_log_loss_prior_matched", *CLASSIFICATION_METRICS, *REGRESSION_METRICS})


def summary_blocks(summary: Mapping[str, Any], task: str | None) -> list[Block]:
    return [
        Heading(2, "Summary"),
        Paragraph("Validation metrics of the user's model (baseline) and of the model kept (final):"),
        metrics_table(summary, task),
    ]


def run_blocks(summary: Mapping[str, Any], task: str | None) -> list[Block]:
    """The run's facts and its configuration: the report's last section, for whoever reruns or audits it."""
    facts: list[tuple[str, Any]] = [("status", summary.get("status")), ("task", task)]
    for key, label in (("dataset", "dataset"), ("target", "target")):
        if summary.get(key) is not None:
            facts.append((label, summary[key]))
    if summary.get("diagnosis_epochs") is not None:
        facts.append(("baseline epochs before the diagnosis", summary["diagnosis_epochs"]))
    if summary.get("early_stopped") is not None:
        facts.append(("baseline stopped early", bool(summary["early_stopped"])))
    facts += [
        ("chosen remedy", summary.get("chosen_remedy") or "none"),
        ("epochs trained in total", summary.get("epochs_trained_total")),
        ("wall time", fmt_seconds(summary.get("wall_seconds"))),
    ]
    blocks: list[Block] = [
        Heading(2, "Run details"),
        Table(["run", "value"], [[label, fmt(value)] for label, value in facts]),
    ]
    config = summary.get("config")
    if isinstance(config, Mapping) and config:
        blocks += [
            Heading(3, "Configuration"),
            Table(["setting", "value"], [[key, fmt_config_value(value)] for key, value in flatten(config)]),
        ]
    return blocks


def live_repair_blocks(summary: Mapping[str, Any]) -> list[Block]:
    """What ``DoctorCallback(repair=True)`` changed inside the fit, with the rate before and after."""
    actions = [as_dict(item) for item in summary.get("live_repairs") or []]
    if not actions:
        return []
    rows = [[fmt(a.get("epoch")), a.get("remedy", ""), a.get("action", ""), fmt(a.get("learning_rate_before")),
             fmt(a.get("learning_rate_after")), a.get("reason", "")
             + (f" Rate: {a['rate_evidence']}." if a.get("rate_evidence") else "")
             + (f" Not applied in a running fit: {', '.join(a['left_out'])}." if a.get("left_out") else "")]
            for a in actions]
    return [
        Heading(2, "Repairs during the fit"),
        Paragraph("What the doctor changed inside the fit, after the epoch shown; the verdict above is on the"
                  " model as the fit left it."),
        Table(["epoch", "remedy", "action", "rate before", "rate after", "why"], rows),
    ]


def diagnosis_blocks(summary: Mapping[str, Any], findings: list[dict[str, Any]]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Diagnosis")]
    preflight = [as_dict(item) for item in summary.get("preflight") or []]
    if preflight:
        blocks += [
            Heading(3, "Preflight checks"),
            Paragraph("Found in the data and the model before any training:"),
            Bullets([finding_item(finding) for finding in preflight]),
        ]
    symptoms = [finding for finding in findings if finding.get("kind") == "symptom"]
    blocks.append(Heading(3, "Symptoms"))
    blocks.append(
        Bullets([finding_item(finding) for finding in symptoms])
        if symptoms else Paragraph("No symptom was recorded.")
    )
    causes = ranked_causes(findings)
    blocks.append(Heading(3, "Causes"))
    if not causes:
        sick = any(finding.get("name") != "converged" for finding in symptoms)
        blocks.append(Paragraph(
            "No cause could be pinned down from the evidence." if sick else "No cause: nothing needed repair."
        ))
        return blocks
    blocks.append(Paragraph("Ranked, most likely first:"))
    blocks.append(Bullets([finding_item(finding) for finding in causes]))
    chart = causes_chart_png(causes)
    if chart is not None:
        blocks.append(Image("Confidence of each likely cause", chart))
    return blocks


def _branch_table(branches: list[tuple[str, pd.DataFrame]], metric: str | None) -> Table:
    header = ["branch", "epochs", "last loss", "last val_loss", "best val_loss"]
    if metric:
        header.append(f"last {metric}")
    header.append("diverged")
    rows = []
    for name, frame in branches:
        val_loss = column(frame, "val_loss")
        row = [
            name,
            fmt(len(frame)),
            fmt(floats(frame, "loss")[-1]),
            fmt(floats(frame, "val_loss")[-1]),
            fmt(np.nanmin(val_loss) if np.isfinite(val_loss).any() else None),
        ]
        if metric:
            row.append(fmt(floats(frame, metric)[-1]))
        row.append(fmt(has_diverged(frame)))
        rows.append(row)
    return Table(header, rows)


def _path_names(summary: Mapping[str, Any]) -> list[str]:
    return [str(as_dict(step).get("step")) for step in summary.get("path") or []]


def kept_branches(summary: Mapping[str, Any], names: Sequence[str]) -> set[str]:
    """The branches among ``names`` a reader follows, the others being drawn faint.

    The first branch (the baseline, or the one fit a report observed), the path (each round's
    winner) and the final fit. Without a path (a summary from before the rounds) the chosen
    remedy names its branch. With one it does not: a later round's winner is ``architecture@2``
    while the chosen remedy is ``architecture``, the name of round 1's branch of it.
    """
    path = _path_names(summary)
    chosen = summary.get("chosen_remedy")
    if len(path) < 2 and chosen:
        path.append(str(chosen))
    return {*names[:1], BASELINE, FINAL, *path} & set(names)


def _kept_and_faint(summary: Mapping[str, Any], history: pd.DataFrame | None) -> tuple[list, list]:
    """The history's branches as (kept, faint), each a list of (name, frame)."""
    branches = branch_frames(history)
    kept = kept_branches(summary, [name for name, _ in branches])
    return [branch for branch in branches if branch[0] in kept], [branch for branch in branches if branch[0] not in kept]


def curves_blocks(summary: Mapping[str, Any], history: pd.DataFrame | None, audit: Mapping[str, Any],
                  task: str | None) -> list[Block]:
    """The chart of every branch, and the last values of those it draws in full colour."""
    blocks: list[Block] = [Heading(2, "Curves")]
    kept, faint = _kept_and_faint(summary, history)
    if not kept:
        blocks.append(Paragraph("No training history was recorded."))
        return blocks
    lines = (
        f"The baseline (black), each round's winner and the model kept in full colour; the {len(faint)} other "
        f"branch{'es' if len(faint) != 1 else ''} tried thin and light (their last values are under Remedies)."
        if faint else "One colour per branch (baseline in black)."
    )
    blocks.append(Paragraph(
        f"{lines} Top: training loss (solid) and validation "
        "loss (dashed). Bottom: the main validation metric, with the reference model and the "
        "trivial predictor from the data audit as horizontal lines."
    ))
    blocks.append(Image("Loss and validation metric per epoch, one line per branch",
                        curves_chart_png(history, audit, task, {name for name, _ in kept})))
    blocks.append(_branch_table(kept, main_metric(history, task)))
    return blocks


def faint_curves_blocks(summary: Mapping[str, Any], history: pd.DataFrame | None, task: str | None) -> list[Block]:
    """The last values of the branches the curves chart draws thin and light; nothing when there are none."""
    _, faint = _kept_and_faint(summary, history)
    if not faint:
        return []
    return [
        Paragraph("Last values of the other branches' curves (thin and light in the chart):"),
        _branch_table(faint, main_metric(history, task)),
    ]


def signals_blocks(history: pd.DataFrame | None) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Training signals")]
    branches = branch_frames(history)
    if not branches:
        blocks.append(Paragraph("No training signals were recorded."))
        return blocks
    name, frame = branches[0]
    names = [signal for signal in HISTORY_SIGNALS if signal not in _NOT_SIGNALS and has_values(frame, signal)]
    if not names:
        blocks.append(Paragraph(f"No training signal was recorded for the {name} branch."))
        return blocks
    blocks.append(Paragraph(f"Measured on the {name} branch at the end of each epoch."))
    chart = signals_chart_png(frame)
    if chart is not None:
        blocks.append(Image(f"Gradient norm, update ratio and dead-unit fraction of the {name} branch", chart))
    rows = []
    for signal in names:
        values = column(frame, signal)
        rows.append([signal, fmt(values[0]), fmt(values[-1]), HISTORY_SIGNALS[signal]])
    blocks.append(Table(["signal", "first epoch", "last epoch", "meaning"], rows))
    return blocks


def path_blocks(summary: Mapping[str, Any], history: pd.DataFrame | None, audit: Mapping[str, Any],
                 task: str | None) -> list[Block]:
    """Baseline -> round 1's winner -> ...: each step's numbers and curves."""
    steps = [as_dict(step) for step in summary.get("path") or []]
    if len(steps) < 2:
        return []
    names = _path_names(summary)
    blocks: list[Block] = [
        Heading(3, "Path"),
        Paragraph(
            " → ".join(names) + ". Each round treats the previous round's winner, diagnosed again from its own "
            "curves; the search, if any, starts from the best model so far."
        ),
        Table(
            ["step", "round", str((summary.get("level") or {}).get("metric") or "metric"), "score", "epochs"],
            [[name, fmt(step.get("round")), fmt(step.get("metric")), fmt(step.get("score")), fmt(step.get("epochs"))]
             for name, step in zip(names, steps)],
        ),
    ]
    if history is not None and not history.empty and "branch" in history.columns:
        on_path = history[history["branch"].astype(str).isin(names)]
        if not on_path.empty:
            blocks.append(Image("Curves of each step of the path", curves_chart_png(on_path, audit, task)))
    return blocks


def _note(record: Mapping[str, Any]) -> str:
    """The short why of a row: where a branch was pruned, which search trial it is."""
    reason = text_or_empty(record.get("reason"))
    notes = []
    if "trial " in reason and str(record.get("remedy")) == "search":
        notes.append(reason.split(";")[0])
    if "pruned at epoch" in reason:
        notes.append(reason[reason.index("pruned at epoch"):])
    return "; ".join(notes)


def remedies_blocks(summary: Mapping[str, Any], remedies: pd.DataFrame | None, task: str | None,
                    path: list[Block]) -> list[Block]:
    """The winner and why, each round's verdict, the ``path`` blocks, then the table of every branch tried."""
    blocks: list[Block] = [Heading(2, "Remedies")]
    status = str(summary.get("status") or "")
    if remedies is None or remedies.empty:
        reason = _NO_REMEDY_REASONS.get(
            status, "none was recorded for this run (none enabled, or none addresses the diagnosed causes)"
        )
        blocks.append(Paragraph(f"No remedy branch ran: {reason}."))
        return blocks + path
    chosen = summary.get("chosen_remedy")
    reason = text_or_empty(summary.get("winner_reason"))
    if chosen:
        blocks.append(Paragraph(f"{chosen}. {reason}" if reason else f"{chosen}.", lead="Winner:"))
    else:
        blocks.append(Paragraph(reason or "No remedy improved on the baseline, so the baseline model is kept.",
                                lead="Winner: none."))
    rounds = [str(text) for text in summary.get("round_reasons") or []]
    if len(rounds) > 1:
        blocks.append(Bullets([(text.split(":")[0], text.split(":", 1)[1].strip()) for text in rounds]))
    if path:
        blocks += [*path, Heading(3, "Branches tried")]
    blocks.append(_remedies_table(remedies, task))
    return blocks


def _remedies_table(remedies: pd.DataFrame, task: str | None) -> Table:
    metrics = ordered_metrics(task, [column for column in remedies.columns if str(column).startswith("val_")])
    show_error = "error" in remedies.columns and remedies["error"].map(text_or_empty).astype(bool).any()
    with_round = "round" in remedies.columns
    with_note = any(_note(record) for record in remedies.to_dict("records"))
    header = [*(["round"] if with_round else []), "remedy", "status", "epochs", *metrics, "improved", "chosen", "params"]
    if with_note:
        header.append("note")
    if show_error:
        header.append("error")
    rows = []
    for record in remedies.to_dict("records"):
        row = [
            *([fmt(record.get("round"))] if with_round else []),
            text_or_empty(record.get("remedy")),
            text_or_empty(record.get("status")) or "ok",
            fmt(record.get("epochs")),
            *(fmt(record.get(metric)) for metric in metrics),
            fmt(record.get("improved")),
            fmt(record.get("chosen")),
            fmt_params(record.get("params")),
        ]
        if with_note:
            row.append(_note(record))
        if show_error:
            row.append(text_or_empty(record.get("error")))
        rows.append(row)
    return Table(header, rows)


def audit_blocks(audit: Mapping[str, Any]) -> list[Block]:
    task = audit.get("task")
    facts: list[tuple[str, Any]] = [
        ("task", task),
        ("rows", audit.get("n_rows")),
        ("training rows", audit.get("n_train")),
        ("validation rows", audit.get("n_val")),
        ("features", audit.get("n_features")),
        ("features scaled", audit.get("scaled_features")),
    ]
    if family(task) == "regression":
        facts += [
            ("target scaled", audit.get("scaled_target")),
            ("target mean", audit.get("target_mean")),
            ("target std", audit.get("target_std")),
        ]
    else:
        facts += [("classes", audit.get("n_classes")), ("majority class share", audit.get("majority_share"))]
    facts.append(("largest / smallest feature std", audit.get("feature_std_ratio")))
    facts.append(("trivial predictor val_loss", audit.get("trivial_val_loss")))
    facts += [(f"trivial predictor {name}", value) for name, value in (audit.get("trivial_metrics") or {}).items()]
    facts.append(("reference model", audit.get("reference_model")))
    facts.append(("reference model val_loss", audit.get("reference_val_loss")))
    facts += [(f"reference model {name}", value) for name, value in (audit.get("reference_metrics") or {}).items()]
    blocks: list[Block] = [
        Heading(2, "Data audit"),
        Paragraph(
            "Measured before any network was trained. The trivial predictor always guesses the "
            "class prior (classification) or the mean target (regression); the reference model "
            "is a simple model fitted on the same split. Together they bound what the network "
            "should reach."
        ),
        Table(["quantity", "value"], [[label, fmt(value)] for label, value in facts]),
    ]
    balance = audit.get("class_balance") or {}
    if balance:
        blocks += [
            Heading(3, "Class balance"),
            Table(["class", "share"], [[str(name), fmt(share)] for name, share in balance.items()]),
        ]
    features = [as_dict(feature) for feature in audit.get("features") or []]
    blocks.append(Heading(3, "Features"))
    if features:
        blocks.append(Table(
            ["name", "mean", "std", "min", "max"],
            [[str(f.get("name")), *(fmt(f.get(key)) for key in ("mean", "std", "min", "max"))] for f in features],
        ))
    else:
        blocks.append(Paragraph("No feature statistics were recorded."))
    return blocks
