"""Report: what was found, decided and really done, as a typed document and as Markdown. Pure.

Outcomes come from the ledger (or, for a dry run, the simulation record), never from what the
workflow hoped would happen; the summary line states the real counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..models.core import (
    ActionResult,
    DataError,
    DeviceHealth,
    Finding,
    FindingKind,
    FleetSummary,
    HealthState,
    Outcome,
    Problem,
    Risk,
    SiteHealth,
    SiteImpact,
)
from ..models.workflow import Decision, OutcomeCounts, Phase, ReportInput

if TYPE_CHECKING:
    from ..artifacts import AnalysisArtifact, DetectionArtifact, PlanArtifact

REPORT_SCHEMA_VERSION = "1"


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
    changes: dict[str, list[Any]] = Field(default_factory=dict)
    audit_seq: int | None = None
    llm_comment: str | None = None
    llm_priority: int | None = None
    """The advisor's suggested priority (1 = most urgent); `priority` stays the rules' own."""


class ReportHealth(BaseModel):
    devices: dict[str, int]
    held_back: int
    sites: list[SiteHealth]


class Report(BaseModel):
    """The schema of `report.json` (documented in the README)."""

    schema_version: str = REPORT_SCHEMA_VERSION
    workflow_id: str
    run_id: str
    outcome: Phase
    summary: str
    dry_run: bool
    started_by: str
    started_at: datetime
    finished_at: datetime
    analysis_time: datetime | None = None
    fleet: FleetSummary | None = None
    health: ReportHealth | None = None
    findings: list[ReportFinding] = Field(default_factory=list)
    data_errors: list[DataError] = Field(default_factory=list)
    """Records the rules did not trust (e.g. stamped in the future), so nothing was planned from them."""
    problems: list[Problem] = Field(default_factory=list)
    site_impacts: list[SiteImpact] = Field(default_factory=list)
    decision: Decision | None = None
    actions: list[ReportAction] = Field(default_factory=list)
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    recommendations: list[str] = Field(default_factory=list)
    advisor: dict[str, Any] = Field(default_factory=lambda: {"used": False, "note": "rules only (no LLM configured)"})
    error: str | None = None
    halted: bool = False


def with_problems(counts: OutcomeCounts) -> bool:
    """An action failed, was rolled back or did not run: the run is COMPLETED WITH PROBLEMS (exit 1)."""
    return bool(counts.problems or counts.not_run)


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
    verdict = "COMPLETED WITH PROBLEMS" if with_problems(counts) else "COMPLETED"
    tail = "; circuit breaker stopped execution" if halted and counts.not_run else ""
    return f"{prefix}{verdict}: {planned} action(s) planned, {approved} approved; {', '.join(parts)}{tail}"


def build_report(
    inp: ReportInput,
    detection: DetectionArtifact | None,
    analysis: AnalysisArtifact | None,
    plan: PlanArtifact | None,
    recorded: Mapping[str, ActionResult],
    advisor: dict[str, Any] | None = None,
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
        else:
            outcome = Outcome.NOT_RUN if approved else Outcome.SKIPPED_UNAPPROVED
            detail = ("approved but not executed" + (" (circuit breaker)" if inp.halted else "")) if approved else ""
            changes, seq = {}, None
        counts.add(outcome)
        rows.append(ReportAction(
            id=a.id, equipment_id=a.equipment_id, site=a.site, action=a.action.value, risk=a.risk,
            confidence=a.confidence, routine=a.routine, priority=a.priority, source=a.source, reason=a.reason,
            approved=approved, outcome=outcome, detail=detail, changes=changes, audit_seq=seq,
            llm_comment=a.llm_comment, llm_priority=a.llm_priority,
        ))
    findings = detection.findings if detection else []
    phase = inp.phase
    summary = summarize(phase, len(planned), len(approved_ids & {a.id for a in planned}), counts,
                        dry_run=inp.dry_run, findings=len(findings),
                        devices=detection.summary.devices if detection else 0,
                        decision=inp.decision, error=inp.error, halted=inp.halted)
    report = Report(
        workflow_id=inp.workflow_id, run_id=inp.run_id, outcome=phase, summary=summary, dry_run=inp.dry_run,
        started_by=inp.started_by, started_at=inp.started_at, finished_at=inp.finished_at,
        analysis_time=detection.as_of if detection else None,
        fleet=detection.summary if detection else None,
        health=_health(detection.device_health, detection.sites) if detection else None,
        findings=[_finding(f) for f in findings],
        data_errors=detection.data_errors if detection else [],
        problems=analysis.problems if analysis else [],
        site_impacts=analysis.impacts if analysis else [],
        decision=inp.decision, actions=rows, outcomes=counts,
        recommendations=recommendations(findings, rows, analysis.problems if analysis else [], inp.halted),
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


def recommendations(findings: list[Finding], rows: list[ReportAction], problems: list[Problem],
                    halted: bool) -> list[str]:
    """Deterministic follow-ups from what was found and what happened."""
    out: list[str] = []
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
    site_problems = [p for p in problems if p.scope == "site"]
    for p in site_problems[:5]:
        out.append(f"{p.title}: {p.explanation}.")
    nearing = sorted({f.equipment_id for f in findings if f.kind is FindingKind.NEARING_END_OF_LIFE})
    if nearing:
        shown = ", ".join(nearing[:10]) + (" …" if len(nearing) > 10 else "")
        out.append(f"Budget replacements for {len(nearing)} device(s) nearing end of life: {shown}.")
    trends = [f for f in findings if f.kind is FindingKind.RISING_TREND]
    if trends:
        soonest = min(trends, key=lambda f: f.evidence.projected_days_to_breach or 1e9)
        out.append(f"{len(trends)} metric trend(s) head for a threshold; the soonest: {soonest.equipment_id} "
                   f"{soonest.message}.")
    return out


# -------------------------------------------------------------------------------------------------
# Markdown


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """A human-readable rendering of the report (every finding and every action)."""
    out = [f"# Maintenance report — {report.workflow_id}", "", f"**{report.summary}**", ""]
    out += [
        f"- Outcome: `{report.outcome.value}`" + (" (dry run)" if report.dry_run else ""),
        f"- Analysis time: {report.analysis_time.isoformat() if report.analysis_time else 'n/a'}",
        f"- Started by {report.started_by} at {report.started_at.isoformat()}, finished {report.finished_at.isoformat()}",
        f"- Advisor: {report.advisor.get('note', '')}",
    ]
    if report.decision:
        d = report.decision
        ids = f" ({len(d.action_ids)} action(s))" if d.action_ids else ""
        comment = f" — “{d.comment}”" if d.comment else ""
        out.append(f"- Decision: **{d.kind.value}** by {d.by} at {d.at.isoformat()}{ids}{comment}")
    if report.error:
        out.append(f"- Error: {report.error}")
    if report.advisor.get("executive_summary"):
        out += ["", f"## Executive summary (LLM advisor: {report.advisor.get('model')})", "",
                str(report.advisor["executive_summary"])]
    if report.advisor.get("notes"):
        out += ["", "Advisor notes: " + "; ".join(str(n) for n in report.advisor["notes"])]
    if report.fleet:
        f = report.fleet
        statuses = ", ".join(f"{k} {v}" for k, v in f.statuses.items())
        out += ["", "## Fleet", "", f"{f.devices} devices at {f.sites} sites, {f.readings} readings; status: {statuses}."]
        if f.models_without_life_expectancy:
            out.append(f"No life expectancy known for: {', '.join(f.models_without_life_expectancy)}.")
    if report.health:
        h = report.health
        out += ["", "## Health", "",
                "Devices: " + ", ".join(f"{k} {v}" for k, v in h.devices.items())
                + (f" ({h.held_back} held at stressed by the no-jump rule)" if h.held_back else ""), "",
                _table(["Site", "State", "Devices", "Happy", "Stressed", "Critical", "Down", "Degraded"],
                       [[s.site, s.state.value, s.devices, s.happy, s.stressed, s.critical, s.down, s.degraded]
                        for s in h.sites])]
    if report.data_errors:
        out += ["", f"## Data errors ({len(report.data_errors)})", "",
                "Records the rules did not trust; nothing was planned from them. Fix them at the source.", "",
                _table(["File", "Record", "Field", "Value", "Problem"],
                       [[e.file, e.record_id, e.field, e.value, e.message] for e in report.data_errors])]
    out += ["", "## Outcome of actions", "",
            _table(["Outcome", "Count"], [[o.value, getattr(report.outcomes, o.value)] for o in Outcome])]
    if report.recommendations:
        out += ["", "## Recommendations", ""] + [f"- {r}" for r in report.recommendations]
    if report.problems:
        llm = any(p.llm_explanation for p in report.problems)
        out += ["", f"## Problems ({len(report.problems)})", "",
                _table(["Id", "Severity", "Scope", "Problem", "Likely cause (rules)"] + (["Advisor (LLM)"] if llm else []),
                       [[p.id, p.severity.value, p.scope, p.title, p.explanation]
                        + ([p.llm_explanation or ""] if llm else []) for p in report.problems])]
    if report.actions:
        llm = any(a.llm_comment or a.source == "llm" for a in report.actions)
        llm_priority = any(a.llm_priority is not None for a in report.actions)
        out += ["", f"## Actions ({len(report.actions)})", "",
                _table(["Id", "Device", "Site", "Action", "Risk", "Conf.", "Routine", "Approved", "Outcome", "Detail"]
                       + (["Source", "Advisor comment (LLM)"] if llm else [])
                       + (["Advisor priority (LLM)"] if llm_priority else []),
                       [[a.id, a.equipment_id, a.site, a.action, a.risk.value, f"{a.confidence:.2f}",
                         "yes" if a.routine else "no", "yes" if a.approved else "no", a.outcome.value,
                         a.detail or a.reason] + ([a.source, a.llm_comment or ""] if llm else [])
                        + ([a.llm_priority] if llm_priority else [])
                        for a in report.actions])]
    if report.findings:
        out += ["", f"## Findings ({len(report.findings)})", "",
                _table(["Device", "Site", "Kind", "Severity", "Evidence", "Conf."],
                       [[f.equipment_id, f.site, f.kind.value, f.severity, f.message, f"{f.confidence:.2f}"]
                        for f in report.findings])]
    return "\n".join(out) + "\n"
