"""Health states: a device's raw state from its findings, the no-jump smoothing, and per-site roll-ups. Pure."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from ..models.core import LIFECYCLE_KINDS, DeviceHealth, Finding, HealthState, Severity, SiteHealth


def raw_health_state(findings: Iterable[Finding]) -> HealthState:
    """critical if any operational finding is critical, stressed if any is a warning, else happy.

    Lifecycle paperwork (contracts, overdue maintenance) is risk, not health, and is left out."""
    worst = HealthState.HAPPY
    for f in findings:
        if f.kind in LIFECYCLE_KINDS:
            continue
        if f.severity is Severity.CRITICAL:
            return HealthState.CRITICAL
        if f.severity is Severity.WARNING:
            worst = HealthState.STRESSED
    return worst


def smooth_state(raw: HealthState, previous: HealthState | None) -> tuple[HealthState, bool]:
    """Apply the no-jump rule: a device seen `happy` last run is at most `stressed` this run.

    Returns (state, held_back)."""
    if previous is HealthState.HAPPY and raw is HealthState.CRITICAL:
        return HealthState.STRESSED, True
    return raw, False


def previous_state(recorded: str | None) -> HealthState | None:
    """The state a device was left in by the last run, if one was recorded and is a known state."""
    return HealthState(recorded) if recorded is not None and recorded in HealthState._value2member_map_ else None


def site_health(devices: Iterable[DeviceHealth], statuses: Mapping[str, str]) -> list[SiteHealth]:
    """Per site: the worst device state, with counts."""
    by_site: dict[str, Counter[str]] = defaultdict(Counter)
    for d in devices:
        c = by_site[d.site]
        c["devices"] += 1
        c[d.state.value] += 1
        status = statuses.get(d.equipment_id, "").lower()
        if status in ("down", "degraded"):
            c[status] += 1
    out = []
    for site in sorted(by_site):
        c = by_site[site]
        state = (HealthState.CRITICAL if c["critical"] else HealthState.STRESSED if c["stressed"] else HealthState.HAPPY)
        out.append(SiteHealth(site=site, state=state, devices=c["devices"], happy=c["happy"], stressed=c["stressed"],
                              critical=c["critical"], down=c["down"], degraded=c["degraded"]))
    return out
