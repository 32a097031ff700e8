"""The list queries of webhook endpoints and deliveries: mode-scoped, cursor-paginated (core/pagination.py),
used by the API and the portal alike."""

from __future__ import annotations

from typing import Any, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.pagination import Cursor, Page, paginate
from core.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def list_endpoints(
    session: Session,
    *,
    livemode: bool,
    **cursor: Unpack[Cursor],
) -> Page[WebhookEndpoint]:
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.livemode == livemode, WebhookEndpoint.deleted_at.is_(None)
    )
    return paginate(session, statement, id_column=WebhookEndpoint.id, **cursor)


def list_deliveries(
    session: Session,
    *,
    endpoint_id: str,
    status: DeliveryStatus | None = None,
    **cursor: Unpack[Cursor],
) -> Page[WebhookDelivery]:
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return paginate(session, statement, id_column=WebhookDelivery.id, **cursor)


def attempts_of(session: Session, *, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first."""
    found: dict[str, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    rows = session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.id)
    )
    for attempt in rows:
        found[attempt.delivery_id].append(attempt)
    return found


def serialize_attempt(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempted_at": _ts(attempt.attempted_at),
        "status": attempt.status,
        "succeeded": attempt.succeeded,
        "latency_ms": attempt.latency_ms,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
    }


def serialize_delivery(
    delivery: WebhookDelivery, attempts: list[WebhookAttempt] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": delivery.id,
        "object": "webhook_delivery",
        "endpoint": delivery.endpoint_id,
        "event": delivery.event_id,
        "type": delivery.event_type,
        "status": str(delivery.status),
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "next_attempt_at": _ts(delivery.next_attempt_at),
        "created_at": _ts(delivery.created_at),
        "delivered_at": _ts(delivery.delivered_at),
    }
    if attempts is not None:
        data["attempt_log"] = [serialize_attempt(a) for a in attempts]
    return data
