"""The payload converter every client and worker uses: Temporal's pydantic converter, except that a
start input that does not validate fails the workflow with one clear line.

Without this a raw client that starts a run with, say, `max_failures: 0` gets a workflow that never
starts and never fails: its first task fails to decode the input and is retried for ever. Only the
start inputs are treated so: an activity result that does not decode is a bug in this code, and its
task keeps retrying until a fixed worker picks it up.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.exceptions import ApplicationError

from .models.execution import SiteBatchInput
from .models.proactive import ProactiveInput
from .models.run import MaintenanceInput

START_INPUTS: tuple[type, ...] = (MaintenanceInput, ProactiveInput, SiteBatchInput)


def input_error(name: str, exc: ValidationError) -> str:
    """One line for a start input that does not validate: the first problem, where it is."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "the input"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"refusing to start: the input is not a valid {name}: {where}: {first.get('msg', 'invalid')}{more}"


class _StrictStartJSON(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as exc:
            if type_hint not in START_INPUTS:
                raise
            raise ApplicationError(input_error(type_hint.__name__, exc), type="BadStartInput",
                                   non_retryable=True) from None


class StartCheckingPayloadConverter(CompositePayloadConverter):
    """Temporal's default converters with JSON through pydantic (as `PydanticPayloadConverter`)."""

    def __init__(self) -> None:
        super().__init__(*(_StrictStartJSON() if isinstance(c, JSONPlainPayloadConverter) else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


data_converter = DataConverter(payload_converter_class=StartCheckingPayloadConverter)
