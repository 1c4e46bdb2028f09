"""Turn the diagnosed causes into remedy branches with concrete config changes. Pure.

Each remedy branch of ``schema.REMEDIES`` but ``search`` (the guided fallback the pipeline
runs, :data:`RULE_FREE_REMEDIES`) has one planner, all with the same signature (as fastai's
learning-rate suggestion rules): ``(causes, symptoms, config, setup, audit) -> RemedyPlan |
None``. A planner reads every cause and treats those of its branch (:data:`CAUSE_REMEDIES`,
read from each cause's registration in ``plateau_doctor.engine.causes``), so several causes of
one branch merge into one plan; where they disagree on a field, the more confident cause
wins.

:func:`plan_remedies` runs the enabled planners, drops plans that would change nothing,
ranks the rest by the confidence of their best cause, adds one combined branch for the
top two, and shares the epoch budget out. :func:`apply_plan` turns a plan into the
config its branch trains with.

Values are read from ``ResolvedSetup`` (what was actually built) rather than the config,
so that a saved model is repaired from what it is. Changing the network of a saved model
means rebuilding it: such plans set ``model.path`` to null and copy the saved model's
widths and activations into the config, so the rebuilt net differs only by the fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from plateau_doctor import schema
from plateau_doctor.engine.causes import cause_remedies
from plateau_doctor.engine.causes.readings import VARIANCE_PRESERVING
from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.engine.vocabulary import canonical_activation

Planner = Callable[
    [list[schema.Finding], list[schema.Finding], DoctorConfig, schema.ResolvedSetup, schema.DataAudit],
    "RemedyPlan | None",
]

CAUSE_REMEDIES: dict[str, tuple[str, ...]] = cause_remedies()
"""Which branches treat each cause, read from the cause registry (``plateau_doctor.engine.causes``).
``no_learnable_signal`` has none: when the data carry no signal, no network change can
help, and the pipeline reports that instead."""

RULE_FREE_REMEDIES: tuple[str, ...] = ("search",)
"""Remedies of ``schema.REMEDIES`` without a rule-based planner: ``search`` is the guided
fallback the pipeline runs when the rules run out, not a plan read from the causes."""

MIN_BRANCH_EPOCHS = 10
"""Fewest epochs worth training a branch for: fewer cannot show whether a fix works."""

CLIPNORM = 1.0
EARLY_STOPPING_MIN_PATIENCE = 5
LR_DOWN_FACTOR = 10.0
LR_UP_FACTOR_SLOW = 10.0
LR_UP_FACTOR_STUCK = 30.0
MAX_FALLBACK_LR = 1.0
SHRINK_L2 = 1e-4
SHRINK_DROPOUT = 0.2
MIN_GROWN_WIDTHS = (64, 32)
LIGHT_DROPOUT = 0.1
LIGHT_L2 = 1e-4
"""What too strong regularization is lowered to: dropout 0.1 and L2 1e-4 still regularize
a little, and are far below where they stop the net from fitting its training split."""
USUAL_OPTIMIZER = ("adam", 0.001)
"""Adam at Keras' default rate: it scales each weight's step by its own gradient's running
magnitude, so flat and steep directions progress alike."""
STEPS_PER_EPOCH = 16
"""The optimizer branch picks a batch that gives at least 16 updates per epoch..."""
MAX_SMALL_BATCH = 32
"""...and at most Keras' default of 32 rows."""
MORE_EPOCHS_FACTOR = 3
"""A run cut short trains for 3x its epochs (the budget still caps it)."""

RELU_FAMILY = frozenset({"relu", "leakyrelu", "elu", "selu", "gelu", "silu", "swish", "relu6", "mish"})
SATURATING = frozenset({"sigmoid", "tanh", "hardsigmoid", "hardtanh", "softsign"})

_SAVED_MODEL_FIELDS = ("hidden_units", "activation", "output_activation", "kernel_initializer")


@dataclass
class RemedyPlan:
    """One branch to train: the config changes, and why.

    ``overrides`` maps dotted config keys to values (``{"training.learning_rate": 1e-4}``).
    With ``lr_range_test`` the executor first runs a learning-rate range test and replaces
    ``training.learning_rate`` by its suggestion; the override stays as the fallback for
    when the test cannot run. ``confidence`` is that of the plan's best cause; it ranks
    the plans.
    """

    remedy: str
    overrides: dict[str, Any]
    reason: str
    causes: list[str]
    lr_range_test: bool = False
    confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_plan(config: DoctorConfig, plan: RemedyPlan) -> DoctorConfig:
    """A new, validated config with the plan's overrides set; ``config`` is left as it is.

    Going through plain data and :func:`config.with_overrides` means a plan can never produce a
    config that the CLI would have refused: a bad override raises ``ConfigError`` naming
    the field and the branch.
    """
    overrides = {key: _plain(value) for key, value in plan.overrides.items()}
    return with_overrides(config, overrides, source=f"remedy {plan.remedy!r}")


def plan_remedies(
    causes: Sequence[schema.Finding],
    symptoms: Sequence[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
    history: Mapping[str, Sequence[float]] | None = None,
) -> list[RemedyPlan]:
    """The branches worth training, best first, within ``config.remedies.budget_epochs``.

    Findings are filtered by kind, so the diagnosis' whole list may be passed as both
    ``causes`` and ``symptoms``. A healthy run (no cause, or symptoms that are only
    ``converged``) gets no plan. Only branches in ``config.remedies.enabled`` are planned,
    and a plan that would change nothing the baseline ran with is dropped.

    Single branches come first, ordered by the confidence of their best cause (ties in
    ``schema.REMEDIES`` order). When two or more are planned, one combined branch applying
    the top two follows them, named by joining its parts with ``+`` in ``schema.REMEDIES``
    order. It comes last because it only pays off once the single fixes are known to help,
    so a tight budget drops it first.

    ``history`` (column -> values per epoch, e.g. Keras' ``History.history`` or a
    DataFrame) is optional: a non-finite training loss in it counts as the ``diverged``
    symptom even when the diagnosis did not list it, so the learning-rate branch clips.
    """
    found = _ranked_causes(causes)
    seen = _of_kind(symptoms, "symptom")
    if not found or (seen and all(finding.name == "converged" for finding in seen)):
        return []
    seen.extend(_history_symptoms(history, seen))

    current = _current_values(config, setup)
    plans: list[RemedyPlan] = []
    for remedy in schema.REMEDIES:
        if remedy not in config.remedies.enabled or remedy not in PLANNERS:
            continue
        plan = PLANNERS[remedy](found, seen, config, setup, audit)
        if plan is None:
            continue
        plan.overrides = {key: value for key, value in plan.overrides.items() if current.get(key) != value}
        if plan.overrides or plan.lr_range_test:
            plans.append(plan)
    plans.sort(key=lambda plan: (-plan.confidence, schema.REMEDIES.index(plan.remedy)))
    if len(plans) >= 2:
        plans.append(_combine(plans[0], plans[1]))
    if setup.from_saved_model:
        for plan in plans:
            _rebuild_saved_model(plan, setup)
    return _fit_budget(plans, config)


def _plan_learning_rate(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Lower, raise or clip the step; a range test picks the rate when one is off.

    The overrides hold a fallback rate one decade (or 30x for a stuck run) away, so the
    branch still tests the right direction when no range test runs. ReduceLROnPlateau
    lets a bold rate settle later.
    """
    treated = _treated(causes, "learning_rate")
    if not treated:
        return None
    names = {finding.name for finding in causes}
    symptom_names = {finding.name for finding in symptoms}
    rate = setup.learning_rate
    clip = CLIPNORM if config.training.clipnorm is None else min(CLIPNORM, config.training.clipnorm / 2)
    contributions = []
    for finding in treated:
        if finding.name == "learning_rate_too_high":
            lower = _round(rate / LR_DOWN_FACTOR)
            overrides: dict[str, Any] = {"training.learning_rate": lower, "training.reduce_lr_on_plateau": True}
            note = f"lower the learning rate {rate:g} -> {lower:g}"
            if symptom_names & {"diverged"} or "exploding_gradients" in names:
                overrides["training.clipnorm"] = clip
                note += f" and clip gradients at norm {clip:g}"
        elif finding.name == "learning_rate_too_low":
            stuck = bool(symptom_names & {"stuck_at_trivial", "plateau"})
            factor = LR_UP_FACTOR_STUCK if stuck else LR_UP_FACTOR_SLOW
            higher = _round(min(rate * factor, MAX_FALLBACK_LR))
            overrides = {"training.learning_rate": higher, "training.reduce_lr_on_plateau": True}
            note = f"raise the learning rate {rate:g} -> {higher:g}"
        else:
            overrides = {"training.clipnorm": clip, "training.reduce_lr_on_plateau": True}
            note = f"clip gradients at norm {clip:g}"
        contributions.append((finding, overrides, note))
    range_test = bool(names & {"learning_rate_too_high", "learning_rate_too_low"})
    plan = _merge("learning_rate", contributions, lr_range_test=range_test)
    if range_test:
        plan.reason += "; a learning-rate range test picks the rate, the one above is the fallback"
    return plan


def _plan_preprocessing(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Scale what is unscaled; reweight, or failing that oversample, a rare class.

    Class weights come first because they keep the data as they are; oversampling is the
    next step when weights are already on. Either replaces the other, since both together
    would over-correct toward the minority.
    """
    classification = setup.task in ("binary", "multiclass")
    contributions = []
    for finding in _treated(causes, "preprocessing"):
        if finding.name == "unscaled_features":
            contributions.append((finding, {"preprocessing.scale_features": True}, "standardize the features"))
        elif finding.name == "unscaled_target" and setup.task == "regression":
            contributions.append((finding, {"preprocessing.scale_target": True}, "standardize the target"))
        elif finding.name == "class_imbalance" and classification:
            if config.preprocessing.class_weight == "balanced" and config.preprocessing.resample != "oversample":
                overrides = {"preprocessing.class_weight": "none", "preprocessing.resample": "oversample"}
                note = "oversample the minority classes instead of weighting them"
            else:
                overrides = {"preprocessing.class_weight": "balanced", "preprocessing.resample": "none"}
                note = "weight the classes by inverse frequency"
            contributions.append((finding, overrides, note))
    return _merge("preprocessing", contributions) if contributions else None


def _plan_capacity(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Grow a net that cannot fit, lower regularization that holds one back, shrink and
    regularize one that overfits.

    Growing also removes dropout and L2, which may be what holds the net back; the causes
    point opposite ways, so when several are found the more confident one decides.
    """
    units = list(setup.hidden_units)
    contributions = []
    for finding in _treated(causes, "capacity"):
        if finding.name == "insufficient_capacity":
            if units and canonical_activation(setup.hidden_activation) == "linear":
                # Linear layers compose into one linear map: growing them adds nothing, a nonlinearity does.
                overrides: dict[str, Any] = {"model.activation": "relu", "model.dropout": 0.0, "model.l2": 0.0}
                note = f"give the hidden layers {units} a nonlinearity: activation linear -> relu, without dropout or L2"
            else:
                grown = _grow(units)
                overrides = {"model.hidden_units": grown, "model.dropout": 0.0, "model.l2": 0.0}
                note = f"widen/deepen the hidden layers {units} -> {grown} without dropout or L2"
        elif finding.name == "too_strong_regularization":
            dropout = min(config.model.dropout, LIGHT_DROPOUT)
            l2 = min(config.model.l2, LIGHT_L2)
            overrides = {"model.dropout": dropout, "model.l2": l2}
            note = (
                f"lower dropout {config.model.dropout:g} -> {dropout:g} and L2 {config.model.l2:g} -> {l2:g}"
                " so the network can fit its training split"
            )
        else:
            shrunk = [min(width, max(4, width // 2)) for width in units]
            l2 = SHRINK_L2 if config.model.l2 < SHRINK_L2 else _round(config.model.l2 * 10)
            dropout = SHRINK_DROPOUT if config.model.dropout < SHRINK_DROPOUT else min(0.5, config.model.dropout + 0.1)
            overrides = {"model.hidden_units": shrunk, "model.l2": l2, "model.dropout": _round(dropout)}
            note = f"shrink the hidden layers {units} -> {shrunk} with L2 {l2:g} and dropout {dropout:g}"
        contributions.append((finding, overrides, note))
    return _merge("capacity", contributions) if contributions else None


def _plan_early_stopping(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Stop an overfitting run at its best validation loss and keep those weights.

    Patience follows the detection's own patience (at least 5 epochs, so that noise does
    not stop the run); a patience the user already set lower is kept.
    """
    treated = _treated(causes, "early_stopping")
    if not treated:
        return None
    patience = max(EARLY_STOPPING_MIN_PATIENCE, config.detection.patience)
    if config.training.early_stopping_patience is not None:
        patience = min(patience, config.training.early_stopping_patience)
    contributions = [
        (
            finding,
            {"training.early_stopping_patience": patience},
            f"stop after {patience} epochs without val_loss progress and restore the best weights",
        )
        for finding in treated
    ]
    return _merge("early_stopping", contributions)


def _plan_architecture(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Fix the output/loss pair, the hidden activation, the initializer, normalization.

    ``auto`` output activation and loss let the builder pick the pair that matches the
    task. The initializer is chosen for the activation the branch ends up with, so a
    ReLU-family net gets He initialization and a saturating one Glorot.
    """
    treated = _treated(causes, "architecture")
    if not treated:
        return None
    names = {finding.name for finding in causes}
    contributions = []
    for finding in treated:
        if finding.name in ("output_activation_mismatch", "loss_mismatch"):
            overrides: dict[str, Any] = {"model.output_activation": "auto", "training.loss": "auto"}
            note = f"match the output activation and loss to the {setup.task} task"
        elif finding.name == "dead_relu":
            overrides = {"model.activation": "leaky_relu", "model.kernel_initializer": "he_uniform"}
            note = "use leaky_relu with he_uniform initialization so units cannot die"
        elif finding.name == "vanishing_gradients":
            if _family(setup.hidden_activation) not in RELU_FAMILY:
                # The saturating activation is what shrinks the gradient: replacing it is the
                # fix. Batch normalization on top changes more than needed, and measured on
                # an 8-layer sigmoid net (480 rows) relu+He+BN generalized far worse (0.73
                # balanced accuracy) than relu+He (0.93).
                replacement = "leaky_relu" if "dead_relu" in names else "relu"
                overrides = {"model.activation": replacement, "model.kernel_initializer": "he_uniform"}
                note = f"replace {setup.hidden_activation} by {replacement} with he_uniform initialization"
            else:
                overrides = {"model.kernel_initializer": "he_uniform", "model.batch_norm": True}
                note = "use he_uniform initialization with batch normalization"
        elif finding.name == "bad_initialization":
            overrides = {"model.kernel_initializer": "he_uniform"}
            note = "re-initialize the weights"
        elif finding.name == "exploding_gradients" and len(setup.hidden_units) >= 2:
            if _family(setup.kernel_initializer) not in VARIANCE_PRESERVING:
                # Weights of a fixed scale (RandomNormal, ones, ...) give every layer a gain of
                # its own; a fan-scaled initializer is the textbook fix for the growth itself.
                activation = setup.hidden_activation
                initializer = "he_uniform" if _family(activation) in RELU_FAMILY else "glorot_uniform"
                overrides = {"model.kernel_initializer": initializer}
                note = (
                    f"re-initialize with {initializer}, scaled to each layer's width so the gradient keeps its size"
                    f" through the {len(setup.hidden_units)} {activation} layers ({setup.kernel_initializer} is not)"
                )
            else:
                overrides = {"model.batch_norm": True}
                note = "normalize each hidden layer's inputs"
        else:
            continue
        contributions.append((finding, overrides, note))
    if not contributions:
        return None
    plan = _merge("architecture", contributions)
    if any(finding.name == "bad_initialization" for finding, _, _ in contributions):
        activation = plan.overrides.get("model.activation", setup.hidden_activation)
        initializer = "he_uniform" if _family(activation) in RELU_FAMILY else "glorot_uniform"
        plan.overrides["model.kernel_initializer"] = initializer
        plan.reason += f" (initializer {initializer} for {activation})"
    return plan


def _plan_optimizer(
    causes: list[schema.Finding],
    symptoms: list[schema.Finding],
    config: DoctorConfig,
    setup: schema.ResolvedSetup,
    audit: schema.DataAudit,
) -> RemedyPlan | None:
    """Change how the optimizer spends the run: Adam at its usual rate instead of an optimizer
    that makes no progress, a smaller batch for more updates per epoch, more epochs for a
    run cut short (``_fit_budget`` keeps them within the budget)."""
    contributions = []
    for finding in _treated(causes, "optimizer"):
        if finding.name == "optimizer_choice":
            name, rate = USUAL_OPTIMIZER
            overrides: dict[str, Any] = {"training.optimizer": name, "training.learning_rate": rate}
            note = f"use {name} at learning rate {rate:g} instead of {setup.optimizer} at {setup.learning_rate:g}"
        elif finding.name == "too_few_updates":
            batch = _small_batch(audit.n_train, setup.batch_size)
            if batch >= setup.batch_size:
                continue
            overrides = {"training.batch_size": batch}
            note = f"batch size {setup.batch_size} -> {batch} for at least {STEPS_PER_EPOCH} updates per epoch"
        elif finding.name == "too_few_epochs":
            ran = setup.epochs or config.training.epochs
            more = ran * MORE_EPOCHS_FACTOR
            overrides = {"training.epochs": more}
            note = f"train {ran} -> {more} epochs (within the budget): the loss was still falling"
        else:
            continue
        contributions.append((finding, overrides, note))
    return _merge("optimizer", contributions) if contributions else None


def _small_batch(n_train: int, batch_size: int) -> int:
    """The largest power of two up to ``MAX_SMALL_BATCH`` that gives ``STEPS_PER_EPOCH`` updates
    per epoch on ``n_train`` rows (at least 1)."""
    target = max(1, min(MAX_SMALL_BATCH, n_train // STEPS_PER_EPOCH if n_train > 0 else batch_size))
    return 1 << (target.bit_length() - 1)


PLANNERS: dict[str, Planner] = {
    "learning_rate": _plan_learning_rate,
    "preprocessing": _plan_preprocessing,
    "capacity": _plan_capacity,
    "early_stopping": _plan_early_stopping,
    "architecture": _plan_architecture,
    "optimizer": _plan_optimizer,
}
"""One planner per remedy branch, in ``schema.REMEDIES`` order, except the rule-free ones
(:data:`RULE_FREE_REMEDIES`)."""


def _of_kind(findings: Sequence[schema.Finding], kind: str) -> list[schema.Finding]:
    """The findings of one kind; a name outside the contract's list is a bug upstream.

    Filtering by kind lets a caller pass the diagnosis' whole list as both arguments.
    """
    names = schema.CAUSES if kind == "cause" else schema.SYMPTOMS
    kept = [finding for finding in findings if finding.kind == kind]
    for finding in kept:
        if finding.name not in names:
            raise ValueError(f"unknown {kind} {finding.name!r}; {kind}s are named one of {', '.join(names)}")
    return kept


def _ranked_causes(causes: Sequence[schema.Finding]) -> list[schema.Finding]:
    """Each cause once (its highest confidence), most confident first."""
    best: dict[str, schema.Finding] = {}
    for finding in _of_kind(causes, "cause"):
        if finding.name not in best or finding.confidence > best[finding.name].confidence:
            best[finding.name] = finding
    return sorted(best.values(), key=lambda finding: (-finding.confidence, schema.CAUSES.index(finding.name)))


def _history_symptoms(history: Mapping[str, Sequence[float]] | None, seen: list[schema.Finding]) -> list[schema.Finding]:
    if history is None or any(finding.name == "diverged" for finding in seen):
        return []
    try:
        losses = np.asarray(history["loss"], dtype=float)
    except (KeyError, TypeError, ValueError):
        return []
    bad = np.flatnonzero(~np.isfinite(losses))
    if not bad.size:
        return []
    evidence = f"training loss became non-finite at epoch {int(bad[0]) + 1} of {losses.size}"
    return [schema.Finding(kind="symptom", name="diverged", confidence=1.0, evidence=evidence)]


def _treated(causes: list[schema.Finding], remedy: str) -> list[schema.Finding]:
    return [finding for finding in causes if remedy in CAUSE_REMEDIES[finding.name]]


def _merge(
    remedy: str, contributions: list[tuple[schema.Finding, dict[str, Any], str]], lr_range_test: bool = False
) -> RemedyPlan:
    """One plan from several causes' changes; on a shared key the most confident wins."""
    ordered = sorted(contributions, key=lambda item: -item[0].confidence)
    overrides: dict[str, Any] = {}
    for _, changes, _ in reversed(ordered):
        overrides.update(changes)
    reason = "; ".join(f"{_quote(finding)}: {note}" for finding, _, note in ordered)
    return RemedyPlan(
        remedy=remedy,
        overrides=overrides,
        reason=reason,
        causes=[finding.name for finding, _, _ in ordered],
        lr_range_test=lr_range_test,
        confidence=ordered[0][0].confidence,
    )


def _combine(first: RemedyPlan, second: RemedyPlan) -> RemedyPlan:
    """Both fixes at once; ``first`` ranks higher, so its value wins on a shared key."""
    parts = sorted((first, second), key=lambda plan: schema.REMEDIES.index(plan.remedy))
    overrides = {**second.overrides, **first.overrides}
    causes = list(dict.fromkeys([*first.causes, *second.causes]))
    return RemedyPlan(
        remedy="+".join(plan.remedy for plan in parts),
        overrides=overrides,
        reason=f"combines {first.remedy} ({first.reason}) with {second.remedy} ({second.reason})",
        causes=causes,
        lr_range_test=first.lr_range_test or second.lr_range_test,
        confidence=max(first.confidence, second.confidence),
    )


def _rebuild_saved_model(plan: RemedyPlan, setup: schema.ResolvedSetup) -> None:
    """Make a plan that changes the network rebuild the saved one, fix included."""
    if not any(key.startswith("model.") for key in plan.overrides):
        return
    saved = _saved_model_values(setup)
    plan.overrides["model.path"] = None
    for name in _SAVED_MODEL_FIELDS:
        plan.overrides.setdefault(f"model.{name}", saved[f"model.{name}"])
    plan.reason += "; the saved model is rebuilt from its resolved layers with this change"


def _fit_budget(plans: list[RemedyPlan], config: DoctorConfig) -> list[RemedyPlan]:
    """Share ``budget_epochs`` equally, keeping the best-ranked plans that get enough.

    Each plan gets ``min(training.epochs, budget // n)`` epochs (a plan that asks for more
    epochs itself, as the optimizer branch for a run cut short, gets ``min(its own,
    budget // n)``), and at least
    :data:`MIN_BRANCH_EPOCHS` (or ``training.epochs`` if fewer): when the budget cannot
    give every plan that many, the lowest-ranked plans are dropped. A budget below that
    minimum still runs the best plan, on the whole budget: the user's cap comes first.
    The range test's one-batch steps are not epochs and are not counted.
    """
    if not plans:
        return []
    budget = config.remedies.budget_epochs
    epochs_cap = config.training.epochs
    floor = min(MIN_BRANCH_EPOCHS, epochs_cap)
    kept = plans[: max(1, min(len(plans), budget // floor))]
    share = budget // len(kept)
    for plan in kept:
        wanted = plan.overrides.get("training.epochs", epochs_cap)
        plan.overrides["training.epochs"] = min(wanted, share)
    return kept


def _current_values(config: DoctorConfig, setup: schema.ResolvedSetup) -> dict[str, Any]:
    """Dotted key -> the value the baseline actually ran with, to spot no-op overrides."""
    flat = {
        f"{section}.{name}": value
        for section, fields in config.model_dump(mode="json").items()
        for name, value in fields.items()
    }
    flat["training.learning_rate"] = setup.learning_rate
    if setup.from_saved_model:
        flat.update(_saved_model_values(setup))
    return flat


def _saved_model_values(setup: schema.ResolvedSetup) -> dict[str, Any]:
    return {
        "model.hidden_units": list(setup.hidden_units),
        "model.activation": setup.hidden_activation,
        "model.output_activation": setup.output_activation,
        "model.kernel_initializer": setup.kernel_initializer,
    }


def _grow(units: list[int]) -> list[int]:
    """Double every width, at least [64, 32]; a net of 0 or 1 hidden layers gets two."""
    if not units:
        return list(MIN_GROWN_WIDTHS)
    grown = [2 * width for width in units]
    if len(grown) == 1:
        grown.append(max(units[0], MIN_GROWN_WIDTHS[1]))
    for i, minimum in enumerate(MIN_GROWN_WIDTHS):
        grown[i] = max(grown[i], minimum)
    return grown


def _family(activation: Any) -> str:
    return str(activation).lower().replace("_", "")


def _quote(finding: schema.Finding) -> str:
    return f"{finding.name} ({finding.confidence:.2f})"


def _round(value: float) -> float:
    """Three significant digits, so that 0.001 / 10 reads 0.0001 in configs and reports."""
    return float(f"{value:.3g}") if math.isfinite(value) and value != 0 else value


def _plain(value: Any) -> Any:
    """JSON-like copy, so that a config never shares a list with a plan."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value
