"""Bringing the embedded default up (server, namespace, worker, under one lock) and down again."""

from __future__ import annotations

import contextlib

from filelock import FileLock
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ..config import EmbeddedMode, Settings
from ..connection import TemporalUnavailable, connect
from .processes import EmbeddedStatus, read_json, terminate
from .server_process import SERVER_PID, SERVER_START_TIMEOUT, ensure_server
from .worker_process import ensure_worker, worker_records


async def ensure_running(settings: Settings, *, need_worker: bool = True) -> tuple[Client, EmbeddedStatus]:
    """Connect to Temporal, first starting the embedded server and worker where allowed.

    Raises `TemporalUnavailable` (with how to fix it) when nothing can be reached.
    """
    embedded = settings.embedded is EmbeddedMode.AUTO and settings.is_local_address
    server_started = False
    if embedded:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # One script at a time decides what to start: two racing scripts must not start two servers.
        with FileLock(settings.state_dir / "embedded.lock", timeout=SERVER_START_TIMEOUT * 2):
            server_started = await ensure_server(settings)
            client = await connect(settings)
            await require_namespace(client, settings)
            status = await ensure_worker(client, settings) if need_worker else EmbeddedStatus()
        return client, EmbeddedStatus(server_started, status.worker_started, status.worker_replaced,
                                      status.external_worker)
    try:
        client = await connect(settings)
    except TemporalUnavailable as exc:
        if settings.is_local_address and settings.embedded is EmbeddedMode.NEVER:
            raise TemporalUnavailable(f"{exc} EMBEDDED_TEMPORAL=never, so nothing was started for you.") from None
        raise
    return client, EmbeddedStatus()


async def require_namespace(client: Client, settings: Settings) -> None:
    """Refuse a namespace the server does not have: one line, before anything is started for it."""
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=settings.temporal_namespace))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise TemporalUnavailable(
                f"namespace {settings.temporal_namespace!r} does not exist on {settings.temporal_address}; check "
                f"TEMPORAL_NAMESPACE (the embedded server has 'default' and the one it was first started with)") from None
        raise


def stop(settings: Settings) -> list[str]:
    """Stop the background workers, then the dev server, by their recorded PIDs."""
    stopped = []
    for path in worker_records(settings.state_dir):
        record = read_json(path)
        if record and terminate(int(record.get("pid", 0)), "maintenance_agent.worker"):
            stopped.append(f"worker (pid {record['pid']}, queue {record.get('task_queue')})")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    record = read_json(settings.state_dir / SERVER_PID)
    if record and terminate(int(record.get("pid", 0)), "start-dev"):
        stopped.append(f"Temporal dev server (pid {record['pid']})")
    with contextlib.suppress(FileNotFoundError):
        (settings.state_dir / SERVER_PID).unlink()
    return stopped

