"""Scheduled retraining: the trend rows over two runs on the same data, then a run on shuffled labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import make_classification_frame
from plateau_doctor.config import validate_config
from plateau_doctor.run.retrain import judge_retrain, latest_recipe, read_trend
from plateau_doctor.schema import Finding


def test_judge_retrain_rules():
    before = {"val_balanced_accuracy": 0.90}
    healthy = [Finding("symptom", "converged", 0.9, "")]
    assert judge_retrain("binary", before, {"val_balanced_accuracy": 0.88}, healthy, 0.05).status == "ok"
    fell = judge_retrain("binary", before, {"val_balanced_accuracy": 0.80}, healthy, 0.05)
    assert fell.status == "degraded" and "fell from 0.9000 to 0.8000" in fell.reason
    stuck = [Finding("symptom", "stuck_at_trivial", 0.9, "")]
    assert judge_retrain("binary", before, {"val_balanced_accuracy": 0.89}, stuck, 0.05).status == "stalled"
    assert judge_retrain("regression", {"val_r2": 0.5}, {"val_r2": math.nan}, healthy, 0.05).status == "degraded"


def test_no_recipe_without_a_good_run(tmp_path):
    assert latest_recipe(tmp_path, "t", "target") is None


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_retraining_trend_and_its_reaction_to_shuffled_labels(tmp_path):
    from plateau_doctor.orchestration.flows import retrain

    frame = make_classification_frame(300)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    config = validate_config(
        {"data": {"path": str(path)}, "output": {"dir": str(tmp_path / "out")},
         "model": {"hidden_units": [16]}, "training": {"epochs": 12, "learning_rate": 0.01}}
    )
    first = retrain(config)
    assert first["status"] == "first_run" and first["doctor_status"] == "healthy"
    second = retrain(config)
    assert second["status"] == "ok" and second["doctor_run_id"] is None
    assert second["recipe_run_id"] == first["doctor_run_id"]
    assert second["data_fingerprint"] == first["data_fingerprint"]
    assert abs(second["metric"] - first["metric"]) < 0.05

    frame["target"] = np.random.default_rng(3).permutation(frame["target"].to_numpy())
    frame.to_csv(path, index=False)
    third = retrain(config)
    assert third["data_fingerprint"] != first["data_fingerprint"]
    assert third["status"] in ("degraded", "stalled")
    assert third["metric"] < second["metric"] - 0.05
    assert third["doctor_run_id"] is not None and third["doctor_status"] != "healthy"

    trend = read_trend(tmp_path / "out")
    assert trend["status"].tolist() == ["first_run", "ok", third["status"]]
    assert trend["metric"].is_monotonic_decreasing or trend["metric"].iloc[2] < trend["metric"].iloc[1]

    from prefect.artifacts import Artifact

    assert Artifact.get("table-target-retraining") is not None
