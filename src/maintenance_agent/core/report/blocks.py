"""The report as sections (blocks) in reading order: what Markdown and HTML both draw. Pure.

Past LARGE_LIST rows a list is summarized: counts, then the most urgent or severe rows (the full
lists stay in report.json and the CSVs)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...models.core import HealthState, Outcome
from ...models.run import Phase
from .model import EXECUTORS, Report, ReportAction, ReportFinding
from .outcome import with_problems
from .text import changes_text, when

LARGE_LIST = 200
"""Past this many rows a list is summarized in report.md (the full list stays in report.json and the CSVs)."""
TOP_ROWS = 50
TOP_PROBLEMS = 20


def arrow(old: Any, new: Any) -> str:
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
        rows=[[s.site, s.devices, arrow(s.before.state.value, s.after.state.value),
               arrow(s.before.critical, s.after.critical), arrow(s.before.stressed, s.after.stressed),
               arrow(s.before.happy, s.after.happy), arrow(s.before.down, s.after.down),
               arrow(s.before.degraded, s.after.degraded), s.touched,
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
        rows=[[d.equipment_id, d.site, arrow(d.status_before, d.status_after),
               arrow(d.health_before.value, d.health_after.value), "; ".join(d.actions)] for d in shown],
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
