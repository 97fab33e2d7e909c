"""The approval rules (core/approval.py, pure): the policy a run enforces, who may decide what and when,\nwhether a signed start or decision is genuine, and whether a site child may execute a batch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from maintenance_agent.core import identity
from maintenance_agent.core.approval import (
    MAX_APPROVER_CHARS,
    MAX_COMMENT_CHARS,
    MAX_IDS_PER_DECISION,
    ApprovalRejected,
    agent_acts_for,
    auto_approval_refusal,
    check_decision,
    decision_proof_refusal,
    effective_policy,
    foreign_approver_refusal,
    grant_refusal,
    policy_with_keys,
    proof_impossible,
    requested_policy,
    start_proof_refusal,
)
from maintenance_agent.identity import Signer
from maintenance_agent.models.approval import ApprovalPolicy, ApprovalRequest, Decision, DecisionKind, GrantRequest
from maintenance_agent.models.proactive import ProactivePhase, ProactiveStatus
from maintenance_agent.models.run import MaintenanceInput, Phase

PENDING = [f"A{i}" for i in range(1, 21)]
STARTER = "alice"


def check(request: ApprovalRequest, **context: Any) -> None:
    """check_decision in a valid default context (pending approval, open approver list), overridden by `context`."""
    kwargs: dict[str, Any] = {
        "phase": Phase.PENDING_APPROVAL, "decided": False, "pending_ids": set(PENDING), "approvers": [],
        "started_by": STARTER, "require_distinct_approver": False,
    }
    kwargs.update(context)
    check_decision(request, **kwargs)


def req(approver: str = "bob", **fields: Any) -> ApprovalRequest:
    return ApprovalRequest(approver=approver, **fields)


@pytest.mark.parametrize(("request_", "context"), [
    (req(), {}),  # approve all
    (req(action_ids=["A1", "A3", "A20"]), {}),  # approve a subset
    (req(action_ids=PENDING), {}),  # every id listed explicitly
    (req(approve=False), {}),  # reject the whole plan
    (req(approve=False, comment="not this week"), {}),
    (req(" bob ", comment="x" * MAX_COMMENT_CHARS), {"approvers": ["bob", "carol"]}),  # approver is stripped
    (req("b" * MAX_APPROVER_CHARS), {}),
    (req("bob"), {"approvers": ["bob"], "require_distinct_approver": True}),
    (req(STARTER), {"require_distinct_approver": False}),  # the starter may approve without four-eyes
    (req(action_ids=[f"A{i}" for i in range(1, MAX_IDS_PER_DECISION + 1)]),
     {"pending_ids": {f"A{i}" for i in range(1, MAX_IDS_PER_DECISION + 1)}}),
], ids=["approve-all", "subset", "all-listed", "reject", "reject-with-comment", "listed-approver-padded",
        "longest-approver", "four-eyes-ok", "starter-without-four-eyes", "max-ids"])  # fmt: skip
def test_valid_decisions_pass(request_: ApprovalRequest, context: dict[str, Any]) -> None:
    assert check(request_, **context) is None


TOO_MANY = [f"A{i}" for i in range(1, MAX_IDS_PER_DECISION + 2)]
REJECTIONS: list[tuple[str, ApprovalRequest, dict[str, Any], str]] = [
    ("empty-approver", req(""), {}, "approver must not be empty; pass your user name as the approver"),
    ("whitespace-approver", req(" \t\n "), {}, "approver must not be empty; pass your user name as the approver"),
    ("approver-too-long", req("b" * (MAX_APPROVER_CHARS + 1)), {},
     f"approver name is longer than {MAX_APPROVER_CHARS} characters; shorten it"),
    ("approver-unsafe", req("../root"), {}, "approver '../root' is not a safe user name (it may only hold letters, "
     "digits, '.', '_', '-' and '@', starting with a letter or digit); pass your user name"),
    ("comment-too-long", req(comment="x" * (MAX_COMMENT_CHARS + 1)), {},
     "comment is longer than 2000 characters; shorten it"),
    ("already-decided", req(), {"decided": True},
     "this plan has already been decided; start a new run to change anything"),
    ("initializing", req(), {"phase": Phase.INITIALIZING},
     "the run is INITIALIZING: there is no plan to approve yet; retry when it is PENDING-APPROVAL"),
    ("monitoring", req(), {"phase": Phase.MONITORING},
     "the run is MONITORING-INFRASTRUCTURE: there is no plan to approve yet; retry when it is PENDING-APPROVAL"),
    ("planning", req(), {"phase": Phase.PLANNING},
     "the run is PLANNING-PREVENTIVE-MAINTENANCE: there is no plan to approve yet; retry when it is PENDING-APPROVAL"),
    ("executing", req(), {"phase": Phase.EXECUTING},
     "the run is EXECUTING-MAINTENANCE and no longer awaits approval; start a new run to act on the fleet again"),
    ("reporting", req(), {"phase": Phase.REPORTING}, "the run is GENERATING-REPORT and no longer awaits approval; start a new run to act on the fleet again"),
    ("completed", req(), {"phase": Phase.COMPLETED}, "the run is COMPLETED and no longer awaits approval; start a new run to act on the fleet again"),
    ("expired", req(), {"phase": Phase.EXPIRED}, "the run is EXPIRED and no longer awaits approval; start a new run to act on the fleet again"),
    ("not-an-approver", req("mallory"), {"approvers": ["bob", "carol"]},
     "'mallory' is not in APPROVERS and may not approve maintenance; ask someone listed in APPROVERS"),
    ("four-eyes", req(STARTER), {"require_distinct_approver": True},
     "'alice' started this run and REQUIRE_DISTINCT_APPROVER asks for a second person to approve it"),
    ("reject-with-ids", req(approve=False, action_ids=["A1"]), {},
     "a rejection applies to the whole plan; do not pass action ids with it"),
    ("reject-with-empty-ids", req(approve=False, action_ids=[]), {},
     "a rejection applies to the whole plan; do not pass action ids with it"),
    ("empty-ids", req(action_ids=[]), {},
     "no action ids given; pass at least one id, or none at all to approve every action"),
    ("too-many-ids", req(action_ids=TOO_MANY), {"pending_ids": set(TOO_MANY)},
     "10001 action ids in one decision is more than 10000; approve all (no ids) or split the decision"),
    ("duplicate-ids", req(action_ids=["A2", "A1", "A2", "A1", "A3"]), {}, "action ids listed twice: 'A1', 'A2'; list each id once"),
    ("unknown-ids", req(action_ids=["A1", "A99", "B7"]), {},
     "unknown action id(s) 'A99', 'B7'; see the plan for valid ids"),
    ("many-unknown-ids", req(action_ids=[f"X{i}" for i in range(7)]), {},
     "unknown action id(s) 'X0', 'X1', 'X2', 'X3', 'X4' …; see the plan for valid ids"),
    ("long-unknown-id", req(action_ids=["Z" * 100]), {},
     f"unknown action id(s) {'Z' * 40!r}; see the plan for valid ids"),
]  # fmt: skip  # noqa: E501


@pytest.mark.parametrize(("case", "request_", "context", "message"), REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_invalid_decisions_are_rejected_with_a_one_line_message(
    case: str, request_: ApprovalRequest, context: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApprovalRejected) as exc:
        check(request_, **context)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


def test_checks_run_in_order_cheapest_and_most_fundamental_first() -> None:
    # Everything is wrong at once: the approver is reported first, then the state of the run.
    with pytest.raises(ApprovalRejected, match="approver must not be empty"):
        check(req(" ", action_ids=["nope"]), decided=True, phase=Phase.COMPLETED)
    with pytest.raises(ApprovalRejected, match="already been decided"):
        check(req("mallory", action_ids=["nope"]), decided=True, phase=Phase.COMPLETED, approvers=["bob"])
    with pytest.raises(ApprovalRejected, match="not in APPROVERS"):
        check(req("mallory", action_ids=["nope"]), approvers=["bob"])


def test_approver_list_is_an_exact_match() -> None:
    with pytest.raises(ApprovalRejected, match="'Bob' is not in APPROVERS"):
        check(req("Bob"), approvers=["bob"])


# ------------------------------------------------------------------------------------------------
# every rejection says what to do (house style: name the thing, the value, and what to do)

_INSTRUCTION = re.compile(r"\b(retry|start|shorten|pass|split|see|ask|use|remove|add|set|list each|choose|"
                          r"approve all|a second person)\b", re.IGNORECASE)
@pytest.mark.parametrize(("case", "request_", "context"), [
    pytest.param(case, request_, context, id=case) for case, request_, context, _ in REJECTIONS
])
def test_rejection_message_says_what_to_do(case: str, request_: ApprovalRequest, context: dict[str, Any]) -> None:
    with pytest.raises(ApprovalRejected) as exc:
        check(request_, **context)
    assert _INSTRUCTION.search(str(exc.value)), str(exc.value)


def test_duplicate_id_message_stays_one_line_and_short() -> None:
    weird = "A1\nINJECTED " + "x" * 200
    with pytest.raises(ApprovalRejected) as exc:
        check(req(action_ids=[weird, weird]))
    assert "\n" not in str(exc.value)
    assert len(str(exc.value)) < 200


OPEN = ApprovalPolicy()


KEYS = {"bob": "ssh-ed25519 AAAA… bob"}


@pytest.mark.parametrize("requested,worker,expected", [
    (OPEN, OPEN, OPEN),
    # the client may tighten an open worker (and then names must be proven) ...
    (ApprovalPolicy(approvers=["bob"], require_distinct_approver=True), OPEN,
     ApprovalPolicy(approvers=["bob"], require_distinct_approver=True, require_proof=True)),
    # ... but never loosen the worker's policy, nor bring its own keys
    (OPEN, ApprovalPolicy(approvers=["bob"], require_distinct_approver=True, keys=KEYS, require_proof=True),
     ApprovalPolicy(approvers=["bob"], require_distinct_approver=True, keys=KEYS, require_proof=True)),
    (ApprovalPolicy(approvers=["mallory"], keys={"mallory": "ssh-ed25519 AAAA… mallory"}),
     ApprovalPolicy(approvers=["bob"], keys=KEYS, require_proof=True),
     ApprovalPolicy(approvers=["bob"], keys=KEYS, require_proof=True)),
])
def test_the_workers_policy_cannot_be_lifted_by_the_client(requested: ApprovalPolicy, worker: ApprovalPolicy,
                                                          expected: ApprovalPolicy) -> None:
    assert effective_policy(requested, worker) == expected


@pytest.mark.parametrize("policy,refused", [
    (OPEN, None),
    (ApprovalPolicy(approvers=[STARTER, "bob"]), None),
    (ApprovalPolicy(approvers=["bob"]), "not in APPROVERS"),
    (ApprovalPolicy(require_distinct_approver=True), "REQUIRE_DISTINCT_APPROVER"),
    (ApprovalPolicy(approvers=[STARTER], require_distinct_approver=True), "REQUIRE_DISTINCT_APPROVER"),
])
def test_auto_approval_is_the_starter_approving_their_own_run(policy: ApprovalPolicy, refused: str | None) -> None:
    reason = auto_approval_refusal(STARTER, policy)
    assert reason is None if refused is None else refused in (reason or "")


# ------------------------------------------------------------------------------------------------
# the worker's policy, and who a server may decide as


@pytest.mark.parametrize("policy,keys,expected", [
    (OPEN, {}, OPEN),
    (ApprovalPolicy(approvers=["bob"]), KEYS, ApprovalPolicy(approvers=["bob"], keys=KEYS, require_proof=True)),
    (ApprovalPolicy(require_distinct_approver=True), {},
     ApprovalPolicy(require_distinct_approver=True, require_proof=True)),
    (ApprovalPolicy(keys={"old": "k"}, require_proof=True), KEYS, ApprovalPolicy(keys=KEYS)),  # the keys read now count
])
def test_a_worker_requires_proof_wherever_a_name_decides(policy: ApprovalPolicy, keys: dict[str, str],
                                                        expected: ApprovalPolicy) -> None:
    assert policy_with_keys(policy, keys) == expected


@pytest.mark.parametrize("policy,impossible", [
    (OPEN, False),
    (ApprovalPolicy(approvers=["bob"], keys=KEYS, require_proof=True), False),
    (ApprovalPolicy(approvers=["bob"], require_proof=True), True),
])
def test_proof_without_keys_is_impossible(policy: ApprovalPolicy, impossible: bool) -> None:
    assert proof_impossible(policy) is impossible


def test_the_requested_policy_is_the_start_inputs() -> None:
    inp = MaintenanceInput(started_by=STARTER, approvers=["bob"], require_distinct_approver=True)
    assert requested_policy(inp) == ApprovalPolicy(approvers=["bob"], require_distinct_approver=True)


@pytest.mark.parametrize("requested,refused", [(None, False), ("alice", False), ("bob", True), ("Alice", True)])
def test_a_server_decides_only_as_its_own_user(requested: str | None, refused: bool) -> None:
    reason = foreign_approver_refusal("alice", requested)
    assert (reason is not None) is refused
    if reason:
        assert f"{requested!r} decides from their own client" in reason


@pytest.mark.parametrize("verified,started_by,acts", [(True, STARTER, True), (False, STARTER, False),
                                                      (True, "mallory", False)])
def test_an_agent_acts_only_for_the_starter_it_verified(verified: bool, started_by: str, acts: bool) -> None:
    agent = ProactiveStatus(workflow_id="agent", phase=ProactivePhase.WAITING, started_by=STARTER, cycle=1,
                            interval_seconds=60, auto_execute_routine=True, paused=False, stop_requested=False,
                            starter_verified=verified)
    assert agent_acts_for(agent, started_by) is acts


# ------------------------------------------------------------------------------------------------
# signed starts and decisions

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BOB_SIGNER = Signer("bob", Ed25519PrivateKey.generate())
ALICE_SIGNER = Signer(STARTER, Ed25519PrivateKey.generate())
REAL_KEYS = {"bob": BOB_SIGNER.public_text(), STARTER: ALICE_SIGNER.public_text()}


def signed_decision(**fields: Any) -> ApprovalRequest:
    request = req("bob", action_ids=["A1"], comment="ok")
    proof = BOB_SIGNER.prove(identity.DECIDE, identity.decision_fields("wf", "run-1", "bob", request.approve,
                                                                        request.action_ids, request.comment), at=NOW)
    return request.model_copy(update={"proof": proof, **fields})


@pytest.mark.parametrize("case,request_,run_id,now,used,reason", [
    ("genuine", signed_decision(), "run-1", NOW, False, None),
    ("genuine, approver padded", signed_decision(approver=" bob "), "run-1", NOW, False, None),
    ("unsigned", req("bob"), "run-1", NOW, False, "must prove who they are"),
    ("for another run", signed_decision(), "run-2", NOW, False, "does not match"),
    ("content changed", signed_decision(action_ids=["A1", "A2"]), "run-1", NOW, False, "does not match"),
    ("forged as someone else", signed_decision(approver="carol"), "run-1", NOW, False, "no public key for 'carol'"),
    ("late", signed_decision(), "run-1", NOW + timedelta(minutes=6), False, "more than 5 minutes"),
    ("replayed", signed_decision(), "run-1", NOW, True, "already used once"),
])  # fmt: skip
def test_a_signed_decision_must_be_genuine_now_and_new(case: str, request_: ApprovalRequest, run_id: str,
                                                       now: datetime, used: bool, reason: str | None) -> None:
    used_nonces = {request_.proof.nonce} if used and request_.proof else set()
    problem = decision_proof_refusal(request_, "wf", run_id, REAL_KEYS, now, used_nonces)
    assert problem is None if reason is None else reason in (problem or ""), (case, problem)


@pytest.mark.parametrize("case,change,reason", [
    ("genuine", {}, None),
    ("other input", {"auto_approve": True}, "does not match"),
    ("unsigned", {"start_proof": None}, "must prove who they are"),
])
def test_a_signed_start_binds_the_workflow_id_and_its_input(case: str, change: dict[str, Any],
                                                             reason: str | None) -> None:
    inp = MaintenanceInput(started_by=STARTER)
    proof = ALICE_SIGNER.prove(identity.START, identity.start_fields("wf", inp), at=NOW)
    signed = inp.model_copy(update={"start_proof": proof, **change})
    problem = start_proof_refusal(signed, "wf", identity.START, REAL_KEYS, NOW)
    assert problem is None if reason is None else reason in (problem or ""), case
    if reason is None:
        assert start_proof_refusal(signed, "wf-other", identity.START, REAL_KEYS, NOW)  # another workflow id


# ------------------------------------------------------------------------------------------------
# may a site child execute this batch for its run?

GRANTED = GrantRequest(run_id="run-1", artifact_dir="wf", action_ids=["A1", "A3"], approved_by="bob")


def grant(request: GrantRequest = GRANTED, **context: Any) -> str | None:
    kwargs: dict[str, Any] = {"phase": Phase.EXECUTING, "decision": Decision(kind=DecisionKind.APPROVED, by="bob",
                                                                            at=NOW),
                              "run_id": "run-1", "artifact_dir": "wf", "dry_run": False, "approved_ids": {"A1", "A3"}}
    kwargs.update(context)
    return grant_refusal(request, **kwargs)


@pytest.mark.parametrize("case,request_,context,reason", [
    ("granted", GRANTED, {}, None),
    ("auto-approved", GRANTED, {"decision": Decision(kind=DecisionKind.AUTO_APPROVED, by="bob", at=NOW)}, None),
    ("not executing", GRANTED, {"phase": Phase.PENDING_APPROVAL}, "the run is PENDING-APPROVAL, not executing"),
    ("no decision", GRANTED, {"decision": None}, "the run has no approved plan"),
    ("rejected", GRANTED, {"decision": Decision(kind=DecisionKind.REJECTED, by="bob", at=NOW)},
     "the run has no approved plan"),
    ("another ledger", GRANTED.model_copy(update={"run_id": "run-2"}), {}, "the batch is not this run's"),
    ("another plan", GRANTED.model_copy(update={"artifact_dir": "other"}), {}, "the batch is not this run's"),
    ("another approver", GRANTED.model_copy(update={"approved_by": "mallory"}), {}, "the batch is not this run's"),
    ("dry run differs", GRANTED.model_copy(update={"dry_run": True}), {}, "the batch is not this run's"),
    ("unapproved ids", GRANTED.model_copy(update={"action_ids": ["A1", "A2", "A9"]}), {},
     "action(s) A2, A9 were not approved"),
])  # fmt: skip
def test_a_site_batch_is_granted_only_for_this_runs_approved_actions(case: str, request_: GrantRequest,
                                                                     context: dict[str, Any], reason: str | None) -> None:
    problem = grant(request_, **context)
    assert problem is None if reason is None else reason in (problem or ""), (case, problem)
