"""The doctor flow under Prefect's test harness: every result file, datasets that read back, artifacts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_classification_frame
from plateau_doctor.config import validate_config

pytestmark = pytest.mark.usefixtures("prefect_server")


def _config(tmp_path, frame, **sections):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    sections.setdefault("training", {}).setdefault("epochs", 8)
    return validate_config({"data": {"path": str(path)}, "output": {"dir": str(tmp_path / "out")}, **sections})


def test_a_healthy_run_writes_every_result_file(tmp_path):
    from plateau_doctor.orchestration.flows import doctor

    config = _config(tmp_path, make_classification_frame(300), model={"hidden_units": [16]},
                     training={"epochs": 12, "learning_rate": 0.01})
    summary = doctor(config)
    run_dir = tmp_path / "out" / "runs" / summary["run_id"]
    for name in ("summary.json", "report.md", "report.html", "model.keras", "preprocessing.json"):
        assert (run_dir / name).is_file(), name
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["status"] == "healthy" and on_disk["symptoms"] == ["converged"]
    assert on_disk["causes"] == [] and on_disk["chosen_remedy"] is None
    assert set(on_disk["baseline"]["metrics"]) == {"val_loss", "val_accuracy", "val_balanced_accuracy", "val_log_loss"}
    assert on_disk["baseline"]["metrics"]["val_balanced_accuracy"] > 0.8
    assert on_disk["epochs_trained_total"] == on_disk["baseline"]["epochs"] == 12

    history = pd.read_parquet(tmp_path / "out" / "history")
    assert len(history) == 12 and set(history["branch"]) == {"baseline"}
    assert {"run_id", "loss", "val_loss", "learning_rate", "grad_norm", "dead_fraction", "update_ratio"} <= set(history)
    diagnosis = pd.read_parquet(tmp_path / "out" / "diagnosis")
    assert diagnosis[["kind", "name"]].values.tolist() == [["symptom", "converged"]]
    remedies = pd.read_parquet(tmp_path / "out" / "remedies")
    assert remedies.empty
    report = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in report and summary["run_id"] in report
    preprocessing = json.loads((run_dir / "preprocessing.json").read_text())
    assert preprocessing["feature_scaler"]["kind"] == "StandardScaler"
    assert len(preprocessing["feature_scaler"]["mean"]) == 6

    from prefect.artifacts import Artifact

    artifact = Artifact.get("table-target-summary")
    assert artifact is not None and "healthy" in artifact.data
    assert Artifact.get("table-target-audit") is not None


def test_a_stuck_run_is_diagnosed_repaired_and_its_branches_recorded(tmp_path):
    from plateau_doctor.orchestration.flows import doctor

    frame = make_classification_frame(300)
    frame[["f0", "f1", "f2"]] = frame[["f0", "f1", "f2"]] * 1000 + 5000
    config = _config(
        tmp_path, frame,
        preprocessing={"scale_features": False},
        # At 0.05 scaling alone reaches the attainable level in 20 epochs (at 0.01 it is still short: `improved`).
        training={"optimizer": "sgd", "learning_rate": 0.05, "epochs": 20},
        remedies={"enabled": ["preprocessing"]},
    )
    summary = doctor(config)
    assert summary["status"] == "repaired"
    assert summary["causes"][0]["cause"] == "unscaled_features"
    assert summary["chosen_remedy"] == "preprocessing"
    assert summary["final"]["metrics"]["val_balanced_accuracy"] >= summary["baseline"]["metrics"]["val_balanced_accuracy"] + 0.02
    remedies = pd.read_parquet(tmp_path / "out" / "remedies")
    assert remedies["remedy"].tolist() == ["preprocessing"] and remedies["round"].tolist() == [1]
    assert remedies["chosen"].tolist() == [True] and remedies["improved"].tolist() == [True]
    assert json.loads(remedies["params"].iloc[0])["preprocessing.scale_features"] is True
    history = pd.read_parquet(tmp_path / "out" / "history")
    assert {"baseline", "preprocessing"} <= set(history["branch"])
    run_dir = tmp_path / "out" / "runs" / summary["run_id"]
    assert json.loads((run_dir / "preprocessing.json").read_text())["feature_scaler"] is not None


def test_bad_data_fails_the_flow_and_writes_nothing(tmp_path):
    from plateau_doctor.orchestration.flows import doctor
    from plateau_doctor.errors import DataError

    frame = make_classification_frame(100)
    frame.loc[3, "f2"] = float("nan")
    config = _config(tmp_path, frame)
    with pytest.raises(DataError, match="'f2': 1 missing"):
        doctor(config)
    assert not (tmp_path / "out").exists()
