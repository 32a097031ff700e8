"""The balance, from the ledger."""

from __future__ import annotations

from flask import Response

from core.ledger import service as ledger
from core.web.request import uow
from portal.api.auth import caller
from portal.api.routing import json_response


def get_balance() -> Response:
    if caller().livemode:
        # No live processor exists yet, so no live money has moved: the ledger holds test-mode money only.
        return json_response({"object": "balance", "available": [], "pending": [], "reserved": []})
    balances = ledger.balances(uow().session, tenant_id=caller().tenant_id)
    return json_response(
        {
            "object": "balance",
            "available": balances.available,
            "pending": balances.pending,
            "reserved": balances.reserved,
        }
    )
