"""Events: retrieve, list."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.errors import NotFound
from core.ids import has_prefix
from core.payments import queries, serialize
from core.web.request import uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response


def get_event(id: str) -> Response:
    if not has_prefix(id, "evt"):
        raise NotFound(f"No such event: {id!r}.", param="id")
    event = queries.get_event(uow().session, livemode=caller().livemode, event_id=id)
    if event is None:
        raise NotFound(f"No such event: {id!r}.", param="id")
    return json_response(serialize.event(event))


def list_events(query: dict[str, Any]) -> Response:
    page = queries.list_events(
        uow().session,
        livemode=caller().livemode,
        type=query.get("type"),
        object_id=query.get("object"),
        since=query.get("since"),
        **cursor(query),
    )
    return json_response(envelope(page, serialize.event))
