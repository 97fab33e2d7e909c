"""The routes. What a caller may do here is what the README's trust model grants an HTTP caller:
hand the user's proactive agent Alertmanager notifications (evidence for its next cycle, never a
command: anything disruptive still waits for an approval) and ask whether the service is up."""

from __future__ import annotations

import logging
from collections import deque

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.client import Client

from ..client_ops import Busy, OperationError, RunNotFound, deliver_alerts, proactive_workflow_id
from ..connection import TemporalUnavailable
from ..core.alerts import notifications
from ..models.alerts import AlertmanagerPayload, AlertReceipt

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A notification holds at most 10,000 alerts; anything bigger is refused before it is parsed."""

class _TooLarge(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def first_problem(exc: ValidationError) -> str:
    """The first thing wrong with a payload, in one line (`alerts.0.fingerprint: Field required`)."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return str(exc).splitlines()[0]
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where + ': ' if where else ''}{e.get('msg', 'invalid')}{more}"


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(user: str, client: Client) -> FastAPI:
    """The service for `user`'s proactive agent, talking to Temporal through `client`."""
    app = FastAPI(title="Infrastructure maintenance agent", version="1", docs_url=None, redoc_url=None)
    agent_id = proactive_workflow_id(user)
    app.state.receipts = deque(maxlen=100)  # the agent's answers to the last notifications, newest last

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        """The service is up (it says nothing about Temporal or the agent)."""
        return {"ok": True, "agent": agent_id}

    @app.post("/alertmanager")
    async def alertmanager(request: Request) -> JSONResponse:
        """Alertmanager's webhook (payload version 4): new firing alerts start a cycle of the agent at
        once, repeats (same fingerprint) start nothing, resolved ones are let go. A malformed payload
        gets a 4xx and changes nothing; 503 means try again (Alertmanager does)."""
        try:
            body = await _body(request)
        except _TooLarge:
            return _error(413, f"payload over {MAX_BODY_BYTES // (1024 * 1024)} MiB; lower the group's size "
                               f"(max_alerts in the webhook config)")
        try:
            payload = AlertmanagerPayload.model_validate_json(body)
        except ValidationError as exc:
            return _error(422, f"not an Alertmanager webhook payload (version 4): {first_problem(exc)}")
        try:
            receipt = AlertReceipt()
            for part in await deliver_alerts(client, user, notifications(payload)):
                receipt = _sum(receipt, part)
        except RunNotFound:
            return _error(503, f"no proactive agent is running for {user} ({agent_id}); start it with "
                               f"`python run_monitoring_agent_proactive.py` (Alertmanager retries until then)")
        except Busy as exc:
            return _error(503, str(exc))
        except TemporalUnavailable as exc:
            return _error(503, f"Temporal is unreachable: {exc}")
        except OperationError as exc:
            refused_as = exc.facts.get("refused_as")
            status = 413 if refused_as == "TooManyAlerts" else 503 if refused_as == "AgentStopping" else 409
            return _error(status, str(exc))
        app.state.receipts.append(receipt)
        log.info("alertmanager %s: %s", payload.groupKey[:80], receipt.note)
        return JSONResponse(receipt.model_dump(mode="json"))

    return app


def _sum(a: AlertReceipt, b: AlertReceipt) -> AlertReceipt:
    """Two parts of one notification's answer as one (the last part's note and held count)."""
    return AlertReceipt(new=a.new + b.new, repeated=a.repeated + b.repeated, resolved=a.resolved + b.resolved,
                        held=b.held, triggered=a.triggered or b.triggered, note=b.note)
