"""The noise of one curve, read from the curve itself, and the tests a trend, a plateau and an
oscillation make against it. Pure: numpy only.

A recorded loss is a smooth trend plus scatter: minibatch noise in the epoch mean of the
training loss, sampling noise of a small validation split, the weights' own wandering under
a finite step. Nothing in a log says how large that scatter is, so it is estimated from the
curve:

- **the scatter** (:func:`noise`) is the robust standard deviation of Gasser, Sroka and
  Jennen-Steinmetz's pseudo-residuals ("Residual variance and residual pattern in nonlinear
  regression", Biometrika 73, 1986): e_t = (y_{t-1} - 2 y_t + y_{t+1}) / sqrt(6). Where the
  trend is locally straight the trend cancels and e_t has the variance of the noise, whatever
  the trend's level and slope. Their spread is read as 1.4826 x the median absolute value
  (the MAD, consistent for a Gaussian; Rousseeuw and Croux 1993): a few spikes or a knee of
  the curve do not inflate it;
- **the trend** (:func:`trend`) is Theil-Sen's slope (the median of the pairwise slopes;
  Theil 1950, Sen 1968), which ignores up to 29% of wild epochs;
- **a trend is real** when its change over the window exceeds ``Z`` standard errors of a
  least-squares slope through pure noise of that scatter: sigma x sqrt(12 / (m (m^2 - 1)))
  per epoch over m epochs. Below that, a straight line through noise alone would show it
  about one time in 40 (one-sided);
- **an order is a trend** (:func:`kendall_rise_p`) when Kendall's rank test says noise whose
  epochs are exchangeable seldom orders itself that far upward (Mann 1945): it reads no
  scatter, so it holds where the scatter is misread (a noisy warm-up before a quiet floor).

Positive curves are read in log space (:func:`in_relative_units`): there the scatter and the
slope are shares of the loss' level (a slope of -0.02 is 2% per epoch), an exponential decay
is a straight line, and the same numbers fit a loss of 2.3 and one of 0.002. A curve with a
value <= 0 (a custom loss) is read as it is.

What it does not handle: noise that is correlated from epoch to epoch (a slow wander) reads
as trend; a window of fewer than 5 epochs has too few pseudo-residuals to say anything
(:data:`MIN_EPOCHS`), and then no test passes.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

Z = 2.0
"""Standard errors a change must exceed to count as a trend rather than noise (one-sided 2.3%)."""

MAD_TO_SIGMA = 1.4826
"""1 / Phi^-1(3/4): the median absolute deviation of a Gaussian times this is its sigma."""

MIN_EPOCHS = 5
"""Fewest epochs (three pseudo-residuals) from which a scatter is estimated."""


def in_relative_units(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """The curve in log space when every value is positive (shares of its level), else as it is."""
    data = np.asarray(values, dtype=float)
    if data.size and np.all(np.isfinite(data)) and np.all(data > 0):
        return np.log(data), True
    return data, False


def pseudo_residuals(values: np.ndarray) -> np.ndarray:
    """Gasser et al.'s second differences, scaled to the noise's variance."""
    data = np.asarray(values, dtype=float)
    if data.size < 3:
        return np.empty(0)
    return (data[:-2] - 2.0 * data[1:-1] + data[2:]) / math.sqrt(6.0)


def noise(values: np.ndarray) -> float:
    """Robust sigma of the scatter around a locally straight trend (NaN under ``MIN_EPOCHS``)."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < MIN_EPOCHS:
        return math.nan
    return MAD_TO_SIGMA * float(np.median(np.abs(pseudo_residuals(data))))


def theil_sen(values: np.ndarray) -> float:
    """Median of the slopes between every pair of epochs (per epoch)."""
    data = np.asarray(values, dtype=float)
    i, j = np.triu_indices(data.size, k=1)
    if i.size == 0:
        return math.nan
    return float(np.median((data[j] - data[i]) / (j - i)))


def slope_error(sigma: float, epochs: int) -> float:
    """Standard error of a least-squares slope through ``epochs`` points of noise ``sigma``."""
    if epochs < 2:
        return math.inf
    return sigma * math.sqrt(12.0 / (epochs * (epochs**2 - 1)))


@dataclass(frozen=True)
class Trend:
    """A robust straight-line reading of one window of a curve, against the curve's own noise.

    In relative units (``relative``) the slope and the scatter are shares of the level per
    epoch; otherwise they are in the loss' units.
    """

    slope: float
    sigma: float
    epochs: int
    relative: bool

    @property
    def change(self) -> float:
        """What the trend moved over the window (relative: a log ratio, ~ a share)."""
        return self.slope * (self.epochs - 1)

    @property
    def allowance(self) -> float:
        """The largest change over the window that noise alone makes plausible (``Z`` errors)."""
        return Z * slope_error(self.sigma, self.epochs) * (self.epochs - 1)

    @property
    def falls(self) -> bool:
        return self.change < -self.allowance

    @property
    def rises(self) -> bool:
        return self.change > self.allowance

    @property
    def share_change(self) -> float:
        """The change as a share of the starting level (relative units only; NaN otherwise)."""
        return math.expm1(self.change) if self.relative else math.nan

    def describe(self) -> str:
        if self.relative:
            return (
                f"trend {100 * math.expm1(self.slope):+.2f}% per epoch over {self.epochs} epochs"
                f" (noise {100 * self.sigma:.2g}% of the level per epoch; a change within"
                f" {100 * math.expm1(self.allowance):.2g}% is noise)"
            )
        return (
            f"trend {self.slope:+.4g} per epoch over {self.epochs} epochs (noise {self.sigma:.2g}; a change"
            f" within {self.allowance:.2g} is noise)"
        )


def trend(values: np.ndarray, *, sigma: float | None = None) -> Trend | None:
    """The Theil-Sen trend of ``values`` with their scatter (or ``sigma``, in the same units);
    None when fewer than ``MIN_EPOCHS`` finite values, or the scatter is unknown."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < MIN_EPOCHS:
        return None
    scaled, relative = in_relative_units(data)
    scatter = noise(scaled) if sigma is None else sigma
    if not math.isfinite(scatter):
        return None
    return Trend(theil_sen(scaled), scatter, int(data.size), relative)


def running_median(values: np.ndarray, width: int = 3) -> np.ndarray:
    """Centred running median (shrinking at the ends), of the finite values in each window: one
    wild epoch does not move it. Windows are NaN-padded at the ends and taken at once (it runs
    after every epoch of a fit, and a loop of medians cost milliseconds on a long history)."""
    data = np.asarray(values, dtype=float)
    half = width // 2
    if data.size == 0:
        return np.empty(0)
    padded = np.full(data.size + 2 * half, math.nan)
    padded[half: half + data.size] = np.where(np.isfinite(data), data, math.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window: its median is NaN, as it should be
        return np.nanmedian(windows, axis=1)


EXACT_RANKS = 60
"""Up to this many epochs Kendall's test reads the exact null distribution; beyond, its normal
approximation (with a continuity correction) is within a few thousandths of it."""


def kendall_rise_p(values: np.ndarray) -> float:
    """One-sided p-value of Kendall's test for an upward trend over the epochs (Mann 1945): how
    often noise whose epochs are exchangeable (any distribution, any scale) orders itself at least
    this far upward. S counts the later-higher pairs minus the later-lower ones; a tie counts
    neither way, which only makes the p-value larger. It is the test that goes with Theil-Sen's
    slope (Sen 1968) and reads no scatter, so a scatter misread from a noisy warm-up or a few wild
    epochs does not hide a climb. NaN under 2 finite values."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = data.size
    if n < 2:
        return math.nan
    i, j = np.triu_indices(n, k=1)
    score = int(np.sum(np.sign(data[j] - data[i])))
    pairs = n * (n - 1) // 2
    if n > EXACT_RANKS:
        corrected = score - int(np.sign(score))  # half of S's step of 2: the continuity correction
        return 0.5 * math.erfc(corrected / math.sqrt(2.0 * n * (n - 1) * (2 * n + 5) / 18.0))
    # S >= score <=> at most (pairs - score) / 2 discordant pairs (inversions).
    return float(_inversions_cdf(n)[(pairs - score) // 2])


@functools.lru_cache(maxsize=None)
def _inversions_cdf(n: int) -> np.ndarray:
    """P(a uniformly random order of n items has at most k inversions), k = 0 .. n (n - 1) / 2:
    Mahonian numbers, built one item at a time (the m-th item adds 0 .. m - 1 inversions, evenly)."""
    mass = np.ones(1)
    for m in range(2, n + 1):
        total = np.concatenate([np.zeros(m), np.cumsum(mass), np.full(m - 1, mass.sum())])
        mass = (total[m:] - total[:-m]) / m
    return np.minimum(np.cumsum(mass), 1.0)
