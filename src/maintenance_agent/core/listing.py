"""How a run presents itself outside its queries: its outcome label, the card it publishes for
listings, the text of its Web UI summary and details, and what a listing shows for it. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from temporalio.common import SearchAttributeKey

from ..models.listing import MAX_LISTED_SITES, SEARCH_ATTRIBUTES, SITES_ATTRIBUTE, RunCard
from ..models.workflow import Decision, MaintenanceResult, OutcomeCounts, Phase, RunStatus
from .report import md, with_problems

CLOSED_BY_TEMPORAL = {"TERMINATED", "CANCELED", "TIMED_OUT", "CONTINUED_AS_NEW"}
"""Temporal statuses of a run that did not finish on its own: its card (if any) is out of date."""


def outcome_label(phase: Phase, counts: OutcomeCounts) -> str:
    """The run's outcome as its summary line says it: COMPLETED WITH PROBLEMS when an action failed,
    was rolled back or did not run; the phase otherwise."""
    if phase is Phase.COMPLETED and with_problems(counts):
        return "COMPLETED WITH PROBLEMS"
    return phase.value


def listed_outcome(temporal_status: str, card: RunCard | None) -> str | None:
    """What a listing shows as the run's outcome, from Temporal's status and the run's card; None when
    only the run itself (its result or its status query) can say (a run recorded before cards, or one
    whose card is not final although Temporal says it finished)."""
    if temporal_status in CLOSED_BY_TEMPORAL:
        return temporal_status
    if card is None:
        return "FAILED" if temporal_status == "FAILED" else None
    if temporal_status == "RUNNING":
        return card.outcome
    if temporal_status == "COMPLETED":
        return card.outcome if card.phase.terminal and card.phase is not Phase.FAILED else None
    if temporal_status == "FAILED":
        return "FAILED"
    return None


def card_from_result(result: MaintenanceResult) -> RunCard:
    """The card of a finished run that published none (recorded before cards), from its result."""
    return RunCard(outcome=outcome_label(result.phase, result.outcomes), phase=result.phase,
                   started_by=result.started_by, dry_run=result.dry_run, findings=result.findings,
                   actions=result.actions, decided_by=result.decision.by if result.decision else None,
                   outcomes=result.outcomes)


def card_from_status(status: RunStatus) -> RunCard:
    """The card of a running run that published none, from its status query."""
    return RunCard(outcome=outcome_label(status.phase, status.outcomes), phase=status.phase,
                   started_by=status.started_by, dry_run=status.dry_run, findings=status.findings,
                   actions=status.actions, decided_by=status.decision.by if status.decision else None,
                   outcomes=status.outcomes)


def indexed_phase(phase: Phase) -> bool:
    """Whether a run in this phase sets MaintenanceOutcome: while it awaits approval or executes, and
    once it has finished (not the phases detection and planning pass through within minutes)."""
    return phase in (Phase.PENDING_APPROVAL, Phase.EXECUTING) or phase.terminal


def listed_sites(sites: Iterable[str]) -> list[str]:
    """The sites a run names in its MaintenanceSites attribute: sorted, at most MAX_LISTED_SITES."""
    return sorted(set(sites))[:MAX_LISTED_SITES]


def attribute_spec(key: SearchAttributeKey) -> str:
    """`Name=Type` as the temporal CLI takes it (`--search-attribute MaintenanceSites=KeywordList`)."""
    return f"{key.name}={key.indexed_value_type.name.title().replace('_', '')}"


def missing_attributes(registered: Mapping[str, int]) -> list[str]:
    """The run's search attributes this namespace lacks, or has with another type ("Name=Type"), from
    the namespace's custom attributes (name -> IndexedValueType number)."""
    return [attribute_spec(key) for key in SEARCH_ATTRIBUTES if registered.get(key.name) != int(key.indexed_value_type)]


def settable_attributes(*, encrypted: bool) -> list[str]:
    """The names of the registered search attributes a run sets: not the sites where payloads are
    encrypted (Temporal stores search attributes in the clear)."""
    return [key.name for key in SEARCH_ATTRIBUTES if not (encrypted and key is SITES_ATTRIBUTE)]


def counts_text(outcome: str, actions: int | None, counts: OutcomeCounts | None) -> str:
    """A listed run's actions and what became of them, in a few words: '21 planned; 19 succeeded,
    2 rolled back', '21 awaiting approval', 'none'; empty when the run could not say."""
    if actions is None:
        return ""
    if actions == 0:
        return "none"
    if outcome == Phase.PENDING_APPROVAL.value:
        return f"{actions} awaiting approval"
    if outcome in (Phase.REJECTED.value, Phase.EXPIRED.value):
        return f"{actions} planned, none executed"
    c = counts or OutcomeCounts()
    done = [f"{n} {label}" for label, n in (("succeeded", c.succeeded), ("failed", c.failed),
                                            ("rolled back", c.rolled_back), ("stale", c.stale),
                                            ("not run", c.not_run)) if n]
    return f"{actions} planned" + (f"; {', '.join(done)}" if done else "")


# ------------------------------------------------------------------------------------------------
# Web UI: a run's summary and details


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


def cycle_run_details(agent_id: str, cycle: int, kind: str, started_by: str, actions: int, devices: int | None,
                      sites: list[str], approval_hours: float) -> str:
    """The static details of a run the proactive agent starts for one cycle's plan."""
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
        lines.append(f"outcomes: {counts.succeeded} succeeded, {counts.failed} failed, {counts.rolled_back} rolled back, "
                     f"{counts.stale} stale, {counts.not_run} not run")
    return "\n\n".join(lines)


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"
