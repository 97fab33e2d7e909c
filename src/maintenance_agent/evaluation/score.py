"""Run the real pipeline (validate -> detect -> analyze -> plan) on labelled devices and score it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..core.analyze import analyze
from ..core.detect import detect
from ..core.plan import plan_actions
from ..core.timeframe import analysis_time
from ..models.core import Finding, PlannedAction, Severity
from ..models.rules import Rules
from ..store import validate_fleet
from .scenarios import Device, documents


@dataclass
class Outcome:
    findings: list[Finding]
    actions: list[PlannedAction]


def run_pipeline(devices: list[Device], rules: Rules) -> Outcome:
    raws = {name: orjson.dumps(doc) for name, doc in documents(devices).items()}
    fleet = validate_fleet(Path("evaluation"), raws)
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values())
    detection = detect(fleet.inventory, fleet.health, fleet.life_years(), rules, as_of)
    problems, _ = analyze(detection.findings, detection.facts, detection.sites)
    actions = plan_actions(problems, detection.findings, detection.facts, detection.firmware_baseline, rules, as_of)
    return Outcome(detection.findings, actions)


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    info_allowed: int = 0
    healthy: int = 0
    healthy_with_action: int = 0
    faults_to_act_on: int = 0
    faults_with_fitting_action: int = 0
    faults_watched: int = 0
    """Faults the ground truth says to watch (a distant drift, paperwork not yet due): no action."""
    watched_with_action: int = 0
    unrepaired: list[dict[str, Any]] = field(default_factory=list)
    faults_either: int = 0
    """Drifts whose true breach is 5 to 12 days away: acting now or at the next cycle are both fine."""
    forbidden_actions: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_alarms: list[dict[str, Any]] = field(default_factory=list)
    by_scenario: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def _matches(f: Finding, expected: tuple[Any, str, Severity | None]) -> bool:
    kind, metric, severity = expected
    return f.kind is kind and f.evidence.metric == metric and (severity is None or f.severity is severity)


def score(devices: list[Device], outcome: Outcome, tally: Tally, *, realistic_only: bool = True) -> None:
    """Add one fleet's results to `tally` (weak strengths are scored in their own tally)."""
    findings: dict[str, list[Finding]] = defaultdict(list)
    for f in outcome.findings:
        findings[f.equipment_id].append(f)
    actions: dict[str, list[PlannedAction]] = defaultdict(list)
    for a in outcome.actions:
        actions[a.equipment_id].append(a)
    for device in devices:
        label = device.label
        if label.realistic is not realistic_only:
            continue
        eid = device.inventory["id"]
        got, planned = findings[eid], {a.action for a in actions[eid]}
        row = tally.by_scenario[f"{label.scenario} {label.strength}".strip()]
        row["devices"] += 1
        matched: list[Finding] = []
        for expected in label.expected:
            hit = next((f for f in got if _matches(f, expected)), None)
            if hit is None:
                tally.fn[expected[0].value] += 1
                row["missed"] += 1
                tally.misses.append({"device": eid, "scenario": label.scenario, "strength": label.strength,
                                     "expected": [expected[0].value, expected[1], expected[2] and expected[2].value],
                                     "found": [f.message for f in got]})
            else:
                tally.tp[expected[0].value] += 1
                matched.append(hit)
        for f in got:
            if any(f is m for m in matched):
                continue
            if f.severity is Severity.INFO and (f.kind, f.evidence.metric) in label.allowed_info:
                tally.info_allowed += 1
                continue
            tally.fp[f.kind.value] += 1
            row["false findings"] += 1
            tally.false_alarms.append({"device": eid, "scenario": label.scenario, "finding": f.message,
                                       "severity": f.severity.value})
        if planned & label.forbidden:
            tally.forbidden_actions += 1
            row["forbidden actions"] += 1
        if not label.expected:
            tally.healthy += 1
            if planned:
                tally.healthy_with_action += 1
                row["acted on"] += 1
        elif label.act:  # the ground truth calls for a repair, however the rules rated it
            tally.faults_to_act_on += 1
            if planned & label.fitting:
                tally.faults_with_fitting_action += 1
                row["fitting action"] += 1
            else:
                row["no fitting action"] += 1
                tally.unrepaired.append({"device": eid, "scenario": label.scenario, "strength": label.strength,
                                         "found": [f.message for f in got], "planned": sorted(planned)})
        elif label.act is False:  # a fault to watch: a spike, a distant drift, paperwork not yet due
            tally.faults_watched += 1
            row["watched"] += 1
            if planned:
                tally.watched_with_action += 1
                row["acted on"] += 1
        else:
            tally.faults_either += 1


def summarize(tally: Tally) -> dict[str, Any]:
    kinds = sorted(set(tally.tp) | set(tally.fp) | set(tally.fn))
    per_kind = {}
    for k in kinds:
        tp, fp, fn = tally.tp[k], tally.fp[k], tally.fn[k]
        per_kind[k] = {"tp": tp, "fp": fp, "fn": fn,
                       "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                       "recall": round(tp / (tp + fn), 4) if tp + fn else None}
    tp, fp, fn = sum(tally.tp.values()), sum(tally.fp.values()), sum(tally.fn.values())
    return {
        "per_kind": per_kind,
        "overall": {"tp": tp, "fp": fp, "fn": fn, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                    "recall": round(tp / (tp + fn), 4) if tp + fn else None},
        "unconfirmed_info_findings_allowed": tally.info_allowed,
        "healthy_devices": tally.healthy,
        "healthy_with_any_action": tally.healthy_with_action,
        "healthy_with_any_action_share": round(tally.healthy_with_action / tally.healthy, 4) if tally.healthy else None,
        "faults_to_act_on": tally.faults_to_act_on,
        "faults_with_fitting_action": tally.faults_with_fitting_action,
        "faults_with_fitting_action_share": (round(tally.faults_with_fitting_action / tally.faults_to_act_on, 4)
                                             if tally.faults_to_act_on else None),
        "faults_to_watch": tally.faults_watched,
        "watched_with_action": tally.watched_with_action,
        "faults_either_way": tally.faults_either,
        "forbidden_actions": tally.forbidden_actions,
        "by_scenario": {k: dict(v) for k, v in sorted(tally.by_scenario.items())},
        "misses": tally.misses[:20],
        "faults_without_fitting_action": tally.unrepaired[:20],
        "false_alarms": tally.false_alarms[:20],
    }
