"""Before and after: the devices a run's actions ran on, and each site's counts, judged again by the same rules. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...models.core import HealthState, Outcome, SiteHealth
from ..health import smooth_state
from .model import DeviceChange, ReportAction, SiteChange

if TYPE_CHECKING:
    from ...models.artifacts import DetectionArtifact

_RAN = (Outcome.SUCCEEDED, Outcome.ROLLED_BACK, Outcome.FAILED)
TROUBLED_STATUSES = ("down", "degraded")


def device_changes(detection: DetectionArtifact, rows: list[ReportAction], *, dry_run: bool) -> list[DeviceChange]:
    """Every device an action ran on, before and after. A real run's device is as its last committed action
    left it; a dry run simulates each action on the unchanged fleet, so its device shows the best of them."""
    before = {d.equipment_id: d for d in detection.device_health}
    ran: dict[str, list[ReportAction]] = {}
    for r in rows:
        if r.outcome in _RAN:
            ran.setdefault(r.equipment_id, []).append(r)
    out = []
    for eid, device_rows in ran.items():
        health = before.get(eid)
        facts = detection.facts.get(eid)
        status = facts.status.strip() if facts else "?"
        state = health.state if health else HealthState.HAPPY
        afters = [r for r in device_rows if r.after is not None]
        if not afters:
            last_status, last_state = status, state
        else:
            chosen = (min(afters, key=lambda r: (r.after.health.rank, r.id))  # type: ignore[union-attr]
                      if dry_run else max(afters, key=lambda r: (r.audit_seq or 0, r.id)))
            assert chosen.after is not None
            # Judged as the before-state was: a device held at stressed by the no-jump rule stays held.
            last_status = chosen.after.status
            last_state = smooth_state(chosen.after.health, health.previous_state if health else None)[0]
        improved = last_state.rank < state.rank or (status.lower() in TROUBLED_STATUSES
                                                     and last_status.lower() not in TROUBLED_STATUSES)
        out.append(DeviceChange(
            equipment_id=eid, site=device_rows[0].site, status_before=status, status_after=last_status,
            health_before=state, health_after=last_state,
            actions=[f"{r.id} {r.action}: {r.outcome.value}" for r in device_rows], improved=improved))
    out.sort(key=lambda d: (d.improved, -d.health_after.rank, d.site, d.equipment_id))
    return out


def site_changes(sites: list[SiteHealth], devices: list[DeviceChange], rows: list[ReportAction]) -> list[SiteChange]:
    """Per site: device health and status counts before the run and after it."""
    by_site = {d.site: [] for d in devices}  # type: dict[str, list[DeviceChange]]
    for d in devices:
        by_site[d.site].append(d)
    outcomes: dict[str, Counter[str]] = {}
    for r in rows:
        outcomes.setdefault(r.site, Counter())[r.outcome.value] += 1
    out = []
    for s in sites:
        before, after = s, s.model_copy()
        for d in by_site.get(s.site, []):
            _move(after, d.health_before.value, d.health_after.value, [h.value for h in HealthState])
            _move(after, d.status_before.lower(), d.status_after.lower(), TROUBLED_STATUSES)
        after.state = (HealthState.CRITICAL if after.critical else HealthState.STRESSED if after.stressed
                       else HealthState.HAPPY)
        out.append(SiteChange(site=s.site, devices=s.devices, before=before, after=after,
                              touched=len(by_site.get(s.site, [])), outcomes=dict(outcomes.get(s.site, {}))))
    return out


def _move(counts: SiteHealth, old: str, new: str, fields: Iterable[str]) -> None:
    """One device leaves the `old` count and joins the `new` one (each only if it is counted)."""
    fields = set(fields)
    if old == new:
        return
    if old in fields:
        setattr(counts, old, max(0, getattr(counts, old) - 1))
    if new in fields:
        setattr(counts, new, getattr(counts, new) + 1)
