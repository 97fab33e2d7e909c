"""A fleet of local "devices" for the Ansible executor: one directory per device holding its state
files, and an inventory reaching each with `ansible_connection: local`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, settings_for
from maintenance_agent.config import Settings
from maintenance_agent.datagen import generate_fleet, write_fleet

STATE_FILES = ("status", "firmware", "contract", "serial", "config")


@dataclass
class LocalFleet:
    settings: Settings
    devices: Path

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.devices)): p.read_bytes() for p in sorted(self.devices.rglob("*")) if p.is_file()}

    def state(self, eid: str, name: str) -> str:
        return (self.devices / eid / name).read_text().strip()


def local_fleet(tmp_path: Path, devices: int = 8, seed: int = 22, playbooks: Path | None = None) -> LocalFleet:
    """A generated fleet whose every device is a local directory, and an inventory saying so."""
    docs = generate_fleet(devices, seed=seed)
    write_fleet(docs, tmp_path / "data")
    root = tmp_path / "devices"
    hosts = {}
    for inv in docs.infrastructure_inventory["infrastructure_inventory"]:
        folder = root / inv["id"]
        folder.mkdir(parents=True)
        for name, value in zip(STATE_FILES, (inv["status"], inv["firmware_version"], inv["maintenance_contract_expiry"],
                                             inv.get("serial_number") or "", "factory"), strict=True):
            (folder / name).write_text(f"{value}\n")
        hosts[inv["id"]] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                            "device_dir": str(folder)}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    settings = settings_for(tmp_path, data_dir=tmp_path / "data", executor="ansible", ansible_inventory=inventory,
                            ansible_playbook_dir=playbooks or ROOT / "playbooks", ansible_timeout_seconds=60)
    return LocalFleet(settings, root)


