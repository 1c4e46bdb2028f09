"""The guided search: Optuna's TPE over the remedy space, for when the rules run out.

It runs only as the fallback (``engine.search_space.search_wanted``): when no cause a rule
treats explains the stall, or the rounds stop short of the attainable level. It starts from
the best model so far (the patient) and is seeded with the diagnosis:

- the evidence narrows the priors (``engine.search_space.search_space``, pure): a learning
  rate called too high caps the rates tried, unscaled features fix scaling on, dead ReLUs
  drop ``relu``, ...;
- the plans the last diagnosis made but could not run are tried first (enqueued), and
  every branch already trained is told to TPE as a finished trial, for free;
- each trial is judged by the same rule as the branches (:func:`verdict.score`) and
  reports it every epoch to a successive-halving pruner (ASHA), so a lost trial stops
  after a few epochs; a trial the detector calls diverged or stuck stops too. Pruning stops
  training only: a trial keeps its best epoch's weights (``training.best_weights``) and is a
  candidate with them, pruned or not;
- the search stops once a trial reaches the level as the verdict reads it (not
  significantly below the reference on the validation rows, or within the tolerance);
- the epochs of every trial come out of what is left of ``remedies.budget_epochs``.

``TPESampler(seed=data.seed)`` and re-seeded fits make a search repeat exactly. Only this
module imports Optuna, and only :func:`run_search` trains.
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
from plateau_doctor.data.prepared import ensure_split, load_split
from plateau_doctor.engine.search_space import (
    MIN_TRIAL_EPOCHS,
    Choice,
    SearchSpace,
    overrides_from_params,
    parameters,
    params_from_config,
    sample,
    search_space,
)
from plateau_doctor.engine.verdict import BranchOutcome, score
from plateau_doctor.run.branch import kept_predictions, level_comparison, save_kept
from plateau_doctor.schema import DataAudit, Finding

log = logging.getLogger("plateau_doctor")

REDUCTION_FACTOR = 3


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


def distributions(space: SearchSpace) -> dict[str, Any]:
    """Optuna's distributions for the space, one per trial parameter."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {
        name: CategoricalDistribution(dist.choices) if isinstance(dist, Choice)
        else FloatDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
        for name, dist in parameters(space).items()
    }


# --------------------------------------------------------------------------- the search (trains)
def run_search(config: DoctorConfig, request: SearchRequest, folder: str, split_dir: str | None = None) -> list[BranchOutcome]:
    """Up to ``request.trials`` trials within ``request.budget_epochs``; one outcome per trial run.

    Every trial reads the run's prepared split in ``split_dir`` (by default, the one its config's data names).
    """
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
        outcome = _run_trial(config, overrides, trial, number, request, folder, audit, split_dir)
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
        if outcome.model_path and outcome.status in ("ok", "pruned") and level_comparison(
            config, split_dir or str(ensure_split(config)), audit, outcome.metrics, kept_predictions(outcome.model_path)
        ).reached:
            break  # the level is what the data allows: no trial can do better by more than the noise
    return outcomes


def _run_trial(config, overrides, trial, number, request, folder, audit, split_dir=None) -> BranchOutcome:
    """Train one trial with the pruner and the detector watching every epoch. Never raises."""
    from plateau_doctor.engine.detection import check_early_stop
    from plateau_doctor.training.best_weights import kept_by
    from plateau_doctor.training.model import resolve_setup
    from plateau_doctor.training.fit import fit_branch

    started = time.perf_counter()
    outcome = BranchOutcome(
        remedy="search", params=dict(overrides), reason="", round=request.round, name=f"search-{number}")
    try:
        trial_config = with_overrides(config, overrides, source=f"search trial {number}")
        data = load_split(split_dir or ensure_split(trial_config), trial_config.data, trial_config.preprocessing, audit=False)
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
        # The metrics and the model are the trial's best epoch's: a pruned trial is a candidate with them.
        outcome.epochs, outcome.metrics, outcome.history, outcome.setup = (
            result.epochs, result.metrics, result.history, result.setup)
        keeper = kept_by(result.model)
        outcome.best_epoch = keeper.best_epoch_ if keeper is not None else None
        if pruned:
            outcome.status, outcome.pruned_reason = "pruned", pruned[-1]
            if keeper is not None and keeper.restored:
                outcome.pruned_reason += f"; its best epoch, {keeper.best_epoch_}, is kept"
        if not math.isfinite(result.metrics.get("val_loss", math.nan)):
            outcome.status, outcome.error = "failed", "the trial's validation loss is not finite (NaN or inf)"
        else:
            path = str(Path(folder) / f"search-{number}.keras")
            save_kept(result, data, path)
            outcome.model_path = path
    except Exception as error:  # one failing trial is recorded; the search goes on
        outcome.status, outcome.error = "failed", f"{error.__class__.__name__}: {error}"
        log.warning("search trial %d failed: %s\n%s", number, outcome.error, traceback.format_exc(limit=3))
    outcome.wall_seconds = time.perf_counter() - started
    outcome.finished = outcome.status == "ok"
    return outcome

