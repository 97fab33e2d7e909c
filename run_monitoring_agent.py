#!/usr/bin/env python3
"""Run one DAPER maintenance pass over the fleet: detect, analyze, plan, approve, execute, report.

Exit codes: 0 completed cleanly (or nothing to do); 1 the run failed, was rejected or expired, or
completed with problems (an action failed, was rolled back or did not run); 2 usage, configuration
or connection error.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Start a maintenance run over the fleet in DATA_DIR and follow it to its report.",
        epilog="The run lives in Temporal: Ctrl-C stops following, not the run. Approve with "
               "approve_monitoring_agent.py, inspect with query_monitoring_agent.py.",
    )
    parser.add_argument("--auto-approve", action="store_true",
                        help="approve the whole plan at once (recorded as auto-approved by USER_NAME)")
    parser.add_argument("--reset-data", action="store_true",
                        help="restore the default 50-device fleet into DATA_DIR before the run")
    parser.add_argument("--as-of", metavar="DATE",
                        help="analysis time: YYYY-MM-DD (end of day, UTC) or ISO timestamp; "
                             "default: the newest reading in the data")
    parser.add_argument("--dry-run", action="store_true", help="plan and simulate; never write the fleet")
    parser.add_argument("--no-wait", action="store_true", help="print the workflow id and exit once started")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dry_run and args.reset_data:
        parser.error("--dry-run never changes the fleet and --reset-data would rewrite it: use one or the other")
    from maintenance_agent import cli  # heavy imports only after --help had its chance

    as_of = None
    if args.as_of is not None:
        try:
            as_of = cli.parse_as_of(args.as_of)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"--as-of: {exc}")
    cli.setup_logging(args.verbose)
    from maintenance_agent.commands import run_command

    cli.run(lambda settings: run_command(settings, args, as_of))


if __name__ == "__main__":
    main()
