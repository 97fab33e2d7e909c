"""The approval rules, in one place: which policy a run enforces, who may approve (or auto-approve)
what and when, whether a signed start or decision is genuine, and whether a site child may execute a
batch for its run. Pure; the workflows, activities, worker and clients call these."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from ..models.approval import ApprovalPolicy, ApprovalRequest, Decision, DecisionKind, GrantRequest
from ..models.proactive import ProactiveInput, ProactiveStatus
from ..models.run import MaintenanceInput, Phase
from . import identity
from .ids import MAX_USER_CHARS, unsafe_user

MAX_IDS_PER_DECISION = 10_000
MAX_COMMENT_CHARS = 2_000
MAX_APPROVER_CHARS = MAX_USER_CHARS


class ApprovalRejected(ValueError):
    """The decision cannot be accepted; the message says why in one sentence."""


# ------------------------------------------------------------------------------------------------
# the policy


def requested_policy(inp: MaintenanceInput | ProactiveInput) -> ApprovalPolicy:
    """The approval policy the client that started the workflow asked for."""
    return ApprovalPolicy(approvers=inp.approvers, require_distinct_approver=inp.require_distinct_approver)


def policy_with_keys(policy: ApprovalPolicy, keys: Mapping[str, str]) -> ApprovalPolicy:
    """A worker's policy with its public keys. Proof is required wherever a name decides something
    (APPROVERS or the four-eyes rule)."""
    return policy.model_copy(update={
        "keys": dict(keys), "require_proof": bool(policy.approvers) or policy.require_distinct_approver})


def proof_impossible(policy: ApprovalPolicy) -> bool:
    """Whether the policy asks for proofs that nobody could give (no public key to check them): a
    worker refuses to start so."""
    return policy.require_proof and not policy.keys


def effective_policy(requested: ApprovalPolicy, worker: ApprovalPolicy) -> ApprovalPolicy:
    """The policy a run enforces. The worker's settings are authoritative: a client that starts a run
    can add restrictions but never lift the worker's. `APPROVERS` set on the worker wins over the
    client's list; the four-eyes rule holds if either side asks for it."""
    approvers = list(worker.approvers or requested.approvers)
    four_eyes = worker.require_distinct_approver or requested.require_distinct_approver
    # Keys are only ever the worker's: a client cannot bring the public key its own signature checks against.
    return ApprovalPolicy(approvers=approvers, require_distinct_approver=four_eyes, keys=dict(worker.keys),
                          require_proof=worker.require_proof or bool(approvers) or four_eyes)


# ------------------------------------------------------------------------------------------------
# who may decide what, when


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


def foreign_approver_refusal(own_user: str, requested: str | None) -> str | None:
    """Why a server that holds (and signs with) only its own user's key may not decide as `requested`:
    a chat cannot vouch for anyone else, so another person decides from their own client."""
    if requested is None or requested == own_user:
        return None
    return (f"approver {requested!r} is not allowed from this server: it decides only as {own_user} "
            f"(with {own_user}'s key); {requested!r} decides from their own client")


# ------------------------------------------------------------------------------------------------
# proofs: is a signed start or decision genuine, now?


def start_proof_refusal(inp: MaintenanceInput | ProactiveInput, workflow_id: str, purpose: str,
                        keys: Mapping[str, str], now: datetime, *, stable: bool = True) -> str | None:
    """Why the start's proof does not show that its starter signed this very start (workflow id and
    input) within the window around `now`, or None. Whether it was used before is the store's to say."""
    fields = identity.start_fields(workflow_id, inp, stable=stable)
    return identity.refusal(inp.started_by, purpose, fields, inp.start_proof, keys, now=now)


def decision_proof_refusal(request: ApprovalRequest, workflow_id: str, run_id: str, keys: Mapping[str, str],
                           now: datetime, used_nonces: set[str] | frozenset[str]) -> str | None:
    """Why the decision's proof does not show that its approver signed exactly this decision for this
    run, now and for the first time (a forged, copied, replayed or late decision), or None."""
    approver = request.approver.strip()
    fields = identity.decision_fields(workflow_id, run_id, approver, request.approve, request.action_ids,
                                      request.comment)
    return identity.refusal(approver, identity.DECIDE, fields, request.proof, keys, now=now, used_nonces=used_nonces)


def agent_acts_for(agent: ProactiveStatus, started_by: str) -> bool:
    """Whether a proactive agent may start runs for `started_by`: they started it, with a signed start
    that its first run verified (a run an agent starts carries no signature of its own)."""
    return agent.starter_verified and agent.started_by == started_by


# ------------------------------------------------------------------------------------------------
# execution: may a site child execute this batch for its run?

EXECUTABLE = (DecisionKind.APPROVED, DecisionKind.PARTIALLY_APPROVED, DecisionKind.AUTO_APPROVED)


def grant_refusal(request: GrantRequest, *, phase: Phase, decision: Decision | None, run_id: str, artifact_dir: str,
                  dry_run: bool, approved_ids: Collection[str]) -> str | None:
    """Why a run does not authorize a site child to execute `request` now, or None if it does: the
    run must be executing an approved plan, the batch must be this run's and hold approved ids only."""
    if phase is not Phase.EXECUTING:
        return f"the run is {phase.value}, not executing"
    if decision is None or decision.kind not in EXECUTABLE:
        return "the run has no approved plan"
    if (request.run_id, request.artifact_dir, request.approved_by, request.dry_run) != (
            run_id, artifact_dir, decision.by, dry_run):
        return "the batch is not this run's (ledger, plan, approver or dry run differ)"
    extra = [i for i in request.action_ids if i not in approved_ids]
    return f"action(s) {', '.join(extra[:5])} were not approved" if extra else None


def _show(ids: Sequence[str]) -> str:
    """At most five ids, each quoted and cut to 40 characters (an id may hold anything a client sent)."""
    return ", ".join(repr(i[:40]) for i in ids[:5]) + (" …" if len(ids) > 5 else "")
