"""Notifications from the proactive agent to a webhook (Slack Block Kit) and from the agent's runs to
PagerDuty (Events v2): content, one cycle numbering across restarts, and a dead receiver never hurts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from conftest import ROOT, copy_fleet, eventually, running_worker, settings_for
from helpers.http_stub import answer_never, answer_status, http_stub
from helpers.pagerduty import PagerDutyReceiver
from helpers.short_waits import short_waits
from maintenance_agent import artifacts, client_ops
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.proactive import ProactivePhase
from maintenance_agent.models.run import Phase

UI = "http://temporal-ui.test:8233"
ROUTING_KEY = "sentinelPagerDutyKey0123456789ab"


def _settings(tmp_path: Path, name: str, **overrides):  # noqa: ANN003, ANN202
    return settings_for(tmp_path / name, data_dir=copy_fleet(tmp_path / name / "data"),
                        task_queue=f"notify-{uuid.uuid4().hex[:8]}", user_name=f"{name}{uuid.uuid4().hex[:6]}",
                        **overrides)


def _blocks(message: dict) -> dict[str, str]:
    """block_id -> all the text the block shows."""
    out = {}
    for block in message["blocks"]:
        parts = [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        out[block["block_id"]] = "\n".join(p.get("text", "") for p in parts)
    return out


async def _first_cycle(client: Client, settings):  # noqa: ANN001, ANN202
    return await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                            lambda s: s.cycle >= 1 and s.phase is ProactivePhase.WAITING, timeout=120,
                            what="the first cycle")


async def _cleanup(client: Client, settings, status) -> None:  # noqa: ANN001
    await client_ops.stop_proactive(client, settings.user_name)
    for run in status.open_approvals:  # from a snapshot: a run may have finished since
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(run.workflow_id).terminate("test over")


async def test_webhook_receives_block_kit_with_counts_risks_devices_command_and_links(client: Client,
                                                                                      tmp_path: Path) -> None:
    settings = _settings(tmp_path, "hook", temporal_ui_url=UI)
    async with http_stub() as hook, running_worker(client, settings):
        await client_ops.start_proactive(client, settings, interval_minutes=60, callback_url=hook.url)
        status = await _first_cycle(client, settings)
        await eventually(lambda: asyncio.sleep(0, hook.requests), lambda r: len(r) >= 1, what="the webhook call")
        cycle = status.last_cycle
        assert cycle and cycle.notified and cycle.approval_run
        message = hook.requests[0]
        assert hook.headers[0]["Content-Type"].startswith("application/json")
        # What the message is about: the cycle's actions that await approval, as the plan has them.
        plan = artifacts.read(settings.reports_dir / cycle.artifact_dir, artifacts.PLAN, artifacts.PlanArtifact)
        proposed = [a for a in plan.actions if not a.routine]
        assert len(proposed) == cycle.proposed_for_approval
        high = [a for a in proposed if a.risk == "high"]
        assert high, "the default fleet proposes high-risk actions (else the count below proves little)"

        blocks = _blocks(message)
        assert message["blocks"][0]["type"] == "header"
        assert f"Approval needed: {len(proposed)} actions, {len(high)} high risk" in blocks["outcome"]
        assert "cycle 1" in blocks["context"] and settings.user_name in blocks["context"]
        for severity, n in cycle.findings_by_severity.items():
            assert f"{severity} {n}" in blocks["counts"], "findings by severity"
        assert f"*High-risk actions*\n{len(high)} of {len(proposed)}" in blocks["counts"]
        per_site = Counter(a.site for a in proposed)
        assert f"({len(per_site)} sites)" in blocks["sites"]
        for site, n in per_site.most_common(3):
            assert f"`{site}` {n}" in blocks["sites"], "actions per site"
        worst = sorted({a.equipment_id for a in high})
        listed = [line for line in blocks["devices"].splitlines() if line.startswith("• ")]
        assert listed and all("high risk" in line for line in listed[:len(worst)]), "the riskiest devices first"
        assert any(f"`{device}`" in listed[0] for device in worst)
        command = f".venv/bin/python approve_monitoring_agent.py --workflow-id {cycle.approval_run}"
        assert f"```{command}```" in blocks["approve"] and message["approve_command"] == command
        assert f"<{UI}/namespaces/default/workflows/{cycle.approval_run}|" in blocks["links"]
        assert f"<{UI}/namespaces/default/workflows/{status.workflow_id}|" in blocks["links"]
        assert f"`REPORTS_DIR/{cycle.approval_run}/report.html`" in blocks["links"]
        assert f"`REPORTS_DIR/{cycle.artifact_dir}/plan.json`" in blocks["links"]
        everything = json.dumps(message)
        assert str(tmp_path) not in everything and str(ROOT) not in everything, "no path of the agent's machine"
        # The fallback and the structured fields beside the blocks
        assert "need approval" in message["text"] and cycle.approval_run in message["text"]
        assert message["kind"] == "approval_needed" and message["cycle"] == 1
        assert message["agent_workflow_id"] == status.workflow_id
        assert set(message["workflow_ids"]) >= {status.workflow_id, cycle.approval_run}
        assert message["actions_total"] == cycle.proposed_for_approval == len(message["actions"])
        assert {a["risk"] for a in message["actions"]} >= {"high"}
        assert set(message["devices"]) == {a["equipment_id"] for a in message["actions"]}
        await _cleanup(client, settings, status)


async def test_a_restarted_agent_goes_on_numbering_its_cycles(client: Client, tmp_path: Path) -> None:
    """Before: each incarnation counted from 1, so a restarted agent sent a second, different "cycle 1"."""
    settings = _settings(tmp_path, "again")
    agent_id = client_ops.proactive_workflow_id(settings.user_name)
    async with http_stub() as hook, running_worker(client, settings):
        await client_ops.start_proactive(client, settings, interval_minutes=600, callback_url=hook.url)
        first = await _first_cycle(client, settings)
        await eventually(lambda: asyncio.sleep(0, hook.requests), lambda r: len(r) == 1, what="cycle 1's message")
        assert first.last_cycle and first.last_cycle.approval_run
        # Rejected, so the next incarnation proposes (and notifies) again.
        await eventually(lambda: client_ops.get_status(client, first.last_cycle.approval_run),
                         lambda s: s.phase is Phase.PENDING_APPROVAL, what="the approval run's plan")
        await client_ops.decide(client, first.last_cycle.approval_run, ApprovalRequest(approve=False, approver="ops.lead"))
        await client_ops.stop_proactive(client, settings.user_name)
        await eventually(lambda: client.get_workflow_handle(agent_id).describe(), lambda d: d.close_time is not None,
                         what="the agent to stop")

        await client_ops.start_proactive(client, settings, interval_minutes=600, callback_url=hook.url)
        second = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                  lambda s: s.run_id != first.run_id and s.phase is ProactivePhase.WAITING
                                  and s.last_cycle is not None, timeout=120, what="the new incarnation's first cycle")
        await eventually(lambda: asyncio.sleep(0, hook.requests), lambda r: len(r) == 2, what="its message")
        assert second.cycle == 2 and second.last_cycle.cycle == 2, "numbering goes on from the earlier incarnation"
        one, two = hook.requests
        assert (one["cycle"], two["cycle"]) == (1, 2)
        assert "cycle 1" in _blocks(one)["context"] and "cycle 2" in _blocks(two)["context"]
        assert one["cycle_dir"] != two["cycle_dir"] and two["cycle_dir"].endswith("cycle-00002")
        assert "-cycle-2-approval-" in second.last_cycle.approval_run
        await _cleanup(client, settings, second)


async def test_a_restart_after_a_failed_cycle_goes_on_numbering_too(client: Client, tmp_path: Path) -> None:
    """A cycle whose data could not be read still counts: the restarted agent's failure is "cycle 2"."""
    from maintenance_agent.models.fleet import HEALTH_FILE

    settings = _settings(tmp_path, "failing")
    (settings.data_dir / HEALTH_FILE).write_text("{")
    agent_id = client_ops.proactive_workflow_id(settings.user_name)
    async with http_stub() as hook, running_worker(client, settings):
        for attempt in (1, 2):
            await client_ops.start_proactive(client, settings, interval_minutes=600, callback_url=hook.url)
            await eventually(lambda: asyncio.sleep(0, hook.requests), lambda r, n=attempt: len(r) == n,
                             what=f"incarnation {attempt}'s failure message")
            await client_ops.stop_proactive(client, settings.user_name)
            await eventually(lambda: client.get_workflow_handle(agent_id).describe(),
                             lambda d: d.close_time is not None, what="the agent to stop")
    one, two = hook.requests
    assert "Maintenance cycle 1 failed" in _blocks(one)["outcome"]
    assert "Maintenance cycle 2 failed" in _blocks(two)["outcome"], _blocks(two)["outcome"]


async def test_approving_a_stopped_agents_id_names_its_approval_runs_still_open(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path, "stopped")
    agent_id = client_ops.proactive_workflow_id(settings.user_name)
    async with running_worker(client, settings):
        await client_ops.start_proactive(client, settings, interval_minutes=600)
        status = await _first_cycle(client, settings)
        run = status.last_cycle.approval_run
        assert run
        await client_ops.stop_proactive(client, settings.user_name)
        await eventually(lambda: client.get_workflow_handle(agent_id).describe(), lambda d: d.close_time is not None,
                         what="the agent to stop")
        with pytest.raises(client_ops.OperationError) as refused:
            await client_ops.decide(client, agent_id, ApprovalRequest(approver="ops.lead"))
        assert "is the proactive agent" in str(refused.value) and f"Open now: {run}" in str(refused.value)
        await client.get_workflow_handle(run).terminate("test over")


async def test_pagerduty_gets_a_trigger_then_a_resolve_with_the_runs_id(client: Client, tmp_path: Path) -> None:
    receiver = PagerDutyReceiver()
    async with http_stub(receiver, path="/v2/enqueue") as pd:
        settings = _settings(tmp_path, "pd", pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=pd.url,
                             temporal_ui_url=UI)
        async with running_worker(client, settings):
            await client_ops.start_proactive(client, settings, interval_minutes=600)
            status = await _first_cycle(client, settings)
            run = status.last_cycle.approval_run
            assert run
            await eventually(lambda: asyncio.sleep(0, receiver.accepted), lambda _: receiver.events(run) == ["trigger"],
                             what="the proposal's trigger")
            trigger = next(e for e in receiver.accepted if e["dedup_key"] == run)
            assert trigger["routing_key"] == ROUTING_KEY
            payload = trigger["payload"]
            proposed = status.last_cycle.proposed_for_approval
            assert payload["summary"].startswith(f"Approval needed: {proposed} maintenance actions (")
            assert run in payload["summary"] and payload["source"] == status.workflow_id
            assert payload["severity"] == "warning" and payload["class"] == "approval_needed"
            assert payload["custom_details"]["approve_command"] == f".venv/bin/python approve_monitoring_agent.py --workflow-id {run}"
            assert trigger["links"][0]["href"] == f"{UI}/namespaces/default/workflows/{run}"

            # Approve only what completes cleanly here (contracts, bookings): the run then resolves its incident.
            plan = await client_ops.get_plan(client, run)
            calm = [a.id for a in plan.actions if not a.disruptive]
            assert calm
            await client_ops.decide(client, run, ApprovalRequest(approver="ops.lead", action_ids=calm))
            result = await client_ops.result(client, run)
            assert result.phase is Phase.COMPLETED and result.outcomes.succeeded == len(calm)
            assert not result.outcomes.failed and not result.outcomes.rolled_back
            await eventually(lambda: asyncio.sleep(0, receiver.accepted),
                             lambda _: receiver.events(run) == ["trigger", "resolve"], what="the resolve")
            resolve = [e for e in receiver.accepted if e["dedup_key"] == run][-1]
            assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": run}
            assert not receiver.refused, receiver.refused
            # The routing key is the worker's: in no workflow's history.
            for workflow_id in (status.workflow_id, run):
                history = (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()
                assert ROUTING_KEY not in history, f"the routing key leaked into {workflow_id}'s history"
            await _cleanup(client, settings, await client_ops.proactive_status(client, settings.user_name))


async def test_failing_cycles_page_once_per_agent_and_a_clean_cycle_resolves(client: Client, tmp_path: Path) -> None:
    from maintenance_agent.models.fleet import HEALTH_FILE

    receiver = PagerDutyReceiver()
    async with http_stub(receiver, path="/v2/enqueue") as pd, http_stub() as hook:
        settings = _settings(tmp_path, "pdcycle", pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=pd.url)
        health = settings.data_dir / HEALTH_FILE
        good = health.read_bytes()
        health.write_text("{")
        async with running_worker(client, settings):
            await client_ops.start_proactive(client, settings, interval_minutes=600, callback_url=hook.url)
            failed = await _first_cycle(client, settings)
            assert failed.last_cycle and failed.last_cycle.error and "not valid JSON" in failed.last_cycle.error
            key = f"{failed.workflow_id}/cycle-failed"
            assert receiver.events(key) == ["trigger"]
            trigger = next(e for e in receiver.accepted if e["dedup_key"] == key)
            assert trigger["payload"]["severity"] == "error" and "cycle 1 failed" in trigger["payload"]["summary"]
            message = hook.requests[0]
            assert message["kind"] == "cycle_failed" and "Maintenance cycle 1 failed" in _blocks(message)["outcome"]
            assert "not valid JSON" in _blocks(message)["error"]

            health.write_bytes(good)
            await client_ops.trigger_proactive(client, settings.user_name)
            clean = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                     lambda s: s.cycle == 2 and s.phase is ProactivePhase.WAITING, timeout=120,
                                     what="a clean cycle 2")
            assert clean.last_cycle and clean.last_cycle.error is None
            assert receiver.events(key) == ["trigger", "resolve"] and not receiver.refused
            await _cleanup(client, settings, clean)


async def test_a_dead_pagerduty_never_fails_a_run_or_the_agent(client: Client, tmp_path: Path) -> None:
    async with http_stub(answer_status(503), path="/v2/enqueue") as pd:
        settings = _settings(tmp_path, "pddead", pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=pd.url)
        async with running_worker(client, settings, make_activities=short_waits()):  # retried at once, not in 2, 4, 8 s
            await client_ops.start_proactive(client, settings, interval_minutes=600)
            status = await _first_cycle(client, settings)
            run = status.last_cycle.approval_run
            assert run and status.last_cycle.error is None
            await client_ops.decide(client, run, ApprovalRequest(approve=False, approver="ops.lead"))
            result = await client_ops.result(client, run)  # trigger and resolve each give up within a minute
            assert result.phase is Phase.REJECTED
            assert sum(1 for r in pd.requests if r.get("dedup_key") == run) >= 4, "both were tried, and retried"
            await client_ops.trigger_proactive(client, settings.user_name)
            after = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                     lambda s: s.cycle == 2 and s.phase is ProactivePhase.WAITING, timeout=180,
                                     what="cycle 2")
            assert after.last_cycle and after.last_cycle.error is None
            await _cleanup(client, settings, after)


async def test_a_failing_or_silent_webhook_never_stalls_the_agent(client: Client, tmp_path: Path) -> None:
    broken, silent = _settings(tmp_path, "broken"), _settings(tmp_path, "silent")
    async with http_stub(answer_status(500)) as hook500, http_stub(answer_never) as hook_dead, \
            running_worker(client, broken, make_activities=short_waits()), \
            running_worker(client, silent, make_activities=short_waits()):
        await client_ops.start_proactive(client, broken, interval_minutes=60, callback_url=hook500.url)
        await client_ops.start_proactive(client, silent, interval_minutes=60, callback_url=hook_dead.url,
                                         notify_timeout_seconds=1)
        results = await asyncio.gather(_first_cycle(client, broken), _first_cycle(client, silent))
        for status, hook in zip(results, (hook500, hook_dead), strict=True):
            cycle = status.last_cycle
            assert cycle and not cycle.notified and cycle.notification_error
            assert len(hook.requests) >= 2, "the notification was retried"
            assert "notification failed" in cycle.summary
        assert "500" in results[0].last_cycle.notification_error
        # The agent carries on: another cycle runs normally.
        await client_ops.trigger_proactive(client, broken.user_name)
        after = await eventually(lambda: client_ops.proactive_status(client, broken.user_name),
                                 lambda s: s.cycle == 2 and s.phase is ProactivePhase.WAITING, timeout=120,
                                 what="cycle 2")
        await _cleanup(client, broken, after)
        await _cleanup(client, silent, results[1])


async def test_refusals_and_outages_are_told_apart_and_name_no_secret(tmp_path: Path) -> None:
    """PagerDuty's 400 (a bad key, a bad event) is not retried and says why; a 5xx is retried; neither
    error names the routing key or the webhook's token."""
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from maintenance_agent.activities import MaintenanceActivities
    from maintenance_agent.config import NotifySettings
    from maintenance_agent.models.notify import NotifyInput, PageEvent, PageInput

    async def refuse(_request, body):  # noqa: ANN001, ANN202
        from aiohttp import web
        return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                  "errors": [f"routing_key {body['routing_key']} is not known"]}, status=400)

    async def slack_refuses(_request, _body):  # noqa: ANN001, ANN202
        from aiohttp import web
        return web.Response(status=400, text="invalid_blocks")

    page = PageInput(event_action=PageEvent.TRIGGER, dedup_key="run-1", kind="run_finished", workflow_id="run-1",
                     phase=Phase.FAILED, error="boom")
    env = ActivityEnvironment()
    async with http_stub(refuse, path="/v2/enqueue") as bad, http_stub(answer_status(503), path="/v2/enqueue") as down, \
            http_stub(slack_refuses, path="/services/T0/B0/sentinelHookToken") as slack:
        for stub, kind, retryable in ((bad, "PagerDutyRejected", False), (down, "PagerDutyError", True)):
            acts = MaintenanceActivities(data_dir=tmp_path, reports_dir=tmp_path, notifications=NotifySettings(
                pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=stub.url))
            try:
                await env.run(acts.page, page)
                raise AssertionError("no error")
            except ApplicationError as err:
                assert err.type == kind and err.non_retryable is not retryable
                assert ROUTING_KEY not in str(err) and stub.url.split("/v2")[0] in str(err)
                if not retryable:
                    assert "is not known" in str(err), "PagerDuty's reason is shown"
        acts = MaintenanceActivities(data_dir=tmp_path, reports_dir=tmp_path,
                                     notifications=NotifySettings(webhook_url=slack.url))
        try:
            await env.run(acts.notify, NotifyInput(kind="cycle_failed", agent_workflow_id="a", cycle=1,
                                                   started_by="x", error="boom"))
            raise AssertionError("no error")
        except ApplicationError as err:
            assert err.type == "WebhookRejected" and "invalid_blocks" in str(err)
            assert "sentinelHookToken" not in str(err)
        unconfigured = MaintenanceActivities(data_dir=tmp_path, reports_dir=tmp_path)
        assert (await env.run(unconfigured.page, page)).delivered is False
