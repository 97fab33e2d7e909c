"""A bare workflow with the shape of a 50-device run: five no-op phase activities and one no-op
activity per executed action, arranged like the real run (per site one disruptive action at a
time beside up to eight others, sites in parallel). What Temporal itself costs on this machine."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

NON_DISRUPTIVE_PER_SITE = 8


class Slot(BaseModel):
    site: str
    disruptive: bool


class BareInput(BaseModel):
    actions: list[Slot]


@activity.defn
def noop(label: str) -> str:
    return label


@workflow.defn
class BareShapeWorkflow:
    @workflow.run
    async def run(self, inp: BareInput) -> int:
        async def step(label: str) -> None:
            await workflow.execute_activity(noop, label, start_to_close_timeout=timedelta(minutes=1))

        for phase in ("detect", "analyze", "plan"):
            await step(phase)
        by_site: dict[str, list[Slot]] = {}
        for slot in inp.actions:
            by_site.setdefault(slot.site, []).append(slot)

        async def site(slots: list[Slot]) -> None:
            gate = asyncio.Semaphore(NON_DISRUPTIVE_PER_SITE)

            async def chain() -> None:
                for s in slots:
                    if s.disruptive:
                        await step("action")

            async def bounded() -> None:
                async with gate:
                    await step("action")

            await asyncio.gather(chain(), *(bounded() for s in slots if not s.disruptive))

        await asyncio.gather(*(site(v) for v in by_site.values()))
        for phase in ("compact", "report"):
            await step(phase)
        return len(inp.actions)
