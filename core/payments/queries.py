"""The list queries of payments, checkout sessions, refunds and events: mode-scoped (a test caller never
sees a live object, nor the reverse), filtered, cursor paginated (core/pagination.py). The API and the
portal both list through these; tenant scoping is the session's (RLS and the tenant filter)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Unpack

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from core import money
from core.errors import InvalidInput
from core.events.models import Event
from core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, check_limit, paginate
from core.payments.models import (
    CheckoutSession,
    Payment,
    PaymentStatus,
    PaymentStatusChange,
    Refund,
    SessionStatus,
)
from core.payments.service import RefundExceedsPayment
from core.payments.states import InvalidTransition

#: What a payments search box takes: a payment id, a checkout session id, the last four digits of a card,
#: a customer's email address, else the merchant's order reference (exact, or its beginning).
_LAST4 = re.compile(r"^\d{4}$")
#: The risk decisions a payment can carry (core/risk).
RISK_DECISIONS = ("allow", "review", "block")


@dataclass(frozen=True)
class PaymentFilter:
    """What a list of payments is narrowed to; every field None (or empty) narrows nothing.

    Amounts are minor units (compared with the payment's own amount, whatever its currency: pair an
    amount range with `currency` to compare like with like). `country` matches the shopper's country as the
    checkout session names it, or the card's issuing country. `search` is one text box (see _LAST4).
    """

    status: PaymentStatus | str | None = None
    method: str | None = None
    currency: str | None = None
    country: str | None = None
    risk_decision: str | None = None
    amount_gte: int | None = None
    amount_lte: int | None = None
    checkout_session: str | None = None
    created_gte: datetime | None = None
    created_lte: datetime | None = None
    search: str | None = None


def _search(text: str) -> tuple[ColumnElement[bool], bool]:
    """The condition a search box's text puts on payments, and whether it needs the checkout session."""
    if text.startswith("pay_"):
        return Payment.id == text, False
    if text.startswith("cs_"):
        return Payment.checkout_session_id == text, False
    if _LAST4.match(text):
        return Payment.card_last4 == text, False
    if "@" in text:
        email = text.lower()
        return (
            or_(
                func.lower(Payment.customer_email) == email,
                func.lower(CheckoutSession.customer_email) == email,
            ),
            True,
        )
    # A reference, or its beginning: LIKE's wildcards in the text are taken literally.
    # SQLite's LIKE ignores case, PostgreSQL's does not: the prefix compared as it is keeps them alike.
    prefix = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    exact = func.substr(CheckoutSession.reference, 1, len(text)) == text
    return and_(CheckoutSession.reference.like(prefix, escape="\\"), exact), True


def filter_payments(livemode: bool, where: PaymentFilter) -> Select[Payment]:
    """The SELECT of the payments of one mode that pass `where` (unordered: paginate orders it)."""
    conditions: list[ColumnElement[bool]] = [Payment.livemode == livemode]
    join_session = False
    if where.status:
        conditions.append(Payment.status == where.status)
    if where.method:
        conditions.append(Payment.method == where.method)
    if where.currency:
        conditions.append(Payment.currency == where.currency.upper())
    if where.risk_decision:
        conditions.append(Payment.risk_decision == where.risk_decision)
    if where.amount_gte is not None:
        conditions.append(Payment.amount >= where.amount_gte)
    if where.amount_lte is not None:
        conditions.append(Payment.amount <= where.amount_lte)
    if where.checkout_session:
        conditions.append(Payment.checkout_session_id == where.checkout_session)
    if where.created_gte is not None:
        conditions.append(Payment.created_at >= where.created_gte)
    if where.created_lte is not None:
        conditions.append(Payment.created_at <= where.created_lte)
    if where.search and where.search.strip():
        condition, join_session = _search(where.search.strip())
        conditions.append(condition)
    if where.country:
        country = where.country.upper()
        join_session = True
        conditions.append(or_(CheckoutSession.country == country, Payment.card_country == country))
    statement = select(Payment)
    if join_session:
        statement = statement.join(
            CheckoutSession,
            (CheckoutSession.tenant_id == Payment.tenant_id)
            & (CheckoutSession.id == Payment.checkout_session_id),
        )
    return statement.where(*conditions)


def list_payments(
    session: Session,
    *,
    livemode: bool,
    status: PaymentStatus | str | None = None,
    checkout_session: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
    where: PaymentFilter | None = None,
    **cursor: Unpack[Cursor],
) -> Page[Payment]:
    """A page of one mode's payments, newest first: `where` narrows it, and so do the single keywords
    (which the API's query parameters name)."""
    where = where or PaymentFilter()
    if status is not None or checkout_session is not None or created_gte or created_lte:
        where = replace(
            where,
            status=status if status is not None else where.status,
            checkout_session=checkout_session or where.checkout_session,
            created_gte=created_gte or where.created_gte,
            created_lte=created_lte or where.created_lte,
        )
    statement = filter_payments(livemode, where)
    return paginate(session, statement, id_column=Payment.id, **cursor)


def iter_payments(
    session: Session, *, livemode: bool, where: PaymentFilter, batch: int = MAX_LIMIT
) -> Iterator[Payment]:
    """Every payment of the filtered list, newest first, `batch` rows per query (keyset pages, so memory
    stays constant however long the list: a CSV export streams it). Each batch is expunged once yielded."""
    after: str | None = None
    while True:
        page = paginate(
            session, filter_payments(livemode, where), id_column=Payment.id, limit=batch, starting_after=after
        )
        yield from page.items
        for item in page.items:
            session.expunge(item)
        if not page.has_more:
            return
        after = page.items[-1].id


def refundable(payment: Payment, amount: int | None) -> int:
    """What a refund of `amount` (None: all that is left) of `payment` would refund, or the error the
    refund itself would raise: the portal's confirmation step shows this amount before anything moves."""
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
        raise InvalidTransition(f"Only a succeeded payment can be refunded; this one is {payment.status}.")
    remaining = payment.amount_captured - payment.amount_refunded
    to_refund = remaining if amount is None else amount
    if to_refund < 1:
        raise InvalidInput("Enter an amount greater than zero.", param="amount")
    if to_refund > remaining:
        raise RefundExceedsPayment(
            f"Refund of {money.amount_text(to_refund, payment.currency)} exceeds the "
            f"{money.amount_text(remaining, payment.currency)} left to refund on this payment.",
            param="amount",
        )
    return to_refund


def list_checkout_sessions(
    session: Session,
    *,
    livemode: bool,
    status: SessionStatus | str | None = None,
    **cursor: Unpack[Cursor],
) -> Page[CheckoutSession]:
    statement = select(CheckoutSession).where(CheckoutSession.livemode == livemode)
    if status is not None:
        statement = statement.where(CheckoutSession.status == status)
    return paginate(session, statement, id_column=CheckoutSession.id, **cursor)


def list_refunds(
    session: Session,
    *,
    livemode: bool,
    payment: str | None = None,
    **cursor: Unpack[Cursor],
) -> Page[Refund]:
    # A refund's mode is its payment's.
    statement = (
        select(Refund)
        .join(Payment, (Payment.tenant_id == Refund.tenant_id) & (Payment.id == Refund.payment_id))
        .where(Payment.livemode == livemode)
    )
    if payment is not None:
        statement = statement.where(Refund.payment_id == payment)
    return paginate(session, statement, id_column=Refund.id, **cursor)


def list_events(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    type: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
) -> Page[Event]:
    """Newest first; with `since=<evt id>` (catching up), the events after it, OLDEST first, so a receiver
    that was down applies them in order and passes the last id of each page as the next `since`."""
    statement = select(Event).where(Event.livemode == livemode)
    if type is not None:
        statement = statement.where(Event.type == type)
    if object_id is not None:
        statement = statement.where(Event.object_id == object_id)
    if since is not None:
        if starting_after or ending_before:
            raise InvalidInput("Use since alone, without starting_after or ending_before.", param="since")
        check_limit(limit)
        rows = list(
            session.scalars(statement.where(Event.id > since).order_by(Event.id.asc()).limit(limit + 1))
        )
        return Page(items=rows[:limit], has_more=len(rows) > limit)
    return paginate(
        session,
        statement,
        id_column=Event.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def get_event(session: Session, *, livemode: bool, event_id: str) -> Event | None:
    """The event of this mode with this id, or None (another mode's is not found either)."""
    return session.scalar(select(Event).where(Event.id == event_id, Event.livemode == livemode))


def status_history(session: Session, *, payment_id: str) -> list[PaymentStatusChange]:
    """A payment's status changes, oldest first."""
    return list(
        session.scalars(
            select(PaymentStatusChange)
            .where(PaymentStatusChange.payment_id == payment_id)
            .order_by(PaymentStatusChange.id)
        )
    )


def refunds_of(session: Session, *, payment_id: str) -> list[Refund]:
    """A payment's refunds, oldest first."""
    return list(session.scalars(select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.id)))


def events_of(session: Session, *, object_id: str) -> list[Event]:
    """An object's events in the order they happened (their per-object sequence)."""
    return list(session.scalars(select(Event).where(Event.object_id == object_id).order_by(Event.sequence)))
