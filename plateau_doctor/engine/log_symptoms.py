"""The symptoms read from a bare log's curves alone, where no reference model says what the data
allow (``log_doctor``): a loss frozen to four digits, one that has not moved since its first
epoch, and one that has barely moved but still falls at the end. Pure: numpy and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine import noise
from plateau_doctor.engine.causes.readings import FLAT_FROM_START
from plateau_doctor.engine.curve_math import ema, relative_improvement, smoothed_progress
from plateau_doctor.engine.unstable import FROZEN_SPREAD, is_frozen
from plateau_doctor.schema import Finding

FROZEN_RANGE = FROZEN_SPREAD
"""A loss whose last ``patience + 1`` epochs differ by less than 0.01% of its level is frozen:
minibatch noise alone moves a live network's epoch-mean loss by far more (``unstable.is_frozen``)."""

TRAINING_LOSS_LEARNED = 0.1
"""A training loss 10% or more below its first epoch has learned, even where the monitored loss
barely moved since epoch 1. The first epoch's mean averages the loss over that epoch's whole
trajectory: on real data with hundreds of steps per epoch (a head on a frozen base) most of the
learning lies inside it, and real healthy runs end 12-17% below it (the scenario suite's small
tables, a few steps per epoch, end 37-99% below; ``FLAT_FROM_START`` is read from them). Labelling
rule R6 of the real-log corpus reads "learned" from the same 10%."""

FROZEN_MIN_EPOCHS = 4
"""A log shorter than ``patience + 1`` epochs is frozen when all of them, 4 at least (3 moves),
are: three epoch means equal to four digits in a row are no noise of a live network."""

FROZEN_FLOOR = 1e-3
"""...unless the loss is near zero: a net that fits its training split exactly may freeze there."""


def _monitored(history: pd.DataFrame, detection: DetectionConfig) -> tuple[str, np.ndarray, float, float] | None:
    """The monitored loss (val_loss when logged, else loss), its values, its smoothed progress over
    ``patience`` epochs and how far its smoothed end lies below epoch 1; None when it has a
    non-finite value or fewer epochs than the progress tests need."""
    name = "val_loss" if "val_loss" in history and history["val_loss"].notna().any() else "loss"
    values = history[name].to_numpy(dtype=float)
    if not np.isfinite(values).all() or len(values) < detection.start_from_epoch + detection.patience + 1:
        return None
    progress = smoothed_progress(values, detection)
    if progress is None:
        return None
    return name, values, progress, relative_improvement(float(values[0]), float(ema(values, detection.smoothing)[-1]))


def flat_from_start(history: pd.DataFrame, detection: DetectionConfig) -> Finding | None:
    """The curves-only plateau: no progress over ``patience`` epochs, and barely below epoch 1,
    in the monitored loss and in the training loss alike (a training loss that fell a lot has
    learned, even when the validation loss was already low after the first epoch)."""
    read = _monitored(history, detection)
    if read is None:
        return None
    name, values, progress, overall = read
    if progress >= detection.min_delta or overall >= FLAT_FROM_START or _training_loss_learned(history, detection):
        return None
    return Finding(
        "symptom",
        "plateau",
        round(0.55 + 0.3 * min(1.0, max(0.0, (FLAT_FROM_START - overall) / FLAT_FROM_START)), 3),
        f"{name} has barely moved since epoch 1: {values[0]:.4g} -> {values[-1]:.4g}"
        f" ({100 * overall:.1f}% lower, learning moves it > {100 * FLAT_FROM_START:.0f}%), and improved"
        f" {100 * progress:.1f}% over the last {detection.patience} epochs; no reference model says what the"
        " data allow, so a stall after real progress could not be told from the noise floor",
    )


def barely_begun(history: pd.DataFrame, detection: DetectionConfig) -> Finding | None:
    """The curves-only slow start: barely below epoch 1 (as :func:`flat_from_start`: the monitored
    loss under :data:`FLAT_FROM_START`, the training loss never :data:`TRAINING_LOSS_LEARNED`
    below its first epoch), yet both losses still fall at the end, the training loss beyond its
    noise (:func:`_crawl`). A run that has learned next to nothing and is still moving ended as
    its first descent began: not converged, whatever its level (a loss that leaves a plateau at
    its start, as a small or symmetric initialization's saddle does, falls faster as it leaves)."""
    read = _monitored(history, detection)
    if read is None:
        return None
    name, values, progress, overall = read
    if progress < detection.min_delta or not 0 < overall < FLAT_FROM_START:
        return None
    if "loss" not in history or _training_loss_learned(history, detection):
        return None
    train = history["loss"].to_numpy(dtype=float)
    descent = _crawl(train, detection)
    if descent is None:
        return None
    return Finding(
        "symptom",
        "slow_convergence",
        0.55,
        f"{name} has barely moved since epoch 1: {values[0]:.4g} -> {values[-1]:.4g} ({100 * overall:.1f}% lower,"
        f" learning moves it > {100 * FLAT_FROM_START:.0f}%), and the training loss never went"
        f" {100 * TRAINING_LOSS_LEARNED:.0f}% below its first epoch ({train[0]:.4g} -> {train[-1]:.4g}); yet"
        f" {name} improved {100 * progress:.1f}% over the last {detection.patience} epochs and the training loss"
        f" still falls beyond its noise ({descent.describe()}): the run ended as its first descent began",
    )


def _crawl(train: np.ndarray, detection: DetectionConfig) -> noise.Trend | None:
    """How the training loss still falls at the end, or None: its last ``patience + 1`` epochs
    fall beyond their noise; or, too noisy for that, it falls beyond its noise since the warm-up
    and the end's slope is within its noise of that pace. A run that barely moved is in one regime
    throughout, so its crawl can be read over every epoch after the warm-up: over 6 epochs a fall
    of 0.3% per epoch hides in 1% of batch noise (a cats-and-dogs CNN crawling from 0.69 to 0.67
    in 15 epochs). An end clearly flatter than that pace has stopped: settled, not slow."""
    window = detection.patience + 1
    end = noise.trend(train[-window:])
    if end is not None and end.falls:
        return end
    descent = noise.trend(train[min(detection.start_from_epoch, max(train.size - window, 0)):])
    if descent is None or not descent.falls:
        return None
    # The end's slope (the same whatever the scatter) against the pace, in the steadier scatter read since the warm-up.
    if end is None or end.slope - descent.slope > noise.Z * noise.slope_error(descent.sigma, end.epochs):
        return None
    return descent


def _training_loss_learned(history: pd.DataFrame, detection: DetectionConfig) -> bool:
    """The training loss (smoothed) went :data:`TRAINING_LOSS_LEARNED` or more below its first epoch
    at some point: a loss that fell that far and came back up has moved, whatever it is now."""
    if "loss" not in history:
        return False
    train = history["loss"].to_numpy(dtype=float)
    if not np.isfinite(train).all():
        return False
    return relative_improvement(float(train[0]), float(np.min(ema(train, detection.smoothing)))) >= TRAINING_LOSS_LEARNED


def training_curve(history: pd.DataFrame) -> str:
    """The loss a frozen network shows first: the training loss, else the validation loss."""
    return "loss" if "loss" in history and history["loss"].notna().any() else "val_loss"


def frozen_curve(history: pd.DataFrame, detection: DetectionConfig) -> Finding | None:
    """The training loss stopped changing at all, away from zero: nothing in the network moves."""
    name = training_curve(history)
    tail = history[name].to_numpy(dtype=float)[-(detection.patience + 1):]
    if len(tail) < min(detection.patience + 1, FROZEN_MIN_EPOCHS) or not np.isfinite(tail).all():
        return None
    level = float(np.mean(np.abs(tail)))
    spread = float(tail.max() - tail.min())
    if level <= FROZEN_FLOOR or not is_frozen(tail):
        return None
    first = len(history) - len(tail) + 1
    return Finding(
        "symptom",
        "plateau",
        0.7,
        f"{name} is frozen at {tail[-1]:.6g} over epochs {first}-{len(history)} (range {spread:.2g}, under"
        f" {100 * FROZEN_RANGE:g}% of its level): the network's outputs no longer change",
    )
