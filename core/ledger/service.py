"""Posting journals, fees and balances. Every function flushes in the caller's transaction, never commits.

A journal is written in the same transaction as the state change it records (the payment's capture, the
refund, the settlement), and at most once per `(kind, reference_id)`: a job that runs twice posts once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Conflict, InvalidInput, KassaError
from core.ids import new_id
from core.ledger.models import (
    Account,
    BalanceTransaction,
    Entry,
    Journal,
    Pricing,
    SettlementTerms,
    TxnStatus,
    TxnType,
)
from core.money import amount_text, exponent, validate_amount, validate_currency

log = logging.getLogger(__name__)

#: Fee terms when a tenant has no pricing row: 1.40 % + 25 minor units of the payment's currency.
DEFAULT_PERCENT_BPS: Final = 140
DEFAULT_FIXED_AMOUNT: Final = 25
DEFAULT_PRICING_ID: Final = "default"

KIND_CAPTURE: Final = "payment.capture"
KIND_REFUND: Final = "refund"
KIND_SETTLEMENT: Final = "settlement"
KIND_DISPUTE: Final = "dispute"
KIND_DISPUTE_REVERSAL: Final = "dispute.reversal"
KIND_PAYOUT: Final = "payout"
KIND_PAYOUT_PAID: Final = "payout.paid"
KIND_PAYOUT_FAILED: Final = "payout.failed"
KIND_RESERVE_HOLD: Final = "reserve.hold"

#: Settlement delay when a tenant has set none: T+2 business days.
DEFAULT_DELAY_DAYS: Final = 2
DEFAULT_TERMS_ID: Final = "default"

_BPS_DENOMINATOR: Final = 10_000
_MERCHANT_ACCOUNTS: Final = {
    Account.MERCHANT_AVAILABLE: "available",
    Account.MERCHANT_PENDING: "pending",
    Account.MERCHANT_RESERVED: "reserved",
    Account.PAYOUTS_IN_TRANSIT: "in_transit",
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
    #: Payouts sent and not yet confirmed paid (or returned).
    in_transit: list[dict[str, int | str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[dict[str, int | str]]]:
        return {
            "available": self.available,
            "pending": self.pending,
            "reserved": self.reserved,
            "in_transit": self.in_transit,
        }


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
    session: Session,
    *,
    tenant_id: str,
    payment_id: str,
    amount: int,
    currency: str,
    clock: Clock,
    available_at_once: bool = False,
    livemode: bool = False,
) -> Journal:
    """A captured payment: the processor owes us `amount`; we owe the merchant all of it but our fee.

    Dr processor_receivable amount / Cr merchant_pending (amount - fee) / Cr fees fee, and a `charge`
    balance transaction that becomes available after the tenant's settlement delay (T+N business days;
    `available_at_once` for the sandbox's instant-availability test card).
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
    journal = post(
        session,
        tenant_id=tenant_id,
        kind=KIND_CAPTURE,
        reference_id=payment_id,
        lines=_nonzero(lines),
        clock=clock,
    )
    now = clock.now()
    terms = settlement_terms(session, tenant_id=tenant_id)
    txn = add_transaction(
        session,
        tenant_id=tenant_id,
        type=TxnType.CHARGE,
        amount=amount,
        fee=fee,
        currency=currency,
        source_id=payment_id,
        journal=journal,
        clock=clock,
        available_on=now if available_at_once else settlement_date(now, terms.delay_days),
        held_in=Account.MERCHANT_PENDING if amount - fee else None,
        livemode=livemode,
    )
    if available_at_once:
        settle(session, txn, clock=clock)
    return journal


def record_refund(
    session: Session,
    *,
    tenant_id: str,
    refund_id: str,
    amount: int,
    currency: str,
    clock: Clock,
    livemode: bool = False,
) -> Journal:
    """A refund: the shopper gets `amount` back through the processor, out of the merchant's available funds.

    Dr merchant_available amount / Cr processor_receivable amount, and a `refund` balance transaction,
    available at once. Fees are not returned: the merchant bears the full refund. The available balance
    may go below zero (a refund of a payment not yet settled): the negative balance is carried to the
    next payout, which pays out only when the sum is positive and above the minimum.
    The caller (the payment engine) guarantees a payment's refunds never exceed its captured amount.
    """
    _positive(amount, currency)
    existing = find_journal(session, tenant_id=tenant_id, kind=KIND_REFUND, reference_id=refund_id)
    if existing is not None:
        return existing
    lines = [
        Line(Account.MERCHANT_AVAILABLE, currency, amount),
        Line(Account.PROCESSOR_RECEIVABLE, currency, -amount),
    ]
    journal = post(
        session, tenant_id=tenant_id, kind=KIND_REFUND, reference_id=refund_id, lines=lines, clock=clock
    )
    add_transaction(
        session,
        tenant_id=tenant_id,
        type=TxnType.REFUND,
        amount=-amount,
        fee=0,
        currency=currency,
        source_id=refund_id,
        journal=journal,
        clock=clock,
        livemode=livemode,
    )
    return journal


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
        in_transit=_listed(owed["in_transit"]),
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


# --- balance transactions, settlement and reserves ---------------------------------------------------


@dataclass(frozen=True)
class Terms:
    delay_days: int
    reserve_bps: int
    reserve_days: int
    reserve_reason: str | None = None
    reserve_source: str | None = None


def settlement_terms(session: Session, *, tenant_id: str) -> Terms:
    """The tenant's settlement delay and rolling reserve (T+2 and no reserve unless set)."""
    row = session.get(SettlementTerms, (tenant_id, DEFAULT_TERMS_ID))
    if row is None:
        return Terms(DEFAULT_DELAY_DAYS, 0, 0)
    return Terms(row.delay_days, row.reserve_bps, row.reserve_days, row.reserve_reason, row.reserve_source)


def set_settlement_terms(
    session: Session,
    *,
    tenant_id: str,
    clock: Clock,
    delay_days: int | None = None,
    reserve_bps: int | None = None,
    reserve_days: int | None = None,
    reserve_reason: str | None = None,
    reserve_source: str | None = None,
) -> SettlementTerms:
    """Change the tenant's terms; fields left None keep their value. Bad values raise `InvalidInput`."""
    for name, value, top in (
        ("delay_days", delay_days, 30),
        ("reserve_bps", reserve_bps, 10_000),
        ("reserve_days", reserve_days, 365),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top
        ):
            raise InvalidInput(f"{name} must be a whole number from 0 to {top}", param=name)
    row = session.get(SettlementTerms, (tenant_id, DEFAULT_TERMS_ID))
    if row is None:
        row = SettlementTerms(
            tenant_id=tenant_id,
            id=DEFAULT_TERMS_ID,
            delay_days=DEFAULT_DELAY_DAYS,
            reserve_bps=0,
            reserve_days=0,
        )
        session.add(row)
    if delay_days is not None:
        row.delay_days = delay_days
    if reserve_bps is not None:
        row.reserve_bps = reserve_bps
        row.reserve_reason = reserve_reason if reserve_bps else None
        row.reserve_source = reserve_source if reserve_bps else None
    if reserve_days is not None:
        row.reserve_days = reserve_days
    row.updated_at = clock.now()
    session.flush()
    return row


def add_business_days(day: date, days: int) -> date:
    """`day` plus `days` business days (Monday to Friday; bank holidays are not modelled)."""
    current = day
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def settlement_date(captured_at: datetime, delay_days: int) -> datetime:
    """T+N: midnight UTC of the N-th business day after the capture's (UTC) date."""
    day = add_business_days(captured_at.astimezone(UTC).date(), delay_days)
    return datetime.combine(day, time(0), tzinfo=UTC)


def add_transaction(
    session: Session,
    *,
    tenant_id: str,
    type: TxnType,
    amount: int,
    fee: int,
    currency: str,
    source_id: str,
    journal: Journal | None,
    clock: Clock,
    available_on: datetime | None = None,
    held_in: Account | None = None,
    payout_id: str | None = None,
    livemode: bool = False,
) -> BalanceTransaction:
    """One balance transaction; PENDING (in `held_in`) when `available_on` is later than now."""
    now = clock.now()
    when = available_on or now
    pending = held_in is not None and amount - fee != 0
    txn = BalanceTransaction(
        tenant_id=tenant_id,
        id=new_id("txn"),
        type=type,
        amount=amount,
        fee=fee,
        net=amount - fee,
        currency=currency,
        status=TxnStatus.PENDING if pending else TxnStatus.AVAILABLE,
        available_on=when,
        held_in=held_in if pending else None,
        source_id=source_id,
        payout_id=payout_id,
        journal_id=journal.id if journal is not None else None,
        created_at=now,
        livemode=livemode,
    )
    session.add(txn)
    session.flush()
    return txn


def settle(session: Session, txn: BalanceTransaction, *, clock: Clock) -> BalanceTransaction:
    """Make a PENDING transaction's funds available: Dr its holding account / Cr merchant_available.

    Once per transaction (the journal's key is the txn id). A settled charge then feeds the tenant's
    rolling reserve, if one is set: a `reserve_hold` now and a `reserve_release` after the reserve days.
    """
    if txn.status is TxnStatus.AVAILABLE:
        return txn
    held_in = txn.held_in or Account.MERCHANT_PENDING
    lines = [Line(held_in, txn.currency, txn.net), Line(Account.MERCHANT_AVAILABLE, txn.currency, -txn.net)]
    post(
        session,
        tenant_id=txn.tenant_id,
        kind=KIND_SETTLEMENT,
        reference_id=txn.id,
        lines=lines,
        clock=clock,
    )
    txn.status = TxnStatus.AVAILABLE
    txn.held_in = None
    session.flush()
    if txn.type is TxnType.CHARGE and txn.net > 0:
        _hold_reserve(session, txn, clock=clock)
    return txn


def _hold_reserve(session: Session, charge: BalanceTransaction, *, clock: Clock) -> None:
    terms = settlement_terms(session, tenant_id=charge.tenant_id)
    if not terms.reserve_bps:
        return
    held = (charge.net * terms.reserve_bps + _BPS_DENOMINATOR // 2) // _BPS_DENOMINATOR
    if held <= 0:
        return
    journal = post(
        session,
        tenant_id=charge.tenant_id,
        kind=KIND_RESERVE_HOLD,
        reference_id=charge.id,
        lines=[
            Line(Account.MERCHANT_AVAILABLE, charge.currency, held),
            Line(Account.MERCHANT_RESERVED, charge.currency, -held),
        ],
        clock=clock,
        memo=terms.reserve_reason,
    )
    common = {
        "tenant_id": charge.tenant_id,
        "fee": 0,
        "currency": charge.currency,
        "source_id": charge.id,
        "journal": journal,
        "clock": clock,
        "livemode": charge.livemode,
    }
    add_transaction(session, type=TxnType.RESERVE_HOLD, amount=-held, **common)  # type: ignore[arg-type]
    add_transaction(
        session,
        type=TxnType.RESERVE_RELEASE,
        amount=held,
        available_on=clock.now() + timedelta(days=terms.reserve_days),
        held_in=Account.MERCHANT_RESERVED,
        **common,  # type: ignore[arg-type]
    )


def settle_due(session: Session, *, tenant_id: str, clock: Clock, limit: int = 500) -> int:
    """Settle every PENDING transaction whose `available_on` has come; returns how many.

    Rows are taken FOR UPDATE SKIP LOCKED (PostgreSQL), so concurrent runs share the work and never
    settle one twice (the journal key would refuse it anyway).
    """
    query = (
        select(BalanceTransaction)
        .where(
            BalanceTransaction.tenant_id == tenant_id,
            BalanceTransaction.status == TxnStatus.PENDING,
            BalanceTransaction.available_on <= clock.now(),
        )
        .order_by(BalanceTransaction.available_on, BalanceTransaction.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = list(session.scalars(query))
    for txn in due:
        settle(session, txn, clock=clock)
    return len(due)


def record_dispute(
    session: Session,
    *,
    tenant_id: str,
    dispute_id: str,
    amount: int,
    fee: int,
    currency: str,
    clock: Clock,
    livemode: bool = False,
) -> BalanceTransaction:
    """A dispute opened: the disputed amount and the dispute fee leave the available balance at once.

    Dr merchant_available (amount + fee) / Cr processor_receivable amount / Cr fees fee.
    """
    _positive(amount, currency)
    lines = [
        Line(Account.MERCHANT_AVAILABLE, currency, amount + fee),
        Line(Account.PROCESSOR_RECEIVABLE, currency, -amount),
        Line(Account.FEES, currency, -fee),
    ]
    return _movement(
        session,
        tenant_id=tenant_id,
        kind=KIND_DISPUTE,
        reference_id=dispute_id,
        lines=_nonzero(lines),
        clock=clock,
        type=TxnType.DISPUTE,
        amount=-amount,
        fee=fee,
        currency=currency,
        livemode=livemode,
    )


def record_dispute_reversal(
    session: Session,
    *,
    tenant_id: str,
    dispute_id: str,
    amount: int,
    fee: int,
    currency: str,
    clock: Clock,
    livemode: bool = False,
) -> BalanceTransaction:
    """A dispute won: the amount and the fee return to the available balance (the dispute's reverse)."""
    _positive(amount, currency)
    lines = [
        Line(Account.PROCESSOR_RECEIVABLE, currency, amount),
        Line(Account.FEES, currency, fee),
        Line(Account.MERCHANT_AVAILABLE, currency, -(amount + fee)),
    ]
    # A reversal returns the fee too: its balance line has no fee of its own, its amount is the total.
    return _movement(
        session,
        tenant_id=tenant_id,
        kind=KIND_DISPUTE_REVERSAL,
        reference_id=dispute_id,
        lines=_nonzero(lines),
        clock=clock,
        type=TxnType.DISPUTE_REVERSAL,
        amount=amount + fee,
        fee=0,
        currency=currency,
        livemode=livemode,
    )


def record_payout(
    session: Session,
    *,
    tenant_id: str,
    payout_id: str,
    amount: int,
    currency: str,
    clock: Clock,
    livemode: bool = False,
) -> BalanceTransaction:
    """A payout sent: Dr merchant_available / Cr payouts_in_transit, and its `payout` line (its own)."""
    _positive(amount, currency)
    return _movement(
        session,
        tenant_id=tenant_id,
        kind=KIND_PAYOUT,
        reference_id=payout_id,
        lines=[
            Line(Account.MERCHANT_AVAILABLE, currency, amount),
            Line(Account.PAYOUTS_IN_TRANSIT, currency, -amount),
        ],
        clock=clock,
        type=TxnType.PAYOUT,
        amount=-amount,
        fee=0,
        currency=currency,
        payout_id=payout_id,
        livemode=livemode,
    )


def record_payout_paid(
    session: Session, *, tenant_id: str, payout_id: str, amount: int, currency: str, clock: Clock
) -> Journal:
    """The bank confirmed the payout: Dr payouts_in_transit / Cr processor_receivable. The merchant's
    balance does not change (the money already left it when the payout was sent): no balance line."""
    _positive(amount, currency)
    return post(
        session,
        tenant_id=tenant_id,
        kind=KIND_PAYOUT_PAID,
        reference_id=payout_id,
        lines=[
            Line(Account.PAYOUTS_IN_TRANSIT, currency, amount),
            Line(Account.PROCESSOR_RECEIVABLE, currency, -amount),
        ],
        clock=clock,
    )


def record_payout_failed(
    session: Session,
    *,
    tenant_id: str,
    payout_id: str,
    amount: int,
    currency: str,
    clock: Clock,
    livemode: bool = False,
) -> BalanceTransaction:
    """The bank returned the payout: Dr payouts_in_transit / Cr merchant_available, and a
    `payout_failure` line outside any payout, so the next payout pays the funds again."""
    _positive(amount, currency)
    return _movement(
        session,
        tenant_id=tenant_id,
        kind=KIND_PAYOUT_FAILED,
        reference_id=payout_id,
        lines=[
            Line(Account.PAYOUTS_IN_TRANSIT, currency, amount),
            Line(Account.MERCHANT_AVAILABLE, currency, -amount),
        ],
        clock=clock,
        type=TxnType.PAYOUT_FAILURE,
        amount=amount,
        fee=0,
        currency=currency,
        livemode=livemode,
    )


def _movement(
    session: Session,
    *,
    tenant_id: str,
    kind: str,
    reference_id: str,
    lines: Sequence[Line],
    clock: Clock,
    type: TxnType,
    amount: int,
    fee: int,
    currency: str,
    payout_id: str | None = None,
    livemode: bool = False,
) -> BalanceTransaction:
    # Once per (kind, reference): a second call returns the first call's balance line.
    existing = find_journal(session, tenant_id=tenant_id, kind=kind, reference_id=reference_id)
    if existing is not None:
        found = session.scalars(
            select(BalanceTransaction).where(
                BalanceTransaction.tenant_id == tenant_id, BalanceTransaction.journal_id == existing.id
            )
        ).first()
        if found is not None:
            return found
    journal = post(
        session, tenant_id=tenant_id, kind=kind, reference_id=reference_id, lines=lines, clock=clock
    )
    return add_transaction(
        session,
        tenant_id=tenant_id,
        type=type,
        amount=amount,
        fee=fee,
        currency=currency,
        source_id=reference_id,
        journal=journal,
        clock=clock,
        payout_id=payout_id,
        livemode=livemode,
    )


def lock_balances(session: Session, *, tenant_id: str, currency: str) -> None:
    """Public name of the per-(tenant, currency) advisory lock that serialises balance-dependent work."""
    _lock_balances(session, tenant_id=tenant_id, currency=currency)


def in_transit(session: Session, *, tenant_id: str) -> list[dict[str, int | str]]:
    """Payouts sent and not yet confirmed, per currency, as positive amounts."""
    rows = session.execute(
        select(Entry.currency, func.sum(Entry.amount))
        .where(Entry.tenant_id == tenant_id, Entry.account == Account.PAYOUTS_IN_TRANSIT)
        .group_by(Entry.currency)
    ).all()
    return _listed({currency: -int(total) for currency, total in rows})


def imbalances(session: Session, *, tenant_id: str) -> list[str]:
    """Where the tenant's ledger does not sum to zero: per currency, and per journal and currency (the
    first 20). Empty: balanced, as every journal posted through this module is (the restore drill)."""
    problems = []
    totals = session.execute(
        select(Entry.currency, func.sum(Entry.amount))
        .where(Entry.tenant_id == tenant_id)
        .group_by(Entry.currency)
        .having(func.sum(Entry.amount) != 0)
        .order_by(Entry.currency)
    ).all()
    for currency, total in totals:
        problems.append(f"{currency} entries sum to {total}, not 0")
    journals = session.execute(
        select(Entry.journal_id, Entry.currency, func.sum(Entry.amount))
        .where(Entry.tenant_id == tenant_id)
        .group_by(Entry.journal_id, Entry.currency)
        .having(func.sum(Entry.amount) != 0)
        .order_by(Entry.journal_id)
        .limit(20)
    ).all()
    for journal_id, currency, total in journals:
        problems.append(f"journal {journal_id}: {currency} entries sum to {total}, not 0")
    return problems
