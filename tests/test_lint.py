"""Lint, types and layers in the test suite (so CI runs them), each with the settings in pyproject.toml:
ruff on src/ (imports sorted, nothing unused or undefined; `ruff check src --fix` fixes most), mypy on
src/ (with the pydantic plugin), and import-linter's contracts (one-way layers: models < core < store
< activities < workflows < clients < entry points). A failure prints the tool's own findings."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT, tool


def _run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(list(command), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_ruff_finds_nothing_in_src() -> None:
    proc = _run(tool("ruff"), "check", "--no-cache", "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_layers_hold() -> None:
    proc = _run(tool("lint-imports"), "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout


def test_mypy_finds_nothing_in_src() -> None:
    proc = _run(tool("mypy"), "--cache-dir", str(ROOT / ".mypy_cache"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
