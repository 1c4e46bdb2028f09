"""Shared readings of one run, for every cause: the :class:`Case`, the symptom groups, the
optimizers' usable rates, and the signals several causes read (dead units, jumpy steps,
symmetric units, the step size against the inputs' and target's second moments). Pure:
numpy only. Names no cause: what one cause needs to know about another it asks through
the properties of ``registry.PROPERTIES``.

Per-epoch signals are read as the training side records them (``schema.HISTORY_SIGNALS``):
"recent" is the mean over the last ``patience`` epochs, "typical" the median after the
warm-up (``start_from_epoch``). A signal that was not recorded never supports a cause.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from plateau_doctor.config import DetectionConfig, PreprocessingConfig
from plateau_doctor.engine.causes.penalties import decay_holds_weights_down, effective_l2
from plateau_doctor.engine.causes.registry import REGISTRY
from plateau_doctor.engine.curve_math import History, fmt, recent_mean, series, typical_value
from plateau_doctor.engine.vocabulary import (
    ADAPTIVE_OPTIMIZERS,
    CONSTANT_INITIALIZERS,
    PLAIN_GRADIENT_OPTIMIZERS,
    in_family,
    name_key,
)
from plateau_doctor.schema import OVERFITTING, DataAudit, Finding, ResolvedSetup

STALLED = ("stuck_at_trivial", "plateau")
UNDERFIT = ("stuck_at_trivial", "plateau", "slow_convergence")
UNSTABLE = ("diverged", "oscillation")
FLAGGED = ("stuck_at_trivial", "plateau", OVERFITTING)
"""The symptoms of a network that ends no better than where the data allow it to start."""

LR_HIGH_ADAPTIVE = 0.05
"""Adam-family steps of 0.05 per weight are already a sizable share of typical weights
(~0.1 with Glorot initialization); Keras' default is 0.001."""

LR_HIGH_OTHER = 1.0
"""SGD-like optimizers (step = lr x gradient) rarely survive a learning rate of 1."""

LR_LOW_ADAPTIVE = 1e-5
"""Adam-family steps of 1e-5 per weight need thousands of epochs on a small table."""

LR_LOW_OTHER = 1e-4
"""SGD-like steps at 1e-4 x gradient barely move a dense network in a few hundred epochs."""

LR_LOW_ADAGRAD, LR_HIGH_ADAGRAD = 1e-3, 1.0
"""Adagrad's step on a weight is about lr / sqrt(t) at update t (it divides by the root of every
squared gradient so far), so in T updates a weight moves at most ~2 lr sqrt(T): at Keras' default
0.001, 0.2 in 10,000 updates, one Glorot weight's scale, where Adam at that rate may move 10.
Duchi et al. ran it at 0.01-1. (Adadelta at Keras' default is ``optimizer_choice``'s.)"""

STABLE_STEP = 2.0
"""Gradient descent on a quadratic of curvature c converges only while lr x c < 2. With a
plain-gradient optimizer the curvature along a first-layer weight grows with its input's
mean square E[x^2] (for a linear layer under MSE it is exactly that, up to the loss' own
factor), and along the hidden weights with the square of the outputs the net must reach
(the target's mean square). So lr x E[x^2] or lr x E[y^2] far above 2 cannot be stable,
whatever the std of the column looks like."""

UPDATE_RATIO_HIGH = 0.5
"""update_ratio is per epoch (||dW|| / ||W||). Half the weights' norm every epoch, after the
warm-up, means the weights are thrown around rather than refined."""

UPDATE_RATIO_PEAK = 2.0
"""One epoch that moved the weights by twice their norm: a blow-up, even if the net froze after."""

UPDATE_RATIO_LOW = 1e-3
"""Under 0.1% of the weights' norm per epoch, a network needs hundreds of epochs to change
noticeably: the steps are too small (unless the units are dead and have no gradient)."""

DEAD_FRACTION_HIGH = 0.5
"""Half of the ReLU units dead (0 on every validation row) removes half the capacity and
their gradient; well-initialized nets keep this under 10-20%."""

DEAD_FRACTION_ALL = 0.9
"""With nearly every unit dead, tiny updates come from missing gradients, not the learning rate."""

SATURATED_FRACTION_HIGH = 0.5
"""Half the sigmoid/tanh activations pinned at a bound: their gradient is ~0."""

SYMMETRIC_FRACTION_HIGH = 0.9
"""Nearly all hidden units duplicate another unit's weights: they can never differ again
(zeros or constant initialization), so the layer acts as one unit."""

VANISHING_RATIO = 0.01
"""The first layer's gradient under 1% of the output layer's: the early layers barely learn."""

EXPLODING_RATIO = 100.0
"""The first layer's gradient 100x the output layer's: gradients grow on the way back."""

DEEP_LAYERS = 3
"""Vanishing and exploding gradients, and the spread of the curvature, compound with depth;
3+ hidden layers make them likely."""

FEATURE_STD_RATIO_HIGH = 100.0
"""Features whose scales differ 100x make one step size wrong for most weights."""

FEATURE_RMS_HIGH = 100.0
"""A raw feature whose root mean square (spread and offset together) is above 100 pushes
the first pre-activations to hundreds, whatever the optimizer: saturation or dead units
from the first step."""

DROPOUT_STRONG = 0.5
"""Dropout keeps each hidden unit with probability 1 - rate: from 0.5 on, half of the
network is missing at every step, and the training loss is measured on that thinned net."""

L2_STRONG_UNKNOWN_SCALE = 1e-2
"""Without a loss in the audit's scale to compare the penalty with, an L2 factor of 0.01 on
every kernel is strong (its penalty on Glorot-initialized weights of a 64-32 net is ~0.8,
above a binary cross-entropy's trivial 0.69)."""

CONSEQUENCE_DISCOUNT = 0.2
"""Dead units and vanishing gradients are often consequences of an upstream cause: a large
learning rate (one big step drives the biases far below 0 and freezes the net), inputs or a
target whose scale makes the steps unstable, a constant initializer (every unit
identical, zero gradient to the first layer), or a strong L2 penalty. When one is present they weigh less as
causes of their own."""

REPORT_CONFIDENCE = 0.3
"""Causes below this are too weakly supported to report."""

FLAT_FROM_START = 0.2
"""A loss that ends less than 20% below its first epoch has not learned: every healthy
control of the scenario suite ends 37-99% below it, while a net frozen by its learning
rate or unable to fit at all ends within 10%."""


FAST_PROGRESS = 0.01
"""A training loss still falling 1% or more per epoch at the end of the run (five times the
least progress the detection counts) is far from its floor; one creeping slower, far above
what the reference reaches, has slowed toward a floor of its own."""


def make_cause(name: str, confidence: float, evidence: str) -> Finding:
    """A cause finding, its confidence clipped to 0..1 and rounded."""
    return Finding(kind="cause", name=name, confidence=round(min(1.0, max(0.0, confidence)), 3), evidence=evidence)


@dataclass(frozen=True)
class Case:
    """Everything a cause rule may read about one run."""

    history: History
    audit: DataAudit
    setup: ResolvedSetup
    detection: DetectionConfig
    symptoms: dict[str, Finding]
    preflight: dict[str, Finding]
    preprocessing: PreprocessingConfig | None

    def has(self, *names: str) -> bool:
        return any(name in self.symptoms for name in names)

    def signal(self, name: str) -> np.ndarray | None:
        return series(self.history, name)

    def recent(self, name: str) -> float:
        """Mean over the last ``patience`` epochs (the run's end state)."""
        return recent_mean(self.signal(name), self.detection.patience)

    def typical(self, name: str) -> float:
        """Median after the warm-up (the run's usual behaviour)."""
        return typical_value(self.signal(name), self.detection.start_from_epoch)

    def preflight_shows(self, prop: str) -> bool:
        """Whether a cause found before training (``check_setup``) has property ``prop``."""
        return any(prop in REGISTRY[name].properties for name in self.preflight if name in REGISTRY)

    def shown(self, names: Sequence[str]) -> str:
        """The symptoms among ``names`` that the run shows, for evidence."""
        return ", ".join(name for name in names if name in self.symptoms)

    def measured(self, *names: str) -> str:
        """The recent value of each recorded signal among ``names``, for evidence."""
        values = ((name, self.recent(name)) for name in names)
        return ", ".join(f"{name} {fmt(value)}" for name, value in values if math.isfinite(value))

    @property
    def n_epochs(self) -> int:
        for name in ("loss", "val_loss"):
            if name in self.history:
                return len(self.history[name])
        return 0


def is_plain_gradient(setup: ResolvedSetup) -> bool:
    """Whether the set-up's optimizer steps by learning rate x gradient (SGD without momentum)."""
    return in_family(setup.optimizer, PLAIN_GRADIENT_OPTIMIZERS) and not setup.momentum > 0


def lr_bounds(setup: ResolvedSetup) -> tuple[float, float, str]:
    """(too low, too high, family) learning rates for the set-up's optimizer."""
    if in_family(setup.optimizer, ADAPTIVE_OPTIMIZERS):
        return LR_LOW_ADAPTIVE, LR_HIGH_ADAPTIVE, f"adaptive optimizer {setup.optimizer}"
    if name_key(setup.optimizer) == "adagrad":
        return LR_LOW_ADAGRAD, LR_HIGH_ADAGRAD, f"{setup.optimizer}, whose steps shrink as 1 / sqrt(t)"
    return LR_LOW_OTHER, LR_HIGH_OTHER, f"optimizer {setup.optimizer}"


def rate_words(lr: float, family: str, word: str, beyond: bool, edge: str) -> str:
    """How a cause reads the learning rate against one edge of its optimizer's usual range:
    ``word`` ("large", "small") when ``beyond`` it, else in the usual range, with the ``edge``
    ("from 0.01", "up to 1e-05"). A rate the log does not hold is said to be unknown, never usual."""
    if not math.isfinite(lr):
        return f"learning_rate not logged ({word} for {family} {edge})"
    return f"learning_rate {fmt(lr)} is {word if beyond else 'in the usual range'} for {family} ({word} {edge})"


def sane_rate(case: Case) -> bool:
    """A learning rate inside its optimizer's usual range, away from both edges."""
    low, high, _ = lr_bounds(case.setup)
    return low < case.setup.learning_rate < high


def finite_max(values: np.ndarray | None) -> float:
    if values is None or not np.isfinite(values).any():
        return math.nan
    return float(np.max(values[np.isfinite(values)]))


@dataclass(frozen=True)
class Steps:
    """How far the weights moved per epoch: typically (median after the warm-up) and at most."""

    typical: float
    peak: float

    @property
    def jumpy(self) -> bool:
        return self.typical > UPDATE_RATIO_HIGH or self.peak > UPDATE_RATIO_PEAK

    @property
    def tiny(self) -> bool:
        return self.typical < UPDATE_RATIO_LOW


def steps(case: Case) -> Steps:
    return Steps(case.typical("update_ratio"), finite_max(case.signal("update_ratio")))


def units_damaged(case: Case) -> bool:
    """Most ReLU units dead or most sigmoid/tanh units saturated at the run's end."""
    return case.recent("dead_fraction") >= DEAD_FRACTION_HIGH or case.recent("saturated_fraction") >= SATURATED_FRACTION_HIGH


def units_healthy(case: Case) -> bool:
    """No recorded signal says the net is broken: gradients pass, steps are sane, units live."""
    ratio, update = case.typical("grad_ratio_first_last"), case.typical("update_ratio")
    return not (
        ratio < VANISHING_RATIO
        or ratio > EXPLODING_RATIO
        or case.recent("dead_fraction") >= DEAD_FRACTION_HIGH
        or case.recent("symmetric_fraction") >= SYMMETRIC_FRACTION_HIGH
        or update < UPDATE_RATIO_LOW
        or update > UPDATE_RATIO_HIGH
    )


def constant_initializer(setup: ResolvedSetup) -> bool:
    """A kernel initializer that gives every unit the same weights (only matters with hidden layers)."""
    return bool(setup.hidden_units) and in_family(setup.kernel_initializer, CONSTANT_INITIALIZERS)


# --- the inputs' and the target's second moments against the step --------------------------


@dataclass(frozen=True)
class Moment:
    """The largest second moment the network sees, where it comes from, and its step load."""

    source: str
    mean_square: float
    step_load: float  # learning_rate x mean_square: above STABLE_STEP a plain-gradient step is unstable

    @property
    def rms(self) -> float:
        return math.sqrt(self.mean_square)


def input_moment(audit: DataAudit, setup: ResolvedSetup) -> Moment | None:
    """The raw feature with the largest mean square E[x^2] = mean^2 + std^2; None when scaled."""
    if audit.scaled_features or not audit.features:
        return None
    feature = max(audit.features, key=lambda f: f.mean**2 + f.std**2)
    square = feature.mean**2 + feature.std**2
    if not math.isfinite(square):
        return None
    return Moment(feature.name, square, setup.learning_rate * square)


def target_moment(audit: DataAudit, setup: ResolvedSetup) -> Moment | None:
    """The raw regression target's mean square E[y^2]; None when scaled or not a regression."""
    if audit.task != "regression" or audit.scaled_target:
        return None
    square = audit.target_mean**2 + audit.target_std**2
    if not math.isfinite(square):
        return None
    return Moment("target", square, setup.learning_rate * square)


def stable_step(setup: ResolvedSetup) -> float:
    """The largest lr x curvature an SGD step takes stably: 2 (1 + momentum) (Polyak 1964's heavy ball on a
    quadratic; ``STABLE_STEP`` without momentum); NaN for an optimizer that does not step by lr x gradient."""
    if not in_family(setup.optimizer, PLAIN_GRADIENT_OPTIMIZERS):
        return math.nan
    return STABLE_STEP * (1.0 + max(setup.momentum, 0.0))


def _step_name(optimizer: str, momentum: float) -> str:
    return f"{optimizer}, momentum {fmt(momentum)}" if momentum > 0 else optimizer


def unstable_step(moment: Moment | None, setup: ResolvedSetup) -> bool:
    """A gradient step that the second moment makes unstable (:func:`stable_step`)."""
    return moment is not None and moment.step_load > stable_step(setup)


def unstable_by_scale(moment: Moment | None, setup: ResolvedSetup) -> bool:
    """An unstable step (``unstable_step``) that scaling would make stable: on standardized values (mean
    square 1) the same rate would be under :func:`stable_step`. When the rate alone is past it (lr > 2 for
    plain gradient descent), the scale does not make the step unstable: blaming it contradicts the evidence."""
    return unstable_step(moment, setup) and setup.learning_rate * 1.0 <= stable_step(setup)


STEP_LOAD_SEVERE = 100 * STABLE_STEP
"""A plain-gradient step 100x past the stable limit blows up within a few updates."""


def step_words(moment: Moment, case: Case) -> str:
    """The unstable step a second moment makes, for evidence."""
    return (
        f"learning_rate {fmt(case.setup.learning_rate)} x E[{moment.source}^2] {fmt(moment.mean_square)}"
        f" = {fmt(moment.step_load)}, above the {fmt(stable_step(case.setup))} a gradient step"
        f" ({_step_name(case.setup.optimizer, case.setup.momentum)}) can take stably"
    )


def upstream_cause(case: Case) -> str | None:
    """A root cause whose consequences include dead units and vanishing gradients."""
    _, high, _ = lr_bounds(case.setup)
    if case.setup.learning_rate >= high:
        return f"the large learning_rate {fmt(case.setup.learning_rate)}"
    # A decay that pulls every kernel to zero makes the units identical too: it goes first.
    if (decay := decay_holds_weights_down(case.setup, case.audit.n_features)) is not None:
        return f"the weight decay ({decay})"
    if constant_initializer(case.setup) or case.recent("symmetric_fraction") >= SYMMETRIC_FRACTION_HIGH:
        return f"the symmetric initialization ({case.setup.kernel_initializer})"
    if (l2 := effective_l2(case.setup)) >= L2_STRONG_UNKNOWN_SCALE:
        # A penalty that pulls every kernel to zero leaves a ReLU unit its bias alone: at or below
        # zero, it outputs 0 on every row.
        return f"the strong L2 penalty (l2 {fmt(l2)})"
    for moment in (target_moment(case.audit, case.setup), input_moment(case.audit, case.setup)):
        if unstable_step(moment, case.setup):
            return (
                f"the unstable step (learning_rate x E[{moment.source}^2] = {fmt(moment.step_load)}"
                f" > {fmt(stable_step(case.setup))} for {_step_name(case.setup.optimizer, case.setup.momentum)})"
            )
    return None


# --- the set-up against the task, before training ------------------------------------------

SICK_BOOST = 0.1
"""A mismatch found before training is more certain once the curves are sick too."""


def target_band(audit: DataAudit | None) -> tuple[float, float] | None:
    """mean - std .. mean + std of the regression target as the network sees it."""
    if audit is None:
        return None
    if audit.scaled_target:
        return -1.0, 1.0
    if not (math.isfinite(audit.target_mean) and math.isfinite(audit.target_std)):
        return None
    return audit.target_mean - audit.target_std, audit.target_mean + audit.target_std


def classification_fit(setup: ResolvedSetup) -> str:
    """The output and loss that fit the set-up's classification task, for evidence."""
    if setup.task == "binary":
        return "a binary task fits binary_crossentropy on 1 sigmoid unit"
    k = setup.n_classes
    return f"a {k}-class task fits sparse_categorical_crossentropy on {k} softmax units"


def preflight_cause(case: Case, name: str) -> Finding | None:
    """A mismatch ``check_setup`` found, boosted by the sick symptoms (a healthy run has no
    cause, whatever its set-up; ``check_setup`` still reports it before training): whatever the curves
    show (a stall, instability, or a val_loss that explodes on clipped probabilities and
    reads as overfitting), a set-up that cannot fit the task explains it first."""
    found = case.preflight.get(name)
    if found is None or not case.symptoms:
        return None
    return make_cause(name, found.confidence + SICK_BOOST, found.evidence)
