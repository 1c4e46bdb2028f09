"""The level test: a paired bootstrap of the main metric, final - reference, on hand-made prediction vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, r2_score

from plateau_doctor.engine.significance import (
    BY_CLASS,
    PAIRED,
    TOLERANCE_ONLY,
    compare_with_level,
    main_metric_of,
    tolerance_only,
)
from plateau_doctor.engine.verdict import repair_status


def _classes(rows_per_class: int, reference_errors: float, final_errors: float, k: int = 2):
    """Balanced classes; the reference wrong on a share of each class, the final model wrong on those
    rows and on more of the same class (so it is never right where the reference is wrong)."""
    y = np.repeat(np.arange(k), rows_per_class)
    reference, final = y.copy(), y.copy()
    for code in range(k):
        rows = np.flatnonzero(y == code)
        wrong = (code + 1) % k
        reference[rows[: round(reference_errors * rows_per_class)]] = wrong
        final[rows[: round(final_errors * rows_per_class)]] = wrong
    return y, final, reference


def _compare(task, y, final, reference, tolerance=0.03, confidence=0.95, seed=0):
    return compare_with_level(task, y, final, reference, confidence=confidence, tolerance=tolerance, seed=seed)


def _regression(rows: int, seed: int = 0, final_noise: float = 0.55, reference_noise: float = 0.5):
    rng = np.random.default_rng(seed)
    y = rng.normal(10.0, 2.0, rows)
    return y, y + rng.normal(0, final_noise * 2.0, rows), y + rng.normal(0, reference_noise * 2.0, rows)


def test_the_observed_difference_is_the_metrics_difference():
    y, final, reference = _classes(50, 0.04, 0.10, k=3)
    result = _compare("multiclass", y, final, reference)
    expected = balanced_accuracy_score(y, final) - balanced_accuracy_score(y, reference)
    assert result.difference == pytest.approx(expected, abs=1e-12) and result.test == BY_CLASS
    assert main_metric_of("multiclass", y, final) == pytest.approx(balanced_accuracy_score(y, final), abs=1e-12)
    y, final, reference = _regression(300)
    result = _compare("regression", y, final, reference)
    assert result.difference == pytest.approx(r2_score(y, final) - r2_score(y, reference), abs=1e-12)
    assert result.test == PAIRED and result.n_val == 300
    assert main_metric_of("regression", y, final) == pytest.approx(r2_score(y, final), abs=1e-12)


def test_a_model_clearly_worse_on_many_rows_is_significantly_below_and_not_at_the_level():
    y, final, reference = _classes(1000, 0.05, 0.10)  # 0.05 below on 2,000 rows
    result = _compare("binary", y, final, reference)
    assert result.difference == pytest.approx(-0.05)
    assert result.high < 0 and result.significantly_below and not result.reached
    assert repair_status("binary", {}, {}, 0.03, level=result) == "improved"


def test_the_same_mean_difference_on_few_rows_is_within_the_noise_and_at_the_level():
    y, final, reference = _classes(20, 0.05, 0.10)  # 0.05 below on 40 rows: one row per class
    result = _compare("binary", y, final, reference)
    assert result.difference == pytest.approx(-0.05) and not result.within_tolerance
    assert result.low < result.difference <= result.high and result.high >= 0
    assert not result.significantly_below and result.reached
    assert repair_status("binary", {}, {}, 0.03, level=result) == "repaired"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_interval_shrinks_as_the_rows_grow(task):
    widths = []
    for rows in (100, 400, 1600):
        data = _classes(rows // 2, 0.05, 0.10) if task == "binary" else _regression(rows)
        result = _compare(task, *data)
        widths.append(result.high - result.low)
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # about 1 / sqrt(rows)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_the_seed_repeats_the_bounds_and_another_seed_moves_them_a_little(task):
    data = _classes(40, 0.05, 0.15, k=3) if task == "multiclass" else _regression(200)
    first, again, other = _compare(task, *data, seed=7), _compare(task, *data, seed=7), _compare(task, *data, seed=8)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert abs(first.high - other.high) < 0.02 and first.difference == other.difference


def test_the_tolerance_is_a_floor_for_differences_too_small_to_matter():
    y, final, reference = _classes(10_000, 0.05, 0.07)  # 0.02 below on 20,000 rows: significant
    result = _compare("binary", y, final, reference, tolerance=0.03)
    assert result.significantly_below and result.within_tolerance and result.reached
    assert not _compare("binary", y, final, reference, tolerance=0.01).reached


def test_a_model_at_or_above_the_level_is_never_significantly_below():
    y, final, reference = _classes(500, 0.10, 0.05)
    result = _compare("binary", y, final, reference, tolerance=0.0)
    assert result.difference == pytest.approx(0.05) and result.low > 0 and result.reached
    same = _compare("binary", y, reference, reference, tolerance=0.0)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0) and same.reached


def test_resampling_within_classes_matches_a_row_bootstrap_within_classes():
    """The multinomial draw of each class's counts is the row bootstrap within the class, done exactly."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [30, 60, 90])
    final = np.where(rng.random(len(y)) < 0.8, y, rng.integers(0, 3, len(y)))
    reference = np.where(rng.random(len(y)) < 0.85, y, rng.integers(0, 3, len(y)))
    result = _compare("multiclass", y, final, reference, confidence=0.9)
    naive = []
    for _ in range(4000):
        rows = np.concatenate([rng.choice(np.flatnonzero(y == c), (y == c).sum()) for c in (0, 1, 2)])
        naive.append(main_metric_of("multiclass", y[rows], final[rows]) - main_metric_of("multiclass", y[rows], reference[rows]))
    low, high = np.quantile(naive, [0.1, 0.9])
    assert result.low == pytest.approx(low, abs=0.01) and result.high == pytest.approx(high, abs=0.01)


def test_non_finite_predictions_are_never_at_the_level():
    y, final, reference = _regression(50)
    final[3] = math.nan
    result = _compare("regression", y, final, reference, tolerance=1.0)
    assert math.isnan(result.difference) and not result.reached and not result.significantly_below


def test_without_paired_predictions_the_tolerance_alone_decides():
    near, far = (tolerance_only(d, confidence=0.95, tolerance=0.03, n_val=80) for d in (-0.02, -0.05))
    assert near.reached and not far.reached and near.test == TOLERANCE_ONLY
    assert near.to_dict()["interval"] == [near.low, near.high] and math.isnan(near.high)
    assert not far.significantly_below


@pytest.mark.parametrize("confidence", [0.5, 1.0, 0.2])
def test_a_confidence_outside_one_half_to_one_is_refused(confidence):
    y, final, reference = _classes(10, 0.1, 0.2)
    with pytest.raises(ValueError, match="confidence"):
        _compare("binary", y, final, reference, confidence=confidence)


def test_predictions_of_other_rows_are_refused():
    with pytest.raises(ValueError, match="same rows"):
        _compare("binary", np.zeros(10), np.zeros(9), np.zeros(10))


def test_the_summary_fields():
    y, final, reference = _classes(57, 0.05, 0.10)
    fields = _compare("binary", y, final, reference).to_dict()
    assert set(fields) == {"difference", "interval", "confidence", "n_val", "test", "significantly_below"}
    assert fields["n_val"] == 114 and fields["confidence"] == 0.95 and fields["test"] == BY_CLASS
    low, high = fields["interval"]
    assert low <= fields["difference"] <= high
