"""The TPE benchmark's search space and report, without training (the benchmark itself is a script)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import optuna
import pytest

from harness import suite
from plateau_doctor.engine.planning import RemedyPlan, apply_plan

_SPEC = importlib.util.spec_from_file_location("benchmark_tpe", Path(__file__).parent.parent / "harness" / "benchmark_tpe.py")
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["benchmark_tpe"] = bench  # dataclasses look their module up there
_SPEC.loader.exec_module(bench)

POINT = {"depth": 2, "width": 32, "learning_rate": 0.01, "optimizer": "sgd", "activation": "tanh",
         "scale_features": False, "scale_target": True, "class_weight": "balanced", "batch_size": 64,
         "dropout": 0.1, "l2": 1e-4, "epochs": 30, "default_loss": True, "default_output_activation": False,
         "default_kernel_initializer": True}


@pytest.mark.parametrize("space", ["usual", "wide"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_every_point_of_the_space_is_a_valid_config(task, space):
    scenario = suite.load_suite()[0]
    config = suite.scenario_config(scenario)
    overrides = bench.suggest(optuna.trial.FixedTrial(POINT), task, config, space)
    tuned = apply_plan(config, RemedyPlan("tpe", overrides, "", []))
    assert tuned.model.hidden_units == [32, 32] and tuned.training.optimizer == "sgd"
    assert ("preprocessing.scale_target" in overrides) == (task == "regression")
    assert ("preprocessing.class_weight" in overrides) == (task != "regression")
    assert (tuned.training.batch_size == 64) == (space == "wide")
    if space == "wide":
        assert tuned.training.loss == "auto" and tuned.model.kernel_initializer == "glorot_uniform"


def test_the_report_compares_epochs_only_over_cases_both_reached():
    def tpe(name, reached, epochs):
        return bench.TpeResult(name, 0.9, 0.85, reached, reached, 5, epochs, 40, 1.0, 0.9 if reached else 0.5)

    pairs = [
        ({"within_tolerance": True, "epochs_trained_total": 60, "final_metric": 0.9}, tpe("a", True, 200)),
        ({"within_tolerance": True, "epochs_trained_total": 100, "final_metric": 0.9}, tpe("b", True, 60)),
        ({"within_tolerance": False, "epochs_trained_total": 10, "final_metric": 0.5}, tpe("c", True, 60)),
        ({"within_tolerance": True, "epochs_trained_total": 80, "final_metric": 0.9}, tpe("d", False, 900)),
    ]
    text = bench.report(pairs, 30)
    assert "doctor 3/4, TPE 3/4" in text
    # a: 60 / 240, b: 100 / 100 -> totals 160 / 340, median of 0.25 and 1.0
    assert "160 / 340 = 0.47x overall" in text and "median 0.62x" in text
