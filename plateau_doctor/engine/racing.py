"""Racing a round's branches: train in rungs, stop the ones clearly lost. Pure: plain numbers in.

Successive halving as in ASHA and Hyperband (Li et al. 2017, 2020): every branch trains to
the first rung; after each rung the branches the detector calls diverged or stuck at the
trivial level stop, and of the rest only the best ``1/eta`` go on, unless a branch is
within ``behind`` of the leader's score (then it is not *clearly* behind and goes on too).
A stopped branch is recorded ``pruned`` with its epochs, and its curve stays in the report.

The decision is a function of the scores and the detector's verdicts only, so the same
seed gives the same race. Rungs resume from the saved model, so the pipeline can run each
rung in any process (see ``pipeline.race_branches``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ETA = 3
"""Keep the best third at each rung (Hyperband's default reduction factor)."""
MIN_RUNG_EPOCHS = 5
"""No rung shorter than this: the detector needs a few epochs past its warm-up to read a curve."""
LOST_SYMPTOMS = ("diverged", "stuck_at_trivial")
"""Symptoms that stop a branch at any rung, whatever its score."""


@dataclass(frozen=True)
class Standing:
    """One branch at a rung: its judging score and what the detector reads in its curves so far."""

    name: str
    score: float
    symptoms: tuple[str, ...] = ()
    finished: bool = False  # trained every epoch it was given, or stopped itself (early stopping)


def rung_epochs(total_epochs: int, eta: int = ETA, min_epochs: int = MIN_RUNG_EPOCHS) -> list[int]:
    """Where the rungs end: ``total / eta^k`` for k = ..., 2, 1, 0, none shorter than ``min_epochs``.

    >>> rung_epochs(50)
    [6, 17, 50]
    >>> rung_epochs(8)
    [8]
    """
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be at least 1, got {total_epochs}")
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    ends = {total_epochs}
    divisor = eta
    while math.ceil(total_epochs / divisor) >= min_epochs:
        ends.add(math.ceil(total_epochs / divisor))
        divisor *= eta
    return sorted(ends)


def race_decision(standings: list[Standing], behind: float, eta: int = ETA, at_level: str | None = None) -> dict[str, str]:
    """Which branches stop after this rung, each with why; the others go on.

    - a branch whose curves the detector calls diverged or stuck at the trivial level stops;
    - when ``at_level`` names a branch whose kept model is already at the attainable level
      (the verdict's reading, made by the caller), the round is decided: that branch trains
      on to its own end, every other unfinished branch stops. First to the level wins; a
      rival could at most tie on the promise ``repaired`` makes, at the price of its epochs;
    - otherwise the best ``ceil(n / eta)`` by score go on, and so does any branch within
      ``behind`` of the leader; the others are clearly behind and stop.
    Finished branches compete (they set the leader) but are never stopped. A non-finite
    score is always behind.
    """
    stop: dict[str, str] = {}
    if at_level is not None:
        for standing in standings:
            if standing.name != at_level and not standing.finished:
                stop[standing.name] = f"the round is decided: {at_level} is at the attainable level"
        return stop
    alive = []
    for standing in standings:
        lost = [name for name in LOST_SYMPTOMS if name in standing.symptoms]
        if lost and not standing.finished:
            stop[standing.name] = f"the detector calls it {lost[0]}"
        else:
            alive.append(standing)
    if not alive:
        return stop
    ranked = sorted(alive, key=lambda s: finite_or_low(s.score), reverse=True)
    leader = finite_or_low(ranked[0].score)
    keep = math.ceil(len(ranked) / eta)
    for place, standing in enumerate(ranked):
        if standing.finished or place < keep:
            continue
        gap = leader - finite_or_low(standing.score)
        if gap > behind:
            gap_text = f"{gap:.4f}" if math.isfinite(gap) else "a non-finite score"
            stop[standing.name] = f"clearly behind: {gap_text} below the leader {ranked[0].name}'s score {leader:.4f}"
    return stop


def finite_or_low(value: float) -> float:
    """A score to rank by: a non-finite one is below every finite one."""
    return value if math.isfinite(value) else -math.inf
