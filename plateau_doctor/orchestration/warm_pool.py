"""One process pool for a whole doctor run, its workers with Keras already imported.

Racing runs a round's branches in rungs, and every rung is one call of the
``remedy-branches`` subflow. With Prefect's ``ProcessPoolTaskRunner`` each call would
spawn fresh workers, and each would import TensorFlow again (5 s or more apiece on two
cores). :class:`WarmProcessPoolTaskRunner` is entered once, survives the subflows (the
flow engine's ``duplicate()`` and ``with`` leave it running) and is closed by its owner,
the doctor flow, when the run ends.

Small rungs do not start it: while the rung's fits, at the baseline's measured pace, would
end sooner one after another than on freshly started workers
(:func:`plateau_doctor.orchestration.runners.in_process_is_cheaper`), they run in the flow's own process,
each still its own task run. Once started, the pool serves every later rung.

Same seed, same result: a branch seeds its own fit at its start (``fit_branch``), exactly
as it did in a worker that Prefect's pool had already used for another branch, or in the
flow's process after the baseline.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from typing import Iterator

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from plateau_doctor.orchestration.runners import fit_estimates, in_process_is_cheaper

log = logging.getLogger("plateau_doctor")


def preload_keras() -> None:
    """Pool initializer: import Keras (the backend from the inherited ``KERAS_BACKEND``) before any branch."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)  # TensorFlow's C++ start-up lines, once per worker, say nothing a user can act on
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _ready() -> int:
    return os.getpid()


class WarmProcessPoolTaskRunner(ProcessPoolTaskRunner):
    """A ``ProcessPoolTaskRunner`` that its flows share instead of starting and stopping it."""

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers=max_workers, initializer=preload_keras)
        self.seconds_per_epoch = math.nan  # the baseline's pace, once it is known

    def observe_baseline(self, wall_seconds: float, epochs: int) -> None:
        """Remember the baseline fit's pace (its start included): the yardstick for a rung's cost."""
        if epochs > 0 and math.isfinite(wall_seconds):
            self.seconds_per_epoch = wall_seconds / epochs

    def runner_for(self, plans: list, config, trained: list[int] | None = None):
        """This pool, or a one-thread runner in the flow's process while starting workers would not pay.

        A plan's ``training.epochs`` is its rung's end; ``trained`` the epochs each branch
        trained in earlier rungs (it resumes there), so a fit costs the difference.
        """
        start = config.remedies.worker_start_seconds
        if self._started or not math.isfinite(self.seconds_per_epoch):
            return self
        trained = trained or [0] * len(plans)
        epochs = [
            max(0, int(p.overrides.get("training.epochs", config.training.epochs)) - done)
            for p, done in zip(plans, trained)
        ]
        fits = fit_estimates(epochs, self.seconds_per_epoch, [p.lr_range_test for p in plans])
        if not in_process_is_cheaper(fits, self._max_workers, start):
            return self
        log.info(
            "branches: %d fit(s), about %.1f s at the baseline's pace, run one after another in this process"
            " (starting %d worker(s) costs about %.3g s: remedies.worker_start_seconds)",
            len(plans), sum(fits), min(self._max_workers, len(plans)), start,
        )
        return ThreadPoolTaskRunner(max_workers=1)

    def duplicate(self) -> "WarmProcessPoolTaskRunner":
        return self  # the engine enters a duplicate per flow run: hand it this running pool

    def __enter__(self) -> "WarmProcessPoolTaskRunner":
        if self._started and self._executor is None:  # cancelled by a termination signal: start afresh
            super().__exit__(None, None, None)
        if not self._started:
            super().__enter__()
        return self

    def __exit__(self, *exc) -> None:
        """Left running for the next subflow; :meth:`close` ends it."""

    def __getstate__(self) -> dict:
        """A flow run's context carries its flow, and the flow this runner: pickled into a task's
        process it travels as its settings only (its executor, queue and threads stay here)."""
        state = dict(self.__dict__)
        state.update(_executor=None, _resolver_executor=None, _subprocess_message_queue=None,
                     _message_forwarding_thread=None, _cancel_events={}, _started=False)
        return state

    def warm(self) -> None:
        """Start every worker now (each imports Keras), so that the first branches need not wait."""
        self.__enter__()
        for _ in range(self._max_workers):
            self._executor.submit(_ready)

    def close(self) -> None:
        if self._started:
            super().__exit__(None, None, None)


@contextmanager
def warm_pool(max_workers: int) -> Iterator[WarmProcessPoolTaskRunner]:
    """A warm pool for the block; its workers end with it."""
    runner = WarmProcessPoolTaskRunner(max_workers=max_workers)
    try:
        yield runner
    finally:
        runner.close()
