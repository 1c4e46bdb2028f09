"""The report's charts as PNG bytes: likely causes, loss and metric curves, training signals.

Plots are drawn on :class:`matplotlib.figure.Figure` objects directly (no pyplot, no global
backend state), so rendering is safe from worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
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
    main_metric,
)

_SIGNAL_CHART_COLUMNS: tuple[str, ...] = ("grad_norm", "update_ratio", "dead_fraction")
_DPI = 100


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
        colors[name] = "black" if name == BASELINE else next(others)
    return colors


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


def _plot_losses(axes: Any, branches: list[tuple[str, pd.DataFrame]], colors: dict[str, str]) -> None:
    finite: list[np.ndarray] = []
    any_diverged = False
    for name, frame in branches:
        epochs = epoch_axis(frame)
        loss, val_loss = column(frame, "loss"), column(frame, "val_loss")
        diverged = has_diverged(frame)
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
        values = column(frame, metric)
        if metric == "val_r2" and (values < -1).any():
            clipped = True
            values = np.where(values < -1, -1.0, values)
        label = f"{name} — diverged (NaN)" if has_diverged(frame) else name
        axes.plot(epoch_axis(frame), values, color=colors[name], linewidth=1.6, label=label)
    reference = number((audit.get("reference_metrics") or {}).get(metric))
    if math.isfinite(reference):
        model = audit.get("reference_model") or "reference model"
        axes.axhline(reference, color="0.35", linestyle="-.", linewidth=1.2,
                     label=f"reference ({model}): {reference:.4g}")
    trivial = number((audit.get("trivial_metrics") or {}).get(metric))
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
    branches = branch_frames(history)
    if not branches:
        _no_data(loss_axes, "no training history recorded")
        _no_data(metric_axes, "no training history recorded")
        return _png(figure)
    colors = _branch_colors([name for name, _ in branches])
    _plot_losses(loss_axes, branches, colors)
    _plot_metric(metric_axes, branches, colors, main_metric(history, task), audit or {})
    metric_axes.set_xlabel("epoch")
    metric_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


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
