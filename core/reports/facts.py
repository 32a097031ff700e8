"""What each payment and refund adds to the rollups, and applying that (incrementally or in a rebuild).

A payment adds, to the cell of its creation day, currency, method, country, outcome and decline code:
one attempt, its amount, what was captured and Kassa's fee on the capture (the ledger's capture journal).
A succeeded refund adds one refund and its amount to the cell of the refund's day (with its payment's
currency, method and country, outcome "succeeded"). A captured payment also adds one payment and the
captured amount to its shopper's day (`report_customer_days`).

`apply` recomputes the facts of the given payments (and their refunds) from the rows as they are now and
moves each cell by the difference to the fact stored before: running it twice, late or out of order
changes nothing more. Callers hold the payments' row locks, so two appliers of one payment queue.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.context import Context
from core.ledger.models import Account, Entry, Journal
from core.ledger.service import KIND_CAPTURE
from core.payments.models import CheckoutSession, Payment, PaymentStatus, Refund, RefundStatus
from core.reports.models import (
    CUSTOMER_MEASURES,
    DAILY_DIMENSIONS,
    DAILY_MEASURES,
    TOTAL_DIMENSIONS,
    ReportCustomerDay,
    ReportDaily,
    ReportDayTotal,
    ReportFact,
    ReportMonthly,
    ReportShopper,
)

UNKNOWN_COUNTRY: Final = "ZZ"
S = PaymentStatus
OUTCOMES: Final[dict[PaymentStatus, str]] = {
    S.SUCCEEDED: "succeeded",
    S.PARTIALLY_REFUNDED: "succeeded",
    S.REFUNDED: "succeeded",
    S.AUTHORIZED: "authorized",
    S.FAILED: "failed",
    S.CANCELED: "canceled",
    S.INITIATED: "pending",
    S.PENDING: "pending",
    S.REQUIRES_ACTION: "pending",
}


def outcome_of(status: PaymentStatus) -> str:
    return OUTCOMES[status]


@dataclass(frozen=True)
class Cell:
    livemode: bool
    day: Any  # datetime.date
    currency: str
    method: str
    country: str
    outcome: str
    decline_code: str

    @property
    def id(self) -> str:
        mode = "live" if self.livemode else "test"
        return "|".join(
            (
                mode,
                self.day.isoformat(),
                self.currency,
                self.method,
                self.country,
                self.outcome,
                self.decline_code,
            )
        )


@dataclass(frozen=True)
class CustomerDay:
    livemode: bool
    customer: str
    label: str
    day: Any
    currency: str

    @property
    def id(self) -> str:
        mode = "live" if self.livemode else "test"
        return f"{mode}|{self.customer}|{self.day.isoformat()}|{self.currency}"


@dataclass(frozen=True)
class Fact:
    id: str
    cell: Cell
    customer_day: CustomerDay | None = None
    payments: int = 0
    amount: int = 0
    captured: int = 0
    fees: int = 0
    refunds: int = 0
    refunded: int = 0


def customer_of(payment: Payment) -> tuple[str, str] | None:
    """(digest, label) of the shopper: by email when the payment has one, else by card fingerprint."""
    if payment.customer_email:
        email = payment.customer_email.strip().lower()
        return _digest("email", email), email
    if payment.card_fingerprint:
        label = f"{payment.card_brand or 'card'} •••• {payment.card_last4 or '????'}"
        return _digest("card", payment.card_fingerprint), label
    return None


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def country_of(payment: Payment, session_country: str | None) -> str:
    return (payment.card_country or session_country or UNKNOWN_COUNTRY).upper()


def payment_fact(payment: Payment, *, fee: int, session_country: str | None) -> Fact:
    outcome = outcome_of(payment.status)
    day = payment.created_at.date()
    cell = Cell(
        livemode=payment.livemode,
        day=day,
        currency=payment.currency,
        method=str(payment.method),
        country=country_of(payment, session_country),
        outcome=outcome,
        decline_code=(payment.failure_code or "declined") if outcome == "failed" else "",
    )
    customer_day = None
    who = customer_of(payment)
    if who is not None and payment.amount_captured > 0:
        customer_day = CustomerDay(payment.livemode, who[0], who[1], day, payment.currency)
    return Fact(
        id=payment.id,
        cell=cell,
        customer_day=customer_day,
        payments=1,
        amount=payment.amount,
        captured=payment.amount_captured,
        fees=fee,
    )


def refund_fact(refund: Refund, payment: Payment, *, session_country: str | None) -> Fact | None:
    if refund.status is not RefundStatus.SUCCEEDED:
        return None
    cell = Cell(
        livemode=payment.livemode,
        day=refund.created_at.date(),
        currency=refund.currency,
        method=str(payment.method),
        country=country_of(payment, session_country),
        outcome="succeeded",
        decline_code="",
    )
    return Fact(id=refund.id, cell=cell, refunds=1, refunded=refund.amount)


def capture_fees(session: Session, payment_ids: Sequence[str]) -> dict[str, int]:
    """Kassa's fee on each payment's capture: what its capture journal credits to the fees account."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(Journal.reference_id, func.sum(Entry.amount))
        .join(Entry, (Entry.tenant_id == Journal.tenant_id) & (Entry.journal_id == Journal.id))
        .where(
            Journal.kind == KIND_CAPTURE,
            Journal.reference_id.in_(list(payment_ids)),
            Entry.account == Account.FEES,
        )
        .group_by(Journal.reference_id)
    ).all()
    return {reference: -int(total) for reference, total in rows}


def facts_for(session: Session, payments: Sequence[Payment]) -> list[Fact]:
    """The current facts of `payments` and of their refunds, read in three queries."""
    if not payments:
        return []
    ids = [p.id for p in payments]
    fees = capture_fees(session, ids)
    session_ids = list({p.checkout_session_id for p in payments})
    countries = dict(
        session.execute(
            select(CheckoutSession.id, CheckoutSession.country).where(CheckoutSession.id.in_(session_ids))
        ).all()
    )
    by_id = {p.id: p for p in payments}
    facts = [
        payment_fact(p, fee=fees.get(p.id, 0), session_country=countries.get(p.checkout_session_id))
        for p in payments
    ]
    for refund in session.scalars(select(Refund).where(Refund.payment_id.in_(ids))):
        payment = by_id[refund.payment_id]
        fact = refund_fact(refund, payment, session_country=countries.get(payment.checkout_session_id))
        if fact is not None:
            facts.append(fact)
    return facts


def apply(
    session: Session,
    ctx: Context,
    payments: Sequence[Payment],
    *,
    event_id: str | None = None,
    fresh: bool = False,
) -> int:
    """Bring the rollups up to date for `payments` (locked by the caller) and their refunds.

    `fresh`: the caller knows no fact of these objects is stored (a rebuild after clearing): the old facts
    are not read. Returns the number of facts written.
    """
    facts = facts_for(session, payments)
    tenant_id = payments[0].tenant_id if payments else None
    if tenant_id is None:
        return 0
    old: dict[str, ReportFact] = {}
    if not fresh:
        ids = [f.id for f in facts] + [p.id for p in payments]
        old = {
            row.id: row
            for row in session.scalars(select(ReportFact).where(ReportFact.id.in_(ids)).with_for_update())
        }
    daily: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DAILY_MEASURES, 0))
    cells: dict[str, Cell] = {}
    customers: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CUSTOMER_MEASURES, 0))
    customer_rows: dict[str, CustomerDay] = {}
    new_ids = {f.id for f in facts}
    for fact in facts:
        cells[fact.cell.id] = fact.cell
        for name in DAILY_MEASURES:
            daily[fact.cell.id][name] += getattr(fact, name)
        if fact.customer_day is not None:
            customer_rows[fact.customer_day.id] = fact.customer_day
            customers[fact.customer_day.id]["payments"] += 1
            customers[fact.customer_day.id]["volume"] += fact.captured
        previous = old.get(fact.id)
        if previous is not None:
            _take_out(previous, daily, customers)
    gone = [row for row_id, row in old.items() if row_id not in new_ids]
    for row in gone:
        _take_out(row, daily, customers)
    _upsert_daily(session, tenant_id, daily, cells)
    _upsert_customers(session, tenant_id, customers, customer_rows)
    _store_facts(session, tenant_id, facts, ctx.clock.now(), event_id)
    if gone:
        session.execute(delete(ReportFact).where(ReportFact.id.in_([row.id for row in gone])))
    return len(facts)


def _take_out(
    row: ReportFact, daily: dict[str, dict[str, int]], customers: dict[str, dict[str, int]]
) -> None:
    for name in DAILY_MEASURES:
        daily[row.daily_id][name] -= getattr(row, name)
    if row.customer_day_id is not None:
        customers[row.customer_day_id]["payments"] -= 1
        customers[row.customer_day_id]["volume"] -= row.captured


def _insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(frozen=True)
class Upsert:
    """Rows to insert into `table`, or, on its (tenant, id) key, to update with `changes`."""

    table: Any
    rows: list[dict[str, Any]]
    changes: Any  # (table, excluded) -> the SET clause

    def statement(self, session: Session, *, multi: bool) -> Any:
        statement = _insert(session, self.table)
        if multi:
            statement = statement.values(self.rows)
        return statement.on_conflict_do_update(
            index_elements=[self.table.c.tenant_id, self.table.c.id],
            set_=self.changes(self.table, statement.excluded),
        )


#: Rows one statement takes at most (a rebuild's batch sends more in chunks).
CHUNK: Final = 500


def _execute(session: Session, upserts: Sequence[Upsert]) -> None:
    """Send the upserts; on PostgreSQL, small ones go as one statement (the others as data-modifying
    CTEs of the last), so an event's rollup update costs one round trip for the cells and their totals."""
    upserts = [u for u in upserts if u.rows]
    if not upserts:
        return
    if session.get_bind().dialect.name == "postgresql" and all(len(u.rows) <= CHUNK for u in upserts):
        last = upserts[-1].statement(session, multi=True)
        for n, upsert in enumerate(upserts[:-1]):
            last = last.add_cte(upsert.statement(session, multi=True).cte(f"upsert_{n}"))
        session.execute(last)
        return
    for upsert in upserts:
        statement = upsert.statement(session, multi=False)
        for chunk in _chunks(upsert.rows, CHUNK):
            session.execute(statement, chunk)


def _sums(names: Sequence[str]) -> Any:
    return lambda table, excluded: {name: table.c[name] + excluded[name] for name in names}


def _upsert_daily(
    session: Session, tenant_id: str, deltas: dict[str, dict[str, int]], cells: dict[str, Cell]
) -> None:
    rows = []
    for cell_id, delta in deltas.items():
        if not any(delta.values()):
            continue
        cell = cells.get(cell_id) or _cell_from_id(cell_id)
        rows.append(
            {
                "tenant_id": tenant_id,
                "id": cell_id,
                "livemode": cell.livemode,
                "day": cell.day,
                "currency": cell.currency,
                "method": cell.method,
                "country": cell.country,
                "outcome": cell.outcome,
                "decline_code": cell.decline_code,
                **delta,
            }
        )
    if not rows:
        return
    rows.sort(key=lambda r: r["id"])
    _execute(
        session,
        [
            Upsert(ReportDaily.__table__, rows, _sums(DAILY_MEASURES)),
            Upsert(ReportDayTotal.__table__, _roll_up(tenant_id, rows, _total_key), _sums(DAILY_MEASURES)),
            Upsert(ReportMonthly.__table__, _roll_up(tenant_id, rows, _month_key), _sums(DAILY_MEASURES)),
        ],
    )


def total_id(livemode: bool, day: Any, currency: str, outcome: str) -> str:
    """The `report_day_totals` row a `report_daily` cell adds to."""
    return f"{'live' if livemode else 'test'}|{day.isoformat()}|{currency}|{outcome}"


def month_id(cell_id: str, day: Any) -> str:
    """The `report_monthly` row a `report_daily` cell adds to: its id with the month's first day."""
    mode, _day, rest = cell_id.split("|", 2)
    return f"{mode}|{day.replace(day=1).isoformat()}|{rest}"


def _total_key(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = total_id(row["livemode"], row["day"], row["currency"], row["outcome"])
    return key, {name: row[name] for name in TOTAL_DIMENSIONS}


def _month_key(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    dimensions = {name: row[name] for name in DAILY_DIMENSIONS if name != "day"}
    return month_id(row["id"], row["day"]), {**dimensions, "month": row["day"].replace(day=1)}


def _roll_up(
    tenant_id: str,
    daily_rows: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Move the coarser rows `key` names by the sum of the fine cells' moves: each coarse row is the sum
    of its cells by construction, whatever order the moves come in."""
    coarse: dict[str, dict[str, Any]] = {}
    for row in daily_rows:
        row_id, dimensions = key(row)
        target = coarse.get(row_id)
        if target is None:
            target = coarse[row_id] = {
                "tenant_id": tenant_id,
                "id": row_id,
                **dimensions,
                **dict.fromkeys(DAILY_MEASURES, 0),
            }
        for name in DAILY_MEASURES:
            target[name] += row[name]
    return sorted(
        (t for t in coarse.values() if any(t[name] for name in DAILY_MEASURES)), key=lambda r: r["id"]
    )


def _cell_from_id(cell_id: str) -> Cell:
    from datetime import date

    mode, day, currency, method, country, outcome, code = cell_id.split("|", 6)
    return Cell(mode == "live", date.fromisoformat(day), currency, method, country, outcome, code)


def _upsert_customers(
    session: Session,
    tenant_id: str,
    deltas: dict[str, dict[str, int]],
    rows_by_id: dict[str, CustomerDay],
) -> None:
    from datetime import date

    rows = []
    for row_id, delta in deltas.items():
        if not any(delta.values()):
            continue
        known = rows_by_id.get(row_id)
        if known is None:
            mode, customer, day, currency = row_id.split("|", 3)
            known = CustomerDay(mode == "live", customer, "", date.fromisoformat(day), currency)
        rows.append(
            {
                "tenant_id": tenant_id,
                "id": row_id,
                "livemode": known.livemode,
                "customer": known.customer,
                "label": known.label,
                "day": known.day,
                "currency": known.currency,
                **delta,
            }
        )
    if not rows:
        return
    rows.sort(key=lambda r: r["id"])

    def customer_changes(table: Any, excluded: Any) -> dict[str, Any]:
        return {
            **{name: table.c[name] + excluded[name] for name in CUSTOMER_MEASURES},
            # A taken-out row (label unknown here) keeps the label it has.
            "label": func.coalesce(func.nullif(excluded.label, ""), table.c.label),
        }

    # A shopper's first day only moves earlier while payments are added (a captured payment's shopper,
    # day and capture never change): LEAST of the stored and the new day, in the same statement. A row
    # that lost payments (a rebuild taking out an old fact) may move it later: recomputed from the rows.
    firsts: dict[tuple[bool, str], Any] = {}
    for row in rows:
        if row["payments"] > 0:
            key = (row["livemode"], row["customer"])
            firsts[key] = min(firsts.get(key, row["day"]), row["day"])
    shoppers = [
        {
            "tenant_id": tenant_id,
            "id": f"{'live' if livemode else 'test'}|{customer}",
            "livemode": livemode,
            "customer": customer,
            "first_day": first,
        }
        for (livemode, customer), first in sorted(firsts.items())
    ]
    # SQLite's two-argument min() is PostgreSQL's least().
    least = func.least if session.get_bind().dialect.name == "postgresql" else func.min
    _execute(
        session,
        [
            Upsert(ReportCustomerDay.__table__, rows, customer_changes),
            Upsert(
                ReportShopper.__table__,
                shoppers,
                lambda table, excluded: {"first_day": least(table.c.first_day, excluded.first_day)},
            ),
        ],
    )
    _refresh_shoppers(session, tenant_id, {(r["livemode"], r["customer"]) for r in rows if r["payments"] < 0})


def _refresh_shoppers(session: Session, tenant_id: str, shoppers: set[tuple[bool, str]]) -> None:
    """Set each shopper's first day to the least day of their customer-day rows with payments (removing
    the shopper when none is left).

    Recomputed from the rows, not moved by a delta: a minimum cannot be taken back. Two transactions that
    recompute one shopper queue on a transaction lock of that shopper (taken in a fixed order), and each
    recomputes after its own writes, so the one that commits last reads both. Only a row that lost
    payments comes here (a rebuild taking out an old fact); additions move the day with LEAST.
    """
    if not shoppers:
        return
    ordered = sorted(shoppers)
    if session.get_bind().dialect.name == "postgresql":
        for _livemode, customer in ordered:
            session.execute(
                select(
                    func.pg_advisory_xact_lock(
                        func.hashtextextended(f"report_shopper|{tenant_id}|{customer}", 0)
                    )
                )
            )
    C = ReportCustomerDay
    table = ReportShopper.__table__
    for livemode in (False, True):
        customers = [customer for mode, customer in ordered if mode is livemode]
        for start in range(0, len(customers), 500):
            batch = customers[start : start + 500]
            firsts = dict(
                session.execute(
                    select(C.customer, func.min(C.day))
                    .where(C.livemode == livemode, C.customer.in_(batch), C.payments > 0)
                    .group_by(C.customer)
                ).all()
            )
            mode = "live" if livemode else "test"
            gone = [f"{mode}|{customer}" for customer in batch if customer not in firsts]
            if gone:
                session.execute(delete(ReportShopper).where(ReportShopper.id.in_(gone)))
            if not firsts:
                continue
            statement = _insert(session, table)
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.tenant_id, table.c.id],
                set_={"first_day": statement.excluded.first_day},
            )
            session.execute(
                statement,
                [
                    {
                        "tenant_id": tenant_id,
                        "id": f"{mode}|{customer}",
                        "livemode": livemode,
                        "customer": customer,
                        "first_day": first,
                    }
                    for customer, first in sorted(firsts.items())
                ],
            )


def _store_facts(
    session: Session, tenant_id: str, facts: Iterable[Fact], now: datetime, event_id: str | None
) -> None:
    rows = [
        {
            "tenant_id": tenant_id,
            "id": f.id,
            "daily_id": f.cell.id,
            "customer_day_id": f.customer_day.id if f.customer_day else None,
            "payments": f.payments,
            "amount": f.amount,
            "captured": f.captured,
            "fees": f.fees,
            "refunds": f.refunds,
            "refunded": f.refunded,
            "event_id": event_id,
            "updated_at": now,
        }
        for f in facts
    ]
    if not rows:
        return
    table = ReportFact.__table__
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.id],
        set_={
            name: statement.excluded[name]
            for name in ("daily_id", "customer_day_id", *DAILY_MEASURES, "event_id", "updated_at")
        },
    )
    for chunk in _chunks(rows, 500):
        session.execute(statement, chunk)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
