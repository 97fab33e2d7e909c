"""Settings: read once from the environment, `.env` and a Temporal profile, validated, then passed around.

Every setting has one variable (the Temporal SDK's name where it has one; older names still work)
and one place it is read: here. See environment.py for the precedence.
"""

from .environment import ENV_ALIASES, ENV_VARS, load_settings, read_environment, settings_environment
from .settings import (
    DEFAULT_PAGERDUTY_EVENTS_URL,
    DEFAULT_TASK_QUEUE,
    PROJECT_ROOT,
    SECRET_FIELDS,
    TEMPORAL_CLOUD_UI,
    ConfigError,
    EmbeddedMode,
    Settings,
    TlsMode,
)
from .temporal import client_profile
from .worker import LlmSettings, NotifySettings

__all__ = [
    "DEFAULT_PAGERDUTY_EVENTS_URL", "DEFAULT_TASK_QUEUE", "ENV_ALIASES", "ENV_VARS", "PROJECT_ROOT", "SECRET_FIELDS",
    "TEMPORAL_CLOUD_UI", "ConfigError", "EmbeddedMode", "LlmSettings", "NotifySettings", "Settings", "TlsMode",
    "client_profile", "load_settings", "read_environment", "settings_environment",
]
