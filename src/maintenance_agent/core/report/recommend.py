"""Recommendations: deterministic follow-ups from the fleet as the run left it. Pure."""

from __future__ import annotations

from ...models.core import ActionName, Finding, FindingKind, HealthState, Outcome, PlannedAction, Problem
from ..plan import COOLING_BEFORE_RESTART
from .changes import TROUBLED_STATUSES
from .model import DeviceChange, ReportAction

_AGE_KINDS = (FindingKind.END_OF_LIFE, FindingKind.NEARING_END_OF_LIFE)


def recommendations(findings: list[Finding], rows: list[ReportAction], problems: list[Problem],
                    halted: bool, devices: list[DeviceChange] | None = None,
                    planned: list[PlannedAction] | None = None) -> list[str]:
    """Deterministic follow-ups from the fleet as the run left it: what failed, what is still wrong, and
    nothing for a problem an action of the run fixed."""
    out: list[str] = []
    after = {d.equipment_id: d for d in devices or []}
    by_outcome: dict[Outcome, list[ReportAction]] = {}
    for r in rows:
        by_outcome.setdefault(r.outcome, []).append(r)
    for r in by_outcome.get(Outcome.ROLLED_BACK, [])[:20]:
        out.append(f"{r.action} on {r.equipment_id} was rolled back ({r.detail}); investigate on site before retrying.")
    for r in by_outcome.get(Outcome.FAILED, [])[:20]:
        out.append(f"{r.action} on {r.equipment_id} failed ({r.detail}); retry it in a new run once the cause is fixed.")
    if stale := by_outcome.get(Outcome.STALE):
        out.append(f"{len(stale)} action(s) were stale (the device changed since planning); run again to re-plan them.")
    if halted:
        out.append("Execution stopped early after too many failures (circuit breaker); fix the failures, then re-run.")
    if skipped := by_outcome.get(Outcome.SKIPPED_UNAPPROVED):
        out.append(f"{len(skipped)} planned action(s) were not approved and remain open.")
    still = sorted(d.equipment_id for d in after.values()
                   if d.health_after is HealthState.CRITICAL or d.status_after.lower() in TROUBLED_STATUSES)
    if still:
        out.append(f"{len(still)} device(s) an action ran on are still critical, down or degraded: {_some(still)}.")
    succeeded = {r.id for r in rows if r.outcome is Outcome.SUCCEEDED}
    cooled = sorted({a.equipment_id for a in planned or [] if a.id in succeeded
                     and COOLING_BEFORE_RESTART in str(a.params.get("tasks", ""))
                     and a.equipment_id in after and after[a.equipment_id].status_after.lower() == "down"})
    if cooled:
        out.append(f"Cooling was fixed on {len(cooled)} thermally shut down device(s) still down: {_some(cooled)}; "
                   "run again to plan their restart.")
    for p in [p for p in problems if p.scope == "site"]:
        if len(out) >= 40:
            break
        left = [e for e in p.equipment_ids if e not in after or after[e].health_after is HealthState.CRITICAL]
        if len(left) < 2:
            continue  # the run fixed all but at most one of them: no shared cause left to chase
        fixed = len(p.equipment_ids) - len(left)
        note = f" ({fixed} fixed in this run; still critical: {_some(left)})" if fixed else ""
        out.append(f"{p.title}: {p.explanation}{note}.")
    resolved = _resolved(rows, planned or [])
    nearing = sorted({f.equipment_id for f in findings if f.kind is FindingKind.NEARING_END_OF_LIFE
                      and (f.equipment_id, f.kind) not in resolved})
    if nearing:
        out.append(f"Budget replacements for {len(nearing)} device(s) nearing end of life: {_some(nearing)}.")
    trends = [f for f in findings if f.kind is FindingKind.RISING_TREND and (f.equipment_id, f.kind) not in resolved]
    if trends:
        soonest = min(trends, key=lambda f: f.evidence.projected_days_to_breach or 1e9)
        out.append(f"{len(trends)} metric trend(s) head for a threshold; the soonest: {soonest.equipment_id} "
                   f"{soonest.message}.")
    return out


def _resolved(rows: list[ReportAction], planned: list[PlannedAction]) -> set[tuple[str, FindingKind]]:
    """(device, finding kind) pairs a succeeded action of the run was planned to fix."""
    ok = {r.id for r in rows if r.outcome is Outcome.SUCCEEDED}
    return {(a.equipment_id, kind) for a in planned if a.id in ok for kind in a.finding_kinds
            if kind not in _AGE_KINDS or a.action is ActionName.REPLACE_HARDWARE}  # maintenance does not make it younger


def _some(ids: list[str], limit: int = 10) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
