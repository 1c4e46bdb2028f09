"""The Keras names the doctor reads, each written once: losses, activations, initializers and
optimizers, with what it knows about each family. Pure: no Keras.

Keras accepts one name in several spellings (``"mse"``, ``"MeanSquaredError"``,
``"mean_squared_error"``; ``"LeakyReLU"``, ``"leaky_relu"``). Two helpers put a name in
one spelling: :func:`canonical_loss` and :func:`canonical_activation` give Keras' own
snake_case identifier (what evidence quotes), and :func:`name_key` drops case, underscores
and spaces, which is how membership in a family is tested (:func:`in_family`), so that
every spelling of a name belongs to the same families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# --------------------------------------------------------------------------- spelling


def name_key(name: object) -> str:
    """A name without case, underscores or spaces: ``"Leaky_ReLU"`` -> ``"leakyrelu"``."""
    return str(name).strip().lower().replace("_", "").replace(" ", "")


def in_family(name: object, family: Iterable[str]) -> bool:
    """Whether ``name``, in any spelling, is one of ``family``."""
    return name_key(name) in {name_key(member) for member in family}


# --------------------------------------------------------------------------- losses

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


def canonical_loss(name: str) -> str:
    """A Keras loss identifier in one spelling: ``"mse"``, ``"MeanSquaredError"`` -> ``"mean_squared_error"``."""
    return _LOSS_ALIASES.get(name_key(name), name.strip().lower())


BINARY_PROBABILITY_LOSSES: tuple[str, ...] = ("binary_crossentropy", "binary_focal_crossentropy")
"""Losses that read one output as the probability of the positive class."""

MULTICLASS_PROBABILITY_LOSSES: tuple[str, ...] = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_focal_crossentropy",
)
"""Losses that read the outputs as a distribution over the classes."""

SPARSE_LOSSES: tuple[str, ...] = ("sparse_categorical_crossentropy", "sparse_categorical_focal_crossentropy")
"""Losses that take integer class codes; the other multiclass losses take one-hot labels."""

BINARY_HINGE_LOSSES: tuple[str, ...] = ("hinge", "squared_hinge")
MULTICLASS_HINGE_LOSSES: tuple[str, ...] = ("categorical_hinge",)
HINGE_LOSSES: tuple[str, ...] = BINARY_HINGE_LOSSES + MULTICLASS_HINGE_LOSSES
"""Margin losses: classification losses that do not score probabilities."""

BINARY_LOSSES: frozenset[str] = frozenset(BINARY_PROBABILITY_LOSSES + BINARY_HINGE_LOSSES)
"""Losses that make a task binary, whatever the output."""

MULTICLASS_LOSSES: frozenset[str] = frozenset(MULTICLASS_PROBABILITY_LOSSES + SPARSE_LOSSES + MULTICLASS_HINGE_LOSSES)
"""Losses of a classification over classes: multiclass on several output units, binary on one."""

REGRESSION_LOSSES: tuple[str, ...] = (
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
)
"""Losses that compare one number with another."""

DISTRIBUTION_LOSSES: tuple[str, ...] = ("kl_divergence", "cosine_similarity")
"""Losses between whole vectors (two distributions, two directions): not for one number, nor
for an integer class label."""

DEFAULT_LOSS: dict[str, str] = {
    "binary": "binary_crossentropy",
    "multiclass": "sparse_categorical_crossentropy",
    "regression": "mean_squared_error",
}
"""The loss ``auto`` resolves to, per task."""

AUDIT_SCALE_LOSSES: dict[str, tuple[str, ...]] = {
    "binary": ("binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy"),
    "multiclass": ("sparse_categorical_crossentropy", "categorical_crossentropy"),
    "regression": ("mean_squared_error",),
}
"""Losses in the scale of the audit's trivial and reference losses (mean cross-entropy in
nats for classification, MSE for regression), per task."""

# --------------------------------------------------------------------------- activations

_ACTIVATION_ALIASES: dict[str, str] = {
    "": "linear",
    "none": "linear",
    "hardsigmoid": "hard_sigmoid",
    "hardtanh": "hard_tanh",
    "leakyrelu": "leaky_relu",
}


def canonical_activation(name: str | None) -> str:
    """A Keras activation identifier in one spelling; ``None`` and ``""`` are ``"linear"``."""
    key = (name or "").strip().lower()
    return _ACTIVATION_ALIASES.get(key.replace("_", ""), key)


RELU_FAMILY: tuple[str, ...] = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "relu6", "mish")
"""Activations that pass a positive input on unchanged (or nearly): their gradient does not
shrink layer by layer, and He initialization suits them."""

SATURATING: tuple[str, ...] = ("sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh")
"""Bounded activations whose gradient fades toward their bounds: deep stacks of them make the
gradient vanish, and Glorot initialization suits them."""

DEAD_AT_ZERO: frozenset[str] = frozenset({"relu", "relu6"})
"""Activations that output exactly 0 for every negative input: a unit whose input stays
negative has no gradient and is dead (leaky_relu, elu and gelu never are)."""

OUTPUT_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
    "relu6": (0.0, 6.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
    "exponential": (0.0, math.inf),
}
"""What a bounded activation can produce. A regression output must cover the target."""

SATURATION_BOUNDS: dict[str, tuple[float, float]] = {
    name: OUTPUT_RANGES[name] for name in ("sigmoid", "hard_sigmoid", "tanh")
}
"""The activations whose saturation the recorder measures (units within 1% of a bound)."""

PROBABILITY_OUTPUTS: tuple[str, ...] = ("sigmoid", "hard_sigmoid", "softmax")
"""Output activations whose values read as class probabilities."""

# --------------------------------------------------------------------------- initializers

CONSTANT_INITIALIZERS: tuple[str, ...] = ("zeros", "zero", "ones", "one", "constant")
"""Initializers that give every unit of a layer the same weights."""

VARIANCE_PRESERVING: tuple[str, ...] = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal",
    "variance_scaling", "loaded",
)
"""Initializers scaled to the layer's fan-in/fan-out, so that each
layer passes the signal and its gradient on with a gain near 1 (Glorot 2010, He 2015).
``loaded`` (a saved model's weights) is not judged: its initializer is unknown."""

UNKNOWN_INITIALIZERS: tuple[str, ...] = ("unknown", "the model's own")
"""What the curves-only doctor and the Keras callback know of the initializer: nothing."""


def fan_scaled_initializer(activation: str) -> str:
    """The fan-scaled initializer that suits ``activation``: He for the ReLU family, else Glorot."""
    return "he_uniform" if in_family(activation, RELU_FAMILY) else "glorot_uniform"


# --------------------------------------------------------------------------- optimizers

ADAPTIVE_OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "nadam", "adamax", "rmsprop", "lion", "adafactor", "lamb")
"""Optimizers that scale each step by the gradient's running magnitude: their step is about
the learning rate itself, so their usable range is lower than plain SGD's."""

PLAIN_GRADIENT_OPTIMIZERS: tuple[str, ...] = ("sgd", "gradientdescent")
"""Optimizers whose step is the learning rate times the gradient: the step grows with the
curvature of the loss, so the scale of the inputs and of the target decides whether it is
stable. Keras' ``"sgd"`` identifier has no momentum."""
