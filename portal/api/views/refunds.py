"""Refunds: create, retrieve, list."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.errors import NotFound
from core.ids import has_prefix
from core.payments import queries, serialize, service
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode


def create_refund(body: dict[str, Any]) -> Response:
    who = caller()
    payment_id = body["payment"]
    if not has_prefix(payment_id, "pay"):
        raise NotFound(f"No such payment: {payment_id!r}.", param="payment")
    same_mode(service.get(uow().session, payment_id=payment_id), "payment", payment_id)
    made = service.refund(
        uow().session,
        who.context(),
        payment_id=payment_id,
        amount=body.get("amount"),
        reason=body.get("reason"),
        processor=runtime().processor(who.livemode),
    )
    return json_response(serialize.refund(made), 201)


def get_refund(id: str) -> Response:
    made = service.get_refund(uow().session, refund_id=id)
    same_mode(service.get(uow().session, payment_id=made.payment_id), "refund", id)
    return json_response(serialize.refund(made))


def list_refunds(query: dict[str, Any]) -> Response:
    page = queries.list_refunds(
        uow().session, livemode=caller().livemode, payment=query.get("payment"), **cursor(query)
    )
    return json_response(envelope(page, serialize.refund))
