"""Report schemas."""

from __future__ import annotations

from typing import Any

RATE = {"type": ["number", "null"], "description": "A ratio from 0 to 1 (4 decimals), null when undefined"}
MINOR = {"type": "integer", "description": "Minor units of the report's currency"}
FIGURES: dict[str, Any] = {
    "type": "object",
    "required": [
        "payments",
        "succeeded",
        "authorized",
        "failed",
        "canceled",
        "pending",
        "volume",
        "average_ticket",
        "approval_rate",
        "fees",
        "refunds",
        "refunded",
        "refund_rate",
        "net",
    ],
    "properties": {
        "payments": {"type": "integer", "description": "Payments created (every attempt)"},
        "succeeded": {"type": "integer"},
        "authorized": {"type": "integer", "description": "Authorized, not captured"},
        "failed": {"type": "integer", "description": "Declined or failed"},
        "canceled": {"type": "integer"},
        "pending": {"type": "integer", "description": "Still in flight"},
        "volume": MINOR,
        "average_ticket": {"type": ["integer", "null"], "description": "volume / succeeded, rounded half up"},
        "approval_rate": RATE,
        "fees": MINOR,
        "refunds": {"type": "integer"},
        "refunded": MINOR,
        "refund_rate": RATE,
        "net": MINOR,
    },
}
DATE = {"type": "string", "format": "date"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ReportSummary": {
        "type": "object",
        "required": ["object", "livemode", "from", "to", "group_by", "data"],
        "properties": {
            "object": {"const": "report_summary"},
            "livemode": {"type": "boolean"},
            "from": DATE,
            "to": DATE,
            "group_by": {"enum": ["day", "week", "month"]},
            "data": {
                "type": "array",
                "description": "One entry per currency, most volume first",
                "items": {
                    "type": "object",
                    "required": ["currency", "totals", "periods"],
                    "properties": {
                        "currency": {"type": "string"},
                        "totals": FIGURES,
                        "periods": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    FIGURES,
                                    {
                                        "type": "object",
                                        "required": ["start", "end"],
                                        "properties": {"start": DATE, "end": DATE},
                                    },
                                ]
                            },
                        },
                    },
                },
            },
        },
    },
}
