"""Entry point of the doctor deployment (prefect.yaml: ``flows/doctor.py:doctor``).

The flow itself is ``plateau_doctor.orchestration.flows.doctor``; this file only names it
for Prefect and for ``python flows/doctor.py CONFIG.yaml``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the entry point chooses; importing the package does not

from plateau_doctor.orchestration.flows import doctor  # noqa: E402

__all__ = ["doctor"]

if __name__ == "__main__":
    from plateau_doctor.config import load_config

    print(doctor(load_config(sys.argv[1] if len(sys.argv) > 1 else None))["status"])
