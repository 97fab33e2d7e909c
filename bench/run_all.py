#!/usr/bin/env python3
"""`make bench`: every benchmark, then one table. Figures are medians; JSON in bench/results/.

Usage: run_all.py [--quick]   (--quick skips the 100,000-device runs and uses 200 concurrent runs)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine, save  # noqa: E402


def main() -> None:
    quick = "--quick" in sys.argv
    if quick:
        os.environ["BENCH_CONCURRENT_RUNS"] = "200"
    import concurrency
    import core_pipeline
    import e2e
    import llm_tokens
    import overhead
    import prometheus_source
    import startup

    started = time.time()
    results = {
        "startup": startup.main(),
        "core_pipeline": core_pipeline.main({1_000: 5, 10_000: 5} if quick else core_pipeline.SIZES),
        "overhead": overhead.main(),
        "llm_tokens": llm_tokens.main(large=not quick),
        "e2e": e2e.main({50: 5, 10_000: 1} if quick else e2e.SIZES),
        "concurrency": concurrency.main(200 if quick else 1000),
        "prometheus_source": prometheus_source.main(2_000 if quick else 10_000),
    }
    save("all", results)
    m = machine()
    rows = [
        ("Machine", f"{m['cores']} cores, Python {m['python']}"),
        ("--help (slowest script)", f"{max(v['help_s'] for k, v in results['startup'].items() if k != 'mcp'):.2f} s"),
        ("MCP spawn -> first tools/list", f"{results['startup']['mcp']['spawn_to_tools_list_s']['median']:.2f} s"),
        ("MCP get_maintenance_status", f"{results['startup']['mcp']['get_maintenance_status_ms']['median']:.1f} ms median"),
    ]
    for size, r in results["core_pipeline"].items():
        rows.append((f"Core pipeline {int(size):,} devices", f"{r['seconds']:.2f} s, {r['peak_rss_mb']:.0f} MB peak RSS"))
    o = results["overhead"]
    rows.append(("50-device run vs bare same-shape workflow",
                 f"{o['real_s']['median']:.2f} s vs {o['bare_s']['median']:.2f} s = ratio {o['ratio']:.2f}"))
    for size, r in results["e2e"].items():
        rows.append((f"E2E {int(size):,} devices (auto-approve)",
                     f"{r['wall_s']:.1f} s process, {r['workflow_s']:.1f} s workflow; {r['actions_executed']:,} actions, "
                     f"applied twice {r['applied_twice']}; parent {r['parent_events']:,} ev / "
                     f"{r['parent_bytes'] / 1e6:.2f} MB; largest child {r['largest_child_events']:,} ev / "
                     f"{r['largest_child_bytes'] / 1e6:.2f} MB"))
    c = results["concurrency"]
    rows.append((f"{c['runs']:,} concurrent runs", f"pending {c['all_pending_s']:.0f} s, completed {c['all_completed_s']:.0f} s, "
                 f"server {c['peak_rss_mb']['server']:.0f} MB / worker {c['peak_rss_mb']['worker']:.0f} MB, lost {c['lost']}"))
    p = results["prometheus_source"]
    for layout in prometheus_source.LAYOUTS:
        r = p[layout]
        rows.append((f"Detect {p['devices']:,} devices, Prometheus ({r['block_hours']} h blocks) vs JSON",
                     f"{r['prometheus_s']:.2f} s vs {r['json_s']:.2f} s = ratio {r['ratio']:.2f}; {r['http_queries']} "
                     f"HTTP queries, {r['series']:,} series; same findings {r['same_findings']}"))
    for size, f in results["llm_tokens"].items():
        rows.append((f"Advisor prompt, {int(size):,} devices", f"{f['digest_tokens']:,} tokens ({f['tokenizer']})"))
    width = max(len(r[0]) for r in rows)
    print("\n" + "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows))
    print(f"\n(total {time.time() - started:.0f} s; results in bench/results/)")


if __name__ == "__main__":
    main()
