#!/usr/bin/env python3
"""Approve all or some actions of a maintenance run that waits in PENDING-APPROVAL, or reject it.

The approver is USER_NAME. The run's own validator refuses unknown action ids, decisions after the
plan was decided, and approvers outside APPROVERS. Exit codes: 0 recorded, 2 refused or usage error.
"""

from __future__ import annotations

import argparse

from maintenance_agent.arguments import workflow_id_argument


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Approve or reject the plan of a maintenance run.")
    parser.add_argument("--workflow-id", required=True, type=workflow_id_argument,
                        help="the run's workflow id (see --list of the query script)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--actions", metavar="A1,A2", help="approve only these action ids (default: all)")
    choice.add_argument("--reject", action="store_true", help="reject the whole plan; nothing is executed")
    parser.add_argument("--comment", help="why (recorded with the decision)")
    parser.add_argument("--json", action="store_true", help="print the recorded decision as JSON")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.actions is not None and not [i for i in args.actions.split(",") if i.strip()]:
        parser.error("--actions is empty; give ids like A1,A3, or leave it out to approve every action")
    from maintenance_agent import cli
    from maintenance_agent.commands import approve_command

    cli.setup_logging(args.verbose)
    cli.run(lambda settings: approve_command(settings, args))


if __name__ == "__main__":
    main()
