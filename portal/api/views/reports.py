"""Reports: the summary of payments, approvals, fees and refunds over a range, from the rollups."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.reports import queries
from core.web.request import runtime
from portal.api.auth import caller
from portal.api.routing import json_response


def get_summary(query: dict[str, Any]) -> Response:
    f = queries.filters_from(
        livemode=caller().livemode,
        today=runtime().clock.now().date(),
        start=query.get("from"),
        end=query.get("to"),
        currency=query.get("currency"),
        method=query.get("method"),
        country=query.get("country"),
    )
    group_by = query.get("group_by", "day")
    with runtime().analytics.unit_of_work(tenant_id=caller().tenant_id) as analytics:
        reports = queries.summary(analytics.session, f, group_by=group_by)
    return json_response(
        {
            "object": "report_summary",
            "livemode": f.livemode,
            "from": f.start.isoformat(),
            "to": f.end.isoformat(),
            "group_by": group_by,
            "data": [
                {
                    "currency": r.currency,
                    "totals": r.totals.as_dict(),
                    "periods": [
                        {"start": p.start.isoformat(), "end": p.end.isoformat(), **p.figures.as_dict()}
                        for p in r.periods
                    ],
                }
                for r in reports
            ],
        }
    )
