"""Seeded generator for a realistic, internally consistent equipment fleet (see generator.py).

One module per job: the scenario mix (profile), the equipment (catalog), per-device draws
(scenarios), readings (series), addresses and serials (addressing), the fleet itself (generator)
and the command line (cli, run by `python -m maintenance_agent.datagen`).
"""

from __future__ import annotations

from .addressing import ip_address, serial_number, site_first_octets
from .catalog import CATALOG, TYPE_RANGES, EquipmentModel, MetricRanges, Site, build_sites
from .cli import build_parser, main
from .generator import (
    DEFAULT_AS_OF,
    DEFAULT_READINGS,
    DEFAULT_SITES,
    HEALTH_FILE,
    INVENTORY_FILE,
    LIFE_EXPECTANCY_FILE,
    Fleet,
    generate_fleet,
    life_expectancy_document,
    write_fleet,
)
from .profile import BREACH_BANDS, THRESHOLDS, WARNING_THRESHOLD, Metric, Record, Severity, Status
from .scenarios import Anomaly, Breach, Trend
from .series import quantize_series

__all__ = [
    "BREACH_BANDS", "CATALOG", "DEFAULT_AS_OF", "DEFAULT_READINGS", "DEFAULT_SITES", "HEALTH_FILE", "INVENTORY_FILE",
    "LIFE_EXPECTANCY_FILE", "THRESHOLDS", "TYPE_RANGES", "WARNING_THRESHOLD", "Anomaly", "Breach", "EquipmentModel",
    "Fleet", "Metric", "MetricRanges", "Record", "Severity", "Site", "Status", "Trend", "build_parser", "build_sites",
    "generate_fleet", "ip_address", "life_expectancy_document", "main", "quantize_series", "serial_number",
    "site_first_octets", "write_fleet",
]
