"""Emitting events: every state change of an object that a merchant's systems may want to hear about."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ScalarSelect, func, insert, select
from sqlalchemy.orm import Session

from core.context import Context
from core.db import created_in_transaction, transaction_memo
from core.events import subscribers
from core.events.models import Event
from core.events.types import EventType
from core.ids import new_id


class EventSubject(Protocol):
    """An object events are about (a payment, a checkout session, a refund …)."""

    @property
    def id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


def emit(
    session: Session,
    ctx: Context,
    type_: EventType,
    *,
    subject: EventSubject,
    data: dict[str, Any],
    livemode: bool | None = None,
) -> Event:
    """Append an event about `subject` (its API representation now in `data`, whose `object` names the
    event's `object_type`: `payment`, `checkout.session` …) and hand it to the
    subscribers that hear `type_`, through the outbox of the same transaction.

    Callers hold the subject's row lock, so `sequence` is taken without a race; the unique (tenant,
    object, sequence) constraint turns any bug there into an error, not a fork.
    """
    mode = getattr(subject, "livemode", None) if livemode is None else livemode
    if not isinstance(mode, bool):
        raise TypeError(f"{type(subject).__name__} has no livemode: pass livemode= to emit")
    sequences = transaction_memo(session).setdefault("event_sequences", {})
    sequence: int | ScalarSelect[int]
    if subject.id in sequences:
        sequence = sequences[subject.id] + 1  # emitted earlier in this transaction, under the same lock
    elif created_in_transaction(session, subject.id):
        sequence = 1  # inserted by this transaction: nothing can be known about it elsewhere
    else:  # the next number, computed by the INSERT itself (one round trip, not a SELECT and an INSERT)
        sequence = (
            select(func.coalesce(func.max(Event.sequence), 0) + 1)
            .where(Event.tenant_id == subject.tenant_id, Event.object_id == subject.id)
            .scalar_subquery()
        )
    session.flush()  # what the caller changed is written before the event about it
    event = session.scalars(
        insert(Event)
        .values(
            tenant_id=subject.tenant_id,
            id=new_id("evt"),
            type=str(type_),
            object_type=str(data["object"]),
            object_id=subject.id,
            sequence=sequence,
            data=data,
            livemode=mode,
            created_at=ctx.clock.now(),
        )
        .returning(Event)
    ).one()
    sequences[subject.id] = event.sequence
    for subscriber in subscribers.for_type(type_):
        if subscriber.wants is not None and not subscribers.resolve(subscriber.wants)(
            session, tenant_id=event.tenant_id, livemode=mode, event_type=event.type
        ):
            continue
        ctx.jobs.enqueue(
            subscriber.job,
            tenant_id=event.tenant_id,
            kwargs={"tenant_id": event.tenant_id, "event_id": event.id},
        )
    return event


def get(session: Session, *, event_id: str) -> Event | None:
    """The event of this id in the session's tenant (RLS scopes the read), or None."""
    return session.scalar(select(Event).where(Event.id == event_id))
