"""The run report: ``report.md`` and ``report.html``, self-contained with inline PNG plots.

Pure: no Keras, no Prefect. This module assembles the sections (:mod:`.sections`) into one
document (:mod:`.document`) and renders it to Markdown and HTML; it is also where callers
import the report from (the charts and the cause explanations are re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from plateau_doctor.report.charts import causes_chart_png, curves_chart_png
from plateau_doctor.report.document import Block, Bullets, Heading, Paragraph, to_html, to_markdown
from plateau_doctor.report.findings import (
    CAUSE_EXPLANATIONS,
    SYMPTOM_EXPLANATIONS,
    finding_item,
    normalized_findings,
    ranked_causes,
)
from plateau_doctor.report.headline import metrics_table, verdict
from plateau_doctor.report.sections import (
    audit_blocks,
    curves_blocks,
    diagnosis_blocks,
    live_repair_blocks,
    faint_curves_blocks,
    path_blocks,
    remedies_blocks,
    run_blocks,
    signals_blocks,
    summary_blocks,
)

__all__ = [
    "CAUSE_EXPLANATIONS",
    "SECTION_TITLES",
    "SYMPTOM_EXPLANATIONS",
    "causes_chart_png",
    "curves_chart_png",
    "markdown_summary",
    "render_report",
]

SECTION_TITLES: tuple[str, ...] = (  # in the report's order: what happened first, how it was set up last
    "Summary",
    "Curves",
    "Diagnosis",
    "Remedies",
    "Training signals",
    "Data audit",
    "Run details",
)


def render_report(
    summary: Mapping[str, Any],
    audit: Mapping[str, Any],
    history: pd.DataFrame | None,
    findings: list[dict[str, Any]],
    remedies: pd.DataFrame | None = None,
) -> tuple[str, str]:
    """Render the run report as ``(markdown_text, html_text)``, both self-contained.

    ``summary`` is summary.json's dict, ``audit`` a ``DataAudit.to_dict()``, ``history``
    one row per branch and epoch, ``findings`` the diagnosis rows and ``remedies`` one row
    per remedy tried (None or empty when none ran). Plots are inline base64 PNGs.
    """
    audit = audit or {}
    task = summary.get("task") or audit.get("task")
    run_id = str(summary.get("run_id") or "unknown")
    title = f"plateau-doctor run {run_id}"
    blocks: list[Block] = [
        Heading(1, title),
        Paragraph(verdict(summary), lead="Verdict:"),
        *summary_blocks(summary, task),
        *curves_blocks(summary, history, audit, task),
        *diagnosis_blocks(summary, normalized_findings(summary, findings)),
        *live_repair_blocks(summary),
        *remedies_blocks(summary, remedies, task, path_blocks(summary, history, audit, task)),
        *faint_curves_blocks(summary, history, task),
        *signals_blocks(history),
        *audit_blocks(audit),
        *run_blocks(summary, task),
    ]
    return to_markdown(blocks), to_html(blocks, title)


def markdown_summary(summary: Mapping[str, Any]) -> str:
    """A short Markdown summary (verdict, baseline vs final metrics, causes with evidence)."""
    task = summary.get("task")
    blocks: list[Block] = [
        Heading(2, f"plateau-doctor run {summary.get('run_id') or 'unknown'}"),
        Paragraph(verdict(summary), lead="Verdict:"),
        metrics_table(summary, task),
    ]
    causes = ranked_causes(normalized_findings(summary, None))
    if causes:
        blocks += [Heading(3, "Likely causes"), Bullets([finding_item(cause) for cause in causes])]
    return to_markdown(blocks)
