"""CSV exports, streamed: rows are read with a server-side cursor (`yield_per`) and written one line at a
time, so memory stays flat however long the history (docs/reports.md lists every column).

- `payments`, `refunds`: one line per object created in the range.
- `journal`: the merchant's double-entry bookkeeping of the range, one line per debit or credit with an
  account code the merchant maps to their chart of accounts (`AccountCodes`); each journal, and so the
  whole file, sums to zero per currency.
- `xero`: the same bookkeeping summed per day and currency as Xero "manual journal" import lines.
- `payouts`: one line per payout created in the range; `balance_transactions`: one line per movement of
  the merchant's balance created in the range, with its source and the payout that paid it out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any, Final

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.orm import Session

from core import money
from core.errors import InvalidInput
from core.ledger.models import Account, BalanceTransaction, Entry, Journal
from core.ledger.service import KIND_CAPTURE, KIND_REFUND
from core.payments.models import Payment, Refund
from core.payouts.models import Payout
from core.reports.queries import Filters

#: The kinds of export there are.
EXPORTS: Final = ("payments", "refunds", "journal", "xero", "payouts", "balance_transactions")
#: The exports of money paid out, which need payouts:read besides reports:read.
PAYOUT_EXPORTS: Final = frozenset({"payouts", "balance_transactions"})
#: Rows fetched per round trip of the server-side cursor.
FETCH: Final = 2000
_CODE = re.compile(r"^[A-Za-z0-9._/-]{1,20}$")


@dataclass(frozen=True)
class AccountCodes:
    """Where the journal books each side. The defaults follow the German SKR03 chart (a common choice of
    Kassa's merchants); any code of up to 20 letters, digits and `._/-` may replace them."""

    #: Money Kassa holds for the merchant (a clearing / transit account, an asset).
    clearing: str = "1360"
    #: Revenue from sales.
    sales: str = "8400"
    #: Payment processing fees (an expense).
    fees: str = "4970"
    #: Refunds given (a contra-revenue account).
    refunds: str = "8720"

    @classmethod
    def from_params(cls, params: Mapping[str, str | None]) -> AccountCodes:
        values: dict[str, str] = {}
        for name in ("clearing", "sales", "fees", "refunds"):
            given = (params.get(f"account_{name}") or "").strip()
            if given:
                if not _CODE.fullmatch(given):
                    raise InvalidInput(
                        f"account_{name} must be 1 to 20 letters, digits or . _ / -.", param=f"account_{name}"
                    )
                values[name] = given
        return cls(**values)


NAMES: Final = {
    "clearing": "Kassa clearing",
    "sales": "Sales",
    "fees": "Payment fees",
    "refunds": "Refunds",
}


def _range(f: Filters) -> tuple[datetime, datetime]:
    start = datetime.combine(f.start, time.min, tzinfo=UTC)
    return start, datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=UTC)


def _decimal(amount: int, currency: str) -> str:
    value: Decimal = money.to_decimal(amount, currency)
    return f"{value:f}"


#: Characters per chunk of a streamed export: a line per chunk cost a write (a system call) per row.
CHUNK: Final = 64 * 1024


def _csv(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The lines of `rows`, in chunks of about CHUNK characters (the first, the header, at once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = iter(rows)
    for header in rows:
        writer.writerow(header)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        break
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
    if buffer.tell():
        yield buffer.getvalue()


def _stream(session: Session, statement: Any) -> Iterator[Any]:
    return iter(session.execute(statement.execution_options(yield_per=FETCH)))


def payments_csv(session: Session, f: Filters) -> Iterator[str]:
    start, end = _range(f)
    fee = (
        select(Journal.reference_id.label("payment_id"), (-func.sum(Entry.amount)).label("fee"))
        .join(Entry, and_(Entry.tenant_id == Journal.tenant_id, Entry.journal_id == Journal.id))
        .where(Journal.kind == KIND_CAPTURE, Entry.account == Account.FEES)
        .group_by(Journal.reference_id)
        .subquery()
    )
    # Columns, not entities: an ORM object per row cost more than the rest of the line together.
    columns = (
        Payment.id, Payment.created_at, Payment.status, Payment.currency, Payment.amount,
        Payment.amount_captured, Payment.amount_refunded, Payment.method, Payment.card_brand,
        Payment.card_last4, Payment.card_country, Payment.failure_code, Payment.customer_email,
        Payment.checkout_session_id, func.coalesce(fee.c.fee, 0).label("fee"),
    )  # fmt: skip
    statement = (
        select(*columns)
        .outerjoin(fee, fee.c.payment_id == Payment.id)
        .where(Payment.livemode == f.livemode, Payment.created_at >= start, Payment.created_at < end)
        .order_by(Payment.id)
    )

    def rows() -> Iterator[list[Any]]:
        yield [
            "id", "created_at", "status", "currency", "amount", "amount_captured", "amount_refunded", "fee",
            "amount_minor", "amount_captured_minor", "amount_refunded_minor", "fee_minor", "method",
            "card_brand", "card_last4", "card_country", "failure_code", "customer_email", "checkout_session",
        ]  # fmt: skip
        for p in _stream(session, statement):
            c, fee_minor = p.currency, p.fee
            yield [
                p.id, p.created_at.isoformat(), p.status, c, _decimal(p.amount, c),
                _decimal(p.amount_captured, c), _decimal(p.amount_refunded, c), _decimal(int(fee_minor), c),
                p.amount, p.amount_captured, p.amount_refunded, int(fee_minor), p.method, p.card_brand or "",
                p.card_last4 or "", p.card_country or "", p.failure_code or "", p.customer_email or "",
                p.checkout_session_id,
            ]  # fmt: skip

    return _csv(rows())


def refunds_csv(session: Session, f: Filters) -> Iterator[str]:
    start, end = _range(f)
    statement = (
        select(Refund, Payment.method)
        .join(Payment, and_(Payment.tenant_id == Refund.tenant_id, Payment.id == Refund.payment_id))
        .where(Payment.livemode == f.livemode, Refund.created_at >= start, Refund.created_at < end)
        .order_by(Refund.id)
    )

    def rows() -> Iterator[list[Any]]:
        yield [
            "id",
            "created_at",
            "payment",
            "status",
            "currency",
            "amount",
            "amount_minor",
            "reason",
            "method",
        ]
        for r, method in _stream(session, statement):
            yield [
                r.id, r.created_at.isoformat(), r.payment_id, r.status, r.currency,
                _decimal(r.amount, r.currency), r.amount, r.reason or "", method,
            ]  # fmt: skip

    return _csv(rows())


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def payouts_csv(session: Session, f: Filters) -> Iterator[str]:
    start, end = _range(f)
    statement = (
        select(Payout)
        .where(Payout.livemode == f.livemode, Payout.created_at >= start, Payout.created_at < end)
        .order_by(Payout.created_at, Payout.id)
    )
    if f.currency is not None:
        statement = statement.where(Payout.currency == f.currency)

    def rows() -> Iterator[list[Any]]:
        yield [
            "id", "created_at", "status", "method", "currency", "amount", "amount_minor", "arrival_date",
            "bank_account", "in_transit_at", "paid_at", "failed_at", "failure_code",
        ]  # fmt: skip
        for (p,) in _stream(session, statement):
            yield [
                p.id, p.created_at.isoformat(), p.status, p.method, p.currency,
                _decimal(p.amount, p.currency), p.amount, p.arrival_date.isoformat(), p.bank_account_id,
                _when(p.in_transit_at), _when(p.paid_at), _when(p.failed_at), p.failure_code or "",
            ]  # fmt: skip

    return _csv(rows())


def balance_transactions_csv(session: Session, f: Filters) -> Iterator[str]:
    start, end = _range(f)
    statement = (
        select(BalanceTransaction)
        .where(
            BalanceTransaction.livemode == f.livemode,
            BalanceTransaction.created_at >= start,
            BalanceTransaction.created_at < end,
        )
        .order_by(BalanceTransaction.created_at, BalanceTransaction.id)
    )
    if f.currency is not None:
        statement = statement.where(BalanceTransaction.currency == f.currency)

    def rows() -> Iterator[list[Any]]:
        yield [
            "id", "created_at", "type", "status", "currency", "amount", "fee", "net", "amount_minor",
            "fee_minor", "net_minor", "available_on", "source", "payout",
        ]  # fmt: skip
        for (t,) in _stream(session, statement):
            c = t.currency
            yield [
                t.id, t.created_at.isoformat(), t.type, t.status, c, _decimal(t.amount, c),
                _decimal(t.fee, c), _decimal(t.net, c), t.amount, t.fee, t.net, t.available_on.isoformat(),
                t.source_id, t.payout_id or "",
            ]  # fmt: skip

    return _csv(rows())


@dataclass(frozen=True)
class JournalLine:
    journal_id: str
    created_at: datetime
    kind: str
    reference: str
    account: str  # clearing | sales | fees | refunds
    currency: str
    #: > 0 debit, < 0 credit, minor units.
    amount: int


def merchant_lines(kind: str, entries: list[tuple[Account, str, int]]) -> list[tuple[str, str, int]]:
    """The merchant's side of one Kassa ledger journal: (account, currency, signed amount) lines.

    A capture of A with fee F is, in Kassa's ledger, Dr processor_receivable A / Cr merchant_pending A-F /
    Cr fees F; in the merchant's books: Dr clearing A-F / Dr fees F / Cr sales A. A refund of R is Dr
    refunds R / Cr clearing R. Other journals (settlement inside Kassa) move nothing on the merchant's side.
    """
    lines: list[tuple[str, str, int]] = []
    for account, currency, amount in entries:
        if kind == KIND_CAPTURE:
            if account is Account.PROCESSOR_RECEIVABLE:
                lines.append(("sales", currency, -amount))
            elif account is Account.MERCHANT_PENDING:
                lines.append(("clearing", currency, -amount))
            elif account is Account.FEES:
                lines.append(("fees", currency, -amount))
        elif kind == KIND_REFUND and account is Account.PROCESSOR_RECEIVABLE:
            lines.append(("refunds", currency, -amount))
            lines.append(("clearing", currency, amount))
    order = {"clearing": 0, "fees": 1, "refunds": 2, "sales": 3}
    return sorted(lines, key=lambda line: (line[2] < 0, order[line[0]]))


def journal_lines(session: Session, f: Filters) -> Iterator[JournalLine]:
    """The merchant's journal lines of the range, streamed in journal order. Test-mode reports read the
    ledger (which holds only test-mode money until a live processor exists); live-mode ones are empty."""
    if f.livemode:
        return iter(())
    start, end = _range(f)
    statement = (
        select(
            Journal.id, Journal.created_at, Journal.kind, Journal.reference_id, Entry.account, Entry.currency,
            Entry.amount,
        )
        .join(Entry, and_(Entry.tenant_id == Journal.tenant_id, Entry.journal_id == Journal.id))
        .where(
            Journal.kind.in_([KIND_CAPTURE, KIND_REFUND]),
            Journal.created_at >= start,
            Journal.created_at < end,
        )
        .order_by(Journal.created_at, Journal.id, Entry.id)
    )  # fmt: skip

    def lines() -> Iterator[JournalLine]:
        for (journal_id, created, kind, reference), group in groupby(
            _stream(session, statement), key=lambda row: tuple(row[:4])
        ):
            entries = [(row[4], row[5], int(row[6])) for row in group]
            for account, currency, amount in merchant_lines(kind, entries):
                if f.currency is None or currency == f.currency:
                    yield JournalLine(journal_id, created, kind, reference, account, currency, amount)

    return lines()


def journal_csv(session: Session, f: Filters, codes: AccountCodes) -> Iterator[str]:
    def rows() -> Iterator[list[Any]]:
        yield [
            "date", "journal", "kind", "reference", "account_code", "account_name", "currency", "debit",
            "credit", "amount_minor",
        ]  # fmt: skip
        for line in journal_lines(session, f):
            debit = _decimal(line.amount, line.currency) if line.amount > 0 else ""
            credit = _decimal(-line.amount, line.currency) if line.amount < 0 else ""
            yield [
                line.created_at.date().isoformat(), line.journal_id, line.kind, line.reference,
                getattr(codes, line.account), NAMES[line.account], line.currency, debit, credit, line.amount,
            ]  # fmt: skip

    return _csv(rows())


def _utc_day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def xero_csv(
    session: Session, f: Filters, codes: AccountCodes, *, tax_rate: str = "Tax Exempt"
) -> Iterator[str]:
    """Xero's manual journal import (Accounting > Manual journals > Import): one journal per day and
    currency, its lines summed per account; a positive amount is a debit. Dates are DD/MM/YYYY. Summed in
    the database, so the file has a handful of lines per day whatever the number of payments."""
    start, end = _range(f)
    day = _utc_day(session, Journal.created_at)
    statement = (
        select(day, Entry.currency, Journal.kind, Entry.account, func.sum(Entry.amount))
        .join(Entry, and_(Entry.tenant_id == Journal.tenant_id, Entry.journal_id == Journal.id))
        .where(
            Journal.kind.in_([KIND_CAPTURE, KIND_REFUND]),
            Journal.created_at >= start,
            Journal.created_at < end,
        )
        .group_by(day, Entry.currency, Journal.kind, Entry.account)
        .order_by(day, Entry.currency)
    )
    if f.currency is not None:
        statement = statement.where(Entry.currency == f.currency)

    def rows() -> Iterator[list[Any]]:
        yield ["*Narration", "*Date", "Description", "*AccountCode", "*TaxRate", "*Amount"]
        if f.livemode:
            return
        for (when, currency), group in groupby(session.execute(statement), key=lambda row: (row[0], row[1])):
            totals: dict[str, int] = {}
            for _day, _currency, kind, account, amount in group:
                for name, _c, signed in merchant_lines(kind, [(Account(account), currency, int(amount))]):
                    totals[name] = totals.get(name, 0) + signed
            on = when if isinstance(when, date) else date.fromisoformat(str(when))
            narration = f"Kassa {currency} {on.isoformat()}"
            for name in ("clearing", "fees", "refunds", "sales"):
                if totals.get(name):
                    yield [
                        narration, on.strftime("%d/%m/%Y"), NAMES[name], getattr(codes, name), tax_rate,
                        _decimal(totals[name], currency),
                    ]  # fmt: skip

    return _csv(rows())


def export(session: Session, kind: str, f: Filters, params: Mapping[str, str | None]) -> Iterator[str]:
    """The CSV lines of export `kind` (one of EXPORTS); unknown kinds and bad codes raise InvalidInput
    before the first line."""
    if kind == "payments":
        return payments_csv(session, f)
    if kind == "refunds":
        return refunds_csv(session, f)
    if kind in ("journal", "xero"):
        codes = AccountCodes.from_params(params)
        return journal_csv(session, f, codes) if kind == "journal" else xero_csv(session, f, codes)
    if kind == "payouts":
        return payouts_csv(session, f)
    if kind == "balance_transactions":
        return balance_transactions_csv(session, f)
    raise InvalidInput(f"There is no {kind!r} export; there are {', '.join(EXPORTS)}.", param="kind")
