"""The signals a child workflow sends the workflow that started it. They are declared here and
implemented by the parent, which extends the declaring class: a child names a signal by method
(never by string) without importing its parent's module, which imports the child's to start it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ..models.proactive import ChildOutcome


class SiteParent:
    """A maintenance run, as its site children see it."""

    @workflow.signal
    def site_failed(self, count: int) -> None:
        """Runs recorded before the ledger-based circuit breaker: a site child's failures."""
        raise NotImplementedError


class AgentParent:
    """A proactive agent, as the runs it starts see it."""

    @workflow.signal
    def child_finished(self, outcome: ChildOutcome) -> None:
        """A run the agent started is over."""
        raise NotImplementedError
