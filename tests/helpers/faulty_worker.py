#!/usr/bin/env python3
"""The production worker with fault injection, for the crash, chaos and trust tests.

Its activities are `MaintenanceActivities` with `execute_action` wrapped: an attempt may fail on
purpose before the change or after its commit (the retry must then find it in the ledger), each
commit may hold a window open (for a test's SIGKILL), and disruptive operations may take time (the
simulator's `operation_seconds`, during which they hold their site and device leases).

- As a process: `python tests/helpers/faulty_worker.py` (or `worker_command()`), in place of
  `python -m maintenance_agent.worker`, configured by MAINTENANCE_AGENT_TEST_FAULT_RATE (0..1),
  MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS, MAINTENANCE_AGENT_TEST_OPERATION_MS and
  MAINTENANCE_AGENT_TEST_FAULT_LOG (a file that gets one line per injected fault).
- In a test's process: `running_worker(client, settings, make_activities=faulty(TestHooks(...)))`.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity

from maintenance_agent import worker
from maintenance_agent.activities import MaintenanceActivities
from maintenance_agent.models.core import ActionResult
from maintenance_agent.models.execution import ExecuteActionInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TestHooks:
    """What to inject. The MAINTENANCE_AGENT_TEST_* variables set it for a worker process."""

    __test__ = False  # not a pytest test class

    fault_rate: float = 0.0
    action_delay_ms: int = 0
    operation_ms: int = 0
    """How long each disruptive operation takes (outside the store lock, holding its leases)."""
    seed: int | None = None
    fault_log: str | None = None
    """A file that gets one line per injected fault (so the chaos suite can count them exactly)."""

    @classmethod
    def from_environment(cls) -> TestHooks:
        rate = float(os.environ.get("MAINTENANCE_AGENT_TEST_FAULT_RATE") or 0)
        delay = int(os.environ.get("MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS") or 0)
        operation = int(os.environ.get("MAINTENANCE_AGENT_TEST_OPERATION_MS") or 0)
        if not 0 <= rate <= 1 or delay < 0 or operation < 0:
            raise ValueError("MAINTENANCE_AGENT_TEST_FAULT_RATE must be 0..1 and ..._ACTION_DELAY_MS, "
                             "..._OPERATION_MS >= 0")
        return cls(rate, delay, operation, fault_log=os.environ.get("MAINTENANCE_AGENT_TEST_FAULT_LOG") or None)

    @property
    def active(self) -> bool:
        return bool(self.fault_rate or self.action_delay_ms or self.operation_ms)


class InjectedFault(Exception):
    """A failure injected on purpose (retried by Temporal like any other)."""


class FaultyActivities(MaintenanceActivities):
    """The production activities; only a real (not dry-run) `execute_action` is wrapped."""

    def __init__(self, hooks: TestHooks, **settings: Any) -> None:
        super().__init__(operation_seconds=hooks.operation_ms / 1000, **settings)
        self._hooks = hooks
        self._random = random.Random(hooks.seed)
        self._random_lock = threading.Lock()
        if hooks.active:
            log.warning("TEST HOOKS ACTIVE: fault rate %.2f, action delay %d ms, operation %d ms", hooks.fault_rate,
                        hooks.action_delay_ms, hooks.operation_ms)

    @activity.defn(name="execute_action")
    def execute_action(self, inp: ExecuteActionInput) -> ActionResult:
        if inp.dry_run:
            return super().execute_action(inp)
        fault = self._fault_point()
        if fault == "before":
            raise InjectedFault("injected fault before the change")
        result = super().execute_action(inp)
        if self._hooks.action_delay_ms:  # a window for the crash tests' SIGKILL, after the commit
            deadline = time.monotonic() + self._hooks.action_delay_ms / 1000
            while (left := deadline - time.monotonic()) > 0:
                activity.heartbeat("committed")
                time.sleep(min(left, 0.5))
        if fault == "after":  # the change is committed: the retry must find it in the ledger
            raise InjectedFault("injected fault after the change was committed")
        return result

    def _fault_point(self) -> str | None:
        """With probability `fault_rate` per attempt, fail it: before or after the commit, evenly."""
        if not self._hooks.fault_rate:
            return None
        with self._random_lock:
            if self._random.random() >= self._hooks.fault_rate:
                return None
            where = "before" if self._random.random() < 0.5 else "after"
            if self._hooks.fault_log:
                with open(self._hooks.fault_log, "a") as fh:
                    fh.write(f"{where}\n")
            return where


def faulty(hooks: TestHooks) -> worker.ActivitiesFactory:
    """What `build_worker(make_activities=...)` takes, for a worker in the test's own process."""
    return functools.partial(FaultyActivities, hooks)


def from_environment(**settings: Any) -> FaultyActivities:
    # Read when the worker is built, so a bad value is the worker's one-line error (exit 2), not a traceback.
    return FaultyActivities(TestHooks.from_environment(), **settings)


def worker_command() -> list[str]:
    """The command that starts this worker as a process (environment and working directory as for
    `python -m maintenance_agent.worker`)."""
    return [sys.executable, str(Path(__file__).resolve())]


STICKY_TIMEOUT = timedelta(seconds=1)
"""How long the server keeps a workflow's next task for this worker before any worker may take it
(the SDK's default: 10 s). These workers are SIGKILLed on purpose: the workflows they held move on to
the next worker after 1 s, so a test waits for what the kill does, not for the server to give up on it."""


if __name__ == "__main__":
    worker.Worker = functools.partial(worker.Worker, sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT)  # type: ignore[misc]
    worker.main(make_activities=from_environment)
