"""The one mapping of the store's and the artifacts' errors to Temporal's: what escapes an activity.

Bad fleet data (or a run artifact that cannot be read) fails the activity for good, with its one-line
message: retrying cannot fix a file a person must fix. A busy store is retried."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.exceptions import ApplicationError

from ..artifacts import ArtifactError
from ..store import FleetDataError, StoreBusy


def non_retryable(exc: Exception, kind: str) -> ApplicationError:
    """`exc`'s message as a failure Temporal does not retry, of type `kind`."""
    return ApplicationError(str(exc), type=kind, non_retryable=True)


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Around every use of the fleet store: FleetDataError is final, StoreBusy is retried."""
    try:
        yield
    except FleetDataError as exc:
        raise non_retryable(exc, "FleetDataError") from None
    except StoreBusy as exc:
        raise ApplicationError(str(exc), type="StoreBusy") from None


@contextlib.contextmanager
def artifact_errors() -> Iterator[None]:
    """Around reading a run artifact: a missing or unreadable one is final (the run must be re-run)."""
    try:
        yield
    except ArtifactError as exc:
        raise non_retryable(exc, "ArtifactError") from None
