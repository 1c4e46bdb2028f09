"""plateau-doctor: diagnose and repair a Keras model whose training loss stalls.

Importing the package imports neither TensorFlow nor Keras and leaves the user's Keras
backend alone (``KERAS_BACKEND``): the entry points (the CLI, the Prefect flows) choose
the backend, a user's own script keeps the one it chose. The public names below load
their modules on first use.
"""

import os as _os

# TensorFlow's C++ start-up chatter drowns the progress lines users need to read; oneDNN's
# reordered float sums make two runs with one seed differ. Users can still override both.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

_LAZY = {
    "run": "plateau_doctor.api",
    "diagnose": "plateau_doctor.api",
    "repair": "plateau_doctor.repairing",
    "DoctorResult": "plateau_doctor.api",
    "DoctorCallback": "plateau_doctor.training.callback",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plateau_doctor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
