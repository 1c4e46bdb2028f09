"""Fit one branch (the baseline or a remedy) and return its recorded history."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from plateau_doctor.training.backends import require_backend, seeded
from plateau_doctor.training.best_weights import BASELINE, keep_best_epoch
from plateau_doctor.training.siblings import restored_epoch
from plateau_doctor.config import DoctorConfig
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.training.model import (
    build_model,
    compile_model,
    keras,
    labels_for_loss,
    load_user_model,
    resolve_setup,
)
from plateau_doctor.training.recorder import GRADIENT_BATCH_ROWS, Recorder, Rows
from plateau_doctor.training.scoring import Scorer, evaluate
from plateau_doctor.schema import HISTORY_COLUMNS, Finding, ResolvedSetup
from plateau_doctor.training.inputs import fit_inputs

log = logging.getLogger("plateau_doctor")


@dataclass
class FitResult:
    branch: str
    model: object
    setup: ResolvedSetup
    history: pd.DataFrame
    metrics: dict[str, float]
    epochs: int
    wall_seconds: float
    stopped_by: Finding | None = None

    def save_model(self, path: str | Path) -> None:
        self.model.save(str(path))


def make_model(config: DoctorConfig, data: PreparedData, use_saved: bool = True):
    """The user's model: loaded from ``model.path`` when set (and allowed), else built from ``model:``."""
    n_features = data.x_train.shape[1]
    if config.model.path and use_saved:
        model, setup = load_user_model(config, data.task, data.n_classes, n_features)
    else:
        setup = resolve_setup(config, data.task, data.n_classes, n_features)
        model = build_model(config, setup, n_features)
    compile_model(model, config, setup)
    return model, setup


def resume_model(config: DoctorConfig, data: PreparedData, path: str, use_saved: bool = True):
    """A branch's model saved at the end of its last rung, compiled with its optimizer state."""
    n_features = data.x_train.shape[1]
    if config.model.path and use_saved:
        _, setup = load_user_model(config, data.task, data.n_classes, n_features)
    else:
        setup = resolve_setup(config, data.task, data.n_classes, n_features)
    return keras().saving.load_model(path, compile=True, safe_mode=True), setup


class TrainingRecorder(Recorder):
    """The pipeline's recorder: the rows are the whole validation split (its val_loss is the fit's,
    Keras' own validation pass is not run), the gradients are read on the first training rows,
    and each epoch is logged.

    ``monitor`` (optional) sees the records so far after each epoch and may return a
    Finding; the fit then stops and the finding is kept in ``stopped_by``.
    """

    def __init__(
        self,
        data: PreparedData,
        setup: ResolvedSetup,
        branch: str = "baseline",
        monitor: Callable[[dict[str, list[float]]], Finding | None] | None = None,
        total_epochs: int | None = None,
    ):
        n_grad = min(GRADIENT_BATCH_ROWS, len(data.x_train))
        rows = Rows(
            x_val=data.x_val,
            y_val=labels_for_loss(data.y_val, setup),
            scorer=Scorer.for_split(data, setup.task),
            x_grad=data.x_train[:n_grad],
            y_grad=labels_for_loss(data.y_train[:n_grad], setup),
        )
        super().__init__(keras().losses.get(setup.loss), rows, monitor=monitor, owns_validation=True)
        self.setup = setup
        self.branch = branch
        self.total_epochs = total_epochs

    def log_progress(self, row: dict[str, float]) -> None:
        total = f"/{self.total_epochs}" if self.total_epochs else ""
        metric = "val_r2" if self.setup.task == "regression" else "val_balanced_accuracy"
        log.info(
            "%s epoch %d%s: loss %.4g, val_loss %.4g, %s %.4g",
            self.branch, int(row["epoch"]), total, row["loss"], row["val_loss"], metric, row[metric],
        )

    def found(self, epoch: int, finding: Finding) -> None:
        log.info("%s: stopping at epoch %d: %s (%s)", self.branch, epoch + 1, finding.name, finding.evidence)


def keras_callbacks(config: DoctorConfig) -> list:
    """The Keras callbacks that the config asks for (remedies switch these on)."""
    k = keras()
    callbacks = []
    if config.training.reduce_lr_on_plateau:
        callbacks.append(
            k.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(2, config.detection.patience // 2), min_lr=1e-6
            )
        )
    if config.training.early_stopping_patience is not None:
        callbacks.append(
            k.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.training.early_stopping_patience, restore_best_weights=True
            )
        )
    return callbacks


def fit_branch(
    config: DoctorConfig,
    data: PreparedData,
    branch: str = "baseline",
    monitor: Callable[[dict[str, list[float]]], Finding | None] | None = None,
    use_saved_model: bool = True,
    resume_from: str | None = None,
    initial_epoch: int = 0,
) -> FitResult:
    """Seed, build, fit with the recorder, and score on the validation split.

    With ``resume_from`` (a .keras file this function's caller saved, optimizer state
    included) training goes on from ``initial_epoch`` up to ``training.epochs``: a raced
    branch's next rung. The history then holds only the new epochs.
    """
    require_backend(config.training.backend)
    with seeded(config.data.seed):
        started = time.perf_counter()
        if resume_from is not None:
            model, setup = resume_model(config, data, resume_from, use_saved_model)
        else:
            model, setup = make_model(config, data, use_saved=use_saved_model)
        recorder = TrainingRecorder(data, setup, branch=branch, monitor=monitor, total_epochs=config.training.epochs)
        asked = keras_callbacks(config)
        model.fit(
            **fit_inputs(data, setup, config),
            epochs=config.training.epochs,
            initial_epoch=initial_epoch,
            verbose=0,
            callbacks=[recorder, *asked, *keep_best_epoch(branch, setup.task, recorder)],
        )
        history = pd.DataFrame(recorder.records)
        history.insert(0, "branch", branch)
        history["epoch"] = history["epoch"].astype(np.int64)
        history = history[list(HISTORY_COLUMNS)]
        metrics = evaluate(model, data, setup)
        if recorder.ended_by_another_callback():
            setup = replace(setup, ended_early=True)  # the config's EarlyStopping ended it, not the budget
        if branch == BASELINE and 0 < (kept := restored_epoch(asked)) < len(history):
            # The config's EarlyStopping put its best epoch back: the user's model as the fit leaves it. A
            # remedy branch keeps the doctor's own best epoch instead (best_weights), counted over its rungs.
            setup = replace(setup, kept_epoch=kept)
    return FitResult(
        branch=branch,
        model=model,
        setup=setup,
        history=history,
        metrics=metrics,
        epochs=len(history),
        wall_seconds=time.perf_counter() - started,
        stopped_by=recorder.stopped_by,
    )
