"""What the curves alone say about a cause, for a run whose set-up and signals were not
logged (a bare training log: no reference model, often no learning rate). Pure: numpy only.
Names no cause: each cause reads the ones that bear on it.

Each reading follows from how a loss behaves, not from a fitted threshold:

- :func:`blow_up_signs`: a step that throws the weights out shows in the training loss as a
  jump far above what it had reached (``unstable.BLOW_UP_FACTOR``), as a first epoch far above
  the chance level followed by a network that never gets below chance again (one epoch of
  huge steps saturated or killed its units), or as a loss that ends above where it started
  after having been lower (it gave back what it had learned);
- :func:`steady_creep`: gradient descent with a step far too small moves a smooth loss by
  lr x |gradient|^2 per step: a slow fall at a nearly constant pace from the first epoch,
  every epoch lower, beyond the noise, without the fast early progress and the slowing down
  of a run that approaches its floor;
- :func:`memorizes`: a network that fits its training rows below the chance level while its
  validation loss never once gets below chance learns nothing that carries to new rows (one
  whose training accuracy never leaves the majority share fits no row: it shades the prior);
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
  started equal (zero or constant weights, or units dead from the start) and stayed so;
- :func:`zero_loss`: a loss of exactly 0 on every epoch, the first included, while the accuracy
  counts wrong rows: no network starts at zero loss, so the loss does not depend on the
  outputs (categorical cross-entropy over one unit is identically 0);
- :func:`penalty_dominated`: Keras adds the layers' weight penalties to both the training and
  the validation loss; at chance accuracy the data term is about the chance loss, so losses
  that both sit far above it, by the same amount, carry a large term that no row moves (unless
  the loss still creeps down at a steady pace from epoch 1: a head whose large initial logits
  a tiny step is slowly shrinking sits there too). A penalty is never frozen: its own gradient
  shrinks every weight by a factor 1 - 2 x lr x l2 per step, so a penalty that dominates the loss
  falls every epoch;
- :func:`frozen_off_scale`: at chance accuracy a network whose loss is cross-entropy sits near the
  chance loss, or at 16.12 nats per wrong row when its outputs are pinned (:func:`pinned_output`);
  a loss frozen far above both, which is no penalty either (a penalty decays), compares the
  outputs with the labels some other way (squared error on class ids: E[y^2] of the ids);
- :func:`pinned_output`: Keras clips probabilities to [1e-7, 1 - 1e-7], so an output pinned at
  0 or 1 costs -ln(1e-7) = 16.12 nats on every row it gets wrong: a frozen loss equal to 16.12
  x the error rate is an output that cannot move (softmax on one unit, a saturated sigmoid);
- :func:`below_cross_entropy`: a row counted wrong costs at least ln 2 under cross-entropy, so a
  classifier's cross-entropy is at least (1 - accuracy) ln 2; a loss well under that on both
  splits is no cross-entropy (a squared error on one-hot labels, a hinge), which trains a softmax
  classifier slowly. (A focal or dice loss also sits under it: the evidence says what it read.)
- :func:`loss_contradicts_accuracy`: a row the accuracy counts wrong costs at least ln 2 under
  cross-entropy (its probability is at most 1/2) and at least 1/4 under squared error or hinge,
  so the error rate is at most 4x the loss whatever the loss; an accuracy far below
  1 - 4 x loss means the metric does not read the outputs the loss trains.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine import noise
from plateau_doctor.engine.causes.readings import FLAT_FROM_START, Case
from plateau_doctor.engine.chance import ACCURACY_MARGIN, majority_only
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean, relative_improvement
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.engine.stuck import contradicted_accuracy
from plateau_doctor.engine.unstable import blow_up, is_frozen

BLOWN_START = 3.0
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

SLIDE_EPOCHS = 3
"""A penalty's slide: the validation loss still far above chance after the third epoch (a blown
step's is at the prior after the first or second)."""

PENALTY_EXCESS = 0.5
"""Both losses at least half the chance loss above it: far more than confidence in wrong
answers adds at chance accuracy, where most rows are predicted near uniform."""

SAME_EXCESS = 0.1
"""...and the training and validation losses within 10% of each other: the same term in both."""

CROSS_ENTROPY_MARGIN = 0.1
"""A loss 10% under the cross-entropy floor (1 - accuracy) ln 2: beyond the rounding of a logged
accuracy, and the epoch-mean accuracy and loss of a moving network."""

CLIPPED_NATS = -math.log(1e-7)
"""Keras' probability clip (epsilon 1e-7): what one row costs when the output is pinned wrong."""

PINNED_TOLERANCE = 0.02



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
    return None


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


def converged_onto_chance(case: Case) -> str | None:
    """The training loss fell smoothly onto the chance level and stays there (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    if train is None or not math.isfinite(trivial) or blow_up_signs(case) is not None:
        return None
    tol, p = case.detection.trivial_tolerance, case.detection.patience
    now = recent_mean(train, p)
    downward = float(np.mean(np.diff(train) <= 0))  # a settled loss repeats itself: no rise
    settled = abs(relative_improvement(float(train[-(p + 1)]), float(train[-1]))) < case.detection.min_delta
    if not (abs(now - trivial) <= tol * trivial and float(np.min(train)) >= trivial * (1.0 - tol)):
        return None
    if downward < STEADY_SHARE or not settled or train.size < p + 1:
        return None
    return (
        f"the training loss fell smoothly ({fmt(float(train[0]))} -> {fmt(float(train[-1]))}, no higher than the epoch before in"
        f" {pct(downward)} of the epochs) and settled at the chance level {fmt(trivial)}: the output learned its"
        " bias (the prior) and nothing through the hidden layers, which any net whose units pass a gradient"
        " would (it would memorize its training rows); deep saturating nets sit exactly there (Glorot and"
        " Bengio 2010)"
    )


def slid_onto_chance(case: Case) -> int | None:
    """The epoch (0-based) at which a training loss that :func:`converged_onto_chance` entered the
    chance band, when that took :data:`SLIDE_EPOCHS` or more epochs from a start a fan-scaled
    network has (under ``BLOWN_START`` x chance); else None (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    if train is None or not math.isfinite(trivial) or converged_onto_chance(case) is None:
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
    """The validation loss, measured after each epoch, was still far above chance after the second
    one and fell in every epoch onto chance: a penalty that weight decay sheds a bounded step at a
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


def zero_loss(case: Case) -> str | None:
    """Exactly 0 on every epoch, the first included, with wrong rows counted (module docstring)."""
    losses = [values for name in ("loss", "val_loss") if (values := case.signal(name)) is not None]
    accuracy = _accuracy(case)
    if not losses or accuracy is None or not all(np.all(values[np.isfinite(values)] == 0.0) for values in losses):
        return None
    if not accuracy[1] < 1.0 - ACCURACY_MARGIN:
        return None
    return (
        f"the loss is exactly 0 on every epoch, the first included, while {accuracy[0]} is {fmt(accuracy[1])}: no"
        " network starts at zero loss, so the loss does not read the outputs (categorical cross-entropy over one"
        " unit is identically 0)"
    )


def penalty_dominated(case: Case) -> str | None:
    """Training and validation losses alike, far above the chance level (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    val = case.signal("val_loss")
    if train is None or val is None or not math.isfinite(trivial):
        return None
    if steady_creep(case) is not None:
        return None  # still creeping down at a steady pace from epoch 1: a step too small, whatever the level
    if _frozen(train, case):
        return None  # a penalty decays under its own gradient: a frozen excess is not one
    p = case.detection.patience
    train_now, val_now = recent_mean(train, p), recent_mean(val, p)
    floor = trivial * (1.0 + PENALTY_EXCESS)
    if not (train_now >= floor and val_now >= floor and abs(train_now - val_now) <= SAME_EXCESS * val_now):
        return None
    return (
        f"at chance accuracy the training loss {fmt(train_now)} and val_loss {fmt(val_now)} both sit"
        f" {pct(val_now / trivial - 1)} above the chance level {fmt(trivial)}, within {pct(SAME_EXCESS)} of each other:"
        " a term no row moves, which Keras adds to both (the layers' weight penalties)"
    )


def frozen_off_scale(case: Case) -> str | None:
    """A frozen loss far above the chance level that is neither a penalty nor pinned outputs (module docstring)."""
    train, trivial = _train(case), trivial_loss(case)
    val = case.signal("val_loss")
    if train is None or not math.isfinite(trivial) or not _frozen(train, case) or pinned_output(case) is not None:
        return None
    p = case.detection.patience
    now = [recent_mean(values, p) for values in (train, val) if values is not None]
    floor = trivial * (1.0 + PENALTY_EXCESS)
    if not all(level >= floor for level in now):
        return None
    return (
        f"at chance accuracy the training loss is frozen at {fmt(float(train[-1]))}, {now[0] / trivial:.1f}x the"
        f" chance level {fmt(trivial)} a cross-entropy network sits at there; no weight penalty stays frozen (its"
        f" gradient shrinks the weights every step) and outputs pinned wrong would cost {fmt(CLIPPED_NATS)} nats per"
        " wrong row: the loss compares the outputs with the labels some other way (squared error on class ids)"
    )


def _accuracy(case: Case) -> tuple[str, float] | None:
    for name in ("val_accuracy", "accuracy"):
        value = case.recent(name)
        if math.isfinite(value):
            return name, value
    return None


def below_cross_entropy(case: Case) -> str | None:
    """A classifier's loss, on both splits, below what cross-entropy costs at its accuracy
    (module docstring)."""
    found = []
    for loss_name, accuracy_name in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
        loss, accuracy = case.recent(loss_name), case.recent(accuracy_name)
        if not (math.isfinite(loss) and math.isfinite(accuracy) and loss >= 0):
            continue
        floor = (1.0 - accuracy) * math.log(2.0)
        if not loss < (1.0 - CROSS_ENTROPY_MARGIN) * floor:
            return None
        found.append(f"{loss_name} {fmt(loss)} at {accuracy_name} {fmt(accuracy)} (cross-entropy >= {fmt(floor)})")
    if not found:
        return None
    return (
        f"{'; '.join(found)}: every row counted wrong costs at least ln 2 under cross-entropy, so this loss is not"
        " one; a classifier trained on a squared error (or another loss that does not score probabilities) learns"
        " slowly, its gradient fading as the outputs saturate"
    )


def pinned_output(case: Case) -> str | None:
    """A flat loss equal to 16.12 nats x the error rate (module docstring)."""
    accuracy, train = _accuracy(case), _train(case)
    if accuracy is None or train is None:
        return None
    name, value = accuracy
    loss_name = "val_loss" if name.startswith("val_") and case.signal("val_loss") is not None else "loss"
    loss = case.recent(loss_name)
    expected = CLIPPED_NATS * (1.0 - value)
    recent = case.signal(loss_name)[-case.detection.patience:]
    flat = bool(np.all(np.isfinite(recent))) and float(np.ptp(recent)) <= PINNED_TOLERANCE * abs(loss)
    if not (expected > 0 and flat and abs(loss - expected) <= PINNED_TOLERANCE * expected):
        return None
    return (
        f"{loss_name} {fmt(loss)} equals {fmt(CLIPPED_NATS)} nats (a probability clipped at 1e-7) times the"
        f" error rate {fmt(1 - value)} ({name} {fmt(value)}): the output is pinned at 0 or 1 and every wrong"
        " row costs the clip"
    )


def loss_contradicts_accuracy(case: Case) -> str | None:
    """The accuracy is far below what the loss allows (module docstring)."""
    found = contradicted_accuracy(case.history)
    return None if found is None else f"{found}: the metric does not read the outputs the loss trains"
