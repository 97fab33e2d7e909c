"""A run's decision: taken at its start (auto-approval, or the policy's refusal for the agent's
routine run), by a person (approve all, some, or reject), or by the deadline; and what it means for
the plan (which actions execute, how each shows in the plan). Pure: the workflow records the result.

Who may decide is checked before (core/approval.py): these functions build what a valid decision is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from ..models.approval import ApprovalPolicy, ApprovalRequest, ApprovalResult, Decision, DecisionKind
from ..models.run import Phase
from .approval import auto_approval_refusal

POLICY = "approval policy"
"""Who a decision taken by the approval policy (not by a person) is recorded as."""
AUTO_COMMENT = "auto-approve requested at start"


@dataclass(frozen=True)
class StartDecision:
    """What a run decides before it would wait for a person."""

    refused: str | None = None
    """Why auto-approve, asked for at start, is not allowed (None: not asked for, or allowed)."""
    decision: Decision | None = None
    """The decision taken at start; None: the run waits for a person's."""
    approved_ids: list[str] | None = None
    """The actions the decision approves, where it is not the whole plan."""


def decision_at_start(*, started_by: str, auto_approve: bool, policy: ApprovalPolicy, for_agent: bool,
                      plan_ids: Sequence[str], llm_ids: Collection[str], signed: bool, now: datetime) -> StartDecision:
    """Auto-approval is the starter approving their own plan, so the policy must allow it. The
    proactive agent's runs (`for_agent`) never wait on a person for a refused auto-approval: they are
    rejected by the policy. An LLM-proposed action is never auto-approved: it waits for a person's
    decision in a run of its own, so it is left out of what the auto-approval executes."""
    refused = auto_approval_refusal(started_by, policy) if auto_approve else None
    if refused and for_agent:
        return StartDecision(refused, Decision(kind=DecisionKind.REJECTED, by=POLICY, at=now, comment=refused))
    if not auto_approve or refused:
        return StartDecision(refused)
    comment, approved = AUTO_COMMENT, None
    if llm_ids:
        approved = [i for i in plan_ids if i not in llm_ids]
        comment += f"; {len(llm_ids)} LLM-proposed action(s) left for a human decision"
    decision = Decision(kind=DecisionKind.AUTO_APPROVED, by=started_by, at=now, action_ids=approved or [],
                        comment=comment, signed=signed)  # signed: the starter's proof of this start was checked
    return StartDecision(None, decision, approved)


def expired_decision(timeout_seconds: float, now: datetime) -> Decision:
    """Nobody decided before the deadline: nothing is executed."""
    return Decision(kind=DecisionKind.EXPIRED, by="system", at=now, comment=f"no decision within {timeout_seconds / 3600:g} h")


@dataclass(frozen=True)
class AppliedDecision:
    decision: Decision
    approved_ids: list[str] | None
    """The approved actions, in plan order, where the decision approves only some (None otherwise)."""
    result: ApprovalResult


def apply_request(request: ApprovalRequest, *, plan_ids: Sequence[str], pending_ids: AbstractSet[str], total: int,
                  signed: bool, now: datetime) -> AppliedDecision:
    """A person's decision (already validated) applied to the plan: a rejection, an approval of every
    action (no ids, or every pending id), or of some of them."""
    approver = request.approver.strip()
    if not request.approve:
        decision = Decision(kind=DecisionKind.REJECTED, by=approver, at=now, comment=request.comment, signed=signed)
        return AppliedDecision(decision, None, ApprovalResult(decision=decision, approved=0, skipped=total))
    if request.action_ids is None or set(request.action_ids) == pending_ids:
        decision = Decision(kind=DecisionKind.APPROVED, by=approver, at=now, comment=request.comment, signed=signed)
        return AppliedDecision(decision, None, ApprovalResult(decision=decision, approved=total, skipped=0))
    chosen = set(request.action_ids)
    approved = [i for i in plan_ids if i in chosen]
    decision = Decision(kind=DecisionKind.PARTIALLY_APPROVED, by=approver, at=now, action_ids=approved,
                        comment=request.comment, signed=signed)
    return AppliedDecision(decision, approved,
                           ApprovalResult(decision=decision, approved=len(approved), skipped=total - len(approved)))


def ends_run(decision: Decision) -> bool:
    """A rejected or expired plan: nothing is executed, the run reports."""
    return decision.kind in (DecisionKind.REJECTED, DecisionKind.EXPIRED)


def end_phase(decision: Decision) -> Phase | None:
    """The phase a decision ends the run in before execution (None: the approved actions execute)."""
    if not ends_run(decision):
        return None
    return Phase.REJECTED if decision.kind is DecisionKind.REJECTED else Phase.EXPIRED


def counts_as_signed(request: ApprovalRequest, *, proof_required: bool) -> bool:
    """Whether a decision is recorded as signed: it carries a proof, and the worker requires one (so its
    validator checked that proof before the decision was accepted)."""
    return request.proof is not None and proof_required


def to_execute(plan_ids: list[str], approved_ids: list[str] | None) -> list[str]:
    """The actions an approved plan executes: those approved, or (None) every one."""
    return approved_ids if approved_ids is not None else plan_ids


def approval_states(decision: Decision | None, approved_ids: Sequence[str] | None) -> tuple[str, dict[str, str]]:
    """How each action shows in the plan: the state of most of them (pending, approved, not_approved)
    and the ids whose state differs from it."""
    if decision is None:
        return "pending", {}
    if ends_run(decision):
        return "not_approved", {}
    if approved_ids is None:
        return "approved", {}
    return "not_approved", dict.fromkeys(approved_ids, "approved")
