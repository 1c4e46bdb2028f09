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
from plateau_doctor.run.timing import StageClock

CLI = [sys.executable, "-m", "plateau_doctor.cli"]


def test_the_stage_clock_adds_up_each_bucket_and_keeps_the_stages_other_fields():
    from plateau_doctor.run.pipeline import Stages

    clock = StageClock()
    stages = clock.wrap_stages(Stages(load=lambda config: time.sleep(0.02) or "data", plan=lambda *a: [], logger="log"))
    assert stages.load(None) == "data"
    stages.plan(1, 2)
    stages.plan(3)
    assert stages.logger == "log"
    assert clock.seconds["data"] >= 0.02
    assert set(clock.seconds) == {"data", "diagnosis"}  # plan() counts toward the diagnosis
    assert clock.to_dict()["stages"]["data"] == round(clock.seconds["data"], 3)


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


def test_the_load_stage_takes_the_clis_table_once_and_it_equals_a_fresh_preparation(tmp_path):
    import dataclasses

    import numpy as np

    from plateau_doctor.run import handoff
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.run.pipeline import load_stage

    make_classification_frame(150).to_csv(tmp_path / "t.csv", index=False)
    config = validate_config({"data": {"path": str(tmp_path / "t.csv")}})
    checked, frame = handoff.check_table(config)
    assert checked.audit is None and frame is not None
    handoff.prepare_for_flow(config, frame)

    other = validate_config({"data": {"path": str(tmp_path / "t.csv")}, "preprocessing": {"scale_features": False}})
    assert handoff.take(other) is None  # another preprocessing: not the CLI's table
    taken = load_stage(config)
    fresh = prepare_from_config(config)
    for name in ("x_train", "y_train", "x_val", "y_val", "y_val_original"):
        np.testing.assert_array_equal(getattr(taken, name), getattr(fresh, name))
    # NaN-safe comparison: the same JSON text, to the last digit.
    assert json.dumps(dataclasses.asdict(taken.audit)) == json.dumps(dataclasses.asdict(fresh.audit))
    assert taken.preprocessor.to_dict() == fresh.preprocessor.to_dict()
    assert handoff.take(config) is None  # handed over once; a second run prepares its own
