"""The Slack message of a notification (Block Kit, with `text` as the fallback), from typed facts.
Pure: the activity posts what this returns.

Messages are bounded (the top few sites and devices, at most `MAX_LISTED_ACTIONS` actions), name
commands as they are typed in the repository, and name reports relative to REPORTS_DIR (or under a
served `REPORTS_URL`): never a path of the worker's machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..models.core import Outcome, PlannedAction
from ..models.notify import ActionDigest, NotifyInput
from ..models.run import OutcomeCounts
from ..models.views import PendingAction
from .digest import digest
from .links import Links, approve_command
from .wording import cut, outcomes_sentence, plural, severities

MAX_LISTED_ACTIONS = 50
"""The structured `actions` and `devices` lists beside the blocks (for receivers other than Slack)."""
HEADER_CHARS = 150
"""Slack's limit for a header block's text."""
SECTION_CHARS = 2900
"""Below Slack's 3,000 characters per section text."""
_ICONS = {"approval_needed": ":warning:", "routine_problems": ":x:", "cycle_failed": ":rotating_light:"}
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


def headline(inp: NotifyInput, d: ActionDigest | None) -> str:
    """The outcome, in a few words (the header block)."""
    if inp.kind == "approval_needed":
        n = d.total if d else inp.proposed
        high = f", {d.high_risk} high risk" if d else ""
        return f"Approval needed: {plural(n, 'action')}{high}"
    if inp.kind == "routine_problems":
        problems = outcomes_sentence(inp.routine_outcomes or OutcomeCounts(), (Outcome.FAILED, Outcome.ROLLED_BACK))
        return f"Routine repairs had problems: {problems}"
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
    parts = [f"{who}: {plural(inp.findings, 'finding')} ({severities(inp.findings_by_severity)}), "
             f"{plural(inp.planned, 'action')} planned."]
    if inp.routine_run and inp.routine_outcomes:
        ran = outcomes_sentence(inp.routine_outcomes, (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK))
        parts.append(f"Routine: {ran}.")
    if inp.approve_workflow_id:
        n = d.total if d else inp.proposed
        high = f" ({d.high_risk} high risk, at {plural(d.sites, 'site')})" if d else ""
        parts.append(f"{plural(n, 'action')}{high} need approval in {inp.approve_workflow_id}. "
                     f"Approve: `{approve_command(inp.approve_workflow_id)}`")
    return " ".join(parts)


def _counts_line(counts: dict[str, int], *, code: bool = False, more: int = 0) -> str:
    line = ", ".join(f"`{_esc(k)}` {v}" if code else f"{_esc(k)} {v}" for k, v in counts.items()) or "none"
    return line + (f" and {plural(more, 'more site')}" if more > 0 else "")


def slack_blocks(inp: NotifyInput, d: ActionDigest | None, links: Links) -> list[dict[str, Any]]:
    """Header (the outcome), context (who, which cycle, which folder), then counts, devices most at
    risk, the approve command and links. Every block has a `block_id` naming what it holds."""
    def mrkdwn(text: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": cut(text, SECTION_CHARS)}

    icon = _ICONS.get(inp.kind, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "block_id": "outcome",
         "text": {"type": "plain_text", "text": cut(f"{icon} {headline(inp, d)}", HEADER_CHARS), "emoji": True}}]
    context = [f"Maintenance agent for *{_esc(inp.started_by or '?')}*", f"cycle {inp.cycle}"]
    if inp.as_of:
        context.append(f"data as of {inp.as_of:%Y-%m-%d %H:%M} UTC")
    context.append(f"`{_esc(inp.agent_workflow_id)}`")
    blocks.append({"type": "context", "block_id": "context", "elements": [mrkdwn(" · ".join(context))]})
    if inp.kind == "cycle_failed":
        blocks.append({"type": "section", "block_id": "error", "text": mrkdwn(f"*Error*\n{_esc(inp.error or '?')}")})
    else:
        fields = [mrkdwn(f"*Findings by severity*\n{_esc(severities(inp.findings_by_severity))} "
                         f"({plural(inp.findings, 'finding')})")]
        if d is not None:
            high = f"*High-risk actions*\n{d.high_risk} of {d.total}"
            if d.high_risk_by_action:
                high += f" ({_counts_line(d.high_risk_by_action)})"
            fields += [mrkdwn(high), mrkdwn(f"*Actions by type*\n{_counts_line(d.by_action)}")]
        if inp.routine_run and inp.routine_outcomes:
            fields.append(mrkdwn(f"*Routine repairs*\n{outcomes_sentence(inp.routine_outcomes)}"))
        if inp.excluded_pending:
            fields.append(mrkdwn(f"*Already awaiting approval*\n{plural(inp.excluded_pending, 'action')} "
                                 f"(not proposed again)"))
        blocks.append({"type": "section", "block_id": "counts", "fields": fields})
        if d is not None and d.total:
            blocks.append({"type": "section", "block_id": "sites", "text": mrkdwn(
                f"*Actions per site* ({plural(d.sites, 'site')})\n"
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
    report = links.report(found[0]) if (found := _report_of(inp)) else None
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
