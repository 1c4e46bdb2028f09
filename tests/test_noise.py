"""A curve's own noise, its robust trend, the chance level a log pins, and Prechelt's criteria:
hand-written curves, no training."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from builders import DETECTION, make_audit

from plateau_doctor.engine import noise
from plateau_doctor.engine.chance import binary_entropy, read_chance
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.early_stopping import (
    _best_epoch, _floor_length, _scatter, floor_rise_bound, rise_beyond_noise, successive_rises, training_progress,
)
from plateau_doctor.schema import DataAudit

RNG = np.random.default_rng(19)


def names(findings) -> list[str]:
    return [finding.name for finding in findings]


# --- noise and trend ------------------------------------------------------------------


def test_the_scatter_of_white_noise_is_read_around_any_straight_trend():
    sigma = 0.05
    epochs = np.arange(400)
    for slope in (0.0, -0.01, 0.02):
        curve = 3.0 + slope * epochs + RNG.normal(0.0, sigma, epochs.size)
        assert noise.noise(curve) == pytest.approx(sigma, rel=0.15)


def test_a_few_spikes_do_not_inflate_the_scatter():
    curve = 1.0 + RNG.normal(0.0, 0.01, 60)
    spiked = curve.copy()
    spiked[[10, 30, 50]] += 5.0
    assert noise.noise(spiked) < 1.5 * noise.noise(curve)


def test_too_few_epochs_have_no_scatter():
    assert math.isnan(noise.noise(np.array([1.0, 0.9, 0.8, 0.7])))
    assert noise.trend(np.array([1.0, 0.9, 0.8, 0.7])) is None


def test_theil_sen_ignores_a_wild_epoch():
    curve = np.array([1.0, 0.9, 0.8, 0.7, 9.0, 0.5, 0.4, 0.3])
    assert noise.theil_sen(curve) == pytest.approx(-0.1)


def test_a_steady_fall_is_a_trend_and_the_same_fall_inside_wide_noise_is_not():
    smooth = 1.0 * 0.97 ** np.arange(11)
    assert noise.trend(smooth).falls
    wobbly = smooth * np.array([1.0, 1.3, 0.75, 1.3, 0.75, 1.3, 0.75, 1.3, 0.75, 1.3, 1.0])
    found = noise.trend(wobbly)
    assert not found.falls and not found.rises and found.relative


def test_a_curve_with_a_value_at_or_below_zero_is_read_in_its_own_units():
    curve = np.array([0.5, 0.2, -0.1, -0.4, -0.7, -1.0])
    found = noise.trend(curve)
    assert not found.relative and found.slope == pytest.approx(-0.3) and found.falls


def test_the_running_median_shrinks_at_the_ends_and_drops_one_wild_epoch():
    assert noise.running_median(np.array([1.0, 5.0, 1.0, 1.0])).tolist() == [3.0, 1.0, 1.0, 1.0]


# --- the chance level a log pins -------------------------------------------------------


def _log(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_a_loss_flat_at_ln_10_with_accuracy_at_a_tenth_is_chance_for_10_classes():
    history = _log(loss=[17.8] + [2.323] * 24, val_loss=[17.7] + [2.334] * 24, val_accuracy=[0.1022] + [0.1] * 24)
    chance = read_chance(history, DETECTION)
    assert chance.k == 10 and chance.trivial_loss == pytest.approx(math.log(10)) and chance.accuracy == pytest.approx(0.1)


def test_the_first_epochs_loss_at_ln_k_picks_k_among_those_the_accuracy_allows():
    """An accuracy of 0.13 fits 1/8 as well as 1/10; a first val_loss of 2.301 is ln 10."""
    history = _log(loss=[3.9] * 25, val_loss=[2.301] + [4.05] * 24, val_accuracy=[0.111] + [0.13] * 24)
    assert read_chance(history, DETECTION).k == 10


def test_losses_that_start_and_stay_at_ln_4_pin_four_classes_though_the_accuracy_fits_a_third():
    """A 4-class LSTM for 5 epochs (heldout4's h4_tokens_count_lstm_few_epochs): loss 1.386 ->
    1.380, validation accuracy 0.29-0.32, the majority share a constant prediction scores. 0.30
    fits 1/3 as well, but a first-epoch loss of ln 4 (to 0.02%) is four outputs at initialization,
    and ln 3 is 21% below every logged loss (before: k = 3, "no better than ln 3 = 1.099")."""
    history = _log(loss=[1.3863, 1.3851, 1.3838, 1.3823, 1.3806], val_loss=[1.3857, 1.3846, 1.3836, 1.3826, 1.3818],
                   val_accuracy=[0.29, 0.31, 0.32, 0.30, 0.31])
    chance = read_chance(history, DETECTION)
    assert chance.k == 4 and chance.trivial_loss == pytest.approx(math.log(4))
    without_a_start = _log(loss=[1.2, 1.1, 1.1, 1.1, 1.1], val_loss=[1.2, 1.1, 1.1, 1.1, 1.1],
                           val_accuracy=[0.29, 0.31, 0.32, 0.30, 0.31])
    assert read_chance(without_a_start, DETECTION).k == 3  # at ln 3 from the start: three classes


def test_a_loss_at_ln_3_pins_three_classes_whatever_class_the_constant_prediction_picks():
    history = _log(loss=[1386.0] + [1.09] * 40, val_loss=[1.097] + [1.091] * 40, val_accuracy=[0.3889] * 41)
    chance = read_chance(history, DETECTION)
    assert chance.k == 3 and math.isnan(chance.accuracy)


def test_a_flat_majority_share_with_the_priors_entropy_pins_an_imbalanced_binary_prior():
    share = 0.97
    history = _log(loss=[0.34] + [0.13] * 14, val_loss=[0.22] + [0.138] * 14, accuracy=[0.93] + [share] * 14,
                   val_accuracy=[0.968] + [share] * 14)
    chance = read_chance(history, DETECTION)
    assert chance.k == 2 and chance.accuracy == share and chance.trivial_loss == pytest.approx(binary_entropy(share))


def test_a_classifier_at_99_percent_whose_accuracy_still_moves_is_no_majority_prior():
    # A digit CNN: val_accuracy 0.990-0.993 over its last epochs and a val_loss of 0.03, inside
    # the band around H(0.992) = 0.047 that a 99% majority's prior would cost. A constant
    # prediction scores the same rows the same way every epoch; this one flips a row or two.
    tail = [0.990, 0.992, 0.991, 0.993, 0.991, 0.992]
    history = _log(loss=[0.17, 0.12, 0.10] + [0.027] * 6, val_loss=[0.073, 0.059, 0.055] + [0.03] * 6,
                   accuracy=[0.95, 0.97, 0.98] + [0.991] * 6, val_accuracy=[0.977, 0.981, 0.984] + tail)
    assert read_chance(history, DETECTION) is None
    frozen = _log(loss=[0.17, 0.12, 0.10] + [0.045] * 6, val_loss=[0.073, 0.059, 0.055] + [0.046] * 6,
                  accuracy=[0.95, 0.97, 0.98] + [0.992] * 6, val_accuracy=[0.977, 0.981, 0.984] + [0.992] * 6)
    chance = read_chance(frozen, DETECTION)  # the same share standing still at the prior's loss is one
    assert chance is not None and chance.k == 2 and chance.accuracy == pytest.approx(0.992)


def test_a_network_whose_accuracy_rose_is_not_at_chance_even_near_ln_k():
    """Three classes, accuracy 0.32 -> 0.49, val_loss levelling off at 1.07 (2.7% under ln 3)."""
    history = _log(loss=list(np.linspace(1.42, 1.03, 40)), val_loss=list(np.linspace(1.18, 1.069, 40)),
                   val_accuracy=list(np.linspace(0.32, 0.49, 40)))
    assert read_chance(history, DETECTION) is None


def test_a_healthy_log_pins_no_chance_level():
    falling = list(0.7 * 0.85 ** np.arange(20))
    history = _log(loss=falling, val_loss=falling, val_accuracy=list(np.linspace(0.6, 0.97, 20)))
    assert read_chance(history, DETECTION) is None


# --- Prechelt's criteria ---------------------------------------------------------------


def test_training_progress_is_prechelts_per_mille():
    assert training_progress(np.array([1.0, 1.0, 1.0, 1.0, 1.0])) == 0.0
    assert training_progress(np.array([0.6, 0.5, 0.45, 0.42, 0.4])) == pytest.approx(1000 * (0.474 / 0.4 - 1))


def test_up_s_counts_successive_rising_strips_back_from_the_end():
    level = np.array([5.0, 4, 3, 2, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5])
    assert successive_rises(level) == 1
    assert successive_rises(np.concatenate([np.linspace(5, 1, 6), np.linspace(1.2, 4, 10)])) == 2


def test_overfitting_evidence_quotes_prechelts_numbers():
    loss = list(1.0 * 0.88 ** np.arange(30))
    val = [0.9 - 0.05 * i for i in range(8)] + [0.5 + 0.04 * i for i in range(22)]
    finding = next(f for f in detect_symptoms({"loss": loss, "val_loss": val}, make_audit(), DETECTION)
                   if f.name == "overfitting")
    for words in ("generalization loss GL = 100 (E_va / E_opt - 1)", "P_5 =", "PQ = GL / P_5", "UP_"):
        assert words in finding.evidence


def test_a_noisy_validation_loss_that_dips_once_is_not_overfit():
    """A 30-row validation split: val_loss wobbles +-15% around a flat 0.3, one lucky epoch at 0.2."""
    loss = list(0.7 * 0.9 ** np.arange(30))
    val = [0.7, 0.5, 0.4, 0.32] + [0.3 * (1.15 if i % 2 else 0.87) for i in range(26)]
    val[8] = 0.2
    assert "overfitting" not in names(detect_symptoms({"loss": loss, "val_loss": val}, make_audit(), DETECTION))


def test_a_rise_within_the_noise_is_shown_on_the_healthy_verdict():
    """A maize-leaf classifier's History (corpus pub_json_maize): val_loss ends 26% above its best
    level, on a curve that wobbles 15% per epoch. Not overfitting, and the verdict says why with the
    numbers, where it said "final val_loss 0.2854 vs trivial nan and reference nan"."""
    loss = [0.2252, 0.1546, 0.1281, 0.0954, 0.0711, 0.0732, 0.05, 0.0583, 0.0256, 0.0469]
    val = [0.256, 0.2139, 0.2261, 0.2244, 0.3153, 0.2773, 0.2253, 0.2158, 0.2832, 0.2854]
    found = detect_symptoms({"loss": loss, "val_loss": val}, DataAudit.unknown("multiclass"), DETECTION)
    assert names(found) == ["converged"]
    evidence = found[0].evidence
    assert "26% above its best level 0.2244" in evidence and "scatter 0.1511 in log space" in evidence
    assert "nan" not in evidence and "chance balanced accuracy" not in evidence  # the classes are not known
    # a clear climb is overfitting, and a flat end says nothing of a rise
    assert names(detect_symptoms({"loss": loss, "val_loss": val[:5] + [0.32, 0.36, 0.41, 0.46, 0.52]},
                                 DataAudit.unknown("multiclass"), DETECTION))[0] == "overfitting"
    flat = detect_symptoms({"loss": loss, "val_loss": val[:4] + [0.225] * 6}, DataAudit.unknown("multiclass"), DETECTION)
    assert names(flat) == ["converged"] and "above its best level" not in flat[0].evidence


def test_a_floor_noisier_than_its_warm_up_is_read_with_its_own_scatter():
    """A validation loss falls smoothly (5% scatter) onto a flat floor that wobbles 15% per
    epoch, as its relative noise grows once its level is low. Read with the whole curve's
    scatter, the quiet warm-up halves it, and 20% of such flat floors were called overfit; the
    floor's own scatter keeps that near the test's 2.5%."""
    rng = np.random.default_rng(0)
    steps = np.arange(25)
    level = np.log(1.3) + np.minimum(steps, 10) / 10 * np.log(0.33 / 1.3)
    loss = list(1.2 * 0.85 ** steps)
    called = 0
    for _ in range(200):
        val = np.exp(level + rng.normal(0.0, 1.0, 25) * np.where(steps < 10, 0.05, 0.15))
        called += "overfitting" in names(detect_symptoms({"loss": loss, "val_loss": list(val)}, make_audit(), DETECTION))
    assert called / 200 <= 0.06
    # A rise of 2.7x over the same floor is still overfitting.
    rising = np.exp(level + np.clip(steps - 10, 0, None) / 14 + rng.normal(0.0, 1.0, 25) * np.where(steps < 10, 0.05, 0.15))
    assert "overfitting" in names(detect_symptoms({"loss": loss, "val_loss": list(rising)}, make_audit(), DETECTION))


# A validation loss falls onto a floor at 0.4 by epoch 13, then climbs 0.25 in log space over its
# last 17 epochs, with a scatter of 7% per epoch (one seeded draw of that recipe, written out).
CLIMB_ON_A_NOISY_FLOOR = [
    1.131, 0.972, 0.968, 0.857, 0.703, 0.774, 0.659, 0.637, 0.637, 0.525, 0.439, 0.415, 0.43, 0.367, 0.42,
    0.429, 0.391, 0.436, 0.454, 0.42, 0.435, 0.474, 0.423, 0.442, 0.51, 0.487, 0.445, 0.499, 0.58, 0.462,
]


def test_a_steady_climb_on_a_noisy_floor_is_overfitting_by_its_order():
    """No three epochs at the end stand out from a floor this noisy, but the order of all 16
    epochs after the best does (a public brain-tumour CNN log showed this)."""
    val = np.array(CLIMB_ON_A_NOISY_FLOOR)
    level = noise.running_median(val)
    end = float(np.median(val[-3:]))
    length = _floor_length(level, end)
    assert math.log(end / level.min()) < floor_rise_bound(length, _scatter(val, length)[0])  # the end alone: noise
    loss = list(1.2 * 0.93 ** np.arange(30))
    found = [f for f in detect_symptoms({"loss": loss, "val_loss": list(val)}, make_audit(), DETECTION)
             if f.name == "overfitting"]
    assert found and "Kendall's trend test p =" in found[0].evidence, found


def test_a_climb_on_a_floor_quieter_than_its_warm_up_is_overfitting():
    """A one-cycle schedule: the validation loss swings 2-3x while the rate is high, then, as it
    anneals, settles at 0.46 and climbs in order for 7 epochs (a public lung X-ray fine-tune).
    The scatter read over the swings hides the climb from the end's rise; the ranks read none."""
    loss = [0.47, 0.19, 0.12, 0.15, 0.13, 0.12, 0.10, 0.15, 0.15, 0.094, 0.12, 0.15, 0.074, 0.043, 0.032, 0.023,
            0.0038, 0.0094, 0.0042, 0.0036, 0.0011, 0.00021, 0.00027, 0.00017, 0.00032]
    swings = [1.22, 1.76, 3.17, 1.22, 1.14, 1.44, 3.53, 1.14, 3.95, 2.42, 1.92, 1.68, 1.79, 0.802, 0.823, 0.62, 1.27]
    climb = [0.458, 0.519, 0.526, 0.603, 0.63, 0.655, 0.665, 0.663]
    val = np.array(swings + climb)
    level = noise.running_median(val)
    end = float(np.median(val[-3:]))
    length = _floor_length(level, end)
    assert math.log(end / level.min()) < floor_rise_bound(length, _scatter(val, length)[0], alpha=0.0125)
    assert "Kendall's trend test" in rise_beyond_noise(val, level, _best_epoch(val))
    found = names(detect_symptoms({"loss": loss, "val_loss": list(val)}, make_audit(), DETECTION))
    assert "overfitting" in found, found
    # The same quiet end wobbling in no order is a floor, not a climb.
    wobble = np.array(swings + [0.458, 0.52, 0.49, 0.53, 0.47, 0.51, 0.48, 0.50])
    assert rise_beyond_noise(wobble, noise.running_median(wobble), _best_epoch(wobble)) is None
    assert "overfitting" not in names(detect_symptoms({"loss": loss, "val_loss": list(wobble)}, make_audit(), DETECTION))


def test_a_short_climb_in_no_clear_order_is_not_overfitting():
    """Seven epochs after the best of an LSTM's healthy fit wander up, but not in an order that
    exchangeable noise seldom makes (Kendall's p = 0.07); the end's rise is within the scatter
    too. A slope in standard errors read from the best epoch itself called it 3.7."""
    val = np.array([1.107, 1.044, 1.036, 0.963, 0.891, 0.89, 0.891, 0.836, 0.735, 0.683, 0.673, 0.665, 0.564, 0.598,
                    0.543, 0.532, 0.513, 0.495, 0.491, 0.484, 0.436, 0.448, 0.387, 0.416, 0.437, 0.429, 0.42, 0.425,
                    0.445, 0.47])
    level = noise.running_median(val)
    assert _best_epoch(val) == 22
    assert 0.05 < noise.kendall_rise_p(val[23:]) < 0.1
    assert rise_beyond_noise(val, level, 22) is None


def test_kendalls_test_is_exact_under_exchangeable_noise():
    """The p-value is the share of the n! orders whose score is at least as high: counted here
    over every order of 6 epochs, and for 5 in rising order, 1 in 120."""
    import itertools

    values = np.array([0.3, 0.1, 0.4, 0.5, 0.2, 0.6])
    def score(x):
        return sum(np.sign(x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)))
    orders = [np.array(p) for p in itertools.permutations(values)]
    share = np.mean([score(o) >= score(values) for o in orders])
    assert noise.kendall_rise_p(values) == pytest.approx(share)
    assert noise.kendall_rise_p(np.arange(5.0)) == pytest.approx(1 / 120)
    assert noise.kendall_rise_p(-np.arange(5.0)) == pytest.approx(1.0)
    assert math.isnan(noise.kendall_rise_p(np.array([1.0])))
    # Past the exact range, the normal approximation: a rising order is still tiny, noise is not.
    assert noise.kendall_rise_p(np.arange(100.0)) < 1e-10
    flat = RNG.normal(0.0, 1.0, (400, 80))
    assert 0.02 < np.mean([noise.kendall_rise_p(row) < 0.05 for row in flat]) < 0.09


def test_the_ranks_after_a_flat_floors_lowest_epoch_are_not_biased_up():
    """The best epoch is left out of the ranks: on flat floors whose best is picked as a run's,
    Kendall's test on the epochs after it fires about as often as its level says."""
    rng = np.random.default_rng(5)
    fired = tested = 0
    for floor in rng.normal(0.0, 1.0, (2000, 25)):
        after = floor[_best_epoch(floor) + 1:]
        if after.size >= 5:
            tested += 1
            fired += noise.kendall_rise_p(after) < 0.0125
    assert tested > 1000
    assert fired / tested < 0.02, fired / tested


def test_a_validation_loss_rising_with_the_training_loss_is_not_overfitting():
    loss = [1.0, 0.7, 0.5, 0.4, 0.35] + [0.35 + 0.03 * i for i in range(12)]
    val = [1.0, 0.7, 0.5, 0.4, 0.36] + [0.37 + 0.05 * i for i in range(12)]
    assert "overfitting" not in names(detect_symptoms({"loss": loss, "val_loss": val}, make_audit(), DETECTION))
