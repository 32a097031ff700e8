"""Disputes (chargebacks) and the evidence merchants submit against them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, ForeignKeyConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, JsonDict, TenantScoped, Timestamp, UTCDateTime, str_enum


class DisputeStatus(StrEnum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


class Dispute(TenantScoped, Base):
    """A shopper's bank disputing a payment: its amount and a fee leave the balance until it is won."""

    __tablename__ = "disputes"
    __subject__: ClassVar[str] = "dispute"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "payment_id"], ["payments.tenant_id", "payments.id"]),
        # One dispute per payment (the sandbox opens at most one; a second would double-charge).
        Index("ix_disputes_tenant_id_payment_id", "tenant_id", "payment_id", unique=True),
        Index("ix_disputes_tenant_id_status", "tenant_id", "status"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The dispute fee (minor units), returned with the amount if the dispute is won.
    fee: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: "fraudulent", "product_not_received", "general", ...
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[DisputeStatus] = mapped_column(str_enum(DisputeStatus, 16))
    #: An inquiry (retrieval request) asks for evidence before any chargeback: no money moves.
    is_inquiry: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence_due_by: Mapped[Timestamp]
    #: The text fields of the evidence (see core/disputes/service.py EVIDENCE_FIELDS).
    evidence: Mapped[JsonDict]
    evidence_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[Timestamp]
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)


class EvidenceFile(TenantScoped, Base):
    """A file of evidence, type-checked by its content (not its name) and size-limited."""

    __tablename__ = "dispute_evidence_files"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "dispute_id"], ["disputes.tenant_id", "disputes.id"]),
        Index("ix_dispute_evidence_files_dispute", "tenant_id", "dispute_id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    dispute_id: Mapped[str] = mapped_column(String(40))
    #: A safe display name (path parts and control characters removed).
    filename: Mapped[str] = mapped_column(String(120))
    #: Detected from the first bytes: application/pdf, image/png or image/jpeg.
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[Timestamp]
