"""Alertmanager intake, pure: a notification's alerts as the agent holds them, which of them are new,
repeated or resolved, and which device each one names (the inventory alerts the rules then judge)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..models.alerts import NOTIFICATION_CHUNK, AlertChange, AlertmanagerPayload, AlertNotification, HeldAlert
from ..models.fleet import Alert, InventoryRecord
from .ids import host_of, ids_by_host

DEVICE_LABELS = ("device", "equipment_id", "instance")
"""The labels that may name the device, in this order: an inventory id, or an IP address (a
`:port` suffix, as node_exporter's `instance` has, is ignored)."""

_CRITICAL = frozenset({"critical", "page", "error", "emergency"})
_INFO = frozenset({"info", "none", "informational"})


def severity_of(labels: Mapping[str, str]) -> str:
    """The alert's `severity` label as the rules' severity: critical (critical, page, error), info
    (info, none) or, for anything else and for no label, warning."""
    value = labels.get("severity", "").strip().lower()
    return "critical" if value in _CRITICAL else "info" if value in _INFO else "warning"


def notifications(payload: AlertmanagerPayload) -> list[AlertNotification]:
    """The payload's alerts as the agent holds them (only the labels that name a device are kept),
    in notifications of at most NOTIFICATION_CHUNK alerts each (one update each)."""
    changes = notification_changes(payload)
    return [AlertNotification(group_key=payload.groupKey, alerts=changes[i:i + NOTIFICATION_CHUNK])
            for i in range(0, max(len(changes), 1), NOTIFICATION_CHUNK)]


def notification_changes(payload: AlertmanagerPayload) -> list[AlertChange]:
    changes = []
    for a in payload.alerts:
        summary = a.annotations.get("summary") or a.annotations.get("description") or ""
        held = HeldAlert(fingerprint=a.fingerprint, name=(a.labels.get("alertname") or "alert")[:200],
                         severity=severity_of(a.labels),
                         device_labels={k: a.labels[k][:200] for k in DEVICE_LABELS if a.labels.get(k)},
                         starts_at=a.startsAt, summary=summary[:300])
        changes.append(AlertChange(status=a.status, alert=held))
    return changes


@dataclass
class Merge:
    held: list[HeldAlert]
    """Every alert still firing after the notification, in the order first seen."""
    new: list[HeldAlert] = field(default_factory=list)
    resolved: list[HeldAlert] = field(default_factory=list)
    repeated: int = 0


def merge(held: Sequence[HeldAlert], changes: Iterable[AlertChange]) -> Merge:
    """Apply a notification to the alerts held so far: a firing alert is new unless its fingerprint
    is held (a repeat), a resolved one is forgotten (one never held changes nothing)."""
    by_fingerprint = {a.fingerprint: a for a in held}
    out = Merge(held=[])
    for change in changes:
        alert, known = change.alert, by_fingerprint.get(change.alert.fingerprint)
        if change.status == "resolved":
            if known is not None:
                out.resolved.append(by_fingerprint.pop(alert.fingerprint))
        elif known is not None:
            out.repeated += 1
        else:
            by_fingerprint[alert.fingerprint] = alert
            out.new.append(alert)
    out.held = list(by_fingerprint.values())
    return out


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


@dataclass
class Attached:
    by_device: dict[str, list[Alert]]
    """The held alerts as inventory alerts, per device: `critical_alert` and `warning_alert` judge them."""
    unknown: list[str]
    """`<alertname> (<labels>)` of held alerts that name no device of the inventory."""


def attach(held: Iterable[HeldAlert], inventory: Mapping[str, InventoryRecord]) -> Attached:
    """Which device each held alert is about. A held alert is firing now, so it carries no timestamp:
    the rules' age limit is for an inventory's alert history, not for what Alertmanager says fires."""
    by_ip = ids_by_host(inventory)
    out = Attached(by_device={}, unknown=[])
    for a in held:
        eid = device_of(a.device_labels, inventory, by_ip)
        if eid is None:
            out.unknown.append(a.describe())
            continue
        out.by_device.setdefault(eid, []).append(Alert(type=a.name, severity=a.severity))
    return out


def alert_warnings(unknown: Sequence[str]) -> list[str]:
    """The detection's line about held alerts for no device of the inventory (reported, not dropped)."""
    if not unknown:
        return []
    return [f"{len(unknown)} firing Alertmanager alert(s) name no device of the inventory (check the alert's "
            f"device, equipment_id or instance label): {', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}"]
