"""The one typed config: the YAML file, the CLI's input and the flow's parameter.

Every section and default of ``shared/CONTRACT.md`` lives here. Pure: no Keras, no
Prefect. Keras identifiers (activations, optimizers, losses) are checked against Keras
itself by :func:`plateau_doctor.training.model.check_identifiers`, which the pipeline calls
before it reads any data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plateau_doctor.errors import ConfigError

Task = Literal["auto", "binary", "multiclass", "regression"]
RemedyName = Literal["learning_rate", "preprocessing", "capacity", "early_stopping", "architecture", "optimizer", "search"]
REMEDY_NAMES: tuple[str, ...] = (
    "learning_rate", "preprocessing", "capacity", "early_stopping", "architecture", "optimizer", "search",
)
# The contract's default; `search` runs as the fallback (remedies.search_trials) or when listed here.
DEFAULT_REMEDIES: tuple[str, ...] = REMEDY_NAMES[:-1]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the table is and how to split it."""

    path: str = Field("data/breast_cancer.csv", description=".csv, .parquet, or a folder of .parquet files")
    target: str = Field("target", min_length=1, description="name of the target column")
    task: Task = Field("auto", description="auto infers: non-numeric or <= 20 integer values is classification")
    features: list[str] | None = Field(None, description="null = every column but the target")
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="shuffled; stratified for classification")
    seed: int = Field(0, ge=0, description="seeds the split, the weights and the remedies")
    stream: Literal["auto", True, False] = Field(
        "auto", description="auto | true | false: stream Parquet in record batches (auto: when larger than memory)"
    )

    @field_validator("features")
    @classmethod
    def _features_unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("must list at least one column, or be null for every column but the target")
            duplicated = sorted({name for name in value if value.count(name) > 1})
            if duplicated:
                raise ValueError(f"lists {duplicated} more than once; list each column once")
        return value


class PreprocessingConfig(_Section):
    """What is done to the table before the network sees it."""

    scale_features: bool = Field(True, description="StandardScaler, fit on the training split only")
    scale_target: bool = Field(False, description="regression only: standardize the target")
    class_weight: Literal["none", "balanced"] = Field("none", description="balanced = sklearn compute_class_weight")
    resample: Literal["none", "oversample"] = Field(
        "none", description="oversample = repeat minority-class rows of the training split up to the majority count"
    )


class ModelConfig(_Section):
    """The user's network: built from these fields, or loaded from ``path``."""

    path: str | None = Field(None, description="a saved .keras model to diagnose as it is")
    hidden_units: list[int] = Field(default_factory=lambda: [64, 32], description="width of each hidden Dense layer")
    activation: str = Field("relu", min_length=1, description="any Keras activation identifier")
    output_activation: str = Field("auto", min_length=1, description="auto = sigmoid / softmax / linear by task")
    kernel_initializer: Union[str, dict[str, Any]] = Field(
        "glorot_uniform", description="any Keras initializer identifier, string or serialized dict"
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate after each hidden layer")
    l2: float = Field(0.0, ge=0.0, description="L2 penalty on every kernel")
    batch_norm: bool = Field(False, description="BatchNormalization before each hidden activation")
    builder: str | None = Field(
        None, description='"package.module:function" returning a Keras model; receives the resolved settings'
    )
    rebuild: bool = Field(
        True,
        description="model.path: a remedy that changes the network rebuilds the saved model as a dense stack with"
        " the fix; false skips such remedies with the reason (plateau_doctor.repair: the user's network is kept)",
    )

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, value: list[int]) -> list[int]:
        bad = [units for units in value if units < 1]
        if bad:
            raise ValueError(f"every layer needs at least 1 unit, got {bad}; use [] for no hidden layer")
        return value


class TrainingConfig(_Section):
    """How the network is compiled and fitted."""

    optimizer: str = Field("adam", min_length=1, description="any Keras optimizer identifier")
    learning_rate: float = Field(0.001, gt=0.0, le=100.0, description="the optimizer's learning rate")
    loss: str = Field("auto", min_length=1, description="auto = by task; else any Keras loss identifier")
    batch_size: int = Field(32, ge=1, description="rows per gradient step")
    epochs: int = Field(50, ge=1, le=10_000, description="epochs for the baseline fit")
    clipnorm: float | None = Field(None, gt=0.0, description="clip each gradient to this L2 norm; null = off")
    optimizer_settings: dict[str, Any] | None = Field(
        None,
        description="the optimizer's other Keras settings (momentum, nesterov, beta_1, ...) with its class_name;"
        " used while training.optimizer is that class, under the rate and clipnorm above (plateau_doctor.repair"
        " reads them from the user's compile)",
    )
    reduce_lr_on_plateau: bool = Field(False, description="Keras ReduceLROnPlateau on val_loss (factor 0.5)")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Keras EarlyStopping on val_loss with restore_best_weights; null = off"
    )
    backend: Literal["tensorflow", "jax", "torch"] = Field("tensorflow", description="the Keras backend that trains")


class DetectionConfig(_Section):
    """How the curves are read. Names follow Keras' callbacks."""

    patience: int = Field(5, ge=1, description="epochs without relative progress before a plateau is called")
    min_delta: float = Field(
        0.01, ge=0.0, lt=1.0, description="relative improvement of the smoothed loss that counts as progress"
    )
    start_from_epoch: int = Field(3, ge=0, description="epochs ignored at the start (warm-up)")
    smoothing: float = Field(0.5, gt=0.0, le=1.0, description="EMA weight of the newest epoch (1 = no smoothing)")
    trivial_tolerance: float = Field(
        0.03, gt=0.0, lt=1.0, description="relative distance to the trivial loss that counts as 'at trivial'"
    )
    stop_sick_baseline: bool = Field(True, description="stop the baseline once a pathology is confirmed")


class RemediesConfig(_Section):
    """Which remedy branches may run, and how much they may spend."""

    enabled: list[RemedyName] = Field(default_factory=lambda: list(DEFAULT_REMEDIES))
    budget_epochs: int = Field(400, ge=1, description="cap on the epochs of all branches together")
    margin: float = Field(0.02, ge=0.0, lt=1.0, description="how much a branch must beat the baseline's metric by")
    max_parallel: int = Field(2, ge=1, le=32, description="branches trained at once, each in its own process")
    tolerance: float = Field(
        0.03, ge=0.0, lt=1.0, description="differences from the attainable level this small never count against `repaired`"
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0,
        description="`repaired` = not significantly below the attainable level on the validation rows at this"
        " confidence (a paired bootstrap of the main metric against the reference model's predictions)",
    )
    max_rounds: int = Field(3, ge=1, le=10, description="re-diagnose the best branch and go on while short of the level")
    search_trials: int = Field(
        20, ge=0, le=500, description="trials of the guided search when the rules run out; 0 = no search fallback"
    )
    runner: Literal["processes", "dask"] = Field("processes", description="where branches run")
    worker_start_seconds: float = Field(
        8.0, ge=0.0, le=600.0,
        description="runner processes: what starting the branch workers and closing them at the end costs; a rung"
        " whose fits end sooner one after another runs in the flow's own process (0 = always start workers)",
    )
    dask_address: str | None = Field(None, description="an existing Dask scheduler, e.g. tcp://host:8786")


class OutputConfig(_Section):
    """Where results go."""

    dir: str = Field("results", min_length=1, description="results folder; runs/, history/, ... go under it")


class DoctorConfig(_Section):
    """Everything a doctor run needs. The YAML file, the CLI's input and the flow's parameter."""

    data: DataConfig = Field(default_factory=DataConfig)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    remedies: RemediesConfig = Field(default_factory=RemediesConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config ({source}):"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            section = item["loc"][:-1]
            known = _known_fields(section)
            lines.append(f"  {field}: unknown field; valid fields here are {', '.join(known)}")
        else:
            got = item.get("input")
            got_text = "" if isinstance(got, (dict, list)) and len(str(got)) > 80 else f" (got {got!r})"
            lines.append(f"  {field}: {item['msg']}{got_text}")
    return "\n".join(lines)


def _known_fields(section: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = DoctorConfig
    for part in section:
        annotation = model.model_fields.get(str(part))
        if annotation is None or not isinstance(annotation.annotation, type):
            break
        if issubclass(annotation.annotation, BaseModel):
            model = annotation.annotation
    return list(model.model_fields)


def validate_config(raw: dict[str, Any] | None, source: str = "config") -> DoctorConfig:
    """Build the config from plain data; a bad value raises ConfigError naming the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid config ({source}): the top level must be a mapping of sections, got {type(raw).__name__}")
    # YAML reads an empty section ("training:") as null; the contract says it means defaults.
    raw = {key: ({} if value is None else value) for key, value in raw.items()}
    try:
        return DoctorConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def parse_override(assignment: str) -> tuple[str, Any]:
    """Split ``section.field=VALUE``; VALUE is read as YAML (numbers, lists, null)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: write it as dotted.key=VALUE, e.g. training.learning_rate=0.01")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {assignment!r}: the value is not valid YAML ({error.__class__.__name__})") from None
    return key.strip(), value


def set_dotted(raw: dict[str, Any], key: str, value: Any, context: str) -> None:
    """Set ``section.field`` in plain config data, creating sections as needed."""
    parts = [part.strip() for part in key.split(".")]
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{context}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``dotted.key=VALUE`` set."""
    merged: dict[str, Any] = yaml.safe_load(yaml.safe_dump(raw)) or {}
    for assignment in assignments:
        key, value = parse_override(assignment)
        set_dotted(merged, key, value, f"--set {assignment!r}")
    return merged


def with_overrides(config: DoctorConfig, overrides: dict[str, Any], source: str) -> DoctorConfig:
    """A new validated config with dotted-key overrides; ``config`` is left as it is.

    The one way to apply overrides (a remedy's, a search trial's): going through plain data
    and validation means they can never produce a config that the CLI would have refused
    (a bad override raises ``ConfigError`` naming the field and ``source``), and the new
    config never shares a list with the overrides.
    """
    raw = config.model_dump(mode="json")
    for key, value in overrides.items():
        set_dotted(raw, key, _plain(value), f"{source}: override {key!r}")
    return validate_config(raw, source=source)


def _plain(value: Any) -> Any:
    """JSON-like copy: lists and dicts copied, numpy scalars as Python numbers."""
    import numpy as np

    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DoctorConfig:
    """Read the YAML file (or the defaults), apply ``--set`` overrides, validate.

    A relative ``data.path`` or ``model.path`` is resolved against the config file's folder
    when it exists there, so a config works from any working directory.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        file = Path(path)
        source = str(file)
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist; pass an existing YAML file to --config")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {file} is not valid YAML ({_yaml_problem(error)}); fix the file") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {file}: the top level must be a mapping of sections")
        raw = loaded or {}
    raw = apply_overrides(raw, overrides or [])
    config = validate_config(raw, source)
    return _resolve_relative_paths(config, Path(path).resolve().parent if path is not None else None)


def _yaml_problem(error: Exception) -> str:
    """One line for a YAML error: what and where (PyYAML's own text spans several lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or error.__class__.__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def _resolve_relative_paths(config: DoctorConfig, base: Path | None) -> DoctorConfig:
    """Make ``data.path`` and ``model.path`` absolute, so summary.json names them from anywhere.

    A relative path is read beside the config file when it exists there and not in the
    working directory; otherwise against the working directory.
    """
    for section, field in (("data", "path"), ("model", "path")):
        value = getattr(getattr(config, section), field)
        if not value or Path(value).is_absolute():
            continue
        beside_config = base / value if base is not None else None
        if beside_config is not None and not Path(value).exists() and beside_config.exists():
            resolved = beside_config
        else:
            resolved = Path(value).absolute()
        setattr(getattr(config, section), field, str(resolved))
    return config


def dataset_name(config: DoctorConfig) -> str:
    """The table's name (file stem, or folder name): it names runs, artifacts and the retraining trend."""
    path = Path(config.data.path)
    return path.stem or path.name
