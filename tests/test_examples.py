"""The examples in examples/ run end to end at a small size (PLATEAU_DOCTOR_EXAMPLE_SMALL=1), as CI runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(script: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLATEAU_DOCTOR_EXAMPLE_SMALL": "1", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _summary(out: Path) -> dict:
    (run,) = (out / "runs").iterdir()
    return json.loads((run / "summary.json").read_text())


def test_the_stalled_conv_net_is_diagnosed_by_the_callback(tmp_path):
    done = _run("conv_digits_callback.py", tmp_path)
    summary = _summary(tmp_path)
    assert summary["status"] == "sick" and summary["causes"][0]["cause"] == "learning_rate_too_low"
    assert "plateau-doctor verdict: sick" in done.stderr


def test_the_functional_model_is_repaired_through_its_builder(tmp_path):
    done = _run("functional_builder_doctor.py", tmp_path)
    summary = _summary(tmp_path)
    assert summary["status"] in ("repaired", "improved") and summary["chosen_remedy"]
    assert "verdict: repaired" in done.stdout or "verdict: improved" in done.stdout


def test_the_csvlogger_file_is_diagnosed_from_the_command_line(tmp_path):
    done = _run("csvlogger_diagnose.py", tmp_path)
    assert (tmp_path / "training_log.csv").is_file()
    summary = _summary(tmp_path)
    assert summary["status"] == "sick" and summary["causes"][0]["cause"] == "learning_rate_too_high"
    assert "learning_rate_too_high" in done.stdout


def test_the_users_own_compiled_cnn_is_repaired_by_repair(tmp_path):
    done = _run("repair_digits_cnn.py", tmp_path)
    summary = _summary(tmp_path)
    assert summary["status"] == "repaired" and "kept model's validation accuracy 0.9" in done.stdout
