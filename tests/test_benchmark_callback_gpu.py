"""harness/benchmark_callback_gpu.py runs end to end on JAX at a tiny size and reports every number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_on_a_cpu_with_jax_and_without_tensorflow_or_prefect(tmp_path):
    """As on the GPU machine: TensorFlow and Prefect cannot be imported there (here they are hidden)."""
    pytest.importorskip("jax")
    hidden = tmp_path / "hidden"
    for name in ("tensorflow", "prefect"):
        (hidden / name).mkdir(parents=True)
        (hidden / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed on the GPU machine')\n")
    numbers = tmp_path / "numbers.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": f"{hidden}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "harness" / "benchmark_callback_gpu.py"), "--small", "--json", str(numbers),
         "--cnn-rows", "64", "--cnn-batch", "32", "--cnn-epochs", "2",
         "--mlp-rows", "2000", "--mlp-batch", "256", "--mlp-epochs", "3"],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(numbers.read_text())
    assert results["environment"]["backend"] == "jax"
    assert results["environment"]["imported_tensorflow_or_prefect"] == []
    assert set(results["models"]) == {"cnn", "mlp"}
    for found in results["models"].values():
        assert found["epoch_ratio"] > 0 and found["fit_ratio"] > 0
        assert not found["doctor_failed"] and found["doctor_status"][0] in ("healthy", "sick")
        assert 0 < found["train_end_plots_seconds"] < found["train_end_seconds"]
        assert len(found["doctor_epoch_seconds"][0]) == found["size"]["epochs"]
    assert "epoch ratio" in done.stdout and "train end" in done.stdout
