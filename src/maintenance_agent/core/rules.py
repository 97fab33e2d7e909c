"""Loading the rules: the model and its defaults live in models/rules.py."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..models.rules import METRICS, REPEAT_HOLD_FLOOR_MINUTES, MetricThreshold, Rules

__all__ = ["METRICS", "REPEAT_HOLD_FLOOR_MINUTES", "MetricThreshold", "Rules", "RulesError", "load_rules"]


class RulesError(Exception):
    pass


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
