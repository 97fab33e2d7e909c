"""Terminal output for people: Rich consoles (stderr for progress, stdout for results), tables of
plans, runs and the agent, and how to run a sibling script. `--json` output bypasses all of this."""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .cli import err
from .core.listing import counts_text, outcome_label
from .core.wording import WITH_NOT_RUN, outcomes_sentence
from .models.listing import RunSummary
from .models.proactive import ProactiveStatus
from .models.run import MaintenanceResult, Phase
from .models.views import PlanView, RunStatus

PROJECT_DIR = Path(__file__).resolve().parents[2]

PIPED_WIDTH = 100_000
"""Output that is not a terminal is laid out this wide: a table row stays one line and no id or word
is cut, folded or wrapped (a terminal gets its own width)."""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def console(*, to_stderr: bool = False) -> Console:
    """A Rich console for stdout or stderr: the terminal's width, or full-width lines when piped. Text
    from the data (device ids, comments, names) is printed as it is: no Rich markup or emoji codes, so
    `[/x]` in an id cannot crash the output and `[link=…]` cannot turn into a hyperlink."""
    terminal = _is_terminal(sys.stderr if to_stderr else sys.stdout)
    return Console(stderr=to_stderr, highlight=False, soft_wrap=True, width=None if terminal else PIPED_WIDTH,
                   markup=False, emoji=False)


stderr = console(to_stderr=True)
stdout = console()


def script(name: str) -> str:
    """The command line that runs a sibling script with this environment's Python."""
    python, path = Path(sys.executable), PROJECT_DIR / name
    if Path.cwd().resolve() == PROJECT_DIR:
        with contextlib.suppress(ValueError):
            python = python.relative_to(PROJECT_DIR)
        path = Path(name)
    return f"{shlex.quote(str(python))} {shlex.quote(str(path))}"


def print_plan(status: RunStatus, plan_actions: list, total: int, workflow_id: str) -> None:
    table = Table(title=f"Plan: {total} action(s) awaiting approval", title_justify="left")
    for col in ("Id", "Device", "Site", "Action", "Risk", "Conf.", "Routine", "Reason"):
        table.add_column(col, overflow="fold")
    for a in plan_actions[:60]:
        table.add_row(a.id, a.equipment_id, a.site, a.action.value, a.risk.value, f"{a.confidence:.2f}",
                      "yes" if a.routine else "", a.reason)
    stderr.print(table)
    if total > 60:
        err(f"… and {total - 60} more (see `{script('query_monitoring_agent.py')} --workflow-id {workflow_id}`)")
    deadline = f" before {status.approval_deadline:%Y-%m-%d %H:%M} UTC" if status.approval_deadline else ""
    err(f"\nApprove{deadline} with one of:")
    err(f"  {script('approve_monitoring_agent.py')} --workflow-id {workflow_id}")
    first = ",".join(a.id for a in plan_actions[:3])
    err(f"  {script('approve_monitoring_agent.py')} --workflow-id {workflow_id} --actions {first}")
    err(f"  {script('approve_monitoring_agent.py')} --workflow-id {workflow_id} --reject --comment 'why'")


def print_result(result: MaintenanceResult, as_json: bool) -> None:
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    stdout.print(result.summary)
    if result.report:
        stdout.print(f"Report: {result.report.markdown}")
        for path in (result.report.html, result.report.json_path):
            if path:
                stdout.print(f"        {path}")
    for warning in result.warnings:
        err(f"warning: {warning}")
    if result.data_errors:
        err(f"Note: {result.data_errors} record(s) held data the rules could not trust (e.g. stamped in the future); "
            f"nothing was planned from them. See 'Data errors' in the report.")


def print_run(status: RunStatus, plan: PlanView, outcome: dict[str, str]) -> None:
    """One run as `query_monitoring_agent.py --workflow-id` shows it: status, decision, plan table."""
    stdout.print(Text(status.workflow_id, style="bold") + f": {outcome_label(status.phase, status.outcomes)}"
                 + (" (dry run)" if status.dry_run else ""))
    stdout.print(f"  started by {status.started_by} at {status.started_at:%Y-%m-%d %H:%M:%S} UTC; "
                 f"analysis time {status.as_of.isoformat(timespec='seconds') if status.as_of else 'n/a'}")
    sev = ", ".join(f"{k} {v}" for k, v in sorted(status.findings_by_severity.items()))
    stdout.print(f"  {status.findings} finding(s) ({sev}); {status.problems} problem(s); {status.actions} action(s)")
    if status.decision:
        d = status.decision
        stdout.print(f"  decision: {d.kind.value} by {d.by} at {d.at:%Y-%m-%d %H:%M:%S}"
                     + (f" — {d.comment}" if d.comment else ""))
    if status.executed:
        c = status.outcomes
        stdout.print(f"  executed {status.executed}/{status.to_execute}: {outcomes_sentence(c, WITH_NOT_RUN)}")
    if plan.actions:
        table = Table(title=f"Plan ({plan.total} action(s))", title_justify="left")
        for col in ("Id", "Device", "Action", "Risk", "Conf.", "Routine", "Approval", "Outcome"):
            table.add_column(col)
        for a in plan.actions[:100]:
            table.add_row(a.id, a.equipment_id, a.action.value, a.risk.value, f"{a.confidence:.2f}",
                          "yes" if a.routine else "", plan.approval.get(a.id, plan.default_approval),
                          outcome.get(a.id, ""))
        stdout.print(table)
        if len(plan.actions) > 100 or plan.total > len(plan.actions):
            stdout.print(f"… the first 100 of {plan.total} action(s); every one is in `--json` and, once the run "
                         f"has finished, in its report's actions.csv")
    if status.phase is Phase.PENDING_APPROVAL:
        stdout.print(f"Approve: {script('approve_monitoring_agent.py')} --workflow-id {status.workflow_id}")
    if status.report:
        stdout.print(status.report.summary)
        stdout.print(f"Report: {status.report.markdown}" + (f" (and {status.report.html})" if status.report.html else ""))
    for warning in status.warnings:
        stdout.print(f"Warning: {warning}")
    if status.error:
        stdout.print(f"Error: {status.error}")


def print_runs(runs: list[RunSummary]) -> None:
    """The listing as a table where every cell fits unbroken (always when piped: full-width rows);
    on a terminal too narrow for that, each run's full id on its own line with its details below."""
    title = f"{len(runs)} most recent maintenance run(s), newest first"
    rows = [tuple(cell for cell in (
        r.workflow_id, r.outcome + (" (dry run)" if r.dry_run else ""), counts_text(r.outcome, r.actions, r.outcomes),
        _kind(r), r.started_by or "", f"{r.started_at:%Y-%m-%d %H:%M:%S}" if r.started_at else "")) for r in runs]
    table = Table(title=title, title_justify="left")
    for col in ("Workflow id", "Outcome", "Actions", "Kind", "Started by", "Started (UTC)"):
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if Measurement.get(stdout, stdout.options.update_width(PIPED_WIDTH), table).maximum <= stdout.width:
        stdout.print(table)
        return
    stdout.print(title)
    for workflow_id, *rest in rows:
        stdout.print(Text(workflow_id, style="bold"))
        stdout.print("  " + " · ".join(cell for cell in rest if cell), overflow="ignore")


def _kind(run: RunSummary) -> str:
    if run.kind == "run":
        return "run"
    return f"{run.kind}, cycle {run.cycle}" if run.cycle is not None else run.kind


def print_agent(status: ProactiveStatus) -> None:
    stdout.print(Text(status.workflow_id, style="bold") + f": {status.phase.value}"
                 + (" (paused)" if status.paused else "") + (" (stopping)" if status.stop_requested else ""))
    stdout.print(f"  {status.cycle} cycle(s); every {status.interval_seconds / 60:g} min; routine auto-execution "
                 f"{'on' if status.auto_execute_routine else 'off'}"
                 + (f"; next cycle {status.next_cycle_at:%Y-%m-%d %H:%M:%S} UTC" if status.next_cycle_at else ""))
    if status.last_cycle:
        stdout.print(f"  last: {status.last_cycle.summary}")
    for run in status.open_approvals:
        stdout.print(f"  awaiting approval: {run.workflow_id} ({run.actions} action(s), cycle {run.cycle})")
