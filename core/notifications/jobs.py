"""Notification jobs on `default`: the events subscriber, the alert checks (cron) and the emails."""

from __future__ import annotations

import logging
import os

from core import events
from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.mail import MailUnavailable
from core.notifications import alerts, service, subscriber
from core.notifications.kinds import Kind
from core.payouts.models import ReconciliationRun

log = logging.getLogger(__name__)
WORKER = Actor.system("notifications")


@job(queue=DEFAULT)
def notify_from_event(tenant_id: str, event_id: str) -> str | None:
    """The events subscriber (core/events/subscribers.py): notify the members of one event. Safe to run
    twice: the event id is the notification's dedup key."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        event = events.get(uow.session, event_id=event_id)
        if event is None:
            log.warning("notification subscriber: no event %s of tenant %s", event_id, tenant_id)
            return None
        made = subscriber.handle(
            uow.session,
            rt.context(uow, WORKER),
            tenant_id=tenant_id,
            event_id=event.id,
            event_type=event.type,
            object_type=event.object_type,
            object_id=event.object_id,
            data=event.data,
            livemode=event.livemode,
        )
        return None if made is None else made.id


@job(queue=DEFAULT, retry_intervals=())
def detect_alerts(tenant_id: str) -> int:
    """Check one tenant's recent payments for the alerts (alerts.py), with its own thresholds where it set
    them (the KASSA_ALERT_* defaults elsewhere), and notify what is new."""
    rt = runtime.current()
    defaults = alerts.Thresholds.from_env(os.environ)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        thresholds = alerts.effective(uow.session, defaults=defaults)  # the tenant's own, else the defaults
        return len(
            alerts.detect(uow.session, rt.context(uow, WORKER), tenant_id=tenant_id, thresholds=thresholds)
        )


@job(queue=DEFAULT, retry_intervals=())
def send_notification_email(tenant_id: str, recipient_id: str) -> str:
    """Email one recipient's notification. Safe to run twice: one no longer queued is left alone. The
    back-off after the mail server was unavailable is the outbox's (a delayed job), as for receipts."""
    rt = runtime.current()
    try:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            recipient = service.send_email(
                uow.session,
                rt.context(uow, WORKER),
                recipient_id=recipient_id,
                mailer=rt.mailer(),
                sender=rt.settings.mail_from,
                base_url=rt.settings.base_url,
            )
            return str(recipient.email_status)
    except MailUnavailable as exc:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            service.record_unavailable(
                uow.session, rt.context(uow, WORKER), recipient_id=recipient_id, error=str(exc)
            )
        raise


@job(queue=DEFAULT)
def notify_reconciliation_differences(tenant_id: str, run_id: str) -> str | None:
    """Tell the members holding payouts:read that a settlement file did not match the ledger (written to
    the outbox by core/payouts/reconciliation.flag). Safe to run twice: the run id is the dedup key."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        run = uow.session.get(ReconciliationRun, (tenant_id, run_id))
        if run is None or not run.differences:
            return None
        many = "s" if run.differences != 1 else ""
        made = service.notify(
            uow.session,
            rt.context(uow, WORKER),
            tenant_id=tenant_id,
            kind=Kind.RECONCILIATION_DIFFERENCES,
            title=f"The settlement file of {run.file_date.isoformat()} has {run.differences} "
            f"difference{many} with the ledger",
            body=f"{run.matched} of {run.lines} lines matched; the Reconciliation page lists the rest.",
            dedup_key=f"reconciliation:{run.id}",
            livemode=False,
            link="/portal/reconciliation",
            subject_type="reconciliation_run",
            subject_id=run.id,
            data={"date": run.file_date.isoformat(), "differences": run.differences},
        )
        return None if made is None else made.id


@job(queue=DEFAULT, retry_intervals=())
def sweep_notification_emails() -> int:
    """Queue again every tenant's notification emails whose job was lost (`kassa cron`, every minute)."""
    rt = runtime.current()
    requeued = 0
    for tenant_id in rt.db.tenant_ids():
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            requeued += service.requeue_lost_emails(uow.session, rt.context(uow, WORKER))
    if requeued:
        log.warning("re-queued %d lost notification email(s)", requeued)
    return requeued


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (
    Cron("check payments for alerts", 300.0, detect_alerts, per_tenant=True),
    Cron("re-queue lost notification emails", 60.0, sweep_notification_emails),
)
