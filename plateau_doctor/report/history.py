"""Reading the history frame (one row per branch and epoch) for the report's charts and tables."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from plateau_doctor.schema import CLASSIFICATION_METRICS, REGRESSION_METRICS

BASELINE = "baseline"
FINAL = "final"  # the winner retrained for the full epochs (run.pipeline)
_SEARCH_TRIAL = re.compile(r"search-\d+")  # a trial's branch, named by run.search after its number

_MAIN_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("val_r2", "val_mae"),
    "classification": ("val_balanced_accuracy", "val_accuracy"),
}


def family(task: str | None) -> str:
    return "regression" if task == "regression" else "classification"


def ordered_metrics(task: str | None, names: Iterable[str]) -> list[str]:
    """``val_loss`` and the task's metrics first (those present), then any others."""
    names = list(dict.fromkeys(names))
    task_metrics = REGRESSION_METRICS if family(task) == "regression" else CLASSIFICATION_METRICS
    preferred = [name for name in ("val_loss", *task_metrics) if name in names]
    return list(dict.fromkeys([*preferred, *names]))


def floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats (inf kept, anything not a number as NaN); all NaN when absent."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats with every non-finite value (NaN, inf) as NaN; all NaN when absent."""
    values = floats(frame, name)
    return np.where(np.isfinite(values), values, np.nan)


def has_values(frame: pd.DataFrame, name: str) -> bool:
    return bool(np.isfinite(column(frame, name)).any())


def epoch_axis(frame: pd.DataFrame) -> np.ndarray:
    if "epoch" in frame.columns:
        return pd.to_numeric(frame["epoch"], errors="coerce").to_numpy(dtype=float)
    return np.arange(1, len(frame) + 1, dtype=float)


def has_diverged(frame: pd.DataFrame) -> bool:
    """True when a loss of the branch is NaN or infinite."""
    return any(
        name in frame.columns and not np.isfinite(floats(frame, name)).all() for name in ("loss", "val_loss")
    )


def branch_frames(history: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame]]:
    """(branch, its rows sorted by epoch), the baseline first, then in order of appearance."""
    if history is None or history.empty:
        return []
    if "branch" not in history.columns:
        return [(BASELINE, history.sort_values("epoch") if "epoch" in history.columns else history)]
    names = [str(name) for name in pd.unique(history["branch"])]
    names.sort(key=lambda name: name != BASELINE)
    branches = []
    for name in names:
        frame = history[history["branch"].astype(str) == name]
        branches.append((name, frame.sort_values("epoch") if "epoch" in frame.columns else frame))
    return branches


def is_search_trial(name: str) -> bool:
    return _SEARCH_TRIAL.fullmatch(name) is not None


def main_metric(history: pd.DataFrame, task: str | None) -> str | None:
    """The task's headline validation metric that the history records, if any."""
    for name in _MAIN_METRICS[family(task)]:
        if has_values(history, name):
            return name
    return None
