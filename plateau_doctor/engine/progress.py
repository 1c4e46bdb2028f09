"""The symptoms of a run that learns badly: a plateau, slow convergence, a run too short to
judge, and ``converged`` when none applies. Pure: numpy only.

``plateau`` and ``slow_convergence`` need a clear gap to the reference model
(``levels.reference_gap``). They read the training loss first and the validation loss when
the training loss is too noisy to tell (the thinned net of a heavy dropout): a validation
loss that stalls under a moving training loss that stays at or above it is a plateau, one
that still falls steadily is slow convergence.

Progress is a test against the curve's own noise (:mod:`.noise`): a curve moves when its
smoothed relative improvement over ``patience`` epochs reaches ``min_delta`` **and** its
robust trend over those epochs falls by more than its scatter allows (``noise.Z`` standard
errors, the scatter read over the last ``2 * patience + 1`` epochs). A smooth curve passes
the second test with any fall, so on it only ``min_delta`` decides; a noisy one must fall
beyond what its wobble makes by chance.

Without a reference model (a bare training log), :func:`still_falling` reads slow
convergence from the shape alone, as Prechelt's and Keras' users read a curve: the
monitored loss still falls steadily at the end, beyond its noise, by a share of the run's
whole progress that says it has not flattened toward its floor.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine import early_stopping, noise
from plateau_doctor.engine.curve_math import fmt, pct, ramp, recent_mean, relative_improvement, smoothed_progress
from plateau_doctor.engine.levels import ReferenceGap, chance_balanced_accuracy, is_classification, raw_scale_start
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import Finding

MONOTONE_SHARE = 0.8
"""Slow convergence falls steadily: at least 80% of the last epochs lower the loss."""

WINDOW_SHARE = 0.2
"""Without a reference, "the end" is the last 20% of the run (at least 3 moves)."""

STILL_FALLING = 0.05
"""...and the loss still falls there by 5% or more of its level..."""

PROGRESS_SHARE = 0.05
"""...which is 5% or more of everything the run gained (the highest loss before the window
minus the last). With an exponential approach to a floor, L(t) = L_inf + A exp(-t / tau),
the last fifth of a run of length t holds exp(-0.8 t / tau) (1 - exp(-0.2 t / tau)) /
(1 - exp(-t / tau)) of the gain: 5% at t = 2.75 tau, when exp(-2.75) = 6% of the gain is
still ahead; 4% at t = 3 tau, when 5% is. So a loss creeping from 0.010 to 0.006 after
falling from 2.3 (0.2% of its gain) is converged, and one whose last fifth still holds a
twentieth of its progress has more than its noise floor's worth to go. (10% was tried
first: it let a run with 22% of its gain ahead pass as converged.)"""


UNSLOWED = 0.9
"""A loss that has not slowed down: its last window holds at least 90% of its pro-rata share of the
run's gain (a straight line holds all of it). An exponential approach L_inf + A exp(-t / tau)
keeps 90% of its average pace in its last fifth only up to t = tau / 4, with three quarters of
its gain still ahead."""


def recent_trend(values: np.ndarray, run: Run) -> noise.Trend | None:
    """The trend of the last ``patience + 1`` epochs against the scatter of the last
    ``2 * patience + 1`` after the warm-up (more epochs estimate the noise better)."""
    data = np.asarray(values, dtype=float)[run.detection.start_from_epoch:]
    scatter_window = data[-(2 * run.patience + 1):]
    recent = data[-(run.patience + 1):]
    if recent.size < 2 or not np.all(np.isfinite(scatter_window)):
        return None
    scaled, relative = noise.in_relative_units(scatter_window)
    sigma = noise.noise(scaled)
    if not math.isfinite(sigma) or noise.in_relative_units(recent)[1] != relative:
        return None
    return noise.Trend(noise.theil_sen(noise.in_relative_units(recent)[0]), sigma, int(recent.size), relative)


def moving(values: np.ndarray | None, run: Run) -> bool:
    """Relative progress of ``min_delta`` over ``patience`` epochs, beyond the curve's noise."""
    if values is None:
        return False
    progress = smoothed_progress(values, run.detection)
    if progress is None or progress < run.detection.min_delta:
        return False
    drift = recent_trend(values, run)
    return drift is None or drift.falls


def _progress_words(values: np.ndarray, run: Run) -> str:
    progress = smoothed_progress(values, run.detection)
    return f"smoothed {pct(progress if progress is not None else math.nan)} over epochs {run.window}"


def _noise_words(values: np.ndarray, run: Run) -> str:
    drift = recent_trend(values, run)
    return f"; {drift.describe()}" if drift is not None else ""


def plateau(run: Run, gap: ReferenceGap | None) -> Finding | None:
    """No relative progress over ``patience`` epochs while clearly worse than the reference."""
    if not run.ready or gap is None or not gap.far:
        return None
    progress = run.smoothed_progress()
    if moving(run.progress, run):
        return _validation_stall(run, gap)
    if progress >= run.detection.min_delta:  # it moved, but within its own noise
        if run.train is not None and moving(run.val, run):
            return None  # the validation loss still improves beyond its noise: not a plateau
        stall = _validation_stall(run, gap)
        if stall is not None:
            return stall
    return symptom(
        "plateau",
        0.6 + 0.3 * ramp(gap.ratio, 1.0, 4.0),
        f"smoothed {run.progress_name} improved {pct(progress)} over epochs {run.window}"
        f" (progress needs >= {pct(run.detection.min_delta)} beyond the noise) at {fmt(float(run.progress[-1]))};"
        f" {gap.describe()}{_noise_words(run.progress, run)}",
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
    if progress is None or moving(run.val, run) or not train_now >= val_now:
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
    measured on the whole net at the end of each epoch. Steady means moving beyond the
    curve's noise (:func:`moving`, when its scatter can be read), else at least
    :data:`MONOTONE_SHARE` of the last moves down: a noisy curve whose robust trend still
    falls beyond its wobble converges, however many of its single moves go up.

    A fit that a callback ended before its budget (:func:`ended_by_callback`) did not run out
    of epochs: it stopped where its monitor, the validation loss as a rule, had stopped
    improving. A training loss still falling there is the net fitting its training rows
    without gaining on unseen ones, which more epochs do not mend; only the validation loss
    still falling steadily is slow convergence then.
    """
    if not run.ready or gap is None or not gap.far:
        return None
    if not run.smoothed_progress() >= run.detection.min_delta:
        return None
    curves = [(run.progress_name, run.progress)]
    if run.train is not None and run.val is not None:
        # A restored epoch is kept because the validation loss did not better it after: no budget was cut short.
        stopped = ended_by_callback(run) or run.kept_epoch
        curves = [("val_loss", run.val)] if stopped else [*curves, ("val_loss", run.val)]
    for name, values in curves:
        progress = smoothed_progress(values, run.detection)
        steps = np.diff(values[-run.patience - 1:])
        falling = float(np.mean(steps < 0))
        steady = falling >= MONOTONE_SHARE or recent_trend(values, run) is not None
        if not moving(values, run) or not steady:
            continue
        if ended_by_callback(run):
            noisy = f" ({_callback_words(run)})"
        else:
            noisy = "" if name == run.progress_name else f" ({run.progress_name} falls too, unsteadily)"
        return symptom(
            "slow_convergence",
            0.55 + 0.3 * ramp(gap.ratio, 1.0, 4.0),
            f"{name} still falls at the end{noisy}: smoothed {pct(progress)} over epochs {run.window}"
            f" (~{pct(progress / run.patience)} per epoch), lower in {pct(falling)} of those epochs,"
            f" now {fmt(float(values[-1]))}; {gap.describe()}{_noise_words(values, run)}",
        )
    return None


def ended_by_callback(run: Run) -> bool:
    """The fit was ended before its epoch budget by a callback that is not the doctor's (the set-up
    says so: ``ResolvedSetup.ended_early``, recorded by the callback and the pipeline's fits)."""
    return run.setup is not None and run.setup.ended_early


def _callback_words(run: Run) -> str:
    return f"a callback ended the fit at epoch {run.setup.fit_epoch(run.n_epochs)} of its {run.setup.epochs}"


def _ended_while_training_fell(run: Run) -> bool:
    """Ended by a callback with the training loss still moving and the validation loss not."""
    if not ended_by_callback(run) or run.train is None or run.val is None:
        return False
    return moving(run.train, run) and not moving(run.val, run)


def still_falling(run: Run) -> Finding | None:
    """Without a reference: the monitored loss still falls steadily at the end of the run.

    The monitored loss is the validation loss when logged (what the user gets), else the
    training loss; when both are logged, the training loss must fall too (a validation loss
    that falls while the training loss does not is not convergence being cut short). "The
    end" is the last :data:`WINDOW_SHARE` of the epochs (at least 3 moves). Steady: at least
    :data:`MONOTONE_SHARE` of its moves go down and its robust trend (over at least 5 epochs)
    falls beyond its scatter. Far from converged: it fell :data:`STILL_FALLING` of its level
    there, and that is :data:`PROGRESS_SHARE` or more of everything the run gained. A loss that
    has not slowed down at all (the window holds at least its pro-rata share of the gain, as a
    straight line does, to within :data:`UNSLOWED`) is far from its floor however little of its level the window took off
    (plain SGD creeping 0.5% per epoch): then ``min_delta`` of the level is enough. A regression
    whose first loss is on an unscaled target's scale (``levels.RAW_SCALE_LOSS``) spends its
    first epochs bringing its output to the target's mean, most of its gain in absolute terms and
    no measure of the fit of the target's variation: the share test is waived for it, and
    :data:`STILL_FALLING` of the level is what it must still fall by. A run of
    fewer than ``noise.MIN_EPOCHS`` epochs is too short to tell a trend from its noise.
    """
    values = run.level
    if values.size < noise.MIN_EPOCHS or not np.all(np.isfinite(values)):
        return None  # too few epochs to tell a trend from the noise
    moves = max(3, math.ceil(WINDOW_SHARE * values.size))
    window = values[-(moves + 1):]
    before = values[: values.size - moves]
    downward = float(np.mean(np.diff(window) < 0))
    fall = relative_improvement(float(window[0]), float(window[-1]))
    gained = float(np.max(before)) - float(window[-1])
    share = (float(window[0]) - float(window[-1])) / gained if gained > 0 else 0.0
    drift = noise.trend(values[-max(moves + 1, noise.MIN_EPOCHS):])
    unslowed = share >= UNSLOWED * moves / (values.size - 1)  # the window's pace against the run's average
    # A raw-scale regression's early drop is its output reaching the target's mean: no measure of
    # how far the fit of the target's variation has come, so the share of that gain does not apply.
    raw = run.audit.task == "regression" and raw_scale_start(run.train)
    if downward < MONOTONE_SHARE or fall < run.detection.min_delta:
        return None
    if share < PROGRESS_SHARE and not (raw and fall >= STILL_FALLING):
        return None
    if fall < STILL_FALLING and not unslowed:
        return None
    if drift is not None and not drift.falls:
        return None
    if run.train is not None and run.val is not None:
        train = run.train[-(moves + 1):]
        if not np.all(np.isfinite(train)) or relative_improvement(float(train[0]), float(train[-1])) < run.detection.min_delta:
            return None
    first = values.size - moves
    return symptom(
        "slow_convergence",
        0.55 + 0.3 * ramp(share, PROGRESS_SHARE, 4 * PROGRESS_SHARE),
        f"{run.level_name} still falls at the end: {fmt(float(window[0]))} -> {fmt(float(window[-1]))} over epochs"
        f" {first}-{values.size} ({pct(fall)} of its level, lower in {pct(downward)} of those epochs), which is"
        f" {pct(share)} of all the run gained (from {fmt(float(np.max(before)))}); still falling from"
        f" {pct(STILL_FALLING)} of the level and {pct(PROGRESS_SHARE)} of the gain"
        + (f"; {drift.describe()}" if drift is not None else "")
        + ("" if run.ready else f"; only {run.n_epochs} epoch(s)"),
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
        f"({pct(change)}); {gap.describe()}"
        + (f"; {_callback_words(run)}" if ended_by_callback(run) else ""),
    )


def converged(run: Run, gap: ReferenceGap | None) -> Finding:
    """No sick symptom; how sure depends on whether the run was long enough to judge."""
    parts = ["no sick symptom"]
    audit = run.audit
    if gap is not None:
        parts.append(gap.describe())
    if is_classification(audit.task) and (audit.n_classes > 0 or "val_balanced_accuracy" in audit.trivial_metrics):
        parts.append(f"chance balanced accuracy {fmt(chance_balanced_accuracy(audit))}")
    known = [f"{name} {fmt(value)}" for name, value in (("trivial", audit.trivial_val_loss),
                                                         ("reference", audit.reference_val_loss)) if math.isfinite(value)]
    parts.append(f"final {run.level_name} {fmt(float(run.level[-1]))}" + (f" vs {' and '.join(known)}" if known else ""))
    if (within := early_stopping.rise_within_noise(run)) is not None:
        parts.append(within)
    if not run.ready:
        parts.append(
            f"only {run.n_epochs} epoch(s): progress tests need {run.detection.start_from_epoch + run.patience + 1}"
        )
    elif gap is not None and gap.far and _ended_while_training_fell(run):
        parts.append(
            f"{_callback_words(run)} with val_loss no longer falling beyond its noise: the training loss still"
            f" falling ({_progress_words(run.train, run)}) is not a budget cut short"
        )
    return symptom("converged", 0.9 if run.ready else 0.5, "; ".join(parts))

