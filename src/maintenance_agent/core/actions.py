"""The repair catalog: what each action is, and how it prechecks, applies, verifies and rolls back.

Everything here is pure: functions take a device's state and return a new one. The activity that
runs an action does the I/O (lock, ledger, journal) around these functions. The fleet is simulated:
"applying" an action changes the JSON records the way the real operation would change the device,
including the cases where the device does not respond as hoped (then verification fails and the
prior state is restored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..models.core import ActionName, DeviceFacts, PlannedAction, Risk
from ..models.fleet import DeviceState, HealthRecord, Reading
from ..models.rules import MetricName, Rules
from .analyze import HARDWARE_ALERT

RENEWAL_DAYS = 365
READING_OFFSET = timedelta(minutes=5)
"""Readings an action adds are stamped just after the analysis time (the fleet's own clock)."""


@dataclass(frozen=True)
class ActionSpec:
    name: ActionName
    summary: str
    disruptive: bool
    base_risk: Risk
    expected_effect: str
    rollback: str
    guard_fields: tuple[str, ...]


CATALOG: dict[ActionName, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(ActionName.RESTART_DEVICE, "Restart the device", True, Risk.MEDIUM,
                   "device returns to Operational with fresh readings",
                   "restore the previous status and records (the device stays as it was)", ("status",)),
        ActionSpec(ActionName.UPDATE_FIRMWARE, "Upgrade firmware to the fleet baseline release", True, Risk.MEDIUM,
                   "device runs the target firmware release",
                   "reinstall the previous firmware release", ("firmware_version",)),
        ActionSpec(ActionName.REPLACE_HARDWARE, "Replace the unit with new hardware of the same model", True, Risk.HIGH,
                   "a new unit (new serial, install date today) is Operational",
                   "reinstall the original unit and restore its records", ("serial_number", "install_date")),
        ActionSpec(ActionName.OPTIMIZE_CONFIGURATION, "Tune configuration (QoS, routing, resource limits)", False, Risk.LOW,
                   "the targeted metrics fall below their warning thresholds",
                   "restore the saved configuration", ("latest_reading_at",)),
        ActionSpec(ActionName.SCHEDULE_MAINTENANCE, "Book and perform preventive maintenance", False, Risk.LOW,
                   "a maintenance visit is recorded and last_maintenance is updated",
                   "cancel the maintenance entry and restore last_maintenance", ("last_maintenance",)),
        ActionSpec(ActionName.RENEW_CONTRACT, "Renew the vendor support contract", False, Risk.LOW,
                   f"support contract extended by {RENEWAL_DAYS} days",
                   "restore the previous contract expiry", ("maintenance_contract_expiry",)),
    )
}


def guard_values(state: DeviceState) -> dict[str, str | None]:
    """Current values of every field any action guards on, as strings."""
    inv = state.inventory
    readings = state.health.recent_readings if state.health else []
    return _guard_dict(inv.status, inv.firmware_version, inv.serial_number, inv.install_date,
                       inv.last_maintenance, inv.maintenance_contract_expiry,
                       max((r["timestamp"] for r in readings), default=None))


def planned_guard(action: ActionName, facts: DeviceFacts) -> dict[str, str | None]:
    """The guard an action carries: the values it was planned against (see `precheck`)."""
    values = _guard_dict(facts.status, facts.firmware_version, facts.serial_number, facts.install_date,
                         facts.last_maintenance, facts.maintenance_contract_expiry, facts.newest_reading_at)
    return {name: values[name] for name in CATALOG[action].guard_fields}


def _guard_dict(status: str, firmware: str, serial: str | None, installed: date, maintained: date,
                expiry: date, latest: datetime | None) -> dict[str, str | None]:
    return {
        "status": status,
        "firmware_version": firmware,
        "serial_number": serial,
        "install_date": installed.isoformat(),
        "last_maintenance": maintained.isoformat(),
        "maintenance_contract_expiry": expiry.isoformat(),
        "latest_reading_at": latest.isoformat() if latest else None,
    }


def precheck(action: PlannedAction, state: DeviceState | None) -> str | None:
    """Why the action must not run any more (`stale`), or None if the device is as planned."""
    if state is None:
        return f"{action.equipment_id} is no longer in the inventory"
    current = guard_values(state)
    for name, planned in action.guard.items():
        if current.get(name) != planned:
            return f"{name} changed since planning ({planned} -> {current.get(name)})"
    return None


class ApplyError(Exception):
    """The operation could not be carried out at all (nothing changed)."""


def _latest(state: DeviceState) -> Reading | None:
    readings = state.health.recent_readings if state.health else []
    return max(readings, key=lambda r: r["timestamp"]) if readings else None


def _with_reading(state: DeviceState, as_of: datetime, *, status: str | None = None,
                  health_score: float | None = None,
                  metrics: Mapping[MetricName, int | float | None] | None = None) -> HealthRecord | None:
    """A copy of the health record with one new reading derived from the latest one."""
    if state.health is None:
        return None
    base = _latest(state)
    reading = Reading(**base) if base else Reading(timestamp=as_of)
    for metric, value in (metrics or {}).items():
        if value is not None:
            reading[metric] = value
    reading["timestamp"] = max(as_of, base["timestamp"] if base else as_of) + READING_OFFSET
    health_changes: dict[str, Any] = {"recent_readings": [reading, *state.health.recent_readings]}
    if status is not None:
        health_changes["status"] = status
    if health_score is not None:
        health_changes["health_score"] = health_score
    return state.health.model_copy(update=health_changes)


def _keep_type(old: Any, new: float) -> int | float:
    """Keep integers integers (the files use whole numbers for most metrics)."""
    return int(round(new)) if isinstance(old, int) else round(new, 2)


def apply(action: PlannedAction, state: DeviceState, as_of: datetime, rules: Rules) -> DeviceState:
    """The device's state after the operation, as the device would really respond."""
    inv, name = state.inventory, action.action
    latest = _latest(state)
    temp = latest.get("temperature_celsius") if latest else None
    temp = inv.temperature_celsius if temp is None else temp
    if name is ActionName.RESTART_DEVICE:
        overheating = temp is not None and temp > (rules.temperature_celsius.critical or rules.temperature_celsius.warning)
        hardware_fault = any(HARDWARE_ALERT.search(a.type) for a in inv.alerts if a.severity.lower() == "critical")
        comes_back = not (overheating or hardware_fault)
        status = "Operational" if comes_back else inv.status
        alerts = [a for a in inv.alerts if a.severity.lower() not in ("critical", "warning")] if comes_back else inv.alerts
        mem = latest.get("memory_utilization_percent") if latest else None
        health = _with_reading(
            state, as_of, status=status,
            metrics={"memory_utilization_percent": _keep_type(mem, max(5.0, mem * 0.7)) if mem is not None else None},
            health_score=max(state.health.health_score or 0, 85) if comes_back and state.health else None,
        )
        return DeviceState(inventory=inv.model_copy(update={"status": status, "uptime_days": 0, "alerts": alerts}),
                           health=health)
    if name is ActionName.UPDATE_FIRMWARE:
        target = str(action.params.get("to_version", inv.firmware_version))
        return DeviceState(inventory=inv.model_copy(update={"firmware_version": target, "uptime_days": 0}),
                           health=state.health)
    if name is ActionName.REPLACE_HARDWARE:
        serial = f"{inv.serial_number or inv.id}-R{as_of:%Y%m%d}"
        cool = min(float(temp), rules.temperature_celsius.warning - 20) if temp is not None else None
        new_inv = inv.model_copy(update={
            "serial_number": serial, "install_date": as_of.date(), "last_maintenance": as_of.date(),
            "status": "Operational", "alerts": [], "uptime_days": 0,
            "firmware_version": str(action.params.get("target_firmware", inv.firmware_version)),
            **({"temperature_celsius": _keep_type(inv.temperature_celsius, cool)}
               if cool is not None and inv.temperature_celsius is not None else {}),
        })
        health = _with_reading(
            state, as_of, status="Operational", health_score=100,
            metrics={"temperature_celsius": _keep_type(temp, cool) if cool is not None else None,
                     "packet_loss_percent": 0.0 if latest and latest.get("packet_loss_percent") is not None else None},
        )
        return DeviceState(inventory=new_inv, health=health)
    if name is ActionName.OPTIMIZE_CONFIGURATION:
        if latest is None:
            raise ApplyError(f"{inv.id} has no readings to tune against")
        tuned: dict[MetricName, int | float | None] = {}
        factors: dict[MetricName, float] = {"cpu_utilization_percent": -15.0, "memory_utilization_percent": -10.0,
                                            "latency_ms": 0.6, "packet_loss_percent": 0.4}
        for metric, factor in factors.items():
            value = latest.get(metric)
            if value is None:
                continue
            new = max(0.0, value + factor) if factor < 0 else value * factor
            tuned[metric] = _keep_type(value, new)
        inv_update: dict[str, Any] = {k: tuned[k] for k in ("cpu_utilization_percent", "memory_utilization_percent")
                                      if k in tuned and getattr(inv, k) is not None}
        return DeviceState(inventory=inv.model_copy(update=inv_update),
                           health=_with_reading(state, as_of, metrics=tuned))
    if name is ActionName.SCHEDULE_MAINTENANCE:
        entry = {"window": as_of.date().isoformat(), "tasks": str(action.params.get("tasks", "preventive maintenance")),
                 "status": "completed", "action_id": action.id}
        history = list((inv.model_extra or {}).get("maintenance_schedule", []))
        update: dict[str, Any] = {"last_maintenance": as_of.date(), "maintenance_schedule": [*history, entry]}
        health = state.health
        warning = rules.temperature_celsius.warning
        if "cooling" in entry["tasks"] and temp is not None and temp > warning:
            cool = warning - 20  # the visit fixed the fans or airflow: the device now reads cool
            if inv.temperature_celsius is not None:
                update["temperature_celsius"] = _keep_type(inv.temperature_celsius, cool)
            health = _with_reading(state, as_of, metrics={"temperature_celsius": _keep_type(temp, cool)})
        return DeviceState(inventory=inv.model_copy(update=update), health=health)
    if name is ActionName.RENEW_CONTRACT:
        start = max(inv.maintenance_contract_expiry, as_of.date())
        return DeviceState(
            inventory=inv.model_copy(update={"maintenance_contract_expiry": start + timedelta(days=RENEWAL_DAYS)}),
            health=state.health)
    raise ApplyError(f"unknown action {name!r}")


def verify(action: PlannedAction, before: DeviceState, after: DeviceState, as_of: datetime, rules: Rules) -> str | None:
    """None if the post-condition holds, else what is wrong (the action is then rolled back)."""
    inv, name = after.inventory, action.action
    if name is ActionName.RESTART_DEVICE:
        return None if inv.status == "Operational" else f"device still {inv.status} after restart"
    if name is ActionName.UPDATE_FIRMWARE:
        target = str(action.params.get("to_version"))
        return None if inv.firmware_version == target else f"firmware is {inv.firmware_version}, expected {target}"
    if name is ActionName.REPLACE_HARDWARE:
        ok = inv.status == "Operational" and inv.serial_number != before.inventory.serial_number
        return None if ok else "replacement unit is not Operational"
    if name is ActionName.OPTIMIZE_CONFIGURATION:
        latest = _latest(after)
        problems = []
        for metric in str(action.params.get("metrics", "")).split(","):
            value = latest.get(metric) if latest and metric else None
            if value is None:
                continue
            limit = rules.metric(metric).warning  # a name from the plan that is not a metric fails here
            # Loading admits only numbers under a metric's name; `Reading.get(str)` cannot say so.
            assert isinstance(value, int | float), f"{metric} holds {value!r}"
            if value > limit:
                problems.append(f"{metric} {value:g} still above {limit:g}")
        return "; ".join(problems) or None
    if name is ActionName.SCHEDULE_MAINTENANCE:
        return None if inv.last_maintenance == as_of.date() else "maintenance not recorded"
    if name is ActionName.RENEW_CONTRACT:
        expected = max(before.inventory.maintenance_contract_expiry, as_of.date()) + timedelta(days=RENEWAL_DAYS)
        ok = inv.maintenance_contract_expiry == expected
        return None if ok else f"contract expires {inv.maintenance_contract_expiry}, expected {expected}"
    return f"no verification for {name}"


def observed(action: PlannedAction, before: DeviceState, after: DeviceState, rules: Rules) -> str:
    """What verification looked at on the device after the operation, in words (the report's evidence)."""
    old, new, name = before.inventory, after.inventory, action.action
    if name is ActionName.RESTART_DEVICE:
        alerts = f"; active alerts {len(old.alerts)} → {len(new.alerts)}" if len(old.alerts) != len(new.alerts) else ""
        return f"status {old.status} → {new.status}{alerts}"
    if name is ActionName.UPDATE_FIRMWARE:
        return f"firmware {old.firmware_version} → {new.firmware_version} (target {action.params.get('to_version')})"
    if name is ActionName.REPLACE_HARDWARE:
        return (f"serial {old.serial_number or '(none)'} → {new.serial_number or '(none)'}; "
                f"status {old.status} → {new.status}")
    if name is ActionName.OPTIMIZE_CONFIGURATION:
        latest, prior = _latest(after), _latest(before)
        seen = []
        for metric in str(action.params.get("metrics", "")).split(","):
            value = latest.get(metric) if latest and metric else None
            if value is None:
                continue
            was = prior.get(metric) if prior else None
            seen.append(f"{metric} {'' if was is None else f'{was:g} → '}{value:g} "
                        f"(warning {rules.metric(metric).warning:g})")
        return "; ".join(seen) or "no tuned metric had a reading"
    if name is ActionName.SCHEDULE_MAINTENANCE:
        return f"last_maintenance {old.last_maintenance} → {new.last_maintenance}"
    if name is ActionName.RENEW_CONTRACT:
        return f"contract expiry {old.maintenance_contract_expiry} → {new.maintenance_contract_expiry}"
    return ""


def changed_fields(before: DeviceState, after: DeviceState) -> dict[str, list[Any]]:
    """field -> [before, after] for inventory fields that differ (plus the readings count)."""
    old = before.inventory.model_dump(mode="json")
    new = after.inventory.model_dump(mode="json")
    changes: dict[str, list[Any]] = {}
    for key in new:
        if key == "alerts" and old.get(key) != new.get(key):
            changes["alerts"] = [len(old.get(key) or []), len(new[key] or [])]
        elif key == "maintenance_schedule" and old.get(key) != new.get(key):
            changes[key] = [len(old.get(key) or []), len(new[key] or [])]
        elif old.get(key) != new[key]:
            changes[key] = [old.get(key), new[key]]
    if before.health and after.health and len(before.health.recent_readings) != len(after.health.recent_readings):
        changes["recent_readings"] = [len(before.health.recent_readings), len(after.health.recent_readings)]
    if before.health and after.health and before.health.status != after.health.status:
        changes["health.status"] = [before.health.status, after.health.status]
    return changes
