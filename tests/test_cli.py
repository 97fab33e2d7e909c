"""The scripts as a user runs them: real processes, real embedded server, exit codes and messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, free_port, tool

PY = sys.executable
SCRIPTS = ["run_monitoring_agent.py", "approve_monitoring_agent.py", "query_monitoring_agent.py",
           "run_monitoring_agent_proactive.py"]


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([PY, *args], cwd="/", env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def interrupt(proc: subprocess.Popen) -> str:
    """Ctrl-C, then what the script printed after it. A script still running 30 s later is asked for
    its threads' stacks (SIGUSR1, see `cli.run`) and the test fails with them: the cause, not a wait."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        try:
            stacks = proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired as exc:
            stacks = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        proc.kill()
        pytest.fail(f"the script did not exit within 30 s of Ctrl-C; its stacks:\n{stacks}")


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script: str) -> None:
    proc = run([str(ROOT / script), "--help"])
    assert proc.returncode == 0 and "usage:" in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("args,fragment", [
    (["run_monitoring_agent.py", "--as-of", "yesterday"], "--as-of"),
    (["run_monitoring_agent.py", "--bogus"], "unrecognized arguments"),
    (["approve_monitoring_agent.py"], "--workflow-id"),
    (["approve_monitoring_agent.py", "--workflow-id", "x", "--actions", "A1", "--reject"], "not allowed with"),
    (["query_monitoring_agent.py"], "one of the arguments"),
    (["query_monitoring_agent.py", "--list", "--limit", "0"], "--limit"),
    (["run_monitoring_agent_proactive.py", "--interval-minutes", "0"], "--interval-minutes"),
    (["run_monitoring_agent_proactive.py", "--interval-minutes", "soon"], "invalid float value"),
    (["run_monitoring_agent_proactive.py", "--callback", "ftp://hook"], "--callback"),
    (["run_monitoring_agent_proactive.py", "--stop", "--status"], "not allowed with"),
])
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    proc = run([str(ROOT / args[0]), *args[1:]])
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_bad_setting_is_one_line_and_exit_2() -> None:
    proc = run([str(ROOT / "query_monitoring_agent.py"), "--list"], {"TEMPORAL_ADDRESS": "no-port-here"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "TEMPORAL_ADDRESS=no-port-here" in proc.stderr


def test_never_mode_without_server_says_how_to_start_one(tmp_path: Path) -> None:
    proc = run([str(ROOT / "run_monitoring_agent.py"), "--auto-approve"],
               {"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "EMBEDDED_TEMPORAL": "never",
                "TEMPORAL_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 2 and "make server" in proc.stderr and "Traceback" not in proc.stderr


def test_no_worker_on_a_non_embedded_server_is_reported(temporal_address: str) -> None:
    proc = run([str(ROOT / "query_monitoring_agent.py"), "--list"],
               {"TEMPORAL_ADDRESS": temporal_address, "EMBEDDED_TEMPORAL": "never",
                "TEMPORAL_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:6]}"})
    assert proc.returncode == 2 and "no worker is polling" in proc.stderr and "make worker" in proc.stderr


def test_full_cycle_through_the_scripts_on_the_embedded_server(tmp_path: Path) -> None:
    env = {"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "TEMPORAL_UI_PORT": str(free_port()),
           "TEMPORAL_STATE_DIR": str(tmp_path / "state"), "EMBEDDED_TEMPORAL": "auto",
           "DATA_DIR": str(tmp_path / "data"), "REPORTS_DIR": str(tmp_path / "reports"),
           "TEMPORAL_TASK_QUEUE": f"cli-{uuid.uuid4().hex[:6]}", "USER_NAME": "cli.tester"}
    try:
        first = run([str(ROOT / "run_monitoring_agent.py"), "--reset-data", "--auto-approve"], env)
        # Every repair of the default fleet takes: its two thermal shutdowns get their cooling first,
        # not the restart that would fail (their restart comes in a later run). Exit 0.
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("COMPLETED") and "WITH PROBLEMS" not in first.stdout.splitlines()[0]
        assert "rolled back" not in first.stdout.splitlines()[0]
        assert "Started local Temporal dev server" in first.stderr and "Started background worker" in first.stderr
        assert "Restored the default fleet" in first.stderr and "EXECUTING-MAINTENANCE" in first.stderr
        summary, report_line = first.stdout.splitlines()[0], first.stdout.splitlines()[1]
        assert summary.startswith("COMPLETED") and report_line.startswith("Report: ")
        report = json.loads(Path(report_line.split("Report: ")[1].strip()).with_suffix(".json").read_text())
        assert report["summary"] == summary and report["started_by"] == "cli.tester"
        assert first.stdout.splitlines()[2].strip() == str(Path(report_line.split("Report: ")[1].strip()).with_suffix(".html"))
        early = run([str(ROOT / "run_monitoring_agent.py"), "--dry-run", "--auto-approve", "--as-of", "2022-11-01"], env)
        assert early.returncode in (0, 1) and "Traceback" not in early.stderr
        assert "warning: the analysis time 2022-11-01 is 4.0 years before the newest reading" in early.stderr, early.stderr

        started = run([str(ROOT / "run_monitoring_agent.py"), "--no-wait", "--json"], env)
        assert started.returncode == 0 and "Started local Temporal" not in started.stderr, "server is reused"
        wid = json.loads(started.stdout)["workflow_id"]
        query = run([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", wid, "--json"], env)
        status = json.loads(query.stdout)["status"]
        for _ in range(100):
            if status["phase"] == "PENDING-APPROVAL":
                break
            status = json.loads(run([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", wid, "--json"], env).stdout)["status"]
        assert status["phase"] == "PENDING-APPROVAL"
        approve = run([str(ROOT / "approve_monitoring_agent.py"), "--workflow-id", wid, "--actions", "A1,A2",
                       "--comment", "cli test"], env)
        assert approve.returncode == 0 and "2 action(s) approved" in approve.stdout, approve.stderr
        again = run([str(ROOT / "approve_monitoring_agent.py"), "--workflow-id", wid], env)
        assert again.returncode == 2 and ("already been decided" in again.stderr or "already finished" in again.stderr)
        assert "Traceback" not in again.stderr
        unknown = run([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", "no-such-run"], env)
        assert unknown.returncode == 2 and "no maintenance run with id 'no-such-run'" in unknown.stderr
        assert "list recent runs with `query_monitoring_agent.py --list`" in unknown.stderr, "the CLI's own hint"
        listing = run([str(ROOT / "query_monitoring_agent.py"), "--list", "--json"], env)
        assert wid in {r["workflow_id"] for r in json.loads(listing.stdout)}
        nothing = run([str(ROOT / "run_monitoring_agent_proactive.py"), "--status"], env)
        assert nothing.returncode == 2 and "no proactive agent" in nothing.stderr
        agent = subprocess.Popen([PY, str(ROOT / "run_monitoring_agent_proactive.py"), "--auto-approve",
                                  "--reset-data", "--interval-minutes", "120"], cwd="/", env={**os.environ, **env},
                                 stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in agent.stderr:  # follows live until we interrupt it
                lines.append(line)
                if any("await approval" in x for x in lines) and any("cycle 1:" in x for x in lines):
                    break
            rest = interrupt(agent)
        finally:
            if agent.poll() is None:
                agent.kill()
        assert agent.returncode == 130 and "the agent keeps running in Temporal" in rest and "--stop" in rest
        assert any("routine:" in line and "succeeded" in line for line in lines), lines
        status = json.loads(run([str(ROOT / "run_monitoring_agent_proactive.py"), "--status", "--json"], env).stdout)
        assert status["phase"] == "WAITING-FOR-NEXT-CYCLE" and status["cycle"] == 1
        stop = run([str(ROOT / "run_monitoring_agent_proactive.py"), "--stop"], env)
        assert stop.returncode == 0 and "Stopping after the current cycle" in stop.stdout

        rejected = json.loads(run([str(ROOT / "run_monitoring_agent.py"), "--no-wait", "--json"], env).stdout)["workflow_id"]
        wait_for_phase(rejected, "PENDING-APPROVAL", env)
        assert run([str(ROOT / "approve_monitoring_agent.py"), "--workflow-id", rejected, "--reject"], env).returncode == 0
        wait_for_phase(rejected, "REJECTED", env)
        check_listing(env, rejected, agent_run=status["open_approvals"][0]["workflow_id"])
        # The plan table of one run, piped at 80 columns: every outcome whole, the unapproved ones included.
        shown = run([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", wid], {**env, "COLUMNS": "80"})
        assert shown.returncode == 0 and "skipped_unapproved" in shown.stdout and "…" not in shown.stdout
    finally:
        stop = run(["-m", "maintenance_agent.embedded", "stop"], env)
        assert stop.returncode == 0


def wait_for_phase(workflow_id: str, phase: str, env: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while (status := json.loads(run([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", workflow_id, "--json"],
                                    env).stdout)["status"])["phase"] != phase:
        assert time.monotonic() < deadline, f"{workflow_id} is still {status['phase']}, not {phase}"


def check_listing(env: dict[str, str], rejected: str, agent_run: str) -> None:
    """`--list` piped at 80 columns: every full id, each run's own outcome on its id's line; the
    rejected run found by its outcome with the real temporal CLI (the embedded server registered it)."""
    deadline = time.monotonic() + 30
    while True:  # the visibility store follows a run that just closed a moment later
        runs = json.loads(run([str(ROOT / "query_monitoring_agent.py"), "--list", "--limit", "20", "--json"], env).stdout)
        outcomes = {r["workflow_id"]: r["outcome"] for r in runs}
        if outcomes.get(rejected) == "REJECTED" or time.monotonic() > deadline:
            break
    assert outcomes[rejected] == "REJECTED" and outcomes[agent_run] == "PENDING-APPROVAL"
    assert "COMPLETED" in outcomes.values()
    listing = run([str(ROOT / "query_monitoring_agent.py"), "--list", "--limit", "20"], {**env, "COLUMNS": "80"})
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    for workflow_id, outcome in outcomes.items():
        assert any(workflow_id in line and outcome in line for line in lines), (workflow_id, outcome, listing.stdout)
    assert "…" not in listing.stdout
    found = subprocess.run([tool("temporal"), "workflow", "list", "--address", env["TEMPORAL_ADDRESS"],
                            "--query", 'MaintenanceOutcome="REJECTED"'], capture_output=True, text=True, timeout=60)
    assert found.returncode == 0 and rejected in found.stdout, found.stderr
    assert agent_run not in found.stdout


@pytest.mark.parametrize("phase,outcomes,code", [
    ("COMPLETED", {"succeeded": 5}, 0),
    ("COMPLETED", {"succeeded": 5, "stale": 2}, 0),
    ("COMPLETED", {"succeeded": 5, "skipped_unapproved": 3}, 0),
    ("NO-ACTION-NEEDED", {}, 0),
    ("COMPLETED", {"succeeded": 5, "rolled_back": 1}, 1),
    ("COMPLETED", {"succeeded": 5, "not_run": 4}, 1),  # the circuit breaker stopped it
    ("COMPLETED", {"failed": 1}, 1),
    ("REJECTED", {}, 1),
    ("EXPIRED", {}, 1),
    ("FAILED", {}, 1),
])
def test_exit_code_follows_the_summary_line(phase: str, outcomes: dict, code: int) -> None:
    """Before, a run COMPLETED WITH PROBLEMS (rolled back, not run, circuit breaker) exited 0."""
    from maintenance_agent.commands import exit_code
    from maintenance_agent.core.report import with_problems
    from maintenance_agent.models.run import MaintenanceResult, OutcomeCounts, Phase

    result = MaintenanceResult(workflow_id="w", phase=Phase(phase), summary="", outcomes=OutcomeCounts(**outcomes))
    assert exit_code(result) == code
    if phase == "COMPLETED":
        assert with_problems(result.outcomes) == bool(code), "the summary says WITH PROBLEMS exactly then"


def test_ctrl_c_leaves_at_once_even_while_a_call_waits_on_a_frozen_worker(tmp_path: Path) -> None:
    """Following the agent, the script asks the worker for its status every half second; with the
    worker frozen that call waits. Ctrl-C must not wait for it (nor for any cleanup): nothing the
    script holds needs it."""
    env = {"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "TEMPORAL_UI_PORT": str(free_port()),
           "TEMPORAL_STATE_DIR": str(tmp_path / "state"), "EMBEDDED_TEMPORAL": "auto",
           "DATA_DIR": str(tmp_path / "data"), "REPORTS_DIR": str(tmp_path / "reports"),
           "TEMPORAL_TASK_QUEUE": f"cli-{uuid.uuid4().hex[:6]}", "USER_NAME": "ctrl.c"}
    agent = subprocess.Popen([PY, str(ROOT / "run_monitoring_agent_proactive.py"), "--reset-data",
                              "--interval-minutes", "120"], cwd="/", env={**os.environ, **env},
                             stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        for line in agent.stderr:
            if "cycle 1:" in line:
                break
        worker = json.loads(next((tmp_path / "state").glob("worker*.json")).read_text())["pid"]
        os.kill(worker, signal.SIGSTOP)
        rest = interrupt(agent)
        assert agent.returncode == 130 and "the agent keeps running in Temporal" in rest
    finally:
        if worker:
            os.kill(worker, signal.SIGCONT)
        if agent.poll() is None:
            agent.kill()
        run(["-m", "maintenance_agent.embedded", "stop"], env)
