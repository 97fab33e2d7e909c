"""Seeded generator for a realistic, internally consistent equipment fleet.

Builds the three documents the maintenance agent reads (inventory, health metrics, life
expectancy). Everything derives from one `random.Random(seed)` and the `as_of` date, never
the clock, so the same arguments always give byte-identical files.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from random import Random
from typing import Final

import orjson

from ..models.fleet import HEALTH_FILE, INVENTORY_FILE, LIFE_FILE
from ..store import atomic_write_bytes
from .addressing import SERIAL_SPACE, ip_address, serial_number, site_first_octets
from .catalog import CATALOG, EquipmentModel, Site, build_sites
from .profile import OVERDUE_MAINTENANCE_RATE, Record
from .scenarios import (
    device_alerts,
    draw_age_days,
    draw_anomaly,
    draw_contract_days,
    draw_days_since_maintenance,
    draw_firmware,
    draw_health_score,
    draw_status,
    draw_uptime,
)
from .series import device_readings

DEFAULT_AS_OF: Final = date(2026, 11, 1)
DEFAULT_SITES: Final = 12
DEFAULT_READINGS: Final = 7

LIFE_EXPECTANCY_FILE: Final = LIFE_FILE

READING_HOUR: Final = time(12, 0, tzinfo=UTC)
READING_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Fleet:
    """The three top-level documents, keyed as in their files."""

    infrastructure_inventory: Record
    health_metrics: Record
    equipment_life_expectancy: Record

    def documents(self) -> dict[str, Record]:
        """File name -> document."""
        return {
            INVENTORY_FILE: self.infrastructure_inventory,
            HEALTH_FILE: self.health_metrics,
            LIFE_EXPECTANCY_FILE: self.equipment_life_expectancy,
        }


@dataclass(frozen=True, slots=True)
class _Clock:
    as_of: date
    noon: datetime  # the newest reading, and the "now" the agent derives from the data
    reading_stamps: tuple[str, ...]  # newest first


def _clock(as_of: date, readings: int) -> _Clock:
    noon = datetime.combine(as_of, READING_HOUR)
    stamps = tuple((noon - timedelta(days=k)).strftime(READING_FORMAT) for k in range(readings))
    return _Clock(as_of, noon, stamps)

def _device(
    rng: Random,
    clock: _Clock,
    index: int,
    site: Site,
    ip: str,
    model: EquipmentModel,
    serial_offset: int,
) -> tuple[Record, Record]:
    """One device's inventory record and health record."""
    status = draw_status(rng)
    anomaly = draw_anomaly(rng, status)
    overdue = rng.random() < OVERDUE_MAINTENANCE_RATE
    age_days = draw_age_days(rng, model.expected_life_years, overdue)
    since_maintenance = draw_days_since_maintenance(rng, age_days, overdue)
    install = clock.as_of - timedelta(days=age_days)
    readings = device_readings(rng, model.type, anomaly, clock.reading_stamps)
    newest = readings[0]
    equipment_id = f"EQ-{10001 + index}"
    inventory = {
        "id": equipment_id,
        "vendor": model.vendor,
        "model": model.model,
        "type": model.type,
        "serial_number": serial_number(model.serial_prefix, install, index, serial_offset),
        "site": site.name,
        "location": site.location,
        "ip_address": ip,
        "firmware_version": draw_firmware(rng, model.firmware, age_days),
        "install_date": install.isoformat(),
        "last_maintenance": (clock.as_of - timedelta(days=since_maintenance)).isoformat(),
        "status": status.value,
        "temperature_celsius": newest["temperature_celsius"],
        "cpu_utilization_percent": newest["cpu_utilization_percent"],
        "memory_utilization_percent": newest["memory_utilization_percent"],
        "uptime_days": draw_uptime(rng, status, age_days, since_maintenance),
        "maintenance_contract_expiry": (
            clock.as_of + timedelta(days=draw_contract_days(rng, age_days))
        ).isoformat(),
        "alerts": device_alerts(rng, status, anomaly, clock.noon),
    }
    health = {
        "equipment_id": equipment_id,
        "site": site.name,
        "status": status.value,
        "health_score": draw_health_score(rng, status, anomaly),
        "recent_readings": readings,
    }
    return inventory, health


def life_expectancy_document() -> Record:
    """Expected life of every catalog model (a superset of the models in any fleet)."""
    return {
        "equipment_life_expectancy": [
            {
                "vendor": m.vendor,
                "model": m.model,
                "type": m.type,
                "expected_life_years": m.expected_life_years,
            }
            for m in CATALOG
        ]
    }


def _validate(devices: int, as_of: date, sites: int, readings: int) -> None:
    for name, value in (("devices", devices), ("sites", sites), ("readings", readings)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    # Install dates reach ~20 years back and contracts 4 years ahead.
    if not 1970 <= as_of.year <= 9000:
        raise ValueError(f"as_of must be between 1970 and 9000, got {as_of.isoformat()}")


def generate_fleet(
    devices: int,
    seed: int,
    as_of: date = DEFAULT_AS_OF,
    sites: int = DEFAULT_SITES,
    readings: int = DEFAULT_READINGS,
) -> Fleet:
    """Build a fleet of `devices`; the same arguments always give the same fleet."""
    _validate(devices, as_of, sites, readings)
    # Random() seeds from abs(seed), so 5 and -5 would collide; zigzag keeps every int distinct.
    rng = Random(seed * 2 if seed >= 0 else -seed * 2 - 1)
    site_list = build_sites(sites)
    site_weights = [rng.uniform(0.6, 1.4) for _ in site_list]  # real sites differ in size
    site_of = rng.choices(range(sites), weights=site_weights, k=devices)
    per_site = [0] * sites
    for site_index in site_of:
        per_site[site_index] += 1
    first_octets = site_first_octets(per_site)
    models = rng.choices(CATALOG, weights=[m.weight for m in CATALOG], k=devices)
    serial_offset = rng.randrange(SERIAL_SPACE)
    clock = _clock(as_of, readings)

    hosts_used = [0] * sites
    inventory, health = [], []
    for index, (site_index, model) in enumerate(zip(site_of, models, strict=True)):
        ip = ip_address(first_octets[site_index], hosts_used[site_index])
        hosts_used[site_index] += 1
        record, metrics = _device(
            rng, clock, index, site_list[site_index], ip, model, serial_offset
        )
        inventory.append(record)
        health.append(metrics)
    return Fleet(
        infrastructure_inventory={"infrastructure_inventory": inventory},
        health_metrics={"health_metrics": health},
        equipment_life_expectancy=life_expectancy_document(),
    )


def write_fleet(fleet: Fleet, out_dir: Path) -> None:
    """Write the three files into `out_dir` (created if missing), each atomically."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, document in fleet.documents().items():
        payload = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        atomic_write_bytes(out_dir / name, payload)
        del payload  # the health document alone serialises to ~200 MB at 100k devices
