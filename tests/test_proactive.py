"""The proactive agent on the time-skipping server: cycles, routine repairs, approvals that never
block monitoring, pause/resume/trigger/stop/set_interval, continue-as-new."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from conftest import audit_log, copy_fleet, eventually, running_worker, settings_for, tool, without_thermal_shutdowns
from maintenance_agent import client_ops
from maintenance_agent.connection import data_converter
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.proactive import ProactivePhase, ProactiveStatus
from maintenance_agent.models.run import Phase


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: workflows another test left waiting on a task queue
    nobody polls any more would otherwise stop time from skipping."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=tool("temporal-test-server"), data_converter=data_converter())
    yield env
    await env.shutdown()


def _settings(tmp_path: Path):  # noqa: ANN202
    return settings_for(tmp_path, data_dir=without_thermal_shutdowns(copy_fleet(tmp_path / "data")), task_queue=f"pro-{uuid.uuid4().hex[:8]}",
                        user_name=f"ops{uuid.uuid4().hex[:6]}")


async def _status(env: WorkflowEnvironment, settings, check, what: str) -> ProactiveStatus:  # noqa: ANN001
    return await eventually(lambda: client_ops.proactive_status(env.client, settings.user_name), check,
                            timeout=60, what=what)


def _waiting_after(cycle: int):  # noqa: ANN202
    return lambda s: s.cycle == cycle and s.phase is ProactivePhase.WAITING


async def test_cycles_routine_repairs_and_approvals_that_do_not_block(env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with running_worker(env.client, settings):
        wid, already = await client_ops.start_proactive(env.client, settings, interval_minutes=10)
        assert wid == f"always-be-maintainin-for-{settings.user_name}" and not already
        again, already = await client_ops.start_proactive(env.client, settings, interval_minutes=10)
        assert (again, already) == (wid, True), "starting again returns the running agent"

        first = await _status(env, settings, _waiting_after(1), "cycle 1")
        c1 = first.last_cycle
        assert c1 and c1.error is None and c1.routine_executed > 0 and c1.routine_outcomes.succeeded > 0
        assert c1.approval_run and [o.workflow_id for o in first.open_approvals] == [c1.approval_run]
        assert first.next_cycle_at == c1.finished_at + timedelta(minutes=10)
        routine_ids = {e["workflow_id"] for e in audit_log(settings.data_dir)}
        assert routine_ids == {c1.routine_run}, "only the routine run touched the fleet"
        child = await eventually(lambda: client_ops.get_status(env.client, c1.approval_run),
                                 lambda s: s.phase is Phase.PENDING_APPROVAL, what="the approval run's plan")
        assert child.pending_total == c1.proposed_for_approval

        await env.sleep(timedelta(minutes=10))
        second = await _status(env, settings, _waiting_after(2), "cycle 2 while cycle 1's approval is pending")
        c2 = second.last_cycle
        assert c2 and c2.started_at - c1.started_at >= timedelta(minutes=10)
        assert c2.excluded_pending > 0, "actions awaiting a decision are not proposed again"
        assert c2.approval_run is None and len(second.open_approvals) == 1
        assert (await client_ops.get_status(env.client, c1.approval_run)).phase is Phase.PENDING_APPROVAL

        # Approving the agent itself explains where its proposals wait, naming the open approval run.
        with pytest.raises(client_ops.OperationError) as refused:
            await client_ops.decide(env.client, wid, ApprovalRequest(approver="someone.else"))
        assert "is the proactive agent" in str(refused.value) and c1.approval_run in str(refused.value)
        assert "handler" not in str(refused.value)
        await client_ops.decide(env.client, c1.approval_run, ApprovalRequest(approve=False, approver="someone.else"))
        await _status(env, settings, lambda s: not s.open_approvals, "the rejected run to be forgotten")
        await env.sleep(timedelta(minutes=10))
        third = await _status(env, settings, _waiting_after(3), "cycle 3")
        c3 = third.last_cycle
        assert c3 and c3.approval_run and c3.approval_run != c1.approval_run, "a rejection does not block later cycles"
        assert c3.proposed_for_approval == c1.proposed_for_approval
        await client_ops.stop_proactive(env.client, settings.user_name)
        await _status(env, settings, lambda s: s.phase is ProactivePhase.STOPPED, "stop")


async def test_expired_approval_does_not_affect_later_cycles(env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with running_worker(env.client, settings):
        await client_ops.start_proactive(env.client, settings, interval_minutes=60, approval_timeout_seconds=1800)
        first = (await _status(env, settings, _waiting_after(1), "cycle 1")).last_cycle
        assert first and first.approval_run
        await env.sleep(timedelta(minutes=31))
        assert (await client_ops.get_status(env.client, first.approval_run)).phase is Phase.EXPIRED
        await _status(env, settings, lambda s: not s.open_approvals, "the expired run to be forgotten")
        await env.sleep(timedelta(minutes=30))
        second = (await _status(env, settings, _waiting_after(2), "cycle 2")).last_cycle
        assert second and second.approval_run and second.excluded_pending == 0
        await client_ops.stop_proactive(env.client, settings.user_name)


async def test_a_terminated_approval_run_is_forgotten(env: WorkflowEnvironment, tmp_path: Path) -> None:
    """A terminated approval run never reports back; the next cycle notices and proposes again."""
    settings = _settings(tmp_path)
    async with running_worker(env.client, settings):
        await client_ops.start_proactive(env.client, settings, interval_minutes=60)
        first = (await _status(env, settings, _waiting_after(1), "cycle 1")).last_cycle
        assert first and first.approval_run
        await env.client.get_workflow_handle(first.approval_run).terminate("operator cleanup")
        await client_ops.trigger_proactive(env.client, settings.user_name)
        status = await _status(env, settings, _waiting_after(2), "cycle 2")
        second = status.last_cycle
        assert second and second.excluded_pending == 0 and second.approval_run
        assert second.proposed_for_approval == first.proposed_for_approval
        assert [o.workflow_id for o in status.open_approvals] == [second.approval_run]
        await client_ops.stop_proactive(env.client, settings.user_name)


async def test_trigger_pause_resume_interval_and_stop(env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with running_worker(env.client, settings):
        await client_ops.start_proactive(env.client, settings, interval_minutes=60, auto_execute_routine=False)
        one = await _status(env, settings, _waiting_after(1), "cycle 1")
        assert one.last_cycle and one.last_cycle.routine_run is None, "without auto-execution nothing runs unasked"
        assert audit_log(settings.data_dir) == []

        await client_ops.trigger_proactive(env.client, settings.user_name)
        await _status(env, settings, _waiting_after(2), "triggered cycle 2")

        await client_ops.pause_proactive(env.client, settings.user_name)
        paused = await _status(env, settings, lambda s: s.phase is ProactivePhase.PAUSED, "pause")
        assert paused.paused and paused.next_cycle_at is None
        await env.sleep(timedelta(hours=3))
        assert (await client_ops.proactive_status(env.client, settings.user_name)).cycle == 2, "no cycles while paused"
        await client_ops.resume_proactive(env.client, settings.user_name)
        await _status(env, settings, _waiting_after(3), "overdue cycle right after resume")

        updated = await client_ops.set_proactive_interval(env.client, settings.user_name, 5)
        assert updated.interval_seconds == 300
        now = await _status(env, settings, lambda s: s.next_cycle_at is not None and s.interval_seconds == 300, "new time")
        assert now.last_cycle and now.next_cycle_at == now.last_cycle.finished_at + timedelta(minutes=5)
        for bad in (0, -3, 7 * 24 * 60 + 1):
            with pytest.raises((client_ops.OperationError, ValueError)):
                await client_ops.set_proactive_interval(env.client, settings.user_name, bad)
        await env.sleep(timedelta(minutes=5))
        await _status(env, settings, _waiting_after(4), "cycle 4 at the new interval")

        await client_ops.stop_proactive(env.client, settings.user_name)
        handle = env.client.get_workflow_handle(client_ops.proactive_workflow_id(settings.user_name))
        last = await handle.result()
        assert last["cycle"] == 4
        with pytest.raises(client_ops.RunNotFound):
            await client_ops.trigger_proactive(env.client, settings.user_name)


async def test_continue_as_new_keeps_state_and_id(client, tmp_path: Path) -> None:  # noqa: ANN001
    """On the real dev server (the time-skipping server does not follow queries across runs)."""
    settings = _settings(tmp_path)

    async def status(check, what):  # noqa: ANN001, ANN202
        return await eventually(lambda: client_ops.proactive_status(client, settings.user_name), check,
                                timeout=60, what=what)

    async with running_worker(client, settings):
        wid, _ = await client_ops.start_proactive(client, settings, interval_minutes=60,
                                                  continue_as_new_after_cycles=2)
        first = await status(_waiting_after(1), "cycle 1")
        await client_ops.trigger_proactive(client, settings.user_name)
        second = await status(lambda s: s.cycle == 2 and s.continued_as_new == 1 and s.phase is ProactivePhase.WAITING,
                              "cycle 2 then continue-as-new")
        assert second.run_id != first.run_id and second.workflow_id == wid
        assert [o.workflow_id for o in second.open_approvals] == [o.workflow_id for o in first.open_approvals]
        assert second.last_cycle and second.last_cycle.cycle == 2 and second.interval_seconds == 3600
        await client_ops.trigger_proactive(client, settings.user_name)
        third = await status(_waiting_after(3), "cycle 3 in the new run")
        assert third.last_cycle and third.last_cycle.excluded_pending > 0, "open approvals carried across"
        history = await client.get_workflow_handle(wid, run_id=first.run_id).fetch_history()
        assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
        await client_ops.stop_proactive(client, settings.user_name)
        await status(lambda s: s.phase is ProactivePhase.STOPPED, "stop")
        for run in {o.workflow_id for o in third.open_approvals}:
            await client.get_workflow_handle(run).terminate("test over")


def test_an_open_approval_holds_back_only_what_it_holds(tmp_path: Path) -> None:
    """Routine actions ran in their own run, so an approval run that is still open must not stop a
    later cycle from retrying one that failed; when routine work went to the approval run too, it does."""
    from temporalio.testing import ActivityEnvironment

    from maintenance_agent import artifacts
    from maintenance_agent.activities import MaintenanceActivities
    from maintenance_agent.models.activity_io import AnalyzeInput, DetectInput, PlanInput

    acts = MaintenanceActivities(data_dir=copy_fleet(tmp_path / "data"), reports_dir=tmp_path)
    env = ActivityEnvironment()

    def plan(name: str, **exclude: list[str]) -> list:  # noqa: ANN401
        directory = str(tmp_path / name)
        detected = env.run(acts.detect_fleet, DetectInput(run_id=name, artifact_dir=directory,
                                                          record_health=False))
        env.run(acts.analyze_findings, AnalyzeInput(artifact_dir=directory))
        env.run(acts.plan_maintenance, PlanInput(artifact_dir=directory, as_of=detected.as_of, **exclude))
        return artifacts.read(Path(directory), artifacts.PLAN, artifacts.PlanArtifact).actions

    first = plan("cycle-1")
    routine = {a.key for a in first if a.routine}
    assert routine and len(routine) < len(first)
    assert {a.key for a in plan("cycle-2", exclude_plans=[str(tmp_path / "cycle-1")])} == routine
    assert plan("cycle-3", exclude_plans_entirely=[str(tmp_path / "cycle-1")]) == []


async def test_a_thermal_shutdown_gets_its_cooling_in_one_cycle_and_its_restart_in_the_next(
        env: WorkflowEnvironment, tmp_path: Path) -> None:
    # The default fleet as shipped: EQ-10002 and EQ-10006 are down at a critical temperature.
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"pro-{uuid.uuid4().hex[:8]}",
                            user_name=f"ops{uuid.uuid4().hex[:6]}")
    shutdowns = {"EQ-10002", "EQ-10006"}
    async with running_worker(env.client, settings):
        await client_ops.start_proactive(env.client, settings, interval_minutes=10)
        first = await _status(env, settings, _waiting_after(1), "cycle 1")
        assert first.last_cycle and first.last_cycle.approval_run
        cooled = {(e["equipment_id"], e["action"]) for e in audit_log(settings.data_dir)
                  if e["outcome"] == "succeeded" and e["equipment_id"] in shutdowns}
        assert cooled == {(eid, "schedule_maintenance") for eid in shutdowns}, "the cooling runs first, routinely"
        await eventually(lambda: client_ops.get_status(env.client, first.last_cycle.approval_run),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, what="cycle 1's approval run's plan")
        proposed = (await client_ops.get_plan(env.client, first.last_cycle.approval_run)).actions
        assert proposed, "the approval run has planned"
        assert not [a for a in proposed if a.equipment_id in shutdowns and a.action.value == "restart_device"], \
            "no restart while the diagnosis says it would fail"

        await env.sleep(timedelta(minutes=10))
        second = await _status(env, settings, _waiting_after(2), "cycle 2")
        c2 = second.last_cycle
        assert c2 and c2.approval_run, "the cooled devices' restarts are new work for approval"
        await eventually(lambda: client_ops.get_status(env.client, c2.approval_run),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, what="cycle 2's approval run's plan")
        restarts = {a.equipment_id for a in (await client_ops.get_plan(env.client, c2.approval_run)).actions
                    if a.action.value == "restart_device"}
        assert restarts == shutdowns
        await client_ops.stop_proactive(env.client, settings.user_name)
