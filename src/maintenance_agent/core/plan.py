"""Plan: map problems to repairs from the catalog, with risk, confidence and a rollback. Pure.

`make_action` is the single place where an action's risk, confidence, routine flag and guard are
decided; rule-made and LLM-proposed actions both go through it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models.core import (
    ActionName,
    DeviceFacts,
    Finding,
    FindingKind,
    PlannedAction,
    Problem,
    Risk,
    Severity,
)
from ..models.rules import Rules
from .actions import CATALOG, planned_guard
from .analyze import has_hardware_fault
from .firmware import version_key

_ACTION_ORDER = {a: i for i, a in enumerate(ActionName)}
_PERFORMANCE = (FindingKind.HIGH_CPU, FindingKind.HIGH_MEMORY, FindingKind.PACKET_LOSS, FindingKind.HIGH_LATENCY)
_READING_KINDS = frozenset({*_PERFORMANCE, FindingKind.HIGH_TEMPERATURE, FindingKind.RISING_TREND})
_TUNABLE_TREND_METRICS = ("cpu_utilization_percent", "memory_utilization_percent", "packet_loss_percent", "latency_ms")
RECENT_MAINTENANCE_DAYS = 14
COOLING_TASK = "cooling and fan inspection"
COOLING_BEFORE_RESTART = "thermal shutdown: fix cooling before any restart (planned once it reads below critical)"


class PlanError(ValueError):
    """A proposed action is not acceptable (unknown device, not in the catalog, duplicate)."""


@dataclass(frozen=True)
class Proposal:
    action: ActionName
    confidence: float
    reason: str
    kinds: tuple[FindingKind, ...]
    priority: int
    params: tuple[tuple[str, str | float | int], ...] = ()
    risk: Risk | None = None


def is_routine(risk: Risk, confidence: float, rules: Rules) -> bool:
    return risk is Risk.LOW and confidence >= rules.routine_confidence


def make_action(
    facts: DeviceFacts,
    proposal: Proposal,
    rules: Rules,
    *,
    problem_id: str | None = None,
    source: str = "rules",
) -> PlannedAction:
    spec = CATALOG[proposal.action]
    risk = proposal.risk or spec.base_risk
    routine = is_routine(risk, proposal.confidence, rules) and source == "rules"
    return PlannedAction(
        id="", equipment_id=facts.equipment_id, site=facts.site, action=proposal.action,
        params=dict(proposal.params), risk=risk, confidence=round(proposal.confidence, 2), routine=routine,
        disruptive=spec.disruptive, priority=proposal.priority, reason=proposal.reason,
        finding_kinds=list(proposal.kinds), problem_id=problem_id,
        expected_effect=spec.expected_effect, rollback=spec.rollback,
        guard=planned_guard(proposal.action, facts), source=source,
    )


def _priority(severity: Severity) -> int:
    return {Severity.CRITICAL: 1, Severity.WARNING: 2, Severity.INFO: 3}[severity]


def propose_for_device(
    facts: DeviceFacts, findings: Sequence[Finding], baseline: Mapping[str, str], as_of: datetime
) -> list[Proposal]:
    """The repairs this device's findings call for; one per action, superseded ones left out.

    Info-level findings (an unconfirmed spike, a distant trend, paperwork not yet due) are reported
    and watched, never acted on alone. A thermal shutdown gets its cooling fixed first: the restart
    the diagnosis says would fail is planned only once the device reads below its critical temperature."""
    if all(f.severity is Severity.INFO for f in findings):
        return []
    # Info-level readings inform, they do not drive a repair; info paperwork rides along with one.
    findings = [f for f in findings if f.severity is not Severity.INFO or f.kind not in _READING_KINDS]
    by_kind: dict[FindingKind, list[Finding]] = defaultdict(list)
    for f in findings:
        by_kind[f.kind].append(f)
    kinds = set(by_kind)
    down = FindingKind.DEVICE_DOWN in kinds
    degraded = FindingKind.DEVICE_DEGRADED in kinds
    eol = FindingKind.END_OF_LIFE in kinds
    hardware = has_hardware_fault(facts)
    hot = by_kind.get(FindingKind.HIGH_TEMPERATURE, [])
    overheating = any(f.severity is Severity.CRITICAL for f in hot)
    target = baseline.get(f"{facts.vendor}|{facts.model}")
    behind = target is not None and version_key(target) > version_key(facts.firmware_version)
    worst = max((f.severity for f in findings if f.kind not in (FindingKind.NEARING_END_OF_LIFE,)),
                key=lambda s: s.rank, default=Severity.INFO)
    out: list[Proposal] = []

    replace = (down and (hardware or eol)) or (eol and (degraded or worst is Severity.CRITICAL))
    if replace or eol:
        why = "hardware fault" if hardware and down else "past end of life"
        out.append(Proposal(
            ActionName.REPLACE_HARDWARE, 0.9 if replace else 0.8,
            f"{why}" + (" and down" if down and not hardware else ""),
            tuple(k for k in (FindingKind.DEVICE_DOWN, FindingKind.CRITICAL_ALERT, FindingKind.END_OF_LIFE,
                              FindingKind.DEVICE_DEGRADED) if k in kinds),
            1 if replace else 3,
            (("model", facts.model), ("target_firmware", target or facts.firmware_version)),
        ))
        replace = True
    restart = False
    thermal_shutdown = not replace and down and overheating and not hardware
    if not replace and down:
        restart = True  # a down device gets no tuning or firmware before it is back
    if restart and not thermal_shutdown:
        out.append(Proposal(
            ActionName.RESTART_DEVICE, 0.9, "device down",
            tuple(k for k in (FindingKind.DEVICE_DOWN, FindingKind.CRITICAL_ALERT) if k in kinds), 1,
            (("mode", "cold"),), Risk.LOW,  # it already carries no traffic: a restart adds no disruption
        ))
    performance = [f for k in _PERFORMANCE for f in by_kind.get(k, [])]
    if not replace and not restart and behind and (degraded or performance or FindingKind.CRITICAL_ALERT in kinds):
        out.append(Proposal(
            ActionName.UPDATE_FIRMWARE, 0.8,
            f"running {facts.firmware_version}, fleet baseline for {facts.model} is {target}",
            tuple(k for k in (FindingKind.DEVICE_DEGRADED, *_PERFORMANCE, FindingKind.CRITICAL_ALERT) if k in kinds),
            2, (("from_version", facts.firmware_version), ("to_version", target or "")),
        ))
    elif not replace and not restart and degraded and not performance and not hot:
        out.append(Proposal(
            ActionName.RESTART_DEVICE, 0.7, "degraded with no metric over threshold: a graceful restart",
            (FindingKind.DEVICE_DEGRADED,), 2, (("mode", "graceful"),),
        ))
    trends = by_kind.get(FindingKind.RISING_TREND, [])
    tunable_trends = [f for f in trends if f.evidence.metric in _TUNABLE_TREND_METRICS]
    if not replace and not restart and (performance or tunable_trends):
        metrics = sorted({f.evidence.metric for f in performance + tunable_trends})
        source = performance or tunable_trends
        out.append(Proposal(
            ActionName.OPTIMIZE_CONFIGURATION, 0.85 if performance else 0.8,
            "; ".join(f.message for f in source[:3]),
            tuple(sorted({f.kind for f in source}, key=list(FindingKind).index)),
            _priority(max((f.severity for f in source), key=lambda s: s.rank)),
            (("metrics", ",".join(metrics)),),
        ))
    recently_maintained = facts.last_maintenance >= (as_of - timedelta(days=RECENT_MAINTENANCE_DAYS)).date()
    if not replace and (not recently_maintained or thermal_shutdown):
        tasks, kinds_used, prio = [], [], 4
        temp_trend = [f for f in trends if f.evidence.metric == "temperature_celsius"]
        if thermal_shutdown:
            tasks.append(COOLING_BEFORE_RESTART)
            kinds_used.append(FindingKind.DEVICE_DOWN)
        if hot or temp_trend:
            tasks.append(COOLING_TASK)
            kinds_used += [FindingKind.HIGH_TEMPERATURE] * bool(hot) + [FindingKind.RISING_TREND] * bool(temp_trend)
            prio = min(prio, 1 if overheating else 2)
        if FindingKind.CRITICAL_ALERT in kinds and not down:
            tasks.append("on-site check of critical alarms")
            kinds_used.append(FindingKind.CRITICAL_ALERT)
            prio = min(prio, 2)
        if FindingKind.WARNING_ALERT in kinds and FindingKind.CRITICAL_ALERT not in kinds and not down:
            tasks.append("on-site check of warning alarms")
            kinds_used.append(FindingKind.WARNING_ALERT)
            prio = min(prio, 3)
        if FindingKind.MAINTENANCE_OVERDUE in kinds:
            tasks.append("overdue preventive maintenance")
            kinds_used.append(FindingKind.MAINTENANCE_OVERDUE)
        if FindingKind.NEARING_END_OF_LIFE in kinds:
            tasks.append("lifecycle health check")
            kinds_used.append(FindingKind.NEARING_END_OF_LIFE)
        if tasks:
            out.append(Proposal(ActionName.SCHEDULE_MAINTENANCE, 0.95, "; ".join(tasks), tuple(kinds_used), prio,
                                (("tasks", "; ".join(tasks)),)))
    contract = by_kind.get(FindingKind.CONTRACT_EXPIRED) or by_kind.get(FindingKind.CONTRACT_EXPIRING)
    if contract:
        expired = contract[0].kind is FindingKind.CONTRACT_EXPIRED
        out.append(Proposal(
            ActionName.RENEW_CONTRACT, 0.98, contract[0].message, (contract[0].kind,), 2 if expired else 3,
            (("current_expiry", facts.maintenance_contract_expiry.isoformat()),),
        ))
    return out


def plan_actions(
    problems: Sequence[Problem],
    findings: Sequence[Finding],
    facts: Mapping[str, DeviceFacts],
    baseline: Mapping[str, str],
    rules: Rules,
    as_of: datetime,
    exclude_keys: Collection[str] = frozenset(),
) -> list[PlannedAction]:
    """Every repair the problems call for, most urgent first, ids `A1`, `A2`, … in that order.

    `exclude_keys` (`equipment_id:action`) are left out: those repairs already await a decision."""
    by_device: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_device[f.equipment_id].append(f)
    rank: dict[str, tuple[int, str]] = {}
    for index, problem in enumerate(problems):
        for eid in problem.equipment_ids:
            rank.setdefault(eid, (index, problem.id))
    actions: list[PlannedAction] = []
    for eid, device_findings in by_device.items():
        device = facts[eid]
        problem_id = rank[eid][1] if eid in rank else None
        for proposal in propose_for_device(device, device_findings, baseline, as_of):
            action = make_action(device, proposal, rules, problem_id=problem_id)
            if action.key not in exclude_keys:
                actions.append(action)
    problem_index = {eid: rank[eid][0] if eid in rank else len(problems) for eid in by_device}
    actions.sort(key=lambda a: (a.priority, problem_index[a.equipment_id], a.site, a.equipment_id,
                                _ACTION_ORDER[a.action]))
    for index, action in enumerate(actions, start=1):
        action.id = f"A{index}"
    return actions


ACTION_PURPOSE = {
    ActionName.RESTART_DEVICE: "a reboot to a clean running state",
    ActionName.UPDATE_FIRMWARE: "a reboot to a clean running state",
    ActionName.REPLACE_HARDWARE: "a hardware replacement",
    ActionName.OPTIMIZE_CONFIGURATION: "configuration tuning",
    ActionName.SCHEDULE_MAINTENANCE: "on-site maintenance",
    ActionName.RENEW_CONTRACT: "support coverage",
}
"""What each repair is for. A firmware update reboots the device too, which is why the rules never
plan it together with a restart; an outside proposal may not add a second action for one purpose."""


def diagnosis_refusal(action: ActionName, findings: Sequence[Finding]) -> str | None:
    """Why a device's diagnosis rules `action` out, or None: what the rules never plan themselves."""
    if findings and all(f.severity is Severity.INFO for f in findings):
        return "its findings are all info-level: it is watched, not acted on"
    down = any(f.kind is FindingKind.DEVICE_DOWN for f in findings)
    overheating = any(f.kind is FindingKind.HIGH_TEMPERATURE and f.severity is Severity.CRITICAL for f in findings)
    if action is ActionName.RESTART_DEVICE and down and overheating:
        return ("it is down at a critical temperature (a thermal shutdown): a restart would fail until its cooling "
                "is fixed, which schedule_maintenance does first")
    return None


def validate_proposal(
    equipment_id: str, action: str, facts: Mapping[str, DeviceFacts], existing: Collection[str],
    findings: Sequence[Finding] = (),
) -> tuple[DeviceFacts, ActionName]:
    """Check an externally proposed action (e.g. from the LLM advisor) against the catalog, the fleet
    and the planning rules: a planned replacement supersedes every other repair of that device, a
    device gets one action per purpose, and nothing its diagnosis rules out (`diagnosis_refusal`,
    over the device's `findings`). `existing` holds the planned `equipment_id:action` keys."""
    if action not in ActionName._value2member_map_:
        raise PlanError(f"{action!r} is not in the action catalog ({', '.join(a.value for a in ActionName)})")
    name = ActionName(action)
    device = facts.get(equipment_id)
    if device is None:
        raise PlanError(f"{equipment_id!r} is not a device with findings in this run")
    if f"{equipment_id}:{name}" in existing:
        raise PlanError(f"{name} for {equipment_id} is already planned")
    refusal = diagnosis_refusal(name, [f for f in findings if f.equipment_id == equipment_id])
    if refusal is not None:
        raise PlanError(f"{name} for {equipment_id} does not follow its diagnosis: {refusal}")
    prefix = f"{equipment_id}:"
    planned = {ActionName(k[len(prefix):]) for k in existing
               if k.startswith(prefix) and k[len(prefix):] in ActionName._value2member_map_}
    if ActionName.REPLACE_HARDWARE in planned:
        raise PlanError(f"{equipment_id} already has replace_hardware planned, which supersedes {name}; "
                        "decide on the replacement first")
    same = sorted(a.value for a in planned if ACTION_PURPOSE[a] == ACTION_PURPOSE[name])
    if same:
        raise PlanError(f"{equipment_id} already has {same[0]} planned for the same purpose "
                        f"({ACTION_PURPOSE[name]}); {name} would be a second action for it")
    return device, name
