"""A small key-management interface, so a cloud KMS can replace the local master key.

`LocalKMS` encrypts with AES-256-GCM under keys derived (HKDF-SHA256) from `KASSA_MASTER_KEY`. Each blob
names the key that sealed it, so a rotated master key can still open what an older one sealed, and the
`context` is bound as associated data: a blob sealed for one purpose (say a user's TOTP seed) cannot be
replayed as another (say a tenant's audit details).
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE = 12


class DecryptionFailed(Exception):
    """A blob did not open: wrong key, wrong context, or tampered with."""


class KMS(Protocol):
    def encrypt(self, plaintext: bytes, *, context: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: str) -> bytes: ...

    @property
    def current_key_id(self) -> bytes: ...

    def purpose_key(self, purpose: str, *, key_id: bytes | None = None) -> bytes:
        """A 32-byte key for one purpose only (`cvc`, `audit-head`), from the master key `key_id`
        (default: the current one); `DecryptionFailed` for a master key this process does not hold."""
        ...


def key_id_of(master_key: bytes) -> bytes:
    """A short, non-secret name for a master key (first 8 bytes of its SHA-256)."""
    return hashlib.sha256(b"kassa-key-id" + master_key).digest()[:8]


def key_id_of_blob(blob: bytes) -> bytes:
    """The (non-secret) id of the master key that sealed a `LocalKMS` blob, read without decrypting it.

    Key rotation uses it to find what still needs re-wrapping; `DecryptionFailed` if it is no such blob.
    """
    if len(blob) < 1 + 8 + _NONCE + 16 or blob[:1] != _VERSION:
        raise DecryptionFailed("not a Kassa KMS blob")
    return blob[1:9]


class LocalKMS:
    def __init__(self, master_key: bytes, *, previous: tuple[bytes, ...] = ()) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._current = key_id_of(master_key)
        self._keys = {key_id_of(k): self._derive(k) for k in (*previous, master_key)}
        # Kept only to derive purpose keys; never used to seal directly.
        self._masters = {key_id_of(k): k for k in (*previous, master_key)}
        self._purpose_keys: dict[tuple[bytes, str], bytes] = {}

    @staticmethod
    def _derive(master_key: bytes) -> AESGCM:
        okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kassa-kms-v1").derive(master_key)
        return AESGCM(okm)

    @property
    def current_key_id(self) -> bytes:
        return self._current

    def purpose_key(self, purpose: str, *, key_id: bytes | None = None) -> bytes:
        # HKDF with the purpose as its info: keys of different purposes are independent, and none is the
        # key `encrypt` seals with, so each has its own GCM nonce budget (and a leak of one is one purpose).
        name = (self._current if key_id is None else key_id, purpose)
        cached = self._purpose_keys.get(name)
        if cached is not None:
            return cached
        master = self._masters.get(name[0])
        if master is None:
            raise DecryptionFailed("sealed under a master key this process does not hold")
        info = b"kassa-purpose-v1:" + purpose.encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)
        self._purpose_keys[name] = derived
        return derived

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, context.encode())
        return _VERSION + self._current + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        if len(blob) < 1 + 8 + _NONCE + 16 or blob[:1] != _VERSION:
            raise DecryptionFailed("not a Kassa KMS blob")
        key_id, nonce, sealed = blob[1:9], blob[9 : 9 + _NONCE], blob[9 + _NONCE :]
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionFailed("sealed under a master key this process does not hold")
        try:
            return aead.decrypt(nonce, sealed, context.encode())
        except Exception as exc:  # cryptography raises InvalidTag; never echo the blob
            raise DecryptionFailed("blob failed authentication") from exc
