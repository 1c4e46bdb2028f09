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


def with_signals(curves: dict, **signals) -> dict:
    """The curves plus training signals; a number is repeated for every epoch."""
    n = len(curves["loss"])
    history = dict(curves)
    for name, value in signals.items():
        history[name] = list(value) if isinstance(value, (list, tuple)) else [value] * n
    return history


HEALTHY = dict(update_ratio=0.02, grad_ratio_first_last=1.0, dead_fraction=0.05, symmetric_fraction=0.0, output_std=1.5)

# Softmax on one unit outputs 1.0: the binary cross-entropy of the negatives is clipped at ~16.1.
SOFTMAX_ONE_UNIT = {
    "loss": [8.06] * 10,
    "val_loss": [8.06] * 10,
    "val_balanced_accuracy": [0.5] * 10,
    "pred_majority_share": [1.0] * 10,
}
# categorical_crossentropy on one unit is always 0.
CCE_ONE_UNIT = {"loss": [0.0] * 10, "val_loss": [0.0] * 10, "val_balanced_accuracy": [0.5] * 10}
# A raw target (mean 2e5, std 5e4) learned with MSE: huge, slowly falling loss; r2 far below 0.
UNSCALED_TARGET = {
    "loss": [4.2e10, 4.12e10, 4.04e10, 3.96e10, 3.88e10, 3.8e10, 3.73e10, 3.66e10, 3.59e10, 3.52e10, 3.45e10, 3.38e10],
    "val_r2": [-15.8, -15.5, -15.2, -14.9, -14.6, -14.3, -14.0, -13.7, -13.4, -13.2, -12.9, -12.6],
}
# 90% majority: the prior entropy is 0.325, and the net predicts the majority only.
IMBALANCED = {
    "loss": [0.5, 0.4, 0.34, 0.326, 0.325, 0.325, 0.325, 0.325, 0.325, 0.325],
    "val_loss": [0.5, 0.39, 0.335, 0.326, 0.325, 0.325, 0.325, 0.325, 0.325, 0.325],
    "val_balanced_accuracy": [0.5] * 10,
    "pred_majority_share": [1.0] * 10,
}
IMBALANCED_AUDIT = dict(
    majority_share=0.9,
    class_balance={"0": 0.9, "1": 0.1},
    trivial_val_loss=0.325,
    reference_val_loss=0.2,
    reference_metrics={"val_accuracy": 0.93, "val_balanced_accuracy": 0.8},
)
NO_SIGNAL_AUDIT = dict(
    reference_val_loss=0.6925, reference_metrics={"val_accuracy": 0.51, "val_balanced_accuracy": 0.51}
)
UNSCALED_FEATURES_AUDIT = dict(
    scaled_features=False,
    features=[FeatureStats("age", 40.0, 12.0, 18.0, 90.0), FeatureStats("income", 5e4, 3e4, 0.0, 4e5)],
)
UNSCALED_TARGET_AUDIT = dict(
    scaled_target=False,
    target_mean=2e5,
    target_std=5e4,
    trivial_val_loss=2.5e9,
    reference_val_loss=5e8,
    reference_metrics={"val_r2": 0.8, "val_mae": 1.5e4},
)

# Dropout 0.7: the thinned net's training loss stays above its validation loss, both flat far
# above the reference's 0.12.
THINNED = {
    "loss": [0.69, 0.62, 0.58, 0.56, 0.55, 0.548, 0.547, 0.546, 0.546, 0.545, 0.545, 0.545],
    "val_loss": [0.66, 0.55, 0.5, 0.48, 0.47, 0.468, 0.467, 0.466, 0.466, 0.465, 0.465, 0.465],
    "val_balanced_accuracy": [0.5, 0.65, 0.7, 0.72, 0.74, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75],
}

# Healthy runs of several shapes and tasks, for the contract every cause must keep: silent.
HEALTHY_RUNS = {
    "converged": ("binary", CONVERGED, {}),
    "converged_with_signals": ("binary", with_signals(CONVERGED, **HEALTHY), {}),
    "slow_start_then_learns": (
        "binary",
        {
            "loss": [0.694, 0.693, 0.693, 0.692, 0.69, 0.68, 0.65, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.13, 0.125, 0.124],
            "val_loss": [0.694, 0.693, 0.693, 0.692, 0.69, 0.681, 0.655, 0.61, 0.52, 0.42, 0.3, 0.2, 0.16, 0.14,
                         0.135, 0.134],
            "val_balanced_accuracy": [0.5] * 5 + [0.52, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.94, 0.95, 0.95, 0.95],
        },
        {},
    ),
    "multiclass": (
        "multiclass",
        {
            "loss": [1.1, 0.7, 0.45, 0.3, 0.2, 0.16, 0.14, 0.13, 0.125, 0.122, 0.121, 0.12],
            "val_loss": [1.1, 0.72, 0.47, 0.32, 0.22, 0.17, 0.15, 0.14, 0.135, 0.133, 0.132, 0.132],
            "val_balanced_accuracy": [0.33, 0.7, 0.85, 0.9, 0.93, 0.94, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95],
        },
        {},
    ),
    "regression": (
        "regression",
        {
            "loss": [1.2, 0.8, 0.55, 0.42, 0.36, 0.33, 0.315, 0.31, 0.305, 0.303, 0.302, 0.301],
            "val_loss": [1.1, 0.78, 0.55, 0.43, 0.37, 0.34, 0.32, 0.31, 0.305, 0.303, 0.302, 0.301],
            "val_r2": [-0.1, 0.22, 0.45, 0.57, 0.63, 0.66, 0.68, 0.69, 0.695, 0.697, 0.698, 0.699],
        },
        {},
    ),
    "noisy_regression_at_its_ceiling": (
        "regression",
        {
            "loss": [1.0, 0.85, 0.78, 0.75, 0.74, 0.735, 0.733, 0.732, 0.731, 0.731, 0.7305, 0.7302],
            "val_loss": [1.0, 0.85, 0.77, 0.72, 0.71, 0.705, 0.7, 0.7, 0.701, 0.7, 0.7, 0.7],
            "val_r2": [0.0, 0.15, 0.23, 0.28, 0.29, 0.295, 0.3, 0.3, 0.299, 0.3, 0.3, 0.3],
        },
        {"reference_val_loss": 0.69, "reference_metrics": {"val_r2": 0.31, "val_mae": 0.7}},
    ),
}

# Set-ups that would tempt a rule judged on the set-up alone: each is fine on a healthy run.
TEMPTING_SETUPS = {
    "defaults": ({}, {}),
    "plain_sgd": ({"optimizer": "sgd", "learning_rate": 0.01}, {}),
    "adadelta_default_rate": ({"optimizer": "adadelta", "learning_rate": 0.001}, {}),
    "full_batch": ({"batch_size": 400}, {}),
    "heavy_dropout_and_l2": ({"dropout": 0.7, "l2": 0.05}, {}),
    "tiny_net": ({"hidden_units": [2]}, {}),
    "zeros_initializer": ({"kernel_initializer": "zeros"}, {}),
    "mse_on_probabilities": ({"loss": "mse"}, {}),
    "unscaled_wide_features_under_sgd": (
        {"optimizer": "sgd", "learning_rate": 0.1},
        {"scaled_features": False, "features": [FeatureStats("price", 150.0, 60.0, 0.0, 400.0)]},
    ),
}

CASES = [
    # Five epochs, barely moving, with a sane rate and healthy signals: too short to tell a slow start from a stall.
    ("five_epochs_too_short", with_signals({"loss": [0.695, 0.694, 0.692, 0.69, 0.689], "val_loss": [0.694, 0.693, 0.692, 0.69, 0.689],
                                            "val_balanced_accuracy": [0.5, 0.52, 0.55, 0.56, 0.57]}, **HEALTHY),
     "binary", {}, {}, "too_few_epochs"),
    # Plain SGD in a deep sigmoid stack: the weights barely move because the gradient vanishes on its
    # way to the first layer, not because the steps are slow.
    ("deep_sigmoid_plain_sgd", with_signals(STUCK, **{**HEALTHY, "grad_ratio_first_last": 2e-4, "update_ratio": 6e-5}),
     "binary", {}, {"optimizer": "sgd", "learning_rate": 0.05, "hidden_units": [32] * 8, "hidden_activation": "sigmoid"},
     "vanishing_gradients"),
    # Dead units under an L2 penalty that pulls every kernel to zero: the penalty is the cause.
    ("strong_l2_dead_units", with_signals(STUCK, **{**HEALTHY, "dead_fraction": 0.8}), "binary", {}, {"l2": 0.5},
     "too_strong_regularization"),
    # AdamW with weight_decay 30: no weight stays above 1/30, under the kernels' starting scale, so
    # they collapse together (identical units, dead ReLUs): the decay is the cause, not the init.
    ("adamw_heavy_decay", with_signals(STUCK, **{**HEALTHY, "symmetric_fraction": 1.0, "dead_fraction": 0.8}),
     "binary", {}, {"optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 30.0}, "too_strong_regularization"),
    (
        "lr_high_oscillation",
        with_signals(OSCILLATING, update_ratio=2.0),
        "binary",
        {},
        {"learning_rate": 0.1},
        "learning_rate_too_high",
    ),
    ("lr_high_diverged", BLOWN_UP, "binary", {}, {"learning_rate": 0.5}, "learning_rate_too_high"),
    (
        "lr_low_slow",
        with_signals(SLOW, update_ratio=1e-4),
        "binary",
        {},
        {"learning_rate": 1e-6},
        "learning_rate_too_low",
    ),
    (
        "lr_low_plateau",
        with_signals(PLATEAU, update_ratio=5e-5),
        "binary",
        {},
        {"optimizer": "SGD", "learning_rate": 1e-5},
        "learning_rate_too_low",
    ),
    (
        "unscaled_features",
        with_signals(STUCK, saturated_fraction=0.8),
        "binary",
        UNSCALED_FEATURES_AUDIT,
        {"hidden_activation": "tanh"},
        "unscaled_features",
    ),
    ("unscaled_target", UNSCALED_TARGET, "regression", UNSCALED_TARGET_AUDIT, {}, "unscaled_target"),
    ("class_imbalance", IMBALANCED, "binary", IMBALANCED_AUDIT, {}, "class_imbalance"),
    (
        "insufficient_capacity",
        with_signals(PLATEAU, **HEALTHY),
        "binary",
        {},
        {"hidden_units": [4]},
        "insufficient_capacity",
    ),
    ("overfitting", with_signals(OVERFITTING, **HEALTHY), "binary", {}, {}, "overfitting"),
    (
        "output_activation_mismatch",
        SOFTMAX_ONE_UNIT,
        "binary",
        {},
        {"output_activation": "softmax"},
        "output_activation_mismatch",
    ),
    ("loss_mismatch", CCE_ONE_UNIT, "binary", {}, {"loss": "categorical_crossentropy"}, "loss_mismatch"),
    ("dead_relu", with_signals(PLATEAU, dead_fraction=0.85, update_ratio=0.02), "binary", {}, {}, "dead_relu"),
    (
        "vanishing_gradients",
        with_signals(PLATEAU, grad_ratio_first_last=1e-5),
        "binary",
        {},
        {"hidden_units": [32] * 5, "hidden_activation": "sigmoid"},
        "vanishing_gradients",
    ),
    (
        "exploding_gradients",
        with_signals(BLOWN_UP, grad_norm=[1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5, 1e6]),
        "binary",
        {},
        {"hidden_units": [64] * 4},
        "exploding_gradients",
    ),
    (
        "bad_initialization",
        with_signals(STUCK, symmetric_fraction=1.0),
        "binary",
        {},
        {"kernel_initializer": "Zeros"},
        "bad_initialization",
    ),
    ("no_learnable_signal", STUCK, "binary", NO_SIGNAL_AUDIT, {}, "no_learnable_signal"),
    (
        "optimizer_choice",
        with_signals(PLATEAU, **dict(HEALTHY, update_ratio=2e-4)),
        "binary",
        {},
        {"optimizer": "adadelta", "learning_rate": 0.001},
        "optimizer_choice",
    ),
    ("too_few_updates", with_signals(SLOW, **HEALTHY), "binary", {}, {"batch_size": 400}, "too_few_updates"),
    ("too_few_epochs", with_signals(SLOW, **HEALTHY), "binary", {}, {}, "too_few_epochs"),
    (
        "too_strong_regularization",
        with_signals(THINNED, **HEALTHY),
        "binary",
        {},
        {"dropout": 0.7},
        "too_strong_regularization",
    ),
]



# Dropout 0.8 and L2 0.05 on breast cancer (measured): the penalty keeps the probabilities near
# the prior, so balanced accuracy (0.94) is close to the reference's (0.976) while the
# cross-entropy (0.65) sits near the trivial 0.658. Its own val_log_loss is written here as the
# doctor would compute it from the probabilities, without the penalty.
UNDERCONFIDENT = {
    "loss": [5.11, 4.73, 4.23, 3.86, 3.53, 3.22, 2.99, 2.76, 2.56, 2.36, 2.23, 2.02, 1.88, 1.73, 1.67, 1.54],
    "val_loss": [4.46, 4.06, 3.73, 3.43, 3.16, 2.92, 2.70, 2.51, 2.32, 2.15, 2.0, 1.86, 1.73, 1.61, 1.5, 1.4],
    "val_balanced_accuracy": [0.57, 0.7, 0.84, 0.85, 0.87, 0.87, 0.89, 0.89, 0.89, 0.9, 0.92, 0.938, 0.938, 0.938,
                              0.938, 0.938],
    "val_log_loss": [0.69, 0.68, 0.67, 0.66, 0.65, 0.64, 0.62, 0.6, 0.58, 0.56, 0.54, 0.52, 0.5, 0.48, 0.46, 0.44],
}
CANCER_AUDIT = dict(trivial_val_loss=0.658, reference_val_loss=0.0777,
                    reference_metrics={"val_accuracy": 0.982, "val_balanced_accuracy": 0.976})


# Runs whose curves are sick but whose readings one cause names are all in their normal range:
# that cause must stay silent on them (the contract's consistency rule). Each entry is
# (curves, task, audit changes, set-up changes), keyed by the cause it tests.
STANDARDIZED_BY_THE_USER = dict(
    scaled_features=False,  # the doctor did not scale them, but the user did: every std ~ 1
    features=[FeatureStats("a", 0.01, 1.0, -3.0, 3.0), FeatureStats("b", -0.02, 1.086, -3.2, 3.1)],
)
REGRESSION_PLATEAU = {
    "loss": [1.0, 0.8, 0.7, 0.66, 0.65, 0.645, 0.643, 0.642, 0.642, 0.641, 0.641, 0.641],
    "val_loss": [1.0, 0.81, 0.71, 0.67, 0.66, 0.655, 0.653, 0.652, 0.652, 0.651, 0.651, 0.651],
    "val_r2": [0.0, 0.19, 0.29, 0.33, 0.34, 0.345, 0.347, 0.348, 0.348, 0.349, 0.349, 0.349],
}
CENTRED_TARGET = dict(scaled_target=False, target_mean=0.1, target_std=1.0, trivial_val_loss=1.0, reference_val_loss=0.3)
NORMAL_READINGS = {
    "learning_rate_too_high": [(with_signals(PLATEAU, **HEALTHY), "binary", {}, {"learning_rate": 0.001})],
    "learning_rate_too_low": [
        (with_signals(PLATEAU, **HEALTHY), "binary", {}, {}),
        # Slow progress, but Adam's usual rate and steps of a normal size: neither reading is low.
        (with_signals(SLOW, **HEALTHY), "binary", {}, {}),
    ],
    "unscaled_features": [
        (with_signals(STUCK, saturated_fraction=0.8), "binary", STANDARDIZED_BY_THE_USER,
         {"optimizer": "sgd", "learning_rate": 50.0, "hidden_activation": "tanh"}),
    ],
    "unscaled_target": [(REGRESSION_PLATEAU, "regression", CENTRED_TARGET, {"optimizer": "sgd", "learning_rate": 50.0})],
    "class_imbalance": [(STUCK, "binary", {}, {})],
    "insufficient_capacity": [
        (with_signals(PLATEAU, **HEALTHY), "binary", {}, {"hidden_units": [64, 32]}),
        # A linear model where the linear reference reaches the level: the data need no more.
        (with_signals(PLATEAU, **HEALTHY), "binary",
         {"linear_reference_metrics": {"val_accuracy": 0.95, "val_balanced_accuracy": 0.94}}, {"hidden_units": []}),
    ],
    "overfitting": [(with_signals(PLATEAU, **HEALTHY), "binary", {}, {})],
    "output_activation_mismatch": [(STUCK, "binary", {}, {})],
    "loss_mismatch": [(STUCK, "binary", {}, {})],
    "dead_relu": [(with_signals(PLATEAU, dead_fraction=0.05, update_ratio=0.02), "binary", {}, {})],
    "vanishing_gradients": [
        (with_signals(PLATEAU, grad_ratio_first_last=1.0, update_ratio=0.02), "binary", {},
         {"hidden_units": [32] * 5, "hidden_activation": "sigmoid"}),
    ],
    "exploding_gradients": [(with_signals(BLOWN_UP, grad_norm=[1.0] * 9), "binary", {}, {"hidden_units": [64] * 4})],
    "bad_initialization": [(with_signals(STUCK, symmetric_fraction=0.0, output_std=1.5), "binary", {}, {})],
    "no_learnable_signal": [(STUCK, "binary", {}, {})],
    "optimizer_choice": [(with_signals(PLATEAU, **HEALTHY), "binary", {}, {})],
    "too_few_updates": [(with_signals(SLOW, **HEALTHY), "binary", {}, {"batch_size": 32})],
    "too_few_epochs": [(with_signals(PLATEAU, **HEALTHY), "binary", {}, {})],
    "too_strong_regularization": [
        (with_signals(THINNED, **HEALTHY), "binary", {}, {"dropout": 0.0, "l2": 0.0}),
        # AdamW's default decay bounds the weights at 1 / 0.004 = 250, far above where they start.
        (with_signals(THINNED, **HEALTHY), "binary", {}, {"dropout": 0.0, "l2": 0.0, "optimizer": "adamw",
                                                          "weight_decay": 0.004}),
    ],
}
