"""Text for people about runs and the agent, in one place: the Web UI summary and details of a run
(static at its start, current as it goes) and the devices it shows, the agent's current details, the
notes and step summaries of its cycles, its one line per cycle and its refusals. Pure. (A run's own
notes are in core/run_text.py; notifications are rendered in core/slack.py and core/pagerduty.py,
reports in the core/report/ package.)"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from ..models.activity_io import DetectResult, PlanResult
from ..models.approval import Decision
from ..models.core import PlannedAction
from ..models.listing import MAX_LISTED_SITES
from ..models.proactive import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES, CycleSummary, ProactivePhase
from ..models.run import OutcomeCounts, Phase
from .alerts import Merge
from .report import md
from .wording import WITH_NOT_RUN, outcomes_sentence


def start_summary(started_by: str, *, dry_run: bool, auto_approve: bool) -> str:
    """The one line the Web UI lists a run a person started by."""
    how = "dry run" if dry_run else "changes the fleet"
    return f"maintenance run for {started_by} ({how}{', auto-approve' if auto_approve else ''})"


def start_details(started_by: str, *, dry_run: bool, auto_approve: bool, approval_hours: float,
                  scope: str = "every device of the worker's fleet (counted by detection: see the current details)",
                  what: str = "a full run: detect, analyze, plan, wait for approval, execute, report") -> str:
    """What, who, how many devices and whether it is a dry run: the run's static details (Markdown)."""
    approval = ("auto-approve requested (granted only where the approval policy allows it)" if auto_approve
                else f"waits for a person's decision, at most {approval_hours:g} h")
    return "\n".join([
        f"- **What**: {what}",
        f"- **Started by**: {started_by}",
        f"- **Devices**: {scope}",
        f"- **Dry run**: {'yes: actions are simulated, the fleet is not changed' if dry_run else 'no: approved actions change the fleet'}",
        f"- **Approval**: {approval}",
    ])


def cycle_run_details(agent_id: str, cycle: int, kind: str, started_by: str, ids: list[str], plan: PlanResult,
                      approval_hours: float) -> str:
    """The static details of a run the proactive agent starts for some of one cycle's plan (`ids`):
    what, for whom, on how many devices where."""
    chosen = set(ids)
    sites = sorted(site for site, site_ids in plan.by_site_ids().items() if chosen.intersection(site_ids))
    devices = len({a.equipment_id for a in plan.actions if a.id in chosen}) if plan.actions else None
    actions = len(ids)
    shown = ", ".join(md(s) for s in sites[:MAX_LISTED_SITES]) + (f" and {len(sites) - MAX_LISTED_SITES} more"
                                                   if len(sites) > MAX_LISTED_SITES else "")
    on = f"{devices} device(s)" if devices is not None else "the devices of the cycle's plan"
    what = (f"routine actions of cycle {cycle} of {agent_id}, pre-approved by its starter" if kind == "routine"
            else f"actions of cycle {cycle} of {agent_id} that need a person's approval")
    approval = ("auto-approved (routine)" if kind == "routine"
                else f"waits for a person's decision, at most {approval_hours:g} h")
    return "\n".join([f"- **What**: {actions} {what}", f"- **Started by**: {started_by} (through the proactive agent)",
                      f"- **Devices**: {on}" + (f" at {shown}" if shown else ""),
                      "- **Dry run**: no: approved actions change the fleet", f"- **Approval**: {approval}"])


def run_devices(detect: DetectResult | None, actions: Collection[PlannedAction], planned: int) -> int | None:
    """Devices a run checked; for a run of a proactive cycle's plan, the devices its `planned` actions
    touch, if it holds every one of them (`actions`); otherwise unknown (None)."""
    if detect is not None:
        return detect.summary.devices
    if actions and len(actions) == planned:
        return len({a.equipment_id for a in actions})
    return None


def run_details(phase: Phase, note: str, *, findings: int | None = None, by_severity: Mapping[str, int] | None = None,
                devices: int | None = None, actions: int | None = None, routine: int = 0,
                decision: Decision | None = None, counts: OutcomeCounts | None = None) -> str:
    """The run's current details in the Web UI (Markdown): where it is, then what it found, planned,
    decided and did. A finished run's first line is its summary line (REJECTED by …, COMPLETED WITH
    PROBLEMS: …)."""
    note = md(note)  # the Web UI renders details as Markdown; a summary can quote the data (an error)
    lines = [f"**{note}**" if phase.terminal else f"**{phase.value}** — {note}"]
    if findings is not None:
        sev = ", ".join(f"{k} {v}" for k, v in sorted((by_severity or {}).items()))
        lines.append(f"findings: {findings} ({sev}) on {devices} devices")
    if actions is not None:
        lines.append(f"plan: {actions} action(s), {routine} routine")
    if decision:
        lines.append(f"decision: {decision.kind.value} by {decision.by} at {_utc(decision.at)}"
                     + (f" — {md(decision.comment)}" if decision.comment else ""))
    if counts is not None:
        lines.append(f"outcomes: {outcomes_sentence(counts, WITH_NOT_RUN)}")
    return "\n\n".join(lines)


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


# ------------------------------------------------------------------------------------------------
# the proactive agent


def agent_details(phase: ProactivePhase, note: str, *, cycle: int, interval_seconds: float,
                  auto_execute_routine: bool, open_approvals: Iterable[str], last_cycle: CycleSummary | None) -> str:
    """The agent's current details in the Web UI (Markdown): where it is, its cadence, the approval
    runs it waits on and its last cycle's line."""
    lines = [f"**{phase.value}** — {note}", f"cycles: {cycle}; every {interval_seconds / 60:g} min; "
             f"routine auto-execution {'on' if auto_execute_routine else 'off'}"]
    if open_ids := sorted(open_approvals):
        lines.append(f"open approvals: {', '.join(open_ids)}")
    if last_cycle is not None:
        lines.append(f"last cycle: {last_cycle.summary}")
    return "\n\n".join(lines)


def cycle_line(s: CycleSummary) -> str:
    """One cycle in one line: what it found and planned, what its routine run did, what it proposed."""
    if s.error:
        return f"cycle {s.cycle}: FAILED: {s.error}"
    line = f"cycle {s.cycle}: {s.findings} finding(s), {s.planned} new action(s)"
    if s.triggered_by:
        more = f" and {len(s.triggered_by) - 1} more" if len(s.triggered_by) > 1 else ""
        line = f"cycle {s.cycle} (started by alert {s.triggered_by[0]}{more}): " + line.split(": ", 1)[1]
    if s.excluded_pending:
        line += f" ({s.excluded_pending} already awaiting approval)"
    if s.routine_run:
        line += f"; routine: {outcomes_sentence(s.routine_outcomes)}"
    if s.approval_run:
        line += f"; {s.proposed_for_approval} proposed for approval"
    if s.routine_held:
        line += f" (routine actions held for approval: {s.routine_held})"
    if s.notification_error:
        line += f"; notification failed ({s.notification_error})"
    return line


def cycle_detecting(cycle: int) -> str:
    return f"cycle {cycle}: detecting"


def cycle_detect_summary(cycle: int) -> str:
    return f"cycle {cycle}: detect"


def cycle_analyze_summary(cycle: int) -> str:
    return f"cycle {cycle}: analyze"


def cycle_found(cycle: int, findings: int) -> str:
    return f"cycle {cycle}: {findings} finding(s)"


def cycle_planning(cycle: int) -> str:
    return f"cycle {cycle}: planning"


def cycle_plan_summary(cycle: int, open_approvals: int) -> str:
    return f"cycle {cycle}: plan (skipping {open_approvals} open approval run(s))"


def cycle_routine(cycle: int, actions: int) -> str:
    return f"cycle {cycle}: {actions} routine action(s)"


def cycle_notifying(cycle: int) -> str:
    return f"cycle {cycle}: sending the notification"


def routine_run_summary(cycle: int, actions: int, started_by: str) -> str:
    """The one line the Web UI lists a cycle's routine run by."""
    return f"cycle {cycle}: {actions} routine action(s) for {started_by}"


def approval_run_summary(cycle: int, actions: int, started_by: str) -> str:
    """The one line the Web UI lists a cycle's approval run by."""
    return f"cycle {cycle}: {actions} action(s) for {started_by} awaiting approval"


def notify_summary(kind: str) -> str:
    return f"notify: {kind}"


def page_summary(event_action: str, kind: str) -> str:
    return f"PagerDuty: {event_action} ({kind})"


def still_open_summary(open_runs: int) -> str:
    return f"which of {open_runs} approval run(s) are still open"


PAUSED = "paused: resume, trigger a cycle or stop"


def waiting_note(next_at: datetime) -> str:
    return f"next cycle at {next_at.isoformat(timespec='seconds')}"


def stopped_note(cycle: int) -> str:
    return f"stopped after cycle {cycle}"


INTERVAL_OUT_OF_RANGE = (f"interval must be between one second ({MIN_INTERVAL_MINUTES:.4f}) and "
                         f"{MAX_INTERVAL_MINUTES} minutes (one week)")
AGENT_STOPPING = "the agent is stopping; start it again to change its interval"
ALERTS_WHILE_STOPPING = "the agent is stopping and takes no more alerts; start it again (Alertmanager retries)"


def alert_receipt_note(merged: Merge, paused: bool) -> str:
    """What the agent did with an Alertmanager notification, in one line."""
    parts = [f"{len(merged.new)} new", f"{merged.repeated} repeated", f"{len(merged.resolved)} resolved"]
    line = f"{', '.join(parts)}; {len(merged.held)} alert(s) held"
    if merged.new:
        line += ("; the agent is paused: the next cycle after resume judges them" if paused
                 else "; a cycle starts now")
    return line
