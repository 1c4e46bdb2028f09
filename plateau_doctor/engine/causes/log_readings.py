"""What the curves alone say about a cause, for a run whose set-up and signals were not
logged (a bare training log: no reference model, often no learning rate). Pure: numpy only.
Names no cause: each cause reads the ones that bear on it.

Each reading follows from how a loss behaves, not from a fitted threshold:

- :func:`blow_up_signs`: a step that throws the weights out shows in the training loss as a
  jump far above what it had reached (``unstable.BLOW_UP_FACTOR``), as a first epoch far above
  the chance level followed by a network that never gets below chance again (one epoch of
  huge steps saturated or killed its units), as a loss that ends above where it started
  after having been lower (it gave back what it had learned), or as one that rose beyond its
  noise to above the chance level and never got below where it started (a step that fits the
  problem lowers the loss, and decay that shrinks the outputs toward uniform stops at chance;
  only a step can throw a net to worse than a constant guess);
- :func:`steady_creep`: gradient descent with a step far too small moves a smooth loss by
  lr x |gradient|^2 per step: a slow fall at a nearly constant pace from the first epoch,
  every epoch lower, beyond the noise, without the fast early progress and the slowing down
  of a run that approaches its floor;
- :func:`memorizes`: a network that fits its training rows below the chance level while its
  validation loss never once gets below chance learns nothing that carries to new rows (one
  whose training accuracy never leaves the majority share fits no row: it shades the prior);
- :func:`worse_from_the_start`: a network whose validation loss climbs from its first epoch and
  never gets below the chance level (nor clearly below that first epoch), while its training
  loss has come down to chance and falls on beyond its noise, fits something of the
  training rows that makes unseen ones worse from the first step. Networks learn the patterns
  rows share before they memorize single rows (Arpit et al., "A closer look at memorization in
  deep networks", 2017: on real labels the validation loss falls first, on random labels it
  never does), so a signal in the inputs would have lowered the validation loss first;
- :func:`converged_onto_chance`: a network whose *training* loss falls smoothly and settles at
  the chance level learned the output's bias (the prior) and nothing through its hidden
  layers. Any network whose hidden units pass a gradient fits its training rows better than
  the prior (it memorizes them whatever the labels, as on shuffled labels), so the gradient
  does not reach them: Glorot and Bengio (2010) saw deep sigmoid nets sit at exactly this
  plateau, the top hidden layer saturated and the output at its bias. Such a net is at chance
  from its first or second epoch: the output bias, a few numbers under many steps, finds the
  prior within an epoch. One that slides onto chance over several epochs
  (:func:`slid_onto_chance`) moves many weights, which get gradients and shrink to the best
  they can do, no better than the prior: a net too small (or too linear) for any pattern, like
  a logistic regression on concentric circles;
- :func:`shed_penalty`: a training loss that starts far above the chance level and falls in
  (nearly) every epoch onto it, while the accuracy first rose above chance and then fell
  back to it as the loss kept falling, is lowering a term other than the data's: the weight
  penalty, by giving up the fit. So is one whose validation loss (Keras adds the penalty to it
  too) is still far above chance after the third epoch and falls in every epoch onto it, the
  accuracy at chance: weight decay sheds a penalty a bounded step at a time. A blown-up step
  leaves no such slide: its loss jumps, its end-of-epoch validation loss is at the prior within
  an epoch or two, and the units it killed learn nothing above chance afterwards;
- :func:`uniform_from_the_start`: a training loss at ln k to three digits on every epoch, the
  first included, is a network that output the uniform prior from its first step: a random
  fan-scaled start has logits that differ and a first epoch above ln k, so its logits all
  started equal (zero or constant weights, or units dead from the start) and stayed so.

What the level of the loss says of the loss function and the outputs is in :mod:`.loss_levels`.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine import noise
from plateau_doctor.engine.causes.readings import FLAT_FROM_START, Case, units_damaged
from plateau_doctor.engine.chance import ACCURACY_MARGIN, majority_only
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean, relative_improvement
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.engine.stuck import FAR_ABOVE_TRIVIAL
from plateau_doctor.engine.unstable import blow_up, is_frozen

BLOWN_START = FAR_ABOVE_TRIVIAL
"""A first-epoch mean loss at 3x the chance level or more: a fan-scaled network starts near
the chance level and falls during its first epoch, so its first mean cannot be that high
unless the loss rose far above its start within the epoch."""

STEADY_SHARE = 0.8
"""A creep lowers the loss in at least 80% of its epochs."""

STEADY_PACE = 0.5
"""A steady pace explains the fall: the trend over the run (its robust slope times the epochs)
makes up at least half of what the loss fell from epoch 1. A fall made in the first step or
two, then a standstill, has a slope near zero however many later epochs tick down by 1e-5."""

UNIFORM_TOLERANCE = 1e-3
"""A loss at ln k to three digits: a random fan-scaled start's logits differ by about one unit,
which puts its first epoch's mean a percent or more above ln k (deep sigmoid nets: 0.9-1.6%)."""

PENALTY_EXCESS = 0.5
"""Both losses at least half the chance loss above it: far more than confidence in wrong
answers adds at chance accuracy, where most rows are predicted near uniform."""

SLIDE_EPOCHS = 3
"""A penalty's slide: the validation loss still far above chance after the third epoch (a blown
step's is at the prior after the first or second)."""


def bare_log(case: Case) -> bool:
    """No reference model: the data were not seen (a training log, or a callback without a
    reference), so what the data allow is unknown."""
    audit = case.audit
    return not math.isfinite(audit.reference_val_loss) and not audit.reference_metrics


def at_chance(case: Case) -> bool:
    """The recent validation (else training) accuracy within ``chance.ACCURACY_MARGIN`` of the
    chance accuracy the log pinned (1/k when only k is known)."""
    chance = case.audit.trivial_metrics.get("val_accuracy", math.nan)
    if not math.isfinite(chance) and case.audit.n_classes >= 2:
        chance = 1.0 / case.audit.n_classes
    accuracy = _accuracy(case)
    return accuracy is not None and math.isfinite(chance) and abs(accuracy[1] - chance) <= ACCURACY_MARGIN


def trivial_loss(case: Case) -> float:
    """The chance level in the run's loss scale (NaN when unknown or in another scale)."""
    trivial = case.audit.trivial_val_loss
    return trivial if math.isfinite(trivial) and trivial > 0 and loss_in_audit_scale(case.setup) else math.nan


def _train(case: Case) -> np.ndarray | None:
    values = case.signal("loss")
    return values if values is not None and values.size >= 3 and np.all(np.isfinite(values)) else None


def _frozen(values: np.ndarray, case: Case) -> bool:
    """The last ``patience + 1`` epochs, away from zero, do not move (``unstable.is_frozen``)."""
    tail = values[-(case.detection.patience + 1):]
    return tail.size >= 3 and float(np.mean(np.abs(tail))) > 0 and is_frozen(tail)


def blow_up_signs(case: Case) -> str | None:
    """Where the training loss shows a blow-up (module docstring), for evidence; else None."""
    train = _train(case)
    if train is None:
        return None
    jump = blow_up(train)
    if jump is not None:
        epoch, peak, low = jump
        return f"loss jumped to {fmt(peak)} at epoch {epoch + 1}, {peak / low:.0f}x the lowest it had reached ({fmt(low)})"
    trivial = trivial_loss(case)
    if (
        math.isfinite(trivial) and train[0] >= BLOWN_START * trivial
        and np.all(train[1:] >= trivial * (1 - case.detection.trivial_tolerance)) and shed_penalty(case) is None
    ):
        return (
            f"loss started at {fmt(float(train[0]))} on epoch 1, {train[0] / trivial:.1f}x the chance level"
            f" {fmt(trivial)} (a blow-up within the first epoch from {BLOWN_START:g}x), and never got below chance again"
        )
    end = recent_mean(train, case.detection.patience)
    if end > train[0] * (1.0 + case.detection.trivial_tolerance):
        return (
            f"loss ended at {fmt(end)}, above its first epoch's {fmt(float(train[0]))}: the steps made the fit worse"
            " than where it started, which a step that fits the problem never does"
        )
    return _thrown_above_chance(train, trivial, case.detection.trivial_tolerance)


def blown_step(case: Case) -> str | None:
    """The step, as what killed or saturated the units a callback measured, when the training loss
    shows a blow-up (:func:`blow_up_signs`); else None. Units a step knocked out are its
    consequence, whatever the rate: a rate in its optimizer's usual range still blows up a net
    whose curvature is high."""
    if not units_damaged(case):
        return None
    signs = blow_up_signs(case)
    return None if signs is None else f"the step that blew the loss up ({signs})"


def _thrown_above_chance(train: np.ndarray, trivial: float, tolerance: float) -> str | None:
    """The training loss rose beyond its noise above its first epoch, to above the chance level
    by more than ``tolerance``, and never got that far below its first epoch (module docstring)."""
    if not math.isfinite(trivial) or not np.all(train > 0) or train.size < noise.MIN_EPOCHS:
        return None
    logs = np.log(train)
    at = int(np.argmax(logs[1:])) + 1
    rise = float(logs[at] - logs[0])
    if not (rise > noise.Z * noise.noise(logs) and rise > 0 and train[at] > trivial * (1.0 + tolerance)):
        return None
    if float(np.min(train[1:])) < train[0] * (1.0 - tolerance):
        return None  # it learned something on the way: a rise within a run that works
    return (
        f"loss rose to {fmt(float(train[at]))} at epoch {at + 1}, {pct(rise)} above its first epoch's"
        f" {fmt(float(train[0]))} and {pct(train[at] / trivial - 1.0)} above the chance level {fmt(trivial)}, and never got"
        f" {pct(tolerance)} below where it started: steps that fit the problem lower the loss, and a decay that shrinks"
        " the outputs stops at chance; only steps too large throw a network above a constant guess"
    )


def steady_creep(case: Case) -> str | None:
    """The training loss creeps down at a steady pace from epoch 1 (module docstring)."""
    train = _train(case)
    if train is None or train.size < case.detection.start_from_epoch + case.detection.patience + 1:
        return None
    fell = relative_improvement(float(train[0]), float(train[-1]))
    downward = float(np.mean(np.diff(train) < 0))
    whole, recent = noise.trend(train), noise.trend(train[-(case.detection.patience + 1):])
    if not 0 < fell < FLAT_FROM_START or downward < STEADY_SHARE or whole is None or not whole.falls:
        return None
    if recent is not None and not recent.slope <= 0.5 * whole.slope:
        return None  # it slowed down to under half its pace: approaching a floor, not held back
    scaled, _ = noise.in_relative_units(train)  # the units the trend was read in
    if not whole.change <= STEADY_PACE * float(scaled[-1] - scaled[0]):
        return None  # the pace explains under half the fall: it came in a few early steps, then stopped
    return (
        f"loss creeps down at a steady pace from epoch 1: {fmt(float(train[0]))} -> {fmt(float(train[-1]))}"
        f" ({pct(fell)} in {train.size} epochs, lower in {pct(downward)} of them; {whole.describe()}), without the"
        " fast early fall of a step that fits the problem"
    )


def memorizes(case: Case) -> str | None:
    """The training loss goes below chance while the validation loss never does."""
    train, val, trivial = _train(case), case.signal("val_loss"), trivial_loss(case)
    if train is None or val is None or not math.isfinite(trivial):
        return None
    floor = trivial * (1.0 - case.detection.trivial_tolerance)
    now = recent_mean(train, case.detection.patience)
    if not now < floor or float(np.nanmin(val)) < floor:
        return None
    if majority_only(case.history, case.detection) is not None:
        return None  # no training row's prediction flipped: it shades the prior, it fits no row
    return (
        f"the training loss fell to {fmt(now)}, below the chance level {fmt(trivial)}, while val_loss never got below"
        f" it on any epoch (lowest {fmt(float(np.nanmin(val)))}): the network memorizes its training rows and"
        " nothing it learns carries to new ones"
    )


def worse_from_the_start(case: Case) -> str | None:
    """The validation loss climbs from epoch 1, never below chance nor clearly below its first
    epoch, while the training loss, at chance or below, falls beyond its noise (module docstring)."""
    train, val, trivial = _train(case), case.signal("val_loss"), trivial_loss(case)
    if train is None or val is None or not math.isfinite(trivial) or not np.all(np.isfinite(val)):
        return None
    climb, fit = noise.trend(val), noise.trend(train)
    lowest = float(np.min(val))
    if climb is None or not climb.rises or lowest < trivial or lowest < val[0] * (1.0 - case.detection.trivial_tolerance):
        return None  # it got below chance, or clearly below its first epoch: it learned something that carried
    if fit is None or not fit.falls:
        return None  # a net that fits nothing of its training rows memorizes nothing either
    if not recent_mean(train, case.detection.patience) <= trivial * (1.0 + case.detection.trivial_tolerance):
        return None  # still above chance on its own rows: its first descent is not over, nothing is memorized yet
    if majority_only(case.history, case.detection) is not None:
        return None  # no training row's prediction flipped: it shades the prior, it fits no row
    return (
        f"val_loss climbed from its first epoch ({fmt(float(val[0]))} -> {fmt(float(val[-1]))}; {climb.describe()})"
        f" and was never below the chance level {fmt(trivial)} (lowest {fmt(lowest)}), while the training loss fell"
        f" ({fmt(float(train[0]))} -> {fmt(float(train[-1]))}; {fit.describe()}): what the network fits in"
        " its training rows makes new rows worse from the first epoch, where a signal shared by the rows is learned"
        " first (Arpit et al. 2017)"
    )


def converged_onto_chance(case: Case) -> str | None:
    """The training loss fell smoothly onto the chance level and stays there (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    tol, p = case.detection.trivial_tolerance, case.detection.patience
    if train is None or train.size < p + 1 or not math.isfinite(trivial) or blow_up_signs(case) is not None:
        return None  # settling is read over patience + 1 epochs: a shorter log cannot show it
    now = recent_mean(train, p)
    downward = float(np.mean(np.diff(train) <= 0))  # a settled loss repeats itself: no rise
    settled = abs(relative_improvement(float(train[-(p + 1)]), float(train[-1]))) < case.detection.min_delta
    if not (abs(now - trivial) <= tol * trivial and float(np.min(train)) >= trivial * (1.0 - tol)):
        return None
    if downward < STEADY_SHARE or not settled:
        return None
    return (
        f"the training loss fell smoothly ({fmt(float(train[0]))} -> {fmt(float(train[-1]))}, no higher than the epoch before in"
        f" {pct(downward)} of the epochs) and settled at the chance level {fmt(trivial)}: the output learned its"
        " bias (the prior) and nothing through the hidden layers, which any net whose units pass a gradient"
        " would (it would memorize its training rows); deep saturating nets sit exactly there (Glorot and"
        " Bengio 2010)"
    )


def slid_onto_chance(case: Case) -> int | None:
    """The epoch (0-based) at which a training loss that :func:`converged_onto_chance` (its callers
    read that first) entered the chance band, when that took :data:`SLIDE_EPOCHS` or more epochs
    from a start a fan-scaled network has (under ``BLOWN_START`` x chance); else None (module
    docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    if train is None or not math.isfinite(trivial):
        return None
    band = np.flatnonzero(np.abs(train - trivial) <= case.detection.trivial_tolerance * trivial)
    entered = int(band[0]) if band.size else train.size
    return entered if SLIDE_EPOCHS <= entered and train[0] < BLOWN_START * trivial else None


def uniform_from_the_start(case: Case) -> str | None:
    """Every epoch's training loss, the first one included, within :data:`UNIFORM_TOLERANCE` of
    ln k, the chance level of k balanced classes (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    k = case.audit.n_classes
    if train is None or k < 2 or not math.isclose(trivial, math.log(k), rel_tol=1e-9):
        return None
    if train.size < case.detection.patience + 1 or not np.all(np.abs(train / trivial - 1.0) <= UNIFORM_TOLERANCE):
        return None
    return (
        f"the training loss is ln {k} = {fmt(trivial)} on every epoch, the first one included"
        f" ({fmt(float(train[0]))} -> {fmt(float(train[-1]))}, within {pct(UNIFORM_TOLERANCE)}): the network"
        f" output the uniform prior from its first step and never left it; a fan-scaled random initialization"
        " starts with logits that differ and a first epoch above ln k, so every logit started equal (zero or"
        " constant weights, or hidden units dead from the start) and no gradient broke the tie"
    )


def shed_penalty(case: Case) -> str | None:
    """The loss slid from far above chance onto it while the accuracy rose and fell back (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    accuracy = case.signal("accuracy")
    chance = 1.0 / case.audit.n_classes if case.audit.n_classes >= 2 else math.nan
    if train is None or not math.isfinite(trivial) or accuracy is None or not math.isfinite(chance):
        return None
    tol = case.detection.trivial_tolerance
    steps = np.diff(train)
    sliding = float(np.mean(steps <= tol * trivial))  # no rise beyond the at-chance band
    peak = int(np.nanargmax(accuracy))
    if not (train[0] >= BLOWN_START * trivial and sliding >= STEADY_SHARE and abs(train[-1] - trivial) <= tol * trivial):
        return None
    if blow_up(train) is not None:
        return None  # a jump to 10x what it had reached is a blown step, however it slid otherwise
    if not abs(float(accuracy[-1]) - chance) <= ACCURACY_MARGIN:
        return None
    slide = _validation_slide(case, trivial)
    if slide is not None:
        return slide
    if not accuracy[peak] >= chance + ACCURACY_MARGIN:
        return None
    return (
        f"the training loss slid from {fmt(float(train[0]))} ({train[0] / trivial:.1f}x the chance level {fmt(trivial)})"
        f" onto chance, no higher than the epoch before in {pct(sliding)} of the epochs, while the training accuracy"
        f" rose to {fmt(float(accuracy[peak]))} (epoch {peak + 1}) and fell back to {fmt(float(accuracy[-1]))}: the"
        " optimizer lowered a term other than the data's (the weight penalty) by giving up the fit"
    )


def _validation_slide(case: Case, trivial: float) -> str | None:
    """The validation loss, measured after each epoch, was still far above chance after the third
    (:data:`SLIDE_EPOCHS`) and fell in every epoch onto chance: a penalty that weight decay sheds a bounded step at a
    time. A step that blew the weights out leaves the end-of-epoch validation loss at the prior
    within an epoch or two (the output bias finds it at once, and dead units cost nothing more)."""
    val = case.signal("val_loss")
    if val is None or val.size < SLIDE_EPOCHS + 1 or not np.all(np.isfinite(val)):
        return None
    tol = case.detection.trivial_tolerance
    if not val[SLIDE_EPOCHS - 1] >= (1.0 + PENALTY_EXCESS) * trivial or not abs(float(val[-1]) - trivial) <= tol * trivial:
        return None
    landed = int(np.flatnonzero(val <= trivial * (1.0 + tol))[0])
    if not np.all(np.diff(val[: landed + 1]) < 0):
        return None
    return (
        f"the training loss started at {fmt(float(case.signal('loss')[0]))} and val_loss at {fmt(float(val[0]))}"
        f" ({val[0] / trivial:.1f}x the chance level {fmt(trivial)}); val_loss was still {fmt(float(val[SLIDE_EPOCHS - 1]))}"
        f" after epoch {SLIDE_EPOCHS} and fell in every epoch onto chance by epoch {landed + 1}, with the accuracy"
        " at chance: a term other than the data's (the weight penalty, which Keras adds to both losses) shed"
        " by weight decay a bounded step at a time, not a blown step (its validation loss is at the prior within an epoch)"
    )


def _accuracy(case: Case) -> tuple[str, float] | None:
    for name in ("val_accuracy", "accuracy"):
        value = case.recent(name)
        if math.isfinite(value):
            return name, value
    return None
