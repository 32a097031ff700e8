"""The call edge of payouts and disputes: what an operation needs from its caller, and the two writes
every state change makes (an audit row and, for the merchant's integrations, an event).

`Ctx` is the shape of `core.context.Context` (actor, clock, kms): operations take `(session, ctx, *, ...)`.
`audit` and `emit` are the one place that speaks to core.audit and the event log, so moving to the
event module's `events.emit(session, ctx, EventType.X, subject=..., data=...)` is a change here only.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.audit import service as audit_service
from core.audit.service import Actor
from core.clock import Clock
from core.kms import KMS
from core.payments import events as event_log


class Ctx(Protocol):
    @property
    def actor(self) -> Actor: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def kms(self) -> KMS: ...


class Subject(Protocol):
    @property
    def __subject__(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


def audit(
    session: Session,
    ctx: Ctx,
    action: str,
    *,
    subject: Subject,
    details: dict[str, Any] | None = None,
) -> None:
    audit_service.record(
        session,
        tenant_id=subject.tenant_id,
        actor=ctx.actor,
        action=action,
        subject_type=subject.__subject__,
        subject_id=subject.id,
        clock=ctx.clock,
        kms=ctx.kms,
        details=details,
    )


def emit(
    session: Session, ctx: Ctx, type: str, *, subject: Subject, data: dict[str, Any], livemode: bool
) -> None:
    event_log.emit(
        session,
        tenant_id=subject.tenant_id,
        type=type,
        object_type=subject.__subject__,
        object_id=subject.id,
        data=data,
        livemode=livemode,
        clock=ctx.clock,
    )
