#!/usr/bin/env python3
"""MCP server for the maintenance agent: stdio (default, for Goose / Claude Desktop / Inspector) or
streamable HTTP (`--transport http`, 127.0.0.1 unless --host says otherwise).

Never prints to stdout (the protocol stream); logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Run from any working directory (MCP hosts do): find the package next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Serve the maintenance agent's tools over MCP.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP only: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP only: port (default 8000)")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        build_parser().error("--port must be between 1 and 65535")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.INFO if args.verbose else logging.ERROR)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from maintenance_agent.embedded import exit_now
    from maintenance_agent.mcp import serve

    code = serve(args.transport, host=args.host, port=args.port)
    exit_now(code)


if __name__ == "__main__":
    main()
