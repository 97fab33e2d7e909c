"""Activities that ask the Temporal server (through the worker's client): whether a parent run is
ours and vouches for its child, which approval runs are still open, which search attributes a run
may set. Without a client (a test's bare activities) they answer as if nothing is there."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from ..core.approval import agent_acts_for
from ..core.listing import missing_attributes, settable_attributes
from ..models.approval import GrantCheckInput, ParentCheckInput
from ..models.proactive import OpenApproval, OpenChildrenInput, ProactiveStatus, StillOpenInput
from .base import ActivityBase

log = logging.getLogger(__name__)
ATTRIBUTES_RECHECK_SECONDS = 60.0
"""How long a worker trusts its last look at the namespace's search attributes (one look per run otherwise)."""


class TemporalActivities(ActivityBase):
    @activity.defn
    async def verify_parent_agent(self, inp: ParentCheckInput) -> bool:
        """Whether this parent is a proactive agent that acts for `started_by` because they signed its
        start (a run an agent started carries no signature of its own)."""
        # The agent may have stopped since it started this run: a closed agent still answers its query.
        handle = await self._ours(inp.workflow_id, inp.run_id, "ProactiveMaintenanceWorkflow", running=False)
        if handle is None:
            return False
        status = await handle.query("status", result_type=ProactiveStatus)
        return agent_acts_for(status, inp.started_by)

    @activity.defn
    async def check_site_grant(self, inp: GrantCheckInput) -> str | None:
        """Why the parent does not authorize this site batch, or None: the parent must be a maintenance
        run on this task queue (so its answer comes from our code) that is executing exactly this."""
        handle = await self._ours(inp.parent_workflow_id, inp.parent_run_id, "InfrastructureMaintenanceWorkflow")
        if handle is None:
            return f"{inp.parent_workflow_id} is not a running maintenance run of this task queue"
        answer = await handle.query("grant", inp.request)
        return None if answer is None else str(answer)

    async def _ours(self, workflow_id: str, run_id: str, workflow_type: str, *,
                    running: bool = True) -> WorkflowHandle[Any, Any] | None:
        """A handle on this workflow if it is of `workflow_type`, on this worker's task queue (a workflow
        of the same name on another queue runs someone else's code) and, if asked, running; else None."""
        if self._client is None:
            return None
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        ours = (desc.workflow_type == workflow_type and desc.task_queue == activity.info().task_queue
                and (desc.status == WorkflowExecutionStatus.RUNNING or not running))
        return handle if ours else None

    @activity.defn
    async def still_open(self, inp: StillOpenInput) -> list[str]:
        """Which of these approval runs are still running. A run that was terminated or cancelled never
        tells the agent it finished; without this its actions would never be proposed again."""
        if self._client is None:
            return list(inp.workflow_ids)
        running = []
        deadline = time.monotonic() + inp.settle_seconds
        for workflow_id in inp.workflow_ids:
            while await self._running(workflow_id):
                # A run that said it finished closes right after its signal; one that keeps running
                # past the deadline sent a forged (or early) signal and stays open.
                if workflow_id not in inp.said_finished or time.monotonic() >= deadline:
                    running.append(workflow_id)
                    break
                activity.heartbeat(workflow_id)
                await asyncio.sleep(0.2)
        return running

    async def _running(self, workflow_id: str) -> bool:
        assert self._client is not None
        try:
            desc = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # gone (retention): certainly not open
                return False
            raise
        return desc.status == WorkflowExecutionStatus.RUNNING

    @activity.defn
    async def list_open_approvals(self, inp: OpenChildrenInput) -> list[OpenApproval]:
        """Approval runs a previous incarnation of the proactive agent left open (so they are not
        proposed again)."""
        if self._client is None:
            return []
        found = []
        query = f"WorkflowId STARTS_WITH '{inp.prefix}' AND ExecutionStatus = 'Running'"
        try:
            async for wf in self._client.list_workflows(query, limit=1000):
                memo = await wf.memo()
                if memo.get("kind") == "approval" and "artifact_dir" in memo:
                    found.append(OpenApproval(workflow_id=wf.id, cycle=int(memo.get("cycle", 0)),
                                              artifact_dir=str(memo["artifact_dir"]),
                                              actions=int(memo.get("actions", 0)), started_at=wf.start_time,
                                              includes_routine=bool(memo.get("includes_routine", True))))
        except RPCError as exc:  # e.g. a server without advanced visibility: carry on without
            log.warning("could not list open approval runs (%s); earlier proposals may be repeated", exc.message)
        return found

    @activity.defn
    async def listing_attributes(self) -> list[str]:
        """The search attributes a run may set: none unless this namespace has all of the listing's
        (MaintenanceOutcome, …) with their types, since upserting an unregistered attribute fails the
        run's workflow task; never MaintenanceSites where payloads are encrypted (search attributes
        cannot be, and site names are fleet data). Asked once a minute at most; a server that refuses
        to say counts as "not registered"."""
        if self._client is None:
            return []
        now = time.monotonic()
        if self._attributes_checked is None or now - self._attributes_checked[0] >= ATTRIBUTES_RECHECK_SECONDS:
            try:
                response = await self._client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self._client.namespace))
            except RPCError as exc:
                log.warning("could not list the namespace's search attributes (%s); runs are listed from their "
                            "memo and are not filterable by MaintenanceOutcome", exc.message)
                missing = ["(unknown)"]
            else:
                missing = missing_attributes(dict(response.custom_attributes))
                if missing:
                    log.warning("search attribute(s) %s are not registered in namespace %s: runs are not filterable "
                                "by them until they are (see the README: `temporal operator search-attribute create`)",
                                ", ".join(missing), self._client.namespace)
            self._attributes_checked = (now, not missing)
        if not self._attributes_checked[1]:
            return []
        return settable_attributes(encrypted=self._client.data_converter.payload_codec is not None)
