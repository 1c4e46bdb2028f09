"""Readings of real, noisy runs (issue 19): hand-written curves with seeded noise, no backend.

Each test pins one rule grounded in how optimizers and noise behave, on a curve shaped as the
real logs that showed the flaw were (the logs themselves are in corpus/, not read here).
"""

from __future__ import annotations

import numpy as np
import pytest

from plateau_doctor.engine.log_doctor import diagnose_curves


def _noisy(values, share, seed):
    rng = np.random.default_rng(seed)
    return list(np.asarray(values) * np.exp(rng.normal(0.0, share, len(values))))


def _names(found):
    return [s.name for s in found.symptoms]


TRAIN = list(1.8 * (0.07 / 1.8) ** (np.arange(30) / 29))


def _val(rise_per_epoch):
    """Val falls to 0.33 by epoch 16, then rises by ``rise_per_epoch`` of that level each epoch."""
    return [1.3 * (0.33 / 1.3) ** (min(i, 15) / 15) * (1 + rise_per_epoch * max(0, i - 15)) for i in range(30)]


def test_a_noisy_validation_loss_that_rose_well_past_its_best_is_overfitting():
    # +56% over 14 epochs with 5% scatter per epoch: every seed is overfitting, with Prechelt's numbers.
    for seed in range(10):
        found = diagnose_curves({"loss": TRAIN, "val_loss": _noisy(_val(0.04), 0.05, seed)})
        assert "overfitting" in _names(found), seed
        assert found.causes[0].name == "overfitting"
        evidence = next(s.evidence for s in found.symptoms if s.name == "overfitting")
        assert "GL = " in evidence and "PQ = GL / P_5" in evidence


def test_a_flat_noisy_floor_is_rarely_called_overfitting():
    # A floor with 10% scatter and no rise: its last epochs sit above its lucky minimum by chance.
    # The parametric bootstrap holds that to a few percent; a fixed 2 standard errors flagged 6-14%
    # (harness/overfitting_floor_check.py).
    flagged = sum(
        "overfitting" in _names(diagnose_curves({"loss": TRAIN, "val_loss": _noisy(_val(0.0), 0.10, seed)}))
        for seed in range(40)
    )
    assert flagged <= 3


def test_the_floor_bound_grows_with_the_floor_and_the_scatter():
    from plateau_doctor.engine.early_stopping import floor_rise_bound

    short, long_ = floor_rise_bound(6, 0.1), floor_rise_bound(25, 0.1)
    assert 0.1 < short < long_ < 0.4  # the minimum of a longer floor is luckier
    assert floor_rise_bound(25, 0.2) == pytest.approx(2 * long_, rel=1e-9)  # linear in sigma: same seed
    assert floor_rise_bound(25, 0.1) == long_  # seeded: the same bound every time


def test_a_fine_tuned_net_at_its_best_on_epoch_one_overfits_from_there():
    # Prechelt's E_opt is the lowest so far from epoch 1: no warm-up hides the best epoch.
    train = [0.0024, 0.0014, 0.0011, 0.00084, 0.00068, 0.00061, 0.00053, 0.00047, 0.00044, 0.00039]
    val = [0.0502, 0.0539, 0.0527, 0.0546, 0.0547, 0.0547, 0.0564, 0.0558, 0.0569, 0.0573]
    acc = [0.986, 0.985, 0.9852, 0.9852, 0.9855, 0.9852, 0.9852, 0.9855, 0.9852, 0.9862]
    found = diagnose_curves({"loss": train, "val_loss": val, "accuracy": [1.0] * 10, "val_accuracy": acc})
    assert _names(found)[0] == "overfitting"
    # and its flat 98.5% accuracy is no majority prior: the training loss is 100x below that prior's entropy
    assert "stuck_at_trivial" not in _names(found)
    assert not any("majority" in line for line in found.not_checked)


def test_a_six_epoch_run_whose_val_loss_doubles_from_its_first_epoch_is_overfitting():
    # patience (5) epochs after the best is all Prechelt's test needs; a guard asking one epoch more
    # called this run, stopped by EarlyStopping after 5 epochs of rising val_loss, healthy.
    train = [0.143, 0.0195, 0.0106, 0.0117, 0.0069, 0.0080]
    val = [4.92, 6.18, 7.63, 9.23, 10.56, 9.32]
    found = diagnose_curves({"loss": train, "val_loss": val})
    assert _names(found)[0] == "overfitting" and found.causes[0].name == "overfitting"
    # one epoch fewer leaves only 4 after the best: too few to call
    assert "overfitting" not in _names(diagnose_curves({"loss": train[:5], "val_loss": val[:5]}))


# A conv net with augmentation, dropout and batch norm, ReduceLROnPlateau twice: its training loss
# wobbles ~14% per epoch and its trend takes 22% off over the last half, not beyond that scatter;
# the 500-row validation loss bounces 20% per epoch around a flat trend.
AUGMENTED_TRAIN = [1.064, 0.484, 0.317, 0.236, 0.219, 0.195, 0.175, 0.153, 0.148, 0.170, 0.153, 0.134, 0.135,
                   0.132, 0.127, 0.115, 0.0985, 0.098, 0.0908, 0.119, 0.0928, 0.099, 0.0789, 0.0885, 0.0998]
AUGMENTED_VAL = [1.373, 1.341, 1.32, 1.205, 1.037, 0.879, 0.572, 0.618, 0.263, 0.340, 0.212, 0.208, 0.250, 0.500,
                 0.313, 0.187, 0.151, 0.147, 0.152, 0.150, 0.121, 0.226, 0.193, 0.213, 0.197]


def test_snapshots_that_bounce_over_a_training_loss_still_trending_down_are_no_oscillation():
    # The training loss's own swing is excused by that 22% fall (OSCILLATION_STALL); the same fall
    # says it does not stand still, so the validation snapshots' bounce is sampling noise.
    found = diagnose_curves({"loss": AUGMENTED_TRAIN, "val_loss": AUGMENTED_VAL})
    assert found.status == "healthy", [(s.name, s.evidence) for s in found.symptoms]
    # a training loss that truly stands still under the same bouncing snapshots is the step's swing
    flat = [*AUGMENTED_TRAIN[:14], *([0.13, 0.12] * 6)][:25]
    assert "oscillation" in _names(diagnose_curves({"loss": flat, "val_loss": AUGMENTED_VAL}))


def test_a_warm_restart_of_the_logged_rate_is_no_oscillation():
    # Cosine decay restarted at epoch 11 (the rate back to 1e-3): the training loss jumps 2.4x there
    # on purpose and falls again. Without the rate column the jump reads as a spike in a stalled window.
    rate = [1e-3 * (1 + np.cos(np.pi * i / 10)) / 2 + 1e-5 for i in range(10)] + [1e-3 * (1 + np.cos(np.pi * i / 20)) / 2 for i in range(6)]
    train = [0.402, 0.131, 0.101, 0.0875, 0.0738, 0.0619, 0.0534, 0.0458, 0.0399, 0.0373,
             0.0889, 0.0750, 0.0719, 0.0658, 0.0632, 0.0572]
    val = [0.21, 0.20, 0.19, 0.16, 0.12, 0.13, 0.11, 0.083, 0.062, 0.055, 0.10, 0.090, 0.085, 0.080, 0.075, 0.070]
    assert "oscillation" in _names(diagnose_curves({"loss": train, "val_loss": val}))
    found = diagnose_curves({"loss": train, "val_loss": val, "learning_rate": rate})
    assert "oscillation" not in _names(found)


def test_a_loss_creeping_down_at_an_unslowed_pace_is_slow_convergence_even_in_small_steps():
    # Plain SGD on a Conv1D: -0.5% per epoch for 25 epochs, no slowing down. The last fifth takes
    # only 2.6% off the level (under STILL_FALLING) but holds 23% of the whole gain: a straight line,
    # nowhere near a floor.
    loss = [1.091 - 0.00474 * i for i in range(25)]
    val = [1.092 - 0.00479 * i for i in range(25)]
    acc = [0.35 + 0.012 * i for i in range(25)]
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": acc})
    assert _names(found)[0] == "slow_convergence", [(s.name, s.evidence) for s in found.symptoms]
    assert found.causes[0].name in ("learning_rate_too_low", "optimizer_choice", "too_few_epochs")
    # The same last fifth after a fast early fall has slowed down: converging, not held back.
    early = [2.2 * 0.55 ** i + 0.95 for i in range(20)] + [0.9769 + 0.0053 * (4 - i) for i in range(5)]
    assert "slow_convergence" not in _names(diagnose_curves({"loss": early, "val_loss": early}))


def test_a_loss_at_ln_k_from_its_first_epoch_is_an_initialization_that_left_every_logit_equal():
    # Zero-initialized weights on 10 digit classes: the uniform prior from the first step, ln 10 on
    # every epoch to four digits; the accuracy at chance.
    found = diagnose_curves({"loss": [2.3026] * 20, "val_loss": [2.3026] * 20,
                             "accuracy": [0.1] * 20, "val_accuracy": [0.1] * 20})
    assert found.causes[0].name == "bad_initialization", [c.name for c in found.causes]
    assert "the first one included" in found.causes[0].evidence
    # A deep sigmoid net's random start sits 0.9% above ln 2 and slides onto it: the gradient, not the start.
    slide = [0.6996, 0.6968, 0.6952, 0.6944, 0.6940, 0.6938] + [0.6937 - 0.00002 * i for i in range(14)]
    found = diagnose_curves({"loss": slide, "val_loss": [0.6935] * 20,
                             "accuracy": [0.5] * 20, "val_accuracy": [0.5] * 20})
    assert found.causes and found.causes[0].name != "bad_initialization", [c.name for c in found.causes]


def test_a_swing_that_outlives_a_tenfold_cut_of_the_logged_rate_is_no_step_oscillation():
    # ReduceLROnPlateau cut the rate 37x over the last 11 epochs; the converged training loss
    # (0.008, 99.8% accuracy) still wobbles 20% per epoch: dropout's noise, not the step's.
    rate = [3e-3] * 9 + [9e-4] * 3 + [2.7e-4] * 3 + [8.1e-5] * 3 + [2.43e-5] * 3 + [7.29e-6] * 3 + [2.19e-6] * 3 + [6.56e-7] * 3
    train = [0.79, 0.23, 0.11, 0.069, 0.046, 0.037, 0.028, 0.024, 0.024, 0.017, 0.013, 0.008, 0.0079, 0.0086, 0.0111,
             0.0089, 0.0086, 0.0088, 0.0075, 0.0084, 0.0077, 0.0081, 0.0082, 0.0082, 0.0137, 0.0061, 0.008, 0.0077,
             0.0091, 0.0046]
    val = [0.33, 0.099, 0.065, 0.039, 0.029, 0.021, 0.023, 0.022, 0.027, 0.032, 0.024, 0.024, 0.025] + [0.0234] * 17
    found = diagnose_curves({"loss": train, "val_loss": val, "learning_rate": rate})
    assert "oscillation" not in _names(found), [(s.name, s.evidence) for s in found.symptoms]
    # The same swing under a constant rate is read as the step's.
    assert "oscillation" in _names(diagnose_curves({"loss": train, "val_loss": val, "learning_rate": [3e-3] * 30}))


def test_a_loss_that_slides_onto_chance_over_many_epochs_is_a_net_too_small_not_a_vanishing_gradient():
    # A logistic regression on concentric circles: 0.94 -> ln 2 over 15 epochs, accuracy at 1/2.
    slide = [0.9372, 0.887, 0.8432, 0.8061, 0.7758, 0.7519, 0.7337, 0.7204, 0.711, 0.7046, 0.7003, 0.6975, 0.6958,
             0.6947, 0.6941, 0.6937, 0.6935, 0.6933, 0.6933, 0.6932]
    found = diagnose_curves({"loss": slide, "val_loss": [v - 0.002 for v in slide],
                             "accuracy": [0.5] * 20, "val_accuracy": [0.5] * 20})
    names = [c.name for c in found.causes]
    assert names[:2] == ["insufficient_capacity", "vanishing_gradients"], names
    assert "reaching it on epoch 9" in found.causes[0].evidence
    # A deep sigmoid net sits at chance from its first epoch: the gradient, then the size.
    deep = [0.699] + [0.6935] * 19
    names = [c.name for c in diagnose_curves({"loss": deep, "val_loss": [0.6932] * 20, "accuracy": [0.5] * 20,
                                              "val_accuracy": [0.5] * 20}).causes]
    assert names[:2] == ["vanishing_gradients", "insufficient_capacity"], names


def test_a_classifier_whose_loss_is_below_what_cross_entropy_costs_at_its_accuracy_names_the_loss():
    # Squared error on one-hot labels with plain SGD, 4 classes: the loss creeps 0.188 -> 0.139 while
    # the accuracy climbs 0.26 -> 0.55. At 45% wrong, cross-entropy would cost >= 0.31.
    loss = [0.1881 - 0.0017 * i for i in range(30)]
    acc = [0.256 + 0.0103 * i for i in range(30)]
    found = diagnose_curves({"loss": loss, "val_loss": [v + 0.001 for v in loss], "accuracy": acc, "val_accuracy": acc})
    assert found.sick and found.causes[0].name == "loss_mismatch", [c.name for c in found.causes]
    assert "is not one" in found.causes[0].evidence
    # The same creep in cross-entropy units (above the floor) does not read as a mismatch.
    ce = [1.38 - 0.0125 * i for i in range(30)]
    found = diagnose_curves({"loss": ce, "val_loss": [v + 0.01 for v in ce], "accuracy": acc, "val_accuracy": acc})
    assert "loss_mismatch" not in [c.name for c in found.causes]


def test_a_raw_scale_regression_still_falling_at_the_end_is_slow_even_after_a_huge_early_drop():
    # Adam on a target in the thousands: the loss falls from 1.5e8 (the output reaching the target's
    # mean) to 2.3e6, and its last fifth still takes 37% off (0.9% of the whole absolute gain).
    loss = [1.482e8, 1.481e8, 1.478e8, 1.473e8, 1.465e8, 1.451e8, 1.43e8, 1.403e8, 1.367e8, 1.322e8, 1.269e8,
            1.206e8, 1.135e8, 1.056e8, 9.702e7, 8.799e7, 7.866e7, 6.925e7, 5.996e7, 5.103e7, 4.265e7, 3.5e7, 2.822e7,
            2.238e7, 1.751e7, 1.356e7, 1.047e7, 8.116e6, 6.379e6, 5.127e6, 4.245e6, 3.632e6, 3.211e6, 2.921e6,
            2.721e6, 2.579e6, 2.476e6, 2.399e6, 2.338e6, 2.287e6]
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.01 for v in loss]}, task="regression")
    assert "slow_convergence" in _names(found), [(s.name, s.evidence) for s in found.symptoms]
    assert found.causes[0].name == "unscaled_target"
    # The same shape a million times smaller starts like a standardized target: the share test stands.
    small = [v / 1e6 for v in loss]
    found = diagnose_curves({"loss": small, "val_loss": [v * 1.01 for v in small]}, task="regression")
    assert "slow_convergence" not in _names(found)


def test_a_swinging_loss_under_an_accuracy_that_holds_is_the_rows_confidence_not_the_step():
    # A frozen MobileNet head on augmented images: the snapshots' val_loss swings 0.027-0.077 while
    # val_accuracy stays at 0.975-0.985: rows gain and lose confidence, none crosses the boundary.
    base = {"loss": [1.224, 0.268, 0.138, 0.0837, 0.1015, 0.0958, 0.0338, 0.0649],
            "val_loss": [0.1218, 0.1098, 0.12, 0.0578, 0.0768, 0.0494, 0.0271, 0.0572],
            "accuracy": [0.688, 0.886, 0.946, 0.960, 0.960, 0.960, 0.990, 0.975]}
    held = diagnose_curves({**base, "val_accuracy": [0.955, 0.941, 0.960, 0.980, 0.975, 0.980, 0.985, 0.975]})
    assert "oscillation" not in _names(held), [(s.name, s.evidence) for s in held.symptoms]
    # The same swing with the accuracy thrown around by 20 points is the step's.
    thrown = diagnose_curves({**base, "val_accuracy": [0.955, 0.941, 0.960, 0.80, 0.975, 0.78, 0.985, 0.76]})
    assert "oscillation" in _names(thrown)


def test_one_bump_and_its_recovery_is_a_single_upset_not_an_oscillation():
    # A convolutional autoencoder (binary cross-entropy on pixels): both losses level off, then jump
    # once at epoch 45 (val_loss +75%) and recover; the noise-level moves before the bump flip sign
    # at random, which made half the window's moves read as reversals.
    train = [0.5968, 0.4567, 0.3852, 0.4097, 0.3669, 0.3663, 0.349, 0.339, 0.3389, 0.3268, 0.3193, 0.316, 0.3126,
             0.3068, 0.3042, 0.341, 0.315, 0.3257, 0.3163, 0.3143, 0.3094, 0.3038, 0.2998, 0.2982, 0.2943, 0.293,
             0.2951, 0.2933, 0.2968, 0.3015, 0.2957, 0.2908, 0.2892, 0.288, 0.2874, 0.2919, 0.2921, 0.2912, 0.2897,
             0.2883, 0.2869, 0.2878, 0.2846, 0.284, 0.3375, 0.3349, 0.3122, 0.3078, 0.3036, 0.2972]
    val = [0.3483, 0.3362, 0.4356, 0.2645, 0.2879, 0.2322, 0.2261, 0.2209, 0.202, 0.1942, 0.1879, 0.1824, 0.1767,
           0.1711, 0.2951, 0.1903, 0.2146, 0.1923, 0.1771, 0.171, 0.1646, 0.1661, 0.1645, 0.1631, 0.1584, 0.1659,
           0.1605, 0.1638, 0.1696, 0.1585, 0.1583, 0.1575, 0.1579, 0.1557, 0.1767, 0.1612, 0.1578, 0.1565, 0.1533,
           0.1533, 0.1535, 0.1528, 0.1527, 0.2673, 0.1994, 0.1938, 0.1775, 0.1691, 0.1717, 0.1671]
    found = diagnose_curves({"loss": train, "val_loss": val})
    assert "oscillation" not in _names(found), [(s.name, s.evidence) for s in found.symptoms]
    # Bumps that repeat through the window are a swing.
    swing = val[:40] + [0.1535, 0.2602, 0.1527, 0.2673, 0.1594, 0.2638, 0.1591, 0.2617, 0.1602, 0.2671]
    assert "oscillation" in _names(diagnose_curves({"loss": train, "val_loss": swing}))


def test_a_regression_whose_loss_only_settles_by_hundredths_of_a_percent_after_epoch_1_has_dead_units():
    # Bias init -6 kills every ReLU of a denoising regression: after epoch 1 only the output bias
    # settles (0.363144 -> 0.363099, 0.012% of the level), then the loss freezes.
    loss = [0.363264, 0.363144, 0.363118, 0.363108] + [0.363102] * 6 + [0.363099] * 20
    val = [0.386296, 0.386493, 0.386615, 0.3867] + [0.3868] * 26
    found = diagnose_curves({"loss": loss, "val_loss": val}, task="regression")
    assert found.sick and found.causes and found.causes[0].name == "dead_relu", [c.name for c in found.causes]
    # One whose loss still moved 1% after epoch 1 before freezing is no dead net from the start.
    moved = [0.3633, 0.3620, 0.3600, 0.3590] + [0.3596] * 26
    found = diagnose_curves({"loss": moved, "val_loss": val}, task="regression")
    assert not any(c.name == "dead_relu" for c in found.causes)


def test_a_loss_of_exactly_zero_from_the_first_epoch_is_a_loss_that_cannot_see_the_outputs():
    # One sigmoid unit under categorical cross-entropy: the loss is identically 0, the accuracy 37%.
    found = diagnose_curves({"loss": [0.0] * 14, "val_loss": [0.0] * 14,
                             "accuracy": [0.55] + [0.37] * 13, "val_accuracy": [0.45] + [0.37] * 13})
    assert found.sick and found.causes[0].name == "loss_mismatch"
    assert "exactly 0 on every epoch" in found.causes[0].evidence


def test_a_loss_that_slides_from_far_above_chance_onto_it_while_accuracy_falls_is_the_penalty():
    # L2 0.5 on every kernel of a 5-class MLP (Adam): the penalty dominates at the start, the loss
    # slides onto ln 5 in every epoch, the accuracy rises to 0.48 and falls back to 0.18.
    loss = [26.2, 10.82, 4.73, 2.556, 1.866, 1.673, 1.624, 1.613, 1.611] + [1.61] * 13
    acc = [0.257, 0.41, 0.468, 0.48, 0.445, 0.379, 0.284, 0.199, 0.1875] + [0.185] * 13
    val = [16.19, 6.77, 3.246, 2.073, 1.727, 1.637, 1.616, 1.611] + [1.61] * 14
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": [0.2] * 22})
    assert found.symptoms[0].name == "stuck_at_trivial"
    assert found.causes[0].name == "too_strong_regularization", [c.name for c in found.causes]
    assert "learning_rate_too_high" not in [c.name for c in found.causes][:1]


def test_a_blow_up_in_the_first_epoch_that_never_learns_is_still_the_step():
    # The same start, but the accuracy never rises above chance: no slide of a penalty, a blown step.
    loss = [26.2, 1.9, 1.65] + [1.61] * 19
    found = diagnose_curves({"loss": loss, "val_loss": [1.7] + [1.61] * 21,
                             "accuracy": [0.2] * 22, "val_accuracy": [0.2] * 22})
    assert found.causes and found.causes[0].name == "learning_rate_too_high"


def test_both_losses_sliding_onto_chance_over_many_epochs_with_no_learning_is_the_penalty():
    # Dropout 0.9 and L2 0.5 on a conv net (Adam 1e-3): the accuracy never leaves chance, and the
    # validation loss (which carries the penalty too) halves its excess epoch after epoch onto ln 4.
    loss = [24.03, 11.62, 6.184, 3.668, 2.452, 1.863, 1.589, 1.468, 1.416, 1.396, 1.389] + [1.386] * 9
    val = [16.0, 8.134, 4.597, 2.906, 2.082, 1.691, 1.513, 1.437, 1.406, 1.395, 1.39] + [1.3865] * 9
    acc = [0.228, 0.279, 0.251, 0.277, 0.267, 0.265, 0.265, 0.265, 0.268] + [0.268] * 11
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": [0.228] * 20})
    assert found.causes[0].name == "too_strong_regularization", [c.name for c in found.causes]
    assert "fell in every epoch onto chance" in found.causes[0].evidence
    # The same training loss with a validation loss at the prior after the first epoch is a blown step.
    blown = diagnose_curves({"loss": loss, "val_loss": [16.0] + [1.39] * 19, "accuracy": acc, "val_accuracy": [0.228] * 20})
    assert blown.causes[0].name == "learning_rate_too_high", [c.name for c in blown.causes]


def test_a_short_log_frozen_from_its_second_epoch_is_sick_with_dead_units_named():
    found = diagnose_curves({"loss": [0.5012] + [0.4874] * 7, "val_loss": [0.1702] + [0.1614] * 7})
    assert found.sick and found.symptoms[0].name == "plateau"
    assert found.causes[0].name == "dead_relu" and "never learned" in found.causes[0].evidence
    # Frozen on the first epoch too: not even the output bias moved it, so the outputs cannot vary.
    pinned = diagnose_curves({"loss": [0.4874] * 5, "val_loss": [0.1614] * 5})
    assert pinned.causes[0].name == "output_activation_mismatch" and "the first one included" in pinned.causes[0].evidence
    # At the chance level a zero bias already outputs the balanced prior: dead units freeze epoch 1 too.
    at_chance = diagnose_curves({"loss": [0.6933] * 16, "val_loss": [0.6931] * 16, "val_accuracy": [0.5] * 16})
    assert at_chance.causes and at_chance.causes[0].name != "output_activation_mismatch"
    # One that learned first and then froze is at its limit, not dead from the start.
    learned = diagnose_curves({"loss": [0.36, 0.32, 0.30, 0.29, 0.285] + [0.2806] * 8,
                               "val_loss": [0.37, 0.33, 0.31, 0.30, 0.29] + [0.2901] * 8})
    assert learned.causes and learned.causes[0].name != "dead_relu"


def test_a_short_run_still_falling_steeply_is_too_few_epochs():
    # 9 epochs, training loss only: the last 3 epochs still take 17% off the loss.
    loss = [4.392, 2.837, 2.315, 2.024, 1.83, 1.683, 1.569, 1.471, 1.389]
    found = diagnose_curves({"loss": loss, "accuracy": [0.16, 0.38, 0.47, 0.53, 0.57, 0.6, 0.62, 0.64, 0.66]})
    assert found.symptoms[0].name == "slow_convergence"
    assert found.causes[0].name == "too_few_epochs"


def test_a_blow_up_with_jumps_that_slides_onto_chance_is_the_step_not_the_penalty():
    # Adam at 3.0 on wine: the loss jumps (48 -> 249, 1.3 -> 17.5) before it settles at ln 3.
    loss = [11840, 48.08, 248.7, 1.319, 17.52, 1.16, 1.188, 1.096, 1.133, 1.072, 1.11, 1.077] + [1.1] * 20
    acc = [0.26, 0.39, 0.31, 0.37, 0.32, 0.38, 0.32, 0.40, 0.33, 0.44, 0.33, 0.40] + [0.331] * 20
    found = diagnose_curves({"loss": loss, "val_loss": [116, 58, 71, 47, 21, 7.5, 3.9, 1.17] + [1.1] * 24,
                             "accuracy": acc, "val_accuracy": [0.3333] * 32})
    assert found.causes[0].name == "learning_rate_too_high", [c.name for c in found.causes]


def test_a_head_creeping_down_far_above_chance_is_a_step_too_small_not_a_penalty():
    # A new head on a frozen base at SGD 1e-4: large initial logits, both losses ~2x ln 5 and still
    # falling in every epoch at a steady pace.
    loss = list(np.linspace(3.194, 3.127, 40))
    found = diagnose_curves({"loss": loss, "val_loss": [v - 0.01 for v in loss],
                             "accuracy": [0.2] * 40, "val_accuracy": [0.2] * 40})
    names = [c.name for c in found.causes]
    assert names and names[0] == "learning_rate_too_low", names
    assert "too_strong_regularization" not in names


def test_a_training_loss_wobbling_at_its_floor_after_real_progress_is_no_oscillation():
    # Small batches: the epoch-mean loss wobbles 20% around a floor it reached after falling 95%,
    # still trending down over the last half of the run.
    rng = np.random.default_rng(7)
    base = 0.12 + 3.2 * np.exp(-np.arange(60) / 8.0)
    loss = list(base * np.exp(rng.normal(0.0, 0.18, 60)))
    val = list((base * 0.9) * np.exp(rng.normal(0.0, 0.25, 60)))
    found = diagnose_curves({"loss": loss, "val_loss": val})
    assert "oscillation" not in _names(found)


def test_a_loss_swinging_without_progress_over_half_the_run_is_still_an_oscillation():
    # Plain SGD at too large a step: the loss falls for a few epochs, then swings 0.6 <-> 1.4 with no trend.
    loss = [2.3, 1.6, 1.2] + [1.4 if i % 2 else 0.6 for i in range(27)]
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.05 for v in loss]})
    assert "oscillation" in _names(found)
    assert found.causes[0].name == "learning_rate_too_high"


def test_a_loss_frozen_at_chance_from_the_first_epoch_names_the_start_not_a_capacity_limit():
    # Four classes, the loss at ln 4 and the accuracy at 1/4 from epoch 1, moving by 1e-5: no
    # gradient reaches the weights, and the first epoch's mean is at ln k too, so no step killed the
    # units during it (that epoch would sit above ln k): every logit started equal (bias init that
    # kills every unit, zero or constant weights).
    rng = np.random.default_rng(3)
    flat = np.log(4) + rng.normal(0.0, 1e-5, 25)
    found = diagnose_curves({"loss": flat, "val_loss": flat + 2e-5, "accuracy": 0.25 + rng.normal(0, 0.004, 25),
                             "val_accuracy": 0.25 + rng.normal(0, 0.004, 25)})
    assert "stuck_at_trivial" in _names(found)
    assert found.causes and found.causes[0].name == "bad_initialization"
    assert "units dead from the start" in found.causes[0].evidence
    assert "insufficient_capacity" not in [c.name for c in found.causes]
    # Fallen from a bad start onto chance, then frozen: nothing says dead units, and no capacity limit either.
    fell = np.concatenate([[4.0, 2.5, 1.6], flat[3:]])
    settled = diagnose_curves({"loss": fell, "val_loss": fell + 2e-5, "accuracy": 0.25 + rng.normal(0, 0.004, 25),
                               "val_accuracy": 0.25 + rng.normal(0, 0.004, 25)})
    assert "dead_relu" not in [c.name for c in settled.causes]
    assert not any(c.name == "insufficient_capacity" and "then froze" in c.evidence for c in settled.causes)


def test_a_fall_made_in_the_first_step_then_a_standstill_at_chance_is_no_step_too_small():
    # A deep sigmoid net on four classes: the loss drops 1.409 -> 1.3886 in one step, then ticks
    # down by 1e-5 an epoch at 0.16% above ln 4 (within the tolerance that calls it at chance).
    # No steady pace explains that fall, and the descent to chance is over: the gradient does not
    # reach the hidden layers, the rate is not what holds it.
    loss = [1.4085] + list(1.3886 - 1e-5 * np.arange(24))
    found = diagnose_curves({"loss": loss, "val_loss": [1.3865] * 25, "accuracy": [0.2342] * 25,
                             "val_accuracy": [0.25] * 25})
    names = [c.name for c in found.causes]
    assert "stuck_at_trivial" in _names(found)
    assert names and names[0] == "vanishing_gradients" and "learning_rate_too_low" not in names, names


def test_a_loss_frozen_far_above_chance_at_chance_accuracy_is_the_loss_not_a_penalty():
    # Squared error between 10 softmax outputs and the integer class ids (0..9): the loss sits
    # near E[y^2] of the ids, frozen, with the accuracy at 1/10. A weight penalty that large
    # would shrink the weights every step and fall; this one never moves.
    rng = np.random.default_rng(3)
    acc = list(0.1 + rng.normal(0.0, 0.005, 25))
    found = diagnose_curves({"loss": [27.5199] + [27.51351] * 24, "val_loss": [27.3985] + [27.3984] * 24,
                             "accuracy": acc, "val_accuracy": [0.095] * 25})
    assert found.sick and found.symptoms[0].name == "stuck_at_trivial"
    assert found.causes[0].name == "loss_mismatch", [c.name for c in found.causes]
    assert "no weight penalty stays frozen" in found.causes[0].evidence
    # The same excess sliding down every epoch, as a penalty under its own gradient does, stays
    # the penalty's.
    sliding = [27.5 * 0.97 ** i for i in range(25)]
    penalty = diagnose_curves({"loss": sliding, "val_loss": [v * 0.995 for v in sliding],
                               "accuracy": acc, "val_accuracy": [0.095] * 25})
    assert "loss_mismatch" not in [c.name for c in penalty.causes]


def test_an_accuracy_frozen_at_a_majority_share_while_the_loss_falls_is_a_collapse_onto_the_majority():
    # 97:3 classes, no class weights: from epoch 2 every row gets the majority class (accuracy
    # 0.97 on both splits, to the last digit) while the loss shades the prior, down to 0.122.
    loss = [0.339, 0.190, 0.154, 0.143, 0.139, 0.136, 0.134, 0.132, 0.131, 0.129, 0.128, 0.126, 0.125, 0.124, 0.122]
    val = [0.224, 0.163, 0.149, 0.145, 0.143, 0.142, 0.1416, 0.1411, 0.1406, 0.1402, 0.1397, 0.1393, 0.1389, 0.1386, 0.1382]
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": [0.9268] + [0.97] * 14,
                             "val_accuracy": [0.968] + [0.97] * 14})
    assert found.sick and found.symptoms[0].name == "stuck_at_trivial"
    assert "no row's prediction flips" in found.symptoms[0].evidence
    assert found.causes[0].name == "class_imbalance", [c.name for c in found.causes]
    assert "no_learnable_signal" not in [c.name for c in found.causes]  # it fits no row: nothing memorized


def test_a_classifier_whose_accuracy_rose_before_it_settled_is_no_majority_collapse():
    # The same loss, but the accuracy climbs to 0.99 over five epochs and then every row stays
    # right (a converged net flips no prediction either), or reaches 1.0 on every row.
    loss = [0.339, 0.190, 0.154, 0.143, 0.139, 0.136, 0.134, 0.132, 0.131, 0.129, 0.128, 0.126, 0.125, 0.124, 0.122]
    for acc in ([0.80, 0.90, 0.95, 0.97, 0.98] + [0.99] * 10, [0.93] + [1.0] * 14):
        found = diagnose_curves({"loss": loss, "val_loss": [v * 1.1 for v in loss], "accuracy": acc,
                                 "val_accuracy": acc})
        assert not found.sick, [(s.name, s.evidence) for s in found.symptoms]


def test_a_regression_log_that_starts_at_a_loss_of_hundreds_of_millions_names_the_unscaled_target():
    # Mechanical energy in joules (0 to ~70,000), MSE, Adam 1e-3: the output starts near 0 and
    # the loss near E[y^2] = 4e8, still falling steadily after 20 epochs.
    loss = [4.13e8 * (1 - 0.0015 * i * i) for i in range(20)]
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.01 for v in loss]}, task="regression")
    assert found.sick and found.causes[0].name == "unscaled_target", [c.name for c in found.causes]
    assert "E[y^2]" in found.causes[0].evidence
    # The same shape on a standardized target's scale names no target.
    scaled = diagnose_curves({"loss": [v / 4.13e8 for v in loss], "val_loss": [v / 4.09e8 for v in loss]},
                             task="regression")
    assert "unscaled_target" not in [c.name for c in scaled.causes]


def test_a_validation_loss_bouncing_far_above_a_fitted_training_loss_is_no_step_oscillation():
    # A CNN that fits its training rows (loss ~0.04, accuracy 0.98) while its validation loss
    # bounces between 0.25 and 0.42: the step did not throw the weights out of the training
    # valley; the snapshots differ in how they generalize.
    train = [0.055, 0.060, 0.061, 0.051, 0.047, 0.041, 0.048, 0.037, 0.035, 0.045, 0.039, 0.066, 0.031, 0.032, 0.043]
    val = [0.426, 0.303, 0.417, 0.265, 0.291, 0.280, 0.281, 0.251, 0.337, 0.288, 0.364, 0.268, 0.268, 0.290, 0.246]
    assert "oscillation" not in _names(diagnose_curves({"loss": train, "val_loss": val}))
    # The same bouncing over a training loss that stands at the validation level is the step's.
    level = [0.30 + 0.01 * ((-1) ** i) for i in range(15)]
    assert "oscillation" in _names(diagnose_curves({"loss": level, "val_loss": val}))


def test_a_short_log_whose_validation_never_left_chance_while_training_learned_is_stuck():
    # Seven epochs of a 30-class CNN: the first val_loss is ln 30, the validation accuracy stays at
    # 1/30 on every epoch while the training loss falls far below ln 30 and its accuracy climbs. Too
    # short for the progress tests, yet the training side shows the epochs were enough to learn:
    # nothing of it reaches the validation rows.
    k = 30
    train = [3.80, 2.70, 2.10, 1.70, 1.50, 1.30, 1.24]
    found = diagnose_curves({"loss": train, "accuracy": [0.10, 0.24, 0.38, 0.47, 0.54, 0.59, 0.62],
                             "val_loss": [np.log(k) + 0.01, 3.85, 4.05, 4.54, 4.52, 4.77, 5.18],
                             "val_accuracy": [0.036, 0.05, 0.041, 0.041, 0.041, 0.046, 0.041]})
    assert found.sick and _names(found) == ["stuck_at_trivial"]
    assert "never left chance" in found.symptoms[0].evidence and "1.24" in found.symptoms[0].evidence
    # The validation side that climbs off chance with the training side is a short healthy start.
    climbing = diagnose_curves({"loss": train, "accuracy": [0.10, 0.24, 0.38, 0.47, 0.54, 0.59, 0.62],
                                "val_loss": [np.log(k) + 0.01, 3.0, 2.5, 2.1, 1.9, 1.7, 1.6],
                                "val_accuracy": [0.036, 0.2, 0.33, 0.42, 0.5, 0.55, 0.58]})
    assert "stuck_at_trivial" not in _names(climbing)
    # A training side that never left chance either is the other short reading (both at ln k), not this one.
    flat = diagnose_curves({"loss": [np.log(k)] * 7, "accuracy": [0.034] * 7, "val_loss": [np.log(k) + 0.01] * 7,
                            "val_accuracy": [0.036, 0.03, 0.033, 0.034, 0.035, 0.033, 0.034]})
    assert "never left chance" in flat.symptoms[0].evidence and "training rows" not in flat.symptoms[0].evidence


def test_a_loss_falling_from_far_above_chance_while_the_accuracy_stays_at_chance_is_stuck():
    # Kernels initialised to ones: five classes, the loss in the tens of thousands and still falling,
    # the accuracy at 1/5 on every epoch. Coming down toward ln 5 is the outputs shrinking, not learning.
    rng = np.random.default_rng(8)
    loss = list(4.0e5 * 0.82 ** np.arange(15) * np.exp(rng.normal(0, 0.1, 15)))
    val = list(2.0e5 * 0.85 ** np.arange(15) * np.exp(rng.normal(0, 0.3, 15)))
    acc = list(0.2 + rng.normal(0, 0.004, 15))
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": list(0.2 + rng.normal(0, 0.004, 15))})
    assert "stuck_at_trivial" in _names(found), _names(found)
    assert "from above the trivial loss" in found.symptoms[0].evidence
    # The same fall onto ln 5 with the accuracy climbing off chance is a net that learns.
    climbing = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": list(np.linspace(0.2, 0.9, 15)),
                                "val_accuracy": list(np.linspace(0.2, 0.88, 15))})
    assert "stuck_at_trivial" not in _names(climbing)


def test_an_accuracy_frozen_near_one_half_by_a_decayed_rate_is_no_binary_chance_when_epoch_one_pins_five_classes():
    # Five classes (the first loss is ln 5), SGD whose rate halves every epoch: the accuracy climbs
    # from 0.2 to 0.53 and freezes there with the loss. 0.53 fits 1/2, but this net has five outputs.
    decay = 1 - 0.5 ** np.arange(25)
    loss = list(1.598 - 0.105 * decay)
    val = list(1.580 - 0.078 * decay)
    acc = [0.2] + list(0.2 + 0.334 * decay[1:] ** 0.5)
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": [a - 0.008 for a in acc],
                             "learning_rate": list(1e-3 * 0.5 ** np.arange(25))})
    assert "stuck_at_trivial" not in _names(found) and "ln 2" not in " ".join(found.not_checked)
    assert found.causes and found.causes[0].name == "learning_rate_too_low", [c.name for c in found.causes]
