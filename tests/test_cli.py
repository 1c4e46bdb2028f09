"""The command line: exit 0 with a run folder; exit 2 with one clear message and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_classification_frame
from plateau_doctor.cli import main

CLI = [sys.executable, "-m", "plateau_doctor.cli"]


def _write_config(tmp_path, frame, extra: str = "") -> Path:
    frame.to_csv(tmp_path / "mine.csv", index=False)
    path = tmp_path / "config.yaml"
    path.write_text(f"data:\n  path: mine.csv\n  target: target\ntraining:\n  epochs: 6\n{extra}")
    return path


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    """One PREFECT_HOME for the module's CLI runs: its database is migrated once, not per run."""
    return tmp_path_factory.mktemp("cli-prefect-home")


def _run(args, tmp_path, prefect_home):
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    env.pop("PREFECT_API_URL", None)  # the CLI's own embedded Prefect, as a user runs it
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)


@pytest.mark.slow
def test_run_on_a_users_csv_exits_0_and_writes_the_run_folder(tmp_path, prefect_home):
    config = _write_config(tmp_path, make_classification_frame(300))
    out = tmp_path / "results"
    done = _run(["run", "--config", str(config), "--out", str(out), "--set", "model.hidden_units=[16]"], tmp_path, prefect_home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "verdict: " in done.stdout and "report: " in done.stdout
    (run_dir,) = (out / "runs").iterdir()
    assert (run_dir / "summary.json").is_file() and (run_dir / "model.keras").is_file()
    assert str(run_dir / "report.html") in done.stdout
    assert (done.stdout + done.stderr).count("baseline epoch 6/6") == 1  # progress: stage, epoch, loss; once


@pytest.mark.slow
def test_bad_data_exits_2_with_one_message_and_writes_nothing(tmp_path, prefect_home):
    config = _write_config(tmp_path, make_classification_frame(100), extra="")
    config.write_text(config.read_text().replace("target: target", "target: label"))
    out = tmp_path / "results"
    done = _run(["run", "--config", str(config), "--out", str(out)], tmp_path, prefect_home)
    assert done.returncode == 2
    assert "plateau-doctor: error: data.target: column 'label' is not in the table" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "training.learning_rate=-0.1"], "training.learning_rate"),
        (["--set", "training.epoch=3"], "training.epoch: unknown field"),
        (["--set", "model.activation=relux"], "model.activation: 'relux'"),
        (["--set", "training.optimizer=adamw2"], "training.optimizer"),
    ],
)
def test_bad_config_exits_2_before_anything_runs(tmp_path, capsys, args, message):
    config = _write_config(tmp_path, make_classification_frame(50))
    out = tmp_path / "results"
    assert main(["run", "--config", str(config), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
