"""Entry point of the scheduled retraining deployment (prefect.yaml: ``flows/retrain.py:retrain``).

The flow itself is ``plateau_doctor.orchestration.flows.retrain``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the entry point chooses; importing the package does not

from plateau_doctor.orchestration.flows import retrain  # noqa: E402

__all__ = ["retrain"]

if __name__ == "__main__":
    from plateau_doctor.config import load_config

    print(retrain(load_config(sys.argv[1] if len(sys.argv) > 1 else None))["status"])
