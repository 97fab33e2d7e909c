"""PagerDuty Events v2: which event a run or a failing agent sends, and its body, from typed facts.
Pure: the activity sends what this returns."""

from __future__ import annotations

from typing import Any

from ..models.activity_io import PlanResult
from ..models.core import Outcome, Risk
from ..models.notify import PageEvent, PageInput
from ..models.run import OutcomeCounts, Phase
from .digest import top_counts
from .links import Links, approve_command
from .report import with_problems
from .wording import cut, outcomes_sentence, plural

PAGERDUTY_SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255


def page_event(phase: Phase, outcomes: OutcomeCounts, *, proposed: bool) -> PageEvent | None:
    """What a finished run of the agent tells PagerDuty: a failure, problems or an expired proposal
    trigger (or update) its incident; a clean end resolves the incident its proposal opened (a
    rejection is a person's decision: nothing is left to do); a clean run never proposed says nothing."""
    clean = (phase in (Phase.NO_ACTION_NEEDED, Phase.REJECTED)
             or (phase is Phase.COMPLETED and not with_problems(outcomes)))
    if not clean:
        return PageEvent.TRIGGER
    return PageEvent.RESOLVE if proposed else None


def cycle_failure_key(agent_workflow_id: str) -> str:
    """One incident per agent for failing cycles: updated by each failure, resolved by a clean cycle."""
    return f"{agent_workflow_id}/cycle-failed"[:DEDUP_KEY_CHARS]


def run_page(event: PageEvent, kind: str, *, workflow_id: str, agent_workflow_id: str | None, started_by: str,
             cycle: int | None, plan: PlanResult | None, phase: Phase | None, outcomes: OutcomeCounts,
             error: str | None, report_dir: str | None) -> PageInput:
    """The facts of one event about a run of the agent, keyed by its workflow id: its plan in brief
    and, once it has finished (`phase`), its outcomes."""
    return PageInput(
        event_action=event, dedup_key=workflow_id, kind=kind, workflow_id=workflow_id,
        agent_workflow_id=agent_workflow_id, started_by=started_by, cycle=cycle, phase=phase,
        actions=plan.total if plan else 0, high_risk=plan.by_risk.get(Risk.HIGH, 0) if plan else 0,
        by_site=top_counts(plan.by_site) if plan else {}, by_action=plan.by_action if plan else {},
        outcomes=outcomes if phase is not None else None, error=error, report_dir=report_dir)


def cycle_failure_page(event: PageEvent, agent_workflow_id: str, started_by: str, cycle: int,
                       error: str | None = None) -> PageInput:
    """The agent's own incident: its cycles failing (one per agent, resolved by the next clean cycle)."""
    return PageInput(event_action=event, dedup_key=cycle_failure_key(agent_workflow_id), kind="cycle_failed",
                     workflow_id=agent_workflow_id, agent_workflow_id=agent_workflow_id, started_by=started_by,
                     cycle=cycle, error=error)


def page_severity(inp: PageInput) -> str:
    if inp.kind == "approval_needed" or inp.phase is Phase.EXPIRED:
        return "warning"
    return "error"


def page_summary(inp: PageInput) -> str:
    """PagerDuty's one line (at most 1,024 characters)."""
    run, sites = inp.workflow_id, plural(len(inp.by_site), "site") if inp.by_site else ""
    if inp.kind == "approval_needed":
        text = (f"Approval needed: {plural(inp.actions, 'maintenance action')} ({inp.high_risk} high risk"
                + (f", at {sites}" if sites else "") + f") in {run}")
    elif inp.kind == "cycle_failed":
        text = f"Maintenance agent {run}: cycle {inp.cycle} failed: {inp.error or 'unknown error'}"
    elif inp.phase is Phase.FAILED:
        text = f"Maintenance run {run} FAILED: {inp.error or 'unknown error'}"
    elif inp.phase is Phase.EXPIRED:
        text = f"Maintenance run {run} EXPIRED: nobody decided on {plural(inp.actions, 'action')}; nothing was done"
    elif inp.phase is Phase.COMPLETED and inp.outcomes is not None and with_problems(inp.outcomes):
        problems = outcomes_sentence(inp.outcomes, (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.NOT_RUN))
        text = f"Maintenance run {run} completed with problems: {problems} (of {plural(inp.actions, 'action')})"
    else:
        text = f"Maintenance run {run}: {(inp.phase.value if inp.phase else inp.kind).lower()}"
    return cut(text, PAGERDUTY_SUMMARY_CHARS)


def pagerduty_body(inp: PageInput, routing_key: str, links: Links) -> dict[str, Any]:
    """An Events API v2 event. A resolve needs only its key; a trigger says what, where and how bad."""
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": inp.event_action.value,
                            "dedup_key": inp.dedup_key[:DEDUP_KEY_CHARS]}
    if inp.event_action is PageEvent.RESOLVE:
        return body
    details: dict[str, Any] = {"workflow_id": inp.workflow_id, "agent_workflow_id": inp.agent_workflow_id,
                               "started_by": inp.started_by, "cycle": inp.cycle,
                               "phase": inp.phase.value if inp.phase else None, "actions": inp.actions,
                               "high_risk_actions": inp.high_risk, "actions_per_site": top_counts(inp.by_site),
                               "sites": len(inp.by_site), "actions_by_type": inp.by_action}
    if inp.outcomes is not None:
        details["outcomes"] = inp.outcomes.model_dump(mode="json")
    if inp.error:
        details["error"] = inp.error
    if inp.kind == "approval_needed":
        details["approve_command"] = approve_command(inp.workflow_id)
    page_links = []
    if url := links.workflow(inp.workflow_id):
        page_links.append({"href": url, "text": f"{inp.workflow_id} in the Temporal Web UI"})
    if inp.agent_workflow_id and inp.agent_workflow_id != inp.workflow_id and (url := links.workflow(inp.agent_workflow_id)):
        page_links.append({"href": url, "text": "the maintenance agent in the Temporal Web UI"})
    if inp.report_dir:
        name, url = links.report(f"{inp.report_dir}/report.html")
        details["report"] = url or name
        if url:
            page_links.append({"href": url, "text": "report"})
    payload = {
        "summary": page_summary(inp),
        "source": inp.agent_workflow_id or inp.workflow_id,
        "severity": page_severity(inp),
        "component": "maintenance-agent" if inp.kind == "cycle_failed" else "maintenance-run",
        "group": inp.started_by or None,
        "class": inp.kind,
        "custom_details": details,
    }
    body["payload"] = {k: v for k, v in payload.items() if v is not None}  # PagerDuty wants strings, not nulls
    body["client"] = "Infrastructure maintenance agent"
    if page_links:
        body["client_url"] = page_links[0]["href"]
        body["links"] = page_links
    return body
