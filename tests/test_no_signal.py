"""No signal is `no_learnable_signal`, never healthy: constant features, short runs, noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from builders import DETECTION, make_audit, make_setup

from plateau_doctor.config import DataConfig, PreprocessingConfig
from plateau_doctor.data.prepared import prepare_data
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.levels import reference_gap, reference_has_signal
from plateau_doctor.engine.diagnosis import diagnose

# Six epochs at chance: too short for the plateau tests, which need warm-up plus patience.
SHORT_AT_CHANCE = {
    "loss": [0.75, 0.70, 0.695, 0.694, 0.693, 0.693],
    "val_loss": [0.74, 0.70, 0.694, 0.693, 0.693, 0.693],
    "val_balanced_accuracy": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
}
NO_SIGNAL = dict(reference_val_loss=0.6931, reference_metrics={"val_accuracy": 0.5, "val_balanced_accuracy": 0.5})


def _stuck_without_signal(history, audit):
    """The run reads stuck_at_trivial, says the data may hold no signal, and names that cause first."""
    symptoms = detect_symptoms(history, audit, DETECTION)
    assert [s.name for s in symptoms] == ["stuck_at_trivial"]
    assert "no learnable signal" in symptoms[0].evidence
    causes = diagnose(history, audit, make_setup(), DETECTION, symptoms=symptoms)
    assert causes[0].name == "no_learnable_signal"


def test_a_short_run_at_chance_on_data_without_signal_is_stuck_not_converged():
    _stuck_without_signal(SHORT_AT_CHANCE, make_audit(**NO_SIGNAL))


def test_the_rule_needs_the_reference_at_chance_too():
    symptoms = detect_symptoms(SHORT_AT_CHANCE, make_audit(), DETECTION)  # the reference reaches 0.95
    assert "no learnable signal" not in " ".join(s.evidence for s in symptoms)


def test_a_network_above_chance_on_weak_data_is_not_flagged_by_the_rule():
    above = {**SHORT_AT_CHANCE, "val_balanced_accuracy": [0.5, 0.6, 0.7, 0.75, 0.8, 0.8]}
    symptoms = detect_symptoms(above, make_audit(**NO_SIGNAL), DETECTION)
    assert "no learnable signal" not in " ".join(s.evidence for s in symptoms)


def test_regression_at_r2_zero_without_signal_is_stuck():
    history = {"loss": [1.2, 1.0, 1.0, 1.0], "val_loss": [1.1, 1.0, 1.0, 1.0], "val_r2": [-0.1, 0.0, 0.0, 0.0]}
    audit = make_audit("regression", reference_val_loss=1.0, reference_metrics={"val_r2": 0.0, "val_mae": 0.8})
    assert [s.name for s in detect_symptoms(history, audit, DETECTION)] == ["stuck_at_trivial"]


def test_the_audit_of_all_constant_features_finds_no_signal():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": np.full(400, float(i)) for i in range(4)})
    frame["target"] = rng.integers(0, 2, 400)
    prepared = prepare_data(frame, DataConfig(path="x.csv"), PreprocessingConfig())
    assert not reference_has_signal(prepared.audit)



# Random binary labels, 100 validation rows: the better of the two reference models scored
# 0.556 by luck (within two standard errors of a guess, 0.1 there) and a val_loss above the
# prior's. The net guesses, memorizes a little, and a user's EarlyStopping(patience=2) ends it.
LUCKY_REFERENCE = dict(reference_val_loss=0.70, reference_metrics={"val_accuracy": 0.556, "val_balanced_accuracy": 0.556})
GUESSING = {
    "loss": [0.72, 0.70, 0.69, 0.68, 0.67],
    "val_loss": [0.70, 0.705, 0.71, 0.72, 0.725],
    "val_balanced_accuracy": [0.45, 0.44, 0.43, 0.43, 0.426],
}


def test_falling_short_of_a_reference_that_found_no_signal_is_not_a_gap():
    """0.13 short of a lucky 0.556 spans 2.6 of the 0.05 thresholds, but the data allow only
    chance: there is no level the net stopped short of (before, the short run read as a
    plateau "clearly worse" than the reference); it guesses on data without signal."""
    audit = make_audit(**LUCKY_REFERENCE)
    gap = reference_gap(GUESSING, audit, DETECTION)
    assert gap is not None and gap.ratio > 1 and not gap.far
    assert "no better than chance" in gap.describe()
    _stuck_without_signal(GUESSING, audit)


def test_the_same_shortfall_from_a_reference_with_signal_is_a_gap():
    """The control: on 2,000 validation rows the same 0.556 is signal (two standard errors of a
    guess are 0.045 there), and the short run 0.12 below it stopped clearly short of it."""
    audit = make_audit(**LUCKY_REFERENCE, n_val=2000)
    gap = reference_gap(GUESSING, audit, DETECTION)
    assert gap is not None and gap.far
    symptoms = detect_symptoms(GUESSING, audit, DETECTION)
    assert [s.name for s in symptoms] == ["plateau"]
    assert "clearly worse" in symptoms[0].evidence
