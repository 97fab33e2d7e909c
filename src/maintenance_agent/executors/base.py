"""The executor interface. An executor says what it can do (`Capabilities`) and carries out one
step of one action at a time: `preview` (what would change, as text, without changing anything),
`apply` (idempotent, keyed by the run and the action), `verify` (the post-condition) and
`rollback`. The worker's activity around it keeps the ledger: each action is recorded exactly once,
whatever the executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StepName = Literal["preview", "apply", "verify", "rollback"]

MAX_PREVIEW_CHARS = 4_000
"""A preview (a diff) shown on the approval screen and in the plan is cut to this many characters."""


class ExecutorError(Exception):
    """The executor cannot run at all (no playbook directory, no ansible-playbook): one line, final."""


@dataclass(frozen=True)
class Capabilities:
    preview: bool
    rollback: bool


@dataclass
class PlaybookOutcome:
    """One step as the executor saw it: its status and counts, and where it failed if it did."""

    step: StepName
    status: str
    """`successful`, `failed`, `timeout`, `canceled` (ansible-runner's words), or `missing` (no playbook)."""
    rc: int | None = None
    changed: int = 0
    ok: int = 0
    failed: int = 0
    failed_task: str | None = None
    failed_host: str | None = None
    failure: str | None = None
    """The failing task's message, cut short."""
    diff: str = ""
    """What changed, or would change in check mode (bounded: MAX_PREVIEW_CHARS)."""
    stdout: str | None = None
    """The step's output file, relative to REPORTS_DIR."""

    @property
    def succeeded(self) -> bool:
        return self.status == "successful"

    def summary(self) -> str:
        """`ok=3 changed=1 failed=0`, and where it failed."""
        line = f"ok={self.ok} changed={self.changed} failed={self.failed}"
        if self.status == "missing":
            return "no playbook"
        if not self.succeeded:
            where = f" at task '{self.failed_task}'" if self.failed_task else ""
            host = f" on {self.failed_host}" if self.failed_host else ""
            why = f": {self.failure}" if self.failure else ""
            line = f"{self.status}{where}{host}{why} ({line})"
        return line

    def as_record(self) -> dict:
        """What the ledger and report keep of it (no output, no variables: they may hold secrets)."""
        return {"status": self.status, "rc": self.rc, "ok": self.ok, "changed": self.changed, "failed": self.failed,
                "failed_task": self.failed_task, "failed_host": self.failed_host, "stdout": self.stdout}
