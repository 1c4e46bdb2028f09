"""The audit's reference stays a strong quick baseline on wide tables: bounded, yet still the attainable level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, make_regression_frame
from plateau_doctor.data import references as data_module
from plateau_doctor.config import DataConfig, PreprocessingConfig
from plateau_doctor.data.audit import audit_data
from plateau_doctor.data.references import ReferenceBudget, _top_columns
from plateau_doctor.data.prepared import prepare_data
from plateau_doctor.data.checks import select_columns
from plateau_doctor.data.split import split_rows
from plateau_doctor.engine.levels import reference_has_signal


def _audit(frame: pd.DataFrame, budget: ReferenceBudget, task: str = "auto"):
    config = DataConfig(path="t.csv", task=task)
    prepared = prepare_data(frame, config, PreprocessingConfig(), audit=False)
    x, y = select_columns(frame, config)
    x_train, x_val, y_train, y_val = split_rows(x, y, prepared.task, config)
    prep = prepared.preprocessor
    return audit_data(
        x_train, prep.transform_target(y_train), x_val, prep.transform_target(y_val), prep, 0, len(frame), budget=budget
    )


def test_the_screen_keeps_the_informative_columns_and_ranks_constant_ones_last():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=(300, 12))
    x[:, 7] += 3 * y
    x[:, 2] += 1.5 * y
    x[:, 5] = 1.0
    assert _top_columns(x, y, "binary", 2).tolist() == [2, 7]
    assert 5 not in _top_columns(x, y, "binary", 11).tolist()
    assert _top_columns(x, y, "binary", 50).tolist() == list(range(12))


def test_within_the_budget_nothing_changes():
    frame = make_classification_frame(300, 6)
    bounded, unbounded = _audit(frame, ReferenceBudget()), _audit(frame, ReferenceBudget.unbounded())
    assert bounded.reference_metrics == unbounded.reference_metrics
    assert bounded.linear_reference_metrics == unbounded.linear_reference_metrics


@pytest.fixture
def columns_seen(monkeypatch) -> list[tuple[str, int]]:
    """(reference model, columns it was scored on), for every reference the audit fits."""
    seen = []
    original = data_module.fit_reference

    def spy(name, estimator, x_fit, y_fit, x_val, task, budget, seed):
        fitted, x_val_used = original(name, estimator, x_fit, y_fit, x_val, task, budget, seed)
        seen.append((name, x_val_used.shape[1]))
        return fitted, x_val_used

    monkeypatch.setattr(data_module, "fit_reference", spy)
    return seen


def test_a_wide_table_is_screened_for_boosting_and_still_shows_its_signal(columns_seen):
    frame = make_classification_frame(300, 60)
    audit = _audit(frame, ReferenceBudget(boosting_max_features=8))
    assert dict(columns_seen) == {"logistic_regression": 60, "hist_gradient_boosting": 8}
    assert reference_has_signal(audit)
    assert audit.reference_metrics["val_balanced_accuracy"] > 0.75
    assert set(audit.linear_reference_metrics) == {"val_accuracy", "val_balanced_accuracy"}


def test_regression_is_screened_by_correlation_and_keeps_its_r2():
    frame = make_regression_frame(300, 40)
    audit = _audit(frame, ReferenceBudget(boosting_max_features=6, linear_max_cells=1000), task="regression")
    assert audit.reference_metrics["val_r2"] > 0.8
    assert set(audit.linear_reference_metrics) == {"val_r2", "val_mae"}


def test_on_imbalanced_classes_the_balanced_fits_keep_their_own_model_family_budget(columns_seen):
    frame = make_classification_frame(400, 60, weights=[0.85])  # about 6 to 1
    _audit(frame, ReferenceBudget(boosting_max_features=8))
    assert dict(columns_seen) == {
        "logistic_regression": 60, "hist_gradient_boosting": 8,
        "logistic_regression_balanced": 60, "hist_gradient_boosting_balanced": 8,
    }
