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


def _stored(values, epochs, allowed, target=0.9):
    finite = [v for v in values if v == v]
    return bench.TpeResult("s", target, 0.85, max(finite) >= target, max(finite) >= 0.85, len(values), sum(epochs), 40,
                           1.0, max(finite), values=values, trial_epochs=epochs, trials_allowed=allowed)


def test_a_stored_study_answers_every_target_one_of_its_trials_reached():
    stored = _stored([0.5, float("nan"), 0.88, 0.93], [40, 3, 40, 40], allowed=30)
    lower = bench.replay(stored, 0.87)
    assert (lower.trials, lower.epochs, lower.reached_target, lower.best_metric) == (3, 83, True, 0.88)
    assert lower.reached_bar and lower.total_epochs == 123
    assert bench.replay(stored, 0.95) is None  # it stopped at 0.9: trial 5 onwards might reach 0.95


def test_a_study_that_spent_every_trial_answers_any_target():
    stored = _stored([0.5, 0.6], [40, 40], allowed=2, target=0.99)
    higher = bench.replay(stored, 0.95)
    assert (higher.trials, higher.epochs, higher.reached_target, higher.reached_bar) == (2, 80, False, False)


def test_a_study_stored_without_its_trials_answers_only_its_own_target():
    stored = bench.TpeResult("s", 0.9, 0.85, True, True, 5, 200, 40, 1.0, 0.91)
    assert bench.replay(stored, 0.9) is stored and bench.replay(stored, 0.89) is None


def test_with_both_sets_the_report_gives_each_set_apart():
    def pair(name, which, doc, tpe):
        row = {"within_tolerance": True, "epochs_trained_total": doc, "final_metric": 0.9, "scenario_set": which}
        return row, bench.TpeResult(name, 0.9, 0.85, True, True, 5, tpe - 40, 40, 1.0, 0.9)

    text = bench.report([pair("a", "suite", 20, 100), pair("b", "heldout", 90, 60), pair("c", "suite", 30, 60)], 30)
    suite_part, heldout_part, both_part = text.split("== suite ==")[1], text.split("== heldout ==")[1], text.split("== both")[1]
    assert "50 / 160 = 0.31x overall" in suite_part and "worst 0.50x (c;" in suite_part
    assert "90 / 60 = 1.50x overall" in heldout_part.split("== suite")[0]
    assert "140 / 220 = 0.64x overall" in both_part and "1 case(s) above 1.0x" in both_part
