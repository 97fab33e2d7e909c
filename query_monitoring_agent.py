#!/usr/bin/env python3
"""Show a maintenance run (phase, findings, plan with approval state, outcomes) or list recent runs."""

from __future__ import annotations

import argparse

from maintenance_agent.arguments import workflow_id_argument


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Inspect a maintenance run, or list recent runs.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--workflow-id", type=workflow_id_argument, help="the run to show")
    which.add_argument("--list", action="store_true", help="list recent runs, newest first")
    parser.add_argument("--limit", type=int, default=10, help="how many runs --list shows (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= 1000:
        parser.error("--limit must be between 1 and 1000")
    from maintenance_agent import cli
    from maintenance_agent.commands import query_command

    cli.setup_logging(args.verbose)
    cli.run(lambda settings: query_command(settings, args))


if __name__ == "__main__":
    main()
