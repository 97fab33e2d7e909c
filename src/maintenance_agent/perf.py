"""Process-level performance helpers."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_paused = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures (a 100k-device
    fleet is millions of objects; each automatic full collection would walk all of them: about a
    quarter of the load time). Reference counting still frees memory as usual. Nested and
    multi-threaded use is safe: the collector runs again when the last pauser leaves."""
    global _paused
    with _lock:
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0:
                gc.enable()


LONG_LIVED_THRESHOLD = 5_000
"""Fleets at least this large (devices) are moved out of the collector's sight once loaded."""


def keep_out_of_gc(devices: int) -> None:
    """Move everything alive now (chiefly a freshly loaded fleet cache) into the permanent generation.

    A worker keeps its fleet cache for its whole life; at 100k devices that is millions of objects
    that every full collection would walk (about a second here), stalling every thread, including
    the one answering workflow tasks and queries. Frozen objects are still freed by reference
    counting when the cache is replaced; only reference cycles among them would outlive it, and the
    fleet model has none."""
    if devices >= LONG_LIVED_THRESHOLD:
        gc.freeze()
