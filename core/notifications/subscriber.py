"""Notifications from events: a payout failed, a webhook endpoint is failing, a payment was disputed.

`jobs.notify_from_event` is declared in core/events/subscribers.py for the event types of `HANDLED`; it
hands the event here. The event's id is the dedup key, so a job that runs twice notifies once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from core import money
from core.context import Context
from core.errors import KassaError
from core.events.types import EventType
from core.notifications import service
from core.notifications.kinds import Kind
from core.notifications.models import Notification


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    link: str | None


def _amount(data: Mapping[str, Any], fallback: str) -> str:
    amount, currency = data.get("amount"), data.get("currency")
    if isinstance(amount, int) and isinstance(currency, str) and len(currency) == 3:
        try:
            return money.format_amount(amount, currency.upper())
        except (ValueError, KassaError):
            pass
    return fallback


def _payout_failed(data: Mapping[str, Any]) -> Message:
    reason = data.get("failure_message") or data.get("failure_code")
    because = f" The bank said: {reason}." if isinstance(reason, str) and reason else ""
    return Message(
        title=f"Payout {data.get('id', '')} failed".replace("  ", " "),
        body=f"{_amount(data, 'A payout')} did not reach your bank account.{because} The money is back "
        "in your available balance; check the payout bank account in the settings.",
        link=None,
    )


def _endpoint_failing(data: Mapping[str, Any]) -> Message:
    url = str(data.get("url") or "a webhook endpoint")[:120]
    return Message(
        title=f"Webhook endpoint failing: {url}",
        body=f"Deliveries to {url} kept failing after every retry, so the endpoint is flagged as failing "
        "and its events are waiting. Fix the receiver, then replay the failed deliveries from the "
        "endpoint's page; the events API also lists every event.",
        link=None,
    )


def _dispute_created(data: Mapping[str, Any]) -> Message:
    payment = data.get("payment")
    reason = data.get("reason")
    due = data.get("evidence_due_by")
    return Message(
        title=f"Payment {payment or ''} was disputed".replace("  ", " "),
        body=f"The cardholder disputed {_amount(data, 'a payment')}"
        f"{f' ({reason})' if isinstance(reason, str) else ''}. Send your evidence"
        f"{f' by {due}' if isinstance(due, str) else ' before the due date'}, or the dispute is lost.",
        link=f"/portal/payments/{payment}"
        if isinstance(payment, str) and payment.startswith("pay_")
        else None,
    )


#: Event type -> the kind it notifies and how its message is written from the event's object.
HANDLED: Final[dict[str, tuple[Kind, Callable[[Mapping[str, Any]], Message]]]] = {
    EventType.PAYOUT_FAILED: (Kind.PAYOUT_FAILED, _payout_failed),
    EventType.WEBHOOK_ENDPOINT_FAILING: (Kind.WEBHOOK_ENDPOINT_FAILING, _endpoint_failing),
    EventType.DISPUTE_CREATED: (Kind.DISPUTE_CREATED, _dispute_created),
}


def handle(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    event_id: str,
    event_type: str,
    object_type: str,
    object_id: str,
    data: Mapping[str, Any],
    livemode: bool,
) -> Notification | None:
    """Notify the members of one event; None for a type this subscriber does not handle or an event
    already notified."""
    handled = HANDLED.get(event_type)
    if handled is None:
        return None
    kind, write = handled
    message = write(data)
    return service.notify(
        session,
        ctx,
        tenant_id=tenant_id,
        kind=kind,
        title=message.title if livemode else f"{message.title} (test mode)",
        body=message.body,
        link=message.link,
        livemode=livemode,
        dedup_key=f"event:{event_id}",
        subject_type=object_type,
        subject_id=object_id,
        data={"event": event_id, "type": event_type},
    )
