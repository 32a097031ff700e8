"""Idempotency keys for POST requests: the first answer is kept and replayed for 24 hours.

The key is claimed in a transaction of its own (so a concurrent request with the same key sees it at once
and gets 409), and the answer is stored with the request's own effects, or on its own for a 4xx answer
whose effects were rolled back. A claim left in flight by a crashed request is taken over after
`ABANDONED_AFTER`.

Records are scoped by (tenant, mode, key): a live request never replays (or collides with) the answer to
a test request that happened to use the same key, and the other way round.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Boolean, Integer, String, Text, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import Clock
from core.db import Base, TenantScoped, Timestamp
from core.errors import KassaError

TTL: Final = timedelta(hours=24)
ABANDONED_AFTER: Final = timedelta(seconds=60)
MAX_KEY_LENGTH: Final = 255


class IdempotencyRecord(TenantScoped, Base):
    """The first answer to a POST with an Idempotency-Key, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"

    #: The mode of the key that sent the request: test and live records never meet.
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    #: The client's key (scoped by tenant and mode: two tenants, or two modes, may use the same key).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: SHA-256 of method, path and body: the same key with another request is refused (422).
    request_hash: Mapped[str] = mapped_column(String(64))
    #: Null while the first request is in flight (a concurrent retry gets 409).
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp] = mapped_column(index=True)


class IdempotencyKeyReused(KassaError):
    status = 422
    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(KassaError):
    status = 409
    code = "idempotency_key_in_use"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def _record(key: str, livemode: bool) -> Any:
    return (IdempotencyRecord.id == key) & (IdempotencyRecord.livemode == livemode)


def claim(
    session: Session, *, tenant_id: str, livemode: bool, key: str, fingerprint: str, clock: Clock
) -> StoredResponse | None:
    """Claim `key` for this request (caller commits at once). Returns a stored answer to replay instead,
    or raises when the key belongs to another request or is still in flight."""
    now = clock.now()
    values = {
        "tenant_id": tenant_id,
        "livemode": livemode,
        "id": key,
        "request_hash": fingerprint,
        "response_status": None,
        "response_body": None,
        "created_at": now,
        "expires_at": now + TTL,
    }
    # The common case, a new key, in one statement: INSERT … ON CONFLICT DO NOTHING RETURNING.
    if session.execute(_insert_new(session, values)).first() is not None:
        return None
    existing = session.scalar(select(IdempotencyRecord).where(_record(key, livemode)).with_for_update())
    if existing is not None:
        taken_over = existing.expires_at <= now or (
            existing.response_status is None and existing.created_at <= now - ABANDONED_AFTER
        )
        if not taken_over:
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request. "
                    "Use a new key for a new request.",
                    param="Idempotency-Key",
                )
            if existing.response_status is None:
                raise IdempotencyKeyInFlight(
                    "A request with this Idempotency-Key is still being processed. Retry in a moment.",
                    param="Idempotency-Key",
                )
            return StoredResponse(existing.response_status, existing.response_body or "")
        session.delete(existing)
        session.flush()
    try:
        with session.begin_nested():
            session.add(
                IdempotencyRecord(
                    tenant_id=tenant_id,
                    livemode=livemode,
                    id=key,
                    request_hash=fingerprint,
                    response_status=None,
                    response_body=None,
                    created_at=now,
                    expires_at=now + TTL,
                )
            )
    except IntegrityError:
        # Another request claimed it between our read and our insert.
        raise IdempotencyKeyInFlight(
            "A request with this Idempotency-Key is still being processed. Retry in a moment.",
            param="Idempotency-Key",
        ) from None
    return None


def _insert_new(session: Session, values: dict[str, object]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(IdempotencyRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "livemode", "id"])
        .returning(IdempotencyRecord.id)
    )


def complete(session: Session, *, livemode: bool, key: str, status: int, body: str) -> None:
    session.execute(
        update(IdempotencyRecord)
        .where(_record(key, livemode))
        .values(response_status=status, response_body=body)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, *, livemode: bool, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so the client may retry with the same key."""
    session.execute(
        delete(IdempotencyRecord).where(_record(key, livemode), IdempotencyRecord.response_status.is_(None))
    )


def prune(session: Session, *, clock: Clock) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)
