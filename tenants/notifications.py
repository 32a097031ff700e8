"""Team and approval emails, sent by jobs written to the outbox (the mail transport receipts use), and the
sweep that expires approval requests after their 72 hours."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Actor, Context
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.mail import Mailer
from tenants import approvals, team
from tenants.models import ApprovalRequest, Invitation, Membership, Tenant, User
from tenants.permissions import Permission

log = logging.getLogger(__name__)

WORKER = Actor.system("worker")


def _message(*, to: str, subject: str, body: str, sender: str, ctx: Context) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(ctx.clock.now())
    message["Message-ID"] = make_msgid(domain="kassa.invalid")
    message.set_content(body)
    return message


def _send(mailer: Mailer, message: EmailMessage) -> None:
    mailer.send(message)


@job(queue=DEFAULT)
def send_invitation(tenant_id: str, invitation_id: str) -> bool:
    """Email an invitation's link. Safe to run twice: the token is wiped once sent, so a second run finds
    nothing to send. A mail server that is down raises, and RQ tries again."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        ctx = rt.context(uow, WORKER)
        invitation = uow.session.get(Invitation, (tenant_id, invitation_id))
        if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
            return False
        token = team.sealed_token(invitation, ctx)
        if token is None:
            return False
        tenant = uow.session.get(Tenant, tenant_id)
        inviter = uow.session.get(User, invitation.invited_by)
        link = f"{rt.settings.base_url.rstrip('/')}/portal/invitations/{token}"
        shop = tenant.name if tenant is not None else "a Kassa account"
        body = (
            f"{inviter.email if inviter else 'A colleague'} invited you to join {shop} on Kassa as "
            f"{team.role_name_of_invitation(uow.session, invitation)}.\n\n"
            f"Accept the invitation:\n{link}\n\n"
            f"The link works once and until {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            "If you did not expect it, ignore this email.\n"
        )
        _send(
            rt.mailer(),
            _message(
                to=invitation.email,
                subject=f"You are invited to {shop} on Kassa",
                body=body,
                sender=rt.settings.mail_from,
                ctx=ctx,
            ),
        )
        invitation.token_encrypted = None
        audit.record(uow.session, ctx, actions.INVITATION_SENT, subject=invitation, details={})
        return True


_STEP_TEXT = {
    "requested": "asks for your approval",
    "approved": "was approved and carried out",
    "declined": "was declined",
    "expired": "expired without a decision (72 hours)",
    "failed": "was approved, but carrying it out was refused",
}


def _recipients(session: Session, request: ApprovalRequest, step: str) -> list[str]:
    if step != "requested":
        if request.requested_by_type != "user":
            return []
        user = session.get(User, request.requested_by)
        return [user.email] if user is not None and not user.disabled else []
    needed = {Permission.APPROVALS_DECIDE, approvals.kind(request.kind).permission}
    found = []
    for membership, user in session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
    ):
        if user.id == request.requested_by or user.disabled:
            continue
        if needed <= team.permissions_of(session, membership):
            found.append(user.email)
    return found


@job(queue=DEFAULT)
def send_approval_notice(tenant_id: str, request_id: str, step: str) -> int:
    """Tell the people who can decide about a new request, and the requester about its outcome."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        ctx = rt.context(uow, WORKER)
        request = uow.session.get(ApprovalRequest, (tenant_id, request_id))
        if request is None:
            return 0
        recipients = _recipients(uow.session, request, step)
        link = f"{rt.settings.base_url.rstrip('/')}/portal/approvals/{request.id}"
        mailer = rt.mailer()
        for address in recipients:
            body = (
                f"{request.summary} {_STEP_TEXT.get(step, step)}.\n\n"
                f"Reason given: {request.reason}\n\nSee the request:\n{link}\n"
            )
            _send(
                mailer,
                _message(
                    to=address,
                    subject=f"Approval request {request.id}: {_STEP_TEXT.get(step, step)}",
                    body=body,
                    sender=rt.settings.mail_from,
                    ctx=ctx,
                ),
            )
        audit.record(
            uow.session,
            ctx,
            actions.APPROVAL_NOTICE_SENT,
            subject=request,
            details={"step": step, "recipients": len(recipients)},
        )
        return len(recipients)


@job(queue=DEFAULT, retry_intervals=())
def expire_approvals(tenant_id: str) -> int:
    """Expire one tenant's pending requests past their 72 hours (`kassa cron`, every 5 minutes)."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return approvals.expire_due(uow.session, rt.context(uow, WORKER))


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (Cron("expire approval requests", 300.0, expire_approvals, per_tenant=True),)
