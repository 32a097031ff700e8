"""Webhook endpoints (`we_…`), the deliveries of events to them (`whd_…`) and each attempt (`wha_…`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, JsonList, TenantScoped, Timestamp, str_enum


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    #: Its last delivery used up every retry (dead letter); the next success makes it active again.
    FAILING = "failing"
    #: Switched off: by the merchant (`enabled` false) or by a `410 Gone` answer.
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    #: Waiting for its (first or next) attempt.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    #: Every retry failed: kept for "Resend" and "Replay failed since …".
    DEAD = "dead"
    #: Not attempted again: its endpoint was disabled or deleted while it waited.
    CANCELED = "canceled"


class WebhookEndpoint(TenantScoped, Base):
    """A URL of the merchant's that receives the events it subscribed to, signed with its secret."""

    __tablename__ = "webhook_endpoints"
    __subject__: ClassVar[str] = "webhook_endpoint"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    #: Event types it receives; `["*"]` is every deliverable type.
    events: Mapped[JsonList]
    #: "full": `data` is the object as the API shows it; "thin": only its `id` and `object` (the receiver
    #: fetches the rest, so it always reads the current state).
    payload: Mapped[str] = mapped_column(String(4))
    #: The merchant's switch (and a `410 Gone` turns it off).
    enabled: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[EndpointStatus] = mapped_column(str_enum(EndpointStatus, 10))
    #: Why it was last disabled by Kassa (a 410), or null.
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    #: Test-mode endpoints receive test-mode events only, live ones live events only.
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: The signing secret `whsec_…`, sealed under the tenant's webhook data key: shown once, never stored
    #: in the clear.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: During a rotation, the replaced secret, which still signs (beside the new one) until
    #: `previous_secret_expires_at`.
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    #: When the endpoint became failing (its first dead letter since the last success), or null.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    #: Soft delete: a deleted endpoint keeps its delivery log but receives nothing and is not listed.
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(TenantScoped, Base):
    """One event for one endpoint: the same `webhook-id` and body on every attempt until it succeeds."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"], ["webhook_endpoints.tenant_id", "webhook_endpoints.id"]
        ),
        # One delivery per event and endpoint: the fan-out job can run twice.
        UniqueConstraint("tenant_id", "endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint", "tenant_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_due", "tenant_id", "status", "next_attempt_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40))
    #: The event delivered (its id is the `webhook-id`); null for a "Send test event" delivery.
    event_id: Mapped[str | None] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, 10))
    #: Attempts so far: the first plus the retries (drives the schedule).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: While pending: when the next attempt is due. Long past and still pending, its job was lost: the
    #: sweeper queues it again.
    next_attempt_at: Mapped[datetime | None]
    #: The last attempt's HTTP status (null: no answer).
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(TenantScoped, Base):
    """One POST of a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"], ["webhook_deliveries.tenant_id", "webhook_deliveries.id"]
        ),
        Index("ix_webhook_attempts_delivery", "tenant_id", "delivery_id", "id"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[Timestamp]
    #: The HTTP status; null when no answer came (see `error`).
    status: Mapped[int | None] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[int] = mapped_column(Integer)
    #: The first bytes of the answer's body (printable text only), for the log.
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    #: Why no answer came or why it was not attempted (refused address, timeout, TLS), or null.
    error: Mapped[str | None] = mapped_column(String(200))
    #: The address the POST went to (the checked, pinned one).
    address: Mapped[str | None] = mapped_column(String(45))
