"""Keep the weights of the epoch the doctor judges best, and put them back when the fit ends.

:class:`BestEpochWeights` is Keras' ``EarlyStopping(restore_best_weights=True)`` without the
stopping, monitoring the doctor's own judging rule (``engine.verdict.score``: balanced
accuracy less 0.05 x the validation log loss, or R^2) rather than a loss a remedy may have
changed. Pruning stops training; it must not throw away the best checkpoint: a remedy branch
or search trial stopped by the race, Optuna's pruner or the detector stays a candidate with
its best epoch's weights, and the metrics the fit reports (``scoring.evaluate`` after ``fit``) are
theirs.

Choices:

- the score is read from the epoch's ``logs`` when they carry the main metric, else from the
  recorder's records of that epoch (the recorder computes the validation metrics and puts
  only ``val_loss`` into the logs);
- ties go to the later epoch, so a fit whose last epoch is as good as any ends with exactly
  the weights it ended with before this callback existed;
- every epoch counts, the warm-up ones too: ``detection.start_from_epoch`` is about reading
  curves, and a validation score is one at any epoch;
- a non-finite score never counts; when none is finite the weights stay as the fit left them;
- it comes last among the callbacks, so at train end the weights it sets aside
  (``unkept_weights_``) are those the fit would have ended with without it, Keras'
  EarlyStopping restore included: a raced branch resumes its next rung from those.

The baseline keeps no best epoch (:func:`keep_best_epoch`): it is the user's model as trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from plateau_doctor.engine.verdict import main_metric, score
from plateau_doctor.training.model import keras

BASELINE = "baseline"
"""``fit_branch``'s name for the user's own fit, whose weights are never replaced."""
ATTRIBUTE = "best_epoch_weights"
"""Where the callback leaves itself on its model after a fit, as Keras' ``History`` does."""


class BestEpochWeights(keras().callbacks.Callback):
    """Remember the weights of the epoch with the best :func:`engine.verdict.score`; restore them at train end.

    ``metrics_of(logs)`` returns the epoch's validation metrics (by default the logs themselves).
    After a fit: ``best_epoch_`` (1-based, counting earlier rungs), ``best_score_``, and
    ``unkept_weights_``, the weights the fit ended with (None when nothing was restored).
    """

    def __init__(self, task: str, metrics_of: Callable[[dict | None], Mapping[str, Any]] | None = None):
        super().__init__()
        self.task = task
        self.metrics_of = metrics_of or (lambda logs: logs or {})

    # Reset per fit: state must not leak from one fit into the next.
    def on_train_begin(self, logs=None):
        self.best_epoch_: int | None = None
        self.best_score_ = -math.inf
        self.best_weights_: list | None = None
        self.unkept_weights_: list | None = None
        setattr(self.model, ATTRIBUTE, self)

    def on_epoch_end(self, epoch, logs=None):
        value = score(self.task, dict(self.metrics_of(logs)))
        if math.isfinite(value) and value >= self.best_score_:
            self.best_epoch_, self.best_score_, self.best_weights_ = epoch + 1, value, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights_ is None:
            return
        current = self.model.get_weights()
        if not all(np.array_equal(now, best) for now, best in zip(current, self.best_weights_)):
            self.unkept_weights_ = current
            self.model.set_weights(self.best_weights_)
        self.best_weights_ = None  # the model holds them now

    @property
    def restored(self) -> bool:
        """Whether the fit's last weights were replaced by the best epoch's."""
        return self.unkept_weights_ is not None


def keep_best_epoch(branch: str, task: str, recorder) -> list:
    """The callback for a fit whose model is a candidate; none for the baseline."""
    if branch == BASELINE:
        return []
    metric = main_metric(task)

    def metrics_of(logs: dict | None) -> Mapping[str, Any]:
        if logs and metric in logs:
            return logs
        return {name: values[-1] for name, values in getattr(recorder, "records", {}).items() if values}

    return [BestEpochWeights(task, metrics_of)]


def kept_by(model) -> BestEpochWeights | None:
    """The callback that chose ``model``'s weights in its last fit, if one did."""
    return getattr(model, ATTRIBUTE, None)
