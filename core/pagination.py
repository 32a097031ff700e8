"""Cursor pagination by id, newest first: the one helper every list query in core pages with.

Ids sort by creation time (core/ids.py), so `id < starting_after` is the page older than a cursor and
`id > ending_before` the page just newer than it. The HTTP part (query parameters, the list envelope) is
portal/api/pagination.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class Cursor(TypedDict, total=False):
    """The paging keywords of every list query, passed on as they are to `paginate`:
    `def list_x(session, *, livemode, status=None, **cursor: Unpack[Cursor])`. One left out takes
    paginate's default."""

    limit: int
    starting_after: str | None
    ending_before: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of objects, newest first; `has_more` says whether older (or, paging with ending_before,
    newer) objects follow beyond it."""

    items: Sequence[T]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        """The `starting_after` of the page after this one (older objects), or None on the last page."""
        return getattr(self.items[-1], "id", None) if self.has_more and self.items else None


def paginate(
    session: Session,
    statement: Select[T],
    *,
    id_column: InstrumentedAttribute[str],
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> Page[T]:
    if starting_after and ending_before:
        raise InvalidInput("Use starting_after or ending_before, not both.", param="ending_before")
    check_limit(limit)
    if ending_before:
        rows = list(
            session.scalars(
                statement.where(id_column > ending_before).order_by(id_column.asc()).limit(limit + 1)
            )
        )
        return Page(items=list(reversed(rows[:limit])), has_more=len(rows) > limit)
    if starting_after:
        statement = statement.where(id_column < starting_after)
    rows = list(session.scalars(statement.order_by(id_column.desc()).limit(limit + 1)))
    return Page(items=rows[:limit], has_more=len(rows) > limit)


def check_limit(limit: int) -> None:
    """Refuse a page size outside 1..MAX_LIMIT (for a query that pages some other way than paginate)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", param="limit")
