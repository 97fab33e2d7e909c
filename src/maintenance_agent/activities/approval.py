"""Approval activities: the worker's own approval policy with its public keys, and single use of a
signed start (its nonce recorded in the store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from ..core.approval import policy_with_keys
from ..models.approval import ApprovalPolicy, UseProofInput
from .base import ActivityBase
from .errors import non_retryable, store_errors


class ApprovalActivities(ActivityBase):
    @activity.defn
    def approval_policy(self) -> ApprovalPolicy:
        """The approval policy of this worker's settings (`APPROVERS`, `REQUIRE_DISTINCT_APPROVER`):
        what a run enforces, whatever the client that started it asked for; with the public keys of
        `APPROVER_KEYS_DIR`, read afresh so a key added there counts for the next run."""
        from ..identity import KeyFileError

        try:
            return worker_approval_policy(self._policy, self._keys_dir)
        except KeyFileError as exc:
            raise non_retryable(exc, "KeyFileError") from None

    @activity.defn
    def use_proof(self, inp: UseProofInput) -> bool:
        """A signed start is used once: False if another run already used this one."""
        from ..core.identity import WINDOW

        with store_errors():
            return self.store().use_proof(inp.nonce, inp.used_by, keep_until=inp.signed_at + 2 * WINDOW,
                                          now=datetime.now(UTC))


def worker_approval_policy(policy: ApprovalPolicy, keys_dir: Path | None) -> ApprovalPolicy:
    """The worker's policy with its public keys. Proof is required wherever a name decides something
    (APPROVERS or the four-eyes rule); without keys nobody could act, which the worker refuses at start."""
    from ..identity import load_public_keys

    keys = load_public_keys(keys_dir) if keys_dir is not None else {}
    return policy_with_keys(policy, keys)
