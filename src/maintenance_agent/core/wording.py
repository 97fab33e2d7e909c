"""Wording every status line, listing, report and notification shares: the outcome sentence
("19 succeeded, 2 failed, 0 rolled back, 0 stale"), severities, plurals. Pure; imports only models,
so any core module can use it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..models.core import Outcome
from ..models.run import OutcomeCounts

EXECUTED = (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.STALE)
"""The outcomes of actions that ran: the sentence's default."""
WITH_NOT_RUN = (*EXECUTED, Outcome.NOT_RUN)
EVERY_OUTCOME = (*WITH_NOT_RUN, Outcome.SKIPPED_UNAPPROVED)
OUTCOME_WORDS = {Outcome.SUCCEEDED: "succeeded", Outcome.FAILED: "failed", Outcome.ROLLED_BACK: "rolled back",
                 Outcome.STALE: "stale", Outcome.NOT_RUN: "not run",
                 Outcome.SKIPPED_UNAPPROVED: "skipped (not approved)"}
SEVERITY_ORDER = ("critical", "warning", "info")


def outcomes_sentence(counts: OutcomeCounts, outcomes: Sequence[Outcome] = EXECUTED, *, only_nonzero: bool = False,
                      always: Outcome | None = None) -> str:
    """What became of a run's actions: each of `outcomes` with its count, in that order, joined by
    commas ('3 succeeded, 1 failed, 0 rolled back, 0 stale'). With `only_nonzero`, just those that
    happened (and `always`, even at zero): '3 succeeded, 1 failed'; empty if none did."""
    return ", ".join(f"{getattr(counts, o.value)} {OUTCOME_WORDS[o]}" for o in outcomes
                     if not only_nonzero or o is always or getattr(counts, o.value))


def severities(by_severity: Mapping[str, int]) -> str:
    """'critical 2, warning 5': the most severe first, then any others by name; 'none' if empty."""
    ordered = [s for s in SEVERITY_ORDER if by_severity.get(s)] + sorted(set(by_severity) - set(SEVERITY_ORDER))
    return ", ".join(f"{s} {by_severity[s]}" for s in ordered if by_severity[s]) or "none"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cut(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis if longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
