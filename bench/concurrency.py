#!/usr/bin/env python3
"""1,000 runs started at once and left waiting for approval, then all approved: time to all
pending, time to all completed, peak RSS of the embedded server and the worker, runs lost."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, cleanup, fleet, fresh_copy, save, scratch  # noqa: E402

RUNS = int(os.environ.get("BENCH_CONCURRENT_RUNS", "1000"))


class PeakRss:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0.0)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            try:
                rss = psutil.Process(pid).memory_info().rss / 2**20
                self.peak[name] = max(self.peak[name], rss)
            except psutil.NoSuchProcess:
                pass


async def measure(runs: int) -> dict:
    from conftest import free_port
    from maintenance_agent import client_ops
    from maintenance_agent.config import load_settings
    from maintenance_agent.embedded import SERVER_PID, ensure_running, stop, worker_record_path
    from maintenance_agent.embedded.processes import read_json
    from maintenance_agent.models.approval import ApprovalRequest
    from maintenance_agent.models.run import Phase

    work = scratch("concurrency")
    settings = load_settings(environ={
        "TEMPORAL_ADDRESS": f"localhost:{free_port()}", "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_STATE_DIR": str(work / "state"), "EMBEDDED_TEMPORAL": "auto", "MAX_FAILURES": "1000000",
        "TEMPORAL_TASK_QUEUE": f"bench-conc-{uuid.uuid4().hex[:6]}", "REPORTS_DIR": str(work / "reports"),
        "DATA_DIR": str(fresh_copy(fleet(50), work / "data"))})
    try:
        client, _ = await ensure_running(settings)
        rss = PeakRss({"server": int(read_json(settings.state_dir / SERVER_PID)["pid"]),
                       "worker": int(read_json(worker_record_path(settings))["pid"])})
        started = time.perf_counter()
        gate = asyncio.Semaphore(100)

        async def start() -> str:
            async with gate:
                return await client_ops.start_run(client, settings, approval_timeout_seconds=6 * 3600)

        ids = await asyncio.gather(*(start() for _ in range(runs)))
        started_all = time.perf_counter() - started

        async def phase(wid: str) -> Phase:
            async with gate:
                return (await client_ops.get_status(client, wid)).phase

        while True:
            rss.sample()
            phases = await asyncio.gather(*(phase(w) for w in ids))
            if all(p is Phase.PENDING_APPROVAL for p in phases):
                break
            await asyncio.sleep(1)
        pending_s = time.perf_counter() - started

        async def approve(wid: str) -> None:
            async with gate:
                await client_ops.decide(client, wid, ApprovalRequest(approver="bench.approver"))

        approve_started = time.perf_counter()
        await asyncio.gather(*(approve(w) for w in ids))
        results = []

        async def wait(wid: str) -> None:
            results.append(await client_ops.result(client, wid))

        waiter = asyncio.gather(*(wait(w) for w in ids))
        while not waiter.done():
            rss.sample()
            await asyncio.sleep(1)
        await waiter
        completed_s = time.perf_counter() - started
        lost = runs - sum(1 for r in results if r.phase is Phase.COMPLETED)
        outcomes = {k: sum(getattr(r.outcomes, k) for r in results) for k in ("succeeded", "stale", "rolled_back", "failed")}
        return {"runs": runs, "start_all_s": started_all, "all_pending_s": pending_s,
                "approve_to_all_completed_s": completed_s - (approve_started - started), "all_completed_s": completed_s,
                "peak_rss_mb": rss.peak, "lost": lost, "outcomes": outcomes}
    finally:
        stop(settings)
        log = work / "state" / "worker.log"
        if log.exists():  # kept for inspection: deadlock cut-offs, failed workflow tasks
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "concurrency-worker.log").write_bytes(log.read_bytes())
        cleanup(work)


def main(runs: int = RUNS) -> dict:
    figures = asyncio.run(measure(runs))
    save("concurrency", figures)
    print(f"{figures['runs']:,} concurrent runs: all started {figures['start_all_s']:.1f} s, all pending "
          f"{figures['all_pending_s']:.1f} s, all completed {figures['all_completed_s']:.1f} s "
          f"({figures['approve_to_all_completed_s']:.1f} s after approving); peak RSS server "
          f"{figures['peak_rss_mb']['server']:.0f} MB, worker {figures['peak_rss_mb']['worker']:.0f} MB; "
          f"lost {figures['lost']}; outcomes {figures['outcomes']}", flush=True)
    return figures


if __name__ == "__main__":
    main()
