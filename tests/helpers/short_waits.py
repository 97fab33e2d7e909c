"""The production activities with two waits made short, for tests that prove what happens across
them, not how long they last.

- A notification (webhook or PagerDuty) that fails in a way worth retrying is retried after
  `retry_delay` seconds instead of the workflow retry policy's backoff (2, 4, 8 s). The policy still
  decides everything else: how many attempts, the budget over all of them, what is not retried.
- `still_open` gives a run that said it finished `settle_seconds` to close, not 20 s: a run a forged
  signal called finished is found still open after that, however long it is.

In a test's process: `running_worker(client, settings, make_activities=short_waits())`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from maintenance_agent import worker
from maintenance_agent.activities import MaintenanceActivities
from maintenance_agent.models.notify import NotifyInput, NotifyResult, PageInput
from maintenance_agent.models.proactive import StillOpenInput

T = TypeVar("T")


class ShortWaits(MaintenanceActivities):
    def __init__(self, retry_delay: float, settle_seconds: float, **settings: Any) -> None:
        super().__init__(**settings)
        self._retry_delay = timedelta(seconds=retry_delay)
        self._settle_seconds = settle_seconds

    @activity.defn(name="notify")
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        return await self._retried_soon(super().notify(inp))

    @activity.defn(name="page")
    async def page(self, inp: PageInput) -> NotifyResult:
        return await self._retried_soon(super().page(inp))

    @activity.defn(name="still_open")
    async def still_open(self, inp: StillOpenInput) -> list[str]:
        return await super().still_open(inp.model_copy(update={"settle_seconds": self._settle_seconds}))

    async def _retried_soon(self, attempt: Awaitable[T]) -> T:
        try:
            return await attempt
        except ApplicationError as exc:
            if exc.non_retryable:
                raise
            raise ApplicationError(exc.message, type=exc.type, next_retry_delay=self._retry_delay) from None


def short_waits(retry_delay: float = 0.2, settle_seconds: float = 2.0) -> worker.ActivitiesFactory:
    """What `build_worker(make_activities=...)` takes: the production activities with these waits."""
    return functools.partial(ShortWaits, retry_delay, settle_seconds)
