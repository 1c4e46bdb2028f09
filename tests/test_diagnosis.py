"""Cause diagnosis fed hand-written curves and training signals: no training."""

from __future__ import annotations

import re

import numpy as np
import pytest
from builders import (
    BLOWN_UP,
    CANCER_AUDIT,
    CASES,
    CONVERGED,
    DETECTION,
    HEALTHY,
    IMBALANCED,
    IMBALANCED_AUDIT,
    NO_SIGNAL_AUDIT,
    OSCILLATING,
    OVERFITTING,
    PLATEAU,
    SLOW,
    SOFTMAX_ONE_UNIT,
    STUCK,
    THINNED,
    UNSCALED_FEATURES_AUDIT,
    UNSCALED_TARGET,
    UNDERCONFIDENT,
    UNSCALED_TARGET_AUDIT,
    make_audit,
    make_setup,
    with_signals,
)

from plateau_doctor.config import DoctorConfig
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.diagnosis import CAUSE_RULES, check_setup, diagnose
from plateau_doctor.schema import CAUSES, FeatureStats, Finding


CASE_PARAMS = [case[1:] for case in CASES]
CASE_IDS = [case[0] for case in CASES]


def run_diagnosis(history, task="binary", audit=None, setup=None, **kwargs) -> list[Finding]:
    audit = audit or {}
    setup = setup or {}
    return diagnose(history, make_audit(task, **audit), make_setup(task, **setup), DETECTION, **kwargs)


def names(findings) -> list[str]:
    return [finding.name for finding in findings]


def confidence_of(findings, name: str) -> float:
    return {finding.name: finding.confidence for finding in findings}[name]


@pytest.mark.parametrize("history, task, audit, setup, expected", CASE_PARAMS, ids=CASE_IDS)
def test_each_case_ranks_its_cause_first(history, task, audit, setup, expected):
    causes = run_diagnosis(history, task, audit, setup)
    assert causes, "no cause found"
    assert causes[0].name == expected, [(c.name, c.confidence) for c in causes]


@pytest.mark.parametrize("history, task, audit, setup, expected", CASE_PARAMS, ids=CASE_IDS)
def test_causes_are_well_formed_and_ranked(history, task, audit, setup, expected):
    causes = run_diagnosis(history, task, audit, setup)
    assert all(cause.kind == "cause" and cause.name in CAUSES for cause in causes)
    assert all(0.0 <= cause.confidence <= 1.0 for cause in causes)
    assert all(re.search(r"\d", cause.evidence) for cause in causes), "evidence must quote numbers"
    assert [c.confidence for c in causes] == sorted((c.confidence for c in causes), reverse=True)
    assert len(set(names(causes))) == len(causes)


def test_a_short_run_a_callback_ended_says_so_in_its_symptom_and_its_cause():
    """Five epochs stopped by an early stop (patience 1 on a noisy epoch, say): too short to judge,
    train longer, and the reason it ended, which points at the stop's patience."""
    history = dict(next(case[1] for case in CASES if case[0] == "five_epochs_too_short"))
    audit, setup = make_audit("binary"), make_setup("binary", epochs=40, ended_early=True)
    symptoms = detect_symptoms(history, audit, DETECTION, setup=setup)
    assert symptoms[0].evidence.endswith("; a callback ended the fit at epoch 5 of its 40")
    causes = diagnose(history, audit, setup, DETECTION, symptoms=symptoms)
    assert causes[0].name == "too_few_epochs"
    assert "a callback ended the fit before its 40 epochs" in causes[0].evidence
    plain = diagnose(history, audit, make_setup("binary", epochs=5), DETECTION)
    assert plain[0].name == "too_few_epochs" and "callback" not in plain[0].evidence


def test_every_cause_has_a_rule():
    assert set(CAUSE_RULES) == set(CAUSES)


@pytest.mark.parametrize("history", [CONVERGED, with_signals(CONVERGED, **HEALTHY)])
def test_a_healthy_run_has_no_cause(history):
    assert run_diagnosis(history) == []


def test_converged_symptom_alone_gives_no_cause_even_with_a_bad_setup():
    converged = [Finding("symptom", "converged", 0.9, "no sick symptom")]
    assert run_diagnosis(STUCK, setup={"output_activation": "softmax"}, symptoms=converged) == []


def test_noisy_regression_at_the_reference_ceiling_has_no_cause():
    history = {
        "loss": [1.0, 0.85, 0.78, 0.75, 0.74, 0.735, 0.733, 0.732, 0.731, 0.731, 0.7305, 0.7302],
        "val_loss": [1.0, 0.85, 0.77, 0.72, 0.71, 0.705, 0.7, 0.7, 0.701, 0.7, 0.7, 0.7],
        "val_r2": [0.0, 0.15, 0.23, 0.28, 0.29, 0.295, 0.3, 0.3, 0.299, 0.3, 0.3, 0.3],
    }
    audit = dict(reference_val_loss=0.69, reference_metrics={"val_r2": 0.31, "val_mae": 0.7})
    assert run_diagnosis(history, "regression", audit) == []


def test_symptoms_given_are_used_instead_of_recomputed():
    symptoms = [Finding("symptom", "overfitting", 0.7, "val_loss bottomed at 0.35 at epoch 6")]
    assert names(run_diagnosis(CONVERGED, symptoms=symptoms)) == ["overfitting"]


def test_learning_rate_too_high_evidence_quotes_rate_and_update_ratio():
    cause = run_diagnosis(with_signals(OSCILLATING, update_ratio=2.0), setup={"learning_rate": 0.1})[0]
    assert "learning_rate 0.1 is large" in cause.evidence and "update_ratio typically 2" in cause.evidence
    assert "oscillation" in cause.evidence
    assert cause.confidence >= 0.8


def test_a_stall_after_a_large_rate_that_killed_the_units():
    causes = run_diagnosis(with_signals(STUCK, dead_fraction=0.95), setup={"learning_rate": 0.5})
    assert names(causes)[:2] == ["learning_rate_too_high", "dead_relu"]
    assert "killed" in causes[1].evidence


def test_a_net_frozen_by_a_large_rate_is_not_blamed_on_a_low_rate():
    """Adam at 1.0: the first epochs move the weights 27x their norm, then every unit is frozen."""
    history = with_signals(
        PLATEAU,
        update_ratio=[27.1, 5.2, 0.22, 0.0016, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        grad_ratio_first_last=1e-8,
        dead_fraction=0.3,
    )
    causes = run_diagnosis(history, setup={"learning_rate": 1.0})
    assert names(causes)[0] == "learning_rate_too_high"
    assert "learning_rate_too_low" not in names(causes)
    assert "at most 27.1" in causes[0].evidence
    assert "vanishing_gradients" not in names(causes)  # a consequence of the frozen net, below the report bar


def test_dead_units_and_vanishing_gradients_of_a_zeros_initialization_rank_below_it():
    history = with_signals(STUCK, symmetric_fraction=1.0, dead_fraction=1.0, grad_ratio_first_last=0.0)
    causes = run_diagnosis(history, setup={"kernel_initializer": "zeros"})
    assert names(causes)[0] == "bad_initialization"
    assert confidence_of(causes, "dead_relu") <= causes[0].confidence - 0.2
    assert "symmetric initialization" in next(c for c in causes if c.name == "dead_relu").evidence
    assert "vanishing_gradients" not in names(causes)


def test_unstable_curves_with_an_ordinary_rate_still_suggest_a_lower_rate():
    causes = run_diagnosis(with_signals(OSCILLATING, **HEALTHY))
    assert names(causes) == ["learning_rate_too_high"]
    assert causes[0].confidence < 0.6


def test_scaled_features_are_never_blamed():
    audit = dict(UNSCALED_FEATURES_AUDIT, scaled_features=True)
    assert "unscaled_features" not in names(run_diagnosis(with_signals(STUCK, saturated_fraction=0.8), audit=audit))


def test_unscaled_features_evidence_names_the_widest_feature():
    cause = next(c for c in run_diagnosis(STUCK, audit=UNSCALED_FEATURES_AUDIT) if c.name == "unscaled_features")
    assert "income" in cause.evidence and "3e+04" in cause.evidence and "2500" in cause.evidence


def test_a_scaled_target_is_never_blamed():
    audit = dict(UNSCALED_TARGET_AUDIT, scaled_target=True)
    assert "unscaled_target" not in names(run_diagnosis(UNSCALED_TARGET, "regression", audit))


@pytest.mark.parametrize("preprocessing", [{"class_weight": "balanced"}, {"resample": "oversample"}])
def test_class_imbalance_already_treated_is_not_blamed(preprocessing):
    config = DoctorConfig(preprocessing=preprocessing)
    assert "class_imbalance" not in names(run_diagnosis(IMBALANCED, audit=IMBALANCED_AUDIT, config=config))


@pytest.mark.parametrize("row_weights, says", [
    ("none", "with no class_weight or sample_weight given to fit"),
    ("unknown", "class weights not seen (the callback reads them from fit's arguments)"),
    ("class_weight", None), ("sample_weight", None),
])
def test_a_users_fit_is_blamed_for_imbalance_by_what_its_fit_arguments_weight(row_weights, says):
    """No pipeline config (a user's fit): the callback read fit's class_weight and sample_weight. A
    fit that weights its rows has the rebalancing this cause asks for, and where they were not seen
    the evidence says so instead of claiming none were given."""
    causes = run_diagnosis(IMBALANCED, audit=IMBALANCED_AUDIT, setup={"row_weights": row_weights})
    found = [c for c in causes if c.name == "class_imbalance"]
    assert [says in c.evidence for c in found] == ([True] if says else [])


# Four classes at 91/3/3/3 under plain SGD (seen in a scenario): the loss falls slowly, 97% of
# the predictions are the majority class (more than its 91% share), and balanced accuracy
# creeps from 0.25 to 0.35 while the reference reaches 0.75.
MAJORITY_PULLED = {
    "loss": [1.1, 0.9, 0.74, 0.62, 0.53, 0.47, 0.43, 0.40, 0.37, 0.345, 0.32, 0.30, 0.285, 0.27],
    "val_loss": [1.0, 0.85, 0.69, 0.6, 0.52, 0.47, 0.44, 0.42, 0.40, 0.38, 0.36, 0.345, 0.33, 0.32],
    "val_balanced_accuracy": [0.25] * 8 + [0.3, 0.3, 0.3, 0.35, 0.35, 0.4],
    "pred_majority_share": [1.0] * 8 + [0.98, 0.98, 0.98, 0.97, 0.97, 0.96],
}
MULTICLASS_IMBALANCED_AUDIT = dict(
    majority_share=0.91, class_balance={"0": 0.91, "1": 0.03, "2": 0.03, "3": 0.03}, classes=["0", "1", "2", "3"],
    trivial_val_loss=0.414, reference_val_loss=0.126, reference_metrics={"val_accuracy": 0.97, "val_balanced_accuracy": 0.75},
)


def test_a_net_pulled_toward_the_majority_blames_the_imbalance_before_the_rate():
    history = with_signals(MAJORITY_PULLED, **dict(HEALTHY, update_ratio=0.004))
    setup = {"n_classes": 4, "output_units": 4, "optimizer": "sgd", "learning_rate": 0.01}
    causes = run_diagnosis(history, "multiclass", MULTICLASS_IMBALANCED_AUDIT, setup)
    assert names(causes)[0] == "class_imbalance", [(c.name, c.confidence) for c in causes]
    assert "more than the majority's 91.0% share" in causes[0].evidence


def test_an_imbalanced_net_that_does_not_over_predict_the_majority_is_weak_evidence():
    balanced_predictions = dict(MAJORITY_PULLED, pred_majority_share=[0.9] * 14)
    history = with_signals(balanced_predictions, **dict(HEALTHY, update_ratio=0.004))
    setup = {"n_classes": 4, "output_units": 4, "optimizer": "sgd", "learning_rate": 0.01}
    causes = run_diagnosis(history, "multiclass", MULTICLASS_IMBALANCED_AUDIT, setup)
    assert confidence_of(causes, "class_imbalance") == pytest.approx(0.35)


def test_a_net_over_predicting_the_majority_short_of_a_class_weighted_reference_is_imbalanced():
    # 92:8 under Adam, no class weights: the net's log loss (0.218) is as good as the reference's
    # (0.243), but it gives the majority 97% of its predictions and its balanced accuracy (0.57)
    # is 0.085 under the reference's, a logistic regression weighted by rarity (0.65).
    history = {
        "loss": [0.35, 0.28, 0.25, 0.235, 0.228, 0.224, 0.221, 0.219, 0.217, 0.215, 0.213, 0.211, 0.209, 0.207],
        "val_loss": [0.34, 0.27, 0.245, 0.232, 0.226, 0.223, 0.221, 0.22, 0.219, 0.2185, 0.218, 0.2178, 0.2177, 0.2177],
        "val_balanced_accuracy": [0.5] * 4 + [0.52, 0.53, 0.54, 0.55, 0.555, 0.56, 0.56, 0.565, 0.567, 0.567],
        "pred_majority_share": [1.0] * 4 + [0.99, 0.985, 0.98, 0.975, 0.972, 0.97, 0.97, 0.97, 0.97, 0.97],
    }
    audit = dict(majority_share=0.92, class_balance={"0": 0.92, "1": 0.08}, trivial_val_loss=0.279,
                 reference_val_loss=0.243, reference_metrics={"val_accuracy": 0.607, "val_balanced_accuracy": 0.651})
    setup = {"optimizer": "adam", "learning_rate": 0.001}
    causes = run_diagnosis(with_signals(history, **HEALTHY), "binary", audit, setup)
    assert names(causes)[0] == "class_imbalance", [(c.name, c.confidence) for c in causes]
    # The same gap without the pull toward the majority is too narrow to blame the imbalance.
    even = run_diagnosis(with_signals(dict(history, pred_majority_share=[0.9] * 14), **HEALTHY), "binary", audit, setup)
    assert "class_imbalance" not in names(even)


def test_a_balanced_task_is_not_imbalanced():
    assert "class_imbalance" not in names(run_diagnosis(STUCK))


@pytest.mark.parametrize("hidden_units", [[64, 32], [128]])
def test_a_large_network_is_not_short_of_capacity(hidden_units):
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"hidden_units": hidden_units})
    assert "insufficient_capacity" not in names(causes)


@pytest.mark.parametrize("hidden_units", [[], [8], [3, 3], [64, 1, 64]])
def test_small_networks_are_short_of_capacity(hidden_units):
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"hidden_units": hidden_units})
    assert "insufficient_capacity" in names(causes)


def test_a_wide_deep_network_with_linear_hidden_activations_is_a_linear_model_short_of_capacity():
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"hidden_units": [64, 64, 64], "hidden_activation": "linear"})
    finding = next(c for c in causes if c.name == "insufficient_capacity")
    assert "compose into one linear map" in finding.evidence


LINEAR_MODEL_AT_ITS_OPTIMUM = {
    "loss": [0.5, 0.33, 0.28, 0.266, 0.2632, 0.2631, 0.2631, 0.2631, 0.2631, 0.2631, 0.2631, 0.2632],
    "val_loss": [0.52, 0.39, 0.36, 0.35, 0.3478, 0.3478, 0.3477, 0.3477, 0.3477, 0.3477, 0.3477, 0.3477],
    "val_balanced_accuracy": [0.8, 0.85, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858],
}
AT_LINEAR_AUDIT = {
    "reference_val_loss": 0.285,
    "reference_metrics": {"val_accuracy": 0.94, "val_balanced_accuracy": 0.94},
    "linear_reference_metrics": {"val_accuracy": 0.86, "val_balanced_accuracy": 0.86},
}


@pytest.mark.parametrize("setup", [{"hidden_units": [64, 32], "hidden_activation": "linear"}, {"hidden_units": []}])
def test_a_linear_network_at_the_linear_references_level_is_short_of_capacity_not_of_step_size(setup):
    """Its updates are tiny because it sits at a linear model's optimum: capacity, first."""
    history = with_signals(LINEAR_MODEL_AT_ITS_OPTIMUM, **{**HEALTHY, "update_ratio": 1e-5})
    causes = run_diagnosis(history, audit=AT_LINEAR_AUDIT, setup=setup)
    assert causes[0].name == "insufficient_capacity" and causes[0].confidence >= 0.85
    assert "at the linear reference's 0.86" in causes[0].evidence


def test_a_linear_head_on_a_frozen_base_is_not_read_as_a_linear_model():
    """A trainable Dense head on a frozen conv base has no trainable hidden layer, yet the network
    is nonlinear in its inputs: neither the head's width nor the linear reference, fitted on the
    inputs, says what a head on the base's features can reach (seen on a frozen-base transfer fit
    whose evidence read "no hidden layer (a linear model)")."""
    history = with_signals(LINEAR_MODEL_AT_ITS_OPTIMUM, **{**HEALTHY, "update_ratio": 1e-5})
    causes = run_diagnosis(history, audit=AT_LINEAR_AUDIT, setup={"hidden_units": [], "frozen_layers": 3})
    assert "insufficient_capacity" not in names(causes), [(c.name, c.evidence) for c in causes]
    # The same head with nothing frozen in front is the linear model the reference measures.
    bare = run_diagnosis(history, audit=AT_LINEAR_AUDIT, setup={"hidden_units": []})
    assert bare[0].name == "insufficient_capacity" and "at the linear reference's" in bare[0].evidence


def test_a_linear_network_clearly_under_the_linear_reference_is_not_at_its_limit():
    history = with_signals(LINEAR_MODEL_AT_ITS_OPTIMUM, **{**HEALTHY, "update_ratio": 1e-5})
    audit = {**AT_LINEAR_AUDIT, "linear_reference_metrics": {"val_accuracy": 0.93, "val_balanced_accuracy": 0.93}}
    causes = run_diagnosis(history, audit=audit, setup={"hidden_units": [64, 32], "hidden_activation": "linear"})
    assert not any("linear reference" in c.evidence for c in causes if c.name == "insufficient_capacity")


# A 2-unit bottleneck on ten digit classes (seen in a scenario): the training loss still creeps
# down ~0.4% an epoch, the validation loss has not improved for 10 epochs, balanced accuracy
# sits at 0.48 against the reference's 0.94.
CREEPING_SMALL_NET = {
    "loss": [2.15, 1.85, 1.68, 1.56, 1.47, 1.40, 1.35, 1.31, 1.28, 1.25, 1.23, 1.21, 1.196, 1.181, 1.169, 1.157,
             1.146, 1.137, 1.126, 1.117, 1.108, 1.101, 1.095, 1.087, 1.08, 1.073, 1.07, 1.062, 1.059, 1.051, 1.047,
             1.041, 1.037, 1.032, 1.03, 1.024, 1.021, 1.015, 1.011, 1.007],
    "val_loss": [1.99, 1.82, 1.70, 1.60, 1.53, 1.48, 1.44, 1.41, 1.39, 1.375, 1.362, 1.351, 1.341, 1.333, 1.328,
                 1.319, 1.312, 1.304, 1.296, 1.296, 1.295, 1.288, 1.289, 1.283, 1.284, 1.284, 1.283, 1.283, 1.277,
                 1.281, 1.291, 1.292, 1.298, 1.306, 1.303, 1.306, 1.309, 1.313, 1.31, 1.323],
    "val_balanced_accuracy": [0.21, 0.28, 0.34, 0.36, 0.40, 0.42, 0.41, 0.41, 0.41, 0.44] + [0.48] * 30,
}
DIGITS_AUDIT = dict(
    trivial_val_loss=2.3, reference_val_loss=0.246, reference_metrics={"val_accuracy": 0.94, "val_balanced_accuracy": 0.94},
    classes=[str(i) for i in range(10)], class_balance={str(i): 0.1 for i in range(10)}, majority_share=0.11,
)


def test_a_small_net_creeping_down_with_a_stalled_validation_loss_is_short_of_capacity():
    history = with_signals(CREEPING_SMALL_NET, **dict(HEALTHY, update_ratio=0.02))
    setup = {"n_classes": 10, "output_units": 10, "hidden_units": [2], "learning_rate": 0.01}
    symptoms = detect_symptoms(history, make_audit("multiclass", **DIGITS_AUDIT), DETECTION)
    assert [s.name for s in symptoms] == ["slow_convergence"]
    causes = run_diagnosis(history, "multiclass", DIGITS_AUDIT, setup)
    assert names(causes)[0] == "insufficient_capacity", [(c.name, c.confidence) for c in causes]
    assert "validation loss stopped improving" in causes[0].evidence


def _creeping(rate: float) -> dict:
    """A 3-unit net on a spiral: a fast first fall, then the training loss creeps ``rate`` per
    epoch far above the reference's 0.05, its validation loss just behind, balanced accuracy 0.6."""
    epochs = np.arange(40)
    loss = 0.55 * (1 - rate) ** epochs + 0.15 * np.exp(-epochs)
    return {"loss": list(loss), "val_loss": list(loss * 1.03),
            "val_balanced_accuracy": [0.5] * 3 + [0.6] * 37}


SPIRAL_AUDIT = dict(reference_val_loss=0.05, reference_metrics={"val_accuracy": 0.99, "val_balanced_accuracy": 0.99},
                    linear_reference_metrics={"val_accuracy": 0.55, "val_balanced_accuracy": 0.55})


def test_a_small_net_creeping_slower_than_a_cut_short_run_is_short_of_capacity():
    """Seen on a 3-unit net on a spiral (0.9% per epoch, balanced accuracy 0.60 against 0.997): no
    cause was named. A run merely cut short still falls 1% or more per epoch; one that creeps
    slower, far above the reference, is slowing toward its own floor."""
    causes = run_diagnosis(with_signals(_creeping(0.008), **HEALTHY), audit=SPIRAL_AUDIT, setup={"hidden_units": [3]})
    assert causes and causes[0].name == "insufficient_capacity", [(c.name, c.confidence) for c in causes]
    assert "slower than a run merely cut short" in causes[0].evidence
    fast = run_diagnosis(with_signals(_creeping(0.03), **HEALTHY), audit=SPIRAL_AUDIT, setup={"hidden_units": [3]})
    assert "insufficient_capacity" not in names(fast) and names(fast)[0] == "too_few_epochs", names(fast)


def test_slow_convergence_with_a_falling_validation_loss_is_not_blamed_on_capacity():
    """SLOW's validation loss still falls with its training loss: more epochs would help."""
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), setup={"hidden_units": [4]})
    assert "insufficient_capacity" not in names(causes)


def test_capacity_is_not_blamed_when_units_are_dead():
    causes = run_diagnosis(with_signals(PLATEAU, **dict(HEALTHY, dead_fraction=0.8)), setup={"hidden_units": [4]})
    assert "insufficient_capacity" not in names(causes) and "dead_relu" in names(causes)


def test_overfitting_cause_quotes_the_best_epoch():
    cause = run_diagnosis(OVERFITTING)[0]
    assert cause.name == "overfitting" and "epoch 6" in cause.evidence


def test_dead_relu_is_not_reported_for_a_net_without_relu_units():
    assert "dead_relu" not in names(run_diagnosis(with_signals(PLATEAU, dead_fraction=float("nan"))))


def test_vanishing_gradients_in_a_shallow_net_are_less_certain():
    history = with_signals(PLATEAU, grad_ratio_first_last=1e-3)
    deep = run_diagnosis(history, setup={"hidden_units": [32] * 5, "hidden_activation": "tanh"})
    shallow = run_diagnosis(history, setup={"hidden_units": [32]})
    assert confidence_of(deep, "vanishing_gradients") > confidence_of(shallow, "vanishing_gradients")


def test_exploding_gradients_need_unstable_curves():
    history = with_signals(PLATEAU, grad_norm=[1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e5, 1e5, 1e5, 1e5, 1e5, 1e5])
    assert "exploding_gradients" not in names(run_diagnosis(history))


def test_exploding_gradients_by_layer_ratio():
    history = with_signals(OSCILLATING, grad_ratio_first_last=500.0)
    assert "exploding_gradients" in names(run_diagnosis(history, setup={"hidden_units": [64] * 4}))


def test_exploding_gradients_by_an_overflow_before_the_loss():
    history = with_signals(BLOWN_UP, grad_norm=[1.0, 2.0, 3.0, 5.0, 20.0, float("nan"), float("nan"), 1e3, 1e3])
    cause = next(c for c in run_diagnosis(history) if c.name == "exploding_gradients")
    assert "epoch 6" in cause.evidence


def test_exploding_gradients_from_kernels_whose_gains_compound_at_the_start():
    """A net that overflowed in its first epoch has no finite gradient norm to read; its starting
    kernels show the growth instead. At a usual rate, the step is not the first suspect."""
    nan = float("nan")
    history = with_signals({"loss": [nan] * 9, "val_loss": [nan] * 9}, grad_norm=nan)
    deep = {"hidden_units": [64] * 6, "kernel_initializer": "random_normal", "learning_rate": 0.01, "optimizer": "sgd"}
    causes = run_diagnosis(history, "regression", setup={**deep, "initial_gain": 1.45e4})
    assert causes[0].name == "exploding_gradients", [(c.name, c.confidence) for c in causes]
    assert "gain of 1.45e+04" in causes[0].evidence and "random_normal is not one" in causes[0].evidence
    # Fan-scaled kernels (a gain near 1 per layer) do not make the growth: the rate stays the suspect.
    fan_scaled = run_diagnosis(history, "regression", setup={**deep, "kernel_initializer": "he_normal", "initial_gain": 2.3})
    assert "exploding_gradients" not in names(fan_scaled) and names(fan_scaled)[0] == "learning_rate_too_high"


@pytest.mark.parametrize(
    "initializer, signals, expected",
    [
        ("Zeros", {"symmetric_fraction": 1.0}, 0.9),
        ("zeros", {}, 0.75),
        ("Constant", {}, 0.75),
        ("glorot_uniform", {"symmetric_fraction": 0.95}, 0.75),
        ("glorot_uniform", {"output_std": 0.0}, 0.4),
    ],
)
def test_bad_initialization_confidence(initializer, signals, expected):
    causes = run_diagnosis(with_signals(STUCK, **signals), setup={"kernel_initializer": initializer})
    assert confidence_of(causes, "bad_initialization") == pytest.approx(expected)


def test_a_constant_initializer_without_hidden_layers_is_fine():
    causes = run_diagnosis(STUCK, setup={"kernel_initializer": "zeros", "hidden_units": []})
    assert "bad_initialization" not in names(causes)


def test_no_learnable_signal_outranks_generic_causes():
    causes = run_diagnosis(with_signals(STUCK, update_ratio=1e-4), audit=NO_SIGNAL_AUDIT, setup={"learning_rate": 1e-6})
    assert causes[0].name == "no_learnable_signal"
    assert "learning_rate_too_low" in names(causes)
    assert "0.6925" in causes[0].evidence and "0.51" in causes[0].evidence


def test_a_net_memorizing_shuffled_labels_is_stuck_with_no_learnable_signal():
    """Training loss falls, val_loss drifts above the prior entropy, balanced accuracy ~chance."""
    history = {
        "loss": [0.68, 0.65, 0.63, 0.626, 0.615, 0.604, 0.594, 0.584, 0.575, 0.566, 0.556, 0.547],
        "val_loss": [0.63, 0.645, 0.655, 0.665, 0.675, 0.683, 0.69, 0.697, 0.704, 0.71, 0.716, 0.722],
        "val_balanced_accuracy": [0.52, 0.537, 0.54, 0.535, 0.54, 0.533, 0.53, 0.533, 0.528, 0.526, 0.53, 0.524],
    }
    audit = dict(trivial_val_loss=0.6582, reference_val_loss=0.7064, reference_metrics={"val_balanced_accuracy": 0.535})
    symptoms = detect_symptoms(history, make_audit(**audit), DETECTION)
    assert names(symptoms) == ["stuck_at_trivial"]
    assert "no better than the trivial loss" in symptoms[0].evidence
    assert names(run_diagnosis(history, audit=audit))[0] == "no_learnable_signal"


def test_no_learnable_signal_needs_a_flagged_run():
    symptoms = [Finding("symptom", "slow_convergence", 0.6, "still falling")]
    assert "no_learnable_signal" not in names(run_diagnosis(SLOW, audit=NO_SIGNAL_AUDIT, symptoms=symptoms))


def test_no_learnable_signal_is_not_claimed_when_the_reference_learns():
    assert "no_learnable_signal" not in names(run_diagnosis(STUCK))


def test_structural_causes_outrank_the_learning_rate():
    history = with_signals(STUCK, symmetric_fraction=1.0)
    causes = run_diagnosis(history, setup={"kernel_initializer": "zeros", "learning_rate": 0.1})
    assert names(causes)[0] == "bad_initialization"
    assert "learning_rate_too_high" in names(causes)


def test_preflight_findings_are_boosted_when_the_curves_are_sick():
    preflight = [Finding("cause", "loss_mismatch", 0.5, "loss mean_squared_error on a sigmoid class probability")]
    causes = run_diagnosis(STUCK, preflight=preflight)
    assert confidence_of(causes, "loss_mismatch") == pytest.approx(0.6)


def test_a_preflight_mismatch_outranks_the_overfitting_it_causes():
    """A linear output read as a probability (seen in a scenario): the clipped probabilities
    make val_loss explode after epoch 12 while balanced accuracy stays at 0.97, which reads
    as overfitting; the mismatch found before training is the cause to fix first."""
    history = {
        "loss": [1.5, 0.55, 0.3, 0.25, 0.2, 0.16, 0.1, 0.07, 0.05, 0.04, 0.03, 0.025, 0.02, 0.015, 0.012, 0.01, 0.009,
                 0.008, 0.008, 0.0077],
        "val_loss": [0.55, 0.3, 0.2, 0.12, 0.07, 0.05, 0.04, 0.03, 0.028, 0.025, 0.03, 0.1, 0.37, 0.38, 0.39, 0.4,
                     0.4, 0.39, 0.36, 0.354],
        "val_balanced_accuracy": [0.82, 0.9, 0.95, 0.97, 0.98, 1.0, 1.0, 1.0, 1.0, 1.0] + [0.967] * 10,
    }
    setup = {"output_activation": "linear"}
    causes = run_diagnosis(history, "multiclass", {"reference_val_loss": 0.024}, setup)
    assert names(causes)[:2] == ["output_activation_mismatch", "overfitting"], [(c.name, c.confidence) for c in causes]


def test_preflight_is_recomputed_when_not_given():
    causes = run_diagnosis(SOFTMAX_ONE_UNIT, setup={"output_activation": "softmax"})
    assert causes[0].name == "output_activation_mismatch" and causes[0].confidence == 1.0


# --- check_setup -------------------------------------------------------------------------

UNIT_INTERVAL_TARGET = {"scaled_target": False, "target_mean": 0.4, "target_std": 0.2}
COUNT_TARGET = {"scaled_target": False, "target_mean": 6.0, "target_std": 2.5}


@pytest.mark.parametrize(
    "task, setup, audit, expected",
    [
        ("binary", {}, None, []),
        ("multiclass", {}, None, []),
        ("multiclass", {"loss": "categorical_crossentropy"}, None, []),
        ("regression", {}, None, []),
        ("regression", {"loss": "MeanSquaredError"}, None, []),
        ("regression", {"loss": "huber"}, None, []),
        ("binary", {"output_activation": "softmax"}, None, ["output_activation_mismatch"]),
        ("binary", {"output_activation": "linear"}, None, ["output_activation_mismatch"]),
        ("binary", {"output_activation": "tanh"}, None, ["output_activation_mismatch"]),
        ("multiclass", {"output_activation": "linear"}, None, ["output_activation_mismatch"]),
        ("multiclass", {"output_activation": "sigmoid"}, None, ["output_activation_mismatch"]),
        ("regression", {"output_activation": "sigmoid"}, None, ["output_activation_mismatch"]),
        ("regression", {"output_activation": "softmax"}, None, ["output_activation_mismatch"]),
        ("regression", {"output_activation": "relu"}, None, []),
        ("regression", {"output_activation": "relu"}, {}, ["output_activation_mismatch"]),
        ("regression", {"output_activation": "relu"}, {"scaled_target": False}, []),
        ("regression", {"output_activation": "tanh"}, {"scaled_target": False}, ["output_activation_mismatch"]),
        ("regression", {"output_activation": "sigmoid"}, UNIT_INTERVAL_TARGET, []),
        ("binary", {"loss": "categorical_crossentropy"}, None, ["loss_mismatch"]),
        ("binary", {"loss": "sparse_categorical_crossentropy"}, None, ["loss_mismatch"]),
        ("binary", {"loss": "mse"}, None, ["loss_mismatch"]),
        ("multiclass", {"loss": "binary_crossentropy"}, None, ["loss_mismatch"]),
        ("multiclass", {"loss": "mse"}, None, ["loss_mismatch"]),
        ("regression", {"loss": "sparse_categorical_crossentropy"}, None, ["loss_mismatch"]),
        ("regression", {"loss": "binary_crossentropy"}, None, ["loss_mismatch"]),
        ("regression", {"loss": "binary_crossentropy"}, UNIT_INTERVAL_TARGET, []),
        # Poisson: counts (a target >= 0) and a positive output, else log of a negative number
        ("regression", {"loss": "poisson"}, {}, ["loss_mismatch"]),  # standardized target
        ("regression", {"loss": "poisson", "output_activation": "exponential"}, COUNT_TARGET, []),
        ("regression", {"loss": "poisson", "output_activation": "softplus"}, COUNT_TARGET, []),
        ("regression", {"loss": "poisson"}, COUNT_TARGET, ["loss_mismatch"]),  # linear output can go below 0
        ("regression", {"loss": "kl_divergence"}, None, ["loss_mismatch"]),
        ("regression", {"loss": "cosine_similarity"}, None, ["loss_mismatch"]),
        ("binary", {"loss": "kld"}, None, ["loss_mismatch"]),
        ("binary", {"loss": "poisson"}, None, ["loss_mismatch"]),
        ("multiclass", {"loss": "KLDivergence"}, None, ["loss_mismatch"]),
        (
            "binary",
            {"output_activation": "softmax", "loss": "categorical_crossentropy"},
            None,
            ["output_activation_mismatch", "loss_mismatch"],
        ),
    ],
)
def test_check_setup(task, setup, audit, expected):
    found = check_setup(make_setup(task, **setup), None if audit is None else make_audit(task, **audit))
    assert sorted(names(found)) == sorted(expected)
    assert all(finding.kind == "cause" and 0.0 <= finding.confidence <= 1.0 for finding in found)


def test_softmax_on_one_unit_says_what_fits():
    finding = check_setup(make_setup(output_activation="softmax"))[0]
    assert finding.confidence >= 0.9
    assert "softmax on 1 output unit always outputs 1.0" in finding.evidence and "sigmoid on 1 unit" in finding.evidence


def test_linear_output_with_cross_entropy_names_from_logits():
    finding = check_setup(make_setup(output_activation="linear"))[0]
    assert "from_logits=False" in finding.evidence and "binary_crossentropy on 1 sigmoid unit" in finding.evidence


def test_bounded_regression_output_quotes_the_target_range():
    audit = make_audit("regression", scaled_target=False, target_mean=200.0, target_std=50.0)
    finding = check_setup(make_setup("regression", output_activation="sigmoid"), audit)[0]
    assert "(0, 1)" in finding.evidence and "150..250" in finding.evidence and "linear" in finding.evidence


def test_mse_on_class_probabilities_is_a_moderate_mismatch():
    finding = check_setup(make_setup(loss="mse"))[0]
    assert finding.name == "loss_mismatch" and 0.4 <= finding.confidence <= 0.6
    assert "binary_crossentropy" in finding.evidence


# --- causes added in issue 8 ----------------------------------------------------------------


def test_adadelta_at_its_keras_default_rate_is_the_optimizer_choice():
    history = with_signals(PLATEAU, **dict(HEALTHY, update_ratio=2e-4))
    causes = run_diagnosis(history, setup={"optimizer": "adadelta", "learning_rate": 0.001})
    assert names(causes)[0] == "optimizer_choice"
    assert "1000x larger" in causes[0].evidence and "0.0002" in causes[0].evidence


def test_ftrl_at_its_keras_default_rate_is_the_optimizer_choice():
    history = with_signals(PLATEAU, **dict(HEALTHY, update_ratio=2e-4))
    causes = run_diagnosis(history, setup={"optimizer": "ftrl", "learning_rate": 0.001})
    assert names(causes)[0] == "optimizer_choice", [(c.name, c.confidence) for c in causes]
    assert "100x larger" in causes[0].evidence
    assert "optimizer_choice" not in names(run_diagnosis(history, setup={"optimizer": "ftrl", "learning_rate": 0.1}))


def test_plain_sgd_that_makes_no_progress_at_a_sane_rate_is_the_optimizer_choice():
    history = with_signals(PLATEAU, **dict(HEALTHY, update_ratio=5e-4))
    causes = run_diagnosis(history, setup={"optimizer": "sgd", "learning_rate": 0.01})
    assert names(causes)[0] == "optimizer_choice", [(c.name, c.confidence) for c in causes]
    assert "no momentum" in causes[0].evidence and "0.0005" in causes[0].evidence


@pytest.mark.parametrize(
    "setup",
    [
        {"optimizer": "adam", "learning_rate": 0.001},  # an adaptive optimizer: not the optimizer's fault
        {"optimizer": "adadelta", "learning_rate": 1.0},  # Adadelta at its usual rate
        {"optimizer": "sgd", "learning_rate": 1e-5},  # a tiny rate: the learning rate's cause
    ],
)
def test_optimizer_choice_is_not_blamed_for_other_set_ups(setup):
    history = with_signals(PLATEAU, **dict(HEALTHY, update_ratio=5e-4))
    assert "optimizer_choice" not in names(run_diagnosis(history, setup=setup))


def test_sgd_with_momentum_is_not_the_plain_gradient_step_that_crawls():
    """Heavy-ball momentum is the usual mend for plain SGD's crawl (Polyak 1964): the same stall
    under SGD(momentum=0.9) is not the optimizer's choice, and its stable step is 2 (1 + 0.9)."""
    history = with_signals(PLATEAU, **dict(HEALTHY, update_ratio=5e-4))
    causes = run_diagnosis(history, setup={"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9})
    assert "optimizer_choice" not in names(causes), [(c.name, c.confidence) for c in causes]
    def target_evidence(lr, momentum):
        causes = run_diagnosis(SLOW_ON_A_RAW_TARGET, "regression", TARGET_IN_HUNDREDS,
                               {"optimizer": "sgd", "learning_rate": lr, "momentum": momentum})
        return next(c for c in causes if c.name == "unscaled_target").evidence

    # lr x E[y^2] = 3e-5 x 9.36e4 = 2.8: past plain SGD's 2, within heavy ball's 3.8; 5e-5 (4.7) is past both.
    assert "above the 2 a gradient step (sgd) can take stably" in target_evidence(3e-5, 0.0)
    assert "can take stably" not in target_evidence(3e-5, 0.9)
    assert "above the 3.8 a gradient step (sgd, momentum 0.9) can take stably" in target_evidence(5e-5, 0.9)


def test_plain_sgd_on_a_well_conditioned_problem_that_learns_is_not_the_optimizer_choice():
    """Steps of a healthy size, scaled features, two layers, still falling: nothing points at SGD."""
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), setup={"optimizer": "sgd", "learning_rate": 0.01})
    assert "optimizer_choice" not in names(causes)


@pytest.mark.parametrize("batch_size, per_epoch", [(400, 1), (200, 2), (100, 4)])
def test_a_batch_near_the_training_split_gives_too_few_updates(batch_size, per_epoch):
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), setup={"batch_size": batch_size})
    assert names(causes)[0] == "too_few_updates"
    assert f"{per_epoch} update(s) per epoch" in causes[0].evidence and "400 training rows" in causes[0].evidence


def test_keras_default_rate_is_small_for_adagrad_whose_steps_shrink():
    """Keras gives Adagrad Adam's 0.001; its steps shrink as 1 / sqrt(t) from there."""
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), setup={"optimizer": "Adagrad", "learning_rate": 1e-3})
    assert names(causes)[0] == "learning_rate_too_low", [(c.name, c.confidence) for c in causes]
    assert "learning_rate 0.001 is small for Adagrad" in causes[0].evidence
    usual = run_diagnosis(with_signals(SLOW, **HEALTHY), setup={"optimizer": "Adagrad", "learning_rate": 0.05})
    assert "learning_rate_too_low" not in names(usual)


def test_the_steps_a_fit_reported_count_when_its_batch_size_is_unknown():
    """The callback reads Keras' steps per epoch; the batch size a user's fit used is not in its params."""
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), audit={"n_train": 0}, setup={"batch_size": 0, "steps_per_epoch": 1})
    assert names(causes)[0] == "too_few_updates"
    assert "the fit (Keras' steps) took 1 update(s) per epoch" in causes[0].evidence
    many = run_diagnosis(with_signals(SLOW, **HEALTHY), audit={"n_train": 0}, setup={"batch_size": 0, "steps_per_epoch": 50})
    assert "too_few_updates" not in names(many)


@pytest.mark.parametrize("batch_size, n_train", [(32, 400), (128, 4000), (64, 400)])
def test_enough_updates_per_epoch_are_not_too_few(batch_size, n_train):
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY), audit={"n_train": n_train}, setup={"batch_size": batch_size})
    assert "too_few_updates" not in names(causes)


def test_a_healthy_run_still_falling_fast_needs_more_epochs():
    causes = run_diagnosis(with_signals(SLOW, **HEALTHY))
    assert names(causes)[0] == "too_few_epochs"
    assert "2.0% per epoch" in causes[0].evidence and "more epochs" in causes[0].evidence


def test_too_few_epochs_does_not_fire_on_a_converged_run():
    assert run_diagnosis(with_signals(CONVERGED, **HEALTHY)) == []
    converged = [Finding("symptom", "converged", 0.9, "no sick symptom")]
    assert run_diagnosis(with_signals(SLOW, **HEALTHY), symptoms=converged) == []


def test_too_few_epochs_is_not_blamed_when_the_rate_or_steps_are_tiny():
    causes = run_diagnosis(with_signals(SLOW, update_ratio=1e-4), setup={"learning_rate": 1e-6})
    assert "too_few_epochs" not in names(causes) and names(causes)[0] == "learning_rate_too_low"


def test_too_few_epochs_is_not_blamed_when_the_validation_loss_has_stopped():
    history = with_signals(CREEPING_SMALL_NET, **dict(HEALTHY, update_ratio=0.02))
    setup = {"n_classes": 10, "output_units": 10, "hidden_units": [2], "learning_rate": 0.01}
    assert "too_few_epochs" not in names(run_diagnosis(history, "multiclass", DIGITS_AUDIT, setup))


# A curve flattening toward a floor: its log falls ~8.6% per epoch in epochs 8-13 and ~2.8%
# in the last five. Still above 1% per epoch, but no longer steady: the floor is near.
FLATTENING = {
    "loss": [0.9, 0.738, 0.6132, 0.5161, 0.4401, 0.38, 0.3323, 0.2941, 0.2636, 0.2391, 0.2194, 0.2038, 0.1915,
             0.182, 0.175, 0.1701, 0.1673, 0.1663],
    "val_loss": [0.927, 0.7601, 0.6316, 0.5316, 0.4533, 0.3914, 0.3423, 0.3029, 0.2715, 0.2463, 0.226, 0.2099,
                 0.1972, 0.1875, 0.1802, 0.1752, 0.1723, 0.1713],
    "val_balanced_accuracy": [round(0.5 + 0.012 * i, 3) for i in range(18)],
}


def test_a_curve_flattening_toward_a_floor_is_not_too_few_epochs():
    history = with_signals(FLATTENING, **HEALTHY)
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["slow_convergence"]
    assert "too_few_epochs" not in names(run_diagnosis(history))


def test_the_same_fall_kept_steady_is_too_few_epochs():
    """Falling 2-3% per epoch throughout, as FLATTENING's last window, but not decelerating."""
    loss = [round(0.9 * 0.975**i, 4) for i in range(18)]
    history = with_signals(
        {"loss": loss, "val_loss": [round(1.03 * v, 4) for v in loss], "val_balanced_accuracy": FLATTENING["val_balanced_accuracy"]},
        **HEALTHY,
    )
    causes = run_diagnosis(history)
    assert names(causes)[0] == "too_few_epochs"
    assert "2.5% per epoch" in causes[0].evidence and "not flattening" in causes[0].evidence


def test_too_few_epochs_stands_down_when_something_else_is_wrong():
    history = with_signals(SLOW, **HEALTHY)
    causes = run_diagnosis(history, setup={"batch_size": 400})
    assert "too_few_epochs" not in names(causes) and names(causes)[0] == "too_few_updates"


def test_strong_dropout_that_keeps_the_training_loss_above_validation_is_too_strong_regularization():
    causes = run_diagnosis(with_signals(THINNED, **HEALTHY), setup={"dropout": 0.7})
    assert names(causes)[0] == "too_strong_regularization"
    assert "dropout 0.7" in causes[0].evidence and "above the validation loss 0.4654" in causes[0].evidence


def test_an_l2_whose_penalty_dwarfs_the_reference_loss_is_too_strong_regularization():
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"l2": 0.05})
    assert names(causes)[0] == "too_strong_regularization"
    assert "l2 0.05" in causes[0].evidence and "2.424" in causes[0].evidence


def test_an_l1_whose_penalty_dwarfs_the_reference_loss_is_too_strong_regularization():
    """L1 pulls every weight toward 0 by the same amount whatever its size: 0.02 on Glorot-sized
    kernels costs about 0.8 before the net has learned anything, above what the reference's
    whole loss is (seen on a token CNN with L1 0.02, whose dead units were named instead)."""
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"l1": 0.02})
    assert names(causes)[0] == "too_strong_regularization", [(c.name, c.confidence) for c in causes]
    assert "l1 0.02" in causes[0].evidence and "goes to 0" in causes[0].evidence


def test_a_plain_gradient_optimizers_weight_decay_is_read_as_the_l2_it_equals():
    """Keras applies weight decay as w <- w - lr * wd * w: under SGD that is the step of an L2 of wd / 2."""
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"optimizer": "sgd", "weight_decay": 0.1})
    assert names(causes)[0] == "too_strong_regularization"
    assert "l2 0.05" in causes[0].evidence and "2.424" in causes[0].evidence
    adaptive = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"optimizer": "adam", "weight_decay": 0.1})
    assert "too_strong_regularization" not in names(adaptive)  # a bound of 1 / 0.1 = 10 holds any weight it starts with


@pytest.mark.parametrize(
    "curves, setup",
    [
        (THINNED, {"dropout": 0.2}),  # light dropout
        (PLATEAU, {"l2": 1e-5}),  # an L2 whose penalty (~5e-4) is far below the reference loss
        (PLATEAU, {"l1": 1e-5}),  # an L1 whose penalty (~4e-4) is far below it too
        (PLATEAU, {"dropout": 0.3}),  # moderate dropout and a training loss below validation
        (OVERFITTING, {"dropout": 0.6}),  # the net fits its training split past the reference
        (PLATEAU, {"optimizer": "adamw", "weight_decay": 0.004}),  # AdamW's default decay bounds weights at 250
    ],
)
def test_regularization_that_does_not_hold_the_fit_back_is_not_blamed(curves, setup):
    assert "too_strong_regularization" not in names(run_diagnosis(with_signals(curves, **HEALTHY), setup=setup))


def test_a_loss_that_does_not_suit_classification_ranks_above_capacity():
    causes = run_diagnosis(with_signals(PLATEAU, **HEALTHY), setup={"hidden_units": [4], "loss": "mse"})
    assert names(causes)[:2] == ["loss_mismatch", "insufficient_capacity"], [(c.name, c.confidence) for c in causes]


# --- scale judged by its effect -------------------------------------------------------------


def one_wide_feature(mean: float, std: float) -> dict:
    return dict(
        scaled_features=False,
        features=[FeatureStats("price", mean, std, mean - 3 * std, mean + 3 * std), FeatureStats("b", 0.0, 1.0, -3, 3)],
    )


def test_a_feature_spanning_hundreds_under_sgd_is_unscaled_though_its_std_is_modest():
    """std 60 and a std ratio of 60 sit under the fixed thresholds of 100; under SGD at 0.01,
    learning_rate x E[x^2] = 0.01 x (150^2 + 60^2) = 261, far above the stable 2."""
    history = with_signals(OSCILLATING, **HEALTHY)
    causes = run_diagnosis(history, audit=one_wide_feature(150.0, 60.0), setup={"optimizer": "sgd", "learning_rate": 0.01})
    assert names(causes)[0] == "unscaled_features"
    assert "= 261" in causes[0].evidence and "price" in causes[0].evidence


@pytest.mark.parametrize(
    "mean, std, optimizer, rate, unscaled",
    [
        (0.0, 30.0, "sgd", 0.1, True),  # 0.1 x 900 = 90: unstable
        (0.0, 30.0, "sgd", 0.001, False),  # 0.001 x 900 = 0.9: the same feature is fine at a smaller step
        (5.0, 8.0, "sgd", 0.01, False),  # 0.01 x 89 = 0.89
        (0.0, 30.0, "adam", 0.01, False),  # Adam's step does not grow with the gradient, and rms 30 < 100
        (2000.0, 3.0, "adam", 0.001, True),  # a year-like column: std 3, but every input ~2000
    ],
)
def test_feature_scale_is_judged_against_the_step(mean, std, optimizer, rate, unscaled):
    history = with_signals(OSCILLATING, **HEALTHY)
    causes = run_diagnosis(history, audit=one_wide_feature(mean, std), setup={"optimizer": optimizer, "learning_rate": rate})
    assert ("unscaled_features" in names(causes)) is unscaled, [(c.name, c.confidence) for c in causes]


NAN = float("nan")
# Plain SGD at 0.01 on a target around 300 +- 60: the loss explodes to NaN within three epochs
# and every ReLU unit dies on the way.
DIVERGING_ON_A_RAW_TARGET = {
    "loss": [9.3e4, 4e5, 3e7, NAN, NAN, NAN, NAN, NAN],
    "val_loss": [8e4, 5e6, 1e9, NAN, NAN, NAN, NAN, NAN],
    "val_r2": [-20.0, -1e3, -1e5, NAN, NAN, NAN, NAN, NAN],
    "dead_fraction": [0.3, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
}
TARGET_IN_HUNDREDS = dict(
    scaled_target=False,
    target_mean=300.0,
    target_std=60.0,
    trivial_val_loss=3600.0,
    reference_val_loss=900.0,
    reference_metrics={"val_r2": 0.75, "val_mae": 20.0},
)


def test_a_diverging_sgd_on_a_target_in_the_hundreds_is_blamed_on_the_target_not_dead_units():
    causes = run_diagnosis(
        DIVERGING_ON_A_RAW_TARGET, "regression", TARGET_IN_HUNDREDS, {"optimizer": "sgd", "learning_rate": 0.01}
    )
    assert names(causes)[0] == "unscaled_target", [(c.name, c.confidence) for c in causes]
    assert "= 936" in causes[0].evidence
    dead = next(c for c in causes if c.name == "dead_relu")
    assert dead.confidence <= causes[0].confidence - 0.2 and "unstable step" in dead.evidence


# Adam on the same target: the output starts near 0, so the first epochs' loss is ~26x the
# target's variance and falls slowly.
SLOW_ON_A_RAW_TARGET = {
    "loss": [9.3e4, 8.0e4, 7e4, 6.2e4, 5.6e4, 5.1e4, 4.7e4, 4.35e4, 4.05e4, 3.8e4, 3.6e4, 3.42e4],
    "val_r2": [-25.0, -21.0, -18.5, -16.0, -14.5, -13.0, -12.0, -11.0, -10.2, -9.5, -9.0, -8.5],
}


def test_a_target_far_from_where_the_output_starts_is_unscaled_under_adam_too():
    causes = run_diagnosis(SLOW_ON_A_RAW_TARGET, "regression", TARGET_IN_HUNDREDS)
    assert names(causes)[0] == "unscaled_target"
    assert "19.44x the trivial loss 3600" in causes[0].evidence


def test_a_raw_target_whose_first_epochs_sit_near_the_trivial_loss_is_not_blamed():
    """mean 30, std 40: the output reaches the target's offset within the warm-up (1.06x the
    variance), and Adam's step does not grow with the target: nothing says the scale hurts."""
    history = {"loss": [1900, 1700, 1650, 1620, 1610, 1605, 1602, 1601, 1600, 1600, 1600, 1600], "val_r2": [0.0] * 12}
    audit = dict(scaled_target=False, target_mean=30.0, target_std=40.0, trivial_val_loss=1600.0,
                 reference_val_loss=400.0, reference_metrics={"val_r2": 0.75})
    assert "unscaled_target" not in names(run_diagnosis(history, "regression", audit))


def test_a_raw_target_under_sgd_at_a_small_step_is_not_an_unstable_step():
    causes = run_diagnosis(
        SLOW_ON_A_RAW_TARGET, "regression", TARGET_IN_HUNDREDS, {"optimizer": "sgd", "learning_rate": 1e-6}
    )
    target = next(c for c in causes if c.name == "unscaled_target")
    assert "can take stably" not in target.evidence  # 1e-6 x 9.36e4 = 0.09: stable


def test_a_penalty_that_keeps_the_probabilities_near_the_prior_is_too_strong_regularization():
    """Measured on breast cancer with dropout 0.8 and L2 0.05: balanced accuracy looks close to
    the reference's, the doctor's own log loss does not (builders.UNDERCONFIDENT)."""
    causes = run_diagnosis(with_signals(UNDERCONFIDENT, **HEALTHY), audit=CANCER_AUDIT, setup={"dropout": 0.8, "l2": 0.05})
    assert names(causes)[0] == "too_strong_regularization", [(c.name, c.confidence) for c in causes]
    assert "dropout 0.8" in causes[0].evidence and "l2 0.05" in causes[0].evidence


def test_gaussian_noise_on_the_inputs_as_loud_as_the_signal_is_too_strong_regularization():
    # GaussianNoise(1.0) on standardized inputs: the noise's variance equals the signal's, as much
    # noise as dropout at 0.5 on the inputs (strong from 0.2); GaussianNoise(0.3) is dropout at 0.08.
    history = with_signals(UNDERCONFIDENT, **HEALTHY)
    causes = run_diagnosis(history, audit=CANCER_AUDIT, setup={"input_noise": 1.0})
    assert names(causes)[0] == "too_strong_regularization", [(c.name, c.confidence) for c in causes]
    assert "GaussianNoise(1)" in causes[0].evidence and "dropout at rate 0.5 on the inputs" in causes[0].evidence
    assert "too_strong_regularization" not in names(run_diagnosis(history, audit=CANCER_AUDIT, setup={"input_noise": 0.3}))


def test_poisson_on_a_standardized_target_quotes_its_range_and_the_fix():
    finding = check_setup(make_setup("regression", loss="poisson"), make_audit("regression"))[0]
    assert finding.name == "loss_mismatch" and finding.confidence >= 0.85
    assert "-1 .. 1, below 0" in finding.evidence and "mean_squared_error" in finding.evidence


def test_a_log_error_on_a_standardized_target_is_a_loss_mismatch_and_on_a_positive_one_is_not():
    # Keras' MSLE reads max(y, eps): on a standardized target, every row below 0 is the same 0.
    finding = check_setup(make_setup("regression", loss="msle"), make_audit("regression"))[0]
    assert finding.name == "loss_mismatch" and finding.confidence >= 0.85
    assert "-1 .. 1" in finding.evidence and "counts as 0" in finding.evidence
    prices = make_audit("regression", scaled_target=False, target_mean=300.0, target_std=60.0)
    assert not check_setup(make_setup("regression", loss="mean_squared_logarithmic_error"), prices)


def test_a_binary_loss_on_one_sigmoid_unit_for_six_integer_classes_is_a_loss_mismatch():
    setup = make_setup("multiclass", n_classes=6, output_units=1, output_activation="sigmoid", loss="binary_crossentropy")
    finding = check_setup(setup)[0]
    assert finding.name == "loss_mismatch" and "6 classes (0-5)" in finding.evidence
    assert "sparse_categorical_crossentropy on 6 softmax units" in finding.evidence
    assert not check_setup(make_setup("binary"))  # two classes: the same output and loss fit


def test_kl_divergence_on_one_sigmoid_unit_says_the_negative_class_adds_nothing():
    finding = check_setup(make_setup("binary", loss="kl_divergence"))[0]
    assert finding.name == "loss_mismatch" and "class 0 add nothing" in finding.evidence


# Hastie's 10.2 (binary) with kernels drawn from N(0, 3^2), Adam at 1e-3 (measured, first 12
# epochs): the loss starts ~4000x the ln 2 of a zero output and falls steadily from there.
OVERSIZED_START = {
    "loss": [2719.3, 2528.2, 2349.8, 2196.0, 2069.7, 1963.3, 1863.3, 1769.8, 1685.2, 1607.9, 1535.3, 1467.4],
    "val_loss": [3046.4, 2855.5, 2691.9, 2557.0, 2445.2, 2344.7, 2254.2, 2169.9, 2091.9, 2021.3, 1957.7, 1895.1],
    "val_balanced_accuracy": [0.425, 0.415, 0.419, 0.424, 0.419, 0.439, 0.434, 0.434, 0.439, 0.444, 0.454, 0.454],
}
RANDOM_NORMAL = {"kernel_initializer": "RandomNormal"}


def test_weights_far_too_large_are_read_from_the_loss_at_the_start():
    causes = run_diagnosis(OVERSIZED_START, setup=RANDOM_NORMAL)
    assert causes[0].name == "bad_initialization" and causes[0].confidence == pytest.approx(0.85)
    assert "starts at 2719" in causes[0].evidence and "3923x the 0.6931 of a zero output" in causes[0].evidence
    assert "RandomNormal is not scaled" in causes[0].evidence


def test_an_unknown_initializer_with_an_oversized_start_is_named_with_less_confidence():
    causes = run_diagnosis(OVERSIZED_START, setup={"kernel_initializer": "the model's own"})
    assert confidence_of(causes, "bad_initialization") == pytest.approx(0.6)
    assert "is not scaled" not in next(c for c in causes if c.name == "bad_initialization").evidence


@pytest.mark.parametrize(
    "history, setup, audit",
    [
        # A fan-scaled initializer is not blamed for it.
        (OVERSIZED_START, {"kernel_initializer": "he_uniform"}, {}),
        # A loss that rises over the first epochs is a step that blew up, not the weights.
        ({**OVERSIZED_START, "loss": [9.0, 40.0, 300.0] + OVERSIZED_START["loss"][3:]}, RANDOM_NORMAL, {}),
        # ... and so is one at a rate past the optimizer's range.
        (OVERSIZED_START, {**RANDOM_NORMAL, "learning_rate": 0.1}, {}),
        # Raw inputs with a root mean square in the tens of thousands explain a large start.
        (OVERSIZED_START, RANDOM_NORMAL, UNSCALED_FEATURES_AUDIT),
        # A loss the audit cannot compare with (hinge) is not read.
        (OVERSIZED_START, {**RANDOM_NORMAL, "loss": "hinge"}, {}),
    ],
    ids=["fan_scaled", "rising_start", "large_rate", "raw_inputs", "other_loss"],
)
def test_an_oversized_start_with_another_explanation_is_not_the_initialization(history, setup, audit):
    assert "bad_initialization" not in names(run_diagnosis(history, setup=setup, audit=audit))


def test_an_oversized_start_on_a_regression_is_read_against_the_target_the_network_sees():
    history = {
        "loss": [40.0, 33.0, 28.0, 24.0, 21.0, 19.0, 17.5, 16.2, 15.1, 14.2, 13.4, 12.7],
        "val_loss": [42.0, 35.0, 30.0, 26.0, 23.0, 21.0, 19.4, 18.0, 16.9, 15.9, 15.0, 14.3],
        "val_r2": [-39.0, -32.0, -27.0, -23.0, -20.0, -18.0, -16.4, -15.0, -13.9, -12.9, -12.0, -11.3],
    }
    scaled = run_diagnosis(history, task="regression", setup=RANDOM_NORMAL)
    assert names(scaled)[0] == "bad_initialization" and "40x the 1 of a zero output" in scaled[0].evidence
    # On the raw target (mean 10, std 2) a zero output already costs E[y^2] = 104.
    raw = run_diagnosis(history, task="regression", setup=RANDOM_NORMAL, audit={"scaled_target": False})
    assert "bad_initialization" not in names(raw)


EMBLEMS_AUDIT = dict(
    classes=["0", "1", "2", "3"], class_balance={str(i): 0.25 for i in range(4)}, majority_share=0.27,
    trivial_val_loss=1.384, trivial_metrics={"val_accuracy": 0.24, "val_balanced_accuracy": 0.25},
    reference_val_loss=1.019, reference_metrics={"val_accuracy": 0.68, "val_balanced_accuracy": 0.68},
)
EMBLEMS_SETUP = {"n_classes": 4, "output_units": 4, "output_activation": "softmax", "optimizer": "sgd",
                 "learning_rate": 0.5, "momentum": 0.9}


def _emblems(loss):
    n = len(loss)
    return {"loss": loss, "val_loss": [1.3519, 1.4113, 1.3957] + [1.396633] * (n - 3),
            "val_accuracy": [0.36] + [0.24] * (n - 1), "val_balanced_accuracy": [0.3] + [0.25] * (n - 1),
            "pred_majority_share": [1.0] * n, "update_ratio": [2.694, 0.3] + [0.0] * (n - 2),
            "grad_ratio_first_last": [0.0] * n, "dead_fraction": [0.6] + [1.0] * (n - 1), "symmetric_fraction": [0.0] * n}


def test_units_a_blow_up_killed_blame_the_step_first_whatever_the_rate():
    # heldout9: SGD 0.5 (momentum 0.9, a rate SGD often survives) on a 4-class conv net. The loss rose
    # above chance in epoch 2 and froze; the callback measured every ReLU dead. The dead units are the
    # step's doing: the fix was the rate (0.5 -> 0.01), not the units.
    blown = run_diagnosis(_emblems([1.4079, 1.4523, 1.4086, 1.4041, 1.4045] + [1.404447] * 10), "multiclass",
                          EMBLEMS_AUDIT, EMBLEMS_SETUP)
    assert names(blown)[0] == "learning_rate_too_high", [(c.name, c.confidence) for c in blown]
    assert "dead_fraction 1: units knocked out" in blown[0].evidence
    dead = next(c for c in blown if c.name == "dead_relu")
    assert "the step that blew the loss up" in dead.evidence and dead.confidence < blown[0].confidence
    # The same dead units under a loss that never rose (dead from the start, at chance): not the step.
    still = run_diagnosis(_emblems([1.3864] * 15), "multiclass", EMBLEMS_AUDIT, EMBLEMS_SETUP)
    assert "learning_rate_too_high" not in names(still)[:1], [(c.name, c.confidence) for c in still]


def test_a_penalty_that_starts_the_loss_far_above_chance_is_not_read_as_a_blow_up():
    # L2 1.0 on an embedding classifier (Adam 3e-3): Keras adds the penalty to the first epoch's
    # loss (5.95, 4.3x ln 4), then the weights are at zero and every unit is dead. The same start a
    # blown step leaves, but the set-up shows the penalty that does it.
    loss = [5.95, 1.3973, 1.3865] + [1.38655] * 17
    history = dict(_emblems(loss), val_loss=[1.3871] * 20)
    setup = dict(EMBLEMS_SETUP, optimizer="adam", learning_rate=3e-3, momentum=0.0, l2=1.0)
    causes = run_diagnosis(history, "multiclass", dict(EMBLEMS_AUDIT, trivial_val_loss=1.3863), setup)
    assert "learning_rate_too_high" not in names(causes), [(c.name, c.confidence) for c in causes]
    assert "too_strong_regularization" in names(causes)
    dead = next(c for c in causes if c.name == "dead_relu")
    assert "the strong L2 penalty" in dead.evidence and "blew the loss up" not in dead.evidence
