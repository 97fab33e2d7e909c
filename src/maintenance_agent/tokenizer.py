"""Counting prompt tokens as the model will: tiktoken's cl100k_base from the tokenizer files litellm
ships (no download, no litellm import), else the core's estimate. The adapter half of core/advice.py's
`TokenCounter` (it touches the environment and imports a package; the core does neither)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from .core.advice import estimate_tokens


@cache
def _tiktoken() -> Callable[[str], int] | None:
    """cl100k_base from the tokenizer files litellm ships, or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("litellm")
        if spec is None or spec.origin is None:
            return None
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"))
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base")
        return lambda text: len(encoding.encode(text, disallowed_special=()))
    except Exception:  # noqa: BLE001 - no tokenizer available: fall back to the estimate
        return None


def count_tokens(text: str) -> tuple[int, str]:
    """(tokens, tokenizer name): tiktoken cl100k_base when available, else ~3.5 characters a token."""
    counter = _tiktoken()
    if counter is not None:
        return counter(text), "tiktoken cl100k_base"
    return estimate_tokens(text)
