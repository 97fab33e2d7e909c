"""Who is acting: Ed25519 proofs of identity for starting runs and deciding plans. Pure.

With `APPROVERS` (or the four-eyes rule) set on the worker, a name is not enough: whoever starts a
run or an agent, or approves or rejects a plan, signs what they do with their private key, and
the workflow verifies the signature against the public keys the worker holds
(`APPROVER_KEYS_DIR`). The signed message binds the action to one workflow (and, for decisions,
one run of it), to its exact content (approve or reject, which action ids, the comment) and to a
time: a proof is accepted only within `WINDOW` of when the server received the request, and
never twice (a decision's nonce within its run; a start's in the worker's store, since a start
proof could otherwise be copied from history). Verification is deterministic, so it runs inside
the workflow's update validator and replays the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key, load_ssh_public_key
from pydantic import BaseModel

from ..models.approval import Proof
from ..models.rules import LATER_FIELDS, Rules

WINDOW = timedelta(minutes=5)
"""How far a proof's own time may be from the time the server took the request."""
START, START_AGENT, DECIDE = "start-run", "start-agent", "decide"
PROOF_VERSION = 1


def message(purpose: str, fields: Mapping[str, Any], proof: Proof) -> bytes:
    """The exact bytes that are signed: purpose, content and the proof's time and nonce, as JSON
    with sorted keys and no spaces (every field is a string, number, bool, list or null)."""
    document = {"v": PROOF_VERSION, "purpose": purpose, **fields,
                "signed_at": proof.signed_at.isoformat(), "nonce": proof.nonce}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def decision_fields(workflow_id: str, run_id: str, approver: str, approve: bool, action_ids: list[str] | None,
                    comment: str | None) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "run_id": run_id, "approver": approver, "approve": approve,
            "action_ids": action_ids, "comment": comment}


def start_fields(workflow_id: str, start_input: BaseModel, *, stable: bool = True) -> dict[str, Any]:
    """A start binds the workflow id and every field of its input (auto-approve, rules, circuit
    breaker, callback, …): a signature taken from history cannot start anything else. Fields at their
    defaults are left out (`stable`), so a field a later version adds does not change the digest of a
    signed run being replayed; runs recorded before hashed every field."""
    content = start_input.model_dump(mode="json", exclude={"start_proof"}, exclude_defaults=stable)
    rules = content.get("rules")
    if not stable and isinstance(rules, dict):  # a legacy digest knew none of the later fields
        defaults = Rules().model_dump(mode="json")
        content["rules"] = {k: v for k, v in rules.items() if not (k in LATER_FIELDS and v == defaults[k])}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {"workflow_id": workflow_id, "started_by": start_input.model_dump().get("started_by"),
            "input_sha256": digest}


def public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from OpenSSH (`ssh-ed25519 AAAA… comment`) or PEM text (ValueError if not)."""
    data = text.strip().encode()
    try:
        key = load_pem_public_key(data) if data.startswith(b"-----BEGIN") else load_ssh_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def refusal(who: str, purpose: str, fields: Mapping[str, Any], proof: Proof | None, keys: Mapping[str, str],
            now: datetime, used_nonces: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why `proof` does not show that `who` did this now, or None when it does."""
    if proof is None:
        return (f"{who!r} must prove who they are: sign with their private key (APPROVER_KEY_FILE; "
                f"create one with `python -m maintenance_agent.identity keygen --user {who}`)")
    key_text = keys.get(who)
    if key_text is None:
        return f"the worker holds no public key for {who!r} (add {who}.pub to its APPROVER_KEYS_DIR)"
    if abs(now - proof.signed_at) > WINDOW:
        return (f"the signature is from {proof.signed_at.isoformat(timespec='seconds')}, more than "
                f"{WINDOW.total_seconds() / 60:g} minutes from now; sign again (check the clock of the signing machine)")
    if proof.nonce in used_nonces:
        return "this signed request was already used once; sign a new one"
    try:
        signature = base64.b64decode(proof.signature, validate=True)
        public_key(key_text).verify(signature, message(purpose, fields, proof))
    except (InvalidSignature, binascii.Error, ValueError):
        return f"the signature does not match {who!r}'s public key for this request; sign it with {who}'s own key"
    return None
