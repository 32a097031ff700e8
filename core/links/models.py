"""The payment link: a reusable URL for a fixed or shopper-chosen amount."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp


class PaymentLink(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "payment_link"

    __tablename__ = "payment_links"
    #: The slug is the link's only key in a shopper's URL, so it is unique across every tenant.
    __table_args__ = (UniqueConstraint("slug"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32))
    #: Minor units of `currency`; null: the shopper chooses the amount.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean)
    livemode: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
