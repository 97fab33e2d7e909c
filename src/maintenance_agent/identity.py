"""Keys for proving who acts (see core/identity.py): key files, signing, and `keygen`.

    python -m maintenance_agent.identity keygen --user alice [--out DIR]

writes `alice.key` (the private key, PEM, readable only by its owner: give its path to alice's
scripts and MCP server as APPROVER_KEY_FILE) and `alice.pub` (OpenSSH; copy it into the workers'
APPROVER_KEYS_DIR). Private keys never leave the machine of the person they belong to.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_ssh_private_key,
)

from .core import identity
from .core.ids import unsafe_user
from .models.approval import Proof


class KeyFileError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key; the message says which and what to do."""


class Signer:
    """Signs as one user with their private key (the scripts' and the MCP server's USER_NAME)."""

    def __init__(self, user: str, key: Ed25519PrivateKey) -> None:
        self.user = user
        self._key = key

    def __repr__(self) -> str:
        return f"Signer(user={self.user!r}, key=<private>)"

    @classmethod
    def from_file(cls, user: str, path: Path) -> Signer:
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"APPROVER_KEY_FILE={path} cannot be read ({exc.strerror}); point it at "
                            f"{user}'s private key") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"APPROVER_KEY_FILE={path} can be read by others (mode {stat.S_IMODE(mode):o}); "
                            f"run `chmod 600 {path}`")
        try:
            key = (load_ssh_private_key(data, password=None) if b"OPENSSH PRIVATE KEY" in data
                   else load_pem_private_key(data, password=None))
        except (ValueError, TypeError):
            raise KeyFileError(f"APPROVER_KEY_FILE={path} is not an unencrypted private key; create one with "
                            f"`python -m maintenance_agent.identity keygen --user {user}`") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"APPROVER_KEY_FILE={path} is not an Ed25519 key; create one with "
                            f"`python -m maintenance_agent.identity keygen --user {user}`")
        return cls(user, key)

    def prove(self, purpose: str, fields: dict[str, Any], *, at: datetime | None = None) -> Proof:
        """Sign `fields` for `purpose`, now (or `at`: tests of stale proofs)."""
        unsigned = Proof(signed_at=at or datetime.now(UTC), nonce=secrets.token_hex(16), signature="")
        signature = self._key.sign(identity.message(purpose, fields, unsigned))
        return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})

    def public_text(self) -> str:
        return self._key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def load_public_keys(directory: Path) -> dict[str, str]:
    """`<user>.pub` files of a keys directory: user name -> public key text (each checked)."""
    try:
        files = sorted(directory.glob("*.pub"))
    except OSError as exc:
        raise KeyFileError(f"APPROVER_KEYS_DIR={directory} cannot be read ({exc.strerror})") from None
    if not directory.is_dir():
        raise KeyFileError(f"APPROVER_KEYS_DIR={directory} is not a directory; point it at a folder of <user>.pub keys")
    keys: dict[str, str] = {}
    for path in files:
        user = path.stem
        if problem := unsafe_user(user):
            raise KeyFileError(f"{path}: {user!r} is not a safe user name ({problem}); rename the file <user>.pub")
        text = path.read_text().strip()
        try:
            identity.public_key(text)
        except ValueError:
            raise KeyFileError(f"{path} is not an Ed25519 public key (OpenSSH or PEM); create one with "
                            f"`python -m maintenance_agent.identity keygen --user {user}`") from None
        keys[user] = text
    return keys


def keygen(user: str, out: Path) -> tuple[Path, Path]:
    if problem := unsafe_user(user):
        raise KeyFileError(f"--user {user!r} is not a safe user name: {problem}")
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / f"{user}.key", out / f"{user}.pub"
    if private.exists() or public.exists():
        raise KeyFileError(f"{private} or {public} exists already; keep it, or move it away first")
    key = Ed25519PrivateKey.generate()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_text(key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
                      + f" {user}\n")
    return private, public


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maintenance_agent.identity",
                                     description="Create the key pair a user proves their identity with.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("keygen", help="create <user>.key (private, 0600) and <user>.pub (for APPROVER_KEYS_DIR)")
    gen.add_argument("--user", required=True, help="the user name (their USER_NAME)")
    gen.add_argument("--out", type=Path, default=Path("."), help="where to write the two files (default: here)")
    args = parser.parse_args(argv)
    try:
        private, public = keygen(args.user, args.out)
    except (KeyFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {private} (private: set APPROVER_KEY_FILE={private.resolve()} for {args.user}) and {public} "
          f"(public: copy it into every worker's APPROVER_KEYS_DIR)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
