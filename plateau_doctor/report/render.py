"""The run report: ``report.md`` and ``report.html``, self-contained with inline PNG plots.

Pure: no Keras, no Prefect. Plots are drawn on :class:`matplotlib.figure.Figure` objects
directly (no pyplot, no global backend state), so rendering is safe from worker threads.
The report is built once as a list of blocks (headings, paragraphs, lists, tables,
images) and rendered twice, to Markdown and to HTML, so both always hold the same text.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from plateau_doctor.engine.causes.catalog import cause_words
from plateau_doctor.schema import CLASSIFICATION_METRICS, HISTORY_SIGNALS, OVERFITTING, REGRESSION_METRICS

SECTION_TITLES: tuple[str, ...] = (
    "Summary",
    "Diagnosis",
    "Curves",
    "Training signals",
    "Remedies",
    "Data audit",
)

SYMPTOM_EXPLANATIONS: dict[str, str] = {
    "diverged": "The loss blew up to a huge value or NaN, so the weights stopped meaning anything.",
    "stuck_at_trivial": (
        "The network predicts no better than always guessing the class prior (or the mean "
        "target): it has learned nothing from the features."
    ),
    "plateau": "The loss stopped falling long before training ended and stayed flat, worse than the data allows.",
    "slow_convergence": "The loss is still falling, but so slowly that training ended far from where it could get.",
    "oscillation": "The loss jumps up and down from epoch to epoch instead of settling.",
    OVERFITTING: (
        "The training loss keeps falling while the validation loss turned and rose: the "
        "network memorises the training rows."
    ),
    "converged": "The loss fell and levelled off near what the data allows: a healthy run.",
}

CAUSE_EXPLANATIONS: dict[str, str] = cause_words()  # each cause's plain words live with its rule

_STATUS_WORDS: dict[str, str] = {
    "healthy": "Healthy: nothing to repair",
    "repaired": "Repaired",
    "improved": "Improved, but short of what the data allows",
    "not_repaired": "Not repaired",
    "diagnosed": "Diagnosed; remedies have not run yet",
}

_NO_REMEDY_REASONS: dict[str, str] = {
    "healthy": "the baseline training was healthy, so there was nothing to repair",
    "diagnosed": "remedies have not run yet; this run stopped after the diagnosis",
}

_MAIN_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("val_r2", "val_mae"),
    "classification": ("val_balanced_accuracy", "val_accuracy"),
}
_SIGNAL_CHART_COLUMNS: tuple[str, ...] = ("grad_norm", "update_ratio", "dead_fraction")
_NOT_SIGNALS: frozenset[str] = frozenset({"loss", "val_loss", *CLASSIFICATION_METRICS, *REGRESSION_METRICS})
_DPI = 100
_BASELINE = "baseline"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 62rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
"""


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Paragraph:
    text: str
    lead: str = ""


@dataclass(frozen=True)
class _Bullets:
    items: list[tuple[str, str]]


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class _Image:
    alt: str
    png: bytes


_Block = Union[_Heading, _Paragraph, _Bullets, _Table, _Image]


def _md(text: str) -> str:
    """Markdown text: HTML-special characters escaped, one line."""
    return html.escape(str(text), quote=False).replace("\n", " ")


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _to_markdown(blocks: Iterable[_Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            parts.append(f"{'#' * block.level} {_md(block.text)}")
        elif isinstance(block, _Paragraph):
            parts.append(f"**{_md(block.lead)}** {_md(block.text)}" if block.lead else _md(block.text))
        elif isinstance(block, _Bullets):
            parts.append("\n".join(
                f"- **{_md(lead)}** {_md(text)}" if lead else f"- {_md(text)}" for lead, text in block.items
            ))
        elif isinstance(block, _Table):
            lines = [
                "| " + " | ".join(_md_cell(cell) for cell in block.header) + " |",
                "|" + "---|" * len(block.header),
                *("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows),
            ]
            parts.append("\n".join(lines))
        else:
            parts.append(f"![{_md(block.alt)}]({_data_uri(block.png)})")
    return "\n\n".join(parts) + "\n"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def _to_html(blocks: Iterable[_Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            body.append(f"<h{block.level}>{_esc(block.text)}</h{block.level}>")
        elif isinstance(block, _Paragraph):
            lead = f"<strong>{_esc(block.lead)}</strong> " if block.lead else ""
            body.append(f"<p>{lead}{_esc(block.text)}</p>")
        elif isinstance(block, _Bullets):
            items = "".join(
                f"<li><strong>{_esc(lead)}</strong> {_esc(text)}</li>" if lead else f"<li>{_esc(text)}</li>"
                for lead, text in block.items
            )
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, _Table):
            head = "".join(f"<th>{_esc(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            body.append(f'<p><img alt="{html.escape(block.alt)}" src="{_data_uri(block.png)}"></p>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any) -> str:
    """A value for a table cell: 4 significant digits, NaN as "NaN", missing as "–"."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return f"{number:.4g}"
    return str(value)


def _number(value: Any) -> float:
    """``value`` as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _pct(value: Any) -> str:
    number = _number(value)
    return f"{number:.0%}" if math.isfinite(number) else ""


def _fmt_seconds(value: Any) -> str:
    seconds = _number(value)
    if not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _fmt_config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _fmt_params(value: Any) -> str:
    """Remedy params (JSON text) as ``key=value, ...``; the raw text when it is not a JSON object."""
    if not isinstance(value, str):
        return _text_or_empty(value)
    try:
        params = json.loads(value)
    except json.JSONDecodeError:
        return value
    if not isinstance(params, dict):
        return value
    return ", ".join(f"{key}={_fmt_config_value(item)}" for key, item in params.items())


def _text_or_empty(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _join(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------- data helpers


def _family(task: str | None) -> str:
    return "regression" if task == "regression" else "classification"


def _ordered_metrics(task: str | None, names: Iterable[str]) -> list[str]:
    """``val_loss`` and the task's metrics first (those present), then any others."""
    names = list(dict.fromkeys(names))
    task_metrics = REGRESSION_METRICS if _family(task) == "regression" else CLASSIFICATION_METRICS
    preferred = [name for name in ("val_loss", *task_metrics) if name in names]
    return list(dict.fromkeys([*preferred, *names]))


def _floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats (inf kept, anything not a number as NaN); all NaN when absent."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats with every non-finite value (NaN, inf) as NaN; all NaN when absent."""
    values = _floats(frame, name)
    return np.where(np.isfinite(values), values, np.nan)


def _has_values(frame: pd.DataFrame, name: str) -> bool:
    return bool(np.isfinite(_column(frame, name)).any())


def _epochs(frame: pd.DataFrame) -> np.ndarray:
    if "epoch" in frame.columns:
        return pd.to_numeric(frame["epoch"], errors="coerce").to_numpy(dtype=float)
    return np.arange(1, len(frame) + 1, dtype=float)


def _diverged(frame: pd.DataFrame) -> bool:
    """True when a loss of the branch is NaN or infinite."""
    return any(
        name in frame.columns and not np.isfinite(_floats(frame, name)).all() for name in ("loss", "val_loss")
    )


def _branches(history: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame]]:
    """(branch, its rows sorted by epoch), the baseline first, then in order of appearance."""
    if history is None or history.empty:
        return []
    if "branch" not in history.columns:
        return [(_BASELINE, history.sort_values("epoch") if "epoch" in history.columns else history)]
    names = [str(name) for name in pd.unique(history["branch"])]
    names.sort(key=lambda name: name != _BASELINE)
    branches = []
    for name in names:
        frame = history[history["branch"].astype(str) == name]
        branches.append((name, frame.sort_values("epoch") if "epoch" in frame.columns else frame))
    return branches


def _main_metric(history: pd.DataFrame, task: str | None) -> str | None:
    """The task's headline validation metric that the history records, if any."""
    for name in _MAIN_METRICS[_family(task)]:
        if _has_values(history, name):
            return name
    return None


def _as_dict(item: Any) -> dict[str, Any]:
    """A finding or feature record as a dict, from a mapping or a dataclass (``Finding``, ``FeatureStats``)."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return dict(item)


def _normalized_findings(summary: Mapping[str, Any], findings: Iterable[Any] | None) -> list[dict[str, Any]]:
    """The findings as dicts; rebuilt from the summary's symptoms and causes when none are given."""
    items = [_as_dict(item) for item in findings or []]
    if items:
        return items
    symptoms = [
        {"kind": "symptom", "name": name, "confidence": math.nan, "evidence": ""}
        for name in summary.get("symptoms") or []
    ]
    causes = [
        {"kind": "cause", "name": cause.get("cause", "?"), "confidence": cause.get("confidence"),
         "evidence": cause.get("evidence", "")}
        for cause in summary.get("causes") or []
    ]
    return symptoms + causes


def _ranked_causes(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    causes = [finding for finding in findings if finding.get("kind") == "cause"]
    return sorted(causes, key=lambda finding: -np.nan_to_num(_number(finding.get("confidence")), nan=0.0))


def _explanation(kind: str, name: str) -> str:
    if kind == "symptom":
        return SYMPTOM_EXPLANATIONS.get(name, "")
    if kind == "cause":
        return CAUSE_EXPLANATIONS.get(name, "")
    return CAUSE_EXPLANATIONS.get(name) or SYMPTOM_EXPLANATIONS.get(name, "")


def _finding_item(finding: Mapping[str, Any]) -> tuple[str, str]:
    """A finding as (name, "(kind, confidence): plain explanation. Evidence: ...")."""
    kind = str(finding.get("kind") or "finding")
    name = str(finding.get("name") or finding.get("cause") or "?")
    confidence = _pct(finding.get("confidence"))
    words = f"({kind}, confidence {confidence})" if confidence else f"({kind})"
    explanation = _explanation(kind, name)
    evidence = _text_or_empty(finding.get("evidence"))
    text = f"{words}: {explanation}" if explanation else words + "."
    if evidence:
        text += f" Evidence: {evidence}"
    return name, text


# --------------------------------------------------------------------------- charts


def _figure(width: float, height: float, left: float, bottom: float, top: float = 0.35, right: float = 0.15,
            **spacing: float) -> Figure:
    """A figure with fixed margins in inches (``spacing``: ``hspace``/``wspace`` between axes).

    Matplotlib's constrained layout measures every tick label of every axes before each
    draw: it took half of the report's time, longer than the run's own diagnosis. Titles
    are set at ``y=1.0`` for the same reason: a title without ``y`` measures the axis'
    tick labels at each draw to clear them, and these charts have none above the axes.
    """
    figure = Figure(figsize=(width, height), dpi=_DPI)
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                           top=1 - top / height, **spacing)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _branch_colors(names: list[str]) -> dict[str, str]:
    palette = [f"C{index}" for index in range(10)]
    colors: dict[str, str] = {}
    others = iter(palette * (len(names) // len(palette) + 1))
    for name in names:
        colors[name] = "black" if name == _BASELINE else next(others)
    return colors


def _no_data(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="0.4")
    axes.set_xticks([])
    axes.set_yticks([])


def causes_chart_png(findings: Iterable[Any]) -> bytes | None:
    """Horizontal bar chart of each cause's confidence, most likely on top; None without causes."""
    causes = _ranked_causes([_as_dict(item) for item in findings or []])
    if not causes:
        return None
    names = [str(cause.get("name") or cause.get("cause") or "?") for cause in causes][::-1]
    confidences = [float(np.nan_to_num(_number(cause.get("confidence")), nan=0.0)) for cause in causes][::-1]
    # Room on the left for the longest name at 8 points (about 0.07 in a character).
    figure = _figure(7, 0.9 + 0.4 * len(names), left=0.2 + 0.07 * max(len(name) for name in names),
                     bottom=0.5, right=0.25)
    axes = figure.subplots()
    bars = axes.barh(names, confidences, color="C3", height=0.6)
    axes.bar_label(bars, labels=[f"{value:.0%}" for value in confidences], padding=3, fontsize=8)
    axes.set_xlim(0, 1.1)
    axes.set_xlabel("confidence")
    axes.set_title("Likely causes, by confidence", fontsize=10, y=1.0)
    axes.tick_params(labelsize=8)
    return _png(figure)


def _plot_losses(axes: Any, branches: list[tuple[str, pd.DataFrame]], colors: dict[str, str]) -> None:
    finite: list[np.ndarray] = []
    any_diverged = False
    for name, frame in branches:
        epochs = _epochs(frame)
        loss, val_loss = _column(frame, "loss"), _column(frame, "val_loss")
        diverged = _diverged(frame)
        any_diverged |= diverged
        label = f"{name} — diverged (NaN)" if diverged else name
        axes.plot(epochs, loss, color=colors[name], linewidth=1.6, label=label)
        axes.plot(epochs, val_loss, color=colors[name], linewidth=1.6, linestyle="--")
        finite.extend(values[np.isfinite(values)] for values in (loss, val_loss))
    values = np.concatenate(finite) if finite else np.array([])
    if values.size and (values > 0).all() and values.max() / values.min() > 100:
        axes.set_yscale("log")
    title = "Loss per epoch (solid: training, dashed: validation)"
    if any_diverged:
        title += "; diverged (NaN) points not drawn"
    axes.set_title(title, fontsize=10, y=1.0)
    axes.set_ylabel("loss")
    axes.legend(fontsize=8, title="branch", title_fontsize=8)


def _plot_metric(
    axes: Any,
    branches: list[tuple[str, pd.DataFrame]],
    colors: dict[str, str],
    metric: str | None,
    audit: Mapping[str, Any],
) -> None:
    if metric is None:
        _no_data(axes, "no validation metric recorded")
        return
    clipped = False
    for name, frame in branches:
        values = _column(frame, metric)
        if metric == "val_r2" and (values < -1).any():
            clipped = True
            values = np.where(values < -1, -1.0, values)
        label = f"{name} — diverged (NaN)" if _diverged(frame) else name
        axes.plot(_epochs(frame), values, color=colors[name], linewidth=1.6, label=label)
    reference = _number((audit.get("reference_metrics") or {}).get(metric))
    if math.isfinite(reference):
        model = audit.get("reference_model") or "reference model"
        axes.axhline(reference, color="0.35", linestyle="-.", linewidth=1.2,
                     label=f"reference ({model}): {reference:.4g}")
    trivial = _number((audit.get("trivial_metrics") or {}).get(metric))
    if math.isfinite(trivial):
        axes.axhline(trivial, color="0.55", linestyle=":", linewidth=1.4, label=f"trivial predictor: {trivial:.4g}")
    axes.set_title(f"{metric} per epoch" + (" (clipped at -1)" if clipped else ""), fontsize=10, y=1.0)
    axes.set_ylabel(metric)
    axes.legend(fontsize=8)


def curves_chart_png(history: pd.DataFrame | None, audit: Mapping[str, Any], task: str | None) -> bytes:
    """Loss/val_loss per epoch (top) and the main validation metric (bottom), one line per branch.

    Loss is solid and val_loss dashed; the metric chart (val_balanced_accuracy for
    classification, val_r2 for regression) carries the audit's reference model and trivial
    predictor as horizontal lines. Non-finite values are left out and the branch is labelled
    "diverged (NaN)".
    """
    task = task or (audit or {}).get("task")
    figure = _figure(7, 6.5, left=1.0, bottom=0.5, hspace=0.16)
    loss_axes, metric_axes = figure.subplots(2, 1, sharex=True)
    branches = _branches(history)
    if not branches:
        _no_data(loss_axes, "no training history recorded")
        _no_data(metric_axes, "no training history recorded")
        return _png(figure)
    colors = _branch_colors([name for name, _ in branches])
    _plot_losses(loss_axes, branches, colors)
    _plot_metric(metric_axes, branches, colors, _main_metric(history, task), audit or {})
    metric_axes.set_xlabel("epoch")
    metric_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


def _signals_chart_png(frame: pd.DataFrame) -> bytes | None:
    names = [name for name in _SIGNAL_CHART_COLUMNS if _has_values(frame, name)]
    if not names:
        return None
    figure = _figure(7, 2.6, left=0.75, bottom=0.5, wspace=0.5)
    epochs = _epochs(frame)
    for axes, name in zip(figure.subplots(1, len(names), sharex=True, squeeze=False)[0], names):
        values = _column(frame, name)
        axes.plot(epochs, values, color="black", marker=".", linewidth=1.2)
        finite = values[np.isfinite(values)]
        if name == "dead_fraction":
            axes.set_ylim(-0.02, 1.02)
        elif (finite > 0).all():
            axes.set_yscale("log")
        axes.set_title(name, fontsize=9, y=1.0)
        axes.set_xlabel("epoch", fontsize=8)
        axes.tick_params(which="both", labelsize=8)  # a log axis labels its minor ticks too
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


# --------------------------------------------------------------------------- sections


def _verdict(summary: Mapping[str, Any]) -> str:
    """One line in plain words: status, symptoms, top cause, chosen remedy."""
    status = str(summary.get("status") or "unknown")
    symptoms = [name for name in summary.get("symptoms") or [] if name != "converged"]
    causes = summary.get("causes") or []
    chosen = summary.get("chosen_remedy")
    words = [_STATUS_WORDS.get(status, status) + "."]
    if symptoms:
        words.append(f"The training showed {_join(symptoms)}.")
    elif status == "healthy" or "converged" in (summary.get("symptoms") or []):
        words.append("The training loss fell and levelled off as it should.")
    if causes:
        top = causes[0]
        confidence = _pct(top.get("confidence"))
        strength = f" ({confidence} confidence)" if confidence else ""
        words.append(f"Most likely cause: {top.get('cause', '?')}{strength}.")
    if chosen:
        words.append(f"Chosen remedy: {chosen}.")
    elif status == "not_repaired":
        words.append("No remedy beat the baseline, so the baseline model is kept.")
    level = _level_sentence(summary)
    if level and status in ("repaired", "improved", "not_repaired"):
        words.append(level)
    return " ".join(words)


def _level_sentence(summary: Mapping[str, Any]) -> str:
    """How far the final model is from the attainable level, and what was tried to get there."""
    level = summary.get("level") or {}
    metric, attainable, final = level.get("metric"), _number(level.get("attainable")), _number(level.get("final"))
    if not metric or not math.isfinite(attainable) or not math.isfinite(final):
        return ""
    gap = attainable - final
    where = (
        f"{_fmt(gap)} below the attainable level {_fmt(attainable)} (the reference models')"
        if gap > 0
        else f"at or above the attainable level {_fmt(attainable)}"
    )
    text = f"The final model's {metric} is {_fmt(final)}, {where}."
    linear, healthy = _number(level.get("linear_reference")), level.get("final_curves_healthy")
    if gap > 0 and math.isfinite(linear):
        side = "at or above" if final >= linear else "below"
        checked = (
            "healthy when diagnosed again" if healthy
            else "not healthy when diagnosed again (a sick symptom or a clear gap to the reference)"
        )
        text += f" It is {side} the regularized linear reference {_fmt(linear)}, and its curves are {checked}."
    tried = []
    rounds = summary.get("rounds") or 0
    if rounds:
        tried.append(f"{rounds} round{'s' if rounds != 1 else ''} of remedies")
    if summary.get("search_trials"):
        tried.append(f"{summary['search_trials']} guided-search trials")
    if tried and summary.get("status") != "repaired":
        text += f" Tried: {_join(tried)}" + (f"; stopped because {summary['stop_reason']}." if summary.get("stop_reason") else ".")
    return text


def _metrics_table(summary: Mapping[str, Any], task: str | None) -> _Table:
    baseline = summary.get("baseline") or {}
    final = summary.get("final") or {}
    baseline_metrics = baseline.get("metrics") or {}
    final_metrics = final.get("metrics") or {}
    rows = [["epochs", _fmt(baseline.get("epochs")), _fmt(final.get("epochs"))]]
    for name in _ordered_metrics(task, [*baseline_metrics, *final_metrics]):
        rows.append([name, _fmt(baseline_metrics.get(name)), _fmt(final_metrics.get(name))])
    return _Table(["", "baseline", "final"], rows)


def _summary_blocks(summary: Mapping[str, Any], task: str | None) -> list[_Block]:
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
        ("wall time", _fmt_seconds(summary.get("wall_seconds"))),
    ]
    blocks: list[_Block] = [
        _Heading(2, "Summary"),
        _Table(["run", "value"], [[label, _fmt(value)] for label, value in facts]),
        _Paragraph("Validation metrics of the user's model (baseline) and of the model kept (final):"),
        _metrics_table(summary, task),
    ]
    config = summary.get("config")
    if isinstance(config, Mapping) and config:
        blocks += [
            _Heading(3, "Configuration"),
            _Table(["setting", "value"], [[key, _fmt_config_value(value)] for key, value in _flatten(config)]),
        ]
    return blocks


def _diagnosis_blocks(summary: Mapping[str, Any], findings: list[dict[str, Any]]) -> list[_Block]:
    blocks: list[_Block] = [_Heading(2, "Diagnosis")]
    preflight = [_as_dict(item) for item in summary.get("preflight") or []]
    if preflight:
        blocks += [
            _Heading(3, "Preflight checks"),
            _Paragraph("Found in the data and the model before any training:"),
            _Bullets([_finding_item(finding) for finding in preflight]),
        ]
    symptoms = [finding for finding in findings if finding.get("kind") == "symptom"]
    blocks.append(_Heading(3, "Symptoms"))
    blocks.append(
        _Bullets([_finding_item(finding) for finding in symptoms])
        if symptoms else _Paragraph("No symptom was recorded.")
    )
    causes = _ranked_causes(findings)
    blocks.append(_Heading(3, "Causes"))
    if not causes:
        sick = any(finding.get("name") != "converged" for finding in symptoms)
        blocks.append(_Paragraph(
            "No cause could be pinned down from the evidence." if sick else "No cause: nothing needed repair."
        ))
        return blocks
    blocks.append(_Paragraph("Ranked, most likely first:"))
    blocks.append(_Bullets([_finding_item(finding) for finding in causes]))
    chart = causes_chart_png(causes)
    if chart is not None:
        blocks.append(_Image("Confidence of each likely cause", chart))
    return blocks


def _branch_table(branches: list[tuple[str, pd.DataFrame]], metric: str | None) -> _Table:
    header = ["branch", "epochs", "last loss", "last val_loss", "best val_loss"]
    if metric:
        header.append(f"last {metric}")
    header.append("diverged")
    rows = []
    for name, frame in branches:
        val_loss = _column(frame, "val_loss")
        row = [
            name,
            _fmt(len(frame)),
            _fmt(_floats(frame, "loss")[-1]),
            _fmt(_floats(frame, "val_loss")[-1]),
            _fmt(np.nanmin(val_loss) if np.isfinite(val_loss).any() else None),
        ]
        if metric:
            row.append(_fmt(_floats(frame, metric)[-1]))
        row.append(_fmt(_diverged(frame)))
        rows.append(row)
    return _Table(header, rows)


def _curves_blocks(history: pd.DataFrame | None, audit: Mapping[str, Any], task: str | None) -> list[_Block]:
    blocks: list[_Block] = [_Heading(2, "Curves")]
    branches = _branches(history)
    if not branches:
        blocks.append(_Paragraph("No training history was recorded."))
        return blocks
    metric = _main_metric(history, task)
    blocks.append(_Paragraph(
        "One colour per branch (baseline in black). Top: training loss (solid) and validation "
        "loss (dashed). Bottom: the main validation metric, with the reference model and the "
        "trivial predictor from the data audit as horizontal lines."
    ))
    blocks.append(_Image("Loss and validation metric per epoch, one line per branch",
                         curves_chart_png(history, audit, task)))
    blocks.append(_branch_table(branches, metric))
    return blocks


def _signals_blocks(history: pd.DataFrame | None) -> list[_Block]:
    blocks: list[_Block] = [_Heading(2, "Training signals")]
    branches = _branches(history)
    if not branches:
        blocks.append(_Paragraph("No training signals were recorded."))
        return blocks
    name, frame = branches[0]
    names = [signal for signal in HISTORY_SIGNALS if signal not in _NOT_SIGNALS and _has_values(frame, signal)]
    if not names:
        blocks.append(_Paragraph(f"No training signal was recorded for the {name} branch."))
        return blocks
    blocks.append(_Paragraph(f"Measured on the {name} branch at the end of each epoch."))
    chart = _signals_chart_png(frame)
    if chart is not None:
        blocks.append(_Image(f"Gradient norm, update ratio and dead-unit fraction of the {name} branch", chart))
    rows = []
    for signal in names:
        values = _column(frame, signal)
        rows.append([signal, _fmt(values[0]), _fmt(values[-1]), HISTORY_SIGNALS[signal]])
    blocks.append(_Table(["signal", "first epoch", "last epoch", "meaning"], rows))
    return blocks


def _path_blocks(summary: Mapping[str, Any], history: pd.DataFrame | None, audit: Mapping[str, Any],
                 task: str | None) -> list[_Block]:
    """Baseline -> round 1's winner -> ...: each step's numbers and curves."""
    steps = [_as_dict(step) for step in summary.get("path") or []]
    if len(steps) < 2:
        return []
    names = [str(step.get("step")) for step in steps]
    blocks: list[_Block] = [
        _Heading(3, "Path"),
        _Paragraph(
            " → ".join(names) + ". Each round treats the previous round's winner, diagnosed again from its own "
            "curves; the search, if any, starts from the best model so far."
        ),
        _Table(
            ["step", "round", str((summary.get("level") or {}).get("metric") or "metric"), "score", "epochs"],
            [[name, _fmt(step.get("round")), _fmt(step.get("metric")), _fmt(step.get("score")), _fmt(step.get("epochs"))]
             for name, step in zip(names, steps)],
        ),
    ]
    if history is not None and not history.empty and "branch" in history.columns:
        on_path = history[history["branch"].astype(str).isin(names)]
        if not on_path.empty:
            blocks.append(_Image("Curves of each step of the path", curves_chart_png(on_path, audit, task)))
    return blocks


def _note(record: Mapping[str, Any]) -> str:
    """The short why of a row: where a branch was pruned, which search trial it is."""
    reason = _text_or_empty(record.get("reason"))
    notes = []
    if "trial " in reason and str(record.get("remedy")) == "search":
        notes.append(reason.split(";")[0])
    if "pruned at epoch" in reason:
        notes.append(reason[reason.index("pruned at epoch"):])
    return "; ".join(notes)


def _remedies_blocks(summary: Mapping[str, Any], remedies: pd.DataFrame | None, task: str | None) -> list[_Block]:
    blocks: list[_Block] = [_Heading(2, "Remedies")]
    status = str(summary.get("status") or "")
    if remedies is None or remedies.empty:
        reason = _NO_REMEDY_REASONS.get(
            status, "none was recorded for this run (none enabled, or none addresses the diagnosed causes)"
        )
        blocks.append(_Paragraph(f"No remedy branch ran: {reason}."))
        return blocks
    metrics = _ordered_metrics(task, [column for column in remedies.columns if str(column).startswith("val_")])
    show_error = "error" in remedies.columns and remedies["error"].map(_text_or_empty).astype(bool).any()
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
            *([_fmt(record.get("round"))] if with_round else []),
            _text_or_empty(record.get("remedy")),
            _text_or_empty(record.get("status")) or "ok",
            _fmt(record.get("epochs")),
            *(_fmt(record.get(metric)) for metric in metrics),
            _fmt(record.get("improved")),
            _fmt(record.get("chosen")),
            _fmt_params(record.get("params")),
        ]
        if with_note:
            row.append(_note(record))
        if show_error:
            row.append(_text_or_empty(record.get("error")))
        rows.append(row)
    blocks.append(_Table(header, rows))
    chosen = summary.get("chosen_remedy")
    reason = _text_or_empty(summary.get("winner_reason"))
    if chosen:
        blocks.append(_Paragraph(f"{chosen}. {reason}" if reason else f"{chosen}.", lead="Winner:"))
    else:
        blocks.append(_Paragraph(reason or "No remedy improved on the baseline, so the baseline model is kept.",
                                 lead="Winner: none."))
    rounds = [str(text) for text in summary.get("round_reasons") or []]
    if len(rounds) > 1:
        blocks.append(_Bullets([(text.split(":")[0], text.split(":", 1)[1].strip()) for text in rounds]))
    return blocks


def _audit_blocks(audit: Mapping[str, Any]) -> list[_Block]:
    task = audit.get("task")
    facts: list[tuple[str, Any]] = [
        ("task", task),
        ("rows", audit.get("n_rows")),
        ("training rows", audit.get("n_train")),
        ("validation rows", audit.get("n_val")),
        ("features", audit.get("n_features")),
        ("features scaled", audit.get("scaled_features")),
    ]
    if _family(task) == "regression":
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
    blocks: list[_Block] = [
        _Heading(2, "Data audit"),
        _Paragraph(
            "Measured before any network was trained. The trivial predictor always guesses the "
            "class prior (classification) or the mean target (regression); the reference model "
            "is a simple model fitted on the same split. Together they bound what the network "
            "should reach."
        ),
        _Table(["quantity", "value"], [[label, _fmt(value)] for label, value in facts]),
    ]
    balance = audit.get("class_balance") or {}
    if balance:
        blocks += [
            _Heading(3, "Class balance"),
            _Table(["class", "share"], [[str(name), _fmt(share)] for name, share in balance.items()]),
        ]
    features = [_as_dict(feature) for feature in audit.get("features") or []]
    blocks.append(_Heading(3, "Features"))
    if features:
        blocks.append(_Table(
            ["name", "mean", "std", "min", "max"],
            [[str(f.get("name")), *(_fmt(f.get(key)) for key in ("mean", "std", "min", "max"))] for f in features],
        ))
    else:
        blocks.append(_Paragraph("No feature statistics were recorded."))
    return blocks


# --------------------------------------------------------------------------- public


def render_report(
    summary: Mapping[str, Any],
    audit: Mapping[str, Any],
    history: pd.DataFrame | None,
    findings: list[dict[str, Any]],
    remedies: pd.DataFrame | None = None,
) -> tuple[str, str]:
    """Render the run report as ``(markdown_text, html_text)``, both self-contained.

    ``summary`` is summary.json's dict, ``audit`` a ``DataAudit.to_dict()``, ``history``
    one row per branch and epoch, ``findings`` the diagnosis rows and ``remedies`` one row
    per remedy tried (None or empty when none ran). Plots are inline base64 PNGs.
    """
    audit = audit or {}
    task = summary.get("task") or audit.get("task")
    run_id = str(summary.get("run_id") or "unknown")
    title = f"plateau-doctor run {run_id}"
    blocks: list[_Block] = [
        _Heading(1, title),
        _Paragraph(_verdict(summary), lead="Verdict:"),
        *_summary_blocks(summary, task),
        *_diagnosis_blocks(summary, _normalized_findings(summary, findings)),
        *_curves_blocks(history, audit, task),
        *_signals_blocks(history),
        *_remedies_blocks(summary, remedies, task),
        *_path_blocks(summary, history, audit, task),
        *_audit_blocks(audit),
    ]
    return _to_markdown(blocks), _to_html(blocks, title)


def markdown_summary(summary: Mapping[str, Any]) -> str:
    """A short Markdown summary (verdict, baseline vs final metrics, causes with evidence)."""
    task = summary.get("task")
    blocks: list[_Block] = [
        _Heading(2, f"plateau-doctor run {summary.get('run_id') or 'unknown'}"),
        _Paragraph(_verdict(summary), lead="Verdict:"),
        _metrics_table(summary, task),
    ]
    causes = _ranked_causes(_normalized_findings(summary, None))
    if causes:
        blocks += [_Heading(3, "Likely causes"), _Bullets([_finding_item(cause) for cause in causes])]
    return _to_markdown(blocks)
