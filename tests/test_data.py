"""The data stage: loading, task inference, every validation error, split, scaling, audit."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, make_regression_frame
from plateau_doctor.config import DataConfig, PreprocessingConfig
from plateau_doctor.data.checks import infer_task, resolve_task, select_columns
from plateau_doctor.data.table import load_table
from plateau_doctor.data.prepared import prepare_data
from plateau_doctor.errors import DataError


def _prepare(frame, **preprocessing):
    return prepare_data(frame, DataConfig(), PreprocessingConfig(**preprocessing))


# ------------------------------------------------------------------ loading
def test_loads_csv_parquet_and_a_folder_of_parquet(tmp_path):
    frame = make_classification_frame(50)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "parts").mkdir()
    frame.iloc[:20].to_parquet(tmp_path / "parts" / "a.parquet")
    frame.iloc[20:].to_parquet(tmp_path / "parts" / "b.parquet")
    for source in ("t.csv", "t.parquet", "parts"):
        loaded = load_table(tmp_path / source)
        assert loaded.shape == frame.shape
        assert sorted(loaded["target"].tolist()) == sorted(frame["target"].tolist())


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", b"", "empty"),
        ("header_only.csv", b"a,b,target\n", "no rows"),
        ("corrupt.parquet", b"this is not parquet at all", "could not be read as Parquet"),
        ("binary.csv", b"\xff\xfe\x00\x00\x81\x82a,b\n\x00\x9f", "could not be read as CSV"),
        ("table.xlsx", b"x", "suffix"),
    ],
)
def test_unreadable_files_are_data_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_table(path)


def test_empty_parquet_folder(tmp_path):
    (tmp_path / "parts").mkdir()
    with pytest.raises(DataError, match="no .parquet files|no rows|no columns"):
        load_table(tmp_path / "parts")


# ------------------------------------------------------------------ inference
@pytest.mark.parametrize(
    "values, task",
    [
        ([0, 1, 0, 1], "binary"),
        ([0.0, 1.0, 1.0], "binary"),
        (["yes", "no", "yes"], "binary"),
        ([True, False, True], "binary"),
        ([0, 1, 2, 2], "multiclass"),
        (["cat", "dog", "bird"], "multiclass"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(25)), "regression"),
    ],
)
def test_task_inference_rule(values, task):
    assert infer_task(pd.Series(values)) == task


def test_explicit_task_wins():
    assert resolve_task(pd.Series([0, 1, 2, 3]), DataConfig(task="regression")) == "regression"


# ------------------------------------------------------------------ validation
def test_missing_target_names_the_column_and_lists_columns():
    frame = make_classification_frame(50)
    with pytest.raises(DataError, match=r"data.target: column 'label' is not in the table.*'f0'"):
        select_columns(frame, DataConfig(target="label"))


def test_missing_feature_column():
    with pytest.raises(DataError, match=r"data.features: \['nope'\]|'nope'"):
        select_columns(make_classification_frame(50), DataConfig(features=["f0", "nope"]))


def test_non_numeric_feature_is_named():
    frame = make_classification_frame(50)
    frame["color"] = ["red", "blue"] * 25
    with pytest.raises(DataError, match=r"not numeric: 'color'.*'red'"):
        select_columns(frame, DataConfig())


def test_nan_and_inf_are_counted_per_column():
    frame = make_classification_frame(50)
    frame.loc[[1, 2, 3], "f1"] = np.nan
    frame.loc[4, "f2"] = np.inf
    frame.loc[5, "target"] = np.nan
    with pytest.raises(DataError) as error:
        select_columns(frame, DataConfig())
    message = str(error.value)
    assert "'f1': 3 missing" in message
    assert "'f2': 1 infinite" in message
    assert "'target' (the target): 1 missing" in message


@pytest.mark.parametrize("value", [1, "yes"])
def test_target_with_one_class_or_value(value):
    frame = make_classification_frame(50)
    frame["target"] = value
    with pytest.raises(DataError, match="single value"):
        _prepare(frame)


def test_text_target_cannot_be_regression():
    frame = make_classification_frame(50)
    frame["target"] = np.where(frame["target"] == 1, "yes", "no")
    with pytest.raises(DataError, match="regression needs a numeric target"):
        prepare_data(frame, DataConfig(task="regression"), PreprocessingConfig())


@pytest.mark.parametrize("n_rows", [5, 11])
def test_too_few_rows_for_a_split(n_rows):
    frame = make_regression_frame(n_rows)
    with pytest.raises(DataError, match="too few"):
        _prepare(frame)


def test_a_class_with_one_row_cannot_be_stratified():
    frame = make_classification_frame(60)
    frame.loc[0, "target"] = 7
    with pytest.raises(DataError, match="single row"):
        prepare_data(frame, DataConfig(task="multiclass"), PreprocessingConfig())


# ------------------------------------------------------------------ split and scale
def test_scaler_is_fit_on_the_training_split_only():
    frame = make_regression_frame(300)
    frame["x0"] = frame["x0"] * 100 + 50
    prepared = _prepare(frame)
    prep = prepared.preprocessor
    # Undo the scaling of the training rows: their mean is the scaler's mean, not the whole table's.
    raw_train = prepared.x_train * np.asarray(prep.feature_scale_) + np.asarray(prep.feature_mean_)
    assert np.allclose(raw_train.mean(axis=0), prep.feature_mean_, rtol=1e-4, atol=1e-3)
    assert np.allclose(raw_train.std(axis=0), prep.feature_scale_, rtol=1e-4)
    whole_mean = frame[prep.features].mean().to_numpy()
    assert not np.allclose(prep.feature_mean_, whole_mean, rtol=1e-6)
    assert np.allclose(prepared.x_train.mean(axis=0), 0, atol=1e-4)
    assert not np.allclose(prepared.x_val.mean(axis=0), 0, atol=1e-4)


def test_split_is_stratified_and_seeded():
    frame = make_classification_frame(500, weights=[0.8, 0.2])
    a, b = _prepare(frame), _prepare(frame)
    assert np.array_equal(a.x_val, b.x_val)
    overall = frame["target"].mean()
    assert abs(a.y_train.mean() - overall) < 0.005
    assert abs(a.y_val.mean() - overall) < 0.011
    other = prepare_data(frame, DataConfig(seed=1), PreprocessingConfig())
    assert not np.array_equal(a.x_val, other.x_val)


def test_unscaled_features_pass_through():
    frame = make_classification_frame(200)
    prepared = _prepare(frame, scale_features=False)
    assert prepared.preprocessor.to_dict()["feature_scaler"] is None
    assert np.allclose(np.sort(prepared.x_train[:, 0]), np.sort(prepared.x_train[:, 0]))
    assert set(np.round(prepared.x_val[:, 0], 4)) <= set(np.round(frame["f0"].to_numpy(np.float32), 4))


def test_target_scaling_for_regression_round_trips():
    frame = make_regression_frame(300)
    prepared = prepare_data(frame, DataConfig(), PreprocessingConfig(scale_target=True))
    assert abs(prepared.y_train.mean()) < 1e-5 and abs(prepared.y_train.std() - 1) < 1e-4
    back = prepared.preprocessor.inverse_target(prepared.y_val)
    assert np.allclose(back, prepared.y_val_original, rtol=1e-5, atol=1e-3)
    assert prepared.preprocessor.to_dict()["target_scaler"]["kind"] == "StandardScaler"


def test_balanced_class_weights_and_oversampling():
    frame = make_classification_frame(500, weights=[0.9, 0.1])
    weighted = _prepare(frame, class_weight="balanced")
    shares = np.bincount(weighted.y_train) / len(weighted.y_train)
    assert weighted.class_weight[1] > weighted.class_weight[0]
    assert math.isclose(weighted.class_weight[0] * shares[0], weighted.class_weight[1] * shares[1], rel_tol=1e-9)
    resampled = _prepare(frame, resample="oversample")
    counts = np.bincount(resampled.y_train)
    assert counts[0] == counts[1]
    assert np.array_equal(resampled.x_val, weighted.x_val)
    assert resampled.audit.majority_share > 0.85  # the audit describes the data, not the remedy


def test_text_labels_are_encoded_and_kept():
    frame = make_classification_frame(200)
    frame["target"] = np.where(frame["target"] == 1, "malignant", "benign")
    prepared = _prepare(frame)
    assert prepared.task == "binary"
    assert prepared.preprocessor.to_dict()["classes"] == ["benign", "malignant"]
    assert set(np.unique(prepared.y_train)) == {0, 1}


# ------------------------------------------------------------------ audit
def test_audit_of_a_balanced_binary_task():
    frame = make_classification_frame(600)
    audit = _prepare(frame).audit
    assert audit.task == "binary" and audit.n_classes == 2
    assert abs(audit.trivial_val_loss - math.log(2)) < 0.01
    assert audit.trivial_metrics["val_balanced_accuracy"] == 0.5
    assert audit.reference_metrics["val_balanced_accuracy"] > 0.8
    assert audit.reference_val_loss < audit.trivial_val_loss
    assert audit.n_train + audit.n_val == 600
    assert [f.name for f in audit.features] == [f"f{i}" for i in range(6)]


def test_audit_of_a_regression_task_uses_the_network_scale():
    frame = make_regression_frame(400, noise=10.0)
    plain = _prepare(frame).audit
    scaled = prepare_data(frame, DataConfig(), PreprocessingConfig(scale_target=True)).audit
    assert plain.trivial_val_loss > 100  # raw target variance
    assert 0.5 < scaled.trivial_val_loss < 2.0  # variance in units of the training std
    assert scaled.reference_metrics["val_r2"] > 0.8
    assert math.isclose(plain.reference_metrics["val_r2"], scaled.reference_metrics["val_r2"], rel_tol=0.05)
    assert plain.trivial_metrics["val_r2"] <= 0.0  # a constant is never better than the mean


def test_audit_when_labels_are_noise():
    frame = make_classification_frame(600)
    frame["target"] = np.random.default_rng(1).permutation(frame["target"].to_numpy())
    audit = _prepare(frame).audit
    assert audit.reference_metrics["val_balanced_accuracy"] < 0.62


def test_data_stage_does_not_import_tensorflow_or_prefect():
    code = (
        "import sys, plateau_doctor.data.prepared, plateau_doctor.config, plateau_doctor.engine.verdict;"
        "bad = [m for m in ('tensorflow', 'keras', 'prefect') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
