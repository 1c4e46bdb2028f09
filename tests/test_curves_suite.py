"""Curves alone on the scenario suite (issue 10): a training log names the same top cause.

``tests/data/scenario_curves.csv`` holds, for every broken scenario whose top expected
cause shows in curves (learning rate, capacity, overfitting, divergence) and every healthy
control, what a Keras CSVLogger logs of the scenario's baseline fit as the doctor makes it
(epoch, loss, val_loss, learning_rate, val_accuracy). ``harness/curves_only_suite.py
--record`` fits the baselines and writes it. The curves-only diagnosis must name an
accepted top cause in at least 70% of the broken scenarios and call no healthy control sick.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from plateau_doctor.engine.log_doctor import diagnose_curves

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "scenario_curves.csv"
REQUIRED = 0.70


def _suite_script():
    spec = importlib.util.spec_from_file_location("curves_only_suite", ROOT / "harness" / "curves_only_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def diagnosed():
    suite = _suite_script()
    logs = pd.read_csv(RECORDED)
    scenarios = suite.curve_scenarios()
    assert {s.name for s in scenarios} == set(logs["scenario"]), "re-record: harness/curves_only_suite.py --record"
    assert set(logs.columns) - {"scenario"} <= set(suite.LOGGED)  # only what a CSVLogger writes
    rows = []
    for scenario in scenarios:
        found = diagnose_curves(logs[logs["scenario"] == scenario.name].drop(columns="scenario"))
        top = found.causes[0].name if found.causes else None
        rows.append({"scenario": scenario.name, "kind": scenario.kind, "sick": found.sick, "top": top,
                     "hit": top in scenario.expected_causes})
    return pd.DataFrame(rows)


def test_curves_alone_name_an_accepted_top_cause_in_70_percent_of_curve_visible_scenarios(diagnosed):
    broken = diagnosed[diagnosed["kind"] == "broken"]
    print("\n" + diagnosed.to_string(index=False))
    assert len(broken) >= 10
    assert broken["hit"].mean() >= REQUIRED, broken


def test_curves_alone_never_call_a_healthy_control_sick(diagnosed):
    """Healthy means at the reference's level; a control whose validation loss still falls at
    the end by the written still-falling rule (5% of its level and of its gain over the last
    fifth; corpus/LABELING.md R4) may be read as too_few_epochs from its curves alone, which
    cannot see the reference. Only healthy_moons does (-18% over its last 8 epochs)."""
    healthy = diagnosed[diagnosed["kind"] == "healthy"]
    assert len(healthy) >= 5
    sick = healthy[healthy["sick"]]
    assert set(sick["scenario"]) <= {"healthy_moons"}, sick
    assert set(sick["top"]) <= {"too_few_epochs"}, sick
