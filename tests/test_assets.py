"""README assets are produced by tools/make_assets.py and must match what it produces today."""

from __future__ import annotations

import importlib.util
import json

from conftest import ROOT
from maintenance_agent.core.report import REPORT_SCHEMA_VERSION, Report


def _tool():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("make_assets", ROOT / "tools" / "make_assets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_daper_diagram_is_current() -> None:
    assert (ROOT / "assets" / "daper.svg").read_text() == _tool().daper_svg(), "run `make assets`"


def test_example_report_matches_the_current_report_layout() -> None:
    text = (ROOT / "assets" / "example-report.md").read_text()
    for heading in ("# Maintenance report", "## Fleet", "## Sites: before → after", "## Devices touched",
                    "## Outcome of actions", "## Failures and rollbacks", "## Actions", "## Findings"):
        assert heading in text, f"{heading!r} missing: run `make assets`"


def test_readme_documents_every_report_field() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Report.model_fields:
        assert f"`{name}`" in readme, f"report.json field {name!r} is not documented in the README"
    assert f'"schema_version": "{REPORT_SCHEMA_VERSION}"' in readme
    json.loads(readme.split("```json")[1].split("```")[0])  # the example in the README is valid JSON
