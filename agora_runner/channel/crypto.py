"""Frame encryption of the local channel: AES-256-GCM keyed from the Agora-style mode, key
and salt. Members with the same three decrypt each other; anyone else gets nothing usable."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..types import EncryptionConfig

NONCE = 12
OVERHEAD = NONCE + 16  # nonce + GCM tag


class FrameCipher:
    def __init__(self, config: EncryptionConfig) -> None:
        info = f"cekura-local-channel:{config.mode}:{config.mode_name}".encode()
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=config.salt or None, info=info
        ).derive(config.key.encode())
        self._aead = AESGCM(key)
        self._aad = info

    def seal(self, pcm: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, pcm, self._aad)

    def open(self, data: bytes) -> bytes | None:
        if len(data) <= OVERHEAD:
            return None
        try:
            return self._aead.decrypt(data[:NONCE], data[NONCE:], self._aad)
        except InvalidTag:
            return None
