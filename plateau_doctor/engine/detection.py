"""Symptoms: what the loss curves show, read from a per-epoch history. Pure: numpy only.

``history`` maps the column names of ``schema.HISTORY_SIGNALS`` to one float per epoch (a
``dict`` of lists or a pandas DataFrame). A missing or all-NaN signal is "not measured"; a
non-finite ``loss`` or ``val_loss`` is a divergence.

Every test is relative (to the loss level, to the trivial predictor, to the audit's cheap
reference model) and runs on an EMA-smoothed curve, so neither one noisy epoch nor the
scale of the loss decides anything. Settings come from ``config.DetectionConfig`` and are
named as in Keras' callbacks: the first ``start_from_epoch`` epochs are a warm-up and are
skipped; a test "over ``patience`` epochs" compares the last epoch with the one
``patience`` epochs before it, as Keras' EarlyStopping does, so it needs
``start_from_epoch + patience + 1`` epochs; ``min_delta`` is the relative improvement of
the smoothed loss that counts as progress. Epochs in evidence are 1-based, as Keras
prints them. The rule on learnable signal and the scale of losses: :mod:`.levels`.

Every trend, plateau and oscillation is also a test against the curve's own noise
(:mod:`.noise`): a noisy curve must move beyond its scatter before it counts as moving.

The story, in modules: :mod:`.curve_math` (smoothing, progress), :mod:`.noise` (a curve's
scatter and robust trend), :mod:`.levels` (the trivial predictor, chance, the reference
model's gap), :mod:`.run_view` (one history read once), :mod:`.stuck` (``stuck_at_trivial``),
:mod:`.progress` (plateau, slow convergence, converged), :mod:`.unstable` (oscillation, a
blow-up followed by a flat loss), :mod:`.early_stopping` (overfitting, by Prechelt's
criteria), and this module: a divergence first, then the others, and the early-stop check a
sick baseline is stopped with.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.curve_math import History, ema, fmt, ramp
from plateau_doctor.engine import cadence, early_stopping, progress, unstable
from plateau_doctor.engine.run_view import Run, read_run, symptom
from plateau_doctor.engine.stuck import at_trivial_without_signal, generalized_once, stuck_at_trivial
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup

DIVERGENCE_FACTOR = 3.0
"""A smoothed training loss ending above 3x its own minimum has blown up: noise and even
strong overfitting move the *training* loss by far less."""

DIVERGENCE_GIVE_BACK = 0.5
"""...and that rise must give back at least half of what was gained since the first epoch,
so that a converged loss near zero (1e-4 -> 4e-4) is not called a divergence."""


EARLY_STOP_RISE = 0.1
"""A baseline is stopped as overfit only once every one of its last ``patience`` validation
epochs is 10% above the best level: a stop is final, so it waits for a rise that no single
noisy epoch makes (the full detection judges the whole curve by Prechelt's criteria)."""


def _non_finite(run: Run) -> Finding | None:
    """A NaN or inf loss: the fit has diverged (Keras records NaN once weights overflow)."""
    for name, values in (("loss", run.train), ("val_loss", run.val)):
        if values is None:
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            epoch = int(bad[0])
            before = values[:epoch]
            last = f"; the last finite {name} was {fmt(before[-1])} at epoch {epoch}" if epoch else ""
            return symptom("diverged", 1.0, f"{name} is {values[epoch]} at epoch {epoch + 1}{last}")
    return None


def _blow_up(run: Run) -> Finding | None:
    """The smoothed training loss ends at several times its minimum, giving back the gains."""
    smoothed = ema(run.progress, run.detection.smoothing)
    lowest = float(np.min(smoothed))
    first, last = float(smoothed[0]), float(smoothed[-1])
    if lowest <= 0 or last <= DIVERGENCE_FACTOR * lowest or last - lowest < DIVERGENCE_GIVE_BACK * (first - lowest):
        return None
    factor = last / lowest
    at = int(np.argmin(smoothed)) + 1
    return symptom(
        "diverged",
        0.8 + 0.2 * ramp(factor, DIVERGENCE_FACTOR, 10 * DIVERGENCE_FACTOR),
        f"smoothed {run.progress_name} rose from its minimum {fmt(lowest)} at epoch {at} to {fmt(last)}"
        f" at epoch {run.n_epochs} ({factor:.1f}x, above {DIVERGENCE_FACTOR:g}x); it started at {fmt(first)}",
    )


def _rank(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: -finding.confidence)


def detect_symptoms(
    history: History, audit: DataAudit, detection: DetectionConfig, *, setup: ResolvedSetup | None = None
) -> list[Finding]:
    """What the curves show, most confident first; ``[converged]`` when nothing is sick.

    ``setup`` tells whether the loss is in the audit's scale (see ``loss_in_audit_scale``);
    without it the task's default loss is assumed. A diverged run is reported alone: after
    a blow-up the other tests read meaningless numbers. ``stuck_at_trivial`` is the most
    specific kind of plateau and replaces ``plateau`` and ``slow_convergence``; so does
    ``oscillation``, whose smoothed curve is flat only because it goes up and down.
    """
    run = read_run(history, audit, detection, setup)
    diverged = _non_finite(run) or _blow_up(run) or unstable.blown_up_then_flat(run)
    if diverged is not None:
        return [diverged]
    gap = run.gap()
    stuck, swinging = stuck_at_trivial(run), unstable.oscillation(run, gap)
    memorized = None
    if stuck is not None and (once := generalized_once(run)) is not None:
        # Back at the trivial level after generalizing, while the training loss kept falling: the
        # net memorized its training rows (Prechelt's generalization loss says so), it is not one
        # that never learned.
        rising = early_stopping.overfitting(run)
        if rising is not None:
            stuck, memorized = None, replace(rising, evidence=f"{rising.evidence}; {once}, and is back at the trivial level")
    if stuck is not None:
        stalled = [stuck]
    elif swinging is not None:
        stalled = []
    elif gap is None:
        stalled = [progress.still_falling(run)]
    else:
        stalled = [progress.plateau(run, gap), progress.slow_convergence(run, gap)]
    # At trivial, the net generalizes nothing: a rising validation loss there is memorization
    # (no signal to learn), not a generalization that overfitting lost.
    rising = (memorized or early_stopping.overfitting(run)) if stuck is None else None
    mended = early_stopping.mended_by_restore(run) if rising is not None and memorized is None else None
    if mended is not None:
        rising = None  # the user's model is from before the rise
    found = [finding for finding in (*stalled, swinging, rising) if finding is not None]
    if not found and (short := progress.too_short_to_judge(run, gap)) is not None:
        found = [short]
    if not found and (no_signal := at_trivial_without_signal(run)) is not None:
        found = [no_signal]
    if found:
        return _rank(found)
    healthy = progress.converged(run, gap)
    return [replace(healthy, evidence=f"{healthy.evidence}; val_loss rose past its best, and {mended}")
            if mended is not None else healthy]


def check_early_stop(
    history: History, audit: DataAudit, detection: DetectionConfig, *, setup: ResolvedSetup | None = None
) -> Finding | None:
    """A confirmed pathology in a partial history, to stop a sick baseline early; else None.

    Called after every epoch. A non-finite loss stops at once; otherwise
    ``stuck_at_trivial`` stops after ``patience`` flat epochs at the trivial level following
    the warm-up, and ``overfitting`` once the validation loss has stayed well above its
    minimum for ``patience`` epochs while the training loss kept falling. These are the
    same tests ``detect_symptoms`` applies, so the full detection on the stopped history
    agrees. Conservative on purpose: a run that starts near the trivial level and then
    learns is neither flat nor at trivial for long, and a validation loss that wobbles near
    its floor never stays 10% above it for ``patience`` epochs in a row. An oscillating run
    whose validation loss bounces above its minimum is not stopped as overfitting: the rise
    is the step size's, and the full run shows which.
    """
    history, detection, _ = cadence.on_validated_epochs(history, detection)  # validation_freq: no val_loss between
    run = read_run(history, audit, detection, setup)
    found = _non_finite(run) or stuck_at_trivial(run)
    if found is not None:
        return found
    rising = early_stopping.overfitting(run)
    if rising is None or not early_stopping.sustained(run, EARLY_STOP_RISE):
        return None
    if unstable.oscillation(run, run.gap()) is not None:
        return None
    return rising

