"""model.builder and .npz data: which remedies a builder can carry out, and the pipeline on arrays."""

from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest

from plateau_doctor.data.sources.npz import feature_shape, load_npz
from plateau_doctor.training.builder import accepted_settings, load_builder, split_plans
from plateau_doctor.errors import ConfigError, DataError
from plateau_doctor.engine.planning import RemedyPlan


def _plan(remedy, **overrides):
    return RemedyPlan(remedy, {key.replace("__", "."): value for key, value in overrides.items()}, "why", [])


def test_a_builder_without_kwargs_accepts_only_what_it_names():
    def build(input_shape, outputs, hidden_units, activation):
        return None

    def build_all(input_shape, outputs, **settings):
        return None

    assert accepted_settings(build) == {"input_shape", "outputs", "hidden_units", "activation"}
    assert accepted_settings(build_all) is None


def test_remedies_through_ignored_settings_are_skipped_with_the_reason_and_training_ones_always_apply():
    accepted = frozenset({"input_shape", "outputs", "hidden_units"})
    plans = [
        _plan("learning_rate", training__learning_rate=0.01),
        _plan("capacity", model__hidden_units=[64, 64], model__dropout=0.0),
        _plan("architecture", model__activation="leaky_relu", model__kernel_initializer="he_uniform"),
        _plan("preprocessing", preprocessing__scale_features=True, preprocessing__class_weight="balanced"),
        _plan("optimizer", training__optimizer="adam", training__batch_size=64, training__clipnorm=1.0),
    ]
    kept, skipped = split_plans(plans, accepted)
    assert [p.remedy for p in kept] == ["learning_rate", "preprocessing", "optimizer"]
    reasons = {plan.remedy: why for plan, why in skipped}
    assert reasons["capacity"] == "skipped: the model builder ignores dropout (model.dropout), so this remedy cannot change the model"
    assert "activation (model.activation), initializer (model.kernel_initializer)" in reasons["architecture"]
    assert split_plans(plans, None) == (plans, [])  # **kwargs: every setting reaches the model


@pytest.mark.parametrize(
    "spec, message",
    [("no_colon", "not 'package.module:function'"), ("no_such_module_x:f", "cannot be imported"),
     ("math:no_such_function", "has no function 'no_such_function'")],
)
def test_a_bad_builder_names_model_builder(spec, message):
    with pytest.raises(ConfigError, match=f"model.builder: .*{message}"):
        load_builder(spec)


def test_npz_arrays_become_one_column_per_position(tmp_path):
    x = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2)
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1]))
    frame = load_npz(tmp_path / "a.npz")
    assert frame.shape == (2, 3 * 4 * 2 + 1) and frame["y"].tolist() == [0, 1]
    assert frame.iloc[1, :-1].tolist() == x[1].ravel().tolist()
    assert feature_shape(tmp_path / "a.npz") == (3, 4, 2)
    assert feature_shape(tmp_path / "table.csv") is None


@pytest.mark.parametrize(
    "arrays, message",
    [({"x": np.zeros((3, 2))}, "has no array y"), ({"x": np.zeros((3, 2)), "y": np.zeros(2)}, "one row per example"),
     ({"x": np.zeros(3), "y": np.zeros(3)}, "one row per example")],
)
def test_bad_npz_files_are_data_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "bad.npz")


@pytest.mark.slow
def test_a_conv_builder_trains_on_npz_images_through_the_pipeline(tmp_path, monkeypatch):
    """8x8 digit images as .npz, a Conv2D builder that takes **settings: the baseline fit records
    per-position scaled rows reshaped to images, and its signals."""
    from sklearn.datasets import load_digits

    from plateau_doctor.config import validate_config
    from plateau_doctor.data.prepared import prepare_from_config
    from plateau_doctor.training.fit import fit_branch

    (tmp_path / "user_builders.py").write_text(textwrap.dedent("""
        import keras

        def convnet(input_shape, outputs, output_activation, **settings):
            inputs = keras.Input(shape=input_shape)
            x = keras.layers.Conv2D(8, 3, padding="same", activation=settings["activation"])(inputs)
            x = keras.layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, keras.layers.Dense(outputs, activation=output_activation)(x))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    digits = load_digits()
    np.savez(tmp_path / "digits.npz", x=digits.images[:400, :, :, None], y=digits.target[:400])
    config = validate_config({
        "data": {"path": str(tmp_path / "digits.npz"), "target": "y"},
        "model": {"builder": "user_builders:convnet"},
        "training": {"epochs": 3, "learning_rate": 0.01},
    })
    data = prepare_from_config(config, audit=False)
    assert data.x_train.shape[1] == 64 and data.task == "multiclass"
    assert np.allclose(data.x_train.std(axis=0)[data.x_train.std(axis=0) > 0], 1.0, atol=1e-6)  # per position
    result = fit_branch(config, data)
    assert any(layer.__class__.__name__ == "Reshape" for layer in result.model.layers)
    history = result.history
    assert len(history) == 3 and history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert math.isfinite(history["grad_norm"].iloc[-1]) and math.isfinite(history["update_ratio"].iloc[-1])
    del sys.modules["user_builders"]


def test_the_pipeline_keeps_skipped_remedies_as_pruned_outcomes_with_the_reason(tmp_path, monkeypatch):
    from plateau_doctor.config import validate_config
    from plateau_doctor.run.rounds import plans_for_builder

    (tmp_path / "narrow_builder.py").write_text("def build(input_shape, outputs, hidden_units):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = validate_config({"model": {"builder": "narrow_builder:build"}})
    plans = [_plan("learning_rate", training__learning_rate=0.01), _plan("capacity", model__l2=0.0, model__hidden_units=[8])]
    kept, pruned = plans_for_builder(plans, config)
    assert [p.remedy for p in kept] == ["learning_rate"]
    assert [(o.remedy, o.status) for o in pruned] == [("capacity", "pruned")]
    assert "ignores l2 (model.l2)" in pruned[0].reason and pruned[0].error == pruned[0].reason
    assert plans_for_builder(plans, validate_config({})) == (plans, [])
    del sys.modules["narrow_builder"]
