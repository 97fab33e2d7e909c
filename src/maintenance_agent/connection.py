"""The one way every part of the agent connects to Temporal: plain, mTLS or API key."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from .config import Settings, client_profile
from .converter import data_converter as checking_converter

TRANSIENT_RPC = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
"""Server answers that mean "busy or restarting, ask again shortly" (shared by every caller that retries)."""


def is_transient(exc: RPCError) -> bool:
    """Whether to ask again shortly: a busy or restarting server, or the client's own RPC deadline
    passing while the server was slow (reported as CANCELLED "Timeout expired")."""
    return exc.status in TRANSIENT_RPC or (exc.status == RPCStatusCode.CANCELLED and "Timeout expired" in exc.message)

log = logging.getLogger(__name__)


class TemporalUnavailable(Exception):
    """The Temporal server could not be reached; the message says how to fix it."""


@dataclass(frozen=True)
class ConnectOptions:
    """Everything `Client.connect` needs, built from settings without any I/O but reading PEM files."""

    target_host: str
    namespace: str
    tls: TLSConfig | bool
    api_key: str | None

    def __repr__(self) -> str:  # never show the API key or private key bytes
        tls = ("mTLS" if self.tls.client_cert else "TLS (custom CA or server name)") if isinstance(self.tls, TLSConfig) \
            else self.tls
        key = "<set>" if self.api_key else None
        return f"ConnectOptions(target_host={self.target_host!r}, namespace={self.namespace!r}, tls={tls!r}, api_key={key})"


def connect_options(settings: Settings) -> ConnectOptions:
    """Translate settings into connection options, through the SDK's own profile (`client_profile`):
    mTLS when a client certificate and key are configured; an API key (Temporal Cloud) implies TLS
    with the system roots; a custom CA or server name applies to both; `TEMPORAL_TLS` forces it."""
    config = client_profile(settings).to_client_connect_config()
    tls = config.get("tls", False)
    if isinstance(tls, TLSConfig) and tls == TLSConfig():
        tls = True  # TLS with the system roots and nothing else: what `True` means to Client.connect
    return ConnectOptions(config.get("target_host", settings.temporal_address),
                          config.get("namespace", settings.temporal_namespace), tls, config.get("api_key"))


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every client and worker uses: pydantic models in and out, encrypted with
    AES-GCM when TEMPORAL_PAYLOAD_KEY is set (all parties must share the key)."""
    if settings is None or settings.payload_key is None:
        return checking_converter
    from .codec import EncryptionCodec

    # Failure messages and stack traces (which can name devices and values) are encrypted too.
    return dataclasses.replace(checking_converter,
                               payload_codec=EncryptionCodec(settings.payload_key.get_secret_value()),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def connect(settings: Settings, *, timeout_seconds: float = 10.0) -> Client:
    """Connect to Temporal with the configured address, namespace and credentials."""
    opts = connect_options(settings)
    try:
        return await Client.connect(
            opts.target_host,
            namespace=opts.namespace,
            tls=opts.tls,
            api_key=opts.api_key,
            data_converter=data_converter(settings),
            connect_timeout=timedelta(seconds=timeout_seconds),
        )
    except (RPCError, RuntimeError) as exc:
        reason = _short_reason(str(exc))
        if opts.api_key and opts.api_key in reason:
            reason = reason.replace(opts.api_key, "<redacted>")
        raise TemporalUnavailable(
            f"cannot reach Temporal at {opts.target_host} (namespace {opts.namespace}): {reason}. "
            + _how_to_fix(settings)
        ) from None


def _short_reason(text: str) -> str:
    """The transport error without the Rust debug dump around it."""
    lowered = text.lower()
    for marker, reason in (("connection refused", "connection refused"), ("timed out", "timed out"),
                           ("dns error", "host name not found"), ("certificate", "TLS certificate problem"),
                           ("unauthenticated", "not authenticated (check the API key or certificate)"),
                           ("permission", "permission denied"),
                           ("unimplemented", "the address answers but is not a Temporal frontend (wrong host or port, "
                                             "or a proxy in between)"),
                           ("grpc-status header missing", "the address answers but is not a Temporal frontend "
                                                          "(wrong host or port, or a proxy in between)")):
        if marker in lowered:
            return reason
    first = text.splitlines()[0] if text else "unknown error"
    return first.split(" Status {", 1)[0][:200]


def _how_to_fix(settings: Settings) -> str:
    if settings.is_local_address:
        return (
            "Start one with `make server` (or set EMBEDDED_TEMPORAL=auto to let the scripts start it), "
            "or point TEMPORAL_ADDRESS at a running server."
        )
    return "Check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS/API-key settings."

