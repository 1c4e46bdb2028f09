"""Racing decisions on hand-written scores: who stops after a rung, and where the rungs end."""

from __future__ import annotations

import math

import pytest

from plateau_doctor.engine.racing import Standing, race_decision, rung_epochs


@pytest.mark.parametrize(
    "total, expected",
    [(50, [6, 17, 50]), (30, [10, 30]), (8, [8]), (1, [1]), (200, [8, 23, 67, 200])],
)
def test_rungs_shrink_by_eta_and_none_is_too_short(total, expected):
    assert rung_epochs(total) == expected


def test_bad_rung_settings_are_refused():
    with pytest.raises(ValueError, match="total_epochs"):
        rung_epochs(0)
    with pytest.raises(ValueError, match="eta"):
        rung_epochs(10, eta=1)


def test_the_best_third_goes_on_and_the_clearly_behind_stop():
    standings = [Standing("a", 0.90), Standing("b", 0.70), Standing("c", 0.60), Standing("d", 0.89)]
    stopped = race_decision(standings, behind=0.05)
    assert set(stopped) == {"b", "c"}  # d is within 0.05 of the leader: not clearly behind
    assert "0.2000 below the leader a" in stopped["b"]


def test_a_close_field_all_goes_on():
    assert race_decision([Standing("a", 0.80), Standing("b", 0.79), Standing("c", 0.78)], behind=0.05) == {}


@pytest.mark.parametrize("symptom", ["diverged", "stuck_at_trivial"])
def test_the_detector_stops_a_lost_branch_whatever_its_score(symptom):
    stopped = race_decision([Standing("a", 0.9, (symptom,)), Standing("b", 0.5)], behind=0.05)
    assert stopped == {"a": f"the detector calls it {symptom}"}


def test_a_plateau_alone_does_not_stop_a_branch():
    assert race_decision([Standing("a", 0.9, ("plateau",)), Standing("b", 0.88)], behind=0.05) == {}


def test_a_finished_branch_sets_the_pace_but_is_never_stopped():
    stopped = race_decision([Standing("es", 0.95, finished=True), Standing("b", 0.80), Standing("c", 0.5, finished=True)], 0.05)
    assert stopped == {"b": stopped["b"]} and "leader es" in stopped["b"]


def test_a_non_finite_score_is_behind_everyone():
    stopped = race_decision([Standing("a", 0.7), Standing("b", math.nan), Standing("c", 0.69)], behind=0.05)
    assert set(stopped) == {"b"} and "non-finite" in stopped["b"]


def test_the_decision_is_the_same_in_any_order():
    standings = [Standing("a", 0.9), Standing("b", 0.7), Standing("c", 0.6), Standing("d", 0.89)]
    assert race_decision(standings, 0.05) == race_decision(list(reversed(standings)), 0.05)


def test_a_branch_at_the_level_decides_the_round_and_the_others_stop_whatever_their_score():
    standings = [Standing("a", 0.86), Standing("b", 0.88), Standing("c", 0.5), Standing("done", 0.7, finished=True)]
    stopped = race_decision(standings, behind=0.05, at_level="a")
    assert set(stopped) == {"b", "c"}  # a trains on; a finished branch is never stopped
    assert stopped["b"] == "the round is decided: a is at the attainable level"
    assert race_decision(standings, behind=0.05) == {"c": race_decision(standings, behind=0.05)["c"]}
