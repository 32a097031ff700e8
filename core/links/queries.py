"""The payment-link list query: mode-scoped, optionally by active flag, cursor paginated."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.links.models import PaymentLink
from core.pagination import Cursor, Page, paginate


def list_payment_links(
    session: Session,
    *,
    livemode: bool,
    active: bool | None = None,
    **cursor: Unpack[Cursor],
) -> Page[PaymentLink]:
    statement = select(PaymentLink).where(PaymentLink.livemode == livemode)
    if active is not None:
        statement = statement.where(PaymentLink.active == active)
    return paginate(session, statement, id_column=PaymentLink.id, **cursor)
