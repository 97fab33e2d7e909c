"""Notifications from typed facts, pure: the Slack message (core/slack.py) and the PagerDuty event
(core/pagerduty.py), with what they share (core/links.py, core/digest.py, core/wording.py). This
module names them together, as the activities and older importers know them."""

from __future__ import annotations

from .digest import TOP_DEVICES, TOP_SITES, digest, select, top_counts
from .links import APPROVE_SCRIPT, Links, approve_command
from .pagerduty import (
    DEDUP_KEY_CHARS,
    PAGERDUTY_SUMMARY_CHARS,
    cycle_failure_key,
    cycle_failure_page,
    page_event,
    page_severity,
    page_summary,
    pagerduty_body,
    run_page,
)
from .slack import HEADER_CHARS, MAX_LISTED_ACTIONS, SECTION_CHARS, fallback_text, headline, slack_blocks, slack_message
from .wording import SEVERITY_ORDER, severities

__all__ = [
    "APPROVE_SCRIPT", "DEDUP_KEY_CHARS", "HEADER_CHARS", "MAX_LISTED_ACTIONS", "PAGERDUTY_SUMMARY_CHARS",
    "SECTION_CHARS", "SEVERITY_ORDER", "TOP_DEVICES", "TOP_SITES", "Links", "approve_command", "cycle_failure_key",
    "cycle_failure_page", "digest", "fallback_text", "headline", "page_event", "page_severity", "page_summary",
    "pagerduty_body", "run_page", "select", "severities", "slack_blocks", "slack_message", "top_counts",
]
