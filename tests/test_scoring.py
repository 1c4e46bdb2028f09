"""The doctor's own scores of a model's outputs (pure: numpy, no backend)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plateau_doctor.engine.metrics import cross_entropy
from plateau_doctor.training.scoring import Scorer, class_shares, prior_matched


def _imbalanced(rows: int = 4000, seed: int = 0):
    """A 90:10 task whose true P(class 1 | x) is known: a logistic of one feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    positive = 1.0 / (1.0 + np.exp(-(2.0 * x - 3.2)))
    y = (rng.random(rows) < positive).astype(np.int64)
    return y, np.column_stack([1.0 - positive, positive])


def _class_weighted(probabilities: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """What balanced class weights (w_c = 1 / (k share_c)) train a net toward: p_w(c|x) ~ w_c p(c|x)."""
    weighted = probabilities / shares
    return weighted / weighted.sum(axis=1, keepdims=True)


def test_matching_the_prior_undoes_the_shift_of_balanced_class_weights():
    y, calibrated = _imbalanced()
    shares = class_shares(y, 2)
    assert 0.05 < shares[1] < 0.2
    weighted = _class_weighted(calibrated, shares)
    raw, best = cross_entropy(y, weighted), cross_entropy(y, calibrated)
    assert raw > best + 0.15  # the same ranking, far worse in log loss
    matched = prior_matched(weighted, shares)
    assert cross_entropy(y, matched) == pytest.approx(best, abs=0.01)
    assert matched.mean(axis=0) == pytest.approx(shares, abs=1e-5)


def test_matching_the_prior_leaves_a_calibrated_net_as_it_is():
    y, calibrated = _imbalanced(seed=1)
    matched = prior_matched(calibrated, class_shares(y, 2))
    assert cross_entropy(y, matched) == pytest.approx(cross_entropy(y, calibrated), abs=0.005)


def test_matching_the_prior_adds_no_separation_a_net_lacks():
    # Outputs that separate nothing (every row the same) score the shares' entropy, whatever
    # constant they were: an offset per class cannot make them rank the rows.
    y, _ = _imbalanced(seed=2)
    shares = class_shares(y, 2)
    flat = np.tile([0.5, 0.5], (len(y), 1))
    entropy = -float(np.sum(shares * np.log(shares)))
    assert cross_entropy(y, prior_matched(flat, shares)) == pytest.approx(entropy, abs=1e-6)


def test_the_scorer_records_both_log_losses_for_one_sigmoid_unit():
    y, calibrated = _imbalanced(seed=3)
    weighted = _class_weighted(calibrated, class_shares(y, 2))
    scorer = Scorer("binary", y)
    both = scorer.metrics(weighted[:, 1:], with_prior_matched=True)
    raw, matched = both["val_log_loss"], both["val_log_loss_prior_matched"]
    assert raw > matched + 0.15
    assert matched == pytest.approx(cross_entropy(y, calibrated), abs=0.01)
    assert "val_log_loss_prior_matched" not in scorer.metrics(weighted[:, 1:])  # a branch's metrics: the task's only
    unreadable = scorer.metrics(np.full((len(y), 1), np.nan), with_prior_matched=True)
    assert math.isnan(unreadable["val_log_loss"]) and math.isnan(unreadable["val_log_loss_prior_matched"])
    regression = Scorer("regression", y.astype(float)).metrics(weighted[:, 1:], with_prior_matched=True)
    assert not math.isfinite(regression.get("val_log_loss_prior_matched", math.nan))
