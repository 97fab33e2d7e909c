"""`python -m maintenance_agent.api` (`python3 tools/dev.py api`): serve the API on API_HOST:API_PORT
for USER_NAME's proactive agent, connecting to Temporal as the scripts do (the embedded default
starts the local server and worker when needed)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from ..bearer import ServeError, require_token
from ..config import ConfigError, Settings, load_settings
from ..connection import TemporalUnavailable
from ..embedded import EmbeddedError, ensure_running
from .app import create_app
from .server import ApiServer, bind

log = logging.getLogger("maintenance_agent.api")


async def _serve(settings: Settings, host: str, port: int) -> None:
    token = settings.api_token.get_secret_value() if settings.api_token else None
    require_token(host, token, setting="API_TOKEN", what="the API")
    sock = bind(host, port)  # first: an embedded worker started below then finds the port taken
    client, _ = await ensure_running(settings)
    server = ApiServer(create_app(settings.user_name, client), sock, host=host, token=token)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    print(f"serving the API on {server.url} for {settings.user_name}'s proactive agent "
          f"(Alertmanager webhook: {server.url}/alertmanager)", file=sys.stderr, flush=True)
    await server.serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m maintenance_agent.api",
                                     description="Serve the Alertmanager receiver and API.")
    parser.add_argument("--host", help="address to bind (default API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default API_PORT, 8765)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    for chatty in ("httpx", "httpcore"):  # they log every request URL, and a URL may carry a secret
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        asyncio.run(_serve(settings, args.host or settings.api_host, args.port or settings.api_port))
    except (ConfigError, ServeError, TemporalUnavailable, EmbeddedError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
