"""What only the worker reads, derived from `Settings`: the advisor's model and the notification
targets (both hold secrets that never reach workflows or their history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..sources.mapping import Mapping, load_mapping
from .settings import DEFAULT_PAGERDUTY_EVENTS_URL, PROJECT_ROOT, Settings


@dataclass(frozen=True)
class LlmSettings:
    """The advisor's model, as the worker is configured (the key never leaves the worker)."""

    model: str
    key: str | None = None
    base_url: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 3
    prompt_token_budget: int = 8000

    def __repr__(self) -> str:
        return f"LlmSettings(model={self.model!r}, base_url={self.base_url!r}, key={'<set>' if self.key else None})"

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmSettings | None:
        """None when no model is configured (the advisor is then never imported or run)."""
        if not settings.llm_model:
            return None
        return cls(settings.llm_model, settings.llm_key.get_secret_value() if settings.llm_key else None,
                   settings.llm_base_url, settings.llm_timeout_seconds, settings.llm_max_attempts,
                   settings.llm_prompt_token_budget)


@dataclass(frozen=True)
class NotifySettings:
    """Where the worker sends notifications and what their links point at. The worker holds these
    (the webhook URL and the routing key are secrets): workflows never see them."""

    webhook_url: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_events_url: str = DEFAULT_PAGERDUTY_EVENTS_URL
    temporal_ui_url: str | None = None
    reports_url: str | None = None
    reports_label: str = "REPORTS_DIR"
    """How messages name the reports folder without a REPORTS_URL: its path relative to the repository
    (e.g. `reports`), else `REPORTS_DIR`; never an absolute path of the worker's machine."""

    def __repr__(self) -> str:
        return (f"NotifySettings(webhook={'<set>' if self.webhook_url else None}, "
                f"pagerduty={'<set>' if self.pagerduty_routing_key else None}, ui={self.temporal_ui_url!r}, "
                f"reports_url={self.reports_url!r}, reports_label={self.reports_label!r})")

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifySettings:
        try:
            label = settings.reports_dir.resolve().relative_to(PROJECT_ROOT.resolve()).as_posix()
        except ValueError:
            label = "REPORTS_DIR"
        return cls(
            webhook_url=settings.notify_webhook_url.get_secret_value() if settings.notify_webhook_url else None,
            pagerduty_routing_key=(settings.pagerduty_routing_key.get_secret_value()
                                   if settings.pagerduty_routing_key else None),
            pagerduty_events_url=settings.pagerduty_events_url, temporal_ui_url=settings.temporal_ui_base,
            reports_url=settings.reports_url, reports_label=label if label != "." else "REPORTS_DIR")


@dataclass(frozen=True)
class MetricsSettings:
    """Where the worker reads telemetry from Prometheus (METRICS_SOURCE=prometheus). The credentials
    stay in the worker: workflows, their history and reports only see what was read and when."""

    url: str
    mapping: Mapping
    token: str | None = None
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 10.0
    step: timedelta = timedelta(hours=1)

    def __repr__(self) -> str:
        return (f"MetricsSettings(url={self.url!r}, token={'<set>' if self.token else None}, "
                f"basic_auth={'<set>' if self.username else None}, step={self.step})")

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsSettings | None:
        """None for the JSON files (the default). A bad mapping file fails here, at start-up."""
        if settings.metrics_source != "prometheus" or not settings.prometheus_url:
            return None
        return cls(settings.prometheus_url, load_mapping(settings.prometheus_mapping_file),
                   settings.prometheus_token.get_secret_value() if settings.prometheus_token else None,
                   settings.prometheus_username,
                   settings.prometheus_password.get_secret_value() if settings.prometheus_password else None,
                   settings.prometheus_timeout_seconds, timedelta(seconds=settings.prometheus_step_seconds))
