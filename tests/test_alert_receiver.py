"""The Alertmanager receiver (the project's FastAPI service on uvicorn) in front of a real proactive
agent: what it refuses and why, and the real path: a Prometheus alert rule fires, a real Alertmanager
posts to the receiver, a cycle starts at once with the device in its findings, repeats start
nothing, the resolved alert is let go."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from conftest import audit_log, copy_fleet, eventually, free_port, running_worker, settings_for
from helpers.alertmanager import FleetExporter, running_alertmanager
from helpers.prometheus import running_prometheus
from maintenance_agent import artifacts, client_ops
from maintenance_agent.api import ApiServer, bind, create_app
from maintenance_agent.bearer import ServeError
from maintenance_agent.config import Settings
from maintenance_agent.models.proactive import ProactivePhase, ProactiveStatus

TOKEN = "receiver-secret-token-123"


@dataclass
class Receiver:
    url: str
    app: Any
    settings: Settings
    client: Client

    async def status(self) -> ProactiveStatus:
        return await client_ops.proactive_status(self.client, self.settings.user_name)

    async def after_cycle(self, n: int) -> ProactiveStatus:
        return await eventually(self.status, lambda s: s.cycle == n and s.phase is ProactivePhase.WAITING,
                                timeout=60, what=f"cycle {n} to finish")


@contextlib.asynccontextmanager
async def receiver(client: Client, tmp_path: Path, user: str, *, agent: bool = True,
                   token: str | None = TOKEN, **options: Any) -> AsyncIterator[Receiver]:
    """A worker, the user's proactive agent (one cycle, then an hour's wait) and the API in front of it."""
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), user_name=user)
    server = ApiServer(create_app(user, client), bind("127.0.0.1", 0), host="127.0.0.1", token=token)
    serving = asyncio.create_task(server.serve())
    try:
        async with running_worker(client, settings):
            r = Receiver(server.url, server.app, settings, client)
            if agent:
                await client_ops.start_proactive(client, settings, interval_minutes=60, **options)
                await r.after_cycle(1)
            yield r
            if agent:
                await client_ops.stop_proactive(client, user)
                # Its proposals would wait twelve hours in the session's server, ahead of later tests' runs.
                for run in (await r.status()).open_approvals:
                    with contextlib.suppress(RPCError):
                        await client.get_workflow_handle(run.workflow_id).terminate("test over")
    finally:
        server.stop()
        await asyncio.wait_for(serving, 10)


def payload(fingerprint: str = "f1", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {"version": "4", "groupKey": '{}:{alertname="DeviceHot"}', "status": status, "receiver": "agent",
            "alerts": [{"status": status, "fingerprint": fingerprint,
                        "labels": {"alertname": "DeviceHot", "severity": "critical", **labels},
                        "annotations": {"summary": "too hot"}, "startsAt": datetime.now(UTC).isoformat(),
                        "endsAt": "0001-01-01T00:00:00Z"}]}


async def post(url: str, body: Any, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{url}/alertmanager", content=content,
                               headers={"content-type": "application/json", **headers}, **kwargs)


def device_with_ip(settings: Settings) -> tuple[str, str]:
    """A running device of the fleet with an IP address and no alerts of its own."""
    inventory = json.loads((settings.data_dir / "infrastructure_inventory.json").read_text())["infrastructure_inventory"]
    device = next(d for d in inventory if d.get("ip_address") and not d.get("alerts") and d["status"] == "Operational")
    return device["id"], device["ip_address"]


def detection(settings: Settings, status: ProactiveStatus) -> artifacts.DetectionArtifact:
    assert status.last_cycle and status.last_cycle.artifact_dir
    return artifacts.read(settings.reports_dir / status.last_cycle.artifact_dir, artifacts.DETECTION,
                          artifacts.DetectionArtifact)


async def test_malformed_unauthenticated_or_oversized_posts_are_refused_and_change_nothing(
        client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    async with receiver(client, tmp_path, "receiver.refusals") as r:
        eid, _ = device_with_ip(r.settings)
        before = await r.status()
        cases = [
            (b"{not json", 422, "not an Alertmanager webhook payload"),
            ({**payload(device=eid), "version": "3"}, 422, "version"),
            ({**payload(device=eid), "alerts": [{"status": "firing"}]}, 422, "alerts.0"),
            ({**payload(device=eid), "status": "burning"}, 422, "status"),
        ]
        for body, code, words in cases:
            answer = await post(r.url, body)
            assert answer.status_code == code and words in answer.json()["error"], (body, answer.text)
        for token in (None, "wrong-token"):
            answer = await post(r.url, payload(device=eid), token=token)
            assert answer.status_code == 401 and "API_TOKEN" in answer.json()["error"]
        huge = await post(r.url, b"[" + b"0," * (5 * 1024 * 1024) + b"0]")
        assert huge.status_code == 413 and "MiB" in huge.json()["error"]
        after = await r.status()
        assert (after.cycle, after.alerts) == (before.cycle, []) and list(r.app.state.receipts) == []
        assert "wrong-token" not in caplog.text and TOKEN not in caplog.text


async def test_a_notification_with_no_agent_running_is_a_503_alertmanager_retries(
        client: Client, tmp_path: Path) -> None:
    async with receiver(client, tmp_path, "receiver.no.agent", agent=False) as r:
        answer = await post(r.url, payload(device="EQ-10001"))
        assert answer.status_code == 503 and "no proactive agent is running for receiver.no.agent" in answer.text


async def test_new_repeated_resolved_and_unknown_device_alerts(client: Client, tmp_path: Path) -> None:
    # Continuing as new after every cycle: the held alerts travel in the state.
    async with receiver(client, tmp_path, "receiver.flow", continue_as_new_after_cycles=1) as r:
        eid, ip = device_with_ip(r.settings)
        first = (await post(r.url, payload("a1", instance=f"{ip}:9100"))).json()
        assert first["new"] == 1 and first["triggered"] and first["held"] == 1
        second = await r.after_cycle(2)
        assert second.last_cycle and second.last_cycle.triggered_by == [f"DeviceHot (instance={ip}:9100)"]
        found = detection(r.settings, second)
        assert [f.kind.value for f in found.findings if f.equipment_id == eid] == ["critical_alert"]
        # The cycle's routine on-site check ran; the alert still fires, so the device is still critical after it.
        [line] = [e for e in audit_log(r.settings.data_dir) if e.get("equipment_id") == eid]
        assert line["outcome"] == "succeeded" and line["action"] == "schedule_maintenance", line
        assert line["result"]["device_after"]["health"] == "critical" and line["result"]["device_after"]["alerts"] == 1
        assert second.continued_as_new >= 2 and [a.fingerprint for a in second.alerts] == ["a1"]
        repeat = (await post(r.url, payload("a1", instance=f"{ip}:9100"))).json()
        assert (repeat["new"], repeat["repeated"], repeat["triggered"]) == (0, 1, False)
        unknown = (await post(r.url, payload("u1", instance="192.0.2.99:9100"))).json()
        assert unknown["new"] == 1 and unknown["triggered"]
        third = await r.after_cycle(3)
        warnings = " ".join(detection(r.settings, third).warnings)
        assert "DeviceHot (instance=192.0.2.99:9100)" in warnings and "name no device of the inventory" in warnings
        resolved = (await post(r.url, payload("a1", "resolved", instance=f"{ip}:9100"))).json()
        assert (resolved["resolved"], resolved["held"], resolved["triggered"]) == (1, 1, False)
        assert [a.fingerprint for a in (await r.status()).alerts] == ["u1"]


def test_the_api_is_not_served_beyond_loopback_without_a_token() -> None:
    with pytest.raises(ServeError, match="without API_TOKEN"):
        ApiServer(create_app("x", None), bind("127.0.0.1", 0), host="0.0.0.0", token=None)  # type: ignore[arg-type]  # noqa: S104
    port = free_port()
    with bind("127.0.0.1", port), pytest.raises(ServeError, match="set API_PORT to a free port"):
        bind("127.0.0.1", port)


RULES = """groups:
- name: fleet
  rules:
  - alert: DeviceOverheating
    expr: temperature_celsius > 75
    labels:
      severity: critical
    annotations:
      summary: "inlet temperature {{ $value }} °C"
"""


async def test_a_real_alertmanager_fed_by_a_real_prometheus_rule_starts_a_cycle_at_once(
        client: Client, tmp_path: Path) -> None:
    async with receiver(client, tmp_path, "receiver.e2e") as r:
        eid, ip = device_with_ip(r.settings)
        instance = f"{ip}:9100"
        exporter = FleetExporter(free_port())
        exporter.set("temperature_celsius", instance, 40)
        am_port, prom_port = free_port(), free_port()
        (tmp_path / "prom").mkdir()
        (tmp_path / "prom" / "rules.yml").write_text(RULES)
        scrape = (f"rule_files: [{tmp_path / 'prom' / 'rules.yml'}]\n"
                  f"alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{am_port}']\n"
                  f"scrape_configs:\n- job_name: fleet\n  static_configs:\n  - targets: ['127.0.0.1:{exporter.port}']\n"
                  f"  relabel_configs:\n  - target_label: instance\n    replacement: '{instance}'\n")
        try:
            with running_alertmanager(tmp_path / "am", am_port, f"{r.url}/alertmanager", token=TOKEN), \
                    running_prometheus(tmp_path / "prom", prom_port, scrape=scrape,
                                       extra_flags=["--rules.alert.resend-delay=1s"]):
                receipts = r.app.state.receipts

                async def answers() -> list:  # the agent's answers to Alertmanager so far
                    return list(receipts)
                hot_at = datetime.now(UTC)
                exporter.set("temperature_celsius", instance, 90)  # the device overheats: the rule fires
                fired = await r.after_cycle(2)
                assert fired.last_cycle
                latency = (fired.last_cycle.started_at - hot_at).total_seconds()
                print(f"reading over the rule -> cycle started: {latency:.1f} s "
                      f"(scrape 1 s, rule evaluation 1 s, Alertmanager group_wait 1 s)")
                assert latency < 30, "a cycle starts within seconds, not at the interval (an hour)"
                assert fired.last_cycle and fired.last_cycle.triggered_by == [f"DeviceOverheating (instance={instance})"]
                found = detection(r.settings, fired)
                assert "critical_alert" in [f.kind.value for f in found.findings if f.equipment_id == eid]
                # Alertmanager repeats the notification (repeat_interval 2 s): the agent starts nothing.
                await eventually(answers, lambda seen: any(x.repeated for x in seen), timeout=30,
                                 what="a repeated notification")
                assert [x.triggered for x in receipts].count(True) == 1, list(receipts)
                exporter.set("temperature_celsius", instance, 40)  # it cools down: the alert resolves
                await eventually(answers, lambda seen: any(x.resolved for x in seen), timeout=60,
                                 what="the resolved notification")
                status = await r.status()
                assert status.alerts == [] and status.cycle == 2, status
                assert [x.triggered for x in receipts].count(True) == 1
            await client_ops.trigger_proactive(client, r.settings.user_name)
            cleared = await r.after_cycle(3)
            assert "critical_alert" not in [f.kind.value for f in detection(r.settings, cleared).findings
                                            if f.equipment_id == eid]
            assert TOKEN not in (tmp_path / "am" / "alertmanager.log").read_text()
        finally:
            exporter.close()



def test_the_service_on_its_own_refuses_to_listen_beyond_loopback_without_a_token_serves_and_stops(
        temporal_address: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    port = free_port()
    env = {**os.environ, "TEMPORAL_ADDRESS": temporal_address, "EMBEDDED_TEMPORAL": "never", "API_PORT": str(port),
           "DATA_DIR": str(tmp_path / "data"), "REPORTS_DIR": str(tmp_path / "reports"),
           "TEMPORAL_STATE_DIR": str(tmp_path / "state"), "USER_NAME": "receiver.alone"}
    command = [sys.executable, "-m", "maintenance_agent.api"]
    refused = subprocess.run([*command, "--host", "0.0.0.0"], env=env, capture_output=True, text=True,  # noqa: S104
                             timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == ("error: refusing to serve the API on 0.0.0.0 without API_TOKEN; set it (clients "
                                      "then send 'Authorization: Bearer <token>') or bind 127.0.0.1")
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API did not answer within 60 s"
                time.sleep(0.1)
        assert health.json() == {"ok": True, "agent": "always-be-maintainin-for-receiver.alone"}
        bad = httpx.post(f"http://127.0.0.1:{port}/alertmanager", content=b"[]", timeout=10)
        assert bad.status_code == 422 and "not an Alertmanager webhook payload" in bad.json()["error"]
        no_agent = httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload(device="EQ-10001"), timeout=30)
        assert no_agent.status_code == 503 and "no proactive agent is running for receiver.alone" in no_agent.text
    finally:
        proc.terminate()
        code = proc.wait(15)
    assert code == 0, "SIGTERM stops it cleanly"
