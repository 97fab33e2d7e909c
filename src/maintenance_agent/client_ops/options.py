"""What a client may choose for a run or the proactive agent, and what comes from its settings.

Every entry point takes its options into a model that forbids unknown names: `auto_aprove=True`
is an error, not a run that quietly waits for an approval nobody expects.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from ..config import Settings
from ..core.approval import auto_approval_refusal
from ..identity import KeyFileError, Signer
from ..models.proactive import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES, ProactiveInput
from ..models.run import MaintenanceInput, PolicyOptions, RunOptions
from .errors import ErrorCode, OperationError

M = TypeVar("M", bound=BaseModel)


class ProactiveOptions(PolicyOptions):
    """What a client may choose for the proactive agent (the rest comes from its settings)."""

    interval_minutes: float = Field(15, ge=MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES)
    auto_execute_routine: bool = True
    callback_url: str | None = None
    notify_timeout_seconds: float | None = Field(None, gt=0, le=120)
    continue_as_new_after_cycles: int | None = Field(None, ge=1)


def auto_approve_refusal(settings: Settings) -> str | None:
    """Why this user may not auto-approve under these settings' policy, or None (checked again by the run
    against its worker's policy: this is only to say so before anything starts)."""
    return auto_approval_refusal(settings.user_name, settings.approval_policy())


def signer(settings: Settings) -> Signer | None:
    """USER_NAME's signer when APPROVER_KEY_FILE is set (what proves who starts and decides)."""
    if settings.approver_key_file is None:
        return None
    try:
        return Signer.from_file(settings.user_name, settings.approver_key_file)
    except KeyFileError as exc:
        raise OperationError(str(exc), code=ErrorCode.KEY_FILE) from None


def option_names(model: type[BaseModel]) -> list[str]:
    """The options of `model`, its own first (those of the run or the agent), then the shared policy ones."""
    own = [name for name in vars(model).get("__annotations__", {}) if name in model.model_fields]
    return own + [name for name in model.model_fields if name not in own]


def parse_options(model: type[M], what: str, options: dict[str, Any]) -> M:
    """`options` as `model`, or an `OperationError` naming the first unknown or invalid one."""
    try:
        return model(**options)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise OperationError(f"unknown {what} option {name!r}; the options are {', '.join(option_names(model))}",
                                 code=ErrorCode.BAD_OPTION, option=name) from None
        raise OperationError(f"{what} option {name}: {first['msg']}", code=ErrorCode.BAD_OPTION, option=name) from None


def _from_settings(settings: Settings, chosen: BaseModel, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Starter, approval policy, approval timeout and circuit breaker from settings; what was chosen
    (and not None) overrides them."""
    given = {name: getattr(chosen, name) for name in chosen.model_fields_set - skip
             if getattr(chosen, name) is not None}
    policy = settings.approval_policy().model_dump(include={"approvers", "require_distinct_approver"})
    return {"started_by": settings.user_name, **policy,
            "approval_timeout_seconds": settings.approval_timeout_hours * 3600,
            "max_failures": settings.max_failures, **given}


def run_input(settings: Settings, **options: Any) -> MaintenanceInput:
    """The start input of a run, from settings and per-run options (`RunOptions`)."""
    chosen = parse_options(RunOptions, "run", options)
    values = _from_settings(settings, chosen)
    values.setdefault("advisor", settings.llm_enabled)
    return MaintenanceInput(**values)


def proactive_input(settings: Settings, **options: Any) -> ProactiveInput:
    """The start input of the proactive agent, from settings and its options (`ProactiveOptions`)."""
    chosen = parse_options(ProactiveOptions, "proactive agent", options)
    values = _from_settings(settings, chosen, skip=frozenset({"interval_minutes", "auto_execute_routine",
                                                              "callback_url"}))
    values.update(interval_seconds=chosen.interval_minutes * 60, auto_execute_routine=chosen.auto_execute_routine,
                  callback_url=chosen.callback_url)
    try:
        return ProactiveInput(**values)
    except ValidationError as exc:  # a combination the agent's own input refuses
        first = exc.errors(include_url=False)[0]
        raise OperationError(f"proactive agent option {'.'.join(map(str, first['loc']))}: {first['msg']}",
                             code=ErrorCode.BAD_OPTION) from None
