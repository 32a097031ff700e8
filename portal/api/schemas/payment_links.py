"""Payment link schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    CURRENCY,
    ID,
    NULLABLE_STRING,
    TIMESTAMP,
    nullable,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "PaymentLinkCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["currency"],
        "properties": {
            "amount": {
                **nullable(AMOUNT),
                "description": "Minor units of currency; null or left out: the shopper chooses",
            },
            "currency": CURRENCY,
            "description": {"type": "string", "maxLength": 500},
            "active": {"type": "boolean", "description": "Default true; an inactive link answers 404"},
        },
    },
    "PaymentLinkUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "description": {"type": ["string", "null"], "maxLength": 500},
            "active": {"type": "boolean"},
        },
    },
    "PaymentLink": {
        "type": "object",
        "required": [
            "id",
            "object",
            "url",
            "amount",
            "currency",
            "description",
            "active",
            "created_at",
            "livemode",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "payment_link"},
            "url": {"type": "string", "description": "<base URL>/l/<slug>: each visit opens a new session"},
            "amount": {"type": ["integer", "null"], "description": "null: the shopper chooses"},
            "currency": {"type": "string"},
            "description": NULLABLE_STRING,
            "active": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
}
