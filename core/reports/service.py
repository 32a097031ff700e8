"""Keeping the rollups: one event at a time (the workers) and a whole tenant at once (`kassa reports
rebuild`). Both go through `facts.apply`, which makes the rollups what a query over the raw rows gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import Clock
from core.db import Database
from core.payments.models import Event, Payment, Refund
from core.reports import facts
from core.reports.models import ReportCustomerDay, ReportDaily, ReportFact

#: Payments per rebuild transaction: each batch locks only its own payments, and only briefly, so the
#: tenant's payments go on while a rebuild runs.
REBUILD_BATCH: Final = 1000


def payment_of_event(session: Session, event: Event) -> str | None:
    """The payment an event is about: a payment's own id, a refund's payment (checkout sessions and other
    objects change no figure)."""
    if event.object_type == "payment":
        return event.object_id
    if event.object_type == "refund":
        payment = event.data.get("payment") if isinstance(event.data, dict) else None
        if isinstance(payment, str):
            return payment
        return session.scalar(select(Refund.payment_id).where(Refund.id == event.object_id))
    return None


def apply_event(session: Session, *, event_id: str, clock: Clock) -> int:
    """Bring the rollups up to date with what `event_id` is about. Safe to run twice, late or out of order:
    the payment's facts are recomputed from its rows as they are now."""
    event = session.scalar(select(Event).where(Event.id == event_id))
    if event is None:
        return 0
    payment_id = payment_of_event(session, event)
    if payment_id is None:
        return 0
    return apply_payment(session, payment_id=payment_id, clock=clock, event_id=event_id)


def apply_payment(session: Session, *, payment_id: str, clock: Clock, event_id: str | None = None) -> int:
    # The payment's row lock: the service that changes it holds the same one, so this reads a settled row
    # and two appliers of one payment run one after the other.
    payment = session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None:
        return 0
    return facts.apply(session, [payment], clock=clock, event_id=event_id)


def clear(session: Session) -> None:
    """Remove the current tenant's rollups (the start of a rebuild)."""
    for model in (ReportFact, ReportDaily, ReportCustomerDay):
        session.execute(delete(model))


def count_payments(db: Database, *, tenant_id: str) -> int:
    from sqlalchemy import func

    with db.unit_of_work(tenant_id=tenant_id) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Payment)) or 0)


def rebuild(db: Database, *, tenant_id: str, clock: Clock, batch: int = REBUILD_BATCH) -> Iterator[int]:
    """Rebuild one tenant's rollups from its payments and refunds, yielding the payments done after each
    batch (for a progress bar). Each batch is its own short transaction."""
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        clear(uow.session)
    after = ""
    while True:
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            payments = list(
                uow.session.scalars(
                    select(Payment)
                    .where(Payment.id > after)
                    .order_by(Payment.id)
                    .limit(batch)
                    .with_for_update()
                )
            )
            if not payments:
                return
            # Not `fresh`: an event applied since the clear has stored its fact, which this batch replaces.
            facts.apply(uow.session, payments, clock=clock)
            after = payments[-1].id
        yield len(payments)
