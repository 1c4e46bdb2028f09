"""The PyTorch backend on an accelerator: the doctor's gradient norms equal JAX's on the same
weights, and DoctorCallback watches a torch fit on the GPU.

Runs where torch and jax are installed (the GPU machine), each backend in its own process
(Keras fixes its backend at import). Prints one JSON line per check and writes them to
``--out``/torch_check.json.

    python harness/device_torch_check.py --out /tmp/check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NORMS = """
import json, sys
import numpy as np
import keras
from plateau_doctor.training.backends import current_backend
saved = np.load(sys.argv[1])
inputs = keras.Input((16, 16, 3))
h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
h = keras.layers.Dense(16, activation="tanh", name="hidden")(h)
model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="out")(h))
model.set_weights([saved[f"w{i}"] for i in range(len(model.weights))])
norms = current_backend().gradient_norms(model, keras.losses.get("sparse_categorical_crossentropy"), saved["x"], saved["y"])
device = ""
if keras.backend.backend() == "torch":
    import torch
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
elif keras.backend.backend() == "jax":
    import jax
    device = str(jax.devices()[0])
print(json.dumps({"backend": keras.backend.backend(), "device": device, "norms": norms}))
"""

CALLBACK = """
import json, sys, time
import numpy as np
import keras
from plateau_doctor.keras import DoctorCallback
rng = np.random.default_rng(0)
x = rng.normal(size=(8192, 32, 32, 3)).astype("float32")
y = (x[:, :16, :16, 0].mean(axis=(1, 2)) > 0).astype("int64")
def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
times = {}
for name, callbacks in (("bare", []), ("doctor", [DoctorCallback(out=sys.argv[1], verbose=False)])):
    model = build()
    started = time.perf_counter()
    model.fit(x[:6144], y[:6144], validation_data=(x[6144:], y[6144:]), epochs=4, batch_size=256, verbose=0, callbacks=callbacks)
    times[name] = time.perf_counter() - started
doctor = callbacks[0]
summary = doctor.summary or {}
signals = {k: v[-1] for k, v in doctor.records.items() if k in ("grad_norm", "dead_fraction", "update_ratio", "val_loss")}
print(json.dumps({"backend": keras.backend.backend(), "fit_seconds": times, "status": summary.get("status"),
                  "last_signals": signals, "run_dir": str(doctor.run_dir)}))
"""


def _run(code: str, backend: str, *args: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        return {"backend": backend, "error": done.stderr[-3000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/torch-check"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 3, 8), (8,), (8, 16), (16,), (16, 4), (4,)]
    arrays = {f"w{i}": (rng.normal(size=shape) * 0.4).astype("float32") for i, shape in enumerate(shapes)}
    arrays["x"] = rng.normal(size=(64, 16, 16, 3)).astype("float32")
    arrays["y"] = rng.integers(0, 4, size=64)
    weights = args.out / "weights.npz"
    np.savez(weights, **arrays)

    report: dict = {"norms": {b: _run(NORMS, b, str(weights)) for b in ("torch", "jax")}}
    torch_norms, jax_norms = report["norms"]["torch"].get("norms"), report["norms"]["jax"].get("norms")
    if torch_norms and jax_norms:
        report["max_relative_difference"] = max(
            abs(torch_norms[k] - jax_norms[k]) / abs(jax_norms[k]) for k in jax_norms
        )
    started = time.perf_counter()
    report["callback_torch"] = _run(CALLBACK, "torch", str(args.out / "callback"))
    report["callback_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1))
    (args.out / "torch_check.json").write_text(json.dumps(report, indent=1))
    return 0 if "max_relative_difference" in report and "error" not in report["callback_torch"] else 1


if __name__ == "__main__":
    sys.exit(main())
