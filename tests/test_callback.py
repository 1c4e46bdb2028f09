"""DoctorCallback on real (tiny) fits: every kind of model and input, the run it writes,
live stopping, and a doctor that fails without failing the user's fit."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from plateau_doctor.training.callback import DoctorCallback  # noqa: E402
from plateau_doctor.results.store import read_dataset  # noqa: E402

pytestmark = pytest.mark.slow


def _table(rows=400, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    return x, y


def _fit(model, x, y, xv, yv, epochs=4, callback=None, callbacks_after=None, **fit):
    callback = callback or DoctorCallback(out=fit.pop("out"), verbose=False)
    callbacks = [callback] + ([callbacks_after] if callbacks_after is not None else [])
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks, **fit)
    return callback


def _last(callback, name):
    """The last epoch's value of a signal; NaN when it was never measured (no column)."""
    history = callback.diagnosis.history
    return history[name].iloc[-1] if name in history else math.nan


def test_sequential_on_arrays_writes_a_run_like_the_cli(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _table()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    doctor = _fit(model, x[:300], y[:300], x[300:], y[300:], out=tmp_path)
    summary = json.loads((doctor.run_dir / "summary.json").read_text())
    assert summary["status"] in ("healthy", "sick") and summary["task"] == "binary"
    assert (doctor.run_dir / "report.html").is_file()
    history = read_dataset(tmp_path, "history")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    for signal in ("loss", "val_loss", "learning_rate", "val_accuracy", "val_balanced_accuracy", "grad_norm",
                   "grad_norm_first", "grad_norm_last", "update_ratio", "dead_fraction", "output_std"):
        assert np.isfinite(history[signal]).all(), signal
    assert len(read_dataset(tmp_path, "diagnosis")) >= 1
    layers = json.loads((doctor.run_dir / "layer_gradient_norms.json").read_text())
    assert len(layers) == 4 and set(layers[0]) == {layer.name for layer in model.layers}
    # The trivial loss comes from the validation labels it saw: the prior's entropy.
    share = float(y[300:].mean())
    entropy = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    assert math.isclose(doctor.diagnosis.audit.trivial_val_loss, entropy, rel_tol=1e-6)
    assert any("reference" in note for note in doctor.diagnosis.not_checked)


def test_functional_conv_net_on_tf_data_is_probed_from_the_validation_dataset(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(320, 8, 8, 1)).astype("float32")
    labels = (images[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64") + 2 * (images[:, :, :4].mean(axis=(1, 2, 3)) > 0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    train = tf.data.Dataset.from_tensor_slices((images[:240], labels[:240])).batch(32)
    val = tf.data.Dataset.from_tensor_slices((images[240:], labels[240:])).batch(32)
    doctor = DoctorCallback(out=tmp_path, verbose=False)
    model.fit(train, validation_data=val, epochs=3, verbose=0, callbacks=[doctor])
    assert doctor.diagnosis.audit.task == "multiclass" and doctor.diagnosis.audit.n_val == 80
    for signal in ("grad_norm", "dead_fraction", "update_ratio", "val_balanced_accuracy", "pred_majority_share"):
        assert math.isfinite(_last(doctor, signal)), signal


def test_subclassed_model_records_gradients_and_says_units_were_not_observable(tmp_path):
    class TwoLayers(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    keras.utils.set_random_seed(0)
    x, _ = _table()
    y = (x @ np.arange(8, dtype="float32")).astype("float32")
    model = TwoLayers()
    model.compile("adam", "mse")
    doctor = _fit(model, x[:300], y[:300], x[300:], y[300:], out=tmp_path)
    assert doctor.diagnosis.audit.task == "regression"
    assert math.isfinite(_last(doctor, "grad_norm")) and math.isfinite(_last(doctor, "grad_ratio_first_last"))
    assert math.isnan(_last(doctor, "dead_fraction"))
    assert any("dead/saturated units" in note for note in doctor.diagnosis.not_checked)
    assert doctor.summary["not_checked"] == doctor.diagnosis.not_checked


def test_embedding_and_recurrent_layers_on_a_pydataset(tmp_path):
    class Sequences(keras.utils.PyDataset):
        def __init__(self, x, y, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y = x, y

        def __len__(self):
            return len(self.x) // 32

        def __getitem__(self, index):
            rows = slice(32 * index, 32 * (index + 1))
            return self.x[rows], self.y[rows]

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(256, 6))
    target = (tokens[:, 0] > 9).astype("float32")
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"),
        keras.layers.Embedding(20, 8),
        keras.layers.GRU(8),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    doctor = DoctorCallback(out=tmp_path, verbose=False)
    model.fit(Sequences(tokens[:192], target[:192]), validation_data=Sequences(tokens[192:], target[192:]),
              epochs=2, verbose=0, callbacks=[doctor])
    norms = doctor.layer_gradient_norms[-1]
    assert {"embedding", "gru", "dense"} <= {name.split("_")[0] for name in norms}
    assert all(math.isfinite(value) for value in norms.values())
    assert math.isfinite(_last(doctor, "update_ratio"))


def test_stop_when_sick_stops_a_stuck_fit_and_says_why(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    x, y = _table()
    # All-zero weights: every output is sigmoid(0) = 0.5, the prior's loss, one predicted class.
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu", kernel_initializer="zeros"),
                              keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(learning_rate=1e-7), "binary_crossentropy")
    doctor = DoctorCallback(out=tmp_path, stop_when_sick=True, patience=2, start_from_epoch=1, verbose=False)
    with caplog.at_level(logging.WARNING, logger="plateau_doctor"):
        _fit(model, x[:300], y[:300], x[300:], y[300:], epochs=20, callback=doctor)
    assert doctor.stopped_by is not None and doctor.stopped_by.name == "stuck_at_trivial"
    assert len(doctor.diagnosis.history) < 20
    assert "stopping the fit" in caplog.text
    assert doctor.summary["status"] == "sick" and doctor.summary["early_stopped"]
    assert not doctor.diagnosis.setup.ended_early  # the doctor's own stop is not another callback's


def test_a_failure_inside_the_doctor_is_logged_once_and_the_fit_goes_on(tmp_path, caplog, monkeypatch):
    from plateau_doctor.training import recorder

    def broken(self, model):
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(recorder.SignalRecorder, "read", broken)
    x, y = _table()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    with caplog.at_level(logging.WARNING, logger="plateau_doctor"):
        history = model.fit(x[:300], y[:300], validation_data=(x[300:], y[300:]), epochs=3, verbose=0,
                            callbacks=[DoctorCallback(out=tmp_path, verbose=False)])
    assert len(history.history["loss"]) == 3
    assert caplog.text.count("probe exploded") == 1


def test_a_reference_gives_the_attainable_level(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _table()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    doctor = DoctorCallback(out=tmp_path, reference=(x[:300], y[:300]), verbose=False)
    _fit(model, x[:300], y[:300], x[300:], y[300:], callback=doctor)
    audit = doctor.diagnosis.audit
    assert audit.reference_model in ("logistic regression", "gradient boosting")
    assert audit.linear_reference_metrics["val_balanced_accuracy"] > 0.8
    assert audit.reference_metrics["val_balanced_accuracy"] >= audit.linear_reference_metrics["val_balanced_accuracy"]
    assert audit.reference_val_loss < audit.trivial_val_loss
    assert not any("reference" in note for note in doctor.diagnosis.not_checked)


def test_a_fit_ended_by_the_users_early_stopping_is_read_as_ended_before_its_budget(tmp_path):
    """Random labels: the validation loss rises from the first epochs and EarlyStopping ends the
    fit long before its 60 epochs. The set-up the doctor diagnoses says so, where a fit that ran
    its epochs does not."""
    keras.utils.set_random_seed(0)
    x, _ = _table()
    y = np.random.default_rng(1).integers(0, 2, len(x)).astype("float32")

    def net():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
        return model

    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    doctor = DoctorCallback(out=tmp_path, write=False, verbose=False)
    _fit(net(), x[:300], y[:300], x[300:], y[300:], epochs=60, callback=doctor, callbacks_after=stopper)
    assert len(doctor.diagnosis.history) < 60 and doctor.diagnosis.setup.ended_early
    assert doctor.diagnosis.setup.epochs == 60
    ran = DoctorCallback(out=tmp_path, write=False, verbose=False)
    _fit(net(), x[:300], y[:300], x[300:], y[300:], epochs=3, callback=ran)
    assert len(ran.diagnosis.history) == 3 and not ran.diagnosis.setup.ended_early


def _noisy_digits():
    """300 training rows of 8x8 digits with 30% of the labels shuffled: a 256-256 MLP overfits them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    y = digits.target.copy()
    rng = np.random.default_rng(0)
    shuffled = rng.random(len(y)) < 0.3
    y[shuffled] = rng.integers(0, 10, shuffled.sum())
    return train_test_split((digits.data / 16).astype("float32"), y, train_size=300, test_size=400, random_state=0,
                            stratify=y)


def test_the_users_restore_of_the_best_weights_is_the_model_judged(tmp_path):
    """EarlyStopping(patience=10, restore_best_weights=True) lets the fit overfit for 10 epochs and
    then puts the best epoch back: the user keeps a model from before the rise. The doctor finds
    the user's EarlyStopping among the fit's callbacks (wherever it is in the list), judges the
    model the fit leaves (healthy, not overfitting) and gives its metrics as the final ones. The
    same fit without the restore leaves the overfit last epoch, and is called overfitting."""
    x_train, x_val, y_train, y_val = _noisy_digits()

    def fit(restore, doctor_first=True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        stopper = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=restore)
        doctor = DoctorCallback(out=tmp_path / f"{restore}{doctor_first}", reference=(x_train, y_train), verbose=False)
        callbacks = [doctor, stopper] if doctor_first else [stopper, doctor]
        history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=60, batch_size=32, verbose=0,
                            callbacks=callbacks).history
        return model, doctor, stopper, history

    for doctor_first in (True, False):
        model, doctor, stopper, history = fit(restore=True, doctor_first=doctor_first)
        best = stopper.best_epoch + 1
        assert len(history["loss"]) == best + 10 and history["val_loss"][-1] > 1.1 * min(history["val_loss"])
        assert doctor.diagnosis.setup.kept_epoch == best and doctor.diagnosis.setup.ended_early
        assert doctor.summary["status"] == "healthy" and doctor.summary["symptoms"] == ["converged"]
        assert f"a callback restored epoch {best}'s weights" in doctor.diagnosis.symptoms[0].evidence
        kept_loss = model.evaluate(x_val, y_val, verbose=0)[0]
        assert doctor.summary["final"]["metrics"]["val_loss"] == pytest.approx(kept_loss, rel=1e-4)
    _, unrestored, _, _ = fit(restore=False)
    assert unrestored.diagnosis.setup.kept_epoch == 0
    assert unrestored.summary["status"] == "sick" and unrestored.summary["symptoms"][0] == "overfitting"


@pytest.mark.parametrize("weights, read", [({}, "none"), ({"class_weight": {0: 1.0, 1: 4.0}}, "class_weight"),
                                           ({"sample_weight": np.linspace(0.5, 1.5, 300)}, "sample_weight")])
def test_what_the_fit_weights_its_rows_by_is_read_from_its_arguments(tmp_path, weights, read):
    """Keras gives callbacks neither class_weight nor sample_weight; the doctor reads them once from
    the fit's frame, so class_imbalance neither claims none were given nor asks for what is there."""
    keras.utils.set_random_seed(0)
    x, y = _table()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    doctor = _fit(model, x[:300], y[:300], x[300:], y[300:], epochs=2, out=tmp_path, **weights)
    assert doctor.diagnosis.setup.row_weights == read


def test_a_continued_fit_is_counted_from_its_first_epoch(tmp_path):
    """``fit(initial_epoch=2)`` numbers its epochs, and EarlyStopping its best, from 3: the model
    the fit leaves is the restored epoch counted from there, and the set-up says where the doctor's
    count starts."""
    x_train, x_val, y_train, y_val = _noisy_digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
    stopper = keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True)
    doctor = DoctorCallback(out=tmp_path, reference=(x_train, y_train), verbose=False)
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=60, initial_epoch=2, batch_size=32,
                        verbose=0, callbacks=[doctor, stopper]).history
    seen = len(history["loss"])
    assert stopper.best_epoch + 1 > 3 and seen < 58  # the best is past the first epoch seen, and the fit was stopped
    setup = doctor.diagnosis.setup
    assert setup.first_epoch == 3 and setup.kept_epoch == stopper.best_epoch + 1 - 2 and setup.ended_early
    assert doctor.summary["final"]["metrics"]["val_loss"] == pytest.approx(model.evaluate(x_val, y_val, verbose=0),
                                                                           rel=1e-4)


def test_bad_settings_are_refused_at_construction():
    with pytest.raises(ValueError, match="task='images'"):
        DoctorCallback(task="images")
    with pytest.raises(ValueError, match="probe must be a pair"):
        DoctorCallback(probe=(np.zeros((3, 2)), np.zeros(2)))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_record_the_same_signals(tmp_path, backend):
    pytest.importorskip(backend)
    code = textwrap.dedent(f"""
        import json, math, os
        import keras, numpy as np
        assert keras.backend.backend() == {backend!r}
        from plateau_doctor.training.callback import DoctorCallback
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 6)).astype("float32"); y = (x[:, 0] > 0).astype("float32")
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy")
        doctor = DoctorCallback(out={str(tmp_path)!r}, verbose=False)
        model.fit(x[:240], y[:240], validation_data=(x[240:], y[240:]), epochs=3, verbose=0, callbacks=[doctor],
                  class_weight={{0: 1.0, 1: 2.0}})
        assert doctor.diagnosis.setup.row_weights == "class_weight"  # read from this backend's fit too
        last = doctor.diagnosis.history.iloc[-1]
        print(json.dumps({{k: float(last[k]) for k in ("grad_norm", "update_ratio", "dead_fraction", "val_log_loss")}}))
        print(doctor.summary["status"])
    """)
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    signals = json.loads(lines[-2])
    assert all(math.isfinite(value) for value in signals.values()), signals
    assert lines[-1] in ("healthy", "sick")


def test_on_imbalanced_labels_the_quick_reference_also_weighs_classes_by_rarity():
    """An unweighted logistic regression leaves a rare, overlapping class out (balanced accuracy
    at chance); weighted by rarity it finds it, and the level is read on balanced accuracy."""
    from plateau_doctor.data.audit import quick_audit

    rng = np.random.default_rng(0)
    rare = rng.random(2000) < 0.04
    x = rng.normal(size=(2000, 4)) + np.outer(rare, [0.9, 0.0, 0.0, 0.0])
    codes = rare.astype(np.int64)
    found = quick_audit("binary", x[1500:], codes[1500:], reference=(x[:1500], codes[:1500]), default_loss=True)
    assert found.reference_model.endswith("(balanced class weights)")
    assert found.reference_metrics["val_balanced_accuracy"] > 0.65
    assert found.reference_val_loss < 0.2  # the unweighted fit's calibrated loss, the better one
    even = rng.random(2000) < 0.5  # balanced labels: the unweighted fit alone, as before
    x_even = rng.normal(size=(2000, 4)) + np.outer(even, [0.9, 0.0, 0.0, 0.0])
    plain = quick_audit("binary", x_even[1500:], even[1500:].astype(np.int64),
                        reference=(x_even[:1500], even[:1500].astype(np.int64)), default_loss=True)
    assert plain.reference_model in ("logistic regression", "gradient boosting")


def test_a_fit_with_balanced_class_weights_is_not_blamed_for_the_prior_shift_they_make(tmp_path):
    """92:8 classes, class_weight balanced: the net's probabilities are the data's scaled by the
    weights, so its raw log loss is far above the reference's however well it separates the
    classes. With that shift undone it is judged on what it learned: healthy."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6)).astype("float32")
    y = (x[:, 0] + 0.6 * x[:, 1] + 0.3 * rng.normal(size=3000) > 1.9).astype("float32")
    assert 0.05 < y.mean() < 0.12
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    weights = {0: 0.5 / (1.0 - float(y[:2200].mean())), 1: 0.5 / float(y[:2200].mean())}
    doctor = DoctorCallback(out=tmp_path, reference=(x[:2200], y[:2200]), verbose=False, write=False)
    _fit(model, x[:2200], y[:2200], x[2200:], y[2200:], epochs=25, callback=doctor, class_weight=weights)
    found = doctor.diagnosis
    raw, matched = _last(doctor, "val_log_loss"), _last(doctor, "val_log_loss_prior_matched")
    assert raw > found.audit.reference_val_loss * 1.5 and matched < raw * 0.8, (raw, matched)
    assert not found.sick, [(s.name, s.evidence) for s in found.symptoms]


def _fit_on_a_signed_target(tmp_path, output_activation: str) -> DoctorCallback:
    """A net whose output layer has ``output_activation``, fitted with MSE on a target that is
    negative for half the rows (mean 0, std 1), with the doctor attached."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6)).astype("float32")
    y = x[:, 0] - 0.5 * x[:, 1]
    y = ((y - y.mean()) / y.std()).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation=output_activation)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    doctor = DoctorCallback(out=tmp_path, reference=(x[:450], y[:450]), verbose=False, write=False)
    _fit(model, x[:450], y[:450], x[450:], y[450:], epochs=15, callback=doctor)
    return doctor


def test_an_output_that_cannot_reach_the_target_is_named_from_the_model_the_fit_trains(tmp_path):
    """A ReLU output on a signed target: the curves fall and level off like any converged fit's;
    the model the callback watches says why they level off so high."""
    found = _fit_on_a_signed_target(tmp_path, "relu").diagnosis
    assert found.sick, [s.evidence for s in found.symptoms]
    assert found.causes[0].name == "output_activation_mismatch"
    assert "relu" in found.causes[0].evidence


def test_a_sigmoid_output_on_a_signed_regression_target_is_a_regression_not_a_classifier(tmp_path):
    """Dense(1, sigmoid) under MSE on a standardized target: the output says binary, the labels
    (fractions, half of them negative) say regression. Read as a binary classifier, its outputs
    scored by balanced accuracy at 0.5 looked healthy (seen on two own fits, 0.97 and 0.99); read
    as the regression it is, its R2 is far under the reference's and the output is named."""
    doctor = _fit_on_a_signed_target(tmp_path, "sigmoid")
    found = doctor.diagnosis
    assert found.setup.task == "regression" and math.isfinite(_last(doctor, "val_r2"))
    assert found.sick and found.causes[0].name == "output_activation_mismatch", [c.name for c in found.causes]
    assert "sigmoid can only output values in (0, 1)" in found.causes[0].evidence


def test_kernels_too_large_for_a_deep_net_are_read_before_the_first_step_overflows(tmp_path):
    """Six Dense(64, relu) layers with N(0, 1) kernels: each multiplies a signal's spread by about
    sqrt(64 / 2), the first epoch overflows to NaN and no gradient norm is ever finite. The kernels
    as the fit began show the growth; the rate, 0.01 for SGD, is in its usual range."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype("float32")
    y = (x[:, 0] ** 2 - x[:, 1]).astype("float32")
    big = keras.initializers.RandomNormal(stddev=1.0)
    model = keras.Sequential([keras.Input((8,)), *[keras.layers.Dense(64, activation="relu", kernel_initializer=big) for _ in range(6)],
                              keras.layers.Dense(1, kernel_initializer=big)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    doctor = DoctorCallback(out=tmp_path, verbose=False, write=False)
    _fit(model, x[:300], y[:300], x[300:], y[300:], epochs=3, callback=doctor)
    found = doctor.diagnosis
    assert found.sick and found.setup.initial_gain > 1e3
    assert found.causes[0].name == "exploding_gradients", [(c.name, c.evidence) for c in found.causes]
    assert "compound a gain of" in found.causes[0].evidence and "no finite grad_norm was recorded" in found.causes[0].evidence


def test_a_penalty_that_holds_the_net_at_chance_is_named_from_the_layers_that_carry_it(tmp_path):
    """L2 0.5 on every kernel: the penalty outweighs anything the labels can pay back, the
    weights are pulled to zero and the outputs sit at the prior. The curves alone read 'stuck';
    the model's layers say why."""
    keras.utils.set_random_seed(0)
    x, y = _table(rows=600)
    heavy = keras.regularizers.L2(0.5)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu", kernel_regularizer=heavy),
                              keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=heavy)])
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    doctor = DoctorCallback(out=tmp_path, reference=(x[:450], y[:450]), verbose=False, write=False)
    _fit(model, x[:450], y[:450], x[450:], y[450:], epochs=15, callback=doctor)
    found = doctor.diagnosis
    assert found.sick and found.setup.l2 == pytest.approx(0.5)
    assert found.causes[0].name == "too_strong_regularization", [(c.name, c.evidence) for c in found.causes]
    assert "l2 0.5" in found.causes[0].evidence


def test_the_quick_reference_is_the_better_of_a_linear_model_and_gradient_boosting():
    """On rings no linear model beats chance; the level the data allow is boosting's, and the
    linear one is kept apart (a network's capacity is judged against it)."""
    from plateau_doctor.data.audit import quick_audit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1600, 2))
    codes = (np.hypot(x[:, 0], x[:, 1]) > 1.1).astype(np.int64)
    found = quick_audit("binary", x[1200:], codes[1200:], reference=(x[:1200], codes[:1200]), default_loss=True)
    assert found.reference_model == "gradient boosting"
    assert found.reference_metrics["val_balanced_accuracy"] > 0.9
    assert found.linear_reference_metrics["val_balanced_accuracy"] < 0.65
    y = np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=1600)
    level = quick_audit("regression", x[1200:], y[1200:], reference=(x[:1200], y[:1200]), default_loss=True)
    assert level.reference_metrics["val_r2"] > 0.9 > 0.5 > level.linear_reference_metrics["val_r2"]


def test_token_ids_get_a_bag_of_tokens_reference_and_no_feature_scales():
    """Ids an Embedding reads are categories: 'std 560' of an id column is no unscaled feature,
    and a linear model on raw ids is no reference. Which of two marker tokens a row holds is
    invisible to a linear model on ids and plain in its bag of tokens."""
    from plateau_doctor.data.audit import quick_audit

    rng = np.random.default_rng(0)
    ids = rng.integers(3, 500, size=(1200, 20))
    codes = rng.integers(0, 2, size=1200)
    ids[np.arange(1200), rng.integers(0, 20, size=1200)] = np.where(codes == 1, 1, 2)
    found = quick_audit("binary", ids[900:], codes[900:], reference=(ids[:900], codes[:900]), tokens=500)
    assert found.features == [] and found.scaled_features
    assert found.reference_metrics["val_balanced_accuracy"] > 0.95
    as_numbers = quick_audit("binary", ids[900:], codes[900:], reference=(ids[:900], codes[:900]))
    assert as_numbers.linear_reference_metrics["val_balanced_accuracy"] < 0.7 and not as_numbers.scaled_features


def test_a_binary_loss_on_labels_with_six_integer_values_reads_them_as_six_classes():
    from plateau_doctor.training.scoring import labels_task

    assert labels_task("binary", np.array([0, 3, 5, 1, 2, 4])) == "multiclass"
    assert labels_task("binary", np.array([0, 1, 1, 0])) == "binary"
    assert labels_task("binary", np.array([0.2, 0.9, 0.4])) == "binary"  # soft targets stay a yes/no
    assert labels_task("regression", np.array([0, 3, 5])) == "regression"
    # When only the output said binary (a sigmoid under MSE), labels that are no class codes are a target.
    assert labels_task("binary", np.array([-0.8, 0.3, 1.2]), loss_decides=False) == "regression"
    assert labels_task("binary", np.array([0.2, 0.9, 0.4]), loss_decides=False) == "regression"
    assert labels_task("binary", np.array([0, 1, 1, 0]), loss_decides=False) == "binary"


def test_the_scales_an_image_or_a_wide_table_shows_are_read_per_channel_or_pooled():
    from plateau_doctor.data.audit import input_stats, quick_audit

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 16, 16, 3)).astype("uint8")  # image files' bytes, unscaled
    channels = input_stats(pixels)
    assert [f.name for f in channels] == [f"channel {i} (all 256 positions)" for i in range(3)]
    assert all(100 < f.mean < 155 and f.max == 255 for f in channels)
    wide = input_stats(rng.random((10, 784)))  # flattened pixels in [0, 1]
    assert len(wide) == 1 and wide[0].name == "all 784 values of a row" and wide[0].max <= 1.0
    audit = quick_audit("multiclass", pixels, np.arange(40) % 3)
    assert audit.n_features == 3 and not audit.scaled_features
    assert quick_audit("binary", rng.integers(0, 300, (8, 12)), np.arange(8) % 2, tokens=300).features == []
