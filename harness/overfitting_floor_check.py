"""How often a flat, noisy validation floor is called overfit, and how often a rising one is
caught (not a test; prints a table).

A validation loss falls for 10 epochs, with scatter ``warm-up`` in log space, onto a floor of
L epochs with scatter ``floor sd``: as noisy as the warm-up, quieter (a net far from its best
jumps more), or noisier (a validation loss' relative noise grows as its level falls). On the
floor the loss is flat (``rise`` 0: every call is a false alarm; the target is 2.5%) or climbs
linearly in log space by ``rise`` over the floor (every call is a catch). The overfitting test's
level comparison (GL >= 5, the trend after the best going up, the rise of the last 3 epochs'
median over the best running median) is applied with three noise bounds:

- ``2 SE``: a fixed two standard errors of the difference of two medians of 3, on the whole
  curve's scatter;
- ``whole``: the seeded bootstrap of a flat floor on the whole curve's scatter (the test up to
  2026-12-05);
- ``floor``: the same bootstrap on the scatter ``engine.early_stopping`` reads: the whole
  curve's, never less than the floor's own (the test up to 2026-12-05, evening);
- ``+slope``: that rise or the robust slope since the best epoch in standard errors of the
  scatter, each against 1.25% of flat floors (3.1 standard errors: the slope is read from the
  lowest epoch; the test up to 2026-12-06, kept here to compare);
- ``+ranks``: the test ``engine.early_stopping`` applies now (``rise_beyond_noise``): that rise
  or Kendall's test on the epochs after the best (no scatter read), each at 1.25%.

``wander`` > 0 makes the floor's noise correlated from epoch to epoch (AR(1) with that
coefficient, the same marginal scatter): a slow wander of the weights, which every test here
reads as a trend.

A rise of 0.15 is a slow climb that a noisy floor hides from three epochs; 0.3 a clear one. A
floor of 60 epochs is a long fit's.

    python harness/overfitting_floor_check.py [--repeats 400]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plateau_doctor.engine import noise  # noqa: E402
from plateau_doctor.engine.early_stopping import (  # noqa: E402
    END_EPOCHS, GL_SICK, _best_epoch, _floor_length, _scatter, floor_rise_bound, rise_beyond_noise,
)

FIXED_SE = 2.0 * math.sqrt(2.0) * 0.670
WARM_UP = 10


def _noise(n: int, wander: float, rng) -> np.ndarray:
    """Unit Gaussian noise; AR(1) with coefficient ``wander`` after the warm-up."""
    draws = rng.normal(0.0, 1.0, n)
    for t in range(WARM_UP + 1, n):
        draws[t] = wander * draws[t - 1] + math.sqrt(1.0 - wander**2) * draws[t]
    return draws


def _slope_called(val: np.ndarray, level: np.ndarray, best: int, length: int) -> bool:
    """The test before the ranks: the rise at 1.25%, or the Theil-Sen slope from the best epoch
    over 3.1 standard errors once 10 epochs follow it (the rise alone at 2.5% before)."""
    sigma = _scatter(val, length)[0]
    since = np.log(val[best:])
    with_slope = since.size - 1 >= 10
    rise = math.log(float(np.median(val[-END_EPOCHS:])) / float(np.min(level)))
    if rise > floor_rise_bound(length, sigma, alpha=0.0125 if with_slope else 0.025):
        return True
    return with_slope and noise.theil_sen(since) > 3.1 * noise.slope_error(sigma, since.size)


def calls(floor: int, warm: float, scatter: float, rise: float, wander: float, repeats: int, rng) -> tuple[float, ...]:
    fixed = whole = own = slope = ranks = 0
    for _ in range(repeats):
        n = WARM_UP + floor
        steps = np.arange(n)
        trend = np.log(1.3) + np.minimum(steps, WARM_UP) / WARM_UP * np.log(0.33 / 1.3)
        trend = trend + rise * np.clip(steps - WARM_UP, 0, None) / max(floor - 1, 1)
        val = np.exp(trend + _noise(n, wander, rng) * np.where(steps < WARM_UP, warm, scatter))
        level = noise.running_median(val)
        best = _best_epoch(val)
        e_opt, e_end = float(np.min(level)), float(np.median(val[-END_EPOCHS:]))
        after = noise.trend(val[best:])
        if n - 1 - best < 5 or 100 * (e_end / e_opt - 1) < GL_SICK or after is None or not after.slope > 0:
            continue
        length = _floor_length(level, e_end)
        sigma = noise.noise(np.log(val))
        gap = math.log(e_end / e_opt)
        fixed += gap > FIXED_SE * sigma
        whole += gap > floor_rise_bound(length, sigma)
        own += gap > floor_rise_bound(length, _scatter(val, length)[0])
        slope += _slope_called(val, level, best, length)
        ranks += rise_beyond_noise(val, level, best) is not None
    return fixed / repeats, whole / repeats, own / repeats, slope / repeats, ranks / repeats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=400)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'floor':>5s} {'warm-up':>7s} {'floor sd':>8s} {'rise':>5s} {'wander':>6s} {'2 SE':>7s} {'whole':>7s}"
          f" {'floor':>7s} {'+slope':>7s} {'+ranks':>7s}")
    for rise, wander in ((0.0, 0.0), (0.0, 0.5), (0.15, 0.0), (0.3, 0.0)):
        for floor in (6, 10, 15, 25, 60):
            for warm, scatter in ((0.05, 0.05), (0.15, 0.15), (0.15, 0.05), (0.05, 0.15)):
                shares = calls(floor, warm, scatter, rise, wander, args.repeats, rng)
                print(f"{floor:5d} {warm:7.2f} {scatter:8.2f} {rise:5.2f} {wander:6.1f} "
                      + " ".join(f"{share:7.1%}" for share in shares))


if __name__ == "__main__":
    main()
