"""Types produced and consumed by the pure core: findings, health, problems, plans, outcomes.

The high-volume ones (one or more per device) are slotted dataclasses: the core creates them from
validated data, about a microsecond each, and pydantic still validates and serializes them wherever
they cross a boundary (payloads, artifacts) as fields of models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; used for sorting and `min_severity` filters."""
        return _SEVERITY_RANK[self.value]


_SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}
_HEALTH_RANK = {"happy": 0, "stressed": 1, "critical": 2}


class FindingKind(StrEnum):
    DEVICE_DOWN = "device_down"
    DEVICE_DEGRADED = "device_degraded"
    CRITICAL_ALERT = "critical_alert"
    WARNING_ALERT = "warning_alert"
    HIGH_TEMPERATURE = "high_temperature"
    HIGH_CPU = "high_cpu"
    HIGH_MEMORY = "high_memory"
    PACKET_LOSS = "packet_loss"
    HIGH_LATENCY = "high_latency"
    RISING_TREND = "rising_trend"
    END_OF_LIFE = "end_of_life"
    NEARING_END_OF_LIFE = "nearing_end_of_life"
    CONTRACT_EXPIRED = "contract_expired"
    CONTRACT_EXPIRING = "contract_expiring"
    MAINTENANCE_OVERDUE = "maintenance_overdue"


LIFECYCLE_KINDS = frozenset({
    FindingKind.CONTRACT_EXPIRED, FindingKind.CONTRACT_EXPIRING, FindingKind.MAINTENANCE_OVERDUE,
})
"""Paperwork findings: they raise risk and get actions but do not change a device's health state."""


class HealthState(StrEnum):
    HAPPY = "happy"
    STRESSED = "stressed"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _HEALTH_RANK[self.value]


class ActionName(StrEnum):
    RESTART_DEVICE = "restart_device"
    UPDATE_FIRMWARE = "update_firmware"
    REPLACE_HARDWARE = "replace_hardware"
    OPTIMIZE_CONFIGURATION = "optimize_configuration"
    SCHEDULE_MAINTENANCE = "schedule_maintenance"
    RENEW_CONTRACT = "renew_contract"


DISRUPTIVE_ACTIONS = frozenset({
    ActionName.RESTART_DEVICE, ActionName.UPDATE_FIRMWARE, ActionName.REPLACE_HARDWARE,
})


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    STALE = "stale"
    SKIPPED_UNAPPROVED = "skipped_unapproved"
    NOT_RUN = "not_run"


class DataError(BaseModel):
    """A record the rules cannot trust (e.g. stamped in the future), reported rather than acted on."""

    file: str
    record_id: str
    field: str
    value: str | None = None
    message: str


@dataclass(slots=True, kw_only=True)
class Evidence:
    metric: str
    value: float | str | None = None
    threshold: float | str | None = None
    unit: str = ""
    observed_at: datetime | None = None
    projected_days_to_breach: float | None = None
    slope_per_day: float | None = None


@dataclass(slots=True, kw_only=True)
class Finding:
    """One detected problem on one device, with the evidence that triggered it."""

    equipment_id: str
    site: str
    kind: FindingKind
    severity: Severity
    evidence: Evidence
    confidence: Annotated[float, Field(ge=0, le=1)]
    message: str

    @property
    def key(self) -> str:
        return f"{self.equipment_id}:{self.kind}:{self.evidence.metric}"


@dataclass(slots=True, kw_only=True)
class DeviceFacts:
    """What later steps need to know about a device with findings (so they never reload the fleet)."""

    equipment_id: str
    site: str
    vendor: str
    model: str
    type: str
    status: str
    """As written in the inventory (compare with `.strip().lower()`)."""
    firmware_version: str
    serial_number: str | None = None
    install_date: date
    last_maintenance: date
    maintenance_contract_expiry: date
    age_years: float
    expected_life_years: float | None = None
    alert_types: list[str] = field(default_factory=list)
    critical_alert_types: list[str] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)
    latest_reading_at: datetime | None = None
    """The newest reading the rules used (at or before the analysis time)."""
    newest_reading_at: datetime | None = None
    """The newest reading in the data, later ones included (what the optimize guard compares)."""
    health_state: HealthState = HealthState.HAPPY


@dataclass(slots=True, kw_only=True)
class DeviceHealth:
    equipment_id: str
    site: str
    state: HealthState
    raw_state: HealthState
    previous_state: HealthState | None = None
    held_back: bool = False
    """True when the raw state was critical but the previous run saw `happy`: shown as `stressed`."""


class SiteHealth(BaseModel):
    site: str
    state: HealthState
    devices: int
    happy: int = 0
    stressed: int = 0
    critical: int = 0
    down: int = 0
    degraded: int = 0


class FleetSummary(BaseModel):
    devices: int
    sites: int
    readings: int
    statuses: dict[str, int] = Field(default_factory=dict)
    health: dict[HealthState, int] = Field(default_factory=dict)
    newest_reading_at: datetime | None = None
    models_without_life_expectancy: list[str] = Field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Problem:
    """Findings grouped around one device, or several failing devices at one site."""

    id: str
    scope: str  # "device" | "site"
    site: str
    equipment_ids: list[str]
    severity: Severity
    score: float
    title: str
    explanation: str
    finding_kinds: list[FindingKind]
    llm_explanation: str | None = None


@dataclass(slots=True, kw_only=True)
class SiteImpact:
    """Blast radius: how much of a site the problems touch."""

    site: str
    devices: int
    affected_devices: int
    down: int
    critical: int
    state: HealthState
    share_affected: float


@dataclass(slots=True, kw_only=True)
class PlannedAction:
    """One repair from the catalog, for one device, with everything a human needs to approve it."""

    id: str
    equipment_id: str
    site: str
    action: ActionName
    params: dict[str, str | float | int] = field(default_factory=dict)
    risk: Risk
    confidence: Annotated[float, Field(ge=0, le=1)]
    routine: bool
    disruptive: bool
    priority: Annotated[int, Field(ge=1, le=5, description="1 = most urgent")]
    reason: str
    finding_kinds: list[FindingKind] = field(default_factory=list)
    problem_id: str | None = None
    expected_effect: str
    rollback: str
    guard: dict[str, str | None] = field(default_factory=dict)
    """Field values seen at planning; execution finds the action stale if any changed since."""
    source: str = "rules"
    llm_comment: str | None = None
    llm_priority: int | None = None

    @property
    def key(self) -> str:
        """Identity across runs: the same repair for the same device."""
        return f"{self.equipment_id}:{self.action}"


class DeviceAfter(BaseModel):
    """A device as its action left it: what the report's after-state is built from."""

    status: str
    health: HealthState
    """The rules' health state of the device's state after the action (rolled back: as it is now)."""
    alerts: int = 0


class ActionResult(BaseModel):
    action_id: str
    equipment_id: str
    site: str
    action: ActionName
    outcome: Outcome
    detail: str = ""
    simulated: bool = False
    changes: dict[str, list[str | float | int | None]] = Field(default_factory=dict)
    """field -> [before, after] for fields the action changed (empty unless it succeeded)."""
    attempts: int = 1
    audit_seq: int | None = None
    finished_at: datetime | None = None
    circuit_breaker: bool = False
    """Not run because the run's circuit breaker had tripped (its failures, counted in the ledger)."""
    observed: str = ""
    """What verification saw on the device (the evidence for the outcome), in words."""
    after: DeviceAfter | None = None
    executor: str = "simulated"
    """What carried the action out: `simulated` (the JSON fleet simulator: no real device was touched)."""

