"""A fit that validates every k-th epoch (Keras' ``validation_freq``) logs no ``val_`` metric at
the others: a missing value, not the NaN of weights that overflowed. Hand-written curves; the
CSVLogger file and the callback's own fit are in the last tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.cadence import kept_among_validated, not_validated, on_validated_epochs
from plateau_doctor.engine.log_doctor import diagnose_curves

NAN = math.nan
TRAIN = [0.69 * 0.9 ** n for n in range(12)]


def _every_third(values):
    return [value if (n + 1) % 3 == 0 else NAN for n, value in enumerate(values)]


def test_epochs_between_validations_are_not_validated_and_the_rest_are_kept():
    val = _every_third([0.7 * 0.9 ** n for n in range(12)])
    mask = not_validated({"loss": TRAIN, "val_loss": val})
    assert mask.tolist() == [(n + 1) % 3 != 0 for n in range(12)]
    kept, detection, _ = on_validated_epochs({"loss": TRAIN, "val_loss": val, "epoch": list(range(1, 13))},
                                             DetectionConfig(start_from_epoch=3))
    assert kept["epoch"] == [3, 6, 9, 12] and all(math.isfinite(v) for v in kept["val_loss"])
    assert detection.start_from_epoch == 1  # the 3 warm-up epochs trained hold one validation
    assert kept_among_validated(9, mask) == 3  # EarlyStopping's epoch 9 is the third validated one


def test_epochs_after_the_last_validation_within_one_interval_are_not_validated():
    val = _every_third([0.7 * 0.9 ** n for n in range(12)])[:11]  # epochs 10 and 11 follow the validation at 9
    assert not_validated({"loss": TRAIN[:11], "val_loss": val}).tolist()[-2:] == [True, True]


@pytest.mark.parametrize("train, val", [
    # weights overflowed: the training loss is NaN too, and no validation loss is finite again
    (TRAIN[:6] + [NAN] * 6, [0.7] * 6 + [NAN] * 6),
    # validated every epoch, NaN at the last: one interval is one epoch, so no epoch is skipped
    (TRAIN, [0.7] * 11 + [NAN]),
    # validated at every epoch, or never
    (TRAIN, [0.7] * 12),
    (TRAIN, [NAN] * 12),
])
def test_a_nan_that_is_the_weights_own_is_not_a_skipped_validation(train, val):
    assert not_validated({"loss": train, "val_loss": val}) is None


def test_a_validation_freq_log_is_read_at_its_validated_epochs_not_as_diverged():
    """Before, every such log was `diverged` ("val_loss is nan at epoch 1"), and a callback with
    stop_when_sick stopped the user's healthy fit at its first validation."""
    val = _every_third([0.75 * 0.8 ** n + 0.05 for n in range(24)])
    train = [0.69 * 0.8 ** n + 0.03 for n in range(24)]
    found = diagnose_curves({"loss": train, "val_loss": val})
    assert "diverged" not in [s.name for s in found.symptoms]
    assert len(found.history) == 8 and any("logged at 8 of 24 epochs" in note for note in found.not_checked)
    diverged = diagnose_curves({"loss": train[:20] + [NAN] * 4, "val_loss": val[:20] + [NAN] * 4})
    assert [s.name for s in diverged.symptoms] == ["diverged"]


def test_a_csvlogger_file_of_a_validation_freq_fit_reads_its_na_cells_as_missing(tmp_path):
    from plateau_doctor.cli import main

    rows = ["epoch,loss,val_loss"] + [
        f"{n},{0.69 * 0.8 ** n + 0.03:.4f}," + (f"{0.75 * 0.8 ** n + 0.05:.4f}" if (n + 1) % 3 == 0 else "NA")
        for n in range(24)]
    log = tmp_path / "training.log"
    log.write_text("\n".join(rows) + "\n")
    assert main(["diagnose", str(log), "--out", str(tmp_path / "out")]) == 0
    import json
    summary = json.loads(next((tmp_path / "out" / "runs").iterdir()).joinpath("summary.json").read_text())
    assert "diverged" not in summary["symptoms"]
    assert any("logged at 8 of 24 epochs" in note for note in summary["not_checked"])


@pytest.mark.slow
def test_the_callback_neither_stops_nor_condemns_a_fit_that_validates_every_third_epoch(tmp_path):
    keras = pytest.importorskip("keras")
    from plateau_doctor.training.callback import DoctorCallback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    doctor = DoctorCallback(out=tmp_path, reference=(x[:900], y[:900]), stop_when_sick=True, verbose=False)
    history = model.fit(x[:900], y[:900], validation_data=(x[900:], y[900:]), validation_freq=3, epochs=15,
                        verbose=0, callbacks=[doctor]).history
    assert len(history["loss"]) == 15 and len(history["val_loss"]) == 5  # not stopped
    assert "diverged" not in doctor.summary["symptoms"]
    assert any("logged at 5 of 15 epochs" in note for note in doctor.diagnosis.not_checked)


def test_a_history_json_of_a_validation_freq_fit_spreads_its_validations_over_their_epochs(tmp_path):
    """Keras 3's History keeps one val_ value per validation: 8 where loss has 24. Before, the file
    was refused ("all lists the same length")."""
    import json

    from plateau_doctor.data.logs import read_log

    history = {"loss": [0.69 * 0.8 ** n + 0.03 for n in range(24)],
               "val_loss": [0.75 * 0.8 ** (3 * m + 2) + 0.05 for m in range(8)], "val_accuracy": [0.9] * 8}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    log = read_log(path)
    assert log.history["val_loss"].notna().tolist() == [(n + 1) % 3 == 0 for n in range(24)]
    assert log.skipped == ["val_ lists of 8 values for 24 epochs: read as validation_freq=3, the validations at epochs"
                           " 3, 6, ..., 24"]
    found = diagnose_curves(log.history)
    assert "diverged" not in [s.name for s in found.symptoms] and len(found.history) == 8
    # lengths no single validation_freq explains stay refused: 2 values for 30 epochs fit k = 11 to 15
    path.write_text(json.dumps({"loss": [1.0] * 30, "val_loss": [1.0, 0.9]}))
    with pytest.raises(Exception, match="all lists the same length"):
        read_log(path)


def test_a_console_paste_of_a_validation_freq_fit_is_read_at_its_validated_epochs():
    from plateau_doctor.data.console import parse_console

    text = "".join(f"Epoch {n}/12\n8/8 [====] - 0s - loss: {0.69 * 0.8 ** n:.4f}"
                   + (f" - val_loss: {0.7 * 0.8 ** n:.4f}" if n % 3 == 0 else "") + "\n" for n in range(1, 13))
    parsed = parse_console(text)
    assert len(parsed.frame) == 12 and parsed.skipped == []
    found = diagnose_curves(parsed.frame, fit=parsed.fit)
    assert "diverged" not in [s.name for s in found.symptoms] and len(found.history) == 4
