"""What a message says about the actions it is about: which of a cycle's actions, and their counts
by risk, type and site with the devices most at risk (bounded). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ..models.core import PlannedAction, Risk
from ..models.notify import ActionDigest, ActionSelection, DeviceAtRisk

TOP_SITES = 8
TOP_DEVICES = 5
_RISK_RANK = {Risk.HIGH: 3, Risk.MEDIUM: 2, Risk.LOW: 1}


def select(actions: Iterable[PlannedAction], selection: ActionSelection | None) -> list[PlannedAction]:
    if selection is None:
        return []
    if selection is ActionSelection.ALL:
        return list(actions)
    routine = selection is ActionSelection.ROUTINE
    return [a for a in actions if a.routine == routine]


def digest(actions: Sequence[PlannedAction], *, top_sites: int = TOP_SITES, top_devices: int = TOP_DEVICES) -> ActionDigest:
    """Counts by risk, type and site, and the devices most at risk: the highest risk among their
    actions first, then the most urgent priority, then the most actions."""
    by_site = Counter(a.site for a in actions)
    per_device: dict[str, list[PlannedAction]] = {}
    for a in actions:
        per_device.setdefault(a.equipment_id, []).append(a)

    def rank(item: tuple[str, list[PlannedAction]]) -> tuple[int, int, int, str]:
        device, acts = item
        return (-max(_RISK_RANK[a.risk] for a in acts), min(a.priority for a in acts), -len(acts), device)

    worst = sorted(per_device.items(), key=rank)[:top_devices]
    high = [a for a in actions if a.risk is Risk.HIGH]
    return ActionDigest(
        total=len(actions), high_risk=len(high),
        by_risk={r.value: n for r in (Risk.HIGH, Risk.MEDIUM, Risk.LOW)
                 if (n := sum(1 for a in actions if a.risk is r))},
        by_action=dict(Counter(a.action.value for a in actions).most_common()),
        high_risk_by_action=dict(Counter(a.action.value for a in high).most_common()),
        sites=len(by_site), by_site=dict(sorted(by_site.items(), key=lambda kv: (-kv[1], kv[0]))[:top_sites]),
        devices=len(per_device),
        devices_at_risk=[DeviceAtRisk(equipment_id=device, site=acts[0].site,
                                      risk=max((a.risk for a in acts), key=_RISK_RANK.__getitem__),
                                      priority=min(a.priority for a in acts),
                                      actions=sorted({a.action.value for a in acts}))
                         for device, acts in worst],
    )


def top_counts(counts: dict[str, int], n: int = TOP_SITES) -> dict[str, int]:
    """The `n` largest counts, largest first (ties by name): for bounded messages."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
