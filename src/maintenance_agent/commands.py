"""What the top-level scripts do, once their arguments are parsed: call client_ops, render output."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from pathlib import Path

from temporalio.client import Client

from . import cli, client_ops
from .cli import EXIT_OK, EXIT_RUN_FAILED, CliError, connect_for_cli, err
from .config import Settings
from .config.rules import load_rules
from .core.report import with_problems
from .models.approval import ApprovalRequest
from .models.proactive import ProactivePhase
from .models.run import MaintenanceResult, Phase
from .models.views import RunStatus
from .store import FleetStore
from .terminal import print_agent, print_plan, print_result, print_run, print_runs, script, stderr, stdout

__all__ = ["approve_command", "exit_code", "print_plan", "proactive_command", "query_command", "run_command",
           "stderr", "stdout"]

PRISTINE_DIR = Path(__file__).resolve().parent / "fleet_default"


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


def exit_code(result: MaintenanceResult) -> int:
    """1 unless the run did all it was asked cleanly: failed, rejected, expired, or completed with
    problems (an action failed, was rolled back or did not run), as its summary line says."""
    if result.phase in (Phase.FAILED, Phase.REJECTED, Phase.EXPIRED) or with_problems(result.outcomes):
        return EXIT_RUN_FAILED
    return EXIT_OK


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
    outcome = await client_ops.action_outcomes(client, status, results) if plan.actions else {}
    print_run(status, plan, outcome)
    return EXIT_OK


async def proactive_command(settings: Settings, args: argparse.Namespace) -> int:
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


async def follow_agent(client: Client, user: str, poll_seconds: float = 0.5) -> None:
    """Print phase changes, cycle summaries and new approval runs until the agent stops (or Ctrl-C)."""
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
