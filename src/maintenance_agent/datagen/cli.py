"""The command line: generate a fleet and write its three files.

    python -m maintenance_agent.datagen --devices 2000 --seed 7 --out /tmp/fleet
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from .generator import (
    DEFAULT_AS_OF,
    DEFAULT_READINGS,
    DEFAULT_SITES,
    HEALTH_FILE,
    INVENTORY_FILE,
    LIFE_EXPECTANCY_FILE,
    generate_fleet,
    write_fleet,
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m maintenance_agent.datagen",
        description=(
            f"Generate a seeded, internally consistent equipment fleet: writes {INVENTORY_FILE}, "
            f"{HEALTH_FILE} and {LIFE_EXPECTANCY_FILE} into OUT. The same arguments always "
            "produce byte-identical files."
        ),
    )
    parser.add_argument(
        "--devices", type=_positive_int, required=True, help="number of devices (>= 1)"
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed (integer)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory (created if missing)"
    )
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        default=DEFAULT_AS_OF,
        help=f"date of the newest reading, YYYY-MM-DD (default {DEFAULT_AS_OF.isoformat()})",
    )
    parser.add_argument(
        "--sites",
        type=_positive_int,
        default=DEFAULT_SITES,
        help=f"number of sites, DC-EAST1, DC-WEST1, ... (default {DEFAULT_SITES})",
    )
    parser.add_argument(
        "--readings",
        type=_positive_int,
        default=DEFAULT_READINGS,
        help=f"daily readings per device, newest at AS_OF 12:00Z (default {DEFAULT_READINGS})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for user errors, printed as one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # The fleet is millions of acyclic containers: cyclic GC passes over them find nothing and
    # cost ~10 % of the run. Only the short-lived CLI process does this, never the library call.
    gc.disable()
    try:
        fleet = generate_fleet(args.devices, args.seed, args.as_of, args.sites, args.readings)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
    try:
        write_fleet(fleet, args.out)
    except OSError as exc:  # a user error (bad path, permissions), not a bug: no traceback
        reason = exc.strerror or str(exc)
        print(f"{parser.prog}: error: cannot write to {args.out}: {reason}", file=sys.stderr)
        return 2
    print(f"wrote {args.devices} devices ({args.sites} sites) to {args.out}", file=sys.stderr)
    return 0
