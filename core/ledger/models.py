"""Double-entry ledger: journals of entries, and the per-tenant pricing that decides the fees.

Sign convention: an entry's `amount > 0` is a debit, `< 0` a credit. Every journal's entries sum to zero
per currency, so the sum of every entry of a tenant is zero per currency too: money is only ever moved
between accounts, never made or lost. Balances are sums of entries; no balance is stored.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum


class Account(StrEnum):
    """A tenant's ledger accounts. Each tenant has each account once per currency."""

    #: What the processor owes us for captured payments (an asset: debit balance).
    PROCESSOR_RECEIVABLE = "processor_receivable"
    #: What we owe the merchant, not yet released for payout (a liability: credit balance).
    MERCHANT_PENDING = "merchant_pending"
    #: What we owe the merchant and may pay out now (a liability: credit balance).
    MERCHANT_AVAILABLE = "merchant_available"
    #: What we owe the merchant but hold back, e.g. against disputes (a liability: credit balance).
    MERCHANT_RESERVED = "merchant_reserved"
    #: Our fee income (credit balance).
    FEES = "fees"
    #: Refunds owed to shoppers but not yet paid back through the processor.
    REFUNDS = "refunds"
    #: Payouts sent to the merchant's bank and not yet confirmed.
    PAYOUTS_IN_TRANSIT = "payouts_in_transit"


class Journal(TenantScoped, Base):
    """One money movement: a set of entries that balance, written once per (kind, reference_id)."""

    __tablename__ = "ledger_journals"
    __table_args__ = (
        # Exactly one journal per change, as a database fact: a retried job cannot post twice.
        UniqueConstraint("tenant_id", "kind", "reference_id"),
        Index("ix_ledger_journals_tenant_id_reference_id", "tenant_id", "reference_id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: What happened, e.g. "payment.capture", "refund", "settlement".
    kind: Mapped[str] = mapped_column(String(40))
    #: The id of the object whose change this records (`pay_…`, `re_…`, `po_…`).
    reference_id: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[Timestamp]

    entries: Mapped[list[Entry]] = relationship(back_populates="journal", order_by="Entry.id")


class Entry(TenantScoped, Base):
    """One line of a journal: a signed amount on one account in one currency."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "journal_id"], ["ledger_journals.tenant_id", "ledger_journals.id"]
        ),
        CheckConstraint("amount <> 0", name="amount_nonzero"),
        # Balances: sum(amount) per account and currency.
        Index("ix_ledger_entries_tenant_id_account_currency", "tenant_id", "account", "currency"),
        Index("ix_ledger_entries_tenant_id_journal_id", "tenant_id", "journal_id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    journal_id: Mapped[str] = mapped_column(String(40))
    account: Mapped[Account] = mapped_column(str_enum(Account, 32))
    #: Upper-case ISO 4217 code.
    currency: Mapped[str] = mapped_column(String(3))
    #: Minor units of `currency`; > 0 is a debit, < 0 a credit, never 0.
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The journal's time (entries are written with their journal and never change).
    created_at: Mapped[Timestamp]

    journal: Mapped[Journal] = relationship(back_populates="entries")


class Pricing(TenantScoped, Base):
    """A tenant's fee terms: `percent_bps` of the amount plus `fixed_amount` minor units per capture."""

    __tablename__ = "ledger_pricing"
    __table_args__ = (
        # One row per currency plus one default, with the key spelling out which: no two rows can
        # claim the same currency.
        CheckConstraint("(id = 'default' AND currency IS NULL) OR id = currency", name="id_matches_currency"),
        CheckConstraint("percent_bps >= 0 AND percent_bps <= 10000", name="percent_bps_range"),
        CheckConstraint("fixed_amount >= 0", name="fixed_amount_nonnegative"),
    )

    #: "default", or the upper-case currency code the row applies to.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Percentage fee in basis points: 140 is 1.40 %.
    percent_bps: Mapped[int] = mapped_column(Integer)
    #: Fixed fee per capture in minor units; on the default row, in each currency's own minor unit.
    fixed_amount: Mapped[int] = mapped_column(BigInteger)
    #: Null on the default row, which applies to every currency without a row of its own.
    currency: Mapped[str | None] = mapped_column(String(3))
    updated_at: Mapped[Timestamp]


class TxnType(StrEnum):
    """What moved the merchant's balance (the `type` of a balance transaction)."""

    CHARGE = "charge"
    REFUND = "refund"
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"
    PAYOUT = "payout"
    PAYOUT_FAILURE = "payout_failure"
    RESERVE_HOLD = "reserve_hold"
    RESERVE_RELEASE = "reserve_release"
    #: The part of the available funds a manual payout for less than all of them leaves for the next
    #: one: a pair of equal and opposite lines, one inside the payout and one outside; no journal.
    PAYOUT_CARRY = "payout_carry"


class TxnStatus(StrEnum):
    #: Not yet available: the funds sit in `held_in` until `available_on`.
    PENDING = "pending"
    AVAILABLE = "available"


class BalanceTransaction(TenantScoped, Base):
    """One movement of the merchant's balance, with its source and the payout that contains it.

    The ledger journals are the truth; a balance transaction is the merchant's view of one of them,
    written in the same transaction. Invariants (tests/core/test_balance_properties.py): the merchant's
    available balance is the sum of `net` over AVAILABLE transactions, pending (and reserved) the sum
    over PENDING ones held in that account, and a payout's amount is the sum of the `net` of the
    transactions it contains (`payout_id`), not counting its own `payout` line.
    """

    __tablename__ = "balance_transactions"
    __subject__: ClassVar[str] = "balance_transaction"
    __table_args__ = (
        Index("ix_balance_transactions_tenant_id_payout_id", "tenant_id", "payout_id"),
        Index("ix_balance_transactions_due", "tenant_id", "status", "available_on"),
        Index("ix_balance_transactions_unpaid", "tenant_id", "currency", "status", "payout_id"),
        Index("ix_balance_transactions_source", "tenant_id", "source_id"),
        CheckConstraint("fee >= 0", name="fee_nonnegative"),
        CheckConstraint("net = amount - fee", name="net_is_amount_less_fee"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    type: Mapped[TxnType] = mapped_column(str_enum(TxnType, 24))
    #: Signed gross amount in minor units: > 0 adds to the merchant's balance.
    amount: Mapped[int] = mapped_column(BigInteger)
    #: Kassa's fee on this movement (minor units, >= 0), already taken from `net`.
    fee: Mapped[int] = mapped_column(BigInteger)
    #: `amount - fee`: what the merchant's balance changes by.
    net: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[TxnStatus] = mapped_column(str_enum(TxnStatus, 12))
    #: When the funds become (or became) available for payout.
    available_on: Mapped[Timestamp]
    #: The ledger account the funds sit in while PENDING (merchant_pending or merchant_reserved).
    held_in: Mapped[Account | None] = mapped_column(str_enum(Account, 32))
    #: The object that caused it: `pay_…`, `re_…`, `dp_…`, `po_…`, or a `txn_…` for reserve lines.
    source_id: Mapped[str] = mapped_column(String(64))
    #: The payout that paid this line out (for a `payout` line: its own payout).
    payout_id: Mapped[str | None] = mapped_column(String(40))
    #: The journal that recorded the movement (none for a payout_carry pair).
    journal_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)


class SettlementTerms(TenantScoped, Base):
    """A tenant's settlement delay and rolling reserve (one row per tenant, `id` = "default")."""

    __tablename__ = "ledger_settlement_terms"
    __table_args__ = (
        CheckConstraint("delay_days >= 0 AND delay_days <= 30", name="delay_days_range"),
        CheckConstraint("reserve_bps >= 0 AND reserve_bps <= 10000", name="reserve_bps_range"),
        CheckConstraint("reserve_days >= 0 AND reserve_days <= 365", name="reserve_days_range"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Business days (Mon-Fri) between a capture and its funds becoming available: T+N.
    delay_days: Mapped[int] = mapped_column(Integer)
    #: Rolling reserve: this share (basis points) of each settled charge's net is held back ...
    reserve_bps: Mapped[int] = mapped_column(Integer)
    #: ... for this many calendar days.
    reserve_days: Mapped[int] = mapped_column(Integer)
    #: Why the reserve is set (shown to the merchant), e.g. "dispute rate 2.1 % above 1 %".
    reserve_reason: Mapped[str | None] = mapped_column(String(200))
    #: "manual" (set by staff) or "risk" (raised automatically by a risk signal).
    reserve_source: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[Timestamp]
