"""Executing approved actions: one action's input (inline or in a site child), the ledger's view
of a run, and the site children of large plans."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .core import PlannedAction
from .rules import Rules
from .run import OutcomeCounts


class ExecuteActionInput(BaseModel):
    run_id: str
    """The ledger key: the run (its first Temporal run id), or for runs recorded before, the workflow id."""
    workflow_id: str = ""
    max_failures: int | None = None
    """The run's circuit breaker, checked against the ledger before the action starts (None: not checked)."""
    artifact_dir: str
    report_dir: str
    action: PlannedAction
    as_of: datetime
    actor: str
    approved_by: str
    dry_run: bool = False
    rules: Rules = Field(default_factory=Rules)


class GiveUpInput(BaseModel):
    action: ExecuteActionInput
    detail: str


class ClaimRunInput(BaseModel):
    report_dir: str
    run_id: str
    workflow_id: str


class RunProgressInput(BaseModel):
    run_id: str
    report_dir: str
    dry_run: bool = False


class SiteBatchInput(BaseModel):
    run_id: str
    workflow_id: str = ""
    artifact_dir: str
    report_dir: str
    site: str
    action_ids: list[str]
    as_of: datetime
    actor: str
    approved_by: str
    dry_run: bool = False
    rules: Rules = Field(default_factory=Rules)
    parent_workflow_id: str
    max_failures: int = Field(10, ge=1)
    cursor: int = 0
    counts: OutcomeCounts = Field(default_factory=OutcomeCounts)
    halted: bool = False


class SiteBatchResult(BaseModel):
    site: str
    counts: OutcomeCounts
    halted: bool = False
