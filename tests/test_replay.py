"""Recorded histories (tests/histories, see record_histories.py) must replay on the current code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from maintenance_agent.connection import data_converter
from maintenance_agent.worker import WORKFLOWS, workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_enough_recorded_scenarios() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"auto_approved", "partial_approval", "rejected", "failed", "site_child", "proactive_agent",
            "proactive_approval_child"} <= names
    # waiting for approval under APPROVERS and the four-eyes rule when workers were upgraded to signed decisions
    assert "pending_four_eyes_before_proofs" in names
    # recorded after the ledger-per-run, agent-proof and signed-decision changes (their patched paths)
    assert {"v2_auto_approved", "v2_large_plan_site_children", "v2_site_child", "v2_proactive_agent",
            "v2_proactive_approval_child", "v2_signed_four_eyes"} <= names
    # recorded after site children asked their parent, single-use start proofs, the agent confirming
    # finished runs and runs proving their starter first
    assert {"v3_auto_approved", "v3_large_plan_site_children", "v3_site_child", "v3_proactive_agent",
            "v3_proactive_approval_child", "v3_signed_four_eyes"} <= names
    # recorded after the agent's runs paged PagerDuty and cycles were numbered across incarnations
    assert {"v4_notify_proactive_agent", "v4_notify_proactive_approval_child"} <= names
    # recorded after runs published their outcome (memo card, search attributes) at each phase change
    assert {"v4_listing_auto_approved", "v4_listing_rejected", "v4_listing_large_plan_site_children",
            "v4_listing_proactive_agent", "v4_listing_proactive_approval_child", "v4_listing_failed"} <= names
    # recorded with both of those and the report's after-state (observed evidence in every result)
    assert {"v5_auto_approved", "v5_rejected", "v5_large_plan_site_children", "v5_proactive_agent",
            "v5_proactive_approval_child", "v5_failed", "v5_signed_four_eyes"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    raw = json.loads(path.read_text())
    history = WorkflowHistory.from_json(raw.pop("workflow_id"), raw)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(), workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
