"""The locality-rule list query: mode-scoped, cursor paginated."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.locality.models import LocalityRule
from core.pagination import Cursor, Page, paginate


def list_locality_rules(
    session: Session,
    *,
    livemode: bool,
    **cursor: Unpack[Cursor],
) -> Page[LocalityRule]:
    statement = select(LocalityRule).where(LocalityRule.livemode == livemode)
    return paginate(session, statement, id_column=LocalityRule.id, **cursor)
