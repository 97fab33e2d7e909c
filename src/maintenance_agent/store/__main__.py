"""`python -m maintenance_agent.store repair-audit [DATA_DIR]`: the recovery the load errors name.

An entry point: it alone reads the settings (for the default DATA_DIR); the store itself is given
its directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError, load_settings
from .fleet_store import FleetStore
from .records import AUDIT_FILE, STATE_DIRNAME, FleetDataError, StoreBusy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maintenance_agent.store",
                                     description="Maintenance of a fleet store's own files.")
    parser.add_argument("command", choices=["repair-audit"])
    parser.add_argument("data_dir", nargs="?", help="the fleet directory (default: DATA_DIR from the settings)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        try:
            data_dir = load_settings().data_dir
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        data_dir = Path(args.data_dir)
    try:
        moved = FleetStore(data_dir).repair_audit()
    except (FleetDataError, StoreBusy, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    audit = data_dir / STATE_DIRNAME / AUDIT_FILE
    if not moved:
        print(f"{audit}: no damaged line, nothing changed", file=sys.stderr)
    else:
        print(f"moved {len(moved)} damaged line(s) (line {', '.join(map(str, moved))}) to {audit}.damaged; the "
              f"changes they recorded are no longer replayed, so check those devices in the fleet files",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
