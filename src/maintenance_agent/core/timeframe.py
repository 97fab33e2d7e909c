"""The analysis time: the fleet's own clock (its newest reading), and the records stamped after now. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from ..models.core import DataError
from ..models.fleet import HEALTH_FILE, INVENTORY_FILE, HealthRecord, InventoryRecord
from .lifecycle import DAYS_PER_YEAR


def analysis_time(inventory: Iterable[InventoryRecord], health: Iterable[HealthRecord],
                  now: datetime | None = None, tolerance: timedelta = timedelta(0)) -> datetime:
    """The default analysis time: the newest reading in the data, so a static fleet always gives
    the same answer. Without readings: the newest alert, else the newest maintenance date. With
    `now`, stamps later than `now + tolerance` do not count and the result is never after `now`."""
    return time_frame(inventory, health, now, tolerance).as_of


@dataclass(frozen=True)
class TimeFrame:
    as_of: datetime
    data_errors: list[DataError]
    """Records stamped in the future: a wrong device clock, not data to act on."""


def time_frame(inventory: Iterable[InventoryRecord], health: Iterable[HealthRecord],
               now: datetime | None, tolerance: timedelta) -> TimeFrame:
    """The default analysis time and the future-stamped records, in one pass over the readings."""
    limit = None if now is None else now + tolerance
    errors: list[DataError] = []
    newest: datetime | None = None
    for h in health:
        future: list[tuple[int, datetime]] = []
        for index, r in enumerate(h.recent_readings):
            stamp = r["timestamp"]
            if limit is not None and stamp > limit:
                future.append((index, stamp))
            elif newest is None or stamp > newest:
                newest = stamp
        if future:
            index, stamp = max(future, key=lambda item: item[1])
            errors.append(DataError(
                file=HEALTH_FILE, record_id=h.equipment_id, field=f"recent_readings[{index}].timestamp",
                value=stamp.isoformat(),
                message=f"{len(future)} reading(s) stamped after the current time (latest {stamp.isoformat()}); "
                        f"they are ignored until the device's clock is fixed"))
    candidates: list[datetime] = []
    for inv in inventory:
        for index, a in enumerate(inv.alerts):
            if a.timestamp is None:
                continue
            if limit is not None and a.timestamp > limit:
                errors.append(DataError(
                    file=INVENTORY_FILE, record_id=inv.id, field=f"alerts[{index}].timestamp",
                    value=a.timestamp.isoformat(),
                    message=f"alert {a.type!r} is stamped after the current time; it is ignored"))
            elif newest is None:
                candidates.append(a.timestamp)
        if newest is None:
            candidates.append(datetime.combine(inv.last_maintenance, time(), UTC))
    as_of = newest if newest is not None else max(candidates, default=datetime(2000, 1, 1, tzinfo=UTC))
    if now is not None and as_of > now:
        as_of = now
    return TimeFrame(as_of, errors)


AS_OF_DOUBT = timedelta(days=365)


def as_of_warnings(as_of: datetime, newest: datetime, given: bool) -> list[str]:
    """An analysis time given far before the data's newest reading is probably a typo: readings after it
    are ignored, so devices look silent and old contracts look current. Said, not refused."""
    if not given or newest - as_of < AS_OF_DOUBT:
        return []
    years = (newest - as_of).days / DAYS_PER_YEAR
    return [f"the analysis time {as_of.date().isoformat()} is {years:.1f} years before the newest reading in the data "
            f"({newest.date().isoformat()}): readings after it are ignored; leave the analysis time unset to use the newest reading"]
