"""One history read once: the loss curves, what they are compared with, and the symptom
record. Pure: numpy only.

The first ``start_from_epoch`` epochs are a warm-up and are skipped; a test "over
``patience`` epochs" compares the last epoch with the one ``patience`` epochs before it,
as Keras' EarlyStopping does, so it needs ``start_from_epoch + patience + 1`` epochs
(:attr:`Run.ready`). Epochs in evidence are 1-based, as Keras prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.curve_math import History, column, smoothed_progress
from plateau_doctor.engine.levels import ReferenceGap, reference_gap
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup


@dataclass(frozen=True)
class Run:
    """One history read once: the loss curves plus what they are compared with."""

    history: History
    audit: DataAudit
    detection: DetectionConfig
    setup: ResolvedSetup | None
    train: np.ndarray | None
    val: np.ndarray | None

    @property
    def n_epochs(self) -> int:
        return len(self.train if self.train is not None else self.val)

    @property
    def patience(self) -> int:
        return self.detection.patience

    @property
    def progress_name(self) -> str:
        """The curve whose progress is judged: the training loss (what stalls), else val_loss."""
        return "loss" if self.train is not None else "val_loss"

    @property
    def progress(self) -> np.ndarray:
        return self.train if self.train is not None else self.val

    @property
    def level_name(self) -> str:
        """The curve compared with the audit's losses: val_loss (no class weights), else loss."""
        return "val_loss" if self.val is not None else "loss"

    @property
    def level(self) -> np.ndarray:
        return self.val if self.val is not None else self.train

    @property
    def ready(self) -> bool:
        """Enough epochs after the warm-up for a test over ``patience`` epochs."""
        return self.n_epochs - self.detection.start_from_epoch >= self.patience + 1

    @property
    def window(self) -> str:
        """The last ``patience`` epochs, 1-based, for evidence."""
        return f"{self.n_epochs - self.patience + 1}-{self.n_epochs}"

    def smoothed_progress(self) -> float:
        progress = smoothed_progress(self.progress, self.detection)
        return math.nan if progress is None else progress

    @property
    def kept_epoch(self) -> int:
        """The 1-based epoch whose weights a callback restored at the end (``ResolvedSetup.kept_epoch``)
        when it is not the last; 0 when the fit leaves the last epoch's."""
        kept = self.setup.kept_epoch if self.setup is not None else 0
        return kept if 0 < kept < self.n_epochs else 0

    def gap(self) -> ReferenceGap | None:
        return reference_gap(self.history, self.audit, self.detection, setup=self.setup)


def read_run(
    history: History, audit: DataAudit, detection: DetectionConfig, setup: ResolvedSetup | None
) -> Run:
    """``history`` as a :class:`Run`; refuses a history without a loss column or an epoch."""
    train = column(history, "loss")
    val = column(history, "val_loss")
    if train is None and val is None:
        raise ValueError("history has no 'loss' or 'val_loss' column; record Keras' History logs for every epoch")
    if len(train if train is not None else val) == 0:
        raise ValueError("history has no epoch; detection needs at least one recorded epoch")
    if val is not None and train is not None and not np.isfinite(val).any() and np.isfinite(train).all():
        val = None  # a validation loss that was never measured is not a divergence
    return Run(history, audit, detection, setup, train, val)


def symptom(name: str, confidence: float, evidence: str) -> Finding:
    """A symptom finding, its confidence clipped to 0..1 and rounded."""
    return Finding(kind="symptom", name=name, confidence=round(min(1.0, max(0.0, confidence)), 3), evidence=evidence)

