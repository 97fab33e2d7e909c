"""Workflows: orchestration only. All I/O is in activities; all decisions in the pure core.

`InfrastructureMaintenanceWorkflow` (maintenance.py) is one DAPER run: detect, analyze, plan, wait for
approval, execute, report. Small plans execute inline (one activity per action); large plans execute
in one `SiteExecutionWorkflow` child per site (site.py), which continues-as-new to keep its history
small. Either way a site runs at most one disruptive action at a time, sites run in parallel, and a
circuit breaker stops launching actions after `max_failures` failures (runner.py).
`ProactiveMaintenanceWorkflow` (proactive.py) runs a cycle (cycle.py) every interval.

What they decide is decided by the core (decisions, approval, agent, execution_policy) and what they
say is rendered there too (run_text, status_text): the workflows call those and record the result.

Modules of this package import each other directly: they are all workflow code, loaded in the
sandbox. Everything else (activities, core, models) is imported through passthrough.
"""

from __future__ import annotations

from .maintenance import InfrastructureMaintenanceWorkflow
from .policies import ADVISE_TIMEOUT
from .proactive import ProactiveMaintenanceWorkflow
from .site import SiteExecutionWorkflow

__all__ = ["ADVISE_TIMEOUT", "InfrastructureMaintenanceWorkflow", "ProactiveMaintenanceWorkflow", "SiteExecutionWorkflow"]
