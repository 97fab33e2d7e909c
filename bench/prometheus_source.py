#!/usr/bin/env python3
"""Detection through Prometheus against the JSON files, side by side in one run, as a ratio.

A generated fleet (10,000 devices by default, 14 daily readings each) is backfilled into a real
Prometheus (Debian's, on a loopback port; promtool writes the blocks), twice: in blocks of a day
(what a Prometheus at the default 15-day retention holds) and of 486 hours (what one keeping 200
days or more compacts two weeks into). Each round then times, in this process and alternating: the
JSON side (validate the three files, detect) and the Prometheus side (validate the files, query
Prometheus for every reading over the trend window, detect). It prints both medians per layout,
the ratio (target: at most 3x), the HTTP queries and series, and checks both sides found the same.

    .venv/bin/python bench/prometheus_source.py [DEVICES] [ROUNDS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import median, save  # noqa: E402

LAYOUTS = {"day_blocks": 24, "compacted_486h_blocks": 486}
"""Block hours: a Prometheus at the default retention (15 d: 18 h blocks), and one at 200 d or more."""


def main(devices: int = 10_000, rounds: int = 3) -> dict:
    import orjson

    from maintenance_agent.core.timeframe import analysis_time
    from maintenance_agent.datagen import generate_fleet
    from maintenance_agent.store import validate_fleet

    raw = {name: orjson.dumps(doc) for name, doc in generate_fleet(devices, 42, readings=14).documents().items()}
    fleet = validate_fleet(Path("bench"), dict(raw))
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values())
    health = list(fleet.health.values())
    del fleet
    out: dict = {"devices": devices, "readings_per_device": 14, "rounds": rounds}
    for layout, hours in LAYOUTS.items():
        out[layout] = _layout(raw, health, as_of, hours, rounds)
        r = out[layout]
        print(f"detect, {devices:,} devices x 14 daily readings, {hours} h blocks: JSON {r['json_s']:.2f} s, through "
              f"Prometheus {r['prometheus_s']:.2f} s (of it load + {r['http_queries']} HTTP queries for "
              f"{r['series']:,} series {r['prometheus_load_and_query_s']:.2f} s): ratio {r['ratio']:.2f} "
              f"(target <= 3); same findings: {r['same_findings']}; backfill {r['backfill_s']:.0f} s "
              f"(median of {rounds})", flush=True)
    save("prometheus_source", out)
    return out


def _layout(raw: dict, health: list, as_of, block_hours: int, rounds: int) -> dict:  # noqa: ANN001
    from conftest import free_port
    from helpers.prometheus import backfill, openmetrics, running_prometheus
    from maintenance_agent.core.detect import detect
    from maintenance_agent.models.rules import METRICS, Rules
    from maintenance_agent.perf import gc_paused
    from maintenance_agent.sources.mapping import Mapping, MetricQuery
    from maintenance_agent.sources.prometheus import PrometheusSource
    from maintenance_agent.store import validate_fleet

    rules = Rules()
    mapping = Mapping(match="id", metrics={m: MetricQuery(query=m) for m in METRICS})
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        backfill(work / "tsdb", openmetrics(health), block_hours=block_hours)
        backfill_s = time.perf_counter() - started
        with running_prometheus(work, free_port()) as url, PrometheusSource(url, mapping, timeout=120) as source:
            json_s, prom_s, query_s = [], [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                loaded = validate_fleet(Path("bench"), dict(raw))
                with gc_paused():
                    from_json = detect(loaded.inventory, loaded.health, loaded.life_years(), rules, as_of)
                json_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                loaded = validate_fleet(Path("bench"), dict(raw))
                result = source.readings(loaded.inventory, as_of, timedelta(days=rules.trend_window_days),
                                         timedelta(days=1))
                t1 = time.perf_counter()
                with gc_paused():
                    from_prom = detect(loaded.inventory, result.health, loaded.life_years(), rules, as_of)
                prom_s.append(time.perf_counter() - t0)
                query_s.append(t1 - t0)
            same = ([(f.equipment_id, f.kind, f.evidence.metric) for f in from_json.findings]
                    == [(f.equipment_id, f.kind, f.evidence.metric) for f in from_prom.findings])
    assert result.provenance is not None
    return {"block_hours": block_hours, "json_s": median(json_s), "prometheus_s": median(prom_s),
            "prometheus_load_and_query_s": median(query_s), "ratio": median(prom_s) / median(json_s),
            "http_queries": result.provenance.queries, "series": result.provenance.series, "same_findings": same,
            "backfill_s": backfill_s, "runs": {"json": json_s, "prometheus": prom_s}}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
