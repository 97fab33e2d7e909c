"""Alertmanager intake (pure): new, repeated and resolved alerts, the device each names, the findings they become."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from helpers.fleet_builders import AS_OF, findings_of, inventory, kinds
from maintenance_agent.core.alerts import attach, merge, notification_changes, notifications, severity_of
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


def changes(*alerts: dict[str, Any]) -> list:
    return notification_changes(payload(*alerts))


def test_a_firing_alert_is_new_once_then_repeated() -> None:
    first = merge([], changes(alert("a1", instance="10.1.0.5:9100")))
    assert [a.fingerprint for a in first.new] == ["a1"] and first.repeated == 0
    again = merge(first.held, changes(alert("a1", instance="10.1.0.5:9100")))
    assert again.new == [] and again.repeated == 1 and again.held == first.held


def test_a_resolved_alert_clears_and_an_unknown_resolved_one_changes_nothing() -> None:
    held = merge([], changes(alert("a1", device="EQ-2"))).held
    cleared = merge(held, changes(alert("a1", "resolved", device="EQ-2")))
    assert cleared.held == [] and [a.fingerprint for a in cleared.resolved] == ["a1"]
    nothing = merge(held, changes(alert("zz", "resolved", device="EQ-2")))
    assert nothing.held == held and nothing.resolved == [] and nothing.new == []


def test_only_the_labels_that_name_a_device_are_held() -> None:
    [change] = changes(alert("a1", instance="10.1.0.5:9100", job="node", secret_looking_label="x"))
    assert change.alert.device_labels == {"instance": "10.1.0.5:9100"}
    assert change.alert.summary == "inlet temperature over 75 °C" and change.alert.name == "DeviceOverheating"


def test_each_held_alert_names_its_device_by_id_or_ip_and_unknown_ones_are_reported() -> None:
    held = merge([], changes(alert("a", instance="10.1.0.5:9100"), alert("b", device="EQ-2"),
                             alert("u1", instance="192.0.2.9:9100"), alert("u2", job="x"))).held
    out = attach(held, FLEET)
    assert sorted(out.by_device) == ["EQ-1", "EQ-2"]
    assert out.unknown == ["DeviceOverheating (instance=192.0.2.9:9100)", "DeviceOverheating (no device label)"]


@pytest.mark.parametrize(("label", "severity"), [
    ("critical", "critical"), ("PAGE", "critical"), ("warning", "warning"), ("", "warning"), ("major", "warning"),
    ("info", "info"), ("none", "info"),
])
def test_severity_labels(label: str, severity: str) -> None:
    assert severity_of({"severity": label} if label else {}) == severity


def test_a_critical_alert_becomes_critical_alert_and_a_warning_one_warning_alert() -> None:
    held = merge([], changes(alert("c1", device="EQ-1"),
                             alert("w1", device="EQ-2", severity="warning", alertname="LinkFlapping"))).held
    by_device = attach(held, FLEET).by_device
    critical = findings_of(FLEET["EQ-1"], live_alerts=by_device["EQ-1"])
    assert kinds(critical) == [FindingKind.CRITICAL_ALERT]
    assert critical[0].severity is Severity.CRITICAL and "DeviceOverheating" in critical[0].message
    warning = findings_of(FLEET["EQ-2"], live_alerts=by_device["EQ-2"])
    assert kinds(warning) == [FindingKind.WARNING_ALERT] and warning[0].severity is Severity.WARNING


def test_a_held_alert_is_judged_however_long_it_has_fired() -> None:
    old = alert("c1", device="EQ-1")
    old["startsAt"] = (AS_OF - timedelta(days=400)).isoformat()
    by_device = attach(merge([], changes(old)).held, FLEET).by_device
    assert kinds(findings_of(FLEET["EQ-1"], live_alerts=by_device["EQ-1"])) == [FindingKind.CRITICAL_ALERT]


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


def test_a_big_notification_goes_to_the_agent_in_parts_that_add_up() -> None:
    from maintenance_agent.models.alerts import NOTIFICATION_CHUNK

    parts = notifications(payload(*(alert(f"f{i}", device="EQ-1") for i in range(NOTIFICATION_CHUNK * 2 + 1))))
    assert [len(p.alerts) for p in parts] == [NOTIFICATION_CHUNK, NOTIFICATION_CHUNK, 1]
    held: list = []
    for part in parts:
        held = merge(held, part.alerts).held
    assert len(held) == NOTIFICATION_CHUNK * 2 + 1
    assert [len(p.alerts) for p in notifications(payload())] == [0], "an empty notification is one empty part"
    [long] = notification_changes(payload(alert("x", instance="i" * 1000)))
    assert len(long.alert.device_labels["instance"]) == 200
