"""Firmware versions: their natural order and the newest release seen per model. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from ..models.fleet import InventoryRecord


@lru_cache(maxsize=8192)
def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural ordering for vendor firmware strings (`17.9.4` < `17.12.1`, `21.4R3` < `22.1R1`)."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def firmware_baseline(inventory: Iterable[InventoryRecord]) -> dict[str, str]:
    """Newest firmware seen per `vendor|model`: the release a firmware update moves a device to."""
    best: dict[str, str] = {}
    for inv in inventory:
        key = f"{inv.vendor}|{inv.model}"
        current = best.get(key)
        if current is None or version_key(inv.firmware_version) > version_key(current):
            best[key] = inv.firmware_version
    return best
