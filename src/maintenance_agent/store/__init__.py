"""The fleet store: three JSON files, validated on load, changed only through an audited journal.

Layout of a data directory::

    infrastructure_inventory.json   health_metrics.json   equipment_life_expectancy.json
    .agent/store.lock      cross-process lock (filelock) serializing every change
    .agent/audit.jsonl     append-only change log: one fsync'd line per change (who, what, before, after)
    .agent/compacted.json  how much of the log the JSON files already contain (seq + byte offset)
    .agent/health_state.json  each device's health state at the previous run
    .agent/leases.json     which run holds a site or device for an operation in progress (see Transaction)
    .agent/used_proofs.json  signed starts already used, until they are too old to be accepted anyway

A change is committed by appending one line to `audit.jsonl` under the lock; that single append is
the commit point, so a crash either keeps the whole change or none of it, and the same line is the
idempotency ledger entry for `(run_id, action_id)`. The JSON files are rewritten from the current
state ("compaction", temp file + fsync + rename) once at the end of each run's execution, so a
repair costs one fsync'd append, not a rewrite of a fleet that may hold 100,000 devices.

Modules: `records` (file names, errors, the change record, the fleet view), `files` (atomic writes,
the lock), `validation` (the fleet files' checks and their one-line errors), `journal` (the audit
log and its mark), `bookkeeping` (leases, health states, used proofs), `transaction` and
`fleet_store` (the facade). `python -m maintenance_agent.store repair-audit` is in `__main__`.
"""

from .files import LOCK_TIMEOUT_SECONDS, LOCK_WAIT_SLICE, atomic_write_bytes, dump_json
from .fleet_store import FleetStore
from .records import (
    AUDIT_FILE,
    HEALTH_STATE_FILE,
    LEASES_FILE,
    LOCK_FILE,
    MARK_FILE,
    STATE_DIRNAME,
    USED_PROOFS_FILE,
    ChangeRecord,
    Fleet,
    FleetDataError,
    StoreBusy,
)
from .transaction import Transaction
from .validation import parse_fleet_files, validate_fleet

__all__ = [
    "AUDIT_FILE", "HEALTH_STATE_FILE", "LEASES_FILE", "LOCK_FILE", "LOCK_TIMEOUT_SECONDS", "LOCK_WAIT_SLICE",
    "MARK_FILE", "STATE_DIRNAME", "USED_PROOFS_FILE", "ChangeRecord", "Fleet", "FleetDataError", "FleetStore",
    "StoreBusy", "Transaction", "atomic_write_bytes", "dump_json", "parse_fleet_files", "validate_fleet",
]
