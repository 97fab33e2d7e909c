"""The chaos suite, reduced (2 trials): `make chaos` runs 20. See tests/chaos.py."""

from __future__ import annotations

from pathlib import Path

from chaos import run


async def test_chaos_trials_keep_every_guarantee(tmp_path: Path) -> None:
    stats = await run(trials=2, seed=7, work=tmp_path)
    print("\n" + stats.table())
    assert stats.problems == []
    assert stats.trials == 2 and stats.worker_kills == 2 and stats.server_restarts == 2
    assert stats.runs_as_expected == stats.runs_started == 12
    assert stats.concurrent_runs == 4 and stats.agent_restarts == 2
    assert stats.repeated_disruptive == 0 and stats.report_ledger_mismatches == 0 and stats.repeated_proposals == 0
    assert stats.injected_faults > 0, "faults were injected"
    assert stats.duplicate_applications == 0 and stats.lost_updates == 0 and stats.invalid_files == 0
    assert stats.actions_applied > 0
