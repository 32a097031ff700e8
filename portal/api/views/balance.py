"""The balance and its transactions, from the ledger."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.errors import NotFound
from core.ledger import service as ledger
from core.ledger.models import BalanceTransaction
from core.payouts import queries
from core.payouts import service as payouts
from core.web.request import uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response


def get_balance() -> Response:
    if caller().livemode:
        # No live processor exists yet, so no live money has moved: the ledger holds test-mode money only.
        return json_response(
            {"object": "balance", "available": [], "pending": [], "reserved": [], "in_transit": []}
        )
    balances = ledger.balances(uow().session, tenant_id=caller().tenant_id)
    return json_response({"object": "balance", **balances.as_dict()})


def list_balance_transactions(query: dict[str, Any]) -> Response:
    page = queries.list_balance_transactions(
        uow().session,
        livemode=caller().livemode,
        payout=query.get("payout"),
        type=query.get("type"),
        **cursor(query),
    )
    return json_response(envelope(page, payouts.serialize_transaction))


def get_balance_transaction(id: str) -> Response:
    row = uow().session.get(BalanceTransaction, (caller().tenant_id, id))
    if row is None or row.livemode != caller().livemode:
        raise NotFound(f"No such balance transaction: {id!r}.", param="id")
    return json_response(payouts.serialize_transaction(row))
