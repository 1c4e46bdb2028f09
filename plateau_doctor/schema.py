"""Names and plain records shared by every stage. Pure: no Keras, no Prefect.

The names are the public contract (``shared/CONTRACT.md``): do not rename them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OVERFITTING = "overfitting"
"""The symptom of a validation loss rising while the training loss falls. A cause has the
same name (the overfitting cause names its own symptom): code that means the symptom says
``OVERFITTING``, so that a cause's name is written only in that cause's file."""

SYMPTOMS: tuple[str, ...] = (
    "diverged",
    "stuck_at_trivial",
    "plateau",
    "slow_convergence",
    "oscillation",
    OVERFITTING,
    "converged",
)
SICK_SYMPTOMS: tuple[str, ...] = tuple(name for name in SYMPTOMS if name != "converged")

CAUSES: tuple[str, ...] = (
    "learning_rate_too_high",
    "learning_rate_too_low",
    "unscaled_features",
    "unscaled_target",
    "class_imbalance",
    "insufficient_capacity",
    "overfitting",
    "output_activation_mismatch",
    "loss_mismatch",
    "dead_relu",
    "vanishing_gradients",
    "exploding_gradients",
    "bad_initialization",
    "no_learnable_signal",
    "optimizer_choice",
    "too_few_updates",
    "too_few_epochs",
    "too_strong_regularization",
)

REMEDIES: tuple[str, ...] = (
    "learning_rate",
    "preprocessing",
    "capacity",
    "early_stopping",
    "architecture",
    "optimizer",
    "search",
)
"""Remedy branches. Every one but ``search`` is one ``engine.remedies`` module that merges the
treatments of the causes pointing to it (``planning.PLANNERS``); ``search`` is the guided
fallback the pipeline runs when the rules run out."""
STATUSES: tuple[str, ...] = ("healthy", "repaired", "improved", "not_repaired", "sick")

CLASSIFICATION_METRICS: tuple[str, ...] = ("val_accuracy", "val_balanced_accuracy", "val_log_loss")
REGRESSION_METRICS: tuple[str, ...] = ("val_r2", "val_mae")

# One row per branch and epoch in the ``history`` dataset. Every column is a float
# (NaN where a signal does not apply, e.g. dead_fraction in a net without ReLU units).
HISTORY_SIGNALS: dict[str, str] = {
    "loss": "training loss, mean over the epoch (includes class weights and penalties)",
    "val_loss": "validation loss, in the same scale as loss",
    "learning_rate": "the optimizer's learning rate at the end of the epoch",
    "val_accuracy": "classification: accuracy on the validation split",
    "val_balanced_accuracy": "classification: balanced accuracy on the validation split",
    "val_log_loss": "classification: log loss of the predicted probabilities, computed by the doctor (proper score)",
    "val_log_loss_prior_matched": "classification: val_log_loss once one offset per class brings the mean predicted"
    " probabilities to the validation rows' class shares (a prior shift, as class weights make, undone)",
    "val_r2": "regression: R^2 on the validation split, original target scale",
    "val_mae": "regression: mean absolute error, original target scale",
    "grad_norm": "global L2 norm of the loss gradient on a fixed training batch",
    "grad_norm_first": "L2 norm of the first Dense layer's gradient (kernel and bias)",
    "grad_norm_last": "L2 norm of the output layer's gradient (kernel and bias)",
    "grad_ratio_first_last": "grad_norm_first / grad_norm_last: << 1 vanishing, >> 1 exploding",
    "dead_fraction": "share of ReLU-family hidden units that output 0 on every validation row",
    "saturated_fraction": "share of sigmoid/tanh hidden activations within 1% of a bound",
    "symmetric_fraction": "share of hidden units whose incoming weights duplicate another unit's",
    "update_ratio": "||W_t - W_(t-1)|| / ||W_(t-1)|| over all kernels, this epoch",
    "pred_majority_share": "classification: share of validation predictions that are the most predicted class",
    "output_std": "std of the network's raw validation outputs (collapsed output ~ 0)",
}
HISTORY_COLUMNS: tuple[str, ...] = ("branch", "epoch", *HISTORY_SIGNALS)


@dataclass
class Finding:
    """One symptom or cause, with the numbers behind it."""

    kind: Literal["symptom", "cause"]
    name: str
    confidence: float
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FeatureStats:
    name: str
    mean: float
    std: float
    min: float
    max: float


@dataclass
class DataAudit:
    """What the data allows, measured before any network is trained.

    Losses here are in the scale of the task's default loss on the target as the network
    sees it (cross-entropy for classification; MSE on the scaled target when
    ``scaled_target``), so they compare directly with the baseline's ``val_loss`` when
    the loss is the task's default.
    """

    task: str
    n_rows: int
    n_train: int
    n_val: int
    n_features: int
    features: list[FeatureStats]
    scaled_features: bool
    scaled_target: bool
    trivial_val_loss: float
    trivial_metrics: dict[str, float]
    reference_model: str
    reference_val_loss: float
    reference_metrics: dict[str, float]
    classes: list[str] = field(default_factory=list)
    class_balance: dict[str, float] = field(default_factory=dict)
    majority_share: float = float("nan")
    target_mean: float = float("nan")
    target_std: float = float("nan")
    # The regularized linear reference alone (validation metrics, same split): a final model
    # at or above it that is healthy when diagnosed again counts as repaired below boosting.
    linear_reference_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def max_feature_std(self) -> float:
        return max((f.std for f in self.features), default=float("nan"))

    @property
    def feature_std_ratio(self) -> float:
        """Largest feature std over the smallest non-zero one: ~1 for scaled data."""
        stds = [f.std for f in self.features if f.std > 0]
        return max(stds) / min(stds) if stds else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["n_classes"] = self.n_classes
        data["feature_std_ratio"] = self.feature_std_ratio
        return data

    @classmethod
    def unknown(cls, task: str, **known: Any) -> "DataAudit":
        """An audit of what is unknown (no trivial level, no reference model, no feature statistics),
        with whatever ``known`` fields were measured: a training log's, or a watched fit's."""
        values: dict[str, Any] = dict(
            task=task, n_rows=0, n_train=0, n_val=0, n_features=0, features=[], scaled_features=True,
            scaled_target=True, trivial_val_loss=float("nan"), trivial_metrics={}, reference_model="none",
            reference_val_loss=float("nan"), reference_metrics={},
        )
        values.update(known)
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DataAudit":
        data = dict(data)
        data.pop("n_classes", None)
        data.pop("feature_std_ratio", None)
        data["features"] = [FeatureStats(**f) for f in data["features"]]
        return cls(**data)


@dataclass
class ResolvedSetup:
    """The training set-up with every ``auto`` replaced by what was actually built."""

    task: str
    n_classes: int
    output_units: int
    output_activation: str
    loss: str
    hidden_units: list[int]
    hidden_activation: str
    kernel_initializer: str
    optimizer: str
    learning_rate: float
    batch_size: int
    from_saved_model: bool = False
    # What the causes of too strong regularization and too few epochs read; the defaults
    # (none, unknown) keep older callers and saved results valid.
    dropout: float = 0.0
    l2: float = 0.0
    # The largest L1 factor on a layer's kernel or embeddings: its pull, l1 * sign(w), is the same
    # whatever the weight's size, so it zeroes every weight whose gradient stays under it.
    l1: float = 0.0
    epochs: int = 0
    # The optimizer's decoupled weight decay (Keras 3 applies it as w <- w - lr * wd * w each step).
    weight_decay: float = 0.0
    # Updates per epoch as the fit reported them (Keras' params["steps"]); 0: from the batch size and rows.
    steps_per_epoch: int = 0
    # Weighted layers the fit does not train (a frozen base): with one, the network is a nonlinear
    # function of its inputs even when its trainable part is a linear head.
    frozen_layers: int = 0
    # How much the kernels as the fit began scale a signal's spread through the Dense and convolution
    # layers (the product of their per-layer gains; a fan-scaled initializer keeps each near 1).
    # 0: not read (no model at the start of the fit, or a normalization layer resets the scale).
    initial_gain: float = 0.0
    # The fit was ended before its ``epochs`` by a callback that is not the doctor's (Keras'
    # EarlyStopping, as a rule): its last epochs are where a monitored loss stopped improving, not
    # where the budget cut a falling loss short.
    ended_early: bool = False
    # The 1-based epoch whose weights a callback put back at the end of the fit (Keras'
    # EarlyStopping(restore_best_weights=True)): the model the fit leaves. 0: the last epoch's.
    kept_epoch: int = 0
    # The optimizer's momentum (SGD's heavy ball; 0: none or not read): SGD with momentum is no plain
    # gradient step, it carries speed along the flat directions where plain steps crawl.
    momentum: float = 0.0
    # The stddev of a GaussianNoise layer on the inputs (before the first weighted layer); 0: none.
    input_noise: float = 0.0
    # The fit's number of the first epoch the doctor saw: a console paste that begins at
    # ``Epoch 21/150`` has 21. The doctor counts what it saw from 1; ``kept_epoch`` is in that count.
    first_epoch: int = 1
    # What a user's fit weights its training rows by, as the callback read fit's arguments: class_weight,
    # sample_weight or none; unknown where not seen (a log; the pipeline's config says its own).
    row_weights: str = "unknown"

    def fit_epoch(self, seen: int) -> int:
        """The fit's number of the ``seen``-th epoch the doctor saw (1-based)."""
        return self.first_epoch - 1 + seen

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
