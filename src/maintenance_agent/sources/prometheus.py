"""The Prometheus metrics source: one range query per metric for the whole fleet, over the trend
window, through the HTTP API (`/api/v1/query_range`), turned into the readings the rules judge.

Credentials (a bearer token or basic auth) go in request headers only: never into an error
message, a log line, workflow history or a report. Every failure is one clear line (`SourceError`),
and a device Prometheus has no series for is a reported gap, never a silent "healthy".
"""

from __future__ import annotations

from collections.abc import Mapping as AnyMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from math import isfinite
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import orjson
from pydantic import ValidationError

from ..bearer import LOOPBACK
from ..core.ids import host_of, ids_by_host
from ..models.artifacts import TelemetrySource
from ..models.fleet import HealthRecord, InventoryRecord
from ..models.rules import MetricName
from .base import MetricsResult, SourceError
from .mapping import Mapping

__all__ = ["NO_TELEMETRY", "MetricsResult", "PrometheusSource", "SourceError"]

NO_TELEMETRY = "no telemetry: Prometheus has no series for this device"
MAX_POINTS = 10_000


def redacted(url: str) -> str:
    """The URL without any user:password part (nor query), fit for a message and for requests."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PrometheusSource:
    name = "prometheus"

    def __init__(self, url: str, mapping: Mapping, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.username is not None and username is None:
            # user:password@ in the URL is basic auth: taken out, so no request URL (which httpx logs) holds it.
            username, password = unquote(parts.username), unquote(parts.password or "")
        self._base = redacted(url.rstrip("/"))
        self._mapping = mapping
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if urlsplit(self._base).hostname in LOOPBACK:
            # On this machine compressing tens of megabytes of answers only costs Prometheus CPU.
            headers["Accept-Encoding"] = "identity"
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._client = httpx.Client(headers=headers, auth=auth, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _range(self, metric: MetricName, start: datetime, end: datetime, step: timedelta) -> list[dict[str, Any]]:
        query = self._mapping.metrics[metric].query
        params = {"query": query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}",
                  "step": f"{step.total_seconds():g}s"}
        where = f"Prometheus at {self._base}"
        try:
            response = self._client.get(f"{self._base}/api/v1/query_range", params=params)
        except httpx.TimeoutException:
            raise SourceError(f"{where} did not answer the {metric} query in time; check it is up or raise "
                              "PROMETHEUS_TIMEOUT_SECONDS", transient=True) from None
        except httpx.HTTPError as exc:
            raise SourceError(f"{where} is unreachable ({type(exc).__name__}); check PROMETHEUS_URL and that "
                              "Prometheus is running", transient=True) from None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code in (401, 403):
            raise SourceError(f"{where} refused the credentials (HTTP {response.status_code}); check "
                              "PROMETHEUS_TOKEN or PROMETHEUS_USERNAME/PASSWORD", transient=False)
        if response.status_code >= 400 or body.get("status") != "success":
            reason = str(body.get("error") or response.reason_phrase or "no reason given")[:300]
            bad_query = response.status_code == 400 or body.get("errorType") == "bad_data"
            if bad_query:
                raise SourceError(f"{where} rejected the {metric} query of the mapping file ({reason}): "
                                  f"fix it in PROMETHEUS_MAPPING_FILE", transient=False)
            raise SourceError(f"{where} failed the {metric} query (HTTP {response.status_code}: {reason})",
                              transient=response.status_code >= 500)
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise SourceError(f"{where} answered the {metric} query with a {data.get('resultType')!r}, not a "
                              "range of series: the query must return instant vectors", transient=False)
        result = data.get("result")
        return result if isinstance(result, list) else []

    def readings(self, inventory: AnyMapping[str, InventoryRecord], end: datetime, window: timedelta,
                 step: timedelta) -> MetricsResult:
        """Every mapped metric of the devices in `inventory` over (end - window, end], one query each,
        at `step` or coarser: the step is fitted to the window so no query asks for more than
        MAX_POINTS points per series (Prometheus refuses over 11,000)."""
        start = end - window
        step = max(step, window / MAX_POINTS)
        by_ip = ids_by_host(inventory)
        rows: dict[str, list[tuple[MetricName, list[Any]]]] = {}
        series = unmatched = 0
        metrics = list(self._mapping.metrics)
        # The metrics' queries at once: Prometheus evaluates them on its own cores meanwhile.
        with ThreadPoolExecutor(max_workers=len(metrics), thread_name_prefix="prometheus") as pool:
            answers = list(pool.map(lambda m: self._range(m, start, end, step), metrics))
        for metric, answer in zip(metrics, answers, strict=True):
            label = self._mapping.label_of(metric)
            for s in answer:
                series += 1
                value = str((s.get("metric") or {}).get(label, ""))
                eid = value if self._mapping.match == "id" else by_ip.get(host_of(value))
                if eid is None or eid not in inventory:
                    unmatched += 1
                    continue
                rows.setdefault(eid, []).append((metric, s.get("values") or []))
        health: dict[str, HealthRecord] = {}
        gaps: dict[str, str] = {}
        when: dict[float, datetime] = {}  # every series shares the query's evaluation times
        for eid, inv in inventory.items():
            per_metric = rows.get(eid)
            if not per_metric:
                gaps[eid] = NO_TELEMETRY
                continue
            at_stamp: dict[float, dict[str, Any]] = {}
            for name, values in per_metric:
                for stamp, text in values:
                    number = float(text)
                    if not isfinite(number):  # NaN or an infinity (a stale or broken series): no reading
                        continue
                    reading = at_stamp.get(stamp)
                    if reading is None:
                        at = when.get(stamp)
                        if at is None:
                            at = when[stamp] = datetime.fromtimestamp(stamp, UTC)
                        reading = at_stamp[stamp] = {"timestamp": at}
                    reading[name] = number
            try:
                health[eid] = HealthRecord.model_validate({"equipment_id": eid, "site": inv.site,
                                                           "recent_readings": [at_stamp[t] for t in sorted(at_stamp)]})
            except ValidationError as exc:
                first = exc.errors()[0]
                gaps[eid] = f"invalid telemetry from Prometheus ({'.'.join(map(str, first['loc'][-1:]))}: {first['msg']})"
        if inventory and not health:
            raise SourceError(
                f"Prometheus at {self._base} has readings for none of the {len(inventory)} devices ({series} "
                f"series, {unmatched} naming no device of the inventory by its {self._mapping.match}): check "
                f"device_label and match in PROMETHEUS_MAPPING_FILE, and that the exporters are scraped",
                transient=False)
        provenance = TelemetrySource(source=self.name, url=self._base, start=start, end=end,
                                     step_seconds=step.total_seconds(), queries=len(self._mapping.metrics),
                                     series=series, unmatched_series=unmatched, devices_without_telemetry=sorted(gaps))
        return MetricsResult(health, gaps, provenance)
