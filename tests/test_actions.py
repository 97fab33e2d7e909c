"""The repair catalog: precheck (stale guards), apply (simulated effects), verify, changed_fields. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from helpers.fleet_builders import (
    AS_OF,
    RULES,
    TODAY,
    alert,
    assess,
    date_offset,
    days_ago,
    health,
    inventory,
    reading,
    state,
)
from maintenance_agent.core.actions import (
    CATALOG,
    READING_OFFSET,
    RENEWAL_DAYS,
    ApplyError,
    apply,
    changed_fields,
    guard_values,
    precheck,
    verify,
)
from maintenance_agent.core.plan import Proposal, make_action
from maintenance_agent.models.core import ActionName, PlannedAction, Risk
from maintenance_agent.models.fleet import DeviceState

A = ActionName


def planned(action: ActionName, st: DeviceState, as_of: datetime = AS_OF, **params: str | float | int) -> PlannedAction:
    """The action as the planner would make it for this device state (so its guard is the real one)."""
    facts = assess(st.inventory, st.health, as_of=as_of).facts
    made = make_action(facts, Proposal(action, 0.9, "test", (), 2, tuple(params.items())), RULES)
    made.id = "A7"
    return made


def base_state(**inv_fields: Any) -> DeviceState:
    fields: dict[str, Any] = {"status": "Down", "uptime_days": 100, "cpu_utilization_percent": 88}
    fields.update(inv_fields)
    readings = [
        reading(days_ago(1), cpu_utilization_percent=85, memory_utilization_percent=60, temperature_celsius=50,
                latency_ms=10.0, packet_loss_percent=0.1),
        reading(AS_OF, cpu_utilization_percent=90, memory_utilization_percent=60, temperature_celsius=50,
                latency_ms=12.0, packet_loss_percent=0.1),
    ]
    return state(inventory(**fields), health(readings=readings, status="Down", health_score=20))


def dump(st: DeviceState) -> dict[str, Any]:
    return st.model_dump(mode="python")


def newest(st: DeviceState) -> dict[str, Any]:
    assert st.health is not None
    return dict(max(st.health.recent_readings, key=lambda r: r["timestamp"]))


def test_catalog_has_every_action_with_guard_fields() -> None:
    assert set(CATALOG) == set(ActionName)
    assert {name: spec.guard_fields for name, spec in CATALOG.items()} == {
        A.RESTART_DEVICE: ("status",),
        A.UPDATE_FIRMWARE: ("firmware_version",),
        A.REPLACE_HARDWARE: ("serial_number", "install_date"),
        A.OPTIMIZE_CONFIGURATION: ("latest_reading_at",),
        A.SCHEDULE_MAINTENANCE: ("last_maintenance",),
        A.RENEW_CONTRACT: ("maintenance_contract_expiry",),
    }
    assert {name for name, spec in CATALOG.items() if spec.base_risk is Risk.LOW} == {
        A.OPTIMIZE_CONFIGURATION, A.SCHEDULE_MAINTENANCE, A.RENEW_CONTRACT}


# ------------------------------------------------------------------------------------------------
# precheck


def _inv(**update: Any) -> Callable[[DeviceState], DeviceState]:
    return lambda st: DeviceState(inventory=st.inventory.model_copy(update=update), health=st.health)


def _new_reading(st: DeviceState) -> DeviceState:
    assert st.health is not None
    extra = reading(AS_OF + timedelta(hours=1), cpu_utilization_percent=10)
    return DeviceState(inventory=st.inventory,
                       health=st.health.model_copy(update={"recent_readings": [extra, *st.health.recent_readings]}))


NOON = "2026-11-01T12:00:00+00:00"
STALE = [
    (A.RESTART_DEVICE, _inv(status="Operational"), "status changed since planning (Down -> Operational)"),
    (A.UPDATE_FIRMWARE, _inv(firmware_version="2.1.0"), "firmware_version changed since planning (2.0.0 -> 2.1.0)"),
    (A.REPLACE_HARDWARE, _inv(serial_number="SN-NEW"), "serial_number changed since planning (SN-D1 -> SN-NEW)"),
    (A.REPLACE_HARDWARE, _inv(serial_number=None), "serial_number changed since planning (SN-D1 -> None)"),
    (A.REPLACE_HARDWARE, _inv(install_date=TODAY),
     f"install_date changed since planning ({date_offset(-365)} -> {TODAY})"),
    (A.OPTIMIZE_CONFIGURATION, _new_reading,
     f"latest_reading_at changed since planning ({NOON} -> 2026-11-01T13:00:00+00:00)"),
    (A.SCHEDULE_MAINTENANCE, _inv(last_maintenance=TODAY),
     f"last_maintenance changed since planning ({date_offset(-100)} -> {TODAY})"),
    (A.RENEW_CONTRACT, _inv(maintenance_contract_expiry=date_offset(800)),
     f"maintenance_contract_expiry changed since planning ({date_offset(365)} -> {date_offset(800)})"),
]
UNGUARDED = [
    (A.RESTART_DEVICE, _inv(firmware_version="9.9", last_maintenance=TODAY)),
    (A.UPDATE_FIRMWARE, _inv(status="Operational")),
    (A.REPLACE_HARDWARE, _inv(status="Operational", firmware_version="9.9")),
    (A.OPTIMIZE_CONFIGURATION, _inv(status="Operational", cpu_utilization_percent=10)),
    (A.SCHEDULE_MAINTENANCE, _new_reading),
    (A.RENEW_CONTRACT, _inv(status="Operational", last_maintenance=TODAY)),
]


@pytest.mark.parametrize("action", list(ActionName))
def test_precheck_passes_when_the_device_is_as_planned(action: ActionName) -> None:
    st = base_state()
    assert precheck(planned(action, st), st) is None


@pytest.mark.parametrize(("action", "change", "reason"), STALE, ids=[f"{a.value}-{i}" for i, (a, _, _) in enumerate(STALE)])
def test_precheck_is_stale_when_a_guarded_field_changed(
    action: ActionName, change: Callable[[DeviceState], DeviceState], reason: str
) -> None:
    st = base_state()
    assert precheck(planned(action, st), change(st)) == reason


@pytest.mark.parametrize(("action", "change"), UNGUARDED, ids=[a.value for a, _ in UNGUARDED])
def test_precheck_ignores_fields_the_action_does_not_guard(
    action: ActionName, change: Callable[[DeviceState], DeviceState]
) -> None:
    st = base_state()
    assert precheck(planned(action, st), change(st)) is None


@pytest.mark.parametrize("action", list(ActionName))
def test_precheck_is_stale_when_the_device_is_gone(action: ActionName) -> None:
    assert precheck(planned(action, base_state()), None) == "D1 is no longer in the inventory"


def test_guard_values_reads_every_guarded_field() -> None:
    st = base_state()
    assert guard_values(st) == {
        "status": "Down", "firmware_version": "2.0.0", "serial_number": "SN-D1",
        "install_date": date_offset(-365).isoformat(), "last_maintenance": date_offset(-100).isoformat(),
        "maintenance_contract_expiry": date_offset(365).isoformat(), "latest_reading_at": NOON,
    }
    assert guard_values(state(inventory()))["latest_reading_at"] is None


def test_optimize_is_not_stale_when_planned_at_an_earlier_analysis_time() -> None:
    st = base_state()  # readings at AS_OF - 1 day and at AS_OF
    action = planned(A.OPTIMIZE_CONFIGURATION, st, as_of=days_ago(0.5))
    assert precheck(action, st) is None


def test_restart_is_not_stale_for_a_status_with_surrounding_spaces() -> None:
    st = base_state(status="Down ")
    assert precheck(planned(A.RESTART_DEVICE, st), st) is None


# ------------------------------------------------------------------------------------------------
# restart_device


def test_restart_brings_a_down_device_back() -> None:
    before = base_state(alerts=[alert("BGP session down"), alert("High CPU", "warning"), alert("Config saved", "info")])
    action = planned(A.RESTART_DEVICE, before)
    after = apply(action, before, AS_OF, RULES)

    assert (after.inventory.status, after.inventory.uptime_days) == ("Operational", 0)
    assert [a.type for a in after.inventory.alerts] == ["Config saved"]  # critical and warning alarms cleared
    assert after.health is not None
    assert (after.health.status, after.health.health_score) == ("Operational", 85)
    added = after.health.recent_readings[0]
    assert added == {"timestamp": AS_OF + READING_OFFSET, "cpu_utilization_percent": 90,
                     "memory_utilization_percent": 42, "temperature_celsius": 50, "latency_ms": 12.0,
                     "packet_loss_percent": 0.1}  # memory 60 * 0.7, kept an integer
    assert isinstance(added["memory_utilization_percent"], int)
    assert after.health.recent_readings[1:] == before.health.recent_readings  # type: ignore[union-attr]
    assert verify(action, before, after, AS_OF, RULES) is None
    assert changed_fields(before, after) == {
        "status": ["Down", "Operational"], "uptime_days": [100, 0], "alerts": [3, 1],
        "recent_readings": [2, 3], "health.status": ["Down", "Operational"],
    }


@pytest.mark.parametrize(("case", "inv_fields", "latest_temp", "comes_back"), [
    ("at-critical-temperature", {}, 75, True),
    ("overheating", {}, 75.5, False),
    ("overheating-snapshot-only", {"temperature_celsius": 80}, None, False),
    ("hardware-fault-alarm", {"alerts": [alert("Fan failure")]}, 50, False),
    ("power-alarm-mixed-case", {"alerts": [alert("PSU Redundancy Lost", "CRITICAL")]}, 50, False),
    ("hardware-warning-only", {"alerts": [alert("Fan failure", "warning")]}, 50, True),
    ("software-critical-alarm", {"alerts": [alert("BGP session down")]}, 50, True),
])  # fmt: skip
def test_restart_outcome_depends_on_heat_and_hardware(case: str, inv_fields: dict[str, Any],
                                                      latest_temp: float | None, comes_back: bool) -> None:
    inv = inventory(status="Down", uptime_days=3, **inv_fields)
    h = None if latest_temp is None else health(readings=[reading(AS_OF, temperature_celsius=latest_temp)],
                                                status="Down")
    before = state(inv, h)
    action = planned(A.RESTART_DEVICE, before)
    after = apply(action, before, AS_OF, RULES)

    problem = verify(action, before, after, AS_OF, RULES)
    if comes_back:
        assert (after.inventory.status, problem) == ("Operational", None)
    else:
        assert after.inventory.status == "Down"
        assert problem == "device still Down after restart"
        assert after.inventory.alerts == inv.alerts
    if h is None:
        assert after.health is None
    else:
        assert after.health is not None and len(after.health.recent_readings) == 2
        assert after.health.status == ("Operational" if comes_back else "Down")


def test_added_reading_is_stamped_after_the_newest_reading() -> None:
    # A reading later than the analysis time: the new one follows it, not the analysis time.
    later = AS_OF + timedelta(hours=2)
    before = state(inventory(status="Down"), health(readings=[reading(later, cpu_utilization_percent=5)]))
    after = apply(planned(A.RESTART_DEVICE, before), before, AS_OF, RULES)
    assert after.health is not None
    assert after.health.recent_readings[0]["timestamp"] == later + READING_OFFSET


# ------------------------------------------------------------------------------------------------
# update_firmware, replace_hardware


def test_update_firmware_sets_the_target_version() -> None:
    before = base_state()
    action = planned(A.UPDATE_FIRMWARE, before, from_version="2.0.0", to_version="2.1.0")
    after = apply(action, before, AS_OF, RULES)
    assert (after.inventory.firmware_version, after.inventory.uptime_days) == ("2.1.0", 0)
    assert after.health == before.health
    assert verify(action, before, after, AS_OF, RULES) is None
    assert verify(action, before, before, AS_OF, RULES) == "firmware is 2.0.0, expected 2.1.0"
    assert changed_fields(before, after) == {"firmware_version": ["2.0.0", "2.1.0"], "uptime_days": [100, 0]}


def test_replace_hardware_installs_a_new_operational_unit() -> None:
    inv = inventory(status="Down", temperature_celsius=78, uptime_days=40, alerts=[alert("Fan failure")],
                    install_date=date_offset(-2500), last_maintenance=date_offset(-400))
    h = health(readings=[reading(AS_OF, temperature_celsius=78, packet_loss_percent=1.5)], status="Down",
               health_score=10)
    before = state(inv, h)
    action = planned(A.REPLACE_HARDWARE, before, model="X100", target_firmware="2.1.0")
    after = apply(action, before, AS_OF, RULES)

    new = after.inventory
    assert (new.serial_number, new.install_date, new.last_maintenance) == ("SN-D1-R20261101", TODAY, TODAY)
    assert (new.status, new.alerts, new.uptime_days, new.firmware_version) == ("Operational", [], 0, "2.1.0")
    assert new.temperature_celsius == 50 and isinstance(new.temperature_celsius, int)  # warning 70 - 20
    assert after.health is not None
    assert (after.health.status, after.health.health_score) == ("Operational", 100)
    assert after.health.recent_readings[0] == {"timestamp": AS_OF + READING_OFFSET, "temperature_celsius": 50,
                                               "packet_loss_percent": 0.0}
    assert verify(action, before, after, AS_OF, RULES) is None
    assert verify(action, before, before, AS_OF, RULES) == "replacement unit is not Operational"
    assert changed_fields(before, after) == {
        "serial_number": ["SN-D1", "SN-D1-R20261101"], "install_date": [date_offset(-2500).isoformat(), "2026-11-01"],
        "last_maintenance": [date_offset(-400).isoformat(), "2026-11-01"], "status": ["Down", "Operational"],
        "firmware_version": ["2.0.0", "2.1.0"], "temperature_celsius": [78, 50], "uptime_days": [40, 0],
        "alerts": [1, 0], "recent_readings": [1, 2], "health.status": ["Down", "Operational"],
    }


def test_replace_hardware_without_a_serial_uses_the_device_id() -> None:
    before = state(inventory(status="Down", serial_number=None))
    after = apply(planned(A.REPLACE_HARDWARE, before), before, AS_OF, RULES)
    assert after.inventory.serial_number == "D1-R20261101"
    assert after.inventory.firmware_version == "2.0.0"  # no target given: keeps its release
    assert after.health is None


# ------------------------------------------------------------------------------------------------
# optimize_configuration


@pytest.mark.parametrize(("latest", "metrics", "tuned", "problem"), [
    ({"cpu_utilization_percent": 90, "memory_utilization_percent": 90},
     "cpu_utilization_percent,memory_utilization_percent",
     {"cpu_utilization_percent": 75, "memory_utilization_percent": 80}, None),
    ({"cpu_utilization_percent": 99}, "cpu_utilization_percent", {"cpu_utilization_percent": 84},
     "cpu_utilization_percent 84 still above 80"),
    ({"cpu_utilization_percent": 10, "memory_utilization_percent": 5}, "cpu_utilization_percent",
     {"cpu_utilization_percent": 0, "memory_utilization_percent": 0}, None),  # never below zero
    ({"latency_ms": 25.0, "packet_loss_percent": 2.5}, "latency_ms,packet_loss_percent",
     {"latency_ms": 15.0, "packet_loss_percent": 1.0}, "packet_loss_percent 1 still above 0.5"),  # 15.0 is not > 15
    ({"latency_ms": 30.0}, "latency_ms", {"latency_ms": 18.0}, "latency_ms 18 still above 15"),
    ({"latency_ms": 30.0, "cpu_utilization_percent": 99}, "cpu_utilization_percent,latency_ms",
     {"latency_ms": 18.0, "cpu_utilization_percent": 84},
     "cpu_utilization_percent 84 still above 80; latency_ms 18 still above 15"),
    ({"latency_ms": 30.0, "cpu_utilization_percent": 50}, "cpu_utilization_percent",
     {"latency_ms": 18.0, "cpu_utilization_percent": 35}, None),  # only the targeted metrics are verified
])  # fmt: skip
def test_optimize_lowers_metrics_and_verifies_against_warning(
    latest: dict[str, float], metrics: str, tuned: dict[str, float], problem: str | None
) -> None:
    before = state(inventory(), health(readings=[reading(days_ago(1), cpu_utilization_percent=1),
                                                 reading(AS_OF, temperature_celsius=40, **latest)]))
    action = planned(A.OPTIMIZE_CONFIGURATION, before, metrics=metrics)
    after = apply(action, before, AS_OF, RULES)

    assert newest(after) == {"timestamp": AS_OF + READING_OFFSET, "temperature_celsius": 40, **tuned}
    for metric, value in tuned.items():
        assert type(newest(after)[metric]) is type(latest[metric])  # integers stay integers
    assert verify(action, before, after, AS_OF, RULES) == problem


def test_optimize_updates_inventory_snapshot_only_where_it_exists() -> None:
    before = state(inventory(cpu_utilization_percent=88),
                   health(readings=[reading(AS_OF, cpu_utilization_percent=90, memory_utilization_percent=90)]))
    after = apply(planned(A.OPTIMIZE_CONFIGURATION, before, metrics="cpu_utilization_percent"), before, AS_OF, RULES)
    assert (after.inventory.cpu_utilization_percent, after.inventory.memory_utilization_percent) == (75, None)
    assert changed_fields(before, after) == {"cpu_utilization_percent": [88, 75], "recent_readings": [1, 2]}


def test_optimize_without_readings_cannot_apply() -> None:
    before = state(inventory(cpu_utilization_percent=90), health(readings=[]))
    with pytest.raises(ApplyError, match="D1 has no readings to tune against"):
        apply(planned(A.OPTIMIZE_CONFIGURATION, before), before, AS_OF, RULES)


# ------------------------------------------------------------------------------------------------
# schedule_maintenance, renew_contract


@pytest.mark.parametrize("history", [[], [{"window": "2025-01-01", "tasks": "fan swap", "status": "completed"}]])
def test_schedule_maintenance_records_an_entry(history: list[dict[str, str]]) -> None:
    inv = inventory(last_maintenance=date_offset(-800), **({"maintenance_schedule": history} if history else {}))
    before = state(inv)
    action = planned(A.SCHEDULE_MAINTENANCE, before, tasks="cooling and fan inspection")
    after = apply(action, before, AS_OF, RULES)

    assert after.inventory.last_maintenance == TODAY
    entry = {"window": "2026-11-01", "tasks": "cooling and fan inspection", "status": "completed", "action_id": "A7"}
    assert (after.inventory.model_extra or {})["maintenance_schedule"] == [*history, entry]
    assert verify(action, before, after, AS_OF, RULES) is None
    assert verify(action, before, before, AS_OF, RULES) == "maintenance not recorded"
    assert changed_fields(before, after) == {
        "last_maintenance": [date_offset(-800).isoformat(), "2026-11-01"],
        "maintenance_schedule": [len(history), len(history) + 1],
    }


@pytest.mark.parametrize(("expiry_offset", "new_expiry_offset"), [
    (-30, RENEWAL_DAYS),  # expired: a year from today
    (0, RENEWAL_DAYS),
    (100, 100 + RENEWAL_DAYS),  # still running: a year from the current expiry
])
def test_renew_contract_extends_from_the_later_of_expiry_and_today(expiry_offset: int, new_expiry_offset: int) -> None:
    before = state(inventory(maintenance_contract_expiry=date_offset(expiry_offset)))
    action = planned(A.RENEW_CONTRACT, before)
    after = apply(action, before, AS_OF, RULES)
    assert after.inventory.maintenance_contract_expiry == date_offset(new_expiry_offset)
    assert verify(action, before, after, AS_OF, RULES) is None
    assert changed_fields(before, after) == {
        "maintenance_contract_expiry": [date_offset(expiry_offset).isoformat(),
                                        date_offset(new_expiry_offset).isoformat()]}


def test_renew_contract_verification_fails_when_not_extended() -> None:
    before = state(inventory(maintenance_contract_expiry=date_offset(-30)))
    action = planned(A.RENEW_CONTRACT, before)
    expected = AS_OF.date() + timedelta(days=365)
    assert verify(action, before, before, AS_OF, RULES) == f"contract expires {date_offset(-30)}, expected {expected}"


def test_renew_contract_verification_fails_when_not_extended_by_the_full_term() -> None:
    before = state(inventory(maintenance_contract_expiry=date_offset(300)))
    action = planned(A.RENEW_CONTRACT, before)
    short = state(inventory(maintenance_contract_expiry=date_offset(400)))
    assert verify(action, before, short, AS_OF, RULES) is not None


# ------------------------------------------------------------------------------------------------
# apply is pure


PARAMS: dict[ActionName, dict[str, str]] = {
    A.UPDATE_FIRMWARE: {"to_version": "2.1.0"},
    A.REPLACE_HARDWARE: {"target_firmware": "2.1.0"},
    A.OPTIMIZE_CONFIGURATION: {"metrics": "cpu_utilization_percent"},
    A.SCHEDULE_MAINTENANCE: {"tasks": "overdue preventive maintenance"},
}


@pytest.mark.parametrize("action", list(ActionName))
def test_apply_never_mutates_its_input(action: ActionName) -> None:
    before = base_state(alerts=[alert("BGP session down"), alert("Fan noise", "warning")],
                        maintenance_schedule=[{"window": "2025-01-01", "tasks": "x", "status": "completed"}],
                        temperature_celsius=60)
    snapshot = dump(before)
    extra_snapshot = dict(before.inventory.model_extra or {})
    readings_snapshot = [dict(r) for r in before.health.recent_readings]  # type: ignore[union-attr]

    after = apply(planned(action, before, **PARAMS.get(action, {})), before, AS_OF, RULES)

    assert dump(before) == snapshot
    assert before.inventory.model_extra == extra_snapshot
    assert [dict(r) for r in before.health.recent_readings] == readings_snapshot  # type: ignore[union-attr]
    assert after is not before and after.inventory is not before.inventory
    assert changed_fields(before, after)  # every action changes something on this device


def test_changed_fields_is_empty_for_identical_states() -> None:
    st = base_state()
    assert changed_fields(st, st) == {}
