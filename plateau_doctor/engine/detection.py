"""Symptoms: what the loss curves show, read from a per-epoch history. Pure: numpy only.

``history`` maps the column names of ``schema.HISTORY_SIGNALS`` to one float per epoch (a
``dict`` of lists or a pandas DataFrame). A missing or all-NaN signal is "not measured"; a
non-finite ``loss`` or ``val_loss`` is a divergence.

Every test is relative (to the loss level, to the trivial predictor, to the audit's cheap
reference model) and runs on an EMA-smoothed curve, so neither one noisy epoch nor the
scale of the loss decides anything. Settings come from ``config.DetectionConfig`` and are
named as in Keras' callbacks: the first ``start_from_epoch`` epochs are a warm-up and are
skipped; a test "over ``patience`` epochs" compares the last epoch with the one
``patience`` epochs before it, as Keras' EarlyStopping does, so it needs
``start_from_epoch + patience + 1`` epochs; ``min_delta`` is the relative improvement of
the smoothed loss that counts as progress. Epochs in evidence are 1-based, as Keras
prints them.

The rule on learnable signal. The audit's reference model (best of a linear model and
gradient boosting) says what the data allow:

- a network whose validation loss and metric sit at the trivial predictor's level (or no
  better), without progress, is ``stuck_at_trivial`` whatever the reference reaches. When
  the reference cannot beat the trivial predictor either (e.g. shuffled labels), the
  symptom is still reported, with less confidence, and ``diagnosis`` names
  ``no_learnable_signal`` as its cause;
- a network that flattens at the reference's level is ``converged``, even when that level
  is poor: a noisy target where the reference reaches r2 0.3 and the network 0.3 too has
  reached the noise ceiling, not a plateau;
- ``plateau`` and ``slow_convergence`` need a clear gap to the reference, judged on
  validation scores only: a low training loss does not excuse it (a training loss is not
  comparable with the reference's validation loss). They read the training loss first and
  the validation loss when the training loss is too noisy to tell (the thinned net of a
  heavy dropout): a validation loss that stalls under a moving training loss that stays at
  or above it is a plateau, one that still falls steadily is slow convergence;
- a training loss that wobbles while the validation loss falls steadily is not an
  oscillation: the weights improve epoch after epoch.

Losses are compared with the audit's trivial and reference losses only when the loss is
the task's default (``loss_in_audit_scale``): another loss has another scale, and then the
validation metrics (balanced accuracy, r2) decide alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup

History = Mapping[str, Sequence[float]]
"""Per-epoch columns named as in ``schema.HISTORY_SIGNALS``; a pandas DataFrame works too."""

DIVERGENCE_FACTOR = 3.0
"""A smoothed training loss ending above 3x its own minimum has blown up: noise and even
strong overfitting move the *training* loss by far less."""

DIVERGENCE_GIVE_BACK = 0.5
"""...and that rise must give back at least half of what was gained since the first epoch,
so that a converged loss near zero (1e-4 -> 4e-4) is not called a divergence."""

CHANCE_MARGIN = 0.02
"""Balanced accuracy within 0.02 of 1/k is chance level: a collapsed classifier scores
exactly 1/k, and a validation split of a few hundred rows moves it by about this much."""

TRIVIAL_R2 = 0.05
"""An r2 at or below 0.05 explains no more than 5% of the target's variance: the network
predicts a constant, the regression's trivial predictor."""

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

MONOTONE_SHARE = 0.8
"""Slow convergence falls steadily: at least 80% of the last epochs lower the loss."""

OSCILLATION_AMPLITUDE = 0.1
"""Epoch-to-epoch moves averaging 10% of the loss level are far above the noise of an
epoch-mean training loss (about 1%) or of a validation loss (a few %)."""

OSCILLATION_FLIPS = 0.5
"""At least half of the consecutive moves reverse direction: the loss goes up and down."""

OSCILLATION_EFFICIENCY = 0.5
"""No net progress: the net change over the window is less than half of the distance the
loss travelled up and down (1 for a monotone curve, ~0 for pure back-and-forth)."""

SPIKE_FACTOR = 2.0
"""One epoch at more than twice the previous epoch's loss is a spike."""

OSCILLATION_MIN_EPOCHS = 5
"""Fewest epochs (4 moves) on which up-and-down movement can be told from noise."""

OVERFITTING_RISE = 0.1
"""Overfitting: every one of the last ``patience`` epochs has a validation loss at least
10% above the smoothed minimum (reached ``patience`` or more epochs earlier) while the
training loss kept improving. Requiring *every* recent epoch, not the last or an average,
keeps a noisy validation loss near its floor (which moves ~5-10% per epoch on a few
hundred rows) from passing for a rise."""

TINY = 1e-12
"""Guards divisions by a loss of exactly zero."""

_LOSS_ALIASES: dict[str, str] = {
    "mse": "mean_squared_error",
    "meansquarederror": "mean_squared_error",
    "mae": "mean_absolute_error",
    "meanabsoluteerror": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "meanabsolutepercentageerror": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "meansquaredlogarithmicerror": "mean_squared_logarithmic_error",
    "huber": "huber",
    "huberloss": "huber",
    "logcosh": "log_cosh",
    "binarycrossentropy": "binary_crossentropy",
    "bce": "binary_crossentropy",
    "binaryfocalcrossentropy": "binary_focal_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy",
    "cce": "categorical_crossentropy",
    "categoricalfocalcrossentropy": "categorical_focal_crossentropy",
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "hinge": "hinge",
    "squaredhinge": "squared_hinge",
    "categoricalhinge": "categorical_hinge",
    "poisson": "poisson",
    "kld": "kl_divergence",
    "kldivergence": "kl_divergence",
    "kullbackleiblerdivergence": "kl_divergence",
    "cosinesimilarity": "cosine_similarity",
}

_ACTIVATION_ALIASES: dict[str, str] = {
    "": "linear",
    "none": "linear",
    "hardsigmoid": "hard_sigmoid",
    "hardtanh": "hard_tanh",
    "leakyrelu": "leaky_relu",
}

AUDIT_SCALE_LOSSES: dict[str, tuple[str, ...]] = {
    "binary": ("binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy"),
    "multiclass": ("sparse_categorical_crossentropy", "categorical_crossentropy"),
    "regression": ("mean_squared_error",),
}
"""Losses in the scale of the audit's trivial and reference losses (mean cross-entropy in
nats for classification, MSE for regression), per task."""


def canonical_loss(name: str) -> str:
    """A Keras loss identifier in one spelling: ``"mse"``, ``"MeanSquaredError"`` -> ``"mean_squared_error"``."""
    key = name.strip().lower().replace("_", "").replace(" ", "")
    return _LOSS_ALIASES.get(key, name.strip().lower())


def canonical_activation(name: str | None) -> str:
    """A Keras activation identifier in one spelling; ``None`` and ``""`` are ``"linear"``."""
    key = (name or "").strip().lower()
    return _ACTIVATION_ALIASES.get(key.replace("_", ""), key)


def loss_in_audit_scale(setup: ResolvedSetup | None) -> bool:
    """Whether the run's losses compare with the audit's: the task's default loss and output.

    ``None`` (set-up unknown) assumes the defaults that ``auto`` resolves to.
    """
    if setup is None:
        return True
    activation = canonical_activation(setup.output_activation)
    expected = "linear" if setup.task == "regression" else ("sigmoid" if setup.output_units == 1 else "softmax")
    return canonical_loss(setup.loss) in AUDIT_SCALE_LOSSES.get(setup.task, ()) and activation == expected


def ema(values: Sequence[float], weight: float) -> np.ndarray:
    """Exponential moving average; ``weight`` is the newest epoch's share (1 = no smoothing).

    A non-finite epoch does not move the average (it carries the previous value); epochs
    before the first finite one stay NaN.
    """
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"ema does not support weight={weight!r}; use 0 < weight <= 1 (1 = no smoothing)")
    data = np.asarray(values, dtype=float).ravel()
    smoothed = np.full(data.shape, np.nan)
    current = math.nan
    for index, value in enumerate(data):
        if math.isfinite(value):
            current = value if math.isnan(current) else weight * value + (1.0 - weight) * current
        smoothed[index] = current
    return smoothed


def relative_improvement(before: float, after: float) -> float:
    """Share of the loss removed from ``before`` to ``after``: (before - after) / |before|.

    Positive when the loss fell, negative when it rose; independent of the loss' scale.
    """
    return float((before - after) / max(abs(before), TINY))


def column(history: History, name: str) -> np.ndarray | None:
    """The raw column as floats (NaN and inf kept), or None when it is missing."""
    if name not in history:
        return None
    return np.asarray(history[name], dtype=float).ravel()


def series(history: History, name: str) -> np.ndarray | None:
    """The column as floats, or None when it is missing or holds no finite value."""
    values = column(history, name)
    return values if values is not None and np.isfinite(values).any() else None


def recent_mean(values: np.ndarray | None, epochs: int) -> float:
    """Mean of the finite values among the last ``epochs`` epochs (NaN when there are none)."""
    if values is None:
        return math.nan
    tail = values[-max(epochs, 1):]
    finite = tail[np.isfinite(tail)]
    return float(finite.mean()) if finite.size else math.nan


def typical_value(values: np.ndarray | None, start_from_epoch: int) -> float:
    """Median of the finite values after the warm-up (of all epochs if the run is shorter)."""
    if values is None:
        return math.nan
    tail = values[start_from_epoch:] if len(values) > start_from_epoch else values
    finite = tail[np.isfinite(tail)]
    return float(np.median(finite)) if finite.size else math.nan


def smoothed_progress(values: Sequence[float], detection: DetectionConfig) -> float | None:
    """Relative improvement of the EMA-smoothed curve over the last ``patience`` epochs.

    The warm-up epochs are left out of the average. None when the run is too short.
    """
    data = np.asarray(values, dtype=float).ravel()[detection.start_from_epoch:]
    if len(data) < detection.patience + 1:
        return None
    smoothed = ema(data, detection.smoothing)
    return relative_improvement(smoothed[-1 - detection.patience], smoothed[-1])


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

    ``ratio`` is the gap in units of its threshold: above 1 is a clear gap.
    """

    measure: str
    network: float
    reference: float
    ratio: float

    @property
    def far(self) -> bool:
        return self.ratio > 1.0

    def describe(self) -> str:
        verdict = "clearly worse" if self.far else ("close" if self.ratio > 0 else "as good or better")
        return f"{self.measure} {_fmt(self.network)} vs the reference model's {_fmt(self.reference)} ({verdict})"


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
    can be compared."""
    window = detection.patience
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
    whatever the training loss, its penalties or class weights) against the reference's, in
    units of ``LOSS_GAP_SHARE`` of the trivial-to-reference distance. A net that ranks the
    classes well but whose probabilities sit near the prior (held back by a heavy penalty)
    is not where the data allow, though its balanced accuracy looks close. None when the
    log loss was not recorded."""
    network = recent_mean(series(history, "val_log_loss"), window)
    reference = metric_value(audit.reference_metrics, "val_log_loss")
    if not math.isfinite(reference):
        reference = audit.reference_val_loss
    span = audit.trivial_val_loss - reference
    if not (math.isfinite(network) and math.isfinite(span) and span > 0):
        return None
    return ReferenceGap("val_log_loss", network, reference, (network - reference) / span / LOSS_GAP_SHARE)


@dataclass(frozen=True)
class _Run:
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

    def gap(self) -> ReferenceGap | None:
        return reference_gap(self.history, self.audit, self.detection, setup=self.setup)


def _read_run(
    history: History, audit: DataAudit, detection: DetectionConfig, setup: ResolvedSetup | None
) -> _Run:
    train = column(history, "loss")
    val = column(history, "val_loss")
    if train is None and val is None:
        raise ValueError("history has no 'loss' or 'val_loss' column; record Keras' History logs for every epoch")
    if len(train if train is not None else val) == 0:
        raise ValueError("history has no epoch; detection needs at least one recorded epoch")
    if val is not None and train is not None and not np.isfinite(val).any() and np.isfinite(train).all():
        val = None  # a validation loss that was never measured is not a divergence
    return _Run(history, audit, detection, setup, train, val)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between; NaN counts as 0."""
    if not math.isfinite(value):
        return 0.0
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def _trivial_kind(audit: DataAudit) -> str:
    return "prior entropy" if is_classification(audit.task) else "target variance"


def _symptom(name: str, confidence: float, evidence: str) -> Finding:
    return Finding(kind="symptom", name=name, confidence=round(min(1.0, max(0.0, confidence)), 3), evidence=evidence)


def _non_finite(run: _Run) -> Finding | None:
    """A NaN or inf loss: the fit has diverged (Keras records NaN once weights overflow)."""
    for name, values in (("loss", run.train), ("val_loss", run.val)):
        if values is None:
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            epoch = int(bad[0])
            before = values[:epoch]
            last = f"; the last finite {name} was {_fmt(before[-1])} at epoch {epoch}" if epoch else ""
            return _symptom("diverged", 1.0, f"{name} is {values[epoch]} at epoch {epoch + 1}{last}")
    return None


def _blow_up(run: _Run) -> Finding | None:
    """The smoothed training loss ends at several times its minimum, giving back the gains."""
    smoothed = ema(run.progress, run.detection.smoothing)
    lowest = float(np.min(smoothed))
    first, last = float(smoothed[0]), float(smoothed[-1])
    if lowest <= 0 or last <= DIVERGENCE_FACTOR * lowest or last - lowest < DIVERGENCE_GIVE_BACK * (first - lowest):
        return None
    factor = last / lowest
    at = int(np.argmin(smoothed)) + 1
    return _symptom(
        "diverged",
        0.8 + 0.2 * _ramp(factor, DIVERGENCE_FACTOR, 10 * DIVERGENCE_FACTOR),
        f"smoothed {run.progress_name} rose from its minimum {_fmt(lowest)} at epoch {at} to {_fmt(last)}"
        f" at epoch {run.n_epochs} ({factor:.1f}x, above {DIVERGENCE_FACTOR:g}x); it started at {_fmt(first)}",
    )


def _at_trivial_by_loss(run: _Run) -> str | None:
    """The last ``patience`` epochs of val_loss all within ``trivial_tolerance`` of the trivial loss."""
    trivial = run.audit.trivial_val_loss
    if not loss_in_audit_scale(run.setup) or not math.isfinite(trivial) or trivial <= 0:
        return None
    tail = run.level[-run.patience:]
    distance = np.abs(tail - trivial) / trivial
    if not np.all(distance <= run.detection.trivial_tolerance):
        return None
    return (
        f"{run.level_name} {_fmt(float(tail.mean()))} over epochs {run.window} is within"
        f" {_pct(float(distance.max()))} of the trivial loss {_fmt(trivial)} ({_trivial_kind(run.audit)});"
        f" the reference model reaches {_fmt(run.audit.reference_val_loss)}"
    )


def _at_trivial_by_metric(run: _Run) -> str | None:
    """The last ``patience`` epochs of the validation metric all at the trivial predictor's level."""
    if is_classification(run.audit.task):
        values = series(run.history, "val_balanced_accuracy")
        chance = chance_balanced_accuracy(run.audit)
        if values is None or len(values) < run.patience or not np.all(values[-run.patience:] <= chance + CHANCE_MARGIN):
            return None
        reference = metric_value(run.audit.reference_metrics, "val_balanced_accuracy")
        return (
            f"val_balanced_accuracy {_fmt(float(np.max(values[-run.patience:])))} or less over epochs {run.window}"
            f" is at chance (1/k = {_fmt(chance)}); the reference model reaches {_fmt(reference)}"
        )
    values = series(run.history, "val_r2")
    if values is None or len(values) < run.patience or not np.all(values[-run.patience:] <= TRIVIAL_R2):
        return None
    reference = metric_value(run.audit.reference_metrics, "val_r2")
    return (
        f"val_r2 {_fmt(float(np.max(values[-run.patience:])))} or less over epochs {run.window} explains no more"
        f" than a constant prediction (r2 <= {TRIVIAL_R2:g}); the reference model reaches {_fmt(reference)}"
    )


def _no_better_than_trivial(run: _Run) -> str | None:
    """val_loss at or above the trivial loss for ``patience`` epochs, and the metric near the
    trivial predictor's: a net that memorizes noise generalizes no better than the prior,
    even while its val_loss wanders above it. (An overconfident net can have a val_loss
    above the trivial loss too, but its metric is far from chance.)"""
    trivial = run.audit.trivial_val_loss
    if not loss_in_audit_scale(run.setup) or not math.isfinite(trivial) or trivial <= 0:
        return None
    tail = run.level[-run.patience:]
    if not np.all(tail >= trivial * (1.0 - run.detection.trivial_tolerance)):
        return None
    if is_classification(run.audit.task):
        name, trivial_metric = "val_balanced_accuracy", chance_balanced_accuracy(run.audit)
        margin = chance_margin(run.audit)
    else:
        name, trivial_metric, margin = "val_r2", 0.0, NO_SIGNAL_R2
    value = recent_mean(series(run.history, name), run.patience)
    if not value <= trivial_metric + margin:
        return None
    return (
        f"{run.level_name} {_fmt(float(tail.mean()))} over epochs {run.window} is no better than the trivial loss"
        f" {_fmt(trivial)} ({_trivial_kind(run.audit)}) and {name} {_fmt(value)} is within {_fmt(margin)} of"
        f" the trivial predictor's {_fmt(trivial_metric)}"
    )


def _metric_beats_trivial(run: _Run) -> bool:
    """The recent validation metric is clearly above the trivial predictor's: balanced
    accuracy beyond :func:`chance_margin` of chance, or r2 above ``NO_SIGNAL_R2``. False
    when the metric was not recorded."""
    if is_classification(run.audit.task):
        value = recent_mean(series(run.history, "val_balanced_accuracy"), run.patience)
        return value > chance_balanced_accuracy(run.audit) + chance_margin(run.audit)
    return recent_mean(series(run.history, "val_r2"), run.patience) > NO_SIGNAL_R2


def _collapsed_predictions(run: _Run) -> str | None:
    share = recent_mean(series(run.history, "pred_majority_share"), run.patience)
    if not share >= COLLAPSE_SHARE:
        return None
    return f"{_pct(share)} of validation predictions are one class (collapsed, >= {_pct(COLLAPSE_SHARE)})"


def _stuck_at_trivial(run: _Run) -> Finding | None:
    """No validation progress for ``patience`` epochs after the warm-up, at the trivial
    predictor's level.

    The level is read from the loss (when in the audit's scale), from the metric (balanced
    accuracy at chance, r2 ~ 0), or from both (no better than trivial), so a mismatched
    loss with its own scale is still caught. No progress of the smoothed validation loss
    is required, so that a run that starts at the trivial level and then learns is never
    stuck; it is waived only when the predictions have collapsed onto one class while the
    loss is in another scale than the audit's (e.g. softmax on one unit: Keras trains the
    logits, the predictions never move).

    The loss alone does not make a run stuck when its metric is clearly above the trivial
    predictor's: cross-entropy is unbounded, and the val_loss of an overfitting or
    overconfident net climbs through the trivial level (and may linger there) while it
    still classifies well.
    """
    if not run.ready:
        return None
    by_loss, by_metric = _at_trivial_by_loss(run), _at_trivial_by_metric(run)
    if by_loss is not None and by_metric is None and _metric_beats_trivial(run):
        by_loss = None
    levels = [text for text in (by_loss, by_metric) if text is not None]
    if not levels:
        no_better = _no_better_than_trivial(run)
        levels = [no_better] if no_better is not None else []
    if not levels:
        return None
    collapsed = _collapsed_predictions(run) if is_classification(run.audit.task) else None
    progress = smoothed_progress(run.level, run.detection)
    moving = progress >= run.detection.min_delta
    predictions_frozen = collapsed is not None and by_metric is not None and not loss_in_audit_scale(run.setup)
    if moving and not predictions_frozen:
        return None
    parts = [*levels, *([collapsed] if collapsed is not None else [])]
    parts.append(
        f"smoothed {run.level_name} improved {_pct(progress)} over the last {run.patience} epochs"
        f" (progress needs >= {_pct(run.detection.min_delta)})"
    )
    if moving:
        parts.append("the loss is in another scale than the trivial loss and moves; the predictions do not")
    if reference_has_signal(run.audit):
        confidence = 0.7 + 0.1 * (len(levels) > 1) + 0.1 * (collapsed is not None)
    else:
        confidence = 0.6
        parts.append(
            "the reference model does no better than the trivial predictor either:"
            " the data may hold no learnable signal"
        )
    return _symptom("stuck_at_trivial", confidence, "; ".join(parts))


def _plateau(run: _Run, gap: ReferenceGap | None) -> Finding | None:
    """No relative progress over ``patience`` epochs while clearly worse than the reference."""
    if not run.ready or gap is None or not gap.far:
        return None
    progress = run.smoothed_progress()
    if progress >= run.detection.min_delta:
        return _validation_stall(run, gap)
    return _symptom(
        "plateau",
        0.6 + 0.3 * _ramp(gap.ratio, 1.0, 4.0),
        f"smoothed {run.progress_name} improved {_pct(progress)} over epochs {run.window}"
        f" (progress needs >= {_pct(run.detection.min_delta)}) at {_fmt(float(run.progress[-1]))};"
        f" {gap.describe()}",
    )


def _validation_stall(run: _Run, gap: ReferenceGap) -> Finding | None:
    """The training loss still moves, but the validation loss made no progress over
    ``patience`` epochs, clearly worse than the reference, while the training loss stays
    at or above the validation loss.

    The training loss of a net with dropout measures the thinned network, and noise keeps
    it moving; what the user gets is the validation curve. A net that fits its training
    rows no better than unseen ones is not overfitting (that needs the training loss
    below the validation loss): it is stuck short of what the data allow.
    """
    if run.val is None or run.train is None:
        return None
    progress = smoothed_progress(run.val, run.detection)
    train_now, val_now = recent_mean(run.train, run.patience), recent_mean(run.val, run.patience)
    if progress is None or progress >= run.detection.min_delta or not train_now >= val_now:
        return None
    return _symptom(
        "plateau",
        0.55 + 0.3 * _ramp(gap.ratio, 1.0, 4.0),
        f"smoothed val_loss improved {_pct(progress)} over epochs {run.window}"
        f" (progress needs >= {_pct(run.detection.min_delta)}) at {_fmt(float(run.val[-1]))},"
        f" while the training loss {_fmt(train_now)} stays at or above the validation loss {_fmt(val_now)};"
        f" {gap.describe()}",
    )


def _slow_convergence(run: _Run, gap: ReferenceGap | None) -> Finding | None:
    """Still falling steadily at the end of the budget, still clearly worse than the reference.

    Judged on the training loss; when that still falls but too noisily to call steady (the
    thinned net of a heavy dropout, small batches), on the validation loss, which is
    measured on the whole net at the end of each epoch.
    """
    if not run.ready or gap is None or not gap.far:
        return None
    progress = run.smoothed_progress()
    if not progress >= run.detection.min_delta:
        return None
    curves = [(run.progress_name, run.progress)]
    if run.train is not None and run.val is not None:
        curves.append(("val_loss", run.val))
    for name, values in curves:
        progress = smoothed_progress(values, run.detection)
        steps = np.diff(values[-run.patience - 1:])
        falling = float(np.mean(steps < 0))
        if progress is None or progress < run.detection.min_delta or falling < MONOTONE_SHARE:
            continue
        noisy = "" if name == run.progress_name else f" ({run.progress_name} falls too, unsteadily)"
        return _symptom(
            "slow_convergence",
            0.55 + 0.3 * _ramp(gap.ratio, 1.0, 4.0),
            f"{name} still falls at the end{noisy}: smoothed {_pct(progress)} over epochs {run.window}"
            f" (~{_pct(progress / run.patience)} per epoch), lower in {_pct(falling)} of those epochs,"
            f" now {_fmt(float(values[-1]))}; {gap.describe()}",
        )
    return None


def _oscillation(run: _Run, gap: ReferenceGap | None) -> Finding | None:
    """Up and down (or spiking) by a large share of the loss, without net progress.

    Judged on the last ``2 * patience`` epochs after the warm-up, training loss first and
    then val_loss: a too-high learning rate shows most in val_loss, which is measured on
    the end-of-epoch weights rather than averaged over the epoch. A curve that wobbles at
    the reference model's level is noise around convergence (a small loss moves by a
    large share of itself), so a clear gap to the reference is required when measurable.
    """
    if gap is not None and not gap.far:
        return None
    for name, values in (("loss", run.train), ("val_loss", run.val)):
        if values is None:
            continue
        if name == "loss" and _steadily_improving(run.val, run):
            continue  # the weights improve epoch after epoch: the training loss's noise is dropout's or the batches'
        tail = _oscillation_window(values, run)
        if len(tail) < OSCILLATION_MIN_EPOCHS:
            continue
        steps = np.diff(tail)
        travelled = float(np.abs(steps).sum())
        amplitude = float(np.abs(steps).mean() / max(float(np.abs(tail).mean()), TINY))
        efficiency = abs(float(tail[-1] - tail[0])) / max(travelled, TINY)
        signs = np.sign(steps[steps != 0])
        flips = float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0
        spikes = int(np.sum(tail[1:] > SPIKE_FACTOR * tail[:-1]))
        if amplitude < OSCILLATION_AMPLITUDE or efficiency >= OSCILLATION_EFFICIENCY:
            continue
        if flips < OSCILLATION_FLIPS and spikes == 0:
            continue
        first = run.n_epochs - len(tail) + 1
        return _symptom(
            "oscillation",
            0.5 + 0.4 * _ramp(amplitude, OSCILLATION_AMPLITUDE, 5 * OSCILLATION_AMPLITUDE),
            f"{name} over epochs {first}-{run.n_epochs} moves {_pct(amplitude)} of its level per epoch on average,"
            f" reverses direction in {_pct(flips)} of the moves, spikes above {SPIKE_FACTOR:g}x the previous epoch"
            f" {spikes} time(s), and nets only {_pct(efficiency)} of the distance travelled"
            f" ({_fmt(float(tail[0]))} -> {_fmt(float(tail[-1]))},"
            f" range {_fmt(float(tail.min()))}-{_fmt(float(tail.max()))})",
        )
    return None


def _oscillation_window(values: np.ndarray, run: _Run) -> np.ndarray:
    """The last ``2 * patience + 1`` epochs after the warm-up."""
    return values[run.detection.start_from_epoch:][-(2 * run.patience + 1):]


def _steadily_improving(values: np.ndarray | None, run: _Run) -> bool:
    """The curve made relative progress over the oscillation window, and most of the way it
    travelled was progress: what the end-of-epoch weights score keeps getting better."""
    if values is None:
        return False
    tail = _oscillation_window(values, run)
    if len(tail) < OSCILLATION_MIN_EPOCHS or not np.all(np.isfinite(tail)):
        return False
    travelled = float(np.abs(np.diff(tail)).sum())
    efficiency = float(tail[0] - tail[-1]) / max(travelled, TINY)
    return relative_improvement(float(tail[0]), float(tail[-1])) >= run.detection.min_delta and efficiency >= OSCILLATION_EFFICIENCY


def _overfitting(run: _Run) -> Finding | None:
    """val_loss bottomed out at least ``patience`` epochs ago and stayed well above it since,
    while loss kept falling."""
    if run.train is None or run.val is None:
        return None
    start = min(run.detection.start_from_epoch, run.n_epochs - 1)
    val = ema(run.val[start:], run.detection.smoothing)
    train = ema(run.train[start:], run.detection.smoothing)
    best = int(np.argmin(val))
    if len(val) - 1 - best < run.patience:
        return None
    recent_low = float(np.min(run.val[-run.patience:]))
    rise = -relative_improvement(val[best], recent_low)
    train_progress = relative_improvement(train[best], train[-1])
    if rise < OVERFITTING_RISE or train_progress < run.detection.min_delta:
        return None
    return _symptom(
        "overfitting",
        0.5 + 0.4 * _ramp(rise, OVERFITTING_RISE, 5 * OVERFITTING_RISE),
        f"smoothed val_loss bottomed at {_fmt(float(val[best]))} at epoch {start + best + 1}; each of the last"
        f" {run.patience} epochs is at least {_pct(rise)} above it (lowest {_fmt(recent_low)}, last"
        f" {_fmt(float(run.val[-1]))}), while smoothed loss kept falling {_pct(train_progress)}"
        f" ({_fmt(float(train[best]))} -> {_fmt(float(train[-1]))})",
    )


def _too_short_to_judge(run: _Run, gap: ReferenceGap | None) -> Finding | None:
    """A run shorter than the progress tests need, ending clearly worse than the reference.

    It is not healthy: it stopped (or was stopped) before reaching what the data allows.
    Falling overall reads as slow convergence, not falling as a plateau; confidence is
    lower because the window is short.
    """
    if run.ready or gap is None or not gap.far:
        return None
    level = run.level[np.isfinite(run.level)]
    if len(level) < 2:
        return None
    change = relative_improvement(float(level[0]), float(level[-1]))
    name = "slow_convergence" if change >= run.detection.min_delta else "plateau"
    return _symptom(
        name,
        0.5,
        f"only {run.n_epochs} epoch(s), fewer than the {run.detection.start_from_epoch + run.patience + 1} the "
        f"progress tests need; {run.level_name} went from {_fmt(float(level[0]))} to {_fmt(float(level[-1]))} "
        f"({_pct(change)}); {gap.describe()}",
    )


def _converged(run: _Run, gap: ReferenceGap | None) -> Finding:
    """No sick symptom; how sure depends on whether the run was long enough to judge."""
    parts = ["no sick symptom"]
    if gap is not None:
        parts.append(gap.describe())
    if is_classification(run.audit.task):
        parts.append(f"chance balanced accuracy {_fmt(chance_balanced_accuracy(run.audit))}")
    parts.append(
        f"final {run.level_name} {_fmt(float(run.level[-1]))} vs trivial {_fmt(run.audit.trivial_val_loss)}"
        f" and reference {_fmt(run.audit.reference_val_loss)}"
    )
    if not run.ready:
        parts.append(
            f"only {run.n_epochs} epoch(s): progress tests need {run.detection.start_from_epoch + run.patience + 1}"
        )
    return _symptom("converged", 0.9 if run.ready else 0.5, "; ".join(parts))


def _rank(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: -finding.confidence)


def detect_symptoms(
    history: History, audit: DataAudit, detection: DetectionConfig, *, setup: ResolvedSetup | None = None
) -> list[Finding]:
    """What the curves show, most confident first; ``[converged]`` when nothing is sick.

    ``setup`` tells whether the loss is in the audit's scale (see ``loss_in_audit_scale``);
    without it the task's default loss is assumed. A diverged run is reported alone: after
    a blow-up the other tests read meaningless numbers. ``stuck_at_trivial`` is the most
    specific kind of plateau and replaces ``plateau`` and ``slow_convergence``; so does
    ``oscillation``, whose smoothed curve is flat only because it goes up and down.
    """
    run = _read_run(history, audit, detection, setup)
    diverged = _non_finite(run) or _blow_up(run)
    if diverged is not None:
        return [diverged]
    gap = run.gap()
    stuck, oscillation = _stuck_at_trivial(run), _oscillation(run, gap)
    if stuck is not None:
        stalled = [stuck]
    elif oscillation is not None:
        stalled = []
    else:
        stalled = [_plateau(run, gap), _slow_convergence(run, gap)]
    found = [finding for finding in (*stalled, oscillation, _overfitting(run)) if finding is not None]
    if not found and (short := _too_short_to_judge(run, gap)) is not None:
        found = [short]
    if not found and (no_signal := _at_trivial_without_signal(run)) is not None:
        found = [no_signal]
    return _rank(found) if found else [_converged(run, gap)]


def _at_trivial_without_signal(run: _Run) -> Finding | None:
    """A network at chance on data where the reference is at chance too is not healthy, however short or flat.

    It "converged" to the trivial predictor; with no signal in the data that is the
    finding (``no_learnable_signal`` names the cause), not a healthy run.
    """
    if reference_has_signal(run.audit):
        return None
    if is_classification(run.audit.task):
        name, level = "val_balanced_accuracy", chance_balanced_accuracy(run.audit) + chance_margin(run.audit)
    else:
        name, level = "val_r2", NO_SIGNAL_R2
    values = series(run.history, name)
    if values is None or not len(values) or not math.isfinite(float(values[-1])) or float(values[-1]) > level:
        return None
    return _symptom(
        "stuck_at_trivial",
        0.6,
        f"{name} {_fmt(float(values[-1]))} at the last epoch is no better than a constant prediction"
        f" (<= {_fmt(level)}), and the reference model does no better than the trivial predictor either:"
        " the data may hold no learnable signal",
    )


def check_early_stop(
    history: History, audit: DataAudit, detection: DetectionConfig, *, setup: ResolvedSetup | None = None
) -> Finding | None:
    """A confirmed pathology in a partial history, to stop a sick baseline early; else None.

    Called after every epoch. A non-finite loss stops at once; otherwise
    ``stuck_at_trivial`` stops after ``patience`` flat epochs at the trivial level following
    the warm-up, and ``overfitting`` once the validation loss has stayed well above its
    minimum for ``patience`` epochs while the training loss kept falling. These are the
    same tests ``detect_symptoms`` applies, so the full detection on the stopped history
    agrees. Conservative on purpose: a run that starts near the trivial level and then
    learns is neither flat nor at trivial for long, and a validation loss that wobbles near
    its floor never stays 10% above it for ``patience`` epochs in a row. An oscillating run
    whose validation loss bounces above its minimum is not stopped as overfitting: the rise
    is the step size's, and the full run shows which.
    """
    run = _read_run(history, audit, detection, setup)
    found = _non_finite(run) or _stuck_at_trivial(run)
    if found is not None:
        return found
    overfitting = _overfitting(run)
    if overfitting is None or _oscillation(run, run.gap()) is not None:
        return None
    return overfitting

