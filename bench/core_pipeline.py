#!/usr/bin/env python3
"""Core pipeline (load + validate + detect + analyze + plan) at 1k, 10k and 100k devices.

Each measurement runs in a fresh process so its peak RSS is its own. Also records the advisor's
prompt size for the resulting plan (the digest the advise activity would send).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import fleet, median, save  # noqa: E402

SIZES = {1_000: 5, 10_000: 5, 100_000: 3}


def one(devices: int) -> dict:
    from maintenance_agent.core.advice import build_digest
    from maintenance_agent.core.analyze import analyze
    from maintenance_agent.core.detect import detect
    from maintenance_agent.core.plan import plan_actions
    from maintenance_agent.core.timeframe import analysis_time
    from maintenance_agent.models.rules import Rules
    from maintenance_agent.perf import gc_paused
    from maintenance_agent.store import FleetStore
    from maintenance_agent.tokenizer import count_tokens

    path = fleet(devices)
    started = time.perf_counter()
    f = FleetStore(path).load()
    loaded = time.perf_counter()
    as_of = analysis_time(f.inventory.values(), f.health.values())
    with gc_paused():  # as the detect/analyze/plan activities do
        d = detect(f.inventory, f.health, f.life_years(), Rules(), as_of)
    detected = time.perf_counter()
    with gc_paused():
        problems, _ = analyze(d.findings, d.facts, d.sites)
        actions = plan_actions(problems, d.findings, d.facts, d.firmware_baseline, Rules(), as_of)
    finished = time.perf_counter()
    digest = build_digest(problems, actions, devices=d.summary.devices, sites=d.summary.sites, budget_tokens=8000,
                          count_tokens=count_tokens)
    return {"devices": devices, "seconds": finished - started, "load_s": loaded - started,
            "detect_s": detected - loaded, "analyze_plan_s": finished - detected,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "findings": len(d.findings), "actions": len(actions), "prompt_tokens": digest.tokens,
            "tokenizer": digest.tokenizer}


def main(sizes: dict[int, int] = SIZES) -> dict:
    results = {}
    for devices, repeats in sizes.items():
        fleet(devices)  # generate outside the measurement
        runs = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, __file__, "--one", str(devices)], capture_output=True, text=True,
                                 check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[str(devices)] = {
            "seconds": median([r["seconds"] for r in runs]), "peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
            "load_s": median([r["load_s"] for r in runs]), "detect_s": median([r["detect_s"] for r in runs]),
            "analyze_plan_s": median([r["analyze_plan_s"] for r in runs]), "findings": runs[0]["findings"],
            "actions": runs[0]["actions"], "prompt_tokens": runs[0]["prompt_tokens"],
            "tokenizer": runs[0]["tokenizer"], "repeats": repeats, "runs": runs}
        r = results[str(devices)]
        print(f"core pipeline {devices:>7,} devices: {r['seconds']:6.2f} s (load {r['load_s']:.2f}, detect "
              f"{r['detect_s']:.2f}, analyze+plan {r['analyze_plan_s']:.2f}), peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['findings']:,} findings, {r['actions']:,} actions, advisor prompt {r['prompt_tokens']:,} tokens "
              f"(median of {repeats})", flush=True)
    save("core_pipeline", results)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]))))
    else:
        main()
