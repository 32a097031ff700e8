"""List queries of disputes."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.disputes.models import Dispute
from core.pagination import Cursor, Page, paginate


def list_disputes(
    session: Session,
    *,
    livemode: bool,
    status: str | None = None,
    **cursor: Unpack[Cursor],
) -> Page[Dispute]:
    statement = select(Dispute).where(Dispute.livemode == livemode)
    if status is not None:
        statement = statement.where(Dispute.status == status)
    return paginate(session, statement, id_column=Dispute.id, **cursor)
