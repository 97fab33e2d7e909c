#!/usr/bin/env python3
"""The 50-device auto-approved run against a bare workflow of the same shape, side by side."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import cleanup, dev_server, fleet, fresh_copy, median, save, scratch, settings_for  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


async def measure() -> dict:
    from bare import BareInput, BareShapeWorkflow, Slot, noop
    from temporalio.worker import Worker

    from conftest import running_worker
    from maintenance_agent import artifacts, client_ops
    from maintenance_agent.worker import MAX_CONCURRENT_ACTIVITIES

    work = scratch("overhead")
    real, bare = [], []
    try:
        async with dev_server() as env:
            client = env.client
            tq = f"bench-ovh-{uuid.uuid4().hex[:6]}"
            settings = settings_for(work, task_queue=tq, data_dir=work / "data")
            bare_worker = Worker(client, task_queue=tq + "-bare", workflows=[BareShapeWorkflow], activities=[noop],
                                 activity_executor=ThreadPoolExecutor(MAX_CONCURRENT_ACTIVITIES),
                                 max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES)
            async with running_worker(client, settings), bare_worker:
                for i in range(ROUNDS + 1):  # the first round warms both up and is not counted
                    fresh_copy(fleet(50), settings.data_dir)  # the worker's own DATA_DIR, fresh for every round
                    wid = await client_ops.start_run(client, settings, auto_approve=True)
                    result = await client_ops.result(client, wid)
                    desc = await client.get_workflow_handle(wid).describe()
                    plan = artifacts.read(Path(result.report.directory), artifacts.PLAN, artifacts.PlanArtifact)
                    slots = [Slot(site=a.site, disruptive=a.disruptive) for a in plan.actions]
                    handle = await client.start_workflow(BareShapeWorkflow.run, BareInput(actions=slots),
                                                         id=f"bare-{uuid.uuid4()}", task_queue=tq + "-bare")
                    await handle.result()
                    bdesc = await handle.describe()
                    if i:
                        real.append((desc.close_time - desc.start_time).total_seconds())
                        bare.append((bdesc.close_time - bdesc.start_time).total_seconds())
        actions = len(slots)
    finally:
        cleanup(work)
    return {"actions": actions, "rounds": ROUNDS, "real_s": {"median": median(real), "runs": real},
            "bare_s": {"median": median(bare), "runs": bare}, "ratio": median(real) / median(bare)}


def main() -> dict:
    figures = asyncio.run(measure())
    save("overhead", figures)
    print(f"50-device run, start to close: median {figures['real_s']['median']:.3f} s; bare same-shape workflow "
          f"({figures['actions']} actions + 5 phases): {figures['bare_s']['median']:.3f} s; ratio {figures['ratio']:.2f}")
    return figures


if __name__ == "__main__":
    main()
