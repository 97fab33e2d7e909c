"""The steps of a maintenance run before its decision: detect, analyze, plan and, if asked, the LLM
advisor's second opinion; or, for a run of a proactive cycle, load the plan the cycle made."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from .policies import ADVISE_TIMEOUT
from .state import RunState
from .steps import cause_message, run_step

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.run_text import (
        ADVISING,
        DETECTING,
        LOADING_PLAN,
        advisor_unavailable,
        analyzing_note,
        load_plan_summary,
        planning_note,
    )
    from ..models.activity_io import AdviseInput, AnalyzeInput, DetectInput, LoadPlanInput, PlanInput
    from ..models.run import Phase

SetPhase = Callable[[Phase, str], None]


async def assess(s: RunState, set_phase: SetPhase) -> None:
    """Fill the run's findings, problems and plan (or the cycle's plan), moving through the phases."""
    inp = s.input
    if inp.source_plan is not None:
        set_phase(Phase.PLANNING, LOADING_PLAN)
        s.as_of = inp.source_plan.as_of
        s.plan = await run_step(MaintenanceActivities.load_plan,
                                LoadPlanInput(artifact_dir=inp.source_plan.artifact_dir,
                                              action_ids=inp.source_plan.action_ids),
                                load_plan_summary(len(inp.source_plan.action_ids)))
    else:
        set_phase(Phase.MONITORING, DETECTING)
        s.detect = await run_step(
            MaintenanceActivities.detect_fleet,
            DetectInput(run_id=s.workflow_id, artifact_dir=s.artifact_dir,
                        rules=inp.rules, as_of=inp.as_of, record_health=not inp.dry_run),
            "detect: load, validate and check every device",
        )
        s.as_of = s.detect.as_of
        set_phase(Phase.ANALYZING, analyzing_note(s.detect.findings_total))
        s.analysis = await run_step(MaintenanceActivities.analyze_findings, AnalyzeInput(artifact_dir=s.artifact_dir),
                                    "analyze: problems, causes, blast radius")
        set_phase(Phase.PLANNING, planning_note(s.analysis.problems_total))
        s.plan = await run_step(MaintenanceActivities.plan_maintenance,
                                PlanInput(artifact_dir=s.artifact_dir, as_of=s.as_of, rules=inp.rules),
                                "plan: map problems to catalog actions")
        if inp.advisor:
            await advise(s, set_phase)
    s.index_plan()


async def advise(s: RunState, set_phase: SetPhase) -> None:
    """Optional LLM advice on the finished plan. It can only add explanations and proposals that
    the rules validate; whatever happens, the run goes on with the rule-based plan."""
    set_phase(Phase.PLANNING, ADVISING)
    try:
        advice = await workflow.execute_activity_method(
            MaintenanceActivities.advise, AdviseInput(artifact_dir=s.artifact_dir, rules=s.input.rules),
            start_to_close_timeout=ADVISE_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=2),
            summary="advisor: explanations and second opinion (optional)")
    except ActivityError as err:
        s.advisor_note = advisor_unavailable(cause_message(err))
        return
    s.advisor_note = advice.note
    s.llm_ids = set(advice.added_ids)
    if advice.plan is not None:
        s.plan = advice.plan
