"""The plain install: Dask and JAX are extras. Asking for one that is missing exits 2 naming it;
without them the demo and the callback example still run.

"Missing" is made real in a child process: a ``sitecustomize`` on its path refuses to import
the extras' modules, as a virtualenv without them would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from plateau_doctor.config import validate_config
from plateau_doctor.errors import ConfigError
from plateau_doctor.run import checks

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "plateau_doctor.cli"]
EXTRA_MODULES = ("prefect_dask", "dask", "distributed", "jax", "jaxlib", "torch")

BLOCKER = '''
import importlib.abc, sys
BLOCKED = {names!r}
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
'''


def _without_extras(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import the extras' modules."""
    folder = tmp_path / "no-extras"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER.format(names=set(EXTRA_MODULES)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    env.pop("KERAS_BACKEND", None)
    return env


def test_the_plain_install_needs_neither_dask_nor_jax():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = " ".join(project["dependencies"]).lower()
    assert not any(name in plain for name in ("dask", "distributed", "jax", "torch"))
    assert set(project["optional-dependencies"]) >= {"dask", "jax"}


@pytest.mark.parametrize("field, value, extra", [("remedies.runner", "dask", "dask"), ("training.backend", "jax", "jax")])
def test_a_runner_or_backend_without_its_extra_is_refused_naming_it(monkeypatch, field, value, extra):
    import importlib.util

    section, name = field.split(".")
    config = validate_config({section: {name: value}})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: None if module in EXTRA_MODULES else real(module, *a))
    with pytest.raises(ConfigError, match=rf"{field}: {value} needs the \[{extra}\] extra.*plateau-doctor\[{extra}\]"):
        checks.check_extras(config)
    checks.check_extras(validate_config({}))  # the defaults need no extra


def test_the_cli_asking_for_dask_without_it_exits_2_with_one_line(tmp_path):
    done = subprocess.run(
        [*CLI, "demo", "--out", str(tmp_path / "out"), "--set", "remedies.runner=dask"],
        capture_output=True, text=True, env=_without_extras(tmp_path), timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "[dask] extra" in lines[-1] and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_without_the_extras_the_demo_and_the_callback_example_run(tmp_path):
    env = _without_extras(tmp_path)
    demo = subprocess.run([*CLI, "demo", "--out", str(tmp_path / "demo")], capture_output=True, text=True,
                          env=env, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "verdict: repaired" in demo.stdout
    example = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "conv_digits_callback.py"), "--out", str(tmp_path / "callback")],
        capture_output=True, text=True, env={**env, "PLATEAU_DOCTOR_EXAMPLE_SMALL": "1"}, timeout=900,
    )
    assert example.returncode == 0, example.stderr[-3000:]
    assert list((tmp_path / "callback" / "runs").glob("*/summary.json"))
