"""The payment-link list query: mode-scoped, optionally by active flag, cursor paginated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.links.models import PaymentLink
from core.pagination import DEFAULT_LIMIT, Page, paginate


def list_payment_links(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    active: bool | None = None,
) -> Page[PaymentLink]:
    statement = select(PaymentLink).where(PaymentLink.livemode == livemode)
    if active is not None:
        statement = statement.where(PaymentLink.active == active)
    return paginate(
        session,
        statement,
        id_column=PaymentLink.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
