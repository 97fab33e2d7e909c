"""Before a workflow acts for anyone: safe names, the approval policy it enforces (the worker's,
tightened by the client's) and, where that policy requires it, proof of who started it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from .policies import STABLE_DIGEST_PATCH, STEP_RETRY, WORKER_POLICY_PATCH
from .steps import run_step

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.approval import effective_policy, requested_policy, start_proof_refusal
    from ..core.run_text import PROOF_USED, not_an_agent_parent, not_proven, unsafe_names_refusal
    from ..models.approval import ApprovalPolicy, ParentCheckInput, UseProofInput
    from ..models.proactive import ProactiveInput
    from ..models.run import MaintenanceInput


async def worker_policy(inp: MaintenanceInput | ProactiveInput) -> ApprovalPolicy:
    """The approval policy to enforce: the worker's settings, tightened by what the client asked for."""
    requested = requested_policy(inp)
    if not workflow.patched(WORKER_POLICY_PATCH):
        return requested
    worker = await workflow.execute_activity_method(
        MaintenanceActivities.approval_policy, start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STEP_RETRY, summary="approval policy of the worker (APPROVERS, four-eyes)")
    return effective_policy(requested, worker)


def refuse_unsafe_names(workflow_id: str, started_by: str) -> None:
    """Fail the run before it does anything if its id or starter could not safely name a folder or a
    person (a raw client can start a workflow with any id and any input)."""
    if refusal := unsafe_names_refusal(workflow_id, started_by):
        raise ApplicationError(refusal, type="UnsafeName", non_retryable=True)


class NotProven(Exception):
    """Who started the run could not be proven where the worker requires proof."""


async def prove_starter(inp: MaintenanceInput | ProactiveInput, workflow_id: str, policy: ApprovalPolicy,
                        purpose: str) -> None:
    """Raise `NotProven` unless the starter signed this very start, once (a proof copied from history
    is refused by the worker's store of used proofs), or a proactive agent whose own start they signed
    started the run (the server, not the client, says who the parent is)."""
    info = workflow.info()
    if inp.start_proof is None and info.parent is not None and isinstance(inp, MaintenanceInput):
        verified = await run_step(MaintenanceActivities.verify_parent_agent,
                                  ParentCheckInput(workflow_id=info.parent.workflow_id, run_id=info.parent.run_id,
                                                   started_by=inp.started_by),
                                  "is the parent a proactive agent its starter signed for?")
        if not verified:
            raise NotProven(not_proven(inp.started_by, not_an_agent_parent(info.parent.workflow_id)))
        return
    problem = start_proof_refusal(inp, workflow_id, purpose, policy.keys, info.workflow_start_time,
                                  stable=workflow.patched(STABLE_DIGEST_PATCH))
    if problem is None and inp.start_proof is not None:
        first_use = await run_step(MaintenanceActivities.use_proof,
                                   UseProofInput(nonce=inp.start_proof.nonce, signed_at=inp.start_proof.signed_at,
                                                 used_by=f"{workflow_id}@{info.first_execution_run_id}"),
                                   "is this signed start used for the first time?")
        problem = None if first_use else PROOF_USED
    if problem:
        raise NotProven(not_proven(inp.started_by, problem, agent=isinstance(inp, ProactiveInput)))
