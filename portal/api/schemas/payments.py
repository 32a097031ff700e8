"""Payment schemas: the payment, its capture and its cancel."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    ID,
    NULLABLE_STRING,
    TIMESTAMP,
    nullable,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "Payment": {
        "type": "object",
        "required": [
            "id",
            "object",
            "status",
            "amount",
            "amount_captured",
            "surcharge",
            "amount_refunded",
            "currency",
            "method",
            "card",
            "failure_code",
            "failure_message",
            "checkout_session",
            "capture",
            "next_action",
            "risk",
            "created_at",
            "livemode",
            "statement_descriptor",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "payment"},
            "status": {
                "enum": [
                    "initiated",
                    "pending",
                    "requires_action",
                    "authorized",
                    "succeeded",
                    "failed",
                    "canceled",
                    "partially_refunded",
                    "refunded",
                ]
            },
            "amount": {"type": "integer"},
            "amount_captured": {"type": "integer"},
            "surcharge": {
                "type": "integer",
                "description": "Card surcharge included in amount (locality rules); 0 where none applies",
            },
            "amount_refunded": {"type": "integer"},
            "currency": {"type": "string"},
            "method": {"enum": ["card", "wallet", "bank"]},
            "card": nullable(
                {
                    "type": "object",
                    "required": ["brand", "last4", "exp_month", "exp_year", "country"],
                    "properties": {
                        "brand": NULLABLE_STRING,
                        "last4": {"type": "string"},
                        "exp_month": {"type": ["integer", "null"]},
                        "exp_year": {"type": ["integer", "null"]},
                        "country": NULLABLE_STRING,
                    },
                }
            ),
            "failure_code": NULLABLE_STRING,
            "failure_message": NULLABLE_STRING,
            "checkout_session": {"type": "string"},
            "capture": {"enum": ["automatic", "manual"]},
            "next_action": NULLABLE_STRING,
            "statement_descriptor": {
                "type": ["string", "null"],
                "description": "What the shopper's statement shows, as sent to the processor; null: the "
                "processor's default",
            },
            "risk": nullable(
                {
                    "type": "object",
                    "required": ["decision", "reasons"],
                    "properties": {
                        "decision": {"enum": ["allow", "review", "block"]},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                    },
                }
            ),
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "PaymentCapture": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"amount": AMOUNT},
    },
    "PaymentCancel": {"type": "object", "additionalProperties": False, "properties": {}},
}
