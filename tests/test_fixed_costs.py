"""The mechanisms that cut a run's fixed costs: stage timings, the warm branch pool, the early server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_classification_frame
from plateau_doctor.orchestration import processes
from plateau_doctor.config import validate_config

CLI = [sys.executable, "-m", "plateau_doctor.cli"]


def test_the_executor_times_each_step_by_its_bucket():
    from plateau_doctor.run.executor import Executor

    executor = Executor(logger="log")
    load = executor.step("load-and-prepare-data", lambda config: time.sleep(0.02) or "data")
    plan = executor.step("plan-remedies", lambda *a: [])
    assert load(None) == "data"
    plan(1, 2)
    plan(3)
    assert executor.logger == "log"
    seconds = executor.clock.seconds
    assert seconds["data"] >= 0.02
    assert set(seconds) == {"data", "diagnosis"}  # planning counts toward the diagnosis
    assert executor.timings()["stages"]["data"] == round(seconds["data"], 3)


def test_a_run_records_its_stage_times_in_summary_json(tmp_path):
    from plateau_doctor.run.pipeline import run_doctor

    frame = make_classification_frame(200)
    frame.to_csv(tmp_path / "t.csv", index=False)
    config = validate_config({"data": {"path": str(tmp_path / "t.csv")}, "model": {"hidden_units": [8]},
                              "training": {"epochs": 3, "learning_rate": 0.01}, "output": {"dir": str(tmp_path / "out")}})
    summary, run_dir, _ = run_doctor(config)
    on_disk = json.loads((run_dir / "summary.json").read_text())["timings"]
    assert {"data", "setup", "baseline", "diagnosis"} <= set(on_disk["stages"])
    assert on_disk["stages"]["baseline"] > 0 and abs(on_disk["started_at"] - time.time()) < 600
    # The report is written after summary.json: only the returned summary can hold its time.
    assert "report" not in on_disk["stages"] and summary["timings"]["stages"]["report"] > 0


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_the_warm_pool_serves_every_subflow_from_the_same_workers_with_keras_imported():
    from prefect import flow, task

    from plateau_doctor.orchestration.warm_pool import warm_pool

    @task
    def where() -> tuple[int, bool]:
        return os.getpid(), "keras" in sys.modules

    @flow
    def rung() -> tuple[int, bool]:
        return where.submit().result()

    with warm_pool(1) as pool:
        first = rung.with_options(task_runner=pool)()
        second = rung.with_options(task_runner=pool)()
        worker = first[0]
        assert first[1] is True  # the initializer imported Keras before the task ran
        assert second[0] == worker != os.getpid()  # the second subflow found the same worker
    deadline = time.monotonic() + 10
    while processes.start_time(worker) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes.start_time(worker) is None  # closing the pool ended its worker


def _marked(owner_pid: int) -> list[int]:
    """Processes carrying the owner mark of the CLI process ``owner_pid`` (any start time)."""
    prefix = f"{processes.OWNER_ENV}={owner_pid}:".encode()
    found = []
    for pid in processes.all_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if any(entry.startswith(prefix) for entry in environ.split(b"\0")):
            found.append(pid)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_cli_that_exits_2_in_the_keras_checks_stops_its_booting_server_and_leaves_no_process(tmp_path):
    make_classification_frame(100).to_csv(tmp_path / "t.csv", index=False)
    config = tmp_path / "c.yaml"
    # The data passes (the server starts booting), then the Keras check of the optimizer fails: exit 2.
    config.write_text("data: {path: t.csv}\ntraining: {optimizer: no_such_optimizer, epochs: 2}\n")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    cli = subprocess.Popen([*CLI, "run", "--config", str(config), "--out", str(tmp_path / "out")], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server_seen = False
    while cli.poll() is None:
        for pid in _marked(cli.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            server_seen = server_seen or b"uvicorn" in cmdline
        time.sleep(0.05)
    _, stderr = cli.communicate()
    assert cli.returncode == 2, stderr[-2000:]
    assert "training.optimizer: 'no_such_optimizer'" in stderr and "Traceback" not in stderr
    assert server_seen  # it boots beside the Keras checks ...
    assert _marked(cli.pid) == []  # ... and, like everything the CLI started, does not outlive it
    assert not (tmp_path / "out").exists()


def test_the_load_stage_reads_the_split_and_audit_the_clis_check_left_on_disk(tmp_path, monkeypatch):
    """The CLI checks the table and audits it while Prefect boots; the flow's load stage reads both back, computing nothing."""
    import dataclasses

    import numpy as np

    from plateau_doctor.data import prepared
    from plateau_doctor.data.sources.csv import CsvSource
    from plateau_doctor.run import stages
    from plateau_doctor.run.checks import check_inputs
    from plateau_doctor.run.executor import Executor
    from plateau_doctor.run.state import RunState

    make_classification_frame(150).to_csv(tmp_path / "t.csv", index=False)
    config = validate_config({"data": {"path": str(tmp_path / "t.csv")}, "output": {"dir": str(tmp_path / "out")}})
    checked = check_inputs(config)
    assert checked.audit is None and checked.split_dir
    cli_side = prepared.prepare_from_config(config)  # what the CLI does while the server boots

    def no_second_read(*args, **kwargs):
        raise AssertionError("the table was read again")

    def no_second_audit(*args, **kwargs):
        raise AssertionError("the audit was computed again")

    monkeypatch.setattr(CsvSource, "read_frame", no_second_read)
    monkeypatch.setattr(prepared, "audit_raw", no_second_audit)
    taken = stages.load(config, RunState(executor=Executor())).data
    for name in ("x_train", "y_train", "x_val", "y_val", "y_val_original"):
        np.testing.assert_array_equal(getattr(taken, name), getattr(cli_side, name))
    # NaN-safe comparison: the same JSON text, to the last digit.
    assert json.dumps(dataclasses.asdict(taken.audit)) == json.dumps(dataclasses.asdict(cli_side.audit))
    assert taken.split_dir == checked.split_dir
