"""Notifications of a tenant, who received each (read or not, emailed or not), and members' preferences."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, IdStr, JsonDict, TenantScoped, Timestamp, str_enum
from core.notifications.kinds import Kind, Severity


class EmailStatus(StrEnum):
    #: The member does not want this kind by email.
    OFF = "off"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Notification(TenantScoped, Base):
    """Something a tenant's members should know about: one row per occurrence, shared by its recipients."""

    __tablename__ = "notifications"
    __subject__: ClassVar[str] = "notification"
    __table_args__ = (
        # The same occurrence (an event's id, an alert's window) notifies once, however often its job runs.
        UniqueConstraint("tenant_id", "dedup_key"),
        Index("ix_notifications_kind_created", "tenant_id", "kind", "livemode", "created_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, 40))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 10))
    #: One line, shown in the bell's list, the page and the email's subject.
    title: Mapped[str] = mapped_column(String(200))
    #: A few sentences: what happened and what to do. Never card numbers or secrets.
    body: Mapped[str] = mapped_column(String(1000))
    #: A portal path to look at (the payment, the endpoint), or null.
    link: Mapped[str | None] = mapped_column(String(300))
    #: The object it is about (an event's subject), if any.
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: `event:<evt_…>` or `<kind>:<mode>:<window end>`: what makes a second run of a job a no-op.
    dedup_key: Mapped[str] = mapped_column(String(200))
    #: The figures behind an alert (rates, counts, thresholds), for the page and the audit trail.
    data: Mapped[JsonDict]
    created_at: Mapped[Timestamp]


class NotificationRecipient(TenantScoped, Base):
    """One member's copy of a notification: in their bell until read, and its email, if they want one."""

    __tablename__ = "notification_recipients"
    __subject__: ClassVar[str] = "notification_recipient"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "notification_id"], ["notifications.tenant_id", "notifications.id"]
        ),
        UniqueConstraint("tenant_id", "notification_id", "user_id"),
        # The bell: a member's unread notifications, newest first.
        Index("ix_notification_recipients_inbox", "tenant_id", "user_id", "read_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"))
    #: Shown in the portal (the member's portal preference when it was made).
    portal: Mapped[bool] = mapped_column(Boolean)
    read_at: Mapped[datetime | None]
    email_status: Mapped[EmailStatus] = mapped_column(str_enum(EmailStatus, 10))
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: `<ntr_…@kassa>`, the same on every try, so a duplicate after a crash is recognisable as one.
    message_id: Mapped[str] = mapped_column(String(100))
    emailed_at: Mapped[datetime | None]
    #: While the email is queued: when its (first or next) try is due. Long past and still queued, its job
    #: was lost (a worker killed mid-send, Redis flushed): the sweeper queues it again.
    next_email_at: Mapped[datetime | None]
    #: The last mail error, addresses masked.
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[Timestamp]

    #: Loaded with the recipient row (one query for the bell and the page).
    notification: Mapped[Notification] = relationship(lazy="joined", viewonly=True, innerjoin=True)


class NotificationPreference(TenantScoped, Base):
    """A member's choice for one kind; without a row, both channels are on."""

    __tablename__ = "notification_preferences"
    __subject__: ClassVar[str] = "notification_preference"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "kind"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, 40))
    portal: Mapped[bool] = mapped_column(Boolean)
    email: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[Timestamp]


class AlertThresholdSettings(TenantScoped, Base):
    """A tenant's own alert thresholds (core/notifications/alerts.py): one row per tenant; a field it
    leaves out falls back to the `KASSA_ALERT_*` default."""

    __tablename__ = "alert_thresholds"
    __subject__: ClassVar[str] = "alert_thresholds"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: `Thresholds` field name -> the tenant's value (only the fields it set).
    values: Mapped[JsonDict]
    #: The member who saved them last.
    updated_by: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[Timestamp]
