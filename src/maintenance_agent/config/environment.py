"""Reading the settings once: the process environment and `.env`, a Temporal profile file, defaults.

Precedence, one layer over the next: an explicit variable (process environment over `.env`) >
a TOML profile (`TEMPORAL_CONFIG_FILE` / `TEMPORAL_PROFILE`, connection settings only) > the
default. Every problem is one `ConfigError` line naming the variable (or the profile key) and what
to do; never a pydantic traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from .settings import PROJECT_ROOT, SECRET_FIELDS, ConfigError, Settings
from .temporal import PROFILE_MARK, read_profile


def _names(field: str) -> list[str]:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    return [str(choice) for choice in alias.choices]


ENV_VARS: dict[str, str] = {_names(field)[0]: field for field in Settings.model_fields}
"""Variable name -> Settings field name (the order of the fields; `.env.example` lists them all)."""
ENV_VARS_BY_FIELD = {field: var for var, field in ENV_VARS.items()}
ENV_ALIASES: dict[str, str] = {old: _names(field)[0] for field in Settings.model_fields for old in _names(field)[1:]}
"""Names still read for compatibility -> the variable they stand for (the SDK's name)."""


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over one given mapping instead of `os.environ`."""

    def __init__(self, environment: Mapping[str, str]) -> None:
        self._given = environment
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def read_environment(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> dict[str, str]:
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


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build `Settings` from the environment, `.env` and a Temporal profile; raise `ConfigError`
    naming the variable. Empty values count as unset, so `LLM_MODEL=` in `.env` keeps the advisor off.
    `overrides` (field names) win over everything (tests, and callers that already know a value)."""
    merged = {name: value.strip() for name, value in read_environment(environ, env_file).items()}
    _refuse_two_names_for_one_setting(merged)
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(Settings.model_fields)}")
    profile = read_profile(merged)
    explicit = {ENV_VARS[var]: value for var, value in _Environment(merged)().items()}
    values = {**profile.values, **explicit, **overrides}  # explicit variable > profile file > default
    origins = {**profile.origins, **{field: _given_name(field, merged) for field in explicit}}
    for field in overrides:
        origins.pop(field, None)
    try:
        settings = Settings(**{ENV_VARS_BY_FIELD[field]: value for field, value in values.items()})
    except ValidationError as exc:
        raise ConfigError(_invalid(exc, values, origins)) from None
    _check_files_and_pairs(settings, origins)
    return settings


def _given_name(field: str, merged: Mapping[str, str]) -> str:
    """The variable that set `field` (the first of its names with a value: the one the source read)."""
    return next(name for name in _names(field) if merged.get(name))


def _refuse_two_names_for_one_setting(merged: Mapping[str, str]) -> None:
    for old, new in ENV_ALIASES.items():
        if merged.get(old) and merged.get(new) and merged[old] != merged[new]:
            raise ConfigError(f"{old} and {new} are both set, to different values; {old} is the older name of "
                              f"{new}: keep one.")


def _variable(field: str, origins: Mapping[str, str]) -> str:
    """The variable that set `field`, or that would (a value from a profile or an override)."""
    origin = origins.get(field)
    return origin if origin and PROFILE_MARK not in origin else ENV_VARS_BY_FIELD.get(field, field)


def _shown(field: str, value: Any, origins: Mapping[str, str]) -> str:
    """`VAR=value` for a variable, `key (value) in <profile>` for a profile value (secrets hidden)."""
    text = "<hidden>" if field in SECRET_FIELDS else f"{value!s}"
    origin = origins.get(field, "")
    if PROFILE_MARK in origin:
        key, _, where = origin.partition(" in ")
        return f"{key} ({text}) in {where}"
    return f"{_variable(field, origins)}={text}"


def _invalid(exc: ValidationError, values: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    error = exc.errors(include_url=False)[0]
    field = ENV_VARS.get(str(error["loc"][0]), "") if error["loc"] else ""
    message = " ".join(error["msg"].removeprefix("Value error, ").split())
    fix = (f"Fix it in that file, or override it with {_variable(field, {})}" if PROFILE_MARK in origins.get(field, "")
           else "Fix it in the environment or .env (see .env.example)")
    return f"{_shown(field, values.get(field), origins)} is invalid: {message}. {fix}."


_PAIRS = {"TEMPORAL_TLS_CERT": "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_CERT_PATH": "TEMPORAL_TLS_CLIENT_KEY_PATH",
          "TEMPORAL_TLS_CLIENT_CERT_DATA": "TEMPORAL_TLS_CLIENT_KEY_DATA"}
_FILES = (("tls_cert", "a readable PEM file"), ("tls_key", "a readable PEM file"), ("tls_ca", "a readable PEM file"),
          ("rules_file", "a readable JSON rules file, or leave it empty for the defaults"),
          ("approver_key_file", "your private key (python -m maintenance_agent.identity keygen), or leave it empty"))


def _check_files_and_pairs(settings: Settings, origins: Mapping[str, str]) -> None:
    """What a field cannot check alone: files that must exist, settings that go together."""
    def name(field: str) -> str:
        return _variable(field, origins)

    if settings.approver_keys_dir is not None and not settings.approver_keys_dir.is_dir():
        raise ConfigError(f"APPROVER_KEYS_DIR={settings.approver_keys_dir} is not a directory; point it at a folder "
                          f"of <user>.pub public keys, or leave it empty.")
    if settings.payload_key is not None and len(settings.payload_key.get_secret_value()) < 16:
        raise ConfigError("TEMPORAL_PAYLOAD_KEY is too short; use at least 16 random characters "
                          "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    for path_field, data_field in (("tls_cert", "tls_cert_data"), ("tls_key", "tls_key_data"),
                                   ("tls_ca", "tls_ca_data")):
        if getattr(settings, path_field) is not None and getattr(settings, data_field) is not None:
            raise ConfigError(f"{name(path_field)} and {name(data_field)} are both set; give the PEM as a file or "
                              f"as data, not both.")
    has_cert, has_key = settings.tls_cert or settings.tls_cert_data, settings.tls_key or settings.tls_key_data
    if bool(has_cert) != bool(has_key):
        if has_cert:
            cert = name("tls_cert" if settings.tls_cert else "tls_cert_data")
            key = _PAIRS.get(cert, "TEMPORAL_TLS_CLIENT_KEY_PATH")
        else:
            key = name("tls_key" if settings.tls_key else "tls_key_data")
            cert = next((c for c, k in _PAIRS.items() if k == key), "TEMPORAL_TLS_CLIENT_CERT_PATH")
        raise ConfigError(f"{cert} and {key} must be set together for mTLS (a client certificate and its key); "
                          f"set both or neither.")
    for field, kind in _FILES:
        path = getattr(settings, field)
        if path is not None and not path.is_file():
            raise ConfigError(f"{_shown(field, path, origins)} does not exist; point it at {kind}.")
