"""plateau-doctor: diagnose and repair a Keras model whose training loss stalls."""

import os as _os

# TensorFlow's C++ start-up chatter drowns the progress lines users need to read; oneDNN's
# reordered float sums make two runs with one seed differ. Users can still override both.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
