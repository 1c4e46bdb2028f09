"""Atomic result writing: everything published at once, or nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from plateau_doctor.results.store import RunWriter, atomic_write_json, dataset_schema, new_run_id, read_dataset
from plateau_doctor.schema import HISTORY_COLUMNS


def _history(value):
    frame = pd.DataFrame({column: [float("nan")] * 2 for column in HISTORY_COLUMNS})
    frame["branch"], frame["epoch"], frame["loss"] = "baseline", [1, 2], [value, 0.5]
    return frame


def _stage(out, run_id, value):
    writer = RunWriter(out, run_id)
    writer.write_json("summary.json", {"run_id": run_id, "value": value, "nan": float("nan")})
    writer.add_dataset("history", _history(value))
    return writer


def test_runs_with_and_without_remedies_read_back_together(tmp_path):
    out = tmp_path / "results"
    empty = pd.DataFrame(columns=list(dataset_schema("remedies").names))
    tried = pd.DataFrame([{
        "round": 1, "remedy": "learning_rate", "params": "{}", "epochs": 5, "val_loss": 0.1, "val_accuracy": 0.9,
        "val_balanced_accuracy": 0.9, "val_log_loss": 0.3, "val_r2": float("nan"), "val_mae": float("nan"), "improved": True,
        "chosen": True, "status": "ok", "error": None, "reason": "r", "wall_seconds": 1.0,
    }])
    for frame in (empty, tried):
        writer = RunWriter(out, new_run_id("x"))
        writer.add_dataset("remedies", frame)
        writer.publish()
    remedies = read_dataset(out, "remedies")
    assert remedies["remedy"].tolist() == ["learning_rate"]
    assert remedies["error"].isna().all()


def test_a_frame_missing_a_column_is_refused(tmp_path):
    writer = RunWriter(tmp_path / "r", new_run_id("x"))
    with pytest.raises(KeyError):
        writer.add_dataset("history", pd.DataFrame({"branch": ["baseline"], "epoch": [1]}))


def test_published_runs_read_back_as_one_dataset(tmp_path):
    out = tmp_path / "results"
    ids = [new_run_id("breast cancer.csv") for _ in range(2)]
    for value, run_id in enumerate(ids):
        _stage(out, run_id, float(value)).publish()
    history = read_dataset(out, "history")
    assert sorted(history["run_id"].astype(str).unique()) == sorted(ids)
    assert len(history) == 4
    summary = json.loads((out / "runs" / ids[0] / "summary.json").read_text())
    assert summary["nan"] is None  # JSON has no NaN
    assert not (out / ".staging").exists()


def test_aborted_run_leaves_nothing(tmp_path):
    out = tmp_path / "results"
    writer = _stage(out, new_run_id("x"), 1.0)
    writer.abort()
    assert not out.exists()


def test_aborted_run_keeps_earlier_runs(tmp_path):
    out = tmp_path / "results"
    first = new_run_id("x")
    _stage(out, first, 1.0).publish()
    _stage(out, new_run_id("x"), 2.0).abort()
    assert [p.name for p in (out / "runs").iterdir()] == [first]
    assert len(read_dataset(out, "history")) == 2


def test_staging_is_invisible_to_readers(tmp_path):
    out = tmp_path / "results"
    _stage(out, new_run_id("x"), 1.0).publish()
    pending = _stage(out, new_run_id("x"), 2.0)  # staged, not yet published
    assert len(read_dataset(out, "history")) == 2
    pending.publish()
    assert len(read_dataset(out, "history")) == 4


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_unknown_dataset_is_refused(tmp_path):
    writer = RunWriter(tmp_path / "r", new_run_id("x"))
    with pytest.raises(ValueError, match="history"):
        writer.add_dataset("metrics", pd.DataFrame({"a": [1]}))
