"""The advisor activity: the only one that talks to an LLM (optional, bounded, never required).

litellm is imported only inside `advise`, only when a model is configured."""

from __future__ import annotations

import time
from pathlib import Path

from temporalio import activity

from .. import artifacts
from ..models.activity_io import AdviseInput, AdviseResult
from .base import ActivityBase
from .pipeline import plan_result


class AdviceActivities(ActivityBase):
    @activity.defn
    def advise(self, inp: AdviseInput) -> AdviseResult:
        """Ask the LLM advisor for explanations, comments and proposals, within the token budget.
        Never fails the run: any problem with the model becomes a note and rule-based output stays.

        Idempotent: every attempt starts from the rules-only plan (an earlier attempt may already
        have written its advice), and `added_ids` names every LLM-sourced action in the plan as it
        stands on disk: the workflow never auto-approves those. Nothing is written once the
        attempt's `llm.ADVISE_BUDGET_SECONDS` are spent."""
        if self._llm is None:
            return AdviseResult(used=False, note="rules only: this worker has no LLM_MODEL configured")
        from .. import llm  # litellm is imported only here, only when a model is configured
        from ..core.advice import apply_advice, build_digest, without_advice
        from ..tokenizer import count_tokens

        deadline = time.monotonic() + llm.ADVISE_BUDGET_SECONDS
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        analysis = self._read(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact)
        plan = self._read_uncached(directory, artifacts.PLAN, artifacts.PlanArtifact)  # it is amended below
        problems, rules_actions = without_advice(analysis.problems, plan.actions)
        digest = build_digest(problems, rules_actions, devices=detection.summary.devices,
                              sites=detection.summary.sites, budget_tokens=self._llm.prompt_token_budget,
                              count_tokens=count_tokens)
        activity.heartbeat("asking the advisor")
        talk = llm.ask(self._llm, digest.prompt, deadline=deadline)
        record = artifacts.AdviceArtifact(
            used=talk.answer is not None, model=self._llm.model, prompt_tokens=talk.prompt_tokens,
            completion_tokens=talk.completion_tokens, latency_ms=round(talk.latency_ms, 1), attempts=talk.attempts,
            digest_tokens=digest.tokens, tokenizer=digest.tokenizer, token_budget=self._llm.prompt_token_budget,
            problems_included=digest.problems_included, problems_omitted=digest.problems_omitted,
            actions_included=digest.actions_included, actions_omitted=digest.actions_omitted, notes=list(talk.notes))
        if talk.answer is None or time.monotonic() >= deadline:
            return self._keep_advice_on_disk(directory, plan, record, deadline)
        applied = apply_advice(talk.answer, problems, rules_actions, detection.facts, digest, inp.rules,
                               detection.findings)
        record.executive_summary = talk.answer.executive_summary
        record.parts = [part for part, present in (
            ("executive summary", True),
            ("problem explanations", any(p.llm_explanation for p in applied.problems)),
            ("action comments and priorities", any(a.llm_comment or a.llm_priority for a in applied.actions)),
            ("proposed actions", bool(applied.added))) if present]
        record.proposals_accepted, record.proposals_rejected = applied.added, applied.rejected
        record.notes += applied.notes
        artifacts.write(directory, artifacts.ANALYSIS, analysis.model_copy(update={"problems": applied.problems}))
        artifacts.write(directory, artifacts.PLAN, plan.model_copy(update={"actions": applied.actions}))
        artifacts.write(directory, artifacts.ADVICE, record)
        return AdviseResult(used=True, note=f"advice from {self._llm.model}: {', '.join(record.parts)}",
                            plan=plan_result(applied.actions, plan.excluded),
                            added_ids=[a.id for a in applied.actions if a.source == "llm"])

    def _keep_advice_on_disk(self, directory: Path, plan: artifacts.PlanArtifact, record: artifacts.AdviceArtifact,
                             deadline: float) -> AdviseResult:
        """No usable answer in time: the analysis and plan stay as they are on disk (with the advice
        an earlier attempt wrote, if any), and the result names the LLM-sourced actions they hold."""
        llm_ids = [a.id for a in plan.actions if a.source == "llm"]
        note = "; ".join(record.notes) or "no advice"
        if time.monotonic() >= deadline:
            note = f"the advisor's time budget was spent, nothing written ({note})"
        else:
            earlier = (self._read_uncached(directory, artifacts.ADVICE, artifacts.AdviceArtifact)
                       if (directory / artifacts.ADVICE).exists() else None)
            if earlier is not None and earlier.used:  # an earlier attempt's validated advice stands
                record = earlier.model_copy(update={"notes": [*earlier.notes, *(f"retry: {n}" for n in record.notes)]})
            artifacts.write(directory, artifacts.ADVICE, record)
        if not llm_ids:
            return AdviseResult(used=False, note=note)
        return AdviseResult(used=True, note=f"advice from an earlier attempt stands; this attempt: {note}",
                            plan=plan_result(plan.actions, plan.excluded), added_ids=llm_ids)
