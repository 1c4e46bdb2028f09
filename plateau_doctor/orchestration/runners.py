"""Where remedy branches run: ``remedies.runner: processes | dask``.

* ``processes``: Prefect's ``ProcessPoolTaskRunner`` on this machine, up to
  ``remedies.max_parallel`` branches at once. Its workers start when a rung's fits would
  take longer one after another than the workers' start (``remedies.worker_start_seconds``)
  plus the same fits in parallel (:func:`in_process_is_cheaper`); until then a rung runs
  in the flow's own process, one branch after another, where Keras is already imported.
* ``dask`` with ``remedies.dask_address``: prefect-dask's ``DaskTaskRunner`` joins that
  existing cluster (``tcp://host:8786``).
* ``dask`` without an address: a local Dask cluster of processes, one thread each (Keras'
  seed is process-global, so two fits in one process's threads would not repeat).

A branch crosses the task boundary as its config, its plan and the path its model is
saved to; it reads the prepared data itself and returns its metrics and curves. Models
and arrays never travel, so any runner gives the same result for the same seed. The
workers of an existing cluster need the project installed and access to ``data.path``
and ``output.dir`` (a shared filesystem), and must be started with the run's Keras
backend (``KERAS_BACKEND=jax dask worker ...`` for ``training.backend: jax``).
"""

from __future__ import annotations

from collections.abc import Sequence

from plateau_doctor.config import DoctorConfig
from plateau_doctor.errors import ConfigError


FIT_START_SECONDS = 0.5
"""A branch's own fixed cost before its first epoch: its preparation of the split, and
building and compiling its model."""


def fit_estimates(epochs: Sequence[int], seconds_per_epoch: float, range_tests: Sequence[bool] = ()) -> list[float]:
    """Seconds each branch of a rung should take, from the baseline's measured pace; a
    learning-rate range test costs about the same as one epoch plus a fit's start."""
    tests = list(range_tests) + [False] * (len(epochs) - len(range_tests))
    return [
        FIT_START_SECONDS + n * seconds_per_epoch + (FIT_START_SECONDS + seconds_per_epoch) * test
        for n, test in zip(epochs, tests)
    ]


def in_process_is_cheaper(fit_seconds: Sequence[float], workers: int, start_seconds: float) -> bool:
    """Whether the fits end sooner one after another here than on ``workers`` fresh processes.

    In parallel they end after the workers' start plus the longer of the longest fit and an
    even share of them all; here, after their sum. With one worker the start never pays.
    ``start_seconds`` is ``remedies.worker_start_seconds``: each fresh process imports
    TensorFlow and Prefect's task engine first, and the run waits for the workers' exit at
    its end. The default 8 s is what two workers cost on the 2-core machine, idle
    otherwise: 6.2-6.4 s from the pool's start until both had imported Keras, side by
    side, and 1.8-2.4 s to close them.
    """
    fits = [max(0.0, float(f)) for f in fit_seconds]
    workers = min(workers, len(fits))
    if workers <= 1:
        return True
    sequential = sum(fits)
    parallel = start_seconds + max(max(fits), sequential / workers)
    return sequential <= parallel


def branch_task_runner(config: DoctorConfig, n_branches: int):
    """The Prefect task runner for ``n_branches`` remedy branches, as ``remedies.runner`` says."""
    workers = max(1, min(config.remedies.max_parallel, n_branches))
    if config.remedies.runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError(
            "remedies.runner: dask needs prefect-dask; install it (pip install prefect-dask) or use processes"
        ) from None
    if config.remedies.dask_address:
        return DaskTaskRunner(address=config.remedies.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    )
