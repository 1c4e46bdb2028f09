"""What DoctorCallback costs on an accelerator: a CNN and an MLP fitted with it and without it.

For each model, the same fit (same data, same seed, same ``validation_data``) runs twice in
this process: bare, then with ``DoctorCallback`` writing its run. Printed, and written to
``--json``:

* the per-epoch ratio: each epoch timed from its start to the end of the last callback's
  epoch-end work (the doctor's recording included), the median over the epochs after the
  first (the first compiles the train step, in both fits);
* the whole-fit ratio (train begin and end included);
* the train-end seconds, split into the report's plots and the rest (diagnosis and writing
  the run: summary, Parquet datasets, report text);
* the seconds spent inside the doctor's epoch-end hook, per epoch (median after the first);
* the doctor's first epoch beyond the bare one (its program is compiled there, once per fit);
* once per process, before any fit: importing what the train end uses (the report's
  modules, matplotlib, whose font cache a fresh machine builds here). The fits' train ends
  are measured after it, as every fit but a process's first pays them.

Each model is first warmed up (a short bare fit: the backend's start and autotuning are
paid once), then fitted bare and with the doctor, ``--repeats`` times, alternately; the
per-epoch medians pool the repeats' epochs after the first, the whole-fit seconds are the
fastest repeat's.

Default sizes are the GPU's (FIELD-NOTES "On a GPU"): a CNN on 100,000 synthetic 32x32x3
images, batch 512, 6 epochs; an MLP (2 x 512 units) on 2,000,000 rows x 20 features, batch
4096, 4 epochs. ``--small`` runs both at a tiny size (a CPU test). Needs only keras (JAX
backend by default), jax, numpy, pandas, pyarrow, scikit-learn, matplotlib and pydantic:
no TensorFlow, no Prefect.

    KERAS_BACKEND=jax python harness/benchmark_callback_gpu.py --json /tmp/callback_gpu.json
    python harness/benchmark_callback_gpu.py --small --backend jax
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

SIZES = {
    "full": {"cnn": {"rows": 100_000, "batch": 512, "epochs": 6}, "mlp": {"rows": 2_000_000, "batch": 4096, "epochs": 4}},
    "small": {"cnn": {"rows": 512, "batch": 128, "epochs": 3}, "mlp": {"rows": 40_000, "batch": 1024, "epochs": 4}},
}
VALIDATION_SHARE = 0.1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a tiny size, for a CPU")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"),
                        choices=["jax", "tensorflow", "torch"], help="Keras backend (default: KERAS_BACKEND, else jax)")
    parser.add_argument("--models", default="cnn,mlp", help="which fits, comma-separated: cnn, mlp")
    parser.add_argument("--json", default=None, help="write the numbers to this JSON file")
    parser.add_argument("--repeats", type=int, default=None, help="bare and doctored fits per model (default 2; 1 with --small)")
    for model in ("cnn", "mlp"):
        parser.add_argument(f"--{model}-rows", type=int, default=None, help=f"{model}: training rows")
        parser.add_argument(f"--{model}-batch", type=int, default=None, help=f"{model}: batch size")
        parser.add_argument(f"--{model}-epochs", type=int, default=None, help=f"{model}: epochs")
    return parser.parse_args(argv)


def sizes(args: argparse.Namespace) -> dict[str, dict[str, int]]:
    chosen = {name: dict(values) for name, values in SIZES["small" if args.small else "full"].items()}
    for model, values in chosen.items():
        for key in values:
            given = getattr(args, f"{model}_{key}")
            if given is not None:
                values[key] = given
    return chosen


def make_data(kind: str, rows: int):
    """Synthetic rows with a learnable label; 10% more rows for validation."""
    import numpy as np

    rng = np.random.default_rng(0)
    total = rows + max(int(rows * VALIDATION_SHARE), 64)
    if kind == "cnn":
        x = rng.standard_normal((total, 32, 32, 3), dtype=np.float32)
        y = (x[:, :16, :16, 0].mean(axis=(1, 2)) > 0).astype(np.int64) + 2 * (x[:, 16:, 16:, 1].mean(axis=(1, 2)) > 0)
    else:
        x = rng.standard_normal((total, 20), dtype=np.float32)
        y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] ** 2 > 0).astype(np.float32)
    return x[:rows], y[:rows], x[rows:], y[rows:]


def make_model(keras, kind: str):
    if kind == "cnn":
        inputs = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        h = keras.layers.Dense(128, activation="relu")(h)
        model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h), name="cnn")
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model = keras.Sequential([
            keras.Input((20,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ], name="mlp")
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def timed_fit(keras, kind: str, data, size: dict[str, int], doctor=None) -> dict:
    """One fit; per-epoch seconds (start to the end of the last callback's epoch-end work) and the train end."""
    marks: dict[str, list[float]] = {"begin": [], "end": [], "train_end": []}

    class First(keras.callbacks.Callback):  # first in the list: its hooks run before the doctor's
        def on_epoch_begin(self, epoch, logs=None):
            marks["begin"].append(time.perf_counter())

        def on_train_end(self, logs=None):
            marks["train_end"].append(time.perf_counter())

    class Last(keras.callbacks.Callback):  # last: its hooks run after the doctor's
        def on_epoch_end(self, epoch, logs=None):
            marks["end"].append(time.perf_counter())

        def on_train_end(self, logs=None):
            marks["train_end"].append(time.perf_counter())

    x, y, xv, yv = data
    keras.utils.set_random_seed(0)
    model = make_model(keras, kind)
    callbacks = [First(), *([doctor] if doctor is not None else []), Last()]
    started = time.perf_counter()
    history = model.fit(x, y, validation_data=(xv, yv), epochs=size["epochs"], batch_size=size["batch"], verbose=0,
                        callbacks=callbacks)
    whole = time.perf_counter() - started
    epochs = [end - begin for begin, end in zip(marks["begin"], marks["end"])]
    return {"epochs": epochs, "whole": whole, "train_end": marks["train_end"][1] - marks["train_end"][0],
            "final_loss": float(history.history["loss"][-1])}


def plot_timer():
    """Wrap the report's chart functions (where the report calls them) to sum their seconds."""
    from plateau_doctor.report import sections

    spent = {"seconds": 0.0}
    for name in ("causes_chart_png", "curves_chart_png", "signals_chart_png"):
        original = getattr(sections, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent["seconds"] += time.perf_counter() - started

        setattr(sections, name, timed)
    return spent


def run_model(keras, kind: str, size: dict[str, int], plots: dict, repeats: int) -> dict:
    from plateau_doctor.training.callback import DoctorCallback

    class TimedDoctor(DoctorCallback):
        """Also times its own epoch-end hook."""

        def on_train_begin(self, logs=None):
            self.hook_seconds = []
            super().on_train_begin(logs)

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            self.hook_seconds.append(time.perf_counter() - started)

    started = time.perf_counter()
    data = make_data(kind, size["rows"])
    made = time.perf_counter() - started
    print(f"[{kind}] data: {data[0].shape} train, {data[2].shape} validation ({made:.1f} s to make)", flush=True)
    warm = (data[0][: size["batch"] * 4], data[1][: size["batch"] * 4], data[2][: size["batch"]], data[3][: size["batch"]])
    warmed = timed_fit(keras, kind, warm, {**size, "epochs": 1})
    print(f"[{kind}] warm-up fit (4 batches, 1 epoch): {warmed['whole']:.2f} s", flush=True)
    bare_fits, doctor_fits, hooks, plot_seconds, statuses, failures = [], [], [], [], [], []
    for repeat in range(repeats):
        bare = timed_fit(keras, kind, data, size)
        print(f"[{kind}] bare fit {repeat + 1}: {bare['whole']:.2f} s, epochs {_seconds(bare['epochs'])}", flush=True)
        with tempfile.TemporaryDirectory() as out:
            doctor = TimedDoctor(out=out, verbose=False)
            plots["seconds"] = 0.0
            doctored = timed_fit(keras, kind, data, size, doctor)
            plot_seconds.append(plots["seconds"])
            statuses.append((doctor.summary or {}).get("status"))
            failures.append(doctor._failed)
        print(f"[{kind}] with DoctorCallback {repeat + 1}: {doctored['whole']:.2f} s, epochs {_seconds(doctored['epochs'])},"
              f" train end {doctored['train_end']:.2f} s (plots {plot_seconds[-1]:.2f} s), status {statuses[-1]}"
              f"{' (THE DOCTOR FAILED: see the warning above)' if failures[-1] else ''}", flush=True)
        bare_fits.append(bare)
        doctor_fits.append(doctored)
        hooks.append(doctor.hook_seconds)
    after_first = slice(1, None) if size["epochs"] > 1 else slice(None)
    bare_epoch = statistics.median([e for fit in bare_fits for e in fit["epochs"][after_first]])
    doctor_epoch = statistics.median([e for fit in doctor_fits for e in fit["epochs"][after_first]])
    fastest_bare = min(bare_fits, key=lambda fit: fit["whole"])
    # On a shared machine the fits' wall times wander by more than the doctor costs; the time
    # inside its hook does not: 1 + hook / bare epoch is the ratio a quiet machine would show.
    fastest = min(range(repeats), key=lambda i: doctor_fits[i]["whole"])
    doctored = doctor_fits[fastest]
    result = {
        "size": size, "repeats": repeats, "warm_up_seconds": warmed["whole"],
        "bare_epoch_seconds": [fit["epochs"] for fit in bare_fits],
        "doctor_epoch_seconds": [fit["epochs"] for fit in doctor_fits],
        "bare_epoch_median": bare_epoch, "doctor_epoch_median": doctor_epoch,
        "epoch_ratio": doctor_epoch / bare_epoch,
        "bare_fit_seconds": [fit["whole"] for fit in bare_fits], "doctor_fit_seconds": [fit["whole"] for fit in doctor_fits],
        "fit_ratio": doctored["whole"] / fastest_bare["whole"],
        "first_epoch_extra_seconds": doctored["epochs"][0] - fastest_bare["epochs"][0],
        "train_end_seconds": doctored["train_end"],
        "train_end_plots_seconds": plot_seconds[fastest],
        "train_end_diagnosis_and_writing_seconds": doctored["train_end"] - plot_seconds[fastest],
        "doctor_hook_seconds": hooks,
        "doctor_hook_median": statistics.median([h for hook in hooks for h in hook[after_first]]) if hooks[0] else None,
        "hook_epoch_ratio": None,
        "doctor_status": statuses, "doctor_failed": any(failures),
        "final_loss": {"bare": fastest_bare["final_loss"], "doctor": doctored["final_loss"]},
    }
    if result["doctor_hook_median"] is not None:
        result["hook_epoch_ratio"] = 1 + result["doctor_hook_median"] / bare_epoch
    return result


def first_use_seconds() -> float:
    """Import what the callback's train end imports (the report, matplotlib and its font cache)."""
    started = time.perf_counter()
    import matplotlib.font_manager

    import plateau_doctor.engine.log_doctor
    import plateau_doctor.results.observed

    del plateau_doctor.engine.log_doctor, plateau_doctor.results.observed  # imported for their cost

    matplotlib.font_manager.findfont("DejaVu Sans")
    return time.perf_counter() - started


def _seconds(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def environment(keras) -> dict:
    info = {"python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend()}
    if info["backend"] == "jax":
        import jax

        info.update(jax=jax.__version__, devices=[str(d) for d in jax.devices()])
    elif info["backend"] == "torch":
        import torch

        info.update(torch=torch.__version__, cuda=torch.cuda.is_available())
    else:
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, devices=[d.name for d in tf.config.list_logical_devices()])
    return info


def report(results: dict) -> None:
    print("\n== summary", flush=True)
    print(f"once per process, before the fits: imports for the train end {results['first_use_seconds']:.2f} s")
    print(f"{'model':<6}{'bare s/epoch':>14}{'doctor s/epoch':>16}{'epoch ratio':>13}{'fit ratio':>11}"
          f"{'train end s':>13}{'plots s':>9}{'diag+write s':>14}{'hook s/epoch':>14}{'1+hook/bare':>13}"
          f"{'1st epoch +s':>14}")
    for kind, found in results["models"].items():
        if "error" in found:
            print(f"{kind:<6} failed: {found['error']}")
            continue
        print(f"{kind:<6}{found['bare_epoch_median']:>14.3f}{found['doctor_epoch_median']:>16.3f}"
              f"{found['epoch_ratio']:>13.3f}{found['fit_ratio']:>11.3f}{found['train_end_seconds']:>13.2f}"
              f"{found['train_end_plots_seconds']:>9.2f}{found['train_end_diagnosis_and_writing_seconds']:>14.2f}"
              f"{(found['doctor_hook_median'] or 0.0):>14.4f}{(found['hook_epoch_ratio'] or 0.0):>13.3f}"
              f"{found['first_epoch_extra_seconds']:>14.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    import importlib.util

    if importlib.util.find_spec("plateau_doctor") is None:  # run from a checkout: its package
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import logging

    import keras

    logging.basicConfig(level=logging.WARNING)
    results = {"environment": environment(keras), "small": args.small, "models": {}}
    print("environment:", json.dumps(results["environment"]), flush=True)
    results["first_use_seconds"] = first_use_seconds()
    print(f"imports for the train end (once per process): {results['first_use_seconds']:.2f} s", flush=True)
    plots = plot_timer()
    repeats = args.repeats or (1 if args.small else 2)
    for kind in [name.strip() for name in args.models.split(",") if name.strip()]:
        try:
            results["models"][kind] = run_model(keras, kind, sizes(args)[kind], plots, repeats)
        except Exception as error:  # one model's failure must not lose the other's numbers
            traceback.print_exc()
            results["models"][kind] = {"error": f"{type(error).__name__}: {error}"}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    # The GPU machine has neither: the callback must not have needed them.
    results["environment"]["imported_tensorflow_or_prefect"] = sorted(
        name for name in ("tensorflow", "prefect") if name in sys.modules)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results)
    if args.json:
        print(f"numbers: {args.json}")
    return 0 if all("error" not in found for found in results["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
