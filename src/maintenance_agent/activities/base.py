"""What every group of activities shares: the worker's fleet store, its reports directory (run
folders resolved inside it, never outside) and the run artifacts read there."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..config import LlmSettings, NotifySettings
from ..config.worker import MetricsSettings
from ..executors.ansible import AnsibleExecutor
from ..models.approval import ApprovalPolicy
from ..store import FleetStore
from .errors import artifact_errors

PLAN_CACHE_SIZE = 2


def heartbeat_while_waiting() -> None:
    """Waiting for the store lock (another process writes): an activity says it is alive meanwhile, so
    its heartbeat timeout (10 s for an action) does not mistake the wait for a dead worker."""
    if activity.in_activity():
        activity.heartbeat("waiting for the fleet store lock")


class ActivityBase:
    """Activities bound to one worker process, its fleet store and its reports directory."""

    def __init__(self, *, data_dir: Path, reports_dir: Path, client: Client | None = None,
                 notify_url: str | None = None, llm: LlmSettings | None = None, policy: ApprovalPolicy | None = None,
                 keys_dir: Path | None = None, notifications: NotifySettings | None = None,
                 operation_seconds: float = 0.0, metrics: MetricsSettings | None = None,
                 executor: AnsibleExecutor | None = None) -> None:
        """`operation_seconds`: how long each disruptive operation of the simulator takes (0, instant:
        it is checked, applied and committed in one section under the store lock; longer: it holds its
        site and device leases while it runs outside the lock, as a real device's restart would)."""
        if operation_seconds < 0:
            raise ValueError(f"operation_seconds must be >= 0, got {operation_seconds}")
        self._client = client
        self._policy = policy or ApprovalPolicy()
        self._keys_dir = keys_dir
        self._notifications = notifications or NotifySettings(webhook_url=notify_url)
        self._llm = llm
        self._metrics = metrics
        self._executor = executor
        """None: the simulator (core/actions.py on the JSON fleet); else the playbooks' executor."""
        self._operation_seconds = operation_seconds
        self._store = FleetStore(Path(data_dir).resolve(), while_waiting=heartbeat_while_waiting)
        self._reports_root = Path(reports_dir).resolve()
        self._plans: dict[tuple[str, int, int], BaseModel] = {}
        self._plans_lock = threading.Lock()
        self._tallies: dict[Path, artifacts.SimulationTally] = {}
        self._tallies_lock = threading.Lock()
        self._attributes_checked: tuple[float, bool] | None = None

    def store(self) -> FleetStore:
        return self._store

    def run_dir(self, ref: str) -> Path:
        """A run's folder, named relative to REPORTS_DIR (or absolute inside it, as older runs did)."""
        path = Path(ref)
        resolved = (path if path.is_absolute() else self._reports_root / path).resolve()
        if not ref or not resolved.is_relative_to(self._reports_root) or resolved == self._reports_root:
            raise ApplicationError(f"refusing the run folder {ref[:120]!r}: it is not inside this worker's "
                                   f"REPORTS_DIR ({self._reports_root})", type="UnsafePath", non_retryable=True)
        return resolved

    def _read(self, directory: Path, name: str, model: type[artifacts.M]) -> artifacts.M:
        if name == artifacts.PLAN:  # read per batch by every site child of a large run: parse it once
            path = directory / name
            with contextlib.suppress(OSError):
                st = path.stat()
                key = (str(path), st.st_mtime_ns, st.st_size)
                with self._plans_lock:
                    if key in self._plans:
                        return self._plans[key]  # type: ignore[return-value]
                plan = self._read_uncached(directory, name, model)
                with self._plans_lock:
                    self._plans[key] = plan
                    while len(self._plans) > PLAN_CACHE_SIZE:
                        self._plans.pop(next(iter(self._plans)))
                return plan
        return self._read_uncached(directory, name, model)

    def _read_uncached(self, directory: Path, name: str, model: type[artifacts.M]) -> artifacts.M:
        with artifact_errors():
            return artifacts.read(directory, name, model)
