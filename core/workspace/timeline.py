"""A payment's story for its detail page: one question, one answer (`payment_timeline`).

The timeline interleaves, by time, the payment's status changes, refunds, receipts sent, events, the
webhook deliveries of those events and the ledger journals that booked its money; beside it stand the
risk decision and the processor's answer as Kassa normalized it (processor, its reference, attempts,
failure code and message, 3DS and approvals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.events.models import Event
from core.ledger.models import Journal
from core.mail.base import mask_email
from core.payments import queries
from core.payments.models import CheckoutSession, Payment, PaymentStatusChange, Refund
from core.receipts.models import Receipt
from core.webhooks.models import WebhookDelivery, WebhookEndpoint

#: Journal kinds in words (core/ledger/service.py writes them).
JOURNAL_LABELS: Final = {
    "payment.capture": "Captured funds booked",
    "refund": "Refund booked",
    "settlement": "Funds became available",
}


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    #: "status", "refund", "receipt", "event", "webhook" or "journal": what the line is about.
    kind: str
    title: str
    #: The id the line names (re_…, rcpt_…, evt_…, a journal's id, a delivery's), if any.
    object_id: str | None = None
    #: A webhook delivery's endpoint (we_…), for its link.
    parent_id: str | None = None
    status: str | None = None
    amount: int | None = None
    currency: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProcessorAnswer:
    """The processor's answer as Kassa normalized it (the raw request and response stay in the
    encrypted audit trail)."""

    processor: str | None
    reference: str | None
    attempts: int
    failure_code: str | None
    failure_message: str | None
    action: str | None
    action_result: str | None
    three_ds_required: bool


@dataclass(frozen=True)
class PaymentTimeline:
    payment: Payment
    checkout_session: CheckoutSession | None
    history: list[PaymentStatusChange]
    refunds: list[Refund]
    receipts: list[Receipt]
    events: list[Event]
    deliveries: list[WebhookDelivery]
    journals: list[Journal]
    processor: ProcessorAnswer
    items: list[TimelineItem]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def payment_timeline(session: Session, *, payment: Payment) -> PaymentTimeline:
    """Everything the detail page shows of `payment` (already loaded, in the caller's mode)."""
    history = queries.status_history(session, payment_id=payment.id)
    refunds = queries.refunds_of(session, payment_id=payment.id)
    events = queries.events_of(session, object_id=payment.id)
    receipts = list(
        session.scalars(select(Receipt).where(Receipt.payment_id == payment.id).order_by(Receipt.id))
    )
    references = [payment.id, *(r.id for r in refunds)]
    journals = list(
        session.scalars(
            select(Journal)
            .where(Journal.reference_id.in_(references))
            .options(selectinload(Journal.entries))
            .order_by(Journal.created_at, Journal.id)
        )
    )
    cs = session.scalar(select(CheckoutSession).where(CheckoutSession.id == payment.checkout_session_id))
    # Every delivery of the payment's events (one query, with each delivery's endpoint address).
    delivered = (
        session.execute(
            select(WebhookDelivery, WebhookEndpoint.url)
            .join(
                WebhookEndpoint,
                (WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id)
                & (WebhookEndpoint.id == WebhookDelivery.endpoint_id),
            )
            .where(WebhookDelivery.event_id.in_([e.id for e in events]))
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        ).all()
        if events
        else []
    )
    items: list[TimelineItem] = []
    for change in history:
        items.append(
            TimelineItem(
                _utc(change.created_at),
                "status",
                "Status changed",
                status=str(change.status),
                detail=change.reason,
            )
        )
    for made in refunds:
        items.append(
            TimelineItem(
                _utc(made.created_at),
                "refund",
                "Refund",
                object_id=made.id,
                status=str(made.status),
                amount=made.amount,
                currency=made.currency,
                detail=made.reason,
            )
        )
    for receipt in receipts:
        items.append(
            TimelineItem(
                _utc(receipt.sent_at or receipt.created_at),
                "receipt",
                "Receipt",
                object_id=receipt.id,
                status=str(receipt.status),
                detail=mask_email(receipt.email),
            )
        )
    for event in events:
        items.append(TimelineItem(_utc(event.created_at), "event", event.type, object_id=event.id))
    for delivery, url in delivered:
        answer = f"HTTP {delivery.last_status}" if delivery.last_status else "no answer yet"
        tries = "1 attempt" if delivery.attempts == 1 else f"{delivery.attempts} attempts"
        items.append(
            TimelineItem(
                _utc(delivery.delivered_at or delivery.updated_at or delivery.created_at),
                "webhook",
                delivery.event_type,
                object_id=delivery.id,
                parent_id=delivery.endpoint_id,
                status=str(delivery.status),
                detail=f"{url} · {answer} · {tries}",
            )
        )
    for journal in journals:
        items.append(
            TimelineItem(
                _utc(journal.created_at),
                "journal",
                JOURNAL_LABELS.get(journal.kind, journal.kind),
                object_id=journal.id,
                detail=journal.reference_id,
            )
        )
    # Stable: lines of one moment keep the order above (the status change before what it caused).
    items.sort(key=lambda item: item.at)
    return PaymentTimeline(
        payment=payment,
        checkout_session=cs,
        history=history,
        refunds=refunds,
        receipts=receipts,
        events=events,
        deliveries=[delivery for delivery, _ in delivered],
        journals=journals,
        processor=ProcessorAnswer(
            processor=payment.processor,
            reference=payment.processor_reference,
            attempts=payment.processor_attempts,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
            action=str(payment.action_type) if payment.action_type else None,
            action_result=payment.action_result,
            three_ds_required=payment.three_ds_required,
        ),
        items=items,
    )
