"""The worker: hosts the workflows and activities. Scale out by starting more on the same task queue."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from .activities import MaintenanceActivities, worker_approval_policy
from .artifact_reader import ArtifactReaderWorkflow
from .bearer import ServeError
from .config import ConfigError, LlmSettings, NotifySettings, Settings, load_settings
from .config.worker import MetricsSettings
from .connection import TemporalUnavailable, connect
from .core.approval import proof_impossible
from .embedded import embedded_worker_identity, exit_now
from .executors import ExecutorError
from .executors.ansible import AnsibleExecutor
from .identity import KeyFileError
from .sources.mapping import MappingError
from .workflows import InfrastructureMaintenanceWorkflow, ProactiveMaintenanceWorkflow, SiteExecutionWorkflow

if TYPE_CHECKING:
    from .api import ApiServer

log = logging.getLogger(__name__)

WORKFLOWS = [InfrastructureMaintenanceWorkflow, SiteExecutionWorkflow, ProactiveMaintenanceWorkflow,
             ArtifactReaderWorkflow]
ActivitiesFactory = Callable[..., MaintenanceActivities]
"""Builds the worker's activities from keyword arguments (`MaintenanceActivities`, or a subclass of it)."""
MAX_CONCURRENT_ACTIVITIES = 32
MAX_CONCURRENT_WORKFLOW_TASKS = 10
"""Workflow activations run under one GIL, so taking more at once only makes each one slower: with
the SDK's default of 100, a burst of 1,000 approvals left tasks queued inside the worker past their
10 s timeout. Tasks beyond this wait on the server, where no timeout runs; add workers to go faster."""


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with `cryptography` passed through: the update validator verifies Ed25519
    signatures, and a native extension must not be imported a second time inside the sandbox (it aborts
    the process). Every worker and replayer uses this runner."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography"))


def activity_list(acts: MaintenanceActivities) -> list:
    return [
        acts.detect_fleet, acts.analyze_findings, acts.plan_maintenance, acts.advise, acts.load_plan, acts.load_actions,
        acts.execute_action, acts.compact_store, acts.write_report, acts.notify, acts.list_open_approvals,
        acts.approval_policy, acts.still_open, acts.claim_run, acts.run_progress, acts.verify_parent_agent,
        acts.check_site_grant, acts.use_proof, acts.record_give_up, acts.page, acts.last_cycle,
        acts.listing_attributes, acts.read_run_artifact,
    ]


def build_worker(client: Client, settings: Settings, *, identity: str | None = None,
                 make_activities: ActivitiesFactory = MaintenanceActivities) -> Worker:
    """A worker for the agent's task queue (the same one in production, the CLI and the tests)."""
    policy = worker_approval_policy(settings.approval_policy(), settings.approver_keys_dir)
    if proof_impossible(policy):
        raise ConfigError("APPROVERS or REQUIRE_DISTINCT_APPROVER is set, so starts and decisions must be signed, "
                          "but no public key is there to check them: set APPROVER_KEYS_DIR to a folder of <user>.pub "
                          "keys (`python -m maintenance_agent.identity keygen --user NAME`)")
    try:
        metrics = MetricsSettings.from_settings(settings)
    except MappingError as exc:
        raise ConfigError(f"PROMETHEUS_MAPPING_FILE: {exc}") from None
    try:
        executor = AnsibleExecutor(settings.ansible_playbook_dir, settings.ansible_inventory,
                                   settings.ansible_timeout_seconds, settings.ansible_max_parallel,
                                   ) if settings.executor == "ansible" else None
    except ExecutorError as exc:
        raise ConfigError(str(exc)) from None
    acts = make_activities(
        data_dir=settings.data_dir, reports_dir=settings.reports_dir, client=client,
        llm=LlmSettings.from_settings(settings), policy=settings.approval_policy(), keys_dir=settings.approver_keys_dir,
        notifications=NotifySettings.from_settings(settings), metrics=metrics, executor=executor)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=activity_list(acts),
        activity_executor=ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="activity"),
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        max_concurrent_workflow_tasks=MAX_CONCURRENT_WORKFLOW_TASKS,
        # On shutdown, let in-flight actions finish (they are short) rather than interrupt their threads.
        graceful_shutdown_timeout=timedelta(seconds=15),
        identity=identity,
    )


async def run_worker(settings: Settings, *, identity: str | None = None,
                     make_activities: ActivitiesFactory = MaintenanceActivities, serve_api: bool = False) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings, identity=identity, make_activities=make_activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker %s polling %s on %s", identity or "(default identity)", settings.task_queue,
             settings.temporal_address)
    api = _embedded_api(settings, client) if serve_api else None
    serving = asyncio.create_task(api.serve()) if api is not None else None
    async with worker:
        await stop.wait()
        log.info("shutting down: finishing in-flight tasks")
        if api is not None and serving is not None:
            api.stop()
            await asyncio.wait([serving], timeout=5)
    # Leaving the `async with` shuts the worker down through the SDK before the process exits.


def _embedded_api(settings: Settings, client: Client) -> ApiServer | None:
    """The API the embedded worker serves too (API_EMBEDDED), on API_PORT if it is free: a taken port
    (an API serving already, say) or a refused bind is a warning, never a worker that does not start."""
    from .api import ApiServer, bind, create_app  # FastAPI is imported only where it is served

    token = settings.api_token.get_secret_value() if settings.api_token else None
    try:
        sock = bind(settings.api_host, settings.api_port)
        server = ApiServer(create_app(settings.user_name, client), sock, host=settings.api_host, token=token)
    except ServeError as exc:
        log.warning("not serving the API: %s", exc)
        return None
    log.info("serving the API on %s (Alertmanager webhook: %s/alertmanager)", server.url, server.url)
    return server


def main(argv: list[str] | None = None, *, make_activities: ActivitiesFactory = MaintenanceActivities) -> NoReturn:
    parser = argparse.ArgumentParser(
        prog="python -m maintenance_agent.worker",
        description="Run a worker for the maintenance agent (start more for more throughput).",
    )
    parser.add_argument("--embedded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    for chatty in ("httpx", "httpcore"):  # they log every request URL, and a URL may carry a secret
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        identity = embedded_worker_identity(os.getpid()) if args.embedded else None
        asyncio.run(run_worker(settings, identity=identity, make_activities=make_activities,
                               serve_api=args.embedded and settings.api_embedded))
    except (ConfigError, TemporalUnavailable, ValueError, KeyFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        exit_now(2)
    exit_now(0)


if __name__ == "__main__":
    main()
