"""What the level of a bare log's loss says of the loss function and the outputs: a loss that
cannot see the outputs, one under the cross-entropy floor, outputs pinned at a bound, a term no row
moves, and an accuracy the loss contradicts. Pure: numpy only. Names no cause: each cause reads
the ones that bear on it (the curves' shapes are read in :mod:`.log_readings`).

- :func:`zero_loss`: a loss of exactly 0 on every epoch, the first included, while the accuracy
  counts wrong rows: no network starts at zero loss, so the loss does not depend on the
  outputs (categorical cross-entropy over one unit is identically 0);
- :func:`penalty_dominated`: Keras adds the layers' weight penalties to both the training and
  the validation loss; at chance accuracy the data term is about the chance loss, so losses
  that both sit far above it, by the same amount, carry a large term that no row moves (unless
  the loss still creeps down at a steady pace from epoch 1: a head whose large initial logits
  a tiny step is slowly shrinking sits there too). A penalty is never frozen: its own gradient
  shrinks every weight by a factor 1 - 2 x lr x l2 per step, so a penalty that dominates the loss
  falls every epoch;
- :func:`frozen_off_scale`: at chance accuracy a network whose loss is cross-entropy sits near the
  chance loss, or at 16.12 nats per wrong row when its outputs are pinned (:func:`pinned_output`);
  a loss frozen far above both, which is no penalty either (a penalty decays), compares the
  outputs with the labels some other way (squared error on class ids: E[y^2] of the ids);
- :func:`pinned_output`: Keras clips probabilities to [1e-7, 1 - 1e-7], so an output pinned at
  0 or 1 costs -ln(1e-7) = 16.12 nats on every row it gets wrong: a frozen loss equal to 16.12
  x the error rate is an output that cannot move (softmax on one unit, a saturated sigmoid);
- :func:`below_cross_entropy`: a row counted wrong costs at least ln 2 under cross-entropy, so a
  classifier's cross-entropy is at least (1 - accuracy) ln 2; a loss well under that on both
  splits is no cross-entropy (a squared error on one-hot labels, a hinge), which trains a softmax
  classifier slowly. (A focal or dice loss also sits under it: the evidence says what it read.)
- :func:`loss_contradicts_accuracy`: a row the accuracy counts wrong costs at least ln 2 under
  cross-entropy (its probability is at most 1/2) and at least 1/4 under squared error or hinge,
  so the error rate is at most 4x the loss whatever the loss; an accuracy far below
  1 - 4 x loss means the metric does not read the outputs the loss trains.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import PENALTY_EXCESS, _accuracy, _frozen, _train, steady_creep, trivial_loss
from plateau_doctor.engine.causes.readings import Case
from plateau_doctor.engine.chance import ACCURACY_MARGIN
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean
from plateau_doctor.engine.stuck import contradicted_accuracy


SAME_EXCESS = 0.1
"""...and the training and validation losses within 10% of each other: the same term in both."""

CROSS_ENTROPY_MARGIN = 0.1
"""A loss 10% under the cross-entropy floor (1 - accuracy) ln 2: beyond the rounding of a logged
accuracy, and the epoch-mean accuracy and loss of a moving network."""

CLIPPED_NATS = -math.log(1e-7)
"""Keras' probability clip (epsilon 1e-7): what one row costs when the output is pinned wrong."""

PINNED_TOLERANCE = 0.02


def zero_loss(case: Case) -> str | None:
    """Exactly 0 on every epoch, the first included, with wrong rows counted (module docstring)."""
    losses = [values for name in ("loss", "val_loss") if (values := case.signal(name)) is not None]
    accuracy = _accuracy(case)
    if not losses or accuracy is None or not all(np.all(values[np.isfinite(values)] == 0.0) for values in losses):
        return None
    if not accuracy[1] < 1.0 - ACCURACY_MARGIN:
        return None
    return (
        f"the loss is exactly 0 on every epoch, the first included, while {accuracy[0]} is {fmt(accuracy[1])}: no"
        " network starts at zero loss, so the loss does not read the outputs (categorical cross-entropy over one"
        " unit is identically 0)"
    )


def penalty_dominated(case: Case) -> str | None:
    """Training and validation losses alike, far above the chance level (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    val = case.signal("val_loss")
    if train is None or val is None or not math.isfinite(trivial):
        return None
    if steady_creep(case) is not None:
        return None  # still creeping down at a steady pace from epoch 1: a step too small, whatever the level
    if _frozen(train, case):
        return None  # a penalty decays under its own gradient: a frozen excess is not one
    p = case.detection.patience
    train_now, val_now = recent_mean(train, p), recent_mean(val, p)
    floor = trivial * (1.0 + PENALTY_EXCESS)
    if not (train_now >= floor and val_now >= floor and abs(train_now - val_now) <= SAME_EXCESS * val_now):
        return None
    return (
        f"at chance accuracy the training loss {fmt(train_now)} and val_loss {fmt(val_now)} both sit"
        f" {pct(val_now / trivial - 1)} above the chance level {fmt(trivial)}, within {pct(SAME_EXCESS)} of each other:"
        " a term no row moves, which Keras adds to both (the layers' weight penalties)"
    )


def frozen_off_scale(case: Case) -> str | None:
    """A frozen loss far above the chance level that is neither a penalty nor pinned outputs (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    val = case.signal("val_loss")
    if train is None or not math.isfinite(trivial) or not _frozen(train, case) or pinned_output(case) is not None:
        return None
    p = case.detection.patience
    now = [recent_mean(values, p) for values in (train, val) if values is not None]
    floor = trivial * (1.0 + PENALTY_EXCESS)
    if not all(level >= floor for level in now):
        return None
    return (
        f"at chance accuracy the training loss is frozen at {fmt(float(train[-1]))}, {now[0] / trivial:.1f}x the"
        f" chance level {fmt(trivial)} a cross-entropy network sits at there; no weight penalty stays frozen (its"
        f" gradient shrinks the weights every step) and outputs pinned wrong would cost {fmt(CLIPPED_NATS)} nats per"
        " wrong row: the loss compares the outputs with the labels some other way (squared error on class ids)"
    )


def below_cross_entropy(case: Case) -> str | None:
    """A classifier's loss, on both splits, below what cross-entropy costs at its accuracy
    (module docstring)."""
    found = []
    for loss_name, accuracy_name in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
        loss, accuracy = case.recent(loss_name), case.recent(accuracy_name)
        if not (math.isfinite(loss) and math.isfinite(accuracy) and loss >= 0):
            continue
        floor = (1.0 - accuracy) * math.log(2.0)
        if not loss < (1.0 - CROSS_ENTROPY_MARGIN) * floor:
            return None
        found.append(f"{loss_name} {fmt(loss)} at {accuracy_name} {fmt(accuracy)} (cross-entropy >= {fmt(floor)})")
    if not found:
        return None
    return (
        f"{'; '.join(found)}: every row counted wrong costs at least ln 2 under cross-entropy, so this loss is not"
        " one; a classifier trained on a squared error (or another loss that does not score probabilities) learns"
        " slowly, its gradient fading as the outputs saturate"
    )


def pinned_output(case: Case) -> str | None:
    """A flat loss equal to 16.12 nats x the error rate (module docstring)."""
    accuracy, train = _accuracy(case), _train(case)
    if accuracy is None or train is None:
        return None
    name, value = accuracy
    loss_name = "val_loss" if name.startswith("val_") and case.signal("val_loss") is not None else "loss"
    loss = case.recent(loss_name)
    expected = CLIPPED_NATS * (1.0 - value)
    recent = case.signal(loss_name)[-case.detection.patience:]
    flat = bool(np.all(np.isfinite(recent))) and float(np.ptp(recent)) <= PINNED_TOLERANCE * abs(loss)
    if not (expected > 0 and flat and abs(loss - expected) <= PINNED_TOLERANCE * expected):
        return None
    return (
        f"{loss_name} {fmt(loss)} equals {fmt(CLIPPED_NATS)} nats (a probability clipped at 1e-7) times the"
        f" error rate {fmt(1 - value)} ({name} {fmt(value)}): the output is pinned at 0 or 1 and every wrong"
        " row costs the clip"
    )


def loss_contradicts_accuracy(case: Case) -> str | None:
    """The accuracy is far below what the loss allows (module docstring)."""
    found = contradicted_accuracy(case.history)
    return None if found is None else f"{found}: the metric does not read the outputs the loss trains"
