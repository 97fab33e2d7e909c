"""Alertmanager intake (pure): new, repeated, resolved and unknown alerts, and the findings they become."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from helpers.fleet_builders import AS_OF, findings_of, inventory, kinds
from maintenance_agent.core.alerts import intake, inventory_alerts
from maintenance_agent.models.alerts import AlertmanagerPayload
from maintenance_agent.models.core import FindingKind, Severity

FLEET = {"EQ-1": inventory("EQ-1", ip_address="10.1.0.5"), "EQ-2": inventory("EQ-2", ip_address="10.1.0.6")}


def alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "DeviceOverheating", "severity": "critical", **labels},
            "annotations": {"summary": "inlet temperature over 75 °C"},
            "startsAt": (AS_OF - timedelta(minutes=5)).isoformat(), "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint, "generatorURL": "http://prometheus/graph"}


def payload(*alerts: dict[str, Any], status: str = "firing") -> AlertmanagerPayload:
    return AlertmanagerPayload.model_validate({"version": "4", "groupKey": "{}:{alertname=\"x\"}", "status": status,
                                               "receiver": "agent", "alerts": list(alerts)})


def test_a_firing_alert_for_a_known_device_is_new_once_then_repeated() -> None:
    first = intake(payload(alert("a1", instance="10.1.0.5:9100")), FLEET, {})
    assert [a.equipment_id for a in first.new] == ["EQ-1"] and first.devices == ["EQ-1"]
    again = intake(payload(alert("a1", instance="10.1.0.5:9100")), FLEET, first.active)
    assert again.new == [] and again.repeated == 1 and again.active == first.active


def test_a_resolved_alert_clears_and_an_unknown_resolved_one_changes_nothing() -> None:
    held = intake(payload(alert("a1", device="EQ-2")), FLEET, {}).active
    cleared = intake(payload(alert("a1", "resolved", device="EQ-2"), status="resolved"), FLEET, held)
    assert cleared.active == {} and [a.fingerprint for a in cleared.resolved] == ["a1"]
    nothing = intake(payload(alert("zz", "resolved", device="EQ-2"), status="resolved"), FLEET, held)
    assert nothing.active == held and nothing.resolved == []


def test_an_alert_for_no_known_device_is_reported_not_dropped() -> None:
    out = intake(payload(alert("u1", instance="192.0.2.9:9100"), alert("u2", job="x")), FLEET, {})
    assert out.new == [] and out.unknown == ["DeviceOverheating (instance=192.0.2.9:9100)",
                                             "DeviceOverheating (no device label)"]


def test_severity_and_the_finding_an_active_alert_becomes() -> None:
    out = intake(payload(alert("c1", device="EQ-1"), alert("w1", device="EQ-1", severity="warning",
                                                            alertname="LinkFlapping")), FLEET, {})
    by_device = inventory_alerts(out.active.values())
    assert [(a.type, a.severity) for a in by_device["EQ-1"]] == [("DeviceOverheating", "critical"),
                                                                 ("LinkFlapping", "warning")]
    findings = findings_of(FLEET["EQ-1"].model_copy(update={"alerts": by_device["EQ-1"]}))
    assert kinds(findings) == [FindingKind.CRITICAL_ALERT]
    assert findings[0].severity is Severity.CRITICAL and "DeviceOverheating" in findings[0].message


@pytest.mark.parametrize(("change", "field"), [
    ({"version": "3"}, "version"),
    ({"status": "burning"}, "status"),
    ({"alerts": [{"status": "firing"}]}, "alerts"),
    ({"groupKey": ""}, "groupKey"),
])
def test_a_malformed_payload_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert("a1", device="EQ-1")], **change}
    with pytest.raises(ValidationError) as caught:
        AlertmanagerPayload.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field
