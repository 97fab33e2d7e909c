"""Analysis (problems, causes, ranking) and planning (findings -> repairs from the catalog), pure core."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers.fleet_builders import (
    AS_OF,
    MODEL,
    RULES,
    VENDOR,
    alert,
    date_offset,
    facts_and_findings,
    health,
    inventory,
    reading,
    run_detect,
    series,
    state,
)
from maintenance_agent.core.actions import CATALOG, guard_values, precheck
from maintenance_agent.core.analyze import analyze, explain_device, explain_site
from maintenance_agent.core.detect import Detection, detect
from maintenance_agent.core.plan import (
    ACTION_PURPOSE,
    PlanError,
    Proposal,
    make_action,
    plan_actions,
    propose_for_device,
    validate_proposal,
)
from maintenance_agent.core.timeframe import analysis_time
from maintenance_agent.datagen import generate_fleet
from maintenance_agent.models.core import (
    DISRUPTIVE_ACTIONS,
    ActionName,
    FindingKind,
    HealthState,
    PlannedAction,
    Problem,
    Risk,
    Severity,
)
from maintenance_agent.models.fleet import HealthRecord, InventoryRecord
from maintenance_agent.store import validate_fleet

A, K = ActionName, FindingKind
LIFE5 = {(VENDOR, MODEL): 5.0}
Device = tuple[InventoryRecord, HealthRecord | None]


@dataclass
class Run:
    detection: Detection
    problems: list[Problem]
    actions: list[PlannedAction]


def run(devices: Sequence[Device], life: Mapping[tuple[str, str], float] | None = None,
        exclude_keys: Collection[str] = frozenset()) -> Run:
    """detect -> analyze -> plan, as the activities chain them."""
    detection = run_detect(devices, life)
    problems, _ = analyze(detection.findings, detection.facts, detection.sites)
    actions = plan_actions(problems, detection.findings, detection.facts, detection.firmware_baseline, RULES, AS_OF,
                           exclude_keys)
    return Run(detection, problems, actions)


def temp(value: float) -> HealthRecord:
    return metrics(temperature_celsius=value)


def metrics(**values: float) -> HealthRecord:
    """The same values in the newest two readings: warning breaches are confirmed."""
    return health(readings=[reading(AS_OF - timedelta(days=1), **values), reading(AS_OF, **values)])


PEER_NEWER = (inventory("PEER", firmware_version="2.1.0"), None)
"""A healthy device of the same model on newer firmware: it puts D1 behind the fleet baseline."""
HW_ALERT = [alert("Power supply failure")]


# ------------------------------------------------------------------------------------------------
# analyze: grouping, ranking, ids


def test_one_problem_per_device_with_findings() -> None:
    result = run([
        (inventory("D1", status="Down"), None),
        (inventory("D2"), metrics(cpu_utilization_percent=85)),
        (inventory("D3"), None),
        (inventory("D4", site="SITE-B", maintenance_contract_expiry=date_offset(60)), None),
    ])
    got = [(p.id, p.scope, p.equipment_ids, p.severity, p.finding_kinds) for p in result.problems]
    assert got == [
        ("P1", "device", ["D1"], Severity.CRITICAL, [K.DEVICE_DOWN]),
        ("P2", "device", ["D2"], Severity.WARNING, [K.HIGH_CPU]),
        ("P3", "device", ["D4"], Severity.INFO, [K.CONTRACT_EXPIRING]),
    ]


def test_site_problem_when_two_or_more_devices_at_a_site_are_critical_and_it_ranks_first() -> None:
    result = run([
        (inventory("B1", site="SITE-B", type="Core Router", status="Down"), None),
        (inventory("A2", status="Down"), None),
        (inventory("A1", status="Down"), None),
        (inventory("A3", memory_utilization_percent=96), None),
        (inventory("A4"), health("A4", metrics(cpu_utilization_percent=85).recent_readings)),  # warning: not part of the site problem
        (inventory("C1", site="SITE-C", status="Down"), None),  # alone at its site: no site problem
    ])
    got = [(p.id, p.scope, p.site, p.equipment_ids) for p in result.problems]
    assert got == [
        ("P1", "site", "SITE-A", ["A1", "A2", "A3"]),
        # a backbone device outranks access devices of the same severity: 1000 + 3*5 + 1 vs 1000 + 1*5 + 1
        ("P2", "device", "SITE-B", ["B1"]),
        ("P3", "device", "SITE-A", ["A1"]),
        ("P4", "device", "SITE-A", ["A2"]),
        ("P5", "device", "SITE-A", ["A3"]),
        ("P6", "device", "SITE-C", ["C1"]),
        ("P7", "device", "SITE-A", ["A4"]),
    ]
    site = result.problems[0]
    assert site.title == "SITE-A: 3 devices critical (2 down)"
    assert site.score == 3 * 1000 + 2
    assert site.finding_kinds == [K.DEVICE_DOWN, K.HIGH_MEMORY]
    assert [p.score for p in result.problems] == sorted((p.score for p in result.problems), reverse=True)


def test_site_impacts_rank_sites_by_state_and_share() -> None:
    detection = run_detect([
        (inventory("A1", status="Down"), None), (inventory("A2"), None),
        (inventory("B1", site="SITE-B"), health("B1", metrics(cpu_utilization_percent=85).recent_readings)),
        (inventory("C1", site="SITE-C", maintenance_contract_expiry=date_offset(-1)), None),
    ])
    _, impacts = analyze(detection.findings, detection.facts, detection.sites)
    got = [(i.site, i.state, i.devices, i.affected_devices, i.down, i.share_affected) for i in impacts]
    assert got == [
        ("SITE-A", HealthState.CRITICAL, 2, 1, 1, 0.5),
        ("SITE-B", HealthState.STRESSED, 1, 1, 0, 1.0),
        ("SITE-C", HealthState.HAPPY, 1, 0, 0, 0.0),  # an expired contract is not an operational problem
    ]


# ------------------------------------------------------------------------------------------------
# analyze: explanations


EXPLANATIONS: list[tuple[str, InventoryRecord, HealthRecord | None, dict[tuple[str, str], float], str, str]] = [
    ("hardware-fault", inventory(status="Down", alerts=HW_ALERT), None, {},
     "down: hardware fault", "hardware failure reported (Power supply failure)"),
    ("thermal-shutdown", inventory(status="Down"), temp(80), {},
     "down: thermal shutdown", "running at 80°C, above the 75°C critical limit"),
    ("aging-hardware", inventory(status="Down", install_date=date_offset(-2500)), None, LIFE5,
     "down: aging hardware", "failure of aging hardware is likely"),
    ("down-no-alarm", inventory(status="Down"), temp(72), {},
     "(Access Switch, SITE-A) down", "no hardware alarm; a restart is the first step"),
    ("resource-exhaustion", inventory(), metrics(cpu_utilization_percent=90), {},
     "over threshold: CPU", "CPU 90% > 80%: likely resource exhaustion"),
    ("memory", inventory(), metrics(memory_utilization_percent=90), {},
     "over threshold: memory", "likely memory pressure"),
    ("link-quality", inventory(status="Degraded"), metrics(packet_loss_percent=3.0, latency_ms=16), {},
     "degraded: packet loss", "likely link-quality degradation"),  # the worst metric (critical loss) wins
    ("latency", inventory(), metrics(latency_ms=16), {}, "over threshold: latency", "likely congestion"),
    ("cooling", inventory(), temp(72), {}, "over threshold: temperature", "likely cooling problem"),
    ("running-critical-alarm", inventory(alerts=[alert("BGP session flapping")]), None, {},
     ": critical alarm", "critical alarm(s) BGP session flapping on a running device"),
    ("degraded-without-metrics", inventory(status="Degraded"), metrics(cpu_utilization_percent=40), {},
     "degraded", "no metric over threshold: a software or configuration fault is likely"),
    ("trend", inventory(), health(readings=series("cpu_utilization_percent", [50, 55, 60, 65, 70, 75])), {},
     ": CPU trending up", "act before it breaches"),
    ("past-end-of-life", inventory(install_date=date_offset(-2500)), None, LIFE5,
     "past end of life", "plan a replacement before it fails"),
    ("contract-expired", inventory(maintenance_contract_expiry=date_offset(-5)), None, {},
     ": support contract expired", f"no vendor support since {date_offset(-5)}"),
    ("contract-expiring", inventory(maintenance_contract_expiry=date_offset(20)), None, {},
     ": support contract expiring", f"vendor support ends {date_offset(20)}"),
    ("maintenance", inventory(last_maintenance=date_offset(-800)), None, {},
     ": maintenance overdue", f"last maintenance {date_offset(-800)}"),
    ("nearing-end-of-life", inventory(install_date=date_offset(-1500)), None, LIFE5,
     ": nearing end of life", "budget its replacement"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "inv", "h", "life", "title_end", "cause_part"), EXPLANATIONS,
                         ids=[c[0] for c in EXPLANATIONS])
def test_explain_device_picks_the_cause(case: str, inv: InventoryRecord, h: HealthRecord | None,
                                        life: dict[tuple[str, str], float], title_end: str, cause_part: str) -> None:
    facts, findings = facts_and_findings(inv, h, life)
    title, cause = explain_device(facts, findings)
    assert title.startswith("D1 (Access Switch, SITE-A)")
    assert title.endswith(title_end), title
    assert cause_part in cause, cause


def test_explanation_mentions_end_of_life_alongside_the_main_cause() -> None:
    facts, findings = facts_and_findings(inventory(status="Down", alerts=HW_ALERT, install_date=date_offset(-2192)),
                                         None, LIFE5)
    _, cause = explain_device(facts, findings)
    assert "and past its expected life (6.0 of 5 years)" in cause


def _site(devices: list[tuple[InventoryRecord, HealthRecord | None]]) -> str:
    detection = run_detect(devices)
    by_device: dict[str, list[Any]] = {}
    for f in detection.findings:
        by_device.setdefault(f.equipment_id, []).append(f)
    return explain_site("SITE-A", [detection.facts[i.id] for i, _ in devices], by_device)


@pytest.mark.parametrize(("devices", "expected"), [
    ([(inventory("A1", status="Down"), temp(80)), (inventory("A2"), temp(76)), (inventory("A3", status="Down"), None)],
     "2 of 3 failing devices run hot: a site cooling failure is likely"),
    ([(inventory("A1", type="Core Router", status="Down"), None), (inventory("A2", status="Down"), None)],
     "Core Router A1 is down: loss of upstream transport may explain the other 1 device(s); restore it first"),
    ([(inventory("A1", status="Down", firmware_version="9.1"), None),
      (inventory("A2", status="Down", firmware_version="9.1"), None)],
     f"2 {VENDOR} devices on firmware 9.1 are down: a common software defect is suspected"),
    ([(inventory("A1", status="Down", firmware_version="9.1"), None),
      (inventory("A2", status="Down", firmware_version="9.2"), None)],
     "2 devices failing at once: check shared power and cooling at SITE-A, then each device"),
], ids=["cooling", "upstream", "firmware", "generic"])
def test_explain_site(devices: list[tuple[InventoryRecord, HealthRecord | None]], expected: str) -> None:
    assert _site(devices) == expected


# ------------------------------------------------------------------------------------------------
# plan mapping


PlanRow = tuple[ActionName, Risk, float, int, bool]  # action, risk, confidence, priority, routine

MAPPING: list[tuple[str, list[Device], dict[tuple[str, str], float], list[PlanRow]]] = [
    ("down+hardware-alert", [(inventory(status="Down", alerts=HW_ALERT), None)], {},
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.9, 1, False)]),
    ("down+past-end-of-life", [(inventory(status="Down", install_date=date_offset(-2500)), None)], LIFE5,
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.9, 1, False)]),
    ("down", [(inventory(status="Down"), None)], {},
     [(A.RESTART_DEVICE, Risk.LOW, 0.9, 1, False)]),
    ("down+non-hardware-alert", [(inventory(status="Down", alerts=[alert("BGP session flapping")]), None)], {},
     [(A.RESTART_DEVICE, Risk.LOW, 0.9, 1, False)]),
    # A thermal shutdown: the cooling first; a restart now would fail again, so none is planned yet.
    ("down+overheating", [(inventory(status="Down"), temp(80))], {},
     [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 1, True)]),
    ("down+overheating-recently-maintained", [(inventory(status="Down", last_maintenance=date_offset(-3)), temp(80))],
     {}, [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 1, True)]),
    ("down+overheating+hardware-alert", [(inventory(status="Down", alerts=HW_ALERT), temp(80))], {},
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.9, 1, False)]),
    ("down+warm", [(inventory(status="Down"), temp(72))], {},
     [(A.RESTART_DEVICE, Risk.LOW, 0.9, 1, False), (A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("down+behind-baseline", [(inventory(status="Down"), None), PEER_NEWER], {},
     [(A.RESTART_DEVICE, Risk.LOW, 0.9, 1, False)]),
    ("degraded-no-metrics", [(inventory(status="Degraded"), None)], {},
     [(A.RESTART_DEVICE, Risk.MEDIUM, 0.7, 2, False)]),
    ("degraded-no-metrics+behind", [(inventory(status="Degraded"), None), PEER_NEWER], {},
     [(A.UPDATE_FIRMWARE, Risk.MEDIUM, 0.8, 2, False)]),
    ("degraded+past-end-of-life", [(inventory(status="Degraded", install_date=date_offset(-2500)), None)], LIFE5,
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.9, 1, False)]),
    ("high-cpu", [(inventory(), metrics(cpu_utilization_percent=85))], {},
     [(A.OPTIMIZE_CONFIGURATION, Risk.LOW, 0.85, 2, False)]),
    ("high-cpu+behind", [(inventory(), metrics(cpu_utilization_percent=85)), PEER_NEWER], {},
     [(A.UPDATE_FIRMWARE, Risk.MEDIUM, 0.8, 2, False), (A.OPTIMIZE_CONFIGURATION, Risk.LOW, 0.85, 2, False)]),
    ("critical-memory", [(inventory(), metrics(memory_utilization_percent=96))], {},
     [(A.OPTIMIZE_CONFIGURATION, Risk.LOW, 0.85, 1, False)]),
    ("loss+latency", [(inventory(), metrics(packet_loss_percent=1.0, latency_ms=17))], {},
     [(A.OPTIMIZE_CONFIGURATION, Risk.LOW, 0.85, 2, False)]),
    # Info-level findings alone are watched, not acted on: a distant trend, a spike, paperwork not yet due.
    ("rising-cpu-trend-in-12-days", [(inventory(), health(readings=series("cpu_utilization_percent",
                                                                          [50, 53, 54, 57, 58, 60])))], {}, []),
    ("rising-cpu-trend-in-a-day", [(inventory(), health(readings=series("cpu_utilization_percent",
                                                                        [50, 55, 60, 65, 70, 75])))],
     {}, [(A.OPTIMIZE_CONFIGURATION, Risk.LOW, 0.8, 2, False)]),
    ("cpu-spike", [(inventory(), health(readings=[reading(AS_OF - timedelta(days=1), cpu_utilization_percent=40),
                                                  reading(AS_OF, cpu_utilization_percent=90)]))], {}, []),
    ("temperature-spike-with-overdue-maintenance",
     [(inventory(last_maintenance=date_offset(-800)), health(readings=[reading(AS_OF, temperature_celsius=72)]))],
     {}, []),
    ("high-temperature", [(inventory(), temp(72))], {},
     [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("overheating-running", [(inventory(), temp(80))], {},
     [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 1, True)]),
    ("rising-temperature-trend", [(inventory(), health(readings=series("temperature_celsius", [60, 62, 64, 66])))],
     {}, [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("high-temperature-recently-maintained", [(inventory(last_maintenance=date_offset(-14)), temp(72))], {}, []),
    ("high-temperature-maintained-15-days-ago", [(inventory(last_maintenance=date_offset(-15)), temp(72))], {},
     [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("critical-alarm-running", [(inventory(alerts=[alert("BGP session flapping")]), None)], {},
     [(A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("critical-alarm-running+behind", [(inventory(alerts=[alert("BGP session flapping")]), None), PEER_NEWER], {},
     [(A.UPDATE_FIRMWARE, Risk.MEDIUM, 0.8, 2, False), (A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 2, True)]),
    ("contract-expired", [(inventory(maintenance_contract_expiry=date_offset(-1)), None)], {},
     [(A.RENEW_CONTRACT, Risk.LOW, 0.98, 2, True)]),
    ("contract-expiring-in-60-days", [(inventory(maintenance_contract_expiry=date_offset(60)), None)], {}, []),
    ("contract-expiring-in-20-days", [(inventory(maintenance_contract_expiry=date_offset(20)), None)], {},
     [(A.RENEW_CONTRACT, Risk.LOW, 0.98, 3, True)]),
    ("maintenance-overdue", [(inventory(last_maintenance=date_offset(-800)), None)], {}, []),
    ("nearing-end-of-life", [(inventory(install_date=date_offset(-1500)), None)], LIFE5, []),
    ("maintenance-overdue+contract-expired", [(inventory(last_maintenance=date_offset(-800),
                                                         maintenance_contract_expiry=date_offset(-1)), None)], {},
     [(A.RENEW_CONTRACT, Risk.LOW, 0.98, 2, True), (A.SCHEDULE_MAINTENANCE, Risk.LOW, 0.95, 4, True)]),
    ("past-end-of-life-running", [(inventory(install_date=date_offset(-2500)), None)], LIFE5,
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.8, 3, False)]),
    ("replace-supersedes-everything-but-the-contract",
     [(inventory(status="Down", alerts=HW_ALERT, last_maintenance=date_offset(-800), cpu_utilization_percent=90,
                 maintenance_contract_expiry=date_offset(-3), install_date=date_offset(-1500)), temp(72)),
      PEER_NEWER], LIFE5,
     [(A.REPLACE_HARDWARE, Risk.HIGH, 0.9, 1, False), (A.RENEW_CONTRACT, Risk.LOW, 0.98, 2, True)]),
    ("healthy", [(inventory(), metrics(cpu_utilization_percent=40))], {}, []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "devices", "life", "expected"), MAPPING, ids=[c[0] for c in MAPPING])
def test_plan_mapping(case: str, devices: list[Device], life: dict[tuple[str, str], float],
                      expected: list[PlanRow]) -> None:
    actions = [a for a in run(devices, life).actions if a.equipment_id == "D1"]
    assert [(a.action, a.risk, a.confidence, a.priority, a.routine) for a in actions] == expected
    for a in actions:
        assert a.disruptive is (a.action in DISRUPTIVE_ACTIONS)
        assert a.expected_effect == CATALOG[a.action].expected_effect
        assert a.rollback == CATALOG[a.action].rollback


@pytest.mark.parametrize(("case", "devices", "life", "action", "reason", "params"), [
    ("hardware", [(inventory(status="Down", alerts=HW_ALERT), None)], {}, A.REPLACE_HARDWARE,
     "hardware fault", {"model": MODEL, "target_firmware": "2.0.0"}),
    ("end-of-life", [(inventory(status="Down", install_date=date_offset(-2500)), None), PEER_NEWER], LIFE5,
     A.REPLACE_HARDWARE, "past end of life and down", {"model": MODEL, "target_firmware": "2.1.0"}),
    ("restart-cold", [(inventory(status="Down"), temp(72))], {}, A.RESTART_DEVICE, "device down", {"mode": "cold"}),
    ("thermal-shutdown", [(inventory(status="Down"), temp(80))], {}, A.SCHEDULE_MAINTENANCE,
     "thermal shutdown: fix cooling before any restart (planned once it reads below critical); "
     "cooling and fan inspection",
     {"tasks": "thermal shutdown: fix cooling before any restart (planned once it reads below critical); "
               "cooling and fan inspection"}),
    ("restart-graceful", [(inventory(status="Degraded"), None)], {}, A.RESTART_DEVICE,
     "degraded with no metric over threshold: a graceful restart", {"mode": "graceful"}),
    ("firmware", [(inventory(status="Degraded"), None), PEER_NEWER], {}, A.UPDATE_FIRMWARE,
     f"running 2.0.0, fleet baseline for {MODEL} is 2.1.0", {"from_version": "2.0.0", "to_version": "2.1.0"}),
    ("optimize", [(inventory(), metrics(packet_loss_percent=1.0, latency_ms=17))], {}, A.OPTIMIZE_CONFIGURATION,
     "packet loss 1% above warning 0.5%; latency 17ms above warning 15ms",
     {"metrics": "latency_ms,packet_loss_percent"}),
    ("maintenance", [(inventory(last_maintenance=date_offset(-800), alerts=[alert("BGP down")]), temp(72))], {},
     A.SCHEDULE_MAINTENANCE, "cooling and fan inspection; on-site check of critical alarms; overdue preventive maintenance",
     {"tasks": "cooling and fan inspection; on-site check of critical alarms; overdue preventive maintenance"}),
    ("renew", [(inventory(maintenance_contract_expiry=date_offset(-4)), None)], {}, A.RENEW_CONTRACT,
     f"support contract expired 4 days ago ({date_offset(-4)})", {"current_expiry": date_offset(-4).isoformat()}),
])  # fmt: skip
def test_plan_reason_and_params(case: str, devices: list[Device], life: dict[tuple[str, str], float],
                                action: ActionName, reason: str, params: dict[str, str]) -> None:
    planned = next(a for a in run(devices, life).actions if a.equipment_id == "D1" and a.action is action)
    assert (planned.reason, planned.params) == (reason, params)


def test_propose_for_device_returns_one_proposal_per_action() -> None:
    facts, findings = facts_and_findings(
        inventory(last_maintenance=date_offset(-800), maintenance_contract_expiry=date_offset(10),
                  alerts=[alert("BGP down")]),
        metrics(temperature_celsius=72, cpu_utilization_percent=85))
    proposals = propose_for_device(facts, findings, {f"{VENDOR}|{MODEL}": "3.0"}, AS_OF)
    assert [p.action for p in proposals] == [A.UPDATE_FIRMWARE, A.OPTIMIZE_CONFIGURATION, A.SCHEDULE_MAINTENANCE,
                                             A.RENEW_CONTRACT]
    assert [p.kinds for p in proposals] == [
        (K.HIGH_CPU, K.CRITICAL_ALERT),
        (K.HIGH_CPU,),
        (K.HIGH_TEMPERATURE, K.CRITICAL_ALERT, K.MAINTENANCE_OVERDUE),
        (K.CONTRACT_EXPIRING,),
    ]


@pytest.mark.parametrize(("risk", "confidence", "routine"), [
    (Risk.LOW, 0.95, True), (Risk.LOW, 0.949, False), (Risk.LOW, 1.0, True),
    (Risk.MEDIUM, 0.99, False), (Risk.HIGH, 1.0, False),
])
def test_make_action_routine_rule(risk: Risk, confidence: float, routine: bool) -> None:
    facts, _ = facts_and_findings(inventory(status="Down"))
    proposal = Proposal(A.RESTART_DEVICE, confidence, "why", (K.DEVICE_DOWN,), 1, risk=risk)
    assert make_action(facts, proposal, RULES).routine is routine
    assert make_action(facts, proposal, RULES, source="llm").routine is False  # only rule-made actions
    assert make_action(facts, Proposal(A.RESTART_DEVICE, confidence, "", (), 1), RULES).risk is Risk.MEDIUM


# ------------------------------------------------------------------------------------------------
# plan_actions: order, ids, guards, exclusions

MIXED_FLEET: list[Device] = [
    (inventory("A1", status="Down", alerts=HW_ALERT), None),
    (inventory("A2", status="Down", maintenance_contract_expiry=date_offset(-2)), temp(80)),
    (inventory("A3", status="Degraded"), health("A3", metrics(cpu_utilization_percent=90).recent_readings)),
    (inventory("B1", site="SITE-B", last_maintenance=date_offset(-900)), None),
    (inventory("B2", site="SITE-B", install_date=date_offset(-2500), firmware_version="1.0"),
     health("B2", [reading(AS_OF, latency_ms=25)])),
    (inventory("B3", site="SITE-B", maintenance_contract_expiry=date_offset(45), last_maintenance=date_offset(-750)),
     health("B3", metrics(temperature_celsius=71).recent_readings)),
]  # fmt: skip


def test_plan_ids_follow_priority_order() -> None:
    result = run(MIXED_FLEET, LIFE5)
    actions = result.actions
    assert [a.id for a in actions] == [f"A{i}" for i in range(1, len(actions) + 1)]
    assert [(a.id, a.equipment_id, a.action, a.priority) for a in actions] == [
        # priority 1: the site problem (A1, A2) ranks first, then the devices by problem rank
        ("A1", "A1", A.REPLACE_HARDWARE, 1),
        ("A2", "A2", A.SCHEDULE_MAINTENANCE, 1),  # a thermal shutdown: cooling first, no restart yet
        ("A3", "B2", A.REPLACE_HARDWARE, 1),
        ("A4", "A2", A.RENEW_CONTRACT, 2),
        ("A5", "A3", A.OPTIMIZE_CONFIGURATION, 2),
        ("A6", "B3", A.SCHEDULE_MAINTENANCE, 2),
        ("A7", "B3", A.RENEW_CONTRACT, 3),  # expiring in 45 days (info) rides along with B3's visit
    ]  # B1: overdue maintenance alone is info, watched and not acted on
    problem_of = {p.equipment_ids[0]: p.id for p in result.problems if p.scope == "device"}
    site_problem = next(p for p in result.problems if p.scope == "site")
    assert site_problem.id == "P1" and site_problem.equipment_ids == ["A1", "A2"]
    for a in actions:
        expected = "P1" if a.equipment_id in ("A1", "A2") else problem_of[a.equipment_id]
        assert a.problem_id == expected


def test_plan_routine_flag_is_low_risk_and_high_confidence() -> None:
    actions = run(MIXED_FLEET, LIFE5).actions
    assert all(a.routine == (a.risk is Risk.LOW and a.confidence >= 0.95) for a in actions)
    assert {a.action for a in actions if a.routine} == {A.SCHEDULE_MAINTENANCE, A.RENEW_CONTRACT}


@pytest.mark.parametrize(("device", "action", "guard"), [
    (inventory(status="Down"), A.RESTART_DEVICE, {"status": "Down"}),
    (inventory(status="Degraded", firmware_version="2.0.0"), A.UPDATE_FIRMWARE, {"firmware_version": "2.0.0"}),
    (inventory(status="Down", alerts=HW_ALERT, serial_number="SN-9", install_date=date_offset(-400)),
     A.REPLACE_HARDWARE, {"serial_number": "SN-9", "install_date": date_offset(-400).isoformat()}),
    (inventory(cpu_utilization_percent=96), A.OPTIMIZE_CONFIGURATION, {"latest_reading_at": None}),
    (inventory(last_maintenance=date_offset(-800), status="Degraded"), A.SCHEDULE_MAINTENANCE,
     {"last_maintenance": date_offset(-800).isoformat()}),
    (inventory(maintenance_contract_expiry=date_offset(-2)), A.RENEW_CONTRACT,
     {"maintenance_contract_expiry": date_offset(-2).isoformat()}),
])  # fmt: skip
def test_guard_holds_the_planned_field_values(device: InventoryRecord, action: ActionName,
                                              guard: dict[str, str | None]) -> None:
    planned = next(a for a in run([(device, None), PEER_NEWER]).actions if a.equipment_id == "D1" and a.action is action)
    assert planned.guard == guard
    assert precheck(planned, state(device)) is None


def test_optimize_guard_holds_the_latest_reading_time() -> None:
    readings = [reading(AS_OF - timedelta(hours=6), cpu_utilization_percent=85),
                reading(AS_OF, cpu_utilization_percent=90)]
    (planned,) = run([(inventory(), health(readings=readings))]).actions
    assert planned.guard == {"latest_reading_at": AS_OF.isoformat()}


def test_exclude_keys_drop_those_actions_and_ids_stay_contiguous() -> None:
    everything = run(MIXED_FLEET, LIFE5).actions
    excluded = {"A2:schedule_maintenance", "B3:renew_contract", "Z9:restart_device"}
    kept = run(MIXED_FLEET, LIFE5, exclude_keys=excluded).actions
    assert [a.key for a in kept] == [a.key for a in everything if a.key not in excluded]
    assert len(kept) == len(everything) - 2
    assert [a.id for a in kept] == [f"A{i}" for i in range(1, len(kept) + 1)]


def test_generated_fleet_plan_is_consistent() -> None:
    fleet_docs = generate_fleet(400, seed=21)
    fleet = validate_fleet(Path("generated"), {name: orjson.dumps(doc) for name, doc in fleet_docs.documents().items()})
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values())
    detection = detect(fleet.inventory, fleet.health, fleet.life_years(), RULES, as_of)
    problems, _ = analyze(detection.findings, detection.facts, detection.sites)
    actions = plan_actions(problems, detection.findings, detection.facts, detection.firmware_baseline, RULES, as_of)

    keys = [a.key for a in actions]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert [a.id for a in actions] == [f"A{i}" for i in range(1, len(actions) + 1)]
    assert [a.priority for a in actions] == sorted(a.priority for a in actions)
    assert {a.action for a in actions} == set(ActionName)  # the generated fleet exercises every action
    assert [p.id for p in problems] == [f"P{i}" for i in range(1, len(problems) + 1)]
    by_device: dict[str, set[ActionName]] = {}
    for a in actions:
        by_device.setdefault(a.equipment_id, set()).add(a.action)
        assert a.routine == (a.risk is Risk.LOW and a.confidence >= RULES.routine_confidence)
        assert a.guard == {f: guard_values(fleet.device(a.equipment_id))[f] for f in CATALOG[a.action].guard_fields}
        assert precheck(a, fleet.device(a.equipment_id)) is None
    superseded = {A.RESTART_DEVICE, A.UPDATE_FIRMWARE, A.OPTIMIZE_CONFIGURATION, A.SCHEDULE_MAINTENANCE}
    for eid, names in by_device.items():
        if A.REPLACE_HARDWARE in names:
            assert not names & superseded, (eid, names)
        purposes = [ACTION_PURPOSE[n] for n in names]  # the rules themselves plan one action per purpose
        assert len(purposes) == len(set(purposes)), (eid, names)
        assert eid in detection.facts


# ------------------------------------------------------------------------------------------------
# validate_proposal


def _facts() -> dict[str, Any]:
    facts, _ = facts_and_findings(inventory(status="Down"))
    return {"D1": facts}


def test_validate_proposal_accepts_a_catalog_action_for_a_known_device() -> None:
    facts = _facts()
    device, name = validate_proposal("D1", "optimize_configuration", facts,
                                     {"D1:restart_device", "D10:replace_hardware", "D2:optimize_configuration"})
    assert device is facts["D1"] and name is A.OPTIMIZE_CONFIGURATION


@pytest.mark.parametrize(("equipment_id", "action", "existing", "message"), [
    ("D1", "reboot", set(), "'reboot' is not in the action catalog (restart_device, update_firmware, "
                            "replace_hardware, optimize_configuration, schedule_maintenance, renew_contract)"),
    ("D9", "restart_device", set(), "'D9' is not a device with findings in this run"),
    ("D1", "restart_device", {"D1:restart_device"}, "restart_device for D1 is already planned"),
    ("D1", "restart_device", {"D1:replace_hardware"},
     "D1 already has replace_hardware planned, which supersedes restart_device; decide on the replacement first"),
    ("D1", "renew_contract", {"D1:replace_hardware"},
     "D1 already has replace_hardware planned, which supersedes renew_contract; decide on the replacement first"),
    ("D1", "update_firmware", {"D1:restart_device"},
     "D1 already has restart_device planned for the same purpose (a reboot to a clean running state); "
     "update_firmware would be a second action for it"),
    ("D1", "restart_device", {"D1:update_firmware"},
     "D1 already has update_firmware planned for the same purpose (a reboot to a clean running state); "
     "restart_device would be a second action for it"),
])
def test_validate_proposal_rejects(equipment_id: str, action: str, existing: set[str], message: str) -> None:
    with pytest.raises(PlanError) as exc:
        validate_proposal(equipment_id, action, _facts(), existing)
    assert str(exc.value) == message
