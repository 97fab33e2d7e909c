"""The journal: the append-only audit log (one fsync'd line per change, the commit point and the
idempotency ledger) and its compaction mark (how much of the log the JSON files already contain).

The caller holds the store lock for everything here but reading lines it has already seen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
from pydantic import ValidationError

from .files import atomic_write_bytes
from .records import AUDIT_FILE, MARK_FILE, ChangeRecord, FleetDataError
from .validation import describe_error, field_path


class Journal:
    """`audit.jsonl` and `compacted.json` in a store's state directory."""

    def __init__(self, state_dir: Path, data_dir: Path) -> None:
        self.state_dir = state_dir
        self.audit_path = state_dir / AUDIT_FILE
        self.mark_path = state_dir / MARK_FILE
        self._data_dir = data_dir

    # -- the compaction mark --------------------------------------------------------------------
    def read_mark(self) -> tuple[int, int]:
        """(seq, byte offset) the JSON files contain; (0, 0) before the first compaction."""
        try:
            mark = orjson.loads(self.mark_path.read_bytes())
            return int(mark["seq"]), int(mark["offset"])
        except FileNotFoundError:
            return 0, 0
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise FleetDataError(
                f"{self.mark_path} is corrupt; delete it to replay the whole audit log"
            ) from None

    def write_mark(self, seq: int, offset: int) -> None:
        atomic_write_bytes(self.mark_path, orjson.dumps({"seq": seq, "offset": offset}))

    # -- reading --------------------------------------------------------------------------------
    def size(self) -> int:
        try:
            return self.audit_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, start: int, end: int, needle: bytes | None = None) -> Iterator[ChangeRecord]:
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
            f"{field_path(tuple(error['loc'])) or 'the record'} {describe_error(error)}")
        return (f"{self.audit_path}: line {number} is damaged ({reason}), and every run stops here because the log is "
                f"the record of what was done; with no run executing, move the damaged line aside with "
                f"`python -m maintenance_agent.store repair-audit {self._data_dir}` (or restore the file from a backup)")

    def complete_offset(self, end: int) -> int:
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

    # -- writing --------------------------------------------------------------------------------
    def append(self, change: ChangeRecord) -> int:
        """Append one record as one fsync'd line (the commit point); return the log's new end."""
        self.state_dir.mkdir(exist_ok=True)
        line = change.model_dump_json(exclude_unset=True).encode() + b"\n"
        with open(self.audit_path, "ab+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":  # a crash left a torn line: cut it before appending
                    fh.truncate(self.complete_offset(size))
            fh.seek(0, os.SEEK_END)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()

    def repair(self) -> list[int]:
        """Move damaged complete lines to `audit.jsonl.damaged`, keep the rest and the mark on the same
        change; return their line numbers. The changes those lines recorded are no longer replayed."""
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
        self.write_mark(mark_seq, new_mark_offset)
        return [number for number, _ in damaged]

    def _read_mark_lenient(self) -> tuple[int, int]:
        try:
            return self.read_mark()
        except FleetDataError:
            return 0, 0
