"""Following a run survives a worker that is momentarily too busy to answer, but not forever."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from maintenance_agent import client_ops
from maintenance_agent.models.run import Phase
from maintenance_agent.models.views import RunStatus

DEADLOCK = "[TMPRL1101] Potential deadlock detected: workflow didn't yield within 2 second(s)."


async def _raise(exc: BaseException) -> None:
    raise exc


async def test_a_slow_worker_is_reported_as_busy_not_as_a_wrong_id() -> None:
    with pytest.raises(client_ops.Busy, match="too busy"):
        await client_ops.guard("run-1", _raise(WorkflowQueryFailedError(DEADLOCK)))
    with pytest.raises(client_ops.OperationError, match="cannot answer") as info:
        await client_ops.guard("run-1", _raise(WorkflowQueryFailedError("unknown queryType status")))
    assert not isinstance(info.value, client_ops.Busy)


@pytest.mark.parametrize(("status", "message", "busy"), [
    (RPCStatusCode.CANCELLED, "Timeout expired", True),  # the client's own deadline passed: a slow server
    (RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", True),
    (RPCStatusCode.UNAVAILABLE, "connection refused", True),
    (RPCStatusCode.CANCELLED, "canceled by the caller", False),
    (RPCStatusCode.PERMISSION_DENIED, "Request unauthorized.", False),
])
async def test_a_slow_server_is_busy_but_a_refusal_is_not(status: RPCStatusCode, message: str, busy: bool) -> None:
    with pytest.raises(client_ops.OperationError) as info:
        await client_ops.guard("run-1", _raise(RPCError(message, status, b"")))
    assert isinstance(info.value, client_ops.Busy) is busy, info.value


def _status(phase: Phase, executed: int = 0) -> RunStatus:
    return RunStatus(workflow_id="run-1", phase=phase, started_by="a", started_at=datetime(2026, 1, 1, tzinfo=UTC),
                     executed=executed)


async def test_follow_keeps_asking_a_busy_run(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[RunStatus | Exception] = [
        _status(Phase.EXECUTING, 1), client_ops.Busy("busy"), client_ops.Busy("busy"), _status(Phase.COMPLETED, 2)]

    async def fake_status(client: object, workflow_id: str) -> RunStatus:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client_ops.runs, "get_status", fake_status)
    seen: list[Phase] = []
    final = await client_ops.follow(None, "run-1", lambda s: seen.append(s.phase),  # type: ignore[arg-type]
                                    until=lambda s: s.phase is Phase.COMPLETED, poll_seconds=0, busy_poll_seconds=0)
    assert final.phase is Phase.COMPLETED and seen == [Phase.EXECUTING, Phase.COMPLETED] and not answers


async def test_follow_gives_up_on_a_run_that_stays_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def always_busy(client: object, workflow_id: str) -> RunStatus:
        nonlocal calls
        calls += 1
        raise client_ops.Busy("the worker was too busy to answer for run-1; try again shortly")

    monkeypatch.setattr(client_ops.runs, "get_status", always_busy)
    monkeypatch.setattr(client_ops.runs, "FOLLOW_PATIENCE_SECONDS", 0.0)
    with pytest.raises(client_ops.Busy, match="try again shortly"):
        await client_ops.follow(None, "run-1", lambda s: None,  # type: ignore[arg-type]
                                until=lambda s: True, busy_poll_seconds=0)
    assert calls == 1


async def test_a_failed_workflow_task_is_busy_not_a_refusal() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    failed = RPCError("Workflow Task in failed state.", RPCStatusCode.FAILED_PRECONDITION, b"")
    with pytest.raises(client_ops.Busy, match="try again shortly"):
        await client_ops.guard("run-1", _raise(failed))
    refused = RPCError("namespace is not active", RPCStatusCode.FAILED_PRECONDITION, b"")
    with pytest.raises(client_ops.OperationError) as info:
        await client_ops.guard("run-1", _raise(refused))
    assert not isinstance(info.value, client_ops.Busy)


async def test_a_busy_decision_is_retried_within_its_patience() -> None:
    attempts = 0

    async def busy_twice() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise client_ops.Busy("Temporal did not answer in time for run-1; try again shortly")
        return "decided"

    assert await client_ops.retry_busy(busy_twice, patience_seconds=60, first_delay=0) == "decided"
    assert attempts == 3

    attempts = -100  # busy for longer than the patience allows
    with pytest.raises(client_ops.Busy):
        await client_ops.retry_busy(busy_twice, patience_seconds=0)
    assert attempts == -99, "no patience: one attempt, then the error"
