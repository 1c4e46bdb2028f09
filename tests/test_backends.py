"""training.backend: the backend is chosen before Keras is imported; the doctor runs on JAX (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from plateau_doctor.training.backends import select_backend
from plateau_doctor.errors import ConfigError


def _python(code: str, env_backend: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if env_backend:
        env["KERAS_BACKEND"] = env_backend
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_a_backend_other_than_the_imported_kerass_fails_clearly():
    import keras

    current = keras.backend.backend()
    other = "jax" if current == "tensorflow" else "tensorflow"
    select_backend(current)  # the same backend: nothing to do
    with pytest.raises(ConfigError, match=f"training.backend: '{other}'.*KERAS_BACKEND={other}"):
        select_backend(other)


def test_select_backend_before_keras_is_imported_sets_it_for_this_process_and_its_children():
    result = _python(
        """
        import os, subprocess, sys
        from plateau_doctor.training.backends import select_backend
        select_backend("jax")
        import keras
        child = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"],
                               capture_output=True, text=True).stdout.strip()
        print(keras.backend.backend(), child)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["jax", "jax"]


@pytest.mark.slow
def test_baseline_and_a_branch_train_on_jax_with_gradient_signals_and_repeat_with_the_seed(tmp_path):
    result = _python(
        f"""
        import json, math
        import keras
        from conftest import make_classification_frame
        from plateau_doctor.config import validate_config
        from plateau_doctor.data.prepared import prepare_from_config
        from plateau_doctor.run.pipeline import run_doctor
        from plateau_doctor.training.fit import fit_branch

        frame = make_classification_frame(300)
        frame[["f0", "f1", "f2"]] = frame[["f0", "f1", "f2"]] * 1000 + 5000
        frame.to_parquet("{tmp_path}/table.parquet", index=False)
        config = validate_config({{
            "data": {{"path": "{tmp_path}/table.parquet", "stream": True}},  # PyDataset batches on JAX too
            "preprocessing": {{"scale_features": False}},
            "model": {{"hidden_units": [16]}},
            "training": {{"optimizer": "sgd", "learning_rate": 0.01, "epochs": 10, "backend": "jax"}},
            "remedies": {{"enabled": ["preprocessing"]}},
            "output": {{"dir": "{tmp_path}/out"}},
        }})
        summary, run_dir, record = run_doctor(config)
        branch = record.outcomes[0]
        healthy = config.model_copy(update={{"preprocessing": config.preprocessing.model_copy(update={{"scale_features": True}})}})
        data = prepare_from_config(healthy, audit=False)
        first, second = fit_branch(healthy, data, branch="a"), fit_branch(healthy, data, branch="b")
        print(json.dumps({{
            "backend": keras.backend.backend(),
            "status": summary["status"],
            "causes": [c["cause"] for c in summary["causes"]],
            "branch": [branch.remedy, branch.status, branch.epochs],
            "branch_grad_norms": branch.history["grad_norm"].tolist(),
            "losses": [first.history["loss"].tolist(), second.history["loss"].tolist()],
            "metrics": [first.metrics, second.metrics],
        }}))
        """,
        env_backend="jax",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["status"] == "repaired" and report["causes"][0] == "unscaled_features"
    assert report["branch"][:2] == ["preprocessing", "ok"] and report["branch"][2] >= 1
    # The gradient signals come from backends/jax.py (jax.grad over model.stateless_call).
    assert all(value > 0 for value in report["branch_grad_norms"])
    assert report["losses"][0] == report["losses"][1]
    assert report["metrics"][0] == report["metrics"][1]


def test_a_draw_from_pythons_random_between_the_seed_and_the_build_changes_no_weight():
    """Keras seeds unseeded initializers and layers from Python's global ``random``, which other
    threads draw from too (a Dask worker's event loop does, every second or so)."""
    import random

    import keras
    import numpy as np

    from plateau_doctor.training.backends import seeded

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5), keras.layers.Dense(1)])
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b))

    keras.utils.set_random_seed(3)
    plain = build()
    keras.utils.set_random_seed(3)
    random.random()
    assert not same(plain, build())  # the hazard: one foreign draw and the weights differ

    with seeded(3):
        quiet = build()
    with seeded(3):
        random.random()  # another thread's draw, between the seed and the build
        busy = build()
    assert same(quiet, busy) and same(quiet, plain)  # immune, and the very weights of an undisturbed run


_NORMS_ON_SAVED_WEIGHTS = """
    import json, sys
    import keras, numpy as np
    from plateau_doctor.training.backends import current_backend
    saved = np.load(sys.argv[1])
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(h)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="out")(h))
    model.set_weights([saved[f"w{i}"] for i in range(len(model.weights))])
    norms = current_backend().gradient_norms(model, keras.losses.get("sparse_categorical_crossentropy"),
                                             saved["x"], saved["y"])
    print(json.dumps({"backend": keras.backend.backend(), "norms": norms}))
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_gradient_norms_equal_tensorflows_on_the_same_weights(tmp_path, backend):
    """The same weights and batch in processes with different KERAS_BACKEND: each backend's gradients
    (torch.autograd, jax.grad, GradientTape) give the same per-layer norms, to float32 precision."""
    pytest.importorskip(backend)
    import numpy as np

    rng = np.random.default_rng(0)
    shapes = [(3, 3, 2, 3), (3,), (48, 8), (8,), (8, 4), (4,)]  # conv kernel and bias, hidden, output
    arrays = {f"w{i}": (rng.normal(size=shape) * 0.4).astype("float32") for i, shape in enumerate(shapes)}
    arrays["x"] = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    arrays["y"] = rng.integers(0, 4, size=32)
    np.savez(tmp_path / "weights.npz", **arrays)

    found = {}
    for name in ("tensorflow", backend):
        done = _python(_NORMS_ON_SAVED_WEIGHTS.replace("sys.argv[1]", repr(str(tmp_path / "weights.npz"))), name)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["backend"] == name
        found[name] = report["norms"]
    assert set(found[backend]) == set(found["tensorflow"]) == {"conv", "hidden", "out"}
    for layer, reference in found["tensorflow"].items():
        assert reference > 0
        assert found[backend][layer] == pytest.approx(reference, rel=1e-5), layer


@pytest.mark.slow
def test_a_branch_trains_on_torch_with_gradient_signals_and_repeats_with_the_seed():
    pytest.importorskip("torch")
    result = _python(
        """
        import json, math
        import keras
        from conftest import make_classification_frame
        from plateau_doctor.config import validate_config
        from plateau_doctor.data.prepared import prepare_data
        from plateau_doctor.training.fit import fit_branch

        config = validate_config({"model": {"hidden_units": [16, 8]},
                                  "training": {"epochs": 3, "backend": "torch"}})
        data = prepare_data(make_classification_frame(300), config.data, config.preprocessing)
        first, second = fit_branch(config, data, branch="a"), fit_branch(config, data, branch="b")
        columns = ["loss", "val_loss", "grad_norm", "dead_fraction", "update_ratio", "val_balanced_accuracy"]
        print(json.dumps({
            "backend": keras.backend.backend(),
            "histories": [first.history[columns].to_dict("list"), second.history[columns].to_dict("list")],
        }))
        """,
        env_backend="torch",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "torch"
    first, second = report["histories"]
    assert first == second  # seeded: the same numbers twice
    assert all(value > 0 for value in first["grad_norm"])
    assert all(0.0 <= value <= 1.0 for value in first["dead_fraction"])
    assert first["loss"][-1] < first["loss"][0]
