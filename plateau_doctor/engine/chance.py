"""The chance level a bare training log shows by itself. Pure: numpy and pandas.

A log comes without the data, so the trivial predictor's loss (the audit's) is unknown. But a
classifier's cross-entropy has a fixed point that needs no data: a network whose outputs
carry no information predicts a constant distribution, its loss is at least the entropy of
the class prior (ln k for k balanced classes), and its accuracy is the share of the one
class its constant prediction picks. Karpathy's "A Recipe for Training Neural Networks"
(2019) makes the same check at initialization: the loss should start at -ln(1/k).

So a log pins its chance level when, over its last ``patience`` epochs, with the accuracy
never better than on its first epoch (by :data:`ACCURACY_MARGIN`; a network that learned and
then levelled off near ln k is not at chance), unless every logged accuracy stands still to
:data:`ACCURACY_FROZEN` there (no row's prediction flips: a constant prediction changes its
class once, when the output bias finds the majority, and its accuracy jumps with it):

1. the accuracy sits within :data:`ACCURACY_MARGIN` of 1/k and the loss is no better than
   ln k (within ``trivial_tolerance``): chance for k classes. When several k fit the
   accuracy, the one whose ln k the first epoch's loss matches (within
   :data:`FIRST_EPOCH_TOLERANCE`, the loss at initialization) is taken, else the nearest.
   When none of them does but rule 2 reads a k that it matches, rule 2's k is taken: an
   accuracy of 0.30 fits 1/3, yet losses that start and stay at ln 4 are four outputs
   predicting nothing, and a constant prediction's accuracy is the majority share (1/k or more).
   No k is read from the accuracy when the first epoch's loss pins more outputs and the accuracy
   is above their chance: a rate decayed to nothing froze a net that learned;
2. or the loss sits within ``trivial_tolerance`` of ln k for a k up to :data:`MAX_K_FROM_LOSS`
   (neighbouring ln k differ by 1/(k ln k) of themselves, 4% at k = 10: beyond that a loss
   value alone cannot tell k) and any logged accuracy is no more than 2/k (a constant
   prediction picks one class' share);
3. or, for two classes, the accuracy stands still (to :data:`ACCURACY_FROZEN`: a constant
   prediction scores the same share of the same rows every epoch, where a 99%-accurate
   classifier's accuracy still moves by a row or two) at a majority share a >= 1/2 + the
   margin, every other logged accuracy column near it, and the loss sits at the binary entropy
   H(a) = -a ln a - (1 - a) ln(1 - a) (within the band :data:`ACCURACY_QUANTUM` gives it):
   the network predicts the prior of an imbalanced split (a majority-only predictor scores
   exactly the majority share). A constant prediction costs H(a) on the training rows as
   well, so neither logged loss may sit below that band: a training loss far under it (a
   net at 100% training accuracy on a 98.5%-accuracy task) fits its rows and is no prior.

Anything else (a healthy run, a regression, a loss that is not a cross-entropy) pins no
chance level, and the log is judged without one. A finished log too short for the progress
tests whose losses sat at the pinned level on every epoch, the first included
(:func:`short_run_at_chance`), ended where a network that learned nothing starts; one whose
validation side sat there on every epoch while its training loss went below it learned nothing
that reached the validation rows.

One more reading stands next to the chance level (:func:`majority_only`): a binary log whose
training accuracy, over thousands of rows, does not change at all from epoch 2 to its end
(``patience + 1`` epochs at least) while its loss still moves, at a majority share that the
validation accuracy repeats, predicts the majority class for every row. Its loss may be below H(a): the outputs rank the rows
better than the prior, yet none crosses the decision threshold, so the task metric (balanced
accuracy 1/2) is at the trivial level. A network that learned to classify flips some row's
prediction every epoch; a frozen one also freezes its loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from plateau_doctor.config import DetectionConfig
from plateau_doctor.schema import Finding

ACCURACY_MARGIN = 0.05
"""An accuracy within 0.05 of 1/k is at chance (as ``levels.NO_SIGNAL_BALANCED_ACCURACY_MARGIN``:
a validation split of a few hundred rows moves a guessing classifier's accuracy by about
this much)."""

FIRST_EPOCH_TOLERANCE = 0.01
"""A first-epoch loss within 1% of ln k is the loss at initialization of a k-class softmax."""

MAX_K_FROM_LOSS = 10

ACCURACY_QUANTUM = 0.005
"""How far a majority share read from an accuracy may be off: one row in 200. The prior's
entropy is steep near a share of 1 (dH/da = ln((1 - a) / a): -3.5 at a = 0.97), so its band
is H(a + 0.005) .. H(a - 0.005), widened by ``trivial_tolerance``."""

MAX_K = 1000

MIN_SHORT_EPOCHS = 5
"""A short log at chance is read from 5 epochs on (``noise.MIN_EPOCHS``: fewer say nothing of a trend)."""


@dataclass(frozen=True)
class Chance:
    """A chance level read from a log: k classes, the trivial loss and the chance accuracy."""

    k: int
    trivial_loss: float
    accuracy: float
    why: str
    """``accuracy`` is NaN when the log pins k by its loss alone: a constant prediction then
    scores one class' share, which the log does not tell."""


def binary_entropy(share: float) -> float:
    """H(a) in nats: the cross-entropy of predicting the prior (a, 1 - a) of two classes."""
    if not 0.0 < share < 1.0:
        return 0.0
    return -(share * math.log(share) + (1.0 - share) * math.log(1.0 - share))


ACCURACY_FROZEN = 1e-4
"""An epoch's accuracy that differs by under 1e-4 from the epochs before it: no row's prediction
flipped (a 4-digit console value repeats as well)."""


MAJORITY_FROM = 2
"""A prior is found within the first epoch: from epoch 2 on, a majority-only network's accuracy is
the majority share. A classifier that learns raises its accuracy over epochs before it settles."""


def majority_only(history: Mapping[str, Sequence[float]], detection: DetectionConfig) -> Chance | None:
    """The majority class predicted for every row while the loss still moves (module docstring)."""

    def tail(name: str) -> np.ndarray | None:
        values = np.asarray(history[name], dtype=float) if name in history else None
        return None if values is None else _finite_tail(values, values.size - MAJORITY_FROM + 1)

    train, loss, val = tail("accuracy"), tail("loss"), tail("val_accuracy")
    if train is None or loss is None or train.size < detection.patience + 1 or float(np.ptp(train)) > ACCURACY_FROZEN:
        return None
    share = float(np.mean(train))
    if not 0.5 + ACCURACY_MARGIN <= share < 1.0 - ACCURACY_FROZEN:
        return None  # a balanced split, or every row right (no minority is missed)
    if float(np.ptp(loss)) <= ACCURACY_FROZEN * float(np.mean(np.abs(loss))):
        return None  # a loss that froze with it: nothing moves (another reading)
    if val is not None and (float(np.ptp(val)) > ACCURACY_FROZEN or abs(float(np.mean(val)) - share) > ACCURACY_MARGIN):
        return None
    entropy = binary_entropy(share)
    on_val = f", val_accuracy at {float(np.mean(val)):.4g}" if val is not None else ""
    last = MAJORITY_FROM + train.size - 1
    return Chance(
        2, entropy, share,
        f"accuracy is {share:.4g} on every epoch from epoch {MAJORITY_FROM} to {last}{on_val}, while the training loss"
        f" moves ({float(loss[0]):.4g} -> {float(loss[-1]):.4g}): no row's prediction flips, so every row gets the"
        f" {share:.0%} majority class, a balanced accuracy of 1/2 (the prior's loss is H({share:.4g}) = {entropy:.4g})",
    )


def _column(history: pd.DataFrame, *names: str) -> tuple[str, np.ndarray] | None:
    for name in names:
        if name in history:
            values = history[name].to_numpy(dtype=float)
            if np.isfinite(values).sum() >= max(1, int(0.8 * values.size)):
                return name, values
    return None


def _finite_tail(values: np.ndarray, epochs: int) -> np.ndarray | None:
    tail = values[-epochs:]
    return tail if tail.size == epochs and np.all(np.isfinite(tail)) else None


def read_chance(history: pd.DataFrame, detection: DetectionConfig) -> Chance | None:
    """The chance level the log pins (rules 1-3 of the module), or None."""
    loss = _column(history, "val_loss", "loss")
    accuracy = _column(history, "val_accuracy", "accuracy")
    if loss is None:
        return None
    loss_name, losses = loss
    level = _finite_tail(losses, detection.patience)
    if level is None:
        return None
    first_losses = [float(v[0]) for name in ("val_loss", "loss") if name in history
                    for v in [history[name].to_numpy(dtype=float)] if v.size and math.isfinite(float(v[0]))]
    tol = detection.trivial_tolerance
    if accuracy is None:
        return _by_loss(loss_name, level, tol, None)
    acc_name, accuracies = accuracy
    acc = _finite_tail(accuracies, detection.patience)
    finite = accuracies[np.isfinite(accuracies)]
    if acc is None or not finite.size:
        return None
    if float(np.mean(acc)) > float(finite[0]) + ACCURACY_MARGIN and not _constant_predictions(history, detection.patience):
        return None  # the accuracy improved: the network learned something
    by_accuracy = _by_accuracy(loss_name, level, acc_name, acc, first_losses, tol)
    if by_accuracy is not None and _learned_past_pinned_chance(by_accuracy.k, float(np.mean(acc)), first_losses):
        by_accuracy = None
    by_loss = _by_loss(loss_name, level, tol, acc)
    if by_accuracy is not None and by_loss is not None and _pins(by_loss.k, first_losses) > _pins(by_accuracy.k, first_losses):
        # The accuracy fits 1/k for a k whose ln k neither loss is at, while the first epoch's loss is the
        # initial loss of a softmax over another k, and both losses stay there: the outputs say how many classes
        # (a constant prediction's accuracy is the majority share, 1/k or more).
        return by_loss
    return by_accuracy or by_loss or _by_prior(history, loss_name, level, acc_name, acc, tol, detection.patience)


def _learned_past_pinned_chance(k: int, accuracy: float, first_losses: Sequence[float]) -> bool:
    """The first epoch's loss pins other class counts than ``k`` (the loss at initialization of that
    many outputs) and the accuracy is beyond :data:`ACCURACY_MARGIN` above each one's 1/k: the network
    has more outputs than ``k``, and an accuracy that fits 1/k is learning that stopped (a rate decayed
    to nothing freezes it as surely as a constant prediction), not that many outputs' chance."""
    pinned = [j for j in range(2, MAX_K_FROM_LOSS + 1) if _pins(j, first_losses)]
    return bool(pinned) and k not in pinned and all(accuracy > 1.0 / j + ACCURACY_MARGIN for j in pinned)


def _pins(k: int, first_losses: Sequence[float]) -> bool:
    """Some first-epoch loss within :data:`FIRST_EPOCH_TOLERANCE` of ln k: the loss at initialization of k outputs."""
    return any(abs(first - math.log(k)) <= FIRST_EPOCH_TOLERANCE * math.log(k) for first in first_losses)


def _constant_predictions(history: pd.DataFrame, epochs: int) -> bool:
    """Every logged accuracy identical to :data:`ACCURACY_FROZEN` over the last ``epochs`` epochs:
    no row's prediction flips. A constant prediction may change its class once, when the output
    bias finds the prior's majority (its accuracy then jumps to that class' share), so a rise of
    the accuracy since epoch 1 is no learning when it stands still after."""
    tails = [_finite_tail(history[name].to_numpy(dtype=float), epochs) for name in ("accuracy", "val_accuracy")
             if name in history]
    return bool(tails) and all(
        t is not None and float(np.ptp(t)) <= ACCURACY_FROZEN and float(np.mean(t)) < 1.0 - ACCURACY_MARGIN for t in tails
    )  # (a net that gets every row right also flips none)


def _by_accuracy(loss_name, level, acc_name, acc, first_losses, tol) -> Chance | None:
    mean = float(np.mean(acc))
    fits = [k for k in range(2, MAX_K + 1)
            if np.all(np.abs(acc - 1.0 / k) <= ACCURACY_MARGIN) and np.all(level >= math.log(k) * (1.0 - tol))]
    if not fits:
        return None
    pinned = [k for k in fits if _pins(k, first_losses)]
    k = pinned[0] if pinned else min(fits, key=lambda c: abs(mean - 1.0 / c))
    how = f"; the first epoch's loss matches ln {k}" if pinned else ""
    return Chance(
        k, math.log(k), 1.0 / k,
        f"{acc_name} {mean:.4g} is within {ACCURACY_MARGIN:g} of 1/{k} and {loss_name} {float(np.mean(level)):.4g} is no"
        f" better than ln {k} = {math.log(k):.4g}{how}",
    )


def _by_loss(loss_name, level, tol, acc) -> Chance | None:
    mean = float(np.mean(level))
    for k in range(2, MAX_K_FROM_LOSS + 1):
        if np.all(np.abs(level - math.log(k)) <= tol * math.log(k)) and (acc is None or np.all(acc <= 2.0 / k)):
            return Chance(
                k, math.log(k), math.nan,
                f"{loss_name} {mean:.4g} is within {100 * tol:.0f}% of ln {k} = {math.log(k):.4g}, the loss of a"
                f" {k}-class network whose outputs carry no information",
            )
    return None


def _by_prior(history, loss_name, level, acc_name, acc, tol, epochs) -> Chance | None:
    share = float(np.mean(acc))
    if share < 0.5 + ACCURACY_MARGIN or float(np.ptp(acc)) > ACCURACY_FROZEN:
        return None  # a constant prediction scores the same share of the same rows every epoch
    for name in ("accuracy", "val_accuracy"):
        other = _finite_tail(history[name].to_numpy(dtype=float), epochs) if name in history else None
        if other is not None and abs(float(np.mean(other)) - share) > ACCURACY_MARGIN:
            return None
    entropy = binary_entropy(share)
    low = binary_entropy(min(share + ACCURACY_QUANTUM, 1.0)) * (1.0 - tol)
    high = binary_entropy(share - ACCURACY_QUANTUM) * (1.0 + tol)
    if not np.all((level >= low) & (level <= high)):
        return None
    for name in ("loss", "val_loss"):
        other = _finite_tail(history[name].to_numpy(dtype=float), epochs) if name in history else None
        if other is not None and float(np.mean(other)) < low:
            return None  # a constant prediction costs H(a) on either split: one fitted below it is not constant
    return Chance(
        2, entropy, share,
        f"{acc_name} is flat at {share:.4g} and {loss_name} {float(np.mean(level)):.4g} is within {low:.4g}-{high:.4g},"
        f" about H({share:.4g}) = {entropy:.4g}, the loss of predicting a {share:.0%} majority's prior",
    )


def short_run_at_chance(history: pd.DataFrame, chance: Chance, detection: DetectionConfig) -> Finding | None:
    """A finished log too short for the progress tests (under ``start_from_epoch + patience + 1``
    epochs, ``noise.MIN_EPOCHS`` at least) whose monitored and training losses sat at the chance
    level the log pins on every epoch, the first one included: the run ended where a network
    that learned nothing starts. (Read on a finished log only: a live fit may still break out.)"""
    n = len(history)
    if not MIN_SHORT_EPOCHS <= n < detection.start_from_epoch + detection.patience + 1:
        return None
    band = detection.trivial_tolerance * chance.trivial_loss
    for name in ("val_loss", "loss"):
        if name in history:
            values = history[name].to_numpy(dtype=float)
            if not np.all(np.isfinite(values)) or not np.all(np.abs(values - chance.trivial_loss) <= band):
                return _only_training_left_chance(history, chance, detection)
    return Finding(
        "symptom",
        "stuck_at_trivial",
        0.6,
        f"every one of the {n} epochs, the first included, sits within {100 * detection.trivial_tolerance:.0f}% of the"
        f" chance level {chance.trivial_loss:.4g} ({chance.why}): the run ended where a network that learned nothing"
        f" starts; too short for the progress tests ({detection.start_from_epoch + detection.patience + 1} epochs),"
        " it never left chance",
    )


def _only_training_left_chance(history: pd.DataFrame, chance: Chance, detection: DetectionConfig) -> Finding | None:
    """The other short log that never left chance: its validation side, not its training side. On
    every epoch the validation loss is no better than the pinned chance level and the validation
    accuracy within :data:`ACCURACY_MARGIN` of the chance accuracy, while the training loss ended
    below that level (and the training accuracy, when logged, above chance by more than the margin).
    A slow start moves both sides; here the network left its initialization on its training rows,
    so the epochs it had were enough to learn, and what it learned did not reach the validation
    rows. Needs an accuracy: a loss alone above ln k also fits an overconfident net that classifies well."""
    if not math.isfinite(chance.accuracy) or not {"val_loss", "loss", "val_accuracy"} <= set(history.columns):
        return None
    val, train = history["val_loss"].to_numpy(dtype=float), history["loss"].to_numpy(dtype=float)
    val_acc = history["val_accuracy"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(val)) and np.all(np.isfinite(train)) and np.all(np.isfinite(val_acc))):
        return None
    floor = chance.trivial_loss * (1.0 - detection.trivial_tolerance)
    ceiling = chance.accuracy + ACCURACY_MARGIN
    if not (np.all(val >= floor) and np.all(val_acc <= ceiling) and float(train[-1]) < floor):
        return None
    learned = ""
    if "accuracy" in history:
        train_acc = float(history["accuracy"].to_numpy(dtype=float)[-1])
        if not train_acc > ceiling:
            return None
        learned = f" and its accuracy rose to {train_acc:.4g}"
    return Finding(
        "symptom",
        "stuck_at_trivial",
        0.6,
        f"on every one of the {len(history)} epochs val_loss ({float(val.min()):.4g}-{float(val.max()):.4g}) is no"
        f" better than the chance level {chance.trivial_loss:.4g} and val_accuracy ({float(val_acc.max()):.4g} at most)"
        f" within {ACCURACY_MARGIN:g} of chance {chance.accuracy:.4g} ({chance.why}), while the training loss fell from"
        f" {float(train[0]):.4g} to {float(train[-1]):.4g}{learned}: the network learned its training rows and nothing"
        " of it reached the validation rows; too short for the progress tests"
        f" ({detection.start_from_epoch + detection.patience + 1} epochs), the validation side never left chance",
    )
