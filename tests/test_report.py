"""The run report, fed hand-written summaries, audits and curves: no training."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest

from plateau_doctor.report.render import (
    SECTION_TITLES,
    causes_chart_png,
    curves_chart_png,
    markdown_summary,
    render_report,
)
from plateau_doctor.schema import DataAudit, FeatureStats, Finding

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INLINE_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")

NAN = float("nan")
INF = float("inf")


def _classification_case() -> dict:
    findings = [
        Finding("symptom", "diverged", 0.95, "loss went from 0.69 to NaN at epoch 4").to_dict(),
        Finding("symptom", "stuck_at_trivial", 0.7, "val_loss 0.661 vs trivial 0.662").to_dict(),
        Finding("cause", "learning_rate_too_high", 0.8, "learning_rate 5.0; loss rose 40x in 3 epochs").to_dict(),
        Finding("cause", "unscaled_features", 0.3, "feature std ratio 2.1e4").to_dict(),
    ]
    summary = {
        "run_id": "run-clf-0042",
        "status": "repaired",
        "task": "binary",
        "symptoms": ["diverged", "stuck_at_trivial"],
        "causes": [
            {"cause": f["name"], "confidence": f["confidence"], "evidence": f["evidence"]}
            for f in findings
            if f["kind"] == "cause"
        ],
        "chosen_remedy": "learning_rate",
        "baseline": {"epochs": 6, "metrics": {"val_loss": NAN, "val_accuracy": 0.63, "val_balanced_accuracy": 0.5}},
        "final": {"epochs": 6, "metrics": {"val_loss": 0.09, "val_accuracy": 0.96, "val_balanced_accuracy": 0.95}},
        "epochs_trained_total": 18,
        "wall_seconds": 75.3,
        "dataset": "data/breast_cancer.csv",
        "target": "target",
        "diagnosis_epochs": 6,
        "early_stopped": False,
        "config": {"training": {"learning_rate": 5.0, "epochs": 6}, "model": {"hidden_units": [64, 32]}},
        "preflight": [Finding("cause", "unscaled_features", 0.3, "max feature std 2500 before scaling").to_dict()],
        "winner_reason": "learning_rate reached val_loss 0.09, the lowest of the remedies that improved.",
    }
    audit = DataAudit(
        task="binary",
        n_rows=569,
        n_train=455,
        n_val=114,
        n_features=3,
        features=[
            FeatureStats("mean radius", 14.1, 3.5, 6.9, 28.1),
            FeatureStats("<script>", 0.0, 1.0, -2.0, 2.0),
            FeatureStats("area", 654.9, 351.9, 143.5, 2501.0),
        ],
        scaled_features=False,
        scaled_target=False,
        trivial_val_loss=0.662,
        trivial_metrics={"val_accuracy": 0.63, "val_balanced_accuracy": 0.5},
        reference_model="logistic_regression",
        reference_val_loss=0.08,
        reference_metrics={"val_accuracy": 0.97, "val_balanced_accuracy": 0.96},
        classes=["0", "1"],
        class_balance={"0": 0.37, "1": 0.63},
        majority_share=0.63,
    ).to_dict()
    epochs = list(range(1, 7))
    baseline = pd.DataFrame({
        "branch": "baseline",
        "epoch": epochs,
        "loss": [0.69, 3.1, 40.0, NAN, NAN, INF],
        "val_loss": [0.68, 5.2, 1e6, NAN, INF, NAN],
        "learning_rate": 5.0,
        "val_accuracy": [0.63] * 6,
        "val_balanced_accuracy": [0.5] * 6,
        "grad_norm": [1.2, 30.0, 4e3, NAN, NAN, NAN],
        "update_ratio": [0.5, 2.0, 9.0, NAN, NAN, NAN],
        "dead_fraction": [0.1, 0.4, 0.9, 1.0, 1.0, 1.0],
    })
    remedy = pd.DataFrame({
        "branch": "learning_rate",
        "epoch": epochs,
        "loss": [0.5, 0.3, 0.2, 0.15, 0.12, 0.1],
        "val_loss": [0.45, 0.28, 0.18, 0.13, 0.1, 0.09],
        "learning_rate": 0.001,
        "val_accuracy": [0.8, 0.9, 0.93, 0.95, 0.96, 0.96],
        "val_balanced_accuracy": [0.78, 0.88, 0.92, 0.94, 0.95, 0.95],
        "grad_norm": [0.9, 0.6, 0.4, 0.3, 0.2, 0.2],
        "update_ratio": [0.01] * 6,
        "dead_fraction": [0.05] * 6,
    })
    remedies = pd.DataFrame({
        "remedy": ["learning_rate", "capacity"],
        "params": [json.dumps({"learning_rate": 0.001}), json.dumps({"hidden_units": [128, 64]})],
        "epochs": [6, 0],
        "val_loss": [0.09, NAN],
        "val_accuracy": [0.96, NAN],
        "val_balanced_accuracy": [0.95, NAN],
        "improved": [True, False],
        "chosen": [True, False],
        "status": ["ok", "failed"],
        "error": [None, "ResourceExhaustedError: out of memory"],
    })
    return {
        "summary": summary,
        "audit": audit,
        "history": pd.concat([baseline, remedy], ignore_index=True),
        "findings": findings,
        "remedies": remedies,
    }


def _regression_case() -> dict:
    findings = [Finding("symptom", "converged", 0.9, "val_loss flat within 1% over the last 5 epochs").to_dict()]
    summary = {
        "run_id": "run-reg-7",
        "status": "healthy",
        "task": "regression",
        "symptoms": ["converged"],
        "causes": [],
        "chosen_remedy": None,
        "baseline": {"epochs": 5, "metrics": {"val_loss": 0.21, "val_r2": 0.79, "val_mae": 3.2}},
        "final": None,
        "epochs_trained_total": 5,
        "wall_seconds": 4.2,
    }
    audit = DataAudit(
        task="regression",
        n_rows=500,
        n_train=400,
        n_val=100,
        n_features=2,
        features=[FeatureStats("x1", 0.0, 1.0, -3.0, 3.0), FeatureStats("x2", 0.1, 0.9, -2.5, 2.7)],
        scaled_features=True,
        scaled_target=True,
        trivial_val_loss=1.0,
        trivial_metrics={"val_r2": 0.0, "val_mae": 8.1},
        reference_model="ridge",
        reference_val_loss=0.25,
        reference_metrics={"val_r2": 0.75, "val_mae": 3.5},
        target_mean=20.0,
        target_std=10.0,
    ).to_dict()
    history = pd.DataFrame({
        "branch": "baseline",
        "epoch": [1, 2, 3, 4, 5],
        "loss": [0.9, 0.5, 0.3, 0.22, 0.2],
        "val_loss": [0.85, 0.5, 0.3, 0.23, 0.21],
        "learning_rate": 0.001,
        "val_r2": [0.15, 0.5, 0.7, 0.77, 0.79],
        "val_mae": [7.5, 5.6, 4.2, 3.4, 3.2],
        "grad_norm": [2.0, 1.1, 0.6, 0.4, 0.3],
        "update_ratio": [0.05, 0.03, 0.02, 0.01, 0.01],
        "dead_fraction": NAN,
    })
    return {"summary": summary, "audit": audit, "history": history, "findings": findings, "remedies": None}


CASES = {"classification": _classification_case, "regression": _regression_case}


def _pngs(text: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True) for data in INLINE_PNG.findall(text)]


@pytest.fixture(params=sorted(CASES))
def case(request) -> dict:
    return CASES[request.param]()


@pytest.fixture
def rendered(case) -> tuple[dict, str, str]:
    markdown, html_text = render_report(**case)
    return case, markdown, html_text


def test_every_section_heading_is_in_both_texts(rendered):
    _, markdown, html_text = rendered
    for title in SECTION_TITLES:
        assert f"\n## {title}\n" in markdown
        assert f"<h2>{title}</h2>" in html_text


def test_title_carries_the_run_id(rendered):
    case, markdown, html_text = rendered
    run_id = case["summary"]["run_id"]
    assert markdown.startswith(f"# plateau-doctor run {run_id}\n")
    assert f"<h1>plateau-doctor run {run_id}</h1>" in html_text
    assert f"<title>plateau-doctor run {run_id}</title>" in html_text


def test_every_finding_is_explained_with_its_evidence(rendered):
    case, markdown, html_text = rendered
    for finding in case["findings"]:
        for text in (markdown, html_text):
            assert finding["name"] in text
            assert finding["evidence"] in text


def test_preflight_findings_are_shown():
    markdown, html_text = render_report(**_classification_case())
    assert "### Preflight checks" in markdown
    assert "max feature std 2500 before scaling" in markdown
    assert "max feature std 2500 before scaling" in html_text


@pytest.mark.parametrize(("name", "n_images"), [("classification", 3), ("regression", 2)])
def test_inline_plots_are_valid_pngs(name, n_images):
    markdown, html_text = render_report(**CASES[name]())
    assert markdown.count("](data:image/png;base64,") == n_images
    assert html_text.count('src="data:image/png;base64,') == n_images
    for text in (markdown, html_text):
        pngs = _pngs(text)
        assert len(pngs) == n_images
        assert all(png.startswith(PNG_SIGNATURE) for png in pngs)


def test_user_strings_are_html_escaped():
    markdown, html_text = render_report(**_classification_case())
    assert "<script>" not in html_text
    assert "&lt;script&gt;" in html_text
    assert "<script>" not in markdown


def test_diverged_branch_is_reported_not_crashed():
    case = _classification_case()
    markdown, _ = render_report(**case)
    assert "| baseline | 6 | inf | NaN | 0.68 | 0.5 | yes |" in markdown
    assert "| learning_rate | 6 | 0.1 | 0.09 | 0.09 | 0.95 | no |" in markdown


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_curves_chart_survives_an_all_non_finite_branch(bad):
    history = pd.DataFrame({
        "branch": ["baseline"] * 3 + ["capacity"] * 3,
        "epoch": [1, 2, 3] * 2,
        "loss": [bad] * 3 + [0.5, 0.4, 0.3],
        "val_loss": [bad] * 3 + [0.6, 0.5, 0.45],
        "val_r2": [bad, -1e12, bad, 0.1, 0.3, 0.4],
    })
    png = curves_chart_png(history, _regression_case()["audit"], "regression")
    assert png.startswith(PNG_SIGNATURE)


def test_empty_history_renders():
    case = _regression_case()
    case["history"] = pd.DataFrame(columns=["branch", "epoch", "loss", "val_loss"])
    markdown, _ = render_report(**case)
    assert "No training history was recorded." in markdown
    assert curves_chart_png(case["history"], case["audit"], "regression").startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("status", "why"),
    [("healthy", "nothing to repair"), ("diagnosed", "remedies have not run yet")],
)
def test_no_remedy_says_why(status, why):
    case = _regression_case()
    case["summary"]["status"] = status
    markdown, html_text = render_report(**case)
    assert "No remedy branch ran" in markdown and why in markdown
    assert "No remedy branch ran" in html_text


def test_remedies_table_shows_winner_and_failure():
    markdown, _ = render_report(**_classification_case())
    assert "learning_rate=0.001" in markdown
    assert "ResourceExhaustedError: out of memory" in markdown
    assert "**Winner:** learning_rate. learning_rate reached val_loss 0.09" in markdown


def test_verdict_is_plain_words():
    markdown, _ = render_report(**_classification_case())
    verdict = markdown.splitlines()[2]
    assert verdict.startswith("**Verdict:** Repaired.")
    assert "diverged and stuck_at_trivial" in verdict
    assert "learning_rate_too_high (80% confidence)" in verdict
    assert "Chosen remedy: learning_rate." in verdict


def test_causes_chart_only_with_causes():
    case = _classification_case()
    assert causes_chart_png(case["findings"]).startswith(PNG_SIGNATURE)
    assert causes_chart_png(_regression_case()["findings"]) is None
    assert causes_chart_png([]) is None


def test_causes_fall_back_to_the_summary_without_findings():
    case = _classification_case()
    case["findings"] = []
    markdown, _ = render_report(**case)
    assert "learning_rate 5.0; loss rose 40x in 3 epochs" in markdown
    assert markdown.count("](data:image/png;base64,") == 3


def test_markdown_summary_has_verdict_metrics_and_causes():
    summary = _classification_case()["summary"]
    text = markdown_summary(summary)
    assert "run-clf-0042" in text
    assert "**Verdict:** Repaired." in text
    assert "| val_balanced_accuracy | 0.5 | 0.95 |" in text
    for cause in summary["causes"]:
        assert cause["cause"] in text and cause["evidence"] in text
    assert "data:image/png" not in text


def test_numbers_are_formatted():
    markdown, _ = render_report(**_classification_case())
    assert "| val_loss | NaN | 0.09 |" in markdown
    assert "| wall time | 1 min 15 s |" in markdown
    assert "| mean radius | 14.1 | 3.5 | 6.9 | 28.1 |" in markdown
    assert "| training.learning_rate | 5.0 |" in markdown


@pytest.mark.parametrize(
    "healthy, final, words",
    [
        (True, 0.88, "at or above the regularized linear reference 0.85, and its curves are healthy when diagnosed again"),
        (False, 0.80, "below the regularized linear reference 0.85, and its curves are not healthy when diagnosed again"),
    ],
)
def test_the_verdict_says_where_a_final_model_under_the_level_stands_against_the_linear_reference(healthy, final, words):
    summary = {
        "run_id": "r1", "status": "repaired" if healthy else "improved", "task": "regression",
        "symptoms": ["plateau"], "causes": [], "chosen_remedy": "architecture",
        "level": {"metric": "val_r2", "attainable": 0.93, "linear_reference": 0.85, "final": final,
                  "final_curves_healthy": healthy},
    }
    text = markdown_summary(summary)
    assert "below the attainable level 0.93" in text
    assert words in text


def _with_level(case: dict, **level) -> dict:
    case["summary"] = {**case["summary"], "stop_reason": "round 1 reached the attainable level", "level": {
        "metric": "val_balanced_accuracy", "attainable": 0.976, "linear_reference": 0.94, "final": 0.952, "gap": 0.024,
        "tolerance": 0.03, "final_curves_healthy": True, **level}}
    return case


def test_the_verdict_states_the_difference_to_the_level_with_its_interval():
    case = _with_level(_classification_case(), difference=-0.024, interval=[-0.051, 0.003], confidence=0.95, n_val=114,
                       test="paired_bootstrap_by_class", significantly_below=False)
    markdown, html = render_report(**case)
    sentence = ("Against the reference on the same 114 validation rows: \u22120.024, one-sided 95% bounds"
                " [\u22120.051, +0.003] (a paired bootstrap within each class): not significantly below the level.")
    assert sentence in markdown and sentence in html
    assert "0.024 below the attainable level 0.976" in markdown


@pytest.mark.parametrize(
    "difference, interval, words",
    [
        (-0.02, [-0.03, -0.01], "significantly below the level, but within the tolerance 0.03"),
        (-0.06, [-0.08, -0.04], "significantly below the level, and further than the tolerance 0.03"),
    ],
)
def test_a_model_significantly_below_the_level_is_said_so(difference, interval, words):
    case = _with_level(_classification_case(), difference=difference, interval=interval, confidence=0.9, n_val=5000,
                       test="paired_bootstrap", significantly_below=True)
    markdown, _ = render_report(**case)
    assert "one-sided 90% bounds " + f"[{interval[0]:+.3f}, {interval[1]:+.3f}]".replace("-", "\u2212") in markdown
    assert "a paired bootstrap of the rows" in markdown and words in markdown


def test_without_paired_predictions_the_tolerance_is_said_to_judge_alone():
    case = _with_level(_classification_case(), difference=-0.024, interval=[None, None], confidence=0.95, n_val=114,
                       test="tolerance_only", significantly_below=False)
    markdown, _ = render_report(**case)
    assert "Without paired predictions to test, the tolerance 0.03 alone judges the difference \u22120.024." in markdown
    assert "bounds [" not in markdown
