"""What JSON parsers let through and a fleet file must not hold: duplicate keys.

Every fast parser (orjson, pydantic's) keeps the last of two equal keys without a word, so a file
with two `infrastructure_inventory` lists loads with the second one, and the next rewrite drops the
first. The check has a fast path for the common case and an exact path behind it:

- fast: in JSON written by any ordinary serializer, every key is followed directly by `":`, and a
  string value can hold `":` only as the escape `\\":`. When the file has no `\\":` and no
  whitespace between a key and its colon, the number of `":` in the bytes is the number of keys
  written; if that equals the number of keys the parsed document holds, no key was dropped.
- exact: otherwise the standard library's parser walks the file with a hook on every object
  (several times slower, so only when the fast path cannot decide), and on a duplicate a second
  pass says where it is.

Non-finite and out-of-range numbers are refused by the models themselves (see `models.fleet`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_KEY_END = b'":'
_ESCAPED_QUOTE_COLON = b'\\":'
_SPACE_BEFORE_COLON = re.compile(rb'"[ \t\r\n]+:')


@dataclass(frozen=True)
class DuplicateKey:
    """Where a key occurs twice: `path` from the top (keys and list indexes) to the object."""

    path: tuple[str | int, ...]
    key: str


def json_key_count(value: Any) -> int:
    """Keys in a parsed JSON value (objects nested in lists and objects included)."""
    if isinstance(value, dict):
        return len(value) + sum(json_key_count(v) for v in value.values() if isinstance(v, (dict, list)))
    if isinstance(value, list):
        return sum(json_key_count(v) for v in value if isinstance(v, (dict, list)))
    return 0


def find_duplicate_key(raw: bytes, parsed_keys: int) -> DuplicateKey | None:
    """The first duplicate key in `raw`, or None. `parsed_keys` is how many keys the document holds
    once parsed (an undercount only costs the exact path; an overcount would hide a duplicate)."""
    if (raw.count(_KEY_END) == parsed_keys and _ESCAPED_QUOTE_COLON not in raw
            and _SPACE_BEFORE_COLON.search(raw) is None):
        return None
    return _exact(raw)


class _Found(Exception):
    pass


def _exact(raw: bytes) -> DuplicateKey | None:
    def cheap(pairs: list[tuple[str, Any]]) -> int:
        if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
            raise _Found
        return 0  # a placeholder: this pass only asks whether there is a duplicate, so keep memory low

    try:
        json.loads(raw, object_pairs_hook=cheap)
    except _Found:
        return _locate(raw)
    except ValueError:
        return None  # not valid JSON: the model's own error says so, with a better message
    return None


class _Flagged(dict[str, Any]):
    duplicate: str = ""


def _locate(raw: bytes) -> DuplicateKey | None:
    """Second pass on the error path: keep the document, flag the object holding the duplicate."""
    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                flagged = _Flagged(pairs)
                flagged.duplicate = key
                return flagged
            seen.add(key)
        return dict(pairs)

    document = json.loads(raw, object_pairs_hook=keep)
    return next(_walk(document, ()), None)


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[DuplicateKey]:
    if isinstance(value, _Flagged):
        yield DuplicateKey(path, value.duplicate)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
