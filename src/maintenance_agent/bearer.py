"""Bearer-token guard for the project's HTTP services (the MCP HTTP transport, the API): every request
carries `Authorization: Bearer <token>`, and nothing is served beyond loopback without a token."""

from __future__ import annotations

import hmac
import json
from typing import Any

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServeError(Exception):
    """The server refuses to serve as asked; the message says what to set instead."""


class BearerTokenMiddleware:
    """Refuse every HTTP request that does not carry `Authorization: Bearer <token>` (ASGI)."""

    def __init__(self, app: Any, token: str, setting: str) -> None:
        self.app = app
        self._expected = token.encode()
        self._refusal = json.dumps({"error": f"missing or wrong bearer token ({setting})"}).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credentials = given.strip().partition(b" ")
            # The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self._expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": self._refusal})
                return
        await self.app(scope, receive, send)


def require_token(host: str, token: str | None, *, setting: str, what: str) -> None:
    """Refuse (ServeError) to serve beyond loopback without a token."""
    if host not in LOOPBACK and not token:
        raise ServeError(f"refusing to serve {what} on {host} without {setting}; set it (clients then send "
                         f"'Authorization: Bearer <token>') or bind 127.0.0.1")


def protect(app: Any, host: str, token: str | None, *, setting: str, what: str) -> Any:
    """`app` behind the bearer-token check when a token is set; refused off loopback without one."""
    require_token(host, token, setting=setting, what=what)
    return BearerTokenMiddleware(app, token, setting) if token else app
