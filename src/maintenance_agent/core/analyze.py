"""Analyze: group findings into problems, explain the likely cause, rank by severity and impact. Pure."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from ..models.core import (
    LIFECYCLE_KINDS,
    DeviceFacts,
    Finding,
    FindingKind,
    Problem,
    Severity,
    SiteHealth,
    SiteImpact,
)
from .readings import metric_label

SEVERITY_WEIGHT = {Severity.CRITICAL: 100, Severity.WARNING: 10, Severity.INFO: 1}
HARDWARE_ALERT = re.compile(r"hardware|power|psu|fan|module|optic|transceiver|board|disk", re.IGNORECASE)
_METRIC_KINDS = frozenset({FindingKind.HIGH_TEMPERATURE, FindingKind.HIGH_CPU, FindingKind.HIGH_MEMORY,
                           FindingKind.PACKET_LOSS, FindingKind.HIGH_LATENCY})
_UPSTREAM_TYPES = re.compile(r"core|edge|optical|transport|aggregation", re.IGNORECASE)


def type_weight(device_type: str) -> int:
    """How much of the network sits behind a device of this type (3 = backbone, 1 = access)."""
    if re.search(r"core|edge router|optical|transport", device_type, re.IGNORECASE):
        return 3
    if re.search(r"aggregation|firewall|data center|load balancer|olt", device_type, re.IGNORECASE):
        return 2
    return 1


def has_hardware_fault(facts: DeviceFacts) -> bool:
    return any(HARDWARE_ALERT.search(t) for t in facts.critical_alert_types)


def _first(findings: Sequence[Finding], kind: FindingKind) -> Finding | None:
    return next((f for f in findings if f.kind is kind), None)


def explain_device(facts: DeviceFacts, findings: Sequence[Finding]) -> tuple[str, str]:
    """(title, likely cause) for one device's findings; the first matching rule wins."""
    kinds = {f.kind for f in findings}
    hot = next((f for f in findings if f.kind is FindingKind.HIGH_TEMPERATURE), None)
    name = f"{facts.equipment_id} ({facts.type}, {facts.site})"
    life = (f" and past its expected life ({facts.age_years:.1f} of {facts.expected_life_years:g} years)"
            if FindingKind.END_OF_LIFE in kinds and facts.expected_life_years else "")
    if FindingKind.DEVICE_DOWN in kinds:
        if has_hardware_fault(facts):
            return (f"{name} down: hardware fault",
                    f"hardware failure reported ({', '.join(facts.critical_alert_types)}){life}; a restart will "
                    f"not clear a failed component")
        if hot is not None and hot.severity is Severity.CRITICAL:
            return (f"{name} down: thermal shutdown",
                    f"running at {hot.evidence.value:g}°C, above the {hot.evidence.threshold:g}°C critical limit: "
                    f"likely a thermal shutdown; cooling must be fixed or a restart will fail again")
        if life:
            return f"{name} down: aging hardware", f"device down{life}; failure of aging hardware is likely"
        return f"{name} down", "device stopped responding with no hardware alarm; a restart is the first step"
    over = [f for f in findings if f.kind in _METRIC_KINDS]
    metric_findings = [f for f in over if f.severity is not Severity.INFO]  # info: a spike not yet confirmed
    if metric_findings:
        worst = max(metric_findings, key=lambda f: f.severity.rank)
        parts = [f"{metric_label(f.evidence.metric)} {f.evidence.value:g}{f.evidence.unit} > "
                 f"{f.evidence.threshold:g}{f.evidence.unit}" for f in metric_findings]
        cause = {
            FindingKind.HIGH_TEMPERATURE: "cooling problem (fan, airflow or room temperature)",
            FindingKind.HIGH_CPU: "resource exhaustion (traffic growth, control-plane load or a software defect)",
            FindingKind.HIGH_MEMORY: "memory pressure (table growth or a leak)",
            FindingKind.PACKET_LOSS: "link-quality degradation (optics, cabling or congestion)",
            FindingKind.HIGH_LATENCY: "congestion or suboptimal routing/QoS",
        }[worst.kind]
        state = "degraded" if FindingKind.DEVICE_DEGRADED in kinds else "over threshold"
        return f"{name} {state}: {metric_label(worst.evidence.metric)}", f"{'; '.join(parts)}: likely {cause}{life}"
    if FindingKind.CRITICAL_ALERT in kinds:
        return f"{name}: critical alarm", f"critical alarm(s) {', '.join(facts.critical_alert_types)} on a running device"
    if (warned := _first(findings, FindingKind.WARNING_ALERT)) is not None and FindingKind.DEVICE_DEGRADED not in kinds:
        return f"{name}: warning alarm", f"warning alarm(s) {warned.evidence.value} on a running device" + life
    if FindingKind.DEVICE_DEGRADED in kinds:
        return (f"{name} degraded", "reported Degraded with no metric over threshold: a software or configuration "
                "fault is likely" + life)
    if over:
        labels = ", ".join(metric_label(f.evidence.metric) for f in over)
        return (f"{name}: unconfirmed {labels} spike",
                f"{'; '.join(f.message for f in over)}; watched until the breach is confirmed" + life)
    trend = _first(findings, FindingKind.RISING_TREND)
    if trend is not None:
        return (f"{name}: {metric_label(trend.evidence.metric)} trending up",
                f"{trend.message}; act before it breaches" + life)
    if FindingKind.END_OF_LIFE in kinds:
        return f"{name} past end of life", f"in service {facts.age_years:.1f} years of {facts.expected_life_years:g}: plan a replacement before it fails"
    if FindingKind.CONTRACT_EXPIRED in kinds:
        return f"{name}: support contract expired", f"no vendor support since {facts.maintenance_contract_expiry}"
    if FindingKind.CONTRACT_EXPIRING in kinds:
        return f"{name}: support contract expiring", f"vendor support ends {facts.maintenance_contract_expiry}"
    if FindingKind.MAINTENANCE_OVERDUE in kinds:
        return f"{name}: maintenance overdue", f"last maintenance {facts.last_maintenance}"
    return f"{name}: nearing end of life", f"in service {facts.age_years:.1f} years; budget its replacement"


def explain_site(site: str, devices: Sequence[DeviceFacts], findings_by_device: Mapping[str, Sequence[Finding]]) -> str:
    """A shared cause for several failing devices at one site, when the evidence points to one."""
    down = [d for d in devices if d.status.strip().lower() == "down"]
    hot = [d for d in devices if any(f.kind is FindingKind.HIGH_TEMPERATURE and f.severity is not Severity.INFO
                                     for f in findings_by_device[d.equipment_id])]
    if len(hot) >= 2 and len(hot) * 2 >= len(devices):
        return f"{len(hot)} of {len(devices)} failing devices run hot: a site cooling failure is likely"
    upstream = [d for d in down if _UPSTREAM_TYPES.search(d.type)]
    if upstream and len(devices) > len(upstream):
        u = upstream[0]
        return (f"{u.type} {u.equipment_id} is down: loss of upstream transport may explain the other "
                f"{len(devices) - 1} device(s); restore it first")
    firmware = {(d.vendor, d.firmware_version) for d in down}
    if len(down) >= 2 and len(firmware) == 1:
        vendor, version = next(iter(firmware))
        return f"{len(down)} {vendor} devices on firmware {version} are down: a common software defect is suspected"
    return f"{len(devices)} devices failing at once: check shared power and cooling at {site}, then each device"


def analyze(
    findings: Sequence[Finding],
    facts: Mapping[str, DeviceFacts],
    sites: Iterable[SiteHealth],
) -> tuple[list[Problem], list[SiteImpact]]:
    """Group findings per device, add site problems where several devices are critical, rank all."""
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_device[f.equipment_id].append(f)
    problems: list[Problem] = []
    critical_by_site: dict[str, list[DeviceFacts]] = defaultdict(list)
    for eid, device_findings in by_device.items():
        device = facts[eid]
        severity = max((f.severity for f in device_findings), key=lambda s: s.rank)
        title, cause = explain_device(device, device_findings)
        operational = sum(1 for f in device_findings if f.kind not in LIFECYCLE_KINDS)
        problems.append(Problem(
            id="", scope="device", site=device.site, equipment_ids=[eid], severity=severity,
            score=SEVERITY_WEIGHT[severity] * 10 + type_weight(device.type) * 5 + operational,
            title=title, explanation=cause,
            finding_kinds=sorted({f.kind for f in device_findings}, key=list(FindingKind).index),
        ))
        if severity is Severity.CRITICAL:
            critical_by_site[device.site].append(device)
    for site, devices in critical_by_site.items():
        if len(devices) < 2:
            continue
        down = sum(1 for d in devices if d.status.strip().lower() == "down")
        kinds = sorted({f.kind for d in devices for f in by_device[d.equipment_id]}, key=list(FindingKind).index)
        problems.append(Problem(
            id="", scope="site", site=site, equipment_ids=sorted(d.equipment_id for d in devices),
            severity=Severity.CRITICAL,
            score=SEVERITY_WEIGHT[Severity.CRITICAL] * 10 * len(devices) + down,
            title=f"{site}: {len(devices)} devices critical ({down} down)",
            explanation=explain_site(site, devices, by_device), finding_kinds=kinds,
        ))
    problems.sort(key=lambda p: (-p.score, p.scope != "site", p.site, p.equipment_ids[0]))
    for index, problem in enumerate(problems, start=1):
        problem.id = f"P{index}"
    return problems, site_impacts(sites, by_device, facts)


def site_impacts(
    sites: Iterable[SiteHealth], by_device: Mapping[str, Sequence[Finding]], facts: Mapping[str, DeviceFacts]
) -> list[SiteImpact]:
    """Blast radius per site: share of devices with an operational problem."""
    affected: dict[str, int] = defaultdict(int)
    for eid, device_findings in by_device.items():
        if any(f.kind not in LIFECYCLE_KINDS for f in device_findings):
            affected[facts[eid].site] += 1
    impacts = [
        SiteImpact(site=s.site, devices=s.devices, affected_devices=affected[s.site], down=s.down,
                   critical=s.critical, state=s.state,
                   share_affected=round(affected[s.site] / s.devices, 3) if s.devices else 0.0)
        for s in sites
    ]
    impacts.sort(key=lambda i: (-i.state.rank, -i.down, -i.share_affected, i.site))
    return impacts
