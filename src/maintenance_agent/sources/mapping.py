"""The mapping file: for each of the five metrics, the PromQL that gives it per device and the label
that names the device (TOML, validated with clear errors; a default for node_exporter + blackbox)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..models.rules import METRICS, MetricName

DEFAULT_MAPPING = Path(__file__).with_name("default_mapping.toml")


class MappingError(ValueError):
    """The mapping file is missing, not TOML, or not a valid mapping (the message says where)."""


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str = Field(min_length=1)
    """PromQL returning one series per device, the value in the metric's unit (%, °C, ms)."""
    device_label: str | None = None
    """Overrides the file's `device_label` for this metric."""


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_label: str = "instance"
    """The label whose value names the device."""
    match: Literal["id", "ip"] = "ip"
    """How that value names a device: `id`, the inventory id itself; `ip`, the device's IP address
    (a `:port` suffix, as node_exporter's `instance` has, is ignored)."""
    metrics: dict[MetricName, MetricQuery]

    @field_validator("metrics")
    @classmethod
    def _some(cls, value: dict[MetricName, MetricQuery]) -> dict[MetricName, MetricQuery]:
        if not value:
            raise ValueError(f"map at least one of {', '.join(METRICS)}")
        return value

    def label_of(self, metric: MetricName) -> str:
        return self.metrics[metric].device_label or self.device_label


def load_mapping(path: Path | None) -> Mapping:
    """The mapping in `path` (the shipped default when None): MappingError with one clear line if not."""
    path = path or DEFAULT_MAPPING
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read the Prometheus mapping file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"the Prometheus mapping file {path} is not valid TOML: {exc}") from None
    try:
        return Mapping.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise MappingError(f"the Prometheus mapping file {path}: {where}: {first['msg']}") from None
