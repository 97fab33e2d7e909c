"""Executors: what carries out an approved action. `simulated` (the embedded default) changes the
JSON fleet (core/actions.py, applied and verified in one store transaction); `ansible` runs the
user's playbooks through ansible-runner (ansible.py). The interface is in base.py."""

from .base import Capabilities, ExecutorError, PlaybookOutcome, StepName

__all__ = ["Capabilities", "ExecutorError", "PlaybookOutcome", "StepName"]
