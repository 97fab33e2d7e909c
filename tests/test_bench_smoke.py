"""The benchmarks still run and still check what they claim (exactly once, nothing lost), at the
smallest sizes: no figure is asserted here (figures live in `make bench`), only that the scripts
that produce the README's figures work against today's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def _bench(tmp_path: Path, *args: str, **env: str) -> dict:
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env={**os.environ, "BENCH_RESULTS": str(results),
                                                      "BENCH_TMP": str(tmp_path), "ENV_FILE": os.devnull, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    [saved] = [p for p in results.glob("*.json")]
    return json.loads(saved.read_text())


@pytest.mark.parametrize("script", ["overhead.py", "e2e.py", "concurrency.py", "prometheus_source.py"])
def test_benchmark_runs(tmp_path: Path, script: str) -> None:
    if script == "overhead.py":
        figures = _bench(tmp_path, script, BENCH_ROUNDS="1")
        assert figures["actions"] > 0 and figures["ratio"] > 0
    elif script == "e2e.py":
        figures = _bench(tmp_path, script, "50", BENCH_REPEATS="1")["50"]
        assert figures["actions_executed"] > 0 and figures["applied_twice"] == 0
        assert figures["actions_executed"] == figures["actions_planned"]
    elif script == "prometheus_source.py":
        both = _bench(tmp_path, script, "60", "1")
        for layout in ("day_blocks", "compacted_486h_blocks"):
            figures = both[layout]
            assert figures["same_findings"] and figures["http_queries"] == 5 and figures["series"] == 300
    else:
        figures = _bench(tmp_path, script, BENCH_CONCURRENT_RUNS="3")
        assert figures["runs"] == 3 and figures["lost"] == 0
