"""The background worker: its record per server, namespace and task queue, what settings it runs
with (as hashes), who polls the queue, and starting, reusing or replacing it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ..config import ENV_VARS, SECRET_FIELDS, EmbeddedMode, Settings, load_settings, settings_environment
from ..connection import TRANSIENT_RPC, TemporalUnavailable
from .processes import (
    EmbeddedError,
    EmbeddedStatus,
    check_alive,
    code_fingerprint,
    process_alive,
    read_json,
    say,
    spawn_detached,
    terminate,
)

EMBEDDED_WORKER_PREFIX = "maintenance-agent-embedded"
WORKER_START_TIMEOUT = 30.0
POLLER_FRESH_SECONDS = 90.0
"""A poller seen within this many seconds is alive (long polls last up to a minute)."""
WORKER_SETTINGS = {"tls_cert", "tls_key", "tls_ca", "tls_cert_data", "tls_key_data", "tls_ca_data", "tls_server_name",
                   "api_key", "tls", "payload_key",
                   "llm_model", "llm_key", "llm_base_url", "llm_timeout_seconds", "llm_max_attempts",
                   "llm_prompt_token_budget", "notify_webhook_url", "approvers", "require_distinct_approver",
                   "approver_keys_dir", "data_dir", "reports_dir", "pagerduty_routing_key", "pagerduty_events_url",
                   "temporal_ui_url", "reports_url", "ui_port", "metrics_source", "prometheus_url",
                   "prometheus_token", "prometheus_username", "prometheus_password", "prometheus_timeout_seconds",
                   "prometheus_step_seconds", "prometheus_mapping_file", "api_host", "api_port", "api_token",
                   "api_embedded", "executor", "ansible_playbook_dir", "ansible_inventory", "ansible_timeout_seconds",
                   "ansible_max_parallel"}
"""Settings the worker process reads (besides the server, namespace and task queue it serves, which
name its record): a script whose values differ is told so; only new code replaces the worker."""

POLLERS_PATIENCE_SECONDS = 15.0
"""How long a transient error asking for a queue's pollers is retried (a server just started, or busy)."""
_TRANSIENT = (*TRANSIENT_RPC, RPCStatusCode.UNKNOWN)  # UNKNOWN: a just-started server's 'transport error'


def settings_digest(settings: Settings) -> dict[str, str]:
    """What the worker reads, per setting (environment variable name -> a short hash, so secrets are
    never written down): compared with a later script's settings to name what differs."""
    values = settings.model_dump(mode="json", include=WORKER_SETTINGS)
    for key in SECRET_FIELDS & WORKER_SETTINGS:
        secret = getattr(settings, key)
        values[key] = secret.get_secret_value() if secret else None
    names = {field: var for var, field in ENV_VARS.items()}
    return {names[field]: hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:12]
            for field, value in sorted(values.items())}


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


def worker_records(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("worker*.json"))  # worker.json: recorded by versions before per-queue workers


def start_worker(settings: Settings, *, environment: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the background worker with exactly these settings (or `environment`: the one a worker
    being replaced for new code had), whatever the environment of the process starting it."""
    env = environment or {**os.environ, **settings_environment(settings), "ENV_FILE": os.devnull}
    proc = spawn_detached(worker_command(), settings.state_dir / "worker.log", cwd=settings.state_dir, env=env)
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
    record = read_json(worker_record_path(settings))
    if not record or not process_alive(int(record.get("pid", 0)), "maintenance_agent.worker"):
        return {}
    theirs, paths = record.get("settings", {}), record.get("paths", {})
    return {var: paths.get(var) for var, digest in settings_digest(settings).items() if theirs.get(var, digest) != digest}


async def wait_for_poller(client: Client, settings: Settings, identity: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        check_alive(proc, "the background worker", settings.state_dir / "worker.log")
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
    record = read_json(path)
    replaced, environment = False, None
    if record and process_alive(int(record.get("pid", 0)), "maintenance_agent.worker"):
        pid = int(record["pid"])
        if record.get("code") == code_fingerprint():
            if differing := worker_differences(settings):
                shown = ", ".join(f"{var} ({value})" if value else var for var, value in sorted(differing.items()))
                say(f"Note: the background worker (pid {pid}) runs with another {shown} than this script's "
                     f"settings; it keeps its own (they decide). `make stop` restarts it with yours.")
            return EmbeddedStatus()
        say("The code changed since the background worker started: replacing it (with the settings it had).")
        with contextlib.suppress(psutil.Error):
            environment = psutil.Process(pid).environ()
        terminate(pid, "maintenance_agent.worker")
        replaced = True
    else:
        ours_dead = embedded_worker_identity(int(record["pid"])) if record else None
        for ident, age in await worker_pollers(client, settings.task_queue):
            if age < POLLER_FRESH_SECONDS and ident != ours_dead and not ident.startswith(EMBEDDED_WORKER_PREFIX):
                return EmbeddedStatus(external_worker=True)
    proc = start_worker(settings, environment=environment)
    await wait_for_poller(client, settings, embedded_worker_identity(proc.pid), proc)
    say(f"Started background worker (pid {proc.pid}, log {settings.state_dir / 'worker.log'}).")
    return EmbeddedStatus(worker_started=True, worker_replaced=replaced)


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

