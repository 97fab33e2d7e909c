"""How a run executes what was approved, as pure functions (core/execution_policy.py), and the
outcome counts it keeps (models/run.py OutcomeCounts): inline or in site children, each site's
actions, the circuit breaker, the budget of a site child, and the input it continues as new with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maintenance_agent.core.execution_policy import (
    PROGRESS_EVERY,
    after_result,
    approved_in_order,
    approved_per_site,
    breaker_tripped,
    child_budget,
    executes_inline,
    keeps_result,
    next_batch,
    not_started,
    shows_progress,
)
from maintenance_agent.models.core import Outcome
from maintenance_agent.models.execution import SiteBatchInput
from maintenance_agent.models.run import INLINE_LIMIT, OutcomeCounts


@pytest.mark.parametrize(("planned", "loaded", "inline"), [
    (0, 0, True),
    (3, 3, True),
    (INLINE_LIMIT, INLINE_LIMIT, True),
    (INLINE_LIMIT + 1, INLINE_LIMIT + 1, False),
    (3, 2, False),  # the run holds a compact plan: the site children load the actions
])
def test_small_plans_that_the_run_holds_execute_inline(planned: int, loaded: int, inline: bool) -> None:
    assert executes_inline(planned, loaded) is inline


@pytest.mark.parametrize(("ids", "approved", "chosen"), [
    (["A1", "A2", "A3"], {"A3", "A1"}, ["A1", "A3"]),
    (["A1", "A2"], set(), []),
    (["A1", "A2"], {"A2", "B9"}, ["A2"]),
    ([], {"A1"}, []),
])
def test_the_approved_actions_in_plan_order(ids: list[str], approved: set[str], chosen: list[str]) -> None:
    assert approved_in_order(ids, approved) == chosen


def test_each_site_executes_its_approved_actions_and_a_site_may_have_none() -> None:
    by_site = {"DC-1": ["A1", "A2", "A3"], "DC-2": ["A4"], "DC-3": ["A5", "A6"]}
    assert approved_per_site(by_site, {"A3", "A1", "A6"}) == {"DC-1": ["A1", "A3"], "DC-2": [], "DC-3": ["A6"]}


@pytest.mark.parametrize(("failures", "max_failures", "tripped"), [(0, 1, False), (1, 1, True), (2, 3, False),
                                                                   (3, 3, True), (4, 3, True)])
def test_the_breaker_trips_at_max_failures(failures: int, max_failures: int, tripped: bool) -> None:
    assert breaker_tripped(failures, max_failures) is tripped


@pytest.mark.parametrize(("case", "failures", "outcome", "circuit_breaker", "after", "halts"), [
    ("success", 0, Outcome.SUCCEEDED, False, 0, False),
    ("stale is no failure", 2, Outcome.STALE, False, 2, False),
    ("first failure", 0, Outcome.FAILED, False, 1, False),
    ("a rollback counts", 1, Outcome.ROLLED_BACK, False, 2, False),
    ("the third failure trips it", 2, Outcome.FAILED, False, 3, True),
    ("past the limit still halts", 5, Outcome.FAILED, False, 6, True),
    ("the ledger's breaker halts, not a failure of its own", 1, Outcome.NOT_RUN, True, 1, True),
    ("a failure the ledger flags is not counted twice", 1, Outcome.FAILED, True, 1, True),
])
def test_the_breaker_after_one_result(case: str, failures: int, outcome: Outcome, circuit_breaker: bool,
                                      after: int, halts: bool) -> None:
    step = after_result(failures, 3, outcome=outcome, circuit_breaker=circuit_breaker)
    assert (step.failures, step.halts) == (after, halts), case


@pytest.mark.parametrize(("budget", "failures", "legacy", "child"), [
    (10, 0, False, 10), (10, 7, False, 10),  # the ledger counts failures across every child
    (10, 0, True, 10), (10, 7, True, 3), (10, 10, True, 1), (10, 12, True, 1),
])
def test_a_site_childs_budget(budget: int, failures: int, legacy: bool, child: int) -> None:
    assert child_budget(budget, failures, legacy=legacy) == child


@pytest.mark.parametrize(("kept", "keeps"), [(0, True), (INLINE_LIMIT - 1, True), (INLINE_LIMIT, False)])
def test_a_run_keeps_at_most_inline_limit_results(kept: int, keeps: bool) -> None:
    assert keeps_result(kept) is keeps


@pytest.mark.parametrize(("executed", "to_execute", "shows"), [
    (1, 100, False), (PROGRESS_EVERY, 100, True), (2 * PROGRESS_EVERY, 100, True), (26, 100, False),
    (7, 7, True), (0, 0, True),
])
def test_an_inline_run_shows_its_progress_every_25_actions_and_after_the_last(executed: int, to_execute: int,
                                                                               shows: bool) -> None:
    assert shows_progress(executed, to_execute) is shows


@pytest.mark.parametrize(("total", "cursor", "rest"), [(10, 0, 10), (10, 4, 6), (10, 10, 0)])
def test_a_halted_child_counts_the_rest_of_its_actions_as_not_run(total: int, cursor: int, rest: int) -> None:
    assert not_started(total, cursor) == rest


@pytest.mark.parametrize(("legacy", "budget"), [(False, 5), (True, 3)])
def test_a_site_child_continues_as_new_with_its_cursor_counts_and_breaker(legacy: bool, budget: int) -> None:
    inp = SiteBatchInput(run_id="r", artifact_dir="a", report_dir="a", site="DC-1", action_ids=["A1", "A2", "A3"],
                         as_of=datetime(2026, 12, 1, tzinfo=UTC), actor="alice", approved_by="bob",
                         parent_workflow_id="run", max_failures=5)
    counts = OutcomeCounts(succeeded=1, failed=2)
    nxt = next_batch(inp, cursor=2, counts=counts, halted=True, failures=2, legacy=legacy)
    assert (nxt.cursor, nxt.counts, nxt.halted, nxt.max_failures) == (2, counts, True, budget)
    unchanged = {"cursor", "counts", "halted", "max_failures"}
    assert nxt.model_dump(exclude=unchanged) == inp.model_dump(exclude=unchanged)
    assert list(nxt.model_dump()) == list(inp.model_dump())  # the wire format is the same model's


# ------------------------------------------------------------------------------------------------
# the outcome counts


@pytest.mark.parametrize(("counts", "executed", "finished", "total"), [
    (OutcomeCounts(), 0, 0, 0),
    (OutcomeCounts(succeeded=3, failed=1, rolled_back=1, stale=2), 7, 7, 7),
    (OutcomeCounts(succeeded=1, not_run=4), 1, 5, 5),
    (OutcomeCounts(succeeded=1, not_run=4, skipped_unapproved=2), 1, 5, 7),
])
def test_what_the_counts_add_up_to(counts: OutcomeCounts, executed: int, finished: int, total: int) -> None:
    assert (counts.executed, counts.finished, counts.total) == (executed, finished, total)


@pytest.mark.parametrize(("finished", "live", "merged"), [
    (OutcomeCounts(succeeded=5, failed=1), OutcomeCounts(succeeded=8), OutcomeCounts(succeeded=8, failed=1)),
    (OutcomeCounts(succeeded=5, stale=2), OutcomeCounts(succeeded=3, stale=1, rolled_back=1),
     OutcomeCounts(succeeded=5, stale=2, rolled_back=1)),
    # Only outcomes of actions that ran come from the ledger: not-run and skipped stay the run's own.
    (OutcomeCounts(not_run=2), OutcomeCounts(not_run=9, skipped_unapproved=4), OutcomeCounts(not_run=2)),
])
def test_live_counts_take_the_higher_of_each_executed_outcome(finished: OutcomeCounts, live: OutcomeCounts,
                                                              merged: OutcomeCounts) -> None:
    before = finished.model_copy()
    assert finished.merge_max(live) == merged
    assert finished == before  # a copy: the run's own counts are not changed
