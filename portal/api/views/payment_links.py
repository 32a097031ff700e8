"""Payment links: create, retrieve, update, list."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.links import queries
from core.links import service as links
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode


def create_payment_link(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rt.processor(who.livemode)  # live keys without a live processor are refused before anything is made
    link = links.create(
        uow().session, who.context(), tenant_id=who.tenant_id, livemode=who.livemode, data=body
    )
    return json_response(links.serialize(link, base_url=rt.settings.base_url), 201)


def get_payment_link(id: str) -> Response:
    link = same_mode(links.get(uow().session, link_id=id), "payment link", id)
    return json_response(links.serialize(link, base_url=runtime().settings.base_url))


def update_payment_link(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    same_mode(links.get(uow().session, link_id=id), "payment link", id)
    link = links.update(uow().session, who.context(), link_id=id, changes=body)
    return json_response(links.serialize(link, base_url=rt.settings.base_url))


def list_payment_links(query: dict[str, Any]) -> Response:
    base_url = runtime().settings.base_url
    active = query.get("active")
    page = queries.list_payment_links(
        uow().session,
        livemode=caller().livemode,
        active=None if active is None else active == "true",
        **cursor(query),
    )
    return json_response(envelope(page, lambda link: links.serialize(link, base_url=base_url)))
