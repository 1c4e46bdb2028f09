"""The Python API and the package's seams: importing changes nothing, the core never imports Prefect."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("backend", [None, "jax"])
def test_importing_the_package_sets_no_backend_and_imports_no_tensorflow(backend):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    code = (
        "import os, sys\n"
        "import plateau_doctor\n"
        "from plateau_doctor.engine import log_doctor, detection, diagnosis, planning\n"
        "from plateau_doctor.data import logs\n"
        "from plateau_doctor.results import observed\n"
        "from plateau_doctor import config\n"
        "print(os.environ.get('KERAS_BACKEND'))\n"
        "print([m for m in ('tensorflow', 'keras', 'prefect', 'jax') if m in sys.modules])\n"
        "plateau_doctor.diagnose  # the lazy names resolve\n"
        "print([m for m in ('tensorflow', 'keras', 'prefect') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    backend_seen, heavy, heavy_after_api = done.stdout.strip().splitlines()
    assert backend_seen == str(backend)
    assert heavy == "[]" and heavy_after_api == "[]"


def test_only_plateau_doctor_is_installed_not_flows_or_tasks():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["plateau_doctor*"]


def test_the_core_never_imports_the_orchestration_layer():
    """Only plateau_doctor.orchestration imports Prefect; the CLI and the API reach it lazily (in a function)."""
    offenders = []
    for path in (ROOT / "plateau_doctor").rglob("*.py"):
        if "orchestration" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are allowed
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(("prefect", "plateau_doctor.orchestration", "flows", "tasks"))]
    assert offenders == []


def test_the_entry_files_prefect_yaml_names_expose_the_flows():
    for entry in ("flows/doctor.py:doctor", "flows/retrain.py:retrain"):
        assert f"entrypoint: {entry}" in (ROOT / "prefect.yaml").read_text()
        path, name = entry.split(":")
        tree = ast.parse((ROOT / path).read_text())
        imported = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names}
        assert name in imported


def test_diagnose_returns_a_result_with_an_html_view(tmp_path):
    import plateau_doctor

    history = {"loss": [1.0, 0.6, 0.4, 0.3, 0.25, 0.22, 0.2, 0.19, 0.185, 0.18],
               "val_loss": [1.1, 0.7, 0.5, 0.4, 0.35, 0.33, 0.32, 0.31, 0.305, 0.3]}
    result = plateau_doctor.diagnose(history, out=tmp_path)
    assert result.status == "healthy" and result.causes == []
    assert result.paths["report_html"].is_file() and result.paths["summary"].is_file()
    assert len(result.history) == 10 and "grad_norm" in result.history
    html = result._repr_html_()
    assert "plateau-doctor: healthy" in html and "report.html" in html
    unwritten = plateau_doctor.diagnose(history, out=None)
    assert unwritten.run_dir is None and unwritten.summary["status"] == "healthy"


def test_run_overrides_use_double_underscores_or_sections():
    from plateau_doctor.api import resolve_config

    config = resolve_config({"training": {"epochs": 3}}, training__learning_rate=0.01, model={"hidden_units": [4]})
    assert (config.training.epochs, config.training.learning_rate, config.model.hidden_units) == (3, 0.01, [4])
