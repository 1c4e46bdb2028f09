"""``plateau-doctor diagnose`` and ``plateau_doctor.diagnose``: every log format, bad logs exit 2,
and the path starts neither Prefect nor TensorFlow."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from plateau_doctor.cli import main
from plateau_doctor.data.logs import HistoryFileError, read_history, read_log
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


def test_a_history_json_with_keys_users_add_is_read_and_the_extras_are_named(tmp_path):
    # Users add to History.history before dumping it: a training time, a test score, a second
    # (fine-tuning) phase's lists of another length. The epochs are the loss list's.
    payload = {"loss": [0.9, 0.6, 0.5, 0.45, 0.43], "val_loss": [0.8, 0.6, 0.55, 0.5, 0.49],
               "accuracy": [0.5, 0.7, 0.8, 0.82, 0.84], "fine_tune_loss": [0.4, 0.38], "training_time": 1495.4}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(payload))
    log = read_log(path)
    assert list(log.history["loss"]) == payload["loss"] and "fine_tune_loss" not in log.history
    assert log.skipped == ["training_time: one value, not a per-epoch list",
                           "fine_tune_loss: 2 values where loss has 5 (another phase or run)"]


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


# Malformed logs as they are found (shared/FIELD-NOTES.md, "Real CSVLogger files"): each is either
# read, with what was skipped said on the verdict, or refused with exit 2 and one line naming
# the file. name, content, exit status, text the output must hold, the loss curve read (exit 0), its
# epochs when not 1..n (a skipped row keeps its epoch's place)
MALFORMED = [
    ("non-numeric.csv", b"epoch,loss,val_loss\n0,abc,1.0\n1,0.9,0.95\n2,?,0.9\n3,0.8,0.85\n4,0.7,0.8\n", 0,
     "the log: 2 rows with non-numeric loss skipped: epoch 0 'abc', epoch 2 '?'", [0.9, 0.8, 0.7], [1, 3, 4]),
    ("all-text.csv", b"epoch,loss\n0,abc\n", 2, "no numeric loss in any row (epoch 0 'abc')", None, None),
    ("text-val.json", b'{"loss": [1.0, 0.9, 0.8], "val_loss": [1.1, "n/a?", 0.9]}', 0,
     "1 row with non-numeric val_loss skipped: row 2 'n/a?'", [1.0, 0.8], None),
    ("text-metric.csv", b"epoch,loss,accuracy\n0,1.0,0.5\n1,0.9,x\n2,0.8,0.7\n", 0,
     "accuracy: 1 non-numeric value read as missing: epoch 1 'x'", [1.0, 0.9, 0.8], None),
    ("empty.csv", b"", 2, "the file is empty", None, None),
    ("blank.log", b"\n\n  \n", 2, "the file is empty", None, None),
    ("header-only.csv", b"epoch,loss,val_loss\n", 2, "the log has no epoch", None, None),
    ("crcrlf.csv", b"epoch,loss,val_loss\r\r\n0,1.0,1.1\r\r\n1,0.9,1.0\r\r\n2,0.8,0.9\r\r\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    ("bom.csv", b"\xef\xbb\xbfepoch,loss\n5,1.0\n6,0.9\n", 0, "verdict", [1.0, 0.9], None),
    ("no-epoch.csv", b"loss,val_loss\n1.0,1.1\n0.9,1.0\n0.8,0.9\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    ("epoch-last.csv", b"loss,val_loss,epoch\n0.9,1.0,2\n1.0,1.1,1\n0.8,0.9,3\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    ("negative.csv", b"epoch,loss,val_loss\n0,-1.0,-0.9\n1,-1.5,-1.2\n2,-1.8,-1.3\n3,-2.0,-1.4\n", 0,
     "symptoms: converged", [-1.0, -1.5, -1.8, -2.0], None),
    ("train-only.csv", b"epoch,loss,accuracy\n0,1.0,0.5\n1,0.9,0.6\n2,0.8,0.7\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    ("lr.csv", b"epoch,loss,val_loss,lr\n0,1.0,1.1,0.01\n1,0.9,1.0,0.01\n2,0.8,0.9,0.001\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    # A title a user wrote above CSVLogger(separator=";")'s header: the separator was sniffed from the title.
    ("titled.csv", b"model_history_log\nepoch;accuracy;loss;val_loss\n0;0.4;1.0;1.1\n1;0.8;0.9;1.0\n2;0.9;0.8;0.9\n", 0,
     "1 line above the header skipped: 'model_history_log'", [1.0, 0.9, 0.8], [1, 2, 3]),
    ("titled-quoted.csv", b'Run 3 (Adam, lr=1e-3)\n\n"epoch","loss","val_loss"\n0,1.0,1.1\n1,0.9,1.0\n2,0.8,0.9\n', 0,
     "2 lines above the header skipped: 'Run 3 (Adam, lr=1e-3)'", [1.0, 0.9, 0.8], [1, 2, 3]),
    # History.history written with str() or print(): the repr, behind a label, or one list per line.
    ("repr.txt", b"{'loss': [1.0, 0.9, 0.8], 'val_loss': [1.1, 1.0, nan]}\n", 0, "verdict", [1.0, 0.9, 0.8], None),
    ("numpy-repr.txt", b"{'loss': [np.float32(1.0), np.float32(0.9), np.float32(0.8)], 'lr': np.float64(0.01)}", 0,
     "lr: one value, not a per-epoch list", [1.0, 0.9, 0.8], None),
    ("labelled.txt", b"Training history: {'accuracy': [0.5, 0.6, 0.7], 'loss': [1.0, 0.9, 0.8]}\nMean accuracy: 0.6\n", 0,
     "text before the history on its line skipped: 'Training history:'; the log: 1 other line skipped: 'Mean accuracy: 0.6'",
     [1.0, 0.9, 0.8], None),
    ("key-lines.log", b"loss: [1.0, 0.9, 0.8]\nval_loss = [1.1, 1.0, 0.9]\naccuracy: [0.5, 0.6, 0.7]\n", 0, "verdict",
     [1.0, 0.9, 0.8], None),
    ("no-loss-repr.txt", b"{'acc': [0.5, 0.6, 0.7]}", 2, "no 'loss' or 'val_loss' column (found accuracy)", None, None),
    ("header-too-low.csv", b"a\nb\nc\nd\ne\nf\nepoch;loss\n0;1.0\n1;0.9\n", 2, "no 'loss' or 'val_loss' column", None, None),
    ("nan-from-start.json", b'{"loss": [NaN, NaN, NaN]}', 0, "diverged", [math.nan] * 3, None),
    ("model.json", b'{"class_name": "Sequential", "config": {"layers": []}}', 2, "expected History.history", None, None),
    ("numbers.json", b"[0.9, 0.8, 0.7]", 2, "expected History.history", None, None),
    ("truncated.json", b'{"loss": [1.0, 0.9, 0.8], "val_loss": [1.1, 1.0', 2, "the file ends early: truncated?)", None, None),
    ("garbage.csv", bytes(range(256)) * 4, 2, "binary content, not text", None, None),
    ("garbage.log", b"\x89HDF\r\n\x1a\n" + bytes(range(128, 256)) * 8, 2, "binary content, not text", None, None),
    ("model.h5", b"\x89HDF\r\n\x1a\n" + bytes(range(256)), 2, "unknown log format '.h5'", None, None),
    # np.save(path, history.history) pickles the dict; unpickling runs whatever the file carries
    ("history.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (), }" + b"\x80\x04",
     2, "a pickle is not loaded (it runs code it carries): json.dump its History.history instead", None, None),
]


@pytest.mark.parametrize("name, content, status, says, losses, epochs", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_log_is_read_with_what_was_skipped_or_refused_in_one_line(tmp_path, capsys, name, content,
                                                                               status, says, losses, epochs):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "results"
    assert main(["diagnose", str(path), "--out", str(out)]) == status
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err and "failed:" not in printed.err
    if status == 2:
        assert says in printed.err and str(path) in printed.err and printed.err.count("\n") == 1
        assert printed.out == "" and not out.exists()
        return
    assert says in printed.out and printed.err == ""
    frame = read_history(path)
    assert frame["loss"].tolist() == pytest.approx(losses, nan_ok=True)
    assert frame["epoch"].tolist() == (epochs or list(range(1, len(losses) + 1)))


def test_skipped_rows_lead_the_summary_and_the_reports_evidence(tmp_path):
    from plateau_doctor.api import diagnose

    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\n" + "".join(f"{i},{'abc' if i == 3 else 1.27 - i / 1000},1.2\n" for i in range(12)))
    result = diagnose(path, out=tmp_path / "results")
    note = "the log: 1 row with non-numeric loss skipped: epoch 3 'abc'"
    assert result.summary["not_checked"][0] == note
    assert len(result.history) == 11
    assert note in (result.run_dir / "report.md").read_text()


def test_a_learning_rate_column_named_lr_is_read_as_the_rate(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,lr\n0,1.0,0.01\n1,0.9,0.01\n2,0.8,0.001\n")
    assert read_history(path)["learning_rate"].tolist() == [0.01, 0.01, 0.001]


def test_negative_losses_are_values_not_breakage(tmp_path):
    """Custom losses (a negative log-likelihood, a contrastive loss) go below zero: not skipped, not diverged."""
    from plateau_doctor.api import diagnose

    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n" + "".join(f"{i},{-0.5 - i / 10}\n" for i in range(10)))
    result = diagnose(path, out=None)
    assert "diverged" not in result.summary["symptoms"] and not result.summary["not_checked"][0].startswith("the log")


def test_a_bad_log_through_the_installed_command_exits_2_without_a_traceback(tmp_path):
    """The console script's path (``entry``), not only ``main``: the status reaches the shell."""
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,abc\n")
    code = "import sys; from plateau_doctor.cli import entry; sys.argv = ['plateau-doctor', 'diagnose', sys.argv[1]]; entry()"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"plateau-doctor: error: {path}: no numeric loss in any row (epoch 0 'abc')"


@pytest.mark.slow
def test_output_piped_into_a_reader_that_stopped_reading_ends_without_a_traceback(tmp_path):
    """`plateau-doctor diagnose log | head -1`: the read end is closed before the verdict is printed."""
    path = _csvlogger(tmp_path / "log.csv")
    code = "import sys; from plateau_doctor.cli import entry; sys.argv = ['plateau-doctor', 'diagnose', sys.argv[1]]; entry()"
    read, write = os.pipe()
    os.close(read)  # a reader that is already gone: every write gets EPIPE
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path)],  # results/ under cwd, the default
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 1
    assert list((tmp_path / "results").glob("runs/*/summary.json"))  # the run itself was written before the print


def test_a_tensorboard_folder_reads_without_library_warnings_and_one_without_scalars_exits_2(tmp_path):
    """Event files written with ``tf.summary``; the CLI reads them in a fresh process, where TensorFlow's
    deprecation notice for ``tf_record_iterator`` would be printed (once per process)."""
    write = (
        "import sys, tensorflow as tf\n"
        "root = sys.argv[1]\n"
        "for run, tag, base in (('train', 'epoch_loss', 1.0), ('validation', 'epoch_loss', 1.1), ('batches/train', 'batch_loss', 1.0)):\n"
        "    writer = tf.summary.create_file_writer(f'{root}/{run}')\n"
        "    with writer.as_default():\n"
        "        for step in range(12):\n"
        "            tf.summary.write(tag, tf.constant(base / (step + 1)), step=step)\n"
        "    writer.flush()\n"
    )
    subprocess.run([sys.executable, "-c", write, str(tmp_path / "tb")], check=True, capture_output=True, timeout=300)
    (tmp_path / "tb" / "batches").rename(tmp_path / "only_batches")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    code = "import sys; from plateau_doctor.cli import entry; sys.argv = ['plateau-doctor', 'diagnose', *sys.argv[1:]]; entry()"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tb"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0 and "verdict" in done.stdout, done.stderr
    assert "deprecat" not in (done.stderr + done.stdout).lower() and done.stderr == ""
    refused = subprocess.run([sys.executable, "-c", code, str(tmp_path / "only_batches")],
                             capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == f"plateau-doctor: error: {tmp_path / 'only_batches'}: the event files hold no per-epoch scalar (epoch_loss, ...)\n"


def test_a_history_saved_as_the_string_of_its_dict_is_read_and_a_string_of_anything_else_is_refused(tmp_path):
    # json.dump(str(history.history)) writes one JSON string holding the dict's repr, nan and inf included.
    saved = {"loss": [0.9, 0.5, float("nan"), 0.3, 0.2], "val_loss": [1.0, 0.6, 0.5, float("inf"), 0.4]}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(str(saved)))
    history = read_history(path)
    assert list(history["loss"][:2]) == [0.9, 0.5] and math.isnan(history["loss"][2])
    assert history["val_loss"][3] == math.inf
    other = tmp_path / "other.json"
    other.write_text(json.dumps("loss went down"))
    with pytest.raises(HistoryFileError, match="expected History.history"):
        read_history(other)
