"""Text a maintenance run and its site children say as they go, in one place: the notes of its
phases (its current details in the Web UI), the summaries of its steps, its line once it is over,
its results' details and its refusals. Pure. (The details those notes head are in status_text.py.)

Every text here is also in recorded histories and reports: change none without a patch."""

from __future__ import annotations

from datetime import datetime

from ..models.core import PlannedAction
from ..models.run import ReportRef
from .ids import unsafe_user, unsafe_workflow_id

# ------------------------------------------------------------------------------------------------
# the steps before the decision

LOADING_PLAN = "loading the plan made by the proactive agent"
DETECTING = "reading the fleet and running the detection rules"
ADVISING = "asking the LLM advisor for explanations (rules decide)"


def load_plan_summary(actions: int) -> str:
    return f"load {actions} planned action(s)"


def analyzing_note(findings: int) -> str:
    return f"{findings} finding(s): grouping into problems"


def planning_note(problems: int) -> str:
    return f"{problems} problem(s): choosing repairs"


def advisor_unavailable(cause: str) -> str:
    """The report's advisor note when the advisor failed: the run goes on with the rules' plan."""
    return f"advisor unavailable ({cause}); rule-based output only"


# ------------------------------------------------------------------------------------------------
# the decision, execution and report


def pending_approval_note(refused: str | None, actions: int, deadline: datetime) -> str:
    """What a run waiting for a person says: why auto-approve was refused, if it was, and until when."""
    why = f"auto-approve refused: {refused}; " if refused else ""
    return f"{why}{actions} action(s) await approval until {deadline.isoformat(timespec='minutes')}"


def executing_note(actions: int, *, dry_run: bool) -> str:
    return f"executing {actions} approved action(s)" + (" (dry run: simulated)" if dry_run else "")


def executed_note(executed: int, to_execute: int) -> str:
    return f"executed {executed}/{to_execute}"


REPORTING = "writing report.md and report.json"


def run_summary(report: ReportRef | None, error: str | None, otherwise: str = "") -> str:
    """A run's line: its report's summary, else its error, else `otherwise`."""
    return report.summary if report else (error or otherwise)


# ------------------------------------------------------------------------------------------------
# actions and site children


def action_summary(action: PlannedAction) -> str:
    return f"{action.id}: {action.action.value} on {action.equipment_id} ({action.site})"


def give_up_summary(action: PlannedAction) -> str:
    return f"{action.id}: record that it gave up"


def gave_up_detail(cause: str) -> str:
    """The detail of an action whose every attempt failed."""
    return f"gave up after retries: {cause}"


def site_child_summary(actions: int, site: str) -> str:
    return f"execute {actions} action(s) at {site}"


def load_batch_summary(cursor: int, batch: int, total: int, site: str) -> str:
    return f"load actions {cursor + 1}-{cursor + batch} of {total} for {site}"


NOT_FROM_A_RUN = "it was not started by a maintenance run"


def site_refusal(actions: int, site: str, refusal: str) -> str:
    """Why a site child runs nothing: its parent does not approve its batch."""
    return f"refusing to execute {actions} action(s) at {site}: {refusal}"


# The circuit breaker speaks twice, in two wordings that histories and reports already hold: the
# runner's own count (inline runs, and site children recorded before the ledger breaker) and the
# ledger's fleet-wide count, checked by execute_action before each action. Both stay as they are.


def runner_breaker_detail(failures: int) -> str:
    """A NOT_RUN result's detail when the runner's own count of failures tripped the breaker."""
    return f"not started: circuit breaker tripped after {failures} failure(s)"


def ledger_breaker_detail(problems: int, max_failures: int) -> str:
    """A NOT_RUN result's detail when the ledger's count across every site child tripped the breaker."""
    return (f"not started: the circuit breaker tripped after {problems} failed or rolled-back "
            f"action(s) in this run (MAX_FAILURES {max_failures})")


# ------------------------------------------------------------------------------------------------
# who may start a run


def unsafe_names_refusal(workflow_id: str, started_by: str) -> str | None:
    """Why a workflow refuses to run at all: its id or its starter could not safely name a folder or a
    person (the first of the two that could not); None if both can."""
    for what, value, problem in (("workflow id", workflow_id, unsafe_workflow_id(workflow_id)),
                                 ("started_by", started_by, unsafe_user(started_by))):
        if problem:
            return (f"refusing to run: the {what} {value[:80]!r} is not a safe name ({problem}); "
                    f"start the run with the scripts, the MCP server or a safe id")
    return None


def not_proven(started_by: str, problem: str, *, agent: bool = False) -> str:
    """Why a run (or the proactive agent: `agent`) does not act for its starter."""
    return f"refusing to {'act' if agent else 'run'} for {started_by!r}: {problem}"


def not_an_agent_parent(parent_workflow_id: str) -> str:
    return f"the run was started by {parent_workflow_id}, which is not a proactive agent whose start they signed"


PROOF_USED = "this signed start was already used once; sign a new one"


def decision_refused(problem: str) -> str:
    return f"decision refused: {problem}"
