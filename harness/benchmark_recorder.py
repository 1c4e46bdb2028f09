"""What the training-signal recorder costs: a fit with it against the same fit without it.

Prints seconds per epoch for both and their ratio, measured in the same run on the demo
table (and a larger synthetic one), so the ratio holds on whatever machine runs it.

    .venv/bin/python harness/benchmark_recorder.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def _fit_seconds(config, data, with_recorder: bool) -> float:
    from plateau_doctor.training.model import labels_for_loss
    from plateau_doctor.training.fit import TrainingRecorder, make_model

    model, setup = make_model(config, data)
    callbacks = [TrainingRecorder(data, setup)] if with_recorder else []
    started = time.perf_counter()
    model.fit(
        data.x_train, labels_for_loss(data.y_train, setup),
        validation_data=(data.x_val, labels_for_loss(data.y_val, setup)),
        epochs=config.training.epochs, batch_size=config.training.batch_size, verbose=0, callbacks=callbacks,
    )
    return (time.perf_counter() - started) / config.training.epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    import logging

    from sklearn.datasets import make_classification

    from plateau_doctor.config import validate_config
    from plateau_doctor.data.table import load_table
    from plateau_doctor.data.prepared import prepare_data

    logging.getLogger("plateau_doctor").setLevel(logging.WARNING)
    x, y = make_classification(n_samples=20_000, n_features=20, random_state=0)
    synthetic = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(target=y)
    tables = {"breast_cancer (569 rows)": load_table("data/breast_cancer.csv"), "synthetic (20,000 rows)": synthetic}
    print(f"{'table':<26}{'plain s/epoch':>15}{'recorded s/epoch':>18}{'ratio':>8}")
    for name, frame in tables.items():
        config = validate_config({"training": {"epochs": args.epochs}})
        data = prepare_data(frame, config.data, config.preprocessing, audit=False)
        _fit_seconds(config, data, with_recorder=False)  # warm-up: graph tracing happens once
        plain = _fit_seconds(config, data, with_recorder=False)
        recorded = _fit_seconds(config, data, with_recorder=True)
        print(f"{name:<26}{plain:>15.4f}{recorded:>18.4f}{recorded / plain:>8.2f}")


if __name__ == "__main__":
    main()
