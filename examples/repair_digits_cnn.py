"""Your own compiled conv net on scikit-learn's 8x8 digits, stuck under SGD at 1e-4, repaired by plateau_doctor.repair.

No config and no Prefect: the model, the arrays and your validation rows go straight in;
the full doctor (diagnosis, remedy branches in rounds, the statistical verdict) runs on
clones of the model, and ``result.model`` is the kept one, ready for your own inputs.

    python examples/repair_digits_cnn.py [--out results]

``PLATEAU_DOCTOR_EXAMPLE_SMALL=1`` runs it with fewer epochs, as CI does.
"""

import argparse
import os

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import plateau_doctor

SMALL = os.environ.get("PLATEAU_DOCTOR_EXAMPLE_SMALL") == "1"


def main(out: str):
    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]  # 1797 images, 8x8, one channel
    x_train, x_val, y_train, y_val = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")
    model.compile(keras.optimizers.SGD(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])

    result = plateau_doctor.repair(
        model, x_train, y_train, validation_data=(x_val, y_val), epochs=8 if SMALL else 15, out=out,
        remedies__budget_epochs=40 if SMALL else 120,
    )
    loss, accuracy = result.model.evaluate(x_val, y_val, verbose=0)
    print(f"{result.status}: {result.summary['chosen_remedy']}; kept model's validation accuracy {accuracy:.3f}")
    print(f"report: {result.paths['report_html']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    main(parser.parse_args().out)
