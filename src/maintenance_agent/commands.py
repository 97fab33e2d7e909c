"""What the top-level scripts do, once their arguments are parsed: call client_ops, render output."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from . import client_ops
from .cli import EXIT_OK, EXIT_RUN_FAILED, CliError, connect_for_cli, err
from .config import Settings
from .core.listing import counts_text, outcome_label
from .core.report import with_problems
from .core.rules import load_rules
from .models.listing import RunSummary
from .models.workflow import ApprovalRequest, MaintenanceResult, Phase, RunStatus
from .store import FleetStore

PROJECT_DIR = Path(__file__).resolve().parents[2]
PRISTINE_DIR = Path(__file__).resolve().parent / "fleet_default"

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


def reset_fleet(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    FleetStore(settings.data_dir).reset(PRISTINE_DIR, actor=settings.user_name)
    err(f"Restored the default fleet into {settings.data_dir}.")


def refuse_reset_of_another_fleet(settings: Settings) -> None:
    """--reset-data resets this script's DATA_DIR; the run works on the worker's. Where those differ
    (a background worker started with other settings), resetting would change the wrong fleet."""
    from .embedded import worker_differences

    if "DATA_DIR" in (differing := worker_differences(settings)):
        raise CliError(f"the background worker works on DATA_DIR={differing['DATA_DIR']}, not {settings.data_dir}: "
                       f"--reset-data would reset a fleet the run does not use; `make stop` to restart the worker "
                       f"with yours, or use its DATA_DIR")


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


def exit_code(result: MaintenanceResult) -> int:
    """1 unless the run did all it was asked cleanly: failed, rejected, expired, or completed with
    problems (an action failed, was rolled back or did not run), as its summary line says."""
    if result.phase in (Phase.FAILED, Phase.REJECTED, Phase.EXPIRED) or with_problems(result.outcomes):
        return EXIT_RUN_FAILED
    return EXIT_OK


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


async def run_command(settings: Settings, args: argparse.Namespace, as_of: datetime | None) -> int:
    if args.auto_approve and (refusal := client_ops.auto_approve_refusal(settings)):
        raise CliError(f"{refusal}; run without --auto-approve and have someone else approve the plan")
    rules = load_rules(settings.rules_file)
    client = await connect_for_cli(settings)
    if args.reset_data:  # only once the run can start: a bad setting or no server leaves the data alone
        refuse_reset_of_another_fleet(settings)
        reset_fleet(settings)
    workflow_id = await client_ops.start_run(
        client, settings, auto_approve=args.auto_approve, dry_run=args.dry_run, as_of=as_of, rules=rules)
    err(f"Started run {workflow_id}")
    if args.no_wait:
        print(json.dumps({"workflow_id": workflow_id}) if args.json else workflow_id)
        return EXIT_OK
    err(f"Follow it with {script('query_monitoring_agent.py')} --workflow-id {workflow_id} "
        f"(Ctrl-C stops following, not the run).")
    shown_plan = False
    shown_phases = 0
    warned = 0

    def on_change(status: RunStatus) -> None:
        # Every phase the run went through, stamped with when it entered it (even one that began and
        # ended between two polls), then progress lines while it executes.
        nonlocal shown_phases, warned
        for warning in status.warnings[warned:]:
            err(f"warning: {warning}")
        warned = len(status.warnings)
        progress = f" ({status.executed}/{status.to_execute})"
        for mark in status.phases[shown_phases:]:
            err(f"  [{mark.at.astimezone():%H:%M:%S}] {mark.phase.value}{progress if mark.phase is Phase.EXECUTING else ''}")
        if len(status.phases) == shown_phases and status.phase is Phase.EXECUTING:
            err(f"  [{datetime.now():%H:%M:%S}] {status.phase.value}{progress}")
        shown_phases = len(status.phases)

    async def show_plan_once(status: RunStatus) -> None:
        nonlocal shown_plan
        if status.phase is Phase.PENDING_APPROVAL and not shown_plan:
            shown_plan = True
            view = await client_ops.get_plan(client, workflow_id)
            print_plan(status, view.actions, view.total, workflow_id)

    while True:
        status = await client_ops.follow(
            client, workflow_id, on_change,
            until=lambda s: s.phase.terminal or (s.phase is Phase.PENDING_APPROVAL and not shown_plan))
        if status.phase.terminal:
            break
        await show_plan_once(status)
    result = await client_ops.result(client, workflow_id)
    print_result(result, args.json)
    return exit_code(result)


async def approve_command(settings: Settings, args: argparse.Namespace) -> int:
    client = await connect_for_cli(settings)
    ids = None
    if args.actions is not None:
        ids = [i.strip() for i in args.actions.split(",") if i.strip()]
    request = ApprovalRequest(approve=not args.reject, action_ids=ids, approver=settings.user_name,
                              comment=args.comment)
    outcome = await client_ops.decide(client, args.workflow_id, request, signed_by=client_ops.signer(settings))
    if args.json:
        print(outcome.model_dump_json(indent=2))
    else:
        d = outcome.decision
        stdout.print(f"{d.kind.value} by {d.by} at {d.at:%Y-%m-%d %H:%M:%S} UTC: "
                     f"{outcome.approved} action(s) approved, {outcome.skipped} not approved.")
        if not args.reject:
            stdout.print(f"Follow execution with {script('query_monitoring_agent.py')} --workflow-id {args.workflow_id}")
    return EXIT_OK


async def query_command(settings: Settings, args: argparse.Namespace) -> int:
    client = await connect_for_cli(settings)
    if args.list:
        runs = await client_ops.list_runs(client, args.limit)
        if args.json:
            print(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
            return EXIT_OK
        print_runs(runs)
        return EXIT_OK
    status = await client_ops.get_status(client, args.workflow_id)
    plan = await client_ops.get_plan(client, args.workflow_id)
    results = await client_ops.get_results(client, args.workflow_id)
    if args.json:
        print(json.dumps({"status": status.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
                          "results": results.model_dump(mode="json")}, indent=2))
        return EXIT_OK
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
        stdout.print(f"  executed {status.executed}/{status.to_execute}: {c.succeeded} succeeded, {c.failed} failed, "
                     f"{c.rolled_back} rolled back, {c.stale} stale, {c.not_run} not run")
    if plan.actions:
        table = Table(title=f"Plan ({plan.total} action(s))", title_justify="left")
        for col in ("Id", "Device", "Action", "Risk", "Conf.", "Routine", "Approval", "Outcome"):
            table.add_column(col)
        outcome = await client_ops.action_outcomes(client, status, results)
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
    return EXIT_OK



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


async def proactive_command(settings: Settings, args: argparse.Namespace) -> int:
    from . import cli

    client = await connect_for_cli(settings)
    user = settings.user_name
    if args.status or args.stop or args.trigger_now:
        call = (client_ops.proactive_status if args.status else
                client_ops.stop_proactive if args.stop else client_ops.trigger_proactive)
        status = await call(client, user)
        if args.json:
            print(status.model_dump_json(indent=2))
        else:
            print_agent(status)
            if args.stop:
                stdout.print("Stopping after the current cycle; open approval runs keep waiting for a decision.")
        return EXIT_OK
    if args.reset_data:
        refuse_reset_of_another_fleet(settings)
        reset_fleet(settings)
    interval = args.interval_minutes if args.interval_minutes is not None else 15.0
    workflow_id, already = await client_ops.start_proactive(
        client, settings, interval_minutes=interval, auto_execute_routine=args.auto_approve,
        callback_url=args.callback, rules=load_rules(settings.rules_file))
    if already:
        status = await client_ops.proactive_status(client, user)
        err(f"The proactive agent {workflow_id} is already running (cycle {status.cycle}); following it.")
        if args.interval_minutes is not None and args.interval_minutes * 60 != status.interval_seconds:
            await client_ops.set_proactive_interval(client, user, args.interval_minutes)
            err(f"Interval changed to {args.interval_minutes:g} minute(s).")
        if args.auto_approve != status.auto_execute_routine:
            err(f"Note: it runs with routine auto-execution {'on' if status.auto_execute_routine else 'off'}; "
                f"stop it (--stop) and start it again to change that.")
    else:
        err(f"Started the proactive agent {workflow_id}: a cycle every {interval:g} minute(s), routine "
            f"auto-execution {'on' if args.auto_approve else 'off'}.")
        if args.auto_approve and (refusal := client_ops.auto_approve_refusal(settings)):
            err(f"Note: routine actions will wait for approval like the rest: {refusal}.")
    me = script("run_monitoring_agent_proactive.py")
    cli.interrupt_hint = (f"Stopped following; the agent keeps running in Temporal.\n"
                          f"  follow again: {me}\n  status:       {me} --status\n"
                          f"  run a cycle:  {me} --trigger-now\n  stop it:      {me} --stop")
    await follow_agent(client, user)
    return EXIT_OK


async def follow_agent(client, user: str, poll_seconds: float = 0.5) -> None:  # noqa: ANN001
    """Print phase changes, cycle summaries and new approval runs until the agent stops (or Ctrl-C)."""
    import asyncio

    from .models.workflow import ProactivePhase

    last_phase, last_cycle, seen_approvals = None, None, set()
    while True:
        status = await client_ops.proactive_status(client, user)
        if status.phase != last_phase:
            when = f" (next at {status.next_cycle_at:%H:%M:%S} UTC)" if status.next_cycle_at else ""
            err(f"  [{datetime.now():%H:%M:%S}] {status.phase.value}{when}")
            last_phase = status.phase
        if status.last_cycle and status.last_cycle.cycle != last_cycle:
            last_cycle = status.last_cycle.cycle
            err(f"  {status.last_cycle.summary}")
        for run in status.open_approvals:
            if run.workflow_id not in seen_approvals:
                seen_approvals.add(run.workflow_id)
                err(f"  {run.actions} action(s) await approval: "
                    f"{script('approve_monitoring_agent.py')} --workflow-id {run.workflow_id}")
        if status.phase is ProactivePhase.STOPPED:
            return
        await asyncio.sleep(poll_seconds)


def print_agent(status) -> None:  # noqa: ANN001
    stdout.print(Text(status.workflow_id, style="bold") + f": {status.phase.value}"
                 + (" (paused)" if status.paused else "") + (" (stopping)" if status.stop_requested else ""))
    stdout.print(f"  {status.cycle} cycle(s); every {status.interval_seconds / 60:g} min; routine auto-execution "
                 f"{'on' if status.auto_execute_routine else 'off'}"
                 + (f"; next cycle {status.next_cycle_at:%Y-%m-%d %H:%M:%S} UTC" if status.next_cycle_at else ""))
    if status.last_cycle:
        stdout.print(f"  last: {status.last_cycle.summary}")
    for run in status.open_approvals:
        stdout.print(f"  awaiting approval: {run.workflow_id} ({run.actions} action(s), cycle {run.cycle})")
