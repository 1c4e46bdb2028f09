"""The learning-rate range test's training half: one batch per rate (Smith 2015; fastai's ``lr_find``).

The rates, the stop rule and the suggestion are pure maths (``engine.range_test``); this
trains the sweep: on a fresh copy of the network for a remedy branch (:func:`lr_range_test`),
or on the user's own model inside a fit (``live_repair``), through the same :func:`sweep`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from plateau_doctor.config import DoctorConfig
from plateau_doctor.engine.range_test import range_test_schedule, should_stop

if TYPE_CHECKING:
    from plateau_doctor.data.preprocess import PreparedData

RANGE_TEST_STEPS = 200
RANGE_TEST_MIN_LR = 1e-6
RANGE_TEST_MAX_LR = 3.0


def sweep(model, x, y, *, batch: int, seed: int, sample_weight: np.ndarray | None = None,
          steps: int = RANGE_TEST_STEPS, min_lr: float = RANGE_TEST_MIN_LR,
          max_lr: float = RANGE_TEST_MAX_LR) -> tuple[np.ndarray, np.ndarray]:
    """Exponential learning-rate sweep on ``model`` as it is, one batch of rows per step (the
    rows reshuffled with ``seed`` each pass), stopped at blow-up. It trains ``model``: the
    caller restores what it needs."""
    n = len(y)
    rng = np.random.default_rng(seed)
    batch = min(batch, n)
    lrs, losses = [], []
    order = rng.permutation(n)
    cursor = 0
    for lr in range_test_schedule(min_lr, max_lr, steps):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(n), 0
        rows = order[cursor : cursor + batch]
        cursor += batch
        model.optimizer.learning_rate.assign(float(lr))
        weights = None if sample_weight is None else sample_weight[rows]
        result = model.train_on_batch(take(x, rows), take(y, rows), sample_weight=weights, return_dict=True)
        lrs.append(float(lr))
        losses.append(float(result["loss"]))
        if should_stop(np.asarray(losses)):
            break
    return np.asarray(lrs), np.asarray(losses)


def lr_range_test(config: DoctorConfig, data: PreparedData) -> tuple[np.ndarray, np.ndarray]:
    """The sweep on a fresh model of ``config``, on the training split."""
    from plateau_doctor.training.backends import seeded
    from plateau_doctor.training.model import labels_for_loss
    from plateau_doctor.training.fit import make_model

    with seeded(config.data.seed):
        model, setup = make_model(config, data, use_saved=config.model.path is not None)
    sample_weight = None
    if data.class_weight:
        sample_weight = np.asarray([data.class_weight[int(c)] for c in data.y_train], dtype=np.float32)
    return sweep(model, data.x_train, labels_for_loss(data.y_train, setup), batch=config.training.batch_size,
                 seed=config.data.seed, sample_weight=sample_weight)


def take(values: Any, rows: np.ndarray) -> Any:
    """``rows`` of an input: an array, or a list, tuple or dict of arrays (a multi-input model's)."""
    if isinstance(values, (list, tuple)):
        return type(values)(take(v, rows) for v in values)
    if isinstance(values, dict):
        return {k: take(v, rows) for k, v in values.items()}
    if hasattr(values, "iloc"):  # pandas: rows by position, not by label
        return values.iloc[rows].to_numpy()
    return values[rows]  # an array, or the streamed split's rows, read from disk as indexed
