"""Events: every state change of a session, payment or refund, ordered per object."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import Clock
from core.ids import new_id
from core.payments.models import Event


def emit(
    session: Session,
    *,
    tenant_id: str,
    type: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any],
    livemode: bool,
    clock: Clock,
) -> Event:
    """Append an event. Callers hold the object's row lock, so `sequence` is taken without a race; the
    unique (tenant, object, sequence) constraint turns any bug there into an error, not a fork."""
    last = session.scalar(select(func.max(Event.sequence)).where(Event.object_id == object_id))
    event = Event(
        tenant_id=tenant_id,
        id=new_id("evt"),
        type=type,
        object_type=object_type,
        object_id=object_id,
        sequence=(last or 0) + 1,
        data=data,
        livemode=livemode,
        created_at=clock.now(),
    )
    session.add(event)
    session.flush()
    return event
