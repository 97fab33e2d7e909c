"""The fleet data files: one pydantic model per record kind.

Validation is strict (JSON strings are not numbers, numbers are not dates, timestamps carry a zone)
and unknown fields are kept (`extra="allow"`) so a write never drops what another tool put in the files. Numbers keep
their JSON type (`48` stays `48`, not `48.0`) so an untouched record round-trips unchanged, and every number, known
field or not, must survive that round trip: `NaN`, `Infinity`, `1e400` and integers beyond 64 bits are refused at
load time (they would be written back as `null`, or not at all).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeAlias

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, with_config
from typing_extensions import NotRequired, TypedDict

INVENTORY_FILE = "infrastructure_inventory.json"
HEALTH_FILE = "health_metrics.json"
LIFE_FILE = "equipment_life_expectancy.json"
FLEET_FILES = (INVENTORY_FILE, HEALTH_FILE, LIFE_FILE)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The integers the files can hold: what the writer (orjson) and most other JSON tools accept."""
FLOAT_LIMIT = 9.2e18
"""Just below 2**63: an integer the integer branch refuses (past 64 bits) is refused by the float
branch too, instead of being read as a float and written back as another number."""


def _round_trips(value: Any) -> Any:
    """An unknown field's value must be written back exactly as it was read."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError("is not a finite number (NaN, Infinity or beyond ±1.8e308), so it cannot be written back")
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("is an integer beyond the 64-bit range, so it cannot be written back")
    if isinstance(value, list):
        for item in value:
            _round_trips(item)
    elif isinstance(value, dict):
        for item in value.values():
            _round_trips(item)
    return value


Extra = Annotated[Any, AfterValidator(_round_trips)]
"""The type of every unknown field: kept as it is, checked only when present (no cost otherwise)."""


# A JSON number within limits (and within 64 bits), keeping its type. The limits sit on each branch
# of the union so pydantic-core checks them natively (a constraint on the union itself runs in
# Python: about five times slower over the 3.5 million readings of a 100,000-device fleet). Floats
# are finite (the models' `allow_inf_nan=False`). Spelled out per alias, not built by a function,
# so the type checker sees `int | float`.
Percent: TypeAlias = Annotated[StrictInt, Field(ge=0, le=100)] | Annotated[StrictFloat, Field(ge=0, le=100)]
NonNegative: TypeAlias = (Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
                          | Annotated[StrictFloat, Field(ge=0, le=FLOAT_LIMIT)])
Celsius: TypeAlias = Annotated[StrictInt, Field(ge=-60, le=200)] | Annotated[StrictFloat, Field(ge=-60, le=200)]
LifeYears: TypeAlias = (Annotated[StrictInt, Field(gt=0, ge=INT64_MIN, le=100)]
                        | Annotated[StrictFloat, Field(gt=0, ge=-FLOAT_LIMIT, le=100)])
NonEmpty = Annotated[str, Field(min_length=1)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, validate_default=False, allow_inf_nan=False)
    __pydantic_extra__: dict[str, Extra]


class Alert(_Record):
    type: NonEmpty
    severity: NonEmpty
    timestamp: AwareDatetime | None = None


class InventoryRecord(_Record):
    id: NonEmpty
    vendor: NonEmpty
    model: NonEmpty
    type: NonEmpty
    serial_number: str | None = None
    site: NonEmpty
    location: str | None = None
    ip_address: str | None = None
    firmware_version: NonEmpty
    install_date: date
    last_maintenance: date
    status: NonEmpty
    temperature_celsius: Celsius | None = None
    cpu_utilization_percent: Percent | None = None
    memory_utilization_percent: Percent | None = None
    uptime_days: NonNegative | None = None
    maintenance_contract_expiry: date
    alerts: list[Alert] = Field(default_factory=list)


@with_config(ConfigDict(strict=True, allow_inf_nan=False))
class Reading(TypedDict, extra_items=Extra):  # type: ignore[call-arg]
    """One reading. A TypedDict, not a model: a 100,000-device fleet has 700,000 of them, and plain
    dicts validate about twice as fast and take half the memory."""

    timestamp: AwareDatetime
    cpu_utilization_percent: NotRequired[Percent | None]
    memory_utilization_percent: NotRequired[Percent | None]
    temperature_celsius: NotRequired[Celsius | None]
    packet_loss_percent: NotRequired[Percent | None]
    latency_ms: NotRequired[NonNegative | None]


class HealthRecord(_Record):
    equipment_id: NonEmpty
    site: str | None = None
    status: str | None = None
    health_score: Percent | None = None
    recent_readings: list[Reading] = Field(default_factory=list)


class LifeExpectancy(_Record):
    vendor: NonEmpty
    model: NonEmpty
    type: str | None = None
    expected_life_years: LifeYears


class DeviceState(BaseModel):
    """One device's records in both files (health may be absent)."""

    inventory: InventoryRecord
    health: HealthRecord | None = None


class InventoryFile(_Record):
    infrastructure_inventory: list[InventoryRecord]


class HealthFile(_Record):
    health_metrics: list[HealthRecord]


class LifeFile(_Record):
    equipment_life_expectancy: list[LifeExpectancy]

