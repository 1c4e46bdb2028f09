"""The report's opening: the verdict in plain words and the baseline-versus-final metrics table.

Both the full report and the short Markdown summary (Prefect's artifact) open with these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from plateau_doctor.report.document import Table
from plateau_doctor.report.format import fmt, join_names, number, pct
from plateau_doctor.report.history import ordered_metrics

_STATUS_WORDS: dict[str, str] = {
    "healthy": "Healthy: nothing to repair",
    "repaired": "Repaired",
    "improved": "Improved, but short of what the data allows",
    "not_repaired": "Not repaired",
    "diagnosed": "Diagnosed; remedies have not run yet",
}


def verdict(summary: Mapping[str, Any]) -> str:
    """One line in plain words: status, symptoms, top cause, chosen remedy."""
    status = str(summary.get("status") or "unknown")
    symptoms = [name for name in summary.get("symptoms") or [] if name != "converged"]
    causes = summary.get("causes") or []
    chosen = summary.get("chosen_remedy")
    live = summary.get("live_repairs") or []
    if live:
        # "nothing to repair" would hide what the doctor changed inside the fit
        words = [f"{status.capitalize()} after {len(live)} repair(s) during the fit"
                 f" ({'; '.join(str(a.get('action', '')) for a in live)}; see \"Repairs during the fit\")."]
    else:
        words = [_STATUS_WORDS.get(status, status) + "."]
    if symptoms:
        words.append(f"The training showed {join_names(symptoms)}.")
    elif status == "healthy" or "converged" in (summary.get("symptoms") or []):
        words.append("The training loss fell and levelled off as it should.")
    if causes:
        top = causes[0]
        confidence = pct(top.get("confidence"))
        strength = f" ({confidence} confidence)" if confidence else ""
        words.append(f"Most likely cause: {top.get('cause', '?')}{strength}.")
    if chosen:
        words.append(f"Chosen remedy: {chosen}.")
    elif status == "not_repaired":
        words.append("No remedy beat the baseline, so the baseline model is kept.")
    level = _level_sentence(summary)
    if level and status in ("repaired", "improved", "not_repaired"):
        words.append(level)
    return " ".join(words)


def _level_sentence(summary: Mapping[str, Any]) -> str:
    """How far the final model is from the attainable level, and what was tried to get there."""
    level = summary.get("level") or {}
    metric, attainable, final = level.get("metric"), number(level.get("attainable")), number(level.get("final"))
    if not metric or not math.isfinite(attainable) or not math.isfinite(final):
        return ""
    gap = attainable - final
    where = (
        f"{fmt(gap)} below the attainable level {fmt(attainable)} (the reference models')"
        if gap > 0
        else f"at or above the attainable level {fmt(attainable)}"
    )
    text = f"The final model's {metric} is {fmt(final)}, {where}."
    text += _interval_sentence(level)
    linear, healthy = number(level.get("linear_reference")), level.get("final_curves_healthy")
    if gap > 0 and math.isfinite(linear):
        side = "at or above" if final >= linear else "below"
        checked = (
            "healthy when diagnosed again" if healthy
            else "not healthy when diagnosed again (a sick symptom or a clear gap to the reference)"
        )
        text += f" It is {side} the regularized linear reference {fmt(linear)}, and its curves are {checked}."
    tried = []
    rounds = summary.get("rounds") or 0
    if rounds:
        tried.append(f"{rounds} round{'s' if rounds != 1 else ''} of remedies")
    if summary.get("search_trials"):
        tried.append(f"{summary['search_trials']} guided-search trials")
    if tried and summary.get("status") != "repaired":
        text += f" Tried: {join_names(tried)}" + (f"; stopped because {summary['stop_reason']}." if summary.get("stop_reason") else ".")
    return text


_TEST_WORDS: dict[str, str] = {
    "paired_bootstrap_by_class": "a paired bootstrap within each class",
    "paired_bootstrap": "a paired bootstrap of the rows",
}


def _interval_sentence(level: Mapping[str, Any]) -> str:
    """The difference to the level on the validation rows, its bounds, and what they say, in plain words."""
    difference, tolerance = number(level.get("difference")), number(level.get("tolerance"))
    low, high = (number(v) for v in (level.get("interval") or [None, None]))
    test, rows = level.get("test"), level.get("n_val")
    if not math.isfinite(difference):
        return ""
    if test not in _TEST_WORDS or not (math.isfinite(low) and math.isfinite(high)):
        return f" Without paired predictions to test, the tolerance {fmt(tolerance)} alone judges the difference {_signed(difference)}."
    confidence = f"{number(level.get('confidence')) * 100:g}%"
    if not level.get("significantly_below"):
        judged = "not significantly below the level"
    elif difference >= -tolerance:
        judged = f"significantly below the level, but within the tolerance {fmt(tolerance)}"
    else:
        judged = f"significantly below the level, and further than the tolerance {fmt(tolerance)}"
    return (
        f" Against the reference on the same {rows} validation rows: {_signed(difference)}, one-sided {confidence}"
        f" bounds [{_signed(low)}, {_signed(high)}] ({_TEST_WORDS[test]}): {judged}."
    )


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "\u2212")


def metrics_table(summary: Mapping[str, Any], task: str | None) -> Table:
    """Epochs and validation metrics of the baseline and of the model kept."""
    baseline = summary.get("baseline") or {}
    final = summary.get("final") or {}
    baseline_metrics = baseline.get("metrics") or {}
    final_metrics = final.get("metrics") or {}
    rows = [["epochs", fmt(baseline.get("epochs")), fmt(final.get("epochs"))]]
    for name in ordered_metrics(task, [*baseline_metrics, *final_metrics]):
        rows.append([name, fmt(baseline_metrics.get(name)), fmt(final_metrics.get(name))])
    return Table(["", "baseline", "final"], rows)
