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
- the run is overfit when that end is at least :data:`GL_SICK` above E_opt (Prechelt's GL5),
  the best point lies at least ``patience`` epochs (a strip) before the end, the rise is
  beyond the curve's noise, and the training loss kept falling since (beyond its own noise):
  a validation loss that rises while the training loss rises too is instability, not
  overfitting. "Beyond the noise" is a parametric bootstrap (:func:`floor_rise_bound`): on
  a flat floor as long as the run's (from the first epoch whose level is at or below the
  end's, to the end) with the curve's own scatter (:mod:`.noise`: the whole curve's, and
  never less than the floor's own, :func:`_scatter`), the rise E_end - E_opt is drawn
  :data:`DRAWS` times (seeded); and once :data:`MIN_RANKED` epochs follow the best, Kendall's
  test for an upward trend is read on them too (:func:`noise.kendall_rise_p`: the test that
  goes with Theil-Sen's slope; Mann's trend test). The run's rise is beyond the noise when the
  rise exceeds all but :data:`ALPHA` of its draws, or, with the ranks read too, when the rise
  exceeds all but :data:`ALPHA` / 2 of its draws or the ranks' p-value is under :data:`ALPHA` / 2
  (Bonferroni: a flat floor is called overfit at most :data:`ALPHA` of the time). The end's
  median sees three epochs, and catches a late jump; the ranks see every epoch since the best,
  and catch a steady climb on a noisy floor that no three epochs show. The epoch the best was
  picked at is left out of the ranks: given where the lowest epoch of a floor of exchangeable
  noise lies, the epochs after it are still exchangeable, so the selection biases nothing (a
  slope read from the minimum itself is biased up, and needed 3.1 standard errors where 2.24
  hold unselected). The ranks read no scatter: a climb on a floor quieter than a noisy warm-up
  (a schedule that anneals the rate), or one among a few wild epochs that swell the scatter, is
  not hidden by it. The minimum of a noisy floor is biased low, the more so the longer the
  floor: on flat floors of 6-25 epochs a fixed two standard errors of the difference called
  1-30% overfit, the bootstrap of the rise alone 0.2-4.2%, the test with the ranks 0.2-4.0%
  (with a slope in standard errors in their place 0.2-4.5%). The ranks catch a climb of 0.15
  in log space over a 25-epoch floor three times quieter than its warm-up 80% of the time (the
  slope 59%, the rise alone 44%), over one as quiet as its warm-up 86% (77%, 61%)
  (``harness/overfitting_floor_check.py``; over 2.5% where the scatter itself is misread, up
  to 5.2% on a 60-epoch floor three times noisier than its warm-up, and every test reads a
  floor whose noise is correlated from epoch to epoch, a slow wander, as a trend). The robust trend
  after the best point must also go up;
- overfitting is memorizing: the training loss must end below the validation loss. A
  training loss held above the validation loss (the thinned net of a heavy dropout, or
  augmented rows) shows no fit to the training rows that unseen ones lack, and a rising
  validation loss there is left to the stall tests and their causes;
- a network that never learned cannot overfit: when the trivial loss is known (the audit,
  or the chance level a log shows), the training loss and the validation loss' best level
  must both have gone below it.

The evidence quotes GL, the training progress P_5 and the quotient PQ, and UP_s, with
their numbers, so that a reader can check them against Prechelt's thresholds.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from plateau_doctor.engine import noise
from plateau_doctor.engine.curve_math import fmt, pct, ramp, relative_improvement
from plateau_doctor.engine.levels import ends_above_chance, loss_in_audit_scale
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import OVERFITTING, Finding

STRIP = 5
"""Prechelt's strip length k: training progress and UP_s are read over strips of 5 epochs."""

GL_SICK = 5.0
"""A finished run is overfit when its final validation loss is 5% or more above the best
(GL >= 5): the generalization loss at which Prechelt's most patient GL criterion (GL5)
stops. His criteria had no noise test; here the rise must also be beyond the curve's noise,
so a noisy curve needs more than 5%."""

GL_CONFIDENT = 10.0
"""From GL 10 the confidence grows (0.5 at GL 10 and below, 0.9 at :data:`GL_SURE`)."""

ALPHA = 0.025
"""The share of flat floors whose rise a run's rise may fail to exceed: one-sided 2.5%, as
``noise.Z``'s trend test."""

DRAWS = 2000
"""Floors drawn for the bound: its 97.5% quantile is then known to within about 0.1 sigma."""

GL_SURE = 50.0
"""At GL 50 (the final validation loss half again the best) the confidence is full."""

END_EPOCHS = 3
"""The end of the run is the median of its last 3 epochs."""

MIN_RANKED = 5
"""Kendall's test reads the epochs after the best once there are 5: the fewest whose exact
p-value can fall under ALPHA / 2 (five epochs in rising order happen 1 time in 120)."""


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


def _never_learned(run: Run, train: np.ndarray, e_opt: float) -> bool:
    """The trivial loss is known and the training loss never went below it, or the validation
    loss' best level never did while its predictions never rose clearly above chance: a net that
    never generalized anything has nothing to lose by overfitting (memorizing from the start is
    having no signal to learn, not overfitting). A net whose balanced accuracy ends above chance
    by more than the validation split's noise (``levels.chance_margin``) did learn something, even
    when memorizing made its probabilities too sure for its loss ever to beat the trivial one."""
    trivial = run.audit.trivial_val_loss
    if not (math.isfinite(trivial) and trivial > 0 and loss_in_audit_scale(run.setup)):
        return False
    floor = trivial * (1.0 - run.detection.trivial_tolerance)
    if not float(np.min(train)) < floor:
        return True
    return not e_opt < floor and not ends_above_chance(run.history, run.audit, END_EPOCHS)


def _past_best(run: Run) -> tuple[int, float, float, float, np.ndarray] | None:
    """The cheap tests first (this runs after every epoch of a fit): the validation loss' best
    epoch at least ``patience`` before the end, a network that learned, GL >= :data:`GL_SICK` and
    a robust trend since the best that goes up. Returns (best, E_opt, the end's median, GL, the
    running median of 3)."""
    if run.train is None or run.val is None:
        return None
    # Prechelt's E_opt is the lowest so far from epoch 1 (no warm-up cut): a fine-tuned net can be at its best there.
    val, train = run.val, run.train
    if val.size < run.patience + 1 or not (np.all(np.isfinite(val)) and np.all(np.isfinite(train))):
        return None
    level = noise.running_median(val)
    best = _best_epoch(val)
    e_opt, e_end = float(np.min(level)), float(np.median(val[-END_EPOCHS:]))
    if val.size - 1 - best < run.patience or _never_learned(run, train, e_opt):
        return None
    gl = _generalization_loss(e_opt, e_end, float(np.max(level) - np.min(level)))
    after = noise.trend(val[best:])
    if not gl >= GL_SICK or after is None or not after.slope > 0:
        return None
    return best, e_opt, e_end, gl, level


def rise_within_noise(run: Run) -> str | None:
    """For a healthy verdict's evidence: the validation loss ended GL5 or more above its best, on a
    rising trend, but no further than this curve's own scatter takes a flat floor (none of
    :func:`rise_beyond_noise`'s tests passed). The user sees the rise and why it is not called
    overfitting; None when there is no such rise."""
    past = _past_best(run)
    if past is None or rise_beyond_noise(run.val, past[4], past[0]) is not None:
        return None
    best, e_opt, e_end, gl, level = past
    length = _floor_length(level, e_end)
    sigma, relative = _scatter(run.val, length)
    return (f"val_loss ended at {fmt(e_end)} (median of the last {END_EPOCHS}), {gl:.0f}% above its best level"
            f" {fmt(e_opt)} (running median of 3, by epoch {best + 1}; Prechelt's GL {gl:.0f}), within this curve's"
            f" own noise (scatter {fmt(sigma)}"
            f"{' in log space' if relative else ''} per epoch; neither the rise nor the order of the"
            f" {run.val.size - 1 - best} epochs since is beyond what a flat floor makes): not called overfitting")


def overfitting(run: Run) -> Finding | None:
    """The validation loss went clearly past its best while the training loss kept falling."""
    past = _past_best(run)
    if past is None:
        return None
    best, e_opt, e_end, gl, level = past
    val, train = run.val, run.train
    beyond = rise_beyond_noise(val, level, best)
    if beyond is None:
        return None
    train_best = float(np.median(train[max(0, best - 1): best + 2]))
    train_end = float(np.median(train[-END_EPOCHS:]))
    fell = relative_improvement(train_best, train_end)
    train_trend = noise.trend(train[best:])
    if fell < run.detection.min_delta or train_trend is None or not train_trend.falls:
        return None
    if not train_end < e_end:
        return None  # no generalization gap: the training rows are not fitted better than unseen ones
    return symptom(OVERFITTING, 0.5 + 0.4 * ramp(gl, GL_CONFIDENT, GL_SURE), _evidence(run, best, e_opt, gl, fell, beyond))


def mended_by_restore(run: Run) -> str | None:
    """Why a rise past the best does not touch the model the fit leaves, when a callback put back
    an epoch's weights at the end (``Run.kept_epoch``: Keras' EarlyStopping with
    ``restore_best_weights``) whose validation loss is not GL5 above E_opt: Prechelt's criterion
    read on the kept model, which is the one the user gets. None otherwise."""
    kept = run.kept_epoch
    if not kept or run.val is None or not np.all(np.isfinite(run.val[:kept])):
        return None
    level = noise.running_median(run.val)
    e_opt, e_kept = float(np.min(level)), float(run.val[kept - 1])
    gl = _generalization_loss(e_opt, e_kept, float(np.max(level) - np.min(level)))
    if not gl < GL_SICK:
        return None
    return (f"a callback restored epoch {kept}'s weights at the end of the fit: the kept model's val_loss"
            f" {fmt(e_kept)} is GL {fmt(max(gl, 0.0))} above E_opt {fmt(e_opt)} (< {fmt(GL_SICK)}), before the rise")


def rise_beyond_noise(val: np.ndarray, level: np.ndarray, best: int) -> str | None:
    """How the validation loss rose since its ``best`` epoch beyond what a flat floor with the
    curve's scatter makes, or None: its end's median above the best level
    (:func:`floor_rise_bound`), or, once :data:`MIN_RANKED` epochs follow the best, the order of
    those epochs (Kendall's test, :func:`noise.kendall_rise_p`). One test runs at ``ALPHA``, two
    at ``ALPHA / 2`` each. When the scatter cannot be read, the cheap GL test alone decides."""
    e_opt, e_end = float(np.min(level)), float(np.median(val[-END_EPOCHS:]))
    length = _floor_length(level, e_end)
    sigma, relative = _scatter(val, length)
    if not math.isfinite(sigma):
        return "too few epochs to read the curve's scatter"
    after = np.asarray(val[best + 1:], dtype=float)
    ranked = after.size >= MIN_RANKED
    alpha = ALPHA / 2 if ranked else ALPHA
    rise = math.log(e_end / e_opt) if relative and e_opt > 0 and e_end > 0 else e_end - e_opt
    units = " in log space" if relative else ""
    bound = floor_rise_bound(length, sigma, alpha=alpha)
    if rise > bound:
        return (f"the end rose {fmt(rise)}{units} above the best level, beyond the {fmt(bound)} that a flat floor of"
                f" {length} epochs with this scatter ({fmt(sigma)}) exceeds {pct(alpha)} of the time")
    p_value = noise.kendall_rise_p(after) if ranked else math.nan
    if p_value < alpha:
        return (f"the {after.size} epochs after the best are ordered upward: Kendall's trend test p = {p_value:.2g},"
                f" under the {pct(alpha)} of the time that noise whose epochs are exchangeable orders itself that far"
                " upward")
    return None


def _best_epoch(val: np.ndarray) -> int:
    """The lowest raw epoch next to the lowest point of the running median of 3."""
    low = int(np.argmin(noise.running_median(val)))
    return max(0, low - 1) + int(np.argmin(val[max(0, low - 1): low + 2]))


def floor_rise_bound(length: int, sigma: float, *, draws: int = DRAWS, alpha: float = ALPHA) -> float:
    """The (1 - alpha) quantile of median(last 3) - min(running median of 3) on a flat floor of
    ``length`` epochs with Gaussian scatter ``sigma`` (seeded: the same bound every time).

    Medians, minima and quantiles scale with the scatter, so the bound is ``sigma`` times a unit
    floor's, drawn once per length (it is asked after every epoch of every fit)."""
    return sigma * _unit_floor_rise_bound(max(int(length), END_EPOCHS + 1), draws, alpha)


@functools.lru_cache(maxsize=None)
def _unit_floor_rise_bound(length: int, draws: int, alpha: float) -> float:
    floors = np.random.default_rng(19).normal(0.0, 1.0, (draws, length))
    padded = np.concatenate([floors[:, :1], floors, floors[:, -1:]], axis=1)
    medians = np.median(np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
    medians[:, 0] = np.median(floors[:, :2], axis=1)  # the running median shrinks at the ends
    medians[:, -1] = np.median(floors[:, -2:], axis=1)
    rises = np.median(floors[:, -END_EPOCHS:], axis=1) - medians.min(axis=1)
    return float(np.quantile(rises, 1.0 - alpha))


def _floor_length(level: np.ndarray, e_end: float) -> int:
    """Epochs from the first whose running median is at or below the end level, to the end:
    were the validation loss flat since then (no rise), its best level was picked from them."""
    within = np.flatnonzero(level <= e_end)
    return int(level.size - within[0]) if within.size else level.size


def _scatter(val: np.ndarray, floor: int) -> tuple[float, bool]:
    """One epoch's scatter and whether it is in relative units: read over the whole validation
    curve (warm-up included: more pseudo-residuals, a steadier estimate; they cancel a straight
    trend, rising or falling; a knee inflates it a little, never deflates it), and never below
    the scatter of the last ``floor`` epochs alone. A validation loss' relative noise grows as
    its level falls, and a floor noisier than the warm-up read with the whole curve's scatter
    was called overfit 13-16% of the time (``harness/overfitting_floor_check.py``)."""
    scaled, relative = noise.in_relative_units(val)
    sigma, own = noise.noise(scaled), noise.noise(scaled[-floor:])
    return (max(sigma, own) if math.isfinite(own) else sigma), relative


def _evidence(run: Run, best: int, e_opt: float, gl: float, fell: float, beyond: str) -> str:
    val, train = run.val, run.train
    progress = training_progress(train)
    quotient = gl / progress if progress > 0 else math.inf
    rises = successive_rises(noise.running_median(val))
    recent = val[-run.patience:]
    return (
        f"val_loss bottomed at epoch {best + 1} ({fmt(float(val[best]))}; E_opt {fmt(e_opt)}, its running"
        f" median of 3) and ended"
        f" at {fmt(float(np.median(val[-END_EPOCHS:])))} (median of the last {END_EPOCHS}; lowest"
        f" {fmt(float(np.min(recent)))} over the last {run.patience}, last {fmt(float(val[-1]))}),"
        f" {val.size - 1 - best} epochs later: Prechelt's generalization loss GL = 100 (E_va / E_opt - 1) ="
        f" {gl:.1f} (>= {GL_SICK:g}, his GL5 stop; beyond the curve's noise: {beyond}); UP_{rises}: val_loss rose over"
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
