"""What can go wrong with an operation, said once for every interface.

An `OperationError` carries one sentence (what and why, naming the run and the value), a `code`
that names the case, and `facts` (ids, queues, minutes) from which each interface renders its
own next step: the CLI names a script, the MCP server a tool. Nothing here names either.
"""

from __future__ import annotations

from collections.abc import Awaitable
from enum import StrEnum
from typing import Any

from temporalio.client import (
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from ..connection import is_transient


class ErrorCode(StrEnum):
    """The cases an interface may answer with its own hint (the others need none: the sentence says it)."""

    REFUSED = "refused"
    """Temporal or the run refused the request (the sentence says why)."""
    BAD_OPTION = "bad_option"
    RUN_NOT_FOUND = "run_not_found"
    """facts: workflow_id"""
    NOT_A_RUN = "not_a_run"
    """facts: workflow_id, workflow_type"""
    AGENT_NOT_A_RUN = "agent_not_a_run"
    """The proactive agent's id used for a run. facts: workflow_id, open_runs (its open approval runs)"""
    ALREADY_FINISHED = "already_finished"
    NO_REPORT_YET = "no_report_yet"
    NO_AGENT = "no_agent"
    """No proactive agent runs for the user. facts: user, and interval_minutes if one was asked for"""
    NO_ARTIFACT_READER = "no_artifact_reader"
    """No worker of the run's task queue read an artifact in time. facts: task_queue"""
    ARTIFACT_MISSING = "artifact_missing"
    ENCRYPTED = "encrypted"
    BUSY = "busy"
    TIMEOUT = "timeout"
    UNKNOWN_SITE = "unknown_site"
    KEY_FILE = "key_file"


class OperationError(Exception):
    """A request could not be carried out: the message says what and why, for any interface; `code`
    and `facts` let each interface add what to do next (see cli.hint and mcp.hints)."""

    default_code = ErrorCode.REFUSED

    def __init__(self, message: str, *, code: ErrorCode | None = None, **facts: Any) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.facts = facts


class RunNotFound(OperationError):
    default_code = ErrorCode.RUN_NOT_FOUND


class Busy(OperationError):
    """The run exists but could not answer right now (worker busy or restarting, server overloaded);
    asking again shortly is safe."""

    default_code = ErrorCode.BUSY


class ArtifactMissing(OperationError):
    """The worker has no such artifact (not written yet, or deleted)."""

    default_code = ErrorCode.ARTIFACT_MISSING


def failure_text(exc: BaseException) -> str:
    """The innermost cause's message (an update validator's or activity's `ApplicationError`)."""
    while isinstance(exc, (FailureError, WorkflowUpdateFailedError, WorkflowFailureError)) and exc.cause is not None:
        exc = exc.cause
    return exc.message if isinstance(exc, ApplicationError) else str(exc)


async def guard(workflow_id: str, call: Awaitable[Any]) -> Any:
    """Await a call on one workflow, turning what Temporal answers into an `OperationError` that says
    what happened to that workflow (not found, finished, busy, encrypted without our key, ...)."""
    try:
        return await call
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and "already completed" in exc.message:
            raise OperationError(
                f"run {workflow_id} has already finished; decisions are accepted only while it is PENDING-APPROVAL",
                code=ErrorCode.ALREADY_FINISHED, workflow_id=workflow_id) from None
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no maintenance run with id {workflow_id!r}", workflow_id=workflow_id) from None
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise OperationError(f"{workflow_id!r} is not a maintenance run or the request was invalid: {exc.message}",
                                 workflow_id=workflow_id) from None
        if is_transient(exc) or "Workflow Task in failed state" in exc.message:
            # The run's current workflow task failed or timed out (an overloaded worker); Temporal
            # retries it, and the same request succeeds once it has.
            raise Busy(f"Temporal did not answer in time for {workflow_id} ({exc.message}); try again shortly",
                       workflow_id=workflow_id) from None
        raise OperationError(f"Temporal refused the request: {exc.message}", workflow_id=workflow_id) from None
    except WorkflowQueryFailedError as exc:
        if "TMPRL1101" in str(exc) or "deadlock" in str(exc).lower():
            # The worker answered too slowly (busy with heavy activities); the run itself is fine.
            raise Busy(f"the worker was too busy to answer for {workflow_id}; try again shortly",
                       workflow_id=workflow_id) from None
        raise OperationError(f"{workflow_id!r} cannot answer that query ({exc}); is it a maintenance run?",
                             workflow_id=workflow_id) from None
    except WorkflowQueryRejectedError as exc:
        raise OperationError(f"{workflow_id!r} cannot answer that query ({exc}); is it a maintenance run?",
                             workflow_id=workflow_id) from None
    except WorkflowUpdateFailedError as exc:
        raise OperationError(failure_text(exc), workflow_id=workflow_id) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Busy(f"{workflow_id} did not confirm the decision in time; try again shortly",
                   workflow_id=workflow_id) from None
    except KeyError as exc:
        if "payload encoding" not in str(exc):
            raise
        raise OperationError(f"{workflow_id}'s data are encrypted (TEMPORAL_PAYLOAD_KEY) and this client has no key; "
                             f"set the same TEMPORAL_PAYLOAD_KEY as the worker's", code=ErrorCode.ENCRYPTED,
                             workflow_id=workflow_id) from None
    except ValueError as exc:
        if "TEMPORAL_PAYLOAD_KEY" not in str(exc) and "failed authentication" not in str(exc):
            raise
        raise OperationError(f"{workflow_id}'s data cannot be read: {exc}", code=ErrorCode.ENCRYPTED,
                             workflow_id=workflow_id) from None
