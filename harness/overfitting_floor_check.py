"""How often a flat, noisy validation floor is called overfit (not a test; prints a table).

A validation loss falls for 10 epochs onto a flat floor of L epochs with Gaussian scatter in
log space; the overfitting test's level comparison (GL >= 5, the trend after the best going
up, and the rise of the last 3 epochs' median over the best running median) is applied with
two noise bounds: a fixed two standard errors of the difference of two medians of 3
(2 x sqrt(2) x 0.670 sigma) and the seeded bootstrap of a flat floor that
``engine.early_stopping`` uses. A floor has no rise, so every call is a false alarm; the
bootstrap's target is 2.5%.

    python harness/overfitting_floor_check.py [--repeats 400]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plateau_doctor.engine import noise  # noqa: E402
from plateau_doctor.engine.early_stopping import (  # noqa: E402
    END_EPOCHS, GL_SICK, _floor_length, _scatter, floor_rise_bound,
)

FIXED_SE = 2.0 * math.sqrt(2.0) * 0.670


def false_alarms(floor: int, scatter: float, repeats: int, rng: np.random.Generator) -> tuple[float, float]:
    fixed = boot = 0
    for _ in range(repeats):
        n = 10 + floor
        trend = np.array([1.3 * (0.33 / 1.3) ** (min(i, 10) / 10) for i in range(n)])
        val = trend * np.exp(rng.normal(0.0, scatter, n))
        level = noise.running_median(val)
        low = int(np.argmin(level))
        best = max(0, low - 1) + int(np.argmin(val[max(0, low - 1): low + 2]))
        e_opt, e_end = float(level[low]), float(np.median(val[-END_EPOCHS:]))
        after = noise.trend(val[best:])
        if n - 1 - best < 5 or 100 * (e_end / e_opt - 1) < GL_SICK or after is None or not after.slope > 0:
            continue
        sigma, _ = _scatter(val)
        rise = math.log(e_end / e_opt)
        fixed += rise > FIXED_SE * sigma
        boot += rise > floor_rise_bound(_floor_length(level, e_end), sigma)
    return fixed / repeats, boot / repeats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=400)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'floor':>5s} {'scatter':>7s} {'fixed 2 SE':>10s} {'bootstrap':>9s}")
    for floor in (6, 10, 15, 25):
        for scatter in (0.05, 0.15):
            fixed, boot = false_alarms(floor, scatter, args.repeats, rng)
            print(f"{floor:5d} {scatter:7.2f} {fixed:10.1%} {boot:9.1%}")


if __name__ == "__main__":
    main()
