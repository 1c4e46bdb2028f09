"""Test settings: quiet TensorFlow, a private PREFECT_HOME, one Prefect test server per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Before any import of prefect or tensorflow (conftest runs first).
_HOME = tempfile.mkdtemp(prefix="plateau-doctor-prefect-")
# Removed when the session's interpreter exits: one was left per test session before (hundreds in /tmp).
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "plateau_doctor")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # importing plateau_doctor no longer chooses one

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """A Prefect test server for the whole session; flow-run heartbeats off (they cost ~1 s a run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


def make_classification_frame(n_rows: int = 400, n_features: int = 6, seed: int = 0, weights=None) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_rows, n_features=n_features, n_informative=4, n_redundant=0, random_state=seed, weights=weights
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(n_features)])
    frame["target"] = y
    return frame


def make_regression_frame(n_rows: int = 400, n_features: int = 5, seed: int = 0, noise: float = 5.0) -> pd.DataFrame:
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=n_rows, n_features=n_features, noise=noise, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(n_features)])
    frame["target"] = y
    return frame


@pytest.fixture
def classification_csv(tmp_path):
    path = tmp_path / "small.csv"
    make_classification_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
