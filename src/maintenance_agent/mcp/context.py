"""The server's lifespan state: settings and one Temporal client, connected in the background so
`tools/list` answers at once (on a fresh machine the embedded server and worker start meanwhile);
and what every tool shares: reaching that state and turning expected errors into `ToolError`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..config import ConfigError, Settings, load_settings
from ..core.approval import foreign_approver_refusal
from .hints import hinted

if TYPE_CHECKING:
    from temporalio.client import Client

    from ..models.rules import Rules

log = logging.getLogger(__name__)

WARM_UP_DELAY_SECONDS = 1.0
"""Hosts send initialize and tools/list right after spawning; let those through before the heavy imports."""


@cache
def ops() -> ModuleType:
    """client_ops, imported on first use: the Temporal client and workflow code take about half a
    second to import, and `tools/list` should not wait for them."""
    from .. import client_ops

    return client_ops


@cache
def expected_errors() -> tuple[type[Exception], ...]:
    from ..config.rules import RulesError
    from ..connection import TemporalUnavailable
    from ..embedded import EmbeddedError
    from ..store import FleetDataError, StoreBusy

    return (ops().OperationError, TemporalUnavailable, EmbeddedError, ConfigError, FleetDataError, StoreBusy,
            RulesError)


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
                self.connecting = asyncio.create_task(connect_client(self.settings))
            task = self.connecting
        try:
            return await asyncio.shield(task)
        except expected_errors() as exc:
            raise ToolError(f"Temporal is unreachable: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - anything else while connecting is still "unreachable"
            log.exception("connecting to Temporal failed")
            raise ToolError(f"Temporal is unreachable ({type(exc).__name__}); check TEMPORAL_ADDRESS") from None


AgentCtx: TypeAlias = Context[AgentContext, Any]
"""What a tool receives: `ctx.request_context.lifespan_context` is the `AgentContext`."""

_EMBEDDED_STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-start")


async def connect_client(settings: Settings, *, delay: float = 0.0) -> Client:
    """Connect, first bringing up the embedded server and worker where the settings allow."""
    await asyncio.sleep(delay)
    await asyncio.to_thread(ops)
    from ..connection import connect
    from ..embedded import ensure_running

    # The start-up takes a blocking file lock and may wait on processes: it runs on its own loop in a
    # thread so the server keeps answering meanwhile. Not the default executor, which the server's loop
    # would wait for on exit; the client used here is then made on this loop.
    _, status = await asyncio.get_running_loop().run_in_executor(
        _EMBEDDED_STARTER, lambda: asyncio.run(ensure_running(settings)))
    if status.server_started or status.worker_started:
        log.info("embedded Temporal ready (server started: %s, worker started: %s)",
                 status.server_started, status.worker_started)
    return await connect(settings)


@asynccontextmanager
async def lifespan(_server: MCPServer[AgentContext]) -> AsyncIterator[AgentContext]:
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        yield AgentContext(settings=None, settings_error=str(exc))
        return
    context = AgentContext(settings=settings,
                           connecting=asyncio.create_task(connect_client(settings, delay=WARM_UP_DELAY_SECONDS)))
    try:
        yield context
    finally:
        if context.connecting and not context.connecting.done():
            context.connecting.cancel()


def agent(ctx: AgentCtx) -> AgentContext:
    return ctx.request_context.lifespan_context


def settings_of(ctx: AgentCtx) -> Settings:
    state = agent(ctx)
    if state.settings is None:
        raise ToolError(state.settings_error or "configuration error")
    return state.settings


async def client_of(ctx: AgentCtx) -> Client:
    return await agent(ctx).client()


async def call(coro: Awaitable[Any]) -> Any:
    """Await an operation; an expected error becomes a `ToolError` (one sentence and, for an
    operation error, the next step as MCP tools)."""
    try:
        return await coro
    except expected_errors() as exc:
        raise ToolError(hinted(exc) if isinstance(exc, ops().OperationError) else str(exc)) from None


async def require_worker(client: Client, settings: Settings) -> None:
    from ..embedded import require_worker as refuse_without_worker

    await call(refuse_without_worker(client, settings))


def _load_rules(settings: Settings) -> Rules:
    from ..config.rules import load_rules

    return load_rules(settings.rules_file)


async def rules_of(settings: Settings) -> Rules:
    return await call(asyncio.to_thread(_load_rules, settings))


def deciding_user(settings: Settings, requested: str | None) -> str:
    """USER_NAME of this server: a chat cannot vouch for anyone else (the server holds, and signs
    with, its own user's key only), so another person decides from their own client."""
    if (refusal := foreign_approver_refusal(settings.user_name, requested)) is not None:
        raise ToolError(refusal)
    return settings.user_name
