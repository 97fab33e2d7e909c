"""Validation of the three fleet files, with one-line errors that name file, record and field."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..models.fleet import (
    FLEET_FILES,
    FLOAT_LIMIT,
    HEALTH_FILE,
    INVENTORY_FILE,
    LIFE_FILE,
    HealthFile,
    HealthRecord,
    InventoryFile,
    InventoryRecord,
    LifeFile,
)
from ..perf import gc_paused
from ..strict_json import DuplicateKey, find_duplicate_key, json_key_count
from .records import RESET_HINT, Fleet, FleetDataError

_TYPE_TAGS = re.compile(r"^(int|float|str|bool|date|datetime|none|list|dict|function-.*|constrained-.*)$")
_LIST_KEY = {INVENTORY_FILE: "infrastructure_inventory", HEALTH_FILE: "health_metrics",
             LIFE_FILE: "equipment_life_expectancy"}
_ID_KEY = {INVENTORY_FILE: "id", HEALTH_FILE: "equipment_id", LIFE_FILE: "model"}


def field_path(loc: tuple[Any, ...]) -> str:
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


def describe_error(error: ErrorDetails) -> str:
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


def _first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report: the first location's, preferring a range error over the other number
    branch's type error (`-1.5` is "not >= 0", not "not an integer")."""
    errors = exc.errors(include_url=False)
    base = field_path(tuple(errors[0]["loc"]))
    same = [e for e in errors if field_path(tuple(e["loc"])) == base]
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
        return f"{display}: not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')}); {RESET_HINT}"
    loc = tuple(error["loc"])
    list_key = _LIST_KEY[filename]
    if not loc or loc[0] != list_key or len(loc) == 1:
        if error["type"] == "model_type" and not loc:
            return f"{display}: top level must be an object with a {list_key!r} list; {RESET_HINT}"
        return f"{display}: {field_path(loc) or 'top level'} {describe_error(error)}; {RESET_HINT}"
    index = int(loc[1])  # a record of the list: pydantic names it by its position
    where = f"record #{index + 1}"
    with contextlib.suppress(Exception):  # naming the record is best effort
        record = _lenient_loads(raw)[list_key][index]
        ident = record.get(_ID_KEY[filename]) if isinstance(record, dict) else None
        if isinstance(ident, str) and ident.isprintable() and len(ident) <= 40:
            where += f" ({_ID_KEY[filename]} {ident})"
    inner = field_path(loc[2:])
    if not inner:
        return f"{display}: {where} {describe_error(error)}; {RESET_HINT}"
    return f"{display}: {where}: field {inner} {describe_error(error)}; {RESET_HINT}"


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
            raise FleetDataError(missing_message(path)) from None
        except OSError as exc:
            raise FleetDataError(f"{display_path(path)} cannot be read: {exc.strerror}") from None
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
                _validation_message(display_path(data_dir / filename), filename, raw, exc)
            ) from None
        duplicate = find_duplicate_key(raw, _parsed_keys(model, filename))
        if duplicate is not None:
            raise FleetDataError(_duplicate_message(display_path(data_dir / filename), filename, model, duplicate))
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
        return f"{display}: {what}; merge or remove one, {RESET_HINT}"
    where = f"{field_path(path)}"
    if path[0] == list_key and len(path) >= 2 and isinstance(path[1], int):
        where = f"record #{path[1] + 1}"
        records = getattr(document, list_key)
        ident = getattr(records[path[1]], _ID_KEY[filename], None) if path[1] < len(records) else None
        if isinstance(ident, str) and ident.isprintable() and len(ident) <= 40:
            where += f" ({_ID_KEY[filename]} {ident})"
        if len(path) > 2:
            where += f": field {field_path(path[2:])}"
    return f"{display}: {where}: duplicate key {duplicate.key!r} (only one value can be kept); remove one, {RESET_HINT}"


def missing_message(path: Path) -> str:
    return (
        f"{display_path(path)} is missing; set DATA_DIR to a fleet directory or restore the default fleet"
    )


_MODEL_FOR: dict[str, type[BaseModel]] = {INVENTORY_FILE: InventoryFile, HEALTH_FILE: HealthFile, LIFE_FILE: LifeFile}


def display_path(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def _assemble(data_dir: Path, inv: InventoryFile, hm: HealthFile, le: LifeFile) -> Fleet:
    inventory: dict[str, InventoryRecord] = {}
    for index, rec in enumerate(inv.infrastructure_inventory):
        if rec.id in inventory:
            raise FleetDataError(
                f"{display_path(data_dir / INVENTORY_FILE)}: record #{index + 1}: duplicate id {_short(rec.id, 40)} "
                f"(ids must be unique); {RESET_HINT}"
            )
        inventory[rec.id] = rec
    health: dict[str, HealthRecord] = {}

    def where(index: int, h: HealthRecord) -> str:  # only built for the error (resolve() is slow)
        return f"{display_path(data_dir / HEALTH_FILE)}: record #{index + 1} (equipment_id {_short(h.equipment_id, 40)})"

    for index, h in enumerate(hm.health_metrics):
        if h.equipment_id not in inventory:
            raise FleetDataError(
                f"{where(index, h)}: readings for unknown device (not in {INVENTORY_FILE}); "
                f"{RESET_HINT}"
            )
        if h.equipment_id in health:
            raise FleetDataError(f"{where(index, h)}: duplicate equipment_id; {RESET_HINT}")
        health[h.equipment_id] = h
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(le.equipment_life_expectancy):
        key = (item.vendor, item.model)
        if key in seen:
            raise FleetDataError(
                f"{display_path(data_dir / LIFE_FILE)}: record #{index + 1}: duplicate entry for vendor "
                f"{_short(item.vendor, 40)} model {_short(item.model, 40)}; {RESET_HINT}"
            )
        seen.add(key)
    extras = {
        INVENTORY_FILE: dict(inv.__pydantic_extra__ or {}),
        HEALTH_FILE: dict(hm.__pydantic_extra__ or {}),
        LIFE_FILE: dict(le.__pydantic_extra__ or {}),
    }
    return Fleet(inventory, health, list(le.equipment_life_expectancy), extras)
