"""A real Alertmanager for tests (Debian's prometheus-alertmanager) on a loopback port, posting to a
webhook, and a small exporter (prometheus_client) serving a simulated fleet's current readings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from helpers.served import binary, serving


@contextlib.contextmanager
def running_alertmanager(workdir: Path, port: int, webhook_url: str, token: str | None = None) -> Iterator[str]:
    """Alertmanager on 127.0.0.1:`port`, grouping by alert and device and notifying `webhook_url` fast
    (group_wait 1 s, group_interval 1 s, repeat_interval 2 s); yields its URL once ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    auth = f"\n    http_config:\n      authorization:\n        credentials: {token}" if token else ""
    config = workdir / "alertmanager.yml"
    config.write_text(f"""route:
  receiver: agent
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
- name: agent
  webhook_configs:
  - url: {webhook_url}
    send_resolved: true{auth}
""")
    url = f"http://127.0.0.1:{port}"
    with serving([binary("prometheus-alertmanager"), f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                 workdir / "alertmanager.log", f"{url}/-/ready", "alertmanager"):
        yield url


class FleetExporter:
    """The devices' current readings as gauges (`temperature_celsius{instance="<ip>:9100"}`, ...)."""

    def __init__(self, port: int) -> None:
        self.registry = CollectorRegistry()
        self.gauges: dict[str, Gauge] = {}
        self.port = port
        self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def set(self, metric: str, instance: str, value: float) -> None:
        if metric not in self.gauges:
            self.gauges[metric] = Gauge(metric, metric, ["instance"], registry=self.registry)
        self.gauges[metric].labels(instance=instance).set(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
