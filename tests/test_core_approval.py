"""The approval policy behind the workflow's update validator (pure core)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from maintenance_agent.core.approval import (
    MAX_APPROVER_CHARS,
    MAX_COMMENT_CHARS,
    MAX_IDS_PER_DECISION,
    ApprovalRejected,
    auto_approval_refusal,
    check_decision,
    effective_policy,
)
from maintenance_agent.models.workflow import ApprovalPolicy, ApprovalRequest, Phase

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
