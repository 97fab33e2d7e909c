"""The Temporal connection through the SDK's own environment configuration (`temporalio.envconfig`).

A TOML profile (`TEMPORAL_CONFIG_FILE`, `TEMPORAL_PROFILE`) is read by the SDK and gives the lowest
layer of the connection settings: an explicit variable overrides any of its values. A profile file
is read only when one of those two variables is set, so a Temporal CLI configuration in the user's
home folder never silently points the agent at another server. Settings are then turned back into
the SDK's `ClientConfigProfile`, whose connect arguments every client and worker uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource

from .settings import ConfigError, Settings, TlsMode, resolve_path

DEFAULT_CONFIG_FILE = "~/.config/temporalio/temporal.toml"
PROFILE_MARK = " in Temporal profile "
"""Origins of profile values read `<key> in Temporal profile '<name>' of <file>`."""


@dataclass
class ProfileValues:
    """Settings values from a profile file, by field, and where each came from (for error messages)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, value: Any, key: str, where: str) -> None:
        if value is not None:
            self.values[name] = value
            self.origins[name] = f"{key} in {where}"  # `where` starts "Temporal profile": see PROFILE_MARK


def read_profile(environment: Mapping[str, str]) -> ProfileValues:
    """The connection values of the chosen profile (`TEMPORAL_PROFILE`, else `default`) of
    `TEMPORAL_CONFIG_FILE` (else the SDK's default file), read strictly: an unknown key is an error."""
    given_file, name = environment.get("TEMPORAL_CONFIG_FILE"), environment.get("TEMPORAL_PROFILE")
    if not given_file and not name:
        return ProfileValues()
    path = resolve_path(given_file) if given_file else None
    if path is not None and not path.is_file():
        raise ConfigError(f"TEMPORAL_CONFIG_FILE={path} does not exist; point it at a Temporal TOML config file "
                          f"(profiles under [profile.<name>]), or leave it empty.")
    where = f"Temporal profile {name or 'default'!r} of {path or DEFAULT_CONFIG_FILE}"
    try:
        profile = ClientConfigProfile.load(profile=name or None, config_source=path, disable_env=True,
                                           config_file_strict=True)
    except RuntimeError as exc:  # the SDK's ConfigError: a TOML error over several lines, or a missing profile
        reason = _one_line(str(exc))
        fix = "set TEMPORAL_PROFILE to a profile it has" if "not found" in reason else "fix the file"
        raise ConfigError(f"{where} cannot be used: {reason}; {fix}.") from None
    if profile.grpc_meta:
        raise ConfigError(f"grpc_meta in {where} is not supported by this agent; remove it from the profile.")
    found = ProfileValues()
    found.put("temporal_address", profile.address, "address", where)
    found.put("temporal_namespace", profile.namespace, "namespace", where)
    found.put("api_key", profile.api_key, "api_key", where)
    if profile.tls is not None:
        _read_tls(profile.tls, found, where)
    return found


def _read_tls(tls: ClientConfigTLS, found: ProfileValues, where: str) -> None:
    # A [tls] section means TLS (as in the SDK) unless it says `disabled = true`.
    found.put("tls", TlsMode.OFF if tls.disabled else TlsMode.ON, "tls.disabled" if tls.disabled is not None else
              "[tls]", where)
    found.put("tls_server_name", tls.server_name, "tls.server_name", where)
    for source, path_field, data_field, key in ((tls.client_cert, "tls_cert", "tls_cert_data", "client_cert"),
                                                (tls.client_private_key, "tls_key", "tls_key_data", "client_key"),
                                                (tls.server_root_ca_cert, "tls_ca", "tls_ca_data", "server_ca_cert")):
        if isinstance(source, Path):
            found.put(path_field, str(source), f"tls.{key}_path", where)  # a string: resolved like any other path
        elif source is not None:
            found.put(data_field, source.decode() if isinstance(source, bytes) else source, f"tls.{key}_data", where)


def _one_line(text: str) -> str:
    """The SDK's TOML errors quote the line with a caret under it: keep the sentences only."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and "|" not in line]
    return ": ".join(lines).removeprefix("Configuration loading error: ")


def client_profile(settings: Settings) -> ClientConfigProfile:
    """These settings as the SDK's profile: `to_client_connect_config()` gives `Client.connect`'s
    arguments (mTLS with a client certificate and key; an API key implies TLS with the system roots;
    a custom CA or server name applies to both; `TEMPORAL_TLS=off` turns TLS off whatever else is set)."""
    cert = _source(settings.tls_cert, settings.tls_cert_data)
    key = _source(settings.tls_key, settings.tls_key_data.get_secret_value() if settings.tls_key_data else None)
    ca = _source(settings.tls_ca, settings.tls_ca_data)
    tls: ClientConfigTLS | None = None
    if settings.tls is TlsMode.OFF:
        tls = ClientConfigTLS(disabled=True)
    elif cert or key or ca or settings.tls_server_name or settings.tls is TlsMode.ON:
        tls = ClientConfigTLS(server_name=settings.tls_server_name, server_root_ca_cert=ca, client_cert=cert,
                              client_private_key=key)
    return ClientConfigProfile(address=settings.temporal_address, namespace=settings.temporal_namespace,
                               api_key=settings.api_key.get_secret_value() if settings.api_key else None, tls=tls)


def _source(path: Path | None, data: str | None) -> DataSource | None:
    return path if path is not None else data.encode() if data is not None else None
