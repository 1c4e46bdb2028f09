"""End to end as users operate it: a real Prefect server, a process work pool, deployments from
prefect.yaml, a worker, and ``prefect deployment run ... --watch``; then the API is asked what ran."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import make_classification_frame

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``prefect server start`` on 127.0.0.1 with a temporary PREFECT_HOME; stopped afterwards."""
    home = tmp_path_factory.mktemp("server-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "plateau_doctor",
    }
    logs = home / "server.log"
    with open(logs, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_healthy(url, process)
        yield env, url
    finally:
        _stop(process)


def _prefect(env, *args, timeout=300):
    done = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_deployment_run_completes_with_named_tasks_and_artifacts(server, tmp_path):
    env, url = server
    _prefect(env, "work-pool", "create", "local-process", "--type", "process")
    deployed = _prefect(env, "deploy", "--all", "--no-prompt")
    assert "plateau-doctor/demo" in deployed.stdout and "nightly-retrain" in deployed.stdout

    frame = make_classification_frame(300)
    frame[["f0", "f1", "f2"]] = frame[["f0", "f1", "f2"]] * 1000 + 5000
    data = tmp_path / "sensor_table.csv"
    frame.to_csv(data, index=False)
    config = {
        "data": {"path": str(data), "target": "target"},
        "preprocessing": {"scale_features": False},
        "training": {"optimizer": "sgd", "learning_rate": 0.01, "epochs": 20},
        "remedies": {"enabled": ["preprocessing", "learning_rate"]},
        "output": {"dir": str(tmp_path / "results")},
    }
    worker_log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "local-process"],
        env=env, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        run = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "plateau-doctor/demo", "--params", json.dumps({"config": config}),
             "--watch", "--watch-timeout", "480"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=540,
        )
    finally:
        _stop(worker)
        worker_log.close()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-5000:]
    assert "Completed" in run.stdout

    _assert_through_the_api(url)
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "repaired" and summary["causes"][0]["cause"] == "unscaled_features"
    worker_output = (tmp_path / "worker.log").read_text()
    assert "oneDNN" not in worker_output and "cpu_feature_guard" not in worker_output  # no TensorFlow C++ noise


def _assert_through_the_api(url: str) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        with get_client(sync_client=True) as client:
            demo = client.read_deployment_by_name("plateau-doctor/demo")
            nightly = client.read_deployment_by_name("plateau-doctor-retrain/nightly-retrain")
            assert nightly.schedules and nightly.schedules[0].schedule.cron == "0 3 * * *"
            runs = [r for r in client.read_flow_runs() if r.deployment_id != nightly.id]  # skip scheduled ones
            (parent,) = [r for r in runs if r.deployment_id == demo.id]
            assert parent.state.is_completed(), parent.state
            assert parent.name.startswith("sensor_table-target-")
            run_ids = [r.id for r in runs]
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)))
            names = {t.name.rsplit("-", 1)[0] if not t.name.startswith("remedy-") else t.name for t in tasks}
            for stage in ("load-and-prepare-data", "check-setup", "fit-baseline", "diagnose", "plan-remedies",
                          "write-results", "publish-artifacts"):
                assert stage in names, (stage, names)
            assert {"remedy-preprocessing"} <= names, names
            assert all(t.state.is_completed() for t in tasks)

            def artifact(key):
                (found,) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))[:1]
                return found

            summary = artifact("sensor-table-target-summary")
            assert "stuck_at_trivial" in summary.data and "unscaled_features" in summary.data
            remedies = artifact("sensor-table-target-remedies")
            table = json.loads(remedies.data) if isinstance(remedies.data, str) else remedies.data
            rows = table if isinstance(table, list) else table.get("rows", table)
            assert any("preprocessing" in json.dumps(row) for row in rows)
            assert artifact("sensor-table-target-audit") is not None
            link = artifact("sensor-table-target-report").data
            assert "](file://" in link and link.endswith("/report.html)")
