"""One contract over every registered cause, in the spirit of scikit-learn's estimator checks.

Each registered cause must: stay silent on healthy curves whatever the set-up; fire on its
hand-written sick example with a confidence in 0..1 and evidence that quotes a number; have
plain words the report shows; point to remedies that exist and have a planner (unless it has
none by design), and get a plan from them. Adding a cause means adding its example to
``builders.CASES``; these checks then run on it without another line here.
"""

from __future__ import annotations

import re

import pytest
from builders import CASES, DETECTION, HEALTHY_RUNS, TEMPTING_SETUPS, make_audit, make_setup

from plateau_doctor import schema
from plateau_doctor.config import validate_config
from plateau_doctor.engine.causes.catalog import REGISTRY, cause_words
from plateau_doctor.engine.causes.readings import Case
from plateau_doctor.engine.causes.registry import REGISTRY as WRITABLE_REGISTRY
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.diagnosis import check_setup, diagnose
from plateau_doctor.engine.planning import PLANNERS, RULE_FREE_REMEDIES, plan_remedies
from plateau_doctor.report.render import CAUSE_EXPLANATIONS

NO_REMEDY_BY_DESIGN = {"no_learnable_signal"}
"""Causes no network change can fix: the pipeline reports them instead of planning."""

CAUSE_NAMES = list(REGISTRY)
EXAMPLES = {case[-1]: case for case in CASES}


def make_case(history, task, audit_changes, setup_changes) -> tuple[Case, list[schema.Finding]]:
    audit, setup = make_audit(task, **audit_changes), make_setup(task, **setup_changes)
    symptoms = detect_symptoms(history, audit, DETECTION, setup=setup)
    sick = {s.name: s for s in symptoms if s.name in schema.SICK_SYMPTOMS}
    preflight = {f.name: f for f in check_setup(setup, audit)}
    case = Case(history, audit, setup, DETECTION, sick, preflight, None)
    return case, symptoms


def config_for(task: str, audit_changes: dict, setup_changes: dict):
    """The config a run with this set-up was trained with (the planners read it)."""
    setup, audit = make_setup(task, **setup_changes), make_audit(task, **audit_changes)
    model = {
        "hidden_units": setup.hidden_units,
        "activation": setup.hidden_activation,
        "kernel_initializer": setup.kernel_initializer,
        "output_activation": setup.output_activation,
        "dropout": setup.dropout,
        "l2": setup.l2,
    }
    training = {
        "optimizer": setup.optimizer,
        "learning_rate": setup.learning_rate,
        "loss": setup.loss,
        "batch_size": setup.batch_size,
        "epochs": max(setup.epochs, 20),
    }
    preprocessing = {"scale_features": audit.scaled_features, "scale_target": audit.scaled_target}
    return validate_config({"model": model, "training": training, "preprocessing": preprocessing})


def test_the_registry_holds_exactly_the_contract_causes():
    assert set(REGISTRY) == set(schema.CAUSES)
    assert len({cause.rank for cause in REGISTRY.values()}) == len(REGISTRY), "ranks must break every tie"


def test_every_registered_cause_has_a_sick_example():
    assert set(EXAMPLES) == set(REGISTRY), "add a hand-written example to builders.CASES for each new cause"


@pytest.mark.parametrize("name", CAUSE_NAMES)
@pytest.mark.parametrize("run_name", list(HEALTHY_RUNS))
def test_silent_on_healthy_curves(name, run_name):
    task, history, audit_changes = HEALTHY_RUNS[run_name]
    for setup_name, (setup_changes, data_changes) in TEMPTING_SETUPS.items():
        case, symptoms = make_case(history, task, {**audit_changes, **data_changes}, setup_changes)
        assert [s.name for s in symptoms] == ["converged"], f"{run_name} must read as converged"
        assert REGISTRY[name].rule(case) is None, f"{name} fires on the healthy {run_name} with {setup_name}"


@pytest.mark.parametrize("setup_name", list(TEMPTING_SETUPS))
@pytest.mark.parametrize("run_name", list(HEALTHY_RUNS))
def test_diagnose_names_no_cause_on_healthy_curves(setup_name, run_name):
    task, history, audit_changes = HEALTHY_RUNS[run_name]
    setup_changes, data_changes = TEMPTING_SETUPS[setup_name]
    audit = make_audit(task, **audit_changes, **data_changes)
    assert diagnose(history, audit, make_setup(task, **setup_changes), DETECTION) == []


@pytest.mark.parametrize("name", CAUSE_NAMES)
def test_fires_on_its_example_with_a_confidence_in_range_and_numbers_in_evidence(name):
    _, history, task, audit_changes, setup_changes, _ = EXAMPLES[name]
    case, _ = make_case(history, task, audit_changes, setup_changes)
    finding = REGISTRY[name].rule(case)
    assert finding is not None, f"{name} is silent on its own example"
    assert finding.kind == "cause" and finding.name == name
    assert 0.0 <= finding.confidence <= 1.0
    assert re.search(r"\d", finding.evidence), "evidence must quote the numbers behind it"


@pytest.mark.parametrize("name", CAUSE_NAMES)
def test_plain_words_are_present_and_shown_by_the_report(name):
    words = REGISTRY[name].words
    assert len(words.split()) >= 6 and words.endswith(".")
    assert cause_words()[name] == words == CAUSE_EXPLANATIONS[name]


@pytest.mark.parametrize("name", CAUSE_NAMES)
def test_remedies_are_registered_and_planned(name):
    remedies = REGISTRY[name].remedies
    if name in NO_REMEDY_BY_DESIGN:
        assert remedies == ()
        return
    assert remedies, f"{name} points to no remedy"
    for remedy in remedies:
        assert remedy in schema.REMEDIES and remedy not in RULE_FREE_REMEDIES
        assert remedy in PLANNERS
    _, history, task, audit_changes, setup_changes, _ = EXAMPLES[name]
    case, symptoms = make_case(history, task, audit_changes, setup_changes)
    finding = REGISTRY[name].rule(case)
    config = config_for(task, audit_changes, setup_changes)
    plans = plan_remedies([finding], symptoms, config, case.setup, case.audit)
    assert any(name in plan.causes and plan.remedy in remedies for plan in plans), plans


@pytest.mark.parametrize(
    "name, changes, message",
    [
        ("learning_rate_too_high", {}, "registered twice"),
        ("not_a_cause", {}, "not in schema.CAUSES"),
        ("too_few_epochs", {"words": " "}, "plain words"),
        ("too_few_epochs", {"remedies": ("more_data",)}, "unknown remedies"),
    ],
)
def test_register_refuses_what_would_break_the_contract(name, changes, message):
    snapshot = dict(WRITABLE_REGISTRY)
    if name != "learning_rate_too_high":
        WRITABLE_REGISTRY.pop(name, None)
    try:
        options = {"rank": 999, "words": "Some plain words for the report.", "remedies": (), **changes}
        with pytest.raises(ValueError, match=message):
            register(name, **options)(lambda case: None)
    finally:
        WRITABLE_REGISTRY.clear()
        WRITABLE_REGISTRY.update(snapshot)
