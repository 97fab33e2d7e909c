"""Workflow safety rules with stub activities: the circuit breaker (inline and in site children), one
disruptive action per site at a time, the site child's halt signal, and a failing LLM advisor.

The activities are stubs registered under the real activities' names (as temporalio/samples-python
does) that return canned models, so each rule runs in a second or two with no fleet, store or ledger.
The Temporal server is the session's real one (conftest's `client`); nothing of Temporal is mocked.
Each test says which rule it pins, so a change that drops the rule fails it.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from conftest import eventually
from helpers.stub_activities import (
    DEADLINE,
    RAISE,
    RESTART,
    TUNE,
    StubActivities,
    finished,
    outcomes,
    plan,
    start_run,
    stub_worker,
    wait_in_activity,
)
from maintenance_agent.models.approval import DecisionKind
from maintenance_agent.models.core import Outcome, PlannedAction
from maintenance_agent.models.run import Phase
from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow, SiteExecutionWorkflow

pytestmark = pytest.mark.temporal

HOLD = 1.0
"""Seconds a disruptive action stays in flight waiting for company (test c): the window in which a
second disruptive action of the same site would be seen if the rule let one start."""


# ------------------------------------------------------------------------------------------------
# a. the circuit breaker, inline (a small plan: one activity per action, no site children)


async def test_circuit_breaker_trips_inline_and_the_rest_is_not_run(client: Client) -> None:
    """After `max_failures` failed or rolled-back actions the run starts no more: the rest is recorded as
    not run, and the report is told the breaker stopped execution. The run's own count trips it (the
    ledger stub is off), a rolled-back action and one that gave up after raising both count, and a
    success does not."""
    actions = plan(("DC-EAST1", [RESTART] * 6))  # disruptive at one site: one at a time, in plan order
    stubs = StubActivities(actions, ledger=False, outcomes={"A2": Outcome.ROLLED_BACK, "A3": RAISE})
    async with stub_worker(client, stubs) as queue:
        handle = await start_run(client, queue, max_failures=2)
        result = await finished(handle)
        results = await handle.query(InfrastructureMaintenanceWorkflow.results)

    assert stubs.loaded == [], "a small plan executes inline, without site children"
    assert stubs.started == ["A1", "A2", "A3"], "no action may start once the breaker has tripped"
    assert stubs.gave_up == ["A3"]
    assert result.phase is Phase.COMPLETED
    assert result.outcomes == outcomes(succeeded=1, rolled_back=1, failed=1, not_run=3)
    not_run = {r.action_id: r for r in results.results if r.outcome is Outcome.NOT_RUN}
    assert sorted(not_run) == ["A4", "A5", "A6"]
    assert all(r.circuit_breaker and "circuit breaker tripped after 2 failure(s)" in r.detail for r in not_run.values())
    assert stubs.reports[-1].halted and stubs.reports[-1].phase is Phase.COMPLETED


# ------------------------------------------------------------------------------------------------
# b. the circuit breaker in site children (a plan whose actions are not inline: one child per site)


async def test_circuit_breaker_trips_in_a_site_child_and_stops_the_other_sites(client: Client) -> None:
    """Site S01's child fails `max_failures` actions and stops its own site. From then on: a child
    already running starts nothing more (its next action is refused by the fleet-wide breaker, and the
    child then runs none of its others), and a site whose child has not started yet (S17: the parent
    runs at most 16 sites at once) gets no child at all; all of it is counted as not run."""
    blockers = [f"S{n:02d}" for n in range(2, 17)]  # 15 children that hold a parallel-site slot each
    actions = plan(("S01", [RESTART] * 4), ("S02", [RESTART] * 3), *((s, [RESTART]) for s in blockers[1:]),
                   ("S17", [RESTART] * 2))
    first_of = {a.site: a.id for a in reversed(actions)}
    blocking = {first_of[s] for s in blockers}
    all_started, release = asyncio.Event(), asyncio.Event()
    in_flight: set[str] = set()

    async def hold(action: PlannedAction) -> None:
        if action.id in blocking:  # in flight before the breaker trips, held until the test has seen it trip
            in_flight.add(action.id)
            if in_flight == blocking:
                all_started.set()
            await wait_in_activity(release, "the test to release the other sites")
        elif action.site == "S01":  # fail only once every other site has an action running
            await wait_in_activity(all_started, "every other site to start an action")

    s01 = [a.id for a in actions if a.site == "S01"]
    stubs = StubActivities(actions, in_children=True, hold=hold, outcomes=dict.fromkeys(s01, Outcome.FAILED))
    async with stub_worker(client, stubs) as queue:
        handle = await start_run(client, queue, max_failures=2)
        # S01's child has finished and its halt is merged into the parent (its failures appear in the status).
        await eventually(lambda: handle.query(InfrastructureMaintenanceWorkflow.status),
                         lambda s: s.outcomes.failed == 2, timeout=DEADLINE, what="S01's child to trip the breaker")
        release.set()
        result = await finished(handle)

    s02 = [a.id for a in actions if a.site == "S02"]
    s17 = [a.id for a in actions if a.site == "S17"]
    assert "S17" not in stubs.loaded and not set(s17) & set(stubs.started), "no child starts after the breaker"
    assert sorted(stubs.loaded) == ["S01", *blockers], "every other site ran in a child of its own"
    assert [i for i in stubs.started if i in s01] == s01[:2], "S01's child stops at its own max_failures"
    assert [i for i in stubs.started if i in s02] == s02[:2] and stubs.refused == [s02[1]], \
        "a running child starts nothing after the breaker refused one of its actions"
    assert result.phase is Phase.COMPLETED
    assert result.outcomes == outcomes(succeeded=15, failed=2, not_run=6)
    assert stubs.reports[-1].halted


async def test_a_site_child_ignores_a_halt_signal_from_a_client(client: Client) -> None:
    """The child's `halt` signal is for runs recorded before the ledger-based breaker only. In a run since,
    the breaker lives in the ledger, and a client that signals a child cannot stop its work."""
    actions = plan(("S1", [RESTART] * 3), ("S2", [RESTART]))
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(action: PlannedAction) -> None:
        if action.id == "A1":
            started.set()
            await wait_in_activity(release, "the test to signal the child")

    stubs = StubActivities(actions, in_children=True, hold=hold)
    async with stub_worker(client, stubs) as queue:
        handle = await start_run(client, queue)
        await asyncio.wait_for(started.wait(), DEADLINE)
        child = client.get_workflow_handle(f"{handle.id}/site-S1")
        await child.signal(SiteExecutionWorkflow.halt)

        async def signal_handled() -> bool:
            kinds = [e.event_type async for e in child.fetch_history_events()]
            signaled = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
            return EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[signaled:]

        await eventually(signal_handled, bool, timeout=DEADLINE, what="the child to handle the halt signal")
        release.set()
        result = await finished(handle)

    assert sorted(stubs.started, key=lambda i: int(i[1:])) == ["A1", "A2", "A3", "A4"], "the halt stopped nothing"
    assert result.outcomes == outcomes(succeeded=4)
    assert not stubs.reports[-1].halted


# ------------------------------------------------------------------------------------------------
# c. one disruptive action per site at a time


class OverlapProbe:
    """Holds each disruptive action in flight until another disruptive action is in flight too (or HOLD
    passes), and records which ones were in flight together."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.in_flight: dict[str, tuple[str, asyncio.Event]] = {}
        self.same_site: list[tuple[str, str]] = []
        self.cross_site: list[tuple[str, str]] = []

    async def hold(self, action: PlannedAction) -> None:
        if not action.disruptive:
            return
        company = asyncio.Event()
        async with self.lock:
            for other, (site, other_company) in self.in_flight.items():
                (self.same_site if site == action.site else self.cross_site).append((other, action.id))
                other_company.set()
                company.set()
            self.in_flight[action.id] = (action.site, company)
        try:
            await asyncio.wait_for(company.wait(), HOLD)
        except TimeoutError:
            pass  # alone: nothing could overlap with it, which is no evidence either way
        finally:
            async with self.lock:
                del self.in_flight[action.id]


@pytest.mark.parametrize("in_children", [False, True], ids=["inline", "site-children"])
async def test_one_disruptive_action_per_site_at_a_time(client: Client, in_children: bool) -> None:
    """Disruptive actions (restarts) of one site never overlap, while those of different sites do, and
    non-disruptive ones (tuning) run beside them; every action runs."""
    actions = plan(("DC-EAST1", [RESTART, TUNE, RESTART, TUNE, RESTART]),
                   ("DC-WEST1", [RESTART, RESTART, TUNE, RESTART]))
    probe = OverlapProbe()
    stubs = StubActivities(actions, in_children=in_children, hold=probe.hold)
    async with stub_worker(client, stubs) as queue:
        result = await finished(await start_run(client, queue))

    assert bool(stubs.loaded) is in_children
    assert probe.same_site == [], "two disruptive actions of one site were in flight together"
    assert probe.cross_site, "disruptive actions at different sites should run in parallel"
    assert sorted(stubs.started, key=lambda i: int(i[1:])) == [a.id for a in actions]
    assert result.outcomes == outcomes(succeeded=len(actions))


# ------------------------------------------------------------------------------------------------
# d. the LLM advisor fails: the rules decide alone


async def test_an_advisor_failure_leaves_the_rules_deciding_and_the_run_completing(client: Client) -> None:
    """The advisor is optional: when its activity fails (non-retryably: asked once) the run goes on with
    the rule-based plan, executes and completes, and the report notes that the advisor was unavailable."""
    actions = plan(("DC-EAST1", [RESTART, TUNE]))
    stubs = StubActivities(actions, advisor_error="LLM endpoint refused the request (HTTP 503)")
    async with stub_worker(client, stubs) as queue:
        result = await finished(await start_run(client, queue, advisor=True))

    assert stubs.advise_calls == 1
    assert result.phase is Phase.COMPLETED and result.actions == 2
    assert result.decision is not None and result.decision.kind is DecisionKind.AUTO_APPROVED
    assert "LLM" not in (result.decision.comment or ""), "no LLM action was added, so none waits for a person"
    assert sorted(stubs.started) == ["A1", "A2"] and result.outcomes == outcomes(succeeded=2)
    note = stubs.reports[-1].advisor_note or ""
    assert note.startswith("advisor unavailable (") and "HTTP 503" in note and note.endswith("rule-based output only")
