"""``model.fit``'s console output as a training log: Keras 3 captures from real fits, Keras 2 and
TF 1 layouts, pastes from forums (tests/data/console/SOURCES.md), and the ways pasted text
goes wrong. Pure parsing: no Keras import."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from plateau_doctor.cli import main
from plateau_doctor.data.console import looks_like_console, parse_console
from plateau_doctor.data.logs import HistoryFileError, read_history, read_log

CONSOLE = Path(__file__).parent / "data" / "console"


def _text(name: str) -> str:
    return (CONSOLE / name).read_bytes().decode("utf-8")


# name, epochs, first and last (loss, val_loss), the other columns read (as normalize_history names them)
FIXTURES = [
    ("keras3_verbose1_tty.txt", 6, (0.6572, 0.5503), (0.1214, 0.1056), {"accuracy", "val_accuracy", "learning_rate"}),
    ("keras3_verbose2_pipe.txt", 12, (12.2694, 14.5609), (12.1606, 14.4371), {"mae", "val_mae"}),
    ("keras3_nan_tty.txt", 6, (1274.1622, None), (math.nan, None), {"learning_rate"}),
    ("keras2_verbose1_tty.txt", 4, (0.6754, 0.6532), (0.5788, 0.5911), {"accuracy", "val_accuracy", "learning_rate"}),
    ("keras2_verbose1_redirected.log", 5, (0.2954, 0.1413), (0.0733, 0.0871), {"accuracy", "val_accuracy"}),
    ("keras2_verbose2_notebook.txt", 20, (0.6931, 0.6930), (0.6930, 0.6931), {"accuracy", "val_accuracy"}),
    ("tf1_verbose2.txt", 6, (0.4528, 0.4102), (0.1002, 0.3777), {"accuracy", "val_accuracy", "learning_rate"}),
    ("tf1_verbose1_nan.txt", 4, (2.3026, 2.3019), (math.nan, math.nan), {"accuracy", "val_accuracy"}),
    ("forum_keras1_stuck.txt", 10, (1.9112, None), (1.9105, None), {"accuracy"}),
    ("forum_keras1_loss_rising.txt", 19, (0.1760, None), (0.1954, None), set()),
]


def _same(value: float, expected: float) -> bool:
    return math.isnan(value) if math.isnan(expected) else value == pytest.approx(expected)


@pytest.mark.parametrize("name, epochs, first, last, others", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_every_console_fixture_reads_the_final_line_of_each_epoch(name, epochs, first, last, others):
    log = read_log(CONSOLE / name)
    frame = log.history
    assert frame["epoch"].tolist() == list(range(1, epochs + 1))
    assert log.skipped == []
    for row, (loss, val_loss) in ((0, first), (-1, last)):
        assert _same(frame["loss"].iloc[row], loss)
        if val_loss is None:
            assert "val_loss" not in frame or frame["val_loss"].isna().all()
        else:
            assert _same(frame["val_loss"].iloc[row], val_loss)
    assert others <= set(frame.columns)
    assert not {"acc", "val_acc", "lr", "ETA", "params"} & set(frame.columns)


def test_the_learning_rate_is_read_where_the_bar_shows_it():
    """TF 1's ``lr: 1.0000e-04`` and Keras 3's ``learning_rate: 0.0100`` are the same column."""
    assert read_history(CONSOLE / "tf1_verbose2.txt")["learning_rate"].tolist() == [1e-3] * 4 + [1e-4] * 2
    assert read_history(CONSOLE / "keras3_nan_tty.txt")["learning_rate"].tolist() == pytest.approx(
        [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]
    )


def test_partial_bar_states_are_not_read_as_the_epoch():
    """Keras 3 redraws the bar with running means (``13/15 ... loss: 0.1190``) before the final one."""
    frame = parse_console(_text("keras3_verbose1_tty.txt")).frame
    assert 0.1190 not in frame["loss"].tolist() and frame["loss"].iloc[-1] == 0.1214


def test_the_fixtures_are_raw_terminal_bytes():
    """What makes them worth having: the redraws and colours a terminal receives are in them."""
    raw = (CONSOLE / "keras3_verbose1_tty.txt").read_bytes()
    assert b"\x1b[" in raw and b"\r" in raw and b"\b" in raw and "━".encode() in raw
    assert b"\r\r\n" not in (CONSOLE / "keras2_verbose2_notebook.txt").read_bytes()
    assert b"\r\n" in (CONSOLE / "keras2_verbose2_notebook.txt").read_bytes()


def _bar3(step: int, total: int, metrics: str) -> str:
    return f"{step}/{total} \x1b[32m{'━' * 20}\x1b[0m 1s 5ms/step - {metrics}"


@pytest.mark.parametrize(
    "text, losses, val_losses",
    [
        # \r overwrites inside one line: the last state before the epoch's end
        ("Epoch 1/2\n\r 1/4 [==>...] - ETA: 3s - loss: 0.9\r 4/4 [=====] - 1s 2ms/step - loss: 0.5 - val_loss: 0.6\n"
         "Epoch 2/2\n\r 4/4 [=====] - 1s 2ms/step - loss: 0.4 - val_loss: 0.55\n", [0.5, 0.4], [0.6, 0.55]),
        # ANSI colours around the numbers' neighbours, Keras 3 bars
        (f"Epoch 1/2\n\r{_bar3(2, 4, 'loss: 0.8')}\r{_bar3(4, 4, 'loss: 0.7 - val_loss: 0.9')}\n"
         f"Epoch 2/2\n\r{_bar3(4, 4, 'loss: 0.6 - val_loss: 0.8')}\n", [0.7, 0.6], [0.9, 0.8]),
        # nan, inf and a negative loss in verbose=2's exponent form (Keras 3 prints -1.2 as -1.2000e+00)
        ("Epoch 1/3\n10/10 - 1s - 3ms/step - loss: -1.2000e+00 - val_loss: -1.1000e+00\n"
         "Epoch 2/3\n10/10 - 1s - 3ms/step - loss: inf - val_loss: nan\n"
         "Epoch 3/3\n10/10 - 1s - 3ms/step - loss: nan - val_loss: nan\n", [-1.2, math.inf, math.nan], [-1.1, math.nan, math.nan]),
        # Keras 1 / TF 1 verbose=2: the metrics on a line of their own, no step counter
        ("Train on 100 samples\nEpoch 1/2\n - 0s - loss: 0.7 - acc: 0.5\nEpoch 2/2\n - 0s - loss: 0.6 - acc: 0.6\n",
         [0.7, 0.6], None),
        # warnings, tracebacks, model.summary and callback messages around the lines
        ("Total params: 865\nEpoch 1/2\nWARNING:absl:You are saving your model as an HDF5 file\n"
         "5/5 [====] - 0s 2ms/step - loss: 0.5\n\nEpoch 1: val_loss improved from inf to 0.50000, saving model\n"
         "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\nValueError: loss: 9\n"
         "Epoch 2/2\n5/5 [====] - 0s 2ms/step - loss: 0.4\nEpoch 2: ReduceLROnPlateau reducing learning rate to 1e-4.\n",
         [0.5, 0.4], None),
        # a log record glued to the bar that was waiting for its redraw
        ("Epoch 1/1\n\r 2/4 [==>..] - ETA: 1s - loss: 0.9WARNING:tensorflow:slow callback\n"
         "\r 4/4 [=====] - 1s 3ms/step - loss: 0.8\n", [0.8], None),
    ],
    ids=["carriage-returns", "keras3-ansi", "nan-inf-negative", "verbose2-no-counter", "interleaved", "glued-warning"],
)
def test_console_text_as_users_paste_it(text, losses, val_losses):
    frame = parse_console(text).frame
    assert [round(v, 6) if math.isfinite(v) else v for v in frame["loss"]] == pytest.approx(losses, nan_ok=True)
    if val_losses is None:
        assert "val_loss" not in frame
    else:
        assert frame["val_loss"].tolist() == pytest.approx(val_losses, nan_ok=True)


def test_an_epoch_cut_short_is_left_out_and_said_so():
    text = ("Epoch 1/3\n4/4 [====] - 1s - loss: 0.5\nEpoch 2/3\n4/4 [====] - 1s - loss: 0.4\n"
            "Epoch 3/3\n\r1/4 [>...] - ETA: 3s - loss: 0.3\r2/4 [=>..] - ETA: 2s - loss: 0.35^C\nKeyboardInterrupt\n")
    parsed = parse_console(text)
    assert parsed.frame["loss"].tolist() == [0.5, 0.4]
    assert parsed.skipped == ["epoch 3 did not finish at step 2/4: its running means are not read"]


def test_a_last_line_cut_before_its_validation_metrics_is_left_out_and_said_so():
    # A forum excerpt that ends inside the last epoch's line: "loss: 0.41" and nothing after it.
    # Read as an epoch, its missing val_loss made the log "diverged" (a non-finite val_loss).
    epoch = "Epoch {n}/10\n6072/6072 [======] - 96s 16ms/step - loss: {l} - val_loss: {v}\n"
    text = "".join(epoch.format(n=n, l=0.6 - n / 100, v=0.5 - n / 100) for n in range(1, 8))
    parsed = parse_console(text + "Epoch 8/10\n6072/6072 [======] - 96s 16ms/step - loss: 0.41")
    assert parsed.frame["epoch"].tolist() == list(range(1, 8))
    assert parsed.skipped == ["epoch 8 has no validation metrics while the earlier epochs do: it was cut off (a paste"
                              " that ends inside its line, or a fit stopped while validating); not read"]


def test_a_last_line_without_validation_but_with_a_nan_loss_is_kept():
    # The NaN is the divergence itself (TerminateOnNaN stops before the validation pass).
    text = ("Epoch 1/3\n4/4 [====] - 1s - loss: 0.5 - val_loss: 0.6\nEpoch 2/3\n4/4 [====] - 1s - loss: 0.4 - val_loss: 0.5\n"
            "Epoch 3/3\n4/4 [====] - 1s - loss: nan\n")
    parsed = parse_console(text)
    assert parsed.frame["epoch"].tolist() == [1, 2, 3] and math.isnan(parsed.frame["loss"].iloc[-1])
    assert parsed.skipped == []


def test_an_epoch_cut_short_by_a_non_finite_loss_is_read_as_non_finite():
    # TerminateOnNaN: the running mean is already inf, so the epoch's mean would be too.
    text = ("Epoch 1/10\n  3/234 [....] - ETA: 33:37:24 - loss: 44.4110Batch 3: Invalid loss, terminating training\n"
            "  4/234 [....] - ETA: 25:09:00 - loss: inf \n")
    parsed = parse_console(text)
    assert parsed.frame["epoch"].tolist() == [1] and parsed.frame["loss"].tolist() == [math.inf]
    assert parsed.skipped == ["epoch 1 did not finish at step 4/234, with loss inf already non-finite: that is read"
                              " as its value; its finite running means are not"]


def test_evaluate_after_the_fit_is_not_an_epoch():
    text = ("Epoch 1/2\n20/20 [====] - 1s - loss: 0.5\nEpoch 2/2\n20/20 [====] - 1s - loss: 0.4\n"
            "3/3 [====] - 0s 1ms/step - loss: 0.1\n")
    assert parse_console(text).frame["loss"].tolist() == [0.5, 0.4]


def test_two_fits_in_one_text_read_as_the_last_one():
    first = "".join(f"Epoch {n}/2\n8/8 [====] - 0s - loss: {1 - n / 10}\n" for n in (1, 2))
    second = "".join(f"Epoch {n}/3\n8/8 [====] - 0s - loss: {0.5 - n / 10}\n" for n in (1, 2, 3))
    parsed = parse_console(first + second)
    assert parsed.frame["loss"].tolist() == pytest.approx([0.4, 0.3, 0.2])
    assert parsed.skipped == ["the text holds 2 fits (epoch numbers start over); the last one is read, epochs 1-3"]


def test_a_continued_fit_is_one_curve():
    """``fit(..., initial_epoch=2)`` goes on numbering: one training, read whole."""
    text = "".join(f"Epoch {n}/{2 if n <= 2 else 4}\n8/8 [====] - 0s - loss: {1 - n / 10}\n" for n in (1, 2, 3, 4))
    assert parse_console(text).frame["epoch"].tolist() == [1, 2, 3, 4]


def test_bar_lines_without_epoch_lines_are_one_epoch_each():
    """A forum paste of the final lines; Keras 3 draws the full bar twice, the second with val_ metrics."""
    text = ("10/10 [====] - 0s 2ms/step - loss: 0.7 - accuracy: 0.5\n"
            "10/10 [====] - 0s 2ms/step - loss: 0.6 - accuracy: 0.6\n"
            f"{_bar3(10, 10, 'loss: 0.5')}\r{_bar3(10, 10, 'loss: 0.5 - val_loss: 0.55')}\n")
    frame = parse_console(text).frame
    assert frame["loss"].tolist() == [0.7, 0.6, 0.5] and frame["epoch"].tolist() == [1, 2, 3]
    assert frame["val_loss"].iloc[-1] == 0.55


@pytest.mark.parametrize(
    "text",
    ["Epoch 1/5\n", "Epoch 1/5\n\r1/4 [>...] - ETA: 3s - loss: 0.3\n", "accuracy: 0.5\nEpoch 1/2\n- 1s - accuracy: 0.5\n"],
    ids=["header-only", "never-finished", "no-loss"],
)
def test_console_text_without_a_finished_epoch_is_refused(text):
    with pytest.raises(ValueError, match="no finished epoch with a loss"):
        parse_console(text)


@pytest.mark.parametrize(
    "name, content, console",
    [
        ("training.log", "epoch,loss,val_loss\n0,0.9,1.0\n1,0.8,0.95\n", False),  # CSVLogger's file, named .log
        ("run.out", "Epoch 1/2\n4/4 - 1s - loss: 0.9\nEpoch 2/2\n4/4 - 1s - loss: 0.8\n", True),
        ("notes.md", "my run:\nEpoch 1/2\n4/4 - 1s - loss: 0.9\nEpoch 2/2\n4/4 - 1s - loss: 0.8\n", True),
        ("pasted.csv", "Epoch 1/2\n4/4 - 1s - loss: 0.9\nEpoch 2/2\n4/4 - 1s - loss: 0.8\n", True),
    ],
)
def test_console_text_is_told_from_a_table_by_its_content(tmp_path, name, content, console):
    path = tmp_path / name
    path.write_text(content)
    assert looks_like_console(content) is console
    frame = read_history(path)
    assert frame["loss"].tolist() == [0.9, 0.8] and frame["epoch"].tolist() == [1.0, 2.0]


def test_the_cli_diagnoses_a_pasted_stall(tmp_path, capsys):
    """The report the issue asked for: a loss stuck at ln 2 for 20 epochs, from a notebook paste."""
    log = tmp_path / "fit_output.txt"
    shutil.copy(CONSOLE / "keras2_verbose2_notebook.txt", log)
    out = tmp_path / "results"
    assert main(["diagnose", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "verdict: sick" in printed.out and "plateau" in printed.out and printed.err == ""
    summary = json.loads(next((out / "runs").iterdir()).joinpath("summary.json").read_text())
    assert summary["task"] == "binary" and summary["baseline"]["epochs"] == 20


def test_a_cut_short_epoch_reaches_the_summary(tmp_path, capsys):
    log = tmp_path / "fit.txt"
    log.write_text("".join(f"Epoch {n}/9\n8/8 [====] - 0s - loss: {1 - n / 20:.4f}\n" for n in range(1, 9))
                   + "Epoch 9/9\n\r3/8 [==>...] - ETA: 1s - loss: 0.5\n")
    assert main(["diagnose", str(log), "--out", str(tmp_path / "results")]) == 0
    assert "the log: epoch 9 did not finish at step 3/8" in capsys.readouterr().out


def test_console_text_that_never_finished_an_epoch_exits_2(tmp_path, capsys):
    log = tmp_path / "fit.log"
    log.write_text("Epoch 1/10\n\r  1/100 [....] - ETA: 1:02 - loss: 0.6931\n")
    assert main(["diagnose", str(log), "--out", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert str(log) in err and "no finished epoch" in err and err.count("\n") == 1
    with pytest.raises(HistoryFileError):
        read_history(log)


# An overfitting fit as a console prints it: val_loss bottoms at epoch 8 and climbs for 10.
_TRAIN = [0.66, 0.55, 0.47, 0.41, 0.36, 0.32, 0.29, 0.26, 0.23, 0.2, 0.18, 0.16, 0.14, 0.12, 0.1, 0.09, 0.08, 0.07]
_VAL = [0.67, 0.58, 0.52, 0.48, 0.46, 0.45, 0.44, 0.435, 0.44, 0.45, 0.47, 0.49, 0.51, 0.53, 0.56, 0.59, 0.62, 0.65]


def _overfit_console(after: str, header: str = "Epoch {n}/100", start: int = 1) -> str:
    epochs = "".join(f"{header.format(n=n)}\n8/8 [====] - 0s - loss: {t} - val_loss: {v}\n"
                     for n, (t, v) in enumerate(zip(_TRAIN, _VAL), start=start))
    return epochs + after


@pytest.mark.parametrize(
    "after, fit",
    [
        ("Epoch 18: early stopping\nRestoring model weights from the end of the best epoch: 8.\n",
         {"epochs": 100, "ended_early": True, "kept_epoch": 8}),
        ("Epoch 00018: early stopping\n", {"epochs": 100, "ended_early": True}),  # tf.keras 2.x pads, restores nothing
        ("Restoring model weights from the end of the best epoch: 8.\n", {"epochs": 100, "kept_epoch": 8}),
        ("", {"epochs": 100}),
        ("Epoch 12: early stopping\n", {"epochs": 100}),  # not this fit's last epoch: another fit's message
    ],
    ids=["stop-and-restore", "keras2-stop", "restore-only", "nothing", "stray"],
)
def test_what_early_stopping_printed_is_read_with_the_epochs(after, fit):
    assert parse_console(_overfit_console(after)).fit == fit


def test_a_pasted_fit_whose_early_stopping_restored_the_best_epoch_is_judged_on_that_epoch(tmp_path, capsys):
    """The same console text is `overfitting` when the fit leaves its last epoch, and healthy when
    EarlyStopping printed that it put epoch 8's weights back: the user keeps the model from
    before the climb."""
    verdicts = {}
    for name, after in (("restored", "Epoch 18: early stopping\nRestoring model weights from the end of the best"
                                     " epoch: 8.\n"), ("last", "")):
        log = tmp_path / f"{name}.txt"
        log.write_text(_overfit_console(after))
        out = tmp_path / name
        assert main(["diagnose", str(log), "--out", str(out)]) == 0
        verdicts[name] = json.loads(next((out / "runs").iterdir()).joinpath("summary.json").read_text())
    capsys.readouterr()
    assert verdicts["last"]["symptoms"] == ["overfitting"] and verdicts["last"]["status"] == "sick"
    kept = verdicts["restored"]
    assert kept["status"] == "healthy" and kept["setup"]["kept_epoch"] == 8 and kept["setup"]["ended_early"]
    assert kept["final"]["metrics"]["val_loss"] == pytest.approx(0.435)


# --- a paste that starts inside the fit ------------------------------------------------

def test_bar_lines_before_the_first_epoch_line_are_the_epoch_before_it():
    """Keras prints ``Epoch N/M`` before the bar, so a paste that starts with a finished bar line
    and then ``Epoch 2/3`` starts inside epoch 1: it was dropped without a word."""
    text = ("4/4 [====] - 1s - loss: 0.7 - val_loss: 0.75\nEpoch 2/3\n4/4 [====] - 1s - loss: 0.5 - val_loss: 0.6\n"
            "Epoch 3/3\n4/4 [====] - 1s - loss: 0.4 - val_loss: 0.5\n")
    parsed = parse_console(text)
    assert parsed.frame["loss"].tolist() == [0.7, 0.5, 0.4] and parsed.frame["epoch"].tolist() == [1, 2, 3]
    assert parsed.skipped == [] and parsed.fit == {"epochs": 3}


def test_lines_with_a_loss_before_epoch_1_are_named_as_not_read():
    parsed = parse_console("3/3 [====] - 0s - loss: 0.1\nEpoch 1/2\n8/8 [====] - 0s - loss: 0.5\n"
                           "Epoch 2/2\n8/8 [====] - 0s - loss: 0.4\n")
    assert parsed.frame["loss"].tolist() == [0.5, 0.4]
    assert parsed.skipped == ["1 line(s) with a loss before the first 'Epoch 1/M' line belong to no epoch of the fit:"
                              " not read"]


def test_an_epoch_line_with_nothing_after_it_is_named_as_not_read():
    parsed = parse_console("Epoch 1/9\n8/8 [====] - 0s - loss: 0.5\nEpoch 2/9\n 7/8 [===>] - ETA: 0s - loss:")
    assert parsed.frame["loss"].tolist() == [0.5]
    assert parsed.skipped == ["epoch 2 has no progress line with a loss that could be read (the text ends or moves on"
                              " after its 'Epoch' line): not read"]


@pytest.mark.parametrize("restored, fit, said", [
    (28, {"epochs": 100, "ended_early": True, "kept_epoch": 8, "first_epoch": 21}, ""),
    (15, {"epochs": 100, "ended_early": True, "first_epoch": 21}, "EarlyStopping put back epoch 15's weights"),
])
def test_a_paste_from_the_middle_of_a_fit_says_where_it_starts_and_counts_the_restored_epoch_from_there(
        restored, fit, said):
    text = _overfit_console(f"Epoch 38: early stopping\nRestoring model weights from the end of the best epoch: {restored}.\n",
                            start=21)
    parsed = parse_console(text)
    assert parsed.frame["epoch"].tolist() == list(range(21, 39)) and parsed.fit == fit
    assert parsed.skipped[0] == ("the text starts at epoch 21 of the fit: its first 20 epoch(s) are not in it, and the"
                                 " epochs are counted here from there (epoch 1 is the fit's epoch 21)")
    assert said in " ".join(parsed.skipped[1:]) and len(parsed.skipped) == 1 + bool(said)


def test_a_paste_taken_while_the_fit_still_ran_is_not_said_to_have_ended(tmp_path, capsys):
    """Epochs 21-32 of 150, the loss still falling fast: ``too_few_epochs``, in the fit's own count,
    and not "training ended after 12 epochs": the fit had 118 epochs to go."""
    loss = [round(2.0 * 0.93 ** n, 4) for n in range(12)]
    text = "".join(f"Epoch {n}/150\n518/518 [====] - 537s 1s/step - loss: {v} - val_loss: {round(v * 1.05, 4)}\n"
                   for n, v in zip(range(21, 33), loss))
    log = tmp_path / "paste.txt"
    log.write_text(text + "Epoch 33/150\n 17/518 [>....] - ETA: 9:01 - loss: 1.0")
    assert main(["diagnose", str(log), "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    summary = json.loads(next((tmp_path / "out" / "runs").iterdir()).joinpath("summary.json").read_text())
    assert summary["setup"]["first_epoch"] == 21 and summary["symptoms"] == ["slow_convergence"]
    cause = summary["causes"][0]
    assert cause["cause"] == "too_few_epochs"
    assert "the log ends at epoch 32 of the 150 the fit asked for" in cause["evidence"]
    assert "training ended" not in cause["evidence"]
