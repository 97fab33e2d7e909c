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


# -------------------------------------------------------------------------------------------------
# The SDK's environment configuration: TOML profiles, the SDK's names, today's names as aliases


def _profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(text)
    return path


PROFILES = """
[profile.default]
address = "file.default:7233"
namespace = "file-ns"

[profile.cloud]
address = "acct.tmprl.cloud:7233"
namespace = "cloud-ns"
api_key = "sentinel-file-key-789"
"""


def test_precedence_explicit_variable_over_profile_file_over_default(tmp_path: Path) -> None:
    toml = str(_profile_file(tmp_path, PROFILES))
    default = load_settings(environ={}, env_file=NO_FILE)
    from_file = load_settings(environ={"TEMPORAL_CONFIG_FILE": toml}, env_file=NO_FILE)
    explicit = load_settings(environ={"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_ADDRESS": "env.host:7233"},
                             env_file=NO_FILE)
    # default < profile file < explicit variable, field by field
    assert (default.temporal_address, default.temporal_namespace) == ("localhost:7233", "default")
    assert (from_file.temporal_address, from_file.temporal_namespace) == ("file.default:7233", "file-ns")
    assert (explicit.temporal_address, explicit.temporal_namespace) == ("env.host:7233", "file-ns")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"TEMPORAL_CONFIG_FILE={toml}\nTEMPORAL_NAMESPACE=dotenv-ns\n")
    assert load_settings(environ={}, env_file=dotenv).temporal_namespace == "dotenv-ns", ".env is explicit too"
    assert load_settings(environ={"TEMPORAL_NAMESPACE": "env-ns"}, env_file=dotenv).temporal_namespace == "env-ns"
    assert load_settings(environ={"TEMPORAL_CONFIG_FILE": toml}, env_file=NO_FILE,
                         temporal_address="override:1").temporal_address == "override:1"


def test_a_named_profile_and_its_api_key_become_the_connection(tmp_path: Path) -> None:
    toml = str(_profile_file(tmp_path, PROFILES))
    s = load_settings(environ={"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "cloud"}, env_file=NO_FILE)
    opts = connect_options(s)
    assert (opts.target_host, opts.namespace, opts.api_key, opts.tls) == (
        "acct.tmprl.cloud:7233", "cloud-ns", "sentinel-file-key-789", True)
    assert "sentinel" not in repr(s) and "sentinel" not in repr(opts)
    off = load_settings(environ={"TEMPORAL_CONFIG_FILE": toml, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_TLS": "false"},
                        env_file=NO_FILE)
    assert connect_options(off).tls is False, "TEMPORAL_TLS (the SDK's boolean) overrides the profile"


def test_a_profile_file_is_read_only_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".config" / "temporalio").mkdir(parents=True)
    (home / ".config" / "temporalio" / "temporal.toml").write_text(PROFILES)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert load_settings(environ={}, env_file=NO_FILE).temporal_address == "localhost:7233", \
        "a Temporal CLI config in the home folder does not silently move the agent to another server"
    chosen = load_settings(environ={"TEMPORAL_PROFILE": "cloud"}, env_file=NO_FILE)
    assert chosen.temporal_address == "acct.tmprl.cloud:7233", "TEMPORAL_PROFILE alone reads the SDK's default file"


def test_mtls_from_a_profile_with_paths_and_inline_data(tmp_path: Path) -> None:
    for name, body in (("c.pem", "CERT"), ("k.pem", "KEY")):
        (tmp_path / name).write_text(body)
    toml = _profile_file(tmp_path, f"""
[profile.default]
address = "private.example:7233"
[profile.default.tls]
client_cert_path = "{tmp_path / 'c.pem'}"
client_key_path = "{tmp_path / 'k.pem'}"
server_ca_cert_data = "CA-INLINE"
server_name = "temporal.private"
""")
    s = load_settings(environ={"TEMPORAL_CONFIG_FILE": str(toml)}, env_file=NO_FILE)
    assert s.tls_cert == tmp_path / "c.pem" and s.tls_ca_data == "CA-INLINE" and s.tls_server_name == "temporal.private"
    opts = connect_options(s)
    assert isinstance(opts.tls, TLSConfig) and repr(opts).count("mTLS") == 1
    assert (opts.tls.client_cert, opts.tls.client_private_key, opts.tls.server_root_ca_cert, opts.tls.domain) == (
        b"CERT", b"KEY", b"CA-INLINE", "temporal.private")
    assert load_settings(environ=settings_environment_of(s), env_file=NO_FILE) == s


def settings_environment_of(settings):  # noqa: ANN001, ANN201
    from maintenance_agent.config import settings_environment

    return settings_environment(settings)


def test_the_sdk_names_and_the_older_names_both_work(tmp_path: Path) -> None:
    from maintenance_agent.config import ENV_ALIASES

    for name, body in (("c.pem", "CERT"), ("k.pem", "KEY"), ("ca.pem", "CA")):
        (tmp_path / name).write_text(body)
    new = {"TEMPORAL_TLS_CLIENT_CERT_PATH": "c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "k.pem",
           "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca.pem"}
    old = {alias: new[name] for alias, name in ENV_ALIASES.items()}
    assert set(old) == {"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"}
    as_new, as_old = ({k: str(tmp_path / v) for k, v in names.items()} for names in (new, old))
    assert load_settings(environ=as_new, env_file=NO_FILE) == load_settings(environ=as_old, env_file=NO_FILE)
    assert load_settings(environ={**as_new, **as_old}, env_file=NO_FILE).tls_cert == tmp_path / "c.pem"
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**as_new, "TEMPORAL_TLS_CERT": str(tmp_path / "k.pem")}, env_file=NO_FILE)
    assert str(err.value).startswith("TEMPORAL_TLS_CERT and TEMPORAL_TLS_CLIENT_CERT_PATH are both set")
    for value, mode in (("true", "on"), ("FALSE", "off"), ("on", "on"), ("auto", "auto")):
        assert load_settings(environ={"TEMPORAL_TLS": value}, env_file=NO_FILE).tls.value == mode


@pytest.mark.parametrize("toml,environ,fragment", [
    (None, {"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, "TEMPORAL_CONFIG_FILE=/nonexistent/temporal.toml "
                                                                    "does not exist"),
    (PROFILES, {"TEMPORAL_PROFILE": "staging"}, "Profile 'staging' not found"),
    ("[profile.default\naddress = 1", {}, "TOML parse error at line 1"),
    ('[profile.default]\naddres = "x:1"\n', {}, "unknown field `addres`"),
    ('[profile.default]\naddress = "no-port"\n', {}, "address (no-port) in Temporal profile 'default' of"),
    ('[profile.default]\napi_key = "k"\n[profile.default.grpc_meta]\nx = "y"\n', {}, "grpc_meta in Temporal profile"),
    ('[profile.default.tls]\nclient_cert_data = "CERT"\n', {}, "must be set together"),
])
def test_a_bad_profile_is_one_actionable_line(tmp_path: Path, toml: str | None, environ: dict, fragment: str) -> None:
    env = dict(environ)
    if toml is not None:
        env.setdefault("TEMPORAL_CONFIG_FILE", str(_profile_file(tmp_path, toml)))
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env, env_file=NO_FILE)
    message = str(err.value)
    assert fragment in message and "\n" not in message and "Traceback" not in message, message
    assert "sentinel" not in message


def test_profile_secrets_are_hidden_in_errors(tmp_path: Path) -> None:
    toml = _profile_file(tmp_path, '[profile.default]\naddress = "h:1"\n[profile.default.tls]\n'
                                   'client_key_data = "sentinel-private-key"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"TEMPORAL_CONFIG_FILE": str(toml)}, env_file=NO_FILE)
    assert "sentinel" not in str(err.value)


def test_an_unknown_override_is_an_error_not_a_default() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'max_failure'"):
        load_settings(environ={}, env_file=NO_FILE, max_failure=3)


def test_only_the_variable_names_are_read_not_the_field_names() -> None:
    s = load_settings(environ={"data_dir": "/elsewhere", "user_name": "mallory"}, env_file=NO_FILE)
    assert s.data_dir == PROJECT_ROOT / "data" and s.user_name == "Admin.User"
