"""The MCP server through the SDK's own stdio client, against the real Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError, RPCStatusCode

from conftest import ROOT, copy_fleet, free_port, identities, running_worker, settings_for
from maintenance_agent import artifacts

SERVER = str(ROOT / "mcp_server.py")
MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])
TOOLS = {
    "initiate_infrastructure_maintenance", "initiate_proactive_maintenance", "stop_proactive_maintenance",
    "trigger_proactive_cycle", "get_maintenance_status", "list_maintenance_runs", "get_maintenance_findings",
    "get_maintenance_plan", "approve_maintenance_actions", "reject_maintenance_plan", "get_maintenance_report",
    "get_fleet_health",
}


@pytest.fixture
async def agent(client: TemporalClient, temporal_address: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """A worker for this test and the environment an MCP host would give the server."""
    user = f"mcp{uuid.uuid4().hex[:6]}"
    keys = identities(tmp_path / "keys", user, "second.op")
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"mcp-{uuid.uuid4().hex[:8]}",
                            user_name=user, approver_keys_dir=tmp_path / "keys")
    env = {"TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_TASK_QUEUE": settings.task_queue,
           "EMBEDDED_TEMPORAL": "never", "DATA_DIR": str(settings.data_dir), "REPORTS_DIR": str(settings.reports_dir),
           "USER_NAME": settings.user_name, "APPROVERS": f"{settings.user_name},second.op", "ENV_FILE": os.devnull,
           "APPROVER_KEY_FILE": str(keys[user])}  # the server signs as its own user
    async with running_worker(client, settings):
        yield env


@asynccontextmanager
async def connect(env: dict[str, str], mode: str = "auto") -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=[SERVER], env=env, cwd="/")
    async with Client(params, mode=mode, read_timeout_seconds=60) as session:
        yield session


async def call(session: Client, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await session.call_tool(tool, args or {})
    assert not result.is_error, result.content[0].text if result.content else result
    return result.structured_content


async def error(session: Client, tool: str, args: dict[str, Any] | None = None, *, one_line: bool = True) -> str:
    """The error result's text. Ours are one sentence; the SDK's own argument validation lists each field."""
    result = await session.call_tool(tool, args or {})
    assert result.is_error, f"{tool}({args}) should have failed: {result.structured_content}"
    text = result.content[0].text
    assert "Traceback" not in text
    assert not re.search(r"\w+\.py\b", text), f"an MCP error names tools, not scripts: {text}"
    if one_line:
        assert "\n" not in text.strip(), text
    return text


async def until(session: Client, workflow_id: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await call(session, "get_maintenance_status", {"workflow_id": workflow_id})
        if status["phase"] in phases:
            return status
        assert time.monotonic() < deadline, f"still {status['phase']}"
        await asyncio.sleep(0.2)


@MODES
async def test_tools_schemas_and_annotations(agent: dict[str, str], mode: str) -> None:
    async with connect(agent, mode) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and tool.output_schema, tool.name
            assert tool.annotations is not None and tool.annotations.read_only_hint is not None, tool.name
        hints = {n: (t.annotations.read_only_hint, t.annotations.destructive_hint, t.annotations.idempotent_hint)
                 for n, t in tools.items()}
        read_only = {"get_maintenance_status", "list_maintenance_runs", "get_maintenance_findings",
                     "get_maintenance_plan", "get_maintenance_report", "get_fleet_health"}
        assert hints == {  # (read-only, destructive, idempotent)
            **{n: (True, False, True) for n in read_only},
            # An auto-approved run and the agent's routine actions change the fleet.
            "initiate_infrastructure_maintenance": (False, True, False),
            "initiate_proactive_maintenance": (False, True, True),
            "trigger_proactive_cycle": (False, True, False),
            "approve_maintenance_actions": (False, True, False),
            "reject_maintenance_plan": (False, False, True),
            "stop_proactive_maintenance": (False, False, True),
        }
        findings = tools["get_maintenance_findings"].input_schema
        assert findings["required"] == ["workflow_id"] and "ctx" not in findings["properties"]
        severity = findings["properties"]["min_severity"]["anyOf"][0]
        assert severity["enum"] == ["info", "warning", "critical"]
        approve = tools["approve_maintenance_actions"].input_schema["properties"]
        assert approve["action_ids"]["description"] and approve["comment"]["description"]
        assert tools["reject_maintenance_plan"].input_schema["required"] == ["workflow_id", "reason"]
        assert tools["initiate_infrastructure_maintenance"].input_schema.get("required", []) == []
        prompts = (await session.list_prompts()).prompts
        assert [p.name for p in prompts] == ["weekly_maintenance_review"]


async def test_full_cycle_through_tools_only(agent: dict[str, str]) -> None:
    async with connect(agent) as session:
        health = await call(session, "get_fleet_health")
        assert health["devices"] == 50 and health["by_state"]["critical"] > 0
        west = await call(session, "get_fleet_health", {"site": "DC-WEST1"})
        assert {s["site"] for s in west["sites"]} == {"DC-WEST1"}

        started = await call(session, "initiate_infrastructure_maintenance")
        wid = started["workflow_id"]
        status = await until(session, wid, {"PENDING-APPROVAL"})
        assert status["pending_actions"] and "approve_maintenance_actions" in status["next_step"] and status["as_of"]

        findings = await call(session, "get_maintenance_findings", {"workflow_id": wid, "min_severity": "critical"})
        assert findings["findings"] and {f["severity"] for f in findings["findings"]} == {"critical"}
        site_findings = await call(session, "get_maintenance_findings", {"workflow_id": wid, "site": "DC-WEST2"})
        assert site_findings["findings"] and {f["site"] for f in site_findings["findings"]} == {"DC-WEST2"}

        plan = await call(session, "get_maintenance_plan", {"workflow_id": wid})
        assert plan["total"] == status["actions"] and {a["approval"] for a in plan["actions"]} == {"pending"}
        renewals = [a["id"] for a in plan["actions"] if a["action"] == "renew_contract"][:3]
        decision = await call(session, "approve_maintenance_actions",
                              {"workflow_id": wid, "action_ids": renewals, "comment": "contracts only"})
        assert decision["approved"] == 3 and decision["decision"]["kind"] == "partially_approved"
        assert decision["decision"]["by"] == agent["USER_NAME"]
        final = await until(session, wid, {"COMPLETED"})
        assert final["outcomes"]["succeeded"] == 3

        report = await call(session, "get_maintenance_report", {"workflow_id": wid})
        assert report["outcome"] == "COMPLETED" and report["summary"].startswith("COMPLETED")
        outcomes = {a["id"]: a["outcome"] for a in report["actions"]}
        assert {outcomes[i] for i in renewals} == {"succeeded"}
        renewed = next(a for a in report["actions"] if a["id"] == renewals[0])
        assert renewed["observed"].startswith("contract expiry ") and "maintenance_contract_expiry: " in renewed["changes"]
        assert report["verdict"] == "COMPLETED" and report["executor"] == "simulated"
        assert report["html_path"].endswith("report.html")
        assert {o for i, o in outcomes.items() if i not in renewals} == {"skipped_unapproved"}
        resource = await session.read_resource(report["resource_uri"])
        assert resource.contents[0].text.startswith("# Maintenance report")

        runs = await call(session, "list_maintenance_runs", {"limit": 5})
        assert wid in {r["workflow_id"] for r in runs["runs"]}
        prompt = await session.get_prompt("weekly_maintenance_review", {"site": "DC-WEST1"})
        assert "get_fleet_health(site='DC-WEST1')" in prompt.messages[0].content.text


async def test_reject_and_proactive_tools(agent: dict[str, str]) -> None:
    async with connect(agent) as session:
        wid = (await call(session, "initiate_infrastructure_maintenance", {"dry_run": True}))["workflow_id"]
        await until(session, wid, {"PENDING-APPROVAL"})
        rejected = await call(session, "reject_maintenance_plan", {"workflow_id": wid, "reason": "not today"})
        assert rejected["decision"]["kind"] == "rejected" and rejected["decision"]["comment"] == "not today"
        assert (await until(session, wid, {"REJECTED"}))["summary"].startswith("DRY RUN")

        started = await call(session, "initiate_proactive_maintenance", {"interval_minutes": 60})
        assert started["workflow_id"] == f"always-be-maintainin-for-{agent['USER_NAME']}" and not started["already_running"]
        again = await call(session, "initiate_proactive_maintenance", {"interval_minutes": 60})
        assert again["already_running"]
        agent_id = started["workflow_id"]  # notifications and trigger_proactive_cycle hand this id out
        for tool in ("get_maintenance_status", "get_maintenance_report", "get_maintenance_findings",
                     "get_maintenance_plan"):
            text = await error(session, tool, {"workflow_id": agent_id})
            assert f"'{agent_id}' is the proactive agent, not a maintenance run" in text, text
            assert "trigger_proactive_cycle" in text and ".py" not in text, "MCP errors name tools, not scripts"
        with pytest.raises(MCPError, match="is the proactive agent, not a maintenance run"):
            await session.read_resource(f"maintenance://runs/{agent_id}/report")
        deadline = time.monotonic() + 60
        while (status := await call(session, "trigger_proactive_cycle"))["cycle"] < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
        stopped = await call(session, "stop_proactive_maintenance")
        assert stopped["stop_requested"]
        approvals = {run["workflow_id"]: run for run in status["open_approvals"] + stopped["open_approvals"]}
        assert approvals, "the default fleet needs approval for something in every first cycle"
        for run_id, run in approvals.items():
            await error(session, "get_maintenance_report", {"workflow_id": run_id})  # still pending
            await until(session, run_id, {"PENDING-APPROVAL"})
            # The approval run detects nothing itself: its findings are those of the cycle that planned it.
            cycle_findings = artifacts.read(Path(agent["REPORTS_DIR"]) / run["artifact_dir"], artifacts.DETECTION,
                                            artifacts.DetectionArtifact).findings
            findings = await call(session, "get_maintenance_findings", {"workflow_id": run_id})
            assert findings["total"] == len(cycle_findings) > 0 and findings["findings"]
            assert "findings of the proactive cycle that planned this run" in findings["note"]
            critical = await call(session, "get_maintenance_findings", {"workflow_id": run_id, "min_severity": "critical"})
            assert critical["total"] == sum(f.severity == "critical" for f in cycle_findings) > 0
        # The run's own outcome, not Temporal's status (COMPLETED, RUNNING), with counts; the agent's runs too.
        listed = {r["workflow_id"]: r for r in (await call(session, "list_maintenance_runs", {"limit": 100}))["runs"]}
        assert listed[wid]["outcome"] == "REJECTED" and listed[wid]["status"] == "COMPLETED" and listed[wid]["dry_run"]
        for run_id, run in approvals.items():
            assert listed[run_id]["outcome"] == "PENDING-APPROVAL" and listed[run_id]["status"] == "RUNNING"
            assert listed[run_id]["kind"] == "approval" and listed[run_id]["parent_workflow_id"] == agent_id
            assert listed[run_id]["actions"] == run["actions"] and listed[run_id]["cycle"] == run["cycle"]


async def test_error_results(agent: dict[str, str]) -> None:
    async with connect(agent) as session:
        text = await error(session, "get_maintenance_status", {"workflow_id": "no-such-run"})
        assert "no maintenance run with id 'no-such-run'" in text
        wid = (await call(session, "initiate_infrastructure_maintenance"))["workflow_id"]
        text = await error(session, "get_maintenance_report", {"workflow_id": wid})
        assert "has no report yet" in text
        await until(session, wid, {"PENDING-APPROVAL"})
        assert "unknown action id(s) 'A9999'" in await error(
            session, "approve_maintenance_actions", {"workflow_id": wid, "action_ids": ["A9999"]})
        assert "not allowed from this server" in await error(
            session, "approve_maintenance_actions", {"workflow_id": wid, "approver": "mallory"})
        assert "Input should be 'info', 'warning' or 'critical'" in await error(
            session, "get_maintenance_findings", {"workflow_id": wid, "min_severity": "urgent"}, one_line=False)
        assert "greater than or equal to 1" in await error(session, "list_maintenance_runs", {"limit": 0}, one_line=False)
        assert "callback_url" in await error(session, "initiate_proactive_maintenance", {"callback_url": "ftp://x"},
                                             one_line=False)
        assert "no site 'DC-MOON1'" in await error(session, "get_fleet_health", {"site": "DC-MOON1"})
        stopped = await error(session, "stop_proactive_maintenance")
        assert "no proactive agent is running" in stopped and "start one with initiate_proactive_maintenance" in stopped
        assert "list recent runs with list_maintenance_runs" in await error(
            session, "get_maintenance_plan", {"workflow_id": "no-such-run"})
        assert "decides only as" in await error(
            session, "approve_maintenance_actions", {"workflow_id": wid, "approver": "second.op"})
        ok = await call(session, "approve_maintenance_actions", {"workflow_id": wid})
        assert ok["decision"]["by"] == agent["USER_NAME"] and ok["decision"]["signed"], "signed with the server's key"
        text = await error(session, "approve_maintenance_actions", {"workflow_id": wid})
        assert "already been decided" in text or "already finished" in text


async def test_unreachable_server_is_an_error_result(tmp_path: Path) -> None:
    env = {"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "EMBEDDED_TEMPORAL": "never", "ENV_FILE": os.devnull,
           "TEMPORAL_STATE_DIR": str(tmp_path / "state"), "DATA_DIR": str(copy_fleet(tmp_path / "data"))}
    async with connect(env) as session:
        assert len((await session.list_tools()).tools) == len(TOOLS)
        text = await error(session, "list_maintenance_runs")
        assert "Temporal is unreachable" in text and "make server" in text
        health = await call(session, "get_fleet_health")  # works without Temporal
        assert health["devices"] == 50


async def test_starting_work_without_a_worker_is_an_error_result(client: TemporalClient, temporal_address: str,
                                                                 tmp_path: Path) -> None:
    queue, user = f"no-worker-{uuid.uuid4().hex[:8]}", f"nw{uuid.uuid4().hex[:6]}"
    env = {"TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_TASK_QUEUE": queue, "EMBEDDED_TEMPORAL": "never",
           "ENV_FILE": os.devnull, "USER_NAME": user, "TEMPORAL_STATE_DIR": str(tmp_path / "state"),
           "DATA_DIR": str(copy_fleet(tmp_path / "data")), "REPORTS_DIR": str(tmp_path / "reports")}
    async with connect(env) as session:
        for tool in ("initiate_infrastructure_maintenance", "initiate_proactive_maintenance", "trigger_proactive_cycle"):
            text = await error(session, tool)
            assert f"no worker is polling task queue '{queue}' on {temporal_address}" in text, text
            assert "`make worker`" in text
        await call(session, "list_maintenance_runs")  # reading needs no worker: not an error
    with pytest.raises(RPCError) as missing:  # nothing was started that would wait forever
        await client.get_workflow_handle(f"always-be-maintainin-for-{user}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_embedded_start_up_leaves_the_server_loop_free(client: TemporalClient, temporal_address: str,
                                                             tmp_path: Path) -> None:
    from filelock import FileLock
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    from maintenance_agent import embedded
    from maintenance_agent.mcp.context import connect_client

    settings = settings_for(tmp_path, embedded="auto", temporal_address=temporal_address,
                            data_dir=copy_fleet(tmp_path / "data"))
    try:
        with FileLock(settings.state_dir / "embedded.lock"):  # another script is starting the embedded server
            connecting = asyncio.create_task(connect_client(settings))
            began = time.monotonic()
            for _ in range(20):  # each RPC needs the event loop: it must keep running while the start-up waits
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
            assert not connecting.done() and time.monotonic() - began < 10
        connected = await asyncio.wait_for(connecting, 60)  # the lock is free: the start-up finishes
        assert await embedded.worker_available(connected, settings.task_queue)
    finally:
        embedded.stop(settings)


@pytest.fixture
def http_server(tmp_path: Path):  # noqa: ANN201
    import subprocess

    port = free_port()
    env = {**os.environ, "TEMPORAL_ADDRESS": f"localhost:{free_port()}", "EMBEDDED_TEMPORAL": "never",
           "ENV_FILE": os.devnull, "MCP_HTTP_TOKEN": "sentinel-mcp-token-7f3a", "DATA_DIR": str(copy_fleet(tmp_path / "d"))}
    proc = subprocess.Popen([sys.executable, SERVER, "--transport", "http", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    import socket

    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    out, err = proc.communicate(timeout=15)
    assert out == b"", "the HTTP server wrote to stdout"
    assert b"sentinel-mcp-token" not in err


async def test_http_transport_requires_the_bearer_token(http_server: str) -> None:
    import httpx
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async with httpx.AsyncClient() as http:
        refused = await http.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401 and "MCP_HTTP_TOKEN" in refused.text
        wrong = await http.post(http_server, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        for scheme in ("Basic", "Token", "Bearer\tBearer"):  # the right token under another scheme is refused
            other = await http.post(http_server, json={}, headers={"Authorization": f"{scheme} sentinel-mcp-token-7f3a"})
            assert other.status_code == 401, scheme
        lower = await http.post(http_server, headers={"Authorization": "bearer sentinel-mcp-token-7f3a",
                                                      "Accept": "application/json, text/event-stream"},
                                json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                    "protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "t", "version": "1"}}})
        assert lower.status_code == 200, "the scheme is case-insensitive (RFC 9110)"
    transport = streamable_http_client(http_server, http_client=create_mcp_http_client(
        headers={"Authorization": "Bearer sentinel-mcp-token-7f3a"}))
    async with Client(transport, read_timeout_seconds=30) as session:
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        health = await session.call_tool("get_fleet_health", {})
        assert not health.is_error and health.structured_content["devices"] == 50


def test_http_on_a_public_address_needs_a_token(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, "ENV_FILE": os.devnull}
    env.pop("MCP_HTTP_TOKEN", None)
    proc = subprocess.run([sys.executable, SERVER, "--transport", "http", "--host", "0.0.0.0", "--port",
                           str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "without MCP_HTTP_TOKEN" in proc.stderr and proc.stdout == ""


def test_the_chat_cannot_vouch_for_a_second_person(tmp_path: Path) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    from maintenance_agent.mcp.context import deciding_user

    for strict in (False, True):
        settings = settings_for(tmp_path, user_name="alice", approvers="alice,bob", require_distinct_approver=strict)
        assert deciding_user(settings, None) == deciding_user(settings, "alice") == "alice"
        with pytest.raises(ToolError, match="decides only as alice"):
            deciding_user(settings, "bob")


def test_each_interface_renders_its_own_hint_and_mcp_names_no_script() -> None:
    """client_ops errors carry a code and facts; the CLI and the MCP server each say what to do next."""
    from maintenance_agent import cli, client_ops
    from maintenance_agent.mcp.hints import MCP_HINTS, hinted

    codes = {code.value for code in client_ops.ErrorCode}
    assert set(MCP_HINTS) == set(cli.CLI_HINTS) and set(MCP_HINTS) <= codes, "a hint for a code that does not exist"
    facts = {"workflow_id": "wf-1", "workflow_type": "Other", "open_runs": ["wf-1-cycle-1"], "user": "alice",
             "interval_minutes": 5, "task_queue": "q"}
    for code in MCP_HINTS:
        for given in (facts, {k: v for k, v in facts.items() if k not in ("open_runs", "interval_minutes")}):
            error = client_ops.OperationError("something went wrong", code=client_ops.ErrorCode(code), **given)
            mcp_text, cli_text = hinted(error), cli.hinted(error)
            assert mcp_text.startswith("something went wrong; ") and cli_text.startswith("something went wrong; ")
            assert not re.search(r"\w+\.py\b|python -m", mcp_text), mcp_text
            assert mcp_text != cli_text
    missing = client_ops.RunNotFound("no maintenance run with id 'x'", workflow_id="x")
    assert cli.hinted(missing).endswith("`query_monitoring_agent.py --list`")
    assert hinted(missing).endswith("list recent runs with list_maintenance_runs")
    plain = client_ops.OperationError("Temporal refused the request: nope")
    assert hinted(plain) == cli.hinted(plain) == "Temporal refused the request: nope"


def test_no_shared_error_text_names_a_script() -> None:
    """What client_ops says is said to CLI and MCP users alike: it may name neither a script nor a tool."""
    package = ROOT / "src" / "maintenance_agent" / "client_ops"
    for path in sorted(package.glob("*.py")):
        text = path.read_text()
        assert not re.search(r"\w+\.py\b", text), f"{path.name} names a script or file"
        assert not re.search(r"`[a-z_]+_maintenance|list_maintenance_runs|approve_maintenance", text), path.name
