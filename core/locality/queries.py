"""The locality-rule list query: mode-scoped, cursor paginated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.locality.models import LocalityRule
from core.pagination import DEFAULT_LIMIT, Page, paginate


def list_locality_rules(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> Page[LocalityRule]:
    statement = select(LocalityRule).where(LocalityRule.livemode == livemode)
    return paginate(
        session,
        statement,
        id_column=LocalityRule.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
