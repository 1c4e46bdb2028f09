"""Remedy branches on a real Dask cluster give the same results as the process runner."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_classification_frame
from plateau_doctor.config import validate_config
from plateau_doctor.orchestration.runners import branch_task_runner

VENV_BIN = Path(sys.executable).parent


def test_processes_is_the_default_runner():
    from prefect.task_runners import ProcessPoolTaskRunner

    runner = branch_task_runner(validate_config({"remedies": {"max_parallel": 3}}), n_branches=2)
    assert isinstance(runner, ProcessPoolTaskRunner) and runner._max_workers == 2


def test_dask_runner_joins_the_address_or_makes_a_local_cluster_of_single_threaded_processes():
    from prefect_dask import DaskTaskRunner

    joined = branch_task_runner(validate_config({"remedies": {"runner": "dask", "dask_address": "tcp://10.0.0.5:8786"}}), 2)
    assert isinstance(joined, DaskTaskRunner) and joined.address == "tcp://10.0.0.5:8786"
    local = branch_task_runner(validate_config({"remedies": {"runner": "dask", "max_parallel": 4}}), 3)
    assert local.address is None
    assert local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["threads_per_worker"] == 1
    assert local.cluster_kwargs["processes"] is True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sick_config(tmp_path, out: str, **remedies):
    frame = make_classification_frame(300)
    frame[["f0", "f1", "f2"]] = frame[["f0", "f1", "f2"]] * 1000 + 5000
    path = tmp_path / "table.csv"
    if not path.exists():
        frame.to_csv(path, index=False)
    return validate_config({
        "data": {"path": str(path)},
        "preprocessing": {"scale_features": False},
        "model": {"hidden_units": [16]},
        "training": {"optimizer": "sgd", "learning_rate": 0.01, "epochs": 12},
        "remedies": {"enabled": ["preprocessing", "capacity"], **remedies},
        "output": {"dir": str(tmp_path / out)},
    })


def _assert_same_runs(tmp_path, reference: tuple[str, dict], other: tuple[str, dict]) -> pd.DataFrame:
    """Two runs of the same sick set-up (output folder, summary) agree: the verdict and every
    branch's row. Returns the reference run's remedies rows."""
    (ref_out, ref), (other_out, summary) = reference, other
    assert ref["status"] != "healthy"
    for key in ("status", "symptoms", "causes", "chosen_remedy", "baseline", "final"):
        assert summary[key] == ref[key], key
    columns = ["remedy", "status", "epochs", "val_loss", "val_balanced_accuracy", "chosen"]
    rows = {out: pd.read_parquet(tmp_path / out / "remedies")[columns].sort_values("remedy").reset_index(drop=True)
            for out in (ref_out, other_out)}
    assert len(rows[ref_out]) >= 1
    pd.testing.assert_frame_equal(rows[other_out], rows[ref_out])
    return rows[ref_out]


@pytest.fixture
def dask_cluster(prefect_server):
    """A `dask scheduler` and two single-threaded `dask worker` processes on 127.0.0.1."""
    from prefect.settings import PREFECT_API_URL

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(Path.cwd())}
    dask = str(VENV_BIN / "dask")
    processes = [subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    try:
        for _ in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--no-nanny"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        from distributed import Client

        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout=10) as client:
                    client.wait_for_workers(2, timeout=90)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_branches_on_a_dask_cluster_equal_the_process_runners(tmp_path, dask_cluster):
    from flows.doctor import doctor

    on_processes = doctor(_sick_config(tmp_path, "processes"))
    on_dask = doctor(_sick_config(tmp_path, "dask", runner="dask", dask_address=dask_cluster))

    from distributed import Client

    with Client(dask_cluster, timeout=10) as client:
        ran_there = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "run_branch" in ran_there, ran_there  # the branches ran on the cluster
    by_processes = _assert_same_runs(tmp_path, ("processes", on_processes), ("dask", on_dask))
    assert by_processes["status"].isin(["ok", "pruned"]).all()  # racing may prune


# Where a rung's branches run: fresh workers only when they pay for their start (pure rule).
from plateau_doctor.orchestration.runners import FIT_START_SECONDS, fit_estimates, in_process_is_cheaper  # noqa: E402


def test_fit_estimates_follow_the_baseline_pace_and_charge_a_range_test():
    plain, tested = fit_estimates([10, 10], seconds_per_epoch=0.2, range_tests=[False, True])
    assert plain == pytest.approx(FIT_START_SECONDS + 2.0)
    assert tested == pytest.approx(plain + FIT_START_SECONDS + 0.2)


@pytest.mark.parametrize(
    "fits, workers, start, expected",
    [
        ([1.0, 1.0, 1.0, 1.0], 2, 4.0, True),     # 4 s here against 4 + 2 s on two fresh workers
        ([6.0, 6.0, 6.0, 6.0], 2, 4.0, False),    # 24 s here against 4 + 12 s
        ([4.0, 4.0], 2, 4.0, True),               # 8 s either way: no process to start
        ([30.0, 1.0], 2, 4.0, True),              # the long fit bounds the parallel run: 31 s against 34 s
        ([30.0, 30.0], 1, 4.0, True),             # one worker never repays its start
        ([30.0], 8, 4.0, True),                   # nor does a pool for one branch
        ([6.0] * 8, 4, 4.0, False),               # 48 s here against 4 + 12 s
    ],
)
def test_fits_run_here_while_starting_workers_would_not_pay(fits, workers, start, expected):
    assert in_process_is_cheaper(fits, workers, start) is expected


def test_a_resumed_rung_is_charged_only_the_epochs_it_has_left():
    from prefect.task_runners import ThreadPoolTaskRunner

    from plateau_doctor.config import validate_config
    from plateau_doctor.orchestration.warm_pool import WarmProcessPoolTaskRunner
    from plateau_doctor.engine.planning import RemedyPlan

    config = validate_config({"remedies": {"worker_start_seconds": 8.0}})
    pool = WarmProcessPoolTaskRunner(max_workers=2)
    pool.observe_baseline(wall_seconds=10.0, epochs=10)  # 1 s an epoch
    plans = [RemedyPlan(name, {"training.epochs": 10}, "", []) for name in ("optimizer", "preprocessing")]
    # From scratch: 2 x 10.5 s here against 8 + 10.5 s on two workers, which pay.
    assert pool.runner_for(plans, config) is pool
    # After a 6-epoch rung: 2 x 4.5 s here against 8 + 4.5 s: this process.
    assert isinstance(pool.runner_for(plans, config, trained=[6, 6]), ThreadPoolTaskRunner)
    assert not pool._started


@pytest.mark.slow
def test_branches_in_the_flows_process_equal_the_process_pools(tmp_path, prefect_server, monkeypatch):
    """A rung too small for the workers' start runs in the flow's process, with the same result."""
    from flows.doctor import doctor
    from plateau_doctor.orchestration import flows, warm_pool

    started = []

    @contextlib.contextmanager
    def spied_pool(max_workers):
        runner = warm_pool.WarmProcessPoolTaskRunner(max_workers=max_workers)
        try:
            yield runner
        finally:
            started.append(runner._started)
            runner.close()

    monkeypatch.setattr(flows, "warm_pool", spied_pool)
    monkeypatch.setattr(warm_pool, "in_process_is_cheaper", lambda *args: False)  # workers always pay
    on_processes = doctor(_sick_config(tmp_path, "processes"))
    monkeypatch.setattr(warm_pool, "in_process_is_cheaper", lambda *args: True)  # they never do
    in_process = doctor(_sick_config(tmp_path, "here"))
    assert started == [True, False]  # the first run started its workers, the second never did
    _assert_same_runs(tmp_path, ("processes", on_processes), ("here", in_process))
