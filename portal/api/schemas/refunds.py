"""Refund schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    ID,
    ID_PARAM,
    NULLABLE_STRING,
    TIMESTAMP,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "RefundCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["payment"],
        "properties": {
            "payment": ID_PARAM,
            "amount": AMOUNT,
            "reason": {"enum": ["requested_by_customer", "duplicate", "fraudulent"]},
        },
    },
    "Refund": {
        "type": "object",
        "required": ["id", "object", "payment", "amount", "currency", "status", "reason", "created_at"],
        "properties": {
            "id": ID,
            "object": {"const": "refund"},
            "payment": {"type": "string"},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "status": {"enum": ["succeeded", "failed"]},
            "reason": NULLABLE_STRING,
            "created_at": TIMESTAMP,
        },
    },
}
