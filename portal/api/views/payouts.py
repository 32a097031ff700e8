"""Payouts: list, retrieve, create a manual one; bank accounts: list, add (held for four-eyes approval when
the tenant's policy says so: 202 with the approval request, like refunds)."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.context import ActorType
from core.errors import Conflict
from core.payouts import bank_accounts, queries
from core.payouts import service as payouts
from core.web.request import uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode
from portal.api.views.context import api_ctx
from tenants import approvals, bank_account_changes


def list_payouts(query: dict[str, Any]) -> Response:
    page = queries.list_payouts(
        uow().session, livemode=caller().livemode, status=query.get("status"), **cursor(query)
    )
    return json_response(envelope(page, payouts.serialize))


def get_payout(id: str) -> Response:
    payout = payouts.get(uow().session, tenant_id=caller().tenant_id, payout_id=id)
    return json_response(payouts.serialize(same_mode(payout, "payout", id)))


def create_payout(body: dict[str, Any]) -> Response:
    who = caller()
    if who.livemode:
        raise Conflict("Live payouts are not available yet: no live processor is connected.")
    made = payouts.create_payout(
        uow().session,
        api_ctx(),
        tenant_id=who.tenant_id,
        currency=body["currency"],
        amount=body.get("amount"),
        created_by=who.actor().id,
    )
    assert made is not None  # a manual payout raises instead of returning None
    return json_response(payouts.serialize(made), 201)


def list_bank_accounts() -> Response:
    rows = bank_accounts.list_accounts(uow().session, tenant_id=caller().tenant_id)
    rows = [row for row in rows if row.livemode == caller().livemode]
    return json_response(
        {"object": "list", "data": [bank_accounts.serialize(r) for r in rows], "has_more": False}
    )


def create_bank_account(body: dict[str, Any]) -> Response:
    who = caller()
    if who.livemode:
        # Payouts (and so the account each currency's payouts go to) exist in test mode only.
        raise Conflict("Live payouts are not available yet: add bank accounts with a test key.")
    details = bank_accounts.validate(
        country=body["country"],
        iban=body.get("iban"),
        account_number=body.get("account_number"),
        routing_number=body.get("routing_number"),
    )
    change = bank_account_changes.change_bank_account(
        uow().session,
        api_ctx(),
        requester=approvals.Requester(ActorType.API_KEY, who.key_id, who.permissions),
        tenant_id=who.tenant_id,
        currency=body["currency"],
        account_holder=body["account_holder"],
        details=details,
        reason=body.get("reason") or "Requested through the API.",
    )
    if change.request is not None:
        return json_response(approvals.serialize(change.request), 202)
    return json_response(bank_accounts.serialize(change.account), 201)
