"""The agent as MCP tools (official `mcp` 2.x SDK). Thin: every tool calls client_ops and shapes output.

One Temporal client for the server's lifetime, connected in the background so `tools/list` answers
at once (on a fresh machine the embedded server and worker start meanwhile). Errors are raised as
`ToolError` with one actionable sentence. Nothing here prints: stdout is the protocol stream.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from .config import ConfigError, Settings, load_settings
from .core.report import changes_text
from .models.core import Severity
from .models.mcp import (
    MAX_ITEMS,
    DecisionOut,
    FindingsOut,
    FleetHealthOut,
    PlanActionOut,
    PlanOut,
    ProactiveStarted,
    ReportActionOut,
    ReportOut,
    RunList,
    RunStarted,
    StatusOut,
)
from .models.workflow import (
    MAX_INTERVAL_MINUTES,
    MIN_INTERVAL_MINUTES,
    ApprovalRequest,
    Phase,
    ProactiveStatus,
    RunStatus,
)

if TYPE_CHECKING:
    from temporalio.client import Client

log = logging.getLogger(__name__)


@cache
def ops() -> ModuleType:
    """client_ops, imported on first use: the Temporal client and workflow code take about half a
    second to import, and `tools/list` should not wait for them."""
    from . import client_ops

    return client_ops


@cache
def expected_errors() -> tuple[type[Exception], ...]:
    from .connection import TemporalUnavailable
    from .core.rules import RulesError
    from .embedded import EmbeddedError
    from .store import FleetDataError, StoreBusy

    return (ops().OperationError, TemporalUnavailable, EmbeddedError, ConfigError, FleetDataError, StoreBusy,
            RulesError)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# Starting work is destructive: an auto-approved run or the proactive agent's routine actions change the fleet.
STARTS_WORK = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
STARTS_AGENT = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
"""Idempotent: a second start returns the agent already running, unchanged."""
CHANGES_FLEET = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
CONTROL = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

WorkflowId = Annotated[str, Field(min_length=1, max_length=300, description="The run's workflow id (from "
                                  "initiate_infrastructure_maintenance, list_maintenance_runs or a notification).")]


@dataclass
class AgentContext:
    """Lifespan state: settings and one Temporal client, connected in the background."""

    settings: Settings | None
    settings_error: str | None = None
    connecting: asyncio.Task[Client] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def client(self) -> Client:
        if self.settings is None:
            raise ToolError(self.settings_error or "configuration error")
        async with self._lock:
            failed = self.connecting is not None and self.connecting.done() and (
                self.connecting.cancelled() or self.connecting.exception() is not None)
            if self.connecting is None or failed:  # the last attempt failed: try again now
                self.connecting = asyncio.create_task(_connect(self.settings))
            task = self.connecting
        try:
            return await asyncio.shield(task)
        except expected_errors() as exc:
            raise ToolError(f"Temporal is unreachable: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - anything else while connecting is still "unreachable"
            log.exception("connecting to Temporal failed")
            raise ToolError(f"Temporal is unreachable ({type(exc).__name__}); check TEMPORAL_ADDRESS") from None


WARM_UP_DELAY_SECONDS = 1.0
"""Hosts send initialize and tools/list right after spawning; let those through before the heavy imports."""


async def _connect(settings: Settings, *, delay: float = 0.0) -> Client:
    await asyncio.sleep(delay)
    await asyncio.to_thread(ops)
    from .connection import connect
    from .embedded import ensure_running

    # The start-up takes a blocking file lock and may wait on processes: it runs on its own loop in a
    # thread so the server keeps answering meanwhile. Not the default executor, which the server's loop
    # would wait for on exit; the client used here is then made on this loop.
    _, status = await asyncio.get_running_loop().run_in_executor(
        _EMBEDDED_STARTER, lambda: asyncio.run(ensure_running(settings)))
    if status.server_started or status.worker_started:
        log.info("embedded Temporal ready (server started: %s, worker started: %s)",
                 status.server_started, status.worker_started)
    return await connect(settings)


_EMBEDDED_STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-start")


async def _require_worker(client: Client, settings: Settings) -> None:
    from .embedded import require_worker

    await _call(require_worker(client, settings))


@asynccontextmanager
async def lifespan(_server: MCPServer) -> AsyncIterator[AgentContext]:
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        yield AgentContext(settings=None, settings_error=str(exc))
        return
    context = AgentContext(settings=settings,
                           connecting=asyncio.create_task(_connect(settings, delay=WARM_UP_DELAY_SECONDS)))
    try:
        yield context
    finally:
        if context.connecting and not context.connecting.done():
            context.connecting.cancel()


mcp = MCPServer(
    "infrastructure-maintenance-agent",
    title="Infrastructure maintenance agent",
    version="0.1.0",
    instructions=(
        "Maintain a network/data-centre fleet with a durable DAPER loop (detect, analyze, plan, execute, "
        "report). Start a run with initiate_infrastructure_maintenance, poll get_maintenance_status until "
        "PENDING-APPROVAL, review get_maintenance_plan, then approve_maintenance_actions (all or some ids) or "
        "reject_maintenance_plan, and read get_maintenance_report. Rules decide; never approve high-risk "
        "actions without the user's explicit consent."
    ),
    lifespan=lifespan,
)


def _agent(ctx: Context) -> AgentContext:
    return ctx.request_context.lifespan_context


def _settings(ctx: Context) -> Settings:
    agent = _agent(ctx)
    if agent.settings is None:
        raise ToolError(agent.settings_error or "configuration error")
    return agent.settings


async def _call(coro: Any) -> Any:
    try:
        return await coro
    except expected_errors() as exc:
        raise ToolError(exc.for_mcp() if isinstance(exc, ops().OperationError) else str(exc)) from None


def _rules(settings: Settings) -> Any:
    from .core.rules import load_rules

    return load_rules(settings.rules_file)


def _next_step(status: RunStatus) -> str:
    wid = status.workflow_id
    if status.phase is Phase.PENDING_APPROVAL:
        return (f"Review get_maintenance_plan('{wid}'), then approve_maintenance_actions (all or some ids) or "
                f"reject_maintenance_plan before {status.approval_deadline:%Y-%m-%d %H:%M} UTC.")
    if status.phase.terminal:
        return f"Finished ({status.phase.value}); read get_maintenance_report('{wid}')."
    return f"Still {status.phase.value}; call get_maintenance_status('{wid}') again in a few seconds."


def _approver(settings: Settings, requested: str | None) -> str:
    """USER_NAME of this server: a chat cannot vouch for anyone else (the server holds, and signs
    with, its own user's key only), so another person decides from their own client."""
    if requested is None or requested == settings.user_name:
        return settings.user_name
    raise ToolError(f"approver {requested!r} is not allowed from this server: it decides only as {settings.user_name} "
                    f"(with {settings.user_name}'s key); {requested!r} decides from their own client")


# -------------------------------------------------------------------------------------------------
# runs


@mcp.tool(title="Start a maintenance run", annotations=STARTS_WORK)
async def initiate_infrastructure_maintenance(
    ctx: Context,
    auto_approve: Annotated[bool, Field(description="Approve the whole plan at once (recorded as auto-approved). "
                                                    "Leave false to review the plan first.")] = False,
    dry_run: Annotated[bool, Field(description="Plan and simulate every action without changing the fleet.")] = False,
) -> RunStarted:
    """Start one maintenance run over the fleet (detect, analyze, plan, then approval or execution); returns its id at once."""
    settings = _settings(ctx)
    if auto_approve and (refusal := ops().auto_approve_refusal(settings)):
        raise ToolError(f"{refusal}; start without auto_approve and have someone else approve the plan")
    client = await _agent(ctx).client()
    await _require_worker(client, settings)
    rules = await _call(asyncio.to_thread(_rules, settings))
    workflow_id = await _call(ops().start_run(
        client, settings, auto_approve=auto_approve, dry_run=dry_run, rules=rules))
    status = await _call(ops().get_status(client, workflow_id))
    return RunStarted(workflow_id=workflow_id, phase=status.phase,
                      next_step=f"Poll get_maintenance_status('{workflow_id}') until "
                                + ("it finishes." if auto_approve else "PENDING-APPROVAL, then review the plan."))


@mcp.tool(title="Run status", annotations=READ_ONLY)
async def get_maintenance_status(ctx: Context, workflow_id: WorkflowId) -> StatusOut:
    """Phase, counts, actions awaiting approval and the next step of one maintenance run."""
    client = await _agent(ctx).client()
    s = await _call(ops().get_status(client, workflow_id))
    return StatusOut(**{**s.model_dump(), "pending_actions": s.pending_actions[:MAX_ITEMS]},
                     summary=s.report.summary if s.report else None, next_step=_next_step(s))


@mcp.tool(title="Recent runs", annotations=READ_ONLY)
async def list_maintenance_runs(
    ctx: Context, limit: Annotated[int, Field(ge=1, le=100, description="How many runs, newest first.")] = 10,
) -> RunList:
    """List recent maintenance runs (newest first) with each one's own outcome and counts.

    The outcome is the run's, not Temporal's status: PENDING-APPROVAL, REJECTED, EXPIRED, COMPLETED WITH
    PROBLEMS, … The proactive agent's approval and routine runs are included (kind, cycle, parent)."""
    client = await _agent(ctx).client()
    return RunList(runs=await _call(ops().list_runs(client, limit)))


@mcp.tool(title="Findings of a run", annotations=READ_ONLY)
async def get_maintenance_findings(
    ctx: Context,
    workflow_id: WorkflowId,
    site: Annotated[str | None, Field(max_length=100, description="Only this site, e.g. DC-WEST1.")] = None,
    min_severity: Annotated[Literal["info", "warning", "critical"] | None,
                            Field(description="Only findings at least this severe.")] = None,
) -> FindingsOut:
    """What a run detected: findings with evidence (metric, value, threshold) and confidence, most severe first."""
    client = await _agent(ctx).client()
    view = await _call(ops().get_findings(client, workflow_id, site=site,
                                               min_severity=Severity(min_severity) if min_severity else None))
    shown = view.findings[:MAX_ITEMS]
    note = None
    if view.truncated:
        note = f"only the {len(view.findings)} most severe findings are held by the run; the full list is {view.artifact}"
    elif len(view.findings) > MAX_ITEMS:
        note = f"showing {MAX_ITEMS} of {len(view.findings)}; filter by site or min_severity for the rest"
    if view.artifact and workflow_id not in Path(view.artifact).parts:  # a run planned by a proactive cycle
        note = "; ".join(filter(None, [note, f"these are the findings of the proactive cycle that planned this run "
                                             f"({Path(view.artifact).parent.name}), not only of its actions"]))
    return FindingsOut(workflow_id=workflow_id, total=view.total, shown=len(shown), findings=shown,
                       truncated=view.truncated or len(view.findings) > MAX_ITEMS, note=note)


@mcp.tool(title="Plan of a run", annotations=READ_ONLY)
async def get_maintenance_plan(ctx: Context, workflow_id: WorkflowId) -> PlanOut:
    """The planned actions (id, device, action, risk, confidence, routine, approval state) of a run."""
    client = await _agent(ctx).client()
    view = await _call(ops().get_plan(client, workflow_id))
    status = await _call(ops().get_status(client, workflow_id))
    actions = [PlanActionOut(id=a.id, equipment_id=a.equipment_id, site=a.site, action=a.action.value,
                             risk=a.risk.value, confidence=a.confidence, routine=a.routine, priority=a.priority,
                             reason=a.reason, expected_effect=a.expected_effect, rollback=a.rollback, source=a.source,
                             approval=view.approval.get(a.id, view.default_approval))
               for a in view.actions[:MAX_ITEMS]]
    by_risk: dict[str, int] = {}
    for a in view.actions:
        by_risk[a.risk.value] = by_risk.get(a.risk.value, 0) + 1
    return PlanOut(workflow_id=workflow_id, phase=status.phase, total=view.total, shown=len(actions), actions=actions,
                   by_risk=by_risk, decision=view.decision, truncated=view.total > len(actions),
                   next_step=_next_step(status))


@mcp.tool(title="Approve actions", annotations=CHANGES_FLEET)
async def approve_maintenance_actions(
    ctx: Context,
    workflow_id: WorkflowId,
    action_ids: Annotated[list[Annotated[str, Field(max_length=40)]] | None,
                          Field(max_length=10_000, description="Ids to approve, e.g. ['A1', 'A4']. Omit to "
                                "approve every planned action.")] = None,
    comment: Annotated[str | None, Field(max_length=2000, description="Why (recorded with the decision).")] = None,
    approver: Annotated[str | None, Field(max_length=200, description="Leave empty: the server approves as its own "
                                          "USER_NAME (signed with that user's key); anyone else is refused.")] = None,
) -> DecisionOut:
    """Approve all or some actions of a run waiting in PENDING-APPROVAL; the approved ones are then executed."""
    settings = _settings(ctx)
    client = await _agent(ctx).client()
    result = await _call(ops().decide(client, workflow_id, ApprovalRequest(
        approve=True, action_ids=action_ids, approver=_approver(settings, approver), comment=comment),
        signed_by=await _call(asyncio.to_thread(ops().signer, settings))))
    return DecisionOut(workflow_id=workflow_id, decision=result.decision, approved=result.approved,
                       not_approved=result.skipped,
                       next_step=f"Executing; poll get_maintenance_status('{workflow_id}') and then read the report.")


@mcp.tool(title="Reject a plan", annotations=CONTROL)
async def reject_maintenance_plan(
    ctx: Context,
    workflow_id: WorkflowId,
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why the plan is rejected (recorded).")],
    approver: Annotated[str | None, Field(max_length=200, description="Leave empty: the server rejects as its own "
                                          "USER_NAME (signed with that user's key); anyone else is refused.")] = None,
) -> DecisionOut:
    """Reject the whole plan of a run waiting in PENDING-APPROVAL; nothing is executed."""
    settings = _settings(ctx)
    client = await _agent(ctx).client()
    result = await _call(ops().decide(client, workflow_id, ApprovalRequest(
        approve=False, approver=_approver(settings, approver), comment=reason),
        signed_by=await _call(asyncio.to_thread(ops().signer, settings))))
    return DecisionOut(workflow_id=workflow_id, decision=result.decision, approved=0, not_approved=result.skipped,
                       next_step=f"Rejected; the run ends REJECTED. Its report: get_maintenance_report('{workflow_id}').")


@mcp.tool(title="Run report", annotations=READ_ONLY)
async def get_maintenance_report(ctx: Context, workflow_id: WorkflowId) -> ReportOut:
    """The finished run's report: summary line, decision, outcome of every action, recommendations."""
    client = await _agent(ctx).client()
    report = await _call(ops().get_report(client, workflow_id))
    status = await _call(ops().get_status(client, workflow_id))
    assert status.report is not None
    actions = [ReportActionOut(id=a.id, equipment_id=a.equipment_id, action=a.action, risk=a.risk.value,
                               outcome=a.outcome.value, detail=a.detail, observed=a.observed,
                               changes=changes_text(a.changes)) for a in report.actions[:MAX_ITEMS]]
    return ReportOut(workflow_id=workflow_id, outcome=report.outcome, verdict=report.verdict, executor=report.executor,
                     summary=report.summary,
                     analysis_time=report.analysis_time, decision=report.decision, outcomes=report.outcomes,
                     findings=len(report.findings), actions=actions, actions_shown=len(actions),
                     recommendations=report.recommendations, advisor=report.advisor,
                     markdown_path=status.report.markdown, json_path=status.report.json_path,
                     html_path=status.report.html,
                     resource_uri=f"maintenance://runs/{workflow_id}/report")


# -------------------------------------------------------------------------------------------------
# the proactive agent


@mcp.tool(title="Start the proactive agent", annotations=STARTS_AGENT)
async def initiate_proactive_maintenance(
    ctx: Context,
    interval_minutes: Annotated[float, Field(ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES,
                                             description="Minutes between cycles (one second to one week).")] = 15,
    auto_execute_routine: Annotated[bool, Field(description="Run routine actions (confidence >= 0.95, low risk) "
                                                            "without approval; everything else waits.")] = True,
    callback_url: Annotated[str | None, Field(max_length=2000, pattern=r"^https?://",
                                              description="Webhook for notifications (Slack-compatible).")] = None,
) -> ProactiveStarted:
    """Start (or return the already running) always-on agent that checks the fleet every interval."""
    settings = _settings(ctx)
    client = await _agent(ctx).client()
    await _require_worker(client, settings)
    rules = await _call(asyncio.to_thread(_rules, settings))
    workflow_id, already = await _call(ops().start_proactive(
        client, settings, interval_minutes=interval_minutes, auto_execute_routine=auto_execute_routine,
        callback_url=callback_url, rules=rules))
    status = await _call(ops().proactive_status(client, settings.user_name))
    hint = ("Already running with its own settings; stop it first to change them." if already else
            "Running: the first cycle starts now. Non-routine actions appear as runs awaiting approval.")
    return ProactiveStarted(workflow_id=workflow_id, already_running=already, status=status, next_step=hint)


@mcp.tool(title="Stop the proactive agent", annotations=CONTROL)
async def stop_proactive_maintenance(ctx: Context) -> ProactiveStatus:
    """Stop the proactive agent after its current cycle (open approval runs keep waiting)."""
    client = await _agent(ctx).client()
    return await _call(ops().stop_proactive(client, _settings(ctx).user_name))


@mcp.tool(title="Run a proactive cycle now", annotations=STARTS_WORK)
async def trigger_proactive_cycle(ctx: Context) -> ProactiveStatus:
    """Make the proactive agent run a cycle now instead of waiting for its interval."""
    settings = _settings(ctx)
    client = await _agent(ctx).client()
    await _require_worker(client, settings)
    return await _call(ops().trigger_proactive(client, settings.user_name))


# -------------------------------------------------------------------------------------------------
# fleet health, resource, prompt


@mcp.tool(title="Fleet health", annotations=READ_ONLY)
async def get_fleet_health(
    ctx: Context,
    site: Annotated[str | None, Field(max_length=100, description="Only this site, e.g. DC-WEST1.")] = None,
) -> FleetHealthOut:
    """Current health (happy/stressed/critical) per site and device, read straight from the data; starts no run."""
    settings = _settings(ctx)
    return await _call(asyncio.to_thread(ops().fleet_health, settings, site))


@mcp.resource("maintenance://runs/{workflow_id}/report", mime_type="text/markdown",
              title="Maintenance report", description="The Markdown report of a finished maintenance run.")
async def run_report(workflow_id: str, ctx: Context) -> str:
    try:
        client = await _agent(ctx).client()
        return await _call(ops().get_report_markdown(client, workflow_id))
    except ToolError as exc:
        raise ResourceError(str(exc)) from None


@mcp.prompt(title="Weekly maintenance review")
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


class BearerTokenMiddleware:
    """Refuse every HTTP request that does not carry `Authorization: Bearer <MCP_HTTP_TOKEN>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credentials = given.strip().partition(b" ")
            # The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self._expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body",
                            "body": b'{"error": "missing or wrong bearer token (MCP_HTTP_TOKEN)"}'})
                return
        await self.app(scope, receive, send)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServeError(Exception):
    pass


def http_app(host: str, token: str | None) -> Any:
    """The streamable-HTTP app (path /mcp), behind the bearer-token check when a token is set."""
    if host not in LOOPBACK and not token:
        raise ServeError(f"refusing to serve fleet-changing tools on {host} without MCP_HTTP_TOKEN; "
                         f"set it (clients then send 'Authorization: Bearer <token>') or bind 127.0.0.1")
    app = mcp.streamable_http_app(host=host)
    return BearerTokenMiddleware(app, token) if token else app


def serve(transport: str, *, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Run the server until the client disconnects (stdio) or it is interrupted (HTTP)."""
    try:
        if transport == "stdio":
            mcp.run()
            return 0
        import uvicorn

        settings = load_settings()
        token = settings.mcp_http_token.get_secret_value() if settings.mcp_http_token else None
        app = http_app(host, token)
        log.warning("serving MCP over streamable HTTP on http://%s:%d/mcp (%s)", host, port,
                    "bearer token required" if token else "no token: loopback only")
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    except (ConfigError, ServeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
