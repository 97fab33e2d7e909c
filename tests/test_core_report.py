"""The report's summary line (the core/report/ package): pure; it never claims more, or less, than happened."""

from __future__ import annotations

import pytest

from maintenance_agent.core.report import summarize
from maintenance_agent.models.run import OutcomeCounts, Phase


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


# -------------------------------------------------------------------------------------------------
# Rendering: hostile ids, after-state, large runs (pure)

import re  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from html.parser import HTMLParser  # noqa: E402

from maintenance_agent.core.report import (  # noqa: E402
    LARGE_LIST,
    DeviceChange,
    Report,
    ReportAction,
    actions_csv,
    recommendations,
    render_markdown,
    site_changes,
)
from maintenance_agent.core.report_html import render_html  # noqa: E402
from maintenance_agent.models.core import (  # noqa: E402
    DeviceAfter,
    FindingKind,
    HealthState,
    Outcome,
    Problem,
    Risk,
    Severity,
    SiteHealth,
)

AT = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
HOSTILE = "EQ-1\n| injected | row |\r\n## Heading <script>alert(1)</script> [x](http://evil) `code` *b*"


def _action(i: int, eid: str, outcome: Outcome, site: str = "S1", **kw) -> ReportAction:  # noqa: ANN003
    return ReportAction(id=f"A{i}", equipment_id=eid, site=site, action="restart_device", risk=Risk.LOW,
                        confidence=0.9, routine=False, priority=kw.pop("priority", 1), source="rules",
                        reason="down", approved=True, outcome=outcome, **kw)


def _report(actions: list[ReportAction], **kw) -> Report:  # noqa: ANN003
    fields = {"verdict": "COMPLETED", "summary": "COMPLETED: x", **kw}
    return Report(workflow_id="wf-1", run_id="r1", outcome=Phase.COMPLETED, dry_run=False, started_by="ops",
                  started_at=AT, finished_at=AT, actions=actions, **fields)


def test_a_device_id_cannot_inject_rows_headings_links_or_html() -> None:
    row = _action(1, HOSTILE, Outcome.ROLLED_BACK, observed=f"status of {HOSTILE}", detail="verification failed")
    report = _report([row], recommendations=[f"restart_device on {HOSTILE} was rolled back"],
                     devices_after=[DeviceChange(equipment_id=HOSTILE, site="S1", status_before="Down",
                                                 status_after="Down", health_before=HealthState.CRITICAL,
                                                 health_after=HealthState.CRITICAL)])
    md = render_markdown(report)
    lines = md.splitlines()
    assert not any(line.startswith(("| injected", "## Heading")) for line in lines)
    for line in lines:  # every table row has as many cells as its header
        if line.startswith("|"):
            cells = len(re.split(r"(?<!\\)\|", line)) - 2
            header = next(h for h in reversed(lines[:lines.index(line) + 1]) if h.startswith("|")
                          and (lines.index(h) == 0 or not lines[lines.index(h) - 1].startswith("|")))
            assert cells == len(header.split("|")) - 2, line
    assert not re.search(r"(?<!\\)<script>", md) and "\\<script>" in md and "\\[x\\](http://evil)" in md
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page

    class Tags(HTMLParser):
        seen: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001
            self.seen.add(tag)
            assert not any(k in ("href", "src") for k, _ in attrs)

    Tags().feed(page)
    assert "script" not in Tags.seen


def test_timestamps_are_to_the_second_and_the_outcome_line_is_the_headline_verdict() -> None:
    report = _report([], verdict="COMPLETED WITH PROBLEMS", summary="COMPLETED WITH PROBLEMS: 1 failed")
    md = render_markdown(report)
    assert "2026-11-01T12:00:00+00:00" in md and ".123456" not in md
    assert "- Outcome: COMPLETED WITH PROBLEMS" in md


def _change(eid: str, before: HealthState, after: HealthState, status: tuple[str, str] = ("Down", "Operational"),
            site: str = "S1") -> DeviceChange:
    return DeviceChange(equipment_id=eid, site=site, status_before=status[0], status_after=status[1],
                        health_before=before, health_after=after, improved=after.rank < before.rank)


def test_site_counts_move_with_the_devices_the_run_touched() -> None:
    sites = [SiteHealth(site="S1", state=HealthState.CRITICAL, devices=4, happy=1, stressed=1, critical=2, down=2),
             SiteHealth(site="S2", state=HealthState.HAPPY, devices=3, happy=3)]
    devices = [_change("E1", HealthState.CRITICAL, HealthState.HAPPY),
               _change("E2", HealthState.CRITICAL, HealthState.CRITICAL, ("Down", "Down"))]
    out = {s.site: s for s in site_changes(sites, devices, [_action(1, "E1", Outcome.SUCCEEDED)])}
    s1 = out["S1"]
    assert (s1.before.critical, s1.after.critical, s1.after.happy, s1.before.down, s1.after.down) == (2, 1, 2, 2, 1)
    assert s1.after.state is HealthState.CRITICAL and s1.touched == 2 and s1.outcomes == {"succeeded": 1}
    assert out["S2"].after == out["S2"].before and out["S2"].touched == 0


@pytest.mark.parametrize("after_states,recommended", [
    ((HealthState.HAPPY, HealthState.HAPPY, HealthState.HAPPY), False),     # all fixed: no shared cause to chase
    ((HealthState.HAPPY, HealthState.CRITICAL, HealthState.HAPPY), False),  # one left: named as still critical
    ((HealthState.HAPPY, HealthState.CRITICAL, HealthState.CRITICAL), True),
    ((HealthState.CRITICAL, HealthState.CRITICAL, HealthState.CRITICAL), True),
])
def test_a_site_problem_is_recommended_only_while_two_of_its_devices_are_still_critical(after_states, recommended) -> None:  # noqa: ANN001
    problem = Problem(id="P1", scope="site", site="S1", equipment_ids=["E1", "E2", "E3"], severity=Severity.CRITICAL,
                      score=90, title="S1: 3 devices critical (3 down)",
                      explanation="3 devices failing at once: check shared power and cooling at S1, then each device",
                      finding_kinds=[FindingKind.DEVICE_DOWN])
    devices = [_change(f"E{i}", HealthState.CRITICAL, s) for i, s in enumerate(after_states, start=1)]
    rows = [_action(i, f"E{i}", Outcome.SUCCEEDED) for i in range(1, 4)]
    out = recommendations([], rows, [problem], False, devices, [])
    assert any("shared power and cooling" in r for r in out) is recommended, out
    still = [d.equipment_id for d in devices if d.health_after is HealthState.CRITICAL]
    assert any(r.startswith(f"{len(still)} device(s)") for r in out) is bool(still)


def test_a_spreadsheet_never_runs_a_cell_from_the_data_as_a_formula() -> None:
    text = actions_csv(_report([_action(1, "=HYPERLINK(\"http://evil\")", Outcome.SUCCEEDED, observed="+1",
                                        after=DeviceAfter(status="@SUM(A1)", health=HealthState.HAPPY))]))
    row = text.splitlines()[1]
    assert "'=HYPERLINK" in row and ",'+1," in row and "'@SUM(A1)" in row


def test_a_large_run_is_summarized_but_every_failure_is_listed() -> None:
    n = 20_000
    actions = [_action(i, f"EQ-{i:06d}", Outcome.ROLLED_BACK if i % 100 == 0 else Outcome.SUCCEEDED,
                       site=f"S{i % 300}", observed="status Down → Operational", priority=1 + i % 5,
                       changes={"status": ["Down", "Operational"]}) for i in range(1, n + 1)]
    devices = [_change(a.equipment_id, HealthState.CRITICAL, HealthState.HAPPY, site=a.site) for a in actions]
    sites = [SiteHealth(site=f"S{i}", state=HealthState.CRITICAL, devices=70, critical=67, happy=3, down=67)
             for i in range(300)]
    report = _report(actions, devices_after=devices, sites_before_after=site_changes(sites, devices, actions))
    md = render_markdown(report)
    assert len(md.encode()) < 300_000, len(md.encode())
    assert all(f"| A{i} | EQ-{i:06d} |" in md for i in range(100, n + 1, 100)), "every rollback in full"
    assert f"## Actions ({n})" in md and "actions.csv" in md and len(report.actions) > LARGE_LIST
    assert "more: the full list is in report.json (sites_before_after)" in md


@pytest.mark.parametrize("value", ["# DC-1", "- x", "+ y", "> quoted", "=== z"])
def test_text_from_the_data_never_starts_a_heading_list_or_quote(value: str) -> None:
    from maintenance_agent.core.report import md

    assert md(value) == "\\" + value
