"""Alertmanager intake: which alerts of a notification are new, repeated, resolved or for no known
device, and the inventory alerts the rules judge from the active ones. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..models.alerts import ActiveAlert, AlertmanagerPayload
from ..models.fleet import Alert, InventoryRecord
from .ids import host_of

DEVICE_LABELS = ("device", "equipment_id", "instance")
"""The labels that may name the device, in this order: an inventory id, or an IP address (a
`:port` suffix, as node_exporter's `instance` has, is ignored)."""


@dataclass
class Intake:
    active: dict[str, ActiveAlert]
    """Every alert still firing after this notification, by fingerprint."""
    new: list[ActiveAlert] = field(default_factory=list)
    """Firing alerts not held before: they trigger the agent."""
    resolved: list[ActiveAlert] = field(default_factory=list)
    repeated: int = 0
    """Firing alerts already held (Alertmanager repeats notifications): they trigger nothing."""
    unknown: list[str] = field(default_factory=list)
    """`<alertname> <labels that named nothing>` for alerts whose device is not in the inventory."""

    @property
    def devices(self) -> list[str]:
        """The devices of the new alerts: the ones a cycle should look at now."""
        return sorted({a.equipment_id for a in self.new})


def device_of(labels: Mapping[str, str], inventory: Mapping[str, InventoryRecord],
              by_ip: Mapping[str, str]) -> str | None:
    for name in DEVICE_LABELS:
        value = labels.get(name)
        if not value:
            continue
        if value in inventory:
            return value
        eid = by_ip.get(host_of(value))
        if eid is not None:
            return eid
    return None


def intake(payload: AlertmanagerPayload, inventory: Mapping[str, InventoryRecord],
           active: Mapping[str, ActiveAlert]) -> Intake:
    """Apply one notification to the alerts held so far."""
    by_ip = {host_of(inv.ip_address): eid for eid, inv in inventory.items() if inv.ip_address}
    out = Intake(active=dict(active))
    for alert in payload.alerts:
        held = out.active.get(alert.fingerprint)
        if alert.status == "resolved":
            if held is not None:
                out.resolved.append(out.active.pop(alert.fingerprint))
            continue
        if held is not None:
            out.repeated += 1
            continue
        name = alert.labels.get("alertname", "alert")
        eid = device_of(alert.labels, inventory, by_ip)
        if eid is None:
            named = ", ".join(f"{k}={alert.labels[k]}" for k in DEVICE_LABELS if k in alert.labels) or "no device label"
            out.unknown.append(f"{name} ({named})")
            continue
        severity = "critical" if alert.labels.get("severity", "critical").lower() == "critical" else "warning"
        summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        new = ActiveAlert(fingerprint=alert.fingerprint, equipment_id=eid, name=name, severity=severity,
                          starts_at=alert.startsAt, summary=summary[:300])
        out.active[alert.fingerprint] = new
        out.new.append(new)
    return out


def inventory_alerts(active: Iterable[ActiveAlert]) -> dict[str, list[Alert]]:
    """The active alerts as the inventory's alerts, per device: the rules' `critical_alert` finding
    (and the analysis' hardware-fault reading of the name) then apply to them as to any other."""
    out: dict[str, list[Alert]] = {}
    for a in active:
        out.setdefault(a.equipment_id, []).append(Alert(type=a.name, severity=a.severity, timestamp=a.starts_at))
    return out
