"""Live repair in the user's own fit: the Keras half of ``engine.live``.

It keeps the weights an action may go back to (those from before an epoch that threw them
out, and the best validation epoch's), runs the range test on the user's model itself from
the restored weights, and applies the action: restore, reset the optimizer's state, set the
learning rate, or stop. Weights are copied to the host once per epoch only when repair is
asked for (``DoctorCallback(repair=True)``); watching alone copies nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from plateau_doctor.engine.live import MAX_ACTIONS, ActionRecord, LiveAction, pick_rate, thrown_out
from plateau_doctor.training.range_test import sweep

log = logging.getLogger("plateau_doctor")

SWEEP_STEPS = 100
"""Steps of the in-fit range test: one batch per rate over 6.5 decades (fastai sweeps 100)."""
SWEEP_BATCH = 32


class LiveRepair:
    """The state of live repair over one fit. ``epoch`` numbers are 1-based, as in the history."""

    def __init__(self, max_actions: int = MAX_ACTIONS, quiet_epochs: int = 5):
        if max_actions < 1:
            raise ValueError(f"max_actions must be at least 1, not {max_actions}")
        self.max_actions = int(max_actions)
        self.quiet_epochs = int(quiet_epochs)
        self.actions: list[ActionRecord] = []
        self.segment_start = 0  # index into the records where the current settings began
        self._before: tuple[int, list[np.ndarray]] | None = None
        self._best: tuple[int, float, list[np.ndarray]] | None = None
        self._blown_at: int | None = None
        self._quiet_until = 0

    # ------------------------------------------------------------------ what may be restored
    def start(self, model) -> None:
        self.actions, self.segment_start, self._blown_at, self._quiet_until = [], 0, None, 0
        self._before, self._best = (0, _weights(model)), None

    def watch(self, model, epoch: int, row: dict[str, float]) -> str | None:
        """Update what may be restored after ``epoch``; return why its weights were thrown out, if they were."""
        reason = thrown_out(row)
        if reason is not None:
            if self._blown_at is None:
                self._blown_at = epoch
            return reason
        if self._blown_at is None:
            self._before = (epoch, _weights(model))
        val_loss = row.get("val_loss", math.nan)
        if math.isfinite(val_loss) and (self._best is None or val_loss < self._best[1]):
            self._best = (epoch, val_loss, _weights(model) if self._before[0] != epoch else self._before[1])
        return None

    def can_act(self, epoch: int, urgent: bool = False) -> bool:
        """Under the cap, and (unless the weights were thrown out) not while the last change is still settling."""
        return len(self.actions) < self.max_actions and (urgent or epoch >= self._quiet_until)

    # ------------------------------------------------------------------ acting
    def act(self, model, action: LiveAction, epoch: int, rows: tuple[Any, Any] | None) -> ActionRecord | None:
        """Apply ``action`` after ``epoch``; None (and a log line) when the model's rate cannot be set."""
        optimizer = model.optimizer
        before = current_rate(optimizer)
        if action.rate is not None and before is None:
            log.warning("plateau-doctor: cannot repair the learning rate live: it is a schedule, not a value")
            return None
        restored = self._restore(model, action)
        after, evidence = before, ""
        if action.rate is not None:
            lrs, losses = (self._sweep(model, rows, restored) if action.range_test and rows is not None else ([], []))
            after, evidence = pick_rate(action, before, lrs, losses)
            optimizer.learning_rate.assign(after)
        if action.stop:
            model.stop_training = True
        words = {"": "", "before_blow_up": "restore the weights", "best": "restore the best weights"}[action.restore]
        done = [w for w in (words, f"learning rate {before:.3g} -> {after:.3g}" if after != before else "",
                            "stop" if action.stop else "") if w]
        record = ActionRecord(epoch, action.remedy, ", ".join(done), action.reason, before, after,
                              restored[0] if restored else None, evidence, list(action.left_out))
        self.actions.append(record)
        self._quiet_until = epoch + self.quiet_epochs
        self._blown_at, self._best = None, None
        self._before = (epoch, _weights(model))
        log.warning("plateau-doctor: epoch %d: %s (%s)%s", epoch, record.action, record.reason,
                    f"; {evidence}" if evidence else "")
        return record

    def begin_segment(self, records_length: int) -> None:
        """The records from here on were trained with the changed settings."""
        self.segment_start = records_length

    def _restore(self, model, action: LiveAction) -> tuple[int, list[np.ndarray]] | None:
        source = None
        if action.restore == "best" or (action.restore == "before_blow_up" and self._blown_at is None):
            source = (self._best[0], self._best[2]) if self._best is not None else None
        elif action.restore == "before_blow_up":
            source = self._before
        if source is None:
            return None
        model.set_weights(source[1])
        _reset_optimizer(model.optimizer)
        return source

    def _sweep(self, model, rows: tuple[Any, Any], restored) -> tuple[list[float], list[float]]:
        """Smith's range test on the model itself; the weights, optimizer state and rate are put back after."""
        start = restored[1] if restored else _weights(model)
        rate = current_rate(model.optimizer)
        try:
            lrs, losses = sweep(model, *rows, batch=SWEEP_BATCH, seed=0, steps=SWEEP_STEPS)
            return list(lrs), list(losses)
        except Exception as error:  # rows the model cannot take: the treatment's own rate instead
            log.warning("plateau-doctor: the in-fit range test failed (%s: %s); using the treatment's rate",
                        error.__class__.__name__, error)
            return [], []
        finally:
            model.set_weights(start)
            _reset_optimizer(model.optimizer)
            model.optimizer.learning_rate.assign(rate)
            model.reset_metrics()


def current_rate(optimizer) -> float | None:
    """The optimizer's learning rate as a number; None when it is a schedule."""
    import keras

    if isinstance(getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _weights(model) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in model.get_weights()]


def _reset_optimizer(optimizer) -> None:
    """Zero the optimizer's step count and moments (kept: its learning rate): moments gathered
    on the weights before a restore would push the restored ones along the old path."""
    rate = getattr(optimizer, "_learning_rate", None)
    for variable in optimizer.variables:
        if variable is rate:
            continue
        variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
