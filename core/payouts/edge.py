"""The call edge of payouts and disputes, in one place: operations take `(session, ctx, *, ...)` with
`ctx` the request's, job's or command's `core.context.Context`; every state change writes its audit row
(`audit`) and, for the merchant's integrations, its event (`emit`) through these two helpers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import events
from core.audit import service as audit_service
from core.audit.service import Ref, Subject
from core.context import Context as Ctx
from core.events import EventType

__all__ = ["Ctx", "Ref", "audit", "emit"]


def audit(
    session: Session,
    ctx: Ctx,
    action: str,
    *,
    subject: Subject | Ref,
    details: dict[str, Any] | None = None,
) -> None:
    audit_service.record(session, ctx, action, subject=subject, details=details)


def emit(
    session: Session, ctx: Ctx, type_: EventType, *, subject: events.EventSubject, data: dict[str, Any]
) -> None:
    events.emit(session, ctx, type_, subject=subject, data=data)
