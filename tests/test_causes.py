"""One contract over every registered cause, in the spirit of scikit-learn's estimator checks.

The contract is shipped with the package (``engine.causes.contract.check_cause``): plain
words; remedies that exist, each with the cause's own treatment (or a declaration that no
network change can help); silent on healthy curves whatever the set-up; firing on its
hand-written sick example with a confidence in 0..1 and evidence that quotes a number; and
a plan from its branches. Adding a cause means adding its example to ``builders.CASES``;
these checks then run on it without another line here.
"""

from __future__ import annotations

import dataclasses

import pytest
from builders import CASES, DETECTION, HEALTHY_RUNS, NORMAL_READINGS, STANDARDIZED_BY_THE_USER, STUCK, TEMPTING_SETUPS, make_audit, make_setup

from plateau_doctor import schema
from plateau_doctor.engine.causes.catalog import REGISTRY, cause_words
from plateau_doctor.engine.causes.contract import CauseContractError, Example, check_cause
from plateau_doctor.engine.causes.readings import make_cause
from plateau_doctor.engine.causes.registry import REGISTRY as WRITABLE_REGISTRY
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.diagnosis import diagnose
from plateau_doctor.report.render import CAUSE_EXPLANATIONS

CAUSE_NAMES = list(REGISTRY)
EXAMPLES = {case[-1]: case for case in CASES}
HEALTHY_EXAMPLES = [
    Example(history, make_audit(task, **audit_changes, **data_changes), make_setup(task, **setup_changes), DETECTION)
    for task, history, audit_changes in HEALTHY_RUNS.values()
    for setup_changes, data_changes in TEMPTING_SETUPS.values()
]


def sick_example(name: str) -> Example:
    _, history, task, audit_changes, setup_changes, _ = EXAMPLES[name]
    return Example(history, make_audit(task, **audit_changes), make_setup(task, **setup_changes), DETECTION)


def normal_examples(name: str) -> list[Example]:
    return [
        Example(history, make_audit(task, **audit_changes), make_setup(task, **setup_changes), DETECTION)
        for history, task, audit_changes, setup_changes in NORMAL_READINGS[name]
    ]


def test_the_registry_holds_exactly_the_contract_causes():
    assert set(REGISTRY) == set(schema.CAUSES)
    assert len({cause.rank for cause in REGISTRY.values()}) == len(REGISTRY), "ranks must break every tie"


def test_every_registered_cause_has_a_sick_example():
    assert set(EXAMPLES) == set(REGISTRY), "add a hand-written example to builders.CASES for each new cause"


def test_every_registered_cause_has_a_normal_readings_example():
    assert set(NORMAL_READINGS) == set(REGISTRY), "add sick curves with normal readings to builders.NORMAL_READINGS"


@pytest.mark.parametrize("name", CAUSE_NAMES)
def test_every_cause_meets_the_contract(name):
    finding = check_cause(REGISTRY[name], sick_example(name), HEALTHY_EXAMPLES, normal_examples(name))
    assert finding.name == name


def test_unscaled_features_is_not_reported_when_every_feature_is_standardized():
    """A user's own standardized features (every std ~ 1) under plain SGD at lr 50: the step is
    unstable because of the rate, and the evidence would quote a std ratio of 1.086."""
    audit = make_audit(**STANDARDIZED_BY_THE_USER)
    setup = make_setup(optimizer="sgd", learning_rate=50.0)
    found = [cause.name for cause in diagnose(STUCK, audit, setup, DETECTION)]
    assert "unscaled_features" not in found and found and found[0] == "learning_rate_too_high"


@pytest.mark.parametrize("setup_name", list(TEMPTING_SETUPS))
@pytest.mark.parametrize("run_name", list(HEALTHY_RUNS))
def test_diagnose_names_no_cause_on_healthy_curves(setup_name, run_name):
    task, history, audit_changes = HEALTHY_RUNS[run_name]
    setup_changes, data_changes = TEMPTING_SETUPS[setup_name]
    audit = make_audit(task, **audit_changes, **data_changes)
    assert diagnose(history, audit, make_setup(task, **setup_changes), DETECTION) == []


@pytest.mark.parametrize("name", CAUSE_NAMES)
def test_plain_words_are_shown_by_the_report(name):
    assert cause_words()[name] == REGISTRY[name].words == CAUSE_EXPLANATIONS[name]


# --- the contract refuses what would break it --------------------------------------------


def _fires_always(case):
    return make_cause("too_few_epochs", 0.9, "fires on every run, 1 of them healthy")


def _fires_when_stuck(case):
    """Fires on the sick curves alone, whatever its readings say."""
    if case.has("stuck_at_trivial"):
        return make_cause("too_few_epochs", 0.9, "fires on any run stuck for 5 epochs")
    return None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"treatments": {}}, "no treatment of its own for remedy 'optimizer'"),
        ({"treatments": {}, "remedies": ()}, "points to no remedy"),
        ({"untreatable": "no network change can help"}, "declared untreatable but points to"),
        ({"remedies": ("search",), "treatments": {}}, "not a planned branch"),
        ({"words": "More epochs."}, "plain sentence"),
        ({"rule": _fires_always}, "fires on healthy example"),
        ({"rule": _fires_when_stuck}, "fires on normal-readings example"),
        ({"rule": lambda case: None}, "silent on its own sick example"),
    ],
    ids=["no_treatment", "no_remedy", "untreatable_with_remedies", "rule_free_remedy", "short_words",
         "fires_on_healthy", "fires_on_normal_readings", "silent_on_sick"],
)
def test_the_contract_refuses_a_cause_that_breaks_it(changes, message):
    broken = dataclasses.replace(REGISTRY["too_few_epochs"], **changes)
    normal = [Example(STUCK, make_audit(), make_setup(), DETECTION)]
    with pytest.raises(CauseContractError, match=message):
        check_cause(broken, sick_example("too_few_epochs"), HEALTHY_EXAMPLES, normal)


def test_an_untreatable_cause_needs_no_treatment():
    untreatable = REGISTRY["no_learnable_signal"]
    assert untreatable.untreatable and untreatable.remedies == () and not untreatable.treatments
    assert check_cause(untreatable, sick_example("no_learnable_signal"), HEALTHY_EXAMPLES).confidence > 0


def test_the_contract_refuses_a_normal_readings_example_without_sick_curves():
    healthy = HEALTHY_EXAMPLES[0]
    with pytest.raises(ValueError, match="no sick symptom"):
        check_cause(REGISTRY["too_few_epochs"], sick_example("too_few_epochs"), HEALTHY_EXAMPLES, [healthy])


def test_the_contract_refuses_an_example_that_is_not_healthy():
    sick = sick_example("too_few_epochs")
    with pytest.raises(ValueError, match="not healthy"):
        check_cause(REGISTRY["too_few_epochs"], sick, [sick])


@pytest.mark.parametrize(
    "name, changes, message",
    [
        ("learning_rate_too_high", {}, "registered twice"),
        ("not_a_cause", {}, "not in schema.CAUSES"),
        ("too_few_epochs", {"words": " "}, "plain words"),
        ("too_few_epochs", {"remedies": ("more_data",)}, "unknown remedies"),
        ("too_few_epochs", {"remedies": ("optimizer",), "treatments": {"capacity": print}}, "does not point to"),
        ("too_few_epochs", {"properties": frozenset({"is_slow"})}, "unknown properties"),
        ("too_few_epochs", {"confirmed_by": ("loss_slope",)}, "unknown signals"),
        ("too_few_epochs", {"search_prior": ("more epochs",)}, "priors.Narrowing"),
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
