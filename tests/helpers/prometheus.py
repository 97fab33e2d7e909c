"""A real Prometheus for tests: history backfilled with promtool, served on a loopback port."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from helpers.served import binary, serving
from maintenance_agent.models.fleet import HealthRecord
from maintenance_agent.models.rules import METRICS


def openmetrics(health: Iterable[HealthRecord], label: str = "instance",
                name: Callable[[str], str] = lambda eid: eid) -> str:
    """Every reading as OpenMetrics gauges, one series per device and metric (its `label` set to
    `name(device id)`), grouped and in time order."""
    records = list(health)
    lines: list[str] = []
    for metric in METRICS:
        lines.append(f"# TYPE {metric} gauge")
        for record in records:
            for reading in sorted(record.recent_readings, key=lambda r: r["timestamp"]):
                value = reading.get(metric)
                if value is not None:
                    lines.append(f'{metric}{{{label}="{name(record.equipment_id)}"}} {float(value)} '
                                 f'{reading["timestamp"].timestamp():.0f}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(data_dir: Path, text: str, block_hours: int = 24) -> None:
    """Write `text` (OpenMetrics) as TSDB blocks into `data_dir` (promtool; seconds for weeks of data).

    Blocks of `block_hours`, as a running Prometheus compacts its history (block ranges 2 h x 3^n,
    up to a tenth of the retention, at most 31 d): a day is what one at the default 15-day retention
    holds (18 h blocks), 486 h what one keeping 200 days or more has compacted two weeks into."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "backfill.om"
    source.write_text(text)
    subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                    f"--max-block-duration={block_hours}h", str(source), str(data_dir)],
                   check=True, capture_output=True, timeout=600)


@contextlib.contextmanager
def running_prometheus(workdir: Path, port: int, data_dir: Path | None = None, scrape: str = "",
                       extra_flags: Iterable[str] = ()) -> Iterator[str]:
    """A Prometheus on 127.0.0.1:`port` over `data_dir` (its blocks), yielding its URL once ready."""
    data_dir = data_dir or workdir / "tsdb"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + scrape)
    url = f"http://127.0.0.1:{port}"
    with serving([binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
                  f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=400d",
                  "--web.enable-lifecycle", *extra_flags], workdir / "prometheus.log", f"{url}/-/ready", "prometheus"):
        yield url
