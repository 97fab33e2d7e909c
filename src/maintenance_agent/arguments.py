"""argparse types the scripts share, importable before anything heavy (so `--help` stays instant)."""

from __future__ import annotations

import argparse

from .core.ids import unsafe_workflow_id


def workflow_id_argument(value: str) -> str:
    """For argparse `type=`: the workflow id given on a command line, or a usage error saying why no run
    can have it (an empty `--workflow-id ""` is a mistake, not a lookup)."""
    value = value.strip()
    if (reason := unsafe_workflow_id(value)) is not None:
        raise argparse.ArgumentTypeError(f"{value!r} cannot be a workflow id: {reason}; copy one from "
                                         f"`query_monitoring_agent.py --list`")
    return value
