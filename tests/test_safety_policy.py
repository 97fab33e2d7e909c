"""No high-risk action is ever executed without an approval record — over many generated fleets."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from temporalio.client import Client

from conftest import eventually, running_worker, settings_for
from maintenance_agent import artifacts, client_ops
from maintenance_agent.core.analyze import analyze
from maintenance_agent.core.detect import detect
from maintenance_agent.core.plan import plan_actions
from maintenance_agent.core.timeframe import analysis_time
from maintenance_agent.datagen import generate_fleet, write_fleet
from maintenance_agent.models.core import Risk
from maintenance_agent.models.fleet import HealthFile, InventoryFile, LifeFile
from maintenance_agent.models.proactive import ProactivePhase
from maintenance_agent.models.rules import Rules
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME


def _plan(devices: int, seed: int, rules: Rules):  # noqa: ANN202
    docs = generate_fleet(devices, seed).documents()
    inv = InventoryFile.model_validate_json(orjson.dumps(docs["infrastructure_inventory.json"])).infrastructure_inventory
    hm = HealthFile.model_validate_json(orjson.dumps(docs["health_metrics.json"])).health_metrics
    life = LifeFile.model_validate_json(orjson.dumps(docs["equipment_life_expectancy.json"])).equipment_life_expectancy
    inventory = {i.id: i for i in inv}
    health = {h.equipment_id: h for h in hm}
    as_of = analysis_time(inventory.values(), health.values())
    d = detect(inventory, health, {(x.vendor, x.model): float(x.expected_life_years) for x in life}, rules, as_of)
    problems, _ = analyze(d.findings, d.facts, d.sites)
    return plan_actions(problems, d.findings, d.facts, d.firmware_baseline, rules, as_of)


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(devices=st.integers(1, 150), seed=st.integers(0, 2**31), threshold=st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]))
def test_only_low_risk_confident_actions_are_ever_routine(devices: int, seed: int, threshold: float) -> None:
    rules = Rules(routine_confidence=threshold)
    for action in _plan(devices, seed, rules):
        assert action.routine == (action.risk is Risk.LOW and action.confidence >= threshold), action
        if action.risk is not Risk.LOW:
            assert not action.routine


async def test_proactive_agent_never_executes_unapproved_risky_actions(client: Client, tmp_path: Path) -> None:
    """Eight generated fleets, one proactive cycle each with routine auto-execution on and nobody
    approving: everything that reached the fleet is routine and low-risk."""
    fleets = []
    async with contextlib.AsyncExitStack() as workers:
        for seed in range(8):
            data = tmp_path / f"fleet{seed}" / "data"
            write_fleet(generate_fleet(40 + 10 * seed, 1000 + seed), data)
            settings = settings_for(tmp_path / f"fleet{seed}", data_dir=data, task_queue=f"policy-{uuid.uuid4().hex[:8]}",
                                    user_name=f"policy{seed}-{uuid.uuid4().hex[:4]}")
            await workers.enter_async_context(running_worker(client, settings))  # a worker owns one DATA_DIR
            await client_ops.start_proactive(client, settings, interval_minutes=600)
            fleets.append(settings)
        statuses = [await eventually(lambda s=s: client_ops.proactive_status(client, s.user_name),
                                     lambda st_: st_.cycle == 1 and st_.phase is ProactivePhase.WAITING,
                                     timeout=120, what="first cycle") for s in fleets]
        for settings, status in zip(fleets, statuses, strict=True):
            await client_ops.stop_proactive(client, settings.user_name)
            for run in status.open_approvals:
                await client.get_workflow_handle(run.workflow_id).terminate("test over")
    executed = 0
    risky_planned = 0
    for settings, status in zip(fleets, statuses, strict=True):
        cycle = status.last_cycle
        assert cycle and cycle.error is None
        cycle_dir = Path(settings.reports_dir) / cycle.artifact_dir
        plan = {a.id: a for a in artifacts.read(cycle_dir, artifacts.PLAN, artifacts.PlanArtifact).actions}
        risky_planned += sum(1 for a in plan.values() if a.risk is not Risk.LOW)
        audit = settings.data_dir / STATE_DIRNAME / AUDIT_FILE
        ledger = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
        for entry in ledger:
            assert entry["workflow_id"] == cycle.routine_run, "only the routine run may change the fleet unasked"
            action = plan[entry["action_id"]]
            assert action.routine and action.risk is Risk.LOW, action
            executed += 1
        # and every action the fleet did not see is still waiting for a person in the approval run
        proposed = {a.id for a in plan.values() if not a.routine}
        assert {e["action_id"] for e in ledger}.isdisjoint(proposed)
        assert cycle.proposed_for_approval == len(proposed)
    assert executed > 0, "routine work did run, so the check above saw real executions"
    assert risky_planned > 0, "the fleets did call for risky repairs: they were proposed, not executed"
