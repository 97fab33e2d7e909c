"""Timeouts with the time-skipping test server: an undecided plan expires, nothing is executed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from conftest import copy_fleet, eventually, running_worker, settings_for, tool
from maintenance_agent import client_ops
from maintenance_agent.connection import data_converter
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.fleet import INVENTORY_FILE
from maintenance_agent.models.run import Phase


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=tool("temporal-test-server"), data_converter=data_converter())
    yield env
    await env.shutdown()


async def test_undecided_plan_expires_after_the_timeout(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"ts-{uuid.uuid4().hex[:8]}")
    before = hashlib.sha256((settings.data_dir / INVENTORY_FILE).read_bytes()).hexdigest()
    async with running_worker(skipping_env.client, settings):
        wid = await client_ops.start_run(skipping_env.client, settings, approval_timeout_seconds=12 * 3600)
        await eventually(lambda: client_ops.get_status(skipping_env.client, wid),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, what="pending approval")
        await skipping_env.sleep(timedelta(hours=11, minutes=59))
        assert (await client_ops.get_status(skipping_env.client, wid)).phase is Phase.PENDING_APPROVAL
        await skipping_env.sleep(timedelta(minutes=2))
        result = await client_ops.result(skipping_env.client, wid)
    assert result.phase is Phase.EXPIRED
    assert result.decision is not None and result.decision.kind.value == "expired"
    assert hashlib.sha256((settings.data_dir / INVENTORY_FILE).read_bytes()).hexdigest() == before
    report = json.loads(Path(result.report.json_path).read_text())
    assert report["summary"].startswith("EXPIRED") and {a["outcome"] for a in report["actions"]} == {"skipped_unapproved"}


async def test_decision_just_before_the_deadline_still_counts(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"ts-{uuid.uuid4().hex[:8]}")
    async with running_worker(skipping_env.client, settings):
        wid = await client_ops.start_run(skipping_env.client, settings, approval_timeout_seconds=3600)
        await eventually(lambda: client_ops.get_status(skipping_env.client, wid),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, what="pending approval")
        await skipping_env.sleep(timedelta(minutes=59))
        status = await client_ops.get_status(skipping_env.client, wid)
        assert status.phase is Phase.PENDING_APPROVAL
        await client_ops.decide(skipping_env.client, wid, ApprovalRequest(action_ids=["A1"], approver="late.owl"))
        result = await client_ops.result(skipping_env.client, wid)
    assert result.phase is Phase.COMPLETED and result.decision and result.decision.by == "late.owl"
