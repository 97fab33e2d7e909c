"""What the workflows share: timeouts, retry policies, limits and the patch markers that let
histories recorded by older code replay. Constants only."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

STEP_TIMEOUT = timedelta(minutes=15)
STEP_HEARTBEAT = timedelta(minutes=2)
ADVISE_TIMEOUT = timedelta(minutes=10)
ACTION_TIMEOUT = timedelta(minutes=5)
ACTION_HEARTBEAT = timedelta(seconds=10)
"""A worker that dies mid-action is noticed within this time and the action is retried elsewhere."""
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                         maximum_attempts=5, non_retryable_error_types=["FleetDataError", "ArtifactError", "PlanMismatch"])
ACTION_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10),
                           maximum_attempts=10, non_retryable_error_types=["FleetDataError", "PlanMismatch"])
"""Ten attempts (about a minute with backoff): a flaky dependency rarely turns into a failed repair,
and every retry is safe because the ledger makes the action idempotent."""
NON_DISRUPTIVE_PER_SITE = 8
"""Non-disruptive actions (contracts, bookings, tuning) run concurrently, this many per site."""
MAX_PARALLEL_SITES = 16
BATCH_SIZE = 500
"""A site child runs this many actions per run, then continues as new (~1,600 history events)."""
PROGRESS_INTERVAL = timedelta(seconds=3)
"""How often a run executing in site children reads its progress from the ledger."""
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=15), maximum_attempts=4,
                           non_retryable_error_types=["WebhookRejected"])
NOTIFY_BUDGET = timedelta(seconds=60)
"""All attempts at one notification together; a dead webhook costs a cycle at most this long."""
PAGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=15), maximum_attempts=4,
                         non_retryable_error_types=["PagerDutyRejected"])

WORKER_POLICY_PATCH = "worker-approval-policy"
FORGET_CLOSED_APPROVALS_PATCH = "forget-closed-approvals"
RUN_LEDGER_PATCH = "ledger-per-run"
AGENT_PROOF_PATCH = "agent-proves-its-starter"
STARTER_PROOF_PATCH = "run-proves-its-starter"
"""Runs recorded before starts and decisions were signed keep the rules they started under."""
SITE_GRANT_PATCH = "site-child-asks-its-parent"
CONFIRM_FINISHED_PATCH = "agent-confirms-finished-runs"
PROVE_FIRST_PATCH = "run-proves-its-starter-first"
GIVE_UP_PATCH = "ledger-records-give-ups"
CYCLE_DIR_PATCH = "cycle-folders-per-incarnation"
STABLE_DIGEST_PATCH = "start-digest-without-defaults"
PAGERDUTY_PATCH = "agent-runs-page-pagerduty"
CYCLE_NUMBERS_PATCH = "cycles-numbered-across-incarnations"
AGENT_PAGES_PATCH = "agent-pages-failed-cycles"
LISTING_PATCH = "run-publishes-its-outcome"
"""Patch markers: histories recorded before these steps existed replay without them. Site children
ask their parent for a grant; the agent confirms a run closed before forgetting it; a run proves its
starter before it claims a folder; an action that gave up is recorded in the ledger; an agent's cycle
folders are under its first run id; a start's digest leaves out fields at their defaults (so a field
added later does not change the digest of a signed run being replayed). The agent's runs send
PagerDuty events; a fresh agent goes on numbering cycles from its earlier incarnations; the agent
pages failed cycles and resolves that incident after a clean one; a run publishes its outcome and
counts in its memo (and search attributes, where registered) at each phase change."""
