"""The config: contract defaults, YAML, --set overrides, and messages that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from plateau_doctor.config import DoctorConfig, apply_overrides, load_config, validate_config
from plateau_doctor.errors import ConfigError


def test_defaults_match_the_contract():
    config = DoctorConfig()
    assert config.data.path == "data/breast_cancer.csv"
    assert (config.data.target, config.data.task, config.data.features) == ("target", "auto", None)
    assert (config.data.validation_fraction, config.data.seed) == (0.2, 0)
    assert config.preprocessing.model_dump() == {
        "scale_features": True, "scale_target": False, "class_weight": "none", "resample": "none",
    }
    assert config.model.hidden_units == [64, 32]
    assert (config.model.activation, config.model.output_activation) == ("relu", "auto")
    assert config.model.kernel_initializer == "glorot_uniform"
    assert (config.model.dropout, config.model.l2, config.model.path) == (0.0, 0.0, None)
    assert (config.training.optimizer, config.training.learning_rate, config.training.loss) == ("adam", 0.001, "auto")
    assert (config.training.batch_size, config.training.epochs) == (32, 50)
    assert config.remedies.enabled == ["learning_rate", "preprocessing", "capacity", "early_stopping", "architecture", "optimizer"]
    assert config.output.dir == "results"


def test_empty_sections_mean_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\nmodel:\ntraining:\n")
    expected = DoctorConfig()
    expected.data.path = str(Path(expected.data.path).absolute())  # load_config makes data.path absolute
    assert load_config(path) == expected


def test_a_relative_data_path_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.csv").write_text("a,target\n1,0\n")
    (tmp_path / "c.yaml").write_text("data: {path: here.csv}\n")
    config = load_config("c.yaml", ["model.path=models/m.keras"])
    assert config.data.path == str(tmp_path / "here.csv")
    assert config.model.path == str(tmp_path / "models" / "m.keras")


@pytest.mark.parametrize(
    "raw, field, hint",
    [
        ({"training": {"learning_rate": -1}}, "training.learning_rate", "greater than 0"),
        ({"training": {"lr": 0.1}}, "training.lr", "learning_rate"),
        ({"data": {"task": "ranking"}}, "data.task", "binary"),
        ({"data": {"validation_fraction": 1.5}}, "data.validation_fraction", "less than 1"),
        ({"model": {"hidden_units": [64, 0]}}, "model.hidden_units", "at least 1 unit"),
        ({"model": {"dropout": 1.0}}, "model.dropout", "less than 1"),
        ({"preprocessing": {"class_weight": "auto"}}, "preprocessing.class_weight", "balanced"),
        ({"remedies": {"enabled": ["magic"]}}, "remedies.enabled.0", "learning_rate"),
        ({"modle": {}}, "modle", "model"),
        ({"data": {"features": ["a", "a"]}}, "data.features", "more than once"),
        ({"remedies": {"confidence": 1.0}}, "remedies.confidence", "less than 1"),
        ({"remedies": {"confidence": 0.5}}, "remedies.confidence", "greater than 0.5"),
        ({"remedies": {"confidence": "high"}}, "remedies.confidence", "valid number"),
    ],
)
def test_bad_values_name_the_field_and_what_is_valid(raw, field, hint):
    with pytest.raises(ConfigError) as error:
        validate_config(raw)
    message = str(error.value)
    assert field in message
    assert hint in message


@pytest.mark.parametrize("value", [0.51, 0.9, 0.99])
def test_the_confidence_of_repaired_is_a_share_between_one_half_and_one(value):
    assert DoctorConfig().remedies.confidence == 0.95
    assert validate_config({"remedies": {"confidence": value}}).remedies.confidence == value
    assert validate_config(apply_overrides({}, [f"remedies.confidence={value}"])).remedies.confidence == value


def test_set_overrides_are_read_as_yaml():
    merged = apply_overrides(
        {"training": {"epochs": 5}},
        ["training.learning_rate=0.01", "model.hidden_units=[8, 4]", "model.path=null", "data.target=label"],
    )
    config = validate_config(merged)
    assert config.training.learning_rate == 0.01
    assert config.training.epochs == 5
    assert config.model.hidden_units == [8, 4]
    assert config.model.path is None
    assert config.data.target == "label"


@pytest.mark.parametrize("assignment", ["training.learning_rate", "=3", "training.epochs.x=3"])
def test_malformed_set_is_refused(assignment):
    with pytest.raises(ConfigError, match="--set"):
        apply_overrides({"training": {"epochs": 5}}, [assignment])


def test_yaml_file_with_relative_data_path_resolves_beside_it(tmp_path, monkeypatch):
    (tmp_path / "table.csv").write_text("a,target\n1,0\n")
    config_file = tmp_path / "c.yaml"
    config_file.write_text("data:\n  path: table.csv\ntraining:\n  epochs: 3\n")
    monkeypatch.chdir("/")
    config = load_config(config_file, ["training.batch_size=8"])
    assert config.data.path == str(tmp_path / "table.csv")
    assert (config.training.epochs, config.training.batch_size) == (3, 8)


@pytest.mark.parametrize("text", ["data: [1, 2\n", "- just\n- a list\n"])
def test_unreadable_yaml_is_a_config_error(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_config_round_trips_through_json():
    config = validate_config({"model": {"kernel_initializer": {"class_name": "Constant", "config": {"value": 0.1}}}})
    again = DoctorConfig.model_validate(config.model_dump(mode="json"))
    assert again == config
