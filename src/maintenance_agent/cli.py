"""Plumbing shared by the top-level scripts: settings, connection, errors, exit codes, rendering.

Scripts print for people on stderr (progress) and stdout (results); `--json` puts one JSON document
on stdout for programs. Every expected error becomes one line `error: …` and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any, NoReturn

from temporalio.client import Client
from temporalio.service import RPCError

from .config import ConfigError, Settings, load_settings
from .config.rules import RulesError
from .connection import TemporalUnavailable
from .embedded import EmbeddedError, ensure_running, exit_now, require_worker

if TYPE_CHECKING:
    from .client_ops import OperationError

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
interrupt_hint = "Stopped following. Anything already started keeps running in Temporal."
"""What Ctrl-C prints; a command may replace it with how to follow, stop or approve what it started."""


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


CLI_HINTS: Mapping[str, Callable[[dict[str, Any]], str]] = {
    "run_not_found": lambda _: "list recent runs with `query_monitoring_agent.py --list`",
    "not_a_run": lambda _: "list maintenance runs with `query_monitoring_agent.py --list`",
    "agent_not_a_run": lambda f: (f"approve one with `approve_monitoring_agent.py --workflow-id {f['open_runs'][0]}`"
                                  if f.get("open_runs") else
                                  "`run_monitoring_agent_proactive.py --status` shows the agent and its approval runs"),
    "no_agent": lambda f: "start one with `run_monitoring_agent_proactive.py"
                          + (f" --interval-minutes {f['interval_minutes']:g}`" if "interval_minutes" in f else "`"),
    "no_artifact_reader": lambda _: "start one with `python -m maintenance_agent.worker`",
}
"""What to do next after a client_ops error, by its code, said as the scripts are run (MCP has its own)."""


def hinted(exc: OperationError) -> str:
    """An `OperationError`'s sentence with the scripts' next step, if its code has one."""
    hint = CLI_HINTS.get(exc.code)
    return f"{exc}; {hint(exc.facts)}" if hint else str(exc)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.INFO if verbose else logging.ERROR)


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_as_of(text: str) -> datetime:
    """`YYYY-MM-DD` (end of that day, UTC) or an ISO 8601 timestamp (UTC if no offset)."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("it is empty; give YYYY-MM-DD or an ISO timestamp such as "
                                         "2026-11-01T12:00:00Z, or leave it out to use the newest reading")
    try:
        if len(text) == 10:
            return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(23, 59, 59), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; use YYYY-MM-DD or an ISO timestamp such as 2026-11-01T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def connect_for_cli(settings: Settings) -> Client:
    """Connect (starting the embedded server and worker where allowed) and make sure a worker polls."""
    client, _status = await ensure_running(settings)
    await require_worker(client, settings)
    return client


def _exit_at_once(_signum: int, _frame: object) -> None:
    """Ctrl-C: say how to carry on, and leave now. Nothing a script holds needs cleaning up (what it
    changes is atomic or lives in Temporal), so it does not wait, as asyncio's graceful shutdown
    would, for in-flight calls to a busy server or worker, its tasks and its executor threads."""
    os.write(2, (interrupt_hint + "\n").encode())
    os._exit(130)


def run(main: Callable[[Settings], Coroutine[Any, Any, int]]) -> NoReturn:
    """Load settings and run `main`, turning expected errors into one line and exit code 2."""
    from .client_ops import OperationError
    from .store import FleetDataError, StoreBusy

    signal.signal(signal.SIGINT, _exit_at_once)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a script that seems stuck is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    code: int
    try:
        settings = load_settings()
        code = asyncio.run(main(settings))
    except (ConfigError, TemporalUnavailable, EmbeddedError, OperationError, FleetDataError, StoreBusy,
            CliError, RulesError) as exc:
        err(f"error: {hinted(exc) if isinstance(exc, OperationError) else exc}"
            + ("; `--reset-data` on the run scripts restores the default fleet" if isinstance(exc, FleetDataError) else ""))
        code = EXIT_USAGE
    except RPCError as exc:  # what no layer expected from the server: still one line, never a traceback
        err(f"error: the Temporal server refused or dropped a request ({exc.status.name}: {exc.message}); "
            f"try again shortly, and check TEMPORAL_ADDRESS if it persists")
        code = EXIT_USAGE
    except OSError as exc:  # a path that is a file, not a directory; no permission; a full disk
        where = f" ({exc.filename})" if exc.filename else ""
        err(f"error: {exc.strerror or exc}{where}; check DATA_DIR, REPORTS_DIR and TEMPORAL_STATE_DIR")
        code = EXIT_USAGE
    except KeyboardInterrupt:
        err(interrupt_hint)
        code = 130
    exit_now(code)
