"""Notification activities: the webhook (Slack Block Kit) and PagerDuty, over HTTP. Bounded and
never fatal: Temporal retries a few times, then the agent carries on without the message. Secrets
(webhook tokens, the routing key) never enter workflow history or an error message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..core.digest import select
from ..core.links import Links
from ..core.pagerduty import pagerduty_body
from ..core.slack import slack_message
from ..models.core import PlannedAction
from ..models.notify import NotifyInput, NotifyResult, PageInput
from .base import ActivityBase

log = logging.getLogger(__name__)


class NotifyActivities(ActivityBase):
    @activity.defn
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        """POST the message (Slack Block Kit with a `text` fallback, see core/slack.py) to the webhook.
        Bounded: Temporal retries it a few times, then the agent carries on without it."""
        url = inp.url or self._notifications.webhook_url
        if not url:
            return NotifyResult(delivered=False, destination="(no webhook configured)")
        actions = await asyncio.to_thread(self._notified_actions, inp)
        payload = slack_message(inp, actions, self._links())
        return await self._post("webhook", url, payload, inp.timeout_seconds, "Webhook",
                                secrets=(url, urlsplit(url).path, urlsplit(url).query))

    @activity.defn
    async def page(self, inp: PageInput) -> NotifyResult:
        """Send one PagerDuty Events v2 event with this worker's PAGERDUTY_ROUTING_KEY (which never
        enters workflow history). Bounded like the webhook: a dead endpoint never fails a run."""
        notifications = self._notifications
        if not notifications.pagerduty_routing_key:
            return NotifyResult(delivered=False, destination="(no PagerDuty routing key configured)")
        body = pagerduty_body(inp, notifications.pagerduty_routing_key, self._links())
        return await self._post("PagerDuty", notifications.pagerduty_events_url, body, inp.timeout_seconds,
                                "PagerDuty", secrets=(notifications.pagerduty_routing_key,))

    async def _post(self, what: str, url: str, payload: dict[str, Any], timeout: float, error_type: str, *,
                    secrets: tuple[str, ...] = ()) -> NotifyResult:
        """POST JSON; 429 and 5xx are retried (`<error_type>Error`), other 4xx are not (`<error_type>Rejected`).
        Errors name the URL's scheme and host only (webhook URLs carry tokens in their path)."""
        destination = _redacted(url)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise ApplicationError(f"{what} {destination} unreachable: {type(exc).__name__}",
                                   type=f"{error_type}Error") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ApplicationError(f"{what} {destination} answered {response.status_code}", type=f"{error_type}Error")
        if response.status_code >= 400:
            said = _said(response, secrets)
            raise ApplicationError(f"{what} {destination} refused the message ({response.status_code}"
                                   + (f": {said}" if said else "") + ")",
                                   type=f"{error_type}Rejected", non_retryable=True)
        return NotifyResult(delivered=True, status_code=response.status_code, destination=destination)

    def _links(self) -> Links:
        n = self._notifications
        namespace = activity.info().namespace if activity.in_activity() else "default"
        return Links(namespace=namespace, temporal_ui_url=n.temporal_ui_url, reports_url=n.reports_url,
                              reports_label=n.reports_label)

    def _notified_actions(self, inp: NotifyInput) -> list[PlannedAction] | None:
        """The actions of the cycle's plan the message is about (None: none to read, or unreadable:
        the message then goes without them rather than not at all)."""
        if not inp.cycle_dir or inp.selection is None:
            return None
        try:
            plan = self._read(self.run_dir(inp.cycle_dir), artifacts.PLAN, artifacts.PlanArtifact)
        except ApplicationError as exc:
            log.warning("notification for cycle %d goes without its actions: %s", inp.cycle, exc.message)
            return None
        return select(plan.actions, inp.selection)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _said(response: httpx.Response, secrets: tuple[str, ...]) -> str:
    """What a receiver said when it refused a message (Slack: e.g. `invalid_blocks`; PagerDuty lists
    its reasons), in one short line, with any secret blanked in case it is quoted back."""
    try:
        body = response.json()
        said = ("; ".join(str(e) for e in body.get("errors") or []) or str(body.get("message") or "")
                if isinstance(body, dict) else "")
    except ValueError:
        said = response.text
    said = " ".join(said.split())
    for secret in secrets:
        if len(secret) > 3:
            said = said.replace(secret, "<redacted>")
    return said[:200]
