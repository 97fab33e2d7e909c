"""A local PagerDuty Events API v2 receiver for tests: checks each event's shape as PagerDuty documents
it (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/), answers 202 like PagerDuty
for a valid event and 400 with its reasons for an invalid one, and records both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SEVERITIES = {"critical", "error", "warning", "info"}
TOP_LEVEL = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}


def problems(event: dict[str, Any]) -> list[str]:
    """Why PagerDuty would refuse this event (empty: it would accept it)."""
    found = [f"unknown field {k!r}" for k in sorted(set(event) - TOP_LEVEL)]
    if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
        found.append("routing_key is missing")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        found.append(f"event_action {action!r} is not trigger, acknowledge or resolve")
    key = event.get("dedup_key")
    if action in ("acknowledge", "resolve") and not key:
        found.append(f"{action} needs a dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        found.append("dedup_key must be a string of at most 255 characters")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*found, "trigger needs a payload"]
        found += [f"unknown payload field {k!r}" for k in sorted(set(payload) - PAYLOAD)]
        for name in ("summary", "source"):
            if not isinstance(payload.get(name), str) or not payload[name].strip():
                found.append(f"payload.{name} must be a non-empty string")
        if isinstance(payload.get("summary"), str) and len(payload["summary"]) > 1024:
            found.append("payload.summary is longer than 1024 characters")
        if payload.get("severity") not in SEVERITIES:
            found.append(f"payload.severity {payload.get('severity')!r} is not one of {sorted(SEVERITIES)}")
        for name in ("component", "group", "class"):
            if name in payload and not isinstance(payload[name], str):
                found.append(f"payload.{name} must be a string")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            found.append("payload.custom_details must be an object")
    for link in event.get("links", []):
        if not (isinstance(link, dict) and isinstance(link.get("href"), str) and link["href"].startswith("http")):
            found.append(f"link {link!r} has no http(s) href")
    return found


@dataclass
class PagerDutyReceiver:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)

    async def __call__(self, _request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if found := problems(body):
            self.refused.append((body, found))
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": found}, status=400)
        self.accepted.append(body)
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": body.get("dedup_key")}, status=202)

    def events(self, dedup_key: str) -> list[str]:
        return [e["event_action"] for e in self.accepted if e.get("dedup_key") == dedup_key]
