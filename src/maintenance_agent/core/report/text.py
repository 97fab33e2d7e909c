"""Plain-text formatting the renderings share: timestamps and field changes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def when(at: datetime | None) -> str:
    """Timestamps to the second, as people read them."""
    return at.isoformat(timespec="seconds") if at else "n/a"


def changes_text(changes: Mapping[str, list[Any]]) -> str:
    return "; ".join(f"{k}: {_value(v[0])} → {_value(v[1])}" for k, v in changes.items() if len(v) == 2)


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)
