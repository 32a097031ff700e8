"""Cursor pagination over HTTP: the query parameters every list route takes and the list envelope it
answers. The paging itself is core's (core/pagination.py): newest first; `starting_after=<id>` pages back,
`ending_before=<id>` pages forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from core.pagination import DEFAULT_LIMIT, Page
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


def cursor(params: dict[str, Any]) -> dict[str, Any]:
    """The paging keywords of a core list query, from a route's validated query parameters."""
    return {
        "limit": int(params.get("limit", DEFAULT_LIMIT)),
        "starting_after": params.get("starting_after"),
        "ending_before": params.get("ending_before"),
    }


def envelope(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """The API's list object: `{"object": "list", "data": [...], "has_more": ...}`."""
    return {"object": "list", "data": [render(item) for item in page.items], "has_more": page.has_more}
