"""Symptom detection fed hand-written curves, as Keras' callback tests do: no training."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from builders import (
    BLOWN_UP,
    CANCER_AUDIT,
    CONVERGED,
    DETECTION,
    OSCILLATING,
    OVERFITTING,
    PLATEAU,
    SLOW,
    STUCK,
    UNDERCONFIDENT,
    make_audit,
    make_setup,
)

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.curve_math import ema, relative_improvement, smoothed_progress
from plateau_doctor.engine.detection import check_early_stop, detect_symptoms
from plateau_doctor.engine.levels import chance_margin, loss_in_audit_scale, reference_gap, reference_has_signal
from plateau_doctor.engine.vocabulary import canonical_activation, canonical_loss

NAN = float("nan")
INF = float("inf")

DIVERGED_NAN = {"loss": [0.69, 0.5, 3.0, NAN, NAN], "val_loss": [0.68, 0.6, 5.0, NAN, NAN]}
DIVERGED_INF = {"loss": [0.69, 0.5, INF], "val_loss": [0.68, 0.6, 0.7]}
# A noisy target: the reference model reaches r2 0.3 only, and so does the network.
NOISE_CEILING = {
    "loss": [1.0, 0.85, 0.78, 0.75, 0.74, 0.735, 0.733, 0.732, 0.731, 0.731, 0.7305, 0.7302],
    "val_loss": [1.0, 0.85, 0.77, 0.72, 0.71, 0.705, 0.7, 0.7, 0.701, 0.7, 0.7, 0.7],
    "val_r2": [0.0, 0.15, 0.23, 0.28, 0.29, 0.295, 0.3, 0.3, 0.299, 0.3, 0.3, 0.3],
}
NOISY_AUDIT = dict(reference_val_loss=0.69, reference_metrics={"val_r2": 0.31, "val_mae": 0.7})


def names(findings) -> list[str]:
    return [finding.name for finding in findings]


# --- helpers ---------------------------------------------------------------------------


def test_ema_weights_the_newest_epoch():
    assert ema([10.0, 0.0, 0.0], 0.5).tolist() == [10.0, 5.0, 2.5]
    assert ema([10.0, 9.0, 8.0], 1.0).tolist() == [10.0, 9.0, 8.0]


def test_ema_carries_the_average_over_non_finite_epochs():
    assert ema([NAN, 4.0, NAN, 2.0], 0.5).tolist()[1:] == [4.0, 4.0, 3.0]
    assert math.isnan(ema([NAN, 4.0], 0.5)[0])


@pytest.mark.parametrize("weight", [0.0, -0.1, 1.5])
def test_ema_refuses_a_weight_outside_0_1(weight):
    with pytest.raises(ValueError, match="weight"):
        ema([1.0, 2.0], weight)


@pytest.mark.parametrize(
    "before, after, expected",
    [(10.0, 9.0, 0.1), (0.5, 0.5, 0.0), (2.0, 3.0, -0.5), (-4.0, -5.0, 0.25), (1e-4, 5e-5, 0.5)],
)
def test_relative_improvement_is_scale_free(before, after, expected):
    assert relative_improvement(before, after) == pytest.approx(expected)


def test_relative_improvement_of_zero_loss_is_zero():
    assert relative_improvement(0.0, 0.0) == 0.0


def test_smoothed_progress_skips_warm_up_and_needs_patience_plus_one_epochs():
    detection = DetectionConfig(patience=2, start_from_epoch=1, smoothing=1.0)
    assert smoothed_progress([100.0, 10.0, 9.0, 8.1], detection) == pytest.approx(0.19)
    assert smoothed_progress([100.0, 10.0, 9.0], detection) is None


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, True),
        ({"reference_val_loss": 0.6925, "reference_metrics": {"val_balanced_accuracy": 0.51}}, False),
        ({"reference_val_loss": 0.6925, "reference_metrics": {"val_balanced_accuracy": 0.8}}, True),
        ({"reference_val_loss": 0.3, "reference_metrics": {"val_balanced_accuracy": 0.52}}, True),
        ({"reference_val_loss": 0.7, "reference_metrics": {}}, False),
    ],
)
def test_reference_has_signal(overrides, expected):
    assert reference_has_signal(make_audit(**overrides)) is expected


def test_reference_without_signal_in_regression():
    audit = make_audit("regression", reference_val_loss=1.01, reference_metrics={"val_r2": -0.01})
    assert not reference_has_signal(audit)


def test_a_reference_within_noise_of_chance_on_a_small_split_has_no_signal():
    """Random labels, 100 validation rows: the better of two reference models scored 0.595
    balanced accuracy by luck (2 standard errors of a guess are 0.1 there) and a val_loss
    within 1% of the prior's. On 2,000 rows the same 0.595 is real signal."""
    lucky = dict(trivial_val_loss=0.6914, reference_val_loss=0.686, reference_metrics={"val_balanced_accuracy": 0.595})
    assert not reference_has_signal(make_audit(**lucky))
    assert reference_has_signal(make_audit(**lucky, n_val=2000))


def test_chance_margin_grows_on_small_or_imbalanced_splits():
    assert chance_margin(make_audit(n_val=100)) == pytest.approx(0.1)
    assert chance_margin(make_audit(n_val=10_000)) == pytest.approx(0.05)
    imbalanced = make_audit(n_val=100, class_balance={"0": 0.9, "1": 0.1}, majority_share=0.9)
    assert chance_margin(imbalanced) > chance_margin(make_audit(n_val=100))
    assert chance_margin(make_audit("regression")) == pytest.approx(0.05)


def test_an_overfitting_net_whose_val_loss_climbs_back_to_the_trivial_level_is_not_stuck():
    """200 rows memorized by a wide net: val_loss bottoms at 0.43, climbs back to the prior
    entropy and lingers there, while balanced accuracy stays at 0.87 (seen in a scenario).
    The loss alone is not evidence of a stuck net when the metric is far from chance."""
    history = {
        "loss": [0.68, 0.55, 0.46, 0.3, 0.2, 0.12, 0.065, 0.04, 0.021, 0.012, 0.009, 0.007, 0.005, 0.004, 0.0035,
                 0.003],
        "val_loss": [0.68, 0.6, 0.52, 0.46, 0.44, 0.43, 0.435, 0.45, 0.5, 0.55, 0.6, 0.65, 0.68, 0.685, 0.69, 0.69],
        "val_balanced_accuracy": [0.6, 0.8, 0.876, 0.873, 0.873, 0.873, 0.85, 0.873, 0.873, 0.873, 0.873, 0.873,
                                  0.873, 0.873, 0.873, 0.873],
    }
    audit = make_audit(trivial_val_loss=0.692, reference_val_loss=0.354,
                       reference_metrics={"val_accuracy": 0.9, "val_balanced_accuracy": 0.9}, n_val=40)
    found = names(detect_symptoms(history, audit, DETECTION))
    assert "stuck_at_trivial" not in found and "overfitting" in found
    assert check_early_stop(history, audit, DETECTION).name == "overfitting"  # issue 8: overfitting stops too


@pytest.mark.parametrize(
    "task, overrides, expected",
    [
        ("binary", {}, True),
        ("binary", {"loss": "BinaryCrossentropy"}, True),
        ("binary", {"loss": "mse"}, False),
        ("binary", {"output_activation": "linear"}, False),
        ("multiclass", {"loss": "categorical_crossentropy"}, True),
        ("regression", {"loss": "MeanSquaredError"}, True),
        ("regression", {"loss": "mae"}, False),
    ],
)
def test_loss_in_audit_scale(task, overrides, expected):
    assert loss_in_audit_scale(make_setup(task, **overrides)) is expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mse", "mean_squared_error"),
        ("Huber", "huber"),
        ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
    ],
)
def test_canonical_loss(name, expected):
    assert canonical_loss(name) == expected


@pytest.mark.parametrize(
    "name, expected", [(None, "linear"), ("", "linear"), ("HardSigmoid", "hard_sigmoid"), ("ReLU", "relu")]
)
def test_canonical_activation(name, expected):
    assert canonical_activation(name) == expected


def test_reference_gap_prefers_the_metric():
    gap = reference_gap(PLATEAU, make_audit(), DETECTION)
    assert gap.measure == "val_balanced_accuracy"
    assert gap.network == pytest.approx(0.75)
    assert gap.far


def test_reference_gap_falls_back_on_the_loss_in_the_audit_scale():
    history = {key: PLATEAU[key] for key in ("loss", "val_loss")}
    assert reference_gap(history, make_audit(), DETECTION).measure == "val_loss"
    assert reference_gap(history, make_audit(), DETECTION, setup=make_setup(loss="mse")) is None


# --- symptoms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history, expected",
    [
        (STUCK, "stuck_at_trivial"),
        (PLATEAU, "plateau"),
        (SLOW, "slow_convergence"),
        (OSCILLATING, "oscillation"),
        (OVERFITTING, "overfitting"),
        (DIVERGED_NAN, "diverged"),
        (DIVERGED_INF, "diverged"),
        (BLOWN_UP, "diverged"),
        (CONVERGED, "converged"),
    ],
    ids=["stuck", "plateau", "slow", "oscillating", "overfitting", "nan", "inf", "blown_up", "converged"],
)
def test_each_curve_shows_its_symptom_first(history, expected):
    findings = detect_symptoms(history, make_audit(), DETECTION)
    assert findings[0].name == expected
    assert all(finding.kind == "symptom" for finding in findings)
    assert all(0.0 <= finding.confidence <= 1.0 for finding in findings)


@pytest.mark.parametrize("history", [CONVERGED, STUCK, PLATEAU, SLOW, OVERFITTING])
def test_converged_is_reported_only_alone(history):
    found = names(detect_symptoms(history, make_audit(), DETECTION))
    assert "converged" not in found or found == ["converged"]


def test_findings_are_ranked_by_confidence():
    findings = detect_symptoms(OSCILLATING, make_audit(), DETECTION)
    confidences = [finding.confidence for finding in findings]
    assert confidences == sorted(confidences, reverse=True)


def test_nan_loss_is_diverged_with_full_confidence_and_alone():
    findings = detect_symptoms(DIVERGED_NAN, make_audit(), DETECTION)
    assert names(findings) == ["diverged"]
    assert findings[0].confidence == 1.0
    assert "epoch 4" in findings[0].evidence


def test_a_loss_all_nan_from_epoch_1_is_diverged():
    assert names(detect_symptoms({"loss": [NAN, NAN], "val_loss": [NAN, NAN]}, make_audit(), DETECTION)) == ["diverged"]


def test_a_validation_loss_never_measured_is_not_a_divergence():
    history = {"loss": CONVERGED["loss"], "val_loss": [NAN] * len(CONVERGED["loss"])}
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["converged"]


def test_near_zero_loss_wobble_is_not_a_divergence():
    history = {"loss": [0.69, 0.1, 0.01, 0.001, 0.0002, 0.0001, 0.0003, 0.0004, 0.0003, 0.0004]}
    assert "diverged" not in names(detect_symptoms(history, make_audit(), DETECTION))


def test_stuck_evidence_quotes_the_numbers():
    evidence = detect_symptoms(STUCK, make_audit(), DETECTION)[0].evidence
    assert "0.6931" in evidence and "trivial" in evidence and "epochs 6-10" in evidence
    assert "prior entropy" in evidence and "0.12" in evidence


def test_stuck_replaces_plateau():
    assert "plateau" not in names(detect_symptoms(STUCK, make_audit(), DETECTION))


def test_stuck_by_collapsed_metric_when_the_loss_has_another_scale():
    """mse on a sigmoid output: the loss sits at 0.25, not at the prior entropy."""
    history = {
        "loss": [0.26, 0.252, 0.2505, 0.2501, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
        "val_loss": [0.26, 0.251, 0.2502, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
        "val_balanced_accuracy": [0.5] * 10,
    }
    findings = detect_symptoms(history, make_audit(), DETECTION, setup=make_setup(loss="mse"))
    assert names(findings) == ["stuck_at_trivial"]
    assert "chance" in findings[0].evidence


def test_collapsed_predictions_are_stuck_even_while_a_mismatched_loss_falls():
    """Softmax on one unit: Keras trains the logits, so the loss falls; the output is always 1.0."""
    history = {
        "loss": [0.52, 0.3, 0.2, 0.15, 0.11, 0.09, 0.075, 0.06, 0.05, 0.043, 0.037, 0.032],
        "val_loss": [0.39, 0.25, 0.18, 0.15, 0.14, 0.12, 0.11, 0.105, 0.1, 0.1, 0.1, 0.1],
        "val_balanced_accuracy": [0.5] * 12,
        "pred_majority_share": [1.0] * 12,
    }
    setup = make_setup(output_activation="softmax")
    assert names(detect_symptoms(history, make_audit(), DETECTION, setup=setup))[0] == "stuck_at_trivial"
    assert check_early_stop(history, make_audit(), DETECTION, setup=setup).name == "stuck_at_trivial"
    assert "stuck_at_trivial" not in names(detect_symptoms(history, make_audit(), DETECTION))


def test_an_overconfident_net_above_the_trivial_loss_is_not_stuck():
    """Cross-entropy is unbounded: a net can score 0.9 balanced accuracy with val_loss above the prior entropy."""
    history = {
        "loss": [0.6, 0.3, 0.15, 0.08, 0.04, 0.02, 0.01, 0.005, 0.003, 0.002, 0.0015, 0.001],
        "val_loss": [0.6, 0.4, 0.35, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
        "val_balanced_accuracy": [0.7, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
    }
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["overfitting"]


def test_stuck_in_regression_by_r2():
    history = {
        "loss": [1.2, 1.05, 1.01, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "val_r2": [-0.2, -0.05, -0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    }
    assert names(detect_symptoms(history, make_audit("regression"), DETECTION))[0] == "stuck_at_trivial"


def test_a_net_that_generalized_then_memorized_back_to_the_trivial_level_overfits_it_is_not_stuck():
    """val_r2 0.38 at epoch 3, back to 0 by the end while the training loss falls 1000-fold: the
    net learned what generalizes and then fitted the training rows' noise (Prechelt's GL reads
    it); a net stuck at the trivial level never got away from it."""
    n = 24
    train = [0.4 * 0.7**i for i in range(n)]
    val = [0.7, 0.6, 0.52, 0.55, 0.6, 0.65, 0.7, 0.74, 0.77, 0.79, 0.8, 0.81] + [0.82] * (n - 12)
    r2 = [0.15, 0.27, 0.38, 0.34, 0.27, 0.2, 0.14, 0.09, 0.05, 0.03, 0.02, 0.01] + [0.0] * (n - 12)
    found = detect_symptoms({"loss": train, "val_loss": val, "val_r2": r2}, make_audit("regression"), DETECTION)
    assert names(found)[0] == "overfitting" and "stuck_at_trivial" not in names(found)
    assert "val_r2 reached 0.38 at epoch 3" in found[0].evidence
    # The same validation curve under a training loss that climbs back too: the step broke the
    # net, nothing memorized; stuck it stays.
    broken = [0.4, 0.3, 0.25] + [0.9] * (n - 3)
    found = detect_symptoms({"loss": broken, "val_loss": val, "val_r2": r2}, make_audit("regression"), DETECTION)
    assert names(found)[0] == "stuck_at_trivial"


def test_stuck_without_signal_in_the_data_has_lower_confidence():
    no_signal = make_audit(reference_val_loss=0.6925, reference_metrics={"val_balanced_accuracy": 0.51})
    with_signal = detect_symptoms(STUCK, make_audit(), DETECTION)[0]
    without = detect_symptoms(STUCK, no_signal, DETECTION)[0]
    assert without.name == "stuck_at_trivial"
    assert without.confidence < with_signal.confidence
    assert "no learnable signal" in without.evidence


def test_noisy_regression_at_the_reference_ceiling_is_converged_not_plateau():
    findings = detect_symptoms(NOISE_CEILING, make_audit("regression", **NOISY_AUDIT), DETECTION)
    assert names(findings) == ["converged"]
    assert "val_r2 0.2998" in findings[0].evidence and "0.31 (close)" in findings[0].evidence


def test_the_same_flat_curve_is_a_plateau_when_the_reference_does_much_better():
    findings = detect_symptoms(NOISE_CEILING, make_audit("regression"), DETECTION)
    assert names(findings) == ["plateau"]
    assert "val_r2" in findings[0].evidence and "0.7" in findings[0].evidence


def test_plateau_evidence_quotes_progress_and_gap():
    evidence = detect_symptoms(PLATEAU, make_audit(), DETECTION)[0].evidence
    assert "improved" in evidence and "0.75" in evidence and "0.95" in evidence


def test_a_flat_curve_at_the_reference_level_is_converged():
    history = {
        "loss": [0.69, 0.3, 0.15, 0.12, 0.115, 0.114, 0.114, 0.114, 0.114, 0.114],
        "val_loss": [0.69, 0.3, 0.16, 0.13, 0.125, 0.124, 0.124, 0.124, 0.124, 0.124],
        "val_balanced_accuracy": [0.5, 0.85, 0.92, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94],
    }
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["converged"]


def test_slow_convergence_is_not_a_plateau():
    found = names(detect_symptoms(SLOW, make_audit(), DETECTION))
    assert "slow_convergence" in found and "plateau" not in found


def test_the_same_flat_plateau_progress_is_judged_relative_to_the_loss_level():
    """A loss 100x larger with the same shape gives the same symptom: min_delta is relative."""
    scaled = {
        "loss": [100 * value for value in PLATEAU["loss"]],
        "val_balanced_accuracy": PLATEAU["val_balanced_accuracy"],
    }
    assert names(detect_symptoms(scaled, make_audit(), DETECTION, setup=make_setup(loss="mse"))) == ["plateau"]


def test_overfitting_evidence_names_the_best_epoch():
    finding = next(f for f in detect_symptoms(OVERFITTING, make_audit(), DETECTION) if f.name == "overfitting")
    assert "epoch 6" in finding.evidence and "kept falling" in finding.evidence


def test_a_mild_but_sustained_rise_of_val_loss_is_overfitting():
    """A noisy regression: val_loss creeps up 10-15% over 15 epochs while the training loss keeps falling."""
    history = {
        "loss": [0.91, 0.61, 0.45, 0.39, 0.36, 0.35, 0.34, 0.33, 0.32, 0.31, 0.3, 0.29, 0.28, 0.27, 0.26, 0.25, 0.24,
                 0.23, 0.22, 0.21],
        "val_loss": [0.72, 0.54, 0.47, 0.466, 0.472, 0.47, 0.47, 0.473, 0.476, 0.48, 0.485, 0.49, 0.496, 0.502, 0.51,
                     0.52, 0.525, 0.53, 0.535, 0.54],
    }
    audit = make_audit("regression", trivial_val_loss=0.93, reference_val_loss=0.42)
    finding = detect_symptoms(history, audit, DETECTION)[0]
    assert finding.name == "overfitting"
    assert "epoch 4" in finding.evidence and "lowest 0.52" in finding.evidence


def test_oscillation_needs_no_net_progress():
    falling_bumpy = {"loss": [1.0, 0.8, 0.85, 0.6, 0.65, 0.45, 0.5, 0.3, 0.35, 0.2, 0.25, 0.12]}
    assert "oscillation" not in names(detect_symptoms(falling_bumpy, make_audit(), DETECTION))


def test_small_noise_is_not_oscillation():
    noisy = {
        "loss": [0.69, 0.3, 0.15, 0.12, 0.121, 0.119, 0.12, 0.119, 0.121, 0.12, 0.119, 0.12],
        "val_balanced_accuracy": [0.5, 0.85, 0.92, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94],
    }
    assert names(detect_symptoms(noisy, make_audit(), DETECTION)) == ["converged"]


def test_a_noisy_validation_loss_near_its_floor_is_converged():
    """A small validation split: val_loss wobbles by ~10% of itself at the reference level."""
    history = {
        "loss": [0.69, 0.35, 0.2, 0.14, 0.11, 0.095, 0.085, 0.078, 0.072, 0.067, 0.063, 0.06, 0.057, 0.055, 0.053,
                 0.051],
        "val_loss": [0.68, 0.36, 0.22, 0.16, 0.13, 0.11, 0.1, 0.09, 0.082, 0.09, 0.078, 0.088, 0.08, 0.09, 0.079,
                     0.088],
        "val_balanced_accuracy": [0.5, 0.85, 0.9, 0.93, 0.94, 0.95, 0.94, 0.95, 0.96, 0.94, 0.96, 0.95, 0.96, 0.94,
                                  0.96, 0.95],
    }
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["converged"]


def test_too_short_a_run_is_converged_with_low_confidence():
    findings = detect_symptoms({"loss": [0.69, 0.5, 0.4]}, make_audit(), DETECTION)
    assert names(findings) == ["converged"]
    assert findings[0].confidence <= 0.5


def test_missing_signals_are_not_measured():
    history = dict(PLATEAU, grad_norm=[NAN] * 12)
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["plateau"]


def test_a_history_without_losses_is_refused_with_the_column_names():
    with pytest.raises(ValueError, match="'loss' or 'val_loss'"):
        detect_symptoms({"val_accuracy": [0.5]}, make_audit(), DETECTION)


def test_a_pandas_dataframe_works_as_the_history():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(PLATEAU)
    assert names(detect_symptoms(frame, make_audit(), DETECTION)) == ["plateau"]


@pytest.mark.parametrize("patience", [3, 5, 8])
def test_stuck_needs_patience_flat_epochs(patience):
    detection = DetectionConfig(patience=patience)
    enough = {"loss": [0.6931] * (3 + patience + 1), "val_balanced_accuracy": [0.5] * (3 + patience + 1)}
    short = {key: values[:-1] for key, values in enough.items()}
    assert names(detect_symptoms(enough, make_audit(), detection)) == ["stuck_at_trivial"]
    assert "stuck_at_trivial" not in names(detect_symptoms(short, make_audit(), detection))


# --- check_early_stop -----------------------------------------------------------------


def test_early_stop_on_nan_at_once_even_during_warm_up():
    finding = check_early_stop({"loss": [0.69, NAN], "val_loss": [0.68, NAN]}, make_audit(), DETECTION)
    assert finding is not None and finding.name == "diverged" and finding.confidence == 1.0


def test_early_stop_when_stuck_for_patience_epochs():
    losses = [0.6931] * 12
    history = {"loss": losses, "val_loss": losses, "val_balanced_accuracy": [0.5] * 12}
    first = next(
        epoch for epoch in range(1, 13)
        if check_early_stop({k: v[:epoch] for k, v in history.items()}, make_audit(), DETECTION) is not None
    )
    assert first == DETECTION.start_from_epoch + DETECTION.patience + 1
    assert check_early_stop(history, make_audit(), DETECTION).name == "stuck_at_trivial"


def test_early_stop_never_triggers_on_a_healthy_run_that_starts_near_trivial():
    history = {
        "loss": [0.694, 0.693, 0.693, 0.692, 0.69, 0.68, 0.65, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.18, 0.17],
        "val_loss": [0.694, 0.693, 0.693, 0.692, 0.69, 0.681, 0.655, 0.61, 0.52, 0.42, 0.33, 0.28, 0.24, 0.22, 0.21],
        "val_balanced_accuracy": [0.5, 0.5, 0.5, 0.5, 0.5, 0.52, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.91, 0.92, 0.92],
        "pred_majority_share": [1.0, 1.0, 1.0, 1.0, 0.98, 0.9, 0.8, 0.7, 0.6, 0.55, 0.52, 0.5, 0.5, 0.5, 0.5],
    }
    for epoch in range(1, 16):
        partial = {key: values[:epoch] for key, values in history.items()}
        assert check_early_stop(partial, make_audit(), DETECTION) is None, f"stopped at epoch {epoch}"


def test_early_stop_never_triggers_on_a_slow_start_on_imbalanced_data():
    """The net first learns the prior: balanced accuracy stays at chance while the loss keeps falling."""
    history = {
        "loss": [0.69, 0.62, 0.56, 0.51, 0.47, 0.44, 0.41, 0.39, 0.37, 0.35],
        "val_balanced_accuracy": [0.5] * 10,
    }
    audit = make_audit(majority_share=0.9, trivial_val_loss=0.325)
    for epoch in range(1, 11):
        assert check_early_stop({k: v[:epoch] for k, v in history.items()}, audit, DETECTION) is None


@pytest.mark.parametrize("history", [CONVERGED, PLATEAU, SLOW, OSCILLATING])
def test_early_stop_leaves_other_symptoms_to_the_full_detection(history):
    assert check_early_stop(history, make_audit(), DETECTION) is None


def test_early_stop_on_overfitting_confirmed_for_patience_epochs():
    """OVERFITTING's val_loss bottoms at epoch 6: the baseline stops once it has stayed 10%
    above that minimum for ``patience`` epochs, and the full detection on the stopped history
    agrees. The full detection judges a finished run by Prechelt's generalization loss on the
    median of its last 3 epochs, so it calls the run overfit an epoch before the (final, so
    more patient) stop does: GL 30 at 12 epochs."""
    first = next(
        epoch for epoch in range(1, len(OVERFITTING["loss"]) + 1)
        if check_early_stop({k: v[:epoch] for k, v in OVERFITTING.items()}, make_audit(), DETECTION) is not None
    )
    partial = {k: v[:first] for k, v in OVERFITTING.items()}
    stopped = check_early_stop(partial, make_audit(), DETECTION)
    assert stopped.name == "overfitting" and "epoch 6" in stopped.evidence
    assert first < len(OVERFITTING["loss"])
    assert "overfitting" in names(detect_symptoms(partial, make_audit(), DETECTION))
    before = {k: v[: first - 1] for k, v in OVERFITTING.items()}
    assert check_early_stop(before, make_audit(), DETECTION) is None
    assert "overfitting" in names(detect_symptoms(before, make_audit(), DETECTION))


def test_early_stop_ignores_a_validation_loss_wobbling_near_its_floor():
    """A noisy val_loss that dips and returns (+-8% around 0.3) is not a confirmed rise."""
    history = {
        "loss": [0.69, 0.5, 0.4, 0.33, 0.3, 0.28, 0.26, 0.25, 0.24, 0.23, 0.22, 0.21, 0.2, 0.19, 0.18, 0.17],
        "val_loss": [0.68, 0.5, 0.4, 0.34, 0.31, 0.29, 0.32, 0.28, 0.31, 0.3, 0.33, 0.29, 0.32, 0.3, 0.31, 0.3],
        "val_balanced_accuracy": [0.5, 0.8, 0.85, 0.88, 0.9, 0.9, 0.89, 0.9, 0.9, 0.9, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9],
    }
    for epoch in range(1, len(history["loss"]) + 1):
        assert check_early_stop({k: v[:epoch] for k, v in history.items()}, make_audit(), DETECTION) is None


def test_early_stop_agrees_with_the_full_detection():
    losses = [0.6931] * 9
    partial = {"loss": losses, "val_loss": losses}
    stopped = check_early_stop(partial, make_audit(), DETECTION)
    assert stopped.name == detect_symptoms(partial, make_audit(), DETECTION)[0].name


# --- purity -----------------------------------------------------------------------------


def test_detection_diagnosis_and_planning_import_no_framework():
    code = (
        "import sys, plateau_doctor.engine.detection, plateau_doctor.engine.diagnosis, plateau_doctor.engine.planning, plateau_doctor.engine.causes; "
        "loaded = [m for m in ('tensorflow', 'keras', 'prefect', 'jax', 'torch') if m in sys.modules]; "
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"imported {result.stdout.strip()} {result.stderr[-500:]}"


@pytest.mark.parametrize(
    "losses, accuracies, expected",
    [
        ([0.79, 0.76, 0.74, 0.73, 0.71, 0.70], [0.5] * 6, "slow_convergence"),  # falling, still at chance
        ([0.70, 0.70, 0.70, 0.70], [0.5] * 4, "plateau"),  # flat, at chance
    ],
)
def test_a_run_too_short_to_judge_is_not_called_healthy_when_far_from_the_reference(losses, accuracies, expected):
    history = {"loss": losses, "val_loss": losses, "val_balanced_accuracy": accuracies}
    (finding,) = detect_symptoms(history, make_audit(trivial_val_loss=0.6), DETECTION)
    assert finding.name == expected
    assert finding.confidence == 0.5
    assert f"only {len(losses)} epoch(s)" in finding.evidence


def test_a_short_run_close_to_the_reference_is_converged():
    losses = [0.4, 0.2, 0.15, 0.13]
    history = {"loss": losses, "val_loss": losses, "val_balanced_accuracy": [0.9, 0.94, 0.95, 0.95]}
    (finding,) = detect_symptoms(history, make_audit(), DETECTION)
    assert finding.name == "converged"


# --- the proper score in the gap to the reference (issue 8) ----------------------------------

def test_a_close_balanced_accuracy_with_a_log_loss_near_the_prior_is_not_converged():
    audit = make_audit(**CANCER_AUDIT)
    gap = reference_gap(UNDERCONFIDENT, audit, DETECTION)
    assert gap.measure == "val_log_loss" and gap.far
    assert "converged" not in names(detect_symptoms(UNDERCONFIDENT, audit, DETECTION))
    without = {key: values for key, values in UNDERCONFIDENT.items() if key != "val_log_loss"}
    assert reference_gap(without, audit, DETECTION).measure == "val_balanced_accuracy"
    assert not reference_gap(without, audit, DETECTION).far


def test_a_log_loss_worse_only_by_the_prior_shift_of_class_weights_is_no_gap():
    # Balanced class weights on a 92:8 task: the net separates the classes about as well as the
    # reference (balanced accuracy 0.95 against 0.976), and its raw log loss (0.30) is the
    # weights' doing; with one offset per class matching its mean prediction to the class
    # shares it is 0.09, near the reference's 0.078.
    audit = make_audit(**CANCER_AUDIT)
    weighted = dict(CONVERGED, val_log_loss=[0.5] * 6 + [0.3] * 6,
                    val_log_loss_prior_matched=[0.3] * 6 + [0.09] * 6)
    gap = reference_gap(weighted, audit, DETECTION)
    assert gap.measure == "val_balanced_accuracy" and not gap.far
    assert names(detect_symptoms(weighted, audit, DETECTION)) == ["converged"]
    # A penalty that holds the probabilities near the prior gains nothing from the offsets.
    held = dict(UNDERCONFIDENT, val_log_loss_prior_matched=[v - 0.01 for v in UNDERCONFIDENT["val_log_loss"]])
    gap = reference_gap(held, audit, DETECTION)
    assert gap.measure == "val_log_loss_prior_matched" and gap.far


def test_a_well_calibrated_net_is_judged_on_its_metric():
    history = dict(CONVERGED, val_log_loss=[0.68, 0.42, 0.25, 0.15, 0.12, 0.11, 0.105, 0.1, 0.1, 0.1, 0.1, 0.1])
    gap = reference_gap(history, make_audit(), DETECTION)
    assert gap.measure == "val_balanced_accuracy" and not gap.far
    assert names(detect_symptoms(history, make_audit(), DETECTION)) == ["converged"]


def test_early_stop_leaves_an_oscillating_run_whose_validation_loss_bounces_up_to_the_full_detection():
    """SGD at too large a step (as in the lr_too_high_sgd_regression scenario): the training loss
    zig-zags, the validation loss bounces ever higher above its minimum. The rise is the step
    size's, so the baseline is not stopped as overfitting, and the full detection does not call
    it overfitting either: the training loss has not fallen beyond its own scatter since the
    validation minimum (a rise of both is instability, not memorization)."""
    history = {
        "loss": [1.0, 0.8, 0.7, 0.6, 0.5, 0.45, 0.42, 0.4, 0.55, 0.38, 0.6, 0.36, 0.58, 0.35, 0.6, 0.34, 0.62, 0.33],
        "val_loss": [1.0, 0.8, 0.7, 0.6, 0.5, 0.45, 0.5, 0.7, 0.6, 0.9, 0.65, 1.0, 0.7, 1.1, 0.75, 1.2, 0.8, 1.3],
        "val_r2": [0.0, 0.2, 0.3, 0.4, 0.5, 0.55, 0.5, 0.3, 0.4, 0.1, 0.35, 0.0, 0.3, -0.1, 0.25, -0.2, 0.2, -0.3],
    }
    audit = make_audit("regression")
    assert set(names(detect_symptoms(history, audit, DETECTION))) == {"oscillation"}
    for epoch in range(1, len(history["loss"]) + 1):
        assert check_early_stop({k: v[:epoch] for k, v in history.items()}, audit, DETECTION) is None


# A net thinned by heavy dropout: its training loss (measured on the thinned net) keeps
# moving, noisily, above the validation loss; the validation loss stopped improving far
# short of the reference model.
THINNED = {
    "loss": [1.3, 1.2, 1.25, 1.1, 1.05, 1.12, 0.98, 1.02, 0.95, 0.99, 0.9, 0.94, 0.86, 0.9],
    "val_loss": [0.69, 0.66, 0.64, 0.63, 0.625, 0.622, 0.622, 0.623, 0.625, 0.626, 0.628, 0.63, 0.631, 0.632],
    "val_balanced_accuracy": [0.5, 0.6, 0.66, 0.68, 0.69, 0.7, 0.7, 0.69, 0.69, 0.68, 0.68, 0.67, 0.67, 0.67],
}


def test_a_moving_training_loss_above_a_stalled_validation_loss_far_from_the_reference_is_a_plateau():
    findings = detect_symptoms(THINNED, make_audit(), DETECTION)
    assert names(findings) == ["plateau"]
    evidence = findings[0].evidence
    assert "val_loss" in evidence and "at or above the validation loss" in evidence and "0.95" in evidence


def test_the_same_thinned_curves_at_the_reference_level_are_converged():
    audit = make_audit(reference_metrics={"val_accuracy": 0.7, "val_balanced_accuracy": 0.69}, reference_val_loss=0.6)
    assert names(detect_symptoms(THINNED, audit, DETECTION)) == ["converged"]


def test_a_stalled_validation_loss_under_a_falling_training_loss_is_not_called_a_plateau():
    """Training loss below the validation loss: the net fits its rows better than unseen ones
    (overfitting's shape), so the stalled validation curve is not an underfit plateau."""
    history = {
        "loss": [0.69, 0.6, 0.55, 0.5, 0.46, 0.43, 0.41, 0.39, 0.37, 0.35, 0.33, 0.31, 0.29, 0.27],
        "val_loss": [0.69, 0.63, 0.6, 0.58, 0.575, 0.574, 0.575, 0.576, 0.578, 0.58, 0.582, 0.584, 0.586, 0.588],
        "val_balanced_accuracy": [0.5, 0.62, 0.66, 0.7, 0.72, 0.72, 0.72, 0.72, 0.72, 0.72, 0.72, 0.72, 0.72, 0.72],
    }
    assert "plateau" not in names(detect_symptoms(history, make_audit(), DETECTION))


def test_a_noisy_training_loss_over_a_steadily_falling_validation_loss_is_slow_convergence():
    """Heavy dropout makes the training loss too noisy to call steady; the validation loss,
    measured on the whole net, still falls every epoch, far short of the reference."""
    history = {
        "loss": [1.6, 1.5, 1.45, 1.3, 1.35, 1.22, 1.27, 1.15, 1.2, 1.08, 1.13, 1.0, 1.06, 0.95],
        "val_loss": [0.69, 0.68, 0.675, 0.67, 0.665, 0.66, 0.655, 0.65, 0.644, 0.638, 0.632, 0.626, 0.62, 0.614],
        "val_balanced_accuracy": [0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.67, 0.68],
    }
    findings = detect_symptoms(history, make_audit(), DETECTION)
    assert names(findings) == ["slow_convergence"]
    assert findings[0].evidence.startswith("val_loss still falls at the end (loss falls too, unsteadily)")


# An MLP on 250 rows of circles with distractor columns, ended by its own EarlyStopping
# (patience 4) at epoch 14 of 150: the training loss falls 8% an epoch, the validation loss
# has not improved for 4 epochs, and the reference (gradient boosting) is far ahead.
EARLY_STOPPED = {
    "loss": [0.68, 0.59, 0.51, 0.43, 0.37, 0.31, 0.26, 0.22, 0.18, 0.15, 0.125, 0.105, 0.088, 0.074],
    "val_loss": [0.69, 0.66, 0.64, 0.62, 0.6, 0.585, 0.575, 0.57, 0.5685, 0.5683, 0.5686, 0.5692, 0.5701, 0.5715],
    "val_balanced_accuracy": [0.5, 0.55, 0.6, 0.64, 0.67, 0.69, 0.71, 0.72, 0.73, 0.735, 0.737, 0.738, 0.74, 0.74],
}


def test_a_fit_ended_by_a_callback_with_the_validation_loss_stalled_is_not_slow_convergence():
    """The same curves are slow convergence when the budget cut them short, and not when a
    callback (EarlyStopping on val_loss) ended the fit: the net has stopped gaining on unseen
    rows, and the training loss still falling is no reason to train on."""
    audit = make_audit(reference_metrics={"val_balanced_accuracy": 0.9})
    budget = detect_symptoms(EARLY_STOPPED, audit, DETECTION, setup=make_setup(epochs=14))
    assert names(budget) == ["slow_convergence"] and budget[0].evidence.startswith("loss still falls")
    stopped = detect_symptoms(EARLY_STOPPED, audit, DETECTION, setup=make_setup(epochs=150, ended_early=True))
    assert names(stopped) == ["converged"]
    assert "a callback ended the fit at epoch 14 of its 150 with val_loss no longer falling" in stopped[0].evidence


def test_a_fit_ended_by_a_callback_whose_validation_loss_still_falls_is_slow_convergence():
    """A callback that stops a fit on noise (patience 1) leaves a validation loss still falling
    steadily: that is slow convergence, read on the validation loss."""
    found = detect_symptoms(SLOW, make_audit(), DETECTION, setup=make_setup(epochs=40, ended_early=True))
    assert names(found) == ["slow_convergence"]
    assert found[0].evidence.startswith("val_loss still falls at the end (a callback ended the fit at epoch 12 of its 40)")


# A linear model on two moons (seen in a scenario): both curves flat from epoch 5, the
# training loss 0.263 already below the reference model's validation loss 0.285, the
# validation score 0.86 against the reference's 0.94.
FLAT_BELOW_REFERENCE_LOSS = {
    "loss": [0.5, 0.33, 0.28, 0.266, 0.2632, 0.2631, 0.2631, 0.2631, 0.2631, 0.2631, 0.2631, 0.2632],
    "val_loss": [0.52, 0.39, 0.36, 0.35, 0.3478, 0.3478, 0.3477, 0.3477, 0.3477, 0.3477, 0.3477, 0.3477],
    "val_balanced_accuracy": [0.8, 0.85, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858, 0.858],
}


def test_a_flat_run_clearly_worse_than_the_reference_is_a_plateau_even_when_its_training_loss_is_low():
    """A training loss is not comparable with the reference's validation loss: a low one does
    not make a validation score 0.08 under the reference's a generalization matter."""
    audit = make_audit(reference_val_loss=0.285, reference_metrics={"val_accuracy": 0.94, "val_balanced_accuracy": 0.94})
    assert names(detect_symptoms(FLAT_BELOW_REFERENCE_LOSS, audit, DETECTION)) == ["plateau"]


# 150 training reviews, 600 validation reviews, a token CNN with no regularization (a heldout7
# fit, measured): the training loss falls to 2e-4, the validation loss leaves ln 2 at epoch 8
# and climbs 70% above it, while the balanced accuracy ends 0.573. The bag-of-tokens reference
# sits at chance (0.509; negation flips the words' sentiment).
_TRAIN = [0.6927, 0.6801, 0.667, 0.6479, 0.616, 0.5677, 0.4957, 0.3963, 0.2819, 0.1722, 0.0888, 0.0405, 0.0182,
          0.0089, 0.005, 0.0032, 0.0023, 0.0018, 0.0015, 0.0013, 0.0011, 0.001, 0.0009, 0.0009, 0.0008]
_VAL = [0.7027, 0.6993, 0.6954, 0.6951, 0.6958, 0.6947, 0.6904, 0.6963, 0.7037, 0.7292, 0.761, 0.8086, 0.8537,
        0.8947, 0.9323, 0.9621, 0.9833, 0.9988, 1.011, 1.0215, 1.0307, 1.0386, 1.0453, 1.0511, 1.0563]


@pytest.mark.parametrize("ends_at, overfit", [(0.573, True), (0.51, False)])
def test_memorizing_a_net_whose_predictions_beat_chance_is_overfitting_though_its_loss_never_beat_trivial(ends_at, overfit):
    accuracy = [0.5] * 6 + [0.54] * 4 + [ends_at] * 15
    history = {"loss": _TRAIN, "val_loss": _VAL, "val_balanced_accuracy": accuracy}
    audit = make_audit(trivial_val_loss=0.6926, reference_val_loss=0.8926, n_val=600,
                       reference_metrics={"val_accuracy": 0.508, "val_balanced_accuracy": 0.509})
    names_found = [s.name for s in detect_symptoms(history, audit, DETECTION)]
    # Above chance by more than 600 rows' noise, it learned something and lost it to memorizing;
    # within the noise, memorizing from the start is no signal to lose, not overfitting.
    assert ("overfitting" in names_found) == overfit, names_found
    if overfit:  # the reference at chance cannot say "no signal" when the network itself beats chance
        from plateau_doctor.engine.diagnosis import diagnose

        causes = [c.name for c in diagnose(history, audit, make_setup(), DETECTION)]
        assert causes[0] == "overfitting" and "no_learnable_signal" not in causes, causes


# A user's EarlyStopping(patience=10, restore_best_weights=True): val_loss bottoms at epoch 8 and
# climbs for the 10 epochs of patience while the training loss keeps falling; the callback then
# puts epoch 8's weights back.
RESTORED = {
    "loss": [0.66, 0.55, 0.47, 0.41, 0.36, 0.32, 0.29, 0.26, 0.23, 0.2, 0.18, 0.16, 0.14, 0.12, 0.1, 0.09, 0.08, 0.07],
    "val_loss": [0.67, 0.58, 0.52, 0.48, 0.46, 0.45, 0.44, 0.435, 0.44, 0.45, 0.47, 0.49, 0.51, 0.53, 0.56, 0.59, 0.62, 0.65],
    "val_balanced_accuracy": [0.6, 0.68, 0.73, 0.76, 0.77, 0.78, 0.79, 0.8, 0.79, 0.78, 0.77, 0.76, 0.75, 0.74, 0.73,
                              0.72, 0.71, 0.7],
}


def test_overfitting_after_the_epoch_a_callback_restored_does_not_touch_the_kept_model():
    """Read to its end the fit overfits; but the model it leaves is epoch 8's, GL 0 by Prechelt's
    criterion, and as close to the reference as it ever got: the user's restore mended it. A
    restore that kept an epoch well up the rise (GL >= 5) mends nothing."""
    audit = make_audit(reference_metrics={"val_balanced_accuracy": 0.82})
    setup = dict(epochs=100, ended_early=True)
    read_to_the_end = detect_symptoms(RESTORED, audit, DETECTION, setup=make_setup(**setup))
    assert names(read_to_the_end) == ["overfitting"]
    kept = detect_symptoms(RESTORED, audit, DETECTION, setup=make_setup(**setup, kept_epoch=8))
    assert names(kept) == ["converged"]
    assert "a callback restored epoch 8's weights at the end of the fit: the kept model's val_loss 0.435" in kept[0].evidence
    assert "val_balanced_accuracy 0.8 vs the reference model's 0.82 (close)" in kept[0].evidence  # epoch 8's own
    late = detect_symptoms(RESTORED, audit, DETECTION, setup=make_setup(**setup, kept_epoch=15))
    assert names(late) == ["overfitting"]


def test_the_gap_of_a_restored_epoch_is_its_own_score_not_a_mean_with_the_epochs_before_it():
    """A 100-row digits MLP whose EarlyStopping(patience=3, restore) keeps epoch 2 of 5: the kept
    model scores 0.865 against the reference's 0.90 (close). A mean with epoch 1 (0.79, still
    rising) would score a model nobody keeps, 0.83, "clearly worse"."""
    history = {"loss": [1.2, 0.4, 0.15, 0.06, 0.03], "val_loss": [0.95, 0.86, 0.87, 0.88, 0.9],
               "val_balanced_accuracy": [0.79, 0.865, 0.85, 0.855, 0.86]}
    audit = make_audit("multiclass", reference_metrics={"val_balanced_accuracy": 0.9})
    gap = reference_gap(history, audit, DETECTION, setup=make_setup("multiclass", kept_epoch=2, ended_early=True))
    assert gap.network == pytest.approx(0.865) and not gap.far
    last = reference_gap(history, audit, DETECTION, setup=make_setup("multiclass", kept_epoch=5))
    assert last == reference_gap(history, audit, DETECTION)  # the last epoch kept: the usual reading
