"""The bad-input matrix: each kind of bad input is refused by the real CLI with exit 2.

Every case asserts: exit status 2; exactly one ``plateau-doctor: error:`` line, which
names the field or column and says what to do; no traceback; nothing under the results
folder; under 30 s of CPU and of wall time (the wall limit grows only on a machine loaded
far beyond its cores, where a shared runner's contention, not the CLI, sets it). The
checks run before Prefect starts, and the data checks before
TensorFlow is imported, so most cases take a second or two. Cases that need Keras
(identifiers, a loadable model.path's contents, losses) take seconds more each and are
marked slow.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import make_classification_frame, make_regression_frame

CLI = [sys.executable, "-m", "plateau_doctor.cli"]
slow = pytest.mark.slow


class Case:
    """A folder with a good table and config; each case spoils one thing and names what the message must say."""

    def __init__(self, root: Path):
        self.root = root
        self.args: list[str] = []
        self.frame = make_classification_frame(120, 4)
        self.config: dict[str, str] = {"data": "  path: table.csv\n  target: target", "training": "  epochs: 2"}
        self.config_text: str | None = None
        self.out = root / "results"
        self.use_out = True
        self.argv: list[str] | None = None  # a whole command line instead of `run --config ...`

    def write(self) -> list[str]:
        if self.frame is not None:
            self.frame.to_csv(self.root / "table.csv", index=False)
        text = self.config_text
        if text is None:
            text = "".join(f"{section}:\n{body}\n" for section, body in self.config.items())
        (self.root / "config.yaml").write_text(text)
        if self.argv is not None:
            return self.argv
        args = ["run", "--config", "config.yaml"]
        if self.use_out:
            args += ["--out", str(self.out)]
        return args + self.args


def _split_rows(frame: pd.DataFrame) -> tuple[int, int]:
    """A row index that lands in the training split and one in the validation split (the CLI's own split)."""
    from plateau_doctor.config import DataConfig
    from plateau_doctor.data.checks import select_columns
    from plateau_doctor.data.split import split_rows

    x, y = select_columns(frame, DataConfig(path="t.csv"))
    x_train, x_val, _, _ = split_rows(x, y, "binary", DataConfig(path="t.csv"))
    return int(x_train.index[0]), int(x_val.index[0])


def _parquet_folder(case: Case, extra_in_first: bool) -> None:
    folder = case.root / "parts"
    folder.mkdir()
    first, second = case.frame.iloc[:60].copy(), case.frame.iloc[60:].copy()
    (first if extra_in_first else second)["f9"] = 1.0
    first.to_parquet(folder / "a.parquet")
    second.to_parquet(folder / "b.parquet")
    case.frame = None
    case.config["data"] = "  path: parts\n  target: target"


@functools.lru_cache(maxsize=1)
def saved_models() -> Path:
    """A model with the wrong input width and one without a Dense layer, saved by Keras (made once, when needed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    folder = Path(tempfile.mkdtemp(prefix="plateau-doctor-models-"))
    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs)).save(folder / "width3.keras")
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Flatten()(inputs)).save(folder / "nodense.keras")
    return folder


def _set(*assignments):
    def spoil(case):
        for assignment in assignments:
            case.args += ["--set", assignment]
    return spoil


def _data(body):
    def spoil(case):
        case.config["data"] = body
    return spoil


def _frame(change):
    def spoil(case):
        case.frame = change(case.frame.copy())
    return spoil


def _file_at_out(case):
    case.out = case.root / "results.txt"
    case.out.write_text("keep me\n")


def _under_file(case):
    (case.root / "results.txt").write_text("keep me\n")
    case.out = case.root / "results.txt" / "sub"


def _float32_overflow(where):
    def spoil(case):
        train_row, val_row = _split_rows(case.frame)
        case.frame = case.frame.copy()
        case.frame.loc[train_row if where == "train" else val_row, "f2"] = 1e300
    return spoil


def _regression(change=None):
    def spoil(case):
        case.frame = make_regression_frame(120, 4)
        if change is not None:
            case.frame = change(case.frame)
        case.config["data"] = "  path: table.csv\n  target: target\n  task: regression"
    return spoil


def _duplicate_columns(case):
    frame = case.frame
    (case.root / "table.csv").write_text("")
    header = "f0,f1,f0,target\n"
    rows = "".join(f"{a},{b},{c},{t}\n" for a, b, c, t in frame[["f0", "f1", "f2", "target"]].itertuples(index=False))
    case.frame = None
    (case.root / "table.csv").write_text(header + rows)


def _classes_300(case):
    rng = np.random.default_rng(0)
    case.frame = pd.DataFrame({"f0": rng.normal(size=300), "target": [f"class_{i:03d}" for i in range(300)]})


def _model(name):
    def spoil(case):
        case.config["model"] = f"  path: {saved_models() / name}"
    return spoil


def _garbage_model(case):
    (case.root / "model.keras").write_text("this is not a zip archive")
    case.config["model"] = "  path: model.keras"


def _write(name, content):
    def spoil(case):
        (case.root / name).write_bytes(content)
        case.frame = None
        case.config["data"] = f"  path: {name}\n  target: target"
    return spoil


def _empty_parquet_folder(case):
    (case.root / "parts").mkdir()
    case.frame = None
    case.config["data"] = "  path: parts\n  target: target"


def _streamed(change):
    """The table as Parquet, streamed (data.stream: true), after ``change``."""
    def spoil(case):
        frame = change(case.frame.copy())
        frame.to_parquet(case.root / "table.parquet")
        case.frame = None
        case.config["data"] = "  path: table.parquet\n  target: target\n  stream: true"
    return spoil


def _streamed_folder(extra_in_first: bool):
    def spoil(case):
        _parquet_folder(case, extra_in_first)
        case.config["data"] += "\n  stream: true"
    return spoil


def _diagnose(log: str | None, *extra: str):
    def spoil(case):
        case.frame = None
        if log is not None:
            (case.root / "log.csv").write_text(log)
        case.argv = ["diagnose", "log.csv", *extra]
    return spoil


def _config_text(text):
    def spoil(case):
        case.config_text = text
    return spoil


def _missing_config(case):
    case.config_text = ""
    case.args = []
    case.missing_config = True


# (id, spoil, words the one error line must hold: the field or column, and the fix)
CASES = [
    # --out and output.dir
    ("out-empty-string", lambda c: setattr(c, "out", ""), ["--out", "is empty", "give a results folder"]),
    ("out-existing-file", _file_at_out, ["--out", "is a file", "give a folder"]),
    ("out-under-a-file", _under_file, ["--out", "under the file", "give a folder elsewhere"]),
    ("output-dir-under-a-file", lambda c: (_under_file(c), setattr(c, "use_out", False),
                                           c.args.extend(["--set", f"output.dir={c.out}"])), ["output.dir", "under the file"]),
    # the config file and --set
    ("config-not-yaml", _config_text("data: [unclosed\n"), ["config file", "not valid YAML", "line 2", "fix the file"]),
    ("config-top-level-list", _config_text("- a\n- b\n"), ["config file", "mapping of sections"]),
    ("set-without-equals", _set("training.learning_rate"), ["--set", "dotted.key=VALUE"]),
    ("unknown-field", _set("training.epoch=3"), ["training.epoch: unknown field", "valid fields here are"]),
    ("negative-learning-rate", _set("training.learning_rate=-0.1"), ["training.learning_rate", "greater than 0"]),
    ("validation-fraction-above-1", _set("data.validation_fraction=1.5"), ["data.validation_fraction", "less than 1"]),
    ("unknown-remedy", _set("remedies.enabled=[magic]"), ["remedies.enabled", "learning_rate"]),
    ("batch-size-zero", _set("training.batch_size=0"), ["training.batch_size", "greater than or equal to 1"]),
    ("epochs-zero", _set("training.epochs=0"), ["training.epochs", "greater than or equal to 1"]),
    ("hidden-units-zero", _set("model.hidden_units=[0]"), ["model.hidden_units", "at least 1 unit"]),
    ("features-listed-twice", _set("data.features=[f0,f0]"), ["data.features", "list each column once"]),
    ("unknown-task", _set("data.task=ranking"), ["data.task", "binary"]),
    ("dropout-above-1", _set("model.dropout=1.5"), ["model.dropout", "less than 1"]),
    # the table
    ("data-path-missing", _data("  path: nope.csv\n  target: target"), ["data.path", "does not exist", "point data.path"]),
    ("data-path-suffix", _write("table.txt", b"a,target\n1,0\n"), ["data.path", "suffix", "use a .csv file"]),
    ("csv-zero-bytes", _write("empty.csv", b""), ["data.path", "empty", "give a CSV with a header"]),
    ("csv-header-only", _write("header.csv", b"f0,f1,target\n"), ["data.path", "no rows", "data rows"]),
    ("target-missing", _data("  path: table.csv\n  target: label"), ["data.target", "'label'", "its columns are"]),
    ("feature-missing", _data("  path: table.csv\n  target: target\n  features: [f0, nope]"), ["data.features", "'nope'"]),
    ("features-list-the-target", _data("  path: table.csv\n  target: target\n  features: [f0, target]"),
     ["data.features", "drop it from data.features"]),
    ("non-numeric-feature", _frame(lambda f: f.assign(color=["red", "blue"] * 60)), ["'color'", "Encode them as numbers"]),
    ("nan-in-feature", _frame(lambda f: f.assign(f1=f["f1"].where(f.index != 5))), ["'f1'", "1 missing", "Fill or drop"]),
    ("inf-in-feature", _frame(lambda f: f.assign(f1=f["f1"].where(f.index != 5, np.inf))), ["'f1'", "1 infinite", "Fill or drop"]),
    ("duplicate-column-names", _duplicate_columns, ["data.path", "'f0'", "unique name"]),
    ("float32-overflow-in-a-training-row", _float32_overflow("train"), ["'f2'", "float32", "Rescale"]),
    ("float32-overflow-in-a-validation-row", _float32_overflow("val"), ["'f2'", "float32", "Rescale"]),
    ("float32-overflow-in-a-regression-target", _regression(lambda f: f.assign(target=f["target"].where(f.index != 3, -1e300))),
     ["'target' (the target)", "float32", "Rescale"]),
    ("target-with-one-value", _frame(lambda f: f.assign(target=1)), ["data.target", "single value (1)", "Check the target"]),
    ("binary-task-on-three-classes", lambda c: (c.config.update(data="  path: table.csv\n  target: target\n  task: binary"),
                                                setattr(c, "frame", c.frame.assign(target=np.arange(120) % 3))),
     ["data.task", "exactly 2 classes", "set data.task"]),
    ("regression-on-text-target", lambda c: (c.config.update(data="  path: table.csv\n  target: target\n  task: regression"),
                                             setattr(c, "frame", c.frame.assign(target=np.where(c.frame.target > 0, "yes", "no")))),
     ["data.task", "numeric target", "set data.task"]),
    ("class-with-one-row", _frame(lambda f: f.assign(target=np.r_[[7], f["target"].to_numpy()[1:]])),
     ["data.target", "single row (7)", "Add rows or drop those classes"]),
    ("300-classes-one-row-each", _classes_300, ["data.target", "300 class(es)", "300 in all", "Add rows"]),
    ("too-few-rows", _frame(lambda f: f.iloc[:8]), ["too few", "add rows"]),
    ("parquet-folder-extra-column-in-first-file", lambda c: _parquet_folder(c, True), ["data.path", "'f9'", "same columns"]),
    ("parquet-folder-extra-column-in-second-file", lambda c: _parquet_folder(c, False), ["data.path", "'f9'", "same columns"]),
    ("parquet-folder-empty", _empty_parquet_folder, ["data.path", "no .parquet files"]),
    ("parquet-file-corrupt", _write("bad.parquet", b"PAR1 not really"), ["data.path", "could not be read as Parquet"]),
    # streamed Parquet (data.stream: true): the same refusals as in memory
    ("streamed-parquet-folder-extra-column-in-first-file", _streamed_folder(True), ["data.path", "'f9'", "same columns"]),
    ("streamed-parquet-folder-extra-column-in-second-file", _streamed_folder(False), ["data.path", "'f9'", "same columns"]),
    ("streamed-float32-overflow", _streamed(lambda f: f.assign(f1=f["f1"].where(f.index != 9, 1e300))),
     ["'f1'", "float32", "Rescale"]),
    ("streamed-target-with-one-value", _streamed(lambda f: f.assign(target=1)), ["data.target", "single value (1)"]),
    ("streamed-class-with-one-row", _streamed(lambda f: f.assign(target=np.r_[[7], f["target"].to_numpy()[1:]])),
     ["data.target", "single row (7)", "Add rows"]),
    ("stream-true-on-a-csv", _set("data.stream=true"), ["data.stream", "Parquet only", "convert the table"]),
    # plateau-doctor diagnose LOG
    ("diagnose-missing-log", _diagnose(None), ["log.csv", "no such file", "give a CSVLogger file"]),
    ("diagnose-log-without-loss", _diagnose("epoch,accuracy\n0,0.5\n1,0.6\n"), ["'loss'", "needs at least one"]),
    ("diagnose-out-existing-file", lambda c: (_diagnose("epoch,loss\n0,0.5\n")(c), _file_at_out(c),
                                              c.argv.extend(["--out", str(c.out)])), ["--out", "is a file"]),
    # model.path, checked before Keras is imported
    ("model-path-missing", _set("model.path=missing.keras"), ["model.path", "does not exist", "model.save"]),
    ("model-path-a-folder", lambda c: (c.root.joinpath("m.keras").mkdir(), c.args.extend(["--set", "model.path=m.keras"])),
     ["model.path", "is a folder"]),
    ("model-path-not-a-keras-archive", _garbage_model, ["model.path", "not a Keras model archive", "model.save"]),
    # needs Keras
    *(
        pytest.param(*case, marks=slow, id=case[0])
        for case in [
            ("unknown-activation", _set("model.activation=relux"), ["model.activation: 'relux'", "use a name"]),
            ("unknown-optimizer", _set("training.optimizer=adamw2"), ["training.optimizer", "use a name"]),
            ("unknown-initializer", _set("model.kernel_initializer=glorot_fancy"), ["model.kernel_initializer", "use a name"]),
            ("unknown-loss", _set("training.loss=my_loss"), ["training.loss", "use a name"]),
            ("model-path-wrong-input-width", _model("width3.keras"), ["model.path", "takes 3 features", "data.features"]),
            ("model-path-no-dense-layer", _model("nodense.keras"), ["model.path", "no Dense layer", "leave it null"]),
            ("sparse-cross-entropy-on-binary", _set("training.loss=sparse_categorical_crossentropy"),
             ["training.loss", "binary", "use loss: auto"]),
            ("sparse-cross-entropy-on-regression",
             lambda c: (_regression()(c), c.args.extend(["--set", "training.loss=sparse_categorical_crossentropy"])),
             ["training.loss", "regression", "use loss: auto"]),
            ("abstract-keras-loss", _set("training.loss=Loss"), ["training.loss", "'Loss'", "use loss: auto"]),
            ("ctc-loss", _set("training.loss=ctc"), ["training.loss", "'ctc'", "use loss: auto"]),
            ("streamed-table-then-an-unknown-loss",
             lambda c: (_streamed(lambda f: f)(c), c.args.extend(["--set", "training.loss=my_loss"])),
             ["training.loss", "use a name"]),
        ]
    ),
]


def _ids():
    return [case.id if hasattr(case, "id") else case[0] for case in CASES]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall_limit() -> float:
    """30 s; more only on a machine whose load is far beyond its cores (shared CI runners), where the CPU limit still holds."""
    overload = os.getloadavg()[0] / (os.cpu_count() or 1)
    return 30.0 if overload < 2 else 30.0 * min(overload / 2, 6)


@pytest.mark.parametrize("name, spoil, words", CASES, ids=_ids())
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(tmp_path, name, spoil, words):
    case = Case(tmp_path)
    spoil(case)
    args = case.write()
    if case.out == "":
        args[args.index("--out") + 1] = ""
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    started, cpu_before = time.monotonic(), _children_cpu_seconds()
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    elapsed, cpu = time.monotonic() - started, _children_cpu_seconds() - cpu_before

    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("plateau-doctor: error:")]
    assert len(lines) == 1, done.stderr
    message = done.stderr[done.stderr.index("plateau-doctor: error:"):]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Traceback" not in done.stderr
    assert "np.int64" not in done.stderr and "np.float64" not in done.stderr
    assert "File not found" not in done.stderr
    assert len(done.stderr.splitlines()) <= 4, done.stderr  # the message, not pages of logs
    assert all(len(line) < 700 for line in done.stderr.splitlines()), "a list dumped on one line"
    assert cpu < 30, f"the CLI spent {cpu:.1f} s of CPU"
    assert elapsed < _wall_limit(), f"took {elapsed:.1f} s"
    # Nothing written: no results folder, no Prefect database, every file as it was.
    out = Path(case.out) if case.out else tmp_path / "results"
    assert not out.is_dir() or not any(out.iterdir())
    assert not (tmp_path / "results").exists() and not (tmp_path / "prefect-home").exists()
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
