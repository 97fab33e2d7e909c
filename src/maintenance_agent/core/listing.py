"""How a run presents itself outside its queries: its outcome label, the card it publishes for
listings, its search attributes, and what a listing shows for it. Pure. (The text of its Web UI
summary and details is in core/status_text.py.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from temporalio.common import SearchAttributeKey

from ..models.listing import MAX_LISTED_SITES, SEARCH_ATTRIBUTES, SITES_ATTRIBUTE, RunCard
from ..models.run import MaintenanceResult, OutcomeCounts, Phase
from ..models.views import RunStatus
from .report import with_problems
from .wording import WITH_NOT_RUN, outcomes_sentence

__all__ = [
    "CLOSED_BY_TEMPORAL", "attribute_spec", "card_from_result", "card_from_status", "counts_text", "indexed_phase",
    "listed_outcome", "listed_sites", "missing_attributes", "outcome_label", "settable_attributes",
]

CLOSED_BY_TEMPORAL = {"TERMINATED", "CANCELED", "TIMED_OUT", "CONTINUED_AS_NEW"}
"""Temporal statuses of a run that did not finish on its own: its card (if any) is out of date."""


def outcome_label(phase: Phase, counts: OutcomeCounts) -> str:
    """The run's outcome as its summary line says it: COMPLETED WITH PROBLEMS when an action failed,
    was rolled back or did not run; the phase otherwise."""
    if phase is Phase.COMPLETED and with_problems(counts):
        return "COMPLETED WITH PROBLEMS"
    return phase.value


def listed_outcome(temporal_status: str, card: RunCard | None) -> str | None:
    """What a listing shows as the run's outcome, from Temporal's status and the run's card; None when
    only the run itself (its result or its status query) can say (a run recorded before cards, or one
    whose card is not final although Temporal says it finished)."""
    if temporal_status in CLOSED_BY_TEMPORAL:
        return temporal_status
    if card is None:
        return "FAILED" if temporal_status == "FAILED" else None
    if temporal_status == "RUNNING":
        return card.outcome
    if temporal_status == "COMPLETED":
        return card.outcome if card.phase.terminal and card.phase is not Phase.FAILED else None
    if temporal_status == "FAILED":
        return "FAILED"
    return None


def card_from_result(result: MaintenanceResult) -> RunCard:
    """The card of a finished run that published none (recorded before cards), from its result."""
    return RunCard(outcome=outcome_label(result.phase, result.outcomes), phase=result.phase,
                   started_by=result.started_by, dry_run=result.dry_run, findings=result.findings,
                   actions=result.actions, decided_by=result.decision.by if result.decision else None,
                   outcomes=result.outcomes)


def card_from_status(status: RunStatus) -> RunCard:
    """The card of a running run that published none, from its status query."""
    return RunCard(outcome=outcome_label(status.phase, status.outcomes), phase=status.phase,
                   started_by=status.started_by, dry_run=status.dry_run, findings=status.findings,
                   actions=status.actions, decided_by=status.decision.by if status.decision else None,
                   outcomes=status.outcomes)


def indexed_phase(phase: Phase) -> bool:
    """Whether a run in this phase sets MaintenanceOutcome: while it awaits approval or executes, and
    once it has finished (not the phases detection and planning pass through within minutes)."""
    return phase in (Phase.PENDING_APPROVAL, Phase.EXECUTING) or phase.terminal


def listed_sites(sites: Iterable[str]) -> list[str]:
    """The sites a run names in its MaintenanceSites attribute: sorted, at most MAX_LISTED_SITES."""
    return sorted(set(sites))[:MAX_LISTED_SITES]


def attribute_spec(key: SearchAttributeKey) -> str:
    """`Name=Type` as the temporal CLI takes it (`--search-attribute MaintenanceSites=KeywordList`)."""
    return f"{key.name}={key.indexed_value_type.name.title().replace('_', '')}"


def missing_attributes(registered: Mapping[str, int]) -> list[str]:
    """The run's search attributes this namespace lacks, or has with another type ("Name=Type"), from
    the namespace's custom attributes (name -> IndexedValueType number)."""
    return [attribute_spec(key) for key in SEARCH_ATTRIBUTES if registered.get(key.name) != int(key.indexed_value_type)]


def settable_attributes(*, encrypted: bool) -> list[str]:
    """The names of the registered search attributes a run sets: not the sites where payloads are
    encrypted (Temporal stores search attributes in the clear)."""
    return [key.name for key in SEARCH_ATTRIBUTES if not (encrypted and key is SITES_ATTRIBUTE)]


def counts_text(outcome: str, actions: int | None, counts: OutcomeCounts | None) -> str:
    """A listed run's actions and what became of them, in a few words: '21 planned; 19 succeeded,
    2 rolled back', '21 awaiting approval', 'none'; empty when the run could not say."""
    if actions is None:
        return ""
    if actions == 0:
        return "none"
    if outcome == Phase.PENDING_APPROVAL.value:
        return f"{actions} awaiting approval"
    if outcome in (Phase.REJECTED.value, Phase.EXPIRED.value):
        return f"{actions} planned, none executed"
    done = outcomes_sentence(counts or OutcomeCounts(), WITH_NOT_RUN, only_nonzero=True)
    return f"{actions} planned" + (f"; {done}" if done else "")
