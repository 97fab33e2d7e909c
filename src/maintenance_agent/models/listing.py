"""What a run publishes about itself for listings (its memo card and search attributes), and one
listed run as the CLI and the MCP server show it.

A run writes a `RunCard` into its memo (key `MEMO_KEY`) whenever its phase changes, so a listing
reads every run's outcome and counts from the visibility store without asking each run. The search
attributes are for filtering (Web UI, `temporal workflow list --query`); a run sets them only where
the namespace has them registered, because upserting an unregistered one fails its workflow task.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

from .run import OutcomeCounts, Phase

MEMO_KEY = "run"
OUTCOME_ATTRIBUTE = SearchAttributeKey.for_keyword("MaintenanceOutcome")
SITES_ATTRIBUTE = SearchAttributeKey.for_keyword_list("MaintenanceSites")
STARTER_ATTRIBUTE = SearchAttributeKey.for_keyword("MaintenanceStarter")
SEARCH_ATTRIBUTES = (OUTCOME_ATTRIBUTE, SITES_ATTRIBUTE, STARTER_ATTRIBUTE)
MAX_LISTED_SITES = 20
"""A run names at most this many sites in MaintenanceSites (a keyword list's values must stay small)."""


class RunCard(BaseModel):
    """A run's own account of where it is, published in its memo at each phase change."""

    outcome: str
    """The phase, or for a finished run its outcome as its summary line says it (COMPLETED WITH PROBLEMS)."""
    phase: Phase
    started_by: str = ""
    dry_run: bool = False
    devices: int | None = None
    findings: int = 0
    actions: int = 0
    decided_by: str | None = None
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)


class RunSummary(BaseModel):
    """One maintenance run in a listing: its own outcome and counts beside Temporal's status."""

    workflow_id: str = Field(description="The run's full workflow id (pass it to the other tools).")
    outcome: str = Field(description="The run's own outcome or phase: PENDING-APPROVAL, EXECUTING-MAINTENANCE, "
                                     "COMPLETED, COMPLETED WITH PROBLEMS, REJECTED, EXPIRED, FAILED, "
                                     "NO-ACTION-NEEDED, or TERMINATED / CANCELED / TIMED_OUT when Temporal ended it; "
                                     "UNKNOWN when the run could not say.")
    status: str = Field(description="Temporal's execution status (RUNNING, COMPLETED, FAILED, TERMINATED, …): "
                                    "a rejected run is COMPLETED here, a pending one RUNNING.")
    workflow_type: str = Field(description="The Temporal workflow type.")
    kind: str = Field("run", description="'run' (started by a person), or 'approval' / 'routine' for a run the "
                                         "proactive agent started.")
    cycle: int | None = Field(None, description="The proactive agent's cycle that started the run, if it did.")
    parent_workflow_id: str | None = Field(None, description="The proactive agent that started the run, if one did.")
    started_by: str | None = Field(None, description="Who the run acts for.")
    dry_run: bool = Field(False, description="Simulated: the fleet is not changed.")
    actions: int | None = Field(None, description="Actions planned (None when the run could not say).")
    outcomes: OutcomeCounts | None = Field(None, description="What the executed actions did, so far.")
    started_at: datetime | None = Field(None, description="When the run started (UTC).")
    closed_at: datetime | None = Field(None, description="When it closed (UTC), if it has.")
