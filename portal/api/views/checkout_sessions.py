"""Checkout sessions: create, retrieve, list, expire."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.payments import queries, serialize, sessions
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode
from tenants import checkout_settings


def create_session(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rt.processor(who.livemode)  # live keys without a live processor are refused before anything is made
    terms = checkout_settings.session_terms(uow().session, tenant_id=who.tenant_id, livemode=who.livemode)
    cs = sessions.create(uow().session, who.context(), terms=terms, data=body)
    return json_response(serialize.checkout_session(cs, base_url=rt.settings.base_url), 201)


def get_session(id: str) -> Response:
    cs = same_mode(sessions.get(uow().session, session_id=id), "checkout session", id)
    sessions.refresh_expiry(uow().session, caller().context(), cs)
    return json_response(serialize.checkout_session(cs, base_url=runtime().settings.base_url))


def list_sessions(query: dict[str, Any]) -> Response:
    base_url = runtime().settings.base_url
    page = queries.list_checkout_sessions(
        uow().session, livemode=caller().livemode, status=query.get("status"), **cursor(query)
    )
    return json_response(envelope(page, lambda cs: serialize.checkout_session(cs, base_url=base_url)))


def expire_session(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    same_mode(sessions.get(uow().session, session_id=id), "checkout session", id)
    cs = sessions.expire(uow().session, who.context(), session_id=id)
    return json_response(serialize.checkout_session(cs, base_url=rt.settings.base_url))
