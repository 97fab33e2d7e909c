#!/usr/bin/env python3
"""Chaos suite: `make chaos` (20 trials) or `python tests/chaos.py --trials N`; 2 trials run in the
normal test suite (test_chaos.py).

Each trial, on a freshly generated fleet and a real dev server with a SQLite file:
- run A (auto-approved) executes while the worker process is SIGKILLed at a random point and
  restarted;
- runs B and C wait for approval while the dev server itself is SIGKILLed and restarted;
- B then gets a random subset approved, C is rejected;
- runs D and E, both auto-approved, execute at the same time on the same fleet;
- a proactive agent runs a cycle, is stopped with its approval run still open, and is started
  again (a new incarnation that counts its cycles from 1 again);
- the worker injects failures into 30 % of action attempts, before or after the commit.
Afterwards: every run reached its expected outcome, every approved action was applied exactly once
(ledger, report and data agree), no repair was tried on a device by two runs (whoever planned
it), the restarted agent proposed nothing still awaiting approval and left the earlier plan as it
was, every data file is valid, and no committed change was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import ROOT, audit_log, eventually, free_port  # noqa: E402
from helpers.faulty_worker import worker_command  # noqa: E402
from maintenance_agent import client_ops  # noqa: E402
from maintenance_agent.config import Settings, load_settings, settings_environment  # noqa: E402
from maintenance_agent.connection import TemporalUnavailable, connect  # noqa: E402
from maintenance_agent.datagen import generate_fleet, write_fleet  # noqa: E402
from maintenance_agent.embedded import port_open, server_command  # noqa: E402
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.core import DISRUPTIVE_ACTIONS  # noqa: E402
from maintenance_agent.models.fleet import FLEET_FILES  # noqa: E402
from maintenance_agent.models.run import Phase
from maintenance_agent.store import FleetStore  # noqa: E402

DISRUPTIVE = {a.value for a in DISRUPTIVE_ACTIONS}
FAULT_RATE = 0.3
OPERATION_MS = 30
ACTION_DELAY_MS = 40


@dataclass
class Stats:
    trials: int = 0
    worker_kills: int = 0
    server_restarts: int = 0
    injected_faults: int = 0
    runs_started: int = 0
    runs_as_expected: int = 0
    actions_applied: int = 0
    duplicate_applications: int = 0
    lost_updates: int = 0
    invalid_files: int = 0
    concurrent_runs: int = 0
    agent_restarts: int = 0
    repeated_disruptive: int = 0
    report_ledger_mismatches: int = 0
    repeated_proposals: int = 0
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [("trials", self.trials), ("worker SIGKILLs", self.worker_kills),
                ("dev server restarts", self.server_restarts), ("injected faults", self.injected_faults),
                ("runs started", self.runs_started), ("runs completed as expected", self.runs_as_expected),
                ("actions applied", self.actions_applied),
                ("concurrent auto-approved runs", self.concurrent_runs),
                ("proactive agent restarts", self.agent_restarts),
                ("duplicate applications (must be 0)", self.duplicate_applications),
                ("repeated disruptive attempts (must be 0)", self.repeated_disruptive),
                ("report/ledger mismatches (must be 0)", self.report_ledger_mismatches),
                ("proposals repeated after a restart (must be 0)", self.repeated_proposals),
                ("lost updates (must be 0)", self.lost_updates), ("invalid data files (must be 0)", self.invalid_files)]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name.ljust(width)}  {value:>8,}" for name, value in rows)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.duplicate_applications == 0 and self.lost_updates == 0
                and self.invalid_files == 0 and self.repeated_disruptive == 0 and self.report_ledger_mismatches == 0
                and self.repeated_proposals == 0 and self.runs_as_expected == self.runs_started)


class Cluster:
    """A dev server with a SQLite file and a worker process, both killable."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.settings = load_settings(environ={
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "TEMPORAL_UI_PORT": str(free_port()),
            "TEMPORAL_STATE_DIR": str(work / "state"), "EMBEDDED_TEMPORAL": "never", "MAX_FAILURES": "1000000",
            "TEMPORAL_TASK_QUEUE": f"chaos-{uuid.uuid4().hex[:6]}", "REPORTS_DIR": str(work / "reports"),
            "DATA_DIR": str(work / "unused")})
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.fault_log = work / "injected-faults.log"

    @property
    def injected_faults(self) -> int:
        return len(self.fault_log.read_text().splitlines()) if self.fault_log.exists() else 0

    async def start_server(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.settings.state_dir / "server.log", "ab")
        self.server = subprocess.Popen(server_command(self.settings), stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)

        async def ready() -> bool:
            if not port_open("127.0.0.1", self.settings.temporal_port):
                return False
            try:
                await connect(self.settings, timeout_seconds=2)
                return True
            except TemporalUnavailable:
                return False

        await eventually(ready, bool, timeout=60, interval=0.1, what="the dev server")

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(30)

    def start_worker(self) -> None:
        env = {**os.environ, **settings_environment(self.settings), "ENV_FILE": os.devnull,
               "MAINTENANCE_AGENT_TEST_FAULT_RATE": str(FAULT_RATE),
               "MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS": str(ACTION_DELAY_MS),
               # Disruptive operations take time, holding their site and device leases (and some are
               # killed while they hold them).
               "MAINTENANCE_AGENT_TEST_OPERATION_MS": str(OPERATION_MS),
               "MAINTENANCE_AGENT_TEST_FAULT_LOG": str(self.fault_log)}
        log = open(self.work / "worker.log", "ab")
        self.worker = subprocess.Popen(worker_command(), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def use_fleet(self, data: Path) -> None:
        if self.worker is not None:
            self.kill_worker()
        self.settings = self.settings.model_copy(update={"data_dir": data})
        self.start_worker()

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(30)

    def shutdown(self) -> None:
        for proc in (self.worker, self.server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)


async def trial(index: int, cluster: Cluster, stats: Stats, rng: random.Random) -> None:
    data = cluster.work / f"trial-{index}" / "data"
    write_fleet(generate_fleet(rng.randint(40, 80), 10_000 + index), data)
    cluster.use_fleet(data)  # a worker owns its DATA_DIR: this trial's fleet gets its own worker
    settings: Settings = cluster.settings
    client = await connect(settings)
    run_a = await client_ops.start_run(client, settings, auto_approve=True)
    run_b = await client_ops.start_run(client, settings)
    run_c = await client_ops.start_run(client, settings)
    stats.runs_started += 3

    # Kill the worker somewhere in the middle of A's execution, then start a new one.
    kill_after = rng.randint(1, 12)
    await eventually(lambda: client_ops.get_status(client, run_a),
                     lambda s: s.phase.terminal or (s.phase is Phase.EXECUTING and s.executed >= kill_after),
                     timeout=180, what="run A under way")
    cluster.kill_worker()
    stats.worker_kills += 1
    await asyncio.sleep(rng.uniform(0, 1.5))  # a random moment: the kill, not the test, is what is random
    cluster.start_worker()

    # Restart the server itself while B and C wait for a decision.
    for run in (run_b, run_c):
        await eventually(lambda r=run: client_ops.get_status(client, r),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, timeout=180, what="approval wait")
    cluster.kill_server()
    await cluster.start_server()
    stats.server_restarts += 1
    client = await connect(settings)

    plan_b = await eventually(lambda: client_ops.get_plan(client, run_b), lambda p: p.total > 0, timeout=120,
                              what="B's plan after the restart")
    chosen = sorted(rng.sample([a.id for a in plan_b.actions], k=max(1, plan_b.total // 2)), key=lambda i: int(i[1:]))
    await client_ops.decide(client, run_b, ApprovalRequest(action_ids=chosen, approver="chaos.approver"))
    await client_ops.decide(client, run_c, ApprovalRequest(approve=False, approver="chaos.approver"))

    expected = {run_a: Phase.COMPLETED, run_b: Phase.COMPLETED, run_c: Phase.REJECTED}
    for run, result in (await _awaited(client, [run_a, run_b, run_c])).items():
        _expect(stats, index, run, result.phase, expected[run])
    # Two auto-approved runs at once on the fleet A and B just worked on (faults still injected).
    concurrent = [await client_ops.start_run(client, settings, auto_approve=True) for _ in range(2)]
    stats.runs_started += 2
    stats.concurrent_runs += 2
    for run, result in (await _awaited(client, concurrent)).items():
        _expect(stats, index, run, result.phase, Phase.COMPLETED)
        expected[run] = Phase.COMPLETED
    agent_runs = await _restarted_agent(index, client, settings, stats)
    results = await _awaited(client, list(expected) + agent_runs)

    # Exactly once: ledger, report and data agree. The files are read as the runs left them (each run
    # writes its changes into them at its end); nothing is compacted here first.
    ledger = audit_log(data)
    for run in results:
        mine = [e for e in ledger if e.get("workflow_id") == run]
        counts = Counter(e["action_id"] for e in mine)
        stats.duplicate_applications += sum(n - 1 for n in counts.values())
        stats.actions_applied += sum(1 for e in mine if e["outcome"] == "succeeded")
        stats.report_ledger_mismatches += _mismatches(index, run, results[run], mine, stats)
    # Runs planned against the same state never both try a disruptive repair on a device: the later one
    # finds it stale (changed since planning, or just failed or rolled back by the other).
    for planned_together in ({run_a, run_b, run_c}, set(concurrent)):
        tried = Counter((e["equipment_id"], e["action"]) for e in ledger if e.get("workflow_id") in planned_together
                        and e.get("action") in DISRUPTIVE and e["outcome"] != "stale")
        repeated = sorted(key for key, n in tried.items() if n > 1)
        stats.repeated_disruptive += len(repeated)
        if repeated:
            stats.problems.append(f"trial {index}: disruptive repairs tried twice: {repeated[:5]}")
    for name in FLEET_FILES:
        try:
            json.loads((data / name).read_text())
        except (OSError, ValueError):
            stats.invalid_files += 1
    _check_no_lost_update(index, data, ledger, stats)
    stats.trials += 1


async def _awaited(client, runs: list[str]) -> dict:  # noqa: ANN001
    return {run: await asyncio.wait_for(client_ops.result(client, run), timeout=600) for run in runs}


def _expect(stats: Stats, index: int, run: str, phase: Phase, expected: Phase) -> None:
    if phase is expected:
        stats.runs_as_expected += 1
    else:
        stats.problems.append(f"trial {index}: {run} ended {phase.value}, expected {expected.value}")


def _mismatches(index: int, run: str, result, mine: list[dict], stats: Stats) -> int:  # noqa: ANN001
    """Actions whose report disagrees with the ledger: approved but absent from it (or the reverse),
    or recorded with another outcome."""
    report = json.loads(Path(result.report.json_path).read_text())
    recorded = {e["action_id"]: e["outcome"] for e in mine}
    ran = {a["id"]: a["outcome"] for a in report["actions"] if a["approved"] and a["outcome"] != "not_run"}
    wrong = sorted(set(recorded) ^ set(ran)) + sorted(i for i in set(recorded) & set(ran) if recorded[i] != ran[i])
    if wrong:
        stats.problems.append(f"trial {index}: {run}: report and ledger disagree on {wrong[:5]}")
    return len(wrong)


async def _restarted_agent(index: int, client, settings: Settings, stats: Stats) -> list[str]:  # noqa: ANN001
    """Run the proactive agent for a cycle, stop it with its approval run open, start it again; return
    the runs it started (their reports are checked with the rest)."""
    from maintenance_agent import artifacts
    from maintenance_agent.models.proactive import ProactivePhase

    user = settings.user_name

    def plan_keys(artifact_dir: str) -> set[tuple[str, str]]:
        actions = artifacts.read(settings.reports_dir / artifact_dir, artifacts.PLAN, artifacts.PlanArtifact).actions
        return {(a.equipment_id, a.action.value) for a in actions if not a.routine}

    problems_before = len(stats.problems)
    try:  # an earlier trial's agent (same user, same REPORTS_DIR): this one's cycles are numbered on from it
        earlier = (await client_ops.proactive_status(client, user)).run_id
    except client_ops.RunNotFound:
        earlier = None
    await client_ops.start_proactive(client, settings, interval_minutes=600)
    stats.runs_started += 1
    first = await eventually(lambda: client_ops.proactive_status(client, user),
                             lambda s: s.run_id != earlier and s.last_cycle is not None and s.phase is ProactivePhase.WAITING,
                             timeout=300, what="the agent's first cycle")
    waiting = {o.workflow_id: o for o in first.open_approvals}
    pending = set().union(*(plan_keys(o.artifact_dir) for o in waiting.values())) if waiting else set()
    plans_before = {o.workflow_id: (settings.reports_dir / o.artifact_dir / artifacts.PLAN).read_bytes()
                    for o in waiting.values()}
    await client_ops.stop_proactive(client, user)
    await eventually(lambda: client.get_workflow_handle(client_ops.proactive_workflow_id(user)).describe(),
                     lambda d: d.close_time is not None, timeout=300, what="the agent to stop")
    await client_ops.start_proactive(client, settings, interval_minutes=600)
    stats.agent_restarts += 1
    second = await eventually(lambda: client_ops.proactive_status(client, user),
                              lambda s: s.run_id != first.run_id and s.last_cycle is not None
                              and s.phase is ProactivePhase.WAITING, timeout=300, what="the new incarnation's first cycle")
    if second.cycle != first.cycle + 1:
        stats.problems.append(f"trial {index}: the restarted agent numbered its cycle {second.cycle}, "
                              f"not {first.cycle + 1}")
    for run in second.open_approvals:
        if run.workflow_id not in waiting:
            again = plan_keys(run.artifact_dir) & pending
            stats.repeated_proposals += len(again)
            if again:
                stats.problems.append(f"trial {index}: proposed again after the restart: {sorted(again)[:5]}")
    for workflow_id, before in plans_before.items():
        if (settings.reports_dir / waiting[workflow_id].artifact_dir / artifacts.PLAN).read_bytes() != before:
            stats.problems.append(f"trial {index}: the restarted agent overwrote the plan of {workflow_id}")
    await client_ops.stop_proactive(client, user)
    errors = [c.error for c in (first.last_cycle, second.last_cycle) if c.error]
    for error in errors:
        stats.problems.append(f"trial {index}: an agent cycle failed: {error}")
    if not errors and len(stats.problems) == problems_before:
        stats.runs_as_expected += 1
    for run in {o.workflow_id for o in first.open_approvals + second.open_approvals}:
        await client_ops.decide(client, run, ApprovalRequest(approve=False, approver="chaos.approver"))
    return [r for r in (first.last_cycle.routine_run, second.last_cycle.routine_run) if r] + sorted(
        {o.workflow_id for o in first.open_approvals + second.open_approvals})


def _check_no_lost_update(index: int, data: Path, ledger: list[dict], stats: Stats) -> None:
    """Every device holds the state of the last change committed to it, in the files and in a fresh
    load, and each change started from the state the one before it left."""
    on_disk = {d["id"]: d for d in json.loads((data / FLEET_FILES[0]).read_text())["infrastructure_inventory"]}
    fleet = FleetStore(data).load()
    applied = [e for e in sorted(ledger, key=lambda e: e["seq"]) if e["outcome"] == "succeeded"]
    latest = {e["equipment_id"]: e for e in applied}
    for eid, entry in latest.items():
        if on_disk[eid] != entry["after"]["inventory"] or fleet.inventory[eid].model_dump(mode="json", exclude_unset=True) \
                != entry["after"]["inventory"]:
            stats.lost_updates += 1
    # Each change starts from the state the previous change to that device left: none was overwritten.
    previous: dict[str, dict] = {}
    for entry in applied:
        eid = entry["equipment_id"]
        if eid in previous and entry["before"]["inventory"] != previous[eid]:
            stats.lost_updates += 1
            stats.problems.append(f"trial {index}: change {entry['seq']} to {eid} did not start from change before it")
        previous[eid] = entry["after"]["inventory"]


async def run(trials: int, seed: int, work: Path) -> Stats:
    stats = Stats()
    rng = random.Random(seed)
    cluster = Cluster(work)
    try:
        await cluster.start_server()
        for index in range(trials):
            started = time.monotonic()
            await trial(index, cluster, stats, rng)
            stats.injected_faults = cluster.injected_faults
            print(f"trial {index + 1}/{trials} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        cluster.shutdown()
    return stats


def main() -> int:
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description="Crash, restart and fault-injection trials against a real Temporal.")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    started = time.monotonic()
    try:
        stats = asyncio.run(run(args.trials, args.seed, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(stats.table())
    print(f"({time.monotonic() - started:.0f} s; fault rate {FAULT_RATE:.0%} of action attempts)")
    for problem in stats.problems:
        print(f"PROBLEM: {problem}")
    return 0 if stats.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
