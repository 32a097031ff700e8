"""Payment jobs for the `payments` queue and the stuck-payment sweeper run by `kassa cron`."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from core import idempotency, metrics
from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT, PAYMENTS
from core.jobs.registry import Cron, job
from core.payments import service, sessions
from core.payments.models import CheckoutSession, Payment, PaymentStatus, SessionStatus

log = logging.getLogger(__name__)
#: A pending payment untouched this long has lost its job (worker killed, Redis flushed): queue it again.
STUCK_AFTER = timedelta(seconds=30)


WORKER = Actor.system("worker")


@job(queue=PAYMENTS, retry_intervals=(2, 10, 60))
def process_payment(tenant_id: str, payment_id: str) -> str:
    """Screen and authorize one payment. Safe to run twice: a payment that is no longer pending is left
    alone, and the processor is called with the payment id as idempotency key."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        payment = service.process(
            uow.session,
            rt.context(uow, WORKER),
            tenant_id=tenant_id,
            payment_id=payment_id,
            processor_for=rt.processor,
        )
        outcome = str(payment.status)
    metrics.PAYMENTS.labels(outcome).inc()
    return outcome


@job(queue=DEFAULT, retry_intervals=())
def sweep_payments() -> int:
    """Re-queue payments whose job was lost, expire overdue sessions and forget expired idempotency keys.
    Returns how many payments were re-queued."""
    rt = runtime.current()
    now = rt.clock.now()
    tenant_ids = rt.db.tenant_ids()
    requeued = 0
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            stuck = uow.session.scalars(
                select(Payment.id).where(
                    Payment.status == PaymentStatus.PENDING,
                    Payment.updated_at < now - STUCK_AFTER,
                    (Payment.next_attempt_at.is_(None)) | (Payment.next_attempt_at < now - STUCK_AFTER),
                )
            ).all()
            ctx = rt.context(uow, WORKER)
            for payment_id in stuck:
                ctx.jobs.enqueue(
                    service.PROCESS_JOB,
                    tenant_id=tenant_id,
                    kwargs={"tenant_id": tenant_id, "payment_id": payment_id},
                )
                requeued += 1
            overdue = uow.session.scalars(
                select(CheckoutSession).where(
                    CheckoutSession.status == SessionStatus.OPEN, CheckoutSession.expires_at <= now
                )
            ).all()
            for cs in overdue:
                sessions.refresh_expiry(uow.session, ctx, cs)
            idempotency.prune(uow.session, clock=rt.clock)
    if requeued:
        log.warning("re-queued %d stuck payment(s)", requeued)
    return requeued


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (Cron("re-queue stuck payments, expire sessions", 15.0, sweep_payments),)
