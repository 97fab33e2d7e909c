"""Report: what was found, decided and really done, as a typed document and as Markdown. Pure.

Outcomes come from the ledger (or, for a dry run, the simulation record), never from what the
workflow hoped would happen; the summary line states the real counts.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..models.core import (
    ActionName,
    ActionResult,
    DataError,
    DeviceAfter,
    DeviceHealth,
    Finding,
    FindingKind,
    FleetSummary,
    HealthState,
    Outcome,
    PlannedAction,
    Problem,
    Risk,
    SiteHealth,
    SiteImpact,
)
from ..models.workflow import Decision, OutcomeCounts, Phase, ReportInput
from .health import smooth_state

if TYPE_CHECKING:
    from ..models.artifacts import AnalysisArtifact, DetectionArtifact, PlanArtifact

REPORT_SCHEMA_VERSION = "2"


LARGE_LIST = 200
"""Past this many rows a list is summarized in report.md (the full list stays in report.json and the CSVs)."""
TOP_ROWS = 50
TOP_PROBLEMS = 20
EXECUTORS = {
    "simulated": "simulated: the JSON fleet simulator changed the data files; no real device was touched",
}
_PROBLEM_OUTCOMES = (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.STALE, Outcome.NOT_RUN)
_RAN = (Outcome.SUCCEEDED, Outcome.ROLLED_BACK, Outcome.FAILED)
_TROUBLED_STATUSES = ("down", "degraded")
_AGE_KINDS = (FindingKind.END_OF_LIFE, FindingKind.NEARING_END_OF_LIFE)


class ReportFinding(BaseModel):
    equipment_id: str
    site: str
    kind: FindingKind
    severity: str
    confidence: float
    message: str
    metric: str
    value: float | str | None = None
    threshold: float | str | None = None
    projected_days_to_breach: float | None = None


class ReportAction(BaseModel):
    id: str
    equipment_id: str
    site: str
    action: str
    risk: Risk
    confidence: float
    routine: bool
    priority: int
    source: str
    reason: str
    approved: bool
    outcome: Outcome
    detail: str = ""
    observed: str = ""
    """What verification saw on the device (empty if the action did not run)."""
    changes: dict[str, list[Any]] = Field(default_factory=dict)
    after: DeviceAfter | None = None
    audit_seq: int | None = None
    llm_comment: str | None = None
    llm_priority: int | None = None
    """The advisor's suggested priority (1 = most urgent); `priority` stays the rules' own."""


class ReportHealth(BaseModel):
    devices: dict[str, int]
    held_back: int
    sites: list[SiteHealth]


class SiteChange(BaseModel):
    """One site before the run and after it (devices the run touched, judged again by the same rules)."""

    site: str
    devices: int
    before: SiteHealth
    after: SiteHealth
    touched: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)


class DeviceChange(BaseModel):
    """A device an action ran on: its status and health state before the run and after it."""

    equipment_id: str
    site: str
    status_before: str
    status_after: str
    health_before: HealthState
    health_after: HealthState
    actions: list[str] = Field(default_factory=list)
    """`<id> <action>: <outcome>` for each action that ran on it."""
    improved: bool = False


class Report(BaseModel):
    """The schema of `report.json` (documented in the README)."""

    schema_version: str = REPORT_SCHEMA_VERSION
    workflow_id: str
    run_id: str
    outcome: Phase
    verdict: str = ""
    """The run's own outcome in words, as the headline says it (e.g. `COMPLETED WITH PROBLEMS`)."""
    summary: str
    dry_run: bool
    executor: str = "simulated"
    """What carried the actions out (`simulated`: the JSON fleet simulator, no real device)."""
    started_by: str
    started_at: datetime
    finished_at: datetime
    analysis_time: datetime | None = None
    fleet: FleetSummary | None = None
    health: ReportHealth | None = None
    sites_before_after: list[SiteChange] = Field(default_factory=list)
    devices_after: list[DeviceChange] = Field(default_factory=list)
    findings: list[ReportFinding] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    """Doubts about the run's inputs that did not stop it (e.g. an analysis time years before the data)."""
    data_errors: list[DataError] = Field(default_factory=list)
    """Records the rules did not trust (e.g. stamped in the future), so nothing was planned from them."""
    problems: list[Problem] = Field(default_factory=list)
    site_impacts: list[SiteImpact] = Field(default_factory=list)
    decision: Decision | None = None
    actions: list[ReportAction] = Field(default_factory=list)
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    recommendations: list[str] = Field(default_factory=list)
    """Follow-ups computed from the fleet as the run left it: nothing for a problem the run fixed."""
    advisor: dict[str, Any] = Field(default_factory=lambda: {"used": False, "note": "rules only (no LLM configured)"})
    error: str | None = None
    halted: bool = False
    files: dict[str, str] = Field(default_factory=dict)
    """The other files beside report.json in the report folder (name -> what it holds)."""


def with_problems(counts: OutcomeCounts) -> bool:
    """An action failed, was rolled back or did not run: the run is COMPLETED WITH PROBLEMS (exit 1)."""
    return bool(counts.problems or counts.not_run)


def verdict(phase: Phase, counts: OutcomeCounts) -> str:
    """The run's outcome as an operator says it: the phase, except a completed run with problems."""
    if phase is Phase.COMPLETED and with_problems(counts):
        return "COMPLETED WITH PROBLEMS"
    return phase.value


def summarize(phase: Phase, planned: int, approved: int, counts: OutcomeCounts, *, dry_run: bool,
              findings: int, devices: int, decision: Decision | None, error: str | None,
              halted: bool = False) -> str:
    """One line with the real counts. It never claims success when something failed."""
    prefix = "DRY RUN (simulated; the fleet was not changed) — " if dry_run else ""
    if phase is Phase.FAILED:
        return f"{prefix}FAILED: {error or 'the run did not finish'}"
    if phase is Phase.NO_ACTION_NEEDED:
        return f"{prefix}NO-ACTION-NEEDED: {findings} finding(s) on {devices} device(s), none calling for a repair"
    if phase is Phase.REJECTED:
        who = f" by {decision.by}" if decision else ""
        return f"{prefix}REJECTED{who}: 0 of {planned} planned action(s) executed; the fleet was not changed"
    if phase is Phase.EXPIRED:
        return f"{prefix}EXPIRED: no decision before the approval deadline; 0 of {planned} planned action(s) executed"
    parts = [f"{counts.succeeded} succeeded"]
    for label, n in (("failed", counts.failed), ("rolled back", counts.rolled_back), ("stale", counts.stale),
                     ("not run", counts.not_run), ("skipped (not approved)", counts.skipped_unapproved)):
        if n:
            parts.append(f"{n} {label}")
    tail = "; circuit breaker stopped execution" if halted and counts.not_run else ""
    return (f"{prefix}{verdict(phase, counts)}: {planned} action(s) planned, {approved} approved; "
            f"{', '.join(parts)}{tail}")


def build_report(
    inp: ReportInput,
    detection: DetectionArtifact | None,
    analysis: AnalysisArtifact | None,
    plan: PlanArtifact | None,
    recorded: Mapping[str, ActionResult],
    advisor: dict[str, Any] | None = None,
    executor: str = "simulated",
) -> Report:
    selected = set(inp.selected_ids) if inp.selected_ids is not None else None
    planned = [a for a in (plan.actions if plan else []) if selected is None or a.id in selected]
    approved_ids = set(inp.approved_ids) if inp.approved_ids is not None else {a.id for a in planned}
    if inp.phase in (Phase.REJECTED, Phase.EXPIRED):
        approved_ids = set()
    counts = OutcomeCounts()
    rows: list[ReportAction] = []
    for a in planned:
        approved = a.id in approved_ids
        result = recorded.get(a.id)
        if result is not None:
            outcome, detail, changes, seq = result.outcome, result.detail, result.changes, result.audit_seq
            observed, after = result.observed, result.after
        else:
            outcome = Outcome.NOT_RUN if approved else Outcome.SKIPPED_UNAPPROVED
            detail = ("approved but not executed" + (" (circuit breaker)" if inp.halted else "")) if approved else ""
            changes, seq, observed, after = {}, None, "", None
        counts.add(outcome)
        rows.append(ReportAction(
            id=a.id, equipment_id=a.equipment_id, site=a.site, action=a.action.value, risk=a.risk,
            confidence=a.confidence, routine=a.routine, priority=a.priority, source=a.source, reason=a.reason,
            approved=approved, outcome=outcome, detail=detail, observed=observed, changes=changes, after=after,
            audit_seq=seq, llm_comment=a.llm_comment, llm_priority=a.llm_priority,
        ))
    findings = detection.findings if detection else []
    phase = inp.phase
    summary = summarize(phase, len(planned), len(approved_ids & {a.id for a in planned}), counts,
                        dry_run=inp.dry_run, findings=len(findings),
                        devices=detection.summary.devices if detection else 0,
                        decision=inp.decision, error=inp.error, halted=inp.halted)
    devices = device_changes(detection, rows, dry_run=inp.dry_run) if detection else []
    problems = analysis.problems if analysis else []
    report = Report(
        workflow_id=inp.workflow_id, run_id=inp.run_id, outcome=phase, verdict=verdict(phase, counts),
        summary=summary, dry_run=inp.dry_run, executor=executor,
        started_by=inp.started_by, started_at=inp.started_at, finished_at=inp.finished_at,
        analysis_time=detection.as_of if detection else None,
        fleet=detection.summary if detection else None,
        health=_health(detection.device_health, detection.sites) if detection else None,
        sites_before_after=site_changes(detection.sites, devices, rows) if detection else [],
        devices_after=devices,
        findings=[_finding(f) for f in findings],
        warnings=detection.warnings if detection else [],
        data_errors=detection.data_errors if detection else [],
        problems=problems,
        site_impacts=analysis.impacts if analysis else [],
        decision=inp.decision, actions=rows, outcomes=counts,
        recommendations=recommendations(findings, rows, problems, inp.halted, devices, planned),
        error=inp.error, halted=inp.halted,
    )
    if advisor:
        report.advisor = advisor
    return report


def _finding(f: Finding) -> ReportFinding:
    return ReportFinding(
        equipment_id=f.equipment_id, site=f.site, kind=f.kind, severity=f.severity.value, confidence=f.confidence,
        message=f.message, metric=f.evidence.metric, value=f.evidence.value, threshold=f.evidence.threshold,
        projected_days_to_breach=f.evidence.projected_days_to_breach,
    )


def _health(devices: list[DeviceHealth], sites: list[SiteHealth]) -> ReportHealth:
    counts = Counter(d.state.value for d in devices)
    return ReportHealth(devices={s.value: counts.get(s.value, 0) for s in HealthState},
                        held_back=sum(1 for d in devices if d.held_back), sites=sites)


def device_changes(detection: DetectionArtifact, rows: list[ReportAction], *, dry_run: bool) -> list[DeviceChange]:
    """Every device an action ran on, before and after. A real run's device is as its last committed action
    left it; a dry run simulates each action on the unchanged fleet, so its device shows the best of them."""
    before = {d.equipment_id: d for d in detection.device_health}
    ran: dict[str, list[ReportAction]] = {}
    for r in rows:
        if r.outcome in _RAN:
            ran.setdefault(r.equipment_id, []).append(r)
    out = []
    for eid, device_rows in ran.items():
        health = before.get(eid)
        facts = detection.facts.get(eid)
        status = facts.status.strip() if facts else "?"
        state = health.state if health else HealthState.HAPPY
        afters = [r for r in device_rows if r.after is not None]
        if not afters:
            last_status, last_state = status, state
        else:
            chosen = (min(afters, key=lambda r: (r.after.health.rank, r.id))  # type: ignore[union-attr]
                      if dry_run else max(afters, key=lambda r: (r.audit_seq or 0, r.id)))
            assert chosen.after is not None
            # Judged as the before-state was: a device held at stressed by the no-jump rule stays held.
            last_status = chosen.after.status
            last_state = smooth_state(chosen.after.health, health.previous_state if health else None)[0]
        improved = last_state.rank < state.rank or (status.lower() in _TROUBLED_STATUSES
                                                     and last_status.lower() not in _TROUBLED_STATUSES)
        out.append(DeviceChange(
            equipment_id=eid, site=device_rows[0].site, status_before=status, status_after=last_status,
            health_before=state, health_after=last_state,
            actions=[f"{r.id} {r.action}: {r.outcome.value}" for r in device_rows], improved=improved))
    out.sort(key=lambda d: (d.improved, -d.health_after.rank, d.site, d.equipment_id))
    return out


def site_changes(sites: list[SiteHealth], devices: list[DeviceChange], rows: list[ReportAction]) -> list[SiteChange]:
    """Per site: device health and status counts before the run and after it."""
    by_site = {d.site: [] for d in devices}  # type: dict[str, list[DeviceChange]]
    for d in devices:
        by_site[d.site].append(d)
    outcomes: dict[str, Counter[str]] = {}
    for r in rows:
        outcomes.setdefault(r.site, Counter())[r.outcome.value] += 1
    out = []
    for s in sites:
        before, after = s, s.model_copy()
        for d in by_site.get(s.site, []):
            _move(after, d.health_before.value, d.health_after.value, [h.value for h in HealthState])
            _move(after, d.status_before.lower(), d.status_after.lower(), _TROUBLED_STATUSES)
        after.state = (HealthState.CRITICAL if after.critical else HealthState.STRESSED if after.stressed
                       else HealthState.HAPPY)
        out.append(SiteChange(site=s.site, devices=s.devices, before=before, after=after,
                              touched=len(by_site.get(s.site, [])), outcomes=dict(outcomes.get(s.site, {}))))
    return out


def _move(counts: SiteHealth, old: str, new: str, fields: Iterable[str]) -> None:
    """One device leaves the `old` count and joins the `new` one (each only if it is counted)."""
    fields = set(fields)
    if old == new:
        return
    if old in fields:
        setattr(counts, old, max(0, getattr(counts, old) - 1))
    if new in fields:
        setattr(counts, new, getattr(counts, new) + 1)


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
                   if d.health_after is HealthState.CRITICAL or d.status_after.lower() in _TROUBLED_STATUSES)
    if still:
        out.append(f"{len(still)} device(s) an action ran on are still critical, down or degraded: {_some(still)}.")
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


# -------------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = re.compile(r"([\\`*<\[\]|])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def md(value: Any) -> str:
    """Text from the data (device ids, messages, names) made inert in Markdown: no line breaks (so no
    injected rows or headings), no markup, links or HTML."""
    text = _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", str("" if value is None else value)))
    return "\\" + text if text.startswith(("#", "+", "-", ">", "=")) else text  # no heading, list or quote


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def when(at: datetime | None) -> str:
    """Timestamps to the second, as people read them."""
    return at.isoformat(timespec="seconds") if at else "n/a"


def changes_text(changes: Mapping[str, list[Any]]) -> str:
    return "; ".join(f"{k}: {_value(v[0])} → {_value(v[1])}" for k, v in changes.items() if len(v) == 2)


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)


def _arrow(old: Any, new: Any) -> str:
    return str(old) if old == new else f"{old} → {new}"


def verdict_tone(report: Report) -> str:
    """ok, problem, bad or neutral: how the headline is coloured."""
    if report.outcome is Phase.COMPLETED:
        return "problem" if with_problems(report.outcomes) else "ok"
    return {Phase.FAILED: "bad", Phase.EXPIRED: "problem", Phase.NO_ACTION_NEEDED: "ok"}.get(report.outcome, "neutral")


def executor_text(report: Report) -> str:
    if report.dry_run:
        return "dry run: every action was simulated on a copy; nothing was changed, not even the data files"
    return EXECUTORS.get(report.executor, report.executor)


@dataclass
class Block:
    """One section of the rendered report: what Markdown and HTML both draw (so they never disagree)."""

    title: str | None = None
    level: int = 2
    text: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    more: str | None = None


def _more(shown: int, total: int, where: str) -> str | None:
    return None if shown >= total else f"…and {total - shown} more: the full list is in {where}."


def blocks(report: Report) -> tuple[str, str, list[str], list[Block]]:
    """(title, headline, facts, sections) of the report, in reading order."""
    facts = [
        f"Outcome: {report.verdict or report.outcome.value}" + (" (dry run)" if report.dry_run else ""),
        f"Executor: {executor_text(report)}",
        f"Analysis time: {when(report.analysis_time)}",
        f"Started by {report.started_by} at {when(report.started_at)}, finished {when(report.finished_at)}",
        f"Advisor: {report.advisor.get('note', '')}",
    ]
    if report.decision:
        d = report.decision
        ids = f" ({len(d.action_ids)} action(s))" if d.action_ids else ""
        comment = f" — “{d.comment}”" if d.comment else ""
        facts.append(f"Decision: {d.kind.value} by {d.by} at {when(d.at)}{ids}{comment}")
    if report.error:
        facts.append(f"Error: {report.error}")
    facts += [f"Warning: {w}" for w in report.warnings]
    if report.files:
        facts.append("Also in this folder: " + ", ".join(f"{name} ({what})" for name, what in report.files.items()))
    out: list[Block] = []
    if report.advisor.get("executive_summary"):
        out.append(Block(f"Executive summary (LLM advisor: {report.advisor.get('model')})",
                         text=[str(report.advisor["executive_summary"])]))
    if report.advisor.get("notes"):
        out.append(Block(text=["Advisor notes: " + "; ".join(str(n) for n in report.advisor["notes"])]))
    if report.fleet:
        f = report.fleet
        statuses = ", ".join(f"{k} {v}" for k, v in f.statuses.items())
        text = [f"{f.devices} devices at {f.sites} sites, {f.readings} readings; status: {statuses}."]
        if report.health:
            h = report.health
            text.append("Health before the run: " + ", ".join(f"{k} {v}" for k, v in h.devices.items())
                        + (f" ({h.held_back} held at stressed by the no-jump rule)" if h.held_back else "") + ".")
        if f.models_without_life_expectancy:
            text.append(f"No life expectancy known for: {', '.join(f.models_without_life_expectancy)}.")
        out.append(Block("Fleet", text=text))
    out += _sites_section(report)
    out += _devices_section(report)
    if report.data_errors:
        shown = report.data_errors[:TOP_ROWS]
        out.append(Block(f"Data errors ({len(report.data_errors)})",
                         text=["Records the rules did not trust; nothing was planned from them. Fix them at the source."],
                         headers=["File", "Record", "Field", "Value", "Problem"],
                         rows=[[e.file, e.record_id, e.field, e.value, e.message] for e in shown],
                         more=_more(len(shown), len(report.data_errors), "report.json")))
    out.append(Block("Outcome of actions", headers=["Outcome", "Count"],
                     rows=[[o.value, getattr(report.outcomes, o.value)] for o in Outcome]))
    if report.recommendations:
        out.append(Block("Recommendations", bullets=list(report.recommendations)))
    out += _problems_section(report)
    out += _actions_section(report)
    out += _findings_section(report)
    return f"Maintenance report — {report.workflow_id}", report.summary, facts, out


def render_markdown(report: Report) -> str:
    """The report for people: the outcome first, then what changed per site and device, what went wrong in
    full, and the long tail of a large run as counts (every row stays in report.json and the CSVs)."""
    title, headline, facts, sections = blocks(report)
    out = [f"# {md(title)}", "", f"**{md(headline)}**", ""] + [f"- {md(fact)}" for fact in facts]
    for b in sections:
        if b.title:
            out += ["", f"{'#' * b.level} {md(b.title)}"]
        for paragraph in b.text:
            out += ["", md(paragraph)]
        if b.bullets:
            out += [""] + [f"- {md(item)}" for item in b.bullets]
        if b.headers:
            out += ["", _table(b.headers, b.rows)]
        if b.more:
            out += ["", md(b.more)]
    return "\n".join(out) + "\n"


def _sites_section(report: Report) -> list[Block]:
    if not report.sites_before_after:
        return []
    sites = report.sites_before_after
    shown = sites
    if len(sites) > LARGE_LIST:
        shown = sorted((s for s in sites if s.touched or s.before.state is not HealthState.HAPPY),
                       key=lambda s: (-s.after.state.rank, -s.after.critical, -s.after.down, s.site))[:TOP_ROWS]
    return [Block(
        "Sites: before → after" + (" (simulated)" if report.dry_run else ""),
        text=["Health states and device statuses per site before the run and after it (the devices the run "
              "touched judged again by the same rules)."],
        headers=["Site", "Devices", "State", "Critical", "Stressed", "Happy", "Down", "Degraded", "Touched", "Outcomes"],
        rows=[[s.site, s.devices, _arrow(s.before.state.value, s.after.state.value),
               _arrow(s.before.critical, s.after.critical), _arrow(s.before.stressed, s.after.stressed),
               _arrow(s.before.happy, s.after.happy), _arrow(s.before.down, s.after.down),
               _arrow(s.before.degraded, s.after.degraded), s.touched,
               ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items()))] for s in shown],
        more=_more(len(shown), len(sites), "report.json (sites_before_after)"))]


def _devices_section(report: Report) -> list[Block]:
    devices = report.devices_after
    if not devices:
        return []
    improved = sum(1 for d in devices if d.improved)
    shown = devices
    if len(devices) > LARGE_LIST:
        shown = [d for d in devices if not d.improved][:LARGE_LIST] + [d for d in devices if d.improved][:TOP_ROWS]
    return [Block(
        f"Devices touched: after-state ({len(devices)}; {improved} improved)",
        headers=["Device", "Site", "Status", "Health", "Actions"],
        rows=[[d.equipment_id, d.site, _arrow(d.status_before, d.status_after),
               _arrow(d.health_before.value, d.health_after.value), "; ".join(d.actions)] for d in shown],
        more=_more(len(shown), len(devices), "report.json (devices_after) and actions.csv"))]


def _problems_section(report: Report) -> list[Block]:
    if not report.problems:
        return []
    llm = any(p.llm_explanation for p in report.problems)
    shown = report.problems[:TOP_PROBLEMS] if len(report.problems) > LARGE_LIST else report.problems
    return [Block(
        f"Problems ({len(report.problems)})",
        headers=["Id", "Severity", "Scope", "Problem", "Likely cause (rules)"] + (["Advisor (LLM)"] if llm else []),
        rows=[[p.id, p.severity.value, p.scope, p.title, p.explanation] + ([p.llm_explanation or ""] if llm else [])
              for p in shown],
        more=_more(len(shown), len(report.problems), "report.json (problems)"))]


def _action_rows(actions: list[ReportAction], llm: bool, llm_priority: bool) -> list[list[Any]]:
    return [[a.id, a.equipment_id, a.site, a.action, a.risk.value, f"{a.confidence:.2f}",
             "yes" if a.routine else "no", "yes" if a.approved else "no", a.outcome.value,
             a.observed or "", changes_text(a.changes),
             a.reason if a.outcome is Outcome.SUCCEEDED else (a.detail or a.reason)]
            + ([a.source, a.llm_comment or ""] if llm else []) + ([a.llm_priority] if llm_priority else [])
            for a in actions]


def _actions_section(report: Report) -> list[Block]:
    if not report.actions:
        return []
    actions = report.actions
    llm = any(a.llm_comment or a.source == "llm" for a in actions)
    llm_priority = any(a.llm_priority is not None for a in actions)
    headers = (["Id", "Device", "Site", "Action", "Risk", "Conf.", "Routine", "Approved", "Outcome",
                "Observed", "Changes (old → new)", "Why planned / what went wrong"]
               + (["Source", "Advisor comment (LLM)"] if llm else []) + (["Advisor priority (LLM)"] if llm_priority else []))
    troubled = [a for a in actions if a.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK)]
    out: list[Block] = []
    if troubled:
        out.append(Block(f"Failures and rollbacks ({len(troubled)})",
                         headers=["Id", "Device", "Site", "Action", "Outcome", "What verification saw", "Detail"],
                         rows=[[a.id, a.equipment_id, a.site, a.action, a.outcome.value, a.observed, a.detail]
                               for a in troubled]))
    if len(actions) <= LARGE_LIST:
        return [*out, Block(f"Actions ({len(actions)})", headers=headers, rows=_action_rows(actions, llm, llm_priority))]
    by_kind: dict[str, Counter[str]] = {}
    for a in actions:
        by_kind.setdefault(a.action, Counter())[a.outcome.value] += 1
    kinds = [o.value for o in Outcome]
    ran = sorted((a for a in actions if a.outcome in (Outcome.SUCCEEDED, Outcome.STALE, Outcome.NOT_RUN)),
                 key=lambda a: a.priority)
    shown = ran[:TOP_ROWS]
    out.append(Block(f"Actions ({len(actions)})",
                     text=["A large run: counts per action, then the most urgent of the others. Every action, with what "
                           "was observed and the fields it changed, is in actions.csv and report.json."],
                     headers=["Action", *kinds, "Total"],
                     rows=[[name, *(c.get(k, 0) for k in kinds), sum(c.values())] for name, c in sorted(by_kind.items())]))
    if shown:
        out.append(Block(f"Most urgent of the other actions ({len(shown)} of {len(ran)})", level=3, headers=headers,
                         rows=_action_rows(shown, llm, llm_priority)))
    return out


def _findings_section(report: Report) -> list[Block]:
    findings = report.findings
    if not findings:
        return []
    headers = ["Device", "Site", "Kind", "Severity", "Evidence", "Conf."]

    def rows(items: list[ReportFinding]) -> list[list[Any]]:
        return [[f.equipment_id, f.site, f.kind.value, f.severity, f.message, f"{f.confidence:.2f}"] for f in items]

    if len(findings) <= LARGE_LIST:
        return [Block(f"Findings ({len(findings)})", headers=headers, rows=rows(findings))]
    counts = Counter((f.kind.value, f.severity) for f in findings)
    severities = sorted({f.severity for f in findings})
    kinds = sorted({f.kind.value for f in findings})
    shown = findings[:TOP_ROWS]  # sorted most severe first
    return [Block(f"Findings ({len(findings)})",
                  text=["Counts per kind and severity; the most severe are listed below, all of them in findings.csv "
                        "and report.json."],
                  headers=["Kind", *severities],
                  rows=[[k, *(counts.get((k, sev), 0) for sev in severities)] for k in kinds]),
            Block(f"Most severe findings ({len(shown)} of {len(findings)})", level=3, headers=headers, rows=rows(shown))]


# -------------------------------------------------------------------------------------------------
# CSV (the full lists of a large run, for a spreadsheet)

_FORMULA = ("=", "+", "-", "@", "\t", "\r")

ACTION_COLUMNS = ["id", "equipment_id", "site", "action", "risk", "confidence", "routine", "priority", "approved",
                  "outcome", "observed", "changes", "detail", "status_after", "health_after", "audit_seq", "source"]
FINDING_COLUMNS = ["equipment_id", "site", "kind", "severity", "metric", "value", "threshold", "confidence", "message"]


def _csv_cell(value: Any) -> Any:
    """Text cells that a spreadsheet would run as a formula are quoted with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def render_csv(rows: Iterable[Iterable[Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def actions_csv(report: Report) -> str:
    return render_csv(([a.id, a.equipment_id, a.site, a.action, a.risk.value, a.confidence, a.routine, a.priority,
                        a.approved, a.outcome.value, a.observed, changes_text(a.changes), a.detail,
                        a.after.status if a.after else None, a.after.health.value if a.after else None,
                        a.audit_seq, a.source] for a in report.actions), ACTION_COLUMNS)


def findings_csv(report: Report) -> str:
    return render_csv(([f.equipment_id, f.site, f.kind.value, f.severity, f.metric, f.value, f.threshold,
                        f.confidence, f.message] for f in report.findings), FINDING_COLUMNS)
