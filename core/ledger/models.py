"""Double-entry ledger: journals of entries, and the per-tenant pricing that decides the fees.

Sign convention: an entry's `amount > 0` is a debit, `< 0` a credit. Every journal's entries sum to zero
per currency, so the sum of every entry of a tenant is zero per currency too: money is only ever moved
between accounts, never made or lost. Balances are sums of entries; no balance is stored.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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
