"""How a maintenance run lists itself: its card in its memo at each phase change (what `--list` and
list_maintenance_runs show without asking the run), and its search attributes for filtering, but
only those the namespace has registered: upserting an unregistered one would fail every workflow
task of the run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.listing import indexed_phase, listed_sites
    from ..models.listing import MEMO_KEY, OUTCOME_ATTRIBUTE, SITES_ATTRIBUTE, STARTER_ATTRIBUTE, RunCard
    from ..models.run import Phase


class RunListing:
    """A run's published card and search attributes (runs recorded before cards publish nothing)."""

    def __init__(self) -> None:
        self.enabled = False
        self._indexed: set[str] = set()
        """The search attributes this run sets (registered in the namespace; see listing_attributes)."""
        self._card: RunCard | None = None
        self._attributes: dict[str, Any] = {}

    async def start(self) -> None:
        """From now on publish, with the search attributes the namespace has registered."""
        self.enabled = True
        try:
            self._indexed = set(await workflow.execute_activity_method(
                MaintenanceActivities.listing_attributes, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3), summary="which search attributes are registered?"))
        except ActivityError:  # an older worker without the activity, or no answer: listed from the memo only
            self._indexed = set()

    def publish(self, card: RunCard, *, started_by: str, phase: Phase, by_site: Mapping[str, int] | None) -> None:
        """Upsert what changed since the last phase: the card, then the attributes that differ."""
        if card != self._card:
            self._card = card
            workflow.upsert_memo({MEMO_KEY: card})
        if not self._indexed:
            return
        wanted: list[tuple[SearchAttributeKey, Any]] = [(STARTER_ATTRIBUTE, started_by)]
        if indexed_phase(phase):  # not the passing phases of the analysis: fewer events in history
            wanted.append((OUTCOME_ATTRIBUTE, card.outcome))
        if by_site:
            wanted.append((SITES_ATTRIBUTE, listed_sites(by_site)))
        changed = [(key, value) for key, value in wanted
                   if key.name in self._indexed and self._attributes.get(key.name) != value]
        if changed:
            workflow.upsert_search_attributes([key.value_set(value) for key, value in changed])
            self._attributes.update((key.name, value) for key, value in changed)
