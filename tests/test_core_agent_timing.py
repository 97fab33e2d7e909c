"""The proactive agent's timing, as pure functions (core/agent.py): when its next cycle is due, which
intervals it accepts, and when it continues as new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maintenance_agent.core.agent import continues_as_new, interval_allowed, next_cycle

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("case", "last_end", "now", "at", "wait", "due"), [
    ("no cycle ended yet: an interval from now", None, NOW, NOW + timedelta(minutes=15), 900.0, False),
    ("an interval after the last cycle ended", NOW, NOW + timedelta(minutes=5), NOW + timedelta(minutes=15), 600.0,
     False),
    ("exactly due", NOW, NOW + timedelta(minutes=15), NOW + timedelta(minutes=15), 0.0, True),
    ("overdue (a long cycle, or the interval shortened)", NOW, NOW + timedelta(minutes=20),
     NOW + timedelta(minutes=15), -300.0, True),
])  # fmt: skip
def test_when_the_next_cycle_is_due(case: str, last_end: datetime | None, now: datetime, at: datetime, wait: float,
                                    due: bool) -> None:
    upcoming = next_cycle(last_end, now, 15 * 60)
    assert (upcoming.at, upcoming.wait_seconds, upcoming.due) == (at, wait, due), case


@pytest.mark.parametrize(("minutes", "allowed"), [(1 / 60, True), (0.5 / 60, False), (0, False), (15, True),
                                                  (7 * 24 * 60, True), (7 * 24 * 60 + 1, False), (float("nan"), False)])
def test_the_intervals_the_agent_accepts(minutes: float, allowed: bool) -> None:
    assert interval_allowed(minutes) is allowed


@pytest.mark.parametrize(("case", "cycles", "limit", "suggested", "stopping", "continues"), [
    ("no limit, not suggested", 50, None, False, False, False),
    ("the SDK suggests it", 1, None, True, False, True),
    ("the limit is reached", 3, 3, False, False, True),
    ("below the limit", 2, 3, False, False, False),
    ("stopping: complete instead", 3, 3, True, True, False),
])  # fmt: skip
def test_when_the_agent_continues_as_new(case: str, cycles: int, limit: int | None, suggested: bool, stopping: bool,
                                         continues: bool) -> None:
    assert continues_as_new(cycles, limit=limit, suggested=suggested, stopping=stopping) is continues, case
