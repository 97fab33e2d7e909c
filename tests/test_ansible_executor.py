"""EXECUTOR=ansible against local "devices": ansible-playbook (ansible-core, through ansible-runner)
runs the shipped playbooks with `ansible_connection: local` on one directory per device holding
its state files. Each action's playbook runs once, the ledger agrees with Ansible's own records, a
dry run is check mode only, a broken playbook fails naming its task, and a repair that does not
take is rolled back by its rollback playbook."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.client import Client

from conftest import ROOT, audit_log, running_worker
from helpers.local_devices import local_fleet
from maintenance_agent import client_ops
from maintenance_agent.config import Settings
from maintenance_agent.models.core import Outcome
from maintenance_agent.models.run import Phase


def playbook_runs(settings: Settings, step: str = "apply") -> dict[str, int]:
    """How many times ansible-runner ran `step` for each action id (its own artifacts say so)."""
    runs: dict[str, int] = {}
    for status in settings.reports_dir.rglob(f"ansible/*/{step}*/artifacts/run/status"):
        action_id = status.parents[3].name
        runs[action_id] = runs.get(action_id, 0) + 1
    return runs


async def test_each_action_runs_its_playbook_once_a_broken_one_fails_by_task_and_a_fix_that_does_not_take_rolls_back(
        client: Client, tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    broken = playbooks / "renew_contract.yml"
    broken.write_text(broken.read_text() + "    - name: call the vendor portal\n"
                                           "      ansible.builtin.fail:\n        msg: portal unreachable\n")
    fleet = local_fleet(tmp_path, playbooks=playbooks)
    statuses = {p.parent.name: p.read_text().strip() for p in fleet.devices.glob("*/status")}
    down = [eid for eid, status in statuses.items() if status == "Down"]
    degraded = [eid for eid, status in statuses.items() if status == "Degraded"]
    assert down and degraded, "seed 22 has devices down and degraded"
    for eid in down:
        (fleet.devices / eid / "fault").write_text("PSU\n")  # a fault no restart fixes
    async with running_worker(client, fleet.settings):
        wid = await client_ops.start_run(client, fleet.settings, auto_approve=True)
        result = await client_ops.result(client, wid)
        results = (await client_ops.get_results(client, wid)).results
    assert result.phase.terminal and result.actions == len(results) > 3, result
    assert {r.executor for r in results} == {"ansible"}
    by_outcome = {o: [r for r in results if r.outcome is o] for o in Outcome}

    renewals = [r for r in results if r.action.value == "renew_contract"]
    assert renewals and all(r.outcome is Outcome.FAILED and "call the vendor portal" in r.detail
                            and "portal unreachable" in r.detail for r in renewals), [r.detail for r in renewals]
    stubborn = [r for r in results if r.action.value == "restart_device" and r.equipment_id in down]
    assert stubborn and all(r.outcome is Outcome.ROLLED_BACK and "restart does not fix" in r.detail
                            for r in stubborn), [r.detail for r in stubborn]
    assert all(fleet.state(r.equipment_id, "status") == "Down" for r in stubborn), "the rollback restored it"
    fixed = [r for r in results if r.action.value == "restart_device" and r.equipment_id in degraded]
    assert fixed and all(r.outcome is Outcome.SUCCEEDED and fleet.state(r.equipment_id, "status") == "Operational"
                         for r in fixed), [r.detail for r in fixed]
    others = {r.action_id for r in results} - {r.action_id for r in [*renewals, *stubborn]}
    assert {r.action_id for r in by_outcome[Outcome.SUCCEEDED]} == others

    # Exactly once, and Ansible's own records agree with the ledger.
    ledger = [e for e in audit_log(fleet.settings.data_dir) if e.get("action_id")]
    assert sorted(e["action_id"] for e in ledger) == sorted(r.action_id for r in results), "one ledger line each"
    assert playbook_runs(fleet.settings) == {r.action_id: 1 for r in results}, "each apply playbook ran once"
    assert playbook_runs(fleet.settings, "rollback") == {r.action_id: 1 for r in stubborn}
    for e in ledger:
        assert e["result"]["playbooks"]["apply"]["status"] == ("failed" if e["action"] == "renew_contract"
                                                                else "successful"), e
        assert e["outcome"] == next(r.outcome.value for r in results if r.action_id == e["action_id"])


async def test_a_dry_run_is_check_mode_only_and_shows_each_diff(client: Client, tmp_path: Path) -> None:
    fleet = local_fleet(tmp_path)
    before = fleet.files()
    async with running_worker(client, fleet.settings):
        wid = await client_ops.start_run(client, fleet.settings, auto_approve=True, dry_run=True)
        result = await client_ops.result(client, wid)
        results = (await client_ops.get_results(client, wid)).results
    assert result.phase is Phase.COMPLETED and results
    assert fleet.files() == before, "check mode changed no state file of any device"
    assert playbook_runs(fleet.settings) == {} and len(playbook_runs(fleet.settings, "preview")) == len(results)
    restarts = [r for r in results if r.action.value == "restart_device"]
    assert restarts and all("would change" in r.observed and "+Operational" in r.observed for r in restarts)
