"""What the data allow: the trivial predictor's level, chance, and the gap to the reference
model. Pure: numpy only.

The audit's reference model (best of a linear model and gradient boosting) says what the
data allow. The rule on learnable signal:

- a network whose validation loss and metric sit at the trivial predictor's level (or no
  better), without progress, is ``stuck_at_trivial`` whatever the reference reaches. When
  the reference cannot beat the trivial predictor either (e.g. shuffled labels), the
  symptom is still reported, with less confidence, and the diagnosis names the cause that
  the data hold no learnable signal (:func:`reference_has_signal`);
- a network that flattens at the reference's level is ``converged``, even when that level
  is poor: a noisy target where the reference reaches r2 0.3 and the network 0.3 too has
  reached the noise ceiling, not a plateau;
- ``plateau`` and ``slow_convergence`` need a clear gap to the reference
  (:func:`reference_gap`), judged on validation scores only: a low training loss does not
  excuse it (a training loss is not comparable with the reference's validation loss).

Losses are compared with the audit's trivial and reference losses only when the loss is
the task's default (:func:`loss_in_audit_scale`): another loss has another scale, and then
the validation metrics (balanced accuracy, r2) decide alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.curve_math import History, fmt, recent_mean, series
from plateau_doctor.engine.vocabulary import AUDIT_SCALE_LOSSES, canonical_activation, canonical_loss
from plateau_doctor.schema import DataAudit, ResolvedSetup

COLLAPSE_SHARE = 0.95
"""Predictions have collapsed when 95% of validation rows get the same class."""

BALANCED_ACCURACY_GAP = 0.05
"""A balanced accuracy 0.05 below the reference model's is a clear gap, well beyond the
noise of a validation split; also used for accuracy when balanced accuracy is missing."""

R2_GAP = 0.1
"""An r2 0.1 below the reference model's is a clear gap (r2 is noisier than accuracy)."""

LOSS_GAP_SHARE = 0.25
"""Without metrics, a validation loss that still has a quarter of the trivial-to-reference
distance to go is clearly worse than the reference."""

NO_SIGNAL_LOSS_MARGIN = 0.02
"""A reference model whose validation loss is not even 2% below the trivial loss has found
no signal in the loss."""

NO_SIGNAL_BALANCED_ACCURACY_MARGIN = 0.05
"""...nor in the metric when its balanced accuracy is within 0.05 of chance (1/k)..."""

NO_SIGNAL_STANDARD_ERRORS = 2.0
"""...or within two standard errors of chance when the validation split is small: on 100
rows a binary classifier that guesses scores 0.5 +- 0.05, so a reference at 0.59 there
(the better of two models, picked on that same split) has not shown any signal."""

NO_SIGNAL_R2 = 0.05
"""...or its r2 is at most 0.05."""

RAW_SCALE_LOSS = 1e4
"""A bare log's regression loss at 1e4 or more on its first epoch: a network starts with outputs
near 0, so its first losses are about E[y^2] under squared error (E|y| under absolute error).
1e4 is a target of std 100 under MSE (``causes.unscaled_target.TARGET_STD_HIGH``), and one in
the tens of thousands under MAE; a standardized target starts near 1."""


def first_loss(loss) -> float:
    """The first finite value of a logged loss (NaN when there is none)."""
    values = np.asarray(loss if loss is not None else [], dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite[0]) if finite.size else math.nan


def raw_scale_start(loss) -> bool:
    """A regression's first logged loss on the scale of an unscaled target (:data:`RAW_SCALE_LOSS`)."""
    return first_loss(loss) >= RAW_SCALE_LOSS


def loss_in_audit_scale(setup: ResolvedSetup | None) -> bool:
    """Whether the run's losses compare with the audit's: the task's default loss and output.

    ``None`` (set-up unknown) assumes the defaults that ``auto`` resolves to.
    """
    if setup is None:
        return True
    activation = canonical_activation(setup.output_activation)
    expected = "linear" if setup.task == "regression" else ("sigmoid" if setup.output_units == 1 else "softmax")
    return canonical_loss(setup.loss) in AUDIT_SCALE_LOSSES.get(setup.task, ()) and activation == expected


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")


def chance_balanced_accuracy(audit: DataAudit) -> float:
    """Balanced accuracy of any constant prediction: 1/k."""
    if audit.n_classes > 0:
        return 1.0 / audit.n_classes
    trivial = metric_value(audit.trivial_metrics, "val_balanced_accuracy")
    return trivial if math.isfinite(trivial) else 0.5


def chance_margin(audit: DataAudit) -> float:
    """How far above chance a balanced accuracy must be to show signal on this validation split.

    ``NO_SIGNAL_BALANCED_ACCURACY_MARGIN``, or ``NO_SIGNAL_STANDARD_ERRORS`` standard
    errors of a guessing classifier's balanced accuracy, whichever is larger. Each class'
    recall of a guess is a binomial share with p = 1/k over that class' validation rows
    (n_val times its share in the audit's class balance), and balanced accuracy is their
    mean, so its variance is sum_c p (1 - p) / n_c / k^2.
    """
    chance = chance_balanced_accuracy(audit)
    k = audit.n_classes
    if k < 2 or audit.n_val <= 0:
        return NO_SIGNAL_BALANCED_ACCURACY_MARGIN
    shares = [share for share in audit.class_balance.values() if share > 0] or [1.0 / k] * k
    rows = [max(audit.n_val * share, 1.0) for share in shares]
    variance = sum(chance * (1.0 - chance) / n for n in rows) / len(rows) ** 2
    return max(NO_SIGNAL_BALANCED_ACCURACY_MARGIN, NO_SIGNAL_STANDARD_ERRORS * math.sqrt(variance))


def ends_above_chance(history: History, audit: DataAudit, epochs: int = 3) -> bool:
    """The network's own validation balanced accuracy, the median of its last ``epochs``, clearly
    above chance (:func:`chance_margin`): its predictions carry signal, whatever its loss says."""
    accuracy = series(history, "val_balanced_accuracy")
    if accuracy is None or not is_classification(audit.task):
        return False
    end = float(np.nanmedian(accuracy[-epochs:]))
    return end >= chance_balanced_accuracy(audit) + chance_margin(audit)


def metric_value(metrics: Mapping[str, float], name: str) -> float:
    """``metrics[name]``, also found without the ``val_`` prefix; NaN when absent."""
    for key in (name, name.removeprefix("val_")):
        value = metrics.get(key)
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return math.nan


def reference_has_signal(audit: DataAudit) -> bool:
    """Whether the reference model beats the trivial predictor, by its loss or its metric.

    No signal needs every available test to say so: a validation loss not even
    ``NO_SIGNAL_LOSS_MARGIN`` below the trivial loss, and a balanced accuracy within
    :func:`chance_margin` of chance (classification: 0.05, more on a small validation
    split) or an r2 at most ``NO_SIGNAL_R2`` (regression). With no test available, signal
    is assumed.
    """
    no_signal: list[bool] = []
    if math.isfinite(audit.trivial_val_loss) and math.isfinite(audit.reference_val_loss):
        no_signal.append(audit.reference_val_loss >= audit.trivial_val_loss * (1.0 - NO_SIGNAL_LOSS_MARGIN))
    if is_classification(audit.task):
        balanced = metric_value(audit.reference_metrics, "val_balanced_accuracy")
        if math.isfinite(balanced):
            no_signal.append(balanced <= chance_balanced_accuracy(audit) + chance_margin(audit))
    else:
        r2 = metric_value(audit.reference_metrics, "val_r2")
        if math.isfinite(r2):
            no_signal.append(r2 <= NO_SIGNAL_R2)
    return not (no_signal and all(no_signal))


@dataclass(frozen=True)
class ReferenceGap:
    """How far the network's final validation score is from the reference model's.

    ``ratio`` is the gap in units of its threshold: above 1 is a clear gap, when the
    reference showed signal (``signal``, :func:`reference_has_signal`). A reference no better
    than chance within the noise of the validation split is the better of two models picked
    on those rows by luck: the data allow the trivial level, and falling short of the lucky
    score is noise too, however many thresholds it spans.
    """

    measure: str
    network: float
    reference: float
    ratio: float
    signal: bool = True

    @property
    def far(self) -> bool:
        return self.signal and self.ratio > 1.0

    def describe(self) -> str:
        if not self.signal and self.ratio > 1.0:
            verdict = "the reference is no better than chance within the noise of the validation rows: no gap to read"
        else:
            verdict = "clearly worse" if self.far else ("close" if self.ratio > 0 else "as good or better")
        return f"{self.measure} {fmt(self.network)} vs the reference model's {fmt(self.reference)} ({verdict})"


_GAP_METRICS: dict[str, tuple[tuple[str, float], ...]] = {
    "classification": (("val_balanced_accuracy", BALANCED_ACCURACY_GAP), ("val_accuracy", BALANCED_ACCURACY_GAP)),
    "regression": (("val_r2", R2_GAP),),
}
"""Higher-is-better validation metrics compared with the reference's, first recorded wins."""

GAP_UNITS: dict[str, float] = {name: unit for family in _GAP_METRICS.values() for name, unit in family}
"""What a clear gap is, per validation metric (the thresholds above, by metric name)."""


def reference_gap(
    history: History, audit: DataAudit, detection: DetectionConfig, *, setup: ResolvedSetup | None = None
) -> ReferenceGap | None:
    """The network's final validation score (mean of the last ``patience`` epochs) against
    the reference model's: by metric when recorded (scale-free), else by validation loss
    when it is in the audit's scale. For classification the doctor's own ``val_log_loss``,
    when recorded, is judged too: a clear gap there counts when it is the wider one. None when nothing
    can be compared. Never clear when the reference found no signal (:class:`ReferenceGap`).

    When a callback put an epoch's weights back at the end (``ResolvedSetup.kept_epoch``), that
    epoch's own scores are the model the fit leaves: a mean with the epochs before it (still
    rising) or after it (past the best) would score another model."""
    kept = setup.kept_epoch if setup is not None else 0
    window = detection.patience
    if kept > 0:  # copied only then: this runs in every detection and in several causes
        columns = {name: list(values) for name, values in dict(history).items()}
        if kept < max(map(len, columns.values()), default=0):  # the last epoch kept is the usual reading
            history, window = {name: values[:kept] for name, values in columns.items()}, 1
    found = _reference_gap(history, audit, window, setup)
    if found is None or reference_has_signal(audit):
        return found
    return replace(found, signal=False)


def _reference_gap(history: History, audit: DataAudit, window: int, setup: ResolvedSetup | None) -> ReferenceGap | None:
    family = "classification" if is_classification(audit.task) else "regression"
    for name, threshold in _GAP_METRICS[family]:
        network = recent_mean(series(history, name), window)
        reference = metric_value(audit.reference_metrics, name)
        if math.isfinite(network) and math.isfinite(reference):
            gap = ReferenceGap(name, network, reference, (reference - network) / threshold)
            calibration = _log_loss_gap(history, audit, window) if family == "classification" else None
            return calibration if calibration is not None and calibration.far and calibration.ratio > gap.ratio else gap
    val = series(history, "val_loss")
    span = audit.trivial_val_loss - audit.reference_val_loss
    if val is not None and loss_in_audit_scale(setup) and math.isfinite(span) and span > 0:
        network = recent_mean(val, window)
        share = (network - audit.reference_val_loss) / span
        return ReferenceGap("val_loss", network, audit.reference_val_loss, share / LOSS_GAP_SHARE)
    return None


def _log_loss_gap(history: History, audit: DataAudit, window: int) -> ReferenceGap | None:
    """The doctor's own validation log loss (a proper score: from the predicted probabilities,
    whatever the training loss or its penalties) against the reference's, in units of
    ``LOSS_GAP_SHARE`` of the trivial-to-reference distance. A net that ranks the classes well
    but whose probabilities sit near the prior (held back by a heavy penalty) is not where the
    data allow, though its balanced accuracy looks close. Read with the net's prior shift
    undone when that was recorded (``val_log_loss_prior_matched``): class weights or
    oversampling train on another class prior on purpose, and the probabilities they give are
    the data's scaled by the weights, worse in log loss by design however well they separate
    the classes (an imbalance fixed with balanced class weights read 0.51 against the
    reference's 0.24 at a balanced accuracy above the reference's). None when the log loss was
    not recorded."""
    name, values = "val_log_loss_prior_matched", series(history, "val_log_loss_prior_matched")
    if values is None:
        name, values = "val_log_loss", series(history, "val_log_loss")
    network = recent_mean(values, window)
    reference = metric_value(audit.reference_metrics, "val_log_loss")
    if not math.isfinite(reference):
        reference = audit.reference_val_loss
    span = audit.trivial_val_loss - reference
    if not (math.isfinite(network) and math.isfinite(span) and span > 0):
        return None
    return ReferenceGap(name, network, reference, (network - reference) / span / LOSS_GAP_SHARE)

