"""Notifications: the Slack message (Block Kit, with `text` as the fallback) and the PagerDuty
Events v2 body, built from typed facts. Pure: no I/O; the activities send what this returns.

Messages are bounded (the top few sites and devices, at most `MAX_LISTED_ACTIONS` actions), name
commands as they are typed in the repository, and name reports relative to REPORTS_DIR (or under a
served `REPORTS_URL`): never a path of the worker's machine.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..models.core import PlannedAction, Risk
from ..models.workflow import (
    ActionDigest,
    ActionSelection,
    DeviceAtRisk,
    NotifyInput,
    OutcomeCounts,
    PageEvent,
    PageInput,
    PendingAction,
    Phase,
)
from .report import with_problems

APPROVE_SCRIPT = "approve_monitoring_agent.py"
TOP_SITES = 8
TOP_DEVICES = 5
MAX_LISTED_ACTIONS = 50
"""The structured `actions` and `devices` lists beside the blocks (for receivers other than Slack)."""
HEADER_CHARS = 150
"""Slack's limit for a header block's text."""
SECTION_CHARS = 2900
"""Below Slack's 3,000 characters per section text."""
PAGERDUTY_SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255
SEVERITY_ORDER = ("critical", "warning", "info")
_RISK_RANK = {Risk.HIGH: 3, Risk.MEDIUM: 2, Risk.LOW: 1}
_ICONS = {"approval_needed": ":warning:", "routine_problems": ":x:", "cycle_failed": ":rotating_light:"}


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


# ------------------------------------------------------------------------------------------------
# what a message says about its actions


def select(actions: Iterable[PlannedAction], selection: ActionSelection | None) -> list[PlannedAction]:
    if selection is None:
        return []
    if selection is ActionSelection.ALL:
        return list(actions)
    routine = selection is ActionSelection.ROUTINE
    return [a for a in actions if a.routine == routine]


def digest(actions: Sequence[PlannedAction], *, top_sites: int = TOP_SITES, top_devices: int = TOP_DEVICES) -> ActionDigest:
    """Counts by risk, type and site, and the devices most at risk: the highest risk among their
    actions first, then the most urgent priority, then the most actions."""
    by_site = Counter(a.site for a in actions)
    per_device: dict[str, list[PlannedAction]] = {}
    for a in actions:
        per_device.setdefault(a.equipment_id, []).append(a)

    def rank(item: tuple[str, list[PlannedAction]]) -> tuple[int, int, int, str]:
        device, acts = item
        return (-max(_RISK_RANK[a.risk] for a in acts), min(a.priority for a in acts), -len(acts), device)

    worst = sorted(per_device.items(), key=rank)[:top_devices]
    high = [a for a in actions if a.risk is Risk.HIGH]
    return ActionDigest(
        total=len(actions), high_risk=len(high),
        by_risk={r.value: n for r in (Risk.HIGH, Risk.MEDIUM, Risk.LOW)
                 if (n := sum(1 for a in actions if a.risk is r))},
        by_action=dict(Counter(a.action.value for a in actions).most_common()),
        high_risk_by_action=dict(Counter(a.action.value for a in high).most_common()),
        sites=len(by_site), by_site=dict(sorted(by_site.items(), key=lambda kv: (-kv[1], kv[0]))[:top_sites]),
        devices=len(per_device),
        devices_at_risk=[DeviceAtRisk(equipment_id=device, site=acts[0].site,
                                      risk=max((a.risk for a in acts), key=_RISK_RANK.__getitem__),
                                      priority=min(a.priority for a in acts),
                                      actions=sorted({a.action.value for a in acts}))
                         for device, acts in worst],
    )


def top_counts(counts: dict[str, int], n: int = TOP_SITES) -> dict[str, int]:
    """The `n` largest counts, largest first (ties by name): for bounded messages."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def severities(by_severity: dict[str, int]) -> str:
    ordered = [s for s in SEVERITY_ORDER if by_severity.get(s)] + sorted(set(by_severity) - set(SEVERITY_ORDER))
    return ", ".join(f"{s} {by_severity[s]}" for s in ordered if by_severity[s]) or "none"


# ------------------------------------------------------------------------------------------------
# Slack


_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def _esc(text: str) -> str:
    """Slack mrkdwn from data files (device ids, sites): `&`, `<` and `>` are control characters, a
    line break would start a new line of the message and a backtick would end its code span."""
    text = _BREAKS.sub(" ", text).replace("`", "'")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(text: str, url: str | None, *, code: bool = False) -> str:
    if url:
        return f"<{url}|{_esc(text)}>"
    return f"`{_esc(text)}`" if code else _esc(text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(inp: NotifyInput, d: ActionDigest | None) -> str:
    """The outcome, in a few words (the header block)."""
    if inp.kind == "approval_needed":
        n = d.total if d else inp.proposed
        high = f", {d.high_risk} high risk" if d else ""
        return f"Approval needed: {_plural(n, 'action')}{high}"
    if inp.kind == "routine_problems":
        c = inp.routine_outcomes or OutcomeCounts()
        return f"Routine repairs had problems: {c.failed} failed, {c.rolled_back} rolled back"
    if inp.kind == "cycle_failed":
        return f"Maintenance cycle {inp.cycle} failed"
    return inp.kind.replace("_", " ").capitalize()


def fallback_text(inp: NotifyInput, d: ActionDigest | None) -> str:
    """One paragraph for notifications, screen readers and receivers that ignore blocks."""
    if not inp.started_by:  # a message recorded before the facts: its own prose
        approve = f"\nApprove: `{approve_command(inp.approve_workflow_id)}`" if inp.approve_workflow_id else ""
        return inp.text + approve
    who = f"Maintenance agent for {inp.started_by}, cycle {inp.cycle}"
    if inp.kind == "cycle_failed":
        return f"{who} failed: {inp.error or 'unknown error'}"
    parts = [f"{who}: {_plural(inp.findings, 'finding')} ({severities(inp.findings_by_severity)}), "
             f"{_plural(inp.planned, 'action')} planned."]
    if inp.routine_run and inp.routine_outcomes:
        c = inp.routine_outcomes
        parts.append(f"Routine: {c.succeeded} succeeded, {c.failed} failed, {c.rolled_back} rolled back.")
    if inp.approve_workflow_id:
        n = d.total if d else inp.proposed
        high = f" ({d.high_risk} high risk, at {_plural(d.sites, 'site')})" if d else ""
        parts.append(f"{_plural(n, 'action')}{high} need approval in {inp.approve_workflow_id}. "
                     f"Approve: `{approve_command(inp.approve_workflow_id)}`")
    return " ".join(parts)


def _counts_line(counts: dict[str, int], *, code: bool = False, more: int = 0) -> str:
    line = ", ".join(f"`{_esc(k)}` {v}" if code else f"{_esc(k)} {v}" for k, v in counts.items()) or "none"
    return line + (f" and {_plural(more, 'more site')}" if more > 0 else "")


def slack_blocks(inp: NotifyInput, d: ActionDigest | None, links: Links) -> list[dict[str, Any]]:
    """Header (the outcome), context (who, which cycle, which folder), then counts, devices most at
    risk, the approve command and links. Every block has a `block_id` naming what it holds."""
    def mrkdwn(text: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": _cut(text, SECTION_CHARS)}

    icon = _ICONS.get(inp.kind, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "block_id": "outcome",
         "text": {"type": "plain_text", "text": _cut(f"{icon} {headline(inp, d)}", HEADER_CHARS), "emoji": True}}]
    context = [f"Maintenance agent for *{_esc(inp.started_by or '?')}*", f"cycle {inp.cycle}"]
    if inp.as_of:
        context.append(f"data as of {inp.as_of:%Y-%m-%d %H:%M} UTC")
    context.append(f"`{_esc(inp.agent_workflow_id)}`")
    blocks.append({"type": "context", "block_id": "context", "elements": [mrkdwn(" · ".join(context))]})
    if inp.kind == "cycle_failed":
        blocks.append({"type": "section", "block_id": "error", "text": mrkdwn(f"*Error*\n{_esc(inp.error or '?')}")})
    else:
        fields = [mrkdwn(f"*Findings by severity*\n{_esc(severities(inp.findings_by_severity))} "
                         f"({_plural(inp.findings, 'finding')})")]
        if d is not None:
            high = f"*High-risk actions*\n{d.high_risk} of {d.total}"
            if d.high_risk_by_action:
                high += f" ({_counts_line(d.high_risk_by_action)})"
            fields += [mrkdwn(high), mrkdwn(f"*Actions by type*\n{_counts_line(d.by_action)}")]
        if inp.routine_run and inp.routine_outcomes:
            c = inp.routine_outcomes
            fields.append(mrkdwn(f"*Routine repairs*\n{c.succeeded} succeeded, {c.failed} failed, "
                                 f"{c.rolled_back} rolled back, {c.stale} stale"))
        if inp.excluded_pending:
            fields.append(mrkdwn(f"*Already awaiting approval*\n{_plural(inp.excluded_pending, 'action')} "
                                 f"(not proposed again)"))
        blocks.append({"type": "section", "block_id": "counts", "fields": fields})
        if d is not None and d.total:
            blocks.append({"type": "section", "block_id": "sites", "text": mrkdwn(
                f"*Actions per site* ({_plural(d.sites, 'site')})\n"
                + _counts_line(d.by_site, code=True, more=d.sites - len(d.by_site)))})
            lines = [f"• `{_esc(x.equipment_id)}` at `{_esc(x.site)}`: {_esc(', '.join(x.actions))} — "
                     f"{x.risk.value} risk, priority {x.priority}" for x in d.devices_at_risk]
            more = f"\n…and {d.devices - len(d.devices_at_risk)} more device(s)" if d.devices > len(d.devices_at_risk) else ""
            blocks.append({"type": "section", "block_id": "devices",
                           "text": mrkdwn("*Devices most at risk*\n" + "\n".join(lines) + more)})
    if inp.approve_workflow_id:
        command = approve_command(inp.approve_workflow_id)
        blocks.append({"type": "section", "block_id": "approve", "text": mrkdwn(
            f"*Approve* (in the repository)\n```{command}```\n"
            f"Only some: add `--actions A1,A2`. Reject: `--reject --comment 'why'`.")})
    blocks.append({"type": "context", "block_id": "links", "elements": [mrkdwn(" · ".join(_link_lines(inp, links)))]})
    return blocks


def _report_of(inp: NotifyInput) -> tuple[str, str] | None:
    """The report a message points at: the approval run's (written when it ends), else the routine
    run's; with the label to show."""
    if inp.approve_workflow_id:
        return f"{inp.approve_workflow_id}/report.html", "Report (when the run ends)"
    if inp.routine_run:
        return f"{inp.routine_run}/report.html", "Report"
    return None


def _link_lines(inp: NotifyInput, links: Links) -> list[str]:
    out = []
    for label, workflow_id in (("Approval run", inp.approve_workflow_id), ("Routine run", inp.routine_run),
                               ("Agent", inp.agent_workflow_id)):
        if workflow_id and (url := links.workflow(workflow_id)):
            out.append(_link(f"{label} in Temporal UI", url))
    if report := _report_of(inp):
        name, url = links.report(report[0])
        out.append(f"{report[1]}: {_link(name, url, code=True)}")
    if inp.cycle_dir:
        name, url = links.report(f"{inp.cycle_dir}/plan.json" if inp.selection else inp.cycle_dir)
        out.append(f"{'Plan' if inp.selection else 'Cycle folder'}: {_link(name, url, code=True)}")
    return out or ["(no links: set TEMPORAL_UI_URL)"]


def slack_message(inp: NotifyInput, actions: Sequence[PlannedAction] | None, links: Links) -> dict[str, Any]:
    """The webhook's JSON: Slack reads `text` and `blocks`; other receivers get the facts too.
    `actions` are those the message is about (None: the message carries no plan, e.g. older inputs)."""
    d = digest(actions) if actions is not None else None
    if actions is None:  # recorded before the worker read the plan: what the workflow sent
        listed = [a.model_dump(mode="json") for a in inp.actions[:MAX_LISTED_ACTIONS]]
        devices, total = inp.devices[:MAX_LISTED_ACTIONS], len(inp.actions)
    else:
        listed = [PendingAction(id=a.id, equipment_id=a.equipment_id, action=a.action.value, risk=a.risk,
                                confidence=a.confidence, routine=a.routine).model_dump(mode="json")
                  for a in actions[:MAX_LISTED_ACTIONS]]
        devices, total = sorted({a.equipment_id for a in actions})[:MAX_LISTED_ACTIONS], len(actions)
    report = links.report(_report_of(inp)[0]) if _report_of(inp) else None
    message: dict[str, Any] = {
        "text": fallback_text(inp, d),
        "kind": inp.kind,
        "agent_workflow_id": inp.agent_workflow_id,
        "cycle": inp.cycle,
        "cycle_dir": inp.cycle_dir,
        "workflow_ids": inp.workflow_ids,
        "devices": devices,
        "actions": listed,
        "actions_total": total,
        "approve_command": approve_command(inp.approve_workflow_id) if inp.approve_workflow_id else None,
        "digest": d.model_dump(mode="json") if d else None,
        "links": {
            "approval_run": links.workflow(inp.approve_workflow_id) if inp.approve_workflow_id else None,
            "agent": links.workflow(inp.agent_workflow_id),
            "report": (report[1] or report[0]) if report else None,
        },
    }
    if inp.started_by:
        message["blocks"] = slack_blocks(inp, d, links)
    return message


# ------------------------------------------------------------------------------------------------
# PagerDuty Events v2


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


def page_severity(inp: PageInput) -> str:
    if inp.kind == "approval_needed" or inp.phase is Phase.EXPIRED:
        return "warning"
    return "error"


def page_summary(inp: PageInput) -> str:
    """PagerDuty's one line (at most 1,024 characters)."""
    run, sites = inp.workflow_id, _plural(len(inp.by_site), "site") if inp.by_site else ""
    if inp.kind == "approval_needed":
        text = (f"Approval needed: {_plural(inp.actions, 'maintenance action')} ({inp.high_risk} high risk"
                + (f", at {sites}" if sites else "") + f") in {run}")
    elif inp.kind == "cycle_failed":
        text = f"Maintenance agent {run}: cycle {inp.cycle} failed: {inp.error or 'unknown error'}"
    elif inp.phase is Phase.FAILED:
        text = f"Maintenance run {run} FAILED: {inp.error or 'unknown error'}"
    elif inp.phase is Phase.EXPIRED:
        text = f"Maintenance run {run} EXPIRED: nobody decided on {_plural(inp.actions, 'action')}; nothing was done"
    elif inp.phase is Phase.COMPLETED and inp.outcomes is not None and with_problems(inp.outcomes):
        c = inp.outcomes
        text = (f"Maintenance run {run} completed with problems: {c.failed} failed, {c.rolled_back} rolled back, "
                f"{c.not_run} not run (of {_plural(inp.actions, 'action')})")
    else:
        text = f"Maintenance run {run}: {(inp.phase.value if inp.phase else inp.kind).lower()}"
    return _cut(text, PAGERDUTY_SUMMARY_CHARS)


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
