"""`ArtifactReaderWorkflow`: one page of a run's artifact, read by the worker that wrote it.

A client may run on another machine than the worker, so it never reads the worker's REPORTS_DIR
itself: it starts this workflow on the run's task queue, and a worker there reads the page.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from .activities import MaintenanceActivities
    from .models.activity_io import ArtifactPage, ReadArtifactInput

READ_TIMEOUT = timedelta(seconds=30)
READ_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=2),
                         maximum_attempts=3, non_retryable_error_types=["UnsafePath", "ArtifactMissing"])


@workflow.defn
class ArtifactReaderWorkflow:
    @workflow.run
    async def run(self, inp: ReadArtifactInput) -> ArtifactPage:
        return await workflow.execute_activity_method(
            MaintenanceActivities.read_run_artifact, inp, start_to_close_timeout=READ_TIMEOUT, retry_policy=READ_RETRY)
