"""The report's charts as PNG bytes: likely causes, loss and metric curves, training signals.

Plots are drawn on :class:`matplotlib.figure.Figure` objects directly (no pyplot, no global
backend state), so rendering is safe from worker threads.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from plateau_doctor.report.findings import as_dict, ranked_causes
from plateau_doctor.report.format import number
from plateau_doctor.report.history import (
    BASELINE,
    branch_frames,
    column,
    epoch_axis,
    has_diverged,
    has_values,
    is_search_trial,
    main_metric,
)

_SIGNAL_CHART_COLUMNS: tuple[str, ...] = ("grad_norm", "update_ratio", "dead_fraction")
_DPI = 100
_AXES_WIDTH = 5.6  # inches of curves; the legends take the margin right of them
_CHAR_WIDTH = 0.062  # inches per character of an 8-point legend label (DejaVu Sans: 0.055-0.061 measured)
_LEGEND_PAD = 0.6  # inches of a legend besides its text: the gap to the axes, the line sample, the frame
_MAX_NAMED_OTHERS = 4  # branches neither kept nor search trials, each with its own legend entry; more share one
_OTHERS_COLOR = "#6f8fb0"
_TRIALS_COLOR = "0.55"


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


def _no_data(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="0.4")
    axes.set_xticks([])
    axes.set_yticks([])


def causes_chart_png(findings: Iterable[Any]) -> bytes | None:
    """Horizontal bar chart of each cause's confidence, most likely on top; None without causes."""
    causes = ranked_causes([as_dict(item) for item in findings or []])
    if not causes:
        return None
    names = [str(cause.get("name") or cause.get("cause") or "?") for cause in causes][::-1]
    confidences = [float(np.nan_to_num(number(cause.get("confidence")), nan=0.0)) for cause in causes][::-1]
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


@dataclass(frozen=True)
class _LineStyle:
    """How one branch is drawn, and its legend entry (None: its group's entry, on another line, stands for it)."""

    color: str
    linewidth: float
    alpha: float = 1.0
    zorder: float = 2.0
    label: str | None = None

    def line(self, **extra: Any) -> dict[str, Any]:
        return {"color": self.color, "linewidth": self.linewidth, "alpha": self.alpha, "zorder": self.zorder, **extra}


def _branch_styles(branches: list[tuple[str, pd.DataFrame]], kept: Collection[str] | None) -> dict[str, _LineStyle]:
    """The baseline and the kept branches at full weight, each in the legend; the other branches faint.

    After a search two dozen branches share the chart: the reader follows the baseline,
    each round's winner and the model kept, so only those stand out. The others are thin
    and light: each in its own colour and legend entry while there are few, else all in one
    muted colour under one entry; search trials, in grey, always share one entry. ``kept``
    None keeps every branch. In legend order: kept, others, trials.
    """
    labels = {name: f"{name} — diverged (NaN)" if has_diverged(frame) else name for name, frame in branches}
    followed = [name for name in labels if kept is None or name == BASELINE or name in kept]
    trials = [name for name in labels if name not in followed and is_search_trial(name)]
    others = [name for name in labels if name not in followed and name not in trials]
    palette = itertools.cycle([f"C{index}" for index in range(10)])
    styles = {
        name: _LineStyle("black" if name == BASELINE else next(palette), 1.6, zorder=3, label=labels[name])
        for name in followed
    }
    named = len(others) <= _MAX_NAMED_OTHERS
    for index, name in enumerate(others):
        group = f"other branches ({len(others)})" if index == 0 else None
        styles[name] = _LineStyle(next(palette) if named else _OTHERS_COLOR, 0.9, 0.6,
                                  label=labels[name] if named else group)
    for index, name in enumerate(trials):
        styles[name] = _LineStyle(_TRIALS_COLOR, 0.7, 0.45, zorder=1,
                                  label=f"search trials ({len(trials)})" if index == 0 else None)
    return styles


def _level_lines(audit: Mapping[str, Any], metric: str | None) -> list[tuple[float, dict[str, Any]]]:
    """The audit's reference model and trivial predictor on ``metric``: (value, line style with label)."""
    if metric is None:
        return []
    lines = []
    reference = number((audit.get("reference_metrics") or {}).get(metric))
    if math.isfinite(reference):
        model = audit.get("reference_model") or "reference model"
        lines.append((reference, {"color": "0.35", "linestyle": "-.", "linewidth": 1.2,
                                  "label": f"reference ({model}): {reference:.4g}"}))
    trivial = number((audit.get("trivial_metrics") or {}).get(metric))
    if math.isfinite(trivial):
        lines.append((trivial, {"color": "0.55", "linestyle": ":", "linewidth": 1.4,
                                "label": f"trivial predictor: {trivial:.4g}"}))
    return lines


def _legend_outside(axes: Any, **options: Any) -> None:
    """The legend right of the axes, in the figure's right margin: never over a curve."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **options)


def _plot_losses(axes: Any, branches: list[tuple[str, pd.DataFrame]], styles: dict[str, _LineStyle]) -> None:
    finite: list[np.ndarray] = []
    any_diverged = False
    for name, frame in branches:
        epochs = epoch_axis(frame)
        loss, val_loss = column(frame, "loss"), column(frame, "val_loss")
        any_diverged |= has_diverged(frame)
        axes.plot(epochs, loss, **styles[name].line(label=styles[name].label))
        axes.plot(epochs, val_loss, **styles[name].line(linestyle="--"))
        finite.extend(values[np.isfinite(values)] for values in (loss, val_loss))
    values = np.concatenate(finite) if finite else np.array([])
    if values.size and (values > 0).all() and values.max() / values.min() > 100:
        axes.set_yscale("log")
    title = "Loss per epoch (solid: training, dashed: validation)"
    if any_diverged:
        title += "; diverged (NaN) points not drawn"
    axes.set_title(title, fontsize=10, y=1.0)
    axes.set_ylabel("loss")
    _legend_outside(axes, title="branch", title_fontsize=8)


def _plot_metric(
    axes: Any,
    branches: list[tuple[str, pd.DataFrame]],
    styles: dict[str, _LineStyle],
    metric: str | None,
    levels: list[tuple[float, dict[str, Any]]],
) -> None:
    """The metric per branch (the loss chart's legend names the branches) and the audit's levels."""
    if metric is None:
        _no_data(axes, "no validation metric recorded")
        return
    clipped = False
    for name, frame in branches:
        values = column(frame, metric)
        if metric == "val_r2" and (values < -1).any():
            clipped = True
            values = np.where(values < -1, -1.0, values)
        axes.plot(epoch_axis(frame), values, **styles[name].line())
    for value, line in levels:
        axes.axhline(value, **line)
    axes.set_title(f"{metric} per epoch" + (" (clipped at -1)" if clipped else ""), fontsize=10, y=1.0)
    axes.set_ylabel(metric)
    _legend_outside(axes)


def curves_figure(
    history: pd.DataFrame | None, audit: Mapping[str, Any], task: str | None, kept: Collection[str] | None = None
) -> Figure:
    """Loss/val_loss per epoch (top) and the main validation metric (bottom), one line per branch.

    Loss is solid and val_loss dashed; the metric chart (val_balanced_accuracy for
    classification, val_r2 for regression) carries the audit's reference model and trivial
    predictor as horizontal lines. Non-finite values are left out and the branch is labelled
    "diverged (NaN)". ``kept``: the branches drawn at full weight besides the baseline (see
    :func:`_branch_styles`); None draws every branch so. The legends sit right of the axes,
    in a margin as wide as their longest label.
    """
    audit = audit or {}
    task = task or audit.get("task")
    branches = branch_frames(history)
    styles = _branch_styles(branches, kept)
    branches = sorted(branches, key=lambda branch: list(styles).index(branch[0]))  # the legend's order
    metric = main_metric(history, task) if branches else None
    levels = _level_lines(audit, metric)
    labels = ["branch", *(style.label for style in styles.values() if style.label),
              *(line["label"] for _, line in levels)]
    right = _LEGEND_PAD + _CHAR_WIDTH * max(len(label) for label in labels)
    figure = _figure(1.0 + _AXES_WIDTH + right, 6.5, left=1.0, bottom=0.5, right=right, hspace=0.16)
    loss_axes, metric_axes = figure.subplots(2, 1, sharex=True)
    if not branches:
        _no_data(loss_axes, "no training history recorded")
        _no_data(metric_axes, "no training history recorded")
        return figure
    _plot_losses(loss_axes, branches, styles)
    _plot_metric(metric_axes, branches, styles, metric, levels)
    metric_axes.set_xlabel("epoch")
    metric_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def curves_chart_png(
    history: pd.DataFrame | None, audit: Mapping[str, Any], task: str | None, kept: Collection[str] | None = None
) -> bytes:
    """:func:`curves_figure` as PNG bytes."""
    return _png(curves_figure(history, audit, task, kept))


def signals_chart_png(frame: pd.DataFrame) -> bytes | None:
    """Gradient norm, update ratio and dead-unit fraction of one branch per epoch; None without any."""
    names = [name for name in _SIGNAL_CHART_COLUMNS if has_values(frame, name)]
    if not names:
        return None
    figure = _figure(7, 2.6, left=0.75, bottom=0.5, wspace=0.5)
    epochs = epoch_axis(frame)
    for axes, name in zip(figure.subplots(1, len(names), sharex=True, squeeze=False)[0], names):
        values = column(frame, name)
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
