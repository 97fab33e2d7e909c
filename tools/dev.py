#!/usr/bin/env python3
"""The project's commands with nothing but Python (standard library only): the Makefile calls this.

    python3 tools/dev.py demo     # install into .venv/, start local Temporal + worker, one auto-approved run
    python3 tools/dev.py test     # install into .venv/ and run the whole test suite

Other commands: install, test-fast (the unit layer, no Temporal server: well under a minute), worker,
api (the Alertmanager receiver and HTTP API on API_HOST:API_PORT), server, stop, status, bench [--quick], chaos [--trials N],
eval [--seeds N] (the labelled evaluation of the rules' decisions, printed and saved as JSON), assets,
record-histories, keygen --user NAME [--out DIR], repair-audit [DATA_DIR]. `install` creates `.venv/` and installs exactly what poetry.lock pins, through its
hashed export `requirements-dev.lock.txt` (`pip --require-hashes`; Poetry is not needed); it is
skipped when nothing it depends on changed since the last install. `install` and `test` also install
the Debian packages whose programs the tests start for real (prometheus, prometheus-alertmanager)
when they are missing (apt-get, as root; otherwise they say what to install).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed-from-lock"
INPUTS = [ROOT / "poetry.lock", ROOT / "requirements-dev.lock.txt", ROOT / "pyproject.toml"]
SUPPORTED = ((3, 11), (3, 13))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


SYSTEM_PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}
"""Programs the tests start for real (binary -> Debian package), installed when missing."""


def system_packages() -> None:
    """Install the Debian packages whose programs are missing (as root, with apt-get), or say how."""
    missing = sorted({pkg for binary, pkg in SYSTEM_PACKAGES.items() if shutil.which(binary) is None})
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"warning: {', '.join(missing)} missing and not installable here (needs apt-get as root); the tests "
              f"that start them will fail: install them (`sudo apt-get install {' '.join(missing)}`)",
              file=sys.stderr)
        return
    print(f"installing Debian packages: {', '.join(missing)}", file=sys.stderr)
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends", *missing]):
        if subprocess.call(command, cwd=ROOT, env=quiet, stdout=subprocess.DEVNULL):
            fail(f"`{' '.join(command)}` failed; install {', '.join(missing)} by hand and run this again")


def install() -> None:
    if STAMP.exists() and PY.exists() and all(p.stat().st_mtime <= STAMP.stat().st_mtime for p in INPUTS):
        return
    if not PY.exists():
        if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
            fail(f"Python {sys.version_info.major}.{sys.version_info.minor} is not supported; run this with "
                 f"Python 3.11, 3.12 or 3.13 (e.g. `python3.12 tools/dev.py ...`)")
        print("creating .venv/", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--require-hashes", "-r", str(ROOT / "requirements-dev.lock.txt")])
    run([*pip, "--no-deps", "--no-build-isolation", "-e", str(ROOT)])
    STAMP.touch()


def run(command: list[str]) -> None:
    code = subprocess.call(command, cwd=ROOT)
    if code:
        raise SystemExit(code)


def in_venv(*args: str) -> None:
    install()
    run([str(PY), *args])


COMMANDS = {
    "install": lambda *a: (system_packages(), install()),
    "demo": lambda *a: in_venv("run_monitoring_agent.py", "--reset-data", "--auto-approve", *a),
    "test": lambda *a: (system_packages(), in_venv("-m", "pytest", *a)),
    "test-fast": lambda *a: in_venv("-m", "pytest", "-m", "unit and not slow", "-q", *a),
    "worker": lambda *a: in_venv("-m", "maintenance_agent.worker", *a),
    "api": lambda *a: in_venv("-m", "maintenance_agent.api", *a),
    "server": lambda *a: in_venv("-m", "maintenance_agent.embedded", "start", *a),
    "status": lambda *a: in_venv("-m", "maintenance_agent.embedded", "status", *a),
    "bench": lambda *a: in_venv("bench/run_all.py", *a),
    "chaos": lambda *a: in_venv("tests/chaos.py", *(a or ("--trials", "20"))),
    "eval": lambda *a: in_venv("-m", "maintenance_agent.evaluation", *a),
    "assets": lambda *a: in_venv("tools/make_assets.py", *a),
    "record-histories": lambda *a: in_venv("tests/record_histories.py", *a),
    "keygen": lambda *a: in_venv("-m", "maintenance_agent.identity", "keygen", *a),
    "repair-audit": lambda *a: in_venv("-m", "maintenance_agent.store", "repair-audit", *a),
}


def stop(*args: str) -> None:
    if not PY.exists():
        print("nothing installed, nothing to stop", file=sys.stderr)
        return
    run([str(PY), "-m", "maintenance_agent.embedded", "stop", *args])


COMMANDS["stop"] = stop


def main(argv: list[str]) -> None:
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        fail(f"unknown command {argv[0]!r}; use one of: {', '.join(COMMANDS)}")
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return
    COMMANDS[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
