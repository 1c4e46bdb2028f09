"""DoctorCallback(repair=True) inside a user's own fit: real (small) Keras CNNs on 8x8 digits."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    return train_test_split(images, digits.target, test_size=0.25, random_state=0, stratify=digits.target)


def _cnn(optimizer):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(optimizer, epochs, tmp_path, repair):
    from plateau_doctor.training.callback import DoctorCallback

    x_train, x_val, y_train, y_val = _digits()
    model = _cnn(optimizer)
    doctor = DoctorCallback(out=str(tmp_path), reference=(x_train, y_train), repair=repair, verbose=False)
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0,
                        callbacks=[doctor])
    return model, doctor, history.history


def test_a_cnn_thrown_out_by_adam_at_1_is_repaired_inside_the_same_15_epochs(tmp_path):
    import keras

    _, watched, plain = _fit(keras.optimizers.Adam(learning_rate=1.0), 15, tmp_path / "watched", repair=False)
    assert plain["val_accuracy"][-1] <= 0.2  # without repair: chance (10 classes)
    assert "live_repairs" not in watched.summary and watched.summary["status"] == "sick"  # it only watched

    model, doctor, history = _fit(keras.optimizers.Adam(learning_rate=1.0), 15, tmp_path / "repaired", repair=True)
    x_val, y_val = _digits()[1::2]
    assert model.evaluate(x_val, y_val, verbose=0)[1] >= 0.90  # the model the fit leaves
    # At the repaired rate this CNN may go on to overfit its 1,347 rows (the threads' summation
    # order decides it): then a second action stops at its best epoch, as it should.
    action, *then = doctor.summary["live_repairs"]
    assert len(history["loss"]) == 15 if not then else then[0]["action"] == "restore the best weights, stop"
    assert action["epoch"] == 1 and action["restored_epoch"] == 0 and action["learning_rate_before"] == 1.0
    assert 1e-5 < action["learning_rate_after"] < 0.1 and "range test" in action["rate_evidence"]
    assert "update_ratio" in action["reason"]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(action["learning_rate_after"])
    assert doctor.summary["status"] == "healthy"
    run = doctor.run_dir
    assert json.loads((run / "summary.json").read_text())["live_repairs"][0]["epoch"] == 1
    report = (run / "report.md").read_text()
    assert "## Repairs during the fit" in report and "restore the weights, learning rate 1 -" in report
    assert f"Healthy after {1 + len(then)} repair(s) during the fit" in report  # not "nothing to repair"


def test_a_fit_stopped_at_its_best_weights_after_a_repair_is_judged_on_the_model_it_keeps(tmp_path):
    """Adam at 1 throws a digits MLP out at epoch 1 (restored, rate lowered); at the new rate it
    overfits its 300 rows (30% of labels shuffled) and is stopped at its best epoch. The verdict
    and the summary's final metrics are the kept model's: the epochs trained since the first
    action up to the restored one. Before, the verdict read from epoch 1 (its blown-up loss of 47
    made the short run "slow_convergence", sick) and `final` gave the last epoch's val_loss
    (2.15), not the kept model's (1.51)."""
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from plateau_doctor.training.callback import DoctorCallback

    digits = load_digits()
    y = digits.target.copy()
    rng = np.random.default_rng(0)
    shuffled = rng.random(len(y)) < 0.3
    y[shuffled] = rng.integers(0, 10, shuffled.sum())
    x_train, x_val, y_train, y_val = train_test_split((digits.data / 16).astype("float32"), y, train_size=300,
                                                      test_size=400, random_state=0, stratify=y)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(1.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    doctor = DoctorCallback(out=str(tmp_path), reference=(x_train, y_train), repair=True, verbose=False)
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=40, batch_size=32, verbose=0,
                        callbacks=[doctor]).history
    first, stop = doctor.summary["live_repairs"]
    assert first["action"].startswith("restore the weights, learning rate 1 ->") and first["epoch"] == 1
    assert stop["action"] == "restore the best weights, stop" and first["epoch"] < stop["restored_epoch"] < stop["epoch"]
    kept_loss = model.evaluate(x_val, y_val, verbose=0)[0]
    assert kept_loss == pytest.approx(history["val_loss"][stop["restored_epoch"] - 1], rel=1e-4)
    assert doctor.summary["final"]["metrics"]["val_loss"] == pytest.approx(kept_loss, rel=1e-4)
    # The summary's history is the whole fit: the kept model is named by its epoch there.
    assert doctor.summary["setup"]["kept_epoch"] == stop["restored_epoch"] < len(history["val_loss"])
    assert history["val_loss"][-1] > 1.2 * kept_loss  # the last epoch is not the kept model
    assert doctor.summary["status"] == "healthy"
    (converged,) = doctor.diagnosis.symptoms
    kept = stop["restored_epoch"] - first["epoch"]
    assert converged.name == "converged" and f"only {kept} epoch(s)" in converged.evidence


def test_a_cnn_stalled_by_sgd_at_1e_4_gets_a_higher_rate_from_its_causes_treatment(tmp_path):
    import keras

    _, doctor, history = _fit(keras.optimizers.SGD(learning_rate=1e-4), 20, tmp_path, repair=True)
    (action,) = doctor.summary["live_repairs"]
    assert action["remedy"] == "learning_rate" and action["learning_rate_after"] > 1e-3
    assert "learning_rate_too_low" in action["reason"] and action["restored_epoch"] is None
    assert action["left_out"] == ["training.reduce_lr_on_plateau"]
    assert history["val_accuracy"][action["epoch"] - 1] < 0.3 and history["val_accuracy"][-1] >= 0.90
    assert np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_live_repair_restores_and_lowers_the_rate_on_the_other_backends(tmp_path, backend):
    """The JAX trainer re-reads the variables at each epoch's start and torch trains eagerly:
    restored weights and a new rate set at an epoch's end are what the next epoch trains."""
    import os
    import subprocess
    import sys
    import textwrap

    pytest.importorskip(backend)
    code = textwrap.dedent(f"""
        import json
        import keras
        assert keras.backend.backend() == {backend!r}
        import sys; sys.path.insert(0, {str(tmp_path.parent)!r})
        from tests.test_live_repair import _fit
        from pathlib import Path
        _, doctor, history = _fit(keras.optimizers.Adam(learning_rate=1.0), 6, Path({str(tmp_path)!r}), repair=True)
        print(json.dumps({{"actions": doctor.summary["live_repairs"], "val_accuracy": history["val_accuracy"]}}))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    (action,) = found["actions"]
    assert action["epoch"] == 1 and action["restored_epoch"] == 0 and action["learning_rate_after"] < 0.1
    assert found["val_accuracy"][0] <= 0.2 and found["val_accuracy"][-1] >= 0.85


def test_the_range_test_leaves_the_weights_as_they_were_and_a_failed_one_falls_back_to_the_treatments_rate():
    import keras

    from plateau_doctor.engine.live import LiveAction
    from plateau_doctor.training.live_repair import LiveRepair, current_rate

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(learning_rate=0.5), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=64).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)  # builds the optimizer's state
    live = LiveRepair()
    live.start(model)
    before = [w.copy() for w in model.get_weights()]
    action = LiveAction("learning_rate", "why", rate=0.05, direction="lower", range_test=True)

    swept = live.act(model, action, 1, (x, y))
    assert "range test" in swept.rate_evidence and swept.learning_rate_after < 0.5
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the sweep put them back
    assert current_rate(model.optimizer) == pytest.approx(swept.learning_rate_after)

    model.optimizer.learning_rate.assign(0.5)
    failed = live.act(model, action, 2, (np.zeros((8, 99), "float32"), np.zeros(8, "float32")))  # rows it cannot take
    assert failed.learning_rate_after == pytest.approx(0.05) and "no range test ran" in failed.rate_evidence
    assert current_rate(model.optimizer) == pytest.approx(0.05)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
