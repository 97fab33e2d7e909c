"""Lifecycle findings: age against expected life, the support contract, overdue maintenance. Pure.

These are risk, not health: `raw_health_state` leaves the contract and maintenance ones out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import NamedTuple

from ..models.core import FindingKind, Severity
from ..models.fleet import InventoryRecord
from ..models.rules import Rules
from .evidence import DeviceFindings, evidence

DAYS_PER_YEAR = 365.25


class Age(NamedTuple):
    years: float
    expected: float | None
    """The model's expected life in years (None: not in the life-expectancy file)."""


def age_years(start: date, as_of: datetime) -> float:
    return (as_of.date() - start).days / DAYS_PER_YEAR


def add_lifecycle_findings(out: DeviceFindings, inv: InventoryRecord, life_years: Mapping[tuple[str, str], float],
                           rules: Rules, as_of: datetime) -> Age:
    """End of life (or nearing it), an expired or expiring contract, overdue maintenance; returns the device's age."""
    age = age_years(inv.install_date, as_of)
    expected = life_years.get((inv.vendor, inv.model))
    if expected is not None:
        if age > expected:
            out.add(FindingKind.END_OF_LIFE, Severity.WARNING,
                    evidence("age_years", round(age, 2), expected, "years"),
                    1.0, f"in service {age:.1f} years, past its expected life of {expected:g} years")
        elif age > expected * rules.nearing_end_of_life_fraction:
            out.add(FindingKind.NEARING_END_OF_LIFE, Severity.INFO,
                    evidence("age_years", round(age, 2), round(expected * rules.nearing_end_of_life_fraction, 2),
                             "years"),
                    1.0, f"in service {age:.1f} years, {age / expected:.0%} of its expected life of {expected:g} years")

    days_left = (inv.maintenance_contract_expiry - as_of.date()).days
    if days_left < 0:
        out.add(FindingKind.CONTRACT_EXPIRED, Severity.WARNING,
                evidence("maintenance_contract_expiry", inv.maintenance_contract_expiry.isoformat(),
                         as_of.date().isoformat()),
                1.0, f"support contract expired {-days_left} days ago ({inv.maintenance_contract_expiry})")
    elif days_left <= rules.contract_expiring_days:
        out.add(FindingKind.CONTRACT_EXPIRING, Severity.WARNING if days_left <= 30 else Severity.INFO,
                evidence("maintenance_contract_expiry", inv.maintenance_contract_expiry.isoformat(),
                         f"{rules.contract_expiring_days} days"),
                1.0, f"support contract expires in {days_left} days ({inv.maintenance_contract_expiry})")

    since_maintenance = (as_of.date() - inv.last_maintenance).days
    if since_maintenance > rules.maintenance_overdue_days:
        out.add(FindingKind.MAINTENANCE_OVERDUE, Severity.INFO,
                evidence("last_maintenance", inv.last_maintenance.isoformat(), f"{rules.maintenance_overdue_days} days"),
                1.0, f"no maintenance for {since_maintenance} days (since {inv.last_maintenance})")
    return Age(age, expected)
