"""Approval policy: who may decide what, and when. Pure; the workflow's update validator calls it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from ..models.workflow import ApprovalPolicy, ApprovalRequest, Phase
from .ids import MAX_USER_CHARS, unsafe_user

MAX_IDS_PER_DECISION = 10_000
MAX_COMMENT_CHARS = 2_000
MAX_APPROVER_CHARS = MAX_USER_CHARS


class ApprovalRejected(ValueError):
    """The decision cannot be accepted; the message says why in one sentence."""


def effective_policy(requested: ApprovalPolicy, worker: ApprovalPolicy) -> ApprovalPolicy:
    """The policy a run enforces. The worker's settings are authoritative: a client that starts a run
    can add restrictions but never lift the worker's. `APPROVERS` set on the worker wins over the
    client's list; the four-eyes rule holds if either side asks for it."""
    approvers = list(worker.approvers or requested.approvers)
    four_eyes = worker.require_distinct_approver or requested.require_distinct_approver
    # Keys are only ever the worker's: a client cannot bring the public key its own signature checks against.
    return ApprovalPolicy(approvers=approvers, require_distinct_approver=four_eyes, keys=dict(worker.keys),
                          require_proof=worker.require_proof or bool(approvers) or four_eyes)


def auto_approval_refusal(started_by: str, policy: ApprovalPolicy) -> str | None:
    """Why `started_by` may not approve their own run automatically under `policy`, or None.

    Auto-approval is the starter approving their own plan, so it passes the same checks as a
    decision by the starter would."""
    if policy.require_distinct_approver:
        return "REQUIRE_DISTINCT_APPROVER asks for a second person to approve, so auto-approve is not allowed"
    if policy.approvers and started_by.strip() not in policy.approvers:
        return f"{started_by!r} is not in APPROVERS, so auto-approve is not allowed"
    return None


def check_decision(
    request: ApprovalRequest,
    *,
    phase: Phase,
    decided: bool,
    pending_ids: Collection[str],
    approvers: Sequence[str],
    started_by: str,
    require_distinct_approver: bool,
) -> None:
    """Raise `ApprovalRejected` unless `request` is a decision this run can take now."""
    approver = request.approver.strip()
    if not approver:
        raise ApprovalRejected("approver must not be empty; pass your user name as the approver")
    if len(approver) > MAX_APPROVER_CHARS:
        raise ApprovalRejected(f"approver name is longer than {MAX_APPROVER_CHARS} characters; shorten it")
    if problem := unsafe_user(approver):
        raise ApprovalRejected(f"approver {approver[:40]!r} is not a safe user name ({problem}); pass your user name")
    if request.comment is not None and len(request.comment) > MAX_COMMENT_CHARS:
        raise ApprovalRejected(f"comment is longer than {MAX_COMMENT_CHARS} characters; shorten it")
    if decided:
        raise ApprovalRejected("this plan has already been decided; start a new run to change anything")
    if phase is not Phase.PENDING_APPROVAL:
        if phase.terminal or phase in (Phase.EXECUTING, Phase.REPORTING):
            raise ApprovalRejected(
                f"the run is {phase.value} and no longer awaits approval; start a new run to act on the fleet again")
        raise ApprovalRejected(f"the run is {phase.value}: there is no plan to approve yet; retry when it is PENDING-APPROVAL")
    if approvers and approver not in approvers:
        raise ApprovalRejected(
            f"{approver!r} is not in APPROVERS and may not approve maintenance; ask someone listed in APPROVERS")
    if require_distinct_approver and approver == started_by:
        raise ApprovalRejected(
            f"{approver!r} started this run and REQUIRE_DISTINCT_APPROVER asks for a second person to approve it"
        )
    if request.action_ids is not None:
        if not request.approve:
            raise ApprovalRejected("a rejection applies to the whole plan; do not pass action ids with it")
        if not request.action_ids:
            raise ApprovalRejected("no action ids given; pass at least one id, or none at all to approve every action")
        if len(request.action_ids) > MAX_IDS_PER_DECISION:
            raise ApprovalRejected(
                f"{len(request.action_ids)} action ids in one decision is more than {MAX_IDS_PER_DECISION}; "
                f"approve all (no ids) or split the decision"
            )
        if len(set(request.action_ids)) != len(request.action_ids):
            dupes = sorted(i for i, n in Counter(request.action_ids).items() if n > 1)
            raise ApprovalRejected(f"action ids listed twice: {_show(dupes)}; list each id once")
        unknown = [i for i in request.action_ids if i not in pending_ids]
        if unknown:
            raise ApprovalRejected(f"unknown action id(s) {_show(unknown)}; see the plan for valid ids")


def _show(ids: Sequence[str]) -> str:
    """At most five ids, each quoted and cut to 40 characters (an id may hold anything a client sent)."""
    return ", ".join(repr(i[:40]) for i in ids[:5]) + (" …" if len(ids) > 5 else "")
