"""Cursor pagination: newest first; `starting_after=<id>` pages back, `ending_before=<id>` pages forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import InvalidInput
from portal.api.schemas import ID_PARAM

T = TypeVar("T")

QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    "starting_after": {
        **ID_PARAM,
        "description": "An id: the page of objects older than it (next page: the last id of the page you "
        "have). Not with ending_before.",
    },
    "ending_before": {
        **ID_PARAM,
        "description": "An id: the page of objects just newer than it, newest first (previous page: the "
        "first id of the page you have). Not with starting_after.",
    },
}


def page(
    session: Session,
    query: Select[T],
    *,
    id_column: InstrumentedAttribute[str],
    params: dict[str, Any],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    limit = int(params.get("limit", 10))
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise InvalidInput("Use starting_after or ending_before, not both.", param="ending_before")
    if before:
        rows = list(
            session.scalars(query.where(id_column > before).order_by(id_column.asc()).limit(limit + 1))
        )
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        if after:
            query = query.where(id_column < after)
        rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": [render(row) for row in rows], "has_more": has_more}
