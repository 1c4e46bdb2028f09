"""Turn the diagnosed causes into remedy branches with concrete config changes. Pure.

A cause owns its treatment (``engine.causes``: each cause's ``treatments``); a remedy branch
(``engine.remedies``, one per branch of ``schema.REMEDIES`` but ``search``, the guided
fallback the pipeline runs: :data:`RULE_FREE_REMEDIES`) merges the treatments of the causes
that point to it, the more confident cause winning a setting two of them change. This
module only ranks, combines and budgets: :func:`plan_remedies` asks every enabled branch
for its plan, drops plans that would change nothing, ranks the rest by the confidence of
their best cause, adds one combined branch for the top two, and shares the epoch budget
out. :func:`apply_plan` turns a plan into the config its branch trains with.

Changing the network of a saved model means rebuilding it: such plans set ``model.path``
to null and copy the saved model's widths and activations into the config, so the rebuilt
net differs only by the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from plateau_doctor import schema
from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.engine.causes.catalog import cause_remedies, properties_of
from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import RemedyPlan
from plateau_doctor.engine.remedies.catalog import REMEDY_BRANCHES

__all__ = ["CAUSE_REMEDIES", "MIN_BRANCH_EPOCHS", "PLANNERS", "RULE_FREE_REMEDIES", "RemedyPlan", "apply_plan",
           "plan_remedies", "without_epochs", "without_repeats"]

CAUSE_REMEDIES: dict[str, tuple[str, ...]] = cause_remedies()
"""Which branches treat each cause, read from the cause registry (``engine.causes``). An
untreatable cause (no learnable signal in the data) has none: no network change can help,
and the pipeline reports that instead."""

PLANNERS = REMEDY_BRANCHES
"""One remedy per branch, in ``schema.REMEDIES`` order, except the rule-free ones."""

RULE_FREE_REMEDIES: tuple[str, ...] = ("search",)
"""Remedies of ``schema.REMEDIES`` without a rule-based planner: ``search`` is the guided
fallback the pipeline runs when the rules run out, not a plan read from the causes."""

MIN_BRANCH_EPOCHS = 10
"""Fewest epochs worth training a branch for: fewer cannot show whether a fix works."""

_SAVED_MODEL_FIELDS = ("hidden_units", "activation", "output_activation", "kernel_initializer")


def apply_plan(config: DoctorConfig, plan: RemedyPlan) -> DoctorConfig:
    """A new, validated config with the plan's overrides set (``config.with_overrides``)."""
    return with_overrides(config, plan.overrides, source=f"remedy {plan.remedy!r}")


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

    With a saved model and ``model.rebuild: false``, plans that change the network come
    last, without a share of the budget, and are not combined (the rounds skip them, saying
    why).

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
    context = TreatmentContext(
        config, setup, audit, frozenset(f.name for f in seen), properties_of(f.name for f in found)
    )
    plans: list[RemedyPlan] = []
    for remedy in schema.REMEDIES:
        if remedy not in config.remedies.enabled or remedy not in PLANNERS:
            continue
        plan = PLANNERS[remedy].plan(found, context)
        if plan is None:
            continue
        plan.overrides = {key: value for key, value in plan.overrides.items() if current.get(key) != value}
        if plan.overrides or plan.lr_range_test:
            plans.append(plan)
    plans.sort(key=lambda plan: (-plan.confidence, schema.REMEDIES.index(plan.remedy)))
    # A saved network that must not be rebuilt (plateau_doctor.repair) cannot take a network
    # change: such plans are kept last, unbudgeted, for the rounds to report as skipped, and
    # neither the combined branch nor the epoch budget is spent on them.
    kept_network = setup.from_saved_model and not config.model.rebuild
    unrunnable = [plan for plan in plans if kept_network and _changes_network(plan)]
    plans = [plan for plan in plans if plan not in unrunnable]
    if len(plans) >= 2:
        plans.append(_combine(plans[0], plans[1]))
    plans = _distinct(plans)
    if setup.from_saved_model:
        for plan in [*plans, *unrunnable]:
            _rebuild_saved_model(plan, setup)
    return _fit_budget(plans, config) + unrunnable


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


def _distinct(plans: list[RemedyPlan]) -> list[RemedyPlan]:
    """The plans with each experiment once: two plans that set the same values but for
    ``training.epochs`` (and both do or both skip the range test) train the same network the
    same way from the same seed, so the first keeps its place and the longer of their epoch
    asks. A combined branch whose extra part only asks for more epochs is such a repeat."""
    kept: list[RemedyPlan] = []
    for plan in plans:
        same = next((k for k in kept if _experiment(k) == _experiment(plan)), None)
        if same is None:
            kept.append(plan)
            continue
        wanted = [p.overrides["training.epochs"] for p in (same, plan) if "training.epochs" in p.overrides]
        if wanted:
            same.overrides["training.epochs"] = max(wanted)
        same.causes = list(dict.fromkeys([*same.causes, *plan.causes]))
    return kept


def _experiment(plan: RemedyPlan) -> tuple:
    return without_epochs(plan.overrides), plan.lr_range_test


def without_epochs(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A set-up's settings but how long it trains: what makes two branches the same experiment."""
    return {key: value for key, value in overrides.items() if key != "training.epochs"}


def without_repeats(
    plans: Sequence[RemedyPlan], base: Mapping[str, Any], tried: Sequence[tuple[Mapping[str, Any], int, int]]
) -> tuple[list[RemedyPlan], list[tuple[RemedyPlan, str]]]:
    """(plans to run, [(a plan that repeats an earlier branch, why)]).

    ``base`` is the patient's overrides, which a plan's apply on top of; ``tried`` holds each
    earlier branch as (its params, the epochs it trained, its round). A plan repeats one when,
    on top of ``base``, it sets the same values but for ``training.epochs`` and would train no
    longer than that branch did: same set-up, same seed, same start, so the same result. A
    plan with a range test is never a repeat (its rate is picked when it runs).
    """
    kept, skipped = [], []
    for plan in plans:
        wants = {**base, **plan.overrides}
        epochs = wants.get("training.epochs")
        repeat = None
        if not plan.lr_range_test:
            for params, trained, round_index in tried:
                if without_epochs(params) == without_epochs(wants) and (epochs is None or trained >= int(epochs)):
                    repeat = round_index
                    break
        if repeat is None:
            kept.append(plan)
        else:
            skipped.append((plan, f"skipped: the same set-up already trained in round {repeat}, at least as long;"
                                  " a rerun from the same seed would repeat its result"))
    return kept, skipped


def _changes_network(plan: RemedyPlan) -> bool:
    return any(key.startswith("model.") for key in plan.overrides)


def _rebuild_saved_model(plan: RemedyPlan, setup: schema.ResolvedSetup) -> None:
    """Make a plan that changes the network rebuild the saved one, fix included."""
    if not _changes_network(plan):
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
