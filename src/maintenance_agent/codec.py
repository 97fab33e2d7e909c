"""Optional payload encryption (TEMPORAL_PAYLOAD_KEY): AES-256-GCM over every payload, so the fleet
data, plans and reports that travel through Temporal are unreadable in its history without the key.

The key is any secret string; the AES key is derived from it with HKDF-SHA256. Each payload gets a
random 96-bit nonce. A key id (a hash prefix, not the key) is stored beside each payload so a wrong
key fails with a clear message instead of garbage.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
NONCE_BYTES = 12


class EncryptionCodec(PayloadCodec):
    def __init__(self, secret: str) -> None:
        material = secret.encode()
        self._aes = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=b"maintenance-agent/payloads",
                                info=b"aes-256-gcm").derive(material))
        self.key_id = hashlib.sha256(b"key-id:" + material).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id},
                               data=nonce + self._aes.encrypt(nonce, p.SerializeToString(), None)))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # written before encryption was turned on
                continue
            if p.metadata.get("encryption-key-id") != self.key_id:
                raise ValueError("a payload was encrypted with a different TEMPORAL_PAYLOAD_KEY; configure the key "
                                 "it was written with")
            try:
                plain = self._aes.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], None)
            except InvalidTag:
                raise ValueError("a payload failed authentication: it was altered or the key is wrong") from None
            out.append(Payload.FromString(plain))
        return out
