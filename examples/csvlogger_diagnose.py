"""A training that already happened, diagnosed from its Keras CSVLogger file alone.

Step 1 is any training script that logged with ``keras.callbacks.CSVLogger`` (here Adam at
learning rate 2.0 on a moons table: far too large a step). Step 2 is the command line:

    plateau-doctor diagnose training_log.csv --out results

which reads only the CSV (no model, no data, no TensorFlow), names the symptoms and the
likely causes, lowers the confidence of what the log cannot confirm, and writes a run.

    python examples/csvlogger_diagnose.py [--out results]

``PLATEAU_DOCTOR_EXAMPLE_SMALL=1`` trains fewer epochs, as CI does.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

SMALL = os.environ.get("PLATEAU_DOCTOR_EXAMPLE_SMALL") == "1"


def train_with_csvlogger(log_file: Path) -> None:
    """The user's earlier training: a too-large learning rate, logged epoch by epoch."""
    import keras
    from sklearn.datasets import make_moons

    keras.utils.set_random_seed(0)
    x, y = make_moons(n_samples=1000, noise=0.2, random_state=0)
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2.0), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.2, epochs=12 if SMALL else 30, batch_size=32, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(log_file))])


def main(out: str) -> int:
    log_file = Path(out) / "training_log.csv"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    train_with_csvlogger(log_file)
    # The diagnosis is the command a user runs on a log: no Python needed.
    command = [sys.executable, "-m", "plateau_doctor.cli", "diagnose", str(log_file), "--out", out]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    sys.exit(main(parser.parse_args().out))
