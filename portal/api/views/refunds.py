"""Refunds: create, retrieve, list."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.context import ActorType
from core.errors import NotFound
from core.ids import has_prefix
from core.payments import queries, serialize, service
from core.payments.models import Payment
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode
from tenants import approvals
from tenants.models import ApprovalRequest


def create_refund(body: dict[str, Any]) -> Response:
    who = caller()
    payment_id = body["payment"]
    if not has_prefix(payment_id, "pay"):
        raise NotFound(f"No such payment: {payment_id!r}.", param="payment")
    payment = service.get(uow().session, payment_id=payment_id)
    same_mode(payment, "payment", payment_id)
    held = _held_for_approval(payment, body)
    if held is not None:
        return json_response(approvals.serialize(held), 202)
    made = service.refund(
        uow().session,
        who.context(),
        payment_id=payment_id,
        amount=body.get("amount"),
        reason=body.get("reason"),
        processor=runtime().processor(who.livemode),
    )
    return json_response(serialize.refund(made), 201)


def _held_for_approval(payment: Payment, body: dict[str, Any]) -> ApprovalRequest | None:
    """A refund above the tenant's four-eyes amount becomes a pending approval request (docs/api.md)."""
    amount = body.get("amount")
    if amount is None:
        amount = payment.amount_captured - payment.amount_refunded
    if not isinstance(amount, int) or isinstance(amount, bool):
        return None  # the refund itself refuses it, with its own message
    params = {
        "payment_id": payment.id,
        "amount": amount,
        "currency": payment.currency,
        "reason": body.get("reason"),
    }
    db, who = uow().session, caller()
    if not approvals.required(db, kind_name=approvals.REFUND, params=params):
        return None
    return approvals.submit(
        db,
        who.context(),
        kind_name=approvals.REFUND,
        params=params,
        summary=approvals.refund_summary(payment_id=payment.id, amount=amount, currency=payment.currency),
        reason="Requested through the API.",
        requester=approvals.Requester(ActorType.API_KEY, who.key_id, who.permissions),
    )


def get_refund(id: str) -> Response:
    made = service.get_refund(uow().session, refund_id=id)
    same_mode(service.get(uow().session, payment_id=made.payment_id), "refund", id)
    return json_response(serialize.refund(made))


def list_refunds(query: dict[str, Any]) -> Response:
    page = queries.list_refunds(
        uow().session, livemode=caller().livemode, payment=query.get("payment"), **cursor(query)
    )
    return json_response(envelope(page, serialize.refund))
