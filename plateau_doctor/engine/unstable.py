"""The symptoms of a step that is too large: an oscillating training loss, and a blow-up
followed by a flat loss. Pure: numpy only.

**The training loss tells the step size's instability.** The training loss is the mean
over an epoch's updates of what the optimizer itself minimizes: when steps overshoot, it
stops falling and swings. The validation loss is one snapshot per epoch, of the
end-of-epoch weights, on a split that may hold a few dozen rows: its wobble over a training
loss that keeps falling beyond its own noise is sampling noise (or a regularized net's
inference mode), not the optimizer's, and names no cause. So an oscillation is read on the
training loss; on the validation loss only when there is no training loss, or when the
training loss stands still (no fall beyond its scatter): an epoch mean that stops moving
while the end-of-epoch snapshots bounce is weights thrown back and forth around a valley
(plain SGD at too large a step shows exactly this), not a sampling artefact. Unless the
training loss sits far below every snapshot's validation loss (:data:`FITS_TRAINING_ROWS`): a
step that overshoots throws the fit of the training rows about as much as any other rows', so a
net that holds its training loss at a fraction of its best validation loss is at its valley, and
its snapshots differ in how they generalize (the gap of a fitted net), not in where the step
threw them.

An oscillation needs three things (each a test of :mod:`.noise` or a share of the level):
epoch-to-epoch moves of at least :data:`OSCILLATION_AMPLITUDE` of the level, up and down
(at least :data:`OSCILLATION_FLIPS` reversals, or spikes), and **no net progress beyond the
curve's own scatter** over the last half of the run (:func:`_progress_window`): a noisy loss
whose robust trend still falls by more than ``noise.Z`` standard errors there is a run
learning through its noise (augmentation, dropout, small batches), not one bouncing in place.
A logged learning rate that goes up (a warm restart, a cyclical schedule) throws the loss up on
purpose: the swing is read only after the last such rise. One that falls tenfold or more under
the swing (ReduceLROnPlateau at work) leaves a swing that did not shrink with the step: noise.
Without a reference, a swing under which the logged accuracy beside it holds within 5 points is
the confidence of rows moving, not the boundary: a step that overshoots moves the accuracy too.

A **blow-up followed by a flat loss** (:func:`blown_up_then_flat`) is a loss that, after its
first epoch, jumps to :data:`BLOW_UP_FACTOR` times the lowest value it had reached, and then
makes no progress: the steps threw the weights out and the network never recovered (dead
or saturated units, or a collapse to a constant output). A loss that blows up and then
learns again is left to the other tests.
"""

from __future__ import annotations

import numpy as np

from plateau_doctor.engine import noise
from plateau_doctor.engine.chance import ACCURACY_MARGIN
from plateau_doctor.engine.curve_math import TINY, column, fmt, pct, ramp, relative_improvement
from plateau_doctor.engine.levels import ReferenceGap
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import Finding

OSCILLATION_AMPLITUDE = 0.1
"""Epoch-to-epoch moves averaging 10% of the loss level."""

OSCILLATION_FLIPS = 0.5
"""At least half of the consecutive moves reverse direction: the loss goes up and down."""

OSCILLATION_RISES = 2
"""...and it swings repeatedly: at least two rises of :data:`OSCILLATION_AMPLITUDE` of the level in
the window (or a spike). Reversals among moves within the noise flip at random, so a single bump
and its recovery inside a quiet curve can count half its moves as reversals."""

OSCILLATION_EFFICIENCY = 0.5
"""No net progress: the net change over the window is less than half of the distance the
loss travelled up and down (1 for a monotone curve, ~0 for pure back-and-forth)."""

OSCILLATION_STALL = 0.1
"""...and no net progress in the estimate either: a trend that still takes 10% or more off the
level over the progress window (the labelling rule R5's threshold), and more than one epoch's
scatter, points down. A short,
noisy run whose fall is not significant cannot be shown to stand still, and a sick verdict
needs the stall shown, not merely the progress unproven."""

FITS_TRAINING_ROWS = 0.5
"""A recent training loss under half the lowest validation loss of the run: the training rows are
fit far better than the best snapshot generalizes."""

SPIKE_FACTOR = 2.0
"""One epoch at more than twice the previous epoch's loss is a spike."""

OSCILLATION_MIN_EPOCHS = 5
"""Fewest epochs (4 moves) on which up-and-down movement can be told from noise."""

FROZEN_SPREAD = 1e-4
"""A loss whose last epochs differ by under 0.01% of its level no longer moves at all
(:func:`is_frozen`, also ``log_doctor``'s frozen plateau): minibatch noise alone moves a live
network's epoch mean more."""

BLOW_UP_FACTOR = 10.0
"""A loss that jumps to 10x the lowest value it had reached has blown up: an order of
magnitude is far beyond any minibatch or sampling noise of an epoch-mean loss, and beyond
the 3x that a diverging run's smoothed end is judged by (``detection.DIVERGENCE_FACTOR``)."""


RATE_CUT = 10.0
"""A logged rate ten times lower at the end of the swing's window than at its start: a step
cut by an order of magnitude."""

RATE_RAISED = 1.01
"""A logged learning rate more than 1% above the previous epoch's was raised by a schedule (float
rounding of a constant rate moves it far less)."""


def oscillation(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """The training loss (else, in a log without one, the validation loss) goes up and down
    by a large share of its level, over the last ``2 * patience`` epochs after the warm-up,
    without net progress beyond its scatter.

    A curve that wobbles at the reference model's level is noise around convergence (a
    small loss moves by a large share of itself), so a clear gap to the reference is
    required when measurable; and a training loss that wobbles while the validation loss
    falls steadily is dropout's or the batches' noise: the weights improve epoch after epoch.
    """
    if gap is not None and not gap.far:
        return None
    if run.train is not None and _steadily_improving(run.val, run):
        return None
    for name, values in (("loss", run.train), ("val_loss", run.val)):
        if values is None or (name == "val_loss" and not _training_stands_still(run)):
            continue
        found = _swinging(name, values, run, gap)
        if found is not None:
            return found
    return None


def _training_stands_still(run: Run) -> bool:
    """No training loss, or one whose robust trend makes no progress beyond its scatter: the
    epoch mean stands still while the end-of-epoch snapshots may bounce (unless it stands far
    below them: ``FITS_TRAINING_ROWS``)."""
    if run.train is None:
        return True
    recent = run.train[-run.detection.patience:]
    if np.all(np.isfinite(recent)) and _far_below_the_best_snapshot(float(np.mean(recent)), run):
        return False  # at its training valley: the snapshots' wobble is the gap's, not the step's
    drift = noise.trend(_progress_window(run.train, run))
    return drift is not None and not _progressing(drift)


def _logged(run: Run, name: str) -> np.ndarray | None:
    """A logged column with one value per epoch of the run (a learning rate, an accuracy), or None."""
    values = column(run.history, name)
    return values if values is not None and values.size == run.n_epochs else None


def _rate_cut_under_the_swing(run: Run, epochs: int) -> bool:
    """The logged learning rate fell :data:`RATE_CUT` or more over the swing's window (a schedule,
    ReduceLROnPlateau): a swing driven by the step shrinks with it, so one that spans an
    order-of-magnitude cut of the step is the batches' or dropout's noise, not the step's."""
    rate = _logged(run, "learning_rate")
    if rate is None:
        return False
    window = rate[-epochs:]
    if not np.all(np.isfinite(window)) or not float(np.min(window)) > 0:
        return False
    return float(window[0]) >= RATE_CUT * float(window[-1])


def _accuracy_holds(name: str, run: Run, epochs: int) -> bool:
    """The accuracy logged beside the swinging loss (``accuracy`` for the training loss,
    ``val_accuracy`` for the snapshots) stays within ``chance.ACCURACY_MARGIN`` over the swing:
    the swing moves the confidence of rows, not which side of the boundary they fall on. A step
    that overshoots throws the boundary, and the accuracy, around. Read without a reference
    only: with one, a swing at the level the data allow is already excused by the gap."""
    accuracy = _logged(run, "accuracy" if name == "loss" else "val_accuracy")
    if accuracy is None:
        return False
    window = accuracy[-epochs:]
    return bool(np.all(np.isfinite(window)) and float(np.ptp(window)) < ACCURACY_MARGIN)


def _far_below_the_best_snapshot(loss: float, run: Run) -> bool:
    """A training loss under ``FITS_TRAINING_ROWS`` of the lowest validation loss of the run."""
    if run.val is None or not np.isfinite(run.val).any():
        return False
    lowest = float(np.nanmin(run.val))
    return lowest > 0 and loss < FITS_TRAINING_ROWS * lowest


def _within_training_valley(tail: np.ndarray, run: Run) -> bool:
    """Even the training loss' highest epoch of the swing is far below the best snapshot
    (:func:`_far_below_the_best_snapshot`): a step that overshoots throws the training fit up
    toward the level of unseen rows, so a swing that never leaves that far below is a small
    loss' wobble in its valley (a share of a loss of 0.04 is a fraction of a percent of accuracy)."""
    return _far_below_the_best_snapshot(float(np.max(tail)), run)


def _progressing(drift: noise.Trend) -> bool:
    """Net progress, as the swing tests read it (the same reading for the training loss that swings
    and for the one under swinging snapshots): a fall beyond ``noise.Z`` standard errors, or a
    trend that takes :data:`OSCILLATION_STALL` or more off the level and more than one epoch's
    scatter over the window (a zig-zag of +-50% whose trend dips 13% has not outrun its swing)."""
    return drift.falls or (drift.share_change <= -OSCILLATION_STALL and -drift.change > drift.sigma)


def _swinging(name: str, values: np.ndarray, run: Run, gap: ReferenceGap | None) -> Finding | None:
    tail = _oscillation_window(values, run)
    if len(tail) < OSCILLATION_MIN_EPOCHS or not np.all(np.isfinite(tail)):
        return None
    steps = np.diff(tail)
    travelled = float(np.abs(steps).sum())
    amplitude = float(np.abs(steps).mean() / max(float(np.abs(tail).mean()), TINY))
    efficiency = abs(float(tail[-1] - tail[0])) / max(travelled, TINY)
    signs = np.sign(steps[steps != 0])
    flips = float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0
    spikes = int(np.sum(tail[1:] > SPIKE_FACTOR * tail[:-1]))
    if amplitude < OSCILLATION_AMPLITUDE or efficiency >= OSCILLATION_EFFICIENCY:
        return None
    if name == "loss" and _within_training_valley(tail, run):
        return None
    if _rate_cut_under_the_swing(run, len(tail)):
        return None
    if gap is None and _accuracy_holds(name, run, len(tail)):
        return None
    if flips < OSCILLATION_FLIPS and spikes == 0:
        return None
    rises = int(np.sum(steps >= OSCILLATION_AMPLITUDE * float(np.abs(tail).mean())))
    if rises < OSCILLATION_RISES and spikes == 0:
        return None  # one bump and its recovery is a single upset, not a swing that repeats
    drift = noise.trend(_progress_window(values, run))
    if drift is not None and _progressing(drift):
        return None  # learning through its noise: the trend falls beyond the scatter, or points down clearly
    first = run.n_epochs - len(tail) + 1
    return symptom(
        "oscillation",
        0.5 + 0.4 * ramp(amplitude, OSCILLATION_AMPLITUDE, 5 * OSCILLATION_AMPLITUDE),
        f"{name} over epochs {first}-{run.n_epochs} moves {pct(amplitude)} of its level per epoch on average,"
        f" reverses direction in {pct(flips)} of the moves, spikes above {SPIKE_FACTOR:g}x the previous epoch"
        f" {spikes} time(s), and nets only {pct(efficiency)} of the distance travelled"
        f" ({fmt(float(tail[0]))} -> {fmt(float(tail[-1]))},"
        f" range {fmt(float(tail.min()))}-{fmt(float(tail.max()))})"
        + (f"; no progress beyond its noise: {drift.describe()}" if drift is not None else ""),
    )


def _oscillation_window(values: np.ndarray, run: Run) -> np.ndarray:
    """The last ``2 * patience + 1`` epochs after the warm-up and after the last rise of the rate."""
    return values[_first_settled_epoch(run):][-(2 * run.patience + 1):]


def _first_settled_epoch(run: Run) -> int:
    """The warm-up's end, or the epoch after the last one at which the logged learning rate went
    up (a warm restart, a cyclical schedule), whichever is later: a schedule that raises the rate
    throws the loss up on purpose, and the swing tests read only what came after."""
    rate = _logged(run, "learning_rate")
    start = run.detection.start_from_epoch
    if rate is None:
        return start
    raised = np.flatnonzero(rate[1:] > rate[:-1] * RATE_RAISED)
    return max(start, int(raised[-1]) + 1) if raised.size else start


def _progress_window(values: np.ndarray, run: Run) -> np.ndarray:
    """The last half of the run after the warm-up, and never fewer epochs than the swing's
    window: whether a swinging loss still progresses is judged over it. A step too large stalls
    the run for good, so the stall shows over half of it; over 11 epochs, a loss wobbling 20%
    at its noise floor (small batches, augmentation) could not show a fall of less than ~50%,
    and a converging run read as standing still."""
    data = values[_first_settled_epoch(run):]
    return data[-max(2 * run.patience + 1, data.size // 2):]


def _steadily_improving(values: np.ndarray | None, run: Run) -> bool:
    """The curve made relative progress over the oscillation window, and most of the way it
    travelled was progress: what the end-of-epoch weights score keeps getting better."""
    if values is None:
        return False
    tail = _oscillation_window(values, run)
    if len(tail) < OSCILLATION_MIN_EPOCHS or not np.all(np.isfinite(tail)):
        return False
    travelled = float(np.abs(np.diff(tail)).sum())
    efficiency = float(tail[0] - tail[-1]) / max(travelled, TINY)
    return relative_improvement(float(tail[0]), float(tail[-1])) >= run.detection.min_delta and efficiency >= OSCILLATION_EFFICIENCY


def is_frozen(values: np.ndarray) -> bool:
    """Epoch losses that differ by under ``FROZEN_SPREAD`` of their level (mean |loss|): nothing moves."""
    return float(np.ptp(values)) <= FROZEN_SPREAD * float(np.mean(np.abs(values)))


def blow_up(values: np.ndarray) -> tuple[int, float, float] | None:
    """The largest jump of a positive loss above the lowest value it had reached before:
    (0-based epoch, the jump's value, the low before it), when it is ``BLOW_UP_FACTOR`` or more."""
    data = np.asarray(values, dtype=float)
    if data.size < 3 or not np.all(np.isfinite(data)) or not np.all(data > 0):
        return None
    lows = np.minimum.accumulate(data)[:-1]
    ratios = data[1:] / lows
    at = int(np.argmax(ratios))
    if ratios[at] < BLOW_UP_FACTOR:
        return None
    return at + 1, float(data[at + 1]), float(lows[at])


def blown_up_then_flat(run: Run) -> Finding | None:
    """A blow-up (``BLOW_UP_FACTOR``) after the first epoch, then no progress over the last
    ``patience`` epochs (neither a relative fall of ``min_delta`` nor a fall beyond the
    noise), and either frozen or still above the best it had reached before the blow-up: a
    network that spiked once and came back to its best is converging, not broken."""
    values = run.progress
    found = blow_up(values)
    if found is None:
        return None
    epoch, peak, low = found
    tail = values[epoch + 1:]
    if tail.size < run.patience + 1:
        return None
    window = tail[-(run.patience + 1):]
    change = relative_improvement(float(window[0]), float(window[-1]))
    drift = noise.trend(tail[-(2 * run.patience + 1):])
    if change >= run.detection.min_delta and (drift is None or drift.falls):
        return None
    recovered = float(np.median(window)) <= low * (1.0 + run.detection.trivial_tolerance)
    if recovered and not is_frozen(window):
        return None  # back at its best and still moving: a transient spike, then convergence
    return symptom(
        "diverged",
        0.7 + 0.2 * ramp(peak / low, BLOW_UP_FACTOR, 10 * BLOW_UP_FACTOR),
        f"{run.progress_name} blew up at epoch {epoch + 1}: {fmt(peak)}, {peak / low:.0f}x the lowest value it had"
        f" reached ({fmt(low)}; a blow-up from {BLOW_UP_FACTOR:g}x); it then made no progress: {fmt(float(window[0]))}"
        f" -> {fmt(float(window[-1]))} over epochs {run.n_epochs - run.patience}-{run.n_epochs}"
        f" ({pct(change)}, progress needs >= {pct(run.detection.min_delta)} beyond the noise)",
    )
