"""A fit that validates at some epochs only (Keras' ``fit(validation_freq=k)``): its curves are
read at the epochs it validated. Pure: numpy only.

Keras then logs no ``val_`` metric at the other epochs. A CSVLogger file writes ``NA`` there,
a console prints no ``val_`` metric, a callback's logs lack the keys: each is a missing value,
read as NaN. A NaN validation loss is also what a fit whose weights overflowed logs, and that
is read as ``diverged``. The two are told apart by how overflow behaves: weights that overflow
stay non-finite, so the training loss is non-finite too by the next epoch and no later
validation loss is finite again. A NaN validation loss at an epoch whose training loss is
finite is an epoch the fit did not validate when a finite one follows it, or when it lies
within one validation interval after the last validated epoch (the interval: the narrowest gap
between validated epochs, or, with one validated epoch, its position, since Keras validates
when the epoch's number is a multiple of ``validation_freq``).

Reading the curves at the validated epochs keeps the training and validation losses of the
same epochs side by side; the tests' windows (``patience`` epochs) then span that many
validations.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.curve_math import History, column


def not_validated(history: History) -> np.ndarray | None:
    """A mask of the epochs the fit did not validate, or None when it validated at every epoch
    that it trained (or never: no ``val_loss`` at all)."""
    train, val = column(history, "loss"), column(history, "val_loss")
    if train is None or val is None or train.size != val.size:
        return None
    validated = np.flatnonzero(np.isfinite(val))
    if validated.size == 0:
        return None
    gaps = np.diff(validated)
    interval = int(gaps.min()) if gaps.size else int(validated[0]) + 1
    epochs = np.arange(val.size)
    followed = epochs < validated[-1]
    within = (epochs > validated[-1]) & (epochs - validated[-1] < interval)
    mask = np.isnan(val) & np.isfinite(train) & (followed | within)
    return mask if mask.any() else None


def on_validated_epochs(history: History, detection: DetectionConfig) -> tuple[History, DetectionConfig, np.ndarray | None]:
    """``history`` at the epochs the fit validated, ``detection`` with its warm-up
    (``start_from_epoch``, epochs trained) counted among them, and :func:`not_validated`'s mask;
    all unchanged (mask None) when it validated at every epoch."""
    mask = not_validated(history)
    if mask is None:
        return history, detection, None
    keep = ~mask
    detection = detection.model_copy(update={"start_from_epoch": int(keep[:detection.start_from_epoch].sum())})
    if hasattr(history, "iloc"):
        return history.iloc[np.flatnonzero(keep)].reset_index(drop=True), detection, mask
    return {name: [value for value, kept in zip(values, keep) if kept] for name, values in history.items()}, detection, mask


def validated_note(mask: np.ndarray) -> str:
    return (f"val_loss was logged at {int((~mask).sum())} of {mask.size} epochs (fit's validation_freq): the"
            " curves are read at those epochs, and their epochs are counted among them")


def kept_among_validated(kept: int, mask: np.ndarray) -> int:
    """A restored epoch (1-based, of all the epochs) counted among the validated ones: EarlyStopping
    monitors a validation metric, so the epoch it keeps is a validated one."""
    return int((~mask)[:kept].sum()) if kept > 0 else 0


def spread_validations(lists: dict) -> tuple[dict, str] | None:
    """``History.history`` of a ``validation_freq=k`` fit holds one ``val_`` value per validation:
    m values where ``loss`` has n. Keras 3 validates when the epoch's number is a multiple of k, so
    m = n // k; when exactly one k >= 2 fits, each ``val_`` list is spread over epochs k, 2k, ...
    (NaN between: not validated), with a note. None when the lengths fit no such k, or more than one,
    or there is one validation (too little to tell a cadence from a list cut short)."""
    train, val = lists.get("loss"), lists.get("val_loss")
    if not isinstance(train, list) or not isinstance(val, list) or not 1 < len(val) < len(train):
        return None
    n, m = len(train), len(val)
    fits = [k for k in range(2, n + 1) if n // k == m]
    if len(fits) != 1:
        return None
    k, spread = fits[0], dict(lists)
    for name, values in lists.items():
        if name.startswith("val_") and isinstance(values, list) and len(values) == m:
            spread[name] = [math.nan] * n
            for index, value in enumerate(values):
                spread[name][(index + 1) * k - 1] = value
    return spread, (f"val_ lists of {m} values for {n} epochs: read as validation_freq={k}, the validations at"
                    f" epochs {k}, {2 * k}, ..., {m * k}")
