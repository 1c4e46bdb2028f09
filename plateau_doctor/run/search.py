"""The guided search: Optuna's TPE over the remedy space, for when the rules run out.

It runs only as the fallback (:func:`search_wanted`): when no cause a rule treats explains
the stall, or the rounds stop short of the attainable level. It starts from the best
model so far (the patient) and is seeded with the diagnosis:

- the evidence narrows the priors (:func:`search_space`): a learning rate called too high
  caps the rates tried, unscaled features fix scaling on, dead ReLUs drop ``relu``, ...;
- the plans the last diagnosis made but could not run are tried first (enqueued), and
  every branch already trained is told to TPE as a finished trial, for free;
- each trial is judged by the same rule as the branches (:func:`verdict.score`) and
  reports it every epoch to a successive-halving pruner (ASHA), so a lost trial stops
  after a few epochs; a trial the detector calls diverged or stuck stops too;
- the epochs of every trial come out of what is left of ``remedies.budget_epochs``.

``TPESampler(seed=data.seed)`` and re-seeded fits make a search repeat exactly. The space
and its narrowing are pure (:func:`search_space`, :func:`overrides_from_params`) and tested
without training; only :func:`run_search` trains.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.schema import DataAudit, Finding
from plateau_doctor.engine.verdict import BranchOutcome, gap_to_level, level_reached, main_metric, score

log = logging.getLogger("plateau_doctor")

MIN_TRIAL_EPOCHS = 5
"""The pruner's first rung, and the fewest epochs a trial is started with."""
REDUCTION_FACTOR = 3
LEARNING_RATES = (1e-4, 1e-1)
OPTIMIZERS = ("adam", "nadam", "rmsprop", "sgd")
BATCH_SIZES = (16, 32, 64, 128, 256)
WIDTHS = (16, 32, 64, 128, 256)
DEPTHS = (1, 2, 3)
ACTIVATIONS = ("relu", "elu", "gelu", "tanh")
L2_VALUES = (0.0, 1e-5, 1e-4, 1e-3)
MAX_DROPOUT = 0.5
DROPOUT_STEP = 0.05


@dataclass
class SearchRequest:
    """What the pipeline hands the search (plain data: it may cross a process boundary)."""

    base_overrides: dict[str, Any]  # from the user's config to the patient's: the search starts there
    causes: list[Finding]
    symptoms: list[Finding] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # override sets to try first
    tried: list[dict[str, Any]] = field(default_factory=list)  # override sets already trained ...
    tried_scores: list[float] = field(default_factory=list)  # ... and their scores
    trials: int = 20
    budget_epochs: int = 400
    round: int = 1
    why: str = ""
    audit: DataAudit | None = None


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
    if any(c.name == "no_learnable_signal" for c in causes):
        return None  # nothing to reach: the reference models cannot beat the trivial predictor either
    task = audit.task
    if level_reached(task, best_metrics, audit.reference_metrics, config.remedies.tolerance):
        return None
    if budget_left < MIN_TRIAL_EPOCHS:
        return None
    gap = gap_to_level(task, best_metrics, audit.reference_metrics)
    gap_text = f"{gap:.4f} below" if math.isfinite(gap) else "short of"
    return f"{stop_reason or 'the rules ran out'}; the best model so far is {gap_text} the attainable {main_metric(task)}"


# --------------------------------------------------------------------------- the space (pure)
def search_space(config: DoctorConfig, audit: DataAudit, causes: list[Finding], epochs_cap: int) -> SearchSpace:
    """The usual space around ``config`` (the patient), narrowed by the causes found in it."""
    names = {c.name for c in causes}
    notes: list[str] = []
    rate = config.training.learning_rate
    low, high = LEARNING_RATES
    if "learning_rate_too_high" in names or "exploding_gradients" in names:
        high = max(low * 10, min(high, rate / 3))
        notes.append(f"learning rate below {high:.3g} (too high at {rate:g})")
    if "learning_rate_too_low" in names:
        low = min(high / 10, max(low, rate * 3))
        notes.append(f"learning rate above {low:.3g} (too low at {rate:g})")
    optimizers = OPTIMIZERS
    if "optimizer_choice" in names:
        optimizers = tuple(o for o in OPTIMIZERS if o not in ("sgd", config.training.optimizer.lower()))
        notes.append(f"optimizers {', '.join(optimizers)} ({config.training.optimizer} made no progress)")
    batches = tuple(b for b in BATCH_SIZES if b <= max(BATCH_SIZES[0], audit.n_train // 4))
    if "too_few_updates" in names:
        batches = tuple(b for b in batches if b <= max(BATCH_SIZES[0], config.training.batch_size // 4)) or batches[:1]
        notes.append(f"batch sizes up to {batches[-1]} (too few updates per epoch)")
    base_epochs = config.training.epochs
    epochs = (base_epochs, 2 * base_epochs)
    if "too_few_epochs" in names:
        epochs = (2 * base_epochs, 3 * base_epochs)
        notes.append("at least twice the epochs (the loss was still falling)")
    epochs = tuple(sorted({max(MIN_TRIAL_EPOCHS, min(e, epochs_cap)) for e in epochs}))

    units = list(config.model.hidden_units)
    widths, depths = WIDTHS, DEPTHS
    if "insufficient_capacity" in names:
        widths = tuple(w for w in WIDTHS if w >= 2 * max(units, default=8)) or WIDTHS[-1:]
        depths = tuple(d for d in DEPTHS if d >= max(1, len(units))) or DEPTHS[-1:]
        notes.append(f"widths {widths[0]}+ and depth {depths[0]}+ (insufficient capacity)")
    activations = ACTIVATIONS
    if "dead_relu" in names:
        activations = tuple(a for a in activations if a != "relu")
        notes.append("no relu (dead units)")
    if "vanishing_gradients" in names:
        activations = tuple(a for a in activations if a not in ("tanh", "sigmoid"))
        notes.append("no saturating activation (vanishing gradients)")
    head_is_auto = config.model.output_activation == "auto" and config.training.loss == "auto"
    heads = ("auto",) if head_is_auto or names & {"output_activation_mismatch", "loss_mismatch"} else ("auto", "keep")
    initializer = str(config.model.kernel_initializer)
    initializers = ("keep",) if initializer == "glorot_uniform" else ("glorot_uniform", "keep")
    if "bad_initialization" in names or "dead_relu" in names:
        initializers = ("glorot_uniform",)
    classification = audit.task != "regression"
    scale_features = (True,) if "unscaled_features" in names or config.preprocessing.scale_features else (True, False)
    scale_target = (False,) if classification else ((True,) if "unscaled_target" in names else (True, False))
    class_weight = ("none",) if not classification else (("balanced",) if "class_imbalance" in names else ("none", "balanced"))
    dropout = (0.0, MAX_DROPOUT)
    l2 = L2_VALUES
    if "overfitting" in names:
        dropout = (0.1, MAX_DROPOUT)
        l2 = tuple(v for v in L2_VALUES if v > 0)
        notes.append("some dropout and L2 (overfitting)")
    if "too_strong_regularization" in names:
        dropout = (0.0, _snap_step(min(MAX_DROPOUT, config.model.dropout / 2)))
        l2 = tuple(v for v in L2_VALUES if v < config.model.l2) or (0.0,)
        notes.append("weaker dropout and L2 (regularization too strong)")
    model_free = config.model.path is None and config.model.builder is None
    if not model_free:
        widths, depths = (max(units, default=0),), (len(units),)
        activations, heads, initializers, dropout, l2 = ("keep",), ("keep",), ("keep",), (0.0, 0.0), (0.0,)
    return SearchSpace(
        learning_rate=(low, high),
        optimizer=optimizers,
        batch_size=batches or BATCH_SIZES[:1],
        epochs=epochs,
        width=widths,
        depth=depths,
        activation=activations or ("relu",),
        head=heads,
        initializer=initializers,
        scale_features=scale_features,
        scale_target=scale_target,
        class_weight=class_weight,
        dropout=dropout,
        l2=l2,
        model_free=model_free,
        notes=tuple(notes),
    )


def _snap_step(value: float) -> float:
    return round(math.floor(value / DROPOUT_STEP) * DROPOUT_STEP, 10)


def distributions(space: SearchSpace) -> dict[str, Any]:
    """Optuna's distributions for the space, one per trial parameter."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    dists: dict[str, Any] = {"learning_rate": FloatDistribution(*space.learning_rate, log=True)}
    for name in ("optimizer", "batch_size", "epochs", "width", "depth", "activation", "head", "initializer",
                 "scale_features", "scale_target", "class_weight", "l2"):
        dists[name] = CategoricalDistribution(getattr(space, name))
    low, high = space.dropout
    dists["dropout"] = FloatDistribution(low, high, step=DROPOUT_STEP) if high > low else CategoricalDistribution((low,))
    return dists


def sample(trial, space: SearchSpace) -> dict[str, Any]:
    """One point of the space from an Optuna trial (or anything with its ``suggest_*`` methods)."""
    params = {}
    for name, dist in distributions(space).items():
        if hasattr(dist, "choices"):
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
        "initializer": "keep" if config.model.kernel_initializer == patient.model.kernel_initializer else "glorot_uniform",
        "scale_features": config.preprocessing.scale_features,
        "scale_target": config.preprocessing.scale_target,
        "class_weight": config.preprocessing.class_weight,
        "dropout": config.model.dropout,
        "l2": config.model.l2,
    }
    return {name: _snap(raw[name], dist) for name, dist in distributions(space).items()}


def _snap(value: Any, dist) -> Any:
    if hasattr(dist, "choices"):
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


# --------------------------------------------------------------------------- the search (trains)
def run_search(config: DoctorConfig, request: SearchRequest, folder: str) -> list[BranchOutcome]:
    """Up to ``request.trials`` trials within ``request.budget_epochs``; one outcome per trial run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(folder).mkdir(parents=True, exist_ok=True)
    audit = request.audit
    patient = with_overrides(config, request.base_overrides, source="search: the patient") if request.base_overrides else config
    space = search_space(patient, audit, request.causes, epochs_cap=max(MIN_TRIAL_EPOCHS, request.budget_epochs))
    dists = distributions(space)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.data.seed, n_startup_trials=min(5, max(1, request.trials // 4))),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=MIN_TRIAL_EPOCHS, reduction_factor=REDUCTION_FACTOR),
    )
    for overrides, value in zip(request.tried, request.tried_scores):
        if not math.isfinite(value):
            continue
        try:
            tried = with_overrides(config, overrides, source="search: a branch already trained")
            params = params_from_config(tried, patient, space)
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
        except Exception as error:  # a branch outside the space only informs TPE less
            log.debug("search: branch %s not told to TPE: %s", overrides, error)
    enqueued = 0
    for overrides in request.candidates:
        try:
            candidate = with_overrides(config, overrides, source="search: a candidate of the diagnosis")
            study.enqueue_trial(params_from_config(candidate, patient, space))
            enqueued += 1
        except Exception as error:
            log.debug("search: candidate %s not enqueued: %s", overrides, error)
    if space.notes:
        log.info("search: the evidence narrows the priors: %s", "; ".join(space.notes))
    outcomes: list[BranchOutcome] = []
    budget = request.budget_epochs
    for number in range(1, request.trials + 1):
        if budget < MIN_TRIAL_EPOCHS:
            break
        trial = study.ask()
        params = sample(trial, space)
        overrides = {**request.base_overrides, **overrides_from_params(params, space, patient)}
        overrides["training.epochs"] = min(int(overrides["training.epochs"]), budget)
        outcome = _run_trial(config, overrides, trial, number, request, folder, audit)
        outcome.reason = (
            f"trial {number} of at most {request.trials} ({'a candidate of the diagnosis' if number <= enqueued else 'TPE'}); "
            f"{request.why}" + (f"; priors: {'; '.join(space.notes)}" if space.notes and number == 1 else "")
        )
        budget -= outcome.epochs
        outcomes.append(outcome)
        value = score(audit.task, outcome.metrics)
        if outcome.status == "ok" and math.isfinite(value):
            study.tell(trial, value)
        elif outcome.status == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.info("search trial %d: %s, %d epochs, score %.4f", number, outcome.status, outcome.epochs, value)
        if outcome.status == "ok" and level_reached(
            audit.task, outcome.metrics, audit.reference_metrics, config.remedies.tolerance
        ):
            break  # the level is what the data allows: no trial can do better by more than the tolerance
    return outcomes


def _run_trial(config, overrides, trial, number, request, folder, audit) -> BranchOutcome:
    """Train one trial with the pruner and the detector watching every epoch. Never raises."""
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.engine.detection import check_early_stop
    from plateau_doctor.training.model import resolve_setup
    from plateau_doctor.training.fit import fit_branch

    started = time.perf_counter()
    outcome = BranchOutcome(
        remedy="search", params=dict(overrides), reason="", round=request.round, name=f"search-{number}")
    try:
        trial_config = with_overrides(config, overrides, source=f"search trial {number}")
        data = prepare_from_config(trial_config, audit=False)
        outcome.preprocessing = data.preprocessor.to_dict()
        rebuild = trial_config.model.path is None
        setup = resolve_setup(trial_config, data.task, data.n_classes, data.x_train.shape[1]) if rebuild else None
        pruned: list[str] = []

        def monitor(records):
            epoch = len(records["epoch"])
            latest = {name: values[-1] for name, values in records.items() if values}
            trial.report(score(audit.task, latest), epoch)
            if epoch >= MIN_TRIAL_EPOCHS and trial.should_prune():
                pruned.append(f"pruned at epoch {epoch}: successive halving, behind the other trials at this rung")
                return Finding("symptom", "pruned", 1.0, pruned[-1])
            finding = check_early_stop(records, audit, trial_config.detection, setup=setup)
            if finding is not None:
                pruned.append(f"pruned at epoch {epoch}: the detector calls it {finding.name}")
            return finding

        result = fit_branch(trial_config, data, branch=f"search-{number}", monitor=monitor, use_saved_model=not rebuild)
        outcome.epochs, outcome.metrics, outcome.history, outcome.setup = (
            result.epochs, result.metrics, result.history, result.setup)
        if pruned:
            outcome.status, outcome.pruned_reason = "pruned", pruned[-1]
        if not math.isfinite(result.metrics.get("val_loss", math.nan)):
            outcome.status, outcome.error = "failed", "the trial's validation loss is not finite (NaN or inf)"
        else:
            path = str(Path(folder) / f"search-{number}.keras")
            result.save_model(path)
            outcome.model_path = path
    except Exception as error:  # one failing trial is recorded; the search goes on
        outcome.status, outcome.error = "failed", f"{error.__class__.__name__}: {error}"
        log.warning("search trial %d failed: %s\n%s", number, outcome.error, traceback.format_exc(limit=3))
    outcome.wall_seconds = time.perf_counter() - started
    outcome.finished = outcome.status == "ok"
    return outcome

