"""The report after rounds and a search: 25 branches, hand-written, no training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from plateau_doctor.report.charts import curves_figure
from plateau_doctor.report.render import SECTION_TITLES, render_report
from plateau_doctor.report.sections import kept_branches
from plateau_doctor.schema import DataAudit, FeatureStats, Finding

ROUND_1 = ("learning_rate", "preprocessing", "architecture", "optimizer", "capacity")
ROUND_2 = ("architecture", "regularization", "capacity")
PATH = ("baseline", "learning_rate", "architecture@2", "search-9")
KEPT = (*PATH, "final")
N_TRIALS = 15


def _frame(name: str, epochs: int, end: float) -> pd.DataFrame:
    """A falling loss from 1.0 towards ``1 - end`` and a val_r2 rising towards ``end``."""
    rise = 1 - np.exp(-4 * np.linspace(0, 1, epochs))
    return pd.DataFrame({
        "branch": name,
        "epoch": np.arange(1, epochs + 1),
        "loss": 1.0 - end * rise * 1.05,
        "val_loss": 1.05 - end * rise,
        "val_r2": -0.05 + (end + 0.05) * rise,
        "grad_norm": 2.0 - rise,
        "update_ratio": 0.05 - 0.04 * rise,
    })


def _remedy_row(round_: int, remedy: str, frame: pd.DataFrame, chosen: bool = False, reason: str = "") -> dict:
    return {"round": round_, "remedy": remedy, "params": json.dumps({"training.learning_rate": 0.003}),
            "epochs": len(frame), "val_loss": frame["val_loss"].iloc[-1], "val_r2": frame["val_r2"].iloc[-1],
            "improved": True, "chosen": chosen, "status": "ok" if len(frame) == 20 else "pruned", "error": None,
            "reason": reason}


def search_case() -> dict:
    """Baseline, 5 remedies in round 1, 3 in round 2, 15 search trials, the final fit: 25 branches."""
    frames = [_frame("baseline", 20, 0.4)]
    rows = []
    for index, remedy in enumerate(ROUND_1):
        frames.append(_frame(remedy, 20 if remedy == "learning_rate" else 8, 0.62 - 0.05 * index))
        rows.append(_remedy_row(1, remedy, frames[-1]))
    for index, remedy in enumerate(ROUND_2):
        frames.append(_frame(f"{remedy}@2", 20, 0.7 - 0.04 * index))
        rows.append(_remedy_row(2, remedy, frames[-1]))
    for number in range(1, N_TRIALS + 1):
        frames.append(_frame(f"search-{number}", 20 if number == 9 else 4 + 4 * (number % 3), 0.55 + 0.015 * number))
        rows.append(_remedy_row(3, "search", frames[-1], chosen=number == 9,
                                reason=f"trial {number} of at most {N_TRIALS} (TPE)"))
    frames.append(_frame("final", 30, 0.8))
    findings = [Finding("symptom", "plateau", 0.8, "val_loss flat for 8 epochs").to_dict(),
                Finding("cause", "learning_rate_too_low", 0.6, "update_ratio 1e-4").to_dict()]
    summary = {
        "run_id": "run-search-25", "status": "improved", "task": "regression", "symptoms": ["plateau"],
        "causes": [{"cause": "learning_rate_too_low", "confidence": 0.6, "evidence": "update_ratio 1e-4"}],
        "chosen_remedy": "search",
        "baseline": {"epochs": 20, "metrics": {"val_loss": 0.6, "val_r2": 0.4}},
        "final": {"epochs": 30, "metrics": {"val_loss": 0.2, "val_r2": 0.8}},
        "path": [{"step": step, "round": index, "metric": 0.4 + 0.1 * index, "score": 0.4 + 0.1 * index, "epochs": 20}
                 for index, step in enumerate(PATH)],
        "level": {"metric": "val_r2", "attainable": 0.86, "final": 0.8},
        "rounds": 2, "search_trials": N_TRIALS,
        "round_reasons": ["round 1: learning_rate won", "round 2: architecture@2 won", "search: search-9 won"],
        "config": {"training": {"epochs": 20, "learning_rate": 0.0001}},
    }
    audit = DataAudit(
        task="regression", n_rows=500, n_train=400, n_val=100, n_features=1,
        features=[FeatureStats("x", 0.0, 1.0, -3.0, 3.0)], scaled_features=True, scaled_target=True,
        trivial_val_loss=1.0, trivial_metrics={"val_r2": 0.0}, reference_model="gradient_boosting",
        reference_val_loss=0.14, reference_metrics={"val_r2": 0.86},
    ).to_dict()
    return {"summary": summary, "audit": audit, "history": pd.concat(frames, ignore_index=True),
            "findings": findings, "remedies": pd.DataFrame(rows)}


@pytest.fixture(scope="module")
def case() -> dict:
    return search_case()


@pytest.fixture(scope="module")
def figure(case):
    names = list(case["history"]["branch"].unique())
    figure = curves_figure(case["history"], case["audit"], "regression", kept_branches(case["summary"], names))
    figure.draw_without_rendering()  # lays out the legends, so their extents can be read
    return figure


def test_the_case_has_25_branches(case):
    assert case["history"]["branch"].nunique() == 25


def test_the_report_opens_with_verdict_curves_and_causes_and_ends_with_the_configuration(case):
    markdown, html_text = render_report(**case)
    assert markdown.splitlines()[2].startswith("**Verdict:** Improved")
    for text, heading in ((markdown, "\n## {}\n"), (html_text, "<h2>{}</h2>")):
        places = [text.index(heading.format(title)) for title in SECTION_TITLES]
        assert places == sorted(places)
    assert markdown.index("**Verdict:**") < markdown.index("## Curves") < markdown.index("### Causes")
    assert markdown.index("### Configuration") > max(markdown.index(f"\n## {title}\n") for title in SECTION_TITLES)


def test_the_kept_branches_are_the_path_and_the_final_fit(case):
    assert kept_branches(case["summary"], list(case["history"]["branch"].unique())) == set(KEPT)


def test_a_later_rounds_winner_does_not_highlight_round_1s_branch_of_the_same_remedy(case):
    names = list(case["history"]["branch"].unique())
    summary = {**case["summary"], "chosen_remedy": "architecture", "path": case["summary"]["path"][:3]}
    assert "architecture" not in kept_branches(summary, names)
    assert kept_branches({"chosen_remedy": "architecture"}, names) == {"baseline", "final", "architecture"}


@pytest.mark.parametrize("branch", ["observed", "fit", "log"])
def test_the_only_branch_of_an_observed_fit_is_kept(branch):
    history = _frame(branch, 10, 0.5)
    markdown, _ = render_report({"run_id": "r", "status": "diagnosed", "task": "regression"}, {}, history, [])
    assert kept_branches({}, [branch]) == {branch}
    assert "One colour per branch" in markdown and "Last values of the other branches" not in markdown
    assert f"\n| {branch} | 10 | " in markdown


def test_kept_branches_are_drawn_heavier_than_trials_and_other_branches(case, figure):
    loss_axes = figure.axes[0]
    labelled = {line.get_label(): line.get_linewidth() for line in loss_axes.get_lines()
                if not line.get_label().startswith("_")}
    kept = [labelled[name] for name in KEPT]
    faint = [labelled[f"search trials ({N_TRIALS - 1})"], labelled["other branches (6)"]]
    assert min(kept) > max(faint)
    widths = sorted(line.get_linewidth() for line in loss_axes.get_lines())
    # two lines (loss, val_loss) per branch: the 5 kept ones are the 10 widest
    assert len(widths) == 50 and widths[-10] > widths[-11]


def test_the_legend_has_few_entries_trials_and_others_grouped(figure):
    texts = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    # search-9 is on the path, so 14 trials are left to the group
    assert texts == [*KEPT, "other branches (6)", f"search trials ({N_TRIALS - 1})"]
    metric_texts = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
    assert metric_texts == ["reference (gradient_boosting): 0.86", "trivial predictor: 0"]


def test_legends_sit_right_of_the_curves_and_inside_the_figure(figure):
    for axes in figure.axes:
        legend = axes.get_legend().get_window_extent()
        assert legend.x0 >= axes.get_window_extent().x1
        assert legend.x1 <= figure.bbox.x1 and legend.y0 >= figure.bbox.y0


def test_a_long_diverged_branch_name_is_not_clipped(case):
    history = case["history"].copy()
    long_name = "learning_rate+preprocessing+architecture@3"
    history.loc[history["branch"] == "learning_rate", "val_loss"] = np.nan
    history["branch"] = history["branch"].replace("learning_rate", long_name)
    figure = curves_figure(history, case["audit"], "regression", {long_name})
    figure.draw_without_rendering()
    legend = figure.axes[0].get_legend()
    assert f"{long_name} — diverged (NaN)" in [text.get_text() for text in legend.get_texts()]
    assert legend.get_window_extent().x1 <= figure.bbox.x1
    title = figure.axes[0].title.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= figure.bbox.x1


def test_without_kept_every_branch_is_drawn_at_full_weight_and_named(case):
    few = case["history"][case["history"]["branch"].isin(PATH)]
    figure = curves_figure(few, case["audit"], "regression")
    assert {line.get_linewidth() for line in figure.axes[0].get_lines()} == {1.6}
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == list(PATH)


def test_a_few_other_branches_keep_their_own_names(case):
    round_1 = case["history"][case["history"]["branch"].isin(("baseline", *ROUND_1))]
    figure = curves_figure(round_1, case["audit"], "regression", {"baseline", "learning_rate"})
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["baseline", *ROUND_1]


def test_every_branch_has_one_row_of_last_values(case):
    markdown, _ = render_report(**case)
    curves = markdown[markdown.index("## Curves"):markdown.index("## Diagnosis")]
    for name in case["history"]["branch"].unique():
        assert markdown.count(f"\n| {name} | ") == 1 + (name in PATH)  # the path table names its steps again
        assert (f"\n| {name} | " in curves) == (name in KEPT)
