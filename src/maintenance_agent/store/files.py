"""File helpers of the store: atomic writes, and the lock that serializes every change."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

LOCK_TIMEOUT_SECONDS = 120.0
LOCK_WAIT_SLICE = 2.0
"""While waiting for the lock, `while_waiting` runs this often (well inside the 10 s action heartbeat)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a torn one.

    A symlink is written through: the new file replaces the link's target, in the target's own
    directory (a rename across directories would not be atomic), and the link stays a link."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL with 0o666 honours the umask (mkstemp would force 0o600 on the data files).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsync'd
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def dump_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


def file_identity(path: Path) -> tuple[int, int, int]:
    """What tells a file from the one it replaced: inode, modification time, size ((0, 0, 0): none)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, 0, 0
    return st.st_ino, st.st_mtime_ns, st.st_size


class StoreLock:
    """One data directory's lock: threads of this process queue on a mutex (woken at once), and only
    the holder takes the cross-process file lock (which other processes poll for)."""

    def __init__(self, path: Path, *, timeout: float, while_waiting: Callable[[], None] | None = None) -> None:
        """`while_waiting` is called about every `LOCK_WAIT_SLICE` seconds while the lock is busy, in the
        waiting thread (an activity heartbeats there, so a long wait does not look like a dead worker)."""
        self.path = path
        self.timeout = timeout
        self._while_waiting = while_waiting
        self._file: FileLock | None = None
        self._mutex = threading.RLock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock; `filelock.Timeout` once it stayed busy for `timeout` seconds."""
        if self._file is None:
            self._file = FileLock(self.path, timeout=self.timeout, poll_interval=0.005)
        acquired = False
        deadline = time.monotonic() + self.timeout
        try:
            while not (acquired := self._mutex.acquire(timeout=self._slice(deadline))):
                self._waited(deadline)
            while True:
                try:
                    self._file.acquire(timeout=self._slice(deadline))
                    break
                except Timeout:
                    self._waited(deadline)
            try:
                yield
            finally:
                self._file.release()
        finally:
            if acquired:  # released even when an activity is cancelled by an exception raised into its thread
                self._mutex.release()

    def _slice(self, deadline: float) -> float:
        left = max(0.0, deadline - time.monotonic())
        return min(LOCK_WAIT_SLICE, left) if self._while_waiting else left

    def _waited(self, deadline: float) -> None:
        """One slice of waiting for the lock is over: give up at the deadline, else say so and go on."""
        if time.monotonic() >= deadline:
            raise Timeout(str(self.path))
        if self._while_waiting is not None:
            self._while_waiting()
