"""A run's outcome in words: the verdict and the one-line summary with the real counts. Pure."""

from __future__ import annotations

from ...models.approval import Decision
from ...models.core import Outcome
from ...models.run import OutcomeCounts, Phase
from ..wording import EVERY_OUTCOME, outcomes_sentence


def with_problems(counts: OutcomeCounts) -> bool:
    """An action failed, was rolled back or did not run: the run is COMPLETED WITH PROBLEMS (exit 1)."""
    return bool(counts.problems or counts.not_run)


def verdict(phase: Phase, counts: OutcomeCounts) -> str:
    """The run's outcome as an operator says it: the phase, except a completed run with problems."""
    if phase is Phase.COMPLETED and with_problems(counts):
        return "COMPLETED WITH PROBLEMS"
    return phase.value


def summarize(phase: Phase, planned: int, approved: int, counts: OutcomeCounts, *, dry_run: bool,
              findings: int, devices: int, decision: Decision | None, error: str | None,
              halted: bool = False) -> str:
    """One line with the real counts. It never claims success when something failed."""
    prefix = "DRY RUN (simulated; the fleet was not changed) — " if dry_run else ""
    if phase is Phase.FAILED:
        return f"{prefix}FAILED: {error or 'the run did not finish'}"
    if phase is Phase.NO_ACTION_NEEDED:
        return f"{prefix}NO-ACTION-NEEDED: {findings} finding(s) on {devices} device(s), none calling for a repair"
    if phase is Phase.REJECTED:
        who = f" by {decision.by}" if decision else ""
        return f"{prefix}REJECTED{who}: 0 of {planned} planned action(s) executed; the fleet was not changed"
    if phase is Phase.EXPIRED:
        return f"{prefix}EXPIRED: no decision before the approval deadline; 0 of {planned} planned action(s) executed"
    tail = "; circuit breaker stopped execution" if halted and counts.not_run else ""
    return (f"{prefix}{verdict(phase, counts)}: {planned} action(s) planned, {approved} approved; "
            f"{outcomes_sentence(counts, EVERY_OUTCOME, only_nonzero=True, always=Outcome.SUCCEEDED)}{tail}")
