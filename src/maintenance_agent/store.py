"""The fleet store: three JSON files, validated on load, changed only through an audited journal.

Layout of a data directory::

    infrastructure_inventory.json   health_metrics.json   equipment_life_expectancy.json
    .agent/store.lock      cross-process lock (filelock) serializing every change
    .agent/audit.jsonl     append-only change log: one fsync'd line per change (who, what, before, after)
    .agent/compacted.json  how much of the log the JSON files already contain (seq + byte offset)
    .agent/health_state.json  each device's health state at the previous run
    .agent/leases.json     which run holds a site or device for an operation in progress (see Transaction)
    .agent/used_proofs.json  signed starts already used, until they are too old to be accepted anyway

A change is committed by appending one line to `audit.jsonl` under the lock; that single append is
the commit point, so a crash either keeps the whole change or none of it, and the same line is the
idempotency ledger entry for `(run_id, action_id)`. The JSON files are rewritten from the current
state ("compaction", temp file + fsync + rename) once at the end of each run's execution, so a
repair costs one fsync'd append, not a rewrite of a fleet that may hold 100,000 devices.
Readers replay the log past the compaction mark; every entry stores whole after-records, so
replaying an entry twice is harmless.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .models.core import Outcome
from .models.fleet import (
    FLEET_FILES,
    FLOAT_LIMIT,
    HEALTH_FILE,
    INVENTORY_FILE,
    LIFE_FILE,
    DeviceState,
    HealthFile,
    HealthRecord,
    InventoryFile,
    InventoryRecord,
    LifeExpectancy,
    LifeFile,
)
from .perf import gc_paused, keep_out_of_gc
from .strict_json import DuplicateKey, find_duplicate_key, json_key_count

log = logging.getLogger(__name__)

STATE_DIRNAME = ".agent"
AUDIT_FILE = "audit.jsonl"
MARK_FILE = "compacted.json"
HEALTH_STATE_FILE = "health_state.json"
LEASES_FILE = "leases.json"
USED_PROOFS_FILE = "used_proofs.json"
LOCK_FILE = "store.lock"
LOCK_TIMEOUT_SECONDS = 120.0
LOCK_WAIT_SLICE = 2.0
"""While waiting for the lock, `while_waiting` runs this often (well inside the 10 s action heartbeat)."""

_RESET_HINT = "fix the file, or restore the default fleet with --reset-data"


class FleetDataError(Exception):
    """A data file is missing or malformed. The one-line message names file, record and field."""


class StoreBusy(Exception):
    """Another process held the store lock for too long."""


class ChangeRecord(BaseModel):
    """One line of the audit log: a committed change, or an attempt that changed nothing."""

    model_config = ConfigDict(extra="allow")

    seq: int = 0
    at: datetime
    actor: str
    run_id: str | None = None
    """The ledger key: one run of a workflow (its Temporal run chain), never reused by another run."""
    workflow_id: str | None = None
    action_id: str | None = None
    action: str | None = None
    equipment_id: str | None = None
    site: str | None = None
    outcome: str
    detail: str = ""
    before: DeviceState | None = None
    after: DeviceState | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    """Structured outcome the caller wants back on an idempotent retry (e.g. verification notes)."""


@dataclass
class Fleet:
    """A validated, in-memory view of the fleet. Records keep their file order."""

    inventory: dict[str, InventoryRecord]
    health: dict[str, HealthRecord]
    life: list[LifeExpectancy]
    file_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied_seq: int = 0

    def life_years(self) -> dict[tuple[str, str], float]:
        return {(le.vendor, le.model): float(le.expected_life_years) for le in self.life}

    def device(self, equipment_id: str) -> DeviceState | None:
        inv = self.inventory.get(equipment_id)
        return None if inv is None else DeviceState(inventory=inv, health=self.health.get(equipment_id))


# ---------------------------------------------------------------------------------------------
# file helpers


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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsync'd
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def dump_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


# ---------------------------------------------------------------------------------------------
# validation with one-line errors

_TYPE_TAGS = re.compile(r"^(int|float|str|bool|date|datetime|none|list|dict|function-.*|constrained-.*)$")
_LIST_KEY = {INVENTORY_FILE: "infrastructure_inventory", HEALTH_FILE: "health_metrics",
             LIFE_FILE: "equipment_life_expectancy"}
_ID_KEY = {INVENTORY_FILE: "id", HEALTH_FILE: "equipment_id", LIFE_FILE: "model"}


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _TYPE_TAGS.match(str(part)):
            out += f".{part}" if out else str(part)
    return out


def _short(value: Any, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _describe_error(error: dict[str, Any]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "finite_number":
        return "is not a finite number (NaN, Infinity or beyond ±1.8e308), so it cannot be written back"
    if kind in {"less_than_equal", "greater_than_equal"} and abs(error["ctx"].get("le", error["ctx"].get("ge", 0))) >= FLOAT_LIMIT:
        return "is beyond the 64-bit range, so it cannot be written back"
    if kind in {"int_type", "float_type"}:
        return f"must be a number, got {_short(value)}"
    if kind == "string_type":
        return f"must be a string, got {_short(value)}"
    if kind in {"model_type", "dict_type"}:
        return f"must be an object, got {_short(value)}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {_short(value)})"


def _first_error(exc: ValidationError) -> dict[str, Any]:
    """The error to report: the first location's, preferring a range error over the other number
    branch's type error (`-1.5` is "not >= 0", not "not an integer")."""
    errors = exc.errors(include_url=False)
    base = _field_path(tuple(errors[0]["loc"]))
    same = [e for e in errors if _field_path(tuple(e["loc"])) == base]
    return next((e for e in same if e["type"] not in {"int_type", "float_type"}), errors[0])


def _lenient_loads(raw: bytes) -> Any:
    """Parse for an error message: orjson, or the standard library for what orjson refuses (NaN,
    Infinity, integers beyond 64 bits)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        import json

        return json.loads(raw)


def _validation_message(display: str, filename: str, raw: bytes, exc: ValidationError) -> str:
    error = _first_error(exc)
    if error["type"] == "json_invalid":
        return f"{display}: not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')}); {_RESET_HINT}"
    loc = tuple(error["loc"])
    list_key = _LIST_KEY[filename]
    if not loc or loc[0] != list_key or len(loc) == 1:
        if error["type"] == "model_type" and not loc:
            return f"{display}: top level must be an object with a {list_key!r} list; {_RESET_HINT}"
        return f"{display}: {_field_path(loc) or 'top level'} {_describe_error(error)}; {_RESET_HINT}"
    index = loc[1]
    where = f"record #{index + 1}"
    with contextlib.suppress(Exception):  # naming the record is best effort
        record = _lenient_loads(raw)[list_key][index]
        ident = record.get(_ID_KEY[filename]) if isinstance(record, dict) else None
        if isinstance(ident, str) and ident.isprintable() and len(ident) <= 40:
            where += f" ({_ID_KEY[filename]} {ident})"
    field_path = _field_path(loc[2:])
    if not field_path:
        return f"{display}: {where} {_describe_error(error)}; {_RESET_HINT}"
    return f"{display}: {where}: field {field_path} {_describe_error(error)}; {_RESET_HINT}"


def parse_fleet_files(data_dir: Path) -> tuple[Fleet, dict[str, tuple[int, int, int]]]:
    """Read and validate the three files; return the fleet and the files' identities (for caching)."""
    raws: dict[str, bytes] = {}
    identities: dict[str, tuple[int, int, int]] = {}
    for filename in FLEET_FILES:
        path = data_dir / filename
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raws[filename] = fh.read()
        except FileNotFoundError:
            raise FleetDataError(_missing_message(path)) from None
        except OSError as exc:
            raise FleetDataError(f"{_display(path)} cannot be read: {exc.strerror}") from None
        identities[filename] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return validate_fleet(data_dir, raws), identities


def validate_fleet(data_dir: Path, raws: dict[str, bytes]) -> Fleet:
    """Validate the three files' bytes (consumed from `raws` to free memory early)."""
    with gc_paused():
        return _validate_fleet(data_dir, raws)


def _validate_fleet(data_dir: Path, raws: dict[str, bytes]) -> Fleet:
    parsed: dict[str, Any] = {}
    for filename in FLEET_FILES:
        raw = raws.pop(filename)
        try:
            model = _MODEL_FOR[filename].model_validate_json(raw)
        except ValidationError as exc:
            raise FleetDataError(
                _validation_message(_display(data_dir / filename), filename, raw, exc)
            ) from None
        duplicate = find_duplicate_key(raw, _parsed_keys(model, filename))
        if duplicate is not None:
            raise FleetDataError(_duplicate_message(_display(data_dir / filename), filename, model, duplicate))
        parsed[filename] = model
        del raw
    return _assemble(data_dir, parsed[INVENTORY_FILE], parsed[HEALTH_FILE], parsed[LIFE_FILE])


def _parsed_keys(document: BaseModel, filename: str) -> int:
    """How many keys a validated fleet file holds (compared with the bytes to find duplicates)."""
    def of(record: BaseModel) -> int:
        extra = record.__pydantic_extra__
        return len(record.model_fields_set) + (json_key_count(extra) - len(extra) if extra else 0)

    total = of(document)
    for record in getattr(document, _LIST_KEY[filename]):
        total += of(record)
        if isinstance(record, InventoryRecord):
            total += sum(of(alert) for alert in record.alerts)
        elif isinstance(record, HealthRecord):
            total += sum(map(len, record.recent_readings))
    return total


def _duplicate_message(display: str, filename: str, document: BaseModel, duplicate: DuplicateKey) -> str:
    list_key = _LIST_KEY[filename]
    path = duplicate.path
    if not path:
        what = (f"the top-level key {duplicate.key!r} appears twice (the second would silently replace the first)"
                if duplicate.key == list_key else f"the top-level key {duplicate.key!r} appears twice")
        return f"{display}: {what}; merge or remove one, {_RESET_HINT}"
    where = f"{_field_path(path)}"
    if path[0] == list_key and len(path) >= 2 and isinstance(path[1], int):
        where = f"record #{path[1] + 1}"
        records = getattr(document, list_key)
        ident = getattr(records[path[1]], _ID_KEY[filename], None) if path[1] < len(records) else None
        if isinstance(ident, str) and ident.isprintable() and len(ident) <= 40:
            where += f" ({_ID_KEY[filename]} {ident})"
        if len(path) > 2:
            where += f": field {_field_path(path[2:])}"
    return f"{display}: {where}: duplicate key {duplicate.key!r} (only one value can be kept); remove one, {_RESET_HINT}"


def _missing_message(path: Path) -> str:
    return (
        f"{_display(path)} is missing; set DATA_DIR to a fleet directory or restore the default "
        f"fleet with --reset-data"
    )


_MODEL_FOR = {INVENTORY_FILE: InventoryFile, HEALTH_FILE: HealthFile, LIFE_FILE: LifeFile}


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def _assemble(data_dir: Path, inv: InventoryFile, hm: HealthFile, le: LifeFile) -> Fleet:
    inventory: dict[str, InventoryRecord] = {}
    for index, rec in enumerate(inv.infrastructure_inventory):
        if rec.id in inventory:
            raise FleetDataError(
                f"{_display(data_dir / INVENTORY_FILE)}: record #{index + 1}: duplicate id {_short(rec.id, 40)} "
                f"(ids must be unique); {_RESET_HINT}"
            )
        inventory[rec.id] = rec
    health: dict[str, HealthRecord] = {}

    def where(index: int, h: HealthRecord) -> str:  # only built for the error (resolve() is slow)
        return f"{_display(data_dir / HEALTH_FILE)}: record #{index + 1} (equipment_id {_short(h.equipment_id, 40)})"

    for index, h in enumerate(hm.health_metrics):
        if h.equipment_id not in inventory:
            raise FleetDataError(
                f"{where(index, h)}: readings for unknown device (not in {INVENTORY_FILE}); "
                f"{_RESET_HINT}"
            )
        if h.equipment_id in health:
            raise FleetDataError(f"{where(index, h)}: duplicate equipment_id; {_RESET_HINT}")
        health[h.equipment_id] = h
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(le.equipment_life_expectancy):
        key = (item.vendor, item.model)
        if key in seen:
            raise FleetDataError(
                f"{_display(data_dir / LIFE_FILE)}: record #{index + 1}: duplicate entry for vendor "
                f"{_short(item.vendor, 40)} model {_short(item.model, 40)}; {_RESET_HINT}"
            )
        seen.add(key)
    extras = {
        INVENTORY_FILE: dict(inv.__pydantic_extra__ or {}),
        HEALTH_FILE: dict(hm.__pydantic_extra__ or {}),
        LIFE_FILE: dict(le.__pydantic_extra__ or {}),
    }
    return Fleet(inventory, health, list(le.equipment_life_expectancy), extras)


# ---------------------------------------------------------------------------------------------
# the store


@dataclass
class _Cache:
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
            if change.outcome in _PROBLEMS and change.equipment_id and change.action:
                self.last_problem[(change.equipment_id, change.action)] = change


class FleetStore:
    """Load, validate, change (under a cross-process lock) and reset one data directory."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS,
                 while_waiting: Callable[[], None] | None = None) -> None:
        """`while_waiting` is called about every `LOCK_WAIT_SLICE` seconds while the lock is busy, in the
        waiting thread (an activity heartbeats there, so a long wait does not look like a dead worker)."""
        self.data_dir = Path(data_dir)
        self._while_waiting = while_waiting
        self.state_dir = self.data_dir / STATE_DIRNAME
        self.audit_path = self.state_dir / AUDIT_FILE
        self.mark_path = self.state_dir / MARK_FILE
        self.health_state_path = self.state_dir / HEALTH_STATE_FILE
        self._lock_timeout = lock_timeout
        self._lock: FileLock | None = None
        self._mutex = threading.RLock()
        self._cache: _Cache | None = None

    # -- locking ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock: threads of this process queue on a mutex (woken at once), and only
        the holder takes the cross-process file lock (which other processes poll for)."""
        if not self.data_dir.is_dir():
            raise FleetDataError(f"data directory {self.data_dir} does not exist; set DATA_DIR or use --reset-data")
        self.state_dir.mkdir(exist_ok=True)
        if self._lock is None:
            self._lock = FileLock(self.state_dir / LOCK_FILE, timeout=self._lock_timeout, poll_interval=0.005)
        acquired = False
        deadline = time.monotonic() + self._lock_timeout
        try:
            while not (acquired := self._mutex.acquire(timeout=self._slice(deadline))):
                self._waited(deadline)
            while True:
                try:
                    self._lock.acquire(timeout=self._slice(deadline))
                    break
                except Timeout:
                    self._waited(deadline)
            try:
                yield
            finally:
                self._lock.release()
        except Timeout:
            raise StoreBusy(
                f"the fleet store in {self.data_dir} stayed locked for {self._lock_timeout:.0f} s; "
                f"another agent process is writing, retry shortly"
            ) from None
        finally:
            if acquired:  # released even when an activity is cancelled by an exception raised into its thread
                self._mutex.release()

    # -- reading ------------------------------------------------------------------------------
    def load(self) -> Fleet:
        """A validated snapshot of the fleet including committed changes not yet compacted."""
        with self.locked():
            mark = self._read_mark()
            log_end = self._log_size()
            handles = {}
            for name in FLEET_FILES:
                try:
                    handles[name] = open(self.data_dir / name, "rb")
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    for fh in handles.values():
                        fh.close()
                    raise FleetDataError(f"{_display(self.data_dir / name)} cannot be read: {exc.strerror}; "
                                         f"{_RESET_HINT}") from None
        # Parse outside the lock: open handles keep the files we chose even if they are replaced.
        try:
            missing = [n for n in FLEET_FILES if n not in handles]
            if missing:
                raise FleetDataError(_missing_message(self.data_dir / missing[0]))
            fleet = validate_fleet(self.data_dir, {n: fh.read() for n, fh in handles.items()})
        finally:
            for fh in handles.values():
                fh.close()
        last = mark[0]
        for change in self._read_log(mark[1], log_end):
            _apply(fleet, change)
            last = change.seq
        fleet.applied_seq = last
        return fleet

    def snapshot(self) -> Fleet:
        """The current fleet from this process's cache (loaded once, then kept up to date from the
        journal): cheap for repeated runs in a long-lived worker. Read-only for the caller."""
        with self.locked():
            self._refresh()
            assert self._cache is not None
            fleet = self._cache.fleet
            return Fleet(dict(fleet.inventory), dict(fleet.health), list(fleet.life), fleet.file_extras,
                         fleet.applied_seq)

    def _read_mark(self) -> tuple[int, int]:
        try:
            mark = orjson.loads(self.mark_path.read_bytes())
            return int(mark["seq"]), int(mark["offset"])
        except FileNotFoundError:
            return 0, 0
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise FleetDataError(
                f"{self.mark_path} is corrupt; delete it to replay the whole audit log"
            ) from None

    def _log_size(self) -> int:
        try:
            return self.audit_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read_log(self, start: int, end: int, needle: bytes | None = None) -> Iterator[ChangeRecord]:
        """Committed records between byte offsets (only lines holding `needle`, if given); a torn
        final line (crash mid-append) is skipped, a damaged complete line stops with how to repair."""
        if end <= start:
            return
        with open(self.audit_path, "rb") as fh:
            fh.seek(start)
            chunk = fh.read(end - start)
        position = start
        for line in chunk.splitlines(keepends=True):
            if line.endswith(b"\n") and line.strip() and (needle is None or needle in line):
                try:
                    yield ChangeRecord.model_validate_json(line)
                except ValidationError as exc:
                    raise FleetDataError(self._damaged_line_message(position, exc)) from None
            position += len(line)

    def _damaged_line_message(self, offset: int, exc: ValidationError) -> str:
        with open(self.audit_path, "rb") as fh:
            number = fh.read(offset).count(b"\n") + 1
        error = exc.errors(include_url=False)[0]
        reason = "not valid JSON" if error["type"] == "json_invalid" else (
            f"{_field_path(tuple(error['loc'])) or 'the record'} {_describe_error(error)}")
        return (f"{self.audit_path}: line {number} is damaged ({reason}), and every run stops here because the log is "
                f"the record of what was done; with no run executing, move the damaged line aside with "
                f"`python -m maintenance_agent.store repair-audit {self.data_dir}` (or restore the file from a backup)")

    def repair_audit(self) -> list[int]:
        """Move damaged complete lines of the audit log to `audit.jsonl.damaged` and keep the rest;
        return their line numbers. The changes those lines recorded are no longer replayed."""
        with self.locked():
            try:
                content = self.audit_path.read_bytes()
            except FileNotFoundError:
                return []
            mark_seq, mark_offset = self._read_mark_lenient()
            kept: list[bytes] = []
            damaged: list[tuple[int, bytes]] = []
            new_mark_offset, position = 0, 0
            for number, line in enumerate(content.splitlines(keepends=True), start=1):
                start, position = position, position + len(line)
                if not line.endswith(b"\n"):
                    continue  # a torn last line: never committed
                try:
                    ChangeRecord.model_validate_json(line)
                except ValidationError:
                    damaged.append((number, line))
                    continue
                kept.append(line)
                if start < mark_offset:
                    new_mark_offset += len(line)
            if not damaged:
                return []
            with open(self.state_dir / f"{AUDIT_FILE}.damaged", "ab") as fh:
                fh.writelines(line for _, line in damaged)
                fh.flush()
                os.fsync(fh.fileno())
            atomic_write_bytes(self.audit_path, b"".join(kept))
            atomic_write_bytes(self.mark_path, orjson.dumps({"seq": mark_seq, "offset": new_mark_offset}))
            self._cache = None
            return [number for number, _ in damaged]

    def _read_mark_lenient(self) -> tuple[int, int]:
        try:
            return self._read_mark()
        except FleetDataError:
            return 0, 0

    # -- changing -----------------------------------------------------------------------------
    def _slice(self, deadline: float) -> float:
        return max(0.0, min(LOCK_WAIT_SLICE, deadline - time.monotonic())) if self._while_waiting else \
            max(0.0, deadline - time.monotonic())

    def _waited(self, deadline: float) -> None:
        """One slice of waiting for the lock is over: give up at the deadline, else say so and go on."""
        if time.monotonic() >= deadline:
            raise Timeout(str(self.state_dir / LOCK_FILE))
        if self._while_waiting is not None:
            self._while_waiting()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock the store, bring the cached state up to date and let the caller commit changes."""
        with self.locked():
            self._refresh()
            assert self._cache is not None
            yield Transaction(self, self._cache)

    def compact(self) -> int:
        """Rewrite the JSON files with every committed change; return the sequence number reached."""
        with self.locked():
            self._refresh()
            return self._compact_locked()

    def _refresh(self) -> None:
        """Under the lock: reload if the files were replaced, then replay the log's new lines."""
        mark = self._read_mark()
        identities = {}
        for name in FLEET_FILES:
            try:
                st = os.stat(self.data_dir / name)
                identities[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                identities[name] = (0, 0, 0)
        cache = self._cache
        if cache is None or cache.identities != identities or cache.mark != mark:
            fleet, identities = parse_fleet_files(self.data_dir)
            ledger = cache.ledger if cache else {}
            ledger_offset = cache.ledger_offset if cache else 0
            cache = _Cache(fleet, identities, mark, mark[1], mark[0], ledger, ledger_offset,
                           cache.run_outcomes if cache else {}, cache.last_problem if cache else {})
            self._cache = cache
            keep_out_of_gc(len(fleet.inventory))
        end = self._log_size()
        if end < cache.ledger_offset:  # the log was replaced (a repair): start over
            cache.ledger, cache.ledger_offset, cache.run_outcomes, cache.last_problem = {}, 0, {}, {}
        if cache.ledger_offset < end:
            for change in self._read_log(cache.ledger_offset, end):
                cache.index(change)
                if change.seq > cache.last_seq:
                    cache.last_seq = change.seq
            cache.ledger_offset = self._complete_offset(end)
        if cache.log_offset < end:
            for change in self._read_log(cache.log_offset, end):
                _apply(cache.fleet, change)
            cache.log_offset = self._complete_offset(end)
        cache.fleet.applied_seq = cache.last_seq

    def _complete_offset(self, end: int) -> int:
        """Offset just after the last complete line at or before `end`."""
        with open(self.audit_path, "rb") as fh:
            pos = end
            while pos > 0:
                step = min(4096, pos)
                fh.seek(pos - step)
                block = fh.read(step)
                nl = block.rfind(b"\n")
                if nl >= 0:
                    return pos - step + nl + 1
                pos -= step
        return 0

    def _append(self, change: ChangeRecord) -> ChangeRecord:
        assert self._cache is not None
        if change.after is not None:
            _check_writable(change.after)
        self.state_dir.mkdir(exist_ok=True)
        change = change.model_copy(update={"seq": self._cache.last_seq + 1})
        line = change.model_dump_json(exclude_unset=True).encode() + b"\n"
        with open(self.audit_path, "ab+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":  # a crash left a torn line: cut it before appending
                    fh.truncate(self._complete_offset(size))
            fh.seek(0, os.SEEK_END)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            end = fh.tell()
        self._cache.last_seq = change.seq
        self._cache.log_offset = self._cache.ledger_offset = end
        self._cache.index(change)
        _apply(self._cache.fleet, change)
        self._cache.fleet.applied_seq = change.seq
        return change

    def _compact_locked(self) -> int:
        assert self._cache is not None
        cache = self._cache
        if cache.mark == (cache.last_seq, cache.log_offset):
            return cache.last_seq
        fleet = cache.fleet
        inv = {**fleet.file_extras.get(INVENTORY_FILE, {}),
               "infrastructure_inventory": [_dump(r) for r in fleet.inventory.values()]}
        hm = {**fleet.file_extras.get(HEALTH_FILE, {}),
              "health_metrics": [_dump(r) for r in fleet.health.values()]}
        # Key order: the list first, as the files have it, then any extra top-level keys.
        inv = {"infrastructure_inventory": inv.pop("infrastructure_inventory"), **inv}
        hm = {"health_metrics": hm.pop("health_metrics"), **hm}
        for leftover in self.data_dir.glob(".*.json.*.tmp"):  # from a writer killed mid-write
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        atomic_write_bytes(self.data_dir / INVENTORY_FILE, dump_json(inv))
        atomic_write_bytes(self.data_dir / HEALTH_FILE, dump_json(hm))
        mark = (cache.last_seq, cache.log_offset)
        atomic_write_bytes(self.mark_path, orjson.dumps({"seq": mark[0], "offset": mark[1]}))
        cache.mark = mark
        for name in (INVENTORY_FILE, HEALTH_FILE):
            st = os.stat(self.data_dir / name)
            cache.identities[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
        return mark[0]

    def run_outcomes(self, run_id: str) -> dict[str, int]:
        """How many of this run's actions are recorded with each outcome (from the ledger)."""
        with self.locked():
            self._refresh()
            assert self._cache is not None
            return dict(self._cache.run_outcomes.get(run_id, {}))

    def ledger_for(self, run_id: str) -> list[ChangeRecord]:
        """Every recorded action outcome of one run, in commit order (reads the log, not the fleet)."""
        with self.locked():
            end = self._log_size()
        found: dict[str, ChangeRecord] = {}
        for change in self._read_log(0, end, needle=b'"run_id":' + orjson.dumps(run_id)):
            if change.run_id == run_id and change.action_id:
                found.setdefault(change.action_id, change)
        return sorted(found.values(), key=lambda c: c.seq)

    # -- single-use proofs -------------------------------------------------------------------
    def use_proof(self, nonce: str, used_by: str, *, keep_until: datetime, now: datetime) -> bool:
        """Record that `used_by` uses the signed request with this nonce: False if another already did
        (a signature copied from workflow history). Entries go once no signature that old is accepted."""
        path = self.state_dir / USED_PROOFS_FILE
        with self.locked():
            try:
                used = orjson.loads(path.read_bytes())
            except (FileNotFoundError, orjson.JSONDecodeError):
                used = {}
            used = {n: u for n, u in used.items() if datetime.fromisoformat(u["until"]) > now}
            if nonce in used:
                return used[nonce]["by"] == used_by  # a retry of the same run goes on
            used[nonce] = {"by": used_by, "until": keep_until.isoformat()}
            atomic_write_bytes(path, orjson.dumps(used))
            return True

    # -- health states -----------------------------------------------------------------------
    def read_health_states(self, run_id: str | None = None) -> dict[str, str]:
        """Each device's health state as the last run left it. For `run_id`, the states before that run
        wrote its own: a retried detection reads what its first attempt read, not its own output (which
        would let the no-jump rule escalate a held-back `stressed` to `critical`)."""
        doc = self._health_doc()
        if run_id is not None and doc.get("run_id") == run_id:
            doc = doc.get("before") if isinstance(doc.get("before"), dict) else {}
        devices = doc.get("devices", {})
        return {str(k): str(v) for k, v in devices.items()} if isinstance(devices, dict) else {}

    def _health_doc(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.health_state_path.read_bytes())
        except FileNotFoundError:
            return {}
        except orjson.JSONDecodeError:
            log.warning("%s is corrupt; treating every device as having no previous state", self.health_state_path)
            return {}
        return data if isinstance(data, dict) else {}

    def write_health_states(self, states: dict[str, str], run_id: str) -> None:
        """Record this run's states, keeping the ones it started from (see `read_health_states`)."""
        with self.locked():
            current = self._health_doc()
            if current.get("run_id") == run_id:  # a retry: the states before this run stay the same
                before = current.get("before") if isinstance(current.get("before"), dict) else {}
            else:
                before = {"run_id": current.get("run_id"), "devices": current.get("devices", {})}
            atomic_write_bytes(
                self.health_state_path,
                orjson.dumps({"run_id": run_id, "devices": states, "before": before}, option=orjson.OPT_SORT_KEYS),
            )

    # -- reset --------------------------------------------------------------------------------
    def reset(self, pristine_dir: Path, actor: str) -> None:
        """Restore the fleet files from `pristine_dir`; older journal entries are not replayed."""
        with self.locked():
            # Validate the source before touching anything.
            parse_fleet_files(pristine_dir)
            for name in FLEET_FILES:
                atomic_write_bytes(self.data_dir / name, (pristine_dir / name).read_bytes())
            self._cache = None
            self._refresh()
            assert self._cache is not None
            change = self._append(ChangeRecord(at=datetime.now(UTC), actor=actor, outcome="reset",
                                               detail=f"fleet restored from {pristine_dir}"))
            atomic_write_bytes(self.mark_path, orjson.dumps({"seq": change.seq, "offset": self._cache.log_offset}))
            with contextlib.suppress(FileNotFoundError):
                self.health_state_path.unlink()
            self._cache = None


class Transaction:
    """The caller's view inside `FleetStore.transaction()`: read current state, commit changes."""

    def __init__(self, store: FleetStore, cache: _Cache) -> None:
        self._store = store
        self._cache = cache

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

    # Leases: an operation that takes time outside the store lock (a real device being restarted)
    # holds its site and device in leases.json, so no other run starts a disruptive operation there
    # meanwhile. A lease expires unless renewed, so a dead worker's lease does not block for ever;
    # the same holder (a retry of the same action) takes its own lease back at once.
    def take_leases(self, keys: list[str], holder: str, *, ttl_seconds: float, now: float) -> str | None:
        """Take every lease in `keys` for `holder`, or none: None when taken, else who holds one."""
        leases = self._read_leases(now)
        for key in keys:
            current = leases.get(key)
            if current is not None and current["holder"] != holder:
                return f"{key.partition(':')[2]} is busy with {current['holder']}"
        for key in keys:
            leases[key] = {"holder": holder, "expires": now + ttl_seconds}
        self._write_leases(leases)
        return None

    def release_leases(self, holder: str, *, now: float) -> None:
        leases = self._read_leases(now)
        kept = {key: lease for key, lease in leases.items() if lease["holder"] != holder}
        if len(kept) != len(leases):
            self._write_leases(kept)

    def _read_leases(self, now: float) -> dict[str, dict[str, Any]]:
        try:
            leases = orjson.loads((self._store.state_dir / LEASES_FILE).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return {key: lease for key, lease in leases.items() if lease.get("expires", 0) > now}

    def _write_leases(self, leases: dict[str, dict[str, Any]]) -> None:
        atomic_write_bytes(self._store.state_dir / LEASES_FILE, orjson.dumps(leases, option=orjson.OPT_SORT_KEYS))

    def commit(self, change: ChangeRecord) -> ChangeRecord:
        """Append `change` (fsync'd); its `after` state becomes the device's current state."""
        committed = self._store._append(change)
        return committed


_PROBLEMS = frozenset({Outcome.FAILED.value, Outcome.ROLLED_BACK.value})


def _apply(fleet: Fleet, change: ChangeRecord) -> None:
    after = change.after
    if after is None:
        return
    inv = after.inventory
    if inv.id in fleet.inventory:
        fleet.inventory[inv.id] = inv
    if after.health is not None and inv.id in fleet.inventory:
        fleet.health[inv.id] = after.health


def _check_writable(state: DeviceState) -> None:
    """Refuse a change the fleet files could never receive (a number beyond what they hold, a value
    their own validation would refuse): committed to the log, it would make every rewrite fail."""
    import json

    for record, model in ((state.inventory, InventoryRecord), (state.health, HealthRecord)):
        if record is None:
            continue
        data = _dump(record)
        try:
            json.dumps(data, allow_nan=False)
            model.model_validate_json(orjson.dumps(data))
        except (ValueError, TypeError, orjson.JSONEncodeError) as exc:
            ident = state.inventory.id
            raise FleetDataError(f"the new state of {ident} cannot be written to the fleet files ({exc}); "
                                 f"nothing was committed") from None


def _dump(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_unset=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m maintenance_agent.store repair-audit [DATA_DIR]`: the recovery the load errors name."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m maintenance_agent.store",
                                     description="Maintenance of a fleet store's own files.")
    parser.add_argument("command", choices=["repair-audit"])
    parser.add_argument("data_dir", nargs="?", help="the fleet directory (default: DATA_DIR from the settings)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        from .config import ConfigError, load_settings

        try:
            data_dir = load_settings().data_dir
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        data_dir = Path(args.data_dir)
    try:
        moved = FleetStore(data_dir).repair_audit()
    except (FleetDataError, StoreBusy, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not moved:
        print(f"{data_dir / STATE_DIRNAME / AUDIT_FILE}: no damaged line, nothing changed", file=sys.stderr)
    else:
        print(f"moved {len(moved)} damaged line(s) (line {', '.join(map(str, moved))}) to "
              f"{data_dir / STATE_DIRNAME / AUDIT_FILE}.damaged; the changes they recorded are no longer replayed, "
              f"so check those devices in the fleet files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
