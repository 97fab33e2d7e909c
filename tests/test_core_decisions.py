"""The decisions the workflows record, as pure functions (core/decisions.py, core/agent.py): the
decision taken at start, a person's decision applied to the plan (and whether it counts as signed),
what executes, how each action shows in the plan, the phase a decision ends the run in; and the
proactive agent's cycle rules (routine vs approval, what to notify). Its timing: test_core_agent_timing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from maintenance_agent.core.agent import (
    asks_routine_hold,
    cycle_failure_notice,
    cycle_folder,
    cycle_notice,
    cycle_run_input,
    excluded_plans,
    split_cycle_plan,
)
from maintenance_agent.core.decisions import (
    POLICY,
    apply_request,
    approval_states,
    counts_as_signed,
    decision_at_start,
    end_phase,
    ends_run,
    expired_decision,
    to_execute,
)
from maintenance_agent.models.approval import ApprovalPolicy, ApprovalRequest, Decision, DecisionKind, Proof
from maintenance_agent.models.notify import ActionSelection
from maintenance_agent.models.proactive import CycleSummary, OpenApproval, ProactiveInput, ProactiveState
from maintenance_agent.models.run import OutcomeCounts, Phase

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PLAN = ["A1", "A2", "A3", "A4"]
OPEN = ApprovalPolicy()
STRICT = ApprovalPolicy(approvers=["bob"], require_proof=True)
FOUR_EYES = ApprovalPolicy(require_distinct_approver=True)

# ------------------------------------------------------------------------------------------------
# the decision at start: auto-approval, the policy's refusal, LLM proposals left for a person


def start(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {"started_by": "alice", "auto_approve": True, "policy": OPEN, "for_agent": False,
                              "plan_ids": PLAN, "llm_ids": set(), "signed": False, "now": NOW}
    kwargs.update(overrides)
    return decision_at_start(**kwargs)


@pytest.mark.parametrize(("case", "overrides", "kind", "by", "approved", "refused"), [
    ("no auto-approve: wait", {"auto_approve": False}, None, None, None, None),
    ("no auto-approve, strict policy: wait, nothing refused", {"auto_approve": False, "policy": STRICT},
     None, None, None, None),
    ("auto-approved", {}, DecisionKind.AUTO_APPROVED, "alice", None, None),
    ("starter listed in APPROVERS", {"started_by": "bob", "policy": STRICT}, DecisionKind.AUTO_APPROVED, "bob",
     None, None),
    ("starter not in APPROVERS: wait for a person", {"policy": STRICT}, None, None, None, "not in APPROVERS"),
    ("four-eyes: wait for a person", {"policy": FOUR_EYES}, None, None, None, "REQUIRE_DISTINCT_APPROVER"),
    ("agent's routine run refused: rejected by the policy", {"policy": STRICT, "for_agent": True},
     DecisionKind.REJECTED, POLICY, None, "not in APPROVERS"),
    ("agent's run allowed: auto-approved", {"for_agent": True}, DecisionKind.AUTO_APPROVED, "alice", None, None),
    ("LLM proposals are left out", {"llm_ids": {"A2", "A4"}}, DecisionKind.AUTO_APPROVED, "alice", ["A1", "A3"], None),
    ("only LLM proposals: nothing approved", {"llm_ids": set(PLAN)}, DecisionKind.AUTO_APPROVED, "alice", [], None),
])  # fmt: skip
def test_the_decision_at_start(case: str, overrides: dict[str, Any], kind: DecisionKind | None, by: str | None,
                               approved: list[str] | None, refused: str | None) -> None:
    result = start(**overrides)
    assert (result.decision.kind if result.decision else None) is kind, case
    assert (result.decision.by if result.decision else None) == by
    assert result.approved_ids == approved
    assert (result.refused is None) if refused is None else (refused in (result.refused or ""))
    if kind is DecisionKind.REJECTED:
        assert result.decision.comment == result.refused  # the run's report says why
    if kind is DecisionKind.AUTO_APPROVED:
        assert result.decision.action_ids == (approved or [])
        assert result.decision.comment.startswith("auto-approve requested at start")


def test_an_auto_approval_says_how_many_llm_proposals_wait_and_whether_its_start_was_signed() -> None:
    result = start(llm_ids={"A2"}, signed=True)
    assert result.decision.comment == "auto-approve requested at start; 1 LLM-proposed action(s) left for a human decision"
    assert result.decision.signed and result.decision.at == NOW
    assert not start(policy=STRICT, for_agent=True).decision.signed  # the policy is nobody's signature


@pytest.mark.parametrize(("seconds", "comment"), [(12 * 3600, "no decision within 12 h"),
                                                  (90, "no decision within 0.025 h")])
def test_an_expired_decision_is_the_systems(seconds: float, comment: str) -> None:
    decision = expired_decision(seconds, NOW)
    assert (decision.kind, decision.by, decision.at, decision.comment) == (DecisionKind.EXPIRED, "system", NOW, comment)
    assert ends_run(decision)


# ------------------------------------------------------------------------------------------------
# a person's decision, applied to the plan


@pytest.mark.parametrize(("case", "request_", "kind", "approved_ids", "approved", "skipped"), [
    ("reject", ApprovalRequest(approver=" bob ", approve=False, comment="no"), DecisionKind.REJECTED, None, 0, 4),
    ("approve all", ApprovalRequest(approver="bob"), DecisionKind.APPROVED, None, 4, 0),
    ("every id listed is all", ApprovalRequest(approver="bob", action_ids=["A4", "A3", "A2", "A1"]),
     DecisionKind.APPROVED, None, 4, 0),
    ("some, in plan order", ApprovalRequest(approver="bob", action_ids=["A3", "A1"]),
     DecisionKind.PARTIALLY_APPROVED, ["A1", "A3"], 2, 2),
])  # fmt: skip
def test_a_decision_applied_to_the_plan(case: str, request_: ApprovalRequest, kind: DecisionKind,
                                        approved_ids: list[str] | None, approved: int, skipped: int) -> None:
    applied = apply_request(request_, plan_ids=PLAN, pending_ids=set(PLAN), total=len(PLAN), signed=True, now=NOW)
    assert applied.decision.kind is kind, case
    assert applied.decision.by == "bob" and applied.decision.at == NOW and applied.decision.signed
    assert applied.decision.comment == request_.comment
    assert applied.approved_ids == approved_ids
    assert applied.decision.action_ids == (approved_ids or [])
    assert (applied.result.approved, applied.result.skipped) == (approved, skipped)
    assert applied.result.decision == applied.decision


def decided(kind: DecisionKind) -> Decision:
    return Decision(kind=kind, by="bob", at=NOW)


@pytest.mark.parametrize(("decision", "approved_ids", "default", "differs", "executes"), [
    (None, None, "pending", {}, PLAN),
    (decided(DecisionKind.REJECTED), None, "not_approved", {}, PLAN),
    (decided(DecisionKind.EXPIRED), None, "not_approved", {}, PLAN),
    (decided(DecisionKind.APPROVED), None, "approved", {}, PLAN),
    (decided(DecisionKind.AUTO_APPROVED), None, "approved", {}, PLAN),
    (decided(DecisionKind.PARTIALLY_APPROVED), ["A2"], "not_approved", {"A2": "approved"}, ["A2"]),
    (decided(DecisionKind.AUTO_APPROVED), [], "not_approved", {}, []),  # every action was an LLM proposal
])  # fmt: skip
def test_how_each_action_shows_in_the_plan_and_what_executes(decision: Decision | None, approved_ids: list[str] | None,
                                                             default: str, differs: dict[str, str],
                                                             executes: list[str]) -> None:
    assert approval_states(decision, approved_ids) == (default, differs)
    assert to_execute(PLAN, approved_ids) == executes


@pytest.mark.parametrize(("kind", "ends"), [(k, k in (DecisionKind.REJECTED, DecisionKind.EXPIRED)) for k in DecisionKind])
def test_only_a_rejected_or_expired_plan_ends_the_run_before_execution(kind: DecisionKind, ends: bool) -> None:
    assert ends_run(decided(kind)) is ends


@pytest.mark.parametrize(("kind", "phase"), [
    (DecisionKind.REJECTED, Phase.REJECTED), (DecisionKind.EXPIRED, Phase.EXPIRED), (DecisionKind.APPROVED, None),
    (DecisionKind.PARTIALLY_APPROVED, None), (DecisionKind.AUTO_APPROVED, None),
])
def test_the_phase_a_decision_ends_the_run_in(kind: DecisionKind, phase: Phase | None) -> None:
    assert end_phase(decided(kind)) is phase


@pytest.mark.parametrize(("proof", "required", "signed"), [(True, True, True), (True, False, False),
                                                           (False, True, False), (False, False, False)])
def test_a_decision_counts_as_signed_only_with_a_proof_the_worker_checked(proof: bool, required: bool,
                                                                         signed: bool) -> None:
    request = ApprovalRequest(approve=True, approver="bob",
                              proof=Proof(signed_at=NOW, nonce="n" * 16, signature="s") if proof else None)
    assert counts_as_signed(request, proof_required=required) is signed


# ------------------------------------------------------------------------------------------------
# the proactive agent's cycle


@pytest.mark.parametrize(("case", "auto_execute", "held", "routine", "others", "includes_routine"), [
    ("routine runs, the rest waits", True, None, ["A2", "A4"], ["A1", "A3"], False),
    ("auto-execution off: everything waits", False, None, [], PLAN, True),
    ("held by the policy: everything waits", True, "'alice' is not in APPROVERS", [], PLAN, True),
])  # fmt: skip
def test_routine_or_approval(case: str, auto_execute: bool, held: str | None, routine: list[str],
                             others: list[str], includes_routine: bool) -> None:
    split = split_cycle_plan(PLAN, ["A2", "A4"], auto_execute=auto_execute, held=held)
    assert (split.routine, split.others, split.includes_routine) == (routine, others, includes_routine), case


@pytest.mark.parametrize(("auto_execute", "routine_ids", "asks"), [
    (True, ["A2"], True), (True, [], False), (False, ["A2"], False), (False, [], False),
])
def test_the_policy_is_asked_about_routine_actions_only_where_they_would_run(auto_execute: bool,
                                                                            routine_ids: list[str], asks: bool) -> None:
    assert asks_routine_hold(auto_execute, routine_ids) is asks


def test_a_plan_without_routine_actions_proposes_everything_and_holds_nothing_back() -> None:
    split = split_cycle_plan(PLAN, [], auto_execute=True, held=None)
    assert (split.routine, split.others, split.includes_routine) == ([], PLAN, False)


def test_open_approvals_are_left_out_of_the_next_plan() -> None:
    runs = [OpenApproval(workflow_id=f"w{i}", cycle=i, artifact_dir=f"c{i}", actions=1, started_at=NOW,
                         includes_routine=i % 2 == 0) for i in range(4)]
    assert excluded_plans(runs) == (["c1", "c3"], ["c0", "c2"])  # their non-routine actions / all of them


@pytest.mark.parametrize(("first_run", "folder"), [("r-1", "agent/r-1/cycle-00007"), (None, "agent/cycle-00007")])
def test_cycle_folders_are_per_incarnation(first_run: str | None, folder: str) -> None:
    assert cycle_folder("agent", first_run, 7) == folder


AGENT = ProactiveInput(started_by="alice", approvers=["bob"], require_distinct_approver=True, max_failures=3,
                       approval_timeout_seconds=600, advisor=True, callback_url="http://hook", notify_timeout_seconds=7)


@pytest.mark.parametrize(("auto_approve", "parent"), [(True, None), (False, "agent")])
def test_a_cycle_run_acts_for_the_agents_starter_under_their_policy(auto_approve: bool, parent: str | None) -> None:
    inp = cycle_run_input(AGENT, agent_workflow_id="agent", cycle_dir="agent/cycle-00001", ids=["A1"], as_of=NOW,
                          cycle=1, auto_approve=auto_approve)
    assert (inp.started_by, inp.approvers, inp.require_distinct_approver, inp.max_failures) == ("alice", ["bob"], True, 3)
    assert (inp.approval_timeout_seconds, inp.advisor, inp.auto_approve) == (600, True, auto_approve)
    assert inp.source_plan is not None and inp.source_plan.action_ids == ["A1"] and inp.source_plan.cycle == 1
    assert inp.parent_workflow_id == parent  # an approval run tells the agent when it ends
    assert inp.start_proof is None and not inp.dry_run


def cycle(**fields: Any) -> CycleSummary:
    return CycleSummary(cycle=3, started_at=NOW, finished_at=NOW, artifact_dir="agent/cycle-00003", findings=5,
                        planned=4, **fields)


PROBLEMS = OutcomeCounts(succeeded=1, failed=1)
CLEAN = OutcomeCounts(succeeded=2)


@pytest.mark.parametrize(("case", "summary", "auto_execute", "kind", "selection"), [
    ("quiet cycle", cycle(), True, None, None),
    ("routine ran cleanly", cycle(routine_run="r", routine_outcomes=CLEAN), True, None, None),
    ("routine had problems", cycle(routine_run="r", routine_outcomes=PROBLEMS), True, "routine_problems",
     ActionSelection.ROUTINE),
    ("a rolled-back routine action is a problem", cycle(routine_run="r", routine_outcomes=OutcomeCounts(rolled_back=1)),
     True, "routine_problems", ActionSelection.ROUTINE),
    ("approval needed, routine ran", cycle(routine_run="r", approval_run="a"), True, "approval_needed",
     ActionSelection.NON_ROUTINE),
    ("approval needed, routine held", cycle(approval_run="a", routine_held="not in APPROVERS"), True,
     "approval_needed", ActionSelection.ALL),
    ("approval needed, auto-execution off", cycle(approval_run="a"), False, "approval_needed", ActionSelection.ALL),
])  # fmt: skip
def test_what_the_agent_tells_people_after_a_cycle(case: str, summary: CycleSummary, auto_execute: bool,
                                                   kind: str | None, selection: ActionSelection | None) -> None:
    notice = cycle_notice(summary, AGENT.model_copy(update={"auto_execute_routine": auto_execute}), "agent")
    assert (notice.kind if notice else None) == kind, case
    if notice is not None:
        assert notice.selection is selection
        assert (notice.url, notice.timeout_seconds, notice.started_by) == ("http://hook", 7, "alice")
        assert notice.workflow_ids == [w for w in ("agent", summary.routine_run, summary.approval_run) if w]
        assert notice.approve_workflow_id == summary.approval_run
        assert notice.routine_outcomes == (summary.routine_outcomes if summary.routine_run else None)


def test_a_failed_cycle_is_told_with_its_error_and_what_it_saw_before() -> None:
    notice = cycle_failure_notice(cycle(error="detect: store unreadable"), AGENT, "agent")
    assert (notice.kind, notice.error, notice.findings, notice.cycle) == ("cycle_failed", "detect: store unreadable", 5, 3)
    assert (notice.workflow_ids, notice.selection, notice.cycle_dir) == (["agent"], None, "agent/cycle-00003")
    assert notice.timeout_seconds == 7


# ------------------------------------------------------------------------------------------------
# what the agent carries across continue-as-new: one model, flat on the wire as before

WIRE_FIELDS = {"started_by", "start_proof", "interval_seconds", "auto_execute_routine", "trigger_pending",
               "callback_url", "approval_timeout_seconds", "approvers", "require_distinct_approver", "max_failures",
               "rules", "advisor", "notify_timeout_seconds", "continue_as_new_after_cycles", "cycle", "open_approvals",
               "last_cycle", "paused", "continue_as_new_count", "starter_verified", "cycle_failure_paged",
               # added later, with defaults: inputs recorded before decode to an agent holding no alerts
               "alerts", "alert_triggers"}


def _open(workflow_id: str, actions: int = 1) -> OpenApproval:
    return OpenApproval(workflow_id=workflow_id, cycle=1, artifact_dir="c1", actions=actions, started_at=NOW)


def test_the_agents_input_keeps_its_wire_format() -> None:
    assert set(ProactiveInput.model_fields) == WIRE_FIELDS  # recorded histories and running agents decode
    assert set(ProactiveInput(started_by="alice").model_dump(mode="json")) == WIRE_FIELDS


def test_the_state_goes_into_the_next_input_and_nothing_else_changes() -> None:
    inp = AGENT.model_copy(update={"cycle": 2, "open_approvals": [_open("w1")]})
    state = inp.state()
    state.cycle, state.paused, state.trigger_pending, state.interval_seconds = 3, True, True, 120
    state.track(_open("w2"))
    state.last_cycle = cycle()
    following = inp.carrying(state)
    carried = set(ProactiveState.model_fields)
    assert following.model_dump(exclude=carried) == inp.model_dump(exclude=carried)
    assert following.model_dump(include=carried) == state.model_dump()
    assert inp.cycle == 2 and [o.workflow_id for o in inp.open_approvals] == ["w1"]  # the state is a copy


def test_open_approval_runs_are_tracked_once_in_their_place() -> None:
    state = ProactiveInput(started_by="alice", open_approvals=[_open("w1"), _open("w2"), _open("w1", 5)]).state()
    assert [(o.workflow_id, o.actions) for o in state.open_approvals] == [("w1", 5), ("w2", 1)]  # as a dict keeps them
    state.track(_open("w2", 7))
    state.track(_open("w1", 9), replace=False)
    state.track(_open("w3"))
    assert [(o.workflow_id, o.actions) for o in state.open_approvals] == [("w1", 5), ("w2", 7), ("w3", 1)]
    state.forget("w2")
    state.forget("nope")
    assert state.open_ids() == ["w1", "w3"]
