"""A real server program for a test: started with its log in a file, ready once its URL answers 200,
stopped (terminate, then kill) however the test ends."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed (run `python3 tools/dev.py install`, which installs it from Debian)"
    return found


@contextlib.contextmanager
def serving(command: list[str], log_path: Path, ready_url: str, name: str, timeout: float = 60) -> Iterator[None]:
    """Run `command` until the block ends, once `ready_url` answers 200 (polled, with a deadline)."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, f"{name} exited: {log_path.read_text()[-800:]}"
                try:
                    with urllib.request.urlopen(ready_url, timeout=2) as response:  # noqa: S310 - loopback
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{name} did not become ready within {timeout:.0f} s"
                time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
