"""The live-repair figures: the digits CNN at Adam 1.0, without and with ``DoctorCallback(repair=True)``.

The fit is the one ``tests/test_live_repair.py`` trains (its ``_fit``), on whatever Keras
backend ``KERAS_BACKEND`` selects, on the CPU or a GPU. Prints, per fit, the validation
accuracy after each epoch, the actions taken and the final verdict, as one JSON line.

    KERAS_BACKEND=jax python harness/live_repair_check.py [--epochs 15] [--out /tmp/live]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("/tmp/live-repair-check"))
    args = parser.parse_args()
    import keras

    from tests.test_live_repair import _fit

    for repair in (False, True):
        started = time.perf_counter()
        _, doctor, history = _fit(keras.optimizers.Adam(learning_rate=1.0), args.epochs,
                                  args.out / f"repair-{repair}", repair=repair)
        print(json.dumps({
            "backend": keras.backend.backend(), "repair": repair,
            "val_accuracy": [round(v, 3) for v in history["val_accuracy"]],
            "actions": doctor.summary.get("live_repairs"), "status": doctor.summary["status"],
            "seconds": round(time.perf_counter() - started, 1),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
