"""The advisor's I/O half: one bounded conversation with a model through litellm.

Imported only by the `advise` activity, and only when LLM_MODEL is set, so litellm (seconds to
import) is never loaded otherwise. Nothing here raises to the caller: every failure becomes a note,
and the run carries on with rule-based output. The key never appears in a note or log line.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from pydantic import ValidationError

from .config import LlmSettings
from .core.advice import AdvisorAnswer, advisor_messages
from .tokenizer import count_tokens

log = logging.getLogger(__name__)

ADVISE_BUDGET_SECONDS = 8 * 60
"""All of one `advise` attempt: asking, retrying and writing its files. Safely below the workflow's
ADVISE_TIMEOUT (10 min start-to-close) even at the largest allowed LLM_TIMEOUT_SECONDS x
LLM_MAX_ATTEMPTS: an attempt that outlived that timeout would be retried while it still runs, and
could then write its plan over the retry's."""


@dataclass
class Conversation:
    answer: AdvisorAnswer | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


def _litellm():  # noqa: ANN202
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the price map at import
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # providers without JSON mode still get the request
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return litellm


def _redact(text: str, config: LlmSettings) -> str:
    text = text.replace(config.key, "<redacted>") if config.key else text
    return " ".join(text.split())[:300]


def ask(config: LlmSettings, prompt: str, *, deadline: float | None = None) -> Conversation:
    """Ask for an `AdvisorAnswer`; retry invalid JSON, timeouts and 5xx a bounded number of times;
    stop at once on authentication and bad-request errors. Every attempt's prompt stays within the
    token budget, and no attempt starts that could run past `deadline` (a `time.monotonic()` value;
    default: `ADVISE_BUDGET_SECONDS` from now)."""
    litellm = _litellm()
    permanent = (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.BadRequestError,
                 litellm.NotFoundError, litellm.UnsupportedParamsError, litellm.ContextWindowExceededError)
    messages = advisor_messages(prompt, config.prompt_token_budget, count_tokens=count_tokens)
    talk = Conversation()
    started = time.monotonic()
    deadline = started + ADVISE_BUDGET_SECONDS if deadline is None else deadline
    pause = 0.0
    for attempt in range(1, config.max_attempts + 1):
        left = deadline - time.monotonic() - pause
        if left <= 0 or (attempt > 1 and left < config.timeout_seconds):
            talk.notes.append(f"stopped after {attempt - 1} attempt(s): another {config.timeout_seconds:g} s "
                              f"attempt could overrun the advisor's {ADVISE_BUDGET_SECONDS // 60} min budget")
            break
        time.sleep(pause)
        talk.attempts = attempt
        try:
            response = litellm.completion(
                model=config.model, messages=messages, api_key=config.key, api_base=config.base_url,
                timeout=min(config.timeout_seconds, left), num_retries=0, temperature=0,
                response_format={"type": "json_object"},
            )
        except permanent as exc:
            talk.notes.append(f"advisor refused the request ({type(exc).__name__}: {_redact(str(exc), config)}); "
                              f"not retried")
            break
        except Exception as exc:  # noqa: BLE001 - timeouts, 5xx, connection errors: bounded retries
            talk.notes.append(f"attempt {attempt}: {type(exc).__name__}: {_redact(str(exc), config)}")
            pause = min(2.0, 0.5 * attempt)
            continue
        pause = 0.0
        usage = getattr(response, "usage", None)
        talk.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        talk.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        content = (response.choices[0].message.content or "").strip()
        try:
            talk.answer = AdvisorAnswer.model_validate_json(_strip_fences(content))
            break
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"]) or "the answer"
            talk.notes.append(f"attempt {attempt}: invalid answer ({where}: {problem['msg']})")
            # The original prompt again, not the growing conversation: each retry fits the budget.
            messages = advisor_messages(prompt, config.prompt_token_budget, (content, f"{where}: {problem['msg']}"),
                                        count_tokens=count_tokens)
    talk.latency_ms = (time.monotonic() - started) * 1000
    if talk.answer is None:
        talk.notes.append(f"advice dropped after {talk.attempts} attempt(s); the report uses rule-based output only")
    for note in talk.notes:
        log.warning("advisor: %s", note)
    return talk


def _strip_fences(text: str) -> str:
    """Some models wrap JSON in ``` fences even in JSON mode."""
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()
