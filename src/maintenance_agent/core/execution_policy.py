"""How a maintenance run executes what was approved, pure: inline or in site children, which actions
each site runs, the circuit breaker (what counts as a failure, when no new action starts, the budget
a site child gets), how many results a run keeps and when it says how far it has come, and the input
a site child continues as new with. The workflows run the actions and record what these decide."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..models.core import Outcome
from ..models.execution import SiteBatchInput
from ..models.run import INLINE_LIMIT, OutcomeCounts

FAILURE_OUTCOMES = (Outcome.FAILED, Outcome.ROLLED_BACK)
"""What the circuit breaker counts: an action that failed, or whose change was rolled back."""
PROGRESS_EVERY = 25
"""An inline run updates its current details after every this many actions (and after the last)."""


def executes_inline(planned: int, loaded: int) -> bool:
    """A small plan whose every action the run holds (`loaded` of `planned`) runs in the workflow
    itself; a large one in site children, which load their actions from the plan's artifact."""
    return planned <= INLINE_LIMIT and loaded == planned


def approved_in_order(ids: Sequence[str], approved: Iterable[str]) -> list[str]:
    """The approved ones of `ids`, in their order (plan order)."""
    chosen = set(approved)
    return [i for i in ids if i in chosen]


def approved_per_site(by_site: Mapping[str, Sequence[str]], approved: Iterable[str]) -> dict[str, list[str]]:
    """What each site's child executes: its approved actions, in plan order (a site may have none)."""
    chosen = set(approved)
    return {site: [i for i in ids if i in chosen] for site, ids in by_site.items()}


def breaker_tripped(failures: int, max_failures: int) -> bool:
    """The circuit breaker: no new action starts once `failures` reach `max_failures`."""
    return failures >= max_failures


@dataclass(frozen=True)
class BreakerStep:
    failures: int
    """The runner's failures, counting this result."""
    halts: bool
    """No new action starts after this result."""


def after_result(failures: int, max_failures: int, *, outcome: Outcome, circuit_breaker: bool) -> BreakerStep:
    """The breaker after one result: an action the ledger's fleet-wide breaker stopped halts the
    runner (and is not a failure of its own); a failed or rolled-back one counts, and halts it at
    `max_failures`."""
    if circuit_breaker:
        return BreakerStep(failures, halts=True)
    if outcome in FAILURE_OUTCOMES:
        failures += 1
        return BreakerStep(failures, halts=breaker_tripped(failures, max_failures))
    return BreakerStep(failures, halts=False)


def child_budget(budget: int, failures: int, *, legacy: bool) -> int:
    """The `max_failures` a site child gets. Runs recorded before the ledger-based breaker split the
    run's budget: what is left of it after `failures`, at least one. Since, every child gets the
    run's whole budget: the ledger counts failures across all of them."""
    return max(1, budget - failures) if legacy else budget


def keeps_result(kept: int) -> bool:
    """Whether a run keeps one more result inline (its query answers), having `kept` already."""
    return kept < INLINE_LIMIT


def shows_progress(executed: int, to_execute: int) -> bool:
    """Whether an inline run updates its current details after its `executed`-th action."""
    return executed % PROGRESS_EVERY == 0 or executed == to_execute


def not_started(total: int, cursor: int) -> int:
    """How many of a halted site child's `total` actions never start: those from its `cursor` on."""
    return total - cursor


def next_batch(inp: SiteBatchInput, *, cursor: int, counts: OutcomeCounts, halted: bool, failures: int,
               legacy: bool) -> SiteBatchInput:
    """The input a site child continues as new with: the same batch, from `cursor`, with its counts
    and breaker so far (for runs recorded before the ledger breaker, the budget left after `failures`)."""
    return inp.model_copy(update={"cursor": cursor, "counts": counts, "halted": halted,
                                  "max_failures": child_budget(inp.max_failures, failures, legacy=legacy)})
