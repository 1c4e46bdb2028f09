"""A convolutional net on scikit-learn's 8x8 digit images that stalls, diagnosed by DoctorCallback.

The user's own training script, with one callback added. Plain SGD at learning rate 1e-4
barely moves the weights: the loss creeps along near where it started. At the end of the
fit the callback prints the verdict and writes a run (report.html) under ``results/``.

    python examples/conv_digits_callback.py [--out results]

``PLATEAU_DOCTOR_EXAMPLE_SMALL=1`` runs it in a few seconds (fewer epochs), as CI does.
"""

import argparse
import os

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from plateau_doctor.training.callback import DoctorCallback

SMALL = os.environ.get("PLATEAU_DOCTOR_EXAMPLE_SMALL") == "1"


def main(out: str) -> dict:
    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]  # 1797 images, 8x8, one channel
    x_train, x_val, y_train, y_val = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    doctor = DoctorCallback(out=out, reference=(x_train, y_train))
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=10 if SMALL else 30, batch_size=32,
              verbose=0, callbacks=[doctor])
    return doctor.summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    main(parser.parse_args().out)
