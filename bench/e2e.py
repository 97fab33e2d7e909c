#!/usr/bin/env python3
"""End-to-end single runs with --auto-approve through run_monitoring_agent.py on the embedded
server (SQLite, background worker), at 50, 10,000 and 100,000 devices: wall time, actions
executed, history size and events of the parent and the largest child, exactly-once check."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, cleanup, fleet, fresh_copy, median, save, scratch  # noqa: E402

SIZES = {50: 5, 10_000: 2, 100_000: 1}


def environment(work: Path, port: int, ui: int) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": f"localhost:{port}", "TEMPORAL_UI_PORT": str(ui),
            "TEMPORAL_STATE_DIR": str(work / "state"), "EMBEDDED_TEMPORAL": "auto",
            "TEMPORAL_TASK_QUEUE": f"bench-e2e-{uuid.uuid4().hex[:6]}", "MAX_FAILURES": "1000000",
            "REPORTS_DIR": str(work / "reports"), "ENV_FILE": os.devnull}


async def history_figures(env: dict[str, str], workflow_id: str) -> dict:
    from maintenance_agent.config import load_settings
    from maintenance_agent.connection import connect

    client = await connect(load_settings(environ=env))

    async def figures(wid: str, run_id: str | None = None) -> tuple[int, int]:
        info = (await client.get_workflow_handle(wid, run_id=run_id).describe()).raw_description.workflow_execution_info
        return info.history_length, info.history_size_bytes

    parent = await figures(workflow_id)
    desc = await client.get_workflow_handle(workflow_id).describe()
    children = [(w.id, w.run_id) async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{workflow_id}/site-'")]
    sizes = [await figures(wid, rid) for wid, rid in children]
    largest = max(sizes, key=lambda s: s[1]) if sizes else (0, 0)
    return {"workflow_s": (desc.close_time - desc.start_time).total_seconds(),
            "parent_events": parent[0], "parent_bytes": parent[1], "child_runs": len(sizes),
            "largest_child_events": largest[0], "largest_child_bytes": largest[1],
            "max_child_events": max((s[0] for s in sizes), default=0)}


def slow_tasks(worker_log: Path) -> int:
    """Workflow activations the SDK's deadlock detector cut off (they are retried, but cost time)."""
    try:
        return worker_log.read_text(errors="replace").count("_DeadlockError:")
    except FileNotFoundError:
        return 0


def run_once(devices: int, work: Path, env: dict[str, str]) -> dict:
    data = fresh_copy(fleet(devices), work / "data")  # the background worker's DATA_DIR, reset for each run
    run_env = {**env, "DATA_DIR": str(data)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "run_monitoring_agent.py"), "--auto-approve", "--json"],
                          env=run_env, capture_output=True, text=True, timeout=6 * 3600)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(proc.stderr[-2000:])
    result = json.loads(proc.stdout)
    ledger_path = data / ".agent" / "audit.jsonl"
    entries = [json.loads(line) for line in ledger_path.read_text().splitlines()]
    per_action = Counter(e["action_id"] for e in entries if e.get("workflow_id") == result["workflow_id"])
    history = asyncio.run(history_figures(run_env, result["workflow_id"]))
    return {"wall_s": wall, "phase": result["phase"], "actions_planned": result["actions"],
            "actions_executed": sum(per_action.values()), "applied_twice": sum(1 for n in per_action.values() if n > 1),
            "outcomes": result["outcomes"], "workflow_id": result["workflow_id"], **history}


def main(sizes: dict[int, int] = SIZES) -> dict:
    from conftest import free_port

    work = scratch("e2e")
    env = environment(work, free_port(), free_port())
    results: dict[str, dict] = {}
    try:
        warm = run_once(50, work, env)  # starts the embedded server and worker; not counted
        del warm
        log = work / "state" / "worker.log"
        seen_slow = slow_tasks(log)
        for devices, repeats in sizes.items():
            fleet(devices)
            runs = [run_once(devices, work, env) for _ in range(repeats)]
            slow, seen_slow = slow_tasks(log) - seen_slow, slow_tasks(log)
            r = {"wall_s": median([x["wall_s"] for x in runs]), "workflow_s": median([x["workflow_s"] for x in runs]),
                 "repeats": repeats, "runs": runs,
                 **{k: max(x[k] for x in runs) for k in ("parent_events", "parent_bytes", "largest_child_events",
                                                           "largest_child_bytes", "max_child_events", "applied_twice")},
                 "actions_executed": runs[0]["actions_executed"], "actions_planned": runs[0]["actions_planned"],
                 "slow_workflow_tasks": slow}
            results[str(devices)] = r
            print(f"e2e {devices:>7,} devices: {r['wall_s']:8.2f} s process wall, {r['workflow_s']:.2f} s workflow "
                  f"start-to-close (median of {repeats}), "
                  f"{r['actions_executed']:,}/{r['actions_planned']:,} actions executed, applied twice: "
                  f"{r['applied_twice']}; parent history {r['parent_events']:,} events / {r['parent_bytes'] / 1e6:.2f} MB; "
                  f"largest child {r['largest_child_events']:,} events / {r['largest_child_bytes'] / 1e6:.2f} MB; "
                  f"workflow tasks over the 2 s deadlock limit: {slow}",
                  flush=True)
    finally:
        subprocess.run([sys.executable, "-m", "maintenance_agent.embedded", "stop"], env=env, capture_output=True)
        cleanup(work)
    save("e2e", results)
    return results


if __name__ == "__main__":
    wanted = [int(a) for a in sys.argv[1:]] or list(SIZES)
    repeats = os.environ.get("BENCH_REPEATS")
    main({n: int(repeats) if repeats else SIZES.get(n, 1) for n in wanted})
