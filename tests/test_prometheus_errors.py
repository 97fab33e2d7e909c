"""How the Prometheus source answers what a real Prometheus rarely does on cue (refused credentials,
5xx, timeouts, answers of the wrong shape, series that name no device), through httpx's mock
transport; and what it sends: credentials only as headers, a step Prometheus accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from helpers.fleet_builders import inventory
from maintenance_agent.models.rules import METRICS
from maintenance_agent.sources.mapping import Mapping, MetricQuery
from maintenance_agent.sources.prometheus import MAX_POINTS, PrometheusSource, SourceError

MAPPING = Mapping(match="id", metrics={m: MetricQuery(query=m) for m in METRICS})
FLEET = {"EQ-1": inventory("EQ-1")}
END = datetime(2026, 12, 1, 12, tzinfo=UTC)


def source(handler: Any, url: str = "http://prom.example:9090", **kwargs: Any) -> PrometheusSource:
    return PrometheusSource(url, MAPPING, transport=httpx.MockTransport(handler), **kwargs)


def matrix(*series: dict) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps({"status": "success",
                                                     "data": {"resultType": "matrix", "result": list(series)}}))


def read(src: PrometheusSource, window: timedelta = timedelta(days=14), step: timedelta = timedelta(hours=1)):  # noqa: ANN201
    with src:
        return src.readings(FLEET, END, window, step)


@pytest.mark.parametrize(("response", "words", "transient"), [
    (httpx.Response(401), "refused the credentials (HTTP 401)", False),
    (httpx.Response(403), "refused the credentials (HTTP 403)", False),
    (httpx.Response(503, content=b'{"status":"error","error":"overloaded"}'), "HTTP 503: overloaded", True),
    (httpx.Response(400, content=b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
     f"rejected the {METRICS[0]} query of the mapping file (parse error)", False),
    (httpx.Response(200, content=b'{"status":"success","data":{"resultType":"vector","result":[]}}'),
     "not a range of series", False),
    (httpx.Response(200, content=b"<html>a proxy page</html>"), "HTTP 200", False),
])
def test_each_failure_is_one_line_saying_what_to_fix(response: httpx.Response, words: str, transient: bool) -> None:
    with pytest.raises(SourceError) as caught:
        read(source(lambda request: response))
    assert words in str(caught.value) and caught.value.transient is transient and "\n" not in str(caught.value)


def test_a_timeout_is_transient_and_names_the_setting() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(SourceError, match="PROMETHEUS_TIMEOUT_SECONDS") as caught:
        read(source(slow))
    assert caught.value.transient


def test_series_that_name_no_device_of_the_inventory_are_an_error_not_a_healthy_fleet() -> None:
    other = {"metric": {"instance": "node-9:9100"}, "values": [[END.timestamp(), "50"]]}
    with pytest.raises(SourceError, match=r"readings for none of the 1 devices \(5 series, 5 naming no device"):
        read(source(lambda request: matrix(other)))


def test_credentials_travel_as_headers_only_and_the_url_in_messages_has_none() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return matrix({"metric": {"instance": "EQ-1"}, "values": [[END.timestamp(), "50"]]})

    result = read(source(record, url="http://ops:s%40cret-9@prom.example:9090/prom"))
    assert seen and all("s@cret-9" not in str(r.url) and "ops" not in str(r.url) for r in seen)
    assert all(r.headers["authorization"].startswith("Basic ") for r in seen)
    assert all(r.headers["accept-encoding"] != "identity" for r in seen), "a remote Prometheus is asked for gzip"
    assert result.provenance and result.provenance.url == "http://prom.example:9090/prom"
    token = read(source(record, token="tok-123"))
    assert token.provenance and seen[-1].headers["authorization"] == "Bearer tok-123"


def test_the_step_is_fitted_so_no_query_asks_prometheus_for_too_many_points() -> None:
    steps: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        steps.append(float(request.url.params["step"].removesuffix("s")))
        return matrix({"metric": {"instance": "EQ-1"}, "values": [[END.timestamp(), "50"]]})

    result = read(source(record), window=timedelta(days=400), step=timedelta(seconds=15))
    assert set(steps) == {400 * 86400 / MAX_POINTS} and result.provenance
    assert result.provenance.step_seconds == 400 * 86400 / MAX_POINTS
    read(source(record), step=timedelta(hours=1))
    assert steps[-1] == 3600, "a step that fits is kept"


def test_nan_and_infinite_samples_are_no_readings() -> None:
    values = [[(END - timedelta(days=1)).timestamp(), "NaN"], [END.timestamp(), "+Inf"]]
    ok = {"metric": {"instance": "EQ-1"}, "values": [[END.timestamp(), "40"]]}

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        return matrix({"metric": {"instance": "EQ-1"}, "values": values} if query == "cpu_utilization_percent" else ok)

    [reading] = read(source(answer)).health["EQ-1"].recent_readings
    assert "cpu_utilization_percent" not in reading and reading["temperature_celsius"] == 40
