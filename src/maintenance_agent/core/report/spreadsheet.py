"""CSV: the full lists of a large run (actions, findings), for a spreadsheet. Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from .model import Report
from .text import changes_text

_FORMULA = ("=", "+", "-", "@", "\t", "\r")

ACTION_COLUMNS = ["id", "equipment_id", "site", "action", "risk", "confidence", "routine", "priority", "approved",
                  "outcome", "observed", "changes", "detail", "status_after", "health_after", "audit_seq", "source"]
FINDING_COLUMNS = ["equipment_id", "site", "kind", "severity", "metric", "value", "threshold", "confidence", "message"]


def _csv_cell(value: Any) -> Any:
    """Text cells that a spreadsheet would run as a formula are quoted with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def render_csv(rows: Iterable[Iterable[Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def actions_csv(report: Report) -> str:
    return render_csv(([a.id, a.equipment_id, a.site, a.action, a.risk.value, a.confidence, a.routine, a.priority,
                        a.approved, a.outcome.value, a.observed, changes_text(a.changes), a.detail,
                        a.after.status if a.after else None, a.after.health.value if a.after else None,
                        a.audit_seq, a.source] for a in report.actions), ACTION_COLUMNS)


def findings_csv(report: Report) -> str:
    return render_csv(([f.equipment_id, f.site, f.kind.value, f.severity, f.metric, f.value, f.threshold,
                        f.confidence, f.message] for f in report.findings), FINDING_COLUMNS)
