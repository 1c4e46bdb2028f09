"""Wall seconds per stage: where a run's time goes besides the fits.

The run's executor times every step with a :class:`StageClock` (``run.executor``); the
totals land in ``summary.json`` as ``timings``. The CLI keeps its
own marks (imports, checks, server start, shutdown) and, when ``PLATEAU_DOCTOR_TIMINGS``
names a file, writes them there with the run's stage times, for
``harness/benchmark_fixed_costs.py``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

TIMINGS_ENV = "PLATEAU_DOCTOR_TIMINGS"

class StageClock:
    """Adds up wall seconds per bucket; ``started_at`` is the Unix time the pipeline began."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.seconds: dict[str, float] = {}

    def add(self, bucket: str, seconds: float) -> None:
        self.seconds[bucket] = self.seconds.get(bucket, 0.0) + seconds

    def timed(self, bucket: str, function: Callable) -> Callable:
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(bucket, time.perf_counter() - started)

        return call

    def to_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "stages": {k: round(v, 3) for k, v in self.seconds.items()}}


class Marks:
    """Named Unix times in the CLI's life (``main`` entered, data checked, flow started...)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.times[name] = time.time()

    def write(self, extra: dict[str, Any] | None = None) -> None:
        """To the file ``PLATEAU_DOCTOR_TIMINGS`` names, if any; timing must never fail a run."""
        target = os.environ.get(TIMINGS_ENV)
        if not target:
            return
        try:
            Path(target).write_text(json.dumps({"marks": self.times, **(extra or {})}, indent=1))
        except OSError:
            pass
