#!/usr/bin/env python3
"""Start (or attach to) the always-on proactive maintenance agent and follow it live.

One agent per USER_NAME (workflow id always-be-maintainin-for-<USER_NAME>). Each cycle detects,
analyzes and plans; with --auto-approve routine actions (confidence >= 0.95, low risk) run on their
own, everything else waits for approval in its own run while monitoring continues. Ctrl-C stops
following, not the agent. Exit codes: 0 ok, 2 usage, configuration or connection error.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run the proactive maintenance agent (one per USER_NAME).")
    parser.add_argument("--auto-approve", action="store_true",
                        help="execute routine actions (confidence >= 0.95, low risk) without approval")
    parser.add_argument("--reset-data", action="store_true", help="restore the default fleet into DATA_DIR first")
    parser.add_argument("--interval-minutes", type=float, metavar="N",
                        help="minutes between cycles (default 15; changes a running agent's interval)")
    parser.add_argument("--callback", metavar="URL", help="webhook for notifications (Slack-compatible JSON)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--stop", action="store_true", help="finish the current cycle, then stop the agent")
    action.add_argument("--trigger-now", action="store_true", help="run a cycle now")
    action.add_argument("--status", action="store_true", help="show the agent's status and exit")
    parser.add_argument("--json", action="store_true", help="with --status/--stop/--trigger-now: print JSON")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.interval_minutes is not None and not 1 / 60 <= args.interval_minutes <= 7 * 24 * 60:
        parser.error("--interval-minutes must be at least 0.0167 (one second) and at most 10080 (one week)")
    if args.callback is not None and not args.callback.startswith(("http://", "https://")):
        parser.error("--callback must be an http:// or https:// URL")
    from maintenance_agent import cli
    from maintenance_agent.commands import proactive_command

    cli.setup_logging(args.verbose)
    cli.run(lambda settings: proactive_command(settings, args))


if __name__ == "__main__":
    main()
