"""The learning-rate range test's training half: one batch per rate on a fresh copy of the network.

The rates, the stop rule and the suggestion are pure maths (``engine.range_test``); this
trains the sweep (Smith 2015; fastai's ``lr_find``).
"""

from __future__ import annotations

import numpy as np

from plateau_doctor.config import DoctorConfig
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.engine.range_test import range_test_schedule, should_stop

RANGE_TEST_STEPS = 200
RANGE_TEST_MIN_LR = 1e-6
RANGE_TEST_MAX_LR = 3.0


def lr_range_test(config: DoctorConfig, data: PreparedData) -> tuple[np.ndarray, np.ndarray]:
    """Exponential learning-rate sweep on a fresh model, one batch per step, stopped at blow-up."""
    from plateau_doctor.training.backends import seeded
    from plateau_doctor.training.model import labels_for_loss
    from plateau_doctor.training.fit import make_model

    with seeded(config.data.seed):
        model, setup = make_model(config, data, use_saved=config.model.path is not None)
    y = labels_for_loss(data.y_train, setup)
    rng = np.random.default_rng(config.data.seed)
    batch = min(config.training.batch_size, len(y))
    schedule = range_test_schedule(RANGE_TEST_MIN_LR, RANGE_TEST_MAX_LR, RANGE_TEST_STEPS)
    lrs, losses = [], []
    order = rng.permutation(len(y))
    cursor = 0
    for lr in schedule:
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(y)), 0
        rows = order[cursor : cursor + batch]
        cursor += batch
        model.optimizer.learning_rate.assign(float(lr))
        sample_weight = None
        if data.class_weight:
            sample_weight = np.asarray([data.class_weight[int(c)] for c in data.y_train[rows]], dtype=np.float32)
        result = model.train_on_batch(data.x_train[rows], y[rows], sample_weight=sample_weight, return_dict=True)
        lrs.append(float(lr))
        losses.append(float(result["loss"]))
        if should_stop(np.asarray(losses)):
            break
    return np.asarray(lrs), np.asarray(losses)
