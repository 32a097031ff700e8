"""Posting journals, fees and balances. Every function flushes in the caller's transaction, never commits.

A journal is written in the same transaction as the state change it records (the payment's capture, the
refund, the settlement), and at most once per `(kind, reference_id)`: a job that runs twice posts once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Conflict, InvalidInput, KassaError
from core.ids import new_id
from core.ledger.models import Account, Entry, Journal, Pricing
from core.money import amount_text, exponent, validate_amount, validate_currency

log = logging.getLogger(__name__)

#: Fee terms when a tenant has no pricing row: 1.40 % + 25 minor units of the payment's currency.
DEFAULT_PERCENT_BPS: Final = 140
DEFAULT_FIXED_AMOUNT: Final = 25
DEFAULT_PRICING_ID: Final = "default"

KIND_CAPTURE: Final = "payment.capture"
KIND_REFUND: Final = "refund"
KIND_SETTLEMENT: Final = "settlement"

_BPS_DENOMINATOR: Final = 10_000
_MERCHANT_ACCOUNTS: Final = {
    Account.MERCHANT_AVAILABLE: "available",
    Account.MERCHANT_PENDING: "pending",
    Account.MERCHANT_RESERVED: "reserved",
}


class UnbalancedJournal(KassaError):
    """A journal whose lines do not balance: a bug in the caller, never the user's input."""

    status = 500
    type = "api_error"
    code = "ledger_unbalanced"


@dataclass(frozen=True)
class Line:
    """One line to post: `amount > 0` debits `account`, `amount < 0` credits it."""

    account: Account
    currency: str
    amount: int


@dataclass(frozen=True)
class Balances:
    """What the merchant is owed, per currency, as positive amounts (GET /api/v1/balance)."""

    available: list[dict[str, int | str]] = field(default_factory=list)
    pending: list[dict[str, int | str]] = field(default_factory=list)
    reserved: list[dict[str, int | str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[dict[str, int | str]]]:
        return {"available": self.available, "pending": self.pending, "reserved": self.reserved}


# --- posting ---------------------------------------------------------------------------------------


def _check_lines(lines: Sequence[Line]) -> None:
    if not lines:
        raise UnbalancedJournal("a journal needs at least two lines; none were given")
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if not isinstance(line.account, Account):
            raise UnbalancedJournal(f"unknown ledger account {line.account!r}")
        if isinstance(line.amount, bool) or not isinstance(line.amount, int) or line.amount == 0:
            raise UnbalancedJournal(f"line amounts are non-zero ints of minor units, not {line.amount!r}")
        exponent(line.currency)  # an unknown or lower-case code raises before anything is written
        totals[line.currency] += line.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedJournal(f"journal lines must sum to zero per currency; they sum to {unbalanced}")


def find_journal(session: Session, *, tenant_id: str, kind: str, reference_id: str) -> Journal | None:
    return session.scalars(
        select(Journal).where(
            Journal.tenant_id == tenant_id, Journal.kind == kind, Journal.reference_id == reference_id
        )
    ).one_or_none()


def _build(
    *, tenant_id: str, kind: str, reference_id: str, lines: Sequence[Line], clock: Clock, memo: str | None
) -> Journal:
    now = clock.now()
    journal = Journal(
        tenant_id=tenant_id, id=new_id("jrn"), kind=kind, reference_id=reference_id, memo=memo, created_at=now
    )
    journal.entries = [
        Entry(
            tenant_id=tenant_id,
            id=new_id("ent"),
            account=line.account,
            currency=line.currency,
            amount=line.amount,
            created_at=now,
        )
        for line in lines
    ]
    return journal


def post(
    session: Session,
    *,
    tenant_id: str,
    kind: str,
    reference_id: str,
    lines: Sequence[Line],
    clock: Clock,
    memo: str | None = None,
) -> Journal:
    """Write one balanced journal for `(kind, reference_id)`, or return the one already written.

    The second call for the same key writes nothing and returns the first journal unchanged, whatever
    lines it was given: the change happened once, so it is recorded once. On PostgreSQL a concurrent
    transaction posting the same key is caught by the unique constraint inside a SAVEPOINT, and this
    call then returns the winner's journal (visible once that transaction has committed).
    """
    _check_lines(lines)
    existing = find_journal(session, tenant_id=tenant_id, kind=kind, reference_id=reference_id)
    if existing is not None:
        return existing
    journal = _build(
        tenant_id=tenant_id, kind=kind, reference_id=reference_id, lines=lines, clock=clock, memo=memo
    )
    if session.get_bind().dialect.name != "postgresql":
        # SQLite (the embedded demo) has one writer at a time; pysqlite's SAVEPOINTs are unreliable.
        session.add(journal)
        session.flush()
        return journal
    try:
        # The SAVEPOINT keeps a lost race from aborting the caller's whole transaction.
        with session.begin_nested():
            session.add(journal)
    except IntegrityError:
        winner = find_journal(session, tenant_id=tenant_id, kind=kind, reference_id=reference_id)
        if winner is None:
            raise  # another constraint failed: a real error, not a lost race
        log.info("ledger: %s %s was posted concurrently; using %s", kind, reference_id, winner.id)
        return winner
    return journal


# --- fees ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeTerms:
    percent_bps: int
    fixed_amount: int


def pricing_for(session: Session, *, tenant_id: str, currency: str) -> FeeTerms:
    """The tenant's terms for `currency`: its own row, else the tenant's default row, else Kassa's."""
    rows = {
        row.id: row
        for row in session.scalars(
            select(Pricing).where(
                Pricing.tenant_id == tenant_id, Pricing.id.in_([currency, DEFAULT_PRICING_ID])
            )
        )
    }
    row = rows.get(currency) or rows.get(DEFAULT_PRICING_ID)
    if row is None:
        return FeeTerms(DEFAULT_PERCENT_BPS, DEFAULT_FIXED_AMOUNT)
    return FeeTerms(row.percent_bps, row.fixed_amount)


def set_pricing(
    session: Session,
    *,
    tenant_id: str,
    percent_bps: int,
    fixed_amount: int,
    clock: Clock,
    currency: str | None = None,
) -> Pricing:
    """Set the tenant's terms for `currency` (None: its default for every currency without a row)."""
    if isinstance(percent_bps, bool) or not isinstance(percent_bps, int) or not 0 <= percent_bps <= 10_000:
        raise InvalidInput(
            "percent_bps must be an integer of basis points from 0 to 10000", param="percent_bps"
        )
    code = None if currency is None else validate_currency(currency)
    validate_amount(fixed_amount, code or "EUR", param="fixed_amount", minimum=0)
    row_id = code or DEFAULT_PRICING_ID
    row = session.get(Pricing, (tenant_id, row_id))
    if row is None:
        row = Pricing(tenant_id=tenant_id, id=row_id, currency=code)
        session.add(row)
    row.percent_bps = percent_bps
    row.fixed_amount = fixed_amount
    row.updated_at = clock.now()
    session.flush()
    return row


def fee_for(session: Session, *, tenant_id: str, amount: int, currency: str) -> int:
    """The fee on a capture of `amount`: percent rounded half up to a minor unit, plus the fixed part.

    Never more than `amount` itself, so a tiny payment cannot leave the merchant owing money.
    """
    terms = pricing_for(session, tenant_id=tenant_id, currency=currency)
    return compute_fee(amount, terms)


def compute_fee(amount: int, terms: FeeTerms) -> int:
    # Integer half-up: adding half the denominator before the floor division; amounts are positive.
    percent = (amount * terms.percent_bps + _BPS_DENOMINATOR // 2) // _BPS_DENOMINATOR
    return min(percent + terms.fixed_amount, amount)


# --- the movements the payment engine records ------------------------------------------------------


def _lock_balances(session: Session, *, tenant_id: str, currency: str) -> None:
    """Serialise balance-dependent postings per tenant and currency (PostgreSQL; SQLite has one writer).

    Released at commit. Callers that also lock a payment row take that lock first, this one second.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 11))"),
            {"k": f"ledger:{tenant_id}:{currency}"},
        )


def _positive(amount: int, currency: str) -> int:
    # Internal callers pass validated amounts; this guards the ledger against a bug upstream anyway.
    return validate_amount(amount, currency)


def record_capture(
    session: Session, *, tenant_id: str, payment_id: str, amount: int, currency: str, clock: Clock
) -> Journal:
    """A captured payment: the processor owes us `amount`; we owe the merchant all of it but our fee.

    Dr processor_receivable amount / Cr merchant_pending (amount - fee) / Cr fees fee.
    """
    _positive(amount, currency)
    existing = find_journal(session, tenant_id=tenant_id, kind=KIND_CAPTURE, reference_id=payment_id)
    if existing is not None:
        return existing
    fee = fee_for(session, tenant_id=tenant_id, amount=amount, currency=currency)
    lines = [
        Line(Account.PROCESSOR_RECEIVABLE, currency, amount),
        Line(Account.MERCHANT_PENDING, currency, -(amount - fee)),
        Line(Account.FEES, currency, -fee),
    ]
    return post(
        session,
        tenant_id=tenant_id,
        kind=KIND_CAPTURE,
        reference_id=payment_id,
        lines=_nonzero(lines),
        clock=clock,
    )


def record_refund(
    session: Session, *, tenant_id: str, refund_id: str, amount: int, currency: str, clock: Clock
) -> Journal:
    """A refund: the shopper gets `amount` back through the processor, out of what the merchant is owed.

    Dr merchant_available (up to its balance) / Dr merchant_pending (the rest) / Cr processor_receivable.
    Fees are not returned: the merchant bears the full refund, so refunding a whole payment leaves the
    capture's fee owed (merchant pending may go below zero: the merchant then owes us).
    The caller (the payment engine) guarantees a payment's refunds never exceed its captured amount.
    """
    _positive(amount, currency)
    existing = find_journal(session, tenant_id=tenant_id, kind=KIND_REFUND, reference_id=refund_id)
    if existing is not None:
        return existing
    _lock_balances(session, tenant_id=tenant_id, currency=currency)
    available = _owed(session, tenant_id=tenant_id, account=Account.MERCHANT_AVAILABLE, currency=currency)
    from_available = min(amount, max(available, 0))
    lines = [
        Line(Account.MERCHANT_AVAILABLE, currency, from_available),
        Line(Account.MERCHANT_PENDING, currency, amount - from_available),
        Line(Account.PROCESSOR_RECEIVABLE, currency, -amount),
    ]
    return post(
        session,
        tenant_id=tenant_id,
        kind=KIND_REFUND,
        reference_id=refund_id,
        lines=_nonzero(lines),
        clock=clock,
    )


def release_pending(
    session: Session, *, tenant_id: str, currency: str, amount: int, reference_id: str, clock: Clock
) -> Journal:
    """Make `amount` of the merchant's pending funds available (settlement).

    Dr merchant_pending / Cr merchant_available. Refuses (`Conflict`) to release more than is pending.
    """
    _positive(amount, currency)
    existing = find_journal(session, tenant_id=tenant_id, kind=KIND_SETTLEMENT, reference_id=reference_id)
    if existing is not None:
        return existing
    _lock_balances(session, tenant_id=tenant_id, currency=currency)
    pending = _owed(session, tenant_id=tenant_id, account=Account.MERCHANT_PENDING, currency=currency)
    if amount > pending:
        asked, held = amount_text(amount, currency), amount_text(pending, currency)
        raise Conflict(f"cannot release {asked}: only {held} is pending")
    lines = [
        Line(Account.MERCHANT_PENDING, currency, amount),
        Line(Account.MERCHANT_AVAILABLE, currency, -amount),
    ]
    return post(
        session,
        tenant_id=tenant_id,
        kind=KIND_SETTLEMENT,
        reference_id=reference_id,
        lines=lines,
        clock=clock,
    )


def _nonzero(lines: Iterable[Line]) -> list[Line]:
    # A fee equal to the amount leaves nothing for the merchant: no zero entry is written.
    return [line for line in lines if line.amount != 0]


# --- reading ---------------------------------------------------------------------------------------


def account_balance(session: Session, *, tenant_id: str, account: Account, currency: str) -> int:
    """The raw signed sum of the account's entries: debit balances > 0, credit balances < 0."""
    total = session.scalar(
        select(func.coalesce(func.sum(Entry.amount), 0)).where(
            Entry.tenant_id == tenant_id, Entry.account == account, Entry.currency == currency
        )
    )
    return int(total or 0)


def _owed(session: Session, *, tenant_id: str, account: Account, currency: str) -> int:
    # Merchant accounts are liabilities: a credit balance is money owed to the merchant.
    return -account_balance(session, tenant_id=tenant_id, account=account, currency=currency)


def balances(session: Session, *, tenant_id: str, currencies: Iterable[str] = ()) -> Balances:
    """The merchant's available, pending and reserved funds per currency, owed amounts positive.

    Lists every currency the account has entries in, plus `currencies` (e.g. the tenant's default) at
    0 when it has none; sorted by currency.
    """
    rows = session.execute(
        select(Entry.account, Entry.currency, func.sum(Entry.amount))
        .where(Entry.tenant_id == tenant_id, Entry.account.in_(list(_MERCHANT_ACCOUNTS)))
        .group_by(Entry.account, Entry.currency)
    ).all()
    owed: dict[str, dict[str, int]] = {
        name: dict.fromkeys(currencies, 0) for name in _MERCHANT_ACCOUNTS.values()
    }
    for account, currency, total in rows:
        owed[_MERCHANT_ACCOUNTS[account]][currency] = -int(total)
    return Balances(
        available=_listed(owed["available"]),
        pending=_listed(owed["pending"]),
        reserved=_listed(owed["reserved"]),
    )


def _listed(by_currency: dict[str, int]) -> list[dict[str, int | str]]:
    return [{"amount": amount, "currency": currency} for currency, amount in sorted(by_currency.items())]


def journal_entries(session: Session, *, tenant_id: str, reference_id: str) -> list[Entry]:
    """Every entry of every journal about `reference_id`, oldest journal first, debits before credits."""
    return list(
        session.scalars(
            select(Entry)
            .join(Journal, (Journal.tenant_id == Entry.tenant_id) & (Journal.id == Entry.journal_id))
            .where(Journal.tenant_id == tenant_id, Journal.reference_id == reference_id)
            .order_by(Journal.created_at, Journal.id, Entry.amount.desc(), Entry.account)
        )
    )
