#!/usr/bin/env python3
"""Regenerate README assets: `make assets`.

- assets/daper.svg: the DAPER loop and where each step runs (drawn here, so it stays current).
- assets/example-report.md (and .html): the report of a real auto-approved run on the default fleet (two of
  its repairs made to fail verification, so every section shows), made by
  the real workflow on a throwaway local Temporal dev server.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"

STEPS = [
    ("Detect", "MONITORING-INFRASTRUCTURE", "rules: thresholds, trends,", "end of life, contracts"),
    ("Analyze", "ANALYZING-TRENDS", "problems, likely cause,", "blast radius per site"),
    ("Plan", "PLANNING-PREVENTIVE-MAINTENANCE", "catalog actions with risk,", "confidence, rollback"),
    ("Approve", "PENDING-APPROVAL", "human (update + validator)", "or auto / routine-only"),
    ("Execute", "EXECUTING-MAINTENANCE", "one activity per action:", "precheck, apply, verify"),
    ("Report", "GENERATING-REPORT", "report.md + report.json", "from the ledger"),
]


def daper_svg() -> str:
    """The DAPER diagram as standalone SVG (deterministic output)."""
    w, h, box_w, box_h, gap, top = 1060, 330, 150, 96, 26, 70
    colors = ["#2563eb", "#7c3aed", "#0891b2", "#d97706", "#dc2626", "#16a34a"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           'font-family="Helvetica, Arial, sans-serif">',
           '<defs><marker id="arrow" markerWidth="10" markerHeight="10" refX="8" refY="3" orient="auto">'
           '<path d="M0,0 L8,3 L0,6 z" fill="#334155"/></marker></defs>',
           f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
           '<text x="20" y="34" font-size="20" font-weight="bold" fill="#0f172a">'
           'DAPER: one durable Temporal workflow per maintenance run</text>']
    for i, (name, phase, line1, line2) in enumerate(STEPS):
        x = 20 + i * (box_w + gap)
        out.append(f'<rect x="{x}" y="{top}" width="{box_w}" height="{box_h}" rx="10" fill="{colors[i]}" opacity="0.12" '
                   f'stroke="{colors[i]}" stroke-width="2"/>')
        out.append(f'<text x="{x + box_w / 2}" y="{top + 28}" font-size="18" font-weight="bold" text-anchor="middle" '
                   f'fill="{colors[i]}">{name}</text>')
        for j, text in enumerate((line1, line2)):
            out.append(f'<text x="{x + box_w / 2}" y="{top + 52 + j * 17}" font-size="12" text-anchor="middle" '
                       f'fill="#1e293b">{text}</text>')
        out.append(f'<text x="{x + box_w / 2}" y="{top + box_h + 18}" font-size="9" text-anchor="middle" '
                   f'fill="#64748b">{phase}</text>')
        if i:
            out.append(f'<line x1="{x - gap + 2}" y1="{top + box_h / 2}" x2="{x - 4}" y2="{top + box_h / 2}" '
                       'stroke="#334155" stroke-width="2" marker-end="url(#arrow)"/>')
    notes = [
        "Workflows orchestrate only; every read and write of the fleet is an activity; every decision is a pure function.",
        "Fleet changes: one fsync'd audit-log line per action = the idempotency ledger (exactly once across crashes).",
        "Outcomes: succeeded | failed | rolled_back | stale | skipped_unapproved | not_run.  Terminal: COMPLETED,",
        "NO-ACTION-NEEDED, REJECTED, EXPIRED (approval timeout), FAILED.  Optional LLM advisor explains; rules decide.",
    ]
    for k, note in enumerate(notes):
        out.append(f'<text x="20" y="{top + box_h + 60 + k * 20}" font-size="13" fill="#334155">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


async def example_report() -> tuple[str, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from temporalio.testing import WorkflowEnvironment  # noqa: PLC0415

    from conftest import copy_fleet, running_worker, settings_for, tool, with_doomed_repairs  # noqa: PLC0415
    from maintenance_agent import client_ops  # noqa: PLC0415
    from maintenance_agent.connection import data_converter  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="assets-"))
    try:
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=tool("temporal"),
                                                    data_converter=data_converter(), dev_server_log_level="error")
        async with env:
            # Two repairs that cannot take (a CPU pinned at 99 %), so the failures section shows too.
            data = with_doomed_repairs(copy_fleet(work / "data"))
            settings = settings_for(work, data_dir=data, task_queue=f"assets-{uuid.uuid4().hex[:6]}")
            async with running_worker(env.client, settings):
                wid = await client_ops.start_run(env.client, settings, auto_approve=True)
                result = await client_ops.result(env.client, wid)
        assert result.report is not None and result.report.html is not None
        return tuple(re.sub(re.escape(str(work)), "<tmp>", Path(path).read_text())  # type: ignore[return-value]
                     for path in (result.report.markdown, result.report.html))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    (ASSETS / "daper.svg").write_text(daper_svg())
    markdown, page = asyncio.run(example_report())
    (ASSETS / "example-report.md").write_text(markdown)
    (ASSETS / "example-report.html").write_text(page)
    print("wrote assets/daper.svg, assets/example-report.md and assets/example-report.html", file=sys.stderr)


if __name__ == "__main__":
    main()
