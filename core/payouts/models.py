"""Payouts: bank accounts, schedules, payouts and reconciliation results."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, JsonDict, TenantScoped, Timestamp, UTCDateTime, str_enum


class BankAccountStatus(StrEnum):
    #: Waiting for a second person's approval (four-eyes); not used for payouts yet.
    PENDING_APPROVAL = "pending_approval"
    #: The account payouts in its currency go to.
    ACTIVE = "active"
    #: Replaced by a newer account, or the change was rejected; kept for the payouts that used it.
    INACTIVE = "inactive"


class BankAccount(TenantScoped, Base):
    """A merchant's bank account. The number is stored only sealed under the tenant's data key."""

    __tablename__ = "bank_accounts"
    __subject__: ClassVar[str] = "bank_account"
    __table_args__ = (Index("ix_bank_accounts_tenant_id_currency_status", "tenant_id", "currency", "status"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    #: ISO 3166 country of the bank.
    country: Mapped[str] = mapped_column(String(2))
    account_holder: Mapped[str] = mapped_column(String(140))
    #: "iban", or "local" (account number + routing/bank code).
    kind: Mapped[str] = mapped_column(String(10))
    #: AES-256-GCM (KeyPurpose.BANK_ACCOUNT) of {"number": ..., "routing": ...}.
    number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    #: Keyed HMAC of the normalised number: finds the same account again without decrypting.
    fingerprint: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    #: The bank's name or BIC when schwifty knows it (not secret).
    bank_name: Mapped[str | None] = mapped_column(String(140))
    status: Mapped[BankAccountStatus] = mapped_column(str_enum(BankAccountStatus, 20))
    #: Who asked for the change (user id), for the four-eyes rule: the approver must be someone else.
    requested_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)


class Interval(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    MANUAL = "manual"


class PayoutSchedule(TenantScoped, Base):
    """When the tenant is paid in one currency (`id` = the currency code)."""

    __tablename__ = "payout_schedules"
    __table_args__ = (
        CheckConstraint(
            "weekly_anchor IS NULL OR (weekly_anchor >= 0 AND weekly_anchor <= 6)", name="weekday"
        ),
        CheckConstraint(
            "monthly_anchor IS NULL OR (monthly_anchor >= 1 AND monthly_anchor <= 31)", name="day"
        ),
        CheckConstraint("minimum_amount >= 0", name="minimum_nonnegative"),
    )

    #: The currency code.
    id: Mapped[str] = mapped_column(String(3), primary_key=True)
    interval: Mapped[Interval] = mapped_column(str_enum(Interval, 10))
    #: Weekday of weekly payouts: 0 = Monday ... 6 = Sunday.
    weekly_anchor: Mapped[int | None] = mapped_column(Integer)
    #: Day of the month of monthly payouts (31: the month's last day in shorter months).
    monthly_anchor: Mapped[int | None] = mapped_column(Integer)
    #: No automatic payout for less than this (minor units); the funds wait for the next run.
    minimum_amount: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[Timestamp]


class PayoutStatus(StrEnum):
    CREATED = "created"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"


class Payout(TenantScoped, Base):
    """Money sent to the merchant's bank account: the sum of the balance transactions it contains."""

    __tablename__ = "payouts"
    __subject__: ClassVar[str] = "payout"
    __table_args__ = (
        # One payout per scheduled run and currency, as a database fact: two cron runs at the same
        # moment cannot both pay (the loser's insert fails; the SKIP LOCKED scan already kept it out).
        UniqueConstraint("tenant_id", "run_key"),
        Index("ix_payouts_tenant_id_status", "tenant_id", "status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        ForeignKeyConstraint(
            ["tenant_id", "bank_account_id"], ["bank_accounts.tenant_id", "bank_accounts.id"]
        ),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PayoutStatus] = mapped_column(str_enum(PayoutStatus, 12))
    #: "automatic" (the schedule) or "manual" (the portal or the API).
    method: Mapped[str] = mapped_column(String(10))
    #: `auto:<currency>:<date>` for a scheduled run, `manual:<id>` otherwise.
    run_key: Mapped[str] = mapped_column(String(64))
    bank_account_id: Mapped[str] = mapped_column(String(40))
    #: Expected arrival at the bank (the next business day after sending).
    arrival_date: Mapped[date] = mapped_column(Date)
    failure_code: Mapped[str | None] = mapped_column(String(40))
    failure_message: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    in_transit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)


class ReconciliationRun(TenantScoped, Base):
    """One settlement file matched against the ledger."""

    __tablename__ = "reconciliation_runs"
    __subject__: ClassVar[str] = "reconciliation_run"
    __table_args__ = (UniqueConstraint("tenant_id", "file_date", "file_digest"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The processor's settlement day the file covers.
    file_date: Mapped[date] = mapped_column(Date)
    #: SHA-256 of the file: the same file matched twice is one run.
    file_digest: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    differences: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]


class ReconciliationDifference(TenantScoped, Base):
    """A line of the settlement file that does not match the ledger, or a ledger movement it lacks."""

    __tablename__ = "reconciliation_differences"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "run_id"], ["reconciliation_runs.tenant_id", "reconciliation_runs.id"]
        ),
        Index("ix_reconciliation_differences_run", "tenant_id", "run_id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40))
    #: "amount_mismatch", "missing_in_ledger" or "missing_in_file".
    kind: Mapped[str] = mapped_column(String(24))
    reference_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    #: What the file says (None: not in the file) and what the ledger says (None: not in the ledger).
    file_amount: Mapped[int | None] = mapped_column(BigInteger)
    ledger_amount: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[JsonDict]
