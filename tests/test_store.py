"""The fleet store: validation errors, round-trips, the journal, locking and crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import PRISTINE, THIRD_PARTY, copy_fleet
from maintenance_agent.models.fleet import HEALTH_FILE, INVENTORY_FILE, LIFE_FILE, DeviceState
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME, ChangeRecord, FleetDataError, FleetStore

HELPER = Path(__file__).parent / "helpers" / "store_writer.py"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _save(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Raw:
    """A mutation of a file's text: what a parsed document cannot hold (two equal keys)."""

    edit: Callable[[str], str]


def _mutate(fleet: Path, filename: str, fn) -> None:  # noqa: ANN001
    path = fleet / filename
    if fn is None:  # cut short: not JSON any more
        path.write_text(path.read_text()[:500])
    elif isinstance(fn, Raw):
        path.write_text(fn.edit(path.read_text()))
    else:
        doc = _load(path)
        fn(doc)
        _save(path, doc)


def _twice(text: str, key: str, first: object) -> str:
    """The first `"key": value` also preceded by `"key": first` (the parsers keep the second)."""
    marker = f'"{key}": '
    at = text.index(marker)
    return text[:at] + marker + json.dumps(first) + ", " + text[at:]


def _two_lists(text: str) -> str:
    """The inventory with a second `infrastructure_inventory` list holding only its first record."""
    doc = json.loads(text)
    one = json.dumps(doc["infrastructure_inventory"][:1])
    return text.rstrip().removesuffix("}") + f', "infrastructure_inventory": {one}}}'


def _inv(doc: dict) -> list[dict]:
    return doc["infrastructure_inventory"]


def _hm(doc: dict) -> list[dict]:
    return doc["health_metrics"]


# (case id, file, mutation, fragments the one-line error must contain)
MALFORMED: list[tuple[str, str, Any, list[str]]] = [
    ("bad-json", INVENTORY_FILE, None, ["infrastructure_inventory.json", "not valid JSON"]),
    ("top-level-list", HEALTH_FILE, lambda d: d.clear(), ["health_metrics.json", "health_metrics", "is missing"]),
    ("missing-key", INVENTORY_FILE, lambda d: _inv(d)[3].pop("install_date"),
     ["infrastructure_inventory.json", "record #4", "EQ-10004", "install_date", "is missing"]),
    ("wrong-type-number", HEALTH_FILE,
     lambda d: _hm(d)[1]["recent_readings"][2].__setitem__("latency_ms", "fast"),
     ["health_metrics.json", "record #2", "EQ-10002", "recent_readings[2].latency_ms", "must be a number", "'fast'"]),
    ("bad-date", INVENTORY_FILE, lambda d: _inv(d)[0].__setitem__("maintenance_contract_expiry", "2026-02-30"),
     ["record #1", "EQ-10001", "maintenance_contract_expiry"]),
    ("number-as-date", INVENTORY_FILE, lambda d: _inv(d)[0].__setitem__("install_date", 20200101),
     ["EQ-10001", "install_date"]),
    ("percent-out-of-range", INVENTORY_FILE, lambda d: _inv(d)[5].__setitem__("cpu_utilization_percent", 140),
     ["EQ-10006", "cpu_utilization_percent", "less than or equal to 100"]),
    ("duplicate-id", INVENTORY_FILE, lambda d: _inv(d)[7].__setitem__("id", _inv(d)[6]["id"]),
     ["record #8", "duplicate id", "EQ-10007"]),
    ("reading-for-unknown-device", HEALTH_FILE, lambda d: _hm(d)[4].__setitem__("equipment_id", "EQ-99999"),
     ["health_metrics.json", "record #5", "unknown device", "EQ-99999"]),
    ("duplicate-health", HEALTH_FILE, lambda d: _hm(d)[9].__setitem__("equipment_id", _hm(d)[8]["equipment_id"]),
     ["health_metrics.json", "duplicate equipment_id"]),
    ("alerts-not-list", INVENTORY_FILE, lambda d: _inv(d)[2].__setitem__("alerts", "none"),
     ["EQ-10003", "alerts"]),
    ("life-negative", LIFE_FILE, lambda d: d["equipment_life_expectancy"][0].__setitem__("expected_life_years", -3),
     ["equipment_life_expectancy.json", "record #1", "expected_life_years", "greater than 0"]),
    ("record-not-object", INVENTORY_FILE, lambda d: _inv(d).__setitem__(4, "EQ-10005"),
     ["record #5", "must be an object", "EQ-10005"]),
    ("timestamp-not-string", HEALTH_FILE,
     lambda d: _hm(d)[0]["recent_readings"][0].__setitem__("timestamp", 1730000000),
     ["EQ-10001", "recent_readings[0].timestamp"]),
    ("timestamp-without-zone", HEALTH_FILE,
     lambda d: _hm(d)[3]["recent_readings"][1].__setitem__("timestamp", "2026-10-30T12:00:00"),
     ["EQ-10004", "recent_readings[1].timestamp", "timezone"]),
    ("bool-as-number", INVENTORY_FILE, lambda d: _inv(d)[1].__setitem__("temperature_celsius", True),
     ["EQ-10002", "temperature_celsius", "must be a number"]),
    # Two equal keys: every fast parser keeps the last one silently, and the rewrite would lose the rest.
    ("duplicate-top-level-list", INVENTORY_FILE, Raw(_two_lists),
     ["infrastructure_inventory.json", "top-level key 'infrastructure_inventory' appears twice"]),
    ("duplicate-key-in-record", INVENTORY_FILE, Raw(lambda t: _twice(t, "status", "Down")),
     ["infrastructure_inventory.json", "record #1", "EQ-10001", "duplicate key 'status'"]),
    ("duplicate-top-level-key-in-inventory", INVENTORY_FILE,
     Raw(lambda t: t.replace("{", '{"exported_by": "cmdb", "exported_by": "cmdb-2", ', 1)),
     ["infrastructure_inventory.json", "top-level key 'exported_by' appears twice"]),
    ("duplicate-key-in-alert", INVENTORY_FILE, Raw(lambda t: _twice(t, "severity", "info")),
     ["infrastructure_inventory.json", "alerts[0]", "duplicate key 'severity'"]),
    ("duplicate-key-in-reading", HEALTH_FILE, Raw(lambda t: _twice(t, "latency_ms", 1)),
     ["health_metrics.json", "record #1", "EQ-10001", "recent_readings[0]", "duplicate key 'latency_ms'"]),
    ("duplicate-key-in-life-expectancy", LIFE_FILE, Raw(lambda t: _twice(t, "expected_life_years", 3)),
     ["equipment_life_expectancy.json", "record #1", "duplicate key 'expected_life_years'"]),
    # Numbers that cannot be written back as they were read.
    ("infinity-uptime", INVENTORY_FILE, lambda d: _inv(d)[0].__setitem__("uptime_days", float("inf")),
     ["record #1", "EQ-10001", "uptime_days", "not a finite number"]),
    ("nan-in-unknown-field", INVENTORY_FILE, lambda d: _inv(d)[1].__setitem__("rack_power_kw", float("nan")),
     ["record #2", "EQ-10002", "rack_power_kw", "not a finite number"]),
    ("infinity-latency", HEALTH_FILE, lambda d: _hm(d)[1]["recent_readings"][0].__setitem__("latency_ms", float("inf")),
     ["health_metrics.json", "EQ-10002", "recent_readings[0].latency_ms", "not a finite number"]),
    ("overflowing-latency", HEALTH_FILE, Raw(lambda t: t.replace('"latency_ms": ', '"latency_ms": 1e400, "was": ', 1)),
     ["health_metrics.json", "EQ-10001", "recent_readings[0].latency_ms", "not a finite number"]),
    ("nan-in-reading-extra", HEALTH_FILE, lambda d: _hm(d)[2]["recent_readings"][3].__setitem__("fan_rpm", float("nan")),
     ["EQ-10003", "recent_readings[3].fan_rpm", "not a finite number"]),
    ("integer-beyond-64-bits", INVENTORY_FILE, lambda d: _inv(d)[2].__setitem__("uptime_days", 2**64),
     ["record #3", "EQ-10003", "uptime_days", "64-bit range"]),
    ("huge-integer-in-unknown-field", INVENTORY_FILE, lambda d: _inv(d)[3].__setitem__("asset_tag", 10**30),
     ["EQ-10004", "asset_tag", "64-bit range"]),
    # Just past 2**63 the float branch used to take it (9.223372036854776e+18) and write another number back.
    ("integer-just-past-64-bits", HEALTH_FILE,
     lambda d: _hm(d)[4]["recent_readings"][0].__setitem__("latency_ms", 2**63 + 500),
     ["EQ-10005", "recent_readings[0].latency_ms", "64-bit range"]),
]


@pytest.mark.parametrize("case,filename,mutation,fragments", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_gives_one_clear_line(fleet_dir: Path, case: str, filename: str, mutation, fragments: list[str]) -> None:  # noqa: ANN001
    _mutate(fleet_dir, filename, mutation)
    before = {n: _digest(fleet_dir / n) for n in (INVENTORY_FILE, HEALTH_FILE, LIFE_FILE)}
    with pytest.raises(FleetDataError) as err:
        FleetStore(fleet_dir).load()
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "restore the default fleet" in message or "DATA_DIR" in message
    assert ".py" not in message and "--" not in message  # said to every interface: no script, no flag
    assert before == {n: _digest(fleet_dir / n) for n in before}, "a failed load must not touch the files"


def test_missing_file_names_it(fleet_dir: Path) -> None:
    (fleet_dir / HEALTH_FILE).unlink()
    with pytest.raises(FleetDataError, match=r"health_metrics\.json is missing"):
        FleetStore(fleet_dir).load()


def test_default_fleet_loads_and_round_trips_byte_for_byte(fleet_dir: Path) -> None:
    store = FleetStore(fleet_dir)
    fleet = store.load()
    assert len(fleet.inventory) == 50 and len(fleet.health) == 50
    before = _digest(fleet_dir / INVENTORY_FILE), _digest(fleet_dir / HEALTH_FILE)
    with store.transaction() as tx:
        tx.commit(ChangeRecord(at=datetime.now(UTC), actor="t", outcome="noop"))
    store._cache.mark = (-1, -1)  # force a rewrite of unchanged records  # noqa: SLF001
    store.compact()
    assert (_digest(fleet_dir / INVENTORY_FILE), _digest(fleet_dir / HEALTH_FILE)) == before


def test_unknown_fields_survive_a_write(fleet_dir: Path) -> None:
    _mutate(fleet_dir, INVENTORY_FILE, lambda d: (_inv(d)[0].__setitem__("rack", {"row": 4, "unit": 12}),
                                                  d.__setitem__("exported_by", "cmdb")))
    _mutate(fleet_dir, HEALTH_FILE, lambda d: _hm(d)[0]["recent_readings"][0].__setitem__("fan_rpm", 8200))
    store = FleetStore(fleet_dir)
    with store.transaction() as tx:
        dev = tx.device("EQ-10001")
        assert dev is not None
        after = DeviceState(inventory=dev.inventory.model_copy(update={"firmware_version": "99.1"}), health=dev.health)
        tx.commit(ChangeRecord(at=datetime.now(UTC), actor="t", equipment_id="EQ-10001", outcome="succeeded",
                               before=dev, after=after))
    assert _load(fleet_dir / INVENTORY_FILE)["infrastructure_inventory"][0]["firmware_version"] != "99.1", \
        "changes reach the files at compaction, not per commit"
    assert store.load().inventory["EQ-10001"].firmware_version == "99.1", "... but every reader sees them at once"
    store.compact()
    inv = _load(fleet_dir / INVENTORY_FILE)
    assert inv["exported_by"] == "cmdb"
    assert _inv(inv)[0]["rack"] == {"row": 4, "unit": 12} and _inv(inv)[0]["firmware_version"] == "99.1"
    assert _hm(_load(fleet_dir / HEALTH_FILE))[0]["recent_readings"][0]["fan_rpm"] == 8200
    assert isinstance(_inv(inv)[0]["temperature_celsius"], int), "integers stay integers"


def test_change_is_audited_and_in_the_ledger(fleet_dir: Path) -> None:
    subprocess.run([sys.executable, str(HELPER), str(fleet_dir), "commit", "run-1", "EQ-10003"], check=True)
    audit = [json.loads(line) for line in (fleet_dir / STATE_DIRNAME / AUDIT_FILE).read_text().splitlines()]
    assert len(audit) == 1
    entry = audit[0]
    assert (entry["run_id"], entry["action_id"], entry["equipment_id"], entry["actor"]) == ("run-1", "EQ-10003", "EQ-10003", "test")
    assert entry["before"]["inventory"]["status"] != "Maintenance-run-1"
    assert entry["after"]["inventory"]["status"] == "Maintenance-run-1"
    store = FleetStore(fleet_dir)
    assert [c.action_id for c in store.ledger_for("run-1")] == ["EQ-10003"]
    with store.transaction() as tx:
        assert tx.ledger_entry("run-1", "EQ-10003") is not None
        assert tx.ledger_entry("run-2", "EQ-10003") is None


def test_two_processes_writing_different_devices_lose_nothing(fleet_dir: Path) -> None:
    ids = [f"EQ-{10001 + i}" for i in range(50)]
    a, b = ids[0::2], ids[1::2]
    procs = [subprocess.Popen([sys.executable, str(HELPER), str(fleet_dir), "commit", run, ",".join(part)])
             for run, part in (("A", a), ("B", b))]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    inv = {d["id"]: d for d in _inv(_load(fleet_dir / INVENTORY_FILE))}
    assert all(inv[i]["status"] == "Maintenance-A" for i in a)
    assert all(inv[i]["status"] == "Maintenance-B" for i in b)
    audit = (fleet_dir / STATE_DIRNAME / AUDIT_FILE).read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in audit) == list(range(1, 51))
    assert {i: d.status for i, d in FleetStore(fleet_dir).load().inventory.items()} == {i: d["status"] for i, d in inv.items()}


@pytest.mark.parametrize("mode", ["die-before-rename", "die-mid-write"])
def test_write_killed_half_way_leaves_old_file_and_keeps_the_change(fleet_dir: Path, mode: str) -> None:
    before = _digest(fleet_dir / INVENTORY_FILE)
    proc = subprocess.run([sys.executable, str(HELPER), str(fleet_dir), mode, "EQ-10010"])
    assert proc.returncode == -9, "the helper must have been killed mid-write"
    leftovers = list(fleet_dir.glob(".infrastructure_inventory.json.*.tmp"))
    assert leftovers, "the killed writer leaves its temp file behind"
    if mode == "die-mid-write":
        assert 0 < leftovers[0].stat().st_size < (fleet_dir / INVENTORY_FILE).stat().st_size
    assert _digest(fleet_dir / INVENTORY_FILE) == before, "the old file must be intact"
    json.loads((fleet_dir / INVENTORY_FILE).read_text())
    # The change was committed to the journal before the rewrite: it is not lost.
    fleet = FleetStore(fleet_dir).load()
    assert fleet.inventory["EQ-10010"].status == "Crashed-Write"
    FleetStore(fleet_dir).compact()
    assert {d["id"]: d for d in _inv(_load(fleet_dir / INVENTORY_FILE))}["EQ-10010"]["status"] == "Crashed-Write"
    assert not list(fleet_dir.glob(".*.tmp")), "the next compaction removes the dead writer's temp file"


def test_torn_journal_line_is_ignored_then_cut(fleet_dir: Path) -> None:
    subprocess.run([sys.executable, str(HELPER), str(fleet_dir), "commit", "r", "EQ-10001"], check=True)
    audit = fleet_dir / STATE_DIRNAME / AUDIT_FILE
    with open(audit, "ab") as fh:
        fh.write(b'{"seq": 2, "at": "2026-')  # a crash mid-append
    store = FleetStore(fleet_dir)
    assert store.load().inventory["EQ-10001"].status == "Maintenance-r"
    subprocess.run([sys.executable, str(HELPER), str(fleet_dir), "commit", "r", "EQ-10002"], check=True)
    lines = audit.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]


def test_reset_restores_pristine_and_forgets_pending_changes(fleet_dir: Path) -> None:
    subprocess.run([sys.executable, str(HELPER), str(fleet_dir), "commit", "r", "EQ-10001"], check=True)
    store = FleetStore(fleet_dir)
    store.reset(PRISTINE, actor="tester")
    assert _digest(fleet_dir / INVENTORY_FILE) == _digest(PRISTINE / INVENTORY_FILE)
    assert store.load().inventory["EQ-10001"].status != "Maintenance-r"
    audit = (fleet_dir / STATE_DIRNAME / AUDIT_FILE).read_text().splitlines()
    assert json.loads(audit[-1])["outcome"] == "reset", "the reset itself is audited"


def test_reset_refuses_a_broken_source(tmp_path: Path, fleet_dir: Path) -> None:
    broken = copy_fleet(tmp_path / "broken")
    (broken / LIFE_FILE).write_text("{")
    before = _digest(fleet_dir / INVENTORY_FILE)
    with pytest.raises(FleetDataError):
        FleetStore(fleet_dir).reset(broken, actor="t")
    assert _digest(fleet_dir / INVENTORY_FILE) == before


@pytest.mark.skipif(not THIRD_PARTY.is_dir(), reason="third-party dataset not present")
def test_third_party_fleet_is_accepted_and_round_trips(tmp_path: Path) -> None:
    fleet_dir = copy_fleet(tmp_path / "tp", THIRD_PARTY)
    for p in fleet_dir.iterdir():
        p.chmod(0o644)
    fleet = FleetStore(fleet_dir).load()
    assert len(fleet.inventory) == 50
    assert all(fleet.health[i].recent_readings for i in fleet.inventory)


def test_symlinked_files_are_written_through_the_link(tmp_path: Path) -> None:
    """A data directory of symlinks (e.g. into a CMDB export): the targets get the change, the links stay."""
    real = copy_fleet(tmp_path / "export")
    data = tmp_path / "data"
    data.mkdir()
    for name in (INVENTORY_FILE, HEALTH_FILE, LIFE_FILE):
        (data / name).symlink_to(real / name)
    subprocess.run([sys.executable, str(HELPER), str(data), "commit", "r", "EQ-10004"], check=True)
    FleetStore(data).compact()
    assert all((data / name).is_symlink() for name in (INVENTORY_FILE, HEALTH_FILE, LIFE_FILE))
    assert {d["id"]: d for d in _inv(_load(real / INVENTORY_FILE))}["EQ-10004"]["status"] == "Maintenance-r"
    assert not list(data.glob(".*.tmp")) and not list(real.glob(".*.tmp"))


def _corrupt_middle_line(data: Path) -> Path:
    for device in ("EQ-10001", "EQ-10002", "EQ-10003"):
        subprocess.run([sys.executable, str(HELPER), str(data), "commit", "r", device], check=True)
    audit = data / STATE_DIRNAME / AUDIT_FILE
    lines = audit.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:40] + b"#garbage#" + lines[1][60:]
    audit.write_bytes(b"".join(lines))
    return audit


def test_damaged_middle_line_of_the_audit_log_names_file_line_and_the_repair(fleet_dir: Path) -> None:
    audit = _corrupt_middle_line(fleet_dir)
    with pytest.raises(FleetDataError) as err:
        FleetStore(fleet_dir).snapshot()  # what every run reads first
    message = str(err.value)
    assert "\n" not in message and str(audit) in message and "line 2 is damaged" in message
    assert f"python -m maintenance_agent.store repair-audit {fleet_dir}" in message

    repair = subprocess.run([sys.executable, "-m", "maintenance_agent.store", "repair-audit", str(fleet_dir)],
                            capture_output=True, text=True, env={**os.environ, "ENV_FILE": os.devnull})
    assert repair.returncode == 0 and "moved 1 damaged line(s) (line 2)" in repair.stderr, repair.stderr
    assert (fleet_dir / STATE_DIRNAME / f"{AUDIT_FILE}.damaged").read_bytes().count(b"\n") == 1
    fleet = FleetStore(fleet_dir).snapshot()
    assert fleet.inventory["EQ-10001"].status == "Maintenance-r" and fleet.inventory["EQ-10003"].status == "Maintenance-r"
    assert [c.action_id for c in FleetStore(fleet_dir).ledger_for("r")] == ["EQ-10001", "EQ-10003"]
    again = subprocess.run([sys.executable, "-m", "maintenance_agent.store", "repair-audit", str(fleet_dir)],
                           capture_output=True, text=True, env={**os.environ, "ENV_FILE": os.devnull})
    assert again.returncode == 0 and "no damaged line" in again.stderr


async def test_a_run_on_a_damaged_audit_log_stops_with_the_repair_and_runs_after_it(
        client: Any, temporal_address: str, tmp_path: Path) -> None:
    """Through the script a person runs: one line naming the file, line and repair; nothing changed;
    the repair command; then the run goes through."""
    import asyncio

    from conftest import ROOT, running_worker, settings_for

    data = copy_fleet(tmp_path / "data")
    audit = _corrupt_middle_line(data)
    settings = settings_for(tmp_path, data_dir=data)
    env = {**os.environ, "DATA_DIR": str(data), "REPORTS_DIR": str(settings.reports_dir), "ENV_FILE": os.devnull,
           "EMBEDDED_TEMPORAL": "never", "TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_TASK_QUEUE": settings.task_queue}
    script = [sys.executable, str(ROOT / "run_monitoring_agent.py"), "--auto-approve"]
    files = lambda: {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}  # noqa: E731
    before, audit_before = files(), audit.read_bytes()
    async with running_worker(client, settings):
        proc = await asyncio.to_thread(subprocess.run, script, env=env, capture_output=True, text=True, timeout=120,
                                       cwd="/")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "Traceback" not in out, out  # the run failed (exit codes in the README)
        assert [line for line in out.splitlines() if "line 2 is damaged" in line and f"repair-audit {data}" in line], out
        assert files() == before and audit.read_bytes() == audit_before, "nothing was changed or lost"
        repair = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "maintenance_agent.store",
                                                          "repair-audit", str(data)], env=env, capture_output=True,
                                         text=True, timeout=60)
        assert repair.returncode == 0, repair.stderr
        again = await asyncio.to_thread(subprocess.run, script, env=env, capture_output=True, text=True, timeout=180,
                                        cwd="/")
    assert again.returncode in (0, 1) and again.stdout.startswith("COMPLETED"), again.stderr
    assert files() != before, "the repaired fleet took the run's changes"


def test_repair_keeps_the_compaction_mark_on_the_same_change(fleet_dir: Path) -> None:
    audit = _corrupt_middle_line(fleet_dir)
    lines = audit.read_bytes().splitlines(keepends=True)
    mark = {"seq": 3, "offset": sum(len(line) for line in lines)}  # everything is in the files already
    (fleet_dir / STATE_DIRNAME / "compacted.json").write_text(json.dumps(mark))
    store = FleetStore(fleet_dir)
    assert store.repair_audit() == [2]
    assert json.loads((fleet_dir / STATE_DIRNAME / "compacted.json").read_text()) == {
        "seq": 3, "offset": audit.stat().st_size}
    subprocess.run([sys.executable, str(HELPER), str(fleet_dir), "commit", "r2", "EQ-10005"], check=True)
    assert [c.seq for c in FleetStore(fleet_dir).ledger_for("r2")] == [4]


def test_a_change_the_files_could_not_hold_is_never_committed(fleet_dir: Path) -> None:
    store = FleetStore(fleet_dir)
    with store.transaction() as tx:
        dev = tx.device("EQ-10001")
        assert dev is not None
        bad = DeviceState(inventory=dev.inventory.model_copy(update={"uptime_days": 2**70}), health=dev.health)
        with pytest.raises(FleetDataError, match="cannot be written to the fleet files"):
            tx.commit(ChangeRecord(at=datetime.now(UTC), actor="t", equipment_id="EQ-10001", outcome="succeeded",
                                   before=dev, after=bad))
    assert not (fleet_dir / STATE_DIRNAME / AUDIT_FILE).exists()
    store.compact()


Health = dict[str, tuple[str, bool]]


def _detections(tmp_path: Path) -> tuple[Callable[[str], Health], str]:
    """A detection per run id (each call an attempt of that run's detect_fleet, through the real
    activity), and a device that the first run found happy and that is Down from then on."""
    from temporalio.testing import ActivityEnvironment

    from maintenance_agent import artifacts
    from maintenance_agent.activities import MaintenanceActivities
    from maintenance_agent.models.activity_io import DetectInput

    data = copy_fleet(tmp_path / "data")
    acts = MaintenanceActivities(data_dir=data, reports_dir=tmp_path / "reports")
    env = ActivityEnvironment()

    def health(run: str) -> Health:
        env.run(acts.detect_fleet, DetectInput(run_id=run, artifact_dir=run))
        found = artifacts.read(tmp_path / "reports" / run, artifacts.DETECTION, artifacts.DetectionArtifact)
        return {d.equipment_id: (d.state.value, d.held_back) for d in found.device_health}

    happy = sorted(eid for eid, (state, _) in health("run-0").items() if state == "happy")[0]
    inventory = json.loads((data / INVENTORY_FILE).read_text())
    next(d for d in inventory["infrastructure_inventory"] if d["id"] == happy)["status"] = "Down"
    (data / INVENTORY_FILE).write_text(json.dumps(inventory))
    return health, happy


def test_a_retried_detection_gives_the_same_health_states_as_its_first_attempt(tmp_path: Path) -> None:
    """Before: detect_fleet read the previous states, then overwrote them with its own, so its retry
    read its own output and the no-jump rule let a held-back `stressed` become `critical`."""
    health, happy = _detections(tmp_path)
    first, retried = health("run-2"), health("run-2")
    assert first[happy] == ("stressed", True), "happy last run, critical now: held at stressed"
    assert retried == first
    assert health("run-3")[happy] == ("critical", False), "the next run sees it critical twice: no longer held"


def test_a_retry_after_another_run_s_detection_still_reads_what_its_first_attempt_read(tmp_path: Path) -> None:
    """Run A detects, then run B detects (and records its states), then A's detection is retried (A's
    worker died before Temporal heard of the result). Keyed only by the last writer, A's retry read
    B's output: a device happy before A, critical in A and B, looked critical twice and escaped the
    no-jump hold. Keyed by run, the retry reads exactly what A's first attempt read."""
    health, happy = _detections(tmp_path)
    first = health("run-A")
    assert first[happy] == ("stressed", True)
    assert health("run-B")[happy] == ("critical", False), "B reads A's states: critical twice, no longer held"
    assert health("run-A") == first, "A's retry reads what its first attempt read, not B's output"


def test_an_activity_waiting_for_the_store_lock_keeps_heartbeating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an action waited up to 120 s for the lock in silence, past its 10 s heartbeat timeout, so
    Temporal took a worker that was only queueing for a dead one and started the action again."""
    import threading
    import time

    from temporalio.testing import ActivityEnvironment

    from maintenance_agent.activities import MaintenanceActivities
    from maintenance_agent.models.activity_io import DetectInput
    from maintenance_agent.store import files as store_files

    monkeypatch.setattr(store_files, "LOCK_WAIT_SLICE", 0.05)
    data = copy_fleet(tmp_path / "data")
    acts = MaintenanceActivities(data_dir=data, reports_dir=tmp_path / "reports")
    beats: list[str] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(str(details[0]) if details else "")
    holding, release = threading.Event(), threading.Event()

    def other_process() -> None:  # another FleetStore on the same files: only the file lock is shared
        with FleetStore(data).locked():
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=other_process)
    holder.start()
    assert holding.wait(30)
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(
        env.run(acts.detect_fleet, DetectInput(run_id="r", artifact_dir="r"))))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while beats.count("waiting for the fleet store lock") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert beats.count("waiting for the fleet store lock") >= 3 and not result, "it heartbeats while it waits"
    finally:
        release.set()
    holder.join(30)
    worker.join(60)
    assert result and result[0].summary.devices == 50, "and carries on once the lock is free"
