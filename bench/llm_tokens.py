#!/usr/bin/env python3
"""Advisor prompt tokens per run with the advisor enabled against a local OpenAI-compatible stub:
a full 50-device run through litellm, and the 100,000-device digest (the same build_digest the
advise activity uses, on the plan of the core pipeline)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import cleanup, copy_fleet, dev_server, fleet, save, scratch, settings_for  # noqa: E402


async def fifty() -> dict:
    from aiohttp import web

    from conftest import running_worker
    from helpers.http_stub import http_stub
    from maintenance_agent import client_ops

    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        prompt = body["messages"][-1]["content"]
        return web.json_response({"id": "x", "object": "chat.completion", "created": int(time.time()), "model": "stub",
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                                               "content": json.dumps({"executive_summary": "ok", "problems": [],
                                                                      "actions": [], "proposals": []})}}],
                                  "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 20,
                                            "total_tokens": len(prompt) // 4 + 20}})

    work = scratch("llm")
    try:
        async with dev_server() as env, http_stub(answer, path="/v1/chat/completions") as stub:
            settings = settings_for(work, data_dir=copy_fleet(work / "data"), task_queue=f"bench-llm-{uuid.uuid4().hex[:6]}",
                                    llm_model="openai/stub", llm_key="bench-key",
                                    llm_base_url=stub.url.removesuffix("/chat/completions"))
            async with running_worker(env.client, settings):
                wid = await client_ops.start_run(env.client, settings, auto_approve=True)
                result = await client_ops.result(env.client, wid)
        advisor = json.loads(Path(result.report.json_path).read_text())["advisor"]
        return {"digest_tokens": advisor["digest_tokens"], "tokenizer": advisor["tokenizer"],
                "latency_ms": advisor["latency_ms"], "used": advisor["used"]}
    finally:
        cleanup(work)


def hundred_thousand() -> dict:
    import subprocess

    fleet(100_000)
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "core_pipeline.py"), "--one", "100000"],
                         capture_output=True, text=True, check=True)
    one = json.loads(out.stdout.strip().splitlines()[-1])
    return {"digest_tokens": one["prompt_tokens"], "tokenizer": one["tokenizer"], "actions": one["actions"]}


def main(large: bool = True) -> dict:
    figures = {"50": asyncio.run(fifty())}
    if large:
        figures["100000"] = hundred_thousand()
    save("llm_tokens", figures)
    for size, f in figures.items():
        print(f"advisor prompt at {int(size):,} devices: {f['digest_tokens']:,} tokens ({f['tokenizer']}); budget 8,000",
              flush=True)
    return figures


if __name__ == "__main__":
    main()
