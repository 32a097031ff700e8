"""Append-only, hash-chained audit events (one chain per tenant)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.context import ActorType
from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum

__all__ = ["ActorType", "AuditEvent", "AuditHead", "Outcome"]


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(TenantScoped, Base):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: Position in the tenant's chain, from 1 with no gaps.
    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[Timestamp]
    actor_type: Mapped[ActorType] = mapped_column(str_enum(ActorType, 16))
    #: `usr_…`, `key_…`, or a process name for system work (`cli`, `worker`).
    actor_id: Mapped[str] = mapped_column(String(64))
    #: A constant from core/audit/actions.py.
    action: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, 10))
    origin_ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    #: Details (e.g. processor request/response) as JSON, AES-GCM sealed by the KMS; null when none.
    details_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: SHA-256 hex of the previous event's `hash` ("0"*64 for the first), and of this event.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(TenantScoped, Base):
    """The newest event of a tenant's chain, signed under a key the database does not hold.

    The chain alone is unkeyed: whoever can write the table can delete its tail, or rewrite events and
    recompute every hash after them. The head's `mac` is an HMAC of (tenant, seq, hash) under a key
    derived from the master key (`KMS.purpose_key("audit-head")`), so the database alone cannot make a
    head that matches a shortened or rewritten chain.
    """

    __tablename__ = "audit_heads"
    #: One head per tenant; `id` keeps the tenant tables' `(tenant_id, id)` primary key shape.
    __table_args__ = (UniqueConstraint("tenant_id"),)

    #: An `aud_…` id of its own.
    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: `seq` and `hash` of the newest event.
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    #: Hex id of the master key whose purpose key signed `mac` (current or one being rotated away from).
    key_id: Mapped[str] = mapped_column(String(16))
    #: Hex HMAC-SHA256 of `kassa-audit-head-v1 | tenant | seq | hash`.
    mac: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[Timestamp]
