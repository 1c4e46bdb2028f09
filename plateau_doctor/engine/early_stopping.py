"""The ``overfitting`` symptom, read with Prechelt's early-stopping criteria against the
validation curve's own noise. Pure: numpy only.

Prechelt ("Early Stopping - But When?", in Neural Networks: Tricks of the Trade, 1998)
measured, on many real noisy validation curves, three ways to tell that training has gone
past its best point:

- the **generalization loss** GL(t) = 100 (E_va(t) / E_opt(t) - 1), E_opt the lowest
  validation error so far; the class GL_alpha stops once GL > alpha (he tested alpha 1-5);
- the **training progress** over a strip of k = 5 epochs,
  P_k(t) = 1000 (sum E_tr over the strip / (k min E_tr over the strip) - 1), per mille:
  how much the training error still moves; the class PQ_alpha stops once the quotient
  GL / P_k > alpha (tested 0.5-3): a generalization loss counts more once training has
  slowed down;
- **UP_s**: the validation error went up at the end of s successive strips (tested 2-8).

They are stopping rules, tuned to stop early. A diagnosis asks something else of a
finished run: did it go so far past its best that the final model is clearly worse? So:

- E_opt is the lowest point of the validation curve's running median over 3 epochs, not
  its lowest raw epoch (the raw minimum of a noisy curve is a lucky draw, biased low by
  about two standard deviations of the noise);
- the end is the median of the last 3 epochs (one wild epoch does not make or break it);
- the run is overfit when that end is at least :data:`GL_SICK` above E_opt (twice the most
  patient GL criterion Prechelt tested), the best point lies at least ``patience`` epochs
  (a strip) before the end, and both the rise and the robust trend after the best point go
  up beyond the scatter the curve showed while it still improved (:mod:`.noise`; a noisy
  validation loss at its floor dips low once and comes back, which is no rise), and the
  training loss kept falling since (beyond its own noise): a validation loss that rises
  while the training loss rises too is instability, not overfitting;
- overfitting is memorizing: the training loss must end below the validation loss. A
  training loss held above the validation loss (the thinned net of a heavy dropout, or
  augmented rows) shows no fit to the training rows that unseen ones lack, and a rising
  validation loss there is left to the stall tests and their causes;
- a network that never learned cannot overfit: when the trivial loss is known (the audit,
  or the chance level a log shows), the training loss must have gone below it.

The evidence quotes GL, the training progress P_5 and the quotient PQ, and UP_s, with
their numbers, so that a reader can check them against Prechelt's thresholds.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine import noise
from plateau_doctor.engine.curve_math import fmt, pct, ramp, relative_improvement
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import OVERFITTING, Finding

STRIP = 5
"""Prechelt's strip length k: training progress and UP_s are read over strips of 5 epochs."""

GL_SICK = 10.0
"""A finished run is overfit when its final validation loss is 10% or more above the best
(GL >= 10): twice the generalization loss at which Prechelt's most patient GL criterion
(GL5) would already have stopped it."""

GL_SURE = 50.0
"""At GL 50 (the final validation loss half again the best) the confidence is full."""

END_EPOCHS = 3
"""The end of the run is the median of its last 3 epochs."""


def _generalization_loss(best: float, end: float, span: float) -> float:
    """GL in percent; relative to the curve's span when a loss is <= 0 (a custom loss)."""
    if best > 0:
        return 100.0 * (end / best - 1.0)
    return 100.0 * (end - best) / span if span > 0 else math.nan


def training_progress(train: np.ndarray, strip: int = STRIP) -> float:
    """Prechelt's P_k at the last epoch, per mille (NaN when a value is not positive)."""
    tail = train[-strip:]
    low = float(np.min(tail))
    if tail.size < 2 or not low > 0:
        return math.nan
    return 1000.0 * (float(np.mean(tail)) / low - 1.0)


def successive_rises(level: np.ndarray, strip: int = STRIP) -> int:
    """UP_s: how many successive strips, counted back from the last epoch, ended higher than
    they began (read on the running median, so one wild epoch is not a strip's end)."""
    rises, end = 0, level.size - 1
    while end - strip >= 0 and level[end] > level[end - strip]:
        rises += 1
        end -= strip
    return rises


def _never_learned(run: Run, train: np.ndarray) -> bool:
    """The trivial loss is known and the training loss never went below it."""
    trivial = run.audit.trivial_val_loss
    if not (math.isfinite(trivial) and trivial > 0 and loss_in_audit_scale(run.setup)):
        return False
    return not float(np.min(train)) < trivial * (1.0 - run.detection.trivial_tolerance)


def overfitting(run: Run) -> Finding | None:
    """The validation loss went clearly past its best while the training loss kept falling."""
    if run.train is None or run.val is None:
        return None
    start = min(run.detection.start_from_epoch, run.n_epochs - 1)
    val, train = run.val[start:], run.train[start:]
    if val.size < run.patience + 2 or not (np.all(np.isfinite(val)) and np.all(np.isfinite(train))):
        return None
    level = noise.running_median(val)
    low = int(np.argmin(level))
    best = max(0, low - 1) + int(np.argmin(val[max(0, low - 1): low + 2]))  # its lowest raw epoch
    if val.size - 1 - best < run.patience or _never_learned(run, run.train):
        return None
    e_opt, e_end = float(level[low]), float(np.median(val[-END_EPOCHS:]))
    span = float(np.max(level) - np.min(level))
    gl = _generalization_loss(e_opt, e_end, span)
    sigma, relative = _scatter_while_improving(run.val, start + best)
    if relative != noise.in_relative_units(val[best:])[1] or (relative and not e_end > 0):
        sigma = math.nan  # the two parts are not in the same units: read the rise's own scatter
    after = noise.trend(val[best:], sigma=sigma) if math.isfinite(sigma) else noise.trend(val[best:])
    rise = math.log(e_end / e_opt) if relative and e_opt > 0 and e_end > 0 else e_end - e_opt
    beyond_noise = not math.isfinite(sigma) or rise > noise.Z * sigma * math.sqrt(2.0)
    if not gl >= GL_SICK or after is None or not after.rises or not beyond_noise:
        return None
    train_best = float(np.median(train[max(0, best - 1): best + 2]))
    train_end = float(np.median(train[-END_EPOCHS:]))
    fell = relative_improvement(train_best, train_end)
    train_trend = noise.trend(train[best:])
    if fell < run.detection.min_delta or train_trend is None or not train_trend.falls:
        return None
    if not train_end < e_end:
        return None  # no generalization gap: the training rows are not fitted better than unseen ones
    return symptom(OVERFITTING, 0.5 + 0.4 * ramp(gl, GL_SICK, GL_SURE), _evidence(run, start, best, e_opt, gl, fell))


def _scatter_while_improving(val: np.ndarray, at: int) -> tuple[float, bool]:
    """The validation curve's scatter up to its best epoch ``at`` (what it wobbles by while it
    still improves; the rise after it is what is being tested, not noise), or over the whole
    curve when that part is too short to tell; and whether it is in relative units."""
    before = val[: at + 1]
    scaled, relative = noise.in_relative_units(before if before.size >= noise.MIN_EPOCHS else val)
    return noise.noise(scaled), relative


def _evidence(run: Run, start: int, best: int, e_opt: float, gl: float, fell: float) -> str:
    val, train = run.val[start:], run.train[start:]
    progress = training_progress(train)
    quotient = gl / progress if progress > 0 else math.inf
    rises = successive_rises(noise.running_median(val))
    recent = val[-run.patience:]
    return (
        f"val_loss bottomed at epoch {start + best + 1} ({fmt(float(val[best]))}; E_opt {fmt(e_opt)}, its running"
        f" median of 3) and ended"
        f" at {fmt(float(np.median(val[-END_EPOCHS:])))} (median of the last {END_EPOCHS}; lowest"
        f" {fmt(float(np.min(recent)))} over the last {run.patience}, last {fmt(float(val[-1]))}),"
        f" {val.size - 1 - best} epochs later: Prechelt's generalization loss GL = 100 (E_va / E_opt - 1) ="
        f" {gl:.1f} (>= {GL_SICK:g}, twice his GL5 stop; beyond the curve's noise); UP_{rises}: val_loss rose over"
        f" the last {rises} strip(s) of {STRIP} epochs; training progress P_{STRIP} = {progress:.1f} per mille,"
        f" quotient PQ = GL / P_{STRIP} = {fmt(quotient)} (Prechelt stops at PQ 0.5-3); the training loss kept"
        f" falling {pct(fell)} since the best epoch ({fmt(float(np.median(train[max(0, best - 1): best + 2])))} ->"
        f" {fmt(float(np.median(train[-END_EPOCHS:])))})"
    )


def sustained(run: Run, rise: float) -> bool:
    """Every one of the last ``patience`` validation epochs at least ``rise`` above the best
    level: what a baseline is stopped on (a stop is final, so it waits for a rise that no
    single noisy epoch makes)."""
    start = min(run.detection.start_from_epoch, run.n_epochs - 1)
    level = noise.running_median(run.val[start:])
    best = float(np.min(level))
    recent = run.val[-run.patience:]
    return bool(best > 0 and np.all(recent >= best * (1.0 + rise)))
