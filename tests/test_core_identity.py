"""Proofs of identity (core/identity.py): pure, table-driven, with real Ed25519 keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from maintenance_agent.core import identity
from maintenance_agent.identity import KeyFileError, Signer, keygen, load_public_keys

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIELDS = identity.decision_fields("wf-1", "run-1", "bob", True, ["A1", "A2"], "ok")


def _signer(user: str) -> Signer:
    return Signer(user, Ed25519PrivateKey.generate())


BOB, ALICE = _signer("bob"), _signer("alice")
KEYS = {"bob": BOB.public_text(), "alice": ALICE.public_text()}


def test_the_signed_message_is_canonical_and_binds_everything() -> None:
    proof = BOB.prove(identity.DECIDE, FIELDS, at=NOW)
    text = identity.message(identity.DECIDE, FIELDS, proof)
    assert text == identity.message(identity.DECIDE, dict(reversed(list(FIELDS.items()))), proof), "key order"
    assert b" " not in text and b'"purpose":"decide"' in text and proof.nonce.encode() in text
    assert identity.refusal("bob", identity.DECIDE, FIELDS, proof, KEYS, NOW) is None


@pytest.mark.parametrize("case,who,fields,proof,now,used,reason", [
    ("no proof", "bob", FIELDS, None, NOW, set(), "must prove who they are"),
    ("unknown user", "carol", FIELDS, "bob", NOW, set(), "no public key for 'carol'"),
    ("someone else's key", "bob", FIELDS, "alice", NOW, set(), "does not match 'bob'"),
    ("other content", "bob", {**FIELDS, "approve": False}, "bob", NOW, set(), "does not match"),
    ("other run", "bob", {**FIELDS, "run_id": "run-2"}, "bob", NOW, set(), "does not match"),
    ("other purpose", "bob", FIELDS, "bob-start", NOW, set(), "does not match"),
    ("too old", "bob", FIELDS, "bob", NOW + timedelta(minutes=6), set(), "more than 5 minutes"),
    ("from the future", "bob", FIELDS, "bob", NOW - timedelta(minutes=6), set(), "more than 5 minutes"),
    ("used before", "bob", FIELDS, "bob", NOW, "nonce", "already used once"),
    ("not base64", "bob", FIELDS, "garbage", NOW, set(), "does not match"),
])
def test_every_way_a_proof_fails_says_why(case: str, who: str, fields: dict, proof: str | None, now: datetime,
                                          used: object, reason: str) -> None:
    made = {"bob": BOB.prove(identity.DECIDE, FIELDS, at=NOW), "alice": ALICE.prove(identity.DECIDE, FIELDS, at=NOW),
            "bob-start": BOB.prove(identity.START, FIELDS, at=NOW)}.get(proof or "")
    if proof == "garbage":
        made = BOB.prove(identity.DECIDE, FIELDS, at=NOW).model_copy(update={"signature": "%%%not-base64%%%"})
    nonces = {made.nonce} if used == "nonce" and made else set()
    problem = identity.refusal(who, identity.DECIDE, fields, made, KEYS, now, nonces)
    assert problem is not None and reason in problem and "\n" not in problem, case


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_loadable_public_key(tmp_path: Path) -> None:
    private, public = keygen("alice", tmp_path)
    assert private.stat().st_mode & 0o077 == 0
    signer = Signer.from_file("alice", private)
    keys = load_public_keys(tmp_path)
    assert list(keys) == ["alice"]
    assert identity.refusal("alice", identity.START, FIELDS, signer.prove(identity.START, FIELDS), keys,
                            datetime.now(UTC)) is None
    with pytest.raises(KeyFileError, match="exists already"):
        keygen("alice", tmp_path)
    with pytest.raises(KeyFileError, match="not a safe user name"):
        keygen("../root", tmp_path)


def test_key_files_that_cannot_prove_anything_are_refused_clearly(tmp_path: Path) -> None:
    private, _ = keygen("alice", tmp_path / "a")
    private.chmod(0o644)
    with pytest.raises(KeyFileError, match="can be read by others"):
        Signer.from_file("alice", private)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bob.pub").write_text("not a key")
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        load_public_keys(tmp_path / "b")
    rsa = generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "b" / "bob.pub").write_text(rsa.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode())
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        load_public_keys(tmp_path / "b")
    with pytest.raises(KeyFileError, match="cannot be read"):
        Signer.from_file("alice", tmp_path / "missing.key")


def test_a_field_added_later_leaves_a_signed_start_s_digest_alone() -> None:
    from pydantic import Field

    from maintenance_agent.models.run import MaintenanceInput

    class Later(MaintenanceInput):  # the same input as a later version, with one more (defaulted) field
        maintenance_window: list[str] = Field(default_factory=list)

    sent = {"started_by": "alice", "auto_approve": True, "max_failures": 3}
    assert identity.start_fields("w", Later(**sent)) == identity.start_fields("w", MaintenanceInput(**sent))
    assert identity.start_fields("w", MaintenanceInput(**{**sent, "max_failures": 4})) != \
        identity.start_fields("w", MaintenanceInput(**sent)), "a changed value still changes it"
    assert identity.start_fields("w", Later(**sent), stable=False) != identity.start_fields(
        "w", MaintenanceInput(**sent), stable=False), "what histories recorded before hashed"
