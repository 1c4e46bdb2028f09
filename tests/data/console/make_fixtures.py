"""Regenerate the Keras 3 console fixtures: small real fits, their output captured byte for byte.

    PYTHONPATH=. python tests/data/console/make_fixtures.py [NAME ...]

Each case runs in a child process. ``tty`` cases run under a pseudo-terminal (what a user's
terminal receives: Keras' ``\\b``/``\\r`` redraws, ANSI colours, ``\\r\\n`` line ends, and
TensorFlow's start-up lines on stderr interleaved); ``pipe`` cases write to a pipe, as
``python train.py > train.log 2>&1`` does. Nothing here is imported by the tests.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASES = {
    # verbose=1 with validation, ReduceLROnPlateau (learning_rate in the bar and its own message
    # lines), a warning logged mid-fit, and model.evaluate's bar after the last epoch.
    "keras3_verbose1_tty.txt": ("tty", "classify", 1),
    # verbose=2 into a log file: a regression that barely moves (SGD at 1e-5).
    "keras3_verbose2_pipe.txt": ("pipe", "stall", 2),
    # verbose=1 on a terminal: a rate raised tenfold each epoch (a range test) until the loss is nan.
    "keras3_nan_tty.txt": ("tty", "diverge", 1),
}

CHILD = r'''
import logging, os, sys, time
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np
import keras

kind, verbose = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(640, 8)).astype("float32")

class Slow(keras.callbacks.Callback):
    """A few milliseconds a batch, so that the bar redraws a few times per epoch as on real data."""
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.012)
    def on_epoch_begin(self, epoch, logs=None):
        if kind == "classify" and epoch == 2:
            logging.getLogger("tensorflow").warning("Callback method `on_train_batch_end` is slow compared to the batch time")

callbacks = [Slow()]
if kind == "classify":
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=0.05, verbose=1))
    model.fit(x, y, epochs=6, batch_size=32, validation_split=0.25, verbose=verbose, callbacks=callbacks)
    model.evaluate(x[:96], y[:96], batch_size=32, verbose=verbose)
elif kind == "stall":
    y = (x @ rng.normal(size=8)).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-5), "mse", metrics=["mae"])
    model.fit(x, y, epochs=12, batch_size=32, validation_split=0.2, verbose=verbose, callbacks=callbacks)
else:
    y = (10 * (x @ rng.normal(size=8))).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-4), "mse")
    callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch: 1e-4 * 10.0**epoch))
    model.fit(x, y, epochs=6, batch_size=32, verbose=verbose, callbacks=callbacks)
'''


def _under_pty(argv: list[str]) -> bytes:
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def main(names: list[str]) -> None:
    for name, (mode, kind, verbose) in CASES.items():
        if names and name not in names:
            continue
        argv = [sys.executable, "-c", CHILD, kind, str(verbose)]
        if mode == "tty":
            data = _under_pty(argv)
        else:
            data = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True).stdout
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])  # fixture names to regenerate; none: all
