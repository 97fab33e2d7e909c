"""The `Settings` model: every setting, its environment variable (and older names), its default and
its validation. `load_settings()` (environment.py) is the one way to build it.

Relative paths are resolved against the project root, not the working directory, so the scripts
and the MCP server behave the same from wherever an MCP host launches them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from ..core.ids import unsafe_user
from ..models.approval import ApprovalPolicy


def _project_root() -> Path:
    """The repository root in a source checkout (where `.env`, `data/` and `reports/` live); after a
    plain `pip install .` there is none, and relative paths are taken from the working directory."""
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()

DEFAULT_TASK_QUEUE = "infrastructure-maintenance-task-queue"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TEMPORAL_CLOUD_UI = "https://cloud.temporal.io"


class ConfigError(Exception):
    """A setting has an invalid value; the message (one line) names the variable and what to do."""


class TlsMode(StrEnum):
    AUTO = "auto"  # TLS when certificates or an API key are configured
    ON = "on"
    OFF = "off"  # e.g. an API-key-checking proxy on localhost; never send a key in clear over a network


class EmbeddedMode(StrEnum):
    AUTO = "auto"
    NEVER = "never"


def resolve_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def env(name: str, *older: str) -> Any:
    """The environment variable of a setting; `older` names are still read (aliases)."""
    return AliasChoices(name, *older)


PATH_FIELDS = frozenset({"temporal_config_file", "tls_cert", "tls_key", "tls_ca", "state_dir", "data_dir",
                         "reports_dir", "rules_file", "approver_keys_dir", "approver_key_file",
                         "prometheus_mapping_file", "ansible_playbook_dir", "ansible_inventory"})
SECRET_FIELDS = frozenset({"api_key", "tls_key_data", "llm_key", "notify_webhook_url", "mcp_http_token", "api_token",
                           "payload_key", "pagerduty_routing_key", "prometheus_token", "prometheus_password"})


class Settings(BaseSettings):
    """All configuration of the agent. Immutable; build it with `load_settings()`. Field order is the
    order of `.env.example`'s sections; the first name of each `env(...)` is the variable."""

    # Built only from what load_settings() read and merged (explicit variable > profile file >
    # default), keyed by variable name: constructing Settings never reads the process environment
    # behind its back, and a lower-case `data_dir` in the environment is not a setting.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True, env_ignore_empty=True,
                                      validate_by_name=False, validate_by_alias=True)

    # Temporal connection: the names of the SDK's environment configuration (temporalio.envconfig)
    temporal_address: str = Field("localhost:7233", validation_alias=env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=env("TEMPORAL_NAMESPACE"))
    task_queue: str = Field(DEFAULT_TASK_QUEUE, validation_alias=env("TEMPORAL_TASK_QUEUE"))
    temporal_config_file: Path | None = Field(None, validation_alias=env("TEMPORAL_CONFIG_FILE"))
    temporal_profile: str | None = Field(None, validation_alias=env("TEMPORAL_PROFILE"))
    tls_cert: Path | None = Field(None, validation_alias=env("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"))
    tls_key: Path | None = Field(None, validation_alias=env("TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY"))
    tls_ca: Path | None = Field(None, validation_alias=env("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CA"))
    tls_cert_data: str | None = Field(None, validation_alias=env("TEMPORAL_TLS_CLIENT_CERT_DATA"))
    tls_key_data: SecretStr | None = Field(None, validation_alias=env("TEMPORAL_TLS_CLIENT_KEY_DATA"))
    tls_ca_data: str | None = Field(None, validation_alias=env("TEMPORAL_TLS_SERVER_CA_CERT_DATA"))
    tls_server_name: str | None = Field(None, validation_alias=env("TEMPORAL_TLS_SERVER_NAME"))
    api_key: SecretStr | None = Field(None, validation_alias=env("TEMPORAL_API_KEY"))
    tls: TlsMode = Field(TlsMode.AUTO, validation_alias=env("TEMPORAL_TLS"))
    payload_key: SecretStr | None = Field(None, validation_alias=env("TEMPORAL_PAYLOAD_KEY"))
    embedded: EmbeddedMode = Field(EmbeddedMode.AUTO, validation_alias=env("EMBEDDED_TEMPORAL"))
    state_dir: Path = Field(PROJECT_ROOT / ".temporal", validation_alias=env("TEMPORAL_STATE_DIR"))
    ui_port: int = Field(8233, ge=1, le=65535, validation_alias=env("TEMPORAL_UI_PORT"))
    # the agent
    user_name: str = Field("Admin.User", validation_alias=env("USER_NAME"))
    data_dir: Path = Field(PROJECT_ROOT / "data", validation_alias=env("DATA_DIR"))
    reports_dir: Path = Field(PROJECT_ROOT / "reports", validation_alias=env("REPORTS_DIR"))
    metrics_source: Literal["json", "prometheus"] = Field("json", validation_alias=env("METRICS_SOURCE"))
    prometheus_url: str | None = Field(None, validation_alias=env("PROMETHEUS_URL"))
    prometheus_token: SecretStr | None = Field(None, validation_alias=env("PROMETHEUS_TOKEN"))
    prometheus_username: str | None = Field(None, validation_alias=env("PROMETHEUS_USERNAME"))
    prometheus_password: SecretStr | None = Field(None, validation_alias=env("PROMETHEUS_PASSWORD"))
    prometheus_timeout_seconds: float = Field(10.0, gt=0, le=90, validation_alias=env("PROMETHEUS_TIMEOUT_SECONDS"))
    prometheus_step_seconds: float = Field(3600.0, ge=1, le=86400, validation_alias=env("PROMETHEUS_STEP_SECONDS"))
    prometheus_mapping_file: Path | None = Field(None, validation_alias=env("PROMETHEUS_MAPPING_FILE"))
    executor: Literal["simulated", "ansible"] = Field("simulated", validation_alias=env("EXECUTOR"))
    ansible_playbook_dir: Path = Field(PROJECT_ROOT / "playbooks", validation_alias=env("ANSIBLE_PLAYBOOK_DIR"))
    ansible_inventory: Path | None = Field(None, validation_alias=env("ANSIBLE_INVENTORY"))
    ansible_timeout_seconds: float = Field(90.0, gt=0, le=90, validation_alias=env("ANSIBLE_TIMEOUT_SECONDS"))
    ansible_max_parallel: int | None = Field(None, ge=1, le=256, validation_alias=env("ANSIBLE_MAX_PARALLEL"))
    llm_model: str | None = Field(None, validation_alias=env("LLM_MODEL"))
    llm_key: SecretStr | None = Field(None, validation_alias=env("LLM_KEY"))
    llm_base_url: str | None = Field(None, validation_alias=env("LLM_BASE_URL"))
    llm_timeout_seconds: float = Field(30.0, gt=0, le=600, validation_alias=env("LLM_TIMEOUT_SECONDS"))
    llm_max_attempts: int = Field(3, ge=1, le=10, validation_alias=env("LLM_MAX_ATTEMPTS"))
    llm_prompt_token_budget: int = Field(8000, ge=1000, le=1_000_000, validation_alias=env("LLM_PROMPT_TOKEN_BUDGET"))
    approvers: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias=env("APPROVERS"))
    require_distinct_approver: bool = Field(False, validation_alias=env("REQUIRE_DISTINCT_APPROVER"))
    approver_keys_dir: Path | None = Field(None, validation_alias=env("APPROVER_KEYS_DIR"))
    approver_key_file: Path | None = Field(None, validation_alias=env("APPROVER_KEY_FILE"))
    approval_timeout_hours: float = Field(12.0, gt=0, le=24 * 365, validation_alias=env("APPROVAL_TIMEOUT_HOURS"))
    max_failures: int = Field(10, ge=1, le=1_000_000, validation_alias=env("MAX_FAILURES"))
    rules_file: Path | None = Field(None, validation_alias=env("RULES_FILE"))
    notify_webhook_url: SecretStr | None = Field(None, validation_alias=env("NOTIFY_WEBHOOK_URL"))
    pagerduty_routing_key: SecretStr | None = Field(None, validation_alias=env("PAGERDUTY_ROUTING_KEY"))
    pagerduty_events_url: str = Field(DEFAULT_PAGERDUTY_EVENTS_URL, validation_alias=env("PAGERDUTY_EVENTS_URL"))
    temporal_ui_url: str | None = Field(None, validation_alias=env("TEMPORAL_UI_URL"))
    reports_url: str | None = Field(None, validation_alias=env("REPORTS_URL"))
    mcp_http_token: SecretStr | None = Field(None, validation_alias=env("MCP_HTTP_TOKEN"))
    api_host: str = Field("127.0.0.1", min_length=1, validation_alias=env("API_HOST"))
    api_port: int = Field(8765, ge=1, le=65535, validation_alias=env("API_PORT"))
    api_token: SecretStr | None = Field(None, validation_alias=env("API_TOKEN"))
    api_embedded: bool = Field(True, validation_alias=env("API_EMBEDDED"))

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @field_validator(*PATH_FIELDS, mode="before")
    @classmethod
    def _project_relative(cls, value: object) -> object:
        return resolve_path(value) if isinstance(value, str) else value

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_mode(cls, value: object) -> object:
        # The SDK's TEMPORAL_TLS is a boolean; ours also says `auto`.
        if isinstance(value, str):
            lowered = value.lower()
            return {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}.get(lowered, lowered)
        return value

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

    @field_validator("temporal_namespace", "task_queue", "temporal_profile", "tls_server_name")
    @classmethod
    def _non_blank(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError("must be non-empty and contain no spaces")
        return value

    @model_validator(mode="after")
    def _prometheus_needs_its_url(self) -> Settings:
        if self.metrics_source == "prometheus" and not self.prometheus_url:
            raise ValueError("METRICS_SOURCE=prometheus needs PROMETHEUS_URL (e.g. http://prometheus:9090)")
        return self

    @field_validator("llm_base_url", "notify_webhook_url", "pagerduty_events_url", "temporal_ui_url", "reports_url",
                     "prometheus_url")
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

    def approval_policy(self) -> ApprovalPolicy:
        """`APPROVERS` and `REQUIRE_DISTINCT_APPROVER` as a policy (a worker enforces its own)."""
        return ApprovalPolicy(approvers=list(self.approvers), require_distinct_approver=self.require_distinct_approver)

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
