"""Hand-written inputs for the pure diagnosis tests: audits, set-ups and detection settings."""

from __future__ import annotations

import math

from plateau_doctor.config import DetectionConfig
from plateau_doctor.schema import DataAudit, FeatureStats, ResolvedSetup

DETECTION = DetectionConfig()  # patience 5, min_delta 0.01, start_from_epoch 3, smoothing 0.5, trivial_tolerance 0.03


def make_audit(task: str = "binary", **overrides) -> DataAudit:
    """A balanced binary task (or a standardized regression) that the reference model learns well."""
    if task == "regression":
        fields = dict(
            trivial_val_loss=1.0,
            trivial_metrics={"val_r2": 0.0, "val_mae": 0.8},
            reference_val_loss=0.3,
            reference_metrics={"val_r2": 0.7, "val_mae": 0.4},
            scaled_target=True,
            target_mean=10.0,
            target_std=2.0,
        )
    else:
        k = 3 if task == "multiclass" else 2
        fields = dict(
            trivial_val_loss=math.log(k),
            trivial_metrics={"val_accuracy": 1 / k, "val_balanced_accuracy": 1 / k},
            reference_val_loss=0.12,
            reference_metrics={"val_accuracy": 0.96, "val_balanced_accuracy": 0.95},
            classes=[str(i) for i in range(k)],
            class_balance={str(i): 1 / k for i in range(k)},
            majority_share=1 / k,
            scaled_target=False,
        )
    fields.update(
        task=task,
        n_rows=500,
        n_train=400,
        n_val=100,
        n_features=2,
        features=[FeatureStats("a", 0.0, 1.0, -3.0, 3.0), FeatureStats("b", 0.0, 1.0, -3.0, 3.0)],
        scaled_features=True,
        reference_model="hist_gradient_boosting",
    )
    fields.update(overrides)
    return DataAudit(**fields)


def make_setup(task: str = "binary", **overrides) -> ResolvedSetup:
    defaults = {
        "binary": (2, 1, "sigmoid", "binary_crossentropy"),
        "multiclass": (3, 3, "softmax", "sparse_categorical_crossentropy"),
        "regression": (0, 1, "linear", "mean_squared_error"),
    }
    n_classes, units, activation, loss = defaults[task]
    fields = dict(
        task=task,
        n_classes=n_classes,
        output_units=units,
        output_activation=activation,
        loss=loss,
        hidden_units=[64, 32],
        hidden_activation="relu",
        kernel_initializer="glorot_uniform",
        optimizer="adam",
        learning_rate=0.001,
        batch_size=32,
    )
    fields.update(overrides)
    return ResolvedSetup(**fields)
