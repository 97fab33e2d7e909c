"""The advisor's pure half: the compact digest the model sees, the answer schema, and how an answer
is applied (validated like any other input; rules keep deciding). No I/O, no LLM imports.

The model never sees the raw fleet: only ranked problems and planned actions (ids, kinds, evidence
numbers), cut to a token budget with the long tail summarized as counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, Field

from ..models.core import DeviceFacts, Finding, PlannedAction, Problem
from ..models.rules import Rules
from .plan import PlanError, Proposal, make_action, validate_proposal

RESERVED_FOR_INSTRUCTIONS = 600
MAX_PROPOSALS = 20
RETRY_ALLOWANCE_TOKENS = 400
"""Kept free in every prompt for the system line, the chat framing and, on a retry, the correction
and as much of the rejected answer as fits: a retry costs no more than the budget attempt 1 had."""
SYSTEM_PROMPT = "You return strictly valid JSON, nothing else."
MESSAGE_FRAMING_TOKENS = 4
"""Role and separators around each chat message (OpenAI's accounting for cl100k models)."""


class ProblemAdvice(BaseModel):
    id: str = Field(max_length=20)
    explanation: str = Field(max_length=600)


class ActionAdvice(BaseModel):
    id: str = Field(max_length=20)
    comment: str | None = Field(None, max_length=400)
    priority: int | None = Field(None, ge=1, le=5)


class ProposedAction(BaseModel):
    equipment_id: str = Field(max_length=100)
    action: str = Field(max_length=60)
    reason: str = Field(max_length=400)


class AdvisorAnswer(BaseModel):
    """The JSON the model must return (validated; anything else is retried, then dropped)."""

    executive_summary: str = Field(max_length=2000)
    problems: list[ProblemAdvice] = Field(default_factory=list, max_length=500)
    actions: list[ActionAdvice] = Field(default_factory=list, max_length=1000)
    proposals: list[ProposedAction] = Field(default_factory=list, max_length=MAX_PROPOSALS)


INSTRUCTIONS = """You advise a network operations team. Rules have already detected problems and planned \
repairs; you explain and comment, you do not decide. Answer with one JSON object only:
{"executive_summary": "<3-5 sentences for a manager>",
 "problems": [{"id": "P1", "explanation": "<plain-language likely cause and impact>"}],
 "actions": [{"id": "A1", "comment": "<optional remark>", "priority": <1 (urgent) .. 5>}],
 "proposals": [{"equipment_id": "<a device listed below>", "action": "<one of: restart_device, \
update_firmware, replace_hardware, optimize_configuration, schedule_maintenance, renew_contract>", \
"reason": "<why>"}]}
Only use problem ids, action ids and devices that appear below. Proposals are optional and always \
need human approval."""


@dataclass(frozen=True)
class Digest:
    prompt: str
    tokens: int
    tokenizer: str
    problems_included: int
    problems_omitted: int
    actions_included: int
    actions_omitted: int
    devices: frozenset[str] = field(default_factory=frozenset)


TokenCounter = Callable[[str], tuple[int, str]]
"""(tokens, tokenizer name) of a text: `estimate_tokens` here, or a real tokenizer the adapter layer
passes in (maintenance_agent.tokenizer.count_tokens: tiktoken, when litellm ships it)."""


def estimate_tokens(text: str) -> tuple[int, str]:
    """~3.5 characters a token: the counter when no tokenizer is available."""
    return math.ceil(len(text) / 3.5), "estimate (3.5 chars/token)"


def _problem_line(p: Problem) -> str:
    devices = ",".join(p.equipment_ids[:8]) + (f",+{len(p.equipment_ids) - 8}" if len(p.equipment_ids) > 8 else "")
    kinds = ",".join(k.value for k in p.finding_kinds)
    return f"{p.id}|{p.severity.value}|{p.scope}|{p.site}|{devices}|{kinds}|{p.explanation[:160]}"


def _action_line(a: PlannedAction) -> str:
    return f"{a.id}|{a.equipment_id}|{a.action.value}|{a.risk.value}|{a.confidence:.2f}|p{a.priority}|{a.reason[:100]}"


def build_digest(problems: Sequence[Problem], actions: Sequence[PlannedAction], *, devices: int, sites: int,
                 budget_tokens: int, count_tokens: TokenCounter = estimate_tokens) -> Digest:
    """Problems and actions in rank order until the budget is used; the rest summarized as counts."""
    header = [
        INSTRUCTIONS,
        f"Fleet: {devices} devices, {sites} sites. {len(problems)} problems, {len(actions)} planned actions.",
        "Problems by severity: " + ", ".join(f"{k} {v}" for k, v in
                                           sorted(Counter(p.severity.value for p in problems).items())),
        "Actions by type: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(a.action.value for a in actions).items())),
        "PROBLEMS id|severity|scope|site|devices|finding kinds|rule-based cause",
    ]
    budget = max(budget_tokens - RESERVED_FOR_INSTRUCTIONS // 4 - RETRY_ALLOWANCE_TOKENS, 200)
    used, tokenizer = count_tokens("\n".join(header))
    lines = list(header)
    # Half the remaining budget for problems, the rest for actions (unused space carries over).
    problem_budget = used + (budget - used) // 2
    included_p = 0
    for p in problems:
        line = _problem_line(p)
        cost, _ = count_tokens(line)
        if used + cost + 1 > problem_budget:
            break
        lines.append(line)
        used += cost + 1
        included_p += 1
    lines.append("ACTIONS id|device|action|risk|confidence|priority|reason")
    used += count_tokens(lines[-1])[0] + 1
    included_a = 0
    tail_reserve = 60  # room for the "omitted" note
    for a in actions:
        line = _action_line(a)
        cost, _ = count_tokens(line)
        if used + cost + 1 > budget - tail_reserve:
            break
        lines.append(line)
        used += cost + 1
        included_a += 1
    omitted_p, omitted_a = len(problems) - included_p, len(actions) - included_a
    if omitted_p or omitted_a:
        lines.append(f"NOTE: the list is truncated to fit: {omitted_p} lower-ranked problems and {omitted_a} "
                     f"lower-priority actions are omitted (counted in the totals above). Comment only on listed ids.")
    prompt = "\n".join(lines)
    tokens, tokenizer = count_tokens(prompt)
    listed = {eid for p in problems[:included_p] for eid in p.equipment_ids}
    listed |= {a.equipment_id for a in actions[:included_a]}
    return Digest(prompt, tokens, tokenizer, included_p, omitted_p, included_a, omitted_a, frozenset(listed))


def messages_tokens(messages: Sequence[Mapping[str, str]], count_tokens: TokenCounter = estimate_tokens) -> int:
    """Prompt tokens of a chat: every message's content plus its framing, plus the reply's priming."""
    return 3 + sum(MESSAGE_FRAMING_TOKENS + count_tokens(m["content"])[0] for m in messages)


def advisor_messages(prompt: str, budget_tokens: int, rejected: tuple[str, str] | None = None,
                     count_tokens: TokenCounter = estimate_tokens) -> list[dict[str, str]]:
    """The chat for one attempt. On a retry (`rejected` = the invalid answer and what was wrong) it
    adds a short correction and quotes as much of the answer as the budget leaves, so every attempt's
    whole prompt stays within `budget_tokens` (the digest left `RETRY_ALLOWANCE_TOKENS` for this)."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]
    if rejected is None:
        return messages
    answer, problem = rejected
    correction = {"role": "user", "content": f"That was not valid: {problem[:200]}. "
                                             "Reply with the JSON object only, exactly as specified."}
    room = budget_tokens - messages_tokens([*messages, {"role": "assistant", "content": ""}, correction], count_tokens)
    quoted = _cut_to_tokens(answer[:4000], room, count_tokens)
    return [*messages, *([{"role": "assistant", "content": quoted}] if quoted else []), correction]


def _cut_to_tokens(text: str, limit: int, count_tokens: TokenCounter) -> str:
    """The longest prefix of `text` within `limit` tokens (binary search: works with either counter)."""
    if limit <= 0:
        return ""
    if count_tokens(text)[0] <= limit:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle])[0] <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def without_advice(problems: Sequence[Problem], actions: Sequence[PlannedAction]
                   ) -> tuple[list[Problem], list[PlannedAction]]:
    """The rules-only analysis and plan: no LLM-proposed action, explanation, comment or priority.
    Every advise attempt starts from it, so a retry after an attempt that already wrote its advice
    does exactly what the first did (and never takes an earlier proposal for a rule-made action)."""
    return ([replace(p, llm_explanation=None) if p.llm_explanation is not None else p for p in problems],
            [replace(a, llm_comment=None, llm_priority=None)
             if a.llm_comment is not None or a.llm_priority is not None else a
             for a in actions if a.source != "llm"])


@dataclass
class AppliedAdvice:
    problems: list[Problem]
    actions: list[PlannedAction]
    added: list[str]
    rejected: list[str]
    notes: list[str]


def apply_advice(answer: AdvisorAnswer, problems: Sequence[Problem], actions: Sequence[PlannedAction],
                 facts: Mapping[str, DeviceFacts], digest: Digest, rules: Rules,
                 findings: Sequence[Finding] = ()) -> AppliedAdvice:
    """Attach explanations and comments; turn proposals into actions through the same rules as any
    other (catalog, known device, no duplicate, nothing beside a planned replacement, one action per
    purpose, risk from the catalog, never routine)."""
    notes: list[str] = []
    by_pid = {p.id: p for p in problems}
    unknown = [a.id for a in answer.problems if a.id not in by_pid]
    for problem_advice in answer.problems:
        if problem_advice.id in by_pid:
            by_pid[problem_advice.id].llm_explanation = problem_advice.explanation.strip()
    by_aid = {a.id: a for a in actions}
    unknown += [a.id for a in answer.actions if a.id not in by_aid]
    for action_advice in answer.actions:
        action = by_aid.get(action_advice.id)
        if action is not None:
            action.llm_comment = action_advice.comment.strip() if action_advice.comment else None
            action.llm_priority = action_advice.priority
    if unknown:
        notes.append(f"ignored advice for {len(unknown)} unknown id(s): {', '.join(sorted(set(unknown))[:5])}")
    planned = [*actions]
    existing = {a.key for a in planned}
    added: list[str] = []
    rejected: list[str] = []
    next_id = len(planned) + 1
    for proposal in answer.proposals:
        label = f"{proposal.action} for {proposal.equipment_id}"
        try:
            if proposal.equipment_id not in digest.devices:
                raise PlanError(f"{proposal.equipment_id!r} was not among the devices shown to the advisor")
            device, name = validate_proposal(proposal.equipment_id, proposal.action, facts, existing, findings)
        except PlanError as exc:
            rejected.append(f"{label[:80]}: {exc}")
            continue
        action = make_action(device, Proposal(name, 0.5, f"LLM advisor: {proposal.reason.strip()[:300]}", (), 3),
                             rules, source="llm")
        action.id = f"A{next_id}"
        next_id += 1
        planned.append(action)
        existing.add(action.key)
        added.append(action.id)
    if rejected:
        notes.append(f"rejected {len(rejected)} advisor proposal(s): " + "; ".join(rejected[:5]))
    return AppliedAdvice(list(problems), planned, added, rejected, notes)
