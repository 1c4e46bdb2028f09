"""The symptoms of a run that learns badly: a plateau, slow convergence, oscillation,
overfitting, a run too short to judge, and ``converged`` when none applies. Pure: numpy only.

``plateau`` and ``slow_convergence`` need a clear gap to the reference model
(``levels.reference_gap``). They read the training loss first and the validation loss when
the training loss is too noisy to tell (the thinned net of a heavy dropout): a validation
loss that stalls under a moving training loss that stays at or above it is a plateau, one
that still falls steadily is slow convergence. A training loss that wobbles while the
validation loss falls steadily is not an oscillation: the weights improve epoch after epoch.
"""

from __future__ import annotations

import numpy as np

from plateau_doctor.engine.curve_math import TINY, ema, fmt, pct, ramp, recent_mean, relative_improvement, smoothed_progress
from plateau_doctor.engine.levels import ReferenceGap, chance_balanced_accuracy, is_classification
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import OVERFITTING, Finding

MONOTONE_SHARE = 0.8
"""Slow convergence falls steadily: at least 80% of the last epochs lower the loss."""

OSCILLATION_AMPLITUDE = 0.1
"""Epoch-to-epoch moves averaging 10% of the loss level are far above the noise of an
epoch-mean training loss (about 1%) or of a validation loss (a few %)."""

OSCILLATION_FLIPS = 0.5
"""At least half of the consecutive moves reverse direction: the loss goes up and down."""

OSCILLATION_EFFICIENCY = 0.5
"""No net progress: the net change over the window is less than half of the distance the
loss travelled up and down (1 for a monotone curve, ~0 for pure back-and-forth)."""

SPIKE_FACTOR = 2.0
"""One epoch at more than twice the previous epoch's loss is a spike."""

OSCILLATION_MIN_EPOCHS = 5
"""Fewest epochs (4 moves) on which up-and-down movement can be told from noise."""

OVERFITTING_RISE = 0.1
"""Overfitting: every one of the last ``patience`` epochs has a validation loss at least
10% above the smoothed minimum (reached ``patience`` or more epochs earlier) while the
training loss kept improving. Requiring *every* recent epoch, not the last or an average,
keeps a noisy validation loss near its floor (which moves ~5-10% per epoch on a few
hundred rows) from passing for a rise."""


def plateau(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """No relative progress over ``patience`` epochs while clearly worse than the reference."""
    if not run.ready or gap is None or not gap.far:
        return None
    progress = run.smoothed_progress()
    if progress >= run.detection.min_delta:
        return _validation_stall(run, gap)
    return symptom(
        "plateau",
        0.6 + 0.3 * ramp(gap.ratio, 1.0, 4.0),
        f"smoothed {run.progress_name} improved {pct(progress)} over epochs {run.window}"
        f" (progress needs >= {pct(run.detection.min_delta)}) at {fmt(float(run.progress[-1]))};"
        f" {gap.describe()}",
    )


def _validation_stall(run: Run, gap: ReferenceGap) -> Finding | None:
    """The training loss still moves, but the validation loss made no progress over
    ``patience`` epochs, clearly worse than the reference, while the training loss stays
    at or above the validation loss.

    The training loss of a net with dropout measures the thinned network, and noise keeps
    it moving; what the user gets is the validation curve. A net that fits its training
    rows no better than unseen ones is not overfitting (that needs the training loss
    below the validation loss): it is stuck short of what the data allow.
    """
    if run.val is None or run.train is None:
        return None
    progress = smoothed_progress(run.val, run.detection)
    train_now, val_now = recent_mean(run.train, run.patience), recent_mean(run.val, run.patience)
    if progress is None or progress >= run.detection.min_delta or not train_now >= val_now:
        return None
    return symptom(
        "plateau",
        0.55 + 0.3 * ramp(gap.ratio, 1.0, 4.0),
        f"smoothed val_loss improved {pct(progress)} over epochs {run.window}"
        f" (progress needs >= {pct(run.detection.min_delta)}) at {fmt(float(run.val[-1]))},"
        f" while the training loss {fmt(train_now)} stays at or above the validation loss {fmt(val_now)};"
        f" {gap.describe()}",
    )


def slow_convergence(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """Still falling steadily at the end of the budget, still clearly worse than the reference.

    Judged on the training loss; when that still falls but too noisily to call steady (the
    thinned net of a heavy dropout, small batches), on the validation loss, which is
    measured on the whole net at the end of each epoch.
    """
    if not run.ready or gap is None or not gap.far:
        return None
    progress = run.smoothed_progress()
    if not progress >= run.detection.min_delta:
        return None
    curves = [(run.progress_name, run.progress)]
    if run.train is not None and run.val is not None:
        curves.append(("val_loss", run.val))
    for name, values in curves:
        progress = smoothed_progress(values, run.detection)
        steps = np.diff(values[-run.patience - 1:])
        falling = float(np.mean(steps < 0))
        if progress is None or progress < run.detection.min_delta or falling < MONOTONE_SHARE:
            continue
        noisy = "" if name == run.progress_name else f" ({run.progress_name} falls too, unsteadily)"
        return symptom(
            "slow_convergence",
            0.55 + 0.3 * ramp(gap.ratio, 1.0, 4.0),
            f"{name} still falls at the end{noisy}: smoothed {pct(progress)} over epochs {run.window}"
            f" (~{pct(progress / run.patience)} per epoch), lower in {pct(falling)} of those epochs,"
            f" now {fmt(float(values[-1]))}; {gap.describe()}",
        )
    return None


def oscillation(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """Up and down (or spiking) by a large share of the loss, without net progress.

    Judged on the last ``2 * patience`` epochs after the warm-up, training loss first and
    then val_loss: a too-high learning rate shows most in val_loss, which is measured on
    the end-of-epoch weights rather than averaged over the epoch. A curve that wobbles at
    the reference model's level is noise around convergence (a small loss moves by a
    large share of itself), so a clear gap to the reference is required when measurable.
    """
    if gap is not None and not gap.far:
        return None
    for name, values in (("loss", run.train), ("val_loss", run.val)):
        if values is None:
            continue
        if name == "loss" and _steadily_improving(run.val, run):
            continue  # the weights improve epoch after epoch: the training loss's noise is dropout's or the batches'
        tail = _oscillation_window(values, run)
        if len(tail) < OSCILLATION_MIN_EPOCHS:
            continue
        steps = np.diff(tail)
        travelled = float(np.abs(steps).sum())
        amplitude = float(np.abs(steps).mean() / max(float(np.abs(tail).mean()), TINY))
        efficiency = abs(float(tail[-1] - tail[0])) / max(travelled, TINY)
        signs = np.sign(steps[steps != 0])
        flips = float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0
        spikes = int(np.sum(tail[1:] > SPIKE_FACTOR * tail[:-1]))
        if amplitude < OSCILLATION_AMPLITUDE or efficiency >= OSCILLATION_EFFICIENCY:
            continue
        if flips < OSCILLATION_FLIPS and spikes == 0:
            continue
        first = run.n_epochs - len(tail) + 1
        return symptom(
            "oscillation",
            0.5 + 0.4 * ramp(amplitude, OSCILLATION_AMPLITUDE, 5 * OSCILLATION_AMPLITUDE),
            f"{name} over epochs {first}-{run.n_epochs} moves {pct(amplitude)} of its level per epoch on average,"
            f" reverses direction in {pct(flips)} of the moves, spikes above {SPIKE_FACTOR:g}x the previous epoch"
            f" {spikes} time(s), and nets only {pct(efficiency)} of the distance travelled"
            f" ({fmt(float(tail[0]))} -> {fmt(float(tail[-1]))},"
            f" range {fmt(float(tail.min()))}-{fmt(float(tail.max()))})",
        )
    return None


def _oscillation_window(values: np.ndarray, run: Run) -> np.ndarray:
    """The last ``2 * patience + 1`` epochs after the warm-up."""
    return values[run.detection.start_from_epoch:][-(2 * run.patience + 1):]


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


def overfitting(run: Run) -> Finding | None:
    """val_loss bottomed out at least ``patience`` epochs ago and stayed well above it since,
    while loss kept falling."""
    if run.train is None or run.val is None:
        return None
    start = min(run.detection.start_from_epoch, run.n_epochs - 1)
    val = ema(run.val[start:], run.detection.smoothing)
    train = ema(run.train[start:], run.detection.smoothing)
    best = int(np.argmin(val))
    if len(val) - 1 - best < run.patience:
        return None
    recent_low = float(np.min(run.val[-run.patience:]))
    rise = -relative_improvement(val[best], recent_low)
    train_progress = relative_improvement(train[best], train[-1])
    if rise < OVERFITTING_RISE or train_progress < run.detection.min_delta:
        return None
    return symptom(
        OVERFITTING,
        0.5 + 0.4 * ramp(rise, OVERFITTING_RISE, 5 * OVERFITTING_RISE),
        f"smoothed val_loss bottomed at {fmt(float(val[best]))} at epoch {start + best + 1}; each of the last"
        f" {run.patience} epochs is at least {pct(rise)} above it (lowest {fmt(recent_low)}, last"
        f" {fmt(float(run.val[-1]))}), while smoothed loss kept falling {pct(train_progress)}"
        f" ({fmt(float(train[best]))} -> {fmt(float(train[-1]))})",
    )


def too_short_to_judge(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """A run shorter than the progress tests need, ending clearly worse than the reference.

    It is not healthy: it stopped (or was stopped) before reaching what the data allows.
    Falling overall reads as slow convergence, not falling as a plateau; confidence is
    lower because the window is short.
    """
    if run.ready or gap is None or not gap.far:
        return None
    level = run.level[np.isfinite(run.level)]
    if len(level) < 2:
        return None
    change = relative_improvement(float(level[0]), float(level[-1]))
    name = "slow_convergence" if change >= run.detection.min_delta else "plateau"
    return symptom(
        name,
        0.5,
        f"only {run.n_epochs} epoch(s), fewer than the {run.detection.start_from_epoch + run.patience + 1} the "
        f"progress tests need; {run.level_name} went from {fmt(float(level[0]))} to {fmt(float(level[-1]))} "
        f"({pct(change)}); {gap.describe()}",
    )


def converged(run: Run, gap: ReferenceGap | None) -> Finding:
    """No sick symptom; how sure depends on whether the run was long enough to judge."""
    parts = ["no sick symptom"]
    if gap is not None:
        parts.append(gap.describe())
    if is_classification(run.audit.task):
        parts.append(f"chance balanced accuracy {fmt(chance_balanced_accuracy(run.audit))}")
    parts.append(
        f"final {run.level_name} {fmt(float(run.level[-1]))} vs trivial {fmt(run.audit.trivial_val_loss)}"
        f" and reference {fmt(run.audit.reference_val_loss)}"
    )
    if not run.ready:
        parts.append(
            f"only {run.n_epochs} epoch(s): progress tests need {run.detection.start_from_epoch + run.patience + 1}"
        )
    return symptom("converged", 0.9 if run.ready else 0.5, "; ".join(parts))

