"""The embedded default: a real dev server and a detached worker, started, reused, replaced, stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from conftest import copy_fleet, eventually, free_port
from maintenance_agent import client_ops, embedded
from maintenance_agent.config import load_settings
from maintenance_agent.connection import TemporalUnavailable
from maintenance_agent.embedded import SERVER_PID, ensure_running, port_open, stop, worker_record_path
from maintenance_agent.models.run import Phase


def _pid(state: Path, name: str | Path) -> int:
    import json

    return int(json.loads((state / name).read_text())["pid"])


async def _healthz(port: int) -> dict | None:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
    except httpx.HTTPError:
        return None


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    port, ui = free_port(), free_port()
    state = tmp_path / "state"
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"localhost:{port}")
    monkeypatch.setenv("TEMPORAL_UI_PORT", str(ui))
    monkeypatch.setenv("TEMPORAL_STATE_DIR", str(state))
    monkeypatch.setenv("EMBEDDED_TEMPORAL", "auto")
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", f"embedded-{port}")
    monkeypatch.setenv("API_PORT", str(free_port()))
    monkeypatch.setenv("DATA_DIR", str(copy_fleet(tmp_path / "data")))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    # The fingerprint reads a copy of the package, so the test can "change the code".
    code = tmp_path / "code"
    shutil.copytree(embedded.PACKAGE_DIR, code, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    monkeypatch.setattr(embedded.processes, "PACKAGE_DIR", code)
    settings = load_settings()
    yield settings, state, code
    stop(settings)


async def test_server_and_worker_start_are_reused_replaced_and_stop(embedded_env) -> None:  # noqa: ANN001
    settings, state, code = embedded_env
    assert not port_open("127.0.0.1", settings.temporal_port)

    first = settings.model_copy(update={"llm_timeout_seconds": 7.0})  # a setting only the worker reads
    client, status = await ensure_running(first)
    assert status.server_started and status.worker_started
    server_pid, worker_pid = _pid(state, SERVER_PID), _pid(state, worker_record_path(settings))
    assert psutil.pid_exists(server_pid) and psutil.pid_exists(worker_pid)
    assert (state / "temporal.db").exists(), "history is kept in SQLite under the state directory"

    # The detached worker serves the API (the Alertmanager receiver) too.
    health = await eventually(lambda: _healthz(settings.api_port), lambda r: r is not None, timeout=30,
                              what="the embedded worker's API")
    assert health == {"ok": True, "agent": f"always-be-maintainin-for-{settings.user_name}"}

    # The detached worker really runs workflows.
    workflow_id = await client_ops.start_run(client, settings, auto_approve=True)
    result = await client_ops.result(client, workflow_id)
    assert result.phase is Phase.COMPLETED and result.outcomes.succeeded > 0

    _client, again = await ensure_running(settings)
    assert not again.server_started and not again.worker_started
    assert (_pid(state, SERVER_PID), _pid(state, worker_record_path(settings))) == (server_pid, worker_pid)

    (code / "core" / "wording.py").write_text((code / "core" / "wording.py").read_text() + "\n# changed\n")
    _client, replaced = await ensure_running(settings)
    assert replaced.worker_started and replaced.worker_replaced and not replaced.server_started
    new_worker = _pid(state, worker_record_path(settings))
    assert new_worker != worker_pid and not psutil.pid_exists(worker_pid)
    assert psutil.Process(new_worker).environ()["LLM_TIMEOUT_SECONDS"] == "7.0", \
        "new code restarts the worker with the settings it had, not with the script's"
    assert _pid(state, SERVER_PID) == server_pid

    stopped = stop(settings)
    assert len(stopped) == 2
    assert not psutil.pid_exists(server_pid) and not psutil.pid_exists(new_worker)
    assert not port_open("127.0.0.1", settings.temporal_port)

    # History survives a restart of the embedded server.
    client, restarted = await ensure_running(settings)
    assert restarted.server_started
    desc = await client.get_workflow_handle(workflow_id).describe()
    assert desc.status is not None and desc.status.name == "COMPLETED"


async def test_never_mode_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(environ={"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "EMBEDDED_TEMPORAL": "never",
                                      "TEMPORAL_STATE_DIR": str(tmp_path / "state")})
    with pytest.raises(TemporalUnavailable) as err:
        await ensure_running(settings)
    message = str(err.value)
    assert "EMBEDDED_TEMPORAL=never" in message and "make server" in message
    assert not (tmp_path / "state" / SERVER_PID).exists()


async def test_remote_address_never_starts_anything(tmp_path: Path) -> None:
    settings = load_settings(environ={"TEMPORAL_ADDRESS": f"127.0.0.2:{free_port()}", "EMBEDDED_TEMPORAL": "auto",
                                      "TEMPORAL_STATE_DIR": str(tmp_path / "state")})
    assert not settings.is_local_address
    with pytest.raises(TemporalUnavailable, match="cannot reach Temporal"):
        await ensure_running(settings)
    assert not (tmp_path / "state").exists()


def test_the_settings_digest_names_what_the_worker_reads_and_hides_secrets(tmp_path: Path) -> None:
    from maintenance_agent.embedded import settings_digest

    base = settings_digest(load_settings(environ={}, data_dir=tmp_path / "a"))
    same = settings_digest(load_settings(environ={"DATA_DIR": str(tmp_path / "a"), "USER_NAME": "x"}))
    assert base == same, "USER_NAME is the script's, not the worker's"

    def differs(**env: str) -> list[str]:
        other = settings_digest(load_settings(environ={"DATA_DIR": str(tmp_path / "a"), **env}))
        return sorted(var for var in base if base[var] != other[var])

    assert differs(DATA_DIR=str(tmp_path / "b")) == ["DATA_DIR"]
    assert differs(APPROVERS="a,b", REQUIRE_DISTINCT_APPROVER="true") == ["APPROVERS", "REQUIRE_DISTINCT_APPROVER"]
    assert differs(TEMPORAL_PAYLOAD_KEY="a-secret-of-16-chars+") == ["TEMPORAL_PAYLOAD_KEY"]
    assert "a-secret-of-16-chars+" not in str(settings_digest(load_settings(
        environ={"TEMPORAL_PAYLOAD_KEY": "a-secret-of-16-chars+"})))


async def test_a_transport_error_asking_for_pollers_is_retried_then_one_clear_line(monkeypatch) -> None:  # noqa: ANN001
    """Seen in CI: a dev server that had just started dropped a describe_task_queue ('transport error'),
    and the script died with a traceback instead of asking again."""
    from types import SimpleNamespace

    from temporalio.api.workflowservice.v1 import DescribeTaskQueueResponse
    from temporalio.service import RPCError, RPCStatusCode

    from maintenance_agent import embedded

    failures = {"left": 2}

    async def describe(_request):  # noqa: ANN001, ANN202
        if failures["left"]:
            failures["left"] -= 1
            raise RPCError("transport error", RPCStatusCode.UNKNOWN, b"")
        return DescribeTaskQueueResponse()

    client = SimpleNamespace(namespace="default", workflow_service=SimpleNamespace(describe_task_queue=describe))
    assert await embedded.worker_pollers(client, "q") == [] and failures["left"] == 0
    failures["left"] = 10**6
    monkeypatch.setattr(embedded.worker_process, "POLLERS_PATIENCE_SECONDS", 0.3)
    with pytest.raises(embedded.EmbeddedError, match="did not answer for the pollers of task queue q"):
        await embedded.worker_pollers(client, "q")
