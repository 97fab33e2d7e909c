"""Settings: defaults, precedence, validation messages that name the variable, connect options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from maintenance_agent.config import PROJECT_ROOT, ConfigError, EmbeddedMode, load_settings
from maintenance_agent.connection import TemporalUnavailable, connect, connect_options

NO_FILE = Path(os.devnull)


def test_defaults() -> None:
    s = load_settings(environ={}, env_file=NO_FILE)
    assert s.temporal_address == "localhost:7233"
    assert s.temporal_namespace == "default"
    assert s.task_queue == "infrastructure-maintenance-task-queue"
    assert s.user_name == "Admin.User"
    assert s.embedded is EmbeddedMode.AUTO
    assert s.data_dir == PROJECT_ROOT / "data" and s.reports_dir == PROJECT_ROOT / "reports"
    assert s.llm_model is None and not s.llm_enabled
    assert s.approval_timeout_hours == 12 and s.max_failures == 10 and s.approvers == ()


def test_env_overrides_dotenv_and_relative_paths_resolve_against_project(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("USER_NAME=from.file\nDATA_DIR=fleet\nTEMPORAL_NAMESPACE=ns-file\nLLM_MODEL=\n")
    s = load_settings(environ={"TEMPORAL_NAMESPACE": "ns-env"}, env_file=env_file)
    assert s.user_name == "from.file"
    assert s.temporal_namespace == "ns-env"
    assert s.data_dir == PROJECT_ROOT / "fleet"
    assert s.llm_model is None, "an empty value means unset"


@pytest.mark.parametrize("var,value,fragment", [
    ("TEMPORAL_ADDRESS", "localhost", "host:port"),
    ("TEMPORAL_ADDRESS", "localhost:99999", "host:port"),
    ("EMBEDDED_TEMPORAL", "sometimes", "'auto' or 'never'"),
    ("USER_NAME", "two words", "not a safe user name"),
    ("MAX_FAILURES", "0", "greater than or equal to 1"),
    ("APPROVAL_TIMEOUT_HOURS", "-1", "greater than 0"),
    ("REQUIRE_DISTINCT_APPROVER", "maybe", "boolean"),
    ("LLM_BASE_URL", "localhost:8000", "http://"),
    ("TEMPORAL_UI_PORT", "web", "integer"),
    ("APPROVERS", "alice, bob smith", "comma-separated"),
    ("TEMPORAL_UI_URL", "localhost:8233", "http://"),
    ("TEMPORAL_UI_URL", "http://", "with a host"),
    ("TEMPORAL_UI_URL", "http://ui.example:port", "not a valid URL"),
    ("REPORTS_URL", "https://ops.example/reports?token=1", "without ?query"),
    ("PAGERDUTY_EVENTS_URL", "events.pagerduty.com/v2/enqueue", "http://"),
    ("PAGERDUTY_ROUTING_KEY", "not a key", "integration key"),
])
def test_invalid_value_names_the_variable(var: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={var: value}, env_file=NO_FILE)
    message = str(err.value)
    assert message.startswith(f"{var}=") and fragment in message and "\n" not in message


def test_secret_values_never_appear_in_errors_or_repr() -> None:
    s = load_settings(environ={"TEMPORAL_API_KEY": "sentinel-api-key-123", "LLM_KEY": "sentinel-llm-key-456"},
                      env_file=NO_FILE)
    assert "sentinel" not in repr(s) and "sentinel" not in str(s.model_dump())
    assert "sentinel" not in repr(connect_options(s))


def test_notification_settings_and_their_defaults() -> None:
    s = load_settings(environ={}, env_file=NO_FILE)
    assert s.pagerduty_events_url == "https://events.pagerduty.com/v2/enqueue" and s.pagerduty_routing_key is None
    assert s.temporal_ui_base == "http://localhost:8233", "the embedded server's UI for a local address"
    assert load_settings(environ={"TEMPORAL_UI_PORT": "9000"}, env_file=NO_FILE).temporal_ui_base == "http://localhost:9000"
    cloud = load_settings(environ={"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233"}, env_file=NO_FILE)
    assert cloud.temporal_ui_base == "https://cloud.temporal.io"
    assert load_settings(environ={"TEMPORAL_ADDRESS": "temporal.internal:7233"}, env_file=NO_FILE).temporal_ui_base is None
    given = load_settings(environ={"TEMPORAL_UI_URL": "https://temporal.example/", "REPORTS_URL": "https://r.example/x/",
                                   "TEMPORAL_ADDRESS": "temporal.internal:7233"}, env_file=NO_FILE)
    assert (given.temporal_ui_base, given.reports_url) == ("https://temporal.example", "https://r.example/x")


def test_the_routing_key_is_a_secret() -> None:
    from maintenance_agent.config import NotifySettings

    key = "sentinelRoutingKey0123456789abcd"
    s = load_settings(environ={"PAGERDUTY_ROUTING_KEY": key}, env_file=NO_FILE)
    notify = NotifySettings.from_settings(s)
    assert notify.pagerduty_routing_key == key and notify.reports_label == "reports"
    assert key not in repr(s) and key not in str(s.model_dump()) and key not in repr(notify)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"PAGERDUTY_ROUTING_KEY": key + " x"}, env_file=NO_FILE)
    assert key not in str(err.value) and str(err.value).startswith("PAGERDUTY_ROUTING_KEY=<hidden> is invalid")


def test_tls_cert_and_key_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("CERT")
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"):
        load_settings(environ={"TEMPORAL_TLS_CERT": str(cert)}, env_file=NO_FILE)
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_KEY=.*does not exist"):
        load_settings(environ={"TEMPORAL_TLS_CERT": str(cert), "TEMPORAL_TLS_KEY": str(tmp_path / "nope.pem")},
                      env_file=NO_FILE)


def test_connect_options_plain() -> None:
    opts = connect_options(load_settings(environ={"TEMPORAL_ADDRESS": "temporal.internal:7233"}, env_file=NO_FILE))
    assert (opts.target_host, opts.namespace, opts.tls, opts.api_key) == ("temporal.internal:7233", "default", False, None)


def test_connect_options_mtls(tmp_path: Path) -> None:
    for name, body in (("c.pem", b"CERT"), ("k.pem", b"KEY"), ("ca.pem", b"CA")):
        (tmp_path / name).write_bytes(body)
    s = load_settings(environ={"TEMPORAL_TLS_CERT": str(tmp_path / "c.pem"), "TEMPORAL_TLS_KEY": str(tmp_path / "k.pem"),
                               "TEMPORAL_TLS_CA": str(tmp_path / "ca.pem"), "TEMPORAL_NAMESPACE": "prod.acct"},
                      env_file=NO_FILE)
    opts = connect_options(s)
    assert isinstance(opts.tls, TLSConfig)
    assert (opts.tls.client_cert, opts.tls.client_private_key, opts.tls.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")
    assert opts.api_key is None and opts.namespace == "prod.acct"


def test_connect_options_api_key_implies_tls() -> None:
    s = load_settings(environ={"TEMPORAL_API_KEY": "k-123", "TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233"},
                      env_file=NO_FILE)
    opts = connect_options(s)
    assert opts.tls is True and opts.api_key == "k-123"


async def test_connect_to_nothing_is_a_clear_error() -> None:
    from conftest import free_port

    s = load_settings(environ={"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, env_file=NO_FILE)
    with pytest.raises(TemporalUnavailable) as err:
        await connect(s, timeout_seconds=2)
    assert "cannot reach Temporal" in str(err.value) and "make server" in str(err.value)


async def test_connect_real_server(temporal_address: str) -> None:
    s = load_settings(environ={"TEMPORAL_ADDRESS": temporal_address}, env_file=NO_FILE)
    client = await connect(s)
    assert client.namespace == "default"


def test_env_example_documents_every_setting() -> None:
    from maintenance_agent.config import ENV_VARS

    listed = {line.split("=", 1)[0] for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
              if line and not line.startswith("#")}
    assert listed == set(ENV_VARS), f"missing: {set(ENV_VARS) - listed}, unknown: {listed - set(ENV_VARS)}"
    readme = (PROJECT_ROOT / "README.md").read_text()
    undocumented = [v for v in ENV_VARS if f"`{v}`" not in readme]
    assert not undocumented, f"README does not describe {undocumented}"


def test_hashed_requirements_match_poetry_lock() -> None:
    import tomllib

    lock = tomllib.loads((PROJECT_ROOT / "poetry.lock").read_text())
    pinned = {p["name"].lower().replace("_", "-"): p["version"] for p in lock["package"]}
    exported: dict[str, str] = {}
    for line in (PROJECT_ROOT / "requirements-dev.lock.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, _, rest = line.partition("==")
            exported[name.strip().lower().replace("_", "-")] = rest.split(";")[0].strip()
    assert exported, "requirements-dev.lock.txt is empty"
    stale = {n: (v, pinned.get(n)) for n, v in exported.items() if pinned.get(n) != v}
    assert not stale, f"requirements-dev.lock.txt is out of date with poetry.lock (run `make lock`): {stale}"
    missing = set(pinned) - set(exported)
    # Packages that only apply to other platforms/pythons are legitimately absent from the export.
    assert len(missing) < len(pinned) // 5, f"many locked packages are not exported: {sorted(missing)[:10]}"


def test_settings_round_trip_through_the_environment(tmp_path: Path) -> None:
    from maintenance_agent.config import settings_environment

    s = load_settings(environ={"APPROVERS": "a,b", "REQUIRE_DISTINCT_APPROVER": "true", "LLM_KEY": "k",
                               "TEMPORAL_ADDRESS": "h:1", "DATA_DIR": str(tmp_path)}, env_file=NO_FILE)
    assert load_settings(environ=settings_environment(s), env_file=NO_FILE) == s
