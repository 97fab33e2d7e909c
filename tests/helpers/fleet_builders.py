"""Small builders for pure-core tests: each test states only the fields that matter to it.

Records go through the real pydantic models (strict validation), so a builder can never produce
a record the store would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from maintenance_agent.core.detect import Detection, DeviceAssessment, assess_device, detect
from maintenance_agent.models.core import DeviceFacts, Finding, FindingKind
from maintenance_agent.models.fleet import Alert, DeviceState, HealthRecord, InventoryRecord, Reading
from maintenance_agent.models.rules import Rules

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
"""The fixed analysis time every pure-core test uses."""
TODAY = AS_OF.date()
RULES = Rules()
VENDOR, MODEL = "Acme", "X100"


def days_ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def date_offset(days: int) -> date:
    """TODAY plus `days` (negative: in the past)."""
    return TODAY + timedelta(days=days)


def alert(type_: str, severity: str = "critical", at: datetime | None = AS_OF - timedelta(hours=1)) -> dict[str, Any]:
    return {"type": type_, "severity": severity, "timestamp": at}


def inventory(eid: str = "D1", **fields: Any) -> InventoryRecord:
    """A healthy device (no findings under the default rules) with `fields` overriding the defaults."""
    record: dict[str, Any] = {
        "id": eid, "vendor": VENDOR, "model": MODEL, "type": "Access Switch", "serial_number": f"SN-{eid}",
        "site": "SITE-A", "firmware_version": "2.0.0", "install_date": date_offset(-365),
        "last_maintenance": date_offset(-100), "status": "Operational",
        "maintenance_contract_expiry": date_offset(365), "alerts": [],
    }
    record.update(fields)
    return InventoryRecord.model_validate(record)


def reading(at: datetime, **metrics: float) -> Reading:
    return Reading(timestamp=at, **metrics)  # type: ignore[typeddict-item]


def series(metric: str, values: Sequence[float], *, step_days: float = 1.0, end: datetime = AS_OF) -> list[Reading]:
    """Oldest-first readings of one metric, `step_days` apart, the last one at `end`."""
    n = len(values)
    return [reading(end - timedelta(days=step_days * (n - 1 - i)), **{metric: v}) for i, v in enumerate(values)]


def health(eid: str = "D1", readings: Sequence[Reading] = (), **fields: Any) -> HealthRecord:
    return HealthRecord.model_validate({"equipment_id": eid, "recent_readings": list(readings), **fields})


def assess(
    inv: InventoryRecord,
    h: HealthRecord | None = None,
    life: Mapping[tuple[str, str], float] | None = None,
    rules: Rules = RULES,
    as_of: datetime = AS_OF,
    live_alerts: Sequence[Alert] = (),
) -> DeviceAssessment:
    return assess_device(inv, h, life or {}, rules, as_of, live_alerts)


def findings_of(inv: InventoryRecord, h: HealthRecord | None = None, **kwargs: Any) -> list[Finding]:
    return assess(inv, h, **kwargs).findings


def kinds(findings: Sequence[Finding]) -> list[FindingKind]:
    return [f.kind for f in findings]


def only(findings: Sequence[Finding], kind: FindingKind) -> Finding:
    """The single finding of `kind` (fails loudly if there are none or several)."""
    matching = [f for f in findings if f.kind is kind]
    assert len(matching) == 1, f"expected one {kind}, got {[(f.kind, f.evidence) for f in findings]}"
    return matching[0]


def facts_and_findings(
    inv: InventoryRecord, h: HealthRecord | None = None, life: Mapping[tuple[str, str], float] | None = None,
) -> tuple[DeviceFacts, list[Finding]]:
    assessed = assess(inv, h, life)
    return assessed.facts, assessed.findings


def state(inv: InventoryRecord, h: HealthRecord | None = None) -> DeviceState:
    return DeviceState(inventory=inv, health=h)


def run_detect(
    devices: Sequence[tuple[InventoryRecord, HealthRecord | None]],
    life: Mapping[tuple[str, str], float] | None = None,
    previous_states: Mapping[str, str] | None = None,
    as_of: datetime = AS_OF,
) -> Detection:
    """Detect over `devices`; each health record is attached to the inventory record it is paired with."""
    inv = {i.id: i for i, _ in devices}
    hm = {i.id: h if h.equipment_id == i.id else h.model_copy(update={"equipment_id": i.id})
          for i, h in devices if h is not None}
    return detect(inv, hm, life or {}, RULES, as_of, previous_states)
