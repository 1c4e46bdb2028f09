"""Where remedy branches run: ``remedies.runner: processes | dask``.

* ``processes``: Prefect's ``ProcessPoolTaskRunner`` on this machine, up to
  ``remedies.max_parallel`` branches at once.
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

from plateau_doctor.config import DoctorConfig
from plateau_doctor.errors import ConfigError


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
