"""The Ansible executor: each step of an action is one `ansible-playbook` run through ansible-runner,
limited to the action's device.

Playbooks live in ANSIBLE_PLAYBOOK_DIR, one per catalog action and step: `<action>.yml` (apply; in
check mode with `--diff`, the preview), `<action>_verify.yml` (the post-condition: fails when the
repair did not take) and `<action>_rollback.yml`. Each gets two variables: `maintenance` (run id,
action id, the idempotency key `<run id>/<action id>`, the action, its device and site, its
parameters, the step) and `device` (the inventory record). The inventory is built from the fleet
(host = device id, `ansible_host` = its IP, groups `site_<site>` and `type_<type>`), followed by
ANSIBLE_INVENTORY if set (host variables such as `ansible_connection` or credentials come from
there, or from Ansible's own vault, environment and SSH agent: none of them passes through the agent).

Every run gets a fresh private data directory under the run's report folder (ansible-runner reads
back what an earlier call left there: a check run's `--check` would stick), its stdout is kept
there, and what it did is written next to it (`outcome.json`): a retried activity whose step had
finished reads that instead of running the playbook again.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .base import MAX_PREVIEW_CHARS, Capabilities, ExecutorError, PlaybookOutcome, StepName

STEP_FILES: dict[StepName, str] = {"preview": "{action}.yml", "apply": "{action}.yml", "verify": "{action}_verify.yml",
                                   "rollback": "{action}_rollback.yml"}
OUTCOME_FILE = "outcome.json"
FORK_ATTEMPTS = 20
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def group_name(prefix: str, value: str) -> str:
    return f"{prefix}_{_GROUP_UNSAFE.sub('_', value).lower()}"


class AnsibleExecutor:
    name = "ansible"
    capabilities = Capabilities(preview=True, rollback=True)

    def __init__(self, playbook_dir: Path, inventory_file: Path | None = None, timeout_seconds: float = 600,
                 max_parallel: int | None = None) -> None:
        self._slots = threading.BoundedSemaphore(max_parallel or os.cpu_count() or 2)
        """Playbook runs at once in this worker: each is a CPU-bound ansible-playbook process, and more
        than the cores can run only slows every one of them (and their heartbeats) down."""
        if not playbook_dir.is_dir():
            raise ExecutorError(f"ANSIBLE_PLAYBOOK_DIR {playbook_dir} is not a directory")
        if inventory_file is not None and not inventory_file.exists():
            raise ExecutorError(f"ANSIBLE_INVENTORY {inventory_file} does not exist")
        self.playbook_dir, self.inventory_file, self.timeout_seconds = playbook_dir, inventory_file, timeout_seconds

    def playbook(self, action: str, step: StepName) -> Path | None:
        path = self.playbook_dir / STEP_FILES[step].format(action=action)
        return path if path.is_file() else None

    def run(self, step: StepName, action: Mapping[str, Any], device: Mapping[str, Any], workdir: Path, *,
            reports_root: Path, heartbeat: Callable[[str], None] = lambda _: None,
            cancelled: Callable[[], bool] = lambda: False) -> PlaybookOutcome:
        """Run `step` of `action` on `device` (both as plain dicts), in a fresh folder under `workdir`;
        a step that already finished there (a retry) is read back, not run again."""
        playbook = self.playbook(str(action["action"]), step)
        if playbook is None:
            return PlaybookOutcome(step, "missing")
        if step != "preview" and (done := finished(workdir, step)) is not None:
            return done
        while not self._slots.acquire(timeout=1):
            heartbeat(f"{step}: waiting for a playbook slot")
        try:
            return self._run_in_slot(step, playbook, action, device, workdir, reports_root, heartbeat, cancelled)
        finally:
            self._slots.release()

    def _run_in_slot(self, step: StepName, playbook: Path, action: Mapping[str, Any], device: Mapping[str, Any],
                     workdir: Path, reports_root: Path, heartbeat: Callable[[str], None],
                     cancelled: Callable[[], bool]) -> PlaybookOutcome:
        for attempt in range(FORK_ATTEMPTS):
            private = fresh_dir(workdir, step)
            try:
                outcome = self._run_playbook(step, playbook, action, device, private, heartbeat, cancelled)
                break
            except RuntimeError as exc:
                # filelock refuses a fork while another thread of the worker is taking or releasing
                # the store's lock; the playbook did not start, so starting it again is safe.
                if "unsafe while filelock" not in str(exc) or attempt == FORK_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        outcome.stdout = _relative(private / "stdout.txt", reports_root)
        (private / OUTCOME_FILE).write_text(json.dumps({**outcome.as_record(), "diff": outcome.diff}))
        return outcome

    def _run_playbook(self, step: StepName, playbook: Path, action: Mapping[str, Any], device: Mapping[str, Any],
                      private: Path, heartbeat: Callable[[str], None],
                      cancelled: Callable[[], bool]) -> PlaybookOutcome:
        import ansible_runner  # imported by the worker only when it runs Ansible

        eid = str(device["id"])
        inventory = private / "agent-inventory.json"
        inventory.write_text(json.dumps(fleet_inventory(device)))
        sources = [str(inventory)] + ([str(self.inventory_file)] if self.inventory_file else [])
        outcome = PlaybookOutcome(step, "failed")
        diffs: list[str] = []

        def on_event(event: dict) -> bool:
            data = event.get("event_data") or {}
            kind = event.get("event", "")
            if kind == "playbook_on_task_start":
                heartbeat(f"{step}: {data.get('task', '')}")
            elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
                res = data.get("res") or {}
                for d in res.get("diff") or [] if isinstance(res.get("diff"), list) else [res.get("diff") or {}]:
                    diffs.append(render_diff(d))
                if kind != "runner_on_ok" and not data.get("ignore_errors") and outcome.failed_task is None:
                    outcome.failed_task, outcome.failed_host = data.get("task"), data.get("host")
                    outcome.failure = str(res.get("msg") or res.get("stderr") or kind)[:300]
            return True

        bin_dir = str(Path(sys.executable).parent)
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(self.playbook_dir), playbook=playbook.name,
            inventory=sources, extravars={"maintenance": {**action, "step": step}, "device": dict(device)},
            cmdline=f"--limit {eid} --diff" + (" --check" if step == "preview" else ""),
            quiet=True, timeout=int(self.timeout_seconds), event_handler=on_event, cancel_callback=cancelled,
            envvars={"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1",
                     "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_LOCAL_TEMP": str(private / "tmp")},
            # ansible-runner checks for cancellation (and so this heartbeats) every pexpect_timeout seconds
            settings={"pexpect_timeout": 1}, ident="run")
        stdout = private / "artifacts" / "run" / "stdout"
        if stdout.exists():
            (private / "stdout.txt").write_bytes(stdout.read_bytes())
        stats = runner.stats or {}
        outcome.status, outcome.rc = str(runner.status), runner.rc
        outcome.ok = sum((stats.get("ok") or {}).values())
        outcome.changed = sum((stats.get("changed") or {}).values())
        outcome.failed = sum((stats.get("failures") or {}).values()) + sum((stats.get("dark") or {}).values())
        if outcome.status == "successful" and outcome.failed:
            outcome.status = "failed"
        if outcome.status == "successful" and not (stats.get("processed") or {}):
            outcome.status, outcome.failure = "failed", f"the playbook ran on no host (is {eid} in the inventory?)"
        outcome.diff = "\n".join(d for d in diffs if d)[:MAX_PREVIEW_CHARS]
        return outcome


def fleet_inventory(device: Mapping[str, Any]) -> dict:
    """The action's device as an Ansible inventory: its id as host, its IP as `ansible_host`, in its
    site's and type's groups."""
    eid = str(device["id"])
    host = {"ansible_host": device["ip_address"]} if device.get("ip_address") else {}
    groups: dict[str, Any] = {group_name("site", str(device.get("site", ""))): {"hosts": {eid: {}}},
              group_name("type", str(device.get("type", ""))): {"hosts": {eid: {}}}}
    return {"all": {"hosts": {eid: host}, "children": groups}}


def render_diff(d: Mapping[str, Any]) -> str:
    """One of Ansible's diffs (`before`/`after`, or a `prepared` text) as a unified diff."""
    if not d:
        return ""
    if d.get("prepared"):
        return str(d["prepared"])
    before, after = d.get("before", ""), d.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):
        before, after = json.dumps(before, indent=1, sort_keys=True), json.dumps(after, indent=1, sort_keys=True)
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        fromfile=str(d.get("before_header", "before")),
                                        tofile=str(d.get("after_header", "after"))))


def fresh_dir(workdir: Path, step: StepName) -> Path:
    """`<step>`, or `<step>-2`, `-3`, … when an earlier attempt left its folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = workdir / (step if n == 1 else f"{step}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def finished(workdir: Path, step: StepName) -> PlaybookOutcome | None:
    """The step's outcome if an earlier attempt finished it (its `outcome.json` is there)."""
    if not workdir.is_dir():
        return None
    for path in sorted(workdir.glob(f"{step}*/{OUTCOME_FILE}")):
        if path.parent.name != step and not re.fullmatch(rf"{step}-\d+", path.parent.name):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        return PlaybookOutcome(step, str(data.get("status")), data.get("rc"), int(data.get("changed") or 0),
                               int(data.get("ok") or 0), int(data.get("failed") or 0), data.get("failed_task"),
                               data.get("failed_host"), None, str(data.get("diff") or ""), data.get("stdout"))
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
