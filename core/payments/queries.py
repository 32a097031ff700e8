"""The list queries of payments, checkout sessions, refunds and events: mode-scoped (a test caller never
sees a live object, nor the reverse), filtered, cursor paginated (core/pagination.py). The API and the
portal both list through these; tenant scoping is the session's (RLS and the tenant filter)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.events.models import Event
from core.pagination import DEFAULT_LIMIT, Page, paginate
from core.payments.models import (
    CheckoutSession,
    Payment,
    PaymentStatus,
    PaymentStatusChange,
    Refund,
    SessionStatus,
)


def list_payments(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    status: PaymentStatus | str | None = None,
    checkout_session: str | None = None,
    created_gte: datetime | None = None,
    created_lte: datetime | None = None,
) -> Page[Payment]:
    statement = select(Payment).where(Payment.livemode == livemode)
    if status is not None:
        statement = statement.where(Payment.status == status)
    if checkout_session is not None:
        statement = statement.where(Payment.checkout_session_id == checkout_session)
    if created_gte is not None:
        statement = statement.where(Payment.created_at >= created_gte)
    if created_lte is not None:
        statement = statement.where(Payment.created_at <= created_lte)
    return paginate(
        session,
        statement,
        id_column=Payment.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def list_checkout_sessions(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    status: SessionStatus | str | None = None,
) -> Page[CheckoutSession]:
    statement = select(CheckoutSession).where(CheckoutSession.livemode == livemode)
    if status is not None:
        statement = statement.where(CheckoutSession.status == status)
    return paginate(
        session,
        statement,
        id_column=CheckoutSession.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def list_refunds(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    payment: str | None = None,
) -> Page[Refund]:
    # A refund's mode is its payment's.
    statement = (
        select(Refund)
        .join(Payment, (Payment.tenant_id == Refund.tenant_id) & (Payment.id == Refund.payment_id))
        .where(Payment.livemode == livemode)
    )
    if payment is not None:
        statement = statement.where(Refund.payment_id == payment)
    return paginate(
        session,
        statement,
        id_column=Refund.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def list_events(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    type: str | None = None,
    object_id: str | None = None,
) -> Page[Event]:
    statement = select(Event).where(Event.livemode == livemode)
    if type is not None:
        statement = statement.where(Event.type == type)
    if object_id is not None:
        statement = statement.where(Event.object_id == object_id)
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
