"""Typed operations on the agent's workflows: used by the CLI scripts and the MCP server alike.

Every failure a user can cause or meet (unknown id, refused approval, server gone) is raised as
`OperationError` with one sentence, a code and facts; each interface renders its own next step.
Nothing here prints, and nothing here names a script or a tool.
"""

from .artifacts import (
    READ_ARTIFACT_TIMEOUT,
    action_outcomes,
    get_findings,
    get_plan,
    get_report,
    get_report_markdown,
    get_results,
    read_artifact,
    read_report,
)
from .errors import ArtifactMissing, Busy, ErrorCode, OperationError, RunNotFound, failure_text, guard
from .fleet import fleet_health
from .listing import LIST_FALLBACK_CONCURRENCY, LIST_FALLBACK_SECONDS, list_runs
from .options import (
    ProactiveOptions,
    auto_approve_refusal,
    parse_options,
    proactive_input,
    run_input,
    signer,
)
from .proactive import (
    deliver_alerts,
    pause_proactive,
    proactive_status,
    proactive_workflow_id,
    resume_proactive,
    set_proactive_interval,
    start_proactive,
    stop_proactive,
    trigger_proactive,
)
from .runs import (
    FOLLOW_PATIENCE_SECONDS,
    RUN_WORKFLOW,
    decide,
    follow,
    get_status,
    result,
    retry_busy,
    run_workflow_id,
    start_run,
)

__all__ = [
    "FOLLOW_PATIENCE_SECONDS", "LIST_FALLBACK_CONCURRENCY", "LIST_FALLBACK_SECONDS", "READ_ARTIFACT_TIMEOUT",
    "RUN_WORKFLOW", "ArtifactMissing", "Busy", "ErrorCode", "OperationError", "ProactiveOptions", "RunNotFound",
    "action_outcomes", "auto_approve_refusal", "decide", "deliver_alerts", "failure_text", "fleet_health", "follow",
    "get_findings", "get_plan", "get_report", "get_report_markdown", "get_results", "get_status", "guard",
    "list_runs", "parse_options", "pause_proactive", "proactive_input", "proactive_status", "proactive_workflow_id",
    "read_artifact", "read_report", "result", "resume_proactive", "retry_busy", "run_input", "run_workflow_id",
    "set_proactive_interval", "signer", "start_proactive", "start_run", "stop_proactive", "trigger_proactive",
]
