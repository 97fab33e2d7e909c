#!/usr/bin/env python3
"""Actions through the Ansible executor against `ansible-playbook` alone, on the same playbooks.

A generated fleet of local "devices" (a directory each, `ansible_connection: local`) big enough
for about ACTIONS planned actions is run once, auto-approved, with EXECUTOR=ansible (a real
Temporal dev server, an in-process worker): each action is an apply and a verify playbook run.
Then the fleet is reset and the same steps of the same actions (from the run's plan, with the same
inventory and variables) are run by `ansible-playbook` alone, PARALLEL at a time. It prints both
wall times, actions per second, the per-action overhead of the orchestration and the ratio, and
checks every apply ran exactly once.

    .venv/bin/python bench/ansible_executor.py [ACTIONS] [PARALLEL]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, cleanup, dev_server, save, scratch  # noqa: E402


def _devices_for(actions: int) -> int:
    """The smallest generated fleet (seed 42) whose plan has at least `actions` actions."""
    import orjson

    from maintenance_agent.core.analyze import analyze
    from maintenance_agent.core.detect import detect
    from maintenance_agent.core.plan import plan_actions
    from maintenance_agent.core.timeframe import analysis_time
    from maintenance_agent.datagen import generate_fleet
    from maintenance_agent.models.rules import Rules
    from maintenance_agent.store import validate_fleet

    devices = max(actions, 10)
    while True:
        docs = generate_fleet(devices, seed=42)
        f = validate_fleet(Path("bench"), {k: orjson.dumps(v) for k, v in docs.documents().items()})
        as_of = analysis_time(f.inventory.values(), f.health.values())
        d = detect(f.inventory, f.health, f.life_years(), Rules(), as_of)
        problems, _ = analyze(d.findings, d.facts, d.sites)
        if len(plan_actions(problems, d.findings, d.facts, d.firmware_baseline, Rules(), as_of)) >= actions:
            return devices
        devices += max(5, devices // 10)


async def _through_the_agent(work: Path, devices: int) -> tuple[float, list, dict, object]:
    from helpers.local_devices import local_fleet
    from maintenance_agent import client_ops
    from maintenance_agent.worker import build_worker

    fleet = local_fleet(work, devices=devices, seed=42)
    async with dev_server() as env, build_worker(env.client, fleet.settings):
        started = time.perf_counter()
        wid = await client_ops.start_run(env.client, fleet.settings, auto_approve=True)
        result = await client_ops.result(env.client, wid)
        seconds = time.perf_counter() - started
        planned = (await client_ops.get_plan(env.client, wid)).actions
    applies: dict[str, list[str]] = {}  # action id -> how each apply playbook run it started ended
    for marker in fleet.settings.reports_dir.rglob("ansible/*/apply*/artifacts/run/status"):
        applies.setdefault(marker.parents[3].name, []).append(marker.read_text().strip())
    return seconds, planned, applies, result


def _alone(work: Path, devices: int, actions: list, parallel: int) -> float:
    """The same apply and verify steps with ansible-playbook alone, `parallel` at a time."""
    from helpers.local_devices import local_fleet
    from maintenance_agent.executors.ansible import fleet_inventory
    from maintenance_agent.store import FleetStore

    fleet = local_fleet(work, devices=devices, seed=42)
    inventory = {eid: inv for eid, inv in FleetStore(fleet.settings.data_dir).snapshot().inventory.items()}
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0"}

    def run(action) -> None:  # noqa: ANN001
        folder = work / "alone" / action.id
        folder.mkdir(parents=True)
        device = inventory[action.equipment_id].model_dump(mode="json", exclude={"alerts"})
        (folder / "inventory.json").write_text(json.dumps(fleet_inventory(device)))
        spec = {"run_id": "alone", "action_id": action.id, "idempotency_key": f"alone/{action.id}",
                "action": action.action.value, "equipment_id": action.equipment_id, "site": action.site,
                "params": dict(action.params), "step": "apply"}
        (folder / "vars.json").write_text(json.dumps({"maintenance": spec, "device": device}))
        for playbook in (f"{action.action.value}.yml", f"{action.action.value}_verify.yml"):
            subprocess.run([str(bin_dir / "ansible-playbook"), "-i", str(folder / "inventory.json"), "-i",
                            str(fleet.settings.ansible_inventory), "--limit", action.equipment_id, "--diff",
                            "-e", f"@{folder / 'vars.json'}", str(ROOT / "playbooks" / playbook)],
                           env=env, cwd=folder, capture_output=True, check=False, timeout=120)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(run, actions))
    return time.perf_counter() - started


def main(actions: int = 200, parallel: int = 8) -> dict:
    devices = _devices_for(actions)
    work = scratch("ansible")
    try:
        ours, planned, applies, result = asyncio.run(_through_the_agent(work / "agent", devices))
        alone = _alone(work / "alone-fleet", devices, planned, parallel)
    finally:
        cleanup(work)
    n = len(planned)
    out = {"devices": devices, "actions": n, "parallel_alone": parallel, "agent_s": ours, "alone_s": alone,
           "agent_actions_per_s": n / ours, "alone_actions_per_s": n / alone,
           "overhead_per_action_s": (ours - alone) / n, "ratio": ours / alone,
           "applied_once": {a.id: ["successful"] for a in planned} == {k: [x for x in v if x != "canceled"]
                                                                      for k, v in applies.items()},
           "apply_runs_canceled": sum(v.count("canceled") for v in applies.values()),
           "outcomes": result.outcomes.model_dump() if hasattr(result, "outcomes") else {}}
    print(f"{n} actions ({devices} devices) through EXECUTOR=ansible: {ours:.1f} s ({out['agent_actions_per_s']:.2f} "
          f"actions/s); the same apply + verify playbooks with ansible-playbook alone, {parallel} at a time: "
          f"{alone:.1f} s ({out['alone_actions_per_s']:.2f} actions/s); overhead {out['overhead_per_action_s']:+.2f} s "
          f"per action, ratio {out['ratio']:.2f}; each apply completed exactly once: {out['applied_once']} "
          f"({out['apply_runs_canceled']} canceled mid-run by a retried attempt)", flush=True)
    save("ansible_executor", out)
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
