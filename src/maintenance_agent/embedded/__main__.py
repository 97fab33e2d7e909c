"""`python -m maintenance_agent.embedded start|stop|status` (`make server`, `make stop`, `make status`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ..config import ConfigError, load_settings
from ..connection import TemporalUnavailable
from .processes import EmbeddedError, exit_now, process_alive, read_json, say
from .running import ensure_running, stop
from .server_process import running_server
from .worker_process import worker_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maintenance_agent.embedded",
        description="Start or stop the embedded local Temporal dev server and background worker.",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        settings = load_settings()
        if args.command == "stop":
            stopped = stop(settings)
            say("Stopped " + " and ".join(stopped) + "." if stopped else "Nothing was running.")
            return 0
        if args.command == "status":
            server = running_server(settings)
            say(f"server: running (pid {server['pid']}, {server.get('address')})" if server else "server: not running")
            workers = [r for r in map(read_json, worker_records(settings.state_dir))
                       if r and process_alive(int(r.get("pid", 0)), "maintenance_agent.worker")]
            for r in workers:
                say(f"worker: running (pid {r['pid']}, queue {r.get('task_queue')})")
            if not workers:
                say("worker: not running")
            return 0
        client, _status = asyncio.run(ensure_running(settings))
        say(f"Temporal at {settings.temporal_address} and a worker on {settings.task_queue} are ready.")
        return 0
    except (ConfigError, EmbeddedError, TemporalUnavailable) as exc:
        say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    exit_now(main())
