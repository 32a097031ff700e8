"""Checkout session schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    CURRENCY,
    ID,
    METHODS,
    NULLABLE_STRING,
    TIMESTAMP,
    URL,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "CheckoutSessionCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["amount", "currency"],
        "properties": {
            "amount": AMOUNT,
            "currency": CURRENCY,
            "reference": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": 500},
            "customer_email": {
                "type": "string",
                "maxLength": 320,
                "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            },
            "locale": {"enum": ["auto", "en", "de", "fr", "es", "nl"]},
            "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
            "success_url": URL,
            "cancel_url": URL,
            "payment_methods": METHODS,
            "capture": {"enum": ["automatic", "manual"]},
            "metadata": {
                "type": "object",
                "maxProperties": 50,
                "propertyNames": {"minLength": 1, "maxLength": 40},
                "additionalProperties": {"type": "string", "maxLength": 500},
            },
            "expires_at": {
                "type": "integer",
                "description": "Unix time, seconds: between 30 minutes and 7 days from now (default: 24 h)",
            },
        },
    },
    "CheckoutSession": {
        "type": "object",
        "required": [
            "id",
            "object",
            "url",
            "status",
            "amount",
            "currency",
            "reference",
            "description",
            "customer_email",
            "locale",
            "country",
            "success_url",
            "cancel_url",
            "payment_methods",
            "capture",
            "payment",
            "metadata",
            "expires_at",
            "created_at",
            "livemode",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "checkout.session"},
            "url": {"type": "string"},
            "status": {"enum": ["open", "complete", "expired"]},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "reference": NULLABLE_STRING,
            "description": NULLABLE_STRING,
            "customer_email": NULLABLE_STRING,
            "locale": NULLABLE_STRING,
            "country": NULLABLE_STRING,
            "success_url": NULLABLE_STRING,
            "cancel_url": NULLABLE_STRING,
            "payment_methods": {"type": "array", "items": {"type": "string"}},
            "capture": {"enum": ["automatic", "manual"]},
            "payment": NULLABLE_STRING,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_at": TIMESTAMP,
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
}
