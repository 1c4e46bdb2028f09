"""Rounds, racing and the fallback search on small real fits (slow), and the search space on plain configs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_classification_frame
from plateau_doctor.config import validate_config
from plateau_doctor.schema import Finding


def _circles_config(tmp_path, **remedies):
    """Unscaled features, SGD and a 2-unit net on circles: scaling alone leaves it short of the level."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=600, noise=0.08, factor=0.5, random_state=0)
    frame = pd.DataFrame(x * 1000 + 3000, columns=["a", "b"])
    frame["target"] = y
    frame.to_csv(tmp_path / "circles.csv", index=False)
    return validate_config({
        "data": {"path": str(tmp_path / "circles.csv")},
        "preprocessing": {"scale_features": False},
        "model": {"hidden_units": [2]},
        "training": {"optimizer": "sgd", "learning_rate": 0.01, "epochs": 15},
        "remedies": remedies,
        "output": {"dir": str(tmp_path / "out")},
    })


def _classification_setup(tmp_path, *, rows, units, epochs, learning_rate):
    """A config over a small classification table written to ``tmp_path``, and its prepared split."""
    from plateau_doctor.data.prepared import prepare_from_config

    make_classification_frame(rows).to_csv(tmp_path / "t.csv", index=False)
    config = validate_config({"data": {"path": str(tmp_path / "t.csv")}, "model": {"hidden_units": [units]},
                              "training": {"epochs": epochs, "learning_rate": learning_rate}})
    return config, prepare_from_config(config)


@pytest.mark.slow
def test_a_winner_short_of_the_level_is_diagnosed_again_and_treated_in_a_second_round(tmp_path):
    from plateau_doctor.run.pipeline import run_doctor

    summary, run_dir, _ = run_doctor(_circles_config(tmp_path, search_trials=0, max_rounds=2))
    remedies = pd.read_parquet(tmp_path / "out" / "remedies")
    diagnosis = pd.read_parquet(tmp_path / "out" / "diagnosis")
    assert set(remedies["round"]) == {1, 2}
    assert {0, 1} <= set(diagnosis["round"])  # the baseline's diagnosis, then each winner's
    steps = summary["path"]
    assert steps[0]["step"] == "baseline" and steps[1]["round"] == 1 and len(steps) >= 2
    # Round 2 starts from round 1's winner (here: the features scaled), whatever else it changes.
    first = remedies[(remedies["round"] == 1) & (remedies["remedy"] == steps[1]["step"])]
    assert json.loads(first["params"].iloc[0])["preprocessing.scale_features"] is True
    for params in remedies.loc[remedies["round"] == 2, "params"].map(json.loads):
        assert params["preprocessing.scale_features"] is True
    # Round 1's winner is short of the level (gradient boosting's 0.98); diagnosed again, its two
    # units creep far above the reference, and round 2's wider net reaches the level: repaired.
    level = summary["level"]
    assert steps[1]["metric"] < level["attainable"] - level["tolerance"]
    assert "insufficient_capacity" in set(diagnosis.loc[(diagnosis["round"] == 1) & (diagnosis["kind"] == "cause"), "name"])
    assert "capacity" in steps[2]["step"] and summary["status"] == "repaired"
    assert level["final"] >= level["attainable"] - level["tolerance"]
    report = (run_dir / "report.md").read_text()
    assert "baseline → preprocessing" in report and "round 2" in report


@pytest.mark.slow
def test_a_winner_short_of_the_level_with_no_round_or_search_left_is_improved_never_repaired(tmp_path):
    from plateau_doctor.run.pipeline import run_doctor

    summary, _, _ = run_doctor(_circles_config(tmp_path, search_trials=0, max_rounds=1))
    assert [step["round"] for step in summary["path"]] == [0, 1]
    assert summary["status"] == "improved" and summary["level"]["gap"] > summary["level"]["tolerance"]


@pytest.mark.slow
def test_the_search_takes_over_when_the_rounds_stop_short(tmp_path):
    from plateau_doctor.run.pipeline import run_doctor

    summary, _, record = run_doctor(_circles_config(tmp_path, search_trials=2, max_rounds=1))
    trials = [o for o in record.outcomes if o.remedy == "search"]
    assert 1 <= len(trials) <= 2 and summary["search_trials"] == len(trials)
    assert all(o.round == 2 for o in trials)  # after round 1, from round 1's winner
    assert trials[0].params["preprocessing.scale_features"] is True
    remedies = pd.read_parquet(tmp_path / "out" / "remedies")
    assert (remedies["remedy"] == "search").sum() == len(trials)
    assert remedies.loc[remedies["remedy"] == "search", "reason"].str.contains("trial 1 of at most 2").any()
    history = pd.read_parquet(tmp_path / "out" / "history")
    assert "search-1" in set(history["branch"])


@pytest.mark.slow
def test_the_search_repeats_with_the_seed_and_tries_the_diagnosis_candidates_first(tmp_path):
    from plateau_doctor.run.search import SearchRequest, run_search

    config, data = _classification_setup(tmp_path, rows=300, units=8, epochs=6, learning_rate=1e-3)
    audit = data.audit
    request = SearchRequest(base_overrides={}, causes=[Finding("cause", "learning_rate_too_low", 0.9, "")],
                            candidates=[{"training.learning_rate": 0.01}], trials=2, budget_epochs=12, audit=audit)
    first = run_search(config, request, str(tmp_path / "a"))
    assert first[0].params["training.learning_rate"] == 0.01 and "a candidate of the diagnosis" in first[0].reason
    assert all(o.params["training.learning_rate"] >= 2.9e-3 for o in first)  # narrowed: 3x the rate called too low
    assert sum(o.epochs for o in first) <= 12
    again = run_search(config, request, str(tmp_path / "b"))
    assert [(o.params, o.metrics) for o in again] == [(o.params, o.metrics) for o in first]


@pytest.mark.slow
def test_a_clearly_lost_branch_is_pruned_at_a_rung_and_the_race_repeats(tmp_path):
    from plateau_doctor.run.executor import Executor
    from plateau_doctor.run.race import race_branches
    from plateau_doctor.engine.planning import RemedyPlan

    config, data = _classification_setup(tmp_path, rows=400, units=16, epochs=15, learning_rate=0.01)
    audit = data.audit
    plans = [
        RemedyPlan("learning_rate", {"training.learning_rate": 1e-6, "training.epochs": 15}, "too small", ["x"]),
        RemedyPlan("capacity", {"model.hidden_units": [32, 16], "training.epochs": 15}, "wider", ["x"]),
    ]
    lost, good = race_branches(config, plans, str(tmp_path / "race"), Executor(), audit, data.split_dir)
    assert lost.status == "pruned" and lost.epochs == 5 and "epoch 5" in lost.pruned_reason
    assert len(lost.history) == 5 and lost.model_path is not None
    assert good.status == "ok" and good.epochs == 15 and good.history["epoch"].tolist() == list(range(1, 16))
    again = race_branches(config, plans, str(tmp_path / "race-again"), Executor(), audit, data.split_dir)
    assert [o.metrics for o in again] == [lost.metrics, good.metrics]


@pytest.mark.slow
def test_a_plan_that_only_trains_longer_goes_on_from_the_last_rounds_branch(tmp_path):
    from plateau_doctor.config import with_overrides
    from plateau_doctor.engine.planning import RemedyPlan
    from plateau_doctor.run.executor import Executor
    from plateau_doctor.run.race import race_branches
    from plateau_doctor.run.rounds import _continuations

    config, data = _classification_setup(tmp_path, rows=400, units=16, epochs=8, learning_rate=1e-3)
    first = RemedyPlan("optimizer", {"training.optimizer": "adam", "training.epochs": 8}, "adam", ["x"])
    (winner,) = race_branches(config, [first], str(tmp_path / "r1"), Executor(), data.audit, data.split_dir)
    winner.round = 1
    base = {key: value for key, value in winner.params.items() if key != "training.epochs"}
    longer = RemedyPlan("optimizer", {"training.epochs": 20}, "too_few_epochs", ["too_few_epochs"])
    other = RemedyPlan("learning_rate", {"training.learning_rate": 0.01, "training.epochs": 20}, "rate", ["x"])
    warm = _continuations([longer, other], base, winner, str(tmp_path / "r2"))
    assert set(warm) == {"optimizer"} and warm["optimizer"].warm_epochs == 8
    assert longer.overrides["training.epochs"] == 12 and "at its epoch 8" in longer.reason
    patient = with_overrides(config, base, "the patient")
    (went_on,) = race_branches(patient, [longer], str(tmp_path / "r2"), Executor(), data.audit, data.split_dir, warm=warm)
    assert went_on.status == "ok" and went_on.epochs == 12 and went_on.params["training.epochs"] == 20
    losses = went_on.history["val_loss"].tolist()
    assert went_on.history["epoch"].tolist() == list(range(1, 21))
    # It resumed: its first new epoch is near where round 1 ended, far below a fresh start's first.
    assert abs(losses[8] - losses[7]) < 0.5 * (losses[0] - losses[7])


# --------------------------------------------------------------------------- the search space (pure)
def _audit(task="binary", n_train=400):
    from plateau_doctor.schema import DataAudit

    return DataAudit(task=task, n_rows=500, n_train=n_train, n_val=100, n_features=3, features=[], scaled_features=True,
                     scaled_target=False, trivial_val_loss=0.69, trivial_metrics={}, reference_model="x",
                     reference_val_loss=0.1, reference_metrics={"val_balanced_accuracy": 0.95})


def _cause(name):
    return Finding("cause", name, 0.8, "")


def test_the_evidence_narrows_the_priors():
    from plateau_doctor.engine.search_space import search_space

    config = validate_config({"training": {"learning_rate": 0.01, "batch_size": 256, "optimizer": "sgd"},
                              "model": {"hidden_units": [8], "dropout": 0.6}})
    plain = search_space(config, _audit(n_train=4000), [], epochs_cap=400)
    assert "relu" in plain.activation and plain.class_weight == ("none", "balanced") and not plain.notes
    causes = [_cause(n) for n in ("learning_rate_too_high", "dead_relu", "class_imbalance", "insufficient_capacity",
                                  "optimizer_choice", "too_few_updates", "too_strong_regularization")]
    narrow = search_space(config, _audit(n_train=4000), causes, epochs_cap=400)
    assert narrow.learning_rate[1] < 0.01 and "relu" not in narrow.activation
    assert narrow.class_weight == ("balanced",) and min(narrow.width) >= 16 and "sgd" not in narrow.optimizer
    assert max(narrow.batch_size) <= 64 and narrow.dropout[1] <= 0.3 and len(narrow.notes) >= 5


def test_a_point_of_the_space_is_a_valid_config_and_a_config_maps_back_into_the_space():
    from plateau_doctor.config import with_overrides
    from plateau_doctor.engine.search_space import overrides_from_params, params_from_config, search_space
    from plateau_doctor.run.search import distributions

    config = validate_config({"model": {"output_activation": "softmax"}, "training": {"epochs": 20}})
    space = search_space(config, _audit(), [_cause("loss_mismatch")], epochs_cap=30)
    assert space.head == ("auto",) and space.epochs == (20, 30)
    point = params_from_config(config, config, space)
    for name, dist in distributions(space).items():
        assert dist._contains(dist.to_internal_repr(point[name])), name
    built = with_overrides(config, overrides_from_params(point, space, config), "test")
    assert built.model.output_activation == "auto" and built.model.hidden_units == [64, 32]


def test_the_search_is_only_the_fallback():
    from plateau_doctor.engine.search_space import search_wanted

    config = validate_config({})
    audit = _audit()
    short = {"val_balanced_accuracy": 0.7}
    assert "0.2500 below" in search_wanted(config, audit, [], short, 100, "no rule applies")
    assert search_wanted(config, audit, [], {"val_balanced_accuracy": 0.93}, 100, "") is None  # at the level
    assert search_wanted(config, audit, [_cause("no_learnable_signal")], short, 100, "") is None
    assert search_wanted(config, audit, [], short, 3, "") is None  # budget spent
    off = validate_config({"remedies": {"search_trials": 0}})
    assert search_wanted(off, audit, [], short, 100, "") is None
