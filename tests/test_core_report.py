"""The report's summary line (core/report.py): pure; it never claims more, or less, than happened."""

from __future__ import annotations

import pytest

from maintenance_agent.core.report import summarize
from maintenance_agent.models.workflow import OutcomeCounts, Phase


def _line(halted: bool, **counts: int) -> str:
    return summarize(Phase.COMPLETED, 10, 10, OutcomeCounts(**counts), dry_run=False, findings=12, devices=8,
                     decision=None, error=None, halted=halted)


@pytest.mark.parametrize("halted,counts,says_breaker,verdict", [
    (True, {"succeeded": 7, "failed": 3}, False, "COMPLETED WITH PROBLEMS"),  # nothing was left: the breaker stopped nothing
    (True, {"succeeded": 10}, False, "COMPLETED"),  # e.g. a server kill left a halted flag with nothing not run
    (True, {"succeeded": 4, "failed": 3, "not_run": 3}, True, "COMPLETED WITH PROBLEMS"),
    (False, {"succeeded": 9, "not_run": 1}, False, "COMPLETED WITH PROBLEMS"),
])
def test_the_circuit_breaker_is_named_only_when_it_stopped_something(halted: bool, counts: dict, says_breaker: bool,
                                                                    verdict: str) -> None:
    """Before: after a server kill the summary said 'circuit breaker stopped execution' with 0 not run."""
    line = _line(halted, **counts)
    assert ("circuit breaker stopped execution" in line) is says_breaker, line
    assert line.startswith(verdict + ":"), line
