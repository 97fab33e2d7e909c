"""`MaintenanceActivities`: the one class a worker registers, composed of the activity groups.

Each group lives in its own module, beside what it depends on; the activity names are the method
names, the same as before the split (recorded histories and running workflows name them)."""

from __future__ import annotations

from .advice import AdviceActivities
from .approval import ApprovalActivities
from .execution import ExecutionActivities
from .notify import NotifyActivities
from .pipeline import PipelineActivities
from .report import ReportActivities
from .temporal import TemporalActivities


class MaintenanceActivities(PipelineActivities, AdviceActivities, ExecutionActivities, ReportActivities,
                            NotifyActivities, ApprovalActivities, TemporalActivities):
    """Activities bound to one worker process, its fleet store and its reports directory."""
