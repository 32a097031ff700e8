"""Notifying a tenant's members, their inbox (read, unread), their preferences, and the emails.

`notify` writes one notification and one recipient row per member who may and wants to receive its kind
(kinds.py: the role's permission; the member's preference per channel), and queues each wanted email in
the same transaction's outbox. Every function takes the session first, flushes and never commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Boolean, String, column, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Context
from core.db import get_by_id
from core.errors import InvalidInput, NotFound
from core.ids import new_id
from core.mail import Mailer, MailRejected, mask_email, mask_emails_in
from core.notifications.kinds import KINDS, Kind, receives, visible_kinds
from core.notifications.message import compose
from core.notifications.models import EmailStatus, Notification, NotificationPreference, NotificationRecipient
from core.pagination import Page, paginate

log = logging.getLogger(__name__)

SEND_JOB: Final = "core.notifications.jobs.send_notification_email"
#: Seconds before each new try after the mail server was unavailable; after the last, the email fails.
RETRY_DELAYS: Final = (30, 120, 600, 1800)
#: A queued email this long past its due try has lost its job: the sweeper queues it again.
LOST_AFTER: Final = timedelta(minutes=2)
#: The bell's drop-down shows this many of the newest.
BELL_SIZE: Final = 5

# Members and users belong to the tenants layer, which core may not import: read as plain tables.
_MEMBERSHIPS = table(
    "memberships", column("tenant_id", String), column("user_id", String), column("role", String)
)
_USERS = table("users", column("id", String), column("email", String), column("disabled", Boolean))


@dataclass(frozen=True)
class Preference:
    """A member's choice for one kind, as the preferences page shows it (defaults where none is stored)."""

    kind: Kind
    label: str
    portal: bool
    email: bool


def _audit(
    session: Session,
    ctx: Context,
    action: str,
    *,
    subject: Notification | audit.Ref,
    details: dict[str, Any],
    outcome: Outcome = Outcome.SUCCESS,
) -> None:
    audit.record(session, ctx, action, subject=subject, details=details, outcome=outcome)


def _about(recipient: NotificationRecipient) -> audit.Ref:
    """A member's copy is audited as its notification (the recipient id goes in the details)."""
    return audit.Ref("notification", recipient.notification_id, recipient.tenant_id)


def _stored_preferences(
    session: Session, *, user_id: str | None = None
) -> dict[tuple[str, Kind], NotificationPreference]:
    query = select(NotificationPreference)
    if user_id is not None:
        query = query.where(NotificationPreference.user_id == user_id)
    return {(p.user_id, p.kind): p for p in session.scalars(query)}


def notify(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    kind: Kind,
    title: str,
    body: str,
    dedup_key: str,
    livemode: bool,
    link: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Notification | None:
    """Notify the tenant's members of one occurrence. None when `dedup_key` was already notified (the
    job ran twice, or ran concurrently with another run)."""
    if session.scalar(select(Notification.id).where(Notification.dedup_key == dedup_key)) is not None:
        return None
    now = ctx.clock.now()
    info = KINDS[kind]
    notification = Notification(
        tenant_id=tenant_id,
        id=new_id("ntf"),
        kind=kind,
        severity=info.severity,
        title=title[:200],
        body=body[:1000],
        link=link,
        subject_type=subject_type,
        subject_id=subject_id,
        livemode=livemode,
        dedup_key=dedup_key,
        data=dict(data or {}),
        created_at=now,
    )
    try:
        # A savepoint: a concurrent run that took the same key first makes this one a no-op, not an error.
        with session.begin_nested():
            session.add(notification)
            session.flush()
    except IntegrityError:
        return None
    members = session.execute(
        select(_MEMBERSHIPS.c.user_id, _MEMBERSHIPS.c.role)
        .join(_USERS, _USERS.c.id == _MEMBERSHIPS.c.user_id)
        .where(_MEMBERSHIPS.c.tenant_id == tenant_id, _USERS.c.disabled.is_(False))
        .order_by(_MEMBERSHIPS.c.user_id)
    ).all()
    chosen = _stored_preferences(session)
    recipients: list[NotificationRecipient] = []
    for user_id, role in members:
        if not receives(str(role), kind):
            continue
        preference = chosen.get((user_id, kind))
        portal = preference.portal if preference is not None else True
        email = preference.email if preference is not None else True
        if not (portal or email):
            continue
        recipient_id = new_id("ntr")
        recipients.append(
            NotificationRecipient(
                tenant_id=tenant_id,
                id=recipient_id,
                notification_id=notification.id,
                user_id=user_id,
                portal=portal,
                read_at=None,
                email_status=EmailStatus.QUEUED if email else EmailStatus.OFF,
                email_attempts=0,
                message_id=f"<{recipient_id}@kassa>",
                next_email_at=now if email else None,
                created_at=now,
            )
        )
    session.add_all(recipients)
    session.flush()
    for recipient in recipients:
        if recipient.email_status is EmailStatus.QUEUED:
            ctx.jobs.enqueue(
                SEND_JOB, tenant_id=tenant_id, kwargs={"tenant_id": tenant_id, "recipient_id": recipient.id}
            )
    _audit(
        session,
        ctx,
        actions.NOTIFICATION_CREATED,
        subject=notification,
        details={
            "kind": str(kind),
            "dedup_key": dedup_key,
            "recipients": len(recipients),
            "emails": sum(r.email_status is EmailStatus.QUEUED for r in recipients),
        },
    )
    return notification


def recent_of_kind(session: Session, *, kind: Kind, livemode: bool, since: Any) -> Notification | None:
    """The newest notification of `kind` in `livemode` created at or after `since`, if any."""
    return session.scalar(
        select(Notification)
        .where(Notification.kind == kind, Notification.livemode == livemode, Notification.created_at >= since)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
    )


# -- a member's inbox -----------------------------------------------------------------------------------


def inbox(
    session: Session,
    *,
    user_id: str,
    limit: int = 25,
    starting_after: str | None = None,
    unread_only: bool = False,
) -> Page[NotificationRecipient]:
    """A member's portal notifications, newest first (each with its `notification` loaded)."""
    statement = select(NotificationRecipient).where(
        NotificationRecipient.user_id == user_id, NotificationRecipient.portal.is_(True)
    )
    if unread_only:
        statement = statement.where(NotificationRecipient.read_at.is_(None))
    return paginate(
        session, statement, id_column=NotificationRecipient.id, limit=limit, starting_after=starting_after
    )


def unread_count(session: Session, *, user_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(NotificationRecipient)
            .where(
                NotificationRecipient.user_id == user_id,
                NotificationRecipient.portal.is_(True),
                NotificationRecipient.read_at.is_(None),
            )
        )
        or 0
    )


def mark_read(session: Session, ctx: Context, *, user_id: str, recipient_id: str) -> NotificationRecipient:
    """Mark one of the member's notifications read; another member's (or tenant's) id is not found."""
    recipient = get_by_id(session, NotificationRecipient, recipient_id, prefix="ntr", what="notification")
    if recipient.user_id != user_id or not recipient.portal:
        raise _not_found(recipient_id)
    if recipient.read_at is None:
        recipient.read_at = ctx.clock.now()
        session.flush()
        _audit(
            session,
            ctx,
            actions.NOTIFICATION_READ,
            subject=_about(recipient),
            details={"recipient": recipient.id},
        )
    return recipient


def mark_all_read(session: Session, ctx: Context, *, tenant_id: str, user_id: str) -> int:
    """Mark every unread notification of the member read; returns how many were."""
    result = session.execute(
        update(NotificationRecipient)
        .where(
            NotificationRecipient.user_id == user_id,
            NotificationRecipient.portal.is_(True),
            NotificationRecipient.read_at.is_(None),
        )
        .values(read_at=ctx.clock.now())
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        _audit(
            session,
            ctx,
            actions.NOTIFICATION_READ_ALL,
            subject=audit.Ref("user", user_id, tenant_id),
            details={"count": count},
        )
    return count


def _not_found(recipient_id: str) -> NotFound:
    return NotFound(f"No such notification: {recipient_id!r}.", param="id")


# -- preferences ----------------------------------------------------------------------------------------


def preferences(session: Session, *, user_id: str, permissions: frozenset[str]) -> list[Preference]:
    """The member's choice for every kind their permissions let them receive."""
    stored = _stored_preferences(session, user_id=user_id)
    result = []
    for info in visible_kinds(permissions):
        row = stored.get((user_id, info.kind))
        result.append(
            Preference(
                info.kind,
                info.label,
                portal=row.portal if row is not None else True,
                email=row.email if row is not None else True,
            )
        )
    return result


def set_preferences(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    user_id: str,
    permissions: frozenset[str],
    choices: Mapping[Kind, tuple[bool, bool]],
) -> list[Preference]:
    """Store the member's (portal, email) choice per kind. A kind they may not receive is refused."""
    allowed = {p.kind for p in preferences(session, user_id=user_id, permissions=permissions)}
    unknown = set(choices) - allowed
    if unknown:
        raise InvalidInput(f"Unknown notification kind: {', '.join(sorted(unknown))}.", param="kind")
    stored = _stored_preferences(session, user_id=user_id)
    changed: dict[str, dict[str, bool]] = {}
    now = ctx.clock.now()
    for kind, (portal, email) in choices.items():
        row = stored.get((user_id, kind))
        before = (row.portal, row.email) if row is not None else (True, True)
        if before == (portal, email):
            continue
        if row is None:
            row = NotificationPreference(
                tenant_id=tenant_id, id=new_id("ntp"), user_id=user_id, kind=kind, portal=portal, email=email
            )
            session.add(row)
        row.portal, row.email, row.updated_at = portal, email, now
        changed[str(kind)] = {"portal": portal, "email": email}
    session.flush()
    if changed:
        _audit(
            session,
            ctx,
            actions.NOTIFICATION_PREFERENCES_UPDATED,
            subject=audit.Ref("user", user_id, tenant_id),
            details={"changed": changed},
        )
    return preferences(session, user_id=user_id, permissions=permissions)


# -- email ----------------------------------------------------------------------------------------------


def _recipient_for_email(session: Session, recipient_id: str) -> NotificationRecipient:
    return get_by_id(
        session, NotificationRecipient, recipient_id, prefix="ntr", what="notification", lock=True
    )


def send_email(
    session: Session, ctx: Context, *, recipient_id: str, mailer: Mailer, sender: str, base_url: str
) -> NotificationRecipient:
    """Email one recipient's notification; a no-op unless it is queued (the job may run twice).

    Raises MailUnavailable for the caller to back off (`record_unavailable`) after this transaction rolls
    back; a refusal for good (MailRejected) fails the email here."""
    recipient = _recipient_for_email(session, recipient_id)
    if recipient.email_status is not EmailStatus.QUEUED:
        return recipient
    address = session.scalar(select(_USERS.c.email).where(_USERS.c.id == recipient.user_id))
    if address is None:
        return _give_up(session, ctx, recipient, error="the member has no address")
    message = compose(
        recipient.notification,
        to=address,
        sender=sender,
        message_id=recipient.message_id,
        base_url=base_url,
        now=ctx.clock.now(),
    )
    recipient.email_attempts += 1
    try:
        mailer.send(message)
    except MailRejected as exc:
        return _give_up(session, ctx, recipient, error=str(exc))
    recipient.email_status = EmailStatus.SENT
    recipient.emailed_at = ctx.clock.now()
    recipient.next_email_at = None
    recipient.last_error = None
    session.flush()
    _audit(
        session,
        ctx,
        actions.NOTIFICATION_EMAILED,
        subject=_about(recipient),
        details={"recipient": recipient.id, "to": mask_email(address), "attempts": recipient.email_attempts},
    )
    return recipient


def record_unavailable(
    session: Session, ctx: Context, *, recipient_id: str, error: str
) -> NotificationRecipient:
    """Count a try the mail server did not take; queue the next one after a back-off, or give up."""
    recipient = _recipient_for_email(session, recipient_id)
    if recipient.email_status is not EmailStatus.QUEUED:
        return recipient
    recipient.email_attempts += 1
    if recipient.email_attempts > len(RETRY_DELAYS):
        return _give_up(session, ctx, recipient, error=error)
    recipient.last_error = mask_emails_in(error)[:500]
    delay = RETRY_DELAYS[recipient.email_attempts - 1]
    recipient.next_email_at = ctx.clock.now() + timedelta(seconds=delay)
    ctx.jobs.enqueue(
        SEND_JOB,
        tenant_id=recipient.tenant_id,
        kwargs={"tenant_id": recipient.tenant_id, "recipient_id": recipient.id},
        delay=timedelta(seconds=delay),
    )
    session.flush()
    return recipient


def requeue_lost_emails(session: Session, ctx: Context) -> int:
    """Queue the send job again for the current tenant's queued notification emails that lost theirs (a
    worker killed mid-send, a flushed Redis): still queued long after their try was due. If the first job
    was only slow, the row lock and the status check in `send_email` make the second a no-op."""
    now = ctx.clock.now()
    lost = session.scalars(
        select(NotificationRecipient).where(
            NotificationRecipient.email_status == EmailStatus.QUEUED,
            NotificationRecipient.next_email_at < now - LOST_AFTER,
        )
    ).all()
    for recipient in lost:
        recipient.next_email_at = now
        ctx.jobs.enqueue(
            SEND_JOB,
            tenant_id=recipient.tenant_id,
            kwargs={"tenant_id": recipient.tenant_id, "recipient_id": recipient.id},
        )
    session.flush()
    return len(lost)


def _give_up(
    session: Session, ctx: Context, recipient: NotificationRecipient, *, error: str
) -> NotificationRecipient:
    recipient.email_status = EmailStatus.FAILED
    recipient.next_email_at = None
    recipient.last_error = mask_emails_in(error)[:500]
    session.flush()
    _audit(
        session,
        ctx,
        actions.NOTIFICATION_EMAIL_FAILED,
        subject=_about(recipient),
        outcome=Outcome.FAILURE,
        details={
            "recipient": recipient.id,
            "error": recipient.last_error,
            "attempts": recipient.email_attempts,
        },
    )
    log.error("notification email %s failed: %s", recipient.id, recipient.last_error)
    return recipient
