"""Run artifacts: the full detection, analysis and plan of a run, kept beside its report.

Workflows carry summaries; the whole lists live here, in `REPORTS_DIR/<workflow-id>/`, written
atomically by the activity that produced them and read by the activities that follow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .models.artifacts import (
    AdviceArtifact,
    AnalysisArtifact,
    DetectionArtifact,
    HealthStatesRead,
    LiveAlerts,
    PlanArtifact,
    TelemetrySource,
)
from .models.core import (
    ActionResult,
    Outcome,
)
from .store import atomic_write_bytes

__all__ = ["AdviceArtifact", "AnalysisArtifact", "ArtifactError", "DetectionArtifact", "HealthStatesRead",
           "LiveAlerts", "TelemetrySource",
           "PlanArtifact", "append_simulated", "read", "read_simulated", "write", "SimulationTally"]

DETECTION = "detection.json"
ANALYSIS = "analysis.json"
PLAN = "plan.json"
ADVICE = "advice.json"
SIMULATED = "simulated.jsonl"
HEALTH_READ = "health_states_read.json"
ALERTS = "alerts.json"


class ArtifactError(Exception):
    """An artifact is missing or unreadable; the run that produced it must be re-run."""


M = TypeVar("M", bound=BaseModel)


def write(directory: Path, name: str, model: BaseModel) -> Path:
    path = directory / name
    atomic_write_bytes(path, model.model_dump_json().encode())
    return path


def read(directory: Path, name: str, model: type[M]) -> M:
    path = directory / name
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing; the run's artifacts were deleted — start a new run") from None
    except ValidationError as exc:
        raise ArtifactError(f"{path} is unreadable ({exc.errors()[0]['msg']}); start a new run") from None


def append_simulated(directory: Path, result: ActionResult) -> None:
    """Dry-run outcomes (the fleet is not touched, so they live beside the report)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / SIMULATED, "ab") as fh:
        fh.write(result.model_dump_json().encode() + b"\n")


class SimulationTally:
    """Failed or rolled-back simulated actions in a dry run's record, read incrementally."""

    def __init__(self) -> None:
        self._offset = 0
        self._bad: set[str] = set()

    def problems(self, directory: Path) -> int:
        path = directory / SIMULATED
        try:
            with open(path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return 0
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            if line.strip():
                result = ActionResult.model_validate_json(line)
                if result.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK):
                    self._bad.add(result.action_id)
        return len(self._bad)


def read_simulated(directory: Path) -> dict[str, ActionResult]:
    path = directory / SIMULATED
    if not path.exists():
        return {}
    results: dict[str, ActionResult] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            result = ActionResult.model_validate_json(line)
            results[result.action_id] = result  # a retried simulation overwrites itself
    return results
