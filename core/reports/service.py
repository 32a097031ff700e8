"""Keeping the rollups: one event at a time (the workers, as a subscriber of payment and refund events)
and a whole tenant at once (`kassa reports rebuild`). Both go through `facts.apply`, which makes the
rollups what a query over the raw rows gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import events
from core.context import Actor, Context
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.payments.models import Payment, Refund
from core.reports import facts
from core.reports.models import (
    ReportCustomerDay,
    ReportDaily,
    ReportDayTotal,
    ReportFact,
    ReportMonthly,
    ReportShopper,
)

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


def apply_event(session: Session, ctx: Context, *, event_id: str) -> int:
    """Bring the rollups up to date with what `event_id` is about. Safe to run twice, late or out of order:
    the payment's facts are recomputed from its rows as they are now."""
    event = events.get(session, event_id=event_id)
    if event is None:
        return 0
    payment_id = payment_of_event(session, event)
    if payment_id is None:
        return 0
    return apply_payment(session, ctx, payment_id=payment_id, event_id=event_id)


def apply_payment(session: Session, ctx: Context, *, payment_id: str, event_id: str | None = None) -> int:
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
    return facts.apply(session, ctx, [payment], event_id=event_id)


def clear(session: Session) -> None:
    """Remove the current tenant's rollups (the start of a rebuild)."""
    for model in (ReportFact, ReportDaily, ReportDayTotal, ReportMonthly, ReportCustomerDay, ReportShopper):
        session.execute(delete(model))


def count_payments(rt: Runtime, *, tenant_id: str) -> int:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Payment)) or 0)


def rebuild(rt: Runtime, *, tenant_id: str, actor: Actor, batch: int = REBUILD_BATCH) -> Iterator[int]:
    """Rebuild one tenant's rollups from its payments and refunds, yielding the payments done after each
    batch (for a progress bar). Each batch is its own short transaction."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        clear(uow.session)
    after = ""
    while True:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
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
            facts.apply(uow.session, rt.context(uow, actor), payments)
            after = payments[-1].id
        yield len(payments)
