#!/usr/bin/env python3
"""Start-up: `--help` of every script (process start to exit), and MCP spawn to the first tools/list."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ROOT, median, save  # noqa: E402

SCRIPTS = ["run_monitoring_agent.py", "approve_monitoring_agent.py", "query_monitoring_agent.py",
           "run_monitoring_agent_proactive.py", "mcp_server.py"]
REPEATS = 7


def main() -> dict:
    import mcp_latency

    results: dict[str, dict] = {}
    for script in SCRIPTS:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / script), "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        results[script] = {"help_s": median(times), "max_s": max(times)}
        print(f"{script} --help: median {median(times):.3f} s (max {max(times):.3f} s, {REPEATS} runs)", flush=True)
    results["mcp"] = mcp_latency.main()
    save("startup", results)
    return results


if __name__ == "__main__":
    main()
