"""Which names may become part of a path or an identity: workflow ids and user names. Pure.

A workflow id names the run's folder under REPORTS_DIR and a user name names a workflow id, so
both are held to a small character set: letters, digits, `.`, `_`, `-` and `@`, starting with a
letter or digit. No `/`, no `..` as a whole name, nothing a shell or a Markdown table would read
as something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
MAX_USER_CHARS = 64
MAX_WORKFLOW_ID_CHARS = 200
SAFE_CHARACTERS = "letters, digits, '.', '_', '-' and '@', starting with a letter or digit"


def unsafe_name(value: str, *, limit: int) -> str | None:
    """Why `value` is not a safe name, or None."""
    if not value:
        return "it is empty"
    if len(value) > limit:
        return f"it is longer than {limit} characters"
    if not _SAFE.fullmatch(value):
        return f"it may only hold {SAFE_CHARACTERS}"
    return None


def unsafe_user(value: str) -> str | None:
    return unsafe_name(value, limit=MAX_USER_CHARS)


def unsafe_workflow_id(value: str) -> str | None:
    return unsafe_name(value, limit=MAX_WORKFLOW_ID_CHARS)


def host_of(value: str) -> str:
    """The host part of a label naming a device: `10.1.0.5:9100` -> `10.1.0.5`, `[fe80::1]:9100` ->
    `fe80::1`; anything else (an id, a bare IPv6 address) as it is."""
    if value.startswith("[") and "]" in value:
        return value[1:value.index("]")]
    return value.split(":", 1)[0] if value.count(":") == 1 else value


def ids_by_host(inventory: Mapping[str, Any]) -> dict[str, str]:
    """Device id by the host part of its IP address (records with an `ip_address`), to resolve the
    labels that name a device by address (node_exporter's `instance="10.1.0.5:9100"`)."""
    return {host_of(inv.ip_address): eid for eid, inv in inventory.items() if inv.ip_address}
