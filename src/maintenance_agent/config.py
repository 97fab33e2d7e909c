"""Settings: read once from the environment and `.env`, validated, then passed around.

Every setting has one name (the environment variable) and one place it is read: here.
Relative paths are resolved against the project root, not the working directory, so the
scripts and the MCP server behave the same from wherever an MCP host launches them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .core.ids import unsafe_user


def _project_root() -> Path:
    """The repository root in a source checkout (where `.env`, `data/` and `reports/` live); after a
    plain `pip install .` there is none, and relative paths are taken from the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()

DEFAULT_TASK_QUEUE = "infrastructure-maintenance-task-queue"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TEMPORAL_CLOUD_UI = "https://cloud.temporal.io"


class ConfigError(Exception):
    """A setting has an invalid value; the message names the variable and what to do."""


class TlsMode(StrEnum):
    AUTO = "auto"  # TLS when certificates or an API key are configured
    ON = "on"
    OFF = "off"  # e.g. an API-key-checking proxy on localhost; never send a key in clear over a network


class EmbeddedMode(StrEnum):
    AUTO = "auto"
    NEVER = "never"


# variable name -> Settings field name. The order here is the order of `.env.example`.
ENV_VARS: dict[str, str] = {
    "TEMPORAL_ADDRESS": "temporal_address",
    "TEMPORAL_NAMESPACE": "temporal_namespace",
    "TEMPORAL_TASK_QUEUE": "task_queue",
    "TEMPORAL_TLS_CERT": "tls_cert",
    "TEMPORAL_TLS_KEY": "tls_key",
    "TEMPORAL_TLS_CA": "tls_ca",
    "TEMPORAL_API_KEY": "api_key",
    "TEMPORAL_TLS": "tls",
    "TEMPORAL_PAYLOAD_KEY": "payload_key",
    "EMBEDDED_TEMPORAL": "embedded",
    "TEMPORAL_STATE_DIR": "state_dir",
    "TEMPORAL_UI_PORT": "ui_port",
    "USER_NAME": "user_name",
    "DATA_DIR": "data_dir",
    "REPORTS_DIR": "reports_dir",
    "LLM_MODEL": "llm_model",
    "LLM_KEY": "llm_key",
    "LLM_BASE_URL": "llm_base_url",
    "LLM_TIMEOUT_SECONDS": "llm_timeout_seconds",
    "LLM_MAX_ATTEMPTS": "llm_max_attempts",
    "LLM_PROMPT_TOKEN_BUDGET": "llm_prompt_token_budget",
    "APPROVERS": "approvers",
    "REQUIRE_DISTINCT_APPROVER": "require_distinct_approver",
    "APPROVER_KEYS_DIR": "approver_keys_dir",
    "APPROVER_KEY_FILE": "approver_key_file",
    "APPROVAL_TIMEOUT_HOURS": "approval_timeout_hours",
    "MAX_FAILURES": "max_failures",
    "RULES_FILE": "rules_file",
    "NOTIFY_WEBHOOK_URL": "notify_webhook_url",
    "PAGERDUTY_ROUTING_KEY": "pagerduty_routing_key",
    "PAGERDUTY_EVENTS_URL": "pagerduty_events_url",
    "TEMPORAL_UI_URL": "temporal_ui_url",
    "REPORTS_URL": "reports_url",
    "MCP_HTTP_TOKEN": "mcp_http_token",
}


class Settings(BaseModel):
    """All configuration of the agent. Immutable; build it with `load_settings()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    api_key: SecretStr | None = None
    tls: TlsMode = TlsMode.AUTO
    payload_key: SecretStr | None = None
    embedded: EmbeddedMode = EmbeddedMode.AUTO
    state_dir: Path = PROJECT_ROOT / ".temporal"
    ui_port: int = Field(default=8233, ge=1, le=65535)
    user_name: str = "Admin.User"
    data_dir: Path = PROJECT_ROOT / "data"
    reports_dir: Path = PROJECT_ROOT / "reports"
    llm_model: str | None = None
    llm_key: SecretStr | None = None
    llm_base_url: str | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_max_attempts: int = Field(default=3, ge=1, le=10)
    llm_prompt_token_budget: int = Field(default=8000, ge=1000, le=1_000_000)
    approvers: tuple[str, ...] = ()
    require_distinct_approver: bool = False
    approver_keys_dir: Path | None = None
    approver_key_file: Path | None = None
    approval_timeout_hours: float = Field(default=12.0, gt=0, le=24 * 365)
    max_failures: int = Field(default=10, ge=1, le=1_000_000)
    rules_file: Path | None = None
    notify_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = DEFAULT_PAGERDUTY_EVENTS_URL
    temporal_ui_url: str | None = None
    reports_url: str | None = None
    mcp_http_token: SecretStr | None = None

    @field_validator("approvers", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            names = tuple(n.strip() for n in value.split(",") if n.strip())
            if any(" " in n for n in names):
                raise ValueError("expected a comma-separated list of user names without spaces")
            return names
        return value

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, e.g. localhost:7233")
        return value

    @field_validator("user_name")
    @classmethod
    def _safe_user(cls, value: str) -> str:
        # A user name becomes part of workflow ids and so of folder names under REPORTS_DIR.
        if problem := unsafe_user(value):
            raise ValueError(f"not a safe user name: {problem}")
        return value

    @field_validator("approvers", mode="after")
    @classmethod
    def _safe_approvers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if problem := unsafe_user(name):
                raise ValueError(f"{name!r} is not a safe user name: {problem}")
        return value

    @field_validator("temporal_namespace", "task_queue")
    @classmethod
    def _non_blank(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError("must be non-empty and contain no spaces")
        return value

    @field_validator("llm_base_url", "notify_webhook_url", "pagerduty_events_url", "temporal_ui_url", "reports_url")
    @classmethod
    def _http_url(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None:
            return value
        if not text.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("is not a valid URL (check the host and port)") from None
        if not parts.hostname or any(c.isspace() for c in text):
            raise ValueError("must be a URL with a host and no spaces, e.g. http://localhost:8233")
        return value

    @field_validator("temporal_ui_url", "reports_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        # Links are made by appending "/namespaces/…" or "/<run>/report.md": no query, no fragment.
        if value is not None and (urlsplit(value).query or urlsplit(value).fragment):
            raise ValueError("must be a base URL without ?query or #fragment")
        return value.rstrip("/") if value else value

    @field_validator("pagerduty_routing_key")
    @classmethod
    def _routing_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = value.get_secret_value() if value is not None else None
        if key is not None and not (20 <= len(key) <= 64 and all(c.isalnum() or c in "-_" for c in key)):
            raise ValueError("expected the integration key of a PagerDuty Events API v2 integration "
                             "(32 letters and digits, from the service's Integrations tab)")
        return value

    @property
    def temporal_host(self) -> str:
        return self.temporal_address.rpartition(":")[0]

    @property
    def temporal_port(self) -> int:
        return int(self.temporal_address.rpartition(":")[2])

    @property
    def is_local_address(self) -> bool:
        """True when the server address points at this machine (embedded mode may start it)."""
        return self.temporal_host in {"localhost", "127.0.0.1", "::1", "[::1]"}

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_model)

    @property
    def temporal_ui_base(self) -> str | None:
        """Where the Temporal Web UI is, for links in notifications: TEMPORAL_UI_URL; else the embedded
        server's UI for a local address, Temporal Cloud's UI for a Cloud address; else none."""
        if self.temporal_ui_url:
            return self.temporal_ui_url
        if self.is_local_address:
            return f"http://localhost:{self.ui_port}"
        if self.temporal_host.endswith(".tmprl.cloud"):
            return TEMPORAL_CLOUD_UI
        return None


def _resolve_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


SECRET_FIELDS = {"api_key", "llm_key", "notify_webhook_url", "mcp_http_token", "payload_key", "pagerduty_routing_key"}
_PATH_FIELDS = {"tls_cert", "tls_key", "tls_ca", "state_dir", "data_dir", "reports_dir", "rules_file",
                "approver_keys_dir", "approver_key_file"}


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Merge `.env` (lower precedence) with the process environment (higher precedence)."""
    environ = os.environ if environ is None else environ
    if env_file is None:
        env_file = Path(environ.get("ENV_FILE") or PROJECT_ROOT / ".env")
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def settings_environment(settings: Settings) -> dict[str, str]:
    """Settings as environment variables (for a child process that must see exactly these)."""
    env: dict[str, str] = {}
    for var, field in ENV_VARS.items():
        value = getattr(settings, field)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[var] = str(value)
    return env


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build `Settings` from the environment and `.env`; raise `ConfigError` naming the variable.

    Empty values count as unset, so `LLM_MODEL=` in `.env` keeps the advisor off.
    """
    merged = read_environment(environ, env_file)
    values: dict[str, Any] = {}
    for var, field in ENV_VARS.items():
        raw = merged.get(var, "").strip()
        if raw:
            values[field] = _resolve_path(raw) if field in _PATH_FIELDS else raw
    values.update(overrides)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        var = next((v for v, f in ENV_VARS.items() if f == field), field)
        shown = values.get(field)
        shown = "<hidden>" if field in SECRET_FIELDS else shown
        raise ConfigError(
            f"{var}={shown!s} is invalid: {error['msg'].removeprefix('Value error, ')}. "
            f"Fix it in the environment or .env (see .env.example)."
        ) from None
    if settings.approver_keys_dir is not None and not settings.approver_keys_dir.is_dir():
        raise ConfigError(f"APPROVER_KEYS_DIR={settings.approver_keys_dir} is not a directory; point it at a folder "
                          f"of <user>.pub public keys, or leave it empty.")
    if settings.payload_key is not None and len(settings.payload_key.get_secret_value()) < 16:
        raise ConfigError("TEMPORAL_PAYLOAD_KEY is too short; use at least 16 random characters "
                          "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError(
            "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together for mTLS; set both or neither."
        )
    for var, path, kind in (("TEMPORAL_TLS_CERT", settings.tls_cert, "a readable PEM file"),
                            ("TEMPORAL_TLS_KEY", settings.tls_key, "a readable PEM file"),
                            ("TEMPORAL_TLS_CA", settings.tls_ca, "a readable PEM file"),
                            ("RULES_FILE", settings.rules_file, "a readable JSON rules file, or leave it empty for the defaults"),
                            ("APPROVER_KEY_FILE", settings.approver_key_file,
                             "your private key (python -m maintenance_agent.identity keygen), or leave it empty")):
        if path is not None and not path.is_file():
            raise ConfigError(f"{var}={path} does not exist; point it at {kind}.")
    return settings


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
