"""Report: what was found, decided and really done, as a typed document, Markdown, HTML and CSV. Pure.

Outcomes come from the ledger (or, for a dry run, the simulation record), never from what the
workflow hoped would happen; the summary line states the real counts. One module per job: the
schema (model), building it (build, changes, recommend), the outcome in words (outcome), the
sections both renderings draw (blocks), and each rendering (markdown, spreadsheet; HTML in
core/report_html.py).
"""

from __future__ import annotations

from .blocks import LARGE_LIST, TOP_PROBLEMS, TOP_ROWS, Block, blocks, executor_text, verdict_tone
from .build import build_report
from .changes import device_changes, site_changes
from .markdown import md, render_markdown
from .model import (
    EXECUTORS,
    REPORT_SCHEMA_VERSION,
    DeviceChange,
    Report,
    ReportAction,
    ReportFinding,
    ReportHealth,
    SiteChange,
)
from .outcome import summarize, verdict, with_problems
from .recommend import recommendations
from .spreadsheet import ACTION_COLUMNS, FINDING_COLUMNS, actions_csv, findings_csv, render_csv
from .text import changes_text, when

__all__ = [
    "ACTION_COLUMNS", "EXECUTORS", "FINDING_COLUMNS", "LARGE_LIST", "REPORT_SCHEMA_VERSION", "TOP_PROBLEMS",
    "TOP_ROWS", "Block", "DeviceChange", "Report", "ReportAction", "ReportFinding", "ReportHealth", "SiteChange",
    "actions_csv", "blocks", "build_report", "changes_text", "device_changes", "executor_text", "findings_csv", "md",
    "recommendations", "render_csv", "render_markdown", "site_changes", "summarize", "verdict", "verdict_tone",
    "when", "with_problems",
]
