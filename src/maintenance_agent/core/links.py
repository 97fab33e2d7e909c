"""How a message points at runs and reports: the Temporal Web UI (if known), the reports folder
(served, or named relative to the repository), and the approve command. Never a path of the
worker's machine. Pure."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import quote

APPROVE_SCRIPT = "approve_monitoring_agent.py"


@dataclass(frozen=True)
class Links:
    """How a message points at runs and reports: the Temporal Web UI (if known) and the reports
    folder, served (`reports_url`) or named relative to the repository (`reports_label`)."""

    namespace: str = "default"
    temporal_ui_url: str | None = None
    reports_url: str | None = None
    reports_label: str = "REPORTS_DIR"

    def workflow(self, workflow_id: str) -> str | None:
        if not self.temporal_ui_url:
            return None
        return (f"{self.temporal_ui_url.rstrip('/')}/namespaces/{quote(self.namespace, safe='')}"
                f"/workflows/{quote(workflow_id, safe='')}")

    def report(self, relative: str) -> tuple[str, str | None]:
        """A file under REPORTS_DIR: its name as a person finds it, and its URL if the folder is served."""
        relative = relative.strip("/")
        url = f"{self.reports_url.rstrip('/')}/{quote(relative)}" if self.reports_url else None
        return f"{self.reports_label}/{relative}", url


def approve_command(workflow_id: str) -> str:
    """The approve command as typed in the repository (any Python with the project installed)."""
    return f".venv/bin/python {APPROVE_SCRIPT} --workflow-id {shlex.quote(workflow_id)}"
