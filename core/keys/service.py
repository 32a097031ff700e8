"""Envelope encryption: per-tenant data keys, wrapped by the KMS, seal and open the tenant's secrets.

A data key is 32 random bytes, one per tenant and purpose (`KeyPurpose`), created on first use and stored
only as the KMS sealed it. Rotating the master key re-wraps these few rows (core/vault/rotation.py); what
they sealed (card numbers, audit details) is never touched, and fingerprints keep their value.

A sealed blob is `version | len(id) | data key id | nonce | AES-256-GCM ciphertext+tag`; its associated
data binds it to the tenant, the purpose, the data key and the caller's own `aad` (say a token id), so a
blob copied to another row, tenant or purpose does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached

from core.clock import Clock, system_clock
from core.db import TenantMismatch, cached, transaction_memo
from core.ids import new_id
from core.keys.models import DataKey, KeyPurpose
from core.kms import KMS, DecryptionFailed, key_id_of_blob

#: First byte of a vault blob. The KMS's own blobs start with 0x01, so the two can be told apart.
SEAL_VERSION: Final = b"\xa1"
_NONCE: Final = 12
_TAG: Final = 16
#: Unwrapped data keys kept in this process (never in Redis or the database); a few per tenant.
_CACHE_SIZE: Final = 4096


def wrap_context(tenant_id: str, purpose: str, key_id: str) -> str:
    return f"vault.data_key:{tenant_id}:{purpose}:{key_id}"


def kms_key_id(wrapped: bytes) -> str:
    """Hex id of the master key that wrapped a data key (stored beside it for rotation)."""
    return key_id_of_blob(wrapped).hex()


class _KeyCache:
    """A bounded LRU of unwrapped data keys, in this process only (never Redis, never the database).

    Keyed by the KMS object: a process that does not hold the master key gets no cached key. Keyed by the
    wrapped bytes: a re-wrapped key is a new entry, opened with the key that wrapped it.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        # The entry holds the KMS object itself, so its id() cannot be reused while the entry lives.
        self._entries: OrderedDict[tuple[int, str, str, bytes], tuple[KMS, bytes]] = OrderedDict()

    def get(self, kms: KMS, tenant_id: str, key_id: str, wrapped: bytes, load: Callable[[], bytes]) -> bytes:
        name = (id(kms), tenant_id, key_id, wrapped)
        with self._lock:
            hit = self._entries.get(name)
            if hit is not None and hit[0] is kms:
                self._entries.move_to_end(name)
                return hit[1]
        value = load()
        with self._lock:
            self._entries[name] = (kms, value)
            self._entries.move_to_end(name)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value


_cache = _KeyCache(_CACHE_SIZE)


def key_material(data_key: DataKey, *, kms: KMS) -> bytes:
    """The data key in clear, for this call only."""
    tenant_id, purpose, key_id = data_key.tenant_id, str(data_key.purpose), data_key.id
    wrapped = data_key.wrapped_key
    return _cache.get(
        kms,
        tenant_id,
        key_id,
        wrapped,
        lambda: kms.decrypt(wrapped, context=wrap_context(tenant_id, purpose, key_id)),
    )


def _check_tenant(session: Session, tenant_id: str) -> None:
    bound = session.info.get("tenant_id")
    if bound is not None and bound != tenant_id:
        raise TenantMismatch(f"vault call for tenant {tenant_id} in a session bound to {bound}")


def _kept(session: Session, key: tuple[str, str], load: Callable[[], DataKey | None]) -> DataKey | None:
    """A data key row from this process's tenant cache (core/tenant_cache.py: any change to the tenant's
    data keys, a new generation, a re-wrap, a retirement, moves its version), put into this session
    without a query (`merge(load=False)`), or loaded. The cache holds a detached copy, never the wrapped
    key in clear; the clear key is `_cache`'s, as before."""

    def detached_copy() -> DataKey | None:
        row = load()
        if row is None:
            return None
        copy = DataKey(**{c.key: getattr(row, c.key) for c in DataKey.__mapper__.column_attrs})
        make_transient_to_detached(copy)
        return copy

    kept = cached(session, "data_key", key, detached_copy)
    if kept is None:
        return None
    identity = inspect(kept).identity_key
    present = session.identity_map.get(identity) if identity is not None else None
    return present if isinstance(present, DataKey) else session.merge(kept, load=False)


def find_data_key(session: Session, *, tenant_id: str, purpose: KeyPurpose) -> DataKey | None:
    """The tenant's active (sealing) data key for `purpose`, or None. Read once per transaction: the
    confirm seals the card and audits under two keys, the payment job audits three times."""
    _check_tenant(session, tenant_id)
    memo = transaction_memo(session).setdefault("data_keys", {})
    known: DataKey | None = memo.get((tenant_id, purpose))
    if known is not None and known.retired_at is None:
        return known
    found = _kept(
        session,
        ("active", purpose),
        lambda: session.scalar(
            select(DataKey).where(
                DataKey.tenant_id == tenant_id, DataKey.purpose == purpose, DataKey.retired_at.is_(None)
            )
        ),
    )
    if found is not None:
        memo[(tenant_id, purpose)] = found
    return found


def ensure_data_key(
    session: Session, *, tenant_id: str, purpose: KeyPurpose, kms: KMS, clock: Clock
) -> DataKey:
    """The tenant's active data key for `purpose`, made on first use (or after the active one was retired).
    Two racing callers end with the same key."""
    existing = find_data_key(session, tenant_id=tenant_id, purpose=purpose)
    if existing is not None:
        return existing
    key_id = new_id("dk")
    wrapped = kms.encrypt(os.urandom(32), context=wrap_context(tenant_id, purpose, key_id))
    values = {
        "tenant_id": tenant_id,
        "id": key_id,
        "purpose": purpose,
        "wrapped_key": wrapped,
        "kms_key_id": kms_key_id(wrapped),
        "created_at": clock.now(),
        "rotated_at": None,
        "retired_at": None,
    }
    # INSERT ... ON CONFLICT DO NOTHING rather than a savepoint and IntegrityError: pysqlite's savepoints
    # would commit the outer transaction early, and this reads the same on both databases. The loser's
    # key is discarded unused; the re-read sees the winner's row once it commits.
    session.execute(_insert_ignoring_duplicate(session, values))
    created = find_data_key(session, tenant_id=tenant_id, purpose=purpose)
    if created is None:  # pragma: no cover - only if the row vanished between the two statements
        raise RuntimeError(f"vault data key {purpose} of tenant {tenant_id} could not be created")
    return created


def _insert_ignoring_duplicate(session: Session, values: dict[str, object]) -> Insert:
    dialect = session.get_bind().dialect.name
    # The conflict target is the partial unique index of active keys (one per tenant and purpose).
    active = DataKey.retired_at.is_(None)
    if dialect == "postgresql":
        return (
            postgresql.insert(DataKey)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "purpose"], index_where=active)
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(DataKey)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "purpose"], index_where=active)
        )
    raise NotImplementedError(f"the vault supports PostgreSQL and SQLite, not {dialect}")


def _associated_data(tenant_id: str, purpose: str, key_id: str, aad: bytes) -> bytes:
    # NUL-separated: ids and purposes never contain one, and the caller's aad comes last.
    return b"\x00".join((b"kassa-vault-v1", tenant_id.encode(), purpose.encode(), key_id.encode(), aad))


def seal(
    session: Session,
    *,
    tenant_id: str,
    purpose: str,
    plaintext: bytes,
    kms: KMS,
    aad: bytes = b"",
    clock: Clock = system_clock,
) -> bytes:
    """AES-256-GCM under the tenant's data key for `purpose` (made on first use, in this transaction)."""
    kind = KeyPurpose(purpose)
    data_key = ensure_data_key(session, tenant_id=tenant_id, purpose=kind, kms=kms, clock=clock)
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key_material(data_key, kms=kms)).encrypt(
        nonce, plaintext, _associated_data(tenant_id, kind, data_key.id, aad)
    )
    name = data_key.id.encode("ascii")
    return SEAL_VERSION + bytes([len(name)]) + name + nonce + sealed


def data_key_id_of(blob: bytes) -> str:
    """The id of the data key that sealed a vault blob (not secret); `DecryptionFailed` if malformed."""
    if len(blob) < 2 or blob[:1] != SEAL_VERSION:
        raise DecryptionFailed("not a Kassa vault blob")
    length = blob[1]
    if len(blob) < 2 + length + _NONCE + _TAG:
        raise DecryptionFailed("truncated Kassa vault blob")
    try:
        return blob[2 : 2 + length].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionFailed("not a Kassa vault blob") from None


def unseal(
    session: Session, *, tenant_id: str, purpose: str, blob: bytes, kms: KMS, aad: bytes = b""
) -> bytes:
    """Open what `seal` sealed, with the same tenant, purpose and aad; `DecryptionFailed` otherwise."""
    kind = KeyPurpose(purpose)
    _check_tenant(session, tenant_id)
    key_id = data_key_id_of(blob)
    data_key = _kept(session, ("id", key_id), lambda: session.get(DataKey, (tenant_id, key_id)))
    if data_key is None or data_key.purpose != kind:
        raise DecryptionFailed("sealed under a data key this tenant does not have for this purpose")
    start = 2 + len(key_id)
    nonce, sealed = blob[start : start + _NONCE], blob[start + _NONCE :]
    try:
        return AESGCM(key_material(data_key, kms=kms)).decrypt(
            nonce, sealed, _associated_data(tenant_id, kind, key_id, aad)
        )
    except InvalidTag:
        raise DecryptionFailed("vault blob failed authentication") from None


def keyed_digest(
    session: Session, *, tenant_id: str, message: bytes, kms: KMS, clock: Clock = system_clock
) -> str:
    """Hex HMAC-SHA256 of `message` under the tenant's fingerprint key (made on first use)."""
    data_key = ensure_data_key(
        session, tenant_id=tenant_id, purpose=KeyPurpose.FINGERPRINT, kms=kms, clock=clock
    )
    return hmac.new(key_material(data_key, kms=kms), message, hashlib.sha256).hexdigest()
