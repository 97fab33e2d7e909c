"""Who decided what, the approval policy a run enforces, and the proofs of who someone is."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class DecisionKind(StrEnum):
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    AUTO_APPROVED = "auto_approved"
    AUTO_APPROVED_ROUTINE = "auto_approved_routine"
    EXPIRED = "expired"


class Decision(BaseModel):
    """Who decided what, when: recorded for every plan that had actions."""

    kind: DecisionKind
    by: str
    at: datetime
    action_ids: list[str] = Field(default_factory=list)
    comment: str | None = None
    signed: bool = False
    """The decider proved who they are: signed with their key (where the worker requires it)."""


class ApprovalPolicy(BaseModel):
    """Who may approve: `APPROVERS` (empty: anyone) and the four-eyes rule; and how they prove it."""

    approvers: list[str] = Field(default_factory=list)
    require_distinct_approver: bool = False
    keys: dict[str, str] = Field(default_factory=dict)
    """user -> Ed25519 public key (OpenSSH text), from the worker's APPROVER_KEYS_DIR (public, not secret)."""
    require_proof: bool = False
    """Starts and decisions must be signed (the worker has APPROVERS or the four-eyes rule)."""


class Proof(BaseModel):
    """A signature over what someone does (see core/identity.py): made with their private key."""

    signed_at: datetime
    nonce: str = Field(min_length=16, max_length=64)
    signature: str = Field(max_length=200)


class ApprovalRequest(BaseModel):
    """Approve all (`action_ids=None`) or some actions, or reject the plan."""

    approve: bool = True
    action_ids: list[str] | None = None
    approver: str
    comment: str | None = None
    proof: Proof | None = None
    """The approver's signature over this decision for this run (needed where the worker requires proof)."""

    @field_validator("action_ids")
    @classmethod
    def _canonical_ids(cls, ids: list[str] | None) -> list[str] | None:
        """Action ids are `A<n>`; `a1` and ` A1 ` mean A1 (before the decision is signed or checked)."""
        return None if ids is None else [i.strip().upper() if isinstance(i, str) else i for i in ids]


class ApprovalResult(BaseModel):
    decision: Decision
    approved: int
    skipped: int


class GrantRequest(BaseModel):
    """What a site child is about to execute for its parent run (asked of the parent: does it grant it?)."""

    run_id: str
    artifact_dir: str
    action_ids: list[str]
    approved_by: str
    dry_run: bool = False


class GrantCheckInput(BaseModel):
    parent_workflow_id: str
    parent_run_id: str
    request: GrantRequest


class ParentCheckInput(BaseModel):
    workflow_id: str
    run_id: str
    started_by: str


class UseProofInput(BaseModel):
    nonce: str
    signed_at: datetime
    used_by: str
    """The run that uses it (a retry of the same run finds its own use and goes on)."""
