"""Remedy branches on small real fits: a failure is recorded, the others finish; a seed repeats."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from conftest import make_classification_frame, make_regression_frame
from plateau_doctor.config import validate_config
from plateau_doctor.run.executor import Executor
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.data.prepared import prepare_from_config
from plateau_doctor.run.branch import run_branch
from plateau_doctor.training.range_test import lr_range_test
from plateau_doctor.engine.verdict import choose_winner


def _config(tmp_path, frame, **sections):
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    return validate_config({"data": {"path": str(path)}, **sections})


def test_a_failing_branch_is_recorded_and_the_others_finish(tmp_path):
    frame = make_regression_frame(200)
    frame["target"] = frame["target"] * 1e6
    config = _config(tmp_path, frame, training={"epochs": 4}, model={"hidden_units": [8]})
    plans = [
        RemedyPlan("architecture", {"model.activation": "no_such_activation"}, "raises", ["x"]),
        RemedyPlan("learning_rate", {"training.optimizer": "sgd", "training.learning_rate": 50.0,
                                     "preprocessing.scale_features": False}, "goes NaN", ["x"]),
        RemedyPlan("preprocessing", {"preprocessing.scale_target": True}, "works", ["unscaled_target"]),
    ]
    raises, nan, works = Executor().train_branches(config, plans, str(tmp_path / "branches"), "")
    assert raises.status == "failed" and "no_such_activation" in raises.error
    assert nan.status == "failed" and "not finite" in nan.error
    assert works.status == "ok" and works.epochs == 4 and (tmp_path / "branches").is_dir()
    assert math.isfinite(works.metrics["val_r2"]) and works.model_path is not None
    winner, reason = choose_winner("regression", {"val_r2": float("nan")}, [raises, nan, works], 0.02)
    assert winner is works and "preprocessing reached val_r2" in reason


def test_range_test_sweeps_up_and_stops_at_blow_up(tmp_path):
    config = _config(tmp_path, make_classification_frame(300), model={"hidden_units": [16]})
    data = prepare_from_config(config, audit=False)
    lrs, losses = lr_range_test(config, data)
    assert np.all(np.diff(lrs) > 0) and lrs[0] == pytest.approx(1e-6)
    assert len(lrs) < 200  # stopped before the end of the sweep: the loss blew up
    assert np.nanmin(losses) < losses[0]


def test_learning_rate_branch_uses_the_range_test_suggestion(tmp_path):
    config = _config(tmp_path, make_classification_frame(300), training={"epochs": 3, "learning_rate": 1e-6})
    plan = RemedyPlan("learning_rate", {"training.learning_rate": 1e-5}, "too low", ["learning_rate_too_low"],
                      lr_range_test=True)
    outcome = run_branch(config, plan, str(tmp_path / "m.keras"))
    assert outcome.status == "ok"
    assert outcome.params["training.learning_rate"] != 1e-5 and outcome.params["training.learning_rate"] > 1e-5
    assert "suggestion" in outcome.lr_suggestion


def _branch_in_a_process(args):
    config_json, plan, path = args
    from plateau_doctor.config import validate_config as validate

    return run_branch(validate(config_json), plan, path).metrics


def test_a_branch_gives_the_same_result_in_its_own_process_and_here(tmp_path):
    config = _config(tmp_path, make_classification_frame(300), training={"epochs": 3})
    plan = RemedyPlan("capacity", {"model.hidden_units": [32, 16]}, "wider", ["insufficient_capacity"])
    here = run_branch(config, plan, str(tmp_path / "a.keras")).metrics
    job = (config.model_dump(mode="json"), plan, str(tmp_path / "b.keras"))
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        first, second = pool.map(_branch_in_a_process, [job, job])
    assert here == first == second
