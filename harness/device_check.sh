#!/usr/bin/env bash
# Device check for a GPU machine: JAX sees the accelerator, the demo runs on the JAX backend,
# and the stream benchmark's pass 1 and training epoch run there. Short: about 5 minutes.
#
#   bash harness/device_check.sh            # from the repository root
#   PYTHON=.venv/bin/python ROWS=2000000 OUT=/tmp/check bash harness/device_check.sh
#
# The GPU machine may have JAX and Keras but no TensorFlow: nothing here imports it
# (KERAS_BACKEND=jax before any Keras import), and the repository runs from PYTHONPATH, so
# installing the project (whose dependencies name tensorflow-cpu) is not needed. Without
# Prefect the demo runs the same pipeline without the flow (branches one after another).
set -euo pipefail
export KERAS_BACKEND=jax
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
ROWS=${ROWS:-10000000}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PLATEAU_DOCTOR_DEVICE_OUT="$OUT"

echo "== devices"
"$PY" -c 'import jax, keras; print("jax", jax.__version__, jax.devices(), "| keras", keras.__version__, keras.backend.backend())'

echo "== demo on the JAX backend"
if "$PY" -c 'import prefect' 2>/dev/null; then
  timeout "${DEMO_TIMEOUT:-400}" "$PY" -m plateau_doctor.cli demo --out "$OUT/demo" --set training.backend=jax
else
  timeout "${DEMO_TIMEOUT:-400}" "$PY" - <<'PYEOF'
import os, time
from plateau_doctor.cli import DEMO_CONFIG
from plateau_doctor.config import load_config
from plateau_doctor.run.pipeline import run_doctor
config = load_config(DEMO_CONFIG, ["training.backend=jax", f"output.dir={os.environ['PLATEAU_DOCTOR_DEVICE_OUT']}/demo"])
started = time.perf_counter()
summary, run_dir, _ = run_doctor(config)
print("verdict:", summary["status"], "| remedy:", summary["chosen_remedy"], "| final:", summary["final"],
      f"| {time.perf_counter() - started:.1f} s | report: {run_dir / 'report.html'}")
PYEOF
fi

echo "== stream benchmark: $ROWS rows, batch 8192"
timeout "${BENCH_TIMEOUT:-500}" "$PY" harness/benchmark_stream.py --rows "$ROWS" --batch-size 8192 --dir "$OUT/stream"
