"""One emailed receipt: a payment, an address, and whether the mail server has taken it yet."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum


class ReceiptStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Receipt(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "receipt"

    __tablename__ = "receipts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "payment_id"], ["payments.tenant_id", "payments.id"]),
        Index("ix_receipts_payment", "tenant_id", "payment_id"),
        Index("ix_receipts_due", "tenant_id", "status", "next_attempt_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40))
    #: The recipient. Personal data: logs show it masked (core.mail.mask_email), never in full.
    email: Mapped[str] = mapped_column(String(320))
    #: The language the receipt is written in (one of the checkout's locales).
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[ReceiptStatus] = mapped_column(str_enum(ReceiptStatus, 10))
    #: Tries so far (each hand-over to the mail server, whatever came of it); drives the back-off.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: While queued: when its job should run (now, or after a back-off). Long past and still queued, the
    #: job was lost (a worker killed mid-send): the sweeper queues it again.
    next_attempt_at: Mapped[datetime | None]
    #: The last error, with any address in it masked (no other personal data).
    last_error: Mapped[str | None] = mapped_column(String(500))
    #: `<rcpt_…@kassa>`, the same on every try: a duplicate sent after a crash between the server's
    #: acceptance and our commit is recognisable as one.
    message_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[Timestamp]
    sent_at: Mapped[datetime | None]
