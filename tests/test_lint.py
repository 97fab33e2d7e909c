"""Lint in the test suite (so CI runs it): ruff on src/ with the rules in pyproject.toml (imports sorted,
nothing unused or undefined). A failure prints ruff's own findings; `ruff check src --fix` fixes most."""

from __future__ import annotations

import subprocess

from conftest import ROOT, tool


def test_ruff_finds_nothing_in_src() -> None:
    proc = subprocess.run([tool("ruff"), "check", "--no-cache", "src"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
