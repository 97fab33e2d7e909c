"""A local HTTP server for tests (webhooks, an OpenAI-compatible LLM): records requests, answers as told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass
class Stub:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


async def answer_ok(_request: web.Request, _body: dict[str, Any]) -> web.StreamResponse:
    return web.Response(text="ok")


def answer_status(status: int) -> Handler:
    async def handler(_request: web.Request, _body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=status, text="nope")
    return handler


async def answer_never(_request: web.Request, _body: dict[str, Any]) -> web.StreamResponse:
    await asyncio.sleep(3600)
    return web.Response(text="too late")


@asynccontextmanager
async def http_stub(handler: Handler = answer_ok, path: str = "/hook") -> AsyncIterator[Stub]:
    """Serve `handler` on 127.0.0.1 (a free port) for POSTs to `path` (and below it)."""
    stub = Stub(url="")

    async def receive(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"_raw": raw.decode(errors="replace")}
        stub.requests.append(body)
        stub.headers.append(dict(request.headers))
        return await handler(request, body)

    app = web.Application()
    app.router.add_post(path, receive)
    app.router.add_post(path.rstrip("/") + "/{tail:.*}", receive)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    stub.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield stub
    finally:
        await runner.cleanup()
