"""`FleetStore`: load, validate, change (under a cross-process lock) and reset one data directory.

A change is committed by appending one line to the journal under the lock; the JSON files are
rewritten from the current state ("compaction") once at the end of each run's execution. Readers
replay the log past the compaction mark; every entry stores whole after-records, so replaying an
entry twice is harmless. See the package docstring for the files."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson
from filelock import Timeout

from ..models.fleet import FLEET_FILES, HEALTH_FILE, INVENTORY_FILE
from ..perf import keep_out_of_gc
from . import bookkeeping
from .files import LOCK_TIMEOUT_SECONDS, StoreLock, atomic_write_bytes, dump_json, file_identity
from .journal import Journal
from .records import (
    HEALTH_STATE_FILE,
    LOCK_FILE,
    RESET_HINT,
    STATE_DIRNAME,
    ChangeRecord,
    Fleet,
    FleetDataError,
    StoreBusy,
    apply_change,
    check_writable,
    dump_record,
)
from .transaction import StoreCache, Transaction
from .validation import display_path, missing_message, parse_fleet_files, validate_fleet


class FleetStore:
    """Load, validate, change (under a cross-process lock) and reset one data directory."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS,
                 while_waiting: Callable[[], None] | None = None) -> None:
        """`while_waiting` is called about every `LOCK_WAIT_SLICE` seconds while the lock is busy, in the
        waiting thread (an activity heartbeats there, so a long wait does not look like a dead worker)."""
        self.data_dir = Path(data_dir)
        self.state_dir = self.data_dir / STATE_DIRNAME
        self.journal = Journal(self.state_dir, self.data_dir)
        self.audit_path = self.journal.audit_path
        self.mark_path = self.journal.mark_path
        self.health_state_path = self.state_dir / HEALTH_STATE_FILE
        self._lock_timeout = lock_timeout
        self._lock = StoreLock(self.state_dir / LOCK_FILE, timeout=lock_timeout, while_waiting=while_waiting)
        self._cache: StoreCache | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock (see `StoreLock`); `StoreBusy` once another process held it too long."""
        if not self.data_dir.is_dir():
            raise FleetDataError(f"data directory {self.data_dir} does not exist; set DATA_DIR, or restore the default fleet there")
        self.state_dir.mkdir(exist_ok=True)
        try:
            with self._lock.held():
                yield
        except Timeout:
            raise StoreBusy(
                f"the fleet store in {self.data_dir} stayed locked for {self._lock_timeout:.0f} s; "
                f"another agent process is writing, retry shortly"
            ) from None

    # -- reading ------------------------------------------------------------------------------
    def load(self) -> Fleet:
        """A validated snapshot of the fleet including committed changes not yet compacted."""
        with self.locked():
            mark = self.journal.read_mark()
            log_end = self.journal.size()
            handles: dict[str, IO[bytes]] = {}
            for name in FLEET_FILES:
                try:
                    handles[name] = open(self.data_dir / name, "rb")
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    for fh in handles.values():
                        fh.close()
                    raise FleetDataError(f"{display_path(self.data_dir / name)} cannot be read: {exc.strerror}; "
                                         f"{RESET_HINT}") from None
        # Parse outside the lock: open handles keep the files we chose even if they are replaced.
        try:
            missing = [n for n in FLEET_FILES if n not in handles]
            if missing:
                raise FleetDataError(missing_message(self.data_dir / missing[0]))
            fleet = validate_fleet(self.data_dir, {n: fh.read() for n, fh in handles.items()})
        finally:
            for fh in handles.values():
                fh.close()
        last = mark[0]
        for change in self.journal.read(mark[1], log_end):
            apply_change(fleet, change)
            last = change.seq
        fleet.applied_seq = last
        return fleet

    def snapshot(self) -> Fleet:
        """The current fleet from this process's cache (loaded once, then kept up to date from the
        journal): cheap for repeated runs in a long-lived worker. Read-only for the caller."""
        with self.locked():
            fleet = self._refresh().fleet
            return Fleet(dict(fleet.inventory), dict(fleet.health), list(fleet.life), fleet.file_extras,
                         fleet.applied_seq)

    def run_outcomes(self, run_id: str) -> dict[str, int]:
        """How many of this run's actions are recorded with each outcome (from the ledger)."""
        with self.locked():
            return dict(self._refresh().run_outcomes.get(run_id, {}))

    def ledger_for(self, run_id: str) -> list[ChangeRecord]:
        """Every recorded action outcome of one run, in commit order (reads the log, not the fleet)."""
        with self.locked():
            end = self.journal.size()
        found: dict[str, ChangeRecord] = {}
        for change in self.journal.read(0, end, needle=b'"run_id":' + orjson.dumps(run_id)):
            if change.run_id == run_id and change.action_id:
                found.setdefault(change.action_id, change)
        return sorted(found.values(), key=lambda c: c.seq)

    # -- changing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock the store, bring the cached state up to date and let the caller commit changes."""
        with self.locked():
            yield Transaction(self._refresh(), self.state_dir, self._append)

    def compact(self) -> int:
        """Rewrite the JSON files with every committed change; return the sequence number reached."""
        with self.locked():
            return self._compact_locked(self._refresh())

    def repair_audit(self) -> list[int]:
        """Move damaged complete lines of the audit log to `audit.jsonl.damaged` and keep the rest;
        return their line numbers. The changes those lines recorded are no longer replayed."""
        with self.locked():
            moved = self.journal.repair()
            if moved:
                self._cache = None
            return moved

    def use_proof(self, nonce: str, used_by: str, *, keep_until: datetime, now: datetime) -> bool:
        """Record that `used_by` uses the signed request with this nonce: False if another already did."""
        with self.locked():
            return bookkeeping.use_proof(self.state_dir, nonce, used_by, keep_until=keep_until, now=now)

    def read_health_states(self, run_id: str | None = None) -> dict[str, str]:
        """Each device's health state as the last run left it (for `run_id`: as it was before that run)."""
        return bookkeeping.read_health_states(self.health_state_path, run_id)

    def write_health_states(self, states: dict[str, str], run_id: str) -> None:
        """Record this run's states, keeping the ones it started from (see `read_health_states`)."""
        with self.locked():
            bookkeeping.write_health_states(self.health_state_path, states, run_id)

    def reset(self, pristine_dir: Path, actor: str) -> None:
        """Restore the fleet files from `pristine_dir`; older journal entries are not replayed."""
        with self.locked():
            # Validate the source before touching anything.
            parse_fleet_files(pristine_dir)
            for name in FLEET_FILES:
                atomic_write_bytes(self.data_dir / name, (pristine_dir / name).read_bytes())
            self._cache = None
            cache = self._refresh()
            change = self._append(ChangeRecord(at=datetime.now(UTC), actor=actor, outcome="reset",
                                               detail=f"fleet restored from {pristine_dir}"))
            self.journal.write_mark(change.seq, cache.log_offset)
            with contextlib.suppress(FileNotFoundError):
                self.health_state_path.unlink()
            self._cache = None

    # -- under the lock -----------------------------------------------------------------------
    def _refresh(self) -> StoreCache:
        """Reload if the files were replaced, then replay the log's new lines."""
        mark = self.journal.read_mark()
        identities = {name: file_identity(self.data_dir / name) for name in FLEET_FILES}
        cache = self._cache
        if cache is None or cache.identities != identities or cache.mark != mark:
            fleet, identities = parse_fleet_files(self.data_dir)
            ledger = cache.ledger if cache else {}
            ledger_offset = cache.ledger_offset if cache else 0
            cache = StoreCache(fleet, identities, mark, mark[1], mark[0], ledger, ledger_offset,
                               cache.run_outcomes if cache else {}, cache.last_problem if cache else {})
            self._cache = cache
            keep_out_of_gc(len(fleet.inventory))
        end = self.journal.size()
        if end < cache.ledger_offset:  # the log was replaced (a repair): start over
            cache.ledger, cache.ledger_offset, cache.run_outcomes, cache.last_problem = {}, 0, {}, {}
        if cache.ledger_offset < end:
            for change in self.journal.read(cache.ledger_offset, end):
                cache.index(change)
                if change.seq > cache.last_seq:
                    cache.last_seq = change.seq
            cache.ledger_offset = self.journal.complete_offset(end)
        if cache.log_offset < end:
            for change in self.journal.read(cache.log_offset, end):
                apply_change(cache.fleet, change)
            cache.log_offset = self.journal.complete_offset(end)
        cache.fleet.applied_seq = cache.last_seq
        return cache

    def _append(self, change: ChangeRecord) -> ChangeRecord:
        cache = self._cache
        assert cache is not None
        if change.after is not None:
            check_writable(change.after)
        change = change.model_copy(update={"seq": cache.last_seq + 1})
        end = self.journal.append(change)
        cache.last_seq = change.seq
        cache.log_offset = cache.ledger_offset = end
        cache.index(change)
        apply_change(cache.fleet, change)
        cache.fleet.applied_seq = change.seq
        return change

    def _compact_locked(self, cache: StoreCache) -> int:
        if cache.mark == (cache.last_seq, cache.log_offset):
            return cache.last_seq
        fleet = cache.fleet
        inv = {**fleet.file_extras.get(INVENTORY_FILE, {}),
               "infrastructure_inventory": [dump_record(r) for r in fleet.inventory.values()]}
        hm = {**fleet.file_extras.get(HEALTH_FILE, {}),
              "health_metrics": [dump_record(r) for r in fleet.health.values()]}
        # Key order: the list first, as the files have it, then any extra top-level keys.
        inv = {"infrastructure_inventory": inv.pop("infrastructure_inventory"), **inv}
        hm = {"health_metrics": hm.pop("health_metrics"), **hm}
        for leftover in self.data_dir.glob(".*.json.*.tmp"):  # from a writer killed mid-write
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        atomic_write_bytes(self.data_dir / INVENTORY_FILE, dump_json(inv))
        atomic_write_bytes(self.data_dir / HEALTH_FILE, dump_json(hm))
        mark = (cache.last_seq, cache.log_offset)
        self.journal.write_mark(*mark)
        cache.mark = mark
        for name in (INVENTORY_FILE, HEALTH_FILE):
            cache.identities[name] = file_identity(self.data_dir / name)
        return mark[0]
