"""The arithmetic of one curve: smoothing, relative progress, recent and typical values, and
the numbers as evidence quotes them. Pure: numpy only.

A curve is one column of a per-epoch history (``schema.HISTORY_SIGNALS``): a missing or
all-NaN column is "not measured". Progress is relative (a share of the loss' level) and
read on an EMA-smoothed curve, so neither one noisy epoch nor the scale of the loss decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from plateau_doctor.config import DetectionConfig

History = Mapping[str, Sequence[float]]
"""Per-epoch columns named as in ``schema.HISTORY_SIGNALS``; a pandas DataFrame works too."""

TINY = 1e-12
"""Guards divisions by a loss of exactly zero."""


def ema(values: Sequence[float], weight: float) -> np.ndarray:
    """Exponential moving average; ``weight`` is the newest epoch's share (1 = no smoothing).

    A non-finite epoch does not move the average (it carries the previous value); epochs
    before the first finite one stay NaN.
    """
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"ema does not support weight={weight!r}; use 0 < weight <= 1 (1 = no smoothing)")
    data = np.asarray(values, dtype=float).ravel()
    smoothed = np.full(data.shape, np.nan)
    current = math.nan
    for index, value in enumerate(data):
        if math.isfinite(value):
            current = value if math.isnan(current) else weight * value + (1.0 - weight) * current
        smoothed[index] = current
    return smoothed


def relative_improvement(before: float, after: float) -> float:
    """Share of the loss removed from ``before`` to ``after``: (before - after) / |before|.

    Positive when the loss fell, negative when it rose; independent of the loss' scale.
    """
    return float((before - after) / max(abs(before), TINY))


def column(history: History, name: str) -> np.ndarray | None:
    """The raw column as floats (NaN and inf kept), or None when it is missing."""
    if name not in history:
        return None
    return np.asarray(history[name], dtype=float).ravel()


def series(history: History, name: str) -> np.ndarray | None:
    """The column as floats, or None when it is missing or holds no finite value."""
    values = column(history, name)
    return values if values is not None and np.isfinite(values).any() else None


def recent_mean(values: np.ndarray | None, epochs: int) -> float:
    """Mean of the finite values among the last ``epochs`` epochs (NaN when there are none)."""
    if values is None:
        return math.nan
    tail = values[-max(epochs, 1):]
    finite = tail[np.isfinite(tail)]
    return float(finite.mean()) if finite.size else math.nan


def typical_value(values: np.ndarray | None, start_from_epoch: int) -> float:
    """Median of the finite values after the warm-up (of all epochs if the run is shorter)."""
    if values is None:
        return math.nan
    tail = values[start_from_epoch:] if len(values) > start_from_epoch else values
    finite = tail[np.isfinite(tail)]
    return float(np.median(finite)) if finite.size else math.nan


def smoothed_progress(values: Sequence[float], detection: DetectionConfig) -> float | None:
    """Relative improvement of the EMA-smoothed curve over the last ``patience`` epochs.

    The warm-up epochs are left out of the average. None when the run is too short.
    """
    data = np.asarray(values, dtype=float).ravel()[detection.start_from_epoch:]
    if len(data) < detection.patience + 1:
        return None
    smoothed = ema(data, detection.smoothing)
    return relative_improvement(smoothed[-1 - detection.patience], smoothed[-1])


def ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between; NaN counts as 0."""
    if not math.isfinite(value):
        return 0.0
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def fmt(value: float) -> str:
    """A number as evidence quotes it: four significant digits."""
    return f"{value:.4g}"


def pct(value: float) -> str:
    """A share as evidence quotes it: a percentage with one decimal."""
    return f"{100.0 * value:.1f}%"


def log_rate(values: np.ndarray) -> float:
    """Per-epoch relative fall of a positive loss: minus the least-squares slope of its log
    (0.02 = falling 2% per epoch); NaN when a value is not positive and finite."""
    if values.size < 2 or not np.all(np.isfinite(values) & (values > 0)):
        return math.nan
    return float(-np.polyfit(np.arange(values.size), np.log(values), 1)[0])


def window_progress(loss: np.ndarray, detection: DetectionConfig) -> tuple[float, float]:
    """Per-epoch relative fall of the training loss over the last ``patience`` epochs, and over
    the ``patience`` epochs before them (NaN when the run is too short). Fitted on the raw
    curve's log rather than the smoothed one: an EMA lags, and would call a curve that has
    just flattened still fast. A run shorter than the warm-up and a window is read on the
    epochs it has (its whole run is its end)."""
    p = detection.patience
    data = loss[detection.start_from_epoch:]
    recent = log_rate((data if data.size >= p + 1 else loss)[-(p + 1):])
    before = log_rate(data[-(2 * p + 1):-p]) if data.size >= 2 * p + 1 else math.nan
    return recent, before
