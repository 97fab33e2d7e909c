"""Text for people, pure: the Slack Block Kit message and the PagerDuty Events v2 body from typed facts\n(core/slack.py, core/pagerduty.py), the outcome sentence (core/wording.py) and the agent's status text (core/status_text.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from maintenance_agent.core import digest, links, pagerduty, slack, status_text, wording
from maintenance_agent.models.activity_io import PlanResult
from maintenance_agent.models.core import ActionName, Outcome, PlannedAction, Risk
from maintenance_agent.models.notify import ActionSelection, NotifyInput, PageEvent, PageInput
from maintenance_agent.models.proactive import CycleSummary, ProactivePhase
from maintenance_agent.models.run import OutcomeCounts, Phase

UI = "http://temporal.example:8233"
LINKS = links.Links(namespace="ops", temporal_ui_url=UI, reports_label="reports")
AGENT = "always-be-maintainin-for-Admin.User"
RUN = f"{AGENT}-cycle-3-approval-1a2b3c4d"


def _action(n: int, device: str, site: str, action: ActionName = ActionName.RESTART_DEVICE, *,
            risk: Risk = Risk.MEDIUM, priority: int = 2, routine: bool = False) -> PlannedAction:
    return PlannedAction(id=f"A{n}", equipment_id=device, site=site, action=action, risk=risk, confidence=0.9,
                         routine=routine, disruptive=True, priority=priority, reason="r", expected_effect="e",
                         rollback="b")


def _plan() -> list[PlannedAction]:
    """19 actions at 12 sites, 7 of them hardware replacements (the complaint's example)."""
    actions = [_action(i, f"EQ-{i:03d}", f"SITE-{i % 12:02d}", ActionName.REPLACE_HARDWARE, risk=Risk.HIGH,
                       priority=1 if i < 3 else 2) for i in range(7)]
    actions += [_action(i, f"EQ-{i:03d}", f"SITE-{i % 12:02d}") for i in range(7, 17)]
    actions += [_action(17, "EQ-000", "SITE-00", ActionName.UPDATE_FIRMWARE),
                _action(18, "EQ-900", "SITE-00", ActionName.RENEW_CONTRACT, risk=Risk.LOW, routine=True)]
    return actions


def _message_input(**overrides: object) -> NotifyInput:
    values: dict = dict(kind="approval_needed", agent_workflow_id=AGENT, cycle=3, started_by="Admin.User",
                        cycle_dir=f"{AGENT}/run-1/cycle-00003", selection=ActionSelection.ALL,
                        as_of=datetime(2025, 1, 2, 10, 30, tzinfo=UTC), findings=25,
                        findings_by_severity={"info": 8, "critical": 5, "warning": 12}, planned=19,
                        proposed=19, approve_workflow_id=RUN, workflow_ids=[AGENT, RUN])
    values.update(overrides)
    return NotifyInput(**values)


def _blocks(message: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in message["blocks"]}


def _text(block: dict) -> str:
    if "fields" in block:
        return "\n".join(f["text"] for f in block["fields"])
    if "elements" in block:
        return "\n".join(e["text"] for e in block["elements"])
    return block["text"]["text"]


def test_the_approval_message_says_what_where_how_risky_and_how_to_approve() -> None:
    message = slack.slack_message(_message_input(), _plan(), LINKS)
    blocks = _blocks(message)
    assert message["blocks"][0]["type"] == "header" and blocks["outcome"]["text"]["type"] == "plain_text"
    assert "Approval needed: 19 actions, 7 high risk" in _text(blocks["outcome"])
    assert len(_text(blocks["outcome"])) <= slack.HEADER_CHARS
    counts = _text(blocks["counts"])
    assert "critical 5, warning 12, info 8" in counts, "severities, worst first"
    assert "7 of 19" in counts and "replace_hardware 7" in counts
    sites = _text(blocks["sites"])
    assert "(12 sites)" in sites and "`SITE-00` 4, `SITE-01` 2" in sites and "and 4 more sites" in sites, "top 8 of 12 sites"
    devices = _text(blocks["devices"]).splitlines()
    assert devices[0] == "*Devices most at risk*" and len(devices) == 1 + digest.TOP_DEVICES + 1
    assert devices[1].startswith("• `EQ-000` at `SITE-00`: replace_hardware, update_firmware — high risk, priority 1")
    assert all("high risk" in line for line in devices[1:6]), "high-risk devices first"
    assert "```.venv/bin/python approve_monitoring_agent.py --workflow-id " + RUN + "```" in _text(blocks["approve"])
    links = _text(blocks["links"])
    assert f"<{UI}/namespaces/ops/workflows/{RUN}|Approval run in Temporal UI>" in links
    assert f"<{UI}/namespaces/ops/workflows/{AGENT}|Agent in Temporal UI>" in links
    assert f"`reports/{RUN}/report.html`" in links and f"`reports/{AGENT}/run-1/cycle-00003/plan.json`" in links
    assert "cycle 3" in _text(blocks["context"]) and "2025-01-02 10:30 UTC" in _text(blocks["context"])
    # the fallback and the structured fields for other receivers
    assert RUN in message["text"] and "need approval" in message["text"] and "7 high risk" in message["text"]
    assert message["approve_command"] == f".venv/bin/python approve_monitoring_agent.py --workflow-id {RUN}"
    assert message["digest"]["high_risk"] == 7 and message["actions_total"] == 19
    assert message["links"]["approval_run"] == f"{UI}/namespaces/ops/workflows/{RUN}"


def test_the_message_stays_bounded_for_a_large_plan() -> None:
    actions = [_action(i, f"EQ-{i:06d}", f"SITE-{i % 900:03d}", risk=Risk.HIGH) for i in range(20_000)]
    message = slack.slack_message(_message_input(proposed=20_000), actions, LINKS)
    assert len(json.dumps(message)) < 40_000
    assert len(message["actions"]) == slack.MAX_LISTED_ACTIONS and message["actions_total"] == 20_000
    assert len(message["blocks"]) <= 50 and all(len(_text(b)) <= 3000 for b in message["blocks"])
    assert "and 892 more sites" in _text(_blocks(message)["sites"])


def test_selection_picks_the_actions_the_message_is_about() -> None:
    plan = _plan()
    assert len(digest.select(plan, ActionSelection.NON_ROUTINE)) == 18
    assert [a.id for a in digest.select(plan, ActionSelection.ROUTINE)] == ["A18"]
    assert digest.select(plan, None) == []


def test_routine_problems_and_failed_cycles() -> None:
    counts = OutcomeCounts(succeeded=3, failed=2, rolled_back=1)
    routine = "agent-cycle-3-routine-aaaa1111"
    message = slack.slack_message(_message_input(kind="routine_problems", approve_workflow_id=None,
                                                  routine_run=routine, routine_outcomes=counts,
                                                  selection=ActionSelection.ROUTINE), _plan()[-1:], LINKS)
    blocks = _blocks(message)
    assert "Routine repairs had problems: 2 failed, 1 rolled back" in _text(blocks["outcome"])
    assert "approve" not in blocks and message["approve_command"] is None
    assert f"Report: `reports/{routine}/report.html`" in _text(blocks["links"])
    failed = slack.slack_message(_message_input(kind="cycle_failed", approve_workflow_id=None, selection=None,
                                                 error="bad <data> & worse"), None, LINKS)
    blocks = _blocks(failed)
    assert "Maintenance cycle 3 failed" in _text(blocks["outcome"])
    assert "bad &lt;data&gt; &amp; worse" in _text(blocks["error"]), "mrkdwn control characters escaped"
    assert "Cycle folder: `reports/" in _text(blocks["links"])
    assert failed["text"].endswith("failed: bad <data> & worse")


def test_links_and_commands_name_no_path_of_the_workers_machine() -> None:
    served = links.Links(namespace="default", temporal_ui_url=None, reports_url="https://ops.example/reports")
    message = slack.slack_message(_message_input(), _plan(), served)
    shown = _text(_blocks(message)["links"])
    assert f"<https://ops.example/reports/{RUN}/report.html|REPORTS_DIR/{RUN}/report.html>" in shown
    assert "Temporal UI" not in shown, "no UI known: no UI link"
    assert message["links"]["report"] == f"https://ops.example/reports/{RUN}/report.html"
    assert "/tmp" not in json.dumps(message) and "/home" not in json.dumps(message)


def test_an_input_recorded_before_the_facts_is_sent_as_it_was() -> None:
    old = NotifyInput(kind="approval_needed", agent_workflow_id=AGENT, cycle=1, text="3 action(s) need approval.",
                      approve_workflow_id=RUN)
    message = slack.slack_message(old, None, LINKS)
    assert message["text"].startswith("3 action(s) need approval.") and RUN in message["text"]
    assert "blocks" not in message


@pytest.mark.parametrize("phase,counts,proposed,expected", [
    (Phase.COMPLETED, OutcomeCounts(succeeded=4), True, PageEvent.RESOLVE),
    (Phase.COMPLETED, OutcomeCounts(succeeded=4), False, None),
    (Phase.COMPLETED, OutcomeCounts(succeeded=3, failed=1), True, PageEvent.TRIGGER),
    (Phase.COMPLETED, OutcomeCounts(succeeded=3, rolled_back=1), False, PageEvent.TRIGGER),
    (Phase.COMPLETED, OutcomeCounts(succeeded=3, not_run=1), True, PageEvent.TRIGGER),
    (Phase.COMPLETED, OutcomeCounts(succeeded=3, stale=1, skipped_unapproved=2), True, PageEvent.RESOLVE),
    (Phase.REJECTED, OutcomeCounts(), True, PageEvent.RESOLVE),
    (Phase.NO_ACTION_NEEDED, OutcomeCounts(), True, PageEvent.RESOLVE),
    (Phase.EXPIRED, OutcomeCounts(), True, PageEvent.TRIGGER),
    (Phase.FAILED, OutcomeCounts(), False, PageEvent.TRIGGER),
])
def test_what_a_finished_run_tells_pagerduty(phase: Phase, counts: OutcomeCounts, proposed: bool,
                                             expected: PageEvent | None) -> None:
    assert pagerduty.page_event(phase, counts, proposed=proposed) is expected


def test_pagerduty_bodies_follow_events_v2() -> None:
    trigger = pagerduty.pagerduty_body(PageInput(
        event_action=PageEvent.TRIGGER, dedup_key=RUN, kind="approval_needed", workflow_id=RUN,
        agent_workflow_id=AGENT, started_by="Admin.User", cycle=3, actions=19, high_risk=7,
        by_site={f"SITE-{i}": 1 for i in range(12)}, by_action={"replace_hardware": 7}), "k" * 32, LINKS)
    assert set(trigger) == {"routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links"}
    assert (trigger["routing_key"], trigger["event_action"], trigger["dedup_key"]) == ("k" * 32, "trigger", RUN)
    payload = trigger["payload"]
    assert payload["summary"] == f"Approval needed: 19 maintenance actions (7 high risk, at 12 sites) in {RUN}"
    assert payload["source"] == AGENT and payload["severity"] == "warning" and payload["class"] == "approval_needed"
    assert payload["custom_details"]["approve_command"] == f".venv/bin/python approve_monitoring_agent.py --workflow-id {RUN}"
    assert len(payload["custom_details"]["actions_per_site"]) == digest.TOP_SITES
    assert trigger["links"][0] == {"href": f"{UI}/namespaces/ops/workflows/{RUN}", "text": f"{RUN} in the Temporal Web UI"}
    failed = pagerduty.pagerduty_body(PageInput(event_action=PageEvent.TRIGGER, dedup_key=RUN, kind="run_finished",
                                             workflow_id=RUN, phase=Phase.FAILED, error="x" * 5000), "k" * 32, LINKS)
    assert failed["payload"]["severity"] == "error" and len(failed["payload"]["summary"]) == 1024
    assert None not in failed["payload"].values(), "no nulls where PagerDuty expects strings"
    resolve = pagerduty.pagerduty_body(PageInput(event_action=PageEvent.RESOLVE, dedup_key=RUN, kind="run_finished",
                                              workflow_id=RUN, phase=Phase.COMPLETED), "k" * 32, LINKS)
    assert resolve == {"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": RUN}
    assert pagerduty.cycle_failure_key(AGENT) == f"{AGENT}/cycle-failed"


def test_a_device_id_cannot_break_out_of_its_code_span_or_add_lines() -> None:
    hostile = "EQ-1`\n*urgent* <!channel> &"
    message = slack.slack_message(_message_input(), [_action(1, hostile, "SITE`\n00", risk=Risk.HIGH)], LINKS)
    devices = _text(_blocks(message)["devices"])
    assert devices.count("\n") == 1, devices  # the heading, then one line for the one device
    assert "<!channel>" not in devices and "&lt;!channel&gt; &amp;" in devices
    line = devices.splitlines()[1]
    assert line.startswith("• `EQ-1' *urgent* &lt;!channel&gt; &amp;` at `SITE' 00`"), line


# ------------------------------------------------------------------------------------------------
# the outcome sentence, rendered once (core/wording.py) for status lines, listings, reports and messages

COUNTS = OutcomeCounts(succeeded=19, failed=2, rolled_back=0, stale=1, not_run=3, skipped_unapproved=4)


@pytest.mark.parametrize(("outcomes", "options", "sentence"), [
    (wording.EXECUTED, {}, "19 succeeded, 2 failed, 0 rolled back, 1 stale"),
    (wording.WITH_NOT_RUN, {}, "19 succeeded, 2 failed, 0 rolled back, 1 stale, 3 not run"),
    ((Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK), {}, "19 succeeded, 2 failed, 0 rolled back"),
    (wording.WITH_NOT_RUN, {"only_nonzero": True}, "19 succeeded, 2 failed, 1 stale, 3 not run"),
    (wording.EVERY_OUTCOME, {"only_nonzero": True},
     "19 succeeded, 2 failed, 1 stale, 3 not run, 4 skipped (not approved)"),
])  # fmt: skip
def test_the_outcome_sentence(outcomes: tuple[Outcome, ...], options: dict, sentence: str) -> None:
    assert wording.outcomes_sentence(COUNTS, outcomes, **options) == sentence


@pytest.mark.parametrize(("always", "sentence"), [(None, ""), (Outcome.SUCCEEDED, "0 succeeded")])
def test_only_what_happened_and_what_is_always_said(always: Outcome | None, sentence: str) -> None:
    assert wording.outcomes_sentence(OutcomeCounts(), wording.EVERY_OUTCOME, only_nonzero=True, always=always) == sentence


@pytest.mark.parametrize(("by_severity", "text"), [({}, "none"), ({"info": 1, "critical": 2, "odd": 3, "warning": 0},
                                                                 "critical 2, info 1, odd 3")])
def test_severities_worst_first(by_severity: dict[str, int], text: str) -> None:
    assert wording.severities(by_severity) == text


# ------------------------------------------------------------------------------------------------
# the agent's status text (core/status_text.py)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _cycle(**fields: object) -> CycleSummary:
    values: dict = dict(cycle=4, started_at=T0, finished_at=T0, findings=6, planned=5)
    values.update(fields)
    return CycleSummary(**values)


@pytest.mark.parametrize(("summary", "line"), [
    (_cycle(), "cycle 4: 6 finding(s), 5 new action(s)"),
    (_cycle(error="detect failed"), "cycle 4: FAILED: detect failed"),
    (_cycle(excluded_pending=2, routine_run="r", routine_outcomes=OutcomeCounts(succeeded=3, rolled_back=1)),
     "cycle 4: 6 finding(s), 5 new action(s) (2 already awaiting approval); "
     "routine: 3 succeeded, 0 failed, 1 rolled back, 0 stale"),
    (_cycle(approval_run="a", proposed_for_approval=5, routine_held="'x' is not in APPROVERS",
            notification_error="HTTP 500"),
     "cycle 4: 6 finding(s), 5 new action(s); 5 proposed for approval "
     "(routine actions held for approval: 'x' is not in APPROVERS); notification failed (HTTP 500)"),
])  # fmt: skip
def test_one_line_per_cycle(summary: CycleSummary, line: str) -> None:
    assert status_text.cycle_line(summary) == line


def test_the_agents_current_details() -> None:
    last = _cycle(summary="cycle 4: 6 finding(s), 5 new action(s)")
    text = status_text.agent_details(ProactivePhase.WAITING, "next cycle at 09:00", cycle=4, interval_seconds=900,
                                     auto_execute_routine=False, open_approvals=["b-run", "a-run"], last_cycle=last)
    assert text.split("\n\n") == ["**WAITING-FOR-NEXT-CYCLE** — next cycle at 09:00",
                                  "cycles: 4; every 15 min; routine auto-execution off",
                                  "open approvals: a-run, b-run", "last cycle: cycle 4: 6 finding(s), 5 new action(s)"]
    quiet = status_text.agent_details(ProactivePhase.PAUSED, "paused", cycle=0, interval_seconds=30,
                                      auto_execute_routine=True, open_approvals=[], last_cycle=None)
    assert quiet == "**PAUSED** — paused\n\ncycles: 0; every 0.5 min; routine auto-execution on"


# ------------------------------------------------------------------------------------------------
# the facts of a PagerDuty event (core/pagerduty.py)


def test_a_runs_page_carries_its_plan_in_brief_and_its_outcomes_once_finished() -> None:
    plan = PlanResult(total=3, by_site={"S1": 2, "S2": 1}, by_risk={Risk.HIGH: 2}, by_action={"restart_device": 3})
    counts = OutcomeCounts(succeeded=3)
    args: dict = dict(workflow_id=RUN, agent_workflow_id=AGENT, started_by="Admin.User", cycle=3, plan=plan,
                      outcomes=counts, error=None, report_dir=RUN)
    trigger = pagerduty.run_page(PageEvent.TRIGGER, "approval_needed", phase=None, **args)
    assert (trigger.dedup_key, trigger.actions, trigger.high_risk, trigger.by_site) == (RUN, 3, 2, {"S1": 2, "S2": 1})
    assert trigger.outcomes is None  # not finished: nothing to count yet
    finished = pagerduty.run_page(PageEvent.RESOLVE, "run_finished", phase=Phase.COMPLETED, **args)
    assert finished.outcomes == counts and finished.phase is Phase.COMPLETED
    empty = pagerduty.run_page(PageEvent.TRIGGER, "run_finished", phase=Phase.FAILED, **{**args, "plan": None})
    assert (empty.actions, empty.high_risk, empty.by_site, empty.by_action) == (0, 0, {}, {})


def test_failing_cycles_are_one_incident_per_agent() -> None:
    page = pagerduty.cycle_failure_page(PageEvent.TRIGGER, AGENT, "Admin.User", 7, "boom")
    assert (page.dedup_key, page.kind, page.workflow_id, page.cycle, page.error) == (
        pagerduty.cycle_failure_key(AGENT), "cycle_failed", AGENT, 7, "boom")
