"""The rendered report of a real run (Markdown and HTML): before → after, evidence, recommendations."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from temporalio.client import Client

from conftest import copy_fleet, running_worker, settings_for, with_doomed_repairs
from maintenance_agent import client_ops
from maintenance_agent.core.actions import CATALOG, READING_OFFSET
from maintenance_agent.core.detect import assess_device
from maintenance_agent.models.core import ActionName
from maintenance_agent.models.rules import Rules
from maintenance_agent.store import parse_fleet_files


class _Tables(HTMLParser):
    """Every table of an HTML page as rows of cell texts, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _md_table(md: str, heading: str) -> list[list[str]]:
    """The rows (header first) of the first table under a Markdown heading."""
    section = md.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


@pytest.fixture
async def auto_run(client: Client, tmp_path: Path):  # noqa: ANN201
    queue = f"report-{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]}"
    settings = settings_for(tmp_path, task_queue=queue, data_dir=with_doomed_repairs(copy_fleet(tmp_path / "data")))
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, auto_approve=True)
        result = await client_ops.result(client, wid)
    return settings, result


async def test_the_report_shows_before_and_after_evidence_and_only_open_recommendations(auto_run) -> None:  # noqa: ANN001
    settings, result = auto_run
    folder = Path(result.report.directory)
    md = (folder / "report.md").read_text()
    report = json.loads((folder / "report.json").read_text())
    actions = report["actions"]
    outcomes = {a["outcome"] for a in actions}
    assert {"succeeded", "rolled_back"} <= outcomes, "the default fleet has fixed and rolled-back devices"

    # The headline and the outcome line agree, the executor is named, timestamps are to the second.
    assert report["verdict"] == "COMPLETED WITH PROBLEMS" and report["summary"].startswith(report["verdict"])
    assert "- Outcome: COMPLETED WITH PROBLEMS" in md
    assert "- Executor: simulated" in md and "no real device was touched" in md
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", md), "timestamps are to the second"

    # Before → after per site, as rendered: every site, with its counts moved by the devices the run touched.
    sites = {s["site"]: s for s in report["sites_before_after"]}
    table = _md_table(md, "## Sites: before → after")
    assert table[0][:3] == ["Site", "Devices", "State"] and len(table) - 1 == len(sites)
    for row in table[1:]:
        s = sites[row[0]]
        state = s["before"]["state"] if s["before"]["state"] == s["after"]["state"] else \
            f"{s['before']['state']} → {s['after']['state']}"
        assert row[2] == state
    assert any(s["before"]["state"] == "critical" and s["after"]["state"] == "happy" for s in sites.values())

    # The after-state is the fleet as the run left it, judged by the same rules: re-detect the data files.
    fleet, _ = parse_fleet_files(settings.data_dir)
    as_of = datetime.fromisoformat(report["analysis_time"]) + READING_OFFSET
    devices = {d["equipment_id"]: d for d in report["devices_after"]}
    for eid, d in devices.items():
        state = fleet.device(eid)
        assessed = assess_device(state.inventory, state.health, fleet.life_years(), Rules(), as_of)
        assert (d["status_after"], d["health_after"]) == (state.inventory.status, assessed.raw_state.value), eid
    rows = {r[0]: r for r in _md_table(md, "## Devices touched")[1:]}
    rolled = [a for a in actions if a["outcome"] == "rolled_back"]
    for a in rolled:  # a rolled-back restart leaves its device as it was
        assert rows[a["equipment_id"]][2] == devices[a["equipment_id"]]["status_before"]
    fixed = [d for d in devices.values() if d["status_before"] == "Down" and d["status_after"] == "Operational"]
    assert fixed and all(rows[d["equipment_id"]][2] == "Down → Operational" for d in fixed)

    # Every action that ran says what verification saw, and the fields it changed, old → new.
    table = _md_table(md, "## Actions (")
    head = table[0]
    observed, changes = head.index("Observed"), head.index("Changes (old → new)")
    by_id = {a["id"]: a for a in actions}
    for row in table[1:]:
        a = by_id[row[0]]
        if a["outcome"] in ("succeeded", "rolled_back"):
            assert row[observed] and row[observed] != CATALOG[ActionName(a["action"])].expected_effect
        if a["outcome"] == "succeeded":
            field, (old, new) = next(iter(a["changes"].items()))
            assert f"{field}: {old} → {new}" in row[changes]
    failures = _md_table(md, "## Failures and rollbacks")
    assert sorted(r[0] for r in failures[1:]) == sorted(a["id"] for a in rolled)

    # Recommendations come from the after-state: nothing names a device the run made healthy, nor a site
    # problem whose critical devices it fixed; what is still broken is named.
    recommendations = _md_list(md, "## Recommendations")
    assert recommendations == report["recommendations"]
    healed = [eid for eid, d in devices.items() if d["health_after"] == "happy" and d["improved"]]
    assert healed
    replaced = {a["equipment_id"] for a in actions if a["action"] == "replace_hardware" and a["outcome"] == "succeeded"}
    assert replaced
    for text in recommendations:
        named = [eid for eid in healed if re.search(rf"\b{eid}\b", text)]
        # A restarted device may still be old: ageing is a problem only a replacement fixes.
        assert not named or (text.startswith("Budget replacements") and not set(named) & replaced), text
    for p in report["problems"]:
        if p["scope"] == "site" and sum(devices.get(e, {}).get("health_after") != "critical" for e in p["equipment_ids"]) \
                >= len(p["equipment_ids"]) - 1:
            assert not any(p["title"] in text for text in recommendations), p["title"]
    assert any(a["equipment_id"] in " ".join(recommendations) for a in rolled)

    # The HTML page: the same tables, one file, nothing fetched, nothing run.
    page = (folder / "report.html").read_text()
    parsed = _Tables()
    parsed.feed(page)
    assert parsed.urls == [] and "script" not in parsed.tags and "link" not in parsed.tags
    assert html.escape(report["summary"], quote=False) in page
    md_tables = [t for t in re.split(r"\n(?=## |### )", md) if "\n|" in t]
    assert len(parsed.tables) == len(md_tables)
    assert [[_unescape(c) for c in r] for r in _md_table(md, "## Sites: before → after")] == parsed.tables[0]

    # And the CSV has every action with its evidence.
    listed = list(csv.DictReader(io.StringIO((folder / "actions.csv").read_text())))
    assert [r["id"] for r in listed] == [a["id"] for a in actions]
    assert all(r["observed"] == by_id[r["id"]]["observed"] for r in listed)


def _md_list(md: str, heading: str) -> list[str]:
    section = md.split(heading, 1)[1].split("\n## ", 1)[0]
    return [_unescape(line[2:]) for line in section.splitlines() if line.startswith("- ")]


def _unescape(cell: str) -> str:
    return re.sub(r"\\(.)", r"\1", cell)


async def test_a_dry_run_report_shows_the_simulated_after_state_and_changes_nothing(client: Client, tmp_path: Path) -> None:
    queue = f"report-dry-{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]}"
    settings = settings_for(tmp_path, task_queue=queue, data_dir=with_doomed_repairs(copy_fleet(tmp_path / "data")))
    before = {p.name: p.read_bytes() for p in settings.data_dir.iterdir() if p.is_file()}
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, auto_approve=True, dry_run=True)
        result = await client_ops.result(client, wid)
    assert {p.name: p.read_bytes() for p in settings.data_dir.iterdir() if p.is_file()} == before
    report = json.loads(Path(result.report.json_path).read_text())
    md = Path(result.report.markdown).read_text()
    assert "## Sites: before → after (simulated)" in md and "nothing was changed, not even the data files" in md
    improved = [d for d in report["devices_after"] if d["improved"]]
    assert improved and all(a["after"] for a in report["actions"] if a["outcome"] in ("succeeded", "rolled_back"))
    assert all(a["detail"].startswith("would verify: ") for a in report["actions"] if a["outcome"] == "succeeded")
