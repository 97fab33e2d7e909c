"""The store's small state files beside the journal: leases, previous health states, used proofs.

Each is one JSON document rewritten atomically; the caller holds the store lock."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from .files import atomic_write_bytes
from .records import LEASES_FILE, USED_PROOFS_FILE

log = logging.getLogger(__name__)


# Leases: an operation that takes time outside the store lock (a real device being restarted)
# holds its site and device in leases.json, so no other run starts a disruptive operation there
# meanwhile. A lease expires unless renewed, so a dead worker's lease does not block for ever;
# the same holder (a retry of the same action) takes its own lease back at once.
def take_leases(state_dir: Path, keys: list[str], holder: str, *, ttl_seconds: float, now: float) -> str | None:
    """Take every lease in `keys` for `holder`, or none: None when taken, else who holds one."""
    leases = _read_leases(state_dir, now)
    for key in keys:
        current = leases.get(key)
        if current is not None and current["holder"] != holder:
            return f"{key.partition(':')[2]} is busy with {current['holder']}"
    for key in keys:
        leases[key] = {"holder": holder, "expires": now + ttl_seconds}
    _write_leases(state_dir, leases)
    return None


def release_leases(state_dir: Path, holder: str, *, now: float) -> None:
    leases = _read_leases(state_dir, now)
    kept = {key: lease for key, lease in leases.items() if lease["holder"] != holder}
    if len(kept) != len(leases):
        _write_leases(state_dir, kept)


def _read_leases(state_dir: Path, now: float) -> dict[str, dict[str, Any]]:
    try:
        leases = orjson.loads((state_dir / LEASES_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return {key: lease for key, lease in leases.items() if lease.get("expires", 0) > now}


def _write_leases(state_dir: Path, leases: dict[str, dict[str, Any]]) -> None:
    atomic_write_bytes(state_dir / LEASES_FILE, orjson.dumps(leases, option=orjson.OPT_SORT_KEYS))


def use_proof(state_dir: Path, nonce: str, used_by: str, *, keep_until: datetime, now: datetime) -> bool:
    """Record that `used_by` uses the signed request with this nonce: False if another already did
    (a signature copied from workflow history). Entries go once no signature that old is accepted."""
    path = state_dir / USED_PROOFS_FILE
    try:
        used = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        used = {}
    used = {n: u for n, u in used.items() if datetime.fromisoformat(u["until"]) > now}
    if nonce in used:
        return bool(used[nonce]["by"] == used_by)  # a retry of the same run goes on
    used[nonce] = {"by": used_by, "until": keep_until.isoformat()}
    atomic_write_bytes(path, orjson.dumps(used))
    return True


def read_health_states(path: Path, run_id: str | None = None) -> dict[str, str]:
    """Each device's health state as the last run left it. For `run_id`, the states before that run
    wrote its own: a retried detection reads what its first attempt read, not its own output (which
    would let the no-jump rule escalate a held-back `stressed` to `critical`)."""
    doc = _health_doc(path)
    if run_id is not None and doc.get("run_id") == run_id:
        before = doc.get("before")
        doc = before if isinstance(before, dict) else {}
    devices = doc.get("devices", {})
    return {str(k): str(v) for k, v in devices.items()} if isinstance(devices, dict) else {}


def write_health_states(path: Path, states: dict[str, str], run_id: str) -> None:
    """Record this run's states, keeping the ones it started from (see `read_health_states`)."""
    current = _health_doc(path)
    if current.get("run_id") == run_id:  # a retry: the states before this run stay the same
        before = current.get("before") if isinstance(current.get("before"), dict) else {}
    else:
        before = {"run_id": current.get("run_id"), "devices": current.get("devices", {})}
    atomic_write_bytes(
        path, orjson.dumps({"run_id": run_id, "devices": states, "before": before}, option=orjson.OPT_SORT_KEYS))


def _health_doc(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError:
        log.warning("%s is corrupt; treating every device as having no previous state", path)
        return {}
    return data if isinstance(data, dict) else {}
