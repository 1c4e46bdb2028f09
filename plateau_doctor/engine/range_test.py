"""The pure half of the learning-rate range test (Smith 2015; fastai's ``lr_find``).

The executor trains a fresh copy of the network for one batch per learning rate of
:func:`range_test_schedule`, records the loss, asks :func:`should_stop` after every
step, and finally turns the recorded curve into one learning rate with
:func:`suggest_learning_rate`. Nothing here touches Keras, so every rule is tested on
hand-written curves.

Suggestion rules follow fastai (``fastai/callback/schedule.py``): small pure functions
with one shared signature ``(lrs, smoothed_losses) -> float``, registered by name in
:data:`SUGGESTION_RULES`. They receive the curve already cut at its first non-finite loss
and smoothed, so each rule only encodes where on the curve to pick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

SuggestionRule = Callable[[np.ndarray, np.ndarray], float]

DEFAULT_LEARNING_RATE = 1e-3
"""Returned (clamped into the swept range) when the curve never falls: a loss that does
not respond to any learning rate gives no evidence for a bolder choice, and 1e-3 is the
rate Adam, the default optimizer, was tuned for."""

SMOOTHING_BETA = 0.9
"""EMA weight of the past in the smoothed curve. fastai uses 0.98 on per-batch losses;
that time constant (~50 steps, 1.5 decades of a 200-step sweep) drags the curve's features
far to the right of where they happen. 0.9 (~10 steps, a third of a decade) still tames
batch noise."""

FLAT_TOLERANCE = 0.01
"""A smoothed curve whose lowest point is less than 1% below its start never decreased."""

MIN_POINTS = 5


def range_test_schedule(min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 200) -> np.ndarray:
    """Learning rates growing geometrically from ``min_lr`` to ``max_lr``, both included.

    Geometric so that every decade gets the same number of steps: what matters about a
    learning rate is its order of magnitude.
    """
    if not (math.isfinite(min_lr) and min_lr > 0):
        raise ValueError(f"range_test_schedule needs a positive finite min_lr. Received min_lr={min_lr!r}")
    if not (math.isfinite(max_lr) and max_lr > min_lr):
        raise ValueError(
            f"range_test_schedule needs a finite max_lr above min_lr={min_lr!r}. Received max_lr={max_lr!r}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"range_test_schedule needs steps >= 2 (an integer). Received steps={steps!r}")
    return np.geomspace(min_lr, max_lr, num=steps)


def smooth_losses(losses: Sequence[float] | np.ndarray, beta: float = SMOOTHING_BETA) -> np.ndarray:
    """Bias-corrected exponential moving average, as fastai's ``Recorder.smooth_loss``.

    The bias correction keeps the first points on the scale of the raw loss instead of
    starting near zero, so the early, flat part of the curve is not mistaken for a drop.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smoothing needs 0 <= beta < 1. Received beta={beta!r}")
    values = np.asarray(losses, dtype=float)
    smoothed = np.empty_like(values)
    average = 0.0
    for i, value in enumerate(values):
        average = beta * average + (1.0 - beta) * value
        smoothed[i] = average / (1.0 - beta ** (i + 1))
    return smoothed


def should_stop(losses: Sequence[float] | np.ndarray, best_factor: float = 4.0, beta: float = SMOOTHING_BETA) -> bool:
    """True once the sweep has clearly blown up, so the executor stops spending steps.

    Stops at a non-finite loss, or when the smoothed loss exceeds ``best_factor`` times the
    best smoothed loss so far (fastai's rule). The comparison is only meaningful for a
    positive best loss; with a loss that can reach zero or below, only a non-finite value
    stops the sweep.
    """
    if not (math.isfinite(best_factor) and best_factor > 1.0):
        raise ValueError(f"should_stop needs a finite best_factor > 1. Received best_factor={best_factor!r}")
    values = np.asarray(losses, dtype=float)
    if values.size == 0:
        return False
    if not np.all(np.isfinite(values)):
        return True
    smoothed = smooth_losses(values, beta)
    best = float(smoothed.min())
    return best > 0.0 and float(smoothed[-1]) > best_factor * best


FALL_START_SHARE = 0.1
"""The fall begins at the last point before the minimum that is still within 10% of the
fall's height of the highest loss before it: the flat, noisy stretch before the fall is
not part of it."""


def fall_start(losses: np.ndarray) -> int:
    """Index where the curve's main fall begins (0 for a curve that falls from the start).

    The fall ends at the lowest loss; it begins at the last earlier point whose loss is
    within :data:`FALL_START_SHARE` of the fall's height (highest point before the minimum
    minus the minimum) of that highest point. A flat stretch of noise before the fall,
    where small rates change nothing, is thereby left out, whatever its first value.
    """
    lowest = int(np.argmin(losses))
    if lowest == 0:
        return 0
    before = losses[: lowest + 1]
    top = float(before.max())
    height = top - float(losses[lowest])
    near_top = np.flatnonzero(before >= top - FALL_START_SHARE * height)
    return int(near_top[-1])


def valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``valley``: the middle of the longest descending stretch of the fall.

    The longest strictly decreasing subsequence is robust to bumps that a steepest-slope
    rule would chase; fastai picks ``start + L/3 + L/6`` along it (about halfway), which
    is well into the fall yet safely before the minimum, where training becomes unstable.
    The stretch is looked for from :func:`fall_start` on: with plain SGD a sweep is flat
    (and noisy) over decades of small rates, and a low first point would otherwise make
    the "descending stretch" start there and put its middle in the flat part.
    """
    offset = fall_start(losses)
    lrs, losses = lrs[offset:], losses[offset:]
    n = len(losses)
    length = np.ones(n, dtype=int)
    previous = np.full(n, -1, dtype=int)
    for i in range(1, n):
        higher_before = np.flatnonzero(losses[:i] > losses[i])
        if higher_before.size:
            j = int(higher_before[np.argmax(length[higher_before])])
            length[i] = length[j] + 1
            previous[i] = j
    end = int(np.argmax(length))
    start = end
    while previous[start] >= 0:
        start = int(previous[start])
    sections = (end - start) / 3
    index = start + int(sections) + int(sections / 2)
    return float(lrs[index])


def steepest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``steep``: where the loss falls fastest per decade of learning rate."""
    slopes = np.gradient(losses, np.log10(lrs))
    return float(lrs[int(np.argmin(slopes))])


def minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``minimum``: a tenth of the rate at the lowest loss.

    At the minimum itself training is on the edge of diverging; one decade lower is the
    classic rule of thumb.
    """
    return float(lrs[int(np.argmin(losses))]) / 10.0


SUGGESTION_RULES: dict[str, SuggestionRule] = {"valley": valley, "steepest": steepest, "minimum": minimum}


def _check_curve(lrs: Sequence[float] | np.ndarray, losses: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rates = np.asarray(lrs, dtype=float)
    values = np.asarray(losses, dtype=float)
    if rates.ndim != 1 or values.ndim != 1:
        raise ValueError(f"lrs and losses must be 1-D sequences. Received shapes {rates.shape} and {values.shape}")
    if rates.size != values.size:
        raise ValueError(f"lrs and losses must have the same length. Received {rates.size} lrs and {values.size} losses")
    if rates.size < MIN_POINTS:
        raise ValueError(f"a range test needs at least {MIN_POINTS} points to suggest a rate. Received {rates.size}")
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        raise ValueError("every learning rate must be positive and finite; pass the schedule the sweep used")
    if np.any(np.diff(rates) <= 0):
        raise ValueError("learning rates must increase strictly, as range_test_schedule returns them")
    return rates, values


def _finite_prefix(rates: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The curve up to its first non-finite loss: after a blow-up nothing is measured."""
    bad = np.flatnonzero(~np.isfinite(values))
    cut = int(bad[0]) if bad.size else values.size
    return rates[:cut], values[:cut]


def _is_flat(smoothed: np.ndarray) -> bool:
    start = float(smoothed[0])
    return start - float(smoothed.min()) <= FLAT_TOLERANCE * max(abs(start), 1e-12)


def _conservative(rates: np.ndarray, smoothed: np.ndarray, full_rates: np.ndarray) -> float:
    """The default rate, kept below where the curve starts to climb (or blew up)."""
    ceiling = float(full_rates[-1])
    if smoothed.size:
        start = float(smoothed[0])
        rising = np.flatnonzero(smoothed > start + FLAT_TOLERANCE * max(abs(start), 1e-12))
        if rising.size:
            ceiling = float(rates[rising[0]])
        elif rates.size < full_rates.size:
            ceiling = float(rates[-1])
    else:
        ceiling = float(full_rates[0])
    return float(np.clip(min(DEFAULT_LEARNING_RATE, ceiling), full_rates[0], full_rates[-1]))


@dataclass(frozen=True)
class _Outcome:
    """What a suggestion was computed from, so the describing text quotes the same numbers."""

    suggestion: float
    fallback: bool
    rates: np.ndarray
    kept_rates: np.ndarray
    smoothed: np.ndarray


def _suggest(
    lrs: Sequence[float] | np.ndarray, losses: Sequence[float] | np.ndarray, method: str, beta: float
) -> _Outcome:
    if method not in SUGGESTION_RULES:
        raise ValueError(f"unknown suggestion method {method!r}; use one of {', '.join(sorted(SUGGESTION_RULES))}")
    rates, values = _check_curve(lrs, losses)
    kept_rates, kept_values = _finite_prefix(rates, values)
    smoothed = smooth_losses(kept_values, beta)
    if smoothed.size < 3 or _is_flat(smoothed):
        return _Outcome(_conservative(kept_rates, smoothed, rates), True, rates, kept_rates, smoothed)
    suggestion = SUGGESTION_RULES[method](kept_rates, smoothed)
    return _Outcome(float(np.clip(suggestion, rates[0], rates[-1])), False, rates, kept_rates, smoothed)


def suggest_learning_rate(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    method: str = "valley",
    beta: float = SMOOTHING_BETA,
) -> float:
    """One learning rate from a range-test curve, always inside the swept range.

    The curve is cut at its first non-finite loss and smoothed with a bias-corrected EMA
    before the named rule of :data:`SUGGESTION_RULES` picks a point. A curve that never
    falls (or has fewer than 3 finite points) gives :data:`DEFAULT_LEARNING_RATE`, lowered
    to where the loss starts to climb; :func:`describe_suggestion` says which case applied.
    """
    return _suggest(lrs, losses, method, beta).suggestion


def on_the_asked_side(suggestion: float, current: float, higher: bool) -> bool:
    """The suggestion moves the rate from ``current`` the way the treatment asks (``higher``).
    A treatment that raises a rate too low gains nothing from a suggestion below the rate that
    was too low, and one that lowers a rate too high nothing from one above it: a sweep's
    valley can sit on either side."""
    if not (math.isfinite(suggestion) and suggestion > 0 and math.isfinite(current) and current > 0):
        return False
    return suggestion > current if higher else suggestion < current


def describe_suggestion(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    method: str = "valley",
    beta: float = SMOOTHING_BETA,
) -> str:
    """The suggestion with the numbers behind it, for the diagnosis report's evidence."""
    outcome = _suggest(lrs, losses, method, beta)
    rates, kept_rates, smoothed = outcome.rates, outcome.kept_rates, outcome.smoothed
    parts: list[str] = []
    if smoothed.size == 0:
        parts.append("no finite loss was recorded")
    elif outcome.fallback and smoothed.size < 3:
        parts.append(f"only {smoothed.size} finite loss value(s) were recorded")
    elif outcome.fallback:
        parts.append(
            f"loss never fell by {FLAT_TOLERANCE:.0%} from its start {smoothed[0]:.3g} "
            f"between lr {kept_rates[0]:.1e} and {kept_rates[-1]:.1e}"
        )
    else:
        best = int(np.argmin(smoothed))
        parts.append(
            f"loss fell from {smoothed[0]:.3g} to {smoothed[best]:.3g} "
            f"between lr {kept_rates[0]:.1e} and {kept_rates[best]:.1e}"
        )
    if kept_rates.size < rates.size:
        parts.append(f"loss became non-finite at lr {rates[kept_rates.size]:.1e}")
    label = "conservative default" if outcome.fallback else f"{method} suggestion"
    return "; ".join(parts) + f"; {label} {outcome.suggestion:.1e}"
