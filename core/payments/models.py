"""Checkout sessions, payments (with an append-only status history), refunds and events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSON_TYPE, Base, IdStr, JsonList, TenantScoped, Timestamp, str_enum


class SessionStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class PaymentMethod(StrEnum):
    CARD = "card"
    WALLET = "wallet"
    BANK = "bank"


class PaymentStatus(StrEnum):
    INITIATED = "initiated"
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class ActionType(StrEnum):
    THREE_DS = "three_ds"
    WALLET_APPROVAL = "wallet_approval"
    BANK_APPROVAL = "bank_approval"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


Money = BigInteger


class CheckoutSession(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "checkout_session"

    __tablename__ = "checkout_sessions"
    __table_args__ = (Index("ix_checkout_sessions_open", "tenant_id", "status", "expires_at"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    status: Mapped[SessionStatus] = mapped_column(str_enum(SessionStatus, 10))
    #: Minor units of `currency`.
    amount: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    #: The merchant's own order reference.
    reference: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    #: Checkout language (en, de, fr, es, nl); null: chosen from the shopper's Accept-Language.
    locale: Mapped[str | None] = mapped_column(String(8))
    #: Shopper's country (locality rules); null: the tenant's country.
    country: Mapped[str | None] = mapped_column(String(2))
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    payment_methods: Mapped[JsonList]
    capture_method: Mapped[CaptureMethod] = mapped_column(str_enum(CaptureMethod, 10))
    #: Merchant key/value pairs (strings), returned as they were given.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON_TYPE)
    expires_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp]
    completed_at: Mapped[datetime | None]
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: The payment that completed the session (or the one in flight); earlier declined attempts are
    #: found through Payment.checkout_session_id.
    payment_id: Mapped[str | None] = mapped_column(String(40))


class Payment(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "payment"

    __tablename__ = "payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "checkout_session_id"], ["checkout_sessions.tenant_id", "checkout_sessions.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "card_token_id"], ["vault_cards.tenant_id", "vault_cards.id"]),
        Index("ix_payments_session", "tenant_id", "checkout_session_id"),
        Index("ix_payments_status", "tenant_id", "status", "updated_at"),
        # The card retention purge asks, per token, whether a payment still needs its number.
        Index("ix_payments_card_token", "tenant_id", "card_token_id"),
        # The home page's last seven days: without it, a large merchant's dashboard read every payment.
        Index("ix_payments_created", "tenant_id", "livemode", "created_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    checkout_session_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 20))
    amount: Mapped[int] = mapped_column(Money)
    #: Captured so far (0 until the processor captures; may be less than amount for a partial capture).
    amount_captured: Mapped[int] = mapped_column(Money, default=0)
    amount_refunded: Mapped[int] = mapped_column(Money, default=0)
    #: The card surcharge included in `amount` (locality rules; 0 where none applies or the law forbids it).
    surcharge: Mapped[int] = mapped_column(Money, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, 10))
    capture_method: Mapped[CaptureMethod] = mapped_column(str_enum(CaptureMethod, 10))
    #: Vault token (`tok_…`) for card payments; the card itself is only in the vault, encrypted.
    card_token_id: Mapped[str | None] = mapped_column(String(40))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    card_country: Mapped[str | None] = mapped_column(String(2))
    #: First six digits (issuer identification): not secret under PCI DSS; block lists and risk use it.
    card_bin: Mapped[str | None] = mapped_column(String(8))
    #: Keyed HMAC of the PAN (vault), for velocity and block lists.
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    #: Online banking: the bank chosen on the approval page.
    bank: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    risk_decision: Mapped[str | None] = mapped_column(String(10))
    risk_reasons: Mapped[list[str] | None] = mapped_column(JSON_TYPE)
    #: The step the shopper must take (3DS challenge, wallet or bank approval) while requires_action.
    action_type: Mapped[ActionType | None] = mapped_column(str_enum(ActionType, 20))
    #: Locality rules asked the issuer to challenge the shopper (3DS) whatever the card.
    three_ds_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The shopper's answer to that step ("passed"/"failed", "approved"/"declined"), for the next attempt.
    action_result: Mapped[str | None] = mapped_column(String(10))
    processor: Mapped[str | None] = mapped_column(String(20))
    processor_reference: Mapped[str | None] = mapped_column(String(64))
    #: Transient processor errors so far; drives the retry back-off.
    processor_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: While a retry is scheduled: not before this time (the stuck-payment sweeper leaves it alone).
    next_attempt_at: Mapped[datetime | None]
    customer_email: Mapped[str | None] = mapped_column(String(320))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    #: What the shopper's statement shows (core/descriptors.py), resolved from the tenant's
    #: checkout settings when the shopper confirmed and sent to the processor as is; null when the
    #: payment was confirmed without one.
    statement_descriptor: Mapped[str | None] = mapped_column(String(22))
    livemode: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class PaymentStatusChange(TenantScoped, Base):
    """Append-only history: one row per state the payment entered."""

    __tablename__ = "payment_status_history"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "payment_id"], ["payments.tenant_id", "payments.id"]),
        Index("ix_payment_status_history_payment", "tenant_id", "payment_id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 20))
    #: Why (a failure code, "worker", "api", …).
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[Timestamp]


class Refund(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "refund"

    __tablename__ = "refunds"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "payment_id"], ["payments.tenant_id", "payments.id"]),
        Index("ix_refunds_payment", "tenant_id", "payment_id"),
        Index("ix_refunds_created", "tenant_id", "created_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, 10))
    reason: Mapped[str | None] = mapped_column(String(40))
    processor_reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
