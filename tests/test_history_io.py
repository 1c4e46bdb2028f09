"""``plateau-doctor diagnose`` and ``plateau_doctor.diagnose``: every log format, bad logs exit 2,
and the path starts neither Prefect nor TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from plateau_doctor.cli import main
from plateau_doctor.data.logs import HistoryFileError, read_history
from plateau_doctor.results.store import read_dataset

FLAT = [1.27, 1.27, 1.269, 1.269, 1.269, 1.268, 1.268, 1.268, 1.268, 1.267]
HISTORY = {"loss": FLAT, "val_loss": [v - 0.03 for v in FLAT], "learning_rate": [1e-6] * 10}


def _csvlogger(path: Path) -> Path:
    frame = pd.DataFrame(HISTORY)
    frame.insert(0, "epoch", range(len(frame)))  # CSVLogger counts from 0
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["csvlogger", "history_json", "wrapped_json", "records_json", "parquet"])
def test_every_file_format_reads_to_the_same_curves(tmp_path, kind):
    if kind == "csvlogger":
        path = _csvlogger(tmp_path / "log.csv")
    elif kind == "history_json":
        path = tmp_path / "history.json"
        path.write_text(json.dumps(HISTORY))
    elif kind == "wrapped_json":
        path = tmp_path / "history.json"
        path.write_text(json.dumps({"history": HISTORY, "params": {"epochs": 10}}))
    elif kind == "records_json":
        path = tmp_path / "history.json"
        path.write_text(json.dumps(pd.DataFrame(HISTORY).to_dict(orient="records")))
    else:
        path = tmp_path / "history.parquet"
        pd.DataFrame(HISTORY).assign(epoch=range(1, 11)).to_parquet(path)
    frame = read_history(path)
    assert frame["epoch"].tolist() == list(range(1, 11))
    assert frame["loss"].tolist() == FLAT
    assert frame["learning_rate"].iloc[0] == 1e-6


def test_the_cli_writes_the_run_files_and_prints_the_verdict(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["diagnose", str(_csvlogger(tmp_path / "log.csv")), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verdict: sick" in printed and "learning_rate_too_low" in printed
    run_dir = next((out / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "sick" and summary["chosen_remedy"] is None
    assert summary["causes"][0]["cause"] == "learning_rate_too_low"
    assert (run_dir / "report.html").stat().st_size > 1000
    history, diagnosis = read_dataset(out, "history"), read_dataset(out, "diagnosis")
    assert len(history) == 10 and set(history["run_id"].astype(str)) == {run_dir.name}
    assert {"symptom", "cause"} == set(diagnosis["kind"])
    assert "not checked" in diagnosis["evidence"].iloc[0]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("log.csv", "epoch,accuracy\n0,0.5\n1,0.6\n", "no 'loss' or 'val_loss' column"),
        ("log.json", '{"loss": [1, 2], "val_loss": [1]}', "all lists the same length"),
        ("log.json", "{not json", "cannot be read as a training log"),
        ("log.csv", "", "cannot be read as a training log"),
        ("log.h5", "x", "unknown log format"),
    ],
)
def test_a_malformed_log_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "results"
    assert main(["diagnose", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and err.count("\n") == 1
    assert not out.exists()


def test_a_missing_log_and_an_empty_folder_exit_2(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "nope.csv")]) == 2
    (tmp_path / "tb").mkdir()
    assert main(["diagnose", str(tmp_path / "tb")]) == 2
    assert "no TensorBoard event file" in capsys.readouterr().err


def test_diagnose_starts_neither_prefect_nor_tensorflow(tmp_path):
    log = _csvlogger(tmp_path / "log.csv")
    code = (
        "import sys\n"
        "from plateau_doctor.cli import main\n"
        f"assert main(['diagnose', {str(log)!r}, '--out', {str(tmp_path / 'out')!r}]) == 0\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'prefect', 'jax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_tensorboard_folder_is_read_with_what_tensorflow_ships(tmp_path):
    """Event files as Keras' TensorBoard callback lays them out (train/ and validation/, ``epoch_*``
    scalars, stored as tensors), written as the TFRecords of Event protos they are: the
    TensorBoard package that tf.summary needs to write them is not installed here."""
    import tensorflow as tf

    for run, losses in (("train", [1.0, 0.8, 0.7]), ("validation", [1.1, 0.9, 0.85])):
        (tmp_path / "tb" / run).mkdir(parents=True)
        with tf.io.TFRecordWriter(str(tmp_path / "tb" / run / "events.out.tfevents.1.host")) as writer:
            for step, loss in enumerate(losses):
                values = [
                    tf.compat.v1.Summary.Value(tag="epoch_loss", tensor=tf.make_tensor_proto(loss, dtype=tf.float32)),
                    tf.compat.v1.Summary.Value(tag="batch_loss", simple_value=9.0),  # not a per-epoch curve
                ]
                if run == "train":
                    values.append(tf.compat.v1.Summary.Value(tag="epoch_learning_rate", simple_value=0.01))
                event = tf.compat.v1.Event(step=step, summary=tf.compat.v1.Summary(value=values))
                writer.write(event.SerializeToString())
    frame = read_history(tmp_path / "tb")
    assert frame["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert frame["loss"].round(4).tolist() == [1.0, 0.8, 0.7]
    assert frame["val_loss"].round(4).tolist() == [1.1, 0.9, 0.85]
    assert frame["learning_rate"].round(4).tolist() == [0.01] * 3
    assert "batch_loss" not in frame


def test_read_history_errors_are_user_input_errors(tmp_path):
    with pytest.raises(HistoryFileError) as raised:
        read_history(tmp_path / "missing.csv")
    assert raised.value.exit_code == 2 and os.fspath(tmp_path) in str(raised.value)
