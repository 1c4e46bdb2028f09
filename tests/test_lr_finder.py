"""The range test's pure rules, fed hand-written loss-vs-learning-rate curves."""

from __future__ import annotations

import numpy as np
import pytest

from plateau_doctor.engine import range_test as lr_finder
from plateau_doctor.engine.range_test import (
    SUGGESTION_RULES,
    describe_suggestion,
    range_test_schedule,
    should_stop,
    smooth_losses,
    suggest_learning_rate,
)

LRS = range_test_schedule(1e-6, 1.0, 100)
X = np.log10(LRS)
LR_AT_MINIMUM = 1e-2


def u_shape() -> np.ndarray:
    """A parabola in log lr with its bottom at lr 1e-2."""
    return 0.1 + 0.05 * (X + 2.0) ** 2


def fall_then_blow_up() -> np.ndarray:
    """What a real sweep looks like: flat, a fall around 3e-4, then a climb after 3e-2."""
    fall = 0.7 - 0.6 / (1.0 + np.exp(-3.0 * (X + 3.5)))
    return fall + np.where(X > -1.5, 2.0 * (X + 1.5) ** 2, 0.0)


def test_schedule_is_geometric_between_the_bounds():
    lrs = range_test_schedule(1e-5, 1e-1, 5)
    assert lrs == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])


def test_schedule_defaults():
    lrs = range_test_schedule()
    assert lrs.size == 200
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[-1] == pytest.approx(1.0)
    assert np.allclose(lrs[1:] / lrs[:-1], lrs[1] / lrs[0])


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": -1e-3}, "min_lr"),
        ({"max_lr": 1e-7}, "max_lr"),
        ({"max_lr": float("inf")}, "max_lr"),
        ({"steps": 1}, "steps"),
        ({"steps": 10.5}, "steps"),
    ],
)
def test_schedule_refuses_bad_settings(kwargs, named):
    with pytest.raises(ValueError, match=named):
        range_test_schedule(**kwargs)


def test_smoothing_is_bias_corrected():
    assert smooth_losses([2.0, 2.0, 2.0], beta=0.9) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth_losses([1.0, 3.0], beta=0.0) == pytest.approx([1.0, 3.0])


@pytest.mark.parametrize(
    ("losses", "stop"),
    [
        ([], False),
        ([1.0, 0.9, 0.8, 0.7], False),
        ([1.0, 0.9, float("nan")], True),
        ([1.0, 0.9, float("inf")], True),
        ([1.0, 0.5, 0.2, 50.0], True),
        ([1.0, 0.5, 0.2, 0.6], False),
    ],
)
def test_should_stop(losses, stop):
    assert should_stop(losses, beta=0.0) is stop


def test_should_stop_uses_the_smoothed_loss():
    spike = [1.0, 0.5, 0.2, 0.2, 0.2, 0.9]
    assert should_stop(spike, beta=0.0)
    assert not should_stop(spike, beta=0.9)


def test_should_stop_ignores_the_factor_for_losses_at_or_below_zero():
    assert not should_stop([0.0, -1.0, 5.0], beta=0.0)


@pytest.mark.parametrize("best_factor", [1.0, 0.5, float("nan")])
def test_should_stop_refuses_a_factor_that_cannot_mean_blow_up(best_factor):
    with pytest.raises(ValueError, match="best_factor"):
        should_stop([1.0, 2.0], best_factor=best_factor)


@pytest.mark.parametrize("method", sorted(SUGGESTION_RULES))
@pytest.mark.parametrize("curve", [u_shape, fall_then_blow_up])
def test_suggestion_lands_on_the_descending_part_below_the_minimum(method, curve):
    losses = curve()
    lowest = LRS[int(np.argmin(losses))]
    suggestion = suggest_learning_rate(LRS, losses, method=method)
    assert LRS[0] <= suggestion < lowest
    index = int(np.argmin(np.abs(LRS - suggestion)))
    assert losses[index] > losses.min()


def test_valley_is_inside_the_fall_not_at_its_start():
    losses = fall_then_blow_up()
    suggestion = suggest_learning_rate(LRS, losses, method="valley")
    assert 1e-5 < suggestion < 3e-3


def flat_noisy_then_fall() -> np.ndarray:
    """A plain-SGD sweep: flat and noisy (~1.1) over four decades, the first point low
    (0.87) by chance, then the real fall between 1e-2 and 1e-1 and a blow-up after."""
    rng = np.random.default_rng(3)
    flat = 1.1 + rng.normal(0.0, 0.15, LRS.size)
    flat[0] = 0.87
    fall = 1.0 / (1.0 + np.exp(-4.0 * (X + 1.5)))  # 0 -> 1 around lr 3e-2
    return flat * (1.0 - fall) + 0.15 * fall + np.where(X > -0.7, 3.0 * (X + 0.7) ** 2, 0.0)


def test_valley_skips_a_flat_noisy_start_that_begins_low():
    """Without the fall's start, the descending stretch begins at the low first point and
    its middle lands around 1e-4, where SGD does not move (seen on a real sweep)."""
    losses = flat_noisy_then_fall()
    smoothed = smooth_losses(losses)
    assert LRS[lr_finder.fall_start(smoothed)] > 1e-3
    suggestion = suggest_learning_rate(LRS, losses, method="valley")
    assert 3e-3 < suggestion < LRS[int(np.argmin(smoothed))]


def test_fall_start_is_at_the_start_for_a_curve_that_falls_from_the_start():
    assert LRS[lr_finder.fall_start(u_shape())] < 1e-5
    assert lr_finder.fall_start(np.linspace(1.0, 0.1, 20)) == 1  # 0.953 is within 10% of the fall
    assert lr_finder.fall_start(np.linspace(0.1, 1.0, 20)) == 0  # rising: the minimum is the first point


def test_steepest_finds_the_fastest_fall():
    suggestion = suggest_learning_rate(LRS, fall_then_blow_up(), method="steepest", beta=0.0)
    assert suggestion == pytest.approx(10**-3.5, rel=0.2)


def test_minimum_is_a_decade_below_the_lowest_loss():
    suggestion = suggest_learning_rate(LRS, u_shape(), method="minimum", beta=0.0)
    assert suggestion == pytest.approx(LR_AT_MINIMUM / 10, rel=0.15)


def test_rules_share_one_signature():
    smoothed = smooth_losses(u_shape())
    for rule in SUGGESTION_RULES.values():
        assert isinstance(rule(LRS, smoothed), float)


def test_noisy_curve_still_gives_a_rate_in_the_fall():
    rng = np.random.default_rng(0)
    losses = fall_then_blow_up() + rng.normal(0.0, 0.02, LRS.size)
    suggestion = suggest_learning_rate(LRS, losses)
    assert 1e-5 < suggestion < LR_AT_MINIMUM


def test_non_finite_tail_is_ignored():
    losses = fall_then_blow_up()
    cut = 85
    with_nan = losses.copy()
    with_nan[cut:] = np.nan
    with_nan[cut + 1] = np.inf
    assert suggest_learning_rate(LRS, with_nan) == pytest.approx(suggest_learning_rate(LRS[:cut], losses[:cut]))
    assert f"non-finite at lr {LRS[cut]:.1e}" in describe_suggestion(LRS, with_nan)


def test_flat_curve_gives_the_conservative_default():
    flat = np.full(LRS.size, 0.693)
    assert suggest_learning_rate(LRS, flat) == pytest.approx(lr_finder.DEFAULT_LEARNING_RATE)
    assert "conservative default" in describe_suggestion(LRS, flat)


def test_flat_curve_default_is_clamped_into_the_swept_range():
    lrs = range_test_schedule(1e-2, 1.0, 20)
    assert suggest_learning_rate(lrs, np.full(lrs.size, 0.693)) == pytest.approx(1e-2)


def test_curve_that_only_rises_stays_below_where_it_climbs():
    rising = 0.7 + np.linspace(0.0, 3.0, LRS.size)
    suggestion = suggest_learning_rate(LRS, rising)
    assert LRS[0] <= suggestion < 1e-5


def test_curve_that_blows_up_at_once_gives_the_smallest_rate():
    losses = np.full(LRS.size, np.nan)
    losses[0] = 0.7
    assert suggest_learning_rate(LRS, losses) == pytest.approx(LRS[0])
    assert "only 1 finite loss" in describe_suggestion(LRS, losses)


def test_description_quotes_the_numbers():
    text = describe_suggestion(LRS, fall_then_blow_up(), method="valley")
    suggestion = suggest_learning_rate(LRS, fall_then_blow_up(), method="valley")
    assert text.startswith("loss fell from 0.7")
    assert f"valley suggestion {suggestion:.1e}" in text


@pytest.mark.parametrize(
    ("lrs", "losses", "message"),
    [
        ([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.8, 0.7], "same length"),
        ([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.8, 0.7], "at least 5 points"),
        ([-1e-4, 1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.8, 0.7, 0.6], "positive"),
        ([1e-4, np.nan, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.8, 0.7, 0.6], "positive"),
        ([1e-4, 1e-2, 1e-3, 1e-1, 1.0], [1.0, 0.9, 0.8, 0.7, 0.6], "increase"),
        ([[1e-4, 1e-3, 1e-2, 1e-1, 1.0]], [[1.0, 0.9, 0.8, 0.7, 0.6]], "1-D"),
    ],
)
def test_bad_curves_are_refused(lrs, losses, message):
    with pytest.raises(ValueError, match=message):
        suggest_learning_rate(lrs, losses)


def test_unknown_method_names_the_allowed_ones():
    with pytest.raises(ValueError, match="minimum, steepest, valley"):
        suggest_learning_rate(LRS, u_shape(), method="slide")


def test_a_suggestion_counts_only_on_the_side_the_treatment_moves_the_rate():
    from plateau_doctor.engine.range_test import on_the_asked_side

    # Raising 0.001 (too low): a valley at 0.00092 would undo the raise (sgd_plain_quantiles,
    # round 2, before this rule); 0.03 is taken.
    assert not on_the_asked_side(0.00092, 0.001, higher=True)
    assert on_the_asked_side(0.03, 0.001, higher=True)
    # Lowering 0.5 (too high): only a rate below it counts.
    assert on_the_asked_side(0.02, 0.5, higher=False)
    assert not on_the_asked_side(0.8, 0.5, higher=False)
    assert not on_the_asked_side(float("nan"), 0.001, higher=True)
