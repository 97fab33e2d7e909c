"""Serving the app with uvicorn on a socket bound first (so a taken port is one clear error, not
uvicorn's exit), inside a process that owns its signal handlers (the worker's, or the API's own)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from ..bearer import ServeError, protect


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (ServeError, in one line, when that cannot be)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"API_HOST {host!r} does not resolve: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot serve the API on {host}:{port}: {exc.strerror} (set API_PORT to a free port)") from None
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process that runs the server (the worker, or the API's main) handles SIGINT/SIGTERM itself.
        yield


class ApiServer:
    """The app behind its bearer token, served on `sock` until `stop()`."""

    def __init__(self, app: Any, sock: socket.socket, *, host: str, token: str | None) -> None:
        guarded = protect(app, host, token, setting="API_TOKEN", what="the API")
        self.app, self.sock = app, sock
        self._server = _Server(uvicorn.Config(guarded, log_level="warning", access_log=False, lifespan="off",
                                              server_header=False))

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}"

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self._server.should_exit = True
