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


# Hand-written curves, one per symptom (epochs in order).
CONVERGED = {
    "loss": [0.69, 0.4, 0.2, 0.1, 0.05, 0.03, 0.02, 0.015, 0.012, 0.011, 0.0105, 0.0103],
    "val_loss": [0.68, 0.42, 0.25, 0.15, 0.12, 0.11, 0.105, 0.1, 0.1, 0.1, 0.1, 0.1],
    "val_balanced_accuracy": [0.5, 0.8, 0.9, 0.93, 0.95, 0.95, 0.96, 0.96, 0.96, 0.96, 0.96, 0.96],
}
STUCK = {
    "loss": [0.70, 0.695, 0.694, 0.6932, 0.6931, 0.6931, 0.6931, 0.6931, 0.6931, 0.6931],
    "val_loss": [0.70, 0.694, 0.6935, 0.6932, 0.6931, 0.6931, 0.6931, 0.6931, 0.6931, 0.6931],
    "val_balanced_accuracy": [0.5] * 10,
    "pred_majority_share": [1.0] * 10,
}
PLATEAU = {
    "loss": [0.69, 0.55, 0.48, 0.46, 0.455, 0.452, 0.451, 0.4505, 0.4502, 0.45, 0.45, 0.45],
    "val_loss": [0.69, 0.56, 0.5, 0.48, 0.475, 0.472, 0.471, 0.47, 0.47, 0.47, 0.47, 0.47],
    "val_balanced_accuracy": [0.5, 0.65, 0.7, 0.73, 0.74, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75],
}
SLOW = {
    "loss": [0.69, 0.676, 0.663, 0.649, 0.636, 0.624, 0.611, 0.599, 0.587, 0.575, 0.564, 0.552],
    "val_loss": [0.69, 0.678, 0.665, 0.652, 0.64, 0.628, 0.616, 0.604, 0.593, 0.582, 0.571, 0.56],
    "val_balanced_accuracy": [0.5, 0.55, 0.58, 0.6, 0.62, 0.64, 0.65, 0.66, 0.67, 0.68, 0.69, 0.7],
}
OSCILLATING = {
    "loss": [0.69, 0.5, 0.4, 0.35, 0.6, 0.3, 0.7, 0.32, 0.65, 0.3, 0.68, 0.33, 0.66],
    "val_loss": [0.69, 0.52, 0.42, 0.38, 0.62, 0.33, 0.72, 0.35, 0.66, 0.33, 0.7, 0.36, 0.68],
    "val_balanced_accuracy": [0.5, 0.7, 0.8, 0.82, 0.7, 0.84, 0.6, 0.83, 0.65, 0.84, 0.62, 0.82, 0.64],
}
OVERFITTING = {
    "loss": [0.69, 0.5, 0.4, 0.33, 0.28, 0.24, 0.2, 0.17, 0.14, 0.12, 0.1, 0.08, 0.065, 0.05],
    "val_loss": [0.68, 0.52, 0.43, 0.38, 0.36, 0.35, 0.36, 0.38, 0.41, 0.44, 0.47, 0.5, 0.53, 0.56],
    "val_balanced_accuracy": [0.5, 0.8, 0.88, 0.9, 0.91, 0.92, 0.92, 0.91, 0.91, 0.9, 0.9, 0.9, 0.9, 0.9],
}
BLOWN_UP = {
    "loss": [0.69, 0.5, 0.4, 0.35, 0.6, 1.5, 4.0, 12.0, 40.0],
    "val_loss": [0.68, 0.52, 0.42, 0.4, 0.7, 1.8, 5.0, 15.0, 50.0],
}
