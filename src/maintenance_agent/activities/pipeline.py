"""Pipeline activities: detect, analyze and plan (the fleet store read through the pure core), and
the plan's summaries the workflows carry (ids and counts; the full lists stay in the run folder)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..core.alerts import alert_warnings, attach
from ..core.analyze import analyze
from ..core.detect import detect
from ..core.plan import plan_actions
from ..core.timeframe import as_of_warnings, time_frame
from ..models.activity_io import (
    AnalyzeInput,
    AnalyzeResult,
    DetectInput,
    DetectResult,
    LoadActionsInput,
    LoadPlanInput,
    PlanInput,
    PlanResult,
)
from ..models.core import PlannedAction
from ..models.run import INLINE_LIMIT
from ..perf import gc_paused
from ..sources.base import FileMetrics, MetricsResult, MetricsSource, SourceError, gap_errors, gap_warnings
from ..sources.prometheus import PrometheusSource
from ..store import FleetStore
from .base import ActivityBase
from .errors import store_errors

log = logging.getLogger(__name__)
MAX_INLINE_DATA_ERRORS = 50


class PipelineActivities(ActivityBase):
    @activity.defn
    def detect_fleet(self, inp: DetectInput) -> DetectResult:
        """Load and validate the fleet, run every rule, store the findings as an artifact."""
        # The folder first: a cycle whose data cannot be read still leaves its number behind (last_cycle).
        self.run_dir(inp.artifact_dir).mkdir(parents=True, exist_ok=True)
        store = self.store()
        with store_errors():
            fleet = store.snapshot()
        activity.heartbeat("loaded")
        # The clock is read here, in the activity; the rules only ever see the time they are given.
        now = datetime.now(UTC)
        # The readings from the worker's metrics source (the files, or Prometheus), the rest from the files.
        telemetry = self._telemetry(fleet.inventory, fleet.health, inp.as_of or now, inp.rules.trend_window_days)
        activity.heartbeat("telemetry read")
        source, fleet = telemetry.provenance, fleet.with_health(telemetry.health)
        attached = attach(inp.alerts, fleet.inventory)
        frame = time_frame(fleet.inventory.values(), fleet.health.values(), now, inp.rules.future_tolerance)
        # Live telemetry is judged as of now; the files as of their newest reading (unless a time is given).
        live = source is not None and source.source != FileMetrics.name
        as_of = inp.as_of or (now if live else frame.as_of)
        warnings = as_of_warnings(as_of, frame.as_of, given=inp.as_of is not None)
        warnings = [*warnings, *gap_warnings(telemetry), *alert_warnings(attached.unknown)]
        data_errors = [*frame.data_errors, *gap_errors(telemetry)]
        previous = self._health_states_read(store, inp)
        with gc_paused():
            detection = detect(fleet.inventory, fleet.health, fleet.life_years(), inp.rules, as_of, previous,
                               attached.by_device)
        del fleet
        activity.heartbeat("detected")
        artifact = artifacts.DetectionArtifact(
            as_of=as_of, summary=detection.summary, findings=detection.findings, facts=detection.facts,
            device_health=detection.device_health, sites=detection.sites,
            firmware_baseline=detection.firmware_baseline, data_errors=data_errors, warnings=warnings,
            source=source,
        )
        artifacts.write(self.run_dir(inp.artifact_dir), artifacts.DETECTION, artifact)
        if attached.by_device:
            artifacts.write(self.run_dir(inp.artifact_dir), artifacts.ALERTS,
                            artifacts.LiveAlerts(by_device=attached.by_device))
        if inp.record_health:
            with store_errors():
                store.write_health_states({d.equipment_id: d.state.value for d in detection.device_health},
                                          inp.run_id)
        return DetectResult(
            as_of=as_of, summary=detection.summary, findings_total=len(detection.findings),
            by_severity=dict(Counter(f.severity.value for f in detection.findings)),
            by_kind=dict(sorted(Counter(f.kind.value for f in detection.findings).items())),
            findings=detection.findings[:INLINE_LIMIT], sites=detection.sites,
            held_back=sum(1 for d in detection.device_health if d.held_back),
            data_errors_total=len(data_errors), data_errors=data_errors[:MAX_INLINE_DATA_ERRORS],
            warnings=warnings,
        )


    def _telemetry(self, inventory: dict, health: dict, end: datetime, window_days: float) -> MetricsResult:
        """The devices' readings over the trend window from the worker's metrics source."""
        m = self._metrics
        source: MetricsSource = FileMetrics(health) if m is None else PrometheusSource(
            m.url, m.mapping, token=m.token, username=m.username, password=m.password, timeout=m.timeout_seconds)
        step = m.step if m is not None else timedelta(days=1)
        try:
            return source.readings(inventory, end, timedelta(days=window_days), step)
        except SourceError as exc:
            if exc.transient:
                raise ApplicationError(str(exc), type="MetricsSourceUnavailable") from None
            raise ApplicationError(str(exc), type="MetricsSourceError", non_retryable=True) from None
        finally:
            source.close()

    def _health_states_read(self, store: FleetStore, inp: DetectInput) -> dict[str, str]:
        """The previous health states this run's detection starts from: read once, by its first
        attempt, and kept in the run's folder, so a retry (after its worker died, say) reads the
        same ones even when another run recorded its own states in between."""
        directory = self.run_dir(inp.artifact_dir)
        try:
            kept = artifacts.read(directory, artifacts.HEALTH_READ, artifacts.HealthStatesRead)
            if kept.run_id == inp.run_id:
                return kept.devices
        except artifacts.ArtifactError:
            pass  # the first attempt (or its file was lost): read them now
        with store_errors():
            states = store.read_health_states(inp.run_id if inp.record_health else None)
        artifacts.write(directory, artifacts.HEALTH_READ, artifacts.HealthStatesRead(run_id=inp.run_id, devices=states))
        return states
    @activity.defn
    def analyze_findings(self, inp: AnalyzeInput) -> AnalyzeResult:
        """Group findings into ranked problems with likely causes and per-site blast radius."""
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        with gc_paused():
            problems, impacts = analyze(detection.findings, detection.facts, detection.sites)
        artifacts.write(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact(problems=problems, impacts=impacts))
        return AnalyzeResult(problems_total=len(problems), problems=problems[:INLINE_LIMIT], impacts=impacts)

    @activity.defn
    def plan_maintenance(self, inp: PlanInput) -> PlanResult:
        """Map problems to catalog actions; skip repairs already awaiting a decision elsewhere."""
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        analysis = self._read(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact)
        open_keys: set[str] = set()
        for other, everything_open in ([(p, False) for p in inp.exclude_plans]
                                       + [(p, True) for p in inp.exclude_plans_entirely]):
            try:
                open_keys.update(a.key for a in artifacts.read(self.run_dir(other), artifacts.PLAN,
                                                               artifacts.PlanArtifact).actions
                                 if everything_open or not a.routine)
            except (artifacts.ArtifactError, ApplicationError):
                log.warning("open plan %s is unreadable; its actions may be proposed again", other)
        with gc_paused():
            everything = plan_actions(analysis.problems, detection.findings, detection.facts,
                                      detection.firmware_baseline, inp.rules, inp.as_of)
        planned = [a for a in everything if a.key not in open_keys]
        for index, action in enumerate(planned, start=1):
            action.id = f"A{index}"
        artifacts.write(directory, artifacts.PLAN, artifacts.PlanArtifact(actions=planned, excluded=len(everything) - len(planned)))
        return plan_result(planned, excluded=len(everything) - len(planned))

    @activity.defn
    def load_plan(self, inp: LoadPlanInput) -> PlanResult:
        """Summarize a plan made earlier (by a proactive cycle), optionally only some of its actions."""
        plan = self._read(self.run_dir(inp.artifact_dir), artifacts.PLAN, artifacts.PlanArtifact)
        if inp.action_ids is None:
            return plan_result(plan.actions, plan.excluded)
        return plan_result(select_actions(plan, inp.action_ids, inp.artifact_dir))

    @activity.defn
    def load_actions(self, inp: LoadActionsInput) -> list[PlannedAction]:
        """The planned actions with these ids, in plan order (for executing large plans in batches)."""
        plan = self._read(self.run_dir(inp.artifact_dir), artifacts.PLAN, artifacts.PlanArtifact)
        return select_actions(plan, inp.action_ids, inp.artifact_dir)


def select_actions(plan: artifacts.PlanArtifact, ids: list[str], where: str) -> list[PlannedAction]:
    """The planned actions with these ids, in plan order; non-retryable PlanMismatch if one is not there."""
    wanted = set(ids)
    chosen = [a for a in plan.actions if a.id in wanted]
    if len(chosen) != len(wanted):
        missing = sorted(wanted - {a.id for a in chosen})[:5]
        raise ApplicationError(f"the plan in {where} has no action(s) {', '.join(missing)}",
                               type="PlanMismatch", non_retryable=True)
    return chosen



def plan_result(planned: list[PlannedAction], excluded: int = 0) -> PlanResult:
    summary = PlanResult(
        total=len(planned),
        by_site=dict(sorted(Counter(a.site for a in planned).items())),
        by_risk=dict(Counter(a.risk for a in planned)),
        by_action=dict(sorted(Counter(a.action.value for a in planned).items())),
        excluded=excluded,
    )
    if len(planned) <= INLINE_LIMIT:
        by_site: dict[str, list[str]] = {}
        for a in planned:
            by_site.setdefault(a.site, []).append(a.id)
        summary.action_ids = [a.id for a in planned]
        summary.routine_ids = [a.id for a in planned if a.routine]
        summary.ids_by_site = dict(sorted(by_site.items()))
        summary.actions = planned
        return summary
    sites = sorted({a.site for a in planned})
    index = {site: i for i, site in enumerate(sites)}
    ranges: list[tuple[int, int]] = []
    for a in planned:
        n = int(a.id[1:])
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    summary.compact, summary.id_ranges, summary.sites = True, ranges, sites
    summary.site_index = [index[a.site] for a in planned]
    summary.routine_mask = "".join("1" if a.routine else "0" for a in planned)
    return summary
