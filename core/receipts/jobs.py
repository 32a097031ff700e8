"""The receipt jobs (queue a completed checkout's receipt, send one) and the sweeper, on `default`."""

from __future__ import annotations

import logging

from core import events
from core.context import Actor
from core.events import EventType
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.mail import MailUnavailable
from core.receipts import service

log = logging.getLogger(__name__)
WORKER = Actor.system("worker")


@job(queue=DEFAULT)
def on_event(tenant_id: str, event_id: str) -> str | None:
    """Receipts as a subscriber of checkout.session.completed (core/events/subscribers.py): queue the
    automatic receipt of the checkout that completed. Safe to run twice: the receipt's id is drawn from
    the event's, so a second run finds the receipt made."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        event = events.get(uow.session, event_id=event_id)
        if event is None or event.type != EventType.CHECKOUT_SESSION_COMPLETED:
            return None
        receipt = service.queue_for_completed_checkout(
            uow.session,
            rt.context(uow, WORKER),
            checkout_session_id=event.object_id,
            receipt_id="rcpt_" + event.id.partition("_")[2],
        )
        return None if receipt is None else receipt.id


@job(queue=DEFAULT, retry_intervals=())
def send_receipt(tenant_id: str, receipt_id: str) -> str:
    """Email one receipt. Safe to run twice: a receipt no longer queued is left alone.

    The back-off after the mail server was unavailable is the outbox's (a delayed job written with the
    counted try), not RQ's: it survives a Redis outage and needs no RQ scheduler. The error is raised
    again all the same, so the failed try shows in RQ's failed-job registry too.
    """
    rt = runtime.current()
    try:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            receipt = service.send(
                uow.session,
                rt.context(uow, WORKER),
                receipt_id=receipt_id,
                mailer=rt.mailer(),
                sender=rt.settings.mail_from,
            )
            return str(receipt.status)
    except MailUnavailable as exc:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            service.record_unavailable(
                uow.session, rt.context(uow, WORKER), receipt_id=receipt_id, error=str(exc)
            )
        raise


@job(queue=DEFAULT, retry_intervals=())
def sweep_receipts() -> int:
    """Queue again every tenant's receipts whose job was lost (`kassa cron`, every minute)."""
    rt = runtime.current()
    tenant_ids = rt.db.tenant_ids()
    requeued = 0
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            requeued += service.requeue_stuck(uow.session, rt.context(uow, WORKER))
    if requeued:
        log.warning("re-queued %d stuck receipt(s)", requeued)
    return requeued


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (Cron("re-queue stuck receipts", 60.0, sweep_receipts),)
