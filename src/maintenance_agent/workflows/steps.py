"""Activity calls every workflow makes the same way: a pipeline step with the shared timeouts and
retries, a PagerDuty event within the notification budget, and a failure's message in one line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, overload

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError
from temporalio.types import MethodAsyncSingleParam, MethodSyncSingleParam, ParamType, ReturnType, SelfType

from .policies import NOTIFY_BUDGET, PAGE_RETRY, STEP_HEARTBEAT, STEP_RETRY, STEP_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.status_text import page_summary
    from ..models.notify import PageInput


@overload
async def run_step(fn: MethodAsyncSingleParam[SelfType, ParamType, ReturnType], arg: ParamType,
                   summary: str) -> ReturnType: ...


@overload
async def run_step(fn: MethodSyncSingleParam[SelfType, ParamType, ReturnType], arg: ParamType,
                   summary: str) -> ReturnType: ...


async def run_step(fn: Any, arg: Any, summary: str) -> Any:
    """One pipeline step (detect, analyze, plan, report, …) with the shared timeouts and retries."""
    return await workflow.execute_activity_method(
        fn, arg, start_to_close_timeout=STEP_TIMEOUT, heartbeat_timeout=STEP_HEARTBEAT,
        retry_policy=STEP_RETRY, summary=summary)


def cause_message(err: BaseException) -> str:
    """The innermost failure's message: what actually went wrong, in one line."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    text = err.message if isinstance(err, FailureError) else str(err)
    return (text or type(err).__name__).splitlines()[0]


async def send_page(page: PageInput) -> None:
    """Send a PagerDuty event within the notification budget; a dead endpoint is logged, never raised."""
    try:
        result = await workflow.execute_activity_method(
            MaintenanceActivities.page, page, schedule_to_close_timeout=NOTIFY_BUDGET,
            start_to_close_timeout=timedelta(seconds=15), retry_policy=PAGE_RETRY,
            summary=page_summary(page.event_action.value, page.kind))
    except ActivityError as err:
        workflow.logger.warning("PagerDuty %s for %s not sent: %s", page.event_action.value, page.dedup_key,
                                cause_message(err))
        return
    if result.delivered:
        workflow.logger.info("PagerDuty %s for %s sent", page.event_action.value, page.dedup_key)
