"""The recorder on tiny real Keras fits: every signal present, NaN recorded instead of a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import make_classification_frame, make_regression_frame
from plateau_doctor.config import validate_config
from plateau_doctor.data.prepared import prepare_data
from plateau_doctor.schema import HISTORY_COLUMNS
from plateau_doctor.training.fit import fit_branch


def _fit(frame, **sections):
    config = validate_config(sections)
    data = prepare_data(frame, config.data, config.preprocessing)
    return fit_branch(config, data)


def test_every_signal_is_recorded_on_a_classification_fit():
    result = _fit(make_classification_frame(300), training={"epochs": 3, "batch_size": 32},
                  model={"hidden_units": [16, 8]})
    history = result.history
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert history["epoch"].tolist() == [1, 2, 3]
    assert (history["branch"] == "baseline").all()
    for column in ("loss", "val_loss", "learning_rate", "val_accuracy", "val_balanced_accuracy", "grad_norm",
                   "grad_norm_first", "grad_norm_last", "grad_ratio_first_last", "dead_fraction",
                   "symmetric_fraction", "update_ratio", "pred_majority_share", "output_std", "val_log_loss_prior_matched"):
        assert np.isfinite(history[column]).all(), column
    assert history[["val_r2", "val_mae", "saturated_fraction"]].isna().all().all()  # not applicable here
    assert np.allclose(history["learning_rate"], 0.001)
    assert (history["update_ratio"] > 0).all()
    assert history["symmetric_fraction"].max() == 0.0  # glorot init: no two units alike
    assert 0.0 <= history["dead_fraction"].min() <= history["dead_fraction"].max() <= 1.0
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert set(result.metrics) == {"val_loss", "val_accuracy", "val_balanced_accuracy", "val_log_loss"}
    assert math.isclose(result.metrics["val_loss"], history["val_loss"].iloc[-1], rel_tol=1e-3)


def test_regression_metrics_are_on_the_original_scale():
    frame = make_regression_frame(300, noise=1.0)
    frame["target"] = frame["target"] * 1000 + 5000
    result = _fit(frame, preprocessing={"scale_target": True}, training={"epochs": 30, "batch_size": 32},
                  model={"activation": "tanh", "hidden_units": [16]})
    history = result.history
    assert np.isfinite(history[["val_r2", "val_mae", "saturated_fraction"]]).all().all()
    assert history[["val_accuracy", "pred_majority_share", "dead_fraction"]].isna().all().all()
    assert result.metrics["val_r2"] > 0.8
    # MAE in target units (thousands), while the loss is in units of the scaled target.
    assert result.metrics["val_mae"] > 10 * result.metrics["val_loss"]


def test_symmetric_units_from_constant_initialization():
    result = _fit(make_classification_frame(200), training={"epochs": 2},
                  model={"kernel_initializer": "zeros", "hidden_units": [8, 8]})
    assert result.history["symmetric_fraction"].iloc[-1] == 1.0


def test_a_diverging_fit_records_nan_instead_of_crashing():
    frame = make_regression_frame(200)
    frame["target"] = frame["target"] * 1e6
    result = _fit(frame, preprocessing={"scale_features": False}, training={"optimizer": "sgd",
                  "learning_rate": 10.0, "epochs": 4}, model={"hidden_units": [8]})
    loss = result.history["loss"].to_numpy()
    assert len(loss) == 4
    assert not np.isfinite(loss).all()
    assert math.isnan(result.metrics["val_r2"]) or not math.isfinite(result.metrics["val_loss"])


def test_monitor_stops_the_fit_and_is_remembered():
    from plateau_doctor.schema import Finding

    frame = make_classification_frame(200)
    config = validate_config({"training": {"epochs": 20}})
    data = prepare_data(frame, config.data, config.preprocessing)
    stop = Finding("symptom", "stuck_at_trivial", 0.9, "test stop at epoch 3")
    result = fit_branch(config, data, monitor=lambda records: stop if len(records["loss"]) >= 3 else None)
    assert result.epochs == 3
    assert result.stopped_by is stop


def test_same_seed_same_result():
    frame = make_classification_frame(200)
    a = _fit(frame, training={"epochs": 3})
    b = _fit(frame, training={"epochs": 3})
    assert np.array_equal(a.history["loss"].to_numpy(), b.history["loss"].to_numpy())
    c = _fit(frame, training={"epochs": 3}, data={"seed": 1})
    assert not np.array_equal(a.history["loss"].to_numpy(), c.history["loss"].to_numpy())


@pytest.mark.parametrize("field, value", [("model.activation", "relux"), ("training.optimizer", "adamz"),
                                          ("training.loss", "not_a_loss"), ("model.kernel_initializer", "zeroes")])
def test_unknown_keras_identifiers_name_the_field(field, value):
    from plateau_doctor.errors import ConfigError
    from plateau_doctor.training.model import check_identifiers

    section, name = field.split(".")
    with pytest.raises(ConfigError, match=field):
        check_identifiers(validate_config({section: {name: value}}))


def test_a_saved_model_is_loaded_and_diagnosed_as_it_is(tmp_path):
    from plateau_doctor.schema import HISTORY_COLUMNS

    frame = make_classification_frame(200)
    first = _fit(frame, training={"epochs": 2}, model={"hidden_units": [12, 6]})
    path = tmp_path / "mine.keras"
    first.save_model(path)
    loaded = _fit(frame, training={"epochs": 2}, model={"path": str(path)})
    assert loaded.setup.from_saved_model
    assert loaded.setup.hidden_units == [12, 6] and loaded.setup.output_activation == "sigmoid"
    assert list(loaded.history.columns) == list(HISTORY_COLUMNS)
    # It continues from the saved weights: the first epoch starts where the saved model ended.
    assert loaded.history["loss"].iloc[0] < first.history["loss"].iloc[0]


@pytest.mark.parametrize("content", [b"not a zip file", None])
def test_an_unusable_saved_model_is_a_config_error(tmp_path, content):
    from plateau_doctor.errors import ConfigError
    from plateau_doctor.training.model import check_model_file

    path = tmp_path / "broken.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="model.path"):
        check_model_file(validate_config({"model": {"path": str(path)}}))


@pytest.mark.parametrize("model", [
    {"hidden_units": [16], "l2": 0.01, "dropout": 0.2},  # the penalty counts, dropout does not
    # Saturated sigmoids: Keras reads the loss off the logits (thousands), not off clipped outputs (<= 16).
    {"hidden_units": [16], "kernel_initializer": {"class_name": "RandomNormal", "config": {"stddev": 3.0, "seed": 0}}},
], ids=["l2-dropout", "saturated"])
def test_val_loss_is_the_one_keras_own_validation_pass_logs(model):
    """The fit skips Keras' validation pass: the recorder's val_loss must be what that pass
    would log, epoch by epoch."""
    import keras

    from plateau_doctor.training.backends import seeded
    from plateau_doctor.training.model import labels_for_loss
    from plateau_doctor.training.fit import TrainingRecorder, make_model
    from plateau_doctor.training.scoring import evaluate

    config = validate_config({"training": {"epochs": 6, "batch_size": 32}, "model": model})
    data = prepare_data(make_classification_frame(300), config.data, config.preprocessing)
    keras_logged: list[float] = []

    class KerasValLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            keras_logged.append(float(logs["val_loss"]))  # before the recorder replaces it

    with seeded(config.data.seed):
        fitted, setup = make_model(config, data, use_saved=False)
        recorder = TrainingRecorder(data, setup)
        fitted.fit(data.x_train, labels_for_loss(data.y_train, setup), batch_size=32, epochs=6, verbose=0,
                  validation_data=(data.x_val, labels_for_loss(data.y_val, setup)),
                  callbacks=[KerasValLoss(), recorder])
    ours = recorder.records["val_loss"]
    assert len(ours) == len(keras_logged) == 6
    from_outputs = evaluate(fitted, data, setup)["val_loss"]
    assert ours[-1] > from_outputs * 1.01  # the penalty, or the unclipped logits, as in Keras' number
    for mine, theirs in zip(ours, keras_logged):
        assert math.isclose(mine, theirs, rel_tol=1e-5), (mine, theirs)


def test_early_stopping_and_reduce_lr_read_the_recorders_val_loss():
    frame = make_classification_frame(300)
    stopped = _fit(frame, training={"epochs": 30, "optimizer": "adam", "learning_rate": 0.05,
                                    "early_stopping_patience": 1}, model={"hidden_units": [16]})
    val_loss = stopped.history["val_loss"].to_numpy()
    assert stopped.epochs < 30 and stopped.setup.ended_early  # the set-up diagnosed says the budget did not end it
    assert val_loss[-1] >= val_loss[-2]  # it stopped on the first epoch without improvement
    assert (np.diff(val_loss[:-1]) < 0).all()
    # Its restore puts the best epoch, the one before the last, back: that is the model scored and judged.
    assert stopped.setup.kept_epoch == stopped.epochs - 1
    assert stopped.metrics["val_loss"] == pytest.approx(val_loss[-2], rel=1e-3)
    reduced = _fit(frame, training={"epochs": 20, "optimizer": "adam", "learning_rate": 0.05,
                                    "reduce_lr_on_plateau": True}, model={"hidden_units": [16]})
    rates = reduced.history["learning_rate"].to_numpy()
    assert reduced.epochs == 20 and not reduced.setup.ended_early and reduced.setup.kept_epoch == 0
    assert np.allclose(rates[:8], 0.05)  # while val_loss improves, the rate stays
    assert rates[-1] < 0.05 / 4  # halved at least three times once it stalled
