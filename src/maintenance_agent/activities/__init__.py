"""Activities: every piece of I/O the workflows need. Each is small, idempotent and typed.

The worker owns its data and reports directories: activities work on the `DATA_DIR` and
`REPORTS_DIR` of the worker's own settings, never on paths a workflow input names; the run
folders an input refers to are resolved under REPORTS_DIR and refused if they lead outside it.

They are synchronous (file I/O and CPU-bound rules) and run in the worker's thread pool. Errors the
user must fix (a malformed data file, a plan that no longer exists) are raised as non-retryable
`ApplicationError`s with a one-line message (`errors`, the one mapping); anything else is retried.

Modules, by what they depend on: `pipeline` (detect, analyze, plan: the store and the pure core),
`advice` (the LLM), `execution` with `action_pipeline` (the store's transactions, ledger, leases),
`report` (the run folders), `notify` (HTTP), `approval` (keys, used proofs), `temporal` (the client);
`base` holds what they share and `maintenance` composes them into `MaintenanceActivities`.
"""

from .action_pipeline import EXECUTOR
from .approval import worker_approval_policy
from .maintenance import MaintenanceActivities
from .pipeline import plan_result
from .report import advisor_summary

__all__ = ["EXECUTOR", "MaintenanceActivities", "advisor_summary", "plan_result", "worker_approval_policy"]
