"""The local Temporal dev server: its command line (with the agent's search attributes), start-up
until it answers, its record in the state folder, and starting it only where embedded mode allows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import RPCError

from ..config import EmbeddedMode, Settings
from ..connection import TemporalUnavailable, connect
from ..core.listing import attribute_spec
from ..models.listing import SEARCH_ATTRIBUTES
from .processes import (
    EmbeddedError,
    check_alive,
    port_open,
    process_alive,
    read_json,
    say,
    spawn_detached,
    temporal_cli,
    terminate,
)

SERVER_PID = "server.pid"
SERVER_START_TIMEOUT = 30.0


def server_command(settings: Settings) -> list[str]:
    cmd = [
        temporal_cli(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.ui_port),
        "--db-filename", str(settings.state_dir / "temporal.db"),
        # Default SQLite settings are bound by disk syncs; WAL + normal sync doubles throughput.
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ui-disable-news-fetch",
        "--log-level", "warn",
    ]
    for key in SEARCH_ATTRIBUTES:  # registered at every start, so a state folder made by an older version gets them too
        cmd += ["--search-attribute", attribute_spec(key)]
    if settings.temporal_namespace != "default":
        cmd += ["--namespace", settings.temporal_namespace]
    return cmd


async def start_server(settings: Settings) -> int:
    """Start the dev server detached; wait until it answers. Returns its PID. It is recorded at once
    (so `status` and `stop` know it even if this script is interrupted meanwhile); one that fails to
    start is stopped and forgotten again."""
    log_path = settings.state_dir / "server.log"
    with contextlib.suppress(FileNotFoundError):  # this server's log only: an error quotes no other
        log_path.replace(log_path.with_suffix(".log.1"))
    proc = spawn_detached(server_command(settings), log_path)
    record = settings.state_dir / SERVER_PID
    record.write_text(json.dumps({"pid": proc.pid, "address": settings.temporal_address}))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            check_alive(proc, "the local Temporal dev server", log_path)
            if port_open("127.0.0.1", settings.temporal_port):
                with contextlib.suppress(TemporalUnavailable, RPCError):
                    client = await connect(settings, timeout_seconds=2)
                    await client.workflow_service.get_system_info(GetSystemInfoRequest())
                    return proc.pid
            await asyncio.sleep(0.1)
        raise EmbeddedError(
            f"the local Temporal dev server did not become ready within {SERVER_START_TIMEOUT:.0f} s; "
            f"see {log_path}")
    except BaseException:
        terminate(proc.pid, "start-dev")
        with contextlib.suppress(FileNotFoundError):
            record.unlink()
        raise


def running_server(settings: Settings) -> dict | None:
    """The dev server this state folder already runs (its record), if its process is alive."""
    record = read_json(settings.state_dir / SERVER_PID)
    if record and process_alive(int(record.get("pid", 0)), "start-dev"):
        return record
    return None


async def ensure_server(settings: Settings) -> bool:
    """Start the local dev server if embedded mode allows and nothing answers. True if started."""
    if port_open("127.0.0.1" if settings.temporal_host == "localhost" else settings.temporal_host,
                 settings.temporal_port):
        return False
    if settings.embedded is EmbeddedMode.NEVER or not settings.is_local_address:
        return False
    if (other := running_server(settings)) is not None:
        raise EmbeddedError(
            f"TEMPORAL_STATE_DIR {settings.state_dir} already serves Temporal at {other.get('address')} "
            f"(pid {other['pid']}); one state folder runs one server: use TEMPORAL_ADDRESS={other.get('address')}, "
            f"another TEMPORAL_STATE_DIR, or `make stop` first")
    pid = await start_server(settings)
    say(
        f"Started local Temporal dev server (pid {pid}) at {settings.temporal_address}; "
        f"Web UI http://localhost:{settings.ui_port} ; state in {settings.state_dir}"
    )
    return True

