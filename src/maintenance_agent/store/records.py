"""What the store keeps: its file names, its errors, the journal's change record and the fleet view."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..models.core import Outcome
from ..models.fleet import DeviceState, HealthRecord, InventoryRecord, LifeExpectancy

STATE_DIRNAME = ".agent"
AUDIT_FILE = "audit.jsonl"
MARK_FILE = "compacted.json"
HEALTH_STATE_FILE = "health_state.json"
LEASES_FILE = "leases.json"
USED_PROOFS_FILE = "used_proofs.json"
LOCK_FILE = "store.lock"

RESET_HINT = "fix the file, or restore the default fleet (reset the data directory)"
"""Said to every interface: the scripts add how they reset (`--reset-data`), the MCP server has no reset."""
PROBLEMS = frozenset({Outcome.FAILED.value, Outcome.ROLLED_BACK.value})
"""The outcomes the circuit breaker counts and a concurrent run must not repeat."""


class FleetDataError(Exception):
    """A data file is missing or malformed. The one-line message names file, record and field."""


class StoreBusy(Exception):
    """Another process held the store lock for too long."""


class ChangeRecord(BaseModel):
    """One line of the audit log: a committed change, or an attempt that changed nothing."""

    model_config = ConfigDict(extra="allow")

    seq: int = 0
    at: datetime
    actor: str
    run_id: str | None = None
    """The ledger key: one run of a workflow (its Temporal run chain), never reused by another run."""
    workflow_id: str | None = None
    action_id: str | None = None
    action: str | None = None
    equipment_id: str | None = None
    site: str | None = None
    outcome: str
    detail: str = ""
    before: DeviceState | None = None
    after: DeviceState | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    """Structured outcome the caller wants back on an idempotent retry (e.g. verification notes)."""


@dataclass
class Fleet:
    """A validated, in-memory view of the fleet. Records keep their file order."""

    inventory: dict[str, InventoryRecord]
    health: dict[str, HealthRecord]
    life: list[LifeExpectancy]
    file_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied_seq: int = 0

    def life_years(self) -> dict[tuple[str, str], float]:
        return {(le.vendor, le.model): float(le.expected_life_years) for le in self.life}

    def with_health(self, health: dict[str, HealthRecord]) -> Fleet:
        """The same fleet with its readings from elsewhere (a metrics source), for detection only."""
        return replace(self, health=health)

    def device(self, equipment_id: str) -> DeviceState | None:
        inv = self.inventory.get(equipment_id)
        return None if inv is None else DeviceState(inventory=inv, health=self.health.get(equipment_id))


def apply_change(fleet: Fleet, change: ChangeRecord) -> None:
    """Replay one journal entry on the fleet: its `after` records replace the device's (idempotent)."""
    after = change.after
    if after is None:
        return
    inv = after.inventory
    if inv.id in fleet.inventory:
        fleet.inventory[inv.id] = inv
    if after.health is not None and inv.id in fleet.inventory:
        fleet.health[inv.id] = after.health


def check_writable(state: DeviceState) -> None:
    """Refuse a change the fleet files could never receive (a number beyond what they hold, a value
    their own validation would refuse): committed to the log, it would make every rewrite fail."""
    records: tuple[tuple[BaseModel | None, type[BaseModel]], ...] = (
        (state.inventory, InventoryRecord), (state.health, HealthRecord))
    for record, model in records:
        if record is None:
            continue
        data = dump_record(record)
        try:
            json.dumps(data, allow_nan=False)
            model.model_validate_json(orjson.dumps(data))
        except (ValueError, TypeError, orjson.JSONEncodeError) as exc:
            ident = state.inventory.id
            raise FleetDataError(f"the new state of {ident} cannot be written to the fleet files ({exc}); "
                                 f"nothing was committed") from None


def dump_record(record: BaseModel) -> dict[str, Any]:
    """A fleet record as its file holds it: only the fields it was given."""
    return record.model_dump(mode="json", exclude_unset=True)
