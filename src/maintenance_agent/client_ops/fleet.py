"""Read-only fleet health, straight from the data (no workflow): what `get_fleet_health` answers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from ..config import Settings
from ..config.rules import load_rules
from ..core.detect import detect
from ..core.timeframe import analysis_time
from ..models.core import HealthState
from ..models.mcp import MAX_ITEMS, DeviceIssue, FleetHealthOut
from ..store import FleetStore
from .errors import ErrorCode, OperationError


def fleet_health(settings: Settings, site: str | None = None, max_devices: int = MAX_ITEMS) -> FleetHealthOut:
    """Current health per site and device, computed by the same rules as a run; writes nothing."""
    store = FleetStore(settings.data_dir)
    fleet = store.load()
    rules = load_rules(settings.rules_file)
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values(), datetime.now(UTC), rules.future_tolerance)
    inventory = fleet.inventory
    if site is not None:
        inventory = {eid: inv for eid, inv in fleet.inventory.items() if inv.site == site}
        if not inventory:
            sites = sorted({inv.site for inv in fleet.inventory.values()})
            raise OperationError(f"no site {site!r} in the fleet; sites are: {', '.join(sites)}",
                                 code=ErrorCode.UNKNOWN_SITE, site=site)
    found = detect(inventory, fleet.health, fleet.life_years(), rules, as_of, store.read_health_states())
    by_device: dict[str, list[str]] = {}
    for f in found.findings:
        by_device.setdefault(f.equipment_id, []).append(f"{f.kind.value}: {f.message}")
    critical = [d for d in found.device_health if d.state is HealthState.CRITICAL]
    return FleetHealthOut(
        analysis_time=as_of, scope=site or "fleet", devices=found.summary.devices,
        by_state={s.value: sum(1 for d in found.device_health if d.state is s) for s in HealthState},
        sites=found.sites,
        findings_by_kind=dict(sorted(Counter(f.kind.value for f in found.findings).items())),
        critical_devices=[DeviceIssue(equipment_id=d.equipment_id, site=d.site, state=d.state,
                                      findings=by_device.get(d.equipment_id, [])[:5]) for d in critical[:max_devices]],
        stressed_devices=sum(1 for d in found.device_health if d.state is HealthState.STRESSED),
    )
