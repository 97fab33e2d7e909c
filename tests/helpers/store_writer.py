"""Run as a separate process by the store tests: commits changes, or dies half-way on purpose.

usage: store_writer.py DATA_DIR MODE [ARGS]
  commit RUN_ID ID1,ID2,...   set status="Maintenance-<RUN_ID>" on each device, one transaction each
  die-before-rename           commit one change, then SIGKILL itself just before the file rename
  die-mid-write               commit one change, then SIGKILL itself half-way through writing a file
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from maintenance_agent.models.fleet import DeviceState
from maintenance_agent.store import ChangeRecord, FleetStore
from maintenance_agent.store import files as store_files


def change_status(store: FleetStore, run_id: str, equipment_id: str, status: str) -> None:
    with store.transaction() as tx:
        current = tx.device(equipment_id)
        assert current is not None, equipment_id
        after = DeviceState(inventory=current.inventory.model_copy(update={"status": status}), health=current.health)
        tx.commit(ChangeRecord(at=datetime.now(UTC), actor="test", run_id=run_id, action_id=equipment_id,
                               equipment_id=equipment_id, outcome="succeeded", before=current, after=after))


def main() -> None:
    data_dir, mode = Path(sys.argv[1]), sys.argv[2]
    store = FleetStore(data_dir)
    if mode == "commit":
        run_id, ids = sys.argv[3], sys.argv[4].split(",")
        for eid in ids:
            change_status(store, run_id, eid, f"Maintenance-{run_id}")
        store.compact()
        return
    kill = lambda: os.kill(os.getpid(), signal.SIGKILL)  # noqa: E731
    if mode == "die-before-rename":
        store_files.os.replace = lambda *a, **k: kill()
    elif mode == "die-mid-write":
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, fh):  # noqa: ANN001
                self._fh = fh

            def __enter__(self):  # noqa: ANN204
                return self

            def __exit__(self, *exc):  # noqa: ANN002, ANN204
                return False

            def write(self, data: bytes) -> int:
                self._fh.write(data[: len(data) // 2])
                self._fh.flush()
                os.fsync(self._fh.fileno())
                kill()
                return 0

        store_files.os.fdopen = lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k))  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown mode {mode}")
    change_status(store, "crash", sys.argv[3], "Crashed-Write")  # committed to the journal ...
    store.compact()  # ... then killed while rewriting the JSON files


if __name__ == "__main__":
    main()
