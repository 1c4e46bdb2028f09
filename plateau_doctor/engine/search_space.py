"""The remedy space of the guided search, narrowed by the diagnosis: pure, no Optuna.

The search is the fallback (:func:`search_wanted`): when no cause a rule treats explains
the stall, or the rounds stop short of the attainable level. :func:`search_space` is the
usual space around the patient, narrowed by the causes found in it: each cause's
``search_prior`` lists its narrowings (``causes.priors.Narrowing``: a learning rate called
too high caps the rates tried, unscaled features fix scaling on, dead ReLUs drop ``relu``,
...), applied here in one fixed order, each once. :func:`parameters` describes the space
as plain distributions, :func:`sample` draws a point from anything with Optuna's
``suggest_*`` methods, and :func:`overrides_from_params` / :func:`params_from_config` map
between points and config overrides. ``run.search`` runs the trials with Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from plateau_doctor.config import DoctorConfig
from plateau_doctor.engine.causes.catalog import REGISTRY
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.verdict import gap_to_level, level_reached, main_metric
from plateau_doctor.engine.vocabulary import DEAD_AT_ZERO, PLAIN_GRADIENT_OPTIMIZERS, SATURATING, in_family
from plateau_doctor.schema import DataAudit, Finding

MIN_TRIAL_EPOCHS = 5
"""The pruner's first rung, and the fewest epochs a trial is started with."""
LEARNING_RATES = (1e-4, 1e-1)
OPTIMIZERS = ("adam", "nadam", "rmsprop", "sgd")
"""The optimizers a trial may use (``vocabulary`` tells their families)."""
BATCH_SIZES = (16, 32, 64, 128, 256)
WIDTHS = (16, 32, 64, 128, 256)
DEPTHS = (1, 2, 3)
ACTIVATIONS = ("relu", "elu", "gelu", "tanh")
L2_VALUES = (0.0, 1e-5, 1e-4, 1e-3)
MAX_DROPOUT = 0.5
DROPOUT_STEP = 0.05
FAN_SCALED = "glorot_uniform"
"""The initializer a trial may switch to: fan-scaled, and Keras' default."""


@dataclass(frozen=True)
class SearchSpace:
    """The remedy space, narrowed by the evidence. A one-value tuple is a fixed setting."""

    learning_rate: tuple[float, float]
    optimizer: tuple[str, ...]
    batch_size: tuple[int, ...]
    epochs: tuple[int, ...]
    width: tuple[int, ...]
    depth: tuple[int, ...]
    activation: tuple[str, ...]
    head: tuple[str, ...]  # "keep" the patient's output activation and loss, or "auto" (by task)
    initializer: tuple[str, ...]  # "keep" or "glorot_uniform"
    scale_features: tuple[bool, ...]
    scale_target: tuple[bool, ...]
    class_weight: tuple[str, ...]
    dropout: tuple[float, float]
    l2: tuple[float, ...]
    model_free: bool = True  # False for a saved model or a user builder: the network is kept
    notes: tuple[str, ...] = ()  # how the evidence narrowed the priors, for the report


def search_wanted(
    config: DoctorConfig,
    audit: DataAudit,
    causes: list[Finding],
    best_metrics: dict[str, float],
    budget_left: int,
    stop_reason: str,
) -> str | None:
    """Why the search runs now, or None: it is the fallback, never the default.

    It aims at the attainable level: a model that the status may call ``repaired`` by the
    contract's other path (healthy, at the linear reference) is still short of it.
    """
    if config.remedies.search_trials == 0:
        return None
    if Narrowing.NO_SEARCH in narrowings(causes):
        return None  # nothing to reach: e.g. the reference models cannot beat the trivial predictor either
    task = audit.task
    if level_reached(task, best_metrics, audit.reference_metrics, config.remedies.tolerance):
        return None
    if budget_left < MIN_TRIAL_EPOCHS:
        return None
    gap = gap_to_level(task, best_metrics, audit.reference_metrics)
    gap_text = f"{gap:.4f} below" if math.isfinite(gap) else "short of"
    return f"{stop_reason or 'the rules ran out'}; the best model so far is {gap_text} the attainable {main_metric(task)}"


def narrowings(causes: Iterable[Finding]) -> frozenset[Narrowing]:
    """The narrowings the causes' search priors ask for; names outside the registry add none."""
    return frozenset(n for cause in causes if cause.name in REGISTRY for n in REGISTRY[cause.name].search_prior)


def search_space(config: DoctorConfig, audit: DataAudit, causes: list[Finding], epochs_cap: int) -> SearchSpace:
    """The usual space around ``config`` (the patient), narrowed by the causes found in it."""
    wanted = narrowings(causes)
    notes: list[str] = []
    steps = _step_settings(config, audit, wanted, epochs_cap, notes)
    network = _network_settings(config, audit, wanted, notes)
    return SearchSpace(**steps, **network, notes=tuple(notes))


def _step_settings(
    config: DoctorConfig, audit: DataAudit, wanted: frozenset[Narrowing], epochs_cap: int, notes: list[str]
) -> dict[str, Any]:
    """How the trials step: learning rate, optimizer, batch size, epochs."""
    rate = config.training.learning_rate
    low, high = LEARNING_RATES
    if Narrowing.LOWER_RATES in wanted:
        high = max(low * 10, min(high, rate / 3))
        notes.append(f"learning rate below {high:.3g} (too high at {rate:g})")
    if Narrowing.HIGHER_RATES in wanted:
        low = min(high / 10, max(low, rate * 3))
        notes.append(f"learning rate above {low:.3g} (too low at {rate:g})")
    optimizers = OPTIMIZERS
    if Narrowing.OTHER_OPTIMIZERS in wanted:
        dropped = (*PLAIN_GRADIENT_OPTIMIZERS, config.training.optimizer)
        optimizers = tuple(o for o in OPTIMIZERS if not in_family(o, dropped))
        notes.append(f"optimizers {', '.join(optimizers)} ({config.training.optimizer} made no progress)")
    batches = tuple(b for b in BATCH_SIZES if b <= max(BATCH_SIZES[0], audit.n_train // 4))
    if Narrowing.SMALLER_BATCHES in wanted:
        batches = tuple(b for b in batches if b <= max(BATCH_SIZES[0], config.training.batch_size // 4)) or batches[:1]
        notes.append(f"batch sizes up to {batches[-1]} (too few updates per epoch)")
    base_epochs = config.training.epochs
    epochs = (base_epochs, 2 * base_epochs)
    if Narrowing.MORE_EPOCHS in wanted:
        epochs = (2 * base_epochs, 3 * base_epochs)
        notes.append("at least twice the epochs (the loss was still falling)")
    return {
        "learning_rate": (low, high),
        "optimizer": optimizers,
        "batch_size": batches or BATCH_SIZES[:1],
        "epochs": tuple(sorted({max(MIN_TRIAL_EPOCHS, min(e, epochs_cap)) for e in epochs})),
    }


def _network_settings(
    config: DoctorConfig, audit: DataAudit, wanted: frozenset[Narrowing], notes: list[str]
) -> dict[str, Any]:
    """What the trials train: the network, its head and initializer, scaling, class weights,
    regularization. A saved model or a user's builder keeps its network."""
    units = list(config.model.hidden_units)
    widths, depths = WIDTHS, DEPTHS
    if Narrowing.LARGER_NETWORK in wanted:
        widths = tuple(w for w in WIDTHS if w >= 2 * max(units, default=8)) or WIDTHS[-1:]
        depths = tuple(d for d in DEPTHS if d >= max(1, len(units))) or DEPTHS[-1:]
        notes.append(f"widths {widths[0]}+ and depth {depths[0]}+ (insufficient capacity)")
    activations = ACTIVATIONS
    if Narrowing.NO_DYING_ACTIVATION in wanted:
        activations = tuple(a for a in activations if not in_family(a, DEAD_AT_ZERO))
        notes.append("no relu (dead units)")
    if Narrowing.NO_SATURATING_ACTIVATION in wanted:
        activations = tuple(a for a in activations if not in_family(a, SATURATING))
        notes.append("no saturating activation (vanishing gradients)")
    head_is_auto = config.model.output_activation == "auto" and config.training.loss == "auto"
    heads = ("auto",) if head_is_auto or Narrowing.TASK_HEAD in wanted else ("auto", "keep")
    initializers = ("keep",) if str(config.model.kernel_initializer) == FAN_SCALED else (FAN_SCALED, "keep")
    if Narrowing.FAN_SCALED_INIT in wanted:
        initializers = (FAN_SCALED,)
    dropout, l2 = (0.0, MAX_DROPOUT), L2_VALUES
    if Narrowing.MORE_REGULARIZATION in wanted:
        dropout, l2 = (0.1, MAX_DROPOUT), tuple(v for v in L2_VALUES if v > 0)
        notes.append("some dropout and L2 (overfitting)")
    if Narrowing.LESS_REGULARIZATION in wanted:
        dropout = (0.0, _snap_step(min(MAX_DROPOUT, config.model.dropout / 2)))
        l2 = tuple(v for v in L2_VALUES if v < config.model.l2) or (0.0,)
        notes.append("weaker dropout and L2 (regularization too strong)")
    model_free = config.model.path is None and config.model.builder is None
    if not model_free:
        widths, depths = (max(units, default=0),), (len(units),)
        activations, heads, initializers, dropout, l2 = ("keep",), ("keep",), ("keep",), (0.0, 0.0), (0.0,)
    classification = audit.task != "regression"
    return {
        "width": widths,
        "depth": depths,
        "activation": activations or ("relu",),
        "head": heads,
        "initializer": initializers,
        "scale_features": (True,) if Narrowing.SCALED_FEATURES in wanted or config.preprocessing.scale_features
        else (True, False),
        "scale_target": (False,) if classification
        else ((True,) if Narrowing.SCALED_TARGET in wanted else (True, False)),
        "class_weight": ("none",) if not classification
        else (("balanced",) if Narrowing.BALANCED_CLASSES in wanted else ("none", "balanced")),
        "dropout": dropout,
        "l2": l2,
        "model_free": model_free,
    }


def _snap_step(value: float) -> float:
    return round(math.floor(value / DROPOUT_STEP) * DROPOUT_STEP, 10)


@dataclass(frozen=True)
class Choice:
    """A categorical parameter (Optuna's ``CategoricalDistribution``)."""

    choices: tuple[Any, ...]


@dataclass(frozen=True)
class FloatRange:
    """A float parameter between ``low`` and ``high`` (Optuna's ``FloatDistribution``)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


def parameters(space: SearchSpace) -> dict[str, Choice | FloatRange]:
    """The space as one plain distribution per trial parameter."""
    params: dict[str, Choice | FloatRange] = {"learning_rate": FloatRange(*space.learning_rate, log=True)}
    for name in ("optimizer", "batch_size", "epochs", "width", "depth", "activation", "head", "initializer",
                 "scale_features", "scale_target", "class_weight", "l2"):
        params[name] = Choice(tuple(getattr(space, name)))
    low, high = space.dropout
    params["dropout"] = FloatRange(low, high, step=DROPOUT_STEP) if high > low else Choice((low,))
    return params


def sample(trial, space: SearchSpace) -> dict[str, Any]:
    """One point of the space from an Optuna trial (or anything with its ``suggest_*`` methods)."""
    params = {}
    for name, dist in parameters(space).items():
        if isinstance(dist, Choice):
            params[name] = trial.suggest_categorical(name, dist.choices)
        else:
            params[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return params


def overrides_from_params(params: dict[str, Any], space: SearchSpace, patient: DoctorConfig) -> dict[str, Any]:
    """The config overrides (relative to the patient) that a point of the space stands for."""
    overrides: dict[str, Any] = {
        "training.learning_rate": float(f"{params['learning_rate']:.3g}"),
        "training.optimizer": params["optimizer"],
        "training.batch_size": int(params["batch_size"]),
        "training.epochs": int(params["epochs"]),
        "preprocessing.scale_features": bool(params["scale_features"]),
        "preprocessing.class_weight": params["class_weight"],
    }
    if patient.preprocessing.scale_target or params["scale_target"]:
        overrides["preprocessing.scale_target"] = bool(params["scale_target"])
    if space.model_free:
        width, depth = int(params["width"]), int(params["depth"])
        overrides["model.hidden_units"] = [max(4, width // 2**i) for i in range(depth)]
        overrides["model.activation"] = params["activation"]
        overrides["model.dropout"] = float(params["dropout"])
        overrides["model.l2"] = float(params["l2"])
        if params["head"] == "auto":
            overrides["model.output_activation"] = "auto"
            overrides["training.loss"] = "auto"
        if params["initializer"] != "keep":
            overrides["model.kernel_initializer"] = params["initializer"]
    return overrides


def params_from_config(config: DoctorConfig, patient: DoctorConfig, space: SearchSpace) -> dict[str, Any]:
    """The point of the space nearest to ``config`` (a candidate or a branch already trained)."""
    units = list(config.model.hidden_units)
    same_head = (config.model.output_activation, config.training.loss) == (
        patient.model.output_activation, patient.training.loss)
    raw = {
        "learning_rate": config.training.learning_rate,
        "optimizer": config.training.optimizer,
        "batch_size": config.training.batch_size,
        "epochs": config.training.epochs,
        "width": max(units, default=space.width[0]),
        "depth": len(units) or 1,
        "activation": config.model.activation if space.model_free else "keep",
        "head": "keep" if same_head and "keep" in space.head else "auto",
        "initializer": "keep" if config.model.kernel_initializer == patient.model.kernel_initializer else FAN_SCALED,
        "scale_features": config.preprocessing.scale_features,
        "scale_target": config.preprocessing.scale_target,
        "class_weight": config.preprocessing.class_weight,
        "dropout": config.model.dropout,
        "l2": config.model.l2,
    }
    return {name: _snap(raw[name], dist) for name, dist in parameters(space).items()}


def _snap(value: Any, dist: Choice | FloatRange) -> Any:
    if isinstance(dist, Choice):
        if value in dist.choices:
            return value
        numbers = [c for c in dist.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            return min(numbers, key=lambda c: (abs(math.log1p(abs(c)) - math.log1p(abs(value))), c))
        return dist.choices[0]
    value = min(max(float(value), dist.low), dist.high)
    if dist.step:
        value = dist.low + round((value - dist.low) / dist.step) * dist.step
        value = round(min(value, dist.high), 10)
    return value
