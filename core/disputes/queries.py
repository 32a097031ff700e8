"""List queries of disputes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.disputes.models import Dispute
from core.pagination import DEFAULT_LIMIT, Page, paginate


def list_disputes(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    status: str | None = None,
) -> Page[Dispute]:
    statement = select(Dispute).where(Dispute.livemode == livemode)
    if status is not None:
        statement = statement.where(Dispute.status == status)
    return paginate(
        session,
        statement,
        id_column=Dispute.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
