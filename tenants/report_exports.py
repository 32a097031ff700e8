"""Scheduled report exports (core/reports/schedules.py): `kassa cron` makes the due files, and a job per
recipient emails the signed download link through the outbox and the mail transport receipts use. Here
rather than in core: whether a member may (still) read reports is the team's to say (custom roles)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.mail import mask_email
from core.reports import schedules
from tenants import team
from tenants.models import Membership, Tenant, User
from tenants.permissions import Permission

log = logging.getLogger(__name__)
WORKER = Actor.system("worker")


def readers(session: Session) -> dict[str, str]:
    """user id -> email of the current tenant's members who may read reports (enabled accounts)."""
    found = {}
    for membership, user in session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id).order_by(User.email)
    ):
        if not user.disabled and Permission.REPORTS_READ in team.permissions_of(session, membership):
            found[user.id] = user.email
    return found


def may_read(session: Session, user_id: str) -> str | None:
    """The member's email when they may still read the current tenant's reports, else None."""
    return readers(session).get(user_id)


def link_for(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/portal/reports/download/{token}"


@job(queue=DEFAULT, retry_intervals=())
def run_scheduled_exports(tenant_id: str) -> int:
    """Make one tenant's due scheduled exports and queue their emails (`kassa cron`, every 5 minutes)."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return len(schedules.run_due(uow.session, rt.context(uow, WORKER)))


@job(queue=DEFAULT)
def send_export_link(tenant_id: str, file_id: str, user_id: str) -> bool:
    """Email one recipient the signed link of one file. A recipient who may no longer read reports gets
    nothing. A mail server that is down raises, and RQ tries again (a second email carries the same link).
    """
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        ctx = rt.context(uow, WORKER)
        made = schedules.get_file(uow.session, file_id=file_id)
        if made is None:
            return False
        address = may_read(uow.session, user_id)
        if address is None:
            log.info("scheduled export %s: recipient %s may not read reports, not sent", file_id, user_id)
            return False
        tenant = uow.session.get(Tenant, tenant_id)
        shop = tenant.name if tenant is not None else "your Kassa account"
        link = link_for(rt.settings.base_url, schedules.sign(rt.settings.secret_key, made, user_id=user_id))
        title = schedules.KINDS.get(made.kind, made.kind)
        span = made.start.isoformat() if made.start == made.end else f"{made.start} to {made.end}"
        message = EmailMessage()
        message["Subject"] = f"{shop}: {title} for {span}"
        message["From"] = rt.settings.mail_from
        message["To"] = address
        message["Date"] = format_datetime(ctx.clock.now())
        message["Message-ID"] = make_msgid(domain="kassa.invalid")
        mode = "live" if made.livemode else "test"
        message.set_content(
            f"Your scheduled export is ready: {title}, {span} (UTC days, {mode} mode).\n\n"
            f"Download it:\n{link}\n\n"
            f"The link is yours (do not forward it), opens this one file only, and works until "
            f"{made.expires_at:%Y-%m-%d %H:%M} UTC while you may read reports at {shop}.\n"
            "Change or stop the schedule at Reports > Scheduled exports in the portal.\n"
        )
        rt.mailer().send(message)
        audit.record(
            uow.session,
            ctx,
            actions.REPORT_EXPORT_EMAILED,
            subject=made,
            details={"recipient": user_id, "to": mask_email(address)},
        )
        return True


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (Cron("reports: scheduled exports", 300.0, run_scheduled_exports, per_tenant=True),)
