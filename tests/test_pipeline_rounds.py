"""The round loop and the search fallback of ``run.rounds.treat``, with hand-written steps (no training)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from builders import make_audit, make_setup
from plateau_doctor.config import validate_config
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.run.executor import Executor
from plateau_doctor.run.rounds import treat
from plateau_doctor.run.state import RunState
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.results.publish import RunRecord, findings_frame, remedies_frame, repair_path
from plateau_doctor.results.store import RunWriter
from plateau_doctor.schema import Finding
from plateau_doctor.engine.verdict import BranchOutcome

PLATEAU = Finding("symptom", "plateau", 0.8, "flat")
SLOW = Finding("cause", "learning_rate_too_low", 0.7, "lr 1e-5")


class FakeDoctor:
    """Stages that return hand-written outcomes: ``scores[round][remedy]`` is a branch's balanced accuracy."""

    def __init__(self, scores, next_plans, search_score=None):
        self.scores, self.next_plans, self.search_score = scores, next_plans, search_score
        self.round = 0
        self.searched = []

    def run_branches(self, config, plans, folder):
        self.round += 1
        return [
            BranchOutcome(p.remedy, dict(p.overrides), "", epochs=int(p.overrides["training.epochs"]),
                          metrics={"val_balanced_accuracy": self.scores[self.round][p.remedy], "val_log_loss": 0.3},
                          setup=make_setup(), history=None)
            for p in plans
        ]

    def diagnose(self, history, data, setup, config, preflight):
        return [PLATEAU], [SLOW]

    def plan(self, causes, symptoms, config, setup, data, history):
        assert config.remedies.budget_epochs < 400  # planned within what is left of the budget
        # Each plan a set-up of its own: a plan that changed nothing but the epochs would repeat round 1.
        return [RemedyPlan(name, {"training.epochs": 10, "training.learning_rate": 0.1 / (i + 1)}, "", ["x"])
                for i, name in enumerate(self.next_plans)]

    def search(self, config, request, folder, split_dir):
        self.searched.append(request)
        if self.search_score is None:
            return []
        return [BranchOutcome("search", {**request.base_overrides, "training.epochs": 10}, "trial 1", epochs=10,
                              metrics={"val_balanced_accuracy": self.search_score, "val_log_loss": 0.2}, round=request.round,
                              name="search-1")]

    def treat(self, record, plans, writer, data):
        """Round after round through an executor whose steps are these hand-written ones."""
        doctor = self

        class Steps(Executor):
            def wrap(self, name, function):
                return {"diagnose": doctor.diagnose, "plan-remedies": doctor.plan, "guided-search": doctor.search}[name]

            def train_branches(self, config, plans, folder, split_dir):
                return doctor.run_branches(config, plans, folder)

        state = RunState(executor=Steps(logger=logging.getLogger("test")), data=data, writer=writer, record=record, plans=plans)
        treat(record.config, state)


def _record(tmp_path, **remedies):
    config = validate_config({"training": {"epochs": 10}, "remedies": remedies, "output": {"dir": str(tmp_path)}})
    audit = make_audit(linear_reference_metrics={"val_balanced_accuracy": 0.8})
    empty = np.zeros((2, 2))
    data = PreparedData("binary", ["a", "b"], empty, np.zeros(2), empty, np.zeros(2), np.zeros(2), None, None, audit)
    record = RunRecord(
        run_id="r", config=config, audit=audit, setup=make_setup(), preprocessing={}, preflight=[],
        baseline_history=pd.DataFrame(), baseline_metrics={"val_balanced_accuracy": 0.5, "val_log_loss": 0.69},
        baseline_epochs=10, baseline_model_path="b.keras", stopped_by=None, symptoms=[PLATEAU], causes=[SLOW],
    )
    return record, data, RunWriter(tmp_path, "r")


FIRST = [RemedyPlan("preprocessing", {"preprocessing.scale_features": True, "training.epochs": 10}, "", ["x"])]


def test_a_winner_short_of_the_level_is_treated_again_until_the_level(tmp_path):
    record, data, writer = _record(tmp_path)
    doctor = FakeDoctor({1: {"preprocessing": 0.70}, 2: {"learning_rate": 0.94}}, ["learning_rate"])
    doctor.treat(record, FIRST, writer, data)
    assert [w.remedy for w in record.round_winners] == ["preprocessing", "learning_rate"]
    assert record.stop_reason == "round 2 reached the attainable level" and doctor.searched == []
    # Round 2 started from round 1's winner: its params carry round 1's fix.
    assert record.winner.params["preprocessing.scale_features"] is True and record.winner.round == 2
    assert findings_frame(record)["round"].tolist() == [0, 0, 1, 1]
    assert remedies_frame(record)["round"].tolist() == [1, 2]
    assert [step["step"] for step in repair_path(record)] == ["baseline", "preprocessing", "learning_rate@2"]


def test_a_plan_that_repeats_an_earlier_branch_is_not_run_again_and_the_search_takes_over(tmp_path):
    record, data, writer = _record(tmp_path)
    doctor = FakeDoctor({1: {"preprocessing": 0.70}}, [], search_score=0.95)
    # Round 2's diagnosis asks for round 1's own set-up again (on top of it, no change but the epochs).
    doctor.plan = lambda *args: [RemedyPlan("preprocessing", {"training.epochs": 10}, "", ["x"])]
    doctor.treat(record, FIRST, writer, data)
    assert doctor.round == 1  # no second round was trained
    repeat = record.outcomes[-2] if record.outcomes[-1].remedy == "search" else record.outcomes[-1]
    assert repeat.status == "pruned" and repeat.epochs == 0 and "already trained in round 1" in repeat.error
    assert record.stop_reason == "every branch planned for round 2 repeats one that already ran"
    assert len(doctor.searched) == 1 and record.winner.remedy == "search"


def test_a_round_that_brings_less_than_the_margin_stops_and_the_search_starts_from_the_best(tmp_path):
    record, data, writer = _record(tmp_path)
    doctor = FakeDoctor({1: {"preprocessing": 0.70}, 2: {"learning_rate": 0.71}}, ["learning_rate"], search_score=0.95)
    doctor.treat(record, FIRST, writer, data)
    assert "round 2 brought no branch past the margin" in record.stop_reason
    (request,) = doctor.searched
    assert request.base_overrides["preprocessing.scale_features"] is True and request.round == 3
    assert request.budget_epochs == 400 - 20 and request.candidates == []
    assert record.winner.remedy == "search" and record.round_winners[-1].name == "search-1"


def test_when_the_rounds_run_out_the_plans_left_are_the_search_candidates(tmp_path):
    record, data, writer = _record(tmp_path, max_rounds=1)
    doctor = FakeDoctor({1: {"preprocessing": 0.70}}, ["learning_rate", "capacity"])
    doctor.treat(record, FIRST, writer, data)
    assert "max_rounds (1)" in record.stop_reason
    (request,) = doctor.searched
    assert [c["preprocessing.scale_features"] for c in request.candidates] == [True, True]
    assert record.winner.remedy == "preprocessing"  # the search found nothing better


@pytest.mark.parametrize("trials, causes, searched", [(0, [SLOW], False), (20, [], True),
                                                     (20, [Finding("cause", "no_learnable_signal", 0.9, "")], False)])
def test_with_no_plan_the_search_runs_unless_off_or_there_is_no_signal(tmp_path, trials, causes, searched):
    record, data, writer = _record(tmp_path, search_trials=trials)
    record.causes = causes
    doctor = FakeDoctor({}, [], search_score=0.9)
    doctor.treat(record, [], writer, data)
    assert bool(doctor.searched) is searched
    assert "no remedy branch applies" in record.stop_reason


# --------------------------------------------------------------------------- the level within the noise
class PairedDoctor(FakeDoctor):
    """Branches whose kept validation predictions (beside their model) give their balanced accuracy:
    the reference's errors plus ``extra`` more rows wrong per class, on ``rows_per_class`` rows a class."""

    def __init__(self, scores, next_plans, rows_per_class, folder, search_score=None):
        super().__init__(scores, next_plans, search_score)
        self.rows_per_class, self.folder = rows_per_class, folder

    def run_branches(self, config, plans, folder):
        from plateau_doctor.run.branch import predictions_path

        outcomes = super().run_branches(config, plans, folder)
        for outcome in outcomes:
            outcome.model_path = str(self.folder / f"{outcome.remedy}-{self.round}.keras")
            balanced = outcome.metrics["val_balanced_accuracy"]
            np.save(predictions_path(outcome.model_path), _predictions(self.rows_per_class, 1.0 - balanced))
        return outcomes


def _predictions(rows_per_class: int, error: float) -> np.ndarray:
    """Class codes of a balanced binary split, wrong on the first ``error`` share of each class."""
    y = np.repeat([0, 1], rows_per_class)
    predicted = y.copy()
    for code in (0, 1):
        predicted[np.flatnonzero(y == code)[: round(error * rows_per_class)]] = 1 - code
    return predicted


def _with_reference(tmp_path, record, data, rows_per_class):
    """The reference's predictions beside the split (its balanced accuracy is the audit's 0.95)."""
    import dataclasses

    from plateau_doctor.data.audit import ReferencePredictions
    from plateau_doctor.data.prepared import write_reference_predictions

    y = np.repeat([0, 1], rows_per_class)
    reference = ReferencePredictions("hist_gradient_boosting", y, _predictions(rows_per_class, 0.05))
    write_reference_predictions(tmp_path, record.config.preprocessing, "binary", reference)
    record.audit = dataclasses.replace(record.audit, n_val=2 * rows_per_class)
    return dataclasses.replace(data, split_dir=str(tmp_path), audit=record.audit)


@pytest.mark.parametrize("rows_per_class, stops", [(20, True), (1000, False)])
def test_the_rounds_stop_at_the_level_within_the_noise_of_the_validation_rows(tmp_path, rows_per_class, stops):
    # Round 1's winner is 0.05 under the level (0.95), more than the tolerance 0.03: on 40 rows that
    # is within the noise and the rounds stop there, unsearched; on 2,000 rows it is not.
    record, data, writer = _record(tmp_path)
    data = _with_reference(tmp_path, record, data, rows_per_class)
    doctor = PairedDoctor({1: {"preprocessing": 0.90}, 2: {"learning_rate": 0.95}}, ["learning_rate"], rows_per_class,
                          tmp_path, search_score=0.94)
    doctor.treat(record, FIRST, writer, data)
    if stops:
        assert record.stop_reason == "round 1 reached the attainable level" and doctor.searched == []
        assert record.winner.remedy == "preprocessing"
    else:
        assert record.stop_reason == "round 2 reached the attainable level" and record.winner.round == 2


def test_the_summary_gives_the_difference_to_the_level_its_interval_and_the_test(tmp_path):
    from plateau_doctor.engine.significance import compare_with_level
    from plateau_doctor.results.publish import build_summary

    record, _, _ = _record(tmp_path)
    record.final_metrics = {"val_balanced_accuracy": 0.90, "val_log_loss": 0.3}
    fallback = build_summary(record)["level"]  # no comparison made: the tolerance alone, no interval
    assert fallback["test"] == "tolerance_only" and fallback["interval"] == [None, None]
    assert fallback["difference"] == pytest.approx(-0.05) and fallback["n_val"] == record.audit.n_val
    y = np.repeat([0, 1], 57)
    record.level = compare_with_level("binary", y, _predictions(57, 0.10), _predictions(57, 0.05),
                                      confidence=0.95, tolerance=0.03, seed=0)
    level = build_summary(record)["level"]
    low, high = level["interval"]
    assert level["test"] == "paired_bootstrap_by_class" and level["n_val"] == 114 and level["confidence"] == 0.95
    # Three more rows wrong per class and none right where the reference errs: significant on 114 rows.
    assert low <= level["difference"] <= high < 0 and level["significantly_below"] is True
    assert level["gap"] == pytest.approx(0.05) and level["tolerance"] == 0.03 and level["attainable"] == 0.95
