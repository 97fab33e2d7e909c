"""Workflows: orchestration only. All I/O is in activities; all decisions in the pure core.

`InfrastructureMaintenanceWorkflow` (maintenance.py) is one DAPER run: detect, analyze, plan, wait for
approval, execute, report. Small plans execute inline (one activity per action); large plans execute
in one `SiteExecutionWorkflow` child per site (site.py), which continues-as-new to keep its history
small. Either way a site runs at most one disruptive action at a time, sites run in parallel, and a
circuit breaker stops launching actions after `max_failures` failures (runner.py).
`ProactiveMaintenanceWorkflow` (proactive.py) runs a cycle (cycle.py) every interval.

Modules of this package import each other directly: they are all workflow code, loaded in the
sandbox. Everything else (activities, core, models) is imported through passthrough.
"""

from __future__ import annotations

from .maintenance import InfrastructureMaintenanceWorkflow
from .policies import (
    ACTION_HEARTBEAT,
    ACTION_RETRY,
    ACTION_TIMEOUT,
    ADVISE_TIMEOUT,
    BATCH_SIZE,
    MAX_PARALLEL_SITES,
    NON_DISRUPTIVE_PER_SITE,
    NOTIFY_BUDGET,
    NOTIFY_RETRY,
    PAGE_RETRY,
    PROGRESS_INTERVAL,
    STEP_HEARTBEAT,
    STEP_RETRY,
    STEP_TIMEOUT,
)
from .proactive import ProactiveMaintenanceWorkflow
from .runner import ActionRunner
from .site import SiteExecutionWorkflow

__all__ = [
    "ACTION_HEARTBEAT", "ACTION_RETRY", "ACTION_TIMEOUT", "ADVISE_TIMEOUT", "BATCH_SIZE", "MAX_PARALLEL_SITES",
    "NON_DISRUPTIVE_PER_SITE", "NOTIFY_BUDGET", "NOTIFY_RETRY", "PAGE_RETRY", "PROGRESS_INTERVAL", "STEP_HEARTBEAT",
    "STEP_RETRY", "STEP_TIMEOUT", "ActionRunner", "InfrastructureMaintenanceWorkflow", "ProactiveMaintenanceWorkflow",
    "SiteExecutionWorkflow",
]
