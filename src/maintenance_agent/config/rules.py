"""Reading RULES_FILE: the rules' model and defaults live in models/rules.py; this is the file I/O."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..models.rules import Rules


class RulesError(Exception):
    """RULES_FILE is missing or invalid: one line naming the file and the field."""


def load_rules(path: Path | None) -> Rules:
    """Rules from a JSON file (any subset of fields), or the defaults."""
    if path is None:
        return Rules()
    try:
        return Rules.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise RulesError(f"RULES_FILE={path} does not exist; create it or unset RULES_FILE") from None
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        raise RulesError(f"RULES_FILE={path}: {where}: {err['msg']}") from None
