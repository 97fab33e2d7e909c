"""The Prometheus metrics source against a real Prometheus (Debian's), history backfilled by promtool."""

from __future__ import annotations

import contextlib
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
from maintenance_agent.sources.prometheus import NO_TELEMETRY, PrometheusSource, SourceError
from maintenance_agent.store import Fleet, validate_fleet

RULES = Rules()
AS_IS = Mapping(match="id", metrics={m: MetricQuery(query=m) for m in METRICS})
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


def test_a_query_whose_series_name_no_device_leaves_every_device_a_gap(served: Served) -> None:
    scalar = Mapping(match="id", metrics={"latency_ms": MetricQuery(query="scalar(vector(1))")})
    as_of, result = _through_prometheus(served, scalar)
    assert result.health == {} and set(result.gaps) == set(served.fleet.inventory)  # a scalar names no device


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


AS_IS_TOML = 'device_label = "instance"\nmatch = "id"\n' + "".join(
    f'[metrics.{m}]\nquery = "{m}"\n' for m in METRICS)


async def test_a_run_reading_prometheus_finds_and_plans_what_a_run_on_the_files_does(
        client, served: Served, tmp_path: Path) -> None:  # noqa: ANN001
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
            "metrics_source": "prometheus", "prometheus_url": served.url, "prometheus_step_seconds": 86400,
            "prometheus_mapping_file": tmp_path / "mapping.toml", "prometheus_token": "never-logged"})):
        write_fleet(docs, tmp_path / name / "data")
        settings = settings_for(tmp_path / name, data_dir=tmp_path / name / "data", **extra)
        async with running_worker(client, settings):
            wid = await client_ops.start_run(client, settings, dry_run=True, auto_approve=True, as_of=as_of)
            await client_ops.result(client, wid)
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
        else:
            assert recorded.get("source") is None
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
    from temporalio.testing import WorkflowEnvironment

    from conftest import copy_fleet, eventually, running_worker, settings_for, tool
    from maintenance_agent import client_ops
    from maintenance_agent.connection import data_converter
    from maintenance_agent.models.proactive import ProactivePhase

    port = free_port()
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), metrics_source="prometheus",
                            prometheus_url=f"http://127.0.0.1:{port}", prometheus_timeout_seconds=2,
                            user_name="outage.test")

    def after(cycle: int):  # noqa: ANN202
        return lambda s: s.cycle == cycle and s.phase is ProactivePhase.WAITING

    async def status(cycle: int):  # noqa: ANN202
        return await eventually(lambda: client_ops.proactive_status(env.client, settings.user_name), after(cycle),
                                timeout=90, what=f"cycle {cycle}")

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=tool("temporal-test-server"),
                                                        data_converter=data_converter())
    with contextlib.ExitStack() as up:
        up.enter_context(running_prometheus(tmp_path / "prom", port))
        try:
            async with running_worker(env.client, settings):
                await client_ops.start_proactive(env.client, settings, interval_minutes=10)
                first = await status(1)
                assert first.last_cycle and first.last_cycle.error is None
                up.close()  # Prometheus goes away
                await env.sleep(timedelta(minutes=10))
                second = await status(2)
                assert second.last_cycle and "unreachable" in (second.last_cycle.error or ""), second.last_cycle
                up.enter_context(running_prometheus(tmp_path / "prom", port))  # and comes back, same data
                await env.sleep(timedelta(minutes=10))
                third = await status(3)
                assert third.last_cycle and third.last_cycle.error is None, "the next cycle works once it is back"
                await client_ops.stop_proactive(env.client, settings.user_name)
        finally:
            await env.shutdown()
