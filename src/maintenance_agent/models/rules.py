"""Detection and policy thresholds: one model with documented defaults, overridable from a JSON file.

A breach is strictly greater than its threshold: a value equal to a threshold is not a breach.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REPEAT_HOLD_FLOOR_MINUTES = 60.0


MetricName = Literal[
    "temperature_celsius", "cpu_utilization_percent", "memory_utilization_percent",
    "packet_loss_percent", "latency_ms",
]
"""A metric the rules judge: a reading key and a `Rules` field of the same name."""
METRICS: tuple[MetricName, ...] = get_args(MetricName)


NOISE_FLOOR: dict[MetricName, float] = {
    "cpu_utilization_percent": 1.2, "memory_utilization_percent": 1.2, "temperature_celsius": 0.6,
    "packet_loss_percent": 0.03, "latency_ms": 0.6,
}


class MetricThreshold(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    warning: float
    critical: float | None = None
    unit: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> MetricThreshold:
        if self.critical is not None and self.critical < self.warning:
            raise ValueError("critical must not be below warning")
        return self


class Rules(BaseModel):
    """Every number the rules use. Defaults follow common vendor guidance for network gear."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature_celsius: MetricThreshold = MetricThreshold(warning=70, critical=75, unit="°C")
    cpu_utilization_percent: MetricThreshold = MetricThreshold(warning=80, critical=95, unit="%")
    memory_utilization_percent: MetricThreshold = MetricThreshold(warning=85, critical=95, unit="%")
    packet_loss_percent: MetricThreshold = MetricThreshold(warning=0.5, critical=2, unit="%")
    latency_ms: MetricThreshold = MetricThreshold(warning=15, critical=20, unit="ms")

    nearing_end_of_life_fraction: float = Field(0.8, gt=0, lt=1)
    contract_expiring_days: int = Field(90, ge=1)
    maintenance_overdue_days: int = Field(730, ge=1)
    critical_alert_max_age_days: int = Field(30, ge=1)
    """Critical alerts older than this (before the analysis time) are history, not a finding."""
    stale_reading_days: float = Field(2.0, gt=0)
    """A newest reading older than this lowers the confidence of threshold findings."""

    trend_min_readings: int = Field(4, ge=3)
    trend_window_days: float = Field(14, gt=0)
    trend_horizon_days: float = Field(30, gt=0)
    """A trend counts when its breach, projected from the slope's lower confidence bound, is this close."""
    trend_significance: float = Field(0.05, gt=0, lt=0.5)
    """One-sided level of the slope's t-test (split between the windows tried; see core/trends.py)."""
    trend_projection_confidence: float = Field(0.8, ge=0.5, lt=1)
    """The breach is projected from the slope's lower confidence bound at this one-sided level: later
    than the point estimate says, by more when the readings are few or noisy."""
    trend_min_effect: float = Field(3.5, ge=0)
    """The least rise over the trend's window, in residual standard deviations of the metric."""
    trend_noise_floor: dict[MetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: dict(NOISE_FLOOR))
    """The least residual spread the trend test assumes per metric: the standard deviation of ordinary
    reading-to-reading jitter (CPU and memory +-2 points, temperature and latency +-1, loss +-0.05).
    A few readings that happen to line up then cannot pass for a trend; set lower floors for quieter
    telemetry (0: trust the readings' own spread alone). Metrics a rules file leaves out keep theirs."""
    trend_min_r2: float = Field(0.6, ge=0, le=1)
    """A floor on the line's R², on top of the tests above (the first version's only test). Its default
    stays: a default that changes would change the digest of every signed run's input (identity.py)."""
    trend_urgent_days: float = Field(7, gt=0)
    """A trend breaching within this many days is a warning (and acted on); a later one is info."""

    breach_confirm_readings: int = Field(2, ge=1)
    """A warning breach counts once this many consecutive readings, the newest among them, are over the
    warning threshold; a shorter run (a single spike) is reported as info. Critical breaches and a
    device's status need no confirmation."""
    breach_confirm_minutes: float | None = Field(None, gt=0)
    """When set, the breach must instead have lasted this long, from the first reading of the run over
    the threshold to the newest one (an alerting rule's `for:`)."""

    future_tolerance_minutes: float = Field(10, ge=0, le=24 * 60)
    """Readings and alerts stamped more than this after the current time are data errors: a device
    clock gone wrong. They are reported, ignored by the rules, and never move the analysis time."""

    repeat_hold_minutes: float = Field(REPEAT_HOLD_FLOOR_MINUTES, ge=0, le=7 * 24 * 60)
    """A repair that failed or was rolled back on a device is not tried again there by another run
    within this time: that run finds it `stale`, with the reason (concurrent runs repeat no work).
    It protects other runs' work, so a run's rules may lengthen it but never shorten it below
    REPEAT_HOLD_FLOOR_MINUTES (see `repeat_hold`)."""

    routine_confidence: float = Field(0.95, ge=0, le=1)
    """An action is routine (may run without approval) at or above this confidence and low risk."""

    @model_validator(mode="after")
    def _projection_within_the_test(self) -> Rules:
        if self.trend_projection_confidence > 1 - self.trend_significance:
            raise ValueError(f"trend_projection_confidence ({self.trend_projection_confidence:g}) must not exceed "
                             f"1 - trend_significance ({1 - self.trend_significance:g}): a slope that passes the "
                             "test would then have no positive lower bound to project a breach from")
        return self

    @field_validator("trend_noise_floor", mode="before")
    @classmethod
    def _merge_floors(cls, value: object) -> object:
        return {**NOISE_FLOOR, **value} if isinstance(value, dict) else value

    def metric(self, name: str) -> MetricThreshold:
        return getattr(self, name)

    @property
    def repeat_hold(self) -> timedelta:
        return timedelta(minutes=max(self.repeat_hold_minutes, REPEAT_HOLD_FLOOR_MINUTES))

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(minutes=self.future_tolerance_minutes)


LATER_FIELDS = frozenset({"trend_significance", "trend_projection_confidence", "trend_min_effect",
                          "trend_noise_floor", "breach_confirm_readings", "breach_confirm_minutes"})
"""Fields added after the first signed runs, whose start digest covered every field of their input:
that legacy digest leaves these out while they hold their defaults (see `identity.start_fields`)."""
