"""Payments: retrieve, list, capture, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response

from core.payments import queries, serialize, service
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode


def get_payment(id: str) -> Response:
    return json_response(
        serialize.payment(same_mode(service.get(uow().session, payment_id=id), "payment", id))
    )


def _from_unix(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def list_payments(query: dict[str, Any]) -> Response:
    page = queries.list_payments(
        uow().session,
        livemode=caller().livemode,
        status=query.get("status"),
        checkout_session=query.get("checkout_session"),
        created_gte=_from_unix(query.get("created_gte")),
        created_lte=_from_unix(query.get("created_lte")),
        **cursor(query),
    )
    return json_response(envelope(page, serialize.payment))


def capture_payment(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    same_mode(service.get(uow().session, payment_id=id), "payment", id)
    payment = service.capture(
        uow().session,
        who.context(),
        payment_id=id,
        amount=body.get("amount"),
        processor=runtime().processor(who.livemode),
    )
    return json_response(serialize.payment(payment))


def cancel_payment(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    same_mode(service.get(uow().session, payment_id=id), "payment", id)
    payment = service.cancel(
        uow().session, who.context(), payment_id=id, processor=runtime().processor(who.livemode)
    )
    return json_response(serialize.payment(payment))
