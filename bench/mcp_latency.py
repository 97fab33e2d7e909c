#!/usr/bin/env python3
"""MCP figures: process spawn to the first tools/list answer, and get_maintenance_status latency."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, cleanup, copy_fleet, dev_server, median, p95, save, scratch, settings_for  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

SPAWNS = 7
CALLS = 60


async def measure() -> dict:
    from conftest import running_worker

    work = scratch("mcp")
    try:
        async with dev_server() as env:
            settings = settings_for(work, data_dir=copy_fleet(work / "data"), task_queue=f"bench-mcp-{uuid.uuid4().hex[:6]}")
            server_env = {"TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                          "TEMPORAL_TASK_QUEUE": settings.task_queue, "EMBEDDED_TEMPORAL": "never",
                          "DATA_DIR": str(settings.data_dir), "REPORTS_DIR": str(settings.reports_dir),
                          "ENV_FILE": os.devnull}
            params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "mcp_server.py")], env=server_env)
            spawn: list[float] = []
            for _ in range(SPAWNS):
                started = time.perf_counter()
                async with Client(params, read_timeout_seconds=60) as session:
                    await session.list_tools()
                    spawn.append(time.perf_counter() - started)
            async with running_worker(env.client, settings), Client(params, read_timeout_seconds=60) as session:
                run = await session.call_tool("initiate_infrastructure_maintenance", {"auto_approve": True})
                workflow_id = run.structured_content["workflow_id"]
                latencies: list[float] = []
                for _ in range(CALLS):
                    t0 = time.perf_counter()
                    result = await session.call_tool("get_maintenance_status", {"workflow_id": workflow_id})
                    latencies.append(time.perf_counter() - t0)
                    assert not result.is_error
        return {"spawn_to_tools_list_s": {"median": median(spawn), "max": max(spawn), "runs": spawn},
                "get_maintenance_status_ms": {"median": median(latencies) * 1000, "p95": p95(latencies) * 1000,
                                              "calls": CALLS}}
    finally:
        cleanup(work)


def main() -> dict:
    figures = asyncio.run(measure())
    path = save("mcp", figures)
    s, q = figures["spawn_to_tools_list_s"], figures["get_maintenance_status_ms"]
    print(f"MCP spawn -> first tools/list: median {s['median']:.2f} s (max {s['max']:.2f} s, {SPAWNS} spawns)")
    print(f"get_maintenance_status: median {q['median']:.1f} ms, p95 {q['p95']:.1f} ms ({CALLS} calls)")
    print(f"results: {path}")
    return figures


if __name__ == "__main__":
    main()
