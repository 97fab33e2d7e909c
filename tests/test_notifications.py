"""Notifications from the proactive agent to a webhook: content, and a dead webhook never hurts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client

from conftest import copy_fleet, eventually, running_worker, settings_for
from helpers.http_stub import answer_never, answer_status, http_stub
from maintenance_agent import client_ops
from maintenance_agent.models.workflow import ProactivePhase


def _settings(tmp_path: Path, name: str):  # noqa: ANN202
    return settings_for(tmp_path / name, data_dir=copy_fleet(tmp_path / name / "data"),
                        task_queue=f"notify-{uuid.uuid4().hex[:8]}", user_name=f"{name}{uuid.uuid4().hex[:6]}")


async def _first_cycle(client: Client, settings):  # noqa: ANN001, ANN202
    return await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                            lambda s: s.cycle >= 1 and s.phase is ProactivePhase.WAITING, timeout=120,
                            what="the first cycle")


async def _cleanup(client: Client, settings, status) -> None:  # noqa: ANN001
    await client_ops.stop_proactive(client, settings.user_name)
    for run in status.open_approvals:
        await client.get_workflow_handle(run.workflow_id).terminate("test over")


async def test_webhook_receives_a_slack_compatible_message(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path, "hook")
    async with http_stub() as hook, running_worker(client, settings):
        await client_ops.start_proactive(client, settings, interval_minutes=60, callback_url=hook.url)
        status = await _first_cycle(client, settings)
        await eventually(lambda: asyncio.sleep(0, hook.requests), lambda r: len(r) >= 1, what="the webhook call")
        cycle = status.last_cycle
        assert cycle and cycle.notified and cycle.approval_run
        message = hook.requests[0]
        assert isinstance(message["text"], str) and "need approval" in message["text"]
        assert cycle.approval_run in message["text"] and cycle.approval_run in message["approve_command"]
        assert "approve_monitoring_agent.py --workflow-id" in message["approve_command"]
        assert message["kind"] == "approval_needed" and message["cycle"] == 1
        assert message["agent_workflow_id"] == status.workflow_id
        assert set(message["workflow_ids"]) >= {status.workflow_id, cycle.approval_run}
        assert message["actions_total"] == cycle.proposed_for_approval == len(message["actions"])
        assert {a["risk"] for a in message["actions"]} >= {"high"}
        assert set(message["devices"]) == {a["equipment_id"] for a in message["actions"]}
        assert hook.headers[0]["Content-Type"].startswith("application/json")
        await _cleanup(client, settings, status)


async def test_a_failing_or_silent_webhook_never_stalls_the_agent(client: Client, tmp_path: Path) -> None:
    broken, silent = _settings(tmp_path, "broken"), _settings(tmp_path, "silent")
    async with http_stub(answer_status(500)) as hook500, http_stub(answer_never) as hook_dead, \
            running_worker(client, broken), running_worker(client, silent):
        await client_ops.start_proactive(client, broken, interval_minutes=60, callback_url=hook500.url)
        await client_ops.start_proactive(client, silent, interval_minutes=60, callback_url=hook_dead.url,
                                         notify_timeout_seconds=1)
        results = await asyncio.gather(_first_cycle(client, broken), _first_cycle(client, silent))
        for status, hook in zip(results, (hook500, hook_dead), strict=True):
            cycle = status.last_cycle
            assert cycle and not cycle.notified and cycle.notification_error
            assert len(hook.requests) >= 2, "the notification was retried"
            assert "notification failed" in cycle.summary
        assert "500" in results[0].last_cycle.notification_error
        # The agent carries on: another cycle runs normally.
        await client_ops.trigger_proactive(client, broken.user_name)
        after = await eventually(lambda: client_ops.proactive_status(client, broken.user_name),
                                 lambda s: s.cycle == 2 and s.phase is ProactivePhase.WAITING, timeout=120,
                                 what="cycle 2")
        await _cleanup(client, broken, after)
        await _cleanup(client, silent, results[1])
