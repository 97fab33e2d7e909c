"""The Prometheus metrics source against a real Prometheus (Debian's), history backfilled by promtool."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from conftest import free_port
from helpers.prometheus import backfill, openmetrics, running_prometheus
from maintenance_agent.core.analyze import analyze
from maintenance_agent.core.detect import detect
from maintenance_agent.core.plan import plan_actions
from maintenance_agent.core.timeframe import analysis_time
from maintenance_agent.datagen import generate_fleet
from maintenance_agent.models.rules import METRICS, Rules
from maintenance_agent.sources.mapping import Mapping, MappingError, MetricQuery, load_mapping
from maintenance_agent.sources.prometheus import NO_TELEMETRY, MetricsResult, PrometheusSource, SourceError
from maintenance_agent.store import Fleet, validate_fleet

RULES = Rules()
AS_IS = Mapping(match="id", metrics={m: MetricQuery(query=m) for m in METRICS})
BY_ADDRESS = Mapping(match="ip", metrics={m: MetricQuery(query=m) for m in METRICS})  # the shipped default's match
"""The backfilled series carry the agent's own metric names, labelled with the device id."""


@dataclass
class Served:
    fleet: Fleet
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A generated fleet, its readings backfilled into a real Prometheus; one device left out of it."""
    work = tmp_path_factory.mktemp("prometheus")
    docs = generate_fleet(120, seed=16).documents()
    fleet = validate_fleet(Path("generated"), {name: orjson.dumps(doc) for name, doc in docs.items()})
    backfill(work / "tsdb", openmetrics(h for eid, h in fleet.health.items() if eid != "EQ-10007"))
    with running_prometheus(work, free_port()) as url:
        yield Served(fleet, url)


def _through_prometheus(served: Served, mapping: Mapping = AS_IS, **kwargs):  # noqa: ANN202
    as_of = analysis_time(served.fleet.inventory.values(), served.fleet.health.values())
    with PrometheusSource(served.url, mapping, **kwargs) as source:
        # Daily readings at noon: a one-day step ending at the newest one lands on every reading.
        return as_of, source.readings(served.fleet.inventory, as_of, timedelta(days=RULES.trend_window_days),
                                      timedelta(days=1))


def _decisions(fleet: Fleet, health: dict, as_of) -> tuple[list, list]:  # noqa: ANN001
    d = detect(fleet.inventory, health, fleet.life_years(), RULES, as_of)
    problems, _ = analyze(d.findings, d.facts, d.sites)
    actions = plan_actions(problems, d.findings, d.facts, d.firmware_baseline, RULES, as_of)
    return ([(f.equipment_id, f.kind.value, f.evidence.metric, f.severity.value) for f in d.findings],
            [(a.equipment_id, a.action.value) for a in actions])


def test_the_same_fleet_from_json_and_from_prometheus_gives_the_same_findings_and_plan(served: Served) -> None:
    as_of, result = _through_prometheus(served)
    assert result.gaps == {"EQ-10007": NO_TELEMETRY}
    assert result.provenance and result.provenance.queries == len(METRICS)  # one per metric, whole fleet
    assert result.provenance.end == as_of and result.provenance.start == as_of - timedelta(days=14)
    json_health = {eid: h for eid, h in served.fleet.health.items() if eid != "EQ-10007"}
    for eid, record in result.health.items():
        assert len(record.recent_readings) == len(json_health[eid].recent_readings)
    assert _decisions(served.fleet, result.health, as_of) == _decisions(served.fleet, json_health, as_of)
    findings, actions = _decisions(served.fleet, result.health, as_of)
    assert findings and actions, "the generated fleet has problems to find and repairs to plan"


def test_a_device_without_series_is_a_reported_gap_not_a_healthy_device(served: Served) -> None:
    _, result = _through_prometheus(served)
    assert "EQ-10007" not in result.health and result.gaps["EQ-10007"] == NO_TELEMETRY


def test_a_bad_expression_is_one_clear_line_naming_the_mapping_file(served: Served) -> None:
    broken = Mapping(match="id", metrics={"cpu_utilization_percent": MetricQuery(query="rate(cpu[5m]")})
    with pytest.raises(SourceError, match="rejected the cpu_utilization_percent query") as caught:
        _through_prometheus(served, broken)
    assert not caught.value.transient and "PROMETHEUS_MAPPING_FILE" in str(caught.value)


def test_prometheus_down_is_a_transient_error_that_leaks_no_credentials(tmp_path: Path) -> None:
    url = f"http://ops:hunter2@127.0.0.1:{free_port()}"
    served = Served(validate_fleet(Path("g"), {n: orjson.dumps(d) for n, d in
                                                generate_fleet(5, seed=1).documents().items()}), url)
    with pytest.raises(SourceError, match="is unreachable") as caught:
        _through_prometheus(served, token="s3cret-token", timeout=2)
    assert caught.value.transient
    assert "hunter2" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_a_query_whose_series_name_no_device_is_an_error_not_a_fleet_without_telemetry(served: Served) -> None:
    scalar = Mapping(match="id", metrics={"latency_ms": MetricQuery(query="vector(1)")})
    with pytest.raises(SourceError, match="readings for none of the 120 devices") as caught:
        _through_prometheus(served, scalar)
    assert "PROMETHEUS_MAPPING_FILE" in str(caught.value) and not caught.value.transient


def test_the_shipped_mapping_loads_and_bad_files_get_one_clear_line(tmp_path: Path) -> None:
    shipped = load_mapping(None)
    assert set(shipped.metrics) == set(METRICS) and shipped.match == "ip"
    missing = tmp_path / "nope.toml"
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(missing)
    (tmp_path / "bad.toml").write_text("metrics = [")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text('[metrics.cpu]\nquery = "x"\n')
    with pytest.raises(MappingError, match="metrics.cpu"):
        load_mapping(tmp_path / "typo.toml")
    (tmp_path / "empty.toml").write_text("[metrics]\n")
    with pytest.raises(MappingError, match="map at least one"):
        load_mapping(tmp_path / "empty.toml")


LOOKBACK = ["--query.lookback-delta=25h"]
AS_IS_TOML = 'device_label = "instance"\nmatch = "id"\n' + "".join(
    f'[metrics.{m}]\nquery = "{m}"\n' for m in METRICS)


async def test_a_run_reading_prometheus_finds_and_plans_what_a_run_on_the_files_does(
        client, served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    from conftest import running_worker, settings_for
    from maintenance_agent import client_ops
    from maintenance_agent.datagen import write_fleet

    docs = generate_fleet(120, seed=16)
    health = docs.health_metrics["health_metrics"]
    docs.health_metrics["health_metrics"] = [h for h in health if h["equipment_id"] != "EQ-10007"]  # as served
    (tmp_path / "mapping.toml").write_text(AS_IS_TOML)
    as_of = analysis_time(served.fleet.inventory.values(), served.fleet.health.values())
    runs = {}
    for name, extra in (("json", {}), ("prometheus", {
            "metrics_source": "prometheus", "prometheus_step_seconds": 86400,
            "prometheus_url": served.url.replace("http://", "http://ops:pw-sentinel-51@"),
            "prometheus_mapping_file": tmp_path / "mapping.toml", "prometheus_token": "never-logged"})):
        write_fleet(docs, tmp_path / name / "data")
        settings = settings_for(tmp_path / name, data_dir=tmp_path / name / "data", **extra)
        caplog.set_level(logging.DEBUG)  # every logger, httpx's request lines included
        async with running_worker(client, settings):
            wid = await client_ops.start_run(client, settings, dry_run=True, auto_approve=True, as_of=as_of)
            await client_ops.result(client, wid)
            history = (await client.get_workflow_handle(wid).fetch_history()).to_json()
            findings = (await client_ops.get_findings(client, wid)).findings
            plan = (await client_ops.get_plan(client, wid)).actions
        runs[name] = ([(f.equipment_id, f.kind.value, f.evidence.metric, f.severity.value) for f in findings],
                      [(a.equipment_id, a.action.value) for a in plan])
        detection = next((tmp_path / name / "reports").glob("*/detection.json"))
        recorded = orjson.loads(detection.read_bytes())
        if name == "prometheus":
            source = recorded["source"]
            assert source["queries"] == len(METRICS) and source["devices_without_telemetry"] == ["EQ-10007"]
            assert source["end"].startswith(as_of.isoformat()[:19]) and "never-logged" not in detection.read_text()
            written = "".join(p.read_text() for p in (tmp_path / name / "reports").rglob("*") if p.is_file())
            for secret in ("never-logged", "pw-sentinel-51"):
                assert secret not in caplog.text and secret not in history and secret not in written, secret
        else:
            assert recorded["source"]["source"] == "json" and recorded["source"]["queries"] == 0
            assert recorded["source"]["url"] == "health_metrics.json"
    assert runs["prometheus"] == runs["json"]
    assert runs["json"][0] and runs["json"][1]


async def test_a_run_whose_prometheus_is_down_fails_with_the_reason_and_writes_nothing(
        client, tmp_path: Path) -> None:  # noqa: ANN001
    from conftest import copy_fleet, running_worker, settings_for
    from maintenance_agent import client_ops
    from maintenance_agent.models.run import Phase

    data = copy_fleet(tmp_path / "data")
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    settings = settings_for(tmp_path, data_dir=data, metrics_source="prometheus",
                            prometheus_url=f"http://127.0.0.1:{free_port()}", prometheus_timeout_seconds=2)
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, auto_approve=True)
        result = await client_ops.result(client, wid)
    assert result.phase is Phase.FAILED
    assert "Prometheus at http://127.0.0.1" in (result.error or "") and "unreachable" in (result.error or "")
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()} == before, "nothing written to the fleet"


async def test_the_agent_reports_a_prometheus_outage_keeps_going_and_recovers(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from temporalio.testing import WorkflowEnvironment

    from conftest import eventually, running_worker, settings_for, tool
    from maintenance_agent import client_ops
    from maintenance_agent.connection import data_converter
    from maintenance_agent.datagen import write_fleet
    from maintenance_agent.models.proactive import ProactivePhase

    port = free_port()
    docs = generate_fleet(30, seed=5, as_of=(datetime.now(UTC) - timedelta(days=1)).date())
    write_fleet(docs, tmp_path / "data")
    fleet = validate_fleet(Path("generated"), {name: orjson.dumps(doc) for name, doc in docs.documents().items()})
    backfill(tmp_path / "prom" / "tsdb", openmetrics(fleet.health.values()))
    (tmp_path / "mapping.toml").write_text(AS_IS_TOML)
    settings = settings_for(tmp_path, data_dir=tmp_path / "data", metrics_source="prometheus",
                            prometheus_url=f"http://127.0.0.1:{port}", prometheus_timeout_seconds=2,
                            prometheus_mapping_file=tmp_path / "mapping.toml", prometheus_step_seconds=86400,
                            user_name="outage.test")

    def fleet_files() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file() and p.suffix != ".lock"}

    def after(cycle: int):  # noqa: ANN202
        return lambda s: s.cycle == cycle and s.phase is ProactivePhase.WAITING

    async def status(cycle: int):  # noqa: ANN202
        return await eventually(lambda: client_ops.proactive_status(env.client, settings.user_name), after(cycle),
                                timeout=90, what=f"cycle {cycle}")

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=tool("temporal-test-server"),
                                                        data_converter=data_converter())
    with contextlib.ExitStack() as up:
        # Daily readings, asked for at the wall clock's minute: a lookback of a day finds each one.
        up.enter_context(running_prometheus(tmp_path / "prom", port, extra_flags=LOOKBACK))
        try:
            async with running_worker(env.client, settings):
                await client_ops.start_proactive(env.client, settings, interval_minutes=10)
                first = await status(1)
                assert first.last_cycle and first.last_cycle.error is None and first.last_cycle.findings > 0
                before = fleet_files()
                up.close()  # Prometheus goes away
                await env.sleep(timedelta(minutes=10))
                second = await status(2)
                assert second.last_cycle and "unreachable" in (second.last_cycle.error or ""), second.last_cycle
                assert fleet_files() == before, "the failed cycle wrote nothing to the fleet"
                up.enter_context(running_prometheus(tmp_path / "prom", port, extra_flags=LOOKBACK))  # back, same data
                await env.sleep(timedelta(minutes=10))
                third = await status(3)
                assert third.last_cycle and third.last_cycle.error is None, "the next cycle works once it is back"
                await client_ops.stop_proactive(env.client, settings.user_name)
        finally:
            await env.shutdown()


def test_newest_readings_scraped_from_an_exporter_and_the_history_backfilled_give_the_same_findings(
        tmp_path: Path) -> None:
    """As a real Prometheus holds a fleet: its history in blocks, its newest readings scraped from an
    exporter (prometheus_client, served by the test, each sample stamped with its reading's time),
    the series naming their device as node_exporter does (`instance="<ip>:9100"`, matched by address)."""
    import asyncio
    from datetime import UTC, datetime

    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import GaugeMetricFamily

    from conftest import eventually

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()  # its noon reading is in the past, not in a block
    docs = generate_fleet(80, seed=17, as_of=yesterday).documents()
    fleet = validate_fleet(Path("generated"), {name: orjson.dumps(doc) for name, doc in docs.items()})
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values())
    older = [h.model_copy(update={"recent_readings": [r for r in h.recent_readings if r["timestamp"] < as_of]})
             for h in fleet.health.values()]
    newest = {eid: r for eid, h in fleet.health.items() for r in h.recent_readings if r["timestamp"] == as_of}
    assert older and len(newest) == len(fleet.health)
    ip_of = {eid: inv.ip_address for eid, inv in fleet.inventory.items()}

    def node(eid: str) -> str:  # node_exporter's instance label: the device's address and port
        return f"{ip_of[eid]}:9100"

    class NewestReadings:
        def collect(self):  # noqa: ANN202 - prometheus_client's collector protocol
            for metric in METRICS:
                family = GaugeMetricFamily(metric, metric, labels=["instance"])
                for eid, reading in newest.items():
                    if reading.get(metric) is not None:
                        family.add_metric([node(eid)], float(reading[metric]),
                                          timestamp=reading["timestamp"].timestamp())
                yield family

    registry = CollectorRegistry()
    registry.register(NewestReadings())
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    backfill(tmp_path / "tsdb", openmetrics(older, name=node))
    scrape = ("scrape_configs:\n- job_name: fleet\n  honor_labels: true\n  honor_timestamps: true\n"
              f"  static_configs:\n  - targets: ['127.0.0.1:{port}']\n")
    try:
        with running_prometheus(tmp_path, free_port(), scrape=scrape) as url, \
                PrometheusSource(url, BY_ADDRESS, timeout=30) as source:
            latest: list[MetricsResult] = []

            async def complete_devices() -> int:  # devices with every reading (the scraped newest one too)
                latest[:] = [source.readings(fleet.inventory, as_of, timedelta(days=RULES.trend_window_days),
                                             timedelta(days=1))]
                return sum(len(latest[0].health[eid].recent_readings) == len(h.recent_readings)
                           for eid, h in fleet.health.items() if eid in latest[0].health)

            asyncio.run(eventually(complete_devices, lambda n: n == len(fleet.health), timeout=60,
                                   what="the exporter's newest readings, scraped"))
            result = latest[0]
            assert result.gaps == {} and result.provenance and result.provenance.unmatched_series == 0
    finally:
        server.shutdown()
        server.server_close()
    assert _decisions(fleet, result.health, as_of) == _decisions(fleet, dict(fleet.health), as_of)
    findings, actions = _decisions(fleet, result.health, as_of)
    assert findings and actions
