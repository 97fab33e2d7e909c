"""What a process knows of its store between locks (the cache), and a caller's view inside one lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..models.core import Outcome
from ..models.fleet import DeviceState
from . import bookkeeping
from .records import PROBLEMS, ChangeRecord, Fleet


@dataclass
class StoreCache:
    fleet: Fleet
    identities: dict[str, tuple[int, int, int]]
    mark: tuple[int, int]
    log_offset: int
    last_seq: int
    ledger: dict[tuple[str, str], ChangeRecord]
    ledger_offset: int
    run_outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    """Per ledger key: how many of its actions ended in each outcome (the circuit breaker, progress)."""
    last_problem: dict[tuple[str, str], ChangeRecord] = field(default_factory=dict)
    """Per (device, action): the latest attempt that failed or was rolled back, whichever run made it."""

    def index(self, change: ChangeRecord) -> None:
        if change.run_id and change.action_id:
            key = (change.run_id, change.action_id)
            if key not in self.ledger:
                self.run_outcomes.setdefault(change.run_id, Counter())[change.outcome] += 1
            self.ledger[key] = change
            if change.outcome in PROBLEMS and change.equipment_id and change.action:
                self.last_problem[(change.equipment_id, change.action)] = change


class Transaction:
    """The caller's view inside `FleetStore.transaction()`: read current state, commit changes."""

    def __init__(self, cache: StoreCache, state_dir: Path, commit: Callable[[ChangeRecord], ChangeRecord]) -> None:
        self._cache = cache
        self._state_dir = state_dir
        self._commit = commit

    @property
    def fleet(self) -> Fleet:
        """The current state. Treat it as read-only: change it only through `commit`."""
        return self._cache.fleet

    def device(self, equipment_id: str) -> DeviceState | None:
        return self._cache.fleet.device(equipment_id)

    def ledger_entry(self, run_id: str, action_id: str) -> ChangeRecord | None:
        """The committed record for this action of this run, if any (the idempotency check)."""
        return self._cache.ledger.get((run_id, action_id))

    def run_problems(self, run_id: str) -> int:
        """Failed or rolled-back actions this run has recorded so far: what the circuit breaker counts."""
        outcomes = self._cache.run_outcomes.get(run_id)
        return outcomes[Outcome.FAILED.value] + outcomes[Outcome.ROLLED_BACK.value] if outcomes else 0

    def recent_problem(self, equipment_id: str, action: str, *, other_than: str, since: datetime) -> ChangeRecord | None:
        """The latest attempt at `action` on this device that failed or was rolled back, by another run,
        at or after `since` (concurrent runs must not repeat a repair that just did not work)."""
        last = self._cache.last_problem.get((equipment_id, action))
        return last if last is not None and last.run_id != other_than and last.at >= since else None

    def take_leases(self, keys: list[str], holder: str, *, ttl_seconds: float, now: float) -> str | None:
        """Take every lease in `keys` for `holder`, or none: None when taken, else who holds one
        (see `bookkeeping`: a lease lapses `ttl_seconds` after it was taken unless taken again)."""
        return bookkeeping.take_leases(self._state_dir, keys, holder, ttl_seconds=ttl_seconds, now=now)

    def release_leases(self, holder: str, *, now: float) -> None:
        bookkeeping.release_leases(self._state_dir, holder, now=now)

    def commit(self, change: ChangeRecord) -> ChangeRecord:
        """Append `change` (fsync'd); its `after` state becomes the device's current state."""
        return self._commit(change)
