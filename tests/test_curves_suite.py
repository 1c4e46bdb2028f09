"""Curves alone on the scenario suite (issue 10): a training log names the same top cause.

For every broken scenario whose top expected cause shows in curves (learning rate,
capacity, overfitting, divergence) and every healthy control, the scenario's baseline is
fitted as the doctor fits it, only what a Keras CSVLogger logs is kept, and the curves-only
diagnosis must name an accepted top cause in at least 70% of the broken ones and call no
healthy control sick. ``scripts/curves_only_suite.py`` prints the same table.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from plateau_doctor.curves import diagnose_curves

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "curves_only_suite.py"
REQUIRED = 0.70


def _script():
    spec = importlib.util.spec_from_file_location("curves_only_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def logged():
    suite = _script()
    scenarios = suite.curve_scenarios()
    histories = {s.name: suite.baseline_history(s) for s in scenarios}
    return suite, scenarios, histories


@pytest.mark.slow
def test_curves_alone_name_the_top_cause_and_never_call_a_healthy_control_sick(logged):
    suite, scenarios, histories = logged
    rows = []
    for scenario in scenarios:
        history = histories[scenario.name]
        log = suite.as_logged(history, history["task"].iloc[0])
        assert set(log.columns) <= set(suite.LOGGED)  # only what a CSVLogger writes
        found = diagnose_curves(log)
        top = found.causes[0].name if found.causes else None
        rows.append({"scenario": scenario.name, "kind": scenario.kind, "sick": found.sick, "top": top,
                     "hit": top in scenario.expected_causes})
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False))
    broken, healthy = table[table["kind"] == "broken"], table[table["kind"] == "healthy"]
    assert len(broken) >= 10 and len(healthy) >= 5
    share = broken["hit"].mean()
    print(f"curves-only top cause accepted: {broken['hit'].sum()}/{len(broken)} = {share:.0%}")
    assert share >= REQUIRED
    assert not healthy["sick"].any(), healthy[healthy["sick"]]
