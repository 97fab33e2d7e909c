"""The LLM advisor through litellm's real HTTP path against a local OpenAI-compatible stub."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from conftest import ROOT, copy_fleet, running_worker, settings_for
from helpers.http_stub import http_stub
from maintenance_agent import artifacts, client_ops, llm
from maintenance_agent.activities import MaintenanceActivities
from maintenance_agent.config import LlmSettings
from maintenance_agent.core.advice import AdvisorAnswer, build_digest, messages_tokens
from maintenance_agent.core.analyze import analyze
from maintenance_agent.core.detect import detect
from maintenance_agent.core.plan import plan_actions
from maintenance_agent.core.timeframe import analysis_time
from maintenance_agent.datagen import generate_fleet
from maintenance_agent.models.activity_io import AdviseInput, AdviseResult, AnalyzeInput, DetectInput, PlanInput
from maintenance_agent.models.fleet import HealthFile, InventoryFile, LifeFile
from maintenance_agent.models.rules import Rules
from maintenance_agent.models.run import Phase
from maintenance_agent.tokenizer import count_tokens
from maintenance_agent.workflows import ADVISE_TIMEOUT

SECRET = "sentinel-llm-key-5c1d9e"


def completion(content: str, prompt_tokens: int = 1234, completion_tokens: int = 321) -> web.Response:
    return web.json_response({
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def good_answer(prompt: str) -> str:
    problems = re.findall(r"^(P\d+)\|", prompt, re.MULTILINE)
    actions = re.findall(r"^(A\d+)\|([^|]+)\|([^|]+)\|", prompt, re.MULTILINE)
    planned = {(device, action) for _, device, action in actions}
    device = next(d for _, d, _ in actions if (d, "replace_hardware") not in planned)
    return json.dumps({
        "executive_summary": "Two sites lost devices; restore them first, then renew lapsed contracts.",
        "problems": [{"id": problems[0], "explanation": "LLM-EXPLANATION: site outage, restore upstream first"}],
        "actions": [{"id": actions[0][0], "comment": "LLM-COMMENT: do this first", "priority": 1}],
        "proposals": [
            {"equipment_id": device, "action": "replace_hardware", "reason": "aging unit"},
            {"equipment_id": device, "action": "reboot_everything", "reason": "why not"},
            {"equipment_id": "EQ-99999", "action": "restart_device", "reason": "ghost"},
        ],
    })


async def good(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    return completion(good_answer(body["messages"][-1]["content"]))


async def garbage(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    return completion("Sure! Here is what I think: the fleet is fine {not json")


async def server_error(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"error": {"message": "upstream exploded", "type": "server_error"}}, status=500)


async def hang(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    await asyncio.sleep(30)
    return completion("{}")


async def unauthorized(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error",
                                        "code": "invalid_api_key"}}, status=401)


async def run_with_stub(client: Client, tmp_path: Path, handler, **settings_overrides: Any):  # noqa: ANN001, ANN202
    async with http_stub(handler, path="/v1/chat/completions") as stub:
        settings = settings_for(
            tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"llm-{uuid.uuid4().hex[:8]}",
            llm_model="openai/test-model", llm_key=SECRET, llm_base_url=stub.url.removesuffix("/chat/completions"),
            llm_timeout_seconds=settings_overrides.pop("llm_timeout_seconds", 2), llm_max_attempts=3, **settings_overrides)
        async with running_worker(client, settings):
            wid = await client_ops.start_run(client, settings, auto_approve=True)
            result = await client_ops.result(client, wid)
    report = json.loads(Path(result.report.json_path).read_text())
    history = (await client.get_workflow_handle(wid).fetch_history()).to_json()
    return result, report, stub, history, settings


def assert_no_secret(history: str, settings, stub=None) -> None:  # noqa: ANN001
    assert SECRET not in history, "the LLM key reached workflow history"
    for path in Path(settings.reports_dir).rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), f"the LLM key is in {path}"


async def test_good_advice_is_in_the_report_and_rules_still_decide(client: Client, tmp_path: Path) -> None:
    result, report, stub, history, settings = await run_with_stub(client, tmp_path, good)
    assert result.phase is Phase.COMPLETED
    advisor = report["advisor"]
    assert advisor["used"] and advisor["model"] == "openai/test-model"
    assert {"executive summary", "problem explanations", "action comments and priorities",
            "proposed actions"} <= set(advisor["parts"])
    assert advisor["prompt_tokens"] == 1234 and advisor["completion_tokens"] == 321 and advisor["latency_ms"] > 0
    assert advisor["digest_tokens"] <= advisor["token_budget"] == 8000
    assert any((p["llm_explanation"] or "").startswith("LLM-EXPLANATION") for p in report["problems"])
    assert any((a["llm_comment"] or "").startswith("LLM-COMMENT") and a["llm_priority"] == 1 for a in report["actions"])
    assert all(a["llm_priority"] is None for a in report["actions"] if not a["llm_comment"])
    proposed = [a for a in report["actions"] if a["source"] == "llm"]
    assert len(proposed) == 1 and proposed[0]["action"] == "replace_hardware" and proposed[0]["risk"] == "high"
    assert not proposed[0]["routine"] and not proposed[0]["approved"]
    assert proposed[0]["outcome"] == "skipped_unapproved", "auto-approve never covers an LLM proposal"
    rejected = " ".join(advisor["proposals_rejected"])
    assert "reboot_everything" in rejected and "not in the action catalog" in rejected
    assert "EQ-99999" in rejected
    md = Path(result.report.markdown).read_text()
    assert "Executive summary (LLM advisor: openai/test-model)" in md and "Advisor (LLM)" in md
    assert "| Advisor priority (LLM) |" in md and "| LLM-COMMENT: do this first | 1 |" in md
    # What the model saw: a digest, not the fleet (no serial numbers, addresses or raw readings).
    prompt = stub.requests[0]["messages"][-1]["content"]
    inventory = json.loads((settings.data_dir / "infrastructure_inventory.json").read_text())["infrastructure_inventory"]
    assert not any(d["ip_address"] in prompt or d["serial_number"] in prompt for d in inventory)
    assert "recent_readings" not in prompt and "P1|" in prompt and "A1|" in prompt
    assert stub.headers[0]["Authorization"] == f"Bearer {SECRET}", "the key was used ..."
    assert_no_secret(history, settings)  # ... and never stored


@pytest.mark.parametrize("handler,requests,fragment", [
    (garbage, 3, "invalid answer"),
    (server_error, 3, "InternalServerError"),
    (hang, 3, "Timeout"),
    (unauthorized, 1, "AuthenticationError"),
], ids=["malformed-json", "http-500", "hang", "http-401"])
async def test_a_failing_model_leaves_a_completed_rule_based_run(
    client: Client, tmp_path: Path, handler, requests: int, fragment: str  # noqa: ANN001
) -> None:
    started = time.monotonic()
    # A model that never answers times out after 1 s per attempt (one that answers, however badly, gets 2 s).
    result, report, stub, history, settings = await run_with_stub(client, tmp_path, handler,
                                                                  llm_timeout_seconds=1 if handler is hang else 2)
    assert result.phase is Phase.COMPLETED and result.outcomes.succeeded > 0
    advisor = report["advisor"]
    assert advisor["used"] is False and advisor["note"].startswith("rules only")
    notes = " ".join(advisor["notes"])
    assert fragment in notes and "advice dropped" in notes
    assert len(stub.requests) == requests, "bounded retries; auth errors are not retried"
    assert all(a["source"] == "rules" for a in report["actions"])
    assert not any(p["llm_explanation"] for p in report["problems"])
    assert time.monotonic() - started < 60, "the LLM never stalls the run"
    assert_no_secret(history, settings)


def _plan_for(devices: int, seed: int):  # noqa: ANN202
    docs = generate_fleet(devices, seed).documents()
    inv = {i.id: i for i in InventoryFile.model_validate_json(orjson.dumps(docs["infrastructure_inventory.json"])).infrastructure_inventory}
    hm = {h.equipment_id: h for h in HealthFile.model_validate_json(orjson.dumps(docs["health_metrics.json"])).health_metrics}
    life = LifeFile.model_validate_json(orjson.dumps(docs["equipment_life_expectancy.json"])).equipment_life_expectancy
    as_of = analysis_time(inv.values(), hm.values())
    d = detect(inv, hm, {(x.vendor, x.model): float(x.expected_life_years) for x in life}, Rules(), as_of)
    problems, _ = analyze(d.findings, d.facts, d.sites)
    return d, problems, plan_actions(problems, d.findings, d.facts, d.firmware_baseline, Rules(), as_of)


def test_prompt_stays_within_budget_for_ten_thousand_devices() -> None:
    detection, problems, actions = _plan_for(10_000, 8)
    digest = build_digest(problems, actions, devices=detection.summary.devices, sites=detection.summary.sites,
                          budget_tokens=8000, count_tokens=count_tokens)
    print(f"\n10,000 devices: {len(problems)} problems, {len(actions)} actions -> prompt {digest.tokens} tokens "
          f"({digest.tokenizer}); {digest.problems_included} problems and {digest.actions_included} actions shown")
    assert digest.tokenizer == "tiktoken cl100k_base"
    assert 6000 < digest.tokens <= 8000
    assert digest.problems_omitted > 0 and "truncated to fit" in digest.prompt
    assert digest.problems_included > 20 and digest.actions_included > 20
    small = build_digest(problems[:5], actions[:5], devices=10, sites=2, budget_tokens=8000,
                         count_tokens=count_tokens)
    assert small.problems_omitted == 0 and "truncated" not in small.prompt


def test_without_a_model_nothing_of_the_advisor_is_imported_or_run(temporal_address: str, tmp_path: Path) -> None:
    script = f"""
import asyncio, sys, os
sys.path.insert(0, {str(ROOT / 'tests')!r})
from conftest import copy_fleet, running_worker, settings_for
from pathlib import Path
from temporalio.client import Client
from maintenance_agent import client_ops
from maintenance_agent.connection import data_converter
async def main():
    client = await Client.connect({temporal_address!r}, data_converter=data_converter())
    tmp = Path({str(tmp_path)!r})
    s = settings_for(tmp, data_dir=copy_fleet(tmp / 'data'), task_queue='nollm-{uuid.uuid4().hex[:6]}')
    async with running_worker(client, s):
        wid = await client_ops.start_run(client, s, auto_approve=True)
        r = await client_ops.result(client, wid)
    hist = (await client.get_workflow_handle(wid).fetch_history()).to_json()
    import json
    report = json.loads(Path(r.report.json_path).read_text())
    loaded = [m for m in ('litellm', 'tiktoken', 'maintenance_agent.llm', 'maintenance_agent.core.advice') if m in sys.modules]
    print(json.dumps({{"phase": r.phase, "loaded": loaded, "advise_in_history": '"advise"' in hist,
                      "note": report["advisor"]["note"], "used": report["advisor"]["used"]}}))
asyncio.run(main())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"phase": "COMPLETED", "loaded": [], "advise_in_history": False,
                   "note": "rules only (no LLM configured)", "used": False}


# ------------------------------------------------------------------------------------------------
# The advise activity on its own: retries, the time budget, the token budget of a retry


def _llm_settings(stub_url: str, **overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {"timeout_seconds": 5.0, "max_attempts": 3, "prompt_token_budget": 8000}
    values.update(overrides)
    return LlmSettings("openai/test-model", SECRET, stub_url.removesuffix("/chat/completions"), **values)


def _dirs(tmp_path: Path) -> dict[str, Path]:
    return {"data_dir": copy_fleet(tmp_path / "data"), "reports_dir": tmp_path}


def _planned_run(activities: MaintenanceActivities, tmp_path: Path) -> Path:
    """detect -> analyze -> plan through the real activities; the artifact directory they wrote."""
    env, directory = ActivityEnvironment(), tmp_path / "artifacts"
    detected = env.run(activities.detect_fleet, DetectInput(run_id="r1", artifact_dir=str(directory),
                                                            record_health=False))
    env.run(activities.analyze_findings, AnalyzeInput(artifact_dir=str(directory)))
    env.run(activities.plan_maintenance, PlanInput(artifact_dir=str(directory), as_of=detected.as_of))
    return directory


def _advise(activities: MaintenanceActivities, directory: Path) -> AdviseResult:
    return ActivityEnvironment().run(activities.advise, AdviseInput(artifact_dir=str(directory)))


def _llm_ids(directory: Path) -> list[str]:
    return [a.id for a in artifacts.read(directory, artifacts.PLAN, artifacts.PlanArtifact).actions if a.source == "llm"]


def scripted(*handlers):  # noqa: ANN001, ANN202
    """Answer the n-th request with the n-th handler (the last one from then on)."""
    calls = itertools.count()

    async def handler(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await handlers[min(next(calls), len(handlers) - 1)](request, body)
    return handler


async def test_a_retried_advise_attempt_keeps_the_llm_proposal_marked_as_llm(tmp_path: Path) -> None:
    async with http_stub(good, path="/v1/chat/completions") as stub:
        activities = MaintenanceActivities(llm=_llm_settings(stub.url), **_dirs(tmp_path))
        directory = await asyncio.to_thread(_planned_run, activities, tmp_path)
        first = await asyncio.to_thread(_advise, activities, directory)
        second = await asyncio.to_thread(_advise, activities, directory)  # as Temporal retries it
    llm_ids = _llm_ids(directory)
    assert len(llm_ids) == 1, "the retry replaced the earlier proposal instead of adding a second one"
    assert first.added_ids == second.added_ids == llm_ids, "the workflow would auto-approve an LLM proposal"
    assert second.plan is not None and llm_ids[0] in second.plan.action_ids
    assert llm_ids[0] not in second.plan.routine_ids
    assert stub.requests[0]["messages"] == stub.requests[1]["messages"], "each attempt starts from the rules-only plan"
    advice = artifacts.read(directory, artifacts.ADVICE, artifacts.AdviceArtifact)
    assert advice.proposals_accepted == llm_ids and not any("already planned" in r for r in advice.proposals_rejected)


async def test_a_retry_without_an_answer_still_names_the_earlier_llm_proposal(tmp_path: Path) -> None:
    async with http_stub(scripted(good, garbage), path="/v1/chat/completions") as stub:
        activities = MaintenanceActivities(llm=_llm_settings(stub.url), **_dirs(tmp_path))
        directory = await asyncio.to_thread(_planned_run, activities, tmp_path)
        first = await asyncio.to_thread(_advise, activities, directory)
        second = await asyncio.to_thread(_advise, activities, directory)
    assert len(stub.requests) == 4
    llm_ids = _llm_ids(directory)
    assert len(llm_ids) == 1 and first.added_ids == second.added_ids == llm_ids
    assert second.plan is not None and llm_ids[0] in second.plan.action_ids
    advice = artifacts.read(directory, artifacts.ADVICE, artifacts.AdviceArtifact)
    assert advice.used and any(n.startswith("retry: ") and "invalid answer" in n for n in advice.notes)


async def test_an_answer_after_the_time_budget_is_spent_writes_nothing(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    async with http_stub(good, path="/v1/chat/completions") as stub:
        activities = MaintenanceActivities(llm=_llm_settings(stub.url), **_dirs(tmp_path))
        directory = await asyncio.to_thread(_planned_run, activities, tmp_path)
        first = await asyncio.to_thread(_advise, activities, directory)
    written = {p.name: p.read_bytes() for p in directory.iterdir()}
    answer = AdvisorAnswer.model_validate_json(good_answer(stub.requests[0]["messages"][-1]["content"]))
    monkeypatch.setattr(llm, "ADVISE_BUDGET_SECONDS", 0)  # the budget is spent by the time the answer is back
    monkeypatch.setattr(llm, "ask", lambda config, prompt, deadline=None: llm.Conversation(answer=answer, attempts=1))
    late = await asyncio.to_thread(_advise, activities, directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == written, "a late attempt wrote its files"
    assert "time budget was spent" in late.note
    assert late.added_ids == first.added_ids == _llm_ids(directory) != []


async def test_retries_stop_before_they_could_overrun_the_advise_timeout() -> None:
    assert llm.ADVISE_BUDGET_SECONDS <= 0.8 * ADVISE_TIMEOUT.total_seconds()
    async with http_stub(server_error, path="/v1/chat/completions") as stub:
        # The largest settings allowed (600 s x 10 attempts); 5 s of the budget left.
        config = _llm_settings(stub.url, timeout_seconds=600, max_attempts=10)
        started = time.monotonic()
        talk = await asyncio.to_thread(llm.ask, config, "{}", deadline=started + 5)
    assert len(stub.requests) == 1 and talk.attempts == 1 and talk.answer is None
    assert any("stopped after 1 attempt(s)" in n for n in talk.notes), talk.notes
    assert time.monotonic() - started < 5


async def test_every_retry_prompt_stays_within_budget_for_ten_thousand_devices() -> None:
    detection, problems, actions = _plan_for(10_000, 8)
    digest = build_digest(problems, actions, devices=detection.summary.devices, sites=detection.summary.sites,
                          budget_tokens=8000, count_tokens=count_tokens)
    long_garbage = '{"executive_summary": "' + "the fleet is mostly fine, but " * 800  # ~24,000 characters

    async def long_invalid(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return completion(long_garbage)

    async with http_stub(long_invalid, path="/v1/chat/completions") as stub:
        talk = await asyncio.to_thread(llm.ask, _llm_settings(stub.url), digest.prompt)
    assert talk.answer is None and len(stub.requests) == 3
    sent = [messages_tokens(r["messages"], count_tokens) for r in stub.requests]
    print(f"\n10,000 devices: prompt tokens per attempt {sent} ({count_tokens('x')[1]}, with chat framing)")
    assert count_tokens("x")[1] == "tiktoken cl100k_base"
    assert all(tokens <= 8000 for tokens in sent), sent
    for retry in stub.requests[1:]:
        assert retry["messages"][1]["content"] == digest.prompt and len(retry["messages"]) == 4
        assert long_garbage.startswith(retry["messages"][2]["content"]) and retry["messages"][2]["content"]
        assert retry["messages"][3]["content"].startswith("That was not valid")
