"""What runs and the agent say as they go (core/run_text.py, core/status_text.py): each text exactly
as recorded histories, reports and clients already hold it, so a change shows here first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from maintenance_agent.core import run_text as rt
from maintenance_agent.core import status_text as st
from maintenance_agent.models.activity_io import DetectResult
from maintenance_agent.models.core import ActionName, PlannedAction, Risk
from maintenance_agent.models.run import ReportRef

AT = datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC)
ACTION = PlannedAction(id="A7", equipment_id="UPS-03", site="DC-2", action=ActionName.REPLACE_HARDWARE,
                       risk=Risk.HIGH, confidence=0.9, routine=False, disruptive=True, priority=1, reason="r",
                       expected_effect="e", rollback="b")
REPORT = ReportRef(directory="r", markdown="r/report.md", json_path="r/report.json", summary="COMPLETED: 3 succeeded")

TEXTS: list[tuple[str, Callable[[], str | None], str | None]] = [
    # a maintenance run, before its decision
    ("loading a cycle's plan", lambda: rt.LOADING_PLAN, "loading the plan made by the proactive agent"),
    ("detecting", lambda: rt.DETECTING, "reading the fleet and running the detection rules"),
    ("advising", lambda: rt.ADVISING, "asking the LLM advisor for explanations (rules decide)"),
    ("load plan", lambda: rt.load_plan_summary(12), "load 12 planned action(s)"),
    ("analyzing", lambda: rt.analyzing_note(4), "4 finding(s): grouping into problems"),
    ("planning", lambda: rt.planning_note(2), "2 problem(s): choosing repairs"),
    ("advisor down", lambda: rt.advisor_unavailable("timeout"), "advisor unavailable (timeout); rule-based output only"),
    # the decision, execution and report
    ("awaiting approval", lambda: rt.pending_approval_note(None, 5, AT), "5 action(s) await approval until 2026-12-01T09:30+00:00"),
    ("auto-approve refused", lambda: rt.pending_approval_note("bob is not in APPROVERS", 5, AT),
     "auto-approve refused: bob is not in APPROVERS; 5 action(s) await approval until 2026-12-01T09:30+00:00"),
    ("executing", lambda: rt.executing_note(3, dry_run=False), "executing 3 approved action(s)"),
    ("executing a dry run", lambda: rt.executing_note(3, dry_run=True), "executing 3 approved action(s) (dry run: simulated)"),
    ("executed", lambda: rt.executed_note(25, 40), "executed 25/40"),
    ("reporting", lambda: rt.REPORTING, "writing report.md and report.json"),
    ("summary: the report's", lambda: rt.run_summary(REPORT, "boom", "FAILED"), "COMPLETED: 3 succeeded"),
    ("summary: else the error", lambda: rt.run_summary(None, "boom", "FAILED"), "boom"),
    ("summary: else the phase", lambda: rt.run_summary(None, None, "REJECTED"), "REJECTED"),
    ("result summary: else empty", lambda: rt.run_summary(None, None), ""),
    ("decision refused", lambda: rt.decision_refused("sign again"), "decision refused: sign again"),
    # actions and site children
    ("an action", lambda: rt.action_summary(ACTION), "A7: replace_hardware on UPS-03 (DC-2)"),
    ("a give-up", lambda: rt.give_up_summary(ACTION), "A7: record that it gave up"),
    ("gave up", lambda: rt.gave_up_detail("store locked"), "gave up after retries: store locked"),
    ("a site child", lambda: rt.site_child_summary(8, "DC-2"), "execute 8 action(s) at DC-2"),
    ("a batch", lambda: rt.load_batch_summary(500, 500, 1200, "DC-2"), "load actions 501-1000 of 1200 for DC-2"),
    ("no parent run", lambda: rt.NOT_FROM_A_RUN, "it was not started by a maintenance run"),
    ("site refusal", lambda: rt.site_refusal(8, "DC-2", rt.NOT_FROM_A_RUN),
     "refusing to execute 8 action(s) at DC-2: it was not started by a maintenance run"),
    ("the runner's breaker", lambda: rt.runner_breaker_detail(3), "not started: circuit breaker tripped after 3 failure(s)"),
    ("the ledger's breaker", lambda: rt.ledger_breaker_detail(4, 3),
     "not started: the circuit breaker tripped after 4 failed or rolled-back action(s) in this run (MAX_FAILURES 3)"),
    # who may start a run
    ("safe names", lambda: rt.unsafe_names_refusal("run-1", "alice"), None),
    ("unsafe workflow id", lambda: rt.unsafe_names_refusal("../etc", "alice"),
     "refusing to run: the workflow id '../etc' is not a safe name (it may only hold letters, digits, '.', '_', '-' "
     "and '@', starting with a letter or digit); start the run with the scripts, the MCP server or a safe id"),
    ("unsafe starter (the id first)", lambda: rt.unsafe_names_refusal("run-1", ""),
     "refusing to run: the started_by '' is not a safe name (it is empty); start the run with the scripts, "
     "the MCP server or a safe id"),
    ("a long name is cut", lambda: rt.unsafe_names_refusal("x" * 201, "alice"),
     f"refusing to run: the workflow id {'x' * 80!r} is not a safe name (it is longer than 200 characters); "
     "start the run with the scripts, the MCP server or a safe id"),
    ("not proven: a run", lambda: rt.not_proven("alice", rt.PROOF_USED),
     "refusing to run for 'alice': this signed start was already used once; sign a new one"),
    ("not proven: the agent", lambda: rt.not_proven("alice", "no key", agent=True), "refusing to act for 'alice': no key"),
    ("not the agent's", lambda: rt.not_proven("alice", rt.not_an_agent_parent("rogue")),
     "refusing to run for 'alice': the run was started by rogue, which is not a proactive agent whose start they signed"),
    # the proactive agent
    ("cycle: detecting", lambda: st.cycle_detecting(3), "cycle 3: detecting"),
    ("cycle: detect step", lambda: st.cycle_detect_summary(3), "cycle 3: detect"),
    ("cycle: analyze step", lambda: st.cycle_analyze_summary(3), "cycle 3: analyze"),
    ("cycle: found", lambda: st.cycle_found(3, 9), "cycle 3: 9 finding(s)"),
    ("cycle: planning", lambda: st.cycle_planning(3), "cycle 3: planning"),
    ("cycle: plan step", lambda: st.cycle_plan_summary(3, 2), "cycle 3: plan (skipping 2 open approval run(s))"),
    ("cycle: routine", lambda: st.cycle_routine(3, 4), "cycle 3: 4 routine action(s)"),
    ("cycle: notifying", lambda: st.cycle_notifying(3), "cycle 3: sending the notification"),
    ("routine run", lambda: st.routine_run_summary(3, 4, "alice"), "cycle 3: 4 routine action(s) for alice"),
    ("approval run", lambda: st.approval_run_summary(3, 2, "alice"), "cycle 3: 2 action(s) for alice awaiting approval"),
    ("notify step", lambda: st.notify_summary("approval_needed"), "notify: approval_needed"),
    ("page step", lambda: st.page_summary("trigger", "run_finished"), "PagerDuty: trigger (run_finished)"),
    ("still open step", lambda: st.still_open_summary(2), "which of 2 approval run(s) are still open"),
    ("paused", lambda: st.PAUSED, "paused: resume, trigger a cycle or stop"),
    ("waiting", lambda: st.waiting_note(AT), "next cycle at 2026-12-01T09:30:15+00:00"),
    ("stopped", lambda: st.stopped_note(7), "stopped after cycle 7"),
    ("interval range", lambda: st.INTERVAL_OUT_OF_RANGE,
     "interval must be between one second (0.0167) and 10080 minutes (one week)"),
    ("stopping", lambda: st.AGENT_STOPPING, "the agent is stopping; start it again to change its interval"),
]


@pytest.mark.parametrize(("case", "render", "text"), TEXTS, ids=[t[0] for t in TEXTS])
def test_each_text_as_it_was_always_written(case: str, render: Callable[[], str | None], text: str | None) -> None:
    assert render() == text, case


def detect(devices: int) -> DetectResult:
    return DetectResult.model_validate({"as_of": AT, "findings_total": 0, "by_severity": {}, "by_kind": {},
                                        "summary": {"devices": devices, "sites": 1, "readings": 0}})


@pytest.mark.parametrize(("case", "detected", "actions", "planned", "devices"), [
    ("detection counts the fleet", 120, [ACTION], 1, 120),
    ("a cycle's run: the devices its actions touch", None,
     [ACTION, replace(ACTION, id="A8"), replace(ACTION, id="A9", equipment_id="PDU-1")],
     3, 2),
    ("a compact plan it does not hold: unknown", None, [ACTION], 3, None),
    ("nothing planned: unknown", None, [], 0, None),
])
def test_the_devices_a_run_shows(case: str, detected: int | None, actions: list[PlannedAction], planned: int,
                                 devices: int | None) -> None:
    assert st.run_devices(detect(detected) if detected is not None else None, actions, planned) == devices, case
