#!/usr/bin/env python3
"""Chaos suite: `make chaos` (20 trials) or `python tests/chaos.py --trials N`; 2 trials run in the
normal test suite (test_chaos.py).

Each trial, on a freshly generated fleet and a real dev server with a SQLite file:
- run A (auto-approved) executes while the worker process is SIGKILLed at a random point and
  restarted;
- runs B and C wait for approval while the dev server itself is SIGKILLed and restarted;
- B then gets a random subset approved, C is rejected;
- the worker injects failures into 30 % of action attempts, before or after the commit.
Afterwards: every run reached its expected outcome, every approved action was applied exactly once
(ledger, report and data agree), every data file is valid, and no committed change was lost.
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

from conftest import ROOT, eventually, free_port  # noqa: E402

from maintenance_agent import client_ops  # noqa: E402
from maintenance_agent.config import Settings, load_settings, settings_environment  # noqa: E402
from maintenance_agent.connection import TemporalUnavailable, connect  # noqa: E402
from maintenance_agent.datagen import generate_fleet, write_fleet  # noqa: E402
from maintenance_agent.embedded import port_open, server_command  # noqa: E402
from maintenance_agent.models.fleet import FLEET_FILES  # noqa: E402
from maintenance_agent.models.workflow import ApprovalRequest, Phase  # noqa: E402
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME, FleetStore  # noqa: E402

FAULT_RATE = 0.3
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
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [("trials", self.trials), ("worker SIGKILLs", self.worker_kills),
                ("dev server restarts", self.server_restarts), ("injected faults", self.injected_faults),
                ("runs started", self.runs_started), ("runs completed as expected", self.runs_as_expected),
                ("actions applied", self.actions_applied),
                ("duplicate applications (must be 0)", self.duplicate_applications),
                ("lost updates (must be 0)", self.lost_updates), ("invalid data files (must be 0)", self.invalid_files)]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name.ljust(width)}  {value:>8,}" for name, value in rows)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.duplicate_applications == 0 and self.lost_updates == 0
                and self.invalid_files == 0 and self.runs_as_expected == self.runs_started)


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
               "MAINTENANCE_AGENT_TEST_FAULT_LOG": str(self.fault_log)}
        log = open(self.work / "worker.log", "ab")
        self.worker = subprocess.Popen([sys.executable, "-m", "maintenance_agent.worker"], env=env, cwd=ROOT,
                                       stdout=log, stderr=subprocess.STDOUT)

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


def _ledger(data: Path) -> list[dict]:
    path = data / STATE_DIRNAME / AUDIT_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


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
    results = {}
    for run, phase in expected.items():
        result = await asyncio.wait_for(client_ops.result(client, run), timeout=600)
        results[run] = result
        if result.phase is phase:
            stats.runs_as_expected += 1
        else:
            stats.problems.append(f"trial {index}: {run} ended {result.phase.value}, expected {phase.value}")

    # Exactly once: ledger, report and data agree. The files are read as the runs left them (each run
    # writes its changes into them at its end); nothing is compacted here first.
    ledger = _ledger(data)
    for run in (run_a, run_b, run_c):
        mine = [e for e in ledger if e.get("workflow_id") == run]
        counts = Counter(e["action_id"] for e in mine)
        stats.duplicate_applications += sum(n - 1 for n in counts.values())
        stats.actions_applied += sum(1 for e in mine if e["outcome"] == "succeeded")
        report = json.loads(Path(results[run].report.json_path).read_text())
        approved = {a["id"] for a in report["actions"] if a["approved"]}
        if set(counts) != approved:
            stats.problems.append(f"trial {index}: {run}: approved {len(approved)} actions, ledger has {len(counts)}")
        for action in report["actions"]:
            recorded = next((e["outcome"] for e in mine if e["action_id"] == action["id"]), None)
            if recorded is not None and recorded != action["outcome"]:
                stats.problems.append(f"trial {index}: {action['id']} reported {action['outcome']}, ledger {recorded}")
    for name in FLEET_FILES:
        try:
            json.loads((data / name).read_text())
        except (OSError, ValueError):
            stats.invalid_files += 1
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
    stats.trials += 1


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
