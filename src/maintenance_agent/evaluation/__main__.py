"""`python -m maintenance_agent.evaluation`: run the labelled suite and print and save the scores."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from ..models.rules import Rules
from ..store import atomic_write_bytes
from .scenarios import Builder
from .score import Tally, run_pipeline, score, summarize
from .suite import DAILY7, DENSE, healthy, suite


def _healthy_fleet(devices: int, rules: Rules, stamps: list, cadence: str) -> dict[str, Any]:
    """Findings on a large healthy fleet: there should be none, and no action at all."""
    fleet = list(healthy(Builder(10_000), devices, stamps))
    outcome = run_pipeline(fleet, rules)
    return {"devices": devices, "readings_per_device": len(stamps), "cadence": cadence,
            "findings_by_kind": dict(Counter(f"{f.kind.value} ({f.severity.value})" for f in outcome.findings)),
            "devices_with_action": len({a.equipment_id for a in outcome.actions})}


def evaluate(seeds: int, healthy_devices: int, rules: Rules | None = None) -> dict[str, Any]:
    rules = rules or Rules()
    realistic, weak = Tally(), Tally()
    devices = 0
    for seed in range(1, seeds + 1):
        fleet = suite(seed)
        devices += len(fleet)
        outcome = run_pipeline(fleet, rules)
        score(fleet, outcome, realistic)
        score(fleet, outcome, weak, realistic_only=False)
    return {"seeds": seeds, "devices": devices, "realistic": summarize(realistic),
            "weak_strengths": summarize(weak),
            "healthy_fleets": [_healthy_fleet(healthy_devices, rules, DENSE, "every 6 hours for 14 days"),
                               _healthy_fleet(healthy_devices, rules, DAILY7, "daily for 7 days")]
            if healthy_devices else []}


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def report(result: dict[str, Any]) -> str:
    r = result["realistic"]
    lines = [f"Labelled evaluation: {result['devices']:,} devices over {result['seeds']} seeds "
             f"(realistic strengths)", "", f"{'finding kind':<22} {'precision':>9} {'recall':>7} {'tp':>5} "
             f"{'fp':>4} {'fn':>4}"]
    for kind, s in r["per_kind"].items():
        lines.append(f"{kind:<22} {_fmt(s['precision']):>9} {_fmt(s['recall']):>7} {s['tp']:>5} {s['fp']:>4} "
                     f"{s['fn']:>4}")
    o = r["overall"]
    lines += [f"{'overall':<22} {_fmt(o['precision']):>9} {_fmt(o['recall']):>7} {o['tp']:>5} {o['fp']:>4} "
              f"{o['fn']:>4}", "",
              f"healthy devices with any action: {r['healthy_with_any_action']} of {r['healthy_devices']} "
              f"({_fmt(r['healthy_with_any_action_share'])})",
              f"injected faults the ground truth says to repair now, with a fitting action: "
              f"{r['faults_with_fitting_action']} of {r['faults_to_act_on']} "
              f"({_fmt(r['faults_with_fitting_action_share'])})",
              f"faults to watch without acting (a distant drift, paperwork not yet due): {r['faults_to_watch']}, "
              f"acted on: {r['watched_with_action']}; drifts 5-12 days from their breach (either is fine): "
              f"{r['faults_either_way']}",
              f"forbidden actions (e.g. a restart planned for a thermal shutdown): {r['forbidden_actions']}",
              f"unconfirmed spikes reported as info, not acted on: {r['unconfirmed_info_findings_allowed']}"]
    w = result["weak_strengths"]
    trend = w["per_kind"].get("rising_trend")
    if trend:
        lines.append(f"weak drifts (2 %/day of the threshold): rising_trend recall {_fmt(trend['recall'])} "
                     f"({trend['tp']} of {trend['tp'] + trend['fn']}) - below what the headline claims")
    for h in result["healthy_fleets"]:
        lines.append(f"healthy fleet of {h['devices']:,} devices read {h['cadence']}: findings "
                     f"{h['findings_by_kind'] or 'none'}; devices with an action: {h['devices_with_action']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tools/dev.py eval", description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="fleets to build, one per seed (default 5)")
    parser.add_argument("--healthy-devices", type=int, default=10_000,
                        help="size of the large healthy fleet (6-hourly readings for 14 days; 0 skips it)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/evaluation.json"),
                        help="where to write the results as JSON (default bench/results/evaluation.json)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.healthy_devices < 0:
        parser.error("--seeds must be at least 1 and --healthy-devices at least 0")
    started = time.perf_counter()
    result = evaluate(args.seeds, args.healthy_devices)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    print(f"\nresults: {args.out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
