"""Detect: turn a fleet snapshot and an analysis time into findings and health states. Pure.

The entry points live here (`detect`, `assess_device`, `device_after`); each family of rules has its
own module: readings (threshold breaches and trends), lifecycle (age, contract, maintenance), health
(states and the no-jump rule), timeframe (the analysis time), firmware (versions and baselines).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..models.core import (
    DeviceAfter,
    DeviceFacts,
    DeviceHealth,
    Finding,
    FindingKind,
    FleetSummary,
    HealthState,
    Severity,
    SiteHealth,
)
from ..models.fleet import Alert, DeviceState, HealthRecord, InventoryRecord
from ..models.rules import Rules
from .evidence import DeviceFindings, evidence
from .firmware import firmware_baseline
from .health import previous_state, raw_health_state, site_health, smooth_state
from .lifecycle import add_lifecycle_findings
from .readings import add_reading_findings

__all__ = [
    "Detection", "DeviceAssessment", "assess_device", "detect", "device_after",
]


@dataclass
class DeviceAssessment:
    findings: list[Finding]
    facts: DeviceFacts
    raw_state: HealthState


def _add_condition_findings(out: DeviceFindings, inv: InventoryRecord, health: HealthRecord | None, rules: Rules,
                            as_of: datetime, live: Sequence[Alert] = ()) -> list[str]:
    """Down or degraded status, recent critical alerts of the inventory and the firing ones
    (`live`: from Alertmanager, critical or warning); returns the critical alert types."""
    eid = inv.id
    status = inv.status.strip()
    status_l = status.lower()
    health_status = (health.status or "").strip() if health else ""
    agree = not health_status or health_status.lower() == status_l
    if status_l == "down":
        out.add(FindingKind.DEVICE_DOWN, Severity.CRITICAL, evidence("status", status, "Operational"),
                1.0 if agree else 0.85, f"{eid} is Down")
    elif status_l == "degraded":
        out.add(FindingKind.DEVICE_DEGRADED, Severity.WARNING, evidence("status", status, "Operational"),
                1.0 if agree else 0.85, f"{eid} is Degraded")

    critical_alerts = [
        a for a in inv.alerts
        if a.severity.lower() == "critical"
        and (a.timestamp is None or as_of - timedelta(days=rules.critical_alert_max_age_days) <= a.timestamp <= as_of)
    ] if inv.alerts else []
    # An inventory's alert list is its history, judged by age, and only its critical alerts count; a
    # firing alert from Alertmanager counts whatever its age, at its own severity.
    critical_alerts += [a for a in live if a.severity == "critical"]
    for kind, severity, alerts in (
            (FindingKind.CRITICAL_ALERT, Severity.CRITICAL, critical_alerts),
            (FindingKind.WARNING_ALERT, Severity.WARNING, [a for a in live if a.severity == "warning"])):
        if not alerts:
            continue
        types = sorted({a.type for a in alerts})
        newest = max((a.timestamp for a in alerts if a.timestamp), default=None)
        out.add(kind, severity, evidence("alerts", ", ".join(types), f"no {severity.value} alerts", observed_at=newest),
                1.0 if newest is None or as_of - newest <= timedelta(days=7) else 0.8,
                f"{eid} has {severity.value} alert(s): {', '.join(types)}")
    return sorted({a.type for a in critical_alerts})


def assess_device(
    inv: InventoryRecord,
    health: HealthRecord | None,
    life_years: Mapping[tuple[str, str], float],
    rules: Rules,
    as_of: datetime,
    live_alerts: Sequence[Alert] = (),
) -> DeviceAssessment:
    """All findings for one device, the facts later steps need, and its raw health state."""
    out = DeviceFindings(inv.id, inv.site)
    critical_alert_types = _add_condition_findings(out, inv, health, rules, as_of, live_alerts)
    readout = add_reading_findings(out, inv, health, rules, as_of)
    age = add_lifecycle_findings(out, inv, life_years, rules, as_of)
    raw = raw_health_state(out.items)
    facts = DeviceFacts(
        equipment_id=inv.id, site=inv.site, vendor=inv.vendor, model=inv.model, type=inv.type, status=inv.status,
        firmware_version=inv.firmware_version, serial_number=inv.serial_number, install_date=inv.install_date,
        last_maintenance=inv.last_maintenance, maintenance_contract_expiry=inv.maintenance_contract_expiry,
        age_years=round(age.years, 2), expected_life_years=age.expected,
        alert_types=sorted({a.type for a in (*inv.alerts, *live_alerts)}),
        critical_alert_types=critical_alert_types,
        latest=readout.latest, latest_reading_at=readout.latest_at, health_state=raw,
        newest_reading_at=readout.newest_at,
    )
    return DeviceAssessment(out.items, facts, raw)


def device_after(state: DeviceState, life_years: Mapping[tuple[str, str], float], rules: Rules,
                 as_of: datetime, live_alerts: Sequence[Alert] = ()) -> DeviceAfter:
    """A device's status and the rules' health state of it at `as_of` (after an action: the report's
    after-state, judged by the same rules that judged it before, with the alerts that were firing
    still firing: only Alertmanager says when one resolves)."""
    assessed = assess_device(state.inventory, state.health, life_years, rules, as_of, live_alerts)
    return DeviceAfter(status=state.inventory.status.strip(), health=assessed.raw_state,
                       alerts=len(state.inventory.alerts) + len(live_alerts))


@dataclass
class Detection:
    as_of: datetime
    findings: list[Finding]
    facts: dict[str, DeviceFacts]
    device_health: list[DeviceHealth]
    sites: list[SiteHealth]
    summary: FleetSummary
    firmware_baseline: dict[str, str] = field(default_factory=dict)


_KIND_ORDER = {k: i for i, k in enumerate(FindingKind)}


def detect(
    inventory: Mapping[str, InventoryRecord],
    health: Mapping[str, HealthRecord],
    life_years: Mapping[tuple[str, str], float],
    rules: Rules,
    as_of: datetime,
    previous_states: Mapping[str, str] | None = None,
    live_alerts: Mapping[str, Sequence[Alert]] | None = None,
) -> Detection:
    """Run every rule over the fleet. Linear in fleet size; output sorted deterministically."""
    previous_states = previous_states or {}
    live = live_alerts or {}
    findings: list[Finding] = []
    facts: dict[str, DeviceFacts] = {}
    device_health: list[DeviceHealth] = []
    statuses: dict[str, str] = {}
    status_counts: Counter[str] = Counter()
    readings = 0
    newest: datetime | None = None
    missing_life: set[str] = set()
    for eid, inv in inventory.items():
        h = health.get(eid)
        if (inv.vendor, inv.model) not in life_years:
            missing_life.add(f"{inv.vendor} {inv.model}")
        assessed = assess_device(inv, h, life_years, rules, as_of, live.get(eid, ()))
        if h is not None and h.recent_readings:
            readings += len(h.recent_readings)
            last = assessed.facts.newest_reading_at
            newest = last if newest is None or (last is not None and last > newest) else newest
        previous = previous_state(previous_states.get(eid))
        state, held = smooth_state(assessed.raw_state, previous)
        device_health.append(DeviceHealth(equipment_id=eid, site=inv.site, state=state, raw_state=assessed.raw_state,
                                          previous_state=previous, held_back=held))
        statuses[eid] = inv.status.strip()
        status_counts[inv.status] += 1
        if assessed.findings:
            assessed.facts.health_state = state
            facts[eid] = assessed.facts
            findings.extend(assessed.findings)
    findings.sort(key=lambda f: (-f.severity.rank, f.site, f.equipment_id, _KIND_ORDER[f.kind], f.evidence.metric))
    sites = site_health(device_health, statuses)
    summary = FleetSummary(
        devices=len(inventory), sites=len(sites), readings=readings,
        statuses=dict(sorted(status_counts.items())),
        health={s: sum(1 for d in device_health if d.state is s) for s in HealthState},
        newest_reading_at=newest, models_without_life_expectancy=sorted(missing_life),
    )
    return Detection(as_of, findings, facts, device_health, sites, summary, firmware_baseline(inventory.values()))
