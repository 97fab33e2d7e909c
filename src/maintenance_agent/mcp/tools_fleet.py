"""The proactive agent's tools, fleet health, the report resource and the review prompt."""

from __future__ import annotations

import asyncio
from typing import Annotated

from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from ..models.mcp import FleetHealthOut, ProactiveStarted
from ..models.proactive import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES, ProactiveStatus
from .context import AgentCtx, call, client_of, ops, require_worker, rules_of, settings_of
from .registry import CONTROL, READ_ONLY, STARTS_AGENT, STARTS_WORK, Registry

tools = Registry()


@tools.tool(title="Start the proactive agent", annotations=STARTS_AGENT)
async def initiate_proactive_maintenance(
    ctx: AgentCtx,
    interval_minutes: Annotated[float, Field(ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES,
                                             description="Minutes between cycles (one second to one week).")] = 15,
    auto_execute_routine: Annotated[bool, Field(description="Run routine actions (confidence >= 0.95, low risk) "
                                                            "without approval; everything else waits.")] = True,
    callback_url: Annotated[str | None, Field(max_length=2000, pattern=r"^https?://",
                                              description="Webhook for notifications (Slack-compatible).")] = None,
) -> ProactiveStarted:
    """Start (or return the already running) always-on agent that checks the fleet every interval."""
    settings = settings_of(ctx)
    client = await client_of(ctx)
    await require_worker(client, settings)
    rules = await rules_of(settings)
    workflow_id, already = await call(ops().start_proactive(
        client, settings, interval_minutes=interval_minutes, auto_execute_routine=auto_execute_routine,
        callback_url=callback_url, rules=rules))
    status = await call(ops().proactive_status(client, settings.user_name))
    hint = ("Already running with its own settings; stop it first to change them." if already else
            "Running: the first cycle starts now. Non-routine actions appear as runs awaiting approval.")
    return ProactiveStarted(workflow_id=workflow_id, already_running=already, status=status, next_step=hint)


@tools.tool(title="Stop the proactive agent", annotations=CONTROL)
async def stop_proactive_maintenance(ctx: AgentCtx) -> ProactiveStatus:
    """Stop the proactive agent after its current cycle (open approval runs keep waiting)."""
    client = await client_of(ctx)
    return await call(ops().stop_proactive(client, settings_of(ctx).user_name))


@tools.tool(title="Run a proactive cycle now", annotations=STARTS_WORK)
async def trigger_proactive_cycle(ctx: AgentCtx) -> ProactiveStatus:
    """Make the proactive agent run a cycle now instead of waiting for its interval."""
    settings = settings_of(ctx)
    client = await client_of(ctx)
    await require_worker(client, settings)
    return await call(ops().trigger_proactive(client, settings.user_name))


@tools.tool(title="Fleet health", annotations=READ_ONLY)
async def get_fleet_health(
    ctx: AgentCtx,
    site: Annotated[str | None, Field(max_length=100, description="Only this site, e.g. DC-WEST1.")] = None,
) -> FleetHealthOut:
    """Current health (happy/stressed/critical) per site and device, read straight from the data; starts no run."""
    return await call(asyncio.to_thread(ops().fleet_health, settings_of(ctx), site))


@tools.resource("maintenance://runs/{workflow_id}/report", mime_type="text/markdown",
                title="Maintenance report", description="The Markdown report of a finished maintenance run.")
async def run_report(workflow_id: str, ctx: AgentCtx) -> str:
    try:
        client = await client_of(ctx)
        return await call(ops().get_report_markdown(client, workflow_id))
    except ToolError as exc:
        raise ResourceError(str(exc)) from None


@tools.prompt(title="Weekly maintenance review")
def weekly_maintenance_review(site: str | None = None) -> str:
    """Review the fleet and walk through a maintenance run with the operator."""
    scope = f"site {site}" if site else "the whole fleet"
    return (
        f"Run a weekly maintenance review of {scope}. 1) Call get_fleet_health{f'(site={site!r})' if site else ''} "
        "and summarize sites that are critical or stressed. 2) Start initiate_infrastructure_maintenance "
        "(auto_approve=false) and poll get_maintenance_status until PENDING-APPROVAL. 3) Present "
        "get_maintenance_plan grouped by risk; recommend approving routine and low-risk actions and explain "
        "every medium/high-risk one. 4) Approve only what I confirm (approve_maintenance_actions with ids), "
        "reject otherwise. 5) When it finishes, summarize get_maintenance_report, including anything that "
        "failed, rolled back or was stale."
    )
